//! PR mode and approvals through the real binary: real git (a bare origin in a temp dir), the real
//! `kubectl` for the render check, and the fake GitHub, GitLab and Gitea servers of the testkit
//! (`forge:` in promote.yaml points at them, since origin is a local path).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use promote_testkit::forge::{FakeForge, FakePrState, FakeReview, Vendor};
use promote_testkit::repo::{GitOps, workspace_root};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");
/// The promoter's token: it must never show up anywhere but in the auth header.
const TOKEN: &str = "tok-PROMOTER-5ecret-0123456789";
const QA_TOKEN: &str = "tok-QA-5ecret-9876543210";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn command(kit: &GitOps, args: &[&str], token: Option<&str>) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .arg("--color")
        .arg("never")
        .current_dir(&kit.clone)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(kit.env())
        .stdin(Stdio::null());
    if let Some(t) = token {
        cmd.env("FORGE_TOKEN", t);
    }
    cmd
}

fn run(kit: &GitOps, args: &[&str], token: Option<&str>) -> Run {
    let out = command(kit, args, token)
        .output()
        .expect("run kubectl-promote");
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    };
    for secret in [TOKEN, QA_TOKEN] {
        assert!(
            !r.stdout.contains(secret) && !r.stderr.contains(secret),
            "a token leaked into the output of {args:?}:\n{}\n{}",
            r.stdout,
            r.stderr
        );
    }
    r
}

fn kind(vendor: Vendor) -> &'static str {
    match vendor {
        Vendor::GitHub => "github",
        Vendor::GitLab => "gitlab",
        Vendor::Gitea => "gitea",
    }
}

/// A fake forge with the promoter, the PM lead (a reviewer) and a QA account, and the repo.
fn forge(vendor: Vendor) -> FakeForge {
    let f = FakeForge::start(vendor);
    f.add_user("promoter", Some(TOKEN))
        .add_user("pm-lead", None)
        .add_user("qa-bot", Some(QA_TOKEN))
        .add_repo("acme/gitops");
    f
}

