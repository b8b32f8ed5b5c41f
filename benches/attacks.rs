//! Latency under attack: what a hostile client costs a bystander.
//!
//! For each attack, headless Quay (pixman, one 1280x720 output at 60 Hz)
//! serves a bystander that commits a small window and waits for its frame
//! callback, again and again, on its own connection and thread, while an
//! attacker does its worst on another connection. Printed per attack: the
//! bystander's frames, its longest gap between two frame callbacks and the
//! 99th percentile of the gaps, over the attack's window (from the
//! attack's first request until it ends and 200 ms after), next to the
//! same with no attack. A refresh is 16.7 ms; the goal is a bystander that
//! never waits more than two refreshes longer than it would alone.
//!
//!     cargo bench --bench attacks
//!     QUAY_TEST_BIN=/path/to/other/quay cargo bench --bench attacks   # another build
//!
//! The attacks that need real kernel fences (a dma-buf held by an
//! unsignalled fence at create or on screen) run in the VM suite
//! (`quay-fence-freeze`, which reports the same gap).
#![allow(clippy::disallowed_macros)] // prints its numbers

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    os::fd::AsFd,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use common::Quay;
use quay_test_client::{
    memfd,
    wayland_client::{protocol::wl_shm, Proxy},
    TestClient,
};

const CONFIG: &str = r##"
background = "#102030"
[xwayland]
enabled = false
[[headless.output]]
name = "HEADLESS-1"
width = 1280
height = 720
refresh = 60.0
"##;

/// Frame-callback times of a bystander window, until `stop`.
fn bystander(
    quay: &Quay,
) -> (
    Arc<AtomicBool>,
    Arc<Mutex<Vec<Instant>>>,
    std::thread::JoinHandle<()>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let times = Arc::new(Mutex::new(Vec::new()));
    let path = quay.socket_path();
    let (s, t) = (stop.clone(), times.clone());
    let handle = std::thread::spawn(move || {
        let mut c = TestClient::connect(&path).expect("bystander connects");
        let w = c.window(64, 64, 0xff00ff00).expect("bystander window");
        while !s.load(Ordering::Relaxed) {
            if c.commit_and_wait_frame(&w.surface).is_err() {
                return;
            }
            t.lock().unwrap().push(Instant::now());
        }
    });
    (stop, times, handle)
}

/// (frames, max gap ms, p99 gap ms) of the callbacks within `[from, to]`.
fn gaps(times: &[Instant], from: Instant, to: Instant) -> (usize, f64, f64) {
    let inside: Vec<Instant> = times.iter().copied().filter(|t| *t >= from && *t <= to).collect();
    let mut g: Vec<f64> = inside
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1e3)
        .collect();
    // The waits from the window's start to the first callback and from the
    // last one to the window's end count too (the whole window, when the
    // bystander got nothing in it).
    match (inside.first(), inside.last()) {
        (Some(first), Some(last)) => {
            g.push((*first - from).as_secs_f64() * 1e3);
            g.push((to - *last).as_secs_f64() * 1e3);
        }
        _ => g.push((to - from).as_secs_f64() * 1e3),
    }
    g.sort_by(f64::total_cmp);
    let max = g.last().copied().unwrap_or(f64::NAN);
    let p99 = g
        .get((g.len() * 99 / 100).min(g.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::NAN);
    (inside.len(), max, p99)
}

/// One attack against a fresh Quay: the bystander's numbers during it.
fn measure(name: &str, attack: impl FnOnce(&Quay)) {
    let quay = Quay::start(CONFIG);
    let (stop, times, handle) = bystander(&quay);
    // The bystander is up and steady first.
    let t0 = Instant::now();
    while times.lock().unwrap().len() < 30 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the bystander never got going"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let from = Instant::now();
    attack(&quay);
    std::thread::sleep(Duration::from_millis(200));
    let to = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let _ = handle.join();
    let (frames, max, p99) = gaps(&times.lock().unwrap(), from, to);
    println!(
        "{name:<44} {:>7.0} ms  {frames:>5} frames  longest gap {max:>7.1} ms  p99 {p99:>6.1} ms",
        (to - from).as_secs_f64() * 1e3
    );
}

