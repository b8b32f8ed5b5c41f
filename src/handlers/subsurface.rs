//! wl_subcompositor and wl_subsurface: smithay's handlers
//! (smithay-0.7.0 src/wayland/compositor/handlers.rs) with the checks and
//! the timing the protocol asks for and smithay does not give.

use smithay::{
    reexports::wayland_server::{
        backend::ObjectId,
        protocol::{
            wl_subcompositor::WlSubcompositor, wl_subsurface, wl_subsurface::WlSubsurface,
            wl_surface::WlSurface,
        },
        Client, DataInit, Dispatch, DisplayHandle, Resource, Weak,
    },
    utils::{Logical, Point},
    wayland::compositor::{
        get_parent, with_states, Cacheable, CompositorHandler, CompositorState, SubsurfaceCachedState,
        SubsurfaceUserData,
    },
};

use crate::State;

/// How deep subsurfaces may nest below a surface without a parent. smithay
/// walks a surface's ancestors on every commit and recurses through the
/// tree on every traversal (smithay-0.7.0 src/wayland/compositor/tree.rs:
/// `is_effectively_sync`, `map`): a chain of tens of thousands would cost
/// quadratic work to build and a stack frame a level on every frame. Real
/// clients nest a few levels.
pub const MAX_SUBSURFACE_DEPTH: usize = 64;

/// `wl_subcompositor.get_subsurface`: a surface that would be its own
/// parent or its own ancestor is `bad_parent`, as the XML says; smithay
/// answers both with `bad_surface` (smithay-0.7.0
/// src/wayland/compositor/handlers.rs:464, via `set_parent`). A parent
/// already [`MAX_SUBSURFACE_DEPTH`] deep is `bad_parent` too.
impl Dispatch<WlSubcompositor, ()> for State {
    fn request(
        state: &mut State,
        client: &Client,
        resource: &WlSubcompositor,
        request: smithay::reexports::wayland_server::protocol::wl_subcompositor::Request,
        data: &(),
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        use smithay::reexports::wayland_server::protocol::wl_subcompositor::{Error, Request};
        if let Request::GetSubsurface { surface, parent, .. } = &request {
            let mut ancestor = Some(parent.clone());
            let mut depth = 0;
            while let Some(a) = ancestor {
                if &a == surface {
                    Resource::post_error(
                        resource,
                        Error::BadParent,
                        "a surface cannot be its own parent or ancestor",
                    );
                    return;
                }
                depth += 1;
                if depth > MAX_SUBSURFACE_DEPTH {
                    Resource::post_error(
                        resource,
                        Error::BadParent,
                        format!("subsurfaces nest at most {MAX_SUBSURFACE_DEPTH} deep"),
                    );
                    return;
                }
                ancestor = get_parent(&a);
            }
        }
        <CompositorState as Dispatch<WlSubcompositor, (), State>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }
}

/// Positions set with `wl_subsurface.set_position` on a parent's children,
/// double-buffered in the parent's state: "the new position takes effect
/// when the parent surface's state is applied" (wayland.xml,
/// wl_subsurface.set_position), so a sync parent's children move when its
/// own parent commits and not before. smithay keeps the position in the
/// child's state instead (smithay-0.7.0 src/wayland/compositor/handlers.rs:580-591),
/// where the child's own commit applies it.
#[derive(Debug, Default)]
pub struct ChildPositions(Vec<(ObjectId, Weak<WlSurface>, Point<i32, Logical>)>);

impl Cacheable for ChildPositions {
    fn commit(&mut self, _dh: &DisplayHandle) -> Self {
        std::mem::take(self)
    }

    fn merge_into(self, into: &mut Self, _dh: &DisplayHandle) {
        for (id, child, pos) in self.0 {
            into.0.retain(|(other, ..)| *other != id);
            into.0.push((id, child, pos));
        }
    }
}

/// The position a subsurface last took from its parent's state. The
/// child's own state carries a location too, and a commit of the child that
/// was cached before the parent's was applied would bring an older one
/// back: each application of the child's state is corrected to this.
#[derive(Debug, Default)]
struct TakenPosition(std::sync::Mutex<Option<Point<i32, Logical>>>);

/// `surface`'s state was applied (its commit, or its parent's for a sync
/// surface; smithay calls the commit handler for each surface a
/// transaction applies, src/wayland/compositor/transaction.rs:262-275):
/// it keeps the position its parent gave it last, and its children take
/// the positions set since.
pub fn apply_child_positions(surface: &WlSurface) {
    let (taken, moved) = with_states(surface, |states| {
        let taken = (states.data_map.get::<TakenPosition>())
            .and_then(|t| *t.0.lock().unwrap_or_else(|e| e.into_inner()));
        let moved = std::mem::take(&mut states.cached_state.get::<ChildPositions>().current().0);
        (taken, moved)
    });
    if let Some(pos) = taken {
        set_location(surface, pos);
    }
    for (_, child, pos) in moved {
        let Ok(child) = child.upgrade() else {
            continue;
        };
        if get_parent(&child).as_ref() != Some(surface) {
            continue;
        }
        with_states(&child, |states| {
            states
                .data_map
                .insert_if_missing_threadsafe(TakenPosition::default);
            if let Some(taken) = states.data_map.get::<TakenPosition>() {
                *taken.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(pos);
            }
        });
        set_location(&child, pos);
    }
}

/// The location smithay draws and hit-tests a subsurface at, now and after
/// its next commit.
fn set_location(surface: &WlSurface, pos: Point<i32, Logical>) {
    with_states(surface, |states| {
        let mut cached = states.cached_state.get::<SubsurfaceCachedState>();
        cached.pending().location = pos;
        cached.current().location = pos;
    });
}

/// `wl_subsurface`: `set_position` is kept in the parent's state
/// ([`ChildPositions`]); every other request is smithay's.
impl Dispatch<WlSubsurface, SubsurfaceUserData> for State {
    fn request(
        state: &mut State,
        client: &Client,
        resource: &WlSubsurface,
        request: wl_subsurface::Request,
        data: &SubsurfaceUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        if let wl_subsurface::Request::SetPosition { x, y } = request {
            let child = data.surface();
            // A subsurface whose parent is gone has no position to take.
            let Some(parent) = get_parent(child) else {
                return;
            };
            let scale = state.client_compositor_state(client).client_scale();
            // As smithay converts it (handlers.rs:582-590).
            let pos = Point::<i32, Logical>::from((
                (x as f64 / scale).round() as i32,
                (y as f64 / scale).round() as i32,
            ));
            let entry = (child.id(), child.downgrade(), pos);
            with_states(&parent, |states| {
                let mut cached = states.cached_state.get::<ChildPositions>();
                let pending = &mut cached.pending().0;
                pending.retain(|(id, ..)| *id != entry.0);
                pending.push(entry);
            });
            return;
        }
        <CompositorState as Dispatch<WlSubsurface, SubsurfaceUserData, State>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }

    fn destroyed(
        state: &mut State,
        client: smithay::reexports::wayland_server::backend::ClientId,
        resource: &WlSubsurface,
        data: &SubsurfaceUserData,
    ) {
        <CompositorState as Dispatch<WlSubsurface, SubsurfaceUserData, State>>::destroyed(
            state, client, resource, data,
        )
    }
}
