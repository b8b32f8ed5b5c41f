//! `quay --backend winit` in a real X server (Xvfb): a window opens, a
//! client's pixels appear in it, and the X screenshot (xwd) shows them.
//! GLES comes from Mesa's llvmpipe through EGL on X11.

mod common;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{require, Quay};

fn libc_dup2(from: i32, to: i32) -> i32 {
    // SAFETY: plain dup2 on fds this process owns.
    unsafe { libc::dup2(from, to) }
}

const CONFIG: &str = r##"
background = "#102030"
[winit]
width = 640
height = 480
"##;

struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        let xvfb = require("Xvfb", "xvfb");
        // -displayfd: Xvfb picks a free display and tells us which.
        let (reader, writer) = std::io::pipe().expect("pipe");
        let child = Command::new(xvfb)
            .args([
                "-screen",
                "0",
                "800x600x24",
                "-nolisten",
                "tcp",
                "-displayfd",
                "3",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .fd3(writer)
            .spawn()
            .expect("spawn Xvfb");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(reader), &mut line).expect("Xvfb display");
        Xvfb {
            child,
            display: format!(":{}", line.trim()),
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pass `fd` to the child as file descriptor 3.
trait Fd3 {
    fn fd3(&mut self, fd: std::io::PipeWriter) -> &mut Self;
}

impl Fd3 for Command {
    fn fd3(&mut self, fd: std::io::PipeWriter) -> &mut Self {
        use std::os::{fd::IntoRawFd, unix::process::CommandExt};
        let raw = fd.into_raw_fd();
        // SAFETY: only async-signal-safe calls (dup2) between fork and exec.
        unsafe {
            self.pre_exec(move || {
                if libc_dup2(raw, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        }
    }
}

/// An X window dump (xwd -root), decoded to RGB.
struct Xwd {
    width: u32,
    height: u32,
    rgb: Vec<[u8; 3]>,
}

impl Xwd {
    fn capture(display: &str, dir: &Path) -> Xwd {
        let xwd = require("xwd", "x11-apps");
        let path = dir.join("root.xwd");
        let status = Command::new(xwd)
            .args(["-root", "-silent", "-display", display, "-out"])
            .arg(&path)
            .status()
            .expect("run xwd");
        assert!(status.success());
        Xwd::parse(&std::fs::read(&path).unwrap())
    }

    /// XWD v7: a big-endian header of 25 u32s, the window name, `ncolors`
    /// 12-byte colour entries, then ZPixmap rows of `bytes_per_line`.
    fn parse(data: &[u8]) -> Xwd {
        let h = |i: usize| u32::from_be_bytes(data[i * 4..i * 4 + 4].try_into().unwrap());
        let (header_size, version, format) = (h(0) as usize, h(1), h(2));
        assert_eq!((version, format), (7, 2), "XWD v7 ZPixmap");
        let (width, height) = (h(4), h(5));
        let byte_order = h(7);
        let bpp = h(11);
        let bytes_per_line = h(12) as usize;
        let masks = [h(14), h(15), h(16)];
        let ncolors = h(19) as usize;
        assert_eq!(bpp, 32, "24-bit Xvfb screens use 32 bpp");
        let start = header_size + ncolors * 12;
        let mut rgb = Vec::with_capacity((width * height) as usize);
        for y in 0..height as usize {
            for x in 0..width as usize {
                let o = start + y * bytes_per_line + x * 4;
                let b: [u8; 4] = data[o..o + 4].try_into().unwrap();
                let px = if byte_order == 0 {
                    u32::from_le_bytes(b)
                } else {
                    u32::from_be_bytes(b)
                };
                let ch = |m: u32| ((px & m) >> m.trailing_zeros()) as u8;
                rgb.push([ch(masks[0]), ch(masks[1]), ch(masks[2])]);
            }
        }
        Xwd { width, height, rgb }
    }

    fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        self.rgb[(y * self.width + x) as usize]
    }

    fn count(&self, x0: u32, y0: u32, w: u32, h: u32, c: [u8; 3]) -> usize {
        (y0..y0 + h)
            .flat_map(|y| (x0..x0 + w).map(move |x| (x, y)))
            .filter(|&(x, y)| self.pixel(x, y) == c)
            .count()
    }
}

#[test]
fn winit_window_shows_client_pixels_under_xvfb() {
    let shm = require("weston-simple-shm", "weston");
    let x = Xvfb::start();
    let quay = Quay::start_with(
        CONFIG,
        &["--backend", "winit"],
        &[("DISPLAY", x.display.as_str()), ("LIBGL_ALWAYS_SOFTWARE", "1")],
    );
    assert_eq!(quay.msg(&["version"])["backend"], "winit");
    let outs = quay.msg(&["outputs"]);
    assert_eq!(outs[0]["width"], 640, "output is the window's size: {outs}");

    let client = quay.spawn_client(&shm, &[], &[]);
    // Wait until the client's pixels reach the X screen (llvmpipe is slow
    // on a loaded machine; poll rather than sleep a fixed time).
    let background = [0x10, 0x20, 0x30];
    let deadline = Instant::now() + Duration::from_secs(60);
    let shot = loop {
        std::thread::sleep(Duration::from_millis(500));
        let shot = Xwd::capture(&x.display, quay.dir.path());
        let painted = 250 * 250 - shot.count(0, 0, 250, 250, background);
        if painted > 250 * 250 / 2 || Instant::now() > deadline {
            break shot;
        }
    };
    // The window's pixels came through Quay's import cache (GLES engine):
    // weston-simple-shm's surface is one upload entry, drawn from textures
    // Quay holds, uploaded whole once and then damage by damage, and pinned
    // while shown, so an eviction frees nothing.
    let stats = quay.msg(&["stats"]);
    assert_eq!(stats["renderer"], "gles", "{stats}");
    assert_eq!(stats["shm_surfaces_live"], 1, "{stats}");
    assert!(stats["shm_uploads_total"].as_u64() >= Some(1), "{stats}");
    assert!(
        stats["shm_partial_uploads_total"].as_u64() >= Some(1),
        "a running client's frames are damage-only uploads: {stats}"
    );
    assert_eq!(stats["imported_bytes"], 250 * 250 * 4, "{stats}");
    assert_eq!(quay.msg(&["evict"])["evicted_bytes"], 0, "on screen means pinned");
    // winit's frames take the frame path every backend takes: its output's
    // frame clock (which drives the deadline hints) sees them rendered and
    // presented, as headless's and udev's do.
    let outs = quay.msg(&["outputs"]);
    assert!(outs[0]["frames_rendered"].as_u64() >= Some(1), "{outs}");
    assert_eq!(outs[0]["frames_presented"], outs[0]["frames_rendered"], "{outs}");
    assert!(stats["frames_presented_total"].as_u64() >= Some(1), "{stats}");
    let mut client = client;
    assert!(client.is_running(), "weston-simple-shm still running");
    client.stop();
    assert_eq!((shot.width, shot.height), (800, 600));
    // Quay's window sits at the X root's origin (Xvfb runs no window
    // manager): its background fills the 640x480 window...
    assert_eq!(
        shot.pixel(600, 400),
        background,
        "Quay's background inside its window"
    );
    // ...the X root outside it is not Quay's...
    assert_ne!(shot.pixel(700, 550), background, "outside Quay's window");
    // ...and weston-simple-shm's 250x250 window at Quay's (0,0) is painted.
    let painted = 250 * 250 - shot.count(0, 0, 250, 250, background);
    assert!(painted > 250 * 250 / 2, "client pixels in the window: {painted}");
}
