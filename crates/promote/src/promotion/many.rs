//! A promotion of several apps in one commit (`--app cart,'shop-*'`, `--all-apps`; promote.yaml
//! declares `apps:`). Each app is planned and checked as a promotion of its own (its edit, its
//! render, its image check, its environment's policies asked with `promotion.app`); then
//! all-or-nothing: if any app fails, every failure is listed and nothing is written anywhere.
//! Otherwise one commit (or one pull request) writes every app's file, and after it lands each
//! app's Argo CD Application is refreshed or waited for ([`super::landing`]).
//!
//! The renders are the slow part (two `kustomize` or `helm` processes per app: the edit and
//! the base tree it is compared with), so before the apps are planned one after another, every
//! app's renders run on several threads into the render cache ([`prerender`]); the planning
//! then finds them there. Planning itself stays on one thread, in declaration order, so its
//! progress lines, errors and the commit are the same as without the head start.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use promote_core::Person;
use promote_core::config::{Config, Environment};
use promote_core::registry::ImageCheckReport;
use promote_core::supply_chain::SupplyChainReport;
use promote_core::trailers::{self, Trailers};

use super::draft::Planner;
use super::landing::{PrLanding, land_with};
use super::outcome::{AlreadyAt, Outcome};
use super::prepare::{TargetSpec, planned_render, prepare};
use super::{Request, message};
use crate::deploy;
use crate::gate::{Gate, PolicyVerdict, verdict};
use crate::images::ImageCheck;
use crate::plan::{Plan, Prepared, RenderDiff, RenderReport};
use crate::ports::Ports;
use crate::render::{RenderTarget, Renderer};
use crate::rendered::PlanComparison;
use crate::{Interaction, PromoteError, Session};

/// Promote the apps `patterns` select (empty: every app) in the request's environment.
pub fn run(
    ports: &Ports,
    req: Request,
    patterns: &[String],
    ui: &dyn Interaction,
) -> Result<Outcome, PromoteError> {
    let images = ImageCheck::for_mode(req.images, ports)?;
    ports.policies.warm();
    if !req.after.checks.is_empty() || req.after.soak.is_some() || req.after.rollback_on_failure {
        return Err(PromoteError::Usage(
            "--check, --soak and --rollback-on-failure verify one app's deploy: promote the apps together, then run `kubectl promote verify ENV --app APP` per app".into(),
        ));
    }
    let mut session = Session::open(&ports.workspace, ui)?;
    let unscoped = session.config.clone();
    let env = unscoped.env(&req.change.env)?.clone();
    let upstream = match &req.change.target {
        TargetSpec::From(up) => Some(up.as_str()),
        TargetSpec::Version(_) => None,
    };
    let selected = select(&unscoped, patterns, &env.name, upstream, ui)?;
    ui.step(&format!(
        "promoting {} app{} in {}: {}",
        selected.len(),
        if selected.len() == 1 { "" } else { "s" },
        env.name,
        short_list(&selected)
    ));
    let rendered_here = prerender(
        ports,
        (&mut session, &unscoped),
        &selected,
        (&req, &images),
        ui,
    )?;
    let mut plans = Vec::new();
    let mut failures = Vec::new();
    for app in &selected {
        session.scope_to_app(&unscoped, app)?;
        match plan_app(ports, &session, &req, &images, ui) {
            Ok(Prepared::Ready(mut plan)) => {
                // Rendered by the head start in this run, not found from an earlier one.
                if rendered_here.contains(app) {
                    plan.render.cached = false;
                }
                plans.push(*plan);
            }
            Ok(Prepared::AlreadyAt { .. }) => ui.step(&format!("{app}: already there")),
            Err(e) => failures.push((app.clone(), e.to_string())),
        }
    }
    session.config = unscoped;
    if !failures.is_empty() {
        return Err(PromoteError::Apps {
            env: env.name,
            of: selected.len(),
            failures,
        });
    }
    if plans.is_empty() {
        return Ok(Outcome::AlreadyAt(AlreadyAt {
            environment: env.name.clone(),
            version: match &req.change.target {
                TargetSpec::Version(v) => Some(v.clone()),
                TargetSpec::From(_) => None,
            },
            overlay_file: format!("{} apps", selected.len()),
            at: session.base_name(),
        }));
    }
    let note = req.change.message.as_deref();
    let combined = combine(&session, &env, plans, note);
    let how = req.land_options();
    land_with(
        ports,
        (&session, &ports.renderer),
        Prepared::Ready(Box::new(combined)),
        &how,
        PrLanding::default(),
        ui,
    )
}

