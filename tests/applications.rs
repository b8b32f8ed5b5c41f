//! The applications people run, unmodified from Debian, against headless
//! Quay at 1920x1080 on the renderer of the pass (the README's test command
//! runs this file on pixman and on GLES): GTK 4 and GTK 3 (their widget
//! factories), Qt 6 (`qml` showing a small QML file), Chromium, Firefox ESR,
//! mpv, foot, and xterm through Xwayland.
//!
//! Each application, through Quay's own keyboard path (`quay msg key`,
//! what a keyboard's keys take):
//! - maps a window whose pixels are on screen;
//! - takes typed text where it has a text field, read back from outside:
//!   the window's title (a page or QML field that titles itself with what
//!   was typed), the clipboard (GTK: select all, copy, `wl-paste`), or a
//!   file a shell in the terminal writes;
//! - resizes when Quay maximizes it (Super+M) to (nearly) the output, and
//!   back when it is restored (X11 and Wayland alike);
//! - quits when Quay closes it (Super+Shift+Q), with no protocol error in
//!   its `WAYLAND_DEBUG` log, and leaves no window, client, surface, import
//!   or fd behind.
//!
//! The applications run one at a time (a lock below): a browser start-up
//! takes both cores of the machine.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
    time::Duration,
};

use common::{require, wait_for_within, wait_timeout, Quay, SOCKET};
use serde_json::Value;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const OUTPUT: &str = r##"
background = "#102030"
[[headless.output]]
name = "HEADLESS-1"
width = 1920
height = 1080
refresh = 60.0
"##;
const NO_X: &str = "[xwayland]\nenabled = false\n";
const BACKGROUND: [u8; 4] = [0x10, 0x20, 0x30, 0xff];
const CAP: Duration = Duration::from_secs(120);
/// The output's size: larger than the widget factories' smallest windows,
/// so that maximizing grows them.
const W: i64 = 1920;
const H: i64 = 1080;

/// evdev codes (linux/input-event-codes.h) for the keys the tests type,
/// on the default US layout: (code, shifted).
fn key_of(c: char) -> (u32, bool) {
    const ROWS: [(&str, u32); 3] = [("qwertyuiop", 16), ("asdfghjkl", 30), ("zxcvbnm", 44)];
    if c.is_ascii_alphabetic() {
        let l = c.to_ascii_lowercase();
        for (row, first) in ROWS {
            if let Some(i) = row.find(l) {
                return (first + i as u32, c.is_ascii_uppercase());
            }
        }
    }
    match c {
        '1'..='9' => (2 + (c as u32 - '1' as u32), false),
        '0' => (11, false),
        ' ' => (57, false),
        '.' => (52, false),
        '>' => (52, true),
        '/' => (53, false),
        '-' => (12, false),
        '_' => (12, true),
        '\n' => (28, false),
        _ => panic!("no key for {c:?}"),
    }
}

/// Type `text` through Quay's keyboard path.
fn type_text(quay: &Quay, text: &str) {
    for c in text.chars() {
        let (code, shift) = key_of(c);
        let code = code.to_string();
        if shift {
            quay.msg(&["key", "42", &code]);
        } else {
            quay.msg(&["key", &code]);
        }
    }
}

/// How typed text is read back.
enum Text {
    /// The application has no text field (mpv).
    None,
    /// The window's title becomes what was typed (a page, a QML field).
    Title,
    /// GTK: the focused entry takes it; select all, copy, `wl-paste`.
    Clipboard,
    /// A terminal: a shell writes it to a file.
    Shell,
}

struct App<'a> {
    name: &'a str,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(&'a str, String)>,
    /// Whether this is the application's window (`quay msg windows` entry).
    is_it: &'a dyn Fn(&Value) -> bool,
    text: Text,
    /// Through Xwayland (no WAYLAND_DEBUG log of its own).
    x11: bool,
}

fn window_of(quay: &Quay, app: &App) -> Option<Value> {
    quay.msg(&["windows"])
        .as_array()?
        .iter()
        .find(|w| (app.is_it)(w))
        .cloned()
}

