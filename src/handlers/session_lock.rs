//! `ext_session_lock_manager_v1`: the policy is in `crate::lock`.

use smithay::{
    output::Output,
    reexports::{
        wayland_protocols::ext::session_lock::v1::server::{
            ext_session_lock_manager_v1::ExtSessionLockManagerV1,
            ext_session_lock_surface_v1::ExtSessionLockSurfaceV1,
            ext_session_lock_v1::{self, ExtSessionLockV1},
        },
        wayland_server::{
            protocol::wl_output::WlOutput, Client, DataInit, Dispatch, DisplayHandle, Resource,
        },
    },
    utils::SERIAL_COUNTER,
    wayland::session_lock::{
        ExtLockSurfaceUserData, LockSurface, SessionLockHandler, SessionLockManagerGlobalData,
        SessionLockManagerState, SessionLockState, SessionLocker,
    },
};
use tracing::info;

use crate::{lock::LockState, State};

pub fn new_state(dh: &DisplayHandle) -> SessionLockManagerState {
    SessionLockManagerState::new::<State, _>(dh, crate::state::privileged)
}

impl SessionLockHandler for State {
    fn lock_state(&mut self) -> &mut SessionLockManagerState {
        &mut self.core.globals.session_lock
    }

    fn lock(&mut self, confirmation: SessionLocker) {
        if self.core.lock.held() {
            // Dropping the locker answers `finished`.
            info!("a second locker was refused: the session is locked");
            return;
        }
        let locker = confirmation.ext_session_lock().clone();
        let took_over = self.core.lock.is_locked();
        info!(took_over, "session locked");
        // Nothing but lock surfaces (or the locked colour) is drawn from the
        // next frame on, and the keyboard leaves every window now; `locked`
        // goes out when every output has drawn such a frame
        // (`render::frame_rendered`). A takeover is confirmed at once: the
        // screen is locked already.
        let (confirm, confirmation) = if took_over {
            (None, Some(confirmation))
        } else {
            (Some(confirmation), None)
        };
        self.core.lock = LockState::Locked {
            locker,
            surfaces: Default::default(),
            confirm,
            drawn_locked: Default::default(),
            accept_surface: false,
        };
        if let Some(c) = confirmation {
            c.lock();
        }
        self.focus_lock_surface();
        // With no output nothing is visible: locked now.
        let outputs: Vec<_> = self.core.space.outputs().cloned().collect();
        if outputs.is_empty() {
            if let LockState::Locked { confirm, .. } = &mut self.core.lock {
                if let Some(c) = confirm.take() {
                    c.lock();
                }
            }
        }
        self.core.stats.session_locks_total += 1;
    }

    fn unlock(&mut self) {
        info!("session unlocked");
        self.core.lock = LockState::Unlocked;
        let top = self.core.topmost_toplevel(None);
        self.focus_keyboard(top, SERIAL_COUNTER.next_serial());
    }

    fn new_surface(&mut self, surface: LockSurface, output: WlOutput) {
        let Some(output) = Output::from_resource(&output) else {
            return;
        };
        if let Some(mode) = output.current_mode() {
            let size = output.current_transform().transform_size(mode.size);
            let scale = output.current_scale().fractional_scale();
            let size = size.to_f64().to_logical(scale).to_i32_round::<i32>();
            surface.with_pending_state(|s| s.size = Some((size.w as u32, size.h as u32).into()));
        }
        // smithay sends the configure after this returns; a surface that is
        // not kept is configured all the same and never shown.
        if !self.core.lock.insert_surface(&output, surface) {
            info!("a lock surface of a lock that does not hold the session is not shown");
            return;
        }
        self.focus_lock_surface();
    }
}

impl State {
    /// While locked, the keyboard goes to a lock surface or nowhere.
    pub fn focus_lock_surface(&mut self) {
        let target = self.core.lock.any_surface();
        if let Some(keyboard) = self.core.seat.get_keyboard() {
            if keyboard.current_focus() != target {
                self.focus_keyboard(target, SERIAL_COUNTER.next_serial());
            }
        }
    }
}

// delegate_session_lock! less ExtSessionLockV1, whose unlock is checked
// here first (see `crate::lock`).
smithay::reexports::wayland_server::delegate_global_dispatch!(State: [
    ExtSessionLockManagerV1: SessionLockManagerGlobalData
] => SessionLockManagerState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    ExtSessionLockManagerV1: ()
] => SessionLockManagerState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    ExtSessionLockSurfaceV1: ExtLockSurfaceUserData
] => SessionLockManagerState);

impl Dispatch<ExtSessionLockV1, SessionLockState> for State {
    fn request(
        state: &mut State,
        client: &Client,
        lock: &ExtSessionLockV1,
        request: ext_session_lock_v1::Request,
        data: &SessionLockState,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        match &request {
            ext_session_lock_v1::Request::UnlockAndDestroy if !state.core.lock.is_holder(lock) => {
                lock.post_error(
                    ext_session_lock_v1::Error::InvalidUnlock,
                    "this lock does not hold the session",
                );
                return;
            }
            // Only the holder's surfaces are shown, one per output:
            // `new_surface` keeps the surface only if this said so.
            ext_session_lock_v1::Request::GetLockSurface { output, .. } => {
                if let Some(output) = Output::from_resource(output) {
                    if !state.core.lock.accept_surface_on(lock, &output) {
                        lock.post_error(
                            ext_session_lock_v1::Error::DuplicateOutput,
                            "this output already has a lock surface",
                        );
                        return;
                    }
                }
            }
            _ => {}
        }
        <SessionLockManagerState as Dispatch<ExtSessionLockV1, SessionLockState, State>>::request(
            state, client, lock, request, data, dh, data_init,
        );
        // smithay may have refused the request before `new_surface` (a
        // role error, say): the acceptance ends with this request.
        state.core.lock.end_surface_request();
    }
}
