//! `zwlr_screencopy_manager_v1` (version 3): copy an output, or a region of
//! it, into a client's `wl_shm` or linux-dmabuf buffer. What `grim`,
//! `wf-recorder` and xdg-desktop-portal-wlr speak; chosen over
//! `ext-image-copy-capture-v1` because those clients exist in Debian today
//! and the suite runs one of them (`grim`).
//!
//! This module is the protocol half: the frame's buffer constraints, and
//! every protocol error of the XML:
//! - `copy` or `copy_with_damage` a second time on a frame: `already_used`;
//! - a buffer whose format, size or stride is not one the frame offered
//!   (`buffer` for shm, `linux_dmabuf` for dma-bufs, XRGB8888 or ARGB8888,
//!   one linear plane): `invalid_buffer`.
//!
//! The compositor half ([`ScreencopyHandler::copy`]) renders the output and
//! writes it into the buffer; it answers `ready` or `failed`. A capture of an
//! output that is gone, or an empty region, is `failed` at once.
//!
//! `copy_with_damage` reports what the compositor half says changed since
//! the client's last copy, clipped to the region. The cursor is not drawn
//! (Quay draws none of its own).

use std::sync::atomic::{AtomicBool, Ordering};

use smithay::{
    backend::allocator::{Buffer as _, Fourcc, Modifier},
    output::Output,
    reexports::{
        wayland_protocols_wlr::screencopy::v1::server::{
            zwlr_screencopy_frame_v1::{self, ZwlrScreencopyFrameV1},
            zwlr_screencopy_manager_v1::{self, ZwlrScreencopyManagerV1},
        },
        wayland_server::{
            backend::GlobalId,
            protocol::{wl_buffer::WlBuffer, wl_shm},
            Client, DataInit, Dispatch, DisplayHandle, GlobalDispatch, New, Resource,
        },
    },
    utils::{Physical, Rectangle},
    wayland::shm,
};

/// The global.
#[derive(Debug)]
pub struct ScreencopyState {
    global: GlobalId,
}

impl ScreencopyState {
    /// `filter`: which clients see the global (all but sandboxed ones).
    pub fn new<D>(
        dh: &DisplayHandle,
        filter: impl Fn(&Client) -> bool + Send + Sync + 'static,
    ) -> ScreencopyState
    where
        D: GlobalDispatch<ZwlrScreencopyManagerV1, super::GlobalFilter>
            + Dispatch<ZwlrScreencopyManagerV1, ()>
            + Dispatch<ZwlrScreencopyFrameV1, FrameData>
            + ScreencopyHandler
            + 'static,
    {
        ScreencopyState {
            global: dh
                .create_global::<D, ZwlrScreencopyManagerV1, _>(3, super::GlobalFilter(Box::new(filter))),
        }
    }

    pub fn global(&self) -> GlobalId {
        self.global.clone()
    }
}

/// What the compositor provides.
pub trait ScreencopyHandler {
    /// The output's size in pixels, if it can be captured now.
    fn capture_size(&mut self, output: &Output) -> Option<(i32, i32)>;
    /// Whether dma-buf targets are offered (the `linux_dmabuf` event).
    fn dmabuf_targets(&self) -> bool;
    /// Copy `frame.region` of `frame.output` into `buffer` (validated against
    /// the frame's constraints) and answer the frame with [`Frame::ready`]
    /// or [`Frame::failed`].
    fn copy(&mut self, frame: Frame, buffer: WlBuffer);
}

/// A frame's data: what was asked for, and whether `copy` was used.
#[derive(Debug)]
pub struct FrameData {
    output: Option<Output>,
    region: Rectangle<i32, Physical>,
    used: AtomicBool,
}

/// A frame to answer, handed to [`ScreencopyHandler::copy`].
#[derive(Debug)]
pub struct Frame {
    pub resource: ZwlrScreencopyFrameV1,
    pub output: Output,
    /// In the output's pixels.
    pub region: Rectangle<i32, Physical>,
    pub with_damage: bool,
}

