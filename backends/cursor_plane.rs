//! The cursor plane on udev, through Quay's framebuffer table.
//!
//! smithay's `DrmCompositor` can drive a cursor plane itself, but it does
//! so outside Quay's table: its own GBM allocator and framebuffer exporter
//! (smithay-0.7.0 src/backend/drm/compositor/mod.rs:1228-1230), and a new
//! buffer and `AddFB2` for every picture it puts there (:3206-3222). Quay
//! hands the compositor its planes without the cursor plane (and no cursor
//! GBM device, so it has no cursor state at all) and drives that plane here:
//!
//! - two linear ARGB8888 GBM buffers of the device's cursor size
//!   (`CURSOR | WRITE`), adopted into the table, each with one framebuffer
//!   the table makes (`own_framebuffers_*` in `quay msg stats`), made when a
//!   cursor is first shown;
//! - a new picture goes into the buffer that is not on screen, which is then
//!   shown (`cursor_plane_updates_total`); an unchanged picture at a new place
//!   re-sets the plane with the same framebuffer (`cursor_plane_moves_total`);
//! - on paravirtualized devices (virtio_gpu, vmwgfx, qxl) the kernel shows
//!   an atomic client the cursor plane only if it promises to set the
//!   hotspot (`DRM_CLIENT_CAP_CURSOR_PLANE_HOTSPOT`, which Quay sets on its
//!   fd): the host draws its own pointer from it. `HOTSPOT_X`/`HOTSPOT_Y`
//!   are set (`DRM_IOCTL_MODE_OBJ_SETPROPERTY`) when a picture with a new
//!   hotspot goes up;
//! - pictures and moves go up through `DRM_IOCTL_MODE_SETPLANE` on the CRTC's cursor plane, which
//!   the kernel runs as a legacy cursor update (drm_atomic_helper_update_plane
//!   sets `legacy_cursor_update` for `crtc->cursor`): it does not wait for the
//!   page flip the compositor's atomic commit has pending, and that commit,
//!   which does not name the cursor plane, leaves it as it is.
//!
//! A cursor the plane cannot show 1:1 (`crate::cursor::plane_cursor`) is
//! composited, with the plane off; a device whose cursor plane refuses a
//! buffer composites from then on (one warning).

use std::{sync::Arc, time::Instant};

use smithay::{
    backend::{
        allocator::{
            gbm::{GbmBuffer, GbmDevice},
            Fourcc,
        },
        drm::DrmDeviceFd,
    },
    reexports::{
        drm::control::{crtc, plane, property, Device as _},
        gbm::BufferObjectFlags,
    },
};
use tracing::{debug, warn};

use crate::{
    buffer::kms::{KmsBuffers, OwnFramebuffer},
    cursor::{CursorBitmap, PlaneCursor},
    state::Stats,
};

/// One of the two buffers and the picture in it.
struct Slot {
    fb: OwnFramebuffer,
    picture: Option<(u32, u32, Arc<[u32]>)>,
}

pub struct CursorPlane {
    plane: plane::Handle,
    crtc: crtc::Handle,
    size: (u32, u32),
    slots: Vec<Slot>,
    /// The slot on the plane and where; None: the plane is off (as far as
    /// Quay knows: after a session pause, it forgets).
    shown: Option<(usize, (i32, i32))>,
    /// The plane refused a buffer once: composite from now on.
    broken: bool,
    /// `HOTSPOT_X`/`HOTSPOT_Y` (paravirtualized devices only), looked up
    /// once; and the hotspot they hold.
    hotspot_props: Option<Option<(property::Handle, property::Handle)>>,
    hotspot: Option<(i32, i32)>,
}

impl CursorPlane {
    pub fn new(plane: plane::Handle, crtc: crtc::Handle, size: (u32, u32)) -> CursorPlane {
        CursorPlane {
            plane,
            crtc,
            size,
            slots: Vec::new(),
            shown: None,
            broken: false,
            hotspot_props: None,
            hotspot: None,
        }
    }

    /// The largest picture the plane takes.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// Another DRM master may have changed the plane: set it again next time.
    pub fn forget(&mut self) {
        self.shown = None;
        self.hotspot = None;
    }

    /// Show `cursor` on the plane. True: the plane shows it (or there is
    /// nothing to show), so the frame must not draw it; false: composite it.
    pub fn show(
        &mut self,
        table: &KmsBuffers,
        gbm: &GbmDevice<DrmDeviceFd>,
        cursor: &PlaneCursor,
        stats: &mut Stats,
    ) -> bool {
        if self.broken {
            return false;
        }
        let bitmap = match cursor {
            PlaneCursor::Bitmap(b) => b,
            PlaneCursor::None => {
                self.off(table);
                return true;
            }
            PlaneCursor::Composite(why) => {
                debug!(why, "cursor composited");
                self.off(table);
                stats.cursor_composited_frames_total += 1;
                return false;
            }
        };
        match self.put(table, gbm, bitmap, stats) {
            Ok(()) => true,
            Err(err) => {
                warn!("the cursor plane refused the cursor ({err}); compositing it from now on");
                self.broken = true;
                self.off(table);
                false
            }
        }
    }

