//! The seed's story against the real Argo CD 3.2, on both transports (the Kubernetes API, and
//! argocd-server's REST API with no kubeconfig at all): promote and wait, a bad release that goes
//! Degraded, an argocd rollback that sticks, resume refused and `--resume`, a revert, `sync`,
//! `history` and `status`, sync windows from a real AppProject, and the app-of-apps parent of
//! argo-cd issue 5351. Then the known bugs (P2–P6 of docs/testbed-findings.md), ignored until
//! their fixes land.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::Run;
use crate::support::argo::{
    Bed, Options, ROLLED_BACK_BY, Transport, annotation, deployed, history, summary,
};

const WAIT: &str = "--wait=2m";
const LONG: Duration = Duration::from_secs(120);
/// Longer than Argo CD's reconciliation (10 s here) plus the controller's app resync (10 s): a
/// controller that would undo a rollback has had its chance.
const STICK: Duration = Duration::from_secs(22);

fn automated(a: &Value) -> &Value {
    &a["spec"]["syncPolicy"]["automated"]
}

fn healthy_at(a: &Value, rev: &str) -> bool {
    a["status"]["health"]["status"] == "Healthy" && deployed(a).as_deref() == Some(rev)
}

/// promote --wait to Healthy; a bad release → Degraded → exit 5; history and status from the
/// real Application; rollback --strategy argocd sticks; resume refused while git holds the bad
/// version; --resume restores auto-sync.
fn story(t: Transport) {
    let bed = Bed::new(
        if t == Transport::Kube {
            "story-kube"
        } else {
            "story-rest"
        },
        t,
    );
    let first = deployed(&bed.app("staging")).expect("staging deployed v1.0.0");

    // 1. A good release: pushed, refreshed, synced by auto-sync, Healthy.
    let r = bed.run(&["staging", "v1.0.1", WAIT]).expect(0);
    let good = bed.head();
    let a = bed.app("staging");
    assert!(healthy_at(&a, &good), "{}\n{r}", summary(&a));
    assert_eq!(a["status"]["sync"]["status"], "Synced");

    // 2. A bad release: the kubelet stand-in fails its rollout, Argo CD says Degraded: exit 5
    // with the command to run.
    let r = bed.run(&["staging", "v1.0.3", WAIT]).expect(5);
    let bad = bed.head();
    assert!(r.stderr.contains("staging is Degraded"), "{r}");
    assert!(r.stderr.contains("kubectl promote rollback staging"), "{r}");
    let a = bed.app("staging");
    assert_eq!(
        deployed(&a).as_deref(),
        Some(bad.as_str()),
        "{}",
        summary(&a)
    );
    assert_eq!(a["status"]["health"]["status"], "Degraded");

    // 3. history and status read the real Application: ids grow by one, (running) is
    // history[-1], wasHealthy from our records.
    let h = bed
        .run(&["history", "staging", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(h["kind"], "History");
    let entries = h["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 3, "{h}");
    let real = history(&a);
    assert_eq!(real.len(), 3);
    for (i, e) in real.iter().enumerate() {
        assert_eq!(
            e["id"].as_i64(),
            Some(i as i64),
            "ids grow by one: {real:?}"
        );
    }
    assert_eq!(entries[0]["version"], "v1.0.3");
    assert_eq!(entries[0]["running"], true);
    assert_eq!(entries[0]["revision"], json!(bad));
    assert_eq!(entries[1]["version"], "v1.0.1");
    assert_eq!(entries[1]["revision"], json!(good));
    assert_eq!(entries[1]["wasHealthy"], true);
    assert_eq!(entries[2]["revision"], json!(first));
    assert_eq!(entries[2]["initiatedBy"], "automated");
    let s = bed
        .run(&["status", "staging", "-o", "json"])
        .expect(0)
        .json();
    let argo = &s["environments"][0]["argocd"];
    assert_eq!(argo["app"], format!("argocd/{}", bed.app_name("staging")));
    assert_eq!(argo["health"], "Degraded");
    assert_eq!(argo["sync"], "Synced");
    assert_eq!(argo["deployedRevision"], json!(bad));
    assert_eq!(argo["deployedVersion"], "v1.0.3");
    assert_eq!(argo["autoSync"], "on");
    assert!(argo["rollbackMarker"].is_null(), "{s}");

    // 4. Roll back through Argo CD's history. (Waited for here, not with --wait: a --wait right
    // after leaving a Degraded app can trust a stale Degraded, finding P2, tested on its own.)
    let r = bed
        .run(&[
            "rollback",
            "staging",
            "--strategy",
            "argocd",
            "--yes",
            "-m",
            "checkout fails",
        ])
        .expect(0);
    assert!(r.stdout.contains("rolled back staging to v1.0.1"), "{r}");
    let a = bed.app("staging");
    assert_eq!(
        automated(&a),
        &json!({"prune": true, "selfHeal": true, "enabled": false}),
        "auto-sync off, prune and selfHeal kept: {}",
        summary(&a)
    );
    assert!(annotation(&a, ROLLED_BACK_BY).is_some(), "{a}");
    let a = bed.wait_app("staging", LONG, "Healthy at the good revision", |a| {
        healthy_at(a, &good)
    });
    let rolled = history(&a);
    assert_eq!(rolled.len(), 4, "a rollback appends an entry");
    let by = &rolled[3]["initiatedBy"]["username"];
    match t {
        // The session's account over REST (finding D8); our git identity over the kube API.
        Transport::Rest => assert_eq!(by, "admin", "{rolled:?}"),
        Transport::Kube => assert_eq!(by, "Test User <test@example.com>", "{rolled:?}"),
    }

    // 5. It sticks: the real controller does not turn auto-sync back on, nor redeploy git's
    // (bad) tip, over more than two reconciliations.
    std::thread::sleep(STICK);
    let a = bed.app("staging");
    assert_eq!(automated(&a)["enabled"], false, "{}", summary(&a));
    assert!(
        healthy_at(&a, &good),
        "still the good revision: {}",
        summary(&a)
    );
    assert_eq!(
        a["status"]["sync"]["status"], "OutOfSync",
        "git still holds v1.0.3"
    );
    let s = bed
        .run(&["status", "staging", "-o", "json"])
        .expect(0)
        .json();
    let argo = &s["environments"][0]["argocd"];
    assert_eq!(argo["deployedVersion"], "v1.0.1", "{s}");
    assert!(argo["rollbackMarker"].is_object(), "{s}");
    assert_ne!(argo["autoSync"], "on", "{s}");

    // 6. resume is refused while git holds the bad version, naming it; nothing changes.
    let r = bed.run(&["resume", "staging"]).expect(1);
    assert!(r.stderr.contains(&bad[..7]), "names the bad commit: {r}");
    assert_eq!(automated(&bed.app("staging"))["enabled"], false);

    // 7. A fixed release with --resume: auto-sync back on, the marker gone, Healthy.
    bed.run(&["staging", "v1.0.4", "--resume", WAIT]).expect(0);
    let fixed = bed.head();
    let a = bed.app("staging");
    assert!(healthy_at(&a, &fixed), "{}", summary(&a));
    assert_ne!(automated(&a)["enabled"], false, "{}", summary(&a));
    assert_eq!(automated(&a)["prune"], true);
    assert!(annotation(&a, ROLLED_BACK_BY).is_none(), "{a}");
    let s = bed
        .run(&["status", "staging", "-o", "json"])
        .expect(0)
        .json();
    let argo = &s["environments"][0]["argocd"];
    assert_eq!(argo["autoSync"], "on", "{s}");
    assert!(argo["rollbackMarker"].is_null(), "{s}");
    assert_eq!(argo["deployedVersion"], "v1.0.4", "{s}");
}

#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn story_over_the_kube_api() {
    story(Transport::Kube);
}

#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn story_over_argocd_server_rest() {
    story(Transport::Rest);
}

/// `sync --wait` of a manual app, a promotion's `--wait` that syncs it, and `rollback --strategy
/// revert --wait`: a reviewed revert commit in git that Argo CD deploys.
fn revert_and_sync(t: Transport) {
    let bed = Bed::new(
        if t == Transport::Kube {
            "revert-kube"
        } else {
            "revert-rest"
        },
        t,
    );
    // prod has no auto-sync: the push alone deploys nothing.
    bed.run(&["prod", "v1.0.1", "--yes"]).expect(0);
    let one = bed.head();
    let r = bed.run(&["sync", "prod", WAIT]).expect(0);
    let a = bed.app("prod");
    assert!(healthy_at(&a, &one), "{}\n{r}", summary(&a));
    assert_eq!(a["status"]["sync"]["status"], "Synced");
    // A promotion's --wait syncs a manual app itself.
    bed.run(&["prod", "v1.0.2", "--yes", WAIT]).expect(0);
    let two = bed.head();
    assert!(healthy_at(&bed.app("prod"), &two));
    // Revert the last promotion in git, pushed directly, and wait for it to run.
    let r = bed
        .run(&[
            "rollback",
            "prod",
            "--strategy",
            "revert",
            "--direct",
            "--yes",
            WAIT,
        ])
        .expect(0);
    let reverted = bed.head();
    assert_ne!(reverted, two, "a new commit: {r}");
    let overlay = bed
        .kit
        .origin_file("kustomize/prod/kustomization.yaml")
        .unwrap();
    assert_eq!(overlay.matches("newTag: v1.0.1").count(), 9, "{overlay}");
    let trailers = bed
        .kit
        .origin_git(&["log", "-1", "--format=%(trailers)", "main"]);
    assert!(trailers.contains("Promote-Rollback: revert"), "{trailers}");
    assert!(
        trailers.contains(&format!("Promote-Reverts: {two}")),
        "{trailers}"
    );
    let a = bed.app("prod");
    assert!(healthy_at(&a, &reverted), "{}", summary(&a));
    // An argocd-strategy leftover would have turned auto-sync off: a revert leaves it alone.
    assert!(annotation(&a, ROLLED_BACK_BY).is_none());
    let h = bed.run(&["history", "prod", "-o", "json"]).expect(0).json();
    assert_eq!(h["entries"][0]["revision"], json!(reverted), "{h}");
    assert_eq!(h["entries"][0]["version"], "v1.0.1", "{h}");
    assert_eq!(h["entries"][0]["running"], true, "{h}");
}

#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn revert_and_sync_over_the_kube_api() {
    revert_and_sync(Transport::Kube);
}

