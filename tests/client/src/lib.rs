//! A Rust Wayland test client (on libwayland's client library) for Quay's integration tests.
//!
//! It is its own crate: the compositor crate's winit features
//! would otherwise change how wayland-client is built. It speaks to a real
//! socket, records every event the tests care about in [`App`], and turns
//! protocol errors into values the tests can assert on.

use std::{
    collections::HashMap,
    os::fd::{AsFd, OwnedFd},
    path::Path,
    time::{Duration, Instant},
};

pub mod apps;
pub mod capture;
pub mod dmabuf;
pub mod plane_probe;
pub mod sync_scenarios;
pub mod syncobj;
pub mod trust;
pub mod uinput;

pub use wayland_client;
pub use wayland_protocols;
pub use wayland_protocols_misc;
pub use wayland_protocols_wlr;

use rustix::{
    event::{poll, PollFd, PollFlags},
    fs::{ftruncate, memfd_create, MemfdFlags},
    mm::{mmap, munmap, MapFlags, ProtFlags},
};
use wayland_client::{
    backend::{protocol::ProtocolError, WaylandError},
    event_created_child,
    globals::{registry_queue_init, GlobalListContents},
    protocol::{
        wl_buffer::{self, WlBuffer},
        wl_callback::{self, WlCallback},
        wl_compositor::WlCompositor,
        wl_data_device::{self, WlDataDevice},
        wl_data_device_manager::WlDataDeviceManager,
        wl_data_offer::{self, WlDataOffer},
        wl_data_source::{self, WlDataSource},
        wl_output::WlOutput,
        wl_registry::WlRegistry,
        wl_seat::WlSeat,
        wl_shm::{self, WlShm},
        wl_shm_pool::WlShmPool,
        wl_subcompositor::WlSubcompositor,
        wl_subsurface::WlSubsurface,
        wl_surface::WlSurface,
    },
    Connection, Dispatch, EventQueue, Proxy, QueueHandle,
};
use wayland_protocols::wp::linux_drm_syncobj::v1::client::{
    wp_linux_drm_syncobj_manager_v1::WpLinuxDrmSyncobjManagerV1,
    wp_linux_drm_syncobj_surface_v1::WpLinuxDrmSyncobjSurfaceV1,
    wp_linux_drm_syncobj_timeline_v1::WpLinuxDrmSyncobjTimelineV1,
};
use wayland_protocols::wp::linux_explicit_synchronization::zv1::client::{
    zwp_linux_buffer_release_v1::{self, ZwpLinuxBufferReleaseV1},
    zwp_linux_explicit_synchronization_v1::ZwpLinuxExplicitSynchronizationV1,
    zwp_linux_surface_synchronization_v1::ZwpLinuxSurfaceSynchronizationV1,
};
use wayland_protocols::{
    wp::{
        linux_dmabuf::zv1::client::{
            zwp_linux_buffer_params_v1::{self, ZwpLinuxBufferParamsV1},
            zwp_linux_dmabuf_feedback_v1::{self, ZwpLinuxDmabufFeedbackV1},
            zwp_linux_dmabuf_v1::{self, ZwpLinuxDmabufV1},
        },
        presentation_time::client::{
            wp_presentation::{self, WpPresentation},
            wp_presentation_feedback::{self, WpPresentationFeedback},
        },
        single_pixel_buffer::v1::client::wp_single_pixel_buffer_manager_v1::WpSinglePixelBufferManagerV1,
        viewporter::client::{wp_viewport::WpViewport, wp_viewporter::WpViewporter},
    },
    xdg::shell::client::{
        xdg_popup::XdgPopup,
        xdg_positioner::XdgPositioner,
        xdg_surface::{self, XdgSurface},
        xdg_toplevel::{self, XdgToplevel},
        xdg_wm_base::{self, XdgWmBase},
    },
};

/// A global as advertised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    pub name: u32,
    pub interface: String,
    pub version: u32,
}

/// One `wp_presentation_feedback.presented`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented {
    pub time: Duration,
    pub refresh_ns: u32,
    pub seq: u64,
    pub flags: u32,
}

/// One tranche of a dma-buf feedback.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tranche {
    pub target_device: Option<u64>,
    pub formats: Vec<u16>,
    pub flags: u32,
}

/// A complete `zwp_linux_dmabuf_feedback_v1` (up to its `done`).
#[derive(Debug, Clone, Default)]
pub struct Feedback {
    /// (fourcc, modifier) pairs of the format table.
    pub table: Vec<(u32, u64)>,
    pub main_device: Option<u64>,
    pub tranches: Vec<Tranche>,
    pending: Tranche,
    pub done: u32,
}

/// What happened to a `zwp_linux_buffer_params_v1.create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamsResult {
    Created(WlBuffer),
    Failed,
}

