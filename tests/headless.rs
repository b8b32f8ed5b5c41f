//! Headless Quay over a real socket with the pure-Rust test client:
//! globals, pixels, frame callbacks, presentation feedback.

mod common;

use std::time::Duration;

use common::{Quay, BACKGROUND, SMALL_CONFIG};
use quay_test_client::wayland_client::protocol::wl_shm;
use quay_test_client::{wayland_client::Proxy, Presented};

const RED: u32 = 0xffff0000;
const GREEN: u32 = 0xff00ff00;
const BLUE: u32 = 0xff0000ff;
const RED_RGBA: [u8; 4] = [0xff, 0, 0, 0xff];
const GREEN_RGBA: [u8; 4] = [0, 0xff, 0, 0xff];
const BLUE_RGBA: [u8; 4] = [0, 0, 0xff, 0xff];

#[test]
fn advertises_required_globals_with_versions() {
    let quay = Quay::start(SMALL_CONFIG);
    let client = quay.client();
    let want = [
        ("wl_compositor", 5),
        ("wl_subcompositor", 1),
        ("xdg_wm_base", 5),
        ("wl_shm", 1),
        ("wl_seat", 7),
        ("wl_output", 4),
        ("zxdg_output_manager_v1", 3),
        ("wp_viewporter", 1),
        ("wp_single_pixel_buffer_manager_v1", 1),
        ("wp_presentation", 1),
        ("zwp_linux_dmabuf_v1", 3),
    ];
    for (iface, min) in want {
        let g = client
            .global(iface)
            .unwrap_or_else(|| panic!("{iface} not advertised: {:?}", client.globals));
        assert!(g.version >= min, "{iface} version {} < {min}", g.version);
    }
    // 5 (with feedback) where there is a DRM device to name, else 3
    // (tests/dmabuf.rs).
    let dmabuf = client.global("zwp_linux_dmabuf_v1").unwrap().version;
    let want = if quay::buffer::find_main_device().is_some() {
        5
    } else {
        3
    };
    assert_eq!(dmabuf, want);
}

#[test]
fn a_new_window_is_placed_where_it_does_not_cover_the_last_one() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let w1 = c.window(200, 100, RED).unwrap();
    c.commit_and_wait_frame(&w1.surface).unwrap();
    let w2 = c.window(100, 100, GREEN).unwrap();
    c.commit_and_wait_frame(&w2.surface).unwrap();
    // One more frame so the screenshot holds both (frame callbacks fire after present).
    c.commit_and_wait_frame(&w2.surface).unwrap();

    let shot = quay.screenshot();
    assert_eq!((shot.width, shot.height), (640, 480));
    // The first window at the top left, the second beside it: both whole.
    assert_eq!(shot.count_not(0, 0, 200, 100, RED_RGBA), 0);
    assert_eq!(shot.count_not(200, 0, 100, 100, GREEN_RGBA), 0);
    assert_eq!(shot.pixel(300, 5), BACKGROUND);
    assert_eq!(shot.pixel(5, 100), BACKGROUND);
    assert_eq!(shot.pixel(639, 479), BACKGROUND);

    // No room to the right of the last (GREEN ends at x 300; 400 more do not
    // fit in 640): below it.
    let w3 = c.window(400, 100, BLUE).unwrap();
    c.commit_and_wait_frame(&w3.surface).unwrap();
    c.commit_and_wait_frame(&w3.surface).unwrap();
    let shot = quay.screenshot_until(|s| s.count_not(200, 100, 400, 100, BLUE_RGBA) == 0);
    assert_eq!(
        shot.count_not(200, 100, 400, 100, BLUE_RGBA),
        0,
        "below the last window"
    );
    assert_eq!(
        shot.count_not(200, 0, 100, 100, GREEN_RGBA),
        0,
        "the last window uncovered"
    );

    // Nowhere beside the last (BLUE) nor at the top left without covering
    // it: 32 px down and right of it, where it still fits.
    let w4 = c.window(300, 300, RED).unwrap();
    c.commit_and_wait_frame(&w4.surface).unwrap();
    let windows = quay.msg(&["windows"]);
    let sizes: Vec<_> = windows
        .as_array()
        .expect("a window list")
        .iter()
        .map(|w| (w["size"].clone(), w["location"].clone()))
        .collect();
    // Topmost first.
    assert_eq!(
        sizes,
        vec![
            (serde_json::json!([300, 300]), serde_json::json!([232, 132])),
            (serde_json::json!([400, 100]), serde_json::json!([200, 100])),
            (serde_json::json!([100, 100]), serde_json::json!([200, 0])),
            (serde_json::json!([200, 100]), serde_json::json!([0, 0])),
        ],
        "{windows}"
    );
}

