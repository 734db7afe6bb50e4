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

/// A clone of origin whose git identity is QA's (approvers.qa lists qa@example.com), signing
/// its commits with a key `approverKeys.ssh` allows for it: prod is protected, so only
/// verified approvals count there.
fn qa_clone(kit: &mut GitOps) -> PathBuf {
    kit.signing_approver("qa", "Quinn QA", "qa@example.com")
}

#[test]
fn prod_needs_qa_approval_a_rejection_denies_and_windows_hold() {
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    // No cluster here: without its app, protected prod does not ask Argo CD for a marker.
    kit.without_argocd();
    let qa = qa_clone(&mut kit);
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
const GO_CONFIG: &str = "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\ngit: {mode: direct}\napprovers: {qa: [qa@example.com]}\napproverKeys: {ssh: .promote/allowed_signers}\nenvironments:\n  - name: staging\n    overlay: kustomize/staging\n  - name: prod\n    overlay: kustomize/prod\n    from: staging\n    protected: true\n    policies:\n      promote:\n        - {module: policies/qa-approved-go/policy.wasm, sha256: \"PIN\"}\n";

#[test]
fn a_go_policy_from_the_repo_gates_a_promotion() {
    let wasm = promote_testkit::go::go_qa_approved();
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
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

    let qa = qa_clone(&mut kit);
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

    let qa = qa_clone(&mut kit);
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

fn sha256_hex(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// Writes `wasm` and its sidecar `promote-policy.yaml` (metadata `sidecar`) into a fresh
/// directory below the kit, for `--policy`.
fn one_off(kit: &GitOps, name: &str, wasm: &[u8], sidecar: &str) -> PathBuf {
    let dir = kit.root().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.wasm"), wasm).unwrap();
    std::fs::write(dir.join("promote-policy.yaml"), sidecar).unwrap();
    dir.join("policy.wasm")
}

const DENY_SLEPT: &str = r#"{\"apiVersion\":\"policy.promote.kubectl.io/v1alpha1\",\"kind\":\"Decision\",\"decision\":\"deny\",\"reasons\":[{\"code\":\"Slept\",\"message\":\"woke up\"}]}"#;

/// A module that sleeps 60 s (`poll_oneoff` on the monotonic clock) and then denies with code
/// `Slept`. The guest's clock is virtual: the sleep returns at once, 60 s later in its time,
/// and the promotion is denied in well under the 2 s limit instead of blocking for a minute.
#[test]
fn a_sleeping_module_does_not_hold_the_promotion() {
    let kit = guarded(false);
    let len = DENY_SLEPT.replace("\\\"", "\"").len();
    let wasm = wat::parse_str(format!(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 200) "{DENY_SLEPT}")
          (func (export "_start")
            (i32.store (i32.const 1040) (i32.const 1))
            (i64.store (i32.const 1048) (i64.const 60000000000))
            (drop (call $poll (i32.const 1024) (i32.const 2048) (i32.const 1) (i32.const 3000)))
            (i32.store (i32.const 0) (i32.const 200))
            (i32.store (i32.const 4) (i32.const {len}))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#
    ))
    .unwrap();
    let module = one_off(
        &kit,
        "sleeper",
        &wasm,
        "name: sleeper\nversion: 0.0.1\nabi: promote.wasi-command/v1\noperations: [promote]\n",
    );
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
            module.to_str().unwrap(),
        ],
    );
    let elapsed = started.elapsed();
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("Slept: woke up"),
        "the module ran on after its sleep: {}",
        r.stdout
    );
    assert!(
        elapsed < std::time::Duration::from_secs(15),
        "a 60 s sleep held the promotion for {elapsed:?}"
    );
}

