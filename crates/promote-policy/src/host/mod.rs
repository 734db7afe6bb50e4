//! The sandbox: one wasmtime engine with fuel and epoch interruption, a WASI preview1 linker,
//! and a fresh `Store` per call from the module's `InstancePre`.
//!
//! Each call gets argv `["policy", OP]`, the input on stdin, capped in-memory stdout/stderr, no
//! preopened directories, an empty environment, virtual clocks (the wall clock starts at the
//! request's `context.now`, the monotonic one advances when read, and a sleep returns at once
//! with both moved forward: see `clock`), and random bytes seeded from the module digest and the
//! clock, so the same module and request always give the same answer.
//! Fuel, an epoch deadline (driven by a ticker thread per host) and `StoreLimits` bound it
//! (`crate::limits`).
//!
//! This module holds the engine, the pool's slots and the calls' entry points; loading a module
//! is in `load`, its sidecar metadata in `sidecar`, one WASI call in `run`, and the Rego path in
//! `crate::opa`.

mod load;
mod run;
mod sidecar;

use std::path::PathBuf;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use promote_policy_sdk::{Decision, EvaluationRequest, PolicyMetadata, SettingsValidation};
use serde_json::Value;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, InstancePre, Linker,
    PoolingAllocationConfig,
};

use crate::cache::{Cache, CacheMode, CacheStatus};
use crate::combine::{BreakGlass, Combined, ConfiguredPolicy, PolicyOutcome, combine};
use crate::error::Printed;
use crate::limits::{Limits, TABLE_ELEMENTS, Ticker};
use crate::{HostError, Origin, PolicyError, Sha256};

pub use load::ReadModule;
pub use run::{STDERR_LIMIT, STDOUT_LIMIT};
pub use sidecar::{SIDECAR, SidecarText};

use run::GuestState;

/// Calls that may run at once on one host; more wait for a free slot (see [`Slots`]).
const CONCURRENT_CALLS: u32 = 8;
/// Per call at most: two instances (OPA: the module and its host-made memory), two memories
/// and eight tables, as the stores' `StoreLimits` allow.
const INSTANCES_PER_CALL: u32 = 2;
const MEMORIES_PER_CALL: u32 = 2;
const TABLES_PER_CALL: u32 = 8;
/// Linear memory a pool slot keeps mapped between calls; the pages a call dirtied in it are
/// put back to the module's initial image with a copy (found with Linux's `PAGEMAP_SCAN`)
/// instead of being unmapped and faulted in again by the next call.
const KEEP_RESIDENT: usize = 8 << 20;

/// How to build a [`Host`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// The compiled-module cache.
    pub cache: CacheMode,
    /// Limits of modules that ask for nothing.
    pub defaults: Limits,
    /// The most a module's metadata may ask for.
    pub maximum: Limits,
    /// How instances get their memory, tables and stacks.
    pub allocation: Allocation,
}

/// How a host allocates its instances. Either way every call gets a fresh instance under the
/// same limits; this only trades start-up for per-call cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Allocation {
    /// wasmtime's pooling allocator: slots reserved when the host starts (~0.45 ms of CPU on
    /// the benchmark machine, most of it the pool asking the cgroup for the CPU quota once
    /// per sub-pool), then each call instantiates into a warm slot. For hosts that make many
    /// calls: promotions, `policy test`, `policy bench`, the in-process benches.
    #[default]
    Pooling,
    /// Each instance maps its own memory (a 4 GiB reservation) and unmaps it afterwards: no
    /// start-up cost. For a process that makes a handful of calls and exits (`policy eval`:
    /// at most three instantiations), where the pool's set-up costs more than it saves.
    OnDemand,
}

impl HostConfig {
    /// Default limits with the given cache.
    pub fn new(cache: CacheMode) -> Self {
        Self {
            cache,
            defaults: Limits::DEFAULT,
            maximum: Limits::MAXIMUM,
            allocation: Allocation::Pooling,
        }
    }
}

