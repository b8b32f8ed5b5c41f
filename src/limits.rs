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

    /// The configured session total, with the fds capped at three quarters
    /// of the process limit: what is left is Quay's own (devices, its
    /// swapchains, the listening sockets, the import cache's own dups).
    pub fn session(config: &quay_config::Limits, nofile: Option<u64>) -> ClientLimits {
        let fds = u64::from(config.total_fds.0);
        ClientLimits {
            fds: nofile.map_or(fds, |n| fds.min((n / 4 * 3).max(1))),
            bytes: config.total_buffer_bytes(),
            objects: u64::from(config.total_objects.0),
        }
    }
}

/// Three counters against their limits: one client's, or all clients'
/// together ([`SessionBudget`]).
#[derive(Debug)]
struct Counters {
    limits: ClientLimits,
    fds: AtomicU64,
    bytes: AtomicU64,
    objects: AtomicU64,
}

/// Which of the three a charge is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Fds,
    Bytes,
    Objects,
}

impl Counters {
    fn new(limits: ClientLimits) -> Counters {
        Counters {
            limits,
            fds: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            objects: AtomicU64::new(0),
        }
    }

    fn counter(&self, kind: Kind) -> (&AtomicU64, u64) {
        match kind {
            Kind::Fds => (&self.fds, self.limits.fds),
            Kind::Bytes => (&self.bytes, self.limits.bytes),
            Kind::Objects => (&self.objects, self.limits.objects),
        }
    }

    /// The first of `charges` that would pass its limit: (kind, held, limit).
    fn check(&self, charges: &[(Kind, u64)]) -> Option<(Kind, u64, u64)> {
        charges.iter().find_map(|&(kind, n)| {
            let (counter, limit) = self.counter(kind);
            let held = counter.load(Ordering::Relaxed).saturating_add(n);
            (n > 0 && held > limit).then_some((kind, held, limit))
        })
    }

    fn add(&self, charges: &[(Kind, u64)]) {
        for &(kind, n) in charges {
            let (counter, _) = self.counter(kind);
            counter.store(
                counter.load(Ordering::Relaxed).saturating_add(n),
                Ordering::Relaxed,
            );
        }
    }

    /// Take up to `n` off `kind`; returns what was taken (releases saturate).
    fn sub(&self, kind: Kind, n: u64) -> u64 {
        let (counter, _) = self.counter(kind);
        let before = counter
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            })
            .unwrap_or(0);
        before.min(n)
    }

    fn held(&self, kind: Kind) -> u64 {
        self.counter(kind).0.load(Ordering::Relaxed)
    }
}

/// What all clients together hold, against `[limits] total_*`: one per
/// Quay, shared by every [`ClientBudget`].
#[derive(Debug)]
pub struct SessionBudget(Counters);

impl SessionBudget {
    pub fn new(limits: ClientLimits) -> std::sync::Arc<SessionBudget> {
        std::sync::Arc::new(SessionBudget(Counters::new(limits)))
    }

    pub fn limits(&self) -> ClientLimits {
        self.0.limits
    }

    /// (fds, bytes, objects) all clients hold now.
    pub fn held(&self) -> (u64, u64, u64) {
        (
            self.0.held(Kind::Fds),
            self.0.held(Kind::Bytes),
            self.0.held(Kind::Objects),
        )
    }
}

/// What one client holds now, against its limits and, through its share of
/// the [`SessionBudget`], against everyone's. Dropped with the client's
/// data: what it still held goes back to the session then.
#[derive(Debug)]
pub struct ClientBudget {
    own: Counters,
    session: std::sync::Arc<SessionBudget>,
    /// The bytes each of the client's live `wl_shm_pool`s is charged.
    pools: std::sync::Mutex<PoolLedger>,
    /// What live objects hold that grows with their requests (a data
    /// source's offered MIME types), given back when each is destroyed.
    held_by: std::sync::Mutex<
        std::collections::HashMap<smithay::reexports::wayland_server::backend::ObjectId, u64>,
    >,
}

