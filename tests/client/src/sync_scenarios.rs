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
//! - `errors`: every protocol error of `wp_linux_drm_syncobj_manager_v1`
//!   and `wp_linux_drm_syncobj_surface_v1`, each from a fresh connection,
//!   answered with the right code on the right interface, while a
//!   bystander window keeps getting frames.
//!
//! - `explicit`: `zwp_linux_explicit_synchronization_v1` with sw_sync
//!   fences: a commit whose acquire fence is unsignalled is held, the fence
//!   gets a deadline, signalling it applies the commit, the replaced
//!   buffer's release arrives; then the two errors that need a real fence
//!   (`duplicate_fence`, `unsupported_buffer`).
//!
//! - `share`: two clients show one kernel dma-buf (the import cache's
//!   cross-client case; not a sync test, but the same harness);
//!   `share-fullscreen` the same with both windows fullscreen and the
//!   dma-buf the output's size (a direct-scanout candidate).
//! - `screencopy`: zwlr_screencopy_v1 into a dma-heap buffer;
//!   `export-roundtrip`: zwlr_export_dmabuf_v1 and the export sent back
//!   (both in `crate::capture`).
//! - `implicit`: no explicit-sync protocol; a sw_sync write fence on the
//!   dma-buf holds the commit until it signals, and gets a deadline.
//!
//! - `fence-freeze`: a client's unsignalled fences in a dma-buf at
//!   `create` and on a buffer on screen never stop the compositor
//!   (`crate::trust`).
//!
//! - `held-flood`: commits held on points that never signal, in a loop,
//!   until the compositor's budget disconnects the client
//!   (`crate::trust`).
//!
//! - `churn`: many clients at once living and dying on real dma-bufs and
//!   syncobjs, in every way a client leaves ([`churn`]).
//!
//! Each prints one JSON line; an `Err` is a failed expectation.

use std::{os::fd::AsFd, path::Path, time::Duration};

use wayland_client::{protocol::wl_buffer::WlBuffer, Proxy};
use wayland_protocols::wp::{
    linux_dmabuf::zv1::client::zwp_linux_buffer_params_v1::Flags,
    linux_drm_syncobj::v1::client::wp_linux_drm_syncobj_manager_v1::WpLinuxDrmSyncobjManagerV1,
};

use crate::{
    dmabuf::{alloc, fill, Source},
    syncobj::{monotonic_ns, Drm, SwSync},
    ParamsResult, TestClient, Window,
};

pub(crate) const XRGB8888: u32 = 0x3432_5258;
/// The scenarios' window size.
pub(crate) const W: i32 = 128;
pub(crate) const H: i32 = 128;

pub(crate) fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

pub(crate) fn heap_buffer(c: &mut TestClient, color: u32) -> Result<WlBuffer, String> {
    heap_buffer_fd(c, color).map(|(b, _)| b)
}

fn heap_buffer_fd(c: &mut TestClient, color: u32) -> Result<(WlBuffer, std::os::fd::OwnedFd), String> {
    let stride = W * 4;
    let size = (stride * H) as usize;
    let fd = alloc(Source::DmaHeap, size as u64).map_err(e)?;
    fill(&fd, size, color).map_err(e)?;
    let params = c.params();
    params.add(fd.as_fd(), 0, 0, stride as u32, 0, 0);
    params.create(W, H, XRGB8888, Flags::empty());
    match c.wait_params(&params).map_err(e)? {
        ParamsResult::Created(b) => Ok((b, fd)),
        ParamsResult::Failed => Err("params failed".into()),
    }
}

