//! The HTTP forge client against the fake GitHub, GitLab and Gitea servers of `promote-testkit`,
//! which answer as the vendors document: paths, auth header forms, JSON bodies, status codes.
//! The use case over it (open, reuse, supersede a promotion's pull request) is tested where it
//! lives: `promote/tests/promote/pull_requests.rs`.

use std::collections::BTreeMap;

use promote_core::forge::{
    Forge, ForgeError, PrEdit, PrQuery, PrResolution, PrState, ReviewState, RoleApproval, Token,
    role_approvals, supersede_comment,
};
use promote_http::{HttpForge, wait_for_merge};
use promote_testkit::forge::{
    FakeForge, FakePrState, FakeReview, Recorded, Vendor, new_pull_request,
};
use serde_json::json;

const TOKEN: &str = "tok_SECRET_0123456789";
const TOKEN_ENV: &str = "PROMOTE_TEST_TOKEN";

/// A fake with the promoter (behind `TOKEN`), two reviewers and the repository.
fn fake(vendor: Vendor) -> FakeForge {
    let fake = FakeForge::start(vendor);
    fake.add_user("promoter", Some(TOKEN))
        .add_user("pm-lead", None)
        .add_user("qa-alice", None);
    fake.add_team("acme/qa-team");
    fake.add_repo(vendor.test_repo());
    fake
}

fn client_for(fake: &FakeForge, repo: &str, token: &str) -> HttpForge {
    HttpForge::new(fake.target(repo, TOKEN_ENV), Token::new(token).unwrap()).unwrap()
}

fn client(fake: &FakeForge) -> HttpForge {
    client_for(fake, fake.vendor().test_repo(), TOKEN)
}

/// The API path prefix of the repository, as each vendor documents it.
fn repo_path(vendor: Vendor) -> &'static str {
    match vendor {
        Vendor::GitHub => "/api/v3/repos/acme/gitops",
        Vendor::GitLab => "/api/v4/projects/group%2Fsub%2Fgitops",
        Vendor::Gitea => "/api/v1/repos/acme/gitops",
    }
}

fn only(requests: Vec<Recorded>, what: &str) -> Recorded {
    assert_eq!(
        requests.len(),
        1,
        "expected exactly one {what}, got {:#?}",
        requests
    );
    requests.into_iter().next().unwrap()
}

fn assert_no_token_anywhere(fake: &FakeForge, err: Option<&ForgeError>) {
    for r in fake.requests() {
        assert!(
            !r.raw_body.contains(TOKEN),
            "token in the body of {}",
            r.line()
        );
        assert!(
            !r.path.contains(TOKEN) && r.query.iter().all(|(_, v)| !v.contains(TOKEN)),
            "token in {}",
            r.line()
        );
    }
    if let Some(err) = err {
        assert!(!err.to_string().contains(TOKEN), "token in {err}");
        assert!(!format!("{err:?}").contains(TOKEN), "token in {err:?}");
    }
}

#[test]
fn whoami_names_the_account_behind_the_token() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        let me = client(&fake).whoami().unwrap();
        assert_eq!(me.login, "promoter", "{vendor:?}");
        assert!(me.id.is_some(), "{vendor:?}");
    }
}

#[test]
fn each_vendor_gets_its_documented_auth_header() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        client(&fake).whoami().unwrap();
        let prefix = fake
            .api_url()
            .trim_start_matches(&fake.web_url())
            .to_owned();
        let r = only(
            fake.requests_to("GET", &format!("{prefix}/user")),
            "GET /user",
        );
        match vendor {
            Vendor::GitHub => {
                assert_eq!(
                    r.header("Authorization"),
                    Some(format!("Bearer {TOKEN}").as_str())
                );
                assert_eq!(r.header("Accept"), Some("application/vnd.github+json"));
                assert_eq!(r.header("X-GitHub-Api-Version"), Some("2022-11-28"));
            }
            Vendor::GitLab => {
                assert_eq!(r.header("PRIVATE-TOKEN"), Some(TOKEN));
                assert_eq!(r.header("Authorization"), None);
            }
            Vendor::Gitea => assert_eq!(
                r.header("Authorization"),
                Some(format!("token {TOKEN}").as_str())
            ),
        }
        assert!(
            r.header("User-Agent")
                .is_some_and(|ua| ua.starts_with("kubectl-promote/")),
            "{vendor:?}"
        );
    }
}