impl Frame {
    /// The copy is in the buffer, taken at `time` (CLOCK_MONOTONIC).
    /// `damage`: what changed since this client's last copy of the output,
    /// in the output's pixels; sent (for `copy_with_damage`) clipped to the
    /// region and relative to it.
    pub fn ready(self, time: std::time::Duration, damage: &[Rectangle<i32, Physical>]) {
        self.resource.flags(zwlr_screencopy_frame_v1::Flags::empty());
        if self.with_damage {
            for rect in damage.iter().filter_map(|d| d.intersection(self.region)) {
                let at = rect.loc - self.region.loc;
                self.resource
                    .damage(at.x as u32, at.y as u32, rect.size.w as u32, rect.size.h as u32);
            }
        }
        let secs = time.as_secs();
        self.resource
            .ready((secs >> 32) as u32, secs as u32, time.subsec_nanos());
    }

    pub fn failed(self) {
        self.resource.failed();
    }
}

/// The formats a frame offers, in wl_shm and DRM fourcc terms.
const SHM_FORMAT: wl_shm::Format = wl_shm::Format::Xrgb8888;
const DRM_FORMAT: Fourcc = Fourcc::Xrgb8888;

/// Whether `buffer` fits a frame of `size`: Ok, or the reason it does not.
pub fn check_buffer(buffer: &WlBuffer, size: (i32, i32)) -> Result<(), String> {
    let (w, h) = size;
    if let Ok(dmabuf) = smithay::wayland::dmabuf::get_dmabuf(buffer) {
        let format = dmabuf.format();
        let s = dmabuf.size();
        if !matches!(format.code, Fourcc::Xrgb8888 | Fourcc::Argb8888) {
            return Err(format!(
                "dma-buf format {:?}, want XRGB8888 or ARGB8888",
                format.code
            ));
        }
        if !matches!(format.modifier, Modifier::Linear | Modifier::Invalid) {
            return Err("the dma-buf must be linear".into());
        }
        if dmabuf.num_planes() != 1 {
            return Err("the dma-buf must have one plane".into());
        }
        if (s.w, s.h) != (w, h) {
            return Err(format!("dma-buf is {}x{}, the frame is {w}x{h}", s.w, s.h));
        }
        let stride = dmabuf.strides().next().unwrap_or(0);
        if i64::from(stride) < i64::from(w) * 4 {
            return Err(format!(
                "dma-buf stride {stride} is less than {}",
                i64::from(w) * 4
            ));
        }
        return Ok(());
    }
    let attrs = shm::with_buffer_contents(buffer, |_, _, data| data)
        .map_err(|_| "not a wl_shm or linux-dmabuf buffer".to_string())?;
    if !matches!(attrs.format, wl_shm::Format::Xrgb8888 | wl_shm::Format::Argb8888) {
        return Err(format!(
            "wl_shm format {:?}, want xrgb8888 or argb8888",
            attrs.format
        ));
    }
    if (attrs.width, attrs.height) != (w, h) {
        return Err(format!(
            "wl_shm buffer is {}x{}, the frame is {w}x{h}",
            attrs.width, attrs.height
        ));
    }
    if attrs.stride < w * 4 {
        return Err(format!("stride {} is less than {}", attrs.stride, w * 4));
    }
    Ok(())
}

impl<D> GlobalDispatch<ZwlrScreencopyManagerV1, super::GlobalFilter, D> for ScreencopyState
where
    D: GlobalDispatch<ZwlrScreencopyManagerV1, super::GlobalFilter>
        + Dispatch<ZwlrScreencopyManagerV1, ()>
        + Dispatch<ZwlrScreencopyFrameV1, FrameData>
        + ScreencopyHandler
        + 'static,
{
    fn bind(
        _state: &mut D,
        _dh: &DisplayHandle,
        _client: &Client,
        resource: New<ZwlrScreencopyManagerV1>,
        _global_data: &super::GlobalFilter,
        data_init: &mut DataInit<'_, D>,
    ) {
        data_init.init(resource, ());
    }

    fn can_view(client: Client, global_data: &super::GlobalFilter) -> bool {
        (global_data.0)(&client)
    }
}

