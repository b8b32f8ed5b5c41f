//! Idle: Debian's swayidle against headless Quay over ext-idle-notify-v1
//! (`ext_idle_notifier_v1`),
//! woken by input (`quay msg pointer`), and held off by a client's
//! zwp_idle_inhibitor_v1 only while its surface is on screen.

mod common;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use common::{require, Quay, SMALL_CONFIG};

fn wait_for_file(path: &Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn swayidle_idles_wakes_on_input_and_an_inhibitor_holds_it_off() {
    let swayidle = require("swayidle", "swayidle");
    let quay = Quay::start(SMALL_CONFIG);
    let dir = quay.dir.path().to_owned();
    let (idle, resumed) = (dir.join("idle"), dir.join("resumed"));
    let idle_cmd = format!("touch {}", idle.display());
    let resume_cmd = format!("touch {}", resumed.display());
    let first = quay.spawn_client(
        &swayidle,
        &["-w", "timeout", "1", &idle_cmd, "resume", &resume_cmd],
        &[],
    );
    // No input at all: idle after a second.
    wait_for_file(&idle, "swayidle's timeout");
    assert!(!resumed.exists());
    // Input wakes it.
    quay.msg(&["pointer", "10", "10"]);
    wait_for_file(&resumed, "swayidle's resume after pointer motion");
    let out = first.stop();
    assert!(out.survived, "swayidle ran until stopped: {}", out.stderr);

    // A client inhibits idle on a surface nobody sees (never mapped): that
    // keeps nothing awake, and a swayidle's 1 s timeout fires.
    let mut c = quay.client();
    let hidden = c.compositor.create_surface(&c.qh, ());
    let hidden_inhibitor = c
        .idle_inhibit
        .as_ref()
        .expect("zwp_idle_inhibit_manager_v1")
        .create_inhibitor(&hidden, &c.qh, ());
    c.roundtrip().unwrap();
    let unseen = dir.join("unseen");
    let unseen_cmd = format!("touch {}", unseen.display());
    let third = quay.spawn_client(&swayidle, &["-w", "timeout", "1", &unseen_cmd], &[]);
    wait_for_file(&unseen, "swayidle's timeout beside an inhibitor nobody sees");
    drop(third);
    hidden_inhibitor.destroy();

    // A window on screen inhibits idle: a new swayidle's 1 s timeout does
    // not fire while the inhibitor lives, and fires once it is destroyed.
    let w = c.window(32, 32, 0xff00ff00).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let surface = w.surface.clone();
    let inhibitor = c
        .idle_inhibit
        .as_ref()
        .expect("zwp_idle_inhibit_manager_v1")
        .create_inhibitor(&surface, &c.qh, ());
    c.commit_and_wait_frame(&surface).unwrap();
    let held = dir.join("held");
    let held_cmd = format!("touch {}", held.display());
    let second = quay.spawn_client(
        &swayidle,
        &["-w", "timeout", "1", &held_cmd],
        &[("WAYLAND_DEBUG", "client")],
    );
    // Only a swayidle whose timeout is registered can show the inhibitor
    // holding it off: wait for its request (and the roundtrip after it)
    // before the 3 s of silence count.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(&second.err).unwrap_or_default();
        if let Some(at) = log.find("get_idle_notification") {
            if log[at..].contains("wl_callback") {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "swayidle never asked for its idle notification:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert!(!held.exists(), "idled while an inhibitor lives");
    inhibitor.destroy();
    c.roundtrip().unwrap();
    // smithay restarts the timers when inhibition ends.
    wait_for_file(&held, "swayidle's timeout after the inhibitor went");
    drop(second);
}
