//! Quay in the Wayland Conformance Test Suite (WLCS).
//!
//! WLCS (<https://github.com/canonical/wlcs>) loads this library, calls
//! `start` before each test and `stop` after it, and drives the compositor
//! through the hooks of its `display_server.h`, `pointer.h` and `touch.h`:
//! new client connections, window placement, pointer and touch input.
//!
//! What runs is Quay itself: `Core::new` (every global, every handler), the
//! headless backend with its pixman renderer and frame clock, and the same
//! input entry points the libinput and IPC paths use. Each `start` runs
//! that on a thread of its own with its own calloop loop; the hooks reach it
//! through a calloop channel and wait until the loop has handled the
//! request and flushed the clients, so an event WLCS injects is on the
//! client's socket before the hook returns.

// A failed start or stop must reach WLCS's console even when no log is
// set up (QUAY_WLCS_LOG): like the binary's edge, this library may print.
#![allow(clippy::disallowed_macros)]

mod server;

use std::{
    os::fd::{AsRawFd, OwnedFd},
    os::unix::net::UnixStream,
    sync::atomic::{AtomicU32, Ordering},
};

use wayland_sys::{
    client::{wayland_client_handle, wl_display, wl_proxy},
    common::{wl_fixed_t, wl_fixed_to_double},
    ffi_dispatch,
};
use wlcs::{
    extension_list,
    ffi_display_server_api::{WlcsExtensionDescriptor, WlcsIntegrationDescriptor, WlcsServerIntegration},
    ffi_wrappers::wlcs_server,
    wlcs_server_integration, Wlcs,
};

use server::{Request, Server};

wlcs_server_integration!(QuayWlcs);

/// The globals a client of a headless Quay is offered, at their versions
/// (what `wayland-info` lists; `xwayland_shell_v1` is Xwayland's alone).
/// WLCS runs a test only when every extension it needs is here at the
/// version it needs; the unit test below keeps this list within
/// `quay::globals::GLOBALS`.
static SUPPORTED_EXTENSIONS: &[WlcsExtensionDescriptor] = extension_list!(
    ("wl_compositor", 5),
    ("wl_subcompositor", 1),
    ("wl_shm", 2),
    ("wl_seat", 9),
    ("wl_output", 4),
    ("wl_data_device_manager", 3),
    ("xdg_wm_base", 6),
    ("zxdg_output_manager_v1", 3),
    ("wp_viewporter", 1),
    ("wp_single_pixel_buffer_manager_v1", 1),
    ("wp_presentation", 2),
    // 5 where there is a DRM device to name in the feedback; WLCS tests
    // no dma-bufs.
    ("zwp_linux_dmabuf_v1", 3),
    ("zwp_linux_explicit_synchronization_v1", 2),
    ("zwlr_screencopy_manager_v1", 3),
    ("wp_security_context_manager_v1", 1),
    ("zwp_primary_selection_device_manager_v1", 1),
    ("zwlr_data_control_manager_v1", 2),
    ("ext_data_control_manager_v1", 1),
    ("zwlr_layer_shell_v1", 4),
    ("ext_session_lock_manager_v1", 1),
    ("zxdg_decoration_manager_v1", 1),
    ("wp_cursor_shape_manager_v1", 2),
    ("ext_idle_notifier_v1", 2),
    ("zwp_idle_inhibit_manager_v1", 1),
    ("xdg_activation_v1", 1),
    ("wp_fractional_scale_manager_v1", 1),
    ("zwlr_output_manager_v1", 4),
    ("zwp_pointer_constraints_v1", 1),
    ("zwp_relative_pointer_manager_v1", 1),
    ("zwp_text_input_manager_v3", 1),
    ("zwp_input_method_manager_v2", 1),
    ("zwp_virtual_keyboard_manager_v1", 1),
    ("zwlr_virtual_pointer_manager_v1", 2),
    ("zwp_pointer_gestures_v1", 3),
    ("zwp_tablet_manager_v2", 1),
    ("zwp_keyboard_shortcuts_inhibit_manager_v1", 1),
    ("zxdg_exporter_v2", 1),
    ("zxdg_importer_v2", 1),
    ("xdg_wm_dialog_v1", 1),
    ("xdg_system_bell_v1", 1),
    ("wp_content_type_manager_v1", 1),
    ("wp_alpha_modifier_v1", 1),
    ("wp_fifo_manager_v1", 1),
    ("wp_commit_timing_manager_v1", 1),
    ("ext_foreign_toplevel_list_v1", 1),
    ("zwlr_foreign_toplevel_manager_v1", 3),
);

static DESCRIPTOR: WlcsIntegrationDescriptor = WlcsIntegrationDescriptor {
    version: 1,
    num_extensions: SUPPORTED_EXTENSIONS.len(),
    supported_extensions: SUPPORTED_EXTENSIONS.as_ptr(),
};

/// Touch slots and pointer ids, unique within the process.
static NEXT_DEVICE: AtomicU32 = AtomicU32::new(0);

