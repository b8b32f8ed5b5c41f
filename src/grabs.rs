//! Interactive move and resize: pointer grabs that follow the pointer until
//! the button that started them goes up.
//!
//! Started by a client (`xdg_toplevel.move` / `resize` from its title bar
//! or border, honoured only for the serial of a button press the client
//! itself got) or by Quay (Super + left button moves, Super + right button
//! resizes from the nearest corner). A resize tells the client each new
//! size with the `resizing` state and moves the window so the opposite
//! edges stay put. Nothing else gets pointer events during a grab.

use smithay::{
    desktop::Window,
    input::{
        pointer::{
            AxisFrame, ButtonEvent, GestureHoldBeginEvent, GestureHoldEndEvent, GesturePinchBeginEvent,
            GesturePinchEndEvent, GesturePinchUpdateEvent, GestureSwipeBeginEvent, GestureSwipeEndEvent,
            GestureSwipeUpdateEvent, GrabStartData, MotionEvent, PointerGrab, PointerInnerHandle,
            RelativeMotionEvent,
        },
        SeatHandler,
    },
    reexports::{
        wayland_protocols::xdg::shell::server::xdg_toplevel::{self, ResizeEdge},
        wayland_server::protocol::wl_surface::WlSurface,
    },
    utils::{Logical, Point, Rectangle, Size},
    wayland::{compositor::with_states, shell::xdg::SurfaceCachedState},
};

use crate::State;

type Focus = Option<(<State as SeatHandler>::PointerFocus, Point<f64, Logical>)>;

/// Passes everything but motion and buttons through, for both grabs.
macro_rules! forward_rest {
    () => {
        fn relative_motion(
            &mut self,
            data: &mut State,
            handle: &mut PointerInnerHandle<'_, State>,
            _focus: Focus,
            event: &RelativeMotionEvent,
        ) {
            handle.relative_motion(data, None, event);
        }
        fn axis(&mut self, data: &mut State, handle: &mut PointerInnerHandle<'_, State>, details: AxisFrame) {
            handle.axis(data, details);
        }
        fn frame(&mut self, data: &mut State, handle: &mut PointerInnerHandle<'_, State>) {
            handle.frame(data);
        }
        fn gesture_swipe_begin(
            &mut self,
            data: &mut State,
            handle: &mut PointerInnerHandle<'_, State>,
            event: &GestureSwipeBeginEvent,
        ) {
            handle.gesture_swipe_begin(data, event);
        }
        fn gesture_swipe_update(
            &mut self,
            data: &mut State,
            handle: &mut PointerInnerHandle<'_, State>,
            event: &GestureSwipeUpdateEvent,
        ) {
            handle.gesture_swipe_update(data, event);
        }
        fn gesture_swipe_end(
            &mut self,
            data: &mut State,
            handle: &mut PointerInnerHandle<'_, State>,
            event: &GestureSwipeEndEvent,
        ) {
            handle.gesture_swipe_end(data, event);
        }
        fn gesture_pinch_begin(
            &mut self,
            data: &mut State,
            handle: &mut PointerInnerHandle<'_, State>,
            event: &GesturePinchBeginEvent,
        ) {
            handle.gesture_pinch_begin(data, event);
        }
        fn gesture_pinch_update(
            &mut self,
            data: &mut State,
            handle: &mut PointerInnerHandle<'_, State>,
            event: &GesturePinchUpdateEvent,
        ) {
            handle.gesture_pinch_update(data, event);
        }
        fn gesture_pinch_end(
            &mut self,
            data: &mut State,
            handle: &mut PointerInnerHandle<'_, State>,
            event: &GesturePinchEndEvent,
        ) {
            handle.gesture_pinch_end(data, event);
        }
        fn gesture_hold_begin(
            &mut self,
            data: &mut State,
            handle: &mut PointerInnerHandle<'_, State>,
            event: &GestureHoldBeginEvent,
        ) {
            handle.gesture_hold_begin(data, event);
        }
        fn gesture_hold_end(
            &mut self,
            data: &mut State,
            handle: &mut PointerInnerHandle<'_, State>,
            event: &GestureHoldEndEvent,
        ) {
            handle.gesture_hold_end(data, event);
        }
        fn start_data(&self) -> &GrabStartData<State> {
            &self.start
        }
    };
}

/// The grab ends when no button is down any more.
fn button_ends_grab(event: &ButtonEvent, handle: &PointerInnerHandle<'_, State>) -> bool {
    event.state == smithay::backend::input::ButtonState::Released && handle.current_pressed().is_empty()
}

pub struct MoveGrab {
    pub start: GrabStartData<State>,
    pub window: Window,
    pub initial: Point<i32, Logical>,
}

impl PointerGrab<State> for MoveGrab {
    fn motion(
        &mut self,
        data: &mut State,
        handle: &mut PointerInnerHandle<'_, State>,
        _focus: Focus,
        event: &MotionEvent,
    ) {
        handle.motion(data, None, event);
        let delta = event.location - self.start.location;
        let loc = self.initial + delta.to_i32_round();
        data.core.space.map_element(self.window.clone(), loc, true);
    }

