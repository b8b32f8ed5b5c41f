//! Input from a backend to the seat: keyboard to the focused toplevel,
//! pointer and touch to the surface under them; a click or a touch focuses
//! and raises.

use smithay::{
    backend::input::{
        AbsolutePositionEvent, Axis, AxisSource, ButtonState, Device, DeviceCapability, Event,
        GestureBeginEvent, GestureEndEvent, GesturePinchUpdateEvent as _, GestureSwipeUpdateEvent as _,
        InputBackend, InputEvent, KeyState, KeyboardKeyEvent, PointerAxisEvent, PointerButtonEvent,
        PointerMotionEvent, TouchEvent, TouchSlot,
    },
    desktop::Window,
    input::{
        keyboard::{FilterResult, Keycode},
        pointer::{
            AxisFrame, ButtonEvent, GestureHoldBeginEvent, GestureHoldEndEvent, GesturePinchBeginEvent,
            GesturePinchEndEvent, GesturePinchUpdateEvent, GestureSwipeBeginEvent, GestureSwipeEndEvent,
            GestureSwipeUpdateEvent, MotionEvent,
        },
        touch::{self, TouchHandle},
    },
    reexports::{
        wayland_protocols::xdg::shell::server::xdg_toplevel,
        wayland_server::{protocol::wl_surface::WlSurface, Resource},
    },
    utils::{Logical, Point, Serial, SERIAL_COUNTER},
};

use crate::{state::Core, State};

const XF86_SWITCH_VT_1: u32 = 0x1008_fe01;
/// linux/input-event-codes.h
const BTN_LEFT: u32 = 0x110;
const BTN_RIGHT: u32 = 0x111;
const XF86_SWITCH_VT_12: u32 = 0x1008_fe0c;

impl Core {
    /// Keep a point inside the union of the outputs (relative pointer motion).
    pub(crate) fn clamp_to_outputs(&self, pos: Point<f64, Logical>) -> Point<f64, Logical> {
        let geos: Vec<_> = self
            .space
            .outputs()
            .filter_map(|o| self.space.output_geometry(o))
            .collect();
        if geos.iter().any(|g| g.to_f64().contains(pos)) || geos.is_empty() {
            return pos;
        }
        // Nearest point of the nearest output.
        geos.iter()
            .map(|g| {
                let g = g.to_f64();
                let x = pos.x.clamp(g.loc.x, g.loc.x + g.size.w - 1.0);
                let y = pos.y.clamp(g.loc.y, g.loc.y + g.size.h - 1.0);
                Point::from((x, y))
            })
            .min_by(|a, b| {
                let da = (a.x - pos.x).powi(2) + (a.y - pos.y).powi(2);
                let db = (b.x - pos.x).powi(2) + (b.y - pos.y).powi(2);
                da.total_cmp(&db)
            })
            .unwrap_or(pos)
    }
}

/// What the keyboard path keeps from a client.
enum Intercepted {
    /// Ctrl+Alt+F<n>: switch to VT n.
    Vt(i32),
    /// A key binding's action.
    Action(quay_config::Action),
    /// The release of a key whose press was not the client's.
    Release,
}

impl State {
    /// A key went down or up: a binding or a VT switch takes it, else the
    /// focused client gets it. Every backend's keyboard, and `quay msg key`
    /// on headless, comes through here.
    ///
    /// A key whose press was taken is remembered until its release, which
    /// is taken too: the client never sees half of a key stroke. Bindings
    /// are off while the session is locked or the focused surface inhibits
    /// shortcuts; the VT switch is not.
    pub fn key(&mut self, keycode: Keycode, key_state: KeyState, time: u32) {
        let Some(keyboard) = self.core.seat.get_keyboard() else {
            return;
        };
        let code = keycode.raw();
        let taken = keyboard.input::<Intercepted, _>(
            self,
            keycode,
            key_state,
            SERIAL_COUNTER.next_serial(),
            time,
            |state, mods, handle| {
                if key_state == KeyState::Released {
                    return if state.core.suppressed_keys.remove(&code) {
                        FilterResult::Intercept(Intercepted::Release)
                    } else {
                        FilterResult::Forward
                    };
                }
                // Ctrl+Alt+F<n> arrives as the keysym XF86Switch_VT_<n>.
                let sym = handle.modified_sym().raw();
                if (XF86_SWITCH_VT_1..=XF86_SWITCH_VT_12).contains(&sym) {
                    state.core.suppressed_keys.insert(code);
                    return FilterResult::Intercept(Intercepted::Vt((sym - XF86_SWITCH_VT_1 + 1) as i32));
                }
                // Locked, or the focus holds an active shortcuts inhibitor
                // (`handlers/app_protocols.rs`): the bindings are off.
                if state.core.lock.is_locked() || state.core.shortcuts_inhibited() {
                    return FilterResult::Forward;
                }
                let Some(sym) = handle.raw_latin_sym_or_raw_current_sym() else {
                    return FilterResult::Forward;
                };
                match crate::bindings::find(&state.core.bindings, mods, sym) {
                    Some(binding) => {
                        state.core.suppressed_keys.insert(code);
                        FilterResult::Intercept(Intercepted::Action(binding.action.clone()))
                    }
                    None => FilterResult::Forward,
                }
            },
        );
        match taken {
            Some(Intercepted::Vt(vt)) => self.backend.change_vt(vt),
            Some(Intercepted::Action(action)) => self.run_action(&action),
            Some(Intercepted::Release) | None => {}
        }
    }

