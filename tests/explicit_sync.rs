//! `zwp_linux_explicit_synchronization_v1` on the host, from a real client:
//! release events follow buffer replacement and surface death, and every
//! protocol error the host can provoke is answered with its code while a
//! bystander keeps its frames.
//!
//! The host kernel has no sync_file exporter (no DRM, no sw_sync), so the
//! two errors that need a valid fence (`duplicate_fence`,
//! `unsupported_buffer`) and the acquire-fence wait itself are the VM
//! suite's (`quay-explicit-sync-errors`, `quay-udev-virtio-simple-dmabuf-egl-explicit`).

mod common;

use std::{os::fd::AsFd, time::Duration};

use common::{error_of, Quay, SMALL_CONFIG};
use quay_test_client::{
    memfd,
    wayland_client::{protocol::wl_shm::Format, Proxy},
    TestClient,
};

const SURFACE_SYNC: &str = "zwp_linux_surface_synchronization_v1";

#[test]
fn release_events_follow_replacement_and_surface_death() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let es = c
        .explicit_sync
        .clone()
        .expect("zwp_linux_explicit_synchronization_v1 is offered");
    assert_eq!(
        c.global("zwp_linux_explicit_synchronization_v1")
            .map(|g| g.version),
        Some(2)
    );
    let w = c.window(32, 32, 0xffff0000).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let ss = es.get_synchronization(&w.surface, &c.qh, ());

    let a = c.shm_buffer(32, 32, 0xff00ff00, Format::Xrgb8888);
    w.surface.attach(Some(&a), 0, 0);
    w.surface.damage_buffer(0, 0, 32, 32);
    let rel_a = ss.get_release(&c.qh, ());
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.roundtrip().unwrap();
    assert!(c.app.explicit_releases.is_empty(), "a is shown: not released yet");

    // A commit without a new buffer does not release a.
    w.surface.damage_buffer(0, 0, 1, 1);
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.roundtrip().unwrap();
    assert!(c.app.explicit_releases.is_empty(), "a is still shown");

    let b = c.shm_buffer(32, 32, 0xff0000ff, Format::Xrgb8888);
    w.surface.attach(Some(&b), 0, 0);
    w.surface.damage_buffer(0, 0, 32, 32);
    let rel_b = ss.get_release(&c.qh, ());
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.roundtrip().unwrap();
    assert_eq!(
        c.app.explicit_releases,
        vec![(rel_a.id().protocol_id(), false)],
        "b replaced a: a's release is immediate (Quay reads on the CPU)"
    );

    // attach(NULL) + commit: b is no longer used, so its release comes
    // (a client waiting for it to reuse b must not wait for ever).
    w.surface.attach(None, 0, 0);
    w.surface.commit();
    let rel_b_id = rel_b.id().protocol_id();
    c.dispatch_until("b's release after attach(NULL)", Duration::from_secs(5), |app| {
        app.explicit_releases.iter().any(|(id, _)| *id == rel_b_id)
    })
    .unwrap();
    assert_eq!(
        c.app.explicit_releases,
        vec![(rel_a.id().protocol_id(), false), (rel_b_id, false)],
        "attaching NULL released b, once"
    );

    // The surface goes: nothing is released twice.
    ss.destroy();
    w.toplevel.destroy();
    w.xdg_surface.destroy();
    w.surface.destroy();
    c.roundtrip().unwrap();
    assert_eq!(c.app.explicit_releases.len(), 2);
}

/// A shown buffer's release also comes when its surface dies.
#[test]
fn release_comes_when_the_surface_dies() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let es = c.explicit_sync.clone().expect("explicit sync offered");
    let w = c.window(32, 32, 0xffff0000).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let ss = es.get_synchronization(&w.surface, &c.qh, ());
    let b = c.shm_buffer(32, 32, 0xff0000ff, Format::Xrgb8888);
    w.surface.attach(Some(&b), 0, 0);
    w.surface.damage_buffer(0, 0, 32, 32);
    let rel_b = ss.get_release(&c.qh, ());
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.roundtrip().unwrap();
    assert!(c.app.explicit_releases.is_empty(), "b is shown");
    ss.destroy();
    w.toplevel.destroy();
    w.xdg_surface.destroy();
    let rel_b_id = rel_b.id().protocol_id();
    w.surface.destroy();
    c.dispatch_until("b's release", Duration::from_secs(5), |app| {
        app.explicit_releases.iter().any(|(id, _)| *id == rel_b_id)
    })
    .unwrap();
}

#[test]
fn protocol_errors_the_host_can_provoke() {
    let quay = Quay::start(SMALL_CONFIG);
    let es = |c: &TestClient| c.explicit_sync.clone().expect("offered");

    // get_synchronization twice on one surface.
    let (code, iface) = error_of(&quay, |c| {
        let s = c.compositor.create_surface(&c.qh, ());
        let _a = es(c).get_synchronization(&s, &c.qh, ());
        let _b = es(c).get_synchronization(&s, &c.qh, ());
    });
    assert_eq!(
        (code, iface.as_str()),
        (0, "zwp_linux_explicit_synchronization_v1")
    );

    // A destroyed synchronization object frees the slot: no error then.
    {
        let mut c = quay.client();
        let s = c.compositor.create_surface(&c.qh, ());
        es(&c).get_synchronization(&s, &c.qh, ()).destroy();
        let _again = es(&c).get_synchronization(&s, &c.qh, ());
        c.roundtrip()
            .expect("a second object after destroying the first is fine");
    }

    // An fd that is not a sync_file.
    let (code, iface) = error_of(&quay, |c| {
        let s = c.compositor.create_surface(&c.qh, ());
        let ss = es(c).get_synchronization(&s, &c.qh, ());
        let fd = memfd(4096);
        ss.set_acquire_fence(fd.as_fd());
    });
    assert_eq!((code, iface.as_str()), (0, SURFACE_SYNC), "invalid_fence");

    // Two releases in one commit cycle.
    let (code, iface) = error_of(&quay, |c| {
        let s = c.compositor.create_surface(&c.qh, ());
        let ss = es(c).get_synchronization(&s, &c.qh, ());
        let _r1 = ss.get_release(&c.qh, ());
        let _r2 = ss.get_release(&c.qh, ());
    });
    assert_eq!((code, iface.as_str()), (2, SURFACE_SYNC), "duplicate_release");

    // The surface is gone.
    let (code, iface) = error_of(&quay, |c| {
        let s = c.compositor.create_surface(&c.qh, ());
        let ss = es(c).get_synchronization(&s, &c.qh, ());
        s.destroy();
        let _r = ss.get_release(&c.qh, ());
    });
    assert_eq!((code, iface.as_str()), (3, SURFACE_SYNC), "no_surface");

    // A release with no buffer attached.
    let (code, iface) = error_of(&quay, |c| {
        let s = c.compositor.create_surface(&c.qh, ());
        let ss = es(c).get_synchronization(&s, &c.qh, ());
        let _r = ss.get_release(&c.qh, ());
        s.commit();
    });
    assert_eq!((code, iface.as_str()), (5, SURFACE_SYNC), "no_buffer");

    // After all of that, Quay serves a new client as before.
    let mut c = quay.client();
    let w = c.window(16, 16, 0xff00ff00).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
}
