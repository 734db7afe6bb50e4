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
    let kit = shop(&format!(
        "{HEADER}apps: {{discover: \"apps/*/overlays/{{env}}\", argocd: {{app: \"{{app}}-{{env}}\"}}}}\n"
    ));
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
            && r.stdout
                .contains("rendered: each app's render compared on its own\n"),
        "{}",
        r.stdout
    );
}