/// The apps selected that run in ENV (and, with `--from`, in the upstream too); the others
/// are said and passed over. None left is an error naming why.
fn select(
    config: &Config,
    patterns: &[String],
    env: &str,
    upstream: Option<&str>,
    ui: &dyn Interaction,
) -> Result<Vec<String>, PromoteError> {
    let mut out = Vec::new();
    for app in config.select_apps(patterns)? {
        let runs_in = |e: &str| app.environments.contains_key(e);
        match (runs_in(env), upstream) {
            (false, _) => ui.step(&format!("{}: does not run in {env}; passed over", app.name)),
            (true, Some(up)) if !runs_in(up) => {
                ui.step(&format!("{}: does not run in {up}; passed over", app.name));
            }
            _ => out.push(app.name.clone()),
        }
    }
    if out.is_empty() {
        return Err(PromoteError::Usage(format!(
            "no selected app runs in {env}{}: check `apps:` in promote.yaml or the --app patterns",
            upstream.map(|u| format!(" and {u}")).unwrap_or_default()
        )));
    }
    Ok(out)
}

/// A render [`prerender`] runs: the app, the files its edit changes, what it renders.
type RenderJob = (String, BTreeMap<String, Vec<u8>>, RenderTarget);

/// Render each selected app's planned edit and its base tree on several threads (each with
/// its own repository handle: git2's are not shared across threads) into the render cache,
/// where [`plan_app`]'s renders then find them. Returns the apps whose edit was rendered here
/// (not found in the cache). A render that fails is not cached: the app's planning renders it
/// again and reports the error as it would without this. Nothing to gain, so nothing done,
/// without a cache (`--no-cache`), with `--pin-digests` (the edit waits on the registry), or
/// for one app (its two renders already run side by side).
fn prerender(
    ports: &Ports,
    (session, unscoped): (&mut Session, &Config),
    selected: &[String],
    (req, images): (&Request, &ImageCheck),
    ui: &dyn Interaction,
) -> Result<BTreeSet<String>, PromoteError> {
    if ports.renderer.cache.is_none() || matches!(images, ImageCheck::Pin(_)) || selected.len() < 2
    {
        return Ok(BTreeSet::new());
    }
    let mut jobs: Vec<RenderJob> = Vec::new();
    for app in selected {
        session.scope_to_app(unscoped, app)?;
        match planned_render(session, &req.change) {
            // A YAML file's "render" is a parse on this thread: no process to overlap.
            Some((_, RenderTarget::File(_))) | None => {}
            Some((changes, target)) => jobs.push((app.clone(), changes, target)),
        }
    }
    session.config = unscoped.clone();
    // Not through a speculation: that is one promotion's render, and another key cancels it.
    let plain = Renderer {
        speculation: None,
        ..ports.renderer.clone()
    };
    let workers = thread::available_parallelism()
        .map_or(2, usize::from)
        .clamp(1, jobs.len().max(1));
    if !jobs.is_empty() {
        ui.step(&format!(
            "rendering {} app{} on {workers} thread{}",
            jobs.len(),
            if jobs.len() == 1 { "" } else { "s" },
            if workers == 1 { "" } else { "s" }
        ));
    }
    let next = AtomicUsize::new(0);
    let fresh = Mutex::new(BTreeSet::new());
    let (git_dir, base) = (session.repo.git_dir(), session.base);
    thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let Ok(repo) = promote_git::Repo::open(git_dir) else {
                    return;
                };
                let none = BTreeMap::new();
                while let Some((app, changes, target)) =
                    jobs.get(next.fetch_add(1, Ordering::Relaxed))
                {
                    if let Ok(r) = plain.render(&repo, base, changes, target)
                        && !r.cached
                    {
                        fresh
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .insert(app.clone());
                    }
                    // The base tree's render, which the rendered diff compares the edit with.
                    let _ = plain.render(&repo, base, &none, target);
                }
            });
        }
    });
    Ok(fresh
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner))
}

/// One app's promotion, planned and checked as `promote ENV` would with the session scoped to
/// the app: nothing is written.
fn plan_app(
    ports: &Ports,
    session: &Session,
    req: &Request,
    images: &ImageCheck,
    ui: &dyn Interaction,
) -> Result<Prepared, PromoteError> {
    let env = session.config.env(&req.change.env)?;
    deploy::after::check_before_promote(ports, env, req.resume, ui)?;
    let context = req.policy_context(ports, session, &env.name, ui);
    let planner = Planner {
        gate: Gate {
            ports,
            session,
            context: &context,
        },
        renderer: &ports.renderer,
        images,
    };
    prepare(&planner, &req.change, ui)
}

