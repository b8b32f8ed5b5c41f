//! `zwlr_screencopy_manager_v1`'s compositor half: render the output as it
//! is now and write the region into the client's buffer, on the CPU.
//!
//! - `wl_shm` buffers are written through smithay's pool mapping.
//! - dma-buf buffers (any linear XRGB/ARGB one: dma-heap, udmabuf, GBM) are
//!   mapped read-write and written between `DMA_BUF_IOCTL_SYNC`
//!   `START|WRITE` and `END|WRITE`, so a GPU reader sees finished pixels,
//!   and only once every fence on the buffer has signalled
//!   (`crate::buffer::cpu_access`): a target whose fences are pending waits
//!   in the queue, [`NOT_WRITABLE_LIMIT`] at most, then is `failed`.
//!   The client provides the memory; Quay exports nothing here.
//!
//! ## Damage
//! Quay keeps, per client and output, what the output's frames changed
//! since the client's last copy of it ([`DamageLog`]; the backends report
//! each frame's damage through [`Core::output_damaged`]). A copy answers
//! with that and clears it. A client's first copy of an output is all
//! damage.
//!
//! ## The queue
//! Every `copy` and `copy_with_damage` goes into one queue ([`CopyQueue`]).
//! `copy` is ready at once; `copy_with_damage` is ready at once when the
//! output changed since the client's last copy (so a recorder that asks
//! again after its `ready` gets the frame drawn meanwhile, not the one
//! after), and otherwise waits, as the protocol says, until the output
//! draws a frame with damage. Ready copies are served
//! from the loop, never inside the request: one render of each output
//! serves every copy of it in that turn, and a turn writes
//! [`PIXELS_PER_TURN`] pixels at most (one copy at least); the rest waits
//! for the next turn, a refresh later. A client has
//! [`PENDING_PER_CLIENT`] copies waiting at most; one more is `failed` at
//! once. So a client asking for hundreds of frames costs the others a
//! bounded slice of each refresh, and a recorder that loops on
//! `copy_with_damage` costs nothing while the screen is still.
//!
//! The output is rendered with the same path as `quay msg screenshot`
//! (`Backend::screenshot`): on udev that re-renders the space the last frame
//! showed, planes included, since the same elements are drawn.

use std::{collections::HashMap, time::Duration};

use smithay::{
    output::Output,
    reexports::{
        calloop::timer::{TimeoutAction, Timer},
        wayland_protocols_wlr::screencopy::v1::server::{
            zwlr_screencopy_frame_v1::ZwlrScreencopyFrameV1,
            zwlr_screencopy_manager_v1::{self, ZwlrScreencopyManagerV1},
        },
        wayland_server::{
            backend::ClientId, protocol::wl_buffer::WlBuffer, Client, DataInit, Dispatch, DisplayHandle,
            Resource,
        },
    },
    utils::{Physical, Rectangle},
    wayland::shm,
};
use tracing::{debug, warn};

use crate::{
    backends::Screenshot,
    buffer::cpu_access::{Access, CpuAccess, Ready},
    protocols::screencopy::{Frame, FrameData, ScreencopyHandler, ScreencopyState},
    State,
};

/// Copies one client may have waiting; one more is answered `failed`.
/// A recorder keeps one or two in flight.
pub const PENDING_PER_CLIENT: usize = 4;
/// Pixels one turn of the queue writes at most (about four 1080p frames);
/// at least one copy is made per turn whatever its size.
pub const PIXELS_PER_TURN: u64 = 8 << 20;
/// The next turn after one that left ready copies behind.
const TURN_INTERVAL: Duration = Duration::from_millis(16);
/// How long a dma-buf target may keep unsignalled fences before its copy
/// is answered `failed`.
pub const NOT_WRITABLE_LIMIT: Duration = Duration::from_secs(1);
/// Rectangles kept per client and output; more are merged into their
/// bounding box (a superset, which is always a correct answer).
const DAMAGE_RECTS: usize = 32;

/// What each output's frames changed since each client's last copy of it.
#[derive(Debug, Default)]
pub struct DamageLog {
    since: HashMap<(ClientId, String), Vec<Rectangle<i32, Physical>>>,
}

impl DamageLog {
    /// `output` drew a frame that changed `rects`.
    fn add(&mut self, output: &str, rects: &[Rectangle<i32, Physical>]) {
        for ((_, name), acc) in &mut self.since {
            if name != output {
                continue;
            }
            acc.extend_from_slice(rects);
            if acc.len() > DAMAGE_RECTS {
                let merged = acc.drain(..).reduce(Rectangle::merge);
                acc.extend(merged);
            }
        }
    }

