//! Debian's own clients against headless Quay: wayland-info,
//! weston-simple-shm and weston-simple-egl (Mesa llvmpipe over wl_shm). Each
//! runs as a real process; the tests read its protocol log
//! (`WAYLAND_DEBUG=client`) and Quay's screenshot.
//!
//! Not here: bookworm's weston-presentation-shm (weston 10) binds
//! `xdg_wm_base` at the advertised version but has no `configure_bounds`
//! listener, so it aborts ("listener function for opcode 2 of xdg_toplevel is
//! NULL") against any compositor offering xdg_wm_base ≥ 4, smithay's v6
//! included. Presentation feedback is covered by `tests/headless.rs`.

mod common;

use std::time::Duration;

use common::{require, Quay, BACKGROUND, SMALL_CONFIG};

/// Lines of a WAYLAND_DEBUG=client log that mean the compositor raised a
/// protocol error against the client.
fn protocol_errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("wl_display@1.error(") || l.contains("wl_display#1.error("))
        .collect()
}

fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn wayland_info_lists_required_globals() {
    let wayland_info = require("wayland-info", "wayland-utils");
    let quay = Quay::start(SMALL_CONFIG);
    let out = quay.spawn_client(&wayland_info, &[], &[("WAYLAND_DEBUG", "client")]);
    let mut out = out;
    let status =
        common::wait_timeout(&mut out.child, Duration::from_secs(30)).expect("wayland-info finishes");
    let res = out.stop();
    assert!(status.success(), "wayland-info failed: {}", res.stderr);
    let text = res.stdout;
    let version_of = |iface: &str| -> Option<u32> {
        text.lines()
            .find(|l| l.contains(&format!("'{iface}'")))
            .and_then(|l| {
                let v = l.split("version:").nth(1)?;
                v.trim().split(',').next()?.trim().parse().ok()
            })
    };
    assert_eq!(version_of("zwp_linux_dmabuf_v1"), Some(5), "{text}");
    for iface in ["wp_presentation", "xdg_wm_base", "wl_shm", "wp_viewporter"] {
        assert!(version_of(iface).is_some(), "{iface} missing:\n{text}");
    }
    // It asked for the v4+ default feedback and got a complete one.
    let log = &res.stderr;
    assert_eq!(count(log, "get_default_feedback("), 1, "{log}");
    for event in [
        "main_device(",
        "format_table(",
        "tranche_formats(",
        "tranche_done(",
        "feedback_v1@",
    ] {
        assert!(count(log, event) >= 1, "no {event} in wayland-info's log");
    }
    assert!(protocol_errors(log).is_empty());
}

#[test]
fn weston_simple_shm_and_egl_run_ten_seconds_and_show_pixels() {
    let shm = require("weston-simple-shm", "weston");
    let egl = require("weston-simple-egl", "weston");
    let quay = Quay::start(SMALL_CONFIG);
    let debug = [("WAYLAND_DEBUG", "client")];
    // The shm client maps first (at 0,0), the EGL one beside it.
    let shm_client = quay.spawn_client(&shm, &[], &debug);
    std::thread::sleep(Duration::from_secs(1));
    // llvmpipe: Mesa's software GL, presenting over wl_shm.
    let egl_client = quay.spawn_client(
        &egl,
        &[],
        &[("WAYLAND_DEBUG", "client"), ("LIBGL_ALWAYS_SOFTWARE", "1")],
    );
    std::thread::sleep(Duration::from_secs(10));
    let mut shm_client = shm_client;
    let mut egl_client = egl_client;
    assert!(shm_client.is_running(), "weston-simple-shm died early");
    assert!(egl_client.is_running(), "weston-simple-egl died early");
    let shot = quay.screenshot();
    let shm_res = shm_client.stop();
    let egl_res = egl_client.stop();

    for (name, res) in [("weston-simple-shm", &shm_res), ("weston-simple-egl", &egl_res)] {
        assert!(
            res.survived,
            "{name} exited on its own: {:?}\n{}",
            res.status, res.stderr
        );
        let errs = protocol_errors(&res.stderr);
        assert!(errs.is_empty(), "{name} got protocol errors: {errs:?}");
        let commits = count(&res.stderr, ".commit()");
        let frame_done = res
            .stderr
            .lines()
            .filter(|l| l.contains("wl_callback@") && l.contains(".done("))
            .count();
        assert!(commits >= 30, "{name} committed only {commits} frames in 10 s");
        assert!(
            frame_done >= 30,
            "{name} saw only {frame_done} frame callbacks in 10 s"
        );
    }
    // With no /dev/dri Mesa's llvmpipe presents through wl_shm; with a
    // device it may make dma-bufs, and Quay must not refuse those.
    let refused = egl_res
        .stderr
        .lines()
        .filter(|l| l.contains("zwp_linux_buffer_params_v1@") && l.contains(".failed("))
        .count();
    assert_eq!(refused, 0, "Quay refused dma-bufs Mesa made");

    // Pixels: weston-simple-shm paints a 250x250 window at (0,0) with an
    // opaque pattern; weston-simple-egl a 250x250 window at (32,32) whose
    // triangle covers its centre.
    let shm_painted = shot.count_not(0, 0, 250, 250, BACKGROUND);
    assert!(
        shm_painted > 250 * 250 / 2,
        "weston-simple-shm visible: {shm_painted} px"
    );
    let centre = shot.pixel(32 + 125, 32 + 125);
    assert_ne!(
        centre, BACKGROUND,
        "weston-simple-egl's triangle at its window centre"
    );
    // Outside both windows: background.
    assert_eq!(shot.pixel(600, 400), BACKGROUND);
}
