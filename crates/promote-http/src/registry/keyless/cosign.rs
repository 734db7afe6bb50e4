//! The keyless signature of a cosign `.sig` layer: the leaf certificate in
//! `dev.sigstore.cosign/certificate` (PEM; the chain in `dev.sigstore.cosign/chain` is not
//! used), the signature in `dev.cosignproject.cosign/signature` over the simple-signing payload
//! (the layer's blob), and the Rekor entry in `dev.sigstore.cosign/bundle` (its body,
//! integrated time, log index and log ID with the log's signed entry timestamp; cosign puts no
//! inclusion proof there). The entry must be a `hashedrekord` of this payload, signature and
//! certificate.

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use promote_core::supply_chain::SignatureFact;

use super::{Content, Leaf, Root, judge, pem_der, unverified};
use crate::registry::tlog::Entry;

pub(in crate::registry) const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// What a keyless `.sig` layer holds.
pub(in crate::registry) struct Layer<'a> {
    pub annotations: &'a serde_json::Map<String, Value>,
    /// The signature annotation (base64).
    pub signature: &'a str,
    pub payload: &'a [u8],
}

/// The fact for a keyless `.sig` layer of `digest`.
pub(in crate::registry) fn verify_layer(
    roots: &[Root],
    layer: &Layer<'_>,
    digest: &str,
) -> SignatureFact {
    let leaf = match leaf(layer.annotations) {
        Ok(l) => l,
        Err(why) => return unverified(None, why),
    };
    let entry = match entry(layer.annotations) {
        Ok(e) => e,
        Err(why) => return unverified(None, why),
    };
    let content = content(&leaf, &entry, layer, digest);
    judge(roots, &leaf, &entry, content)
}

fn leaf(annotations: &serde_json::Map<String, Value>) -> Result<Leaf, String> {
    let pem = annotations
        .get(CERTIFICATE_ANNOTATION)
        .and_then(Value::as_str)
        .ok_or("a keyless signature without its certificate")?;
    Leaf::from_der(pem_der(pem.as_bytes()).ok_or("its certificate is not PEM")?)
}

/// The Rekor entry of cosign's bundle annotation.
fn entry(annotations: &serde_json::Map<String, Value>) -> Result<Entry, String> {
    let bundle: Value = annotations
        .get(BUNDLE_ANNOTATION)
        .and_then(Value::as_str)
        .and_then(|b| serde_json::from_str(b).ok())
        .ok_or(
            "a keyless signature without a Rekor bundle (signed with --tlog-upload=false?): its signing time and transparency-log entry cannot be checked",
        )?;
    let bad = |what: &str| format!("its Rekor bundle has no valid {what}");
    let b64 = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
    };
    let p = bundle.get("Payload");
    Ok(Entry {
        body: b64(p.and_then(|p| p.get("body"))).ok_or_else(|| bad("body"))?,
        integrated_time: p
            .and_then(|p| p.get("integratedTime"))
            .and_then(Value::as_i64)
            .ok_or_else(|| bad("integratedTime"))?,
        log_index: p
            .and_then(|p| p.get("logIndex"))
            .and_then(Value::as_i64)
            .ok_or_else(|| bad("logIndex"))?,
        log_id: p
            .and_then(|p| p.get("logID"))
            .and_then(Value::as_str)
            .and_then(|s| hex::decode(s).ok())
            .ok_or_else(|| bad("logID"))?,
        set: b64(bundle.get("SignedEntryTimestamp")).ok_or_else(|| bad("SignedEntryTimestamp"))?,
        proof: None,
    })
}

/// The entry is about this signature, the leaf made it, and the payload names `digest`.
fn content(leaf: &Leaf, entry: &Entry, layer: &Layer<'_>, digest: &str) -> Content {
    let signature = base64::engine::general_purpose::STANDARD
        .decode(layer.signature.trim())
        .map_err(|_| "its signature is not base64".to_owned())?;
    hashed_rekord(&entry.body, layer.payload, &signature, &leaf.der)?;
    leaf.verify(&signature, layer.payload)?;
    let named = crate::registry::payload::signed_digest(layer.payload);
    if named.as_deref() != Some(digest) {
        return Err(format!(
            "its payload names {} instead of this digest",
            named.as_deref().unwrap_or("no digest")
        ));
    }
    Ok(())
}