impl<D> Dispatch<ZwlrScreencopyManagerV1, (), D> for ScreencopyState
where
    D: Dispatch<ZwlrScreencopyManagerV1, ()>
        + Dispatch<ZwlrScreencopyFrameV1, FrameData>
        + ScreencopyHandler
        + 'static,
{
    fn request(
        state: &mut D,
        _client: &Client,
        _resource: &ZwlrScreencopyManagerV1,
        request: zwlr_screencopy_manager_v1::Request,
        _data: &(),
        _dh: &DisplayHandle,
        data_init: &mut DataInit<'_, D>,
    ) {
        let (frame, output, region) = match request {
            zwlr_screencopy_manager_v1::Request::CaptureOutput { frame, output, .. } => (frame, output, None),
            zwlr_screencopy_manager_v1::Request::CaptureOutputRegion {
                frame,
                output,
                x,
                y,
                width,
                height,
                ..
            } => {
                // A negative or empty size is nothing to capture: `failed`
                // below. (smithay's `Size::new` asserts non-negative sizes
                // in debug builds, so no Rectangle is built from it.)
                let region = (width > 0 && height > 0)
                    .then(|| Rectangle::<i32, Physical>::new((x, y).into(), (width, height).into()));
                (frame, output, Some(region))
            }
            zwlr_screencopy_manager_v1::Request::Destroy => return,
            _ => return,
        };
        let output = Output::from_resource(&output);
        let size = output.as_ref().and_then(|o| state.capture_size(o));
        // The region is in the output's logical coordinates; Quay's outputs
        // are scale 1 and untransformed, so those are its pixels.
        let full = size.map(|(w, h)| Rectangle::<i32, Physical>::from_size((w, h).into()));
        let region = match (full, region) {
            (Some(full), Some(Some(r))) => full.intersection(r),
            (Some(full), None) => Some(full),
            _ => None,
        }
        .filter(|r| r.size.w > 0 && r.size.h > 0);
        let data = FrameData {
            output: output.filter(|_| region.is_some()),
            region: region.unwrap_or_default(),
            used: AtomicBool::new(false),
        };
        let frame = data_init.init(frame, data);
        let Some(region) = region else {
            frame.failed();
            return;
        };
        let (w, h) = (region.size.w as u32, region.size.h as u32);
        frame.buffer(SHM_FORMAT, w, h, w * 4);
        if frame.version() >= 3 {
            if state.dmabuf_targets() {
                frame.linux_dmabuf(DRM_FORMAT as u32, w, h);
            }
            frame.buffer_done();
        }
    }
}

impl<D> Dispatch<ZwlrScreencopyFrameV1, FrameData, D> for ScreencopyState
where
    D: Dispatch<ZwlrScreencopyFrameV1, FrameData> + ScreencopyHandler + 'static,
{
    fn request(
        state: &mut D,
        _client: &Client,
        resource: &ZwlrScreencopyFrameV1,
        request: zwlr_screencopy_frame_v1::Request,
        data: &FrameData,
        _dh: &DisplayHandle,
        _data_init: &mut DataInit<'_, D>,
    ) {
        let (buffer, with_damage) = match request {
            zwlr_screencopy_frame_v1::Request::Copy { buffer } => (buffer, false),
            zwlr_screencopy_frame_v1::Request::CopyWithDamage { buffer } => (buffer, true),
            zwlr_screencopy_frame_v1::Request::Destroy => return,
            _ => return,
        };
        if data.used.swap(true, Ordering::Relaxed) {
            resource.post_error(
                zwlr_screencopy_frame_v1::Error::AlreadyUsed,
                "the frame was already copied",
            );
            return;
        }
        let Some(output) = data.output.clone() else {
            // `failed` was sent at capture; a copy after it gets it again.
            resource.failed();
            return;
        };
        if let Err(reason) = check_buffer(&buffer, (data.region.size.w, data.region.size.h)) {
            resource.post_error(zwlr_screencopy_frame_v1::Error::InvalidBuffer, reason);
            return;
        }
        state.copy(
            Frame {
                resource: resource.clone(),
                output,
                region: data.region,
                with_damage,
            },
            buffer,
        );
    }
}
