//! An approval record: what it says, who it claims to be by, and its commit message (an empty
//! commit on the approvals branch whose trailers are the record). Nothing here believes a record:
//! `verified` is computed when records are read ([`super::read`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use promote_core::Person;
use promote_core::image::ImageRef;
use promote_core::trailers::{self, Trailers};

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
    pub(super) fn identities(&self) -> Vec<String> {
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
    pub(super) fn unverified(reason: impl Into<String>) -> Verification {
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
    /// The app (promote.yaml `apps:`) the verdict is about: it counts for that app only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    pub by: Approver,
    /// RFC 3339, UTC.
    pub at: String,
    /// `-m`: a note, or the reason of a rejection.
    pub note: Option<String>,
    /// The record's commit on the approvals branch (empty for a record not read from git).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub commit: String,
}

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
    if let Some(app) = &r.app {
        t.push(trailers::APP, app);
    }
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
            app: t.get(trailers::APP).map(str::to_owned),
            by,
            at: need(AT)?,
            note,
            commit: String::new(),
        })
    })())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn rec(
        version: &str,
        role: &str,
        verdict: Verdict,
        who: &str,
        tag: &str,
    ) -> ApprovalRecord {
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
            app: None,
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
}
