//! Planning a promotion (DESIGN steps 2–4): read ENV's overlay and the upstream's at the base
//! tip, plan the byte-minimal edit, and hand the draft to [`super::draft::finish`] (render,
//! image check and policies). Writes nothing anywhere.

use std::collections::BTreeMap;

use promote_core::config::{Environment, Mode};
use promote_core::image::EnvVersion;
use promote_core::overlay::{Overlay, PlanOptions, Target};
use promote_core::{Person, image::ImageChange};

use super::draft::{Draft, Planner, finish};
use super::message::{self, Subject};
use super::reviews::{ExistingPr, KnownPr};
use crate::images::ImageCheck;
use crate::plan::{Prepared, branch_name};
use crate::render::SpeculativeInput;
use crate::session::Workspace;
use crate::{Interaction, PromoteError, Session};

/// What to change: ENV's images, to VERSION or to what UPSTREAM runs.
#[derive(Debug, Clone)]
pub struct PromoteRequest {
    pub env: String,
    pub target: TargetSpec,
    pub only: Vec<String>,
    pub digests: BTreeMap<String, String>,
    pub drop_digests: bool,
    /// `--pr` / `--direct`; `None` = the environment's mode from `promote.yaml`.
    pub mode: Option<Mode>,
    pub message: Option<String>,
    pub author: Option<Person>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    Version(String),
    From(String),
}

/// Plan and check a promotion. Writes nothing: not to the remote, not to the repository.
pub fn prepare(
    planner: &Planner<'_>,
    req: &PromoteRequest,
    ui: &dyn Interaction,
) -> Result<Prepared, PromoteError> {
    prepare_with(planner, req, None, ui).map(|(prepared, _)| prepared)
}

/// Reads the open pull request from a promotion's head branch (`promote/ENV/VERSION`), if any.
pub type ReadPr<'a> = dyn Fn(&str) -> Result<Option<ExistingPr>, PromoteError> + 'a;

/// [`prepare`] for PR mode: once the edit is planned (and so the head branch named), `read_pr`
/// reads the promotion's open pull request, and the policies judge the plan with its reviews
/// counted (testbed finding G4). Returns what was read, for the landing.
pub fn prepare_with(
    planner: &Planner<'_>,
    req: &PromoteRequest,
    read_pr: Option<&ReadPr<'_>>,
    ui: &dyn Interaction,
) -> Result<(Prepared, KnownPr), PromoteError> {
    let session = planner.gate.session;
    let Inputs {
        env,
        overlay,
        upstream_name,
        upstream,
        mut opts,
    } = inputs(session, req)?;
    let target = target(req, &upstream);
    ui.step(&format!("planning {} in {}", env.name, overlay.file()));
    // --pin-digests: the digests are part of the edit, so they are resolved before it is made.
    let (pins, pinned) = crate::images::pin(planner.images, &overlay, &target, &opts, ui)?;
    opts.pin = pins;
    let (edits, changes) = overlay.plan(&target, &opts)?;
    let version = version(req, upstream.as_ref(), &changes);
    if changes.is_empty() {
        let already = Prepared::AlreadyAt {
            environment: env.name.clone(),
            version,
            overlay_file: overlay.file().to_owned(),
        };
        return Ok((already, KnownPr::Unread));
    }
    let known = match read_pr {
        Some(read) => KnownPr::from(read(&branch_name(&env.slot(), version.as_deref()))?),
        None => KnownPr::Unread,
    };
    let pr_approvals = match &known {
        KnownPr::Open(existing) => Some(existing.for_env(&env.name)),
        KnownPr::Unread | KnownPr::NoneOpen => None,
    };
    let from = upstream_name;
    let subject = Subject::Promotion {
        from: from.as_deref(),
    };
    let draft = Draft {
        env: &env,
        overlay: &overlay,
        edits: &edits,
        changes,
        version,
        previous_version: EnvVersion::of(overlay.image_map().values())
            .as_str()
            .map(str::to_owned),
        from: from.clone(),
        mode: req.mode.unwrap_or(env.mode),
        author: req.author.clone(),
    };
    planner.gate.check_override(&env)?;
    let plan = finish(
        planner,
        draft,
        &pinned,
        &|d, author, seen| planner.judge_promotion_with(d, (author, seen), pr_approvals, ui),
        &message::builder(session, &subject, req.message.as_deref()),
        ui,
    )?;
    Ok((Prepared::Ready(Box::new(plan)), known))
}

