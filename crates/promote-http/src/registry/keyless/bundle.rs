//! The keyless signature of a Sigstore bundle among the digest's referrers, as `cosign sign
//! --new-bundle-format` writes it: a DSSE envelope over an in-toto statement (predicate
//! `https://sigstore.dev/cosign/sign/v1`, subject this digest), the leaf certificate in
//! `verificationMaterial.certificate` (v0.3; `x509CertificateChain`'s first certificate in
//! older bundles) and the Rekor entry in `verificationMaterial.tlogEntries[0]`: its
//! canonicalized body, integrated time, log index and ID, the signed entry timestamp
//! (`inclusionPromise`) and, where present, the inclusion proof with its checkpoint. The entry
//! must be a `dsse` (or `intoto`) entry of this payload, signature and certificate.

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use promote_core::supply_chain::SignatureFact;

use super::{Content, Leaf, Root, judge, pem_der, unverified};
use crate::registry::payload::{COSIGN_SIGN, about, envelope_signatures, in_toto, predicate_type};
use crate::registry::tlog::{Entry, InclusionProof};

/// Transparency-log entries read from one bundle (cosign writes one).
const MAX_ENTRIES: usize = 8;
/// Signatures read from one envelope.
const MAX_SIGNATURES: usize = 8;

/// The fact for a keyless bundle's `envelope` and verification `material`, about the digest
/// `sha256:<hex>`.
pub(in crate::registry) fn verify(
    roots: &[Root],
    envelope: &Value,
    material: &Value,
    hex: &str,
) -> SignatureFact {
    let leaf = match leaf(material) {
        Ok(l) => l,
        Err(why) => return unverified(None, why),
    };
    let entry = match entry(material) {
        Ok(e) => e,
        Err(why) => return unverified(None, why),
    };
    let content = content(&leaf, &entry, envelope, hex);
    judge(roots, &leaf, &entry, content)
}

fn b64(v: Option<&Value>) -> Option<Vec<u8>> {
    v.and_then(Value::as_str)
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
}

/// A protobuf int64 in JSON: a string, or a number.
fn int(v: Option<&Value>) -> Option<i64> {
    v.and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
}

fn leaf(material: &Value) -> Result<Leaf, String> {
    let der = b64(material.pointer("/certificate/rawBytes"))
        .or_else(|| b64(material.pointer("/x509CertificateChain/certificates/0/rawBytes")))
        .ok_or("a keyless bundle without its certificate")?;
    Leaf::from_der(der)
}

/// The bundle's first transparency-log entry.
fn entry(material: &Value) -> Result<Entry, String> {
    let entries = material
        .get("tlogEntries")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty() && e.len() <= MAX_ENTRIES)
        .ok_or("a keyless bundle without a Rekor entry: its signing time cannot be checked")?;
    let e = &entries[0];
    let bad = |what: &str| format!("its Rekor entry has no valid {what}");
    let set = b64(e.pointer("/inclusionPromise/signedEntryTimestamp")).ok_or(
        "its Rekor entry has no signed entry timestamp (an entry proven only by a timestamp authority is not verified)",
    )?;
    let proof = match e.get("inclusionProof") {
        None | Some(Value::Null) => None,
        Some(p) => Some(inclusion_proof(p).ok_or_else(|| bad("inclusionProof"))?),
    };
    Ok(Entry {
        body: b64(e.get("canonicalizedBody")).ok_or_else(|| bad("canonicalizedBody"))?,
        integrated_time: int(e.get("integratedTime")).ok_or_else(|| bad("integratedTime"))?,
        log_index: int(e.get("logIndex")).ok_or_else(|| bad("logIndex"))?,
        log_id: b64(e.pointer("/logId/keyId")).ok_or_else(|| bad("logId"))?,
        set,
        proof,
    })
}

fn inclusion_proof(p: &Value) -> Option<InclusionProof> {
    Some(InclusionProof {
        log_index: u64::try_from(int(p.get("logIndex"))?).ok()?,
        tree_size: u64::try_from(int(p.get("treeSize"))?).ok()?,
        root_hash: b64(p.get("rootHash"))?,
        hashes: p
            .get("hashes")?
            .as_array()?
            .iter()
            .map(|h| b64(Some(h)))
            .collect::<Option<Vec<_>>>()?,
        checkpoint: p.pointer("/checkpoint/envelope")?.as_str()?.to_owned(),
    })
}