/// Everything the tests observe, filled in by the dispatch impls.
#[derive(Default)]
pub struct App {
    pub shm_formats: Vec<u32>,
    pub presentation_clock: Option<u32>,
    /// `wl_callback.done` times by callback id, in arrival order.
    pub frame_done: Vec<(u32, u32)>,
    pub presented: Vec<Presented>,
    pub discarded: u32,
    /// Every feedback's outcome in arrival order (None: discarded).
    pub feedback_log: Vec<Option<Presented>>,
    pub buffer_releases: u32,
    /// Protocol ids of the buffers `wl_buffer.release` came for, in order.
    pub released_buffers: Vec<u32>,
    /// zwp_linux_buffer_release_v1 events: (release object id, fenced).
    pub explicit_releases: Vec<(u32, bool)>,
    /// Serial of the last configure per xdg_surface id, and whether acked.
    pub configures: HashMap<u32, u32>,
    pub toplevel_size: HashMap<u32, (i32, i32)>,
    pub params_results: HashMap<u32, ParamsResult>,
    pub feedbacks: HashMap<u32, Feedback>,
    /// zwp_linux_dmabuf_v1 v3's `modifier` events: (fourcc, modifier).
    pub dmabuf_modifiers: Vec<(u32, u64)>,
    /// zwlr_screencopy_frame_v1 events by frame id.
    pub screencopy: HashMap<u32, ScreencopyFrame>,
    /// zwlr_export_dmabuf_frame_v1 events by frame id.
    pub exported: HashMap<u32, ExportedFrame>,
    /// wl_keyboard focus changes in order: (surface protocol id, entered).
    pub keyboard_focus: Vec<(u32, bool)>,
    /// ext_session_lock_v1 events by lock protocol id: "locked" / "finished".
    pub lock_events: Vec<(u32, &'static str)>,
    /// zwlr_layer_surface_v1.configure events in order: (layer surface id, serial).
    pub layer_configures: Vec<(u32, u32)>,
    /// zwlr_output_manager_v1: the heads and modes announced, and the
    /// serial of its last `done`.
    pub output_heads: Vec<zwlr_output_head_v1::ZwlrOutputHeadV1>,
    pub output_modes: Vec<zwlr_output_mode_v1::ZwlrOutputModeV1>,
    pub output_serial: Option<u32>,
    /// zwlr_output_configuration_v1 answers in order: "succeeded", "failed", "cancelled".
    pub output_config_results: Vec<&'static str>,
    /// ext_session_lock_surface_v1.configure events in order:
    /// (lock surface protocol id, serial, width, height).
    pub lock_surface_configures: Vec<(u32, u32, u32, u32)>,
    /// wl_pointer.enter events in order: (surface protocol id, serial).
    pub pointer_enters: Vec<(u32, u32)>,
    /// wl_pointer.motion surface-local positions, in order.
    pub pointer_motions: Vec<(f64, f64)>,
    /// zwp_relative_pointer_v1.relative_motion (dx, dy), in order.
    pub relative_motions: Vec<(f64, f64)>,
    /// Pointer constraint events in order: locked, unlocked, confined, unconfined.
    pub constraint_events: Vec<&'static str>,
    /// xdg_activation_token_v1.done tokens by token object id.
    pub activation_tokens: HashMap<u32, String>,
    /// zxdg_toplevel_decoration_v1.configure modes by decoration id.
    pub decoration_modes: Vec<(u32, zxdg_toplevel_decoration_v1::Mode)>,
    /// Serials of wl_pointer.button presses, in order.
    pub button_serials: Vec<u32>,
    /// Drag and drop as this client saw it, in order: wl_data_device's
    /// "enter", "leave", "motion", "drop"; wl_data_offer's "offer:MIME",
    /// "action:N"; wl_data_source's "target:MIME", "send:MIME",
    /// "source-action:N", "cancelled", "drop-performed", "finished".
    pub dnd_events: Vec<String>,
    /// The offer of the last wl_data_device.enter, with that event's serial.
    pub dnd_offer: Option<(WlDataOffer, u32)>,
    /// What this client's data sources write for each `send`.
    pub source_payload: Vec<u8>,
    /// The application protocols' events (`apps.rs`).
    pub apps: apps::AppEvents,
    /// Each toplevel's states in its last configure (xdg_toplevel.state
    /// values), by its object id.
    pub toplevel_states: HashMap<u32, Vec<u32>>,
    /// Toplevels Quay asked to close (`xdg_toplevel.close`), by object id.
    pub toplevels_closed: Vec<u32>,
}

/// What a `zwlr_export_dmabuf_frame_v1` said.
#[derive(Debug, Default)]
pub struct ExportedFrame {
    /// `frame`: (width, height, fourcc, modifier, num_objects).
    pub frame: Option<(u32, u32, u32, u64, u32)>,
    /// `object`s: (fd, size, offset, stride).
    pub objects: Vec<(OwnedFd, u32, u32, u32)>,
    pub ready: bool,
    pub cancel: Option<u32>,
}

/// What a `zwlr_screencopy_frame_v1` said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScreencopyFrame {
    /// `buffer`: (wl_shm format, width, height, stride).
    pub shm: Option<(u32, u32, u32, u32)>,
    /// `linux_dmabuf`: (fourcc, width, height).
    pub dmabuf: Option<(u32, u32, u32)>,
    pub buffer_done: bool,
    pub damage: Vec<(u32, u32, u32, u32)>,
    pub ready: bool,
    pub failed: bool,
}

/// A connected client with the globals Quay must offer already bound.
pub struct TestClient {
    pub conn: Connection,
    pub queue: EventQueue<App>,
    pub qh: QueueHandle<App>,
    pub app: App,
    pub globals: Vec<Global>,
    /// The registry the globals were bound from, to bind one again.
    pub registry: WlRegistry,
    pub compositor: WlCompositor,
    pub shm: WlShm,
    pub wm_base: XdgWmBase,
    pub presentation: WpPresentation,
    /// The rest is `None` only for [`TestClient::connect_lenient`] against a
    /// compositor that lacks it (weston, for baselines).
    pub subcompositor: Option<WlSubcompositor>,
    pub dmabuf: Option<ZwpLinuxDmabufV1>,
    pub viewporter: Option<WpViewporter>,
    pub single_pixel: Option<WpSinglePixelBufferManagerV1>,
    pub seat: Option<WlSeat>,
    pub output: Option<WlOutput>,
    /// wp_linux_drm_syncobj_manager_v1, never required (only KMS offers it).
    pub syncobj: Option<WpLinuxDrmSyncobjManagerV1>,
    /// zwp_linux_explicit_synchronization_v1, when offered.
    pub explicit_sync: Option<ZwpLinuxExplicitSynchronizationV1>,
    /// zwlr_screencopy_manager_v1 (version up to 3), when offered.
    pub screencopy: Option<zwlr_screencopy_manager_v1::ZwlrScreencopyManagerV1>,
    /// zwlr_export_dmabuf_manager_v1, when offered (KMS only).
    pub export_dmabuf: Option<zwlr_export_dmabuf_manager_v1::ZwlrExportDmabufManagerV1>,
    /// wp_security_context_manager_v1, when offered (not to sandboxed clients).
    pub security_context: Option<wp_security_context_manager_v1::WpSecurityContextManagerV1>,
    /// ext_session_lock_manager_v1, when offered (not to sandboxed clients).
    pub session_lock: Option<ext_session_lock_manager_v1::ExtSessionLockManagerV1>,
    /// zxdg_decoration_manager_v1, when offered.
    pub decoration: Option<zxdg_decoration_manager_v1::ZxdgDecorationManagerV1>,
    /// wp_cursor_shape_manager_v1, when offered.
    pub cursor_shape: Option<wp_cursor_shape_manager_v1::WpCursorShapeManagerV1>,
    /// zwp_idle_inhibit_manager_v1, when offered.
    pub idle_inhibit: Option<zwp_idle_inhibit_manager_v1::ZwpIdleInhibitManagerV1>,
    /// xdg_activation_v1, when offered.
    pub activation: Option<xdg_activation_v1::XdgActivationV1>,
    /// zwp_pointer_constraints_v1 and zwp_relative_pointer_manager_v1.
    pub pointer_constraints: Option<zwp_pointer_constraints_v1::ZwpPointerConstraintsV1>,
    pub relative_pointer: Option<zwp_relative_pointer_manager_v1::ZwpRelativePointerManagerV1>,
    /// wl_data_device_manager (version up to 3), when offered.
    pub data_device_manager: Option<WlDataDeviceManager>,
    /// zwlr_layer_shell_v1, when offered (not to sandboxed clients).
    pub layer_shell: Option<zwlr_layer_shell_v1::ZwlrLayerShellV1>,
    /// zwlr_output_manager_v1, when offered (not to sandboxed clients).
    pub output_manager: Option<zwlr_output_manager_v1::ZwlrOutputManagerV1>,
}

