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
//! ## One import per kernel dma-buf
//!
//! Imports are cached by [`DmabufIdentity`]: the `(st_dev, st_ino)` of every
//! plane fd plus the layout. K `wl_buffer`s on one dma-buf, from one client
//! or several, share one import (one mmap, one pixman image).
//!
//! ## Ownership
//!
//! - A `wl_buffer` owns its `Dmabuf` (smithay), which owns the plane fds.
//! - An import owns its texture (the pixman image and the mmap behind it,
//!   which keeps the kernel object alive) and, for a relabelled buffer, a dup
//!   of the plane fds. It holds its users only weakly.
//! - The cache owns the imports and nothing else. An import is dropped in
//!   [`QuayRenderer::cleanup`] (on every import and after every presented
//!   frame) once every user `Dmabuf` is gone, i.e. once every `wl_buffer` on
//!   it is destroyed and no surface state still holds one. A texture a frame
//!   is drawing is an `Arc` clone held by that frame's render element, so
//!   dropping the cache entry never pulls memory from under a frame.
//!
//! Everything here runs on the event-loop thread (`QuayRenderer` is owned by
//! the backend inside `State`), so there is no lock to hold while dropping.
//! Nothing decides anything from a reference count's value:
//! `WeakDmabuf::is_gone` / `upgrade` are the `kref_get_unless_zero` step.

use std::{
    collections::HashMap,
    os::fd::{AsFd, BorrowedFd},
};

use smithay::{
    backend::{
        allocator::{
            dmabuf::{Dmabuf, DmabufFlags, WeakDmabuf},
            format::FormatSet,
            Buffer, Format, Fourcc, Modifier,
        },
        renderer::{
            pixman::{PixmanError, PixmanFrame, PixmanMapping, PixmanRenderer, PixmanTarget, PixmanTexture},
            sync::SyncPoint,
            Bind, ContextId, DebugFlags, ExportMem, ImportDma, ImportDmaWl, ImportMem, ImportMemWl,
            Offscreen, Renderer, RendererSuper, TextureFilter,
        },
    },
    reexports::{pixman, wayland_server::protocol::wl_buffer},
    utils::{Buffer as BufferCoords, Physical, Rectangle, Size, Transform},
    wayland::compositor::SurfaceData,
};

use super::identity::DmabufIdentity;

/// One renderer import, shared by every `wl_buffer` whose dma-buf has its
/// identity.
#[derive(Debug)]
struct Import {
    /// The client `Dmabuf`s (one per `wl_buffer`) this import serves. Weak:
    /// the `wl_buffer` owns its `Dmabuf`; the import dies with the last one.
    users: Vec<WeakDmabuf>,
    /// For an implicit-modifier buffer read as linear: the relabelled copy
    /// pixman mapped (dup'ed fds, no user's `Dmabuf`). None otherwise: the
    /// texture's mapping keeps the kernel object alive by itself.
    _relabelled: Option<Dmabuf>,
    texture: PixmanTexture,
}

/// Counters for `quay msg stats`.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct ImportStats {
    /// Renderer imports performed (mmaps of a dma-buf), ever.
    pub imports_total: u64,
    /// `wl_buffer`s served by an import made for another `wl_buffer` of the
    /// same kernel dma-buf and layout.
    pub import_cache_hits: u64,
    /// Imports alive now (one per distinct dma-buf identity in use).
    pub dmabufs_live: u64,
}

#[derive(Debug)]
pub struct QuayRenderer {
    inner: PixmanRenderer,
    implicit_is_linear: bool,
    imports: HashMap<DmabufIdentity, Import>,
    stats: ImportStats,
}

