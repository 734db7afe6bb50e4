//! The guest's time: virtual, never the host's.
//!
//! A call's wall clock starts at the request's `context.now` and its monotonic clock at zero,
//! advancing 1 µs per read so loops that wait for it to move are not stuck. Neither follows the
//! host's clock, so neither may a sleep: WASI's `poll_oneoff` with a clock subscription (Rust's
//! `thread::sleep`, Go's `time.Sleep` and its scheduler's idle wait) would otherwise block the
//! host thread for as long as the guest asks, far past the call's deadline, since an epoch
//! deadline only interrupts guest code, never a host call. Here `poll_oneoff` is ours: a sleep
//! returns at once with both clocks moved forward by the time slept, so a module that sleeps
//! 60 s sees 60 s pass, and the same module and request still give the same answer every time.
//! What bounds such a module is what bounds any other: fuel and the wall-time deadline.
//!
//! Only stdin (fd 0) and stdout/stderr (fd 1, 2) exist in the sandbox, all in-memory pipes that
//! never block: an fd subscription on them is ready at once; any other fd is `EBADF`, as in
//! wasmtime-wasi's own `poll_oneoff`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::{Caller, Extern, Linker, Trap};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// What the monotonic clock advances per read.
const STEP_NS: u64 = 1_000;
/// WASI preview1 layouts: `subscription` and `event` sizes.
const SUBSCRIPTION_SIZE: u64 = 48;
const EVENT_SIZE: u64 = 32;
/// Fuel charged per subscription: the bytes the host reads and writes for it, as wasmtime-wasi
/// charges its host calls for the arrays they copy.
const FUEL_PER_SUBSCRIPTION: u64 = SUBSCRIPTION_SIZE + EVENT_SIZE;

/// WASI `errno` values `poll_oneoff` returns.
mod errno {
    pub(super) const SUCCESS: i32 = 0;
    pub(super) const BADF: i32 = 8;
    pub(super) const FAULT: i32 = 21;
    pub(super) const INVAL: i32 = 28;
    pub(super) const OVERFLOW: i32 = 61;
}

/// WASI `eventtype` and `clockid` values.
const EVENT_CLOCK: u8 = 0;
const EVENT_FD_READ: u8 = 1;
const EVENT_FD_WRITE: u8 = 2;
const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;
/// `subclockflags::subscription_clock_abstime`.
const ABSTIME: u16 = 1;

/// One call's virtual time, shared by its two clocks and its `poll_oneoff`.
#[derive(Debug)]
pub(crate) struct VirtualTime {
    /// `context.now`, since the Unix epoch.
    start: Duration,
    /// The monotonic clock, ns.
    monotonic: AtomicU64,
    /// Time slept so far, ns: how far the wall clock is past `start`.
    slept: AtomicU64,
}

impl VirtualTime {
    /// Time that starts at `now` (the request's `context.now`).
    pub(crate) fn new(now: Duration) -> Arc<Self> {
        Arc::new(Self {
            start: now,
            monotonic: AtomicU64::new(0),
            slept: AtomicU64::new(0),
        })
    }

    /// The guest's wall clock.
    pub(crate) fn wall_clock(self: &Arc<Self>) -> impl HostWallClock + use<> {
        Wall(Arc::clone(self))
    }

    /// The guest's monotonic clock.
    pub(crate) fn monotonic_clock(self: &Arc<Self>) -> impl HostMonotonicClock + use<> {
        Monotonic(Arc::clone(self))
    }

    fn wall_ns(&self) -> u64 {
        let start = u64::try_from(self.start.as_nanos()).unwrap_or(u64::MAX);
        start.saturating_add(self.slept.load(Ordering::Relaxed))
    }

    fn monotonic_ns(&self) -> u64 {
        self.monotonic.load(Ordering::Relaxed)
    }

    /// Moves both clocks forward by `ns` (a sleep).
    fn sleep(&self, ns: u64) {
        // One guest call runs on one thread at a time: plain load/store pairs are enough, the
        // atomics only make the clocks `Send + Sync` as WASI's clock traits need.
        let m = self.monotonic.load(Ordering::Relaxed);
        self.monotonic
            .store(m.saturating_add(ns), Ordering::Relaxed);
        let s = self.slept.load(Ordering::Relaxed);
        self.slept.store(s.saturating_add(ns), Ordering::Relaxed);
    }
}

