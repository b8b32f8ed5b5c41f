//! One Quay per WLCS test, on its own thread.

use std::{
    collections::HashMap,
    os::{fd::RawFd, unix::net::UnixStream},
    sync::mpsc,
    thread::JoinHandle,
    time::Duration,
};

use anyhow::Context;
use quay::{
    backends::{Backend, Headless},
    Core, State,
};
use smithay::{
    backend::input::{ButtonState, TouchSlot},
    reexports::{
        calloop::{
            channel::{self, Channel, Event},
            EventLoop,
        },
        wayland_server::{Client, Display, Resource},
    },
    utils::{Logical, Point},
};

/// What a WLCS hook asks of the compositor.
pub enum Request {
    /// Serve a client on `stream`; `key` is the client's end's fd, which
    /// `position_window_absolute` names it by.
    NewClient {
        stream: UnixStream,
        key: RawFd,
    },
    /// Put the toplevel whose `wl_surface` has `surface_id` at `loc`.
    PlaceWindow {
        key: RawFd,
        surface_id: u32,
        loc: (i32, i32),
    },
    PointerTo((f64, f64)),
    PointerBy((f64, f64)),
    Button {
        button: i32,
        pressed: bool,
    },
    AddTouch,
    TouchDown {
        slot: u32,
        pos: (f64, f64),
    },
    TouchMove {
        slot: u32,
        pos: (f64, f64),
    },
    TouchUp {
        slot: u32,
    },
    Exit,
}

type Reply = mpsc::SyncSender<()>;

/// A way to the compositor's loop, for the input devices.
#[derive(Clone)]
pub struct Handle(channel::Sender<(Request, Reply)>);

/// Long enough for a loaded machine; a hang is a failed test, not a hung
/// suite.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

impl Handle {
    /// Send `req` and wait until the loop has handled it and flushed its
    /// clients.
    pub fn call(&self, req: Request) -> std::io::Result<()> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.0
            .send((req, tx))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::ConnectionReset))?;
        rx.recv_timeout(REPLY_TIMEOUT)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))
    }
}

pub struct Server {
    handle: Handle,
    thread: JoinHandle<()>,
}

impl Server {
    /// Start Quay on a thread; returns once it serves clients.
    pub fn start() -> anyhow::Result<Server> {
        let (tx, rx) = channel::channel();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("quay-wlcs".into())
            .spawn(move || {
                if let Err(err) = run(rx, &ready_tx) {
                    let _ = ready_tx.send(Err(err));
                }
            })
            .context("spawning the compositor thread")?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Server {
                handle: Handle(tx),
                thread,
            }),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(anyhow::anyhow!("the compositor thread ended before it was ready")),
        }
    }

    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    pub fn call(&self, req: Request) -> std::io::Result<()> {
        self.handle.call(req)
    }

    /// Stop Quay and wait for its thread. A loop that does not answer (a
    /// deadlock, which is the test's failure to report) is left behind
    /// rather than hanging the rest of the suite.
    pub fn stop(self) {
        if self.handle.call(Request::Exit).is_ok() {
            drop(self.handle);
            let _ = self.thread.join();
        } else {
            eprintln!("wlcs_quay: Quay did not answer its stop; its thread is left behind");
        }
    }
}

/// What the loop keeps beside Quay's state: WLCS's clients by key.
struct Harness {
    clients: HashMap<RawFd, Client>,
}

