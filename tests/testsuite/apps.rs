//! Many apps in one repository (issue 17): `apps:` in promote.yaml (listed, or found by a
//! `discover` pattern), `--app NAME` scoping any command to one app, `--app 'PATTERN,…'` and
//! `--all-apps` promoting several apps in one all-or-nothing commit, each app's policies asked
//! with `promotion.app`, and `status` grouped by app. Two Kustomize apps and a Helm app (rendered
//! by the real `helm template`).

use promote_testkit::repo::{GitOps, Run};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");

fn run(kit: &GitOps, args: &[&str]) -> Run {
    kit.run_bin(BIN, &kit.clone, &[], args)
}

const HEADER: &str = "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\ngit: {remote: origin, baseBranch: main, mode: direct}\nenvironments:\n  - name: staging\n  - name: prod\n    from: staging\n    policies:\n      promote:\n        - module: builtin:semver-guard\n";

fn listed() -> String {
    let helm = |env: &str| {
        format!(
            "{{targets: [{{helmValues: {{file: charts/shop/values-{env}.yaml, chart: charts/shop, images: {{shop: {{repository: image.repository, tag: image.tag}}}}}}}}]}}"
        )
    };
    format!(
        "{HEADER}apps:\n  - name: cart\n    environments:\n      staging: {{overlay: apps/cart/overlays/staging}}\n      prod: {{overlay: apps/cart/overlays/prod}}\n  - name: checkout\n    environments:\n      staging: {{overlay: apps/checkout/overlays/staging}}\n      prod: {{overlay: apps/checkout/overlays/prod}}\n  - name: shop\n    environments:\n      staging: {}\n      prod: {}\n",
        helm("staging"),
        helm("prod")
    )
}

const CHART_DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\nspec:\n  selector: {matchLabels: {app: shop}}\n  template:\n    metadata: {labels: {app: shop}}\n    spec:\n      containers:\n        - name: shop\n          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n";

fn deployment(app: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {app}}}\nspec:\n  selector: {{matchLabels: {{app: {app}}}}}\n  template:\n    metadata: {{labels: {{app: {app}}}}}\n    spec:\n      containers: [{{name: {app}, image: ghcr.io/acme/{app}:v0}}]\n"
    )
}

/// staging runs v1.0.1 of every app, prod v1.0.0.
fn shop(config: &str) -> GitOps {
    let mut kit = GitOps::new().file("promote.yaml", config);
    for app in ["cart", "checkout"] {
        for (env, tag) in [("staging", "v1.0.1"), ("prod", "v1.0.0")] {
            kit = kit
                .file(
                    &format!("apps/{app}/overlays/{env}/kustomization.yaml"),
                    &format!("resources: [deployment.yaml]\nimages:\n  - name: ghcr.io/acme/{app}\n    newTag: {tag}\n"),
                )
                .file(
                    &format!("apps/{app}/overlays/{env}/deployment.yaml"),
                    &deployment(app),
                );
        }
    }
    let mut kit = kit
        .file(
            "charts/shop/Chart.yaml",
            "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
        )
        .file(
            "charts/shop/values.yaml",
            "image: {repository: x, tag: latest}\n",
        )
        .file("charts/shop/templates/deployment.yaml", CHART_DEPLOYMENT)
        .file(
            "charts/shop/values-staging.yaml",
            "image:\n  repository: ghcr.io/acme/shop\n  tag: v1.0.1\n",
        )
        .file(
            "charts/shop/values-prod.yaml",
            "# prod\nimage:\n  repository: ghcr.io/acme/shop\n  tag: \"v1.0.0\"\n",
        );
    kit.commit("initial: three apps");
    kit
}

fn changed_files(kit: &GitOps) -> Vec<String> {
    let out = kit.origin_git(&["show", "--name-only", "--format=", "main"]);
    out.lines().map(str::to_owned).collect()
}

