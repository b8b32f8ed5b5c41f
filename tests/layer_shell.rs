//! `zwlr_layer_shell_v1` with Debian's swaybg against headless Quay: the
//! background layer covers the whole output under the windows, and goes
//! when its client does.

mod common;

use common::{require, Quay, BACKGROUND, SMALL_CONFIG};

#[test]
fn swaybg_paints_the_background_under_windows() {
    let swaybg = require("swaybg", "swaybg");
    let quay = Quay::start(SMALL_CONFIG);
    const COLOUR: [u8; 4] = [0x33, 0x66, 0x99, 0xff];
    let mut bg = quay.spawn_client(&swaybg, &["-c", "#336699"], &[("WAYLAND_DEBUG", "client")]);
    let shot = quay.screenshot_until(|s| s.count_not(0, 0, s.width, s.height, COLOUR) == 0);
    assert!(bg.is_running(), "swaybg died");
    assert_eq!(
        shot.count_not(0, 0, shot.width, shot.height, COLOUR),
        0,
        "the whole 640x480 output is swaybg's colour"
    );

    // A window goes above the background layer.
    let mut c = quay.client();
    let w = c.window(64, 48, 0xff00ff00).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let shot = quay.screenshot_until(|s| s.pixel(10, 10) == [0, 0xff, 0, 0xff]);
    assert_eq!(
        shot.pixel(10, 10),
        [0, 0xff, 0, 0xff],
        "the window is drawn over the layer"
    );
    assert_eq!(shot.pixel(200, 200), COLOUR, "the background layer elsewhere");

    // swaybg gone: its layer goes with it, Quay's own background is back.
    let out = bg.stop();
    assert!(out.survived, "swaybg ran until stopped: {}", out.stderr);
    assert!(
        out.stderr.contains("zwlr_layer_surface_v1") && out.stderr.contains(".configure("),
        "swaybg got its layer surface configured:\n{}",
        out.stderr
    );
    let shot = quay.screenshot_until(|s| s.pixel(200, 200) == BACKGROUND);
    assert_eq!(shot.pixel(200, 200), BACKGROUND);
    assert_eq!(shot.pixel(10, 10), [0, 0xff, 0, 0xff]);
}

/// A panel on the top layer: it is called back for its frames like a
/// window (a GTK panel draws its next frame only then), the pointer over it
/// enters it and not the window beneath, and its keyboard interactivity
/// decides the keyboard: `on_demand` takes it when clicked, `exclusive`
/// takes it when it shows and keeps it through clicks on windows, `none`
/// gives it back. Before, a layer surface got no frame callbacks, no
/// pointer and no keyboard (WLCS's LayerSurfaceTest found it).
#[test]
fn a_top_layer_panel_gets_frames_pointer_and_the_keyboard_it_asks_for() {
    use quay_test_client::{wayland_client::Proxy, zwlr_layer_shell_v1, zwlr_layer_surface_v1};
    use std::time::Duration;
    use zwlr_layer_surface_v1::{Anchor, KeyboardInteractivity};

    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let seat = c.seat.clone().expect("wl_seat");
    let _pointer = seat.get_pointer(&c.qh, ());
    let _keyboard = seat.get_keyboard(&c.qh, ());
    // A window under where the panel goes.
    let w = c.window(200, 150, 0xff00ff00).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let wid = w.surface.id().protocol_id();
    c.dispatch_until("the window has the keyboard", Duration::from_secs(10), |app| {
        app.keyboard_focus.last() == Some(&(wid, true))
    })
    .unwrap();

    let shell = c.layer_shell.clone().expect("zwlr_layer_shell_v1");
    let surface = c.compositor.create_surface(&c.qh, ());
    let pid = surface.id().protocol_id();
    let layer = shell.get_layer_surface(
        &surface,
        None,
        zwlr_layer_shell_v1::Layer::Top,
        "panel".into(),
        &c.qh,
        (),
    );
    layer.set_size(0, 30);
    layer.set_anchor(Anchor::Top | Anchor::Left | Anchor::Right);
    layer.set_keyboard_interactivity(KeyboardInteractivity::OnDemand);
    surface.commit();
    let lid = layer.id().protocol_id();
    c.dispatch_until("the panel's configure", Duration::from_secs(10), |app| {
        app.layer_configures.iter().any(|(id, _)| *id == lid)
    })
    .unwrap();
    let serial = c
        .app
        .layer_configures
        .iter()
        .rev()
        .find(|(id, _)| *id == lid)
        .unwrap()
        .1;
    layer.ack_configure(serial);
    let buffer = c.shm_buffer(
        640,
        30,
        0xff0000ff,
        quay_test_client::wayland_client::protocol::wl_shm::Format::Xrgb8888,
    );
    surface.attach(Some(&buffer), 0, 0);
    // Called back, twice (the second frame is the one a panel that only
    // ever got one would wait for).
    c.commit_and_wait_frame(&surface)
        .expect("the panel's first frame callback");
    surface.damage_buffer(0, 0, 640, 30);
    c.commit_and_wait_frame(&surface)
        .expect("the panel's second frame callback");

    // The pointer over the panel (which covers the window's top): the panel.
    quay.msg(&["pointer", "20", "10"]);
    c.dispatch_until("the pointer enters the panel", Duration::from_secs(10), |app| {
        app.pointer_enters.last().map(|(s, _)| *s) == Some(pid)
    })
    .unwrap();
    // A click on it: on_demand takes the keyboard.
    quay.msg(&["button", "272"]);
    c.dispatch_until("the panel takes the keyboard", Duration::from_secs(10), |app| {
        app.keyboard_focus.last() == Some(&(pid, true))
    })
    .unwrap();
    // A click on the window: the keyboard goes back to it.
    quay.msg(&["pointer", "100", "100"]);
    quay.msg(&["button", "272"]);
    c.dispatch_until(
        "the window has the keyboard again",
        Duration::from_secs(10),
        |app| app.keyboard_focus.last() == Some(&(wid, true)),
    )
    .unwrap();

    // Exclusive: it takes the keyboard at once and keeps it through a click
    // on the window; none gives it back.
    layer.set_keyboard_interactivity(KeyboardInteractivity::Exclusive);
    surface.commit();
    c.dispatch_until("exclusive takes the keyboard", Duration::from_secs(10), |app| {
        app.keyboard_focus.last() == Some(&(pid, true))
    })
    .unwrap();
    quay.msg(&["button", "272"]);
    c.roundtrip().unwrap();
    assert_eq!(
        c.app.keyboard_focus.last(),
        Some(&(pid, true)),
        "exclusive keeps the keyboard"
    );
    layer.set_keyboard_interactivity(KeyboardInteractivity::None);
    surface.commit();
    c.dispatch_until("none gives the keyboard back", Duration::from_secs(10), |app| {
        app.keyboard_focus.last() == Some(&(wid, true))
    })
    .unwrap();
}

