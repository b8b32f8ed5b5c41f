//! Real kernel fences for the explicit-sync tests: DRM syncobj timelines
//! (raw ioctls on a DRM node, as `<drm/drm.h>` defines them) and sw_sync
//! fences (`/sys/kernel/debug/sync/sw_sync`, the kernel's test timeline).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const fn ioc(dir: u64, ty: u8, nr: u64, size: usize) -> libc::c_ulong {
    ((dir << 30) | ((size as u64) << 16) | ((ty as u64) << 8) | nr) as libc::c_ulong
}
const fn iowr(ty: u8, nr: u64, size: usize) -> libc::c_ulong {
    ioc(3, ty, nr, size)
}
const fn iow(ty: u8, nr: u64, size: usize) -> libc::c_ulong {
    ioc(1, ty, nr, size)
}

#[repr(C)]
#[derive(Default)]
struct SyncobjCreate {
    handle: u32,
    flags: u32,
}
#[repr(C)]
#[derive(Default)]
struct SyncobjHandle {
    handle: u32,
    flags: u32,
    fd: i32,
    pad: u32,
    point: u64,
}
#[repr(C)]
#[derive(Default)]
struct SyncobjTransfer {
    src_handle: u32,
    dst_handle: u32,
    src_point: u64,
    dst_point: u64,
    flags: u32,
    pad: u32,
}
#[repr(C)]
#[derive(Default)]
struct TimelineArray {
    handles: u64,
    points: u64,
    count_handles: u32,
    flags: u32,
}
#[repr(C)]
#[derive(Default)]
struct TimelineWait {
    handles: u64,
    points: u64,
    timeout_nsec: i64,
    count_handles: u32,
    flags: u32,
    first_signaled: u32,
    pad: u32,
}

const DRM_IOCTL_SYNCOBJ_CREATE: libc::c_ulong = iowr(b'd', 0xBF, std::mem::size_of::<SyncobjCreate>());
const DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD: libc::c_ulong = iowr(b'd', 0xC1, std::mem::size_of::<SyncobjHandle>());
const DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE: libc::c_ulong = iowr(b'd', 0xC2, std::mem::size_of::<SyncobjHandle>());
const DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT: libc::c_ulong = iowr(b'd', 0xCA, std::mem::size_of::<TimelineWait>());
const DRM_IOCTL_SYNCOBJ_TRANSFER: libc::c_ulong = iowr(b'd', 0xCC, std::mem::size_of::<SyncobjTransfer>());
const DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL: libc::c_ulong =
    iowr(b'd', 0xCD, std::mem::size_of::<TimelineArray>());
const DRM_SYNCOBJ_FD_TO_HANDLE_FLAGS_IMPORT_SYNC_FILE: u32 = 1;

