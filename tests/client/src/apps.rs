//! The protocols applications use beyond the core shell: frame pacing,
//! opacity, the bell, foreign toplevels, xdg-foreign, shortcut inhibitors,
//! text input and input methods. Each binds on demand ([`TestClient::bind`])
//! and records its events in [`AppEvents`], in arrival order, as short
//! strings the tests compare.

use wayland_client::{
    event_created_child, protocol::wl_keyboard, Connection, Dispatch, Proxy, QueueHandle, WEnum,
};
use wayland_protocols::wp::pointer_gestures::zv1::client::{
    zwp_pointer_gesture_hold_v1::{self, ZwpPointerGestureHoldV1},
    zwp_pointer_gesture_pinch_v1::{self, ZwpPointerGesturePinchV1},
    zwp_pointer_gesture_swipe_v1::{self, ZwpPointerGestureSwipeV1},
    zwp_pointer_gestures_v1::ZwpPointerGesturesV1,
};
use wayland_protocols::wp::tablet::zv2::client::{
    zwp_tablet_manager_v2::ZwpTabletManagerV2,
    zwp_tablet_pad_v2::ZwpTabletPadV2,
    zwp_tablet_seat_v2::{self, ZwpTabletSeatV2},
    zwp_tablet_tool_v2::{self, ZwpTabletToolV2},
    zwp_tablet_v2::{self, ZwpTabletV2},
};
use wayland_protocols::{
    ext::foreign_toplevel_list::v1::client::{
        ext_foreign_toplevel_handle_v1::{self, ExtForeignToplevelHandleV1},
        ext_foreign_toplevel_list_v1::{self, ExtForeignToplevelListV1},
    },
    wp::{
        alpha_modifier::v1::client::{
            wp_alpha_modifier_surface_v1::WpAlphaModifierSurfaceV1, wp_alpha_modifier_v1::WpAlphaModifierV1,
        },
        commit_timing::v1::client::{
            wp_commit_timer_v1::WpCommitTimerV1, wp_commit_timing_manager_v1::WpCommitTimingManagerV1,
        },
        content_type::v1::client::{
            wp_content_type_manager_v1::WpContentTypeManagerV1, wp_content_type_v1::WpContentTypeV1,
        },
        fifo::v1::client::{wp_fifo_manager_v1::WpFifoManagerV1, wp_fifo_v1::WpFifoV1},
        fractional_scale::v1::client::{
            wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1,
            wp_fractional_scale_v1::{self, WpFractionalScaleV1},
        },
        keyboard_shortcuts_inhibit::zv1::client::{
            zwp_keyboard_shortcuts_inhibit_manager_v1::ZwpKeyboardShortcutsInhibitManagerV1,
            zwp_keyboard_shortcuts_inhibitor_v1::{self, ZwpKeyboardShortcutsInhibitorV1},
        },
        text_input::zv3::client::{
            zwp_text_input_manager_v3::ZwpTextInputManagerV3,
            zwp_text_input_v3::{self, ZwpTextInputV3},
        },
    },
    xdg::{
        dialog::v1::client::{xdg_dialog_v1::XdgDialogV1, xdg_wm_dialog_v1::XdgWmDialogV1},
        foreign::zv2::client::{
            zxdg_exported_v2::{self, ZxdgExportedV2},
            zxdg_exporter_v2::ZxdgExporterV2,
            zxdg_imported_v2::{self, ZxdgImportedV2},
            zxdg_importer_v2::ZxdgImporterV2,
        },
        system_bell::v1::client::xdg_system_bell_v1::XdgSystemBellV1,
    },
};
use wayland_protocols_misc::zwp_input_method_v2::client::{
    zwp_input_method_manager_v2::ZwpInputMethodManagerV2,
    zwp_input_method_v2::{self, ZwpInputMethodV2},
};
use wayland_protocols_wlr::foreign_toplevel::v1::client::{
    zwlr_foreign_toplevel_handle_v1::{self, ZwlrForeignToplevelHandleV1},
    zwlr_foreign_toplevel_manager_v1::{self, ZwlrForeignToplevelManagerV1},
};

