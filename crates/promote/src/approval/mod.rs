//! `kubectl promote approve | reject | approve --revoke`: approval records, kept on the remote
//! outside the base branch, and the decisions made over them.
//!
//! A record is an empty commit (the empty tree) on `git.approvalsBranch` (default
//! `promote/approvals`) whose message carries the record as trailers, so `git log
//! origin/promote/approvals` is the audit trail and no file on `main` is involved (branch
//! protection on `main` is not in the way). The branch is append-only: a record is built on the
//! tip just fetched and pushed as a fast-forward; a push that loses a race is rebuilt on the new
//! tip, never forced. Records are listed in branch order, which is time order. Record commits are
//! signed when `commit.gpgsign` says so, as promotions are (`git commit-tree -S`, so
//! `gpg.format=ssh` works).
//!
//! A record binds to the images ENV's overlay runs at the base tip (each image's tag and
//! digest), not to a version string alone. The record in force for (environment, version, role)
//! is the last one: a later rejection or revocation wins over earlier approvals ([`in_force`],
//! [`check_required`]).
//!
//! Nothing in a record is believed as written: anyone who can push to the approvals branch can
//! write any commit there. When records are read ([`list`]):
//! - each is checked against `approvers` at the base tip for its role; records by anyone else
//!   are set aside ([`Records::ignored`], shown by `status` as "not an approver") and never
//!   reach a decision;
//! - `verified` is computed, never taken from a trailer: a record is verified when its commit
//!   carries a valid signature by a key `approverKeys` (files on the base tip) allows for the
//!   record's e-mail or forge account ([`Verification`]). Pull-request reviews, read through the
//!   forge's API, are the other verified approvals ([`PrApprovals`]).
//!
//! Decisions that require verified approvals ([`RequiredApproval::verified`]) count verified
//! approvals only; rejections and revocations by an approver count whether verified or not (a
//! forged one can only hold a release back).

pub mod decide;
pub mod identity;
pub mod read;
pub mod record;
pub mod write;

pub use decide::{
    ApprovalCheck, ApprovalState, PrApprovals, RequiredApproval, RequirementState, check_required,
    covers, in_force, summary,
};
pub use identity::{Identity, authorize, entry_matches};
pub use read::{IgnoredRecord, Records, list, list_for};
pub use record::{ApprovalRecord, Approver, Verdict, Verification, parse_record, record_message};
pub use write::{RecordRequest, Recorded, record};

use crate::document::Document;
use crate::ports::Ports;
use crate::{Interaction, PromoteError, Session, forge};

impl Document for Recorded {
    fn kind(&self) -> &'static str {
        "ApprovalRecord"
    }
}

/// How to make records verified, for the warning after an unverified one is recorded.
const SIGNING: &str = "To sign approvals: `git config gpg.format ssh`, `git config user.signingkey ~/.ssh/id_ed25519`, `git config commit.gpgsign true`, and add `YOUR-EMAIL ssh-ed25519 AAAA…` (your public key) to the file promote.yaml's approverKeys.ssh names, on the base branch (README: \"Signed approvals\")";

/// `approve | reject | approve --revoke`: record the verdict as this run's identity (the forge
/// account behind the token, else git config).
pub fn run(
    ports: &Ports,
    req: &RecordRequest,
    ui: &dyn Interaction,
) -> Result<Recorded, PromoteError> {
    let session = Session::open(&ports.workspace, ui)?;
    let connection = forge::connect(ports, &session, ui)?;
    if let Some(why) = connection.why_not() {
        ui.step(&format!("identity from git config: {why}"));
    }
    let identity = Identity::of(&session, connection.forge())?;
    let recorded = record(&session, req, &identity, ports.clock.as_ref(), ui)?;
    if !recorded.record.by.verified() {
        // Say it now, not when a protected promotion waits for an approval that never counts.
        ui.warn(&format!(
            "this record is {}; where verified approvals are required (protected environments, by default) it does not count. {SIGNING}",
            recorded.record.by.verification
        ));
    }
    Ok(recorded)
}
