//! Cosign signatures and attestations of one digest, read from the registry and verified
//! against the environment's trusted keys and keyless identities (issue 18).
//!
//! Where they are: cosign's tag scheme, `sha256-<hex>.sig` (one layer per signature, a
//! "simple signing" payload naming the digest, the signature in the layer's
//! `dev.cosignproject.cosign/signature` annotation) and `sha256-<hex>.att` (one layer per
//! attestation, a DSSE envelope holding an in-toto statement), and the digest's OCI referrers
//! ([`super::referrers`]: the referrers API, else its fallback tag `sha256-<hex>`), where cosign
//! keeps a signature manifest (`--registry-referrers-mode=oci-1-1`) or a Sigstore bundle
//! (`--new-bundle-format`: a DSSE envelope whose in-toto statement has the predicate
//! `https://sigstore.dev/cosign/sign/v1` for a signature, the SLSA one for provenance).
//!
//! Everything here is hostile input: manifests and blobs are bounded in size, layers in count,
//! every blob is fetched by digest and checked against it, and a signature counts only when a
//! trusted key verifies it over a payload that names this very digest. The crypto is
//! sigstore-rs's (`CosignVerificationKey`), not ours: it takes the PEM `cosign generate-key-pair`
//! writes (ECDSA P-256, and RSA, Ed25519). For key-based signatures the transparency log is not
//! consulted (key-based signing needs none: `cosign sign --tlog-upload=false` verifies as
//! `cosign verify --insecure-ignore-tlog` would). A signature that carries a Fulcio certificate
//! (a `.sig` layer's certificate annotation, a bundle's certificate) is keyless: [`keyless`]
//! judges it against the trusted roots, with its Rekor entry; keyless attestations are dropped
//! with a note (provenance counts only under a trusted key).

use serde_json::Value;
use sigstore::crypto::{CosignVerificationKey, Signature};

use promote_core::registry::{ImageName, RegistryError};
use promote_core::supply_chain::{
    Provenance, SignatureFact, SupplyChainFacts, SupplyChainQuery, TrustedKey,
};

use super::keyless;
use super::payload::{
    COSIGN_SIGN, about, envelope_signatures, in_toto, payload_of, predicate_type,
};
use super::referrers::{self, Artifact};

/// How this module reads the registry: `GET /v2/<repo>/<kind>/<reference>`, at most `limit`
/// bytes, checked against the reference when it is a digest; `None` on 404. The registry
/// client implements it (so this module does not name it: no import circle).
pub(super) trait Fetch {
    fn get(
        &self,
        kind: &str,
        reference: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, RegistryError>;
}

/// A `.sig` or `.att` manifest lists a few layers: a few KiB.
const MAX_MANIFEST: u64 = 1024 * 1024;

/// Signatures and attestations read per digest; more is not a signing setup, it is noise.
const MAX_LAYERS: usize = 32;
/// A simple-signing payload is a few hundred bytes.
const MAX_PAYLOAD: u64 = 64 * 1024;
/// A provenance envelope can list many materials, but not megabytes of them.
const MAX_ENVELOPE: u64 = 2 * 1024 * 1024;

const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
/// A Sigstore bundle is a signature envelope and its material; attestation-sized at most.
const MAX_BUNDLE: u64 = MAX_ENVELOPE;

/// The trusted keys and the attestation predicate types asked for.
type Wanted<'a> = (&'a [(String, CosignVerificationKey)], &'a [&'a str]);

