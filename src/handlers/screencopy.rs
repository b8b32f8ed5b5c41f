//! `zwlr_screencopy_manager_v1`'s compositor half: render the output as it
//! is now and write the region into the client's buffer, on the CPU.
//!
//! - `wl_shm` buffers are written through smithay's pool mapping.
//! - dma-buf buffers (any linear XRGB/ARGB one: dma-heap, udmabuf, GBM) are
//!   mapped read-write and written between `DMA_BUF_IOCTL_SYNC`
//!   `START|WRITE` and `END|WRITE`, so a GPU reader sees finished pixels.
//!   The client provides the memory; Quay exports nothing here.
//!
//! `copy` is answered at once, from what the output shows (the same as
//! drawing a frame and copying it). `copy_with_damage` waits, as the
//! protocol says, until the output next draws a frame with damage: the
//! backends call [`Core::output_damaged`] after such a frame, and the copy
//! runs from an idle callback right after it. A client that loops on
//! `copy_with_damage` (a recorder) so costs nothing while the screen is still.
//!
//! The output is rendered with the same path as `quay msg screenshot`
//! (`Backend::screenshot`): on udev that re-renders the space the last frame
//! showed, planes included, since the same elements are drawn.

use smithay::{
    backend::allocator::dmabuf::DmabufSyncFlags,
    output::Output,
    reexports::wayland_server::{protocol::wl_buffer::WlBuffer, Resource},
    utils::{Physical, Rectangle},
    wayland::shm,
};
use tracing::{debug, warn};

use crate::{
    backends::Screenshot,
    protocols::screencopy::{Frame, ScreencopyHandler, ScreencopyState},
    State,
};

impl ScreencopyHandler for State {
    fn capture_size(&mut self, output: &Output) -> Option<(i32, i32)> {
        if !self.backend.can_screenshot() {
            return None;
        }
        output.current_mode().map(|m| (m.size.w, m.size.h))
    }

    fn dmabuf_targets(&self) -> bool {
        true
    }

    fn copy(&mut self, frame: Frame, buffer: WlBuffer) {
        if frame.with_damage {
            // Frames destroyed (or clients gone) while waiting go here, so a
            // client cannot grow the list past its own live objects.
            self.core
                .pending_screencopy
                .retain(|(f, b)| f.resource.is_alive() && b.is_alive());
            self.core.pending_screencopy.push((frame, buffer));
            return;
        }
        self.copy_now(frame, buffer);
    }
}

impl crate::state::Core {
    /// `output` drew a frame with damage: answer its waiting
    /// `copy_with_damage` requests right after this dispatch.
    pub fn output_damaged(&mut self, output: &Output) {
        if !self.pending_screencopy.iter().any(|(f, _)| &f.output == output) {
            return;
        }
        let output = output.clone();
        self.loop_handle.insert_idle(move |state| {
            let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut state.core.pending_screencopy)
                .into_iter()
                .partition(|(f, _)| f.output == output);
            state.core.pending_screencopy = waiting;
            for (frame, buffer) in ready {
                // Destroyed meanwhile (or its client gone): nothing to answer.
                if frame.resource.is_alive() && buffer.is_alive() {
                    state.copy_now(frame, buffer);
                }
            }
        });
    }
}

