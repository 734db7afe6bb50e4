//! `kubectl promote verify [REV|--pr N]`: make policies binding for every change to the
//! overlays, hand-written ones included (a required CI check on the protected branch).
//!
//! For each environment whose render inputs (its overlay and every directory its
//! kustomizations load) a commit range changes, the change is judged as the promotion it
//! amounts to, through the same gate as `kubectl promote` ([`crate::gate`]), with the
//! configuration and repo policy modules of the base tip. What is judged is what the change
//! makes run: the environment is rendered before and after the change and the container images
//! of every workload compared ([`crate::rendered`]), so an image changed by a patch, a
//! `replacements` entry, a component or a base edit faces the policies as an `images:` edit
//! does. The change's own `promote.yaml` is never used: a pull request must not be able to
//! relax the rules it is checked against.

pub mod env;
pub mod range;

pub use env::{EnvReport, RenderCheck, Verdict};
pub use range::Range;

use std::collections::BTreeMap;

use serde::Serialize;

use promote_core::config::{Environment, Mode};
use promote_git::CommitId;

use crate::document::Document;
use crate::gate::{Gate, PolicyContext};
use crate::images::{ImageCheck, ImageMode};
use crate::ports::Ports;
use crate::promotion::Planner;
use crate::render::{RenderTarget, inputs};
use crate::{Interaction, PromoteError, Session};

/// What was verified, per environment (`kind: VerifyResult`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// `A..B` as given or derived.
    pub range: String,
    /// Start and end of the range.
    pub from_commit: String,
    pub to_commit: String,
    /// Where the change came from (`HEAD`, the revision, `pull request #7 (refs/pull/7/head)`).
    pub source: String,
    /// The base tip whose promote.yaml and policy modules were used (`origin/main`).
    pub base: String,
    pub base_commit: String,
    /// `promote.yaml (origin/main abc1234)` or the `--config` file.
    pub config: String,
    /// The range edits promote.yaml; that edit is not used.
    pub config_changed: bool,
    /// What each changed overlay is compared with: the base tip, or the range start when the
    /// change is already on the base branch.
    pub compared_with: String,
    pub environments: Vec<EnvReport>,
    pub result: Verdict,
}

impl Document for VerifyReport {
    fn kind(&self) -> &'static str {
        "VerifyResult"
    }
}

/// Verify a change. A denial is a verdict in the report, not an error.
///
/// `images` is [`ImageMode::Skip`] for `--skip-image-check` (or
/// `KUBECTL_PROMOTE_SKIP_IMAGE_CHECK`): no registry is asked, and each environment with a
/// `trust:` reports its supply-chain check as skipped (its policies see no facts, so
/// `builtin:signed-images` denies, as it does for a promotion).
pub fn run(
    ports: &Ports,
    range: &Range,
    images: ImageMode,
    ui: &dyn Interaction,
) -> Result<VerifyReport, PromoteError> {
    let session = Session::open(&ports.workspace, ui)?;
    // A check changes nothing: policies see `dryRun: true`.
    let context = PolicyContext {
        dry_run: true,
        ..PolicyContext::default()
    };
    // verify runs no image check; the registry is asked only for the signatures of the
    // environments that have a `trust:` (their policies need the facts), unless skipped.
    let trusting = session
        .config
        .environments
        .iter()
        .any(|e| !e.trust.is_empty());
    let images = if trusting && images != ImageMode::Skip {
        ImageCheck::for_mode(ImageMode::Check, ports)?
    } else {
        ImageCheck::Skip
    };
    let planner = Planner {
        gate: Gate {
            ports,
            session: &session,
            context: &context,
        },
        renderer: &ports.renderer,
        images: &images,
    };
    verify(&planner, range, ui)
}

/// [`run`] on an opened session.
pub fn verify(
    planner: &Planner<'_>,
    range: &Range,
    ui: &dyn Interaction,
) -> Result<VerifyReport, PromoteError> {
    let session = planner.gate.session;
    let repo = &session.repo;
    let base = session.base;
    let (from_commit, to_commit, source) = range::resolve(session, range, ui)?;
    let config_changed = repo.path_id(from_commit, promote_core::config::FILE_NAME)?
        != repo.path_id(to_commit, promote_core::config::FILE_NAME)?;
    // A change already on the base branch (a post-merge run) is judged against where it
    // started; otherwise against the base tip, which is what merging it would replace.
    let (compare_at, compared_with) = if repo.is_ancestor(to_commit, base) {
        (
            from_commit,
            format!(
                "{} (the range start: {} is already on {})",
                from_commit.short(),
                to_commit.short(),
                session.base_name()
            ),
        )
    } else {
        (base, format!("{} ({})", session.base_name(), base.short()))
    };
    let author = repo.commit_info(to_commit)?.author;
    let mut environments = Vec::new();
    if session.config.has_apps() && !session.config.environments.iter().any(|e| e.has_target()) {
        return Err(PromoteError::Usage(
            "promote.yaml declares apps: `verify` checks one app's environments; run it per app with --app NAME".into(),
        ));
    }
    for env in session
        .config
        .environments
        .iter()
        .filter(|e| e.has_target())
    {
        if !inputs_changed(session, env, from_commit, to_commit)? {
            continue;
        }
        ui.step(&format!("verifying {} ({} changed)", env.name, env.overlay));
        let check = env::EnvCheck {
            planner: *planner,
            env,
            compare_at,
            compared_with: &compared_with,
            to: to_commit,
            mode: match range {
                Range::Pr(_) => Mode::Pr,
                _ => env.mode,
            },
            author: &author,
        };
        environments.push(check.run(ui)?);
    }
    let result = environments
        .iter()
        .map(|e| e.result)
        .max_by_key(|o| o.rank())
        .unwrap_or(Verdict::Unchanged);
    Ok(VerifyReport {
        range: format!("{}..{}", from_commit.short(), to_commit.short()),
        from_commit: from_commit.to_string(),
        to_commit: to_commit.to_string(),
        source,
        base: session.base_name(),
        base_commit: base.to_string(),
        config: session
            .config_override
            .clone()
            .map(|c| format!("--config {c}"))
            .unwrap_or_else(|| {
                format!(
                    "{} ({} {})",
                    promote_core::config::FILE_NAME,
                    session.base_name(),
                    base.short()
                )
            }),
        config_changed,
        compared_with,
        environments,
        result,
    })
}

/// Did the range change what a render of ENV reads: its overlay directory or a directory its
/// kustomizations load ([`render_inputs`], as the render cache key sees it)? When that cannot
/// be narrowed at either end (a remote base, a file outside a kustomization's root, Helm), any
/// change to the tree counts: an environment is never left out because its inputs are unclear.
fn inputs_changed(
    session: &Session,
    env: &Environment,
    a: CommitId,
    b: CommitId,
) -> Result<bool, PromoteError> {
    let repo = &session.repo;
    let none = BTreeMap::new();
    match (
        inputs(repo, a, &none, &RenderTarget::of(env))?,
        inputs(repo, b, &none, &RenderTarget::of(env))?,
    ) {
        (Some(before), Some(after)) => Ok(before != after),
        _ => Ok(repo.path_id(a, "")? != repo.path_id(b, "")?),
    }
}
