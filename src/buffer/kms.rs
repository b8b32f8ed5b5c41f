//! KMS framebuffers for dma-bufs, one per kernel dma-buf and layout per DRM
//! fd, over a per-fd GEM handle table; and the export cache for the buffers
//! Quay allocates itself.
//!
//! **GEM handles are not reference counted by the kernel.**
//! `DRM_IOCTL_PRIME_FD_TO_HANDLE` on a dma-buf this fd already has a handle
//! for returns that same handle (the kernel's PRIME import cache), and
//! one `DRM_IOCTL_GEM_CLOSE` closes it for every user. Code that opens a
//! handle per import and closes it per framebuffer breaks the other users:
//! their next `AddFB2` fails, and a handle number the kernel re-used for
//! another object (it hands out the lowest free one) gets closed under it.
//!
//! Quay keeps its own table per DRM fd (weston's choice, not wlroots' and
//! KWin's "close right after `AddFB2`"). Why: on the same fd GBM owns handles
//! too (Quay's own scanout buffers), and a client may send one of our own
//! exports back. Closing after `AddFB2` would then close the handle GBM's
//! buffer object still uses. With a table, a handle is closed exactly when the
//! last Quay object that uses it is gone, and a handle that belongs to a GBM
//! buffer object is never closed by Quay at all.
//!
//! **Ownership** (one framebuffer and one GEM handle per dma-buf per fd; no
//! decision reads a reference count):
//! - a [`GemHandle`] owns one handle on one fd: either it opened it
//!   ([`GemOwner::Prime`], closed on drop) or it owns the GBM buffer object
//!   that did ([`GemOwner::Gbm`], GBM closes it when the object goes);
//! - a [`ClientFramebuffer`] owns its framebuffer id, strong references to
//!   its planes' handles and the `Dmabuf` (so the fds) it was made from;
//! - the table holds only `Weak`s: it never keeps anything alive, and an
//!   entry whose object is gone is found by a failed `upgrade` (the
//!   `kref_get_unless_zero` step), never by reading a count.
//!
//! **Locking.** All of this lives on the event-loop thread (`Rc`/`RefCell`;
//! the types are `!Send`). The `RefCell` borrow is the lock, and the rule is
//! the kernel's: nothing that could be the last strong reference is dropped
//! while it is borrowed (a drop re-enters the table and would panic, which
//! the unit tests would see). Opening and closing handles does happen under
//! the borrow: the handle namespace of the fd is exactly what it protects,
//! so a handle cannot be closed between another lookup's ioctl and its
//! table insert (the kernel's `drm_gem_handle_delete` does the same under
//! `table_lock`).
//!
//! **Exports.** Quay's own buffers are exported at most once while an export
//! is alive (`GemHandle::export`), and each export's kernel identity is
//! recorded. A dma-buf a client sends back with that identity maps to the
//! original handle: no `PRIME_FD_TO_HANDLE`, no second import. The fd is
//! handed to the caller only after the table knows it.

use std::{
    cell::RefCell,
    collections::HashMap,
    fmt,
    os::fd::BorrowedFd,
    rc::{Rc, Weak},
};

use serde::Serialize;
use smithay::{
    backend::{
        allocator::{
            dmabuf::{Dmabuf, DmabufFlags, WeakDmabuf},
            format::get_opaque,
            gbm::GbmBuffer,
            Buffer, Format, Fourcc, Modifier,
        },
        drm::{DrmDeviceFd, Framebuffer},
    },
    reexports::drm::{
        self,
        buffer::{Handle as BufferHandle, PlanarBuffer},
        control::{framebuffer, Device as _, FbCmd2Flags},
    },
};
use tracing::{debug, warn};

use super::identity::DmabufIdentity;

