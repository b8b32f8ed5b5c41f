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
    sync_scenarios::{e, H, W, XRGB8888},
    ParamsResult, TestClient,
};

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

/// `zwlr_export_dmabuf_v1` and the way back (`--syncobj-test export-roundtrip`,
/// on a KMS device with direct scanout):
/// 1. a composed window (so the output shows one of Quay's own buffers);
/// 2. `captures` captures, each after a committed frame: every one `ready`
///    with one linear object; the report lists how many distinct dma-bufs
///    (st_ino) they were, which the export cache keeps at the number of
///    swapchain buffers, and the window's colour read from the first;
/// 3. the first capture's dma-buf goes back through linux-dmabuf as a
///    fullscreen window's buffer, which the compositor scans out: Quay's own
///    object coming back. Prints READY and lingers 4 s for the stats.
pub fn export_roundtrip(socket: &Path, captures: usize, color: u32) -> Result<String, String> {
    let mut c = TestClient::connect_lenient(socket).map_err(e)?;
    let mgr = c
        .export_dmabuf
        .clone()
        .ok_or("the compositor offers no zwlr_export_dmabuf_manager_v1")?;
    let output = c.output.clone().ok_or("no wl_output")?;
    let w = c.window(W, H, color).map_err(e)?;
    c.commit_and_wait_frame(&w.surface).map_err(e)?;
    c.commit_and_wait_frame(&w.surface).map_err(e)?;

    let mut inodes = Vec::new();
    let mut first = None;
    for i in 0..captures {
        // New content each time (damage counts only with an attached buffer),
        // so the output draws into its next swapchain buffer.
        let b = c.shm_buffer(W, H, color, wayland_client::protocol::wl_shm::Format::Xrgb8888);
        w.surface.attach(Some(&b), 0, 0);
        w.surface.damage_buffer(0, 0, W, H);
        c.commit_and_wait_frame(&w.surface).map_err(e)?;
        let frame = mgr.capture_output(0, &output, &c.qh, ());
        let id = frame.id().protocol_id();
        c.dispatch_until("ready or cancel", Duration::from_secs(10), |app| {
            app.exported
                .get(&id)
                .is_some_and(|f| f.ready || f.cancel.is_some())
        })
        .map_err(e)?;
        let Some(mut f) = c.app.exported.remove(&id) else {
            return Err("no frame events".into());
        };
        frame.destroy();
        if let Some(reason) = f.cancel {
            return Err(format!("capture {i} cancelled (reason {reason})"));
        }
        let Some((fw, fh, fourcc, modifier, n)) = f.frame else {
            return Err(format!("capture {i}: ready without a frame event"));
        };
        if n != 1 || f.objects.len() != 1 || modifier != 0 {
            return Err(format!(
                "capture {i}: {n} objects ({} sent), modifier {modifier:#x}; want 1 linear",
                f.objects.len()
            ));
        }
        let (fd, size, offset, stride) = f.objects.remove(0);
        let st = rustix::fs::fstat(&fd).map_err(e)?;
        inodes.push(st.st_ino);
        if first.is_none() {
            first = Some((fd, fw, fh, fourcc, size, offset, stride));
        }
    }
    let Some((fd, fw, fh, fourcc, size, offset, stride)) = first else {
        return Err("no capture".into());
    };
    let bytes = read(&fd, size as usize).map_err(e)?;
    let at = (offset + stride * (H as u32 / 2) + 4 * (W as u32 / 2)) as usize;
    let centre = bytes
        .get(at..at + 4)
        .map(|p| u32::from_le_bytes([p[0], p[1], p[2], p[3]]) & 0x00ff_ffff)
        .ok_or("the export is smaller than the frame")?;
    let mut distinct = inodes.clone();
    distinct.sort_unstable();
    distinct.dedup();

    // The way back: the first capture as a fullscreen window's buffer.
    let back = c.window_with(W, H, 0xff00_0000, true).map_err(e)?;
    let params = c.params();
    params.add(fd.as_fd(), 0, offset, stride, 0, 0);
    params.create(fw as i32, fh as i32, fourcc, Flags::empty());
    let buffer = match c.wait_params(&params).map_err(e)? {
        ParamsResult::Created(b) => b,
        ParamsResult::Failed => return Err("our export came back and was refused (failed)".into()),
    };
    back.surface.attach(Some(&buffer), 0, 0);
    back.surface.damage_buffer(0, 0, fw as i32, fh as i32);
    c.commit_and_wait_frame(&back.surface).map_err(e)?;
    c.commit_and_wait_frame(&back.surface).map_err(e)?;
    #[allow(clippy::disallowed_macros)] // a marker for the VM case script
    {
        eprintln!("READY");
    }
    let until = std::time::Instant::now() + Duration::from_secs(4);
    let _ = c.dispatch_until("a pause", Duration::from_secs(4), |_| {
        std::time::Instant::now() >= until
    });
    Ok(format!(
        "{{\"ok\":true,\"test\":\"export-roundtrip\",\"captures\":{captures},\"distinct_dmabufs\":{},\"width\":{fw},\"height\":{fh},\"centre\":\"{centre:06x}\",\"window\":\"{:06x}\"}}",
        distinct.len(),
        color & 0x00ff_ffff
    ))
}
