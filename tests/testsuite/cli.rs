//! End-to-end scenarios of the promotion path through the real binary, real git and the real
//! `kubectl` (render check and plugin discovery). Each test builds its own bare origin.

use std::path::Path;
use std::process::Command;

use promote_testkit::repo::{GitOps, Run, workspace_root};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");

fn run_in(kit: &GitOps, dir: &Path, args: &[&str]) -> Run {
    kit.run_bin(BIN, dir, &[], args)
}

fn run(kit: &GitOps, args: &[&str]) -> Run {
    run_in(kit, &kit.clone, args)
}

fn examples() -> GitOps {
    GitOps::from_dir(&workspace_root().join("examples/gitops"))
}

const CONFIG: &str = "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\ngit: {mode: direct}\nenvironments:\n  - {name: staging, overlay: staging}\n  - {name: prod, overlay: prod, from: staging, protected: true}\n";
const BASE: &str = "resources: [deploy.yaml]\n";
const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: shop}\nspec:\n  selector: {matchLabels: {app: shop}}\n  template:\n    metadata: {labels: {app: shop}}\n    spec:\n      containers:\n      - {name: a, image: reg/a}\n      - {name: b, image: reg/b}\n      - {name: c, image: reg/c}\n";

/// A repo of our own: base + two overlays, `prod` given as raw text.
fn own_repo(prod: &str) -> GitOps {
    let mut kit = GitOps::new()
        .file("promote.yaml", CONFIG)
        .file("base/kustomization.yaml", BASE)
        .file("base/deploy.yaml", DEPLOY)
        .file("staging/kustomization.yaml", "resources: [../base]\nimages:\n- {name: reg/a, newTag: v2}\n- {name: reg/b, newTag: v2}\n- {name: reg/c, newTag: v2}\n")
        .file("prod/kustomization.yaml", prod);
    kit.commit("seed");
    kit
}

