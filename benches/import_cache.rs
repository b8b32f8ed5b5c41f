//! Import-cache benchmarks (issues #4 and #6), printing numbers:
//!
//! 1. **Per-commit cost** at 10, 1,000 and 10,000 live entries: what a
//!    commit that attaches an already-imported dma-buf costs in the cache,
//!    i.e. `DmabufIdentity::of` (one `fstat` per plane) plus
//!    `ImportCache::insert_or_get` (hash lookup, user check, LRU touch).
//! 2. **Steady state**: a client cycling N buffers for 1,000 frames does N
//!    imports and none after.
//! 3. **Eviction of a full budget**: the default 512 MiB of resident
//!    imports, every page faulted in as a draw would, dropped by one
//!    `evict_all` (munmap included), against a 16.7 ms frame interval.
//!
//! The dma-bufs are memfds wrapped in smithay `Dmabuf`s: the host has no
//! dma-buf exporter, and for the cache's costs (fstat, hashing, mmap and
//! munmap of shared memory) a memfd behaves like a dma-buf. What it cannot
//! show is a driver's own mmap cost; the VM suite's cases use real dma-bufs.
//!
//!     cargo bench --bench import_cache
#![allow(clippy::disallowed_macros)] // prints its numbers

use std::{
    hint::black_box,
    os::fd::OwnedFd,
    time::{Duration, Instant},
};

use quay::buffer::{
    cache::{Budget, ImportCache},
    identity::DmabufIdentity,
    reaper::{self, OffThreadDrop},
};
use smithay::backend::allocator::{
    dmabuf::{Dmabuf, DmabufFlags, DmabufMapping, DmabufMappingMode, WeakDmabuf},
    Buffer, Fourcc, Modifier,
};

/// Resident imports hold their mapping the way `QuayRenderer`'s do: in an
/// `OffThreadDrop`, unmapped by the reaper thread.
type Cache = ImportCache<DmabufIdentity, WeakDmabuf, Dmabuf, OffThreadDrop<DmabufMapping>>;

fn memfd_dmabuf(w: i32, h: i32) -> Dmabuf {
    let fd: OwnedFd = rustix::fs::memfd_create("quay-bench", rustix::fs::MemfdFlags::CLOEXEC).expect("memfd");
    rustix::fs::ftruncate(&fd, (w * h * 4) as u64).expect("ftruncate");
    let mut b = Dmabuf::builder((w, h), Fourcc::Xrgb8888, Modifier::Linear, DmabufFlags::empty());
    b.add_plane(fd, 0, 0, (w * 4) as u32);
    b.build().expect("one plane")
}

fn dup(d: &Dmabuf) -> Result<Dmabuf, String> {
    let mut b = Dmabuf::builder(
        d.size(),
        d.format().code,
        d.format().modifier,
        DmabufFlags::empty(),
    );
    for (i, fd) in d.handles().enumerate() {
        b.add_plane(
            fd.try_clone_to_owned().map_err(|e| e.to_string())?,
            i as u32,
            0,
            d.strides().next().unwrap_or(0),
        );
    }
    b.build().ok_or_else(|| "no planes".to_string())
}

fn map(d: &Dmabuf) -> Result<OffThreadDrop<DmabufMapping>, String> {
    d.map_plane(0, DmabufMappingMode::READ)
        .map(OffThreadDrop::new)
        .map_err(|e| format!("{e:?}"))
}

/// One commit of a buffer: the cache's part of `QuayRenderer::import_dmabuf`.
fn commit(cache: &mut Cache, d: &Dmabuf) -> quay::buffer::cache::EntryId {
    commit_with(cache, d, dup)
}

/// The same, with the entry's source made by `source` (the 10,000-entry run
/// shares the user's fd instead of dup'ing it: the machine's fd limit is
/// 20,000, and the source is made once per import, never per commit).
fn commit_with(
    cache: &mut Cache,
    d: &Dmabuf,
    source: fn(&Dmabuf) -> Result<Dmabuf, String>,
) -> quay::buffer::cache::EntryId {
    let id = DmabufIdentity::of(d).expect("fstat");
    let bytes = u64::from(d.strides().next().unwrap_or(0)) * d.size().h as u64;
    let r = cache.insert_or_get(
        id,
        d.weak(),
        |u| u.upgrade().as_ref() == Some(d),
        bytes,
        || source(d),
        map,
    );
    black_box(r.expect("import")).0
}

