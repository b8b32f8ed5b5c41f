//! `QuayRenderer`: pixman behind Quay's own import path.
//!
//! Every renderer trait is delegated to smithay's `PixmanRenderer`, except
//! dma-buf import and binding, which pass through here first. This is the
//! one place where Quay decides how a client's dma-buf becomes something the
//! renderer reads, so the import cache keyed by kernel identity
//! (`../shared/DESIGN.md` rule 1) belongs here too.
//!
//! ## Implicit modifiers
//!
//! A dma-buf with `DRM_FORMAT_MOD_INVALID` ("implicit": the layout is the
//! allocating driver's private choice) cannot be read by mmap in general: on
//! a GPU it may be tiled. But where the device's EGL is software
//! (kms_swrast/llvmpipe on virtio_gpu without 3D, vkms, vgem), GBM hands out
//! dumb buffers, and dumb buffers are linear by definition. Mesa on such a
//! device cannot allocate with explicit modifiers, so its clients
//! (`weston-simple-dmabuf-egl`) send implicit ones. With
//! [`QuayRenderer::set_implicit_is_linear`] the udev backend declares that it
//! probed exactly that; Quay then reads implicit buffers as linear.
//! Scanout buffers Quay allocates itself use `GBM_BO_USE_LINEAR`, so they are
//! linear whatever modifier GBM reports.
//!
//! ## One import per kernel dma-buf, under a budget
//!
//! Imports live in a [`DmabufCache`] ([`super::cache::ImportCache`]) keyed by
//! [`DmabufIdentity`]: the `(st_dev, st_ino)` of every plane fd plus the
//! layout. K `wl_buffer`s on one dma-buf, from one client or several, share
//! one import (one mmap, one pixman image). The cache also keeps imports
//! under the configured byte budget and drops them under memory pressure;
//! its module doc has the ownership and eviction rules.
//!
//! ## Handles, not images
//!
//! The renderer's `TextureId` is [`QuayTexture`]. For a dma-buf it is only
//! the cache entry's id: smithay keeps texture handles in each surface's
//! state until the next commit (smithay-0.7.0
//! `src/backend/renderer/utils/wayland.rs:48`, cleared only at :180 and
//! :351), so a handle that owned the mmap would pin it there and no
//! eviction could free anything. [`QuayFrame`] resolves the id when it
//! draws, importing again from the entry's own dup of the plane fds if the
//! entry was evicted; the pixman image it draws is a clone held for that one
//! call. shm buffers are read in place by pixman (no upload, nothing to
//! evict) and their handles wrap smithay's texture directly.
//!
//! Every draw of a dma-buf is bracketed with `DMA_BUF_IOCTL_SYNC`
//! START/END (read), as smithay's own pixman path does; that ioctl is also
//! what tells a real dma-buf from a memfd posing as one at import.
//!
//! Everything here runs on the event-loop thread: `QuayRenderer` is owned by
//! the backend inside `State`, and the cache is `!Send`.

use std::os::fd::{AsFd, BorrowedFd};

use smithay::{
    backend::{
        allocator::{
            dmabuf::{Dmabuf, DmabufFlags, DmabufSyncFlags, WeakDmabuf},
            format::FormatSet,
            Buffer, Format, Fourcc, Modifier,
        },
        renderer::{
            pixman::{PixmanError, PixmanFrame, PixmanMapping, PixmanRenderer, PixmanTarget, PixmanTexture},
            sync::SyncPoint,
            Bind, Color32F, ContextId, DebugFlags, ExportMem, Frame, ImportDma, ImportDmaWl, ImportMem,
            ImportMemWl, Offscreen, Renderer, RendererSuper, Texture, TextureFilter,
        },
    },
    reexports::{pixman, wayland_server::protocol::wl_buffer},
    utils::{Buffer as BufferCoords, Physical, Rectangle, Size, Transform},
    wayland::compositor::SurfaceData,
};

use super::mapping::PlaneMapping;
use super::{
    cache::{Budget, CacheStats, EntryId, ImportCache, Outcome},
    identity::DmabufIdentity,
    reaper::OffThreadDrop,
};

/// A resident import: a pixman image over the mmap of plane 0, or, for a
/// format pixman cannot read (YUYV), over Quay's XRGB conversion of it.
#[derive(Debug)]
pub struct Mapped {
    // Field order is drop order: the image goes before the memory it points
    // into, and only then is the mapping sent to the reaper to be unmapped
    // (the munmap of a drawn buffer is too slow for the loop thread; see
    // `super::reaper`).
    texture: PixmanTexture,
    /// The converted pixels the image points into (YUYV only). A boxed
    /// slice never reallocates, so the image's pointer stays valid.
    converted: Option<Box<[u32]>>,
    mapping: OffThreadDrop<PlaneMapping>,
}

