//! smithay `*Handler` impls for [`State`]. Thin by rule: convert the request,
//! call into `Core` or `Backend`.

mod budget;
mod compositor;
mod decoration;
mod dmabuf;
mod export_dmabuf;
pub mod layer_shell;
mod screencopy;
mod security_context;
pub mod selection;
pub mod session_lock;
mod shm;
pub mod xdg_shell;

use smithay::{
    delegate_output, delegate_presentation, delegate_seat, delegate_single_pixel_buffer, delegate_viewporter,
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
        // Drawn by `render::cursor_elements` (client surfaces; named shapes
        // and a theme cursor are not drawn yet).
        self.core.cursor = image;
    }

    fn focus_changed(&mut self, seat: &Seat<Self>, focused: Option<&WlSurface>) {
        self.selection_focus(seat, focused);
    }
}
delegate_seat!(State);

impl OutputHandler for State {}
delegate_output!(State);

delegate_viewporter!(State);
delegate_single_pixel_buffer!(State);
delegate_presentation!(State);
