//! What makes two dma-bufs "the same" for import: the kernel objects behind
//! their plane fds, and the layout read out of them.
//!
//! Each dma-buf is one file with its own inode in the dma-buf pseudo
//! filesystem, so `fstat`'s `(st_dev, st_ino)` names the kernel object
//! whatever fd number or process it reaches Quay through. Two `wl_buffer`s
//! made from the same kernel dma-buf with the same format, modifier, size,
//! offsets and strides show the same pixels and can share one import; the
//! same memory read with another layout is a different import.
//! (One kernel dma-buf, one import; the kernel's own version is the PRIME
//! export cache, which maps a re-imported export back to its GEM object.)

use std::os::fd::AsFd;

use smithay::backend::allocator::{dmabuf::Dmabuf, Buffer, Fourcc, Modifier};

/// One plane: the kernel object and where the plane lies in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlaneIdentity {
    pub dev: u64,
    pub ino: u64,
    pub offset: u32,
    pub stride: u32,
}

/// The identity an import is cached under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DmabufIdentity {
    pub planes: Vec<PlaneIdentity>,
    pub format: Fourcc,
    pub modifier: Modifier,
    pub width: i32,
    pub height: i32,
}

impl DmabufIdentity {
    /// `fstat` every plane fd. Fails only if an fd cannot be stat'ed, which a
    /// valid dma-buf fd always can.
    pub fn of(dmabuf: &Dmabuf) -> std::io::Result<DmabufIdentity> {
        let mut planes = Vec::with_capacity(dmabuf.num_planes());
        for ((fd, offset), stride) in dmabuf.handles().zip(dmabuf.offsets()).zip(dmabuf.strides()) {
            let st = rustix::fs::fstat(fd.as_fd())?;
            planes.push(PlaneIdentity {
                dev: st.st_dev,
                ino: st.st_ino,
                offset,
                stride,
            });
        }
        let format = dmabuf.format();
        let size = dmabuf.size();
        Ok(DmabufIdentity {
            planes,
            format: format.code,
            modifier: format.modifier,
            width: size.w,
            height: size.h,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::OwnedFd;

    use smithay::backend::allocator::dmabuf::DmabufFlags;

    use super::*;

    fn memfd() -> OwnedFd {
        let fd = rustix::fs::memfd_create("quay-identity-test", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        rustix::fs::ftruncate(&fd, 64 * 64 * 4 * 2).unwrap();
        fd
    }

    fn dmabuf(fd: &OwnedFd, offset: u32, stride: u32, w: i32) -> Dmabuf {
        let mut b = Dmabuf::builder((w, 64), Fourcc::Xrgb8888, Modifier::Linear, DmabufFlags::empty());
        b.add_plane(fd.try_clone().unwrap(), 0, offset, stride);
        b.build().unwrap()
    }

    /// memfds have inodes like dma-bufs: the identity logic runs on real
    /// kernel objects on the host too.
    #[test]
    fn same_object_through_different_fds_is_one_identity() {
        let fd = memfd();
        let a = DmabufIdentity::of(&dmabuf(&fd, 0, 256, 64)).unwrap();
        let b = DmabufIdentity::of(&dmabuf(&fd, 0, 256, 64)).unwrap();
        assert_eq!(a, b, "dup'ed fds of one object");
        let other = memfd();
        let c = DmabufIdentity::of(&dmabuf(&other, 0, 256, 64)).unwrap();
        assert_ne!(a, c, "another object");
        assert_ne!(a.planes[0].ino, c.planes[0].ino);
    }

    #[test]
    fn other_layout_over_the_same_memory_is_another_identity() {
        let fd = memfd();
        let base = DmabufIdentity::of(&dmabuf(&fd, 0, 256, 64)).unwrap();
        assert_ne!(
            base,
            DmabufIdentity::of(&dmabuf(&fd, 4096, 256, 64)).unwrap(),
            "offset"
        );
        assert_ne!(
            base,
            DmabufIdentity::of(&dmabuf(&fd, 0, 512, 64)).unwrap(),
            "stride"
        );
        assert_ne!(
            base,
            DmabufIdentity::of(&dmabuf(&fd, 0, 256, 32)).unwrap(),
            "width"
        );
    }
}
