//! SLSA provenance predicates (v0.2 and v1) → the [`Provenance`] facts policies read: who built
//! the digest (`builder.id`), from which repository, revision and ref, and how (`buildType`).
//! Only called on a statement whose envelope a trusted key verified.
//!
//! v0.2: `builder.id`, `buildType`, the source in `invocation.configSource` (`uri`,
//! `digest.sha1`), else the first of `materials`. v1: `runDetails.builder.id`,
//! `buildDefinition.buildType`, the source in the first of
//! `buildDefinition.resolvedDependencies` (GitHub's generator also writes
//! `externalParameters.workflow.{repository, ref}`). A source URI `git+https://host/repo@ref`
//! is split into repository and ref.

use serde_json::Value;

use promote_core::supply_chain::{Provenance, SLSA_V1};

/// Values longer than this are cut: they end up in plans and trailers.
const MAX_FIELD: usize = 512;

pub(super) fn from_predicate(predicate_type: &str, p: &Value, key: &str) -> Provenance {
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(|s| s.chars().take(MAX_FIELD).collect::<String>())
    };
    let (builder, build_type, source) = if predicate_type == SLSA_V1 {
        let source = p
            .pointer("/buildDefinition/resolvedDependencies")
            .and_then(Value::as_array)
            .and_then(|d| d.first());
        (
            text(p.pointer("/runDetails/builder/id")),
            text(p.pointer("/buildDefinition/buildType")),
            source.map(|s| (text(s.get("uri")), s.get("digest"))),
        )
    } else {
        let source = p
            .pointer("/invocation/configSource")
            .filter(|c| c.get("uri").is_some())
            .or_else(|| {
                p.get("materials")
                    .and_then(Value::as_array)
                    .and_then(|m| m.first())
            });
        (
            text(p.pointer("/builder/id")),
            text(p.get("buildType")),
            source.map(|s| (text(s.get("uri")), s.get("digest"))),
        )
    };
    let (uri, digest) = source.unwrap_or((None, None));
    let (mut repo, mut git_ref) = match uri {
        Some(u) => split_uri(&u),
        None => (None, None),
    };
    if predicate_type == SLSA_V1 {
        let workflow = p.pointer("/buildDefinition/externalParameters/workflow");
        if repo.is_none() {
            repo = text(workflow.and_then(|w| w.get("repository")));
        }
        if git_ref.is_none() {
            git_ref = text(workflow.and_then(|w| w.get("ref")));
        }
    }
    let revision = digest.and_then(|d| {
        text(d.get("sha1"))
            .or_else(|| text(d.get("gitCommit")))
            .or_else(|| text(d.get("sha256")))
    });
    Provenance {
        predicate_type: predicate_type.to_owned(),
        builder,
        source_repo: repo,
        source_revision: revision,
        source_ref: git_ref,
        build_type,
        key: key.to_owned(),
    }
}

/// `git+https://github.com/acme/shop@refs/heads/main` → (`https://github.com/acme/shop`,
/// `refs/heads/main`).
fn split_uri(uri: &str) -> (Option<String>, Option<String>) {
    let u = uri.strip_prefix("git+").unwrap_or(uri);
    // The ref follows the last `@` after the host (an `@` before it is a user name).
    let host_start = u.find("://").map_or(0, |i| i + 3);
    match u[host_start..].find('/').map(|i| host_start + i) {
        Some(path_start) => match u[path_start..].rfind('@') {
            Some(at) => (
                Some(u[..path_start + at].to_owned()),
                Some(u[path_start + at + 1..].to_owned()).filter(|r| !r.is_empty()),
            ),
            None => (Some(u.to_owned()), None),
        },
        None => (Some(u.to_owned()), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use promote_core::supply_chain::SLSA_V02;
    use serde_json::json;

    #[test]
    fn v02_reads_the_config_source() {
        let p = json!({
            "builder": {"id": "https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main"},
            "buildType": "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
            "invocation": {"configSource": {"uri": "git+https://github.com/acme/shop@refs/heads/main",
                                             "digest": {"sha1": "abc123"}, "entryPoint": "release.yml"}},
            "materials": [{"uri": "git+https://github.com/other/repo", "digest": {"sha1": "zzz"}}]
        });
        let got = from_predicate(SLSA_V02, &p, "keys/release.pub");
        assert_eq!(
            got.source_repo.as_deref(),
            Some("https://github.com/acme/shop")
        );
        assert_eq!(got.source_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(got.source_revision.as_deref(), Some("abc123"));
        assert_eq!(
            got.builder.as_deref(),
            Some("https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main")
        );
        assert_eq!(got.key, "keys/release.pub");
    }

    #[test]
    fn v02_falls_back_to_the_first_material() {
        let p = json!({"builder": {"id": "b"}, "materials": [{"uri": "git+https://git.example.com/shop.git", "digest": {"sha1": "f00"}}]});
        let got = from_predicate(SLSA_V02, &p, "k");
        assert_eq!(
            got.source_repo.as_deref(),
            Some("https://git.example.com/shop.git")
        );
        assert_eq!(got.source_ref, None);
        assert_eq!(got.source_revision.as_deref(), Some("f00"));
    }

    #[test]
    fn v1_reads_resolved_dependencies_and_the_workflow() {
        let p = json!({
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": {"workflow": {"repository": "https://github.com/acme/shop", "ref": "refs/heads/main", "path": ".github/workflows/release.yml"}},
                "resolvedDependencies": [{"uri": "git+https://github.com/acme/shop", "digest": {"gitCommit": "c0ffee"}}]
            },
            "runDetails": {"builder": {"id": "https://github.com/actions/runner"}}
        });
        let got = from_predicate(SLSA_V1, &p, "k");
        assert_eq!(
            got.source_repo.as_deref(),
            Some("https://github.com/acme/shop")
        );
        assert_eq!(got.source_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(got.source_revision.as_deref(), Some("c0ffee"));
        assert_eq!(
            got.builder.as_deref(),
            Some("https://github.com/actions/runner")
        );
        assert_eq!(
            got.build_type.as_deref(),
            Some("https://actions.github.io/buildtypes/workflow/v1")
        );
    }

    #[test]
    fn uris_split_at_the_ref_after_the_host() {
        assert_eq!(
            split_uri("git+ssh://git@github.com/acme/shop@v1.2"),
            (
                Some("ssh://git@github.com/acme/shop".into()),
                Some("v1.2".into())
            )
        );
        assert_eq!(
            split_uri("https://x.io"),
            (Some("https://x.io".into()), None)
        );
    }
}
