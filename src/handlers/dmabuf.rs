//! zwp_linux_dmabuf_v1: import on `create`, answer `created`/`failed`.
//!
//! `zwp_linux_buffer_params_v1` is dispatched here rather than by
//! `delegate_dmabuf!` so that every plane fd a client adds is charged to its
//! budget (`limits.rs`) while the params object holds it; smithay's own code
//! does the rest. Before the renderer sees a buffer, the two checks smithay
//! leaves to the compositor are made as the protocol's XML (v5) asks:
//! a format + modifier pair that was not advertised is `invalid_format`, and
//! a plane count that does not match the format is `incomplete`.

use smithay::{
    backend::allocator::{dmabuf::Dmabuf, Buffer, Fourcc, Modifier},
    reexports::{
        wayland_protocols::wp::linux_dmabuf::zv1::server::{
            zwp_linux_buffer_params_v1::{self, ZwpLinuxBufferParamsV1},
            zwp_linux_dmabuf_feedback_v1::ZwpLinuxDmabufFeedbackV1,
            zwp_linux_dmabuf_v1::ZwpLinuxDmabufV1,
        },
        wayland_server::{
            backend::ClientId, protocol::wl_buffer, Client, DataInit, Dispatch, DisplayHandle, Resource,
        },
    },
    wayland::dmabuf::{
        DmabufData, DmabufFeedbackData, DmabufGlobal, DmabufGlobalData, DmabufHandler, DmabufParamsData,
        DmabufState, ImportNotifier,
    },
};
use tracing::{debug, info, warn};

use crate::{buffer::DmabufFeedbacks, state::Core, State};

/// What a dma-buf `wl_buffer` is charged to its client, (fds, bytes), from
/// `create` until the buffer is destroyed:
/// - two fds a plane: the buffer's own, and the import cache's dup of it
///   (`buffer::import::dup_planes`), which lives while any buffer of that
///   kernel dma-buf does;
/// - the bytes its planes span, plus the XRGB copy Quay makes of a format
///   it converts (YUYV: twice the buffer's own size).
pub(crate) fn dmabuf_charge(dmabuf: &Dmabuf) -> (u64, u64) {
    let h = u64::from(dmabuf.height());
    let planes = dmabuf
        .offsets()
        .zip(dmabuf.strides())
        .map(|(o, s)| u64::from(o).saturating_add(u64::from(s).saturating_mul(h)))
        .fold(0u64, u64::saturating_add);
    let converted = if crate::buffer::pixman::CONVERTED.contains(&dmabuf.format().code) {
        u64::from(dmabuf.width()).saturating_mul(h).saturating_mul(4)
    } else {
        0
    };
    (2 * dmabuf.num_planes() as u64, planes.saturating_add(converted))
}

/// Planes of a format's linear layout; `None` for formats Quay does not
/// know (no check is made then).
fn linear_planes(format: Fourcc) -> Option<usize> {
    use Fourcc::*;
    match format {
        Xrgb8888 | Argb8888 | Xbgr8888 | Abgr8888 | Rgbx8888 | Rgba8888 | Bgrx8888 | Bgra8888 | Rgb565
        | Xrgb2101010 | Argb2101010 | Xbgr2101010 | Abgr2101010 | Xrgb16161616f | Argb16161616f
        | Xbgr16161616f | Abgr16161616f | Rgb888 | Bgr888 | Yuyv | Yvyu | Uyvy | Vyuy | R8 | Gr88 => Some(1),
        Nv12 | Nv21 | Nv16 | Nv61 | P010 | P012 | P016 => Some(2),
        Yuv420 | Yvu420 | Yuv422 | Yvu422 | Yuv444 | Yvu444 => Some(3),
        _ => None,
    }
}

impl DmabufHandler for State {
    fn dmabuf_state(&mut self) -> &mut DmabufState {
        &mut self.core.dmabuf.state
    }

