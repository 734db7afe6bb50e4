//! What a promotion, a revert and `verify` share once the edit is planned: a [`Draft`], judged
//! by the one gate, and turned into a [`Plan`] by [`finish`] (the edit applied and checked, the
//! render, the image check and the policies run side by side, the render compared with what the
//! environment last had).

use std::collections::BTreeMap;
use std::thread;

use promote_core::config::{Environment, Mode};
use promote_core::image::ImageChange;
use promote_core::overlay::{ImageEdit, Overlay};
use promote_core::registry::ImageCheckReport;
use promote_core::supply_chain::{ImageSupplyChain, SupplyChainReport};
use promote_core::{Person, diff};
use promote_git::CommitId;

use crate::approval::PrApprovals;
use crate::gate::{Gate, Judged, Operation, PolicyVerdict};
use crate::images::{Found, ImageCheck};
use crate::plan::{Plan, RenderDiff, RenderReport};
use crate::render::{RenderTarget, Rendered, Renderer};
use crate::rendered::{self, PlanComparison};
use crate::supply_chain::Trust;
use crate::{Interaction, PromoteError};
use promote_core::render_diff::ObjectDiff;

use crate::release::{self, ImageSource};

/// What planning a commit needs: the gate (with the session it reads), the renderer and the
/// image check.
#[derive(Clone, Copy)]
pub struct Planner<'a> {
    pub gate: Gate<'a>,
    pub renderer: &'a Renderer,
    pub images: &'a ImageCheck,
}

/// A planned edit of ENV's overlay: a promotion, a revert, or the promotion a hand-written
/// change amounts to (`verify`).
pub struct Draft<'a> {
    pub env: &'a Environment,
    pub overlay: &'a Overlay,
    pub edits: &'a [ImageEdit],
    pub changes: Vec<ImageChange>,
    pub version: Option<String>,
    pub previous_version: Option<String>,
    pub from: Option<String>,
    pub mode: Mode,
    pub author: Option<Person>,
}

impl Draft<'_> {
    /// The images the draft makes run (name → tag and digest).
    pub fn promoted(&self) -> promote_core::image::ImageMap {
        self.changes
            .iter()
            .map(|c| (c.name.clone(), c.to.clone()))
            .collect()
    }
}

/// What the policies see besides the draft: what it does to the rendered manifests, the
/// release behind each image, and each image's supply-chain facts (`None`: not gathered).
pub type Seen<'s> = (
    &'s [ObjectDiff],
    &'s [ImageSource],
    Option<&'s [ImageSupplyChain]>,
);

/// Judges a draft by its author, with what it does to the rendered manifests (`None`: no
/// policies configured).
pub type Judge<'a> =
    dyn Fn(&Draft<'_>, &Person, Seen<'_>) -> Result<Option<PolicyVerdict>, PromoteError> + 'a;

/// What the registry checks found: the image check and the supply-chain step.
pub type Checks<'c> = (&'c ImageCheckReport, &'c SupplyChainReport);

/// Builds a commit message from the draft, the author, the policies' verdict and the checks.
pub type Message<'a> =
    dyn Fn(&Draft<'_>, &Person, Option<&PolicyVerdict>, Checks<'_>) -> String + 'a;

