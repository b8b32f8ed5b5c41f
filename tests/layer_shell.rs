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