    fn button(&mut self, data: &mut State, handle: &mut PointerInnerHandle<'_, State>, event: &ButtonEvent) {
        handle.button(data, event);
        if button_ends_grab(event, handle) {
            handle.unset_grab(self, data, event.serial, event.time, true);
        }
    }

    forward_rest!();

    fn unset(&mut self, _data: &mut State) {}
}

pub struct ResizeGrab {
    pub start: GrabStartData<State>,
    pub window: Window,
    pub edges: ResizeEdge,
    /// The window's place and size when the grab started.
    pub initial: Rectangle<i32, Logical>,
    pub last: Size<i32, Logical>,
}

fn has(edges: ResizeEdge, edge: ResizeEdge) -> bool {
    (edges as u32) & (edge as u32) != 0
}

fn size_limits(surface: &WlSurface) -> (Size<i32, Logical>, Size<i32, Logical>) {
    with_states(surface, |states| {
        let mut cached = states.cached_state.get::<SurfaceCachedState>();
        let c = cached.current();
        (c.min_size, c.max_size)
    })
}

impl PointerGrab<State> for ResizeGrab {
    fn motion(
        &mut self,
        data: &mut State,
        handle: &mut PointerInnerHandle<'_, State>,
        _focus: Focus,
        event: &MotionEvent,
    ) {
        handle.motion(data, None, event);
        let Some(toplevel) = self.window.toplevel().cloned() else {
            return;
        };
        let delta = (event.location - self.start.location).to_i32_round::<i32>();
        let (mut w, mut h) = (self.initial.size.w, self.initial.size.h);
        if has(self.edges, ResizeEdge::Left) {
            w -= delta.x;
        } else if has(self.edges, ResizeEdge::Right) {
            w += delta.x;
        }
        if has(self.edges, ResizeEdge::Top) {
            h -= delta.y;
        } else if has(self.edges, ResizeEdge::Bottom) {
            h += delta.y;
        }
        // The client's limits (0: none), and never below 1x1.
        let (min, max) = size_limits(toplevel.wl_surface());
        let clamp = |v: i32, lo: i32, hi: i32| {
            let v = v.max(lo.max(1));
            if hi > 0 {
                v.min(hi)
            } else {
                v
            }
        };
        let size: Size<i32, Logical> = (clamp(w, min.w, max.w), clamp(h, min.h, max.h)).into();
        if size == self.last {
            return;
        }
        self.last = size;
        // The opposite edges stay where they were.
        let mut loc = self.initial.loc;
        if has(self.edges, ResizeEdge::Left) {
            loc.x += self.initial.size.w - size.w;
        }
        if has(self.edges, ResizeEdge::Top) {
            loc.y += self.initial.size.h - size.h;
        }
        data.core.space.map_element(self.window.clone(), loc, true);
        toplevel.with_pending_state(|s| {
            s.states.set(xdg_toplevel::State::Resizing);
            s.size = Some(size);
        });
        toplevel.send_pending_configure();
    }

    fn button(&mut self, data: &mut State, handle: &mut PointerInnerHandle<'_, State>, event: &ButtonEvent) {
        handle.button(data, event);
        if button_ends_grab(event, handle) {
            if let Some(toplevel) = self.window.toplevel() {
                toplevel.with_pending_state(|s| {
                    s.states.unset(xdg_toplevel::State::Resizing);
                });
                toplevel.send_pending_configure();
            }
            handle.unset_grab(self, data, event.serial, event.time, true);
        }
    }

    forward_rest!();

    fn unset(&mut self, _data: &mut State) {}
}

impl State {
    /// Start moving `window` with the pointer, as of `start`.
    pub fn start_move(
        &mut self,
        window: Window,
        start: GrabStartData<State>,
        serial: smithay::utils::Serial,
    ) {
        let Some(pointer) = self.core.seat.get_pointer() else {
            return;
        };
        let Some(initial) = self.core.space.element_location(&window) else {
            return;
        };
        let grab = MoveGrab {
            start,
            window,
            initial,
        };
        self.core.stats.window_moves_total += 1;
        pointer.set_grab(self, grab, serial, smithay::input::pointer::Focus::Clear);
    }

    /// Start resizing `window` from `edges` with the pointer.
    pub fn start_resize(
        &mut self,
        window: Window,
        edges: ResizeEdge,
        start: GrabStartData<State>,
        serial: smithay::utils::Serial,
    ) {
        let Some(pointer) = self.core.seat.get_pointer() else {
            return;
        };
        let (Some(loc), Some(_)) = (self.core.space.element_location(&window), window.toplevel()) else {
            return;
        };
        let size = window.geometry().size;
        let grab = ResizeGrab {
            start,
            window,
            edges,
            initial: Rectangle::new(loc, size),
            last: size,
        };
        self.core.stats.window_resizes_total += 1;
        pointer.set_grab(self, grab, serial, smithay::input::pointer::Focus::Clear);
    }
}
