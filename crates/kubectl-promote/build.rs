//! Link the `kubectl-promote` binary as a position-dependent executable on Linux with glibc.
//!
//! Every command starts a fresh process, so start-up is paid on each `kubectl promote …`. As a
//! PIE, the ~48 MB release binary carries ~79,000 relative relocations that the dynamic loader
//! applies on every start, dirtying ~450 pages of `.data.rel.ro` (copy-on-write faults): about
//! 1.3 ms of a 3.3 ms `version` (docs/performance.md, start-up). Linked without PIE those
//! addresses are fixed at link time. This is what Go does for kubectl itself (`buildmode=exe`);
//! the trade-off is that the executable's own image is not address-randomised (libraries,
//! heap, stacks and the wasm sandboxes still are).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