#[test]
fn create_posts_the_documented_body_and_gets_201() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        let pr = client(&fake)
            .create(&new_pull_request("promote/prod/v1.0.1"))
            .unwrap();
        assert_eq!(
            (pr.number, pr.state, pr.head.as_str(), pr.base.as_str()),
            (1, PrState::Open, "promote/prod/v1.0.1", "main")
        );
        assert_eq!(pr.author.as_deref(), Some("promoter"));
        let (path, expected) = match vendor {
            Vendor::GitHub => (
                "/pulls",
                json!({"title": "Promote prod to v1.0.1", "head": "promote/prod/v1.0.1", "base": "main", "body": new_pull_request("promote/prod/v1.0.1").body}),
            ),
            Vendor::GitLab => (
                "/merge_requests",
                json!({"source_branch": "promote/prod/v1.0.1", "target_branch": "main", "title": "Promote prod to v1.0.1", "description": new_pull_request("promote/prod/v1.0.1").body}),
            ),
            Vendor::Gitea => (
                "/pulls",
                json!({"head": "promote/prod/v1.0.1", "base": "main", "title": "Promote prod to v1.0.1", "body": new_pull_request("promote/prod/v1.0.1").body}),
            ),
        };
        let r = only(
            fake.requests_to("POST", &format!("{}{path}", repo_path(vendor))),
            "create",
        );
        assert_eq!(r.body, expected, "{vendor:?}");
        assert_eq!(
            r.header("Content-Type"),
            Some("application/json"),
            "{vendor:?}"
        );
        let url_part = match vendor {
            Vendor::GitHub => "/acme/gitops/pull/1",
            Vendor::GitLab => "/group/sub/gitops/-/merge_requests/1",
            Vendor::Gitea => "/acme/gitops/pulls/1",
        };
        assert!(pr.url.ends_with(url_part), "{vendor:?}: {}", pr.url);
    }
}

#[test]
fn a_duplicate_create_is_already_exists() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        let forge = client(&fake);
        forge
            .create(&new_pull_request("promote/prod/v1.0.1"))
            .unwrap();
        let err = forge
            .create(&new_pull_request("promote/prod/v1.0.1"))
            .unwrap_err();
        assert!(
            matches!(&err, ForgeError::AlreadyExists { head, base, .. } if head == "promote/prod/v1.0.1" && base == "main"),
            "{vendor:?}: {err:?}"
        );
        assert_eq!(fake.pulls(vendor.test_repo()).len(), 1, "{vendor:?}");
        assert!(err.to_string().contains("already has an open"), "{err}");
    }
}

#[test]
fn close_comments_then_closes_with_each_vendors_request() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        let forge = client(&fake);
        forge.create(&new_pull_request("promote/prod/v1")).unwrap();
        forge.close_with_comment(1, "Superseded by #2").unwrap();
        let base = repo_path(vendor);
        let (comment, close) = match vendor {
            Vendor::GitHub => (
                only(
                    fake.requests_to("POST", &format!("{base}/issues/1/comments")),
                    "comment",
                ),
                only(
                    fake.requests_to("PATCH", &format!("{base}/pulls/1")),
                    "close",
                ),
            ),
            Vendor::GitLab => (
                only(
                    fake.requests_to("POST", &format!("{base}/merge_requests/1/notes")),
                    "note",
                ),
                only(
                    fake.requests_to("PUT", &format!("{base}/merge_requests/1")),
                    "close",
                ),
            ),
            Vendor::Gitea => (
                only(
                    fake.requests_to("POST", &format!("{base}/issues/1/comments")),
                    "comment",
                ),
                only(
                    fake.requests_to("PATCH", &format!("{base}/pulls/1")),
                    "close",
                ),
            ),
        };
        assert_eq!(
            comment.body,
            json!({"body": "Superseded by #2"}),
            "{vendor:?}"
        );
        let expected_close = match vendor {
            Vendor::GitLab => json!({"state_event": "close"}),
            Vendor::GitHub | Vendor::Gitea => json!({"state": "closed"}),
        };
        assert_eq!(close.body, expected_close, "{vendor:?}");
        assert_eq!(fake.pull(vendor.test_repo(), 1).state, FakePrState::Closed);
    }
}

