//! `zwp_pointer_constraints_v1` and `zwp_relative_pointer_manager_v1`
//! against a real client on a real socket: a lock holds the pointer while
//! relative motion still arrives, a confinement stops it at the edge of its
//! region, and both end when the pointer focus goes.

mod common;

use std::time::Duration;

use common::{Quay, SMALL_CONFIG};
use quay_test_client::{wayland_client::Proxy, zwp_pointer_constraints_v1::Lifetime};

#[test]
fn a_locked_pointer_stays_and_a_confined_one_keeps_to_its_region() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let pointer = c.seat.as_ref().expect("wl_seat").get_pointer(&c.qh, ());
    let relative = c
        .relative_pointer
        .as_ref()
        .expect("zwp_relative_pointer_manager_v1")
        .get_relative_pointer(&pointer, &c.qh, ());
    let w = c.window(200, 150, 0xff00ff00).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let wid = w.surface.id().protocol_id();
    quay.msg(&["pointer", "100", "80"]);
    c.dispatch_until("wl_pointer.enter", Duration::from_secs(10), |app| {
        app.pointer_enters.iter().any(|(s, _)| *s == wid)
    })
    .unwrap();

    // Relative motion without a constraint: the pointer moves too.
    let moved = quay.msg(&["pointer", "--relative", "10", "5"]);
    assert_eq!(
        (moved["x"].as_f64(), moved["y"].as_f64()),
        (Some(110.0), Some(85.0))
    );
    c.dispatch_until("relative motion", Duration::from_secs(10), |app| {
        app.relative_motions.contains(&(10.0, 5.0))
    })
    .unwrap();

    // Locked (the pointer is on the surface, so at once): relative motion
    // still arrives, the pointer stays.
    let constraints = c.pointer_constraints.clone().expect("zwp_pointer_constraints_v1");
    let lock = constraints.lock_pointer(&w.surface, &pointer, None, Lifetime::Persistent, &c.qh, ());
    c.dispatch_until("locked", Duration::from_secs(10), |app| {
        app.constraint_events.contains(&"locked")
    })
    .unwrap();
    let held = quay.msg(&["pointer", "--relative", "-30", "20"]);
    assert_eq!(
        (held["x"].as_f64(), held["y"].as_f64()),
        (Some(110.0), Some(85.0)),
        "{held}"
    );
    c.dispatch_until("relative motion while locked", Duration::from_secs(10), |app| {
        app.relative_motions.contains(&(-30.0, 20.0))
    })
    .unwrap();
    lock.destroy();
    c.roundtrip().unwrap();

    // Confined to a 50x50 region at (20, 20) of the window: motion inside
    // it moves the pointer, motion that would leave it does not.
    let region = c.compositor.create_region(&c.qh, ());
    region.add(20, 20, 50, 50);
    quay.msg(&["pointer", "40", "40"]);
    let confine = constraints.confine_pointer(
        &w.surface,
        &pointer,
        Some(&region),
        Lifetime::Persistent,
        &c.qh,
        (),
    );
    c.dispatch_until("confined", Duration::from_secs(10), |app| {
        app.constraint_events.contains(&"confined")
    })
    .unwrap();
    let inside = quay.msg(&["pointer", "--relative", "10", "10"]);
    assert_eq!(
        (inside["x"].as_f64(), inside["y"].as_f64()),
        (Some(50.0), Some(50.0)),
        "{inside}"
    );
    // Motion that would leave it stops at its edge (x 20 + 50 - 1).
    let out = quay.msg(&["pointer", "--relative", "100", "0"]);
    assert_eq!(
        (out["x"].as_f64(), out["y"].as_f64()),
        (Some(69.0), Some(50.0)),
        "{out}"
    );

    // An absolute move off the window ends the confinement.
    quay.msg(&["pointer", "400", "300"]);
    c.dispatch_until("unconfined", Duration::from_secs(10), |app| {
        app.constraint_events.contains(&"unconfined")
    })
    .unwrap();
    let free = quay.msg(&["pointer", "--relative", "10", "0"]);
    assert_eq!(free["x"].as_f64(), Some(410.0), "{free}");
    drop((relative, confine));
}

/// A confinement without a region keeps the pointer on the surface.
/// Deciding that used to lock the surface's state twice and deadlock
/// Quay's loop (WLCS's `PointerConstraints.confined_pointer_does_move`
/// found it): the replies below also prove the loop still runs.
#[test]
fn a_confinement_without_a_region_keeps_the_pointer_on_the_surface() {
    let quay = Quay::start(SMALL_CONFIG);
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
    let constraints = c
        .pointer_constraints
        .as_ref()
        .expect("zwp_pointer_constraints_v1");
    let confine = constraints.confine_pointer(&w.surface, &pointer, None, Lifetime::Persistent, &c.qh, ());
    c.dispatch_until("confined", Duration::from_secs(10), |app| {
        app.constraint_events.contains(&"confined")
    })
    .unwrap();
    let inside = quay.msg(&["pointer", "--relative", "10", "10"]);
    assert_eq!(
        (inside["x"].as_f64(), inside["y"].as_f64()),
        (Some(110.0), Some(90.0)),
        "{inside}"
    );
    // Off the 200x150 window: it stops at the window's right edge.
    let out = quay.msg(&["pointer", "--relative", "500", "0"]);
    assert_eq!(
        (out["x"].as_f64(), out["y"].as_f64()),
        (Some(199.0), Some(90.0)),
        "{out}"
    );
    c.roundtrip().unwrap();
    drop(confine);
}
