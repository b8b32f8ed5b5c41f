//! `zwlr_output_manager_v1` (wlr-output-management, version 4): what
//! `wlr-randr` and `kanshi` read and set.
//!
//! Each bound manager gets one head per output and one mode object per
//! mode, then `done(serial)`; whenever an output changes (a configuration
//! applied, an output added or gone) every manager gets the new state and a
//! new serial ([`OutputManagementState::changed`]). A configuration built
//! on an older serial is `cancelled`. What a configuration may change is the
//! compositor's to decide ([`OutputChange`], applied by `State::apply_output_changes`
//! in `src/outputs.rs`); the protocol's own errors (a head configured twice,
//! a head left unconfigured, a property set twice, a mode of another head,
//! a scale <= 0, a transform outside the enum, a configuration used twice)
//! are posted here.
//!
//! Unlike the other modules here this one is written for Quay's `State`
//! rather than generic: it has one user.

use std::sync::{Arc, Mutex};

use smithay::{
    output::{Mode, Output},
    reexports::{
        wayland_protocols_wlr::output_management::v1::server::{
            zwlr_output_configuration_head_v1::{self, ZwlrOutputConfigurationHeadV1},
            zwlr_output_configuration_v1::{self, ZwlrOutputConfigurationV1},
            zwlr_output_head_v1::{self, AdaptiveSyncState, ZwlrOutputHeadV1},
            zwlr_output_manager_v1::{self, ZwlrOutputManagerV1},
            zwlr_output_mode_v1::{self, ZwlrOutputModeV1},
        },
        wayland_server::{
            backend::ClientId, Client, DataInit, Dispatch, DisplayHandle, GlobalDispatch, New, Resource,
            WEnum,
        },
    },
    utils::{Logical, Point, Transform},
};

use crate::State;

const VERSION: u32 = 4;

/// What Quay tells a head about its output.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadState {
    pub name: String,
    pub description: String,
    pub make: String,
    pub model: String,
    pub physical_mm: (i32, i32),
    pub modes: Vec<Mode>,
    pub current_mode: Option<Mode>,
    pub preferred_mode: Option<Mode>,
    pub enabled: bool,
    pub position: Point<i32, Logical>,
    pub transform: Transform,
    pub scale: f64,
}

impl HeadState {
    pub fn of(output: &Output, position: Option<Point<i32, Logical>>) -> HeadState {
        let props = output.physical_properties();
        HeadState {
            name: output.name(),
            description: output.description(),
            make: props.make,
            model: props.model,
            physical_mm: (props.size.w, props.size.h),
            modes: output.modes(),
            current_mode: output.current_mode(),
            preferred_mode: output.preferred_mode(),
            enabled: position.is_some(),
            position: position.unwrap_or_default(),
            transform: output.current_transform(),
            scale: output.current_scale().fractional_scale(),
        }
    }
}

/// One output's part of an applied configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputChange {
    pub name: String,
    pub enabled: bool,
    /// `None`: keep. A custom mode is `(width, height, refresh mHz)`, the
    /// refresh 0 when the client left it to Quay.
    pub mode: Option<Mode>,
    pub custom_mode: Option<(i32, i32, i32)>,
    pub position: Option<Point<i32, Logical>>,
    pub transform: Option<Transform>,
    pub scale: Option<f64>,
    pub adaptive_sync: Option<bool>,
}

impl OutputChange {
    /// `name` on or off, everything else as it is.
    fn keep(name: String, enabled: bool) -> OutputChange {
        OutputChange {
            name,
            enabled,
            mode: None,
            custom_mode: None,
            position: None,
            transform: None,
            scale: None,
            adaptive_sync: None,
        }
    }
}

struct HeadInstance {
    head: ZwlrOutputHeadV1,
    modes: Vec<(ZwlrOutputModeV1, Mode)>,
    sent: HeadState,
}

struct ManagerInstance {
    manager: ZwlrOutputManagerV1,
    heads: Vec<HeadInstance>,
    stopped: bool,
}

