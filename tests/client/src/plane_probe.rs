//! What a CRTC's cursor plane shows, read back from the kernel by a process
//! that is not the compositor: the plane's atomic properties (`FB_ID`,
//! `CRTC_X`/`CRTC_Y`, `CRTC_W`/`CRTC_H`) and the framebuffer's pixels
//! (`GETFB2` gives root the buffer's handle, `MAP_DUMB` maps it: the cursor
//! buffers Quay allocates are dumb buffers on kms_swrast and virtio_gpu).
//!
//! Prints one JSON line: `{"fb":N,"x":X,"y":Y,"w":W,"h":H,"p00":ARGB,
//! "opaque":COUNT}` where `opaque` counts pixels with a non-zero alpha;
//! `{"fb":0}` when the plane is off.

use std::{fs::File, os::fd::AsFd, path::Path};

use drm::control::{Device as ControlDevice, PlaneType};

struct Card(File);

impl AsFd for Card {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}
impl Card {
    fn open(path: &Path) -> Result<Card, String> {
        File::options()
            .read(true)
            .write(true)
            .open(path)
            .map(Card)
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}
impl drm::Device for Card {}
impl ControlDevice for Card {}

pub fn probe_cursor_plane(card: &Path) -> Result<String, String> {
    let card = Card::open(card)?;
    use drm::Device as _;
    card.set_client_capability(drm::ClientCapability::UniversalPlanes, true)
        .map_err(|e| format!("universal planes: {e}"))?;
    card.set_client_capability(drm::ClientCapability::Atomic, true)
        .map_err(|e| format!("atomic: {e}"))?;
    // Paravirtualized devices list their cursor plane to atomic clients only
    // with this cap; elsewhere it is refused and changes nothing.
    let _ = card.set_client_capability(drm::ClientCapability::CursorPlaneHotspot, true);
    let planes = card.plane_handles().map_err(|e| format!("planes: {e}"))?;
    for plane in planes {
        let props = card
            .get_properties(plane)
            .map_err(|e| format!("plane properties: {e}"))?;
        let (ids, values) = props.as_props_and_values();
        let mut get = std::collections::HashMap::new();
        for (id, value) in ids.iter().zip(values) {
            let info = card.get_property(*id).map_err(|e| format!("property: {e}"))?;
            get.insert(info.name().to_string_lossy().into_owned(), *value);
        }
        if get.get("type").copied() != Some(PlaneType::Cursor as u64) {
            continue;
        }
        let fb = get.get("FB_ID").copied().unwrap_or(0);
        if fb == 0 {
            return Ok("{\"fb\":0}".into());
        }
        let num = |k: &str| get.get(k).copied().unwrap_or(0) as i64;
        // CRTC_X/Y are signed 32-bit values in a u64.
        let (x, y) = (num("CRTC_X") as i32, num("CRTC_Y") as i32);
        let fb_handle = drm::control::from_u32::<drm::control::framebuffer::Handle>(fb as u32)
            .ok_or("FB_ID is not a handle")?;
        let info = card
            .get_planar_framebuffer(fb_handle)
            .map_err(|e| format!("GETFB2 (run as root): {e}"))?;
        let handle = info.buffers()[0].ok_or("GETFB2 gave no buffer handle (not root?)")?;
        let (w, h) = info.size();
        let pitch = info.pitches()[0] as usize;
        let map = drm_ffi::mode::dumbbuffer::map(card.as_fd(), u32::from(handle), 0, 0)
            .map_err(|e| format!("MAP_DUMB: {e}"))?;
        let len = pitch * h as usize;
        // SAFETY: a fresh shared read-only mapping of the buffer, dropped below.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ,
                rustix::mm::MapFlags::SHARED,
                card.as_fd(),
                map.offset,
            )
        }
        .map_err(|e| format!("mmap: {e}"))?;
        // SAFETY: `len` bytes mapped just above.
        let bytes = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
        let px = |x: usize, y: usize| {
            let o = y * pitch + x * 4;
            u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]])
        };
        let p00 = px(0, 0);
        let mut opaque = 0;
        for yy in 0..h as usize {
            for xx in 0..w as usize {
                opaque += usize::from(px(xx, yy) >> 24 != 0);
            }
        }
        // SAFETY: the mapping made above, no reference into it left.
        let _ = unsafe { rustix::mm::munmap(ptr, len) };
        let _ = card.close_buffer(handle);
        return Ok(format!(
            "{{\"fb\":{fb},\"x\":{x},\"y\":{y},\"w\":{},\"h\":{},\"hot_x\":{},\"hot_y\":{},\"fb_w\":{w},\"fb_h\":{h},\"p00\":{p00},\"opaque\":{opaque}}}",
            num("CRTC_W"),
            num("CRTC_H"),
            num("HOTSPOT_X"),
            num("HOTSPOT_Y"),
        ));
    }
    Err("no cursor plane on this card".into())
}

/// The mode of the card's first CRTC that has one, as the kernel holds it:
/// `{"w":W,"h":H,"vrefresh":HZ}`, or `{"w":0}` with every CRTC off.
pub fn probe_crtc(card: &Path) -> Result<String, String> {
    let card = Card::open(card)?;
    let res = card.resource_handles().map_err(|e| format!("resources: {e}"))?;
    for &crtc in res.crtcs() {
        let info = card.get_crtc(crtc).map_err(|e| format!("crtc: {e}"))?;
        if let Some(mode) = info.mode() {
            let (w, h) = mode.size();
            return Ok(format!(
                "{{\"w\":{w},\"h\":{h},\"vrefresh\":{}}}",
                mode.vrefresh()
            ));
        }
    }
    Ok("{\"w\":0}".into())
}
