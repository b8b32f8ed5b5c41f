//! `zwlr_foreign_toplevel_manager_v1` (version 3): a taskbar's view of every
//! toplevel (waybar's `wlr/taskbar`, sfwbar, WLCS's ForeignToplevel tests),
//! and its requests to maximize, minimize, fullscreen, activate or close
//! one. Privileged: it names every client's windows and acts on them.
//!
//! This module is the protocol half. The compositor owns the list: it calls
//! [`WlrForeignToplevelState::add`], [`update`](WlrForeignToplevelState::update)
//! and [`remove`](WlrForeignToplevelState::remove) with a [`ToplevelInfo`]
//! and gets each handle's requests through [`WlrForeignToplevelHandler`].
//! Every bound manager gets a handle per toplevel, with the toplevel's
//! title, app_id, outputs and states, then `done`; an update sends only
//! what changed, then `done`; a removed toplevel's handles get `closed` and
//! are inert from then on. `set_rectangle` with a negative size is
//! `invalid_rectangle` (the XML's one error); the rectangle itself is a
//! hint for minimize animations, which Quay does not draw.

use smithay::{
    output::Output,
    reexports::{
        wayland_protocols_wlr::foreign_toplevel::v1::server::{
            zwlr_foreign_toplevel_handle_v1::{self, ZwlrForeignToplevelHandleV1},
            zwlr_foreign_toplevel_manager_v1::{self, ZwlrForeignToplevelManagerV1},
        },
        wayland_server::{
            backend::{ClientId, GlobalId},
            Client, DataInit, Dispatch, DisplayHandle, GlobalDispatch, New, Resource,
        },
    },
};

/// What a taskbar is told of a toplevel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToplevelInfo {
    pub title: String,
    pub app_id: String,
    pub maximized: bool,
    pub minimized: bool,
    pub activated: bool,
    pub fullscreen: bool,
    /// The outputs the toplevel is shown on.
    pub outputs: Vec<Output>,
}

impl ToplevelInfo {
    /// The `state` event's array: u32 values of the XML's `state` enum.
    fn states(&self, version: u32) -> Vec<u8> {
        use zwlr_foreign_toplevel_handle_v1::State;
        let mut states = Vec::new();
        for (on, state) in [
            (self.maximized, State::Maximized),
            (self.minimized, State::Minimized),
            (self.activated, State::Activated),
            // `fullscreen` is since version 2.
            (self.fullscreen && version >= 2, State::Fullscreen),
        ] {
            if on {
                states.extend_from_slice(&(state as u32).to_ne_bytes());
            }
        }
        states
    }
}

/// A handle's request, for the toplevel [`WlrForeignToplevelHandler::toplevel_request`] names.
#[derive(Debug, Clone)]
pub enum ToplevelRequest {
    Maximize(bool),
    Minimize(bool),
    /// Fullscreen on this output (the compositor's choice when `None`), or leave fullscreen.
    Fullscreen(bool, Option<Output>),
    Activate,
    Close,
}

/// What the compositor provides.
pub trait WlrForeignToplevelHandler {
    fn wlr_foreign_toplevel_state(&mut self) -> &mut WlrForeignToplevelState;
    /// A taskbar asked for something of toplevel `id` (from [`WlrForeignToplevelState::add`]).
    fn toplevel_request(&mut self, id: u64, request: ToplevelRequest);
}

struct Entry {
    id: u64,
    info: ToplevelInfo,
    handles: Vec<ZwlrForeignToplevelHandleV1>,
}

/// The global, the bound managers and the toplevels they are told of.
pub struct WlrForeignToplevelState {
    global: GlobalId,
    dh: DisplayHandle,
    managers: Vec<ZwlrForeignToplevelManagerV1>,
    toplevels: Vec<Entry>,
    next_id: u64,
}

impl std::fmt::Debug for WlrForeignToplevelState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WlrForeignToplevelState")
            .field("managers", &self.managers.len())
            .field("toplevels", &self.toplevels.len())
            .finish()
    }
}

/// A handle's user data: the toplevel it stands for.
#[derive(Debug)]
pub struct HandleData {
    id: u64,
}

