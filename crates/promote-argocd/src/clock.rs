//! Now, from the system clock, as core [`Timestamp`]s.

use promote_core::argocd::Timestamp;

/// Now, as a core [`Timestamp`] (second precision, as Kubernetes writes times).
pub fn now() -> Timestamp {
    Timestamp::from_unix(jiff::Timestamp::now().as_second())
}

/// Now with nanoseconds, for the `refresh-timestamp` annotation (RFC 3339 with a fraction).
pub(crate) fn now_precise() -> Timestamp {
    let t = jiff::Timestamp::now();
    Timestamp::from_unix_nanos(
        t.as_second(),
        u32::try_from(t.subsec_nanosecond()).unwrap_or(0),
    )
}
