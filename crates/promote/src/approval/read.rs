//! Reading the approvals branch: every record in time order, each checked against the base
//! tip's `approvers` (records by anyone else are set aside) and its signature checked against
//! `approverKeys` (`verified` is computed here, never taken from the record).

use serde::Serialize;

use promote_core::config::ConfigError;
use promote_git::CommitId;
use promote_git::signature::{Checked, Method, Signers};

use super::identity::listed;
use super::record::{ApprovalRecord, Approver, Verification, parse_record};
use crate::{Interaction, PromoteError, Session};

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
///
/// With `apps:`, a record counts for its app only: these are the records of the app the
/// session is scoped to (`--app`), or those that name no app.
pub fn list(session: &Session, ui: &dyn Interaction) -> Result<Records, PromoteError> {
    let app = session
        .config
        .environments
        .first()
        .and_then(|e| e.app.as_deref());
    list_for(session, app, ui)
}

/// [`list`] for app `app` (`None`: the records that name no app).
pub fn list_for(
    session: &Session,
    app: Option<&str>,
    ui: &dyn Interaction,
) -> Result<Records, PromoteError> {
    let Some(tip) = approvals_tip(session)? else {
        return Ok(Records::default());
    };
    let mut records = records_from(session, tip, ui)?;
    records.counted.retain(|r| r.app.as_deref() == app);
    records.ignored.retain(|i| i.record.app.as_deref() == app);
    Ok(records)
}

pub(super) fn records_from(
    session: &Session,
    tip: CommitId,
    ui: &dyn Interaction,
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
            Some(Err(why)) => ui.warn(&format!(
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
pub(super) struct Verifier<'s> {
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
    pub(super) fn new(session: &'s Session) -> Result<Verifier<'s>, PromoteError> {
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
            .cache_dir
            .as_ref()
            .map(|dir| dir.join("signatures").join(&signers.fingerprint()[..32]))
            .filter(|_| signers.time_independent());
        Ok(Verifier {
            session,
            signers: Some(signers),
            cache,
        })
    }

    pub(super) fn check(
        &self,
        commit: CommitId,
        by: &Approver,
    ) -> Result<Verification, PromoteError> {
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