/// What the table counts, for `quay msg stats`.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct KmsStats {
    /// Client framebuffers alive now (each: one `AddFB2`).
    pub framebuffers_live: u64,
    /// The most client framebuffers ever alive at once: with one client
    /// dma-buf on screen, more than one would be a second framebuffer for it
    /// (a framebuffer freed and made again later is not).
    pub framebuffers_live_peak: u64,
    /// GEM handles Quay holds now, its own buffers' included.
    pub gem_handles_live: u64,
    /// `AddFB2` calls for client dma-bufs.
    pub framebuffers_total: u64,
    /// Requests for a client framebuffer answered by a live one.
    pub framebuffer_cache_hits: u64,
    /// Handles opened with `PRIME_FD_TO_HANDLE` (Quay's own buffers' are
    /// GBM's, not counted here).
    pub gem_prime_imports_total: u64,
    /// `PRIME_FD_TO_HANDLE` answers that were a handle the table already had.
    pub gem_handle_shared_total: u64,
    /// dma-bufs made from Quay's own buffers.
    pub exports_total: u64,
    /// Requests for an export answered by the live one.
    pub export_cache_hits: u64,
    /// Client dma-bufs that were Quay's own export, mapped to the original.
    pub export_roundtrips_total: u64,
    /// Framebuffers for Quay's own buffers made through the table (the
    /// cursor plane's), alive now and ever.
    pub own_framebuffers_live: u64,
    pub own_framebuffers_total: u64,
}

#[derive(Default)]
struct Inner {
    handles: HashMap<u32, Weak<GemHandle>>,
    /// By identity and the framebuffer's format (the opaque variant's, where
    /// smithay asked for it and it differs).
    framebuffers: HashMap<(DmabufIdentity, Fourcc), Weak<ClientFramebuffer>>,
    /// `(st_dev, st_ino)` of a live export -> the object it exports.
    exports: HashMap<(u64, u64), Weak<GemHandle>>,
    stats: KmsStats,
}

/// The table for one DRM fd. Cheap to clone (one `Rc`).
#[derive(Clone)]
pub struct KmsBuffers {
    drm: DrmDeviceFd,
    inner: Rc<RefCell<Inner>>,
}

impl fmt::Debug for KmsBuffers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsBuffers")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Who closes a handle.
pub enum GemOwner {
    /// Quay opened it with `PRIME_FD_TO_HANDLE` and closes it.
    Prime,
    /// A GBM buffer object Quay allocated; GBM closes the handle when the
    /// object is destroyed, which is when this `GemHandle` drops it.
    Gbm(GbmBuffer),
    /// The same for a buffer Quay writes with `gbm_bo_write` (the cursor
    /// plane's, allocated `CURSOR | WRITE`): the write needs `&mut`.
    GbmWritable(RefCell<GbmBuffer>),
}

/// One GEM handle on the table's fd.
pub struct GemHandle {
    handle: BufferHandle,
    owner: GemOwner,
    /// The live export of this object, if any (the export cache).
    export: RefCell<Option<WeakDmabuf>>,
    table: KmsBuffers,
}

impl fmt::Debug for GemHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let owner = match self.owner {
            GemOwner::Prime => "prime",
            GemOwner::Gbm(_) => "gbm",
            GemOwner::GbmWritable(_) => "gbm-writable",
        };
        f.debug_struct("GemHandle")
            .field("handle", &u32::from(self.handle))
            .field("owner", &owner)
            .finish()
    }
}

impl GemHandle {
    pub fn handle(&self) -> BufferHandle {
        self.handle
    }

    /// The GBM buffer object, for Quay's own buffers.
    pub fn bo(&self) -> Option<&GbmBuffer> {
        match &self.owner {
            GemOwner::Gbm(bo) => Some(bo),
            GemOwner::Prime | GemOwner::GbmWritable(_) => None,
        }
    }

