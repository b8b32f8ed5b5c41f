//! Scanout buffers a CPU renderer can write: GBM buffer objects allocated
//! with `GBM_BO_USE_LINEAR` and exported read-write.
//!
//! smithay's `GbmBuffer` exports through `gbm_bo_get_fd`, which hands out a
//! read-only dma-buf fd (`DRM_CLOEXEC` without `DRM_RDWR`): pixman's
//! `mmap(PROT_WRITE)` of it fails ("Mapping the dmabuf failed", first VM run).
//! These buffers export through `DRM_IOCTL_PRIME_HANDLE_TO_FD` with
//! `DRM_RDWR` instead, and say `LINEAR`, which `GBM_BO_USE_LINEAR` guarantees
//! whatever modifier GBM would report. Framebuffers for KMS (ours and
//! clients' for direct scanout) still come from smithay's
//! `GbmFramebufferExporter`.
//!
//! Ownership: a `LinearBuffer` owns its GBM BO (and so its GEM handle on the
//! device fd); each export is a new dma-buf fd owned by the returned `Dmabuf`.

use smithay::{
    backend::{
        allocator::{
            dmabuf::{AsDmabuf, Dmabuf, DmabufFlags},
            gbm::{GbmBuffer, GbmBufferFlags, GbmDevice},
            Allocator, Buffer, Format, Fourcc, Modifier,
        },
        drm::{
            exporter::{gbm::GbmFramebufferExporter, ExportBuffer, ExportFramebuffer},
            gbm::GbmFramebuffer,
            DrmDeviceFd, DrmNode,
        },
    },
    reexports::drm::{self, buffer::Buffer as DrmBuffer, control::Device as _},
    utils::{Buffer as BufferCoords, Size},
};

#[derive(Debug, Clone)]
pub struct LinearAllocator {
    gbm: GbmDevice<DrmDeviceFd>,
    drm: DrmDeviceFd,
    node: Option<DrmNode>,
}

impl LinearAllocator {
    pub fn new(gbm: GbmDevice<DrmDeviceFd>, drm: DrmDeviceFd) -> LinearAllocator {
        let node = DrmNode::from_file(&drm).ok();
        LinearAllocator { gbm, drm, node }
    }
}

#[derive(Debug)]
pub struct LinearBuffer {
    bo: GbmBuffer,
    drm: DrmDeviceFd,
}

impl Buffer for LinearBuffer {
    fn size(&self) -> Size<i32, BufferCoords> {
        Buffer::size(&self.bo)
    }
    fn format(&self) -> Format {
        Format {
            code: Buffer::format(&self.bo).code,
            modifier: Modifier::Linear,
        }
    }
}

impl AsDmabuf for LinearBuffer {
    type Error = std::io::Error;

    fn export(&self) -> Result<Dmabuf, std::io::Error> {
        let handle = DrmBuffer::handle(&self.bo);
        let fd = self.drm.buffer_to_prime_fd(handle, drm::CLOEXEC | drm::RDWR)?;
        let mut builder = Dmabuf::builder(
            self.size(),
            self.format().code,
            Modifier::Linear,
            DmabufFlags::empty(),
        );
        builder.add_plane(fd, 0, self.bo.offset(0), self.bo.stride());
        if let Ok(node) = DrmNode::from_file(&self.drm) {
            builder.set_node(node);
        }
        builder
            .build()
            .ok_or_else(|| std::io::Error::other("cannot build a dma-buf for a linear GBM buffer"))
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
        Ok(LinearBuffer {
            // `implicit`: GBM was not asked for a modifier; `format()` above
            // reports the layout LINEAR guarantees.
            bo: GbmBuffer::from_bo_with_node(bo, true, self.node),
            drm: self.drm.clone(),
        })
    }
}

/// smithay's GBM exporter, for `LinearBuffer`s and client buffers alike.
#[derive(Debug, Clone)]
pub struct LinearExporter(pub GbmFramebufferExporter<DrmDeviceFd>);

impl ExportFramebuffer<LinearBuffer> for LinearExporter {
    type Framebuffer = GbmFramebuffer;
    type Error = smithay::backend::drm::exporter::gbm::Error;

    fn add_framebuffer(
        &self,
        drm: &DrmDeviceFd,
        buffer: ExportBuffer<'_, LinearBuffer>,
        use_opaque: bool,
    ) -> Result<Option<GbmFramebuffer>, Self::Error> {
        let inner = match buffer {
            ExportBuffer::Wayland(b) => ExportBuffer::Wayland(b),
            ExportBuffer::Allocator(b) => ExportBuffer::Allocator(&b.bo),
        };
        self.0.add_framebuffer(drm, inner, use_opaque)
    }

    fn can_add_framebuffer(&self, buffer: &ExportBuffer<'_, LinearBuffer>) -> bool {
        let inner = match buffer {
            ExportBuffer::Wayland(b) => ExportBuffer::Wayland(b),
            ExportBuffer::Allocator(b) => ExportBuffer::Allocator(&b.bo),
        };
        self.0.can_add_framebuffer(&inner)
    }
}
