//! A Wayland client that shows a window made of real kernel dma-bufs.
//!
//!     quay-dmabuf-client [--source heap|udmabuf|shm] [--size WxH] [--color 0xAARRGGBB]
//!                        [--buffers K] [--distinct] [--frames N] [--linger-ms MS] [--fullscreen]
//!                        [--offset BYTES] [--stride BYTES] [--until-file PATH]
//!                        [--socket PATH] [--c2p-file PATH]
//!     quay-dmabuf-client --memhog-mib N [--memhog-secs S]
//!     quay-dmabuf-client --syncobj-test timeline|stall|deadline --drm-device PATH
//!     quay-dmabuf-client --probe-cursor-plane CARD
//!     quay-dmabuf-client --probe-crtc CARD
//!
//! Allocates one dma-buf, wraps it in K `wl_buffer`s (K params on the same
//! fd: the import cache's test case), shows them in a toplevel for N
//! frames, cycling the buffers, and prints one JSON line with what happened.
//! Exits 0 only if every buffer was `created` and every frame was presented.
//! `--source shm` uses wl_shm instead (for baselines against compositors
//! that cannot import a dma-heap buffer). The report includes steady fps and
//! commit-to-present latency (p50/p99, from wp_presentation) on the
//! client's CLOCK_MONOTONIC, the same clock the compositor stamps.
//! With `--fullscreen` the window asks for fullscreen and the buffers take
//! the size the compositor configures (a direct-scanout candidate); the
//! report's `zero_copy` counts frames presented with ZERO_COPY.
//! With `--c2p-file`, each frame's commit-to-present latency (ms, in commit
//! order, one per line) is written to PATH, for benchmarks that pool runs.
//! With `--linger-ms`, the window stays up that long after the last frame
//! (after printing `READY` on stderr), so a test can take a screenshot.
//! With `--offset`, the image starts BYTES into the dma-buf and the bytes
//! before it are magenta (0xffff00ff): a compositor that ignores or doubles
//! the offset shows magenta or fails the buffer.
//! With `--stride`, the params say that stride instead of width * 4 (the
//! memory is laid out for width * 4): a stride shorter than a row is a
//! buffer Quay must answer `failed`, with the reason `incomplete`.
//! With `--until-file`, the window keeps cycling its buffers after the N
//! frames until PATH exists (checked once per frame), so a test can decide
//! by events, not by a frame budget guessed for a slow machine, how long the
//! client keeps the compositor busy.
//! With `--distinct`, each of the K `wl_buffer`s gets its own dma-buf
//! (the import cache's eviction test: K imports, not one).
//! With `--cursor-color 0xAARRGGBB`, every wl_pointer.enter on the window
//! gets a 24x24 cursor surface of that colour (ARGB8888 shm, hotspot
//! (2, 3)), and `CURSOR <serial>` on stderr.
//! `--probe-cursor-plane` makes no Wayland connection: it reads back what
//! the card's cursor plane shows (`quay_test_client::plane_probe`);
//! `--probe-crtc` the mode of its first lit CRTC.
//! `--memhog-mib` makes no Wayland connection: it allocates N MiB and keeps
//! touching every page for S seconds (default 10), the bounded memory
//! pressure the VM suite's PSI case puts in a small cgroup.
//! Bad input to the compositor is not this tool's job; see the host tests.
#![allow(clippy::disallowed_macros)] // a CLI tool: its output is for the test script

use std::{os::fd::AsFd, path::PathBuf, process::ExitCode, time::Instant};

use quay_test_client::{
    dmabuf::{alloc, fill, fill_at, Source},
    wayland_client::Proxy,
    wayland_protocols::wp::linux_dmabuf::zv1::client::zwp_linux_buffer_params_v1::Flags,
    ParamsResult, TestClient,
};

const XRGB8888: u32 = 0x3432_5258;