    /// Copy `bytes` (the whole buffer, stride by height) into a writable
    /// buffer (`KmsBuffers::adopt_writable_bo`).
    pub fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        match &self.owner {
            GemOwner::GbmWritable(bo) => bo.borrow_mut().write(bytes),
            _ => Err(std::io::Error::other("not a writable buffer")),
        }
    }

    /// Size, format and stride of a single-plane GBM buffer.
    pub fn layout(&self) -> Option<((u32, u32), Fourcc, u32)> {
        let layout = |bo: &GbmBuffer| {
            (
                drm::buffer::Buffer::size(bo),
                drm::buffer::Buffer::format(bo),
                drm::buffer::Buffer::pitch(bo),
            )
        };
        match &self.owner {
            GemOwner::Gbm(bo) => Some(layout(bo)),
            GemOwner::GbmWritable(bo) => Some(layout(&bo.borrow())),
            GemOwner::Prime => None,
        }
    }

    /// This object as a dma-buf: the live export if there is one, otherwise
    /// a new one (`PRIME_HANDLE_TO_FD`, read-write so a CPU renderer can
    /// write it). `build` turns the fd into a `Dmabuf`. The export's identity
    /// is in the table before the `Dmabuf` is returned.
    pub fn export(
        self: &Rc<Self>,
        build: impl FnOnce(std::os::fd::OwnedFd) -> std::io::Result<Dmabuf>,
    ) -> std::io::Result<Dmabuf> {
        let live = self.export.borrow().as_ref().and_then(WeakDmabuf::upgrade);
        if let Some(dmabuf) = live {
            self.table.inner.borrow_mut().stats.export_cache_hits += 1;
            return Ok(dmabuf);
        }
        let fd = self
            .table
            .drm
            .buffer_to_prime_fd(self.handle, drm::CLOEXEC | drm::RDWR)?;
        let st = rustix::fs::fstat(&fd)?;
        let dmabuf = build(fd)?;
        *self.export.borrow_mut() = Some(dmabuf.weak());
        let mut inner = self.table.inner.borrow_mut();
        inner.stats.exports_total += 1;
        // The entry stays while this object lives, even after the export
        // itself is gone: a client may still hold a dup of its fd. It cannot
        // name another dma-buf later: dma-buf inode numbers come from a
        // 64-bit counter and are never re-used (drivers/dma-buf/dma-buf.c,
        // `dmabuf_inode`).
        inner.exports.insert((st.st_dev, st.st_ino), Rc::downgrade(self));
        Ok(dmabuf)
    }
}

impl Drop for GemHandle {
    fn drop(&mut self) {
        let key = u32::from(self.handle);
        let mut inner = self.table.inner.borrow_mut();
        // The table's weak for this handle is this object's (the kernel does
        // not re-use a number while it is open), and it no longer upgrades.
        if inner.handles.get(&key).is_some_and(|w| w.upgrade().is_none()) {
            inner.handles.remove(&key);
        }
        inner.exports.retain(|_, w| w.upgrade().is_some());
        inner.stats.gem_handles_live = inner.stats.gem_handles_live.saturating_sub(1);
        if let GemOwner::Prime = self.owner {
            // Under the borrow on purpose: see the module doc.
            if let Err(err) = self.table.drm.close_buffer(self.handle) {
                warn!(handle = key, "closing a GEM handle failed: {err}");
            }
        }
        // GemOwner::Gbm: the field drops after this body, outside the borrow.
    }
}

/// A KMS framebuffer for a client dma-buf, shared by every `wl_buffer` (and
/// every output) with the same identity on this fd.
pub struct ClientFramebuffer {
    fb: framebuffer::Handle,
    format: drm::buffer::DrmFourcc,
    modifier: Modifier,
    handles: Vec<Rc<GemHandle>>,
    _dmabuf: Dmabuf,
    table: KmsBuffers,
}

impl fmt::Debug for ClientFramebuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientFramebuffer")
            .field("fb", &self.fb)
            .field("handles", &self.handles)
            .finish()
    }
}

impl AsRef<framebuffer::Handle> for ClientFramebuffer {
    fn as_ref(&self) -> &framebuffer::Handle {
        &self.fb
    }
}

impl ClientFramebuffer {
    pub fn handles(&self) -> impl Iterator<Item = &GemHandle> {
        self.handles.iter().map(|h| &**h)
    }

