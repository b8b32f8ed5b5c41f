//! `zwlr_screencopy_manager_v1` on headless Quay: `grim` (a real screenshot
//! tool, Debian's package) captures what Quay shows, the whole output and a
//! region; the test client checks the frame's events and pixels in a wl_shm
//! buffer and every protocol error, with a bystander kept served. dma-buf
//! targets need real dma-bufs: the VM suite's `quay-screencopy-dmabuf`.

mod common;

use std::{os::fd::AsFd, process::Command, time::Duration};

use common::{error_of, Quay, BACKGROUND, SMALL_CONFIG};
use quay_test_client::{
    memfd,
    wayland_client::{
        protocol::{wl_buffer::WlBuffer, wl_shm::Format},
        Proxy,
    },
    zwlr_screencopy_frame_v1::ZwlrScreencopyFrameV1,
    TestClient,
};

const BLUE: u32 = 0xff2040c0;
const BLUE_RGBA: [u8; 4] = [0x20, 0x40, 0xc0, 0xff];

/// Decode grim's PNG into (width, height, RGBA).
fn read_png(path: &std::path::Path) -> (u32, u32, Vec<u8>) {
    let img = common::Image::load_rgb_or_rgba(path);
    (img.width, img.height, img.rgba)
}

fn pixel(img: &(u32, u32, Vec<u8>), x: u32, y: u32) -> [u8; 4] {
    let i = ((y * img.0 + x) * 4) as usize;
    [img.2[i], img.2[i + 1], img.2[i + 2], img.2[i + 3]]
}

fn grim(quay: &Quay, args: &[&str], out: &std::path::Path) {
    let status = Command::new("grim")
        .args(args)
        .arg(out)
        .env("XDG_RUNTIME_DIR", &quay.runtime_dir)
        .env("WAYLAND_DISPLAY", common::SOCKET)
        .status()
        .expect("grim runs (the README's test command installs Debian's grim)");
    assert!(status.success(), "grim {args:?} failed: {status}");
}

#[test]
fn grim_captures_the_output_and_a_region() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let w = c.window(100, 50, BLUE).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let dir = tempfile::tempdir().unwrap();

    let full = dir.path().join("full.png");
    grim(&quay, &[], &full);
    let img = read_png(&full);
    assert_eq!((img.0, img.1), (640, 480));
    assert_eq!(pixel(&img, 5, 5), BLUE_RGBA);
    assert_eq!(pixel(&img, 99, 49), BLUE_RGBA);
    assert_eq!(pixel(&img, 100, 50), BACKGROUND);
    assert_eq!(pixel(&img, 639, 479), BACKGROUND);

    // The window's bottom-right corner and the background around it.
    let part = dir.path().join("part.png");
    grim(&quay, &["-g", "90,40 20x20"], &part);
    let img = read_png(&part);
    assert_eq!((img.0, img.1), (20, 20));
    assert_eq!(pixel(&img, 0, 0), BLUE_RGBA);
    assert_eq!(pixel(&img, 9, 9), BLUE_RGBA);
    assert_eq!(pixel(&img, 10, 10), BACKGROUND);
    assert_eq!(pixel(&img, 19, 0), BACKGROUND);

    assert_eq!(quay.stat("screencopy_frames_total"), 2);
    assert_eq!(quay.stat("screencopy_failed_total"), 0);
}

/// An shm buffer the test can read back.
fn shm_target(c: &mut TestClient, w: i32, h: i32, stride: i32) -> (WlBuffer, std::fs::File) {
    let size = (stride * h) as usize;
    let fd = memfd(size as u64);
    let pool = c.shm.create_pool(fd.as_fd(), size as i32, &c.qh, ());
    let buffer = pool.create_buffer(0, w, h, stride, Format::Xrgb8888, &c.qh, ());
    pool.destroy();
    (buffer, std::fs::File::from(fd))
}

/// `capture_output_region` (overlay_cursor 0) of the client's output: the
/// frame and its protocol id.
fn capture(c: &mut TestClient, x: i32, y: i32, w: i32, h: i32) -> (ZwlrScreencopyFrameV1, u32) {
    let mgr = c
        .screencopy
        .clone()
        .expect("zwlr_screencopy_manager_v1 is offered");
    let output = c.output.clone().expect("a wl_output");
    let frame = mgr.capture_output_region(0, &output, x, y, w, h, &c.qh, ());
    let id = frame.id().protocol_id();
    (frame, id)
}

