//! The release behind the tags: where an image says it was built from (its config's OCI labels
//! `org.opencontainers.image.source`, `.revision` and `.version`), and what a promotion brings in
//! as a revision range of that source, with a compare URL on the forges we know.
//!
//! Labels are written by whoever built the image: hostile input. A source must be an `https://`
//! (or `http://`) URL without credentials, query or fragment; a revision a plain commit name; a
//! version a short printable string. Anything else is dropped, and the image reads "source
//! unknown" rather than showing a link someone else chose.

use serde::Serialize;
use serde_json::Value;

use crate::forge::{ForgeError, ForgeKind};

pub const LABEL_SOURCE: &str = "org.opencontainers.image.source";
pub const LABEL_REVISION: &str = "org.opencontainers.image.revision";
pub const LABEL_VERSION: &str = "org.opencontainers.image.version";

/// What an image's config says of its source; each field only when present and well formed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageLabels {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl ImageLabels {
    /// Read from an image config blob (`{"config": {"Labels": {…}}}`).
    pub fn from_config(config: &Value) -> ImageLabels {
        let labels = config
            .get("config")
            .and_then(|c| c.get("Labels"))
            .and_then(Value::as_object);
        let get = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        ImageLabels {
            source: get(LABEL_SOURCE).and_then(clean_source),
            revision: get(LABEL_REVISION)
                .filter(|r| valid_revision(r))
                .map(str::to_owned),
            version: get(LABEL_VERSION)
                .filter(|v| v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
                .map(str::to_owned),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.source.is_none() && self.revision.is_none() && self.version.is_none()
    }
}

/// A commit name a label may carry: 4–64 of `[0-9A-Za-z._-]` not starting with `-` (a SHA,
/// or a tag name; never something a shell or URL would read differently).
pub fn valid_revision(r: &str) -> bool {
    (4..=64).contains(&r.len())
        && !r.starts_with(['-', '.'])
        && !r.contains("..")
        && r.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The source URL without a trailing `.git` or `/`, when it is a plain web URL.
fn clean_source(url: &str) -> Option<String> {
    if url.len() > 512 || !url.chars().all(|c| c.is_ascii_graphic()) {
        return None;
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    // Nothing that could end a Markdown link or an HTML attribute it is written into.
    let unsafe_chars = [
        '?', '#', '\\', '(', ')', '[', ']', '<', '>', '"', '\'', '`', '{', '}', '|',
    ];
    if host.is_empty() || host.contains('@') || path.is_empty() || url.contains(unsafe_chars) {
        return None;
    }
    if path
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return None;
    }
    let trimmed = url.trim_end_matches('/');
    Some(trimmed.strip_suffix(".git").unwrap_or(trimmed).to_owned())
}

/// What a promotion brings in for one image, as its labels tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRange {
    /// The source repository URL (`https://github.com/acme/cart`).
    pub repo: String,
    /// The revision the environment runs now, when its image says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_revision: Option<String>,
    /// The revision the promoted image was built from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_revision: Option<String>,
    /// A web page comparing the two on the source's forge, when it is one we know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare_url: Option<String>,
    /// The forge that hosts it, when known (for the commit list).
    #[serde(skip)]
    pub forge: Option<ForgeKind>,
}

impl SourceRange {
    /// `1111111..3333333` (`?` for a side the labels do not name), for lines and tables.
    pub fn short_range(&self) -> String {
        let short = |v: &Option<String>| {
            v.as_deref()
                .map_or_else(|| "?".to_owned(), |r| r.chars().take(7).collect())
        };
        format!(
            "{}..{}",
            short(&self.from_revision),
            short(&self.to_revision)
        )
    }
}

/// ` (3 commits)`-style count, empty when the forge was not asked.
pub fn commit_count(total: Option<usize>) -> String {
    total
        .map(|n| format!(" ({n} commit{})", if n == 1 { "" } else { "s" }))
        .unwrap_or_default()
}

/// The range from the old image's labels to the new one's; `None` when the new image names no
/// source (an old image from another repository counts as no `from`).
pub fn source_range(
    old: &ImageLabels,
    new: &ImageLabels,
    known: &[(String, ForgeKind)],
) -> Option<SourceRange> {
    let repo = new.source.clone()?;
    let from_revision = old
        .revision
        .clone()
        .filter(|_| old.source.as_deref() == Some(repo.as_str()));
    let forge = forge_of(&repo, known);
    let compare_url = match (&from_revision, &new.revision, forge) {
        (Some(a), Some(b), Some(kind)) if a != b => Some(compare_url(&repo, kind, a, b)),
        _ => None,
    };
    Some(SourceRange {
        repo,
        from_revision,
        to_revision: new.revision.clone(),
        compare_url,
        forge,
    })
}

/// Which forge serves `repo`: github.com and gitlab.com by name, others when `known` (the
/// forges in `promote.yaml`: base URL and kind) lists a base URL `repo` starts with.
pub fn forge_of(repo: &str, known: &[(String, ForgeKind)]) -> Option<ForgeKind> {
    if repo.starts_with("https://github.com/") {
        return Some(ForgeKind::GitHub);
    }
    if repo.starts_with("https://gitlab.com/") {
        return Some(ForgeKind::GitLab);
    }
    known.iter().find_map(|(base, kind)| {
        let base = base.trim_end_matches('/');
        repo.strip_prefix(base)
            .filter(|rest| rest.starts_with('/'))
            .map(|_| *kind)
    })
}

/// The forge's page comparing two revisions.
pub fn compare_url(repo: &str, kind: ForgeKind, from: &str, to: &str) -> String {
    match kind {
        ForgeKind::GitHub => format!("{repo}/compare/{from}...{to}"),
        ForgeKind::GitLab => format!("{repo}/-/compare/{from}...{to}"),
        ForgeKind::Gitea => format!("{repo}/compare/{from}...{to}"),
    }
}

/// One commit of a source range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceCommit {
    pub sha: String,
    /// The first line of its message.
    pub subject: String,
}

