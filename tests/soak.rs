//! Churn soak on the host: 64 real clients at once for a bounded time,
//! each creating, committing and destroying windows with shm buffers, some
//! with dma-buf params (memfds, answered `failed` here), and leaving in
//! every way a client leaves: cleanly, by dropping the connection with
//! objects alive, between `attach` and `commit`, in the middle of a
//! message, and with params half built. Afterwards Quay's open fds and
//! every live counter of `quay msg stats` are back at their baseline, its
//! RSS is measured against the baseline, and a new client is served.
//!
//! `QUAY_SOAK_SECS` sets how long the 64 clients churn (default 15).

#![allow(clippy::disallowed_macros)] // the numbers are for the person running the test

mod common;

use std::{
    io::Write,
    os::fd::AsFd,
    time::{Duration, Instant},
};

use common::{Quay, SMALL_CONFIG};
use quay_test_client::{memfd, wayland_client::protocol::wl_shm, TestClient};

const CLIENTS: usize = 64;
const LIVE: [&str; 8] = [
    "clients_live",
    "windows_live",
    "dmabufs_live",
    "imported_bytes",
    "pinned_bytes",
    "fences_pending",
    "framebuffers_live",
    "gem_handles_live",
];

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// One client's life, chosen by `round`; returns how it ended.
fn one_life(quay_socket: &std::path::Path, round: usize) -> &'static str {
    // A connection that dies in the middle of a message.
    if round % 7 == 3 {
        let mut s = std::os::unix::net::UnixStream::connect(quay_socket).unwrap();
        // wl_display.get_registry's header, cut short.
        let _ = s.write_all(&[1, 0, 0, 0, 1, 0]);
        return "mid-message";
    }
    let mut c = match TestClient::connect(quay_socket) {
        Ok(c) => c,
        Err(e) => panic!("a churn client could not connect: {e}"),
    };
    let w = c
        .window(
            32 + (round % 5) as i32 * 8,
            24,
            0xff000000 | (round as u32).wrapping_mul(2654435761),
        )
        .unwrap();
    for _ in 0..(1 + round % 3) {
        if c.commit_and_wait_frame(&w.surface).is_err() {
            return "error";
        }
    }
    match round % 7 {
        0 => {
            // Clean: every object destroyed.
            w.toplevel.destroy();
            w.xdg_surface.destroy();
            w.surface.destroy();
            let _ = c.roundtrip();
            "clean"
        }
        1 => "dropped with objects alive",
        2 => {
            // Killed between attach and commit.
            let b = c.shm_buffer(32, 32, 0xff00ff00, wl_shm::Format::Xrgb8888);
            w.surface.attach(Some(&b), 0, 0);
            let _ = c.conn.flush();
            "between attach and commit"
        }
        4 => {
            // Mid-import: params with planes, never created.
            let fd = memfd(4096);
            let p = c.params();
            p.add(fd.as_fd(), 0, 0, 64, 0, 0);
            let _ = c.conn.flush();
            "mid-import"
        }
        5 => {
            // A dma-buf the host cannot import: `failed`, then gone.
            let fd = memfd(32 * 32 * 4);
            let p = c.params();
            p.add(fd.as_fd(), 0, 0, 128, 0, 0);
            p.create(32, 32, 0x3432_5258, quay_test_client::wayland_protocols::wp::linux_dmabuf::zv1::client::zwp_linux_buffer_params_v1::Flags::empty());
            let _ = c.wait_params(&p);
            "failed dma-buf"
        }
        _ => {
            // Many buffers, then the window goes and the client stays a bit.
            for i in 0..8 {
                let b = c.shm_buffer(16, 16, 0xff000000 | i, wl_shm::Format::Xrgb8888);
                w.surface.attach(Some(&b), 0, 0);
                w.surface.damage_buffer(0, 0, 16, 16);
                if c.commit_and_wait_frame(&w.surface).is_err() {
                    return "error";
                }
                b.destroy();
            }
            w.toplevel.destroy();
            w.xdg_surface.destroy();
            let _ = c.roundtrip();
            "buffer churn"
        }
    }
}

#[test]
fn sixty_four_clients_churn_and_everything_comes_back() {
    let secs: u64 = std::env::var("QUAY_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let quay = Quay::start(SMALL_CONFIG);
    let pid = quay.child.id();
    let mut observer = quay.client();
    let ow = observer.window(16, 16, 0xffffffff).unwrap();
    // The baseline is taken once the observer is on screen: a frame
    // callback alone does not say so (smithay sends an overdue one to a
    // surface no frame has drawn yet, smithay-0.7.0
    // src/desktop/wayland/utils.rs:244), and on GLES the observer's upload
    // is pinned only once it is drawn. `presented` says it was.
    let _fb = observer.feedback(&ow.surface);
    observer.commit_and_wait_frame(&ow.surface).unwrap();
    observer
        .dispatch_until("the observer presented", Duration::from_secs(10), |app| {
            !app.presented.is_empty()
        })
        .expect("the observer's first frame is presented");
    let base_stats = quay.msg(&["stats"]);
    let base_fds = open_fds(pid);
    let base_rss = rss_kib(pid);

    let socket = quay.socket_path();
    let until = Instant::now() + Duration::from_secs(secs);
    let threads: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let mut lives = 0usize;
                let mut endings = std::collections::BTreeMap::<&'static str, usize>::new();
                while Instant::now() < until {
                    *endings.entry(one_life(&socket, t + lives * CLIENTS)).or_default() += 1;
                    lives += 1;
                }
                endings
            })
        })
        .collect();
    // The observer keeps getting frames while the churn runs.
    let mut observer_frames = 0;
    while Instant::now() < until {
        observer
            .commit_and_wait_frame(&ow.surface)
            .expect("the observer is served during the churn");
        observer_frames += 1;
    }
    let peak_rss = rss_kib(pid);
    let mut endings = std::collections::BTreeMap::<&'static str, usize>::new();
    for t in threads {
        for (k, v) in t.join().expect("a churn thread panicked") {
            *endings.entry(k).or_default() += v;
        }
    }
    let lives: usize = endings.values().sum();
    assert_eq!(
        endings.get("error"),
        None,
        "no churn client got an error: {endings:?}"
    );

    // Back at the baseline.
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let s = quay.msg(&["stats"]);
        if LIVE.iter().all(|k| s[k] == base_stats[k]) && open_fds(pid) <= base_fds
            || Instant::now() > deadline
        {
            break s;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let after_fds = open_fds(pid);
    let after_rss = rss_kib(pid);
    eprintln!(
        "soak: {CLIENTS} clients, {secs} s, {lives} client lives {endings:?}, observer frames {observer_frames}; \
         fds {base_fds} -> {after_fds}; RSS {base_rss} KiB -> peak {peak_rss} -> after {after_rss} KiB; \
         clients served {}",
        after["clients_connected_total"]
    );
    for k in LIVE {
        assert_eq!(after[k], base_stats[k], "{k} back at its baseline");
    }
    assert!(
        after_fds <= base_fds,
        "fds back at the baseline: {after_fds} > {base_fds}"
    );
    // glibc keeps freed memory for reuse, so RSS need not drop to the byte;
    // it must not keep what 64 clients' worth of churn took.
    assert!(
        after_rss <= base_rss + 32 * 1024,
        "RSS {after_rss} KiB after vs {base_rss} KiB before"
    );
    assert!(lives >= CLIENTS, "every churn thread lived at least once");
    // A new client is served.
    let mut late = quay.client();
    let w = late.window(16, 16, 0xff00ff00).unwrap();
    late.commit_and_wait_frame(&w.surface).unwrap();
}
