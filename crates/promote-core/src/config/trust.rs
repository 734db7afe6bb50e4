//! `trust:` of an environment (issue 18): from the raw shape to [`TrustSpec`]; every error
//! names promote.yaml, the key and the fix.

use super::ConfigError;
use super::common::problem;
use super::raw::{RawKeyless, RawTrust};
use crate::supply_chain::{AttestationKind, Identity, KeylessSigner, TrustSpec};

pub(super) fn trust(file: &str, key: &str, raw: RawTrust) -> Result<TrustSpec, ConfigError> {
    let mut keys = Vec::new();
    let mut keyless = Vec::new();
    for (j, s) in raw.signatures.into_iter().enumerate() {
        let at = format!("{key}.signatures[{j}]");
        match (s.key, s.keyless) {
            (Some(path), None) => {
                let path = repo_path(file, &format!("{at}.key"), &path, "keys/release.pub")?;
                if !keys.contains(&path) {
                    keys.push(path);
                }
            }
            (None, Some(k)) => {
                let signer = keyless_signer(file, &format!("{at}.keyless"), k)?;
                if !keyless.contains(&signer) {
                    keyless.push(signer);
                }
            }
            (Some(_), Some(_)) => {
                return Err(problem(
                    file,
                    at,
                    "a signer with both `key` and `keyless`",
                    "list them as two signers: `- key: keys/release.pub` and `- keyless: {issuer: …, subject: …, trustedRoot: keys/trusted_root.json}`",
                ));
            }
            (None, None) => {
                return Err(problem(
                    file,
                    at,
                    "a signer without `key` or `keyless`",
                    "write `- key: keys/release.pub` (a cosign public key kept in the repository) or `- keyless: {issuer: …, subject: …, trustedRoot: keys/trusted_root.json}`",
                ));
            }
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
    if keys.is_empty() && keyless.is_empty() {
        return Err(problem(
            file,
            format!("{key}.signatures"),
            "`trust:` lists no signer",
            "add `signatures: [{key: keys/release.pub}]`, or remove `trust:`",
        ));
    }
    Ok(TrustSpec {
        keys,
        keyless,
        attestations,
    })
}

/// A file kept in the repository, given from its root (read from the base branch tip).
fn repo_path(file: &str, at: &str, path: &str, example: &str) -> Result<String, ConfigError> {
    let path = path.trim_start_matches("./").to_owned();
    if path.is_empty()
        || path.starts_with('/')
        || path.contains("://")
        || path.split('/').any(|p| p == ".." || p.is_empty())
    {
        return Err(problem(
            file,
            at,
            format!("`{path}` is not a path inside the repository"),
            format!(
                "keep the file in the repository and give its path from the repo root, e.g. `{example}` (it is read from the base branch, never the working tree)"
            ),
        ));
    }
    Ok(path)
}

/// `keyless: {issuer, subject, trustedRoot}`: all three required; the issuer is a URL and the
/// subject is compared exactly, so neither may be blank or padded.
fn keyless_signer(file: &str, at: &str, raw: RawKeyless) -> Result<KeylessSigner, ConfigError> {
    let field = |name: &str, value: Option<String>, example: &str| match value {
        Some(v) if !v.is_empty() && !v.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            Ok(v)
        }
        Some(v) => Err(problem(
            file,
            format!("{at}.{name}"),
            format!(
                "`{}` is blank or has spaces in it (it is compared exactly with the certificate's, which has none)",
                v.escape_debug()
            ),
            format!("write it as the certificate has it, e.g. `{name}: {example}`"),
        )),
        None => Err(problem(
            file,
            at,
            format!("`keyless:` without `{name}`"),
            format!("add `{name}: {example}`"),
        )),
    };
    let issuer = field("issuer", raw.issuer, ISSUER_EXAMPLE)?;
    if !issuer.starts_with("https://") && !issuer.starts_with("http://") {
        return Err(problem(
            file,
            format!("{at}.issuer"),
            format!("`{issuer}` is not an OIDC issuer URL"),
            format!("give the token issuer's URL, e.g. `issuer: {ISSUER_EXAMPLE}`"),
        ));
    }
    let subject = field("subject", raw.subject, SUBJECT_EXAMPLE)?;
    let root = field("trustedRoot", raw.trusted_root, "keys/trusted_root.json")?;
    let trusted_root = repo_path(
        file,
        &format!("{at}.trustedRoot"),
        &root,
        "keys/trusted_root.json",
    )?;
    Ok(KeylessSigner {
        identity: Identity { issuer, subject },
        trusted_root,
    })
}

const ISSUER_EXAMPLE: &str = "https://token.actions.githubusercontent.com";
const SUBJECT_EXAMPLE: &str =
    "https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main";

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
    fn keyless_signers_are_read() {
        let c = load("{signatures: [{keyless: {issuer: 'https://token.actions.githubusercontent.com', subject: 'https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main', trustedRoot: ./keys/trusted_root.json}}]}")
            .unwrap();
        let t = &c.environments[0].trust;
        assert!(t.keys.is_empty());
        assert_eq!(t.keyless.len(), 1);
        assert_eq!(t.keyless[0].trusted_root, "keys/trusted_root.json");
        assert_eq!(
            t.keyless[0].identity.issuer,
            "https://token.actions.githubusercontent.com"
        );
        assert!(!t.is_empty());
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
            e.contains("signatures[0].keyless.issuer") && e.contains("not an OIDC issuer URL"),
            "{e}"
        );
        let e = load("{signatures: [{keyless: {issuer: 'https://i', trustedRoot: r.json}}]}")
            .unwrap_err();
        assert!(
            e.contains("signatures[0].keyless") && e.contains("without `subject`"),
            "{e}"
        );
        let e = load(
            "{signatures: [{keyless: {issuer: 'https://i', subject: ' s', trustedRoot: r.json}}]}",
        )
        .unwrap_err();
        assert!(
            e.contains("keyless.subject") && e.contains("compared exactly"),
            "{e}"
        );
        // A line break in a double-quoted YAML scalar: shown escaped, never matched.
        let e = load(
            "{signatures: [{keyless: {issuer: 'https://i', subject: \"a\\nb\", trustedRoot: r.json}}]}",
        )
        .unwrap_err();
        assert!(
            e.contains("keyless.subject") && e.contains("`a\\nb`"),
            "{e}"
        );
        let e = load("{signatures: [{keyless: {issuer: 'https://i', subject: s, trustedRoot: /etc/r.json}}]}")
            .unwrap_err();
        assert!(
            e.contains("keyless.trustedRoot") && e.contains("inside the repository"),
            "{e}"
        );
        let e = load("{signatures: [{keyless: {issuer: 'https://i', subject: s, root: r.json}}]}")
            .unwrap_err();
        assert!(e.contains("root"), "{e}");
        let e = load("{signatures: [{key: k.pub, keyless: {issuer: 'https://i'}}]}").unwrap_err();
        assert!(e.contains("both `key` and `keyless`"), "{e}");
        let e = load("{signatures: []}").unwrap_err();
        assert!(e.contains("lists no signer"), "{e}");
        let e = load("{signers: []}").unwrap_err();
        assert!(e.contains("signers"), "{e}");
    }
}
