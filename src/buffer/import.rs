//! `QuayRenderer<E>`: a renderer engine (pixman or GLES) behind Quay's own
//! import path.
//!
//! Every renderer trait is delegated to the engine `E`, except importing
//! client buffers and drawing them, which pass through here first. This is
//! the one place where Quay decides how a client's buffer becomes something
//! the renderer reads, so the import cache keyed by kernel identity
//! (one kernel dma-buf, one import) belongs here too, for every engine alike:
//! [`super::pixman`] maps dma-bufs and reads shm in place,
//! [`super::gles`] turns dma-bufs into EGLImages (or uploads them) and
//! uploads shm into textures Quay holds.
//!
//! ## One import per kernel dma-buf, under a budget
//!
//! Imports live in an [`ImportCache`] keyed by [`ImportKey`]: for a dma-buf
//! its [`DmabufIdentity`] (the `(st_dev, st_ino)` of every plane fd plus the
//! layout), for a surface's shm upload (GLES) the surface. K `wl_buffer`s on
//! one dma-buf, from one client or several, share one import. The cache also
//! keeps imports under the configured byte budget and drops them under
//! memory pressure; its module doc has the ownership and eviction rules.
//!
//! ## Handles, not images
//!
//! The renderer's `TextureId` is [`QuayTexture`]. For a cached import it is
//! only the cache entry's id: smithay keeps texture handles in each
//! surface's state until the next commit (smithay-0.7.0
//! `src/backend/renderer/utils/wayland.rs:48`, cleared only at :180 and
//! :351), so a handle that owned the import would pin it there and no
//! eviction could free anything. [`QuayFrame`] resolves the id when it
//! draws. An entry evicted since its handle was made is imported again
//! before the frame ([`QuayRenderer::prepare`], for the surfaces an output
//! shows) or, where the engine can do that without the renderer (pixman:
//! an mmap), at the draw itself.
//!
//! Everything here runs on the event-loop thread: `QuayRenderer` is owned by
//! the backend inside `State`, and the cache is `!Send`.

use std::{
    os::fd::{AsFd, BorrowedFd},
    sync::{Arc, Weak},
};

use smithay::{
    backend::{
        allocator::{
            dmabuf::{Dmabuf, DmabufFlags, WeakDmabuf},
            format::FormatSet,
            Buffer, Format, Fourcc, Modifier,
        },
        renderer::{
            sync::SyncPoint, utils::RendererSurfaceStateUserData, Bind, Color32F, ContextId, DebugFlags,
            ExportMem, Frame, ImportDma, ImportDmaWl, ImportMem, ImportMemWl, Renderer, RendererSuper,
            Texture, TextureFilter,
        },
    },
    output::Output,
    reexports::wayland_server::{protocol::wl_buffer, Resource, Weak as WlWeak},
    utils::{Buffer as BufferCoords, Physical, Rectangle, Size, Transform},
    wayland::{compositor::SurfaceData, shm},
};

use super::cpu_access::CpuAccess;
use super::error::ImportError;
use super::{
    cache::{Budget, CacheStats, EntryId, ImportCache, Outcome, PinSource, User},
    identity::DmabufIdentity,
};

/// What a cache entry imports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImportKey {
    /// A kernel dma-buf and its layout.
    Dmabuf(DmabufIdentity),
    /// A surface's shm upload (GLES), by the address of the surface's
    /// [`ShmSlot`]: unique while the slot lives, and an entry whose slot is
    /// gone is unlinked before its key can be met again.
    Surface(usize),
}

/// One user of an entry, held weakly.
#[derive(Debug)]
pub enum ImportUser {
    /// A `wl_buffer`'s `Dmabuf`.
    Dmabuf(WeakDmabuf),
    /// The surface an shm upload belongs to.
    Surface(Weak<ShmSlot>),
}

impl User for ImportUser {
    fn is_gone(&self) -> bool {
        match self {
            ImportUser::Dmabuf(w) => w.is_gone(),
            ImportUser::Surface(w) => w.upgrade().is_none_or(|slot| slot.is_dead()),
        }
    }
}

/// Where an entry imports (again) from.
#[derive(Debug)]
pub enum ImportSource {
    /// The entry's own dup of the planes, relabelled linear where implicit
    /// means linear.
    Dmabuf(Dmabuf),
    /// The surface's current shm buffer.
    Shm(ShmSource),
}

/// The shm buffer a surface shows now, weakly: an upload never keeps a
/// client's buffer (or its pool's mapping) alive.
#[derive(Debug, Clone)]
pub struct ShmSource {
    pub buffer: WlWeak<wl_buffer::WlBuffer>,
    pub size: Size<i32, BufferCoords>,
    pub format: Fourcc,
}