/// Which `wl_shm_pool` is charged what.
///
/// A pool is charged its size from `create_pool` (and its growth from
/// `resize`) until it is destroyed, so a client's pools are summed against
/// its byte budget. wayland-server does not say which object a request
/// creates (`New<I>` keeps its id private), so a pool's size is attributed
/// to its id the first time a request (or its destruction) names it: the
/// smallest size not attributed yet. Every real client names a pool
/// (`create_buffer`) before it creates the next, which makes that exact;
/// otherwise the smallest is taken, so a client's charge is never less
/// than the sum of its live pools.
#[derive(Debug, Default)]
struct PoolLedger {
    unsighted: Vec<u64>,
    sized: std::collections::HashMap<smithay::reexports::wayland_server::backend::ObjectId, u64>,
}

impl PoolLedger {
    fn sight(&mut self, pool: &smithay::reexports::wayland_server::backend::ObjectId) -> u64 {
        if let Some(&size) = self.sized.get(pool) {
            return size;
        }
        let size = match self.unsighted.iter().enumerate().min_by_key(|(_, &s)| s) {
            Some((i, _)) => self.unsighted.swap_remove(i),
            None => 0,
        };
        self.sized.insert(pool.clone(), size);
        size
    }
}

/// Which budget a charge passed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct BudgetExceeded {
    pub kind: Kind,
    /// What the request would have made Quay hold.
    pub what: &'static str,
    pub held: u64,
    pub limit: u64,
    /// The session total was passed, not the client's own budget.
    pub session: bool,
}

impl BudgetExceeded {
    fn describe(&self) -> String {
        let (whose, key) = match (self.session, self.kind) {
            (false, Kind::Fds) => ("this client", "client_fds"),
            (false, Kind::Bytes) => ("this client", "client_buffer_mib"),
            (false, Kind::Objects) => ("this client", "client_objects"),
            (true, Kind::Fds) => ("all clients together", "total_fds"),
            (true, Kind::Bytes) => ("all clients together", "total_buffer_mib"),
            (true, Kind::Objects) => ("all clients together", "total_objects"),
        };
        let (what, held, limit) = (self.what, self.held, self.limit);
        match self.kind {
            Kind::Fds => {
                format!("{what} would make Quay hold {held} fds for {whose} (limit {limit}; [limits] {key})")
            }
            Kind::Bytes => {
                let buffers = if self.session {
                    "all clients' buffers"
                } else {
                    "this client's buffers"
                };
                format!("{what} would take {buffers} to {held} bytes (limit {limit}; [limits] {key})")
            }
            Kind::Objects => {
                format!("{what} would give {whose} {held} protocol objects (limit {limit}; [limits] {key})")
            }
        }
    }
}

impl ClientBudget {
    pub fn new(limits: ClientLimits, session: std::sync::Arc<SessionBudget>) -> ClientBudget {
        ClientBudget {
            own: Counters::new(limits),
            session,
            pools: Default::default(),
            held_by: Default::default(),
        }
    }

    /// Charge `bytes` to the object `id` (kept until [`Self::release_held_by`]).
    pub fn try_charge_held_by(
        &self,
        id: &smithay::reexports::wayland_server::backend::ObjectId,
        what: &'static str,
        bytes: u64,
    ) -> Result<(), BudgetExceeded> {
        self.try_charge(what, 0, bytes)?;
        if let Ok(mut held) = self.held_by.lock() {
            *held.entry(id.clone()).or_default() += bytes;
        }
        Ok(())
    }

    /// The object `id` is destroyed: what it held goes back.
    pub fn release_held_by(&self, id: &smithay::reexports::wayland_server::backend::ObjectId) {
        let bytes = self
            .held_by
            .lock()
            .ok()
            .and_then(|mut held| held.remove(id))
            .unwrap_or(0);
        self.release(0, bytes);
    }