fn wait_frame(c: &mut TestClient, id: u32, what: impl Fn(&quay_test_client::ScreencopyFrame) -> bool) {
    c.dispatch_until("screencopy frame events", Duration::from_secs(5), |app| {
        app.screencopy.get(&id).is_some_and(&what)
    })
    .unwrap_or_else(|e| panic!("frame {id}: {e}: {:?}", c.app.screencopy.get(&id)));
}

#[test]
fn copy_with_damage_into_shm_with_a_wide_stride() {
    use std::io::Read;
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let w = c.window(64, 64, BLUE).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    assert_eq!(c.screencopy.as_ref().map(|m| m.version()), Some(3));
    let (frame, id) = capture(&mut c, 32, 32, 64, 40);
    wait_frame(&mut c, id, |f| f.buffer_done);
    let f = c.app.screencopy[&id].clone();
    assert_eq!(f.shm, Some((u32::from(Format::Xrgb8888), 64, 40, 256)));
    assert_eq!(f.dmabuf, Some((0x3432_5258, 64, 40)), "XRGB8888 dma-bufs offered");
    // A stride wider than asked is fine; the copy must respect it.
    let (buffer, mut file) = shm_target(&mut c, 64, 40, 300);
    // The client's first copy of the output: all of it is new.
    frame.copy_with_damage(&buffer);
    wait_frame(&mut c, id, |f| f.ready || f.failed);
    assert_eq!(c.app.screencopy[&id].damage, vec![(0, 0, 64, 40)]);
    frame.destroy();

    let (frame, id) = capture(&mut c, 32, 32, 64, 40);
    frame.copy_with_damage(&buffer);
    // Nothing changed on screen since: the copy waits for damage. (Were it
    // answered at once, `ready` would precede the roundtrip's reply.)
    c.roundtrip().unwrap();
    c.roundtrip().unwrap();
    assert!(
        !c.app.screencopy[&id].ready,
        "copy_with_damage answered without damage"
    );
    // New content (smithay takes damage only with an attached buffer).
    let again = c.shm_buffer(64, 64, BLUE, Format::Xrgb8888);
    w.surface.attach(Some(&again), 0, 0);
    w.surface.damage_buffer(0, 0, 64, 64);
    c.commit_and_wait_frame(&w.surface).unwrap();
    wait_frame(&mut c, id, |f| f.ready || f.failed);
    let f = c.app.screencopy[&id].clone();
    assert!(f.ready && !f.failed, "{f:?}");
    // The window (0,0)+64x64 is what changed; in the region (32,32)+64x40
    // that is its top-left 32x32, and nothing more.
    assert_eq!(f.damage, vec![(0, 0, 32, 32)]);
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    let px = |x: usize, y: usize| {
        let i = y * 300 + x * 4;
        [bytes[i + 2], bytes[i + 1], bytes[i], 0xff]
    };
    // Region (32,32)+64x40 over a 64x64 window at (0,0): window up to 31.
    assert_eq!(px(0, 0), BLUE_RGBA);
    assert_eq!(px(31, 31), BLUE_RGBA);
    assert_eq!(px(32, 0), BACKGROUND);
    assert_eq!(px(0, 32), BACKGROUND);
    assert_eq!(px(63, 39), BACKGROUND);
}