fn run(rx: Channel<(Request, Reply)>, ready: &mpsc::SyncSender<anyhow::Result<()>>) -> anyhow::Result<()> {
    let mut event_loop: EventLoop<'static, State> =
        EventLoop::try_new().context("creating the event loop")?;
    let display: Display<State> = Display::new().context("creating the wayland display")?;
    // The built-in configuration: one 1280x720@60 headless output.
    let config = quay_config::Config::default();
    let mut core = Core::new(
        display,
        event_loop.handle(),
        event_loop.get_signal(),
        config,
        None,
        None,
    )?;
    // The one check WLCS 1.5.0's own windows break (see the field's doc).
    core.xdg_roles.allow_unconfigured_buffer = true;
    let mut backend = Backend::Headless(Box::new(Headless::new(&mut core, None)?));
    let formats = backend.dmabuf_formats();
    core.init_dmabuf(formats, backend.main_device(), backend.surface_feedback());

    let mut harness = Harness {
        clients: HashMap::new(),
    };
    let mut state = State { backend, core };
    // WLCS's clients bind wl_touch when they start, before a test makes
    // its touch device: the seat has touch from the start here.
    state.ensure_touch();
    let (req_tx, req_rx) = mpsc::channel::<(Request, Reply)>();
    event_loop
        .handle()
        .insert_source(rx, move |event, _, _state| {
            let msg = match event {
                Event::Msg(msg) => msg,
                Event::Closed => {
                    let (tx, _) = mpsc::sync_channel(1);
                    (Request::Exit, tx)
                }
            };
            let _ = req_tx.send(msg);
        })
        .map_err(|e| anyhow::anyhow!("cannot register the WLCS channel: {e}"))?;
    ready
        .send(Ok(()))
        .map_err(|_| anyhow::anyhow!("WLCS stopped waiting"))?;

    loop {
        event_loop
            .dispatch(Some(Duration::from_millis(16)), &mut state)
            .context("event loop")?;
        state.refresh_pointer_focus();
        state.core.refresh_and_flush();
        // Requests are handled here, outside the channel's callback, so that
        // each sees the state the loop left and its reply follows the flush.
        while let Ok((req, reply)) = req_rx.try_recv() {
            let exit = matches!(req, Request::Exit);
            handle(&mut state, &mut harness, req);
            state.refresh_pointer_focus();
            state.core.refresh_and_flush();
            let _ = reply.send(());
            if exit {
                return Ok(());
            }
        }
    }
}

fn handle(state: &mut State, harness: &mut Harness, req: Request) {
    let time = state.core.input_time();
    match req {
        Request::NewClient { stream, key } => {
            if let Some(client) = state.core.insert_client(stream, None) {
                harness.clients.insert(key, client);
            }
        }
        Request::PlaceWindow { key, surface_id, loc } => {
            let Some(client) = harness.clients.get(&key) else {
                return;
            };
            let dh = state.core.display_handle.clone();
            let window = state
                .core
                .space
                .elements()
                .find(|w| {
                    w.toplevel().is_some_and(|t| {
                        let s = t.wl_surface();
                        s.id().protocol_id() == surface_id
                            && dh.get_client(s.id()).ok().as_ref() == Some(client)
                    })
                })
                .cloned();
            if let Some(window) = window {
                state.core.place_window_at(&window, Point::from(loc));
            }
        }
        Request::PointerTo((x, y)) => state.pointer_motion_to(Point::<f64, Logical>::from((x, y)), time),
        Request::PointerBy((dx, dy)) => {
            let delta = Point::<f64, Logical>::from((dx, dy));
            let utime = state.core.now().as_micros() as u64;
            state.pointer_motion_relative(delta, delta, utime);
        }
        Request::Button { button, pressed } => {
            let button_state = if pressed {
                ButtonState::Pressed
            } else {
                ButtonState::Released
            };
            state.pointer_button(button as u32, button_state, time);
        }
        Request::AddTouch => {
            state.ensure_touch();
        }
        Request::TouchDown { slot, pos } => {
            tracing::debug!(?pos, under = ?state.core.surface_under(Point::from(pos)), "wlcs touch down");
            state.touch_down(TouchSlot::from(Some(slot)), Point::from(pos), time);
            state.touch_frame();
        }
        Request::TouchMove { slot, pos } => {
            state.touch_motion(TouchSlot::from(Some(slot)), Point::from(pos), time);
            state.touch_frame();
        }
        Request::TouchUp { slot } => {
            state.touch_up(TouchSlot::from(Some(slot)), time);
            state.touch_frame();
        }
        Request::Exit => state.core.loop_signal.stop(),
    }
}