/// A mapped xdg toplevel with its current buffer.
pub struct Window {
    pub surface: WlSurface,
    pub xdg_surface: XdgSurface,
    pub toplevel: XdgToplevel,
}

/// Errors of the test client: a protocol error from the compositor, a lost
/// connection, or a wait that timed out.
#[derive(Debug)]
pub enum ClientError {
    Protocol(ProtocolError),
    Io(String),
    Timeout(&'static str),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Protocol(e) => write!(f, "protocol error: {e}"),
            ClientError::Io(e) => write!(f, "connection: {e}"),
            ClientError::Timeout(what) => write!(f, "timed out waiting for {what}"),
        }
    }
}

impl std::error::Error for ClientError {}

fn map_err(conn: &Connection, e: impl std::fmt::Display) -> ClientError {
    match conn.protocol_error() {
        Some(p) => ClientError::Protocol(p),
        None => ClientError::Io(e.to_string()),
    }
}

impl TestClient {
    /// Connect to the socket at `path` and bind every global Quay's tests use;
    /// any of them missing is an error.
    pub fn connect(path: &Path) -> Result<TestClient, ClientError> {
        Self::connect_with(path, true)
    }

    /// Like [`TestClient::connect`], but only wl_compositor, wl_shm,
    /// xdg_wm_base and wp_presentation are required.
    pub fn connect_lenient(path: &Path) -> Result<TestClient, ClientError> {
        Self::connect_with(path, false)
    }

    fn connect_with(path: &Path, strict: bool) -> Result<TestClient, ClientError> {
        let stream =
            std::os::unix::net::UnixStream::connect(path).map_err(|e| ClientError::Io(e.to_string()))?;
        let conn = Connection::from_socket(stream).map_err(|e| ClientError::Io(e.to_string()))?;
        let (globals, queue) =
            registry_queue_init::<App>(&conn).map_err(|e| ClientError::Io(e.to_string()))?;
        let qh = queue.handle();
        let list: Vec<Global> = globals
            .contents()
            .clone_list()
            .into_iter()
            .map(|g| Global {
                name: g.name,
                interface: g.interface,
                version: g.version,
            })
            .collect();
        let bind_err = |e: wayland_client::globals::BindError| ClientError::Io(format!("bind: {e}"));
        // Optional globals: an error in strict mode, None otherwise.
        macro_rules! optional {
            ($range:expr, $name:literal) => {
                match globals.bind(&qh, $range, ()) {
                    Ok(g) => Some(g),
                    Err(e) if strict => return Err(ClientError::Io(format!("bind {}: {e}", $name))),
                    Err(_) => None,
                }
            };
        }
        let client = TestClient {
            registry: globals.registry().clone(),
            compositor: globals.bind(&qh, 1..=5, ()).map_err(bind_err)?,
            shm: globals.bind(&qh, 1..=1, ()).map_err(bind_err)?,
            wm_base: globals.bind(&qh, 1..=5, ()).map_err(bind_err)?,
            presentation: globals.bind(&qh, 1..=1, ()).map_err(bind_err)?,
            subcompositor: optional!(1..=1, "wl_subcompositor"),
            dmabuf: optional!(3..=5, "zwp_linux_dmabuf_v1"),
            viewporter: optional!(1..=1, "wp_viewporter"),
            single_pixel: optional!(1..=1, "wp_single_pixel_buffer_manager_v1"),
            seat: optional!(1..=7, "wl_seat"),
            output: optional!(1..=4, "wl_output"),
            syncobj: globals.bind(&qh, 1..=1, ()).ok(),
            explicit_sync: globals.bind(&qh, 1..=2, ()).ok(),
            screencopy: globals.bind(&qh, 1..=3, ()).ok(),
            export_dmabuf: globals.bind(&qh, 1..=1, ()).ok(),
            security_context: globals.bind(&qh, 1..=1, ()).ok(),
            session_lock: globals.bind(&qh, 1..=1, ()).ok(),
            decoration: globals.bind(&qh, 1..=1, ()).ok(),
            cursor_shape: globals.bind(&qh, 1..=1, ()).ok(),
            idle_inhibit: globals.bind(&qh, 1..=1, ()).ok(),
            activation: globals.bind(&qh, 1..=1, ()).ok(),
            pointer_constraints: globals.bind(&qh, 1..=1, ()).ok(),
            relative_pointer: globals.bind(&qh, 1..=1, ()).ok(),
            data_device_manager: globals.bind(&qh, 1..=3, ()).ok(),
            layer_shell: globals.bind(&qh, 1..=4, ()).ok(),
            output_manager: globals.bind(&qh, 1..=4, ()).ok(),
            conn,
            queue,
            qh,
            app: App::default(),
            globals: list,
        };
        let mut client = client;
        client.roundtrip()?;
        Ok(client)
    }

    pub fn roundtrip(&mut self) -> Result<(), ClientError> {
        self.queue
            .roundtrip(&mut self.app)
            .map(|_| ())
            .map_err(|e| map_err(&self.conn, e))
    }