    pub fn drm_format(&self) -> Format {
        Format {
            code: self.format,
            modifier: self.modifier,
        }
    }
}

impl Drop for ClientFramebuffer {
    fn drop(&mut self) {
        if let Err(err) = self.table.drm.destroy_framebuffer(self.fb) {
            warn!("destroying a framebuffer failed: {err}");
        }
        let mut inner = self.table.inner.borrow_mut();
        inner.framebuffers.retain(|_, w| w.upgrade().is_some());
        inner.stats.framebuffers_live = inner.stats.framebuffers_live.saturating_sub(1);
        // `handles` and `_dmabuf` drop after this body, with the borrow gone.
    }
}

/// A framebuffer for one of Quay's own single-plane GBM buffers (the cursor
/// plane's), made through the table: it holds the buffer's [`GemHandle`], so
/// the handle outlives the framebuffer.
pub struct OwnFramebuffer {
    fb: framebuffer::Handle,
    gem: Rc<GemHandle>,
    table: KmsBuffers,
}

impl fmt::Debug for OwnFramebuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnFramebuffer")
            .field("fb", &self.fb)
            .field("gem", &self.gem)
            .finish()
    }
}

impl OwnFramebuffer {
    pub fn handle(&self) -> framebuffer::Handle {
        self.fb
    }

    pub fn gem(&self) -> &GemHandle {
        &self.gem
    }
}

impl Drop for OwnFramebuffer {
    fn drop(&mut self) {
        if let Err(err) = self.table.drm.destroy_framebuffer(self.fb) {
            warn!("destroying a framebuffer failed: {err}");
        }
        let mut inner = self.table.inner.borrow_mut();
        inner.stats.own_framebuffers_live = inner.stats.own_framebuffers_live.saturating_sub(1);
        // `gem` drops after this body, with the borrow gone.
    }
}

/// `AddFB2` input for one of Quay's own buffers.
struct OwnPlanar {
    size: (u32, u32),
    format: Fourcc,
    pitch: u32,
    handle: BufferHandle,
}

impl PlanarBuffer for OwnPlanar {
    fn size(&self) -> (u32, u32) {
        self.size
    }
    fn format(&self) -> Fourcc {
        self.format
    }
    fn modifier(&self) -> Option<Modifier> {
        None
    }
    fn pitches(&self) -> [u32; 4] {
        [self.pitch, 0, 0, 0]
    }
    fn handles(&self) -> [Option<BufferHandle>; 4] {
        [Some(self.handle), None, None, None]
    }
    fn offsets(&self) -> [u32; 4] {
        [0; 4]
    }
}

/// `AddFB2` input from a dma-buf's layout and the table's handles.
struct Planar<'a> {
    dmabuf: &'a Dmabuf,
    handles: [Option<BufferHandle>; 4],
    format: Fourcc,
}

impl PlanarBuffer for Planar<'_> {
    fn size(&self) -> (u32, u32) {
        let s = self.dmabuf.size();
        (s.w as u32, s.h as u32)
    }
    fn format(&self) -> Fourcc {
        self.format
    }
    fn modifier(&self) -> Option<Modifier> {
        match self.dmabuf.format().modifier {
            Modifier::Invalid => None,
            m => Some(m),
        }
    }
    fn pitches(&self) -> [u32; 4] {
        let mut p = [0; 4];
        for (i, s) in self.dmabuf.strides().enumerate().take(4) {
            p[i] = s;
        }
        p
    }
    fn handles(&self) -> [Option<BufferHandle>; 4] {
        self.handles
    }
    fn offsets(&self) -> [u32; 4] {
        let mut o = [0; 4];
        for (i, s) in self.dmabuf.offsets().enumerate().take(4) {
            o[i] = s;
        }
        o
    }
}

impl KmsBuffers {
    pub fn new(drm: DrmDeviceFd) -> KmsBuffers {
        KmsBuffers {
            drm,
            inner: Rc::new(RefCell::new(Inner::default())),
        }
    }

