//! cosign's "simple signing" payload: what a `.sig` layer's signature is over, key-based or
//! keyless. Only read after its signature verified, to check that it is about the digest.

use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_image_signature_names_a_digest() {
        let p = br#"{"critical":{"type":"cosign container image signature","image":{"docker-manifest-digest":"sha256:ab"}}}"#;
        assert_eq!(signed_digest(p).as_deref(), Some("sha256:ab"));
        let other = br#"{"critical":{"type":"something else","image":{"docker-manifest-digest":"sha256:ab"}}}"#;
        assert_eq!(signed_digest(other), None);
        assert_eq!(signed_digest(b"not json"), None);
    }
}