/// The version the promotion brings: VERSION; with `--from`, what the promoted images will
/// run, or what upstream runs when nothing changes.
fn version(
    req: &PromoteRequest,
    upstream: Option<&Overlay>,
    changes: &[ImageChange],
) -> Option<String> {
    match (&req.target, upstream) {
        (TargetSpec::Version(v), _) => Some(v.clone()),
        (TargetSpec::From(_), Some(_)) if !changes.is_empty() => {
            EnvVersion::of(changes.iter().map(|c| &c.to))
                .as_str()
                .map(str::to_owned)
        }
        (TargetSpec::From(_), Some(up)) => EnvVersion::of(up.image_map().values())
            .as_str()
            .map(str::to_owned),
        (TargetSpec::From(_), None) => None,
    }
}

/// What a promotion is planned from: ENV, its overlay and the upstream's, at the session's base.
struct Inputs {
    env: Environment,
    overlay: Overlay,
    upstream_name: Option<String>,
    upstream: Option<Overlay>,
    opts: PlanOptions,
}

/// What the overlay is moved to: VERSION, or the upstream overlay [`inputs`] read for `--from`.
fn target<'a>(req: &'a PromoteRequest, upstream: &'a Option<Overlay>) -> Target<'a> {
    match (&req.target, upstream) {
        (TargetSpec::Version(v), _) => Target::Version(v),
        (TargetSpec::From(_), Some(up)) => Target::Upstream(up),
        (TargetSpec::From(_), None) => unreachable!("upstream overlay is read for --from"),
    }
}

fn inputs(session: &Session, req: &PromoteRequest) -> Result<Inputs, PromoteError> {
    let env = session.config.env(&req.env)?.clone();
    let overlay = session.overlay_at(&env, session.base)?;
    let upstream_name = match &req.target {
        TargetSpec::From(up) => Some(up.clone()),
        TargetSpec::Version(_) => env.from.clone(),
    };
    let upstream = match &req.target {
        TargetSpec::From(up) => {
            if up == &env.name {
                return Err(PromoteError::Usage(format!(
                    "--from {up}: an environment cannot be promoted from itself"
                )));
            }
            let up_env = session.config.env(up)?;
            Some(session.overlay_at(up_env, session.base)?)
        }
        TargetSpec::Version(_) => None,
    };
    let opts = PlanOptions {
        only: req.only.clone(),
        digests: req.digests.clone(),
        drop_digests: req.drop_digests,
        elsewhere: if req.only.is_empty() {
            Vec::new()
        } else {
            session.images_elsewhere(&env.overlay, session.base)
        },
        pin: BTreeMap::new(),
    };
    Ok(Inputs {
        env,
        overlay,
        upstream_name,
        upstream,
        opts,
    })
}

/// Guess, without fetching, what the render check of `req` will render: the promotion planned
/// from the last-fetched remote tip ([`Session::open_at_last_fetch`]), to be rendered while
/// the real session fetches (a [`crate::render::Speculation`]). The guess is only used when
/// the render key after the fetch is the same, so a wrong guess costs a wasted render, never
/// a wrong check. `None` when there is nothing to guess: the repo cannot be opened this way,
/// the plan fails or changes nothing, or `--pin-digests` (the edit waits on the registry).
pub fn speculate(
    workspace: &Workspace,
    images: &ImageCheck,
    req: &PromoteRequest,
) -> Option<SpeculativeInput> {
    if matches!(images, ImageCheck::Pin(_)) {
        return None;
    }
    let session = Session::open_at_last_fetch(workspace)?;
    let (changed, target) = planned_render(&session, req)?;
    let Session { repo, base, .. } = session;
    Some((repo, base, changed, target))
}

/// What the render check of `req` planned from `session` renders: the files the edit changes
/// (path → new bytes) and the render target. `None` when the plan fails or changes nothing (the
/// real planning says why). Without `--pin-digests` digests: those wait on the registry.
pub fn planned_render(
    session: &Session,
    req: &PromoteRequest,
) -> Option<(BTreeMap<String, Vec<u8>>, crate::render::RenderTarget)> {
    let Inputs {
        env,
        overlay,
        upstream,
        opts: plan_opts,
        ..
    } = inputs(session, req).ok()?;
    let target = target(req, &upstream);
    let (edits, changes) = overlay.plan(&target, &plan_opts).ok()?;
    if changes.is_empty() {
        return None;
    }
    let new_text = overlay.apply(&edits).ok()?;
    let changed: BTreeMap<String, Vec<u8>> =
        [(overlay.file().to_owned(), new_text.into_bytes())].into();
    Some((changed, crate::render::RenderTarget::of(&env)))
}
