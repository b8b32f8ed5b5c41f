//! The protocols applications use beyond the core shell, each from a real
//! client against headless Quay: Debian's `wtype` typing into `foot`
//! (virtual keyboard), and the Rust test client for frame pacing (fifo,
//! commit timing), opacity, the bell, the toplevel list, xdg-foreign,
//! shortcut inhibitors and text input with an input method. WLCS covers
//! the virtual pointer and wlr foreign-toplevel management (`tests/wlcs/`).

mod common;

use std::{process::Command, time::Duration};

use common::{require, wait_for, Quay, BACKGROUND, SMALL_CONFIG, SOCKET};
use quay_test_client::{
    wayland_client::Proxy,
    wayland_protocols::{
        ext::foreign_toplevel_list::v1::client::ext_foreign_toplevel_list_v1::ExtForeignToplevelListV1,
        wp::{
            alpha_modifier::v1::client::wp_alpha_modifier_v1::WpAlphaModifierV1,
            commit_timing::v1::client::wp_commit_timing_manager_v1::WpCommitTimingManagerV1,
            fifo::v1::client::wp_fifo_manager_v1::WpFifoManagerV1,
            keyboard_shortcuts_inhibit::zv1::client::zwp_keyboard_shortcuts_inhibit_manager_v1::ZwpKeyboardShortcutsInhibitManagerV1,
            text_input::zv3::client::zwp_text_input_manager_v3::ZwpTextInputManagerV3,
        },
        xdg::{
            foreign::zv2::client::{zxdg_exporter_v2::ZxdgExporterV2, zxdg_importer_v2::ZxdgImporterV2},
            system_bell::v1::client::xdg_system_bell_v1::XdgSystemBellV1,
        },
    },
    TestClient,
};

const WAIT: Duration = Duration::from_secs(10);

fn monotonic_now() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `zwp_virtual_keyboard_manager_v1`: wtype types a shell command into
/// foot, the shell runs it. Keys from a virtual keyboard reach the focused
/// client with the virtual keyboard's keymap.
#[test]
fn wtype_types_into_foot() {
    let foot = require("foot", "foot");
    let wtype = require("wtype", "wtype");
    let quay = Quay::start(SMALL_CONFIG);
    let out = quay.dir.path().join("typed");
    let mut term = quay.spawn_client(&foot, &[], &[("SHELL", "/bin/sh")]);
    wait_for("foot's window, focused", &quay, || {
        quay.msg(&["windows"])
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w["app_id"] == "foot" && w["focused"] == true))
    });
    let typed = Command::new(&wtype)
        .arg(format!("echo typed by wtype > {}", out.display()))
        .args(["-k", "Return"])
        .env("WAYLAND_DISPLAY", SOCKET)
        .env("XDG_RUNTIME_DIR", &quay.runtime_dir)
        .output()
        .expect("run wtype");
    assert!(
        typed.status.success(),
        "wtype: {}",
        String::from_utf8_lossy(&typed.stderr)
    );
    wait_for("the shell in foot to run what wtype typed", &quay, || {
        std::fs::read_to_string(&out).is_ok_and(|s| s == "typed by wtype\n")
    });
    assert!(term.is_running(), "foot died");
}

