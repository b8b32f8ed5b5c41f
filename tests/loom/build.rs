#![allow(clippy::disallowed_macros)] // build scripts talk to cargo through stdout
                                     // Compile src/sync/registry.rs against loom's Mutex, Arc and atomics.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(quay_loom)");
    println!("cargo::rustc-cfg=quay_loom");
}
