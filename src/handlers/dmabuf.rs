//! zwp_linux_dmabuf_v1: import on `create`, answer `created`/`failed`.

use smithay::{
    backend::allocator::{dmabuf::Dmabuf, Buffer},
    delegate_dmabuf,
    wayland::dmabuf::{DmabufGlobal, DmabufHandler, DmabufState, ImportNotifier},
};
use tracing::debug;

use crate::State;

impl DmabufHandler for State {
    fn dmabuf_state(&mut self) -> &mut DmabufState {
        &mut self.core.dmabuf_state
    }

    fn dmabuf_imported(&mut self, _global: &DmabufGlobal, dmabuf: Dmabuf, notifier: ImportNotifier) {
        match self.backend.import_dmabuf(&dmabuf) {
            Ok(()) => {
                // `successful` fails only if the client is already gone.
                if notifier.successful::<State>().is_ok() {
                    self.core.stats.dmabuf_params_created_total += 1;
                }
            }
            Err(err) => {
                debug!(?err, format = ?dmabuf.format(), "dma-buf import failed");
                self.core.stats.dmabuf_params_failed_total += 1;
                // `create`: sends `failed`; `create_immed`: the protocol's
                // invalid_wl_buffer error (smithay-0.7.0
                // src/wayland/dmabuf/mod.rs:957).
                notifier.failed();
            }
        }
    }
}
delegate_dmabuf!(State);
