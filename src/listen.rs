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
//! the IPC socket use it. [`Resilient`] does the same for a listening source
//! Quay does not own (smithay's `SecurityContextListenerSource`, whose
//! `process_events` also returns `accept`'s error,
//! smithay-0.7.0 src/wayland/security_context/listener_source.rs).

use std::{io, time::Duration};

use smithay::reexports::calloop::{
    generic::Generic,
    timer::{TimeoutAction, Timer},
    EventSource, Interest, LoopHandle, Mode, Poll, PostAction, Readiness, RegistrationToken, Token,
    TokenFactory,
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

/// After [`BACKOFF`], enable the source `token` again.
fn resume_later(handle: &LoopHandle<'static, State>, what: &'static str, token: RegistrationToken) -> bool {
    handle
        .insert_source(Timer::from_duration(BACKOFF), move |_, _, state| {
            if let Err(e) = state.core.loop_handle.enable(&token) {
                warn!("{what}: cannot resume accepting: {e}");
            }
            TimeoutAction::Drop
        })
        .is_ok()
}

/// An event source whose errors pause it (fd exhaustion) or are logged,
/// never handed to the event loop. Insert it with [`insert_resilient`].
pub struct Resilient<S> {
    inner: S,
    what: &'static str,
    handle: LoopHandle<'static, State>,
    token: std::rc::Rc<std::cell::Cell<Option<RegistrationToken>>>,
}

impl<S: EventSource<Error = io::Error>> EventSource for Resilient<S> {
    type Event = S::Event;
    type Metadata = S::Metadata;
    type Ret = S::Ret;
    type Error = io::Error;

    fn process_events<F>(&mut self, readiness: Readiness, token: Token, callback: F) -> io::Result<PostAction>
    where
        F: FnMut(Self::Event, &mut Self::Metadata) -> Self::Ret,
    {
        match self.inner.process_events(readiness, token, callback) {
            Ok(action) => Ok(action),
            Err(e) if is_exhaustion(&e) => {
                warn!(
                    "{}: cannot accept a connection ({e}); pausing for {} ms",
                    self.what,
                    BACKOFF.as_millis()
                );
                match self.token.get() {
                    Some(t) if resume_later(&self.handle, self.what, t) => Ok(PostAction::Disable),
                    _ => Ok(PostAction::Continue),
                }
            }
            Err(e) => {
                warn!("{}: {e}", self.what);
                Ok(PostAction::Continue)
            }
        }
    }

    fn register(
        &mut self,
        poll: &mut Poll,
        factory: &mut TokenFactory,
    ) -> smithay::reexports::calloop::Result<()> {
        self.inner.register(poll, factory)
    }

    fn reregister(
        &mut self,
        poll: &mut Poll,
        factory: &mut TokenFactory,
    ) -> smithay::reexports::calloop::Result<()> {
        self.inner.reregister(poll, factory)
    }

    fn unregister(&mut self, poll: &mut Poll) -> smithay::reexports::calloop::Result<()> {
        self.inner.unregister(poll)
    }
}

/// Register a foreign listening `source` wrapped in [`Resilient`].
pub fn insert_resilient<S>(
    handle: &LoopHandle<'static, State>,
    what: &'static str,
    source: S,
    callback: impl FnMut(S::Event, &mut S::Metadata, &mut State) -> S::Ret + 'static,
) -> Result<RegistrationToken, io::Error>
where
    S: EventSource<Error = io::Error> + 'static,
{
    let token_cell = std::rc::Rc::new(std::cell::Cell::new(None));
    let wrapped = Resilient {
        inner: source,
        what,
        handle: handle.clone(),
        token: token_cell.clone(),
    };
    let token = handle
        .insert_source(wrapped, callback)
        .map_err(|e| io::Error::other(e.to_string()))?;
    token_cell.set(Some(token));
    Ok(token)
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
                                if resume_later(&state.core.loop_handle, what, token) {
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
