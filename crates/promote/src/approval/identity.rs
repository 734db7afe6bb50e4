//! Who is recording, and who may: the identity of this run (the forge account behind the
//! token, else git config) and the `approvers` entries that name an identity or a record.

use std::collections::BTreeMap;

use promote_core::Person;
use promote_core::forge::{Forge, ForgeKind, ForgeUser};

use super::record::{ApprovalRecord, Approver, Verification};
use crate::{PromoteError, Session};

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
pub(super) fn listed(approvers: &BTreeMap<String, Vec<String>>, r: &ApprovalRecord) -> bool {
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

#[cfg(test)]
mod tests {
    use super::super::record::Verdict;
    use super::super::record::tests::rec;
    use super::*;

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
