//! Sync windows and `history` through the real binary against the Argo CD stand-in: the
//! AppProject's `spec.syncWindows` are read before a sync and in `status` (DESIGN step 7), the
//! stand-in's API server and controller honour them as Argo CD does, and `history ENV` lists the
//! overlay's git promotions beside Argo CD's entries.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use promote_testkit::argocd::{ArgoCdStandIn, ArgoVersion, Options};
use promote_testkit::repo::{GitOps, Run, workspace_root};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");
const PROD: &str = "prod-microservices-demo";

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

/// The example repo; prod (auto-sync off) has an Application, staging has none.
fn bed() -> Bed {
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    kit.put("promote.yaml", CONFIG);
    kit.commit("promote.yaml without policies");
    let argo = ArgoCdStandIn::start(Options::new(ArgoVersion::V3_5));
    let file = workspace_root().join(format!("examples/gitops/argocd/{PROD}.yaml"));
    let text = std::fs::read_to_string(&file).unwrap();
    let mut doc: Value = promote_core::yaml::from_str(&file.display().to_string(), &text).unwrap();
    doc["spec"]["source"]["repoURL"] = json!(kit.origin.to_str().unwrap());
    assert_eq!(doc["spec"]["project"], "default");
    argo.create_application(doc);
    Bed { kit, argo }
}

fn run_env(bed: &Bed, kubeconfig: &Path, extra: &[(&str, &str)], args: &[&str]) -> Run {
    let kubeconfig = kubeconfig.to_str().expect("utf-8 path");
    let mut env = vec![("KUBECONFIG", kubeconfig)];
    env.extend_from_slice(extra);
    bed.kit.run_bin(BIN, &bed.kit.clone, &env, args)
}

fn run(bed: &Bed, args: &[&str]) -> Run {
    run_env(bed, bed.argo.kubeconfig_path(), &[], args)
}

fn project(bed: &Bed, windows: Value) {
    bed.argo.put_project(json!({
        "metadata": {"name": "default"},
        "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}], "syncWindows": windows}
    }));
}

/// The current UTC hour.
fn hour_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600
        % 24
}