    /// What changed since `client` last copied `output`; `None` when it
    /// never did (everything is new to it).
    fn since(&self, client: &ClientId, output: &str) -> Option<&[Rectangle<i32, Physical>]> {
        self.since
            .get(&(client.clone(), output.to_owned()))
            .map(Vec::as_slice)
    }

    /// A copy of `output` was answered for `client`: what it reports, and
    /// from now on nothing has changed for it.
    fn take(&mut self, client: &ClientId, output: &Output) -> Vec<Rectangle<i32, Physical>> {
        let acc = self
            .since
            .entry((client.clone(), output.name()))
            .or_insert_with(|| {
                let whole = output.current_mode().map(|m| Rectangle::from_size(m.size));
                whole.into_iter().collect()
            });
        std::mem::take(acc)
    }

    /// Forget the clients that are gone.
    fn retain_clients(&mut self, alive: impl Fn(&ClientId) -> bool) {
        self.since.retain(|(client, _), _| alive(client));
    }

    /// Clients and outputs tracked, for stats.
    pub fn len(&self) -> usize {
        self.since.len()
    }

    pub fn is_empty(&self) -> bool {
        self.since.is_empty()
    }
}

/// A copy asked for and not answered yet.
#[derive(Debug)]
struct Pending {
    frame: Frame,
    buffer: WlBuffer,
    client: ClientId,
    /// When it became ready to copy (`copy`: at once; `copy_with_damage`:
    /// at its output's next damaged frame); `None` while it waits for damage.
    ready_since: Option<Duration>,
}

/// Output capture: `zwlr_screencopy_manager_v1` with the copies waiting
/// for their turn, and `zwlr_export_dmabuf_manager_v1` where the udev
/// backend offers it.
#[derive(Debug)]
pub struct Capture {
    /// `zwlr_screencopy_manager_v1` (privileged; every backend that can read
    /// an output back).
    pub screencopy: crate::protocols::screencopy::ScreencopyState,
    /// Screencopy requests waiting to be served.
    pub queue: CopyQueue,
    /// `zwlr_export_dmabuf_manager_v1`: the udev backend's scanout buffers.
    pub export_dmabuf: Option<crate::protocols::export_dmabuf::ExportDmabufState>,
}

impl Capture {
    pub fn new(dh: &smithay::reexports::wayland_server::DisplayHandle) -> Capture {
        Capture {
            screencopy: crate::protocols::screencopy::ScreencopyState::new::<State>(
                dh,
                crate::state::privileged,
            ),
            queue: CopyQueue::default(),
            export_dmabuf: None,
        }
    }
}

impl Pending {
    fn alive(&self) -> bool {
        self.frame.resource.is_alive() && self.buffer.is_alive()
    }
}

/// The copies waiting to be made (see the module doc).
#[derive(Debug, Default)]
pub struct CopyQueue {
    pending: Vec<Pending>,
    /// What changed for whom since their last copy.
    pub damage: DamageLog,
    /// A turn is queued (idle or timer): no second one is.
    turn_queued: bool,
}

impl CopyQueue {
    /// Copies waiting, for stats.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

impl ScreencopyHandler for State {
    fn capture_size(&mut self, output: &Output) -> Option<(i32, i32)> {
        if !self.backend.can_screenshot() {
            return None;
        }
        output.current_mode().map(|m| (m.size.w, m.size.h))
    }

    fn dmabuf_targets(&self) -> bool {
        true
    }

    fn copy(&mut self, frame: Frame, buffer: WlBuffer) {
        let Some(client) = frame.resource.client().map(|c| c.id()) else {
            return;
        };
        let handle = self.core.display_handle.backend_handle();
        let now = self.core.now();
        let queue = &mut self.core.capture.queue;
        // Frames destroyed (or clients gone) while waiting go first, so a
        // client's count is of its live requests.
        queue.pending.retain(Pending::alive);
        queue
            .damage
            .retain_clients(|id| handle.get_client_data(id.clone()).is_ok());
        let changed = queue
            .damage
            .since(&client, &frame.output.name())
            .is_none_or(|d| !d.is_empty());
        let ready_since = (!frame.with_damage || changed).then_some(now);
        if queue.pending.iter().filter(|p| p.client == client).count() >= PENDING_PER_CLIENT {
            debug!("screencopy: a client has {PENDING_PER_CLIENT} copies waiting; failed");
            self.core.stats.screencopy_refused_total += 1;
            frame.failed();
            return;
        }
        queue.pending.push(Pending {
            frame,
            buffer,
            client,
            ready_since,
        });
        if ready_since.is_some() {
            self.core.queue_copy_turn(Duration::ZERO);
        }
    }
}

impl crate::state::Core {
    /// `output` drew a frame that changed `damage` (the output's pixels):
    /// its waiting `copy_with_damage` requests are ready, served right after
    /// this dispatch.
    pub fn output_damaged(&mut self, output: &Output, damage: &[Rectangle<i32, Physical>]) {
        self.capture.queue.damage.add(&output.name(), damage);
        let now = self.now();
        let mut any = false;
        for p in &mut self.capture.queue.pending {
            if p.ready_since.is_none() && &p.frame.output == output {
                p.ready_since = Some(now);
                any = true;
            }
        }
        if any {
            self.queue_copy_turn(Duration::ZERO);
        }
    }

