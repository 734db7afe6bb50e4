//! `trust:` of an environment (issue 18): from the raw shape to [`TrustSpec`]; every error
//! names promote.yaml, the key and the fix.

use super::ConfigError;
use super::common::problem;
use super::raw::RawTrust;
use crate::supply_chain::{AttestationKind, TrustSpec};

pub(super) fn trust(file: &str, key: &str, raw: RawTrust) -> Result<TrustSpec, ConfigError> {
    let mut keys = Vec::new();
    for (j, s) in raw.signatures.into_iter().enumerate() {
        let at = format!("{key}.signatures[{j}]");
        if s.keyless.is_some() {
            return Err(problem(
                file,
                format!("{at}.keyless"),
                "keyless (Fulcio certificate + Rekor) verification is not supported by this version of kubectl promote",
                "sign with a key pair (`cosign generate-key-pair`) and list its public key as `key: keys/release.pub`",
            ));
        }
        let Some(path) = s.key else {
            return Err(problem(
                file,
                at,
                "a signer without `key`",
                "write `- key: keys/release.pub` (a cosign public key kept in the repository)",
            ));
        };
        let path = path.trim_start_matches("./").to_owned();
        if path.is_empty()
            || path.starts_with('/')
            || path.contains("://")
            || path.split('/').any(|p| p == ".." || p.is_empty())
        {
            return Err(problem(
                file,
                format!("{at}.key"),
                format!("`{path}` is not a path inside the repository"),
                "keep the public key in the repository and give its path from the repo root, e.g. `keys/release.pub` (it is read from the base branch, never the working tree)",
            ));
        }
        if !keys.contains(&path) {
            keys.push(path);
        }
    }
    let mut attestations = Vec::new();
    for (j, a) in raw.attestations.iter().enumerate() {
        let kind = AttestationKind::parse(a).ok_or_else(|| {
            problem(
                file,
                format!("{key}.attestations[{j}]"),
                format!("unknown attestation type `{a}`"),
                "use `slsaprovenance` (SLSA provenance v0.2 or v1, as `cosign attest --type slsaprovenance` writes)",
            )
        })?;
        if !attestations.contains(&kind) {
            attestations.push(kind);
        }
    }
    if keys.is_empty() {
        return Err(problem(
            file,
            format!("{key}.signatures"),
            "`trust:` lists no signer",
            "add `signatures: [{key: keys/release.pub}]`, or remove `trust:`",
        ));
    }
    Ok(TrustSpec { keys, attestations })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn load(trust: &str) -> Result<Config, String> {
        let text = format!(
            "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\nenvironments:\n  - name: prod\n    overlay: kustomize/prod\n    trust: {trust}\n"
        );
        Config::parse("promote.yaml", &text).map_err(|e| e.to_string())
    }

    #[test]
    fn keys_and_attestations_are_read() {
        let c = load("{signatures: [{key: ./keys/release.pub}], attestations: [slsaprovenance]}")
            .unwrap();
        let t = &c.environments[0].trust;
        assert_eq!(t.keys, ["keys/release.pub"]);
        assert_eq!(
            t.attestations,
            [crate::supply_chain::AttestationKind::SlsaProvenance]
        );
    }

    #[test]
    fn bad_entries_name_the_key_and_the_fix() {
        let e = load("{signatures: [{key: ../outside.pub}]}").unwrap_err();
        assert!(e.contains("environments[0].trust.signatures[0].key"), "{e}");
        assert!(e.contains("inside the repository"), "{e}");
        let e = load("{signatures: [{key: k.pub}], attestations: [spdx]}").unwrap_err();
        assert!(
            e.contains("trust.attestations[0]") && e.contains("slsaprovenance"),
            "{e}"
        );
        let e = load("{signatures: [{keyless: {issuer: x}}]}").unwrap_err();
        assert!(
            e.contains("keyless") && e.contains("generate-key-pair"),
            "{e}"
        );
        let e = load("{signatures: []}").unwrap_err();
        assert!(e.contains("lists no signer"), "{e}");
        let e = load("{signers: []}").unwrap_err();
        assert!(e.contains("signers"), "{e}");
    }
}
