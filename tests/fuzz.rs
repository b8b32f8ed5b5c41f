//! A wire fuzzer: random request sequences across the globals Quay offers,
//! from a real client over a real socket to one real Quay.
//!
//! Each proptest case is up to three fresh connections at once that send an
//! interleaved random sequence of [`Op`]s (surfaces, shm pools and buffers with any sizes, xdg roles with
//! any serials, positioners with any geometry and popups on any parent, subsurfaces with any parents, viewports with any rectangles,
//! dma-buf params with memfd planes and any layout and modifier, explicit
//! sync fences that are not sync_files, screencopy into any buffer, regions,
//! single-pixel buffers, presentation feedback, and the session protocols:
//! session locks and lock surfaces, layer surfaces, data sources and
//! selections, output configurations tested and, rarely, applied, and the
//! protocols applications use: fifo and commit timing, alpha, content type,
//! fractional scale, dialogs, text input, xdg-foreign, the toplevel list,
//! shortcut inhibitors, the bell), with fds
//! where the request takes one. A case that locked the session is followed
//! by the rig's own takeover and unlock; one that applied an output
//! configuration by a fresh Quay. Afterwards Quay must have answered the case within 10 s with
//! events or a protocol error for that client (never a lost connection
//! without an error, never a hang), a bystander client must still get a
//! frame, and the Quay process must still be alive.
//!
//! The README's test command runs 3,000 cases from a fixed seed (80 s on a
//! 2-core machine, and the same sequences every run, so CI cannot go red by
//! chance), in the dev profile, where overflow checks are on for smithay as
//! for Quay (an overflow on a client's numbers is a crash here). The VM
//! suite runs it again on real dma-bufs and sw_sync fences
//! (`QUAY_FUZZ_REAL=1`, see [`fds`]). Explore further with another seed
//! and more cases:
//! `QUAY_FUZZ_SEED=$RANDOM QUAY_FUZZ_CASES=20000 cargo test --test fuzz -- --nocapture`.

#![allow(clippy::disallowed_macros)] // the numbers are for the person running the test

mod common;

use std::{
    os::fd::{AsFd, OwnedFd},
    time::{Duration, Instant},
};

use common::{Quay, SMALL_CONFIG};
use proptest::{prelude::*, test_runner::TestRunner};
use quay_test_client::{
    ext_session_lock_v1, memfd,
    wayland_client::{
        protocol::{
            wl_buffer::WlBuffer, wl_region::WlRegion, wl_shm, wl_shm_pool::WlShmPool, wl_surface::WlSurface,
        },
        Proxy,
    },
    wayland_protocols::{
        wp::{
            linux_dmabuf::zv1::client::zwp_linux_buffer_params_v1::{Flags, ZwpLinuxBufferParamsV1},
            viewporter::client::wp_viewport::WpViewport,
        },
        xdg::shell::client::{xdg_surface::XdgSurface, xdg_toplevel::XdgToplevel},
    },
    zwlr_layer_shell_v1, zwlr_layer_surface_v1, ClientError, TestClient,
};

/// Connections each case interleaves its requests over.
const CONNECTIONS: u8 = 3;

const FORMATS: [u32; 5] = [0x3432_5258, 0x3432_5241, 0x5659_5559, 0x3231_564e, 0x2020_3f3f];

#[derive(Debug, Clone)]
enum Op {
    CreateSurface,
    DestroySurface(u8),
    CreatePool(i32),
    ResizePool(u8, i32),
    DestroyPool(u8),
    CreateBuffer {
        pool: u8,
        offset: i32,
        w: i32,
        h: i32,
        stride: i32,
        xrgb: bool,
    },
    DestroyBuffer(u8),
    Attach {
        surface: u8,
        buffer: Option<u8>,
        x: i32,
        y: i32,
    },
    Damage {
        surface: u8,
        x: i32,
        y: i32,
        w: i32,
        h: i32,
        buffer_coords: bool,
    },
    Commit(u8),
    Frame(u8),
    SetScale(u8, i32),
    SetTransform(u8, u8),
    Region {
        surface: u8,
        x: i32,
        y: i32,
        w: i32,
        h: i32,
        input: bool,
    },
    XdgSurface(u8),
    Toplevel(u8),
    AckConfigure {
        xdg: u8,
        serial: Option<u32>,
    },
    WindowGeometry {
        xdg: u8,
        x: i32,
        y: i32,
        w: i32,
        h: i32,
    },
    ToplevelSizes {
        top: u8,
        min: (i32, i32),
        max: (i32, i32),
    },
    ToplevelTitle(u8, String),
    ToplevelFullscreen(u8),
    DestroyToplevel(u8),
    DestroyXdgSurface(u8),
    Subsurface {
        surface: u8,
        parent: u8,
    },
    SubsurfacePosition(u8, i32, i32),
    Positioner {
        size: (i32, i32),
        anchor_rect: (i32, i32, i32, i32),
        anchor: u8,
        gravity: u8,
        offset: (i32, i32),
        constraint: u8,
        reactive: bool,
    },
    Popup {
        xdg: u8,
        parent: Option<u8>,
        positioner: u8,
    },
    PopupReposition {
        popup: u8,
        positioner: u8,
        token: u32,
    },
    DestroyPopup(u8),
    DestroyPositioner(u8),
    Viewport(u8),
    ViewportSource {
        vp: u8,
        x: f64,
        y: f64,
        w: f64,
        h: f64,
    },
    ViewportDest {
        vp: u8,
        w: i32,
        h: i32,
    },
    DestroyViewport(u8),
    Params {
        planes: Vec<(u32, u32, u32)>,
        modifier: u64,
        w: i32,
        h: i32,
        format: u8,
        immed: bool,
    },
    ExplicitSync {
        surface: u8,
        fence: bool,
        release: bool,
    },
    Screencopy {
        buffer: u8,
        with_damage: bool,
        region: Option<(i32, i32, i32, i32)>,
    },
    SinglePixel(u32),
    Feedback(u8),
    Roundtrip,
    // The session protocols.
    Lock,
    LockSurface {
        lock: u8,
        surface: u8,
    },
    Unlock(u8),
    DestroyLock(u8),
    LayerSurface {
        surface: u8,
        layer: u8,
        on_output: bool,
        namespace: String,
    },
    LayerSet {
        ls: u8,
        size: (u32, u32),
        anchor: u32,
        exclusive: i32,
        margin: (i32, i32, i32, i32),
        keyboard: u8,
    },
    LayerAck {
        ls: u8,
        serial: Option<u32>,
    },
    DataSource(Vec<String>),
    SetSelection {
        source: Option<u8>,
        serial: u32,
    },
    OutputConfig {
        serial: Option<u32>,
        enable: bool,
        mode: Option<u8>,
        custom: Option<(i32, i32, i32)>,
        position: Option<(i32, i32)>,
        scale: Option<f64>,
        apply: bool,
    },
    /// One request sequence of a protocol applications use (frame pacing,
    /// opacity, content type, scale, dialogs, text input, xdg-foreign, the
    /// toplevel list, shortcut inhibitors, the bell): `kind` picks which, on
    /// surface (or toplevel) `target`, with any numbers `a` and `b`.
    AppProtocol {
        kind: u8,
        target: u8,
        a: u32,
        b: u32,
    },
}