impl WlrForeignToplevelState {
    /// `filter`: which clients see the global (all but sandboxed ones).
    pub fn new<D>(dh: &DisplayHandle, filter: impl Fn(&Client) -> bool + Send + Sync + 'static) -> Self
    where
        D: GlobalDispatch<ZwlrForeignToplevelManagerV1, super::GlobalFilter>
            + Dispatch<ZwlrForeignToplevelManagerV1, ()>
            + Dispatch<ZwlrForeignToplevelHandleV1, HandleData>
            + WlrForeignToplevelHandler
            + 'static,
    {
        WlrForeignToplevelState {
            global: dh.create_global::<D, ZwlrForeignToplevelManagerV1, _>(
                3,
                super::GlobalFilter(Box::new(filter)),
            ),
            dh: dh.clone(),
            managers: Vec::new(),
            toplevels: Vec::new(),
            next_id: 1,
        }
    }

    pub fn global(&self) -> GlobalId {
        self.global.clone()
    }

    /// A new toplevel: every manager is told. Returns its id.
    pub fn add<D>(&mut self, info: ToplevelInfo) -> u64
    where
        D: Dispatch<ZwlrForeignToplevelHandleV1, HandleData> + 'static,
    {
        let id = self.next_id;
        self.next_id += 1;
        let mut entry = Entry {
            id,
            info,
            handles: Vec::new(),
        };
        for manager in &self.managers {
            announce::<D>(&self.dh, manager, &mut entry);
        }
        self.toplevels.push(entry);
        id
    }

    /// Toplevel `id` is now `info`: what changed is sent, then `done`.
    pub fn update(&mut self, id: u64, info: ToplevelInfo) {
        let Some(entry) = self.toplevels.iter_mut().find(|e| e.id == id) else {
            return;
        };
        if entry.info == info {
            return;
        }
        entry.handles.retain(|h| h.is_alive());
        for handle in &entry.handles {
            send_changes(handle, Some(&entry.info), &info);
        }
        entry.info = info;
    }

    /// Toplevel `id` is gone: its handles get `closed`.
    pub fn remove(&mut self, id: u64) {
        if let Some(i) = self.toplevels.iter().position(|e| e.id == id) {
            let entry = self.toplevels.remove(i);
            for handle in entry.handles.iter().filter(|h| h.is_alive()) {
                handle.closed();
            }
        }
    }

    /// Managers bound now (for stats and tests).
    pub fn managers(&self) -> usize {
        self.managers.len()
    }
}

/// Make `entry`'s handle for `manager`'s client and tell it everything.
fn announce<D>(dh: &DisplayHandle, manager: &ZwlrForeignToplevelManagerV1, entry: &mut Entry)
where
    D: Dispatch<ZwlrForeignToplevelHandleV1, HandleData> + 'static,
{
    let Some(client) = manager.client() else {
        return;
    };
    let Ok(handle) = client.create_resource::<ZwlrForeignToplevelHandleV1, _, D>(
        dh,
        manager.version(),
        HandleData { id: entry.id },
    ) else {
        return;
    };
    manager.toplevel(&handle);
    send_changes(&handle, None, &entry.info);
    entry.handles.push(handle);
}

/// Send `handle` what differs between `old` (None: nothing sent yet) and `new`, then `done`.
fn send_changes(handle: &ZwlrForeignToplevelHandleV1, old: Option<&ToplevelInfo>, new: &ToplevelInfo) {
    if old.is_none_or(|o| o.title != new.title) {
        handle.title(new.title.clone());
    }
    if old.is_none_or(|o| o.app_id != new.app_id) {
        handle.app_id(new.app_id.clone());
    }
    if let Some(client) = handle.client() {
        let before: &[Output] = old.map(|o| o.outputs.as_slice()).unwrap_or(&[]);
        for output in before.iter().filter(|o| !new.outputs.contains(o)) {
            for wl in output.client_outputs(&client) {
                handle.output_leave(&wl);
            }
        }
        for output in new.outputs.iter().filter(|o| !before.contains(o)) {
            for wl in output.client_outputs(&client) {
                handle.output_enter(&wl);
            }
        }
    }
    let version = handle.version();
    if old.is_none_or(|o| o.states(version) != new.states(version)) {
        handle.state(new.states(version));
    }
    handle.done();
}

impl<D> GlobalDispatch<ZwlrForeignToplevelManagerV1, super::GlobalFilter, D> for WlrForeignToplevelState
where
    D: GlobalDispatch<ZwlrForeignToplevelManagerV1, super::GlobalFilter>
        + Dispatch<ZwlrForeignToplevelManagerV1, ()>
        + Dispatch<ZwlrForeignToplevelHandleV1, HandleData>
        + WlrForeignToplevelHandler
        + 'static,
{
    fn bind(
        state: &mut D,
        dh: &DisplayHandle,
        _client: &Client,
        resource: New<ZwlrForeignToplevelManagerV1>,
        _global_data: &super::GlobalFilter,
        data_init: &mut DataInit<'_, D>,
    ) {
        let manager = data_init.init(resource, ());
        let s = state.wlr_foreign_toplevel_state();
        for entry in &mut s.toplevels {
            announce::<D>(dh, &manager, entry);
        }
        s.managers.push(manager);
    }

    fn can_view(client: Client, global_data: &super::GlobalFilter) -> bool {
        (global_data.0)(&client)
    }
}

impl<D> Dispatch<ZwlrForeignToplevelManagerV1, (), D> for WlrForeignToplevelState
where
    D: Dispatch<ZwlrForeignToplevelManagerV1, ()> + WlrForeignToplevelHandler + 'static,
{
    fn request(
        state: &mut D,
        _client: &Client,
        manager: &ZwlrForeignToplevelManagerV1,
        request: zwlr_foreign_toplevel_manager_v1::Request,
        _data: &(),
        _dh: &DisplayHandle,
        _data_init: &mut DataInit<'_, D>,
    ) {
        if let zwlr_foreign_toplevel_manager_v1::Request::Stop = request {
            // No new toplevels for it; `finished` destroys it.
            state
                .wlr_foreign_toplevel_state()
                .managers
                .retain(|m| m != manager);
            manager.finished();
        }
    }

    fn destroyed(state: &mut D, _client: ClientId, manager: &ZwlrForeignToplevelManagerV1, _data: &()) {
        state
            .wlr_foreign_toplevel_state()
            .managers
            .retain(|m| m != manager);
    }
}

impl<D> Dispatch<ZwlrForeignToplevelHandleV1, HandleData, D> for WlrForeignToplevelState
where
    D: Dispatch<ZwlrForeignToplevelHandleV1, HandleData> + WlrForeignToplevelHandler + 'static,
{
    fn request(
        state: &mut D,
        _client: &Client,
        handle: &ZwlrForeignToplevelHandleV1,
        request: zwlr_foreign_toplevel_handle_v1::Request,
        data: &HandleData,
        _dh: &DisplayHandle,
        _data_init: &mut DataInit<'_, D>,
    ) {
        use zwlr_foreign_toplevel_handle_v1::Request;
        let request = match request {
            Request::SetMaximized => ToplevelRequest::Maximize(true),
            Request::UnsetMaximized => ToplevelRequest::Maximize(false),
            Request::SetMinimized => ToplevelRequest::Minimize(true),
            Request::UnsetMinimized => ToplevelRequest::Minimize(false),
            Request::Activate { .. } => ToplevelRequest::Activate,
            Request::Close => ToplevelRequest::Close,
            Request::SetFullscreen { output } => {
                ToplevelRequest::Fullscreen(true, output.as_ref().and_then(Output::from_resource))
            }
            Request::UnsetFullscreen => ToplevelRequest::Fullscreen(false, None),
            Request::SetRectangle { width, height, .. } => {
                if width < 0 || height < 0 {
                    handle.post_error(
                        zwlr_foreign_toplevel_handle_v1::Error::InvalidRectangle,
                        "width and height must be positive or zero",
                    );
                }
                return;
            }
            Request::Destroy => return,
            _ => return,
        };
        // A closed toplevel's handle is inert (the XML: requests on it are ignored).
        let live = state
            .wlr_foreign_toplevel_state()
            .toplevels
            .iter()
            .any(|e| e.id == data.id);
        if live {
            state.toplevel_request(data.id, request);
        }
    }

    fn destroyed(state: &mut D, _client: ClientId, handle: &ZwlrForeignToplevelHandleV1, data: &HandleData) {
        let s = state.wlr_foreign_toplevel_state();
        if let Some(entry) = s.toplevels.iter_mut().find(|e| e.id == data.id) {
            entry.handles.retain(|h| h != handle);
        }
    }
}