#[derive(Default)]
pub struct OutputManagementState {
    serial: u32,
    current: Vec<HeadState>,
    managers: Vec<ManagerInstance>,
}

impl std::fmt::Debug for OutputManagementState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputManagementState")
            .field("serial", &self.serial)
            .field("managers", &self.managers.len())
            .finish()
    }
}

/// A head's user data: its output's name.
pub struct HeadData(String);
/// A mode object's user data.
pub struct ModeData(Mode);

#[derive(Default)]
pub struct ConfigData {
    serial: u32,
    inner: Mutex<ConfigInner>,
}

#[derive(Default)]
struct ConfigInner {
    used: bool,
    heads: Vec<(String, Arc<Mutex<OutputChange>>)>,
}

/// A configuration head's user data: the change it builds.
pub struct ConfigHeadData(Arc<Mutex<OutputChange>>);

impl OutputManagementState {
    pub fn new(dh: &DisplayHandle) -> OutputManagementState {
        dh.create_global::<State, ZwlrOutputManagerV1, _>(
            VERSION,
            crate::protocols::GlobalFilter(Box::new(crate::state::privileged)),
        );
        OutputManagementState::default()
    }

    /// The outputs are now `heads`: tell every manager what changed.
    pub fn changed(&mut self, dh: &DisplayHandle, heads: Vec<HeadState>) {
        if heads == self.current {
            return;
        }
        self.current = heads;
        self.serial = self.serial.wrapping_add(1);
        let (serial, current) = (self.serial, self.current.clone());
        for m in self.managers.iter_mut().filter(|m| !m.stopped) {
            m.update(dh, &current, serial);
        }
    }
}

fn send_mode(mode_obj: &ZwlrOutputModeV1, mode: Mode, preferred: bool) {
    mode_obj.size(mode.size.w, mode.size.h);
    mode_obj.refresh(mode.refresh);
    if preferred {
        mode_obj.preferred();
    }
}

impl ManagerInstance {
    fn new_head(&self, dh: &DisplayHandle, state: &HeadState) -> Option<HeadInstance> {
        let client = self.manager.client()?;
        let head = client
            .create_resource::<ZwlrOutputHeadV1, _, State>(
                dh,
                self.manager.version(),
                HeadData(state.name.clone()),
            )
            .ok()?;
        self.manager.head(&head);
        head.name(state.name.clone());
        head.description(state.description.clone());
        if state.physical_mm.0 > 0 && state.physical_mm.1 > 0 {
            head.physical_size(state.physical_mm.0, state.physical_mm.1);
        }
        if head.version() >= 2 {
            head.make(state.make.clone());
            head.model(state.model.clone());
        }
        let mut modes = Vec::new();
        for &mode in &state.modes {
            let Ok(obj) =
                client.create_resource::<ZwlrOutputModeV1, _, State>(dh, head.version(), ModeData(mode))
            else {
                continue;
            };
            head.mode(&obj);
            send_mode(&obj, mode, state.preferred_mode == Some(mode));
            modes.push((obj, mode));
        }
        let mut inst = HeadInstance {
            head,
            modes,
            sent: state.clone(),
        };
        inst.send_state(state, true);
        Some(inst)
    }

    fn update(&mut self, dh: &DisplayHandle, current: &[HeadState], serial: u32) {
        // Gone heads.
        self.heads.retain(|h| {
            let keep = current.iter().any(|c| c.name == h.sent.name);
            if !keep {
                for (m, _) in &h.modes {
                    m.finished();
                }
                h.head.finished();
            }
            keep
        });
        for state in current {
            match self.heads.iter_mut().find(|h| h.sent.name == state.name) {
                Some(h) => {
                    // New modes (a custom mode applied) get objects.
                    if let Some(client) = h.head.client() {
                        for &mode in &state.modes {
                            if h.modes.iter().any(|(_, m)| *m == mode) {
                                continue;
                            }
                            if let Ok(obj) = client.create_resource::<ZwlrOutputModeV1, _, State>(
                                dh,
                                h.head.version(),
                                ModeData(mode),
                            ) {
                                h.head.mode(&obj);
                                send_mode(&obj, mode, false);
                                h.modes.push((obj, mode));
                            }
                        }
                    }
                    h.send_state(state, false);
                }
                None => {
                    if let Some(h) = self.new_head(dh, state) {
                        self.heads.push(h);
                    }
                }
            }
        }
        self.manager.done(serial);
    }
}