#[test]
fn update_changes_title_and_body() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        let forge = client(&fake);
        forge.create(&new_pull_request("promote/prod/v1")).unwrap();
        let edit = PrEdit {
            title: Some("New title".into()),
            body: Some("New body".into()),
        };
        let pr = forge.update(1, &edit).unwrap();
        assert_eq!(
            (pr.title.as_str(), pr.body.as_str()),
            ("New title", "New body"),
            "{vendor:?}"
        );
        let held = fake.pull(vendor.test_repo(), 1);
        assert_eq!(
            (held.title.as_str(), held.body.as_str()),
            ("New title", "New body")
        );
    }
}

#[test]
fn github_reviewers_and_labels_requests() {
    let fake = fake(Vendor::GitHub);
    let forge = client(&fake);
    forge.create(&new_pull_request("promote/prod/v1")).unwrap();
    forge
        .request_reviewers(1, &["github:pm-lead".into(), "acme/qa-team".into()])
        .unwrap();
    forge
        .add_labels(1, &["promote:prod".into(), "release".into()])
        .unwrap();
    let base = repo_path(Vendor::GitHub);
    let r = only(
        fake.requests_to("POST", &format!("{base}/pulls/1/requested_reviewers")),
        "reviewers",
    );
    assert_eq!(
        r.body,
        json!({"reviewers": ["pm-lead"], "team_reviewers": ["qa-team"]})
    );
    let r = only(
        fake.requests_to("POST", &format!("{base}/issues/1/labels")),
        "labels",
    );
    assert_eq!(r.body, json!({"labels": ["promote:prod", "release"]}));
    let held = fake.pull("acme/gitops", 1);
    assert_eq!(held.requested_teams, ["qa-team"]);
    // GitHub refuses reviews from strangers with 422; the error carries its words.
    let err = forge
        .request_reviewers(1, &["stranger".into()])
        .unwrap_err();
    assert!(
        matches!(&err, ForgeError::Rejected { status: 422, message, .. } if message.contains("collaborator")),
        "{err:?}"
    );
}

#[test]
fn gitlab_reviewers_are_user_ids_and_labels_a_comma_list() {
    let fake = fake(Vendor::GitLab);
    let forge = client(&fake);
    forge.create(&new_pull_request("promote/prod/v1")).unwrap();
    forge.request_reviewers(1, &["pm-lead".into()]).unwrap();
    forge
        .request_reviewers(1, &["gitlab:qa-alice".into()])
        .unwrap();
    forge
        .add_labels(1, &["promote:prod".into(), "release".into()])
        .unwrap();
    let lookups: Vec<_> = fake
        .requests_to("GET", "/api/v4/users")
        .iter()
        .map(|r| r.query_value("username").unwrap_or("").to_owned())
        .collect();
    assert_eq!(lookups, ["pm-lead", "qa-alice"]);
    let puts = fake.requests_to(
        "PUT",
        &format!("{}/merge_requests/1", repo_path(Vendor::GitLab)),
    );
    let bodies: Vec<_> = puts.iter().map(|r| r.body.clone()).collect();
    let pm = bodies[0]["reviewer_ids"].as_array().unwrap().clone();
    assert_eq!(pm.len(), 1);
    // The second request keeps the first reviewer: reviewer_ids replaces the set.
    assert_eq!(bodies[1]["reviewer_ids"].as_array().unwrap().len(), 2);
    assert_eq!(bodies[2], json!({"add_labels": "promote:prod,release"}));
    assert_eq!(
        fake.pull("group/sub/gitops", 1).requested_reviewers,
        ["pm-lead", "qa-alice"]
    );
    let err = forge.request_reviewers(1, &["nobody".into()]).unwrap_err();
    assert!(
        matches!(&err, ForgeError::UnknownUser { login, .. } if login == "nobody"),
        "{err:?}"
    );
    let err = forge
        .request_reviewers(1, &["acme/qa-team".into()])
        .unwrap_err();
    assert!(
        matches!(err, ForgeError::TeamReviewersUnsupported { .. }),
        "{err:?}"
    );
}