/// The example GitOps repo with a config whose `forge:` points at the fake.
fn repo(forge: &FakeForge) -> GitOps {
    let k = kind(forge.vendor());
    let config = format!(
        "apiVersion: promote.kubectl.io/v1alpha1
kind: PromotionConfig
git: {{remote: origin, baseBranch: main, mode: pr}}
forge: {{type: {k}, url: \"{}\", repo: acme/gitops, tokenEnv: FORGE_TOKEN}}
approvers:
  qa: [qa@example.com, \"{k}:qa-bot\"]
  pm: [pm@example.com]
environments:
  - {{name: staging, overlay: kustomize/staging, mode: direct}}
  - {{name: prod, overlay: kustomize/prod, from: staging, reviewers: [pm-lead], labels: [release]}}
",
        forge.api_url()
    );
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    kit.put("promote.yaml", &config);
    kit.commit("config");
    kit
}

fn assert_no_token_in_the_forge(forge: &FakeForge) {
    for pr in forge.pulls("acme/gitops") {
        for text in std::iter::once(&pr.body)
            .chain(std::iter::once(&pr.title))
            .chain(pr.comments.iter().map(|c| &c.body))
        {
            assert!(
                !text.contains(TOKEN) && !text.contains(QA_TOKEN),
                "a token leaked into pull request #{}: {text}",
                pr.number
            );
        }
    }
    for req in forge.requests() {
        assert!(
            !req.raw_body.contains(TOKEN) && !req.path.contains(TOKEN),
            "a token leaked into a request body or URL: {}",
            req.line()
        );
    }
}

fn pr_mode_opens_reuses_and_supersedes(vendor: Vendor) {
    let forge = forge(vendor);
    let kit = repo(&forge);
    let r = run(&kit, &["prod", "v1.0.1", "-v"], Some(TOKEN));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("opened pull request #1 from promote/prod/v1.0.1"),
        "{}",
        r.stdout
    );

    let pulls = forge.pulls("acme/gitops");
    assert_eq!(pulls.len(), 1);
    let pr = &pulls[0];
    assert_eq!(
        (pr.head.as_str(), pr.base.as_str(), pr.title.as_str()),
        (
            "promote/prod/v1.0.1",
            "main",
            "Promote prod to v1.0.1 (from staging)"
        )
    );
    assert_eq!(pr.author, "promoter");
    for part in [
        "Promotes **prod** from `v1.0.0` to `v1.0.1` (from staging)",
        "| Image | From | To |",
        "| `registry.example.com/microservices-demo/frontend` | `v1.0.0` | `v1.0.1` |",
        "**Render check:** passed: `kubectl kustomize` built `kustomize/prod`",
        "**Policies:** none configured for this environment.",
        "**Approvals:** none required.",
        // The rendered diff: a line per object, the patches collapsed.
        "#### Rendered changes in `prod` (9 objects)",
        "- ✏️ `apps/Deployment microservices-demo-prod/frontend`: `spec.template.spec.containers[server].image`",
        "<details><summary>Patches</summary>",
        "+      - image: registry.example.com/microservices-demo/frontend:v1.0.1",
    ] {
        assert!(
            pr.body.contains(part),
            "missing `{part}` in the body:\n{}",
            pr.body
        );
    }
    let mut labels = pr.labels.clone();
    labels.sort();
    assert_eq!(labels, ["promote:prod", "release"]);
    assert_eq!(pr.requested_reviewers, ["pm-lead"]);
    // The branch holds the promotion commit; main is untouched.
    let file = kit.origin_git(&[
        "show",
        "promote/prod/v1.0.1:kustomize/prod/kustomization.yaml",
    ]);
    assert_eq!(file.matches("newTag: v1.0.1").count(), 9);
    assert!(
        kit.origin_file("kustomize/prod/kustomization.yaml")
            .unwrap()
            .contains("newTag: v1.0.0")
    );
    // The documented auth header form, on every request.
    let expected = match vendor {
        Vendor::GitHub => ("Authorization", format!("Bearer {TOKEN}")),
        Vendor::Gitea => ("Authorization", format!("token {TOKEN}")),
        Vendor::GitLab => ("PRIVATE-TOKEN", TOKEN.to_owned()),
    };
    assert!(
        forge
            .requests()
            .iter()
            .all(|q| q.header(expected.0) == Some(expected.1.as_str()))
    );

    // Opened as each vendor documents it.
    let (path, head_key, body_key) = match vendor {
        Vendor::GitHub => ("/api/v3/repos/acme/gitops/pulls", "head", "body"),
        Vendor::GitLab => (
            "/api/v4/projects/acme%2Fgitops/merge_requests",
            "source_branch",
            "description",
        ),
        Vendor::Gitea => ("/api/v1/repos/acme/gitops/pulls", "head", "body"),
    };
    let created = forge.requests_to("POST", path);
    assert_eq!(
        created.len(),
        1,
        "{:?}",
        forge
            .requests()
            .iter()
            .map(|q| q.line())
            .collect::<Vec<_>>()
    );
    assert_eq!(created[0].body[head_key], "promote/prod/v1.0.1");
    assert_eq!(created[0].body[body_key].as_str(), Some(pr.body.as_str()));

    // The same promotion again: the branch and the pull request are reused.
    let r = run(&kit, &["prod", "v1.0.1"], Some(TOKEN));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // Nothing differs: the pull request is reused as it is, not edited (testbed finding G6).
    assert!(r.stdout.contains("reused pull request #1"), "{}", r.stdout);
    assert_eq!(forge.pulls("acme/gitops").len(), 1);

    // Another version supersedes it.
    let r = run(&kit, &["prod", "v1.0.2", "-o", "json"], Some(TOKEN));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["result"], "pr-open");
    assert_eq!(doc["pullRequest"]["number"], 2);
    assert_eq!(doc["pullRequest"]["superseded"][0]["number"], 1);
    let pulls = forge.pulls("acme/gitops");
    assert_eq!(pulls[0].state, FakePrState::Closed);
    assert_eq!(pulls[1].state, FakePrState::Open);
    let reference = if vendor == Vendor::GitLab { "!2" } else { "#2" };
    assert!(
        pulls[0]
            .comments
            .iter()
            .any(|c| c.body.contains(&format!("Superseded by {reference}"))),
        "{:?}",
        pulls[0].comments
    );
    assert_no_token_in_the_forge(&forge);
}

#[test]
fn github_pull_requests() {
    pr_mode_opens_reuses_and_supersedes(Vendor::GitHub);
}

#[test]
fn gitlab_merge_requests() {
    pr_mode_opens_reuses_and_supersedes(Vendor::GitLab);
}

#[test]
fn gitea_pull_requests() {
    pr_mode_opens_reuses_and_supersedes(Vendor::Gitea);
}

#[test]
fn without_a_token_the_branch_is_pushed_and_the_compare_url_printed() {
    let forge = forge(Vendor::GitHub);
    let kit = repo(&forge);
    let r = run(&kit, &["prod", "v1.0.1"], None);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("pushed branch promote/prod/v1.0.1"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "open the pull request: {}/acme/gitops/compare/main...promote/prod/v1.0.1?expand=1",
            forge.web_url()
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("no token in $FORGE_TOKEN"),
        "{}",
        r.stderr
    );
    assert!(
        forge.requests().is_empty(),
        "nothing sent to the forge without a token"
    );
    assert!(
        !kit.origin_git(&["rev-parse", "promote/prod/v1.0.1"])
            .trim()
            .is_empty()
    );

    // --wait needs the forge: refused before anything is pushed.
    let r = run(&kit, &["prod", "v1.0.2", "--wait=1m"], None);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("--wait in PR mode waits for the merge on the forge")
            && r.stderr.contains("nothing was pushed"),
        "{}",
        r.stderr
    );
    assert!(
        kit.origin_git(&["for-each-ref", "refs/heads/promote/prod/v1.0.2"])
            .trim()
            .is_empty()
    );
}