impl Planner<'_> {
    /// ENV's promote policies on a drafted promotion (`None`: none configured). Shared by
    /// promotions and `verify`, which judges a hand-written change as the promotion it amounts
    /// to.
    pub fn judge_promotion(
        &self,
        d: &Draft<'_>,
        (author, seen): (&Person, Seen<'_>),
        ui: &dyn Interaction,
    ) -> Result<Option<PolicyVerdict>, PromoteError> {
        self.judge_promotion_with(d, (author, seen), None, ui)
    }

    /// [`Planner::judge_promotion`] with the approvals of the promotion's open pull request.
    pub fn judge_promotion_with(
        &self,
        d: &Draft<'_>,
        (author, (render_diff, sources, supply_chain)): (&Person, Seen<'_>),
        pr: Option<PrApprovals<'_>>,
        ui: &dyn Interaction,
    ) -> Result<Option<PolicyVerdict>, PromoteError> {
        let version = d.version.as_deref().unwrap_or("mixed");
        self.gate.judge_with(
            &Judged {
                env: d.env,
                operation: Operation::Promotion {
                    from: d.from.as_deref(),
                    previous_version: d.previous_version.as_deref(),
                    changes: &d.changes,
                    mode: d.mode,
                    render_diff,
                    sources,
                    supply_chain,
                },
                version,
                promoted: &d.promoted(),
                author,
            },
            pr,
            ui,
        )
    }
}

/// What the registries said: the image check's references (`None`: skipped) and the
/// supply-chain facts (`None`: not gathered).
type Looked = (Option<Vec<Found>>, Option<Vec<ImageSupplyChain>>);

/// The results of [`finish`]'s side-by-side work.
struct SideBySide {
    rendered: Result<Rendered, PromoteError>,
    found: Result<Looked, PromoteError>,
    judged: Result<(Person, Option<PolicyVerdict>), PromoteError>,
    last: Option<(CommitId, String)>,
    baseline: Baseline,
    render_diff: RenderDiff,
    sources: Vec<ImageSource>,
}

/// Apply the edits, check they hold, render and look the images up (beside the rest), and
/// assemble the [`Plan`]. `judge` evaluates the policies (on this thread, while the render and
/// the image check run on others); `pinned` are the references `--pin-digests` already
/// resolved; `message` builds the commit message with the verdict and the check.
pub fn finish(
    planner: &Planner<'_>,
    d: Draft<'_>,
    pinned: &[Found],
    judge: &Judge<'_>,
    message: &Message<'_>,
    ui: &dyn Interaction,
) -> Result<Plan, PromoteError> {
    let (session, renderer) = (planner.gate.session, planner.renderer);
    let env = d.env;
    let overlay = d.overlay;
    let new_text = overlay.apply(d.edits)?;
    check_edit(overlay, &new_text, &d.changes)?;
    let file = overlay.file().to_owned();
    let trust = crate::supply_chain::trust(planner.images, session, env)?;
    let target = RenderTarget::of(env);
    ui.step(&format!(
        "rendering {} with {}",
        env.overlay,
        renderer.describe(&target)
    ));
    let side = side_by_side(planner, &d, (&file, &new_text), (pinned, &trust), judge, ui);
    // An unknown image is the first thing to fix: report it before a render error it may cause.
    let (found, supply_chain) = side.found?;
    let rendered = side.rendered?;
    if rendered.speculative {
        ui.step("rendered while fetching: the fetch changed nothing the render reads");
    }
    let (author, policy) = side.judged?;
    let rendered_images = comparison(planner, &d, &file, &rendered, side.last, &side.baseline);
    let render_diff = side.render_diff;
    let sources = side.sources;
    let image_check = crate::images::report(found, &author);
    let supply_chain = crate::supply_chain::report(&trust, supply_chain, &author);
    let commit_message = message(&d, &author, policy.as_ref(), (&image_check, &supply_chain));
    Ok(Plan {
        environment: env.name.clone(),
        diff: diff::unified(&file, overlay.text(), &new_text),
        from: d.from,
        version: d.version,
        previous_version: d.previous_version,
        mode: d.mode,
        overlay_file: file,
        images: d.changes,
        render: RenderReport {
            program: renderer.describe(&target).to_owned(),
            resources: rendered.resources,
            cached: rendered.cached,
        },
        rendered_images,
        render_diff,
        sources,
        commit_message,
        author,
        policy,
        image_check,
        supply_chain,
        base: session.base.to_string(),
        app: env.app.clone(),
        apps: Vec::new(),
        new_text,
        overlay_dir: env.overlay.clone(),
        render_target: target,
        base_id: Some(session.base),
    })
}

/// The render is the slow part: it runs beside the rest of the planning, with the image check
/// and the render of what the environment last had (see [`rendered::last_change`]), while the
/// policies run on this thread.
fn side_by_side(
    planner: &Planner<'_>,
    d: &Draft<'_>,
    (file, new_text): (&str, &str),
    (pinned, trust): (&[Found], &Trust),
    judge: &Judge<'_>,
    ui: &dyn Interaction,
) -> SideBySide {
    let (session, renderer) = (planner.gate.session, planner.renderer);
    let changes_map: BTreeMap<String, Vec<u8>> =
        [(file.to_owned(), new_text.as_bytes().to_vec())].into();
    thread::scope(|s| {
        let (git_dir, base, overlay_dir) = (
            session.repo.git_dir().to_owned(),
            session.base,
            RenderTarget::of(d.env),
        );
        let changes_map = &changes_map;
        // git2 handles are not shared across threads: each render opens its own.
        let (git_dir2, overlay_dir2) = (git_dir.clone(), overlay_dir.clone());
        let render = s.spawn(move || -> Result<Rendered, PromoteError> {
            let repo = promote_git::Repo::open(&git_dir)?;
            Ok(renderer.render(&repo, base, changes_map, &overlay_dir)?)
        });
        // Not through the speculation: that is the edit's render, and a render of another
        // key would cancel it (`Speculation::claim`).
        let plain = Renderer {
            speculation: None,
            ..renderer.clone()
        };
        let last_render =
            s.spawn(move || last_and_base(&plain, &git_dir2, file, base, &overlay_dir2));
        // The release behind the tags, when the registry is asked at all (not with
        // --skip-image-check): labels from the registry, commits from the sources' forges.
        let gitops_forge = crate::forge::target(session).ok();
        let known = release::known_forges(gitops_forge.as_ref());
        let ranges = planner.images.resolver_arc().map(|resolver| {
            let changes = &d.changes;
            s.spawn(move || release::ranges(resolver.as_ref(), &known, changes))
        });
        let pending = crate::images::pending(planner.images, &d.changes, pinned, ui);
        crate::supply_chain::announce(trust, d.changes.len(), ui);
        let (resolver, changes) = (planner.images.resolver_arc(), &d.changes);
        let images = s.spawn(move || -> Result<_, PromoteError> {
            let found = crate::images::resolve_pending(pending?, pinned)?;
            let chain =
                crate::supply_chain::gather(trust, resolver.as_deref(), changes, found.as_deref())?;
            Ok((found, chain))
        });
        let author = match &d.author {
            Some(a) => Ok(a.clone()),
            None => session.repo.config_person().ok_or(PromoteError::NoIdentity),
        };
        let join = |h: thread::ScopedJoinHandle<'_, _>| {
            h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        };
        let rendered = join(render);
        let (last, baseline, base_render) = last_render
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        // The policies see what the change does to the rendered manifests, so they run once
        // both renders are in (the image lookups go on meanwhile).
        let render_diff = render_diff_of(&rendered, base_render);
        // The forges are asked on this thread (their clients are not shared across threads).
        let sources =
            match ranges.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))) {
                Some(ranges) => {
                    let forges = release::Forges {
                        gitops: gitops_forge.as_ref(),
                        connector: planner.gate.ports.forges.as_ref(),
                    };
                    release::with_commits(&forges, &d.changes, ranges)
                }
                None => Vec::new(),
            };
        // The policies read the supply-chain facts, which need the digests the image check
        // resolves: wait for both first.
        let found = images
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        let chain = found.as_ref().ok().and_then(|(_, c)| c.as_deref());
        let judged = author
            .and_then(|a| judge(d, &a, (render_diff.objects(), &sources, chain)).map(|v| (a, v)));
        SideBySide {
            rendered,
            found,
            judged,
            last,
            baseline,
            render_diff,
            sources,
        }
    })
}