/// The verified facts of `image@digest`.
pub(super) fn facts(
    registry: &dyn Fetch,
    image: &ImageName,
    digest: &str,
    query: &SupplyChainQuery<'_>,
) -> Result<SupplyChainFacts, RegistryError> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|_| promote_core::image::valid_digest(digest))
        .ok_or_else(|| RegistryError::Unexpected {
            registry: image.registry.clone(),
            request: format!("the signatures of {image}@{digest}"),
            status: 0,
            message: "only sha256 digests are checked".into(),
        })?;
    let keys = parse_keys(query.keys)?;
    let roots = keyless::roots(query.keyless)?;
    let reader = Reader {
        registry,
        image,
        roots: &roots,
    };
    let mut facts = SupplyChainFacts::default();
    match reader.layers(&format!("sha256-{hex}.sig"), &mut facts.notes)? {
        None => facts.notes.push(format!(
            "no signature tag sha256-{hex}.sig in {}",
            image.registry
        )),
        Some(layers) => {
            for layer in layers {
                let fact = reader.signature(&layer, digest, &keys)?;
                facts.signatures.push(fact);
            }
        }
    }
    let wanted: Vec<&str> = query
        .attestations
        .iter()
        .flat_map(|k| k.predicate_types().iter().copied())
        .collect();
    if !wanted.is_empty() {
        match reader.layers(&format!("sha256-{hex}.att"), &mut facts.notes)? {
            None => facts.notes.push(format!(
                "no attestation tag sha256-{hex}.att in {}",
                image.registry
            )),
            Some(layers) => {
                for layer in layers {
                    if let Some(p) =
                        reader.attestation(&layer, hex, (&keys, &wanted), &mut facts.notes)?
                    {
                        // cosign appends: the last verified provenance is the newest.
                        facts.provenance = Some(p);
                    }
                }
            }
        }
    }
    reader.referrers((digest, hex), (&keys, &wanted), &mut facts)?;
    Ok(facts)
}

/// A trusted key parsed for verification; a key that does not parse is the config's fault.
fn parse_keys(keys: &[TrustedKey]) -> Result<Vec<(String, CosignVerificationKey)>, RegistryError> {
    keys.iter()
        .map(|k| {
            CosignVerificationKey::try_from_pem(&k.pem)
                .map(|v| (k.path.clone(), v))
                .map_err(|e| RegistryError::TrustKey {
                    path: k.path.clone(),
                    detail: e.to_string(),
                })
        })
        .collect()
}

/// The key that verifies `signature` over `message`, if any.
fn verifying_key<'k>(
    keys: &'k [(String, CosignVerificationKey)],
    signature: &[u8],
    message: &[u8],
) -> Option<&'k str> {
    keys.iter()
        .find(|(_, k)| {
            k.verify_signature(Signature::Base64Encoded(signature), message)
                .is_ok()
        })
        .map(|(p, _)| p.as_str())
}

/// One layer of a `.sig` or `.att` manifest.
struct Layer {
    media_type: String,
    digest: String,
    annotations: serde_json::Map<String, Value>,
}

struct Reader<'a> {
    registry: &'a dyn Fetch,
    image: &'a ImageName,
    /// The keyless signers' trusted roots.
    roots: &'a [keyless::Root],
}

impl Reader<'_> {
    /// The layers of the manifest `tag` names (`None`: no such tag), at most [`MAX_LAYERS`].
    fn layers(
        &self,
        tag: &str,
        notes: &mut Vec<String>,
    ) -> Result<Option<Vec<Layer>>, RegistryError> {
        let Some(manifest) = self.json(("manifests", tag), MAX_MANIFEST)? else {
            return Ok(None);
        };
        Ok(Some(layers_of(&manifest, tag, notes)))
    }

    /// A manifest, blob or referrers list as JSON (`None`: 404).
    fn json(
        &self,
        (kind, reference): (&str, &str),
        limit: u64,
    ) -> Result<Option<Value>, RegistryError> {
        let Some(bytes) = self.registry.get(kind, reference, limit)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| RegistryError::Unexpected {
                registry: self.image.registry.clone(),
                request: format!("GET /v2/{}/{kind}/{reference}", self.image.repository),
                status: 200,
                message: "the registry sent something that is not JSON".into(),
            })
    }
}

