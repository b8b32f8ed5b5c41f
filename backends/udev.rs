//! Udev backend: Quay as a session compositor on KMS.
//!
//! - **Session**: libseat (seatd, logind). Device fds come from the session;
//!   on pause (VT switch) the DRM device is paused and libinput suspended, on
//!   resume both come back and every output is redrawn from scratch.
//! - **Device**: one DRM device (the seat's primary GPU, or `--drm-device`).
//!   Atomic modesetting through smithay's `DrmCompositor`, one per connected
//!   connector, which also places client dma-bufs directly on planes when a
//!   plane accepts them (vkms does; virtio_gpu only scans out its own
//!   buffers and the compositor falls back to composition).
//! - **Renderer**: GLES (smithay's `GlesRenderer` on the device's GBM EGL
//!   display) when the device's EGL is hardware, or when `--renderer gles`
//!   asks for it; pixman otherwise (`renderer = "auto"` on kms_swrast). Both
//!   draw through Quay's import cache (`crate::buffer::import`), into the same
//!   GBM-allocated linear scanout buffers. With pixman, client dma-bufs are
//!   imported by mmap (`DMA_BUF_IOCTL_SYNC` brackets the reads), which works
//!   for every dma-buf kind the kernel has (virtio, vgem, vkms, udmabuf,
//!   dma-heaps); with GLES on a hardware device they become EGLImages, and on
//!   a software one (llvmpipe segfaults on foreign buffers imported through
//!   EGL, seen in the VM suite) they are uploaded from their mapping.
//! - **Frame clock**: the page flip. A frame is rendered, queued, and when
//!   the kernel's vblank event arrives its presentation feedback is answered
//!   with the kernel's timestamp and sequence. A frame with no damage is not
//!   queued; the output is re-checked one refresh later.
//! - **Scanout buffers**: GBM BOs allocated `LINEAR` and exported read-write
//!   (`backends/linear.rs`), so pixman can write them through mmap; GLES
//!   renders into the same buffers (one allocator, one GEM table, one export
//!   cache for both engines; tiled scanout buffers for GLES are not done).
//! - **Framebuffers and GEM handles**: `src/buffer/kms.rs`. One table per
//!   device fd owns every GEM handle Quay holds on it (its own GBM BOs'
//!   included) and gives each client dma-buf identity one framebuffer, shared
//!   by every `wl_buffer` and output showing it (`[udev] direct_scanout`).

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::Duration,
};

use smithay::{
    backend::{
        allocator::{dmabuf::Dmabuf, gbm::GbmDevice, Format, Fourcc},
        drm::{
            compositor::{DrmCompositor, FrameFlags},
            DrmDevice, DrmDeviceFd, DrmEvent, DrmEventMetadata, DrmEventTime, DrmNode, NodeType,
        },
        egl::{EGLContext, EGLDevice, EGLDisplay},
        libinput::{LibinputInputBackend, LibinputSessionInterface},
        renderer::{
            damage::OutputDamageTracker,
            gles::{GlesRenderbuffer, GlesRenderer},
            Bind, ImportDma, Offscreen,
        },
        session::{libseat::LibSeatSession, Event as SessionEvent, Session},
        udev::{all_gpus, primary_gpu, UdevBackend, UdevEvent},
    },
    desktop::utils::OutputPresentationFeedback,
    output::{Mode as WlMode, Output, PhysicalProperties, Subpixel},
    reexports::{
        calloop::{
            timer::{TimeoutAction, Timer},
            RegistrationToken,
        },
        drm::control::{connector, crtc, Device as ControlDevice, ModeTypeFlags},
        input::Libinput,
        rustix::fs::OFlags,
        wayland_protocols::wp::presentation_time::server::wp_presentation_feedback,
    },
    utils::{DeviceFd, Physical, Rectangle, Transform},
    wayland::dmabuf::DmabufFeedbackBuilder,
};
use tracing::{debug, info, warn};

type ExportCancel = smithay::reexports::wayland_protocols_wlr::export_dmabuf::v1::server::zwlr_export_dmabuf_frame_v1::CancelReason;

use super::{
    cursor_plane::CursorPlane,
    linear::{FrontBuffer, LinearAllocator, QuayExporter},
    Screenshot,
};
use crate::{
    backends::RendererKind,
    buffer::{
        gles::{renderer_is_software, GlesQuay},
        import::Imports,
        kms::KmsBuffers,
        pixman::PixmanQuay,
    },
    render::{frame_presented, frame_rendered, frame_skipped, render_space, Presentation, Rendered},
    state::Core,
    State,
};

/// The engine the device draws with.
enum Engines {
    Pixman(Box<PixmanQuay>),
    Gles(Box<GlesQuay>),
}

/// `$body` with `$r` bound to the engine's `QuayRenderer`, whichever it is:
/// the same code for both, each arm compiled for its concrete type.
macro_rules! with_engine {
    ($e:expr, $r:ident => $body:expr) => {
        match $e {
            Engines::Pixman($r) => $body,
            Engines::Gles($r) => $body,
        }
    };
}

/// A GLES renderer on the device's GBM EGL display.
fn gles_on(gbm: &GbmDevice<DrmDeviceFd>) -> anyhow::Result<GlesRenderer> {
    // SAFETY: the display keeps its own clone of the GBM device.
    let display = unsafe { EGLDisplay::new(gbm.clone()) }.map_err(|e| anyhow::anyhow!("EGL display: {e}"))?;
    let context = EGLContext::new(&display).map_err(|e| anyhow::anyhow!("EGL context: {e}"))?;
    // SAFETY: the context is new and used only by this renderer.
    unsafe { GlesRenderer::new(context) }.map_err(|e| anyhow::anyhow!("GLES renderer: {e:?}"))
}

type Compositor = DrmCompositor<LinearAllocator, QuayExporter, FrameFeedback, DrmDeviceFd>;

