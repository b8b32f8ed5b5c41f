//! Why a client's dma-buf was answered `failed`: [`ImportError`], the same
//! reasons whichever engine imports it, counted per reason in `quay msg
//! stats` (`dmabuf_failed_<reason>_total`) so that a test, or a user
//! reading the stats, can tell which rule refused a buffer.
//!
//! smithay has already posted the protocol's own errors by then (planes
//! missing, `offset + stride * height` past the fd's size: smithay-0.7.0
//! src/wayland/dmabuf/mod.rs:1128-1202), and Quay answers a format it did
//! not advertise with `invalid_format` before importing; what is left is
//! what only an import finds out.

use std::os::fd::AsFd;

use smithay::backend::allocator::dmabuf::Dmabuf;

/// `DMA_BUF_MAGIC` from `<linux/magic.h>`: the file system type of every
/// dma-buf file (the kernel makes them all on its dma-buf pseudo file
/// system, `dma_buf_getfile`).
pub const DMA_BUF_MAGIC: u64 = 0x444d_4142;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// A plane's fd is some other file (a memfd, a regular file): it maps,
    /// but no exporter stands behind it (no `DMA_BUF_IOCTL_SYNC`, no
    /// fences, nothing a GPU could import).
    #[error("plane {plane} is not a dma-buf (file system type {fs_type:#x})")]
    NotDmabuf { plane: usize, fs_type: u64 },
    /// `fstat`/`fstatfs` of a plane fd failed.
    #[error("cannot stat plane {plane}: {errno}")]
    Stat { plane: usize, errno: rustix::io::Errno },
    /// Planes, modifier or format this engine cannot read (pixman and the
    /// upload fallback read one linear plane).
    #[error("a layout this renderer cannot read: {0}")]
    UnsupportedLayout(String),
    /// The dma-buf is shorter than its stride and height need, or its
    /// stride is shorter than a row.
    #[error("the dma-buf is smaller than its layout needs")]
    Incomplete,
    /// The CPU mapping failed (pixman, uploads).
    #[error("mapping the dma-buf failed")]
    Mapping,
    /// The driver refused it (EGL image creation).
    #[error("the renderer refused it: {0}")]
    Refused(String),
}

impl ImportError {
    /// The reason's name in `quay msg stats` (`dmabuf_failed_<reason>_total`).
    pub fn reason(&self) -> &'static str {
        match self {
            ImportError::NotDmabuf { .. } => "not_dmabuf",
            ImportError::Stat { .. } => "stat",
            ImportError::UnsupportedLayout(_) => "unsupported_layout",
            ImportError::Incomplete => "incomplete",
            ImportError::Mapping => "mapping",
            ImportError::Refused(_) => "refused",
        }
    }
}

/// Every plane fd of `dmabuf` must be a dma-buf file. Checked once, when
/// the client creates the `wl_buffer`, before any engine sees it.
pub fn check_dmabuf_files(dmabuf: &Dmabuf) -> Result<(), ImportError> {
    for (plane, fd) in dmabuf.handles().enumerate() {
        let fs = rustix::fs::fstatfs(fd.as_fd()).map_err(|errno| ImportError::Stat { plane, errno })?;
        // `f_type` is signed on x86_64; the magic is positive.
        let fs_type = fs.f_type as u64;
        if fs_type != DMA_BUF_MAGIC {
            return Err(ImportError::NotDmabuf { plane, fs_type });
        }
    }
    Ok(())
}

/// `quay msg stats`: dma-bufs answered `failed`, by reason. Every reason is
/// always there, zero until it happens.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ImportFailures {
    #[serde(rename = "dmabuf_failed_not_dmabuf_total")]
    pub not_dmabuf: u64,
    #[serde(rename = "dmabuf_failed_stat_total")]
    pub stat: u64,
    #[serde(rename = "dmabuf_failed_unsupported_layout_total")]
    pub unsupported_layout: u64,
    #[serde(rename = "dmabuf_failed_incomplete_total")]
    pub incomplete: u64,
    #[serde(rename = "dmabuf_failed_mapping_total")]
    pub mapping: u64,
    #[serde(rename = "dmabuf_failed_refused_total")]
    pub refused: u64,
}

impl ImportFailures {
    pub fn record(&mut self, err: &ImportError) {
        *match err {
            ImportError::NotDmabuf { .. } => &mut self.not_dmabuf,
            ImportError::Stat { .. } => &mut self.stat,
            ImportError::UnsupportedLayout(_) => &mut self.unsupported_layout,
            ImportError::Incomplete => &mut self.incomplete,
            ImportError::Mapping => &mut self.mapping,
            ImportError::Refused(_) => &mut self.refused,
        } += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_a_stats_key() {
        let errs = [
            ImportError::NotDmabuf { plane: 0, fs_type: 1 },
            ImportError::Stat {
                plane: 0,
                errno: rustix::io::Errno::BADF,
            },
            ImportError::UnsupportedLayout("x".into()),
            ImportError::Incomplete,
            ImportError::Mapping,
            ImportError::Refused("x".into()),
        ];
        let mut f = ImportFailures::default();
        for e in &errs {
            f.record(e);
        }
        let v = serde_json::to_value(&f).unwrap();
        for e in &errs {
            let key = format!("dmabuf_failed_{}_total", e.reason());
            assert_eq!(v[&key], 1, "{key} in {v}");
        }
        assert_eq!(v.as_object().unwrap().len(), errs.len());
    }

    #[test]
    fn a_memfd_is_not_a_dmabuf() {
        use smithay::backend::allocator::{dmabuf::DmabufFlags, Fourcc, Modifier};
        let fd = rustix::fs::memfd_create("quay-error-test", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        rustix::fs::ftruncate(&fd, 4096).unwrap();
        let mut b = Dmabuf::builder((16, 16), Fourcc::Xrgb8888, Modifier::Linear, DmabufFlags::empty());
        b.add_plane(fd, 0, 0, 64);
        let dmabuf = b.build().unwrap();
        match check_dmabuf_files(&dmabuf) {
            Err(ImportError::NotDmabuf { plane: 0, fs_type }) => {
                assert_ne!(fs_type, DMA_BUF_MAGIC)
            }
            other => panic!("{other:?}"),
        }
    }
}
