//! `zwlr_export_dmabuf_manager_v1` (version 1): hand a client the dma-buf of
//! the buffer an output shows, without a copy (OBS's wlrobs and other
//! capture tools speak it). This is the protocol through which Quay's own
//! buffers reach clients, so it is where the export cache shows: an output's
//! scanout buffer is exported once while the export lives
//! (`crate::buffer::kms`), whatever the number of captures, and a client that
//! sends it back through linux-dmabuf gets the original object.
//!
//! Protocol half only. A capture is answered at once with what the output
//! shows now: `frame`, one `object` per plane, `ready`; or `cancel`. The
//! frames are `transient`: the buffer is one of the output's swapchain
//! buffers and Quay draws into it again later, so a client copies it before
//! it processes it. The protocol has no errors of its own.

use std::os::fd::OwnedFd;

use smithay::{
    output::Output,
    reexports::{
        wayland_protocols_wlr::export_dmabuf::v1::server::{
            zwlr_export_dmabuf_frame_v1::{self, ZwlrExportDmabufFrameV1},
            zwlr_export_dmabuf_manager_v1::{self, ZwlrExportDmabufManagerV1},
        },
        wayland_server::{backend::GlobalId, Client, DataInit, Dispatch, DisplayHandle, GlobalDispatch, New},
    },
};

/// The global.
#[derive(Debug)]
pub struct ExportDmabufState {
    global: GlobalId,
}

impl ExportDmabufState {
    /// `filter`: which clients see the global (all but sandboxed ones).
    pub fn new<D>(
        dh: &DisplayHandle,
        filter: impl Fn(&Client) -> bool + Send + Sync + 'static,
    ) -> ExportDmabufState
    where
        D: GlobalDispatch<ZwlrExportDmabufManagerV1, super::GlobalFilter>
            + Dispatch<ZwlrExportDmabufManagerV1, ()>
            + Dispatch<ZwlrExportDmabufFrameV1, ()>
            + ExportDmabufHandler
            + 'static,
    {
        ExportDmabufState {
            global: dh
                .create_global::<D, ZwlrExportDmabufManagerV1, _>(1, super::GlobalFilter(Box::new(filter))),
        }
    }

    pub fn global(&self) -> GlobalId {
        self.global.clone()
    }
}

/// One plane of an exported frame.
#[derive(Debug)]
pub struct ExportedPlane {
    /// The compositor's export; wayland sends a dup of it.
    pub fd: OwnedFd,
    /// Size of the whole dma-buf.
    pub size: u32,
    pub offset: u32,
    pub stride: u32,
}

/// What a capture hands out.
#[derive(Debug)]
pub struct ExportedFrame {
    pub width: u32,
    pub height: u32,
    pub fourcc: u32,
    pub modifier: u64,
    pub planes: Vec<ExportedPlane>,
    /// When the frame was presented (CLOCK_MONOTONIC).
    pub presented: std::time::Duration,
}

/// What the compositor provides.
pub trait ExportDmabufHandler {
    /// The output's current buffer, or why there is none.
    fn export_output(
        &mut self,
        output: &Output,
    ) -> Result<ExportedFrame, zwlr_export_dmabuf_frame_v1::CancelReason>;
}

impl<D> GlobalDispatch<ZwlrExportDmabufManagerV1, super::GlobalFilter, D> for ExportDmabufState
where
    D: GlobalDispatch<ZwlrExportDmabufManagerV1, super::GlobalFilter>
        + Dispatch<ZwlrExportDmabufManagerV1, ()>
        + Dispatch<ZwlrExportDmabufFrameV1, ()>
        + ExportDmabufHandler
        + 'static,
{
    fn bind(
        _state: &mut D,
        _dh: &DisplayHandle,
        _client: &Client,
        resource: New<ZwlrExportDmabufManagerV1>,
        _global_data: &super::GlobalFilter,
        data_init: &mut DataInit<'_, D>,
    ) {
        data_init.init(resource, ());
    }

    fn can_view(client: Client, global_data: &super::GlobalFilter) -> bool {
        (global_data.0)(&client)
    }
}

impl<D> Dispatch<ZwlrExportDmabufManagerV1, (), D> for ExportDmabufState
where
    D: Dispatch<ZwlrExportDmabufManagerV1, ()>
        + Dispatch<ZwlrExportDmabufFrameV1, ()>
        + ExportDmabufHandler
        + 'static,
{
    fn request(
        state: &mut D,
        _client: &Client,
        _resource: &ZwlrExportDmabufManagerV1,
        request: zwlr_export_dmabuf_manager_v1::Request,
        _data: &(),
        _dh: &DisplayHandle,
        data_init: &mut DataInit<'_, D>,
    ) {
        let zwlr_export_dmabuf_manager_v1::Request::CaptureOutput { frame, output, .. } = request else {
            return;
        };
        let frame = data_init.init(frame, ());
        let Some(output) = Output::from_resource(&output) else {
            frame.cancel(zwlr_export_dmabuf_frame_v1::CancelReason::Permanent);
            return;
        };
        match state.export_output(&output) {
            Ok(f) => {
                frame.frame(
                    f.width,
                    f.height,
                    0,
                    0,
                    0,
                    zwlr_export_dmabuf_frame_v1::Flags::Transient,
                    f.fourcc,
                    (f.modifier >> 32) as u32,
                    f.modifier as u32,
                    f.planes.len() as u32,
                );
                for (i, p) in f.planes.iter().enumerate() {
                    frame.object(
                        i as u32,
                        std::os::fd::AsFd::as_fd(&p.fd),
                        p.size,
                        p.offset,
                        p.stride,
                        i as u32,
                    );
                }
                let secs = f.presented.as_secs();
                frame.ready((secs >> 32) as u32, secs as u32, f.presented.subsec_nanos());
            }
            Err(reason) => frame.cancel(reason),
        }
    }
}

impl<D> Dispatch<ZwlrExportDmabufFrameV1, (), D> for ExportDmabufState
where
    D: Dispatch<ZwlrExportDmabufFrameV1, ()> + 'static,
{
    fn request(
        _state: &mut D,
        _client: &Client,
        _resource: &ZwlrExportDmabufFrameV1,
        _request: zwlr_export_dmabuf_frame_v1::Request,
        _data: &(),
        _dh: &DisplayHandle,
        _data_init: &mut DataInit<'_, D>,
    ) {
        // `destroy` only; the fds were the client's from the `object` event.
    }
}
