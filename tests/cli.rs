//! The `quay` binary as a user meets it: validate, backend choice, first
//! run, clean shutdown.

mod common;

use std::{process::Command, time::Duration};

use common::{quay_bin, Quay, SMALL_CONFIG};

fn quay(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(quay_bin());
    cmd.args(args).env_remove("WAYLAND_DISPLAY").env_remove("DISPLAY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run quay")
}

#[test]
fn validate_accepts_default_and_points_at_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, quay_config::DEFAULT_CONFIG).unwrap();
    let out = quay(&["validate", good.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "background = \"#000000\"\n\n[[headless.output]]\nwidth = 99999\nheight = 10\n",
    )
    .unwrap();
    let out = quay(&["validate", bad.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:4:9"), "names file, line and column: {err}");
    assert!(err.contains("not a valid size"), "{err}");
}

/// The host has no seat manager and no DRM device: the udev backend must
/// say so and exit, not panic. (It runs for real in the VM suite.)
#[test]
fn udev_backend_without_seat_or_gpu_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = quay(
        &["--backend", "udev", "--socket", "wl-udev"],
        &[
            ("XDG_RUNTIME_DIR", dir.path().to_str().unwrap()),
            ("LIBSEAT_BACKEND", "seatd"),
            ("SEATD_SOCK", "/nonexistent"),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("quay: no libseat session"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `--renderer gles` where no EGL vendor library loads (libglvnd told to
/// look for one that does not exist): Quay says GLES does not start and
/// exits, instead of drawing with pixman under a GLES label; `auto` falls
/// back to pixman and runs.
#[test]
fn an_explicit_gles_that_cannot_start_is_an_error_and_auto_falls_back() {
    let no_egl = ("__EGL_VENDOR_LIBRARY_FILENAMES", "/nonexistent/egl_vendor.json");
    let dir = tempfile::tempdir().unwrap();
    let out = quay(
        &[
            "--backend",
            "headless",
            "--renderer",
            "gles",
            "--socket",
            "wl-gles",
        ],
        &[("XDG_RUNTIME_DIR", dir.path().to_str().unwrap()), no_egl],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("renderer gles: GLES does not start"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let quay = Quay::start_with(
        SMALL_CONFIG,
        &["--backend", "headless", "--renderer", "auto"],
        &[no_egl],
    );
    assert_eq!(quay.msg(&["version"])["renderer"], "pixman");
}

#[test]
fn auto_without_display_is_headless_and_first_run_writes_config() {
    // No --config: the default path under XDG_CONFIG_HOME is written.
    let quay = Quay::start_with(SMALL_CONFIG, &["--backend", "auto"], &[]);
    assert_eq!(quay.msg(&["version"])["backend"], "headless");
    let mut quay = quay;
    let status = quay.terminate();
    assert!(status.success(), "SIGTERM ends Quay cleanly: {status}");

    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("rt");
    std::fs::create_dir(&runtime).unwrap();
    let cfg_home = dir.path().join("cfg");
    let mut child = Command::new(quay_bin())
        .args(["--backend", "auto", "--socket", "wl-first-run"])
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DISPLAY")
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_CONFIG_HOME", &cfg_home)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let written = cfg_home.join("quay/config.toml");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !runtime.join("quay.wl-first-run.sock").exists() {
        assert!(std::time::Instant::now() < deadline, "quay did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        std::fs::read_to_string(&written).unwrap(),
        quay_config::DEFAULT_CONFIG
    );
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let status = common::wait_timeout(&mut child, Duration::from_secs(20)).expect("exits on SIGINT");
    assert!(status.success());
    assert!(!runtime.join("wl-first-run").exists(), "wayland socket removed");
    assert!(
        !runtime.join("quay.wl-first-run.sock").exists(),
        "ipc socket removed"
    );
}

#[test]
fn explicit_bad_config_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[winit]\nwidht = 3\n").unwrap();
    let out = quay(
        &["--backend", "headless", "--config", bad.to_str().unwrap()],
        &[("XDG_RUNTIME_DIR", dir.path().to_str().unwrap())],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("widht") && err.contains("bad.toml:2:1"), "{err}");
}
