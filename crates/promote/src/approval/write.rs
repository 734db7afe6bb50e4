//! Writing a record: checks first (the environment and role exist, the identity is listed for
//! the role, an approval names the version ENV runs, a rejection has a reason, a revocation has
//! an approval to revoke), then an empty commit on the approvals branch, built on the tip just
//! fetched and pushed as a fast-forward; a push that loses a race is rebuilt, never forced.

use std::collections::BTreeMap;

use serde::Serialize;

use promote_core::Person;
use promote_core::config::Environment;
use promote_core::image::{ImageRef, valid_tag};
use promote_git::{CommitId, PushOutcome};

use super::decide::in_force;
use super::identity::{Identity, authorize};
use super::read::{Verifier, records_from};
use super::record::{ApprovalRecord, Approver, Verdict, record_message};
use crate::clock::{Clock, format_utc};
use crate::plan::branch_name;
use crate::{Interaction, PromoteError, Session};

/// How many times a record is rebuilt on a new tip when others record at the same moment.
const ATTEMPTS: usize = 5;

/// What to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRequest {
    pub env: String,
    pub version: String,
    /// `--role` (the binary defaults it to `qa`).
    pub role: String,
    pub verdict: Verdict,
    /// `-m`: required for a rejection.
    pub note: Option<String>,
}

/// A record written to the remote.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    pub record: ApprovalRecord,
    pub commit: String,
    /// `origin/promote/approvals`.
    pub branch: String,
    /// 1 unless others recorded at the same moment.
    pub attempts: usize,
}

/// Records an approval, rejection or revocation on the remote's approvals branch.
///
/// Checks first, writes after: the environment and role exist, the identity is listed for the
/// role, an approval names the version ENV runs (the record holds each of its images' tag and
/// digest), a rejection has a reason, a revocation has an approval to revoke. Nothing is pushed
/// when a check fails.
pub fn record(
    session: &Session,
    req: &RecordRequest,
    identity: &Identity,
    clock: &dyn Clock,
    ui: &dyn Interaction,
) -> Result<Recorded, PromoteError> {
    let Checked { env, note, images } = checked(session, req, identity)?;
    let approver = identity.approver();
    let (author, committer) = commit_people(session, &approver);
    let record = ApprovalRecord {
        environment: env.name.clone(),
        version: req.version.clone(),
        role: req.role.clone(),
        verdict: req.verdict,
        images,
        app: env.app.clone(),
        by: approver,
        at: format_utc(clock.now()),
        note,
        commit: String::new(),
    };
    // The keys that will judge the record, read before anything is written: a broken
    // `approverKeys` stops here, not after the push.
    let verifier = Verifier::new(session)?;
    let write = Write {
        session,
        record,
        author,
        committer,
    };
    write.push(&verifier, ui)
}

/// What the checks found: the record's environment, note and images.
struct Checked {
    env: Environment,
    /// Without a blank one.
    note: Option<String>,
    images: BTreeMap<String, ImageRef>,
}

/// The checks that need no write: ENV, the version, the role, the note; and the images the
/// record binds to.
fn checked(
    session: &Session,
    req: &RecordRequest,
    identity: &Identity,
) -> Result<Checked, PromoteError> {
    let env = session.config.env(&req.env)?.clone();
    if !valid_tag(&req.version) {
        return Err(PromoteError::Usage(format!(
            "`{}` is not a valid image tag, so it cannot be a version",
            req.version
        )));
    }
    authorize(session, &req.role, identity)?;
    let note = req.note.clone().filter(|n| !n.trim().is_empty());
    if req.verdict == Verdict::Rejected && note.is_none() {
        return Err(PromoteError::Usage(
            "a rejection needs a reason: kubectl promote reject ENV VERSION -m REASON".into(),
        ));
    }
    let images = bound_images(session, &env, &req.version)?;
    if req.verdict == Verdict::Approved && images.is_empty() {
        let running = session.overlay_at(&env, session.base)?.image_map();
        let now = promote_core::image::EnvVersion::of(running.values()).to_string();
        return Err(PromoteError::NotRunning {
            env: env.name.clone(),
            version: req.version.clone(),
            running: now,
            at: session.base_name(),
        });
    }
    Ok(Checked { env, note, images })
}

/// The record commit's author and committer. The author is the approver; git wants an e-mail,
/// so a forge account that shows none is written with the git config one (the trailers say who
/// it really was).
fn commit_people(session: &Session, approver: &Approver) -> (Person, Person) {
    let git_person = session.repo.config_person();
    let author = Person {
        name: approver.name.clone().unwrap_or_else(|| "unknown".into()),
        email: approver
            .email
            .clone()
            .or_else(|| git_person.as_ref().map(|p| p.email.clone()))
            .unwrap_or_else(|| "unknown@localhost".into()),
    };
    let committer = git_person.unwrap_or_else(|| author.clone());
    (author, committer)
}

