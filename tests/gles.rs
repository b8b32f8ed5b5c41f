//! Headless Quay drawing with GLES (`--renderer gles`) on Mesa's software
//! EGL device (these hosts have no GPU and no `/dev/dri`: llvmpipe through
//! `EGL_EXT_platform_device`), over a real socket: pixels in screenshots,
//! shm uploads as cache entries (whole on first use, damage-only after,
//! nothing for an undamaged commit), eviction and re-upload, and the
//! renderer choice.

mod common;

use std::os::fd::AsFd;

use common::{Quay, BACKGROUND, SMALL_CONFIG};
use quay_test_client::wayland_client::protocol::{wl_buffer::WlBuffer, wl_shm};
use quay_test_client::{fill_shared, fill_shared_at, memfd, TestClient};

const RED: u32 = 0xffff0000;
const GREEN: u32 = 0xff00ff00;
const BLUE: u32 = 0xff0000ff;
const RED_RGBA: [u8; 4] = [0xff, 0, 0, 0xff];
const GREEN_RGBA: [u8; 4] = [0, 0xff, 0, 0xff];
const BLUE_RGBA: [u8; 4] = [0, 0, 0xff, 0xff];

fn gles() -> Quay {
    let quay = Quay::start_with(
        SMALL_CONFIG,
        &["--backend", "headless", "--renderer", "gles"],
        &[],
    );
    assert_eq!(
        quay.msg(&["stats"])["renderer"],
        "gles",
        "log:\n{}",
        quay.log_text()
    );
    quay
}

/// An XRGB8888 shm buffer over a memfd the test keeps, to repaint it.
struct Painted {
    fd: std::os::fd::OwnedFd,
    w: i32,
    h: i32,
    buffer: WlBuffer,
}

impl Painted {
    fn new(c: &mut TestClient, w: i32, h: i32, argb: u32) -> Painted {
        let size = (w * h * 4) as u64;
        let fd = memfd(size);
        fill_shared(&fd, size as usize, argb).expect("fill");
        let pool = c.shm.create_pool(fd.as_fd(), size as i32, &c.qh, ());
        let buffer = pool.create_buffer(0, w, h, w * 4, wl_shm::Format::Xrgb8888, &c.qh, ());
        pool.destroy();
        Painted { fd, w, h, buffer }
    }

    /// Paint the rectangle (x, y, w, h) `argb`, row by row.
    fn paint(&self, x: i32, y: i32, w: i32, h: i32, argb: u32) {
        let total = (self.w * self.h * 4) as usize;
        for row in y..y + h {
            let offset = ((row * self.w + x) * 4) as usize;
            fill_shared_at(&self.fd, total, offset, (w * 4) as usize, argb).expect("paint");
        }
    }
}

#[test]
fn auto_picks_pixman_on_a_software_only_device_and_pixman_is_pixman() {
    // These hosts have only Mesa's software EGL device: `auto` keeps pixman
    // there (as KWin keeps its software painter rather than llvmpipe).
    let quay = Quay::start_with(SMALL_CONFIG, &["--backend", "headless"], &[]);
    assert_eq!(quay.msg(&["stats"])["renderer"], "pixman");
    assert!(
        quay.log_text().contains("the only EGL device is software"),
        "the log says why: {}",
        quay.log_text()
    );
    let quay = Quay::start_with(
        SMALL_CONFIG,
        &["--backend", "headless", "--renderer", "pixman"],
        &[],
    );
    assert_eq!(quay.msg(&["stats"])["renderer"], "pixman");
    // The config key does what the flag does.
    let config = format!("{SMALL_CONFIG}\n[render]\nrenderer = \"gles\"\n");
    let quay = Quay::start_with(&config, &["--backend", "headless"], &[]);
    assert_eq!(quay.msg(&["stats"])["renderer"], "gles");
}

