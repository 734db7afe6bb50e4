//! The facts of `specs/policy-abi.md`'s request: what every environment runs in git (and, when
//! known, in Argo CD), the approval records as policies see them, the actor, and the operation.

use std::collections::BTreeMap;

use promote_core::Person;
use promote_core::config::Mode;
use promote_core::image::{EnvVersion, ImageChange, ImageRef};
use promote_core::render_diff::{Change, ObjectDiff};
use promote_policy::sdk;

use crate::approval::ApprovalRecord;
use crate::clock::rfc3339;
use crate::release::ImageSource;
use crate::session::MAX_WALK;
use crate::{PromoteError, Session};
use promote_core::supply_chain::ImageSupplyChain;

/// What the operation's policies are asked about.
#[derive(Debug, Clone)]
pub enum Operation<'a> {
    /// A promotion (or a hand-written change `verify` judges as the promotion it amounts to).
    Promotion {
        from: Option<&'a str>,
        previous_version: Option<&'a str>,
        changes: &'a [ImageChange],
        mode: Mode,
        /// What the change does to the rendered manifests (empty: unknown or the same).
        render_diff: &'a [ObjectDiff],
        /// The release behind each change (by image name; missing: unknown).
        sources: &'a [ImageSource],
        /// Each change's signatures and provenance (`None`: not gathered).
        supply_chain: Option<&'a [ImageSupplyChain]>,
    },
    /// A rollback, by either strategy.
    Rollback {
        strategy: sdk::RollbackStrategy,
        from: sdk::RollbackFrom,
        to: sdk::RollbackTo,
    },
    /// The checks after a deploy: the samples so far.
    Verify(Box<sdk::Verification>),
}

impl Operation<'_> {
    /// The request's operation, requested (and overridden, with `reason`) by `actor`.
    pub(crate) fn to_sdk(
        &self,
        env: &str,
        version: &str,
        actor: sdk::Actor,
        reason: Option<&str>,
    ) -> sdk::Operation {
        let override_ = reason.map(|r| sdk::Override {
            by: actor.clone(),
            reason: r.to_owned(),
        });
        match self {
            Operation::Promotion {
                from,
                previous_version,
                changes,
                mode,
                render_diff,
                sources,
                supply_chain,
            } => sdk::Operation::Promote(sdk::Promotion {
                environment: env.to_owned(),
                from: from.map(str::to_owned),
                version: version.to_owned(),
                previous_version: previous_version.map(str::to_owned),
                images: changes
                    .iter()
                    .map(|c| sdk::ImageChange {
                        name: c.name.clone(),
                        new_name: c.new_name.clone(),
                        from: to_sdk_ref(&c.from),
                        to: to_sdk_ref(&c.to),
                        source: sources
                            .iter()
                            .find(|s| s.image == c.name)
                            .and_then(to_sdk_source),
                        supply_chain: supply_chain
                            .and_then(|all| all.iter().find(|s| s.image == c.name))
                            .map(to_sdk_supply_chain),
                    })
                    .collect(),
                mode: match mode {
                    Mode::Pr => sdk::PromotionMode::Pr,
                    Mode::Direct => sdk::PromotionMode::Direct,
                },
                override_,
                requested_by: actor,
                render_diff: render_diff.iter().map(to_sdk_object).collect(),
                wave: None,
                app: None,
            }),
            Operation::Rollback { strategy, from, to } => sdk::Operation::Rollback(sdk::Rollback {
                environment: env.to_owned(),
                strategy: *strategy,
                from: from.clone(),
                to: to.clone(),
                requested_by: actor,
                override_,
            }),
            Operation::Verify(v) => sdk::Operation::Verify((**v).clone()),
        }
    }
}

/// An image's source as policies see it, when its labels name one.
fn to_sdk_source(s: &ImageSource) -> Option<sdk::ImageSource> {
    let r = s.range.as_ref()?;
    Some(sdk::ImageSource {
        repo: r.repo.clone(),
        from_revision: r.from_revision.clone(),
        to_revision: r.to_revision.clone(),
        commits: s
            .commits
            .iter()
            .map(|c| sdk::SourceCommit {
                sha: c.sha.clone(),
                subject: c.subject.clone(),
            })
            .collect(),
        total_commits: s.total_commits.map(|n| n as u64),
    })
}