/// Two clients (two connections) show the same kernel dma-buf: each makes
/// its own `wl_buffer` from the one fd. Prints READY and lingers 4 s with
/// both windows up, so a test can read the compositor's import counters.
fn share(socket: &Path, fullscreen: bool) -> Result<String, String> {
    let mut shared: Option<(std::os::fd::OwnedFd, i32, i32)> = None;
    let mut clients = Vec::new();
    for _ in 0..2 {
        let mut c = TestClient::connect_lenient(socket).map_err(e)?;
        let w = c.window_with(W, H, 0xff40_4040, fullscreen).map_err(e)?;
        let (bw, bh) = match c.app.toplevel_size.get(&w.toplevel.id().protocol_id()) {
            Some(&(cw, ch)) if fullscreen && cw > 0 && ch > 0 => (cw, ch),
            _ => (W, H),
        };
        let (fd, bw, bh) = match shared.take() {
            Some(s) => s,
            None => {
                let size = (bw * 4 * bh) as usize;
                let fd = alloc(Source::DmaHeap, size as u64).map_err(e)?;
                fill(&fd, size, 0xff20_c040).map_err(e)?;
                (fd, bw, bh)
            }
        };
        let params = c.params();
        params.add(fd.as_fd(), 0, 0, (bw * 4) as u32, 0, 0);
        params.create(bw, bh, XRGB8888, Flags::empty());
        let b = match c.wait_params(&params).map_err(e)? {
            ParamsResult::Created(b) => b,
            ParamsResult::Failed => return Err("params failed".into()),
        };
        w.surface.attach(Some(&b), 0, 0);
        w.surface.damage_buffer(0, 0, bw, bh);
        c.commit_and_wait_frame(&w.surface).map_err(e)?;
        clients.push((c, w, b));
        shared = Some((fd, bw, bh));
    }
    let Some((fd, _, _)) = shared else {
        return Err("no dma-buf".into());
    };
    #[allow(clippy::disallowed_macros)] // a marker for the VM case script
    {
        eprintln!("READY");
    }
    let until = std::time::Instant::now() + Duration::from_secs(4);
    for (c, _, _) in clients.iter_mut() {
        let _ = c.dispatch_until("a pause", Duration::from_secs(4), |_| {
            std::time::Instant::now() >= until
        });
    }
    let st = rustix::fs::fstat(&fd).map_err(e)?;
    Ok(format!(
        "{{\"ok\":true,\"test\":\"share\",\"clients\":2,\"st_dev\":{},\"st_ino\":{}}}",
        st.st_dev, st.st_ino
    ))
}

