//! X11 applications: Quay starts Xwayland and hands its `DISPLAY` to
//! `startup` commands; real X clients (`xwininfo`, `xeyes`) are served,
//! and an X11 toplevel is mapped and drawn like a Wayland one.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{require, Quay, BACKGROUND};

const CONFIG: &str = r##"
background = "#102030"
[[headless.output]]
name = "HEADLESS-1"
width = 640
height = 480
refresh = 60.0
"##;

/// Xwayland's start-up is slower than a client's.
fn wait_for(what: &str, quay: &Quay, ok: impl FnMut() -> bool) {
    common::wait_for_within(what, quay, Duration::from_secs(60), ok)
}

#[test]
fn x11_clients_are_served_on_the_display_given_to_startup() {
    require("Xwayland", "xwayland");
    let xwininfo = require("xwininfo", "x11-utils");
    let xeyes = require("xeyes", "x11-apps");
    let dir = tempfile::tempdir().unwrap();
    let info = dir.path().join("xwininfo");
    let config = format!(
        "startup = [\n  'echo \"DISPLAY=$DISPLAY\" > {info}.tmp; {xwininfo} -root >> {info}.tmp 2>&1; mv {info}.tmp {info}',\n  \
         'exec {xeyes} -geometry 200x150',\n]\n{CONFIG}",
        info = info.display(),
        xwininfo = xwininfo.display(),
        xeyes = xeyes.display(),
    );
    let quay = Quay::start(&config);
    wait_for("xwininfo's output", &quay, || info.exists());
    let text = std::fs::read_to_string(&info).unwrap();
    let display = text.lines().next().unwrap_or_default();
    assert!(
        display.starts_with("DISPLAY=:") && display.len() > "DISPLAY=:".len(),
        "startup commands get Xwayland's DISPLAY: {text}"
    );
    // The root window of a rootless Xwayland spans Quay's outputs.
    assert!(text.contains("(the root window)"), "xwininfo talked to X: {text}");
    assert!(
        text.contains("Width: 640") && text.contains("Height: 480"),
        "Xwayland sees the 640x480 output: {text}"
    );
    assert!(
        quay.log_text().contains("Xwayland is ready"),
        "{}",
        quay.log_text()
    );

    // xeyes' window: mapped in the space as a window, at the first free
    // place (the output's origin: no window before it), and drawn there.
    wait_for("xeyes' window", &quay, || quay.stat("windows_live") == 1);
    let shot = quay.screenshot_until(|s| s.count_not(0, 0, 200, 150, BACKGROUND) > 5000);
    let covered = shot.count_not(0, 0, 200, 150, BACKGROUND);
    assert!(covered > 5000, "xeyes drew {covered} of 30000 pixels at (0, 0)");
    assert_eq!(
        shot.count_not(300, 250, 300, 200, BACKGROUND),
        0,
        "nothing else on the output"
    );
    assert!(quay.log_text().contains("mapped X11 window"));

    // Input: the pointer over it is on its surface, the keyboard follows
    // the newest window; off it, the pointer is on nothing.
    let over = quay.msg(&["pointer", "100", "70"]);
    assert!(over["focus"].is_u64(), "pointer focus on xeyes: {over}");
    wait_for("the keyboard on xeyes", &quay, || {
        quay.msg(&["key", "44"])["focus"] == over["focus"]
    });
    let off = quay.msg(&["pointer", "400", "300"]);
    assert!(off["focus"].is_null(), "{off}");
}

/// Run `program args` against this Quay's X display and Wayland socket;
/// its stdout. A paste that hangs (a transfer that never ends) is killed
/// after 20 s, so the wait around it fails instead of hanging the suite.
fn run(quay: &Quay, display: &str, program: &Path, args: &[&str]) -> String {
    let mut client = quay.spawn_client(program, args, &[("DISPLAY", display)]);
    if common::wait_timeout(&mut client.child, Duration::from_secs(20)).is_none() {
        let _ = client.child.kill();
        let _ = client.child.wait();
    }
    std::fs::read_to_string(&client.out).unwrap_or_default()
}

/// A selection owner (`xclip -i -quiet`, `wl-copy --foreground`) serving
/// from the foreground until it loses the selection or is dropped (killed
/// then, also when the test panics). It must outlive the paste: an owner
/// that exits after serving once (`xclip -loops 1`) clears the selection,
/// and a paster that sees the clear before it reads the pipe (wl-paste
/// does a roundtrip after `receive`) reports "No selection" although the
/// data was sent.
struct Owner(common::RunningClient);

