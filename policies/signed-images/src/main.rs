//! `builtin:signed-images`: every image a promotion makes run must carry a cosign signature
//! that one of the environment's trusted keys verified (`images[].supplyChain`, gathered by the
//! host from the registry against promote.yaml's `trust:`), and, when asked, a verified SLSA
//! provenance naming the source repository and branch it must come from.
//!
//! The host verifies; this policy decides. Without facts (no `trust:` for the environment, or
//! `--skip-image-check`) it denies and says how to provide them: a gate that passes when it
//! cannot see is no gate.

use std::process::ExitCode;

use promote_policy_sdk::{
    Decision, EvaluationRequest, ImageChange, PolicyFailure, Reason, SettingsValidation,
    SignatureFact, SupplyChain, Verdict,
};
use serde::Deserialize;
use serde_json::Value;

promote_policy_sdk::embed_metadata!("../policy.json");

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    /// The signers of which one must have signed: a trusted key's repo path (as in
    /// `trust.signatures[].key`) or a keyless identity's subject (as in
    /// `trust.signatures[].keyless.subject`); empty: any signer of the environment's `trust:`.
    #[serde(default)]
    signers: Vec<String>,
    /// Require a verified SLSA provenance, from this repository and branch when given.
    #[serde(default)]
    require_provenance: Option<RequireProvenance>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RequireProvenance {
    /// e.g. `https://github.com/acme/shop` (compared without a trailing `.git` or `/`).
    #[serde(default)]
    source_repo: Option<String>,
    /// e.g. `main` (matches the provenance's `refs/heads/main`).
    #[serde(default)]
    branch: Option<String>,
}

fn main() -> ExitCode {
    promote_policy_sdk::run(evaluate, validate_settings)
}

fn validate_settings(settings: &Value) -> SettingsValidation {
    match Settings::deserialize(settings) {
        Ok(_) => SettingsValidation::valid(),
        Err(e) => SettingsValidation::invalid(e.to_string()),
    }
}

fn evaluate(req: &EvaluationRequest) -> Result<Decision, PolicyFailure> {
    let s: Settings = req.settings()?;
    let Some(p) = req.promotion() else {
        return Ok(Decision::allow().with_warning("signed-images only decides promotions"));
    };
    let mut d = Decision::allow();
    for image in &p.images {
        if let Some((code, message)) = judge(&s, &p.environment, image) {
            d.reasons.push(Reason::new(code, message));
        }
    }
    if !d.reasons.is_empty() {
        d.decision = Verdict::Deny;
    }
    Ok(d)
}

/// Why `image` may not run in `env`, if it may not.
fn judge(s: &Settings, env: &str, image: &ImageChange) -> Option<(&'static str, String)> {
    let name = &image.name;
    let Some(chain) = &image.supply_chain else {
        return Some((
            "NoSupplyChainFacts",
            format!(
                "{name}: no signature was checked: give {env} a `trust:` with the release key in promote.yaml (trust.signatures: [{{key: keys/release.pub}}]) and do not skip the image check"
            ),
        ));
    };
    if let Some(why) = unsigned(s, name, chain) {
        return Some(why);
    }
    let want = s.require_provenance.as_ref()?;
    let Some(prov) = &chain.provenance else {
        return Some((
            "NoProvenance",
            format!(
                "{name}: {} has no SLSA provenance attestation signed by a trusted key; attest it in the build (`cosign attest --key cosign.key --type slsaprovenance --predicate provenance.json IMAGE@DIGEST`) and list `attestations: [slsaprovenance]` in {env}'s trust",
                chain.reference
            ),
        ));
    };
    if let Some(repo) = &want.source_repo {
        let got = prov.source_repo.as_deref().unwrap_or("");
        if normalise(got) != normalise(repo) {
            return Some((
                "WrongSourceRepo",
                format!(
                    "{name}: built from {} but {env} only takes builds of {repo}",
                    if got.is_empty() { "an unnamed source" } else { got }
                ),
            ));
        }
    }
    if let Some(branch) = &want.branch {
        let got = prov.source_ref.as_deref().unwrap_or("");
        let full = format!("refs/heads/{branch}");
        if got != full && got != branch {
            return Some((
                "WrongSourceBranch",
                format!(
                    "{name}: built from {} but {env} only takes builds of branch {branch}",
                    if got.is_empty() { "an unnamed ref" } else { got }
                ),
            ));
        }
    }
    None
}

/// Why no wanted signer verified `chain`, if none did.
fn unsigned(s: &Settings, name: &str, chain: &SupplyChain) -> Option<(&'static str, String)> {
    let wanted = |g: &SignatureFact| {
        let signer = g
            .key
            .as_deref()
            .or(g.identity.as_ref().map(|i| i.subject.as_str()));
        s.signers.is_empty() || signer.is_some_and(|k| s.signers.iter().any(|w| w == k))
    };
    if chain.signatures.iter().any(|g| g.verified && wanted(g)) {
        return None;
    }
    if chain.signatures.is_empty() {
        return Some((
            "Unsigned",
            format!(
                "{name}: {} is not signed; sign it with the release key (`cosign sign --key cosign.key {}`)",
                chain.reference, chain.reference
            ),
        ));
    }
    let why: Vec<&str> = chain
        .signatures
        .iter()
        .map(|g| match (&g.reason, &g.key, &g.identity) {
            (Some(r), _, _) => r.as_str(),
            (None, Some(k), _) => k.as_str(),
            (None, None, Some(i)) => i.subject.as_str(),
            (None, None, None) => "unverified",
        })
        .collect();
    Some((
        "UntrustedSignature",
        format!(
            "{name}: {} has {} signature{} but none by {}: {}",
            chain.reference,
            chain.signatures.len(),
            if chain.signatures.len() == 1 { "" } else { "s" },
            if s.signers.is_empty() {
                "a trusted signer".to_owned()
            } else {
                s.signers.join(" or ")
            },
            why.join("; ")
        ),
    ))
}

fn normalise(repo: &str) -> &str {
    repo.trim_end_matches('/').trim_end_matches(".git")
}