impl State {
    fn copy_now(&mut self, frame: Frame, buffer: WlBuffer) {
        let name = frame.output.name();
        let result = self
            .backend
            .screenshot(&self.core, Some(&name))
            .and_then(|shot| write_region(&shot, frame.region, &buffer));
        match result {
            Ok(kind) => {
                self.core.stats.screencopy_frames_total += 1;
                if kind == Target::Dmabuf {
                    self.core.stats.screencopy_dmabuf_frames_total += 1;
                }
                debug!(output = name, ?kind, "screencopy");
                frame.ready(self.core.now());
            }
            Err(err) => {
                warn!(output = name, "screencopy failed: {err}");
                self.core.stats.screencopy_failed_total += 1;
                frame.failed();
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Target {
    Shm,
    Dmabuf,
}

/// Write `region` of `shot` (RGBA) into `buffer` as XRGB/ARGB8888 (B, G, R,
/// A in memory). The buffer was checked against the region's size and
/// formats (`protocols::screencopy::check_buffer`); the bounds of the memory
/// are checked here, since a client can shrink neither, but can lie in both.
fn write_region(
    shot: &Screenshot,
    region: Rectangle<i32, Physical>,
    buffer: &WlBuffer,
) -> Result<Target, String> {
    let (w, h) = (region.size.w.max(0) as usize, region.size.h.max(0) as usize);
    let (x0, y0) = (region.loc.x.max(0) as usize, region.loc.y.max(0) as usize);
    if x0 + w > shot.width as usize || y0 + h > shot.height as usize {
        return Err(format!(
            "region {region:?} is outside the {}x{} output",
            shot.width, shot.height
        ));
    }
    let src_stride = shot.width as usize * 4;
    let write = |dst: &mut [u8], offset: usize, stride: usize| -> Result<(), String> {
        let needed = offset + stride * h.saturating_sub(1) + w * 4;
        if h > 0 && dst.len() < needed {
            return Err(format!(
                "the buffer has {} bytes, the copy needs {needed}",
                dst.len()
            ));
        }
        for y in 0..h {
            let src = &shot.rgba[(y0 + y) * src_stride + x0 * 4..][..w * 4];
            let row = &mut dst[offset + y * stride..][..w * 4];
            for (d, s) in row.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
                d.copy_from_slice(&[s[2], s[1], s[0], 0xff]);
            }
        }
        Ok(())
    };

    if let Ok(dmabuf) = smithay::wayland::dmabuf::get_dmabuf(buffer) {
        let (Some(offset), Some(stride)) = (dmabuf.offsets().next(), dmabuf.strides().next()) else {
            return Err("the dma-buf has no plane".into());
        };
        let mapping = crate::buffer::mapping::PlaneMapping::map(dmabuf, 0, true)
            .map_err(|e| format!("cannot map the dma-buf: {e}"))?;
        dmabuf
            .sync_plane(0, DmabufSyncFlags::START | DmabufSyncFlags::WRITE)
            .map_err(|e| format!("DMA_BUF_IOCTL_SYNC start: {e}"))?;
        // SAFETY: `mapping` is a live shared mapping of the whole object,
        // `length()` bytes, held until the slice is gone; the client may
        // write it concurrently, which can tear its own pixels but not
        // Quay's memory.
        let dst = unsafe { std::slice::from_raw_parts_mut(mapping.ptr(), mapping.length()) };
        let written = write(dst, offset as usize, stride as usize);
        if let Err(e) = dmabuf.sync_plane(0, DmabufSyncFlags::END | DmabufSyncFlags::WRITE) {
            warn!("DMA_BUF_IOCTL_SYNC end: {e}");
        }
        return written.map(|()| Target::Dmabuf);
    }
    shm::with_buffer_contents_mut(buffer, |ptr, len, data| {
        // SAFETY: smithay hands out the pool's mapping, `len` bytes, for the
        // duration of the closure (smithay-0.7.0 src/wayland/shm/mod.rs:279).
        let dst = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
        write(dst, data.offset.max(0) as usize, data.stride.max(0) as usize)
    })
    .map_err(|e| format!("cannot access the wl_shm buffer: {e:?}"))?
    .map(|()| Target::Shm)
}

smithay::reexports::wayland_server::delegate_global_dispatch!(State: [
    smithay::reexports::wayland_protocols_wlr::screencopy::v1::server::zwlr_screencopy_manager_v1::ZwlrScreencopyManagerV1: crate::protocols::GlobalFilter
] => ScreencopyState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    smithay::reexports::wayland_protocols_wlr::screencopy::v1::server::zwlr_screencopy_manager_v1::ZwlrScreencopyManagerV1: ()
] => ScreencopyState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    smithay::reexports::wayland_protocols_wlr::screencopy::v1::server::zwlr_screencopy_frame_v1::ZwlrScreencopyFrameV1: crate::protocols::screencopy::FrameData
] => ScreencopyState);