impl Owner {
    fn start(quay: &Quay, display: &str, program: &Path, args: &[&str]) -> Owner {
        Owner(quay.spawn_client(program, args, &[("DISPLAY", display)]))
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

#[test]
fn the_clipboard_and_primary_selection_cross_between_x11_and_wayland() {
    require("Xwayland", "xwayland");
    let xclip = require("xclip", "xclip");
    let wl_copy = require("wl-copy", "wl-clipboard");
    let wl_paste = require("wl-paste", "wl-clipboard");
    let xeyes = require("xeyes", "x11-apps");
    let dir = tempfile::tempdir().unwrap();
    let display_file = dir.path().join("display");
    let config = format!(
        "startup = ['echo $DISPLAY > {f}.tmp && mv {f}.tmp {f}', 'exec {xeyes}']\n{CONFIG}",
        f = display_file.display(),
        xeyes = xeyes.display()
    );
    let quay = Quay::start(&config);
    wait_for("DISPLAY", &quay, || display_file.exists());
    let display = std::fs::read_to_string(&display_file).unwrap().trim().to_owned();
    // An X11 window has the keyboard: X11 clients may read the selection.
    wait_for("xeyes focused", &quay, || {
        quay.stat("windows_live") == 1 && quay.msg(&["key", "44"])["focus"].is_u64()
    });

    // Wayland to X11.
    let _wayland = Owner::start(&quay, &display, &wl_copy, &["--foreground", "from wayland"]);
    wait_for("xclip reading the Wayland clipboard", &quay, || {
        run(&quay, &display, &xclip, &["-o", "-selection", "clipboard"]) == "from wayland"
    });

    // X11 to Wayland, both selections; xclip -i reads the text from a file.
    let text = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let clipboard = text("clipboard.txt", "from x11");
    let _clipboard = Owner::start(
        &quay,
        &display,
        &xclip,
        &["-i", "-quiet", "-selection", "clipboard", &clipboard],
    );
    wait_for("wl-paste reading the X11 clipboard", &quay, || {
        run(&quay, &display, &wl_paste, &["--no-newline"]) == "from x11"
    });
    let primary = text("primary.txt", "x11 primary");
    let _primary = Owner::start(
        &quay,
        &display,
        &xclip,
        &["-i", "-quiet", "-selection", "primary", &primary],
    );
    wait_for("wl-paste reading the X11 primary selection", &quay, || {
        run(&quay, &display, &wl_paste, &["--primary", "--no-newline"]) == "x11 primary"
    });
}

/// Xwayland killed in the middle of a large selection transfer from X11 to
/// a Wayland client: the transfer's loop source (smithay's, writing into
/// the paster's pipe) is still registered and fires once the paster reads
/// again. Quay keeps Xwayland's window manager for it and goes on; it used
/// to have dropped the WM and panicked when the source asked for it.
#[test]
fn xwayland_dying_mid_transfer_leaves_quay_running() {
    use std::io::Read;
    require("Xwayland", "xwayland");
    let xclip = require("xclip", "xclip");
    let wl_paste = require("wl-paste", "wl-clipboard");
    let xeyes = require("xeyes", "x11-apps");
    let dir = tempfile::tempdir().unwrap();
    let display_file = dir.path().join("display");
    let config = format!(
        "startup = ['echo $DISPLAY > {f}.tmp && mv {f}.tmp {f}', 'exec {xeyes}']\n{CONFIG}",
        f = display_file.display(),
        xeyes = xeyes.display()
    );
    let quay = Quay::start(&config);
    wait_for("DISPLAY", &quay, || display_file.exists());
    let display = std::fs::read_to_string(&display_file).unwrap().trim().to_owned();
    wait_for("xeyes focused", &quay, || {
        quay.stat("windows_live") == 1 && quay.msg(&["key", "44"])["focus"].is_u64()
    });
    // 16 MB on the X11 clipboard: an INCR transfer, far more than pipes hold.
    let payload = dir.path().join("payload");
    std::fs::write(&payload, vec![b'x'; 16 << 20]).unwrap();
    let _owner = Owner::start(
        &quay,
        &display,
        &xclip,
        &[
            "-i",
            "-quiet",
            "-selection",
            "clipboard",
            &payload.to_string_lossy(),
        ],
    );
    wait_for("the X11 clipboard offered to Wayland", &quay, || {
        run(&quay, &display, &wl_paste, &["--list-types"]).contains("text/plain")
    });
    // wl-paste writes into a pipe the test reads only later: once both
    // pipes are full, Quay's transfer source waits for wl-paste to read.
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    let mut paste = std::process::Command::new(&wl_paste)
        .arg("--no-newline")
        .env("WAYLAND_DISPLAY", common::SOCKET)
        .env("XDG_RUNTIME_DIR", &quay.runtime_dir)
        .stdout(std::process::Stdio::from(writer))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = std::fs::File::from(reader);
    let full = |f: &std::fs::File| rustix::io::ioctl_fionread(f).unwrap_or(0) >= 65536;
    wait_for("the paster's pipe full", &quay, || full(&reader));
    // Xwayland goes, mid-transfer.
    let quay_pid = quay.child.id();
    let xwayland = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // "pid (comm) state ppid ..."
            let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
            stat.contains("(Xwayland)") && after.split(' ').nth(1) == Some(&quay_pid.to_string())
        })
        .expect("Quay's Xwayland");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(xwayland).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    wait_for("Quay to see Xwayland go", &quay, || {
        let log = quay.log_text();
        log.contains("Xwayland exited") || log.contains("lost its connection to Xwayland")
    });
    // The paster reads again: the transfer's source fires.
    // Read until a second passes without data (the cut-off transfer never
    // ends: its pipe stays open with the retired WM, see src/xwayland.rs).
    rustix::fs::fcntl_setfl(&reader, rustix::fs::OFlags::NONBLOCK).unwrap();
    let mut sink = vec![0u8; 1 << 16];
    let mut last_data = std::time::Instant::now();
    while last_data.elapsed() < Duration::from_secs(1) {
        match reader.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => last_data = std::time::Instant::now(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(_) => break,
        }
    }
    let _ = paste.kill();
    let _ = paste.wait();
    let mut quay = quay;
    assert!(
        quay.child.try_wait().unwrap().is_none(),
        "Quay died; log:\n{}",
        quay.log_text()
    );
    let mut c = quay.client();
    c.roundtrip()
        .expect("Quay serves Wayland clients after Xwayland died");
    assert!(quay.terminate().success());
}

