//! What signatures are over, key-based or keyless: cosign's "simple signing" payload (a `.sig`
//! layer's blob) and DSSE envelopes holding in-toto statements (attestations, Sigstore
//! bundles). Read after a signature verified, to check that it is about the digest; the
//! predicate type is read before only to tell a signature from an attestation.

use base64::Engine as _;
use serde_json::Value;

/// The payload type of an envelope holding an in-toto statement.
pub(super) const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The predicate of a cosign image signature kept in a Sigstore bundle.
pub(super) const COSIGN_SIGN: &str = "https://sigstore.dev/cosign/sign/v1";

/// The digest a cosign simple-signing payload names, when it is a container-image signature.
pub(super) fn signed_digest(payload: &[u8]) -> Option<String> {
    let signed = serde_json::from_slice::<Value>(payload).ok()?;
    if signed.pointer("/critical/type").and_then(Value::as_str)
        != Some("cosign container image signature")
    {
        return None;
    }
    signed
        .pointer("/critical/image/docker-manifest-digest")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Whether an in-toto statement's subject names the digest `sha256:<hex>`.
pub(super) fn about(statement: &Value, hex: &str) -> bool {
    statement
        .get("subject")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|e| e.pointer("/digest/sha256").and_then(Value::as_str) == Some(hex))
        })
}

pub(super) fn predicate_type(statement: &Value) -> &str {
    statement
        .get("predicateType")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The decoded payload of a DSSE envelope.
pub(super) fn payload_of(envelope: &Value) -> Option<Vec<u8>> {
    envelope
        .get("payload")
        .and_then(Value::as_str)
        .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
}

/// DSSE's pre-authentication encoding.
pub(super) fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope's in-toto payload and the message its signatures are over (DSSE's
/// pre-authentication encoding), before any signature is checked.
pub(super) fn in_toto(envelope: &Value) -> Result<(Vec<u8>, Vec<u8>), String> {
    let payload_type = envelope
        .get("payloadType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if payload_type != IN_TOTO {
        return Err(format!(
            "its payload type is `{payload_type}`, not {IN_TOTO}"
        ));
    }
    let payload = payload_of(envelope).ok_or("its payload is not base64")?;
    let message = pae(payload_type, &payload);
    Ok((payload, message))
}

/// A DSSE envelope's signatures (base64), as sent; the caller bounds how many it tries.
pub(super) fn envelope_signatures(envelope: &Value) -> impl Iterator<Item = &str> {
    envelope
        .get("signatures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("sig").and_then(Value::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_dsse_v1() {
        assert_eq!(
            pae("application/vnd.in-toto+json", b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}".to_vec()
        );
    }

    #[test]
    fn only_an_image_signature_names_a_digest() {
        let p = br#"{"critical":{"type":"cosign container image signature","image":{"docker-manifest-digest":"sha256:ab"}}}"#;
        assert_eq!(signed_digest(p).as_deref(), Some("sha256:ab"));
        let other = br#"{"critical":{"type":"something else","image":{"docker-manifest-digest":"sha256:ab"}}}"#;
        assert_eq!(signed_digest(other), None);
        assert_eq!(signed_digest(b"not json"), None);
    }
}
