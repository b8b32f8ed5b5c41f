//! Every global Quay offers, and who may bind it.
//!
//! A client that connected through a sandbox's `wp_security_context_v1`
//! listener (Flatpak) is not offered the globals that read other clients'
//! pixels or input, cover or hold the screen, watch the user, or change the
//! outputs; [`crate::state::privileged`] is the filter each of them is
//! created with. Everything else is for every client: what an ordinary
//! application needs to draw, take input and use the focused clipboard.
//! The table in `docs/protocols.md` is this one, with the version each
//! global is offered at and the tests that use it (`tests/limits.rs`
//! compares them, binds every global as an ordinary and as a sandboxed
//! client and checks each against this table).

/// Who may bind a global.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Every client, sandboxed ones included.
    Everyone,
    /// Clients that did not connect through a sandbox's security context.
    Unsandboxed,
    /// Xwayland alone (smithay checks the client).
    Xwayland,
}

/// One global: its interface, who may bind it, why.
#[derive(Debug, Clone, Copy)]
pub struct Global {
    pub interface: &'static str,
    pub access: Access,
    /// Which backends offer it, when not every one.
    pub only_on: Option<&'static str>,
    pub why: &'static str,
}

const fn g(interface: &'static str, access: Access, why: &'static str) -> Global {
    Global {
        interface,
        access,
        only_on: None,
        why,
    }
}

const fn on(interface: &'static str, access: Access, only_on: &'static str, why: &'static str) -> Global {
    Global {
        interface,
        access,
        only_on: Some(only_on),
        why,
    }
}

use Access::*;

