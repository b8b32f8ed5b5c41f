//! The GLES engine: client buffers as textures Quay holds.
//!
//! - **dma-bufs** become one EGLImage + texture per kernel identity, made
//!   from a throwaway copy of the entry's planes: smithay's `GlesRenderer`
//!   keeps its own texture per `Dmabuf` until that `Dmabuf` dies
//!   (smithay-0.7.0 src/backend/renderer/gles/mod.rs:1203, dropped in
//!   `cleanup` at :707). Importing from the entry's long-lived source would
//!   leave a second owner there that no eviction reaches; importing from a
//!   copy dropped right after leaves Quay's texture the only one, so an
//!   eviction followed by `cleanup_texture_cache` really deletes the GL
//!   texture and the EGLImage.
//! - **The upload fallback.** A linear single-plane dma-buf EGL does not take
//!   (no `EGL_EXT_image_dma_buf_import`, as on Bookworm's Mesa on these
//!   hosts), or any client dma-buf on a software EGL device (llvmpipe
//!   crashed on foreign buffers it could not map, in the VM suite's first
//!   GLES runs on virtio_gpu and vkms), is
//!   copied from its mapping into a texture, under `DMA_BUF_IOCTL_SYNC`, and
//!   copied again on every commit of it. YUYV is converted to XRGB first.
//!   While the buffer's write fences are pending the copy is not made (the
//!   texture keeps the last content that was ready) and is made before a
//!   later frame once they have signalled (`super::cpu_access`).
//! - **shm** buffers are uploaded into one texture per surface: whole on
//!   first use, a new size or after an eviction; otherwise only the damage
//!   smithay reports since the renderer last saw the surface, and nothing at
//!   all for a commit without damage.
//!
//! Uploads count against the same budget as imports (4 bytes a pixel) and
//! are evicted like them; an evicted shm upload is redone from the
//! surface's current buffer before the next frame that shows it.

use smithay::{
    backend::{
        allocator::{
            dmabuf::Dmabuf,
            format::{has_alpha, FormatSet},
            Buffer, Format, Fourcc, Modifier,
        },
        egl::{EGLContext, EGLDevice, EGLDisplay, EGLSurface},
        renderer::{
            gles::{
                ffi, format::fourcc_to_gl_formats, GlesError, GlesFrame, GlesRenderbuffer, GlesRenderer,
                GlesTarget, GlesTexProgram, GlesTexture,
            },
            Bind, ImportDma, Offscreen,
        },
    },
    utils::{Buffer as BufferCoords, Physical, Rectangle, Size, Transform},
};

use super::{
    cache::Budget,
    cpu_access::{Access, CpuAccess, Ready},
    error::ImportError,
    import::{Engine, ImportCtx, ImportSource, QuayRenderer},
    mapping::{LinearPlane, LinearPlaneError, PlaneMapping},
    pixman::{yuyv_to_xrgb, CONVERTED},
    reaper::OffThreadDrop,
};

/// Quay's renderer on GLES.
pub type GlesQuay = QuayRenderer<GlesRenderer>;

/// Formats the upload fallback reads from a linear mapping.
const UPLOADED: [Fourcc; 5] = [
    Fourcc::Argb8888,
    Fourcc::Xrgb8888,
    Fourcc::Abgr8888,
    Fourcc::Xbgr8888,
    Fourcc::Yuyv,
];

/// A resident import: the texture, and for a copy what it is copied from.
#[derive(Debug)]
pub struct GlesResident {
    texture: GlesTexture,
    /// The mapping of a dma-buf that is uploaded rather than imported.
    mapping: Option<OffThreadDrop<PlaneMapping>>,
    /// The upload was made (or skipped) while the buffer's write fences
    /// were pending: redone once they have signalled.
    stale: bool,
}