struct Args {
    /// None: wl_shm.
    source: Option<Source>,
    w: i32,
    h: i32,
    color: u32,
    buffers: usize,
    frames: usize,
    linger_ms: u64,
    fullscreen: bool,
    distinct: bool,
    offset: u32,
    stride: Option<u32>,
    until_file: Option<PathBuf>,
    c2p_file: Option<PathBuf>,
    memhog: Option<(usize, u64)>,
    syncobj_test: Option<String>,
    drm_device: PathBuf,
    socket: PathBuf,
    cursor_color: Option<u32>,
    probe_cursor_plane: Option<PathBuf>,
    probe_crtc: Option<PathBuf>,
    /// Bind zwp_tablet_manager_v2 and keep the tablet events in this file
    /// (one per line, AppEvents::tablet's format), rewritten as they come.
    tablet_log: Option<PathBuf>,
    /// Bind zwp_pointer_gestures_v1 on a pointer of its own and keep the
    /// gesture events in this file (AppEvents::gestures' format).
    gesture_log: Option<PathBuf>,
    /// Be a uinput touchpad: GO,DONE (uinput::run_touchpad).
    uinput_touchpad: Option<String>,
    /// Be a uinput pen instead of a client: X,Y,GO,DONE (uinput::run).
    uinput_pen: Option<String>,
    /// Be a uinput keyboard pressing one chord: K1+K2+...,GO,DONE (uinput::run_keys).
    uinput_keys: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        source: Some(Source::DmaHeap),
        w: 256,
        h: 256,
        color: 0xff00_80ff,
        buffers: 1,
        frames: 60,
        linger_ms: 0,
        fullscreen: false,
        distinct: false,
        offset: 0,
        stride: None,
        until_file: None,
        c2p_file: None,
        memhog: None,
        syncobj_test: None,
        drm_device: PathBuf::from("/dev/dri/renderD128"),
        socket: PathBuf::new(),
        cursor_color: None,
        probe_cursor_plane: None,
        probe_crtc: None,
        tablet_log: None,
        uinput_pen: None,
        uinput_keys: None,
        gesture_log: None,
        uinput_touchpad: None,
    };
    let runtime = std::env::var("XDG_RUNTIME_DIR").map_err(|_| "XDG_RUNTIME_DIR unset")?;
    let display = std::env::var("WAYLAND_DISPLAY").unwrap_or_else(|_| "wayland-0".into());
    a.socket = PathBuf::from(runtime).join(display);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--source" => {
                a.source = match val()?.as_str() {
                    "heap" => Some(Source::DmaHeap),
                    "udmabuf" => Some(Source::Udmabuf),
                    "shm" => None,
                    s => return Err(format!("unknown source {s}")),
                }
            }
            "--size" => {
                let v = val()?;
                let (w, h) = v.split_once('x').ok_or("size is WxH")?;
                a.w = w.parse().map_err(|_| "bad width")?;
                a.h = h.parse().map_err(|_| "bad height")?;
            }
            "--color" => {
                let v = val()?;
                a.color = u32::from_str_radix(v.trim_start_matches("0x"), 16).map_err(|_| "bad color")?;
            }
            "--buffers" => a.buffers = val()?.parse().map_err(|_| "bad --buffers")?,
            "--frames" => a.frames = val()?.parse().map_err(|_| "bad --frames")?,
            "--linger-ms" => a.linger_ms = val()?.parse().map_err(|_| "bad --linger-ms")?,
            "--socket" => a.socket = PathBuf::from(val()?),
            "--fullscreen" => a.fullscreen = true,
            "--distinct" => a.distinct = true,
            "--offset" => a.offset = val()?.parse().map_err(|_| "bad --offset")?,
            "--stride" => a.stride = Some(val()?.parse().map_err(|_| "bad --stride")?),
            "--until-file" => a.until_file = Some(PathBuf::from(val()?)),
            "--c2p-file" => a.c2p_file = Some(PathBuf::from(val()?)),
            "--syncobj-test" => a.syncobj_test = Some(val()?),
            "--drm-device" => a.drm_device = PathBuf::from(val()?),
            "--probe-cursor-plane" => a.probe_cursor_plane = Some(PathBuf::from(val()?)),
            "--probe-crtc" => a.probe_crtc = Some(PathBuf::from(val()?)),
            "--tablet-log" => a.tablet_log = Some(PathBuf::from(val()?)),
            "--uinput-pen" => a.uinput_pen = Some(val()?),
            "--uinput-keys" => a.uinput_keys = Some(val()?),
            "--gesture-log" => a.gesture_log = Some(PathBuf::from(val()?)),
            "--uinput-touchpad" => a.uinput_touchpad = Some(val()?),
            "--cursor-color" => {
                let v = val()?;
                a.cursor_color = Some(
                    u32::from_str_radix(v.trim_start_matches("0x"), 16).map_err(|_| "bad --cursor-color")?,
                );
            }
            "--memhog-mib" => {
                let mib = val()?.parse().map_err(|_| "bad --memhog-mib")?;
                a.memhog = Some((mib, a.memhog.map_or(10, |m| m.1)));
            }
            "--memhog-secs" => {
                let secs = val()?.parse().map_err(|_| "bad --memhog-secs")?;
                a.memhog = Some((a.memhog.map_or(64, |m| m.0), secs));
            }
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("quay-dmabuf-client: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some((mib, secs)) = args.memhog {
        println!("{}", memhog(mib, secs));
        return ExitCode::SUCCESS;
    }
    // One mode per run: a uinput device, a KMS probe, a sync scenario, or
    // the client itself; each answers one JSON line.
    use quay_test_client::{plane_probe, sync_scenarios, uinput};
    let result = if let Some(spec) = &args.uinput_pen {
        uinput::run(spec)
    } else if let Some(spec) = &args.uinput_keys {
        uinput::run_keys(spec)
    } else if let Some(spec) = &args.uinput_touchpad {
        uinput::run_touchpad(spec)
    } else if let Some(card) = &args.probe_cursor_plane {
        plane_probe::probe_cursor_plane(card)
    } else if let Some(card) = &args.probe_crtc {
        plane_probe::probe_crtc(card)
    } else if let Some(name) = &args.syncobj_test {
        sync_scenarios::run(name, &args.socket, &args.drm_device)
    } else {
        run(&args)
    };
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{{\"ok\":false,\"error\":{e:?}}}");
            ExitCode::FAILURE
        }
    }
}