/// Formats Quay converts on import because pixman has no mapping for them.
const CONVERTED: [Fourcc; 1] = [Fourcc::Yuyv];

/// YUYV (BT.601, limited range, as V4L2 capture devices deliver it) to
/// XRGB8888, `w` × `h` pixels, `stride` bytes per source row.
fn yuyv_to_xrgb(src: &[u8], stride: usize, w: usize, h: usize, dst: &mut [u32]) {
    let clip = |v: i32| v.clamp(0, 255) as u32;
    for y in 0..h {
        let row = &src[y * stride..y * stride + w * 2];
        let out = &mut dst[y * w..y * w + w];
        for (x, px) in row.chunks_exact(4).enumerate() {
            let (u, v) = (i32::from(px[1]) - 128, i32::from(px[3]) - 128);
            for (i, luma) in [px[0], px[2]].into_iter().enumerate() {
                let c = 298 * (i32::from(luma) - 16);
                let r = clip((c + 409 * v + 128) >> 8);
                let g = clip((c - 100 * u - 208 * v + 128) >> 8);
                let b = clip((c + 516 * u + 128) >> 8);
                if let Some(o) = out.get_mut(2 * x + i) {
                    *o = 0xff00_0000 | (r << 16) | (g << 8) | b;
                }
            }
        }
    }
}

impl Mapped {
    /// Convert again from the mapping (the client filled the buffer anew).
    fn reconvert(&mut self, dmabuf: &Dmabuf) -> Result<(), PixmanError> {
        let Some(dst) = self.converted.as_mut() else {
            return Ok(());
        };
        let size = dmabuf.size();
        let offset = dmabuf.offsets().next().unwrap_or(0) as usize;
        let stride = dmabuf.strides().next().unwrap_or(0) as usize;
        let m = self.mapping.get();
        // SAFETY: map_dmabuf checked that offset + stride * h fits in the
        // mapping, which lives as long as `self`.
        let src =
            unsafe { std::slice::from_raw_parts((m.ptr() as *const u8).add(offset), m.length() - offset) };
        let _sync = ReadSync::start(dmabuf.clone())?;
        yuyv_to_xrgb(src, stride, size.w as usize, size.h as usize, dst);
        Ok(())
    }
}

/// The import cache as the renderer instantiates it: keyed by kernel
/// identity, used by `wl_buffer`s' `Dmabuf`s, sourced from the entry's own
/// dup of the planes (relabelled linear where implicit means linear).
pub type DmabufCache = ImportCache<DmabufIdentity, WeakDmabuf, Dmabuf, Mapped>;

/// The renderer's texture handle; see the module doc.
#[derive(Debug, Clone)]
pub struct QuayTexture(Tex);

#[derive(Debug, Clone)]
enum Tex {
    /// shm buffers and memory imports, read in place or owned by the image.
    Pixman(PixmanTexture),
    /// A dma-buf: an entry of the import cache.
    Import {
        id: EntryId,
        size: Size<i32, BufferCoords>,
        format: Fourcc,
    },
}

impl QuayTexture {
    /// The import cache entry behind this texture, for dma-bufs.
    pub fn entry(&self) -> Option<EntryId> {
        match self.0 {
            Tex::Import { id, .. } => Some(id),
            Tex::Pixman(_) => None,
        }
    }
}

impl Texture for QuayTexture {
    fn width(&self) -> u32 {
        match &self.0 {
            Tex::Pixman(t) => t.width(),
            Tex::Import { size, .. } => size.w as u32,
        }
    }
    fn height(&self) -> u32 {
        match &self.0 {
            Tex::Pixman(t) => t.height(),
            Tex::Import { size, .. } => size.h as u32,
        }
    }
    fn format(&self) -> Option<Fourcc> {
        match &self.0 {
            Tex::Pixman(t) => t.format(),
            Tex::Import { format, .. } => Some(*format),
        }
    }
}

#[derive(Debug)]
pub struct QuayRenderer {
    inner: PixmanRenderer,
    implicit_is_linear: bool,
    cache: DmabufCache,
}

