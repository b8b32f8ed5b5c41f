//! `State` and `Core`: everything the compositor owns, on one thread.
//!
//! `Core` holds the protocol globals, the window `Space`, the seat and the
//! bookkeeping that backends read; `Backend` (in `backends/`) holds the
//! renderer and outputs. Nothing here is shared across threads: the event
//! loop owns `State` and hands `&mut State` to every callback.

use std::{
    ffi::OsString,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use smithay::{
    desktop::{PopupManager, Space, Window, WindowSurfaceType},
    input::{Seat, SeatState},
    reexports::{
        calloop::{generic::Generic, Interest, LoopHandle, LoopSignal, Mode, PostAction},
        wayland_server::{
            backend::{ClientData, ClientId, DisconnectReason},
            protocol::wl_surface::WlSurface,
            Display, DisplayHandle, ListeningSocket,
        },
    },
    utils::{Clock, Logical, Monotonic, Point, Rectangle},
    wayland::{
        compositor::{CompositorClientState, CompositorState},
        shell::xdg::XdgShellState,
        shm::ShmState,
    },
};
use tracing::{info, warn};

use crate::{backends::Backend, ipc::IpcServer};

/// The event loop's data: the backend and everything else.
pub struct State {
    pub backend: Backend,
    pub core: Core,
}

/// Counters printed by `quay msg stats`. Monotonic totals unless named `_live`.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    pub clients_connected_total: u64,
    pub frames_presented_total: u64,
    pub dmabuf_params_created_total: u64,
    pub dmabuf_params_failed_total: u64,
    /// `zwlr_screencopy_frame_v1` copies answered `ready` (all targets).
    pub screencopy_frames_total: u64,
    /// ... of which into a client's dma-buf.
    pub screencopy_dmabuf_frames_total: u64,
    pub screencopy_failed_total: u64,
    /// Copies answered `failed` because their client already had
    /// `PENDING_PER_CLIENT` waiting (`handlers/screencopy.rs`).
    pub screencopy_refused_total: u64,
    /// ... because their dma-buf's fences did not signal in time.
    pub screencopy_not_writable_total: u64,
    /// Output renders made to serve copies: one per output per turn,
    /// however many copies of it the turn made.
    pub screencopy_renders_total: u64,
    /// `zwlr_export_dmabuf_frame_v1` frames answered `ready`.
    pub export_dmabuf_frames_total: u64,
    /// Times a listening socket (wayland or IPC) paused because `accept`
    /// ran out of fds (`listen.rs`).
    pub accept_backoffs_total: u64,
    /// `xdg_system_bell_v1.ring` requests.
    pub bells_total: u64,
    /// Clients disconnected for passing their budget (`limits.rs`).
    pub clients_over_budget_total: u64,
    /// `SYNC_IOC_SET_DEADLINE` on the render fence of a frame queued to KMS
    /// (GLES; pixman frames end in no fence), at its target vblank.
    pub render_deadlines_set_total: u64,
    pub render_deadline_errors_total: u64,
    /// udev: flips after which the next frame's repaint slot had already
    /// passed, so it started at once (a frame that took longer than the
    /// render estimate and `[render] repaint_margin_ms` together).
    pub repaints_late_total: u64,
    /// udev: refreshes by which flips came after the vblank their frame was
    /// started for (the first vblank after the repaint began, by the frame
    /// clock). Meaningful where the vblank is real (vkms, hardware);
    /// virtio_gpu completes a flip when the host has the frame.
    pub vblanks_missed_total: u64,
    /// Windows activated through `xdg_activation_v1`.
    pub activations_total: u64,
    /// Times the session was locked (`ext_session_lock_v1`).
    pub session_locks_total: u64,
    /// Drags started (`wl_data_device.start_drag` on a live press) and
    /// those dropped on a client that accepted them.
    pub dnd_drags_total: u64,
    pub dnd_drops_total: u64,
    /// `zwlr_output_configuration_v1`s applied.
    pub output_configurations_total: u64,
    /// udev cursor plane (backends/cursor_plane.rs): a new picture shown,
    /// the same picture moved, the slowest of each (microseconds in the
    /// ioctls, the hotspot's included), and frames that composited the
    /// cursor because the plane could not show it.
    pub cursor_plane_updates_total: u64,
    pub cursor_plane_moves_total: u64,
    pub cursor_plane_update_max_us: u64,
    pub cursor_plane_move_max_us: u64,
    pub cursor_composited_frames_total: u64,
    /// Interactive moves and resizes started (by a client's request or
    /// Super + drag).
    pub window_moves_total: u64,
    pub window_resizes_total: u64,
    /// Key bindings whose action ran.
    pub bindings_run_total: u64,
    /// Config files read again (a change on disk or the reload binding),
    /// and those that did not parse (the running config was kept).
    pub config_reloads_total: u64,
    pub config_reload_errors_total: u64,
    /// dma-bufs answered `failed` after an import attempt, by reason
    /// (`dmabuf_failed_<reason>_total`; `buffer::error`).
    #[serde(flatten)]
    pub dmabuf_failed: crate::buffer::error::ImportFailures,
}