#[test]
fn all_apps_from_staging_land_in_one_commit_with_a_trailer_per_app() {
    let kit = shop(&listed());
    let before = kit.origin_head();
    let r = run(&kit, &["prod", "--from", "staging", "--all-apps"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // The plan's text says how each app's render was compared, on a line of its own.
    for app in ["cart", "checkout", "shop"] {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with(&format!("{app}: rendered"))),
            "{}",
            r.stdout
        );
    }
    assert_eq!(
        kit.origin_git(&["rev-list", "--count", &format!("{before}..main")])
            .trim(),
        "1"
    );
    assert_eq!(
        changed_files(&kit),
        [
            "apps/cart/overlays/prod/kustomization.yaml",
            "apps/checkout/overlays/prod/kustomization.yaml",
            "charts/shop/values-prod.yaml"
        ]
    );
    // The Helm values keep their comment and quoting.
    assert_eq!(
        kit.origin_file("charts/shop/values-prod.yaml").unwrap(),
        "# prod\nimage:\n  repository: ghcr.io/acme/shop\n  tag: \"v1.0.1\"\n"
    );
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.starts_with("promote prod to v1.0.1 from staging (3 apps: cart, checkout, shop)"),
        "{msg}"
    );
    for app in ["cart", "checkout", "shop"] {
        assert!(msg.contains(&format!("Promote-App: {app}\n")), "{msg}");
        assert!(
            msg.contains(&format!(
                "Policy-Module: {app}: builtin:semver-guard sha256:"
            )),
            "{msg}"
        );
    }
    // status groups by app, in text and JSON.
    let status = run(&kit, &["status", "-o", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let apps = doc["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 3, "{doc}");
    for a in apps {
        let prod = a["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "prod")
            .unwrap();
        assert_eq!(prod["version"], "v1.0.1", "{a}");
        assert_eq!(prod["app"], a["name"], "{a}");
    }
    let text = run(&kit, &["status"]);
    assert!(text.stdout.contains("app shop\n"), "{}", text.stdout);
    // Running it again changes nothing.
    let again = run(&kit, &["prod", "--from", "staging", "--all-apps"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("already runs"), "{}", again.stdout);
}

#[test]
fn one_app_by_name_scopes_the_command_and_a_pattern_selects_apps() {
    let kit = shop(&listed());
    let r = run(&kit, &["prod", "v1.0.1", "--app", "cart"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        changed_files(&kit),
        ["apps/cart/overlays/prod/kustomization.yaml"]
    );
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(msg.contains("Promote-App: cart\n"), "{msg}");
    // `status --app` shows that app's environments only.
    let status = run(&kit, &["status", "prod", "--app", "cart", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(doc["environments"][0]["version"], "v1.0.1", "{doc}");
    assert_eq!(
        doc["environments"][0]["overlay"],
        "apps/cart/overlays/prod/kustomization.yaml"
    );

    let r = run(
        &kit,
        &[
            "prod",
            "--from",
            "staging",
            "--app",
            "ch*,sh?p",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let names: Vec<&str> = doc["apps"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["app"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["checkout", "shop"], "{doc}");
}

#[test]
fn one_failing_app_stops_them_all_and_every_failure_is_listed() {
    let mut kit = shop(&listed());
    kit.put(
        "apps/cart/overlays/prod/kustomization.yaml",
        "resources: [deployment.yaml, missing.yaml]\nimages:\n  - name: ghcr.io/acme/cart\n    newTag: v1.0.0\n",
    );
    kit.put(
        "charts/shop/templates/fail.yaml",
        "{{ required \"image.digest is required\" .Values.image.digest }}\n",
    );
    kit.commit("break cart and shop");
    let before = (kit.origin_head(), kit.clone_state());
    let r = run(&kit, &["prod", "--from", "staging", "--all-apps"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("2 of 3 apps cannot be promoted in prod; nothing was committed or pushed"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("\n  cart: ") && r.stderr.contains("missing.yaml"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("\n  shop: ") && r.stderr.contains("image.digest is required"),
        "{}",
        r.stderr
    );
    assert_eq!(before, (kit.origin_head(), kit.clone_state()));
}

#[test]
fn each_apps_policies_see_the_app() {
    let kit = shop(&listed());
    let r = run(
        &kit,
        &[
            "prod",
            "--from",
            "staging",
            "--app",
            "cart,checkout",
            "--dry-run",
            "--save-requests",
            "saved",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let mut apps = Vec::new();
    for entry in std::fs::read_dir(kit.clone.join("saved")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let case: serde_json::Value = serde_json::from_str(&text).unwrap();
        let promotion = &case["request"]["promotion"];
        apps.push(promotion["app"].as_str().unwrap_or("(none)").to_owned());
        // The environments a policy sees are the app's.
        let image = promotion["images"][0]["name"].as_str().unwrap_or("");
        assert!(
            image.ends_with(promotion["app"].as_str().unwrap_or("?")),
            "{case}"
        );
    }
    apps.sort();
    assert_eq!(apps, ["cart", "checkout"]);
}

#[test]
fn with_apps_a_command_names_one_and_bad_names_are_explained() {
    let kit = shop(&listed());
    let r = run(&kit, &["prod", "v1.0.1"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.contains(
            "promote.yaml declares apps, so name one: --app NAME (apps: cart, checkout, shop)"
        ),
        "{}",
        r.stderr
    );
    let r = run(&kit, &["prod", "v1.0.1", "--app", "nope"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.contains("no app named `nope`") && r.stderr.contains("cart, checkout, shop"),
        "{}",
        r.stderr
    );
    let r = run(&kit, &["prod", "v1.0.1", "--app", "zz*"]);
    assert!(
        r.stderr.contains("--app zz*: no app matches"),
        "{}",
        r.stderr
    );
    let r = run(&kit, &["status", "--app", "c*"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("`status` works on one app"),
        "{}",
        r.stderr
    );
}

#[test]
fn discovered_apps_are_the_overlays_the_pattern_finds() {
    let mut kit = shop(&format!(
        "{HEADER}apps: {{discover: \"apps/*/overlays/{{env}}\", argocd: {{app: \"{{app}}-{{env}}\"}}}}\n"
    ));
    // A tree entry whose name is no app name (hostile or a typo) is passed over, never named in
    // a branch, a trailer or a message.
    kit.put(
        "apps/-x; rm -rf/overlays/prod/kustomization.yaml",
        "images:\n  - name: ghcr.io/acme/x\n    newTag: v1.0.0\n",
    );
    kit.commit("a directory that is not an app name");
    let status = run(&kit, &["status", "-o", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let names: Vec<&str> = doc["apps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["cart", "checkout"], "{doc}");
    let r = run(&kit, &["prod", "--from", "staging", "--all-apps"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        changed_files(&kit),
        [
            "apps/cart/overlays/prod/kustomization.yaml",
            "apps/checkout/overlays/prod/kustomization.yaml"
        ]
    );
    // The apps rendered side by side before their planning, which found the renders in the
    // cache: still, this run rendered them, so the plan does not call them cached.
    assert!(r.stderr.contains("rendering 2 apps on "), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("render: ok (kubectl kustomize, 2 resources)\n")
            && r.stdout.lines().any(|l| l.starts_with("cart: rendered")),
        "{}",
        r.stdout
    );
}

#[test]
fn an_approval_counts_for_its_app_only() {
    let config = listed()
        .replace(
            "        - module: builtin:semver-guard\n",
            "        - module: builtin:qa-approved\n          settings: {requireVerified: false}\n",
        )
        .replace("apps:\n", "approvers: {qa: [qa@example.com]}\napps:\n");
    let kit = shop(&config);
    let qa = kit.person("qa", "Quinn QA", "qa@example.com");
    let approve = kit.run_bin(
        BIN,
        &qa,
        &[],
        &["approve", "staging", "v1.0.1", "--app", "cart"],
    );
    assert_eq!(approve.code, 0, "{}\n{}", approve.stdout, approve.stderr);
    let record = kit.origin_git(&["log", "-1", "--format=%B", "promote/approvals"]);
    assert!(record.contains("Promote-App: cart\n"), "{record}");

    // cart's approval lets cart through, not checkout.
    let cart = run(
        &kit,
        &["prod", "--from", "staging", "--app", "cart", "--dry-run"],
    );
    assert_eq!(cart.code, 0, "{}\n{}", cart.stdout, cart.stderr);
    let checkout = run(
        &kit,
        &[
            "prod",
            "--from",
            "staging",
            "--app",
            "checkout",
            "--dry-run",
        ],
    );
    assert_eq!(checkout.code, 4, "{}\n{}", checkout.stdout, checkout.stderr);
    // Together: the apps without an approval hold them all back.
    let all = run(
        &kit,
        &["prod", "--from", "staging", "--all-apps", "-o", "json"],
    );
    assert_eq!(all.code, 4, "{}\n{}", all.stdout, all.stderr);
    let doc: serde_json::Value = serde_json::from_str(&all.stdout).unwrap();
    let decisions: Vec<(&str, &str)> = doc["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["app"].as_str().unwrap(),
                p["policy"]["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("cart", "allow"),
            ("checkout", "require-approval"),
            ("shop", "require-approval")
        ]
    );
    assert_eq!(doc["result"], "awaiting-approval", "{doc}");
    assert_eq!(kit.origin_git(&["rev-list", "--count", "main"]).trim(), "1");
}

/// Two apps' Applications on the Argo CD stand-in: the example's prod overlay and a mirror of
/// it in its own namespace, promoted together and waited for together.
#[test]
fn a_wait_on_several_apps_syncs_each_application_to_the_one_commit() {
    use super::argocd::{PROD, app, bed_with, example_app, run, runs};
    use promote_testkit::argocd::ArgoVersion;
    let mut bed = bed_with(ArgoVersion::V3_5, false, &[PROD]);
    let prod = bed
        .kit
        .origin_file("kustomize/prod/kustomization.yaml")
        .unwrap();
    bed.kit.put(
        "kustomize/mirror-prod/kustomization.yaml",
        &prod.replace(
            "namespace: microservices-demo-prod",
            "namespace: microservices-demo-mirror",
        ),
    );
    bed.kit.put(
        "promote.yaml",
        "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\ngit: {remote: origin, baseBranch: main, mode: direct}\nenvironments:\n  - name: prod\napps:\n  - name: boutique\n    environments:\n      prod: {overlay: kustomize/prod, argocd: {app: prod-microservices-demo}}\n  - name: mirror\n    environments:\n      prod: {overlay: kustomize/mirror-prod, argocd: {app: prod-mirror}}\n",
    );
    bed.kit.commit("two apps in prod");
    let mut mirror = example_app(&bed.kit, PROD);
    mirror["metadata"]["name"] = serde_json::json!("prod-mirror");
    mirror["spec"]["source"]["path"] = serde_json::json!("kustomize/mirror-prod");
    mirror["spec"]["destination"]["namespace"] = serde_json::json!("microservices-demo-mirror");
    bed.argo.create_application(mirror);

    let r = run(
        &bed,
        &["prod", "v1.0.1", "--all-apps", "--wait=60s", "-o", "json"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let head = bed.kit.origin_head();
    for name in [PROD, "prod-mirror"] {
        let a = app(&bed, name);
        let last = a["status"]["history"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["revision"], head.as_str(), "{name}: {a}");
        assert_eq!(a["status"]["health"]["status"], "Healthy", "{name}");
        assert!(runs(&bed, name, "v1.0.1"), "{name}");
    }
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let apps = doc["deployment"]["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 2, "{doc}");
    for a in apps {
        assert_eq!(a["deployment"]["argocd"], "waited", "{a}");
    }
}

/// PR mode: one pull request for several apps, on a branch and label of their own (a later
/// promotion of one app does not supersede it), its body saying whose each image is.
#[test]
fn several_apps_open_one_pull_request() {
    use promote_testkit::forge::{FakeForge, Vendor};
    const TOKEN: &str = "tok-apps-0123456789";
    let forge = FakeForge::start(Vendor::GitHub);
    forge
        .add_user("promoter", Some(TOKEN))
        .add_repo("acme/gitops");
    let config = listed()
        .replace("mode: direct}", "mode: pr}")
        .replacen(
            "environments:\n",
            &format!(
                "forge: {{type: github, url: \"{}\", repo: acme/gitops, tokenEnv: FORGE_TOKEN}}\nenvironments:\n",
                forge.api_url()
            ),
            1,
        );
    let kit = shop(&config);
    let promote = |args: &[&str]| kit.run_bin(BIN, &kit.clone, &[("FORGE_TOKEN", TOKEN)], args);
    let r = promote(&["prod", "--from", "staging", "--app", "cart,shop"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let pulls = forge.pulls("acme/gitops");
    assert_eq!(pulls.len(), 1, "{}", r.stderr);
    let pr = &pulls[0];
    assert!(
        pr.head.starts_with("promote/prod/apps-") && pr.head.ends_with("/v1.0.1"),
        "{}",
        pr.head
    );
    assert!(
        pr.labels
            .iter()
            .any(|l| l.starts_with("promote:prod/apps-")),
        "{:?}",
        pr.labels
    );
    for part in [
        "| App | Image | From | To |",
        "| cart | `ghcr.io/acme/cart` | `v1.0.0` | `v1.0.1` |",
        "| shop | `shop` | `v1.0.0` | `v1.0.1` |",
        "built `apps/cart/overlays/prod`, `charts/shop/values-prod.yaml`",
    ] {
        assert!(pr.body.contains(part), "missing `{part}` in:\n{}", pr.body);
    }
    let files = kit.origin_git(&["show", "--name-only", "--format=", &pr.head]);
    assert_eq!(
        files.lines().collect::<Vec<_>>(),
        [
            "apps/cart/overlays/prod/kustomization.yaml",
            "charts/shop/values-prod.yaml"
        ]
    );
    // checkout alone: its own branch and pull request; the two-app one stays open.
    let r = promote(&["prod", "--from", "staging", "--app", "checkout"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let pulls = forge.pulls("acme/gitops");
    assert_eq!(pulls.len(), 2);
    assert_eq!(pulls[1].head, "promote/prod/checkout/v1.0.1");
    assert!(
        pulls
            .iter()
            .all(|p| p.state == promote_testkit::forge::FakePrState::Open),
        "{pulls:?}"
    );
}

#[test]
fn a_revert_of_one_app_leaves_the_others_of_the_same_commit() {
    let kit = shop(&listed());
    assert_eq!(
        run(&kit, &["prod", "--from", "staging", "--all-apps"]).code,
        0
    );
    let r = run(
        &kit,
        &[
            "rollback",
            "prod",
            "--app",
            "cart",
            "--strategy",
            "revert",
            "-y",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        changed_files(&kit),
        ["apps/cart/overlays/prod/kustomization.yaml"]
    );
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.contains("Promote-App: cart\n") && msg.contains("Promote-Rollback: revert"),
        "{msg}"
    );
    let status = run(&kit, &["status", "prod", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let versions: Vec<(&str, &str)> = doc["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap(),
                a["environments"][0]["version"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            ("cart", "v1.0.0"),
            ("checkout", "v1.0.1"),
            ("shop", "v1.0.1")
        ]
    );
}
