//! The binary against the Argo CD stand-in (`promote_testkit::argocd`): the example GitOps repo
//! (`examples/gitops`) pushed to a bare origin, its two Applications created from
//! `examples/gitops/argocd/*.yaml` with `repoURL` pointing at that origin, the real `kubectl
//! kustomize` rendering, and the binary reaching the stand-in through a real kubeconfig (or
//! argocd-server's REST API). Each test owns its stand-in and its repository.

use std::path::Path;
use std::time::{Duration, Instant};

use promote_testkit::argocd::{ArgoCdStandIn, ArgoVersion, Options};
use promote_testkit::repo::{GitOps, Run, workspace_root};
use serde_json::{Value, json};

pub(super) const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");
pub(super) const STAGING: &str = "staging-microservices-demo";
pub(super) const PROD: &str = "prod-microservices-demo";

pub(super) const CONFIG: &str = "apiVersion: promote.kubectl.io/v1alpha1
kind: PromotionConfig
git: {remote: origin, baseBranch: main, mode: pr}
environments:
  - name: staging
    overlay: kustomize/staging
    mode: direct
    argocd: {app: staging-microservices-demo, namespace: argocd}
  - name: prod
    overlay: kustomize/prod
    from: staging
    protected: true
    argocd: {app: prod-microservices-demo, namespace: argocd}
";

pub(super) struct Bed {
    pub(super) kit: GitOps,
    pub(super) argo: ArgoCdStandIn,
}

/// The example repo and its Applications. `prod_auto_sync`: give prod auto-sync (the example
/// leaves it off, as teams usually do for prod).
pub(super) fn bed(version: ArgoVersion, prod_auto_sync: bool) -> Bed {
    bed_with(version, prod_auto_sync, &[STAGING, PROD])
}

pub(super) fn bed_with(version: ArgoVersion, prod_auto_sync: bool, apps: &[&str]) -> Bed {
    bed_opts(Options::new(version), prod_auto_sync, apps)
}

fn bed_opts(options: Options, prod_auto_sync: bool, apps: &[&str]) -> Bed {
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    // The example's environments and Argo CD apps, without its policies: these tests are about
    // Argo CD, not about approvals or change windows.
    kit.put("promote.yaml", CONFIG);
    kit.commit("promote.yaml without policies");
    let argo = ArgoCdStandIn::start(options);
    for name in apps {
        let mut doc = example_app(&kit, name);
        if *name == PROD && prod_auto_sync {
            doc["spec"]["syncPolicy"] = json!({"automated": {"prune": true, "selfHeal": true}});
        }
        let auto = doc["spec"]["syncPolicy"]["automated"].is_object();
        argo.create_application(doc);
        if auto {
            // Let auto-sync deploy what git holds first, so every test starts from one history
            // entry on the apps with auto-sync.
            let deadline = Instant::now() + Duration::from_secs(30);
            while argo
                .application(name)
                .is_none_or(|a| a["status"]["history"].as_array().is_none_or(Vec::is_empty))
            {
                assert!(
                    Instant::now() < deadline,
                    "the stand-in did not auto-sync {name} within 30s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    Bed { kit, argo }
}

/// The example's Application `name` (`examples/gitops/argocd/`), its `repoURL` pointing at
/// the test's origin.
pub(super) fn example_app(kit: &GitOps, name: &str) -> Value {
    let file = workspace_root().join(format!("examples/gitops/argocd/{name}.yaml"));
    let text = std::fs::read_to_string(&file).unwrap();
    let mut doc: Value = promote_core::yaml::from_str(&file.display().to_string(), &text).unwrap();
    doc["spec"]["source"]["repoURL"] = json!(kit.origin.to_str().unwrap());
    doc
}

pub(super) fn run_env(bed: &Bed, kubeconfig: &Path, extra: &[(&str, &str)], args: &[&str]) -> Run {
    let kubeconfig = kubeconfig.to_str().expect("utf-8 path");
    let mut env = vec![("KUBECONFIG", kubeconfig)];
    env.extend_from_slice(extra);
    bed.kit.run_bin(BIN, &bed.kit.clone, &env, args)
}

pub(super) fn run(bed: &Bed, args: &[&str]) -> Run {
    run_env(bed, bed.argo.kubeconfig_path(), &[], args)
}

pub(super) fn app(bed: &Bed, name: &str) -> Value {
    bed.argo.application(name).expect("application exists")
}

fn deployed(app: &Value) -> String {
    app["status"]["history"]
        .as_array()
        .and_then(|h| h.last())
        .and_then(|e| e["revision"].as_str())
        .unwrap_or_default()
        .to_owned()
}

pub(super) fn annotation<'a>(app: &'a Value, key: &str) -> Option<&'a str> {
    app["metadata"]["annotations"][key].as_str()
}

/// Every live image of the app runs `tag`.
pub(super) fn runs(bed: &Bed, name: &str, tag: &str) -> bool {
    let images = bed.argo.live_images(name);
    !images.is_empty() && images.iter().all(|i| i.ends_with(&format!(":{tag}")))
}

fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("error:") || l.contains("caused by"))
        .collect()
}