/// The commits a range brings in, as the source's forge lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Commits {
    /// The first ones, oldest first.
    pub commits: Vec<SourceCommit>,
    /// How many the range holds in all.
    pub total: usize,
}

/// A source repository's history on its forge (a client bound to that repository).
pub trait SourceHistory: Send + Sync {
    /// The commits reachable from `to` and not from `from`, oldest first, the first `limit`.
    fn commits_between(&self, from: &str, to: &str, limit: usize) -> Result<Commits, ForgeError>;
}

/// The first line of a commit message, printable and at most 200 characters.
pub fn subject_of(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    let clean: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match clean.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &clean[..i]),
        None => clean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(source: &str, revision: &str) -> ImageLabels {
        ImageLabels::from_config(&json!({"config": {"Labels": {
            LABEL_SOURCE: source, LABEL_REVISION: revision, LABEL_VERSION: "1.2.3"
        }}}))
    }

    #[test]
    fn labels_are_read_and_checked() {
        let l = labels("https://github.com/acme/cart.git", "a1b2c3d4");
        assert_eq!(l.source.as_deref(), Some("https://github.com/acme/cart"));
        assert_eq!(l.revision.as_deref(), Some("a1b2c3d4"));
        assert_eq!(l.version.as_deref(), Some("1.2.3"));
        for bad in [
            "https://user:pw@github.com/acme/cart",
            "javascript:alert(1)",
            "https://github.com/acme/cart?x=1",
            "https://github.com/../etc",
            "ftp://github.com/acme/cart",
            "https://github.com",
            "https://github.com/acme cart",
            "https://github.com/a/b)[x](https://evil.example",
            "https://github.com/a/<b>",
        ] {
            assert_eq!(labels(bad, "a1b2c3d4").source, None, "{bad}");
        }
        for bad in ["--upload-pack=x", "a..b", "abc", "a b c d", "ä1b2c3d4"] {
            assert_eq!(
                labels("https://github.com/a/b", bad).revision,
                None,
                "{bad}"
            );
        }
        assert!(ImageLabels::from_config(&json!({"config": {}})).is_empty());
        assert!(ImageLabels::from_config(&json!("not a config")).is_empty());
    }

    #[test]
    fn a_range_links_to_the_forge_that_hosts_the_source() {
        let known = [("https://git.example.com/".to_owned(), ForgeKind::Gitea)];
        let old = labels("https://github.com/acme/cart", "1111111");
        let new = labels("https://github.com/acme/cart", "2222222");
        let r = source_range(&old, &new, &known).unwrap();
        assert_eq!(
            r.compare_url.as_deref(),
            Some("https://github.com/acme/cart/compare/1111111...2222222")
        );
        let g = source_range(
            &labels("https://git.example.com/acme/cart", "1111111"),
            &labels("https://git.example.com/acme/cart", "2222222"),
            &known,
        )
        .unwrap();
        assert_eq!(g.forge, Some(ForgeKind::Gitea));
        // Unknown host: the range, no link.
        let u = source_range(
            &labels("https://code.example.org/acme/cart", "1111111"),
            &labels("https://code.example.org/acme/cart", "2222222"),
            &known,
        )
        .unwrap();
        assert_eq!((u.compare_url, u.forge), (None, None));
        // The old image came from elsewhere: no from revision.
        let moved = source_range(
            &labels("https://github.com/acme/old", "1111111"),
            &new,
            &known,
        )
        .unwrap();
        assert_eq!(moved.from_revision, None);
        assert_eq!(source_range(&new, &ImageLabels::default(), &known), None);
        // A look-alike host is not the configured forge.
        assert_eq!(
            forge_of("https://git.example.com.evil.io/a/b", &known),
            None
        );
    }
}
