//! The pixman engine: client dma-bufs read by mmap.
//!
//! A resident import is a pixman image over the mmap of plane 0 (or over
//! Quay's XRGB conversion, for YUYV, which pixman cannot read). shm buffers
//! are read in place by smithay's pixman renderer: no upload, nothing to
//! evict, no cache entry.
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
//! [`super::import::QuayRenderer::set_implicit_is_linear`] the udev backend
//! declares that it probed exactly that; Quay then reads implicit buffers as
//! linear (the cache entry's own copy of the planes is relabelled).
//!
//! Every draw of a dma-buf is bracketed with `DMA_BUF_IOCTL_SYNC`
//! START/END (read), as smithay's own pixman path does, but only when the
//! buffer's write fences have signalled ([`super::cpu_access`]): a buffer a
//! client put an unsignalled fence on after committing it is drawn from
//! its mapping as it stands, unbracketed, rather than stopping the loop.
//! A YUYV conversion made while fences were pending keeps the last one
//! made in sync (or, at import, reads as it stands) and is redone before
//! a later frame, once they have signalled.

use smithay::{
    backend::{
        allocator::{dmabuf::Dmabuf, format::FormatSet, Buffer, Format, Fourcc, Modifier},
        renderer::{
            pixman::{PixmanError, PixmanRenderer, PixmanTarget, PixmanTexture},
            Bind, ImportDma, Offscreen,
        },
    },
    reexports::pixman,
    utils::{Buffer as BufferCoords, Rectangle, Size},
};

use super::{
    cpu_access::{Access, CpuAccess, Ready},
    error::ImportError,
    import::{Engine, ImportCtx, ImportSource},
    mapping::{LinearPlane, LinearPlaneError, PlaneMapping},
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
    /// The conversion was made while the buffer's write fences were pending.
    stale: bool,
}

/// Formats Quay converts on import because pixman has no mapping for them.
pub(crate) const CONVERTED: [Fourcc; 1] = [Fourcc::Yuyv];

/// YUYV (BT.601, limited range, as V4L2 capture devices deliver it) to
/// XRGB8888, `w` × `h` pixels, `stride` bytes per source row.
pub(crate) fn yuyv_to_xrgb(src: &[u8], stride: usize, w: usize, h: usize, dst: &mut [u32]) {
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
    /// While the buffer's write fences are pending the last conversion is
    /// kept (`first`: there is none yet, so the mapping is read as it
    /// stands) and the entry is marked stale, to be converted again later.
    fn reconvert(&mut self, dmabuf: &Dmabuf, first: bool) -> Result<(), PixmanError> {
        let Some(dst) = self.converted.as_mut() else {
            return Ok(());
        };
        let sync = CpuAccess::begin(dmabuf, Access::Read)
            .map_err(|e| PixmanError::from(smithay::backend::allocator::dmabuf::DmabufSyncFailed::Io(e)))?;
        self.stale = matches!(sync, Ready::NotYet);
        if self.stale && !first {
            return Ok(());
        }
        let size = dmabuf.size();
        let offset = dmabuf.offsets().next().unwrap_or(0) as usize;
        let stride = dmabuf.strides().next().unwrap_or(0) as usize;
        let m = self.mapping.get();
        // SAFETY: map_dmabuf checked that offset + stride * h fits in the
        // mapping, which lives as long as `self`.
        let src =
            unsafe { std::slice::from_raw_parts((m.ptr() as *const u8).add(offset), m.length() - offset) };
        yuyv_to_xrgb(src, stride, size.w as usize, size.h as usize, dst);
        drop(sync);
        Ok(())
    }
}

/// Map plane 0 of a linear single-plane dma-buf and wrap it in a pixman image.
pub(crate) fn map_dmabuf(dmabuf: &Dmabuf) -> Result<Mapped, PixmanError> {
    let format = dmabuf.format();
    let converted = CONVERTED.contains(&format.code);
    // A format pixman cannot read is refused before anything is mapped.
    let code = if converted {
        pixman::FormatCode::X8R8G8B8
    } else {
        pixman::FormatCode::try_from(format.code)
            .map_err(|_| PixmanError::UnsupportedPixelFormat(format.code))?
    };
    let plane = LinearPlane::map(dmabuf, if converted { 2 } else { 4 }).map_err(|e| match e {
        LinearPlaneError::Planes(_) => PixmanError::UnsupportedNumberOfPlanes,
        LinearPlaneError::Modifier(m) => PixmanError::UnsupportedModifier(m),
        LinearPlaneError::Mapping => PixmanError::ImportFailed,
        LinearPlaneError::Incomplete { expected, actual } => {
            PixmanError::IncompleteBuffer { expected, actual }
        }
        LinearPlaneError::NotADmabuf => PixmanError::ImportFailed,
    })?;
    let size = dmabuf.size();
    let LinearPlane {
        mapping,
        offset,
        stride,
    } = plane;
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
            stale: false,
        };
        mapped.reconvert(dmabuf, true)?;
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
        stale: false,
    })
}

