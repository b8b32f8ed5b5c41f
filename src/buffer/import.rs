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
//! ## Ownership
//!
//! A relabelled import holds a dup of the client's plane fds (inside the
//! relabelled `Dmabuf`) and the texture; it is keyed by a weak reference to
//! the client's `Dmabuf` and dropped in [`QuayRenderer::cleanup`] (called on
//! every import and after every frame) once that `Dmabuf` is gone, i.e. once
//! the `wl_buffer` is destroyed and no surface state holds it. Nothing here
//! decides anything from a reference count's value; `WeakDmabuf::is_gone`
//! is the upgrade failing.

use std::os::fd::{AsFd, BorrowedFd};

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

#[derive(Debug)]
struct Relabelled {
    client: WeakDmabuf,
    /// Keeps pixman's own cache entry (keyed weakly on this `Dmabuf`) alive.
    _linear: Dmabuf,
    texture: PixmanTexture,
}

#[derive(Debug)]
pub struct QuayRenderer {
    inner: PixmanRenderer,
    implicit_is_linear: bool,
    relabelled: Vec<Relabelled>,
}

impl QuayRenderer {
    pub fn new() -> Result<QuayRenderer, PixmanError> {
        Ok(QuayRenderer {
            inner: PixmanRenderer::new()?,
            implicit_is_linear: false,
            relabelled: Vec::new(),
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

    /// Forget imports whose client buffer is gone.
    pub fn cleanup(&mut self) {
        self.relabelled.retain(|r| !r.client.is_gone());
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
        if dmabuf.format().modifier != Modifier::Invalid || !self.implicit_is_linear {
            return self.inner.import_dmabuf(dmabuf, damage);
        }
        self.cleanup();
        if let Some(r) = self
            .relabelled
            .iter()
            .find(|r| r.client.upgrade().as_ref() == Some(dmabuf))
        {
            return Ok(r.texture.clone());
        }
        let linear = relabel_linear(dmabuf)?;
        let texture = self.inner.import_dmabuf(&linear, damage)?;
        self.relabelled.push(Relabelled {
            client: dmabuf.weak(),
            _linear: linear,
            texture: texture.clone(),
        });
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
