//! Killing a promotion mid-way (issue 7): the binary, built with `--features test-hooks`, stops
//! at a named point between two writes (`KUBECTL_PROMOTE_TEST_PAUSE`), the test SIGKILLs it
//! there, then checks that the remote is untouched or complete (never half), that the user's
//! clone (working tree, index, HEAD, branches) is untouched and holds no stray lock files, that
//! the Argo CD Application is untouched, that `kubectl promote status` tells the truth, and that
//! running the same command again finishes the job (or says there is nothing left to do).
//! The points: `before-push` (direct: commit built, not pushed), `after-push-before-refresh`
//! (pushed, Argo CD not yet asked to refresh), `before-approval-push` (approval record built,
//! not pushed), `after-branch-push` (PR mode: branch pushed, pull request not yet opened).
//! The rollback's points are in `argocd_kill.rs`.
//! Run with `cargo test -p kubectl-promote --features test-hooks --test testsuite faults::`.
#![cfg(feature = "test-hooks")]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use promote_testkit::argocd::{ArgoCdStandIn, ArgoVersion, Options};
use promote_testkit::forge::{FakeForge, Vendor};
use promote_testkit::hooks;
use promote_testkit::repo::{GitOps, Run, workspace_root};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");
const TOKEN: &str = "tok-FAULTS-5ecret-0123456789";

fn config(extra: &str) -> String {
    format!(
        "apiVersion: promote.kubectl.io/v1alpha1
kind: PromotionConfig
git: {{remote: origin, baseBranch: main, mode: pr}}
{extra}approvers:
  qa: [test@example.com]
environments:
  - name: staging
    overlay: kustomize/staging
    mode: direct
    argocd: {{app: staging-microservices-demo, namespace: argocd}}
  - {{name: prod, overlay: kustomize/prod, from: staging}}
"
    )
}

fn repo(config: &str) -> GitOps {
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    kit.put("promote.yaml", config);
    kit.commit("config for the fault tests");
    kit
}

fn command(kit: &GitOps, args: &[&str], extra: &[(&str, &str)]) -> Command {
    kit.bin_command(BIN, &kit.clone, extra, args)
}

fn run(kit: &GitOps, args: &[&str], extra: &[(&str, &str)]) -> Run {
    kit.run_bin(BIN, &kit.clone, extra, args)
}

/// Starts the command, waits until it stands at `point`, SIGKILLs it.
fn kill_at(kit: &GitOps, args: &[&str], extra: &[(&str, &str)], point: &str) {
    let marker = kit.root().join(format!("paused-{point}"));
    hooks::kill_at(
        command(kit, args, extra),
        &marker,
        point,
        Duration::from_secs(120),
    );
}

/// Every ref of the origin with its commit.
fn origin_refs(kit: &GitOps) -> String {
    kit.origin_git(&["for-each-ref", "--format=%(refname) %(objectname)"])
}

/// No `*.lock` file anywhere in a git directory (one would make the next run fail).
fn assert_no_lock_files(dir: &Path) {
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, found);
            } else if p.extension().is_some_and(|x| x == "lock") {
                found.push(p.display().to_string());
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, &mut found);
    assert!(found.is_empty(), "stray lock files: {found:?}");
}

/// The user's clone is as it was, and healthy; the origin has no stray locks either.
fn assert_clone_untouched(kit: &GitOps, before: &str) {
    assert_eq!(kit.clone_state(), before, "the user's clone changed");
    assert_no_lock_files(&kit.clone.join(".git"));
    assert_no_lock_files(&kit.origin);
    kit.git(&["fsck", "--no-dangling", "--no-progress"]);
}

fn status_json(kit: &GitOps, env: &str, extra: &[(&str, &str)]) -> Value {
    let r = run(kit, &["status", env, "-o", "json"], extra);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    doc["environments"][0].clone()
}

fn overlay(kit: &GitOps, env: &str) -> String {
    kit.origin_file(&format!("kustomize/{env}/kustomization.yaml"))
        .unwrap()
}