fn check(r: libc::c_int) -> std::io::Result<()> {
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `CLOCK_MONOTONIC` now, in ns.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// A DRM node to make syncobjs on.
pub struct Drm(pub OwnedFd);

impl Drm {
    pub fn open(path: &std::path::Path) -> std::io::Result<Drm> {
        Ok(Drm(std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?
            .into()))
    }

    fn ioctl<T>(&self, req: libc::c_ulong, arg: &mut T) -> std::io::Result<()> {
        // SAFETY: `arg` is the struct `req` is defined with, alive for the call.
        check(unsafe { libc::ioctl(self.0.as_raw_fd(), req, arg as *mut T) })
    }

    /// A new syncobj (unsignalled).
    pub fn create(&self) -> std::io::Result<u32> {
        let mut a = SyncobjCreate::default();
        self.ioctl(DRM_IOCTL_SYNCOBJ_CREATE, &mut a)?;
        Ok(a.handle)
    }

    /// The syncobj as an fd to send to the compositor.
    pub fn export(&self, handle: u32) -> std::io::Result<OwnedFd> {
        let mut a = SyncobjHandle {
            handle,
            fd: -1,
            ..Default::default()
        };
        self.ioctl(DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD, &mut a)?;
        // SAFETY: a fresh fd from the kernel.
        Ok(unsafe { OwnedFd::from_raw_fd(a.fd) })
    }

    /// Put a sync_file's fence on timeline point `point` of `timeline`
    /// (through a binary syncobj, as the uapi requires).
    pub fn import_sync_file(&self, timeline: u32, point: u64, sync_file: &OwnedFd) -> std::io::Result<()> {
        let binary = self.create()?;
        let mut a = SyncobjHandle {
            handle: binary,
            flags: DRM_SYNCOBJ_FD_TO_HANDLE_FLAGS_IMPORT_SYNC_FILE,
            fd: sync_file.as_raw_fd(),
            ..Default::default()
        };
        self.ioctl(DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE, &mut a)?;
        let mut t = SyncobjTransfer {
            src_handle: binary,
            dst_handle: timeline,
            src_point: 0,
            dst_point: point,
            ..Default::default()
        };
        self.ioctl(DRM_IOCTL_SYNCOBJ_TRANSFER, &mut t)
    }

    /// Signal `point` from the CPU.
    pub fn signal(&self, handle: u32, point: u64) -> std::io::Result<()> {
        let (h, p) = (handle, point);
        let mut a = TimelineArray {
            handles: &h as *const u32 as u64,
            points: &p as *const u64 as u64,
            count_handles: 1,
            flags: 0,
        };
        self.ioctl(DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL, &mut a)
    }

    /// Wait up to `timeout_ms` for `point` to signal (it may not have a
    /// fence yet: WAIT_FOR_SUBMIT). Ok(false) on timeout.
    pub fn wait(&self, handle: u32, point: u64, timeout_ms: u64) -> std::io::Result<bool> {
        let (h, p) = (handle, point);
        let mut a = TimelineWait {
            handles: &h as *const u32 as u64,
            points: &p as *const u64 as u64,
            timeout_nsec: (monotonic_ns() + timeout_ms * 1_000_000) as i64,
            count_handles: 1,
            flags: 2, // DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT
            ..Default::default()
        };
        match self.ioctl(DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT, &mut a) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

// <linux/dma-buf.h>: struct dma_buf_import_sync_file { __u32 flags; __s32 fd; }
#[repr(C)]
struct ImportSyncFile {
    flags: u32,
    fd: i32,
}
const DMA_BUF_IOCTL_IMPORT_SYNC_FILE: libc::c_ulong = iow(b'b', 3, std::mem::size_of::<ImportSyncFile>());

/// Attach `fence` to `dmabuf` as a write fence: until it signals, readers
/// (the compositor, with implicit sync) must wait.
pub fn attach_write_fence(dmabuf: &OwnedFd, fence: &OwnedFd) -> std::io::Result<()> {
    let mut a = ImportSyncFile {
        flags: 2, // DMA_BUF_SYNC_WRITE
        fd: fence.as_raw_fd(),
    };
    // SAFETY: the struct the ioctl is defined with.
    check(unsafe { libc::ioctl(dmabuf.as_raw_fd(), DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &mut a) })
}

#[repr(C)]
struct CreateFence {
    value: u32,
    name: [u8; 32],
    fence: i32,
}
#[repr(C)]
struct GetDeadline {
    deadline_ns: u64,
    pad: u32,
    fence_fd: i32,
}
const SW_SYNC_IOC_CREATE_FENCE: libc::c_ulong = iowr(b'W', 0, std::mem::size_of::<CreateFence>());
const SW_SYNC_IOC_INC: libc::c_ulong = iow(b'W', 1, 4);
const SW_SYNC_GET_DEADLINE: libc::c_ulong = iowr(b'W', 2, std::mem::size_of::<GetDeadline>());

/// A sw_sync timeline: fences that signal when the test says so, and
/// report the deadline they were given.
pub struct SwSync(OwnedFd);

impl SwSync {
    pub fn open() -> std::io::Result<SwSync> {
        Ok(SwSync(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/sys/kernel/debug/sync/sw_sync")?
                .into(),
        ))
    }

    /// A fence that signals when the timeline reaches `value`.
    pub fn fence(&self, value: u32) -> std::io::Result<OwnedFd> {
        let mut a = CreateFence {
            value,
            name: [0; 32],
            fence: -1,
        };
        a.name[..4].copy_from_slice(b"quay");
        // SAFETY: the struct the ioctl is defined with.
        check(unsafe { libc::ioctl(self.0.as_raw_fd(), SW_SYNC_IOC_CREATE_FENCE, &mut a) })?;
        // SAFETY: a fresh fd from the kernel.
        Ok(unsafe { OwnedFd::from_raw_fd(a.fence) })
    }

    /// Advance the timeline by `n`.
    pub fn inc(&self, n: u32) -> std::io::Result<()> {
        // SAFETY: SW_SYNC_IOC_INC takes a pointer to a u32.
        check(unsafe { libc::ioctl(self.0.as_raw_fd(), SW_SYNC_IOC_INC, &n) })
    }

    /// The deadline someone set on `fence`, or None (ENOENT: none set).
    pub fn deadline(&self, fence: &OwnedFd) -> std::io::Result<Option<u64>> {
        let mut a = GetDeadline {
            deadline_ns: 0,
            pad: 0,
            fence_fd: fence.as_raw_fd(),
        };
        // SAFETY: the struct the ioctl is defined with.
        match check(unsafe { libc::ioctl(self.0.as_raw_fd(), SW_SYNC_GET_DEADLINE, &mut a) }) {
            Ok(()) => Ok(Some(a.deadline_ns)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_the_uapi_headers() {
        // <drm/drm.h> on x86_64.
        assert_eq!(DRM_IOCTL_SYNCOBJ_CREATE, 0xc00864bf);
        assert_eq!(DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD, 0xc01864c1);
        assert_eq!(DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE, 0xc01864c2);
        assert_eq!(DRM_IOCTL_SYNCOBJ_TRANSFER, 0xc02064cc);
        assert_eq!(DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL, 0xc01864cd);
    }
}
