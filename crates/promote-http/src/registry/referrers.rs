//! What the OCI referrers of a digest are, and what a Sigstore bundle found there holds: parsing
//! only, bounded, no verification (the caller verifies what counts).
//!
//! Referrers (OCI distribution 1.1) are manifests whose `subject` is the digest. A registry that
//! serves the API lists them at `GET /v2/<name>/referrers/<digest>` (an image index); one that
//! does not answers 404, and clients keep the same index under the fallback tag
//! `sha256-<hex>` (the "referrers tag schema"). cosign 2 writes there with
//! `--registry-referrers-mode=oci-1-1` (a cosign signature manifest, as under the `.sig` tag)
//! and with `--new-bundle-format` (a manifest whose one layer is a Sigstore bundle: a DSSE
//! envelope and its verification material). The registry's list is a claim: the caller fetches
//! each manifest by digest (hash-checked) and checks that its `subject` is the digest.

use serde_json::Value;

/// A referrers list or fallback index longer than this is not a signing setup; the rest is
/// left unread (with a note).
pub(super) const MAX_REFERRERS: usize = 32;

/// cosign's signature artifact (`--registry-referrers-mode=oci-1-1`).
const COSIGN_SIGNATURE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// Sigstore bundles: `application/vnd.dev.sigstore.bundle.v0.3+json` (and older versions).
const BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";

/// One entry of a referrers list: the manifest's digest and when it says it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Referrer {
    pub digest: String,
    created: String,
}