/// Upload `rects` (all of it when `existing` is `None`) of a `size` image at
/// `pixels` with `stride` bytes per row into `existing`, or a new texture.
/// Returns the texture and the bytes uploaded. Public for
/// `benches/gles_upload.rs`.
///
/// # Safety
///
/// `pixels` must point at `size.h` rows of `stride` bytes, readable for the
/// whole call.
pub unsafe fn upload(
    renderer: &mut GlesRenderer,
    existing: Option<&GlesTexture>,
    format: Fourcc,
    size: Size<i32, BufferCoords>,
    stride: usize,
    pixels: *const u8,
    rects: &[Rectangle<i32, BufferCoords>],
) -> Result<(GlesTexture, u64), GlesError> {
    let (internal, read_format, type_) =
        fourcc_to_gl_formats(format).ok_or(GlesError::UnsupportedPixelFormat(format))?;
    let (rects, bytes) = upload_rects(existing.is_some(), size, rects);
    let existing_id = existing.map(GlesTexture::tex_id);
    let tex = renderer.with_context(|gl| {
        // SAFETY: the context is current (with_context); `pixels` points at
        // `size.h` rows of `stride` bytes (the caller's contract), and each
        // rectangle lies within `size`.
        unsafe {
            let tex = match existing_id {
                Some(id) => id,
                None => {
                    let mut id = 0;
                    gl.GenTextures(1, &mut id);
                    id
                }
            };
            gl.BindTexture(ffi::TEXTURE_2D, tex);
            gl.TexParameteri(ffi::TEXTURE_2D, ffi::TEXTURE_WRAP_S, ffi::CLAMP_TO_EDGE as i32);
            gl.TexParameteri(ffi::TEXTURE_2D, ffi::TEXTURE_WRAP_T, ffi::CLAMP_TO_EDGE as i32);
            gl.PixelStorei(ffi::UNPACK_ROW_LENGTH, (stride / 4) as i32);
            if existing_id.is_none() {
                gl.TexImage2D(
                    ffi::TEXTURE_2D,
                    0,
                    internal as i32,
                    size.w,
                    size.h,
                    0,
                    read_format,
                    type_,
                    pixels as *const _,
                );
            } else {
                for r in &rects {
                    gl.PixelStorei(ffi::UNPACK_SKIP_PIXELS, r.loc.x);
                    gl.PixelStorei(ffi::UNPACK_SKIP_ROWS, r.loc.y);
                    gl.TexSubImage2D(
                        ffi::TEXTURE_2D,
                        0,
                        r.loc.x,
                        r.loc.y,
                        r.size.w,
                        r.size.h,
                        read_format,
                        type_,
                        pixels as *const _,
                    );
                }
                gl.PixelStorei(ffi::UNPACK_SKIP_PIXELS, 0);
                gl.PixelStorei(ffi::UNPACK_SKIP_ROWS, 0);
            }
            gl.PixelStorei(ffi::UNPACK_ROW_LENGTH, 0);
            gl.BindTexture(ffi::TEXTURE_2D, 0);
            tex
        }
    })?;
    let texture = match existing {
        Some(t) => t.clone(),
        // SAFETY: `tex` is the texture generated above; the GlesTexture takes
        // ownership and deletes it when the last clone drops.
        None => unsafe { GlesTexture::from_raw(renderer, Some(internal), !has_alpha(format), tex, size) },
    };
    Ok((texture, bytes))
}

/// What an upload copies: the whole buffer into a new texture, else the
/// damage clipped to the buffer; and how many bytes that is (4 a pixel).
fn upload_rects(
    into_existing: bool,
    size: Size<i32, BufferCoords>,
    damage: &[Rectangle<i32, BufferCoords>],
) -> (Vec<Rectangle<i32, BufferCoords>>, u64) {
    let bounds = Rectangle::from_size(size);
    let rects: Vec<Rectangle<i32, BufferCoords>> = if into_existing {
        damage.iter().filter_map(|r| r.intersection(bounds)).collect()
    } else {
        vec![bounds]
    };
    let bytes = rects
        .iter()
        .map(|r| r.size.w.max(0) as u64 * r.size.h.max(0) as u64 * 4)
        .sum();
    (rects, bytes)
}