    /// Queue a turn of the copy queue `after` from now (zero: idle).
    fn queue_copy_turn(&mut self, after: Duration) {
        if self.capture.queue.turn_queued {
            return;
        }
        self.capture.queue.turn_queued = true;
        if after.is_zero() {
            self.loop_handle.insert_idle(|state| state.copy_turn());
            return;
        }
        let inserted = self
            .loop_handle
            .insert_source(Timer::from_duration(after), |_, _, state| {
                state.copy_turn();
                TimeoutAction::Drop
            });
        if let Err(e) = inserted {
            warn!("cannot queue a screencopy turn: {e}");
            self.loop_handle.insert_idle(|state| state.copy_turn());
        }
    }
}

impl State {
    /// One turn of the copy queue (see the module doc).
    fn copy_turn(&mut self) {
        self.core.capture.queue.turn_queued = false;
        let now = self.core.now();
        let mut pending = std::mem::take(&mut self.core.capture.queue.pending);
        pending.retain(Pending::alive);
        let mut shots: HashMap<String, Result<Screenshot, String>> = HashMap::new();
        let mut written: u64 = 0;
        let mut left_ready = false;
        let mut keep = Vec::with_capacity(pending.len());
        for mut p in pending {
            let Some(since) = p.ready_since else {
                keep.push(p);
                continue;
            };
            let nothing_new = || {
                let log = &self.core.capture.queue.damage;
                log.since(&p.client, &p.frame.output.name())
                    .is_some_and(<[_]>::is_empty)
            };
            if p.frame.with_damage && nothing_new() {
                // Another copy of this client's took the change before this
                // one's turn: this one waits for the next.
                p.ready_since = None;
                keep.push(p);
                continue;
            }
            let pixels = (p.frame.region.size.w.max(0) as u64) * (p.frame.region.size.h.max(0) as u64);
            if written > 0 && written + pixels > PIXELS_PER_TURN {
                left_ready = true;
                keep.push(p);
                continue;
            }
            let name = p.frame.output.name();
            let shot = shots.entry(name.clone()).or_insert_with(|| {
                self.core.stats.screencopy_renders_total += 1;
                self.backend.screenshot(&self.core, Some(&name))
            });
            let result = match shot {
                Ok(shot) => write_region(shot, p.frame.region, &p.buffer),
                Err(e) => Err(e.clone()),
            };
            match result {
                Ok(Written::Not) if now.saturating_sub(since) < NOT_WRITABLE_LIMIT => {
                    // Its fences are pending: try again next turn.
                    left_ready = true;
                    keep.push(p);
                }
                Ok(Written::Not) => {
                    warn!(
                        output = name,
                        "screencopy: the dma-buf's fences did not signal in time"
                    );
                    self.core.stats.screencopy_not_writable_total += 1;
                    self.core.stats.screencopy_failed_total += 1;
                    p.frame.failed();
                }
                Ok(kind) => {
                    written += pixels;
                    self.core.stats.screencopy_frames_total += 1;
                    if kind == Written::Dmabuf {
                        self.core.stats.screencopy_dmabuf_frames_total += 1;
                    }
                    debug!(output = name, ?kind, "screencopy");
                    let damage = self.core.capture.queue.damage.take(&p.client, &p.frame.output);
                    p.frame.ready(self.core.now(), &damage);
                }
                Err(err) => {
                    warn!(output = name, "screencopy failed: {err}");
                    self.core.stats.screencopy_failed_total += 1;
                    p.frame.failed();
                }
            }
        }
        // Requests made during this turn (none: it runs from the loop) and
        // those left behind, in their order.
        keep.append(&mut self.core.capture.queue.pending);
        self.core.capture.queue.pending = keep;
        if left_ready {
            self.core.queue_copy_turn(TURN_INTERVAL);
        }
    }
}

/// What [`write_region`] did.
#[derive(Debug, PartialEq, Eq)]
enum Written {
    Shm,
    Dmabuf,
    /// Nothing: the dma-buf's fences have not all signalled.
    Not,
}

/// Write `region` of `shot` (RGBA) into `buffer` as XRGB/ARGB8888 (B, G, R,
/// A in memory). The buffer was checked against the region's size and
/// formats (`protocols::screencopy::check_buffer`); the bounds of the memory
/// are checked here, since a client can shrink neither, but can lie in both.
fn write_region(
    shot: &Screenshot,
    region: Rectangle<i32, Physical>,
    buffer: &WlBuffer,
) -> Result<Written, String> {
    let (w, h) = (region.size.w.max(0) as usize, region.size.h.max(0) as usize);
    let (x0, y0) = (region.loc.x.max(0) as usize, region.loc.y.max(0) as usize);
    if x0 + w > shot.width as usize || y0 + h > shot.height as usize {
        return Err(format!(
            "region {region:?} is outside the {}x{} output",
            shot.width, shot.height
        ));
    }
    let src_stride = shot.width as usize * 4;
    let write = |dst: &mut [u8], offset: usize, stride: usize| -> Result<(), String> {
        let needed = offset + stride * h.saturating_sub(1) + w * 4;
        if h > 0 && dst.len() < needed {
            return Err(format!(
                "the buffer has {} bytes, the copy needs {needed}",
                dst.len()
            ));
        }
        for y in 0..h {
            let src = &shot.rgba[(y0 + y) * src_stride + x0 * 4..][..w * 4];
            let row = &mut dst[offset + y * stride..][..w * 4];
            for (d, s) in row.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
                d.copy_from_slice(&[s[2], s[1], s[0], 0xff]);
            }
        }
        Ok(())
    };