use crate::{App, ClientError, TestClient};

/// What the protocols of this module said, in arrival order.
#[derive(Debug, Default)]
pub struct AppEvents {
    /// ext_foreign_toplevel_list_v1 and its handles: "toplevel:ID",
    /// "title:ID:TEXT", "app_id:ID:TEXT", "identifier:ID:TEXT", "done:ID",
    /// "closed:ID", "finished".
    pub toplevel_list: Vec<String>,
    /// zxdg_exported_v2.handle by exported object id.
    pub exported: Vec<(u32, String)>,
    /// zxdg_imported_v2.destroyed: imported object ids.
    pub imported_destroyed: Vec<u32>,
    /// zwp_keyboard_shortcuts_inhibitor_v1: "active" / "inactive".
    pub inhibitor: Vec<&'static str>,
    /// zwp_text_input_v3: "enter", "leave", "commit_string:TEXT",
    /// "preedit:TEXT", "done:SERIAL".
    pub text_input: Vec<String>,
    /// zwp_input_method_v2: "activate", "deactivate", "done",
    /// "unavailable", "surrounding:TEXT".
    pub input_method: Vec<String>,
    /// wl_keyboard.key: (key, pressed).
    pub keys: Vec<(u32, bool)>,
    /// wp_fractional_scale_v1.preferred_scale values (scale × 120), in order.
    pub preferred_scales: Vec<u32>,
    /// zwp_tablet_seat_v2 and its tablets and tools: "tablet_added",
    /// "tablet:NAME", "tablet_removed", "tool_added", "tool_type:N",
    /// "tool_removed", "proximity_in:SURFACE_ID", "proximity_out", "down",
    /// "up", "motion:X,Y" (whole surface-local pixels), "pressure:P",
    /// "button:CODE:STATE", "frame".
    pub tablet: Vec<String>,
    /// zwp_pointer_gesture_swipe_v1 / pinch / hold: "swipe_begin:FINGERS",
    /// "swipe_update:DX,DY" (whole pixels), "swipe_end:CANCELLED",
    /// "pinch_begin:FINGERS", "pinch_end:CANCELLED", "hold_begin:FINGERS",
    /// "hold_end:CANCELLED".
    pub gestures: Vec<String>,
    /// zwlr_foreign_toplevel_manager_v1 and its handles: "toplevel:ID",
    /// "title:ID:TEXT", "app_id:ID:TEXT", "state:ID:S,S,..." (0 maximized,
    /// 1 minimized, 2 activated, 3 fullscreen), "done:ID", "closed:ID",
    /// "finished".
    pub wlr_toplevels: Vec<String>,
    /// The handles zwlr_foreign_toplevel_manager_v1 announced, in order.
    pub wlr_handles: Vec<ZwlrForeignToplevelHandleV1>,
}

impl TestClient {
    /// `zwp_tablet_manager_v2.get_tablet_seat` for the client's seat: its
    /// events go to [`AppEvents::tablet`].
    pub fn tablet_seat(&mut self) -> Result<ZwpTabletSeatV2, ClientError> {
        let manager: ZwpTabletManagerV2 = self.bind("zwp_tablet_manager_v2", 1)?;
        let seat = self
            .seat
            .clone()
            .ok_or_else(|| ClientError::Io("no wl_seat".into()))?;
        Ok(manager.get_tablet_seat(&seat, &self.qh, ()))
    }
}