impl QuayRenderer {
    pub fn new(budget: Budget) -> Result<QuayRenderer, PixmanError> {
        Ok(QuayRenderer {
            inner: PixmanRenderer::new()?,
            implicit_is_linear: false,
            cache: ImportCache::new(budget),
        })
    }

    /// Declare that implicit-modifier dma-bufs on this system are linear
    /// (see the module docs for when that is true).
    pub fn set_implicit_is_linear(&mut self, yes: bool) {
        self.implicit_is_linear = yes;
    }

    pub fn implicit_is_linear(&self) -> bool {
        self.implicit_is_linear
    }

    /// After a frame: forget entries no `wl_buffer` uses any more, then
    /// bring imports back under budget.
    pub fn cleanup(&mut self) {
        self.cache.cleanup();
        self.cache.enforce_budget();
        self.inner.cleanup_texture_cache().ok();
    }

    /// The import cache (pins, pressure, eviction).
    pub fn cache_mut(&mut self) -> &mut DmabufCache {
        &mut self.cache
    }

    /// Import a client's dma-buf at `create` time; an error means `failed`.
    pub fn import_client(&mut self, dmabuf: &Dmabuf) -> Result<(), String> {
        self.import_dmabuf(dmabuf, None)
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }

    pub fn stats(&mut self) -> CacheStats {
        self.cache.cleanup();
        self.cache.stats()
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
}

/// The cache entry's own copy of a client's planes (dup'ed fds), labelled
/// linear if `linear`.
fn dup_planes(dmabuf: &Dmabuf, linear: bool) -> Result<Dmabuf, PixmanError> {
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
        let owned = fd
            .as_fd()
            .try_clone_to_owned()
            .map_err(|_| PixmanError::ImportFailed)?;
        builder.add_plane(owned, idx as u32, offset, stride);
    }
    builder.build().ok_or(PixmanError::ImportFailed)
}

/// Bytes an import of `dmabuf` accounts for: stride × height per plane
/// (an overestimate for subsampled planes, which pixman cannot read
/// anyway), plus the XRGB copy of a converted format.
fn import_bytes(dmabuf: &Dmabuf) -> u64 {
    let size = dmabuf.size();
    let h = size.h.max(0) as u64;
    let mapped: u64 = dmabuf.strides().map(|s| u64::from(s) * h).sum();
    let copy = if CONVERTED.contains(&dmabuf.format().code) {
        size.w.max(0) as u64 * h * 4
    } else {
        0
    };
    mapped + copy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_converts_bt601_limited_range() {
        // Two pixels per 4 bytes: Y0 U Y1 V. White, black, then a red pair
        // (Y 81, U 90, V 240 is BT.601's red).
        let src = [235, 128, 16, 128, 81, 90, 81, 240];
        let mut dst = [0u32; 4];
        yuyv_to_xrgb(&src, 8, 4, 1, &mut dst);
        assert_eq!(dst[0], 0xffff_ffff);
        assert_eq!(dst[1], 0xff00_0000);
        let (r, g, b) = ((dst[2] >> 16) & 0xff, (dst[2] >> 8) & 0xff, dst[2] & 0xff);
        assert!(r >= 250 && g <= 5 && b <= 5, "red came out as ({r}, {g}, {b})");
        assert_eq!(dst[2], dst[3]);
    }
}