#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn revert_and_sync_over_argocd_server_rest() {
    revert_and_sync(Transport::Rest);
}

/// An AppProject whose one window applies to this test's prod app (the window's `applications`
/// is filled in with the bed's prod app once its id is known).
fn project(kind: &str, manual_sync: bool) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            "syncWindows": [{
                "kind": kind, "schedule": "* * * * *", "duration": "24h",
                "applications": ["*-prod"], "manualSync": manual_sync,
            }],
        }
    })
}

/// A deny window that allows manual syncs: `sync --wait` goes through on both transports.
fn manual_sync_window_allows(t: Transport) {
    let slug = if t == Transport::Kube {
        "window-kube"
    } else {
        "window-rest"
    };
    let bed = Bed::with(
        slug,
        t,
        Options {
            project: Some(project("deny", true)),
            apps: true,
        },
    );
    bed.run(&["prod", "v1.0.1", "--yes"]).expect(0);
    let head = bed.head();
    let r = bed.run(&["sync", "prod", WAIT]).expect(0);
    let a = bed.app("prod");
    assert!(healthy_at(&a, &head), "{}\n{r}", summary(&a));
}

#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn a_manual_sync_window_allows_sync_over_the_kube_api() {
    manual_sync_window_allows(Transport::Kube);
}

