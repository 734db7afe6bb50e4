//! `kubectl promote policy new` as a new author uses it, with no network: for each language a
//! project is generated in a temp dir, its native unit tests pass, its build script builds the
//! module offline (CARGO_NET_OFFLINE, GOPROXY=off) and prints the pin, `policy test` passes its
//! cases in the sandbox, and the module gates a promotion from the repo. `policy sdk` writes
//! the SDKs on their own. `--save-requests` turns a real promotion into cases `policy test`
//! passes.

use std::path::{Path, PathBuf};
use std::process::Command;

use promote_testkit::go::target_dir;
use promote_testkit::repo::{GitOps, Run, workspace_root};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");
const TUESDAY: &str = "2026-11-24T09:00:00Z";
/// Friday 17:00 in Berlin: inside examples/gitops's Friday-afternoon window.
const FRIDAY: &str = "2026-11-27T16:00:00Z";

fn run(kit: &GitOps, dir: &Path, args: &[&str]) -> Run {
    kit.run_bin(BIN, dir, &[("KUBECTL_PROMOTE_NOW", TUESDAY)], args)
}

/// Runs `program args` in `dir` with no network: cargo offline, no Go proxy, the Go build
/// caches as the machine has them. Returns stdout; panics with both streams on failure.
fn offline(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("CARGO_NET_OFFLINE", "true")
        .env("CARGO_TARGET_DIR", target_dir().join("policy-new"))
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOSUMDB", "off")
        .output()
        .unwrap_or_else(|e| panic!("running {program} in {}: {e}", dir.display()));
    assert!(
        out.status.success(),
        "{program} {args:?} in {} failed:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Generates, tests natively, builds and `policy test`s a project; returns its directory, the
/// module file and the sha256 the build script printed.
fn generate_and_build(
    kit: &GitOps,
    name: &str,
    lang: &str,
    native_test: &[&str],
) -> (PathBuf, String, String) {
    let made = run(
        kit,
        kit.root(),
        &[
            "policy",
            "new",
            name,
            "--lang",
            lang,
            "--decides",
            "promote,rollback",
        ],
    );
    assert_eq!(made.code, 0, "{}{}", made.stdout, made.stderr);
    assert!(made.stdout.contains("./build.sh"), "{}", made.stdout);
    let dir = kit.root().join(name);
    for f in ["README.md", "build.sh", ".gitignore"] {
        assert!(dir.join(f).is_file(), "{f} in {}", dir.display());
    }
    let cases: Vec<_> = std::fs::read_dir(dir.join("cases")).unwrap().collect();
    assert_eq!(cases.len(), 2, "two cases");

    offline(&dir, native_test[0], &native_test[1..]);
    let built = offline(&dir, "sh", &["build.sh"]);
    let sum = built
        .split("sha256:")
        .nth(1)
        .and_then(|s| s.get(..64))
        .unwrap_or_else(|| panic!("build.sh prints the sha256: {built}"))
        .to_owned();
    let module = built
        .lines()
        .find_map(|l| l.strip_prefix("built "))
        .and_then(|l| l.split_whitespace().next())
        .expect("built MODULE")
        .to_owned();
    assert!(
        built.contains(&format!(
            "module: policies/{name}/{module}, sha256: \"{sum}\""
        )),
        "the promote.yaml snippet pins it: {built}"
    );

    let tested = run(kit, &dir, &["policy", "test", "."]);
    assert_eq!(tested.code, 0, "{}{}", tested.stdout, tested.stderr);
    assert!(
        tested.stdout.contains("2 passed, 0 failed"),
        "{}",
        tested.stdout
    );
    let inspect = run(kit, &dir, &["policy", "inspect", ".", "-o", "json"]);
    assert_eq!(inspect.code, 0, "{}{}", inspect.stdout, inspect.stderr);
    let doc: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(doc["sha256"], sum.as_str());
    assert_eq!(doc["metadata"]["name"], name);
    assert_eq!(
        doc["metadata"]["operations"],
        serde_json::json!(["promote", "rollback"])
    );
    (dir, module, sum)
}

/// A repo whose staging and prod are gated by the module at `policies/NAME/`, frozen for prod;
/// the module's files are committed as built (binary, so through a clone).
fn gated_by(kit: &mut GitOps, name: &str, project: &Path, files: &[&str], module: &str, pin: &str) {
    let entry = format!(
        "{{module: policies/{name}/{module}, sha256: \"{pin}\", settings: {{frozen: [prod]}}}}"
    );
    let overlay =
        |tag: &str| format!("resources: [deploy.yaml]\nimages:\n- name: reg/a\n  newTag: {tag}\n");
    let deploy = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - {name: a, image: reg/a}\n";
    kit.put(
        "promote.yaml",
        &format!(
            "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\ngit: {{mode: direct}}\nenvironments:\n  - name: staging\n    overlay: staging\n    policies:\n      promote:\n        - {entry}\n  - name: prod\n    overlay: prod\n    from: staging\n    policies:\n      promote:\n        - {entry}\n"
        ),
    )
    .put("staging/kustomization.yaml", &overlay("v2.0.0"))
    .put("staging/deploy.yaml", deploy)
    .put("prod/kustomization.yaml", &overlay("v2.0.0"))
    .put("prod/deploy.yaml", deploy);
    kit.commit("seed");
    let ops = kit.root().join("ops");
    kit.git_in(
        kit.root(),
        &["clone", "--quiet", kit.origin.to_str().unwrap(), "ops"],
    );
    std::fs::create_dir_all(ops.join("policies").join(name)).unwrap();
    for f in files {
        std::fs::copy(project.join(f), ops.join("policies").join(name).join(f)).unwrap();
    }
    kit.git_in(&ops, &["add", "-A"]);
    kit.git_in(
        &ops,
        &[
            "-c",
            "user.name=Ops",
            "-c",
            "user.email=ops@example.com",
            "commit",
            "--quiet",
            "-m",
            "add the policy",
        ],
    );
    kit.git_in(&ops, &["push", "--quiet", "origin", "HEAD:main"]);
    kit.git(&["pull", "--quiet", "--ff-only", "origin", "main"]);
}

/// staging goes ahead, prod is denied by the generated rule, named in the plan.
fn gates_the_promotion(kit: &GitOps, name: &str) {
    let staging = run(kit, &kit.clone, &["staging", "v2.1.0", "--dry-run"]);
    assert_eq!(staging.code, 0, "{}{}", staging.stdout, staging.stderr);
    assert!(staging.stdout.contains(name), "{}", staging.stdout);
    let prod = run(kit, &kit.clone, &["prod", "v2.1.0", "--direct"]);
    assert_eq!(prod.code, 3, "{}{}", prod.stdout, prod.stderr);
    assert!(
        prod.stdout.contains("EnvironmentFrozen") && prod.stdout.contains("prod is frozen"),
        "{}",
        prod.stdout
    );
}

/// `policy new` in LANG, tested natively with `native`, built, `policy test`ed, committed (its
/// `files`) and gating a promotion; `sdk` is a file of the SDK vendored into it, if any.
fn a_new_policy_gates(name: &str, lang: &str, native: &[&str], files: &[&str], sdk: Option<&str>) {
    let mut kit = GitOps::new();
    let (dir, module, pin) = generate_and_build(&kit, name, lang, native);
    assert_eq!(module, files[0]);
    if let Some(f) = sdk {
        assert!(dir.join(f).is_file(), "{f} vendored");
    }
    gated_by(&mut kit, name, &dir, files, &module, &pin);
    gates_the_promotion(&kit, name);
}

#[test]
fn a_new_go_policy_builds_tests_and_gates_offline() {
    a_new_policy_gates(
        "freeze-go",
        "go",
        &["go", "test", "./..."],
        &["policy.wasm", "promote-policy.yaml"],
        Some("sdk/go/policy/run.go"),
    );
}

#[test]
fn a_new_rego_policy_builds_tests_and_gates_offline() {
    a_new_policy_gates(
        "freeze-rego",
        "rego",
        &["opa", "test", "--ignore", "cases", "."],
        &["bundle.tar.gz"],
        None,
    );
}

#[test]
fn a_new_rust_policy_builds_tests_and_gates_offline() {
    a_new_policy_gates(
        "freeze-rust",
        "rust",
        &["cargo", "test", "--offline"],
        &["policy.wasm"],
        Some("sdk/rust/src/lib.rs"),
    );
}

#[test]
fn policy_new_and_sdk_refuse_bad_names_and_never_overwrite() {
    let kit = GitOps::new();
    let bad = run(
        &kit,
        kit.root(),
        &["policy", "new", "Cost_Guard", "--lang", "go"],
    );
    assert_eq!(bad.code, 2, "{}{}", bad.stdout, bad.stderr);
    assert!(
        bad.stderr
            .contains("lowercase letters, digits and single dashes"),
        "{}",
        bad.stderr
    );

    let sdk = run(
        &kit,
        kit.root(),
        &["policy", "sdk", "--lang", "go", "--out", "third_party/sdk"],
    );
    assert_eq!(sdk.code, 0, "{}{}", sdk.stdout, sdk.stderr);
    assert!(
        sdk.stdout.contains(
            "-replace github.com/kubectl-promote/kubectl-promote/sdk/go=./third_party/sdk"
        ),
        "{}",
        sdk.stdout
    );
    let written =
        std::fs::read_to_string(kit.root().join("third_party/sdk/policy/run.go")).unwrap();
    assert!(written.contains("func RunWith("));

    let again = run(
        &kit,
        kit.root(),
        &[
            "policy",
            "sdk",
            "--lang",
            "rust",
            "--out",
            "third_party/sdk",
        ],
    );
    assert_eq!(again.code, 2, "{}{}", again.stdout, again.stderr);
    assert!(
        again.stderr.contains("exists and is not empty"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read_to_string(kit.root().join("third_party/sdk/policy/run.go")).unwrap(),
        written,
        "nothing overwritten"
    );
    let rust = run(
        &kit,
        kit.root(),
        &[
            "policy", "sdk", "--lang", "rust", "--out", "rust-sdk", "-o", "json",
        ],
    );
    assert_eq!(rust.code, 0, "{}{}", rust.stdout, rust.stderr);
    let doc: serde_json::Value = serde_json::from_str(&rust.stdout).unwrap();
    assert_eq!(doc["kind"], "PolicySdk");
    let manifest = std::fs::read_to_string(kit.root().join("rust-sdk/Cargo.toml")).unwrap();
    assert!(
        manifest.contains("name = \"promote-policy-sdk\"") && !manifest.contains("workspace"),
        "{manifest}"
    );
}

/// A dry run on Friday afternoon, saved: one case per prod policy, named after the environment,
/// the operation and the policy, each naming its built-in and expecting what it said; `policy
/// test` passes them all, and a second save numbers its files rather than overwrite.
#[test]
fn save_requests_turns_a_real_promotion_into_cases_policy_test_passes() {
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    kit.without_argocd();
    let me = kit.clone.clone();
    assert_eq!(run(&kit, &me, &["staging", "v1.0.1"]).code, 0);
    let friday = |args: &[&str]| kit.run_bin(BIN, &me, &[("KUBECTL_PROMOTE_NOW", FRIDAY)], args);
    let denied = friday(&[
        "prod",
        "--from",
        "staging",
        "--dry-run",
        "--save-requests",
        "saved",
    ]);
    assert_eq!(denied.code, 3, "{}{}", denied.stdout, denied.stderr);
    assert!(
        denied
            .stderr
            .contains("saved 3 policy requests as test cases"),
        "{}",
        denied.stderr
    );
    let saved = me.join("saved");
    let mut names: Vec<String> = std::fs::read_dir(&saved)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "prod-promote-change-window.json",
            "prod-promote-qa-approved.json",
            "prod-promote-semver-guard.json"
        ]
    );
    let case: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(saved.join("prod-promote-change-window.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(case["module"], "builtin:change-window");
    assert_eq!(case["expect"]["decision"], "deny");
    assert_eq!(case["settings"]["timezone"], "Europe/Berlin");
    assert_eq!(case["request"]["context"]["now"], FRIDAY);
    assert_eq!(case["request"]["promotion"]["environment"], "prod");
    let qa: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(saved.join("prod-promote-qa-approved.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(qa["expect"]["decision"], "require-approval");

    let tested = run(
        &kit,
        &me,
        &["policy", "test", "saved", "--junit", "junit.xml"],
    );
    assert_eq!(tested.code, 0, "{}{}", tested.stdout, tested.stderr);
    assert!(
        tested.stdout.contains("3 passed, 0 failed"),
        "{}",
        tested.stdout
    );
    let junit = std::fs::read_to_string(me.join("junit.xml")).unwrap();
    assert!(junit.contains(r#"tests="3" failures="0""#), "{junit}");

    // A case that no longer holds: expected and actual side by side.
    let edited = std::fs::read_to_string(saved.join("prod-promote-semver-guard.json"))
        .unwrap()
        .replacen("\"decision\": \"allow\"", "\"decision\": \"deny\"", 1);
    std::fs::write(saved.join("prod-promote-semver-guard.json"), edited).unwrap();
    let failed = run(&kit, &me, &["policy", "test", "saved"]);
    assert_eq!(failed.code, 1, "{}{}", failed.stdout, failed.stderr);
    assert!(
        failed
            .stdout
            .lines()
            .any(|l| l.contains("expected") && l.contains("actual"))
            && failed
                .stdout
                .lines()
                .any(|l| l.contains("decision: deny") && l.contains("decision: allow")),
        "{}",
        failed.stdout
    );

    let again = friday(&[
        "prod",
        "--from",
        "staging",
        "--dry-run",
        "--save-requests",
        "saved",
        "-q",
    ]);
    assert_eq!(again.code, 3, "{}{}", again.stdout, again.stderr);
    assert!(saved.join("prod-promote-change-window-2.json").is_file());
}

/// Runs `policy test DIR` and asserts every saved case passes: `n` of them.
fn saved_cases_pass(kit: &GitOps, dir: &Path, n: usize) {
    let tested = run(kit, dir, &["policy", "test", "saved"]);
    assert_eq!(tested.code, 0, "{}{}", tested.stdout, tested.stderr);
    assert!(
        tested.stdout.contains(&format!("{n} passed, 0 failed")),
        "{}",
        tested.stdout
    );
}

/// A saved case file of `saved/`, parsed.
fn saved_case(dir: &Path, name: &str) -> serde_json::Value {
    let path = dir.join("saved").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// `--save-requests` on a rollback, dry run and real: rollback-guard (with no Argo CD history
/// to vouch for the target here) denies both; each leaves a case (the second numbered, not
/// overwriting the first) with the rollback as the policy saw it, and `policy test` passes both.
#[test]
fn save_requests_turns_a_rollback_into_cases_policy_test_passes() {
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    kit.without_argocd();
    let config = kit.origin_file("promote.yaml").unwrap().replacen(
        "    mode: direct\n",
        "    mode: direct\n    policies:\n      rollback:\n        - {module: builtin:rollback-guard, settings: {maxHistoryDepth: 1}}\n",
        1,
    );
    kit.put("promote.yaml", &config);
    kit.commit("staging: a rollback goes back one change at most");
    let me = kit.clone.clone();
    assert_eq!(run(&kit, &me, &["staging", "v1.0.1"]).code, 0);
    assert_eq!(run(&kit, &me, &["staging", "v1.0.2"]).code, 0);

    let save = ["--save-requests", "saved"];
    let too_deep = run(
        &kit,
        &me,
        &[
            &["rollback", "staging", "--to", "v1.0.0", "--dry-run"],
            &save[..],
        ]
        .concat(),
    );
    assert_eq!(too_deep.code, 3, "{}{}", too_deep.stdout, too_deep.stderr);
    assert!(
        too_deep
            .stderr
            .contains("saved 1 policy request as test cases"),
        "{}",
        too_deep.stderr
    );
    let denied = saved_case(&me, "staging-rollback-rollback-guard.json");
    assert_eq!(denied["module"], "builtin:rollback-guard");
    assert_eq!(denied["settings"]["maxHistoryDepth"], 1);
    assert_eq!(denied["expect"]["decision"], "deny");
    assert!(
        denied["expect"]["reasons"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "a denial names its reasons: {denied}"
    );
    assert_eq!(denied["request"]["operation"], "rollback");
    assert_eq!(denied["request"]["rollback"]["environment"], "staging");
    assert_eq!(denied["request"]["rollback"]["from"]["version"], "v1.0.2");
    assert_eq!(denied["request"]["rollback"]["to"]["version"], "v1.0.0");
    assert_eq!(denied["request"]["context"]["dryRun"], true);

    let back = run(&kit, &me, &[&["rollback", "staging"], &save[..]].concat());
    assert_eq!(back.code, 3, "{}{}", back.stdout, back.stderr);
    let second = saved_case(&me, "staging-rollback-rollback-guard-2.json");
    assert_eq!(second["expect"]["decision"], "deny");
    assert_eq!(second["request"]["rollback"]["to"]["version"], "v1.0.1");
    assert_eq!(second["request"]["context"]["dryRun"], false);
    saved_cases_pass(&kit, &me, 2);
}

/// `--save-requests` on `verify`: a hand-made change to prod judged on Friday afternoon is
/// denied; each of prod's policies leaves a case with the images the change runs, and `policy
/// test` passes them all.
#[test]
fn save_requests_turns_a_verify_into_cases_policy_test_passes() {
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    kit.without_argocd();
    let me = kit.clone.clone();
    kit.git(&["pull", "--quiet", "--ff-only", "origin", "main"]);
    let overlay = me.join("kustomize/prod/kustomization.yaml");
    let text = std::fs::read_to_string(&overlay).unwrap();
    std::fs::write(&overlay, text.replace("newTag: v1.0.0", "newTag: v1.0.1")).unwrap();
    kit.git(&["commit", "--quiet", "-am", "prod: v1.0.1 by hand"]);

    let verify = kit.run_bin(
        BIN,
        &me,
        &[("KUBECTL_PROMOTE_NOW", FRIDAY)],
        &["verify", "--save-requests", "saved"],
    );
    assert_eq!(verify.code, 3, "{}{}", verify.stdout, verify.stderr);
    let mut names: Vec<String> = std::fs::read_dir(me.join("saved"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "one case per prod policy: {names:?}");
    let window = names
        .iter()
        .find(|n| n.starts_with("prod-") && n.ends_with("-change-window.json"))
        .unwrap_or_else(|| panic!("no change-window case in {names:?}"));
    let case = saved_case(&me, window);
    assert_eq!(case["module"], "builtin:change-window");
    assert_eq!(case["expect"]["decision"], "deny");
    assert_eq!(case["request"]["context"]["now"], FRIDAY);
    assert!(
        case["request"].to_string().contains("\"v1.0.1\""),
        "the request carries the version the change runs: {}",
        case["request"]
    );
    saved_cases_pass(&kit, &me, 3);
}
