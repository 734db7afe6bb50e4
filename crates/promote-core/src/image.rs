//! Images as an overlay pins them (tag and digest), the changes a promotion plans, and the
//! version an environment runs ("the tag all its images share, else `mixed`").

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What an overlay pins for one image: its tag and its digest, either of which may be absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ImageRef {
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn tag(tag: impl Into<String>) -> Self {
        ImageRef {
            tag: Some(tag.into()),
            digest: None,
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.tag, &self.digest) {
            (Some(t), Some(d)) => write!(f, "{t}@{}", short_digest(d)),
            (Some(t), None) => f.write_str(t),
            (None, Some(d)) => write!(f, "@{}", short_digest(d)),
            (None, None) => f.write_str("(unset)"),
        }
    }
}

/// `sha256:0123456789ab…` for tables; full digests stay in files, trailers and JSON.
pub fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => format!("{alg}:{}", &hex[..12]),
        _ => d.to_owned(),
    }
}

/// One image a promotion changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageChange {
    pub name: String,
    pub new_name: Option<String>,
    pub from: ImageRef,
    pub to: ImageRef,
}

/// The version an environment runs: the tag all its images share, else mixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvVersion {
    /// Every image carries this tag.
    Uniform(String),
    /// Images carry different tags (or some none): see the per-image map.
    Mixed,
    /// The overlay pins no tag at all.
    Unpinned,
}

impl EnvVersion {
    pub fn of<'a>(images: impl IntoIterator<Item = &'a ImageRef>) -> EnvVersion {
        let mut tags = images.into_iter().map(|i| i.tag.as_deref());
        let Some(first) = tags.next() else {
            return EnvVersion::Unpinned;
        };
        if tags.all(|t| t == first) {
            match first {
                Some(t) => EnvVersion::Uniform(t.to_owned()),
                None => EnvVersion::Unpinned,
            }
        } else {
            EnvVersion::Mixed
        }
    }

    /// The form used in JSON, the policy request and tables: the tag, `mixed`, or null.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            EnvVersion::Uniform(t) => Some(t),
            EnvVersion::Mixed => Some("mixed"),
            EnvVersion::Unpinned => None,
        }
    }
}

impl fmt::Display for EnvVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str().unwrap_or("(no tag)"))
    }
}

/// Per-image pins of an environment, by image name.
pub type ImageMap = BTreeMap<String, ImageRef>;

/// The OCI tag grammar [`valid_tag`] checks, for messages.
pub const TAG_RULE: &str = "`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` (the OCI tag grammar: letters, digits, `_`, `.` and `-`, at most 128 characters, not starting with `.` or `-`)";

/// Is `tag` a valid OCI tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`)?
pub fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Is `digest` a well-formed content digest (`sha256:` + 64 hex, `sha512:` + 128 hex)?
pub fn valid_digest(digest: &str) -> bool {
    let hex_ok = |h: &str, n: usize| {
        h.len() == n
            && h.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    };
    match digest.split_once(':') {
        Some(("sha256", h)) => hex_ok(h, 64),
        Some(("sha512", h)) => hex_ok(h, 128),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_shared_tag_or_mixed() {
        let a = ImageRef::tag("v1");
        let b = ImageRef::tag("v2");
        assert_eq!(EnvVersion::of([&a, &a]), EnvVersion::Uniform("v1".into()));
        assert_eq!(EnvVersion::of([&a, &b]), EnvVersion::Mixed);
        assert_eq!(
            EnvVersion::of([&a, &ImageRef::default()]),
            EnvVersion::Mixed
        );
        assert_eq!(EnvVersion::of(std::iter::empty()), EnvVersion::Unpinned);
    }

    #[test]
    fn tags_and_digests_are_checked() {
        assert!(valid_tag("v1.0.1") && valid_tag("1234") && valid_tag("_x"));
        assert!(
            !valid_tag("-x") && !valid_tag("a:b") && !valid_tag("") && !valid_tag(&"a".repeat(129))
        );
        assert!(valid_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!valid_digest("sha256:abc") && !valid_digest(&format!("md5:{}", "a".repeat(64))));
    }
}
