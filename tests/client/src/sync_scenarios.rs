//! Explicit-sync scenarios against a running compositor, on real kernel
//! fences (`quay-dmabuf-client --syncobj-test NAME --drm-device PATH`):
//!
//! - `timeline`: a commit whose acquire point is unsignalled is held (no
//!   frame callback for 1 s); signalling the point from the CPU
//!   (`DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL`) lets it apply, presented after the
//!   signal; when the next buffer replaces it, its release point signals.
//! - `stall`: a surface whose acquire point never signals stalls alone: a
//!   second window keeps getting frames; destroying the stalled surface
//!   signals the release point of the commit that never applied.
//! - `deadline`: a sw_sync fence imported into the acquire point gets a
//!   deadline from the compositor (`SW_SYNC_GET_DEADLINE`) within one
//!   refresh interval of the output's next vblank after the commit, as the
//!   client predicts it from its own presentation feedback.
//!
//! Each prints one JSON line; an `Err` is a failed expectation.

use std::{os::fd::AsFd, path::Path, time::Duration};

use wayland_client::{protocol::wl_buffer::WlBuffer, Proxy};
use wayland_protocols::wp::linux_dmabuf::zv1::client::zwp_linux_buffer_params_v1::Flags;

use crate::{
    dmabuf::{alloc, fill, Source},
    syncobj::{monotonic_ns, Drm, SwSync},
    ParamsResult, TestClient, Window,
};

const XRGB8888: u32 = 0x3432_5258;
const W: i32 = 128;
const H: i32 = 128;

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

fn heap_buffer(c: &mut TestClient, color: u32) -> Result<WlBuffer, String> {
    let stride = W * 4;
    let size = (stride * H) as usize;
    let fd = alloc(Source::DmaHeap, size as u64).map_err(e)?;
    fill(&fd, size, color).map_err(e)?;
    let params = c.params();
    params.add(fd.as_fd(), 0, 0, stride as u32, 0, 0);
    params.create(W, H, XRGB8888, Flags::empty());
    match c.wait_params(&params).map_err(e)? {
        ParamsResult::Created(b) => Ok(b),
        ParamsResult::Failed => Err("params failed".into()),
    }
}

/// Commit and return the frame-callback count to wait past.
fn commit_frame(c: &mut TestClient, w: &Window) -> usize {
    let _cb = w.surface.frame(&c.qh, ());
    let _fb = c.feedback(&w.surface);
    let seen = c.app.frame_done.len();
    w.surface.commit();
    seen
}

fn frame_after(c: &mut TestClient, seen: usize, within: Duration) -> bool {
    c.dispatch_until("a frame callback", within, |app| app.frame_done.len() > seen)
        .is_ok()
}

