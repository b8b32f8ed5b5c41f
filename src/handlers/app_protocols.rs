//! The protocols applications expect beyond the core shell, each where
//! smithay 0.7 implements it, with Quay's policy for it:
//!
//! - `zwp_text_input_manager_v3` + `zwp_input_method_manager_v2` (IME:
//!   fcitx5, ibus). smithay moves text-input focus with the keyboard's
//!   (smithay-0.7.0 src/wayland/seat/keyboard.rs:178-206); an input method's
//!   popup is tracked like an xdg_popup and drawn with its parent. The
//!   input method is privileged (it reads every keystroke).
//! - `zwp_virtual_keyboard_manager_v1` (privileged; wtype): smithay sends
//!   the keys to the focused client with the virtual keyboard's keymap,
//!   past Quay's bindings.
//! - `zwp_pointer_gestures_v1`: libinput's swipe, pinch and hold gestures
//!   go to the surface under the pointer (`input.rs`).
//! - `zwp_keyboard_shortcuts_inhibit_manager_v1`: granted at once, as sway
//!   does; while the focused surface holds an active inhibitor Quay's key
//!   bindings go to it, except Ctrl+Alt+F<n> (a way out of any client).
//! - `zwp_xwayland_keyboard_grab_manager_v1` (Xwayland only, smithay's check).
//! - `zxdg_exporter_v2` / `zxdg_importer_v2`: a toplevel of one client
//!   parented to another's (portals' dialogs over the app that asked).
//! - `xdg_wm_dialog_v1`, `wp_content_type_manager_v1`: state smithay keeps
//!   on the surface; Quay draws no decorations and has no per-content policy.
//! - `xdg_toplevel_icon_manager_v1` is **not** offered: smithay 0.7 posts
//!   `no_buffer` when an icon's buffer is destroyed after the icon itself
//!   (the hook registered at src/wayland/xdg_toplevel_icon.rs:360-368 fires
//!   though `destroyed` should have removed it, :376-383), which kills
//!   Chromium (it sets its icon, destroys the icon, then the buffer, all
//!   legal) before its first frame. Quay draws no icons.
//! - `xdg_system_bell_v1`: counted (`bells_total` in `quay msg stats`) and logged.
//! - `wp_alpha_modifier_v1`: applied by smithay's surface elements
//!   (smithay-0.7.0 src/backend/renderer/element/surface.rs:208-218).
//! - `zwp_tablet_manager_v2`: libinput's tablets and their tools, routed
//!   in `src/tablet.rs` (the VM case `quay-udev-tablet-pen` draws a stroke
//!   with a uinput pen).

use smithay::{
    delegate_alpha_modifier, delegate_content_type, delegate_input_method_manager,
    delegate_keyboard_shortcuts_inhibit, delegate_pointer_gestures, delegate_tablet_manager,
    delegate_text_input_manager, delegate_virtual_keyboard_manager, delegate_xdg_dialog,
    delegate_xdg_foreign, delegate_xdg_system_bell, delegate_xwayland_keyboard_grab,
    desktop::PopupKind,
    reexports::wayland_server::{protocol::wl_surface::WlSurface, DisplayHandle},
    utils::{Logical, Rectangle},
    wayland::{
        alpha_modifier::AlphaModifierState,
        content_type::ContentTypeState,
        input_method::{InputMethodHandler, InputMethodManagerState, PopupSurface},
        keyboard_shortcuts_inhibit::{
            KeyboardShortcutsInhibitHandler, KeyboardShortcutsInhibitState, KeyboardShortcutsInhibitor,
        },
        pointer_gestures::PointerGesturesState,
        shell::xdg::dialog::{XdgDialogHandler, XdgDialogState},
        tablet_manager::TabletManagerState,
        text_input::TextInputManagerState,
        virtual_keyboard::VirtualKeyboardManagerState,
        xdg_foreign::{XdgForeignHandler, XdgForeignState},
        xdg_system_bell::{XdgSystemBellHandler, XdgSystemBellState},
        xwayland_keyboard_grab::{XWaylandKeyboardGrabHandler, XWaylandKeyboardGrabState},
    },
};
use tracing::{debug, info};