impl ShmSource {
    /// Run `f` over the buffer's pixels: pointer to the first pixel, stride
    /// in bytes.
    pub fn with_pixels<T>(&self, f: impl FnOnce(*const u8, usize) -> T) -> Option<T> {
        let buffer = self.buffer.upgrade().ok()?;
        shm::with_buffer_contents(&buffer, |ptr, len, data| {
            let needed = data.offset as usize + data.stride.max(0) as usize * data.height.max(0) as usize;
            if needed > len || data.offset < 0 {
                return None;
            }
            // SAFETY: smithay hands out the pool's mapping, `len` bytes;
            // the bounds were checked above.
            Some(f(unsafe { ptr.add(data.offset as usize) }, data.stride as usize))
        })
        .ok()
        .flatten()
    }
}

/// Kept in a surface's data map: the key and the user of its shm upload.
///
/// The slot lives as long as the surface's data, which is as long as any
/// handle on the `wl_surface` (a seat's focus keeps one after the client
/// is gone), so liveness is not the slot's: the surface's destruction marks
/// it dead ([`surface_destroyed`]).
#[derive(Debug, Default)]
pub struct ShmSlot(std::sync::atomic::AtomicBool);

impl ShmSlot {
    fn is_dead(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A `wl_surface` was destroyed: its shm upload has no user any more (it
/// goes at the next cleanup, after the next frame).
pub fn surface_destroyed(states: &SurfaceData) {
    if let Some(slot) = states.data_map.get::<Arc<ShmSlot>>() {
        slot.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Upload counters, for `quay msg stats`.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Uploads {
    /// shm buffers uploaded whole (first use, a new size, after an eviction).
    pub shm_uploads_total: u64,
    /// Damage-only uploads of an shm surface.
    pub shm_partial_uploads_total: u64,
    /// dma-bufs the engine could not import and copied instead.
    pub dmabuf_uploads_total: u64,
    /// Bytes written into textures by every upload above.
    pub upload_bytes_total: u64,
}

/// What frames drew, for `quay msg stats`: calls and the pixels they
/// covered (damage clipped to the destination), so overdraw shows as more
/// pixels than the output's damage.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Draws {
    /// Frames begun on the engine.
    pub frames_drawn_total: u64,
    /// `clear` of damage before the elements (the background colour).
    pub pixels_cleared_total: u64,
    /// Solid-colour rectangles (the locked colour, borders, ...).
    pub solid_draws_total: u64,
    pub pixels_filled_total: u64,
    /// Textures: client buffers, uploads, the cursor.
    pub texture_draws_total: u64,
    pub pixels_textured_total: u64,
}

/// Pixels of `rects` inside a `size` destination.
fn covered(size: Size<i32, Physical>, rects: &[Rectangle<i32, Physical>]) -> u64 {
    let bounds = Rectangle::from_size(size);
    rects
        .iter()
        .filter_map(|r| r.intersection(bounds))
        .map(|r| r.size.w.max(0) as u64 * r.size.h.max(0) as u64)
        .sum()
}

/// What an engine's import needs besides the engine: counters and what the
/// backend found out about the device.
#[derive(Debug, Default)]
pub struct ImportCtx {
    pub uploads: Uploads,
    /// See [`ImportStats::dmabuf_imports_total`].
    pub dmabuf_imports_total: u64,
    /// Client dma-bufs may go to the driver (EGL). False on a software EGL
    /// device: llvmpipe crashed on foreign buffers in the VM suite's GLES runs,
    /// so they are uploaded from their mapping instead.
    pub egl_import: bool,
}

/// A renderer engine Quay drives through its import cache.
pub trait Engine:
    Renderer + RendererSuper<TextureId: Send> + ImportMem + ImportMemWl + ExportMem + Sized + 'static
{
    /// For the log and `quay msg stats`.
    const NAME: &'static str;
    /// Whether shm buffers become cache entries (uploads) rather than being
    /// read in place by the engine.
    const SHM_UPLOADS: bool;
    /// A resident import.
    type Resident: std::fmt::Debug;

    /// Import a cache entry from its source.
    fn import_entry(
        &mut self,
        source: &ImportSource,
        ctx: &mut ImportCtx,
    ) -> Result<Self::Resident, Self::Error>;
    /// The entry's buffer was committed again: bring a copy up to date
    /// (`damage` in buffer coordinates, for shm).
    fn refresh_entry(
        &mut self,
        resident: &mut Self::Resident,
        source: &ImportSource,
        damage: &[Rectangle<i32, BufferCoords>],
        ctx: &mut ImportCtx,
    ) -> Result<(), Self::Error>;
    /// Import while a frame holds the engine, where that needs no engine.
    fn import_detached(source: &ImportSource) -> Option<Result<Self::Resident, Self::Error>>;
    /// What to draw for a resident entry, and the guard to hold around the
    /// draw (a CPU read of a dma-buf).
    fn texture_of(
        resident: &Self::Resident,
        source: &ImportSource,
    ) -> Result<(Self::TextureId, Option<CpuAccess>), Self::Error>;
    /// Whether the resident copy was made while the buffer's fences were
    /// pending and must be made again once they have signalled (an upload
    /// or a conversion; [`super::cpu_access`]).
    fn stale(_resident: &Self::Resident) -> bool {
        false
    }
    fn import_failed() -> Self::Error;
    /// Which [`ImportError`] an import failure of this engine is.
    fn import_error(err: &Self::Error) -> ImportError;
    /// The dma-buf formats clients may send (before the implicit-linear
    /// relabel).
    fn client_formats(&self, ctx: &ImportCtx) -> FormatSet;
    /// Bytes a resident import of `dmabuf` accounts for.
    fn dmabuf_bytes(dmabuf: &Dmabuf) -> u64;
    /// `Clone` of the engine's texture handle (both engines' handles are
    /// `Clone`; a bound on the associated type would not be implied).
    fn clone_texture(t: &Self::TextureId) -> Self::TextureId;
    /// The engine's own program for a draw at full alpha, compiled once per
    /// renderer (GLES: a shader that only samples; see `gles.rs`).
    type Blit: Clone + std::fmt::Debug;
    fn blit_program(&mut self) -> Option<Self::Blit>;
    /// Draw `tex` in a frame, with the blit program where the engine has one
    /// (the default: the engine's own texture draw).
    #[allow(clippy::too_many_arguments)]
    fn draw_texture(
        frame: &mut Self::Frame<'_, '_>,
        blit: Option<&Self::Blit>,
        tex: &Self::TextureId,
        src: Rectangle<f64, BufferCoords>,
        dst: Rectangle<i32, Physical>,
        damage: &[Rectangle<i32, Physical>],
        opaque_regions: &[Rectangle<i32, Physical>],
        src_transform: Transform,
        alpha: f32,
    ) -> Result<(), Self::Error> {
        let _ = blit;
        frame.render_texture_from_to(tex, src, dst, damage, opaque_regions, src_transform, alpha)
    }
}

/// The import cache as a renderer instantiates it.
pub type Cache<E> = ImportCache<ImportKey, ImportUser, ImportSource, <E as Engine>::Resident>;

/// The renderer's texture handle; see the module doc.
#[derive(Debug)]
pub struct QuayTexture<E: Engine>(Tex<E>);

#[derive(Debug)]
enum Tex<E: Engine> {
    /// The engine's own texture (pixman: shm read in place; memory imports).
    Inner(E::TextureId),
    /// An entry of the import cache.
    Import {
        id: EntryId,
        size: Size<i32, BufferCoords>,
        format: Fourcc,
    },
}

impl<E: Engine> Clone for QuayTexture<E> {
    fn clone(&self) -> Self {
        QuayTexture(match &self.0 {
            Tex::Inner(t) => Tex::Inner(E::clone_texture(t)),
            Tex::Import { id, size, format } => Tex::Import {
                id: *id,
                size: *size,
                format: *format,
            },
        })
    }
}

impl<E: Engine> QuayTexture<E> {
    /// The import cache entry behind this texture.
    pub fn entry(&self) -> Option<EntryId> {
        match self.0 {
            Tex::Import { id, .. } => Some(id),
            Tex::Inner(_) => None,
        }
    }
}

impl<E: Engine> Texture for QuayTexture<E> {
    fn width(&self) -> u32 {
        match &self.0 {
            Tex::Inner(t) => t.width(),
            Tex::Import { size, .. } => size.w as u32,
        }
    }
    fn height(&self) -> u32 {
        match &self.0 {
            Tex::Inner(t) => t.height(),
            Tex::Import { size, .. } => size.h as u32,
        }
    }
    fn format(&self) -> Option<Fourcc> {
        match &self.0 {
            Tex::Inner(t) => t.format(),
            Tex::Import { format, .. } => Some(*format),
        }
    }
}

/// Import counters and upload counters together, for `quay msg stats`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportStats {
    pub renderer: &'static str,
    /// Surfaces with an shm upload (GLES); `dmabufs_live` counts dma-buf
    /// entries only.
    pub shm_surfaces_live: u64,
    /// Entries made for client dma-bufs (one per kernel dma-buf and
    /// layout; `imports_total` adds the shm uploads' entries on GLES).
    pub dmabuf_imports_total: u64,
    #[serde(flatten)]
    pub cache: CacheStats,
    #[serde(flatten)]
    pub uploads: Uploads,
    #[serde(flatten)]
    pub draws: Draws,
}

#[derive(Debug)]
pub struct QuayRenderer<E: Engine> {
    inner: E,
    implicit_is_linear: bool,
    cache: Cache<E>,
    ctx: ImportCtx,
    /// `Engine::blit_program`, asked for at the first frame.
    blit: Option<Option<E::Blit>>,
    draws: Draws,
}

impl<E: Engine> QuayRenderer<E> {
    pub fn new(inner: E, budget: Budget) -> QuayRenderer<E> {
        QuayRenderer {
            inner,
            implicit_is_linear: false,
            cache: ImportCache::new(budget),
            blit: None,
            draws: Draws::default(),
            ctx: ImportCtx::default(),
        }
    }

    pub fn engine(&self) -> &E {
        &self.inner
    }

    pub fn engine_mut(&mut self) -> &mut E {
        &mut self.inner
    }

    /// Declare that implicit-modifier dma-bufs on this system are linear
    /// (see [`super::pixman`] for when that is true).
    pub fn set_implicit_is_linear(&mut self, yes: bool) {
        self.implicit_is_linear = yes;
    }

    pub fn implicit_is_linear(&self) -> bool {
        self.implicit_is_linear
    }

    /// Whether client dma-bufs may be given to the driver (see [`ImportCtx`]).
    pub fn set_egl_import(&mut self, yes: bool) {
        self.ctx.egl_import = yes;
    }

    pub fn set_budget(&mut self, budget: Budget) {
        self.cache.set_budget(budget);
    }

    /// The import cache (pins, pressure, eviction).
    pub fn cache_mut(&mut self) -> &mut Cache<E> {
        &mut self.cache
    }

    /// Make every entry `output` shows resident again before it is drawn:
    /// an engine that cannot import while a frame holds it (GLES) does it
    /// here. Entries that fail stay evicted and are not drawn.
    pub fn prepare(&mut self, shown: &dyn ShownSurfaces, output: &Output) {
        let QuayRenderer {
            inner, cache, ctx, ..
        } = self;
        for id in shown_on::<E>(shown, output, inner.context_id().map()) {
            if let Err(e) = cache.resident(id, |s| inner.import_entry(s, ctx)) {
                tracing::debug!("re-importing entry {id:?}: {e:?}");
            }
            // A copy made while the buffer's fences were pending (see
            // `super::cpu_access`) is made again once they have signalled.
            if let Some((resident, source)) = cache.resident_mut(id) {
                if E::stale(resident) {
                    if let Err(e) = inner.refresh_entry(resident, source, &[], ctx) {
                        tracing::debug!("refreshing entry {id:?}: {e:?}");
                    }
                }
            }
        }
    }

    fn linear_formats(&self, formats: FormatSet) -> FormatSet {
        if !self.implicit_is_linear {
            return formats;
        }
        let mut out: Vec<Format> = formats.iter().copied().collect();
        for f in formats.iter() {
            if f.modifier == Modifier::Linear {
                out.push(Format {
                    code: f.code,
                    modifier: Modifier::Invalid,
                });
            }
        }
        out.into_iter().collect()
    }

    /// The texture for a resident entry, importing it again if needed.
    fn resolve(&mut self, texture: &QuayTexture<E>) -> Result<(E::TextureId, Option<CpuAccess>), E::Error> {
        match &texture.0 {
            Tex::Inner(t) => Ok((E::clone_texture(t), None)),
            Tex::Import { id, .. } => {
                let QuayRenderer {
                    inner, cache, ctx, ..
                } = self;
                match cache.resident(*id, |s| inner.import_entry(s, ctx))? {
                    Some((resident, source)) => E::texture_of(resident, source),
                    None => Err(E::import_failed()),
                }
            }
        }
    }

    fn import_shm(
        &mut self,
        buffer: &wl_buffer::WlBuffer,
        surface: Option<&SurfaceData>,
        damage: &[Rectangle<i32, BufferCoords>],
    ) -> Result<QuayTexture<E>, E::Error> {
        let meta = shm::with_buffer_contents(buffer, |_, _, d| (d.width, d.height, d.format))
            .map_err(|_| E::import_failed())?;
        let format = shm::shm_format_to_fourcc(meta.2).ok_or_else(E::import_failed)?;
        let size: Size<i32, BufferCoords> = (meta.0, meta.1).into();
        let source = ShmSource {
            buffer: buffer.downgrade(),
            size,
            format,
        };
        let QuayRenderer {
            inner, cache, ctx, ..
        } = self;
        let Some(surface) = surface else {
            // Nothing to key it on (not a surface's buffer): a one-off upload.
            let resident = inner.import_entry(&ImportSource::Shm(source.clone()), ctx)?;
            let (tex, _) = E::texture_of(&resident, &ImportSource::Shm(source))?;
            return Ok(QuayTexture(Tex::Inner(tex)));
        };
        let slot = surface
            .data_map
            .get_or_insert_threadsafe(|| Arc::new(ShmSlot::default()))
            .clone();
        let key = ImportKey::Surface(Arc::as_ptr(&slot) as usize);
        if let Some(id) = cache.id_of(&key) {
            match cache.source_mut(id) {
                Some(ImportSource::Shm(s)) if s.size == size && s.format == format => *s = source.clone(),
                _ => cache.remove(id),
            }
        }
        let user = Arc::downgrade(&slot);
        let bytes = size.w.max(0) as u64 * size.h.max(0) as u64 * 4;
        let (id, outcome) = cache.insert_or_get(
            key,
            ImportUser::Surface(user.clone()),
            |u| matches!(u, ImportUser::Surface(w) if w.ptr_eq(&user)),
            bytes,
            || Ok(ImportSource::Shm(source)),
            |s| inner.import_entry(s, ctx),
        )?;
        if outcome == Outcome::Hit {
            if let Some((resident, source)) = cache.resident_mut(id) {
                inner.refresh_entry(resident, source, damage, ctx)?;
            }
        }
        Ok(QuayTexture(Tex::Import { id, size, format }))
    }
}

/// What the compositor shows, as the import path needs to know it: every
/// surface (popups and subsurfaces included) drawn on an output. The import
/// path asks through this rather than knowing `Core` (it is a leaf); `Core`
/// implements it in `src/render.rs`.
pub trait ShownSurfaces {
    /// Call `f` with the state of every surface `output` shows.
    fn for_each_shown(&self, output: &Output, f: &mut dyn FnMut(&smithay::wayland::compositor::SurfaceData));
}

/// The import-cache entries `output` shows now: the current buffer of
/// every surface on it.
pub fn shown_on<E: Engine>(
    shown: &dyn ShownSurfaces,
    output: &Output,
    ctx: ContextId<QuayTexture<E>>,
) -> Vec<EntryId> {
    let mut ids = Vec::new();
    // The walk already holds each surface's state lock: read the renderer
    // state from `data`, not through `with_renderer_surface_state`, which
    // would lock it again (smithay-0.7.0
    // src/backend/renderer/utils/wayland.rs:478) and deadlock.
    shown.for_each_shown(output, &mut |data| {
        let Some(state) = data.data_map.get::<RendererSurfaceStateUserData>() else {
            return;
        };
        let Ok(state) = state.lock() else {
            return;
        };
        ids.extend(
            state
                .texture::<QuayTexture<E>>(ctx.clone())
                .and_then(QuayTexture::entry),
        );
    });
    ids
}

/// What the rest of Quay asks of the import path, whatever the engine.
pub trait Imports {
    fn renderer_name(&self) -> &'static str;
    /// Import a client's dma-buf (at `create`, or for a commit waiting on
    /// its fence); an error means `failed`, and says why.
    fn import_client(&mut self, dmabuf: &Dmabuf) -> Result<Option<EntryId>, ImportError>;
    fn set_pins(&mut self, source: &PinSource, ids: Vec<EntryId>);
    /// After rendering `output`: pin what it shows, unpin what it no longer
    /// shows. The cleanup that may then free what was unpinned waits for the
    /// frame to be presented ([`Imports::cleanup`] from
    /// `render::frame_presented`), or runs at once for a frame that will not
    /// be (`render::frame_skipped`), so nothing the frame before still shows
    /// on a KMS plane goes before its flip, and the scan runs once a frame.
    fn pin_shown(&mut self, shown: &dyn ShownSurfaces, output: &Output);
    /// Forget entries no user holds any more, bring imports back under
    /// budget, and let the engine free what that released.
    fn cleanup(&mut self);
    fn unpin(&mut self, source: &PinSource);
    /// Drop every import not pinned (`quay msg evict`).
    fn evict_all(&mut self) -> u64;
    /// Memory pressure.
    fn pressure(&mut self) -> u64;
    fn stats(&mut self) -> ImportStats;
}

impl<E: Engine> Imports for QuayRenderer<E> {
    fn renderer_name(&self) -> &'static str {
        E::NAME
    }
    fn import_client(&mut self, dmabuf: &Dmabuf) -> Result<Option<EntryId>, ImportError> {
        super::error::check_dmabuf_files(dmabuf)?;
        self.import_dmabuf(dmabuf, None)
            .map(|t| t.entry())
            .map_err(|e| E::import_error(&e))
    }
    fn set_pins(&mut self, source: &PinSource, ids: Vec<EntryId>) {
        self.cache.set_pins(source, ids);
    }
    fn pin_shown(&mut self, shown: &dyn ShownSurfaces, output: &Output) {
        let ids = shown_on::<E>(shown, output, self.inner.context_id().map());
        self.cache.set_pins(&PinSource::Output(output.name()), ids);
    }
    fn cleanup(&mut self) {
        self.cache.cleanup();
        self.cache.enforce_budget();
        if let Err(e) = self.inner.cleanup_texture_cache() {
            tracing::debug!("engine cleanup: {e:?}");
        }
    }
    fn unpin(&mut self, source: &PinSource) {
        self.cache.unpin(source);
    }
    fn evict_all(&mut self) -> u64 {
        let freed = self.cache.evict_all();
        self.inner.cleanup_texture_cache().ok();
        freed
    }
    fn pressure(&mut self) -> u64 {
        let freed = self.cache.pressure();
        self.inner.cleanup_texture_cache().ok();
        freed
    }
    fn stats(&mut self) -> ImportStats {
        self.cache.cleanup();
        let mut cache = self.cache.stats();
        cache.dmabufs_live = self.cache.count_keys(|k| matches!(k, ImportKey::Dmabuf(_)));
        ImportStats {
            renderer: E::NAME,
            shm_surfaces_live: self.cache.count_keys(|k| matches!(k, ImportKey::Surface(_))),
            cache,
            uploads: self.ctx.uploads,
            dmabuf_imports_total: self.ctx.dmabuf_imports_total,
            draws: self.draws,
        }
    }
}

/// The cache entry's own copy of a client's planes (dup'ed fds), labelled
/// linear if `linear`.
pub fn dup_planes(dmabuf: &Dmabuf, linear: bool) -> Option<Dmabuf> {
    let flags = if dmabuf.y_inverted() {
        DmabufFlags::Y_INVERT
    } else {
        DmabufFlags::empty()
    };
    let modifier = if linear {
        Modifier::Linear
    } else {
        dmabuf.format().modifier
    };
    let mut builder = Dmabuf::builder(dmabuf.size(), dmabuf.format().code, modifier, flags);
    let planes: Vec<(BorrowedFd<'_>, (u32, u32))> = dmabuf
        .handles()
        .zip(dmabuf.offsets().zip(dmabuf.strides()))
        .collect();
    for (idx, (fd, (offset, stride))) in planes.into_iter().enumerate() {
        let owned = fd.as_fd().try_clone_to_owned().ok()?;
        builder.add_plane(owned, idx as u32, offset, stride);
    }
    builder.build()
}

/// A frame that draws [`QuayTexture`]s. It borrows the import cache for its
/// whole life, so nothing can be evicted while a frame is built.
pub struct QuayFrame<'frame, 'buffer, E: Engine + 'frame>
where
    'buffer: 'frame,
{
    inner: E::Frame<'frame, 'buffer>,
    cache: &'frame mut Cache<E>,
    blit: Option<&'frame E::Blit>,
    draws: &'frame mut Draws,
    output_size: Size<i32, Physical>,
}

impl<'frame, 'buffer, E: Engine + 'frame> std::fmt::Debug for QuayFrame<'frame, 'buffer, E>
where
    'buffer: 'frame,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuayFrame").field("engine", &E::NAME).finish()
    }
}

impl<'frame, 'buffer, E: Engine + 'frame> Frame for QuayFrame<'frame, 'buffer, E>
where
    'buffer: 'frame,
{
    type Error = E::Error;
    type TextureId = QuayTexture<E>;

    fn context_id(&self) -> ContextId<QuayTexture<E>> {
        self.inner.context_id().map()
    }
    fn clear(&mut self, color: Color32F, at: &[Rectangle<i32, Physical>]) -> Result<(), E::Error> {
        self.draws.pixels_cleared_total += covered(self.output_size, at);
        self.inner.clear(color, at)
    }
    fn draw_solid(
        &mut self,
        dst: Rectangle<i32, Physical>,
        damage: &[Rectangle<i32, Physical>],
        color: Color32F,
    ) -> Result<(), E::Error> {
        self.draws.solid_draws_total += 1;
        self.draws.pixels_filled_total += covered(dst.size, damage);
        self.inner.draw_solid(dst, damage, color)
    }
    fn render_texture_from_to(
        &mut self,
        texture: &QuayTexture<E>,
        src: Rectangle<f64, BufferCoords>,
        dst: Rectangle<i32, Physical>,
        damage: &[Rectangle<i32, Physical>],
        opaque_regions: &[Rectangle<i32, Physical>],
        src_transform: Transform,
        alpha: f32,
    ) -> Result<(), E::Error> {
        let (tex, _sync) = match &texture.0 {
            Tex::Inner(t) => (E::clone_texture(t), None),
            Tex::Import { id, .. } => {
                let detached =
                    |s: &ImportSource| E::import_detached(s).unwrap_or_else(|| Err(E::import_failed()));
                match self.cache.resident(*id, detached) {
                    Ok(Some((resident, source))) => E::texture_of(resident, source)?,
                    // Gone, or evicted and not importable here (`prepare`
                    // failed for it): nothing to draw this frame.
                    Ok(None) => return Ok(()),
                    Err(e) => {
                        tracing::debug!("entry {id:?} not drawn: {e:?}");
                        return Ok(());
                    }
                }
            }
        };
        self.draws.texture_draws_total += 1;
        self.draws.pixels_textured_total += covered(dst.size, damage);
        E::draw_texture(
            &mut self.inner,
            self.blit,
            &tex,
            src,
            dst,
            damage,
            opaque_regions,
            src_transform,
            alpha,
        )
    }
    fn transformation(&self) -> Transform {
        self.inner.transformation()
    }
    fn wait(&mut self, sync: &SyncPoint) -> Result<(), E::Error> {
        self.inner.wait(sync)
    }
    fn finish(self) -> Result<SyncPoint, E::Error> {
        self.inner.finish()
    }
}

impl<E: Engine> RendererSuper for QuayRenderer<E> {
    type Error = E::Error;
    type TextureId = QuayTexture<E>;
    type Framebuffer<'buffer> = E::Framebuffer<'buffer>;
    type Frame<'frame, 'buffer>
        = QuayFrame<'frame, 'buffer, E>
    where
        'buffer: 'frame,
        Self: 'frame;
}

impl<E: Engine> Renderer for QuayRenderer<E> {
    fn context_id(&self) -> ContextId<QuayTexture<E>> {
        self.inner.context_id().map()
    }
    fn downscale_filter(&mut self, filter: TextureFilter) -> Result<(), E::Error> {
        self.inner.downscale_filter(filter)
    }
    fn upscale_filter(&mut self, filter: TextureFilter) -> Result<(), E::Error> {
        self.inner.upscale_filter(filter)
    }
    fn set_debug_flags(&mut self, flags: DebugFlags) {
        self.inner.set_debug_flags(flags)
    }
    fn debug_flags(&self) -> DebugFlags {
        self.inner.debug_flags()
    }
    fn render<'frame, 'buffer>(
        &'frame mut self,
        framebuffer: &'frame mut E::Framebuffer<'buffer>,
        output_size: Size<i32, Physical>,
        dst_transform: Transform,
    ) -> Result<QuayFrame<'frame, 'buffer, E>, E::Error>
    where
        'buffer: 'frame,
    {
        if self.blit.is_none() {
            self.blit = Some(self.inner.blit_program());
        }
        let QuayRenderer {
            inner,
            cache,
            blit,
            draws,
            ..
        } = self;
        draws.frames_drawn_total += 1;
        Ok(QuayFrame {
            inner: inner.render(framebuffer, output_size, dst_transform)?,
            cache,
            blit: blit.as_ref().and_then(Option::as_ref),
            draws,
            output_size,
        })
    }
    fn wait(&mut self, sync: &SyncPoint) -> Result<(), E::Error> {
        self.inner.wait(sync)
    }
    fn cleanup_texture_cache(&mut self) -> Result<(), E::Error> {
        Imports::cleanup(self);
        Ok(())
    }
}

impl<E: Engine> ImportMem for QuayRenderer<E> {
    fn import_memory(
        &mut self,
        data: &[u8],
        format: Fourcc,
        size: Size<i32, BufferCoords>,
        flipped: bool,
    ) -> Result<QuayTexture<E>, E::Error> {
        self.inner
            .import_memory(data, format, size, flipped)
            .map(|t| QuayTexture(Tex::Inner(t)))
    }
    fn update_memory(
        &mut self,
        texture: &QuayTexture<E>,
        data: &[u8],
        region: Rectangle<i32, BufferCoords>,
    ) -> Result<(), E::Error> {
        match &texture.0 {
            Tex::Inner(t) => self.inner.update_memory(t, data, region),
            // A client's buffer is the client's to write.
            Tex::Import { .. } => Err(E::import_failed()),
        }
    }
    fn mem_formats(&self) -> Box<dyn Iterator<Item = Fourcc>> {
        self.inner.mem_formats()
    }
}

impl<E: Engine> ImportMemWl for QuayRenderer<E> {
    /// pixman reads shm in place; GLES uploads it into the surface's cache
    /// entry: whole on first use, a new size or after an eviction, only the
    /// damage since the renderer last saw the surface otherwise (smithay
    /// passes exactly that, smithay-0.7.0
    /// src/backend/renderer/utils/wayland.rs:504).
    fn import_shm_buffer(
        &mut self,
        buffer: &wl_buffer::WlBuffer,
        surface: Option<&SurfaceData>,
        damage: &[Rectangle<i32, BufferCoords>],
    ) -> Result<QuayTexture<E>, E::Error> {
        if !E::SHM_UPLOADS {
            return self
                .inner
                .import_shm_buffer(buffer, surface, damage)
                .map(|t| QuayTexture(Tex::Inner(t)));
        }
        self.import_shm(buffer, surface, damage)
    }
}

impl<E: Engine> ImportDma for QuayRenderer<E> {
    /// Runs for every commit that attaches a dma-buf (smithay imports when a
    /// surface's texture slot is empty, smithay-0.7.0
    /// `src/backend/renderer/utils/wayland.rs:505`) and at `create`: an
    /// fstat per plane, a hash lookup and an LRU touch when cached.
    fn import_dmabuf(
        &mut self,
        dmabuf: &Dmabuf,
        _damage: Option<&[Rectangle<i32, BufferCoords>]>,
    ) -> Result<QuayTexture<E>, E::Error> {
        let linear = dmabuf.format().modifier == Modifier::Invalid && self.implicit_is_linear;
        let identity = DmabufIdentity::of(dmabuf).map_err(|_| E::import_failed())?;
        let QuayRenderer {
            inner, cache, ctx, ..
        } = self;
        let (id, outcome) = cache.insert_or_get(
            ImportKey::Dmabuf(identity),
            ImportUser::Dmabuf(dmabuf.weak()),
            // `upgrade` is the kref_get_unless_zero step: a user that is
            // already gone does not match.
            |u| matches!(u, ImportUser::Dmabuf(w) if w.upgrade().as_ref() == Some(dmabuf)),
            E::dmabuf_bytes(dmabuf),
            || {
                dup_planes(dmabuf, linear)
                    .map(ImportSource::Dmabuf)
                    .ok_or_else(E::import_failed)
            },
            |s| inner.import_entry(s, ctx),
        )?;
        if outcome == Outcome::Imported {
            ctx.dmabuf_imports_total += 1;
        }
        // A copied import (a converted or uploaded one): a commit of the same
        // buffer means new contents (a V4L2 capture buffer comes back
        // refilled).
        if outcome == Outcome::Hit {
            if let Some((resident, source)) = cache.resident_mut(id) {
                inner.refresh_entry(resident, source, &[], ctx)?;
            }
        }
        Ok(QuayTexture(Tex::Import {
            id,
            size: dmabuf.size(),
            format: dmabuf.format().code,
        }))
    }