/// The presentation feedback of a queued frame: filled in right after the
/// frame is queued (`render_crtc`), taken at its flip. smithay keeps
/// `queue_frame`'s user data with the frame and hands it back from
/// `frame_submitted` (smithay-0.7.0 src/backend/drm/compositor/mod.rs:2433,
/// :2604) with no way to change it in between, hence the shared cell.
type FrameFeedback = std::rc::Rc<std::cell::RefCell<Option<OutputPresentationFeedback>>>;

/// What an output's primary plane shows.
#[derive(Debug, Clone)]
enum Front {
    /// One of Quay's swapchain buffers.
    Ours(FrontBuffer),
    /// A client buffer scanned out directly, or an overlay plane in use:
    /// our buffer does not hold the whole picture.
    Client,
}

struct UdevOutput {
    output: Output,
    /// Its `wl_output` global, removed when the connector goes (smithay
    /// keeps a global until it is removed: a re-plugged connector would
    /// otherwise be advertised twice, and the old global keep the `Output`).
    global: smithay::reexports::wayland_server::backend::GlobalId,
    /// The primary plane's buffer of the frame waiting for its flip, and of
    /// the last flipped one, with its flip time (`zwlr_export_dmabuf_v1`).
    queued: Option<Front>,
    front: Option<(Front, Duration)>,
    compositor: Compositor,
    connector: connector::Handle,
    /// A frame is queued and its page flip has not arrived yet.
    pending_flip: bool,
    /// The vblank the queued frame was started for (`vblanks_missed_total`).
    target_vblank: Option<Duration>,
    /// The timer of the next repaint slot is armed.
    redraw_timer: Option<RegistrationToken>,
    /// When the coming frame should start: its repaint slot, or when it was
    /// asked for at once. The frame clock learns the lead a frame needs from
    /// it to the frame queued, the event loop's wake-up included.
    slot: Option<Duration>,
    refresh: Duration,
    /// The CRTC's cursor plane, which Quay drives (backends/cursor_plane.rs).
    cursor: Option<CursorPlane>,
    /// Whether anything changed since the last frame drawn.
    changes: super::SceneChanges,
    /// The connector's modes (wl_output and wlr-randr list them all).
    modes: Vec<smithay::reexports::drm::control::Mode>,
}

/// The connector mode `want` names: its size, and the refresh nearest
/// `want.refresh` (unset: the preferred one of that size, else the fastest).
fn connector_mode(
    modes: &[smithay::reexports::drm::control::Mode],
    want: quay_config::OutputMode,
) -> Option<smithay::reexports::drm::control::Mode> {
    let sized: Vec<_> = modes
        .iter()
        .copied()
        .filter(|m| (u32::from(m.size().0), u32::from(m.size().1)) == (want.width, want.height))
        .collect();
    match want.refresh_mhz() {
        Some(hz) => sized
            .into_iter()
            .min_by_key(|m| (WlMode::from(*m).refresh - hz).unsigned_abs()),
        None => sized
            .iter()
            .find(|m| m.mode_type().contains(ModeTypeFlags::PREFERRED))
            .or_else(|| sized.iter().max_by_key(|m| WlMode::from(**m).refresh))
            .copied(),
    }
}

pub struct Udev {
    session: LibSeatSession,
    libinput: Libinput,
    node: DrmNode,
    /// The node clients should allocate on: the device's render node, or the
    /// card itself when it has none (vkms).
    client_node: DrmNode,
    drm: DrmDevice,
    gbm: GbmDevice<DrmDeviceFd>,
    allocator: LinearAllocator,
    exporter: QuayExporter,
    renderer: Engines,
    outputs: HashMap<crtc::Handle, UdevOutput>,
    active: bool,
    /// libinput's devices, for `[input]` on reload.
    input_devices: Vec<smithay::reexports::input::Device>,
}

/// `[input]` on one libinput device: what it supports of it. libinput
/// answers Unsupported/Invalid for the rest, which is logged at debug.
fn configure_input_device(device: &mut smithay::reexports::input::Device, input: &quay_config::Input) {
    use quay_config::AccelProfile;
    use smithay::reexports::input::AccelProfile as Profile;
    let name = device.name().to_owned();
    let mut results = Vec::new();
    if device.config_accel_is_available() {
        let profile = match input.accel_profile {
            AccelProfile::Device => device.config_accel_default_profile(),
            AccelProfile::Adaptive => Some(Profile::Adaptive),
            AccelProfile::Flat => Some(Profile::Flat),
        };
        if let Some(p) = profile {
            results.push(("accel_profile", device.config_accel_set_profile(p)));
        }
        results.push(("accel_speed", device.config_accel_set_speed(input.accel_speed.0)));
    }
    if device.config_scroll_has_natural_scroll() {
        results.push((
            "natural_scroll",
            device.config_scroll_set_natural_scroll_enabled(input.natural_scroll),
        ));
    }
    if device.config_tap_finger_count() > 0 {
        results.push(("tap_to_click", device.config_tap_set_enabled(input.tap_to_click)));
    }
    for (what, result) in &results {
        if let Err(err) = result {
            debug!(device = name, what, ?err, "input setting not applied");
        }
    }
    info!(
        device = name,
        settings = ?results.iter().filter(|(_, r)| r.is_ok()).map(|(w, _)| *w).collect::<Vec<_>>(),
        "input device configured"
    );
}

/// Whether Mesa's EGL on this GBM device is software (kms_swrast/llvmpipe);
/// None if EGL does not come up at all.
fn egl_is_software(gbm: &GbmDevice<DrmDeviceFd>) -> Option<bool> {
    // SAFETY: the GBM device outlives the display, which is dropped here.
    let display = match unsafe { EGLDisplay::new(gbm.clone()) } {
        Ok(d) => d,
        Err(err) => {
            warn!("no EGL on this device: {err}");
            return None;
        }
    };
    EGLDevice::device_for_display(&display)
        .ok()
        .map(|d| d.is_software())
}