#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn a_manual_sync_window_allows_sync_over_argocd_server_rest() {
    manual_sync_window_allows(Transport::Rest);
}

/// A deny window without manualSync: argocd-server refuses the sync; nothing is left behind.
fn deny_window_bed(t: Transport) -> (Bed, String) {
    let slug = if t == Transport::Kube {
        "deny-kube"
    } else {
        "deny-rest"
    };
    let bed = Bed::with(
        slug,
        t,
        Options {
            project: Some(project("deny", false)),
            apps: true,
        },
    );
    bed.run(&["prod", "v1.0.1", "--yes"]).expect(0);
    let head = bed.head();
    (bed, head)
}

#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn a_deny_window_blocks_sync_over_argocd_server_rest() {
    let (bed, _) = deny_window_bed(Transport::Rest);
    let before = deployed(&bed.app("prod"));
    let r = bed.run(&["sync", "prod", "--wait=30s"]).expect(1);
    assert!(r.stderr.contains("blocked by sync window"), "{r}");
    let a = bed.app("prod");
    assert!(
        a["operation"].is_null(),
        "no operation left behind: {}",
        summary(&a)
    );
    assert_eq!(deployed(&a), before, "nothing deployed");
}

/// The app-of-apps parent of argo-cd issue 5351: `ID-root` deploys the manifest of the child
/// `ID-staging` from git (`apps/`), with self-heal. `fix` adds the documented ignoreDifferences on
/// the child's sync policy AND `RespectIgnoreDifferences=true` (finding D6: the first alone does
/// not survive the parent's next sync).
fn app_of_apps(slug: &str, fix: bool) -> (Bed, String, String, Run) {
    let mut bed = Bed::with(
        slug,
        Transport::Kube,
        Options {
            project: None,
            apps: false,
        },
    );
    let mut child = bed.app_manifest("staging", "default", true);
    // The child's manifest states `enabled: true`: then the parent has a diff to undo (D6).
    child["spec"]["syncPolicy"]["automated"]["enabled"] = json!(true);
    bed.kit.put(
        "apps/staging.json",
        &serde_json::to_string_pretty(&child).unwrap(),
    );
    bed.kit.commit("the staging app, managed by the root app");
    let mut policy = json!({"automated": {"prune": false, "selfHeal": true}});
    let mut root = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": format!("{}-root", bed.id), "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": bed.repo_url(), "path": "apps", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "argocd"},
        }
    });
    if fix {
        root["spec"]["ignoreDifferences"] = json!([{
            "group": "argoproj.io", "kind": "Application", "jsonPointers": ["/spec/syncPolicy"]
        }]);
        policy["syncOptions"] = json!(["RespectIgnoreDifferences=true"]);
    }
    root["spec"]["syncPolicy"] = policy;
    bed.apply(&root);
    let root_name = format!("{}-root", bed.id);
    bed.owns_app(&root_name);
    bed.owns_app(&bed.app_name("staging"));
    bed.wait_app(&root_name, LONG, "Synced", |a| {
        a["status"]["sync"]["status"] == "Synced"
    });
    wait_for_child(&bed);
    bed.run(&["staging", "v1.0.1", WAIT]).expect(0);
    let good = bed.head();
    bed.run(&["staging", "v1.0.3", WAIT]).expect(5);
    let bad = bed.head();
    let r = bed
        .run(&["rollback", "staging", "--strategy", "argocd", "--yes"])
        .expect(0);
    assert!(r.stderr.contains(&root_name), "warns about the parent: {r}");
    (bed, good, bad, r)
}