fn size_of(w: &Value) -> (i64, i64) {
    (
        w["size"][0].as_i64().unwrap_or(0),
        w["size"][1].as_i64().unwrap_or(0),
    )
}

fn run(quay: &Quay, app: App) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let name = app.name;
    let base = quay.msg(&["stats"]);
    let stat = |s: &Value, k: &str| s[k].as_u64().unwrap_or(u64::MAX);
    let mut env: Vec<(&str, &str)> = app.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if !app.x11 {
        env.push(("WAYLAND_DEBUG", "client"));
    }
    let args: Vec<&str> = app.args.iter().map(String::as_str).collect();
    let mut client = quay.spawn_client(&app.program, &args, &env);

    // A window with pixels on screen.
    wait_for_within(&format!("{name}'s window"), quay, CAP, || {
        window_of(quay, &app).is_some_and(|w| size_of(&w).0 > 0)
    });
    let w = window_of(quay, &app).unwrap_or_default();
    let (x, y) = (
        w["location"][0].as_i64().unwrap_or(0),
        w["location"][1].as_i64().unwrap_or(0),
    );
    let (width, height) = size_of(&w);
    let (x0, y0) = (x.clamp(0, 1279) as u32, y.clamp(0, 719) as u32);
    let (vw, vh) = (
        (x + width).clamp(0, 1280) as u32 - x0,
        (y + height).clamp(0, 720) as u32 - y0,
    );
    let drawn = |s: &common::Image| s.count_not(x0, y0, vw, vh, BACKGROUND);
    let shot = quay.screenshot_until(|s| drawn(s) * 2 >= (vw * vh) as usize);
    assert!(
        drawn(&shot) * 2 >= (vw * vh) as usize,
        "{name}: {} of its {vw}x{vh} visible pixels drawn",
        drawn(&shot)
    );
    wait_for_within(&format!("{name} to have the keyboard"), quay, CAP, || {
        window_of(quay, &app).is_some_and(|w| w["focused"] == true)
    });

    // Typed text, read back.
    match app.text {
        Text::None => {}
        Text::Title => {
            // The page or QML file is loaded (its field has the focus) once
            // it has titled the window.
            wait_for_within(&format!("{name}'s page"), quay, CAP, || {
                window_of(quay, &app).is_some_and(|w| w["title"].as_str().unwrap_or("").starts_with("start"))
            });
            type_text(quay, "qayh");
            wait_for_within(&format!("{name}'s title to be what was typed"), quay, CAP, || {
                window_of(quay, &app).is_some_and(|w| w["title"].as_str().unwrap_or("").starts_with("qayh"))
            });
        }
        Text::Clipboard => {
            type_text(quay, "qayh");
            quay.msg(&["key", "29", "30"]);
            quay.msg(&["key", "29", "46"]);
            let paste = require("wl-paste", "wl-clipboard");
            wait_for_within(
                &format!("what was typed into {name}, on the clipboard"),
                quay,
                CAP,
                || {
                    let out = Command::new(&paste)
                        .arg("-n")
                        .env("WAYLAND_DISPLAY", SOCKET)
                        .env("XDG_RUNTIME_DIR", &quay.runtime_dir)
                        .output();
                    out.is_ok_and(|o| o.stdout == b"qayh")
                },
            );
        }
        Text::Shell => {
            let file = quay.dir.path().join("typed");
            type_text(quay, &format!("echo qayh > {}\n", file.display()));
            wait_for_within(
                &format!("the shell in {name} to write what was typed"),
                quay,
                CAP,
                || std::fs::read_to_string(&file).is_ok_and(|s| s == "qayh\n"),
            );
        }
    }

    // Maximized by Quay, and restored.
    let before = size_of(&window_of(quay, &app).unwrap_or_default());
    quay.msg(&["key", "125", "50"]);
    wait_for_within(&format!("{name} maximized"), quay, CAP, || {
        window_of(quay, &app).is_some_and(|w| {
            let (mw, mh) = size_of(&w);
            (mw, mh) != before && mw * 10 >= W * 9 && mh * 10 >= H * 9
        })
    });
    quay.msg(&["key", "125", "50"]);
    wait_for_within(&format!("{name} restored"), quay, CAP, || {
        window_of(quay, &app).is_some_and(|w| size_of(&w) == before)
    });

    // Closed by Quay: it quits, and nothing of it is left.
    quay.msg(&["key", "125", "42", "16"]);
    let status = wait_timeout(&mut client.child, CAP);
    assert!(
        status.is_some(),
        "{name} did not quit when Quay closed its window"
    );
    let out = client.stop();
    for l in out.stderr.lines() {
        assert!(
            !(l.contains("wl_display@1.error(") || l.contains("wl_display#1.error(")),
            "{name} got a protocol error: {l}"
        );
    }
    wait_for_within(&format!("{name}'s traces gone"), quay, CAP, || {
        let s = quay.msg(&["stats"]);
        stat(&s, "windows_live") == stat(&base, "windows_live")
            && stat(&s, "clients_live") == stat(&base, "clients_live")
            && stat(&s, "dmabufs_live") == stat(&base, "dmabufs_live")
            && stat(&s, "shm_surfaces_live") == stat(&base, "shm_surfaces_live")
            && stat(&s, "fds_open") <= stat(&base, "fds_open")
    });
}

