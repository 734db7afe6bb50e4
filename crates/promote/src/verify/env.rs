//! One environment's verdict on a change: its overlay before and after, the image changes its
//! `images:` makes, both renders compared (what the change makes run, whatever edit made it),
//! and the promote policies on what it amounts to.

use std::collections::BTreeMap;
use std::thread;

use serde::Serialize;

use promote_core::Person;
use promote_core::config::{Environment, Mode};
use promote_core::image::{EnvVersion, ImageChange, ImageRef};
use promote_core::overlay::{ImageEdit, Overlay, PlanOptions, Target};
use promote_core::supply_chain::SupplyChainReport;
use promote_git::CommitId;

use crate::gate::PolicyVerdict;
use crate::plan::{RenderDiff, RenderReport};
use crate::promotion::draft::{Draft, Planner};
use crate::render::{RenderTarget, Rendered};
use crate::rendered::{self, RenderedImages};
use crate::{Interaction, PromoteError};

/// One environment's verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvReport {
    pub environment: String,
    pub overlay_file: String,
    pub from: Option<String>,
    pub previous_version: Option<String>,
    /// The version the change sets (`mixed` when images differ, none without image changes).
    pub version: Option<String>,
    /// What the policies judge: images whose tag or digest the change makes run (added images
    /// have no `from`), from `images:` and from the render alike ([`rendered::judged`]).
    pub images: Vec<ImageChange>,
    /// Images the change removes from the overlay's `images:`.
    pub removed_images: Vec<String>,
    pub render: RenderCheck,
    /// The rendered images before and after the change (`None` when the change does not
    /// render).
    pub rendered: Option<RenderedImages>,
    /// What the change does to the rendered manifests against the range's start, object by
    /// object (absent when the change did not render).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub render_diff: Option<RenderDiff>,
    /// The signatures and provenance of every judged image's digest, as a promotion's plan
    /// shows them (`notConfigured` without a `trust:`, `skipped` with `--skip-image-check`);
    /// `None` when nothing was judged.
    pub supply_chain: Option<SupplyChainReport>,
    /// `None`: no policies ran (none configured, or no image changes in the render).
    pub policy: Option<PolicyVerdict>,
    pub result: Verdict,
    /// Why the environment could not be checked, when `result` is `error`.
    pub error: Option<String>,
}

/// The render check of the changed tree.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum RenderCheck {
    Ok(RenderReport),
    Failed { message: String },
}

/// The verdict of one environment, or of the whole change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Nothing to judge (the whole change: no environment changed).
    Unchanged,
    Allowed,
    /// Approvals the policies require are not on record (exit 4).
    AwaitingApproval,
    /// A policy denied (exit 3).
    Denied,
    /// The render failed or the policies could not decide (exit 1).
    Error,
}

impl Verdict {
    /// Denied wins (it is final), then errors, then missing approvals.
    pub(super) fn rank(self) -> u8 {
        match self {
            Verdict::Unchanged => 0,
            Verdict::Allowed => 1,
            Verdict::AwaitingApproval => 2,
            Verdict::Error => 3,
            Verdict::Denied => 4,
        }
    }
}

/// One environment of a change to judge.
pub(super) struct EnvCheck<'a> {
    pub planner: Planner<'a>,
    pub env: &'a Environment,
    /// What the change is compared with: the base tip, or the range start.
    pub compare_at: CommitId,
    pub compared_with: &'a str,
    /// The end of the range.
    pub to: CommitId,
    pub mode: Mode,
    pub author: &'a Person,
}

/// The changed overlay (its file and what it says), or the report of why it cannot be judged.
enum Changed {
    Overlay(String, Box<Overlay>),
    Unjudged(Box<EnvReport>),
}

/// The overlay's `images:` before and after: the changes (edits as `Overlay::plan` sees a
/// promotion from the base overlay to the changed one; images the change adds count as
/// changes from nothing) and the images it removes.
struct Declared {
    edits: Vec<ImageEdit>,
    changes: Vec<ImageChange>,
    removed: Vec<String>,
    previous_version: Option<String>,
}