struct Wall(Arc<VirtualTime>);

impl HostWallClock for Wall {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.wall_ns())
    }
}

struct Monotonic(Arc<VirtualTime>);

impl HostMonotonicClock for Monotonic {
    fn resolution(&self) -> u64 {
        STEP_NS
    }
    fn now(&self) -> u64 {
        self.0.monotonic.fetch_add(STEP_NS, Ordering::Relaxed)
    }
}

/// Access to a store's virtual time, for the `poll_oneoff` defined by [`add_poll_oneoff`].
pub(crate) trait HasVirtualTime {
    fn virtual_time(&self) -> &VirtualTime;
}

/// Replaces wasmtime-wasi's `wasi_snapshot_preview1::poll_oneoff` in `linker` (which must
/// already hold the WASI preview1 functions) with the virtual-time one described above.
pub(crate) fn add_poll_oneoff<T: HasVirtualTime + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "poll_oneoff",
        |mut caller: Caller<'_, T>, subs: i32, events: i32, n: i32, out: i32| {
            poll_oneoff(&mut caller, subs, events, n, out)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A subscription as read from guest memory.
enum Subscription {
    /// Ready when the monotonic clock reaches `deadline` (ns).
    Clock { userdata: u64, deadline: u64 },
    /// fd 0 for reading, fd 1 or 2 for writing: always ready.
    Fd { userdata: u64, kind: u8 },
}

fn poll_oneoff<T: HasVirtualTime>(
    caller: &mut Caller<'_, T>,
    subs: i32,
    events: i32,
    n: i32,
    out: i32,
) -> wasmtime::Result<i32> {
    // WASI pointers and sizes are u32 reinterpreted as i32 by the ABI.
    let (subs, events, n, out) = (
        u64::from(subs.cast_unsigned()),
        u64::from(events.cast_unsigned()),
        u64::from(n.cast_unsigned()),
        u64::from(out.cast_unsigned()),
    );
    if n == 0 {
        // As wasmtime-wasi: sleeping forever is not supported.
        return Ok(errno::INVAL);
    }
    let Some(memory) = caller.get_export("memory").and_then(Extern::into_memory) else {
        wasmtime::bail!("poll_oneoff: the module exports no `memory`");
    };
    let size = memory.data_size(&caller) as u64;
    let fits = |at: u64, len: u64| at.checked_add(len).is_some_and(|end| end <= size);
    let (Some(sub_bytes), Some(event_bytes)) =
        (n.checked_mul(SUBSCRIPTION_SIZE), n.checked_mul(EVENT_SIZE))
    else {
        return Ok(errno::OVERFLOW);
    };
    if !fits(subs, sub_bytes) || !fits(events, event_bytes) || !fits(out, 4) {
        return Ok(errno::FAULT);
    }
    charge(caller, n)?;
    let time = caller.data().virtual_time();
    let (now, wall) = (time.monotonic_ns(), time.wall_ns());
    let parsed = match read_subscriptions(memory.data(&caller), subs, n, now, wall)? {
        Ok(parsed) => parsed,
        Err(errno) => return Ok(errno),
    };
    let now = advance(time, &parsed, now);
    let written = write_events(memory.data_mut(&mut *caller), events, &parsed, now)?;
    let at = usize::try_from(out)?;
    memory.data_mut(caller)[at..at + 4].copy_from_slice(&written.to_le_bytes());
    Ok(errno::SUCCESS)
}

/// The guest pays for the host's work in fuel, so a huge subscription list is bounded by its
/// fuel as its own loops are.
fn charge<T>(caller: &mut Caller<'_, T>, n: u64) -> wasmtime::Result<()> {
    let fuel = caller.get_fuel()?;
    let cost = n.saturating_mul(FUEL_PER_SUBSCRIPTION);
    if cost > fuel {
        caller.set_fuel(0)?;
        return Err(Trap::OutOfFuel.into());
    }
    caller.set_fuel(fuel - cost)
}

