//! Does the Application deploy the overlay `promote.yaml` names? (DESIGN step 7.)

use super::facts::{Application, Sources};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedSource {
    pub repo_url: String,
    /// The overlay path inside the repo.
    pub path: String,
    /// The base branch.
    pub target_revision: String,
}

/// A difference that makes the app deploy something else than the overlay we edit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceMismatch {
    RepoUrl {
        expected: String,
        actual: String,
    },
    Path {
        expected: String,
        actual: String,
    },
    TargetRevision {
        expected: String,
        actual: String,
    },
    /// No single source to compare (none, or a source hydrator).
    NoSource,
}

/// Worth a warning, not a refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceWarning {
    /// `spec.source.kustomize.images`: Argo CD overrides the overlay's images with these.
    KustomizeImages(Vec<String>),
    /// A multi-source app: the first source matching the overlay is the one checked.
    MultiSource { count: usize },
}

/// Result of [`check_source`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceCheck {
    pub mismatches: Vec<SourceMismatch>,
    pub warnings: Vec<SourceWarning>,
}

/// `repoURL` in a comparable form: no scheme, no user, scp-style `host:path` as `host/path`,
/// host lowercased, no trailing `/` or `.git`.
pub fn normalize_repo_url(url: &str) -> String {
    let mut s = url.trim();
    let had_scheme = if let Some(i) = s.find("://") {
        s = &s[i + 3..];
        true
    } else {
        false
    };
    if let Some(at) = s.find('@')
        && !s[..at].contains('/')
    {
        s = &s[at + 1..];
    }
    let mut s = s.to_owned();
    if !had_scheme && !s.starts_with('/') && !s.starts_with('.') {
        // scp-like `host:org/repo`.
        if let Some(colon) = s.find(':')
            && !s[..colon].contains('/')
        {
            s.replace_range(colon..=colon, "/");
        }
    }
    while s.ends_with('/') {
        s.pop();
    }
    if let Some(stripped) = s.strip_suffix(".git") {
        s = stripped.to_owned();
    }
    while s.ends_with('/') {
        s.pop();
    }
    if !s.starts_with('/') {
        let host_end = s.find('/').unwrap_or(s.len());
        let host = s[..host_end].to_ascii_lowercase();
        s.replace_range(..host_end, &host);
    }
    s
}

fn normalize_path(p: &str) -> String {
    let p = p.trim().trim_start_matches("./").trim_matches('/');
    if p.is_empty() {
        ".".to_owned()
    } else {
        p.to_owned()
    }
}

fn normalize_target(t: &str) -> &str {
    let t = t.trim();
    let t = t.strip_prefix("refs/heads/").unwrap_or(t);
    if t.is_empty() { "HEAD" } else { t }
}

/// Does the app deploy the overlay `promote.yaml` names? (DESIGN step 7.)
pub fn check_source(app: &Application, expected: &ExpectedSource) -> SourceCheck {
    let mut check = SourceCheck::default();
    let source = match &app.sources {
        Sources::Single(s) => s,
        Sources::Multi(list) => {
            check
                .warnings
                .push(SourceWarning::MultiSource { count: list.len() });
            let want = normalize_path(&expected.path);
            match list
                .iter()
                .find(|s| normalize_path(&s.path) == want)
                .or(list.first())
            {
                Some(s) => s,
                None => {
                    check.mismatches.push(SourceMismatch::NoSource);
                    return check;
                }
            }
        }
        Sources::Hydrator | Sources::None => {
            check.mismatches.push(SourceMismatch::NoSource);
            return check;
        }
    };
    if normalize_repo_url(&source.repo_url) != normalize_repo_url(&expected.repo_url) {
        check.mismatches.push(SourceMismatch::RepoUrl {
            expected: expected.repo_url.clone(),
            actual: source.repo_url.clone(),
        });
    }
    if normalize_path(&source.path) != normalize_path(&expected.path) {
        check.mismatches.push(SourceMismatch::Path {
            expected: expected.path.clone(),
            actual: source.path.clone(),
        });
    }
    if normalize_target(&source.target_revision) != normalize_target(&expected.target_revision) {
        check.mismatches.push(SourceMismatch::TargetRevision {
            expected: expected.target_revision.clone(),
            actual: source.target_revision.clone(),
        });
    }
    if !source.kustomize_images.is_empty() {
        check.warnings.push(SourceWarning::KustomizeImages(
            source.kustomize_images.clone(),
        ));
    }
    check
}
