//! wp_security_context_v1: clients of a sandbox's listening socket.
//!
//! A sandbox (Flatpak) creates a security context with a listening socket
//! and hands the socket to the app; smithay gives Quay a calloop source
//! for it. Clients connecting through it are served like any other, with
//! the context recorded in their `ClientState`, so `state::privileged`
//! hides the privileged globals from them. The source goes away when the
//! sandbox closes its close fd (smithay's listener source removes itself).

use smithay::wayland::security_context::{
    SecurityContext, SecurityContextHandler, SecurityContextListenerSource,
};
use tracing::{info, warn};

use crate::State;

impl SecurityContextHandler for State {
    fn context_created(&mut self, source: SecurityContextListenerSource, context: SecurityContext) {
        info!(
            engine = ?context.sandbox_engine,
            app_id = ?context.app_id,
            "security context created"
        );
        let res = crate::listen::insert_resilient(
            &self.core.loop_handle,
            "security context socket",
            source,
            move |stream, _, state| {
                state.core.insert_client(stream, Some(context.clone()));
            },
        );
        if let Err(e) = res {
            warn!("cannot listen on a security context's socket: {e}");
        }
    }
}
smithay::delegate_security_context!(State);
