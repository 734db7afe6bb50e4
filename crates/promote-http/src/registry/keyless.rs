//! Keyless (Fulcio certificate + Rekor entry) cosign signatures, verified offline against the
//! trusted roots the environment's `trust.signatures[].keyless` name, on what our own registry
//! client fetched (issue 18).
//!
//! A `.sig` layer of a keyless signature carries the leaf certificate
//! (`dev.sigstore.cosign/certificate`, PEM), its chain (`dev.sigstore.cosign/chain`, not
//! trusted: the chain is built from the trusted root's certificates only), the signature and
//! the Rekor bundle (`dev.sigstore.cosign/bundle`: the entry body, integrated time, log index
//! and log ID with the log's signed entry timestamp). It counts only when all of this holds:
//! - the Rekor entry is vouched for by a log of the trusted root ([`super::tlog`]: its SET,
//!   and an inclusion proof with its checkpoint where there is one), which makes the entry's
//!   integrated time the signing time;
//! - the leaf chains to a certificate authority of the trusted root that was valid then, and
//!   every certificate of the path was valid then (Fulcio certificates live 10 minutes): X.509
//!   path validation is rustls-webpki's, with the code-signing extended key usage;
//! - the entry is about this signature: a `hashedrekord` whose hash is the payload's sha256,
//!   whose signature is the layer's and whose certificate is the leaf;
//! - the leaf's key verifies the signature over the payload (sigstore-rs's verification keys),
//!   and the payload is a cosign image signature naming this digest;
//! - the leaf's identity equals a trusted one: its SAN (URI or email) is the `subject`, its
//!   Fulcio issuer extension (1.3.6.1.4.1.57264.1.8, else the older .1.1) is the `issuer`.

use base64::Engine as _;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use sigstore::crypto::{CosignVerificationKey, Signature};
use x509_cert::Certificate;
use x509_cert::der::asn1::{ObjectIdentifier, Utf8StringRef};
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use promote_core::registry::RegistryError;
use promote_core::supply_chain::{Identity, KeylessTrust, SignatureFact};

use super::tlog::{self, Entry};
use super::trusted_root::{self, TrustedRoot};

pub(super) const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// Fulcio's OIDC issuer extensions: v2 (a DER UTF8String) and v1 (the raw string).
const ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
const ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER content octets, as webpki wants it.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// A trusted root with the identities trusted under it.
#[derive(Debug)]
pub(super) struct Root {
    root: TrustedRoot,
    identities: Vec<Identity>,
}

/// The environment's keyless trust, parsed: one [`Root`] per distinct trusted-root file.
pub(super) fn roots(trust: &[KeylessTrust]) -> Result<Vec<Root>, RegistryError> {
    let mut out: Vec<Root> = Vec::new();
    for t in trust {
        let identity = t.signer.identity.clone();
        if let Some(r) = out
            .iter_mut()
            .find(|r| r.root.path == t.signer.trusted_root)
        {
            r.identities.push(identity);
            continue;
        }
        out.push(Root {
            root: trusted_root::parse(&t.signer.trusted_root, &t.root_json)?,
            identities: vec![identity],
        });
    }
    Ok(out)
}

/// What a keyless `.sig` layer holds.
pub(super) struct Layer<'a> {
    pub annotations: &'a serde_json::Map<String, Value>,
    /// The signature annotation (base64).
    pub signature: &'a str,
    pub payload: &'a [u8],
}

/// The fact for a keyless `.sig` layer of `digest`.
pub(super) fn verify_layer(roots: &[Root], layer: &Layer<'_>, digest: &str) -> SignatureFact {
    let unverified = |identity: Option<Identity>, reason: String| SignatureFact {
        verified: false,
        key: None,
        identity,
        reason: Some(reason),
    };
    let leaf = match leaf(layer.annotations) {
        Ok(l) => l,
        Err(why) => return unverified(None, why),
    };
    let claimed = identity_of(&leaf.cert);
    if roots.is_empty() {
        return unverified(
            claimed,
            "a keyless signature, and the environment's trust lists no keyless signer".into(),
        );
    }
    let entry = match entry(layer.annotations) {
        Ok(e) => e,
        Err(why) => return unverified(claimed, why),
    };
    let mut first_error = None;
    for root in roots {
        match check(root, &leaf, &entry, layer, digest) {
            Ok(()) => {}
            Err(why) => {
                first_error.get_or_insert(why);
                continue;
            }
        }
        let Some(claimed) = claimed else {
            first_error.get_or_insert("its certificate names no OIDC issuer or subject".into());
            continue;
        };
        if root.identities.contains(&claimed) {
            return SignatureFact {
                verified: true,
                key: None,
                identity: Some(claimed),
                reason: None,
            };
        }
        let trusted: Vec<String> = root.identities.iter().map(Identity::to_string).collect();
        return unverified(
            Some(claimed.clone()),
            format!(
                "signed by subject {} (issuer {}), not a trusted identity ({})",
                claimed.subject,
                claimed.issuer,
                trusted.join("; ")
            ),
        );
    }
    unverified(claimed, first_error.unwrap_or_default())
}

/// The leaf certificate, parsed and as DER.
struct Leaf {
    der: Vec<u8>,
    cert: Certificate,
}

