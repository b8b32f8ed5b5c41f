//! linux-dmabuf on the host: the version and device it names, `created`/
//! `failed`, and every params error of the protocol, from a real client on a
//! real socket.
//!
//! The host kernel has no dma-buf exporter (no DRM, no udmabuf, no
//! dma-heaps), so the buffers here are memfds: they have inodes like
//! dma-bufs but reject `DMA_BUF_IOCTL_SYNC`, and Quay must answer them
//! `failed` (or, for `create_immed`, with `invalid_wl_buffer`). Renderer
//! import of real dma-bufs is proven in the VM suite.

mod common;

use std::os::fd::AsFd;

use common::{error_of, Quay, SMALL_CONFIG};
use quay_test_client::wayland_protocols::wp::linux_dmabuf::zv1::client::zwp_linux_buffer_params_v1::{
    Error as ParamsError, Flags,
};
use quay_test_client::{memfd, wayland_client::Proxy, ParamsResult};

const ARGB8888: u32 = 0x34325241; // 'AR24'
const XRGB8888: u32 = 0x34325258; // 'XR24'
const LINEAR: u64 = 0;

/// The global names a device clients can open, or none: with a DRM node,
/// version 5 with feedback naming it; without one (as on machines with no
/// `/dev/dri`), version 3, whose `format`/`modifier` events name no device.
/// Never a made-up `main_device` (`dev_t` 0): clients that look it up fail.
#[test]
fn the_dmabuf_global_names_a_real_device_or_none() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    c.roundtrip().unwrap();
    let version = c.dmabuf().version();
    let Some((device, node)) = quay::buffer::find_main_device() else {
        assert_eq!(version, 3, "no DRM device here: version 3, no feedback");
        let m = &c.app.dmabuf_modifiers;
        assert!(m.contains(&(ARGB8888, LINEAR)), "modifier events: {m:x?}");
        assert!(m.contains(&(XRGB8888, LINEAR)), "modifier events: {m:x?}");
        return;
    };
    assert_eq!(version, 5, "a DRM device ({node:?}): feedback");
    let fb = c.default_feedback().unwrap();
    assert_eq!(fb.main_device, Some(device), "the node's dev_t");
    assert!(fb.table.contains(&(ARGB8888, LINEAR)), "table: {:x?}", fb.table);
    assert!(fb.table.contains(&(XRGB8888, LINEAR)), "table: {:x?}", fb.table);
    assert!(!fb.tranches.is_empty(), "at least one tranche");
    let t = &fb.tranches[0];
    assert_eq!(
        t.target_device, fb.main_device,
        "first tranche targets the main device"
    );
    assert!(!t.formats.is_empty());
    for &i in &t.formats {
        assert!(
            (i as usize) < fb.table.len(),
            "tranche index {i} inside the table"
        );
    }
    assert_eq!(fb.done, 1);

    // Per-surface feedback: a complete feedback for that surface.
    let surface = c.compositor.create_surface(&c.qh, ());
    let sfb = c.surface_feedback(&surface).unwrap();
    assert_eq!(sfb.main_device, fb.main_device);
    assert!(sfb.table.contains(&(XRGB8888, LINEAR)));
    assert!(!sfb.tranches.is_empty());
}

#[test]
fn memfd_is_not_a_dmabuf_and_gets_failed() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let fd = memfd(64 * 64 * 4);
    let params = c.params();
    params.add(fd.as_fd(), 0, 0, 64 * 4, (LINEAR >> 32) as u32, LINEAR as u32);
    params.create(64, 64, XRGB8888, Flags::empty());
    assert_eq!(c.wait_params(&params).unwrap(), ParamsResult::Failed);
    assert_eq!(quay.stat("dmabuf_params_failed_total"), 1);
    assert_eq!(quay.stat("dmabuf_params_created_total"), 0);
    // Refused for being a memfd, before any engine saw it: the same reason
    // on pixman and on GLES (QUAY_TEST_RENDERER).
    assert_eq!(quay.stat("dmabuf_failed_not_dmabuf_total"), 1);
    for other in ["stat", "unsupported_layout", "incomplete", "mapping", "refused"] {
        assert_eq!(quay.stat(&format!("dmabuf_failed_{other}_total")), 0, "{other}");
    }
    // A refused buffer leaves no import behind.
    assert_eq!(quay.stat("imports_total"), 0);
    assert_eq!(quay.stat("dmabufs_live"), 0);
    assert_eq!(quay.stat("import_cache_hits"), 0);
    // The client is still fine afterwards.
    let w = c.window(16, 16, 0xff00ff00).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
}

