//! Secrets never leave the auth headers (issue 7): representative commands, through success and
//! failure paths and with `-v`, each given the forge token, `ARGOCD_AUTH_TOKEN`, a kubeconfig
//! bearer token and an unrelated secret in the environment; then stdout, stderr, every commit
//! message on every ref of the origin (promotions and approval records), pull request bodies and
//! comments (the fake forge's captures, request bodies and URLs included) and the Applications in
//! the Argo CD stand-in are searched for each value. `pr.rs` checks the forge token on
//! the PR-mode success paths; this file adds Argo CD and kube tokens, wrong tokens (401s),
//! `-v`, commit messages and approval records.

use std::path::Path;

use promote_testkit::argocd::{ArgoCdStandIn, ArgoVersion, Options};
use promote_testkit::forge::{FakeForge, Vendor};
use promote_testkit::repo::{GitOps, Run, workspace_root};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");
const FORGE_TOKEN: &str = "tok-SECRETS-forge-0123456789abcdef";
const WRONG_FORGE_TOKEN: &str = "tok-SECRETS-wrong-forge-fedcba9876543210";
const WRONG_ARGOCD_TOKEN: &str = "argocd-SECRETS-wrong-0123456789";
/// In the environment of every run, named by nothing: `-v` must not dump the environment.
const UNRELATED: &str = "unrelated-SECRETS-value-5ecret";

struct Bed {
    kit: GitOps,
    argo: ArgoCdStandIn,
    forge: FakeForge,
    /// Every secret value the runs were given.
    secrets: Vec<String>,
    /// Every run so far, for the final search.
    runs: std::cell::RefCell<Vec<(String, Run)>>,
}

