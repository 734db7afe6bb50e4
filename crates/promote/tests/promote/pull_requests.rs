//! The promotion's pull request ([`promote::promotion::pr::ensure_pull_request`]) through the HTTP
//! forge client (`promote-http`) against the fake GitHub, GitLab and Gitea servers of
//! `promote-testkit`: open, reuse, supersede, labels and reviewers, and a lost create race. The
//! client's own calls are tested in `promote-http/tests/forges.rs`.

use promote::plan::PrAction;
use promote::promotion::pr::{PromotionPullRequest, ensure_pull_request};
use promote_core::forge::{
    Forge, ForgeError, ForgeTarget, NewPullRequest, PrEdit, PrQuery, PrState, PullRequest, Review,
    Token, env_label,
};
use promote_http::HttpForge;
use promote_testkit::forge::{FakeForge, FakePrState, Vendor, new_pull_request};
use serde_json::json;

const TOKEN: &str = "tok_SECRET_0123456789";

/// A fake with the promoter (behind `TOKEN`), a reviewer and the repository.
fn fake(vendor: Vendor) -> FakeForge {
    let fake = FakeForge::start(vendor);
    fake.add_user("promoter", Some(TOKEN))
        .add_user("pm-lead", None);
    fake.add_repo(vendor.test_repo());
    fake
}

fn client(fake: &FakeForge) -> HttpForge {
    let target = fake.target(fake.vendor().test_repo(), "PROMOTE_TEST_TOKEN");
    HttpForge::new(target, Token::new(TOKEN).unwrap()).unwrap()
}

fn promotion(head: &str) -> PromotionPullRequest {
    PromotionPullRequest {
        env_label: env_label("prod"),
        pr: new_pull_request(head),
        labels: vec!["release".to_owned()],
        reviewers: vec!["pm-lead".to_owned()],
    }
}

#[test]
fn ensure_opens_labels_and_requests_reviewers() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        let out = ensure_pull_request(&client(&fake), &promotion("promote/prod/v1.0.1")).unwrap();
        assert_eq!(out.action, PrAction::Opened, "{vendor:?}");
        assert!(out.superseded.is_empty());
        let held = fake.pull(vendor.test_repo(), out.pr.number);
        assert_eq!(held.labels, ["promote:prod", "release"], "{vendor:?}");
        assert_eq!(held.requested_reviewers, ["pm-lead"], "{vendor:?}");
        assert_eq!(out.pr.labels, ["promote:prod", "release"], "{vendor:?}");
    }
}

#[test]
fn ensure_reuses_the_open_pr_for_the_same_version() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        let forge = client(&fake);
        let first = ensure_pull_request(&forge, &promotion("promote/prod/v1.0.1")).unwrap();
        let mut again = promotion("promote/prod/v1.0.1");
        again.pr.body.push_str("\n\npolicy report: allowed");
        let second = ensure_pull_request(&forge, &again).unwrap();
        assert_eq!(second.action, PrAction::Updated, "{vendor:?}");
        assert_eq!(second.pr.number, first.pr.number, "{vendor:?}");
        assert_eq!(fake.pulls(vendor.test_repo()).len(), 1, "{vendor:?}");
        assert!(
            fake.pull(vendor.test_repo(), 1)
                .body
                .ends_with("policy report: allowed"),
            "{vendor:?}"
        );
    }
}

#[test]
fn ensure_supersedes_the_open_pr_for_another_version() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        let forge = client(&fake);
        let old = ensure_pull_request(&forge, &promotion("promote/prod/v1.0.1"))
            .unwrap()
            .pr;
        let new = ensure_pull_request(&forge, &promotion("promote/prod/v1.0.2")).unwrap();
        assert_eq!(new.action, PrAction::Opened);
        assert_eq!(
            new.superseded.iter().map(|p| p.number).collect::<Vec<_>>(),
            [old.number],
            "{vendor:?}"
        );
        let held = fake.pull(vendor.test_repo(), old.number);
        assert_eq!(held.state, FakePrState::Closed, "{vendor:?}");
        assert_eq!(held.comments.len(), 1, "{vendor:?}");
        assert!(
            held.comments[0].body.contains(&new.pr.url),
            "{vendor:?}: {}",
            held.comments[0].body
        );
        assert_eq!(
            fake.pull(vendor.test_repo(), new.pr.number).state,
            FakePrState::Open
        );
        assert_eq!(
            forge.get(old.number).unwrap().state,
            PrState::Closed,
            "{vendor:?}"
        );
    }
}