/// Map plane 0 of a linear single-plane dma-buf for an upload: the checks
/// pixman's import makes ([`LinearPlane::map`]), for the formats uploads read.
fn map_linear(dmabuf: &Dmabuf) -> Result<LinearPlane, GlesError> {
    let code = dmabuf.format().code;
    if !UPLOADED.contains(&code) {
        return Err(GlesError::UnsupportedPixelLayout);
    }
    LinearPlane::map(dmabuf, if code == Fourcc::Yuyv { 2 } else { 4 }).map_err(|e| match e {
        LinearPlaneError::Planes(_) | LinearPlaneError::Modifier(_) => GlesError::UnsupportedPixelLayout,
        LinearPlaneError::Incomplete { .. } => GlesError::UnexpectedSize,
        LinearPlaneError::Mapping | LinearPlaneError::NotADmabuf => GlesError::MappingError,
    })
}

/// Copy a mapped dma-buf into `existing` (or a new texture). Returns the
/// texture, the bytes uploaded and whether the buffer's write fences were
/// pending ([`super::cpu_access`]): then `existing` is kept as it is (the
/// last content that was ready), and a new texture is filled from the
/// mapping as it stands, both to be uploaded again later.
fn upload_dmabuf(
    renderer: &mut GlesRenderer,
    existing: Option<&GlesTexture>,
    dmabuf: &Dmabuf,
    mapping: &PlaneMapping,
    offset: usize,
    stride: usize,
) -> Result<(GlesTexture, u64, bool), GlesError> {
    let sync = CpuAccess::begin(dmabuf, Access::Read).map_err(|_| GlesError::MappingError)?;
    let stale = matches!(sync, Ready::NotYet);
    if let (true, Some(kept)) = (stale, existing) {
        return Ok((kept.clone(), 0, true));
    }
    upload_mapped(renderer, existing, dmabuf, mapping, offset, stride).map(|(t, b)| (t, b, stale))
}

/// The copy itself of [`upload_dmabuf`].
fn upload_mapped(
    renderer: &mut GlesRenderer,
    existing: Option<&GlesTexture>,
    dmabuf: &Dmabuf,
    mapping: &PlaneMapping,
    offset: usize,
    stride: usize,
) -> Result<(GlesTexture, u64), GlesError> {
    let size = dmabuf.size();
    // SAFETY: map_linear checked that offset + stride * h fits in the mapping.
    let base = unsafe { mapping.ptr().add(offset) } as *const u8;
    let whole = [Rectangle::from_size(size)];
    if CONVERTED.contains(&dmabuf.format().code) {
        let (w, h) = (size.w.max(0) as usize, size.h.max(0) as usize);
        // SAFETY: as above, `stride * h` bytes from `base`.
        let src = unsafe { std::slice::from_raw_parts(base, stride * h) };
        let mut xrgb = vec![0u32; w * h];
        yuyv_to_xrgb(src, stride, w, h, &mut xrgb);
        // SAFETY: `xrgb` holds h rows of w * 4 bytes and outlives the call.
        return unsafe {
            upload(
                renderer,
                existing,
                Fourcc::Xrgb8888,
                size,
                w * 4,
                xrgb.as_ptr() as *const u8,
                &whole,
            )
        };
    }
    // SAFETY: map_linear checked h rows of `stride` bytes from `base`.
    unsafe {
        upload(
            renderer,
            existing,
            dmabuf.format().code,
            size,
            stride,
            base,
            &whole,
        )
    }
}

/// Quay's texture program and, where the context has sampler objects
/// (GLES 3), a nearest-filtering sampler for draws at one texel per pixel.
/// Both live as long as the renderer's context, which frees them.
#[derive(Debug, Clone)]
pub struct GlesBlit {
    program: GlesTexProgram,
    nearest: Option<ffi::types::GLuint>,
}

/// `glGetString(name)` of the current context (`with_context`), if GL
/// gives one.
fn gl_string(gl: &ffi::Gles2, name: ffi::types::GLenum) -> Option<String> {
    // SAFETY: called inside `with_context`, so the context is current;
    // GetString returns a static NUL-terminated string or null.
    unsafe {
        let p = gl.GetString(name);
        (!p.is_null()).then(|| {
            std::ffi::CStr::from_ptr(p as *const _)
                .to_string_lossy()
                .into_owned()
        })
    }
}