    /// A new `wl_shm_pool` of `size` bytes: one fd and its size.
    pub fn try_charge_pool(&self, size: u64) -> Result<(), BudgetExceeded> {
        self.try_charge("a wl_shm_pool", 1, size)?;
        if let Ok(mut ledger) = self.pools.lock() {
            ledger.unsighted.push(size);
        }
        Ok(())
    }

    /// `pool` grows to `size` bytes: the growth.
    pub fn try_charge_pool_growth(
        &self,
        pool: &smithay::reexports::wayland_server::backend::ObjectId,
        size: u64,
    ) -> Result<(), BudgetExceeded> {
        let Ok(mut ledger) = self.pools.lock() else {
            return Ok(());
        };
        let old = ledger.sight(pool);
        if size <= old {
            // A shrink is smithay's protocol error; nothing changes.
            return Ok(());
        }
        self.try_charge("growing a wl_shm_pool", 0, size - old)?;
        ledger.sized.insert(pool.clone(), size);
        Ok(())
    }

    /// A request names `pool` (see [`PoolLedger`]).
    pub fn sight_pool(&self, pool: &smithay::reexports::wayland_server::backend::ObjectId) {
        if let Ok(mut ledger) = self.pools.lock() {
            ledger.sight(pool);
        }
    }

    /// `pool` is destroyed: its fd and its size go back.
    pub fn release_pool(&self, pool: &smithay::reexports::wayland_server::backend::ObjectId) {
        let size = match self.pools.lock() {
            Ok(mut ledger) => {
                let size = ledger.sight(pool);
                ledger.sized.remove(pool);
                size
            }
            Err(_) => 0,
        };
        self.release(1, size);
    }

    /// Add every one of `charges`, or change nothing and say which limit
    /// (the client's own first, then the session's) the first that does
    /// not fit passes.
    fn try_charge_all(&self, what: &'static str, charges: &[(Kind, u64)]) -> Result<(), BudgetExceeded> {
        for (counters, session) in [(&self.own, false), (&self.session.0, true)] {
            if let Some((kind, held, limit)) = counters.check(charges) {
                return Err(BudgetExceeded {
                    kind,
                    what,
                    held,
                    limit,
                    session,
                });
            }
        }
        // One thread charges and releases (the event loop's); the atomics are
        // only there because smithay wants `ClientData: Send + Sync`.
        self.own.add(charges);
        self.session.0.add(charges);
        Ok(())
    }

    /// One more object (a surface, region, callback...), or the limit it passes.
    pub fn try_charge_object(&self, what: &'static str) -> Result<(), BudgetExceeded> {
        self.try_charge_all(what, &[(Kind::Objects, 1)])
    }

    pub fn release_object(&self) {
        self.release_kind(Kind::Objects, 1);
    }

    /// Add `fds` and `bytes`, or change nothing and say which limit they pass.
    pub fn try_charge(&self, what: &'static str, fds: u64, bytes: u64) -> Result<(), BudgetExceeded> {
        self.try_charge_all(what, &[(Kind::Fds, fds), (Kind::Bytes, bytes)])
    }

    /// Check that `bytes` alone would fit the byte budget, charging nothing.
    pub fn check_bytes(&self, what: &'static str, bytes: u64) -> Result<(), BudgetExceeded> {
        if bytes > self.own.limits.bytes {
            return Err(BudgetExceeded {
                kind: Kind::Bytes,
                what,
                held: bytes,
                limit: self.own.limits.bytes,
                session: false,
            });
        }
        Ok(())
    }

    fn release_kind(&self, kind: Kind, n: u64) {
        // The session gets back what this client really gave back, so a
        // release without its charge (a client that died mid-request)
        // cannot take another client's share.
        let taken = self.own.sub(kind, n);
        self.session.0.sub(kind, taken);
    }

    pub fn release(&self, fds: u64, bytes: u64) {
        self.release_kind(Kind::Fds, fds);
        self.release_kind(Kind::Bytes, bytes);
    }

    /// (fds, bytes) held now.
    pub fn held(&self) -> (u64, u64) {
        (self.own.held(Kind::Fds), self.own.held(Kind::Bytes))
    }