/// The entries of a referrers index, oldest first (by `org.opencontainers.image.created`, then
/// digest: the API's order is unspecified, and the newest provenance is the one that counts), at
/// most [`MAX_REFERRERS`]; entries without a valid digest are dropped.
pub(super) fn entries(index: &Value, notes: &mut Vec<String>) -> Vec<Referrer> {
    let all = index
        .get("manifests")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if all.len() > MAX_REFERRERS {
        notes.push(format!(
            "the digest has {} referrers; the first {MAX_REFERRERS} were read",
            all.len()
        ));
    }
    let mut out: Vec<Referrer> = all
        .iter()
        .take(MAX_REFERRERS)
        .filter_map(|d| {
            let digest = d.get("digest")?.as_str()?;
            promote_core::image::valid_digest(digest).then(|| Referrer {
                digest: digest.to_owned(),
                created: d
                    .pointer("/annotations/org.opencontainers.image.created")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.created, &a.digest).cmp(&(&b.created, &b.digest)));
    out.dedup_by(|a, b| a.digest == b.digest);
    out
}

/// What a referrer manifest is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Artifact {
    /// A cosign signature manifest: its layers are read as a `.sig` tag's are.
    CosignSignature,
    /// A Sigstore bundle, in the layer with this digest.
    Bundle(String),
    /// Something else (an SBOM, a Notary signature): not read.
    Other(String),
}

/// What the referrer `manifest` holds, when its `subject` is `digest` (`Err`: why it does not
/// count).
pub(super) fn artifact(manifest: &Value, digest: &str) -> Result<Artifact, String> {
    let subject = manifest.pointer("/subject/digest").and_then(Value::as_str);
    if subject != Some(digest) {
        return Err(format!(
            "its subject is {}, not this digest",
            subject.unwrap_or("missing")
        ));
    }
    let artifact_type = manifest
        .get("artifactType")
        .or_else(|| manifest.pointer("/config/mediaType"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if artifact_type == COSIGN_SIGNATURE {
        return Ok(Artifact::CosignSignature);
    }
    let bundle = manifest
        .get("layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|l| {
            l.get("mediaType")
                .and_then(Value::as_str)
                .is_some_and(|m| m.starts_with(BUNDLE_PREFIX))
        })
        .and_then(|l| l.get("digest").and_then(Value::as_str))
        .filter(|d| promote_core::image::valid_digest(d));
    Ok(match bundle {
        Some(d) if artifact_type.starts_with(BUNDLE_PREFIX) => Artifact::Bundle(d.to_owned()),
        _ => Artifact::Other(artifact_type.to_owned()),
    })
}

/// The content of a Sigstore bundle that a key can verify.
#[derive(Debug)]
pub(super) struct Bundle {
    /// The DSSE envelope (`dsseEnvelope`), the content cosign writes for images; `None` for a
    /// `messageSignature` bundle (a signature over a blob's hash, not about an image).
    pub envelope: Option<Value>,
    /// The verification material is a certificate (keyless), not a public-key hint.
    pub keyless: bool,
    /// `verificationMaterial` (certificate, transparency-log entries), as sent.
    pub material: Value,
}

/// Parses a Sigstore bundle (`Err`: why it is not one).
pub(super) fn bundle(bytes: &[u8]) -> Result<Bundle, String> {
    let b: Value =
        serde_json::from_slice(bytes).map_err(|_| "the bundle is not JSON".to_owned())?;
    let media_type = b
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !media_type.starts_with(BUNDLE_PREFIX) {
        return Err(format!("the bundle's media type is `{media_type}`"));
    }
    let material = b.get("verificationMaterial");
    let keyless = material
        .is_some_and(|m| m.get("certificate").is_some() || m.get("x509CertificateChain").is_some());
    Ok(Bundle {
        envelope: b.get("dsseEnvelope").cloned(),
        keyless,
        material: material.cloned().unwrap_or(Value::Null),
    })
}

/// The `predicateType` an envelope's statement claims, read before it is verified: only to
/// tell a signature (`https://sigstore.dev/cosign/sign/v1`) from an attestation.
pub(super) fn claimed_predicate(payload: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(payload)
        .ok()?
        .get("predicateType")?
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const S: &str = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    #[test]
    fn entries_are_sorted_by_creation_bounded_and_checked() {
        let created = |t: &str| json!({"org.opencontainers.image.created": t});
        let index = json!({"manifests": [
            {"digest": B, "annotations": created("2026-01-02T00:00:00Z")},
            {"digest": A, "annotations": created("2026-01-01T00:00:00Z")},
            {"digest": "sha256:../../etc"},
            {"digest": A, "annotations": created("2026-01-01T00:00:00Z")},
        ]});
        let mut notes = Vec::new();
        let got: Vec<String> = entries(&index, &mut notes)
            .into_iter()
            .map(|r| r.digest)
            .collect();
        assert_eq!(got, [A, B]);
        assert!(notes.is_empty());
        let many = json!({"manifests": vec![json!({"digest": A}); MAX_REFERRERS + 1]});
        entries(&many, &mut notes);
        assert_eq!(
            notes,
            ["the digest has 33 referrers; the first 32 were read"]
        );
    }

    #[test]
    fn artifacts_are_told_apart_and_must_be_about_the_digest() {
        let sig = json!({"artifactType": COSIGN_SIGNATURE, "subject": {"digest": S}, "layers": []});
        assert_eq!(artifact(&sig, S), Ok(Artifact::CosignSignature));
        assert_eq!(
            artifact(&sig, A),
            Err(format!("its subject is {S}, not this digest"))
        );
        let bundle = json!({
            "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json"},
            "subject": {"digest": S},
            "layers": [{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "digest": B}]
        });
        assert_eq!(artifact(&bundle, S), Ok(Artifact::Bundle(B.to_owned())));
        let sbom = json!({"artifactType": "application/spdx+json", "subject": {"digest": S}});
        assert_eq!(
            artifact(&sbom, S),
            Ok(Artifact::Other("application/spdx+json".into()))
        );
    }

    #[test]
    fn bundles_say_whether_they_are_keyless() {
        let keyed = json!({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"publicKey": {"hint": "x"}}, "dsseEnvelope": {"payload": ""}});
        let b = bundle(keyed.to_string().as_bytes()).unwrap();
        assert!(!b.keyless && b.envelope.is_some());
        let keyless = json!({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"certificate": {"rawBytes": "x"}}, "messageSignature": {}});
        let b = bundle(keyless.to_string().as_bytes()).unwrap();
        assert!(b.keyless && b.envelope.is_none());
        assert_eq!(
            bundle(b"{\"mediaType\": \"text/plain\"}").unwrap_err(),
            "the bundle's media type is `text/plain`"
        );
    }
}
