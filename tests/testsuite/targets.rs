//! `environments[].targets` through the binary (issue 17): an environment whose image pins are
//! Helm values (rendered with the real `helm template`, built from Helm's Go module), a field of
//! any YAML file, or an Argo CD Application's Helm parameters. Each is edited byte-minimally,
//! checked, committed and pushed as a Kustomize overlay is; `--from` reads across kinds.

use promote_testkit::repo::{GitOps, Run};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");

fn run(kit: &GitOps, args: &[&str]) -> Run {
    kit.run_bin(BIN, &kit.clone, &[], args)
}

const CHART: &str = "apiVersion: v2\nname: shop\nversion: 0.1.0\n";

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-cart
spec:
  selector:
    matchLabels: {app: cart}
  template:
    metadata:
      labels: {app: cart}
    spec:
      containers:
        - name: cart
          image: "{{ .Values.cart.image.repository }}:{{ .Values.cart.image.tag }}"
"#;

/// A values file in the shape of argocd-image-updater issue 884: comments, a quoted tag, flow
/// style and other images' tags beside the one that moves.
const VALUES_PROD: &str = "# prod values: edited by kubectl promote\ncart:\n  image:\n    repository: ghcr.io/acme/cart   # the cart service\n    tag: \"v1.0.0\"\n  replicas: 3\nredis: {image: {repository: redis, tag: \"7.2\"}}\n";

const CONFIG: &str = "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\ngit: {remote: origin, baseBranch: main, mode: direct}\nenvironments:\n  - name: staging\n    overlay: kustomize/staging\n  - name: prod\n    from: staging\n    targets:\n      - helmValues:\n          file: charts/shop/values-prod.yaml\n          chart: charts/shop\n          images:\n            cart: {repository: cart.image.repository, tag: cart.image.tag}\n  - name: eu\n    from: prod\n    targets: [{yaml: {file: clusters/eu/release.yaml, field: spec.values.cart.image.tag, image: ghcr.io/acme/cart}}]\n  - name: us\n    from: prod\n    targets: [{argocdHelm: {application: argocd/us-shop.yaml, parameter: cart.image.tag, image: ghcr.io/acme/cart}}]\n";

const RELEASE: &str = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: shop, namespace: shop}\nspec:\n  chart: {spec: {chart: shop, version: 0.1.0}}\n  values:\n    cart:\n      image:\n        tag: v1.0.0 # pinned by promote\n";

const APPLICATION: &str = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: us-shop, namespace: argocd}\nspec:\n  source:\n    repoURL: https://git.example.com/shop.git\n    path: charts/shop\n    helm:\n      parameters:\n        - name: cart.image.repository\n          value: ghcr.io/acme/cart\n        - name: cart.image.tag\n          value: v1.0.0\n";

fn shop() -> GitOps {
    let mut kit = GitOps::new()
        .file("promote.yaml", CONFIG)
        .file(
            "kustomize/staging/kustomization.yaml",
            "resources: [deployment.yaml]\nimages:\n  - name: ghcr.io/acme/cart\n    newTag: v1.0.1\n",
        )
        .file(
            "kustomize/staging/deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: cart}\nspec:\n  selector: {matchLabels: {app: cart}}\n  template:\n    metadata: {labels: {app: cart}}\n    spec:\n      containers: [{name: cart, image: ghcr.io/acme/cart:v1.0.0}]\n",
        )
        .file("charts/shop/Chart.yaml", CHART)
        .file("charts/shop/values.yaml", "cart: {image: {repository: x, tag: latest}}\n")
        .file("charts/shop/templates/deployment.yaml", DEPLOYMENT)
        .file("charts/shop/values-prod.yaml", VALUES_PROD)
        .file("clusters/eu/release.yaml", RELEASE)
        .file("argocd/us-shop.yaml", APPLICATION);
    kit.commit("initial: a shop with Kustomize, Helm and plain YAML pins");
    kit
}

/// The lines of `before` and `after` that differ, as (before, after).
fn changed_lines(before: &str, after: &str) -> Vec<(String, String)> {
    assert_eq!(before.lines().count(), after.lines().count(), "{after}");
    before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
}

