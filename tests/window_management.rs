//! Interactive move and resize, maximize, against `foot` (which asks for
//! a move from its own title bar, client-side decorations): pointer and
//! buttons come in through `quay msg pointer` / `button`, the same path a
//! mouse takes; `quay msg windows` says where each window is.

mod common;

use std::time::Duration;

use common::{require, wait_for, Quay, SMALL_CONFIG, SOCKET};

const BTN_LEFT: &str = "272";
const BTN_RIGHT: &str = "273";
const KEY_LEFTMETA: &str = "125";

fn foot_window(quay: &Quay) -> serde_json::Value {
    let windows = quay.msg(&["windows"]);
    windows
        .as_array()
        .and_then(|w| w.iter().find(|w| w["app_id"] == "foot").cloned())
        .unwrap_or(serde_json::Value::Null)
}

fn pointer(quay: &Quay, x: i32, y: i32) {
    quay.msg(&["pointer", &x.to_string(), &y.to_string()]);
}

#[test]
fn foot_moves_from_its_title_bar_and_super_drag_moves_and_resizes() {
    let foot = require("foot", "foot");
    let quay = Quay::start(SMALL_CONFIG);
    let client = quay.spawn_client(&foot, &[], &[("WAYLAND_DISPLAY", SOCKET)]);
    wait_for("foot's window", &quay, || foot_window(&quay)["size"].is_array());
    // foot may commit a second size once its font and the output's scale
    // are known: wait until its size holds for half a second.
    let mut last = serde_json::Value::Null;
    wait_for("foot's size to settle", &quay, || {
        let now = foot_window(&quay)["size"].clone();
        let settled = now == last;
        last = now;
        if !settled {
            std::thread::sleep(Duration::from_millis(500));
        }
        settled
    });
    let w = foot_window(&quay);
    assert_eq!(w["location"], serde_json::json!([0, 0]), "{w}");
    let size = w["size"].clone();

    // A press on foot's title bar: foot asks to be moved with the press's
    // serial, and the window follows the pointer until the release.
    pointer(&quay, 100, 10);
    quay.msg(&["button", "--press", BTN_LEFT]);
    wait_for("foot's move request", &quay, || {
        quay.stat("window_moves_total") == 1
    });
    pointer(&quay, 150, 40);
    pointer(&quay, 220, 110);
    quay.msg(&["button", "--release", BTN_LEFT]);
    let w = foot_window(&quay);
    assert_eq!(w["location"], serde_json::json!([120, 100]), "{w}");
    assert_eq!(w["size"], size, "a move keeps the size");
    // After the release the pointer is the window's again, not the grab's.
    pointer(&quay, 300, 300);
    assert!(!quay.msg(&["button", BTN_LEFT])["grabbed"].as_bool().unwrap());

    // Super + left drag moves it from anywhere inside; Super + right drag
    // resizes from the nearest corner (here the top-left), the opposite
    // corner staying put.
    quay.msg(&["key", "--press", KEY_LEFTMETA]);
    pointer(&quay, 300, 300);
    quay.msg(&["button", "--press", BTN_LEFT]);
    pointer(&quay, 280, 250);
    quay.msg(&["button", "--release", BTN_LEFT]);
    assert_eq!(quay.stat("window_moves_total"), 2);
    let w = foot_window(&quay);
    assert_eq!(w["location"], serde_json::json!([100, 50]), "{w}");
    let (w0, h0) = (size[0].as_i64().unwrap(), size[1].as_i64().unwrap());

    pointer(&quay, 110, 60);
    quay.msg(&["button", "--press", BTN_RIGHT]);
    pointer(&quay, 160, 100);
    quay.msg(&["button", "--release", BTN_RIGHT]);
    quay.msg(&["key", "--release", KEY_LEFTMETA]);
    assert_eq!(quay.stat("window_resizes_total"), 1);
    // foot answers the configure with its new size (it rounds to its
    // character cell, so the size is at most what was asked).
    wait_for("foot's new size", &quay, || foot_window(&quay)["size"] != size);
    let w = foot_window(&quay);
    let (w1, h1) = (w["size"][0].as_i64().unwrap(), w["size"][1].as_i64().unwrap());
    assert!(
        w1 <= w0 - 50 && w1 > w0 - 80 && h1 <= h0 - 40 && h1 > h0 - 70,
        "{w} from {size}"
    );
    assert_eq!(w["location"], serde_json::json!([150, 90]), "{w}");

    // Super+M: maximized to the whole output (no panels), then back.
    quay.msg(&["key", KEY_LEFTMETA, "50"]);
    wait_for("foot maximized", &quay, || {
        foot_window(&quay)["size"] == serde_json::json!([640, 480])
    });
    assert_eq!(foot_window(&quay)["location"], serde_json::json!([0, 0]));
    quay.msg(&["key", KEY_LEFTMETA, "50"]);
    wait_for("foot restored", &quay, || {
        foot_window(&quay)["location"] == serde_json::json!([150, 90])
    });
    let outcome = client.stop();
    assert!(outcome.survived, "{}", outcome.stderr);
}