/// Bytes an import of `dmabuf` accounts for: stride × height per plane
/// (an overestimate for subsampled planes, which pixman cannot read
/// anyway), plus the XRGB copy of a converted format.
pub(crate) fn import_bytes(dmabuf: &Dmabuf) -> u64 {
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

impl Engine for PixmanRenderer {
    const NAME: &'static str = "pixman";
    const SHM_UPLOADS: bool = false;
    type Resident = Mapped;

    fn import_entry(&mut self, source: &ImportSource, _ctx: &mut ImportCtx) -> Result<Mapped, PixmanError> {
        Self::import_detached(source).unwrap_or(Err(PixmanError::ImportFailed))
    }

    fn refresh_entry(
        &mut self,
        resident: &mut Mapped,
        source: &ImportSource,
        _damage: &[Rectangle<i32, BufferCoords>],
        _ctx: &mut ImportCtx,
    ) -> Result<(), PixmanError> {
        match source {
            ImportSource::Dmabuf(dmabuf) => resident.reconvert(dmabuf, false),
            ImportSource::Shm(_) => Ok(()),
        }
    }

    fn import_detached(source: &ImportSource) -> Option<Result<Mapped, PixmanError>> {
        Some(match source {
            ImportSource::Dmabuf(dmabuf) => map_dmabuf(dmabuf),
            ImportSource::Shm(_) => Err(PixmanError::ImportFailed),
        })
    }

    fn texture_of(
        resident: &Mapped,
        source: &ImportSource,
    ) -> Result<(PixmanTexture, Option<CpuAccess>), PixmanError> {
        let sync = match source {
            // Read in place: bracketed when the write fences have signalled,
            // as it stands otherwise (see the module doc).
            ImportSource::Dmabuf(dmabuf) => match CpuAccess::begin(dmabuf, Access::Read).map_err(|e| {
                PixmanError::from(smithay::backend::allocator::dmabuf::DmabufSyncFailed::Io(e))
            })? {
                Ready::Now(access) => Some(access),
                Ready::NotYet => None,
            },
            ImportSource::Shm(_) => None,
        };
        Ok((resident.texture.clone(), sync))
    }

    fn stale(resident: &Mapped) -> bool {
        resident.stale
    }

    fn import_failed() -> PixmanError {
        PixmanError::ImportFailed
    }

    fn import_error(err: &PixmanError) -> ImportError {
        match err {
            PixmanError::UnsupportedNumberOfPlanes
            | PixmanError::UnsupportedModifier(_)
            | PixmanError::UnsupportedPixelFormat(_) => ImportError::UnsupportedLayout(err.to_string()),
            PixmanError::IncompleteBuffer { .. } => ImportError::Incomplete,
            // `map_dmabuf`'s own mmap failing, or DMA_BUF_IOCTL_SYNC.
            PixmanError::ImportFailed | PixmanError::Map(_) | PixmanError::Sync(_) => ImportError::Mapping,
            other => ImportError::Refused(other.to_string()),
        }
    }

    fn client_formats(&self, _ctx: &ImportCtx) -> FormatSet {
        let mut formats: Vec<Format> = self.dmabuf_formats().iter().copied().collect();
        formats.extend(CONVERTED.iter().map(|&code| Format {
            code,
            modifier: Modifier::Linear,
        }));
        formats.into_iter().collect()
    }

    fn clone_texture(t: &PixmanTexture) -> PixmanTexture {
        t.clone()
    }

    type Blit = ();
    fn blit_program(&mut self) -> Option<()> {
        None
    }

    fn dmabuf_bytes(dmabuf: &Dmabuf) -> u64 {
        import_bytes(dmabuf)
    }
}

/// Quay's renderer on pixman (headless and udev on software devices).
pub type PixmanQuay = super::import::QuayRenderer<PixmanRenderer>;

impl PixmanQuay {
    pub fn new_pixman(budget: super::cache::Budget) -> Result<PixmanQuay, PixmanError> {
        Ok(super::import::QuayRenderer::new(PixmanRenderer::new()?, budget))
    }
}

impl Offscreen<pixman::Image<'static, 'static>> for PixmanQuay {
    fn create_buffer(
        &mut self,
        format: Fourcc,
        size: Size<i32, BufferCoords>,
    ) -> Result<pixman::Image<'static, 'static>, PixmanError> {
        self.engine_mut().create_buffer(format, size)
    }
}

impl Bind<pixman::Image<'static, 'static>> for PixmanQuay {
    fn bind<'a>(
        &mut self,
        target: &'a mut pixman::Image<'static, 'static>,
    ) -> Result<PixmanTarget<'a>, PixmanError> {
        self.engine_mut().bind(target)
    }
    fn supported_formats(&self) -> Option<FormatSet> {
        Bind::<pixman::Image<'static, 'static>>::supported_formats(self.engine())
    }
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