pub struct Core {
    /// The globals nothing else holds (`crate::globals::Globals`).
    pub globals: crate::globals::Globals,
    pub display_handle: DisplayHandle,
    pub loop_handle: LoopHandle<'static, State>,
    pub loop_signal: LoopSignal,
    pub config: quay_config::Config,
    /// The config file, polled for changes; `None` on the built-in config.
    pub config_watch: Option<crate::actions::ConfigWatch>,
    /// `[bindings]`, resolved to keysyms.
    pub bindings: Vec<crate::bindings::Binding>,
    /// Keys whose press a binding or the VT switch took: their release is
    /// not the client's either.
    pub suppressed_keys: std::collections::HashSet<u32>,
    /// The wayland socket's name under `$XDG_RUNTIME_DIR`.
    pub socket_name: OsString,
    /// The presentation clock: every timestamp Quay sends is on this clock.
    pub clock: Clock<Monotonic>,

    pub compositor_state: CompositorState,
    pub xdg_shell_state: XdgShellState,
    pub shm_state: ShmState,
    pub seat_state: SeatState<State>,
    /// linux-dmabuf: the global, its feedback, what it advertises and
    /// the planes of params being built (`src/handlers/dmabuf.rs`).
    pub dmabuf: crate::handlers::dmabuf::DmabufGlue,

    pub space: Space<Window>,
    pub popups: PopupManager,
    /// The popup grab the seat is in (`xdg_popup.grab`), kept to end it when
    /// a new window takes the keyboard: smithay's keyboard grab ignores any
    /// focus change while it lasts (src/desktop/wayland/popup/grab.rs:456-476).
    pub popup_grab: Option<smithay::desktop::PopupGrab<State>>,
    pub seat: Seat<State>,
    /// Where new windows go and where maximized and fullscreen ones come
    /// back to (`shell.rs`).
    pub placement: crate::shell::Placement,
    /// Which xdg_surface has which role object (`handlers/xdg_shell.rs`).
    pub xdg_roles: crate::handlers::xdg_shell::XdgRoles,

    pub ipc: Option<IpcServer>,
    pub stats: Stats,
    /// What each client and all of them may make Quay hold, and how many
    /// have gone (`limits.rs`).
    pub budgets: crate::limits::Budgets,
    /// Acquire fences, deadline hints, frame clocks (`crate::sync`).
    pub sync: crate::sync::SyncState,
    /// `wp_linux_drm_syncobj_manager_v1`, where the DRM device can wait on
    /// syncobjs with an eventfd (udev backend).
    pub syncobj_state: Option<smithay::wayland::drm_syncobj::DrmSyncobjState>,
    /// Capture: screencopy (its global and its queue) and export-dmabuf
    /// (`handlers/screencopy.rs`).
    pub capture: crate::handlers::screencopy::Capture,
    pub lock: crate::lock::LockState,
    /// Idle notification and inhibition (`src/handlers/idle.rs`).
    pub idle: crate::handlers::idle::Idle,
    /// The pointer's picture and where it and the touch points are
    /// (`cursor.rs`).
    pub pointer: crate::cursor::PointerState,
    /// The clipboard and primary selection, and data control over both.
    pub selection: crate::handlers::selection::SelectionStates,
    /// Xwayland and its window manager (`crate::xwayland`).
    pub xwayland: crate::xwayland::XwaylandState,
    /// `zwlr_output_manager_v1`.
    pub output_management: crate::protocols::output_management::OutputManagementState,
    /// Outputs switched off by `[[output]]` or an output manager: not in
    /// the space, still Quay's.
    pub disabled_outputs: Vec<smithay::output::Output>,
    /// IME, virtual input, gestures, tablets, shortcut inhibitors, the
    /// xdg extensions (`handlers/app_protocols.rs`).
    pub apps: crate::handlers::app_protocols::AppProtocols,
    /// The toplevel lists taskbars read, and minimized windows (`toplevels.rs`).
    pub toplevels: crate::toplevels::Toplevels,
    /// `wp_fifo_manager_v1` and `wp_commit_timing_manager_v1` (`pacing.rs`).
    pub pacing: crate::pacing::Pacing,
}