/// `wp_fifo_v1`: eight commits sent at once, each setting a barrier and
/// waiting for the one before, are shown in eight frames, none dropped.
/// The same eight commits without fifo on a second window replace each
/// other before a frame is drawn (the control: what fifo prevents).
#[test]
fn fifo_commits_are_shown_one_per_frame_none_dropped() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let fifo_manager: WpFifoManagerV1 = c.bind("wp_fifo_manager_v1", 1).unwrap();
    let w = c.window(64, 64, 0xff204080).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let fifo = fifo_manager.get_fifo(&w.surface, &c.qh, ());

    let burst = |c: &mut TestClient,
                 surface: &_,
                 fifo: Option<&_>|
     -> Vec<Option<quay_test_client::Presented>> {
        let seen = c.app.feedback_log.len();
        for i in 0..8u32 {
            let buffer = c.shm_buffer(
                64,
                64,
                0xff000000 | (i * 0x1f),
                quay_test_client::wayland_client::protocol::wl_shm::Format::Xrgb8888,
            );
            let surface: &quay_test_client::wayland_client::protocol::wl_surface::WlSurface = surface;
            surface.attach(Some(&buffer), 0, 0);
            surface.damage_buffer(0, 0, 64, 64);
            if let Some(fifo) = fifo {
                let fifo: &quay_test_client::wayland_protocols::wp::fifo::v1::client::wp_fifo_v1::WpFifoV1 =
                    fifo;
                fifo.set_barrier();
                fifo.wait_barrier();
            }
            c.feedback(surface);
            surface.commit();
        }
        c.dispatch_until("eight presentation feedbacks", WAIT, |app| {
            app.feedback_log.len() >= seen + 8
        })
        .unwrap();
        c.app.feedback_log[seen..seen + 8].to_vec()
    };

    let paced = burst(&mut c, &w.surface, Some(&fifo));
    assert!(
        paced.iter().all(Option::is_some),
        "a fifo commit was dropped: {paced:?}"
    );
    let seqs: Vec<u64> = paced.iter().flatten().map(|p| p.seq).collect();
    assert!(
        seqs.windows(2).all(|s| s[1] > s[0]),
        "each fifo commit in a frame of its own: {seqs:?}"
    );

    let w2 = c.window(64, 64, 0xff804020).unwrap();
    c.commit_and_wait_frame(&w2.surface).unwrap();
    let unpaced = burst(&mut c, &w2.surface, None);
    assert!(
        unpaced.iter().any(Option::is_none),
        "without fifo, commits sent at once replace each other: {unpaced:?}"
    );
}

/// `wp_commit_timer_v1`: a commit timed 300 ms ahead is shown no earlier,
/// and while it waits Quay serves everyone else (it is held like a commit
/// on a fence, never by blocking).
#[test]
fn a_timed_commit_is_shown_no_earlier_than_its_time() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    c.roundtrip().unwrap();
    assert_eq!(
        c.app.presentation_clock,
        Some(1),
        "wp_presentation's clock is CLOCK_MONOTONIC"
    );
    let timing: WpCommitTimingManagerV1 = c.bind("wp_commit_timing_manager_v1", 1).unwrap();
    let w = c.window(64, 64, 0xff204080).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let timer = timing.get_timer(&w.surface, &c.qh, ());

    let target = monotonic_now() + Duration::from_millis(300);
    let secs = target.as_secs();
    timer.set_timestamp((secs >> 32) as u32, secs as u32, target.subsec_nanos());
    let buffer = c.shm_buffer(
        64,
        64,
        0xffff0000,
        quay_test_client::wayland_client::protocol::wl_shm::Format::Xrgb8888,
    );
    w.surface.attach(Some(&buffer), 0, 0);
    w.surface.damage_buffer(0, 0, 64, 64);
    c.feedback(&w.surface);
    w.surface.commit();
    c.roundtrip().unwrap();
    let seen = c.app.feedback_log.len();

    // Meanwhile another client is served.
    let mut other = quay.client();
    let ow = other.window(32, 32, 0xff00ff00).unwrap();
    other.commit_and_wait_frame(&ow.surface).unwrap();
    let other_frame = monotonic_now();

    c.dispatch_until("the timed commit's feedback", WAIT, |app| {
        app.feedback_log.len() > seen
    })
    .unwrap();
    let shown = c.app.feedback_log[seen].expect("the timed commit was presented, not discarded");
    assert!(
        shown.time >= target,
        "shown at {:?}, {:?} before its time",
        shown.time,
        target - shown.time
    );
    assert!(
        other_frame < target,
        "another client's frame came while the timed commit waited ({other_frame:?} < {target:?})"
    );
}