#[test]
fn gitea_labels_are_added_by_id_and_created_when_missing() {
    let fake = fake(Vendor::Gitea);
    fake.add_label("acme/gitops", "release");
    let forge = client(&fake);
    forge.create(&new_pull_request("promote/prod/v1")).unwrap();
    forge
        .add_labels(1, &["promote:prod".into(), "release".into()])
        .unwrap();
    let base = repo_path(Vendor::Gitea);
    let created = only(
        fake.requests_to("POST", &format!("{base}/labels")),
        "label creation",
    );
    assert_eq!(created.body["name"], "promote:prod");
    assert_eq!(created.body["color"], "#ededed");
    let add = only(
        fake.requests_to("POST", &format!("{base}/issues/1/labels")),
        "labels",
    );
    assert!(
        add.body["labels"]
            .as_array()
            .unwrap()
            .iter()
            .all(serde_json::Value::is_u64),
        "{}",
        add.body
    );
    let mut labels = fake.pull("acme/gitops", 1).labels;
    labels.sort();
    assert_eq!(labels, ["promote:prod", "release"]);
    forge
        .request_reviewers(1, &["pm-lead".into(), "acme/qa-team".into()])
        .unwrap();
    let r = only(
        fake.requests_to("POST", &format!("{base}/pulls/1/requested_reviewers")),
        "reviewers",
    );
    assert_eq!(
        r.body,
        json!({"reviewers": ["pm-lead"], "team_reviewers": ["qa-team"]})
    );
}

#[test]
fn reviews_are_read_back_and_count_for_roles() {
    let approvers = BTreeMap::from([
        ("pm".to_owned(), vec!["pm-lead".to_owned()]),
        ("qa".to_owned(), vec!["qa-alice".to_owned()]),
    ]);
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        let forge = client(&fake);
        let pr = forge.create(&new_pull_request("promote/prod/v1")).unwrap();
        let repo = vendor.test_repo();
        fake.add_review(repo, 1, "qa-alice", FakeReview::Approved);
        fake.add_review(repo, 1, "qa-alice", FakeReview::ChangesRequested);
        fake.add_review(repo, 1, "pm-lead", FakeReview::Commented);
        fake.add_review(repo, 1, "pm-lead", FakeReview::Approved);
        fake.add_review(repo, 1, "promoter", FakeReview::Approved);
        let reviews = forge.reviews(1).unwrap();
        let got = role_approvals(vendor.kind(), &reviews, pr.head_sha.as_deref(), &approvers);
        assert_eq!(
            got,
            [RoleApproval {
                role: "pm".into(),
                login: "pm-lead".into(),
                email: None,
            }],
            "{vendor:?}: {reviews:?}"
        );
        if vendor != Vendor::GitLab {
            let states: Vec<_> = reviews.iter().map(|r| r.state).collect();
            assert_eq!(
                states,
                [
                    ReviewState::Approved,
                    ReviewState::ChangesRequested,
                    ReviewState::Commented,
                    ReviewState::Approved,
                    ReviewState::Approved
                ],
                "{vendor:?}"
            );
        }
    }
}

#[test]
fn an_approval_before_a_push_does_not_count_where_the_forge_says_which_commit() {
    let approvers = BTreeMap::from([("pm".to_owned(), vec!["pm-lead".to_owned()])]);
    for vendor in [Vendor::GitHub, Vendor::Gitea] {
        let fake = fake(vendor);
        let forge = client(&fake);
        forge.create(&new_pull_request("promote/prod/v1")).unwrap();
        fake.add_review(vendor.test_repo(), 1, "pm-lead", FakeReview::Approved);
        fake.push_head(vendor.test_repo(), 1, &"a".repeat(40));
        let pr = forge.get(1).unwrap();
        let got = role_approvals(
            vendor.kind(),
            &forge.reviews(1).unwrap(),
            pr.head_sha.as_deref(),
            &approvers,
        );
        assert!(got.is_empty(), "{vendor:?}: {got:?}");
    }
}