#[test]
fn shm_windows_subsurfaces_and_viewports_composite_on_gles() {
    let quay = gles();
    let mut c = quay.client();
    let w1 = c.window(200, 100, RED).unwrap();
    c.commit_and_wait_frame(&w1.surface).unwrap();
    let w2 = c.window(100, 100, GREEN).unwrap();
    c.commit_and_wait_frame(&w2.surface).unwrap();
    // A 1x1 blue single-pixel buffer scaled to 50x40 on a subsurface of w2.
    let (sub_surface, sub) = c.subsurface(&w2.surface);
    sub.set_position(20, 30);
    sub.set_desync();
    let vp = c.viewport(&sub_surface);
    vp.set_destination(50, 40);
    let blue = c
        .single_pixel
        .as_ref()
        .expect("single-pixel buffers")
        .create_u32_rgba_buffer(0, 0, u32::MAX, u32::MAX, &c.qh, ());
    sub_surface.attach(Some(&blue), 0, 0);
    sub_surface.damage_buffer(0, 0, 1, 1);
    sub_surface.commit();
    c.commit_and_wait_frame(&w2.surface).unwrap();
    c.commit_and_wait_frame(&w2.surface).unwrap();

    let shot = quay.screenshot();
    assert_eq!((shot.width, shot.height), (640, 480));
    assert_eq!(
        shot.pixel(5, 5),
        RED_RGBA,
        "not upside down: the first window is top left"
    );
    // The second window is placed beside the first (src/shell.rs), at (200, 0).
    assert_eq!(shot.count_not(0, 0, 200, 100, RED_RGBA), 0);
    assert_eq!(shot.pixel(201, 1), GREEN_RGBA);
    assert_eq!(
        shot.count_not(220, 30, 50, 40, BLUE_RGBA),
        0,
        "viewported subsurface"
    );
    assert_eq!(shot.pixel(299, 99), GREEN_RGBA);
    assert_eq!(shot.pixel(301, 50), BACKGROUND);
    assert_eq!(shot.pixel(100, 101), BACKGROUND);
    assert_eq!(shot.pixel(639, 479), BACKGROUND);

    // Two shm surfaces: two uploads, two entries, both on screen (pinned).
    let stats = quay.msg(&["stats"]);
    assert_eq!(stats["shm_uploads_total"], 2, "{stats}");
    assert_eq!(stats["shm_surfaces_live"], 2, "{stats}");
    assert_eq!(stats["imported_bytes"], (200 * 100 + 100 * 100) * 4, "{stats}");
    assert_eq!(stats["pinned_bytes"], stats["imported_bytes"], "{stats}");
    assert_eq!(
        stats["upload_bytes_total"],
        (200 * 100 + 100 * 100) * 4,
        "{stats}"
    );
}