impl QuayRenderer {
    pub fn new() -> Result<QuayRenderer, PixmanError> {
        Ok(QuayRenderer {
            inner: PixmanRenderer::new()?,
            implicit_is_linear: false,
            imports: HashMap::new(),
            stats: ImportStats::default(),
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

    /// Forget users whose `Dmabuf` is gone and imports with no user left.
    /// Runs on every import and after every presented frame.
    pub fn cleanup(&mut self) {
        self.imports.retain(|_, imp| {
            imp.users.retain(|u| !u.is_gone());
            !imp.users.is_empty()
        });
    }

    /// Import a client's dma-buf at `create` time; an error means `failed`.
    pub fn import_client(&mut self, dmabuf: &Dmabuf) -> Result<(), String> {
        self.import_dmabuf(dmabuf, None)
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }

    pub fn stats(&mut self) -> ImportStats {
        self.cleanup();
        ImportStats {
            dmabufs_live: self.imports.len() as u64,
            ..self.stats
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
}

/// The same planes, labelled linear. Dups the plane fds.
fn relabel_linear(dmabuf: &Dmabuf) -> Result<Dmabuf, PixmanError> {
    let flags = if dmabuf.y_inverted() {
        DmabufFlags::Y_INVERT
    } else {
        DmabufFlags::empty()
    };
    let mut builder = Dmabuf::builder(dmabuf.size(), dmabuf.format().code, Modifier::Linear, flags);
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

impl RendererSuper for QuayRenderer {
    type Error = PixmanError;
    type TextureId = PixmanTexture;
    type Framebuffer<'buffer> = PixmanTarget<'buffer>;
    type Frame<'frame, 'buffer>
        = PixmanFrame<'frame, 'buffer>
    where
        'buffer: 'frame;
}

impl Renderer for QuayRenderer {
    fn context_id(&self) -> ContextId<PixmanTexture> {
        self.inner.context_id()
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
    ) -> Result<PixmanFrame<'frame, 'buffer>, PixmanError>
    where
        'buffer: 'frame,
    {
        self.inner.render(framebuffer, output_size, dst_transform)
    }
    fn wait(&mut self, sync: &SyncPoint) -> Result<(), PixmanError> {
        self.inner.wait(sync)
    }
    fn cleanup_texture_cache(&mut self) -> Result<(), PixmanError> {
        self.cleanup();
        self.inner.cleanup_texture_cache()
    }
}

impl ImportMem for QuayRenderer {
    fn import_memory(
        &mut self,
        data: &[u8],
        format: Fourcc,
        size: Size<i32, BufferCoords>,
        flipped: bool,
    ) -> Result<PixmanTexture, PixmanError> {
        self.inner.import_memory(data, format, size, flipped)
    }
    fn update_memory(
        &mut self,
        texture: &PixmanTexture,
        data: &[u8],
        region: Rectangle<i32, BufferCoords>,
    ) -> Result<(), PixmanError> {
        self.inner.update_memory(texture, data, region)
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
    ) -> Result<PixmanTexture, PixmanError> {
        self.inner.import_shm_buffer(buffer, surface, damage)
    }
}

impl ImportDma for QuayRenderer {
    fn import_dmabuf(
        &mut self,
        dmabuf: &Dmabuf,
        damage: Option<&[Rectangle<i32, BufferCoords>]>,
    ) -> Result<PixmanTexture, PixmanError> {
        self.cleanup();
        let relabel = dmabuf.format().modifier == Modifier::Invalid && self.implicit_is_linear;
        let Ok(identity) = DmabufIdentity::of(dmabuf) else {
            // Cannot happen for a real fd; import uncached rather than fail.
            return if relabel {
                self.inner.import_dmabuf(&relabel_linear(dmabuf)?, damage)
            } else {
                self.inner.import_dmabuf(dmabuf, damage)
            };
        };
        if let Some(imp) = self.imports.get_mut(&identity) {
            // `upgrade` is the kref_get_unless_zero step: a user that is
            // already gone simply does not match.
            if !imp.users.iter().any(|u| u.upgrade().as_ref() == Some(dmabuf)) {
                imp.users.push(dmabuf.weak());
                self.stats.import_cache_hits += 1;
            }
            return Ok(imp.texture.clone());
        }
        let (texture, relabelled) = if relabel {
            let linear = relabel_linear(dmabuf)?;
            (self.inner.import_dmabuf(&linear, damage)?, Some(linear))
        } else {
            (self.inner.import_dmabuf(dmabuf, damage)?, None)
        };
        self.stats.imports_total += 1;
        self.imports.insert(
            identity,
            Import {
                users: vec![dmabuf.weak()],
                _relabelled: relabelled,
                texture: texture.clone(),
            },
        );
        Ok(texture)
    }

    fn dmabuf_formats(&self) -> FormatSet {
        self.linear_formats(self.inner.dmabuf_formats())
    }
}

impl ImportDmaWl for QuayRenderer {}

impl Bind<Dmabuf> for QuayRenderer {
    fn bind<'a>(&mut self, target: &'a mut Dmabuf) -> Result<PixmanTarget<'a>, PixmanError> {
        if target.format().modifier == Modifier::Invalid && self.implicit_is_linear {
            // Scanout buffers Quay allocated with GBM_BO_USE_LINEAR; the
            // relabelled copy is written in place (same memory).
            *target = relabel_linear(target)?;
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
        texture: &PixmanTexture,
        region: Rectangle<i32, BufferCoords>,
        format: Fourcc,
    ) -> Result<PixmanMapping, PixmanError> {
        self.inner.copy_texture(texture, region, format)
    }
    fn can_read_texture(&mut self, texture: &PixmanTexture) -> Result<bool, PixmanError> {
        self.inner.can_read_texture(texture)
    }
    fn map_texture<'a>(&mut self, mapping: &'a PixmanMapping) -> Result<&'a [u8], PixmanError> {
        self.inner.map_texture(mapping)
    }
}
