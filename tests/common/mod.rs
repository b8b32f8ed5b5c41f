//! The integration-test fixture: a real `quay` process on a real socket.
//!
//! Each [`Quay`] gets its own `XDG_RUNTIME_DIR` and `XDG_CONFIG_HOME` in a
//! temp dir, so tests run in parallel without seeing each other. Clients
//! are the pure-Rust `quay-test-client` or real programs (Debian's weston
//! demo clients, wayland-info) started with [`Quay::spawn_client`].
//! A missing program is a failed test, never a skipped one: the README's
//! test command installs them.
#![allow(dead_code, clippy::disallowed_macros)]

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use quay_test_client::TestClient;

pub const SOCKET: &str = "wayland-quay-test";

/// A small output keeps pixman fast in debug builds. No Xwayland: one per
/// test Quay would only cost CPU (tests/xwayland.rs starts it).
pub const SMALL_CONFIG: &str = r##"
background = "#102030"
[xwayland]
enabled = false
[[headless.output]]
name = "HEADLESS-1"
width = 640
height = 480
refresh = 60.0
"##;

pub const BACKGROUND: [u8; 4] = [0x10, 0x20, 0x30, 0xff];

pub struct Quay {
    pub dir: tempfile::TempDir,
    pub child: Child,
    pub runtime_dir: PathBuf,
    pub log: PathBuf,
}

/// The Quay binary the tests start: the one cargo built with them, or
/// `QUAY_TEST_BIN` (the VM suite runs a test binary built on the host
/// against the Quay binary carried into the guest).
pub fn quay_bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("QUAY_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_quay").to_owned())
    })
}

/// Panic with an install hint if `program` is not on PATH.
pub fn require(program: &str, package: &str) -> PathBuf {
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let p = dir.join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "{program} is not installed; this test needs it (apt-get install {package}, \
         or run the README's test command, which installs it)"
    );
}

impl Quay {
    /// Start headless Quay with `config` and wait until its IPC socket is up.
    pub fn start(config: &str) -> Quay {
        Self::start_with(config, &["--backend", "headless"], &[])
    }

    pub fn start_with(config: &str, args: &[&str], env: &[(&str, &str)]) -> Quay {
        Self::start_with_pre_exec(config, args, env, || Ok(()))
    }

