//! A CPU mapping of the whole dma-buf behind one plane, from byte 0.
//!
//! smithay's `Dmabuf::map_plane` maps from the plane's offset
//! (smithay-0.7.0 src/backend/allocator/dmabuf.rs:313-321: `mmap(..,
//! plane.offset)`), which fails for an offset that is not page aligned
//! (`mmap` wants page-aligned file offsets) and which callers easily offset
//! a second time. Quay maps the whole object and applies the offset itself:
//! every offset the client may send works, and the bounds check is against
//! the object's real size (`lseek(SEEK_END)`, which dma-bufs answer).

use std::os::fd::AsFd;

use smithay::backend::allocator::{dmabuf::Dmabuf, Buffer, Modifier};

#[derive(Debug)]
pub struct PlaneMapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain shared memory owned by this value; it is
// only unmapped on drop, which may happen on the reaper thread.
unsafe impl Send for PlaneMapping {}

impl PlaneMapping {
    /// Map the dma-buf behind plane `idx`, read-only or read-write.
    pub fn map(dmabuf: &Dmabuf, idx: usize, write: bool) -> std::io::Result<PlaneMapping> {
        let fd = dmabuf
            .handles()
            .nth(idx)
            .ok_or_else(|| std::io::Error::other(format!("the dma-buf has no plane {idx}")))?;
        let size = rustix::fs::seek(fd.as_fd(), rustix::fs::SeekFrom::End(0))?;
        rustix::fs::seek(fd.as_fd(), rustix::fs::SeekFrom::Start(0))?;
        let len = usize::try_from(size).map_err(std::io::Error::other)?;
        if len == 0 {
            return Err(std::io::Error::other("the dma-buf is empty"));
        }
        let prot = if write {
            rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE
        } else {
            rustix::mm::ProtFlags::READ
        };
        // SAFETY: a fresh shared mapping of `len` bytes of a file we hold an
        // fd of; it is unmapped exactly once, in `drop`.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                rustix::mm::MapFlags::SHARED,
                fd,
                0,
            )
        }?;
        Ok(PlaneMapping {
            ptr: ptr as *mut u8,
            len,
        })
    }

    pub fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// The size of the whole object.
    pub fn length(&self) -> usize {
        self.len
    }
}

/// Plane 0 of a single-plane linear dma-buf, mapped for CPU reads, with its
/// offset and stride checked against the object: what both engines read
/// (pixman in place, GLES for an upload).
#[derive(Debug)]
pub struct LinearPlane {
    pub mapping: PlaneMapping,
    pub offset: usize,
    pub stride: usize,
}

/// Why [`LinearPlane::map`] refused a dma-buf.
#[derive(Debug)]
pub enum LinearPlaneError {
    Planes(usize),
    Modifier(Modifier),
    /// No plane 0, or the mmap failed.
    Mapping,
    /// `offset + stride * height` past the object, or a stride shorter than
    /// a row of `bpp`-byte pixels.
    Incomplete {
        expected: usize,
        actual: usize,
    },
    /// Mapped, but not on the dmabuf file system: a memfd posing as a
    /// dma-buf.
    NotADmabuf,
}

impl LinearPlane {
    /// Map plane 0 of `dmabuf`, whose pixels are `bpp` bytes wide.
    pub fn map(dmabuf: &Dmabuf, bpp: usize) -> Result<LinearPlane, LinearPlaneError> {
        if dmabuf.num_planes() != 1 {
            return Err(LinearPlaneError::Planes(dmabuf.num_planes()));
        }
        let modifier = dmabuf.format().modifier;
        if modifier != Modifier::Linear {
            return Err(LinearPlaneError::Modifier(modifier));
        }
        let (Some(offset), Some(stride)) = (dmabuf.offsets().next(), dmabuf.strides().next()) else {
            return Err(LinearPlaneError::Mapping);
        };
        let (offset, stride) = (offset as usize, stride as usize);
        // The whole object from byte 0; the plane starts at `offset` in it.
        let mapping = PlaneMapping::map(dmabuf, 0, false).map_err(|err| {
            tracing::debug!("mapping a dma-buf failed: {err}");
            LinearPlaneError::Mapping
        })?;
        let size = dmabuf.size();
        let needed = offset + stride * size.h.max(0) as usize;
        if mapping.length() < needed || stride < size.w.max(0) as usize * bpp {
            return Err(LinearPlaneError::Incomplete {
                expected: needed,
                actual: mapping.length(),
            });
        }
        // Proves a real dma-buf without touching its fences (a memfd mmaps
        // fine but is no dma-buf): `create` never waits on a client's fence.
        if !super::cpu_access::plane0_is_dmabuf(dmabuf) {
            return Err(LinearPlaneError::NotADmabuf);
        }
        Ok(LinearPlane {
            mapping,
            offset,
            stride,
        })
    }
}

impl Drop for PlaneMapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are the mapping `map` made, unmapped only here.
        if let Err(err) = unsafe { rustix::mm::munmap(self.ptr as *mut _, self.len) } {
            tracing::warn!("munmap of a dma-buf failed: {err}");
        }
    }
}
