//! `kubectl promote diff ENV --between REV1 REV2`: what the cluster would run differently if
//! ENV went from one revision of the repository to another (what a rollback would undo, what a
//! merge brought in), object by object ([`promote_core::render_diff`]). Both sides render
//! through the render cache; nothing is written anywhere.

use std::collections::BTreeMap;

use serde::Serialize;

use promote_core::manifests::Manifests;
use promote_core::render_diff::{ObjectDiff, diff_objects};
use promote_git::CommitId;

use crate::ports::Ports;
use crate::render::RenderTarget;
use crate::{Interaction, PromoteError, Session};

/// Two revisions of one environment.
#[derive(Debug, Clone)]
pub struct Between {
    pub env: String,
    /// A revision git can resolve (a SHA, a branch, `origin/main~3`, a tag).
    pub from: String,
    pub to: String,
}

/// The `-o json|yaml` document of a diff (`kind: RenderDiff`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffReport {
    pub environment: String,
    /// The overlay rendered on both sides.
    pub overlay: String,
    /// The commit of each side and what named it.
    pub from: Side,
    pub to: Side,
    /// Objects added, removed or changed, in identity order.
    pub render_diff: Vec<ObjectDiff>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub revision: String,
    pub commit: String,
}

/// Render ENV at both revisions and diff them.
pub fn between(
    ports: &Ports,
    req: &Between,
    ui: &dyn Interaction,
) -> Result<DiffReport, PromoteError> {
    let session = Session::open(&ports.workspace, ui)?;
    let env = session.config.env(&req.env)?;
    let overlay = env.overlay.clone();
    let resolve = |rev: &str| -> Result<CommitId, PromoteError> {
        session
            .repo
            .resolve(rev)
            .or_else(|e| session.resolve_fetching(rev).ok_or(e))
            .map_err(|e| PromoteError::Usage(format!("diff --between: {e}")))
    };
    let (a, b) = (resolve(&req.from)?, resolve(&req.to)?);
    ui.step(&format!(
        "rendering {overlay} at {} and at {}",
        a.short(),
        b.short()
    ));
    let render = |at: CommitId, rev: &str| -> Result<Manifests, PromoteError> {
        let failed = |detail: String| PromoteError::RenderAt {
            overlay: overlay.clone(),
            rev: rev.to_owned(),
            detail,
        };
        let rendered = ports
            .renderer
            .render(&session.repo, at, &BTreeMap::new(), &RenderTarget::of(env))
            .map_err(|e| failed(e.to_string()))?;
        Manifests::parse("the render", &rendered.manifests).map_err(|e| failed(e.to_string()))
    };
    let before = render(a, &req.from)?;
    let after = render(b, &req.to)?;
    Ok(DiffReport {
        environment: env.name.clone(),
        overlay,
        from: Side {
            revision: req.from.clone(),
            commit: a.to_string(),
        },
        to: Side {
            revision: req.to.clone(),
            commit: b.to_string(),
        },
        render_diff: diff_objects(&before, &after),
    })
}
