//! `kubectl promote policy list | inspect | eval | test` and `kubectl promote verify` through the
//! real binary: real git (bare origins in temp dirs, `refs/pull/N/head` made by hand), real
//! wasmtime with the built-in modules, the real `kubectl kustomize`. `KUBECTL_PROMOTE_NOW` pins
//! the time the policies see.

use std::path::{Path, PathBuf};
use std::process::Command;

use promote_testkit::repo::{GitOps, Run, workspace_root};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");
/// A Tuesday morning in Berlin: outside every window of examples/gitops/promote.yaml.
const TUESDAY: &str = "2026-11-24T09:00:00Z";
/// Friday 17:00 in Berlin: inside the Friday-afternoon window (15:00–24:00).
const FRIDAY: &str = "2026-11-27T16:00:00Z";

const BUILTINS: [&str; 8] = [
    "qa-approved",
    "change-window",
    "semver-guard",
    "soak-time",
    "require-approval",
    "rollback-guard",
    "slo-guard",
    "signed-images",
];

fn run_at(kit: &GitOps, dir: &Path, now: &str, args: &[&str]) -> Run {
    kit.run_bin(BIN, dir, &[("KUBECTL_PROMOTE_NOW", now)], args)
}

fn run(kit: &GitOps, dir: &Path, args: &[&str]) -> Run {
    kit.run_bin(BIN, dir, &[], args)
}

fn examples() -> GitOps {
    GitOps::from_dir(&workspace_root().join("examples/gitops"))
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_owned()
}

fn cases_dir() -> PathBuf {
    workspace_root().join("policies/cases")
}

fn case(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(cases_dir().join(name)).expect("case file"))
        .expect("case json")
}