/// The render of what the environment last had (its last change of `file`), how it compares
/// as a baseline, and the base tip's render for the rendered diff (usually cached: the
/// promotion that pushed the tip rendered the same inputs).
fn last_and_base(
    plain: &Renderer,
    git_dir: &std::path::Path,
    file: &str,
    base: CommitId,
    overlay_dir: &RenderTarget,
) -> (Option<(CommitId, String)>, Baseline, Result<String, String>) {
    let repo = match promote_git::Repo::open(git_dir) {
        Ok(r) => r,
        Err(e) => {
            let e = e.to_string();
            return (None, Baseline::Failed(e.clone()), Err(e));
        }
    };
    let last = rendered::last_change(&repo, file, base);
    let at = last.as_ref().map_or(base, |(c, _)| *c);
    let baseline = baseline(plain, &repo, at, base, overlay_dir);
    let base_render = match &baseline {
        Baseline::Rendered(r) if at == base => Ok(r.manifests.clone()),
        _ => plain
            .render(&repo, base, &BTreeMap::new(), overlay_dir)
            .map(|r| r.manifests)
            .map_err(|e| e.to_string()),
    };
    (last, baseline, base_render)
}

/// The rendered diff of the change's render against the base tip's.
fn render_diff_of(
    rendered: &Result<Rendered, PromoteError>,
    base_render: Result<String, String>,
) -> RenderDiff {
    match rendered {
        Ok(r) => RenderDiff::between(base_render.as_deref().map_err(String::as_str), &r.manifests),
        Err(e) => RenderDiff::Unavailable {
            unavailable: e.to_string(),
        },
    }
}

