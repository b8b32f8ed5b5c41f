//! Quay's own cursor images: the XCursor theme's picture for a named shape
//! (`wp_cursor_shape_v1`, and the default arrow where no client set a
//! cursor), as `MemoryRenderBuffer`s drawn by `render::cursor_elements`.
//!
//! Shapes are loaded when first named (`SeatHandler::cursor_image`, which
//! has `&mut`) and kept; a shape the theme lacks falls back to the theme's
//! `default`, and a missing theme draws no cursor, with one warning.
//! Animated cursors show their first frame.

use std::collections::HashMap;

use smithay::{
    backend::{allocator::Fourcc, renderer::element::memory::MemoryRenderBuffer},
    input::pointer::CursorIcon,
    utils::{Logical, Point, Transform},
};
use tracing::{debug, warn};

/// A theme's picture for one shape, and its hotspot.
#[derive(Debug, Clone)]
pub struct CursorImage {
    pub buffer: MemoryRenderBuffer,
    pub hotspot: Point<i32, Logical>,
    /// The same picture as ARGB8888 words, for a cursor plane.
    pub argb: std::sync::Arc<[u32]>,
    pub size: (u32, u32),
}

#[derive(Debug)]
pub struct CursorTheme {
    theme: xcursor::CursorTheme,
    name: String,
    size: u32,
    /// By shape; `None`: looked for and not found.
    loaded: HashMap<CursorIcon, Option<CursorImage>>,
    warned: bool,
}

/// The pointer's picture and where the pointer and the touch points are.
#[derive(Debug)]
pub struct PointerState {
    /// What the pointer looks like, as the focused client set it.
    pub cursor: smithay::input::pointer::CursorImageStatus,
    /// The cursor theme's pictures for named shapes.
    pub theme: CursorTheme,
    /// The pointer has moved at least once: until then no cursor is drawn.
    pub seen: bool,
    /// The surface the pointer was last found over and its origin (global
    /// logical), to notice when the scene moves under a still pointer.
    pub under: Option<(
        smithay::reexports::wayland_server::backend::ObjectId,
        smithay::utils::Point<f64, smithay::utils::Logical>,
    )>,
    /// The surface each touch point went down on, while it is down: smithay
    /// keeps its own copy private (src/input/touch/mod.rs:83), and a point
    /// whose surface is destroyed must be lifted (`wl_touch.up`).
    pub touch_points: std::collections::HashMap<
        smithay::backend::input::TouchSlot,
        smithay::reexports::wayland_server::protocol::wl_surface::WlSurface,
    >,
}

impl PointerState {
    /// The default arrow from `config`'s theme, loaded; no pointer seen yet.
    pub fn new(config: &quay_config::Cursor) -> PointerState {
        let mut theme = CursorTheme::new(config);
        theme.load(smithay::input::pointer::CursorIcon::Default);
        PointerState {
            cursor: smithay::input::pointer::CursorImageStatus::default_named(),
            theme,
            seen: false,
            under: None,
            touch_points: Default::default(),
        }
    }
}

impl CursorTheme {
    pub fn new(config: &quay_config::Cursor) -> CursorTheme {
        CursorTheme {
            theme: xcursor::CursorTheme::load(&config.theme),
            name: config.theme.clone(),
            size: config.size.0,
            loaded: HashMap::new(),
            warned: false,
        }
    }

    /// Load `icon` (once), so that [`CursorTheme::image`] has it.
    pub fn load(&mut self, icon: CursorIcon) {
        if self.loaded.contains_key(&icon) {
            return;
        }
        let image = std::iter::once(icon.name())
            .chain(icon.alt_names().iter().copied())
            .chain(["default", "left_ptr"])
            .find_map(|name| self.read(name));
        if image.is_none() && !self.warned {
            warn!(
                theme = self.name,
                ?icon,
                "no cursor image in the theme: no cursor is drawn for it"
            );
            self.warned = true;
        }
        self.loaded.insert(icon, image);
    }

