//! `kubectl promote verify [REV|--pr N]`: make policies binding for every change to the
//! overlays, hand-written ones included (a required CI check on the protected branch).
//!
//! For each environment whose render inputs (its overlay and every directory its
//! kustomizations load) a commit range changes, the change is judged as the promotion it
//! amounts to, through the same gate as `kubectl promote` ([`crate::promote::promote_gate`]),
//! with the configuration and repo policy modules of the base tip. What is judged is what the
//! change makes run: the environment is rendered before and after the change and the container
//! images of every workload compared ([`crate::rendered`]), so an image changed by a patch, a
//! `replacements` entry, a component or a base edit faces the policies as an `images:` edit
//! does. The change's own `promote.yaml` is never used: a pull request must not be able to
//! relax the rules it is checked against.

use std::collections::BTreeMap;
use std::thread;

use serde::Serialize;

use promote_core::Person;
use promote_core::config::{Environment, Mode};
use promote_core::forge::ForgeKind;
use promote_core::image::{EnvVersion, ImageChange, ImageRef};
use promote_core::overlay::{Overlay, PlanOptions, Target};
use promote_git::CommitId;

use crate::policy::PolicyVerdict;
use crate::promote::{Draft, RenderReport, promote_gate};
use crate::render::{Renderer, render_inputs};
use crate::rendered::{self, RenderedImages};
use crate::{Interaction, PromoteError, Session};

/// Which change to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Range {
    /// `merge-base(HEAD, base tip)..HEAD`.
    Head,
    /// `A..B`, `A...B` (from their merge base) or one commit `C` (`C^..C`).
    Rev(String),
    /// The head of pull request / merge request N, fetched from the remote, from its merge base
    /// with the base tip.
    Pr(u64),
}

