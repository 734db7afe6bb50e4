//! Supply-chain facts (issue 18): what the registry holds about the exact digest a promotion
//! writes (its cosign signatures and its SLSA provenance attestation, each verified against the
//! environment's `trust:` keys) and how the plan, the `Supply-Chain` trailer and policies see
//! them. Pure: the registry adapter fetches and verifies, this module only names the results.
//!
//! A fact that could not be verified is still reported, with `verified: false` and the reason,
//! so a policy can tell "unsigned" from "signed by someone else"; provenance is only ever taken
//! from an attestation whose envelope a trusted key verified (unverified claims are not facts).

use serde::Serialize;

use crate::trailers::{self, Trailers};

/// `trust:` of an environment, validated. Keys are repo paths, read from the base branch tip
/// (never the working tree) when the check runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrustSpec {
    /// Cosign public keys (PEM), repo-relative paths.
    pub keys: Vec<String>,
    /// Keyless signers: an OIDC identity whose Fulcio certificate chains to a trusted root.
    pub keyless: Vec<KeylessSigner>,
    /// Attestations to fetch and verify.
    pub attestations: Vec<AttestationKind>,
}

impl TrustSpec {
    /// Whether the environment asks for any supply-chain check.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.keyless.is_empty()
    }
}

/// `trust.signatures[].keyless`: who must have signed (the certificate's OIDC issuer and
/// subject, compared exactly) and the Sigstore trusted root (a repo path, read from the base
/// tip) the certificate and the transparency log are checked against, offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeylessSigner {
    pub identity: Identity,
    pub trusted_root: String,
}

/// An OIDC identity as Fulcio certifies it: the token's issuer and subject (the certificate's
/// SAN: a workflow URI or an email).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} from {}", self.subject, self.issuer)
    }
}

/// A keyless signer with its trusted root's bytes from the base tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeylessTrust {
    pub signer: KeylessSigner,
    pub root_json: Vec<u8>,
}

/// A predicate type named in `trust.attestations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestationKind {
    /// `slsaprovenance`: SLSA provenance v0.2 or v1 (cosign's `--type slsaprovenance` /
    /// `slsaprovenance1`).
    SlsaProvenance,
}

impl AttestationKind {
    /// Parses a `trust.attestations` entry.
    pub fn parse(s: &str) -> Option<AttestationKind> {
        match s {
            "slsaprovenance" | "slsaprovenance02" | "slsaprovenance1" => {
                Some(AttestationKind::SlsaProvenance)
            }
            _ => None,
        }
    }

    /// The in-toto predicate types this kind accepts.
    pub fn predicate_types(self) -> &'static [&'static str] {
        match self {
            AttestationKind::SlsaProvenance => &[SLSA_V02, SLSA_V1],
        }
    }
}

/// SLSA provenance v0.2's predicate type.
pub const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";
/// SLSA provenance v1's predicate type.
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";

/// A trusted public key: where it is kept in the repo, and its PEM text from the base tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub path: String,
    pub pem: Vec<u8>,
}

/// What the registry is asked about one image: its digest, with the keys and attestation kinds
/// to check against.
#[derive(Debug, Clone)]
pub struct SupplyChainQuery<'a> {
    pub keys: &'a [TrustedKey],
    pub keyless: &'a [KeylessTrust],
    pub attestations: &'a [AttestationKind],
}

/// What the registry holds about one digest, verified: the adapter's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SupplyChainFacts {
    pub signatures: Vec<SignatureFact>,
    pub provenance: Option<Provenance>,
    pub notes: Vec<String>,
}

/// One signature found for a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureFact {
    /// A trusted key verified it, over a payload naming this very digest.
    pub verified: bool,
    /// The repo path of the key that verified it (null when none did, and for keyless).
    pub key: Option<String>,
    /// Keyless: the identity the signing certificate names (absent for key-based signatures;
    /// on an unverified signature, present only when a trusted CA issued the certificate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// Why it does not count, when `verified` is false.
    pub reason: Option<String>,
}

