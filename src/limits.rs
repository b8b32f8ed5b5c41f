//! Resource limits: Quay's own fd limit, and what one client may make Quay hold.
//!
//! ## The process fd limit
//! A desktop session starts Quay with a soft `RLIMIT_NOFILE` of 1024, and every
//! client fd Quay keeps (a `wl_shm_pool`, the planes of a dma-buf, the import
//! cache's dup of them) counts against it. [`raise_nofile`] lifts the soft limit
//! to the hard one at start-up, as sway and niri do, and remembers the original;
//! [`restore_nofile_for_child`] gives it back to a program Quay starts, so a
//! child that still uses `select(2)` gets the limit it was written for.
//! Running out anyway must not end the session: the listening sockets back off
//! on `EMFILE`/`ENFILE` instead of failing the event loop (`state.rs`, `ipc.rs`).
//!
//! ## Client budgets
//! Every client carries a [`ClientBudget`] in its `ClientState`: three
//! counters and their limits, charged and released on the event-loop thread
//! by the protocol handlers that take client fds, memory or objects, through
//! the glue in `handlers/budget.rs` (`handlers/shm.rs` for `wl_shm`,
//! `handlers/dmabuf.rs` for linux-dmabuf, `handlers/compositor.rs` for
//! surfaces, regions and frame callbacks):
//!
//! | object | fds | bytes | released when |
//! |---|---|---|---|
//! | `wl_shm_pool` | 1 | checked, not kept (below) | the pool object is destroyed |
//! | `wl_shm` buffer | 1 (it keeps its pool's fd open) | stride × height | the `wl_buffer` is destroyed |
//! | `zwp_linux_buffer_params_v1` plane | 1 per `add` | – | `create`, `create_immed` or destroy |
//! | dma-buf `wl_buffer` | 1 per plane | Σ offset + stride × height | the `wl_buffer` is destroyed |
//!
//! Objects with no fd or memory of the client's behind them are counted
//! apart ([`ClientBudget::try_charge_object`]): `wl_surface`, `wl_region`
//! and `wl_surface.frame` callbacks, each from its request until it is
//! destroyed (a callback: when it is done), against `[limits]
//! client_objects`. Other per-surface objects (viewports, xdg roles,
//! syncobj surfaces) are bounded by the surfaces they belong to.
//!
//! The fd count is an upper bound of the fds the client makes Quay hold (a pool
//! and its buffers share one fd); real clients stay far below the defaults. A
//! pool's own mapping is not kept in the byte count (smithay's pool data is
//! private, so a destroyed pool's size cannot be looked up again); instead no
//! single pool may be larger than the byte budget, and the number of pools is
//! bounded by the fd budget.
//!
//! A charge that would pass a limit disconnects the client with
//! `wl_display.error` `no_memory` and a message that names the budget; the
//! request is not carried out. Nothing is shared with other clients, so they go
//! on as before. Releases saturate at zero: a client that dies in the middle of
//! a request (its object never created, its budget about to be dropped) cannot
//! make a counter wrap.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    OnceLock,
};

use smithay::reexports::wayland_server::{backend::protocol::ProtocolError, Client, DisplayHandle};
use tracing::{info, warn};

/// `wl_display.error` code `no_memory`.
const WL_DISPLAY_ERROR_NO_MEMORY: u32 = 2;

/// The soft and hard `RLIMIT_NOFILE` Quay was started with.
static ORIGINAL_NOFILE: OnceLock<rustix::process::Rlimit> = OnceLock::new();

/// Raise the soft fd limit to the hard one. Returns the soft limit in force
/// afterwards (the old one if raising failed, `None` if unlimited).
pub fn raise_nofile() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let original = getrlimit(Resource::Nofile);
    let _ = ORIGINAL_NOFILE.set(original);
    if original.current == original.maximum {
        return original.current;
    }
    let raised = Rlimit {
        current: original.maximum,
        maximum: original.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            info!(from = ?original.current, to = ?original.maximum, "raised the soft fd limit");
            original.maximum
        }
        Err(e) => {
            warn!("cannot raise the soft fd limit from {:?}: {e}", original.current);
            original.current
        }
    }
}

