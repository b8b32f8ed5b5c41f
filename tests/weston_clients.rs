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
    for iface in ["wp_presentation", "xdg_wm_base", "wl_shm", "wp_viewporter"] {
        assert!(version_of(iface).is_some(), "{iface} missing:\n{text}");
    }
    let log = &res.stderr;
    if quay::buffer::find_main_device().is_none() {
        // No DRM device to name: version 3, formats as `modifier` events,
        // and no feedback naming a device that does not exist.
        assert_eq!(version_of("zwp_linux_dmabuf_v1"), Some(3), "{text}");
        assert!(
            count(log, ".modifier(") >= 2,
            "no modifier events in wayland-info's log"
        );
        assert_eq!(count(log, "main_device("), 0, "{log}");
    } else {
        assert_eq!(version_of("zwp_linux_dmabuf_v1"), Some(5), "{text}");
        // It asked for the v4+ default feedback and got a complete one.
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
    }
    assert!(protocol_errors(log).is_empty());
}

/// weston-simple-shm and weston-simple-egl (llvmpipe) draw, are called back
/// for their frames and keep committing: each reaches 30 commits and 30
/// frame callbacks (waited for as events, under a cap only a hang reaches,
/// not counted over a fixed time a slow machine may not meet), and their
/// pixels are on screen.
#[test]
fn weston_simple_shm_and_egl_keep_drawing_and_show_pixels() {
    let shm = require("weston-simple-shm", "weston");
    let egl = require("weston-simple-egl", "weston");
    let quay = Quay::start(SMALL_CONFIG);
    let debug = [("WAYLAND_DEBUG", "client")];
    // The shm client maps first (at 0,0), the EGL one beside it.
    let mut shm_client = quay.spawn_client(&shm, &[], &debug);
    common::wait_for("weston-simple-shm's window", &quay, || {
        quay.stat("windows_live") == 1
    });
    // llvmpipe: Mesa's software GL, presenting over wl_shm.
    let mut egl_client = quay.spawn_client(
        &egl,
        &[],
        &[("WAYLAND_DEBUG", "client"), ("LIBGL_ALWAYS_SOFTWARE", "1")],
    );
    let frames = |path: &std::path::Path| {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        let done = log
            .lines()
            .filter(|l| l.contains("wl_callback@") && l.contains(".done("))
            .count();
        (count(&log, ".commit()"), done)
    };
    for (name, client) in [
        ("weston-simple-shm", &shm_client),
        ("weston-simple-egl", &egl_client),
    ] {
        common::wait_for_within(
            "30 commits and 30 frame callbacks",
            &quay,
            Duration::from_secs(120),
            || {
                let (commits, done) = frames(&client.err);
                commits >= 30 && done >= 30
            },
        );
        let (commits, done) = frames(&client.err);
        assert!(
            commits >= 30 && done >= 30,
            "{name}: {commits} commits, {done} callbacks"
        );
    }
    assert!(shm_client.is_running(), "weston-simple-shm died early");
    assert!(egl_client.is_running(), "weston-simple-egl died early");
    // Pixels: weston-simple-shm paints a 250x250 window at (0,0) with an
    // opaque pattern; weston-simple-egl a 250x250 window beside it whose
    // triangle covers its centre.
    let windows = quay.msg(&["windows"]);
    let egl_at = windows
        .as_array()
        .and_then(|w| w.iter().find(|w| w["title"] == "simple-egl"))
        .map(|w| {
            (
                w["location"][0].as_u64().unwrap_or(0) as u32,
                w["location"][1].as_u64().unwrap_or(0) as u32,
            )
        })
        .unwrap_or_else(|| panic!("no simple-egl window: {windows}"));
    assert_eq!(egl_at, (250, 0), "placed beside simple-shm: {windows}");
    let centre = (egl_at.0 + 125, egl_at.1 + 125);
    let shot = quay.screenshot_until(|s| {
        s.count_not(0, 0, 250, 250, BACKGROUND) > 250 * 250 / 2 && s.pixel(centre.0, centre.1) != BACKGROUND
    });
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
    }
    // With no /dev/dri Mesa's llvmpipe presents through wl_shm; with a
    // device it may make dma-bufs, and Quay must not refuse those.
    let refused = egl_res
        .stderr
        .lines()
        .filter(|l| l.contains("zwp_linux_buffer_params_v1@") && l.contains(".failed("))
        .count();
    assert_eq!(refused, 0, "Quay refused dma-bufs Mesa made");

    let shm_painted = shot.count_not(0, 0, 250, 250, BACKGROUND);
    assert!(
        shm_painted > 250 * 250 / 2,
        "weston-simple-shm visible: {shm_painted} px"
    );
    assert_ne!(
        shot.pixel(centre.0, centre.1),
        BACKGROUND,
        "weston-simple-egl's triangle at its window centre"
    );
    // Outside both windows: background.
    assert_eq!(shot.pixel(600, 400), BACKGROUND);
}