/// Map plane 0 of a linear single-plane dma-buf and wrap it in a pixman image.
fn map_dmabuf(dmabuf: &Dmabuf) -> Result<Mapped, PixmanError> {
    if dmabuf.num_planes() != 1 {
        return Err(PixmanError::UnsupportedNumberOfPlanes);
    }
    let format = dmabuf.format();
    if format.modifier != Modifier::Linear {
        return Err(PixmanError::UnsupportedModifier(format.modifier));
    }
    let converted = CONVERTED.contains(&format.code);
    let code = if converted {
        pixman::FormatCode::X8R8G8B8
    } else {
        pixman::FormatCode::try_from(format.code)
            .map_err(|_| PixmanError::UnsupportedPixelFormat(format.code))?
    };
    let size = dmabuf.size();
    let (Some(offset), Some(stride)) = (dmabuf.offsets().next(), dmabuf.strides().next()) else {
        return Err(PixmanError::ImportFailed);
    };
    let (offset, stride) = (offset as usize, stride as usize);
    // The whole object from byte 0; the plane starts at `offset` in it
    // (buffer/mapping.rs says why not smithay's `map_plane`).
    let mapping = PlaneMapping::map(dmabuf, 0, false).map_err(|err| {
        tracing::debug!("mapping a dma-buf failed: {err}");
        PixmanError::ImportFailed
    })?;
    let needed = offset + stride * size.h.max(0) as usize;
    let bpp = if converted { 2 } else { 4 };
    if mapping.length() < needed || stride < size.w.max(0) as usize * bpp {
        return Err(PixmanError::IncompleteBuffer {
            expected: needed,
            actual: mapping.length(),
        });
    }
    // Proves a real dma-buf: a memfd mmaps fine but has no DMA_BUF_IOCTL_SYNC.
    dmabuf.sync_plane(0, DmabufSyncFlags::START | DmabufSyncFlags::READ)?;
    dmabuf.sync_plane(0, DmabufSyncFlags::END | DmabufSyncFlags::READ)?;
    if converted {
        let (w, h) = (size.w.max(0) as usize, size.h.max(0) as usize);
        let pixels = vec![0u32; w * h].into_boxed_slice();
        let mut mapped = Mapped {
            // Replaced right below; a placeholder keeps construction simple.
            texture: PixmanTexture::from(
                pixman::Image::new(pixman::FormatCode::X8R8G8B8, 1, 1, true)
                    .map_err(|_| PixmanError::ImportFailed)?,
            ),
            converted: Some(pixels),
            mapping: OffThreadDrop::new(mapping),
        };
        mapped.reconvert(dmabuf)?;
        let Some(pixels) = mapped.converted.as_mut() else {
            return Err(PixmanError::ImportFailed);
        };
        // SAFETY: the image points into the boxed slice `Mapped` owns and
        // drops after the image; w * h u32s, stride w * 4.
        let image = unsafe { pixman::Image::from_raw_mut(code, w, h, pixels.as_mut_ptr(), w * 4, false) }
            .map_err(|_| PixmanError::ImportFailed)?;
        mapped.texture = PixmanTexture::from(image);
        return Ok(mapped);
    }
    // SAFETY: the image points into `mapping`, which `Mapped` owns and drops
    // after the image; the bounds were checked above. Nothing writes through
    // it: pixman only reads a texture's image.
    let image = unsafe {
        pixman::Image::from_raw_mut(
            code,
            size.w as usize,
            size.h as usize,
            mapping.ptr().add(offset) as *mut u32,
            stride,
            false,
        )
    }
    .map_err(|_| PixmanError::ImportFailed)?;
    Ok(Mapped {
        texture: PixmanTexture::from(image),
        converted: None,
        mapping: OffThreadDrop::new(mapping),
    })
}

/// `DMA_BUF_IOCTL_SYNC` around CPU reads of a dma-buf.
struct ReadSync(Dmabuf);

impl ReadSync {
    fn start(dmabuf: Dmabuf) -> Result<ReadSync, PixmanError> {
        dmabuf.sync_plane(0, DmabufSyncFlags::START | DmabufSyncFlags::READ)?;
        Ok(ReadSync(dmabuf))
    }
}

impl Drop for ReadSync {
    fn drop(&mut self) {
        if let Err(e) = self.0.sync_plane(0, DmabufSyncFlags::END | DmabufSyncFlags::READ) {
            tracing::debug!("dma-buf sync end: {e}");
        }
    }
}

/// The pixman texture to draw for `texture` now, with the dma-buf to sync
/// around the read. Imports again if the entry was evicted.
fn resolve(
    cache: &mut DmabufCache,
    texture: &QuayTexture,
) -> Result<(PixmanTexture, Option<Dmabuf>), PixmanError> {
    match &texture.0 {
        Tex::Pixman(t) => Ok((t.clone(), None)),
        Tex::Import { id, .. } => match cache.resident(*id, map_dmabuf)? {
            Some((mapped, source)) => Ok((mapped.texture.clone(), Some(source.clone()))),
            None => Err(PixmanError::BufferDestroyed),
        },
    }
}

/// A pixman frame that draws [`QuayTexture`]s. It borrows the import cache
/// for its whole life, so nothing can be evicted while a frame is built.
#[derive(Debug)]
pub struct QuayFrame<'frame, 'buffer> {
    inner: PixmanFrame<'frame, 'buffer>,
    cache: &'frame mut DmabufCache,
}

impl Frame for QuayFrame<'_, '_> {
    type Error = PixmanError;
    type TextureId = QuayTexture;