fn bed() -> Bed {
    let forge = FakeForge::start(Vendor::GitHub);
    forge
        .add_user("promoter", Some(FORGE_TOKEN))
        .add_user("pm-lead", None)
        .add_repo("acme/gitops");
    let config = format!(
        "apiVersion: promote.kubectl.io/v1alpha1
kind: PromotionConfig
git: {{remote: origin, baseBranch: main, mode: pr}}
forge: {{type: github, url: \"{}\", repo: acme/gitops, tokenEnv: FORGE_TOKEN}}
approvers:
  qa: [test@example.com, \"github:promoter\"]
environments:
  - name: staging
    overlay: kustomize/staging
    mode: direct
    argocd: {{app: staging-microservices-demo, namespace: argocd}}
  - name: prod
    overlay: kustomize/prod
    from: staging
    reviewers: [pm-lead]
    argocd: {{app: prod-microservices-demo, namespace: argocd}}
",
        forge.api_url()
    );
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    kit.put("promote.yaml", &config);
    kit.commit("config");
    let argo = ArgoCdStandIn::start(Options::new(ArgoVersion::V3_5));
    for name in ["staging-microservices-demo", "prod-microservices-demo"] {
        let file = workspace_root().join(format!("examples/gitops/argocd/{name}.yaml"));
        let text = std::fs::read_to_string(&file).unwrap();
        let mut doc: Value =
            promote_core::yaml::from_str(&file.display().to_string(), &text).unwrap();
        doc["spec"]["source"]["repoURL"] = json!(kit.origin.to_str().unwrap());
        doc["spec"]["syncPolicy"] = json!({});
        argo.create_application(doc);
    }
    let kubeconfig = std::fs::read_to_string(argo.kubeconfig_path()).unwrap();
    let kube_token = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .expect("the kubeconfig has a token")
        .to_owned();
    let secrets = vec![
        FORGE_TOKEN.into(),
        WRONG_FORGE_TOKEN.into(),
        WRONG_ARGOCD_TOKEN.into(),
        UNRELATED.into(),
        argo.argocd_token().to_owned(),
        kube_token,
    ];
    Bed {
        kit,
        argo,
        forge,
        secrets,
        runs: Default::default(),
    }
}

impl Bed {
    /// Run with the kubeconfig (or none), the given variables and the unrelated secret.
    fn run(&self, kubeconfig: Option<&Path>, vars: &[(&str, &str)], args: &[&str]) -> Run {
        let nowhere = self.kit.root().join("no-kubeconfig");
        let kubeconfig = kubeconfig.unwrap_or(&nowhere).to_str().unwrap().to_owned();
        let mut env = vec![
            ("KUBECONFIG", kubeconfig.as_str()),
            ("UNRELATED_SECRET", UNRELATED),
        ];
        env.extend_from_slice(vars);
        let r = self.kit.run_bin(BIN, &self.kit.clone, &env, args);
        self.runs.borrow_mut().push((
            format!("{args:?}"),
            Run {
                code: r.code,
                stdout: r.stdout.clone(),
                stderr: r.stderr.clone(),
            },
        ));
        r
    }

    fn assert_nothing_leaked(&self) {
        let mut places: Vec<(String, String)> = Vec::new();
        for (args, r) in self.runs.borrow().iter() {
            places.push((format!("stdout of {args}"), r.stdout.clone()));
            places.push((format!("stderr of {args}"), r.stderr.clone()));
        }
        let messages = self.kit.origin_git(&["log", "--all", "--format=%H%n%B"]);
        places.push(("commit messages on the origin".into(), messages));
        let refs = self
            .kit
            .origin_git(&["for-each-ref", "--format=%(refname)"]);
        places.push(("ref names on the origin".into(), refs));
        for pr in self.forge.pulls("acme/gitops") {
            places.push((
                format!("PR #{} title and body", pr.number),
                format!("{}\n{}", pr.title, pr.body),
            ));
            for c in &pr.comments {
                places.push((format!("a comment on PR #{}", pr.number), c.body.clone()));
            }
        }
        for req in self.forge.requests() {
            places.push((
                format!("forge request {}", req.path),
                format!("{}\n{}", req.path, req.raw_body),
            ));
        }
        for name in ["staging-microservices-demo", "prod-microservices-demo"] {
            places.push((
                format!("Application {name}"),
                self.argo.application(name).unwrap().to_string(),
            ));
        }
        places.push((
            "the Argo CD request log".into(),
            self.argo.request_log().join("\n"),
        ));
        for (place, text) in &places {
            for secret in &self.secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "a secret leaked into {place}:\n{text}"
                );
            }
        }
    }
}

#[test]
fn tokens_never_show_in_output_logs_errors_commits_or_pull_requests() {
    let bed = bed();
    let kube = Some(bed.argo.kubeconfig_path());
    let argocd_token = bed.argo.argocd_token().to_owned();
    let url = bed.argo.url();
    let forge = [("FORGE_TOKEN", FORGE_TOKEN)];
    let argo_rest = [
        ("ARGOCD_AUTH_TOKEN", argocd_token.as_str()),
        ("ARGOCD_SERVER", url.as_str()),
    ];

    // Success paths, verbose: a direct promotion through argocd-server, waited for; status and
    // history through the kube API; a QA approval as the forge account; a PR-mode promotion.
    let r = bed.run(
        None,
        &[argo_rest[0], argo_rest[1], forge[0]],
        &["staging", "v1.0.1", "--wait=60s", "-v"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for args in [
        &["status", "-v"][..],
        &["status", "-o", "json"],
        &["history", "staging", "-v"],
    ] {
        let r = bed.run(kube, &forge, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    let r = bed.run(
        kube,
        &forge,
        &[
            "approve", "staging", "v1.0.1", "--role", "qa", "-m", "tested", "-v",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = bed.run(kube, &forge, &["prod", "v1.0.1", "-v", "-o", "yaml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(bed.forge.pulls("acme/gitops").len(), 1, "the PR was opened");
    let r = bed.run(None, &argo_rest, &["sync", "prod", "--wait=60s", "-v"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Failure paths, verbose: wrong tokens get 401s, whose errors must not echo what was sent.
    let r = bed.run(
        None,
        &[("ARGOCD_AUTH_TOKEN", WRONG_ARGOCD_TOKEN), argo_rest[1]],
        &["sync", "staging", "-v"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("answered 401"), "{}", r.stderr);
    let r = bed.run(
        None,
        &[("ARGOCD_AUTH_TOKEN", WRONG_ARGOCD_TOKEN), argo_rest[1]],
        &["status", "staging", "-v"],
    );
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    let r = bed.run(
        kube,
        &[("FORGE_TOKEN", WRONG_FORGE_TOKEN)],
        &["prod", "v1.0.2", "-v"],
    );
    assert_eq!(
        r.code, 1,
        "a wrong forge token fails before anything is pushed: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("rejected the token in $FORGE_TOKEN"),
        "{}",
        r.stderr
    );
    let r = bed.run(
        kube,
        &[("FORGE_TOKEN", WRONG_FORGE_TOKEN)],
        &["approve", "staging", "v1.0.1", "--role", "qa", "-v"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("rejected the token in $FORGE_TOKEN"),
        "{}",
        r.stderr
    );
    // A refused promotion (not running upstream) and a rejected approval, with the good tokens.
    let r = bed.run(
        kube,
        &forge,
        &["approve", "staging", "v9.9.9", "--role", "qa", "-v"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r = bed.run(
        None,
        &[argo_rest[0], argo_rest[1], forge[0]],
        &["rollback", "staging", "--to", "v1.0.0", "--dry-run", "-v"],
    );
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);

    // The approval record is among the commit messages searched.
    assert!(
        bed.kit
            .origin_git(&["log", "-1", "--format=%B", "promote/approvals"])
            .contains("staging")
    );
    bed.assert_nothing_leaked();
    // The search found what it looks for: the forge saw the token in its auth header.
    assert!(
        bed.forge
            .requests()
            .iter()
            .any(|q| q.header("Authorization") == Some(format!("Bearer {FORGE_TOKEN}").as_str()))
    );
}
