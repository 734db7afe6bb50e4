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

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use promote_core::Person;
use promote_core::config::{ConfigError, Environment};
use promote_core::forge::{Forge, ForgeKind, ForgeUser, RoleApproval};
use promote_core::image::{ImageMap, ImageRef, valid_tag};
use promote_core::trailers::{self, Trailers};
use promote_git::signature::{Checked, Method, Signers};
use promote_git::{CommitId, PushOutcome};

use crate::{Interaction, PromoteError, Session};

// Trailer keys of a record. `Promote-Environment` and `Promote-Version` are shared with
// promotion commits; `Promote-Verdict` is what marks a commit as an approval record.
const VERDICT: &str = "Promote-Verdict";
const ROLE: &str = "Promote-Role";
const IMAGE: &str = "Promote-Image";
const BY: &str = "Promote-By";
const ACCOUNT: &str = "Promote-By-Account";
const AT: &str = "Promote-At";
// `Promote-By-Verified` was written by earlier versions; it is neither written nor read now:
// whether a record is verified is computed when it is read.

/// How many times a record is rebuilt on a new tip when others record at the same moment.
const ATTEMPTS: usize = 5;

/// What a record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// `kubectl promote approve`.
    Approved,
    /// `kubectl promote reject -m REASON`.
    Rejected,
    /// `kubectl promote approve --revoke`.
    Revoked,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approved => "approved",
            Verdict::Rejected => "rejected",
            Verdict::Revoked => "revoked",
        }
    }

    fn parse(value: &str) -> Option<Verdict> {
        match value.trim().to_ascii_lowercase().as_str() {
            "approved" => Some(Verdict::Approved),
            "rejected" => Some(Verdict::Rejected),
            "revoked" => Some(Verdict::Revoked),
            _ => None,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who recorded a verdict: the `by` of a record, as the policy request carries it (`name`,
/// `email`, `verified`), plus the forge account it claims and how it was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    pub name: Option<String>,
    pub email: Option<String>,
    /// The forge account (`github:alice`) the record claims. Not part of the policy contract's
    /// `by` (extra keys are ignored there); kept for audits, for matching `approvers` entries and
    /// for counting one person once when they approved both here and in the pull request.
    pub account: Option<String>,
    /// Computed when the record is read; `verified` in the policy request.
    pub verification: Verification,
}

impl Approver {
    /// True when the identity was verified ([`Verification::Verified`]).
    pub fn verified(&self) -> bool {
        matches!(self.verification, Verification::Verified { .. })
    }

    /// How distinct approvers are told apart: the verified identity, else the forge account,
    /// else the e-mail, else the name.
    pub fn key(&self) -> String {
        if let Verification::Verified { identity, .. } = &self.verification {
            return identity.to_lowercase();
        }
        match (&self.account, &self.email, &self.name) {
            (Some(a), _, _) => a.to_lowercase(),
            (None, Some(e), _) if !e.is_empty() => e.to_lowercase(),
            (_, _, Some(n)) => n.clone(),
            _ => "<unknown>".to_owned(),
        }
    }

    /// The identities a signature may be checked against: the e-mail and the forge account, as
    /// written and in lower case (e-mails are compared without case elsewhere too).
    fn identities(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for id in self.email.iter().chain(self.account.iter()) {
            for form in [id.trim().to_owned(), id.trim().to_lowercase()] {
                if !form.is_empty() && !out.contains(&form) {
                    out.push(form);
                }
            }
        }
        out
    }
}

impl Serialize for Approver {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire<'a> {
            name: &'a Option<String>,
            email: &'a Option<String>,
            verified: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            account: &'a Option<String>,
            verification: &'a Verification,
        }
        Wire {
            name: &self.name,
            email: &self.email,
            verified: self.verified(),
            account: &self.account,
            verification: &self.verification,
        }
        .serialize(s)
    }
}

impl std::fmt::Display for Approver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self
            .name
            .as_deref()
            .or(self.account.as_deref())
            .unwrap_or("someone");
        match &self.email {
            Some(e) => write!(f, "{name} <{e}>")?,
            None => f.write_str(name)?,
        }
        if let Some(a) = self.account.as_deref().filter(|a| *a != name) {
            write!(f, " {a}")?;
        }
        write!(f, " ({})", self.verification)
    }
}

/// Whether a record's identity was verified when it was read, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum Verification {
    /// The record's commit carries a valid signature by a key `approverKeys` allows for
    /// `identity` (the record's e-mail or forge account).
    #[serde(rename_all = "camelCase")]
    Verified {
        /// `ssh` or `gpg`.
        method: &'static str,
        identity: String,
        /// The key's fingerprint.
        key: String,
    },
    /// Not verified, and why (a sentence).
    Unverified { reason: String },
}

impl Verification {
    fn unverified(reason: impl Into<String>) -> Verification {
        Verification::Unverified {
            reason: reason.into(),
        }
    }

    /// The state of a record that was not read back from git (yet).
    pub fn not_checked() -> Verification {
        Verification::unverified("not checked")
    }
}

impl std::fmt::Display for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verification::Verified { method, .. } => write!(f, "verified by {method} signature"),
            Verification::Unverified { reason } => write!(f, "not verified: {reason}"),
        }
    }
}

/// One approval, rejection or revocation: the shape of the policy request's `approvals[]` items
/// (plus the record's commit, which the request leaves out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRecord {
    /// The environment the version was tested in (QA) or is going to (PM).
    pub environment: String,
    pub version: String,
    pub role: String,
    pub verdict: Verdict,
    /// The images (tag and digest) the environment ran when the verdict was given.
    pub images: BTreeMap<String, ImageRef>,
    pub by: Approver,
    /// RFC 3339, UTC.
    pub at: String,
    /// `-m`: a note, or the reason of a rejection.
    pub note: Option<String>,
    /// The record's commit on the approvals branch (empty for a record not read from git).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub commit: String,
}

// ---------------------------------------------------------------------------------------------
// Identity and who may approve
// ---------------------------------------------------------------------------------------------