/// The same with Go's `time.Sleep`, whose runtime waits in `poll_oneoff` when no goroutine can
/// run: the module sees the minute pass (`time.Since`) without the host waiting for it.
#[test]
fn a_go_module_sleeping_a_minute_does_not_hold_the_promotion() {
    let kit = guarded(false);
    let src = kit.root().join("go-sleeper");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("go.mod"), "module sleeper\n\ngo 1.21\n").unwrap();
    std::fs::write(
        src.join("main.go"),
        r#"package main

import (
	"fmt"
	"time"
)

func main() {
	start := time.Now()
	time.Sleep(60 * time.Second)
	slept := time.Since(start).Round(time.Second)
	fmt.Printf(`{"apiVersion":"policy.promote.kubectl.io/v1alpha1","kind":"Decision","decision":"deny","reasons":[{"code":"Slept","message":"slept %s"}]}`, slept)
}
"#,
    )
    .unwrap();
    std::fs::write(
        src.join("promote-policy.yaml"),
        "name: go-sleeper\nversion: 0.0.1\nabi: promote.wasi-command/v1\noperations: [promote]\n",
    )
    .unwrap();
    let module = promote_testkit::go::go_policy(&src);
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
            module.to_str().unwrap(),
        ],
    );
    let elapsed = started.elapsed();
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Slept: slept 1m0s"), "{}", r.stdout);
    // Compiling a Go module takes a few seconds in a debug build; the sleep adds nothing.
    assert!(
        elapsed < std::time::Duration::from_secs(45),
        "a 60 s sleep held the promotion for {elapsed:?}"
    );
}

/// A flipped bit in a compiled module in the user's cache would be mapped as native code (and
/// crash every later run). Its integrity record catches it: the next run rebuilds the entry,
/// succeeds, and says so under `-v`.
#[test]
fn a_corrupted_compiled_module_cache_is_rebuilt_and_reported() {
    let kit = guarded(false);
    let args = ["prod", "v2.1.0", "--dry-run", "-v"];
    let first = run_at(&kit, &kit.clone, TUESDAY, &args);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    assert!(!first.stderr.contains("recompiled"), "{}", first.stderr);
    let compiled = kit.home.join(".cache/kubectl-promote/compiled");
    let mut artifacts = Vec::new();
    for engine in std::fs::read_dir(&compiled).unwrap() {
        for f in std::fs::read_dir(engine.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "cwasm") {
                artifacts.push(p);
            }
        }
    }
    assert!(
        !artifacts.is_empty(),
        "nothing cached under {}",
        compiled.display()
    );
    for p in &artifacts {
        let mut bytes = std::fs::read(p).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x40;
        std::fs::write(p, &bytes).unwrap();
    }
    let healed = run_at(&kit, &kit.clone, TUESDAY, &args);
    assert_eq!(healed.code, 0, "{}{}", healed.stdout, healed.stderr);
    assert!(
        healed
            .stderr
            .contains("builtin:semver-guard: the compiled-module cache entry")
            && healed
                .stderr
                .contains("its bytes do not match its integrity record")
            && healed.stderr.contains("recompiled and replaced it"),
        "{}",
        healed.stderr
    );
    let quiet = run_at(&kit, &kit.clone, TUESDAY, &["prod", "v2.1.0", "--dry-run"]);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert!(
        !quiet.stderr.contains("recompiled"),
        "-v only: {}",
        quiet.stderr
    );
    let again = run_at(&kit, &kit.clone, TUESDAY, &args);
    assert!(
        !again.stderr.contains("recompiled"),
        "healed: {}",
        again.stderr
    );
}

/// prod gated by a repo module (pinned, with its sidecar) under `failurePolicy: POLICY`.
fn with_repo_module(wasm: &[u8], sidecar: &str, failure_policy: &str) -> GitOps {
    let pin = sha256_hex(wasm);
    let mut kit = GitOps::new()
        .file("promote.yaml", &format!(
            "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\ngit: {{mode: direct}}\nenvironments:\n  - name: prod\n    overlay: prod\n    policies:\n      promote:\n        - {{module: policies/m/policy.wasm, sha256: \"{pin}\", failurePolicy: {failure_policy}}}\n"
        ))
        .file("policies/m/promote-policy.yaml", sidecar)
        .file("prod/kustomization.yaml", "resources: [deploy.yaml]\nimages:\n- name: reg/a\n  newTag: v2.0.0\n")
        .file("prod/deploy.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - {name: a, image: reg/a}\n");
    kit.commit("seed");
    let ops = kit.root().join("ops");
    kit.git_in(
        kit.root(),
        &["clone", "--quiet", kit.origin.to_str().unwrap(), "ops"],
    );
    let scratch = ops;
    std::fs::write(scratch.join("policies/m/policy.wasm"), wasm).unwrap();
    kit.git_in(&scratch, &["add", "policies/m/policy.wasm"]);
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
            "add the module",
        ],
    );
    kit.git_in(&scratch, &["push", "--quiet", "origin", "HEAD:main"]);
    kit
}

