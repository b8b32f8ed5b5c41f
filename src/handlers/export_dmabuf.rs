//! `zwlr_export_dmabuf_manager_v1`'s compositor half: the udev backend's
//! current scanout buffer through its export cache (`Udev::export_output`);
//! every other backend has nothing of its own to hand out.

use smithay::output::Output;

use crate::State;

impl crate::protocols::export_dmabuf::ExportDmabufHandler for State {
    fn export_output(
        &mut self,
        output: &Output,
    ) -> Result<
        crate::protocols::export_dmabuf::ExportedFrame,
        smithay::reexports::wayland_protocols_wlr::export_dmabuf::v1::server::zwlr_export_dmabuf_frame_v1::CancelReason,
    >{
        use smithay::reexports::wayland_protocols_wlr::export_dmabuf::v1::server::zwlr_export_dmabuf_frame_v1::CancelReason;
        let frame = match self.backend.udev() {
            // Locked: the last buffer may still hold other clients' pixels.
            Some(_) if self.core.lock.is_locked() => Err(CancelReason::Temporary),
            Some(u) => u.export_output(output),
            None => Err(CancelReason::Permanent),
        };
        if frame.is_ok() {
            self.core.stats.export_dmabuf_frames_total += 1;
        }
        frame
    }
}

smithay::reexports::wayland_server::delegate_global_dispatch!(State: [
    smithay::reexports::wayland_protocols_wlr::export_dmabuf::v1::server::zwlr_export_dmabuf_manager_v1::ZwlrExportDmabufManagerV1: crate::protocols::GlobalFilter
] => crate::protocols::export_dmabuf::ExportDmabufState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    smithay::reexports::wayland_protocols_wlr::export_dmabuf::v1::server::zwlr_export_dmabuf_manager_v1::ZwlrExportDmabufManagerV1: ()
] => crate::protocols::export_dmabuf::ExportDmabufState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    smithay::reexports::wayland_protocols_wlr::export_dmabuf::v1::server::zwlr_export_dmabuf_frame_v1::ZwlrExportDmabufFrameV1: ()
] => crate::protocols::export_dmabuf::ExportDmabufState);