/// Without a token the pull request's reviews cannot be read, so the approvals the policies
/// require are judged from the records alone: one missing is exit 4, as with a token (testbed
/// finding G3; the branch is still pushed for the pull request to be opened by hand).
#[test]
fn without_a_token_missing_approvals_still_exit_4() {
    let forge = forge(Vendor::GitHub);
    let mut kit = repo(&forge);
    let config = kit.origin_file("promote.yaml").unwrap().replace(
        "labels: [release]}",
        "labels: [release], policies: {promote: [{module: \"builtin:require-approval\", settings: {role: pm}}]}}",
    );
    kit.put("promote.yaml", &config);
    kit.commit("prod needs the PM");
    let r = run(&kit, &["prod", "v1.0.1"], None);
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("pushed branch promote/prod/v1.0.1")
            && r.stdout.contains("✗ pm on prod: 0 of 1")
            && r.stdout.contains("waiting for approvals"),
        "{}",
        r.stdout
    );
}

/// prod needs the PM (`builtin:require-approval {role: pm}`), whose `approvers` are `pm`.
fn repo_needing_the_pm(forge: &FakeForge, pm: &str) -> GitOps {
    let mut kit = repo(forge);
    let config = kit
        .origin_file("promote.yaml")
        .unwrap()
        .replace("pm: [pm@example.com]", &format!("pm: {pm}"))
        .replace(
            "labels: [release]}",
            "labels: [release], policies: {promote: [{module: \"builtin:require-approval\", settings: {role: pm}}]}}",
        );
    kit.put("promote.yaml", &config);
    kit.commit("prod needs the PM");
    kit
}

/// A trailer of the tip of prod's v1.0.1 branch on origin.
fn branch_trailer(kit: &GitOps, key: &str) -> String {
    let format = format!("--format=%(trailers:key={key},valueonly)");
    kit.origin_git(&["log", "-1", &format, "promote/prod/v1.0.1"])
        .trim()
        .to_owned()
}