fn by_app_id(want: &'static str) -> impl Fn(&Value) -> bool {
    move |w: &Value| w["app_id"].as_str().is_some_and(|a| a.starts_with(want))
}

fn config(x11: bool) -> String {
    if x11 {
        OUTPUT.to_string()
    } else {
        format!("{OUTPUT}{NO_X}")
    }
}

/// The page both browsers show: a field that titles the page with what is typed.
fn page(dir: &Path) -> String {
    let path = dir.join("page.html");
    std::fs::write(
        &path,
        "<title>start</title><input autofocus oninput=\"document.title=this.value\">",
    )
    .unwrap();
    format!("file://{}", path.display())
}

#[test]
fn gtk4_widget_factory() {
    let program = require("gtk4-widget-factory", "gtk-4-examples");
    let quay = Quay::start(&config(false));
    let is_it = by_app_id("gtk4-widget-factory");
    run(
        &quay,
        App {
            name: "gtk4-widget-factory",
            program,
            args: vec![],
            env: vec![("GDK_BACKEND", "wayland".into())],
            is_it: &is_it,
            text: Text::Clipboard,
            x11: false,
        },
    );
}

#[test]
fn gtk3_widget_factory() {
    let program = require("gtk3-widget-factory", "gtk-3-examples");
    let quay = Quay::start(&config(false));
    let is_it = by_app_id("gtk3-widget-factory");
    run(
        &quay,
        App {
            name: "gtk3-widget-factory",
            program,
            args: vec![],
            env: vec![("GDK_BACKEND", "wayland".into())],
            is_it: &is_it,
            text: Text::Clipboard,
            x11: false,
        },
    );
}

#[test]
fn qt6_qml() {
    // qml-qt6 installs its runner off PATH.
    let program = PathBuf::from("/usr/lib/qt6/bin/qml");
    assert!(
        program.exists(),
        "{} is missing: apt-get install qml-qt6 qt6-wayland (the README's test command does)",
        program.display()
    );
    let quay = Quay::start(&config(false));
    let qml = quay.dir.path().join("field.qml");
    std::fs::write(
        &qml,
        "import QtQuick\nimport QtQuick.Controls\nApplicationWindow {\n  visible: true\n  width: 320; height: 200\n  \
         title: field.text === \"\" ? \"start\" : field.text\n  color: \"#3060c0\"\n  \
         TextField { id: field; anchors.centerIn: parent; width: 200; focus: true }\n}\n",
    )
    .unwrap();
    let is_it = by_app_id("org.qt-project.qml");
    run(
        &quay,
        App {
            name: "qml (Qt 6)",
            program,
            args: vec![qml.display().to_string()],
            env: vec![("QT_QPA_PLATFORM", "wayland".into())],
            is_it: &is_it,
            text: Text::Title,
            x11: false,
        },
    );
}

