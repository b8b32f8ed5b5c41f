//! The GEM handle table (`src/buffer/kms.rs`) on a real DRM device.
//!
//! These tests need a KMS device Quay may become master of and a dma-buf
//! source the device imports: the VM suite runs them on vkms with
//! `QUAY_TEST_CARD=/dev/dri/cardN` (tests/vm/guest/cases/70-kms.sh). The host
//! has no DRM, so here they are `#[ignore]`d, which `cargo test` reports as
//! ignored, not passed.
//!
//! The case that breaks naive code: one dma-buf, two layouts (two
//! framebuffers) on one fd. The kernel hands both imports the same GEM
//! handle; naive code closes it with the first framebuffer, and the second
//! user's handle is gone (or, once the number is re-used, someone else's).
#![allow(clippy::disallowed_macros)] // the VM case logs what the kernel did

use std::{os::fd::OwnedFd, rc::Rc};

use quay::buffer::kms::KmsBuffers;
use quay_test_client::dmabuf::{alloc, fill, Source};
use smithay::{
    backend::{
        allocator::{
            dmabuf::{Dmabuf, DmabufFlags},
            Fourcc, Modifier,
        },
        drm::DrmDeviceFd,
    },
    reexports::drm::{
        buffer::{Buffer as _, DrmFourcc},
        control::{connector, Device as ControlDevice, FbCmd2Flags},
    },
    utils::DeviceFd,
};

const BPP: u32 = 4;

fn fb_handle(
    fb: &quay::buffer::kms::ClientFramebuffer,
) -> smithay::reexports::drm::control::framebuffer::Handle {
    *AsRef::<smithay::reexports::drm::control::framebuffer::Handle>::as_ref(fb)
}

fn card() -> DrmDeviceFd {
    let path = std::env::var("QUAY_TEST_CARD")
        .expect("QUAY_TEST_CARD=/dev/dri/cardN: these tests run in the VM suite (70-kms.sh)");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {path}: {e}"));
    DrmDeviceFd::new(DeviceFd::from(OwnedFd::from(file)))
}

/// The first connected connector, a CRTC for it and its preferred mode.
fn output(
    drm: &DrmDeviceFd,
) -> (
    connector::Handle,
    smithay::reexports::drm::control::crtc::Handle,
    smithay::reexports::drm::control::Mode,
) {
    let res = drm.resource_handles().expect("DRM resources");
    for &c in res.connectors() {
        let info = drm.get_connector(c, true).expect("connector");
        if info.state() != connector::State::Connected || info.modes().is_empty() {
            continue;
        }
        let enc = info
            .encoders()
            .iter()
            .find_map(|e| drm.get_encoder(*e).ok())
            .expect("an encoder");
        let crtc = res.filter_crtcs(enc.possible_crtcs())[0];
        return (c, crtc, info.modes()[0]);
    }
    panic!("no connected connector");
}

/// One heap dma-buf holding two `w`x`h` XRGB images one above the other,
/// `top` and `bottom` colours.
fn two_images(w: u32, h: u32) -> OwnedFd {
    let size = (w * BPP * h * 2) as usize;
    let fd = alloc(Source::DmaHeap, size as u64).expect("a dma-heap buffer (/dev/dma_heap/system)");
    fill(&fd, size, 0xff00_ff00).expect("fill");
    fd
}

/// The image at `row` (0 top, 1 bottom) as a `Dmabuf`: its own dup of the fd,
/// as a second `wl_buffer` would have.
fn layout(fd: &OwnedFd, w: u32, h: u32, row: u32) -> Dmabuf {
    let stride = w * BPP;
    let mut b = Dmabuf::builder(
        (w as i32, h as i32),
        Fourcc::Xrgb8888,
        Modifier::Linear,
        DmabufFlags::empty(),
    );
    b.add_plane(fd.try_clone().expect("dup"), 0, row * stride * h, stride);
    b.build().expect("a dmabuf")
}

/// `AddFB2` straight on a handle, as naive code would.
struct Raw {
    w: u32,
    h: u32,
    handle: smithay::reexports::drm::buffer::Handle,
    offset: u32,
}
impl smithay::reexports::drm::buffer::PlanarBuffer for Raw {
    fn size(&self) -> (u32, u32) {
        (self.w, self.h)
    }
    fn format(&self) -> DrmFourcc {
        DrmFourcc::Xrgb8888
    }
    fn modifier(&self) -> Option<Modifier> {
        None
    }
    fn pitches(&self) -> [u32; 4] {
        [self.w * BPP, 0, 0, 0]
    }
    fn handles(&self) -> [Option<smithay::reexports::drm::buffer::Handle>; 4] {
        [Some(self.handle), None, None, None]
    }
    fn offsets(&self) -> [u32; 4] {
        [self.offset, 0, 0, 0]
    }
}

