//! The keyboard from the config, key bindings, and reloading the config,
//! against real clients: `wev` (which prints every keyboard event it gets,
//! keysyms and repeat info included) and `foot`, the shipped terminal
//! binding. Keys come in through `quay msg key`, which takes the path a
//! keyboard's keys take (headless Quay has no keyboard device).

mod common;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use common::{require, wait_for, wait_timeout, Quay, SMALL_CONFIG, SOCKET};

// evdev key codes (linux/input-event-codes.h).
const KEY_Q: &str = "16";
const KEY_Z: &str = "44";
const KEY_X: &str = "45";
const KEY_F: &str = "33";
const KEY_M: &str = "50";
const KEY_H: &str = "35";
const KEY_E: &str = "18";
const KEY_TAB: &str = "15";
const KEY_ENTER: &str = "28";
const KEY_LEFTSHIFT: &str = "42";
const KEY_LEFTMETA: &str = "125";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `wev` with its stdout line-buffered into a file (it prints with stdio).
struct Wev {
    child: std::process::Child,
    out: std::path::PathBuf,
}

impl Wev {
    fn start(quay: &Quay) -> Wev {
        require("wev", "wev");
        let stdbuf = require("stdbuf", "coreutils");
        let out = quay.dir.path().join("wev.out");
        let child = Command::new(stdbuf)
            .args(["-oL", "wev"])
            .env("WAYLAND_DISPLAY", SOCKET)
            .env("XDG_RUNTIME_DIR", &quay.runtime_dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn wev");
        Wev { child, out }
    }

    fn text(&self) -> String {
        read(&self.out)
    }

    /// Until wev has the keyboard focus (`enter` number `n`).
    fn wait_enter(&self, quay: &Quay, n: usize) {
        wait_for(&format!("wev's keyboard enter #{n}"), quay, || {
            self.text().matches("wl_keyboard] enter:").count() >= n
        });
    }

    /// The keysym names wev printed for pressed keys, in order.
    fn pressed_syms(&self) -> Vec<String> {
        let text = self.text();
        let mut syms = Vec::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if line.contains("] key:") && line.contains("pressed") {
                if let Some(sym) = lines
                    .next()
                    .and_then(|l| l.split("sym:").nth(1))
                    .and_then(|s| s.split_whitespace().next())
                {
                    syms.push(sym.to_owned());
                }
            }
        }
        syms
    }
}

impl Drop for Wev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn keyboard_layout_and_repeat_reach_the_client() {
    let config = format!(
        "{SMALL_CONFIG}[keyboard]\nlayout = \"de\"\nvariant = \"nodeadkeys\"\nrepeat_rate = 40\nrepeat_delay_ms = 300\n"
    );
    let quay = Quay::start(&config);
    let wev = Wev::start(&quay);
    wev.wait_enter(&quay, 1);
    // The Z key is y on a German keyboard; the key left of Backspace is
    // the acute accent, not a dead key, with nodeadkeys.
    quay.msg(&["key", KEY_Z]);
    quay.msg(&["key", "13"]);
    wait_for("two key presses in wev", &quay, || wev.pressed_syms().len() >= 2);
    assert_eq!(wev.pressed_syms(), ["y", "acute"], "{}", wev.text());
    let text = wev.text();
    assert!(
        text.contains("rate: 40 keys/sec") && text.contains("delay: 300 ms"),
        "repeat info from the config: {text}"
    );
}

#[test]
fn a_keymap_xkb_cannot_build_falls_back_to_the_default() {
    let config = format!("{SMALL_CONFIG}[keyboard]\nlayout = \"no-such-layout\"\n");
    let quay = Quay::start(&config);
    assert!(quay.log_text().contains("keymap failed"), "{}", quay.log_text());
    let wev = Wev::start(&quay);
    wev.wait_enter(&quay, 1);
    quay.msg(&["key", KEY_Z]);
    wait_for("a key press in wev", &quay, || !wev.pressed_syms().is_empty());
    assert_eq!(wev.pressed_syms(), ["z"], "us, xkbcommon's default");
}

