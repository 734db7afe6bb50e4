//! The policy gate through the real binary: real git, real wasmtime and the built-in WASM
//! modules. `KUBECTL_PROMOTE_NOW` pins the time the policies see.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use promote_testkit::repo::{GitOps, Run, workspace_root};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");
/// A Tuesday morning in Berlin: outside every window of examples/gitops/promote.yaml.
const TUESDAY: &str = "2026-11-24T09:00:00Z";
/// Friday 17:00 in Berlin: inside the Friday-afternoon window.
const FRIDAY: &str = "2026-11-27T16:00:00Z";
/// Inside the year-end freeze.
const FREEZE: &str = "2026-12-22T09:00:00Z";

fn run_at(kit: &GitOps, dir: &Path, now: &str, args: &[&str]) -> Run {
    kit.run_bin(BIN, dir, &[("KUBECTL_PROMOTE_NOW", now)], args)
}

/// A clone of origin whose git identity is QA's (approvers.qa lists qa@example.com).
fn qa_clone(kit: &GitOps) -> PathBuf {
    kit.git_in(
        kit.root(),
        &["clone", "--quiet", kit.origin.to_str().unwrap(), "qa"],
    );
    let dir = kit.root().join("qa");
    kit.git_in(&dir, &["config", "user.name", "Quinn QA"]);
    kit.git_in(&dir, &["config", "user.email", "qa@example.com"]);
    dir
}

#[test]
fn prod_needs_qa_approval_a_rejection_denies_and_windows_hold() {
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    // No cluster here: without its app, protected prod does not ask Argo CD for a marker.
    kit.without_argocd();
    let qa = qa_clone(&kit);
    let me = kit.clone.clone();
    assert_eq!(run_at(&kit, &me, TUESDAY, &["staging", "v1.0.1"]).code, 0);

    let waiting = run_at(
        &kit,
        &me,
        TUESDAY,
        &["prod", "--from", "staging", "--dry-run"],
    );
    assert_eq!(waiting.code, 4, "{}{}", waiting.stdout, waiting.stderr);
    assert!(
        waiting.stdout.contains("builtin:qa-approved")
            && waiting
                .stdout
                .contains("approval missing: qa on staging: 0 of 1"),
        "{}",
        waiting.stdout
    );
    // The policy's reason says what to do about it.
    assert!(waiting.stdout.contains("0 of 1 — v1.0.1 has no qa approval on staging yet (kubectl promote approve staging v1.0.1 --role qa)"), "{}", waiting.stdout);

    let approve = run_at(
        &kit,
        &qa,
        TUESDAY,
        &[
            "approve",
            "staging",
            "v1.0.1",
            "-m",
            "regression suite passed",
        ],
    );
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    let allowed = run_at(
        &kit,
        &me,
        TUESDAY,
        &["prod", "--from", "staging", "--dry-run"],
    );
    assert_eq!(allowed.code, 0, "{}{}", allowed.stdout, allowed.stderr);
    assert!(
        allowed.stdout.contains("policies: allow"),
        "{}",
        allowed.stdout
    );

    let friday = run_at(
        &kit,
        &me,
        FRIDAY,
        &["prod", "--from", "staging", "--dry-run"],
    );
    assert_eq!(friday.code, 3, "{}", friday.stdout);
    assert!(
        friday.stdout.contains("builtin:change-window") && friday.stdout.contains("Fri 15:00"),
        "{}",
        friday.stdout
    );
    let freeze = run_at(
        &kit,
        &me,
        FREEZE,
        &["prod", "--from", "staging", "--dry-run", "-o", "json"],
    );
    assert_eq!(freeze.code, 3);
    let doc: serde_json::Value = serde_json::from_str(&freeze.stdout).unwrap();
    assert_eq!(doc["result"], "denied");
    assert_eq!(doc["policy"]["decision"], "deny");
    assert!(
        doc["policy"]["reasons"]
            .to_string()
            .contains("year-end freeze"),
        "{}",
        doc["policy"]
    );

    let reject = run_at(
        &kit,
        &qa,
        TUESDAY,
        &["reject", "staging", "v1.0.1", "-m", "checkout is broken"],
    );
    assert_eq!(reject.code, 0, "{}", reject.stderr);
    let head = kit.origin_head();
    let denied = run_at(
        &kit,
        &me,
        TUESDAY,
        &["prod", "--from", "staging", "--direct"],
    );
    assert_eq!(denied.code, 3, "{}{}", denied.stdout, denied.stderr);
    assert!(
        denied.stdout.contains("checkout is broken") && denied.stdout.contains("denied by policy"),
        "{}",
        denied.stdout
    );
    assert_eq!(kit.origin_head(), head, "a denial pushes nothing");

    // QA approves again: the promotion lands and the commit records every module's verdict.
    assert_eq!(
        run_at(&kit, &qa, TUESDAY, &["approve", "staging", "v1.0.1"]).code,
        0
    );
    let landed = run_at(
        &kit,
        &me,
        TUESDAY,
        &["prod", "--from", "staging", "--direct"],
    );
    assert_eq!(landed.code, 0, "{}{}", landed.stdout, landed.stderr);
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(msg.contains("Policy-Decision: allow"), "{msg}");
    for module in [
        "builtin:qa-approved sha256:",
        "builtin:semver-guard sha256:",
        "builtin:change-window sha256:",
    ] {
        assert!(msg.contains(&format!("Policy-Module: {module}")), "{msg}");
    }
}