    fn read(&self, name: &str) -> Option<CursorImage> {
        let path = self.theme.load_icon(name)?;
        let bytes = std::fs::read(&path).ok()?;
        let images = xcursor::parser::parse_xcursor(&bytes)?;
        // The nominal size nearest to the configured one; its first frame.
        let nearest = images
            .iter()
            .map(|i| i.size)
            .min_by_key(|s| s.abs_diff(self.size))?;
        let image = images.iter().find(|i| i.size == nearest)?;
        let (w, h) = (
            i32::try_from(image.width).ok()?,
            i32::try_from(image.height).ok()?,
        );
        if w == 0 || h == 0 || image.pixels_rgba.len() < (w * h * 4) as usize {
            return None;
        }
        debug!(name, path = %path.display(), w, h, "cursor image");
        let argb = image.pixels_rgba[..(w * h * 4) as usize]
            .chunks_exact(4)
            .map(|p| u32::from_be_bytes([p[3], p[0], p[1], p[2]]))
            .collect();
        Some(CursorImage {
            argb,
            size: (w as u32, h as u32),
            // RGBA bytes in memory: DRM's ABGR8888 on little endian.
            buffer: MemoryRenderBuffer::from_slice(
                &image.pixels_rgba,
                Fourcc::Abgr8888,
                (w, h),
                1,
                Transform::Normal,
                None,
            ),
            hotspot: (image.xhot as i32, image.yhot as i32).into(),
        })
    }

    /// The loaded picture of `icon`, if the theme has one.
    pub fn image(&self, icon: CursorIcon) -> Option<&CursorImage> {
        self.loaded.get(&icon).and_then(Option::as_ref)
    }
}

/// Where the pointer is on `output` (output-local), if a cursor is drawn
/// there: not before the pointer first moved (a headless Quay has no
/// cursor until something moves it), nor on another output.
pub fn pointer_on(
    core: &crate::state::Core,
    output: &smithay::output::Output,
) -> Option<Point<f64, Logical>> {
    let pointer = core.seat.get_pointer()?;
    let geo = core.space.output_geometry(output)?;
    let location = pointer.current_location();
    (core.pointer.seen && geo.to_f64().contains(location)).then(|| location - geo.loc.to_f64())
}

/// A client cursor surface's hotspot (`wl_pointer.set_cursor`).
pub fn surface_hotspot(
    surface: &smithay::reexports::wayland_server::protocol::wl_surface::WlSurface,
) -> Point<i32, Logical> {
    smithay::wayland::compositor::with_states(surface, |states| {
        states
            .data_map
            .get::<smithay::input::pointer::CursorImageSurfaceData>()
            .and_then(|d| d.lock().ok().map(|a| a.hotspot))
    })
    .unwrap_or_default()
}