/// Who is recording: whom the record will claim to be by. Readers believe the claim only when
/// the record's signature bears it out ([`Verification`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The account behind the forge token (the forge said who it is when we asked).
    Forge { kind: ForgeKind, user: ForgeUser },
    /// `user.name` / `user.email` from git config.
    Git(Person),
}

impl Identity {
    /// The identity of this run: the forge account behind the token when there is a forge (with
    /// a token), else git config. A forge that cannot say who the token is is an error, not a
    /// silent fall back to an unverified identity.
    pub fn of(session: &Session, forge: Option<&dyn Forge>) -> Result<Identity, PromoteError> {
        match forge {
            Some(forge) => Ok(Identity::Forge {
                kind: forge.target().kind,
                user: forge.whoami()?,
            }),
            None => session
                .repo
                .config_person()
                .map(Identity::Git)
                .ok_or(PromoteError::NoIdentity),
        }
    }

    pub fn approver(&self) -> Approver {
        match self {
            Identity::Forge { kind, user } => Approver {
                name: Some(
                    user.name
                        .clone()
                        .filter(|n| !n.trim().is_empty())
                        .unwrap_or_else(|| user.login.clone()),
                ),
                email: user.email.clone().filter(|e| !e.trim().is_empty()),
                account: Some(format!("{}:{}", kind.config_prefix(), user.login)),
                verification: Verification::not_checked(),
            },
            Identity::Git(p) => Approver {
                name: Some(p.name.clone()),
                email: Some(p.email.clone()),
                account: None,
                verification: Verification::not_checked(),
            },
        }
    }

    /// How the identity is named in messages: `github:alice` or `Ana <ana@example.com>`.
    pub fn describe(&self) -> String {
        match self {
            Identity::Forge { kind, user } => format!(
                "{}:{} (the {} account behind the token)",
                kind.config_prefix(),
                user.login,
                kind
            ),
            Identity::Git(p) => format!("{p} (git config)"),
        }
    }
}

/// Does the `approvers` entry name this identity? E-mails match the git e-mail, or the e-mail
/// the forge shows for the account; `github:alice` (and `gitlab:`, `gitea:`, `forgejo:`) match
/// the forge account; a bare `alice` matches an account on any forge. Teams (`github:org/team`)
/// never match here: membership would need more than the token's own account.
pub fn entry_matches(entry: &str, identity: &Identity) -> bool {
    let entry = entry.trim();
    let is_email = entry.contains('@') && !entry.contains(':');
    match identity {
        Identity::Git(p) => is_email && entry.eq_ignore_ascii_case(&p.email),
        Identity::Forge { kind, user } => {
            if is_email {
                return user
                    .email
                    .as_deref()
                    .is_some_and(|e| entry.eq_ignore_ascii_case(e));
            }
            let login = match entry.split_once(':') {
                Some((prefix, login)) => match ForgeKind::from_config(prefix) {
                    Ok(k) if k == *kind => login,
                    _ => return false,
                },
                None => entry,
            };
            !login.is_empty() && !login.contains('/') && login.eq_ignore_ascii_case(&user.login)
        }
    }
}

/// Does the `approvers` entry name a record by `email` / `account` (`github:alice`)? E-mail
/// entries match the e-mail; `github:alice` (and `gitlab:`, `gitea:`, `forgejo:`) match that
/// forge's account, a bare `alice` an account of that name on any forge; teams never match.
fn entry_names(entry: &str, email: Option<&str>, account: Option<&str>) -> bool {
    let entry = entry.trim();
    if entry.contains('@') && !entry.contains(':') {
        return email.is_some_and(|e| entry.eq_ignore_ascii_case(e.trim()));
    }
    let Some((kind, login)) = account.and_then(|a| a.split_once(':')) else {
        return false;
    };
    let Ok(kind) = ForgeKind::from_config(kind) else {
        return false;
    };
    let wanted = match entry.split_once(':') {
        Some((prefix, wanted)) => match ForgeKind::from_config(prefix) {
            Ok(k) if k == kind => wanted,
            _ => return false,
        },
        None => entry,
    };
    !wanted.is_empty() && !wanted.contains('/') && wanted.eq_ignore_ascii_case(login)
}

/// Is the record's author listed in `approvers` for its role? A verified record is judged by
/// the identity its signature proved, an unverified one by what it claims (it counts only
/// where unverified approvals do).
fn listed(approvers: &BTreeMap<String, Vec<String>>, r: &ApprovalRecord) -> bool {
    let Some(entries) = approvers.get(&r.role) else {
        return false;
    };
    let (email, account) = match &r.by.verification {
        Verification::Verified { identity, .. } if identity.contains(':') => {
            (None, Some(identity.as_str()))
        }
        Verification::Verified { identity, .. } => (Some(identity.as_str()), None),
        Verification::Unverified { .. } => (r.by.email.as_deref(), r.by.account.as_deref()),
    };
    entries.iter().any(|e| entry_names(e, email, account))
}

/// Checks that `identity` may record for `role`: the role must have approvers, and one entry
/// must name the identity.
pub fn authorize(session: &Session, role: &str, identity: &Identity) -> Result<(), PromoteError> {
    let approvers = &session.config.approvers;
    let Some(entries) = approvers.get(role) else {
        let roles: Vec<&str> = approvers.keys().map(String::as_str).collect();
        return Err(PromoteError::UnknownRole {
            role: role.to_owned(),
            file: session.config.file.clone(),
            roles: if roles.is_empty() {
                "none".to_owned()
            } else {
                roles.join(", ")
            },
        });
    };
    if entries.iter().any(|e| entry_matches(e, identity)) {
        return Ok(());
    }
    let file = &session.config.file;
    let fix = match identity {
        Identity::Forge { kind, user } => format!(
            "add `{}:{}` to approvers.{role} in {file} (on the base branch)",
            kind.config_prefix(),
            user.login
        ),
        Identity::Git(p) => format!(
            "add `{}` to approvers.{role} in {file} (on the base branch), or set the forge token so that a `github:LOGIN`-style entry can match",
            p.email
        ),
    };
    Err(PromoteError::NotAnApprover {
        who: identity.describe(),
        role: role.to_owned(),
        listed: entries.join(", "),
        fix,
    })
}

// ---------------------------------------------------------------------------------------------
// Records as commits
// ---------------------------------------------------------------------------------------------

