//! `zwlr_screencopy_v1` into a real dma-buf (`quay-dmabuf-client
//! --syncobj-test screencopy`): a window of a known colour, then two
//! captures of the whole output into one dma-heap buffer the client
//! allocates at the size the frame's `linux_dmabuf` event asks for. The
//! client reads the buffer back (mmap between DMA_BUF_IOCTL_SYNC) and reports
//! the pixels at the window's centre and at the output's last pixel, for the
//! case script to compare.

use std::{os::fd::AsFd, path::Path, time::Duration};

use wayland_client::Proxy;
use wayland_protocols::wp::linux_dmabuf::zv1::client::zwp_linux_buffer_params_v1::Flags;

use crate::{
    dmabuf::{alloc, fill, read, Source},
    ParamsResult, TestClient,
};

const W: i32 = 128;
const H: i32 = 128;
const XRGB8888: u32 = 0x3432_5258;

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

pub fn screencopy(socket: &Path, color: u32) -> Result<String, String> {
    let mut c = TestClient::connect_lenient(socket).map_err(e)?;
    let mgr = c
        .screencopy
        .clone()
        .ok_or("the compositor offers no zwlr_screencopy_manager_v1")?;
    let output = c.output.clone().ok_or("no wl_output")?;
    let w = c.window(W, H, color).map_err(e)?;
    c.commit_and_wait_frame(&w.surface).map_err(e)?;
    c.commit_and_wait_frame(&w.surface).map_err(e)?;

    let mut target = None;
    let mut reports = Vec::new();
    for round in 0..2 {
        let frame = mgr.capture_output(0, &output, &c.qh, ());
        let id = frame.id().protocol_id();
        c.dispatch_until("buffer_done", Duration::from_secs(10), |app| {
            app.screencopy.get(&id).is_some_and(|f| f.buffer_done || f.failed)
        })
        .map_err(e)?;
        let f = c.app.screencopy[&id].clone();
        let (fourcc, fw, fh) = f.dmabuf.ok_or(format!("no linux_dmabuf event: {f:?}"))?;
        if fourcc != XRGB8888 {
            return Err(format!("linux_dmabuf offers fourcc {fourcc:#x}"));
        }
        let (stride, size) = (fw * 4, (fw * 4 * fh) as usize);
        // One dma-buf for both captures: a second capture reuses it.
        if target.is_none() {
            let fd = alloc(Source::DmaHeap, size as u64).map_err(e)?;
            fill(&fd, size, 0xff00_0000).map_err(e)?;
            let params = c.params();
            params.add(fd.as_fd(), 0, 0, stride, 0, 0);
            params.create(fw as i32, fh as i32, XRGB8888, Flags::empty());
            let buffer = match c.wait_params(&params).map_err(e)? {
                ParamsResult::Created(b) => b,
                ParamsResult::Failed => return Err("the capture target was refused (failed)".into()),
            };
            target = Some((fd, buffer));
        }
        let Some((fd, buffer)) = target.as_ref() else {
            return Err("no target".into());
        };
        frame.copy(buffer);
        c.dispatch_until("ready", Duration::from_secs(10), |app| {
            app.screencopy.get(&id).is_some_and(|f| f.ready || f.failed)
        })
        .map_err(e)?;
        if c.app.screencopy[&id].failed {
            return Err(format!("capture {round} failed"));
        }
        let bytes = read(fd, size).map_err(e)?;
        let px = |x: u32, y: u32| {
            let i = (y * stride + x * 4) as usize;
            u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]) & 0x00ff_ffff
        };
        reports.push(format!(
            "{{\"w\":{fw},\"h\":{fh},\"centre\":\"{:06x}\",\"corner\":\"{:06x}\"}}",
            px(W as u32 / 2, H as u32 / 2),
            px(fw - 1, fh - 1)
        ));
        frame.destroy();
    }
    Ok(format!(
        "{{\"ok\":true,\"test\":\"screencopy\",\"window\":\"{:06x}\",\"captures\":[{}]}}",
        color & 0x00ff_ffff,
        reports.join(",")
    ))
}
