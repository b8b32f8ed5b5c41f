//! Hostile clients against a real Quay over a real socket: the fd limit,
//! per-client budgets, `accept` running out of fds, and `wl_shm`'s errors.
//!
//! | case | client does | Quay answers |
//! |---|---|---|
//! | `fd_limit_is_raised_and_a_pool_flood_is_stopped_by_its_budget` | under a soft limit of 1024, `wl_shm.create_pool` as fast as it can | soft limit raised to the hard one; the flood gets `wl_display.error` `no_memory` naming `client_fds`; a bystander round-trips throughout; Quay's fd count returns to its baseline |
//! | `a_dmabuf_params_flood_is_stopped_by_its_budget` | `zwp_linux_buffer_params_v1.add` as fast as it can | the same, for params planes |
//! | `a_buffer_byte_budget_stops_big_pools` | a pool larger than `client_buffer_mib` | `no_memory` naming `client_buffer_mib` |
//! | `accept_out_of_fds_pauses_instead_of_ending_quay` | up to 300 idle connections against a hard limit of 128 | Quay keeps running, counts the back-off, and serves a new client once fds are free |
//! | `wl_shm_errors` | negative / zero pool size, `resize(0)`, a shrink, a buffer outside its pool, a bad format | `invalid_stride`, `invalid_fd`, `invalid_format` for that client; a bystander keeps its frames |

mod common;

use std::{
    os::fd::AsFd,
    time::{Duration, Instant},
};

use common::{error_of, Quay, SMALL_CONFIG};
use quay_test_client::{memfd, wayland_client::protocol::wl_shm, ClientError, TestClient};

// The table above: every case here is a real client on a real socket.

/// Start Quay with RLIMIT_NOFILE (soft, hard) as a session would.
fn start_limited(config: &str, soft: u64, hard: Option<u64>) -> Quay {
    Quay::start_with_pre_exec(config, &["--backend", "headless"], &[], move || {
        let hard = hard.or(rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum);
        rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(soft),
                maximum: hard,
            },
        )
        .map_err(std::io::Error::from)
    })
}