/// The apps' plans as the one plan of their commit: the strictest verdict, every image, every
/// file; each app's own plan kept in `apps`.
fn combine(session: &Session, env: &Environment, plans: Vec<Plan>, note: Option<&str>) -> Plan {
    let first = &plans[0];
    let same = |f: &dyn Fn(&Plan) -> Option<String>| -> Option<String> {
        let v = f(first);
        plans.iter().all(|p| f(p) == v).then_some(v).flatten()
    };
    let version = same(&|p| p.version.clone());
    let previous_version = same(&|p| p.previous_version.clone());
    let names: Vec<&str> = plans.iter().filter_map(|p| p.app.as_deref()).collect();
    let verdicts: Vec<(&str, &PolicyVerdict)> = plans
        .iter()
        .filter_map(|p| Some((p.app.as_deref()?, p.policy.as_ref()?)))
        .collect();
    let policy = (!verdicts.is_empty()).then(|| PolicyVerdict::merged(&verdicts));
    let image_check =
        ImageCheckReport::merged(&plans.iter().map(|p| &p.image_check).collect::<Vec<_>>());
    let supply_chain =
        SupplyChainReport::merged(&plans.iter().map(|p| &p.supply_chain).collect::<Vec<_>>());
    let render_diff = match plans.iter().find_map(|p| match &p.render_diff {
        RenderDiff::Unavailable { unavailable } => Some(unavailable.clone()),
        RenderDiff::Objects(_) => None,
    }) {
        Some(why) => RenderDiff::Unavailable { unavailable: why },
        None => RenderDiff::Objects(
            plans
                .iter()
                .flat_map(|p| p.render_diff.objects().iter().cloned())
                .collect(),
        ),
    };
    let author = first.author.clone();
    let commit_message = commit_message(
        (session, env, &author),
        (&plans, &names, version.as_deref()),
        note,
        policy.as_ref(),
        (&image_check, &supply_chain),
    );
    Plan {
        environment: env.name.clone(),
        from: first.from.clone(),
        version,
        previous_version,
        mode: first.mode,
        overlay_file: plans
            .iter()
            .map(|p| p.overlay_file.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        images: plans
            .iter()
            .flat_map(|p| p.images.iter().cloned())
            .collect(),
        diff: plans.iter().map(|p| p.diff.as_str()).collect(),
        render: RenderReport {
            program: {
                let mut programs: Vec<&str> =
                    plans.iter().map(|p| p.render.program.as_str()).collect();
                programs.sort_unstable();
                programs.dedup();
                programs.join(", ")
            },
            resources: plans.iter().map(|p| p.render.resources).sum(),
            cached: plans.iter().all(|p| p.render.cached),
        },
        rendered_images: PlanComparison::PerApp,
        render_diff,
        sources: plans
            .iter()
            .flat_map(|p| p.sources.iter().cloned())
            .collect(),
        commit_message,
        author,
        policy,
        image_check,
        supply_chain,
        base: first.base.clone(),
        app: None,
        new_text: String::new(),
        overlay_dir: String::new(),
        render_target: first.render_target.clone(),
        base_id: first.base_id,
        apps: plans,
    }
}

/// The commit message of several apps: one subject, each app's image table, the trailers of a
/// promotion with a `Promote-App` per app and each module's verdict named by its app.
fn commit_message(
    (session, env, author): (&Session, &Environment, &Person),
    (plans, names, version): (&[Plan], &[&str], Option<&str>),
    note: Option<&str>,
    verdict: Option<&PolicyVerdict>,
    (images, supply_chain): (&ImageCheckReport, &SupplyChainReport),
) -> String {
    let version = version.unwrap_or("mixed");
    let from = plans[0].from.as_deref();
    let title = format!(
        "promote {} to {version}{} ({} app{}: {})",
        env.name,
        from.map(|f| format!(" from {f}")).unwrap_or_default(),
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        short_list(names)
    );
    let mut body: Vec<String> = note.map(str::to_owned).into_iter().collect();
    for p in plans {
        body.push(message::image_table(
            &format!("{} ({})", p.app.as_deref().unwrap_or("?"), p.overlay_file),
            &p.images,
        ));
    }
    let mut t = Trailers::default();
    t.push(trailers::PROMOTED_BY, author.to_string());
    t.push(trailers::ENVIRONMENT, &env.name);
    t.push(trailers::VERSION, version);
    if let Some(up) = from {
        t.push(trailers::FROM, up);
    }
    for n in names {
        t.push(trailers::APP, *n);
    }
    verdict::add_trailers(verdict, &mut t);
    if let Some(cfg) = &session.config_override {
        t.push(trailers::POLICY_CONFIG, format!("--config {cfg}"));
    }
    images.add_trailers(&mut t);
    supply_chain.add_trailers(&mut t);
    trailers::message(&title, &body, &t)
}

/// `a, b, c` or `a, b, c and 97 more`.
fn short_list<S: AsRef<str>>(names: &[S]) -> String {
    let shown: Vec<&str> = names.iter().take(5).map(AsRef::as_ref).collect();
    match names.len().saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::short_list;

    #[test]
    fn long_lists_are_cut() {
        assert_eq!(short_list(&["a", "b"]), "a, b");
        let many: Vec<String> = (0..100).map(|i| format!("app{i}")).collect();
        assert_eq!(
            short_list(&many),
            "app0, app1, app2, app3, app4 and 95 more"
        );
    }
}
