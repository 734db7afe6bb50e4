//! The transparency-log evidence of a keyless signature, checked offline against the trusted
//! root's Rekor keys: the signed entry timestamp (SET: the log's signature over the canonical
//! JSON of `{body, integratedTime, logID, logIndex}`, which is what makes the integrated time
//! a trustworthy signing time) and, where the evidence carries one, an RFC 6962/9162 inclusion
//! proof (the audit path from the entry's leaf hash to a root hash) and its checkpoint (a
//! signed note naming that root hash and tree size, signed by the same log key).
//!
//! The signature math is sigstore-rs's (`CosignVerificationKey`); the hashing is `sha2`'s.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use sigstore::crypto::Signature;

use super::trusted_root::{Log, TrustedRoot};

/// One log entry as a cosign bundle annotation or a Sigstore bundle carries it.
#[derive(Debug)]
pub(super) struct Entry {
    /// The entry body (canonical JSON), decoded.
    pub body: Vec<u8>,
    pub integrated_time: i64,
    pub log_index: i64,
    pub log_id: Vec<u8>,
    /// The SET (DER ECDSA), decoded.
    pub set: Vec<u8>,
    pub proof: Option<InclusionProof>,
}

/// An inclusion proof with its checkpoint.
#[derive(Debug)]
pub(super) struct InclusionProof {
    pub log_index: u64,
    pub tree_size: u64,
    pub root_hash: Vec<u8>,
    pub hashes: Vec<Vec<u8>>,
    /// The signed note, as served.
    pub checkpoint: String,
}

/// A proof deeper than this is not from a log of this universe (2^64 leaves).
const MAX_PATH: usize = 64;

/// The log of `root` that vouches for `entry`: its SET verifies under that log's key, the log
/// was valid at the integrated time, and the inclusion proof (if any) holds (`Err`: why not).
pub(super) fn verify<'r>(root: &'r TrustedRoot, entry: &Entry) -> Result<&'r Log, String> {
    let log = root
        .logs
        .iter()
        .find(|l| l.id == entry.log_id)
        .ok_or_else(|| {
            format!(
                "its Rekor entry is from log {}, which the trusted root {} does not list",
                hex::encode(&entry.log_id),
                root.path
            )
        })?;
    if !log.valid.contains(entry.integrated_time) {
        return Err(format!(
            "its Rekor entry's integrated time {} is outside the log key's validity in {}",
            entry.integrated_time, root.path
        ));
    }
    let canonical = canonical_payload(entry);
    log.key
        .verify_signature(Signature::Raw(&entry.set), canonical.as_bytes())
        .map_err(|_| {
            format!(
                "its Rekor signed entry timestamp does not verify with the log key in {}",
                root.path
            )
        })?;
    if let Some(proof) = &entry.proof {
        inclusion(log, &entry.body, proof)?;
    }
    Ok(log)
}

/// What a SET signs: canonical JSON (sorted keys, no spaces) of the entry's payload.
fn canonical_payload(entry: &Entry) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(&entry.body);
    // Base64 and hex need no JSON escaping; the keys are in canonical (sorted) order.
    format!(
        r#"{{"body":"{b64}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
        entry.integrated_time,
        hex::encode(&entry.log_id),
        entry.log_index
    )
}

fn leaf_hash(body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(body);
    h.finalize().into()
}

fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// RFC 9162 §2.1.3.2: the root hash an audit path leads to from leaf `index` of `size`.
fn root_from_path(index: u64, size: u64, leaf: [u8; 32], path: &[Vec<u8>]) -> Option<[u8; 32]> {
    if index >= size || path.len() > MAX_PATH {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in path {
        if p.len() != 32 || s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

/// The inclusion proof leads from the body's leaf to its root hash, and a checkpoint signed by
/// `log` names that root hash and tree size.
fn inclusion(log: &Log, body: &[u8], proof: &InclusionProof) -> Result<(), String> {
    let root = root_from_path(
        proof.log_index,
        proof.tree_size,
        leaf_hash(body),
        &proof.hashes,
    );
    if root.as_ref().map(|r| r.as_slice()) != Some(proof.root_hash.as_slice()) {
        return Err("its Rekor inclusion proof does not lead to the proof's root hash".into());
    }
    let (size, hash) = checkpoint(log, &proof.checkpoint)?;
    if size != proof.tree_size || hash != proof.root_hash {
        return Err(
            "its Rekor checkpoint names another tree size or root hash than the inclusion proof"
                .into(),
        );
    }
    Ok(())
}

/// A checkpoint's tree size and root hash, when `log`'s key signed it (a signed note: the text
/// `origin\nsize\nbase64(root)\n[more lines]\n`, a blank line, then `— name base64(hint‖sig)`
/// lines; the hint is the first 4 bytes of the sha256 of the key's DER).
fn checkpoint(log: &Log, note: &str) -> Result<(u64, Vec<u8>), String> {
    let bad = |what: &str| format!("its Rekor checkpoint {what}");
    let (text, signatures) = note
        .split_once("\n\n")
        .ok_or_else(|| bad("is not a signed note"))?;
    let text = format!("{text}\n");
    let mut lines = text.lines();
    let (_origin, size, hash) = (lines.next(), lines.next(), lines.next());
    let size = size
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| bad("has no tree size"))?;
    let hash = hash
        .and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok())
        .ok_or_else(|| bad("has no root hash"))?;
    let hint: [u8; 4] = Sha256::digest(&log.key_der)[..4]
        .try_into()
        .map_err(|_| bad("key hint"))?;
    let signed = signatures
        .lines()
        .take(MAX_PATH)
        .filter_map(|l| l.strip_prefix("\u{2014} "))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(_, sig)| base64::engine::general_purpose::STANDARD.decode(sig).ok())
        .filter(|sig| sig.len() > 4 && sig[..4] == hint)
        .any(|sig| {
            log.key
                .verify_signature(Signature::Raw(&sig[4..]), text.as_bytes())
                .is_ok()
        });
    if !signed {
        return Err(bad("is not signed by the log key"));
    }
    Ok((size, hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Made by `tests/keyless-signer -proof`: the entry at index 3 of a 7-leaf tree.
    const PROOF: &str = include_str!("testdata/keyless/proof.json");
    const ROOT: &str = include_str!("testdata/keyless/trusted_root.json");

    fn b64(v: &Value) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    }

    fn fixture() -> (TrustedRoot, Vec<u8>, InclusionProof) {
        let root = super::super::trusted_root::parse("root.json", ROOT.as_bytes()).unwrap();
        let p: Value = serde_json::from_str(PROOF).unwrap();
        let body = b64(&p["canonicalizedBody"]);
        let ip = &p["inclusionProof"];
        let proof = InclusionProof {
            log_index: ip["logIndex"].as_str().unwrap().parse().unwrap(),
            tree_size: ip["treeSize"].as_str().unwrap().parse().unwrap(),
            root_hash: b64(&ip["rootHash"]),
            hashes: ip["hashes"].as_array().unwrap().iter().map(b64).collect(),
            checkpoint: ip["checkpoint"]["envelope"].as_str().unwrap().to_owned(),
        };
        (root, body, proof)
    }

    #[test]
    fn a_generated_inclusion_proof_and_checkpoint_verify() {
        let (root, body, proof) = fixture();
        assert_eq!(proof.hashes.len(), 3);
        inclusion(&root.logs[0], &body, &proof).unwrap();
    }

    #[test]
    fn a_tampered_proof_or_checkpoint_is_refused() {
        let (root, body, mut proof) = fixture();
        let mut other = body.clone();
        other.push(b' ');
        assert!(
            inclusion(&root.logs[0], &other, &proof)
                .unwrap_err()
                .contains("does not lead")
        );
        proof.hashes[1][0] ^= 1;
        assert!(
            inclusion(&root.logs[0], &body, &proof)
                .unwrap_err()
                .contains("does not lead")
        );
        let (_, _, mut proof) = fixture();
        proof.checkpoint = proof.checkpoint.replacen("\n7\n", "\n8\n", 1);
        assert!(
            inclusion(&root.logs[0], &body, &proof)
                .unwrap_err()
                .contains("not signed by the log key")
        );
        let (_, _, mut proof) = fixture();
        proof.log_index = 2;
        assert!(inclusion(&root.logs[0], &body, &proof).is_err());
    }

    #[test]
    fn audit_paths_need_the_right_length() {
        let leaf = leaf_hash(b"x");
        assert_eq!(root_from_path(0, 1, leaf, &[]), Some(leaf));
        assert_eq!(root_from_path(0, 2, leaf, &[]), None);
        assert_eq!(root_from_path(1, 1, leaf, &[]), None);
        let other = leaf_hash(b"y");
        assert_eq!(
            root_from_path(1, 2, leaf, &[other.to_vec()]),
            Some(node_hash(&other, &leaf))
        );
    }
}