    fn dmabuf_formats(&self) -> FormatSet {
        self.linear_formats(self.inner.client_formats(&self.ctx))
    }
}

impl<E: Engine> ImportDmaWl for QuayRenderer<E> {}

impl<E: Engine + Bind<Dmabuf>> Bind<Dmabuf> for QuayRenderer<E> {
    fn bind<'a>(&mut self, target: &'a mut Dmabuf) -> Result<E::Framebuffer<'a>, E::Error> {
        if target.format().modifier == Modifier::Invalid && self.implicit_is_linear {
            // Scanout buffers Quay allocated with GBM_BO_USE_LINEAR; the
            // relabelled copy is written in place (same memory).
            *target = dup_planes(target, true).ok_or_else(E::import_failed)?;
        }
        self.inner.bind(target)
    }
    fn supported_formats(&self) -> Option<FormatSet> {
        Bind::<Dmabuf>::supported_formats(&self.inner).map(|f| self.linear_formats(f))
    }
}

impl<E: Engine> ExportMem for QuayRenderer<E> {
    type TextureMapping = E::TextureMapping;

    fn copy_framebuffer(
        &mut self,
        target: &E::Framebuffer<'_>,
        region: Rectangle<i32, BufferCoords>,
        format: Fourcc,
    ) -> Result<E::TextureMapping, E::Error> {
        self.inner.copy_framebuffer(target, region, format)
    }
    fn copy_texture(
        &mut self,
        texture: &QuayTexture<E>,
        region: Rectangle<i32, BufferCoords>,
        format: Fourcc,
    ) -> Result<E::TextureMapping, E::Error> {
        let (tex, _sync) = self.resolve(texture)?;
        self.inner.copy_texture(&tex, region, format)
    }
    fn can_read_texture(&mut self, texture: &QuayTexture<E>) -> Result<bool, E::Error> {
        let (tex, _) = self.resolve(texture)?;
        self.inner.can_read_texture(&tex)
    }
    fn map_texture<'a>(&mut self, mapping: &'a E::TextureMapping) -> Result<&'a [u8], E::Error> {
        self.inner.map_texture(mapping)
    }
}
