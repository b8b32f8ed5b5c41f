//! The import cache and its memory-pressure LRU, as one generic structure.
//!
//! [`ImportCache`] is the policy half of Quay's client-buffer imports; the
//! renderer ([`super::import::QuayRenderer`]) instantiates it with kernel
//! dma-buf identities, `WeakDmabuf` users and pixman mappings, and the
//! property test (`tests` below) instantiates it with plain values, so the
//! test drives exactly the code the compositor runs.
//!
//! ## Entries and ownership: one import per kernel dma-buf, no decision on a count
//!
//! The kernel keeps one dma-buf per GEM object and maps a re-imported
//! export back to its object (the PRIME export cache; its locking was
//! fixed in "drm/prime: fixup the dma buf export cache locking", 2012);
//! this cache does the same one level up, for renderer imports.
//!
//! One entry per key (per kernel dma-buf identity). An entry holds:
//! - its **users** weakly (one per `wl_buffer`): the entry dies when the last
//!   user is gone ([`ImportCache::cleanup`]);
//! - its **source** strongly (a dup of the plane fds), so it can re-import
//!   after an eviction without asking any client for anything;
//! - its **resident** import (the mapping/texture), or nothing once evicted.
//!
//! Renderer elements and surfaces hold an [`EntryId`], never the resident
//! import itself, so evicting really frees it; a draw of an evicted entry
//! re-imports it from its source ([`ImportCache::resident`]).
//!
//! ## Eviction: a scan never races a release
//!
//! The kernel's version of this bug: "drm/gem: Fix a race between
//! drm_gem_lru_scan() and drm_gem_object_release()" (dri-devel, May 2026),
//! where a scan moved an object the destructor was releasing onto a list
//! the destructor could then see.
//!
//! The LRU is a `BTreeMap` from last-use tick to entry, holding resident
//! entries only. A scan walks it oldest first. For each entry it first does
//! the `kref_get_unless_zero` step: if no user can be upgraded any more the
//! owner is dying, and the entry is unlinked from every index right there
//! and skipped (it was never going to be used again; that is a reap, not an
//! eviction). An entry that is pinned is skipped. Everything else loses its
//! resident import, down to the low-water mark. What the scan takes out is
//! collected and dropped after the scan, when no index is borrowed: nothing
//! is ever parked where a destructor could find it, and no `Drop` runs in
//! the middle of a walk over the indices.
//!
//! Pinned means on screen (the caller's [`ImportCache::set_pins`], one set
//! per output, refreshed after every frame), waited on by a pending acquire
//! fence (one pin set per waiting commit, dropped when it signals or its
//! surface dies), or the entry being returned by the current call. "Drawn in the frame being built" needs no flag: a frame
//! borrows the cache mutably for its whole life, so no eviction can run
//! while one is being built. The borrow checker is the lock.
//!
//! ## Threads
//!
//! None. The cache lives on the event-loop thread and is `!Send + !Sync`
//! (the `PhantomData<Rc<()>>` below), so the compiler rejects any attempt to
//! evict from another thread; the kernel's scan-versus-release race needs two
//! threads and cannot be written against this type. Memory-pressure
//! notifications come from a helper thread as messages into the event loop
//! (see [`super::pressure`]), never as calls into the cache.
//!
//! No decision anywhere reads a reference count: users are asked
//! `is_gone()`, i.e. "can this be upgraded", never "how many are left".

use std::{
    collections::{BTreeMap, HashMap},
    hash::Hash,
    marker::PhantomData,
    rc::Rc,
};

/// A cache entry's id. Never reused, so a stale id cannot reach a newer
/// entry that happens to have the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(u64);

/// A weak reference to one user of an entry (a `wl_buffer`'s `Dmabuf`).
pub trait User {
    /// Whether the user can no longer be upgraded (its owner is gone or
    /// going). Answered by trying, not by counting.
    fn is_gone(&self) -> bool;
}