fn open_device(session: &mut LibSeatSession, path: &Path) -> anyhow::Result<DrmDeviceFd> {
    let fd = session
        .open(
            path,
            OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        )
        .map_err(|e| anyhow::anyhow!("session cannot open {}: {e}", path.display()))?;
    Ok(DrmDeviceFd::new(DeviceFd::from(fd)))
}

impl Udev {
    pub fn new(core: &mut Core, drm_device: Option<&Path>, choice: RendererKind) -> anyhow::Result<Udev> {
        let (mut session, notifier) = LibSeatSession::new()
            .map_err(|e| anyhow::anyhow!("no libseat session (is seatd or logind running?): {e}"))?;
        let seat = session.seat();

        let path: PathBuf = match drm_device {
            Some(p) => p.to_owned(),
            None => primary_gpu(&seat)
                .ok()
                .flatten()
                .or_else(|| all_gpus(&seat).ok().and_then(|g| g.into_iter().next()))
                .ok_or_else(|| anyhow::anyhow!("no DRM device on seat {seat}"))?,
        };
        let fd = open_device(&mut session, &path)?;
        let node = DrmNode::from_file(std::os::fd::AsFd::as_fd(&fd))
            .map_err(|e| anyhow::anyhow!("{} is not a DRM node: {e}", path.display()))?;
        let client_node = node
            .node_with_type(NodeType::Render)
            .and_then(Result::ok)
            .unwrap_or(node);
        info!(device = %path.display(), ?client_node, "udev backend");

        if smithay::wayland::drm_syncobj::supports_syncobj_eventfd(&fd) {
            let state = smithay::wayland::drm_syncobj::DrmSyncobjState::new::<State>(
                &core.display_handle,
                fd.clone(),
            );
            core.syncobj_state = Some(state);
            info!("wp_linux_drm_syncobj_v1: the device waits on syncobjs with an eventfd");
        } else {
            info!("no syncobj eventfd on this device: wp_linux_drm_syncobj_v1 is not offered");
        }
        // Off by default: the export is read-write (config/default-config.toml).
        if core.config.udev.export_dmabuf {
            core.capture.export_dmabuf =
                Some(crate::protocols::export_dmabuf::ExportDmabufState::new::<State>(
                    &core.display_handle,
                    crate::state::privileged,
                ));
            info!("zwlr_export_dmabuf_manager_v1 is offered ([udev] export_dmabuf)");
        }
        let (drm, notifier_drm) =
            DrmDevice::new(fd.clone(), true).map_err(|e| anyhow::anyhow!("DRM device: {e}"))?;
        // Paravirtualized devices show an atomic client their cursor plane
        // only with this cap (backends/cursor_plane.rs); others refuse it
        // (EINVAL), which changes nothing.
        if let Err(err) = smithay::reexports::drm::Device::set_client_capability(
            &fd,
            smithay::reexports::drm::ClientCapability::CursorPlaneHotspot,
            true,
        ) {
            debug!("no cursor plane hotspot cap: {err}");
        }
        let gbm = GbmDevice::new(fd.clone()).map_err(|e| anyhow::anyhow!("GBM device: {e}"))?;
        // pixman writes the scanout buffers through mmap (backends/linear.rs).
        let table = KmsBuffers::new(fd.clone());
        let allocator = LinearAllocator::new(gbm.clone(), table.clone());
        let exporter = QuayExporter {
            table,
            direct_scanout: core.config.udev.direct_scanout,
        };
        let budget = crate::buffer::budget(&core.config.memory);
        let software = egl_is_software(&gbm);
        info!(?software, "EGL on this device");
        let want_gles = match choice {
            RendererKind::Gles => true,
            RendererKind::Pixman => false,
            // KWin's choice: its own software painter rather than llvmpipe.
            RendererKind::Auto => software == Some(false),
        };
        let gles = if want_gles {
            match gles_on(&gbm) {
                Ok(mut r) => {
                    let cpu = software != Some(false) || renderer_is_software(&mut r);
                    info!(software = cpu, "GLES on this device");
                    // A software device gets no client dma-bufs through EGL.
                    Some(GlesQuay::new_gles(r, budget, !cpu))
                }
                Err(e) if choice == RendererKind::Gles => {
                    anyhow::bail!("renderer gles: GLES does not start on this device ({e:#})")
                }
                Err(e) => {
                    warn!("GLES does not start on this device ({e:#}); falling back to pixman");
                    None
                }
            }
        } else {
            None
        };
        let mut renderer = match gles {
            Some(r) => Engines::Gles(Box::new(r)),
            None => Engines::Pixman(Box::new(
                PixmanQuay::new_pixman(budget).map_err(|e| anyhow::anyhow!("pixman renderer: {e:?}"))?,
            )),
        };
        // Software EGL means GBM on this device hands out dumb buffers: an
        // implicit modifier is linear here (buffer/pixman.rs).
        with_engine!(&mut renderer, r => r.set_implicit_is_linear(software == Some(true)));

        core.loop_handle
            .insert_source(notifier_drm, |event, metadata, state| match event {
                DrmEvent::VBlank(crtc) => state.udev_vblank(crtc, metadata.take()),
                DrmEvent::Error(err) => warn!("DRM event error: {err}"),
            })
            .map_err(|e| anyhow::anyhow!("cannot register the DRM device: {e}"))?;

        let mut libinput =
            Libinput::new_with_udev::<LibinputSessionInterface<LibSeatSession>>(session.clone().into());
        if libinput.udev_assign_seat(&seat).is_err() {
            warn!("libinput cannot use seat {seat}; no input devices");
        }
        core.loop_handle
            .insert_source(LibinputInputBackend::new(libinput.clone()), |event, _, state| {
                use smithay::backend::input::InputEvent;
                match &event {
                    InputEvent::DeviceAdded { device } => {
                        let input = state.core.config.input.clone();
                        if let Some(u) = state.backend.udev() {
                            let mut device = device.clone();
                            configure_input_device(&mut device, &input);
                            u.input_devices.push(device);
                        }
                    }
                    InputEvent::DeviceRemoved { device } => {
                        if let Some(u) = state.backend.udev() {
                            u.input_devices.retain(|d| d != device);
                        }
                    }
                    _ => {}
                }
                state.process_input_event(event)
            })
            .map_err(|e| anyhow::anyhow!("cannot register libinput: {e}"))?;

        core.loop_handle
            .insert_source(notifier, |event, _, state| state.udev_session_event(event))
            .map_err(|e| anyhow::anyhow!("cannot register the session: {e}"))?;

        // Hotplug: a connector change on our device rescans connectors.
        match UdevBackend::new(&seat) {
            Ok(udev) => {
                core.loop_handle
                    .insert_source(udev, move |event, _, state| {
                        if let UdevEvent::Changed { device_id } = event {
                            let State { backend, core } = state;
                            if let Some(u) = backend.udev() {
                                if device_id == u.node.dev_id() {
                                    u.scan_connectors(core);
                                }
                            }
                        }
                    })
                    .map_err(|e| anyhow::anyhow!("cannot register udev: {e}"))?;
            }
            Err(err) => warn!("no udev monitor, connector hotplug is off: {err}"),
        }

        let mut udev = Udev {
            session,
            libinput,
            node,
            client_node,
            drm,
            gbm,
            allocator,
            exporter,
            renderer,
            outputs: HashMap::new(),
            input_devices: Vec::new(),
            active: true,
        };
        udev.scan_connectors(core);
        if udev.outputs.is_empty() {
            warn!("no connected connector on {}", path.display());
        }
        Ok(udev)
    }