    fn context_id(&self) -> ContextId<QuayTexture> {
        self.inner.context_id().map()
    }
    fn clear(&mut self, color: Color32F, at: &[Rectangle<i32, Physical>]) -> Result<(), PixmanError> {
        self.inner.clear(color, at)
    }
    fn draw_solid(
        &mut self,
        dst: Rectangle<i32, Physical>,
        damage: &[Rectangle<i32, Physical>],
        color: Color32F,
    ) -> Result<(), PixmanError> {
        self.inner.draw_solid(dst, damage, color)
    }
    fn render_texture_from_to(
        &mut self,
        texture: &QuayTexture,
        src: Rectangle<f64, BufferCoords>,
        dst: Rectangle<i32, Physical>,
        damage: &[Rectangle<i32, Physical>],
        opaque_regions: &[Rectangle<i32, Physical>],
        src_transform: Transform,
        alpha: f32,
    ) -> Result<(), PixmanError> {
        let (tex, dmabuf) = resolve(self.cache, texture)?;
        let _sync = dmabuf.map(ReadSync::start).transpose()?;
        self.inner
            .render_texture_from_to(&tex, src, dst, damage, opaque_regions, src_transform, alpha)
    }
    fn transformation(&self) -> Transform {
        self.inner.transformation()
    }
    fn wait(&mut self, sync: &SyncPoint) -> Result<(), PixmanError> {
        self.inner.wait(sync)
    }
    fn finish(self) -> Result<SyncPoint, PixmanError> {
        self.inner.finish()
    }
}

impl RendererSuper for QuayRenderer {
    type Error = PixmanError;
    type TextureId = QuayTexture;
    type Framebuffer<'buffer> = PixmanTarget<'buffer>;
    type Frame<'frame, 'buffer>
        = QuayFrame<'frame, 'buffer>
    where
        'buffer: 'frame;
}

impl Renderer for QuayRenderer {
    fn context_id(&self) -> ContextId<QuayTexture> {
        self.inner.context_id().map()
    }
    fn downscale_filter(&mut self, filter: TextureFilter) -> Result<(), PixmanError> {
        self.inner.downscale_filter(filter)
    }
    fn upscale_filter(&mut self, filter: TextureFilter) -> Result<(), PixmanError> {
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
        framebuffer: &'frame mut PixmanTarget<'buffer>,
        output_size: Size<i32, Physical>,
        dst_transform: Transform,
    ) -> Result<QuayFrame<'frame, 'buffer>, PixmanError>
    where
        'buffer: 'frame,
    {
        let QuayRenderer { inner, cache, .. } = self;
        Ok(QuayFrame {
            inner: inner.render(framebuffer, output_size, dst_transform)?,
            cache,
        })
    }
    fn wait(&mut self, sync: &SyncPoint) -> Result<(), PixmanError> {
        self.inner.wait(sync)
    }
    fn cleanup_texture_cache(&mut self) -> Result<(), PixmanError> {
        self.cleanup();
        Ok(())
    }
}

impl ImportMem for QuayRenderer {
    fn import_memory(
        &mut self,
        data: &[u8],
        format: Fourcc,
        size: Size<i32, BufferCoords>,
        flipped: bool,
    ) -> Result<QuayTexture, PixmanError> {
        self.inner
            .import_memory(data, format, size, flipped)
            .map(|t| QuayTexture(Tex::Pixman(t)))
    }
    fn update_memory(
        &mut self,
        texture: &QuayTexture,
        data: &[u8],
        region: Rectangle<i32, BufferCoords>,
    ) -> Result<(), PixmanError> {
        match &texture.0 {
            Tex::Pixman(t) => self.inner.update_memory(t, data, region),
            // A client's dma-buf is the client's to write.
            Tex::Import { .. } => Err(PixmanError::Unsupported),
        }
    }
    fn mem_formats(&self) -> Box<dyn Iterator<Item = Fourcc>> {
        self.inner.mem_formats()
    }
}

impl ImportMemWl for QuayRenderer {
    fn import_shm_buffer(
        &mut self,
        buffer: &wl_buffer::WlBuffer,
        surface: Option<&SurfaceData>,
        damage: &[Rectangle<i32, BufferCoords>],
    ) -> Result<QuayTexture, PixmanError> {
        self.inner
            .import_shm_buffer(buffer, surface, damage)
            .map(|t| QuayTexture(Tex::Pixman(t)))
    }
}