impl HeadInstance {
    /// The head's changeable properties: all of them at first, then what
    /// changed.
    fn send_state(&mut self, state: &HeadState, all: bool) {
        let old = std::mem::replace(&mut self.sent, state.clone());
        if all || old.enabled != state.enabled {
            self.head.enabled(state.enabled as i32);
        }
        if !state.enabled {
            return;
        }
        let became_enabled = all || !old.enabled;
        if became_enabled || old.current_mode != state.current_mode {
            if let Some((obj, _)) = self.modes.iter().find(|(_, m)| Some(*m) == state.current_mode) {
                self.head.current_mode(obj);
            }
        }
        if became_enabled || old.position != state.position {
            self.head.position(state.position.x, state.position.y);
        }
        if became_enabled || old.transform != state.transform {
            self.head.transform(state.transform.into());
        }
        if became_enabled || old.scale != state.scale {
            self.head.scale(state.scale);
        }
        if all && self.head.version() >= 4 {
            self.head.adaptive_sync(AdaptiveSyncState::Disabled);
        }
    }
}

impl GlobalDispatch<ZwlrOutputManagerV1, crate::protocols::GlobalFilter> for State {
    fn bind(
        state: &mut State,
        dh: &DisplayHandle,
        _client: &Client,
        resource: New<ZwlrOutputManagerV1>,
        _filter: &crate::protocols::GlobalFilter,
        data_init: &mut DataInit<'_, State>,
    ) {
        let manager = data_init.init(resource, ());
        let mut inst = ManagerInstance {
            manager,
            heads: Vec::new(),
            stopped: false,
        };
        let current = state.core.output_heads();
        state.core.output_management.current = current.clone();
        for head in &current {
            if let Some(h) = inst.new_head(dh, head) {
                inst.heads.push(h);
            }
        }
        inst.manager.done(state.core.output_management.serial);
        state.core.output_management.managers.push(inst);
    }

    fn can_view(client: Client, filter: &crate::protocols::GlobalFilter) -> bool {
        (filter.0)(&client)
    }
}

impl Dispatch<ZwlrOutputManagerV1, ()> for State {
    fn request(
        state: &mut State,
        _client: &Client,
        resource: &ZwlrOutputManagerV1,
        request: zwlr_output_manager_v1::Request,
        _data: &(),
        _dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        match request {
            zwlr_output_manager_v1::Request::CreateConfiguration { id, serial } => {
                data_init.init(
                    id,
                    ConfigData {
                        serial,
                        inner: Mutex::default(),
                    },
                );
            }
            zwlr_output_manager_v1::Request::Stop => {
                let mgmt = &mut state.core.output_management;
                if let Some(m) = mgmt.managers.iter_mut().find(|m| m.manager == *resource) {
                    if !m.stopped {
                        m.stopped = true;
                        resource.finished();
                    }
                }
            }
            _ => {}
        }
    }

    fn destroyed(state: &mut State, _client: ClientId, resource: &ZwlrOutputManagerV1, _data: &()) {
        state
            .core
            .output_management
            .managers
            .retain(|m| m.manager != *resource);
    }
}

