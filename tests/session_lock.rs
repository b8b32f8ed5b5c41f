//! `ext_session_lock_v1` with Debian's swaylock against headless Quay with
//! two outputs: the lock covers both, takes the keyboard from the windows, keeps
//! screencopy (grim) from seeing them, stays after the locker is killed,
//! and a new locker takes over.

mod common;

use std::time::Duration;

use common::{require, Image, Quay, SMALL_CONFIG};
use quay_test_client::{ext_session_lock_v1, wayland_client::Proxy};

const GREEN: [u8; 4] = [0, 0xff, 0, 0xff];

/// SMALL_CONFIG with a second 640x480 output, beside the first: grim's
/// picture is both (1280x480), so "every pixel" means every output.
fn two_outputs() -> String {
    format!("{SMALL_CONFIG}[[headless.output]]\nname = \"HEADLESS-2\"\nwidth = 640\nheight = 480\nrefresh = 60.0\n")
}
const LOCKED: [u8; 4] = [0, 0, 0, 0xff];

fn all_of(s: &Image, colour: [u8; 4]) -> bool {
    s.count_not(0, 0, s.width, s.height, colour) == 0
}

fn grim_shot(quay: &Quay) -> Image {
    let grim = require("grim", "grim");
    let path = quay.dir.path().join("grim.png");
    let status = std::process::Command::new(grim)
        .arg(&path)
        .env("XDG_RUNTIME_DIR", &quay.runtime_dir)
        .env("WAYLAND_DISPLAY", common::SOCKET)
        .status()
        .expect("grim runs");
    assert!(status.success(), "grim failed: {status}");
    Image::load_rgb_or_rgba(&path)
}

#[test]
fn swaylock_covers_the_output_and_a_killed_locker_leaves_it_locked() {
    let swaylock = require("swaylock", "swaylock");
    let quay = Quay::start(&two_outputs());
    let mut c = quay.client();
    let _keyboard = c.seat.as_ref().expect("wl_seat").get_keyboard(&c.qh, ());
    let w = c.window(64, 48, 0xff00ff00).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let wid = w.surface.id().protocol_id();
    let shot = quay.screenshot_until(|s| s.pixel(10, 10) == GREEN);
    assert_eq!(shot.pixel(10, 10), GREEN);
    c.dispatch_until("keyboard enter", Duration::from_secs(10), |app| {
        app.keyboard_focus.last() == Some(&(wid, true))
    })
    .expect("the window has the keyboard");

    // swaylock -c: a lock surface of that colour on the output.
    const FIRST: [u8; 4] = [0x33, 0x66, 0x99, 0xff];
    let locker = quay.spawn_client(&swaylock, &["-c", "336699"], &[("WAYLAND_DEBUG", "client")]);
    let shot = quay.screenshot_until(|s| all_of(s, FIRST));
    assert!(
        all_of(&shot, FIRST),
        "every pixel is the lock's: {:?}",
        shot.pixel(10, 10)
    );
    assert_eq!(quay.stat("session_locks_total"), 1);
    c.dispatch_until("keyboard leave", Duration::from_secs(10), |app| {
        app.keyboard_focus.last() == Some(&(wid, false))
    })
    .expect("the window lost the keyboard");
    // Screencopy sees the lock, not the window, on both outputs.
    let g = grim_shot(&quay);
    assert_eq!((g.width, g.height), (1280, 480), "grim shows both outputs");
    assert!(
        all_of(&g, FIRST),
        "grim while locked: {:?} at (10, 10)",
        g.pixel(10, 10)
    );

    // Another client's lock is refused while swaylock holds the session, and
    // its unlock_and_destroy is a protocol error that unlocks nothing
    // (smithay alone would unlock: see src/lock.rs).
    let mut rogue = quay.client();
    let lock = rogue
        .session_lock
        .as_ref()
        .expect("the lock manager")
        .lock(&rogue.qh, ());
    let lock_id = lock.id().protocol_id();
    rogue
        .dispatch_until("finished", Duration::from_secs(10), |app| {
            app.lock_events.contains(&(lock_id, "finished"))
        })
        .expect("a second lock is answered finished");
    lock.unlock_and_destroy();
    let err = rogue.expect_protocol_error();
    assert_eq!(err.code, ext_session_lock_v1::Error::InvalidUnlock as u32);
    assert!(all_of(&quay.screenshot(), FIRST), "still locked by swaylock");

    // kill -9: the session stays locked, on the locked colour.
    let mut locker = locker;
    locker.child.kill().unwrap();
    let out = locker.stop();
    assert!(
        out.stderr.contains("ext_session_lock_v1") && out.stderr.contains(".locked("),
        "{}",
        out.stderr
    );
    let shot = quay.screenshot_until(|s| all_of(s, LOCKED));
    assert!(
        all_of(&shot, LOCKED),
        "locked colour after the locker died: {:?}",
        shot.pixel(10, 10)
    );
    let g = grim_shot(&quay);
    assert_eq!(
        g.count_not(0, 0, g.width, g.height, LOCKED),
        0,
        "grim after the locker died"
    );
    // A new window while locked does not get the keyboard or the screen.
    let w2 = c.window(32, 32, 0xff00ff00).unwrap();
    c.commit_and_wait_frame(&w2.surface).ok();
    c.roundtrip().unwrap();
    let w2id = w2.surface.id().protocol_id();
    assert!(
        !c.app.keyboard_focus.contains(&(w2id, true)),
        "no keyboard for a window mapped while locked: {:?}",
        c.app.keyboard_focus
    );
    assert!(all_of(&quay.screenshot(), LOCKED));

    // A new locker takes over.
    const SECOND: [u8; 4] = [0xaa, 0x55, 0x00, 0xff];
    let second = quay.spawn_client(&swaylock, &["-c", "aa5500"], &[]);
    let shot = quay.screenshot_until(|s| all_of(s, SECOND));
    assert!(
        all_of(&shot, SECOND),
        "the second locker's colour: {:?}",
        shot.pixel(10, 10)
    );
    assert_eq!(quay.stat("session_locks_total"), 2);
    let out = second.stop();
    assert!(out.survived, "swaylock ran until stopped");
    assert!(
        all_of(&quay.screenshot_until(|s| all_of(s, LOCKED)), LOCKED),
        "still locked"
    );
}