/// Implicit sync: an unsignalled sw_sync fence attached to the dma-buf as a
/// write fence holds the commit (no explicit-sync protocol in use), gets a
/// deadline through the sync_file Quay exports from the dma-buf, and
/// signalling it lets the commit apply.
fn implicit(socket: &Path) -> Result<String, String> {
    let sw = SwSync::open().map_err(|err| format!("sw_sync: {err}"))?;
    let mut c = TestClient::connect_lenient(socket).map_err(e)?;
    let w = c.window(W, H, 0xff40_4040).map_err(e)?;
    c.commit_and_wait_frame(&w.surface).map_err(e)?;
    let (a, fd) = heap_buffer_fd(&mut c, 0xffff_0000)?;
    let fence = sw.fence(1).map_err(e)?;
    crate::syncobj::attach_write_fence(&fd, &fence)
        .map_err(|err| format!("DMA_BUF_IOCTL_IMPORT_SYNC_FILE: {err}"))?;
    w.surface.attach(Some(&a), 0, 0);
    w.surface.damage_buffer(0, 0, W, H);
    let seen = commit_frame(&mut c, &w);
    if frame_after(&mut c, seen, Duration::from_secs(1)) {
        return Err("the commit applied while the dma-buf's write fence was unsignalled".into());
    }
    let deadline = sw.deadline(&fence).map_err(e)?;
    sw.inc(1).map_err(e)?;
    if !frame_after(&mut c, seen, Duration::from_secs(10)) {
        return Err("no frame within 10 s of signalling the implicit fence".into());
    }
    Ok(format!(
        "{{\"ok\":true,\"test\":\"implicit\",\"held_ms\":1000,\"deadline_set\":{}}}",
        deadline.is_some()
    ))
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

/// One bad request sequence and the error it must earn.
fn expect_error(
    socket: &Path,
    drm: &Drm,
    what: &str,
    interface: &str,
    code: u32,
    bad: impl FnOnce(&mut TestClient, &WpLinuxDrmSyncobjManagerV1, &Drm) -> Result<(), String>,
) -> Result<(), String> {
    let mut c = TestClient::connect_lenient(socket).map_err(e)?;
    let mgr = c.syncobj.clone().ok_or("no wp_linux_drm_syncobj_manager_v1")?;
    bad(&mut c, &mgr, drm)?;
    let err = match c.dispatch_until("a protocol error", Duration::from_secs(10), |_| false) {
        Err(crate::ClientError::Protocol(err)) => err,
        other => return Err(format!("{what}: expected a protocol error, got {other:?}")),
    };
    if err.code != code || err.object_interface != interface {
        return Err(format!(
            "{what}: got {}@{} code {}, want {interface} code {code}",
            err.object_interface, err.object_id, err.code
        ));
    }
    Ok(())
}

fn errors(socket: &Path, drm: &Drm) -> Result<String, String> {
    const MGR: &str = "wp_linux_drm_syncobj_manager_v1";
    const SURF: &str = "wp_linux_drm_syncobj_surface_v1";
    let mut bystander = TestClient::connect_lenient(socket).map_err(e)?;
    let bw = bystander.window(32, 32, 0xff00_ff00).map_err(e)?;
    let mut checked = 0;
    let mut check =
        |what: &str,
         interface: &str,
         code: u32,
         bad: &dyn Fn(&mut TestClient, &WpLinuxDrmSyncobjManagerV1, &Drm) -> Result<(), String>|
         -> Result<(), String> {
            expect_error(socket, drm, what, interface, code, |c, m, d| bad(c, m, d))?;
            // The bystander is not stalled by the other client's death.
            bystander.commit_and_wait_frame(&bw.surface).map_err(e)?;
            checked += 1;
            Ok(())
        };
    let timeline = |c: &mut TestClient, m: &WpLinuxDrmSyncobjManagerV1, d: &Drm| -> Result<_, String> {
        let h = d.create().map_err(e)?;
        Ok(m.import_timeline(d.export(h).map_err(e)?.as_fd(), &c.qh, ()))
    };
    check("surface_exists", MGR, 0, &|c, m, _| {
        let s = c.compositor.create_surface(&c.qh, ());
        let _a = m.get_surface(&s, &c.qh, ());
        let _b = m.get_surface(&s, &c.qh, ());
        Ok(())
    })?;
    check("invalid_timeline", MGR, 1, &|c, m, _| {
        let not_a_syncobj = crate::memfd(4096);
        let _t = m.import_timeline(not_a_syncobj.as_fd(), &c.qh, ());
        Ok(())
    })?;
    check("no_surface", SURF, 1, &|c, m, d| {
        let t = timeline(c, m, d)?;
        let s = c.compositor.create_surface(&c.qh, ());
        let ss = m.get_surface(&s, &c.qh, ());
        s.destroy();
        ss.set_acquire_point(&t, 0, 1);
        Ok(())
    })?;
    check("unsupported_buffer", SURF, 2, &|c, m, d| {
        let t = timeline(c, m, d)?;
        let s = c.compositor.create_surface(&c.qh, ());
        let ss = m.get_surface(&s, &c.qh, ());
        let b = c.shm_buffer(
            16,
            16,
            0xffffffff,
            wayland_client::protocol::wl_shm::Format::Xrgb8888,
        );
        s.attach(Some(&b), 0, 0);
        ss.set_acquire_point(&t, 0, 1);
        ss.set_release_point(&t, 0, 2);
        s.commit();
        Ok(())
    })?;
    check("no_buffer", SURF, 3, &|c, m, d| {
        let t = timeline(c, m, d)?;
        let s = c.compositor.create_surface(&c.qh, ());
        let ss = m.get_surface(&s, &c.qh, ());
        ss.set_acquire_point(&t, 0, 1);
        ss.set_release_point(&t, 0, 2);
        s.commit();
        Ok(())
    })?;
    check("no_acquire_point", SURF, 4, &|c, m, d| {
        let t = timeline(c, m, d)?;
        let s = c.compositor.create_surface(&c.qh, ());
        let ss = m.get_surface(&s, &c.qh, ());
        let b = heap_buffer(c, 0xffffffff)?;
        s.attach(Some(&b), 0, 0);
        ss.set_release_point(&t, 0, 2);
        s.commit();
        Ok(())
    })?;
    check("no_release_point", SURF, 5, &|c, m, d| {
        let t = timeline(c, m, d)?;
        let s = c.compositor.create_surface(&c.qh, ());
        let ss = m.get_surface(&s, &c.qh, ());
        let b = heap_buffer(c, 0xffffffff)?;
        s.attach(Some(&b), 0, 0);
        ss.set_acquire_point(&t, 0, 1);
        s.commit();
        Ok(())
    })?;
    check("conflicting_points", SURF, 6, &|c, m, d| {
        let t = timeline(c, m, d)?;
        let s = c.compositor.create_surface(&c.qh, ());
        let ss = m.get_surface(&s, &c.qh, ());
        let b = heap_buffer(c, 0xffffffff)?;
        s.attach(Some(&b), 0, 0);
        ss.set_acquire_point(&t, 0, 5);
        ss.set_release_point(&t, 0, 5);
        s.commit();
        Ok(())
    })?;
    Ok(format!(
        "{{\"ok\":true,\"test\":\"errors\",\"errors_checked\":{checked}}}"
    ))
}

fn explicit(socket: &Path) -> Result<String, String> {
    let sw = SwSync::open().map_err(|err| format!("sw_sync: {err}"))?;
    let mut c = TestClient::connect_lenient(socket).map_err(e)?;
    let es = c
        .explicit_sync
        .clone()
        .ok_or("the compositor offers no zwp_linux_explicit_synchronization_v1")?;
    let w = c.window(W, H, 0xff40_4040).map_err(e)?;
    c.commit_and_wait_frame(&w.surface).map_err(e)?;
    let ss = es.get_synchronization(&w.surface, &c.qh, ());
    let a = heap_buffer(&mut c, 0xffff_0000)?;
    let b = heap_buffer(&mut c, 0xff00_ff00)?;
    // Frame a: its fence signals later.
    let fence = sw.fence(1).map_err(e)?;
    w.surface.attach(Some(&a), 0, 0);
    w.surface.damage_buffer(0, 0, W, H);
    ss.set_acquire_fence(fence.as_fd());
    let rel_a = ss.get_release(&c.qh, ());
    let seen = commit_frame(&mut c, &w);
    if frame_after(&mut c, seen, Duration::from_secs(1)) {
        return Err("the commit applied before its acquire fence signalled".into());
    }
    let deadline = sw
        .deadline(&fence)
        .map_err(e)?
        .ok_or("the acquire fence got no deadline")?;
    let signalled_at = monotonic_ns();
    sw.inc(1).map_err(e)?;
    if !frame_after(&mut c, seen, Duration::from_secs(10)) {
        return Err("no frame within 10 s of signalling the acquire fence".into());
    }
    // Frame b, already-signalled fence: applies at once; a is released.
    let fence_b = sw.fence(2).map_err(e)?;
    sw.inc(1).map_err(e)?;
    w.surface.attach(Some(&b), 0, 0);
    w.surface.damage_buffer(0, 0, W, H);
    ss.set_acquire_fence(fence_b.as_fd());
    let rel_b = ss.get_release(&c.qh, ());
    let seen = commit_frame(&mut c, &w);
    if !frame_after(&mut c, seen, Duration::from_secs(10)) {
        return Err("an already-signalled fence held the commit".into());
    }
    let rel_a_id = rel_a.id().protocol_id();
    c.dispatch_until("a's release", Duration::from_secs(5), |app| {
        app.explicit_releases.iter().any(|(id, _)| *id == rel_a_id)
    })
    .map_err(|_| "the replaced buffer's release never came".to_string())?;

    // The errors that need a real fence, each on a fresh connection.
    let mut checked = 0;
    for (what, code) in [("duplicate_fence", 1u32), ("unsupported_buffer", 4)] {
        let mut bad = TestClient::connect_lenient(socket).map_err(e)?;
        let es = bad.explicit_sync.clone().ok_or("no explicit sync")?;
        let s = bad.compositor.create_surface(&bad.qh, ());
        let ss = es.get_synchronization(&s, &bad.qh, ());
        let f1 = sw.fence(10).map_err(e)?;
        if what == "duplicate_fence" {
            let f2 = sw.fence(11).map_err(e)?;
            ss.set_acquire_fence(f1.as_fd());
            ss.set_acquire_fence(f2.as_fd());
        } else {
            let shm = bad.shm_buffer(
                16,
                16,
                0xffff_ffff,
                wayland_client::protocol::wl_shm::Format::Xrgb8888,
            );
            s.attach(Some(&shm), 0, 0);
            ss.set_acquire_fence(f1.as_fd());
            s.commit();
        }
        match bad.dispatch_until("a protocol error", Duration::from_secs(10), |_| false) {
            Err(crate::ClientError::Protocol(err))
                if err.code == code && err.object_interface == "zwp_linux_surface_synchronization_v1" =>
            {
                checked += 1
            }
            other => return Err(format!("{what}: got {other:?}")),
        }
        // The first client is still served.
        w.surface.damage_buffer(0, 0, 1, 1);
        let _ = commit_frame(&mut c, &w);
        c.roundtrip().map_err(e)?;
    }
    // b is shown; attach(NULL) + commit: Quay no longer uses b, so b's release
    // comes (a client waiting for it to reuse b must not wait for ever).
    w.surface.attach(None, 0, 0);
    w.surface.commit();
    let rel_b_id = rel_b.id().protocol_id();
    c.dispatch_until("b's release after attach(NULL)", Duration::from_secs(5), |app| {
        app.explicit_releases.iter().any(|(id, _)| *id == rel_b_id)
    })
    .map_err(|_| "attach(NULL) + commit: the shown buffer's release never came".to_string())?;
    Ok(format!(
        "{{\"ok\":true,\"test\":\"explicit\",\"held_ms\":1000,\"deadline_after_signal_ms\":{:.3},\"errors_checked\":{checked},\"null_attach_released\":true}}",
        (deadline as f64 - signalled_at as f64) / 1e6
    ))
}

pub fn run(name: &str, socket: &Path, drm_path: &Path) -> Result<String, String> {
    if name == "explicit" {
        return explicit(socket);
    }
    if name == "implicit" {
        return implicit(socket);
    }
    if name == "fence-freeze" {
        return crate::trust::fence_freeze(socket);
    }
    if name == "share" {
        return share(socket, false);
    }
    if name == "share-fullscreen" {
        return share(socket, true);
    }
    if name == "screencopy" {
        return crate::capture::screencopy(socket, 0xff30_60c0);
    }
    if name == "export-roundtrip" {
        return crate::capture::export_roundtrip(socket, 8, 0xffc0_6030);
    }
    if name == "churn" {
        return churn(socket, drm_path);
    }
    if name == "held-flood" {
        return crate::trust::held_flood(socket, drm_path);
    }
    if name == "errors" {
        let drm = Drm::open(drm_path).map_err(|err| format!("{}: {err}", drm_path.display()))?;
        return errors(socket, &drm);
    }
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
    // Once a surface has a syncobj surface, every buffer it attaches must be
    // a dma-buf with both points (the protocol's no_acquire_point etc.).
    let syncobj_surface = |c: &TestClient| mgr.get_surface(&w.surface, &c.qh, ());
    match name {
        "timeline" => {
            let ss = syncobj_surface(&c);
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
            // b is shown; attach(NULL) + commit releases it: point 4 signals.
            if drm.wait(tl, 4, 0).map_err(e)? {
                return Err("release point 4 signalled while b is shown".into());
            }
            w.surface.attach(None, 0, 0);
            w.surface.commit();
            c.roundtrip().map_err(e)?;
            if !drm.wait(tl, 4, 5000).map_err(e)? {
                return Err("attach(NULL) + commit: release point 4 never signalled".into());
            }
            Ok(format!(
                "{{\"ok\":true,\"test\":\"timeline\",\"held_ms\":1000,\"presented_after_signal_ms\":{:.2},\"release_signalled\":true,\"null_attach_released\":true}}",
                presented_at.map_or(f64::NAN, |p| (p - signalled_at) as f64 / 1e6)
            ))
        }
        "held-exit" => {
            // The client's only window (so it has the keyboard focus) commits
            // a buffer whose acquire point never signals, and the client
            // exits with that commit held: Quay must drop the buffer, its
            // import and the syncobj with the surface.
            let ss = syncobj_surface(&c);
            let a = heap_buffer(&mut c, 0xff80_8000)?;
            w.surface.attach(Some(&a), 0, 0);
            w.surface.damage_buffer(0, 0, W, H);
            ss.set_acquire_point(&timeline, 0, 1);
            ss.set_release_point(&timeline, 0, 2);
            w.surface.commit();
            c.roundtrip().map_err(e)?;
            #[allow(clippy::disallowed_macros)] // a marker for the VM case script
            {
                eprintln!("STALLED");
            }
            let until = std::time::Instant::now() + Duration::from_secs(2);
            let _ = c.dispatch_until("a pause", Duration::from_secs(2), |_| {
                std::time::Instant::now() >= until
            });
            Ok("{\"ok\":true,\"test\":\"held-exit\"}".to_string())
        }
        "stall" => {
            let ss = syncobj_surface(&c);
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
            // A test script may look at the compositor now (its import of
            // the waiting buffer must be pinned).
            #[allow(clippy::disallowed_macros)] // a marker for the VM case script
            {
                eprintln!("STALLED");
            }
            let until = std::time::Instant::now() + Duration::from_secs(4);
            let _ = c.dispatch_until("a pause", Duration::from_secs(4), |_| {
                std::time::Instant::now() >= until
            });
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
            // A few plain frames (a new buffer each, so each is drawn and
            // presented): the client learns the output's vblanks.
            let shm = [
                c.shm_buffer(
                    W,
                    H,
                    0xff10_1010,
                    wayland_client::protocol::wl_shm::Format::Xrgb8888,
                ),
                c.shm_buffer(
                    W,
                    H,
                    0xff20_2020,
                    wayland_client::protocol::wl_shm::Format::Xrgb8888,
                ),
            ];
            for i in 0..6 {
                w.surface.attach(Some(&shm[i % 2]), 0, 0);
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
            let ss = syncobj_surface(&c);
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
            // The compositor handled the commit somewhere in [committed, processed].
            let processed = monotonic_ns();
            let deadline = sw
                .deadline(&fence)
                .map_err(e)?
                .ok_or("the acquire fence got no deadline")?;
            let p = last.time.as_nanos() as u64;
            let vblank_after = |t: u64| {
                if t <= p {
                    p
                } else {
                    p + (t - p).div_ceil(refresh) * refresh
                }
            };
            let (v_commit, v_processed) = (vblank_after(committed), vblank_after(processed));
            // The deadline is the next vblank the compositor can still make,
            // minus its render time: within one refresh of a vblank between
            // the commit and the moment it was handled.
            let ok = deadline + refresh >= v_commit && deadline <= v_processed + refresh;
            sw.inc(1).map_err(e)?;
            if !frame_after(&mut c, seen, Duration::from_secs(10)) {
                return Err("no frame after the sw_sync fence signalled".into());
            }
            let ms = |a: u64, b: u64| (a as f64 - b as f64) / 1e6;
            let report = format!(
                "{{\"ok\":{ok},\"test\":\"deadline\",\"deadline_after_commit_ms\":{:.3},\"handled_after_commit_ms\":{:.3},\"next_vblank_after_commit_ms\":{:.3},\"deadline_minus_vblank_ms\":{:.3},\"deadline_minus_vblank_after_handling_ms\":{:.3},\"refresh_ms\":{:.3}}}",
                ms(deadline, committed),
                ms(processed, committed),
                ms(v_commit, committed),
                ms(deadline, v_commit),
                ms(deadline, v_processed),
                refresh as f64 / 1e6
            );
            if !ok {
                return Err(format!(
                    "deadline not within one refresh of the next vblank: {report}"
                ));
            }
            Ok(report)
        }
        other => Err(format!("unknown --syncobj-test {other}")),
    }
}

/// `churn`: `QUAY_CHURN_CLIENTS` threads (default 8) for `QUAY_CHURN_SECS`
/// (default 20, and at least one life of each kind per thread), each living
/// client after client on real kernel objects:
/// a window of dma-heap buffers shown and cleanly destroyed; one whose last
/// commit waits on a syncobj acquire point that never signals, dropped with
/// it; params with a heap plane never created (dropped mid-import); a heap
/// buffer attached and the connection dropped before the commit; two
/// `wl_buffer`s on one dma-buf, dropped with everything alive; a
/// connection cut in the middle of a message. The compositor must serve
/// every one; what it holds afterwards is the VM case's check.
pub fn churn(socket: &Path, drm_path: &Path) -> Result<String, String> {
    let num = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let clients = num("QUAY_CHURN_CLIENTS", 8) as usize;
    let until = std::time::Instant::now() + Duration::from_secs(num("QUAY_CHURN_SECS", 20));
    let threads: Vec<_> = (0..clients)
        .map(|t| {
            let socket = socket.to_path_buf();
            let drm_path = drm_path.to_path_buf();
            std::thread::spawn(move || -> Result<[u64; 6], String> {
                let drm = Drm::open(&drm_path).map_err(|err| format!("{}: {err}", drm_path.display()))?;
                let mut lives = [0u64; 6];
                let mut round = t;
                // At least one life of each kind, however slow the machine.
                while std::time::Instant::now() < until || round < t + 6 * clients {
                    let kind = round % 6;
                    churn_life(&socket, &drm, kind)
                        .map_err(|err| format!("life {round} (kind {kind}): {err}"))?;
                    lives[kind] += 1;
                    round += clients;
                }
                Ok(lives)
            })
        })
        .collect();
    let mut lives = [0u64; 6];
    for t in threads {
        let l = t.join().map_err(|_| "a churn thread panicked".to_string())??;
        for (a, b) in lives.iter_mut().zip(l) {
            *a += b;
        }
    }
    Ok(format!(
        "{{\"ok\":true,\"test\":\"churn\",\"clients\":{clients},\"lives\":{},\"clean\":{},\"never_signalled\":{},\"mid_import\":{},\"attach_no_commit\":{},\"shared_dropped\":{},\"mid_message\":{}}}",
        lives.iter().sum::<u64>(),
        lives[0],
        lives[1],
        lives[2],
        lives[3],
        lives[4],
        lives[5]
    ))
}

fn churn_life(socket: &Path, drm: &Drm, kind: usize) -> Result<(), String> {
    use std::io::Write;
    if kind == 5 {
        let mut s = std::os::unix::net::UnixStream::connect(socket).map_err(e)?;
        let _ = s.write_all(&[1, 0, 0, 0, 1, 0]);
        return Ok(());
    }
    let mut c = TestClient::connect_lenient(socket).map_err(e)?;
    if kind == 2 {
        let fd = alloc(Source::DmaHeap, (W * H * 4) as u64).map_err(e)?;
        let p = c.params();
        p.add(fd.as_fd(), 0, 0, (W * 4) as u32, 0, 0);
        c.conn.flush().map_err(e)?;
        return Ok(());
    }
    let w = c.window(W, H, 0xff20_4060).map_err(e)?;
    c.commit_and_wait_frame(&w.surface).map_err(e)?;
    match kind {
        0 => {
            for color in [0xffff_0000u32, 0xff00_ff00] {
                let b = heap_buffer(&mut c, color)?;
                w.surface.attach(Some(&b), 0, 0);
                w.surface.damage_buffer(0, 0, W, H);
                c.commit_and_wait_frame(&w.surface).map_err(e)?;
            }
            w.toplevel.destroy();
            w.xdg_surface.destroy();
            w.surface.destroy();
            c.roundtrip().map_err(e)?;
        }
        1 => {
            let mgr = c.syncobj.clone().ok_or("no wp_linux_drm_syncobj_manager_v1")?;
            let tl = drm.create().map_err(e)?;
            let timeline = mgr.import_timeline(drm.export(tl).map_err(e)?.as_fd(), &c.qh, ());
            let ss = mgr.get_surface(&w.surface, &c.qh, ());
            let b = heap_buffer(&mut c, 0xff80_8000)?;
            w.surface.attach(Some(&b), 0, 0);
            w.surface.damage_buffer(0, 0, W, H);
            ss.set_acquire_point(&timeline, 0, 1);
            ss.set_release_point(&timeline, 0, 2);
            w.surface.commit();
            c.roundtrip().map_err(e)?;
            // Point 1 never signals; the client goes with its commit held.
        }
        3 => {
            let b = heap_buffer(&mut c, 0xff00_80ff)?;
            w.surface.attach(Some(&b), 0, 0);
            c.conn.flush().map_err(e)?;
        }
        _ => {
            let fd = alloc(Source::DmaHeap, (W * H * 4) as u64).map_err(e)?;
            fill(&fd, (W * H * 4) as usize, 0xff60_2080).map_err(e)?;
            let mut bufs = Vec::new();
            for _ in 0..2 {
                let p = c.params();
                p.add(fd.as_fd(), 0, 0, (W * 4) as u32, 0, 0);
                p.create(W, H, XRGB8888, Flags::empty());
                match c.wait_params(&p).map_err(e)? {
                    ParamsResult::Created(b) => bufs.push(b),
                    ParamsResult::Failed => return Err("a heap dma-buf was refused".into()),
                }
            }
            for b in &bufs {
                w.surface.attach(Some(b), 0, 0);
                w.surface.damage_buffer(0, 0, W, H);
                c.commit_and_wait_frame(&w.surface).map_err(e)?;
            }
        }
    }
    Ok(())
}