    /// Give the keyboard to `focus` (`None`: to nobody). smithay 0.7 tells
    /// `SeatHandler::focus_changed` about a new focus but not about none
    /// (smithay-0.7.0 src/input/keyboard/mod.rs:1363-1366), so the work
    /// done there is done here for none: without it the clipboard kept
    /// the last focused client as its focus (smithay's selection seat data
    /// holds its `Client`), and with it that client's whole state and its
    /// budget's charges, after the client had gone, until another surface
    /// took the keyboard.
    pub fn focus_keyboard(&mut self, focus: Option<WlSurface>, serial: Serial) {
        let Some(keyboard) = self.core.seat.get_keyboard() else {
            return;
        };
        let none = focus.is_none();
        keyboard.set_focus(self, focus, serial);
        if none {
            let seat = self.core.seat.clone();
            self.selection_focus(&seat, None);
            self.core.activate_focused(None);
            self.keyboard_focus_moved(None);
        }
    }

    /// A press by a device other than the pointer's buttons (a tablet
    /// tool's tip) at `location`: as a click there, unless a grab holds the
    /// pointer or the session is locked.
    pub(crate) fn press_at(&mut self, location: Point<f64, Logical>, serial: Serial) {
        let grabbed = self.core.seat.get_pointer().is_some_and(|p| p.is_grabbed());
        if !grabbed && !self.core.lock.is_locked() {
            self.focus_window_at(location, serial);
        }
    }

    /// A press (button or touch) at `location`: raise the window there and
    /// give it the keyboard, or take the keyboard from every window when
    /// the press hit none. Returns the window hit.
    fn focus_window_at(&mut self, location: Point<f64, Logical>, serial: Serial) -> Option<Window> {
        self.core.seat.get_keyboard()?;
        // A layer surface on top (a panel, a launcher) takes the press, and
        // the keyboard if it takes keyboard input; one that holds the
        // keyboard exclusively keeps it whatever is pressed.
        if let Some((surface, _)) = self.core.surface_under(location) {
            if self.layer_pressed(&surface) {
                return None;
            }
        }
        if self.exclusive_layer_has_keyboard() {
            return None;
        }
        let hit = self.core.window_under(location).map(|(w, _)| w.clone());
        match &hit {
            Some(window) => self.raise_and_focus(window, serial),
            None => {
                self.focus_keyboard(None, serial);
                self.send_pending_configures();
            }
        }
        hit
    }

    /// Raise `window` and give it the keyboard (a click on it, a taskbar's
    /// `activate`). Raising sets its activated state already, so the
    /// keyboard's focus change may find nothing to configure: every
    /// toplevel's pending configure is sent here.
    pub(crate) fn raise_and_focus(&mut self, window: &Window, serial: Serial) {
        self.core.space.raise_element(window, true);
        if let Some(x11) = window.x11_surface() {
            let _ = x11.set_activated(true);
            if let Some(wm) = self.core.xwayland.wm.as_mut() {
                let _ = wm.raise_window(x11);
            }
        }
        let focus = self.core.window_wl_surface(window);
        self.focus_keyboard(focus, serial);
        self.send_pending_configures();
    }

    fn send_pending_configures(&self) {
        for window in self.core.space.elements() {
            if let Some(t) = window.toplevel() {
                t.send_pending_configure();
            }
        }
    }