#[test]
fn shipped_bindings_run_their_actions_and_keep_their_keys() {
    require("foot", "foot");
    let mut quay = Quay::start(SMALL_CONFIG);
    let wev = Wev::start(&quay);
    wev.wait_enter(&quay, 1);
    wait_for("wev's window", &quay, || quay.stat("windows_live") == 1);

    // Super+Return: foot, the shipped terminal binding. Neither key
    // stroke of Return reaches wev; Super itself, unbound, does.
    quay.msg(&["key", KEY_LEFTMETA, KEY_ENTER]);
    wait_for("foot's window", &quay, || quay.stat("windows_live") == 2);
    assert_eq!(quay.stat("bindings_run_total"), 1);
    // foot takes the focus from wev.
    wait_for("wev losing the focus to foot", &quay, || {
        wev.text().contains("wl_keyboard] leave:")
    });
    let syms = wev.pressed_syms();
    assert_eq!(syms, ["Super_L"], "Return was the binding's: {}", wev.text());
    assert!(!wev.text().contains("Return"), "{}", wev.text());

    // Super+Tab: focus goes round to the other window, wev.
    quay.msg(&["key", KEY_LEFTMETA, KEY_TAB]);
    wev.wait_enter(&quay, 2);

    // Super+M maximizes wev: the output's size, since no panel takes any.
    quay.msg(&["key", KEY_LEFTMETA, KEY_M]);
    wait_for("wev maximized", &quay, || {
        wev.text().contains("width: 640; height: 480") && wev.text().contains("maximized")
    });
    // Super+F: fullscreen too (the configure's states say both).
    quay.msg(&["key", KEY_LEFTMETA, KEY_F]);
    wait_for("wev fullscreen", &quay, || wev.text().contains("fullscreen"));

    // Super+Shift+Q closes wev (the focused window): wev exits.
    quay.msg(&["key", KEY_LEFTMETA, KEY_LEFTSHIFT, KEY_Q]);
    wait_for("wev closed", &quay, || quay.stat("windows_live") == 1);

    // Super+Shift+E ends Quay, cleanly.
    quay.msg(&["key", KEY_LEFTMETA, KEY_LEFTSHIFT, KEY_E]);
    let status = wait_timeout(&mut quay.child, Duration::from_secs(20)).expect("quay quit");
    assert!(status.success(), "{status}");
    assert!(quay.log_text().contains("quit by key binding"));
}