impl EnvCheck<'_> {
    fn error_report(
        &self,
        overlay_file: String,
        message: String,
        render: RenderCheck,
    ) -> EnvReport {
        EnvReport {
            environment: self.env.name.clone(),
            overlay_file,
            from: self.env.from.clone(),
            previous_version: None,
            version: None,
            images: Vec::new(),
            removed_images: Vec::new(),
            render,
            rendered: None,
            render_diff: None,
            supply_chain: None,
            policy: None,
            result: Verdict::Error,
            error: Some(message),
        }
    }

    /// The environment's verdict (an error in the report when its change cannot be judged).
    pub(super) fn run(&self, ui: &dyn Interaction) -> Result<EnvReport, PromoteError> {
        let session = self.planner.gate.session;
        let before = session.overlay_at(self.env, self.compare_at)?;
        let (file, after) = match self.changed_overlay(&before)? {
            Changed::Overlay(file, after) => (file, after),
            Changed::Unjudged(report) => return Ok(*report),
        };
        let declared = match declared(&before, &after) {
            Ok(d) => d,
            Err(e) => {
                let failed = RenderCheck::Failed {
                    message: "not rendered: the image plan failed".into(),
                };
                return Ok(self.error_report(file, e.to_string(), failed));
            }
        };
        let (render, baseline) = self.render_both();
        let (rendered, judged, comparison_error) = self.compared(&render, &baseline, &declared);
        // What the change does to the rendered manifests, object by object (policies and the
        // report get it as a promotion's plan does).
        let render_diff = render.as_ref().ok().map(|r| {
            let base = baseline.as_ref().map(|b| b.manifests.as_str());
            RenderDiff::between(base.map_err(String::as_str), &r.manifests)
        });
        self.report(
            ui,
            file,
            &before,
            declared,
            (render, rendered, render_diff),
            (judged, comparison_error),
        )
    }

    /// The overlay at the end of the range, or the report of why it cannot be judged.
    fn changed_overlay(&self, before: &Overlay) -> Result<Changed, PromoteError> {
        let session = self.planner.gate.session;
        let env = self.env;
        let Some((file, text)) = session.pins_at(env, self.to)? else {
            let msg = format!(
                "the change removes {}'s image pins from `{}`; fix the file or the environment's `overlay`/`targets` in promote.yaml (on {} first)",
                env.name,
                env.overlay,
                session.base_name()
            );
            let failed = RenderCheck::Failed {
                message: msg.clone(),
            };
            return Ok(Changed::Unjudged(Box::new(self.error_report(
                before.file().to_owned(),
                msg,
                failed,
            ))));
        };
        Ok(match before.reparse(&file, &text) {
            Ok(o) => Changed::Overlay(file, Box::new(o)),
            Err(e) => {
                let failed = RenderCheck::Failed {
                    message: "not rendered: the overlay does not parse".into(),
                };
                Changed::Unjudged(Box::new(self.error_report(file, e.to_string(), failed)))
            }
        })
    }

    /// Render the change and what it is compared with, side by side (the baseline is usually
    /// in the render cache: the base tip, rendered by the promotion or check that made it).
    fn render_both(&self) -> (Result<Rendered, String>, Result<Rendered, String>) {
        let (session, renderer) = (self.planner.gate.session, self.planner.renderer);
        thread::scope(|s| {
            let spawn = |at: CommitId| {
                let (git_dir, overlay_dir) = (
                    session.repo.git_dir().to_owned(),
                    RenderTarget::of(self.env),
                );
                s.spawn(move || -> Result<Rendered, String> {
                    let repo = promote_git::Repo::open(&git_dir).map_err(|e| e.to_string())?;
                    renderer
                        .render(&repo, at, &BTreeMap::new(), &overlay_dir)
                        .map_err(|e| e.to_string())
                })
            };
            let (after, before) = (spawn(self.to), spawn(self.compare_at));
            let join = |h: thread::ScopedJoinHandle<'_, _>| {
                h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
            };
            (join(after), join(before))
        })
    }

    /// What the policies judge: the images the change makes run, whatever edit made them; the
    /// comparison, and why it could not be made.
    fn compared(
        &self,
        render: &Result<Rendered, String>,
        baseline: &Result<Rendered, String>,
        declared: &Declared,
    ) -> (Option<RenderedImages>, Vec<ImageChange>, Option<String>) {
        let changes = &declared.changes;
        let Ok(r) = render else {
            // The render check fails the environment; the `images:` edit is still judged.
            return (None, changes.clone(), None);
        };
        // Named by the base's `images:` entries only: a change that points an entry's
        // `newName` at another repository must not have that repository judged (and approved)
        // under the trusted entry's name; it shows under its own.
        let session = self.planner.gate.session;
        let names = rendered::image_names(session, &self.env.overlay, &[self.compare_at]);
        match rendered::compare(
            baseline
                .as_ref()
                .map(|b| b.manifests.as_str())
                .map_err(String::as_str),
            &r.manifests,
            &names,
            changes,
            (self.compare_at, self.compared_with.to_owned()),
        ) {
            Ok((cmp, from_render)) => (Some(cmp), rendered::judged(changes, &from_render), None),
            Err(e) => (
                None,
                changes.clone(),
                Some(format!(
                    "the rendered manifests could not be read, so the images they run were not compared: {e}"
                )),
            ),
        }
    }

    /// The signatures and provenance of what the change makes run, when the environment has a
    /// `trust:` (the registry is asked only then). A skipped check is recorded as skipped by
    /// whoever runs `verify` (their git identity), not by the change's author.
    fn supply_chain(
        &self,
        judged: &[ImageChange],
        ui: &dyn Interaction,
    ) -> Result<SupplyChainReport, PromoteError> {
        let session = self.planner.gate.session;
        let trust = crate::supply_chain::trust(self.planner.images, session, self.env)?;
        crate::supply_chain::announce(&trust, judged.len(), ui);
        let resolver = self.planner.images.resolver_arc();
        let facts = crate::supply_chain::gather(&trust, resolver.as_deref(), judged, None)?;
        let runner = session.repo.config_person().map_or_else(
            || "the verify run (no git user.name/user.email)".to_owned(),
            |p| p.to_string(),
        );
        Ok(crate::supply_chain::report(&trust, facts, &runner))
    }

    /// The policies on what the change amounts to, and the environment's report.
    fn report(
        &self,
        ui: &dyn Interaction,
        file: String,
        before: &Overlay,
        declared: Declared,
        (render, rendered, render_diff): (
            Result<Rendered, String>,
            Option<RenderedImages>,
            Option<RenderDiff>,
        ),
        (judged, comparison_error): (Vec<ImageChange>, Option<String>),
    ) -> Result<EnvReport, PromoteError> {
        let env = self.env;
        let version = (!judged.is_empty()).then(|| {
            EnvVersion::of(judged.iter().map(|c| &c.to))
                .as_str()
                .unwrap_or("mixed")
                .to_owned()
        });
        let draft = Draft {
            env,
            overlay: before,
            edits: &declared.edits,
            changes: judged.clone(),
            version: version.clone(),
            previous_version: declared.previous_version.clone(),
            from: env.from.clone(),
            mode: self.mode,
            author: Some(self.author.clone()),
        };
        // No image runs that did not before (a change to other fields, or containers removed):
        // nothing is promoted, so no policy runs; the report says how many objects change.
        let objects = render_diff.as_ref().map_or(&[][..], RenderDiff::objects);
        let (verdict, supply_chain) = if judged.is_empty() {
            (Ok(None), None)
        } else {
            match self.supply_chain(&judged, ui) {
                Ok(chain) => (
                    self.planner.judge_promotion(
                        &draft,
                        (self.author, (objects, &[], chain.images())),
                        ui,
                    ),
                    Some(chain),
                ),
                Err(e) => (Err(e), None),
            }
        };
        let render = match render {
            Ok(r) => RenderCheck::Ok(RenderReport {
                program: self
                    .planner
                    .renderer
                    .describe(&RenderTarget::of(self.env))
                    .to_owned(),
                resources: r.resources,
                cached: r.cached,
            }),
            Err(message) => RenderCheck::Failed { message },
        };
        // Policies that cannot be loaded or run are this environment's error, not the whole
        // run's.
        let (policy, policy_error) = match verdict {
            Ok(v) => (v, None),
            Err(e @ (PromoteError::Policy(_) | PromoteError::Config(_))) => {
                (None, Some(e.to_string()))
            }
            Err(e) => return Err(e),
        };
        let policy_error = policy_error.or(comparison_error);
        let result = match (&policy, &policy_error, &render) {
            (Some(v), _, _) if v.denied() => Verdict::Denied,
            (_, Some(_), _) | (_, _, RenderCheck::Failed { .. }) => Verdict::Error,
            (Some(v), _, _) if v.awaiting_approval() => Verdict::AwaitingApproval,
            _ => Verdict::Allowed,
        };
        let error = policy_error.or_else(|| match &render {
            RenderCheck::Failed { message } => Some(message.clone()),
            RenderCheck::Ok(_) => None,
        });
        Ok(EnvReport {
            environment: env.name.clone(),
            overlay_file: file,
            from: env.from.clone(),
            previous_version: declared.previous_version,
            version,
            images: judged,
            removed_images: declared.removed,
            render,
            rendered,
            render_diff,
            supply_chain,
            policy,
            result,
            error,
        })
    }
}