/// Make `cmd`'s child start with the fd limit Quay itself was started with.
pub fn restore_nofile_for_child(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let Some(original) = ORIGINAL_NOFILE.get().copied() else {
        return;
    };
    // SAFETY: the closure runs between fork and exec; setrlimit is a plain
    // system call (async-signal-safe) and the closure allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::setrlimit(rustix::process::Resource::Nofile, original)
                .map_err(std::io::Error::from)
        });
    }
}

/// The limits every new client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    pub fds: u64,
    pub bytes: u64,
    pub objects: u64,
}

impl ClientLimits {
    /// The configured budget, with the fd budget capped at a quarter of the
    /// process limit (`nofile`, after [`raise_nofile`]).
    pub fn new(config: &quay_config::Limits, nofile: Option<u64>) -> ClientLimits {
        let fds = u64::from(config.client_fds.0);
        ClientLimits {
            fds: nofile.map_or(fds, |n| fds.min((n / 4).max(1))),
            bytes: config.client_buffer_bytes(),
            objects: u64::from(config.client_objects.0),
        }
    }
}

/// What one client holds now, against its limits.
#[derive(Debug)]
pub struct ClientBudget {
    limits: ClientLimits,
    fds: AtomicU64,
    bytes: AtomicU64,
    objects: AtomicU64,
}

/// Which budget a charge passed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetExceeded {
    #[error("{what} would make Quay hold {held} fds for this client (limit {limit}; [limits] client_fds)")]
    Fds {
        what: &'static str,
        held: u64,
        limit: u64,
    },
    #[error(
        "{what} would take this client's buffers to {held} bytes (limit {limit}; [limits] client_buffer_mib)"
    )]
    Bytes {
        what: &'static str,
        held: u64,
        limit: u64,
    },
    #[error("{what} would give this client {held} surfaces, regions and frame callbacks (limit {limit}; [limits] client_objects)")]
    Objects {
        what: &'static str,
        held: u64,
        limit: u64,
    },
}

impl ClientBudget {
    pub fn new(limits: ClientLimits) -> ClientBudget {
        ClientBudget {
            limits,
            fds: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            objects: AtomicU64::new(0),
        }
    }

    /// One more object (a surface, region or frame callback), or the limit it passes.
    pub fn try_charge_object(&self, what: &'static str) -> Result<(), BudgetExceeded> {
        let held = self.objects.load(Ordering::Relaxed).saturating_add(1);
        if held > self.limits.objects {
            return Err(BudgetExceeded::Objects {
                what,
                held,
                limit: self.limits.objects,
            });
        }
        self.objects.store(held, Ordering::Relaxed);
        Ok(())
    }