impl TestClient {
    /// Swipe, pinch and hold gestures on a new `wl_pointer` of the client's
    /// seat (`zwp_pointer_gestures_v1`): their events go to
    /// [`AppEvents::gestures`].
    pub fn pointer_gestures(&mut self) -> Result<(), ClientError> {
        let manager: ZwpPointerGesturesV1 = self.bind("zwp_pointer_gestures_v1", 3)?;
        let seat = self
            .seat
            .clone()
            .ok_or_else(|| ClientError::Io("no wl_seat".into()))?;
        let pointer = seat.get_pointer(&self.qh, ());
        manager.get_swipe_gesture(&pointer, &self.qh, ());
        manager.get_pinch_gesture(&pointer, &self.qh, ());
        if manager.version() >= 3 {
            manager.get_hold_gesture(&pointer, &self.qh, ());
        }
        Ok(())
    }
}

impl Dispatch<ZwlrForeignToplevelManagerV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwlrForeignToplevelManagerV1,
        event: zwlr_foreign_toplevel_manager_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            zwlr_foreign_toplevel_manager_v1::Event::Toplevel { toplevel } => {
                app.apps
                    .wlr_toplevels
                    .push(format!("toplevel:{}", toplevel.id().protocol_id()));
                app.apps.wlr_handles.push(toplevel);
            }
            zwlr_foreign_toplevel_manager_v1::Event::Finished => {
                app.apps.wlr_toplevels.push("finished".into())
            }
            _ => {}
        }
    }

    event_created_child!(App, ZwlrForeignToplevelManagerV1, [
        zwlr_foreign_toplevel_manager_v1::EVT_TOPLEVEL_OPCODE => (ZwlrForeignToplevelHandleV1, ()),
    ]);
}

impl Dispatch<ZwlrForeignToplevelHandleV1, ()> for App {
    fn event(
        app: &mut Self,
        h: &ZwlrForeignToplevelHandleV1,
        event: zwlr_foreign_toplevel_handle_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwlr_foreign_toplevel_handle_v1::Event as E;
        let id = h.id().protocol_id();
        let line = match event {
            E::Title { title } => format!("title:{id}:{title}"),
            E::AppId { app_id } => format!("app_id:{id}:{app_id}"),
            E::State { state } => {
                let states: Vec<String> = crate::states_of(&state).iter().map(u32::to_string).collect();
                format!("state:{id}:{}", states.join(","))
            }
            E::Done => format!("done:{id}"),
            E::Closed => format!("closed:{id}"),
            _ => return,
        };
        app.apps.wlr_toplevels.push(line);
    }
}

impl Dispatch<ZwpPointerGestureSwipeV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwpPointerGestureSwipeV1,
        event: zwp_pointer_gesture_swipe_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwp_pointer_gesture_swipe_v1::Event as E;
        let line = match event {
            E::Begin { fingers, .. } => format!("swipe_begin:{fingers}"),
            E::Update { dx, dy, .. } => format!("swipe_update:{},{}", dx.round() as i64, dy.round() as i64),
            E::End { cancelled, .. } => format!("swipe_end:{cancelled}"),
            _ => return,
        };
        app.apps.gestures.push(line);
    }
}

impl Dispatch<ZwpPointerGesturePinchV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwpPointerGesturePinchV1,
        event: zwp_pointer_gesture_pinch_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwp_pointer_gesture_pinch_v1::Event as E;
        let line = match event {
            E::Begin { fingers, .. } => format!("pinch_begin:{fingers}"),
            E::End { cancelled, .. } => format!("pinch_end:{cancelled}"),
            _ => return,
        };
        app.apps.gestures.push(line);
    }
}

impl Dispatch<ZwpPointerGestureHoldV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwpPointerGestureHoldV1,
        event: zwp_pointer_gesture_hold_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwp_pointer_gesture_hold_v1::Event as E;
        let line = match event {
            E::Begin { fingers, .. } => format!("hold_begin:{fingers}"),
            E::End { cancelled, .. } => format!("hold_end:{cancelled}"),
            _ => return,
        };
        app.apps.gestures.push(line);
    }
}

