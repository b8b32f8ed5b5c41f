//! Objects smithay handles whole, charged to their client's budget here
//! (`crate::limits`) so that no request makes Quay hold state without a
//! bound. Each wrapper charges before smithay sees the request and gives
//! the charge back when the object is destroyed (which wayland-server
//! also reports for every object of a client that disconnects):
//!
//! | object | charge | given back |
//! |---|---|---|
//! | `xdg_positioner` | one object | its destruction |
//! | `wp_presentation_feedback` | one object | `presented`/`discarded` (a destructor event) or the surface's end |
//! | `wl_data_source`, `zwp_primary_selection_source_v1` | one object, and the bytes of every MIME type it offers | its destruction |
//!
//! A charge that passes a limit disconnects the client (`no_memory`) and
//! the request is not carried out.

use smithay::{
    reexports::{
        wayland_protocols::{
            wp::{
                presentation_time::server::{
                    wp_presentation::{self, WpPresentation},
                    wp_presentation_feedback::WpPresentationFeedback,
                },
                primary_selection::zv1::server::{
                    zwp_primary_selection_device_manager_v1::{self, ZwpPrimarySelectionDeviceManagerV1},
                    zwp_primary_selection_source_v1::{self, ZwpPrimarySelectionSourceV1},
                },
            },
            xdg::shell::server::{
                xdg_positioner::XdgPositioner,
                xdg_wm_base::{self, XdgWmBase},
            },
        },
        wayland_server::{
            backend::ClientId,
            protocol::{
                wl_data_device_manager::{self, WlDataDeviceManager},
                wl_data_source::{self, WlDataSource},
            },
            Client, DataInit, Dispatch, DisplayHandle, Resource,
        },
    },
    wayland::{
        presentation::{PresentationFeedbackState, PresentationState},
        selection::{
            data_device::{DataDeviceState, DataSourceUserData},
            primary_selection::{PrimarySelectionState, PrimarySourceUserData},
        },
        shell::xdg::{XdgPositionerUserData, XdgShellState, XdgWmBaseUserData},
    },
};

use super::budget::{charge_object, charge_with, release_object_by_id, with_budget_of};
use crate::State;

/// Charge one object for a request that creates one; `false`: refused
/// (the client is being disconnected).
fn creates(state: &mut State, client: &Client, what: &'static str, creates: bool) -> bool {
    !creates || charge_object(state, client, what)
}

/// A MIME type offered by a source: its bytes, held by the source.
fn offered(state: &mut State, client: &Client, source: &impl Resource, mime: &str) -> bool {
    let id = source.id();
    let bytes = mime.len() as u64;
    charge_with(state, client, |b| {
        b.try_charge_held_by(&id, "a MIME type offered by a data source", bytes)
    })
}

/// A source is gone: its object and its offers' bytes go back.
fn source_gone(state: &State, client: &ClientId, source: &impl Resource) {
    let dh = &state.core.display_handle;
    release_object_by_id(dh, client);
    with_budget_of(dh, client, |b| b.release_held_by(&source.id()));
}

impl Dispatch<XdgWmBase, XdgWmBaseUserData> for State {
    fn request(
        state: &mut State,
        client: &Client,
        resource: &XdgWmBase,
        request: xdg_wm_base::Request,
        data: &XdgWmBaseUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        state.core.xdg_roles.saw_wm_base(&client.id(), resource);
        if let xdg_wm_base::Request::GetXdgSurface { surface, .. } = &request {
            if let Some((error, why)) = super::xdg_shell::xdg_surface_refusal(surface) {
                resource.post_error(error, why);
                return;
            }
        }
        let positioner = matches!(request, xdg_wm_base::Request::CreatePositioner { .. });
        if !creates(state, client, "an xdg_positioner", positioner) {
            return;
        }
        <XdgShellState as Dispatch<XdgWmBase, XdgWmBaseUserData, State>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }

    fn destroyed(state: &mut State, client: ClientId, resource: &XdgWmBase, data: &XdgWmBaseUserData) {
        state.core.xdg_roles.wm_base_gone(&client, resource);
        <XdgShellState as Dispatch<XdgWmBase, XdgWmBaseUserData, State>>::destroyed(
            state, client, resource, data,
        )
    }
}

impl Dispatch<XdgPositioner, XdgPositionerUserData> for State {
    fn request(
        state: &mut State,
        client: &Client,
        resource: &XdgPositioner,
        request: <XdgPositioner as Resource>::Request,
        data: &XdgPositionerUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        <XdgShellState as Dispatch<XdgPositioner, XdgPositionerUserData, State>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }

    fn destroyed(
        state: &mut State,
        client: ClientId,
        resource: &XdgPositioner,
        data: &XdgPositionerUserData,
    ) {
        release_object_by_id(&state.core.display_handle, &client);
        <XdgShellState as Dispatch<XdgPositioner, XdgPositionerUserData, State>>::destroyed(
            state, client, resource, data,
        )
    }
}

smithay::reexports::wayland_server::delegate_global_dispatch!(State: [WpPresentation: u32] => PresentationState);

impl Dispatch<WpPresentation, u32> for State {
    fn request(
        state: &mut State,
        client: &Client,
        resource: &WpPresentation,
        request: wp_presentation::Request,
        data: &u32,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        let feedback = matches!(request, wp_presentation::Request::Feedback { .. });
        if !creates(state, client, "a wp_presentation_feedback", feedback) {
            return;
        }
        <PresentationState as Dispatch<WpPresentation, u32, State>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }
}

impl Dispatch<WpPresentationFeedback, ()> for State {
    fn request(
        state: &mut State,
        client: &Client,
        resource: &WpPresentationFeedback,
        request: <WpPresentationFeedback as Resource>::Request,
        data: &(),
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        <PresentationFeedbackState as Dispatch<WpPresentationFeedback, (), State>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }

    fn destroyed(state: &mut State, client: ClientId, resource: &WpPresentationFeedback, data: &()) {
        release_object_by_id(&state.core.display_handle, &client);
        <PresentationFeedbackState as Dispatch<WpPresentationFeedback, (), State>>::destroyed(
            state, client, resource, data,
        )
    }
}

impl Dispatch<WlDataDeviceManager, ()> for State {
    fn request(
        state: &mut State,
        client: &Client,
        resource: &WlDataDeviceManager,
        request: wl_data_device_manager::Request,
        data: &(),
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        let source = matches!(request, wl_data_device_manager::Request::CreateDataSource { .. });
        if !creates(state, client, "a wl_data_source", source) {
            return;
        }
        <DataDeviceState as Dispatch<WlDataDeviceManager, (), State>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }
}

impl Dispatch<WlDataSource, DataSourceUserData> for State {
    fn request(
        state: &mut State,
        client: &Client,
        resource: &WlDataSource,
        request: wl_data_source::Request,
        data: &DataSourceUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        if let wl_data_source::Request::Offer { mime_type } = &request {
            if !offered(state, client, resource, mime_type) {
                return;
            }
        }
        <DataDeviceState as Dispatch<WlDataSource, DataSourceUserData, State>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }

    fn destroyed(state: &mut State, client: ClientId, resource: &WlDataSource, data: &DataSourceUserData) {
        source_gone(state, &client, resource);
        <DataDeviceState as Dispatch<WlDataSource, DataSourceUserData, State>>::destroyed(
            state, client, resource, data,
        )
    }
}

impl Dispatch<ZwpPrimarySelectionDeviceManagerV1, ()> for State {
    fn request(
        state: &mut State,
        client: &Client,
        resource: &ZwpPrimarySelectionDeviceManagerV1,
        request: zwp_primary_selection_device_manager_v1::Request,
        data: &(),
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        let source = matches!(
            request,
            zwp_primary_selection_device_manager_v1::Request::CreateSource { .. }
        );
        if !creates(state, client, "a zwp_primary_selection_source_v1", source) {
            return;
        }
        <PrimarySelectionState as Dispatch<ZwpPrimarySelectionDeviceManagerV1, (), State>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }
}

impl Dispatch<ZwpPrimarySelectionSourceV1, PrimarySourceUserData> for State {
    fn request(
        state: &mut State,
        client: &Client,
        resource: &ZwpPrimarySelectionSourceV1,
        request: zwp_primary_selection_source_v1::Request,
        data: &PrimarySourceUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        if let zwp_primary_selection_source_v1::Request::Offer { mime_type } = &request {
            if !offered(state, client, resource, mime_type) {
                return;
            }
        }
        <PrimarySelectionState as Dispatch<ZwpPrimarySelectionSourceV1, PrimarySourceUserData, State>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }

    fn destroyed(
        state: &mut State,
        client: ClientId,
        resource: &ZwpPrimarySelectionSourceV1,
        data: &PrimarySourceUserData,
    ) {
        source_gone(state, &client, resource);
        <PrimarySelectionState as Dispatch<ZwpPrimarySelectionSourceV1, PrimarySourceUserData, State>>::destroyed(
            state, client, resource, data,
        )
    }
}
