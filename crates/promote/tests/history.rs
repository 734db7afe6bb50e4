//! `history` and `status` against real git: who promoted a change survives a forge's merge
//! commit and squash (testbed finding G5), and trailers on a merged branch are believed only
//! when they are a promotion of this environment that wrote what the merge left.

use std::path::{Path, PathBuf};

use promote::provenance::{Merged, PromotedVia};
use promote::rollback::{OverlayChange, overlay_history};
use promote::status::{LastChange, in_git};
use promote::{Quiet, Session, Workspace};
use promote_testkit::repo::{GitOps, workspace_root};

const PROD: &str = "kustomize/prod/kustomization.yaml";
const ANA: &str = "Ana Platform <ana@example.com>";

/// The example repository, and a clone of it that plays the forge: it pushes promotion branches
/// and merges them into `main` as the PM who presses the button.
fn forge() -> (GitOps, PathBuf) {
    let kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    let dir = kit.root().join("forge");
    kit.git_in(
        kit.root(),
        &["clone", "--quiet", kit.origin.to_str().unwrap(), "forge"],
    );
    kit.git_in(&dir, &["config", "user.name", "Pat PM"]);
    kit.git_in(&dir, &["config", "user.email", "pm@example.com"]);
    (kit, dir)
}

/// Pushes `promote/ENV/VERSION` with one promotion commit by Ana that sets every image of
/// prod's overlay to `version`, with these trailers; returns its SHA. `main` stays checked out.
fn push_promotion(kit: &GitOps, dir: &Path, env: &str, version: &str, trailers: &str) -> String {
    let branch = format!("promote/prod/{version}");
    kit.git_in(dir, &["checkout", "--quiet", "-b", &branch, "main"]);
    set_prod(dir, version);
    let message = format!(
        "Promote prod to {version}\n\n{trailers}\nPromote-Environment: {env}\nPromote-Version: {version}\n"
    );
    commit(kit, dir, &message, Some(ANA));
    kit.git_in(dir, &["push", "--quiet", "origin", &branch]);
    let sha = kit.git_in(dir, &["rev-parse", "HEAD"]).trim().to_owned();
    kit.git_in(dir, &["checkout", "--quiet", "main"]);
    sha
}

fn set_prod(dir: &Path, version: &str) {
    let path = dir.join(PROD);
    let text = std::fs::read_to_string(&path).unwrap();
    let current = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("newTag: "))
        .unwrap()
        .to_owned();
    std::fs::write(&path, text.replace(&current, version)).unwrap();
}

fn commit(kit: &GitOps, dir: &Path, message: &str, author: Option<&str>) {
    let mut args = vec!["commit", "--quiet", "-a", "-m", message];
    if let Some(a) = author {
        args.extend(["--author", a]);
    }
    kit.git_in(dir, &args);
}

/// The forge's merge button: a merge commit by the PM.
fn merge(kit: &GitOps, dir: &Path, branch: &str) {
    let message = format!("Merge pull request 'Promote' (#1) from {branch} into main");
    kit.git_in(
        dir,
        &["merge", "--quiet", "--no-ff", branch, "-m", &message],
    );
    kit.git_in(dir, &["push", "--quiet", "origin", "main"]);
}

/// The forge's squash button: the branch's change as one commit by the PM, titled as the pull
/// request (Gitea's squash message; no trailers of ours).
fn squash(kit: &GitOps, dir: &Path, branch: &str) {
    kit.git_in(dir, &["merge", "--quiet", "--squash", branch]);
    commit(
        kit,
        dir,
        "Promote prod to v1.0.2 (#2)\n\nCo-authored-by: Ana Platform <ana@example.com>\n",
        None,
    );
    kit.git_in(dir, &["push", "--quiet", "origin", "main"]);
}

fn session(kit: &GitOps) -> Session {
    let ws = Workspace {
        cwd: kit.clone.clone(),
        cache_dir: kit.home.join(".cache/kubectl-promote"),
        ..Default::default()
    };
    Session::open(&ws, &Quiet).unwrap()
}

/// The newest overlay change of prod (`history`), and its last change (`status`).
fn newest(kit: &GitOps) -> (OverlayChange, LastChange) {
    let s = session(kit);
    let change = overlay_history(&s, "prod", 1).unwrap().remove(0);
    let last = in_git(&s, Some("prod"))
        .unwrap()
        .remove(0)
        .last_change
        .unwrap();
    (change, last)
}