/// `wp_alpha_modifier_v1`: a white window at half opacity over the
/// background is drawn as their mean. The buffer is ARGB8888: smithay
/// 0.7's pixman renderer draws a format without alpha with SRC and the
/// multiplier as mask (src/backend/renderer/pixman/mod.rs:594-606), so an
/// XRGB8888 surface comes out over black there; GLES blends both.
#[test]
fn the_alpha_modifier_blends_a_window_with_what_is_beneath() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let alpha: WpAlphaModifierV1 = c.bind("wp_alpha_modifier_v1", 1).unwrap();
    let w = c.window(100, 100, 0xffffffff).unwrap();
    let argb = c.shm_buffer(
        100,
        100,
        0xffffffff,
        quay_test_client::wayland_client::protocol::wl_shm::Format::Argb8888,
    );
    w.surface.attach(Some(&argb), 0, 0);
    w.surface.damage_buffer(0, 0, 100, 100);
    c.commit_and_wait_frame(&w.surface).unwrap();
    quay.screenshot_until(|s| s.pixel(10, 10) == [0xff, 0xff, 0xff, 0xff]);
    let modifier = alpha.get_surface(&w.surface, &c.qh, ());
    modifier.set_multiplier(u32::MAX / 2);
    c.commit_and_wait_frame(&w.surface).unwrap();
    let mean = |b: u8| ((0xff + b as u32) / 2) as u8;
    let want = [mean(BACKGROUND[0]), mean(BACKGROUND[1]), mean(BACKGROUND[2])];
    let close = |p: [u8; 4]| (0..3).all(|i| p[i].abs_diff(want[i]) <= 2);
    let shot = quay.screenshot_until(|s| close(s.pixel(10, 10)));
    assert!(
        close(shot.pixel(10, 10)),
        "half-transparent white over {BACKGROUND:?}: {:?}, want {want:?}",
        shot.pixel(10, 10)
    );
}

/// `xdg_system_bell_v1`: each ring is counted.
#[test]
fn the_bell_is_counted() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let bell: XdgSystemBellV1 = c.bind("xdg_system_bell_v1", 1).unwrap();
    let w = c.window(32, 32, 0xff00ff00).unwrap();
    bell.ring(Some(&w.surface));
    bell.ring(None);
    c.roundtrip().unwrap();
    assert_eq!(quay.stat("bells_total"), 2);
}

/// `ext_foreign_toplevel_list_v1`: a taskbar hears of a window with its
/// title, app_id and identifier, of a new title, and of its end.
#[test]
fn the_toplevel_list_follows_a_window_from_map_to_close() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut bar = quay.client();
    let _list: ExtForeignToplevelListV1 = bar.bind("ext_foreign_toplevel_list_v1", 1).unwrap();
    bar.roundtrip().unwrap();
    assert!(bar.app.apps.toplevel_list.is_empty(), "no windows yet");

    let mut app = quay.client();
    let w = app.window(64, 48, 0xff00ff00).unwrap();
    w.toplevel.set_app_id("org.quay.Test".into());
    app.commit_and_wait_frame(&w.surface).unwrap();
    let has = |bar: &TestClient, prefix: &str, suffix: &str| {
        bar.app
            .apps
            .toplevel_list
            .iter()
            .any(|l| l.starts_with(prefix) && l.ends_with(suffix))
    };
    bar.dispatch_until("the window's app_id", WAIT, |a| {
        a.apps
            .toplevel_list
            .iter()
            .any(|l| l.starts_with("app_id:") && l.ends_with(":org.quay.Test"))
    })
    .unwrap();
    assert!(has(&bar, "toplevel:", ""), "{:?}", bar.app.apps.toplevel_list);
    assert!(
        has(&bar, "title:", ":quay-test"),
        "{:?}",
        bar.app.apps.toplevel_list
    );
    assert!(has(&bar, "identifier:", ""), "{:?}", bar.app.apps.toplevel_list);
    assert!(has(&bar, "done:", ""), "{:?}", bar.app.apps.toplevel_list);

    w.toplevel.set_title("renamed".into());
    app.commit_and_wait_frame(&w.surface).unwrap();
    bar.dispatch_until("the new title", WAIT, |a| {
        a.apps
            .toplevel_list
            .iter()
            .any(|l| l.starts_with("title:") && l.ends_with(":renamed"))
    })
    .unwrap();

    w.toplevel.destroy();
    w.xdg_surface.destroy();
    w.surface.destroy();
    app.roundtrip().unwrap();
    bar.dispatch_until("the window's closed", WAIT, |a| {
        a.apps.toplevel_list.iter().any(|l| l.starts_with("closed:"))
    })
    .unwrap();
}