impl Core {
    /// Create the globals, bind the listening socket and register the display
    /// with the event loop.
    pub fn new(
        display: Display<State>,
        loop_handle: LoopHandle<'static, State>,
        loop_signal: LoopSignal,
        config: quay_config::Config,
        socket: Option<&str>,
        nofile: Option<u64>,
    ) -> anyhow::Result<Core> {
        let dh = display.handle();
        let clock = Clock::<Monotonic>::new();

        let compositor_state = CompositorState::new::<State>(&dh);
        let xdg_shell_state = XdgShellState::new::<State>(&dh);
        let shm_state = ShmState::new::<State>(&dh, vec![]);

        let (seat_state, seat) = new_seat(&dh, &config);
        let socket_name = listen(socket, display, &loop_handle)?;
        let budgets = crate::limits::Budgets::new(&config.limits, nofile);

        info!(socket = ?socket_name, "listening");

        let sync = crate::sync::SyncState::new(config.sync.deadline_hints);
        let globals = crate::globals::Globals::new(&dh, clock.id() as u32);
        let capture = crate::handlers::screencopy::Capture::new(&dh);
        let selection = crate::handlers::selection::SelectionStates::new(&dh);
        let pointer = crate::cursor::PointerState::new(&config.cursor);
        let idle = crate::handlers::idle::Idle::new(&dh, &loop_handle);
        let output_management = crate::protocols::output_management::OutputManagementState::new(&dh);
        let apps = crate::handlers::app_protocols::AppProtocols::new(&dh);
        let toplevels = crate::toplevels::Toplevels::new(&dh);
        let pacing = crate::pacing::Pacing::new(&dh);
        Ok(Core {
            globals,
            pacing,
            apps,
            toplevels,
            output_management,
            disabled_outputs: Vec::new(),
            xwayland: Default::default(),
            config_watch: None,
            bindings: crate::bindings::compile_logged(&config),
            suppressed_keys: Default::default(),
            idle,
            pointer,
            lock: Default::default(),
            selection,
            sync,
            syncobj_state: None,
            capture,
            display_handle: dh,
            loop_handle,
            loop_signal,
            config,
            socket_name,
            clock,
            compositor_state,
            xdg_shell_state,
            shm_state,
            seat_state,
            dmabuf: Default::default(),
            space: Space::default(),
            popups: PopupManager::default(),
            popup_grab: None,
            seat,
            placement: Default::default(),
            xdg_roles: Default::default(),
            ipc: None,
            stats: Stats::default(),
            budgets,
        })
    }

    /// Start serving a client on `stream`; `security_context` when it came
    /// through a sandbox's listening socket.
    pub fn insert_client(
        &mut self,
        stream: std::os::unix::net::UnixStream,
        security_context: Option<smithay::wayland::security_context::SecurityContext>,
    ) -> Option<smithay::reexports::wayland_server::Client> {
        let data = ClientState {
            compositor_state: CompositorClientState::default(),
            disconnected: self.budgets.disconnected.clone(),
            budget: crate::limits::ClientBudget::new(self.budgets.client, self.budgets.session.clone()),
            security_context,
        };
        match self.display_handle.insert_client(stream, Arc::new(data)) {
            Ok(client) => {
                self.stats.clients_connected_total += 1;
                Some(client)
            }
            Err(err) => {
                warn!("cannot add a client: {err}");
                None
            }
        }
    }

    /// The window (xdg toplevel or X11) whose root surface is `surface`.
    pub fn window_for_surface(&self, surface: &WlSurface) -> Option<&Window> {
        self.space
            .elements()
            .find(|w| smithay::wayland::seat::WaylandFocus::wl_surface(*w).is_some_and(|s| *s == *surface))
    }