/// A module that spins in `validate-settings` (it spins in every operation) is a policy error
/// like any other: under `Fail` it denies (exit 3, code `PolicyError`), under `Ignore` it
/// warns and the promotion goes on, the plan marking it ignored. Either way the error is
/// printed once, naming the limit and the key that raises it.
#[test]
fn a_module_failing_in_validate_settings_is_governed_by_its_failure_policy() {
    let spin = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))"#,
    )
    .unwrap();
    let sidecar = "name: spin\nversion: 0.0.1\nabi: promote.wasi-command/v1\noperations: [promote]\nresources: {timeoutMs: 300}\n";
    let error = "in validate-settings: timed out after 300 ms";

    let kit = with_repo_module(&spin, sidecar, "Fail");
    let denied = run_at(&kit, &kit.clone, TUESDAY, &["prod", "v2.1.0", "--direct"]);
    assert_eq!(denied.code, 3, "{}{}", denied.stdout, denied.stderr);
    let all = format!("{}{}", denied.stdout, denied.stderr);
    assert_eq!(all.matches(error).count(), 1, "printed once: {all}");
    assert!(
        denied.stdout.contains("✗ error")
            && denied.stdout.contains("`resources: {timeoutMs: N}`")
            && denied.stdout.contains("denied by policy"),
        "{}",
        denied.stdout
    );
    let json = run_at(
        &kit,
        &kit.clone,
        TUESDAY,
        &["prod", "v2.1.0", "--dry-run", "-o", "json"],
    );
    assert_eq!(json.code, 3, "{}", json.stderr);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["policy"]["decision"], "deny");
    assert_eq!(doc["policy"]["reasons"][0]["code"], "PolicyError");
    assert_eq!(doc["policy"]["policies"][0]["decision"], "error");

    let kit = with_repo_module(&spin, sidecar, "Ignore");
    let head = kit.origin_head();
    let landed = run_at(&kit, &kit.clone, TUESDAY, &["prod", "v2.1.0", "--direct"]);
    assert_eq!(landed.code, 0, "{}{}", landed.stdout, landed.stderr);
    let all = format!("{}{}", landed.stdout, landed.stderr);
    assert_eq!(all.matches(error).count(), 1, "printed once: {all}");
    assert!(
        landed.stdout.contains("- ignored")
            && landed
                .stdout
                .contains("policy error, ignored (failurePolicy: Ignore)")
            && !landed.stdout.contains('✗'),
        "{}",
        landed.stdout
    );
    assert_ne!(kit.origin_head(), head, "the promotion landed");
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.contains("Policy-Module: policies/m/policy.wasm@origin/main sha256:")
            && msg.contains(" ignored"),
        "{msg}"
    );
}