#[test]
fn an_active_deny_window_is_named_in_status_and_before_a_sync_and_holds_the_sync() {
    let bed = bed();
    // Fires every minute, lasts an hour: open now. Matches prod by name.
    project(
        &bed,
        json!([{"kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["prod-*"], "description": "freeze"}]),
    );
    let status = run(&bed, &["status", "prod"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status.stdout.contains("sync window")
            && status
                .stdout
                .contains(r#"deny window "* * * * *" for 1h [freeze]"#),
        "{}",
        status.stdout
    );
    let json = run(&bed, &["status", "prod", "-o", "json"]);
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    let env = doc["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "prod")
        .unwrap()
        .clone();
    assert!(
        env["argocd"]["syncWindow"]
            .as_str()
            .unwrap()
            .contains("blocks manual syncs"),
        "{env}"
    );

    // Auto-sync is off, so we would write a sync operation the controller holds, stuck, until
    // the window closes: refused before it is written, as argocd-server refuses it (finding
    // P3). The promotion itself landed (the window is a warning before the push).
    let r = run(&bed, &["prod", "v1.0.1", "--direct", "--wait=4s"]);
    assert!(
        r.stderr.contains(r#"Argo CD project default blocks manual syncs of argocd/prod-microservices-demo now: deny window "* * * * *" for 1h [freeze]"#),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("blocked by sync window"), "{}", r.stderr);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let a = bed.argo.application(PROD).unwrap();
    assert!(a["operation"].is_null(), "no operation written: {a}");

    // argocd-server: the project comes from GET /api/v1/projects/default, the sync is refused.
    let url = bed.argo.url();
    let token = bed.argo.argocd_token().to_owned();
    let nowhere = bed.kit.root().join("no-kubeconfig");
    bed.argo
        .patch_application(PROD, &json!({"operation": null}));
    let r = run_env(
        &bed,
        &nowhere,
        &[("ARGOCD_AUTH_TOKEN", &token)],
        &["sync", "prod", "--argocd-server", &url],
    );
    assert!(
        r.stderr
            .contains(r#"deny window "* * * * *" for 1h [freeze]"#),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("blocked by sync window"), "{}", r.stderr);
    // Argo CD refused the sync; nothing is wrong with the user's access (testbed finding P5).
    assert!(!r.stderr.contains("ask for access"), "{}", r.stderr);
    assert_eq!(r.code, 1);
    let log = bed.argo.request_log();
    assert!(
        log.iter()
            .any(|l| l == "GET /api/v1/projects/default -> 200"),
        "{log:?}"
    );
}

#[test]
fn an_inactive_deny_window_or_one_allowing_manual_syncs_gives_no_warning() {
    let bed = bed();
    // Opens twelve hours from now, for an hour: closed. The other is open but lets manual syncs.
    let later = (hour_now() + 12) % 24;
    project(
        &bed,
        json!([
            {"kind": "deny", "schedule": format!("0 {later} * * *"), "duration": "1h", "namespaces": ["*"]},
            {"kind": "deny", "schedule": "* * * * *", "duration": "1h", "clusters": ["*"], "manualSync": true}
        ]),
    );
    let status = run(&bed, &["status", "prod"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(!status.stdout.contains("sync window"), "{}", status.stdout);
    let r = run(&bed, &["prod", "v1.0.1", "--direct", "--wait=60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("window"), "{}", r.stderr);
    let log = bed.argo.request_log();
    assert!(
        log.iter()
            .any(|l| l.contains("/appprojects/default -> 200")),
        "the project was read through the Kubernetes API: {log:?}"
    );
}

#[test]
fn an_allow_window_that_is_closed_blocks_and_says_so() {
    let bed = bed();
    let later = (hour_now() + 12) % 24;
    project(
        &bed,
        json!([{"kind": "allow", "schedule": format!("30 {later} * * *"), "duration": "30m", "applications": ["*"]}]),
    );
    let status = run(&bed, &["status", "prod"]);
    assert!(
        status.stdout.contains("no allow window is open"),
        "{}",
        status.stdout
    );
    assert!(
        status
            .stdout
            .contains(&format!(r#"allow window "30 {later} * * *" for 30m"#)),
        "{}",
        status.stdout
    );
}

#[test]
fn history_lists_argo_cd_entries_and_the_overlays_git_promotions() {
    let bed = bed();
    let r = run(&bed, &["staging", "v1.0.1", "--direct"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let r = run(&bed, &["prod", "v1.0.1", "--direct", "--wait=60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let head = bed.kit.origin_head();

    let text = run(&bed, &["history", "prod"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    let argo_at = text
        .stdout
        .find("Argo CD history of")
        .expect("an Argo CD section");
    let git_at = text
        .stdout
        .find("git changes of kustomize/prod (prod), newest first")
        .expect("a git section");
    assert!(argo_at < git_at, "{}", text.stdout);
    let first_git = text.stdout[git_at..].lines().nth(2).unwrap_or_default();
    assert!(
        first_git.starts_with(&head[..7])
            && first_git.contains("v1.0.1")
            && first_git.contains("Test User"),
        "{}",
        text.stdout
    );

    let doc: Value =
        serde_json::from_str(&run(&bed, &["history", "prod", "-o", "json"]).stdout).unwrap();
    assert_eq!(doc["app"], "argocd/prod-microservices-demo");
    assert_eq!(doc["entries"][0]["revision"], head.as_str());
    assert_eq!(doc["entries"][0]["version"], "v1.0.1");
    let git = doc["git"].as_array().unwrap();
    assert_eq!(git[0]["commit"], head.as_str());
    assert_eq!(git[0]["version"], "v1.0.1");
    assert!(
        git[0]["promotedBy"].as_str().unwrap().contains("Test User"),
        "{doc}"
    );
    assert!(git.len() > 1, "older overlay changes are listed too: {doc}");
    assert_ne!(git[1]["version"], "v1.0.1", "{doc}");

    // --limit bounds both lists.
    let doc: Value =
        serde_json::from_str(&run(&bed, &["history", "prod", "--limit", "1", "-o", "json"]).stdout)
            .unwrap();
    assert_eq!(doc["git"].as_array().unwrap().len(), 1);
    assert_eq!(doc["entries"].as_array().unwrap().len(), 1);

    // staging has no Argo CD app: only git, and no connection is needed.
    let text = run_env(
        &bed,
        &bed.kit.root().join("no-kubeconfig"),
        &[],
        &["history", "staging"],
    );
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(!text.stdout.contains("Argo CD history"), "{}", text.stdout);
    assert!(
        text.stdout
            .contains("git changes of kustomize/staging (staging)"),
        "{}",
        text.stdout
    );
    let doc: Value =
        serde_json::from_str(&run(&bed, &["history", "staging", "-o", "json"]).stdout).unwrap();
    assert!(doc["app"].is_null());
    assert_eq!(doc["entries"], json!([]));
    assert_eq!(doc["git"][0]["version"], "v1.0.1", "{doc}");
}

#[test]
fn an_unreadable_project_is_a_warning_and_the_default_project_blocks_nothing() {
    let bed = bed();
    // The stand-in, like Argo CD, has a `default` project without windows.
    let status = run(&bed, &["status", "prod"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(!status.stdout.contains("sync window"), "{}", status.stdout);
    bed.argo
        .patch_application(PROD, &json!({"spec": {"project": "team-a"}}));
    let status = run(&bed, &["status", "prod"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status
            .stdout
            .contains("could not read the sync windows of argocd/prod-microservices-demo's Argo CD project team-a"),
        "{}",
        status.stdout
    );
}

#[test]
fn an_argocd_rollback_names_the_deny_window_that_will_hold_its_operation() {
    let bed = bed();
    for v in ["v1.0.1", "v1.0.2"] {
        let r = run(&bed, &["prod", v, "--direct", "--yes", "--wait=60s"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    project(
        &bed,
        json!([{"kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["prod-*"], "description": "freeze"}]),
    );
    let warning = r#"Argo CD project default blocks manual syncs of argocd/prod-microservices-demo now: deny window "* * * * *" for 1h [freeze]"#;
    // A dry run writes nothing and reads no project.
    let dry = run(
        &bed,
        &[
            "rollback",
            "prod",
            "--strategy",
            "argocd",
            "--to",
            "v1.0.1",
            "--dry-run",
        ],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(!dry.stderr.contains(warning), "{}", dry.stderr);
    // Argo CD's Rollback API accepts it, its controller holds it: said before the write.
    let r = run(
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
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(warning), "{}", r.stderr);
    let write = r
        .stderr
        .find("turning auto-sync of")
        .expect("the write's progress line");
    assert!(r.stderr.find(warning).unwrap() < write, "{}", r.stderr);
}

#[test]
fn a_window_in_berlin_is_judged_on_berlin_time_across_daylight_saving_time() {
    let bed = bed();
    // 22:00 to 06:00 Berlin time, every night.
    project(
        &bed,
        json!([{"kind": "deny", "schedule": "0 22 * * *", "duration": "8h", "timeZone": "Europe/Berlin", "applications": ["prod-*"], "description": "nights"}]),
    );
    let status_at = |now: &str| {
        let r = run_env(
            &bed,
            bed.argo.kubeconfig_path(),
            &[("KUBECTL_PROMOTE_NOW", now)],
            &["status", "prod"],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    let blocked = r#"blocks manual syncs of argocd/prod-microservices-demo now: deny window "0 22 * * *" for 8h (Europe/Berlin) [nights] is active"#;
    // The night the clocks go back (2026-10-25, 03:00 CEST -> 02:00 CET): 04:30 UTC is 05:30
    // CET, inside the window; 05:00 UTC is 06:00 CET, past it.
    for (now, open) in [
        ("2026-10-24T19:59:00Z", false),
        ("2026-10-24T20:01:00Z", true),
        ("2026-10-25T04:30:00Z", true),
        ("2026-10-25T05:00:00Z", false),
        // Summer time: 06:00 CEST is 04:00 UTC.
        ("2026-07-16T03:59:00Z", true),
        ("2026-07-16T04:00:00Z", false),
    ] {
        let out = status_at(now);
        if open {
            assert!(out.contains(blocked), "{now}: {out}");
        } else {
            assert!(!out.contains("sync window"), "{now}: {out}");
        }
    }
}