    /// The dma-buf main device and a scanout tranche for the feedback.
    pub fn main_device(&self) -> Option<(libc::dev_t, Option<PathBuf>)> {
        Some((self.client_node.dev_id(), self.client_node.dev_path()))
    }

    pub fn dmabuf_formats(&mut self) -> Vec<Format> {
        with_engine!(&self.renderer, r => r.dmabuf_formats().into_iter().collect())
    }

    /// Formats the primary planes scan out, for the feedback's scanout tranche.
    pub fn scanout_formats(&self) -> Vec<Format> {
        let renderer: Vec<Format> =
            with_engine!(&self.renderer, r => r.dmabuf_formats().into_iter().collect());
        let mut out = Vec::new();
        for crtc in self.outputs.keys() {
            let Ok(planes) = self.drm.planes(crtc) else {
                continue;
            };
            for plane in planes.primary.iter().chain(planes.overlay.iter()) {
                if let Ok(info) = self.drm.get_plane(plane.handle) {
                    for code in info.formats() {
                        if let Ok(code) = Fourcc::try_from(*code) {
                            out.extend(renderer.iter().filter(|f| f.code == code).copied());
                        }
                    }
                }
            }
        }
        out.sort_by_key(|f| (f.code as u32, u64::from(f.modifier)));
        out.dedup();
        out
    }

    pub fn change_vt(&mut self, vt: i32) {
        info!(vt, "switching VT");
        if let Err(err) = self.session.change_vt(vt) {
            warn!("cannot switch to VT {vt}: {err}");
        }
    }

    /// Switch `output` to `mode`, one of its connector's (wlr-randr): the
    /// next frame is a modeset commit, into a swapchain of the new size
    /// (smithay-0.7.0 src/backend/drm/compositor/mod.rs:2706 `use_mode`).
    /// `test_only`: only say whether it could.
    pub fn set_mode(
        &mut self,
        core: &mut Core,
        output: &Output,
        mode: WlMode,
        test_only: bool,
    ) -> Result<(), String> {
        let (&crtc, out) = self
            .outputs
            .iter_mut()
            .find(|(_, o)| &o.output == output)
            .ok_or_else(|| format!("no output {}", output.name()))?;
        let drm_mode = out
            .modes
            .iter()
            .copied()
            .find(|m| WlMode::from(*m) == mode)
            .ok_or_else(|| {
                format!(
                    "{}: the connector has no mode {}x{}@{} mHz",
                    output.name(),
                    mode.size.w,
                    mode.size.h,
                    mode.refresh
                )
            })?;
        if test_only {
            return Ok(());
        }
        out.compositor
            .use_mode(drm_mode)
            .map_err(|e| format!("{}: mode {}x{}: {e}", output.name(), mode.size.w, mode.size.h))?;
        out.refresh = super::refresh_interval(mode.refresh);
        // Only a modeset commit shows the new mode, even of the same size.
        out.changes.forget(output);
        output.change_current_state(Some(mode), None, None, None);
        info!(output = output.name(), size = ?mode.size, refresh_mhz = mode.refresh, "mode set");
        if !out.pending_flip {
            core.loop_handle.insert_idle(move |state| state.udev_render(crtc));
        }
        Ok(())
    }

    /// `[input]` again on every device (a config reload).
    pub fn configure_input_devices(&mut self, input: &quay_config::Input) {
        for device in &mut self.input_devices {
            configure_input_device(device, input);
        }
    }

    /// The device's framebuffer and GEM handle counters.
    pub fn kms_stats(&self) -> crate::buffer::kms::KmsStats {
        self.exporter.table.stats()
    }

    pub fn imports(&mut self) -> &mut dyn Imports {
        with_engine!(&mut self.renderer, r => r.as_mut())
    }

    pub fn outputs(&self) -> impl Iterator<Item = &Output> {
        self.outputs.values().map(|o| &o.output)
    }