/// One verdict per run, with the pull request's reviews read before the policies judge
/// (testbed finding G4): once the PM approved by review, the plan, the commit's trailers, the
/// body and the exit code all say so. A rerun that changes nothing edits nothing and says so
/// (G6); the policy table has no empty cell.
#[test]
fn a_review_counts_in_the_one_verdict_and_a_rerun_edits_only_what_differs() {
    let forge = forge(Vendor::GitHub);
    // pm-lead, the account that approves by review.
    let kit = repo_needing_the_pm(&forge, "[pm@example.com, \"github:pm-lead\"]");
    let tip = |kit: &GitOps, rev: &str| kit.origin_git(&["rev-parse", rev]).trim().to_owned();
    let r = run(&kit, &["prod", "v1.0.1"], Some(TOKEN));
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("opened pull request #1"), "{}", r.stdout);
    assert!(r.stdout.contains("✗ pm on prod: 0 of 1"), "{}", r.stdout);
    assert_eq!(branch_trailer(&kit, "Policy-Decision"), "require-approval");
    let first = tip(&kit, "promote/prod/v1.0.1");
    // The forge sees the pushed branch: reviews bind to this commit.
    forge.push_head("acme/gitops", 1, &first);
    let body = forge.pull("acme/gitops", 1).body;
    assert!(!body.contains("|  |"), "an empty cell: {body}");
    assert!(
        body.contains("| `builtin:require-approval` | require-approval | - |"),
        "{body}"
    );

    // The same promotion again, nothing approved: nothing to change, nothing edited.
    let seen = forge.requests().len();
    let r = run(&kit, &["prod", "v1.0.1"], Some(TOKEN));
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("reused pull request #1"), "{}", r.stdout);
    assert!(!r.stdout.contains("updated pull request"), "{}", r.stdout);
    assert!(
        !r.stderr.contains("opening the pull request"),
        "{}",
        r.stderr
    );
    let edits: Vec<String> = forge.requests()[seen..]
        .iter()
        .filter(|q| q.method == "PATCH")
        .map(|q| q.line())
        .collect();
    assert!(edits.is_empty(), "{edits:?}");
    assert_eq!(tip(&kit, "promote/prod/v1.0.1"), first);

    // The PM approves by review: one verdict, allow, everywhere.
    forge.add_review("acme/gitops", 1, "pm-lead", FakeReview::Approved);
    let r = run(&kit, &["prod", "v1.0.1"], Some(TOKEN));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("0 of 1"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("✓ pm on prod: 1 of 1 (github:pm-lead (pull request review))"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("updated pull request #1"), "{}", r.stdout);
    assert_eq!(branch_trailer(&kit, "Policy-Decision"), "allow");
    assert!(
        forge
            .pull("acme/gitops", 1)
            .body
            .contains("**Policy decision: allow**")
    );
    // The new tip only brings the trailers up to date: on top of the reviewed commit, same tree.
    let second = tip(&kit, "promote/prod/v1.0.1");
    assert_ne!(second, first);
    assert_eq!(tip(&kit, &format!("{second}^")), first);
    assert_eq!(
        tip(&kit, &format!("{second}^{{tree}}")),
        tip(&kit, &format!("{first}^{{tree}}"))
    );

    // The head moved past the reviewed commit without changing anything: the review holds, and
    // nothing flips back.
    forge.push_head("acme/gitops", 1, &second);
    let r = run(&kit, &["prod", "v1.0.1"], Some(TOKEN));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("reused pull request #1"), "{}", r.stdout);
    assert_eq!(tip(&kit, "promote/prod/v1.0.1"), second);
}