/// The commit message of a record: a subject for `git log --oneline`, the note, the trailers.
pub fn record_message(r: &ApprovalRecord) -> String {
    let subject = match r.verdict {
        Verdict::Approved => format!("approve {} {} as {}", r.environment, r.version, r.role),
        Verdict::Rejected => format!("reject {} {} as {}", r.environment, r.version, r.role),
        Verdict::Revoked => format!(
            "revoke the {} approval of {} {}",
            r.role, r.environment, r.version
        ),
    };
    let mut t = Trailers::default();
    t.push(VERDICT, r.verdict.as_str());
    t.push(trailers::ENVIRONMENT, &r.environment);
    t.push(trailers::VERSION, &r.version);
    t.push(ROLE, &r.role);
    for (name, image) in &r.images {
        let mut v = name.clone();
        if let Some(tag) = &image.tag {
            v.push_str(&format!(" tag={tag}"));
        }
        if let Some(digest) = &image.digest {
            v.push_str(&format!(" digest={digest}"));
        }
        t.push(IMAGE, v);
    }
    let by = match (&r.by.name, &r.by.email) {
        (Some(n), Some(e)) => format!("{n} <{e}>"),
        (Some(n), None) => n.clone(),
        (None, Some(e)) => format!("<{e}>"),
        (None, None) => "unknown".to_owned(),
    };
    t.push(BY, by);
    if let Some(a) = &r.by.account {
        t.push(ACCOUNT, a);
    }
    t.push(AT, &r.at);
    let body: Vec<String> = r.note.iter().cloned().collect();
    trailers::message(&subject, &body, &t)
}

/// Reads a record back from a commit message: `None` when the commit is not a record (no
/// `Promote-Verdict` trailer), `Some(Err(why))` when it claims to be one but is malformed.
pub fn parse_record(message: &str) -> Option<Result<ApprovalRecord, String>> {
    let t = Trailers::parse(message);
    let verdict = t.get(VERDICT)?;
    Some((|| {
        let verdict =
            Verdict::parse(verdict).ok_or_else(|| format!("unknown verdict `{verdict}`"))?;
        let need = |k: &str| {
            t.get(k)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| format!("no {k} trailer"))
        };
        let mut images = BTreeMap::new();
        for v in t.all(IMAGE) {
            let mut parts = v.split_whitespace();
            let name = parts.next().ok_or("an empty Promote-Image trailer")?;
            let mut image = ImageRef::default();
            for p in parts {
                match p.split_once('=') {
                    Some(("tag", tag)) => image.tag = Some(tag.to_owned()),
                    Some(("digest", d)) => image.digest = Some(d.to_owned()),
                    _ => return Err(format!("cannot read `{p}` in Promote-Image: {v}")),
                }
            }
            images.insert(name.to_owned(), image);
        }
        let (name, email) = match t.get(BY) {
            Some(by) => match by.parse::<Person>() {
                Ok(p) => (Some(p.name), Some(p.email)),
                Err(_) => match by
                    .trim()
                    .strip_prefix('<')
                    .and_then(|e| e.strip_suffix('>'))
                {
                    Some(e) => (None, Some(e.to_owned())),
                    None => (Some(by.to_owned()), None),
                },
            },
            None => (None, None),
        };
        let by = Approver {
            name,
            email,
            account: t.get(ACCOUNT).map(str::to_owned),
            verification: Verification::not_checked(),
        };
        // The note is the body: everything between the subject and the trailer block.
        let paragraphs: Vec<&str> = message.trim_end().split("\n\n").collect();
        let note = (paragraphs.len() > 2)
            .then(|| paragraphs[1..paragraphs.len() - 1].join("\n\n"))
            .filter(|n| !n.trim().is_empty());
        Ok(ApprovalRecord {
            environment: need(trailers::ENVIRONMENT)?,
            version: need(trailers::VERSION)?,
            role: need(ROLE)?,
            verdict,
            images,
            by,
            at: need(AT)?,
            note,
            commit: String::new(),
        })
    })())
}

/// The tip of the approvals branch, fetching it when the session's fetch did not bring it
/// (a clone whose refspecs leave it out).
fn approvals_tip(session: &Session) -> Result<Option<CommitId>, PromoteError> {
    let branch = &session.config.git.approvals_branch;
    match session.repo.remote_tip(&session.remote, branch)? {
        Some(tip) => Ok(Some(tip)),
        None => Ok(session.repo.fetch_branch(&session.remote, branch)?),
    }
}

/// The records on the approvals branch as read: those decisions use, and those set aside.
#[derive(Debug, Clone, Default)]
pub struct Records {
    /// Records by someone `approvers` lists for the record's role, in time order, each with its
    /// computed verification: what policies and approval checks see.
    pub counted: Vec<ApprovalRecord>,
    /// Records by anyone else, in time order: never part of a decision; `status` shows them.
    pub ignored: Vec<IgnoredRecord>,
}

/// A record that does not count, and why.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoredRecord {
    #[serde(flatten)]
    pub record: ApprovalRecord,
    /// `not an approver: approvers.qa at origin/main lists qa@example.com`.
    pub reason: String,
}

/// Every record on the approvals branch, in time order (oldest first), checked against the
/// base tip's `approvers` and `approverKeys`. Commits on the branch that are not records are
/// skipped; malformed records are skipped with a warning.
pub fn list(session: &Session, progress: &dyn Interaction) -> Result<Records, PromoteError> {
    let Some(tip) = approvals_tip(session)? else {
        return Ok(Records::default());
    };
    records_from(session, tip, progress)
}