/// X11 windows are placed by the toplevel policy (`Core::free_position`):
/// an `xeyes` mapped after a Wayland window goes beside it, not at the
/// output's origin on top of it, and a Wayland window mapped after the
/// X11 one goes beside that.
#[test]
fn x11_windows_are_placed_beside_wayland_ones() {
    require("Xwayland", "xwayland");
    let xeyes = require("xeyes", "x11-apps");
    let dir = tempfile::tempdir().unwrap();
    let display_file = dir.path().join("display");
    let config = format!(
        "startup = ['echo $DISPLAY > {f}.tmp && mv {f}.tmp {f}']\n{CONFIG}",
        f = display_file.display(),
    );
    let quay = Quay::start(&config);
    wait_for("DISPLAY", &quay, || display_file.exists());
    let display = std::fs::read_to_string(&display_file).unwrap().trim().to_owned();

    let mut c = quay.client();
    let first = c.window(200, 150, 0xff00ff00).unwrap();
    c.commit_and_wait_frame(&first.surface).unwrap();
    let rect = |w: &serde_json::Value| {
        let n = |v: &serde_json::Value, i: usize| v[i].as_i64().unwrap_or(-1);
        (
            n(&w["location"], 0),
            n(&w["location"], 1),
            n(&w["size"], 0),
            n(&w["size"], 1),
        )
    };
    let windows = quay.msg(&["windows"]);
    let wayland = rect(&windows[0]);
    assert_eq!(wayland, (0, 0, 200, 150), "{windows}");

    let _eyes = quay.spawn_client(&xeyes, &["-geometry", "120x90"], &[("DISPLAY", &display)]);
    wait_for("xeyes' window", &quay, || quay.stat("windows_live") == 2);
    let windows = quay.msg(&["windows"]);
    let x11 = windows
        .as_array()
        .and_then(|w| w.iter().find(|w| w["x11"] == true))
        .map(rect)
        .unwrap_or_else(|| panic!("no X11 window: {windows}"));
    let overlap = |a: (i64, i64, i64, i64), b: (i64, i64, i64, i64)| {
        a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
    };
    assert!(
        !overlap(x11, wayland),
        "xeyes {x11:?} covers the Wayland window {wayland:?}"
    );
    assert_eq!(x11, (200, 0, 120, 90), "beside the last window placed: {windows}");

    // And a Wayland window after it goes beside xeyes.
    let second = c.window(100, 80, 0xffff0000).unwrap();
    c.commit_and_wait_frame(&second.surface).unwrap();
    let windows = quay.msg(&["windows"]);
    let placed = rect(&windows[0]);
    assert_eq!(placed, (320, 0, 100, 80), "{windows}");
}

/// `[xwayland] enabled = false`: no X server, no `DISPLAY` for startup
/// commands, and the log says why.
#[test]
fn xwayland_off_starts_no_x_server() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("env");
    let config = format!(
        "startup = ['echo \"DISPLAY=$DISPLAY\" > {f}.tmp && mv {f}.tmp {f}']\n{}",
        common::SMALL_CONFIG,
        f = env_file.display(),
    );
    let quay = Quay::start(&config);
    wait_for("the startup command", &quay, || env_file.exists());
    assert_eq!(std::fs::read_to_string(&env_file).unwrap().trim(), "DISPLAY=");
    assert!(quay.log_text().contains("Xwayland is off"), "{}", quay.log_text());
    assert!(!quay.log_text().contains("Xwayland is ready"));
}
