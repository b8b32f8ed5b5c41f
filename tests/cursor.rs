//! The pointer's cursor: a client's cursor surface (`wl_pointer.set_cursor`)
//! is drawn where the pointer is, less its hotspot, and follows it. Headless
//! has no input device; `quay msg pointer X Y` moves the pointer.

mod common;

use std::time::Duration;

use common::{Image, Quay, SMALL_CONFIG};
use quay_test_client::wayland_client::{protocol::wl_shm, Proxy};

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
    // Until the client sets one, the theme's default arrow is there.
    let shot = quay.screenshot_until(|s| s.count_not(48, 38, 16, 16, GREEN) > 0);
    assert!(
        shot.count_not(48, 38, 16, 16, GREEN) > 0,
        "the default arrow before the client's cursor"
    );

    // A 4x4 red cursor with its hotspot at (1, 1).
    let cursor = c.compositor.create_surface(&c.qh, ());
    let buffer = c.shm_buffer(4, 4, 0xffff0000, wl_shm::Format::Xrgb8888);
    cursor.attach(Some(&buffer), 0, 0);
    cursor.damage_buffer(0, 0, 4, 4);
    cursor.commit();
    pointer.set_cursor(serial, Some(&cursor), 1, 1);
    c.roundtrip().unwrap();
    let shot = quay.screenshot_until(|s| s.count_not(49, 39, 4, 4, RED) == 0);
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
    let shot = quay.screenshot_until(|s| s.count_not(119, 99, 4, 4, RED) == 0);
    assert_eq!(shot.count_not(119, 99, 4, 4, RED), 0, "moved to (119, 99)");
    assert_eq!(shot.count_not(49, 39, 4, 4, GREEN), 0, "gone from its old place");

    // Hidden: nothing drawn.
    pointer.set_cursor(serial, None, 0, 0);
    c.roundtrip().unwrap();
    let shot = quay.screenshot_until(|s| s.count_not(119, 99, 4, 4, GREEN) == 0);
    assert_eq!(shot.count_not(119, 99, 4, 4, GREEN), 0, "hidden");
}

/// The pixels of a `w`x`h` square at (x, y).
fn crop(s: &Image, x: u32, y: u32, w: u32, h: u32) -> Vec<[u8; 4]> {
    (y..y + h)
        .flat_map(|yy| (x..x + w).map(move |xx| (xx, yy)))
        .map(|(xx, yy)| s.pixel(xx, yy))
        .collect()
}

#[test]
fn the_theme_draws_the_default_cursor_and_named_shapes() {
    let quay = Quay::start(SMALL_CONFIG);
    let background = common::BACKGROUND;
    // No pointer motion yet: no cursor anywhere.
    let shot = quay.screenshot_until(|s| s.count_not(0, 0, s.width, s.height, background) == 0);
    assert_eq!(shot.count_not(0, 0, shot.width, shot.height, background), 0);

    // Over the background the theme's default arrow is drawn, hotspot at
    // the pointer (Adwaita's arrow: its tip is the hotspot).
    quay.msg(&["pointer", "300", "200"]);
    let arrow = quay.screenshot_until(|s| s.count_not(296, 196, 40, 40, background) > 0);
    let drawn = arrow.count_not(296, 196, 40, 40, background);
    assert!(drawn > 20, "the arrow's pixels near the pointer: {drawn}");
    assert_eq!(
        arrow.count_not(0, 0, 280, 180, background),
        0,
        "nothing elsewhere"
    );

    // A client over its window asks for a crosshair by name.
    let mut c = quay.client();
    let pointer = c.seat.as_ref().expect("wl_seat").get_pointer(&c.qh, ());
    let w = c.window(200, 150, 0xff00ff00).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let wid = w.surface.id().protocol_id();
    quay.msg(&["pointer", "100", "80"]);
    c.dispatch_until("wl_pointer.enter", Duration::from_secs(10), |app| {
        app.pointer_enters.iter().any(|(s, _)| *s == wid)
    })
    .unwrap();
    let serial = c.app.pointer_enters.last().unwrap().1;
    let shot = quay.screenshot_until(|s| s.count_not(80, 60, 40, 40, GREEN) > 0);
    let default_there = crop(&shot, 80, 60, 40, 40);
    assert!(
        shot.count_not(80, 60, 40, 40, GREEN) > 20,
        "the default arrow over the window"
    );

    let device = c
        .cursor_shape
        .as_ref()
        .expect("wp_cursor_shape_manager_v1")
        .get_pointer(&pointer, &c.qh, ());
    device.set_shape(
        serial,
        quay_test_client::wp_cursor_shape_device_v1::Shape::Crosshair,
    );
    c.roundtrip().unwrap();
    let cross = quay.screenshot_until(|s| crop(s, 80, 60, 40, 40) != default_there);
    assert_ne!(
        crop(&cross, 80, 60, 40, 40),
        default_there,
        "the crosshair is not the arrow"
    );
    assert!(
        cross.count_not(80, 60, 40, 40, GREEN) > 10,
        "the crosshair's pixels"
    );
}