#[test]
fn frame_callbacks_fire_once_per_presented_frame() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let w = c.window(64, 64, RED).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();

    // Ask for three callbacks in one commit: all fire with the same frame.
    let cbs: Vec<_> = (0..3).map(|_| w.surface.frame(&c.qh, ())).collect();
    w.surface.commit();
    c.dispatch_until("3 callbacks", Duration::from_secs(10), |app| {
        app.frame_done.len() >= 4
    })
    .unwrap();
    let times: Vec<u32> = c.app.frame_done[1..].iter().map(|(_, t)| *t).collect();
    assert_eq!(times.len(), 3);
    assert!(
        times.iter().all(|t| *t == times[0]),
        "one frame fires all pending callbacks: {times:?}"
    );
    drop(cbs);

    // A client that redraws on every callback advances once per frame:
    // callbacks ≤ frames presented in the same time, and their times increase.
    let before = quay.stat("frames_presented_total");
    let mut last = 0;
    for _ in 0..20 {
        let t = c.commit_and_wait_frame(&w.surface).unwrap();
        assert!(
            t > last || last == 0,
            "callback time did not advance: {t} after {last}"
        );
        last = t;
    }
    let frames = quay.stat("frames_presented_total") - before;
    assert!(
        frames >= 20,
        "20 callbacks need at least 20 presented frames, saw {frames}"
    );
}

/// A commit that damages a 20x10 rectangle of an opaque window draws those
/// 200 pixels and nothing else: no clear under an opaque buffer, no redraw
/// of the undamaged rest (the draw counters count what frames covered).
#[test]
fn a_small_damage_draws_only_its_pixels() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let w = c.window(100, 50, RED).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    // Settled: further frames have no damage.
    c.commit_and_wait_frame(&w.surface).unwrap();
    let before = quay.msg(&["stats"]);
    let buf = c.shm_buffer(100, 50, GREEN, wl_shm::Format::Xrgb8888);
    w.surface.attach(Some(&buf), 0, 0);
    w.surface.damage_buffer(10, 10, 20, 10);
    c.commit_and_wait_frame(&w.surface).unwrap();
    let after = quay.msg(&["stats"]);
    let delta = |k: &str| after[k].as_u64().unwrap() - before[k].as_u64().unwrap();
    assert_eq!(delta("pixels_textured_total"), 20 * 10, "{before} -> {after}");
    assert_eq!(
        delta("pixels_cleared_total"),
        0,
        "opaque: nothing cleared under it"
    );
    assert_eq!(delta("pixels_filled_total"), 0);
    assert!(delta("frames_drawn_total") >= 1);
}

#[test]
fn presentation_feedback_has_increasing_monotonic_timestamps() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    assert_eq!(
        c.app.presentation_clock,
        Some(libc_clock_monotonic()),
        "clock is CLOCK_MONOTONIC"
    );
    let w = c.window(64, 64, RED).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    for i in 0..10 {
        let buf = c.shm_buffer(64, 64, 0xff000000 | (i * 20), wl_shm::Format::Xrgb8888);
        w.surface.attach(Some(&buf), 0, 0);
        w.surface.damage_buffer(0, 0, 64, 64);
        let _fb = c.feedback(&w.surface);
        c.commit_and_wait_frame(&w.surface).unwrap();
    }
    c.dispatch_until("10 presented", Duration::from_secs(10), |app| {
        app.presented.len() >= 10
    })
    .unwrap();
    let p: &[Presented] = &c.app.presented;
    assert_eq!(c.app.discarded, 0);
    for pair in p.windows(2) {
        assert!(pair[1].time > pair[0].time, "timestamps increase: {pair:?}");
        assert!(pair[1].seq > pair[0].seq, "sequence increases: {pair:?}");
    }
    for e in p {
        assert_eq!(e.refresh_ns, 16_666_666, "60 Hz refresh");
        assert_eq!(e.flags & 1, 1, "vsync flag (paced by the frame clock)");
    }
    // Timestamps are on the client's CLOCK_MONOTONIC and recent.
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let now = Duration::new(now.tv_sec as u64, now.tv_nsec as u32);
    let last = p.last().unwrap().time;
    assert!(
        last <= now && now - last < Duration::from_secs(5),
        "last={last:?} now={now:?}"
    );
}