/// Loads and runs policy modules. Cheap to share by reference; calls may run concurrently.
pub struct Host {
    engine: Engine,
    /// See [`Host::wasi_linker`].
    linker: OnceLock<Linker<GuestState>>,
    cache: Cache,
    config: HostConfig,
    slots: Slots,
    pooled: bool,
    _ticker: Ticker,
}

/// A counting semaphore over the pooling allocator's slots: a call takes one before it creates
/// its store and gives it back after the store is gone, so concurrent calls wait for a slot
/// instead of failing when the pool is full.
struct Slots {
    free: Mutex<u32>,
    freed: Condvar,
}

struct Slot<'a>(&'a Slots);

impl Slots {
    fn new(n: u32) -> Self {
        Self {
            free: Mutex::new(n),
            freed: Condvar::new(),
        }
    }

    fn take(&self) -> Slot<'_> {
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut free = self
            .0
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *free += 1;
        self.0.freed.notify_one();
    }
}

/// A loaded, checked, compiled module, ready to instantiate.
pub struct Policy {
    metadata: PolicyMetadata,
    origin: Origin,
    sha256: Sha256,
    limits: Limits,
    cache_status: CacheStatus,
    kind: Kind,
}

/// How a policy runs: a WASI command, or a Rego module through opa-wasm.
enum Kind {
    Wasi(InstancePre<GuestState>),
    Opa(crate::opa::OpaModule),
}

impl Policy {
    /// The module's metadata.
    pub fn metadata(&self) -> &PolicyMetadata {
        &self.metadata
    }
    /// The policy's name (from its metadata).
    pub fn name(&self) -> &str {
        &self.metadata.name
    }
    /// Where it came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }
    /// The digest of the module bytes.
    pub fn sha256(&self) -> Sha256 {
        self.sha256
    }
    /// The limits its calls run under.
    pub fn limits(&self) -> Limits {
        self.limits
    }
    /// What the compiled-module cache did when it was loaded.
    pub fn cache_status(&self) -> CacheStatus {
        self.cache_status
    }
    /// For a Rego module: the host builtins it calls (each one of [`crate::SUPPORTED_BUILTINS`]).
    pub fn opa_builtins(&self) -> Option<&[String]> {
        match &self.kind {
            Kind::Opa(m) => Some(m.builtins()),
            Kind::Wasi(_) => None,
        }
    }
}

/// A decision and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The policy's decision.
    pub decision: Decision,
    /// Fuel consumed.
    pub fuel_used: u64,
    /// Wall time of the call, instantiation included.
    pub elapsed: Duration,
    /// The policy's stderr (its log).
    pub log: String,
}

impl Host {
    /// Builds the engine, the WASI linker and the epoch ticker.
    ///
    /// # Errors
    /// When wasmtime refuses the configuration or the ticker thread cannot start.
    pub fn new(config: HostConfig) -> Result<Self, HostError> {
        let mut c = Config::new();
        c.consume_fuel(true);
        c.epoch_interruption(true);
        // Determinism: same module + same request → same answer on every machine.
        c.cranelift_nan_canonicalization(true);
        c.relaxed_simd_deterministic(true);
        // Every call still gets a fresh instance: the pool only recycles the mappings, and a
        // slot's memory is reset to the module's initial image (or zero) before it is reused.
        // Where the pool's address space cannot be reserved (e.g. under `ulimit -v`), the
        // on-demand allocator is used instead.
        let pool = match config.allocation {
            Allocation::Pooling => Engine::new(c.clone().allocation_strategy(pooling())),
            Allocation::OnDemand => Err(wasmtime::format_err!("on-demand allocation asked for")),
        };
        let (engine, pooled) = match pool {
            Ok(engine) => (engine, true),
            Err(_) => (
                Engine::new(&c).map_err(|e| HostError::Engine(e.to_string()))?,
                false,
            ),
        };
        let cache = Cache::new(&config.cache, &engine);
        let ticker = Ticker::start(engine.clone()).map_err(HostError::Ticker)?;
        Ok(Self {
            engine,
            linker: OnceLock::new(),
            cache,
            config,
            slots: Slots::new(CONCURRENT_CALLS),
            pooled,
            _ticker: ticker,
        })
    }

