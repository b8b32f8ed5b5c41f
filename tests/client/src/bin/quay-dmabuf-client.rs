//! A Wayland client that shows a window made of real kernel dma-bufs.
//!
//!     quay-dmabuf-client [--source heap|udmabuf] [--size WxH] [--color 0xAARRGGBB]
//!                        [--buffers K] [--frames N] [--socket PATH]
//!
//! Allocates one dma-buf, wraps it in K `wl_buffer`s (K params on the same
//! fd: the import cache's test case), shows them in a toplevel for N
//! frames, cycling the buffers, and prints one JSON line with what happened.
//! Exits 0 only if every buffer was `created` and every frame was presented.
//! Bad input to the compositor is not this tool's job; see the host tests.
#![allow(clippy::disallowed_macros)] // a CLI tool: its output is for the test script

use std::{os::fd::AsFd, path::PathBuf, process::ExitCode, time::Instant};

use quay_test_client::{
    dmabuf::{alloc, fill, Source},
    wayland_protocols::wp::linux_dmabuf::zv1::client::zwp_linux_buffer_params_v1::Flags,
    ParamsResult, TestClient,
};

const XRGB8888: u32 = 0x3432_5258;

struct Args {
    source: Source,
    w: i32,
    h: i32,
    color: u32,
    buffers: usize,
    frames: usize,
    socket: PathBuf,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        source: Source::DmaHeap,
        w: 256,
        h: 256,
        color: 0xff00_80ff,
        buffers: 1,
        frames: 60,
        socket: PathBuf::new(),
    };
    let runtime = std::env::var("XDG_RUNTIME_DIR").map_err(|_| "XDG_RUNTIME_DIR unset")?;
    let display = std::env::var("WAYLAND_DISPLAY").unwrap_or_else(|_| "wayland-0".into());
    a.socket = PathBuf::from(runtime).join(display);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--source" => {
                a.source = match val()?.as_str() {
                    "heap" => Source::DmaHeap,
                    "udmabuf" => Source::Udmabuf,
                    s => return Err(format!("unknown source {s}")),
                }
            }
            "--size" => {
                let v = val()?;
                let (w, h) = v.split_once('x').ok_or("size is WxH")?;
                a.w = w.parse().map_err(|_| "bad width")?;
                a.h = h.parse().map_err(|_| "bad height")?;
            }
            "--color" => {
                let v = val()?;
                a.color = u32::from_str_radix(v.trim_start_matches("0x"), 16).map_err(|_| "bad color")?;
            }
            "--buffers" => a.buffers = val()?.parse().map_err(|_| "bad --buffers")?,
            "--frames" => a.frames = val()?.parse().map_err(|_| "bad --frames")?,
            "--socket" => a.socket = PathBuf::from(val()?),
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("quay-dmabuf-client: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{{\"ok\":false,\"error\":{:?}}}", e);
            ExitCode::FAILURE
        }
    }
}

fn run(a: &Args) -> Result<String, String> {
    let t0 = Instant::now();
    let stride = a.w * 4;
    let size = (stride * a.h) as usize;
    let fd = alloc(a.source, size as u64).map_err(|e| e.to_string())?;
    fill(&fd, size, a.color).map_err(|e| e.to_string())?;
    let st = rustix::fs::fstat(&fd).map_err(|e| e.to_string())?;

    let mut c = TestClient::connect(&a.socket).map_err(|e| e.to_string())?;
    let mut buffers = Vec::new();
    for _ in 0..a.buffers {
        let params = c.params();
        params.add(fd.as_fd(), 0, 0, stride as u32, 0, 0);
        params.create(a.w, a.h, XRGB8888, Flags::empty());
        match c.wait_params(&params).map_err(|e| e.to_string())? {
            ParamsResult::Created(b) => buffers.push(b),
            ParamsResult::Failed => return Err("params failed".into()),
        }
    }
    let w = c.window(1, 1, a.color).map_err(|e| e.to_string())?;
    let mut presented = 0;
    for i in 0..a.frames {
        let b = &buffers[i % buffers.len()];
        w.surface.attach(Some(b), 0, 0);
        w.surface.damage_buffer(0, 0, a.w, a.h);
        let _fb = c.feedback(&w.surface);
        c.commit_and_wait_frame(&w.surface).map_err(|e| e.to_string())?;
        presented += 1;
    }
    // Let the last presentation feedback arrive.
    let _ = c.dispatch_until("feedback", std::time::Duration::from_secs(2), |app| {
        app.presented.len() + app.discarded as usize >= a.frames
    });
    Ok(format!(
        "{{\"ok\":true,\"source\":\"{:?}\",\"st_dev\":{},\"st_ino\":{},\"buffers\":{},\"frames\":{},\"presented\":{},\"discarded\":{},\"releases\":{},\"secs\":{:.2}}}",
        a.source,
        st.st_dev,
        st.st_ino,
        buffers.len(),
        presented,
        c.app.presented.len(),
        c.app.discarded,
        c.app.buffer_releases,
        t0.elapsed().as_secs_f64()
    ))
}
