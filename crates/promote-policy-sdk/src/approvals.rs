//! Which approval records are in force.
//!
//! The request lists records in time order; a later record replaces an earlier one for the same
//! key, so a rejection or revocation after an approval wins. The contract's key is
//! (environment, version, role); counting N distinct approvers additionally keys by approver.

use crate::ApprovalRecord;

/// The record in force for (environment, version, role): the last one in the list.
pub fn latest_approval<'a>(
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

/// The record in force per approver for (environment, version, role), in order of each
/// approver's first appearance. Approvers are told apart by [`approver_key`].
pub fn latest_per_approver<'a>(
    records: &'a [ApprovalRecord],
    environment: &str,
    version: &str,
    role: &str,
) -> Vec<&'a ApprovalRecord> {
    let mut latest: Vec<(String, &'a ApprovalRecord)> = Vec::new();
    for record in records
        .iter()
        .filter(|r| r.environment == environment && r.version == version && r.role == role)
    {
        let key = approver_key(record);
        match latest.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = record,
            None => latest.push((key, record)),
        }
    }
    latest.into_iter().map(|(_, r)| r).collect()
}

/// How approvers are told apart: the lower-cased e-mail, else the name, else `"<unknown>"`.
pub fn approver_key(record: &ApprovalRecord) -> String {
    match (&record.by.email, &record.by.name) {
        (Some(email), _) if !email.is_empty() => email.to_lowercase(),
        (_, Some(name)) if !name.is_empty() => name.clone(),
        _ => "<unknown>".to_owned(),
    }
}