/// A client whose lock was refused (`finished`) asks for a lock surface on
/// that lock anyway, acks its configure and commits a buffer of the
/// output's size: nothing of it is shown, it never gets the keyboard, and
/// swaylock's lock stays on screen.
#[test]
fn a_refused_lock_shows_nothing_and_gets_no_keyboard() {
    let swaylock = require("swaylock", "swaylock");
    let quay = Quay::start(SMALL_CONFIG);
    const FIRST: [u8; 4] = [0x33, 0x66, 0x99, 0xff];
    let locker = quay.spawn_client(&swaylock, &["-c", "336699"], &[]);
    let shot = quay.screenshot_until(|s| all_of(s, FIRST));
    assert!(
        all_of(&shot, FIRST),
        "swaylock's colour: {:?}",
        shot.pixel(10, 10)
    );

    let mut rogue = quay.client();
    let _keyboard = rogue.seat.as_ref().expect("wl_seat").get_keyboard(&rogue.qh, ());
    let lock = rogue
        .session_lock
        .as_ref()
        .expect("the lock manager")
        .lock(&rogue.qh, ());
    let lock_id = lock.id().protocol_id();
    rogue
        .dispatch_until("finished", Duration::from_secs(10), |app| {
            app.lock_events.contains(&(lock_id, "finished"))
        })
        .expect("a second lock is answered finished");
    let surface = rogue.compositor.create_surface(&rogue.qh, ());
    let output = rogue.output.clone().expect("wl_output");
    let lock_surface = lock.get_lock_surface(&surface, &output, &rogue.qh, ());
    let ls_id = lock_surface.id().protocol_id();
    rogue
        .dispatch_until("the lock surface's configure", Duration::from_secs(10), |app| {
            app.lock_surface_configures.iter().any(|c| c.0 == ls_id)
        })
        .expect("a configure");
    let (_, serial, w, h) = *rogue
        .app
        .lock_surface_configures
        .iter()
        .find(|c| c.0 == ls_id)
        .unwrap();
    assert_eq!((w, h), (640, 480), "configured to the output's size");
    lock_surface.ack_configure(serial);
    let buffer = rogue.shm_buffer(
        640,
        480,
        0xff00ff00,
        quay_test_client::wayland_client::protocol::wl_shm::Format::Argb8888,
    );
    surface.attach(Some(&buffer), 0, 0);
    surface.damage_buffer(0, 0, 640, 480);
    surface.commit();
    rogue
        .roundtrip()
        .expect("no protocol error for a refused lock's surface");

    // Several frames later, swaylock's colour is still all there is, and the
    // rogue's surface never had the keyboard.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        let shot = quay.screenshot();
        assert!(
            all_of(&shot, FIRST),
            "a refused lock's surface was shown: {:?} at (10, 10)",
            shot.pixel(10, 10)
        );
    }
    assert!(
        all_of(&grim_shot(&quay), FIRST),
        "screencopy sees swaylock's lock only"
    );
    rogue.roundtrip().unwrap();
    let sid = surface.id().protocol_id();
    assert!(
        !rogue.app.keyboard_focus.iter().any(|f| f.0 == sid),
        "the refused lock's surface got the keyboard: {:?}",
        rogue.app.keyboard_focus
    );
    let out = locker.stop();
    assert!(out.survived, "swaylock ran until stopped");
}

/// The holder itself gets one lock surface per output: a second one for
/// the same output (through a second `wl_output` binding, which smithay's
/// own check does not catch) is `duplicate_output`.
#[test]
fn the_holder_gets_one_lock_surface_per_output() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let lock = c.session_lock.as_ref().expect("the lock manager").lock(&c.qh, ());
    let output = c.output.clone().expect("wl_output");
    let global = c.global("wl_output").expect("wl_output global").clone();
    let second: quay_test_client::wayland_client::protocol::wl_output::WlOutput =
        c.registry.bind(global.name, 1, &c.qh, ());
    let s1 = c.compositor.create_surface(&c.qh, ());
    let _ls1 = lock.get_lock_surface(&s1, &output, &c.qh, ());
    c.roundtrip().expect("the first lock surface is fine");
    let s2 = c.compositor.create_surface(&c.qh, ());
    let _ls2 = lock.get_lock_surface(&s2, &second, &c.qh, ());
    let err = c.expect_protocol_error();
    assert_eq!(err.code, ext_session_lock_v1::Error::DuplicateOutput as u32);
    assert_eq!(err.object_interface, "ext_session_lock_v1");
}
