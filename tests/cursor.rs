//! The pointer's cursor: a client's cursor surface (`wl_pointer.set_cursor`)
//! is drawn where the pointer is, less its hotspot, and follows it. Headless
//! has no input device; `quay msg pointer X Y` moves the pointer.

mod common;

use std::time::{Duration, Instant};

use common::{Image, Quay, SMALL_CONFIG};
use quay_test_client::wayland_client::{protocol::wl_shm, Proxy};

/// Screenshots until `ok` holds (headless shows a change at its next
/// frame tick), 30 s at most; the last one.
fn shot_until(quay: &Quay, ok: impl Fn(&Image) -> bool) -> Image {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shot = quay.screenshot();
        if ok(&shot) || Instant::now() > deadline {
            return shot;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const GREEN: [u8; 4] = [0, 0xff, 0, 0xff];
const RED: [u8; 4] = [0xff, 0, 0, 0xff];

#[test]
fn a_client_cursor_surface_is_drawn_at_the_pointer() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let pointer = c.seat.as_ref().expect("wl_seat").get_pointer(&c.qh, ());
    let w = c.window(200, 150, 0xff00ff00).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let wid = w.surface.id().protocol_id();

    let moved = quay.msg(&["pointer", "50", "40"]);
    assert_eq!(moved["focus"], wid, "the pointer is over the window: {moved}");
    c.dispatch_until("wl_pointer.enter", Duration::from_secs(10), |app| {
        app.pointer_enters.iter().any(|(s, _)| *s == wid)
    })
    .unwrap();
    let serial = c.app.pointer_enters.last().unwrap().1;
    assert_eq!(
        quay.screenshot().pixel(50, 40),
        GREEN,
        "no cursor drawn before one is set"
    );

    // A 4x4 red cursor with its hotspot at (1, 1).
    let cursor = c.compositor.create_surface(&c.qh, ());
    let buffer = c.shm_buffer(4, 4, 0xffff0000, wl_shm::Format::Xrgb8888);
    cursor.attach(Some(&buffer), 0, 0);
    cursor.damage_buffer(0, 0, 4, 4);
    cursor.commit();
    pointer.set_cursor(serial, Some(&cursor), 1, 1);
    c.roundtrip().unwrap();
    let shot = shot_until(&quay, |s| s.count_not(49, 39, 4, 4, RED) == 0);
    assert_eq!(
        shot.count_not(49, 39, 4, 4, RED),
        0,
        "the cursor's 4x4 pixels at (49, 39): {:?} {:?} {:?}",
        shot.pixel(49, 39),
        shot.pixel(50, 40),
        quay.stat("windows_live")
    );
    assert_eq!(shot.pixel(48, 40), GREEN);
    assert_eq!(shot.pixel(53, 40), GREEN);

    // It follows the pointer.
    quay.msg(&["pointer", "120", "100"]);
    let shot = shot_until(&quay, |s| s.count_not(119, 99, 4, 4, RED) == 0);
    assert_eq!(shot.count_not(119, 99, 4, 4, RED), 0, "moved to (119, 99)");
    assert_eq!(shot.count_not(49, 39, 4, 4, GREEN), 0, "gone from its old place");

    // Hidden: nothing drawn.
    pointer.set_cursor(serial, None, 0, 0);
    c.roundtrip().unwrap();
    let shot = shot_until(&quay, |s| s.count_not(119, 99, 4, 4, GREEN) == 0);
    assert_eq!(shot.count_not(119, 99, 4, 4, GREEN), 0, "hidden");
}