#[test]
fn killed_before_the_push_leaves_remote_and_clone_untouched_and_a_rerun_lands() {
    let kit = repo(&config(""));
    let (refs, clone) = (origin_refs(&kit), kit.clone_state());
    kill_at(&kit, &["staging", "v1.0.1", "--direct"], &[], "before-push");

    assert_eq!(origin_refs(&kit), refs, "the remote is untouched");
    assert_clone_untouched(&kit, &clone);
    let s = status_json(&kit, "staging", &[]);
    assert_eq!(
        s["version"],
        json!("v1.0.0"),
        "status says nothing landed: {s}"
    );

    let r = run(&kit, &["staging", "v1.0.1", "--direct"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        overlay(&kit, "staging").matches("newTag: v1.0.1").count(),
        9
    );
    assert_eq!(
        kit.origin_git(&["rev-list", "--count", "main"]).trim(),
        "3",
        "one promotion commit on top"
    );
    assert_eq!(
        status_json(&kit, "staging", &[])["version"],
        json!("v1.0.1")
    );
}

#[test]
fn killed_after_the_push_before_the_refresh_leaves_the_push_complete_and_the_app_untouched() {
    let kit = repo(&config(""));
    let argo = ArgoCdStandIn::start(Options::new(ArgoVersion::V3_5));
    let file = workspace_root().join("examples/gitops/argocd/staging-microservices-demo.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut doc: Value = promote_core::yaml::from_str(&file.display().to_string(), &text).unwrap();
    doc["spec"]["source"]["repoURL"] = json!(kit.origin.to_str().unwrap());
    doc["spec"]["syncPolicy"] = json!({});
    argo.create_application(doc);
    let kubeconfig = argo.kubeconfig_path().to_str().unwrap().to_owned();
    let extra = [("KUBECONFIG", kubeconfig.as_str())];
    // Deploy v1.0.0 once, so Argo CD's history has an entry to compare with.
    let r = run(&kit, &["sync", "staging", "--wait=60s"], &extra);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let app = || argo.application("staging-microservices-demo").unwrap();
    let before = app();
    let deployed = before["status"]["history"]
        .as_array()
        .and_then(|h| h.last())
        .map(|h| h["revision"].clone())
        .unwrap();
    let (main, clone) = (kit.origin_head(), kit.clone_state());

    kill_at(
        &kit,
        &["staging", "v1.0.1", "--direct"],
        &extra,
        "after-push-before-refresh",
    );

    // The push is complete: one commit on main, with its trailers and the whole edit.
    let tip = kit.origin_head();
    assert_eq!(kit.origin_git(&["rev-parse", "main~1"]).trim(), main);
    let trailers = kit.origin_git(&[
        "log",
        "-1",
        "--format=%(trailers:key=Promote-Environment,key=Promote-Version)",
        &tip,
    ]);
    assert!(
        trailers.contains("Promote-Environment: staging")
            && trailers.contains("Promote-Version: v1.0.1"),
        "{trailers}"
    );
    assert_eq!(
        overlay(&kit, "staging").matches("newTag: v1.0.1").count(),
        9
    );
    assert_clone_untouched(&kit, &clone);
    // The Application is untouched: no refresh asked, no operation, nothing deployed.
    std::thread::sleep(Duration::from_millis(500));
    let after = app();
    assert_eq!(after["spec"], before["spec"]);
    assert_eq!(
        after["metadata"]["annotations"], before["metadata"]["annotations"],
        "no refresh was asked"
    );
    assert!(after["operation"].is_null(), "{after}");
    assert_eq!(after["status"]["history"], before["status"]["history"]);
    // status tells both truths: git holds v1.0.1, Argo CD still runs what it ran.
    let s = status_json(&kit, "staging", &extra);
    assert_eq!(s["version"], json!("v1.0.1"), "{s}");
    assert_eq!(s["argocd"]["deployedRevision"], deployed, "{s}");
    assert_eq!(s["argocd"]["deployedVersion"], json!("v1.0.0"), "{s}");

    // Again: already there, nothing pushed; `sync` then deploys it.
    let r = run(&kit, &["staging", "v1.0.1", "--direct"], &extra);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("already"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(kit.origin_head(), tip);
    let r = run(&kit, &["sync", "staging", "--wait=60s"], &extra);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        status_json(&kit, "staging", &extra)["argocd"]["deployedRevision"],
        json!(tip)
    );
}

#[test]
fn killed_before_the_approval_push_records_nothing_and_a_rerun_records_once() {
    let kit = repo(&config(""));
    let (refs, clone) = (origin_refs(&kit), kit.clone_state());
    let args = [
        "approve", "staging", "v1.0.0", "--role", "qa", "-m", "tested",
    ];
    kill_at(&kit, &args, &[], "before-approval-push");

    assert_eq!(origin_refs(&kit), refs, "no approvals branch, nothing else");
    assert_clone_untouched(&kit, &clone);
    let s = status_json(&kit, "staging", &[]);
    assert_eq!(s["approvals"], json!([]), "status shows no approval: {s}");

    let r = run(&kit, &args, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        kit.origin_git(&["rev-list", "--count", "promote/approvals"])
            .trim(),
        "1",
        "exactly one record"
    );
    let s = status_json(&kit, "staging", &[]);
    assert_eq!(s["approvals"].as_array().map(Vec::len), Some(1), "{s}");
}

#[test]
fn killed_after_the_branch_push_opens_no_pull_request_and_a_rerun_reuses_the_branch() {
    let forge = FakeForge::start(Vendor::GitHub);
    forge
        .add_user("promoter", Some(TOKEN))
        .add_repo("acme/gitops");
    let kit = repo(&config(&format!(
        "forge: {{type: github, url: \"{}\", repo: acme/gitops, tokenEnv: FORGE_TOKEN}}\n",
        forge.api_url()
    )));
    let (main, clone) = (kit.origin_head(), kit.clone_state());
    let extra = [("FORGE_TOKEN", TOKEN)];
    kill_at(&kit, &["prod", "v1.0.1"], &extra, "after-branch-push");

    // The branch is complete (it holds the whole promotion); main and the forge are untouched.
    assert_eq!(kit.origin_head(), main);
    let branch_tip = kit
        .origin_git(&["rev-parse", "promote/prod/v1.0.1"])
        .trim()
        .to_owned();
    let file = kit.origin_git(&[
        "show",
        "promote/prod/v1.0.1:kustomize/prod/kustomization.yaml",
    ]);
    assert_eq!(file.matches("newTag: v1.0.1").count(), 9);
    assert!(
        forge.pulls("acme/gitops").is_empty(),
        "no pull request was opened"
    );
    assert_clone_untouched(&kit, &clone);
    assert_eq!(
        status_json(&kit, "prod", &[])["version"],
        json!("v1.0.0"),
        "main still runs v1.0.0"
    );

    let r = run(&kit, &["prod", "v1.0.1", "-v"], &extra);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("already makes this change; reusing"),
        "{}",
        r.stderr
    );
    assert_eq!(
        kit.origin_git(&["rev-parse", "promote/prod/v1.0.1"]).trim(),
        branch_tip,
        "the branch was reused, not rewritten"
    );
    let pulls = forge.pulls("acme/gitops");
    assert_eq!(pulls.len(), 1, "one pull request");
    assert_eq!(pulls[0].head, "promote/prod/v1.0.1");
    for text in [&r.stdout, &r.stderr, &pulls[0].body] {
        assert!(!text.contains(TOKEN), "the token leaked: {text}");
    }
}
