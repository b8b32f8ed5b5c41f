//! # Quay
//!
//! A Wayland compositor built on smithay whose heart is the client-buffer
//! subsystem: dma-buf import/export, explicit sync, and bounded memory.
//! This file is the map a newcomer reads first.
//!
//! ## Who owns what
//!
//! Everything that touches compositor state lives on one thread, in one
//! calloop event loop, inside [`State`]. Two helper threads own nothing of
//! it: `quay-psi` forwards memory-pressure events into the loop over a
//! channel, and `quay-reaper` unmaps evicted imports it was handed.
//!
//! ```text
//! State
//! ├── backend: Backend        (backends/: headless | winit | udev)
//! │     owns the renderer, the outputs' render targets and frame clocks
//! └── core: Core              (src/state.rs)
//!       owns the Space of windows, the seat, the config, the IPC server
//!       and the stats, and one part per concern, each in its own file:
//!       globals (globals.rs), dmabuf (handlers/dmabuf.rs), sync
//!       (sync/), capture (handlers/screencopy.rs), pointer (cursor.rs),
//!       idle (handlers/idle.rs), placement (shell.rs), budgets
//!       (limits.rs), pacing, toplevels, apps (the application protocols)
//! ```
//!
//! The split is niri's: a backend method takes `&mut Core`, so the redraw
//! path reads `backend.render(&mut core, output)` without borrow fights.
//! Protocol handlers (`src/handlers/`) are implemented on `State` because
//! smithay's `delegate_*!` macros want one type; they are thin: convert the
//! request and call into `Core` or `Backend`. `Backend` is a closed enum;
//! backend-only capabilities are `Option`s, never panics.
//!
//! ## How a frame flows
//!
//! 1. A client commits a `wl_surface`. smithay double-buffers the state;
//!    [`handlers`] (`CompositorHandler::commit`) runs
//!    `on_commit_buffer_handler`, which records the new buffer and damage in
//!    the surface's `RendererSurfaceState`, and updates the window's bounding
//!    box. A toplevel's first commit gets its initial configure here.
//! 2. A dma-buf `wl_buffer` was already checked when it was created
//!    (`DmabufHandler::dmabuf_imported` imports it into the backend's
//!    renderer and answers `created` or `failed`), so a commit never fails
//!    on import. A commit that attaches a dma-buf is held by a blocker
//!    until its acquire fence (syncobj point, or the dma-buf's implicit
//!    fences) signals; the fence gets the output's next-frame deadline
//!    ([`sync`]).
//! 3. The backend's frame clock fires: a timer at the output's refresh rate
//!    (headless), the window's redraw (winit), or the repaint slot before
//!    the next page flip (udev), and calls `Backend::render` for that
//!    output. The backend collects the `Space`'s render elements for it,
//!    renders them with damage tracking (`OutputDamageTracker`, or
//!    smithay's `DrmCompositor` on udev) into the output's target.
//! 4. Then every backend takes the same frame path.
//!    [`render::frame_rendered`] moves the output's frame clock, marks which
//!    output each surface is primarily shown on, fires the `wl_surface.frame`
//!    callbacks of every surface visible there (once per frame), collects
//!    their `wp_presentation_feedback`, sends per-surface dma-buf feedback,
//!    pins what the output shows in the import cache and answers the
//!    screencopies waiting for damage. [`render::frame_presented`], when the
//!    frame is on screen (at once on headless and winit, at the page flip
//!    on udev), sends `presented` with the frame's timestamp, refresh and
//!    sequence number, moves the frame clock (the deadline hints for the
//!    next vblank go out from there) and cleans up the cache.
//!
//! ## Modules
//!
//! - [`state`]: `State`, `Core`, per-client data, the listening socket.
//! - [`handlers`]: smithay `*Handler` impls, one file per protocol family.
//! - [`shell`]: toplevel placement (a simple cascade) and popups.
//! - [`render`]: what goes on screen and what happens after a present.
//! - [`buffer`]: the client-buffer subsystem: linux-dmabuf feedback, the
//!   import cache (one import per kernel dma-buf) with its memory-pressure
//!   LRU, PSI and the reaper; KMS framebuffers per dma-buf over the per-fd
//!   GEM handle table, and the export cache of Quay's own buffers. Its
//!   rules: one kernel dma-buf, one import (and one framebuffer per DRM fd);
//!   an LRU scan takes a strong reference before it touches an entry and
//!   skips one whose owner is dying; no decision reads a reference count
//!   (`buffer/cache.rs` states each where it is kept).
//! - [`sync`]: acquire/release, implicit sync, frame clocks and deadline
//!   hints; the fence registry that dispatches every fence operation and
//!   callback outside its lock (`sync/registry.rs`).
//!   A leaf, like [`buffer`]: neither reaches back into `State` or `Core`;
//!   [`fences`] is the compositor's side of sync.
//! - [`limits`]: the fd limit raised at start, and every client's budget of
//!   fds and buffer bytes (a client past it is disconnected, nobody else).
//! - [`listen`]: accepting connections; running out of fds pauses the
//!   listener instead of ending the event loop.
//! - [`bindings`], [`actions`]: key bindings from the config, what they
//!   do, and reloading the config when its file changes.
//! - [`grabs`]: interactive move and resize.
//! - [`outputs`]: `[[output]]` and `zwlr_output_manager_v1` (wlr-randr).
//! - [`xwayland`]: X11 applications (Xwayland and smithay's `X11Wm`).
//! - [`ipc`]: `quay msg` over a Unix socket (screenshot, outputs, stats,
//!   evict).
//! - [`backends`] (top-level `backends/`): headless, winit and udev
//!   adapters. They hold no cache policy.
//! - `quay-config` (top-level `config/`): the typed config schema.
//! - `protocols/`: protocols smithay lacks:
//!   `zwp_linux_explicit_synchronization_v1` and `zwlr_screencopy_manager_v1`.

#[path = "../protocols/mod.rs"]
pub mod protocols;

pub mod actions;
#[path = "../backends/mod.rs"]
pub mod backends;
pub mod bindings;
pub mod buffer;
pub mod cli;
pub mod cursor;
pub mod fences;
pub mod globals;
pub mod grabs;
pub mod handlers;
pub mod input;
pub mod ipc;
pub mod layers;
pub mod limits;
pub mod listen;
pub mod lock;
pub mod outputs;
pub mod pacing;
pub mod render;
pub mod shell;
pub mod spawn;
pub mod state;
pub mod sync;
pub mod tablet;
pub mod toplevels;
pub mod xwayland;

pub use state::{Core, State};