impl Dispatch<ZwpTabletSeatV2, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwpTabletSeatV2,
        event: zwp_tablet_seat_v2::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            zwp_tablet_seat_v2::Event::TabletAdded { .. } => app.apps.tablet.push("tablet_added".into()),
            zwp_tablet_seat_v2::Event::ToolAdded { .. } => app.apps.tablet.push("tool_added".into()),
            _ => {}
        }
    }

    event_created_child!(App, ZwpTabletSeatV2, [
        zwp_tablet_seat_v2::EVT_TABLET_ADDED_OPCODE => (ZwpTabletV2, ()),
        zwp_tablet_seat_v2::EVT_TOOL_ADDED_OPCODE => (ZwpTabletToolV2, ()),
        zwp_tablet_seat_v2::EVT_PAD_ADDED_OPCODE => (ZwpTabletPadV2, ()),
    ]);
}

impl Dispatch<ZwpTabletV2, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwpTabletV2,
        event: zwp_tablet_v2::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            zwp_tablet_v2::Event::Name { name } => app.apps.tablet.push(format!("tablet:{name}")),
            zwp_tablet_v2::Event::Removed => app.apps.tablet.push("tablet_removed".into()),
            _ => {}
        }
    }
}

impl Dispatch<ZwpTabletToolV2, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwpTabletToolV2,
        event: zwp_tablet_tool_v2::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwp_tablet_tool_v2::Event as E;
        let line = match event {
            E::Type { tool_type } => format!("tool_type:{}", u32::from(tool_type)),
            E::Removed => "tool_removed".into(),
            E::ProximityIn { surface, .. } => format!("proximity_in:{}", surface.id().protocol_id()),
            E::ProximityOut => "proximity_out".into(),
            E::Down { .. } => "down".into(),
            E::Up => "up".into(),
            E::Motion { x, y } => format!("motion:{},{}", x.round() as i64, y.round() as i64),
            E::Pressure { pressure } => format!("pressure:{pressure}"),
            E::Button { button, state, .. } => format!("button:{button}:{}", u32::from(state)),
            E::Frame { .. } => "frame".into(),
            _ => return,
        };
        app.apps.tablet.push(line);
    }
}

impl TestClient {
    /// Bind the global `interface` at `version` (at most what is offered).
    pub fn bind<I>(&mut self, interface: &str, version: u32) -> Result<I, ClientError>
    where
        I: Proxy + 'static,
        App: Dispatch<I, ()>,
    {
        let g = self
            .global(interface)
            .cloned()
            .ok_or_else(|| ClientError::Io(format!("{interface} is not offered")))?;
        Ok(self
            .registry
            .bind::<I, (), App>(g.name, version.min(g.version), &self.qh, ()))
    }
}

macro_rules! no_events {
    ($($t:ty),* $(,)?) => {$(
        impl Dispatch<$t, ()> for App {
            fn event(_: &mut Self, _: &$t, _: <$t as Proxy>::Event, _: &(), _: &Connection, _: &QueueHandle<Self>) {}
        }
    )*};
}

no_events!(
    ZwpPointerGesturesV1,
    ZwpTabletManagerV2,
    ZwpTabletPadV2,
    WpFifoManagerV1,
    WpFifoV1,
    WpCommitTimingManagerV1,
    WpCommitTimerV1,
    WpAlphaModifierV1,
    WpAlphaModifierSurfaceV1,
    XdgSystemBellV1,
    ZxdgExporterV2,
    ZxdgImporterV2,
    XdgWmDialogV1,
    XdgDialogV1,
    ZwpKeyboardShortcutsInhibitManagerV1,
    ZwpTextInputManagerV3,
    ZwpInputMethodManagerV2,
    WpFractionalScaleManagerV1,
    WpContentTypeManagerV1,
    WpContentTypeV1,
);

impl Dispatch<WpFractionalScaleV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &WpFractionalScaleV1,
        event: wp_fractional_scale_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wp_fractional_scale_v1::Event::PreferredScale { scale } = event {
            app.apps.preferred_scales.push(scale);
        }
    }
}