/// The log entry is a `hashedrekord` of this payload, signature and certificate.
fn hashed_rekord(body: &[u8], payload: &[u8], signature: &[u8], leaf: &[u8]) -> Result<(), String> {
    let body: Value =
        serde_json::from_slice(body).map_err(|_| "its Rekor entry body is not JSON".to_owned())?;
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind != "hashedrekord" {
        return Err(format!(
            "its Rekor entry is a `{kind}`, not a hashedrekord of this signature"
        ));
    }
    let spec = body.get("spec").unwrap_or(&Value::Null);
    let hash_ok = spec.pointer("/data/hash/algorithm").and_then(Value::as_str) == Some("sha256")
        && spec.pointer("/data/hash/value").and_then(Value::as_str)
            == Some(hex::encode(Sha256::digest(payload)).as_str());
    let decode = |p: &str| {
        spec.pointer(p)
            .and_then(Value::as_str)
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
    };
    let sig_ok = decode("/signature/content").as_deref() == Some(signature);
    let cert_ok = decode("/signature/publicKey/content")
        .and_then(|pem| pem_der(&pem))
        .as_deref()
        == Some(leaf);
    match (hash_ok, sig_ok, cert_ok) {
        (true, true, true) => Ok(()),
        (false, _, _) => Err("its Rekor entry is about another payload".into()),
        _ => Err("its Rekor entry holds another signature or certificate".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{ISSUER, SUBJECT};
    use super::super::identity_of;
    use super::*;
    use promote_core::supply_chain::Identity;

    /// Made by `tests/keyless-signer` for `registry.test/shop/cart@sha256:aaaa…` (see
    /// testdata/keyless/README.md).
    const LAYER: &str = include_str!("../testdata/keyless/layer.json");
    const ROOT: &str = include_str!("../testdata/keyless/trusted_root.json");

    fn digest() -> String {
        format!("sha256:{}", "a".repeat(64))
    }

    fn trust(issuer: &str, subject: &str, root: &str) -> Vec<Root> {
        super::super::fixture::trust(issuer, subject, root)
    }

    /// The layer's annotations and payload, with `edit` applied to the annotations.
    fn layer(
        edit: impl FnOnce(&mut serde_json::Map<String, Value>),
    ) -> (serde_json::Map<String, Value>, Vec<u8>) {
        let l: Value = serde_json::from_str(LAYER).unwrap();
        let mut a = l["annotations"].as_object().unwrap().clone();
        edit(&mut a);
        let payload = base64::engine::general_purpose::STANDARD
            .decode(l["payload"].as_str().unwrap())
            .unwrap();
        (a, payload)
    }

    fn run(
        roots: &[Root],
        (a, payload): &(serde_json::Map<String, Value>, Vec<u8>),
        digest: &str,
    ) -> SignatureFact {
        let signature = a["dev.cosignproject.cosign/signature"]
            .as_str()
            .unwrap()
            .to_owned();
        verify_layer(
            roots,
            &Layer {
                annotations: a,
                signature: &signature,
                payload,
            },
            digest,
        )
    }

    #[test]
    fn the_right_identity_verifies() {
        let fact = run(&trust(ISSUER, SUBJECT, ROOT), &layer(|_| {}), &digest());
        assert_eq!(fact.reason, None);
        assert!(fact.verified);
        assert_eq!(fact.identity.unwrap().subject, SUBJECT);
    }

    #[test]
    fn another_identity_is_named() {
        let fact = run(
            &trust(ISSUER, "https://github.com/acme/other", ROOT),
            &layer(|_| {}),
            &digest(),
        );
        assert!(!fact.verified);
        let why = fact.reason.unwrap();
        assert!(
            why.contains(SUBJECT) && why.contains("not a trusted identity"),
            "{why}"
        );
        let fact = run(
            &trust("https://accounts.google.com", SUBJECT, ROOT),
            &layer(|_| {}),
            &digest(),
        );
        assert!(fact.reason.unwrap().contains(&format!("issuer {ISSUER}")));
    }

    #[test]
    fn another_digest_does_not_count() {
        let other = format!("sha256:{}", "b".repeat(64));
        let fact = run(&trust(ISSUER, SUBJECT, ROOT), &layer(|_| {}), &other);
        assert!(fact.reason.unwrap().contains("instead of this digest"));
    }

    #[test]
    fn a_tampered_set_is_refused() {
        let l = layer(|a| {
            let b = a[BUNDLE_ANNOTATION].as_str().unwrap();
            let mut bundle: Value = serde_json::from_str(b).unwrap();
            bundle["Payload"]["integratedTime"] =
                (bundle["Payload"]["integratedTime"].as_i64().unwrap() + 1).into();
            a.insert(BUNDLE_ANNOTATION.into(), bundle.to_string().into());
        });
        let why = run(&trust(ISSUER, SUBJECT, ROOT), &l, &digest())
            .reason
            .unwrap();
        assert!(
            why.contains("signed entry timestamp does not verify"),
            "{why}"
        );
        let l = layer(|a| {
            a.remove(BUNDLE_ANNOTATION);
        });
        let why = run(&trust(ISSUER, SUBJECT, ROOT), &l, &digest())
            .reason
            .unwrap();
        assert!(why.contains("without a Rekor bundle"), "{why}");
    }

    #[test]
    fn a_certificate_from_another_authority_is_refused() {
        // The same log, but an authority whose certificate is some other CA's: the leaf does
        // not chain to it.
        let mut root: Value = serde_json::from_str(ROOT).unwrap();
        let chain = &mut root["certificateAuthorities"][0]["certChain"]["certificates"];
        let intermediate = chain[0].clone();
        chain.as_array_mut().unwrap().retain(|c| c != &intermediate);
        let l: Value = serde_json::from_str(LAYER).unwrap();
        let leaf_der = pem_der(
            l["annotations"][CERTIFICATE_ANNOTATION]
                .as_str()
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
        chain[0]["rawBytes"] = base64::engine::general_purpose::STANDARD
            .encode(leaf_der)
            .into();
        let fact = run(
            &trust(ISSUER, SUBJECT, &root.to_string()),
            &layer(|_| {}),
            &digest(),
        );
        let why = fact.reason.unwrap();
        assert!(why.contains("does not chain"), "{why}");
        assert_eq!(fact.identity, None, "an uncertified name is not shown");
    }

    #[test]
    fn a_signature_the_log_does_not_hold_is_refused() {
        let l = layer(|a| {
            a.insert(
                "dev.cosignproject.cosign/signature".into(),
                base64::engine::general_purpose::STANDARD
                    .encode(b"other")
                    .into(),
            );
        });
        let why = run(&trust(ISSUER, SUBJECT, ROOT), &l, &digest())
            .reason
            .unwrap();
        assert!(why.contains("another signature or certificate"), "{why}");
    }

    #[test]
    fn the_identity_is_read_from_the_certificate() {
        let (a, _) = layer(|_| {});
        let leaf = leaf(&a).unwrap();
        assert_eq!(
            identity_of(&leaf.cert),
            Some(Identity {
                issuer: ISSUER.into(),
                subject: SUBJECT.into()
            })
        );
    }
}