use crate::{
    protocols::virtual_pointer::VirtualPointerManagerState,
    state::{privileged, Core},
    State,
};

/// The globals of this module, created together.
#[derive(Debug)]
pub struct AppProtocols {
    pub text_input: TextInputManagerState,
    pub input_method: InputMethodManagerState,
    pub virtual_keyboard: VirtualKeyboardManagerState,
    pub virtual_pointer: VirtualPointerManagerState,
    pub pointer_gestures: PointerGesturesState,
    pub tablet: TabletManagerState,
    pub shortcuts_inhibit: KeyboardShortcutsInhibitState,
    pub xwayland_keyboard_grab: XWaylandKeyboardGrabState,
    pub xdg_foreign: XdgForeignState,
    pub dialog: XdgDialogState,
    pub bell: XdgSystemBellState,
    pub content_type: ContentTypeState,
    pub alpha_modifier: AlphaModifierState,
}

impl AppProtocols {
    pub fn new(dh: &DisplayHandle) -> AppProtocols {
        AppProtocols {
            text_input: TextInputManagerState::new::<State>(dh),
            input_method: InputMethodManagerState::new::<State, _>(dh, privileged),
            virtual_keyboard: VirtualKeyboardManagerState::new::<State, _>(dh, privileged),
            virtual_pointer: VirtualPointerManagerState::new::<State>(dh, privileged),
            pointer_gestures: PointerGesturesState::new::<State>(dh),
            tablet: TabletManagerState::new::<State>(dh),
            shortcuts_inhibit: KeyboardShortcutsInhibitState::new::<State>(dh),
            xwayland_keyboard_grab: XWaylandKeyboardGrabState::new::<State>(dh),
            xdg_foreign: XdgForeignState::new::<State>(dh),
            dialog: XdgDialogState::new::<State>(dh),
            bell: XdgSystemBellState::new::<State>(dh),
            content_type: ContentTypeState::new::<State>(dh),
            alpha_modifier: AlphaModifierState::new::<State>(dh),
        }
    }
}

impl Core {
    /// Whether the keyboard's focus holds an active shortcuts inhibitor:
    /// Quay's bindings then go to the client.
    pub fn shortcuts_inhibited(&self) -> bool {
        use smithay::wayland::keyboard_shortcuts_inhibit::KeyboardShortcutsInhibitorSeat;
        let Some(focus) = self.seat.get_keyboard().and_then(|k| k.current_focus()) else {
            return false;
        };
        self.seat
            .keyboard_shortcuts_inhibitor_for_surface(&focus)
            .is_some_and(|i| i.is_active())
    }
}

delegate_text_input_manager!(State);

impl InputMethodHandler for State {
    fn new_popup(&mut self, surface: PopupSurface) {
        if let Err(err) = self.core.popups.track_popup(PopupKind::from(surface)) {
            debug!("input method popup not tracked: {err}");
        }
    }

    fn popup_repositioned(&mut self, _surface: PopupSurface) {}

    fn dismiss_popup(&mut self, surface: PopupSurface) {
        let kind = PopupKind::from(surface);
        if let Ok(root) = smithay::desktop::find_popup_root_surface(&kind) {
            let _ = smithay::desktop::PopupManager::dismiss_popup(&root, &kind);
        }
    }

    fn parent_geometry(&self, parent: &WlSurface) -> Rectangle<i32, Logical> {
        self.core
            .window_for_surface(parent)
            .map(|w| w.geometry())
            .unwrap_or_default()
    }
}
delegate_input_method_manager!(State);

delegate_virtual_keyboard_manager!(State);
delegate_pointer_gestures!(State);
delegate_tablet_manager!(State);

impl KeyboardShortcutsInhibitHandler for State {
    fn keyboard_shortcuts_inhibit_state(&mut self) -> &mut KeyboardShortcutsInhibitState {
        &mut self.core.apps.shortcuts_inhibit
    }

