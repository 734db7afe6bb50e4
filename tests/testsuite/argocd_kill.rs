//! Killing the process mid-rollback (issue 5): the binary, built with `--features test-hooks`,
//! stops at a named point (`KUBECTL_PROMOTE_TEST_PAUSE`), the test SIGKILLs it there, then reads
//! the Application in the Argo CD stand-in and `kubectl promote status`. Either nothing changed,
//! or auto-sync is off *and* the rollback operation started; `status` says which.
//! Run with `cargo test -p kubectl-promote --features test-hooks --test testsuite argocd_kill::`.
#![cfg(feature = "test-hooks")]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use promote_testkit::argocd::{ArgoCdStandIn, ArgoVersion, Options};
use promote_testkit::hooks;
use promote_testkit::repo::{GitOps, workspace_root};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");
const PROD: &str = "prod-microservices-demo";
const ROLLED_BACK_BY: &str = "promote.kubectl.io/rolled-back-by";

const CONFIG: &str = "apiVersion: promote.kubectl.io/v1alpha1
kind: PromotionConfig
git: {remote: origin, baseBranch: main, mode: pr}
environments:
  - name: staging
    overlay: kustomize/staging
    mode: direct
  - name: prod
    overlay: kustomize/prod
    from: staging
    protected: true
    argocd: {app: prod-microservices-demo, namespace: argocd}
";

struct Bed {
    kit: GitOps,
    argo: ArgoCdStandIn,
}

fn command(bed: &Bed, args: &[&str]) -> Command {
    let kubeconfig = bed.argo.kubeconfig_path();
    let extra = [("KUBECONFIG", kubeconfig.to_str().unwrap())];
    bed.kit.bin_command(BIN, &bed.kit.clone, &extra, args)
}

fn run(bed: &Bed, args: &[&str]) -> Output {
    command(bed, args).output().expect("run kubectl-promote")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn app(bed: &Bed) -> Value {
    bed.argo.application(PROD).expect("application exists")
}

fn history(a: &Value) -> Vec<Value> {
    a["status"]["history"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// prod with auto-sync on and two deployments in Argo CD's history, the second running.
fn bed() -> Bed {
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    kit.put("promote.yaml", CONFIG);
    kit.commit("promote.yaml without policies");
    let argo = ArgoCdStandIn::start(Options::new(ArgoVersion::V3_5));
    let file = workspace_root().join(format!("examples/gitops/argocd/{PROD}.yaml"));
    let text_ = std::fs::read_to_string(&file).unwrap();
    let mut doc: Value = promote_core::yaml::from_str(&file.display().to_string(), &text_).unwrap();
    doc["spec"]["source"]["repoURL"] = json!(bed_origin(&kit));
    doc["spec"]["syncPolicy"] = json!({"automated": {"prune": true, "selfHeal": true}});
    argo.create_application(doc);
    let bed = Bed { kit, argo };
    let deadline = Instant::now() + Duration::from_secs(30);
    while history(&app(&bed)).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the stand-in did not auto-sync prod within 30s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = run(&bed, &["prod", "v1.0.1", "--direct", "--wait=60s"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(history(&app(&bed)).len(), 2);
    bed
}

fn bed_origin(kit: &GitOps) -> String {
    kit.origin.to_str().unwrap().to_owned()
}

/// Starts `rollback prod --yes`, waits until it reports the pause point, SIGKILLs it.
fn kill_at(bed: &Bed, point: &str) {
    let marker = bed.kit.root().join(format!("paused-{point}"));
    let rollback = command(bed, &["rollback", "prod", "--strategy", "argocd", "--yes"]);
    hooks::kill_at(rollback, &marker, point, Duration::from_secs(60));
}

fn status_text(bed: &Bed) -> String {
    let out = run(bed, &["status", "prod"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn killed_before_the_write_leaves_the_app_untouched_and_status_says_so() {
    let bed = bed();
    let before = app(&bed);
    kill_at(&bed, "before-rollback-write");
    // Give a write that might still be in flight time to land.
    std::thread::sleep(Duration::from_millis(500));
    let after = app(&bed);
    assert_eq!(after["spec"], before["spec"], "spec untouched");
    assert!(after["spec"]["syncPolicy"]["automated"]["enabled"].is_null());
    assert!(
        after["metadata"]["annotations"][ROLLED_BACK_BY].is_null(),
        "{after}"
    );
    assert!(after["operation"].is_null(), "no operation: {after}");
    assert_eq!(history(&after), history(&before));
    let s = status_text(&bed);
    assert!(s.contains("auto-sync on"), "{s}");
    assert!(!s.contains("rolled back"), "{s}");
    assert!(!s.contains("operation in progress"), "{s}");
}

#[test]
fn killed_after_the_write_leaves_auto_sync_off_and_the_operation_started_and_status_says_so() {
    let bed = bed();
    let target = history(&app(&bed))[0]["revision"]
        .as_str()
        .unwrap()
        .to_owned();
    kill_at(&bed, "after-rollback-write");
    let after = app(&bed);
    assert_eq!(
        after["spec"]["syncPolicy"]["automated"]["enabled"],
        json!(false),
        "{after}"
    );
    assert_eq!(
        after["spec"]["syncPolicy"]["automated"]["prune"],
        json!(true),
        "prune kept"
    );
    assert!(
        after["metadata"]["annotations"][ROLLED_BACK_BY].is_string(),
        "{after}"
    );
    // The operation was written with auto-sync off: pending, running or already done.
    let op_revision = after["operation"]["sync"]["revision"]
        .as_str()
        .or_else(|| after["status"]["operationState"]["operation"]["sync"]["revision"].as_str());
    assert_eq!(op_revision, Some(target.as_str()), "{after}");
    // The controller carries it out although nobody waits for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while history(&app(&bed))
        .last()
        .and_then(|h| h["revision"].as_str())
        != Some(target.as_str())
    {
        assert!(
            Instant::now() < deadline,
            "the rollback operation did not run: {}",
            app(&bed)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = status_text(&bed);
    assert!(s.contains("auto-sync disabled"), "{s}");
    assert!(s.contains("rolled back"), "{s}");
    assert!(s.contains("kubectl promote resume prod"), "{s}");
}

#[test]
fn without_a_pause_point_named_the_rollback_runs_through() {
    let bed = bed();
    let marker = bed.kit.root().join("never");
    let out = command(&bed, &["rollback", "prod", "--strategy", "argocd", "--yes"])
        .env("KUBECTL_PROMOTE_TEST_PAUSE", "no-such-point")
        .env("KUBECTL_PROMOTE_TEST_PAUSE_FILE", &marker)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!Path::new(&marker).exists());
    assert_eq!(
        app(&bed)["spec"]["syncPolicy"]["automated"]["enabled"],
        json!(false)
    );
}