impl User for smithay::backend::allocator::dmabuf::WeakDmabuf {
    fn is_gone(&self) -> bool {
        smithay::backend::allocator::dmabuf::WeakDmabuf::is_gone(self)
    }
}

/// The byte budget: evict down to `low_water` once imports exceed `budget`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub budget: u64,
    pub low_water: u64,
}

impl Budget {
    /// `low_water_percent` of `budget`, clamped to 0..=100.
    pub fn new(budget: u64, low_water_percent: u8) -> Budget {
        let pct = u64::from(low_water_percent.min(100));
        Budget {
            budget,
            low_water: (u128::from(budget) * u128::from(pct) / 100) as u64,
        }
    }
}

/// Counters for `quay msg stats`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Renderer imports performed for new entries, ever.
    pub imports_total: u64,
    /// `wl_buffer`s served by an entry made for another `wl_buffer` of the
    /// same kernel dma-buf and layout.
    pub import_cache_hits: u64,
    /// Entries alive now (one per distinct dma-buf identity in use).
    pub dmabufs_live: u64,
    /// Bytes of resident imports now.
    pub imported_bytes: u64,
    /// Of those, bytes pinned (on screen) now.
    pub pinned_bytes: u64,
    /// The configured budget.
    pub budget_bytes: u64,
    /// Resident imports dropped to make room or under pressure, ever.
    pub evictions_total: u64,
    pub evicted_bytes_total: u64,
    /// Evicted entries imported again because they were needed.
    pub reimports_total: u64,
    /// Memory-pressure notifications acted upon.
    pub pressure_events_total: u64,
}

#[derive(Debug)]
struct Entry<K, U, S, R> {
    key: K,
    users: Vec<U>,
    source: S,
    bytes: u64,
    /// `Some` while imported; then `tick` is its key in the LRU.
    resident: Option<R>,
    tick: u64,
}

impl<K, U: User, S, R> Entry<K, U, S, R> {
    /// The `kref_get_unless_zero` step for the whole entry: forget users
    /// that are gone and say whether any is left.
    fn has_users(&mut self) -> bool {
        self.users.retain(|u| !u.is_gone());
        !self.users.is_empty()
    }
}

/// What [`ImportCache::insert_or_get`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new entry, imported now.
    Imported,
    /// An existing entry, already resident.
    Hit,
    /// An existing entry that had been evicted, imported again.
    Reimported,
}

/// Who pins entries: an output (what it shows now) or a commit waiting for
/// its acquire fence (the buffer it will show). Each source has one set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PinSource {
    /// An output, by name.
    Output(String),
    /// A commit waiting on its acquire fence, by the fence registry's serial.
    Fence(u64),
}

#[derive(Debug)]
pub struct ImportCache<K, U, S, R> {
    by_key: HashMap<K, EntryId>,
    entries: HashMap<EntryId, Entry<K, U, S, R>>,
    /// Resident entries by last-use tick, oldest first.
    lru: BTreeMap<u64, EntryId>,
    /// Pinned entries per pin source.
    pins: HashMap<PinSource, Vec<EntryId>>,
    next_tick: u64,
    next_id: u64,
    imported_bytes: u64,
    budget: Budget,
    stats: CacheStats,
    _event_loop_only: PhantomData<Rc<()>>,
}

impl<K: Hash + Eq + Clone, U: User, S, R> ImportCache<K, U, S, R> {
    pub fn new(budget: Budget) -> Self {
        ImportCache {
            by_key: HashMap::new(),
            entries: HashMap::new(),
            lru: BTreeMap::new(),
            pins: HashMap::new(),
            next_tick: 0,
            next_id: 0,
            imported_bytes: 0,
            budget,
            stats: CacheStats::default(),
            _event_loop_only: PhantomData,
        }
    }