/// The plan's rendered-image comparison with the tree the environment last had.
fn comparison(
    planner: &Planner<'_>,
    d: &Draft<'_>,
    file: &str,
    rendered: &Rendered,
    last: Option<(CommitId, String)>,
    baseline: &Baseline,
) -> PlanComparison {
    let session = planner.gate.session;
    let compared_with = match &last {
        Some((c, subject)) => format!(
            "{} ({}'s last change of {file}: \"{subject}\")",
            c.short(),
            d.env.name
        ),
        None => format!(
            "{} ({} before this edit)",
            session.base.short(),
            session.base_name()
        ),
    };
    let names = rendered::image_names(session, &d.env.overlay, &[session.base]);
    let compared_commit = last.as_ref().map_or(session.base, |(c, _)| *c);
    let compare = |before: Result<&str, &str>| match rendered::compare(
        before,
        &rendered.manifests,
        &names,
        &d.changes,
        (compared_commit, compared_with.clone()),
    ) {
        Ok((cmp, _)) => PlanComparison::Compared(cmp),
        Err(message) => PlanComparison::Unreadable { message },
    };
    match baseline {
        Baseline::Rendered(r) => compare(Ok(&r.manifests)),
        Baseline::Failed(e) => compare(Err(e)),
        Baseline::SameInputs => PlanComparison::OnlyThisEdit {
            compared_commit: compared_commit.to_string(),
            compared_with: compared_with.clone(),
        },
    }
}

/// What a plan's render is compared with.
enum Baseline {
    Rendered(Rendered),
    /// Nothing the render reads differs between the tree the env last had and the base tip
    /// (equal render keys), and that render is not cached: the edit's render differs from it
    /// by the edit alone, so there is nothing to flag and it is not rendered.
    SameInputs,
    /// It did not render (every container then counts as new).
    Failed(String),
}

/// The render of the tree the env last had (`at`): from the cache where it is there; else
/// skipped when its inputs are the base tip's ([`Baseline::SameInputs`]); else rendered. The
/// skip keeps a first promotion on a machine (an empty cache) at one render.
fn baseline(
    renderer: &Renderer,
    repo: &promote_git::Repo,
    at: CommitId,
    base: CommitId,
    overlay_dir: &RenderTarget,
) -> Baseline {
    let none = BTreeMap::new();
    if let Ok(Some(r)) = renderer.render_cached(repo, at, &none, overlay_dir) {
        return Baseline::Rendered(r);
    }
    let same = at == base
        || matches!(
            (
                renderer.key(repo, at, &none, overlay_dir),
                renderer.key(repo, base, &none, overlay_dir),
            ),
            (Ok(a), Ok(b)) if a == b
        );
    if same {
        return Baseline::SameInputs;
    }
    match renderer.render(repo, at, &none, overlay_dir) {
        Ok(r) => Baseline::Rendered(r),
        Err(e) => Baseline::Failed(e.to_string()),
    }
}

/// The edited text must parse and hold exactly the intended values (and nothing else moved).
fn check_edit(
    before: &Overlay,
    new_text: &str,
    changes: &[ImageChange],
) -> Result<(), PromoteError> {
    let after = before
        .reparse(before.file(), new_text)
        .map_err(|e| PromoteError::EditCheck {
            file: before.file().to_owned(),
            detail: e.to_string(),
        })?;
    let mut expected = before.image_map();
    for c in changes {
        expected.insert(c.name.clone(), c.to.clone());
    }
    if after.image_map() != expected {
        return Err(PromoteError::EditCheck {
            file: before.file().to_owned(),
            detail: "the images read back differ from the plan".into(),
        });
    }
    Ok(())
}