    fn new_inhibitor(&mut self, inhibitor: KeyboardShortcutsInhibitor) {
        // Granted at once (sway's policy); Ctrl+Alt+F<n> stays Quay's.
        inhibitor.activate();
    }
}
delegate_keyboard_shortcuts_inhibit!(State);

impl XWaylandKeyboardGrabHandler for State {
    fn keyboard_focus_for_xsurface(&self, surface: &WlSurface) -> Option<WlSurface> {
        Some(surface.clone())
    }
}
delegate_xwayland_keyboard_grab!(State);

impl XdgForeignHandler for State {
    fn xdg_foreign_state(&mut self) -> &mut XdgForeignState {
        &mut self.core.apps.xdg_foreign
    }
}
delegate_xdg_foreign!(State);

impl XdgDialogHandler for State {}
delegate_xdg_dialog!(State);

impl XdgSystemBellHandler for State {
    fn ring(&mut self, surface: Option<WlSurface>) {
        self.core.stats.bells_total += 1;
        info!(surface = ?surface.map(|s| smithay::reexports::wayland_server::Resource::id(&s)), "bell");
    }
}
delegate_xdg_system_bell!(State);

delegate_content_type!(State);
delegate_alpha_modifier!(State);

impl crate::protocols::virtual_pointer::VirtualPointerHandler for State {
    fn virtual_pointer_event(
        &mut self,
        output: Option<smithay::output::Output>,
        event: crate::protocols::virtual_pointer::VirtualPointerEvent,
    ) {
        use crate::protocols::virtual_pointer::VirtualPointerEvent as E;
        self.core.input_activity();
        match event {
            E::Motion { time, dx, dy } => {
                let delta = smithay::utils::Point::from((dx, dy));
                self.pointer_motion_relative(delta, delta, u64::from(time) * 1000);
            }
            E::MotionAbsolute { time, x, y } => {
                // The mapped output, else the whole layout (wlroots' rule).
                let area = output
                    .and_then(|o| self.core.space.output_geometry(&o))
                    .or_else(|| {
                        let mut outputs = self.core.space.outputs();
                        let first = outputs.next().and_then(|o| self.core.space.output_geometry(o))?;
                        Some(
                            outputs
                                .filter_map(|o| self.core.space.output_geometry(o))
                                .fold(first, |a, b| a.merge(b)),
                        )
                    });
                let Some(area) = area else {
                    return;
                };
                let pos = area.loc.to_f64()
                    + smithay::utils::Point::from((x * area.size.w as f64, y * area.size.h as f64));
                self.pointer_motion_to(self.core.clamp_to_outputs(pos), time);
            }
            E::Button {
                time,
                button,
                pressed,
            } => {
                let state = if pressed {
                    smithay::backend::input::ButtonState::Pressed
                } else {
                    smithay::backend::input::ButtonState::Released
                };
                self.pointer_button(button, state, time);
            }
            E::Axis(frame) => {
                if let Some(pointer) = self.core.seat.get_pointer() {
                    pointer.axis(self, frame);
                    pointer.frame(self);
                }
            }
        }
    }
}
smithay::reexports::wayland_server::delegate_global_dispatch!(State: [
    smithay::reexports::wayland_protocols_wlr::virtual_pointer::v1::server::zwlr_virtual_pointer_manager_v1::ZwlrVirtualPointerManagerV1: crate::protocols::GlobalFilter
] => VirtualPointerManagerState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    smithay::reexports::wayland_protocols_wlr::virtual_pointer::v1::server::zwlr_virtual_pointer_manager_v1::ZwlrVirtualPointerManagerV1: ()
] => VirtualPointerManagerState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    smithay::reexports::wayland_protocols_wlr::virtual_pointer::v1::server::zwlr_virtual_pointer_v1::ZwlrVirtualPointerV1: crate::protocols::virtual_pointer::VirtualPointerData
] => VirtualPointerManagerState);
