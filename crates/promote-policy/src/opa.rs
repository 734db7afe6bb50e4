//! Rego policies (`promote.opa/v1`): modules built by `opa build -t wasm -e promote/decision`,
//! run on the host's engine through the `opa-wasm` crate.
//!
//! This module owns what differs from WASI command modules: reading `opa build`'s
//! `bundle.tar.gz` (or a bare `policy.wasm`) in memory, the metadata in the bundle's
//! `.manifest` (`metadata.kubectl-promote`), the load-time check of the builtins and entrypoints
//! the module declares, and evaluation. Everything else is shared with WASI modules: the engine,
//! the compiled-module cache (keyed by the sha256 of the bytes as given: a bundle's, or a bare
//! module's, so that a cached bundle's module is found before it is unpacked), the limits (fuel, epoch
//! deadline, `StoreLimits`) and the Decision parsing.
//!
//! `opa-wasm`'s own API instantiates a module once and evaluates it many times on the same
//! instance; we build a fresh `Store` and `Runtime` for every call instead, so nothing one
//! evaluation leaves in the instance's memory (its heap, the builtins' cache) can reach the next.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::Read as _;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use opa_wasm::EvaluationContext;
use promote_policy_sdk::PolicyMetadata;
use serde::Serialize;
use serde_json::Value;
use wasmtime::{Engine, Linker, Memory, Module, Store, Trap};

use crate::limits::{Limiter, Limits, MIB, arm};
use crate::{LoadError, PolicyError};

/// The ABI name in a Rego module's metadata.
pub const ABI_OPA_V1: &str = "promote.opa/v1";
/// The entrypoint that must evaluate to a Decision.
pub const DECISION_ENTRYPOINT: &str = "promote/decision";
/// The optional entrypoint that answers `validate-settings` (input: the settings).
pub const SETTINGS_ENTRYPOINT: &str = "promote/validate_settings";
/// The key of our metadata inside the bundle manifest's `metadata`.
pub const MANIFEST_KEY: &str = "kubectl-promote";

/// The builtins a Rego module may need from the host: those `opa-wasm` 0.3.4 implements with
/// the features we enable. Every other builtin is refused when the module loads: opa-wasm either
/// implements it as a stub that always fails (`http.send`, `io.jwt.*`, `net.*`, `regex.split`,
/// `regex.find_n`, `regex.globs_match`, `regex.template_match`, `uuid.rfc4122`, `trace`,
/// `time.diff`, `time.parse_ns`, `crypto.x509.*`, `graphql.*`, `glob.quote_meta`, `indexof_n`,
/// `object.union_n`, `rego.parse_module`, `graph.reachable_paths`), or we left it out on
/// purpose: `opa.runtime` (it would hand the policy our environment variables), `rand.intn`
/// (not deterministic), `yaml.*` (serde_yaml is unmaintained), `crypto.md5`/`crypto.sha1` and
/// their HMACs. Builtins OPA compiles into the module itself (most of them: `count`, `regex.match`,
/// `time.parse_rfc3339_ns`...) never reach the host and are not listed here.
/// `time.now_ns` answers the request's `context.now`, like the WASI clock.
pub const SUPPORTED_BUILTINS: &[&str] = &[
    "base64url.encode_no_pad",
    "crypto.hmac.sha256",
    "crypto.hmac.sha512",
    "crypto.sha256",
    "hex.decode",
    "hex.encode",
    "json.patch",
    "semver.compare",
    "semver.is_valid",
    "sprintf",
    "time.add_date",
    "time.clock",
    "time.date",
    "time.now_ns",
    "time.parse_duration_ns",
    "time.parse_rfc3339_ns",
    "time.weekday",
    "units.parse",
    "units.parse_bytes",
    "urlquery.decode",
    "urlquery.decode_object",
    "urlquery.encode",
    "urlquery.encode_object",
];

/// Decompressed bundle size we read at most: a gzip bomb must not exhaust memory.
const BUNDLE_LIMIT: u64 = 64 * MIB;