fn records_from(
    session: &Session,
    tip: CommitId,
    progress: &dyn Interaction,
) -> Result<Records, PromoteError> {
    let mut parsed = Vec::new();
    for c in session
        .repo
        .first_parent_log(tip, usize::MAX)?
        .into_iter()
        .rev()
    {
        match parse_record(&c.message) {
            None => {}
            Some(Ok(mut r)) => {
                r.commit = c.id.to_string();
                parsed.push((c.id, r));
            }
            Some(Err(why)) => progress.warn(&format!(
                "skipping approval record {} on {}/{}: {why}",
                c.id.short(),
                session.remote,
                session.config.git.approvals_branch
            )),
        }
    }
    let mut out = Records::default();
    if parsed.is_empty() {
        return Ok(out);
    }
    let verifier = Verifier::new(session)?;
    let checked = verifier.check_all(
        &parsed
            .iter()
            .map(|(id, r)| (*id, &r.by))
            .collect::<Vec<_>>(),
    )?;
    let approvers = &session.config.approvers;
    for ((_, mut r), verification) in parsed.into_iter().zip(checked) {
        r.by.verification = verification;
        if listed(approvers, &r) {
            out.counted.push(r);
        } else {
            let reason = match approvers.get(&r.role) {
                Some(entries) => format!(
                    "not an approver: approvers.{} at {} lists {}",
                    r.role,
                    session.base_name(),
                    entries.join(", ")
                ),
                None => format!(
                    "not an approver: {} at {} has no approvers.{}",
                    session.config.file,
                    session.base_name(),
                    r.role
                ),
            };
            out.ignored.push(IgnoredRecord { record: r, reason });
        }
    }
    Ok(out)
}

/// Checks record commits' signatures against the keys `approverKeys` names at the base tip.
///
/// A check runs `ssh-keygen` or `gpg` (about 3 ms each on an idle machine, 10–15 on a busy
/// one), so a long approvals branch is checked on several threads, and results are kept in the
/// cache (`<cache>/signatures/<sha256 of the keys>/<commit>`) when they cannot change: the
/// commit id covers the signature, the signed bytes and the identities the record claims; the
/// directory, the keys. Keys with a validity window or an expiry are checked every time.
struct Verifier<'s> {
    session: &'s Session,
    /// `None` when promote.yaml names no keys.
    signers: Option<Signers>,
    /// Where results are kept; `None` with `--no-cache` or time-dependent keys.
    cache: Option<std::path::PathBuf>,
}

/// How many signature checks run at once.
const CHECK_THREADS: usize = 8;

/// A finished check: the record's index, its commit, the result.
type Done = (usize, CommitId, Checked);

impl<'s> Verifier<'s> {
    /// Reads and prepares the allowed keys. A missing or malformed key file is a configuration
    /// error naming the key, the file and the fix.
    fn new(session: &'s Session) -> Result<Verifier<'s>, PromoteError> {
        let keys = &session.config.approver_keys;
        if keys.is_empty() {
            return Ok(Verifier {
                session,
                signers: None,
                cache: None,
            });
        }
        let at = session.base_name();
        let read = |key: &str,
                    path: &Option<String>,
                    what: &str|
         -> Result<Option<Vec<u8>>, PromoteError> {
            let Some(path) = path else { return Ok(None) };
            match session.repo.read_file(session.base, path)? {
                Some(bytes) => Ok(Some(bytes)),
                None => Err(session
                    .config
                    .error(
                        format!("approverKeys.{key}"),
                        format!("no file `{path}` at {at}"),
                        format!("commit {what} there on the base branch, or fix the path"),
                    )
                    .into()),
            }
        };
        let ssh = read(
            "ssh",
            &keys.ssh,
            "the allowed-signers file (`EMAIL ssh-ed25519 AAAA…` per line)",
        )?;
        let gpg = read(
            "gpg",
            &keys.gpg,
            "the approvers' armored public keys (`gpg --armor --export EMAIL`)",
        )?;
        let signers = Signers::new(ssh.as_deref(), gpg.as_deref()).map_err(|e| {
            use promote_git::signature::SignerError as E;
            let config = |key: &str, path: &Option<String>, problem: String, fix: &str| {
                PromoteError::Config(ConfigError {
                    file: session.config.file.clone(),
                    key: format!("approverKeys.{key}"),
                    problem: format!("{}: {problem}", path.as_deref().unwrap_or("")),
                    fix: fix.to_owned(),
                })
            };
            match e {
                E::AllowedSigners { .. } => config(
                    "ssh",
                    &keys.ssh,
                    e.to_string(),
                    "each line reads `PRINCIPALS [OPTIONS] KEYTYPE BASE64`, git's gpg.ssh.allowedSignersFile format (ALLOWED SIGNERS in ssh-keygen(1)), e.g. `qa@example.com ssh-ed25519 AAAAC3Nz…`",
                ),
                E::NoGpgKeys { .. } => config(
                    "gpg",
                    &keys.gpg,
                    e.to_string(),
                    "put the approvers' public keys there, as `gpg --armor --export EMAIL` writes them",
                ),
                other => PromoteError::Signatures {
                    branch: session.config.git.approvals_branch.clone(),
                    source: other,
                },
            }
        })?;
        let cache = session
            .policy
            .cache
            .is_some()
            .then(|| {
                session
                    .cache_dir
                    .join("signatures")
                    .join(&signers.fingerprint()[..32])
            })
            .filter(|_| signers.time_independent());
        Ok(Verifier {
            session,
            signers: Some(signers),
            cache,
        })
    }

    fn check(&self, commit: CommitId, by: &Approver) -> Result<Verification, PromoteError> {
        Ok(self.check_all(&[(commit, by)])?.remove(0))
    }

    /// The verification of each (record commit, approver), in order.
    fn check_all(
        &self,
        records: &[(CommitId, &Approver)],
    ) -> Result<Vec<Verification>, PromoteError> {
        let failed = |source| PromoteError::Signatures {
            branch: self.session.config.git.approvals_branch.clone(),
            source,
        };
        // What needs a tool: signed records with identities, when there are keys; the rest is
        // decided here.
        let mut out: Vec<Option<Verification>> = Vec::with_capacity(records.len());
        let mut work = Vec::new();
        for (i, (commit, by)) in records.iter().enumerate() {
            let Some(sig) = self.session.repo.commit_signature(*commit)? else {
                out.push(Some(Verification::unverified(
                    "the record commit is not signed",
                )));
                continue;
            };
            let Some(signers) = &self.signers else {
                out.push(Some(Verification::unverified(format!(
                    "signed with {}, but promote.yaml names no approverKeys",
                    sig.method()
                ))));
                continue;
            };
            let identities = by.identities();
            if identities.is_empty() {
                out.push(Some(Verification::unverified(
                    "the record names no e-mail or account to check its signature against",
                )));
                continue;
            }
            match self.cached(commit) {
                Some(checked) => out.push(Some(verification(checked, by))),
                None => {
                    out.push(None);
                    work.push((i, *commit, sig, identities, signers));
                }
            }
        }
        // The checks, on a few threads: each is a process that mostly waits.
        let threads = CHECK_THREADS.min(work.len()).max(1);
        let chunk = work.len().div_ceil(threads).max(1);
        let results: Vec<Result<Vec<Done>, _>> = std::thread::scope(|scope| {
            let handles: Vec<_> = work
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|(i, commit, sig, identities, signers)| {
                                let ids: Vec<&str> =
                                    identities.iter().map(String::as_str).collect();
                                signers.check(sig, &ids).map(|c| (*i, *commit, c))
                            })
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a signature check thread panicked"))
                .collect()
        });
        for part in results {
            for (i, commit, checked) in part.map_err(failed)? {
                self.remember(&commit, &checked);
                out[i] = Some(verification(checked, records[i].1));
            }
        }
        Ok(out
            .into_iter()
            .map(|v| v.expect("every record was decided"))
            .collect())
    }