/// The cursor as a cursor plane would show it on one output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaneCursor {
    /// No cursor on this output (hidden, elsewhere, never moved).
    None,
    /// One ARGB8888 picture, top-left at `at` (output-local physical pixels).
    Bitmap(CursorBitmap),
    /// Only composition can show it: why.
    Composite(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorBitmap {
    pub at: (i32, i32),
    /// The pointer's place in the picture (KMS `HOTSPOT_X`/`HOTSPOT_Y`).
    pub hotspot: (i32, i32),
    pub width: u32,
    pub height: u32,
    /// Row-major ARGB8888 (premultiplied, as KMS blends by default).
    pub argb: std::sync::Arc<[u32]>,
}

/// What a cursor plane of at most `max` pixels would show on `output`: the
/// theme's picture or a client's single-surface shm cursor, drawn 1:1. A
/// scaled or transformed output, a client cursor with subsurfaces, a
/// scale, transform or viewport on it, a dma-buf cursor or one larger than
/// `max` are composited instead (what `render::cursor_elements` draws).
pub fn plane_cursor(
    core: &crate::state::Core,
    output: &smithay::output::Output,
    max: (u32, u32),
) -> PlaneCursor {
    use smithay::input::pointer::CursorImageStatus;
    let Some(local) = pointer_on(core, output) else {
        return PlaneCursor::None;
    };
    if output.current_scale().fractional_scale() != 1.0 || output.current_transform() != Transform::Normal {
        return PlaneCursor::Composite("scaled or transformed output");
    }
    let (pixels, (width, height), hotspot) = match &core.pointer.cursor {
        CursorImageStatus::Hidden => return PlaneCursor::None,
        CursorImageStatus::Named(icon) => match core.pointer.theme.image(*icon) {
            Some(image) => (image.argb.clone(), image.size, image.hotspot),
            None => return PlaneCursor::None,
        },
        CursorImageStatus::Surface(surface) => match client_cursor(surface, max) {
            Ok(Some(picture)) => picture,
            Ok(None) => return PlaneCursor::None,
            Err(why) => return PlaneCursor::Composite(why),
        },
    };
    if width > max.0 || height > max.1 {
        return PlaneCursor::Composite("cursor larger than the plane");
    }
    let at = (local - hotspot.to_f64()).to_i32_round();
    PlaneCursor::Bitmap(CursorBitmap {
        at: (at.x, at.y),
        hotspot: (hotspot.x, hotspot.y),
        width,
        height,
        argb: pixels,
    })
}

/// A client's cursor surface as a plane would show it: its pixels, size
/// and hotspot; `Ok(None)` when it shows nothing, `Err` with the reason
/// when it must be composited instead ([`plane_cursor`]'s rules).
#[allow(clippy::type_complexity)]
fn client_cursor(
    surface: &smithay::reexports::wayland_server::protocol::wl_surface::WlSurface,
    max: (u32, u32),
) -> Result<
    Option<(
        std::sync::Arc<[u32]>,
        (u32, u32),
        smithay::utils::Point<i32, smithay::utils::Logical>,
    )>,
    &'static str,
> {
    use smithay::{
        backend::renderer::utils::with_renderer_surface_state,
        reexports::wayland_server::{protocol::wl_shm, Resource},
        wayland::{compositor, shm},
    };
    if !surface.is_alive() {
        return Ok(None);
    }
    if !compositor::get_children(surface).is_empty() {
        return Err("cursor surface with subsurfaces");
    }
    let hotspot = surface_hotspot(surface);
    let read = with_renderer_surface_state(surface, |state| {
        let Some(buffer) = state.buffer() else {
            return Ok(None);
        };
        if state.buffer_scale() != 1 || state.buffer_transform() != Transform::Normal {
            return Err("cursor buffer with a scale or transform");
        }
        if state.surface_size() != state.buffer_size() {
            return Err("cursor surface with a viewport");
        }
        shm::with_buffer_contents(buffer, |ptr, len, data| {
            let alpha = match data.format {
                wl_shm::Format::Argb8888 => 0,
                wl_shm::Format::Xrgb8888 => 0xff00_0000,
                _ => return Err("cursor buffer in a format the plane does not take"),
            };
            let (w, h, stride) = (data.width as usize, data.height as usize, data.stride as usize);
            // Nothing is read of a cursor the plane cannot show: a
            // client's 2 GiB cursor costs no copy per repaint.
            if w > max.0 as usize || h > max.1 as usize {
                return Err("cursor larger than the plane");
            }
            let offset = data.offset as usize;
            // smithay checked the pool's size against the buffer's
            // (smithay-0.7.0 src/wayland/shm/handlers.rs:144, create_buffer);
            // check again rather than trust arithmetic on client numbers.
            let end = h
                .checked_sub(1)
                .and_then(|last| last.checked_mul(stride))
                .and_then(|o| o.checked_add(w * 4))
                .and_then(|o| o.checked_add(offset));
            if w == 0 || h == 0 || end.is_none_or(|e| e > len) {
                return Err("cursor buffer out of its pool");
            }
            // SAFETY: smithay maps the pool for `len` bytes for the
            // closure's duration; every read is inside it (checked above).
            let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
            let mut argb = Vec::with_capacity(w * h);
            for row in 0..h {
                let start = offset + row * stride;
                argb.extend(
                    bytes[start..start + w * 4]
                        .chunks_exact(4)
                        .map(|p| u32::from_le_bytes([p[0], p[1], p[2], p[3]]) | alpha),
                );
            }
            Ok(Some((argb, (w as u32, h as u32))))
        })
        .map_err(|_| "cursor buffer is not shm")?
    });
    match read {
        None | Some(Ok(None)) => Ok(None),
        Some(Err(why)) => Err(why),
        Some(Ok(Some((argb, size)))) => Ok(Some((argb.into(), size, hotspot))),
    }
}