/// What a verified SLSA provenance attestation says about how the digest was built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// `https://slsa.dev/provenance/v0.2` or `…/v1`.
    pub predicate_type: String,
    /// `builder.id` (v0.2) / `runDetails.builder.id` (v1).
    pub builder: Option<String>,
    /// The source repository (the first material / resolved dependency, without `git+`).
    pub source_repo: Option<String>,
    /// The source revision (its `sha1` digest, or the `@ref` of the URI).
    pub source_revision: Option<String>,
    /// The source ref the build ran for (`refs/heads/main`), where the predicate says.
    pub source_ref: Option<String>,
    /// `buildType`.
    pub build_type: Option<String>,
    /// The repo path of the key that verified the attestation.
    pub key: String,
}

/// The supply-chain facts of one image a change writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSupplyChain {
    /// The overlay's image name.
    pub image: String,
    /// `registry/repo@sha256:…`: what was checked.
    pub reference: String,
    pub signatures: Vec<SignatureFact>,
    /// From a verified provenance attestation; null when none was found or verified.
    pub provenance: Option<Provenance>,
    /// What else was seen (unverified attestations, a referrers API that was not there).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl ImageSupplyChain {
    /// How many signatures a trusted key verified.
    pub fn verified(&self) -> usize {
        self.signatures.iter().filter(|s| s.verified).count()
    }

    /// One line for a plan: `cart …@sha256:1234567890ab: 1 verified signature (keys/release.pub); provenance from …`.
    pub fn line(&self) -> String {
        let n = self.verified();
        let mut keys: Vec<&str> = self
            .signatures
            .iter()
            .filter(|s| s.verified)
            .filter_map(|s| {
                s.key
                    .as_deref()
                    .or(s.identity.as_ref().map(|i| i.subject.as_str()))
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut s = format!("{}: ", self.image);
        if n > 0 {
            s.push_str(&format!(
                "{n} verified signature{} ({})",
                plural(n),
                keys.join(", ")
            ));
        } else if self.signatures.is_empty() {
            s.push_str("not signed");
        } else {
            let reason = self.signatures[0].reason.as_deref().unwrap_or("unverified");
            s.push_str(&format!(
                "{} signature{}, none verified ({reason})",
                self.signatures.len(),
                plural(self.signatures.len())
            ));
        }
        match &self.provenance {
            Some(p) => s.push_str(&format!(
                "; provenance: built by {} from {}@{}",
                p.builder.as_deref().unwrap_or("(no builder)"),
                p.source_repo.as_deref().unwrap_or("(no source)"),
                p.source_revision.as_deref().unwrap_or("(no revision)")
            )),
            None => s.push_str("; no verified provenance"),
        }
        s
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// What the supply-chain step did for a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum SupplyChainReport {
    /// The environment has no `trust:`: nothing was asked.
    NotConfigured,
    /// Every image was checked; the facts went to the policies.
    Checked {
        keys: Vec<String>,
        /// The keyless identities trusted (absent when there are none).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        identities: Vec<Identity>,
        images: Vec<ImageSupplyChain>,
    },
    /// `--skip-image-check`: nothing was asked.
    Skipped { by: String },
}

impl SupplyChainReport {
    /// The facts per image, when they were gathered.
    pub fn images(&self) -> Option<&[ImageSupplyChain]> {
        match self {
            SupplyChainReport::Checked { images, .. } => Some(images),
            _ => None,
        }
    }

    /// The one-line summary used in plans and in the `Supply-Chain` trailer; `None` when the
    /// environment has no `trust:`.
    pub fn summary(&self) -> Option<String> {
        match self {
            SupplyChainReport::NotConfigured => None,
            SupplyChainReport::Checked {
                keys,
                identities,
                images,
            } => {
                let n: usize = images.iter().map(ImageSupplyChain::verified).sum();
                let unsigned = images.iter().filter(|i| i.verified() == 0).count();
                let provenance = images.iter().filter(|i| i.provenance.is_some()).count();
                let signers: Vec<String> = keys
                    .iter()
                    .map(|k| format!("key {k}"))
                    .chain(identities.iter().map(|i| format!("identity {i}")))
                    .collect();
                let mut s = format!(
                    "verified {n} signature{} ({})",
                    plural(n),
                    signers.join(", ")
                );
                if provenance > 0 {
                    s.push_str(&format!(
                        "; provenance for {provenance} of {}",
                        images.len()
                    ));
                }
                if unsigned > 0 {
                    s.push_str(&format!(
                        "; {unsigned} image{} without a verified signature",
                        plural(unsigned)
                    ));
                }
                Some(s)
            }
            SupplyChainReport::Skipped { by } => Some(format!("skipped by {by}")),
        }
    }

    /// Several apps' reports as one: the facts of every image checked (the signers of each
    /// app's environment are the same), or who skipped; not configured when none was checked.
    pub fn merged(reports: &[&SupplyChainReport]) -> SupplyChainReport {
        let mut out = SupplyChainReport::NotConfigured;
        for r in reports {
            match (r, &mut out) {
                (SupplyChainReport::Skipped { .. }, _) => return (*r).clone(),
                (SupplyChainReport::NotConfigured, _) => {}
                (
                    SupplyChainReport::Checked { images, .. },
                    SupplyChainReport::Checked { images: all, .. },
                ) => {
                    all.extend(images.iter().cloned());
                }
                (checked, _) => out = (*checked).clone(),
            }
        }
        out
    }

    /// `Supply-Chain: verified 9 signatures (key keys/release.pub)`, when configured.
    pub fn add_trailers(&self, t: &mut Trailers) {
        if let Some(s) = self.summary() {
            t.push(trailers::SUPPLY_CHAIN, s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(verified: bool) -> ImageSupplyChain {
        ImageSupplyChain {
            image: "cart".into(),
            reference: "reg.io/cart@sha256:aa".into(),
            signatures: vec![SignatureFact {
                verified,
                key: verified.then(|| "keys/release.pub".into()),
                identity: None,
                reason: (!verified).then(|| "no trusted key verifies it".into()),
            }],
            provenance: None,
            notes: Vec::new(),
        }
    }

    #[test]
    fn the_trailer_counts_verified_signatures_and_names_the_keys() {
        let r = SupplyChainReport::Checked {
            keys: vec!["keys/release.pub".into()],
            identities: Vec::new(),
            images: vec![image(true), image(true)],
        };
        let mut t = Trailers::default();
        r.add_trailers(&mut t);
        assert_eq!(
            t.get(trailers::SUPPLY_CHAIN),
            Some("verified 2 signatures (key keys/release.pub)")
        );
        let r = SupplyChainReport::Checked {
            keys: vec!["keys/release.pub".into()],
            identities: Vec::new(),
            images: vec![image(true), image(false)],
        };
        assert_eq!(
            r.summary().unwrap(),
            "verified 1 signature (key keys/release.pub); 1 image without a verified signature"
        );
        assert_eq!(SupplyChainReport::NotConfigured.summary(), None);
    }

    #[test]
    fn keyless_signers_are_named_by_identity() {
        let who = Identity {
            issuer: "https://token.actions.githubusercontent.com".into(),
            subject: "https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main"
                .into(),
        };
        let mut signed = image(true);
        signed.signatures[0].key = None;
        signed.signatures[0].identity = Some(who.clone());
        assert_eq!(
            signed.line(),
            format!(
                "cart: 1 verified signature ({}); no verified provenance",
                who.subject
            )
        );
        let r = SupplyChainReport::Checked {
            keys: Vec::new(),
            identities: vec![who],
            images: vec![signed],
        };
        assert_eq!(
            r.summary().unwrap(),
            "verified 1 signature (identity https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main from https://token.actions.githubusercontent.com)"
        );
    }

    #[test]
    fn a_plan_line_says_why_nothing_verified() {
        assert_eq!(
            image(false).line(),
            "cart: 1 signature, none verified (no trusted key verifies it); no verified provenance"
        );
        let mut unsigned = image(false);
        unsigned.signatures.clear();
        assert_eq!(unsigned.line(), "cart: not signed; no verified provenance");
    }

    #[test]
    fn attestation_kinds() {
        assert_eq!(
            AttestationKind::parse("slsaprovenance"),
            Some(AttestationKind::SlsaProvenance)
        );
        assert_eq!(AttestationKind::parse("spdx"), None);
    }
}