/// (a) one client cycling 3 buffers while `live` entries exist; (b) commits
/// spread over all `live` entries (every lookup a different entry); (c) (b)
/// without the fstat.
fn per_commit(live: usize) -> (Duration, Duration, Duration) {
    let mut cache = Cache::new(Budget::new(u64::MAX, 75));
    let bufs: Vec<Dmabuf> = (0..live).map(|_| memfd_dmabuf(64, 64)).collect();
    for b in &bufs {
        commit_with(&mut cache, b, |d| Ok(d.clone()));
    }
    assert_eq!(cache.stats().dmabufs_live as usize, live);
    let rounds = 200_000;
    let t = Instant::now();
    for i in 0..rounds {
        commit(&mut cache, &bufs[i % 3]);
    }
    let hot = t.elapsed() / rounds as u32;
    // Commits spread over every live buffer: no lookup is warm in the CPU
    // cache by accident of hitting the same entry.
    let t = Instant::now();
    for i in 0..rounds {
        commit(&mut cache, &bufs[(i * 7919) % live]);
    }
    let with_fstat = t.elapsed() / rounds as u32;
    // The cache alone, identity precomputed.
    let ids: Vec<DmabufIdentity> = bufs
        .iter()
        .map(|b| DmabufIdentity::of(b).expect("fstat"))
        .collect();
    let t = Instant::now();
    for i in 0..rounds {
        let k = (i * 7919) % live;
        let d = &bufs[k];
        let r = cache.insert_or_get(
            ids[k].clone(),
            d.weak(),
            |u| u.upgrade().as_ref() == Some(d),
            0,
            || dup(d),
            map,
        );
        black_box(r.expect("hit"));
    }
    let cache_only = t.elapsed() / rounds as u32;
    assert_eq!(
        cache.stats().imports_total as usize,
        live,
        "no re-import in steady state"
    );
    (hot, with_fstat, cache_only)
}

fn steady_state(n: usize, frames: usize) -> (u64, u64) {
    let mut cache = Cache::new(Budget::new(512 << 20, 75));
    let bufs: Vec<Dmabuf> = (0..n).map(|_| memfd_dmabuf(256, 256)).collect();
    let mut after_first_cycle = 0;
    for f in 0..frames {
        commit(&mut cache, &bufs[f % n]);
        if f + 1 == n {
            after_first_cycle = cache.stats().imports_total;
        }
    }
    (after_first_cycle, cache.stats().imports_total - after_first_cycle)
}

fn evict_full_budget(w: i32, h: i32, fault: bool) -> (usize, u64, Duration, Duration) {
    let budget = 512u64 << 20;
    let mut cache = Cache::new(Budget::new(budget, 75));
    let each = (w * h * 4) as u64;
    let n = (budget / each) as usize;
    let bufs: Vec<Dmabuf> = (0..n).map(|_| memfd_dmabuf(w, h)).collect();
    let mut sum = 0u64;
    for b in &bufs {
        let id = commit(&mut cache, b);
        // Fault every page of the cache's own mapping in, as a draw would.
        let (m, _) = cache.resident(id, map).expect("map").expect("live");
        let m = m.get();
        if fault {
            // SAFETY: the mapping is `each` bytes long and lives while we read.
            let bytes = unsafe { std::slice::from_raw_parts(m.ptr() as *const u8, each as usize) };
            sum += bytes.iter().step_by(4096).map(|&x| u64::from(x)).sum::<u64>();
        }
    }
    black_box(sum);
    assert_eq!(cache.stats().imported_bytes, n as u64 * each);
    reaper::flush();
    let t = Instant::now();
    let freed = cache.evict_all();
    let on_loop = t.elapsed();
    reaper::flush();
    let unmapped = t.elapsed();
    assert_eq!(freed, n as u64 * each);
    assert_eq!(cache.stats().imported_bytes, 0);
    (n, freed, on_loop, unmapped)
}

fn main() {
    println!("== per-commit cost of an already-imported dma-buf (200,000 commits, memfd dma-bufs)");
    println!("   client cycling 3 buffers among N live | commits spread over all N | same, no fstat");
    println!(
        "{:>14} {:>18} {:>18} {:>18}",
        "live entries", "3 hot (ns)", "spread (ns)", "spread, cache (ns)"
    );
    for live in [10, 1_000, 10_000] {
        let (a, b, c) = per_commit(live);
        println!(
            "{live:>14} {:>18} {:>18} {:>18}",
            a.as_nanos(),
            b.as_nanos(),
            c.as_nanos()
        );
    }
    println!();
    println!("== steady state: N buffers cycled for 1,000 frames");
    for n in [2, 3, 8] {
        let (first, after) = steady_state(n, 1000);
        println!("N = {n}: {first} imports in the first cycle, {after} after");
        assert_eq!((first, after), (n as u64, 0));
    }
    println!();
    println!("== evict a full 512 MiB budget with one evict_all (frame interval at 60 Hz: 16.667 ms)");
    println!("   loop thread: the scan and unlinking; unmapped: until the reaper thread has munmapped all");
    for fault in [true, false] {
        for (w, h) in [(3840, 2160), (1920, 1080), (512, 512)] {
            let (n, freed, on_loop, unmapped) = evict_full_budget(w, h, fault);
            println!(
                "{w}x{h} XRGB, pages {}: {n} imports, {} MiB: loop thread {:.3} ms, unmapped after {:.3} ms",
                if fault { "faulted in" } else { "untouched" },
                freed >> 20,
                on_loop.as_secs_f64() * 1000.0,
                unmapped.as_secs_f64() * 1000.0
            );
        }
    }
}