/// Anchors, margins and exclusive zones, and windows around them: a panel
/// anchored to the left edge, 50 wide, 10 from the edge, reserving its
/// width, is drawn there; a new window is placed right of it and a
/// maximized one fills what is left (60..640); when the panel goes, the
/// maximized window is given the whole output.
#[test]
fn a_panels_exclusive_zone_moves_windows_out_of_its_way() {
    use quay_test_client::{wayland_client::Proxy, zwlr_layer_shell_v1, zwlr_layer_surface_v1};
    use std::time::Duration;
    use zwlr_layer_surface_v1::Anchor;
    const WAIT: Duration = Duration::from_secs(10);
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let shell = c.layer_shell.clone().expect("zwlr_layer_shell_v1");
    let surface = c.compositor.create_surface(&c.qh, ());
    let layer = shell.get_layer_surface(
        &surface,
        None,
        zwlr_layer_shell_v1::Layer::Top,
        "dock".into(),
        &c.qh,
        (),
    );
    layer.set_size(50, 0);
    layer.set_anchor(Anchor::Left | Anchor::Top | Anchor::Bottom);
    layer.set_margin(0, 0, 0, 10);
    layer.set_exclusive_zone(50);
    surface.commit();
    let lid = layer.id().protocol_id();
    c.dispatch_until("the dock's configure", WAIT, |app| {
        app.layer_configures.iter().any(|(id, _)| *id == lid)
    })
    .unwrap();
    let serial = c
        .app
        .layer_configures
        .iter()
        .rev()
        .find(|(id, _)| *id == lid)
        .unwrap()
        .1;
    layer.ack_configure(serial);
    let buffer = c.shm_buffer(
        50,
        480,
        0xff0000ff,
        quay_test_client::wayland_client::protocol::wl_shm::Format::Xrgb8888,
    );
    surface.attach(Some(&buffer), 0, 0);
    c.commit_and_wait_frame(&surface).unwrap();
    let shot = quay.screenshot_until(|s| s.pixel(30, 240) == [0, 0, 0xff, 0xff]);
    assert_eq!(
        shot.pixel(30, 240),
        [0, 0, 0xff, 0xff],
        "the dock, 10 from the left edge"
    );
    assert_eq!(shot.pixel(5, 240), BACKGROUND, "the margin");
    assert_eq!(shot.pixel(62, 240), BACKGROUND, "right of the dock");

    let w = c.window(100, 80, 0xff00ff00).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let windows = quay.msg(&["windows"]);
    assert_eq!(
        windows[0]["location"],
        serde_json::json!([60, 0]),
        "placed right of the dock: {windows}"
    );

    let tid = w.toplevel.id().protocol_id();
    w.toplevel.set_maximized();
    c.dispatch_until("the maximize configure", WAIT, |app| {
        app.toplevel_size.get(&tid) == Some(&(580, 480))
    })
    .unwrap();

    layer.destroy();
    surface.destroy();
    c.dispatch_until("the whole output once the dock is gone", WAIT, |app| {
        app.toplevel_size.get(&tid) == Some(&(640, 480))
    })
    .unwrap();
}