/// Limit and output errors point at the fix: the `resources` key that raises a limit and the
/// docs' section, and for output that is not a Decision, what the module printed and that logs
/// belong on stderr.
#[test]
fn policy_errors_point_at_the_fix() {
    let kit = guarded(false);
    let run = |name: &str, wat_text: &str, resources: &str| {
        let wasm = wat::parse_str(wat_text).unwrap();
        let module = one_off(
            &kit,
            name,
            &wasm,
            &format!(
                "name: {name}\nversion: 0.0.1\nabi: promote.wasi-command/v1\noperations: [promote]\n{resources}"
            ),
        );
        let r = run_at(
            &kit,
            &kit.clone,
            TUESDAY,
            &[
                "prod",
                "v2.1.0",
                "--dry-run",
                "--policy",
                module.to_str().unwrap(),
            ],
        );
        assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
        r.stdout
    };
    let out = run(
        "bomb",
        r#"(module (memory (export "memory") 1)
            (func (export "_start")
              (loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
              unreachable))"#,
        "resources: {memoryMiB: 8}\n",
    );
    assert!(
        out.contains("exceeded its memory limit of 8 MiB")
            && out.contains("`resources: {memoryMiB: N}`")
            && out.contains("\"Limits\" in docs/policies.md"),
        "{out}"
    );
    let chatty = "starting up\\nchecking images\\n{\\\"apiVersion\\\":\\\"policy.promote.kubectl.io/v1alpha1\\\",\\\"kind\\\":\\\"Decision\\\",\\\"decision\\\":\\\"allow\\\"}";
    let len = chatty.replace("\\n", "\n").replace("\\\"", "\"").len();
    let out = run(
        "chatty",
        &format!(
            r#"(module
              (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
              (memory (export "memory") 1)
              (data (i32.const 64) "{chatty}")
              (func (export "_start")
                (i32.store (i32.const 0) (i32.const 64))
                (i32.store (i32.const 4) (i32.const {len}))
                (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#
        ),
        "",
    );
    assert!(
        out.contains("wrote an invalid Decision")
            && out.contains(&format!(
                "it printed (all {len} bytes): \"starting up\\nchecking images\\n{{"
            ))
            && out.contains("logs go to stderr"),
        "{out}"
    );
}

/// Break-glass config: prod allows overrides; its promote policies are `POLICIES` (YAML list
/// items, indented for `promote:`).
fn break_glass_kit(policies: &str) -> GitOps {
    let mut kit = GitOps::new()
        .file("promote.yaml", &format!("apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\ngit: {{mode: direct}}\napprovers: {{pm: [pm@example.com]}}\nenvironments:\n  - name: prod\n    overlay: prod\n    allowOverride: true\n    policies:\n      promote:\n{policies}"))
        .file("prod/kustomization.yaml", "resources: [deploy.yaml]\nimages:\n- name: reg/a\n  newTag: v2.0.0\n")
        .file("prod/deploy.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - {name: a, image: reg/a}\n");
    kit.commit("seed");
    kit
}

const OVERRIDE: [&str; 3] = ["--override-policy", "--reason", "INC-1234"];

/// `builtin:change-window` without `honorOverride` refuses break-glass: its denial stands
/// (exit 3) with a reason naming it, while the overridable semver-guard denial is set aside.
#[test]
fn an_override_does_not_open_a_window_that_refuses_it() {
    let kit = break_glass_kit(
        "        - module: builtin:semver-guard\n        - module: builtin:change-window\n          settings: {timezone: Europe/Berlin, deny: [{days: [Fri], from: \"15:00\", to: \"24:00\"}]}\n",
    );
    let head = kit.origin_head();
    let mut args = vec!["prod", "v1.0.0", "--direct"];
    args.extend(OVERRIDE);
    let r = run_at(&kit, &kit.clone, FRIDAY, &args);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("OverrideRefused")
            && r.stdout.contains(
                "policy change-window (builtin:change-window) does not let this denial be overridden"
            )
            && r.stdout.contains("deny (overridden) builtin:semver-guard")
            && r.stdout.contains("denied by policy"),
        "{}",
        r.stdout
    );
    assert_eq!(kit.origin_head(), head, "nothing pushed");

    // The same outside the window: only the overridable denial remains, and it is set aside.
    let r = run_at(&kit, &kit.clone, TUESDAY, &args);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.contains("Policy-Decision: deny (overridden)")
            && msg.contains("Policy-Override: INC-1234 by Test User <test@example.com>")
            && msg.contains(" deny (overridden)\n")
            && msg.contains("Policy-Module: builtin:change-window sha256:"),
        "{msg}"
    );
}

/// An override covers denials, never missing approvals: the promoter cannot waive somebody
/// else's sign-off. The downgrade denial is set aside; the PM approval is still required
/// (exit 4, nothing pushed in direct mode).
#[test]
fn an_override_does_not_waive_required_approvals() {
    let kit = break_glass_kit(
        "        - module: builtin:semver-guard\n        - module: builtin:require-approval\n          settings: {role: pm}\n",
    );
    let head = kit.origin_head();
    let mut args = vec!["prod", "v1.0.0", "--direct"];
    args.extend(OVERRIDE);
    let r = run_at(&kit, &kit.clone, TUESDAY, &args);
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("approval missing: pm on prod")
            && r.stdout
                .contains("an override never covers missing approvals")
            && r.stdout.contains("waiting for approval"),
        "{}",
        r.stdout
    );
    assert_eq!(kit.origin_head(), head, "nothing pushed");
    let mut json = args.clone();
    json.extend(["--dry-run", "-o", "json"]);
    let r = run_at(&kit, &kit.clone, TUESDAY, &json);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["result"], "awaiting-approval");
    assert_eq!(doc["policy"]["decision"], "require-approval");
    assert_eq!(doc["policy"]["overridden"][0]["policy"], "semver-guard");
    assert_eq!(doc["policy"]["policies"][0]["override"], "overridden");
}