    /// Dispatch events until `done(&app)` holds or `timeout` passes.
    pub fn dispatch_until(
        &mut self,
        what: &'static str,
        timeout: Duration,
        mut done: impl FnMut(&App) -> bool,
    ) -> Result<(), ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.queue
                .dispatch_pending(&mut self.app)
                .map_err(|e| map_err(&self.conn, e))?;
            if done(&self.app) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ClientError::Timeout(what));
            }
            match self.conn.flush() {
                Ok(()) => {}
                // The server has closed the connection, perhaps right after
                // a protocol error that is still to be read: libwayland
                // leaves the display readable after EPIPE for exactly that
                // (wl_display_flush), so read on.
                Err(WaylandError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => return Err(map_err(&self.conn, e)),
            }
            if let Some(guard) = self.queue.prepare_read() {
                let remaining = deadline - now;
                let ts = rustix::time::Timespec {
                    tv_sec: remaining.as_secs() as i64,
                    tv_nsec: remaining.subsec_nanos() as i64,
                };
                let readable = {
                    let fd = guard.connection_fd();
                    let mut fds = [PollFd::new(&fd, PollFlags::IN | PollFlags::ERR | PollFlags::HUP)];
                    poll(&mut fds, Some(&ts)).map_err(|e| ClientError::Io(e.to_string()))? > 0
                };
                if readable {
                    match guard.read() {
                        Ok(_) => {}
                        Err(WaylandError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(map_err(&self.conn, e)),
                    }
                }
            }
        }
    }

    /// Expect the compositor to kill this client with a protocol error.
    pub fn expect_protocol_error(&mut self) -> ProtocolError {
        match self.dispatch_until("a protocol error", Duration::from_secs(10), |_| false) {
            Err(ClientError::Protocol(e)) => e,
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    pub fn global(&self, interface: &str) -> Option<&Global> {
        self.globals.iter().find(|g| g.interface == interface)
    }

    /// A `wl_buffer` of `w`×`h` XRGB8888 (or ARGB8888) pixels, all `argb`.
    pub fn shm_buffer(&mut self, w: i32, h: i32, argb: u32, format: wl_shm::Format) -> WlBuffer {
        let stride = w * 4;
        let size = (stride * h) as usize;
        let fd = memfd_create("quay-test-shm", MemfdFlags::CLOEXEC).expect("memfd");
        ftruncate(&fd, size as u64).expect("ftruncate");
        fill_shared(&fd, size, argb).expect("fill the shm buffer");
        let pool = self.shm.create_pool(fd.as_fd(), size as i32, &self.qh, ());
        let buffer = pool.create_buffer(0, w, h, stride, format, &self.qh, ());
        pool.destroy();
        buffer
    }

    /// Create a toplevel, wait for its configure, attach a solid buffer.
    pub fn window(&mut self, w: i32, h: i32, argb: u32) -> Result<Window, ClientError> {
        self.window_with(w, h, argb, false)
    }

    /// Like [`TestClient::window`]; with `fullscreen`, asks for fullscreen
    /// before the first commit (the size the compositor picks is then in
    /// `app.toplevel_size`).
    pub fn window_with(
        &mut self,
        w: i32,
        h: i32,
        argb: u32,
        fullscreen: bool,
    ) -> Result<Window, ClientError> {
        let surface = self.compositor.create_surface(&self.qh, ());
        let xdg_surface = self.wm_base.get_xdg_surface(&surface, &self.qh, ());
        let toplevel = xdg_surface.get_toplevel(&self.qh, ());
        toplevel.set_title("quay-test".into());
        if fullscreen {
            toplevel.set_fullscreen(None);
        }
        surface.commit();
        let id = xdg_surface.id().protocol_id();
        self.dispatch_until("the initial configure", Duration::from_secs(10), |app| {
            app.configures.contains_key(&id)
        })?;
        let serial = self.app.configures[&id];
        xdg_surface.ack_configure(serial);
        let buffer = self.shm_buffer(w, h, argb, wl_shm::Format::Xrgb8888);
        surface.attach(Some(&buffer), 0, 0);
        surface.damage_buffer(0, 0, w, h);
        surface.commit();
        Ok(Window {
            surface,
            xdg_surface,
            toplevel,
        })
    }

    /// Request a frame callback, commit, and wait for it to fire.
    pub fn commit_and_wait_frame(&mut self, surface: &WlSurface) -> Result<u32, ClientError> {
        let cb = surface.frame(&self.qh, ());
        surface.commit();
        // Protocol ids are reused once a callback is done: only look at
        // callbacks that fired after this request.
        let seen = self.app.frame_done.len();
        let id = cb.id().protocol_id();
        let fired = |app: &App| {
            app.frame_done[seen..]
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, t)| *t)
        };
        self.dispatch_until("a frame callback", Duration::from_secs(10), |app| {
            fired(app).is_some()
        })?;
        Ok(fired(&self.app).unwrap_or_default())
    }

    /// Ask for the default dma-buf feedback and wait for its `done`.
    pub fn default_feedback(&mut self) -> Result<Feedback, ClientError> {
        let fb = self.dmabuf().get_default_feedback(&self.qh, ());
        self.wait_feedback(&fb)
    }

    /// Ask for a surface's dma-buf feedback and wait for its `done`.
    pub fn surface_feedback(&mut self, surface: &WlSurface) -> Result<Feedback, ClientError> {
        let fb = self.dmabuf().get_surface_feedback(surface, &self.qh, ());
        self.wait_feedback(&fb)
    }

    fn wait_feedback(&mut self, fb: &ZwpLinuxDmabufFeedbackV1) -> Result<Feedback, ClientError> {
        let id = fb.id().protocol_id();
        self.dispatch_until("dma-buf feedback done", Duration::from_secs(10), |app| {
            app.feedbacks.get(&id).is_some_and(|f| f.done > 0)
        })?;
        Ok(self.app.feedbacks[&id].clone())
    }

    /// The linux-dmabuf global (the test client needs version 4 or 5).
    pub fn dmabuf(&self) -> &ZwpLinuxDmabufV1 {
        self.dmabuf
            .as_ref()
            .expect("the compositor offers zwp_linux_dmabuf_v1")
    }

    /// New `zwp_linux_buffer_params_v1`.
    pub fn params(&mut self) -> ZwpLinuxBufferParamsV1 {
        self.dmabuf().create_params(&self.qh, ())
    }

    /// Wait for a params object's `created` or `failed`.
    pub fn wait_params(&mut self, params: &ZwpLinuxBufferParamsV1) -> Result<ParamsResult, ClientError> {
        let id = params.id().protocol_id();
        self.dispatch_until("created/failed", Duration::from_secs(10), |app| {
            app.params_results.contains_key(&id)
        })?;
        Ok(self.app.params_results[&id].clone())
    }

    /// Subsurface helper for tests of wl_subcompositor.
    pub fn subsurface(&mut self, parent: &WlSurface) -> (WlSurface, WlSubsurface) {
        let surface = self.compositor.create_surface(&self.qh, ());
        let sub = self
            .subcompositor
            .as_ref()
            .expect("the compositor offers wl_subcompositor")
            .get_subsurface(&surface, parent, &self.qh, ());
        (surface, sub)
    }

    pub fn viewport(&mut self, surface: &WlSurface) -> WpViewport {
        self.viewporter
            .as_ref()
            .expect("the compositor offers wp_viewporter")
            .get_viewport(surface, &self.qh, ())
    }

    /// Request presentation feedback for the next commit of `surface`.
    pub fn feedback(&mut self, surface: &WlSurface) -> WpPresentationFeedback {
        self.presentation.feedback(surface, &self.qh, ())
    }
}

