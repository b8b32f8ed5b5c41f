//! `startup = [...]`: commands run once Quay is up, through `sh -c`, with
//! this Quay's WAYLAND_DISPLAY and QUAY_SOCKET and the fd limit Quay was
//! started with; a real client started that way is served.

mod common;

use std::time::{Duration, Instant};

use common::{require, Quay, SMALL_CONFIG, SOCKET};

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn startup_commands_run_with_this_quays_environment() {
    let shm = require("weston-simple-shm", "weston");
    let dir = tempfile::tempdir().unwrap();
    let env_out = dir.path().join("env");
    let msg_out = dir.path().join("msg");
    let quay_bin = env!("CARGO_BIN_EXE_quay");
    let config = format!(
        "startup = [\n  'printf \"%s %s\" \"$WAYLAND_DISPLAY\" \"$(ulimit -n)\" > {env}.tmp && mv {env}.tmp {env}',\n  \
         '{quay_bin} msg version > {msg}.tmp && mv {msg}.tmp {msg}',\n  'exec {shm}',\n]\n{SMALL_CONFIG}",
        env = env_out.display(),
        msg = msg_out.display(),
        shm = shm.display(),
    );
    // Started with a soft fd limit under the hard one, as a login session
    // does: Quay raises its own, its children get 1024 back.
    let quay = Quay::start_with_pre_exec(&config, &["--backend", "headless"], &[], || {
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
        rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(1024),
                maximum: hard,
            },
        )
        .map_err(std::io::Error::from)
    });

    wait_for("the first command's output", || env_out.exists());
    let text = std::fs::read_to_string(&env_out).unwrap();
    let (display, nofile) = text.split_once(' ').expect("two words");
    assert_eq!(display, SOCKET, "WAYLAND_DISPLAY is this Quay's socket");
    assert_eq!(
        nofile, "1024",
        "the child's fd limit is the one Quay was started with"
    );
    let quay_limit = std::fs::read_to_string(format!("/proc/{}/limits", quay.child.id())).unwrap();
    let open_files = quay_limit
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert!(
        !open_files.contains(" 1024 "),
        "Quay raised its own: {open_files}"
    );

    // QUAY_SOCKET lets a child talk to Quay with `quay msg`.
    wait_for("quay msg from a startup command", || msg_out.exists());
    let version: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&msg_out).unwrap())
        .expect("quay msg version printed JSON");
    assert_eq!(version["backend"], "headless");

    // A client started by `startup` is served like any other.
    wait_for("weston-simple-shm's window", || quay.stat("windows_live") >= 1);
    assert!(quay.log_text().contains("started"), "Quay logs what it started");
}