struct QuayWlcs {
    server: Option<Server>,
}

impl Wlcs for QuayWlcs {
    type Pointer = PointerHandle;
    type Touch = TouchHandle;

    fn new() -> Self {
        QuayWlcs { server: None }
    }

    fn start(&mut self) {
        // Quay's log, when asked for: QUAY_WLCS_LOG takes RUST_LOG's syntax.
        if let Ok(filter) = std::env::var("QUAY_WLCS_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_writer(std::io::stderr)
                .try_init();
        }
        match Server::start() {
            Ok(server) => self.server = Some(server),
            // WLCS has no way to hear a failed start but a failed test: say
            // why, loudly, and let the test fail on its first connection.
            Err(err) => eprintln!("wlcs_quay: Quay did not start: {err:#}"),
        }
    }

    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }

    fn create_client_socket(&self) -> std::io::Result<OwnedFd> {
        let server = self.server.as_ref().ok_or(std::io::ErrorKind::NotConnected)?;
        let (client_side, server_side) = UnixStream::pair()?;
        server.call(Request::NewClient {
            stream: server_side,
            key: client_side.as_raw_fd(),
        })?;
        Ok(client_side.into())
    }

    fn position_window_absolute(&self, display: *mut wl_display, surface: *mut wl_proxy, x: i32, y: i32) {
        let Some(server) = self.server.as_ref() else {
            return;
        };
        // SAFETY: WLCS passes its client's live display and surface proxy.
        let (key, surface_id) = unsafe {
            (
                ffi_dispatch!(wayland_client_handle(), wl_display_get_fd, display),
                ffi_dispatch!(wayland_client_handle(), wl_proxy_get_id, surface),
            )
        };
        let _ = server.call(Request::PlaceWindow {
            key,
            surface_id,
            loc: (x, y),
        });
    }

    fn create_pointer(&mut self) -> Option<Self::Pointer> {
        let server = self.server.as_ref()?;
        Some(PointerHandle {
            server: server.handle(),
        })
    }

    fn create_touch(&mut self) -> Option<Self::Touch> {
        let server = self.server.as_ref()?;
        let _ = server.call(Request::AddTouch);
        Some(TouchHandle {
            server: server.handle(),
            slot: NEXT_DEVICE.fetch_add(1, Ordering::Relaxed),
        })
    }

    fn get_descriptor(&self) -> &WlcsIntegrationDescriptor {
        &DESCRIPTOR
    }
}

fn fixed(x: wl_fixed_t, y: wl_fixed_t) -> (f64, f64) {
    (wl_fixed_to_double(x), wl_fixed_to_double(y))
}

struct PointerHandle {
    server: server::Handle,
}

impl wlcs::Pointer for PointerHandle {
    fn move_absolute(&mut self, x: wl_fixed_t, y: wl_fixed_t) {
        let _ = self.server.call(Request::PointerTo(fixed(x, y)));
    }

    fn move_relative(&mut self, dx: wl_fixed_t, dy: wl_fixed_t) {
        let _ = self.server.call(Request::PointerBy(fixed(dx, dy)));
    }

    fn button_up(&mut self, button: i32) {
        let _ = self.server.call(Request::Button {
            button,
            pressed: false,
        });
    }

    fn button_down(&mut self, button: i32) {
        let _ = self.server.call(Request::Button {
            button,
            pressed: true,
        });
    }
}

struct TouchHandle {
    server: server::Handle,
    slot: u32,
}

/// `touch.h` declares the coordinates `wl_fixed_t`, but WLCS passes whole
/// pixels in them (wlcs v1.5.0 src/in_process_server.cpp:269-277, `down_at`
/// and `move_to` hand their `int`s on unconverted), and Mir's own
/// integration reads them as `int`: so does this one.
fn pixels(x: wl_fixed_t, y: wl_fixed_t) -> (f64, f64) {
    (f64::from(x), f64::from(y))
}

impl wlcs::Touch for TouchHandle {
    fn touch_down(&mut self, x: wl_fixed_t, y: wl_fixed_t) {
        let _ = self.server.call(Request::TouchDown {
            slot: self.slot,
            pos: pixels(x, y),
        });
    }

    fn touch_move(&mut self, x: wl_fixed_t, y: wl_fixed_t) {
        let _ = self.server.call(Request::TouchMove {
            slot: self.slot,
            pos: pixels(x, y),
        });
    }

    fn touch_up(&mut self) {
        let _ = self.server.call(Request::TouchUp { slot: self.slot });
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    /// Every extension WLCS is told about is a global Quay's table lists.
    #[test]
    fn the_descriptor_names_only_quays_globals() {
        for ext in super::SUPPORTED_EXTENSIONS {
            // SAFETY: extension_list! makes NUL-terminated static strings.
            let name = unsafe { CStr::from_ptr(ext.name) }.to_str().expect("ASCII names");
            assert!(
                quay::globals::global(name).is_some(),
                "{name} is not in quay::globals::GLOBALS"
            );
        }
    }
}
