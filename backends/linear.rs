//! Scanout buffers a CPU renderer can write: GBM buffer objects allocated
//! with `GBM_BO_USE_LINEAR` and exported read-write.
//!
//! smithay's `GbmBuffer` exports through `gbm_bo_get_fd`, which hands out a
//! read-only dma-buf fd (`DRM_CLOEXEC` without `DRM_RDWR`): pixman's
//! `mmap(PROT_WRITE)` of it fails ("Mapping the dmabuf failed", first VM run).
//! These buffers export through `DRM_IOCTL_PRIME_HANDLE_TO_FD` with
//! `DRM_RDWR` instead, and say `LINEAR`, which `GBM_BO_USE_LINEAR` guarantees
//! whatever modifier GBM would report.
//!
//! Ownership: a `LinearBuffer` holds its GBM BO through the device's GEM
//! handle table (`src/buffer/kms.rs`), which also caches its export: smithay's
//! swapchain asks once per slot, anything else asking gets the same dma-buf
//! while it is alive. Client dma-bufs get their framebuffers from the same
//! table, so a client buffer on the same GEM object (our own export sent
//! back) shares the handle instead of closing it under GBM.

use std::rc::Rc;

use smithay::{
    backend::{
        allocator::{
            dmabuf::{AsDmabuf, Dmabuf},
            gbm::{GbmBuffer, GbmBufferFlags, GbmDevice},
            Allocator, Buffer, Format, Fourcc, Modifier,
        },
        drm::{
            exporter::{ExportBuffer, ExportFramebuffer},
            gbm::framebuffer_from_bo,
            DrmDeviceFd, DrmNode,
        },
    },
    utils::{Buffer as BufferCoords, Size},
};

use crate::buffer::kms::{GemHandle, KmsBuffers, QuayFramebuffer};

#[derive(Debug, Clone)]
pub struct LinearAllocator {
    gbm: GbmDevice<DrmDeviceFd>,
    table: KmsBuffers,
    node: Option<DrmNode>,
}

impl LinearAllocator {
    pub fn new(gbm: GbmDevice<DrmDeviceFd>, table: KmsBuffers) -> LinearAllocator {
        let node = DrmNode::from_file(table.drm()).ok();
        LinearAllocator { gbm, table, node }
    }
}

#[derive(Debug)]
pub struct LinearBuffer {
    gem: Rc<GemHandle>,
    node: Option<DrmNode>,
}

/// A handle on the buffer an output shows, to export it later
/// (`zwlr_export_dmabuf_v1`). Holds the GEM object (and so the BO) alive.
#[derive(Debug, Clone)]
pub struct FrontBuffer {
    gem: Rc<GemHandle>,
    size: (i32, i32),
    code: Fourcc,
    offset: u32,
    stride: u32,
    node: Option<DrmNode>,
}

impl FrontBuffer {
    /// The buffer's dma-buf, through the export cache.
    pub fn export(&self) -> std::io::Result<Dmabuf> {
        let (size, code, offset, stride, node) = (self.size, self.code, self.offset, self.stride, self.node);
        self.gem
            .export(|fd| KmsBuffers::linear_dmabuf(fd, size, code, offset, stride, node))
    }
}

impl LinearBuffer {
    pub fn front(&self) -> FrontBuffer {
        let size = self.size();
        FrontBuffer {
            gem: self.gem.clone(),
            size: (size.w, size.h),
            code: self.format().code,
            offset: self.bo().offset(0),
            stride: self.bo().stride(),
            node: self.node,
        }
    }

    fn bo(&self) -> &GbmBuffer {
        // A LinearBuffer is only made from a BO (`create_buffer`).
        self.gem
            .bo()
            .expect("a LinearBuffer's handle is owned by its GBM BO")
    }
}

impl Buffer for LinearBuffer {
    fn size(&self) -> Size<i32, BufferCoords> {
        Buffer::size(self.bo())
    }
    fn format(&self) -> Format {
        Format {
            code: Buffer::format(self.bo()).code,
            modifier: Modifier::Linear,
        }
    }
}

impl AsDmabuf for LinearBuffer {
    type Error = std::io::Error;

    fn export(&self) -> Result<Dmabuf, std::io::Error> {
        self.front().export()
    }
}

impl Allocator for LinearAllocator {
    type Buffer = LinearBuffer;
    type Error = std::io::Error;

    fn create_buffer(
        &mut self,
        width: u32,
        height: u32,
        fourcc: Fourcc,
        modifiers: &[Modifier],
    ) -> Result<LinearBuffer, std::io::Error> {
        if !modifiers
            .iter()
            .any(|m| matches!(m, Modifier::Linear | Modifier::Invalid))
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "only linear buffers can be allocated for a CPU renderer",
            ));
        }
        let flags = GbmBufferFlags::RENDERING | GbmBufferFlags::SCANOUT | GbmBufferFlags::LINEAR;
        let bo = self
            .gbm
            .create_buffer_object::<()>(width, height, fourcc, flags)?;
        // `implicit`: GBM was not asked for a modifier; `format()` above
        // reports the layout LINEAR guarantees.
        let bo = GbmBuffer::from_bo_with_node(bo, true, self.node);
        Ok(LinearBuffer {
            gem: self.table.adopt_bo(bo),
            node: self.node,
        })
    }
}

/// Framebuffers for the device's `DrmCompositor`s: our own buffers through
/// smithay's `framebuffer_from_bo`, client dma-bufs through the GEM handle
/// table (one framebuffer per dma-buf identity on this fd), and only when
/// direct scanout is on. A client buffer the device cannot import (virtio_gpu
/// refuses foreign dma-bufs) fails here once; smithay caches the failure for
/// that buffer (smithay-0.7.0 src/backend/drm/compositor/mod.rs:3514) and
/// composes it instead.
#[derive(Debug, Clone)]
pub struct QuayExporter {
    pub table: KmsBuffers,
    pub direct_scanout: bool,
}

impl ExportFramebuffer<LinearBuffer> for QuayExporter {
    type Framebuffer = QuayFramebuffer;
    type Error = std::io::Error;

    fn add_framebuffer(
        &self,
        drm: &DrmDeviceFd,
        buffer: ExportBuffer<'_, LinearBuffer>,
        use_opaque: bool,
    ) -> Result<Option<QuayFramebuffer>, std::io::Error> {
        match buffer {
            ExportBuffer::Allocator(b) => framebuffer_from_bo(drm, b.bo(), use_opaque)
                .map(|fb| Some(QuayFramebuffer::Own(fb)))
                .map_err(|e| std::io::Error::other(e.to_string())),
            ExportBuffer::Wayland(wl_buffer) => {
                let Ok(dmabuf) = smithay::wayland::dmabuf::get_dmabuf(wl_buffer) else {
                    return Ok(None);
                };
                self.table
                    .framebuffer(dmabuf, use_opaque)
                    .map(|fb| Some(QuayFramebuffer::Client(fb)))
            }
        }
    }

    fn can_add_framebuffer(&self, buffer: &ExportBuffer<'_, LinearBuffer>) -> bool {
        match buffer {
            ExportBuffer::Allocator(_) => true,
            ExportBuffer::Wayland(wl_buffer) => {
                self.direct_scanout && smithay::wayland::dmabuf::get_dmabuf(wl_buffer).is_ok()
            }
        }
    }
}
