//! `zwlr_virtual_pointer_manager_v1` (version 2): pointer input made by a
//! client (`wlrctl pointer`, `ydotool`-like tools, remote desktops, WLCS's
//! VirtualPointerV1 tests). Privileged: it moves and clicks for the user.
//!
//! This module is the protocol half: it turns requests into
//! [`VirtualPointerEvent`]s for [`VirtualPointerHandler`], which feeds them
//! to the seat as a physical pointer's. Nothing reaches the seat before
//! `frame` (wlroots' rule, and WLCS's `if_frame_is_not_sent_client_sees_no_events`):
//! motion and buttons wait in order, axis requests gather into one axis
//! frame; a client that never sends `frame` has its queue delivered once
//! it holds [`MAX_QUEUED`] events, so it cannot grow Quay's memory. An axis or axis source outside the
//! `wl_pointer` enums is `invalid_axis` / `invalid_axis_source` (the XML's
//! errors); an absolute motion with a zero extent is ignored.

use std::sync::Mutex;

use smithay::{
    backend::input::{Axis, AxisSource},
    input::pointer::AxisFrame,
    output::Output,
    reexports::{
        wayland_protocols_wlr::virtual_pointer::v1::server::{
            zwlr_virtual_pointer_manager_v1::{self, ZwlrVirtualPointerManagerV1},
            zwlr_virtual_pointer_v1::{self, ZwlrVirtualPointerV1},
        },
        wayland_server::{
            backend::GlobalId, protocol::wl_pointer, Client, DataInit, Dispatch, DisplayHandle,
            GlobalDispatch, New, Resource, WEnum,
        },
    },
};

/// One virtual pointer's input, in the terms of the seat.
#[derive(Debug, Clone)]
pub enum VirtualPointerEvent {
    /// Relative motion in global logical units.
    Motion {
        time: u32,
        dx: f64,
        dy: f64,
    },
    /// Absolute motion, as fractions (0..=1) of the mapped output, or of
    /// the whole layout when the pointer has no output.
    MotionAbsolute {
        time: u32,
        x: f64,
        y: f64,
    },
    Button {
        time: u32,
        button: u32,
        pressed: bool,
    },
    /// The axis requests gathered since the last `frame`.
    Axis(AxisFrame),
}

/// What the compositor provides.
pub trait VirtualPointerHandler {
    /// `output`: where the client asked the pointer to be mapped (version 2).
    fn virtual_pointer_event(&mut self, output: Option<Output>, event: VirtualPointerEvent);
}

/// The global.
#[derive(Debug)]
pub struct VirtualPointerManagerState {
    global: GlobalId,
}

/// Events one virtual pointer may queue before a `frame`.
pub const MAX_QUEUED: usize = 256;

/// What waits for a virtual pointer's `frame`.
#[derive(Debug, Default)]
struct Pending {
    events: Vec<VirtualPointerEvent>,
    /// Axis requests since the last `frame`.
    axis: Option<AxisFrame>,
}

/// A virtual pointer's user data.
#[derive(Debug)]
pub struct VirtualPointerData {
    output: Option<Output>,
    pending: Mutex<Pending>,
}