    if let Ok(dmabuf) = smithay::wayland::dmabuf::get_dmabuf(buffer) {
        let (Some(offset), Some(stride)) = (dmabuf.offsets().next(), dmabuf.strides().next()) else {
            return Err("the dma-buf has no plane".into());
        };
        let access = match CpuAccess::begin(dmabuf, Access::Write) {
            Ok(Ready::Now(access)) => access,
            Ok(Ready::NotYet) => return Ok(Written::Not),
            Err(e) => return Err(format!("DMA_BUF_IOCTL_SYNC start: {e}")),
        };
        let mapping = crate::buffer::mapping::PlaneMapping::map(dmabuf, 0, true)
            .map_err(|e| format!("cannot map the dma-buf: {e}"))?;
        // SAFETY: `mapping` is a live shared mapping of the whole object,
        // `length()` bytes, held until the slice is gone; the client may
        // write it concurrently, which can tear its own pixels but not
        // Quay's memory.
        let dst = unsafe { std::slice::from_raw_parts_mut(mapping.ptr(), mapping.length()) };
        let written = write(dst, offset as usize, stride as usize);
        drop(access);
        return written.map(|()| Written::Dmabuf);
    }
    shm::with_buffer_contents_mut(buffer, |ptr, len, data| {
        // SAFETY: smithay hands out the pool's mapping, `len` bytes, for the
        // duration of the closure (smithay-0.7.0 src/wayland/shm/mod.rs:279).
        let dst = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
        write(dst, data.offset.max(0) as usize, data.stride.max(0) as usize)
    })
    .map_err(|e| format!("cannot access the wl_shm buffer: {e:?}"))?
    .map(|()| Written::Shm)
}

smithay::reexports::wayland_server::delegate_global_dispatch!(State: [
    ZwlrScreencopyManagerV1: crate::protocols::GlobalFilter
] => ScreencopyState);

/// Each frame object is charged to its client's object budget from the
/// capture request until it is destroyed.
impl Dispatch<ZwlrScreencopyManagerV1, ()> for State {
    fn request(
        state: &mut State,
        client: &Client,
        resource: &ZwlrScreencopyManagerV1,
        request: zwlr_screencopy_manager_v1::Request,
        data: &(),
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        if matches!(
            request,
            zwlr_screencopy_manager_v1::Request::CaptureOutput { .. }
                | zwlr_screencopy_manager_v1::Request::CaptureOutputRegion { .. }
        ) && !super::budget::charge_object(state, client, "a zwlr_screencopy_frame_v1")
        {
            return;
        }
        <ScreencopyState as Dispatch<ZwlrScreencopyManagerV1, (), State>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }
}

impl Dispatch<ZwlrScreencopyFrameV1, FrameData> for State {
    fn request(
        state: &mut State,
        client: &Client,
        resource: &ZwlrScreencopyFrameV1,
        request: <ZwlrScreencopyFrameV1 as Resource>::Request,
        data: &FrameData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        <ScreencopyState as Dispatch<ZwlrScreencopyFrameV1, FrameData, State>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }

    fn destroyed(state: &mut State, client: ClientId, _resource: &ZwlrScreencopyFrameV1, _data: &FrameData) {
        super::budget::release_object_by_id(&state.core.display_handle, &client);
    }
}