/// An `opa build` output, unpacked.
pub(crate) struct Unpacked {
    /// The wasm module.
    pub wasm: Vec<u8>,
    /// `metadata.kubectl-promote` of the bundle's `.manifest`, if any.
    pub metadata: Option<(PolicyMetadata, String)>,
    /// The bundle's `data.json` (`{}` for a bare module).
    pub data: Value,
    /// Whether the bytes were a bundle (for messages).
    pub bundle: bool,
}

/// If `bytes` are an `opa build` output (a gzip'd bundle, or a wasm module importing OPA's
/// `env.opa_abort`), unpacks them; `Ok(None)` for anything else (a WASI module, garbage).
pub(crate) fn unpack(origin: &str, bytes: &[u8]) -> Result<Option<Unpacked>, LoadError> {
    if is_bundle(bytes) {
        return unpack_bundle(origin, bytes).map(Some);
    }
    if is_opa_wasm(bytes) {
        return Ok(Some(Unpacked {
            wasm: bytes.to_vec(),
            metadata: None,
            data: Value::Object(serde_json::Map::new()),
            bundle: false,
        }));
    }
    Ok(None)
}

/// Whether `bytes` are gzip'd, as `opa build`'s `bundle.tar.gz` is (a wasm module never is).
pub(crate) fn is_bundle(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// A core module that imports `env.opa_abort` is what `opa build -t wasm` writes.
fn is_opa_wasm(bytes: &[u8]) -> bool {
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(wasmparser::Payload::ImportSection(reader)) => {
                return reader
                    .into_imports()
                    .filter_map(Result::ok)
                    .any(|i| i.module == "env" && i.name == "opa_abort");
            }
            Ok(wasmparser::Payload::CodeSectionStart { .. }) | Err(_) => return false,
            Ok(_) => {}
        }
    }
    false
}

/// Unpacks an `opa build` bundle.tar.gz.
pub(crate) fn unpack_bundle(origin: &str, bytes: &[u8]) -> Result<Unpacked, LoadError> {
    let bad = |message: String| LoadError::Opa {
        origin: origin.to_owned(),
        message,
    };
    let tarball = gunzip(bytes).map_err(|e| bad(format!("not a readable bundle.tar.gz: {e}")))?;
    let mut archive = tar::Archive::new(tarball.as_slice());
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    let mut total = 0u64;
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a readable bundle.tar.gz: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("not a readable bundle.tar.gz: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| bad(format!("a bundle entry has an unreadable name: {e}")))?
            .to_string_lossy()
            .trim_start_matches('/')
            .to_owned();
        // The header's size is only a hint (the tarball is bounded already).
        let mut content = Vec::with_capacity(
            usize::try_from(entry.size())
                .unwrap_or(0)
                .min(tarball.len()),
        );
        entry
            .read_to_end(&mut content)
            .map_err(|e| bad(format!("reading /{path} in the bundle: {e}")))?;
        total += content.len() as u64;
        if total > BUNDLE_LIMIT {
            return Err(bad(format!(
                "the bundle unpacks to more than {} MiB",
                BUNDLE_LIMIT / MIB
            )));
        }
        files.insert(path, content);
    }
    let manifest: Option<Value> = match files.get(".manifest") {
        Some(m) => Some(
            serde_json::from_slice(m).map_err(|e| bad(format!("/.manifest is not JSON: {e}")))?,
        ),
        None => None,
    };
    // The manifest says which module holds which entrypoint; `opa build` writes one module,
    // `/policy.wasm`.
    let module_path = manifest
        .as_ref()
        .and_then(|m| m.get("wasm"))
        .and_then(Value::as_array)
        .and_then(|mods| {
            mods.iter()
                .find(|w| w.get("entrypoint").and_then(Value::as_str) == Some(DECISION_ENTRYPOINT))
                .or_else(|| mods.first())
        })
        .and_then(|w| w.get("module"))
        .and_then(Value::as_str)
        .unwrap_or("/policy.wasm")
        .trim_start_matches('/')
        .to_owned();
    let wasm = files.remove(&module_path).ok_or_else(|| {
        bad(format!(
            "the bundle holds no /{module_path}; build it with `opa build -t wasm -e {DECISION_ENTRYPOINT}`"
        ))
    })?;
    let place = format!("/.manifest metadata.{MANIFEST_KEY}");
    let metadata = match manifest
        .as_ref()
        .and_then(|m| m.get("metadata"))
        .and_then(|m| m.get(MANIFEST_KEY))
    {
        Some(meta) => Some((
            serde_json::from_value::<PolicyMetadata>(meta.clone()).map_err(|e| {
                LoadError::Metadata {
                    origin: origin.to_owned(),
                    place: place.clone(),
                    message: e.to_string(),
                }
            })?,
            place,
        )),
        None => None,
    };
    let data = match files.get("data.json") {
        Some(d) => {
            serde_json::from_slice(d).map_err(|e| bad(format!("/data.json is not JSON: {e}")))?
        }
        None => Value::Object(serde_json::Map::new()),
    };
    Ok(Unpacked {
        wasm,
        metadata,
        data,
        bundle: true,
    })
}