    /// Light up every connected connector that has no output yet; drop
    /// outputs whose connector went away.
    fn scan_connectors(&mut self, core: &mut Core) {
        let Ok(res) = self.drm.resource_handles() else {
            warn!("cannot read DRM resources");
            return;
        };
        let mut connected = Vec::new();
        for &handle in res.connectors() {
            match self.drm.get_connector(handle, true) {
                Ok(info) if info.state() == connector::State::Connected && !info.modes().is_empty() => {
                    connected.push(info)
                }
                Ok(_) => {}
                Err(err) => debug!("connector {handle:?}: {err}"),
            }
        }
        // Gone: unmap.
        let gone: Vec<crtc::Handle> = self
            .outputs
            .iter()
            .filter(|(_, o)| !connected.iter().any(|c| c.handle() == o.connector))
            .map(|(c, _)| *c)
            .collect();
        for crtc in gone {
            if let Some(o) = self.outputs.remove(&crtc) {
                info!(output = o.output.name(), "connector disconnected");
                core.space.unmap_output(&o.output);
                core.disabled_outputs.retain(|d| d != &o.output);
                core.outputs_changed();
                self.imports()
                    .unpin(&crate::buffer::cache::PinSource::Output(o.output.name()));
                if let Some(t) = o.redraw_timer {
                    core.loop_handle.remove(t);
                }
                // Hidden from new binds now, removed once clients that are
                // binding it right now have had time to see it go (the
                // order anvil and niri use).
                core.display_handle.disable_global::<State>(o.global.clone());
                let global = o.global;
                let removal = core.loop_handle.insert_source(
                    Timer::from_duration(Duration::from_secs(5)),
                    move |_, _, state| {
                        state.core.display_handle.remove_global::<State>(global.clone());
                        TimeoutAction::Drop
                    },
                );
                if let Err(e) = removal {
                    warn!("cannot schedule removing a wl_output global: {e}");
                }
            }
        }
        for info in connected {
            if self.outputs.values().any(|o| o.connector == info.handle()) {
                continue;
            }
            let Some(crtc) = self.free_crtc_for(&info, &res) else {
                warn!(connector = ?info.handle(), "no free CRTC");
                continue;
            };
            if let Err(err) = self.add_output(core, &info, crtc) {
                warn!("cannot light up {:?}: {err:#}", info.interface());
            }
        }
    }

    fn free_crtc_for(
        &self,
        info: &connector::Info,
        res: &smithay::reexports::drm::control::ResourceHandles,
    ) -> Option<crtc::Handle> {
        info.encoders()
            .iter()
            .filter_map(|e| self.drm.get_encoder(*e).ok())
            .flat_map(|enc| res.filter_crtcs(enc.possible_crtcs()))
            .find(|crtc| !self.outputs.contains_key(crtc))
    }

    fn add_output(
        &mut self,
        core: &mut Core,
        info: &connector::Info,
        crtc: crtc::Handle,
    ) -> anyhow::Result<()> {
        let name = format!("{}-{}", info.interface().as_str(), info.interface_id());
        let preferred = info
            .modes()
            .iter()
            .find(|m| m.mode_type().contains(ModeTypeFlags::PREFERRED))
            .or_else(|| info.modes().first())
            .copied()
            .ok_or_else(|| anyhow::anyhow!("connector has no modes"))?;
        // `[[output]] mode`, where the connector has it.
        let wanted = core.config.output_settings(&name).and_then(|s| s.mode);
        let mode = match wanted {
            Some(want) => match connector_mode(info.modes(), want) {
                Some(m) => m,
                None => {
                    warn!(
                        output = name,
                        ?want,
                        "[[output]] mode: the connector has no such mode; using its preferred one"
                    );
                    preferred
                }
            },
            None => preferred,
        };
        let (phys_w, phys_h) = info.size().unwrap_or((0, 0));
        let output = Output::new(
            name.clone(),
            PhysicalProperties {
                size: (phys_w as i32, phys_h as i32).into(),
                subpixel: Subpixel::Unknown,
                make: "Unknown".into(),
                model: "Unknown".into(),
            },
        );
        let wl_mode = WlMode::from(mode);
        let x = core
            .space
            .outputs()
            .filter_map(|o| core.space.output_geometry(o))
            .map(|g| g.loc.x + g.size.w)
            .max()
            .unwrap_or(0);
        let global = output.create_global::<State>(&core.display_handle);
        for m in info.modes() {
            output.add_mode(WlMode::from(*m));
        }
        output.set_preferred(WlMode::from(preferred));
        output.change_current_state(Some(wl_mode), Some(Transform::Normal), None, Some((x, 0).into()));
        core.space.map_output(&output, (x, 0));
        core.configure_new_output(&output);

        let surface = self.drm.create_surface(crtc, mode, &[info.handle()])?;
        let renderer_formats = with_engine!(&self.renderer, r => Bind::<Dmabuf>::supported_formats(r.as_ref()).unwrap_or_default());
        // The cursor plane is Quay's (backends/cursor_plane.rs): the
        // compositor gets the other planes and no cursor GBM device.
        let mut planes = surface.planes().clone();
        let cursor_size = self.drm.cursor_size();
        let cursor = planes
            .cursor
            .first()
            .map(|p| CursorPlane::new(p.handle, crtc, (cursor_size.w, cursor_size.h)));
        planes.cursor.clear();
        info!(
            output = name,
            cursor_plane = cursor.is_some(),
            ?cursor_size,
            "planes"
        );
        let compositor = DrmCompositor::new(
            &output,
            surface,
            Some(planes),
            self.allocator.clone(),
            self.exporter.clone(),
            [Fourcc::Xrgb8888, Fourcc::Argb8888],
            renderer_formats,
            cursor_size,
            None,
        )
        .map_err(|e| anyhow::anyhow!("DrmCompositor: {e}"))?;
        let refresh = super::refresh_interval(wl_mode.refresh);
        info!(output = name, size = ?wl_mode.size, refresh_mhz = wl_mode.refresh, "output up");
        let changes = super::SceneChanges::new(&output);
        self.outputs.insert(
            crtc,
            UdevOutput {
                output,
                global,
                queued: None,
                front: None,
                compositor,
                connector: info.handle(),
                pending_flip: false,
                target_vblank: None,
                redraw_timer: None,
                slot: None,
                refresh,
                cursor,
                modes: info.modes().to_vec(),
                changes,
            },
        );
        core.loop_handle.insert_idle(move |state| state.udev_render(crtc));
        Ok(())
    }