#[test]
fn chromium() {
    let program = require("chromium", "chromium");
    let quay = Quay::start(&config(false));
    let profile = quay.dir.path().join("chromium");
    let is_it = by_app_id("chrome-");
    run(
        &quay,
        App {
            name: "chromium",
            args: vec![
                "--ozone-platform=wayland".into(),
                // The tests run as root, where Chromium's sandbox cannot.
                "--no-sandbox".into(),
                format!("--user-data-dir={}", profile.display()),
                "--no-first-run".into(),
                "--disable-gpu".into(),
                format!("--app={}", page(quay.dir.path())),
            ],
            program,
            env: vec![],
            is_it: &is_it,
            text: Text::Title,
            x11: false,
        },
    );
}

#[test]
fn firefox_esr() {
    let program = require("firefox-esr", "firefox-esr");
    let quay = Quay::start(&config(false));
    let profile = quay.dir.path().join("firefox");
    std::fs::create_dir_all(&profile).unwrap();
    // No first-run pages: the page under test is the only tab.
    std::fs::write(
        profile.join("user.js"),
        "user_pref(\"browser.startup.homepage_override.mstone\", \"ignore\");\n\
         user_pref(\"startup.homepage_welcome_url\", \"\");\n\
         user_pref(\"startup.homepage_welcome_url.additional\", \"\");\n\
         user_pref(\"browser.aboutwelcome.enabled\", false);\n\
         user_pref(\"datareporting.policy.dataSubmissionEnabled\", false);\n\
         user_pref(\"toolkit.telemetry.reportingpolicy.firstRun\", false);\n\
         user_pref(\"browser.shell.checkDefaultBrowser\", false);\n",
    )
    .unwrap();
    let is_it = by_app_id("firefox-esr");
    run(
        &quay,
        App {
            name: "firefox-esr",
            args: vec![
                "--no-remote".into(),
                "--new-instance".into(),
                "--profile".into(),
                profile.display().to_string(),
                page(quay.dir.path()),
            ],
            program,
            env: vec![("MOZ_ENABLE_WAYLAND", "1".into())],
            is_it: &is_it,
            text: Text::Title,
            x11: false,
        },
    );
}

#[test]
fn mpv_wlshm() {
    let program = require("mpv", "mpv");
    let quay = Quay::start(&config(false));
    let is_it = by_app_id("mpv");
    run(
        &quay,
        App {
            name: "mpv",
            args: vec![
                "--no-config".into(),
                "--vo=wlshm".into(),
                "--ao=null".into(),
                "--loop".into(),
                "av://lavfi:testsrc=size=320x240:rate=30".into(),
            ],
            program,
            env: vec![],
            is_it: &is_it,
            text: Text::None,
            x11: false,
        },
    );
}

#[test]
fn foot() {
    let program = require("foot", "foot");
    let quay = Quay::start(&config(false));
    let is_it = by_app_id("foot");
    run(
        &quay,
        App {
            name: "foot",
            args: vec![],
            program,
            env: vec![("SHELL", "/bin/sh".into())],
            is_it: &is_it,
            text: Text::Shell,
            x11: false,
        },
    );
}

#[test]
fn xterm_through_xwayland() {
    require("Xwayland", "xwayland");
    let program = require("xterm", "xterm");
    let dir = tempfile::tempdir().unwrap();
    let display_file = dir.path().join("display");
    let config = format!(
        "startup = ['echo $DISPLAY > {f}.tmp && mv {f}.tmp {f}']\n{}",
        config(true),
        f = display_file.display()
    );
    let quay = Quay::start(&config);
    wait_for_within("Xwayland's DISPLAY", &quay, CAP, || display_file.exists());
    let display = std::fs::read_to_string(&display_file).unwrap().trim().to_owned();
    let is_it = |w: &Value| w["x11"] == true;
    run(
        &quay,
        App {
            name: "xterm",
            args: vec![],
            program,
            env: vec![("DISPLAY", display), ("SHELL", "/bin/sh".into())],
            is_it: &is_it,
            text: Text::Shell,
            x11: true,
        },
    );
}