    pub fn drm(&self) -> &DrmDeviceFd {
        &self.drm
    }

    pub fn stats(&self) -> KmsStats {
        self.inner.borrow().stats
    }

    /// Take ownership of a GBM buffer object Quay allocated on this fd and
    /// enter its handle in the table, so a client import that resolves to
    /// the same object shares it instead of closing it one day.
    pub fn adopt_bo(&self, bo: GbmBuffer) -> Rc<GemHandle> {
        let handle = drm::buffer::Buffer::handle(&bo);
        self.adopt(handle, GemOwner::Gbm(bo))
    }

    /// [`KmsBuffers::adopt_bo`] for a buffer Quay writes ([`GemHandle::write`]).
    pub fn adopt_writable_bo(&self, bo: GbmBuffer) -> Rc<GemHandle> {
        let handle = drm::buffer::Buffer::handle(&bo);
        self.adopt(handle, GemOwner::GbmWritable(RefCell::new(bo)))
    }

    fn adopt(&self, handle: BufferHandle, owner: GemOwner) -> Rc<GemHandle> {
        let gem = Rc::new(GemHandle {
            handle,
            owner,
            export: RefCell::new(None),
            table: self.clone(),
        });
        let mut inner = self.inner.borrow_mut();
        inner.stats.gem_handles_live += 1;
        inner.handles.insert(u32::from(handle), Rc::downgrade(&gem));
        gem
    }

    /// A framebuffer for a buffer [`KmsBuffers::adopt_bo`] returned (linear,
    /// one plane, implicit modifier).
    pub fn own_framebuffer(&self, gem: &Rc<GemHandle>) -> std::io::Result<OwnFramebuffer> {
        let (size, format, pitch) = gem
            .layout()
            .ok_or_else(|| std::io::Error::other("not one of Quay's own buffers"))?;
        let planar = OwnPlanar {
            size,
            format,
            pitch,
            handle: gem.handle,
        };
        let fb = self.drm.add_planar_framebuffer(&planar, FbCmd2Flags::empty())?;
        let mut inner = self.inner.borrow_mut();
        inner.stats.own_framebuffers_live += 1;
        inner.stats.own_framebuffers_total += 1;
        Ok(OwnFramebuffer {
            fb,
            gem: gem.clone(),
            table: self.clone(),
        })
    }

    /// The handle for one plane fd: our own export's object, a handle the
    /// table already holds, or a new one.
    fn handle_for(&self, fd: BorrowedFd<'_>) -> std::io::Result<Rc<GemHandle>> {
        let st = rustix::fs::fstat(fd)?;
        let mut inner = self.inner.borrow_mut();
        if let Some(gem) = inner.exports.get(&(st.st_dev, st.st_ino)).and_then(Weak::upgrade) {
            inner.stats.export_roundtrips_total += 1;
            return Ok(gem);
        }
        let handle = self.drm.prime_fd_to_buffer(fd)?;
        let key = u32::from(handle);
        if let Some(gem) = inner.handles.get(&key).and_then(Weak::upgrade) {
            inner.stats.gem_handle_shared_total += 1;
            return Ok(gem);
        }
        let gem = Rc::new(GemHandle {
            handle,
            owner: GemOwner::Prime,
            export: RefCell::new(None),
            table: self.clone(),
        });
        inner.stats.gem_handles_live += 1;
        inner.stats.gem_prime_imports_total += 1;
        inner.handles.insert(key, Rc::downgrade(&gem));
        Ok(gem)
    }