fn wait_for_child(bed: &Bed) {
    crate::support::wait_for(
        "the parent to create the child app, Synced and Healthy",
        LONG,
        || {
            let out = bed
                .kubectl(&[
                    "-n",
                    "argocd",
                    "get",
                    "application",
                    &bed.app_name("staging"),
                    "-o",
                    "json",
                ])
                .output()
                .ok()?;
            let a: Value = serde_json::from_slice(&out.stdout).ok()?;
            (a["status"]["health"]["status"] == "Healthy" && !history(&a).is_empty()).then_some(())
        },
        String::new,
    );
}

#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn an_app_of_apps_parent_undoes_the_rollback_argo_cd_issue_5351() {
    let (bed, _good, bad, _) = app_of_apps("parent-5351", false);
    // The parent self-heals the child back to auto-sync, and the child redeploys git's bad tip.
    // Synced is part of the wait: right after the redeploy is recorded, self-heal may still be
    // running another sync of the same revision (seen under load: OutOfSync, op Running).
    bed.wait_app(
        "staging",
        LONG,
        "auto-sync back on and the bad revision redeployed and synced",
        |a| {
            automated(a)["enabled"] == true
                && deployed(a).as_deref() == Some(bad.as_str())
                && a["status"]["sync"]["status"] == "Synced"
        },
    );
}