    pub fn set_budget(&mut self, budget: Budget) {
        self.budget = budget;
    }

    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// The entry for `key`, made resident, with `user` recorded.
    ///
    /// - new key: `source()` makes the entry's own strong source, `import`
    ///   imports from it;
    /// - known key: `user` is added unless `same_user` finds it there
    ///   already (a cache hit), and an evicted entry is imported again.
    ///
    /// Then the budget is enforced, never evicting the returned entry.
    pub fn insert_or_get<E>(
        &mut self,
        key: K,
        user: U,
        same_user: impl Fn(&U) -> bool,
        bytes: u64,
        source: impl FnOnce() -> Result<S, E>,
        import: impl FnOnce(&S) -> Result<R, E>,
    ) -> Result<(EntryId, Outcome), E> {
        // An entry whose users are all gone is not this buffer's entry any
        // more: unlink it first, so the new user gets a fresh one.
        if let Some(&id) = self.by_key.get(&key) {
            let alive = self.entries.get_mut(&id).is_some_and(|e| e.has_users());
            if !alive {
                drop(self.unlink(id));
            }
        }
        let (id, outcome) = match self.by_key.get(&key).copied() {
            Some(id) => {
                let entry = self.entries.get_mut(&id).expect("by_key and entries agree");
                if !entry.users.iter().any(&same_user) {
                    entry.users.push(user);
                    self.stats.import_cache_hits += 1;
                }
                let outcome = if entry.resident.is_some() {
                    Outcome::Hit
                } else {
                    Outcome::Reimported
                };
                self.make_resident(id, import)?;
                (id, outcome)
            }
            None => {
                let source = source()?;
                let resident = import(&source)?;
                let id = EntryId(self.next_id);
                self.next_id += 1;
                self.by_key.insert(key.clone(), id);
                self.entries.insert(
                    id,
                    Entry {
                        key,
                        users: vec![user],
                        source,
                        bytes,
                        resident: Some(resident),
                        tick: 0,
                    },
                );
                self.imported_bytes += bytes;
                self.stats.imports_total += 1;
                self.touch(id);
                (id, Outcome::Imported)
            }
        };
        self.enforce_budget_except(Some(id));
        Ok((id, outcome))
    }

    /// The resident import of `id` for drawing it now, importing it again
    /// from its source if it was evicted. `None`: the entry is gone.
    /// Does not enforce the budget (a frame is being built); the caller does
    /// after the frame ([`ImportCache::enforce_budget`]).
    pub fn resident<E>(
        &mut self,
        id: EntryId,
        import: impl FnOnce(&S) -> Result<R, E>,
    ) -> Result<Option<(&R, &S)>, E> {
        if !self.entries.contains_key(&id) {
            return Ok(None);
        }
        self.make_resident(id, import)?;
        Ok(self
            .entries
            .get(&id)
            .and_then(|e| e.resident.as_ref().map(|r| (r, &e.source))))
    }

    /// The resident import of `id`, to update in place (a converted import
    /// whose source changed). Does not touch the LRU.
    pub fn resident_mut(&mut self, id: EntryId) -> Option<(&mut R, &S)> {
        self.entries
            .get_mut(&id)
            .and_then(|e| e.resident.as_mut().map(|r| (r, &e.source)))
    }

    fn make_resident<E>(&mut self, id: EntryId, import: impl FnOnce(&S) -> Result<R, E>) -> Result<(), E> {
        let Some(entry) = self.entries.get_mut(&id) else {
            return Ok(());
        };
        if entry.resident.is_none() {
            entry.resident = Some(import(&entry.source)?);
            self.imported_bytes += entry.bytes;
            self.stats.reimports_total += 1;
        }
        self.touch(id);
        Ok(())
    }

    /// The live entry for `key`, if any (its users may all be gone).
    pub fn id_of(&self, key: &K) -> Option<EntryId> {
        self.by_key.get(key).copied()
    }

    /// The entry's source, to point it at newer contents (a surface's shm
    /// upload follows the surface's current buffer).
    pub fn source_mut(&mut self, id: EntryId) -> Option<&mut S> {
        self.entries.get_mut(&id).map(|e| &mut e.source)
    }

    /// Forget `id` now (its resident import is dropped on return): the
    /// entry no longer describes what its key names (a surface's buffer
    /// changed size).
    pub fn remove(&mut self, id: EntryId) {
        drop(self.unlink(id));
    }