/// The table (see the module doc).
pub const GLOBALS: &[Global] = &[
    g("wl_compositor", Everyone, "surfaces"),
    g("wl_subcompositor", Everyone, "subsurfaces (64 levels at most)"),
    g(
        "wl_shm",
        Everyone,
        "shared-memory buffers, charged to the client's budget",
    ),
    g(
        "zwp_linux_dmabuf_v1",
        Everyone,
        "dma-buf buffers, charged to the client's budget",
    ),
    on(
        "wp_linux_drm_syncobj_manager_v1",
        Everyone,
        "udev",
        "explicit sync on the client's own syncobjs",
    ),
    g(
        "zwp_linux_explicit_synchronization_v1",
        Everyone,
        "explicit sync with sync_files",
    ),
    g("xdg_wm_base", Everyone, "windows and popups"),
    g("zxdg_decoration_manager_v1", Everyone, "client-side decorations"),
    g(
        "zxdg_output_manager_v1",
        Everyone,
        "output names and logical geometry",
    ),
    g("wl_output", Everyone, "outputs"),
    g("wl_seat", Everyone, "input, to the focused client only"),
    g(
        "wp_viewporter",
        Everyone,
        "scaling and cropping of its own surfaces",
    ),
    g(
        "wp_single_pixel_buffer_manager_v1",
        Everyone,
        "solid-colour buffers",
    ),
    g("wp_fractional_scale_manager_v1", Everyone, "preferred scale"),
    g(
        "wp_presentation",
        Everyone,
        "presentation timing of its own surfaces",
    ),
    g("wp_cursor_shape_manager_v1", Everyone, "named cursors"),
    g(
        "zwp_pointer_constraints_v1",
        Everyone,
        "pointer lock/confine on its own focused surface",
    ),
    g(
        "zwp_relative_pointer_manager_v1",
        Everyone,
        "relative motion while focused",
    ),
    g(
        "xdg_activation_v1",
        Everyone,
        "focus requests, granted only with a fresh token from the focused client",
    ),
    g(
        "zwp_idle_inhibit_manager_v1",
        Everyone,
        "keeps the session awake only while the inhibiting surface is on screen",
    ),
    g(
        "wl_data_device_manager",
        Everyone,
        "clipboard and drag and drop, while focused",
    ),
    g(
        "zwp_primary_selection_device_manager_v1",
        Everyone,
        "middle-click paste, while focused",
    ),
    g(
        "zwp_text_input_manager_v3",
        Everyone,
        "text input through the input method, while focused",
    ),
    g(
        "zwp_pointer_gestures_v1",
        Everyone,
        "touchpad swipe, pinch and hold, under the pointer",
    ),
    g(
        "zwp_tablet_manager_v2",
        Everyone,
        "drawing tablets and pens from libinput, mapped to the first output",
    ),
    g(
        "zwp_keyboard_shortcuts_inhibit_manager_v1",
        Everyone,
        "Quay's key bindings to the focused surface (not Ctrl+Alt+Fn)",
    ),
    g(
        "zxdg_exporter_v2",
        Everyone,
        "a handle to its own toplevel for another client",
    ),
    g(
        "zxdg_importer_v2",
        Everyone,
        "parents its toplevel to an exported one",
    ),
    g(
        "xdg_wm_dialog_v1",
        Everyone,
        "marks its toplevels as (modal) dialogs",
    ),
    g("xdg_system_bell_v1", Everyone, "rings the bell (counted, logged)"),
    g(
        "wp_content_type_manager_v1",
        Everyone,
        "content type of its own surfaces",
    ),
    g("wp_alpha_modifier_v1", Everyone, "opacity of its own surfaces"),
    g(
        "wp_fifo_manager_v1",
        Everyone,
        "one content update per frame, released by the frame that shows it",
    ),
    g(
        "wp_commit_timing_manager_v1",
        Everyone,
        "a commit shown no earlier than its time, held without blocking",
    ),
    g(
        "zwp_input_method_manager_v2",
        Unsandboxed,
        "reads every keystroke, writes text into the focused client",
    ),
    g(
        "zwp_virtual_keyboard_manager_v1",
        Unsandboxed,
        "types into the focused client",
    ),
    g(
        "zwlr_virtual_pointer_manager_v1",
        Unsandboxed,
        "moves and clicks the pointer",
    ),
    g(
        "ext_foreign_toplevel_list_v1",
        Unsandboxed,
        "lists every client's windows",
    ),
    g(
        "zwlr_foreign_toplevel_manager_v1",
        Unsandboxed,
        "lists every client's windows and activates, minimizes or closes them",
    ),
    g(
        "zwlr_screencopy_manager_v1",
        Unsandboxed,
        "reads every client's pixels",
    ),
    on(
        "zwlr_export_dmabuf_manager_v1",
        Unsandboxed,
        "udev",
        "reads every client's pixels",
    ),
    g(
        "zwlr_data_control_manager_v1",
        Unsandboxed,
        "reads and sets every selection without focus",
    ),
    g(
        "ext_data_control_manager_v1",
        Unsandboxed,
        "reads and sets every selection without focus",
    ),
    g(
        "zwlr_layer_shell_v1",
        Unsandboxed,
        "surfaces above every window, keyboard grabs",
    ),
    g(
        "ext_session_lock_manager_v1",
        Unsandboxed,
        "holds the screen and the keyboard",
    ),
    g(
        "ext_idle_notifier_v1",
        Unsandboxed,
        "watches when the user is active",
    ),
    g(
        "zwlr_output_manager_v1",
        Unsandboxed,
        "changes modes, scales and layout of the outputs",
    ),
    g("wp_security_context_manager_v1", Unsandboxed, "makes sandboxes"),
    g(
        "zwp_xwayland_keyboard_grab_manager_v1",
        Xwayland,
        "X11 keyboard grabs",
    ),
    g(
        "xwayland_shell_v1",
        Xwayland,
        "associates X11 windows with surfaces",
    ),
];

/// `g`'s "sandboxed clients" and "why" columns in `docs/protocols.md`.
pub fn doc_columns(g: &Global) -> (&'static str, String) {
    let who = match g.access {
        Everyone => "yes",
        Unsandboxed => "no",
        Xwayland => "no (Xwayland only)",
    };
    let why = match g.only_on {
        Some(only) => format!("{} ({only} only)", g.why),
        None => g.why.to_string(),
    };
    (who, why)
}