/// The layers of a signature manifest (`name` is its tag or digest, for the note), at most
/// [`MAX_LAYERS`].
fn layers_of(manifest: &Value, name: &str, notes: &mut Vec<String>) -> Vec<Layer> {
    let all = manifest
        .get("layers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if all.len() > MAX_LAYERS {
        notes.push(format!(
            "{name} has {} layers; the first {MAX_LAYERS} were read",
            all.len()
        ));
    }
    all.iter()
        .take(MAX_LAYERS)
        .filter_map(|l| {
            let digest = l.get("digest")?.as_str()?;
            promote_core::image::valid_digest(digest).then(|| Layer {
                media_type: l
                    .get("mediaType")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                digest: digest.to_owned(),
                annotations: l
                    .get("annotations")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            })
        })
        .collect()
}

impl Reader<'_> {
    fn blob(&self, digest: &str, limit: u64) -> Result<Option<Vec<u8>>, RegistryError> {
        self.registry.get("blobs", digest, limit)
    }

    /// One signature layer, verified.
    fn signature(
        &self,
        layer: &Layer,
        digest: &str,
        keys: &[(String, CosignVerificationKey)],
    ) -> Result<SignatureFact, RegistryError> {
        let unverified = |reason: String| SignatureFact {
            verified: false,
            key: None,
            identity: None,
            reason: Some(reason),
        };
        if layer.media_type != SIMPLE_SIGNING {
            return Ok(unverified(format!(
                "a layer of type `{}`, not a cosign signature",
                layer.media_type
            )));
        }
        let Some(signature) = layer
            .annotations
            .get(SIGNATURE_ANNOTATION)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            return Ok(unverified("a signature layer without a signature".into()));
        };
        let Some(payload) = self.blob(&layer.digest, MAX_PAYLOAD)? else {
            return Ok(unverified(format!(
                "its payload {} is missing from the registry",
                layer.digest
            )));
        };
        if layer
            .annotations
            .contains_key(keyless::cosign::CERTIFICATE_ANNOTATION)
        {
            let layer = keyless::cosign::Layer {
                annotations: &layer.annotations,
                signature,
                payload: &payload,
            };
            return Ok(keyless::cosign::verify_layer(self.roots, &layer, digest));
        }
        let Some(key) = verifying_key(keys, signature.as_bytes(), &payload) else {
            return Ok(unverified("signed, but by none of the trusted keys".into()));
        };
        // The signature is good; it must also be about this digest (a signature copied from
        // another image verifies too).
        let named = super::payload::signed_digest(&payload);
        if named.as_deref() != Some(digest) {
            return Ok(SignatureFact {
                verified: false,
                key: Some(key.to_owned()),
                identity: None,
                reason: Some(format!(
                    "signed by {key}, but the payload names {} instead of this digest",
                    named.as_deref().unwrap_or("no digest")
                )),
            });
        }
        Ok(SignatureFact {
            verified: true,
            key: Some(key.to_owned()),
            identity: None,
            reason: None,
        })
    }

    /// One attestation layer: its provenance when a trusted key signed it, it is about this
    /// digest, and its predicate is one of `wanted`.
    fn attestation(
        &self,
        layer: &Layer,
        hex: &str,
        (keys, wanted): (&[(String, CosignVerificationKey)], &[&str]),
        notes: &mut Vec<String>,
    ) -> Result<Option<Provenance>, RegistryError> {
        let declared = layer
            .annotations
            .get("predicateType")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if layer.media_type != DSSE || !wanted.contains(&declared) {
            return Ok(None);
        }
        let Some(bytes) = self.blob(&layer.digest, MAX_ENVELOPE)? else {
            notes.push(format!(
                "attestation {} is missing from the registry",
                layer.digest
            ));
            return Ok(None);
        };
        let statement = match open_envelope(&bytes, keys) {
            Ok(s) => s,
            Err(why) => {
                notes.push(format!("a {declared} attestation does not count: {why}"));
                return Ok(None);
            }
        };
        let (key, statement) = statement;
        let predicate_type = predicate_type(&statement);
        if !about(&statement, hex) || !wanted.contains(&predicate_type) {
            notes.push(format!(
                "a {declared} attestation signed by {key} is about another subject or predicate ({predicate_type})"
            ));
            return Ok(None);
        }
        let predicate = statement.get("predicate").cloned().unwrap_or(Value::Null);
        Ok(Some(super::provenance::from_predicate(
            predicate_type,
            &predicate,
            key,
        )))
    }
}

