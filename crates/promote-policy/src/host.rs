//! The sandbox: one wasmtime engine with fuel and epoch interruption, a WASI preview1 linker,
//! and a fresh `Store` per call from the module's `InstancePre`.
//!
//! Each call gets argv `["policy", OP]`, the input on stdin, capped in-memory stdout/stderr, no
//! preopened directories, an empty environment, virtual clocks (the wall clock starts at the
//! request's `context.now`, the monotonic one advances when read, and a sleep returns at once
//! with both moved forward: see `clock`), and random bytes seeded from the module digest and the
//! clock, so the same module and request always give the same answer.
//! Fuel, an epoch deadline (driven by a ticker thread per host) and `StoreLimits` bound it.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use promote_core::yaml;
use promote_policy_sdk::{
    ABI_WASI_COMMAND_V1, Decision, EvaluationRequest, PolicyMetadata, Resources, SettingsValidation,
};
use serde::Deserialize;
use serde_json::Value;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, InstancePre, Linker,
    PoolingAllocationConfig, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, Trap,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use crate::cache::{Cache, CacheMode, CacheStatus};
use crate::clock::{HasVirtualTime, VirtualTime};
use crate::combine::{BreakGlass, Combined, ConfiguredPolicy, PolicyOutcome, combine};
use crate::error::Printed;
use crate::{HostError, LoadError, ModuleSource, Origin, PolicyError, Sha256, builtin_bytes};

/// Cap on a policy's stdout.
pub const STDOUT_LIMIT: usize = 1 << 20;
/// Cap on a policy's stderr.
pub const STDERR_LIMIT: usize = 64 << 10;
/// How much of stderr an exit or trap error quotes.
const STDERR_TAIL: usize = 1024;
/// Epoch tick: the deadline's resolution.
pub(crate) const TICK: Duration = Duration::from_millis(10);
pub(crate) const MIB: u64 = 1 << 20;
/// Calls that may run at once on one host; more wait for a free slot (see [`Slots`]).
const CONCURRENT_CALLS: u32 = 8;
/// Per call at most: two instances (OPA: the module and its host-made memory), two memories
/// and eight tables, as the stores' `StoreLimits` allow.
const INSTANCES_PER_CALL: u32 = 2;
const MEMORIES_PER_CALL: u32 = 2;
const TABLES_PER_CALL: u32 = 8;
/// The most table elements a store may have (its `StoreLimits`), so also a pool slot's size.
pub(crate) const TABLE_ELEMENTS: usize = 1 << 20;
/// Linear memory a pool slot keeps mapped between calls; the pages a call dirtied in it are
/// put back to the module's initial image with a copy (found with Linux's `PAGEMAP_SCAN`)
/// instead of being unmapped and faulted in again by the next call.
const KEEP_RESIDENT: usize = 8 << 20;

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
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How to build a [`Host`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// The compiled-module cache.
    pub cache: CacheMode,
    /// Limits of modules that ask for nothing.
    pub defaults: Limits,
    /// The most a module's metadata may ask for.
    pub maximum: Limits,
}

impl HostConfig {
    /// Default limits with the given cache.
    pub fn new(cache: CacheMode) -> Self {
        Self {
            cache,
            defaults: Limits::DEFAULT,
            maximum: Limits::MAXIMUM,
        }
    }
}

/// Loads and runs policy modules. Cheap to share by reference; calls may run concurrently.
pub struct Host {
    engine: Engine,
    linker: Linker<GuestState>,
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

struct GuestState {
    wasi: WasiP1Ctx,
    limiter: Limiter,
    time: Arc<VirtualTime>,
}

impl HasVirtualTime for GuestState {
    fn virtual_time(&self) -> &VirtualTime {
        &self.time
    }
}

/// `StoreLimits` plus a note of the first refused memory growth, so a failure after it is
/// reported as what it is.
pub(crate) struct Limiter {
    pub(crate) inner: StoreLimits,
    pub(crate) memory_limit: u64,
    pub(crate) refused: Option<u64>,
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

/// Increments the engine epoch every [`TICK`] until the host is dropped.
struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine) -> std::io::Result<Self> {
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

/// Sidecar `promote-policy.yaml`: the metadata plus, in krew packages, the module and its pin.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Sidecar {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    name: String,
    version: String,
    abi: String,
    operations: Vec<promote_policy_sdk::OperationKind>,
    #[serde(default)]
    settings_schema: Option<Value>,
    #[serde(default)]
    resources: Option<Resources>,
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
}

/// The name of the sidecar metadata file beside a module.
pub const SIDECAR: &str = "promote-policy.yaml";

/// A sidecar `promote-policy.yaml` the caller read itself, for modules that do not come from a
/// directory: a repo-path module read from a git revision has its sidecar in the same tree.
/// Modules without a metadata custom section (Go, anything not built with the Rust SDK) need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarText {
    /// Where it was read, for messages (`policies/promote-policy.yaml@origin/main`).
    pub place: String,
    /// The YAML.
    pub text: String,
}