impl VirtualPointerManagerState {
    /// `filter`: which clients see the global (all but sandboxed ones).
    pub fn new<D>(dh: &DisplayHandle, filter: impl Fn(&Client) -> bool + Send + Sync + 'static) -> Self
    where
        D: GlobalDispatch<ZwlrVirtualPointerManagerV1, super::GlobalFilter>
            + Dispatch<ZwlrVirtualPointerManagerV1, ()>
            + Dispatch<ZwlrVirtualPointerV1, VirtualPointerData>
            + VirtualPointerHandler
            + 'static,
    {
        VirtualPointerManagerState {
            global: dh
                .create_global::<D, ZwlrVirtualPointerManagerV1, _>(2, super::GlobalFilter(Box::new(filter))),
        }
    }

    pub fn global(&self) -> GlobalId {
        self.global.clone()
    }
}

impl<D> GlobalDispatch<ZwlrVirtualPointerManagerV1, super::GlobalFilter, D> for VirtualPointerManagerState
where
    D: GlobalDispatch<ZwlrVirtualPointerManagerV1, super::GlobalFilter>
        + Dispatch<ZwlrVirtualPointerManagerV1, ()>
        + Dispatch<ZwlrVirtualPointerV1, VirtualPointerData>
        + 'static,
{
    fn bind(
        _state: &mut D,
        _dh: &DisplayHandle,
        _client: &Client,
        resource: New<ZwlrVirtualPointerManagerV1>,
        _global_data: &super::GlobalFilter,
        data_init: &mut DataInit<'_, D>,
    ) {
        data_init.init(resource, ());
    }

    fn can_view(client: Client, global_data: &super::GlobalFilter) -> bool {
        (global_data.0)(&client)
    }
}

impl<D> Dispatch<ZwlrVirtualPointerManagerV1, (), D> for VirtualPointerManagerState
where
    D: Dispatch<ZwlrVirtualPointerManagerV1, ()>
        + Dispatch<ZwlrVirtualPointerV1, VirtualPointerData>
        + 'static,
{
    fn request(
        _state: &mut D,
        _client: &Client,
        _manager: &ZwlrVirtualPointerManagerV1,
        request: zwlr_virtual_pointer_manager_v1::Request,
        _data: &(),
        _dh: &DisplayHandle,
        data_init: &mut DataInit<'_, D>,
    ) {
        use zwlr_virtual_pointer_manager_v1::Request;
        let (id, output) = match request {
            Request::CreateVirtualPointer { id, .. } => (id, None),
            Request::CreateVirtualPointerWithOutput { id, output, .. } => {
                (id, output.as_ref().and_then(Output::from_resource))
            }
            _ => return,
        };
        data_init.init(
            id,
            VirtualPointerData {
                output,
                pending: Mutex::new(Pending::default()),
            },
        );
    }
}

fn axis(axis: WEnum<wl_pointer::Axis>) -> Option<Axis> {
    match axis {
        WEnum::Value(wl_pointer::Axis::VerticalScroll) => Some(Axis::Vertical),
        WEnum::Value(wl_pointer::Axis::HorizontalScroll) => Some(Axis::Horizontal),
        _ => None,
    }
}

fn axis_source(source: WEnum<wl_pointer::AxisSource>) -> Option<AxisSource> {
    match source {
        WEnum::Value(wl_pointer::AxisSource::Wheel) => Some(AxisSource::Wheel),
        WEnum::Value(wl_pointer::AxisSource::Finger) => Some(AxisSource::Finger),
        WEnum::Value(wl_pointer::AxisSource::Continuous) => Some(AxisSource::Continuous),
        WEnum::Value(wl_pointer::AxisSource::WheelTilt) => Some(AxisSource::WheelTilt),
        _ => None,
    }
}

impl<D> Dispatch<ZwlrVirtualPointerV1, VirtualPointerData, D> for VirtualPointerManagerState
where
    D: Dispatch<ZwlrVirtualPointerV1, VirtualPointerData> + VirtualPointerHandler + 'static,
{
    fn request(
        state: &mut D,
        _client: &Client,
        pointer: &ZwlrVirtualPointerV1,
        request: zwlr_virtual_pointer_v1::Request,
        data: &VirtualPointerData,
        _dh: &DisplayHandle,
        _data_init: &mut DataInit<'_, D>,
    ) {
        // What to deliver, taken under the pointer's lock and delivered after it.
        let deliver = {
            let Ok(mut guard) = data.pending.lock() else {
                return;
            };
            queue(&mut guard, pointer, request)
        };
        for event in deliver {
            state.virtual_pointer_event(data.output.clone(), event);
        }
    }
}

/// Queue `request`'s event; the events due now (at `frame`, or a full queue).
fn queue(
    pending: &mut Pending,
    pointer: &ZwlrVirtualPointerV1,
    request: zwlr_virtual_pointer_v1::Request,
) -> Vec<VirtualPointerEvent> {
    use zwlr_virtual_pointer_v1::Request;
    let event = match request {
        Request::Motion { time, dx, dy } => VirtualPointerEvent::Motion { time, dx, dy },
        Request::MotionAbsolute {
            time,
            x,
            y,
            x_extent,
            y_extent,
        } => {
            if x_extent == 0 || y_extent == 0 {
                return Vec::new();
            }
            VirtualPointerEvent::MotionAbsolute {
                time,
                x: (x as f64 / x_extent as f64).min(1.0),
                y: (y as f64 / y_extent as f64).min(1.0),
            }
        }
        Request::Button { time, button, state } => VirtualPointerEvent::Button {
            time,
            button,
            pressed: matches!(state, WEnum::Value(wl_pointer::ButtonState::Pressed)),
        },
        Request::Frame => {
            let mut events = std::mem::take(&mut pending.events);
            events.extend(pending.axis.take().map(VirtualPointerEvent::Axis));
            return events;
        }
        other => {
            queue_axis(pending, pointer, other);
            return Vec::new();
        }
    };
    pending.events.push(event);
    if pending.events.len() < MAX_QUEUED {
        return Vec::new();
    }
    std::mem::take(&mut pending.events)
}

/// An axis request adds to the axis frame being gathered (whose time is
/// its first request's); anything else is ignored.
fn queue_axis(
    pending: &mut Pending,
    pointer: &ZwlrVirtualPointerV1,
    request: zwlr_virtual_pointer_v1::Request,
) {
    use zwlr_virtual_pointer_v1::{Error, Request};
    let mut add = |time: u32, f: &dyn Fn(AxisFrame) -> AxisFrame| {
        let frame = pending.axis.take().unwrap_or_else(|| AxisFrame::new(time));
        pending.axis = Some(f(frame));
    };
    let bad_axis = || pointer.post_error(Error::InvalidAxis, "not a wl_pointer.axis");
    match request {
        Request::Axis { time, axis: a, value } => match axis(a) {
            Some(a) => add(time, &|f| f.value(a, value)),
            None => bad_axis(),
        },
        Request::AxisDiscrete {
            time,
            axis: a,
            value,
            discrete,
        } => match axis(a) {
            Some(a) => add(time, &|f| f.value(a, value).v120(a, discrete.saturating_mul(120))),
            None => bad_axis(),
        },
        Request::AxisSource { axis_source: s } => match axis_source(s) {
            Some(s) => add(0, &|f| f.source(s)),
            None => pointer.post_error(Error::InvalidAxisSource, "not a wl_pointer.axis_source"),
        },
        Request::AxisStop { time, axis: a } => match axis(a) {
            Some(a) => add(time, &|f| f.stop(a)),
            None => bad_axis(),
        },
        _ => {}
    }
}
