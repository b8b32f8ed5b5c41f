//! Accepting connections without letting `accept(2)` errors end the session.
//!
//! smithay's `ListeningSocketSource` returns `accept`'s error from
//! `process_events` (smithay-0.7.0 src/wayland/socket.rs:115, `socket.accept()?`),
//! and calloop hands a source's error back out of `EventLoop::run`: one
//! `EMFILE` (a client holding Quay's fds) would end the event loop and with it
//! the user's whole session. [`insert_listener`] accepts on its own: `EMFILE`,
//! `ENFILE`, `ENOBUFS` and `ENOMEM` disable the source for [`BACKOFF`] (the
//! connection waits in the kernel's backlog until fds are free again; the
//! socket is level-triggered, so polling it meanwhile would spin), and any
//! other error is logged and the source goes on. Both the wayland socket and
//! the IPC socket use it.

use std::{io, time::Duration};

use smithay::reexports::calloop::{
    generic::Generic,
    timer::{TimeoutAction, Timer},
    Interest, LoopHandle, Mode, PostAction, RegistrationToken,
};
use tracing::warn;

use crate::State;

/// How long a listener rests after running out of fds.
pub const BACKOFF: Duration = Duration::from_millis(100);

/// Something `accept`s connections without blocking.
pub trait Accept: std::os::fd::AsFd + 'static {
    type Stream;
    /// `Ok(None)` when no connection is pending.
    fn accept_one(&self) -> io::Result<Option<Self::Stream>>;
}

impl Accept for smithay::reexports::wayland_server::ListeningSocket {
    type Stream = std::os::unix::net::UnixStream;
    fn accept_one(&self) -> io::Result<Option<Self::Stream>> {
        self.accept()
    }
}

impl Accept for std::os::unix::net::UnixListener {
    type Stream = std::os::unix::net::UnixStream;
    fn accept_one(&self) -> io::Result<Option<Self::Stream>> {
        match self.accept() {
            Ok((s, _)) => Ok(Some(s)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Out of a resource that closing some connection gives back.
fn is_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Register `listener`; `on_stream` gets every accepted connection.
pub fn insert_listener<L: Accept>(
    handle: &LoopHandle<'static, State>,
    what: &'static str,
    listener: L,
    mut on_stream: impl FnMut(L::Stream, &mut State) + 'static,
) -> Result<RegistrationToken, io::Error> {
    let token_cell = std::rc::Rc::new(std::cell::Cell::new(None::<RegistrationToken>));
    let cell = token_cell.clone();
    let token = handle
        .insert_source(
            Generic::new(listener, Interest::READ, Mode::Level),
            move |_, listener, state| {
                loop {
                    match listener.accept_one() {
                        Ok(Some(stream)) => on_stream(stream, state),
                        Ok(None) => return Ok(PostAction::Continue),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) if is_exhaustion(&e) => {
                            state.core.stats.accept_backoffs_total += 1;
                            warn!(
                                "{what}: cannot accept a connection ({e}); pausing for {} ms",
                                BACKOFF.as_millis()
                            );
                            if let Some(token) = cell.get() {
                                let resume = state.core.loop_handle.insert_source(
                                    Timer::from_duration(BACKOFF),
                                    move |_, _, state| {
                                        if let Err(e) = state.core.loop_handle.enable(&token) {
                                            warn!("{what}: cannot resume accepting: {e}");
                                        }
                                        TimeoutAction::Drop
                                    },
                                );
                                if resume.is_ok() {
                                    return Ok(PostAction::Disable);
                                }
                            }
                            // No timer: keep polling rather than stop listening.
                            return Ok(PostAction::Continue);
                        }
                        Err(e) => {
                            warn!("{what}: accept failed: {e}");
                            return Ok(PostAction::Continue);
                        }
                    }
                }
            },
        )
        .map_err(|e| io::Error::other(e.to_string()))?;
    token_cell.set(Some(token));
    Ok(token)
}
