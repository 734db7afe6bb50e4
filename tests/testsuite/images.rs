//! The image check through the real binary against a real OCI registry (`crane registry serve`
//! on loopback): every `image:tag` a promotion or revert writes must exist before anything is
//! committed; `--pin-digests` writes exactly the registry's digests; `--skip-image-check` is
//! recorded. Registry authentication (which crane's registry lacks) runs against the testkit's
//! token stand-in, with credentials from a docker config and a credential helper.

use std::path::Path;

use promote_testkit::registry::{FAKE_TOKEN, Registry, TokenRegistry};
use promote_testkit::repo::{GitOps, Run, workspace_root};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");

fn examples_on(reg: &Registry, tags: &[&str]) -> GitOps {
    GitOps::from_dir_on(&workspace_root().join("examples/gitops"), reg, tags)
}

fn run(kit: &GitOps, args: &[&str]) -> Run {
    kit.run_bin(BIN, &kit.clone, &[], args)
}

fn services(kit: &GitOps) -> Vec<String> {
    let text = kit
        .origin_file("kustomize/staging/kustomization.yaml")
        .unwrap();
    text.lines()
        .filter_map(|l| l.split("microservices-demo/").nth(1))
        .map(|s| s.trim().to_owned())
        .collect()
}

#[test]
fn existing_tags_pass_and_the_check_is_recorded() {
    let reg = Registry::start();
    let kit = examples_on(&reg, &["v1.0.0", "v1.0.1"]);
    let names = services(&kit);
    assert_eq!(names.len(), 9, "{names:?}");
    let dry = run(&kit, &["staging", "v1.0.1", "--dry-run", "-o", "json"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let doc: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(doc["imageCheck"]["status"], "verified", "{doc}");
    assert_eq!(
        doc["imageCheck"]["registries"],
        serde_json::json!([reg.host()])
    );
    let images = doc["imageCheck"]["images"].as_array().unwrap();
    assert_eq!(images.len(), 9);
    for i in images {
        let reference = i["reference"].as_str().unwrap();
        let repo = reference
            .trim_start_matches(&format!("{}/", reg.host()))
            .trim_end_matches(":v1.0.1");
        assert_eq!(i["digest"], reg.digest(repo, "v1.0.1"), "{reference}");
        assert_eq!(i["pinned"], false);
    }
    let r = run(&kit, &["staging", "v1.0.1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "images: ok (verified 9 image references in {})",
            reg.host()
        )),
        "{}",
        r.stdout
    );
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.contains(&format!(
            "Image-Check: verified 9 image references in {}\n",
            reg.host()
        )),
        "{msg}"
    );
    // No digests were written: the overlay changes only its tags.
    assert!(
        !kit.origin_file("kustomize/staging/kustomization.yaml")
            .unwrap()
            .contains("digest: ")
    );
}

