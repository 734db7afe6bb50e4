//! What bounds one call of a policy, for WASI commands and Rego modules alike: the [`Limits`]
//! (fuel, wall time, memory), what a module's `resources` may raise them to, the store's
//! `StoreLimits` with a note of refused memory growth ([`Limiter`]), arming a store with fuel
//! and an epoch deadline ([`arm`]), the thread that drives that deadline ([`Ticker`]), and the
//! errors a call that hit a limit gets.
//!
//! A leaf: the host and the Rego path both build on it, and it knows neither.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use promote_policy_sdk::Resources;
use wasmtime::{Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder};

use crate::error::{LoadError, PolicyError};

/// Epoch tick: the deadline's resolution.
pub(crate) const TICK: Duration = Duration::from_millis(10);
pub(crate) const MIB: u64 = 1 << 20;
/// The most table elements a store may have (its `StoreLimits`), so also a pool slot's size.
pub(crate) const TABLE_ELEMENTS: usize = 1 << 20;
/// Tables a store may have.
const TABLES: usize = 8;

/// Resource limits of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel units (roughly one per wasm instruction).
    pub fuel: u64,
    /// Wall time.
    pub timeout: Duration,
    /// Linear memory, bytes.
    pub memory_bytes: u64,
}

impl Limits {
    /// The contract's defaults: 1e9 fuel, 2 s, 128 MiB.
    ///
    /// Fuel is calibrated on Go, the heaviest common guest (the spec asks that Go's runtime
    /// start fit). Measured on `examples/policies/go/qa-approved` (Go 1.26, wasmtime 48; see
    /// `benches/evaluate.rs` and docs/policies.md, "What Go costs"): a bare Go `main` costs
    /// 1.5 M fuel per call, the Go qa policy 8.6 M on a 2 KB request (the Rust built-in:
    /// 0.16 M), and Go's `encoding/json` adds about 800 fuel per request byte (serde: about
    /// 90). So 1e9 is over 100× what a Go policy needs on a typical request and covers requests
    /// up to about 1 MB (12 images with 1000 approval records, 740 KB: 0.6e9); a larger budget
    /// would only run into the 2 s deadline instead, as 1e9 fuel of Go takes about 1 s. Go needs
    /// 4 MiB of the 128 MiB. Policies that expect huge requests ask for more in `resources`.
    pub const DEFAULT: Self = Self {
        fuel: 1_000_000_000,
        timeout: Duration::from_secs(2),
        memory_bytes: 128 * MIB,
    };

    /// The default host maximum a module's `resources` may ask for: 1e10 fuel, 10 s, 1 GiB.
    pub const MAXIMUM: Self = Self {
        fuel: 10_000_000_000,
        timeout: Duration::from_secs(10),
        memory_bytes: 1024 * MIB,
    };

    /// These limits raised (or lowered) to what a module's metadata asks for, each no higher
    /// than `maximum`; `origin` names the module in the error.
    pub(crate) fn asked(
        self,
        asked: Option<Resources>,
        maximum: Limits,
        origin: &str,
    ) -> Result<Limits, LoadError> {
        let mut limits = self;
        let Some(r) = asked else { return Ok(limits) };
        let too_much = |what: &str, asked: String, max: String| LoadError::Metadata {
            origin: origin.to_owned(),
            place: "resources".into(),
            message: format!("asks for {asked} {what}; the host maximum is {max}"),
        };
        if let Some(f) = r.fuel {
            if f > maximum.fuel {
                return Err(too_much("fuel", f.to_string(), maximum.fuel.to_string()));
            }
            limits.fuel = f;
        }
        if let Some(ms) = r.timeout_ms {
            let t = Duration::from_millis(ms);
            if t > maximum.timeout {
                let max = maximum.timeout.as_millis().to_string();
                return Err(too_much("ms", ms.to_string(), max));
            }
            limits.timeout = t;
        }
        if let Some(mib) = r.memory_mib {
            let bytes = mib.saturating_mul(MIB);
            if bytes > maximum.memory_bytes {
                let max = (maximum.memory_bytes / MIB).to_string();
                return Err(too_much("MiB", mib.to_string(), max));
            }
            limits.memory_bytes = bytes;
        }
        Ok(limits)
    }

    /// The error of a call that ran out of fuel.
    pub(crate) fn out_of_fuel(&self) -> PolicyError {
        PolicyError::OutOfFuel { limit: self.fuel }
    }

    /// The error of a call interrupted at its deadline.
    pub(crate) fn timed_out(&self) -> PolicyError {
        PolicyError::TimedOut {
            ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The error of a call refused `wanted` bytes of memory.
    pub(crate) fn memory_exceeded(&self, wanted: u64) -> PolicyError {
        PolicyError::MemoryLimit {
            limit_mib: self.memory_bytes / MIB,
            wanted,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// `StoreLimits` plus a note of the first refused memory growth, so a failure after it is
/// reported as what it is.
pub(crate) struct Limiter {
    inner: StoreLimits,
    memory_limit: u64,
    /// The size of the first memory growth refused for being over the limit.
    pub(crate) refused: Option<u64>,
}

impl Limiter {
    /// The limits of a store that may hold `instances` instances and as many memories (a WASI
    /// command: one of each; a Rego module: also the `env.memory` the host makes for it).
    pub(crate) fn new(limits: Limits, instances: usize) -> Self {
        let memory_limit = usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX);
        Limiter {
            inner: StoreLimitsBuilder::new()
                .memory_size(memory_limit)
                .table_elements(TABLE_ELEMENTS)
                .instances(instances)
                .tables(TABLES)
                .memories(instances)
                .build(),
            memory_limit: limits.memory_bytes,
            refused: None,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.inner.memory_growing(current, desired, maximum)?;
        if !ok && self.refused.is_none() && desired as u64 > self.memory_limit {
            self.refused = Some(desired as u64);
        }
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// Gives a fresh store its fuel and its epoch deadline (a trap when it passes). The caller has
/// made the store's [`Limiter`] its resource limiter.
pub(crate) fn arm<T>(store: &mut Store<T>, limits: Limits) -> wasmtime::Result<()> {
    store.set_fuel(limits.fuel)?;
    let ticks = limits.timeout.as_millis().div_ceil(TICK.as_millis()) + 1;
    store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
    store.epoch_deadline_trap();
    Ok(())
}

/// Increments the engine epoch every [`TICK`] until dropped.
pub(crate) struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    pub(crate) fn start(engine: Engine) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("promote-policy-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                    engine.increment_epoch();
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