    /// The WASI preview1 linker, built when the first WASI module loads: a host that only
    /// runs Rego policies (`policy eval` of a bundle) never needs its ~50 host functions.
    pub(crate) fn wasi_linker(&self) -> wasmtime::Result<&Linker<GuestState>> {
        if let Some(linker) = self.linker.get() {
            return Ok(linker);
        }
        let mut linker = Linker::new(&self.engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut GuestState| &mut s.wasi)?;
        // Sleeps advance the guest's virtual clocks instead of blocking (see `clock`).
        crate::clock::add_poll_oneoff(&mut linker)?;
        // Two threads that race here built the same linker; either one will do.
        Ok(self.linker.get_or_init(|| linker))
    }

    /// Whether calls run on the pooling instance allocator (else on-demand: asked for with
    /// [`Allocation::OnDemand`], or the pool could not be reserved, see [`Host::new`]).
    pub fn pooled(&self) -> bool {
        self.pooled
    }

    /// Where the compiled artifact of a module with this digest lives (None without a cache).
    pub fn cache_path(&self, sha256: &Sha256) -> Option<PathBuf> {
        self.cache.path(sha256)
    }

    /// Where the compiled artifact of these module bytes lives (None without a cache). Every
    /// module's artifact is keyed by the digest of its bytes as given, an `opa build` bundle's
    /// too (not by the `policy.wasm` inside it, so that it is found before it is unpacked).
    pub fn cache_path_of(&self, bytes: &[u8]) -> Option<PathBuf> {
        self.cache.path(&Sha256::of(bytes))
    }

    /// Runs `evaluate` with `request` (its `settings` as given).
    ///
    /// # Errors
    /// See [`PolicyError`]; a denial is an `Ok`.
    pub fn evaluate(
        &self,
        policy: &Policy,
        request: &EvaluationRequest,
    ) -> Result<Evaluation, PolicyError> {
        let now = request
            .context
            .now
            .parse::<jiff::Timestamp>()
            .map(|t| Duration::try_from(t.as_duration()).unwrap_or(Duration::ZERO))
            .map_err(|e| PolicyError::Request {
                message: format!(
                    "context.now {:?} is not an RFC 3339 time: {e}",
                    request.context.now
                ),
            })?;
        if let Kind::Opa(m) = &policy.kind {
            let input = serde_json::to_value(request).map_err(|e| PolicyError::Request {
                message: format!("encoding the request: {e}"),
            })?;
            let _slot = self.slots.take();
            let out = crate::opa::evaluate(
                &self.engine,
                m,
                policy.limits,
                crate::DECISION_ENTRYPOINT,
                &input,
                now,
            )?;
            let decision = serde_json::from_value::<Decision>(out.value).map_err(|e| {
                PolicyError::InvalidOutput {
                    expected: "Decision",
                    message: e.to_string(),
                    stdout: None,
                }
            })?;
            return Ok(Evaluation {
                decision: crate::printable::decision(decision),
                fuel_used: out.fuel_used,
                elapsed: out.elapsed,
                log: String::new(),
            });
        }
        let input = serde_json::to_vec(request).map_err(|e| PolicyError::Request {
            message: format!("encoding the request: {e}"),
        })?;
        let out = self.run(policy, "evaluate", input, now)?;
        let decision = serde_json::from_slice::<Decision>(&out.stdout).map_err(|e| {
            PolicyError::InvalidOutput {
                expected: "Decision",
                message: e.to_string(),
                stdout: Some(Printed::of(&out.stdout)),
            }
        })?;
        Ok(Evaluation {
            decision: crate::printable::decision(decision),
            fuel_used: out.fuel_used,
            elapsed: out.elapsed,
            log: crate::printable::log(&out.log),
        })
    }

