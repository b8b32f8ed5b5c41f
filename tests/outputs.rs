//! Output configuration with Debian's `wlr-randr` (zwlr_output_manager_v1)
//! and `[[output]]` in the config, checked through what clients see
//! (`wayland-info`'s xdg_output, wlr-randr's own listing) and the pixels.

mod common;

use std::process::{Command, Output};

use common::{require, Quay, BACKGROUND, SMALL_CONFIG, SOCKET};

const RED: u32 = 0xffff0000;
const RED_RGBA: [u8; 4] = [0xff, 0, 0, 0xff];

fn run(quay: &Quay, program: &str, package: &str, args: &[&str]) -> Output {
    let bin = require(program, package);
    Command::new(bin)
        .args(args)
        .env("WAYLAND_DISPLAY", SOCKET)
        .env("XDG_RUNTIME_DIR", &quay.runtime_dir)
        .output()
        .expect("run the client")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn wlr_randr(quay: &Quay, args: &[&str]) -> Output {
    run(quay, "wlr-randr", "wlr-randr", args)
}

/// xdg_output's logical size as wayland-info prints it.
fn logical_size(quay: &Quay) -> String {
    let out = text(&run(quay, "wayland-info", "wayland-utils", &[]));
    out.lines()
        .find(|l| l.contains("logical_width"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn wlr_randr_lists_the_output_and_scale_2_halves_its_logical_size() {
    let quay = Quay::start(SMALL_CONFIG);
    let list = text(&wlr_randr(&quay, &[]));
    assert!(list.contains("HEADLESS-1"), "{list}");
    assert!(
        list.contains("640x480 px, 60.000000 Hz (preferred, current)"),
        "{list}"
    );
    assert!(list.contains("Scale: 1.000000"), "{list}");
    assert_eq!(logical_size(&quay), "logical_width: 640, logical_height: 480");

    let set = wlr_randr(&quay, &["--output", "HEADLESS-1", "--scale", "2"]);
    assert!(set.status.success(), "{}", text(&set));
    assert_eq!(quay.stat("output_configurations_total"), 1);
    assert!(text(&wlr_randr(&quay, &[])).contains("Scale: 2.000000"));
    assert_eq!(logical_size(&quay), "logical_width: 320, logical_height: 240");
    let outputs = quay.msg(&["outputs"]);
    assert_eq!(outputs[0]["logical_size"], serde_json::json!([320, 240]));

    // A 100x100 buffer-scale-1 window now covers 200x200 pixels (its
    // edge pixels filtered against the background by the upscale).
    let mut c = quay.client();
    let w = c.window(100, 100, RED).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let shot = quay.screenshot_until(|s| s.pixel(198, 198) == RED_RGBA);
    assert_eq!((shot.width, shot.height), (640, 480), "the mode is unchanged");
    assert_eq!(shot.count_not(1, 1, 198, 198, RED_RGBA), 0);
    assert_eq!(shot.pixel(201, 100), BACKGROUND);
    assert_eq!(shot.pixel(100, 201), BACKGROUND);
    assert_eq!(shot.pixel(300, 300), BACKGROUND);

    // What Quay cannot do is refused, and nothing changes: every output off.
    let off = wlr_randr(&quay, &["--output", "HEADLESS-1", "--off"]);
    assert!(!off.status.success(), "{}", text(&off));
    assert_eq!(quay.stat("output_configurations_total"), 1);
    assert_eq!(logical_size(&quay), "logical_width: 320, logical_height: 240");
}

#[test]
fn config_outputs_are_applied_and_one_of_two_can_be_switched_off() {
    let config = format!(
        "{SMALL_CONFIG}[[headless.output]]\nname = \"HEADLESS-2\"\nwidth = 320\nheight = 240\n\
         [[output]]\nname = \"HEADLESS-2\"\nscale = 1.5\nposition = {{ x = 0, y = 480 }}\n"
    );
    let quay = Quay::start(&config);
    let outputs = quay.msg(&["outputs"]);
    let second = outputs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "HEADLESS-2")
        .cloned()
        .unwrap();
    assert_eq!(second["scale"], 1.5, "{outputs}");
    assert_eq!(second["location"], serde_json::json!([0, 480]), "{outputs}");
    assert_eq!(second["logical_size"], serde_json::json!([214, 160]), "{outputs}");
    let list = text(&wlr_randr(&quay, &[]));
    assert!(
        list.contains("Scale: 1.500000") && list.contains("Position: 0,480"),
        "{list}"
    );

    let off = wlr_randr(&quay, &["--output", "HEADLESS-2", "--off"]);
    assert!(off.status.success(), "{}", text(&off));
    let list = text(&wlr_randr(&quay, &[]));
    assert!(list.contains("Enabled: no"), "{list}");
    assert_eq!(quay.msg(&["outputs"]).as_array().unwrap().len(), 1);
    let on = wlr_randr(&quay, &["--output", "HEADLESS-2", "--on", "--pos", "640,0"]);
    assert!(on.status.success(), "{}", text(&on));
    let list = text(&wlr_randr(&quay, &[]));
    assert!(
        !list.contains("Enabled: no") && list.contains("Position: 640,0"),
        "{list}"
    );
}

#[test]
fn wlr_randr_switches_the_mode_and_the_config_sets_one() {
    let quay = Quay::start(SMALL_CONFIG);
    let set = wlr_randr(&quay, &["--output", "HEADLESS-1", "--custom-mode", "800x600"]);
    assert!(set.status.success(), "{}", text(&set));
    let list = text(&wlr_randr(&quay, &[]));
    assert!(list.contains("800x600 px, 60.000000 Hz (current)"), "{list}");
    assert!(list.contains("640x480 px, 60.000000 Hz (preferred)"), "{list}");
    assert_eq!(logical_size(&quay), "logical_width: 800, logical_height: 600");
    let outputs = quay.msg(&["outputs"]);
    assert_eq!(
        (outputs[0]["width"].clone(), outputs[0]["height"].clone()),
        (800.into(), 600.into())
    );
    // The new mode is drawn: a window at the origin, the background to the new edge.
    let mut c = quay.client();
    let w = c.window(100, 100, RED).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let shot = quay.screenshot_until(|s| s.width == 800 && s.pixel(50, 50) == RED_RGBA);
    assert_eq!((shot.width, shot.height), (800, 600));
    assert_eq!(shot.count_not(0, 0, 100, 100, RED_RGBA), 0);
    assert_eq!(shot.pixel(799, 599), BACKGROUND);
    // Back to a listed mode by name.
    let back = wlr_randr(&quay, &["--output", "HEADLESS-1", "--mode", "640x480"]);
    assert!(back.status.success(), "{}", text(&back));
    let shot = quay.screenshot_until(|s| s.width == 640);
    assert_eq!((shot.width, shot.height), (640, 480));
    assert_eq!(quay.stat("output_configurations_total"), 2);
    drop(c);

    // `[[output]] mode` when the output appears, over [[headless.output]].
    let config = format!("{SMALL_CONFIG}[[output]]\nname = \"HEADLESS-1\"\nmode = \"320x240@30\"\n");
    let quay = Quay::start(&config);
    let list = text(&wlr_randr(&quay, &[]));
    assert!(list.contains("320x240 px, 30.000000 Hz"), "{list}");
    let shot = quay.screenshot();
    assert_eq!((shot.width, shot.height), (320, 240));
}

/// What an output configuration may ask for is bounded: a custom mode of
/// 20000x20000 (a 1.6 GB render target on headless), a scale of 100 and a
/// position near `i32::MAX` are `failed`, the output stays as it was, and
/// a bounded change still applies.
#[test]
fn output_changes_past_the_bounds_fail_and_change_nothing() {
    let quay = Quay::start(SMALL_CONFIG);
    for args in [
        &["--output", "HEADLESS-1", "--custom-mode", "20000x20000"][..],
        &["--output", "HEADLESS-1", "--custom-mode", "16000x16000"][..],
        &["--output", "HEADLESS-1", "--scale", "100"][..],
        &["--output", "HEADLESS-1", "--pos", "2147483000,0"][..],
    ] {
        let out = wlr_randr(&quay, args);
        assert!(
            !out.status.success(),
            "wlr-randr {args:?} succeeded: {}",
            text(&out)
        );
    }
    let outputs = quay.msg(&["outputs"]);
    assert_eq!(
        (outputs[0]["width"].clone(), outputs[0]["height"].clone()),
        (640.into(), 480.into())
    );
    assert_eq!(quay.stat("output_configurations_total"), 0);
    let ok = wlr_randr(
        &quay,
        &[
            "--output",
            "HEADLESS-1",
            "--custom-mode",
            "1920x1080",
            "--scale",
            "2",
        ],
    );
    assert!(ok.status.success(), "{}", text(&ok));
    assert_eq!(quay.stat("output_configurations_total"), 1);
}

/// `transform` in `[[output]]` and from wlr-randr: a 640x480 output turned
/// 90° is 480x640 to clients (a maximized window is configured to that),
/// its screenshot stays 640x480 pixels with the window's pixels in it, and
/// turning it back restores the size.
#[test]
fn an_output_transform_turns_what_clients_see() {
    use quay_test_client::wayland_client::Proxy;
    let config = format!("{SMALL_CONFIG}[[output]]\nname = \"HEADLESS-1\"\ntransform = \"90\"\n");
    let quay = Quay::start(&config);
    let outputs = quay.msg(&["outputs"]);
    assert_eq!(
        outputs[0]["logical_size"],
        serde_json::json!([480, 640]),
        "{outputs}"
    );
    let list = text(&wlr_randr(&quay, &[]));
    assert!(list.contains("Transform: 90"), "{list}");

    let mut c = quay.client();
    let w = c.window(100, 50, RED).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let shot = quay.screenshot_until(|s| s.count_not(0, 0, s.width, s.height, BACKGROUND) >= 5000);
    assert_eq!((shot.width, shot.height), (640, 480));
    let red = (shot.width * shot.height) as usize - shot.count_not(0, 0, shot.width, shot.height, RED_RGBA);
    assert_eq!(red, 5000, "the 100x50 window's pixels, turned");
    let tid = w.toplevel.id().protocol_id();
    w.toplevel.set_maximized();
    c.dispatch_until(
        "the maximize configure",
        std::time::Duration::from_secs(10),
        |app| app.toplevel_size.get(&tid) == Some(&(480, 640)),
    )
    .unwrap();

    let normal = wlr_randr(&quay, &["--output", "HEADLESS-1", "--transform", "normal"]);
    assert!(normal.status.success(), "{}", text(&normal));
    let outputs = quay.msg(&["outputs"]);
    assert_eq!(
        outputs[0]["logical_size"],
        serde_json::json!([640, 480]),
        "{outputs}"
    );
    c.dispatch_until(
        "the maximized window refitted",
        std::time::Duration::from_secs(10),
        |app| app.toplevel_size.get(&tid) == Some(&(640, 480)),
    )
    .unwrap();
}
