//! Approval records against real git (a bare origin and clones), and PR mode's approvals check
//! against an in-memory forge (the core's `Forge` port; the HTTP forges are tested through the
//! binary in `tests/testsuite/pr.rs`).

use std::cell::RefCell;
use std::collections::BTreeMap;

use promote::approval::{self as approvals, Identity, RecordRequest, RequiredApproval, Verdict};
use promote::clock::SystemClock;
use promote::gate::{Gate, PolicyContext};
use promote::images::ImageCheck;
use promote::plan::{Landed, PrAction, Prepared};
use promote::promotion::PrOptions;
use promote::promotion::{Planner, PromoteRequest, TargetSpec, apply_with};
use promote::render::{RenderProgram, Renderer};
use promote::{Ports, PromoteError, Quiet, Session, Workspace};
use promote_core::config::Mode;
use promote_core::forge::{
    Forge, ForgeError, ForgeKind, ForgeSettings, ForgeTarget, ForgeUser, NewPullRequest, PrEdit,
    PrQuery, PrState, PullRequest, RepoPath, Review, ReviewState,
};
use promote_testkit::repo::{GitOps, workspace_root};

const CONFIG: &str = "apiVersion: promote.kubectl.io/v1alpha1
kind: PromotionConfig
git: {remote: origin, baseBranch: main, mode: pr}
approvers:
  qa: [qa@example.com, \"github:qa-bot\"]
  pm: [pm@example.com, \"github:pm-lead\"]
environments:
  - {name: staging, overlay: kustomize/staging, mode: direct}
  - {name: prod, overlay: kustomize/prod, from: staging, reviewers: [pm-lead]}
";

/// The example GitOps repo with our config, staging promoted to v1.0.1 (and v1.0.2 if asked).
fn repo() -> GitOps {
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    kit.put("promote.yaml", CONFIG);
    kit.commit("config");
    kit
}

fn renderer() -> Renderer {
    Renderer {
        program: RenderProgram::Kubectl("kubectl".into()),
        helm: "helm".into(),
        cache: None,
        speculation: None,
    }
}

fn open(kit: &GitOps, dir: &std::path::Path) -> Session {
    Session::open(
        &Workspace {
            cwd: dir.to_owned(),
            cache_dir: kit.home.join(".cache/kubectl-promote"),
            ..Default::default()
        },
        &Quiet,
    )
    .unwrap()
}

/// Plan a promotion on `session` with no Argo CD, forge or registry (the images unchecked).
fn prepare(
    session: &Session,
    req: &PromoteRequest,
    renderer: &Renderer,
    ui: &dyn promote::Interaction,
) -> Result<Prepared, PromoteError> {
    let ports = Ports::new(Workspace::default(), renderer.clone());
    let context = PolicyContext::default();
    let planner = Planner {
        gate: Gate {
            ports: &ports,
            session,
            context: &context,
        },
        renderer,
        images: &ImageCheck::Skip,
    };
    promote::promotion::prepare(&planner, req, ui)
}

fn promote(kit: &GitOps, env: &str, version: &str, mode: Mode, pr: &PrOptions<'_>) -> Landed {
    let s = open(kit, &kit.clone);
    let req = PromoteRequest {
        env: env.into(),
        target: TargetSpec::Version(version.into()),
        only: vec![],
        digests: BTreeMap::new(),
        drop_digests: false,
        mode: Some(mode),
        message: None,
        author: Some("Ana <ana@example.com>".parse().unwrap()),
    };
    let Prepared::Ready(plan) = prepare(&s, &req, &renderer(), &Quiet).unwrap() else {
        panic!("expected a change")
    };
    apply_with(&s, &plan, &renderer(), pr, &Quiet).unwrap()
}

fn git_user(email: &str) -> Identity {
    Identity::Git(promote_core::Person {
        name: "Quinn QA".into(),
        email: email.into(),
    })
}

fn record(
    kit: &GitOps,
    verdict: Verdict,
    version: &str,
    role: &str,
    who: &Identity,
    note: Option<&str>,
) -> Result<approvals::Recorded, PromoteError> {
    let s = open(kit, &kit.clone);
    let req = RecordRequest {
        env: "staging".into(),
        version: version.into(),
        role: role.into(),
        verdict,
        note: note.map(str::to_owned),
    };
    approvals::record(&s, &req, who, &SystemClock::default(), &Quiet)
}

fn list(kit: &GitOps) -> Vec<approvals::ApprovalRecord> {
    approvals::list(&open(kit, &kit.clone), &Quiet)
        .unwrap()
        .counted
}

fn origin_has_branch(kit: &GitOps, branch: &str) -> bool {
    !kit.origin_git(&["for-each-ref", &format!("refs/heads/{branch}")])
        .trim()
        .is_empty()
}

#[test]
fn an_approval_is_an_empty_commit_on_the_approvals_branch_readable_with_git_log() {
    let kit = repo();
    promote(
        &kit,
        "staging",
        "v1.0.1",
        Mode::Direct,
        &PrOptions::default(),
    );
    let main_before = kit.origin_head();
    let state = kit.clone_state();
    let done = record(
        &kit,
        Verdict::Approved,
        "v1.0.1",
        "qa",
        &git_user("qa@example.com"),
        Some("smoke tests green"),
    )
    .unwrap();
    assert_eq!(done.branch, "origin/promote/approvals");
    assert_eq!(done.attempts, 1);

    // Plain git tells the whole story.
    let log = kit.origin_git(&["log", "--format=%H%n%B", "promote/approvals"]);
    assert!(log.starts_with(&done.commit), "{log}");
    for line in [
        "approve staging v1.0.1 as qa",
        "smoke tests green",
        "Promote-Verdict: approved",
        "Promote-Environment: staging",
        "Promote-Version: v1.0.1",
        "Promote-Role: qa",
        "Promote-Image: registry.example.com/microservices-demo/cartservice tag=v1.0.1",
        "Promote-By: Quinn QA <qa@example.com>",
    ] {
        assert!(log.contains(line), "missing `{line}` in\n{log}");
    }
    assert_eq!(
        kit.origin_git(&["rev-parse", "promote/approvals^{tree}"])
            .trim(),
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        "the empty tree"
    );
    assert_eq!(kit.origin_head(), main_before, "main is not touched");
    assert_eq!(
        kit.clone_state(),
        state,
        "the user's working tree, index and branches are untouched"
    );

    let records = list(&kit);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(
        (
            r.environment.as_str(),
            r.version.as_str(),
            r.role.as_str(),
            r.verdict
        ),
        ("staging", "v1.0.1", "qa", Verdict::Approved)
    );
    assert_eq!(r.images.len(), 9, "every image staging runs at v1.0.1");
    assert!(
        r.images
            .values()
            .all(|i| i.tag.as_deref() == Some("v1.0.1"))
    );
    assert!(
        !log.contains("Verified"),
        "nothing a reader would believe: {log}"
    );
    assert!(!r.by.verified(), "an unsigned record");
    assert_eq!(r.note.as_deref(), Some("smoke tests green"));
    // The wire shape policies read (plus how `verified` was decided, which they ignore).
    let json = serde_json::to_value(r).unwrap();
    assert_eq!(
        json["by"],
        serde_json::json!({"name": "Quinn QA", "email": "qa@example.com", "verified": false,
                           "verification": {"status": "unverified", "reason": "the record commit is not signed"}})
    );
    assert_eq!(json["verdict"], "approved");
    assert!(
        json["images"]["registry.example.com/microservices-demo/cartservice"]["digest"].is_null()
    );
    assert!(json["at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn a_later_rejection_wins_and_a_revocation_clears() {
    let kit = repo();
    promote(
        &kit,
        "staging",
        "v1.0.2",
        Mode::Direct,
        &PrOptions::default(),
    );
    let qa = git_user("qa@example.com");
    record(&kit, Verdict::Approved, "v1.0.2", "qa", &qa, None).unwrap();
    record(
        &kit,
        Verdict::Rejected,
        "v1.0.2",
        "qa",
        &qa,
        Some("checkout returns 500"),
    )
    .unwrap();
    let records = list(&kit);
    assert_eq!(
        records.iter().map(|r| r.verdict).collect::<Vec<_>>(),
        [Verdict::Approved, Verdict::Rejected],
        "time order"
    );
    assert_eq!(
        approvals::in_force(&records, "staging", "v1.0.2", "qa")
            .unwrap()
            .verdict,
        Verdict::Rejected
    );
    let required = [RequiredApproval {
        id: "qa".into(),
        environment: "staging".into(),
        count: 1,
        reason: String::new(),
        verified: false,
    }];
    let promoted = records[0].images.clone();
    let check = approvals::check_required(&required, "v1.0.2", &promoted, &records, None);
    assert!(!check.is_met());
    assert!(
        check.missing[0].describe().contains(
            "rejected by Quinn QA <qa@example.com> (not verified: the record commit is not signed)"
        ),
        "{}",
        check.missing[0].describe()
    );
    assert!(check.missing[0].describe().contains("checkout returns 500"));

    // A rejection is not an approval to revoke.
    let err = record(&kit, Verdict::Revoked, "v1.0.2", "qa", &qa, None).unwrap_err();
    assert!(matches!(err, PromoteError::NothingToRevoke { .. }), "{err}");
    record(
        &kit,
        Verdict::Approved,
        "v1.0.2",
        "qa",
        &qa,
        Some("false alarm"),
    )
    .unwrap();
    assert!(approvals::check_required(&required, "v1.0.2", &promoted, &list(&kit), None).is_met());
    record(&kit, Verdict::Revoked, "v1.0.2", "qa", &qa, None).unwrap();
    let records = list(&kit);
    assert_eq!(
        approvals::in_force(&records, "staging", "v1.0.2", "qa")
            .unwrap()
            .verdict,
        Verdict::Revoked
    );
    assert!(!approvals::check_required(&required, "v1.0.2", &promoted, &records, None).is_met());
    assert_eq!(
        kit.origin_git(&["rev-list", "--count", "promote/approvals"])
            .trim(),
        "4",
        "append-only"
    );
}

#[test]
fn someone_not_listed_for_the_role_is_refused_and_nothing_is_pushed() {
    let kit = repo();
    promote(
        &kit,
        "staging",
        "v1.0.1",
        Mode::Direct,
        &PrOptions::default(),
    );
    let err = record(
        &kit,
        Verdict::Approved,
        "v1.0.1",
        "qa",
        &git_user("test@example.com"),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, PromoteError::NotAnApprover { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("approvers.qa") && msg.contains("add `test@example.com` to approvers.qa"),
        "{msg}"
    );
    // A PM is not QA.
    let err = record(
        &kit,
        Verdict::Approved,
        "v1.0.1",
        "qa",
        &git_user("pm@example.com"),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, PromoteError::NotAnApprover { .. }), "{err}");
    let err = record(
        &kit,
        Verdict::Approved,
        "v1.0.1",
        "ops",
        &git_user("qa@example.com"),
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("no role `ops` (roles: pm, qa)"),
        "{err}"
    );
    assert!(!origin_has_branch(&kit, "promote/approvals"));
}

#[test]
fn who_may_approve_is_checked_when_records_are_read_not_only_when_written() {
    let mut kit = repo();
    promote(
        &kit,
        "staging",
        "v1.0.1",
        Mode::Direct,
        &PrOptions::default(),
    );
    let qa = git_user("qa@example.com");
    record(&kit, Verdict::Approved, "v1.0.1", "qa", &qa, None).unwrap();
    assert_eq!(list(&kit).len(), 1);
    // QA leaves the team: the record stays in git, but no longer counts.
    kit.put("promote.yaml", &CONFIG.replace("qa@example.com, ", ""));
    kit.commit("qa@example.com is no longer QA");
    let records = approvals::list(&open(&kit, &kit.clone), &Quiet).unwrap();
    assert!(records.counted.is_empty(), "{:?}", records.counted);
    assert_eq!(records.ignored.len(), 1);
    let ignored = &records.ignored[0];
    assert_eq!(ignored.record.by.email.as_deref(), Some("qa@example.com"));
    assert!(
        ignored
            .reason
            .starts_with("not an approver: approvers.qa at origin/main lists github:qa-bot"),
        "{}",
        ignored.reason
    );
    let required = [RequiredApproval {
        id: "qa".into(),
        environment: "staging".into(),
        count: 1,
        reason: String::new(),
        verified: false,
    }];
    let promoted = ignored.record.images.clone();
    assert!(
        !approvals::check_required(&required, "v1.0.1", &promoted, &records.counted, None).is_met()
    );
}

#[test]
fn approving_a_version_the_environment_does_not_run_is_refused() {
    let kit = repo();
    let err = record(
        &kit,
        Verdict::Approved,
        "v1.0.1",
        "qa",
        &git_user("qa@example.com"),
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("staging runs v1.0.0 at origin/main, not v1.0.1"),
        "{err}"
    );
    assert!(!origin_has_branch(&kit, "promote/approvals"));
}

/// A `pre-receive` hook on origin that, on the first push to the approvals branch, lets another
/// record land first (as a concurrent `kubectl promote approve` would, between our fetch and our
/// ref update).
const RACE_HOOK: &str = r#"#!/bin/sh
# Outside the push's quarantine, so the other record lands in the repository proper.
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
[ -e "$GIT_DIR/raced" ] && exit 0
touch "$GIT_DIR/raced"
export GIT_AUTHOR_NAME=Other GIT_AUTHOR_EMAIL=qa@example.com GIT_COMMITTER_NAME=Other GIT_COMMITTER_EMAIL=qa@example.com
tip=$(git rev-parse -q --verify refs/heads/promote/approvals)
parent=${tip:+-p $tip}
msg='approve staging v1.0.1 as qa

Promote-Verdict: approved
Promote-Environment: staging
Promote-Version: v1.0.1
Promote-Role: qa
Promote-By: Other <qa@example.com>
Promote-By-Verified: false
Promote-At: 2026-01-01T00:00:00Z'
new=$(git commit-tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904 $parent -m "$msg")
git update-ref refs/heads/promote/approvals "$new" ${tip:-0000000000000000000000000000000000000000}
"#;

#[test]
fn a_pm_approves_what_the_pull_request_would_merge() {
    let kit = repo();
    promote(
        &kit,
        "staging",
        "v1.0.1",
        Mode::Direct,
        &PrOptions::default(),
    );
    // PR mode without a forge: the branch is pushed for a person to open the pull request.
    let landed = promote(&kit, "prod", "v1.0.1", Mode::Pr, &PrOptions::default());
    assert!(matches!(landed, Landed::BranchPushed { .. }), "{landed:?}");
    let s = open(&kit, &kit.clone);
    let req = RecordRequest {
        env: "prod".into(),
        version: "v1.0.1".into(),
        role: "pm".into(),
        verdict: Verdict::Approved,
        note: None,
    };
    let done = approvals::record(
        &s,
        &req,
        &git_user("pm@example.com"),
        &SystemClock::default(),
        &Quiet,
    )
    .unwrap();
    assert_eq!(
        done.record.images.len(),
        9,
        "bound to the images on promote/prod/v1.0.1"
    );
    let required = [RequiredApproval {
        id: "pm".into(),
        environment: "prod".into(),
        count: 1,
        reason: String::new(),
        verified: false,
    }];
    assert!(
        approvals::check_required(&required, "v1.0.1", &done.record.images, &list(&kit), None)
            .is_met()
    );
    // Nothing proposes v1.0.3 for prod.
    let req = RecordRequest {
        version: "v1.0.3".into(),
        ..req
    };
    let err = approvals::record(
        &s,
        &req,
        &git_user("pm@example.com"),
        &SystemClock::default(),
        &Quiet,
    )
    .unwrap_err();
    assert!(matches!(err, PromoteError::NotRunning { .. }), "{err}");
}

#[test]
fn a_record_that_loses_a_race_is_rebuilt_on_the_new_tip() {
    let kit = repo();
    promote(
        &kit,
        "staging",
        "v1.0.1",
        Mode::Direct,
        &PrOptions::default(),
    );
    record(
        &kit,
        Verdict::Approved,
        "v1.0.1",
        "qa",
        &git_user("qa@example.com"),
        Some("first"),
    )
    .unwrap();
    let hook = kit.origin.join("hooks/pre-receive");
    std::fs::write(&hook, RACE_HOOK).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let done = record(
        &kit,
        Verdict::Rejected,
        "v1.0.1",
        "qa",
        &git_user("qa@example.com"),
        Some("mine"),
    )
    .unwrap();
    assert_eq!(
        done.attempts, 2,
        "lost the race once, rebuilt on the new tip"
    );
    let subjects = kit.origin_git(&["log", "--format=%an: %s", "promote/approvals"]);
    assert_eq!(
        subjects.lines().collect::<Vec<_>>(),
        [
            "Quinn QA: reject staging v1.0.1 as qa",
            "Other: approve staging v1.0.1 as qa",
            "Quinn QA: approve staging v1.0.1 as qa"
        ],
        "nothing lost, nothing forced"
    );
    assert_eq!(
        kit.origin_git(&["rev-list", "--merges", "--count", "promote/approvals"])
            .trim(),
        "0",
        "linear"
    );
    let records = list(&kit);
    assert_eq!(records.len(), 3);
    assert_eq!(
        approvals::in_force(&records, "staging", "v1.0.1", "qa")
            .unwrap()
            .note
            .as_deref(),
        Some("mine")
    );
}

// ---------------------------------------------------------------------------------------------
// An in-memory forge: the core's port, as the use cases see it.
// ---------------------------------------------------------------------------------------------

struct MemForge {
    target: ForgeTarget,
    user: ForgeUser,
    pulls: RefCell<Vec<PullRequest>>,
    reviews: RefCell<BTreeMap<u64, Vec<Review>>>,
    calls: RefCell<Vec<String>>,
    /// What a person does to the pull request while we wait: `get` then sees this state.
    ends_as: RefCell<Option<PrState>>,
}

impl MemForge {
    fn new(login: &str) -> MemForge {
        let settings = ForgeSettings {
            kind: Some(ForgeKind::GitHub),
            url: Some("https://api.github.com".into()),
            repo: Some(RepoPath::parse("acme/gitops").unwrap()),
            token_env: None,
        };
        MemForge {
            target: ForgeTarget::resolve(None, &settings).unwrap(),
            user: ForgeUser {
                login: login.into(),
                id: Some(7),
                name: Some(format!("{login} (forge)")),
                email: None,
            },
            pulls: RefCell::default(),
            reviews: RefCell::default(),
            calls: RefCell::default(),
            ends_as: RefCell::default(),
        }
    }

    fn approve(&self, number: u64, login: &str) {
        let head = self
            .pulls
            .borrow()
            .iter()
            .find(|p| p.number == number)
            .unwrap()
            .head_sha
            .clone();
        self.reviews
            .borrow_mut()
            .entry(number)
            .or_default()
            .push(Review {
                reviewer: login.into(),
                state: ReviewState::Approved,
                commit: head,
                submitted_at: None,
                email: None,
            });
    }
}

impl Forge for MemForge {
    fn target(&self) -> &ForgeTarget {
        &self.target
    }
    fn whoami(&self) -> Result<ForgeUser, ForgeError> {
        Ok(self.user.clone())
    }
    fn find_open(&self, query: &PrQuery) -> Result<Vec<PullRequest>, ForgeError> {
        Ok(self
            .pulls
            .borrow()
            .iter()
            .filter(|p| p.state == PrState::Open)
            .filter(|p| match query {
                PrQuery::Head(h) => &p.head == h,
                PrQuery::Label(l) => p.labels.contains(l),
            })
            .cloned()
            .collect())
    }
    fn create(&self, pr: &NewPullRequest) -> Result<PullRequest, ForgeError> {
        self.calls.borrow_mut().push(format!("create {}", pr.head));
        let number = self.pulls.borrow().len() as u64 + 1;
        let new = PullRequest {
            number,
            url: format!("https://github.com/acme/gitops/pull/{number}"),
            title: pr.title.clone(),
            body: pr.body.clone(),
            head: pr.head.clone(),
            head_sha: Some(format!("{number:040}")),
            base: pr.base.clone(),
            state: PrState::Open,
            labels: vec![],
            author: Some(self.user.login.clone()),
        };
        self.pulls.borrow_mut().push(new.clone());
        Ok(new)
    }
    fn update(&self, number: u64, edit: &PrEdit) -> Result<PullRequest, ForgeError> {
        self.calls.borrow_mut().push(format!("update {number}"));
        let mut pulls = self.pulls.borrow_mut();
        let p = pulls.iter_mut().find(|p| p.number == number).unwrap();
        if let Some(t) = &edit.title {
            p.title = t.clone();
        }
        if let Some(b) = &edit.body {
            p.body = b.clone();
        }
        Ok(p.clone())
    }
    fn comment(&self, number: u64, _comment: &str) -> Result<(), ForgeError> {
        self.calls.borrow_mut().push(format!("comment #{number}"));
        Ok(())
    }
    fn close_with_comment(&self, number: u64, _comment: &str) -> Result<(), ForgeError> {
        self.pulls
            .borrow_mut()
            .iter_mut()
            .find(|p| p.number == number)
            .unwrap()
            .state = PrState::Closed;
        Ok(())
    }
    fn request_reviewers(&self, number: u64, reviewers: &[String]) -> Result<(), ForgeError> {
        self.calls
            .borrow_mut()
            .push(format!("reviewers {number} {}", reviewers.join(",")));
        Ok(())
    }
    fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), ForgeError> {
        self.pulls
            .borrow_mut()
            .iter_mut()
            .find(|p| p.number == number)
            .unwrap()
            .labels
            .extend(labels.iter().cloned());
        Ok(())
    }
    fn get(&self, number: u64) -> Result<PullRequest, ForgeError> {
        if let Some(state) = *self.ends_as.borrow() {
            self.pulls
                .borrow_mut()
                .iter_mut()
                .find(|p| p.number == number)
                .unwrap()
                .state = state;
        }
        Ok(self
            .pulls
            .borrow()
            .iter()
            .find(|p| p.number == number)
            .unwrap()
            .clone())
    }
    fn reviews(&self, number: u64) -> Result<Vec<Review>, ForgeError> {
        Ok(self
            .reviews
            .borrow()
            .get(&number)
            .cloned()
            .unwrap_or_default())
    }
}

fn opened(l: &Landed) -> &promote::plan::OpenedPr {
    match l {
        Landed::PrOpen(p)
        | Landed::PrAwaitingApproval(p)
        | Landed::PrMerged(p)
        | Landed::PrClosedUnmerged(p) => p,
        other => panic!("expected a pull request, got {other:?}"),
    }
}

#[test]
fn pr_mode_waits_for_missing_approvals_and_counts_records_and_reviews() {
    let kit = repo();
    promote(
        &kit,
        "staging",
        "v1.0.1",
        Mode::Direct,
        &PrOptions::default(),
    );
    let forge = MemForge::new("promoter");
    let required = vec![
        RequiredApproval {
            id: "qa".into(),
            environment: "staging".into(),
            count: 1,
            reason: String::new(),
            verified: false,
        },
        RequiredApproval {
            id: "pm".into(),
            environment: "prod".into(),
            count: 1,
            reason: String::new(),
            verified: false,
        },
    ];
    let opts = PrOptions {
        forge: Some(&forge),
        required,
        ..PrOptions::default()
    };

    // Nothing approved yet: the PR is open, reviewers requested, the checklist says what is missing.
    let landed = promote(&kit, "prod", "v1.0.1", Mode::Pr, &opts);
    assert!(
        matches!(landed, Landed::PrAwaitingApproval(_)),
        "{landed:?}"
    );
    let pr = opened(&landed);
    assert_eq!(
        (
            pr.number,
            pr.action == PrAction::Opened,
            pr.approvals.missing.len()
        ),
        (1, true, 2)
    );
    let body = forge.get(1).unwrap().body;
    assert!(
        body.contains(
            "- [ ] qa on staging: 0 of 1: run `kubectl promote approve staging v1.0.1 --role qa`"
        ),
        "{body}"
    );
    assert!(
        body.contains("- [ ] pm on prod: 0 of 1: approve this pull request"),
        "{body}"
    );
    assert!(
        body.contains(
            "| `registry.example.com/microservices-demo/cartservice` | `v1.0.0` | `v1.0.1` |"
        ),
        "{body}"
    );
    assert!(
        forge
            .calls
            .borrow()
            .contains(&"reviewers 1 pm-lead".to_owned())
    );
    assert_eq!(forge.get(1).unwrap().labels, ["promote:prod"]);
    assert!(origin_has_branch(&kit, "promote/prod/v1.0.1"));

    // QA approves on staging (as the forge account behind its token), the PM approves the pull
    // request (a review the forge confirms).
    let qa_forge = MemForge::new("qa-bot");
    let s = open(&kit, &kit.clone);
    let qa = Identity::of(&s, Some(&qa_forge)).unwrap();
    let done = approvals::record(
        &s,
        &RecordRequest {
            env: "staging".into(),
            version: "v1.0.1".into(),
            role: "qa".into(),
            verdict: Verdict::Approved,
            note: None,
        },
        &qa,
        &SystemClock::default(),
        &Quiet,
    )
    .unwrap();
    // The forge said who the token is when the record was written, but a reader cannot ask:
    // the record claims the account, and without a signature it is not verified.
    assert!(!done.record.by.verified());
    assert_eq!(done.record.by.account.as_deref(), Some("github:qa-bot"));
    forge.approve(1, "pm-lead");

    // The same promotion again reuses the branch and the pull request, and now it is approved.
    let landed = promote(&kit, "prod", "v1.0.1", Mode::Pr, &opts);
    assert!(matches!(landed, Landed::PrOpen(_)), "{landed:?}");
    let pr = opened(&landed);
    assert_eq!((pr.number, pr.action == PrAction::Opened), (1, false));
    assert!(pr.approvals.is_met());
    let body = forge.get(1).unwrap().body;
    assert!(
        body.contains("- [x] qa on staging: 1 of 1 (qa-bot (forge) github:qa-bot (not verified: the record commit is not signed))"),
        "{body}"
    );
    assert!(
        body.contains("- [x] pm on prod: 1 of 1 (github:pm-lead (pull request review))"),
        "{body}"
    );
    assert_eq!(forge.pulls.borrow().len(), 1);
}

#[test]
fn pr_mode_with_wait_reports_how_the_pull_request_ended() {
    let kit = repo();
    let forge = MemForge::new("promoter");
    let wait = promote::promotion::MergeWait {
        timeout: std::time::Duration::from_millis(300),
        interval: std::time::Duration::from_millis(50),
    };
    // Nobody merges: the wait gives up naming the pull request.
    let s = open(&kit, &kit.clone);
    let req = PromoteRequest {
        env: "prod".into(),
        target: TargetSpec::Version("v1.0.1".into()),
        only: vec![],
        digests: BTreeMap::new(),
        drop_digests: false,
        mode: Some(Mode::Pr),
        message: None,
        author: None,
    };
    let Prepared::Ready(plan) = prepare(&s, &req, &renderer(), &Quiet).unwrap() else {
        panic!()
    };
    let err = apply_with(
        &s,
        &plan,
        &renderer(),
        &PrOptions {
            forge: Some(&forge),
            wait: Some(wait),
            ..PrOptions::default()
        },
        &Quiet,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("pull request https://github.com/acme/gitops/pull/1 was still open after"),
        "{err}"
    );
    // Merged by a person while we wait.
    *forge.ends_as.borrow_mut() = Some(PrState::Merged);
    let landed = apply_with(
        &s,
        &plan,
        &renderer(),
        &PrOptions {
            forge: Some(&forge),
            wait: Some(wait),
            ..PrOptions::default()
        },
        &Quiet,
    )
    .unwrap();
    assert!(matches!(landed, Landed::PrMerged(_)), "{landed:?}");
    assert_eq!(
        opened(&landed).number,
        1,
        "the open pull request of the first run was reused"
    );
    // Closed without merging: the outcome says so (the binary exits 1).
    *forge.ends_as.borrow_mut() = Some(PrState::Closed);
    let landed = apply_with(
        &s,
        &plan,
        &renderer(),
        &PrOptions {
            forge: Some(&forge),
            wait: Some(wait),
            ..PrOptions::default()
        },
        &Quiet,
    )
    .unwrap();
    assert!(matches!(landed, Landed::PrClosedUnmerged(_)), "{landed:?}");
    assert_eq!(opened(&landed).number, 2);
}