/// Map `size` bytes of `fd` shared, fill them with one 32-bit pixel, unmap.
pub fn fill_shared(fd: &impl AsFd, size: usize, pixel: u32) -> std::io::Result<()> {
    fill_shared_at(fd, size, 0, size, pixel)
}

/// Like [`fill_shared`] for `len` bytes at `offset` of a `total`-byte file;
/// the rest is left as it is.
pub fn fill_shared_at(
    fd: &impl AsFd,
    total: usize,
    offset: usize,
    len: usize,
    pixel: u32,
) -> std::io::Result<()> {
    if offset + len > total {
        return Err(std::io::Error::other("fill past the end"));
    }
    // SAFETY: a fresh shared mapping of `total` bytes of an fd the caller
    // owns; the writes stay inside [offset, offset + len) <= total; unmapped
    // before return.
    unsafe {
        let ptr = mmap(
            std::ptr::null_mut(),
            total,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            fd,
            0,
        )?;
        std::slice::from_raw_parts_mut((ptr as *mut u8).add(offset) as *mut u32, len / 4).fill(pixel);
        munmap(ptr, total)?;
    }
    Ok(())
}

/// A memfd of `size` bytes: has an inode like a dma-buf, but is not one.
pub fn memfd(size: u64) -> OwnedFd {
    let fd = memfd_create("quay-test-not-a-dmabuf", MemfdFlags::CLOEXEC).expect("memfd");
    ftruncate(&fd, size).expect("ftruncate");
    fd
}

/// Read a dma-buf feedback format table (16-byte entries).
fn read_format_table(fd: OwnedFd, size: u32) -> Vec<(u32, u64)> {
    let size = size as usize;
    if size == 0 {
        return Vec::new();
    }
    // SAFETY: read-only private mapping of the table the compositor sent.
    unsafe {
        let Ok(ptr) = mmap(
            std::ptr::null_mut(),
            size,
            ProtFlags::READ,
            MapFlags::PRIVATE,
            &fd,
            0,
        ) else {
            return Vec::new();
        };
        let bytes = std::slice::from_raw_parts(ptr as *const u8, size);
        let table = bytes
            .chunks_exact(16)
            .map(|c| {
                let fmt = u32::from_ne_bytes(c[0..4].try_into().unwrap_or_default());
                let m = u64::from_ne_bytes(c[8..16].try_into().unwrap_or_default());
                (fmt, m)
            })
            .collect();
        let _ = munmap(ptr, size);
        table
    }
}

fn dev_from_bytes(bytes: &[u8]) -> Option<u64> {
    match bytes.len() {
        8 => Some(u64::from_ne_bytes(bytes.try_into().ok()?)),
        4 => Some(u32::from_ne_bytes(bytes.try_into().ok()?) as u64),
        _ => None,
    }
}

// ---- dispatch impls: record what the tests need, ignore the rest ----

macro_rules! ignore_events {
    ($($t:ty),* $(,)?) => {$(
        impl Dispatch<$t, ()> for App {
            fn event(_: &mut Self, _: &$t, _: <$t as Proxy>::Event, _: &(), _: &Connection, _: &QueueHandle<Self>) {}
        }
    )*};
}

impl Dispatch<ZwpLinuxDmabufV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwpLinuxDmabufV1,
        event: zwp_linux_dmabuf_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zwp_linux_dmabuf_v1::Event::Modifier {
            format,
            modifier_hi,
            modifier_lo,
        } = event
        {
            let modifier = (u64::from(modifier_hi) << 32) | u64::from(modifier_lo);
            app.dmabuf_modifiers.push((format, modifier));
        }
    }
}

ignore_events!(
    WlCompositor,
    WlSubcompositor,
    WlSubsurface,
    WlSurface,
    WlShmPool,
    wayland_client::protocol::wl_region::WlRegion,
    XdgPositioner,
    XdgPopup,
    WlSeat,
    WlOutput,
    WpViewporter,
    WpViewport,
    WpSinglePixelBufferManagerV1,
    WpLinuxDrmSyncobjManagerV1,
    WpLinuxDrmSyncobjSurfaceV1,
    WpLinuxDrmSyncobjTimelineV1,
    ZwpLinuxExplicitSynchronizationV1,
    ZwpLinuxSurfaceSynchronizationV1,
    WlDataDeviceManager,
);

impl Dispatch<WlDataDevice, ()> for App {
    fn event(
        app: &mut Self,
        _: &WlDataDevice,
        event: wl_data_device::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_data_device::Event::Enter { serial, id, .. } => {
                app.dnd_offer = id.map(|offer| (offer, serial));
                app.dnd_events.push("enter".into());
            }
            wl_data_device::Event::Leave => app.dnd_events.push("leave".into()),
            wl_data_device::Event::Motion { .. } => app.dnd_events.push("motion".into()),
            wl_data_device::Event::Drop => app.dnd_events.push("drop".into()),
            _ => {}
        }
    }

    event_created_child!(App, WlDataDevice, [
        wl_data_device::EVT_DATA_OFFER_OPCODE => (WlDataOffer, ()),
    ]);
}

impl Dispatch<WlDataOffer, ()> for App {
    fn event(
        app: &mut Self,
        _: &WlDataOffer,
        event: wl_data_offer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_data_offer::Event::Offer { mime_type } => app.dnd_events.push(format!("offer:{mime_type}")),
            wl_data_offer::Event::Action {
                dnd_action: wayland_client::WEnum::Value(a),
            } => app.dnd_events.push(format!("action:{}", a.bits())),
            _ => {}
        }
    }
}