/// The `n` subscriptions at `subs` (already checked to lie in `data`), with clock deadlines on
/// the monotonic clock; `Ok(Err(errno))` for one the sandbox refuses.
fn read_subscriptions(
    data: &[u8],
    subs: u64,
    n: u64,
    now: u64,
    wall: u64,
) -> wasmtime::Result<Result<Vec<Subscription>, i32>> {
    let mut parsed = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(1024));
    for i in 0..n {
        let at = usize::try_from(subs + i * SUBSCRIPTION_SIZE)?;
        let s = &data[at..at + SUBSCRIPTION_SIZE as usize];
        match subscription(s, now, wall) {
            Ok(sub) => parsed.push(sub),
            Err(errno) => return Ok(Err(errno)),
        }
    }
    Ok(Ok(parsed))
}

/// One `subscription` record.
fn subscription(s: &[u8], now: u64, wall: u64) -> Result<Subscription, i32> {
    let userdata = u64_at(s, 0);
    match s[8] {
        EVENT_CLOCK => {
            let (id, timeout, flags) = (u32_at(s, 16), u64_at(s, 24), u16_at(s, 40));
            let absolute = flags & ABSTIME != 0;
            let deadline = match (id, absolute) {
                (CLOCK_MONOTONIC, true) => timeout,
                (CLOCK_MONOTONIC | CLOCK_REALTIME, false) => now.saturating_add(timeout),
                // An absolute wall time: as long from now as it is past the wall clock.
                (CLOCK_REALTIME, true) => now.saturating_add(timeout.saturating_sub(wall)),
                // CPU-time clocks: refused, as wasmtime-wasi does.
                _ => return Err(errno::INVAL),
            };
            Ok(Subscription::Clock { userdata, deadline })
        }
        kind @ (EVENT_FD_READ | EVENT_FD_WRITE) => {
            let fd = u32_at(s, 16);
            let ok = (kind == EVENT_FD_READ && fd == 0)
                || (kind == EVENT_FD_WRITE && (fd == 1 || fd == 2));
            if !ok {
                return Err(errno::BADF);
            }
            Ok(Subscription::Fd { userdata, kind })
        }
        _ => Err(errno::INVAL),
    }
}

/// Ready at once: every fd, and every clock already due. With none of those, sleeps (in
/// virtual time) until the earliest clock is due. Returns the monotonic time after.
fn advance(time: &VirtualTime, parsed: &[Subscription], now: u64) -> u64 {
    let any_fd = parsed.iter().any(|s| matches!(s, Subscription::Fd { .. }));
    let due = parsed.iter().any(|s| match s {
        Subscription::Clock { deadline, .. } => *deadline <= now,
        Subscription::Fd { .. } => true,
    });
    if any_fd || due {
        return now;
    }
    let earliest = parsed
        .iter()
        .filter_map(|s| match s {
            Subscription::Clock { deadline, .. } => Some(*deadline),
            Subscription::Fd { .. } => None,
        })
        .min()
        .unwrap_or(now);
    time.sleep(earliest - now);
    earliest
}

/// Writes an `event` for each ready subscription at `events`; returns how many.
fn write_events(
    data: &mut [u8],
    events: u64,
    parsed: &[Subscription],
    now: u64,
) -> wasmtime::Result<u32> {
    let mut written: u32 = 0;
    for s in parsed {
        let (userdata, kind) = match *s {
            Subscription::Clock { userdata, deadline } if deadline <= now => {
                (userdata, EVENT_CLOCK)
            }
            Subscription::Clock { .. } => continue,
            Subscription::Fd { userdata, kind } => (userdata, kind),
        };
        let at = usize::try_from(events + u64::from(written) * EVENT_SIZE)?;
        let e = &mut data[at..at + EVENT_SIZE as usize];
        e.fill(0);
        e[0..8].copy_from_slice(&userdata.to_le_bytes());
        e[10] = kind;
        if kind != EVENT_CLOCK {
            // One byte can be read or written without blocking, as wasmtime-wasi reports.
            e[16..24].copy_from_slice(&1u64.to_le_bytes());
        }
        written += 1;
    }
    Ok(written)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
