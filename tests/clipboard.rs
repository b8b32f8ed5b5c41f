//! The clipboard with Debian's wl-clipboard against headless Quay: `wl-copy`
//! sets a selection, `wl-paste` reads it back through Quay (the bytes travel
//! over a pipe from one process to the other), on the regular and the
//! primary selection, over data control (what wl-clipboard uses when the
//! compositor offers it, and what clipboard managers need).

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
