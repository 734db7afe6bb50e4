//! `kubectl promote ENV VERSION` / `ENV --from UPSTREAM`: plan the overlay edit, check the
//! render, then commit with trailers and push (DESIGN "What a promotion does", steps 1–6).
//!
//! It runs in two phases so that the binary can show the plan and ask for confirmation in
//! between: [`prepare`] reads and checks everything and writes nothing anywhere (a dry run stops
//! there); [`apply`] writes the commit object and pushes. A push that loses a race re-applies the
//! edit on the new tip only when that tip did not touch this environment's overlay.

use std::collections::BTreeMap;
use std::thread;

use serde::Serialize;

use promote_core::config::{Environment, Mode};
use promote_core::image::{EnvVersion, ImageChange};
use promote_core::overlay::{Overlay, PlanOptions, Target};
use promote_core::registry::ImageCheckReport;
use promote_core::trailers::{self, Trailers};
use promote_core::{Person, diff};
use promote_git::{CommitId, PushOutcome};

use crate::policy::{self, PolicyVerdict};
use crate::render::{Rendered, Renderer, SpeculativeInput};
use crate::rendered::PlanComparison;
use crate::session::OpenOptions;
use crate::{Interaction, PromoteError, Session};

/// What the user asked for.
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

/// A checked promotion, ready to commit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub environment: String,
    /// The upstream environment (from `--from` or the env's `from:`).
    pub from: Option<String>,
    /// The version being promoted (`mixed` when the upstream runs several tags).
    pub version: Option<String>,
    pub previous_version: Option<String>,
    pub mode: Mode,
    pub overlay_file: String,
    pub images: Vec<ImageChange>,
    pub diff: String,
    pub render: RenderReport,
    /// The render's container images against those of the tree the environment last had (its
    /// last promotion): every change, each marked as explained by this edit or not.
    pub rendered_images: PlanComparison,
    pub commit_message: String,
    pub author: Person,
    /// Every policy's verdict (`None`: no policies configured for this operation).
    pub policy: Option<PolicyVerdict>,
    /// What the registries said about every image reference the plan writes, or who skipped it.
    pub image_check: ImageCheckReport,
    /// The remote tip the plan was made from.
    pub base: String,
    #[serde(skip)]
    pub(crate) new_text: String,
    #[serde(skip)]
    pub(crate) overlay_dir: String,
    #[serde(skip)]
    pub(crate) base_id: Option<CommitId>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderReport {
    pub program: String,
    pub resources: usize,
    pub cached: bool,
}

/// The outcome of [`prepare`].
#[derive(Debug, Clone)]
pub enum Prepared {
    /// Every selected image already runs what was asked: nothing to do.
    AlreadyAt {
        environment: String,
        version: Option<String>,
        overlay_file: String,
    },
    Ready(Box<Plan>),
}

/// The outcome of [`apply`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "landed")]
pub enum Landed {
    /// Pushed to the base branch.
    Pushed {
        commit: String,
        branch: String,
        attempts: usize,
    },
    /// PR mode without a forge token: the branch is pushed; open the PR at the URL.
    BranchPushed {
        commit: String,
        branch: String,
        compare_url: Option<String>,
    },
    /// PR mode: the pull request is open and every required approval is there.
    PrOpen(crate::pr::OpenedPr),
    /// PR mode: the pull request is open, reviewers are requested, approvals are missing (exit 4).
    PrAwaitingApproval(crate::pr::OpenedPr),
    /// PR mode with `--wait`: the pull request was merged.
    PrMerged(crate::pr::OpenedPr),
    /// PR mode with `--wait`: the pull request was closed without being merged (exit 1).
    PrClosedUnmerged(crate::pr::OpenedPr),
}

