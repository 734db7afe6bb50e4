//! The clock port: the time it is, and the time decisions are made at (`context.now` of the
//! policies and the instant sync windows are judged at), which a caller may pin
//! (`KUBECTL_PROMOTE_NOW`) for reproducible runs and tests of time-dependent policies.

/// Where the use cases get the time from.
pub trait Clock: Send + Sync {
    /// The time it is: what records carry (an approval's `at`, a rollback's annotations).
    fn now(&self) -> jiff::Timestamp;

    /// The time decisions see, as RFC 3339: pinned by the caller where it was, else
    /// [`Clock::now`] in UTC to the second. Handed to policies verbatim.
    fn decision_time(&self) -> String {
        format_utc(self.now())
    }
}

/// The system clock, with the decision time pinned when `pinned` is set.
#[derive(Debug, Clone, Default)]
pub struct SystemClock {
    /// `KUBECTL_PROMOTE_NOW` (RFC 3339), taken as written.
    pub pinned: Option<String>,
}

impl Clock for SystemClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }

    fn decision_time(&self) -> String {
        self.pinned
            .clone()
            .unwrap_or_else(|| format_utc(self.now()))
    }
}

/// `2026-11-24T10:00:00Z`: UTC to the second, as Kubernetes writes times.
pub fn format_utc(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Seconds since the epoch (a commit's time) as [`format_utc`] writes them; empty when out of
/// range.
pub fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(format_utc)
        .unwrap_or_default()
}
