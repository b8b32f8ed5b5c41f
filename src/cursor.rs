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
        Some(CursorImage {
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