/// The table's entry for `interface`.
pub fn global(interface: &str) -> Option<&'static Global> {
    GLOBALS.iter().find(|g| g.interface == interface)
}

/// The globals Quay creates and keeps alive whose state nothing but their
/// handler reads: smithay's `*State` types and Quay's own. The rest belong
/// to the concern that uses them (`Core`'s fields).
#[derive(Debug)]
pub struct Globals {
    /// `wl_output` and `zxdg_output_manager_v1`.
    pub output_manager: smithay::wayland::output::OutputManagerState,
    pub viewporter: smithay::wayland::viewporter::ViewporterState,
    pub single_pixel_buffer: smithay::wayland::single_pixel_buffer::SinglePixelBufferState,
    pub presentation: smithay::wayland::presentation::PresentationState,
    /// `zwp_linux_explicit_synchronization_v1` (every backend).
    pub explicit_sync: crate::protocols::explicit_sync::ExplicitSyncState,
    /// `wp_security_context_manager_v1`: sandboxes (Flatpak) make listening
    /// sockets whose clients see no privileged globals.
    pub security_context: smithay::wayland::security_context::SecurityContextState,
    /// `ext_session_lock_manager_v1` (privileged; the lock is `Core::lock`).
    pub session_lock: smithay::wayland::session_lock::SessionLockManagerState,
    pub activation: smithay::wayland::xdg_activation::XdgActivationState,
    pub cursor_shape: smithay::wayland::cursor_shape::CursorShapeManagerState,
    /// `zxdg_decoration_manager_v1`: always client-side.
    pub decoration: smithay::wayland::shell::xdg::decoration::XdgDecorationState,
    /// `zwlr_layer_shell_v1` (privileged).
    pub layer_shell: smithay::wayland::shell::wlr_layer::WlrLayerShellState,
    /// `xwayland_shell_v1` (Xwayland only).
    pub xwayland_shell: smithay::wayland::xwayland_shell::XWaylandShellState,
    pub pointer_constraints: smithay::wayland::pointer_constraints::PointerConstraintsState,
    pub relative_pointer: smithay::wayland::relative_pointer::RelativePointerManagerState,
    pub fractional_scale: smithay::wayland::fractional_scale::FractionalScaleManagerState,
}

impl Globals {
    /// Create them all; `clock_id` is the presentation clock's.
    pub fn new(dh: &smithay::reexports::wayland_server::DisplayHandle, clock_id: u32) -> Globals {
        use crate::State;
        Globals {
            output_manager: smithay::wayland::output::OutputManagerState::new_with_xdg_output::<State>(dh),
            viewporter: smithay::wayland::viewporter::ViewporterState::new::<State>(dh),
            single_pixel_buffer: smithay::wayland::single_pixel_buffer::SinglePixelBufferState::new::<State>(
                dh,
            ),
            presentation: smithay::wayland::presentation::PresentationState::new::<State>(dh, clock_id),
            explicit_sync: crate::protocols::explicit_sync::ExplicitSyncState::new::<State>(dh),
            security_context: smithay::wayland::security_context::SecurityContextState::new::<State, _>(
                dh,
                crate::state::privileged,
            ),
            session_lock: crate::handlers::session_lock::new_state(dh),
            activation: smithay::wayland::xdg_activation::XdgActivationState::new::<State>(dh),
            cursor_shape: smithay::wayland::cursor_shape::CursorShapeManagerState::new::<State>(dh),
            decoration: smithay::wayland::shell::xdg::decoration::XdgDecorationState::new::<State>(dh),
            layer_shell: crate::handlers::layer_shell::new_state(dh),
            xwayland_shell: smithay::wayland::xwayland_shell::XWaylandShellState::new::<State>(dh),
            pointer_constraints: smithay::wayland::pointer_constraints::PointerConstraintsState::new::<State>(
                dh,
            ),
            relative_pointer: smithay::wayland::relative_pointer::RelativePointerManagerState::new::<State>(
                dh,
            ),
            fractional_scale: smithay::wayland::fractional_scale::FractionalScaleManagerState::new::<State>(
                dh,
            ),
        }
    }
}
