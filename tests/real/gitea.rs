//! The pull-request story against the real Gitea 1.27 (`scripts/real-forge.sh`): open, reuse,
//! supersede, the `promote:prod` label, the requested reviewer, a PM's approving review counted
//! for `gitea:pm`, `--wait` through a merge commit and through a squash, and the compare URL
//! without a token. Then the known bugs G1–G6 (docs/testbed-findings.md), ignored until fixed.

use crate::support::gitea::{Approval, GiteaBed};

fn labels(pr: &serde_json::Value) -> Vec<String> {
    let mut l: Vec<String> = pr["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["name"].as_str().map(str::to_owned))
        .collect();
    l.sort();
    l
}

fn reviewers(pr: &serde_json::Value) -> Vec<String> {
    pr["requested_reviewers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["login"].as_str().map(str::to_owned))
        .collect()
}

#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn pull_requests_open_reuse_supersede_approve_and_merge() {
    let bed = GiteaBed::new("prs", Approval::PmByAccount);

    // Opened, labelled, pm asked to review; the approval is missing: exit 4.
    let r = bed.run(&["prod", "v1.0.1"]).expect(4);
    assert!(
        r.stdout
            .contains("opened pull request #1 from promote/prod/v1.0.1"),
        "{r}"
    );
    let pr = bed.pull(1);
    assert_eq!(pr["state"], "open");
    assert_eq!(pr["head"]["ref"], "promote/prod/v1.0.1");
    assert_eq!(pr["base"]["ref"], "main");
    assert_eq!(pr["title"], "Promote prod to v1.0.1 (from staging)");
    assert_eq!(pr["user"]["login"], "promoter");
    assert_eq!(labels(&pr), ["promote:prod", "release"]);
    assert_eq!(reviewers(&pr), ["pm"]);
    bed.assert_no_token(pr["body"].as_str().unwrap());
    assert!(
        bed.main_file("kustomize/prod/kustomization.yaml")
            .contains("newTag: v1.0.0")
    );

    // The same promotion again: the same pull request.
    bed.run(&["prod", "v1.0.1"]).expect(4);
    assert_eq!(bed.pulls().len(), 1);
    assert_eq!(bed.pull(1)["state"], "open");

    // Another version supersedes it: #1 closed with a comment, #2 open.
    bed.run(&["prod", "v1.0.2"]).expect(4);
    let prs = bed.pulls();
    assert_eq!(prs.len(), 2, "{prs:?}");
    assert_eq!(prs[0]["state"], "closed");
    assert_eq!(prs[0]["merged"], false);
    assert_eq!(prs[1]["state"], "open");
    assert_eq!(prs[1]["head"]["ref"], "promote/prod/v1.0.2");
    let comments = bed.comments(1);
    assert!(
        comments.iter().any(|c| c["body"]
            .as_str()
            .unwrap_or("")
            .contains("Superseded by #2")),
        "{comments:?}"
    );

    // pm approves with a review on Gitea: counted for `gitea:pm`; --wait returns once pm merges
    // (a merge commit).
    bed.pm_approves(2);
    let waiting = bed.start_waiting(&["prod", "v1.0.2", "--wait=2m"]);
    bed.pm_merges(2, "merge");
    let r = waiting.finish().expect(0);
    assert!(r.stdout.contains("merged pull request #2"), "{r}");
    assert!(
        r.stdout.contains("gitea:pm"),
        "the approval names the account: {r}"
    );
    assert!(
        bed.main_file("kustomize/prod/kustomization.yaml")
            .contains("newTag: v1.0.2")
    );
    let parents = bed.git_log(&["-1", "--format=%P", "origin/main"]);
    assert_eq!(parents.split_whitespace().count(), 2, "a merge commit");

    // Through a squash this time.
    bed.run(&["prod", "v1.0.4"]).expect(4);
    let n = bed.pulls().last().unwrap()["number"].as_u64().unwrap();
    bed.pm_approves(n);
    let waiting = bed.start_waiting(&["prod", "v1.0.4", "--wait=2m"]);
    bed.pm_merges(n, "squash");
    let r = waiting.finish().expect(0);
    assert!(
        r.stdout.contains(&format!("merged pull request #{n}")),
        "{r}"
    );
    assert!(
        bed.main_file("kustomize/prod/kustomization.yaml")
            .contains("newTag: v1.0.4")
    );
    let parents = bed.git_log(&["-1", "--format=%P", "origin/main"]);
    assert_eq!(parents.split_whitespace().count(), 1, "a squash");
    for pr in bed.pulls() {
        bed.assert_no_token(pr["body"].as_str().unwrap_or(""));
    }
}

#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn without_a_token_the_branch_is_pushed_and_the_compare_url_opens() {
    let bed = GiteaBed::new("compare", Approval::None);
    let r = bed.run_token(&["prod", "v1.0.1"], false).expect(0);
    assert!(
        r.stdout.contains("pushed branch promote/prod/v1.0.1"),
        "{r}"
    );
    let url = format!(
        "{}/{}/compare/main...promote/prod/v1.0.1",
        bed.forge.var("GITEA_URL"),
        bed.repo
    );
    assert!(r.stdout.contains(&url), "{r}");
    // Nothing opened without a token. (Gitea answers 404 to listing the pulls of a repository
    // that has none, so ask for #1.)
    let (code, _) = bed.api("GET", &format!("/repos/{}/pulls/1", bed.repo), bed.admin(), None);
    assert_eq!(code, 404, "no pull request #1");
    // The printed URL opens on the real Gitea, anonymously.
    let printed = r
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with(&url))
        .unwrap()
        .to_owned();
    let out = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", &printed])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "GET {printed}");
    let branch = bed.git_log(&["-1", "--format=%H", "origin/promote/prod/v1.0.1"]);
    assert!(!branch.trim().is_empty());
}