    /// Render one frame for `output` and queue it for the next page flip,
    /// through the one frame path (`crate::render`; the presentation half
    /// runs at the flip, `Udev::vblank`). Returns false if nothing was
    /// queued (no damage, inactive, error); true also while a flip is
    /// still pending.
    pub fn render(&mut self, core: &mut Core, output: &Output) -> bool {
        match self.outputs.iter().find(|(_, o)| &o.output == output) {
            Some((&crtc, _)) => self.render_crtc(core, crtc),
            None => false,
        }
    }

    fn render_crtc(&mut self, core: &mut Core, crtc: crtc::Handle) -> bool {
        if !self.active {
            return false;
        }
        let Some(out) = self.outputs.get_mut(&crtc) else {
            return false;
        };
        // The cursor plane does not wait for the flip (cursor_plane.rs).
        let cursor_on_plane = out.cursor.as_mut().is_some_and(|plane| {
            let cursor = crate::cursor::plane_cursor(core, &out.output, plane.size());
            plane.show(&self.exporter.table, &self.gbm, &cursor, &mut core.stats)
        });
        let slot = out.slot.take();
        if out.pending_flip {
            return true;
        }
        let clear = crate::render::clear_colour(core);
        let started = std::time::Instant::now();
        let name = out.output.name();
        let target = core.next_vblank(&name);
        let rendered = with_engine!(&mut self.renderer, r => {
            r.prepare(core, &out.output);
            let elements = if cursor_on_plane {
                crate::render::scene_elements(core, &out.output, r.as_mut())
            } else {
                crate::render::output_elements(core, &out.output, r.as_mut())
            };
            // Nothing changed since the last frame drawn: no frame, not
            // even the one the swapchain's buffer age would redraw
            // (`SceneChanges`).
            let (changed, states) = out.changes.changed(&elements, clear);
            if !changed {
                (Front::Client, true, states, None)
            } else {
                match out.compositor.render_frame(r.as_mut(), &elements, clear, FrameFlags::DEFAULT) {
                    // What export-dmabuf may hand out: our buffer only when it
                    // holds the whole picture. An element on an overlay plane is
                    // not drawn into it.
                    Ok(result) => {
                        use smithay::backend::drm::compositor::PrimaryPlaneElement;
                        let primary = match &result.primary_element {
                            PrimaryPlaneElement::Swapchain(e) if result.overlay_elements.is_empty() => {
                                Front::Ours(e.buffer().front())
                            }
                            _ => Front::Client,
                        };
                        // The GLES render's fence (none for pixman, or a
                        // client buffer scanned out directly).
                        let fence = match &result.primary_element {
                            PrimaryPlaneElement::Swapchain(e) if !result.is_empty => e.sync.export(),
                            _ => None,
                        };
                        (primary, result.is_empty, result.states, fence)
                    }
                    Err(err) => {
                        warn!("rendering {name} failed: {err}");
                        out.changes.forget(&out.output);
                        return false;
                    }
                }
            }
        });
        let (primary, empty, states, fence) = rendered;
        let output = out.output.clone();
        // The frame goes to KMS first and the bookkeeping (frame callbacks,
        // presentation and dma-buf feedback, pins, screencopy) follows, as
        // weston commits before it flushes its clients: the kernel has the
        // frame ~0.3 ms sooner (vkms under TCG, 2026-12-06), and clients hear
        // from it no earlier. The presentation feedback joins the queued
        // frame once `frame_rendered` has built it. Nothing else runs in
        // between: no eviction can reach what the frame shows before
        // `pin_shown` pins it.
        let feedback = FrameFeedback::default();
        let queued = if empty {
            None
        } else {
            let queued = out.compositor.queue_frame(feedback.clone());
            if queued.is_ok() {
                let now = core.now();
                let took = started.elapsed();
                let lead = slot.map_or(took, |slot| now.saturating_sub(slot).max(took));
                core.frame_clock_lead(&name, out.refresh, lead);
                debug!(
                    target: "quay::frame",
                    output = %name,
                    lead_us = lead.as_micros() as u64,
                    took_us = took.as_micros() as u64,
                    queued_before_vblank_us = target.map(|t| signed_us(t, now)),
                    "queued"
                );
            }
            Some(queued)
        };
        // The DRM compositor does not say what changed on the primary plane
        // (and planes move): the whole output, for capture.
        let changed: Vec<Rectangle<i32, Physical>> = match output.current_mode() {
            Some(mode) if !empty => vec![Rectangle::from_size(mode.size)],
            _ => Vec::new(),
        };
        let imports: &mut dyn Imports = with_engine!(&mut self.renderer, r => r.as_mut());
        *feedback.borrow_mut() = Some(frame_rendered(
            core,
            imports,
            Rendered {
                output: &output,
                states: &states,
                damage: &changed,
                // Given to the clock once queued, above.
                took: None,
                refresh: out.refresh,
                vblank: target,
            },
        ));
        match queued {
            None => {
                frame_skipped(imports);
                false
            }
            Some(Ok(())) => {
                if let Some(fence) = fence {
                    core.render_fence_deadline(&output.name(), fence);
                }
                out.pending_flip = true;
                out.queued = Some(primary);
                out.target_vblank = target;
                true
            }
            Some(Err(err)) => {
                warn!("queueing a frame on {} failed: {err}", output.name());
                out.changes.forget(&output);
                frame_skipped(imports);
                false
            }
        }
    }

