//! Frame pacing: `wp_fifo_manager_v1` and `wp_commit_timing_manager_v1`.
//!
//! Both hold a commit back the way an acquire fence does (`crate::fences`):
//! smithay's managed mode puts a [`Barrier`](smithay::wayland::compositor::Barrier)
//! blocker on the commit (smithay-0.7.0 src/wayland/fifo/mod.rs:207-262,
//! src/wayland/commit_timing/mod.rs), the commit waits in the surface's
//! transaction queue, and nothing ever blocks the loop. What releases them is
//! the frame path: every output runs [`Core::release_paced`] from
//! `render::frame_rendered`, once per refresh whether or not it had anything
//! to draw (headless ticks, winit's redraws and udev's idle repaint slots all
//! end there).
//!
//! - **fifo**: the barrier a content update set is signalled once a frame of
//!   an output showing the surface was built with it, so a client that
//!   commits with `set_barrier` + `wait_barrier` gets at most one update per
//!   frame, never a dropped one (a Vulkan FIFO swapchain, Mesa's WSI). A
//!   surface on no output (minimized, not placed yet) is released by any
//!   output's frame, so it never waits forever.
//! - **commit timing**: a commit whose timestamp is at or before the vblank
//!   the next frame will be shown at is let through, so it is shown at the
//!   first vblank at or after its time, never before.
//!
//! Signalled barriers leave their commits blocked until the client's blocker
//! check runs again; that runs from an idle callback (it needs the whole
//! `State`), in the same loop turn.

use crate::layers::layer_map_for_output;
use std::time::Duration;

use smithay::{
    desktop::Window,
    output::Output,
    reexports::wayland_server::{protocol::wl_surface::WlSurface, Client, DisplayHandle, Resource},
    utils::{Monotonic, Time},
    wayland::{
        commit_timing::{CommitTimerBarrierStateUserData, CommitTimingManagerState},
        compositor::{with_surface_tree_downward, CompositorHandler, TraversalAction},
        fifo::{FifoBarrierCachedState, FifoManagerState},
    },
};

use crate::{state::Core, State};

/// The two globals.
#[derive(Debug)]
pub struct Pacing {
    pub fifo: FifoManagerState,
    pub commit_timing: CommitTimingManagerState,
}

impl Pacing {
    pub fn new(dh: &DisplayHandle) -> Pacing {
        Pacing {
            fifo: FifoManagerState::new::<State>(dh),
            commit_timing: CommitTimingManagerState::new::<State>(dh),
        }
    }
}

/// Signal `root`'s tree's fifo barriers and the commit timers due by
/// `until`; whether any was signalled.
fn release_tree(root: &WlSurface, until: Duration) -> bool {
    let mut any = false;
    let until = Time::<Monotonic>::from(until);
    with_surface_tree_downward(
        root,
        (),
        |_, _, _| TraversalAction::DoChildren(()),
        |_, states, _| {
            let barrier = states
                .cached_state
                .get::<FifoBarrierCachedState>()
                .current()
                .barrier
                .take();
            if let Some(barrier) = barrier {
                barrier.signal();
                any = true;
            }
            if let Some(timers) = states.data_map.get::<CommitTimerBarrierStateUserData>() {
                if let Ok(mut timers) = timers.lock() {
                    any |= timers.signal_until(until);
                }
            }
        },
        |_, _, _| true,
    );
    any
}

impl Core {
    /// A frame for `output` was built (see the module doc): release the
    /// fifo barriers of what it showed and of what no output shows, and the
    /// commit timers due by the vblank after `vblank`, the one this frame is
    /// for (now where the backend has none): a commit let through now is
    /// drawn into the next frame, shown at that vblank or later, never
    /// before its time. (A first version counted from the frame clock's
    /// next vblank after now, one refresh too far on headless, whose frame
    /// is shown at its tick: a timed commit was shown 0.5 ms early.)
    pub fn release_paced(&mut self, output: &Output, refresh: Duration, vblank: Option<Duration>) {
        let now = self.now();
        let until = vblank.unwrap_or(now) + refresh;
        let mut roots: Vec<WlSurface> = Vec::new();
        let window_root = |core: &Core, w: &Window| core.window_wl_surface(w);
        for window in self.space.elements() {
            let outputs = self.space.outputs_for_element(window);
            if outputs.is_empty() || outputs.contains(output) {
                roots.extend(window_root(self, window));
            }
        }
        for (window, _) in &self.toplevels.minimized {
            roots.extend(window_root(self, window));
        }
        roots.extend(
            layer_map_for_output(output)
                .layers()
                .map(|l| l.wl_surface().clone()),
        );
        let mut clients: Vec<Client> = Vec::new();
        for root in roots.iter().filter(|r| r.is_alive()) {
            if release_tree(root, until) {
                if let Some(client) = root.client() {
                    if !clients.iter().any(|c| c.id() == client.id()) {
                        clients.push(client);
                    }
                }
            }
        }
        if clients.is_empty() {
            return;
        }
        self.loop_handle.insert_idle(move |state| {
            let dh = state.core.display_handle.clone();
            for client in clients {
                state.client_compositor_state(&client).blocker_cleared(state, &dh);
            }
        });
    }
}

smithay::delegate_fifo!(State);
smithay::delegate_commit_timing!(State);