/// `zwlr_foreign_toplevel_manager_v1` (waybar's taskbar): the bar hears of
/// a window with its title, app id and activated state; minimizing from the
/// bar takes it off the screen, activating brings it back focused,
/// maximizing reaches the window's configure, and closing asks the window
/// to close; its end reaches the bar.
#[test]
fn a_wlr_taskbar_minimizes_activates_maximizes_and_closes_a_window() {
    use quay_test_client::wayland_protocols_wlr::foreign_toplevel::v1::client::zwlr_foreign_toplevel_manager_v1::ZwlrForeignToplevelManagerV1;
    let quay = Quay::start(SMALL_CONFIG);
    let mut bar = quay.client();
    let _manager: ZwlrForeignToplevelManagerV1 = bar.bind("zwlr_foreign_toplevel_manager_v1", 3).unwrap();
    let mut app = quay.client();
    let w = app.window(64, 48, 0xff00ff00).unwrap();
    w.toplevel.set_app_id("org.quay.Bar".into());
    app.commit_and_wait_frame(&w.surface).unwrap();
    let has = |bar: &quay_test_client::App, prefix: &str, suffix: &str| {
        bar.apps
            .wlr_toplevels
            .iter()
            .any(|l| l.starts_with(prefix) && l.ends_with(suffix))
    };
    // The states of each "state:ID:S,S,..." line the bar got, in order
    // (1 minimized, 2 activated).
    let states = |bar: &quay_test_client::App| -> Vec<Vec<u32>> {
        (bar.apps.wlr_toplevels.iter())
            .filter_map(|l| l.strip_prefix("state:")?.split(':').nth(1))
            .map(|s| s.split(',').filter_map(|v| v.parse().ok()).collect())
            .collect()
    };
    bar.dispatch_until("the window, activated", WAIT, |a| {
        has(a, "app_id:", ":org.quay.Bar") && states(a).iter().any(|s| s.contains(&2))
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", bar.app.apps.wlr_toplevels));
    assert!(
        has(&bar.app, "title:", ":quay-test"),
        "{:?}",
        bar.app.apps.wlr_toplevels
    );
    assert!(has(&bar.app, "done:", ""), "{:?}", bar.app.apps.wlr_toplevels);
    let handle = bar.app.apps.wlr_handles[0].clone();

    handle.set_minimized();
    bar.roundtrip().unwrap();
    wait_for("the window minimized", &quay, || quay.stat("windows_live") == 0);
    let listed = quay.msg(&["windows"]);
    assert_eq!(listed[0]["minimized"], true, "{listed}");
    bar.dispatch_until("the minimized state", WAIT, |a| {
        states(a).last().is_some_and(|s| s.contains(&1))
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", bar.app.apps.wlr_toplevels));

    let seat = bar.seat.clone().unwrap();
    handle.activate(&seat);
    bar.roundtrip().unwrap();
    wait_for("the window back", &quay, || quay.stat("windows_live") == 1);
    let back = quay.msg(&["windows"]);
    assert_eq!(
        (back[0]["minimized"].clone(), back[0]["focused"].clone()),
        (false.into(), true.into()),
        "{back}"
    );

    let id = w.toplevel.id().protocol_id();
    handle.set_maximized();
    bar.roundtrip().unwrap();
    // xdg_toplevel.state.maximized is 1.
    app.dispatch_until("a maximized configure", WAIT, |a| {
        a.toplevel_states.get(&id).is_some_and(|s| s.contains(&1))
    })
    .unwrap();

    handle.close();
    bar.roundtrip().unwrap();
    app.dispatch_until("xdg_toplevel.close", WAIT, |a| a.toplevels_closed.contains(&id))
        .unwrap();
    w.toplevel.destroy();
    w.xdg_surface.destroy();
    w.surface.destroy();
    app.roundtrip().unwrap();
    bar.dispatch_until("the handle closed", WAIT, |a| has(a, "closed:", ""))
        .unwrap();
}

/// `zxdg_exporter_v2` / `zxdg_importer_v2`: a handle exported by one client
/// parents another client's window; an unknown handle is `destroyed` on
/// the imported object; a revoked one leaves it inert.
#[test]
fn xdg_foreign_parents_a_window_across_clients() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut a = quay.client();
    let exporter: ZxdgExporterV2 = a.bind("zxdg_exporter_v2", 1).unwrap();
    let wa = a.window(64, 48, 0xff00ff00).unwrap();
    a.commit_and_wait_frame(&wa.surface).unwrap();
    let exported = exporter.export_toplevel(&wa.surface, &a.qh, ());
    a.dispatch_until("the exported handle", WAIT, |app| !app.apps.exported.is_empty())
        .unwrap();
    let handle = a.app.apps.exported[0].1.clone();
    assert!(!handle.is_empty());

    let mut b = quay.client();
    let importer: ZxdgImporterV2 = b.bind("zxdg_importer_v2", 1).unwrap();
    let wb = b.window(32, 32, 0xffff0000).unwrap();
    b.commit_and_wait_frame(&wb.surface).unwrap();
    let imported = importer.import_toplevel(handle, &b.qh, ());
    imported.set_parent_of(&wb.surface);
    let bogus = importer.import_toplevel("no-such-handle".into(), &b.qh, ());
    b.dispatch_until("the unknown handle's destroyed", WAIT, |app| {
        app.apps.imported_destroyed.contains(&bogus.id().protocol_id())
    })
    .unwrap();
    assert!(
        !b.app
            .apps
            .imported_destroyed
            .contains(&imported.id().protocol_id()),
        "the real handle lives"
    );

    // The exporter revokes the handle: the relationship ends and the
    // imported object is inert, no error for either client. (smithay 0.7
    // sends no `destroyed` on revoke: src/wayland/xdg_foreign/handlers.rs:101-105.)
    exported.destroy();
    a.roundtrip().unwrap();
    imported.set_parent_of(&wb.surface);
    b.roundtrip().unwrap();
    a.commit_and_wait_frame(&wa.surface).unwrap();
    b.commit_and_wait_frame(&wb.surface).unwrap();
}

/// `zwp_keyboard_shortcuts_inhibit_manager_v1`: while the focused window
/// holds an active inhibitor, Super+M is the client's key, not Quay's
/// maximize; without it, Quay maximizes.
#[test]
fn a_shortcuts_inhibitor_takes_quays_bindings() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let manager: ZwpKeyboardShortcutsInhibitManagerV1 =
        c.bind("zwp_keyboard_shortcuts_inhibit_manager_v1", 1).unwrap();
    let seat = c.seat.clone().expect("a seat");
    let _keyboard = seat.get_keyboard(&c.qh, ());
    let w = c.window(64, 48, 0xff00ff00).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let surface_id = w.surface.id().protocol_id();
    c.dispatch_until("the keyboard", WAIT, |app| {
        app.keyboard_focus.contains(&(surface_id, true))
    })
    .unwrap();
    let inhibitor = manager.inhibit_shortcuts(&w.surface, &seat, &c.qh, ());
    c.dispatch_until("the inhibitor's active", WAIT, |app| {
        app.apps.inhibitor.contains(&"active")
    })
    .unwrap();
    let size_before = c.app.toplevel_size.get(&w.toplevel.id().protocol_id()).copied();

    const KEY_LEFTMETA: &str = "125";
    const KEY_M: &str = "50";
    quay.msg(&["key", KEY_LEFTMETA, KEY_M]);
    c.dispatch_until("Super+M as keys", WAIT, |app| app.apps.keys.contains(&(50, true)))
        .unwrap();
    c.roundtrip().unwrap();
    assert_eq!(
        c.app.toplevel_size.get(&w.toplevel.id().protocol_id()).copied(),
        size_before,
        "no maximize while inhibited"
    );

    inhibitor.destroy();
    c.roundtrip().unwrap();
    let presses = c.app.apps.keys.iter().filter(|k| **k == (50, true)).count();
    quay.msg(&["key", KEY_LEFTMETA, KEY_M]);
    c.dispatch_until("the maximize configure", WAIT, |app| {
        app.toplevel_size.get(&w.toplevel.id().protocol_id()).copied() == Some((640, 480))
    })
    .unwrap();
    assert_eq!(
        c.app.apps.keys.iter().filter(|k| **k == (50, true)).count(),
        presses,
        "the binding's key is Quay's again"
    );
}

/// `zwp_text_input_manager_v3` with `zwp_input_method_manager_v2`: the
/// focused window's text input is entered, its enable activates the input
/// method with the surrounding text, and what the input method commits is
/// the window's text.
#[test]
fn text_input_and_an_input_method_meet() {
    use quay_test_client::wayland_protocols_misc::zwp_input_method_v2::client::zwp_input_method_manager_v2::ZwpInputMethodManagerV2;
    let quay = Quay::start(SMALL_CONFIG);
    let mut ime = quay.client();
    let im_manager: ZwpInputMethodManagerV2 = ime.bind("zwp_input_method_manager_v2", 1).unwrap();
    let ime_seat = ime.seat.clone().expect("a seat");
    let im = im_manager.get_input_method(&ime_seat, &ime.qh, ());
    ime.roundtrip().unwrap();

    let mut app = quay.client();
    let ti_manager: ZwpTextInputManagerV3 = app.bind("zwp_text_input_manager_v3", 1).unwrap();
    let seat = app.seat.clone().expect("a seat");
    let ti = ti_manager.get_text_input(&seat, &app.qh, ());
    let w = app.window(64, 48, 0xff00ff00).unwrap();
    app.commit_and_wait_frame(&w.surface).unwrap();
    app.dispatch_until("text input's enter", WAIT, |a| {
        a.apps.text_input.contains(&"enter".into())
    })
    .unwrap();

    ti.enable();
    ti.set_surrounding_text("abc".into(), 3, 3);
    ti.commit();
    app.roundtrip().unwrap();
    ime.dispatch_until("the input method's activate and done", WAIT, |a| {
        a.apps.input_method.contains(&"activate".into()) && a.apps.input_method.contains(&"done".into())
    })
    .unwrap();
    assert!(
        ime.app.apps.input_method.contains(&"surrounding:abc".into()),
        "{:?}",
        ime.app.apps.input_method
    );

    let dones = ime.app.apps.input_method.iter().filter(|e| *e == "done").count() as u32;
    im.commit_string("héllo".into());
    im.commit(dones);
    ime.roundtrip().unwrap();
    app.dispatch_until("the committed text", WAIT, |a| {
        a.apps.text_input.contains(&"commit_string:héllo".into())
    })
    .unwrap();

    ti.disable();
    ti.commit();
    app.roundtrip().unwrap();
    ime.dispatch_until("the input method's deactivate", WAIT, |a| {
        a.apps.input_method.contains(&"deactivate".into())
    })
    .unwrap();
}

/// `wp_fractional_scale_v1`: a surface is told the scale of the output it
/// is on, in 120ths (1.5 is 180), and again when the output's scale changes.
#[test]
fn a_surface_is_told_its_outputs_fractional_scale() {
    use quay_test_client::wayland_protocols::wp::fractional_scale::v1::client::wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1;
    let config = format!("{SMALL_CONFIG}[[output]]\nname = \"HEADLESS-1\"\nscale = 1.5\n");
    let quay = Quay::start(&config);
    let mut c = quay.client();
    let manager: WpFractionalScaleManagerV1 = c.bind("wp_fractional_scale_manager_v1", 1).unwrap();
    let w = c.window(64, 48, 0xff00ff00).unwrap();
    let _scale = manager.get_fractional_scale(&w.surface, &c.qh, ());
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.dispatch_until("the preferred scale", WAIT, |a| {
        a.apps.preferred_scales.last() == Some(&180)
    })
    .unwrap();

    let wlr_randr = require("wlr-randr", "wlr-randr");
    let out = Command::new(wlr_randr)
        .args(["--output", "HEADLESS-1", "--scale", "1.25"])
        .env("WAYLAND_DISPLAY", SOCKET)
        .env("XDG_RUNTIME_DIR", &quay.runtime_dir)
        .output()
        .expect("run wlr-randr");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    c.dispatch_until("the new preferred scale", WAIT, |a| {
        a.apps.preferred_scales.last() == Some(&150)
    })
    .unwrap();
}

/// `xdg_wm_dialog_v1`: a toplevel marked modal is listed as such by
/// `quay msg windows`, and unmarked again; a second dialog object for one
/// toplevel is `already_used`.
#[test]
fn a_dialog_is_marked_modal() {
    use quay_test_client::wayland_protocols::xdg::dialog::v1::client::xdg_wm_dialog_v1::XdgWmDialogV1;
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let wm: XdgWmDialogV1 = c.bind("xdg_wm_dialog_v1", 1).unwrap();
    let w = c.window(64, 48, 0xff00ff00).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let dialog = wm.get_xdg_dialog(&w.toplevel, &c.qh, ());
    dialog.set_modal();
    c.roundtrip().unwrap();
    assert_eq!(quay.msg(&["windows"])[0]["modal"], true);
    dialog.unset_modal();
    c.roundtrip().unwrap();
    assert_eq!(quay.msg(&["windows"])[0]["modal"], false);

    let (code, _) = common::error_of(&quay, |c| {
        let wm: XdgWmDialogV1 = c.bind("xdg_wm_dialog_v1", 1).unwrap();
        let w = c.window(32, 32, 0xff00ff00).unwrap();
        let _a = wm.get_xdg_dialog(&w.toplevel, &c.qh, ());
        let _b = wm.get_xdg_dialog(&w.toplevel, &c.qh, ());
    });
    assert_eq!(code, 0, "already_used");
}

/// `wp_content_type_manager_v1`: a surface's content type is taken; a
/// second content-type object for one surface is `already_constructed`.
#[test]
fn a_surface_gets_one_content_type() {
    use quay_test_client::wayland_protocols::wp::content_type::v1::client::{
        wp_content_type_manager_v1::WpContentTypeManagerV1, wp_content_type_v1::Type,
    };
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let manager: WpContentTypeManagerV1 = c.bind("wp_content_type_manager_v1", 1).unwrap();
    let w = c.window(64, 48, 0xff00ff00).unwrap();
    let ct = manager.get_surface_content_type(&w.surface, &c.qh, ());
    ct.set_content_type(Type::Video);
    c.commit_and_wait_frame(&w.surface).unwrap();
    assert!(c.conn.protocol_error().is_none());

    let (code, _) = common::error_of(&quay, |c| {
        let manager: WpContentTypeManagerV1 = c.bind("wp_content_type_manager_v1", 1).unwrap();
        let w = c.window(32, 32, 0xff00ff00).unwrap();
        let _a = manager.get_surface_content_type(&w.surface, &c.qh, ());
        let _b = manager.get_surface_content_type(&w.surface, &c.qh, ());
    });
    assert_eq!(code, 0, "already_constructed");
}