    /// The output `surface` is (or will be) shown on: the first output its
    /// window (the window of its root surface) overlaps, else the first
    /// output.
    pub fn output_of_surface(&self, surface: &WlSurface) -> Option<smithay::output::Output> {
        let mut root = surface.clone();
        while let Some(parent) = smithay::wayland::compositor::get_parent(&root) {
            root = parent;
        }
        self.window_for_surface(&root)
            .and_then(|w| self.space.outputs_for_element(w).into_iter().next())
            .or_else(|| self.space.outputs().next().cloned())
    }

    /// The surface under a point in global logical coordinates, for input.
    pub fn surface_under(&self, pos: Point<f64, Logical>) -> Option<(WlSurface, Point<f64, Logical>)> {
        if self.lock.is_locked() {
            // Only a lock surface, which covers its output from (0, 0).
            let output = self.space.output_under(pos).next()?;
            let origin = self.space.output_geometry(output)?.loc.to_f64();
            let lock = self.lock.surface_for(output)?;
            return Some((lock.wl_surface().clone(), origin));
        }
        use smithay::wayland::shell::wlr_layer::Layer;
        if let Some(hit) = self.layer_surface_under(pos, &[Layer::Overlay, Layer::Top]) {
            return Some(hit);
        }
        let Some((window, loc)) = self.window_under(pos) else {
            return self.layer_surface_under(pos, &[Layer::Bottom, Layer::Background]);
        };
        match window.x11_surface().filter(|x| x.wl_surface().is_none()) {
            Some(x11) => {
                let wl = self.x11_wl_surface(x11)?;
                smithay::desktop::utils::under_from_surface_tree(&wl, pos, loc, WindowSurfaceType::ALL)
                    .map(|(s, p)| (s, p.to_f64()))
            }
            None => {
                let render_loc = (loc - window.geometry().loc).to_f64();
                window
                    .surface_under(pos - render_loc, WindowSurfaceType::ALL)
                    .map(|(s, p)| (s, p.to_f64() + render_loc))
            }
        }
    }

    /// The surface of a layer surface in one of `layers` (in that order)
    /// that takes input at `pos`, and its origin (global logical).
    pub fn layer_surface_under(
        &self,
        pos: Point<f64, Logical>,
        layers: &[smithay::wayland::shell::wlr_layer::Layer],
    ) -> Option<(WlSurface, Point<f64, Logical>)> {
        let output = self.space.output_under(pos).next()?;
        let output_loc = self.space.output_geometry(output)?.loc.to_f64();
        let map = crate::layers::layer_map_for_output(output);
        let local = pos - output_loc;
        // Each layer surface is asked itself, not by its rectangle: its
        // popups reach outside it.
        layers.iter().find_map(|&layer| {
            map.layers_on(layer).rev().find_map(|surface| {
                let at = map.layer_geometry(surface)?.loc.to_f64();
                surface
                    .surface_under(local - at, WindowSurfaceType::ALL)
                    .map(|(s, p)| (s, p.to_f64() + at + output_loc))
            })
        })
    }

    /// The topmost window that takes input at `pos`, and its location.
    ///
    /// As `Space::element_under` looks (smithay-0.7.0
    /// src/desktop/space/mod.rs:185), but an X11 window whose surface Quay
    /// found itself (`Core::x11_wl_surface`) is hit by its geometry: smithay
    /// has no surface to test for it.
    pub fn window_under(&self, pos: Point<f64, Logical>) -> Option<(&Window, Point<i32, Logical>)> {
        self.space.elements().rev().find_map(|window| {
            let loc = self.space.element_location(window)?;
            let hit = match window.x11_surface().filter(|x| x.wl_surface().is_none()) {
                Some(x11) => Rectangle::new(loc, x11.geometry().size).to_f64().contains(pos),
                None => {
                    let render_loc = (loc - window.geometry().loc).to_f64();
                    self.space
                        .element_bbox(window)
                        .is_some_and(|b| b.to_f64().contains(pos))
                        && smithay::desktop::space::SpaceElement::is_in_input_region(
                            window,
                            &(pos - render_loc),
                        )
                }
            };
            hit.then_some((window, loc))
        })
    }

    /// Work after every event-loop dispatch: forget dead windows and popups
    /// and send queued events to clients.
    pub fn refresh_and_flush(&mut self) {
        self.space.refresh();
        self.popups.cleanup();
        self.refresh_toplevel_lists();
        if let Err(err) = self.display_handle.flush_clients() {
            warn!("flushing clients failed: {err}");
        }
    }

    /// Clients connected now.
    pub fn clients_live(&self) -> u64 {
        self.stats
            .clients_connected_total
            .saturating_sub(self.budgets.disconnected.load(Ordering::Relaxed))
    }