impl Dispatch<ExtForeignToplevelListV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &ExtForeignToplevelListV1,
        event: ext_foreign_toplevel_list_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let line = match event {
            ext_foreign_toplevel_list_v1::Event::Toplevel { toplevel } => {
                format!("toplevel:{}", toplevel.id().protocol_id())
            }
            ext_foreign_toplevel_list_v1::Event::Finished => "finished".into(),
            _ => return,
        };
        app.apps.toplevel_list.push(line);
    }

    event_created_child!(App, ExtForeignToplevelListV1, [
        ext_foreign_toplevel_list_v1::EVT_TOPLEVEL_OPCODE => (ExtForeignToplevelHandleV1, ()),
    ]);
}

impl Dispatch<ExtForeignToplevelHandleV1, ()> for App {
    fn event(
        app: &mut Self,
        handle: &ExtForeignToplevelHandleV1,
        event: ext_foreign_toplevel_handle_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use ext_foreign_toplevel_handle_v1::Event;
        let id = handle.id().protocol_id();
        let line = match event {
            Event::Title { title } => format!("title:{id}:{title}"),
            Event::AppId { app_id } => format!("app_id:{id}:{app_id}"),
            Event::Identifier { identifier } => format!("identifier:{id}:{identifier}"),
            Event::Done => format!("done:{id}"),
            Event::Closed => format!("closed:{id}"),
            _ => return,
        };
        app.apps.toplevel_list.push(line);
    }
}

impl Dispatch<ZxdgExportedV2, ()> for App {
    fn event(
        app: &mut Self,
        exported: &ZxdgExportedV2,
        event: zxdg_exported_v2::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zxdg_exported_v2::Event::Handle { handle } = event {
            app.apps.exported.push((exported.id().protocol_id(), handle));
        }
    }
}

impl Dispatch<ZxdgImportedV2, ()> for App {
    fn event(
        app: &mut Self,
        imported: &ZxdgImportedV2,
        event: zxdg_imported_v2::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zxdg_imported_v2::Event::Destroyed = event {
            app.apps.imported_destroyed.push(imported.id().protocol_id());
        }
    }
}

impl Dispatch<ZwpKeyboardShortcutsInhibitorV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwpKeyboardShortcutsInhibitorV1,
        event: zwp_keyboard_shortcuts_inhibitor_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            zwp_keyboard_shortcuts_inhibitor_v1::Event::Active => app.apps.inhibitor.push("active"),
            zwp_keyboard_shortcuts_inhibitor_v1::Event::Inactive => app.apps.inhibitor.push("inactive"),
            _ => {}
        }
    }
}

impl Dispatch<ZwpTextInputV3, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwpTextInputV3,
        event: zwp_text_input_v3::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwp_text_input_v3::Event;
        let line = match event {
            Event::Enter { .. } => "enter".into(),
            Event::Leave { .. } => "leave".into(),
            Event::CommitString { text } => format!("commit_string:{}", text.unwrap_or_default()),
            Event::PreeditString { text, .. } => format!("preedit:{}", text.unwrap_or_default()),
            Event::Done { serial } => format!("done:{serial}"),
            _ => return,
        };
        app.apps.text_input.push(line);
    }
}

impl Dispatch<ZwpInputMethodV2, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwpInputMethodV2,
        event: zwp_input_method_v2::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwp_input_method_v2::Event;
        let line = match event {
            Event::Activate => "activate".into(),
            Event::Deactivate => "deactivate".into(),
            Event::Done => "done".into(),
            Event::Unavailable => "unavailable".into(),
            Event::SurroundingText { text, .. } => format!("surrounding:{text}"),
            _ => return,
        };
        app.apps.input_method.push(line);
    }
}

/// wl_keyboard.key as (key, pressed), for [`AppEvents::keys`].
pub(crate) fn record_key(app: &mut App, key: u32, state: WEnum<wl_keyboard::KeyState>) {
    app.apps
        .keys
        .push((key, matches!(state, WEnum::Value(wl_keyboard::KeyState::Pressed))));
}