fn libc_clock_monotonic() -> u32 {
    1 // CLOCK_MONOTONIC on Linux
}

#[test]
fn subsurface_single_pixel_buffer_and_viewporter_compose() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let w = c.window(200, 200, RED).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();

    // A 1x1 blue single-pixel buffer scaled by a viewport to 50x40, as a
    // subsurface at (20, 30) of the window.
    let (sub_surface, sub) = c.subsurface(&w.surface);
    sub.set_position(20, 30);
    sub.set_desync();
    let vp = c.viewport(&sub_surface);
    vp.set_destination(50, 40);
    let blue = c
        .single_pixel
        .as_ref()
        .expect("Quay offers single-pixel buffers")
        .create_u32_rgba_buffer(0, 0, u32::MAX, u32::MAX, &c.qh, ());
    sub_surface.attach(Some(&blue), 0, 0);
    sub_surface.damage_buffer(0, 0, 1, 1);
    sub_surface.commit();
    w.surface.commit(); // applies the subsurface position
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();

    let shot = quay.screenshot();
    let blue_rgba = [0, 0, 0xff, 0xff];
    assert_eq!(
        shot.count_not(20, 30, 50, 40, blue_rgba),
        0,
        "viewported subsurface covers 50x40"
    );
    assert_eq!(shot.pixel(19, 30), RED_RGBA);
    assert_eq!(shot.pixel(70, 30), RED_RGBA);
    assert_eq!(shot.pixel(20, 70), RED_RGBA);
}

