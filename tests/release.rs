//! Every buffer gets its release: `wl_buffer.release` for an shm buffer
//! comes once Quay stops using it, whatever stops it. (The explicit-sync
//! releases are in `explicit_sync.rs`; syncobj release points are proven in
//! the VM's syncobj cases.)
//!
//! | what stops the use | case |
//! |---|---|
//! | the next commit attaches another buffer | `replaced` |
//! | the next commit attaches NULL | `attach_null` |
//! | the surface is destroyed | `surface_destroyed` |
//! | the window's role objects are destroyed | `role_destroyed` |
//! | the client never commits the attach | `never_committed` (nothing was used: no release; once the client leaves, Quay's fds, budgeted bytes and objects are back to where they were) |

mod common;

use std::time::Duration;

use common::{Quay, SMALL_CONFIG};
use quay_test_client::{
    wayland_client::{protocol::wl_shm::Format, Proxy},
    TestClient, Window,
};

fn shown(quay: &Quay) -> (TestClient, Window, u32) {
    let mut c = quay.client();
    let w = c.window(16, 16, 0xff00ff00).unwrap();
    let b = c.shm_buffer(16, 16, 0xff0000ff, Format::Xrgb8888);
    w.surface.attach(Some(&b), 0, 0);
    w.surface.damage_buffer(0, 0, 16, 16);
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.roundtrip().unwrap();
    let id = b.id().protocol_id();
    assert!(
        !c.app.released_buffers.contains(&id),
        "b is on screen: not released"
    );
    (c, w, id)
}

fn wait_release(c: &mut TestClient, id: u32, what: &'static str) {
    c.dispatch_until(what, Duration::from_secs(5), |app| {
        app.released_buffers.contains(&id)
    })
    .unwrap_or_else(|e| panic!("{what}: {e}; released: {:?}", c.app.released_buffers));
}

#[test]
fn replaced() {
    let quay = Quay::start(SMALL_CONFIG);
    let (mut c, w, id) = shown(&quay);
    let next = c.shm_buffer(16, 16, 0xffff0000, Format::Xrgb8888);
    w.surface.attach(Some(&next), 0, 0);
    w.surface.damage_buffer(0, 0, 16, 16);
    c.commit_and_wait_frame(&w.surface).unwrap();
    wait_release(&mut c, id, "release after replacement");
}

#[test]
fn attach_null() {
    let quay = Quay::start(SMALL_CONFIG);
    let (mut c, w, id) = shown(&quay);
    w.surface.attach(None, 0, 0);
    w.surface.commit();
    wait_release(&mut c, id, "release after attach(NULL)");
}

#[test]
fn surface_destroyed() {
    let quay = Quay::start(SMALL_CONFIG);
    let (mut c, w, id) = shown(&quay);
    w.toplevel.destroy();
    w.xdg_surface.destroy();
    w.surface.destroy();
    wait_release(&mut c, id, "release after the surface died");
}

#[test]
fn role_destroyed() {
    let quay = Quay::start(SMALL_CONFIG);
    let (mut c, w, id) = shown(&quay);
    // The window is unmapped; the wl_surface lives on.
    w.toplevel.destroy();
    w.xdg_surface.destroy();
    wait_release(&mut c, id, "release after the role objects died");
    // Quay's side: no window any more, and the role-less surface still
    // takes requests without an error.
    assert_eq!(quay.stat("windows_live"), 0);
    w.surface.commit();
    c.roundtrip().unwrap();
    assert!(c.conn.protocol_error().is_none());
}

#[test]
fn never_committed() {
    let quay = Quay::start(SMALL_CONFIG);
    let fds_before = quay.stat("fds_open");
    let (mut c, w, _) = shown(&quay);
    let pending = c.shm_buffer(16, 16, 0xffff00ff, Format::Xrgb8888);
    w.surface.attach(Some(&pending), 0, 0);
    c.roundtrip().unwrap();
    let id = pending.id().protocol_id();
    assert!(
        !c.app.released_buffers.contains(&id),
        "a buffer never committed was never used"
    );
    drop(c);
    // No leak: the client gone, Quay holds none of its fds, bytes or
    // objects (the pending buffer's pool included).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let held = || {
        (
            quay.stat("clients_live"),
            quay.stat("fds_open").saturating_sub(fds_before),
            quay.stat("session_fds_held"),
            quay.stat("session_bytes_held"),
            quay.stat("session_objects_held"),
        )
    };
    while held() != (0, 0, 0, 0, 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "after the client left, Quay still holds (clients, fds over the baseline, \
             budgeted fds, bytes, objects) = {:?}",
            held()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