#[test]
fn an_unknown_tag_is_refused_before_anything_is_committed() {
    let reg = Registry::start();
    let kit = examples_on(&reg, &["v1.0.0", "v1.0.1"]);
    let before = (
        kit.origin_head(),
        kit.clone_state(),
        kit.git(&["count-objects", "-v"]),
    );
    let r = run(&kit, &["staging", "v1.0.11"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let host = reg.host();
    assert!(
        r.stderr.contains(&format!("{host}/microservices-demo/cartservice:v1.0.11 not found in {host} (HEAD /v2/microservices-demo/cartservice/manifests/v1.0.11 → 404)")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("9 image references not found")
            && r.stderr
                .contains("check the tags or use --skip-image-check"),
        "{}",
        r.stderr
    );
    assert_eq!(
        (
            kit.origin_head(),
            kit.clone_state(),
            kit.git(&["count-objects", "-v"])
        ),
        before,
        "remote and local repo untouched"
    );
    // One image only, one line: the message the issue asks for.
    let one = run(
        &kit,
        &["staging", "v1.0.11", "--only", "cartservice", "--dry-run"],
    );
    assert_eq!(one.code, 1);
    assert!(
        one.stderr.contains(&format!("{host}/microservices-demo/cartservice:v1.0.11 not found in {host} (HEAD /v2/microservices-demo/cartservice/manifests/v1.0.11 → 404); check the tag or use --skip-image-check")),
        "{}",
        one.stderr
    );
    // A tag that exists for some images only names exactly the missing ones.
    reg.push("microservices-demo/frontend", "v1.0.2");
    let partial = run(
        &kit,
        &["staging", "v1.0.2", "--only", "frontend,cartservice"],
    );
    assert_eq!(partial.code, 1);
    assert!(
        partial.stderr.contains("cartservice:v1.0.2 not found")
            && !partial.stderr.contains("frontend:v1.0.2 not found"),
        "{}",
        partial.stderr
    );
    assert_eq!(kit.origin_head(), before.0);
}

#[test]
fn pin_digests_writes_exactly_the_registrys_digests() {
    let reg = Registry::start();
    let mut kit = examples_on(&reg, &["v1.0.0", "v1.0.1"]);
    // No cluster here: without its app, protected prod does not ask Argo CD for a marker.
    kit.without_argocd();
    let r = run(&kit, &["staging", "v1.0.1", "--pin-digests"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = kit
        .origin_file("kustomize/staging/kustomization.yaml")
        .unwrap();
    for s in services(&kit) {
        let digest = reg.digest(&format!("microservices-demo/{s}"), "v1.0.1");
        let entry = format!(
            "- name: {}/microservices-demo/{s}\n  newTag: v1.0.1\n  digest: {digest}\n",
            reg.host()
        );
        assert!(text.contains(&entry), "{entry} in\n{text}");
    }
    // Byte-minimal: per image, the tag line changes and a digest line is inserted.
    let diff = kit.origin_git(&["diff", "--unified=0", "main~1", "main"]);
    let added = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .count();
    let removed = diff
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .count();
    assert_eq!((added, removed), (18, 9), "{diff}");
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(msg.contains("; pinned 9 digests"), "{msg}");
    // Prod from staging copies those digests, and checks them (and the tags) in the registry.
    let prod = run(
        &kit,
        &[
            "prod",
            "--from",
            "staging",
            "--direct",
            "--yes",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    let doc: serde_json::Value = serde_json::from_str(&prod.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", prod.stdout, prod.stderr));
    assert_eq!(
        doc["imageCheck"]["images"].as_array().unwrap().len(),
        18,
        "{doc}"
    );
    // A tag moved since: --pin-digests again pins what it names now.
    let moved = reg.push("microservices-demo/cartservice", "v1.0.1");
    let again = run(
        &kit,
        &[
            "staging",
            "v1.0.1",
            "--pin-digests",
            "--only",
            "cartservice",
        ],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        kit.origin_file("kustomize/staging/kustomization.yaml")
            .unwrap()
            .contains(&format!("digest: {moved}"))
    );
}

#[test]
fn skip_image_check_is_recorded_in_trailers_json_and_plan() {
    let reg = Registry::start();
    let kit = examples_on(&reg, &["v1.0.0"]);
    let dry = run(
        &kit,
        &["staging", "v9.9.9", "--skip-image-check", "--dry-run"],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout
            .contains("images: not checked (skipped by Test User <test@example.com>)"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("Image-Check: skipped by Test User <test@example.com>"),
        "{}",
        dry.stdout
    );
    let json = run(
        &kit,
        &[
            "staging",
            "v9.9.9",
            "--skip-image-check",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        doc["imageCheck"],
        serde_json::json!({"status": "skipped", "by": "Test User <test@example.com>"})
    );
    let r = run(&kit, &["staging", "v9.9.9", "--skip-image-check"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.contains("Image-Check: skipped by Test User <test@example.com>\n"),
        "{msg}"
    );
    // --pin-digests needs the registry: it cannot be combined with skipping.
    let both = run(
        &kit,
        &["staging", "v1.0.0", "--skip-image-check", "--pin-digests"],
    );
    assert_eq!(both.code, 2, "{}", both.stderr);
}

#[test]
fn a_revert_needs_the_target_images_to_still_exist() {
    let reg = Registry::start();
    let kit = examples_on(&reg, &["v1.0.0", "v1.0.1"]);
    assert_eq!(run(&kit, &["staging", "v1.0.1"]).code, 0);
    let ok = run(
        &kit,
        &["rollback", "staging", "--strategy", "revert", "--dry-run"],
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(
        ok.stdout
            .contains("images: ok (verified 9 image references"),
        "{}",
        ok.stdout
    );
    // Retention deleted the old cartservice: going back to it would break the env.
    reg.delete("microservices-demo/cartservice", "v1.0.0");
    let head = kit.origin_head();
    let r = run(
        &kit,
        &["rollback", "staging", "--strategy", "revert", "--direct"],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("microservices-demo/cartservice:v1.0.0 not found in"),
        "{}",
        r.stderr
    );
    assert_eq!(kit.origin_head(), head);
}

/// Whatever the strategy, a rollback's document is a `RollbackResult` (a revert's was a
/// `PromotionResult` before issue 13).
#[test]
fn a_revert_documents_itself_as_a_rollback() {
    let reg = Registry::start();
    let kit = examples_on(&reg, &["v1.0.0", "v1.0.1"]);
    assert_eq!(run(&kit, &["staging", "v1.0.1"]).code, 0);
    let r = run(
        &kit,
        &[
            "rollback",
            "staging",
            "--strategy",
            "revert",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["kind"], "RollbackResult", "{}", r.stdout);
    assert_eq!(doc["result"], "dry-run", "{}", r.stdout);
    assert_eq!(doc["environment"], "staging", "{}", r.stdout);
}

/// A registry behind Docker's token flow, credentials from a credential helper named by the
/// docker config's `credsStore`: the helper's secret reaches the token endpoint as Basic auth,
/// and never stdout, stderr (even with -v) or the commit.
#[test]
fn token_auth_with_a_credential_helper_and_no_secret_in_output() {
    const SECRET: &str = "hunter2-registry-pass";
    let digest = format!("sha256:{}", "c".repeat(64));
    let fake = TokenRegistry::start("robot", SECRET, &[("shop/cart", "v2", &digest)]);
    let kit = GitOps::new()
        .file("promote.yaml", "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\ngit: {mode: direct}\nenvironments:\n  - {name: staging, overlay: staging}\n")
        .file("base/kustomization.yaml", "resources: [deploy.yaml]\n")
        .file("base/deploy.yaml", &format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: shop}}\nspec:\n  selector: {{matchLabels: {{app: shop}}}}\n  template:\n    metadata: {{labels: {{app: shop}}}}\n    spec:\n      containers:\n      - {{name: cart, image: {}/shop/cart}}\n", fake.host))
        .file("staging/kustomization.yaml", &format!("resources: [../base]\nimages:\n- name: {}/shop/cart\n  newTag: v1\n", fake.host))
        .check_images();
    let mut kit = kit;
    kit.commit("seed");
    // A fake `docker-credential-test` on PATH, and a docker config that names it.
    let bin = kit.root().join("helpers");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-test");
    let log = kit.root().join("helper.log");
    std::fs::write(&helper, format!("#!/bin/sh\nread server\necho \"$1 $server\" >> {}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"robot\",\"Secret\":\"{SECRET}\"}}' \"$server\"\n", log.display())).unwrap();
    make_executable(&helper);
    std::fs::create_dir_all(kit.home.join(".docker")).unwrap();
    std::fs::write(
        kit.home.join(".docker/config.json"),
        "{\"credsStore\": \"test\"}",
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env: [(&str, &str); 1] = [("PATH", &path)];

    let r = kit.run_bin(BIN, &kit.clone, &env, &["staging", "v2", "-v"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().trim(),
        format!("get {}", fake.host),
        "the helper is asked once, for the registry"
    );
    let seen = fake.seen.lock().unwrap().requests.clone();
    assert!(
        seen.iter().any(|s| s.starts_with("GET /token?")
            && s.contains("scope=repository")
            && s.contains("service=fake-registry")
            && s.ends_with("Basic cm9ib3Q6aHVudGVyMi1yZWdpc3RyeS1wYXNz")),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|s| s == &format!("HEAD /v2/shop/cart/manifests/v2 Bearer {FAKE_TOKEN}")),
        "{seen:#?}"
    );
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.contains(&format!(
            "Image-Check: verified 1 image reference in {}",
            fake.host
        )),
        "{msg}"
    );
    let json = kit.run_bin(
        BIN,
        &kit.clone,
        &env,
        &["staging", "v3", "-v", "--dry-run", "-o", "json"],
    );
    assert_eq!(json.code, 1, "v3 does not exist: {}", json.stderr);
    assert!(
        json.stderr.contains("shop/cart:v3 not found"),
        "{}",
        json.stderr
    );
    // A wrong password is named as such, without the password.
    std::fs::write(
        &helper,
        "#!/bin/sh\nprintf '{\"Username\":\"robot\",\"Secret\":\"wrong-pass-771\"}'\n",
    )
    .unwrap();
    let denied = kit.run_bin(
        BIN,
        &kit.clone,
        &env,
        &["staging", "v4", "--only", "cart", "-v", "--dry-run"],
    );
    assert_eq!(denied.code, 1);
    assert!(
        denied
            .stderr
            .contains("refused access to shop/cart (HTTP 401"),
        "{}",
        denied.stderr
    );
    for out in [
        &r.stdout,
        &r.stderr,
        &json.stdout,
        &json.stderr,
        &denied.stdout,
        &denied.stderr,
        &msg,
    ] {
        for secret in [
            SECRET,
            FAKE_TOKEN,
            "wrong-pass-771",
            "cm9ib3Q6aHVudGVyMi1yZWdpc3RyeS1wYXNz",
        ] {
            assert!(!out.contains(secret), "a secret leaked: {out}");
        }
    }
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}
