//! GLES upload benchmarks (issue #11), printing numbers: what the GLES
//! engine's shm path costs per commit, through the same `upload` Quay's
//! import path calls.
//!
//! 1. **Whole upload** of a 1920x1080 XRGB8888 buffer into a new texture
//!    (first use of a surface, a new size, or after an eviction).
//! 2. **Damage-only upload** of a 256x256 rectangle into that texture (a
//!    typical commit: a cursor blink, a text edit, a small animation).
//! 3. **Whole-damage refresh**: the full rectangle into the existing texture
//!    (a video or a game damaging everything every frame).
//!
//! Each timed operation ends with `glFinish`, so the number is the upload's
//! completion, not its queueing. The EGL device is the first one
//! `device_renderer` takes: Mesa's llvmpipe on hosts without a GPU, where an
//! upload is a CPU copy (a GPU's DMA upload behaves differently).
//!
//!     cargo bench --bench gles_upload
#![allow(clippy::disallowed_macros)] // prints its numbers

use std::time::{Duration, Instant};

use quay::buffer::gles::{device_renderer, upload};
use smithay::{
    backend::{allocator::Fourcc, renderer::gles::GlesRenderer},
    utils::Rectangle,
};

fn finish(gl: &mut GlesRenderer) {
    // SAFETY: glFinish on the current context.
    gl.with_context(|g| unsafe { g.Finish() }).expect("glFinish");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn report(name: &str, bytes: u64, times: Vec<Duration>) {
    let n = times.len();
    let med = median(times);
    let mbps = bytes as f64 / med.as_secs_f64() / 1e6;
    println!(
        "{name:<34} {:>9.3} ms median of {n:>3}, {:>8.0} MB/s, {bytes} bytes",
        med.as_secs_f64() * 1e3,
        mbps
    );
}

fn main() {
    let (mut gl, software) = match device_renderer() {
        Ok(r) => r,
        Err(e) => {
            println!("no EGL device for GLES ({e}); nothing to measure");
            return;
        }
    };
    println!(
        "EGL device: {}",
        if software {
            "software (llvmpipe)"
        } else {
            "hardware"
        }
    );
    let (w, h) = (1920, 1080);
    let stride = w as usize * 4;
    let pixels: Vec<u8> = (0..stride * h as usize).map(|i| (i * 7) as u8).collect();
    let size = (w, h).into();
    let whole = [Rectangle::from_size(size)];
    let damage = [Rectangle::new((640, 400).into(), (256, 256).into())];
    let rounds = 30;

    let mut times = Vec::new();
    let mut texture = None;
    for _ in 0..rounds {
        let t = Instant::now();
        // SAFETY: `pixels` holds h rows of `stride` bytes.
        let (tex, _) = unsafe {
            upload(
                &mut gl,
                None,
                Fourcc::Xrgb8888,
                size,
                stride,
                pixels.as_ptr(),
                &[],
            )
        }
        .expect("whole upload");
        finish(&mut gl);
        times.push(t.elapsed());
        texture = Some(tex);
    }
    report("whole 1920x1080, new texture", (w * h * 4) as u64, times);
    let tex = texture.expect("a texture");

    let mut times = Vec::new();
    for _ in 0..rounds * 10 {
        let t = Instant::now();
        // SAFETY: as above.
        unsafe {
            upload(
                &mut gl,
                Some(&tex),
                Fourcc::Xrgb8888,
                size,
                stride,
                pixels.as_ptr(),
                &damage,
            )
        }
        .expect("damage upload");
        finish(&mut gl);
        times.push(t.elapsed());
    }
    report("damage 256x256 into 1920x1080", 256 * 256 * 4, times);

    let mut times = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        // SAFETY: as above.
        unsafe {
            upload(
                &mut gl,
                Some(&tex),
                Fourcc::Xrgb8888,
                size,
                stride,
                pixels.as_ptr(),
                &whole,
            )
        }
        .expect("refresh upload");
        finish(&mut gl);
        times.push(t.elapsed());
    }
    report("whole-damage refresh 1920x1080", (w * h * 4) as u64, times);
}
