//! The supply-chain step (issue 18): beside the image check, for every image a promotion or a
//! revert writes, the registry's cosign signatures and SLSA provenance of the exact digest that
//! will run, verified against the environment's `trust:` keys. The facts go to the policies
//! (`images[].supplyChain`), the plan, `-o json`, the pull request and a `Supply-Chain`
//! trailer; deciding is the policies' job (`builtin:signed-images`), not this step's.
//!
//! The keys are read from the base branch tip, as promote.yaml is, never from the working tree:
//! whoever can edit a laptop's checkout cannot make their own key trusted. `--skip-image-check`
//! skips this too, and says so.

use promote_core::config::Environment;
use promote_core::image::ImageChange;
use promote_core::registry::{self, ImageName, ImageResolver, Reference};
use promote_core::supply_chain::{
    AttestationKind, ImageSupplyChain, KeylessTrust, SupplyChainQuery, SupplyChainReport,
    TrustedKey,
};

use crate::images::{Found, ImageCheck};
use crate::{PromoteError, Session};

/// What the step will do for one plan, decided on the caller's thread (it reads git).
#[derive(Debug, Clone)]
pub(crate) enum Trust {
    /// The environment has no `trust:`.
    NotConfigured,
    /// `--skip-image-check`.
    Skipped,
    /// Check every written digest against these keys and keyless signers.
    Keys {
        keys: Vec<TrustedKey>,
        keyless: Vec<KeylessTrust>,
        attestations: Vec<AttestationKind>,
    },
}

/// The environment's trust, with its keys read from the base tip.
pub(crate) fn trust(
    check: &ImageCheck,
    session: &Session,
    env: &Environment,
) -> Result<Trust, PromoteError> {
    if env.trust.is_empty() {
        return Ok(Trust::NotConfigured);
    }
    if check.resolver_arc().is_none() {
        return Ok(Trust::Skipped);
    }
    let mut keys = Vec::new();
    for path in &env.trust.keys {
        let pem = session.repo.read_file(session.base, path)?.ok_or_else(|| {
            PromoteError::TrustKeyMissing {
                env: env.name.clone(),
                path: path.clone(),
                base: session.base_name(),
            }
        })?;
        keys.push(TrustedKey {
            path: path.clone(),
            pem,
        });
    }
    let mut keyless = Vec::new();
    for signer in &env.trust.keyless {
        let root_json = session
            .repo
            .read_file(session.base, &signer.trusted_root)?
            .ok_or_else(|| PromoteError::TrustedRootMissing {
                env: env.name.clone(),
                path: signer.trusted_root.clone(),
                base: session.base_name(),
            })?;
        keyless.push(KeylessTrust {
            signer: signer.clone(),
            root_json,
        });
    }
    Ok(Trust::Keys {
        keys,
        keyless,
        attestations: env.trust.attestations.clone(),
    })
}

/// Says on stderr what is about to be checked (nothing without keys).
pub(crate) fn announce(trust: &Trust, images: usize, ui: &dyn crate::Interaction) {
    if let Trust::Keys { keys, keyless, .. } = trust {
        let signers: Vec<String> = keys
            .iter()
            .map(|k| k.path.clone())
            .chain(
                keyless
                    .iter()
                    .map(|k| format!("{} (keyless, {})", k.signer.identity, k.signer.trusted_root)),
            )
            .collect();
        ui.step(&format!(
            "checking the signatures of {images} image{} against {}",
            if images == 1 { "" } else { "s" },
            signers.join(", ")
        ));
    }
}

/// The facts of every change's digest (`None` unless the trust asks for them). The digest is
/// the one the change writes, else the one its tag resolved to in the image check (`found`),
/// else the one the registry names for the tag now (`verify`, which runs no image check).
pub(crate) fn gather(
    trust: &Trust,
    resolver: Option<&dyn ImageResolver>,
    changes: &[ImageChange],
    found: Option<&[Found]>,
) -> Result<Option<Vec<ImageSupplyChain>>, PromoteError> {
    let (
        Trust::Keys {
            keys,
            keyless,
            attestations,
        },
        Some(resolver),
    ) = (trust, resolver)
    else {
        return Ok(None);
    };
    let query = SupplyChainQuery {
        keys,
        keyless,
        attestations,
    };
    let mut targets = Vec::new();
    for c in changes {
        let image = ImageName::parse(registry::effective_name(c))?;
        let digest = c.to.digest.clone().or_else(|| {
            let tag = c.to.tag.clone()?;
            found?
                .iter()
                .find(|(q, _, _)| q.image == image && q.reference == Reference::Tag(tag.clone()))
                .map(|(_, d, _)| d.clone())
        });
        targets.push((c.name.clone(), image, digest));
    }
    let answers = crate::images::registry_map(&targets, |(name, image, digest)| {
        let change = changes.iter().find(|c| &c.name == name);
        let resolved = match (digest, change.and_then(|c| c.to.tag.clone())) {
            (Some(d), _) => Some(d.clone()),
            (None, Some(tag)) => {
                let query = registry::ImageQuery {
                    image: image.clone(),
                    reference: Reference::Tag(tag),
                };
                match resolver.resolve(&query)? {
                    registry::Lookup::Found { digest } => Some(digest),
                    registry::Lookup::NotFound { .. } => None,
                }
            }
            (None, None) => None,
        };
        let Some(digest) = &resolved else {
            return Ok(ImageSupplyChain {
                image: name.clone(),
                reference: image.to_string(),
                signatures: Vec::new(),
                provenance: None,
                notes: vec!["no digest is known for this image, so nothing was checked".into()],
            });
        };
        let facts = resolver.supply_chain(image, digest, &query)?;
        Ok(ImageSupplyChain {
            image: name.clone(),
            reference: format!("{image}@{digest}"),
            signatures: facts.signatures,
            provenance: facts.provenance,
            notes: facts.notes,
        })
    });
    answers
        .into_iter()
        .collect::<Result<Vec<_>, registry::RegistryError>>()
        .map(Some)
        .map_err(PromoteError::from)
}

/// The plan's account of the step; `by` is who skipped it, when it was skipped.
pub(crate) fn report(
    trust: &Trust,
    facts: Option<Vec<ImageSupplyChain>>,
    by: &dyn std::fmt::Display,
) -> SupplyChainReport {
    match (trust, facts) {
        (Trust::NotConfigured, _) => SupplyChainReport::NotConfigured,
        (Trust::Keys { keys, keyless, .. }, Some(images)) => SupplyChainReport::Checked {
            keys: keys.iter().map(|k| k.path.clone()).collect(),
            identities: keyless.iter().map(|k| k.signer.identity.clone()).collect(),
            images,
        },
        _ => SupplyChainReport::Skipped { by: by.to_string() },
    }
}