fn leaf(annotations: &serde_json::Map<String, Value>) -> Result<Leaf, String> {
    let pem = annotations
        .get(CERTIFICATE_ANNOTATION)
        .and_then(Value::as_str)
        .ok_or("a keyless signature without its certificate")?;
    let der = pem_der(pem.as_bytes()).ok_or("its certificate is not PEM")?;
    let cert =
        Certificate::from_der(&der).map_err(|e| format!("its certificate is not X.509: {e}"))?;
    Ok(Leaf { der, cert })
}

fn pem_der(pem: &[u8]) -> Option<Vec<u8>> {
    match x509_cert::der::pem::decode_vec(pem) {
        Ok(("CERTIFICATE", der)) => Some(der),
        _ => None,
    }
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

/// Everything but the identity, against one trusted root.
fn check(
    root: &Root,
    leaf: &Leaf,
    entry: &Entry,
    layer: &Layer<'_>,
    digest: &str,
) -> Result<(), String> {
    tlog::verify(&root.root, entry)?;
    chain(&root.root, &leaf.der, entry.integrated_time)?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(layer.signature.trim())
        .map_err(|_| "its signature is not base64".to_owned())?;
    hashed_rekord(&entry.body, layer.payload, &signature, &leaf.der)?;
    let spki = leaf
        .cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| e.to_string())?;
    let key = CosignVerificationKey::try_from_der(&spki)
        .map_err(|e| format!("its certificate's key is not usable: {e}"))?;
    key.verify_signature(Signature::Raw(&signature), layer.payload)
        .map_err(|_| "its signature does not verify with its certificate's key".to_owned())?;
    let named = super::payload::signed_digest(layer.payload);
    if named.as_deref() != Some(digest) {
        return Err(format!(
            "its payload names {} instead of this digest",
            named.as_deref().unwrap_or("no digest")
        ));
    }
    Ok(())
}

/// The leaf chains to a certificate authority of `root` valid at `time` (Unix seconds), every
/// certificate of the path valid at `time`.
fn chain(root: &TrustedRoot, leaf: &[u8], time: i64) -> Result<(), String> {
    let leaf_der = CertificateDer::from(leaf);
    let ee = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|e| format!("its certificate is not usable: {e}"))?;
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(time).unwrap_or_default(),
    ));
    let mut last = format!(
        "its certificate was not issued by a certificate authority of {} valid at the signing time",
        root.path
    );
    for ca in root.authorities.iter().filter(|a| a.valid.contains(time)) {
        let Some((anchor, intermediates)) = ca.chain.split_last() else {
            continue;
        };
        let anchor_der = CertificateDer::from(anchor.as_slice());
        let Ok(anchor) = webpki::anchor_from_trusted_cert(&anchor_der) else {
            continue;
        };
        let intermediates: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        match ee.verify_for_usage(
            ALGORITHMS,
            &[anchor],
            &intermediates,
            at,
            webpki::KeyUsage::required(CODE_SIGNING),
            None,
            None,
        ) {
            Ok(_) => return Ok(()),
            Err(e) => {
                last = format!(
                    "its certificate does not chain to a certificate authority of {} at the signing time ({e})",
                    root.path
                );
            }
        }
    }
    Err(last)
}

static ALGORITHMS: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
    webpki::aws_lc_rs::ECDSA_P521_SHA512,
    webpki::aws_lc_rs::ED25519,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA512,
];

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

/// The certificate's OIDC identity: its first URI or email SAN, and Fulcio's issuer extension.
fn identity_of(cert: &Certificate) -> Option<Identity> {
    let tbs = cert.tbs_certificate();
    let subject = tbs
        .get_extension::<SubjectAltName>()
        .ok()
        .flatten()
        .and_then(|(_, san)| {
            san.0.into_iter().find_map(|n| match n {
                GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
                GeneralName::Rfc822Name(e) => Some(e.to_string()),
                _ => None,
            })
        })?;
    let extension = |oid: ObjectIdentifier| {
        tbs.extensions()?
            .iter()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes().to_vec())
    };
    let issuer = extension(ISSUER_V2)
        .and_then(|v| {
            Utf8StringRef::from_der(&v)
                .ok()
                .map(|s| s.as_str().to_owned())
        })
        .or_else(|| extension(ISSUER_V1).and_then(|v| String::from_utf8(v).ok()))?;
    Some(Identity { issuer, subject })
}

#[cfg(test)]
mod tests {
    use super::*;
    use promote_core::supply_chain::KeylessSigner;

    /// Made by `tests/keyless-signer` for `registry.test/shop/cart@sha256:aaaa…` (see
    /// testdata/keyless/README.md).
    const LAYER: &str = include_str!("testdata/keyless/layer.json");
    const ROOT: &str = include_str!("testdata/keyless/trusted_root.json");
    const SUBJECT: &str =
        "https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main";
    const ISSUER: &str = "https://token.actions.githubusercontent.com";

    fn digest() -> String {
        format!("sha256:{}", "a".repeat(64))
    }

    fn trust(issuer: &str, subject: &str, root: &str) -> Vec<Root> {
        roots(&[KeylessTrust {
            signer: KeylessSigner {
                identity: Identity {
                    issuer: issuer.into(),
                    subject: subject.into(),
                },
                trusted_root: "keys/trusted_root.json".into(),
            },
            root_json: root.as_bytes().to_vec(),
        }])
        .unwrap()
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
        let why = run(
            &trust(ISSUER, SUBJECT, &root.to_string()),
            &layer(|_| {}),
            &digest(),
        )
        .reason
        .unwrap();
        assert!(why.contains("does not chain"), "{why}");
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