    /// The framebuffer for a client dma-buf: the live one with the same
    /// identity, or a new `AddFB2`. `opaque` asks for the alpha-less format
    /// (what smithay's `allow_opaque_fallback` means), a separate entry.
    pub fn framebuffer(&self, dmabuf: &Dmabuf, opaque: bool) -> std::io::Result<Rc<ClientFramebuffer>> {
        let identity = DmabufIdentity::of(dmabuf)?;
        // smithay asks for the opaque variant on the primary plane and not on
        // overlays (smithay-0.7.0 src/backend/drm/compositor/mod.rs:2944 and
        // :3742): for a format without alpha both are the same framebuffer,
        // so the key is the format the framebuffer gets, not the flag. Keyed
        // by the flag, two clients fullscreen on one XRGB dma-buf made two
        // AddFB2s (one per plane kind) in the VM.
        let code = dmabuf.format().code;
        let format = if opaque {
            get_opaque(code).unwrap_or(code)
        } else {
            code
        };
        let key = (identity, format);
        let hit = self.inner.borrow().framebuffers.get(&key).and_then(Weak::upgrade);
        if let Some(fb) = hit {
            self.inner.borrow_mut().stats.framebuffer_cache_hits += 1;
            return Ok(fb);
        }
        // Every `?` below drops the handles gathered so far with no borrow
        // held: `handle_for` returns with its borrow released.
        let mut handles = Vec::with_capacity(dmabuf.num_planes());
        for fd in dmabuf.handles() {
            handles.push(self.handle_for(fd)?);
        }
        let mut planar = Planar {
            dmabuf,
            handles: [None; 4],
            format,
        };
        for (i, h) in handles.iter().enumerate().take(4) {
            planar.handles[i] = Some(h.handle);
        }
        let flags = if planar.modifier().is_some() {
            FbCmd2Flags::MODIFIERS
        } else {
            FbCmd2Flags::empty()
        };
        let fb = self.drm.add_planar_framebuffer(&planar, flags)?;
        let shared = Rc::new(ClientFramebuffer {
            fb,
            format: planar.format,
            modifier: dmabuf.format().modifier,
            handles,
            _dmabuf: dmabuf.clone(),
            table: self.clone(),
        });
        let mut inner = self.inner.borrow_mut();
        inner.stats.framebuffers_total += 1;
        inner.stats.framebuffers_live += 1;
        inner.stats.framebuffers_live_peak = inner
            .stats
            .framebuffers_live_peak
            .max(inner.stats.framebuffers_live);
        inner.framebuffers.insert(key, Rc::downgrade(&shared));
        debug!(?fb, "client framebuffer");
        Ok(shared)
    }

    /// A `Dmabuf` for one linear plane of a GBM object, the way Quay's own
    /// buffers are exported.
    pub fn linear_dmabuf(
        fd: std::os::fd::OwnedFd,
        size: (i32, i32),
        code: Fourcc,
        offset: u32,
        stride: u32,
        node: Option<smithay::backend::drm::DrmNode>,
    ) -> std::io::Result<Dmabuf> {
        let mut builder = Dmabuf::builder(size, code, Modifier::Linear, DmabufFlags::empty());
        builder.add_plane(fd, 0, offset, stride);
        if let Some(node) = node {
            builder.set_node(node);
        }
        builder
            .build()
            .ok_or_else(|| std::io::Error::other("cannot build a dma-buf from an export"))
    }
}

/// The framebuffer type Quay's `DrmCompositor`s use: smithay's for our own
/// GBM buffers, the shared table entry for client dma-bufs.
#[derive(Debug)]
pub enum QuayFramebuffer {
    Own(smithay::backend::drm::gbm::GbmFramebuffer),
    Client(Rc<ClientFramebuffer>),
}

impl AsRef<framebuffer::Handle> for QuayFramebuffer {
    fn as_ref(&self) -> &framebuffer::Handle {
        match self {
            QuayFramebuffer::Own(fb) => fb.as_ref(),
            QuayFramebuffer::Client(fb) => fb.as_ref().as_ref(),
        }
    }
}

impl Framebuffer for QuayFramebuffer {
    fn format(&self) -> Format {
        match self {
            QuayFramebuffer::Own(fb) => fb.format(),
            QuayFramebuffer::Client(fb) => fb.drm_format(),
        }
    }
}