#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn ignore_differences_with_respect_ignore_differences_keeps_the_rollback() {
    let (mut bed, good, _bad, _) = app_of_apps("parent-fix", true);
    bed.wait_app("staging", LONG, "Healthy at the good revision", |a| {
        healthy_at(a, &good)
    });
    // The parent syncs a new commit of the child's manifest (a label): it applies it, and still
    // leaves the rollback alone.
    let mut child: Value =
        serde_json::from_str(&bed.kit.origin_file("apps/staging.json").unwrap()).unwrap();
    child["metadata"]["labels"] = json!({"team": "shop"});
    bed.kit.put(
        "apps/staging.json",
        &serde_json::to_string_pretty(&child).unwrap(),
    );
    let label_commit = bed.kit.commit("label the staging app");
    let root = format!("{}-root", bed.id);
    bed.wait_app(&root, LONG, "synced to the label commit", |a| {
        deployed(a).as_deref() == Some(label_commit.as_str())
    });
    let a = bed.wait_app("staging", LONG, "labelled by the parent", |a| {
        a["metadata"]["labels"]["team"] == "shop"
    });
    assert_eq!(automated(&a)["enabled"], false, "{}", summary(&a));
    std::thread::sleep(STICK);
    let a = bed.app("staging");
    assert_eq!(automated(&a)["enabled"], false, "{}", summary(&a));
    assert!(healthy_at(&a, &good), "{}", summary(&a));
}

// ------------------------------------------------------------------------------------------
// Known product bugs (docs/testbed-findings.md). Each asserts the correct behaviour and stays
// ignored (scripts/test-real.sh skips tests whose ignore reason names a finding) until its fix.

/// P2: a `--wait` right after leaving a Degraded app must not trust the Degraded Argo CD still
/// reports from before the operation (D1). Rolling back from a bad release, again and again:
/// every rollback --wait ends Healthy (exit 0), and the good revision is never recorded
/// unhealthy. Before the fix some rounds exited 5 ("staging is Degraded running <the good
/// revision>").
#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn p2_a_wait_after_leaving_degraded_does_not_trust_a_stale_degraded() {
    let bed = Bed::new("p2", Transport::Kube);
    bed.run(&["staging", "v1.0.1", WAIT]).expect(0);
    let good = bed.head();
    bed.run(&["staging", "v1.0.3", WAIT]).expect(5);
    let mut failures = Vec::new();
    for (round, bad) in ["v1.0.5", "v1.0.3", "v1.0.5", "v1.0.3"].iter().enumerate() {
        let r = bed.run(&["rollback", "staging", "--strategy", "argocd", "--yes", WAIT]);
        if r.code != 0 {
            failures.push(format!("round {round}: {r}"));
        }
        let a = bed.wait_app("staging", LONG, "Healthy at the good revision", |a| {
            healthy_at(a, &good)
        });
        let unhealthy = annotation(&a, "promote.kubectl.io/unhealthy-revisions").unwrap_or("");
        assert!(
            !unhealthy.contains(&good),
            "round {round}: the good revision was recorded unhealthy: {unhealthy}"
        );
        bed.run(&["staging", bad, "--resume", WAIT]).expect(5);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// P3: over the kube API, a sync into a deny window (no manualSync) is refused the way
/// argocd-server refuses it: exit 1 at once, naming the window, and no operation written.
/// Today it writes the operation anyway and waits out the deadline (exit 5), leaving it stuck.
#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn p3_a_deny_window_blocks_sync_over_the_kube_api_without_leaving_an_operation() {
    let (bed, _) = deny_window_bed(Transport::Kube);
    let before = deployed(&bed.app("prod"));
    let started = Instant::now();
    let r = bed.run(&["sync", "prod", "--wait=30s"]);
    let a = bed.app("prod");
    assert_eq!(r.code, 1, "{r}\n{}", summary(&a));
    assert!(r.stderr.contains("sync window"), "{r}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "refused at once: {r}"
    );
    assert!(
        a["operation"].is_null(),
        "no operation left behind: {}",
        summary(&a)
    );
    assert_eq!(deployed(&a), before);
}