pub fn run(name: &str, socket: &Path, drm_path: &Path) -> Result<String, String> {
    let mut c = TestClient::connect_lenient(socket).map_err(e)?;
    let mgr = c
        .syncobj
        .clone()
        .ok_or("the compositor offers no wp_linux_drm_syncobj_manager_v1")?;
    let drm = Drm::open(drm_path).map_err(|err| format!("{}: {err}", drm_path.display()))?;
    let tl = drm.create().map_err(e)?;
    let timeline = mgr.import_timeline(drm.export(tl).map_err(e)?.as_fd(), &c.qh, ());
    let w = c.window(W, H, 0xff40_4040).map_err(e)?;
    c.commit_and_wait_frame(&w.surface).map_err(e)?;
    let ss = mgr.get_surface(&w.surface, &c.qh, ());
    match name {
        "timeline" => {
            let a = heap_buffer(&mut c, 0xffff_0000)?;
            let b = heap_buffer(&mut c, 0xff00_ff00)?;
            w.surface.attach(Some(&a), 0, 0);
            w.surface.damage_buffer(0, 0, W, H);
            ss.set_acquire_point(&timeline, 0, 1);
            ss.set_release_point(&timeline, 0, 2);
            let seen = commit_frame(&mut c, &w);
            if frame_after(&mut c, seen, Duration::from_secs(1)) {
                return Err("the commit applied before its acquire point signalled".into());
            }
            let signalled_at = monotonic_ns();
            drm.signal(tl, 1).map_err(e)?;
            if !frame_after(&mut c, seen, Duration::from_secs(10)) {
                return Err("no frame within 10 s of signalling the acquire point".into());
            }
            let _ = c.dispatch_until("feedback", Duration::from_secs(5), |app| {
                app.feedback_log.iter().rev().take(1).any(|f| f.is_some())
            });
            let presented_at = c
                .app
                .feedback_log
                .last()
                .copied()
                .flatten()
                .map(|p| p.time.as_nanos() as u64);
            if presented_at.is_some_and(|p| p < signalled_at) {
                return Err("presented before the acquire point signalled".into());
            }
            let released_early = drm.wait(tl, 2, 0).map_err(e)?;
            // The next buffer replaces `a`: a's release point signals.
            drm.signal(tl, 3).map_err(e)?;
            w.surface.attach(Some(&b), 0, 0);
            w.surface.damage_buffer(0, 0, W, H);
            ss.set_acquire_point(&timeline, 0, 3);
            ss.set_release_point(&timeline, 0, 4);
            let seen = commit_frame(&mut c, &w);
            if !frame_after(&mut c, seen, Duration::from_secs(10)) {
                return Err("an already-signalled acquire point held the commit".into());
            }
            let released = drm.wait(tl, 2, 5000).map_err(e)?;
            if released_early || !released {
                return Err(format!(
                    "release point 2: signalled while shown {released_early}, after replacement {released}"
                ));
            }
            Ok(format!(
                "{{\"ok\":true,\"test\":\"timeline\",\"held_ms\":1000,\"presented_after_signal_ms\":{:.2},\"release_signalled\":true}}",
                presented_at.map_or(f64::NAN, |p| (p - signalled_at) as f64 / 1e6)
            ))
        }
        "stall" => {
            let a = heap_buffer(&mut c, 0xffff_0000)?;
            w.surface.attach(Some(&a), 0, 0);
            w.surface.damage_buffer(0, 0, W, H);
            ss.set_acquire_point(&timeline, 0, 10);
            ss.set_release_point(&timeline, 0, 11);
            let cb = w.surface.frame(&c.qh, ());
            let cb_id = cb.id().protocol_id();
            let seen = c.app.frame_done.len();
            w.surface.commit();
            // Another window of the same client keeps going.
            let other = c.window(W, H, 0xff00_00ff).map_err(e)?;
            let mut frames = 0;
            for _ in 0..20 {
                c.commit_and_wait_frame(&other.surface).map_err(e)?;
                frames += 1;
            }
            let stalled_frames = c.app.frame_done[seen..]
                .iter()
                .filter(|(id, _)| *id == cb_id)
                .count();
            if stalled_frames > 0 {
                return Err("the stalled commit applied".into());
            }
            if drm.wait(tl, 11, 0).map_err(e)? {
                return Err("release point signalled for a commit that is still pending".into());
            }
            // The stalled surface goes away: its pending commit's release
            // point must signal.
            ss.destroy();
            w.toplevel.destroy();
            w.xdg_surface.destroy();
            w.surface.destroy();
            c.roundtrip().map_err(e)?;
            let released = drm.wait(tl, 11, 5000).map_err(e)?;
            if !released {
                return Err("release point of the dropped commit never signalled".into());
            }
            Ok(format!(
                "{{\"ok\":true,\"test\":\"stall\",\"other_frames\":{frames},\"stalled_callbacks\":{stalled_frames},\"release_signalled_on_destroy\":true}}"
            ))
        }
        "deadline" => {
            let sw = SwSync::open().map_err(|err| format!("sw_sync: {err}"))?;
            // A few plain frames: the client learns the output's vblanks.
            for _ in 0..5 {
                w.surface.damage_buffer(0, 0, W, H);
                let seen = commit_frame(&mut c, &w);
                if !frame_after(&mut c, seen, Duration::from_secs(5)) {
                    return Err("no frame while warming up".into());
                }
            }
            let _ = c.dispatch_until("feedback", Duration::from_secs(2), |app| {
                app.feedback_log.iter().rev().take(1).any(|f| f.is_some())
            });
            let last = c
                .app
                .feedback_log
                .iter()
                .rev()
                .find_map(|f| *f)
                .ok_or("no presentation feedback")?;
            let refresh = u64::from(last.refresh_ns);
            if refresh == 0 {
                return Err("presentation feedback has no refresh".into());
            }
            let a = heap_buffer(&mut c, 0xffff_0000)?;
            let fence = sw.fence(1).map_err(e)?;
            drm.import_sync_file(tl, 5, &fence).map_err(e)?;
            w.surface.attach(Some(&a), 0, 0);
            w.surface.damage_buffer(0, 0, W, H);
            ss.set_acquire_point(&timeline, 0, 5);
            ss.set_release_point(&timeline, 0, 6);
            let committed = monotonic_ns();
            let seen = commit_frame(&mut c, &w);
            c.roundtrip().map_err(e)?;
            let deadline = sw
                .deadline(&fence)
                .map_err(e)?
                .ok_or("the acquire fence got no deadline")?;
            let p = last.time.as_nanos() as u64;
            let next_vblank = if committed <= p {
                p
            } else {
                p + (committed - p).div_ceil(refresh) * refresh
            };
            let off = deadline.abs_diff(next_vblank);
            sw.inc(1).map_err(e)?;
            if !frame_after(&mut c, seen, Duration::from_secs(10)) {
                return Err("no frame after the sw_sync fence signalled".into());
            }
            let report = format!(
                "{{\"ok\":{},\"test\":\"deadline\",\"deadline_after_commit_ms\":{:.3},\"next_vblank_after_commit_ms\":{:.3},\"deadline_minus_vblank_ms\":{:.3},\"refresh_ms\":{:.3}}}",
                off <= refresh,
                (deadline as f64 - committed as f64) / 1e6,
                (next_vblank as f64 - committed as f64) / 1e6,
                (deadline as f64 - next_vblank as f64) / 1e6,
                refresh as f64 / 1e6
            );
            if off > refresh {
                return Err(format!(
                    "deadline more than one refresh from the next vblank: {report}"
                ));
            }
            Ok(report)
        }
        other => Err(format!("unknown --syncobj-test {other}")),
    }
}
