//! A hostile client's fences against a bystander, on real kernel objects
//! (`quay-dmabuf-client --syncobj-test fence-freeze`, in the VM: sw_sync
//! fences, dma-heap buffers).
//!
//! The attacker puts an unsignalled sw_sync fence into a dma-buf's implicit
//! write slot (`DMA_BUF_IOCTL_IMPORT_SYNC_FILE`) and
//! 1. creates a `wl_buffer` from it and commits it: `created` must come
//!    while the fence is still unsignalled (the compositor proved the fd a
//!    dma-buf without waiting on it), the commit is held, and once the fence
//!    signals the buffer is shown (its colour in a screencopy of the output);
//! 2. puts a second unsignalled fence on that buffer while it is on screen
//!    and asks for a screencopy of the output: it must be answered while
//!    the fence is still unsignalled.
//!
//! `held-flood` is the third attack: commits held on acquire points that
//! never signal, in a loop ([`held_flood`]).
//!
//! Meanwhile a bystander (its own connection, on its own thread) commits
//! and waits for frame callbacks. The result is ordering, not speed: each
//! answer must come before the fence it must not wait for is signalled, and
//! the bystander must get frame callbacks inside each hold. The longest
//! bystander gap and its 99th percentile are reported as information.

use std::{
    os::fd::AsFd,
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use wayland_client::{protocol::wl_shm, Proxy};
use wayland_protocols::wp::linux_dmabuf::zv1::client::zwp_linux_buffer_params_v1::Flags;

use crate::{
    dmabuf::{alloc, fill, Source},
    memfd,
    sync_scenarios::{e, XRGB8888},
    syncobj::{attach_write_fence, monotonic_ns, SwSync},
    ParamsResult, TestClient,
};

/// How long each fence is held unsignalled.
const HOLD: Duration = Duration::from_secs(4);
const W: i32 = 96;
const H: i32 = 96;
const RED: u32 = 0xffff_0000;

/// Frame-callback times of a bystander window, until `stop`.
fn bystander(socket: &Path, stop: Arc<AtomicBool>, times: Arc<Mutex<Vec<u64>>>) -> Result<(), String> {
    let mut c = TestClient::connect_lenient(socket).map_err(e)?;
    let w = c.window(32, 32, 0xff00_ff00).map_err(e)?;
    while !stop.load(Ordering::Relaxed) {
        c.commit_and_wait_frame(&w.surface).map_err(e)?;
        if let Ok(mut t) = times.lock() {
            t.push(monotonic_ns());
        }
    }
    Ok(())
}

/// Frame callbacks in `[from, to]` and the gaps between all of them.
fn frames_between(times: &[u64], from: u64, to: u64) -> usize {
    times.iter().filter(|&&t| t >= from && t <= to).count()
}

/// Count pixels of `color` in a screencopy of the whole output, into shm.
fn pixels_of(c: &mut TestClient, color: u32) -> Result<usize, String> {
    let mgr = c.screencopy.clone().ok_or("no zwlr_screencopy_manager_v1")?;
    let output = c.output.clone().ok_or("no wl_output")?;
    let frame = mgr.capture_output(0, &output, &c.qh, ());
    let id = frame.id().protocol_id();
    c.dispatch_until("screencopy buffer", Duration::from_secs(10), |app| {
        app.screencopy
            .get(&id)
            .is_some_and(|f| f.shm.is_some() && f.buffer_done)
    })
    .map_err(e)?;
    let (_, fw, fh, stride) = c.app.screencopy[&id].shm.ok_or("no buffer event")?;
    let size = (stride * fh) as usize;
    let fd = memfd(size as u64);
    let pool = c.shm.create_pool(fd.as_fd(), size as i32, &c.qh, ());
    let buffer = pool.create_buffer(
        0,
        fw as i32,
        fh as i32,
        stride as i32,
        wl_shm::Format::Xrgb8888,
        &c.qh,
        (),
    );
    pool.destroy();
    frame.copy(&buffer);
    c.dispatch_until("screencopy ready", Duration::from_secs(10), |app| {
        app.screencopy.get(&id).is_some_and(|f| f.ready || f.failed)
    })
    .map_err(e)?;
    if c.app.screencopy[&id].failed {
        return Err("the screencopy failed".into());
    }
    let mut bytes = vec![0u8; size];
    std::os::unix::fs::FileExt::read_exact_at(&std::fs::File::from(fd), &mut bytes, 0)
        .map_err(|err| format!("reading the capture: {err}"))?;
    let want = color & 0x00ff_ffff;
    Ok(bytes
        .chunks_exact(4)
        .filter(|px| u32::from_le_bytes([px[0], px[1], px[2], px[3]]) & 0x00ff_ffff == want)
        .count())
}

pub fn fence_freeze(socket: &Path) -> Result<String, String> {
    let sw = SwSync::open().map_err(|err| format!("sw_sync: {err}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let times = Arc::new(Mutex::new(Vec::new()));
    let by = {
        let (socket, stop, times) = (socket.to_path_buf(), stop.clone(), times.clone());
        std::thread::spawn(move || bystander(&socket, stop, times))
    };
    let result = attack(socket, &sw, &times);
    stop.store(true, Ordering::Relaxed);
    // Whatever happened, no fence of this test stays unsignalled.
    let _ = sw.inc(10);
    let by = by.join().map_err(|_| "the bystander panicked".to_string())?;
    let (a_frames, b_frames, created_ms, copy_ms, holds) = result?;
    by.map_err(|err| format!("bystander: {err}"))?;
    let times = times.lock().map_err(|_| "poisoned")?.clone();
    // The longest gap that ends inside a hold: what the attack cost.
    let in_holds = times
        .windows(2)
        .filter(|w| holds.iter().any(|&(from, to)| w[1] >= from && w[1] <= to))
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or(0) as f64
        / 1e6;
    let mut gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    let max = gaps.last().copied().unwrap_or(0) as f64 / 1e6;
    let p99 = gaps
        .get((gaps.len() * 99 / 100).min(gaps.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0) as f64
        / 1e6;
    Ok(format!(
        "{{\"ok\":true,\"test\":\"fence-freeze\",\"hold_ms\":{},\"created_after_ms\":{created_ms:.1},\"screencopy_after_ms\":{copy_ms:.1},\"bystander_frames_in_create_hold\":{a_frames},\"bystander_frames_in_screencopy_hold\":{b_frames},\"bystander_frames\":{},\"bystander_max_gap_ms\":{max:.1},\"bystander_max_gap_in_holds_ms\":{in_holds:.1},\"bystander_p99_gap_ms\":{p99:.1}}}",
        HOLD.as_millis(),
        times.len()
    ))
}

/// What [`attack`] saw: bystander frames in hold 1 and in hold 2, ms to
/// `created`, ms to the screencopy's `ready`, and the two holds (ns).
type Seen = (usize, usize, f64, f64, [(u64, u64); 2]);

/// Both attacks.
fn attack(socket: &Path, sw: &SwSync, times: &Mutex<Vec<u64>>) -> Result<Seen, String> {
    let mut c = TestClient::connect_lenient(socket).map_err(e)?;
    let w = c.window(W, H, 0xff40_4040).map_err(e)?;
    c.commit_and_wait_frame(&w.surface).map_err(e)?;
    let bystander_frames =
        |from: u64, to: u64| times.lock().map(|t| frames_between(&t, from, to)).unwrap_or(0);

    // 1. A fenced dma-buf at create.
    let stride = W * 4;
    let size = (stride * H) as usize;
    let fd = alloc(Source::DmaHeap, size as u64).map_err(e)?;
    fill(&fd, size, RED).map_err(e)?;
    let fence = sw.fence(1).map_err(e)?;
    attach_write_fence(&fd, &fence).map_err(|err| format!("DMA_BUF_IOCTL_IMPORT_SYNC_FILE: {err}"))?;
    let t0 = monotonic_ns();
    let params = c.params();
    params.add(fd.as_fd(), 0, 0, stride as u32, 0, 0);
    params.create(W, H, XRGB8888, Flags::empty());
    let buffer = match c.wait_params(&params) {
        Ok(ParamsResult::Created(b)) => b,
        Ok(ParamsResult::Failed) => return Err("the fenced dma-buf was answered failed".into()),
        Err(err) => {
            return Err(format!(
                "no answer to create while its fence was unsignalled ({err}): the compositor waited on it"
            ))
        }
    };
    let created_ms = (monotonic_ns() - t0) as f64 / 1e6;
    w.surface.attach(Some(&buffer), 0, 0);
    w.surface.damage_buffer(0, 0, W, H);
    let _cb = w.surface.frame(&c.qh, ());
    let seen = c.app.frame_done.len();
    w.surface.commit();
    if c.dispatch_until("a frame callback", Duration::from_secs(1), |app| {
        app.frame_done.len() > seen
    })
    .is_ok()
    {
        return Err("the commit applied while the dma-buf's write fence was unsignalled".into());
    }
    let left = HOLD.saturating_sub(Duration::from_nanos(monotonic_ns() - t0));
    std::thread::sleep(left);
    let t1 = monotonic_ns();
    let a_frames = bystander_frames(t0, t1);
    if a_frames == 0 {
        return Err(format!(
            "the bystander got no frame callback in the {} ms a fenced buffer was created and committed",
            (t1 - t0) / 1_000_000
        ));
    }
    sw.inc(1).map_err(e)?;
    c.dispatch_until("the held commit's frame", Duration::from_secs(20), |app| {
        app.frame_done.len() > seen
    })
    .map_err(|err| format!("after the fence signalled: {err}"))?;
    let red = pixels_of(&mut c, RED)?;
    if red < (W * H) as usize {
        return Err(format!(
            "after its fence signalled the buffer shows {red} red pixels, want {}",
            W * H
        ));
    }

    // 2. A fence on the buffer on screen, and a screencopy of the output.
    let fence2 = sw.fence(2).map_err(e)?;
    attach_write_fence(&fd, &fence2).map_err(|err| format!("DMA_BUF_IOCTL_IMPORT_SYNC_FILE: {err}"))?;
    let t2 = monotonic_ns();
    let red = pixels_of(&mut c, RED)
        .map_err(|err| format!("screencopy while a shown buffer's fence was unsignalled: {err}"))?;
    let copy_ms = (monotonic_ns() - t2) as f64 / 1e6;
    if red < (W * H) as usize {
        return Err(format!(
            "while its new fence was pending the shown buffer had {red} red pixels, want {}",
            W * H
        ));
    }
    let left = HOLD.saturating_sub(Duration::from_nanos(monotonic_ns() - t2));
    std::thread::sleep(left);
    let t3 = monotonic_ns();
    let b_frames = bystander_frames(t2, t3);
    if b_frames == 0 {
        return Err(format!(
            "the bystander got no frame callback in the {} ms a shown buffer's fence was pending",
            (t3 - t2) / 1_000_000
        ));
    }
    sw.inc(1).map_err(e)?;
    drop(fence);
    drop(fence2);
    Ok((a_frames, b_frames, created_ms, copy_ms, [(t0, t1), (t2, t3)]))
}

/// Commits held on acquire points that never signal, in a loop: each makes
/// the compositor hold fds (the wait's eventfd, the exported fence), so a
/// compositor that charges them to the client disconnects it with
/// `wl_display.error` `no_memory` long before the loop's end (any other end
/// fails). Reports how many commits that took.
pub fn held_flood(socket: &Path, drm_path: &Path) -> Result<String, String> {
    const MAX: u64 = 4000;
    let drm = crate::syncobj::Drm::open(drm_path).map_err(|err| format!("{}: {err}", drm_path.display()))?;
    let mut c = TestClient::connect_lenient(socket).map_err(e)?;
    let mgr = c
        .syncobj
        .clone()
        .ok_or("the compositor offers no wp_linux_drm_syncobj_manager_v1")?;
    let tl = drm.create().map_err(e)?;
    let timeline = mgr.import_timeline(drm.export(tl).map_err(e)?.as_fd(), &c.qh, ());
    let w = c.window(W, H, 0xff40_4040).map_err(e)?;
    c.commit_and_wait_frame(&w.surface).map_err(e)?;
    let ss = mgr.get_surface(&w.surface, &c.qh, ());
    let buffer = crate::sync_scenarios::heap_buffer(&mut c, RED)?;
    for i in 0..MAX {
        w.surface.attach(Some(&buffer), 0, 0);
        w.surface.damage_buffer(0, 0, W, H);
        let point = 1000 + 2 * i;
        ss.set_acquire_point(&timeline, (point >> 32) as u32, point as u32);
        ss.set_release_point(&timeline, ((point + 1) >> 32) as u32, (point + 1) as u32);
        w.surface.commit();
        if i % 32 == 31 {
            match c.roundtrip() {
                Ok(()) => {}
                // `wl_display.error` `no_memory` reaches a client as ENOMEM
                // (libwayland's display_handle_error; wayland-rs alike).
                Err(crate::ClientError::Io(m)) if m.contains("os error 12") => {
                    return Ok(format!(
                        "{{\"ok\":true,\"test\":\"held-flood\",\"commits_before_disconnect\":{}}}",
                        i + 1
                    ));
                }
                Err(err) => return Err(format!("after {} held commits: {err}", i + 1)),
            }
        }
    }
    Err(format!(
        "{MAX} commits held on points that never signal, and no budget error"
    ))
}