/// Inflates a gzip member, refusing more than [`BUNDLE_LIMIT`] bytes of output.
///
/// zlib-rs, not flate2's default miniz_oxide backend: on `policy eval` of a cached Rego module
/// the inflate was ~7% of the process (docs/performance.md). The gzip trailer's size is a
/// hint for the first allocation only; the stream's CRC-32 is checked by the inflater.
fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let limit = usize::try_from(BUNDLE_LIMIT).unwrap_or(usize::MAX);
    let hint = bytes
        .len()
        .checked_sub(4)
        .and_then(|at| bytes[at..].try_into().ok())
        .map_or(0, |isize| u32::from_le_bytes(isize) as usize);
    let mut out = vec![0u8; hint.clamp(64 << 10, limit) + 1];
    // 16 + 15: a gzip header, a window of up to 32 KiB.
    let mut inflate = zlib_rs::Inflate::new(true, 16 + 15);
    loop {
        let (read, written) = (as_usize(inflate.total_in()), as_usize(inflate.total_out()));
        let status = inflate
            .decompress(
                &bytes[read..],
                &mut out[written..],
                zlib_rs::InflateFlush::NoFlush,
            )
            .map_err(|e| e.as_str().to_owned())?;
        let written = as_usize(inflate.total_out());
        if written > limit {
            return Err(format!(
                "it unpacks to more than {} MiB",
                BUNDLE_LIMIT / MIB
            ));
        }
        match status {
            zlib_rs::Status::StreamEnd => {
                out.truncate(written);
                return Ok(out);
            }
            _ if written == out.len() => {
                let grown = (out.len() * 2).min(limit + 1);
                out.resize(grown, 0);
            }
            _ if as_usize(inflate.total_in()) == bytes.len() => {
                return Err("the gzip stream ends early".to_owned());
            }
            zlib_rs::Status::BufError => return Err("the gzip stream is damaged".to_owned()),
            zlib_rs::Status::Ok => {}
        }
    }
}

fn as_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// A compiled, checked Rego module.
pub(crate) struct OpaModule {
    module: Module,
    data: Value,
    validate_settings: bool,
    builtins: Vec<String>,
    entrypoints: Vec<String>,
}

impl OpaModule {
    /// Whether the module has the `promote/validate_settings` entrypoint.
    pub(crate) fn has_validate_settings(&self) -> bool {
        self.validate_settings
    }

    /// The host builtins the module calls.
    pub(crate) fn builtins(&self) -> &[String] {
        &self.builtins
    }
}

/// Store data of one Rego call.
struct OpaState {
    limiter: Limiter,
}

fn new_store(engine: &Engine, limits: Limits) -> Result<Store<OpaState>, wasmtime::Error> {
    // Two instances and memories: the module's, plus the one wasmtime makes for the
    // host-created `env.memory` that OPA modules import.
    let limiter = Limiter::new(limits, 2);
    let mut store = Store::new(engine, OpaState { limiter });
    store.limiter(|s| &mut s.limiter);
    arm(&mut store, limits)?;
    Ok(store)
}