#[test]
fn params_protocol_errors() {
    let quay = Quay::start(SMALL_CONFIG);
    let fd = memfd(4096);
    let stride = 16 * 4;

    let (code, iface) = error_of(&quay, |c| {
        let p = c.params();
        p.add(fd.as_fd(), 4, 0, stride, 0, 0);
    });
    assert_eq!(
        (code, iface.as_str()),
        (ParamsError::PlaneIdx as u32, "zwp_linux_buffer_params_v1")
    );

    let (code, _) = error_of(&quay, |c| {
        let p = c.params();
        p.add(fd.as_fd(), 0, 0, stride, 0, 0);
        p.add(fd.as_fd(), 0, 0, stride, 0, 0);
    });
    assert_eq!(code, ParamsError::PlaneSet as u32);

    let (code, _) = error_of(&quay, |c| {
        let p = c.params();
        p.create(16, 16, XRGB8888, Flags::empty());
    });
    assert_eq!(code, ParamsError::Incomplete as u32);

    let (code, _) = error_of(&quay, |c| {
        let p = c.params();
        p.add(fd.as_fd(), 0, 0, stride, 0, 0);
        p.create(0, 16, XRGB8888, Flags::empty());
    });
    assert_eq!(code, ParamsError::InvalidDimensions as u32);

    // Height 0, a plane at the very end of the fd and a huge stride: smithay
    // posts invalid_dimensions and goes on to add offset + stride unchecked
    // (smithay-0.7.0 src/wayland/dmabuf/mod.rs:1134-1177), which overflows.
    // The client gets the error; Quay must not die of the overflow.
    let (code, _) = error_of(&quay, |c| {
        let p = c.params();
        p.add(fd.as_fd(), 0, 4096, 0xffff_fff0, 0, 0);
        p.create(16, 0, XRGB8888, Flags::empty());
    });
    assert_eq!(code, ParamsError::InvalidDimensions as u32);

    let (code, _) = error_of(&quay, |c| {
        let p = c.params();
        p.add(fd.as_fd(), 0, 0, stride, 0, 0);
        p.create(16, 16, 0x20203f3f, Flags::empty()); // '??  ' is no format
    });
    assert_eq!(code, ParamsError::InvalidFormat as u32);

    // v5: a format + modifier pair the feedback did not advertise is
    // invalid_format, even when the format alone is known (X-tiled here).
    let (code, _) = error_of(&quay, |c| {
        let p = c.params();
        let x_tiled: u64 = 0x0100_0000_0000_0001;
        p.add(fd.as_fd(), 0, 0, stride, (x_tiled >> 32) as u32, x_tiled as u32);
        p.create(16, 16, XRGB8888, Flags::empty());
    });
    assert_eq!(code, ParamsError::InvalidFormat as u32);

    // More planes than the format has: incomplete, not `failed`.
    let (code, _) = error_of(&quay, |c| {
        let p = c.params();
        p.add(fd.as_fd(), 0, 0, stride, 0, 0);
        p.add(fd.as_fd(), 1, 1024, stride, 0, 0);
        p.create(16, 16, XRGB8888, Flags::empty());
    });
    assert_eq!(code, ParamsError::Incomplete as u32);

    let (code, _) = error_of(&quay, |c| {
        let p = c.params();
        p.add(fd.as_fd(), 0, 0, stride, 0, 0);
        p.create(16, 16, XRGB8888, Flags::empty());
        p.create(16, 16, XRGB8888, Flags::empty());
    });
    assert_eq!(code, ParamsError::AlreadyUsed as u32);

    let (code, _) = error_of(&quay, |c| {
        let p = c.params();
        // Plane runs past the end of the 4096-byte memfd.
        p.add(fd.as_fd(), 0, 4000, stride, 0, 0);
        p.create(16, 16, XRGB8888, Flags::empty());
    });
    assert_eq!(code, ParamsError::OutOfBounds as u32);

    // create_immed of a buffer Quay cannot import: the protocol allows
    // either `failed` handling or killing the client with invalid_wl_buffer.
    let (code, _) = error_of(&quay, |c| {
        let p = c.params();
        p.add(fd.as_fd(), 0, 0, stride, 0, 0);
        let _buffer = p.create_immed(16, 16, XRGB8888, Flags::empty(), &c.qh, ());
    });
    assert_eq!(code, ParamsError::InvalidWlBuffer as u32);

    // After all that: nothing leaked into the stats of live clients.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while quay.stat("clients_live") != 0 {
        assert!(std::time::Instant::now() < deadline, "clients did not go away");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