/// An approver listed by e-mail (`approvers.pm: [pm@example.com]`) counts through a review
/// by the account the forge shows with that e-mail: in the review's user (Gitea) or on the
/// account (GitHub, `GET /users/{login}`), never a placeholder address, and the approval says
/// where the e-mail came from (testbed finding G1).
fn an_approver_listed_by_email_counts_by_review(vendor: Vendor) {
    let forge = forge(vendor);
    let kit = repo_needing_the_pm(&forge, "[pm@example.com]");
    assert_eq!(run(&kit, &["prod", "v1.0.1"], Some(TOKEN)).code, 4);
    forge.add_review("acme/gitops", 1, "pm-lead", FakeReview::Approved);

    // The forge shows no e-mail for pm-lead (GitHub), or a placeholder (Gitea): not counted.
    let r = run(&kit, &["prod", "v1.0.1"], Some(TOKEN));
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("✗ pm on prod: 0 of 1"), "{}", r.stdout);

    forge.set_email("pm-lead", "PM@example.com");
    let r = run(&kit, &["prod", "v1.0.1"], Some(TOKEN));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let shown = match vendor {
        Vendor::GitHub => "GitHub",
        _ => "Gitea",
    };
    let approval = format!(
        "✓ pm on prod: 1 of 1 ({}:pm-lead <PM@example.com> (pull request review; e-mail as shown by {shown}))",
        kind(vendor)
    );
    assert!(r.stdout.contains(&approval), "{}", r.stdout);
    assert_eq!(branch_trailer(&kit, "Policy-Decision"), "allow");
}

#[test]
fn github_approver_listed_by_email_counts_by_review() {
    an_approver_listed_by_email_counts_by_review(Vendor::GitHub);
}

#[test]
fn gitea_approver_listed_by_email_counts_by_review() {
    an_approver_listed_by_email_counts_by_review(Vendor::Gitea);
}

/// Right after the first push into a new repository Gitea answers the pull-request listing
/// with 404 for a moment (testbed finding G7): the promotion asks again, briefly, rather than
/// report a missing repository.
#[test]
fn gitea_s_404_on_the_listing_of_a_new_repository_is_asked_again() {
    let forge = forge(Vendor::Gitea);
    let kit = repo(&forge);
    forge.pulls_not_found_for(2);
    let r = run(&kit, &["prod", "v1.0.1"], Some(TOKEN));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("opened pull request #1"), "{}", r.stdout);
    let listings = forge.requests_to("GET", "/api/v1/repos/acme/gitops/pulls");
    assert!(listings.len() >= 3, "{}", listings.len());

    // A repository that is not there is still reported, after those few seconds.
    let started = Instant::now();
    forge.pulls_not_found_for(1000);
    let r = run(&kit, &["prod", "v1.0.2"], Some(TOKEN));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("Gitea has no repository acme/gitops"),
        "{}",
        r.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// A reused branch gets the trailers this run would write: a `--config` run's `Policy-Config`
/// (testbed finding G6).
#[test]
fn a_reused_branch_gets_the_policy_config_trailer_of_a_config_run() {
    let forge = forge(Vendor::Gitea);
    let kit = repo(&forge);
    assert_eq!(run(&kit, &["prod", "v1.0.1"], Some(TOKEN)).code, 0);
    assert_eq!(branch_trailer(&kit, "Policy-Config"), "");
    let config = kit.root().join("other-promote.yaml");
    std::fs::write(&config, kit.origin_file("promote.yaml").unwrap()).unwrap();
    let config = config.to_string_lossy().into_owned();
    let r = run(&kit, &["--config", &config, "prod", "v1.0.1"], Some(TOKEN));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        branch_trailer(&kit, "Policy-Config").starts_with("--config "),
        "{}",
        kit.origin_git(&["log", "-1", "promote/prod/v1.0.1"])
    );
}

/// Runs `prod v1.0.1 --wait=…`, and plays the human on the forge once the PR is open.
fn wait_while(forge: &FakeForge, kit: &GitOps, human: impl FnOnce(&FakeForge, u64)) -> Run {
    let child = command(kit, &["prod", "v1.0.1", "--wait=2m"], Some(TOKEN))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while forge.pulls("acme/gitops").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the pull request was never opened"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    human(forge, 1);
    let out = child.wait_with_output().unwrap();
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    };
    assert!(!r.stdout.contains(TOKEN) && !r.stderr.contains(TOKEN));
    r
}