    /// A page flip completed on `crtc`: answer the frame's presentation
    /// feedback with the kernel's time and sequence.
    fn vblank(&mut self, core: &mut Core, crtc: crtc::Handle, meta: Option<DrmEventMetadata>) {
        let Some(out) = self.outputs.get_mut(&crtc) else {
            return;
        };
        out.pending_flip = false;
        let (time, flags) = match meta.map(|m| m.time) {
            Some(DrmEventTime::Monotonic(t)) if !t.is_zero() => (
                t,
                wp_presentation_feedback::Kind::Vsync
                    | wp_presentation_feedback::Kind::HwClock
                    | wp_presentation_feedback::Kind::HwCompletion,
            ),
            _ => (core.now(), wp_presentation_feedback::Kind::Vsync),
        };
        let seq = meta.map(|m| m.sequence as u64).unwrap_or(0);
        let feedback = match out.compositor.frame_submitted() {
            Ok(feedback) => feedback.and_then(|f| f.borrow_mut().take()),
            Err(err) => {
                warn!("frame_submitted: {err}");
                None
            }
        };
        if let Some(front) = out.queued.take() {
            out.front = Some((front, time));
        }
        if let Some(target) = out.target_vblank.take() {
            // Half a refresh of slack: the kernel's timestamp and the clock's
            // prediction differ by the vblank timer's jitter.
            let missed = time.saturating_sub(target) + out.refresh / 2;
            let missed = if out.refresh.is_zero() {
                0
            } else {
                (missed.as_nanos() / out.refresh.as_nanos()) as u64
            };
            core.stats.vblanks_missed_total += missed;
            debug!(target: "quay::frame", output = %out.output.name(), late_us = signed_us(time, target), missed, "flipped");
        }
        let output = out.output.clone();
        let imports: &mut dyn Imports = with_engine!(&mut self.renderer, r => r.as_mut());
        frame_presented(
            core,
            imports,
            &output,
            feedback,
            Presentation {
                time,
                refresh: out.refresh,
                seq,
                flags,
            },
        );
    }

    /// Start `crtc`'s next frame at its repaint slot (the predicted vblank
    /// less the render estimate and `[render] repaint_margin_ms`): after a
    /// flip, the slot of the vblank that follows it, or at once when that is
    /// already past (a late frame); after a frame with nothing to draw
    /// (`idle`), the next slot in the future, so an idle output looks once
    /// a refresh. One timer per output, never a busy wait.
    fn schedule_repaint(&mut self, core: &mut Core, crtc: crtc::Handle, idle: bool) {
        let Some(out) = self.outputs.get_mut(&crtc) else {
            return;
        };
        if out.redraw_timer.is_some() {
            return;
        }
        let now = core.now();
        let delay = match core.repaint_slot(&out.output.name(), idle) {
            Some(slot) => slot.saturating_sub(now),
            // No flip seen yet: a refresh from now.
            None if idle => out.refresh,
            None => Duration::ZERO,
        };
        out.slot = Some(now + delay);
        if delay.is_zero() {
            core.stats.repaints_late_total += u64::from(!idle);
            core.loop_handle.insert_idle(move |state| state.udev_render(crtc));
            return;
        }
        let token = core
            .loop_handle
            .insert_source(Timer::from_duration(delay), move |_, _, state| {
                if let Some(u) = state.backend.udev() {
                    if let Some(o) = u.outputs.get_mut(&crtc) {
                        o.redraw_timer = None;
                    }
                }
                state.udev_render(crtc);
                TimeoutAction::Drop
            });
        match token {
            Ok(t) => out.redraw_timer = Some(t),
            Err(err) => warn!("cannot schedule a redraw: {err}"),
        }
    }

    /// The dma-buf of the buffer `output` shows now, through the export
    /// cache (`zwlr_export_dmabuf_v1`). A client buffer on the primary plane
    /// is not Quay's to hand out: that frame is cancelled as temporary.
    pub fn export_output(
        &self,
        output: &Output,
    ) -> Result<crate::protocols::export_dmabuf::ExportedFrame, ExportCancel> {
        let out = self
            .outputs
            .values()
            .find(|o| &o.output == output)
            .ok_or(ExportCancel::Permanent)?;
        if !self.active {
            return Err(ExportCancel::Temporary);
        }
        let Some((Front::Ours(front), presented)) = out.front.clone() else {
            return Err(ExportCancel::Temporary);
        };
        let dmabuf = front.export().map_err(|err| {
            warn!("exporting {}'s buffer failed: {err}", output.name());
            ExportCancel::Temporary
        })?;
        let mut planes = Vec::new();
        for ((fd, offset), stride) in dmabuf.handles().zip(dmabuf.offsets()).zip(dmabuf.strides()) {
            let fd = fd.try_clone_to_owned().map_err(|_| ExportCancel::Temporary)?;
            let size =
                rustix::fs::seek(&fd, rustix::fs::SeekFrom::End(0)).map_err(|_| ExportCancel::Temporary)?;
            planes.push(crate::protocols::export_dmabuf::ExportedPlane {
                fd,
                size: size as u32,
                offset,
                stride,
            });
        }
        let size = smithay::backend::allocator::Buffer::size(&dmabuf);
        let format = smithay::backend::allocator::Buffer::format(&dmabuf);
        Ok(crate::protocols::export_dmabuf::ExportedFrame {
            width: size.w as u32,
            height: size.h as u32,
            fourcc: format.code as u32,
            modifier: u64::from(format.modifier),
            planes,
            presented,
        })
    }