    /// Move `id` to the young end of the LRU.
    fn touch(&mut self, id: EntryId) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        // Only unlink the entry's own slot: an entry that is new or was
        // evicted has a stale tick that names nothing (or, for a new one,
        // tick 0, which is another entry's).
        if self.lru.get(&entry.tick) == Some(&id) {
            self.lru.remove(&entry.tick);
        }
        entry.tick = self.next_tick;
        self.next_tick += 1;
        self.lru.insert(entry.tick, id);
    }

    /// Remove `id` from every index; the caller drops what comes back, after
    /// its own borrows end.
    fn unlink(&mut self, id: EntryId) -> Option<Entry<K, U, S, R>> {
        let entry = self.entries.remove(&id)?;
        if self.by_key.get(&entry.key) == Some(&id) {
            self.by_key.remove(&entry.key);
        }
        if entry.resident.is_some() {
            self.lru.remove(&entry.tick);
            self.imported_bytes -= entry.bytes;
        }
        Some(entry)
    }

    /// Replace the pinned set of one pin source: the entries an output shows
    /// now, or the one a waiting commit will show.
    pub fn set_pins(&mut self, source: &PinSource, ids: Vec<EntryId>) {
        if ids.is_empty() {
            self.pins.remove(source);
        } else {
            self.pins.insert(source.clone(), ids);
        }
    }

    /// A pin source is gone (an output unplugged, a fence signalled or its
    /// surface dead): drop its pins and enforce the budget, since no frame
    /// of it will.
    pub fn unpin(&mut self, source: &PinSource) {
        self.pins.remove(source);
        self.enforce_budget();
    }

    pub fn is_pinned(&self, id: EntryId) -> bool {
        self.pins.values().any(|ids| ids.contains(&id))
    }

    /// Drop entries with no user left. Runs after every frame.
    pub fn cleanup(&mut self) {
        let dead: Vec<EntryId> = self
            .entries
            .iter_mut()
            .filter_map(|(&id, e)| (!e.has_users()).then_some(id))
            .collect();
        let unlinked: Vec<_> = dead.into_iter().filter_map(|id| self.unlink(id)).collect();
        drop(unlinked);
    }

    /// Evict down to the low-water mark if over budget.
    pub fn enforce_budget(&mut self) {
        self.enforce_budget_except(None);
    }

    fn enforce_budget_except(&mut self, except: Option<EntryId>) {
        if self.imported_bytes > self.budget.budget {
            self.evict_to(self.budget.low_water, except);
        }
    }

    /// Memory pressure: drop every import that is not pinned.
    pub fn pressure(&mut self) -> u64 {
        self.stats.pressure_events_total += 1;
        self.evict_to(0, None)
    }

    /// Drop every import that is not pinned (`quay msg evict`).
    pub fn evict_all(&mut self) -> u64 {
        self.evict_to(0, None)
    }

    /// The scan: oldest first until `imported_bytes <= target`. Returns the
    /// bytes evicted.
    pub fn evict_to(&mut self, target: u64, except: Option<EntryId>) -> u64 {
        let mut reaped = Vec::new();
        let mut evicted = Vec::new();
        let mut freed = 0;
        let order: Vec<EntryId> = self.lru.values().copied().collect();
        for id in order {
            if self.imported_bytes <= target {
                break;
            }
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            if !entry.has_users() {
                // Owner dying: unlink now, under the scan, and skip.
                reaped.extend(self.unlink(id));
                continue;
            }
            if Some(id) == except || self.pins.values().any(|ids| ids.contains(&id)) {
                continue;
            }
            let Some(resident) = entry.resident.take() else {
                continue;
            };
            self.lru.remove(&entry.tick);
            self.imported_bytes -= entry.bytes;
            freed += entry.bytes;
            self.stats.evictions_total += 1;
            self.stats.evicted_bytes_total += entry.bytes;
            evicted.push(resident);
        }
        // The drops happen here, after the walk.
        drop(evicted);
        drop(reaped);
        freed
    }

    pub fn stats(&self) -> CacheStats {
        let pinned_bytes = self
            .entries
            .iter()
            .filter(|(id, e)| e.resident.is_some() && self.is_pinned(**id))
            .map(|(_, e)| e.bytes)
            .sum();
        CacheStats {
            dmabufs_live: self.entries.len() as u64,
            imported_bytes: self.imported_bytes,
            pinned_bytes,
            budget_bytes: self.budget.budget,
            ..self.stats
        }
    }

    /// How many live entries have a key `pred` accepts.
    pub fn count_keys(&self, pred: impl Fn(&K) -> bool) -> u64 {
        self.by_key.keys().filter(|k| pred(k)).count() as u64
    }

    /// Whether `id` names a live entry.
    pub fn contains(&self, id: EntryId) -> bool {
        self.entries.contains_key(&id)
    }

    /// Whether `id` is live and resident.
    pub fn is_resident(&self, id: EntryId) -> bool {
        self.entries.get(&id).is_some_and(|e| e.resident.is_some())
    }

    /// Check every internal invariant; for tests and debug assertions.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.by_key.len() != self.entries.len() {
            return Err(format!(
                "{} keys for {} entries",
                self.by_key.len(),
                self.entries.len()
            ));
        }
        for (key, id) in &self.by_key {
            match self.entries.get(id) {
                Some(e) if &e.key == key => {}
                _ => return Err(format!("key index points at a wrong entry {id:?}")),
            }
        }
        let resident: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, e)| e.resident.is_some())
            .collect();
        if resident.len() != self.lru.len() {
            return Err(format!(
                "{} resident entries, {} in the LRU",
                resident.len(),
                self.lru.len()
            ));
        }
        for (id, e) in &resident {
            if self.lru.get(&e.tick) != Some(id) {
                return Err(format!("resident {id:?} not at its LRU tick"));
            }
        }
        let bytes: u64 = resident.iter().map(|(_, e)| e.bytes).sum();
        if bytes != self.imported_bytes {
            return Err(format!(
                "imported_bytes {} but resident sum {bytes}",
                self.imported_bytes
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The property test of issue #6: random import / draw / destroy /
    //! pressure / disconnect sequences against the real cache type.

    use std::{
        cell::RefCell,
        collections::HashSet,
        rc::{Rc, Weak},
    };

    use proptest::prelude::*;

    use super::*;

    /// A user: a `wl_buffer` of some client on some dma-buf.
    struct TestUser(Weak<()>);
    impl User for TestUser {
        fn is_gone(&self) -> bool {
            self.0.upgrade().is_none()
        }
    }

    /// A resident import that reports its drop, so the test sees exactly
    /// which entries were evicted and can count what is alive.
    struct Resident {
        key: u8,
        log: Rc<RefCell<Vec<u8>>>,
        alive: Rc<RefCell<i64>>,
    }
    impl Drop for Resident {
        fn drop(&mut self) {
            self.log.borrow_mut().push(self.key);
            *self.alive.borrow_mut() -= 1;
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Client `c` creates a wl_buffer on dma-buf `k` (import).
        Import { c: u8, k: u8 },
        /// Draw what output `o` shows: dma-bufs `ks`, then pin them.
        Draw { o: u8, ks: Vec<u8> },
        /// Destroy one wl_buffer.
        Destroy { idx: usize },
        /// Memory pressure.
        Pressure,
        /// Client `c` disconnects: all its wl_buffers go.
        Disconnect { c: u8 },
        /// An output goes away (its pins go).
        Unplug { o: u8 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..3, 0u8..12).prop_map(|(c, k)| Op::Import { c, k }),
            3 => (0u8..2, proptest::collection::vec(0u8..12, 0..4)).prop_map(|(o, ks)| Op::Draw { o, ks }),
            2 => (0usize..64).prop_map(|idx| Op::Destroy { idx }),
            1 => Just(Op::Pressure),
            1 => (0u8..3).prop_map(|c| Op::Disconnect { c }),
            1 => (0u8..2).prop_map(|o| Op::Unplug { o }),
        ]
    }

    fn bytes_of(k: u8) -> u64 {
        (u64::from(k) + 1) * 1000
    }

    struct Model {
        cache: ImportCache<u8, TestUser, u8, Resident>,
        /// Live wl_buffers: (client, key, strong owner).
        buffers: Vec<(u8, u8, Rc<()>)>,
        /// What each output was told it shows.
        drawn: HashMap<u8, Vec<EntryId>>,
        ids: HashMap<u8, EntryId>,
        log: Rc<RefCell<Vec<u8>>>,
        alive: Rc<RefCell<i64>>,
    }

    impl Model {
        fn import(&mut self, k: u8, owner: &Rc<()>) -> EntryId {
            let (log, alive) = (self.log.clone(), self.alive.clone());
            let me = Rc::downgrade(owner);
            let (id, _) = self
                .cache
                .insert_or_get(
                    k,
                    TestUser(Rc::downgrade(owner)),
                    |u| Weak::ptr_eq(&u.0, &me),
                    bytes_of(k),
                    || Ok::<_, ()>(k),
                    |&src| {
                        *alive.borrow_mut() += 1;
                        Ok(Resident { key: src, log, alive })
                    },
                )
                .expect("test imports do not fail");
            self.ids.insert(k, id);
            id
        }
    }

    fn run(ops: Vec<Op>, budget: u64) -> Result<(), TestCaseError> {
        let mut m = Model {
            cache: ImportCache::new(Budget::new(budget, 50)),
            buffers: Vec::new(),
            drawn: HashMap::new(),
            ids: HashMap::new(),
            log: Rc::default(),
            alive: Rc::default(),
        };
        // The entry an import just returned may stay over budget until the
        // next frame (Draw) or pressure enforces it again: it is about to be
        // drawn.
        let mut except: Option<u8> = None;
        for op in ops {
            m.log.borrow_mut().clear();
            match op {
                Op::Import { c, k } => {
                    let owner = Rc::new(());
                    let id = m.import(k, &owner);
                    except = Some(k);
                    prop_assert!(m.cache.is_resident(id), "a just-imported entry is resident");
                    m.buffers.push((c, k, owner));
                }
                Op::Draw { o, ks } => {
                    except = None;
                    let mut shown = Vec::new();
                    for k in ks {
                        // Only a dma-buf some wl_buffer still uses can be drawn.
                        let Some(id) = m.ids.get(&k).copied().filter(|id| m.cache.contains(*id)) else {
                            continue;
                        };
                        let (log, alive) = (m.log.clone(), m.alive.clone());
                        let got = m
                            .cache
                            .resident(id, |&src| {
                                *alive.borrow_mut() += 1;
                                Ok::<_, ()>(Resident { key: src, log, alive })
                            })
                            .expect("test imports do not fail");
                        prop_assert!(got.is_some(), "a live entry draws");
                        shown.push(id);
                    }
                    m.cache.set_pins(&PinSource::Output(o.to_string()), shown.clone());
                    m.drawn.insert(o, shown);
                    m.cache.cleanup();
                    m.cache.enforce_budget();
                }
                Op::Destroy { idx } => {
                    if !m.buffers.is_empty() {
                        let i = idx % m.buffers.len();
                        m.buffers.swap_remove(i);
                    }
                }
                Op::Pressure => {
                    except = None;
                    m.cache.pressure();
                }
                Op::Disconnect { c } => {
                    m.buffers.retain(|(bc, _, _)| *bc != c);
                }
                Op::Unplug { o } => {
                    m.cache.unpin(&PinSource::Output(o.to_string()));
                    m.drawn.remove(&o);
                }
            }
            m.cache.check_invariants().map_err(TestCaseError::fail)?;
            // Pins only change in Draw and Unplug, before any eviction they
            // cause, so the pins now are the pins the scan saw.
            let pinned: HashSet<u8> = m
                .drawn
                .values()
                .flatten()
                .filter_map(|id| m.ids.iter().find(|(_, v)| *v == id).map(|(k, _)| *k))
                .collect();
            // No pinned entry was evicted: every drop this step is of a
            // dma-buf that was not pinned, or whose last user is gone.
            for k in m.log.borrow().iter() {
                let still_used = m.buffers.iter().any(|(_, bk, _)| bk == k);
                prop_assert!(
                    !(pinned.contains(k) && still_used),
                    "pinned and still used dma-buf {k} was evicted"
                );
            }
            // Over budget only by what is pinned, just imported or dying.
            let stats = m.cache.stats();
            let except_bytes = except
                .filter(|k| {
                    m.ids
                        .get(k)
                        .is_some_and(|id| m.cache.is_resident(*id) && !m.cache.is_pinned(*id))
                })
                .map_or(0, bytes_of);
            let reapable: u64 = m
                .ids
                .iter()
                .filter(|(k, id)| m.cache.is_resident(**id) && !m.buffers.iter().any(|(_, bk, _)| bk == *k))
                .map(|(k, _)| bytes_of(*k))
                .sum();
            prop_assert!(
                stats.imported_bytes <= budget + stats.pinned_bytes + except_bytes + reapable,
                "imported {} > budget {} + pinned {} + just imported {} + dying {}",
                stats.imported_bytes,
                budget,
                stats.pinned_bytes,
                except_bytes,
                reapable
            );
            // One owner per live import: every live entry has a distinct
            // key with at least one live wl_buffer after cleanup.
            prop_assert_eq!(*m.alive.borrow() as usize, m.cache.lru.len());
        }
        // The end: every wl_buffer goes; nothing may be left.
        m.buffers.clear();
        m.cache.cleanup();
        prop_assert_eq!(m.cache.stats().dmabufs_live, 0);
        prop_assert_eq!(m.cache.stats().imported_bytes, 0);
        prop_assert_eq!(*m.alive.borrow(), 0, "a resident import leaked");
        m.cache.check_invariants().map_err(TestCaseError::fail)?;
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn lru_invariants(ops in proptest::collection::vec(op(), 1..80), budget in 0u64..20_000) {
            run(ops, budget)?;
        }
    }

    #[test]
    fn hit_then_evict_then_reimport() {
        let alive = Rc::new(RefCell::new(0));
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut cache: ImportCache<u8, TestUser, u8, Resident> = ImportCache::new(Budget::new(1 << 20, 75));
        let a = Rc::new(());
        let b = Rc::new(());
        let mk = |k: u8| {
            let (log, alive) = (log.clone(), alive.clone());
            move |_: &u8| {
                *alive.borrow_mut() += 1;
                Ok::<_, ()>(Resident { key: k, log, alive })
            }
        };
        let (ida, o1) = cache
            .insert_or_get(7, TestUser(Rc::downgrade(&a)), |_| false, 10, || Ok(7), mk(7))
            .unwrap();
        let (idb, o2) = cache
            .insert_or_get(7, TestUser(Rc::downgrade(&b)), |_| false, 10, || Ok(7), mk(7))
            .unwrap();
        assert_eq!((o1, o2), (Outcome::Imported, Outcome::Hit));
        assert_eq!(ida, idb, "two wl_buffers, one dma-buf, one entry");
        assert_eq!(cache.evict_all(), 10);
        assert_eq!(*alive.borrow(), 0);
        assert!(cache.resident(ida, mk(7)).unwrap().is_some());
        let s = cache.stats();
        assert_eq!(
            (s.imports_total, s.import_cache_hits, s.reimports_total),
            (1, 1, 1)
        );
        assert_eq!((s.evictions_total, s.imported_bytes), (1, 10));
        // First user gone: the entry lives on for the second.
        drop(a);
        cache.cleanup();
        assert!(cache.contains(ida));
        drop(b);
        cache.cleanup();
        assert!(!cache.contains(ida));
        assert_eq!(*alive.borrow(), 0);
        // Re-import after all handles are gone: a fresh entry, never the old id.
        let c = Rc::new(());
        let (idc, o3) = cache
            .insert_or_get(7, TestUser(Rc::downgrade(&c)), |_| false, 10, || Ok(7), mk(7))
            .unwrap();
        assert_eq!(o3, Outcome::Imported);
        assert_ne!(idc, ida);
    }

    /// The scan-versus-release race list, as it applies to a single-threaded cache (an
    /// import is synchronous, so "during an import" means "between two calls
    /// on the loop"): the last wl_buffer of a dma-buf goes, and the same
    /// dma-buf is imported for another wl_buffer before any cleanup ran.
    /// The dying entry is unlinked and a fresh one made: the new user never
    /// inherits an entry whose owner died, and nothing leaks.
    #[test]
    fn last_user_gone_then_same_dmabuf_imported_again_before_cleanup() {
        let alive = Rc::new(RefCell::new(0));
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut cache: ImportCache<u8, TestUser, u8, Resident> = ImportCache::new(Budget::new(1 << 20, 75));
        let mk = || {
            let (log, alive) = (log.clone(), alive.clone());
            move |_: &u8| {
                *alive.borrow_mut() += 1;
                Ok::<_, ()>(Resident { key: 3, log, alive })
            }
        };
        let first = Rc::new(());
        let (old, _) = cache
            .insert_or_get(3, TestUser(Rc::downgrade(&first)), |_| false, 10, || Ok(3), mk())
            .unwrap();
        drop(first); // the client destroys its last wl_buffer on it
        let second = Rc::new(());
        let (new, outcome) = cache
            .insert_or_get(3, TestUser(Rc::downgrade(&second)), |_| false, 10, || Ok(3), mk())
            .unwrap();
        assert_eq!(outcome, Outcome::Imported, "no hit on a dying entry");
        assert_ne!(new, old);
        assert!(!cache.contains(old));
        assert_eq!(
            *alive.borrow(),
            1,
            "the old import was dropped, the new one is alive"
        );
        assert_eq!(cache.stats().imported_bytes, 10);
        cache.check_invariants().unwrap();
        // A client disconnect takes the second user: cleanup leaves nothing.
        drop(second);
        cache.cleanup();
        assert_eq!((cache.stats().dmabufs_live, *alive.borrow()), (0, 0));
    }

    #[test]
    fn pinned_survives_pressure_and_dying_is_reaped_not_evicted() {
        let alive = Rc::new(RefCell::new(0));
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut cache: ImportCache<u8, TestUser, u8, Resident> = ImportCache::new(Budget::new(1 << 20, 75));
        let owners: Vec<Rc<()>> = (0..3).map(|_| Rc::new(())).collect();
        let mut ids = Vec::new();
        for (k, o) in owners.iter().enumerate() {
            let (log, alive) = (log.clone(), alive.clone());
            let k = k as u8;
            let (id, _) = cache
                .insert_or_get(
                    k,
                    TestUser(Rc::downgrade(o)),
                    |_| false,
                    100,
                    || Ok(k),
                    move |_| {
                        *alive.borrow_mut() += 1;
                        Ok::<_, ()>(Resident { key: k, log, alive })
                    },
                )
                .unwrap();
            ids.push(id);
        }
        cache.set_pins(&PinSource::Output("OUT-1".into()), vec![ids[1]]);
        // Entry 2's owner starts dying before the scan reaches it.
        let mut owners = owners;
        owners.pop();
        assert_eq!(cache.pressure(), 100, "only entry 0 is evicted");
        assert!(cache.is_resident(ids[1]), "pinned survives");
        assert!(!cache.contains(ids[2]), "dying entry unlinked by the scan");
        let s = cache.stats();
        assert_eq!(
            (s.evictions_total, s.pressure_events_total, s.pinned_bytes),
            (1, 1, 100)
        );
        assert_eq!(*alive.borrow(), 1);
    }
}