impl Dispatch<ZwlrOutputHeadV1, HeadData> for State {
    fn request(
        state: &mut State,
        _client: &Client,
        resource: &ZwlrOutputHeadV1,
        request: zwlr_output_head_v1::Request,
        _data: &HeadData,
        _dh: &DisplayHandle,
        _data_init: &mut DataInit<'_, State>,
    ) {
        if let zwlr_output_head_v1::Request::Release = request {
            for m in &mut state.core.output_management.managers {
                m.heads.retain(|h| h.head != *resource);
            }
        }
    }
}

impl Dispatch<ZwlrOutputModeV1, ModeData> for State {
    fn request(
        state: &mut State,
        _client: &Client,
        resource: &ZwlrOutputModeV1,
        request: zwlr_output_mode_v1::Request,
        _data: &ModeData,
        _dh: &DisplayHandle,
        _data_init: &mut DataInit<'_, State>,
    ) {
        if let zwlr_output_mode_v1::Request::Release = request {
            for m in &mut state.core.output_management.managers {
                for h in &mut m.heads {
                    h.modes.retain(|(obj, _)| obj != resource);
                }
            }
        }
    }
}

/// Add a head to a configuration; a head configured twice is the
/// protocol's `already_configured_head`.
fn configure_head(
    resource: &ZwlrOutputConfigurationV1,
    inner: &mut ConfigInner,
    name: String,
    change: Arc<Mutex<OutputChange>>,
) {
    if inner.heads.iter().any(|(n, _)| *n == name) {
        resource.post_error(
            zwlr_output_configuration_v1::Error::AlreadyConfiguredHead,
            format!("head {name} configured twice"),
        );
        return;
    }
    inner.heads.push((name, change));
}

impl Dispatch<ZwlrOutputConfigurationV1, ConfigData> for State {
    fn request(
        state: &mut State,
        _client: &Client,
        resource: &ZwlrOutputConfigurationV1,
        request: zwlr_output_configuration_v1::Request,
        data: &ConfigData,
        _dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        use zwlr_output_configuration_v1::{Error, Request};
        let Ok(mut inner) = data.inner.lock() else {
            return;
        };
        if inner.used && !matches!(request, Request::Destroy) {
            resource.post_error(
                Error::AlreadyUsed,
                "this configuration was already applied or tested",
            );
            return;
        }
        let head_name = |head: &ZwlrOutputHeadV1| head.data::<HeadData>().map(|d| d.0.clone());
        match request {
            Request::EnableHead { id, head } => {
                let name = head_name(&head).unwrap_or_default();
                let change = Arc::new(Mutex::new(OutputChange::keep(name.clone(), true)));
                // The configuration head exists even if the request is an
                // error: the client already made its id.
                data_init.init(id, ConfigHeadData(change.clone()));
                configure_head(resource, &mut inner, name, change);
            }
            Request::DisableHead { head } => {
                let name = head_name(&head).unwrap_or_default();
                let change = Arc::new(Mutex::new(OutputChange::keep(name.clone(), false)));
                configure_head(resource, &mut inner, name, change);
            }
            Request::Apply | Request::Test => {
                inner.used = true;
                let test_only = matches!(request, Request::Test);
                let mgmt = &state.core.output_management;
                if data.serial != mgmt.serial {
                    resource.cancelled();
                    return;
                }
                if let Some(missing) = mgmt
                    .current
                    .iter()
                    .find(|h| !inner.heads.iter().any(|(n, _)| *n == h.name))
                {
                    resource.post_error(
                        Error::UnconfiguredHead,
                        format!("head {} is neither enabled nor disabled", missing.name),
                    );
                    return;
                }
                let changes: Vec<OutputChange> = inner
                    .heads
                    .iter()
                    .filter_map(|(_, c)| c.lock().ok().map(|c| c.clone()))
                    .collect();
                drop(inner);
                match state.apply_output_changes(&changes, test_only) {
                    Ok(()) => resource.succeeded(),
                    Err(why) => {
                        tracing::info!("output configuration refused: {why}");
                        resource.failed();
                    }
                }
            }
            Request::Destroy => {}
            _ => {}
        }
    }
}