/// Checks a compiled OPA module: reads the builtins and entrypoints it declares (by calling its
/// `builtins` and `entrypoints` exports in a throw-away sandboxed instance whose imports all
/// trap), refuses builtins we cannot run, and requires `promote/decision`.
///
/// Those two exports only build a constant JSON object; nothing of the policy runs, and the
/// same limits as an evaluation apply.
pub(crate) fn prepare(
    engine: &Engine,
    origin: &str,
    module: Module,
    data: Value,
    limits: Limits,
) -> Result<OpaModule, LoadError> {
    let (builtins, entrypoints) =
        declared(engine, &module, limits).map_err(|e| LoadError::Opa {
            origin: origin.to_owned(),
            message: format!("{e:#}"),
        })?;
    checked(
        origin,
        module,
        data,
        builtins.into_keys().collect(),
        entrypoints.into_keys().collect(),
    )
}

/// The module, if the builtins and entrypoints it declares are ones we run: every builtin in
/// [`SUPPORTED_BUILTINS`], and `promote/decision` among the entrypoints.
pub(crate) fn checked(
    origin: &str,
    module: Module,
    data: Value,
    builtins: Vec<String>,
    entrypoints: Vec<String>,
) -> Result<OpaModule, LoadError> {
    let refused: Vec<String> = builtins
        .iter()
        .filter(|b| !SUPPORTED_BUILTINS.contains(&b.as_str()))
        .cloned()
        .collect();
    if !refused.is_empty() {
        return Err(LoadError::UnsupportedBuiltins {
            origin: origin.to_owned(),
            builtins: refused,
        });
    }
    if !entrypoints.iter().any(|e| e == DECISION_ENTRYPOINT) {
        return Err(LoadError::Opa {
            origin: origin.to_owned(),
            message: format!(
                "it has no entrypoint {DECISION_ENTRYPOINT} (it has: {}); build it with `opa build -t wasm -e {DECISION_ENTRYPOINT}` and a `decision` rule in `package promote`",
                entrypoints.join(", ")
            ),
        });
    }
    Ok(OpaModule {
        module,
        data,
        validate_settings: entrypoints.iter().any(|e| e == SETTINGS_ENTRYPOINT),
        builtins,
        entrypoints,
    })
}

/// What loading a Rego module learned beyond its compiled code, kept in the module's cache entry
/// (`cache`'s load record) so that the next load of the same bytes reads no tarball and
/// instantiates nothing: the manifest's metadata and `data.json` (as the bundle gives them), and
/// the builtins and entrypoints the module declares. `checks` names the load checks it passed
/// ([`load_checks`]); a record from a build with other checks is ignored, not trusted.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoadRecord {
    pub checks: String,
    pub metadata: Option<PolicyMetadata>,
    pub data: Value,
    pub builtins: Vec<String>,
    pub entrypoints: Vec<String>,
}

impl LoadRecord {
    /// What a module that passed every load check was loaded from.
    pub(crate) fn of(metadata: Option<&PolicyMetadata>, m: &OpaModule) -> Self {
        Self {
            checks: load_checks(),
            metadata: metadata.cloned(),
            data: m.data.clone(),
            builtins: m.builtins.clone(),
            entrypoints: m.entrypoints.clone(),
        }
    }

    /// A record's body, if it parses and was written after the checks this build makes.
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(body)
            .ok()
            .filter(|r| r.checks == load_checks())
    }
}

/// The load checks a [`LoadRecord`] stands for: this build's version, the builtins it runs and
/// the `sprintf` verbs it formats (the `sprintf` check reads the module's data, which a cached
/// load no longer has at hand, so a record holds only for the checks it was written under).
fn load_checks() -> String {
    format!(
        "{} builtins={} sprintf={}",
        env!("CARGO_PKG_VERSION"),
        SUPPORTED_BUILTINS.join(","),
        crate::sprintf::SUPPORTED_VERBS.iter().collect::<String>()
    )
}

type Declared = (BTreeMap<String, Value>, BTreeMap<String, Value>);