/// A sampler object with nearest filters and edge clamping, or `None`
/// before GLES 3 (no sampler objects).
fn nearest_sampler(renderer: &mut GlesRenderer) -> Option<ffi::types::GLuint> {
    renderer
        .with_context(|gl| {
            let es3 = gl_string(gl, ffi::VERSION).is_some_and(|v| {
                v.strip_prefix("OpenGL ES ")
                    .and_then(|rest| rest.split('.').next())
                    .and_then(|major| major.parse::<u32>().ok())
                    .is_some_and(|major| major >= 3)
            });
            if !es3 || !gl.GenSamplers.is_loaded() || !gl.BindSampler.is_loaded() {
                return None;
            }
            // SAFETY: GLES 3 entry points, loaded; `id` is written by
            // GenSamplers before it is used.
            unsafe {
                let mut id = 0;
                gl.GenSamplers(1, &mut id);
                for (pname, value) in [
                    (ffi::TEXTURE_MIN_FILTER, ffi::NEAREST),
                    (ffi::TEXTURE_MAG_FILTER, ffi::NEAREST),
                    (ffi::TEXTURE_WRAP_S, ffi::CLAMP_TO_EDGE),
                    (ffi::TEXTURE_WRAP_T, ffi::CLAMP_TO_EDGE),
                ] {
                    gl.SamplerParameteri(id, pname, value as i32);
                }
                (id != 0).then_some(id)
            }
        })
        .ok()
        .flatten()
}

/// Whether drawing `src` (buffer coordinates, before `transform`) into a
/// `dst` of this size maps one texel to one pixel at whole-texel offsets.
fn one_to_one(src: Rectangle<f64, BufferCoords>, dst: Size<i32, Physical>, transform: Transform) -> bool {
    let (w, h) = match transform {
        Transform::_90 | Transform::_270 | Transform::Flipped90 | Transform::Flipped270 => (dst.h, dst.w),
        _ => (dst.w, dst.h),
    };
    src.size.w == f64::from(w)
        && src.size.h == f64::from(h)
        && src.loc.x.fract() == 0.0
        && src.loc.y.fract() == 0.0
}

/// What smithay's texture shader (`gles/shaders/implicit/texture.frag`)
/// does at alpha 1 without debug tint: sample, and force alpha to 1 for
/// formats without it (`NO_ALPHA`). No `alpha` or `tint` uniform: smithay
/// looks their locations up and gets -1, which GL ignores
/// (`gles/shaders/mod.rs:150-170`). A shader that is a bare texture fetch
/// is what llvmpipe can classify as a blit.
const BLIT_SHADER: &str = r#"#version 100

//_DEFINES_

#if defined(EXTERNAL)
#extension GL_OES_EGL_image_external : require
#endif

precision mediump float;
#if defined(EXTERNAL)
uniform samplerExternalOES tex;
#else
uniform sampler2D tex;
#endif
varying vec2 v_coords;

void main() {
#if defined(NO_ALPHA)
    gl_FragColor = vec4(texture2D(tex, v_coords).rgb, 1.0);
#else
    gl_FragColor = texture2D(tex, v_coords);
#endif
}
"#;

impl Engine for GlesRenderer {
    const NAME: &'static str = "gles";
    const SHM_UPLOADS: bool = true;
    type Resident = GlesResident;

    fn import_entry(
        &mut self,
        source: &ImportSource,
        ctx: &mut ImportCtx,
    ) -> Result<GlesResident, GlesError> {
        match source {
            ImportSource::Dmabuf(dmabuf) => {
                let egl_takes = ctx.egl_import
                    && self
                        .egl_context()
                        .dmabuf_texture_formats()
                        .contains(&dmabuf.format());
                if egl_takes {
                    let copy = super::import::dup_planes(dmabuf, false).ok_or(GlesError::MappingError)?;
                    let texture = ImportDma::import_dmabuf(self, &copy, None)?;
                    // `copy` dies here: smithay's cache entry for it is gone at
                    // the next cleanup (see the module doc).
                    drop(copy);
                    return Ok(GlesResident {
                        texture,
                        mapping: None,
                        stale: false,
                    });
                }
                let LinearPlane {
                    mapping,
                    offset,
                    stride,
                } = map_linear(dmabuf)?;
                let (texture, bytes, stale) = upload_dmabuf(self, None, dmabuf, &mapping, offset, stride)?;
                ctx.uploads.dmabuf_uploads_total += 1;
                ctx.uploads.upload_bytes_total += bytes;
                Ok(GlesResident {
                    texture,
                    mapping: Some(OffThreadDrop::new(mapping)),
                    stale,
                })
            }
            ImportSource::Shm(shm) => {
                // SAFETY: with_pixels checked h rows of `stride` bytes at `ptr`.
                let uploaded = shm.with_pixels(|ptr, stride| unsafe {
                    upload(self, None, shm.format, shm.size, stride, ptr, &[])
                });
                let (texture, bytes) = uploaded.ok_or(GlesError::MappingError)??;
                ctx.uploads.shm_uploads_total += 1;
                ctx.uploads.upload_bytes_total += bytes;
                Ok(GlesResident {
                    texture,
                    mapping: None,
                    stale: false,
                })
            }
        }
    }