/// An image's signatures and provenance as policies see them.
fn to_sdk_supply_chain(s: &ImageSupplyChain) -> sdk::SupplyChain {
    sdk::SupplyChain {
        reference: s.reference.clone(),
        signatures: s
            .signatures
            .iter()
            .map(|g| sdk::SignatureFact {
                verified: g.verified,
                key: g.key.clone(),
                identity: g.identity.as_ref().map(|i| sdk::Identity {
                    issuer: i.issuer.clone(),
                    subject: i.subject.clone(),
                }),
                reason: g.reason.clone(),
            })
            .collect(),
        provenance: s.provenance.as_ref().map(|p| sdk::Provenance {
            predicate_type: p.predicate_type.clone(),
            builder: p.builder.clone(),
            source_repo: p.source_repo.clone(),
            source_revision: p.source_revision.clone(),
            source_ref: p.source_ref.clone(),
            build_type: p.build_type.clone(),
            key: p.key.clone(),
        }),
        notes: s.notes.clone(),
    }
}

/// One rendered object as policies see it: no patch text.
fn to_sdk_object(o: &ObjectDiff) -> sdk::RenderedObject {
    sdk::RenderedObject {
        id: o.id.clone(),
        group: o.group.clone(),
        kind: o.kind.clone(),
        namespace: o.namespace.clone(),
        name: o.name.clone(),
        change: match o.change {
            Change::Added => sdk::ObjectChange::Added,
            Change::Removed => sdk::ObjectChange::Removed,
            Change::Changed => sdk::ObjectChange::Changed,
        },
        fields: o.fields.clone(),
    }
}

/// What every environment runs in git, and in Argo CD where `argocd` holds its facts (a
/// missing env is `null` to policies).
pub(crate) fn environments(
    session: &Session,
    argocd: &BTreeMap<String, sdk::ArgoCdState>,
) -> Result<BTreeMap<String, sdk::Environment>, PromoteError> {
    let mut out = BTreeMap::new();
    // With `apps:`, the environments the app runs in.
    for env in session
        .config
        .environments
        .iter()
        .filter(|e| e.has_target())
    {
        let overlay = session.overlay_at(env, session.base)?;
        let images = overlay.image_map();
        let last = session
            .repo
            .log_path(session.base, overlay.file(), 1, MAX_WALK)?
            .into_iter()
            .next();
        out.insert(
            env.name.clone(),
            sdk::Environment {
                version: EnvVersion::of(images.values())
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                protected: env.protected,
                images: images
                    .iter()
                    .map(|(k, v)| (k.clone(), to_sdk_ref(v)))
                    .collect(),
                git: last.map(|c| sdk::GitState {
                    revision: c.id.to_string(),
                    committed_at: Some(rfc3339(c.time)),
                }),
                argocd: argocd.get(&env.name).cloned(),
            },
        );
    }
    Ok(out)
}

pub(crate) fn to_sdk_ref(r: &ImageRef) -> sdk::ImageRef {
    sdk::ImageRef {
        tag: r.tag.clone(),
        digest: r.digest.clone(),
    }
}

/// The records as policies see them: ours carry more (the account, how the identity was
/// verified, the commit); the request's shape keeps `name`, `email` and the computed `verified`.
pub(crate) fn to_sdk_records(records: &[ApprovalRecord]) -> Vec<sdk::ApprovalRecord> {
    records
        .iter()
        .filter_map(|r| {
            serde_json::to_value(r)
                .ok()
                .and_then(|v| serde_json::from_value(v).ok())
        })
        .collect()
}

/// The actor, as the request names it.
pub(crate) fn actor(person: &Person, kube_user: Option<&str>) -> sdk::Actor {
    sdk::Actor {
        name: Some(person.name.clone()),
        email: Some(person.email.clone()),
        kube_user: kube_user.map(str::to_owned),
        verified: false,
    }
}