    /// Like [`Quay::start_with`]; `pre_exec` runs in the child before exec
    /// (to set resource limits, say).
    pub fn start_with_pre_exec(
        config: &str,
        args: &[&str],
        env: &[(&str, &str)],
        pre_exec: impl FnMut() -> std::io::Result<()> + Send + Sync + 'static,
    ) -> Quay {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime_dir = dir.path().join("runtime");
        std::fs::create_dir(&runtime_dir).unwrap();
        std::fs::set_permissions(&runtime_dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.path().join("quay.log");
        let mut cmd = Command::new(quay_bin());
        cmd.args(args);
        // QUAY_TEST_RENDERER=gles runs a headless test file on the other
        // engine (scripts/test does, for the files that are about the
        // buffer path rather than about one engine).
        let mut renderer = None;
        if let Ok(r) = std::env::var("QUAY_TEST_RENDERER") {
            if args.contains(&"headless") && !args.contains(&"--renderer") {
                cmd.args(["--renderer", &r]);
                renderer = Some(r);
            }
        }
        cmd.args(["--socket", SOCKET, "--config"])
            .arg(&config_path)
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .env("XDG_CONFIG_HOME", dir.path().join("config-home"))
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("QUAY_SOCKET")
            .env(
                "RUST_LOG",
                std::env::var("QUAY_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: the hook only makes system calls (setrlimit), no allocation.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, pre_exec);
        }
        let child = cmd.spawn().expect("spawn quay");
        let mut quay = Quay {
            dir,
            child,
            runtime_dir,
            log,
        };
        let ipc = quay.ipc_path();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ipc.exists() {
            if let Ok(Some(status)) = quay.child.try_wait() {
                panic!(
                    "quay exited during start-up ({status}); log:\n{}",
                    quay.log_text()
                );
            }
            if Instant::now() > deadline {
                panic!("quay did not come up in 60 s; log:\n{}", quay.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The pass asked for an engine: the results are that engine's only
        // if Quay runs it (an explicit --renderer that cannot start is an
        // error, but a test must not trust that alone).
        if let Some(r) = renderer {
            let version = quay.msg(&["version"]);
            assert_eq!(
                version["renderer"].as_str(),
                Some(r.as_str()),
                "QUAY_TEST_RENDERER={r}, but Quay draws with {version}"
            );
        }
        quay
    }

    pub fn socket_path(&self) -> PathBuf {
        self.runtime_dir.join(SOCKET)
    }

    pub fn ipc_path(&self) -> PathBuf {
        self.runtime_dir.join(format!("quay.{SOCKET}.sock"))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn client(&self) -> TestClient {
        TestClient::connect(&self.socket_path()).expect("connect test client")
    }

    /// `quay msg ARGS…` against this instance; the parsed JSON reply.
    pub fn msg(&self, args: &[&str]) -> serde_json::Value {
        let out = Command::new(quay_bin())
            .arg("msg")
            .args(["--socket", SOCKET])
            .args(args)
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env_remove("QUAY_SOCKET")
            .output()
            .expect("run quay msg");
        assert!(
            out.status.success(),
            "quay msg {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
        serde_json::from_slice(&out.stdout).expect("quay msg prints JSON")
    }

    pub fn stat(&self, name: &str) -> u64 {
        self.msg(&["stats"])[name]
            .as_u64()
            .unwrap_or_else(|| panic!("no stat {name}"))
    }

    /// Take a screenshot of the first output through `quay msg`.
    pub fn screenshot(&self) -> Image {
        let path = self.dir.path().join("shot.png");
        let _ = std::fs::remove_file(&path);
        self.msg(&["screenshot", path.to_str().unwrap()]);
        Image::load(&path)
    }

    /// Screenshots until `ok` holds for one (a change shows at the
    /// output's next frame), 30 s at most; the last one either way, for
    /// the caller's assertion.
    pub fn screenshot_until(&self, ok: impl Fn(&Image) -> bool) -> Image {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let shot = self.screenshot();
            if ok(&shot) || Instant::now() > deadline {
                return shot;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start a real client program against this Quay, output captured.
    pub fn spawn_client(&self, program: &Path, args: &[&str], env: &[(&str, &str)]) -> RunningClient {
        // Each client its own files: two of one program may run at once.
        static SPAWNED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SPAWNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = program.file_name().unwrap().to_string_lossy().into_owned();
        let out = self.dir.path().join(format!("{name}.{n}.out"));
        let err = self.dir.path().join(format!("{name}.{n}.err"));
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("WAYLAND_DISPLAY", SOCKET)
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env_remove("DISPLAY")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        RunningClient {
            child: cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}")),
            name,
            out,
            err,
        }
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        wait_timeout(&mut self.child, Duration::from_secs(20)).unwrap_or_else(|| {
            let _ = self.child.kill();
            panic!("quay did not exit on SIGTERM; log:\n{}", self.log_text())
        })
    }
}

impl Drop for Quay {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- quay log ----\n{}", self.log_text());
        }
    }
}

/// Poll `ok` until it holds, 30 s at most; a timeout fails the test with
/// `what` and Quay's log.
pub fn wait_for(what: &str, quay: &Quay, ok: impl FnMut() -> bool) {
    wait_for_within(what, quay, Duration::from_secs(30), ok)
}

/// [`wait_for`] with another bound.
pub fn wait_for_within(what: &str, quay: &Quay, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; log:\n{}",
            quay.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub struct RunningClient {
    pub child: Child,
    pub name: String,
    pub out: PathBuf,
    pub err: PathBuf,
}

pub struct ClientOutcome {
    /// The client was still running when stopped (it did not crash or quit).
    pub survived: bool,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl RunningClient {
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stop the client with SIGINT (weston's clients exit cleanly on it).
    pub fn stop(mut self) -> ClientOutcome {
        let survived = self.is_running();
        if survived {
            let pid = rustix::process::Pid::from_child(&self.child);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        }
        let status = wait_timeout(&mut self.child, Duration::from_secs(10)).unwrap_or_else(|| {
            let _ = self.child.kill();
            self.child.wait().unwrap()
        });
        let read = |p: &Path| {
            let mut s = String::new();
            let _ = std::fs::File::open(p).and_then(|mut f| f.read_to_string(&mut s));
            s
        };
        ClientOutcome {
            survived,
            status,
            stdout: read(&self.out),
            stderr: read(&self.err),
        }
    }
}

/// A decoded RGBA screenshot.
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Image {
    pub fn load(path: &Path) -> Image {
        let decoder = png::Decoder::new(std::fs::File::open(path).expect("screenshot file exists"));
        let mut reader = decoder.read_info().expect("png header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("png data");
        assert_eq!(info.color_type, png::ColorType::Rgba);
        buf.truncate(info.buffer_size());
        Image {
            width: info.width,
            height: info.height,
            rgba: buf,
        }
    }

    /// A PNG written by another program (grim writes RGB), as RGBA.
    pub fn load_rgb_or_rgba(path: &Path) -> Image {
        let decoder = png::Decoder::new(std::fs::File::open(path).expect("the PNG exists"));
        let mut reader = decoder.read_info().expect("png header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("png data");
        let bpp = info.color_type.samples();
        let mut rgba = Vec::with_capacity((info.width * info.height * 4) as usize);
        for px in buf[..info.buffer_size()].chunks_exact(bpp) {
            rgba.extend_from_slice(&[px[0], px[1], px[2], if bpp == 4 { px[3] } else { 0xff }]);
        }
        Image {
            width: info.width,
            height: info.height,
            rgba,
        }
    }

    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * self.width + x) * 4) as usize;
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2], self.rgba[i + 3]]
    }

    /// How many pixels in the rectangle differ from `color`.
    pub fn count_not(&self, x0: u32, y0: u32, w: u32, h: u32, color: [u8; 4]) -> usize {
        let mut n = 0;
        for y in y0..(y0 + h).min(self.height) {
            for x in x0..(x0 + w).min(self.width) {
                if self.pixel(x, y) != color {
                    n += 1;
                }
            }
        }
        n
    }
}

/// Run `bad` on a fresh client and return the protocol error it earns, while
/// a bystander client keeps getting frames.
pub fn error_of(quay: &Quay, bad: impl FnOnce(&mut TestClient)) -> (u32, String) {
    let mut bystander = quay.client();
    let w = bystander.window(16, 16, 0xffff0000).unwrap();
    bystander.commit_and_wait_frame(&w.surface).unwrap();

    let mut c = quay.client();
    bad(&mut c);
    let err = c.expect_protocol_error();

    // Nothing else is affected: the other client keeps being served.
    for _ in 0..3 {
        bystander.commit_and_wait_frame(&w.surface).unwrap();
    }
    (err.code, err.object_interface)
}