const CONFIG: &str = "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\ngit: {mode: direct}\nenvironments:\n  - name: prod\n    overlay: prod\n    allowOverride: ALLOW\n    policies:\n      promote:\n        - module: builtin:semver-guard\n";

fn guarded(allow_override: bool) -> GitOps {
    let mut kit = GitOps::new()
        .file("promote.yaml", &CONFIG.replace("ALLOW", &allow_override.to_string()))
        .file("prod/kustomization.yaml", "resources: [deploy.yaml]\nimages:\n- name: reg/a\n  newTag: v2.0.0\n")
        .file("prod/deploy.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - {name: a, image: reg/a}\n");
    kit.commit("seed");
    kit
}

#[test]
fn break_glass_only_where_allowed_and_it_is_recorded() {
    let kit = guarded(false);
    let down = run_at(&kit, &kit.clone, TUESDAY, &["prod", "v1.0.0"]);
    assert_eq!(
        down.code, 3,
        "a downgrade is rollback's job: {}{}",
        down.stdout, down.stderr
    );
    assert!(
        down.stdout.contains("builtin:semver-guard"),
        "{}",
        down.stdout
    );
    let refused = run_at(
        &kit,
        &kit.clone,
        TUESDAY,
        &[
            "prod",
            "v1.0.0",
            "--override-policy",
            "--reason",
            "INC-1234",
        ],
    );
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("prod does not allow overrides")
            && refused.stderr.contains("allowOverride: true"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        run_at(
            &kit,
            &kit.clone,
            TUESDAY,
            &["prod", "v1.0.0", "--override-policy"]
        )
        .code,
        2,
        "--reason is required"
    );

    let kit = guarded(true);
    let r = run_at(
        &kit,
        &kit.clone,
        TUESDAY,
        &[
            "prod",
            "v1.0.0",
            "--override-policy",
            "--reason",
            "INC-1234",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("policy override") && r.stdout.contains("INC-1234"),
        "{}",
        r.stdout
    );
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.contains("Policy-Decision: deny (overridden)")
            && msg.contains("Policy-Override: INC-1234 by Test User <test@example.com>"),
        "{msg}"
    );
}