#[test]
fn staging_with_auto_sync_waits_until_our_commit_runs_synced_and_healthy() {
    let bed = bed(ArgoVersion::V3_5, false);
    let r = run(&bed, &["staging", "v1.0.1", "--wait=60s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let head = bed.kit.origin_head();
    assert!(
        r.stdout
            .contains(&format!("deployed {} on staging", &head[..7])),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("auto-sync is on"), "{}", r.stderr);
    let a = app(&bed, STAGING);
    assert_eq!(
        deployed(&a),
        head,
        "the deployed revision (history[-1]) is our commit"
    );
    assert_eq!(a["status"]["sync"]["status"], "Synced");
    assert_eq!(a["status"]["health"]["status"], "Healthy");
    assert_eq!(
        a["status"]["history"].as_array().unwrap().last().unwrap()["initiatedBy"],
        json!({"automated": true})
    );
    assert!(
        annotation(&a, "promote.kubectl.io/healthy-revisions")
            .unwrap()
            .contains(&head),
        "{a}"
    );
    assert!(runs(&bed, STAGING, "v1.0.1"));
}

#[test]
fn prod_without_auto_sync_gets_a_sync_operation_of_ours() {
    let bed = bed(ArgoVersion::V3_5, false);
    let r = run(&bed, &["prod", "v1.0.1", "--direct", "--wait=60s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("auto-sync is off: starting a sync"),
        "{}",
        r.stderr
    );
    let head = bed.kit.origin_head();
    let a = app(&bed, PROD);
    assert_eq!(deployed(&a), head);
    assert_eq!(a["status"]["sync"]["status"], "Synced");
    assert_eq!(a["status"]["health"]["status"], "Healthy");
    let last = a["status"]["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last["initiatedBy"]["username"],
        "Test User <test@example.com>"
    );
    let info = a["status"]["operationState"]["operation"]["info"]
        .as_array()
        .unwrap();
    assert!(info.iter().any(|i| i["name"] == "promote-id"), "{info:?}");
    assert!(runs(&bed, PROD, "v1.0.1"));
    assert!(
        a["spec"]["syncPolicy"]["automated"].is_null(),
        "a sync does not touch the sync policy"
    );
}

#[test]
fn degraded_release_exits_5_at_once_then_argocd_rollback_sticks_and_resume_waits_for_git() {
    let bed = bed(ArgoVersion::V3_5, false);
    let good = run(&bed, &["staging", "v1.0.1", "--wait=60s"]);
    assert_eq!(good.code, 0, "{}", good.stderr);
    let good_rev = bed.kit.origin_head();

    // A release whose pods crash: Degraded is an answer, not something to wait out.
    bed.argo.set_health_for_tag("v1.0.2", "Degraded");
    let started = Instant::now();
    let bad = run(&bed, &["staging", "v1.0.2", "--wait=120s"]);
    assert_eq!(bad.code, 5, "{}\n{}", bad.stdout, bad.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "exit 5 at once, not at the deadline: {:?}",
        started.elapsed()
    );
    assert!(bad.stderr.contains("staging is Degraded"), "{}", bad.stderr);
    assert!(
        bad.stderr.contains("kubectl promote rollback staging"),
        "{}",
        bad.stderr
    );
    let bad_rev = bed.kit.origin_head();

    // status and history, as scripts read them.
    let status = run(&bed, &["status", "staging", "-o", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let doc: Value = serde_json::from_str(&status.stdout).unwrap();
    let argocd = &doc["environments"][0]["argocd"];
    assert_eq!(argocd["app"], "argocd/staging-microservices-demo");
    assert_eq!(argocd["health"], "Degraded");
    assert_eq!(argocd["sync"], "Synced");
    assert_eq!(argocd["deployedRevision"], json!(bad_rev));
    assert_eq!(argocd["deployedVersion"], "v1.0.2");
    assert_eq!(argocd["autoSync"], "on");
    assert!(argocd["rollbackMarker"].is_null());
    let history = run(&bed, &["history", "staging", "-o", "json"]);
    assert_eq!(history.code, 0, "{}", history.stderr);
    let doc: Value = serde_json::from_str(&history.stdout).unwrap();
    assert_eq!(doc["kind"], "History");
    let entries = doc["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert_eq!(
        (
            entries[0]["version"].as_str(),
            entries[0]["wasHealthy"].as_bool(),
            entries[0]["running"].as_bool()
        ),
        (Some("v1.0.2"), Some(false), Some(true))
    );
    assert_eq!(
        (
            entries[1]["version"].as_str(),
            entries[1]["wasHealthy"].as_bool()
        ),
        (Some("v1.0.1"), Some(true))
    );
    assert_eq!(entries[1]["revision"], json!(good_rev));
    assert_eq!(
        (entries[2]["version"].as_str(), &entries[2]["wasHealthy"]),
        (Some("v1.0.0"), &Value::Null)
    );
    assert_eq!(entries[2]["initiatedBy"], "automated");
    let limited = run(&bed, &["history", "staging", "--limit", "1"]);
    assert_eq!(limited.code, 0, "{}", limited.stderr);
    assert!(
        limited.stdout.contains("v1.0.2") && !limited.stdout.contains("v1.0.1"),
        "{}",
        limited.stdout
    );

    // Roll back through Argo CD: the default target is the newest entry running another version
    // that was recorded healthy.
    let rb = run(
        &bed,
        &[
            "rollback",
            "staging",
            "--strategy",
            "argocd",
            "--wait=60s",
            "-m",
            "checkout fails",
        ],
    );
    assert_eq!(rb.code, 0, "{}\n{}", rb.stdout, rb.stderr);
    assert!(
        rb.stdout.contains("rolled back staging to v1.0.1"),
        "{}",
        rb.stdout
    );
    let a = app(&bed, STAGING);
    assert_eq!(
        a["spec"]["syncPolicy"]["automated"],
        json!({"prune": true, "selfHeal": true, "enabled": false}),
        "auto-sync off, prune/selfHeal kept"
    );
    assert_eq!(
        annotation(&a, "promote.kubectl.io/rolled-back-by"),
        Some("Test User <test@example.com>")
    );
    assert_eq!(
        annotation(&a, "promote.kubectl.io/rollback-reason"),
        Some("checkout fails")
    );
    assert_eq!(deployed(&a), good_rev);
    assert_eq!(a["status"]["health"]["status"], "Healthy");
    // It sticks: were auto-sync still on, the stand-in would sync HEAD (v1.0.2) again.
    bed.argo.patch_application(
        STAGING,
        &json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}}),
    );
    std::thread::sleep(Duration::from_secs(3));
    let a = app(&bed, STAGING);
    assert_eq!(
        deployed(&a),
        good_rev,
        "{}",
        bed.argo.controller_log().join("\n")
    );
    assert!(runs(&bed, STAGING, "v1.0.1"));
    let status = run(&bed, &["status", "staging"]);
    assert!(
        status.stdout.contains("rolled back by Test User"),
        "{}",
        status.stdout
    );

    // Promotions are refused while the marker is set, unless --resume.
    let refused = run(&bed, &["staging", "v1.0.3"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--resume") && refused.stderr.contains("rolled back with Argo CD"),
        "{}",
        refused.stderr
    );
    assert_eq!(bed.kit.origin_head(), bad_rev, "nothing was pushed");

    // resume is refused while git still holds the version rolled back from.
    let resume = run(&bed, &["resume", "staging"]);
    assert_eq!(resume.code, 1, "{}", resume.stderr);
    assert!(
        resume.stderr.contains("git still holds v1.0.2") && resume.stderr.contains("--force"),
        "{}",
        resume.stderr
    );
    assert!(annotation(&app(&bed, STAGING), "promote.kubectl.io/rolled-back-by").is_some());

    // Fix git (a reviewed revert), then resume: auto-sync comes back as it was.
    let revert = run(&bed, &["rollback", "staging", "--strategy", "revert"]);
    assert_eq!(revert.code, 0, "{}\n{}", revert.stdout, revert.stderr);
    let resumed = run(&bed, &["resume", "staging"]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let a = app(&bed, STAGING);
    assert_eq!(
        a["spec"]["syncPolicy"]["automated"],
        json!({"prune": true, "selfHeal": true})
    );
    assert!(annotation(&a, "promote.kubectl.io/rolled-back-by").is_none());
    // The revert renders what runs: Argo CD finds it Synced, so auto-sync has nothing to do and
    // writes no history; the wait knows that from the comparison.
    let sync = run(&bed, &["sync", "staging", "--wait=60s"]);
    assert_eq!(sync.code, 0, "{}", sync.stderr);
    assert!(
        sync.stderr.contains("already runs the render"),
        "{}",
        sync.stderr
    );
    let a = app(&bed, STAGING);
    assert_eq!(
        a["status"]["sync"]["revision"],
        json!(bed.kit.origin_head())
    );
    assert_eq!(a["status"]["sync"]["status"], "Synced");
    assert_eq!(deployed(&a), good_rev);
    assert!(runs(&bed, STAGING, "v1.0.1"));
}

/// Argo CD may still show the Degraded from before an operation on the comparisons right after
/// it (its cluster cache lags the apply: D1, testbed finding P2). A rollback --wait from a
/// Degraded release waits past that stale Degraded until Healthy, and never records the good
/// revision unhealthy; a release that stays Degraded from a Degraded one still ends exit 5, at
/// the deadline, saying it is Degraded and that its health never changed.
#[test]
fn a_degraded_from_before_the_operation_is_waited_out_not_trusted() {
    let bed = bed(ArgoVersion::V3_5, false);
    assert_eq!(run(&bed, &["staging", "v1.0.1", "--wait=60s"]).code, 0);
    let good = bed.kit.origin_head();
    bed.argo.set_health_for_tag("v1.0.2", "Degraded");
    bed.argo.set_health_for_tag("v1.0.3", "Degraded");
    assert_eq!(run(&bed, &["staging", "v1.0.2", "--wait=60s"]).code, 5);

    // Longer than the grace a same-second comparison gets.
    bed.argo.set_health_lag(Duration::from_secs(4));
    let args: Vec<&str> = "rollback staging --strategy argocd --to v1.0.1 --yes --wait=60s"
        .split(' ')
        .collect();
    let rb = run(&bed, &args);
    assert_eq!(
        rb.code,
        0,
        "{}\n{}\n{}\n{}",
        rb.stdout,
        rb.stderr,
        bed.argo.controller_log().join("\n"),
        app(&bed, STAGING)
    );
    let a = app(&bed, STAGING);
    assert_eq!(deployed(&a), good);
    assert_eq!(a["status"]["health"]["status"], "Healthy");
    let unhealthy = annotation(&a, "promote.kubectl.io/unhealthy-revisions").unwrap_or("");
    assert!(!unhealthy.contains(&good), "{unhealthy}");

    // prod: v1.0.2 (Degraded), then v1.0.3, which is Degraded too: no change of health to
    // prove the Degraded is the new one's, so the wait runs to its deadline.
    bed.argo.set_health_lag(Duration::ZERO);
    let r = run(&bed, &["prod", "v1.0.2", "--direct", "--yes", "--wait=60s"]);
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    let started = Instant::now();
    let r = run(&bed, &["prod", "v1.0.3", "--direct", "--yes", "--wait=6s"]);
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        r.stderr
            .contains("prod is Degraded (no change of health since before the operation)"),
        "{}",
        r.stderr
    );
    let a = app(&bed, PROD);
    assert_eq!(deployed(&a), bed.kit.origin_head());
    let unhealthy = annotation(&a, "promote.kubectl.io/unhealthy-revisions").unwrap_or("");
    assert!(!unhealthy.contains(&bed.kit.origin_head()), "{unhealthy}");
}

/// Puts staging on v1.0.1 (healthy) then v1.0.2 (Degraded) and rolls back with Argo CD.
fn rolled_back(version: ArgoVersion) -> Bed {
    let bed = bed(version, false);
    assert_eq!(run(&bed, &["staging", "v1.0.1", "--wait=60s"]).code, 0);
    bed.argo.set_health_for_tag("v1.0.2", "Degraded");
    assert_eq!(run(&bed, &["staging", "v1.0.2", "--wait=60s"]).code, 5);
    let rb = run(
        &bed,
        &["rollback", "staging", "--to", "v1.0.1", "--wait=60s"],
    );
    assert_eq!(rb.code, 0, "{}\n{}", rb.stdout, rb.stderr);
    bed
}

#[test]
fn argo_cd_3_0_rollback_removes_automated_and_promote_resume_brings_it_back() {
    let bed = rolled_back(ArgoVersion::V3_0);
    let a = app(&bed, STAGING);
    assert!(
        a["spec"]["syncPolicy"]["automated"].is_null(),
        "3.0 prunes `enabled`, so automated is removed: {}",
        a["spec"]
    );
    assert_eq!(
        annotation(&a, "promote.kubectl.io/auto-sync-disabled-by"),
        Some("removed")
    );
    let before: Value =
        serde_json::from_str(annotation(&a, "promote.kubectl.io/sync-policy-before").unwrap())
            .unwrap();
    assert_eq!(before, json!({"prune": true, "selfHeal": true}));
    let rolled_to = deployed(&a);

    let refused = run(&bed, &["resume", "staging"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    // A fix is promoted with --resume: pushed, auto-sync restored, deployed.
    let r = run(&bed, &["staging", "v1.0.3", "--resume", "--wait=60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let a = app(&bed, STAGING);
    assert_eq!(
        a["spec"]["syncPolicy"]["automated"],
        json!({"prune": true, "selfHeal": true})
    );
    assert!(annotation(&a, "promote.kubectl.io/rolled-back-by").is_none());
    assert_ne!(deployed(&a), rolled_to);
    assert_eq!(deployed(&a), bed.kit.origin_head());
    assert!(runs(&bed, STAGING, "v1.0.3"));
}

#[test]
fn resume_with_force_restores_auto_sync_while_git_holds_the_bad_version() {
    let bed = rolled_back(ArgoVersion::V3_5);
    let r = run(&bed, &["resume", "staging", "--force", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (
            doc["kind"].as_str(),
            doc["autoSync"].as_str(),
            doc["forced"].as_bool()
        ),
        (Some("ResumeResult"), Some("on"), Some(true))
    );
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    let a = app(&bed, STAGING);
    assert_eq!(
        a["spec"]["syncPolicy"]["automated"],
        json!({"prune": true, "selfHeal": true})
    );
    assert!(annotation(&a, "promote.kubectl.io/rolled-back-by").is_none());
    let again = run(&bed, &["resume", "staging"]);
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("nothing to resume"),
        "{}",
        again.stderr
    );
}

#[test]
fn rollback_prod_with_auto_sync_on_by_id_and_dry_run() {
    let bed = bed(ArgoVersion::V3_5, true);
    assert_eq!(
        run(&bed, &["prod", "v1.0.1", "--direct", "--wait=60s"]).code,
        0
    );
    let first = bed.kit.origin_head();
    assert_eq!(
        run(&bed, &["prod", "v1.0.2", "--direct", "--wait=60s"]).code,
        0
    );
    let id = app(&bed, PROD)["status"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["revision"] == json!(first))
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let dry = run(
        &bed,
        &["rollback", "prod", "--to-id", &id.to_string(), "--dry-run"],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("dry run"), "{}", dry.stdout);
    assert!(
        annotation(&app(&bed, PROD), "promote.kubectl.io/rolled-back-by").is_none(),
        "a dry run changes nothing"
    );
    let r = run(
        &bed,
        &[
            "rollback",
            "prod",
            "--to-id",
            &id.to_string(),
            "--wait=60s",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["kind"], "RollbackResult");
    assert_eq!(doc["wait"]["result"], "ready");
    let a = app(&bed, PROD);
    assert_eq!(deployed(&a), first);
    assert_eq!(
        a["spec"]["syncPolicy"]["automated"]["enabled"],
        json!(false)
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        deployed(&app(&bed, PROD)),
        first,
        "auto-sync stays off: HEAD is not re-synced"
    );
    assert!(runs(&bed, PROD, "v1.0.1"));
}

#[test]
fn rest_transport_promotes_and_syncs_through_argocd_server() {
    let bed = bed(ArgoVersion::V3_5, false);
    let url = bed.argo.url();
    let token = bed.argo.argocd_token().to_owned();
    // No kubeconfig at all: only argocd-server is reachable.
    let nowhere = bed.kit.root().join("no-kubeconfig");
    let r = run_env(
        &bed,
        &nowhere,
        &[("ARGOCD_AUTH_TOKEN", &token)],
        &["staging", "v1.0.1", "--wait=60s", "--argocd-server", &url],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(deployed(&app(&bed, STAGING)), bed.kit.origin_head());
    let r = run_env(
        &bed,
        &nowhere,
        &[("ARGOCD_AUTH_TOKEN", &token), ("ARGOCD_SERVER", &url)],
        &["sync", "prod", "--wait=60s"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(deployed(&app(&bed, PROD)), bed.kit.origin_head());
    let log = bed.argo.request_log();
    assert!(log.iter().any(|l| l.starts_with("POST /api/v1/applications/prod-microservices-demo/sync -> 200")), "{log:?}");
    let history = run_env(
        &bed,
        &nowhere,
        &[("ARGOCD_AUTH_TOKEN", &token)],
        &["history", "prod", "--argocd-server", &url, "-o", "json"],
    );
    assert_eq!(history.code, 0, "{}", history.stderr);
    let doc: Value = serde_json::from_str(&history.stdout).unwrap();
    assert_eq!(
        doc["entries"][0]["initiatedBy"], "admin",
        "argocd-server records the token's user"
    );
    // Without a token: one line naming the variable.
    let r = run_env(
        &bed,
        &nowhere,
        &[],
        &["sync", "prod", "--argocd-server", &url],
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("ARGOCD_AUTH_TOKEN"), "{}", r.stderr);
}

#[test]
fn missing_app_forbidden_and_unreachable_each_give_one_clear_line() {
    let bed = bed_with(ArgoVersion::V3_5, false, &[STAGING]);
    let missing = run(&bed, &["sync", "prod"]);
    assert_eq!(missing.code, 1);
    assert_eq!(error_lines(&missing.stderr).len(), 1, "{}", missing.stderr);
    assert!(
        missing
            .stderr
            .contains("argocd/prod-microservices-demo not found")
            && missing.stderr.contains("promote.yaml"),
        "{}",
        missing.stderr
    );

    bed.argo.forbid(Some(&[]));
    let forbidden = run(&bed, &["sync", "staging"]);
    assert_eq!(forbidden.code, 1);
    assert_eq!(
        error_lines(&forbidden.stderr).len(),
        1,
        "{}",
        forbidden.stderr
    );
    assert!(
        forbidden
            .stderr
            .contains("not allowed to get Argo CD application argocd/staging-microservices-demo"),
        "{}",
        forbidden.stderr
    );
    bed.argo.forbid(None);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = bed.kit.root().join("dead-kubeconfig");
    std::fs::write(&dead, format!("apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster: {{server: http://127.0.0.1:{port}}}\ncontexts:\n- name: dead\n  context: {{cluster: dead, user: dead}}\ncurrent-context: dead\nusers:\n- name: dead\n  user: {{token: x}}\n")).unwrap();
    let unreachable = run_env(&bed, &dead, &[], &["sync", "staging"]);
    assert_eq!(unreachable.code, 1);
    assert_eq!(
        error_lines(&unreachable.stderr).len(),
        1,
        "{}",
        unreachable.stderr
    );
    assert!(
        unreachable
            .stderr
            .contains("cannot reach Argo CD for argocd/staging-microservices-demo"),
        "{}",
        unreachable.stderr
    );
    // status does not fail on it: the Argo CD part is a warning.
    let status = run_env(&bed, &dead, &[], &["status"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status
            .stderr
            .contains("warning: staging: Argo CD state not shown"),
        "{}",
        status.stderr
    );
    // A promotion still lands; the refresh it could not ask for is a warning.
    let pushed = run_env(&bed, &dead, &[], &["staging", "v1.0.1"]);
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    assert!(pushed.stderr.contains("warning:"), "{}", pushed.stderr);
}

#[test]
fn an_app_that_deploys_another_path_is_refused_before_waiting() {
    let bed = bed(ArgoVersion::V3_5, false);
    bed.argo.patch_application(PROD, &json!({"spec": {"source": {"path": "kustomize/staging", "kustomize": {"images": ["registry.example.com/microservices-demo/frontend:v9"]}}}}));
    let r = run(&bed, &["sync", "prod", "--wait=30s"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("does not deploy prod's overlay: path is kustomize/staging, the overlay is kustomize/prod"), "{}", r.stderr);
    assert!(
        r.stderr.contains("spec.source.kustomize.images"),
        "{}",
        r.stderr
    );
}

/// A stand-in whose operations take `secs` each, so the next command meets one still running.
fn slow_bed(secs: u64) -> Bed {
    let mut options = Options::new(ArgoVersion::V3_5);
    options.sync_duration = Duration::from_secs(secs);
    bed_opts(options, false, &[STAGING, PROD])
}

#[test]
fn a_fix_promoted_with_resume_and_wait_right_after_a_rollback_waits_for_its_operation() {
    let bed = slow_bed(3);
    for v in ["v1.0.1", "v1.0.2"] {
        let r = run(&bed, &["prod", v, "--direct", "--yes", "--wait=60s"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    // The rollback returns once Argo CD accepted it; its operation runs for 3s more.
    let rb = run(
        &bed,
        &[
            "rollback",
            "prod",
            "--strategy",
            "argocd",
            "--to",
            "v1.0.1",
            "--yes",
        ],
    );
    assert_eq!(rb.code, 0, "{}\n{}", rb.stdout, rb.stderr);
    assert!(
        !app(&bed, PROD)["operation"].is_null(),
        "the rollback's operation is still running"
    );
    // The fix, right away: Argo CD refuses a sync while the rollback runs; --wait waits it out.
    let fix = run(
        &bed,
        &[
            "prod",
            "v1.0.3",
            "--direct",
            "--yes",
            "--resume",
            "--wait=60s",
        ],
    );
    assert_eq!(fix.code, 0, "{}\n{}", fix.stdout, fix.stderr);
    assert!(
        fix.stderr
            .contains("is running another operation (started by Test User <test@example.com>, Running): waiting for it to finish before syncing"),
        "{}",
        fix.stderr
    );
    let a = app(&bed, PROD);
    assert_eq!(deployed(&a), bed.kit.origin_head());
    assert!(annotation(&a, "promote.kubectl.io/rolled-back-by").is_none());
    assert!(runs(&bed, PROD, "v1.0.3"));
}

#[test]
fn a_sync_meeting_another_operation_refuses_at_once_or_after_its_wait() {
    let bed = slow_bed(6);
    let r = run(&bed, &["prod", "v1.0.1", "--direct", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first = run(&bed, &["sync", "prod"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // Without --wait: Argo CD's answer, at once.
    let now = run(&bed, &["sync", "prod"]);
    assert_eq!(now.code, 1, "{}", now.stderr);
    assert!(
        now.stderr
            .contains("another operation is already in progress"),
        "{}",
        now.stderr
    );
    // With --wait: waits for it within the deadline, then says what was in the way.
    let started = Instant::now();
    let waited = run(&bed, &["sync", "prod", "--wait=1s"]);
    assert_eq!(waited.code, 1, "{}", waited.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(error_lines(&waited.stderr).len(), 1, "{}", waited.stderr);
    assert!(
        waited.stderr.contains("was still running another operation (started by Test User <test@example.com>, Running) after 1s, so ours could not start"),
        "{}",
        waited.stderr
    );
}

/// A Rego one-off that denies, its one reason the JSON of every env's `argocd` facts.
fn facts_echo_policy() -> std::path::PathBuf {
    promote_testkit::opa::build_files(
        &[
            (
                "policy.rego",
                "package promote\nfacts := {name: f | some name, e in input.environments; f := e.argocd}\ndecision := {\"apiVersion\": \"policy.promote.kubectl.io/v1alpha1\", \"kind\": \"Decision\", \"decision\": \"deny\", \"reasons\": [{\"code\": \"Facts\", \"message\": json.marshal(facts)}]}\n",
            ),
            (
                ".manifest",
                r#"{"roots": ["promote"], "metadata": {"kubectl-promote": {"name": "facts-echo", "version": "0.0.1", "abi": "promote.opa/v1", "operations": ["promote", "rollback"]}}}"#,
            ),
        ],
        &["promote/decision"],
    )
}

/// The message of the reason with this code, anywhere in a document.
fn reason_message(doc: &Value, code: &str) -> Option<String> {
    match doc {
        Value::Object(m) => {
            if m.get("code").and_then(Value::as_str) == Some(code) {
                return m.get("message").and_then(Value::as_str).map(str::to_owned);
            }
            m.values().find_map(|v| reason_message(v, code))
        }
        Value::Array(a) => a.iter().find_map(|v| reason_message(v, code)),
        _ => None,
    }
}

#[test]
fn policies_see_every_envs_argo_cd_facts_read_at_once_and_an_unreachable_one_is_a_warning() {
    let mut bed = bed(ArgoVersion::V3_5, false);
    // A third env on another cluster that is down: its own transport, read on its own thread.
    bed.kit.put(
        "promote.yaml",
        &format!("{CONFIG}  - name: dr\n    overlay: kustomize/prod\n    from: prod\n    argocd: {{app: dr-microservices-demo, namespace: argocd, context: dead}}\n"),
    );
    bed.kit.commit("a dr environment");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = bed.kit.root().join("dead-kubeconfig");
    std::fs::write(&dead, format!("apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster: {{server: http://127.0.0.1:{port}}}\ncontexts:\n- name: dead\n  context: {{cluster: dead, user: dead}}\nusers:\n- name: dead\n  user: {{token: x}}\n")).unwrap();
    let kubeconfig = std::env::join_paths([bed.argo.kubeconfig_path(), dead.as_path()]).unwrap();
    let kubeconfig = kubeconfig.to_str().unwrap();
    let run = |args: &[&str]| {
        bed.kit
            .run_bin(BIN, &bed.kit.clone, &[("KUBECONFIG", kubeconfig)], args)
    };
    for args in [
        &["staging", "v1.0.1", "--wait=60s"][..],
        &["prod", "v1.0.1", "--direct", "--yes", "--wait=60s"],
        &["prod", "v1.0.2", "--direct", "--yes", "--wait=60s"],
    ] {
        let r = run(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    let policy = facts_echo_policy();
    let seen_before = bed.argo.request_log().len();
    let r = run(&[
        "rollback",
        "prod",
        "--strategy",
        "argocd",
        "--to",
        "v1.0.1",
        "--dry-run",
        "-o",
        "json",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("warning: dr: Argo CD facts not given to policies: cannot reach Argo CD for argocd/dr-microservices-demo (context dead)"),
        "{}",
        r.stderr
    );
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    let facts: Value =
        serde_json::from_str(&reason_message(&doc, "Facts").expect("the echo")).unwrap();
    assert_eq!(facts["dr"], Value::Null, "{facts}");
    // Each env's facts are its own app's, as a read of that app alone gives them.
    for (env, name) in [("staging", STAGING), ("prod", PROD)] {
        let a = app(&bed, name);
        let f = &facts[env];
        assert_eq!(f["sync"], a["status"]["sync"]["status"], "{env}: {f}");
        assert_eq!(f["health"], a["status"]["health"]["status"], "{env}: {f}");
        assert_eq!(f["deployedRevision"], json!(deployed(&a)), "{env}: {f}");
        assert_eq!(
            f["autoSync"],
            json!(a["spec"]["syncPolicy"]["automated"].is_object()),
            "{env}: {f}"
        );
        let ids = |h: &Value| -> Vec<(i64, String)> {
            h.as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["id"].as_i64().unwrap(),
                        e["revision"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        };
        assert_eq!(
            ids(&f["history"]),
            ids(&a["status"]["history"]),
            "{env}: {f}"
        );
    }
    assert_eq!(
        facts["prod"]["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["version"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["v1.0.1", "v1.0.2"]
    );
    assert_eq!(facts["staging"]["autoSync"], json!(true));
    assert_eq!(facts["prod"]["autoSync"], json!(false));
    assert!(r.stdout.contains("\"denied\""), "{}", r.stdout);
    // One read of each app (sent together): the strategy pick used the read the facts came from.
    let mut gets: Vec<String> = bed.argo.request_log()[seen_before..]
        .iter()
        .filter(|l| l.starts_with("GET "))
        .cloned()
        .collect();
    gets.sort();
    assert_eq!(
        gets,
        [PROD, STAGING].map(|a| format!(
            "GET /apis/argoproj.io/v1alpha1/namespaces/argocd/applications/{a} -> 200"
        )),
    );
}

/// Someone changed prod's Application in promote.yaml since this clone last fetched: the reads
/// started from the stale file during the fetch are not used; the fetched file's app is read.
#[test]
fn a_rollback_reads_the_app_the_fetched_promote_yaml_names_not_the_stale_one() {
    let mut bed = bed(ArgoVersion::V3_5, false);
    for v in ["v1.0.1", "v1.0.2"] {
        let r = run(&bed, &["prod", v, "--direct", "--yes", "--wait=60s"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    // The clone's origin/main names an app that does not exist...
    bed.kit.put(
        "promote.yaml",
        &CONFIG.replace(
            "argocd: {app: prod-microservices-demo, namespace: argocd}",
            "argocd: {app: prod-old, namespace: argocd}",
        ),
    );
    bed.kit.commit("prod's app renamed (wrongly)");
    bed.kit
        .git_in(&bed.kit.clone, &["fetch", "--quiet", "origin"]);
    // ...and origin, pushed from elsewhere and not fetched here yet, names the right one again.
    let other = bed.kit.root().join("other");
    bed.kit.git_in(
        bed.kit.root(),
        &[
            "clone",
            "--quiet",
            bed.kit.origin.to_str().unwrap(),
            "other",
        ],
    );
    std::fs::write(other.join("promote.yaml"), CONFIG).unwrap();
    bed.kit
        .git_in(&other, &["commit", "--quiet", "-am", "prod's app back"]);
    bed.kit
        .git_in(&other, &["push", "--quiet", "origin", "HEAD:main"]);
    let policy = facts_echo_policy();
    let r = run(
        &bed,
        &[
            "rollback",
            "prod",
            "--strategy",
            "argocd",
            "--to",
            "v1.0.1",
            "--dry-run",
            "-o",
            "json",
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("prod-old"), "{}", r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["plan"]["app"], format!("argocd/{PROD}"), "{doc}");
    let facts: Value = serde_json::from_str(&reason_message(&doc, "Facts").unwrap()).unwrap();
    assert_eq!(
        facts["prod"]["deployedRevision"],
        json!(deployed(&app(&bed, PROD)))
    );
    assert!(
        bed.argo
            .request_log()
            .iter()
            .any(|l| l.contains("/applications/prod-old -> 404")),
        "the stale guess was read, and dropped: {:?}",
        bed.argo.request_log()
    );
}

/// A kubeconfig whose current context points at a port nothing listens on, and that port.
fn dead_kubeconfig(bed: &Bed) -> (std::path::PathBuf, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = bed.kit.root().join("dead-kubeconfig");
    std::fs::write(&dead, format!("apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster: {{server: http://127.0.0.1:{port}}}\ncontexts:\n- name: dead\n  context: {{cluster: dead, user: dead}}\ncurrent-context: dead\nusers:\n- name: dead\n  user: {{token: x}}\n")).unwrap();
    (dead, port)
}

/// Issue 12, item 7: with Argo CD out of reach the rollback marker cannot be checked, so a
/// protected environment refuses (naming where it looked and `--context`), dry run included;
/// another environment warns and lands. Pointing `--context` at the cluster makes it go.
#[test]
fn a_protected_env_refuses_to_promote_when_its_rollback_marker_cannot_be_read() {
    let bed = bed(ArgoVersion::V3_5, false);
    let (dead, port) = dead_kubeconfig(&bed);
    let before = bed.kit.origin_head();
    for args in [
        &["prod", "v1.0.1", "--direct", "--yes"][..],
        &["prod", "v1.0.1", "--dry-run"],
    ] {
        let r = run_env(&bed, &dead, &[], args);
        assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr
                .contains("refusing to promote prod: it is protected")
                && r.stderr.contains(&format!(
                    "context \"dead\" (cluster \"dead\", server http://127.0.0.1:{port})"
                ))
                && r.stderr.contains("--context NAME"),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(bed.kit.origin_head(), before, "nothing was pushed");
    }
    // Not protected: a warning, and the promotion lands.
    let staging = run_env(&bed, &dead, &[], &["staging", "v1.0.1"]);
    assert_eq!(staging.code, 0, "{}", staging.stderr);
    assert!(
        staging.stderr.contains(
            "warning: could not check staging's Argo CD application for a rollback marker"
        ),
        "{}",
        staging.stderr
    );
    // The dead context first in KUBECONFIG (so it is current), the stand-in's named.
    let both = std::env::join_paths([dead.as_path(), bed.argo.kubeconfig_path()]).unwrap();
    let r = bed.kit.run_bin(
        BIN,
        &bed.kit.clone,
        &[("KUBECONFIG", both.to_str().unwrap())],
        &[
            "prod",
            "v1.0.1",
            "--direct",
            "--yes",
            "--context",
            "stand-in",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        bed.kit
            .origin_file("kustomize/prod/kustomization.yaml")
            .unwrap()
            .contains("newTag: v1.0.1")
    );
}

/// Issue 12, item 7: `history ENV` with Argo CD out of reach shows the git half and a
/// warning, where it used to fail.
#[test]
fn history_shows_the_git_half_when_argo_cd_is_out_of_reach() {
    let bed = bed(ArgoVersion::V3_5, false);
    assert_eq!(run(&bed, &["staging", "v1.0.1"]).code, 0);
    let (dead, _) = dead_kubeconfig(&bed);
    let r = run_env(&bed, &dead, &[], &["history", "staging"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "warning: staging: Argo CD history not shown, only git's: cannot reach Argo CD"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout
            .contains("git changes of kustomize/staging (staging)")
            && r.stdout.contains("promote staging to v1.0.1"),
        "{}",
        r.stdout
    );
    let json = run_env(&bed, &dead, &[], &["history", "staging", "-o", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["app"], "argocd/staging-microservices-demo");
    assert_eq!(doc["entries"], json!([]));
    assert!(
        doc["argocdError"]
            .as_str()
            .unwrap()
            .contains("cannot reach Argo CD")
    );
    assert_eq!(doc["git"][0]["version"], "v1.0.1");
}

#[test]
fn over_argocd_server_a_missing_app_reads_as_not_found_or_not_allowed() {
    // prod's app does not exist: argocd-server answers 403 "permission denied", as for a token
    // that may not read it.
    let bed = bed_with(ArgoVersion::V3_5, false, &[STAGING]);
    let url = bed.argo.url();
    let token = bed.argo.argocd_token().to_owned();
    let nowhere = bed.kit.root().join("no-kubeconfig");
    let env = [("ARGOCD_AUTH_TOKEN", token.as_str())];
    let status = run_env(
        &bed,
        &nowhere,
        &env,
        &["status", "prod", "--argocd-server", &url],
    );
    assert_eq!(status.code, 0, "{}", status.stderr);
    let all = format!("{}{}", status.stdout, status.stderr);
    assert!(
        all.contains("prod-microservices-demo not found or not allowed to read it")
            && all.contains("environments[].argocd.app"),
        "{all}"
    );
    assert!(!all.contains("ask for access to argoproj.io"), "{all}");
    let sync = run_env(
        &bed,
        &nowhere,
        &env,
        &["sync", "prod", "--argocd-server", &url],
    );
    assert_eq!(sync.code, 1, "{}", sync.stderr);
    assert_eq!(error_lines(&sync.stderr).len(), 1, "{}", sync.stderr);
    assert!(
        sync.stderr.contains("environments[].argocd.app"),
        "{}",
        sync.stderr
    );
}

// ------------------------------------------------------------------------------------------
// App of apps (argo-cd #5351; docs/testbed-findings.md D6 and P4): staging's Application is
// deployed from git by a parent with self-heal, as the real-server suite does it.

/// What the parent `root` does about the child's sync policy.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parent {
    /// Self-heal and nothing else: it writes the child's manifest back.
    SelfHeal,
    /// And `ignoreDifferences` on the child's /spec/syncPolicy.
    IgnoreDifferences,
    /// And `RespectIgnoreDifferences=true` too: the fix that holds (D6).
    RespectIgnoreDifferences,
}

/// Polls `done` for up to 30s; fails saying `what`, with the stand-in's controller log.
fn wait_until(bed: &Bed, what: &str, done: impl Fn(&Bed) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(bed) {
        assert!(
            Instant::now() < deadline,
            "waited 30s for {what}:\n{}",
            bed.argo.controller_log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn auto_sync_enabled(bed: &Bed) -> Value {
    app(bed, STAGING)["spec"]["syncPolicy"]["automated"]["enabled"].clone()
}

/// The parent `root` deploys staging's Application from `apps/` (its manifest states
/// `enabled: true`, so the parent has a diff to undo); staging runs v1.0.1, then v1.0.2
/// (Degraded), then is rolled back with Argo CD. The bed, the good and bad revisions, and the
/// rollback's run.
fn app_of_apps(parent: Parent) -> (Bed, String, String, Run) {
    let mut bed = bed_with(ArgoVersion::V3_5, false, &[PROD]);
    let mut child = example_app(&bed.kit, STAGING);
    child["spec"]["syncPolicy"]["automated"]["enabled"] = json!(true);
    bed.kit
        .put("apps/kustomization.yaml", "resources: [staging.json]\n");
    bed.kit.put(
        "apps/staging.json",
        &serde_json::to_string_pretty(&child).unwrap(),
    );
    bed.kit.commit("the staging app, deployed by the root app");
    let mut root = json!({"metadata": {"name": "root"}, "spec": {"project": "default",
        "source": {"repoURL": bed.kit.origin.to_str().unwrap(), "path": "apps", "targetRevision": "main"},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "argocd"},
        "syncPolicy": {"automated": {"selfHeal": true}}}});
    if parent != Parent::SelfHeal {
        root["spec"]["ignoreDifferences"] = json!([{"group": "argoproj.io", "kind": "Application",
            "jsonPointers": ["/spec/syncPolicy"]}]);
    }
    if parent == Parent::RespectIgnoreDifferences {
        root["spec"]["syncPolicy"]["syncOptions"] = json!(["RespectIgnoreDifferences=true"]);
    }
    bed.argo.create_application(root);
    wait_until(
        &bed,
        "the parent to create staging, and staging to deploy",
        |bed| {
            bed.argo
                .application(STAGING)
                .is_some_and(|a| !deployed(&a).is_empty())
        },
    );
    assert_eq!(run(&bed, &["staging", "v1.0.1", "--wait=60s"]).code, 0);
    let good = bed.kit.origin_head();
    bed.argo.set_health_for_tag("v1.0.2", "Degraded");
    assert_eq!(run(&bed, &["staging", "v1.0.2", "--wait=60s"]).code, 5);
    let bad = bed.kit.origin_head();
    let rb = run(
        &bed,
        &["rollback", "staging", "--strategy", "argocd", "--yes"],
    );
    assert_eq!(rb.code, 0, "{}\n{}", rb.stdout, rb.stderr);
    (bed, good, bad, rb)
}

#[test]
fn an_app_of_apps_parent_undoes_the_rollback_the_advice_says_so_once_and_status_names_it() {
    let (bed, _good, bad, rb) = app_of_apps(Parent::SelfHeal);
    let advice: Vec<&str> = rb
        .stderr
        .lines()
        .filter(|l| l.contains("ignoreDifferences"))
        .collect();
    assert_eq!(advice.len(), 1, "the advice once: {}", rb.stderr);
    for part in [
        "Application root",
        "/spec/syncPolicy",
        "RespectIgnoreDifferences=true",
    ] {
        assert!(advice[0].contains(part), "{part}: {}", advice[0]);
    }
    // argo-cd #5351: the parent self-heals the child's sync policy, and the child deploys git's
    // bad tip again.
    wait_until(
        &bed,
        "auto-sync back on and the bad revision deployed",
        |bed| auto_sync_enabled(bed) == json!(true) && deployed(&app(bed, STAGING)) == bad,
    );
    let a = app(&bed, STAGING);
    assert!(annotation(&a, "promote.kubectl.io/rolled-back-by").is_some());
    let status = run(&bed, &["status", "staging"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    for part in [
        "rolled back by Test User",
        "the marker is still set, but auto-sync is on again: Application root rewrote the app",
        "fix git, then `kubectl promote resume staging` ends the rollback",
        "      the parent Application root may turn auto-sync back on",
    ] {
        assert!(status.stdout.contains(part), "{part}:\n{}", status.stdout);
    }
    assert!(
        !status.stdout.contains("resume staging` ends it"),
        "{}",
        status.stdout
    );
    let doc = run(&bed, &["status", "staging", "-o", "json"]);
    let doc: Value = serde_json::from_str(&doc.stdout).unwrap();
    let undone = &doc["environments"][0]["argocd"]["rollbackMarker"]["undone"];
    assert_eq!(undone["by"][0]["name"], "Application root", "{doc}");
}

/// The parent syncs a new commit of staging's manifest (a label); whether staging's auto-sync
/// is on afterwards.
fn the_parent_syncs_a_changed_child_manifest(bed: &mut Bed) -> Value {
    let text = bed.kit.origin_file("apps/staging.json").unwrap();
    let mut child: Value = serde_json::from_str(&text).unwrap();
    child["metadata"]["labels"] = json!({"team": "shop"});
    bed.kit.put(
        "apps/staging.json",
        &serde_json::to_string_pretty(&child).unwrap(),
    );
    bed.kit.commit("label the staging app");
    bed.argo.patch_application(
        "root",
        &json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}}),
    );
    wait_until(bed, "the parent to label staging", |bed| {
        app(bed, STAGING)["metadata"]["labels"]["team"] == "shop"
    });
    auto_sync_enabled(bed)
}

#[test]
fn ignore_differences_alone_stops_the_self_heal_but_not_the_parents_next_sync() {
    let (mut bed, good, _bad, _) = app_of_apps(Parent::IgnoreDifferences);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(auto_sync_enabled(&bed), json!(false), "no self-heal");
    assert_eq!(deployed(&app(&bed, STAGING)), good);
    assert_eq!(
        the_parent_syncs_a_changed_child_manifest(&mut bed),
        json!(true),
        "D6"
    );
}

#[test]
fn respecting_ignore_differences_keeps_the_rollback_through_the_parents_syncs() {
    let (mut bed, good, _bad, _) = app_of_apps(Parent::RespectIgnoreDifferences);
    assert_eq!(
        the_parent_syncs_a_changed_child_manifest(&mut bed),
        json!(false)
    );
    std::thread::sleep(Duration::from_secs(3));
    let a = app(&bed, STAGING);
    assert_eq!(
        a["spec"]["syncPolicy"]["automated"]["enabled"],
        json!(false)
    );
    assert_eq!(deployed(&a), good);
    let status = run(&bed, &["status", "staging"]);
    assert!(
        status
            .stdout
            .contains("`kubectl promote resume staging` ends it"),
        "{}",
        status.stdout
    );
}