/// A recorder asks for its next frame after `ready`; a frame drawn in
/// between must be what it gets then, at once, with just that frame's
/// damage: were it kept waiting for the next drawn frame, it would get
/// half the frames (and here, with nothing drawn after, none).
#[test]
fn copy_with_damage_gets_the_frame_drawn_since_the_last_copy_at_once() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let w = c.window(64, 64, BLUE).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let mgr = c.screencopy.clone().expect("zwlr_screencopy_manager_v1");
    let output = c.output.clone().expect("a wl_output");
    let first = mgr.capture_output(0, &output, &c.qh, ());
    let id = first.id().protocol_id();
    wait_frame(&mut c, id, |f| f.buffer_done);
    let (_, width, height, stride) = c.app.screencopy[&id].shm.expect("a wl_shm buffer offered");
    let (buffer, _file) = shm_target(&mut c, width as i32, height as i32, stride as i32);
    first.copy_with_damage(&buffer);
    wait_frame(&mut c, id, |f| f.ready || f.failed);
    assert_eq!(
        c.app.screencopy[&id].damage,
        vec![(0, 0, width, height)],
        "a first copy is all damage"
    );
    for round in 0..3 {
        // A change, drawn, and then nothing more on screen.
        let b = c.shm_buffer(64, 64, 0xff000000 | (round * 0x40), Format::Xrgb8888);
        w.surface.attach(Some(&b), 0, 0);
        w.surface.damage_buffer(0, 0, 64, 64);
        c.commit_and_wait_frame(&w.surface).unwrap();
        let frame = mgr.capture_output(0, &output, &c.qh, ());
        frame.copy_with_damage(&buffer);
        let id = frame.id().protocol_id();
        wait_frame(&mut c, id, |f| f.ready || f.failed);
        let f = c.app.screencopy[&id].clone();
        assert!(f.ready, "round {round}: {f:?}");
        assert_eq!(
            f.damage,
            vec![(0, 0, 64, 64)],
            "round {round}: the window alone changed"
        );
        frame.destroy();
    }
}

#[test]
fn a_region_outside_the_output_fails() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    let (_frame, id) = capture(&mut c, 5000, 5000, 10, 10);
    wait_frame(&mut c, id, |f| f.failed);
    assert_eq!(c.app.screencopy[&id].shm, None, "no buffer offered for nothing");
}

/// Negative and empty sizes are `failed`, not a crash (smithay's `Size`
/// asserts non-negative sizes in debug builds, which the tests run).
#[test]
fn negative_and_empty_regions_fail() {
    let quay = Quay::start(SMALL_CONFIG);
    let mut c = quay.client();
    for (w, h) in [(-10, 10), (10, -10), (0, 10), (i32::MIN, i32::MIN)] {
        let (_frame, id) = capture(&mut c, 0, 0, w, h);
        wait_frame(&mut c, id, |f| f.failed);
    }
    // Near i32::MAX: clipped to the output, not overflowed.
    let (_frame, id) = capture(&mut c, i32::MAX - 5, 0, i32::MAX, 10);
    wait_frame(&mut c, id, |f| f.failed);
    let (_frame, id) = capture(&mut c, -5, -5, i32::MAX, i32::MAX);
    wait_frame(&mut c, id, |f| f.buffer_done);
    assert_eq!(c.app.screencopy[&id].shm.map(|s| (s.1, s.2)), Some((640, 480)));
    assert!(quay.log_text().find("panicked").is_none(), "{}", quay.log_text());
}

const FRAME: &str = "zwlr_screencopy_frame_v1";

#[test]
fn copying_twice_is_already_used() {
    let quay = Quay::start(SMALL_CONFIG);
    let (code, iface) = error_of(&quay, |c| {
        let (frame, id) = capture(c, 0, 0, 8, 8);
        wait_frame(c, id, |f| f.buffer_done);
        let (a, _fa) = shm_target(c, 8, 8, 32);
        let (b, _fb) = shm_target(c, 8, 8, 32);
        frame.copy(&a);
        frame.copy(&b);
    });
    assert_eq!((code, iface.as_str()), (0, FRAME));
}

#[test]
fn wrong_buffers_are_invalid_buffer() {
    let quay = Quay::start(SMALL_CONFIG);
    // wl_shm itself rejects a stride below the width and the formats Quay
    // does not offer (smithay's pool checks), so the size is what is left.
    let cases: [(i32, i32, i32, Format); 3] = [
        (8, 9, 32, Format::Xrgb8888),
        (9, 8, 36, Format::Xrgb8888),
        (16, 16, 64, Format::Argb8888),
    ];
    for (w, h, stride, format) in cases {
        let (code, iface) = error_of(&quay, |c| {
            let (frame, id) = capture(c, 0, 0, 8, 8);
            wait_frame(c, id, |f| f.buffer_done);
            let size = (stride * h).max(4) as usize;
            let fd = memfd(size as u64);
            let pool = c.shm.create_pool(fd.as_fd(), size as i32, &c.qh, ());
            let buffer = pool.create_buffer(0, w, h, stride, format, &c.qh, ());
            frame.copy(&buffer);
        });
        assert_eq!(
            (code, iface.as_str()),
            (1, FRAME),
            "{w}x{h} stride {stride} {format:?}"
        );
    }
}