    /// What an output shows: the space rendered into a fresh image, as the
    /// last frame composed it (planes included, since the same elements are drawn).
    pub fn screenshot(&mut self, core: &Core, name: Option<&str>) -> Result<Screenshot, String> {
        let out = match name {
            Some(n) => self.outputs.values().find(|o| o.output.name() == n),
            None => self
                .outputs
                .values()
                .min_by_key(|o| core.space.output_geometry(&o.output).map(|g| g.loc.x)),
        }
        .ok_or_else(|| format!("no output named {name:?}"))?;
        let output = out.output.clone();
        let size = output
            .current_mode()
            .map(|m| m.size)
            .ok_or("output has no mode")?;
        let size = (size.w, size.h).into();
        let err = |e: &dyn std::fmt::Debug| format!("{e:?}");
        match &mut self.renderer {
            Engines::Pixman(r) => {
                let mut image = r.create_buffer(Fourcc::Xrgb8888, size).map_err(|e| err(&e))?;
                shoot(core, &output, r.as_mut(), &mut image)
            }
            Engines::Gles(r) => {
                let mut target: GlesRenderbuffer =
                    r.create_buffer(Fourcc::Abgr8888, size).map_err(|e| err(&e))?;
                shoot(core, &output, r.as_mut(), &mut target)
            }
        }
    }
}

/// Render `output` into `target` from scratch and read it back.
fn shoot<E, T>(
    core: &Core,
    output: &Output,
    renderer: &mut crate::buffer::import::QuayRenderer<E>,
    target: &mut T,
) -> Result<Screenshot, String>
where
    E: crate::buffer::import::Engine,
    crate::buffer::import::QuayRenderer<E>: Bind<T>
        + smithay::backend::renderer::RendererSuper<TextureId = crate::buffer::import::QuayTexture<E>>,
{
    renderer.prepare(core, output);
    let mut tracker = OutputDamageTracker::from_output(output);
    {
        let mut fb = renderer.bind(target).map_err(|e| format!("{e:?}"))?;
        render_space(core, output, renderer, &mut fb, 0, &mut tracker, None).map_err(|e| format!("{e:?}"))?;
    }
    super::read_target(renderer, target)
}

impl State {
    fn udev_render(&mut self, crtc: crtc::Handle) {
        let State { backend, core } = self;
        let Some(output) = backend
            .udev()
            .and_then(|u| u.outputs.get(&crtc))
            .map(|o| o.output.clone())
        else {
            return;
        };
        let queued = backend.render(core, &output);
        if let Some(u) = backend.udev() {
            if !queued && u.active {
                u.schedule_repaint(core, crtc, true);
            }
        }
    }

    fn udev_vblank(&mut self, crtc: crtc::Handle, meta: Option<DrmEventMetadata>) {
        {
            let State { backend, core } = self;
            let Some(u) = backend.udev() else {
                return;
            };
            u.vblank(core, crtc, meta);
            // The next frame at its slot before the coming vblank, not right
            // away: what clients commit until then (their callbacks went out
            // with the last frame) is on screen at that vblank.
            if u.active {
                u.schedule_repaint(core, crtc, false);
            }
        }
    }

    fn udev_session_event(&mut self, event: SessionEvent) {
        let State { backend, core } = self;
        let Some(u) = backend.udev() else {
            return;
        };
        match event {
            SessionEvent::PauseSession => {
                info!("session paused");
                u.active = false;
                u.libinput.suspend();
                u.drm.pause();
                for o in u.outputs.values_mut() {
                    o.pending_flip = false;
                    o.target_vblank = None;
                }
            }
            SessionEvent::ActivateSession => {
                info!("session resumed");
                if let Err(err) = u.libinput.resume() {
                    warn!("libinput resume: {err:?}");
                }
                if let Err(err) = u.drm.activate(false) {
                    warn!("DRM activate: {err}");
                }
                u.active = true;
                let crtcs: Vec<_> = u.outputs.keys().copied().collect();
                for o in u.outputs.values_mut() {
                    // Another DRM master may have scribbled on the planes.
                    o.compositor.reset_buffers();
                    o.changes.forget(&o.output);
                    if let Some(c) = o.cursor.as_mut() {
                        c.forget();
                    }
                }
                u.scan_connectors(core);
                for crtc in crtcs {
                    core.loop_handle.insert_idle(move |state| state.udev_render(crtc));
                }
            }
        }
    }
}

/// The dma-buf feedback of the udev backend: render tranche for the client
/// node, plus a scanout tranche on the card for what the primary planes take.
pub fn feedback(u: &Udev) -> Option<smithay::wayland::dmabuf::DmabufFeedback> {
    let mut formats: Vec<Format> = with_engine!(&u.renderer, r => r.dmabuf_formats().into_iter().collect());
    formats.sort_by_key(|f| (f.code as u32, u64::from(f.modifier)));
    let scanout = u.scanout_formats();
    let mut builder = DmabufFeedbackBuilder::new(u.client_node.dev_id(), formats);
    if !scanout.is_empty() {
        builder = builder.add_preference_tranche(
            u.node.dev_id(),
            Some(smithay::reexports::wayland_protocols::wp::linux_dmabuf::zv1::server::zwp_linux_dmabuf_feedback_v1::TrancheFlags::Scanout),
            scanout,
        );
    }
    match builder.build() {
        Ok(f) => Some(f),
        Err(err) => {
            warn!("cannot build the scanout feedback: {err}");
            None
        }
    }
}

/// `a - b` in microseconds, negative when `a` is earlier.
fn signed_us(a: Duration, b: Duration) -> i64 {
    if a >= b {
        (a - b).as_micros() as i64
    } else {
        -((b - a).as_micros() as i64)
    }
}