    fn refresh_entry(
        &mut self,
        resident: &mut GlesResident,
        source: &ImportSource,
        damage: &[Rectangle<i32, BufferCoords>],
        ctx: &mut ImportCtx,
    ) -> Result<(), GlesError> {
        match source {
            ImportSource::Dmabuf(dmabuf) => {
                // An EGLImage is the buffer itself: nothing to copy.
                let Some(mapping) = resident.mapping.as_ref() else {
                    return Ok(());
                };
                let offset = dmabuf.offsets().next().unwrap_or(0) as usize;
                let stride = dmabuf.strides().next().unwrap_or(0) as usize;
                let (_, bytes, stale) = upload_dmabuf(
                    self,
                    Some(&resident.texture),
                    dmabuf,
                    mapping.get(),
                    offset,
                    stride,
                )?;
                resident.stale = stale;
                if bytes > 0 {
                    ctx.uploads.dmabuf_uploads_total += 1;
                    ctx.uploads.upload_bytes_total += bytes;
                }
                Ok(())
            }
            ImportSource::Shm(shm) => {
                if damage.is_empty() {
                    return Ok(());
                }
                let texture = resident.texture.clone();
                // SAFETY: with_pixels checked h rows of `stride` bytes at `ptr`.
                let uploaded = shm.with_pixels(|ptr, stride| unsafe {
                    upload(self, Some(&texture), shm.format, shm.size, stride, ptr, damage)
                });
                let (_, bytes) = uploaded.ok_or(GlesError::MappingError)??;
                ctx.uploads.shm_partial_uploads_total += 1;
                ctx.uploads.upload_bytes_total += bytes;
                Ok(())
            }
        }
    }

    fn import_detached(_source: &ImportSource) -> Option<Result<GlesResident, GlesError>> {
        None
    }

    fn stale(resident: &GlesResident) -> bool {
        resident.stale
    }

    fn texture_of(
        resident: &GlesResident,
        _source: &ImportSource,
    ) -> Result<(GlesTexture, Option<CpuAccess>), GlesError> {
        Ok((resident.texture.clone(), None))
    }

    fn import_failed() -> GlesError {
        GlesError::MappingError
    }

    fn import_error(err: &GlesError) -> ImportError {
        match err {
            // `map_linear`'s reasons (the upload fallback).
            GlesError::UnsupportedPixelLayout => ImportError::UnsupportedLayout(err.to_string()),
            GlesError::UnexpectedSize => ImportError::Incomplete,
            GlesError::MappingError => ImportError::Mapping,
            // EGL's image creation and anything else the driver said.
            other => ImportError::Refused(other.to_string()),
        }
    }

    fn client_formats(&self, ctx: &ImportCtx) -> FormatSet {
        let mut formats: Vec<Format> = UPLOADED
            .iter()
            .map(|&code| Format {
                code,
                modifier: Modifier::Linear,
            })
            .collect();
        if ctx.egl_import {
            formats.extend(self.egl_context().dmabuf_texture_formats().iter().copied());
        }
        formats.into_iter().collect()
    }

    fn clone_texture(t: &GlesTexture) -> GlesTexture {
        t.clone()
    }