    /// A pointer button went down or up. A press focuses and raises the
    /// window under the pointer; Super + left button starts moving it,
    /// Super + right button resizing it from the nearest corner.
    pub fn pointer_button(&mut self, button: u32, button_state: ButtonState, time: u32) {
        let (Some(pointer), Some(keyboard)) = (self.core.seat.get_pointer(), self.core.seat.get_keyboard())
        else {
            return;
        };
        let serial = SERIAL_COUNTER.next_serial();
        let mut drag = None;
        if button_state == ButtonState::Pressed && !pointer.is_grabbed() && !self.core.lock.is_locked() {
            let location = pointer.current_location();
            let hit = self.focus_window_at(location, serial);
            if let Some(window) = hit {
                if keyboard.modifier_state().logo && window.toplevel().is_some() {
                    drag = Some((window, location));
                }
            }
        }
        if let Some((window, location)) = drag.filter(|_| matches!(button, BTN_LEFT | BTN_RIGHT)) {
            let start = smithay::input::pointer::GrabStartData {
                focus: None,
                button,
                location,
            };
            if button == BTN_LEFT {
                self.start_move(window, start, serial);
            } else if let Some(geo) = self.core.space.element_geometry(&window) {
                let centre = geo.loc.to_f64() + geo.size.to_f64().downscale(2.0).to_point();
                let edges = match (location.x < centre.x, location.y < centre.y) {
                    (true, true) => xdg_toplevel::ResizeEdge::TopLeft,
                    (false, true) => xdg_toplevel::ResizeEdge::TopRight,
                    (true, false) => xdg_toplevel::ResizeEdge::BottomLeft,
                    (false, false) => xdg_toplevel::ResizeEdge::BottomRight,
                };
                self.start_resize(window, edges, start, serial);
            }
        }
        // With a grab of Quay's, the press goes to the grab, which cleared
        // the pointer focus: the client sees neither it nor the release
        // that ends the grab.
        pointer.button(
            self,
            &ButtonEvent {
                button,
                state: button_state,
                serial,
                time,
            },
        );
        pointer.frame(self);
    }

    /// Move the pointer to `pos` (global logical) and focus what is under it.
    pub fn pointer_motion_to(&mut self, pos: Point<f64, Logical>, time: u32) {
        self.core.input_activity();
        self.pointer_move(pos, time);
    }

    /// A pointer that did not move sees the scene that did: when a window
    /// mapped, unmapped, moved or resized under it, it gets the leave,
    /// enter or motion a move would have given. Runs after every dispatch
    /// of the loop; it is not user activity (idle timers keep running).
    pub fn refresh_pointer_focus(&mut self) {
        let Some(pointer) = self.core.seat.get_pointer() else {
            return;
        };
        if !self.core.pointer.seen || pointer.is_grabbed() {
            return;
        }
        let pos = pointer.current_location();
        let under = self.core.surface_under(pos).map(|(s, o)| (s.id(), o));
        if under != self.core.pointer.under {
            let time = self.core.input_time();
            self.pointer_move(pos, time);
        }
    }

    fn pointer_move(&mut self, pos: Point<f64, Logical>, time: u32) {
        let Some(pointer) = self.core.seat.get_pointer() else {
            return;
        };
        self.core.pointer.seen = true;
        let before = pointer.current_focus();
        let under = self.core.surface_under(pos);
        self.core.pointer.under = under.as_ref().map(|(s, o)| (s.id(), *o));
        pointer.motion(
            self,
            under,
            &MotionEvent {
                location: pos,
                serial: SERIAL_COUNTER.next_serial(),
                time,
            },
        );
        pointer.frame(self);
        self.update_pointer_constraint(before);
    }

    /// The seat's touch capability, added when the first touch device
    /// appears (a seat without one tells clients there is no touch screen).
    pub fn ensure_touch(&mut self) -> TouchHandle<State> {
        match self.core.seat.get_touch() {
            Some(touch) => touch,
            None => self.core.seat.add_touch(),
        }
    }

