//! Helpers the built-in policies share: semantic versions (`v1.2.3-rc.1`), RFC 3339 times and
//! human durations, and comparing image references. Pure functions; no I/O.

use std::cmp::Ordering;
use std::fmt;

use jiff::{SignedDuration, Timestamp};
use promote_policy_sdk::ImageRef;

/// A semantic version; a leading `v` is accepted and build metadata is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
    /// Pre-release identifiers (`rc.1` → `["rc", "1"]`); empty for a release.
    pub pre: Vec<String>,
}

impl Version {
    /// Parses `1.2.3`, `v1.2.3`, `v1.2.3-rc.1+build.5`.
    pub fn parse(text: &str) -> Option<Self> {
        let s = text.strip_prefix('v').unwrap_or(text);
        let s = s.split_once('+').map_or(s, |(v, _)| v);
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (s, None),
        };
        let mut parts = core.split('.');
        let mut num = || -> Option<u64> {
            let p = parts.next()?;
            if p.is_empty() || (p.len() > 1 && p.starts_with('0')) {
                return None;
            }
            p.parse().ok()
        };
        let (major, minor, patch) = (num()?, num()?, num()?);
        if parts.next().is_some() {
            return None;
        }
        let pre = match pre {
            None => Vec::new(),
            Some(p) => {
                let ids: Vec<String> = p.split('.').map(str::to_owned).collect();
                if ids.iter().any(|i| i.is_empty()) {
                    return None;
                }
                ids
            }
        };
        Some(Self {
            major,
            minor,
            patch,
            pre,
        })
    }

    /// True for `1.2.3-rc.1` and the like.
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => cmp_pre(&self.pre, &other.pre),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Semver §11: numeric identifiers compare numerically and sort before alphanumeric ones.
fn cmp_pre(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(m), Ok(n)) => m.cmp(&n),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre.join("."))?;
        }
        Ok(())
    }
}

/// Parses an RFC 3339 time from the request, naming the field when it is malformed.
///
/// # Errors
/// A sentence naming `field` and the bad value.
pub fn parse_time(field: &str, value: &str) -> Result<Timestamp, String> {
    value
        .parse::<Timestamp>()
        .map_err(|e| format!("{field}: {value:?} is not an RFC 3339 time: {e}"))
}

/// `context.now` as a timestamp.
///
/// # Errors
/// When the host sent a malformed time.
pub fn now(req: &promote_policy_sdk::EvaluationRequest) -> Result<Timestamp, String> {
    parse_time("context.now", &req.context.now)
}

/// `3d 4h`, `2h 5m`, `12m`: whole minutes, for messages.
pub fn human(d: SignedDuration) -> String {
    let mins = d.as_secs().max(0) / 60;
    let (days, hours, m) = (mins / 1440, (mins / 60) % 24, mins % 60);
    match (days, hours) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{hours}h {m}m"),
        _ => format!("{days}d {hours}h"),
    }
}

/// Whether `actual` is the image `wanted` names: tags equal, and digests equal where `wanted`
/// has one.
pub fn same_image(wanted: &ImageRef, actual: &ImageRef) -> bool {
    wanted.tag == actual.tag && (wanted.digest.is_none() || wanted.digest == actual.digest)
}

/// `v1.0.1@sha256:abcd…` or `v1.0.1` for messages.
pub fn show_image(r: &ImageRef) -> String {
    let tag = r.tag.as_deref().unwrap_or("<no tag>");
    match &r.digest {
        Some(d) => format!("{tag}@{}", d.get(..19).unwrap_or(d)),
        None => tag.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_as_semver_says() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("v1.0.0-alpha") < v("1.0.0-alpha.1"));
        assert!(v("1.0.0-alpha.1") < v("1.0.0-alpha.beta"));
        assert!(v("1.0.0-beta.2") < v("1.0.0-beta.11"));
        assert!(v("1.0.0-rc.1") < v("1.0.0"));
        assert!(v("1.9.0") < v("1.10.0"));
        assert_eq!(v("v2.0.0+build.7"), v("2.0.0"));
        assert!(Version::parse("latest").is_none());
        assert!(Version::parse("1.02.3").is_none());
        assert!(Version::parse("1.2").is_none());
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(SignedDuration::from_mins(12)), "12m");
        assert_eq!(human(SignedDuration::from_mins(125)), "2h 5m");
        assert_eq!(human(SignedDuration::from_hours(75)), "3d 3h");
    }
}