    type Blit = GlesBlit;
    fn blit_program(&mut self) -> Option<GlesBlit> {
        let program = match self.compile_custom_texture_shader(BLIT_SHADER, &[]) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("the blit shader did not compile, drawing with smithay's: {e}");
                return None;
            }
        };
        let nearest = nearest_sampler(self);
        tracing::info!(nearest_sampler = nearest.is_some(), "GLES blit program ready");
        Some(GlesBlit { program, nearest })
    }
    fn draw_texture(
        frame: &mut GlesFrame<'_, '_>,
        blit: Option<&GlesBlit>,
        tex: &GlesTexture,
        src: Rectangle<f64, BufferCoords>,
        dst: Rectangle<i32, Physical>,
        damage: &[Rectangle<i32, Physical>],
        opaque_regions: &[Rectangle<i32, Physical>],
        src_transform: Transform,
        alpha: f32,
    ) -> Result<(), GlesError> {
        // At full alpha the multiply is a no-op; leave it out of the shader.
        let blit = blit.filter(|_| alpha >= 1.0);
        // A texel per pixel at whole-texel offsets: nearest sampling gives
        // what bilinear gives there (each sample is a texel's centre) for a
        // fetch instead of four: on llvmpipe (host, a 780x560 shm client)
        // 4.2 -> 3.4 ms of Quay's CPU a frame; and llvmpipe's copy path for
        // blits requires nearest filters. smithay sets
        // the texture's filters on every draw (smithay-0.7.0
        // src/backend/renderer/gles/mod.rs:2706-2721); a bound sampler
        // object overrides them, so bind ours for this draw only.
        let sampler = blit
            .and_then(|b| b.nearest)
            .filter(|_| one_to_one(src, dst.size, src_transform));
        if let Some(id) = sampler {
            // SAFETY: `id` is a sampler object of this context
            // (`nearest_sampler`); unit 0 is the one smithay samples from.
            frame.with_context(|gl| unsafe { gl.BindSampler(0, id) })?;
        }
        let drawn = frame.render_texture_from_to(
            tex,
            src,
            dst,
            damage,
            opaque_regions,
            src_transform,
            alpha,
            blit.map(|b| &b.program),
            &[],
        );
        if sampler.is_some() {
            // SAFETY: unbinding (sampler 0) is always valid.
            frame.with_context(|gl| unsafe { gl.BindSampler(0, 0) })?;
        }
        drawn
    }

    fn dmabuf_bytes(dmabuf: &Dmabuf) -> u64 {
        // A texture of the buffer's size, 4 bytes a pixel, whether imported
        // (the driver's own layout; this is the estimate) or uploaded.
        let size = dmabuf.size();
        size.w.max(0) as u64 * size.h.max(0) as u64 * 4
    }
}

impl GlesQuay {
    /// Wrap a GLES renderer. `egl_import`: whether client dma-bufs may go
    /// to the driver (false on a software device).
    pub fn new_gles(inner: GlesRenderer, budget: Budget, egl_import: bool) -> GlesQuay {
        let mut r = QuayRenderer::new(inner, budget);
        r.set_egl_import(egl_import);
        r
    }
}

/// For smithay's winit backend, which builds the renderer itself
/// (smithay-0.7.0 src/backend/winit/mod.rs:106). The budget and the EGL
/// import choice are set afterwards.
impl From<GlesRenderer> for GlesQuay {
    fn from(inner: GlesRenderer) -> GlesQuay {
        QuayRenderer::new(inner, Budget::new(u64::MAX, 100))
    }
}

impl Bind<EGLSurface> for GlesQuay {
    fn bind<'a>(&mut self, target: &'a mut EGLSurface) -> Result<GlesTarget<'a>, GlesError> {
        self.engine_mut().bind(target)
    }
}

impl Bind<GlesRenderbuffer> for GlesQuay {
    fn bind<'a>(&mut self, target: &'a mut GlesRenderbuffer) -> Result<GlesTarget<'a>, GlesError> {
        self.engine_mut().bind(target)
    }
}

impl Offscreen<GlesRenderbuffer> for GlesQuay {
    fn create_buffer(
        &mut self,
        format: Fourcc,
        size: Size<i32, BufferCoords>,
    ) -> Result<GlesRenderbuffer, GlesError> {
        self.engine_mut().create_buffer(format, size)
    }
}