impl ImportDma for QuayRenderer {
    /// Runs for every commit that attaches a dma-buf (smithay imports when a
    /// surface's texture slot is empty, smithay-0.7.0
    /// `src/backend/renderer/utils/wayland.rs:505`) and at `create`: an
    /// fstat per plane, a hash lookup and an LRU touch when cached.
    fn import_dmabuf(
        &mut self,
        dmabuf: &Dmabuf,
        _damage: Option<&[Rectangle<i32, BufferCoords>]>,
    ) -> Result<QuayTexture, PixmanError> {
        let linear = dmabuf.format().modifier == Modifier::Invalid && self.implicit_is_linear;
        let identity = DmabufIdentity::of(dmabuf).map_err(|_| PixmanError::ImportFailed)?;
        let (id, outcome) = self.cache.insert_or_get(
            identity,
            dmabuf.weak(),
            // `upgrade` is the kref_get_unless_zero step: a user that is
            // already gone does not match.
            |u| u.upgrade().as_ref() == Some(dmabuf),
            import_bytes(dmabuf),
            || dup_planes(dmabuf, linear),
            map_dmabuf,
        )?;
        // A converted import is a copy: a commit of the same buffer means
        // new contents (a V4L2 capture buffer comes back refilled).
        if outcome == Outcome::Hit {
            if let Some((mapped, source)) = self.cache.resident_mut(id) {
                let source = source.clone();
                mapped.reconvert(&source)?;
            }
        }
        Ok(QuayTexture(Tex::Import {
            id,
            size: dmabuf.size(),
            format: dmabuf.format().code,
        }))
    }

    fn dmabuf_formats(&self) -> FormatSet {
        let mut formats: Vec<Format> = self.inner.dmabuf_formats().iter().copied().collect();
        formats.extend(CONVERTED.iter().map(|&code| Format {
            code,
            modifier: Modifier::Linear,
        }));
        self.linear_formats(formats.into_iter().collect())
    }
}

impl ImportDmaWl for QuayRenderer {}

impl Bind<Dmabuf> for QuayRenderer {
    fn bind<'a>(&mut self, target: &'a mut Dmabuf) -> Result<PixmanTarget<'a>, PixmanError> {
        if target.format().modifier == Modifier::Invalid && self.implicit_is_linear {
            // Scanout buffers Quay allocated with GBM_BO_USE_LINEAR; the
            // relabelled copy is written in place (same memory).
            *target = dup_planes(target, true)?;
        }
        self.inner.bind(target)
    }
    fn supported_formats(&self) -> Option<FormatSet> {
        Bind::<Dmabuf>::supported_formats(&self.inner).map(|f| self.linear_formats(f))
    }
}

impl Offscreen<pixman::Image<'static, 'static>> for QuayRenderer {
    fn create_buffer(
        &mut self,
        format: Fourcc,
        size: Size<i32, BufferCoords>,
    ) -> Result<pixman::Image<'static, 'static>, PixmanError> {
        self.inner.create_buffer(format, size)
    }
}

impl Bind<pixman::Image<'static, 'static>> for QuayRenderer {
    fn bind<'a>(
        &mut self,
        target: &'a mut pixman::Image<'static, 'static>,
    ) -> Result<PixmanTarget<'a>, PixmanError> {
        self.inner.bind(target)
    }
    fn supported_formats(&self) -> Option<FormatSet> {
        Bind::<pixman::Image<'static, 'static>>::supported_formats(&self.inner)
    }
}

impl ExportMem for QuayRenderer {
    type TextureMapping = PixmanMapping;

    fn copy_framebuffer(
        &mut self,
        target: &PixmanTarget<'_>,
        region: Rectangle<i32, BufferCoords>,
        format: Fourcc,
    ) -> Result<PixmanMapping, PixmanError> {
        self.inner.copy_framebuffer(target, region, format)
    }
    fn copy_texture(
        &mut self,
        texture: &QuayTexture,
        region: Rectangle<i32, BufferCoords>,
        format: Fourcc,
    ) -> Result<PixmanMapping, PixmanError> {
        let (tex, dmabuf) = resolve(&mut self.cache, texture)?;
        let _sync = dmabuf.map(ReadSync::start).transpose()?;
        self.inner.copy_texture(&tex, region, format)
    }
    fn can_read_texture(&mut self, texture: &QuayTexture) -> Result<bool, PixmanError> {
        let (tex, _) = resolve(&mut self.cache, texture)?;
        self.inner.can_read_texture(&tex)
    }
    fn map_texture<'a>(&mut self, mapping: &'a PixmanMapping) -> Result<&'a [u8], PixmanError> {
        self.inner.map_texture(mapping)
    }
}