#[test]
fn wait_returns_when_the_pull_request_is_merged() {
    let forge = forge(Vendor::GitHub);
    let kit = repo(&forge);
    let r = wait_while(&forge, &kit, |f, n| f.merge("acme/gitops", n));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("waiting up to 2m for pull request #1 to be merged"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("merged pull request #1"), "{}", r.stdout);
}

#[test]
fn wait_exits_1_when_the_pull_request_is_closed_unmerged() {
    let forge = forge(Vendor::Gitea);
    let kit = repo(&forge);
    let r = wait_while(&forge, &kit, |f, n| f.close("acme/gitops", n));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(
            "pull request #1 was closed without being merged: the promotion did not land"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn approve_reject_revoke_and_status() {
    let forge = forge(Vendor::GitHub);
    let kit = repo(&forge);
    assert_eq!(run(&kit, &["staging", "v1.0.1"], None).code, 0);

    // test@example.com is nobody's approver: refused, nothing pushed.
    let r = run(&kit, &["approve", "staging", "v1.0.1"], None);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("may not record for role `qa`")
            && r.stderr.contains("add `test@example.com` to approvers.qa"),
        "{}",
        r.stderr
    );
    assert!(
        kit.origin_git(&["for-each-ref", "refs/heads/promote/approvals"])
            .trim()
            .is_empty()
    );

    // QA by git config: unverified.
    kit.git(&["config", "user.email", "qa@example.com"]);
    let r = run(
        &kit,
        &[
            "approve",
            "staging",
            "v1.0.1",
            "-m",
            "smoke tests green",
            "-o",
            "json",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["kind"], "ApprovalRecord");
    assert_eq!(doc["record"]["verdict"], "approved");
    assert_eq!(doc["record"]["by"]["verified"], false);
    assert_eq!(
        doc["record"]["images"]["registry.example.com/microservices-demo/frontend"]["tag"],
        "v1.0.1"
    );

    // QA through the forge account behind the token: the record claims the account (a reader
    // cannot ask the forge who wrote a commit, so without a signature it is not verified); a
    // later rejection wins.
    let r = run(
        &kit,
        &[
            "reject",
            "staging",
            "v1.0.1",
            "-m",
            "checkout returns 500",
            "-o",
            "json",
        ],
        Some(QA_TOKEN),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["record"]["by"]["verified"], false);
    assert_eq!(doc["record"]["by"]["account"], "github:qa-bot");

    let r = run(&kit, &["status", "staging", "-o", "json"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    let a = &doc["environments"][0]["approvals"][0];
    assert_eq!(
        (
            a["version"].as_str(),
            a["role"].as_str(),
            a["inForce"]["verdict"].as_str()
        ),
        (Some("v1.0.1"), Some("qa"), Some("rejected"))
    );
    assert_eq!(a["inForce"]["by"]["verified"], false);
    assert_eq!(a["inForce"]["by"]["account"], "github:qa-bot");
    assert_eq!(a["inForce"]["note"], "checkout returns 500");
    let r = run(&kit, &["status", "staging"], None);
    assert!(r.stdout.contains("v1.0.1 qa: rejected by qa-bot (fake) <qa-bot@users.noreply.github.com> github:qa-bot (not verified: the record commit is not signed) at "), "{}", r.stdout);
    assert!(r.stdout.contains(": checkout returns 500"), "{}", r.stdout);

    // Nothing to revoke while a rejection is in force; approve again, then revoke.
    let r = run(&kit, &["approve", "--revoke", "staging", "v1.0.1"], None);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("nothing to revoke"), "{}", r.stderr);
    assert_eq!(run(&kit, &["approve", "staging", "v1.0.1"], None).code, 0);
    let r = run(&kit, &["approve", "--revoke", "staging", "v1.0.1"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("revoked the approval of staging v1.0.1 as qa"),
        "{}",
        r.stdout
    );

    // Plain git log is the audit trail.
    let log = kit.origin_git(&["log", "--format=%s", "promote/approvals"]);
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            "revoke the qa approval of staging v1.0.1",
            "approve staging v1.0.1 as qa",
            "reject staging v1.0.1 as qa",
            "approve staging v1.0.1 as qa"
        ]
    );

    // A rejection needs a reason (usage: exit 2); a version staging does not run cannot be approved.
    assert_eq!(run(&kit, &["reject", "staging", "v1.0.2"], None).code, 2);
    let r = run(&kit, &["approve", "staging", "v1.0.2"], None);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("staging runs v1.0.1"), "{}", r.stderr);
    assert_no_token_in_the_forge(&forge);
}

#[test]
fn a_bad_token_fails_before_anything_is_pushed() {
    let forge = forge(Vendor::GitLab);
    let kit = repo(&forge);
    let wrong = "tok-WRONG-5ecret-000";
    let r = run(&kit, &["prod", "v1.0.1"], Some(wrong));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("rejected the token in $FORGE_TOKEN"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(wrong) && !r.stdout.contains(wrong));
    assert!(
        kit.origin_git(&["for-each-ref", "refs/heads/promote/"])
            .trim()
            .is_empty(),
        "no branch pushed"
    );
}

/// A promotion whose rendered diff passes the forge's body limit (65,536 characters): every
/// object keeps its summary line in the body, the patches that do not fit go into follow-up
/// comments, each within the limit and holding whole objects; a rerun that changes nothing
/// posts no comment again.
#[test]
fn a_rendered_diff_too_big_for_the_body_continues_in_comments() {
    let forge = forge(Vendor::GitHub);
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
    // 300 Deployments of one image: one tag changes 300 objects.
    let deployments: String = (0..300)
        .map(|i| {
            format!(
                "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{i:03}}}\nspec:\n  selector: {{matchLabels: {{app: a{i}}}}}\n  template:\n    metadata: {{labels: {{app: a{i}}}}}\n    spec:\n      containers:\n      - {{name: main, image: reg/app}}\n"
            )
        })
        .collect();
    let mut kit = GitOps::new()
        .file("promote.yaml", &config)
        .file("base/kustomization.yaml", "resources: [deploy.yaml]\n")
        .file("base/deploy.yaml", &deployments)
        .file(
            "prod/kustomization.yaml",
            "resources: [../base]\nimages:\n- {name: reg/app, newTag: v1}\n",
        );
    kit.commit("300 apps");
    let r = run(&kit, &["prod", "v2", "--yes"], Some(TOKEN));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("with the rendered diff's patches that did not fit"),
        "{}",
        r.stderr
    );
    let pr = &forge.pulls("acme/gitops")[0];
    assert!(pr.body.len() <= 65_536, "{}", pr.body.len());
    assert_eq!(pr.body.matches("- ✏️ `apps/Deployment app-").count(), 300);
    assert!(pr.body.contains("did not fit here: see the comments below"));
    let mut patches = pr.body.matches("**`apps/Deployment app-").count();
    assert!(!pr.comments.is_empty());
    for c in &pr.comments {
        assert!(c.body.len() <= 65_536, "{}", c.body.len());
        assert!(
            c.body
                .starts_with("#### Rendered changes in `prod` (continued")
        );
        assert_eq!(
            c.body.matches("```diff").count() * 2,
            c.body.matches("```").count()
        );
        patches += c.body.matches("**`apps/Deployment app-").count();
    }
    assert_eq!(patches, 300, "every object's patch once");

    // A rerun reuses the pull request unchanged: no second set of comments.
    let comments = pr.comments.len();
    let again = run(&kit, &["prod", "v2", "--yes"], Some(TOKEN));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(forge.pulls("acme/gitops")[0].comments.len(), comments);
}