/// Plan and check a promotion. Writes nothing: not to the remote, not to the repository.
pub fn prepare(
    session: &Session,
    req: &PromoteRequest,
    renderer: &Renderer,
    progress: &dyn Interaction,
) -> Result<Prepared, PromoteError> {
    let Inputs {
        env,
        overlay,
        upstream_name,
        upstream,
        mut opts,
    } = inputs(session, req)?;
    let target = target(req, &upstream);
    progress.step(&format!("planning {} in {}", env.name, overlay.file()));
    // --pin-digests: the digests are part of the edit, so they are resolved before it is made.
    let (pins, pinned) = crate::images::pin(&session.images, &overlay, &target, &opts, progress)?;
    opts.pin = pins;
    let (edits, changes) = overlay.plan(&target, &opts)?;
    let previous = EnvVersion::of(overlay.image_map().values())
        .as_str()
        .map(str::to_owned);
    let version = match (&req.target, &upstream) {
        (TargetSpec::Version(v), _) => Some(v.clone()),
        // What the promoted images will run; when nothing changes, what upstream runs.
        (TargetSpec::From(_), Some(_)) if !changes.is_empty() => {
            EnvVersion::of(changes.iter().map(|c| &c.to))
                .as_str()
                .map(str::to_owned)
        }
        (TargetSpec::From(_), Some(up)) => EnvVersion::of(up.image_map().values())
            .as_str()
            .map(str::to_owned),
        (TargetSpec::From(_), None) => None,
    };
    if changes.is_empty() {
        return Ok(Prepared::AlreadyAt {
            environment: env.name.clone(),
            version,
            overlay_file: overlay.file().to_owned(),
        });
    }
    let mode = req.mode.unwrap_or(env.mode);
    let draft = Draft {
        env: &env,
        overlay: &overlay,
        edits: &edits,
        changes,
        version,
        previous_version: previous,
        from: upstream_name,
        mode,
        author: req.author.clone(),
    };
    check_override(session, &env)?;
    let gate = |d: &Draft<'_>, author: &Person| promote_gate(session, d, author, progress);
    let plan = finish(
        session,
        draft,
        &pinned,
        renderer,
        progress,
        &gate,
        &|d, author, verdict, images| {
            commit_message(
                session,
                d.env,
                d.from.as_deref(),
                d.version.as_deref(),
                d.overlay.file(),
                &d.changes,
                author,
                req.message.as_deref(),
                verdict,
                images,
            )
        },
    )?;
    Ok(Prepared::Ready(Box::new(plan)))
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
pub fn speculate(opts: &OpenOptions, req: &PromoteRequest) -> Option<SpeculativeInput> {
    if matches!(opts.images, crate::ImageCheck::Pin(_)) {
        return None;
    }
    let session = Session::open_at_last_fetch(opts)?;
    let Inputs {
        env,
        overlay,
        upstream,
        opts: plan_opts,
        ..
    } = inputs(&session, req).ok()?;
    let target = target(req, &upstream);
    let (edits, changes) = overlay.plan(&target, &plan_opts).ok()?;
    if changes.is_empty() {
        return None;
    }
    let new_text = overlay.apply(&edits).ok()?;
    let changed: BTreeMap<String, Vec<u8>> =
        [(overlay.file().to_owned(), new_text.into_bytes())].into();
    let Session { repo, base, .. } = session;
    Some((repo, base, changed, env.overlay))
}

/// ENV's promote policies on a drafted promotion (None: none configured). Shared by [`prepare`]
/// and `verify`, which judges a hand-written change as the promotion it amounts to.
pub(crate) fn promote_gate(
    session: &Session,
    d: &Draft<'_>,
    author: &Person,
    progress: &dyn Interaction,
) -> Result<Option<PolicyVerdict>, PromoteError> {
    if d.env.promote_policies.is_empty() && session.policy.one_offs.is_empty() {
        return Ok(None);
    }
    let policies = policy::load(session, &d.env.promote_policies, progress)?;
    let actor = policy::actor(session, author);
    let override_ = session
        .policy
        .override_reason
        .as_ref()
        .map(|r| policy::OverrideDoc {
            by: author.to_string(),
            reason: r.clone(),
        });
    let version = d.version.as_deref().unwrap_or("mixed");
    let op = policy::promotion_operation(
        d.env,
        d.from.as_deref(),
        version,
        d.previous_version.as_deref(),
        &d.changes,
        d.mode,
        actor,
        override_.as_ref(),
    );
    let promoted = d
        .changes
        .iter()
        .map(|c| (c.name.clone(), c.to.clone()))
        .collect();
    policy::evaluate(
        session, d.env, &policies, op, author, version, &promoted, progress,
    )
    .map(Some)
}

/// Evaluates an operation's policies for a draft (None: none configured).
pub(crate) type Gate<'a> =
    dyn Fn(&Draft<'_>, &Person) -> Result<Option<PolicyVerdict>, PromoteError> + 'a;

/// `--override-policy` is break-glass: only where the environment allows it.
pub(crate) fn check_override(session: &Session, env: &Environment) -> Result<(), PromoteError> {
    if session.policy.override_reason.is_some() && !env.allow_override {
        return Err(PromoteError::OverrideNotAllowed {
            env: env.name.clone(),
        });
    }
    Ok(())
}

/// What a promotion and a revert share once the edits are planned.
pub(crate) struct Draft<'a> {
    pub env: &'a Environment,
    pub overlay: &'a Overlay,
    pub edits: &'a [promote_core::overlay::ImageEdit],
    pub changes: Vec<ImageChange>,
    pub version: Option<String>,
    pub previous_version: Option<String>,
    pub from: Option<String>,
    pub mode: Mode,
    pub author: Option<Person>,
}

/// Builds a commit message from the draft, the author, the policies' verdict and the image check.
pub(crate) type Message<'a> =
    dyn Fn(&Draft<'_>, &Person, Option<&PolicyVerdict>, &ImageCheckReport) -> String + 'a;

/// Apply the edits, check they hold, render and look the images up (beside the rest), and
/// assemble the [`Plan`]. `gate` evaluates the policies (on this thread, while the render and
/// the image check run on others); `pinned` are the references `--pin-digests` already resolved;
/// `message` builds the commit message with the verdict and the check.
pub(crate) fn finish(
    session: &Session,
    d: Draft<'_>,
    pinned: &[crate::images::Found],
    renderer: &Renderer,
    progress: &dyn Interaction,
    gate: &Gate<'_>,
    message: &Message<'_>,
) -> Result<Plan, PromoteError> {
    let env = d.env;
    let overlay = d.overlay;
    let new_text = overlay.apply(d.edits)?;
    check_edit(overlay, &new_text, &d.changes)?;

    // The render is the slow part: it runs beside the rest of the planning.
    let file = overlay.file().to_owned();
    let changes_map: BTreeMap<String, Vec<u8>> =
        [(file.clone(), new_text.clone().into_bytes())].into();
    progress.step(&format!(
        "rendering {} with {}",
        env.overlay,
        renderer.program.describe()
    ));
    // What the environment last had, found and rendered beside the edit, to show what this
    // promotion carries that its edit does not explain (see `rendered::last_change`).
    let (rendered, found, author, (last, last_render)) = thread::scope(|s| {
        let (git_dir, base, overlay_dir) = (
            session.repo.git_dir().to_owned(),
            session.base,
            env.overlay.clone(),
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
        let file = &file;
        let last_render = s.spawn(move || {
            let repo = match promote_git::Repo::open(&git_dir2) {
                Ok(r) => r,
                Err(e) => return (None, Baseline::Failed(e.to_string())),
            };
            let last = crate::rendered::last_change(&repo, file, base);
            let at = last.as_ref().map_or(base, |(c, _)| *c);
            (last, baseline(&plain, &repo, at, base, &overlay_dir2))
        });
        let pending = crate::images::pending(&session.images, &d.changes, pinned, progress);
        let images = s.spawn(move || crate::images::resolve_pending(pending?, pinned));
        let author = match &d.author {
            Some(a) => Ok(a.clone()),
            None => session.repo.config_person().ok_or(PromoteError::NoIdentity),
        };
        let verdict = author
            .as_ref()
            .map_err(|_| PromoteError::NoIdentity)
            .and_then(|a| gate(&d, a));
        let rendered = render
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        let found = images
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        let last_render = last_render
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (
            rendered,
            found,
            author.and_then(|a| verdict.map(|v| (a, v))),
            last_render,
        )
    });
    // An unknown image is the first thing to fix: report it before a render error it may cause.
    let found = found?;
    let rendered = rendered?;
    if rendered.speculative {
        progress.step("rendered while fetching: the fetch changed nothing the render reads");
    }
    let (author, policy) = author?;
    let compared_with = match &last {
        Some((c, subject)) => format!(
            "{} ({}'s last change of {file}: \"{subject}\")",
            c.short(),
            env.name
        ),
        None => format!(
            "{} ({} before this edit)",
            session.base.short(),
            session.base_name()
        ),
    };
    let names = crate::rendered::image_names(session, &env.overlay, &[session.base]);
    let compared_commit = last.as_ref().map_or(session.base, |(c, _)| *c);
    let compare = |before: Result<&str, &str>| match crate::rendered::compare(
        before,
        &rendered.manifests,
        &names,
        &d.changes,
        (compared_commit, compared_with.clone()),
    ) {
        Ok((cmp, _)) => PlanComparison::Compared(cmp),
        Err(message) => PlanComparison::Unreadable { message },
    };
    let rendered_images = match &last_render {
        Baseline::Rendered(r) => compare(Ok(&r.manifests)),
        Baseline::Failed(e) => compare(Err(e)),
        Baseline::SameInputs => PlanComparison::OnlyThisEdit {
            compared_commit: compared_commit.to_string(),
            compared_with: compared_with.clone(),
        },
    };
    let image_check = crate::images::report(found, &author);
    let commit_message = message(&d, &author, policy.as_ref(), &image_check);
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
            program: renderer.program.describe().to_owned(),
            resources: rendered.resources,
            cached: rendered.cached,
        },
        rendered_images,
        commit_message,
        author,
        policy,
        image_check,
        base: session.base.to_string(),
        new_text,
        overlay_dir: env.overlay.clone(),
        base_id: Some(session.base),
    })
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
    overlay_dir: &str,
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
    let after = Overlay::parse(before.file(), new_text).map_err(|e| PromoteError::EditCheck {
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

#[expect(
    clippy::too_many_arguments,
    reason = "one call site; the arguments are the message's parts"
)]
fn commit_message(
    session: &Session,
    env: &Environment,
    from: Option<&str>,
    version: Option<&str>,
    file: &str,
    changes: &[ImageChange],
    author: &Person,
    message: Option<&str>,
    verdict: Option<&PolicyVerdict>,
    images: &ImageCheckReport,
) -> String {
    let version_s = version.unwrap_or("mixed");
    let subject = match from {
        Some(up) => format!("promote {} to {version_s} (from {up})", env.name),
        None => format!("promote {} to {version_s}", env.name),
    };
    let mut body = Vec::new();
    if let Some(m) = message {
        body.push(m.to_owned());
    }
    let width = changes.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut table = format!("{file}:\n");
    for c in changes {
        table.push_str(&format!("  {:width$}  {} -> {}\n", c.name, c.from, c.to));
    }
    body.push(table);
    let mut t = Trailers::default();
    t.push(trailers::PROMOTED_BY, author.to_string());
    t.push(trailers::ENVIRONMENT, &env.name);
    t.push(trailers::VERSION, version_s);
    if let Some(up) = from {
        t.push(trailers::FROM, up);
    }
    match verdict {
        Some(v) => v.add_trailers(&mut t),
        None => {
            t.push(trailers::POLICY_DECISION, "allow (no policies configured)");
        }
    }
    if let Some(cfg) = &session.config_override {
        t.push(trailers::POLICY_CONFIG, format!("--config {cfg}"));
    }
    images.add_trailers(&mut t);
    trailers::message(&subject, &body, &t)
}

/// Commit and push a prepared plan. On a lost race the edit is re-applied on the new tip only
/// if that tip did not change this environment's overlay; never forced.
pub fn apply(
    session: &Session,
    plan: &Plan,
    renderer: &Renderer,
    progress: &dyn Interaction,
) -> Result<Landed, PromoteError> {
    apply_with(
        session,
        plan,
        renderer,
        &crate::pr::PrOptions::default(),
        progress,
    )
}

/// [`apply`] with what PR mode needs: the forge (built by the caller with the token), the
/// required approvals and `--wait` ([`crate::pr`]). Without a forge, PR mode pushes the branch
/// and returns the compare URL.
pub fn apply_with(
    session: &Session,
    plan: &Plan,
    renderer: &Renderer,
    pr: &crate::pr::PrOptions<'_>,
    progress: &dyn Interaction,
) -> Result<Landed, PromoteError> {
    let repo = &session.repo;
    let sign = repo.config_bool("commit.gpgsign");
    let committer = repo.config_person().unwrap_or_else(|| plan.author.clone());
    let mut base = plan.base_id.unwrap_or(session.base);
    let overlay_id = repo.path_id(base, &plan.overlay_dir)?;
    let changes: BTreeMap<String, Option<Vec<u8>>> = [(
        plan.overlay_file.clone(),
        Some(plan.new_text.clone().into_bytes()),
    )]
    .into();
    match plan.mode {
        Mode::Direct => {
            for attempt in 1..=DIRECT_ATTEMPTS {
                let tree = repo.tree_with(base, &changes)?;
                let commit = repo.commit(
                    &tree,
                    &[base],
                    &plan.author,
                    &committer,
                    &plan.commit_message,
                    sign,
                )?;
                progress.checkpoint("before-push");
                progress.step(&format!(
                    "pushing {} to {} ({})",
                    commit.short(),
                    session.base_name(),
                    if sign { "signed" } else { "unsigned" }
                ));
                match repo.push(&session.remote, commit, &session.base_branch)? {
                    PushOutcome::Pushed => {
                        return Ok(Landed::Pushed {
                            commit: commit.to_string(),
                            branch: session.base_branch.clone(),
                            attempts: attempt,
                        });
                    }
                    PushOutcome::Behind => {
                        progress.step(&format!(
                            "{} moved while promoting; checking whether {} was touched",
                            session.base_name(),
                            plan.environment
                        ));
                        thread::sleep(backoff(attempt));
                        repo.fetch(&session.remote)?;
                        let tip = repo
                            .remote_tip(&session.remote, &session.base_branch)?
                            .ok_or_else(|| promote_git::GitError::NoBranch {
                                remote: session.remote.clone(),
                                branch: session.base_branch.clone(),
                            })?;
                        if repo.path_id(tip, &plan.overlay_dir)? != overlay_id {
                            return Err(raced(session, plan, tip));
                        }
                        // Someone else changed other files: our edit still applies as is. The
                        // base they changed may affect the render, so check it again.
                        let rerender: BTreeMap<String, Vec<u8>> = [(
                            plan.overlay_file.clone(),
                            plan.new_text.clone().into_bytes(),
                        )]
                        .into();
                        renderer.render(repo, tip, &rerender, &plan.overlay_dir)?;
                        base = tip;
                    }
                }
            }
            Err(PromoteError::TooManyRetries {
                attempts: DIRECT_ATTEMPTS,
            })
        }
        Mode::Pr => crate::pr::land(session, plan, pr, progress),
    }
}

/// How often a direct push is rebuilt on a moved tip before giving up. Every lost push means
/// another push landed first, so this bounds how many others may land meanwhile: ten CI jobs
/// promoting ten environments at once all land (`kubectl-promote/tests/races.rs`).
const DIRECT_ATTEMPTS: usize = 20;

/// A short, growing, jittered pause before rebuilding on a moved tip, so that processes that
/// lost the same race do not all push again in lockstep.
fn backoff(attempt: usize) -> std::time::Duration {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    let base = u64::try_from(attempt.min(10)).unwrap_or(10) * 20;
    std::time::Duration::from_millis(base + u64::from(jitter % 50))
}

fn raced(session: &Session, plan: &Plan, tip: CommitId) -> PromoteError {
    let repo = &session.repo;
    let env = session.config.env(&plan.environment).ok();
    let now = env
        .and_then(|e| session.overlay_at(e, tip).ok())
        .map(|o| EnvVersion::of(o.image_map().values()).to_string())
        .unwrap_or_else(|| "(unreadable)".into());
    let who = repo
        .log_path(tip, &plan.overlay_dir, 1, 10_000)
        .ok()
        .and_then(|v| v.into_iter().next())
        .map(|c| {
            (
                c.id.short(),
                Trailers::parse(&c.message)
                    .get(trailers::PROMOTED_BY)
                    .map(str::to_owned)
                    .unwrap_or_else(|| c.author.to_string()),
            )
        })
        .unwrap_or_else(|| (tip.short(), "someone".into()));
    PromoteError::Raced {
        env: plan.environment.clone(),
        from: plan
            .previous_version
            .clone()
            .unwrap_or_else(|| "(no tag)".into()),
        to: now,
        commit: who.0,
        by: who.1,
    }
}