impl Reader<'_> {
    /// The digest's referrers list: the API's answer, else the index under the fallback tag
    /// `sha256-<hex>` (`None`: neither is there).
    fn referrers_index(&self, digest: &str, hex: &str) -> Result<Option<Value>, RegistryError> {
        match self.json(("referrers", digest), MAX_MANIFEST) {
            Ok(Some(index)) => return Ok(Some(index)),
            Ok(None) => {}
            // The spec's answer of a registry without the API is 404; some say 400, 405 or 501.
            Err(RegistryError::Unexpected {
                status: 400 | 405 | 501,
                ..
            }) => {}
            Err(e) => return Err(e),
        }
        self.json(("manifests", &format!("sha256-{hex}")), MAX_MANIFEST)
    }

    /// The signatures and attestations among the digest's OCI referrers.
    fn referrers(
        &self,
        (digest, hex): (&str, &str),
        wanted: Wanted<'_>,
        facts: &mut SupplyChainFacts,
    ) -> Result<(), RegistryError> {
        let Some(index) = self.referrers_index(digest, hex)? else {
            if facts.signatures.is_empty() {
                facts.notes.push(format!(
                    "no OCI referrers of the digest in {} (neither the referrers API nor the fallback tag sha256-{hex})",
                    self.image.registry
                ));
            }
            return Ok(());
        };
        for r in referrers::entries(&index, &mut facts.notes) {
            let Some(manifest) = self.json(("manifests", &r.digest), MAX_MANIFEST)? else {
                facts.notes.push(format!(
                    "referrer {} is missing from the registry",
                    r.digest
                ));
                continue;
            };
            match referrers::artifact(&manifest, digest) {
                Err(why) => facts
                    .notes
                    .push(format!("referrer {} does not count: {why}", r.digest)),
                Ok(Artifact::CosignSignature) => {
                    for layer in layers_of(&manifest, &r.digest, &mut facts.notes) {
                        let fact = self.signature(&layer, digest, wanted.0)?;
                        facts.signatures.push(fact);
                    }
                }
                Ok(Artifact::Bundle(layer)) => self.bundle(&layer, hex, wanted, facts)?,
                Ok(Artifact::Other(_)) => {}
            }
        }
        Ok(())
    }

    /// A Sigstore bundle among the referrers: a signature (predicate [`COSIGN_SIGN`]) or a
    /// wanted attestation, counted only when a trusted key signed its envelope and its
    /// statement names this digest.
    fn bundle(
        &self,
        layer: &str,
        hex: &str,
        (keys, wanted): Wanted<'_>,
        facts: &mut SupplyChainFacts,
    ) -> Result<(), RegistryError> {
        let Some(bytes) = self.blob(layer, MAX_BUNDLE)? else {
            facts
                .notes
                .push(format!("bundle {layer} is missing from the registry"));
            return Ok(());
        };
        let (envelope, keyless, material) = match referrers::bundle(&bytes) {
            Ok(referrers::Bundle {
                envelope: Some(e),
                keyless,
                material,
            }) => (e, keyless, material),
            Ok(_) => {
                facts.notes.push(format!(
                    "bundle {layer} holds a message signature, not a signature of an image"
                ));
                return Ok(());
            }
            Err(why) => {
                facts
                    .notes
                    .push(format!("bundle {layer} does not count: {why}"));
                return Ok(());
            }
        };
        // What the statement claims to be decides where a failure is reported; only a verified
        // statement is believed.
        let claimed = payload_of(&envelope)
            .and_then(|p| referrers::claimed_predicate(&p))
            .unwrap_or_default();
        let is_signature = claimed == COSIGN_SIGN;
        if !is_signature && !wanted.contains(&claimed.as_str()) {
            return Ok(());
        }
        let unverified = |key: Option<&str>, reason: String| SignatureFact {
            verified: false,
            key: key.map(str::to_owned),
            identity: None,
            reason: Some(reason),
        };
        if keyless {
            if is_signature {
                let fact = keyless::bundle::verify(self.roots, &envelope, &material, hex);
                facts.signatures.push(fact);
            } else {
                facts.notes.push(format!(
                    "a {claimed} attestation in bundle {layer} is keyless; only attestations signed by a trusted key count"
                ));
            }
            return Ok(());
        }
        let (key, statement) = match open(&envelope, keys) {
            Ok(opened) => opened,
            Err(why) => {
                if is_signature {
                    facts.signatures.push(unverified(None, why));
                } else {
                    facts.notes.push(format!(
                        "a {claimed} attestation in bundle {layer} does not count: {why}"
                    ));
                }
                return Ok(());
            }
        };
        let signed_type = predicate_type(&statement);
        if !about(&statement, hex) || signed_type != claimed {
            let why = format!(
                "signed by {key}, but its statement is about another digest or predicate ({signed_type})"
            );
            if is_signature {
                facts.signatures.push(unverified(Some(key), why));
            } else {
                facts.notes.push(why);
            }
            return Ok(());
        }
        if is_signature {
            facts.signatures.push(SignatureFact {
                verified: true,
                key: Some(key.to_owned()),
                identity: None,
                reason: None,
            });
        } else {
            let predicate = statement.get("predicate").cloned().unwrap_or(Value::Null);
            facts.provenance = Some(super::provenance::from_predicate(
                signed_type,
                &predicate,
                key,
            ));
        }
        Ok(())
    }
}

