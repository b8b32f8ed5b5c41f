//! smithay `*Handler` impls for [`State`]. Thin by rule: convert the request,
//! call into `Core` or `Backend`.

mod activation;
pub mod app_protocols;
pub(crate) mod budget;
mod charged;
mod compositor;
mod decoration;
pub mod dmabuf;
mod export_dmabuf;
mod fractional_scale;
pub mod idle;
pub mod layer_shell;
mod pointer_constraints;
pub mod screencopy;
mod security_context;
pub mod selection;
pub mod session_lock;
mod shm;
mod subsurface;
pub mod xdg_shell;

use smithay::{
    delegate_output, delegate_seat, delegate_single_pixel_buffer, delegate_viewporter,
    input::{pointer::CursorImageStatus, Seat, SeatHandler, SeatState},
    reexports::wayland_server::protocol::wl_surface::WlSurface,
    wayland::output::OutputHandler,
};

use crate::State;

impl SeatHandler for State {
    type KeyboardFocus = WlSurface;
    type PointerFocus = WlSurface;
    type TouchFocus = WlSurface;

    fn seat_state(&mut self) -> &mut SeatState<State> {
        &mut self.core.seat_state
    }

    fn cursor_image(&mut self, _seat: &Seat<Self>, image: CursorImageStatus) {
        // Drawn by `render::cursor_elements`; a named shape's picture is
        // loaded from the theme here, once.
        if let CursorImageStatus::Named(icon) = &image {
            self.core.pointer.theme.load(*icon);
        }
        self.core.pointer.cursor = image;
    }

    fn focus_changed(&mut self, seat: &Seat<Self>, focused: Option<&WlSurface>) {
        self.selection_focus(seat, focused);
        self.core.activate_focused(focused);
        self.keyboard_focus_moved(focused);
        self.x11_keyboard_focus(focused);
    }
}
delegate_seat!(State);
// Tablet tools' cursor images are not drawn: the pointer's cursor shows.
impl smithay::wayland::tablet_manager::TabletSeatHandler for State {}
smithay::delegate_cursor_shape!(State);

impl OutputHandler for State {}
delegate_output!(State);

delegate_viewporter!(State);
delegate_single_pixel_buffer!(State);
// wp_presentation: `charged.rs` (feedback objects are charged).