impl Sidecar {
    fn into_metadata(self) -> PolicyMetadata {
        let _ = (self.api_version, self.kind, self.module, self.sha256);
        PolicyMetadata {
            name: self.name,
            version: self.version,
            abi: self.abi,
            operations: self.operations,
            settings_schema: self.settings_schema,
            resources: self.resources,
        }
    }
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
        let (engine, pooled) = match Engine::new(c.clone().allocation_strategy(pooling())) {
            Ok(engine) => (engine, true),
            Err(_) => (
                Engine::new(&c).map_err(|e| HostError::Engine(e.to_string()))?,
                false,
            ),
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut GuestState| &mut s.wasi)
            .map_err(|e| HostError::Engine(e.to_string()))?;
        // Sleeps advance the guest's virtual clocks instead of blocking (see `clock`).
        crate::clock::add_poll_oneoff(&mut linker).map_err(|e| HostError::Engine(e.to_string()))?;
        let cache = Cache::new(&config.cache, &engine);
        let ticker = Ticker::start(engine.clone()).map_err(HostError::Ticker)?;
        Ok(Self {
            engine,
            linker,
            cache,
            config,
            slots: Slots::new(CONCURRENT_CALLS),
            pooled,
            _ticker: ticker,
        })
    }

    /// Whether calls run on the pooling instance allocator (else on-demand: see [`Host::new`]).
    pub fn pooled(&self) -> bool {
        self.pooled
    }

    /// Where the compiled artifact of a module with this digest lives (None without a cache).
    pub fn cache_path(&self, sha256: &Sha256) -> Option<PathBuf> {
        self.cache.path(sha256)
    }

    /// Where the compiled artifact of these module bytes lives (None without a cache). For an
    /// `opa build` bundle that is the artifact of the `policy.wasm` inside it.
    pub fn cache_path_of(&self, bytes: &[u8]) -> Option<PathBuf> {
        match crate::opa::unpack("", bytes) {
            Ok(Some(unpacked)) => self.cache.path(&Sha256::of(&unpacked.wasm)),
            _ => self.cache.path(&Sha256::of(bytes)),
        }
    }

    /// Reads, pins, checks and compiles a module. Nothing of it runs.
    ///
    /// # Errors
    /// See [`LoadError`]; a pin mismatch is reported before the bytes are parsed.
    pub fn load(&self, source: &ModuleSource) -> Result<Policy, LoadError> {
        self.load_with_sidecar(source, None)
    }

    /// [`Host::load`] with sidecar metadata the caller read (used instead of a
    /// `promote-policy.yaml` beside a file module). The sidecar's own `sha256` pin applies
    /// only to file modules; callers of this pin the bytes in `source`.
    ///
    /// # Errors
    /// As [`Host::load`].
    pub fn load_with_sidecar(
        &self,
        source: &ModuleSource,
        given: Option<&SidecarText>,
    ) -> Result<Policy, LoadError> {
        let origin = source.origin();
        let o = origin.to_string();
        let (bytes, pin, dir): (Cow<'_, [u8]>, Option<Sha256>, Option<&Path>) = match source {
            ModuleSource::Builtin(name) => {
                let bytes = builtin_bytes(name).ok_or_else(|| LoadError::UnknownBuiltin {
                    name: name.clone(),
                    known: crate::BUILTIN_NAMES.join(", "),
                })?;
                (Cow::Borrowed(bytes), None, None)
            }
            ModuleSource::File { path, sha256 } => {
                let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
                    path: path.clone(),
                    source,
                })?;
                (Cow::Owned(bytes), *sha256, path.parent())
            }
            ModuleSource::Bytes { bytes, sha256, .. } => {
                (Cow::Borrowed(bytes.as_slice()), *sha256, None)
            }
            ModuleSource::Krew(installed) => {
                let bytes = std::fs::read(&installed.module).map_err(|source| LoadError::Read {
                    path: installed.module.clone(),
                    source,
                })?;
                // The package's own pin, checked here with a message that says how to repair
                // the install (the generic pin message would blame the configuration).
                let actual = Sha256::of(&bytes);
                if actual != installed.sha256 {
                    return Err(LoadError::KrewModuleChanged {
                        origin: o,
                        path: installed.module.clone(),
                        expected: installed.sha256.to_hex(),
                        actual: actual.to_hex(),
                        reinstall: installed.reinstall_command(),
                    });
                }
                (Cow::Owned(bytes), None, Some(installed.dir.as_path()))
            }
        };
        let sha256 = Sha256::of(&bytes);
        let sidecar = match (given, dir.map(|d| d.join(SIDECAR)).filter(|p| p.is_file())) {
            (Some(g), _) => Some(parse_sidecar(&o, &g.place, &g.text)?),
            (None, Some(path)) => Some(read_sidecar(&o, &path)?),
            (None, None) => None,
        };
        let file_name = match source {
            ModuleSource::File { path, .. } => path.file_name().and_then(|n| n.to_str()),
            ModuleSource::Krew(i) => i.module.file_name().and_then(|n| n.to_str()),
            _ => None,
        };
        let sidecar_pin = match &sidecar {
            Some((s, place)) if s.module.as_deref().is_some_and(|m| Some(m) == file_name) => {
                match &s.sha256 {
                    Some(text) => {
                        Some(
                            text.parse::<Sha256>()
                                .map_err(|message| LoadError::Metadata {
                                    origin: o.clone(),
                                    place: place.clone(),
                                    message,
                                })?,
                        )
                    }
                    None => None,
                }
            }
            _ => None,
        };
        if let Some(expected) = pin.or(sidecar_pin)
            && expected != sha256
        {
            return Err(LoadError::PinMismatch {
                origin: o,
                expected: expected.to_hex(),
                actual: sha256.to_hex(),
            });
        }
        if let Some(unpacked) = crate::opa::unpack(&o, &bytes)? {
            return self.load_opa(origin, sha256, unpacked, sidecar);
        }
        let shape = crate::inspect::check(&o, &bytes)?;
        let metadata = match (shape.metadata, sidecar) {
            (Some(json), _) => serde_json::from_slice::<PolicyMetadata>(&json).map_err(|e| {
                LoadError::Metadata {
                    origin: o.clone(),
                    place: format!("custom section {}", promote_policy_sdk::METADATA_SECTION),
                    message: e.to_string(),
                }
            })?,
            (None, Some((s, _))) => s.into_metadata(),
            (None, None) => return Err(LoadError::NoMetadata { origin: o }),
        };
        if metadata.abi == crate::ABI_OPA_V1 {
            return Err(LoadError::AbiMismatch {
                origin: o,
                declared: metadata.abi,
                found: "not an `opa build -t wasm` module (neither a bundle.tar.gz nor a policy.wasm importing env.opa_abort)",
            });
        }
        if metadata.abi != ABI_WASI_COMMAND_V1 {
            return Err(LoadError::UnsupportedAbi {
                origin: o,
                abi: metadata.abi,
            });
        }
        let limits = self.limits_for(&o, metadata.resources)?;
        let (module, cache_status) = self
            .cache
            .load_or_compile(&self.engine, &sha256, &bytes)
            .map_err(|e| LoadError::Compile {
                origin: o.clone(),
                message: format!("{e:#}"),
            })?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| LoadError::Link {
                origin: o.clone(),
                message: format!("{e:#}"),
            })?;
        Ok(Policy {
            metadata,
            origin,
            sha256,
            limits,
            cache_status,
            kind: Kind::Wasi(pre),
        })
    }

    /// The Rego half of [`Host::load`]: metadata from the bundle manifest (else the sidecar),
    /// the shared cache keyed by the digest of the wasm bytes, and the builtin check.
    fn load_opa(
        &self,
        origin: Origin,
        sha256: Sha256,
        unpacked: crate::opa::Unpacked,
        sidecar: Option<(Sidecar, String)>,
    ) -> Result<Policy, LoadError> {
        let o = origin.to_string();
        let metadata = match (unpacked.metadata, sidecar) {
            (Some((m, _)), _) => m,
            (None, Some((s, _))) => s.into_metadata(),
            (None, None) => {
                return Err(LoadError::Opa {
                    origin: o,
                    message: format!(
                        "no metadata: put {{name, version, abi: promote.opa/v1, operations}} under `metadata.{}` in the bundle's .manifest (then `opa build -b DIR`), or in a promote-policy.yaml beside the {}",
                        crate::opa::MANIFEST_KEY,
                        if unpacked.bundle { "bundle" } else { "module" }
                    ),
                });
            }
        };
        if metadata.abi != crate::ABI_OPA_V1 {
            return Err(LoadError::AbiMismatch {
                origin: o,
                declared: metadata.abi,
                found: "an `opa build -t wasm` module (abi promote.opa/v1)",
            });
        }
        let limits = self.limits_for(&o, metadata.resources)?;
        let (module, cache_status) = self
            .cache
            .load_or_compile(&self.engine, &Sha256::of(&unpacked.wasm), &unpacked.wasm)
            .map_err(|e| LoadError::Compile {
                origin: o.clone(),
                message: format!("{e:#}"),
            })?;
        let opa = {
            let _slot = self.slots.take();
            crate::opa::prepare(&self.engine, &o, module, unpacked.data, limits)?
        };
        Ok(Policy {
            metadata,
            origin,
            sha256,
            limits,
            cache_status,
            kind: Kind::Opa(opa),
        })
    }

    fn limits_for(&self, origin: &str, asked: Option<Resources>) -> Result<Limits, LoadError> {
        let mut limits = self.config.defaults;
        let Some(r) = asked else { return Ok(limits) };
        let max = self.config.maximum;
        let too_much = |what: &str, asked: String, max: String| LoadError::Metadata {
            origin: origin.to_owned(),
            place: "resources".into(),
            message: format!("asks for {asked} {what}; the host maximum is {max}"),
        };
        if let Some(f) = r.fuel {
            if f > max.fuel {
                return Err(too_much("fuel", f.to_string(), max.fuel.to_string()));
            }
            limits.fuel = f;
        }
        if let Some(ms) = r.timeout_ms {
            let t = Duration::from_millis(ms);
            if t > max.timeout {
                return Err(too_much(
                    "ms",
                    ms.to_string(),
                    max.timeout.as_millis().to_string(),
                ));
            }
            limits.timeout = t;
        }
        if let Some(mib) = r.memory_mib {
            let bytes = mib.saturating_mul(MIB);
            if bytes > max.memory_bytes {
                return Err(too_much(
                    "MiB",
                    mib.to_string(),
                    (max.memory_bytes / MIB).to_string(),
                ));
            }
            limits.memory_bytes = bytes;
        }
        Ok(limits)
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
                decision,
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
            decision,
            fuel_used: out.fuel_used,
            elapsed: out.elapsed,
            log: out.log,
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
            return serde_json::from_value::<SettingsValidation>(out.value).map_err(|e| {
                PolicyError::InvalidOutput {
                    expected: "SettingsValidation",
                    message: e.to_string(),
                    stdout: None,
                }
            });
        }
        let out = self.run(policy, "validate-settings", input, now)?;
        serde_json::from_slice::<SettingsValidation>(&out.stdout).map_err(|e| {
            PolicyError::InvalidOutput {
                expected: "SettingsValidation",
                message: e.to_string(),
                stdout: Some(Printed::of(&out.stdout)),
            }
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

    fn run(
        &self,
        policy: &Policy,
        op: &str,
        input: Vec<u8>,
        now: Duration,
    ) -> Result<RunOutput, PolicyError> {
        let Kind::Wasi(pre) = &policy.kind else {
            return Err(PolicyError::Request {
                message: "a Rego module has no WASI command to run".into(),
            });
        };
        let limits = policy.limits;
        let stdout = MemoryOutputPipe::new(STDOUT_LIMIT + 1);
        let stderr = MemoryOutputPipe::new(STDERR_LIMIT + 1);
        let seed = seed(&policy.sha256, now);
        let time = VirtualTime::new(now);
        let wasi = WasiCtxBuilder::new()
            .args(&["policy", op])
            .stdin(MemoryInputPipe::new(input))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(time.wall_clock())
            .monotonic_clock(time.monotonic_clock())
            .secure_random(wasmtime_wasi::Deterministic::new(random_bytes(seed)))
            .insecure_random(wasmtime_wasi::Deterministic::new(random_bytes(
                seed ^ 0x9e37,
            )))
            .insecure_random_seed(u128::from(seed))
            .build_p1();
        let memory_limit = usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX);
        let limiter = Limiter {
            inner: StoreLimitsBuilder::new()
                .memory_size(memory_limit)
                .table_elements(TABLE_ELEMENTS)
                .instances(1)
                .tables(8)
                .memories(1)
                .build(),
            memory_limit: limits.memory_bytes,
            refused: None,
        };
        let _slot = self.slots.take();
        let mut store = Store::new(
            &self.engine,
            GuestState {
                wasi,
                limiter,
                time,
            },
        );
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(limits.fuel)
            .map_err(|e| PolicyError::Instantiate {
                message: e.to_string(),
            })?;
        let ticks = limits.timeout.as_millis().div_ceil(TICK.as_millis()) + 1;
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store.epoch_deadline_trap();

        let started = Instant::now();
        let result = pre.instantiate(&mut store).and_then(|instance| {
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
            start.call(&mut store, ())
        });
        let elapsed = started.elapsed();
        let fuel_used = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let refused = store.data().limiter.refused;
        let (out, err) = (stdout.contents(), stderr.contents());
        let memory_error = |wanted| PolicyError::MemoryLimit {
            limit_mib: limits.memory_bytes / MIB,
            wanted,
        };
        if out.len() > STDOUT_LIMIT {
            return Err(PolicyError::OutputTooLarge {
                stream: "stdout",
                limit: STDOUT_LIMIT,
            });
        }
        if err.len() > STDERR_LIMIT {
            return Err(PolicyError::OutputTooLarge {
                stream: "stderr",
                limit: STDERR_LIMIT,
            });
        }
        let log = String::from_utf8_lossy(&err).into_owned();
        if let Err(e) = result {
            let code = e.downcast_ref::<I32Exit>().map(|x| x.0);
            if code != Some(0) {
                if let Some(wanted) = refused {
                    return Err(memory_error(wanted));
                }
                return Err(match (code, e.downcast_ref::<Trap>()) {
                    (Some(code), _) => PolicyError::Exit {
                        code,
                        stderr_tail: tail(&log),
                    },
                    (None, Some(Trap::OutOfFuel)) => PolicyError::OutOfFuel { limit: limits.fuel },
                    (None, Some(Trap::Interrupt)) => PolicyError::TimedOut {
                        ms: u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
                    },
                    (None, Some(trap)) => PolicyError::Trap {
                        message: trap.to_string(),
                        stderr_tail: tail(&log),
                    },
                    (None, None) => PolicyError::Trap {
                        message: format!("{e:#}"),
                        stderr_tail: tail(&log),
                    },
                });
            }
        }
        Ok(RunOutput {
            stdout: out.to_vec(),
            log,
            fuel_used,
            elapsed,
        })
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

struct RunOutput {
    stdout: Vec<u8>,
    log: String,
    fuel_used: u64,
    elapsed: Duration,
}

/// The last [`STDERR_TAIL`] bytes of the log, trimmed, on a char boundary.
fn tail(log: &str) -> String {
    let t = log.trim_end();
    let mut start = t.len().saturating_sub(STDERR_TAIL);
    while !t.is_char_boundary(start) {
        start += 1;
    }
    t[start..].trim_start().to_owned()
}

fn seed(sha256: &Sha256, now: Duration) -> u64 {
    let mut s = [0u8; 8];
    s.copy_from_slice(&sha256.0[..8]);
    u64::from_le_bytes(s) ^ now.as_secs().rotate_left(32) ^ u64::from(now.subsec_nanos())
}

/// 1 KiB of splitmix64 output: the cycle WASI's deterministic generator replays.
fn random_bytes(mut state: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    while out.len() < 1024 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

fn read_sidecar(origin: &str, path: &Path) -> Result<(Sidecar, String), LoadError> {
    let place = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_sidecar(origin, &place, &text)
}

fn parse_sidecar(origin: &str, place: &str, text: &str) -> Result<(Sidecar, String), LoadError> {
    let sidecar = yaml::from_str::<Sidecar>(place, text).map_err(|e| LoadError::Metadata {
        origin: origin.to_owned(),
        place: place.to_owned(),
        message: e.message().to_owned(),
    })?;
    Ok((sidecar, place.to_owned()))
}
