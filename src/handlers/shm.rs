//! wl_shm and buffer lifetime: smithay's shm implementation behind Quay's
//! client budget (`limits.rs`) and its own request checks.
//!
//! `wl_shm` and `wl_shm_pool` are dispatched here rather than through
//! `delegate_shm!` so that each request is charged to its client before
//! smithay carries it out, and so that a bad `wl_shm_pool.resize` gets its
//! protocol error without reaching smithay-0.7.0 src/wayland/shm/handlers.rs:195,
//! which posts the error for a size <= 0 and then goes on to
//! `NonZeroUsize::try_from(size as usize).unwrap()`: `resize(0)` would panic
//! Quay there. Everything else is smithay's own code path.

use smithay::{
    reexports::wayland_server::{
        protocol::{
            wl_buffer,
            wl_shm::{self, WlShm},
            wl_shm_pool::{self, WlShmPool},
        },
        Client, DataInit, Dispatch, DisplayHandle, Resource,
    },
    wayland::{
        buffer::BufferHandler,
        dmabuf::get_dmabuf,
        shm::{with_buffer_contents, ShmHandler, ShmPoolUserData, ShmState},
    },
};

use super::budget::{budget, charge, charge_with};
use crate::State;

impl ShmHandler for State {
    fn shm_state(&self) -> &ShmState {
        &self.core.shm_state
    }
}

smithay::reexports::wayland_server::delegate_global_dispatch!(State: [WlShm: ()] => ShmState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [
    wl_buffer::WlBuffer: smithay::wayland::shm::ShmBufferUserData
] => ShmState);

impl Dispatch<WlShm, ()> for State {
    fn request(
        state: &mut State,
        client: &Client,
        shm: &WlShm,
        request: wl_shm::Request,
        data: &(),
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        if let wl_shm::Request::CreatePool { size, .. } = &request {
            // smithay answers size <= 0 itself.
            if *size > 0 {
                let bytes = *size as u64;
                if !charge_with(state, client, |b| b.try_charge_pool(bytes)) {
                    return;
                }
            }
        }
        <ShmState as Dispatch<WlShm, (), State>>::request(state, client, shm, request, data, dh, data_init)
    }
}

impl Dispatch<WlShmPool, ShmPoolUserData> for State {
    fn request(
        state: &mut State,
        client: &Client,
        pool: &WlShmPool,
        request: wl_shm_pool::Request,
        data: &ShmPoolUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        match &request {
            wl_shm_pool::Request::Resize { size } if *size <= 0 => {
                pool.post_error(
                    wl_shm::Error::InvalidFd,
                    format!("invalid wl_shm_pool size {size}"),
                );
                return;
            }
            wl_shm_pool::Request::Resize { size } => {
                let bytes = *size as u64;
                if !charge_with(state, client, |b| b.try_charge_pool_growth(&pool.id(), bytes)) {
                    return;
                }
            }
            wl_shm_pool::Request::CreateBuffer { height, stride, .. } => {
                if let Some(b) = budget(client) {
                    b.sight_pool(&pool.id());
                }
                // A buffer smithay will refuse (invalid_stride: its bytes
                // cannot fit any pool, handlers.rs:137-145) is not charged,
                // so the client gets that error rather than the budget's.
                // Any other refusal disconnects the client, and an
                // over-charge dies with it.
                let bytes = i64::from(*stride) * i64::from(*height);
                if *stride > 0
                    && *height > 0
                    && bytes <= i64::from(i32::MAX)
                    && !charge(state, client, "a wl_shm buffer", 1, bytes as u64)
                {
                    return;
                }
            }
            _ => {}
        }
        <ShmState as Dispatch<WlShmPool, ShmPoolUserData, State>>::request(
            state, client, pool, request, data, dh, data_init,
        )
    }

    fn destroyed(
        state: &mut State,
        client: smithay::reexports::wayland_server::backend::ClientId,
        pool: &WlShmPool,
        data: &ShmPoolUserData,
    ) {
        super::budget::with_budget_of(&state.core.display_handle, &client, |b| {
            b.release_pool(&pool.id())
        });
        <ShmState as Dispatch<WlShmPool, ShmPoolUserData, State>>::destroyed(state, client, pool, data)
    }
}

impl BufferHandler for State {
    fn buffer_destroyed(&mut self, buffer: &wl_buffer::WlBuffer) {
        // Renderer imports are keyed weakly on the buffer's contents and are
        // cleaned up by the renderer once the buffer is gone (see buffer/).
        // What the buffer was charged to its client is given back here; a
        // client that is already gone took its budget with it.
        let Some(client) = buffer.client() else {
            return;
        };
        let Some(budget) = budget(&client) else {
            return;
        };
        if let Ok(bytes) = with_buffer_contents(buffer, |_, _, d| {
            (d.stride as i64 * d.height as i64).max(0) as u64
        }) {
            budget.release(1, bytes);
        } else if let Ok(dmabuf) = get_dmabuf(buffer) {
            let (fds, bytes) = crate::handlers::dmabuf::dmabuf_charge(dmabuf);
            budget.release(fds, bytes);
        }
    }
}
