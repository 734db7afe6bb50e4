//! Decisions over records: the record in force, which required approvals are met (records and
//! pull-request reviews), and what `status` shows per version and role. Pure: no git, no I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use promote_core::forge::{ForgeKind, RoleApproval};
use promote_core::image::{ImageMap, ImageRef};

use super::read::{IgnoredRecord, Records};
use super::record::{ApprovalRecord, Approver, Verdict};

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
/// promotes, unless a rejection is in force; one that counts through an e-mail entry of
/// `approvers` (the e-mail the forge shows for the account, which its holder set) is not
/// verified.
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
                let shown = match &a.email {
                    // Counted through the e-mail the forge shows for the account: what its
                    // holder set, so not a verified approval.
                    Some(email) if req.verified => {
                        unverified.insert(format!(
                            "{account} <{email}> (e-mail as shown by {})",
                            pr.forge
                        ));
                        continue;
                    }
                    Some(email) => format!(
                        "{account} <{email}> (pull request review; e-mail as shown by {})",
                        pr.forge
                    ),
                    None => format!("{account} (pull request review)"),
                };
                if !counted.iter().any(|(k, _)| *k == key) {
                    counted.push((key, shown));
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
    use super::super::record::Verification;
    use super::super::record::tests::rec;
    use super::*;

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
            email: None,
        }];
        let pr = PrApprovals {
            environment: "staging",
            forge: ForgeKind::GitHub,
            approvals: &reviews,
        };
        assert!(check_required(&required, "v1", &promoted("v1"), &[], Some(pr)).is_met());
        // One counted through the e-mail the forge shows for the account is not: its holder set
        // that e-mail (testbed finding G1).
        let by_email = [RoleApproval {
            email: Some("qa@example.com".into()),
            ..reviews[0].clone()
        }];
        let pr = PrApprovals {
            approvals: &by_email,
            ..pr
        };
        let c = check_required(&required, "v1", &promoted("v1"), &[], Some(pr));
        assert!(!c.is_met());
        assert_eq!(
            c.missing[0].unverified,
            ["github:ana <qa@example.com> (e-mail as shown by GitHub)"]
        );
        assert_eq!(
            check_required(&qa(1), "v1", &promoted("v1"), &[], Some(pr)).met[0].approved_by,
            ["github:ana <qa@example.com> (pull request review; e-mail as shown by GitHub)"]
        );
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
            email: None,
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
}
