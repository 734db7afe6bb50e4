//! One call of a WASI command: a fresh `Store` from the module's `InstancePre` with argv
//! `["policy", OP]`, the input on stdin, capped in-memory stdout/stderr, no preopened
//! directories, an empty environment, virtual clocks (see `clock`), random bytes seeded from
//! the module digest and the clock, fuel, an epoch deadline and `StoreLimits`; then what its
//! exit, trap or output means.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{InstancePre, Store, Trap};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use super::{Host, Kind, Policy};
use crate::clock::{HasVirtualTime, VirtualTime};
use crate::limits::{Limiter, Limits, arm};
use crate::{PolicyError, Sha256};

/// Cap on a policy's stdout.
pub const STDOUT_LIMIT: usize = 1 << 20;
/// Cap on a policy's stderr.
pub const STDERR_LIMIT: usize = 64 << 10;
/// How much of stderr an exit or trap error quotes.
const STDERR_TAIL: usize = 1024;

/// The store data of one WASI call.
pub(crate) struct GuestState {
    pub(crate) wasi: WasiP1Ctx,
    limiter: Limiter,
    time: Arc<VirtualTime>,
}

impl HasVirtualTime for GuestState {
    fn virtual_time(&self) -> &VirtualTime {
        &self.time
    }
}

/// What a call printed and cost.
pub(crate) struct RunOutput {
    pub(crate) stdout: Vec<u8>,
    pub(crate) log: String,
    pub(crate) fuel_used: u64,
    pub(crate) elapsed: Duration,
}

/// A call's stdout and stderr, each capped one byte past its limit so an overflow shows.
struct Pipes {
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl Host {
    /// Runs the WASI command `op` of `policy` with `input` on stdin, its clocks at `now`.
    pub(crate) fn run(
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
        let pipes = Pipes {
            stdout: MemoryOutputPipe::new(STDOUT_LIMIT + 1),
            stderr: MemoryOutputPipe::new(STDERR_LIMIT + 1),
        };
        let state = guest_state(&policy.sha256, op, input, now, &pipes, limits);
        let _slot = self.slots.take();
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        arm(&mut store, limits).map_err(|e| PolicyError::Instantiate {
            message: e.to_string(),
        })?;
        let started = Instant::now();
        let result = start(pre, &mut store);
        let elapsed = started.elapsed();
        let fuel_used = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let refused = store.data().limiter.refused;
        let (out, err) = (pipes.stdout.contents(), pipes.stderr.contents());
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
            failed(&e, refused, limits, &log)?;
        }
        Ok(RunOutput {
            stdout: out.to_vec(),
            log,
            fuel_used,
            elapsed,
        })
    }
}

/// The WASI context of one call: argv, stdin, the pipes, virtual clocks, seeded randomness.
fn guest_state(
    sha256: &Sha256,
    op: &str,
    input: Vec<u8>,
    now: Duration,
    pipes: &Pipes,
    limits: Limits,
) -> GuestState {
    let seed = seed(sha256, now);
    let time = VirtualTime::new(now);
    let wasi = WasiCtxBuilder::new()
        .args(&["policy", op])
        .stdin(MemoryInputPipe::new(input))
        .stdout(pipes.stdout.clone())
        .stderr(pipes.stderr.clone())
        .wall_clock(time.wall_clock())
        .monotonic_clock(time.monotonic_clock())
        .secure_random(wasmtime_wasi::Deterministic::new(random_bytes(seed)))
        .insecure_random(wasmtime_wasi::Deterministic::new(random_bytes(
            seed ^ 0x9e37,
        )))
        .insecure_random_seed(u128::from(seed))
        .build_p1();
    GuestState {
        wasi,
        limiter: Limiter::new(limits, 1),
        time,
    }
}

thread_local! {
    /// wasmtime-wasi runs every WASI call of a synchronous guest through a Tokio runtime, and
    /// without one around it starts its own multi-threaded one (a worker thread per core) on the
    /// first call. A guest's stdin, stdout, stderr and clocks are in memory and its
    /// `poll_oneoff` is ours, so no call ever waits: one current-thread runtime per host thread
    /// does the same without the workers.
    static GUEST_RUNTIME: Option<tokio::runtime::Runtime> =
        tokio::runtime::Builder::new_current_thread().build().ok();
}

/// Instantiates the module in `store` and calls its `_start`, inside a runtime of ours unless
/// the caller is already inside one.
fn start(pre: &InstancePre<GuestState>, store: &mut Store<GuestState>) -> wasmtime::Result<()> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return call_start(pre, store);
    }
    GUEST_RUNTIME.with(|rt| match rt {
        Some(rt) => {
            let _inside = rt.enter();
            call_start(pre, store)
        }
        None => call_start(pre, store),
    })
}

fn call_start(
    pre: &InstancePre<GuestState>,
    store: &mut Store<GuestState>,
) -> wasmtime::Result<()> {
    let instance = pre.instantiate(&mut *store)?;
    let start = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
    start.call(store, ())
}

/// What a call that did not return normally means: `exit(0)` is success; a refused memory
/// growth, whatever came after it, is the memory limit; else the exit code or the trap.
fn failed(
    e: &wasmtime::Error,
    refused: Option<u64>,
    limits: Limits,
    log: &str,
) -> Result<(), PolicyError> {
    let code = e.downcast_ref::<I32Exit>().map(|x| x.0);
    if code == Some(0) {
        return Ok(());
    }
    if let Some(wanted) = refused {
        return Err(limits.memory_exceeded(wanted));
    }
    Err(match (code, e.downcast_ref::<Trap>()) {
        (Some(code), _) => PolicyError::Exit {
            code,
            stderr_tail: tail(log),
        },
        (None, Some(Trap::OutOfFuel)) => limits.out_of_fuel(),
        (None, Some(Trap::Interrupt)) => limits.timed_out(),
        (None, Some(trap)) => PolicyError::Trap {
            message: trap.to_string(),
            stderr_tail: tail(log),
        },
        (None, None) => PolicyError::Trap {
            message: format!("{e:#}"),
            stderr_tail: tail(log),
        },
    })
}

/// The last [`STDERR_TAIL`] bytes of the log, trimmed, on a char boundary.
fn tail(log: &str) -> String {
    let t = log.trim_end();
    let mut start = t.len().saturating_sub(STDERR_TAIL);
    while !t.is_char_boundary(start) {
        start += 1;
    }
    crate::printable::log(t[start..].trim_start())
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
