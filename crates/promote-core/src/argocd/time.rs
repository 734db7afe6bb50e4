//! Time as Kubernetes writes it (`metav1.Time`, RFC 3339), on `jiff`.

use std::fmt;

/// A point in time as Kubernetes writes it (`metav1.Time`, RFC 3339), so `reconciledAt >=
/// finishedAt` is a comparison of instants, not of strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(jiff::Timestamp);

impl Timestamp {
    /// From seconds since the Unix epoch (clamped to what `jiff` represents, years -9999..=9999).
    pub fn from_unix(secs: i64) -> Self {
        Self::from_unix_nanos(secs, 0)
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.0.as_second()
    }

    /// From seconds and nanoseconds since the Unix epoch.
    pub fn from_unix_nanos(secs: i64, nanos: u32) -> Self {
        let nanos = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        let t = jiff::Timestamp::from_nanosecond(nanos).unwrap_or(if nanos < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        });
        Timestamp(t)
    }

    /// Go's `time.RFC3339Nano`: UTC, trailing zeros of the fraction dropped.
    pub fn to_rfc3339_nanos(self) -> String {
        // jiff prints the fraction only when there is one, without trailing zeros.
        self.0.to_string()
    }

    /// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`), as Kubernetes and Argo CD write
    /// times. `None` for anything else: the text comes from the cluster and is not trusted.
    pub fn parse(text: &str) -> Option<Self> {
        text.parse::<jiff::Timestamp>().ok().map(Timestamp)
    }

    /// The `jiff` instant, for calendar work (sync windows).
    pub fn as_jiff(self) -> jiff::Timestamp {
        self.0
    }
}

impl From<jiff::Timestamp> for Timestamp {
    fn from(t: jiff::Timestamp) -> Self {
        Timestamp(t)
    }
}

impl fmt::Display for Timestamp {
    /// `metav1.Time` form: UTC, second precision, `Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.strftime("%Y-%m-%dT%H:%M:%SZ"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_and_order() {
        let t = Timestamp::parse("2026-08-22T10:00:00Z").unwrap();
        assert_eq!(t.to_string(), "2026-08-22T10:00:00Z");
        assert_eq!(Timestamp::parse("2026-08-22T12:00:00+02:00"), Some(t));
        assert!(Timestamp::parse("2026-08-22T10:00:00.5Z").unwrap() > t);
        assert_eq!(Timestamp::from_unix(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::parse("2000-02-29T00:00:00Z")
                .unwrap()
                .unix_seconds(),
            951_782_400
        );
        assert_eq!(Timestamp::parse("yesterday"), None);
        let n = Timestamp::from_unix_nanos(0, 120_000_000);
        assert_eq!(n.to_rfc3339_nanos(), "1970-01-01T00:00:00.12Z");
        assert_eq!(Timestamp::parse(&n.to_rfc3339_nanos()), Some(n));
        assert_eq!(
            Timestamp::from_unix(0).to_rfc3339_nanos(),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn hostile_times_are_refused_or_clamped_never_a_panic() {
        for bad in [
            "",
            "2026-02-30T00:00:00Z",
            "2026-08-22T25:00:00Z",
            "2026-08-22T10:00:00",
            "99999-01-01T00:00:00Z",
            "2026-08-22T10:00:00+99:00",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Timestamp::from_unix(i64::MAX).as_jiff(),
            jiff::Timestamp::MAX
        );
        assert_eq!(
            Timestamp::from_unix(i64::MIN).as_jiff(),
            jiff::Timestamp::MIN
        );
        assert_eq!(
            Timestamp::from_unix_nanos(1, 1_500_000_000).unix_seconds(),
            2
        );
    }
}