/// `AddFB2` of image `row` (0 top, 1 bottom) of [`two_images`] straight on
/// `handle`, bypassing Quay's table.
fn raw_addfb(
    drm: &DrmDeviceFd,
    w: u32,
    h: u32,
    handle: smithay::reexports::drm::buffer::Handle,
    row: u32,
) -> std::io::Result<smithay::reexports::drm::control::framebuffer::Handle> {
    let raw = Raw {
        w,
        h,
        handle,
        offset: row * w * BPP * h,
    };
    drm.add_planar_framebuffer(&raw, FbCmd2Flags::empty())
}

/// The kernel behaviour the table exists for: two imports, one handle, and
/// one close breaks the other user. If this ever stops failing, the kernel
/// started refcounting handles and the table is belt and braces.
#[test]
#[ignore = "needs a DRM device: the VM suite runs it (QUAY_TEST_CARD)"]
fn naive_close_breaks_the_other_user() {
    let drm = card();
    let (w, h) = (64, 64);
    let fd = two_images(w, h);
    let a = drm
        .prime_fd_to_buffer(std::os::fd::AsFd::as_fd(&fd))
        .expect("import A");
    let b = drm
        .prime_fd_to_buffer(std::os::fd::AsFd::as_fd(&fd))
        .expect("import B");
    assert_eq!(a, b, "the kernel returns one handle per dma-buf per fd");
    let fb_a = raw_addfb(&drm, w, h, a, 0).expect("AddFB2 A");
    // Naive: framebuffer A goes, and with it "its" handle.
    drm.destroy_framebuffer(fb_a).expect("RmFB A");
    drm.close_buffer(a).expect("close A's handle");
    let err = raw_addfb(&drm, w, h, b, 1).expect_err("B's handle was closed with A's framebuffer");
    println!("naive: AddFB2 on the other user's handle after one close: {err}");
}

#[test]
#[ignore = "needs a DRM device: the VM suite runs it (QUAY_TEST_CARD)"]
fn shared_handle_outlives_one_framebuffer_and_the_other_scans_out() {
    let drm = card();
    let (conn, crtc, mode) = output(&drm);
    let (w, h) = (mode.size().0 as u32, mode.size().1 as u32);
    let table = KmsBuffers::new(drm.clone());
    let base = table.stats();
    let fd = two_images(w, h);

    let top = table
        .framebuffer(&layout(&fd, w, h, 0), false)
        .expect("framebuffer for the top image");
    let bottom = table
        .framebuffer(&layout(&fd, w, h, 1), false)
        .expect("framebuffer for the bottom image");
    // A second wl_buffer with the top image's layout: same framebuffer.
    let top_again = table
        .framebuffer(&layout(&fd, w, h, 0), false)
        .expect("top again");
    assert!(Rc::ptr_eq(&top, &top_again), "same identity, same framebuffer");
    // ...and asked for as opaque (smithay does on the primary plane, not on
    // overlays): XRGB has no other opaque variant, so still the same one.
    let top_opaque = table
        .framebuffer(&layout(&fd, w, h, 0), true)
        .expect("top, opaque");
    assert!(
        Rc::ptr_eq(&top, &top_opaque),
        "XRGB opaque or not: one framebuffer"
    );
    let handle = |fb: &quay::buffer::kms::ClientFramebuffer| fb.handles().next().expect("one plane").handle();
    assert_eq!(handle(&top), handle(&bottom), "one GEM handle for one dma-buf");
    let s = table.stats();
    println!("two layouts: {s:?}");
    assert_eq!(s.framebuffers_live, base.framebuffers_live + 2);
    assert_eq!(s.gem_handles_live, base.gem_handles_live + 1);
    assert_eq!(s.framebuffers_total, base.framebuffers_total + 2);
    assert_eq!(s.framebuffer_cache_hits, base.framebuffer_cache_hits + 2);
    assert_eq!(s.gem_handle_shared_total, base.gem_handle_shared_total + 1);

    // The top image's users all go: its framebuffer is removed, the handle
    // stays for the bottom one.
    let shared = handle(&bottom);
    drop(top);
    drop(top_again);
    drop(top_opaque);
    let s = table.stats();
    assert_eq!(s.framebuffers_live, base.framebuffers_live + 1);
    assert_eq!(
        s.gem_handles_live,
        base.gem_handles_live + 1,
        "the handle outlives one framebuffer"
    );
    // A new object gets a new number: the shared one is still open.
    let dumb = drm
        .create_dumb_buffer((64, 64), DrmFourcc::Xrgb8888, 32)
        .expect("a dumb buffer");
    assert_ne!(
        dumb.handle(),
        shared,
        "the kernel re-used a handle Quay still holds"
    );
    // The handle still names the dma-buf: a new framebuffer on it works
    // (naive code gets ENOENT here, see the test above) ...
    let probe =
        raw_addfb(&drm, w, h, shared, 1).expect("AddFB2 on the shared handle after one framebuffer went");
    drm.destroy_framebuffer(probe).expect("RmFB probe");
    // ... and the bottom framebuffer scans out.
    drm.set_crtc(crtc, Some(fb_handle(&bottom)), (0, 0), &[conn], Some(mode))
        .expect("SETCRTC with the remaining framebuffer");
    let shown = drm.get_crtc(crtc).expect("crtc").framebuffer();
    assert_eq!(
        shown,
        Some(fb_handle(&bottom)),
        "the CRTC scans out the remaining framebuffer"
    );
    drm.set_crtc(crtc, None, (0, 0), &[], None).expect("CRTC off");

    drop(bottom);
    let s = table.stats();
    println!("all gone: {s:?}");
    assert_eq!(s.framebuffers_live, base.framebuffers_live);
    assert_eq!(
        s.gem_handles_live, base.gem_handles_live,
        "last user gone, handle closed"
    );
    // Closed: the number no longer names anything (or not the dma-buf).
    assert!(
        raw_addfb(&drm, w, h, shared, 1).is_err(),
        "the table closed the handle with its last user"
    );
    // The dumb buffer's handle was never touched.
    let fb = drm
        .add_framebuffer(&dumb, 24, 32)
        .expect("AddFB on the dumb buffer");
    drm.destroy_framebuffer(fb).expect("RmFB dumb");
    drm.destroy_dumb_buffer(dumb).expect("destroy dumb");
}