#[test]
fn repo_modules_are_read_from_the_remote_and_checked_against_their_pin() {
    let wasm =
        std::fs::read(workspace_root().join("crates/promote-policy/builtins/semver-guard.wasm"))
            .unwrap();
    let digest = {
        use std::io::Write;
        let mut child = Command::new("sha256sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&wasm).unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let config = |pin: &str| {
        format!(
            "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\ngit: {{mode: direct}}\nenvironments:\n  - name: prod\n    overlay: prod\n    policies:\n      promote:\n        - {{module: policies/guard.wasm, sha256: \"{pin}\"}}\n"
        )
    };
    let mut kit = GitOps::new()
        .file("promote.yaml", &config(&"0".repeat(64)))
        .file("prod/kustomization.yaml", "resources: [deploy.yaml]\nimages:\n- name: reg/a\n  newTag: v1.0.0\n")
        .file("prod/deploy.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - {name: a, image: reg/a}\n");
    kit.commit("seed");
    // The module is binary: commit it through git directly.
    let scratch = kit.root().join("scratch");
    std::fs::create_dir_all(scratch.join("policies")).unwrap();
    std::fs::write(scratch.join("policies/guard.wasm"), &wasm).unwrap();
    kit.git_in(&scratch, &["add", "policies/guard.wasm"]);
    kit.git_in(
        &scratch,
        &["commit", "--quiet", "-m", "add a policy module"],
    );
    kit.git_in(&scratch, &["push", "--quiet", "origin", "HEAD:main"]);

    let wrong = run_at(&kit, &kit.clone, TUESDAY, &["prod", "v1.0.1", "--dry-run"]);
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains(&digest) && wrong.stderr.contains(&"0".repeat(64)),
        "names both digests: {}",
        wrong.stderr
    );

    kit.git_in(&scratch, &["pull", "--quiet", "origin", "main"]);
    std::fs::write(scratch.join("promote.yaml"), config(&digest)).unwrap();
    kit.git_in(&scratch, &["commit", "--quiet", "-am", "pin the module"]);
    kit.git_in(&scratch, &["push", "--quiet", "origin", "HEAD:main"]);
    let ok = run_at(&kit, &kit.clone, TUESDAY, &["prod", "v1.0.1", "--dry-run"]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(
        ok.stdout.contains("policies/guard.wasm@origin/main"),
        "{}",
        ok.stdout
    );
    // The working tree's copy does not count: a local edit changes nothing.
    std::fs::create_dir_all(kit.clone.join("policies")).unwrap();
    std::fs::write(kit.clone.join("policies/guard.wasm"), b"not wasm").unwrap();
    assert_eq!(
        run_at(&kit, &kit.clone, TUESDAY, &["prod", "v1.0.1", "--dry-run"]).code,
        0
    );
}

#[test]
fn a_hostile_one_off_module_is_a_policy_error_that_denies() {
    let kit = guarded(false);
    let dir = kit.root().join("hostile");
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))"#,
    )
    .unwrap();
    std::fs::write(dir.join("loop.wasm"), wasm).unwrap();
    std::fs::write(dir.join("promote-policy.yaml"), "name: loop\nversion: 0.0.1\nabi: promote.wasi-command/v1\noperations: [promote]\nresources: {timeoutMs: 300}\n").unwrap();
    let started = std::time::Instant::now();
    let r = run_at(
        &kit,
        &kit.clone,
        TUESDAY,
        &[
            "prod",
            "v2.1.0",
            "--dry-run",
            "--policy",
            dir.join("loop.wasm").to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("timed out after 300 ms"), "{}", r.stdout);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

/// prod gated by the Go qa-approved example only: a repo-path module pinned by sha256, its
/// metadata in the sidecar `promote-policy.yaml` beside it at the remote tip.
const GO_CONFIG: &str = "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\ngit: {mode: direct}\napprovers: {qa: [qa@example.com]}\nenvironments:\n  - name: staging\n    overlay: kustomize/staging\n  - name: prod\n    overlay: kustomize/prod\n    from: staging\n    policies:\n      promote:\n        - {module: policies/qa-approved-go/policy.wasm, sha256: \"PIN\"}\n";

#[test]
fn a_go_policy_from_the_repo_gates_a_promotion() {
    let wasm = promote_testkit::go::go_qa_approved();
    let kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    // The documented pinning step: `policy inspect` prints the digest of the built module.
    let inspect = run_at(
        &kit,
        &kit.clone,
        TUESDAY,
        &["policy", "inspect", wasm.to_str().unwrap(), "-o", "json"],
    );
    assert_eq!(inspect.code, 0, "{}{}", inspect.stdout, inspect.stderr);
    let doc: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(doc["metadata"]["name"], "qa-approved-go", "{doc}");
    let pin = doc["sha256"].as_str().unwrap().to_owned();

    // The module is binary: commit it through git directly, with its sidecar and the config.
    let scratch = kit.root().join("scratch");
    std::fs::create_dir_all(scratch.join("policies/qa-approved-go")).unwrap();
    std::fs::copy(&wasm, scratch.join("policies/qa-approved-go/policy.wasm")).unwrap();
    std::fs::copy(
        wasm.with_file_name("promote-policy.yaml"),
        scratch.join("policies/qa-approved-go/promote-policy.yaml"),
    )
    .unwrap();
    std::fs::write(scratch.join("promote.yaml"), GO_CONFIG.replace("PIN", &pin)).unwrap();
    kit.git_in(&scratch, &["add", "-A"]);
    kit.git_in(
        &scratch,
        &[
            "commit",
            "--quiet",
            "-m",
            "gate prod with the Go qa-approved policy",
        ],
    );
    kit.git_in(&scratch, &["push", "--quiet", "origin", "HEAD:main"]);

    let qa = qa_clone(&kit);
    let me = kit.clone.clone();
    let list = run_at(&kit, &me, TUESDAY, &["policy", "list"]);
    assert_eq!(list.code, 0, "{}{}", list.stdout, list.stderr);
    assert!(
        list.stdout.contains("qa-approved-go")
            && list
                .stdout
                .contains("policies/qa-approved-go/policy.wasm@origin/main"),
        "{}",
        list.stdout
    );
    gates_like_qa_approved(
        &kit,
        &qa,
        "policies/qa-approved-go/policy.wasm@origin/main",
        &pin,
    );
}

/// A Rego policy (`promote.opa/v1`) in promote.yaml: the example qa-approved bundle, built by
/// the real `opa`, committed to the repo and pinned by sha256, gates prod as the built-in does.
#[test]
fn a_rego_policy_from_the_repo_gates_a_promotion() {
    let bundle = std::fs::read(promote_testkit::opa::build_dir(
        &workspace_root().join("examples/policies/rego/qa-approved"),
        &["promote/decision", "promote/validate_settings"],
    ))
    .unwrap();
    let digest = {
        use std::io::Write;
        let mut child = Command::new("sha256sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&bundle).unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    // No cluster here: without its app, protected prod does not ask Argo CD for a marker.
    kit.without_argocd();
    let scratch = kit.root().join("ops");
    kit.git_in(
        kit.root(),
        &["clone", "--quiet", kit.origin.to_str().unwrap(), "ops"],
    );
    std::fs::create_dir_all(scratch.join("policies")).unwrap();
    std::fs::write(scratch.join("policies/qa-approved.tar.gz"), &bundle).unwrap();
    let config = std::fs::read_to_string(scratch.join("promote.yaml")).unwrap();
    let rego = format!(
        "- {{module: policies/qa-approved.tar.gz, sha256: \"{digest}\", settings: {{role: qa}}}}"
    );
    assert!(config.contains("- module: builtin:qa-approved"));
    std::fs::write(
        scratch.join("promote.yaml"),
        config.replacen("- module: builtin:qa-approved", &rego, 1),
    )
    .unwrap();
    kit.git_in(
        &scratch,
        &["add", "promote.yaml", "policies/qa-approved.tar.gz"],
    );
    kit.git_in(
        &scratch,
        &[
            "-c",
            "user.name=Ops",
            "-c",
            "user.email=ops@example.com",
            "commit",
            "--quiet",
            "-m",
            "qa-approved in Rego",
        ],
    );
    kit.git_in(&scratch, &["push", "--quiet", "origin", "HEAD:main"]);

    let qa = qa_clone(&kit);
    gates_like_qa_approved(
        &kit,
        &qa,
        "policies/qa-approved.tar.gz@origin/main",
        &digest,
    );
}

/// The QA gate every port of qa-approved must hold, through the binary: staging v1.0.1 lands;
/// prod waits for QA (exit 4, the module named by `origin`); a rejection denies (exit 3, nothing
/// pushed); an approval lets it land with a `Policy-Module: ORIGIN sha256:PIN allow` trailer.
fn gates_like_qa_approved(kit: &GitOps, qa: &Path, origin: &str, pin: &str) {
    let me = kit.clone.clone();
    assert_eq!(run_at(kit, &me, TUESDAY, &["staging", "v1.0.1"]).code, 0);
    let waiting = run_at(
        kit,
        &me,
        TUESDAY,
        &["prod", "--from", "staging", "--dry-run"],
    );
    assert_eq!(waiting.code, 4, "{}{}", waiting.stdout, waiting.stderr);
    assert!(
        waiting.stdout.contains(origin)
            && waiting
                .stdout
                .contains("approval missing: qa on staging: 0 of 1"),
        "{}",
        waiting.stdout
    );

    let reject = ["reject", "staging", "v1.0.1", "-m", "checkout is broken"];
    assert_eq!(run_at(kit, qa, TUESDAY, &reject).code, 0);
    let head = kit.origin_head();
    let denied = run_at(
        kit,
        &me,
        TUESDAY,
        &["prod", "--from", "staging", "--direct"],
    );
    assert_eq!(denied.code, 3, "{}{}", denied.stdout, denied.stderr);
    assert!(
        denied.stdout.contains("checkout is broken") && denied.stdout.contains("denied by policy"),
        "{}",
        denied.stdout
    );
    assert_eq!(kit.origin_head(), head, "a denial pushes nothing");

    let approve = ["approve", "staging", "v1.0.1", "-m", "fixed and retested"];
    assert_eq!(run_at(kit, qa, TUESDAY, &approve).code, 0);
    let landed = run_at(
        kit,
        &me,
        TUESDAY,
        &["prod", "--from", "staging", "--direct"],
    );
    assert_eq!(landed.code, 0, "{}{}", landed.stdout, landed.stderr);
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(msg.contains("Policy-Decision: allow"), "{msg}");
    assert!(
        msg.contains(&format!("Policy-Module: {origin} sha256:{pin} allow")),
        "{msg}"
    );
    assert!(
        kit.origin_git(&["show", "main:kustomize/prod/kustomization.yaml"])
            .contains("v1.0.1")
    );
}
