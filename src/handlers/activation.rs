//! `xdg_activation_v1`: a launcher, a notification or a client handing
//! focus to another asks for a window to be activated with a token.
//!
//! Focus-stealing prevention, as niri and anvil do it: a token is honoured
//! when it is less than 10 s old and was made by the client whose surface
//! has the keyboard now (it is giving the focus away), or when nothing has
//! the keyboard. Anything else is ignored: the window stays where it is.
//! An honoured token is used up, an expired one dropped, and no more than
//! 256 live ones are kept. Nothing is activated while the session is locked.

use std::time::Duration;

use smithay::{
    delegate_xdg_activation,
    reexports::wayland_server::{protocol::wl_surface::WlSurface, Resource},
    utils::SERIAL_COUNTER,
    wayland::xdg_activation::{
        XdgActivationHandler, XdgActivationState, XdgActivationToken, XdgActivationTokenData,
    },
};
use tracing::debug;

use crate::State;

const TOKEN_LIFETIME: Duration = Duration::from_secs(10);
/// Live tokens kept at most: a client making tokens in a loop must not grow
/// Quay's memory (tokens outlive their protocol objects in smithay's pool).
const MAX_TOKENS: usize = 256;

impl XdgActivationHandler for State {
    fn activation_state(&mut self) -> &mut XdgActivationState {
        &mut self.core.globals.activation
    }

    fn token_created(&mut self, _token: XdgActivationToken, _data: XdgActivationTokenData) -> bool {
        let state = &mut self.core.globals.activation;
        state.retain_tokens(|_, d| d.timestamp.elapsed() < TOKEN_LIFETIME);
        // smithay adds the new token after this returns true
        // (smithay-0.7.0 src/wayland/xdg_activation/dispatch.rs:156-163).
        state.tokens().count() < MAX_TOKENS
    }

    fn request_activation(
        &mut self,
        token: XdgActivationToken,
        data: XdgActivationTokenData,
        surface: WlSurface,
    ) {
        let keyboard = self.core.seat.get_keyboard();
        let focus = keyboard.as_ref().and_then(|k| k.current_focus());
        let from_focus = match (&focus, &data.client_id) {
            (Some(f), Some(client)) => f.client().is_some_and(|c| c.id() == *client),
            _ => false,
        };
        let fresh = data.timestamp.elapsed() < TOKEN_LIFETIME;
        let allowed = fresh && (from_focus || focus.is_none()) && !self.core.lock.is_locked();
        let Some(window) = self.core.window_for_surface(&surface).cloned() else {
            return;
        };
        if !allowed {
            debug!(
                fresh,
                from_focus, "activation request ignored (focus stealing prevention)"
            );
            return;
        }
        self.core.globals.activation.remove_token(&token);
        self.core.space.raise_element(&window, true);
        if let Some(keyboard) = keyboard {
            keyboard.set_focus(self, Some(surface), SERIAL_COUNTER.next_serial());
        }
        self.core.stats.activations_total += 1;
    }
}
delegate_xdg_activation!(State);