/// The `images:` changes from `before` to `after`; `Err` when the plan fails.
fn declared(
    before: &Overlay,
    after: &Overlay,
) -> Result<Declared, promote_core::overlay::OverlayError> {
    let before_map = before.image_map();
    let after_map = after.image_map();
    let common: Vec<String> = before_map
        .keys()
        .filter(|k| after_map.contains_key(*k))
        .cloned()
        .collect();
    let (edits, mut changes) = if common.is_empty() || !before.has_images() {
        (Vec::new(), Vec::new())
    } else {
        before.plan(
            &Target::Upstream(after),
            &PlanOptions {
                only: common,
                ..PlanOptions::default()
            },
        )?
    };
    let new_name = |k: &str| {
        after.images().ok().and_then(|es| {
            es.iter()
                .find(|e| e.name == k)
                .and_then(|e| e.new_name.clone())
        })
    };
    for (name, to_ref) in &after_map {
        if !before_map.contains_key(name) {
            changes.push(ImageChange {
                name: name.clone(),
                new_name: new_name(name),
                from: ImageRef {
                    tag: None,
                    digest: None,
                },
                to: to_ref.clone(),
            });
        }
    }
    Ok(Declared {
        edits,
        changes,
        removed: before_map
            .keys()
            .filter(|k| !after_map.contains_key(*k))
            .cloned()
            .collect(),
        previous_version: EnvVersion::of(before_map.values())
            .as_str()
            .map(str::to_owned),
    })
}