#[test]
fn a_merge_commit_names_the_promoter_of_the_commit_it_brings_in() {
    let (kit, dir) = forge();
    let promoted = push_promotion(&kit, &dir, "prod", "v1.0.1", &format!("Promoted-By: {ANA}"));
    merge(&kit, &dir, "promote/prod/v1.0.1");
    let (change, last) = newest(&kit);
    let via = Some(PromotedVia {
        how: Merged::Merge,
        commit: promoted,
    });
    assert!(
        change.subject.starts_with("Merge pull request"),
        "{change:?}"
    );
    assert_eq!(change.promoted_by.as_deref(), Some(ANA));
    assert_eq!(change.promoted_via, via);
    assert_eq!(last.by, ANA, "not the PM who merged: {last:?}");
    assert_eq!(last.promoted_version.as_deref(), Some("v1.0.1"));
    assert_eq!(last.promoted_via, via);
    let json = serde_json::to_value(&change).unwrap();
    assert_eq!(json["promotedVia"]["how"], "merge", "{json}");
}

#[test]
fn a_squash_names_the_promoter_of_the_branch_it_matches() {
    let (kit, dir) = forge();
    let promoted = push_promotion(&kit, &dir, "prod", "v1.0.2", &format!("Promoted-By: {ANA}"));
    squash(&kit, &dir, "promote/prod/v1.0.2");
    let (change, last) = newest(&kit);
    let via = Some(PromotedVia {
        how: Merged::Squash,
        commit: promoted,
    });
    assert_eq!(change.promoted_by.as_deref(), Some(ANA), "{change:?}");
    assert_eq!(change.promoted_via, via);
    assert_eq!(last.by, ANA);
    assert_eq!(last.promoted_via, via);
}

#[test]
fn a_merged_branch_is_believed_only_for_a_promotion_of_this_environment_that_wrote_what_the_merge_left()
 {
    // Trailers that claim another environment.
    let (kit, dir) = forge();
    push_promotion(
        &kit,
        &dir,
        "staging",
        "v1.0.1",
        &format!("Promoted-By: {ANA}"),
    );
    merge(&kit, &dir, "promote/prod/v1.0.1");
    let (change, last) = newest(&kit);
    assert_eq!(change.promoted_by, None, "{change:?}");
    assert_eq!(change.promoted_via, None);
    assert_eq!(last.by, "Pat PM <pm@example.com>", "the merger, as before");

    // No trailers of ours at all.
    let (kit, dir) = forge();
    push_promotion(&kit, &dir, "prod", "v1.0.1", "Reviewed-By: someone");
    merge(&kit, &dir, "promote/prod/v1.0.1");
    assert_eq!(newest(&kit).0.promoted_by, None);

    // The merge left another overlay than the promotion wrote (resolved by hand).
    let (kit, dir) = forge();
    push_promotion(&kit, &dir, "prod", "v1.0.1", &format!("Promoted-By: {ANA}"));
    kit.git_in(
        &dir,
        &[
            "merge",
            "--quiet",
            "--no-ff",
            "--no-commit",
            "promote/prod/v1.0.1",
        ],
    );
    set_prod(&dir, "v1.0.9");
    kit.git_in(&dir, &["add", PROD]);
    commit(&kit, &dir, "Merge, edited", None);
    kit.git_in(&dir, &["push", "--quiet", "origin", "main"]);
    let (change, last) = newest(&kit);
    assert_eq!(change.promoted_by, None, "{change:?}");
    assert_eq!(last.promoted_via, None);

    // A squash-like commit of the branch's version that is not what the branch wrote.
    let (kit, dir) = forge();
    push_promotion(&kit, &dir, "prod", "v1.0.2", &format!("Promoted-By: {ANA}"));
    set_prod(&dir, "v1.0.2");
    let path = dir.join(PROD);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("# edited by hand\n{text}")).unwrap();
    commit(&kit, &dir, "hand edit", None);
    kit.git_in(&dir, &["push", "--quiet", "origin", "main"]);
    assert_eq!(newest(&kit).0.promoted_by, None);
}