    /// A result kept by an earlier run, if the cache has a well-formed one.
    fn cached(&self, commit: &CommitId) -> Option<Checked> {
        let path = self.cache.as_ref()?.join(commit.to_string());
        Checked::from_line(&std::fs::read_to_string(path).ok()?)
    }

    /// Keeps a result for later runs (best effort: a cache that cannot be written only costs
    /// time). Written to a temp file and renamed, so a reader never sees half a line.
    fn remember(&self, commit: &CommitId, checked: &Checked) {
        let Some(dir) = &self.cache else { return };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            std::io::Write::write_all(&mut tmp, checked.to_line().as_bytes())?;
            tmp.persist(dir.join(commit.to_string()))?;
            Ok(())
        };
        let _ = write();
    }
}

/// What a tool's result means for a record.
fn verification(checked: Checked, by: &Approver) -> Verification {
    match checked {
        Checked::Good {
            method,
            identity,
            key,
        } => Verification::Verified {
            method: method.as_str(),
            identity,
            key,
        },
        Checked::NotAllowed { method } => Verification::unverified(format!(
            "signed by {} {method} key approverKeys.{method} does not allow for {}",
            if method == Method::Ssh { "an" } else { "a" },
            by.email
                .iter()
                .chain(by.account.iter())
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(" or ")
        )),
        Checked::NoKeys {
            method: Method::Other,
        } => Verification::unverified(
            "signed in a format kubectl promote does not check (it checks ssh and gpg signatures)",
        ),
        Checked::NoKeys { method } => Verification::unverified(format!(
            "signed with {method}, but promote.yaml names no approverKeys.{method}"
        )),
    }
}

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
    progress: &dyn Interaction,
) -> Result<Recorded, PromoteError> {
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
    let branch = session.config.git.approvals_branch.clone();
    let repo = &session.repo;
    let sign = repo.config_bool("commit.gpgsign");
    let approver = identity.approver();
    // The commit's author is the approver; git wants an e-mail, so a forge account that shows
    // none is written with the git config one (the trailers say who it really was).
    let git_person = repo.config_person();
    let author = Person {
        name: approver.name.clone().unwrap_or_else(|| "unknown".into()),
        email: approver
            .email
            .clone()
            .or_else(|| git_person.as_ref().map(|p| p.email.clone()))
            .unwrap_or_else(|| "unknown@localhost".into()),
    };
    let committer = git_person.unwrap_or_else(|| author.clone());
    let record = ApprovalRecord {
        environment: env.name.clone(),
        version: req.version.clone(),
        role: req.role.clone(),
        verdict: req.verdict,
        images,
        by: approver,
        at: now_rfc3339(),
        note,
        commit: String::new(),
    };
    let message = record_message(&record);
    let tree = repo.empty_tree()?;
    // The keys that will judge the record, read before anything is written: a broken
    // `approverKeys` stops here, not after the push.
    let verifier = Verifier::new(session)?;
    for attempt in 1..=ATTEMPTS {
        let tip = repo.fetch_branch(&session.remote, &branch)?;
        if req.verdict == Verdict::Revoked {
            let records = match tip {
                Some(t) => records_from(session, t, progress)?.counted,
                None => Vec::new(),
            };
            if in_force(&records, &record.environment, &record.version, &record.role)
                .map(|r| r.verdict)
                != Some(Verdict::Approved)
            {
                return Err(PromoteError::NothingToRevoke {
                    env: record.environment.clone(),
                    version: record.version.clone(),
                    role: record.role.clone(),
                });
            }
        }
        let parents: Vec<CommitId> = tip.into_iter().collect();
        let commit = repo.commit(&tree, &parents, &author, &committer, &message, sign)?;
        progress.checkpoint("before-approval-push");
        progress.step(&format!(
            "recording {} {} {} as {} on {}/{branch}",
            record.verdict, record.environment, record.version, record.role, session.remote
        ));
        match repo.push(&session.remote, commit, &branch)? {
            PushOutcome::Pushed => {
                // What every reader will compute for this record.
                let mut record = record;
                record.commit = commit.to_string();
                record.by.verification = verifier.check(commit, &record.by)?;
                return Ok(Recorded {
                    record,
                    commit: commit.to_string(),
                    branch: format!("{}/{branch}", session.remote),
                    attempts: attempt,
                });
            }
            PushOutcome::Behind => progress.step(&format!(
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
    let pr_branch = crate::pr::branch_name(&env.name, Some(version));
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

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Decisions over records
// ---------------------------------------------------------------------------------------------

/// The record in force for (environment, version, role): the last one.
pub fn in_force<'a>(
    records: &'a [ApprovalRecord],
    environment: &str,
    version: &str,
    role: &str,
) -> Option<&'a ApprovalRecord> {
    records
        .iter()
        .rev()
        .find(|r| r.environment == environment && r.version == version && r.role == role)
}

/// An approval some policy requires: `count` distinct approvers of role `id` for `environment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredApproval {
    /// The role (`qa`, `pm`).
    pub id: String,
    /// The environment the approval is recorded for (QA approves on staging what goes to prod).
    pub environment: String,
    pub count: u32,
    /// Why the policy asks for it, shown beside a missing approval so the user knows what to do.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub reason: String,
    /// Only verified approvals count: signed records ([`Verification::Verified`]) and
    /// pull-request reviews.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub verified: bool,
}

/// The approvals given in the promotion's pull request, for the environment it promotes.
#[derive(Debug, Clone, Copy)]
pub struct PrApprovals<'a> {
    pub environment: &'a str,
    pub forge: ForgeKind,
    pub approvals: &'a [RoleApproval],
}

/// How one required approval stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequirementState {
    pub requirement: RequiredApproval,
    /// Distinct approvers that count (records after the last rejection or revocation, and
    /// approvals of the pull request).
    pub approved_by: Vec<String>,
    /// A rejection in force: it blocks until someone approves again.
    pub rejected: Option<ApprovalRecord>,
    /// Approvals that bind to other images (tags or digests) than the ones promoted.
    pub other_images: Vec<String>,
    /// Approvals that do not count because they are not verified and the requirement wants
    /// verified ones.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unverified: Vec<String>,
}

