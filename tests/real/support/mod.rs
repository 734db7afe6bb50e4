//! Support for the real-server suite: the shared servers ([`servers`]), a fresh GitOps repo with
//! its own Argo CD Applications and kubelet per test ([`argo`]), a fresh Gitea repo per test
//! ([`gitea`]), and running the binary the way a user does.

#![allow(
    dead_code,
    reason = "each test module uses a different part of the support module"
)]

pub mod argo;
pub mod gitea;
pub mod servers;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The binary under test (built with `--features test-hooks` by `scripts/test-real.sh`, so the
/// kill test has its pause points; without a pause point named, it runs like a release build).
pub const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");

/// What a run of the binary printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }
    /// Panics with both streams unless the exit code is `code`.
    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A name no other test of this run uses (DNS-1123: apps, namespaces, projects, Gitea repos).
pub fn unique(slug: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{slug}-{}", N.fetch_add(1, Ordering::SeqCst) + 1)
}

/// The time policies see: the next Tuesday 10:00 UTC outside the example's year-end freeze, as
/// `scripts/sandbox.sh` pins it (testbed finding P1: the example's change window denies prod on
/// Friday afternoons, so the wall clock would make the suite fail on Fridays).
pub fn pinned_now() -> &'static str {
    static NOW: OnceLock<String> = OnceLock::new();
    NOW.get_or_init(|| {
        let script = r#"
            now=$(date -u -d 'next tuesday 10:00' +%s)
            while case "$(date -u -d "@$now" +%m-%d)" in 12-2[1-9]|12-3[01]|01-0[1-3]) true ;; *) false ;; esac; do
              now=$((now + 7 * 86400))
            done
            date -u -d "@$now" +%Y-%m-%dT%H:%M:%SZ
        "#;
        let out = std::process::Command::new("bash")
            .args(["-c", script])
            .output()
            .expect("date");
        assert!(out.status.success(), "date failed");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    })
}

/// Polls `check` every 300 ms until it gives `Some`, or panics after `within` with `what` and
/// the last state `describe` reports.
#[track_caller]
pub fn wait_for<T>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "waited {within:?} for {what}; last state: {}",
            describe()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