/// Whether the EGL device behind `display` is software (llvmpipe), or
/// cannot be told: only a known hardware device gets client dma-bufs.
pub fn display_is_software(display: &EGLDisplay) -> bool {
    !matches!(EGLDevice::device_for_display(display), Ok(d) if !d.is_software())
}

/// Whether the renderer draws on the CPU, whatever its EGL device says:
/// Mesa's kms_swrast on a KMS-only card (virtio_gpu without 3D, vkms) is an
/// EGL device with a DRM node and no `EGL_MESA_device_software`, yet it is
/// llvmpipe.
pub fn renderer_is_software(renderer: &mut GlesRenderer) -> bool {
    let name = renderer
        .with_context(|gl| gl_string(gl, ffi::RENDERER))
        .ok()
        .flatten()
        .unwrap_or_default();
    ["llvmpipe", "softpipe", "swrast"]
        .iter()
        .any(|s| name.contains(s))
}

/// A GLES renderer on an EGL device for offscreen rendering (headless): a
/// hardware device if there is one, else Mesa's software device. Returns
/// the renderer and whether the device is software.
pub fn device_renderer() -> anyhow::Result<(GlesRenderer, bool)> {
    let mut devices: Vec<EGLDevice> = EGLDevice::enumerate()
        .map_err(|e| anyhow::anyhow!("enumerating EGL devices: {e}"))?
        .collect();
    // Hardware first (cosmic-comp's order), then Mesa's software device.
    // A DRM device whose EGL turns out to be llvmpipe (kms_swrast on a
    // KMS-only card) is the last resort: offscreen it brings nothing over
    // the software device (both are llvmpipe) and it costs a DRI screen on
    // the card.
    devices.sort_by_key(|d| d.is_software());
    let mut last = None;
    let mut kms_swrast = None;
    for device in devices {
        let software = device.is_software();
        let name = device
            .drm_device_path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "software".into());
        // SAFETY: the device comes from EGL's own enumeration and outlives
        // nothing the display needs from us.
        let display = match unsafe { EGLDisplay::new(device) } {
            Ok(d) => d,
            Err(e) => {
                last = Some(format!("EGL display on {name}: {e}"));
                continue;
            }
        };
        let context = match EGLContext::new(&display) {
            Ok(c) => c,
            Err(e) => {
                last = Some(format!("EGL context on {name}: {e}"));
                continue;
            }
        };
        // SAFETY: the context is new and used only by this renderer.
        match unsafe { GlesRenderer::new(context) } {
            Ok(mut r) => {
                let cpu = renderer_is_software(&mut r);
                if !software && cpu {
                    tracing::info!(
                        device = name,
                        "EGL device is llvmpipe behind a DRM node; trying the others first"
                    );
                    kms_swrast.get_or_insert(r);
                    continue;
                }
                tracing::info!(device = name, software = software || cpu, "GLES on an EGL device");
                return Ok((r, software || cpu));
            }
            Err(e) => last = Some(format!("GLES renderer on {name}: {e:?}")),
        }
    }
    if let Some(r) = kms_swrast {
        return Ok((r, true));
    }
    Err(anyhow::anyhow!(
        "no EGL device gives a GLES renderer ({})",
        last.unwrap_or_else(|| "no EGL device".into())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blit's nearest sampler is bound for a draw at one texel per pixel
    /// and for that draw only: the 1:1 draw is the texture exactly, a
    /// scaled draw of the same texture is still filtered (bilinear gives
    /// values between a black and a white texel), and no sampler is left
    /// bound for smithay's own draws.
    #[test]
    fn nearest_only_for_one_to_one_draws() {
        use smithay::backend::renderer::{Color32F, ExportMem, Frame, Renderer};
        let (mut gl, _) = device_renderer().expect("Mesa's EGL device (libegl-mesa0)");
        let blit = gl.blit_program().expect("the blit program compiles");
        assert!(blit.nearest.is_some(), "llvmpipe is GLES 3: sampler objects");
        // Four texels, black white black white (XRGB8888: B, G, R, X).
        let texels: Vec<u8> = [0u8, 255, 0, 255].iter().flat_map(|&v| [v, v, v, 255]).collect();
        // SAFETY: one row of 16 bytes.
        let (tex, _) = unsafe {
            upload(
                &mut gl,
                None,
                Fourcc::Xrgb8888,
                (4, 1).into(),
                16,
                texels.as_ptr(),
                &[],
            )
        }
        .expect("upload");
        let mut target: GlesRenderbuffer = gl.create_buffer(Fourcc::Abgr8888, (8, 1).into()).expect("target");
        let rgba = {
            let mut fb = gl.bind(&mut target).expect("bind");
            {
                let mut frame = gl
                    .render(&mut fb, (8, 1).into(), Transform::Normal)
                    .expect("frame");
                let all = Rectangle::from_size((8, 1).into());
                frame
                    .clear(Color32F::new(1.0, 0.0, 0.0, 1.0), &[all])
                    .expect("clear");
                let draw = |frame: &mut GlesFrame<'_, '_>, src: Rectangle<f64, BufferCoords>, x: i32| {
                    let dst = Rectangle::new((x, 0).into(), (4, 1).into());
                    let damage = [Rectangle::from_size((4, 1).into())];
                    GlesRenderer::draw_texture(
                        frame,
                        Some(&blit),
                        &tex,
                        src,
                        dst,
                        &damage,
                        &[],
                        Transform::Normal,
                        1.0,
                    )
                    .expect("draw");
                    // SAFETY: a plain query on the current context.
                    let bound = frame
                        .with_context(|g| unsafe {
                            let mut id = -1;
                            g.GetIntegerv(ffi::SAMPLER_BINDING, &mut id);
                            id
                        })
                        .expect("query");
                    assert_eq!(bound, 0, "no sampler left bound after the draw");
                };
                // All four texels into four pixels; then the first two
                // stretched over four.
                draw(&mut frame, Rectangle::from_size((4.0, 1.0).into()), 0);
                draw(&mut frame, Rectangle::from_size((2.0, 1.0).into()), 4);
                let _sync = frame.finish().expect("finish");
            }
            let mapping = gl
                .copy_framebuffer(&fb, Rectangle::from_size((8, 1).into()), Fourcc::Abgr8888)
                .expect("read back");
            gl.map_texture(&mapping).expect("map").to_vec()
        };
        let red: Vec<u8> = rgba.chunks(4).map(|p| p[0]).collect();
        assert_eq!(
            &red[..4],
            &[0, 255, 0, 255],
            "one texel per pixel, exactly: {red:?}"
        );
        assert!(
            red[4..].iter().any(|&r| r > 10 && r < 245),
            "a stretched draw is filtered, not nearest: {red:?}"
        );
    }

    /// An upload Quay drops is a GL texture deleted at the next cleanup:
    /// what makes an eviction free GPU memory rather than a handle.
    #[test]
    fn a_dropped_upload_is_deleted_by_cleanup() {
        let (mut gl, _) = device_renderer().expect("Mesa's EGL device (libegl-mesa0)");
        let pixels = vec![0x80u8; 64 * 32 * 4];
        let size = (64, 32).into();
        // SAFETY: 32 rows of 256 bytes.
        let (tex, bytes) =
            unsafe { upload(&mut gl, None, Fourcc::Xrgb8888, size, 256, pixels.as_ptr(), &[]) }
                .expect("upload");
        assert_eq!(bytes, 64 * 32 * 4);
        let id = tex.tex_id();
        // SAFETY: plain queries on the current context.
        let alive = |gl: &mut GlesRenderer| gl.with_context(|g| unsafe { g.IsTexture(id) }).unwrap();
        assert_eq!(alive(&mut gl), ffi::TRUE);
        // A damage upload into it counts only the rectangle.
        let rect = [Rectangle::new((8, 4).into(), (10, 6).into())];
        // SAFETY: as above.
        let (_, bytes) = unsafe {
            upload(
                &mut gl,
                Some(&tex),
                Fourcc::Xrgb8888,
                size,
                256,
                pixels.as_ptr(),
                &rect,
            )
        }
        .unwrap();
        assert_eq!(bytes, 10 * 6 * 4);
        drop(tex);
        smithay::backend::renderer::Renderer::cleanup_texture_cache(&mut gl).unwrap();
        assert_eq!(
            alive(&mut gl),
            ffi::FALSE,
            "the GL texture outlived its last handle"
        );
    }
}