impl RequirementState {
    pub fn is_met(&self) -> bool {
        self.rejected.is_none() && self.approved_by.len() >= self.requirement.count as usize
    }

    /// One line for a checklist: `qa on staging: 1 of 1 (Ana <ana@…>)`, with what is wrong.
    pub fn describe(&self) -> String {
        let r = &self.requirement;
        let mut s = format!(
            "{} on {}: {} of {}",
            r.id,
            r.environment,
            self.approved_by.len(),
            r.count
        );
        if !self.is_met() && !r.reason.is_empty() {
            s.push_str(&format!(
                " — {}",
                r.reason.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
        if !self.approved_by.is_empty() {
            s.push_str(&format!(" ({})", self.approved_by.join(", ")));
        }
        if let Some(rej) = &self.rejected {
            s.push_str(&format!(" — rejected by {} at {}", rej.by, rej.at));
            if let Some(n) = &rej.note {
                s.push_str(&format!(
                    ": {}",
                    n.split_whitespace().collect::<Vec<_>>().join(" ")
                ));
            }
        }
        if !self.other_images.is_empty() {
            s.push_str(&format!(
                " — approvals for other images do not count: {}",
                self.other_images.join(", ")
            ));
        }
        if !self.unverified.is_empty() {
            s.push_str(&format!(
                " — only verified approvals count here, not: {}",
                self.unverified.join(", ")
            ));
        }
        s
    }
}

/// Which required approvals are met and which are missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalCheck {
    pub met: Vec<RequirementState>,
    pub missing: Vec<RequirementState>,
}

impl ApprovalCheck {
    pub fn is_met(&self) -> bool {
        self.missing.is_empty()
    }
}

/// Does an approval of `recorded` images cover the promotion of `promoted` (name → new ref)?
/// Every promoted image must be in the record with the same tag, and the same digest where both
/// name one. A record without images (version-only, written by other tools) covers any.
pub fn covers(recorded: &BTreeMap<String, ImageRef>, promoted: &ImageMap) -> bool {
    if recorded.is_empty() {
        return true;
    }
    promoted.iter().all(|(name, to)| {
        recorded.get(name).is_some_and(|r| {
            let same = |a: &Option<String>, b: &Option<String>| match (a, b) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
            same(&r.tag, &to.tag) && same(&r.digest, &to.digest)
        })
    })
}

/// Says which of `required` are met for promoting `version` with `promoted` images, given the
/// records (time order; only records by approvers, see [`list`]) and the approvals of the
/// promotion's pull request.
///
/// Per requirement, over the records of (environment, version, role) in order: an approval that
/// covers the promoted images counts its approver once; a rejection or a revocation clears what
/// was counted before it (the later record wins), and a rejection blocks until someone approves
/// again. Where the requirement wants verified approvals, an unverified approval is as if it
/// was not given (it neither counts nor lifts a rejection); rejections and revocations count
/// either way. Rejections and revocations bind to the version whatever the images: a new digest
/// under the same tag does not escape them. Pull-request approvals of the role (verified: the
/// forge says who reviewed) count for requirements on the environment the pull request
/// promotes, unless a rejection is in force.
pub fn check_required(
    required: &[RequiredApproval],
    version: &str,
    promoted: &ImageMap,
    records: &[ApprovalRecord],
    pr: Option<PrApprovals<'_>>,
) -> ApprovalCheck {
    let mut check = ApprovalCheck::default();
    for req in required {
        let mut counted: Vec<(String, String)> = Vec::new();
        let mut rejected = None;
        let mut other_images = BTreeSet::new();
        let mut unverified = BTreeSet::new();
        for r in records.iter().filter(|r| {
            r.environment == req.environment && r.version == version && r.role == req.id
        }) {
            match r.verdict {
                Verdict::Approved if req.verified && !r.by.verified() => {
                    unverified.insert(r.by.to_string());
                }
                Verdict::Approved if covers(&r.images, promoted) => {
                    rejected = None;
                    let key = r.by.key();
                    if !counted.iter().any(|(k, _)| *k == key) {
                        counted.push((key, r.by.to_string()));
                    }
                }
                Verdict::Approved => {
                    other_images.insert(r.by.to_string());
                }
                Verdict::Rejected => {
                    counted.clear();
                    other_images.clear();
                    unverified.clear();
                    rejected = Some(r.clone());
                }
                Verdict::Revoked => {
                    counted.clear();
                    other_images.clear();
                    unverified.clear();
                    rejected = None;
                }
            }
        }
        if let Some(pr) = pr.filter(|pr| pr.environment == req.environment) {
            for a in pr.approvals.iter().filter(|a| a.role == req.id) {
                let account = format!("{}:{}", pr.forge.config_prefix(), a.login);
                let key = account.to_lowercase();
                if !counted.iter().any(|(k, _)| *k == key) {
                    counted.push((key, format!("{account} (pull request review)")));
                }
            }
        }
        let state = RequirementState {
            requirement: req.clone(),
            approved_by: counted.into_iter().map(|(_, d)| d).collect(),
            rejected,
            other_images: other_images.into_iter().collect(),
            unverified: unverified.into_iter().collect(),
        };
        if state.is_met() {
            check.met.push(state);
        } else {
            check.missing.push(state);
        }
    }
    check
}

/// One (version, role) of an environment in `status`: the record in force and who approved.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalState {
    pub version: String,
    pub role: String,
    /// The last record for this version and role.
    pub in_force: ApprovalRecord,
    /// Approvals since the last rejection or revocation.
    pub approved_by: Vec<Approver>,
}

/// The (version, role) pairs of `environment` with records, most recently recorded first, at
/// most `limit`.
pub fn summary(records: &[ApprovalRecord], environment: &str, limit: usize) -> Vec<ApprovalState> {
    let mut out: Vec<ApprovalState> = Vec::new();
    for r in records
        .iter()
        .rev()
        .filter(|r| r.environment == environment)
    {
        if out
            .iter()
            .any(|s| s.version == r.version && s.role == r.role)
        {
            continue;
        }
        if out.len() >= limit {
            break;
        }
        let mut approved_by: Vec<Approver> = Vec::new();
        for x in records
            .iter()
            .filter(|x| x.environment == environment && x.version == r.version && x.role == r.role)
        {
            match x.verdict {
                Verdict::Approved => {
                    if !approved_by.iter().any(|a| a.key() == x.by.key()) {
                        approved_by.push(x.by.clone());
                    }
                }
                Verdict::Rejected | Verdict::Revoked => approved_by.clear(),
            }
        }
        out.push(ApprovalState {
            version: r.version.clone(),
            role: r.role.clone(),
            in_force: r.clone(),
            approved_by,
        });
    }
    out
}

/// The records of `environment` that do not count, most recent first, at most `limit`.
pub fn ignored(records: &Records, environment: &str, limit: usize) -> Vec<IgnoredRecord> {
    records
        .ignored
        .iter()
        .rev()
        .filter(|i| i.record.environment == environment)
        .take(limit)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(version: &str, role: &str, verdict: Verdict, who: &str, tag: &str) -> ApprovalRecord {
        ApprovalRecord {
            environment: "staging".into(),
            version: version.into(),
            role: role.into(),
            verdict,
            images: [(
                "reg/a".to_owned(),
                ImageRef {
                    tag: Some(tag.into()),
                    digest: Some(format!("sha256:{}", "a".repeat(64))),
                },
            )]
            .into(),
            by: Approver {
                name: Some(who.into()),
                email: Some(format!("{who}@example.com")),
                account: None,
                verification: Verification::not_checked(),
            },
            at: "2026-11-26T12:00:00Z".into(),
            note: (verdict == Verdict::Rejected).then(|| "broken\n\ncheckout fails".to_owned()),
            commit: String::new(),
        }
    }

    fn promoted(tag: &str) -> ImageMap {
        [(
            "reg/a".to_owned(),
            ImageRef {
                tag: Some(tag.into()),
                digest: None,
            },
        )]
        .into()
    }

    fn qa(count: u32) -> Vec<RequiredApproval> {
        vec![RequiredApproval {
            id: "qa".into(),
            environment: "staging".into(),
            count,
            reason: String::new(),
            verified: false,
        }]
    }

    fn signed(mut r: ApprovalRecord) -> ApprovalRecord {
        r.by.verification = Verification::Verified {
            method: "ssh",
            identity: r.by.email.clone().unwrap(),
            key: "SHA256:test".into(),
        };
        r
    }

    #[test]
    fn where_verified_approvals_are_required_unverified_ones_are_as_if_not_given() {
        let mut required = qa(1);
        required[0].verified = true;
        let unsigned = rec("v1", "qa", Verdict::Approved, "ana", "v1");
        let c = check_required(
            &required,
            "v1",
            &promoted("v1"),
            std::slice::from_ref(&unsigned),
            None,
        );
        assert!(!c.is_met());
        assert_eq!(
            c.missing[0].unverified,
            ["ana <ana@example.com> (not verified: not checked)"]
        );
        assert!(
            c.missing[0]
                .describe()
                .contains("only verified approvals count here"),
            "{}",
            c.missing[0].describe()
        );
        let ok = signed(rec("v1", "qa", Verdict::Approved, "ana", "v1"));
        assert!(
            check_required(
                &required,
                "v1",
                &promoted("v1"),
                std::slice::from_ref(&ok),
                None
            )
            .is_met()
        );
        assert!(
            check_required(
                &qa(1),
                "v1",
                &promoted("v1"),
                std::slice::from_ref(&unsigned),
                None
            )
            .is_met(),
            "counted where verification is not required"
        );
        // An unverified approval does not lift a rejection; an unverified rejection still counts.
        let rejected = rec("v1", "qa", Verdict::Rejected, "bob", "v1");
        let c = check_required(
            &required,
            "v1",
            &promoted("v1"),
            &[ok.clone(), rejected.clone(), unsigned],
            None,
        );
        assert!(c.missing[0].rejected.is_some(), "{c:?}");
        let c = check_required(&required, "v1", &promoted("v1"), &[ok, rejected], None);
        assert!(!c.is_met());
        // Pull-request reviews are verified by the forge.
        let reviews = [RoleApproval {
            role: "qa".into(),
            login: "ana".into(),
        }];
        let pr = PrApprovals {
            environment: "staging",
            forge: ForgeKind::GitHub,
            approvals: &reviews,
        };
        assert!(check_required(&required, "v1", &promoted("v1"), &[], Some(pr)).is_met());
    }

    #[test]
    fn records_are_judged_by_who_they_are_from() {
        let approvers: BTreeMap<String, Vec<String>> = [(
            "qa".to_owned(),
            vec!["qa@example.com".to_owned(), "github:qa-bot".to_owned()],
        )]
        .into();
        let mut r = rec("v1", "qa", Verdict::Approved, "qa", "v1");
        assert!(listed(&approvers, &r), "an e-mail entry");
        r.by.email = Some("mallory@example.com".into());
        assert!(!listed(&approvers, &r));
        r.by.account = Some("github:QA-bot".into());
        assert!(listed(&approvers, &r), "an account entry");
        r.by.account = Some("gitlab:qa-bot".into());
        assert!(!listed(&approvers, &r), "another forge's account");
        // A verified record is judged by the identity its signature proved, not its claims.
        r.by.email = Some("qa@example.com".into());
        r.by.verification = Verification::Verified {
            method: "ssh",
            identity: "mallory@example.com".into(),
            key: "k".into(),
        };
        assert!(!listed(&approvers, &r));
        r.role = "pm".into();
        r.by.verification = Verification::not_checked();
        assert!(!listed(&approvers, &r), "a role nobody may approve for");
    }

    #[test]
    fn a_record_round_trips_through_its_commit_message() {
        for verdict in [Verdict::Approved, Verdict::Rejected, Verdict::Revoked] {
            let mut r = rec("v1.0.1", "qa", verdict, "ana", "v1.0.1");
            r.by.account = Some("github:ana".into());
            let msg = record_message(&r);
            assert_eq!(parse_record(&msg), Some(Ok(r.clone())), "{msg}");
            assert!(
                !msg.contains("Verified"),
                "nothing a reader would believe: {msg}"
            );
        }
        // A `Promote-By-Verified: true` trailer (hand-written, or from an older version) is
        // not believed: whether a record is verified is computed when it is read.
        let forged = format!(
            "{}Promote-By-Verified: true\n",
            record_message(&rec("v1", "qa", Verdict::Approved, "ana", "v1"))
        );
        let parsed = parse_record(&forged).unwrap().unwrap();
        assert!(!parsed.by.verified());
        assert_eq!(parsed.by.verification, Verification::not_checked());
        assert_eq!(
            parse_record("promote prod to v1\n\nPromote-Environment: prod\n"),
            None
        );
        assert!(matches!(
            parse_record("x\n\nPromote-Verdict: maybe\n"),
            Some(Err(_))
        ));
    }

    #[test]
    fn a_later_rejection_wins_and_a_later_approval_lifts_it() {
        let mut records = vec![
            rec("v1.0.2", "qa", Verdict::Approved, "ana", "v1.0.2"),
            rec("v1.0.2", "qa", Verdict::Rejected, "bob", "v1.0.2"),
        ];
        let c = check_required(&qa(1), "v1.0.2", &promoted("v1.0.2"), &records, None);
        assert!(!c.is_met());
        assert!(c.missing[0].rejected.is_some());
        assert!(
            c.missing[0].describe().contains("rejected by bob"),
            "{}",
            c.missing[0].describe()
        );
        assert_eq!(
            in_force(&records, "staging", "v1.0.2", "qa")
                .unwrap()
                .verdict,
            Verdict::Rejected
        );
        records.push(rec("v1.0.2", "qa", Verdict::Approved, "ana", "v1.0.2"));
        assert!(check_required(&qa(1), "v1.0.2", &promoted("v1.0.2"), &records, None).is_met());
    }

    #[test]
    fn a_revocation_clears_earlier_approvals() {
        let records = vec![
            rec("v1", "qa", Verdict::Approved, "ana", "v1"),
            rec("v1", "qa", Verdict::Revoked, "ana", "v1"),
        ];
        let c = check_required(&qa(1), "v1", &promoted("v1"), &records, None);
        assert!(!c.is_met());
        assert!(c.missing[0].rejected.is_none() && c.missing[0].approved_by.is_empty());
    }

    #[test]
    fn counts_distinct_approvers_and_pull_request_reviews() {
        let records = vec![
            rec("v1", "qa", Verdict::Approved, "ana", "v1"),
            rec("v1", "qa", Verdict::Approved, "ana", "v1"),
        ];
        let c = check_required(&qa(2), "v1", &promoted("v1"), &records, None);
        assert_eq!(c.missing[0].approved_by.len(), 1, "one person counts once");
        let reviews = [RoleApproval {
            role: "qa".into(),
            login: "bob".into(),
        }];
        let pr = PrApprovals {
            environment: "staging",
            forge: ForgeKind::GitHub,
            approvals: &reviews,
        };
        assert!(check_required(&qa(2), "v1", &promoted("v1"), &records, Some(pr)).is_met());
        let other_env = PrApprovals {
            environment: "prod",
            ..pr
        };
        assert!(!check_required(&qa(2), "v1", &promoted("v1"), &records, Some(other_env)).is_met());
    }

    #[test]
    fn approvals_bind_to_the_images() {
        let records = vec![rec("v1", "qa", Verdict::Approved, "ana", "v1")];
        let mut other_digest = promoted("v1");
        other_digest.get_mut("reg/a").unwrap().digest = Some(format!("sha256:{}", "b".repeat(64)));
        let c = check_required(&qa(1), "v1", &other_digest, &records, None);
        assert!(!c.is_met());
        assert_eq!(c.missing[0].other_images.len(), 1);
        let mut more = promoted("v1");
        more.insert("reg/b".into(), ImageRef::tag("v1"));
        assert!(
            !covers(&records[0].images, &more),
            "an image the approval did not see is not covered"
        );
        assert!(check_required(&qa(1), "v1", &promoted("v1"), &records, None).is_met());
        assert!(
            !check_required(&qa(1), "v2", &promoted("v2"), &records, None).is_met(),
            "another version"
        );
    }

    #[test]
    fn who_may_approve() {
        let git = Identity::Git(Person {
            name: "Q".into(),
            email: "QA@example.com".into(),
        });
        assert!(entry_matches("qa@example.com", &git));
        assert!(!entry_matches("github:qa", &git));
        let gh = Identity::Forge {
            kind: ForgeKind::GitHub,
            user: ForgeUser {
                login: "Alice".into(),
                id: None,
                name: None,
                email: Some("alice@example.com".into()),
            },
        };
        assert!(entry_matches("github:alice", &gh));
        assert!(entry_matches("alice", &gh));
        assert!(entry_matches("alice@example.com", &gh));
        assert!(!entry_matches("gitlab:alice", &gh));
        assert!(
            !entry_matches("github:acme/alice", &gh),
            "teams are not matched"
        );
        assert_eq!(gh.approver().account.as_deref(), Some("github:Alice"));
    }
}