#[test]
fn minimize_and_unminimize_bindings() {
    let quay = Quay::start(SMALL_CONFIG);
    let wev = Wev::start(&quay);
    wev.wait_enter(&quay, 1);
    wait_for("wev's window", &quay, || quay.stat("windows_live") == 1);

    // Super+H: wev leaves the screen and the keyboard, and is listed as
    // minimized where it will come back.
    let shown = quay.msg(&["windows"]);
    quay.msg(&["key", KEY_LEFTMETA, KEY_H]);
    wait_for("wev minimized", &quay, || quay.stat("windows_live") == 0);
    wait_for("wev losing the keyboard", &quay, || {
        wev.text().contains("wl_keyboard] leave:")
    });
    let listed = quay.msg(&["windows"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["minimized"], true, "{listed}");
    assert_eq!(listed[0]["focused"], false, "{listed}");
    assert_eq!(
        listed[0]["location"], shown[0]["location"],
        "its place is kept: {listed}"
    );

    // Super+Shift+H: back where it was, focused.
    quay.msg(&["key", KEY_LEFTMETA, KEY_LEFTSHIFT, KEY_H]);
    wev.wait_enter(&quay, 2);
    let back = quay.msg(&["windows"]);
    assert_eq!(back[0]["minimized"], false, "{back}");
    assert_eq!(back[0]["focused"], true, "{back}");
    assert_eq!(back[0]["location"], shown[0]["location"], "{back}");
    assert_eq!(quay.stat("windows_live"), 1);
    assert_eq!(quay.stat("bindings_run_total"), 2);
    // Neither binding's H reached wev.
    assert!(
        !wev.pressed_syms().iter().any(|s| s == "h" || s == "H"),
        "{}",
        wev.text()
    );
}

#[test]
fn config_file_changes_reload_bindings_and_background() {
    let quay = Quay::start(SMALL_CONFIG);
    let config_path = quay.dir.path().join("config.toml");
    let marker = quay.dir.path().join("bound");
    let wev = Wev::start(&quay);
    wev.wait_enter(&quay, 1);
    // Unbound: Super+X is the client's.
    quay.msg(&["key", KEY_LEFTMETA, KEY_X]);
    wait_for("Super+X in wev", &quay, || wev.pressed_syms().len() == 2);

    // The file changes on disk: Quay sees it within its 1 s poll.
    let new = SMALL_CONFIG.replace("#102030", "#305070")
        + &format!("[bindings]\n\"Super+x\" = \"spawn touch {}\"\n", marker.display());
    std::fs::write(&config_path, &new).unwrap();
    wait_for("the reload", &quay, || quay.stat("config_reloads_total") == 1);
    quay.msg(&["key", KEY_LEFTMETA, KEY_X]);
    wait_for("the new binding's command", &quay, || marker.exists());
    // The command can run before wev has printed the keys around it: wait
    // for the second Super release, after which an X that reached wev
    // would already be printed (wev prints events in order).
    wait_for("the second Super+X's end in wev", &quay, || {
        wev.text().matches("sym: Super_L").count() >= 4
    });
    assert_eq!(
        wev.pressed_syms().len(),
        3,
        "only Super reached wev: {}",
        wev.text()
    );
    // wev covers the output: the background shows once it is gone.
    drop(wev);
    wait_for("wev gone", &quay, || quay.stat("windows_live") == 0);
    let shot = quay.screenshot_until(|s| s.pixel(600, 440) == [0x30, 0x50, 0x70, 0xff]);
    assert_eq!(
        shot.pixel(600, 440),
        [0x30, 0x50, 0x70, 0xff],
        "the new background"
    );

    // A broken file is refused, and what runs stays.
    std::fs::write(&config_path, "background = \"red\"\n").unwrap();
    wait_for("the refused reload", &quay, || {
        quay.stat("config_reload_errors_total") == 1
    });
    assert_eq!(quay.stat("config_reloads_total"), 1);
    std::fs::remove_file(&marker).unwrap();
    quay.msg(&["key", KEY_LEFTMETA, KEY_X]);
    wait_for("the kept binding's command", &quay, || marker.exists());
    assert_eq!(quay.screenshot().pixel(600, 440), [0x30, 0x50, 0x70, 0xff]);

    // `quay msg reload` reads it now (and fails the same way).
    let out = Command::new(common::quay_bin())
        .args(["msg", "--socket", SOCKET, "reload"])
        .env("XDG_RUNTIME_DIR", &quay.runtime_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    std::fs::write(&config_path, SMALL_CONFIG).unwrap();
    quay.msg(&["reload"]);
    assert!(quay.stat("config_reloads_total") >= 2);
}

#[test]
fn foot_started_at_startup_shows_text() {
    let foot = require("foot", "foot");
    let config = format!(
        "startup = [\"{} sh -c 'echo the quick brown fox jumps over the lazy dog; exec sleep 120'\"]\n{SMALL_CONFIG}",
        foot.display()
    );
    let quay = Quay::start(&config);
    wait_for("foot's window", &quay, || quay.stat("windows_live") == 1);
    // foot draws its own title bar at the top (client-side decorations,
    // `zxdg_decoration_manager_v1`) and the text below it: the text is
    // many pixels of other colours than the terminal's background in one
    // row band of the window.
    let text_pixels = |s: &common::Image| {
        let bg = s.pixel(300, 200);
        s.count_not(0, 30, 400, 40, bg)
    };
    let shot = quay.screenshot_until(|s| text_pixels(s) > 200);
    assert!(
        text_pixels(&shot) > 200,
        "foot's text: {} pixels differ from its background",
        text_pixels(&shot)
    );
}
