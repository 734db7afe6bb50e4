//! The release behind the tags through the real binary: images pushed to a real registry
//! (`crane registry serve`) with OCI source labels, the source's history on the fake GitHub
//! (its compare API), and a Rego policy (`--policy`) that reads `images[].source`: the plan,
//! `-o json`, the pull request and the policy all see the same range.

use std::process::{Command, Stdio};

use promote_core::source::{LABEL_REVISION, LABEL_SOURCE};
use promote_testkit::forge::{FakeForge, Vendor};
use promote_testkit::registry::Registry;
use promote_testkit::repo::GitOps;

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");
const TOKEN: &str = "ghp_release_test_token";

/// Denies a promotion whose range holds a commit marked `[skip-prod]`.
const SKIP_PROD: &str = r#"package promote
api := {"apiVersion": "policy.promote.kubectl.io/v1alpha1", "kind": "Decision"}
marked := [c.subject | some img in input.promotion.images; img.source != null; some c in img.source.commits; contains(c.subject, "[skip-prod]")]
decision := object.union(api, {"decision": "allow"}) if count(marked) == 0
else := object.union(api, {"decision": "deny", "reasons": [{"code": "SkipProd", "message": concat("", ["the range holds a commit marked [skip-prod]: ", marked[0]])}]})
"#;
const MANIFEST: &str = r#"{"roots": ["promote"], "metadata": {"kubectl-promote": {"name": "skip-prod", "version": "0.0.1", "abi": "promote.opa/v1", "operations": ["promote"]}}}"#;

fn run(kit: &GitOps, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .args(["--color", "never"])
        .current_dir(&kit.clone)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(kit.env())
        .env("FORGE_TOKEN", TOKEN)
        .env("KUBECTL_PROMOTE_NOW", "2026-11-24T10:00:00Z")
        .stdin(Stdio::null())
        .output()
        .expect("run kubectl-promote");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn the_plan_the_result_the_pull_request_and_a_policy_see_the_release_behind_the_tags() {
    let forge = FakeForge::start(Vendor::GitHub);
    forge
        .add_user("promoter", Some(TOKEN))
        .add_repo("acme/gitops")
        .add_repo("acme/shop");
    forge.add_commits(
        "acme/shop",
        &[
            ("1111111aaaa", "v1: first release"),
            ("2222222bbbb", "cart: retry payments\n\nwith backoff"),
            ("3333333cccc", "web: new footer"),
            ("4444444dddd", "debug endpoint [skip-prod]"),
        ],
    );
    // The web root of the fake: where `forge.url`'s API lives, as the client resolves it.
    let web = forge.api_url().trim_end_matches("/api/v3").to_owned();
    let source = format!("{web}/acme/shop");
    let reg = Registry::start();
    for (tag, rev) in [
        ("v1", "1111111aaaa"),
        ("v2", "3333333cccc"),
        ("v3", "4444444dddd"),
    ] {
        reg.push_labelled(
            "shop/app",
            tag,
            &[(LABEL_SOURCE, &source), (LABEL_REVISION, rev)],
        );
    }
    let config = format!(
        "apiVersion: promote.kubectl.io/v1alpha1
kind: PromotionConfig
git: {{remote: origin, baseBranch: main, mode: pr}}
forge: {{type: github, url: \"{}\", repo: acme/gitops, tokenEnv: FORGE_TOKEN}}
environments:
  - {{name: prod, overlay: prod}}
",
        forge.api_url()
    );
    let image = format!("{}/shop/app", reg.host());
    let mut kit = GitOps::new()
        .check_images()
        .file("promote.yaml", &config)
        .file("base/kustomization.yaml", "resources: [deploy.yaml]\n")
        .file(
            "base/deploy.yaml",
            &format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app}}\nspec:\n  selector: {{matchLabels: {{app: a}}}}\n  template:\n    metadata: {{labels: {{app: a}}}}\n    spec:\n      containers:\n      - {{name: main, image: {image}}}\n"),
        )
        .file(
            "prod/kustomization.yaml",
            &format!("resources: [../base]\nimages:\n- {{name: {image}, newTag: v1}}\n"),
        );
    kit.commit("the app at v1");
    let policy = promote_testkit::opa::build_files(
        &[("policy.rego", SKIP_PROD), (".manifest", MANIFEST)],
        &["promote/decision"],
    );
    let policy = policy.to_str().unwrap();

    // The plan: the range, its link and its commits.
    let (code, out, err) = run(&kit, &["prod", "v2", "--dry-run", "--policy", policy]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("release behind the tags:"), "{out}");
    assert!(
        out.contains(&format!("  {source} 1111111..3333333 (2 commits): {image}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{source}/compare/1111111aaaa...3333333cccc")),
        "{out}"
    );
    assert!(out.contains("2222222 cart: retry payments"), "{out}");

    // -o json: images[].source.
    let (code, json, err) = run(&kit, &["prod", "v2", "--dry-run", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let src = &doc["images"][0]["source"];
    assert_eq!(src["repo"], source.as_str(), "{doc}");
    assert_eq!(src["fromRevision"], "1111111aaaa");
    assert_eq!(src["toRevision"], "3333333cccc");
    assert_eq!(src["totalCommits"], 2);
    assert_eq!(src["commits"][1]["subject"], "web: new footer");

    // The policy sees the range: v3 brings a commit marked [skip-prod].
    let (code, out, err) = run(&kit, &["prod", "v3", "--dry-run", "--policy", policy]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("debug endpoint [skip-prod]"), "{out}");

    // The pull request shows the range with its link.
    let (code, out, err) = run(&kit, &["prod", "v2", "--yes", "--policy", policy]);
    assert_eq!(code, 0, "{out}{err}");
    let pr = &forge.pulls("acme/gitops")[0];
    assert!(
        pr.body.contains("**Release behind the tags:**"),
        "{}",
        pr.body
    );
    assert!(
        pr.body.contains(&format!(
            "[1111111..3333333]({source}/compare/1111111aaaa...3333333cccc), 2 commits"
        )),
        "{}",
        pr.body
    );
    assert!(
        pr.body.contains("- `2222222` `cart: retry payments`"),
        "{}",
        pr.body
    );
}

#[test]
fn an_image_without_labels_says_source_unknown_and_never_fails() {
    let reg = Registry::start();
    reg.push("shop/plain", "v1");
    reg.push("shop/plain", "v2");
    let image = format!("{}/shop/plain", reg.host());
    let mut kit = GitOps::new()
        .check_images()
        .file(
            "promote.yaml",
            "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\ngit: {mode: direct}\nenvironments:\n  - {name: prod, overlay: prod}\n",
        )
        .file("base/kustomization.yaml", "resources: [cm.yaml]\n")
        .file(
            "base/cm.yaml",
            &format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - {{name: main, image: {image}}}\n"),
        )
        .file(
            "prod/kustomization.yaml",
            &format!("resources: [../base]\nimages:\n- {{name: {image}, newTag: v1}}\n"),
        );
    kit.commit("plain");
    let (code, out, err) = run(&kit, &["prod", "v2", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("{image}: source unknown (no source label)")),
        "{out}"
    );
}