#[test]
fn shm_commits_upload_only_their_damage_and_nothing_without_it() {
    let quay = gles();
    let mut c = quay.client();
    let w = c.window(8, 8, RED).unwrap();
    // Replace the window's first buffer with one the test can repaint.
    let buf = Painted::new(&mut c, 200, 100, RED);
    w.surface.attach(Some(&buf.buffer), 0, 0);
    w.surface.damage_buffer(0, 0, 200, 100);
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let before = quay.msg(&["stats"]);
    let bytes0 = before["upload_bytes_total"].as_u64().unwrap();
    let partial0 = before["shm_partial_uploads_total"].as_u64().unwrap();

    // 10x20 blue at (50, 40), damaged exactly there.
    buf.paint(50, 40, 10, 20, BLUE);
    w.surface.attach(Some(&buf.buffer), 0, 0);
    w.surface.damage_buffer(50, 40, 10, 20);
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let after = quay.msg(&["stats"]);
    assert_eq!(
        after["upload_bytes_total"].as_u64().unwrap() - bytes0,
        10 * 20 * 4,
        "only the damage is uploaded: {after}"
    );
    assert_eq!(after["shm_partial_uploads_total"].as_u64().unwrap() - partial0, 1);
    assert_eq!(
        after["shm_uploads_total"], before["shm_uploads_total"],
        "no whole upload"
    );
    let shot = quay.screenshot();
    assert_eq!(
        shot.count_not(50, 40, 10, 20, BLUE_RGBA),
        0,
        "the damage is on screen"
    );
    assert_eq!(shot.pixel(49, 40), RED_RGBA);
    assert_eq!(shot.pixel(60, 59), RED_RGBA);

    // Pixels changed outside any damage, committed without damage: the
    // protocol says nothing changed, and nothing is uploaded.
    buf.paint(0, 0, 10, 10, GREEN);
    w.surface.attach(Some(&buf.buffer), 0, 0);
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let idle = quay.msg(&["stats"]);
    assert_eq!(idle["upload_bytes_total"], after["upload_bytes_total"], "{idle}");
    assert_eq!(
        quay.screenshot().pixel(5, 5),
        RED_RGBA,
        "undamaged content is not re-read"
    );

    // A buffer of another size is a new upload, whole.
    let big = Painted::new(&mut c, 300, 120, GREEN);
    w.surface.attach(Some(&big.buffer), 0, 0);
    w.surface.damage_buffer(0, 0, 300, 120);
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let resized = quay.msg(&["stats"]);
    assert_eq!(
        resized["upload_bytes_total"].as_u64().unwrap() - idle["upload_bytes_total"].as_u64().unwrap(),
        300 * 120 * 4
    );
    assert_eq!(
        resized["imported_bytes"],
        300 * 120 * 4,
        "the old size's texture is gone: {resized}"
    );
    assert_eq!(quay.screenshot().count_not(0, 0, 300, 120, GREEN_RGBA), 0);
}

#[test]
fn evicted_uploads_are_redone_and_dead_surfaces_leave_nothing() {
    let quay = gles();
    let mut c = quay.client();
    let w = c.window(200, 200, RED).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let (sub_surface, sub) = c.subsurface(&w.surface);
    sub.set_position(20, 30);
    sub.set_desync();
    let blue = c.shm_buffer(50, 50, BLUE, wl_shm::Format::Xrgb8888);
    sub_surface.attach(Some(&blue), 0, 0);
    sub_surface.damage_buffer(0, 0, 50, 50);
    sub_surface.commit();
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    assert_eq!(quay.screenshot().count_not(20, 30, 50, 50, BLUE_RGBA), 0);

    // On screen, both uploads are pinned: an eviction frees nothing.
    assert_eq!(quay.msg(&["evict"])["evicted_bytes"], 0);

    // Unmap the subsurface: its upload stays (the surface lives) but is no
    // longer shown, so an eviction takes exactly it.
    sub_surface.attach(None, 0, 0);
    sub_surface.commit();
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    assert_eq!(quay.msg(&["evict"])["evicted_bytes"], 50 * 50 * 4);
    let evicted = quay.msg(&["stats"]);
    assert_eq!(evicted["imported_bytes"], 200 * 200 * 4, "{evicted}");
    assert_eq!(evicted["shm_surfaces_live"], 2, "{evicted}");

    // Mapped again with new contents: imported again, whole, and drawn.
    let green = c.shm_buffer(50, 50, GREEN, wl_shm::Format::Xrgb8888);
    sub_surface.attach(Some(&green), 0, 0);
    sub_surface.damage_buffer(0, 0, 50, 50);
    sub_surface.commit();
    c.commit_and_wait_frame(&w.surface).unwrap();
    c.commit_and_wait_frame(&w.surface).unwrap();
    let back = quay.msg(&["stats"]);
    assert_eq!(back["reimports_total"], 1, "{back}");
    assert_eq!(
        back["shm_uploads_total"].as_u64().unwrap(),
        evicted["shm_uploads_total"].as_u64().unwrap() + 1
    );
    assert_eq!(quay.screenshot().count_not(20, 30, 50, 50, GREEN_RGBA), 0);

    // The client goes: every upload goes with it.
    drop(c);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let s = quay.msg(&["stats"]);
        if s["shm_surfaces_live"] == 0 && s["imported_bytes"] == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "uploads outlive their client: {s}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