/// A scratch directory inside the kit (removed with it).
fn scratch(kit: &GitOps, name: &str) -> PathBuf {
    let d = kit.root().join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A module written from WAT (the host reads binary modules only).
fn wasm(path: &Path, wat: &str) {
    std::fs::write(path, wat::parse_str(wat).expect("valid WAT")).unwrap();
}

fn write_json(path: &Path, v: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

// ---------------------------------------------------------------------------------------------
// policy list / inspect

#[test]
fn list_outside_a_repo_shows_the_eight_builtins_with_their_digests() {
    let kit = GitOps::new();
    let outside = scratch(&kit, "outside");
    let r = run(&kit, &outside, &["policy", "list", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["kind"], "PolicyList");
    assert_eq!(doc["apiVersion"], "promote.kubectl.io/v1alpha1");
    let items = doc["items"].as_array().unwrap();
    assert_eq!(items.len(), 8, "{}", r.stdout);
    for (item, name) in items.iter().zip(BUILTINS) {
        assert_eq!(item["name"], name);
        assert_eq!(item["origin"], format!("builtin:{name}"));
        assert_eq!(item["abi"], "promote.wasi-command/v1");
        let file = workspace_root().join(format!("crates/promote-policy/builtins/{name}.wasm"));
        assert_eq!(item["sha256"], sha256_of(&file), "{name}");
    }
    assert_eq!(items[5]["operations"], serde_json::json!(["rollback"]));
    assert_eq!(items[6]["operations"], serde_json::json!(["verify"]));
    // The first run compiled them into the (hermetic) cache; the second finds them there.
    assert!(items.iter().all(|i| i["cached"] == false), "{}", r.stdout);
    let again: Value =
        serde_json::from_str(&run(&kit, &outside, &["policy", "list", "-o", "json"]).stdout)
            .unwrap();
    assert!(
        again["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["cached"] == true),
        "{again}"
    );
    let no_cache: Value = serde_json::from_str(
        &run(
            &kit,
            &outside,
            &["policy", "list", "--no-cache", "-o", "json"],
        )
        .stdout,
    )
    .unwrap();
    assert!(no_cache["items"][0]["cached"].is_null(), "{no_cache}");

    let text = run(&kit, &outside, &["policy", "list"]);
    assert!(text.stdout.starts_with("NAME"), "{}", text.stdout);
    let semver =
        sha256_of(&workspace_root().join("crates/promote-policy/builtins/semver-guard.wasm"));
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with("semver-guard") && l.contains(&semver[..12])),
        "{}",
        text.stdout
    );
}

#[test]
fn list_in_a_repo_names_where_promote_yaml_uses_each_module_and_adds_one_offs() {
    let kit = examples();
    let one_off = workspace_root().join("crates/promote-policy/builtins/soak-time.wasm");
    let r = run(
        &kit,
        &kit.clone,
        &[
            "policy",
            "list",
            "--policy",
            one_off.to_str().unwrap(),
            "-o",
            "yaml",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("apiVersion: promote.kubectl.io/v1alpha1\nkind: PolicyList\n"),
        "{}",
        r.stdout
    );
    let json: Value = serde_json::from_str(
        &run(
            &kit,
            &kit.clone,
            &[
                "policy",
                "list",
                "--policy",
                one_off.to_str().unwrap(),
                "-o",
                "json",
            ],
        )
        .stdout,
    )
    .unwrap();
    let items = json["items"].as_array().unwrap();
    let used = |origin: &str| {
        items
            .iter()
            .find(|i| i["origin"] == origin)
            .map(|i| i["usedBy"].clone())
            .unwrap()
    };
    assert_eq!(
        used("builtin:qa-approved"),
        serde_json::json!(["prod/promote"])
    );
    assert_eq!(
        used("builtin:rollback-guard"),
        serde_json::json!(["prod/rollback"])
    );
    assert_eq!(used("builtin:soak-time"), serde_json::json!([]));
    let last = items.last().unwrap();
    assert_eq!(last["usedBy"], serde_json::json!(["--policy"]));
    assert_eq!(last["name"], "soak-time");
    assert!(
        json["config"].as_str().unwrap().starts_with("origin/main "),
        "{json}"
    );
}

#[test]
fn inspect_shows_metadata_digest_check_and_limits() {
    let kit = GitOps::new();
    let dir = scratch(&kit, "inspect");
    let r = run(
        &kit,
        &dir,
        &["policy", "inspect", "builtin:change-window", "-o", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["kind"], "PolicyInspection");
    assert_eq!(doc["metadata"]["name"], "change-window");
    assert_eq!(
        doc["metadata"]["operations"],
        serde_json::json!(["promote"])
    );
    assert_eq!(
        doc["sha256"],
        sha256_of(&workspace_root().join("crates/promote-policy/builtins/change-window.wasm"))
    );
    assert_eq!(doc["check"]["passed"], true);
    assert_eq!(doc["limits"]["fuel"], 1_000_000_000u64);
    assert_eq!(doc["limits"]["timeoutMs"], 2000);

    // A module that imports from outside WASI: the check names the import; exit 1.
    wasm(
        &dir.join("bad.wasm"),
        r#"(module (import "env" "steal" (func)) (memory (export "memory") 1) (func (export "_start")))"#,
    );
    let bad = run(&kit, &dir, &["policy", "inspect", "bad.wasm", "-o", "json"]);
    assert_eq!(bad.code, 1, "{}{}", bad.stdout, bad.stderr);
    let doc: Value = serde_json::from_str(&bad.stdout).unwrap();
    assert_eq!(doc["check"]["passed"], false);
    assert!(
        doc["check"]["message"]
            .as_str()
            .unwrap()
            .contains("env::steal"),
        "{doc}"
    );

    // A module with its metadata in a sidecar promote-policy.yaml.
    wasm(
        &dir.join("ok.wasm"),
        r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
    );
    std::fs::write(dir.join("promote-policy.yaml"), "name: always\nversion: 0.2.0\nabi: promote.wasi-command/v1\noperations: [promote, rollback]\nresources: {fuel: 2000000000}\n").unwrap();
    let side = run(&kit, &dir, &["policy", "inspect", "ok.wasm"]);
    assert_eq!(side.code, 0, "{}", side.stderr);
    assert!(side.stdout.starts_with("always 0.2.0\n"), "{}", side.stdout);
    assert!(
        side.stdout.contains("operations:  promote, rollback")
            && side.stdout.contains("limits:      fuel 2000000000"),
        "{}",
        side.stdout
    );

    let unknown = run(&kit, &dir, &["policy", "inspect", "builtin:nope"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("builtin:semver-guard"),
        "{}",
        unknown.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// policy eval

#[test]
fn eval_exits_by_the_decision_and_names_policy_errors() {
    let kit = GitOps::new();
    let dir = scratch(&kit, "eval");
    write_json(
        &dir.join("downgrade.json"),
        &case("semver-guard/deny-downgrade.json")["request"],
    );
    write_json(
        &dir.join("patch.json"),
        &case("semver-guard/allow-patch.json")["request"],
    );
    write_json(
        &dir.join("no-qa.json"),
        &case("qa-approved/wait-no-approval.json")["request"],
    );

    let deny = run(
        &kit,
        &dir,
        &[
            "policy",
            "eval",
            "builtin:semver-guard",
            "--input",
            "downgrade.json",
        ],
    );
    assert_eq!(deny.code, 3, "{}{}", deny.stdout, deny.stderr);
    assert!(
        deny.stdout.starts_with("decision: deny\n  Downgrade: "),
        "{}",
        deny.stdout
    );
    assert!(
        deny.stdout.contains("fuel:") && deny.stdout.contains("time:"),
        "{}",
        deny.stdout
    );

    let allow = run(
        &kit,
        &dir,
        &[
            "policy",
            "eval",
            "builtin:semver-guard",
            "--input",
            "patch.json",
            "-o",
            "json",
        ],
    );
    assert_eq!(allow.code, 0, "{}", allow.stderr);
    let doc: Value = serde_json::from_str(&allow.stdout).unwrap();
    assert_eq!(doc["kind"], "PolicyEvaluation");
    assert_eq!(doc["decision"]["decision"], "allow");
    assert!(doc["fuelUsed"].as_u64().unwrap() > 0, "{doc}");

    let wait = run(
        &kit,
        &dir,
        &[
            "policy",
            "eval",
            "builtin:qa-approved",
            "--input",
            "no-qa.json",
        ],
    );
    assert_eq!(wait.code, 4, "{}{}", wait.stdout, wait.stderr);
    assert!(
        wait.stdout.contains("requires approval qa@staging"),
        "{}",
        wait.stdout
    );

    // --settings replaces the request's settings; settings the module refuses are a policy error.
    std::fs::write(dir.join("bad-settings.yaml"), "stableEnvironments: 3\n").unwrap();
    let refused = run(
        &kit,
        &dir,
        &[
            "policy",
            "eval",
            "builtin:semver-guard",
            "--input",
            "patch.json",
            "--settings",
            "bad-settings.yaml",
        ],
    );
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused.stdout.contains("policy error (invalid-settings)")
            && refused.stdout.contains("--settings bad-settings.yaml"),
        "{}",
        refused.stdout
    );

    // A rollback policy asked about a promotion.
    let wrong_op = run(
        &kit,
        &dir,
        &[
            "policy",
            "eval",
            "builtin:rollback-guard",
            "--input",
            "patch.json",
            "-o",
            "json",
        ],
    );
    assert_eq!(wrong_op.code, 1);
    let doc: Value = serde_json::from_str(&wrong_op.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "unsupported-operation", "{doc}");

    // A module that spins forever runs out of fuel.
    wasm(
        &dir.join("spin.wasm"),
        r#"(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))"#,
    );
    std::fs::write(dir.join("promote-policy.yaml"), "name: spin\nversion: 0.1.0\nabi: promote.wasi-command/v1\noperations: [promote]\nresources: {fuel: 1000000}\n").unwrap();
    let spin = run(
        &kit,
        &dir,
        &["policy", "eval", "spin.wasm", "--input", "patch.json"],
    );
    assert_eq!(spin.code, 1, "{}{}", spin.stdout, spin.stderr);
    assert!(
        spin.stdout.contains("policy error (out-of-fuel)"),
        "{}",
        spin.stdout
    );

    let missing = run(
        &kit,
        &dir,
        &[
            "policy",
            "eval",
            "builtin:semver-guard",
            "--input",
            "nope.json",
        ],
    );
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("--input nope.json"),
        "{}",
        missing.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// policy test

#[test]
fn the_builtin_cases_pass() {
    let kit = GitOps::new();
    let r = run(
        &kit,
        &workspace_root(),
        &["policy", "test", "policies/cases"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let total: usize = BUILTINS
        .iter()
        .map(|b| {
            std::fs::read_dir(cases_dir().join(b))
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "json")
                })
                .count()
        })
        .sum();
    assert!(
        r.stdout.ends_with(&format!("{total} passed, 0 failed\n")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("ok    semver-guard/deny-downgrade.json (builtin:semver-guard)"),
        "{}",
        r.stdout
    );
    // The default DIR from the repository root is ./policies/cases.
    let default = run(&kit, &workspace_root(), &["policy", "test", "-o", "json"]);
    assert_eq!(default.code, 0);
    let doc: Value = serde_json::from_str(&default.stdout).unwrap();
    assert_eq!(doc["kind"], "PolicyTestResult");
    assert_eq!(doc["passed"], total);
}

#[test]
fn a_wrong_case_fails_and_modules_are_found_beside_or_named_in_cases() {
    let kit = GitOps::new();
    // A policy project: the module beside cases/ (as `cargo build` output would be copied).
    let project = scratch(&kit, "max-images");
    std::fs::copy(
        workspace_root().join("crates/promote-policy/builtins/semver-guard.wasm"),
        project.join("policy.wasm"),
    )
    .unwrap();
    let mut good = case("semver-guard/deny-downgrade.json");
    write_json(&project.join("cases/deny-downgrade.json"), &good);
    let mut wrong = good.clone();
    wrong["description"] = "deliberately wrong: a downgrade is not allowed".into();
    wrong["expect"] = serde_json::json!({"decision": "allow"});
    write_json(&project.join("cases/wrong.json"), &wrong);

    let r = run(&kit, &project, &["policy", "test"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("ok    deny-downgrade.json"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("FAIL  wrong.json") && r.stdout.contains("decision is deny (Downgrade:"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.ends_with("1 passed, 1 failed\n"), "{}", r.stdout);

    // The module named in each case, in a directory that says nothing about it.
    let loose = scratch(&kit, "loose");
    good["module"] = "builtin:semver-guard".into();
    write_json(&loose.join("a.json"), &good);
    let mut settings_case = case("change-window/settings-bad-timezone.json");
    settings_case["module"] = "builtin:change-window".into();
    write_json(&loose.join("b.json"), &settings_case);
    let named = run(&kit, &loose, &["policy", "test", ".", "-o", "json"]);
    assert_eq!(named.code, 0, "{}{}", named.stdout, named.stderr);
    let doc: Value = serde_json::from_str(&named.stdout).unwrap();
    assert_eq!(doc["cases"][1]["module"], "builtin:change-window");
    assert_eq!(doc["passed"], 2);

    // Without a module anywhere: every case fails, saying how to name one.
    let orphan = scratch(&kit, "orphan");
    write_json(
        &orphan.join("c.json"),
        &case("semver-guard/allow-patch.json"),
    );
    let none = run(&kit, &orphan, &["policy", "test", "."]);
    assert_eq!(none.code, 1);
    assert!(
        none.stdout.contains("pass --policy PATH") && none.stdout.ends_with("0 passed, 1 failed\n"),
        "{}",
        none.stdout
    );
    // ...and --policy names it.
    let with = run(
        &kit,
        &orphan,
        &[
            "policy",
            "test",
            ".",
            "--policy",
            project.join("policy.wasm").to_str().unwrap(),
        ],
    );
    assert_eq!(with.code, 0, "{}{}", with.stdout, with.stderr);
}

// ---------------------------------------------------------------------------------------------
// verify

/// Edit a file in the user's clone and commit it there (a hand-written change, not pushed).
fn local_commit(
    kit: &GitOps,
    dir: &Path,
    path: &str,
    edit: impl Fn(&str) -> String,
    message: &str,
) {
    let p = dir.join(path);
    let text = std::fs::read_to_string(&p).unwrap_or_default();
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, edit(&text)).unwrap();
    kit.git_in(dir, &["add", "-A"]);
    kit.git_in(dir, &["commit", "--quiet", "-m", message]);
}

const PROD: &str = "kustomize/prod/kustomization.yaml";
const STAGING: &str = "kustomize/staging/kustomization.yaml";

fn bump(text: &str) -> String {
    text.replace("newTag: v1.0.0", "newTag: v1.0.1")
}

#[test]
fn verify_denies_a_hand_written_bump_of_prod_in_the_friday_window() {
    let kit = examples();
    local_commit(&kit, &kit.clone, PROD, bump, "prod: v1.0.1 by hand");
    let r = run_at(&kit, &kit.clone, FRIDAY, &["verify"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("prod: v1.0.0 → v1.0.1 (from staging)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("render: ok (kubectl kustomize"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("builtin:change-window") && r.stdout.contains("ChangeWindow"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("never used") && r.stdout.ends_with("result: denied by policy\n"),
        "{}",
        r.stdout
    );
    // On a Tuesday the window does not deny; qa-approved does, because staging does not run
    // v1.0.1 (nothing QA could approve).
    let tuesday = run_at(&kit, &kit.clone, TUESDAY, &["verify", "-o", "json"]);
    assert_eq!(tuesday.code, 3, "{}", tuesday.stdout);
    let doc: Value = serde_json::from_str(&tuesday.stdout).unwrap();
    assert_eq!(doc["kind"], "VerifyResult");
    let reasons = doc["environments"][0]["policy"]["reasons"].to_string();
    assert!(
        reasons.contains("staging runs v1.0.0, not v1.0.1: promote staging first")
            && !reasons.contains("ChangeWindow"),
        "{reasons}"
    );
    assert_eq!(doc["environments"][0]["environment"], "prod");
    assert_eq!(
        doc["environments"][0]["images"].as_array().unwrap().len(),
        9
    );
}

#[test]
fn verify_waits_for_qa_approval_then_allows() {
    let mut kit = examples();
    // prod is protected: QA's approval counts when it is signed by a key approverKeys allows.
    let qa = kit.signing_approver("qa", "Quinn QA", "qa@example.com");
    // staging runs v1.0.1 on the base branch; someone bumps prod by hand.
    let staging = kit.origin_file(STAGING).unwrap();
    kit.put(STAGING, &bump(&staging));
    kit.commit("staging: v1.0.1");
    kit.git(&["pull", "--quiet", "--ff-only"]);
    local_commit(&kit, &kit.clone, PROD, bump, "prod: v1.0.1 by hand");

    let waiting = run_at(&kit, &kit.clone, TUESDAY, &["verify"]);
    assert_eq!(waiting.code, 4, "{}{}", waiting.stdout, waiting.stderr);
    assert!(
        waiting.stdout.contains("approval missing: qa on staging"),
        "{}",
        waiting.stdout
    );
    assert!(
        waiting.stdout.ends_with("result: approvals missing\n"),
        "{}",
        waiting.stdout
    );

    let approve = run_at(&kit, &qa, TUESDAY, &["approve", "staging", "v1.0.1"]);
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    let allowed = run_at(&kit, &kit.clone, TUESDAY, &["verify"]);
    assert_eq!(allowed.code, 0, "{}{}", allowed.stdout, allowed.stderr);
    assert!(
        allowed.stdout.contains("policies: allow") && allowed.stdout.ends_with("result: allowed\n"),
        "{}",
        allowed.stdout
    );
}

#[test]
fn verify_of_a_change_that_touches_no_overlay_passes() {
    let kit = examples();
    local_commit(
        &kit,
        &kit.clone,
        "README.md",
        |t| format!("{t}\nmore docs\n"),
        "docs",
    );
    let r = run_at(&kit, &kit.clone, FRIDAY, &["verify"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("no environment changed"), "{}", r.stdout);
    // A single commit as REV, and an explicit range, agree.
    let head = kit.git(&["rev-parse", "HEAD"]);
    assert_eq!(
        run_at(&kit, &kit.clone, FRIDAY, &["verify", head.trim()]).code,
        0
    );
    let json = run_at(
        &kit,
        &kit.clone,
        FRIDAY,
        &["verify", "HEAD~1..HEAD", "-o", "json"],
    );
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["result"], "unchanged");
    assert_eq!(doc["environments"], serde_json::json!([]));
}

#[test]
fn verify_reports_a_render_failure_as_an_error() {
    let kit = examples();
    local_commit(
        &kit,
        &kit.clone,
        PROD,
        |t| t.replace("- ../base", "- ../nowhere"),
        "prod: broken",
    );
    let r = run_at(&kit, &kit.clone, TUESDAY, &["verify"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("render: failed") && r.stdout.contains("nowhere"),
        "{}",
        r.stdout
    );
}

#[test]
fn verify_pr_fetches_the_pull_request_head_and_keeps_the_base_config() {
    let kit = examples();
    // A contributor's pull request: bump prod and drop prod's policies from promote.yaml.
    kit.git_in(
        kit.root(),
        &["clone", "--quiet", kit.origin.to_str().unwrap(), "contrib"],
    );
    let contrib = kit.root().join("contrib");
    local_commit(&kit, &contrib, PROD, bump, "prod: v1.0.1");
    local_commit(
        &kit,
        &contrib,
        "promote.yaml",
        |t| t[..t.find("    policies:").unwrap()].to_owned(),
        "no more policies",
    );
    kit.git_in(
        &contrib,
        &["push", "--quiet", "origin", "HEAD:refs/pull/7/head"],
    );
    let state = kit.clone_state();

    let r = run_at(&kit, &kit.clone, FRIDAY, &["verify", "--pr", "7"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("pull request #7 (refs/pull/7/head)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("this change edits promote.yaml; it was not used"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("ChangeWindow"), "{}", r.stdout);
    assert_eq!(
        kit.clone_state(),
        state,
        "the user's working tree, index and branches are untouched"
    );

    let missing = run_at(&kit, &kit.clone, FRIDAY, &["verify", "--pr", "8"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("refs/pull/8/head"),
        "{}",
        missing.stderr
    );
}

#[test]
fn verify_after_the_merge_judges_the_change_against_where_it_started() {
    let mut kit = examples();
    let prod = kit.origin_file(PROD).unwrap();
    kit.put(PROD, &bump(&prod));
    kit.commit("prod: v1.0.1 pushed by hand");
    kit.git(&["pull", "--quiet", "--ff-only"]);
    // HEAD is origin/main: the default range is empty.
    let nothing = run_at(&kit, &kit.clone, FRIDAY, &["verify"]);
    assert_eq!(nothing.code, 0, "{}{}", nothing.stdout, nothing.stderr);
    assert!(
        nothing.stdout.contains("no environment changed"),
        "{}",
        nothing.stdout
    );
    // The commit itself, already on main, is judged against its parent.
    let r = run_at(&kit, &kit.clone, FRIDAY, &["verify", "HEAD"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("is already on origin/main")
            && r.stdout.contains("prod: v1.0.0 → v1.0.1"),
        "{}",
        r.stdout
    );
}

/// Rego modules through `policy inspect | eval | test`: the example bundle, built by the real
/// `opa`, found as `bundle.tar.gz` in its directory; one needing `http.send` is refused by name.
#[test]
fn rego_bundles_inspect_eval_and_test() {
    let kit = examples();
    let src = workspace_root().join("examples/policies/rego/qa-approved");
    let built =
        promote_testkit::opa::build_dir(&src, &["promote/decision", "promote/validate_settings"]);
    let dir = scratch(&kit, "rego");
    std::fs::copy(&built, dir.join("bundle.tar.gz")).unwrap();
    let cases = dir.join("cases");
    std::fs::create_dir_all(&cases).unwrap();
    for e in std::fs::read_dir(src.join("cases")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, cases.join(p.file_name().unwrap())).unwrap();
    }

    let inspect = run(&kit, &dir, &["policy", "inspect", ".", "-o", "json"]);
    assert_eq!(inspect.code, 0, "{}", inspect.stderr);
    let doc: Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(doc["metadata"]["abi"], "promote.opa/v1");
    assert_eq!(doc["sha256"], sha256_of(&dir.join("bundle.tar.gz")));
    assert!(
        doc["check"]["message"]
            .as_str()
            .unwrap()
            .contains("opa build -t wasm"),
        "{}",
        doc["check"]
    );

    write_json(
        &dir.join("request.json"),
        &case("qa-approved/deny-rejected-later.json")["request"],
    );
    let eval = run(
        &kit,
        &dir,
        &["policy", "eval", "bundle.tar.gz", "--input", "request.json"],
    );
    assert_eq!(eval.code, 3, "{}{}", eval.stdout, eval.stderr);
    assert!(eval.stdout.contains("QaRejected"), "{}", eval.stdout);

    let test = run(&kit, &dir, &["policy", "test", "."]);
    assert_eq!(test.code, 0, "{}{}", test.stdout, test.stderr);
    assert!(
        test.stdout.contains("14 passed, 0 failed"),
        "{}",
        test.stdout
    );

    let http = promote_testkit::opa::build_files(
        &[
            (
                "policy.rego",
                "package promote\ndecision := {\"apiVersion\": \"policy.promote.kubectl.io/v1alpha1\", \"kind\": \"Decision\", \"decision\": \"allow\"} if http.send({\"method\": \"GET\", \"url\": \"https://example.com\"}).status_code == 200\n",
            ),
            (
                ".manifest",
                r#"{"roots": ["promote"], "metadata": {"kubectl-promote": {"name": "phone-home", "version": "0.0.1", "abi": "promote.opa/v1", "operations": ["promote"]}}}"#,
            ),
        ],
        &["promote/decision"],
    );
    let refused = run(&kit, &dir, &["policy", "inspect", http.to_str().unwrap()]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stdout.contains("http.send") || refused.stderr.contains("http.send"),
        "{}{}",
        refused.stdout,
        refused.stderr
    );
}