    /// A touch point went down at `pos` (global logical): the window there
    /// is raised and focused as a click would, and the point's events go to
    /// the surface under it until it goes up (smithay's default touch grab).
    pub fn touch_down(&mut self, slot: TouchSlot, pos: Point<f64, Logical>, time: u32) {
        let Some(touch) = self.core.seat.get_touch() else {
            return;
        };
        self.core.input_activity();
        let serial = SERIAL_COUNTER.next_serial();
        if !touch.is_grabbed() && !self.core.lock.is_locked() {
            self.focus_window_at(pos, serial);
        }
        let under = self.core.surface_under(pos);
        match &under {
            Some((surface, _)) => self.core.pointer.touch_points.insert(slot, surface.clone()),
            None => self.core.pointer.touch_points.remove(&slot),
        };
        let event = touch::DownEvent {
            slot,
            location: pos,
            serial,
            time,
        };
        touch.down(self, under, &event);
    }

    /// A touch point moved to `pos` (global logical).
    pub fn touch_motion(&mut self, slot: TouchSlot, pos: Point<f64, Logical>, time: u32) {
        let Some(touch) = self.core.seat.get_touch() else {
            return;
        };
        self.core.input_activity();
        let under = self.core.surface_under(pos);
        let event = touch::MotionEvent {
            slot,
            location: pos,
            time,
        };
        touch.motion(self, under, &event);
    }

    /// A touch point went up.
    pub fn touch_up(&mut self, slot: TouchSlot, time: u32) {
        let Some(touch) = self.core.seat.get_touch() else {
            return;
        };
        self.core.input_activity();
        self.core.pointer.touch_points.remove(&slot);
        let event = touch::UpEvent {
            slot,
            serial: SERIAL_COUNTER.next_serial(),
            time,
        };
        touch.up(self, &event);
    }

    /// Lift every touch point that is down on `surface`, which is being
    /// destroyed: its client gets `wl_touch.up` (smithay sends it by client,
    /// so a dead surface still reaches its client's `wl_touch`,
    /// src/wayland/seat/touch.rs:36-55) and the point sends nothing more.
    pub fn lift_touches_on(&mut self, surface: &WlSurface) {
        let slots: Vec<TouchSlot> = (self.core.pointer.touch_points.iter())
            .filter(|(_, on)| *on == surface)
            .map(|(slot, _)| *slot)
            .collect();
        if slots.is_empty() {
            return;
        }
        let time = self.core.input_time();
        for slot in slots {
            self.touch_up(slot, time);
        }
        self.touch_frame();
    }

    /// The end of one set of touch events (`wl_touch.frame`).
    pub fn touch_frame(&mut self) {
        if let Some(touch) = self.core.seat.get_touch() {
            touch.frame(self);
        }
    }

    /// Every touch point was taken away (`wl_touch.cancel`).
    pub fn touch_cancel(&mut self) {
        self.core.pointer.touch_points.clear();
        if let Some(touch) = self.core.seat.get_touch() {
            touch.cancel(self);
        }
    }

    /// Where an absolute event of a device mapped to the whole first output
    /// (a touch screen, a tablet) lands in global logical coordinates.
    pub(crate) fn on_first_output<I: InputBackend, E: AbsolutePositionEvent<I>>(
        &self,
        event: &E,
    ) -> Option<Point<f64, Logical>> {
        let geo = self
            .core
            .space
            .outputs()
            .next()
            .and_then(|o| self.core.space.output_geometry(o))?;
        Some(event.position_transformed(geo.size) + geo.loc.to_f64())
    }