    /// Objects held now.
    pub fn objects(&self) -> u64 {
        self.own.held(Kind::Objects)
    }
}

impl Drop for ClientBudget {
    fn drop(&mut self) {
        for kind in [Kind::Fds, Kind::Bytes, Kind::Objects] {
            let held = self.own.held(kind);
            self.session.0.sub(kind, held);
        }
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

/// The budgets of the clients (each one's limits, the session's shared
/// budget) and the count of clients gone, which smithay's
/// `ClientData::disconnected` bumps without access to `State`.
#[derive(Debug)]
pub struct Budgets {
    /// What each new client may make Quay hold.
    pub client: ClientLimits,
    /// What all clients together may make Quay hold.
    pub session: std::sync::Arc<SessionBudget>,
    /// Clients disconnected so far.
    pub disconnected: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Budgets {
    pub fn new(config: &quay_config::Limits, nofile: Option<u64>) -> Budgets {
        Budgets {
            client: ClientLimits::new(config, nofile),
            session: SessionBudget::new(ClientLimits::session(config, nofile)),
            disconnected: Default::default(),
        }
    }
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

    fn unlimited() -> std::sync::Arc<SessionBudget> {
        SessionBudget::new(ClientLimits {
            fds: u64::MAX,
            bytes: u64::MAX,
            objects: u64::MAX,
        })
    }

    #[test]
    fn objects_are_counted_apart() {
        let b = ClientBudget::new(limits(1, 1), unlimited());
        b.try_charge_object("s").unwrap();
        b.try_charge_object("s").unwrap();
        assert!(matches!(
            b.try_charge_object("s"),
            Err(BudgetExceeded {
                kind: Kind::Objects,
                held: 3,
                session: false,
                ..
            })
        ));
        b.release_object();
        b.try_charge_object("s").unwrap();
        // Objects do not use the fd or byte budget.
        b.try_charge("f", 1, 1).unwrap();
    }

    #[test]
    fn charge_up_to_the_limit_and_no_further() {
        let b = ClientBudget::new(limits(3, 100), unlimited());
        b.try_charge("a", 2, 60).unwrap();
        assert_eq!(
            b.try_charge("b", 2, 0),
            Err(BudgetExceeded {
                kind: Kind::Fds,
                what: "b",
                held: 4,
                limit: 3,
                session: false,
            })
        );
        assert!(matches!(
            b.try_charge("c", 1, 41),
            Err(BudgetExceeded {
                kind: Kind::Bytes,
                ..
            })
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

    /// Many connections, each within its own budget, are held to the
    /// session total; a client that goes gives its share back.
    #[test]
    fn clients_together_are_held_to_the_session_total() {
        let session = SessionBudget::new(limits(10, 1000));
        let clients: Vec<_> = (0..3)
            .map(|_| ClientBudget::new(limits(4, 400), session.clone()))
            .collect();
        clients[0].try_charge("a", 4, 400).unwrap();
        clients[1].try_charge("a", 4, 400).unwrap();
        let err = clients[2].try_charge("a", 3, 0).unwrap_err();
        assert_eq!(
            (err.kind, err.held, err.limit, err.session),
            (Kind::Fds, 11, 10, true)
        );
        assert!(err.to_string().contains("total_fds"), "{err}");
        clients[2].try_charge("a", 2, 200).unwrap();
        assert_eq!(session.held(), (10, 1000, 0));
        // A release without its charge takes nothing from the others.
        clients[2].release(100, 100_000);
        assert_eq!(session.held(), (8, 800, 0));
        // A client that is gone gives back what it still held.
        let mut clients = clients;
        clients.remove(0);
        assert_eq!(session.held(), (4, 400, 0));
        clients[1].try_charge("a", 4, 400).unwrap();
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
        assert_eq!(ClientLimits::session(&cfg, Some(1024)).fds, 768);
        assert_eq!(
            ClientLimits::session(&cfg, Some(1 << 20)).fds,
            u64::from(cfg.total_fds.0)
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