/// P4: the app-of-apps advice is printed once and is complete (ignoreDifferences AND
/// RespectIgnoreDifferences=true on the parent, D6); once the parent has undone the rollback,
/// `status` says so instead of showing the rollback marker beside "auto-sync on".
#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn p4_the_app_of_apps_advice_is_printed_once_and_complete() {
    let (bed, _good, bad, r) = app_of_apps("p4", false);
    let root = format!("{}-root", bed.id);
    let advice = r
        .stderr
        .lines()
        .filter(|l| l.contains("ignoreDifferences"))
        .count();
    assert_eq!(advice, 1, "one warning: {r}");
    assert!(r.stderr.contains("RespectIgnoreDifferences=true"), "{r}");
    bed.wait_app(
        "staging",
        LONG,
        "auto-sync turned back on by the parent",
        |a| automated(a)["enabled"] == true && deployed(a).as_deref() == Some(bad.as_str()),
    );
    let s = bed.run(&["status", "staging"]).expect(0).stdout;
    assert!(
        s.contains(&root),
        "status names who undid the rollback: {s}"
    );
    assert!(s.contains("but auto-sync is on again"), "{s}");
}

/// P5: over REST, a sync-window refusal is reported as the window, not as missing RBAC.
#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn p5_a_sync_window_refusal_over_rest_is_not_reported_as_missing_rbac() {
    let (bed, _) = deny_window_bed(Transport::Rest);
    let r = bed.run(&["sync", "prod", "--wait=30s"]).expect(1);
    assert!(r.stderr.contains("sync window"), "{r}");
    assert!(
        !r.stderr.contains("not allowed") && !r.stderr.contains("ask for access"),
        "{r}"
    );
}

/// P6: over REST, a typo in `argocd.app` (argocd-server answers 403 for a missing app, D7)
/// reads "not found or not allowed" and points at `environments[].argocd.app`.
#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn p6_a_typo_in_the_app_name_over_rest_points_at_promote_yaml() {
    let mut bed = Bed::new("p6", Transport::Rest);
    let typo = crate::support::argo::config(&bed.id).replace(
        &format!("app: {}-prod,", bed.id),
        &format!("app: {}-prodd,", bed.id),
    );
    bed.kit.put("promote.yaml", &typo);
    bed.kit.commit("a typo in prod's app name");
    // status still shows prod, and says why its Argo CD state is missing.
    let r = bed.run(&["status", "prod"]).expect(0);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains(&format!("{}-prodd", bed.id)),
        "names the app it looked for: {r}"
    );
    assert!(all.contains("not found or not allowed"), "{r}");
    // sync is an error that points at the config.
    let r = bed.run(&["sync", "prod"]).expect(1);
    assert!(r.stderr.contains("not found or not allowed"), "{r}");
    assert!(r.stderr.contains("argocd.app"), "{r}");
    assert!(!r.stderr.contains("ask for access"), "{r}");
}