/// Flush as the socket takes it; `false` once the connection is gone.
fn flush(c: &mut TestClient) -> bool {
    loop {
        match c.conn.flush() {
            Ok(()) => return true,
            Err(quay_test_client::wayland_client::backend::WaylandError::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock =>
            {
                std::thread::sleep(Duration::from_micros(200))
            }
            Err(_) => return false,
        }
    }
}

/// Send `n` requests from `step` (`every` of them between flushes), then
/// wait for the compositor's answer (or the connection's end).
fn flood(c: &mut TestClient, n: usize, every: usize, mut step: impl FnMut(&mut TestClient)) {
    for i in 0..n {
        step(c);
        if i % every == every - 1 && !flush(c) {
            return;
        }
    }
    let _ = c.roundtrip();
}

/// 300 captures of the output, all into one shm buffer, answered.
/// `with_damage`: `copy_with_damage`, then the attacker's own window is
/// committed to damage the output.
fn copy_flood(quay: &Quay, with_damage: bool) {
    let mut c = quay.client();
    let w = c.window(64, 64, 0xff2040c0).unwrap();
    let stride = 1280 * 4;
    let fd = memfd((stride * 720) as u64);
    let pool = c.shm.create_pool(fd.as_fd(), stride * 720, &c.qh, ());
    let buffer = pool.create_buffer(0, 1280, 720, stride, wl_shm::Format::Xrgb8888, &c.qh, ());
    let (mgr, output) = (c.screencopy.clone().unwrap(), c.output.clone().unwrap());
    let frames: Vec<_> = (0..300)
        .map(|_| mgr.capture_output(0, &output, &c.qh, ()))
        .collect();
    for f in &frames {
        if with_damage {
            f.copy_with_damage(&buffer);
        } else {
            f.copy(&buffer);
        }
    }
    if with_damage {
        c.roundtrip().unwrap();
        let _ = c.commit_and_wait_frame(&w.surface);
    }
    let ids: Vec<u32> = frames.iter().map(|f| f.id().protocol_id()).collect();
    let _ = c.dispatch_until("every copy answered", Duration::from_secs(60), |app| {
        ids.iter()
            .all(|id| app.screencopy.get(id).is_some_and(|f| f.ready || f.failed))
    });
}

fn main() {
    println!("bystander's frame callbacks while an attacker runs (headless, pixman, 1280x720@60)");
    measure("no attack (1 s)", |_| std::thread::sleep(Duration::from_secs(1)));
    measure("screencopy: 300 copy_with_damage, then damage", |quay| {
        copy_flood(quay, true)
    });
    measure("screencopy: 300 plain copy", |quay| copy_flood(quay, false));
    measure("surfaces until the object budget (65,536)", |quay| {
        let mut c = quay.client();
        flood(&mut c, 70_000, 32, |c| {
            let _ = c.compositor.create_surface(&c.qh, ());
        });
    });
    measure("positioners until the object budget", |quay| {
        let mut c = quay.client();
        flood(&mut c, 70_000, 32, |c| {
            let _ = c.wm_base.create_positioner(&c.qh, ());
        });
    });
    measure("shm pools until the fd budget", |quay| {
        let mut c = quay.client();
        let fd = memfd(4096);
        flood(&mut c, 5_000, 32, |c| {
            let _ = c.shm.create_pool(fd.as_fd(), 4096, &c.qh, ());
        });
    });
    measure("MIME types of 1 KB until the byte budget", |quay| {
        let mut c = quay.client();
        let source = c
            .data_device_manager
            .clone()
            .unwrap()
            .create_data_source(&c.qh, ());
        let mime = "x".repeat(1000);
        let mut i = 0;
        // One offer a flush: a kilobyte string does not fit the client
        // library's send buffer many times over.
        flood(&mut c, 20_000, 1, |_| {
            source.offer(format!("{mime}{i}"));
            i += 1;
        });
    });
    measure("subsurface chain 64 deep, committed 200 times", |quay| {
        let mut c = quay.client();
        let root = c.window(32, 32, 0xffff0000).unwrap();
        let mut chain = vec![root.surface.clone()];
        let mut subs = Vec::new();
        for _ in 0..64 {
            let (s, sub) = c.subsurface(chain.last().unwrap());
            let b = c.shm_buffer(8, 8, 0xff00ff00, wl_shm::Format::Argb8888);
            s.attach(Some(&b), 0, 0);
            chain.push(s);
            subs.push(sub);
        }
        for _ in 0..200 {
            for s in chain.iter().rev() {
                s.commit();
            }
            if !flush(&mut c) {
                break;
            }
        }
        let _ = c.roundtrip();
        drop(subs);
    });
}
