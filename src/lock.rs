//! The screen lock (`ext_session_lock_v1`, what swaylock speaks).
//!
//! While locked, every output shows its lock surface and nothing else, or
//! [`LOCKED_COLOUR`] where the locker has none (yet, or any more); keyboard
//! focus is only ever on a lock surface; screencopy and screenshots render
//! the same locked picture; export-dmabuf hands out nothing. A locker that
//! dies without `unlock_and_destroy` leaves the session locked (the
//! protocol's rule: a crashed locker must not unlock), and a new locker may
//! then take over; while a live locker holds the lock, another is refused
//! (`finished`). The locker hears `locked` once every output has drawn a
//! locked frame.
//!
//! Only the lock that holds the session shows anything: a lock surface is
//! kept only when the holder asked for it, one per output
//! (`duplicate_output` otherwise); a surface asked for on a lock that was
//! answered `finished` (or that lost the session) is configured and never
//! shown or focused. smithay 0.7 calls `SessionLockHandler::new_surface`
//! without saying which lock the surface belongs to
//! (smithay-0.7.0 src/wayland/session_lock/lock.rs:53-123), so the
//! request's own dispatch says it first ([`LockState::accept_surface_on`]).
//!
//! Only the locker that holds the lock can unlock: smithay answers
//! `unlock_and_destroy` on a lock that never locked with the protocol error
//! but calls `SessionLockHandler::unlock` all the same (smithay-0.7.0
//! src/wayland/session_lock/lock.rs:181-188), so Quay checks the object
//! before smithay sees the request (`handlers/session_lock.rs`).

use std::collections::{HashMap, HashSet};

use smithay::{
    output::Output,
    reexports::{
        wayland_protocols::ext::session_lock::v1::server::ext_session_lock_v1::ExtSessionLockV1,
        wayland_server::{protocol::wl_surface::WlSurface, Resource},
    },
    wayland::session_lock::{LockSurface, SessionLocker},
};

/// What a locked output without a lock surface shows (opaque black).
pub const LOCKED_COLOUR: [f32; 4] = [0.0, 0.0, 0.0, 1.0];

/// One per `Core`: the unboxed size of `Locked` costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Default)]
pub enum LockState {
    #[default]
    Unlocked,
    Locked {
        /// The lock object of the locker that holds the lock.
        locker: ExtSessionLockV1,
        /// Lock surfaces by output name.
        surfaces: HashMap<String, LockSurface>,
        /// `locked` is sent once every output has drawn a locked frame
        /// (the protocol: only when no client content is visible any more).
        confirm: Option<SessionLocker>,
        drawn_locked: HashSet<String>,
        /// Set while the holder's `get_lock_surface` is dispatched, taken by
        /// `SessionLockHandler::new_surface`: smithay does not say which
        /// lock a new surface belongs to, so the request's own dispatch
        /// (`handlers/session_lock.rs`) says whether it may be shown.
        accept_surface: bool,
    },
}

impl LockState {
    pub fn is_locked(&self) -> bool {
        matches!(self, LockState::Locked { .. })
    }

    /// Whether a live locker holds the lock (so a new one is refused).
    pub fn held(&self) -> bool {
        matches!(self, LockState::Locked { locker, .. } if locker.is_alive())
    }

    /// Whether `lock` is the lock object that holds the lock.
    pub fn is_holder(&self, lock: &ExtSessionLockV1) -> bool {
        matches!(self, LockState::Locked { locker, .. } if locker == lock)
    }

    /// `output` drew a locked frame; with every one of `outputs` drawn, the
    /// locker is told `locked`.
    pub fn drawn(&mut self, output: &Output, outputs: &[Output]) {
        if let LockState::Locked {
            confirm,
            drawn_locked,
            ..
        } = self
        {
            if confirm.is_none() {
                return;
            }
            drawn_locked.insert(output.name());
            if outputs.iter().all(|o| drawn_locked.contains(&o.name())) {
                if let Some(c) = confirm.take() {
                    c.lock();
                }
            }
        }
    }

    /// `lock` asks for a lock surface on `output`: `false` if it holds the
    /// session and that output already has a live one of it (the
    /// protocol's `duplicate_output`; smithay compares `wl_output`
    /// resources, so one client binding an output twice would pass its
    /// check). A holder's new surface is accepted; anyone else's is not
    /// (and is no error).
    pub fn accept_surface_on(&mut self, lock: &ExtSessionLockV1, output: &Output) -> bool {
        let LockState::Locked {
            locker,
            surfaces,
            accept_surface,
            ..
        } = self
        else {
            return true;
        };
        if locker != lock {
            return true;
        }
        if surfaces.get(&output.name()).is_some_and(|s| s.alive()) {
            return false;
        }
        *accept_surface = true;
        true
    }

    /// A new lock surface for `output`: kept (shown, focusable) only if the
    /// holder asked for it ([`LockState::accept_surface_on`]). A surface of
    /// a lock that was answered `finished`, or of a lock that no longer
    /// holds the session, is never shown (the protocol: lock surfaces are
    /// displayed only once their lock is acquired). Returns whether it was
    /// kept.
    pub fn insert_surface(&mut self, output: &Output, surface: LockSurface) -> bool {
        let LockState::Locked {
            surfaces,
            accept_surface,
            ..
        } = self
        else {
            return false;
        };
        if !std::mem::take(accept_surface) {
            return false;
        }
        surfaces.insert(output.name(), surface);
        true
    }

    /// The request [`LockState::accept_surface_on`] accepted is over.
    pub fn end_surface_request(&mut self) {
        if let LockState::Locked { accept_surface, .. } = self {
            *accept_surface = false;
        }
    }

    /// The live lock surface of `output`.
    pub fn surface_for(&self, output: &Output) -> Option<&LockSurface> {
        match self {
            LockState::Locked { surfaces, .. } => surfaces.get(&output.name()).filter(|s| s.alive()),
            LockState::Unlocked => None,
        }
    }

    /// A live lock surface, for the keyboard focus.
    pub fn any_surface(&self) -> Option<WlSurface> {
        match self {
            LockState::Locked { surfaces, .. } => {
                let mut live: Vec<_> = surfaces.iter().filter(|(_, s)| s.alive()).collect();
                live.sort_by(|a, b| a.0.cmp(b.0));
                live.first().map(|(_, s)| s.wl_surface().clone())
            }
            LockState::Unlocked => None,
        }
    }
}