fn declared(engine: &Engine, module: &Module, limits: Limits) -> wasmtime::Result<Declared> {
    let mut store = new_store(engine, limits)?;
    let memory_type = module
        .imports()
        .find(|i| i.module() == "env" && i.name() == "memory")
        .and_then(|i| i.ty().memory().cloned())
        .ok_or_else(|| {
            wasmtime::format_err!(
                "it does not import env.memory; is it an `opa build -t wasm` module?"
            )
        })?;
    let memory = Memory::new(&mut store, memory_type)?;
    let mut linker = Linker::new(engine);
    linker.define(&store, "env", "memory", memory)?;
    // opa_abort, opa_println, opa_builtinN: none may run while we read the lists.
    linker.define_unknown_imports_as_traps(module)?;
    let instance = linker.instantiate(&mut store, module)?;
    let dump = instance.get_typed_func::<i32, i32>(&mut store, "opa_json_dump")?;
    let mut read = |export: &str| -> wasmtime::Result<BTreeMap<String, Value>> {
        let value = instance
            .get_typed_func::<(), i32>(&mut store, export)?
            .call(&mut store, ())?;
        let ptr = dump.call(&mut store, value)?;
        let data = memory.data(&store);
        let start = usize::try_from(ptr)?;
        let text = data
            .get(start..)
            .and_then(|tail| tail.iter().position(|&b| b == 0).map(|end| &tail[..end]))
            .ok_or_else(|| {
                wasmtime::format_err!("{export}() returned an address outside memory")
            })?;
        let map: BTreeMap<String, Value> = serde_json::from_slice(text)
            .map_err(|e| wasmtime::format_err!("{export}() is not a JSON object: {e}"))?;
        Ok(map)
    };
    let builtins = read("builtins")?;
    let entrypoints = read("entrypoints")?;
    Ok((builtins, entrypoints))
}

/// The evaluation context opa-wasm hands the host builtins: a clock fixed to the request's
/// `context.now` (so `time.now_ns` is deterministic, as the WASI wall clock is) and the
/// per-evaluation builtin cache.
struct FixedContext {
    now: chrono::DateTime<chrono::Utc>,
    cache: HashMap<String, Value>,
}

impl EvaluationContext for FixedContext {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.now
    }

    fn evaluation_start(&mut self) {
        self.cache.clear();
    }

    fn cache_get<K: Serialize, C: serde::de::DeserializeOwned>(
        &mut self,
        key: &K,
    ) -> anyhow::Result<Option<C>> {
        let key = serde_json::to_string(key)?;
        match self.cache.get(&key) {
            Some(v) => Ok(Some(serde_json::from_value(v.clone())?)),
            None => Ok(None),
        }
    }

    fn cache_set<K: Serialize, C: Serialize>(
        &mut self,
        key: &K,
        content: &C,
    ) -> anyhow::Result<()> {
        self.cache
            .insert(serde_json::to_string(key)?, serde_json::to_value(content)?);
        Ok(())
    }
}

/// One entrypoint's value and what it cost.
pub(crate) struct OpaOutput {
    pub value: Value,
    pub fuel_used: u64,
    pub elapsed: Duration,
}