#[test]
fn get_tells_merged_from_closed_unmerged() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        let forge = client(&fake);
        forge.create(&new_pull_request("promote/prod/v1")).unwrap();
        forge.create(&new_pull_request("promote/prod/v2")).unwrap();
        assert_eq!(forge.get(1).unwrap().state, PrState::Open, "{vendor:?}");
        fake.merge(vendor.test_repo(), 1);
        fake.close(vendor.test_repo(), 2);
        assert_eq!(forge.get(1).unwrap().state, PrState::Merged, "{vendor:?}");
        assert_eq!(forge.get(2).unwrap().state, PrState::Closed, "{vendor:?}");
        assert!(
            forge
                .find_open(&PrQuery::Head("promote/prod/v1".into()))
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn a_wrong_repository_is_a_404_that_names_it() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        let wrong = if vendor == Vendor::GitLab {
            "group/sub/nope"
        } else {
            "acme/nope"
        };
        let forge = client_for(&fake, wrong, TOKEN);
        let err = forge
            .find_open(&PrQuery::Label("promote:prod".into()))
            .unwrap_err();
        assert!(
            matches!(&err, ForgeError::RepoNotFound { repo, .. } if repo == wrong),
            "{vendor:?}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(wrong) && text.contains(TOKEN_ENV), "{text}");
        let err = forge
            .create(&new_pull_request("promote/prod/v1"))
            .unwrap_err();
        assert!(
            matches!(err, ForgeError::RepoNotFound { .. }),
            "{vendor:?}: {err:?}"
        );
    }
}

#[test]
fn a_wrong_pull_request_number_is_named() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        let err = client(&fake).get(42).unwrap_err();
        assert!(
            matches!(err, ForgeError::PullRequestNotFound { number: 42, .. }),
            "{vendor:?}: {err:?}"
        );
    }
}

#[test]
fn a_bad_token_is_a_401_that_names_the_variable_never_the_token() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        let bad = "bad_SECRET_token";
        let forge = client_for(&fake, vendor.test_repo(), bad);
        let err = forge.whoami().unwrap_err();
        assert!(
            matches!(&err, ForgeError::BadToken { token_env, .. } if token_env == TOKEN_ENV),
            "{vendor:?}: {err:?}"
        );
        let err = forge
            .create(&new_pull_request("promote/prod/v1"))
            .unwrap_err();
        assert!(
            matches!(err, ForgeError::BadToken { .. }),
            "{vendor:?}: {err:?}"
        );
        let text = format!("{err} {err:?} {forge:?}");
        assert!(text.contains(&format!("${TOKEN_ENV}")), "{text}");
        assert!(!text.contains(bad), "{text}");
    }
}

#[test]
fn gitlab_addresses_the_project_by_its_url_encoded_path() {
    let fake = fake(Vendor::GitLab);
    let forge = client(&fake);
    forge
        .find_open(&PrQuery::Label("promote:prod".into()))
        .unwrap();
    forge.create(&new_pull_request("promote/prod/v1")).unwrap();
    forge.add_labels(1, &["promote:prod".into()]).unwrap();
    forge.request_reviewers(1, &["pm-lead".into()]).unwrap();
    forge.get(1).unwrap();
    forge.reviews(1).unwrap();
    let project_calls: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v4/projects/"))
        .collect();
    assert!(project_calls.len() >= 5);
    for r in project_calls {
        assert!(
            r.path.starts_with("/api/v4/projects/group%2Fsub%2Fgitops/"),
            "{}",
            r.line()
        );
    }
}

#[test]
fn lists_follow_link_pagination_to_the_end() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        let forge = client(&fake);
        for v in 1..=5 {
            let pr = forge
                .create(&new_pull_request(&format!("promote/prod/v{v}")))
                .unwrap();
            forge
                .add_labels(pr.number, &["promote:prod".into()])
                .unwrap();
        }
        fake.set_max_page_size(2);
        let found = forge
            .find_open(&PrQuery::Label("promote:prod".into()))
            .unwrap();
        assert_eq!(
            found.iter().map(|p| p.number).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5],
            "{vendor:?}"
        );
        let list_path = match vendor {
            Vendor::GitLab => format!("{}/merge_requests", repo_path(vendor)),
            Vendor::GitHub | Vendor::Gitea => format!("{}/pulls", repo_path(vendor)),
        };
        let pages: Vec<_> = fake
            .requests_to("GET", &list_path)
            .iter()
            .map(|r| r.query_value("page").unwrap_or("1").to_owned())
            .collect();
        assert_eq!(pages, ["1", "2", "3"], "{vendor:?}");
    }
}

#[test]
fn review_lists_are_paginated_too() {
    for vendor in [Vendor::GitHub, Vendor::Gitea] {
        let fake = fake(vendor);
        let forge = client(&fake);
        forge.create(&new_pull_request("promote/prod/v1")).unwrap();
        for _ in 0..3 {
            fake.add_review(vendor.test_repo(), 1, "qa-alice", FakeReview::Commented);
        }
        fake.set_max_page_size(1);
        assert_eq!(forge.reviews(1).unwrap().len(), 3, "{vendor:?}");
    }
}