fn small() -> impl Strategy<Value = i32> {
    prop_oneof![
        -2..70i32,
        Just(0),
        Just(i32::MAX),
        Just(i32::MIN),
        -100_000..100_000i32
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let idx = any::<u8>;
    prop_oneof![
        3 => Just(Op::CreateSurface),
        1 => idx().prop_map(Op::DestroySurface),
        3 => prop_oneof![Just(4096), Just(65536), -8..70_000i32, Just(0)].prop_map(Op::CreatePool),
        1 => (idx(), prop_oneof![-8..200_000i32, Just(0)]).prop_map(|(p, s)| Op::ResizePool(p, s)),
        1 => idx().prop_map(Op::DestroyPool),
        3 => (idx(), small(), small(), small(), small(), any::<bool>())
            .prop_map(|(pool, offset, w, h, stride, xrgb)| Op::CreateBuffer { pool, offset, w, h, stride, xrgb }),
        1 => idx().prop_map(Op::DestroyBuffer),
        4 => (idx(), proptest::option::of(idx()), small(), small())
            .prop_map(|(surface, buffer, x, y)| Op::Attach { surface, buffer, x, y }),
        2 => (idx(), small(), small(), small(), small(), any::<bool>()).prop_map(|(surface, x, y, w, h, buffer_coords)| {
            Op::Damage { surface, x, y, w, h, buffer_coords }
        }),
        5 => idx().prop_map(Op::Commit),
        2 => idx().prop_map(Op::Frame),
        1 => (idx(), -2..5i32).prop_map(|(s, v)| Op::SetScale(s, v)),
        1 => (idx(), any::<u8>()).prop_map(|(s, t)| Op::SetTransform(s, t)),
        1 => (idx(), small(), small(), small(), small(), any::<bool>())
            .prop_map(|(surface, x, y, w, h, input)| Op::Region { surface, x, y, w, h, input }),
        3 => idx().prop_map(Op::XdgSurface),
        3 => idx().prop_map(Op::Toplevel),
        3 => (idx(), proptest::option::of(any::<u32>())).prop_map(|(xdg, serial)| Op::AckConfigure { xdg, serial }),
        1 => (idx(), small(), small(), small(), small()).prop_map(|(xdg, x, y, w, h)| Op::WindowGeometry { xdg, x, y, w, h }),
        1 => (idx(), (small(), small()), (small(), small())).prop_map(|(top, min, max)| Op::ToplevelSizes { top, min, max }),
        1 => (idx(), "[^\\x00]{0,40}").prop_map(|(t, s)| Op::ToplevelTitle(t, s)),
        1 => idx().prop_map(Op::ToplevelFullscreen),
        1 => idx().prop_map(Op::DestroyToplevel),
        1 => idx().prop_map(Op::DestroyXdgSurface),
        2 => (idx(), idx()).prop_map(|(surface, parent)| Op::Subsurface { surface, parent }),
        1 => (idx(), small(), small()).prop_map(|(s, x, y)| Op::SubsurfacePosition(s, x, y)),
        2 => ((small(), small()), (small(), small(), small(), small()), any::<u8>(), any::<u8>(), (small(), small()), any::<u8>(), any::<bool>())
            .prop_map(|(size, anchor_rect, anchor, gravity, offset, constraint, reactive)| Op::Positioner {
                size, anchor_rect, anchor, gravity, offset, constraint, reactive
            }),
        2 => (idx(), proptest::option::of(idx()), idx()).prop_map(|(xdg, parent, positioner)| Op::Popup { xdg, parent, positioner }),
        1 => (idx(), idx(), any::<u32>()).prop_map(|(popup, positioner, token)| Op::PopupReposition { popup, positioner, token }),
        1 => idx().prop_map(Op::DestroyPopup),
        1 => idx().prop_map(Op::DestroyPositioner),
        2 => idx().prop_map(Op::Viewport),
        1 => (idx(), -4.0..70.0f64, -4.0..70.0f64, -4.0..70.0f64, -4.0..70.0f64)
            .prop_map(|(vp, x, y, w, h)| Op::ViewportSource { vp, x, y, w, h }),
        1 => (idx(), small(), small()).prop_map(|(vp, w, h)| Op::ViewportDest { vp, w, h }),
        1 => idx().prop_map(Op::DestroyViewport),
        2 => (
            proptest::collection::vec((0..6u32, prop_oneof![Just(0u32), 0..70_000u32], prop_oneof![Just(64u32), any::<u32>()]), 0..5),
            prop_oneof![Just(0u64), Just(0x00ff_ffff_ffff_ffff), any::<u64>()],
            small(),
            small(),
            0..FORMATS.len() as u8,
            any::<bool>(),
        )
            .prop_map(|(planes, modifier, w, h, format, immed)| Op::Params { planes, modifier, w, h, format, immed }),
        1 => (idx(), any::<bool>(), any::<bool>()).prop_map(|(surface, fence, release)| Op::ExplicitSync { surface, fence, release }),
        1 => (idx(), any::<bool>(), proptest::option::of((small(), small(), small(), small())))
            .prop_map(|(buffer, with_damage, region)| Op::Screencopy { buffer, with_damage, region }),
        1 => any::<u32>().prop_map(Op::SinglePixel),
        1 => idx().prop_map(Op::Feedback),
        1 => Just(Op::Roundtrip),
        1 => Just(Op::Lock),
        1 => (idx(), idx()).prop_map(|(lock, surface)| Op::LockSurface { lock, surface }),
        1 => idx().prop_map(Op::Unlock),
        1 => idx().prop_map(Op::DestroyLock),
        2 => (idx(), any::<u8>(), any::<bool>(), "[a-z]{0,8}")
            .prop_map(|(surface, layer, on_output, namespace)| Op::LayerSurface { surface, layer, on_output, namespace }),
        2 => (idx(), (0..5000u32, 0..5000u32), any::<u32>(), small(), (small(), small(), small(), small()), any::<u8>())
            .prop_map(|(ls, size, anchor, exclusive, margin, keyboard)| Op::LayerSet { ls, size, anchor, exclusive, margin, keyboard }),
        2 => (idx(), proptest::option::of(any::<u32>())).prop_map(|(ls, serial)| Op::LayerAck { ls, serial }),
        1 => proptest::collection::vec("[a-z/]{0,30}", 0..6).prop_map(Op::DataSource),
        1 => (proptest::option::of(idx()), any::<u32>()).prop_map(|(source, serial)| Op::SetSelection { source, serial }),
        1 => (
            proptest::option::of(any::<u32>()),
            any::<bool>(),
            proptest::option::of(any::<u8>()),
            proptest::option::of((prop_oneof![-2..2000i32, Just(20000)], prop_oneof![-2..2000i32, Just(20000)], -1..300_000i32)),
            proptest::option::of((prop_oneof![small(), Just(i32::MAX - 10)], small())),
            proptest::option::of(prop_oneof![-1.0..10.0f64, Just(0.0), Just(1000.0)]),
            proptest::bool::weighted(0.05),
        )
            .prop_map(|(serial, enable, mode, custom, position, scale, apply)| Op::OutputConfig {
                serial, enable, mode, custom, position, scale, apply,
            }),
        3 => (0..12u8, idx(), prop_oneof![any::<u32>(), 0..3u32, Just(u32::MAX)], any::<u32>())
            .prop_map(|(kind, target, a, b)| Op::AppProtocol { kind, target, a, b }),
    ]
}

/// Objects of one case, indexed modulo their count.
#[derive(Default)]
struct Objects {
    surfaces: Vec<WlSurface>,
    pools: Vec<WlShmPool>,
    buffers: Vec<WlBuffer>,
    xdg: Vec<XdgSurface>,
    toplevels: Vec<XdgToplevel>,
    viewports: Vec<WpViewport>,
    positioners: Vec<quay_test_client::wayland_protocols::xdg::shell::client::xdg_positioner::XdgPositioner>,
    popups: Vec<quay_test_client::wayland_protocols::xdg::shell::client::xdg_popup::XdgPopup>,
    subsurfaces: Vec<quay_test_client::wayland_client::protocol::wl_subsurface::WlSubsurface>,
    params: Vec<ZwpLinuxBufferParamsV1>,
    regions: Vec<WlRegion>,
    locks: Vec<ext_session_lock_v1::ExtSessionLockV1>,
    layers: Vec<zwlr_layer_surface_v1::ZwlrLayerSurfaceV1>,
    sources: Vec<quay_test_client::wayland_client::protocol::wl_data_source::WlDataSource>,
    /// What this connection did that outlives it in Quay: a lock (a dead
    /// locker leaves the session locked), an output configuration applied.
    locked: bool,
    applied: bool,
}

/// The `i`-th (modulo) object still alive on the client side: the client
/// library refuses a dead object as a request argument.
fn pick<T: Proxy>(v: &[T], i: u8) -> Option<&T> {
    let alive: Vec<&T> = v.iter().filter(|p| p.is_alive()).collect();
    (!alive.is_empty()).then(|| alive[i as usize % alive.len()])
}

fn run_op(c: &mut TestClient, o: &mut Objects, fd: &OwnedFd, acquire: &OwnedFd, op: &Op) {
    let qh = c.qh.clone();
    match op {
        Op::CreateSurface => o.surfaces.push(c.compositor.create_surface(&qh, ())),
        Op::DestroySurface(i) => {
            if let Some(s) = pick(&o.surfaces, *i) {
                s.destroy()
            }
        }
        Op::CreatePool(size) => o.pools.push(c.shm.create_pool(fd.as_fd(), *size, &qh, ())),
        Op::ResizePool(i, size) => {
            if let Some(p) = pick(&o.pools, *i) {
                p.resize(*size)
            }
        }
        Op::DestroyPool(i) => {
            if let Some(p) = pick(&o.pools, *i) {
                p.destroy()
            }
        }
        Op::CreateBuffer {
            pool,
            offset,
            w,
            h,
            stride,
            xrgb,
        } => {
            if let Some(p) = pick(&o.pools, *pool) {
                let f = if *xrgb {
                    wl_shm::Format::Xrgb8888
                } else {
                    wl_shm::Format::Argb8888
                };
                o.buffers
                    .push(p.create_buffer(*offset, *w, *h, *stride, f, &qh, ()));
            }
        }
        Op::DestroyBuffer(i) => {
            if let Some(b) = pick(&o.buffers, *i) {
                b.destroy()
            }
        }
        Op::Attach {
            surface,
            buffer,
            x,
            y,
        } => {
            if let Some(s) = pick(&o.surfaces, *surface) {
                let b = buffer.and_then(|b| pick(&o.buffers, b));
                s.attach(b, *x, *y);
            }
        }
        Op::Damage {
            surface,
            x,
            y,
            w,
            h,
            buffer_coords,
        } => {
            if let Some(s) = pick(&o.surfaces, *surface) {
                if *buffer_coords {
                    s.damage_buffer(*x, *y, *w, *h)
                } else {
                    s.damage(*x, *y, *w, *h)
                }
            }
        }
        Op::Commit(i) => {
            if let Some(s) = pick(&o.surfaces, *i) {
                s.commit()
            }
        }
        Op::Frame(i) => {
            if let Some(s) = pick(&o.surfaces, *i) {
                let _ = s.frame(&qh, ());
            }
        }
        Op::SetScale(i, v) => {
            if let Some(s) = pick(&o.surfaces, *i) {
                s.set_buffer_scale(*v)
            }
        }
        Op::SetTransform(i, t) => {
            if let Some(s) = pick(&o.surfaces, *i) {
                use quay_test_client::wayland_client::protocol::wl_output::Transform;
                let t = match t % 9 {
                    0 => Transform::Normal,
                    1 => Transform::_90,
                    2 => Transform::_180,
                    3 => Transform::_270,
                    4 => Transform::Flipped,
                    5 => Transform::Flipped90,
                    6 => Transform::Flipped180,
                    _ => Transform::Flipped270,
                };
                s.set_buffer_transform(t)
            }
        }
        Op::Region {
            surface,
            x,
            y,
            w,
            h,
            input,
        } => {
            let r = c.compositor.create_region(&qh, ());
            r.add(*x, *y, *w, *h);
            r.subtract(*y, *x, *h / 2, *w / 2);
            if let Some(s) = pick(&o.surfaces, *surface) {
                if *input {
                    s.set_input_region(Some(&r))
                } else {
                    s.set_opaque_region(Some(&r))
                }
            }
            o.regions.push(r);
        }
        Op::XdgSurface(i) => {
            if let Some(s) = pick(&o.surfaces, *i) {
                o.xdg.push(c.wm_base.get_xdg_surface(s, &qh, ()));
            }
        }
        Op::Toplevel(i) => {
            if let Some(x) = pick(&o.xdg, *i) {
                o.toplevels.push(x.get_toplevel(&qh, ()));
            }
        }
        Op::AckConfigure { xdg, serial } => {
            if let Some(x) = pick(&o.xdg, *xdg) {
                let last = c.app.configures.get(&x.id().protocol_id()).copied();
                x.ack_configure(serial.or(last).unwrap_or(1));
            }
        }
        Op::WindowGeometry { xdg, x, y, w, h } => {
            if let Some(s) = pick(&o.xdg, *xdg) {
                s.set_window_geometry(*x, *y, *w, *h)
            }
        }
        Op::ToplevelSizes { top, min, max } => {
            if let Some(t) = pick(&o.toplevels, *top) {
                t.set_min_size(min.0, min.1);
                t.set_max_size(max.0, max.1);
            }
        }
        Op::ToplevelTitle(i, title) => {
            if let Some(t) = pick(&o.toplevels, *i) {
                t.set_title(title.clone());
                t.set_app_id(title.clone());
            }
        }
        Op::ToplevelFullscreen(i) => {
            if let Some(t) = pick(&o.toplevels, *i) {
                t.set_fullscreen(None);
                t.set_maximized();
                t.unset_fullscreen();
            }
        }
        Op::DestroyToplevel(i) => {
            if let Some(t) = pick(&o.toplevels, *i) {
                t.destroy()
            }
        }
        Op::DestroyXdgSurface(i) => {
            if let Some(x) = pick(&o.xdg, *i) {
                x.destroy()
            }
        }
        Op::Subsurface { surface, parent } => {
            if let (Some(s), Some(p), Some(sc)) = (
                pick(&o.surfaces, *surface),
                pick(&o.surfaces, *parent),
                c.subcompositor.as_ref(),
            ) {
                o.subsurfaces.push(sc.get_subsurface(s, p, &qh, ()));
            }
        }
        Op::SubsurfacePosition(i, x, y) => {
            if let Some(s) = pick(&o.subsurfaces, *i) {
                s.set_position(*x, *y);
                s.set_desync();
            }
        }
        Op::Positioner {
            size,
            anchor_rect,
            anchor,
            gravity,
            offset,
            constraint,
            reactive,
        } => {
            use quay_test_client::wayland_protocols::xdg::shell::client::xdg_positioner::{
                Anchor, ConstraintAdjustment, Gravity,
            };
            let p = c.wm_base.create_positioner(&qh, ());
            p.set_size(size.0, size.1);
            p.set_anchor_rect(anchor_rect.0, anchor_rect.1, anchor_rect.2, anchor_rect.3);
            let anchors = [
                Anchor::None,
                Anchor::Top,
                Anchor::Bottom,
                Anchor::Left,
                Anchor::Right,
                Anchor::TopLeft,
                Anchor::BottomLeft,
                Anchor::TopRight,
                Anchor::BottomRight,
            ];
            let gravities = [
                Gravity::None,
                Gravity::Top,
                Gravity::Bottom,
                Gravity::Left,
                Gravity::Right,
                Gravity::TopLeft,
                Gravity::BottomLeft,
                Gravity::TopRight,
                Gravity::BottomRight,
            ];
            p.set_anchor(anchors[*anchor as usize % anchors.len()]);
            p.set_gravity(gravities[*gravity as usize % gravities.len()]);
            p.set_offset(offset.0, offset.1);
            p.set_constraint_adjustment(ConstraintAdjustment::from_bits_truncate(u32::from(*constraint)));
            if *reactive && p.version() >= 3 {
                p.set_reactive();
            }
            o.positioners.push(p);
        }
        Op::Popup {
            xdg,
            parent,
            positioner,
        } => {
            if let (Some(x), Some(p)) = (pick(&o.xdg, *xdg), pick(&o.positioners, *positioner)) {
                let parent = parent.and_then(|i| pick(&o.xdg, i));
                o.popups.push(x.get_popup(parent, p, &qh, ()));
            }
        }
        Op::PopupReposition {
            popup,
            positioner,
            token,
        } => {
            if let (Some(pp), Some(p)) = (pick(&o.popups, *popup), pick(&o.positioners, *positioner)) {
                if pp.version() >= 3 {
                    pp.reposition(p, *token);
                }
            }
        }
        Op::DestroyPopup(i) => {
            if let Some(p) = pick(&o.popups, *i) {
                p.destroy()
            }
        }
        Op::DestroyPositioner(i) => {
            if let Some(p) = pick(&o.positioners, *i) {
                p.destroy()
            }
        }
        Op::Viewport(i) => {
            if let (Some(s), Some(vp)) = (pick(&o.surfaces, *i), c.viewporter.as_ref()) {
                o.viewports.push(vp.get_viewport(s, &qh, ()));
            }
        }
        Op::ViewportSource { vp, x, y, w, h } => {
            if let Some(v) = pick(&o.viewports, *vp) {
                v.set_source(*x, *y, *w, *h)
            }
        }
        Op::ViewportDest { vp, w, h } => {
            if let Some(v) = pick(&o.viewports, *vp) {
                v.set_destination(*w, *h)
            }
        }
        Op::DestroyViewport(i) => {
            if let Some(v) = pick(&o.viewports, *i) {
                v.destroy()
            }
        }
        Op::Params {
            planes,
            modifier,
            w,
            h,
            format,
            immed,
        } => {
            let p = c.params();
            for &(idx, offset, stride) in planes {
                p.add(
                    fd.as_fd(),
                    idx,
                    offset,
                    stride,
                    (*modifier >> 32) as u32,
                    *modifier as u32,
                );
            }
            let f = FORMATS[*format as usize % FORMATS.len()];
            if *immed {
                o.buffers.push(p.create_immed(*w, *h, f, Flags::empty(), &qh, ()));
            } else {
                p.create(*w, *h, f, Flags::empty());
            }
            o.params.push(p);
        }
        Op::ExplicitSync {
            surface,
            fence,
            release,
        } => {
            if let (Some(s), Some(es)) = (pick(&o.surfaces, *surface), c.explicit_sync.as_ref()) {
                let sync = es.get_synchronization(s, &qh, ());
                if *fence {
                    sync.set_acquire_fence(acquire.as_fd());
                }
                if *release {
                    let _ = sync.get_release(&qh, ());
                }
            }
        }
        Op::Screencopy {
            buffer,
            with_damage,
            region,
        } => {
            if let (Some(sc), Some(out)) = (c.screencopy.as_ref(), c.output.as_ref()) {
                let frame = match region {
                    Some((x, y, w, h)) => sc.capture_output_region(0, out, *x, *y, *w, *h, &qh, ()),
                    None => sc.capture_output(1, out, &qh, ()),
                };
                if let Some(b) = pick(&o.buffers, *buffer) {
                    if *with_damage {
                        frame.copy_with_damage(b)
                    } else {
                        frame.copy(b)
                    }
                }
            }
        }
        Op::SinglePixel(rgba) => {
            if let Some(sp) = c.single_pixel.as_ref() {
                let v = |s: u32| (rgba >> s & 0xff) * 0x0101_0101;
                o.buffers
                    .push(sp.create_u32_rgba_buffer(v(24), v(16), v(8), v(0), &qh, ()));
            }
        }
        Op::Feedback(i) => {
            if let Some(s) = pick(&o.surfaces, *i) {
                let _ = c.presentation.feedback(s, &qh, ());
            }
        }
        Op::Roundtrip => {
            let _ = c.dispatch_until("a moment", Duration::from_millis(5), |_| false);
        }
        Op::Lock => {
            if let Some(m) = c.session_lock.as_ref() {
                o.locks.push(m.lock(&qh, ()));
                o.locked = true;
            }
        }
        Op::LockSurface { lock, surface } => {
            if let (Some(l), Some(s), Some(out)) = (
                pick(&o.locks, *lock),
                pick(&o.surfaces, *surface),
                c.output.as_ref(),
            ) {
                let _ = l.get_lock_surface(s, out, &qh, ());
            }
        }
        Op::Unlock(i) => {
            if let Some(l) = pick(&o.locks, *i) {
                l.unlock_and_destroy()
            }
        }
        Op::DestroyLock(i) => {
            if let Some(l) = pick(&o.locks, *i) {
                l.destroy()
            }
        }
        Op::LayerSurface {
            surface,
            layer,
            on_output,
            namespace,
        } => {
            if let (Some(ls), Some(s)) = (c.layer_shell.as_ref(), pick(&o.surfaces, *surface)) {
                use zwlr_layer_shell_v1::Layer;
                let layer =
                    [Layer::Background, Layer::Bottom, Layer::Top, Layer::Overlay][*layer as usize % 4];
                let output = if *on_output { c.output.as_ref() } else { None };
                o.layers
                    .push(ls.get_layer_surface(s, output, layer, namespace.clone(), &qh, ()));
            }
        }
        Op::LayerSet {
            ls,
            size,
            anchor,
            exclusive,
            margin,
            keyboard,
        } => {
            if let Some(l) = pick(&o.layers, *ls) {
                use zwlr_layer_surface_v1::{Anchor, KeyboardInteractivity};
                l.set_size(size.0, size.1);
                l.set_anchor(Anchor::from_bits_truncate(*anchor));
                l.set_exclusive_zone(*exclusive);
                l.set_margin(margin.0, margin.1, margin.2, margin.3);
                let k = [
                    KeyboardInteractivity::None,
                    KeyboardInteractivity::Exclusive,
                    KeyboardInteractivity::OnDemand,
                ][*keyboard as usize % 3];
                if l.version() >= 4 || k != KeyboardInteractivity::OnDemand {
                    l.set_keyboard_interactivity(k);
                }
            }
        }
        Op::LayerAck { ls, serial } => {
            if let Some(l) = pick(&o.layers, *ls) {
                let id = l.id().protocol_id();
                let last = c
                    .app
                    .layer_configures
                    .iter()
                    .rev()
                    .find(|(i, _)| *i == id)
                    .map(|(_, s)| *s);
                if let Some(serial) = serial.or(last) {
                    l.ack_configure(serial);
                }
            }
        }
        Op::DataSource(mimes) => {
            if let Some(m) = c.data_device_manager.as_ref() {
                let src = m.create_data_source(&qh, ());
                for mime in mimes {
                    src.offer(mime.clone());
                }
                o.sources.push(src);
            }
        }
        Op::SetSelection { source, serial } => {
            if let (Some(m), Some(seat)) = (c.data_device_manager.as_ref(), c.seat.as_ref()) {
                let device = m.get_data_device(seat, &qh, ());
                let src = source.and_then(|i| pick(&o.sources, i));
                device.set_selection(src, *serial);
            }
        }
        Op::OutputConfig {
            serial,
            enable,
            mode,
            custom,
            position,
            scale,
            apply,
        } => {
            let (Some(m), Some(head)) = (c.output_manager.as_ref(), c.app.output_heads.first()) else {
                return;
            };
            let Some(serial) = serial.or(c.app.output_serial) else {
                return;
            };
            let config = m.create_configuration(serial, &qh, ());
            if *enable {
                let ch = config.enable_head(head, &qh, ());
                if let Some(i) = mode {
                    if let Some(md) = pick(&c.app.output_modes, *i) {
                        ch.set_mode(md);
                    }
                } else if let Some((w, h, r)) = custom {
                    ch.set_custom_mode(*w, *h, *r);
                }
                if let Some((x, y)) = position {
                    ch.set_position(*x, *y);
                }
                if let Some(sc) = scale {
                    ch.set_scale(*sc);
                }
            } else {
                config.disable_head(head);
            }
            if *apply {
                config.apply();
                o.applied = true;
            } else {
                config.test();
            }
        }
        Op::AppProtocol { kind, target, a, b } => app_protocol(c, o, *kind, *target, *a, *b),
    }
}

/// [`Op::AppProtocol`]. Each binds its manager afresh (a second manager
/// object is legal and fuzzes the globals' bind path too).
fn app_protocol(c: &mut TestClient, o: &Objects, kind: u8, target: u8, a: u32, b: u32) {
    use quay_test_client::wayland_protocols::{
        ext::foreign_toplevel_list::v1::client::ext_foreign_toplevel_list_v1::ExtForeignToplevelListV1,
        wp::{
            alpha_modifier::v1::client::wp_alpha_modifier_v1::WpAlphaModifierV1,
            commit_timing::v1::client::wp_commit_timing_manager_v1::WpCommitTimingManagerV1,
            content_type::v1::client::{
                wp_content_type_manager_v1::WpContentTypeManagerV1, wp_content_type_v1::Type,
            },
            fifo::v1::client::wp_fifo_manager_v1::WpFifoManagerV1,
            fractional_scale::v1::client::wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1,
            keyboard_shortcuts_inhibit::zv1::client::zwp_keyboard_shortcuts_inhibit_manager_v1::ZwpKeyboardShortcutsInhibitManagerV1,
            text_input::zv3::client::zwp_text_input_manager_v3::ZwpTextInputManagerV3,
        },
        xdg::{
            dialog::v1::client::xdg_wm_dialog_v1::XdgWmDialogV1,
            foreign::zv2::client::{zxdg_exporter_v2::ZxdgExporterV2, zxdg_importer_v2::ZxdgImporterV2},
            system_bell::v1::client::xdg_system_bell_v1::XdgSystemBellV1,
        },
    };
    let qh = c.qh.clone();
    let surface = pick(&o.surfaces, target).cloned();
    let seat = c.seat.clone();
    match (kind, surface, seat) {
        (0, Some(s), _) => {
            if let Ok(m) = c.bind::<WpFifoManagerV1>("wp_fifo_manager_v1", 1) {
                let f = m.get_fifo(&s, &qh, ());
                if a % 3 != 1 {
                    f.set_barrier();
                }
                if !a.is_multiple_of(3) {
                    f.wait_barrier();
                }
            }
        }
        (1, Some(s), _) => {
            if let Ok(m) = c.bind::<WpCommitTimingManagerV1>("wp_commit_timing_manager_v1", 1) {
                m.get_timer(&s, &qh, ()).set_timestamp(a % 4, b, a ^ b);
            }
        }
        (2, Some(s), _) => {
            if let Ok(m) = c.bind::<WpAlphaModifierV1>("wp_alpha_modifier_v1", 1) {
                m.get_surface(&s, &qh, ()).set_multiplier(a);
            }
        }
        (3, Some(s), _) => {
            if let Ok(m) = c.bind::<WpContentTypeManagerV1>("wp_content_type_manager_v1", 1) {
                let types = [Type::None, Type::Photo, Type::Video, Type::Game];
                m.get_surface_content_type(&s, &qh, ())
                    .set_content_type(types[a as usize % 4]);
            }
        }
        (4, Some(s), _) => {
            if let Ok(m) = c.bind::<WpFractionalScaleManagerV1>("wp_fractional_scale_manager_v1", 1) {
                m.get_fractional_scale(&s, &qh, ());
            }
        }
        (5, _, _) => {
            if let (Some(t), Ok(m)) = (
                pick(&o.toplevels, target),
                c.bind::<XdgWmDialogV1>("xdg_wm_dialog_v1", 1),
            ) {
                let d = m.get_xdg_dialog(t, &qh, ());
                if a & 1 == 1 {
                    d.set_modal();
                } else {
                    d.unset_modal();
                }
            }
        }
        (6, _, Some(seat)) => {
            if let Ok(m) = c.bind::<ZwpTextInputManagerV3>("zwp_text_input_manager_v3", 1) {
                let t = m.get_text_input(&seat, &qh, ());
                if a & 1 == 1 {
                    t.enable();
                }
                t.set_surrounding_text("fuzz \u{e9}\u{1f600}".into(), a as i32, b as i32);
                t.set_cursor_rectangle(a as i32, b as i32, (a >> 8) as i32, (b >> 8) as i32);
                t.commit();
                if a & 2 == 2 {
                    t.disable();
                    t.commit();
                }
            }
        }
        (7, Some(s), _) => {
            if let Ok(m) = c.bind::<ZxdgExporterV2>("zxdg_exporter_v2", 1) {
                m.export_toplevel(&s, &qh, ());
            }
        }
        (8, Some(s), _) => {
            if let Ok(m) = c.bind::<ZxdgImporterV2>("zxdg_importer_v2", 1) {
                m.import_toplevel(format!("{a:x}-{b:x}"), &qh, ())
                    .set_parent_of(&s);
            }
        }
        (9, _, _) => {
            if let Ok(l) = c.bind::<ExtForeignToplevelListV1>("ext_foreign_toplevel_list_v1", 1) {
                if a & 1 == 1 {
                    l.stop();
                }
            }
        }
        (10, Some(s), Some(seat)) => {
            let name = "zwp_keyboard_shortcuts_inhibit_manager_v1";
            if let Ok(m) = c.bind::<ZwpKeyboardShortcutsInhibitManagerV1>(name, 1) {
                m.inhibit_shortcuts(&s, &seat, &qh, ());
            }
        }
        (11, s, _) => {
            if let Ok(m) = c.bind::<XdgSystemBellV1>("xdg_system_bell_v1", 1) {
                m.ring(s.as_ref().filter(|_| a & 1 == 1));
            }
        }
        _ => {}
    }
}

/// The fd every request that takes one gets (pools, dma-buf planes) and
/// the one sent as an acquire fence. On the host both are a memfd; with
/// `QUAY_FUZZ_REAL=1` (the VM suite's `quay-fuzz-real`) the first is a real
/// dma-heap dma-buf carrying an unsignalled sw_sync write fence, and the
/// second that sw_sync fence itself: real kernel objects Quay must neither
/// wait on nor trip over. The sw_sync timeline is kept open for the run.
fn fds() -> (OwnedFd, OwnedFd, Option<quay_test_client::syncobj::SwSync>) {
    if std::env::var("QUAY_FUZZ_REAL").is_ok_and(|v| v == "1") {
        use quay_test_client::{dmabuf, syncobj};
        let buf =
            dmabuf::alloc(dmabuf::Source::DmaHeap, 70_000).expect("a dma-heap buffer (/dev/dma_heap/system)");
        let sw = syncobj::SwSync::open().expect("sw_sync (/sys/kernel/debug/sync/sw_sync)");
        let fence = sw.fence(1).expect("a sw_sync fence");
        syncobj::attach_write_fence(&buf, &fence).expect("DMA_BUF_IOCTL_IMPORT_SYNC_FILE");
        return (buf, fence, Some(sw));
    }
    (memfd(70_000), memfd(4096), None)
}

/// Quay's answer to a whole case, within 10 s: `Ok` when the connection
/// is still fine, the protocol error otherwise.
fn settle(c: &mut TestClient) -> Result<Result<(), String>, String> {
    let cb = c.conn.display().sync(&c.qh, ());
    let id = cb.id().protocol_id();
    let seen = c.app.frame_done.len();
    match c.dispatch_until("the case's sync", Duration::from_secs(10), |app| {
        app.frame_done[seen..].iter().any(|(i, _)| *i == id)
    }) {
        Ok(()) => Ok(Ok(())),
        Err(ClientError::Protocol(e)) => Ok(Err(format!(
            "{}@{}: {} {}",
            e.object_interface, e.object_id, e.code, e.message
        ))),
        Err(ClientError::Timeout(_)) => Err("no answer within 10 s".into()),
        // wl_display.error no_memory (a client budget): libwayland reports it as ENOMEM.
        Err(ClientError::Io(e)) if e.contains("os error 12") => Ok(Err(format!("wl_display no_memory: {e}"))),
        Err(ClientError::Io(e)) => Err(format!("connection lost without a protocol error: {e}")),
    }
}

/// One Quay and its bystander; a Quay that died fails the case and is
/// replaced (so that proptest can shrink a crash to its smallest
/// sequence), the first crash's log kept.
struct Rig {
    quay: Quay,
    bystander: TestClient,
    window: quay_test_client::Window,
    crash_log: Option<String>,
}

impl Rig {
    fn new() -> Rig {
        let quay = Quay::start(SMALL_CONFIG);
        let mut bystander = quay.client();
        let window = bystander.window(16, 16, 0xffff0000).unwrap();
        bystander.commit_and_wait_frame(&window.surface).unwrap();
        Rig {
            quay,
            bystander,
            window,
            crash_log: None,
        }
    }

    /// Running and listening (a Quay that panicked removes its socket while
    /// it unwinds, before it exits).
    fn alive(&mut self) -> bool {
        self.quay.child.try_wait().ok().flatten().is_none() && self.quay.socket_path().exists()
    }

    /// After a case that changed the outputs: start afresh, keeping a
    /// crash log if there is one.
    fn restart_clean(&mut self) {
        let crash_log = self.crash_log.take();
        *self = Rig::new();
        self.crash_log = crash_log;
    }

    /// After a case that locked the session: its locker is gone, so a new
    /// one takes over and unlocks (the protocol lets a new locker take a
    /// lock whose client died). Quay may not have seen the old locker
    /// leave yet: refused (`finished`) locks are tried again for 10 s.
    fn unlock(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut l = self.quay.client();
            let lock = l
                .session_lock
                .as_ref()
                .ok_or("no ext_session_lock_manager_v1")?
                .lock(&l.qh, ());
            let id = lock.id().protocol_id();
            l.dispatch_until("locked or finished", Duration::from_secs(10), |app| {
                app.lock_events.iter().any(|(i, _)| *i == id)
            })
            .map_err(|e| format!("the rig's lock: {e}"))?;
            if l.app.lock_events.contains(&(id, "locked")) {
                lock.unlock_and_destroy();
                l.roundtrip().map_err(|e| format!("the rig's unlock: {e}"))?;
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("the session stayed locked by a fuzz client for 10 s after it left".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// After a crash: keep the first crash's log, start afresh.
    fn restart(&mut self) {
        let log = self.quay.log_text();
        let crash_log = self.crash_log.take().or(Some(log));
        *self = Rig::new();
        self.crash_log = crash_log;
    }
}

#[test]
fn random_request_sequences_get_events_or_a_protocol_error() {
    let cases: u32 = std::env::var("QUAY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    // A fixed seed by default, so that CI is the same run every time; any
    // other seed explores new sequences.
    let seed: u64 = std::env::var("QUAY_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5155_4159);
    let rig = std::cell::RefCell::new(Rig::new());
    let (fd, fence, _real) = fds();
    let started = Instant::now();
    let errors = std::cell::Cell::new(0u32);
    // How long the bystander waited for its frame after each case.
    let bystander_waits = std::cell::RefCell::new(Vec::<Duration>::new());
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig {
            cases,
            max_shrink_iters: 300,
            failure_persistence: None,
            ..ProptestConfig::default()
        },
        proptest::test_runner::TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &seed_bytes),
    );
    // Each case: up to three hostile connections at once, their requests
    // interleaved, beside the bystander.
    let result = runner.run(&proptest::collection::vec((0..CONNECTIONS, op()), 1..40), |ops| {
        let mut rig = rig.borrow_mut();
        if !rig.alive() {
            // It died after the case before had been served: a death is a
            // failure wherever it happens. The rig starts afresh so that
            // proptest can go on shrinking; the first crash's log is kept.
            rig.restart();
            return Err(TestCaseError::fail(
                "Quay died after the previous case had passed (see the first crash's log)",
            ));
        }
        let mut conns: Vec<Option<(TestClient, Objects)>> = (0..CONNECTIONS).map(|_| None).collect();
        for (i, o) in &ops {
            let slot = &mut conns[*i as usize];
            if slot.is_none() {
                let c = TestClient::connect(&rig.quay.socket_path())
                    .map_err(|e| TestCaseError::fail(format!("cannot connect: {e}")))?;
                *slot = Some((c, Objects::default()));
            }
            if let Some((c, objects)) = slot.as_mut() {
                run_op(c, objects, &fd, &fence, o);
            }
        }
        let (mut locked, mut applied) = (false, false);
        for (c, objects) in conns.iter_mut().flatten() {
            let answer =
                settle(c).map_err(|e| TestCaseError::fail(format!("{e}; quay log:\n{}", tail(&rig.quay))))?;
            if answer.is_err() {
                errors.set(errors.get() + 1);
            }
            locked |= objects.locked;
            applied |= objects.applied;
        }
        drop(conns);
        // What outlives a connection: a dead locker's lock (taken over and
        // unlocked), an output configuration (a fresh Quay).
        if applied {
            rig.restart_clean();
        } else if locked {
            rig.unlock()
                .map_err(|e| TestCaseError::fail(format!("{e}; quay log:\n{}", tail(&rig.quay))))?;
        }
        // Nobody else noticed, and Quay is alive.
        let Rig {
            bystander,
            window,
            quay,
            ..
        } = &mut *rig;
        let waited = Instant::now();
        bystander.commit_and_wait_frame(&window.surface).map_err(|e| {
            TestCaseError::fail(format!(
                "the bystander was not served: {e}; quay log:\n{}",
                tail(quay)
            ))
        })?;
        bystander_waits.borrow_mut().push(waited.elapsed());
        Ok(())
    });
    let mut rig = rig.into_inner();
    if let Err(e) = result {
        panic!(
            "{e}\nthe first crash's quay log (tail):\n{}",
            rig.crash_log.as_deref().map(tail_of).unwrap_or_default()
        );
    }
    let mut waits = bystander_waits.into_inner();
    waits.sort();
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
    eprintln!(
        "fuzz: seed {seed}, {cases} cases in {:.1} s, {} ended in a protocol error; \
         the bystander's frame after a case: p99 {:.1} ms, longest {:.1} ms",
        started.elapsed().as_secs_f64(),
        errors.get(),
        ms(waits.get(waits.len() * 99 / 100)),
        ms(waits.last())
    );
    assert!(rig.alive(), "Quay is alive");
    assert!(
        rig.crash_log.is_none(),
        "Quay died during the run; the first crash's log (tail):\n{}",
        rig.crash_log.as_deref().map(tail_of).unwrap_or_default()
    );
    // Nothing of the fuzz clients is left.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rig.quay.stat("clients_live") != 1 {
        assert!(Instant::now() < deadline, "fuzz clients did not go away");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(rig.quay.terminate().success());
}

fn tail_of(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

fn tail(quay: &Quay) -> String {
    tail_of(&quay.log_text())
}