/// The leaf signed the envelope, the entry is about that signature, and the statement is a
/// cosign signature of this digest.
fn content(leaf: &Leaf, entry: &Entry, envelope: &Value, hex: &str) -> Content {
    let (payload, message) = in_toto(envelope)?;
    let signature = envelope_signatures(envelope)
        .take(MAX_SIGNATURES)
        .filter_map(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .find(|sig| leaf.verify(sig, &message).is_ok())
        .ok_or("its envelope is not signed by its certificate's key")?;
    logged(&entry.body, &payload, &signature, &leaf.der)?;
    let statement: Value =
        serde_json::from_slice(&payload).map_err(|_| "its statement is not JSON".to_owned())?;
    let predicate = predicate_type(&statement);
    if predicate != COSIGN_SIGN || !about(&statement, hex) {
        return Err(format!(
            "its statement is about another digest or predicate ({predicate})"
        ));
    }
    Ok(())
}

/// The entry is a `dsse` (0.0.1) or `intoto` (0.0.2) entry of this payload, signature and
/// certificate. (The envelope hash is not compared: it depends on how the envelope was
/// serialized when it was logged; the payload hash and the signature pin the content.)
fn logged(body: &[u8], payload: &[u8], signature: &[u8], leaf: &[u8]) -> Result<(), String> {
    let body: Value =
        serde_json::from_slice(body).map_err(|_| "its Rekor entry body is not JSON".to_owned())?;
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
    let spec = body.get("spec").unwrap_or(&Value::Null);
    let (hash, signatures, sig_field, key_field) = match kind {
        "dsse" => (
            spec.get("payloadHash"),
            spec.get("signatures"),
            "signature",
            "verifier",
        ),
        "intoto" => (
            spec.pointer("/content/payloadHash"),
            spec.pointer("/content/envelope/signatures"),
            "sig",
            "publicKey",
        ),
        _ => {
            return Err(format!(
                "its Rekor entry is a `{kind}`, not a dsse entry of this envelope"
            ));
        }
    };
    let hash = hash.unwrap_or(&Value::Null);
    if hash.get("algorithm").and_then(Value::as_str) != Some("sha256")
        || hash.get("value").and_then(Value::as_str)
            != Some(hex::encode(Sha256::digest(payload)).as_str())
    {
        return Err("its Rekor entry is about another payload".into());
    }
    let ours = |s: &Value| {
        // intoto 0.0.2 keeps the envelope's base64 signature base64-encoded once more.
        let sig = b64(s.get(sig_field));
        let sig_ok = sig.as_deref() == Some(signature)
            || sig
                .and_then(|once| base64::engine::general_purpose::STANDARD.decode(once).ok())
                .as_deref()
                == Some(signature);
        let key_ok = b64(s.get(key_field))
            .and_then(|pem| pem_der(&pem))
            .as_deref()
            == Some(leaf);
        sig_ok && key_ok
    };
    let listed = signatures
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(MAX_SIGNATURES)
        .any(ours);
    if !listed {
        return Err("its Rekor entry holds another signature or certificate".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{ISSUER, SUBJECT};
    use super::*;

    /// Made by `tests/keyless-signer -bundle` (see testdata/keyless/README.md).
    const BUNDLE: &str = include_str!("../testdata/keyless-bundle/bundle.json");
    const ROOT: &str = include_str!("../testdata/keyless-bundle/trusted_root.json");

    fn hex() -> String {
        "a".repeat(64)
    }

    fn trust(subject: &str) -> Vec<Root> {
        super::super::fixture::trust(ISSUER, subject, ROOT)
    }

    /// The fact for the fixture after `edit`.
    fn run(subject: &str, edit: impl FnOnce(&mut Value), hex: &str) -> SignatureFact {
        let mut b: Value = serde_json::from_str(BUNDLE).unwrap();
        edit(&mut b);
        verify(
            &trust(subject),
            &b["dsseEnvelope"],
            &b["verificationMaterial"],
            hex,
        )
    }

    #[test]
    fn the_generated_bundle_verifies_with_its_inclusion_proof() {
        let fact = run(SUBJECT, |_| {}, &hex());
        assert_eq!(fact.reason, None);
        assert!(fact.verified);
        assert_eq!(fact.identity.unwrap().subject, SUBJECT);
    }

    #[test]
    fn another_identity_or_digest_does_not_count() {
        let why = run("https://github.com/acme/other", |_| {}, &hex())
            .reason
            .unwrap();
        assert!(why.contains("not a trusted identity"), "{why}");
        let why = run(SUBJECT, |_| {}, &"b".repeat(64)).reason.unwrap();
        assert!(why.contains("another digest or predicate"), "{why}");
    }

    #[test]
    fn a_tampered_proof_checkpoint_or_set_is_refused() {
        let proof = "/verificationMaterial/tlogEntries/0/inclusionProof";
        let why = run(
            SUBJECT,
            |b| {
                let hashes = b.pointer_mut(&format!("{proof}/hashes")).unwrap();
                hashes[0] = hashes[1].clone();
            },
            &hex(),
        )
        .reason
        .unwrap();
        assert!(why.contains("inclusion proof does not lead"), "{why}");
        let why = run(
            SUBJECT,
            |b| {
                let note = b
                    .pointer_mut(&format!("{proof}/checkpoint/envelope"))
                    .unwrap();
                *note = note.as_str().unwrap().replacen("\n7\n", "\n8\n", 1).into();
            },
            &hex(),
        )
        .reason
        .unwrap();
        assert!(why.contains("checkpoint is not signed"), "{why}");
        let why = run(
            SUBJECT,
            |b| {
                b["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = "1".into();
            },
            &hex(),
        )
        .reason
        .unwrap();
        assert!(why.contains("outside the log key's validity"), "{why}");
    }

    #[test]
    fn an_envelope_signed_by_another_key_or_not_logged_is_refused() {
        let why = run(
            SUBJECT,
            |b| {
                b["dsseEnvelope"]["signatures"][0]["sig"] = "AAAA".into();
            },
            &hex(),
        )
        .reason
        .unwrap();
        assert!(why.contains("not signed by its certificate's key"), "{why}");
        let why = run(
            SUBJECT,
            |b| {
                b["verificationMaterial"]["tlogEntries"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("inclusionPromise");
            },
            &hex(),
        )
        .reason
        .unwrap();
        assert!(why.contains("no signed entry timestamp"), "{why}");
    }
}

/// Interop with the public Sigstore: real bundles (GitHub Actions and email identities, Fulcio's
/// P-384 CA, Rekor's key, `intoto` entries, a real inclusion proof and checkpoint) and the
/// public-good trusted root, read from sigstore-go's test data in the Go module cache (cosign,
/// which `scripts/go-tools.sh` builds, depends on it). They are npm provenance, not image
/// signatures, so everything is checked up to the predicate, which must be the only complaint.
#[cfg(test)]
mod public_good {
    use super::*;
    use std::path::PathBuf;

    /// `<GOMODCACHE>/github.com/sigstore/sigstore-go@<version>`, the newest there.
    fn sigstore_go() -> PathBuf {
        let out = std::process::Command::new("go")
            .args(["env", "GOMODCACHE"])
            .output()
            .expect("these tests read sigstore-go's test data from the Go module cache: install Go and run scripts/go-tools.sh");
        let cache = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        let dir = cache.join("github.com/sigstore");
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run scripts/go-tools.sh (cosign brings sigstore-go)",
                    dir.display()
                )
            })
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("sigstore-go@")
            })
            .collect();
        found.sort();
        found
            .pop()
            .expect("no sigstore-go in the Go module cache: run scripts/go-tools.sh")
    }

    #[test]
    fn public_good_bundles_verify_up_to_their_predicate() {
        let m = sigstore_go();
        let root_json = std::fs::read(m.join("examples/trusted-root-public-good.json")).unwrap();
        let root = crate::registry::trusted_root::parse("public-good.json", &root_json).unwrap();
        let mut proofs = 0;
        for (file, subject) in [
            (
                "examples/bundle-provenance.json",
                "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main",
            ),
            (
                "pkg/testing/data/bundles/sigstore.js@2.0.0-provenance.sigstore.json",
                "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main",
            ),
            (
                "pkg/testing/data/bundles/dsse.sigstore.json",
                "brian@dehamer.com",
            ),
        ] {
            let b: Value = serde_json::from_slice(&std::fs::read(m.join(file)).unwrap()).unwrap();
            let material = &b["verificationMaterial"];
            let leaf = leaf(material).unwrap();
            let entry = entry(material).unwrap();
            proofs += usize::from(entry.proof.is_some());
            crate::registry::tlog::verify(&root, &entry).unwrap_or_else(|e| panic!("{file}: {e}"));
            super::super::chain(&root, &leaf.der, entry.integrated_time)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(
                super::super::identity_of(&leaf.cert).unwrap().subject,
                subject
            );
            let why = content(&leaf, &entry, &b["dsseEnvelope"], &"a".repeat(64)).unwrap_err();
            assert!(why.starts_with("its statement is about another digest or predicate (https://slsa.dev/provenance/"), "{file}: {why}");
        }
        assert_eq!(
            proofs, 1,
            "one of them carries an inclusion proof and checkpoint"
        );
    }

    /// A username identity (an otherName SAN) from sigstore's scaffolding instance, with a
    /// `hashedrekord` entry, an inclusion proof and a checkpoint.
    #[test]
    fn a_username_identity_is_read_from_its_other_name() {
        let m = sigstore_go().join("pkg/testing/data");
        let root_json = std::fs::read(m.join("trusted-roots/scaffolding.json")).unwrap();
        let root = crate::registry::trusted_root::parse("scaffolding.json", &root_json).unwrap();
        let bytes = std::fs::read(m.join("bundles/othername.sigstore.json")).unwrap();
        let b: Value = serde_json::from_slice(&bytes).unwrap();
        let material = &b["verificationMaterial"];
        let leaf = leaf(material).unwrap();
        let entry = entry(material).unwrap();
        assert!(entry.proof.is_some());
        crate::registry::tlog::verify(&root, &entry).unwrap();
        super::super::chain(&root, &leaf.der, entry.integrated_time).unwrap();
        let id = super::super::identity_of(&leaf.cert).unwrap();
        assert_eq!(id.issuer, "http://oidc.local:8080");
        assert_eq!(id.subject, "foo!oidc.local");
    }
}