#[test]
fn helm_values_move_from_a_kustomize_overlay_rendered_by_helm_template() {
    let kit = shop();
    let dry = run(
        &kit,
        &["prod", "--from", "staging", "--dry-run", "-o", "json"],
    );
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    let doc: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(doc["overlay"], "charts/shop/values-prod.yaml", "{doc}");
    assert_eq!(doc["render"]["program"], "helm template", "{doc}");
    assert_eq!(doc["render"]["resources"], 1, "{doc}");
    assert_eq!(doc["images"][0]["to"]["tag"], "v1.0.1", "{doc}");

    let r = run(&kit, &["prod", "--from", "staging"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("rendering charts/shop/values-prod.yaml with helm template"),
        "{}",
        r.stderr
    );
    let after = kit.origin_file("charts/shop/values-prod.yaml").unwrap();
    // Only the tag's scalar moved; its quotes, the comments, the other image's tag stay.
    assert_eq!(
        changed_lines(VALUES_PROD, &after),
        [("    tag: \"v1.0.0\"".into(), "    tag: \"v1.0.1\"".into())]
    );
    let status = run(&kit, &["status", "-o", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let prod = doc["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "prod")
        .unwrap();
    assert_eq!(prod["version"], "v1.0.1", "{prod}");
}

#[test]
fn a_yaml_field_and_an_application_parameter_move_from_helm_values() {
    let kit = shop();
    assert_eq!(run(&kit, &["prod", "--from", "staging"]).code, 0);
    for (env, file, before, line) in [
        (
            "eu",
            "clusters/eu/release.yaml",
            RELEASE,
            "        tag: v1.0.1 # pinned by promote",
        ),
        (
            "us",
            "argocd/us-shop.yaml",
            APPLICATION,
            "          value: v1.0.1",
        ),
    ] {
        let r = run(&kit, &[env, "--from", "prod"]);
        assert_eq!(r.code, 0, "{env}: {}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr
                .contains(&format!("rendering {file} with a YAML parse")),
            "{}",
            r.stderr
        );
        let after = kit.origin_file(file).unwrap();
        let changed = changed_lines(before, &after);
        assert_eq!(changed.len(), 1, "{env}: {changed:?}");
        assert_eq!(changed[0].1, line, "{env}");
    }
    let log = kit.origin_git(&["log", "--format=%s", "main"]);
    assert_eq!(log.lines().count(), 4, "{log}");
}

#[test]
fn a_chart_that_does_not_render_leaves_the_remote_and_the_clone_as_they_were() {
    let mut kit = shop();
    kit.put(
        "charts/shop/templates/fail.yaml",
        "{{ required \"cart.image.digest is required in prod\" .Values.cart.image.digest }}\n",
    );
    kit.commit("a chart that needs a digest");
    let before = (kit.origin_head(), kit.clone_state());
    let r = run(&kit, &["prod", "--from", "staging"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("rendering charts/shop/values-prod.yaml with helm template failed")
            && r.stderr.contains("cart.image.digest is required in prod"),
        "{}",
        r.stderr
    );
    // The scratch tree's path does not leak into the message.
    assert!(!r.stderr.contains("/tmp/"), "{}", r.stderr);
    assert_eq!(before, (kit.origin_head(), kit.clone_state()));
}

#[test]
fn an_edit_through_an_alias_is_refused_naming_the_lines() {
    let mut kit = shop();
    kit.put(
        "charts/shop/values-prod.yaml",
        "tags:\n  cart: &cart v1.0.0\ncart:\n  image:\n    repository: ghcr.io/acme/cart\n    tag: *cart\n",
    );
    kit.commit("the tag through an alias");
    let before = kit.origin_head();
    let r = run(&kit, &["prod", "--from", "staging"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("charts/shop/values-prod.yaml") && r.stderr.contains("line 6"),
        "{}",
        r.stderr
    );
    assert_eq!(before, kit.origin_head());
}

#[test]
fn a_target_with_a_typo_is_a_config_error_naming_the_key() {
    let mut kit = shop();
    kit.put(
        "promote.yaml",
        &CONFIG.replace(
            "image: ghcr.io/acme/cart}}]\n  - name: us",
            "imag: ghcr.io/acme/cart}}]\n  - name: us",
        ),
    );
    kit.commit("a typo");
    let r = run(&kit, &["status"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("promote.yaml")
            && r.stderr.contains("line 17")
            && r.stderr
                .contains("unknown field `imag`, expected one of file, field, image"),
        "{}",
        r.stderr
    );
    kit.put(
        "promote.yaml",
        &CONFIG.replace("tag: cart.image.tag}", "tag: cart.image.tagg}"),
    );
    kit.commit("a path to no field");
    let r = run(&kit, &["prod", "--from", "staging", "--dry-run"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("charts/shop/values-prod.yaml") && r.stderr.contains("cart.image.tagg"),
        "{}",
        r.stderr
    );
}

/// `init` proposes targets: a values file with image fields (its chart beside it, the
/// Application that deploys it) and an Application with a Helm image parameter; the written
/// file drives a promotion as it stands.
#[test]
fn init_proposes_helm_values_and_application_parameter_targets() {
    let mut kit = shop();
    kit.put(
        "argocd/prod-shop.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: prod-shop, namespace: argocd}\nspec:\n  source:\n    repoURL: https://git.example.com/shop.git\n    path: charts/shop\n    helm:\n      valueFiles: [values-prod.yaml]\n",
    );
    kit.commit("prod's Application");
    // `init` reads the local checkout: bring it up to the remote.
    kit.git(&["pull", "--quiet", "--ff-only"]);
    let r = run(&kit, &["init", "--force"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let text = std::fs::read_to_string(kit.clone.join("promote.yaml")).unwrap();
    assert!(
        text.contains("- name: staging\n    overlay: kustomize/staging\n    mode: direct\n"),
        "{text}"
    );
    assert!(
        text.contains("- name: prod\n    targets:\n      - helmValues:\n          file: charts/shop/values-prod.yaml\n          chart: charts/shop\n          images:\n            cart: {repository: cart.image.repository, tag: cart.image.tag}\n            redis: {repository: redis.image.repository, tag: redis.image.tag}\n    from: staging\n"),
        "{text}"
    );
    assert!(
        text.contains("argocd: {app: prod-shop, namespace: argocd}"),
        "{text}"
    );
    assert!(
        text.contains("- name: us-shop\n    targets: [{argocdHelm: {application: argocd/us-shop.yaml, parameter: cart.image.tag, image: ghcr.io/acme/cart}}]\n    from: prod\n"),
        "{text}"
    );
    // No Argo CD here: the promotion runs on the proposed targets without the Application links.
    let text = text
        .replace("    argocd: {app: prod-shop, namespace: argocd}\n", "")
        .replace("    argocd: {app: us-shop, namespace: argocd}\n", "");
    kit.put("promote.yaml", &text);
    kit.commit("the proposed config");
    // Staging runs no redis: the values file pins it, so `--from` names the image that moves.
    let dry = run(
        &kit,
        &["prod", "--from", "staging", "--only", "cart", "--dry-run"],
    );
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    assert!(dry.stdout.contains("v1.0.1"), "{}", dry.stdout);
}