    /// Now as an input event's timestamp (milliseconds, wrapping), for
    /// input Quay makes itself (`quay msg pointer/key/button`).
    pub fn input_time(&self) -> u32 {
        (self.now().as_millis() & u32::MAX as u128) as u32
    }

    /// Time since the presentation clock's epoch.
    pub fn now(&self) -> Duration {
        self.clock.now().into()
    }
}

/// Per-client data smithay needs.
pub struct ClientState {
    pub compositor_state: CompositorClientState,
    disconnected: Arc<AtomicU64>,
    /// What this client makes Quay hold (`limits.rs`).
    pub budget: crate::limits::ClientBudget,
    /// Set for a client that connected through a `wp_security_context_v1`
    /// listener (a sandboxed app).
    pub security_context: Option<smithay::wayland::security_context::SecurityContext>,
}

/// Whether `client` may see the privileged globals: anything that reads
/// other clients' pixels (screencopy, export-dmabuf) and the security
/// context manager itself. A client that connected through a sandbox's
/// security context may not.
pub fn privileged(client: &smithay::reexports::wayland_server::Client) -> bool {
    client
        .get_data::<ClientState>()
        .is_some_and(|c| c.security_context.is_none())
}

impl ClientData for ClientState {
    fn initialized(&self, _client_id: ClientId) {}
    fn disconnected(&self, _client_id: ClientId, _reason: DisconnectReason) {
        self.disconnected.fetch_add(1, Ordering::Relaxed);
    }
}

/// seat0 with a pointer and a keyboard on the config's keymap; one
/// xkbcommon cannot build is a user problem, not a reason to run without a
/// keyboard: xkb's default (XKB_DEFAULT_* or "us") then.
fn new_seat(dh: &DisplayHandle, config: &quay_config::Config) -> (SeatState<State>, Seat<State>) {
    let mut seat_state = SeatState::new();
    let mut seat = seat_state.new_wl_seat(dh, "seat0");
    // The config's keymap; one xkbcommon cannot build is a user
    // problem, not a reason to run without a keyboard: xkb's default
    // (XKB_DEFAULT_* or "us") then.
    let k = &config.keyboard;
    let (delay, rate) = (k.repeat_delay_ms.0 as i32, k.repeat_rate.0 as i32);
    if let Err(err) = seat.add_keyboard(crate::actions::xkb_config(k), delay, rate) {
        warn!(
            layout = k.layout,
            variant = k.variant,
            options = k.options,
            "keymap failed ({err:?}); using xkbcommon's default"
        );
        if let Err(err) = seat.add_keyboard(Default::default(), delay, rate) {
            warn!("no keyboard on seat0: {err:?}");
        }
    }
    seat.add_pointer();
    (seat_state, seat)
}

/// Listen on the Wayland socket `socket` (or the first free `wayland-N`)
/// and serve `display`'s clients from the loop. Returns the socket's name.
fn listen(
    socket: Option<&str>,
    display: Display<State>,
    loop_handle: &LoopHandle<'static, State>,
) -> anyhow::Result<OsString> {
    use anyhow::Context;
    let listening = match socket {
        Some(name) => ListeningSocket::bind(name)
            .with_context(|| format!("cannot listen on wayland socket {name:?}"))?,
        None => {
            ListeningSocket::bind_auto("wayland", 1..33).context("cannot find a free wayland socket name")?
        }
    };
    let socket_name = listening
        .socket_name()
        .map(|n| n.to_os_string())
        .context("the wayland socket has no name")?;
    crate::listen::insert_listener(loop_handle, "wayland socket", listening, |stream, state| {
        state.core.insert_client(stream, None);
    })
    .context("cannot register the listening socket")?;

    loop_handle
        .insert_source(
            Generic::new(display, Interest::READ, Mode::Level),
            |_, display, state| {
                // SAFETY: the display is owned by this source and never dropped while in use.
                let res = unsafe { display.get_mut().dispatch_clients(state) };
                if let Err(err) = res {
                    // An I/O error on the display's epoll fd itself: the compositor cannot go on.
                    tracing::error!("dispatching clients failed: {err}");
                    state.core.loop_signal.stop();
                }
                Ok(PostAction::Continue)
            },
        )
        .map_err(|e| anyhow::anyhow!("cannot register the display: {e}"))?;
    Ok(socket_name)
}
