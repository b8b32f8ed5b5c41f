//! Real kernel dma-bufs for tests: from `/dev/dma_heap/system` or
//! `/dev/udmabuf` (a sealed memfd turned into a dma-buf). Neither exists on
//! the host kernel; the VM suite has both.

use std::{
    fs::OpenOptions,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use rustix::fs::{ftruncate, memfd_create, MemfdFlags};

// include/uapi/linux/dma-heap.h: _IOWR('H', 0, struct dma_heap_allocation_data)
const DMA_HEAP_IOCTL_ALLOC: libc::c_ulong = 0xc018_4800;
// include/uapi/linux/udmabuf.h: _IOW('u', 0x42, struct udmabuf_create)
const UDMABUF_CREATE: libc::c_ulong = 0x4018_7542;
// include/uapi/linux/dma-buf.h: _IOW('b', 0, struct dma_buf_sync)
const DMA_BUF_IOCTL_SYNC: libc::c_ulong = 0x4008_6200;
const DMA_BUF_SYNC_READ: u64 = 1;
const DMA_BUF_SYNC_WRITE: u64 = 2;
const DMA_BUF_SYNC_END: u64 = 4;

#[repr(C)]
struct DmaHeapAllocationData {
    len: u64,
    fd: u32,
    fd_flags: u32,
    heap_flags: u64,
}

#[repr(C)]
struct UdmabufCreate {
    memfd: u32,
    flags: u32,
    offset: u64,
    size: u64,
}

/// Where a dma-buf came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    DmaHeap,
    Udmabuf,
}

fn io_err(what: &str) -> std::io::Error {
    let e = std::io::Error::last_os_error();
    std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// A dma-buf of `size` bytes (rounded up to the page size).
pub fn alloc(source: Source, size: u64) -> std::io::Result<OwnedFd> {
    let size = size.div_ceil(4096) * 4096;
    match source {
        Source::DmaHeap => {
            let heap = OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/dma_heap/system")?;
            let mut data = DmaHeapAllocationData {
                len: size,
                fd: 0,
                fd_flags: (libc::O_RDWR | libc::O_CLOEXEC) as u32,
                heap_flags: 0,
            };
            // SAFETY: the ioctl reads and writes `data`, which outlives the call.
            let r = unsafe { libc::ioctl(heap.as_raw_fd(), DMA_HEAP_IOCTL_ALLOC, &mut data) };
            if r < 0 {
                return Err(io_err("DMA_HEAP_IOCTL_ALLOC"));
            }
            // SAFETY: the kernel returned a new fd that we now own.
            Ok(unsafe { OwnedFd::from_raw_fd(data.fd as i32) })
        }
        Source::Udmabuf => {
            let dev = OpenOptions::new().read(true).write(true).open("/dev/udmabuf")?;
            let memfd = memfd_create("quay-udmabuf", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
            ftruncate(&memfd, size)?;
            // udmabuf requires the memfd to be sealed against shrinking.
            // SAFETY: plain fcntl on an fd we own.
            if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_SHRINK) } < 0 {
                return Err(io_err("F_ADD_SEALS"));
            }
            let create = UdmabufCreate {
                memfd: memfd.as_raw_fd() as u32,
                flags: 1, // UDMABUF_FLAGS_CLOEXEC
                offset: 0,
                size,
            };
            // SAFETY: the ioctl only reads `create`.
            let fd = unsafe { libc::ioctl(dev.as_raw_fd(), UDMABUF_CREATE, &create) };
            if fd < 0 {
                return Err(io_err("UDMABUF_CREATE"));
            }
            // SAFETY: the kernel returned a new fd that we now own.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        }
    }
}

/// `DMA_BUF_IOCTL_SYNC` with `flags` (START is 0).
fn sync(fd: &OwnedFd, flags: u64) -> std::io::Result<()> {
    // SAFETY: the ioctl only reads `flags`, which outlives the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), DMA_BUF_IOCTL_SYNC, &flags) } < 0 {
        Err(io_err("DMA_BUF_IOCTL_SYNC"))
    } else {
        Ok(())
    }
}

/// Fill a dma-buf with one 32-bit pixel value, bracketed by DMA_BUF_IOCTL_SYNC.
pub fn fill(fd: &OwnedFd, size: usize, pixel: u32) -> std::io::Result<()> {
    fill_at(fd, size, 0, size, pixel)
}

/// Read a dma-buf's first `size` bytes, bracketed by DMA_BUF_IOCTL_SYNC.
pub fn read(fd: &OwnedFd, size: usize) -> std::io::Result<Vec<u8>> {
    sync(fd, DMA_BUF_SYNC_READ)?;
    // SAFETY: a fresh shared read-only mapping of `size` bytes of an fd the
    // caller owns, copied out and unmapped before return.
    let out = unsafe {
        let ptr = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        );
        if ptr == libc::MAP_FAILED {
            return Err(io_err("mmap"));
        }
        let v = std::slice::from_raw_parts(ptr as *const u8, size).to_vec();
        libc::munmap(ptr, size);
        v
    };
    sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ)?;
    Ok(out)
}

/// Fill `len` bytes at `offset` of a dma-buf of `total` bytes with one pixel
/// value, bracketed by DMA_BUF_IOCTL_SYNC (the rest is left as it is).
pub fn fill_at(fd: &OwnedFd, total: usize, offset: usize, len: usize, pixel: u32) -> std::io::Result<()> {
    sync(fd, DMA_BUF_SYNC_WRITE)?;
    crate::fill_shared_at(fd, total, offset, len, pixel)?;
    sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE)
}
