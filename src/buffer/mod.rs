//! The client-buffer subsystem.
//!
//! Today this module owns the linux-dmabuf global's feedback and the import
//! policy for `zwp_linux_buffer_params_v1.create`:
//!
//! - **Ownership.** smithay's `Dmabuf` (an `Arc` over the plane fds) is
//!   owned by the `wl_buffer` it was created for. The renderer's import
//!   (pixman: an mmap of plane 0; GLES: an EGLImage + texture) is held by the
//!   renderer's own cache, keyed weakly on that `Dmabuf`, and dropped when the
//!   `Dmabuf` dies (pixman: `PixmanRenderer::cleanup`, smithay-0.7.0
//!   `src/backend/renderer/pixman/mod.rs:787`).
//! - **When a buffer may be released.** smithay releases the `wl_buffer`
//!   once no surface state references it any more (`on_commit_buffer_handler`
//!   replaces the surface's buffer; the old one is released then).
//! - **What invalidates an entry.** Only the death of the `Dmabuf`.
//!
//! The import is attempted when the client calls `create`/`create_immed`,
//! not at commit: a buffer the renderer cannot read is answered `failed`
//! (or, for `create_immed`, the protocol's `invalid_wl_buffer` error) and never
//! reaches a surface. This is the "imports that cannot crash the compositor"
//! rule: a commit never fails on import.
//!
//! - [`cache`]: the one-import-per-kernel-dma-buf cache and its
//!   memory-pressure LRU (its rules are stated at the top of `cache.rs`);
//! - [`error`]: why a dma-buf was answered `failed`, one reason per rule;
//! - [`identity`]: what makes two dma-bufs the same kernel object;
//! - [`import`]: the renderer that reads client buffers through the cache,
//!   generic over its engine: [`pixman`] (mmap) and [`gles`] (EGLImages and
//!   uploads);
//! - [`kms`]: KMS framebuffers per dma-buf, the per-fd GEM handle table and
//!   the export cache of Quay's own buffers;
//! - [`pressure`]: Linux PSI as an event-loop source;
//! - [`reaper`]: unmapping evicted imports off the event-loop thread.

pub mod cache;
pub mod cpu_access;
pub mod error;
pub mod gles;
pub mod identity;
pub mod import;
pub mod kms;
pub mod mapping;
pub mod pixman;
pub mod pressure;
pub mod reaper;

use std::path::PathBuf;

use smithay::wayland::dmabuf::DmabufFeedback;

use self::cache::Budget;

/// The import budget the config asks for.
pub fn budget(memory: &quay_config::Memory) -> Budget {
    Budget::new(memory.budget_bytes(), memory.low_water_percent.0)
}

/// The feedback Quay sends on `zwp_linux_dmabuf_v1.get_default_feedback`
/// and, until a surface needs something better (scanout tranches, on KMS),
/// on `get_surface_feedback`.
#[derive(Debug, Clone)]
pub struct DmabufFeedbacks {
    pub default: DmabufFeedback,
    /// Sent on `get_surface_feedback` when the backend has a better one
    /// (KMS: a scanout tranche first); else the default.
    pub surface: Option<DmabufFeedback>,
    /// The node named as main device, if any.
    pub main_device_node: Option<PathBuf>,
}

/// The device clients should allocate on: the first DRM render node, else the
/// first card node, else none.
///
/// With no DRM device at all (machines without `/dev/dri`) there is no device
/// to name: linux-dmabuf v4+ feedback must name a `main_device`, and a
/// made-up one (`dev_t` 0) makes clients fail to look it up (Chromium:
/// `drmGetDeviceFromDevId() returned an error`). Quay then offers version 3,
/// whose `format`/`modifier` events name no device ([`Core::init_dmabuf`]).
///
/// [`Core::init_dmabuf`]: crate::state::Core::init_dmabuf
pub fn find_main_device() -> Option<(libc::dev_t, Option<PathBuf>)> {
    let mut nodes: Vec<PathBuf> = std::fs::read_dir("/dev/dri")
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    // renderD* before card*, then by name, so the choice is stable.
    nodes.sort_by_key(|p| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (!name.starts_with("renderD"), name)
    });
    for node in nodes {
        let name = node
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !(name.starts_with("renderD") || name.starts_with("card")) {
            continue;
        }
        if let Ok(st) = rustix::fs::stat(&node) {
            return Some((st.st_rdev as libc::dev_t, Some(node)));
        }
    }
    None
}
