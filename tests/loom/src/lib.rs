//! Quay's fence registry, compiled against loom (`cfg(quay_loom)`), so
//! `tests/model.rs` can explore every interleaving of concurrent
//! register / set-deadline / signal / destroy calls.

#[path = "../../../src/sync/registry.rs"]
pub mod registry;
