//! The clipboard with Debian's wl-clipboard against headless Quay: `wl-copy`
//! sets a selection, `wl-paste` reads it back through Quay (the bytes travel
//! over a pipe from one process to the other), on the regular and the
//! primary selection, over data control (what wl-clipboard uses when the
//! compositor offers it, and what clipboard managers need): the globals
//! `wl_data_device_manager`, `zwp_primary_selection_device_manager_v1` and
//! `zwlr_data_control_manager_v1` (wl-clipboard 2.1 knows no
//! `ext_data_control_manager_v1`).

mod common;

use std::time::{Duration, Instant};

use common::{require, Quay, SMALL_CONFIG};

/// Run `wl-paste ARGS` until its output is `want` (the copying process may
/// not have set its selection yet) or 30 s pass; its last output and
/// protocol log.
fn paste_until(quay: &Quay, args: &[&str], want: &str) -> (String, String) {
    paste_until_with(quay, args, |out| out == want)
}

fn paste_until_with(quay: &Quay, args: &[&str], done: impl Fn(&str) -> bool) -> (String, String) {
    let paste = require("wl-paste", "wl-clipboard");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut c = quay.spawn_client(&paste, args, &[("WAYLAND_DEBUG", "client")]);
        common::wait_timeout(&mut c.child, Duration::from_secs(10)).expect("wl-paste finishes");
        let out = c.stop();
        if done(&out.stdout) || Instant::now() > deadline {
            return (out.stdout, out.stderr);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn wl_copy_and_wl_paste_round_trip_on_both_selections() {
    let copy = require("wl-copy", "wl-clipboard");
    let quay = Quay::start(SMALL_CONFIG);

    let regular = quay.spawn_client(&copy, &["--foreground", "quay clipboard 1"], &[]);
    let (text, log) = paste_until(&quay, &["--no-newline"], "quay clipboard 1");
    assert_eq!(text, "quay clipboard 1", "wl-paste's log:\n{log}");
    assert!(
        log.contains("zwlr_data_control_device_v1") || log.contains("ext_data_control_device_v1"),
        "wl-paste read it over data control:\n{log}"
    );

    // The primary selection is separate: the regular one is unchanged.
    let primary = quay.spawn_client(&copy, &["--foreground", "--primary", "quay primary"], &[]);
    let (text, log) = paste_until(&quay, &["--primary", "--no-newline"], "quay primary");
    assert_eq!(text, "quay primary", "{log}");
    let (text, _) = paste_until(&quay, &["--no-newline"], "quay clipboard 1");
    assert_eq!(text, "quay clipboard 1");

    // A new copy replaces the selection, and the old source is told
    // (`cancelled`): wl-copy exits on its own then.
    let mut regular = regular;
    let types = quay.spawn_client(
        &copy,
        &["--foreground", "--type", "text/x-quay-test", "typed"],
        &[],
    );
    let (text, log) = paste_until(&quay, &["--no-newline", "--type", "text/x-quay-test"], "typed");
    assert_eq!(text, "typed", "{log}");
    // Offered under the type asked for (wl-copy adds the text types too).
    let (list, _) = paste_until_with(&quay, &["--list-types"], |l| !l.is_empty());
    assert_eq!(list.lines().next(), Some("text/x-quay-test"), "{list}");
    let status = common::wait_timeout(&mut regular.child, Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "the replaced wl-copy exits by itself: {status:?}"
    );

    for c in [primary, types] {
        let out = c.stop();
        assert!(out.survived, "wl-copy kept serving: {}", out.stderr);
    }
    assert_eq!(quay.stat("clients_over_budget_total"), 0);
}

/// Drag and drop between two clients on a real socket (no Debian client
/// drags from the command line): the source client starts a drag on its
/// own button press with an icon, the pointer carries it to the other
/// client's window, which accepts, and the drop hands the data from one
/// process's pipe to the other; the icon is drawn at the pointer plus its
/// offset while the drag lasts and gone after the drop.
#[test]
fn drag_and_drop_carries_data_from_one_client_to_another_under_its_icon() {
    use quay_test_client::wayland_client::{protocol::wl_data_device_manager::DndAction, Proxy};
    use std::{io::Read, os::fd::AsFd};

    const MIME: &str = "text/plain;charset=utf-8";
    const GREEN: [u8; 4] = [0, 0xff, 0, 0xff];
    const BLUE: [u8; 4] = [0, 0, 0xff, 0xff];
    const RED: [u8; 4] = [0xff, 0, 0, 0xff];
    let quay = Quay::start(SMALL_CONFIG);
    let mut a = quay.client();
    let mut b = quay.client();
    let seat_a = a.seat.clone().expect("wl_seat");
    let _pointer = seat_a.get_pointer(&a.qh, ());
    let manager_a = a.data_device_manager.clone().expect("wl_data_device_manager");
    let device_a = manager_a.get_data_device(&seat_a, &a.qh, ());
    let seat_b = b.seat.clone().expect("wl_seat");
    let manager_b = b.data_device_manager.clone().expect("wl_data_device_manager");
    let _device_b = manager_b.get_data_device(&seat_b, &b.qh, ());
    let wa = a.window(120, 100, 0xff00ff00).unwrap();
    a.commit_and_wait_frame(&wa.surface).unwrap();
    let wb = b.window(100, 100, 0xff0000ff).unwrap();
    b.commit_and_wait_frame(&wb.surface).unwrap();
    let windows = quay.msg(&["windows"]);
    let at = |size: [i64; 2]| -> (i64, i64) {
        let w = windows
            .as_array()
            .expect("a window list")
            .iter()
            .find(|w| w["size"] == serde_json::json!(size))
            .unwrap_or_else(|| panic!("a {size:?} window in {windows}"));
        (
            w["location"][0].as_i64().unwrap(),
            w["location"][1].as_i64().unwrap(),
        )
    };
    let (ax, ay) = at([120, 100]);
    let (bx, by) = at([100, 100]);

    // A press on A's window: the serial A may start a drag with.
    let aid = wa.surface.id().protocol_id();
    quay.msg(&["pointer", &(ax + 60).to_string(), &(ay + 50).to_string()]);
    a.dispatch_until("pointer enter", Duration::from_secs(10), |app| {
        app.pointer_enters.iter().any(|(s, _)| *s == aid)
    })
    .unwrap();
    let stale = a.app.pointer_enters.last().map(|(_, s)| *s).unwrap();
    // Without a press, a drag is refused (smithay checks the serial against
    // the pointer's grab): nothing starts.
    let early = manager_a.create_data_source(&a.qh, ());
    device_a.start_drag(Some(&early), &wa.surface, None, stale);
    a.roundtrip().unwrap();
    assert_eq!(quay.stat("dnd_drags_total"), 0, "a drag without a press");
    quay.msg(&["button", "--press", "272"]);
    a.dispatch_until("button press", Duration::from_secs(10), |app| {
        !app.button_serials.is_empty()
    })
    .unwrap();
    let serial = *a.app.button_serials.last().unwrap();
    a.app.source_payload = b"dropped across".to_vec();
    let source = manager_a.create_data_source(&a.qh, ());
    source.offer(MIME.into());
    source.set_actions(DndAction::Copy);
    let icon = a.compositor.create_surface(&a.qh, ());
    device_a.start_drag(Some(&source), &wa.surface, Some(&icon), serial);
    // A 16x16 red icon centred on the pointer: offset (-8, -8).
    let icon_buffer = a.shm_buffer(
        16,
        16,
        0xffff0000,
        quay_test_client::wayland_client::protocol::wl_shm::Format::Xrgb8888,
    );
    icon.offset(-8, -8);
    icon.attach(Some(&icon_buffer), 0, 0);
    icon.damage_buffer(0, 0, 16, 16);
    icon.commit();
    a.roundtrip().unwrap();
    assert_eq!(quay.stat("dnd_drags_total"), 1);

    // Over B: B is entered with an offer of A's type and accepts it.
    let (px, py) = (bx + 50, by + 50);
    quay.msg(&["pointer", &px.to_string(), &py.to_string()]);
    b.dispatch_until("a drag enters", Duration::from_secs(10), |app| {
        app.dnd_offer.is_some() && app.dnd_events.contains(&format!("offer:{MIME}"))
    })
    .unwrap();
    let (offer, enter_serial) = b.app.dnd_offer.clone().unwrap();
    offer.accept(enter_serial, Some(MIME.into()));
    offer.set_actions(DndAction::Copy, DndAction::Copy);
    b.roundtrip().unwrap();
    // The source hears the chosen action. (Not `target`: smithay records
    // the accepted type without telling the source, smithay-0.7.0
    // src/wayland/selection/data_device/dnd_grab.rs:553.)
    a.dispatch_until("the source hears the action", Duration::from_secs(10), |app| {
        app.dnd_events.contains(&"source-action:1".into())
    })
    .unwrap_or_else(|e| panic!("{e}: A saw {:?}, B {:?}", a.app.dnd_events, b.app.dnd_events));
    // The icon at the pointer less 8: up and left of the pointer (the
    // theme's arrow is drawn down and right of it), B's blue around it.
    let (ix, iy) = ((px - 6) as u32, (py - 6) as u32);
    let shot = quay.screenshot_until(|s| s.pixel(ix, iy) == RED);
    assert_eq!(shot.pixel(ix, iy), RED, "the icon at the pointer");
    assert_eq!(
        shot.pixel((px - 10) as u32, (py - 10) as u32),
        BLUE,
        "B around the icon"
    );
    assert_eq!(
        shot.pixel((ax + 60) as u32, (ay + 50) as u32),
        GREEN,
        "A where the drag began"
    );

    // The drop: B reads the data from A through a pipe, then finishes.
    quay.msg(&["button", "--release", "272"]);
    b.dispatch_until("drop", Duration::from_secs(10), |app| {
        app.dnd_events.contains(&"drop".into())
    })
    .unwrap();
    let (read, write) = rustix::pipe::pipe().expect("pipe");
    offer.receive(MIME.into(), write.as_fd());
    drop(write);
    b.roundtrip().unwrap();
    a.dispatch_until("send", Duration::from_secs(10), |app| {
        app.dnd_events.contains(&format!("send:{MIME}"))
    })
    .unwrap();
    let mut got = String::new();
    std::fs::File::from(read).read_to_string(&mut got).unwrap();
    assert_eq!(got, "dropped across");
    offer.finish();
    offer.destroy();
    b.roundtrip().unwrap();
    a.dispatch_until("drop performed and finished", Duration::from_secs(10), |app| {
        app.dnd_events.contains(&"drop-performed".into()) && app.dnd_events.contains(&"finished".into())
    })
    .unwrap();
    assert!(
        !a.app.dnd_events.contains(&"cancelled".into()),
        "{:?}",
        a.app.dnd_events
    );
    assert_eq!(quay.stat("dnd_drops_total"), 1);
    let shot = quay.screenshot_until(|s| s.pixel(ix, iy) == BLUE);
    assert_eq!(shot.pixel(ix, iy), BLUE, "no icon after the drop");
}