/// `zwlr_output_configuration_head_v1.set_mode`: one of this head's modes,
/// once.
fn set_mode(
    state: &State,
    resource: &ZwlrOutputConfigurationHeadV1,
    change: &mut OutputChange,
    mode: ZwlrOutputModeV1,
) {
    use zwlr_output_configuration_head_v1::Error;
    if change.mode.is_some() || change.custom_mode.is_some() {
        resource.post_error(Error::AlreadySet, "mode set twice");
        return;
    }
    let Some(mode_data) = mode.data::<ModeData>() else {
        return;
    };
    let of_head = state.core.output_management.managers.iter().any(|m| {
        m.heads
            .iter()
            .any(|h| h.sent.name == change.name && h.modes.iter().any(|(obj, _)| *obj == mode))
    });
    if !of_head {
        resource.post_error(Error::InvalidMode, "the mode is not one of this head's");
        return;
    }
    change.mode = Some(mode_data.0);
}

/// `zwlr_output_configuration_head_v1.set_custom_mode`: a positive size and
/// a refresh of 0 (any) or more, once.
fn set_custom_mode(
    resource: &ZwlrOutputConfigurationHeadV1,
    change: &mut OutputChange,
    (width, height, refresh): (i32, i32, i32),
) {
    use zwlr_output_configuration_head_v1::Error;
    if change.mode.is_some() || change.custom_mode.is_some() {
        resource.post_error(Error::AlreadySet, "mode set twice");
        return;
    }
    if width <= 0 || height <= 0 || refresh < 0 {
        resource.post_error(
            Error::InvalidCustomMode,
            format!("custom mode {width}x{height}@{refresh}"),
        );
        return;
    }
    change.custom_mode = Some((width, height, refresh));
}

impl Dispatch<ZwlrOutputConfigurationHeadV1, ConfigHeadData> for State {
    fn request(
        state: &mut State,
        _client: &Client,
        resource: &ZwlrOutputConfigurationHeadV1,
        request: zwlr_output_configuration_head_v1::Request,
        data: &ConfigHeadData,
        _dh: &DisplayHandle,
        _data_init: &mut DataInit<'_, State>,
    ) {
        use zwlr_output_configuration_head_v1::{Error, Request};
        let Ok(mut change) = data.0.lock() else {
            return;
        };
        let twice = |what: &str| {
            resource.post_error(Error::AlreadySet, format!("{what} set twice"));
        };
        match request {
            Request::SetMode { mode } => set_mode(state, resource, &mut change, mode),
            Request::SetCustomMode {
                width,
                height,
                refresh,
            } => set_custom_mode(resource, &mut change, (width, height, refresh)),
            Request::SetPosition { x, y } => {
                if change.position.is_some() {
                    return twice("position");
                }
                change.position = Some((x, y).into());
            }
            Request::SetTransform { transform } => {
                if change.transform.is_some() {
                    return twice("transform");
                }
                match transform {
                    WEnum::Value(t) => change.transform = Some(t.into()),
                    WEnum::Unknown(v) => {
                        resource.post_error(Error::InvalidTransform, format!("transform {v}"));
                    }
                }
            }
            Request::SetScale { scale } => {
                if change.scale.is_some() {
                    return twice("scale");
                }
                if !(scale.is_finite() && scale > 0.0) {
                    resource.post_error(Error::InvalidScale, format!("scale {scale}"));
                    return;
                }
                change.scale = Some(scale);
            }
            Request::SetAdaptiveSync { state: sync } => {
                if change.adaptive_sync.is_some() {
                    return twice("adaptive sync");
                }
                match sync {
                    WEnum::Value(s) => change.adaptive_sync = Some(s == AdaptiveSyncState::Enabled),
                    WEnum::Unknown(v) => {
                        resource.post_error(
                            Error::InvalidAdaptiveSyncState,
                            format!("adaptive sync state {v}"),
                        );
                    }
                }
            }
            _ => {}
        }
    }
}