    fn put(
        &mut self,
        table: &KmsBuffers,
        gbm: &GbmDevice<DrmDeviceFd>,
        bitmap: &CursorBitmap,
        stats: &mut Stats,
    ) -> std::io::Result<()> {
        let same = |slot: &Slot| {
            slot.picture.as_ref().is_some_and(|(w, h, px)| {
                (*w, *h) == (bitmap.width, bitmap.height)
                    && (Arc::ptr_eq(px, &bitmap.argb) || **px == *bitmap.argb)
            })
        };
        let shown_slot = self.shown.map(|(s, _)| s);
        let slot = match (0..self.slots.len()).find(|&i| same(&self.slots[i])) {
            Some(i) => i,
            None => {
                // The buffer not on screen: a new one while there are fewer than two.
                let i = match (0..self.slots.len()).find(|&i| Some(i) != shown_slot) {
                    Some(i) => i,
                    None => {
                        self.slots.push(self.allocate(table, gbm)?);
                        self.slots.len() - 1
                    }
                };
                self.write(i, bitmap)?;
                i
            }
        };
        if self.shown == Some((slot, bitmap.at)) {
            return Ok(());
        }
        let started = Instant::now();
        self.set_hotspot(table, bitmap.hotspot)?;
        let (w, h) = self.size;
        let (x, y) = bitmap.at;
        table.drm().set_plane(
            self.plane,
            self.crtc,
            Some(self.slots[slot].fb.handle()),
            0,
            (x, y, w, h),
            (0, 0, w << 16, h << 16),
        )?;
        let took = started.elapsed().as_micros() as u64;
        if shown_slot == Some(slot) {
            stats.cursor_plane_moves_total += 1;
            stats.cursor_plane_move_max_us = stats.cursor_plane_move_max_us.max(took);
        } else {
            stats.cursor_plane_updates_total += 1;
            stats.cursor_plane_update_max_us = stats.cursor_plane_update_max_us.max(took);
        }
        self.shown = Some((slot, bitmap.at));
        Ok(())
    }

    /// The plane's hotspot properties to `hotspot`, where it has them.
    fn set_hotspot(&mut self, table: &KmsBuffers, hotspot: (i32, i32)) -> std::io::Result<()> {
        let drm = table.drm();
        let props = *self.hotspot_props.get_or_insert_with(|| {
            let find = |name: &str| {
                let set = drm.get_properties(self.plane).ok()?;
                let (ids, _) = set.as_props_and_values();
                ids.iter().copied().find(|id| {
                    drm.get_property(*id)
                        .is_ok_and(|info| info.name().to_bytes() == name.as_bytes())
                })
            };
            find("HOTSPOT_X").zip(find("HOTSPOT_Y"))
        });
        let Some((px, py)) = props else {
            return Ok(());
        };
        if self.hotspot == Some(hotspot) {
            return Ok(());
        }
        drm.set_property(self.plane, px, hotspot.0 as i64 as u64)?;
        drm.set_property(self.plane, py, hotspot.1 as i64 as u64)?;
        self.hotspot = Some(hotspot);
        Ok(())
    }

    fn allocate(&self, table: &KmsBuffers, gbm: &GbmDevice<DrmDeviceFd>) -> std::io::Result<Slot> {
        let (w, h) = self.size;
        let bo = gbm.create_buffer_object::<()>(
            w,
            h,
            Fourcc::Argb8888,
            BufferObjectFlags::CURSOR | BufferObjectFlags::WRITE,
        )?;
        let gem = table.adopt_writable_bo(GbmBuffer::from_bo(bo, true));
        let fb = table.own_framebuffer(&gem)?;
        debug!(?fb, "cursor plane buffer");
        Ok(Slot { fb, picture: None })
    }

    /// `bitmap` into slot `i`'s buffer, top-left, the rest transparent.
    fn write(&mut self, i: usize, bitmap: &CursorBitmap) -> std::io::Result<()> {
        let slot = &mut self.slots[i];
        let ((_, height), _, stride) = slot
            .fb
            .gem()
            .layout()
            .ok_or_else(|| std::io::Error::other("cursor buffer without a layout"))?;
        let (stride, height) = (stride as usize, height as usize);
        let mut bytes = vec![0u8; stride * height];
        let w = bitmap.width as usize;
        for (row, line) in bitmap.argb.chunks_exact(w).enumerate().take(height) {
            let start = row * stride;
            for (px, out) in line.iter().zip(bytes[start..start + stride].chunks_exact_mut(4)) {
                out.copy_from_slice(&px.to_le_bytes());
            }
        }
        slot.fb.gem().write(&bytes)?;
        slot.picture = Some((bitmap.width, bitmap.height, bitmap.argb.clone()));
        Ok(())
    }

    fn off(&mut self, table: &KmsBuffers) {
        if self.shown.take().is_none() {
            return;
        }
        if let Err(err) = table
            .drm()
            .set_plane(self.plane, self.crtc, None, 0, (0, 0, 0, 0), (0, 0, 0, 0))
        {
            warn!("turning the cursor plane off failed: {err}");
        }
    }
}