    fn dmabuf_imported(&mut self, _global: &DmabufGlobal, dmabuf: Dmabuf, notifier: ImportNotifier) {
        let format = dmabuf.format();
        if !self
            .core
            .dmabuf
            .advertised
            .contains(&(format.code as u32, u64::from(format.modifier)))
        {
            debug!(?format, "dma-buf format + modifier was not advertised");
            self.core.stats.dmabuf_params_failed_total += 1;
            notifier.invalid_format();
            return;
        }
        if matches!(format.modifier, Modifier::Linear | Modifier::Invalid) {
            if let Some(want) = linear_planes(format.code) {
                if dmabuf.num_planes() != want {
                    debug!(?format, planes = dmabuf.num_planes(), want, "dma-buf plane count");
                    self.core.stats.dmabuf_params_failed_total += 1;
                    notifier.incomplete();
                    return;
                }
            }
        }
        let client = notifier.client();
        if let Some(client) = &client {
            let (fds, bytes) = dmabuf_charge(&dmabuf);
            if !super::budget::charge(self, client, "a dma-buf wl_buffer", fds, bytes) {
                // Disconnected: dropping the notifier answers nothing more.
                return;
            }
        }
        match self.backend.import_dmabuf(&dmabuf) {
            Ok(()) => {
                // `successful` fails only if the client is already gone.
                if notifier.successful::<State>().is_ok() {
                    self.core.stats.dmabuf_params_created_total += 1;
                }
            }
            Err(err) => {
                debug!(%err, format = ?dmabuf.format(), "dma-buf import failed");
                self.core.stats.dmabuf_params_failed_total += 1;
                self.core.stats.dmabuf_failed.record(&err);
                // No wl_buffer: give its charge back.
                if let Some(b) = client.as_ref().and_then(super::budget::budget) {
                    let (fds, bytes) = dmabuf_charge(&dmabuf);
                    b.release(fds, bytes);
                }
                // `create`: sends `failed`; `create_immed`: the protocol's
                // invalid_wl_buffer error (smithay-0.7.0
                // src/wayland/dmabuf/mod.rs:957).
                notifier.failed();
            }
        }
    }
}

// delegate_dmabuf! less the params object (below).
smithay::reexports::wayland_server::delegate_global_dispatch!(State: [ZwpLinuxDmabufV1: DmabufGlobalData] => DmabufState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [ZwpLinuxDmabufV1: DmabufData] => DmabufState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [wl_buffer::WlBuffer: Dmabuf] => DmabufState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [ZwpLinuxDmabufFeedbackV1: DmabufFeedbackData] => DmabufState);

impl State {
    /// Give back what a params object's planes were charged.
    fn release_params(&mut self, client: &ClientId, params: &ZwpLinuxBufferParamsV1) {
        if let Some(n) = self.core.dmabuf.params_fds.remove(&params.id()) {
            super::budget::release_by_id(&self.core.display_handle, client, n, 0);
        }
    }
}

impl Dispatch<ZwpLinuxBufferParamsV1, DmabufParamsData> for State {
    fn request(
        state: &mut State,
        client: &Client,
        params: &ZwpLinuxBufferParamsV1,
        request: zwp_linux_buffer_params_v1::Request,
        data: &DmabufParamsData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        match &request {
            zwp_linux_buffer_params_v1::Request::Add { .. } => {
                if !super::budget::charge(state, client, "a dma-buf plane", 1, 0) {
                    return;
                }
                *state.core.dmabuf.params_fds.entry(params.id()).or_default() += 1;
            }
            // smithay posts invalid_dimensions for a width or height < 1 and
            // goes on to build a `Dmabuf` of that size (smithay-0.7.0
            // src/wayland/dmabuf/mod.rs:1128-1202), a negative `Size` that is
            // a debug assertion in Quay (found by tests/fuzz.rs): answer it
            // here and stop.
            zwp_linux_buffer_params_v1::Request::Create { width, height, .. }
            | zwp_linux_buffer_params_v1::Request::CreateImmed { width, height, .. }
                if *width < 1 || *height < 1 =>
            {
                params.post_error(
                    zwp_linux_buffer_params_v1::Error::InvalidDimensions,
                    format!("invalid size {width}x{height}"),
                );
                return;
            }
            // The planes move into the buffer (charged in dmabuf_imported)
            // or are closed: either way the params object holds them no more.
            zwp_linux_buffer_params_v1::Request::Create { .. }
            | zwp_linux_buffer_params_v1::Request::CreateImmed { .. } => {
                state.release_params(&client.id(), params)
            }
            _ => {}
        }
        <DmabufState as Dispatch<ZwpLinuxBufferParamsV1, DmabufParamsData, State>>::request(
            state, client, params, request, data, dh, data_init,
        )
    }

