//! `quay msg`: a JSON-lines IPC socket, like `niri msg` or `swaymsg`.
//!
//! The compositor listens on `$XDG_RUNTIME_DIR/quay.<wayland socket>.sock`.
//! A client writes one [`Request`] as a JSON line and reads one JSON line
//! back: `{"Ok": …}` or `{"Err": "…"}`. Each connection is a calloop source
//! read without blocking, so a slow or silent IPC client cannot stall
//! Wayland clients; a request line longer than [`MAX_REQUEST`] is refused.
//! Replies are written without blocking too: what the socket does not take
//! at once is written as it drains, for [`REPLY_TIMEOUT`] at most.
//!
//! `screenshot PATH` renders on the loop (it must: the renderer lives
//! there) and hands the PNG to a thread that opens the file and writes it:
//! the path is the user's choice, and a FIFO with no reader, a full disk or
//! a hung network mount must not stop the compositor. Only a regular file
//! is written (a FIFO or a device is refused); the reply comes when the
//! thread is done.

use std::{
    io::{ErrorKind, Read, Write},
    os::unix::net::{UnixListener, UnixStream},
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use smithay::reexports::calloop::{generic::Generic, Interest, Mode, PostAction};
use smithay::reexports::wayland_server::Resource;
use smithay::{
    desktop::Window,
    reexports::wayland_server::protocol::wl_surface::WlSurface,
    utils::{Logical, Rectangle},
};
use tracing::{debug, warn};

use crate::{backends::Screenshot, State};

const MAX_REQUEST: usize = 64 * 1024;
/// How long a reply may wait for its client to read it.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a request is answered with: now, or when work off the loop is done.
pub enum Answer {
    Now(Reply),
    Later(smithay::reexports::calloop::channel::Channel<Reply>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Quay's version and backend.
    Version,
    /// The outputs: name, position, mode.
    Outputs,
    /// Write what an output shows to a PNG file (absolute path).
    Screenshot { path: PathBuf, output: Option<String> },
    /// Counters: clients, frames, dma-buf imports, eviction.
    Stats,
    /// Drop every client-buffer import that is not on screen.
    Evict,
    /// Move the pointer to (x, y), global logical coordinates (headless only:
    /// tests have no input device).
    Pointer {
        x: f64,
        y: f64,
        /// By (x, y), as a mouse moves: relative events, constraints.
        #[serde(default)]
        relative: bool,
    },
    /// Press keys (evdev codes) in order and release them in reverse
    /// (headless only); `press` / `release` false leaves that half out.
    Key {
        codes: Vec<u32>,
        #[serde(default = "yes")]
        press: bool,
        #[serde(default = "yes")]
        release: bool,
    },
    /// Press and/or release a pointer button (evdev code; headless only).
    Button {
        code: u32,
        #[serde(default = "yes")]
        press: bool,
        #[serde(default = "yes")]
        release: bool,
    },
    /// The windows, topmost first.
    Windows,
    /// Read the config file again.
    Reload,
}

pub type Reply = Result<serde_json::Value, String>;

fn yes() -> bool {
    true
}

/// The IPC socket path for a wayland socket name.
pub fn socket_path(runtime_dir: &Path, wayland_socket: &str) -> PathBuf {
    runtime_dir.join(format!("quay.{wayland_socket}.sock"))
}

/// The listening socket; removes its file when dropped.
pub struct IpcServer {
    pub path: PathBuf,
}

impl Drop for IpcServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl IpcServer {
    pub fn start(core: &mut crate::Core) -> anyhow::Result<()> {
        let runtime = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .ok_or_else(|| anyhow::anyhow!("XDG_RUNTIME_DIR is not set"))?;
        let path = socket_path(&runtime, &core.socket_name.to_string_lossy());
        // A stale socket from a crashed Quay on the same wayland socket name:
        // the wayland socket's lock file already proved nobody else owns it.
        let _ = std::fs::remove_file(&path);
        // The user's alone: another user could read every client's pixels
        // through `screenshot`. Peers are also checked one by one below
        // (a socket's mode is not honoured everywhere). The socket is bound
        // under a private name, made 0600 and renamed into place, so that
        // nobody (a client, a test) ever sees it at the umask's mode.
        let staging = path.with_extension(format!("{}.new", std::process::id()));
        let _ = std::fs::remove_file(&staging);
        let listener = UnixListener::bind(&staging)?;
        let placed = std::fs::set_permissions(&staging, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .and_then(|()| std::fs::rename(&staging, &path));
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&staging);
            return Err(e.into());
        }
        listener.set_nonblocking(true)?;
        crate::listen::insert_listener(&core.loop_handle, "ipc socket", listener, |stream, state| {
            state.core.add_ipc_connection(stream)
        })?;
        // SAFETY of env mutation: single-threaded at this point of start-up.
        std::env::set_var("QUAY_SOCKET", &path);
        tracing::info!(path = %path.display(), "ipc listening");
        core.ipc = Some(IpcServer { path });
        Ok(())
    }
}

impl crate::Core {
    fn add_ipc_connection(&mut self, stream: UnixStream) {
        let me = rustix::process::geteuid();
        match rustix::net::sockopt::socket_peercred(&stream) {
            Ok(cred) if cred.uid == me || cred.uid.is_root() => {}
            Ok(cred) => {
                warn!(
                    uid = cred.uid.as_raw(),
                    "ipc: refused a connection from another user"
                );
                let mut stream = stream;
                reply(&mut stream, &Err("permission denied: not your compositor".into()));
                return;
            }
            Err(e) => {
                warn!("ipc: cannot read the peer's credentials: {e}");
                return;
            }
        }
        if let Err(e) = stream.set_nonblocking(true) {
            warn!("ipc: {e}");
            return;
        }
        let mut buf = Vec::new();
        let res = self.loop_handle.insert_source(
            Generic::new(stream, Interest::READ, Mode::Level),
            move |_, stream, state| {
                // SAFETY: the stream is owned by this source and not dropped here.
                let stream = unsafe { stream.get_mut() };
                let mut chunk = [0u8; 4096];
                loop {
                    match stream.read(&mut chunk) {
                        Ok(0) => return Ok(PostAction::Remove),
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => return Ok(PostAction::Remove),
                    }
                    if buf.len() > MAX_REQUEST {
                        reply(stream, &Err("request too long".into()));
                        return Ok(PostAction::Remove);
                    }
                }
                let Some(end) = buf.iter().position(|&b| b == b'\n') else {
                    return Ok(PostAction::Continue);
                };
                let answer = match serde_json::from_slice::<Request>(&buf[..end]) {
                    Ok(req) => {
                        debug!(?req, "ipc request");
                        state.answer_ipc(req)
                    }
                    Err(e) => Answer::Now(Err(format!("bad request: {e}"))),
                };
                let Ok(stream) = stream.try_clone() else {
                    return Ok(PostAction::Remove);
                };
                deliver(&state.core.loop_handle, stream, answer);
                Ok(PostAction::Remove)
            },
        );
        if let Err(e) = res {
            warn!("ipc: cannot register connection: {e}");
        }
    }
}

/// Send `answer` on `stream`: now, or when a thread's answer arrives on its
/// channel (a screenshot), never blocking the loop.
fn deliver(
    loop_handle: &smithay::reexports::calloop::LoopHandle<'static, State>,
    stream: UnixStream,
    answer: Answer,
) {
    match answer {
        Answer::Now(answer) => send_reply(loop_handle, stream, &answer),
        Answer::Later(channel) => {
            let mut stream = Some(stream);
            let inserted = loop_handle.insert_source(channel, move |event, _, state| {
                if let (smithay::reexports::calloop::channel::Event::Msg(answer), Some(stream)) =
                    (event, stream.take())
                {
                    send_reply(&state.core.loop_handle, stream, &answer);
                }
            });
            if let Err(e) = inserted {
                warn!("ipc: cannot wait for a reply: {e}");
            }
        }
    }
}

/// Write `answer` to a connection that is refused before it is read
/// (another user's): small, and the connection is dropped right after.
fn reply(stream: &mut UnixStream, answer: &Reply) {
    let _ = stream.set_nonblocking(true);
    let _ = stream.write_all(&reply_line(answer));
}

fn reply_line(answer: &Reply) -> Vec<u8> {
    let mut line = serde_json::to_vec(answer).unwrap_or_else(|_| b"{\"Err\":\"unserializable\"}".to_vec());
    line.push(b'\n');
    line
}

/// Send `answer` without blocking: what the socket does not take now is
/// written as it drains, until [`REPLY_TIMEOUT`].
fn send_reply(
    loop_handle: &smithay::reexports::calloop::LoopHandle<'static, State>,
    stream: UnixStream,
    answer: &Reply,
) {
    use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
    let line = reply_line(answer);
    let mut stream = stream;
    let _ = stream.set_nonblocking(true);
    let mut sent = match stream.write(&line) {
        Ok(n) => n,
        Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
        Err(e) => {
            debug!("ipc reply not delivered: {e}");
            return;
        }
    };
    if sent == line.len() {
        return;
    }
    let source = Generic::new(stream, Interest::WRITE, Mode::Level);
    let token = loop_handle.insert_source(source, move |_, stream, _| {
        // SAFETY: the stream is owned by this source and not dropped here.
        let stream = unsafe { stream.get_mut() };
        loop {
            match stream.write(&line[sent..]) {
                Ok(n) => {
                    sent += n;
                    if sent == line.len() {
                        return Ok(PostAction::Remove);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(PostAction::Continue),
                Err(e) => {
                    debug!("ipc reply not delivered: {e}");
                    return Ok(PostAction::Remove);
                }
            }
        }
    });
    match token {
        Ok(token) => {
            let handle = loop_handle.clone();
            let _ = loop_handle.insert_source(Timer::from_duration(REPLY_TIMEOUT), move |_, _, _| {
                // Gone already if it was delivered (removing a stale token
                // does nothing).
                handle.remove(token);
                TimeoutAction::Drop
            });
        }
        Err(e) => warn!("ipc: cannot queue a reply: {e}"),
    }
}

/// Open `path` for the PNG without following it into anything but a
/// regular file, and write it (on a thread of its own, see the module doc).
fn write_png_file(path: &Path, shot: &Screenshot) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        // A FIFO with no reader fails at once (ENXIO) instead of waiting
        // for one.
        .custom_flags(libc::O_NONBLOCK)
        .mode(0o644)
        .open(path)
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    let meta = file.metadata().map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.file_type().is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    file.set_len(0)
        .map_err(|e| format!("truncating {}: {e}", path.display()))?;
    write_png_to(file, shot).map_err(|e| format!("writing {}: {e}", path.display()))
}

impl State {
    /// Answer `req`: at once, or (a screenshot's file) from a thread.
    pub fn answer_ipc(&mut self, req: Request) -> Answer {
        let Request::Screenshot { path, output } = req else {
            return Answer::Now(self.handle_ipc(req));
        };
        if !path.is_absolute() {
            return Answer::Now(Err(format!(
                "screenshot path must be absolute: {}",
                path.display()
            )));
        }
        let shot = match self.backend.screenshot(&self.core, output.as_deref()) {
            Ok(shot) => shot,
            Err(e) => return Answer::Now(Err(e)),
        };
        let (tx, rx) = smithay::reexports::calloop::channel::channel();
        let spawned = std::thread::Builder::new()
            .name("quay-screenshot".into())
            .spawn(move || {
                let answer = write_png_file(&path, &shot).map(|()| {
                    serde_json::json!({
                        "path": path,
                        "width": shot.width,
                        "height": shot.height,
                    })
                });
                let _ = tx.send(answer);
            });
        match spawned {
            Ok(_) => Answer::Later(rx),
            Err(e) => Answer::Now(Err(format!("cannot start the screenshot writer: {e}"))),
        }
    }

    /// One window as `quay msg windows` shows it.
    fn window_json(
        &self,
        w: &Window,
        geo: Option<Rectangle<i32, Logical>>,
        focus: Option<&WlSurface>,
        minimized: bool,
    ) -> serde_json::Value {
        let wl = self.core.window_wl_surface(w);
        // `modal`: xdg_dialog_v1's hint (smithay keeps it in the
        // toplevel's data, src/wayland/shell/xdg/mod.rs:351-356).
        let (title, app_id, modal) = match (w.toplevel(), w.x11_surface()) {
            (Some(t), _) => smithay::wayland::compositor::with_states(t.wl_surface(), |s| {
                s.data_map
                    .get::<smithay::wayland::shell::xdg::XdgToplevelSurfaceData>()
                    .and_then(|d| d.lock().ok())
                    .map(|d| (d.title.clone(), d.app_id.clone(), d.modal))
                    .unwrap_or_default()
            }),
            (None, Some(x)) => (Some(x.title()), Some(x.class()), false),
            (None, None) => (None, None, false),
        };
        serde_json::json!({
            "title": title,
            "app_id": app_id,
            "x11": w.x11_surface().is_some(),
            "location": geo.map(|g| (g.loc.x, g.loc.y)),
            "size": geo.map(|g| (g.size.w, g.size.h)),
            "focused": wl.is_some() && wl.as_ref() == focus,
            "modal": modal,
            "minimized": minimized,
        })
    }

    pub fn handle_ipc(&mut self, req: Request) -> Reply {
        match req {
            Request::Version => self.ipc_version(),
            Request::Outputs => self.ipc_outputs(),
            Request::Screenshot { .. } => Err("screenshots are answered by answer_ipc".into()),
            Request::Evict => self.ipc_evict(),
            Request::Pointer { x, y, relative } => self.ipc_pointer(x, y, relative),
            Request::Key {
                codes,
                press,
                release,
            } => self.ipc_key(codes, press, release),
            Request::Button { code, press, release } => self.ipc_button(code, press, release),
            Request::Windows => self.ipc_windows(),
            Request::Reload => self.ipc_reload(),
            Request::Stats => self.ipc_stats(),
        }
    }

    /// Quay's version, backend and renderer.
    fn ipc_version(&mut self) -> Reply {
        Ok(serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "backend": self.backend.name(),
            "renderer": self.backend.imports().renderer_name(),
        }))
    }

    /// Each output: its place, mode and scale, and its frame clock's counts.
    fn ipc_outputs(&mut self) -> Reply {
        let outputs: Vec<_> = self
            .core
            .space
            .outputs()
            .map(|o| {
                let mode = o.current_mode();
                let geo = self.core.space.output_geometry(o);
                let loc = geo.map(|g| (g.loc.x, g.loc.y));
                let clock = self.core.sync.clocks.get(&o.name());
                serde_json::json!({
                    "name": o.name(),
                    "location": loc,
                    "logical_size": geo.map(|g| (g.size.w, g.size.h)),
                    "scale": o.current_scale().fractional_scale(),
                    "transform": format!("{:?}", o.current_transform()),
                    "width": mode.map(|m| m.size.w),
                    "height": mode.map(|m| m.size.h),
                    "refresh_mhz": mode.map(|m| m.refresh),
                    // The frame path's view of it (`crate::render`).
                    "frames_rendered": clock.map_or(0, |c| c.frames_rendered),
                    "frames_presented": clock.map_or(0, |c| c.frames_presented),
                    "render_time_us": clock.map_or(0, |c| c.render_time.as_micros() as u64),
                })
            })
            .collect();
        Ok(serde_json::json!(outputs))
    }

    /// Evict every client-buffer import the LRU may evict now.
    fn ipc_evict(&mut self) -> Reply {
        let evicted = self.backend.imports().evict_all();
        Ok(serde_json::json!({ "evicted_bytes": evicted }))
    }

    /// Move the pointer (headless only): to a position, or by a delta.
    fn ipc_pointer(&mut self, x: f64, y: f64, relative: bool) -> Reply {
        if self.backend.headless().is_none() {
            return Err("pointer motion over IPC is for the headless backend only".into());
        }
        if !(x.is_finite() && y.is_finite()) {
            return Err(format!("not a position: {x}, {y}"));
        }
        if relative {
            let utime = self.core.now().as_micros() as u64;
            self.pointer_motion_relative((x, y).into(), (x, y).into(), utime);
        } else {
            let time = self.core.input_time();
            self.pointer_motion_to((x, y).into(), time);
        }
        let pointer = self.core.seat.get_pointer();
        let focus = pointer.as_ref().and_then(|p| p.current_focus());
        let at = pointer.map(|p| p.current_location()).unwrap_or_default();
        Ok(serde_json::json!({
            "x": at.x,
            "y": at.y,
            "focus": focus.map(|s| s.id().protocol_id()),
        }))
    }

    /// Press and/or release a chord of evdev key codes (headless only), as a keyboard would.
    fn ipc_key(&mut self, codes: Vec<u32>, press: bool, release: bool) -> Reply {
        if self.backend.headless().is_none() {
            return Err("keys over IPC are for the headless backend only".into());
        }
        // evdev codes are 0..=KEY_MAX (0x2ff); xkb's are 8 more.
        if codes.is_empty() || codes.len() > 16 || codes.iter().any(|&c| c > 0x2ff) {
            return Err(format!("not a key chord: {codes:?}"));
        }
        let time = self.core.input_time();
        let key = |c: u32| smithay::input::keyboard::Keycode::new(c + 8);
        use smithay::backend::input::KeyState;
        if press {
            for &c in &codes {
                self.key(key(c), KeyState::Pressed, time);
            }
        }
        if release {
            let order: Vec<u32> = if press {
                codes.iter().rev().copied().collect()
            } else {
                codes.clone()
            };
            for c in order {
                self.key(key(c), KeyState::Released, time);
            }
        }
        let focus = self.core.seat.get_keyboard().and_then(|k| k.current_focus());
        Ok(serde_json::json!({ "codes": codes, "focus": focus.map(|s| s.id().protocol_id()) }))
    }

    /// Press and/or release a pointer button (headless only).
    fn ipc_button(&mut self, code: u32, press: bool, release: bool) -> Reply {
        if self.backend.headless().is_none() {
            return Err("buttons over IPC are for the headless backend only".into());
        }
        // BTN_MISC..=BTN_GEAR_UP (linux/input-event-codes.h).
        if !(0x100..=0x151).contains(&code) {
            return Err(format!("not a button code: {code}"));
        }
        use smithay::backend::input::ButtonState;
        let time = self.core.input_time();
        if press {
            self.pointer_button(code, ButtonState::Pressed, time);
        }
        if release {
            self.pointer_button(code, ButtonState::Released, time);
        }
        let grabbed = self.core.seat.get_pointer().is_some_and(|p| p.is_grabbed());
        Ok(serde_json::json!({ "code": code, "grabbed": grabbed }))
    }

    /// The windows, topmost first, then the minimized ones.
    fn ipc_windows(&mut self) -> Reply {
        let focus = self.core.seat.get_keyboard().and_then(|k| k.current_focus());
        let shown = self.core.space.elements().rev().map(|w| {
            let geo = self.core.space.element_geometry(w);
            self.window_json(w, geo, focus.as_ref(), false)
        });
        // Minimized windows after the shown ones, where they will come back.
        let minimized = self.core.toplevels.minimized.iter().map(|(w, loc)| {
            let geo = Rectangle::new(*loc, w.geometry().size);
            self.window_json(w, Some(geo), focus.as_ref(), true)
        });
        Ok(serde_json::json!(shown.chain(minimized).collect::<Vec<_>>()))
    }

    /// Read the config file again now.
    fn ipc_reload(&mut self) -> Reply {
        let before = self.core.stats.config_reloads_total;
        self.reload_config();
        if self.core.stats.config_reloads_total > before {
            Ok(serde_json::json!({ "reloaded": true }))
        } else {
            Err("the config was not reloaded: see Quay's log".into())
        }
    }

    /// Every counter: Quay's, the imports', KMS's, the sync subsystem's, CPU access and the budgets.
    fn ipc_stats(&mut self) -> Reply {
        let mut v = serde_json::to_value(&self.core.stats).map_err(|e| e.to_string())?;
        let imports = self.backend.import_stats();
        if let Some(map) = v.as_object_mut() {
            if let Ok(serde_json::Value::Object(i)) = serde_json::to_value(imports) {
                map.extend(i);
            }
            if let Ok(serde_json::Value::Object(k)) = serde_json::to_value(self.backend.kms_stats()) {
                map.extend(k);
            }
            if let Ok(serde_json::Value::Object(f)) = serde_json::to_value(self.core.sync.stats()) {
                map.extend(f);
            }
            if let Ok(serde_json::Value::Object(c)) = serde_json::to_value(crate::buffer::cpu_access::stats())
            {
                map.extend(c);
            }
            map.insert("screencopy_pending".into(), self.core.capture.queue.len().into());
            map.insert("clients_live".into(), self.core.clients_live().into());
            map.insert("windows_live".into(), self.core.space.elements().count().into());
            map.insert("fds_open".into(), crate::limits::open_fds().into());
            map.insert("client_fd_budget".into(), self.core.budgets.client.fds.into());
            let (fds, bytes, objects) = self.core.budgets.session.held();
            let total = self.core.budgets.session.limits();
            map.insert("session_fds_held".into(), fds.into());
            map.insert("session_bytes_held".into(), bytes.into());
            map.insert("session_objects_held".into(), objects.into());
            map.insert("session_fd_budget".into(), total.fds.into());
        }
        Ok(v)
    }
}

fn write_png_to(file: std::fs::File, shot: &Screenshot) -> std::io::Result<()> {
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), shot.width, shot.height);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(std::io::Error::other)?;
    writer
        .write_image_data(&shot.rgba)
        .map_err(std::io::Error::other)?;
    writer.finish().map_err(std::io::Error::other)
}

/// Send one request and wait for the reply (the `quay msg` side).
pub fn send(path: &Path, req: &Request) -> anyhow::Result<Reply> {
    use anyhow::Context;
    let mut stream = UnixStream::connect(path)
        .with_context(|| format!("cannot connect to Quay's IPC socket {}", path.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    // Quay may refuse a connection before reading it (another user's): its
    // reply then says why, and the write's EPIPE does not.
    let written = stream.write_all(&line);
    let mut out = Vec::new();
    let read = stream.read_to_end(&mut out);
    if out.is_empty() {
        written.context("sending the request to Quay")?;
        read.context("reading Quay's reply")?;
    }
    serde_json::from_slice(&out).context("Quay's reply is not JSON")
}