/// What was verified, per environment.
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
    pub result: Outcome,
}

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
    /// `None`: no policies ran (none configured, or no image changes in the render).
    pub policy: Option<PolicyVerdict>,
    pub result: Outcome,
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
pub enum Outcome {
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

impl Outcome {
    /// Denied wins (it is final), then errors, then missing approvals.
    fn rank(self) -> u8 {
        match self {
            Outcome::Unchanged => 0,
            Outcome::Allowed => 1,
            Outcome::AwaitingApproval => 2,
            Outcome::Error => 3,
            Outcome::Denied => 4,
        }
    }
}

/// Verify a change. A denial is an outcome in the report, not an error.
pub fn verify(
    session: &Session,
    range: &Range,
    renderer: &Renderer,
    progress: &dyn Interaction,
) -> Result<VerifyReport, PromoteError> {
    let repo = &session.repo;
    let base = session.base;
    let (from_commit, to_commit, source) = resolve_range(session, range, progress)?;
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
    let mode = match range {
        Range::Pr(_) => Mode::Pr,
        _ => Mode::Direct,
    };
    let mut environments = Vec::new();
    for env in &session.config.environments {
        if !inputs_changed(session, env, from_commit, to_commit)? {
            continue;
        }
        progress.step(&format!("verifying {} ({} changed)", env.name, env.overlay));
        environments.push(verify_env(
            session,
            env,
            (compare_at, &compared_with),
            to_commit,
            range_mode(env, mode, range),
            &author,
            renderer,
            progress,
        )?);
    }
    let result = environments
        .iter()
        .map(|e| e.result)
        .max_by_key(|o| o.rank())
        .unwrap_or(Outcome::Unchanged);
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

fn range_mode(env: &Environment, pr: Mode, range: &Range) -> Mode {
    match range {
        Range::Pr(_) => pr,
        _ => env.mode,
    }
}

/// (start, end, description) of the range.
fn resolve_range(
    session: &Session,
    range: &Range,
    progress: &dyn Interaction,
) -> Result<(CommitId, CommitId, String), PromoteError> {
    let repo = &session.repo;
    let since_merge_base = |tip: CommitId, what: &str| -> Result<CommitId, PromoteError> {
        repo.merge_base(tip, session.base)?
            .ok_or_else(|| PromoteError::NoCommonHistory {
                what: what.to_owned(),
                base: session.base_name(),
            })
    };
    match range {
        Range::Head => {
            let head = repo.resolve("HEAD").map_err(|_| PromoteError::Usage("verify: this repository has no HEAD commit; give a range (`kubectl promote verify A..B`) or --pr N".into()))?;
            Ok((since_merge_base(head, "HEAD")?, head, "HEAD".into()))
        }
        Range::Rev(rev) => {
            if let Some((a, b)) = rev.split_once("...") {
                let b_id = repo.resolve(if b.is_empty() { "HEAD" } else { b })?;
                let a_id = repo.resolve(if a.is_empty() { "HEAD" } else { a })?;
                let mb = repo.merge_base(a_id, b_id)?.ok_or_else(|| {
                    PromoteError::Usage(format!("verify {rev}: the two sides share no history"))
                })?;
                Ok((mb, b_id, rev.clone()))
            } else if let Some((a, b)) = rev.split_once("..") {
                let a_id = repo.resolve(if a.is_empty() { "HEAD" } else { a })?;
                let b_id = repo.resolve(if b.is_empty() { "HEAD" } else { b })?;
                Ok((a_id, b_id, rev.clone()))
            } else {
                let c = repo.resolve(rev)?;
                let parent = repo.commit_info(c)?.parents.first().copied().ok_or_else(|| {
                    PromoteError::Usage(format!("verify {rev}: {} is a root commit with no parent to compare with; give a range A..B", c.short()))
                })?;
                Ok((parent, c, rev.clone()))
            }
        }
        Range::Pr(n) => {
            // Which ref namespace the forge uses; unknown forges (a plain git server) get the
            // GitHub/Gitea name first, then GitLab's.
            let kind = crate::pr::forge_target(session).ok().map(|t| t.kind);
            let candidates: Vec<String> = match kind {
                Some(ForgeKind::GitLab) => vec![format!("refs/merge-requests/{n}/head")],
                Some(_) => vec![format!("refs/pull/{n}/head")],
                None => vec![
                    format!("refs/pull/{n}/head"),
                    format!("refs/merge-requests/{n}/head"),
                ],
            };
            // A remote-tracking ref: the next `git fetch --prune` removes it again.
            let into = format!("refs/remotes/{}/pull/{n}", session.remote);
            for src in &candidates {
                progress.step(&format!("fetching {src} from {}", session.remote));
                if let Some(head) = repo.fetch_ref(&session.remote, src, &into)? {
                    let start = since_merge_base(head, &format!("pull request #{n}"))?;
                    return Ok((start, head, format!("pull request #{n} ({src})")));
                }
            }
            Err(PromoteError::NoPullRequestHead {
                number: *n,
                remote: session.remote.clone(),
                refs: candidates.join(" or "),
            })
        }
    }
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
        render_inputs(repo, a, &none, &env.overlay)?,
        render_inputs(repo, b, &none, &env.overlay)?,
    ) {
        (Some(before), Some(after)) => Ok(before != after),
        _ => Ok(repo.path_id(a, "")? != repo.path_id(b, "")?),
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site; the environment's inputs"
)]
fn verify_env(
    session: &Session,
    env: &Environment,
    (compare_at, compared_with): (CommitId, &str),
    to: CommitId,
    mode: Mode,
    author: &Person,
    renderer: &Renderer,
    progress: &dyn Interaction,
) -> Result<EnvReport, PromoteError> {
    let error_report = |overlay_file: String, message: String, render: RenderCheck| EnvReport {
        environment: env.name.clone(),
        overlay_file,
        from: env.from.clone(),
        previous_version: None,
        version: None,
        images: Vec::new(),
        removed_images: Vec::new(),
        render,
        rendered: None,
        policy: None,
        result: Outcome::Error,
        error: Some(message),
    };
    let before = session.overlay_at(env, compare_at)?;
    let Some((file, text)) = session.kustomization_at(&env.overlay, to)? else {
        let msg = format!(
            "the change removes {}'s kustomization from `{}`; fix the overlay or `environments[].overlay` in promote.yaml (on {} first)",
            env.name,
            env.overlay,
            session.base_name()
        );
        return Ok(error_report(
            before.file().to_owned(),
            msg.clone(),
            RenderCheck::Failed { message: msg },
        ));
    };
    let after = match Overlay::parse(&file, &text) {
        Ok(o) => o,
        Err(e) => {
            return Ok(error_report(
                file,
                e.to_string(),
                RenderCheck::Failed {
                    message: "not rendered: the overlay does not parse".into(),
                },
            ));
        }
    };
    // The image changes, as `Overlay::plan` sees a promotion from the base overlay to the
    // changed one; images the change adds or removes are planned around (plan needs both).
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
        match before.plan(
            &Target::Upstream(&after),
            &PlanOptions {
                only: common,
                ..PlanOptions::default()
            },
        ) {
            Ok(p) => p,
            Err(e) => {
                return Ok(error_report(
                    file,
                    e.to_string(),
                    RenderCheck::Failed {
                        message: "not rendered: the image plan failed".into(),
                    },
                ));
            }
        }
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
    let removed_images: Vec<String> = before_map
        .keys()
        .filter(|k| !after_map.contains_key(*k))
        .cloned()
        .collect();
    let previous_version = EnvVersion::of(before_map.values())
        .as_str()
        .map(str::to_owned);
    // Render the change and what it is compared with, side by side (the baseline is usually
    // in the render cache: the base tip, rendered by the promotion or check that made it).
    let (render, baseline) = thread::scope(|s| {
        let spawn = |at: CommitId| {
            let (git_dir, overlay_dir) = (session.repo.git_dir().to_owned(), env.overlay.clone());
            s.spawn(move || -> Result<crate::render::Rendered, String> {
                let repo = promote_git::Repo::open(&git_dir).map_err(|e| e.to_string())?;
                renderer
                    .render(&repo, at, &BTreeMap::new(), &overlay_dir)
                    .map_err(|e| e.to_string())
            })
        };
        let (after, before) = (spawn(to), spawn(compare_at));
        let join = |h: thread::ScopedJoinHandle<'_, _>| {
            h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        };
        (join(after), join(before))
    });
    // What the policies judge: the images the change makes run, whatever edit made them.
    let mut comparison_error = None;
    let (rendered, judged) = match &render {
        Ok(r) => {
            // Named by the base's `images:` entries only: a change that points an entry's
            // `newName` at another repository must not have that repository judged (and
            // approved) under the trusted entry's name; it shows under its own.
            let names = rendered::image_names(session, &env.overlay, &[compare_at]);
            match rendered::compare(
                baseline
                    .as_ref()
                    .map(|b| b.manifests.as_str())
                    .map_err(String::as_str),
                &r.manifests,
                &names,
                &changes,
                (compare_at, compared_with.to_owned()),
            ) {
                Ok((cmp, from_render)) => (Some(cmp), rendered::judged(&changes, &from_render)),
                Err(e) => {
                    comparison_error = Some(format!(
                        "the rendered manifests could not be read, so the images they run were not compared: {e}"
                    ));
                    (None, changes.clone())
                }
            }
        }
        // The render check fails the environment; the `images:` edit is still judged.
        Err(_) => (None, changes.clone()),
    };
    let version = (!judged.is_empty()).then(|| {
        EnvVersion::of(judged.iter().map(|c| &c.to))
            .as_str()
            .unwrap_or("mixed")
            .to_owned()
    });
    let draft = Draft {
        env,
        overlay: &before,
        edits: &edits,
        changes: judged.clone(),
        version: version.clone(),
        previous_version: previous_version.clone(),
        from: env.from.clone(),
        mode,
        author: Some(author.clone()),
    };
    // No image runs that did not before (a change to other fields, or containers removed):
    // nothing is promoted, so no policy runs; the report says how many objects change.
    let verdict = if judged.is_empty() {
        Ok(None)
    } else {
        promote_gate(session, &draft, author, progress)
    };
    let render = match render {
        Ok(r) => RenderCheck::Ok(RenderReport {
            program: renderer.program.describe().to_owned(),
            resources: r.resources,
            cached: r.cached,
        }),
        Err(message) => RenderCheck::Failed { message },
    };
    // Policies that cannot be loaded or run are this environment's error, not the whole run's.
    let (policy, policy_error) = match verdict {
        Ok(v) => (v, None),
        Err(e @ (PromoteError::Policy(_) | PromoteError::Config(_))) => (None, Some(e.to_string())),
        Err(e) => return Err(e),
    };
    let policy_error = policy_error.or(comparison_error);
    let result = match (&policy, &policy_error, &render) {
        (Some(v), _, _) if v.denied() => Outcome::Denied,
        (_, Some(_), _) | (_, _, RenderCheck::Failed { .. }) => Outcome::Error,
        (Some(v), _, _) if v.awaiting_approval() => Outcome::AwaitingApproval,
        _ => Outcome::Allowed,
    };
    let error = policy_error.or_else(|| match &render {
        RenderCheck::Failed { message } => Some(message.clone()),
        RenderCheck::Ok(_) => None,
    });
    Ok(EnvReport {
        environment: env.name.clone(),
        overlay_file: file,
        from: env.from.clone(),
        previous_version,
        version,
        images: judged,
        removed_images,
        render,
        rendered,
        policy,
        result,
        error,
    })
}