impl Dispatch<WlDataSource, ()> for App {
    fn event(
        app: &mut Self,
        _: &WlDataSource,
        event: wl_data_source::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use std::io::Write;
        match event {
            wl_data_source::Event::Target { mime_type } => app
                .dnd_events
                .push(format!("target:{}", mime_type.as_deref().unwrap_or("none"))),
            wl_data_source::Event::Send { mime_type, fd } => {
                // The receiver reads until end of file: write, then close.
                let mut pipe = std::fs::File::from(fd);
                if let Err(e) = pipe.write_all(&app.source_payload) {
                    app.dnd_events.push(format!("send-error:{e}"));
                }
                app.dnd_events.push(format!("send:{mime_type}"));
            }
            wl_data_source::Event::Action {
                dnd_action: wayland_client::WEnum::Value(a),
            } => app.dnd_events.push(format!("source-action:{}", a.bits())),
            wl_data_source::Event::Cancelled => app.dnd_events.push("cancelled".into()),
            wl_data_source::Event::DndDropPerformed => app.dnd_events.push("drop-performed".into()),
            wl_data_source::Event::DndFinished => app.dnd_events.push("finished".into()),
            _ => {}
        }
    }
}

pub use wayland_protocols_wlr::layer_shell::v1::client::{zwlr_layer_shell_v1, zwlr_layer_surface_v1};
wayland_client::delegate_noop!(App: ignore zwlr_layer_shell_v1::ZwlrLayerShellV1);
impl Dispatch<zwlr_layer_surface_v1::ZwlrLayerSurfaceV1, ()> for App {
    fn event(
        app: &mut Self,
        surface: &zwlr_layer_surface_v1::ZwlrLayerSurfaceV1,
        event: zwlr_layer_surface_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zwlr_layer_surface_v1::Event::Configure { serial, .. } = event {
            app.layer_configures.push((surface.id().protocol_id(), serial));
        }
    }
}

pub use wayland_protocols_wlr::output_management::v1::client::{
    zwlr_output_configuration_head_v1, zwlr_output_configuration_v1, zwlr_output_head_v1,
    zwlr_output_manager_v1, zwlr_output_mode_v1,
};
impl Dispatch<zwlr_output_manager_v1::ZwlrOutputManagerV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &zwlr_output_manager_v1::ZwlrOutputManagerV1,
        event: zwlr_output_manager_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            zwlr_output_manager_v1::Event::Head { head } => app.output_heads.push(head),
            zwlr_output_manager_v1::Event::Done { serial } => app.output_serial = Some(serial),
            _ => {}
        }
    }

    event_created_child!(App, zwlr_output_manager_v1::ZwlrOutputManagerV1, [
        zwlr_output_manager_v1::EVT_HEAD_OPCODE => (zwlr_output_head_v1::ZwlrOutputHeadV1, ()),
    ]);
}
impl Dispatch<zwlr_output_head_v1::ZwlrOutputHeadV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &zwlr_output_head_v1::ZwlrOutputHeadV1,
        event: zwlr_output_head_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zwlr_output_head_v1::Event::Mode { mode } = event {
            app.output_modes.push(mode);
        }
    }

    event_created_child!(App, zwlr_output_head_v1::ZwlrOutputHeadV1, [
        zwlr_output_head_v1::EVT_MODE_OPCODE => (zwlr_output_mode_v1::ZwlrOutputModeV1, ()),
    ]);
}
wayland_client::delegate_noop!(App: ignore zwlr_output_mode_v1::ZwlrOutputModeV1);
wayland_client::delegate_noop!(App: ignore zwlr_output_configuration_head_v1::ZwlrOutputConfigurationHeadV1);
impl Dispatch<zwlr_output_configuration_v1::ZwlrOutputConfigurationV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &zwlr_output_configuration_v1::ZwlrOutputConfigurationV1,
        event: zwlr_output_configuration_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        app.output_config_results.push(match event {
            zwlr_output_configuration_v1::Event::Succeeded => "succeeded",
            zwlr_output_configuration_v1::Event::Failed => "failed",
            zwlr_output_configuration_v1::Event::Cancelled => "cancelled",
            _ => return,
        });
    }
}