#[test]
fn the_author_is_not_asked_to_review_their_own_pull_request() {
    let fake = fake(Vendor::GitHub);
    let mut request = promotion("promote/prod/v1");
    request.reviewers = vec!["github:Promoter".into(), "pm-lead".into()];
    ensure_pull_request(&client(&fake), &request).unwrap();
    let asked = fake.requests_to(
        "POST",
        "/api/v3/repos/acme/gitops/pulls/1/requested_reviewers",
    );
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].body["reviewers"], json!(["pm-lead"]));
}

/// A forge whose first two listings miss everything: as if another run opened the same PR
/// between our look-up and our create.
struct RacedForge<'a> {
    inner: &'a HttpForge,
    blind_listings: std::cell::Cell<u32>,
}

impl Forge for RacedForge<'_> {
    fn target(&self) -> &ForgeTarget {
        self.inner.target()
    }
    fn whoami(&self) -> Result<promote_core::forge::ForgeUser, ForgeError> {
        self.inner.whoami()
    }
    fn find_open(&self, query: &PrQuery) -> Result<Vec<PullRequest>, ForgeError> {
        if self.blind_listings.get() > 0 {
            self.blind_listings.set(self.blind_listings.get() - 1);
            return Ok(Vec::new());
        }
        self.inner.find_open(query)
    }
    fn create(&self, pr: &NewPullRequest) -> Result<PullRequest, ForgeError> {
        self.inner.create(pr)
    }
    fn update(&self, number: u64, edit: &PrEdit) -> Result<PullRequest, ForgeError> {
        self.inner.update(number, edit)
    }
    fn comment(&self, number: u64, comment: &str) -> Result<(), ForgeError> {
        self.inner.comment(number, comment)
    }
    fn close_with_comment(&self, number: u64, comment: &str) -> Result<(), ForgeError> {
        self.inner.close_with_comment(number, comment)
    }
    fn request_reviewers(&self, number: u64, reviewers: &[String]) -> Result<(), ForgeError> {
        self.inner.request_reviewers(number, reviewers)
    }
    fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), ForgeError> {
        self.inner.add_labels(number, labels)
    }
    fn get(&self, number: u64) -> Result<PullRequest, ForgeError> {
        self.inner.get(number)
    }
    fn reviews(&self, number: u64) -> Result<Vec<Review>, ForgeError> {
        self.inner.reviews(number)
    }
}

#[test]
fn losing_the_create_race_reuses_the_pr_the_other_run_opened() {
    for vendor in Vendor::ALL {
        let fake = fake(vendor);
        let forge = client(&fake);
        fake.open_pull(
            vendor.test_repo(),
            "promote/prod/v1",
            "main",
            "opened by the other run",
            "promoter",
        );
        let raced = RacedForge {
            inner: &forge,
            blind_listings: std::cell::Cell::new(2),
        };
        let out = ensure_pull_request(&raced, &promotion("promote/prod/v1")).unwrap();
        assert_ne!(out.action, PrAction::Opened, "{vendor:?}");
        assert_eq!(out.pr.number, 1, "{vendor:?}");
        // The vendor's duplicate answer (422 / 409) was met, and no second PR exists.
        let creates = fake
            .requests()
            .into_iter()
            .filter(|r| {
                r.method == "POST"
                    && (r.path.ends_with("/pulls") || r.path.ends_with("/merge_requests"))
            })
            .count();
        assert_eq!(creates, 1, "{vendor:?}");
        assert_eq!(fake.pulls(vendor.test_repo()).len(), 1, "{vendor:?}");
        assert_eq!(
            fake.pull(vendor.test_repo(), 1).title,
            "Promote prod to v1",
            "{vendor:?}"
        );
    }
}