/// Export symmetry: Quay's own buffer is exported once while the export
/// lives, and that export sent back as a client dma-buf maps to the original
/// GEM handle: no `PRIME_FD_TO_HANDLE`, and the handle GBM owns is never
/// closed by the table.
#[test]
#[ignore = "needs a DRM device: the VM suite runs it (QUAY_TEST_CARD)"]
fn own_export_is_cached_and_maps_back_to_the_original() {
    use smithay::backend::allocator::gbm::{GbmBuffer, GbmBufferFlags, GbmDevice};
    let drm = card();
    let gbm = GbmDevice::new(drm.clone()).expect("GBM on the card");
    let table = KmsBuffers::new(drm.clone());
    let base = table.stats();
    let (w, h) = (256u32, 128u32);
    let bo = gbm
        .create_buffer_object::<()>(
            w,
            h,
            Fourcc::Xrgb8888,
            GbmBufferFlags::SCANOUT | GbmBufferFlags::RENDERING | GbmBufferFlags::LINEAR,
        )
        .expect("a GBM buffer");
    let (offset, stride) = (bo.offset(0), bo.stride());
    let gem = table.adopt_bo(GbmBuffer::from_bo(bo, true));
    let own_handle = gem.handle();
    let export = |gem: &Rc<quay::buffer::kms::GemHandle>| {
        gem.export(|fd| {
            KmsBuffers::linear_dmabuf(fd, (w as i32, h as i32), Fourcc::Xrgb8888, offset, stride, None)
        })
        .expect("export")
    };
    let first = export(&gem);
    let second = export(&gem);
    let ino = |d: &Dmabuf| {
        let fd = d.handles().next().expect("a plane");
        rustix::fs::fstat(fd).expect("fstat").st_ino
    };
    assert_eq!(ino(&first), ino(&second), "one dma-buf while the export lives");
    let s = table.stats();
    assert_eq!(s.exports_total, base.exports_total + 1);
    assert_eq!(s.export_cache_hits, base.export_cache_hits + 1);
    assert_eq!(s.gem_handles_live, base.gem_handles_live + 1);
    // A client sends it back (through its own fd, as linux-dmabuf would give us).
    let fd = first
        .handles()
        .next()
        .expect("plane")
        .try_clone_to_owned()
        .expect("dup");
    let mut b = Dmabuf::builder(
        (w as i32, h as i32),
        Fourcc::Xrgb8888,
        Modifier::Linear,
        DmabufFlags::empty(),
    );
    b.add_plane(fd, 0, offset, stride);
    let back = b.build().expect("dmabuf");
    drop((first, second));
    let fb = table
        .framebuffer(&back, false)
        .expect("framebuffer for our own export");
    let s = table.stats();
    println!("round trip: {s:?}");
    assert_eq!(s.export_roundtrips_total, base.export_roundtrips_total + 1);
    assert_eq!(
        s.gem_prime_imports_total, base.gem_prime_imports_total,
        "no PRIME import"
    );
    assert_eq!(s.gem_handles_live, base.gem_handles_live + 1, "no second handle");
    assert_eq!(
        fb.handles().next().expect("plane").handle(),
        own_handle,
        "the original object"
    );
    // Quay's own buffer goes first: the framebuffer still holds the object.
    drop(gem);
    assert_eq!(table.stats().gem_handles_live, base.gem_handles_live + 1);
    drop(fb);
    drop(back);
    let s = table.stats();
    assert_eq!(s.gem_handles_live, base.gem_handles_live);
    assert_eq!(s.framebuffers_live, base.framebuffers_live);
}