#[test]
fn find_open_by_head_sees_prs_opened_by_hand() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        fake.open_pull(
            vendor.test_repo(),
            "promote/prod/v1",
            "main",
            "by hand",
            "pm-lead",
        );
        fake.open_pull(
            vendor.test_repo(),
            "feature/x",
            "main",
            "unrelated",
            "pm-lead",
        );
        let found = client(&fake)
            .find_open(&PrQuery::Head("promote/prod/v1".into()))
            .unwrap();
        assert_eq!(
            found.iter().map(|p| p.number).collect::<Vec<_>>(),
            [1],
            "{vendor:?}"
        );
        if vendor == Vendor::GitHub {
            let r = only(
                fake.requests_to("GET", &format!("{}/pulls", repo_path(vendor))),
                "list",
            );
            assert_eq!(r.query_value("head"), Some("acme:promote/prod/v1"));
            assert_eq!(r.query_value("state"), Some("open"));
        }
    }
}

#[test]
fn no_token_travels_outside_the_auth_header() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        let forge = client(&fake);
        let old = forge.create(&new_pull_request("promote/prod/v1")).unwrap();
        let new = forge.create(&new_pull_request("promote/prod/v2")).unwrap();
        forge
            .add_labels(new.number, &["promote:prod".into()])
            .unwrap();
        forge
            .request_reviewers(new.number, &["pm-lead".into()])
            .unwrap();
        let comment = supersede_comment(forge.target().kind, &new);
        forge.close_with_comment(old.number, &comment).unwrap();
        forge.reviews(new.number).unwrap();
        assert!(!format!("{forge:?}").contains(TOKEN));
        let err = forge.get(99).unwrap_err();
        assert_no_token_anywhere(&fake, Some(&err));
        for pull in fake.pulls(vendor.test_repo()) {
            assert!(
                !pull.body.contains(TOKEN) && pull.comments.iter().all(|c| !c.body.contains(TOKEN))
            );
        }
    }
}

#[test]
fn wait_for_merge_returns_merged_or_closed_unmerged_and_gives_up_at_the_deadline() {
    use std::time::Duration;
    for vendor in Vendor::ALL {
        let fake = std::sync::Arc::new(fake(vendor));
        let forge = client(&fake);
        forge.create(&new_pull_request("promote/prod/v1")).unwrap();
        forge.create(&new_pull_request("promote/prod/v2")).unwrap();
        let merger = {
            let fake = std::sync::Arc::clone(&fake);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(150));
                fake.merge(vendor.test_repo(), 1);
                fake.close(vendor.test_repo(), 2);
            })
        };
        let tick = Duration::from_millis(20);
        let merged = wait_for_merge(&forge, 1, Duration::from_secs(10), tick).unwrap();
        assert!(
            matches!(merged, PrResolution::Merged(ref pr) if pr.number == 1),
            "{vendor:?}: {merged:?}"
        );
        merger.join().unwrap();
        let closed = wait_for_merge(&forge, 2, Duration::from_secs(10), tick).unwrap();
        assert!(
            matches!(closed, PrResolution::ClosedUnmerged(ref pr) if pr.number == 2),
            "{vendor:?}"
        );

        forge.create(&new_pull_request("promote/prod/v3")).unwrap();
        let err = wait_for_merge(&forge, 3, Duration::from_millis(100), tick).unwrap_err();
        assert!(
            matches!(&err, ForgeError::MergeWaitTimedOut { number: 3, .. }),
            "{vendor:?}: {err:?}"
        );
        assert!(err.to_string().contains("still open"), "{err}");
    }
}

#[test]
fn a_moved_repository_is_reported_and_the_redirect_not_followed() {
    let fake = fake(Vendor::GitHub);
    fake.rename_repo("acme/gitops", "acme/deployments");
    let err = client(&fake)
        .find_open(&PrQuery::Head("promote/prod/v1".into()))
        .unwrap_err();
    assert!(
        matches!(&err, ForgeError::Moved { location, .. } if location.contains("/repositories/")),
        "{err:?}"
    );
    assert!(err.to_string().contains("forge.repo"), "{err}");
    // One request: the token was not sent on to the new location.
    assert_eq!(fake.requests().len(), 1);
}