/// A client asks for 300 captures of the output and `copy_with_damage`s
/// each into one shm buffer (before the queue, the next damage made Quay
/// render the output 300 times in one callback while every other client
/// waited): four wait, the rest are `failed` at once, and the damaged frame
/// answers the four with one render. The same for plain `copy`, which is
/// served from the loop rather than inside the request. A bystander is
/// served throughout.
#[test]
fn a_flood_of_copies_is_bounded_per_client_and_shares_renders() {
    const N: usize = 300;
    const WAITING: usize = 4; // handlers/screencopy.rs PENDING_PER_CLIENT
    let quay = Quay::start(SMALL_CONFIG);
    let mut bystander = quay.client();
    let bw = bystander.window(32, 32, 0xff00ff00).unwrap();
    bystander.commit_and_wait_frame(&bw.surface).unwrap();
    let mut c = quay.client();
    let w = c.window(64, 64, BLUE).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let (buffer, _file) = shm_target(&mut c, 640, 480, 640 * 4);
    let mgr = c.screencopy.clone().expect("zwlr_screencopy_manager_v1");
    let output = c.output.clone().expect("a wl_output");

    // One copy first: from then on, copy_with_damage waits for a change.
    let first = mgr.capture_output(0, &output, &c.qh, ());
    first.copy(&buffer);
    wait_frame(&mut c, first.id().protocol_id(), |f| f.ready || f.failed);

    for with_damage in [false, true] {
        let renders0 = quay.stat("screencopy_renders_total");
        let refused0 = quay.stat("screencopy_refused_total");
        let frames: Vec<ZwlrScreencopyFrameV1> = (0..N)
            .map(|_| mgr.capture_output(0, &output, &c.qh, ()))
            .collect();
        for f in &frames {
            if with_damage {
                f.copy_with_damage(&buffer);
            } else {
                f.copy(&buffer);
            }
        }
        c.roundtrip().unwrap();
        let ids: Vec<u32> = frames.iter().map(|f| f.id().protocol_id()).collect();
        if with_damage {
            // Nothing is copied before the output has damage.
            let answered = ids.iter().filter(|id| c.app.screencopy[*id].ready).count();
            assert_eq!(answered, 0, "copies made before any damage");
            // Each change releases one of the client's waiting copies (the
            // next has nothing new to copy until the one after).
            for n in 1..=WAITING {
                let b = c.shm_buffer(64, 64, 0xff102030 + n as u32, Format::Argb8888);
                w.surface.attach(Some(&b), 0, 0);
                w.surface.damage_buffer(0, 0, 64, 64);
                c.commit_and_wait_frame(&w.surface).unwrap();
                c.dispatch_until("a copy per change", Duration::from_secs(10), |app| {
                    ids.iter().filter(|id| app.screencopy[*id].ready).count() == n
                })
                .unwrap();
            }
        }
        c.dispatch_until("every copy answered", Duration::from_secs(30), |app| {
            ids.iter()
                .all(|id| app.screencopy.get(id).is_some_and(|f| f.ready || f.failed))
        })
        .unwrap();
        let ready = ids.iter().filter(|id| c.app.screencopy[*id].ready).count();
        let failed = ids.iter().filter(|id| c.app.screencopy[*id].failed).count();
        let renders = quay.stat("screencopy_renders_total") - renders0;
        assert_eq!(ready + failed, N);
        assert!(
            ready <= WAITING * renders as usize,
            "with_damage {with_damage}: {ready} copies ready from {renders} renders"
        );
        if !with_damage {
            assert!(renders <= 2, "{renders} renders for one client's copies");
        }
        assert_eq!(
            quay.stat("screencopy_refused_total") - refused0,
            failed as u64,
            "every failed copy was refused for the bound"
        );
        if with_damage {
            assert_eq!(
                (ready, renders),
                (WAITING, WAITING as u64),
                "one render per change"
            );
        }
        for f in frames {
            f.destroy();
        }
        bystander.commit_and_wait_frame(&bw.surface).unwrap();
    }
    // The frame objects were given back to the client's budget: another
    // flood fits.
    assert_eq!(quay.stat("clients_over_budget_total"), 0);
}