/// Evaluates `entrypoint` with `input` in a fresh store and instance, under `limits`.
/// An undefined result (an empty result set) is [`PolicyError::Undefined`].
pub(crate) fn evaluate(
    engine: &Engine,
    m: &OpaModule,
    limits: Limits,
    entrypoint: &str,
    input: &Value,
    now: Duration,
) -> Result<OpaOutput, PolicyError> {
    let mut store = new_store(engine, limits).map_err(|e| PolicyError::Instantiate {
        message: e.to_string(),
    })?;
    let context = FixedContext {
        now: chrono::DateTime::from_timestamp(
            i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
            now.subsec_nanos(),
        )
        .unwrap_or_default(),
        cache: HashMap::new(),
    };
    let started = Instant::now();
    let result: anyhow::Result<Value> = block_on(async {
        let runtime =
            opa_wasm::Runtime::new_with_evaluation_context(&mut store, &m.module, context).await?;
        let policy = runtime.with_data(&mut store, &m.data).await?;
        policy.evaluate(&mut store, entrypoint, input).await
    });
    let elapsed = started.elapsed();
    let fuel_left = store.get_fuel().unwrap_or(0);
    let fuel_used = limits.fuel.saturating_sub(fuel_left);
    let value = match result {
        Ok(v) => v,
        Err(e) => return Err(classify(&e, &store, limits, fuel_left, elapsed)),
    };
    // The result set: `[{"result": VALUE}]`, or `[]` when the entrypoint is undefined.
    let value = match value {
        Value::Array(set) if set.is_empty() => {
            return Err(PolicyError::Undefined {
                entrypoint: entrypoint.to_owned(),
            });
        }
        Value::Array(mut set) if set.len() == 1 => match set.pop() {
            Some(Value::Object(mut o)) if o.contains_key("result") => {
                o.remove("result").unwrap_or(Value::Null)
            }
            other => {
                return Err(PolicyError::InvalidOutput {
                    expected: "OPA result set",
                    message: format!("unexpected element {other:?}"),
                    stdout: None,
                });
            }
        },
        other => {
            return Err(PolicyError::InvalidOutput {
                expected: "OPA result set",
                message: format!("expected one result, got {other}"),
                stdout: None,
            });
        }
    };
    Ok(OpaOutput {
        value,
        fuel_used,
        elapsed,
    })
}

/// Turns a failed call into what happened: the limits are checked first (opa-wasm wraps
/// wasmtime's traps in its own errors), then traps, then opa-wasm's own message (`opa_abort`,
/// a builtin's error).
fn classify(
    e: &anyhow::Error,
    store: &Store<OpaState>,
    limits: Limits,
    fuel_left: u64,
    elapsed: Duration,
) -> PolicyError {
    if let Some(wanted) = store.data().limiter.refused {
        return limits.memory_exceeded(wanted);
    }
    let trap = e.chain().find_map(|c| c.downcast_ref::<Trap>().copied());
    match trap {
        Some(Trap::OutOfFuel) => limits.out_of_fuel(),
        Some(Trap::Interrupt) => limits.timed_out(),
        _ if fuel_left == 0 => limits.out_of_fuel(),
        _ if elapsed >= limits.timeout => limits.timed_out(),
        _ => PolicyError::Trap {
            message: format!("{e:#}"),
            stderr_tail: String::new(),
        },
    }
}

/// Runs a future to completion on this thread.
///
/// opa-wasm's API is async only because wasmtime's async API lets a host builtin await; the
/// builtins we allow ([`SUPPORTED_BUILTINS`]) do no I/O, and our stores neither yield on fuel
/// nor on epochs (they trap), so these futures are ready at their first poll. Should one ever
/// return `Pending`, its waker unparks this thread, which is all a correct executor needs. A
/// tokio runtime here would be dead weight, and the host's API stays synchronous like the WASI
/// path (callers already move policy work off their async runtime with `spawn_blocking`).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => thread::park(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::{BUNDLE_LIMIT, gunzip};

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn gunzip_gives_back_what_was_compressed_past_its_first_buffer() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut packed = gzip(&data);
        assert_eq!(gunzip(&packed).unwrap(), data);
        // The trailer's size only sizes the first buffer; a wrong one is still refused (the
        // inflater checks it, as it checks the CRC-32).
        let n = packed.len();
        packed[n - 4..].copy_from_slice(&7u32.to_le_bytes());
        assert!(gunzip(&packed).is_err(), "a bad ISIZE must not pass");
    }

    #[test]
    fn gunzip_refuses_a_bomb_a_cut_stream_and_garbage() {
        let bomb = gzip(&vec![0u8; usize::try_from(BUNDLE_LIMIT).unwrap() + 4096]);
        let e = gunzip(&bomb).unwrap_err();
        assert!(e.contains("more than 64 MiB"), "{e}");

        let packed = gzip(b"a short tarball that is cut in the middle of its stream");
        let e = gunzip(&packed[..packed.len() / 2]).unwrap_err();
        assert!(e.contains("ends early"), "{e}");

        assert!(gunzip(b"\x1f\x8bnot really gzip at all").is_err());
    }
}