    pub fn process_input_event<I: InputBackend>(&mut self, event: InputEvent<I>) {
        self.core.input_activity();
        match event {
            InputEvent::Keyboard { event } => {
                self.key(event.key_code(), event.state(), event.time_msec());
            }
            InputEvent::PointerMotion { event } => {
                self.pointer_motion_relative(event.delta(), event.delta_unaccel(), event.time());
            }
            InputEvent::PointerMotionAbsolute { event } => {
                if let Some(pos) = self.on_first_output(&event) {
                    self.pointer_motion_to(pos, event.time_msec());
                }
            }
            InputEvent::DeviceAdded { device } => {
                if device.has_capability(DeviceCapability::Touch) {
                    self.ensure_touch();
                }
                if device.has_capability(DeviceCapability::TabletTool) {
                    self.tablet_added(&device);
                }
            }
            InputEvent::TouchDown { event } => {
                if let Some(pos) = self.on_first_output(&event) {
                    self.touch_down(event.slot(), pos, event.time_msec());
                }
            }
            InputEvent::TouchMotion { event } => {
                if let Some(pos) = self.on_first_output(&event) {
                    self.touch_motion(event.slot(), pos, event.time_msec());
                }
            }
            InputEvent::TouchUp { event } => self.touch_up(event.slot(), event.time_msec()),
            InputEvent::TouchFrame { .. } => self.touch_frame(),
            InputEvent::TouchCancel { .. } => self.touch_cancel(),
            InputEvent::PointerButton { event } => {
                self.pointer_button(event.button_code(), event.state(), event.time_msec());
            }
            InputEvent::PointerAxis { event } => {
                let source = event.source();
                let mut frame = AxisFrame::new(event.time_msec()).source(source);
                for axis in [Axis::Horizontal, Axis::Vertical] {
                    let v120 = event.amount_v120(axis);
                    let amount = event
                        .amount(axis)
                        .unwrap_or_else(|| v120.unwrap_or(0.0) * 15.0 / 120.0);
                    if amount != 0.0 {
                        frame = frame.value(axis, amount);
                        if let Some(d) = v120 {
                            frame = frame.v120(axis, d as i32);
                        }
                    }
                    if source == AxisSource::Finger && event.amount(axis) == Some(0.0) {
                        frame = frame.stop(axis);
                    }
                }
                let Some(pointer) = self.core.seat.get_pointer() else {
                    return;
                };
                pointer.axis(self, frame);
                pointer.frame(self);
            }
            InputEvent::TabletToolAxis { event } => self.tablet_axis::<I>(event),
            InputEvent::TabletToolProximity { event } => self.tablet_proximity::<I>(event),
            InputEvent::TabletToolTip { event } => self.tablet_tip::<I>(event),
            InputEvent::TabletToolButton { event } => self.tablet_button::<I>(event),
            InputEvent::DeviceRemoved { device } if device.has_capability(DeviceCapability::TabletTool) => {
                self.tablet_removed(&device);
            }
            event => self.gesture(event),
        }
    }

    /// libinput's touchpad gestures, to the pointer's client
    /// (`zwp_pointer_gestures_v1`); any other event is dropped here.
    fn gesture<I: InputBackend>(&mut self, event: InputEvent<I>) {
        let Some(pointer) = self.core.seat.get_pointer() else {
            return;
        };
        match event {
            InputEvent::GestureSwipeBegin { event } => {
                let e = GestureSwipeBeginEvent {
                    serial: SERIAL_COUNTER.next_serial(),
                    time: event.time_msec(),
                    fingers: event.fingers(),
                };
                pointer.gesture_swipe_begin(self, &e);
            }
            InputEvent::GestureSwipeUpdate { event } => {
                let e = GestureSwipeUpdateEvent {
                    time: event.time_msec(),
                    delta: event.delta(),
                };
                pointer.gesture_swipe_update(self, &e);
            }
            InputEvent::GestureSwipeEnd { event } => {
                let e = GestureSwipeEndEvent {
                    serial: SERIAL_COUNTER.next_serial(),
                    time: event.time_msec(),
                    cancelled: event.cancelled(),
                };
                pointer.gesture_swipe_end(self, &e);
            }
            InputEvent::GesturePinchBegin { event } => {
                let e = GesturePinchBeginEvent {
                    serial: SERIAL_COUNTER.next_serial(),
                    time: event.time_msec(),
                    fingers: event.fingers(),
                };
                pointer.gesture_pinch_begin(self, &e);
            }
            InputEvent::GesturePinchUpdate { event } => {
                let e = GesturePinchUpdateEvent {
                    time: event.time_msec(),
                    delta: event.delta(),
                    scale: event.scale(),
                    rotation: event.rotation(),
                };
                pointer.gesture_pinch_update(self, &e);
            }
            InputEvent::GesturePinchEnd { event } => {
                let e = GesturePinchEndEvent {
                    serial: SERIAL_COUNTER.next_serial(),
                    time: event.time_msec(),
                    cancelled: event.cancelled(),
                };
                pointer.gesture_pinch_end(self, &e);
            }
            InputEvent::GestureHoldBegin { event } => {
                let e = GestureHoldBeginEvent {
                    serial: SERIAL_COUNTER.next_serial(),
                    time: event.time_msec(),
                    fingers: event.fingers(),
                };
                pointer.gesture_hold_begin(self, &e);
            }
            InputEvent::GestureHoldEnd { event } => {
                let e = GestureHoldEndEvent {
                    serial: SERIAL_COUNTER.next_serial(),
                    time: event.time_msec(),
                    cancelled: event.cancelled(),
                };
                pointer.gesture_hold_end(self, &e);
            }
            _ => {}
        }
    }
}