fn pid(quay: &Quay) -> u32 {
    quay.child.id()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn soft_nofile(pid: u32) -> String {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    line.split_whitespace().nth(3).unwrap().to_string()
}

/// Wait until Quay's fd count is back at `baseline`.
fn wait_fds(pid: u32, baseline: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = open_fds(pid);
        if n <= baseline || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `wl_display.error` `no_memory`: libwayland and wayland-rs hand it to the
/// client as ENOMEM (libwayland's display_handle_error), not as an object's
/// protocol error; the message is in Quay's log and the client's stderr.
fn is_no_memory(e: &ClientError) -> bool {
    matches!(e, ClientError::Io(m) if m.contains("os error 12"))
}

/// Send requests from `step` in batches until the compositor disconnects
/// the client; the bystander round-trips between batches.
/// Returns how many round trips the bystander made meanwhile.
fn flood_until_killed(
    c: &mut TestClient,
    bystander: &mut TestClient,
    mut step: impl FnMut(&mut TestClient),
) -> usize {
    let mut sent = 0;
    let mut bystander_trips = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "not disconnected after {sent} requests"
        );
        for _ in 0..64 {
            step(c);
            sent += 1;
        }
        // The flood never waits for an answer; only a full socket slows it.
        loop {
            match c.conn.flush() {
                Ok(()) => break,
                Err(quay_test_client::wayland_client::backend::WaylandError::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock =>
                {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(_) => break,
            }
        }
        if sent % 512 == 0 {
            bystander
                .roundtrip()
                .expect("the bystander is served during the flood");
            bystander_trips += 1;
            // Let the flood's own errors arrive.
            // The error is on the wire before Quay closes the connection, but
            // a client that goes on writing may see EPIPE or a reset first
            // and never read it: any lost connection ends the flood, and the
            // callers check Quay's log and counter for the reason.
            match c.dispatch_until("nothing", Duration::from_millis(1), |_| false) {
                Err(ClientError::Timeout(_)) => {}
                Err(ClientError::Io(_)) => return bystander_trips,
                other => panic!("the flood ended with {other:?}, not a disconnection"),
            }
        }
    }
}

#[test]
fn fd_limit_is_raised_and_a_pool_flood_is_stopped_by_its_budget() {
    let quay = start_limited(SMALL_CONFIG, 1024, None);
    let pid = pid(&quay);
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
    assert_eq!(
        soft_nofile(pid),
        hard.map_or("unlimited".into(), |h| h.to_string()),
        "Quay raises its soft fd limit to the hard one"
    );
    let mut bystander = quay.client();
    let w = bystander.window(16, 16, 0xffff0000).unwrap();
    bystander.commit_and_wait_frame(&w.surface).unwrap();
    let baseline = open_fds(pid);

    let mut flood = quay.client();
    let fd = memfd(4096);
    let trips = flood_until_killed(&mut flood, &mut bystander, |c| {
        // Each request carries the fd anew: one more fd in Quay per pool.
        let _pool = c.shm.create_pool(fd.as_fd(), 4096, &c.qh, ());
    });
    let log = quay.log_text();
    assert!(
        log.contains(
            "a wl_shm_pool would make Quay hold 4097 fds for this client (limit 4096; [limits] client_fds)"
        ),
        "the error names the budget; log:\n{log}"
    );
    assert!(trips >= 1, "the bystander round-tripped during the flood");
    // A second connection is accepted and served after the flood.
    let mut late = quay.client();
    late.roundtrip().unwrap();
    for _ in 0..3 {
        bystander.commit_and_wait_frame(&w.surface).unwrap();
    }
    drop(flood);
    drop(late);
    assert_eq!(quay.stat("clients_over_budget_total"), 1);
    let after = wait_fds(pid, baseline);
    assert!(
        after <= baseline,
        "Quay's fds back at the baseline: {after} > {baseline}"
    );
}

#[test]
fn a_dmabuf_params_flood_is_stopped_by_its_budget() {
    let config = format!("{SMALL_CONFIG}\n[limits]\nclient_fds = 256\n");
    let quay = start_limited(&config, 1024, None);
    let pid = pid(&quay);
    let mut bystander = quay.client();
    let w = bystander.window(16, 16, 0xffff0000).unwrap();
    bystander.commit_and_wait_frame(&w.surface).unwrap();
    let baseline = open_fds(pid);

    let mut flood = quay.client();
    let fd = memfd(4096);
    flood_until_killed(&mut flood, &mut bystander, |c| {
        let p = c.params();
        for plane in 0..4 {
            p.add(fd.as_fd(), plane, 0, 64, 0, 0);
        }
    });
    let log = quay.log_text();
    assert!(
        log.contains(
            "a dma-buf plane would make Quay hold 257 fds for this client (limit 256; [limits] client_fds)"
        ),
        "log:\n{log}"
    );
    assert_eq!(quay.stat("clients_over_budget_total"), 1);
    for _ in 0..3 {
        bystander.commit_and_wait_frame(&w.surface).unwrap();
    }
    drop(flood);
    let after = wait_fds(pid, baseline);
    assert!(
        after <= baseline,
        "Quay's fds back at the baseline: {after} > {baseline}"
    );

    // Under the budget, params that are used or destroyed give their fds back:
    // a client can go on making buffers for ever.
    let mut honest = quay.client();
    for _ in 0..200 {
        let p = honest.params();
        p.add(fd.as_fd(), 0, 0, 64, 0, 0);
        p.add(fd.as_fd(), 1, 0, 64, 0, 0);
        p.destroy();
    }
    honest
        .roundtrip()
        .expect("400 fds through 2-plane params, 2 at a time, fit a budget of 256");
}

#[test]
fn a_buffer_byte_budget_stops_big_pools() {
    let config = format!("{SMALL_CONFIG}\n[limits]\nclient_buffer_mib = 1\n");
    let quay = Quay::start(&config);
    let fd = memfd(4 << 20);
    let mut big = quay.client();
    let _ = big.shm.create_pool(fd.as_fd(), 2 << 20, &big.qh, ());
    let err = big.roundtrip().expect_err("a 2 MiB pool passes a 1 MiB budget");
    assert!(is_no_memory(&err), "{err:?}");
    // Within the budget: buffers up to 1 MiB in all.
    let mut c = quay.client();
    let w = c.window(256, 256, 0xff00ff00).unwrap(); // 256 KiB
    c.commit_and_wait_frame(&w.surface).unwrap();
    let _b2 = c.shm_buffer(256, 256, 0xff0000ff, wl_shm::Format::Xrgb8888);
    let _b3 = c.shm_buffer(256, 256, 0xff0000ff, wl_shm::Format::Xrgb8888);
    c.roundtrip().unwrap();
    // Its pool is refused: pools are summed with the buffers the client holds.
    let _b4 = c.shm_buffer(256, 512, 0xff0000ff, wl_shm::Format::Xrgb8888);
    let err = c
        .roundtrip()
        .expect_err("1.25 MiB of pools and buffers pass a 1 MiB budget");
    assert!(is_no_memory(&err), "{err:?}");
    let log = quay.log_text();
    assert!(log.contains("a wl_shm_pool would take this client's buffers to 2097152 bytes (limit 1048576; [limits] client_buffer_mib)"), "log:\n{log}");
    assert!(log.contains("a wl_shm_pool would take this client's buffers to 1310720 bytes (limit 1048576; [limits] client_buffer_mib)"), "log:\n{log}");
}

#[test]
fn accept_out_of_fds_pauses_instead_of_ending_quay() {
    // No room to raise: soft = hard = 128.
    let quay = start_limited(SMALL_CONFIG, 128, Some(128));
    let pid = pid(&quay);
    use rustix::net::{connect, socket_with, AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let addr = SocketAddrUnix::new(quay.socket_path()).unwrap();
    let mut idle = Vec::new();
    for _ in 0..300 {
        // Non-blocking: once the listen backlog is full, connect says EAGAIN
        // instead of waiting.
        let s = socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        if connect(&s, &addr).is_ok() {
            idle.push(s);
        }
    }
    // Quay accepts until it is out of fds; the rest wait in the backlog.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !quay.log_text().contains("cannot accept a connection") {
        assert!(
            Instant::now() < deadline,
            "no EMFILE back-off logged; log:\n{}",
            quay.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        open_fds(pid) >= 120,
        "Quay is at its limit: {} fds",
        open_fds(pid)
    );
    drop(idle);
    // Quay is alive and serves a new client once the fds are free.
    let mut c = TestClient::connect(&quay.socket_path()).expect("a new client after the flood");
    let w = c.window(16, 16, 0xff00ff00).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    assert!(quay.stat("accept_backoffs_total") >= 1);
    let mut quay = quay;
    assert!(quay.child.try_wait().unwrap().is_none(), "Quay is still running");
    assert!(quay.terminate().success());
}

#[test]
fn wl_shm_errors() {
    let quay = Quay::start(SMALL_CONFIG);
    let fd = memfd(64 * 64 * 4);
    let invalid_stride = wl_shm::Error::InvalidStride as u32;
    let invalid_fd = wl_shm::Error::InvalidFd as u32;

    for size in [-1, 0] {
        let (code, iface) = error_of(&quay, |c| {
            let _ = c.shm.create_pool(fd.as_fd(), size, &c.qh, ());
        });
        assert_eq!(
            (code, iface.as_str()),
            (invalid_stride, "wl_shm"),
            "pool size {size}"
        );
    }
    // resize(0) and resize(-1): an error, not a panic in smithay's unwrap.
    for size in [0, -1] {
        let (code, iface) = error_of(&quay, |c| {
            let pool = c.shm.create_pool(fd.as_fd(), 4096, &c.qh, ());
            pool.resize(size);
        });
        assert_eq!(
            (code, iface.as_str()),
            (invalid_fd, "wl_shm_pool"),
            "resize({size})"
        );
    }
    let (code, _) = error_of(&quay, |c| {
        let pool = c.shm.create_pool(fd.as_fd(), 8192, &c.qh, ());
        pool.resize(4096);
    });
    assert_eq!(code, invalid_fd, "a pool cannot shrink");
    // A buffer reaching past its pool's end.
    let (code, _) = error_of(&quay, |c| {
        let pool = c.shm.create_pool(fd.as_fd(), 4096, &c.qh, ());
        let _ = pool.create_buffer(3500, 16, 16, 64, wl_shm::Format::Xrgb8888, &c.qh, ());
    });
    assert_eq!(code, invalid_stride, "buffer outside its pool");
    let (code, _) = error_of(&quay, |c| {
        let pool = c.shm.create_pool(fd.as_fd(), 4096, &c.qh, ());
        let _ = pool.create_buffer(0, 32, 16, 64, wl_shm::Format::Xrgb8888, &c.qh, ());
    });
    assert_eq!(code, invalid_stride, "stride smaller than the width");
    let (code, _) = error_of(&quay, |c| {
        let pool = c.shm.create_pool(fd.as_fd(), 4096, &c.qh, ());
        let _ = pool.create_buffer(0, 16, 16, 64, wl_shm::Format::Rgba8888, &c.qh, ());
    });
    assert_eq!(code, wl_shm::Error::InvalidFormat as u32);
    // Quay is still there for everyone else, with nothing left over.
    let mut c = quay.client();
    let w = c.window(16, 16, 0xff00ff00).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    assert!(c.conn.protocol_error().is_none());
    // Quay's side: the one window shown is this client's.
    assert_eq!(quay.stat("windows_live"), 1);
}

/// One raw request line to Quay's IPC socket; the reply line.
fn ipc_raw(quay: &Quay, bytes: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(quay.ipc_path()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Quay may answer (and close) before it has read everything.
    let _ = s.write_all(bytes);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn ipc_socket_is_private_and_bad_input_gets_an_error_line() {
    use std::os::unix::fs::PermissionsExt;
    let quay = Quay::start(SMALL_CONFIG);
    let mode = std::fs::metadata(quay.ipc_path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the IPC socket is the user's alone");

    for (what, input) in [
        ("garbage", b"\x00\xff not json at all\n".to_vec()),
        ("unknown command", b"\"Reboot\"\n".to_vec()),
        ("wrong shape", b"{\"Screenshot\": 42}\n".to_vec()),
    ] {
        let reply = ipc_raw(&quay, &input);
        let v: serde_json::Value = serde_json::from_str(reply.trim())
            .unwrap_or_else(|e| panic!("{what}: reply {reply:?} is not JSON: {e}"));
        assert!(v.get("Err").is_some(), "{what}: {v}");
    }
    // A line longer than Quay takes: an error, then the connection closes.
    let reply = ipc_raw(&quay, &vec![b'x'; 1 << 20]);
    assert!(reply.contains("request too long"), "{reply:?}");
    // None of it hurt Quay.
    assert_eq!(quay.msg(&["version"])["backend"], "headless");
}

#[test]
fn ipc_refuses_another_users_connection() {
    use std::os::unix::{fs::PermissionsExt, process::CommandExt};
    assert!(
        rustix::process::geteuid().is_root(),
        "this test switches to another user: run it as root (the README's test command does)"
    );
    let quay = Quay::start(SMALL_CONFIG);
    // Open the way on purpose, so only Quay's own peer check stands between.
    std::fs::set_permissions(&quay.runtime_dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(quay.ipc_path(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let mut cmd = std::process::Command::new(common::quay_bin());
    cmd.args(["msg", "--socket", common::SOCKET, "version"])
        .env("XDG_RUNTIME_DIR", &quay.runtime_dir)
        .env_remove("QUAY_SOCKET");
    // SAFETY: setgid/setuid are plain system calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "nobody's `quay msg` must fail");
    assert!(stderr.contains("not your compositor"), "stderr: {stderr}");
    assert!(quay.log_text().contains("refused a connection from another user"));
    // The owner is still served.
    assert_eq!(quay.msg(&["version"])["backend"], "headless");
}

#[test]
fn sandboxed_clients_see_no_privileged_globals() {
    use quay::globals::{Access, GLOBALS};
    let quay = Quay::start(SMALL_CONFIG);
    let mut host = quay.client();
    // Every global an ordinary client sees is in the table, and every one
    // the table has for every backend is offered on headless.
    for g in &host.globals {
        assert!(
            quay::globals::global(&g.interface).is_some(),
            "{} is offered but not in quay::globals::GLOBALS",
            g.interface
        );
    }
    for g in GLOBALS
        .iter()
        .filter(|g| g.only_on.is_none() && g.access != Access::Xwayland)
    {
        assert!(
            host.global(g.interface).is_some(),
            "an ordinary client sees {}",
            g.interface
        );
    }
    // What Flatpak does (`wp_security_context_manager_v1`): a listening
    // socket of its own, handed to Quay with a close fd, then to the app.
    let sock = quay.dir.path().join("sandbox.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let (close_r, close_w) = rustix::pipe::pipe().unwrap();
    let ctx = host.security_context.as_ref().unwrap().create_listener(
        listener.as_fd(),
        close_r.as_fd(),
        &host.qh,
        (),
    );
    ctx.set_sandbox_engine("org.flatpak".into());
    ctx.set_app_id("org.example.App".into());
    ctx.commit();
    host.roundtrip().unwrap();
    drop(close_r);

    let mut app = TestClient::connect_lenient(&sock).expect("the sandboxed app connects");
    for g in &host.globals {
        let entry = quay::globals::global(&g.interface).unwrap();
        let sees = app.global(&g.interface).is_some();
        assert_eq!(
            sees,
            entry.access == Access::Everyone,
            "a sandboxed client {} {} ({:?}: {})",
            if sees { "sees" } else { "does not see" },
            g.interface,
            entry.access,
            entry.why
        );
    }
    assert!(app.globals.len() < host.globals.len());
    // It is served like anyone else.
    let w = app.window(16, 16, 0xff00ff00).unwrap();
    app.commit_and_wait_frame(&w.surface).unwrap();
    assert!(quay.log_text().contains("security context created"));
    // The host client still sees everything.
    let again = quay.client();
    assert!(again.global("zwlr_screencopy_manager_v1").is_some());
    drop(close_w);
}

#[test]
fn an_object_flood_is_stopped_by_its_budget() {
    let config = format!("{SMALL_CONFIG}\n[limits]\nclient_objects = 1000\n");
    let quay = Quay::start(&config);
    let mut bystander = quay.client();
    let w = bystander.window(16, 16, 0xffff0000).unwrap();
    bystander.commit_and_wait_frame(&w.surface).unwrap();

    // Surfaces: the 1001st live one is refused.
    let mut flood = quay.client();
    flood_until_killed(&mut flood, &mut bystander, |c| {
        let _ = c.compositor.create_surface(&c.qh, ());
    });
    // Frame callbacks on one surface that never commits.
    let mut frames = quay.client();
    let s = frames.compositor.create_surface(&frames.qh, ());
    flood_until_killed(&mut frames, &mut bystander, |c| {
        let _ = s.frame(&c.qh, ());
    });
    let log = quay.log_text();
    assert!(
        log.contains(
            "a wl_surface would give this client 1001 protocol objects (limit 1000; [limits] client_objects)"
        ),
        "log:\n{log}"
    );
    assert!(
        log.contains("a frame callback would give this client 1001"),
        "log:\n{log}"
    );
    assert_eq!(quay.stat("clients_over_budget_total"), 2);
    for _ in 0..3 {
        bystander.commit_and_wait_frame(&w.surface).unwrap();
    }

    // Objects that go give their place back: 3,000 surfaces and regions made
    // and destroyed, and frames answered, all under a budget of 1,000.
    let mut honest = quay.client();
    for i in 0..3000 {
        let s = honest.compositor.create_surface(&honest.qh, ());
        let r = honest.compositor.create_region(&honest.qh, ());
        r.destroy();
        s.destroy();
        if i % 500 == 0 {
            honest.roundtrip().unwrap();
        }
    }
    let hw = honest.window(16, 16, 0xff00ff00).unwrap();
    for _ in 0..20 {
        honest.commit_and_wait_frame(&hw.surface).unwrap();
    }
    honest
        .roundtrip()
        .expect("an honest client stays under its object budget");
}

/// Many connections, each inside its own budget, are held to the session's
/// total (a sandbox can open as many connections as it likes): the one that
/// would pass it is disconnected naming `total_fds`, the others go on, and
/// a connection that leaves gives its share back.
#[test]
fn connections_together_are_held_to_the_session_total() {
    let config = format!("{SMALL_CONFIG}\n[limits]\nclient_fds = 64\ntotal_fds = 100\n");
    let quay = Quay::start(&config);
    let fd = memfd(4096);
    let pools = |c: &mut TestClient, n: usize| {
        for _ in 0..n {
            let _ = c.shm.create_pool(fd.as_fd(), 4096, &c.qh, ());
        }
        c.roundtrip()
    };
    let mut a = quay.client();
    pools(&mut a, 60).expect("60 fds fit one client's 64");
    let mut b = quay.client();
    let err = pools(&mut b, 60).expect_err("a second client's 60 pass the session's 100");
    assert!(is_no_memory(&err), "{err:?}");
    let log = quay.log_text();
    assert!(
        log.contains(
            "a wl_shm_pool would make Quay hold 101 fds for all clients together (limit 100; [limits] total_fds)"
        ),
        "log:\n{log}"
    );
    a.roundtrip().expect("the first client goes on");
    assert_eq!(quay.stat("session_fds_held"), 60);
    drop(a);
    common::wait_for("the first client's share back", &quay, || {
        quay.stat("session_fds_held") == 0
    });
    let mut c = quay.client();
    pools(&mut c, 60).expect("a new client gets the share back");
}

/// Objects that grow with a client's requests, each charged: positioners,
/// presentation feedbacks on a surface that never commits, and the MIME
/// types a data source offers (bytes). Made and destroyed, they give their
/// charge back.
#[test]
fn objects_that_grow_with_requests_are_charged() {
    let config = format!("{SMALL_CONFIG}\n[limits]\nclient_objects = 100\nclient_buffer_mib = 1\n");
    let quay = Quay::start(&config);
    let mut bystander = quay.client();
    let w = bystander.window(16, 16, 0xffff0000).unwrap();
    bystander.commit_and_wait_frame(&w.surface).unwrap();

    let mut c = quay.client();
    for _ in 0..101 {
        let _ = c.wm_base.create_positioner(&c.qh, ());
    }
    assert!(is_no_memory(
        &c.roundtrip().expect_err("101 positioners pass 100")
    ));

    let mut c = quay.client();
    let s = c.compositor.create_surface(&c.qh, ());
    for _ in 0..100 {
        let _ = c.presentation.feedback(&s, &c.qh, ());
    }
    assert!(is_no_memory(
        &c.roundtrip().expect_err("a surface and 100 feedbacks pass 100")
    ));

    let mut c = quay.client();
    let manager = c.data_device_manager.clone().expect("wl_data_device_manager");
    let source = manager.create_data_source(&c.qh, ());
    let mime = "x".repeat(1000);
    let mut i = 0;
    // One offer at a time: a kilobyte string does not fit the client
    // library's send buffer 64 times over (wayland-client fails a request
    // that finds its buffer full and the socket not writable).
    flood_until_killed(&mut c, &mut bystander, |c| {
        source.offer(format!("{mime}{i}"));
        i += 1;
        while let Err(quay_test_client::wayland_client::backend::WaylandError::Io(e)) = c.conn.flush() {
            if e.kind() != std::io::ErrorKind::WouldBlock {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    assert!(
        i > 1000 && i < 1100 + 512,
        "disconnected after {i} offers of 1 KB"
    );
    let log = quay.log_text();
    for want in [
        "an xdg_positioner would give this client 101 protocol objects (limit 100; [limits] client_objects)",
        "a wp_presentation_feedback would give this client 101 protocol objects",
        "a MIME type offered by a data source would take this client's buffers to",
    ] {
        assert!(log.contains(want), "{want:?} not in the log:\n{log}");
    }
    assert_eq!(quay.stat("clients_over_budget_total"), 3);
    bystander.commit_and_wait_frame(&w.surface).unwrap();

    // Made and destroyed, they fit for ever.
    let mut honest = quay.client();
    for round in 0..20 {
        let positioners: Vec<_> = (0..50)
            .map(|_| honest.wm_base.create_positioner(&honest.qh, ()))
            .collect();
        let source = manager_of(&honest).create_data_source(&honest.qh, ());
        for i in 0..500 {
            source.offer(format!("{mime}{i}"));
            if i % 2 == 1 {
                honest.roundtrip().unwrap();
            }
        }
        for p in positioners {
            p.destroy();
        }
        source.destroy();
        honest
            .roundtrip()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
}

fn manager_of(
    c: &TestClient,
) -> quay_test_client::wayland_client::protocol::wl_data_device_manager::WlDataDeviceManager {
    c.data_device_manager.clone().expect("wl_data_device_manager")
}

/// `quay msg screenshot PATH` where PATH is a FIFO: with no reader, and with
/// a reader that never reads. Quay refuses both at once (only a regular
/// file is written, and from a thread of its own) instead of waiting in
/// `open` or `write` on its event loop, and every client goes on.
#[test]
fn a_screenshot_into_a_fifo_is_refused_and_quay_goes_on() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut bystander = quay.client();
    let w = bystander.window(16, 16, 0xffff0000).unwrap();
    bystander.commit_and_wait_frame(&w.surface).unwrap();
    let fifo = quay.dir.path().join("shot.fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let shot = |quay: &Quay| {
        let mut child = std::process::Command::new(common::quay_bin())
            .args(["msg", "--socket", common::SOCKET, "screenshot"])
            .arg(&fifo)
            .env("XDG_RUNTIME_DIR", &quay.runtime_dir)
            .env_remove("QUAY_SOCKET")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let status = common::wait_timeout(&mut child, Duration::from_secs(10)).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("quay msg screenshot into a FIFO did not return in 10 s")
        });
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        (status, err)
    };
    let (status, err) = shot(&quay);
    assert!(!status.success(), "no reader: {err}");
    bystander.commit_and_wait_frame(&w.surface).unwrap();
    // A reader that never reads: the open succeeds, the write would block.
    let _reader = rustix::fs::open(
        &fifo,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let (status, err) = shot(&quay);
    assert!(
        !status.success() && err.contains("is not a regular file"),
        "{status}: {err}"
    );
    for _ in 0..3 {
        bystander.commit_and_wait_frame(&w.surface).unwrap();
    }
    // A regular file is written as before.
    let img = quay.screenshot();
    assert_eq!((img.width, img.height), (640, 480));
}

/// The table of globals in `docs/protocols.md` is `quay::globals::GLOBALS`,
/// row for row and in order; each version is the one an ordinary client is
/// offered on headless (the globals other backends or Xwayland alone get are
/// taken as written); and each test named in its last column names the
/// protocol (its global, or the protocol without `_manager`), `WLCS` meaning
/// the WLCS integration's list of extensions. A `—` there says no test uses it.
#[test]
fn the_protocols_doc_table_is_the_code_table() {
    let doc = include_str!("../docs/protocols.md");
    let rows: Vec<Vec<&str>> = doc
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    let quay = Quay::start(SMALL_CONFIG);
    let host = quay.client();
    assert_eq!(rows.len(), quay::globals::GLOBALS.len(), "one row per global");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (row, g) in rows.iter().zip(quay::globals::GLOBALS) {
        let (who, why) = quay::globals::doc_columns(g);
        assert_eq!(row.len(), 5, "five columns: {row:?}");
        assert_eq!(
            row[0],
            format!("`{}`", g.interface),
            "the rows' order is GLOBALS'"
        );
        assert_eq!((row[2], row[3]), (who, why.as_str()), "{}", g.interface);
        // The cell's first number is the version; a note may name the one
        // offered where a backend or machine lacks something.
        let versions: Vec<u32> = row[1]
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        if let Some(offered) = host.global(g.interface) {
            assert!(
                versions.contains(&offered.version),
                "{}'s version: offered {}, the table says {}",
                g.interface,
                offered.version,
                row[1]
            );
        }
        let names = [g.interface.to_string(), g.interface.replace("_manager", "")];
        for test in row[4].split(", ").filter(|t| *t != "—") {
            let path = match test {
                "WLCS" => root.join("tests/wlcs/src/lib.rs"),
                file => root.join("tests").join(file),
            };
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                names.iter().any(|n| text.contains(n.as_str())),
                "{} is said to test {} but never names it",
                path.display(),
                g.interface
            );
        }
    }
}