pub use wayland_protocols_wlr::screencopy::v1::client::{
    zwlr_screencopy_frame_v1, zwlr_screencopy_manager_v1,
};
wayland_client::delegate_noop!(App: ignore zwlr_screencopy_manager_v1::ZwlrScreencopyManagerV1);
pub use wayland_protocols_wlr::export_dmabuf::v1::client::{
    zwlr_export_dmabuf_frame_v1, zwlr_export_dmabuf_manager_v1,
};
wayland_client::delegate_noop!(App: ignore zwlr_export_dmabuf_manager_v1::ZwlrExportDmabufManagerV1);
pub use wayland_protocols::wp::security_context::v1::client::{
    wp_security_context_manager_v1, wp_security_context_v1,
};
wayland_client::delegate_noop!(App: ignore wp_security_context_manager_v1::WpSecurityContextManagerV1);
wayland_client::delegate_noop!(App: ignore wp_security_context_v1::WpSecurityContextV1);
pub use wayland_protocols::ext::session_lock::v1::client::{
    ext_session_lock_manager_v1, ext_session_lock_surface_v1, ext_session_lock_v1,
};
wayland_client::delegate_noop!(App: ignore ext_session_lock_manager_v1::ExtSessionLockManagerV1);
pub use wayland_protocols::xdg::decoration::zv1::client::{
    zxdg_decoration_manager_v1, zxdg_toplevel_decoration_v1,
};
wayland_client::delegate_noop!(App: ignore zxdg_decoration_manager_v1::ZxdgDecorationManagerV1);
pub use wayland_protocols::wp::cursor_shape::v1::client::{
    wp_cursor_shape_device_v1, wp_cursor_shape_manager_v1,
};
wayland_client::delegate_noop!(App: ignore wp_cursor_shape_manager_v1::WpCursorShapeManagerV1);
wayland_client::delegate_noop!(App: ignore wp_cursor_shape_device_v1::WpCursorShapeDeviceV1);
pub use wayland_protocols::wp::idle_inhibit::zv1::client::{
    zwp_idle_inhibit_manager_v1, zwp_idle_inhibitor_v1,
};
wayland_client::delegate_noop!(App: ignore zwp_idle_inhibit_manager_v1::ZwpIdleInhibitManagerV1);
wayland_client::delegate_noop!(App: ignore zwp_idle_inhibitor_v1::ZwpIdleInhibitorV1);
pub use wayland_protocols::wp::pointer_constraints::zv1::client::{
    zwp_confined_pointer_v1, zwp_locked_pointer_v1, zwp_pointer_constraints_v1,
};
pub use wayland_protocols::wp::relative_pointer::zv1::client::{
    zwp_relative_pointer_manager_v1, zwp_relative_pointer_v1,
};
wayland_client::delegate_noop!(App: ignore zwp_pointer_constraints_v1::ZwpPointerConstraintsV1);
wayland_client::delegate_noop!(App: ignore zwp_relative_pointer_manager_v1::ZwpRelativePointerManagerV1);
impl Dispatch<zwp_locked_pointer_v1::ZwpLockedPointerV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &zwp_locked_pointer_v1::ZwpLockedPointerV1,
        event: zwp_locked_pointer_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            zwp_locked_pointer_v1::Event::Locked => app.constraint_events.push("locked"),
            zwp_locked_pointer_v1::Event::Unlocked => app.constraint_events.push("unlocked"),
            _ => {}
        }
    }
}
impl Dispatch<zwp_confined_pointer_v1::ZwpConfinedPointerV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &zwp_confined_pointer_v1::ZwpConfinedPointerV1,
        event: zwp_confined_pointer_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            zwp_confined_pointer_v1::Event::Confined => app.constraint_events.push("confined"),
            zwp_confined_pointer_v1::Event::Unconfined => app.constraint_events.push("unconfined"),
            _ => {}
        }
    }
}
impl Dispatch<zwp_relative_pointer_v1::ZwpRelativePointerV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &zwp_relative_pointer_v1::ZwpRelativePointerV1,
        event: zwp_relative_pointer_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zwp_relative_pointer_v1::Event::RelativeMotion { dx, dy, .. } = event {
            app.relative_motions.push((dx, dy));
        }
    }
}
pub use wayland_protocols::xdg::activation::v1::client::{xdg_activation_token_v1, xdg_activation_v1};
wayland_client::delegate_noop!(App: ignore xdg_activation_v1::XdgActivationV1);
impl Dispatch<xdg_activation_token_v1::XdgActivationTokenV1, ()> for App {
    fn event(
        app: &mut Self,
        token: &xdg_activation_token_v1::XdgActivationTokenV1,
        event: xdg_activation_token_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_activation_token_v1::Event::Done { token: t } = event {
            app.activation_tokens.insert(token.id().protocol_id(), t);
        }
    }
}
impl Dispatch<zxdg_toplevel_decoration_v1::ZxdgToplevelDecorationV1, ()> for App {
    fn event(
        app: &mut Self,
        deco: &zxdg_toplevel_decoration_v1::ZxdgToplevelDecorationV1,
        event: zxdg_toplevel_decoration_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zxdg_toplevel_decoration_v1::Event::Configure {
            mode: wayland_client::WEnum::Value(mode),
        } = event
        {
            app.decoration_modes.push((deco.id().protocol_id(), mode));
        }
    }
}
impl Dispatch<ext_session_lock_v1::ExtSessionLockV1, ()> for App {
    fn event(
        app: &mut Self,
        lock: &ext_session_lock_v1::ExtSessionLockV1,
        event: ext_session_lock_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let what = match event {
            ext_session_lock_v1::Event::Locked => "locked",
            ext_session_lock_v1::Event::Finished => "finished",
            _ => return,
        };
        app.lock_events.push((lock.id().protocol_id(), what));
    }
}

impl Dispatch<ext_session_lock_surface_v1::ExtSessionLockSurfaceV1, ()> for App {
    fn event(
        app: &mut Self,
        surface: &ext_session_lock_surface_v1::ExtSessionLockSurfaceV1,
        event: ext_session_lock_surface_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let ext_session_lock_surface_v1::Event::Configure {
            serial,
            width,
            height,
        } = event
        {
            app.lock_surface_configures
                .push((surface.id().protocol_id(), serial, width, height));
        }
    }
}

impl Dispatch<zwlr_export_dmabuf_frame_v1::ZwlrExportDmabufFrameV1, ()> for App {
    fn event(
        app: &mut Self,
        frame: &zwlr_export_dmabuf_frame_v1::ZwlrExportDmabufFrameV1,
        event: zwlr_export_dmabuf_frame_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwlr_export_dmabuf_frame_v1::Event;
        let f = app.exported.entry(frame.id().protocol_id()).or_default();
        match event {
            Event::Frame {
                width,
                height,
                format,
                mod_high,
                mod_low,
                num_objects,
                ..
            } => {
                let modifier = (u64::from(mod_high) << 32) | u64::from(mod_low);
                f.frame = Some((width, height, format, modifier, num_objects))
            }
            Event::Object {
                fd,
                size,
                offset,
                stride,
                ..
            } => f.objects.push((fd, size, offset, stride)),
            Event::Ready { .. } => f.ready = true,
            Event::Cancel { reason } => f.cancel = Some(u32::from(reason)),
            _ => {}
        }
    }
}

impl Dispatch<zwlr_screencopy_frame_v1::ZwlrScreencopyFrameV1, ()> for App {
    fn event(
        app: &mut Self,
        frame: &zwlr_screencopy_frame_v1::ZwlrScreencopyFrameV1,
        event: zwlr_screencopy_frame_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwlr_screencopy_frame_v1::Event;
        let f = app.screencopy.entry(frame.id().protocol_id()).or_default();
        match event {
            Event::Buffer {
                format,
                width,
                height,
                stride,
            } => f.shm = Some((u32::from(format), width, height, stride)),
            Event::LinuxDmabuf {
                format,
                width,
                height,
            } => f.dmabuf = Some((format, width, height)),
            Event::BufferDone => f.buffer_done = true,
            Event::Damage { x, y, width, height } => f.damage.push((x, y, width, height)),
            Event::Ready { .. } => f.ready = true,
            Event::Failed => f.failed = true,
            _ => {}
        }
    }
}

impl Dispatch<ZwpLinuxBufferReleaseV1, ()> for App {
    fn event(
        app: &mut Self,
        release: &ZwpLinuxBufferReleaseV1,
        event: zwp_linux_buffer_release_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let id = release.id().protocol_id();
        match event {
            zwp_linux_buffer_release_v1::Event::FencedRelease { .. } => {
                app.explicit_releases.push((id, true))
            }
            zwp_linux_buffer_release_v1::Event::ImmediateRelease => app.explicit_releases.push((id, false)),
            _ => {}
        }
    }
}