#[test]
fn promotes_directly_with_a_minimal_diff_and_an_audit_trail() {
    let kit = examples();
    let state = kit.clone_state();
    let r = run(&kit, &["staging", "v1.0.1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("pushed "), "{}", r.stdout);
    let diff = kit.origin_git(&["diff", "--unified=0", "main~1", "main"]);
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(
        changed.len(),
        18,
        "9 images, one line out and one in each:\n{diff}"
    );
    assert!(
        changed
            .iter()
            .all(|l| l.ends_with("newTag: v1.0.0") || l.ends_with("newTag: v1.0.1")),
        "{diff}"
    );
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    for trailer in [
        "Promoted-By: Test User <test@example.com>",
        "Promote-Environment: staging",
        "Promote-Version: v1.0.1",
    ] {
        assert!(msg.contains(trailer), "{msg}");
    }
    assert_eq!(
        kit.clone_state(),
        state,
        "the user's working tree, index and branches are untouched"
    );
    // Running it again is a no-op.
    let head = kit.origin_head();
    let again = run(&kit, &["staging", "v1.0.1"]);
    assert_eq!(again.code, 0);
    assert!(
        again.stdout.contains("already runs v1.0.1: nothing to do"),
        "{}",
        again.stdout
    );
    assert_eq!(kit.origin_head(), head);
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let kit = examples();
    let before = (kit.origin_head(), kit.clone_state());
    // staging has no policies: a dry run that would be allowed exits 0.
    let r = run(&kit, &["staging", "v1.0.1", "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("-  newTag: v1.0.0\n+  newTag: v1.0.1"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("render: ok (kubectl kustomize, 18 resources"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("Promote-Environment: staging"),
        "{}",
        r.stdout
    );
    assert_eq!((kit.origin_head(), kit.clone_state()), before);
    let json = run(&kit, &["staging", "v1.0.1", "--dry-run", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(doc["apiVersion"], "promote.kubectl.io/v1alpha1");
    assert_eq!(doc["kind"], "PromotionResult");
    assert_eq!(doc["result"], "dry-run");
    assert_eq!(doc["images"].as_array().unwrap().len(), 9);
    assert_eq!(doc["images"][0]["from"]["tag"], "v1.0.0");
    assert_eq!(doc["images"][0]["to"]["tag"], "v1.0.1");
    let yaml = run(&kit, &["staging", "v1.0.1", "--dry-run", "-o", "yaml"]);
    assert!(
        yaml.stdout
            .starts_with("apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionResult\n"),
        "{}",
        yaml.stdout
    );
    assert_eq!((kit.origin_head(), kit.clone_state()), before);
}

#[test]
fn json_result_is_stable() {
    let kit = own_repo("resources: [../base]\nimages:\n- name: reg/a\n  newTag: v1\n");
    let r = run(
        &kit,
        &["prod", "v2", "--only", "reg/a", "--dry-run", "-o", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    doc["commitMessage"] = "<message>".into();
    doc["renderedImages"]["comparedCommit"] = "<commit>".into();
    doc["renderedImages"]["comparedWith"] = "<commit> (prod's last change)".into();
    insta::assert_json_snapshot!("dry_run_json", doc);
}

#[test]
fn from_upstream_copies_tags_and_digests() {
    let d = format!("sha256:{}", "a".repeat(64));
    let mut kit = own_repo(
        "resources: [../base]\nimages:\n- {name: reg/a, newTag: v1}\n- {name: reg/b, newTag: v1}\n- {name: reg/c, newTag: v1}\n",
    );
    // Nothing but the edit differs from what prod last had: nothing to flag (nor to render).
    let plain = run(&kit, &["prod", "v2", "--dry-run"]);
    assert!(
        plain
            .stdout
            .contains("rendered: only this edit changes what prod renders since"),
        "{}",
        plain.stdout
    );
    kit.put("staging/kustomization.yaml", &format!("resources: [../base]\nimages:\n- {{name: reg/a, newTag: v2, digest: {d}}}\n- {{name: reg/b, newTag: v2}}\n- {{name: reg/c, newTag: v3}}\n"));
    kit.commit("staging runs v2/v3");
    let r = run(&kit, &["prod", "--from", "staging"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        kit.origin_file("prod/kustomization.yaml").unwrap(),
        format!(
            "resources: [../base]\nimages:\n- {{name: reg/a, newTag: v2, digest: {d}}}\n- {{name: reg/b, newTag: v2}}\n- {{name: reg/c, newTag: v3}}\n"
        )
    );
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.contains("Promote-From: staging") && msg.contains("Promote-Version: mixed"),
        "{msg}"
    );
}

#[test]
fn hand_written_overlays_keep_their_bytes() {
    let d1 = format!("sha256:{}", "1".repeat(64));
    let d2 = format!("sha256:{}", "2".repeat(64));
    let prod = format!(
        "# prod overlay\r\nresources: [../base]\r\nimages:\r\n  # the cart, pinned by digest\r\n  - name: reg/a\r\n    newTag: \"v1\"   # quoted\r\n    digest: {d1}\r\n\r\n  # flow style\r\n  - {{name: reg/b, newTag: 'v1'}}\r\n  - name: reg/c  # no tag yet\r\n"
    );
    let kit = own_repo(&prod);
    let stale = run(&kit, &["prod", "v2"]);
    assert_eq!(stale.code, 1);
    assert!(
        stale
            .stderr
            .contains("prod/kustomization.yaml: image `reg/a` pins digest"),
        "{}",
        stale.stderr
    );
    assert!(
        stale.stderr.contains("--digest reg/a=sha256:"),
        "{}",
        stale.stderr
    );
    let r = run(&kit, &["prod", "v2", "--digest", &format!("reg/a={d2}")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let expected = prod
        .replace("\"v1\"", "\"v2\"")
        .replace(&d1, &d2)
        .replace("'v1'", "'v2'")
        .replace(
            "  - name: reg/c  # no tag yet\r\n",
            "  - name: reg/c  # no tag yet\r\n    newTag: v2\r\n",
        );
    assert_eq!(
        kit.origin_file("prod/kustomization.yaml").unwrap(),
        expected
    );
}

#[test]
fn bad_overlays_get_clear_errors_and_nothing_is_written() {
    let cases = [
        (
            "resources: [../base]\n",
            "prod/kustomization.yaml: no `images:` list",
        ),
        (
            "resources: [../base]\nimages:\n- name: reg/a\n- name: reg/a\n",
            "prod/kustomization.yaml: line 4: image `reg/a` is listed twice",
        ),
        (
            "resources: [../base]\nimages:\n- name: reg/a\n  newTag: [v1\n",
            "prod/kustomization.yaml: line",
        ),
    ];
    for (prod, expected) in cases {
        let kit = own_repo(prod);
        let head = kit.origin_head();
        let r = run(&kit, &["prod", "v2"]);
        assert_eq!(r.code, 1, "{prod}: {}", r.stderr);
        assert!(r.stderr.contains(expected), "{prod}: {}", r.stderr);
        assert_eq!(kit.origin_head(), head);
    }
}

#[test]
fn render_errors_stop_the_promotion_with_kustomizes_message() {
    let kit =
        own_repo("resources: [../base, missing.yaml]\nimages:\n- name: reg/a\n  newTag: v1\n");
    let head = kit.origin_head();
    let r = run(&kit, &["prod", "v2"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("rendering prod with kubectl kustomize failed"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("missing.yaml"), "{}", r.stderr);
    assert_eq!(kit.origin_head(), head);
}

/// The render starts from the last-fetched tip while the fetch runs; it is used only when the
/// fetch changed nothing the render reads.
#[test]
fn the_render_started_during_the_fetch_is_used_only_when_its_inputs_held() {
    const SPECULATED: &str = "rendered while fetching";
    // Each run gets its own TMPDIR: no scratch tree may outlive the command, guess or not.
    let run = |kit: &GitOps, args: &[&str]| {
        let tmp = tempfile::tempdir().unwrap();
        let r = kit.run_bin(
            BIN,
            &kit.clone,
            &[("TMPDIR", tmp.path().to_str().unwrap())],
            args,
        );
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
        r
    };
    let prod = "resources: [../base]\nimages:\n- name: reg/a\n  newTag: v1\n";
    // Another team commits elsewhere: the guess holds.
    let mut kit = own_repo(prod);
    kit.put("docs/notes.md", "elsewhere\n");
    kit.commit("docs");
    let r = run(&kit, &["prod", "v2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(SPECULATED), "{}", r.stderr);

    // Someone breaks the base after our last fetch: the guess (a good render of the old tree)
    // must not stand in for the render of what we would push.
    let mut kit = own_repo(prod);
    kit.put(
        "base/kustomization.yaml",
        "resources: [deploy.yaml, gone.yaml]\n",
    );
    kit.commit("break the base");
    let head = kit.origin_head();
    let r = run(&kit, &["prod", "v2"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("gone.yaml"), "{}", r.stderr);
    assert!(!r.stderr.contains(SPECULATED), "{}", r.stderr);
    assert_eq!(kit.origin_head(), head);

    // And the other way: our last fetch saw a broken base, the remote has fixed it.
    kit.git(&["fetch", "--quiet", "origin"]);
    kit.put("base/kustomization.yaml", BASE);
    kit.commit("fix the base");
    let r = run(&kit, &["prod", "v2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains(SPECULATED), "{}", r.stderr);
    assert!(r.stdout.contains("render: ok"), "{}", r.stdout);
}

#[test]
fn only_reports_images_set_elsewhere() {
    let mut kit = own_repo("resources: [../base]\nimages:\n- name: reg/a\n  newTag: v1\n");
    kit.put(
        "base/kustomization.yaml",
        "resources: [deploy.yaml]\nimages:\n- {name: reg/b, newTag: v0}\n",
    );
    kit.commit("base pins b");
    let r = run(&kit, &["prod", "v2", "--only", "reg/b"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(
            "image `reg/b` is not listed in `images:`; it is set in base/kustomization.yaml"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn a_rejected_push_leaves_everything_as_it_was() {
    let kit = examples();
    let hook = kit.origin.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'protected branch: pushes need a review' >&2\nexit 1\n",
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&hook).status().unwrap();
    let before = (kit.origin_head(), kit.clone_state());
    let r = run(&kit, &["staging", "v1.0.1"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("protected branch: pushes need a review"),
        "{}",
        r.stderr
    );
    assert_eq!((kit.origin_head(), kit.clone_state()), before);
}

#[test]
fn config_errors_name_the_file_key_and_fix() {
    let mut kit = own_repo("images: []\n");
    kit.put("promote.yaml", "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\nenvironments:\n  - {name: status, overlay: prod}\n");
    kit.commit("bad config");
    let r = run(&kit, &["status"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("promote.yaml (origin/main "),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("environments[0].name: `status` is a kubectl promote subcommand"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("fix: rename the environment"),
        "{}",
        r.stderr
    );
    let unknown = run(&kit, &["--config", "/nonexistent.yaml", "status"]);
    assert!(
        unknown
            .stderr
            .contains("reading --config /nonexistent.yaml"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn unknown_environment_lists_the_known_ones() {
    let kit = examples();
    let r = run(&kit, &["qa", "v1"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no environment named `qa`")
            && r.stderr.contains("use one of: staging, prod"),
        "{}",
        r.stderr
    );
}

#[test]
fn usage_errors_exit_2() {
    let kit = examples();
    assert_eq!(run(&kit, &["prod"]).code, 2);
    assert_eq!(run(&kit, &["prod", "v1", "--from", "staging"]).code, 2);
    assert_eq!(run(&kit, &["prod", "v1", "--bogus"]).code, 2);
    let bad_digest = run(&kit, &["prod", "v1", "--digest", "nope"]);
    assert_eq!(bad_digest.code, 2, "{}", bad_digest.stderr);
    assert!(
        bad_digest
            .stderr
            .contains("--digest nope: expected IMAGE=sha256:")
    );
}

/// A command line that can only be known wrong once promote.yaml is read, or once the range is
/// resolved, is a usage error too (exit 2), like the ones clap finds; a state the flags did not
/// cause (an environment that does not allow overrides, a version it never ran) stays exit 1.
#[test]
fn usage_errors_found_by_the_use_cases_exit_2() {
    let kit = examples();
    let itself = run(&kit, &["staging", "--from", "staging"]);
    assert_eq!(itself.code, 2, "{}", itself.stderr);
    assert!(
        itself
            .stderr
            .contains("--from staging: an environment cannot be promoted from itself"),
        "{}",
        itself.stderr
    );
    let root = kit.git(&["rev-list", "--max-parents=0", "HEAD"]);
    let r = run(&kit, &["verify", root.trim()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("is a root commit with no parent to compare with"),
        "{}",
        r.stderr
    );
    let never = run(
        &kit,
        &["rollback", "staging", "--to", "v9", "--strategy", "revert"],
    );
    assert_eq!(never.code, 1, "{}", never.stderr);
}

#[test]
fn status_shows_versions_mixed_and_last_promotion() {
    let kit = examples();
    assert_eq!(
        run(
            &kit,
            &[
                "staging",
                "v1.0.1",
                "--only",
                "registry.example.com/microservices-demo/frontend"
            ]
        )
        .code,
        0
    );
    let r = run(&kit, &["status"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("staging  mixed"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("registry.example.com/microservices-demo/frontend  v1.0.1"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("last change: ") && r.stdout.contains("by Test User <test@example.com>"),
        "{}",
        r.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&run(&kit, &["status", "prod", "-o", "json"]).stdout).unwrap();
    assert_eq!(json["kind"], "Status");
    assert_eq!(json["environments"][0]["version"], "v1.0.0");
    assert_eq!(
        json["environments"][0]["images"]["registry.example.com/microservices-demo/cartservice"]["tag"],
        "v1.0.0"
    );
}

#[test]
fn protected_envs_do_not_prompt_without_a_terminal() {
    let kit = own_repo("resources: [../base]\nimages:\n- name: reg/a\n  newTag: v1\n");
    let r = run(&kit, &["prod", "v2", "--direct"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("[y/N]"));
}

#[test]
fn repo_url_uses_a_cached_clone() {
    let kit = examples();
    let url = format!("file://{}", kit.origin.display());
    let r = run_in(&kit, kit.root(), &["--repo", &url, "staging", "v1.0.1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        kit.origin_file("kustomize/staging/kustomization.yaml")
            .unwrap()
            .contains("v1.0.1")
    );
    let again = run_in(&kit, kit.root(), &["--repo", &url, "status", "staging"]);
    assert!(again.stdout.contains("staging  v1.0.1"), "{}", again.stdout);
}

#[test]
fn init_writes_a_config_from_overlays_and_apps() {
    let kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    kit.git(&["rm", "--quiet", "promote.yaml"]);
    kit.git(&["commit", "--quiet", "-m", "no config"]);
    let r = run(&kit, &["init"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(kit.clone.join("promote.yaml")).unwrap();
    assert!(text.contains("- name: staging\n    overlay: kustomize/staging\n    mode: direct\n    argocd: {app: staging-microservices-demo, namespace: argocd}"), "{text}");
    assert!(
        text.contains("- name: prod\n    overlay: kustomize/prod\n    from: staging"),
        "{text}"
    );
    assert_eq!(run(&kit, &["init"]).code, 1, "refuses to overwrite");
}

#[test]
fn help_and_version_through_kubectl() {
    let kit = examples();
    let help = run(&kit, &["--help"]);
    insta::assert_snapshot!("help", help.stdout);
    // A bin dir with only the plugin: the target dir holds `kubectl-promote.d`, which kubectl
    // would also take for a plugin.
    let bin_dir = kit.root().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(BIN, bin_dir.join("kubectl-promote")).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let list = Command::new("kubectl")
        .args(["plugin", "list"])
        .env("PATH", &path)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains(&format!("{}/kubectl-promote", bin_dir.display())),
        "{listed}{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let version = Command::new("kubectl")
        .args(["promote", "version"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("kubectl-promote {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn rollback_reverts_the_promotion_that_brought_the_running_version() {
    let kit = examples();
    assert_eq!(run(&kit, &["staging", "v1.0.1"]).code, 0);
    assert_eq!(run(&kit, &["staging", "v1.0.2", "-m", "hotfix"]).code, 0);
    let bad = kit.origin_head();
    let dry = run(&kit, &["rollback", "staging", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout.contains("staging: v1.0.2 → v1.0.1"),
        "{}",
        dry.stdout
    );
    assert_eq!(kit.origin_head(), bad, "a dry run pushes nothing");
    let r = run(&kit, &["rollback", "staging"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.starts_with(&format!(
            "rollback staging to v1.0.1 (revert {} \"promote staging to v1.0.2\")",
            &bad[..7]
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("Promote-Reverts: {bad}"))
            && msg.contains("Promote-Rollback: revert"),
        "{msg}"
    );
    assert!(
        kit.origin_file("kustomize/staging/kustomization.yaml")
            .unwrap()
            .contains("newTag: v1.0.1")
    );
    // Back to the very first version by name, across two changes.
    let r = run(&kit, &["rollback", "staging", "--to", "v1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        kit.origin_file("kustomize/staging/kustomization.yaml")
            .unwrap(),
        std::fs::read_to_string(
            workspace_root().join("examples/gitops/kustomize/staging/kustomization.yaml")
        )
        .unwrap()
    );
    let never = run(&kit, &["rollback", "staging", "--to", "v9"]);
    assert_eq!(never.code, 1);
    assert!(
        never.stderr.contains("--to v9: staging never ran v9"),
        "{}",
        never.stderr
    );
}

#[test]
fn rollback_finds_squash_merged_promotions_by_their_images() {
    let mut kit = own_repo("resources: [../base]\nimages:\n- name: reg/a\n  newTag: v1 # pinned\n");
    // A hand-written change (no trailers), as a squash merge would leave it.
    kit.put(
        "prod/kustomization.yaml",
        "resources: [../base]\nimages:\n- name: reg/a\n  newTag: v2 # pinned\n",
    );
    kit.commit("Bump a to v2 (#42)");
    kit.put("README.md", "unrelated\n");
    kit.commit("docs");
    let r = run(&kit, &["rollback", "prod", "--direct"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        kit.origin_file("prod/kustomization.yaml").unwrap(),
        "resources: [../base]\nimages:\n- name: reg/a\n  newTag: v1 # pinned\n"
    );
    assert!(
        kit.origin_git(&["log", "-1", "--format=%s", "main"])
            .contains("(revert "),
        "names the reverted change"
    );
}

#[test]
fn commits_are_signed_when_commit_gpgsign_is_set() {
    let kit = examples();
    let key = kit.root().join("signing-key");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(keygen.success());
    kit.git(&["config", "commit.gpgsign", "true"]);
    kit.git(&["config", "gpg.format", "ssh"]);
    kit.git(&["config", "user.signingkey", key.to_str().unwrap()]);
    let r = run(&kit, &["staging", "v1.0.1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("(signed)"), "{}", r.stderr);
    let raw = kit.origin_git(&["cat-file", "-p", "main"]);
    assert!(
        raw.contains("gpgsig -----BEGIN SSH SIGNATURE-----"),
        "{raw}"
    );
    assert!(raw.contains("Promote-Environment: staging"), "{raw}");
}

// ---------------------------------------------------------------------------------------------
// The rendered images (issue 12, item 3): `verify` and a promotion's plan see what the render
// runs, whatever edit sets it.

/// Friday 17:00 in Berlin: inside the change window of examples/gitops/promote.yaml, so prod's
/// promote policies deny whatever they are asked about.
const FRIDAY: &str = "2026-11-27T16:00:00Z";

/// Write files in the user's clone and commit them there (a hand-written change, not pushed).
fn commit_in_clone(kit: &GitOps, files: &[(&str, &str)], message: &str) {
    for (path, text) in files {
        let p = kit.clone.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    kit.git(&["add", "-A"]);
    kit.git(&["commit", "--quiet", "-m", message]);
}

fn verify_at(kit: &GitOps, now: &str, args: &[&str]) -> Run {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    kit.run_bin(BIN, &kit.clone, &[("KUBECTL_PROMOTE_NOW", now)], &all)
}

fn env_doc<'a>(doc: &'a serde_json::Value, env: &str) -> &'a serde_json::Value {
    doc["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["environment"] == env)
        .unwrap_or_else(|| panic!("no {env} in {doc}"))
}

const PROD_OVERLAY: &str = "kustomize/prod/kustomization.yaml";

/// A strategic-merge patch that swaps cartservice's image for another repository (which no
/// `images:` entry rewrites) leaves `images:` alone; on main it passed with "policies: not run".
#[test]
fn verify_runs_the_policies_on_an_image_a_strategic_merge_patch_sets() {
    let kit = examples();
    let overlay = std::fs::read_to_string(kit.clone.join(PROD_OVERLAY)).unwrap();
    commit_in_clone(
        &kit,
        &[
            (
                "kustomize/prod/debug.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: cartservice}\nspec:\n  template:\n    spec:\n      containers:\n      - name: server\n        image: evil.example.com/miner:v6\n",
            ),
            (
                PROD_OVERLAY,
                &format!("{overlay}patches:\n- path: debug.yaml\n"),
            ),
        ],
        "prod: a little debugging",
    );
    let r = verify_at(&kit, FRIDAY, &[]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("1 container image change, none from images:")
            && r.stdout.contains(
                "! Deployment microservices-demo-prod/cartservice spec.template.spec.containers[server]: registry.example.com/microservices-demo/cartservice:v1.0.0 → evil.example.com/miner:v6"
            ),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("ChangeWindow"), "{}", r.stdout);
    assert!(!r.stdout.contains("policies: not run"), "{}", r.stdout);
    // The policies were asked about the image the render runs, named by its repository.
    let json = verify_at(&kit, FRIDAY, &["-o", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let prod = env_doc(&doc, "prod");
    assert_eq!(prod["result"], "denied");
    assert_eq!(
        prod["images"],
        serde_json::json!([{"name": "evil.example.com/miner", "newName": null,
            "from": {"tag": null, "digest": null}, "to": {"tag": "v6", "digest": null}}])
    );
    assert_eq!(prod["rendered"]["objectsChanged"], 1);
    assert_eq!(prod["rendered"]["containers"][0]["explained"], false);
}

/// A base edit adds an init container to every environment built on the base: each is judged
/// on it (staging has no policies: allowed; prod's deny), though no overlay changed.
#[test]
fn verify_judges_an_image_a_base_edit_adds_in_every_environment() {
    let kit = examples();
    let base = std::fs::read_to_string(kit.clone.join("kustomize/base/cartservice.yaml")).unwrap();
    commit_in_clone(
        &kit,
        &[(
            "kustomize/base/cartservice.yaml",
            &base.replace(
                "      containers:\n",
                "      initContainers:\n      - name: warm-up\n        image: busybox:1.36\n      containers:\n",
            ),
        )],
        "base: warm the cache up",
    );
    let r = verify_at(&kit, FRIDAY, &[]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let json = verify_at(&kit, FRIDAY, &["-o", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    for env in ["staging", "prod"] {
        let e = env_doc(&doc, env);
        assert_eq!(e["images"][0]["name"], "busybox", "{env}: {e}");
        assert_eq!(e["images"][0]["to"]["tag"], "1.36", "{env}: {e}");
        assert_eq!(
            e["rendered"]["containers"][0]["container"],
            "spec.template.spec.initContainers[warm-up]"
        );
    }
    assert_eq!(env_doc(&doc, "staging")["result"], "allowed");
    assert_eq!(env_doc(&doc, "prod")["result"], "denied");
}

/// A change to a protected environment's render inputs that runs no new image is reported
/// with the count of rendered objects it changes, and allowed even inside the change window.
#[test]
fn verify_reports_a_change_that_alters_no_image_and_allows_it() {
    let kit = examples();
    let overlay = std::fs::read_to_string(kit.clone.join(PROD_OVERLAY)).unwrap();
    commit_in_clone(
        &kit,
        &[(
            PROD_OVERLAY,
            &format!("{overlay}replicas:\n- name: cartservice\n  count: 3\n"),
        )],
        "prod: three carts",
    );
    let r = verify_at(&kit, FRIDAY, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("rendered: 1 object changes; no container image changes"),
        "{}",
        r.stdout
    );
    // The rendered diff says which field of which object.
    assert!(
        r.stdout.contains(
            "rendered diff: 1 object\n  ~ apps/Deployment microservices-demo-prod/cartservice: spec.replicas\n"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("policies: not run (no image changes")
            && r.stdout.ends_with("result: allowed\n"),
        "{}",
        r.stdout
    );
}

/// A promotion's plan compares its render with what the env last had (its last promotion):
/// a base edit pushed since, which this promotion carries to prod for the first time, is
/// flagged as not from this edit; the images the edit sets are not.
#[test]
fn a_promotion_plan_flags_rendered_changes_its_edit_does_not_explain() {
    let mut kit = own_repo(
        "resources: [../base]\nimages:\n- {name: reg/a, newTag: v1}\n- {name: reg/b, newTag: v1}\n- {name: reg/c, newTag: v1}\n",
    );
    kit.put(
        "base/deploy.yaml",
        &DEPLOY.replace(
            "      containers:\n",
            "      initContainers:\n      - {name: init, image: busybox:1.36}\n      containers:\n",
        ),
    );
    kit.commit("base: an init container");
    let r = run(&kit, &["prod", "v2", "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("4 container images change, 1 not from this edit")
            && r.stdout.contains(
                "! Deployment shop spec.template.spec.initContainers[init]: (new) → busybox:1.36"
            ),
        "{}",
        r.stdout
    );
    let json = run(&kit, &["prod", "v2", "--dry-run", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let containers = doc["renderedImages"]["containers"].as_array().unwrap();
    let explained: Vec<(&str, bool)> = containers
        .iter()
        .map(|c| {
            (
                c["image"].as_str().unwrap(),
                c["explained"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        explained,
        [
            ("reg/a", true),
            ("reg/b", true),
            ("reg/c", true),
            ("busybox", false)
        ]
    );
    assert!(
        doc["renderedImages"]["comparedWith"]
            .as_str()
            .unwrap()
            .contains("prod's last change of prod/kustomization.yaml: \"seed\""),
        "{doc}"
    );
    // Once prod has been promoted with it, the next plan has nothing to flag.
    assert_eq!(run(&kit, &["prod", "v2", "--direct"]).code, 0);
    let next = run(&kit, &["prod", "v3", "--dry-run"]);
    assert!(
        next.stdout
            .contains("3 container images change, all from this edit"),
        "{}",
        next.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// Arguments checked before any fetch (issue 12, item 7).

/// A VERSION that is not an OCI tag, or an ENV no promote.yaml can hold, is a usage error (2)
/// that states the rule, before the remote is contacted: here the remote is gone, so any
/// fetch would fail (exit 1).
#[test]
fn bad_versions_and_env_names_exit_2_before_any_fetch() {
    let kit = examples();
    kit.git(&["remote", "set-url", "origin", "/nonexistent/origin.git"]);
    let tag_rule = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
    for args in [
        &["prod", "v1.0.1;rm -rf /"][..],
        &["prod", "v1@sha256:abc"],
        &["prod", ".hidden"],
        &["approve", "staging", "v1/../../x"],
        &["reject", "staging", "v1 v2", "-m", "no"],
        &["rollback", "prod", "--to", "v1:latest"],
    ] {
        let r = run(&kit, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(tag_rule), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("fetch"), "{args:?}: {}", r.stderr);
    }
    for args in [
        &["Prod", "v1.0.1"][..],
        &["prod", "--from", "../staging"],
        &["history", "prod;id"],
        &["status", "PROD"],
        &["sync", "-"],
        &["approve", "staging/x", "v1.0.1"],
    ] {
        let r = run(&kit, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr
                .contains("environment names are lower-case letters"),
            "{args:?}: {}",
            r.stderr
        );
    }
    // A well-formed name is looked up after the fetch (here: the fetch fails, exit 1).
    assert_eq!(run(&kit, &["qa", "v1.0.1"]).code, 1);
}

/// Pointing an `images:` entry's `newName` at another repository, tag unchanged, changes no
/// tag or digest `images:` compares; the render shows it, under the new repository's own name
/// (the change's entries name nothing, so it cannot borrow the entry's approvals).
#[test]
fn verify_judges_a_new_name_under_the_repository_it_renders() {
    let kit = examples();
    let overlay = std::fs::read_to_string(kit.clone.join(PROD_OVERLAY)).unwrap();
    commit_in_clone(
        &kit,
        &[(
            PROD_OVERLAY,
            &overlay.replacen(
                "- name: registry.example.com/microservices-demo/cartservice\n",
                "- name: registry.example.com/microservices-demo/cartservice\n  newName: evil.example.com/cart\n",
                1,
            ),
        )],
        "prod: cart from elsewhere",
    );
    let json = verify_at(&kit, FRIDAY, &["-o", "json"]);
    assert_eq!(json.code, 3, "{}{}", json.stdout, json.stderr);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let prod = env_doc(&doc, "prod");
    assert_eq!(
        prod["images"],
        serde_json::json!([{"name": "evil.example.com/cart", "newName": null,
            "from": {"tag": null, "digest": null}, "to": {"tag": "v1.0.0", "digest": null}}]),
        "{prod}"
    );
}

/// `kubectl promote diff`: a promotion's rendered diff alone (a dry run, nothing written), and
/// the diff of two revisions of an environment, as text and as a `RenderDiff` document.
#[test]
fn diff_shows_a_promotions_rendered_changes_and_two_revisions() {
    let kit = examples();
    let before = kit.origin_head();
    let r = run(&kit, &["diff", "staging", "v1.0.1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("rendered diff of staging to v1.0.1 against "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "~ apps/Deployment microservices-demo-staging/frontend: spec.template.spec.containers[server].image"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("+      - image: registry.example.com/microservices-demo/frontend:v1.0.1"),
        "{}",
        r.stdout
    );
    assert_eq!(kit.origin_head(), before, "a diff writes nothing");

    let r = run(&kit, &["diff", "staging", "v1.0.1", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["kind"], "RenderDiff");
    assert_eq!(doc["renderDiff"].as_array().unwrap().len(), 9, "{doc}");

    // Two revisions: what the last promotion changed, and back.
    assert_eq!(run(&kit, &["staging", "v1.0.1"]).code, 0);
    let r = run(
        &kit,
        &[
            "diff",
            "staging",
            "--between",
            "origin/main~1",
            "origin/main",
            "--diff",
            "summary",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(": 9 objects"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("+      - image"),
        "summary only: {}",
        r.stdout
    );

    let r = run(&kit, &["diff", "staging"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--between REV1 REV2"), "{}", r.stderr);
}
