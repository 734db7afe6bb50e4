//! Checks after the deploy, the automatic rollback and waves (issue 16), against the Argo CD
//! stand-in and the shop stand-in (`promote_testkit::shop`: `/healthz` and Prometheus's
//! `/api/v1/query`, turning unhealthy when the test says). Durations are short: a "minute 3"
//! is the fourth sample here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use promote_testkit::argocd::ArgoVersion;
use promote_testkit::shop::Shop;
use serde_json::Value;

use super::argocd::{CONFIG, PROD, STAGING, annotation, app, bed, run, runs};

fn json(r: &promote_testkit::repo::Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{}\n{}", r.stdout, r.stderr))
}

fn http_check(shop: &Shop, every: &str) -> String {
    format!(
        "http: {{url: \"{}/healthz\", expect: {{status: 200, body: ok}}, every: {every}}}",
        shop.url
    )
}

fn prometheus_check(shop: &Shop, every: &str) -> String {
    format!(
        "prometheus: {{url: \"{}\", query: 'sum(rate(http_requests_total{{code=~\"5..\"}}[5m])) / sum(rate(http_requests_total[5m]))', below: 0.01, every: {every}}}",
        shop.url
    )
}

/// The note `history` tells the story from.
fn note(bed: &super::argocd::Bed, commit: &str) -> String {
    let out = std::process::Command::new("git")
        .args([
            "--git-dir",
            bed.kit.origin.to_str().unwrap(),
            "notes",
            "--ref=promote",
            "show",
            commit,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_clean_soak_passes_every_sample_and_is_noted_on_the_commit() {
    let bed = bed(ArgoVersion::V3_5, false);
    let shop = Shop::start(Arc::new(|_| true));
    let (h, p) = (http_check(&shop, "400ms"), prometheus_check(&shop, "700ms"));
    let r = run(
        &bed,
        &[
            "staging",
            "v1.0.1",
            "--wait=60s",
            "--soak",
            "2s",
            "--check",
            &h,
            "--check",
            &p,
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = json(&r);
    let v = &doc["verification"];
    assert_eq!(v["result"], "passed", "{v}");
    assert_eq!(v["soakSeconds"], 2);
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks[0]["kind"], "http");
    assert_eq!(checks[1]["kind"], "prometheus");
    let http = checks[0]["samples"].as_array().unwrap();
    assert!(http.len() >= 4, "a sample every 400ms for 2s: {http:?}");
    assert!(http.iter().all(|s| s["ok"] == true && s["status"] == 200));
    assert_eq!(checks[1]["samples"][0]["value"], 0.001);
    assert!(
        r.stderr.contains("verifying staging ("),
        "progress on stderr: {}",
        r.stderr
    );
    assert!(
        doc["deployment"]["waited"]["result"] == "ready",
        "{}",
        doc["deployment"]
    );
    let commit = doc["commit"].as_str().unwrap();
    assert!(
        note(&bed, commit).starts_with("Promote-Verify: passed (soak 2s, 2 checks, "),
        "{}",
        note(&bed, commit)
    );
}

#[test]
fn a_failing_check_rolls_back_through_argocd_and_leaves_auto_sync_off_with_the_marker() {
    let bed = bed(ArgoVersion::V3_5, false);
    assert_eq!(run(&bed, &["staging", "v1.0.1", "--wait=60s"]).code, 0);
    // Healthy for three samples, then 500s: "a 500 at minute 3".
    let shop = Shop::start(Arc::new(|n| n <= 3));
    let h = http_check(&shop, "300ms");
    let started = Instant::now();
    let r = run(
        &bed,
        &[
            "staging",
            "v1.0.2",
            "--wait=60s",
            "--soak",
            "30s",
            "--check",
            &h,
            "--rollback-on-failure",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "fails at the first 500, not at the end of the soak"
    );
    let doc = json(&r);
    assert_eq!(doc["verification"]["result"], "failed");
    let failure = doc["verification"]["failure"].as_str().unwrap();
    assert!(failure.contains("500 (expected 200"), "{failure}");
    let rb = &doc["autoRollback"];
    assert_eq!(rb["result"], "rolled-back", "{rb}\n{}", r.stderr);
    assert_eq!(rb["strategy"], "argocd");
    assert_eq!(rb["toVersion"], "v1.0.1");
    assert_eq!(rb["waited"]["result"], "ready");
    assert!(
        runs(&bed, STAGING, "v1.0.1"),
        "{:?}",
        bed.argo.live_images(STAGING)
    );
    // Auto-sync state right afterwards: off, with our marker saying who and why.
    let a = app(&bed, STAGING);
    assert!(
        a["spec"]["syncPolicy"]["automated"]["enabled"] == false
            || a["spec"]["syncPolicy"]["automated"].is_null(),
        "{}",
        a["spec"]["syncPolicy"]
    );
    assert!(
        annotation(&a, "promote.kubectl.io/rolled-back-by").is_some(),
        "{}",
        a["metadata"]
    );
    assert!(
        r.stderr
            .contains("automatic rollback: staging: rolled back to v1.0.1 by argocd"),
        "{}",
        r.stderr
    );
    let commit = doc["commit"].as_str().unwrap();
    let n = note(&bed, commit);
    assert!(n.starts_with("Promote-Verify: failed (http "), "{n}");
    assert!(n.contains("rolled back to v1.0.1 by argocd"), "{n}");
    // status tells the truth afterwards.
    let s = run(&bed, &["status", "staging"]);
    assert!(s.stdout.contains("rolled back"), "{}", s.stdout);
}

#[test]
fn a_denied_rollback_rolls_nothing_back_and_says_why() {
    let mut bed = bed(ArgoVersion::V3_5, false);
    let config = CONFIG.replace(
        "    argocd: {app: staging-microservices-demo, namespace: argocd}\n",
        "    argocd: {app: staging-microservices-demo, namespace: argocd}\n    policies:\n      rollback:\n        - {module: builtin:rollback-guard, settings: {irreversible: [v1.0.2]}}\n",
    );
    bed.kit.put("promote.yaml", &config);
    bed.kit.commit("v1.0.2 migrates the schema");
    assert_eq!(run(&bed, &["staging", "v1.0.1", "--wait=60s"]).code, 0);
    bed.argo.set_health_for_tag("v1.0.2", "Degraded");
    let r = run(
        &bed,
        &[
            "staging",
            "v1.0.2",
            "--wait=60s",
            "--rollback-on-failure",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    let doc = json(&r);
    assert_eq!(
        doc["autoRollback"]["result"], "denied",
        "{}\n{}",
        doc["autoRollback"], r.stderr
    );
    assert!(
        r.stderr
            .contains("not rolled back: the rollback policies denied"),
        "{}",
        r.stderr
    );
    assert!(runs(&bed, STAGING, "v1.0.2"), "nothing was rolled back");
    assert!(annotation(&app(&bed, STAGING), "promote.kubectl.io/rolled-back-by").is_none());
}

const WAVES: &str = "waves:\n  - {name: everywhere, environments: [staging, prod]}\n";

#[test]
fn a_degraded_first_wave_leaves_the_second_untouched_and_says_where_it_stopped() {
    let mut bed = bed(ArgoVersion::V3_5, false);
    bed.kit.put("promote.yaml", &format!("{CONFIG}{WAVES}"));
    bed.kit.commit("waves");
    // Prod's git side; its Application's status moves on its own (the stand-in's first
    // reconcile), so untouched there means: no operation and no history of ours.
    let prod = || {
        let mut e = json(&run(&bed, &["status", "prod", "-o", "json"]))["environments"][0].clone();
        e.as_object_mut().unwrap().remove("argocd");
        e
    };
    let prod_before = prod();
    bed.argo.set_health_for_tag("v1.0.2", "Degraded");
    let r = run(
        &bed,
        &[
            "everywhere",
            "v1.0.2",
            "--direct",
            "--yes",
            "--wait=60s",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    let doc = json(&r);
    assert_eq!(doc["kind"], "WavesResult");
    assert_eq!(doc["result"], "stopped");
    assert_eq!(doc["stopped"]["environment"], "staging");
    assert_eq!(doc["stopped"]["index"], 1);
    assert_eq!(doc["stopped"]["untouched"][0], "prod");
    assert_eq!(doc["waves"].as_array().unwrap().len(), 1);
    assert_eq!(prod(), prod_before, "prod untouched");
    let prod_app = app(&bed, PROD);
    assert!(prod_app["operation"].is_null(), "{}", prod_app);
    assert!(
        prod_app["status"]["history"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{}",
        prod_app["status"]
    );
    let text = run(
        &bed,
        &["everywhere", "v1.0.2", "--direct", "--yes", "--wait=60s"],
    );
    assert!(
        text.stderr.contains("stopped at wave 1/2 (staging)"),
        "{}",
        text.stderr
    );
    assert!(text.stderr.contains("untouched: prod"), "{}", text.stderr);
}

#[test]
fn waves_go_one_after_the_other_and_policies_see_the_wave() {
    let mut bed = bed(ArgoVersion::V3_5, false);
    bed.kit.put("promote.yaml", &format!("{CONFIG}{WAVES}"));
    bed.kit.commit("waves");
    let shop = Shop::start(Arc::new(|_| true));
    let h = http_check(&shop, "300ms");
    let r = run(
        &bed,
        &[
            "staging,prod",
            "v1.0.1",
            "--direct",
            "--yes",
            "--wait=60s",
            "--check",
            &h,
            "--soak",
            "1s",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = json(&r);
    assert_eq!(doc["result"], "completed");
    assert_eq!(doc["waves"][1]["environment"], "prod");
    assert_eq!(doc["waves"][1]["verification"]["result"], "passed");
    assert!(runs(&bed, PROD, "v1.0.1"));
}

#[test]
fn a_run_killed_during_the_soak_is_resumed_with_resume_waves() {
    let mut bed = bed(ArgoVersion::V3_5, false);
    bed.kit.put("promote.yaml", &format!("{CONFIG}{WAVES}"));
    bed.kit.commit("waves");
    let shop = Shop::start(Arc::new(|_| true));
    let h = http_check(&shop, "300ms");
    let kubeconfig = bed.argo.kubeconfig_path().to_str().unwrap().to_owned();
    let mut child = bed
        .kit
        .bin_command(
            super::argocd::BIN,
            &bed.kit.clone,
            &[("KUBECONFIG", &kubeconfig)],
            &[
                "everywhere",
                "v1.0.1",
                "--direct",
                "--yes",
                "--wait=60s",
                "--check",
                &h,
                "--soak",
                "60s",
            ],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(bed.kit.clone.join("../killed.log")).unwrap())
        .spawn()
        .unwrap();
    // Killed in the first wave's soak: staging runs v1.0.1, prod was never touched.
    let deadline = Instant::now() + Duration::from_secs(60);
    while shop.requests() < 2 {
        assert!(
            Instant::now() < deadline,
            "the soak did not start: {}",
            std::fs::read_to_string(bed.kit.clone.join("../killed.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(runs(&bed, STAGING, "v1.0.1"));
    let again = run(
        &bed,
        &[
            "everywhere",
            "v1.0.1",
            "--direct",
            "--yes",
            "--wait=60s",
            "--check",
            &h,
            "--soak",
            "1s",
        ],
    );
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(
        again.stderr.contains("pass --resume-waves"),
        "{}",
        again.stderr
    );
    let r = run(
        &bed,
        &[
            "everywhere",
            "v1.0.1",
            "--direct",
            "--yes",
            "--wait=60s",
            "--check",
            &h,
            "--soak",
            "1s",
            "--resume-waves",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = json(&r);
    assert_eq!(
        doc["waves"][0]["result"], "rechecked",
        "{}",
        doc["waves"][0]
    );
    assert_eq!(doc["waves"][0]["verification"]["result"], "passed");
    assert_eq!(doc["waves"][1]["result"], "pushed");
    assert!(runs(&bed, PROD, "v1.0.1"));
}

#[test]
fn verify_policies_judge_the_samples_from_promote_yaml() {
    let mut bed = bed(ArgoVersion::V3_5, false);
    // One 500 among the samples: slo-guard allows one failed sample, so the deploy passes.
    let shop = Shop::start(Arc::new(|n| n != 2));
    let config = CONFIG.replace(
        "    argocd: {app: staging-microservices-demo, namespace: argocd}\n",
        &format!(
            "    argocd: {{app: staging-microservices-demo, namespace: argocd}}\n    verify:\n      soak: 6s\n      checks:\n        - {{name: shop, http: {{url: \"{}/healthz\", every: 400ms}}}}\n      policies:\n        - {{module: builtin:slo-guard, settings: {{maxFailedSamples: 1, minSamples: 3}}}}\n",
            shop.url
        ),
    );
    bed.kit.put("promote.yaml", &config);
    bed.kit.commit("verify staging with slo-guard");
    let r = run(&bed, &["staging", "v1.0.1", "--wait=60s", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = json(&r);
    let v = &doc["verification"];
    assert_eq!(v["result"], "passed", "{v}");
    assert_eq!(v["checks"][0]["name"], "shop");
    assert_eq!(v["checks"][0]["samples"][1]["ok"], false);
    assert_eq!(v["policy"]["decision"], "allow", "{}", v["policy"]);
    // A second 500 spends the budget: denied at once, exit 5.
    let bad = Shop::start(Arc::new(|n| n < 2));
    bed.kit
        .put("promote.yaml", &config.replace(&shop.url, &bad.url));
    bed.kit.commit("point at the bad shop");
    let r = run(&bed, &["staging", "v1.0.2", "--wait=60s", "-o", "json"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    let doc = json(&r);
    let failure = doc["verification"]["failure"].as_str().unwrap();
    assert!(
        failure.starts_with("the verify policies denied: shop: 2 of "),
        "{failure}"
    );
}

#[test]
fn a_degraded_deploy_rolled_back_automatically_does_not_advise_a_rollback() {
    let bed = bed(ArgoVersion::V3_5, false);
    assert_eq!(run(&bed, &["staging", "v1.0.1", "--wait=60s"]).code, 0);
    bed.argo.set_health_for_tag("v1.0.2", "Degraded");
    let r = run(
        &bed,
        &["staging", "v1.0.2", "--wait=60s", "--rollback-on-failure"],
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    let degraded = r
        .stderr
        .find("error: staging is Degraded")
        .expect(&r.stderr);
    let rolled = r
        .stderr
        .find("automatic rollback: staging: rolled back to v1.0.1 by argocd")
        .expect(&r.stderr);
    assert!(
        degraded < rolled,
        "the wait's line, then the rollback: {}",
        r.stderr
    );
    assert!(
        !r.stderr
            .contains("roll back with `kubectl promote rollback staging`"),
        "{}",
        r.stderr
    );
    assert!(runs(&bed, STAGING, "v1.0.1"));
}