impl Dispatch<WlRegistry, GlobalListContents> for App {
    fn event(
        _: &mut Self,
        _: &WlRegistry,
        _: <WlRegistry as Proxy>::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<WlShm, ()> for App {
    fn event(app: &mut Self, _: &WlShm, event: wl_shm::Event, _: &(), _: &Connection, _: &QueueHandle<Self>) {
        if let wl_shm::Event::Format { format } = event {
            app.shm_formats.push(format.into());
        }
    }
}

impl Dispatch<wayland_client::protocol::wl_pointer::WlPointer, ()> for App {
    fn event(
        app: &mut Self,
        _: &wayland_client::protocol::wl_pointer::WlPointer,
        event: wayland_client::protocol::wl_pointer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wayland_client::protocol::wl_pointer::Event::Enter { serial, surface, .. } => {
                app.pointer_enters.push((surface.id().protocol_id(), serial));
            }
            wayland_client::protocol::wl_pointer::Event::Motion {
                surface_x, surface_y, ..
            } => app.pointer_motions.push((surface_x, surface_y)),
            wayland_client::protocol::wl_pointer::Event::Button {
                serial,
                state:
                    wayland_client::WEnum::Value(wayland_client::protocol::wl_pointer::ButtonState::Pressed),
                ..
            } => app.button_serials.push(serial),
            _ => {}
        }
    }
}

impl Dispatch<wayland_client::protocol::wl_keyboard::WlKeyboard, ()> for App {
    fn event(
        app: &mut Self,
        _: &wayland_client::protocol::wl_keyboard::WlKeyboard,
        event: wayland_client::protocol::wl_keyboard::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use wayland_client::protocol::wl_keyboard::Event;
        match event {
            Event::Enter { surface, .. } => app.keyboard_focus.push((surface.id().protocol_id(), true)),
            Event::Leave { surface, .. } => app.keyboard_focus.push((surface.id().protocol_id(), false)),
            Event::Key { key, state, .. } => apps::record_key(app, key, state),
            _ => {}
        }
    }
}

impl Dispatch<WlBuffer, ()> for App {
    fn event(
        app: &mut Self,
        buffer: &WlBuffer,
        event: wl_buffer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_buffer::Event::Release = event {
            app.buffer_releases += 1;
            app.released_buffers.push(buffer.id().protocol_id());
        }
    }
}

impl Dispatch<WlCallback, ()> for App {
    fn event(
        app: &mut Self,
        cb: &WlCallback,
        event: wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_callback::Event::Done { callback_data } = event {
            app.frame_done.push((cb.id().protocol_id(), callback_data));
        }
    }
}

impl Dispatch<XdgWmBase, ()> for App {
    fn event(
        _: &mut Self,
        wm: &XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            wm.pong(serial);
        }
    }
}

impl Dispatch<XdgSurface, ()> for App {
    fn event(
        app: &mut Self,
        s: &XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            app.configures.insert(s.id().protocol_id(), serial);
        }
    }
}

/// The values of a protocol's `array` of `uint` states (xdg_toplevel's,
/// zwlr_foreign_toplevel_handle_v1's), in order.
pub fn states_of(array: &[u8]) -> Vec<u32> {
    array
        .chunks_exact(4)
        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl Dispatch<XdgToplevel, ()> for App {
    fn event(
        app: &mut Self,
        t: &XdgToplevel,
        event: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            xdg_toplevel::Event::Configure {
                width,
                height,
                states,
            } => {
                app.toplevel_size.insert(t.id().protocol_id(), (width, height));
                app.toplevel_states
                    .insert(t.id().protocol_id(), states_of(&states));
            }
            xdg_toplevel::Event::Close => app.toplevels_closed.push(t.id().protocol_id()),
            _ => {}
        }
    }
}

impl Dispatch<WpPresentation, ()> for App {
    fn event(
        app: &mut Self,
        _: &WpPresentation,
        event: wp_presentation::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wp_presentation::Event::ClockId { clk_id } = event {
            app.presentation_clock = Some(clk_id);
        }
    }
}

impl Dispatch<WpPresentationFeedback, ()> for App {
    fn event(
        app: &mut Self,
        _: &WpPresentationFeedback,
        event: wp_presentation_feedback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wp_presentation_feedback::Event::Presented {
                tv_sec_hi,
                tv_sec_lo,
                tv_nsec,
                refresh,
                seq_hi,
                seq_lo,
                flags,
            } => {
                let secs = ((tv_sec_hi as u64) << 32) | tv_sec_lo as u64;
                let p = Presented {
                    time: Duration::new(secs, tv_nsec),
                    refresh_ns: refresh,
                    seq: ((seq_hi as u64) << 32) | seq_lo as u64,
                    flags: flags.into(),
                };
                app.presented.push(p);
                app.feedback_log.push(Some(p));
            }
            wp_presentation_feedback::Event::Discarded => {
                app.discarded += 1;
                app.feedback_log.push(None);
            }
            _ => {}
        }
    }
}

impl Dispatch<ZwpLinuxBufferParamsV1, ()> for App {
    fn event(
        app: &mut Self,
        params: &ZwpLinuxBufferParamsV1,
        event: zwp_linux_buffer_params_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let id = params.id().protocol_id();
        match event {
            zwp_linux_buffer_params_v1::Event::Created { buffer } => {
                app.params_results.insert(id, ParamsResult::Created(buffer));
            }
            zwp_linux_buffer_params_v1::Event::Failed => {
                app.params_results.insert(id, ParamsResult::Failed);
            }
            _ => {}
        }
    }

    event_created_child!(App, ZwpLinuxBufferParamsV1, [
        zwp_linux_buffer_params_v1::EVT_CREATED_OPCODE => (WlBuffer, ()),
    ]);
}

impl Dispatch<ZwpLinuxDmabufFeedbackV1, ()> for App {
    fn event(
        app: &mut Self,
        fb: &ZwpLinuxDmabufFeedbackV1,
        event: zwp_linux_dmabuf_feedback_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwp_linux_dmabuf_feedback_v1::Event;
        let f = app.feedbacks.entry(fb.id().protocol_id()).or_default();
        match event {
            Event::FormatTable { fd, size } => f.table = read_format_table(fd, size),
            Event::MainDevice { device } => f.main_device = dev_from_bytes(&device),
            Event::TrancheTargetDevice { device } => f.pending.target_device = dev_from_bytes(&device),
            Event::TrancheFormats { indices } => f
                .pending
                .formats
                .extend(indices.chunks_exact(2).map(|c| u16::from_ne_bytes([c[0], c[1]]))),
            Event::TrancheFlags { flags } => f.pending.flags = flags.into(),
            Event::TrancheDone => {
                let t = std::mem::take(&mut f.pending);
                f.tranches.push(t);
            }
            Event::Done => f.done += 1,
            _ => {}
        }
    }
}