/// A DSSE envelope's in-toto statement, with the key that verified it: the signature is over
/// the envelope's pre-authentication encoding (`DSSEv1 <len> <type> <len> <payload>`).
fn open_envelope<'k>(
    bytes: &[u8],
    keys: &'k [(String, CosignVerificationKey)],
) -> Result<(&'k str, Value), String> {
    let envelope: Value =
        serde_json::from_slice(bytes).map_err(|_| "its envelope is not JSON".to_owned())?;
    open(&envelope, keys)
}

/// [`open_envelope`] of a parsed envelope.
fn open<'k>(
    envelope: &Value,
    keys: &'k [(String, CosignVerificationKey)],
) -> Result<(&'k str, Value), String> {
    let (payload, pae) = in_toto(envelope)?;
    let key = envelope_signatures(envelope)
        .take(MAX_LAYERS)
        .find_map(|sig| verifying_key(keys, sig.as_bytes(), &pae))
        .ok_or("it is signed by none of the trusted keys")?;
    let statement =
        serde_json::from_slice(&payload).map_err(|_| "its statement is not JSON".to_owned())?;
    Ok((key, statement))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn an_envelope_without_a_trusted_signature_says_so() {
        let env = serde_json::json!({
            "payloadType": super::super::payload::IN_TOTO,
            "payload": base64::engine::general_purpose::STANDARD.encode(b"{}"),
            "signatures": [{"sig": "AAAA"}]
        });
        let err = open_envelope(env.to_string().as_bytes(), &[]).unwrap_err();
        assert_eq!(err, "it is signed by none of the trusted keys");
        let err = open_envelope(b"nope", &[]).unwrap_err();
        assert_eq!(err, "its envelope is not JSON");
    }
}