    fn destroyed(
        state: &mut State,
        client: ClientId,
        params: &ZwpLinuxBufferParamsV1,
        data: &DmabufParamsData,
    ) {
        // A client that is already gone took its budget with it; the entry
        // goes either way.
        state.release_params(&client, params);
        <DmabufState as Dispatch<ZwpLinuxBufferParamsV1, DmabufParamsData, State>>::destroyed(
            state, client, params, data,
        )
    }
}

/// linux-dmabuf's state beside smithay's: the global, the feedback it sends,
/// what it advertises, and the planes of params still being built.
#[derive(Debug)]
pub struct DmabufGlue {
    pub state: DmabufState,
    /// Created once the backend knows its renderer's formats
    /// ([`Core::init_dmabuf`]).
    pub global: Option<DmabufGlobal>,
    pub feedbacks: Option<crate::buffer::DmabufFeedbacks>,
    /// (fourcc, modifier) pairs the feedback advertises.
    pub advertised: std::collections::HashSet<(u32, u64)>,
    /// Planes added to each live `zwp_linux_buffer_params_v1`, charged to
    /// its client until `create` or destroy.
    pub params_fds: std::collections::HashMap<smithay::reexports::wayland_server::backend::ObjectId, u64>,
}

impl Default for DmabufGlue {
    fn default() -> Self {
        DmabufGlue {
            state: DmabufState::new(),
            global: None,
            feedbacks: None,
            advertised: Default::default(),
            params_fds: Default::default(),
        }
    }
}

impl Core {
    /// Create the `zwp_linux_dmabuf_v1` global for the renderer's formats:
    /// version 5, with default and per-surface feedback naming
    /// `main_device`, or, with no DRM device to name, version 3 (formats and
    /// modifiers as events, no feedback), which smithay's `create_global`
    /// offers (smithay-0.7.0 src/wayland/dmabuf/mod.rs:598-618).
    pub fn init_dmabuf(
        &mut self,
        formats: Vec<smithay::backend::allocator::Format>,
        main_device: Option<(libc::dev_t, Option<std::path::PathBuf>)>,
        surface: Option<smithay::wayland::dmabuf::DmabufFeedback>,
    ) {
        if formats.is_empty() {
            warn!("the renderer can import no dma-buf format; not advertising linux-dmabuf");
            return;
        }
        // Every tranche (the udev scanout tranche too) lists a subset of
        // these: what a buffer's format + modifier is checked against.
        self.dmabuf.advertised = formats
            .iter()
            .map(|f| (f.code as u32, u64::from(f.modifier)))
            .collect();
        let Some((main_device, node)) = main_device else {
            info!("linux-dmabuf v3: no DRM device to name as the feedback's main device");
            let global = self
                .dmabuf
                .state
                .create_global::<State>(&self.display_handle, formats);
            self.dmabuf.global = Some(global);
            return;
        };
        let feedback =
            match smithay::wayland::dmabuf::DmabufFeedbackBuilder::new(main_device, formats).build() {
                Ok(f) => f,
                Err(err) => {
                    // Building writes the format table to a sealed memfd; failing
                    // that means no memfd, so no linux-dmabuf.
                    warn!("cannot build dma-buf feedback: {err}; not advertising linux-dmabuf");
                    return;
                }
            };
        info!(main_device = ?node, "linux-dmabuf v5 with feedback");
        let global = self
            .dmabuf
            .state
            .create_global_with_default_feedback::<State>(&self.display_handle, &feedback);
        self.dmabuf.global = Some(global);
        self.dmabuf.feedbacks = Some(DmabufFeedbacks {
            default: feedback,
            surface,
            main_device_node: node,
        });
    }
}