#[test]
fn stats_count_clients_and_windows_back_to_baseline() {
    let quay = Quay::start(SMALL_CONFIG);
    assert_eq!(quay.stat("clients_live"), 0);
    {
        let mut c = quay.client();
        let w = c.window(32, 32, RED).unwrap();
        c.commit_and_wait_frame(&w.surface).unwrap();
        let s = quay.msg(&["stats"]);
        assert_eq!(s["clients_live"], 1);
        assert_eq!(s["windows_live"], 1);
    }
    // The client is gone: wait for Quay to notice.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = quay.msg(&["stats"]);
        if s["clients_live"] == 0 && s["windows_live"] == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stats did not return to baseline: {s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn outputs_and_version_over_ipc() {
    let two = r#"
[[headless.output]]
name = "A"
width = 320
height = 240
[[headless.output]]
name = "B"
width = 200
height = 100
refresh = 30
"#;
    let quay = Quay::start(two);
    let v = quay.msg(&["version"]);
    assert_eq!(v["backend"], "headless");
    let outs = quay.msg(&["outputs"]);
    let outs = outs.as_array().unwrap();
    assert_eq!(outs.len(), 2);
    assert_eq!(outs[0]["name"], "A");
    assert_eq!(outs[1]["name"], "B");
    assert_eq!(outs[1]["location"], serde_json::json!([320, 0]));
    assert_eq!(outs[1]["refresh_mhz"], 30_000);
    // A screenshot of the second output has its size (once it has presented).
    common::wait_for("four frames presented", &quay, || {
        quay.stat("frames_presented_total") >= 4
    });
    let path = quay.dir.path().join("b.png");
    let r = quay.msg(&["screenshot", path.to_str().unwrap(), "--output", "B"]);
    assert_eq!(
        (r["width"].as_u64(), r["height"].as_u64()),
        (Some(200), Some(100))
    );
    let shot = common::Image::load(&path);
    assert_eq!(shot.pixel(0, 0), [0x1e, 0x1e, 0x2e, 0xff], "default background");
    // Both outputs' frames went through the one frame path: each output's
    // frame clock saw them rendered and (headless presents at render time)
    // presented, the same number in one reply.
    let outs = quay.msg(&["outputs"]);
    for o in outs.as_array().unwrap() {
        assert!(o["frames_rendered"].as_u64() >= Some(1), "{o}");
        assert_eq!(o["frames_presented"], o["frames_rendered"], "{o}");
    }
}

#[test]
fn fullscreen_request_gets_output_size_and_origin() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    // An ordinary window first, so a placed window would not be at the origin.
    let w0 = c.window(50, 50, GREEN).unwrap();
    c.commit_and_wait_frame(&w0.surface).unwrap();

    let surface = c.compositor.create_surface(&c.qh, ());
    let xdg = c.wm_base.get_xdg_surface(&surface, &c.qh, ());
    let toplevel = xdg.get_toplevel(&c.qh, ());
    toplevel.set_fullscreen(None);
    surface.commit();
    let id = xdg.id().protocol_id();
    c.dispatch_until("configure", Duration::from_secs(10), |app| {
        app.configures.contains_key(&id)
    })
    .unwrap();
    let size = c.app.toplevel_size[&toplevel.id().protocol_id()];
    assert_eq!(size, (640, 480), "fullscreen configure carries the output size");
    xdg.ack_configure(c.app.configures[&id]);
    let buf = c.shm_buffer(640, 480, RED, wl_shm::Format::Xrgb8888);
    surface.attach(Some(&buf), 0, 0);
    surface.damage_buffer(0, 0, 640, 480);
    c.commit_and_wait_frame(&surface).unwrap();
    c.commit_and_wait_frame(&surface).unwrap();
    let shot = quay.screenshot();
    assert_eq!(
        shot.count_not(0, 0, 640, 480, RED_RGBA),
        0,
        "fullscreen covers the output"
    );
}

/// `[memory]` reaches the import cache and `quay msg evict` answers. The
/// host has no dma-buf exporter, so nothing is imported here and nothing
/// can be evicted; eviction of real dma-bufs is the VM suite's
/// `quay-lru-budget` and `quay-lru-psi` cases.
#[test]
fn memory_budget_in_stats_and_evict_over_ipc() {
    let config = format!("{SMALL_CONFIG}\n[memory]\nbudget_mib = 3\nlow_water_percent = 50\n");
    let quay = Quay::start(&config);
    let s = quay.msg(&["stats"]);
    assert_eq!(s["budget_bytes"], 3 << 20, "{s}");
    for key in [
        "imported_bytes",
        "pinned_bytes",
        "evictions_total",
        "evicted_bytes_total",
        "reimports_total",
        "pressure_events_total",
    ] {
        assert_eq!(s[key], 0, "{key} in {s}");
    }
    let mut c = quay.client();
    let w = c.window(32, 32, RED).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let e = quay.msg(&["evict"]);
    assert_eq!(
        e["evicted_bytes"], 0,
        "shm is read in place: nothing to evict: {e}"
    );
    // The window still draws after an eviction request.
    c.commit_and_wait_frame(&w.surface).unwrap();
    assert_eq!(quay.stat("evictions_total"), 0);
}

/// Every counter `quay msg stats` promises is there on every backend; the
/// KMS ones are 0 without KMS (nothing to make a framebuffer for, nothing
/// exported). Their real values are the VM suite's (`70-kms.sh`).
#[test]
fn stats_have_import_kms_export_and_capture_counters() {
    let quay = Quay::start(SMALL_CONFIG);
    let s = quay.msg(&["stats"]);
    for key in [
        "imports_total",
        "import_cache_hits",
        "dmabufs_live",
        "framebuffers_live",
        "framebuffers_live_peak",
        "gem_handles_live",
        "framebuffers_total",
        "framebuffer_cache_hits",
        "gem_handle_shared_total",
        "gem_prime_imports_total",
        "export_dmabuf_frames_total",
        "exports_total",
        "export_cache_hits",
        "export_roundtrips_total",
        "screencopy_frames_total",
        "screencopy_dmabuf_frames_total",
        "screencopy_failed_total",
    ] {
        assert_eq!(s[key], 0, "{key} in {s}");
    }
}

#[test]
fn keyboard_focus_moves_off_a_window_whose_client_is_gone() {
    // The newest window takes the keyboard; when its client dies, the focus
    // goes to the window below it (a dead surface kept as focus would keep
    // its data, and any commit it still held, alive in Quay).
    let quay = Quay::start(SMALL_CONFIG);
    let mut a = quay.client();
    let keyboard = a.seat.as_ref().expect("wl_seat").get_keyboard(&a.qh, ());
    let wa = a.window(100, 100, RED).unwrap();
    a.commit_and_wait_frame(&wa.surface).unwrap();
    let id = quay_test_client::wayland_client::Proxy::id(&wa.surface).protocol_id();
    a.dispatch_until("keyboard enter", Duration::from_secs(10), |app| {
        app.keyboard_focus.last() == Some(&(id, true))
    })
    .unwrap();

    let mut b = quay.client();
    let wb = b.window(100, 100, GREEN).unwrap();
    b.commit_and_wait_frame(&wb.surface).unwrap();
    a.dispatch_until("keyboard leave", Duration::from_secs(10), |app| {
        app.keyboard_focus.last() == Some(&(id, false))
    })
    .unwrap();

    drop(wb);
    drop(b);
    a.dispatch_until("keyboard enter again", Duration::from_secs(10), |app| {
        app.keyboard_focus.last() == Some(&(id, true))
    })
    .unwrap();
    drop(keyboard);
}

#[test]
fn decorations_are_always_client_side() {
    use quay_test_client::zxdg_toplevel_decoration_v1::Mode;
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let manager = c.decoration.clone().expect("zxdg_decoration_manager_v1");
    let surface = c.compositor.create_surface(&c.qh, ());
    let xdg_surface = c.wm_base.get_xdg_surface(&surface, &c.qh, ());
    let toplevel = xdg_surface.get_toplevel(&c.qh, ());
    let deco = manager.get_toplevel_decoration(&toplevel, &c.qh, ());
    let id = deco.id().protocol_id();
    // Asking for server-side before the first commit: the initial configure
    // says client-side (Quay draws no decorations).
    deco.set_mode(Mode::ServerSide);
    surface.commit();
    c.dispatch_until("the decoration configure", Duration::from_secs(10), |app| {
        app.decoration_modes.iter().any(|(d, _)| *d == id)
    })
    .unwrap();
    assert_eq!(c.app.decoration_modes, vec![(id, Mode::ClientSide)]);
    // Asked again after the initial configure: answered with a configure
    // (the protocol's "respond by emitting an xdg_surface.configure"), the
    // mode unchanged, so no second decoration configure.
    let xid = xdg_surface.id().protocol_id();
    let first = c.app.configures[&xid];
    xdg_surface.ack_configure(first);
    deco.set_mode(Mode::ServerSide);
    c.dispatch_until("a configure answering set_mode", Duration::from_secs(10), |app| {
        app.configures.get(&xid) != Some(&first)
    })
    .unwrap();
    assert_eq!(c.app.decoration_modes, vec![(id, Mode::ClientSide)]);
}

/// A token from `c` for `surface` (None: a token with no surface).
fn activation_token(
    c: &mut quay_test_client::TestClient,
    surface: Option<&quay_test_client::wayland_client::protocol::wl_surface::WlSurface>,
) -> String {
    let token = c
        .activation
        .as_ref()
        .expect("xdg_activation_v1")
        .get_activation_token(&c.qh, ());
    if let Some(s) = surface {
        token.set_surface(s);
    }
    token.commit();
    let id = token.id().protocol_id();
    c.dispatch_until("the activation token", Duration::from_secs(10), |app| {
        app.activation_tokens.contains_key(&id)
    })
    .unwrap();
    c.app.activation_tokens[&id].clone()
}

#[test]
fn activation_moves_the_focus_only_when_the_focused_client_gives_it() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut a = quay.client();
    let _ka = a.seat.as_ref().unwrap().get_keyboard(&a.qh, ());
    let wa = a.window(32, 32, GREEN).unwrap();
    a.commit_and_wait_frame(&wa.surface).unwrap();
    let mut b = quay.client();
    let _kb = b.seat.as_ref().unwrap().get_keyboard(&b.qh, ());
    let wb = b.window(32, 32, RED).unwrap();
    b.commit_and_wait_frame(&wb.surface).unwrap();
    let (ida, idb) = (wa.surface.id().protocol_id(), wb.surface.id().protocol_id());
    b.dispatch_until("b focused", Duration::from_secs(10), |app| {
        app.keyboard_focus.last() == Some(&(idb, true))
    })
    .unwrap();

    // A, not focused, asks to activate itself: refused (focus stealing).
    let own = activation_token(&mut a, Some(&wa.surface));
    a.activation.as_ref().unwrap().activate(own, &wa.surface);
    a.roundtrip().unwrap();
    b.roundtrip().unwrap();
    assert_eq!(quay.stat("activations_total"), 0);
    assert_eq!(
        b.app.keyboard_focus.last(),
        Some(&(idb, true)),
        "b keeps the keyboard"
    );

    // B, focused, hands its token to A: A is activated.
    let given = activation_token(&mut b, Some(&wb.surface));
    a.activation.as_ref().unwrap().activate(given, &wa.surface);
    a.dispatch_until("a focused", Duration::from_secs(10), |app| {
        app.keyboard_focus.last() == Some(&(ida, true))
    })
    .unwrap();
    assert_eq!(quay.stat("activations_total"), 1);
    b.dispatch_until("b unfocused", Duration::from_secs(10), |app| {
        app.keyboard_focus.last() == Some(&(idb, false))
    })
    .unwrap();
}