    /// Runs `validate-settings` with `settings` on stdin.
    ///
    /// # Errors
    /// See [`PolicyError`]; invalid settings are an `Ok` with `valid: false`.
    pub fn validate_settings(
        &self,
        policy: &Policy,
        settings: &Value,
    ) -> Result<SettingsValidation, PolicyError> {
        let input = serde_json::to_vec(settings).unwrap_or_else(|_| b"null".to_vec());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        if let Kind::Opa(m) = &policy.kind {
            // The entrypoint is optional: without it, a Rego policy takes any settings.
            if !m.has_validate_settings() {
                return Ok(SettingsValidation::valid());
            }
            let _slot = self.slots.take();
            let out = crate::opa::evaluate(
                &self.engine,
                m,
                policy.limits,
                crate::SETTINGS_ENTRYPOINT,
                settings,
                now,
            )?;
            return serde_json::from_value::<SettingsValidation>(out.value)
                .map(crate::printable::settings)
                .map_err(|e| PolicyError::InvalidOutput {
                    expected: "SettingsValidation",
                    message: e.to_string(),
                    stdout: None,
                });
        }
        let out = self.run(policy, "validate-settings", input, now)?;
        serde_json::from_slice::<SettingsValidation>(&out.stdout)
            .map(crate::printable::settings)
            .map_err(|e| PolicyError::InvalidOutput {
                expected: "SettingsValidation",
                message: e.to_string(),
                stdout: Some(Printed::of(&out.stdout)),
            })
    }

    /// Runs every configured policy on `request` (each with its own settings) and combines
    /// the results as the contract says, setting overridable denials aside when the request
    /// carries an `override`. Policies that do not declare the request's operation are policy
    /// errors (a configuration mistake should not pass silently), and so are policies whose
    /// `validate-settings` could not decide ([`ConfiguredPolicy::settings_error`]).
    pub fn evaluate_all(
        &self,
        policies: &[ConfiguredPolicy],
        request: &EvaluationRequest,
    ) -> Combined {
        let outcomes = policies
            .iter()
            .map(|c| {
                let started = Instant::now();
                let p = &c.policy;
                let result = if let Some(e) = &c.settings_error {
                    Err(PolicyError::ValidateSettings(Box::new(e.clone())))
                } else if p.metadata.operations.contains(&request.kind()) {
                    let mut req = request.clone();
                    req.settings = c.settings.clone();
                    self.evaluate(p, &req)
                } else {
                    Err(PolicyError::UnsupportedOperation {
                        operation: request.kind().to_string(),
                        declared: p
                            .metadata
                            .operations
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                };
                PolicyOutcome {
                    name: p.name().to_owned(),
                    origin: p.origin.to_string(),
                    sha256: p.sha256.to_hex(),
                    failure_policy: c.failure_policy,
                    elapsed: result
                        .as_ref()
                        .map_or_else(|_| started.elapsed(), |e| e.elapsed),
                    result,
                }
            })
            .collect();
        let break_glass = match request.override_() {
            Some(_) => BreakGlass::Requested,
            None => BreakGlass::No,
        };
        combine(outcomes, break_glass)
    }
}

/// The pooling allocator's configuration: room for [`CONCURRENT_CALLS`] calls, each as large
/// as a store's `StoreLimits` allow (memory up to 4 GiB, the most a 32-bit memory can have;
/// the policy's own memory limit is enforced by its store).
fn pooling() -> InstanceAllocationStrategy {
    let mut p = PoolingAllocationConfig::new();
    p.total_core_instances(CONCURRENT_CALLS * INSTANCES_PER_CALL)
        .total_memories(CONCURRENT_CALLS * MEMORIES_PER_CALL)
        .total_tables(CONCURRENT_CALLS * TABLES_PER_CALL)
        .max_memories_per_module(MEMORIES_PER_CALL)
        .max_tables_per_module(TABLES_PER_CALL)
        .table_elements(TABLE_ELEMENTS)
        .max_memory_size(4 << 30)
        // OPA calls run on a fiber (opa-wasm's API is async): one stack per call. The default
        // of 1000 stacks costs ~1.5 ms of `mprotect`s when the host starts.
        .total_stacks(CONCURRENT_CALLS);
    // Without `PAGEMAP_SCAN` (Linux < 6.7) keeping memory resident would mean zeroing all of
    // it on every reuse; then the pool unmaps dirty pages (`madvise`) as usual.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        p.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT);
    }
    InstanceAllocationStrategy::Pooling(p)
}