    pub fn release_object(&self) {
        let _ = self
            .objects
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(1))
            });
    }

    /// Add `fds` and `bytes`, or change nothing and say which limit they pass.
    pub fn try_charge(&self, what: &'static str, fds: u64, bytes: u64) -> Result<(), BudgetExceeded> {
        let held_fds = self.fds.load(Ordering::Relaxed).saturating_add(fds);
        if held_fds > self.limits.fds {
            return Err(BudgetExceeded::Fds {
                what,
                held: held_fds,
                limit: self.limits.fds,
            });
        }
        let held_bytes = self.bytes.load(Ordering::Relaxed).saturating_add(bytes);
        if held_bytes > self.limits.bytes {
            return Err(BudgetExceeded::Bytes {
                what,
                held: held_bytes,
                limit: self.limits.bytes,
            });
        }
        // One thread charges and releases (the event loop's); the atomics are
        // only there because smithay wants `ClientData: Send + Sync`.
        self.fds.store(held_fds, Ordering::Relaxed);
        self.bytes.store(held_bytes, Ordering::Relaxed);
        Ok(())
    }

    /// Check that `bytes` alone would fit the byte budget, charging nothing.
    pub fn check_bytes(&self, what: &'static str, bytes: u64) -> Result<(), BudgetExceeded> {
        if bytes > self.limits.bytes {
            return Err(BudgetExceeded::Bytes {
                what,
                held: bytes,
                limit: self.limits.bytes,
            });
        }
        Ok(())
    }

    pub fn release(&self, fds: u64, bytes: u64) {
        let sub = |a: &AtomicU64, n: u64| {
            let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
        };
        sub(&self.fds, fds);
        sub(&self.bytes, bytes);
    }

    /// (fds, bytes) held now.
    pub fn held(&self) -> (u64, u64) {
        (
            self.fds.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// `wl_display`, for looking up a client's display object: wayland-backend
/// matches interfaces by name (`same_interface`, wayland-backend-0.3
/// src/protocol.rs:278) and keeps its own copy private.
static WL_DISPLAY: smithay::reexports::wayland_server::backend::protocol::Interface =
    smithay::reexports::wayland_server::backend::protocol::Interface {
        name: "wl_display",
        version: 1,
        requests: &[],
        events: &[],
        c_ptr: None,
    };

/// Disconnect `client` for passing a budget: `wl_display.error` `no_memory`
/// with the reason. `Client::kill` alone closes the connection without
/// sending an error (wayland-backend-0.3 src/rs/server_impl/client.rs:325),
/// so the error is posted on the client's `wl_display` (object 1), which
/// sends it and then disconnects.
pub fn disconnect_over_budget(client: &Client, dh: &DisplayHandle, err: &BudgetExceeded) {
    warn!(client = ?client.id(), "disconnecting a client: {err}");
    let message = format!("client budget exceeded: {err}");
    let handle = dh.backend_handle();
    match handle.object_for_protocol_id(client.id(), &WL_DISPLAY, 1) {
        Ok(display) => handle.post_error(
            display,
            WL_DISPLAY_ERROR_NO_MEMORY,
            std::ffi::CString::new(message).unwrap_or_default(),
        ),
        Err(_) => client.kill(
            dh,
            ProtocolError {
                code: WL_DISPLAY_ERROR_NO_MEMORY,
                object_id: 1,
                object_interface: "wl_display".into(),
                message,
            },
        ),
    }
}

/// Open fds of this process (`/proc/self/fd`), for `quay msg stats`.
pub fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count().saturating_sub(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(fds: u64, bytes: u64) -> ClientLimits {
        ClientLimits {
            fds,
            bytes,
            objects: 2,
        }
    }

    #[test]
    fn objects_are_counted_apart() {
        let b = ClientBudget::new(limits(1, 1));
        b.try_charge_object("s").unwrap();
        b.try_charge_object("s").unwrap();
        assert!(matches!(
            b.try_charge_object("s"),
            Err(BudgetExceeded::Objects { held: 3, .. })
        ));
        b.release_object();
        b.try_charge_object("s").unwrap();
        // Objects do not use the fd or byte budget.
        b.try_charge("f", 1, 1).unwrap();
    }

    #[test]
    fn charge_up_to_the_limit_and_no_further() {
        let b = ClientBudget::new(limits(3, 100));
        b.try_charge("a", 2, 60).unwrap();
        assert_eq!(
            b.try_charge("b", 2, 0),
            Err(BudgetExceeded::Fds {
                what: "b",
                held: 4,
                limit: 3
            })
        );
        assert!(matches!(
            b.try_charge("c", 1, 41),
            Err(BudgetExceeded::Bytes { .. })
        ));
        // A refused charge changed nothing.
        assert_eq!(b.held(), (2, 60));
        b.try_charge("d", 1, 40).unwrap();
        assert_eq!(b.held(), (3, 100));
        b.release(3, 100);
        assert_eq!(b.held(), (0, 0));
        // Releases saturate.
        b.release(5, 5);
        assert_eq!(b.held(), (0, 0));
    }

    #[test]
    fn fd_budget_is_capped_by_the_process_limit() {
        let cfg = quay_config::Limits::default();
        assert_eq!(ClientLimits::new(&cfg, Some(1024)).fds, 256);
        assert_eq!(ClientLimits::new(&cfg, None).fds, u64::from(cfg.client_fds.0));
        assert_eq!(
            ClientLimits::new(&cfg, Some(1 << 20)).fds,
            u64::from(cfg.client_fds.0)
        );
    }

    #[test]
    fn a_child_gets_the_original_limit_back() {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        // Start as a session would start Quay: a soft limit below the hard one.
        let hard = getrlimit(Resource::Nofile).maximum;
        let soft_before = Some(hard.map_or(512, |h| h.min(512)));
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: soft_before,
                maximum: hard,
            },
        )
        .unwrap();
        assert_eq!(raise_nofile(), hard);
        assert_eq!(getrlimit(Resource::Nofile).current, hard);
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "ulimit -Sn"]);
        restore_nofile_for_child(&mut cmd);
        let out = cmd.output().expect("run sh");
        let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let want = soft_before.map_or("unlimited".to_string(), |n| n.to_string());
        assert_eq!(printed, want);
    }
}