/// Allocate `mib` MiB and write every page of it, over and over, for `secs`.
fn memhog(mib: usize, secs: u64) -> String {
    let t0 = Instant::now();
    let mut mem: Vec<u8> = Vec::new();
    let mut passes = 0u64;
    while t0.elapsed().as_secs() < secs {
        if mem.len() < mib << 20 {
            mem.resize((mem.len() + (8 << 20)).min(mib << 20), 1);
        }
        for i in (0..mem.len()).step_by(4096) {
            mem[i] = mem[i].wrapping_add(1);
        }
        passes += 1;
    }
    format!(
        "{{\"ok\":true,\"memhog_mib\":{mib},\"passes\":{passes},\"secs\":{:.2}}}",
        t0.elapsed().as_secs_f64()
    )
}

/// Replace `path` with `lines`, one per line, at once (a reader polling it
/// never sees half of it).
fn write_lines(path: &std::path::Path, lines: &[String]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

fn now() -> std::time::Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn run(a: &Args) -> Result<String, String> {
    let t0 = Instant::now();
    // Lenient: the shm baseline also runs against weston, which lacks some of
    // the globals Quay's own tests insist on.
    let mut c = TestClient::connect_lenient(&a.socket).map_err(|e| e.to_string())?;
    let w = c
        .window_with(1, 1, a.color, a.fullscreen)
        .map_err(|e| e.to_string())?;
    let (width, height) = match c.app.toplevel_size.get(&w.toplevel.id().protocol_id()) {
        Some(&(cw, ch)) if a.fullscreen && cw > 0 && ch > 0 => (cw, ch),
        _ => (a.w, a.h),
    };
    let stride = width * 4;
    let size = (stride * height) as usize;
    let mut buffers = Vec::new();
    let mut ident = (0u64, 0u64);
    match a.source {
        Some(source) => {
            let total = a.offset as usize + size;
            let fill_one = |fd: &std::os::fd::OwnedFd| -> Result<(), String> {
                if a.offset == 0 {
                    return fill(fd, size, a.color).map_err(|e| e.to_string());
                }
                fill(fd, total, 0xffff_00ff).map_err(|e| e.to_string())?;
                fill_at(fd, total, a.offset as usize, size, a.color).map_err(|e| e.to_string())
            };
            let mut fd = alloc(source, total as u64).map_err(|e| e.to_string())?;
            fill_one(&fd)?;
            let st = rustix::fs::fstat(&fd).map_err(|e| e.to_string())?;
            ident = (st.st_dev, st.st_ino);
            for i in 0..a.buffers {
                if a.distinct && i > 0 {
                    fd = alloc(source, total as u64).map_err(|e| e.to_string())?;
                    fill_one(&fd)?;
                }
                let params = c.params();
                params.add(fd.as_fd(), 0, a.offset, a.stride.unwrap_or(stride as u32), 0, 0);
                params.create(width, height, XRGB8888, Flags::empty());
                match c.wait_params(&params).map_err(|e| e.to_string())? {
                    ParamsResult::Created(b) => buffers.push(b),
                    ParamsResult::Failed => return Err("params failed".into()),
                }
            }
        }
        None => {
            for _ in 0..a.buffers {
                let format = quay_test_client::wayland_client::protocol::wl_shm::Format::Xrgb8888;
                buffers.push(c.shm_buffer(width, height, a.color, format));
            }
        }
    }
    let cursor = a.cursor_color.map(|color| {
        let pointer = c.seat.as_ref().map(|seat| seat.get_pointer(&c.qh, ()));
        let surface = c.compositor.create_surface(&c.qh, ());
        let format = quay_test_client::wayland_client::protocol::wl_shm::Format::Argb8888;
        let buffer = c.shm_buffer(24, 24, color, format);
        surface.attach(Some(&buffer), 0, 0);
        surface.damage_buffer(0, 0, 24, 24);
        surface.commit();
        (pointer, surface, buffer)
    });
    let _tablet_seat = match a.tablet_log {
        Some(_) => Some(c.tablet_seat().map_err(|e| e.to_string())?),
        None => None,
    };
    if a.gesture_log.is_some() {
        c.pointer_gestures().map_err(|e| e.to_string())?;
    }
    let mut tablet_lines = 0;
    let mut gesture_lines = 0;
    let mut enters_seen = 0;
    let mut commits = Vec::with_capacity(a.frames);
    let t_frames = Instant::now();
    let mut i = 0;
    while i < a.frames || a.until_file.as_ref().is_some_and(|f| !f.exists()) {
        let b = &buffers[i % buffers.len()];
        w.surface.attach(Some(b), 0, 0);
        w.surface.damage_buffer(0, 0, width, height);
        let _fb = c.feedback(&w.surface);
        commits.push(now());
        c.commit_and_wait_frame(&w.surface).map_err(|e| e.to_string())?;
        if let Some((Some(pointer), surface, _)) = &cursor {
            if let Some(&(_, serial)) = c.app.pointer_enters.get(enters_seen..).and_then(|e| e.last()) {
                pointer.set_cursor(serial, Some(surface), 2, 3);
                eprintln!("CURSOR {serial}");
            }
            enters_seen = c.app.pointer_enters.len();
        }
        if let Some(path) = a
            .tablet_log
            .as_ref()
            .filter(|_| c.app.apps.tablet.len() != tablet_lines)
        {
            tablet_lines = c.app.apps.tablet.len();
            write_lines(path, &c.app.apps.tablet)?;
        }
        if let Some(path) = a
            .gesture_log
            .as_ref()
            .filter(|_| c.app.apps.gestures.len() != gesture_lines)
        {
            gesture_lines = c.app.apps.gestures.len();
            write_lines(path, &c.app.apps.gestures)?;
        }
        i += 1;
    }
    let frames = i;
    let frames_secs = t_frames.elapsed().as_secs_f64();
    // Let the last presentation feedback arrive.
    let _ = c.dispatch_until("feedback", std::time::Duration::from_secs(5), |app| {
        app.feedback_log.len() >= frames
    });
    // Feedbacks resolve in commit order: pair them up.
    let mut c2p: Vec<f64> = commits
        .iter()
        .zip(c.app.feedback_log.iter())
        .filter_map(|(commit, fb)| fb.map(|p| p.time.as_secs_f64() - commit.as_secs_f64()))
        .map(|s| s * 1000.0)
        .collect();
    if let Some(path) = &a.c2p_file {
        let lines: String = c2p.iter().map(|ms| format!("{ms:.3}\n")).collect();
        std::fs::write(path, lines).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    c2p.sort_by(f64::total_cmp);
    if a.linger_ms > 0 {
        eprintln!("READY");
        let until = Instant::now() + std::time::Duration::from_millis(a.linger_ms);
        let _ = c.dispatch_until("linger", std::time::Duration::from_millis(a.linger_ms), |_| {
            Instant::now() >= until
        });
    }
    let presented = c.app.presented.len();
    if presented == 0 {
        return Err("no frame was presented".into());
    }
    Ok(format!(
        "{{\"ok\":true,\"source\":\"{}\",\"st_dev\":{},\"st_ino\":{},\"buffers\":{},\"frames\":{},\"presented\":{},\"discarded\":{},\"releases\":{},\"zero_copy\":{},\"fps\":{:.2},\"c2p_p50_ms\":{:.2},\"c2p_p99_ms\":{:.2},\"secs\":{:.2}}}",
        a.source.map(|s| format!("{s:?}")).unwrap_or_else(|| "shm".into()),
        ident.0,
        ident.1,
        buffers.len(),
        frames,
        presented,
        c.app.discarded,
        c.app.buffer_releases,
        c.app.presented.iter().filter(|p| p.flags & 0x8 != 0).count(),
        frames as f64 / frames_secs,
        percentile(&c2p, 0.5),
        percentile(&c2p, 0.99),
        t0.elapsed().as_secs_f64()
    ))
}