/// A checked record on its way to the approvals branch.
struct Write<'a> {
    session: &'a Session,
    record: ApprovalRecord,
    author: Person,
    committer: Person,
}

impl Write<'_> {
    /// Commits the record on the tip just fetched and pushes it as a fast-forward; a push that
    /// loses a race is rebuilt on the new tip, [`ATTEMPTS`] times at most.
    fn push(self, verifier: &Verifier, ui: &dyn Interaction) -> Result<Recorded, PromoteError> {
        let session = self.session;
        let branch = &session.config.git.approvals_branch;
        let repo = &session.repo;
        let sign = repo.config_bool("commit.gpgsign");
        let message = record_message(&self.record);
        let tree = repo.empty_tree()?;
        let record = &self.record;
        for attempt in 1..=ATTEMPTS {
            let tip = repo.fetch_branch(&session.remote, branch)?;
            if record.verdict == Verdict::Revoked {
                self.check_revocable(tip, ui)?;
            }
            let parents: Vec<CommitId> = tip.into_iter().collect();
            let commit = repo.commit(
                &tree,
                &parents,
                &self.author,
                &self.committer,
                &message,
                sign,
            )?;
            ui.checkpoint("before-approval-push");
            ui.step(&format!(
                "recording {} {} {} as {} on {}/{branch}",
                record.verdict, record.environment, record.version, record.role, session.remote
            ));
            match repo.push(&session.remote, commit, branch)? {
                PushOutcome::Pushed => {
                    // What every reader will compute for this record.
                    let mut record = self.record;
                    record.commit = commit.to_string();
                    record.by.verification = verifier.check(commit, &record.by)?;
                    return Ok(Recorded {
                        record,
                        commit: commit.to_string(),
                        branch: format!("{}/{branch}", session.remote),
                        attempts: attempt,
                    });
                }
                PushOutcome::Behind => ui.step(&format!(
                    "{}/{branch} moved while recording; rebuilding on the new tip",
                    session.remote
                )),
            }
        }
        Err(PromoteError::ApprovalsRace {
            branch: format!("{}/{branch}", session.remote),
            attempts: ATTEMPTS,
        })
    }

    /// A revocation needs an approval in force, as of the approvals branch's `tip`.
    fn check_revocable(
        &self,
        tip: Option<CommitId>,
        ui: &dyn Interaction,
    ) -> Result<(), PromoteError> {
        let records = match tip {
            Some(t) => records_from(self.session, t, ui)?.counted,
            None => Vec::new(),
        };
        let r = &self.record;
        if in_force(&records, &r.environment, &r.version, &r.role).map(|r| r.verdict)
            != Some(Verdict::Approved)
        {
            return Err(PromoteError::NothingToRevoke {
                env: r.environment.clone(),
                version: r.version.clone(),
                role: r.role.clone(),
            });
        }
        Ok(())
    }
}

/// The images a verdict on ENV at VERSION binds to (each one's tag and digest), from the first
/// of: ENV's overlay at the base tip (what QA tested there); ENV's overlay on the promotion branch
/// `promote/ENV/VERSION` (what the open pull request would merge: a PM approving before the
/// merge); the overlay of ENV's upstream (`from`) at the base tip (what a promotion would bring).
/// Only images whose tag is VERSION count; empty when none runs it.
fn bound_images(
    session: &Session,
    env: &Environment,
    version: &str,
) -> Result<BTreeMap<String, ImageRef>, PromoteError> {
    let at_version = |overlay: &promote_core::overlay::Overlay| -> BTreeMap<String, ImageRef> {
        overlay
            .image_map()
            .into_iter()
            .filter(|(_, r)| r.tag.as_deref() == Some(version))
            .collect()
    };
    let here = at_version(&session.overlay_at(env, session.base)?);
    if !here.is_empty() {
        return Ok(here);
    }
    let pr_branch = branch_name(&env.slot(), Some(version));
    if let Some(tip) = session.repo.fetch_branch(&session.remote, &pr_branch)? {
        let proposed = at_version(&session.overlay_at(env, tip)?);
        if !proposed.is_empty() {
            return Ok(proposed);
        }
    }
    match &env.from {
        Some(up) => Ok(at_version(
            &session.overlay_at(session.config.env(up)?, session.base)?,
        )),
        None => Ok(BTreeMap::new()),
    }
}
