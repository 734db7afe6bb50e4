//! `kubectl promote status [ENV]`: what each environment runs according to git (the version, or
//! `mixed` with the per-image truth beside it), its last promotion, its approvals, and what Argo
//! CD says (sync, health, deployed revision, auto-sync, operation, rollback marker, the sync
//! window a manual sync would meet). An Argo CD that cannot be read is a warning, not a failure.

use std::collections::BTreeMap;

use serde::Serialize;

use promote_core::config::{Environment, Mode};
use promote_core::image::{EnvVersion, ImageMap, ImageRef};
use promote_core::trailers;

use crate::approval::{self, ApprovalState, IgnoredRecord};
use crate::clock::rfc3339;
use crate::deploy::facts::status_facts;
use crate::deploy::windows::{decision_time, sync_window_warning};
use crate::deploy::{ArgoStatus, connect, one_line, target::read_app};
use crate::document::Document;
use crate::ports::{Ports, Purpose};
use crate::provenance::{self, PromotedVia};
use crate::session::MAX_WALK;
use crate::{Interaction, PromoteError, Quiet, Session};

/// One environment's state in git.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvStatus {
    pub name: String,
    /// The app (promote.yaml `apps:`) this is the state of; absent without apps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    pub overlay: String,
    pub from: Option<String>,
    pub mode: Mode,
    /// The tag all images share, `mixed`, or null when no image pins a tag.
    pub version: Option<String>,
    pub images: BTreeMap<String, ImageRef>,
    pub last_change: Option<LastChange>,
    /// Approvals, rejections and revocations recorded for this environment: per version and
    /// role, the record in force and who approved, most recent first.
    pub approvals: Vec<ApprovalState>,
    /// Records for this environment that do not count (by someone `approvers` does not list
    /// for the role), most recent first.
    pub ignored_approvals: Vec<IgnoredRecord>,
    /// Argo CD's view (sync, health, deployed revision, auto-sync, operation, rollback marker);
    /// filled by the caller that reaches Argo CD, absent when the env has no app or it was not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argocd: Option<ArgoStatus>,
}

/// The newest commit that changed the overlay file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastChange {
    pub commit: String,
    pub by: String,
    pub at: String,
    pub subject: String,
    /// Set when the commit was made by `kubectl promote` (it carries our trailers).
    pub promoted_version: Option<String>,
    pub promoted_from: Option<String>,
    /// Set when `by` and the two above were read from the promotion a forge's merge or squash
    /// brought in (the commit itself carries no trailers of ours).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promoted_via: Option<PromotedVia>,
}

/// How many (version, role) pairs of approvals `status` shows per environment.
const APPROVALS_SHOWN: usize = 10;

/// Every environment's state (`kind: Status`).
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The base tip everything was read from.
    pub base: String,
    /// `origin/main`: its name, for people.
    #[serde(skip)]
    pub base_name: String,
    /// Without `apps:` (or with `--app`): each environment.
    pub environments: Vec<EnvStatus>,
    /// With `apps:` and no `--app`: each app's environments.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<AppStatus>,
}

/// One app's environments (`status` with `apps:` in promote.yaml).
#[derive(Debug, Clone, Serialize)]
pub struct AppStatus {
    pub name: String,
    pub environments: Vec<EnvStatus>,
}

impl Document for Status {
    fn kind(&self) -> &'static str {
        "Status"
    }
}

/// A status as asked on the command line.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Only this environment; `None`: all of them.
    pub env: Option<String>,
}

/// `status [ENV]`: what git holds for each environment, then what Argo CD says of it.
pub fn run(ports: &Ports, req: Request, ui: &dyn Interaction) -> Result<Status, PromoteError> {
    let mut session = Session::open(&ports.workspace, ui)?;
    let scoped = session.config.environments.iter().any(|e| e.app.is_some());
    let mut apps = Vec::new();
    let environments = if session.config.has_apps() && !scoped {
        // Grouped by app: each app's environments, as the app sees them.
        let unscoped = session.config.clone();
        for app in unscoped.apps() {
            session.scope_to_app(&unscoped, &app.name)?;
            apps.push(AppStatus {
                name: app.name.clone(),
                environments: envs(ports, &session, req.env.as_deref(), ui)?,
            });
        }
        session.config = unscoped;
        Vec::new()
    } else {
        envs(ports, &session, req.env.as_deref(), ui)?
    };
    Ok(Status {
        base: session.base.to_string(),
        base_name: session.base_name(),
        environments,
        apps,
    })
}

/// What git holds of each environment (or of `only`), then what Argo CD says of it.
fn envs(
    ports: &Ports,
    session: &Session,
    only: Option<&str>,
    ui: &dyn Interaction,
) -> Result<Vec<EnvStatus>, PromoteError> {
    let mut environments = in_git(session, only)?;
    for e in &mut environments {
        let env = session.config.env(&e.name)?;
        e.argocd = argocd_state(ports, session, env, ui);
    }
    Ok(environments)
}

/// Argo CD's view of ENV for `status`; unreachable or missing is a warning, not a failure.
fn argocd_state(
    ports: &Ports,
    session: &Session,
    env: &Environment,
    ui: &dyn Interaction,
) -> Option<ArgoStatus> {
    env.argocd.as_ref()?;
    let read = connect(ports.argocd.as_ref(), env, Purpose::Read).and_then(|c| {
        let t = c.target();
        let app = read_app(env, &t)?;
        // `status` answers for a manual sync: what `sync` or a rollback would meet.
        let window = sync_window_warning(&t, &app, decision_time(ports.clock.as_ref()), true);
        Ok((app, window))
    });
    match read {
        Ok((app, window)) => Some(ArgoStatus {
            sync_window: window,
            ..status_facts(session, env, &app)
        }),
        Err(e) => {
            ui.warn(&format!(
                "{}: Argo CD state not shown: {}",
                env.name,
                one_line(&e)
            ));
            None
        }
    }
}

/// What git says of each environment (or of `only`).
pub fn in_git(session: &Session, only: Option<&str>) -> Result<Vec<EnvStatus>, PromoteError> {
    if let Some(name) = only {
        session.config.env(name)?;
    }
    let records = approval::list(session, &Quiet)?;
    let mut out = Vec::new();
    for env in session
        .config
        .environments
        .iter()
        .filter(|e| only.is_none_or(|o| o == e.name))
        // An app does not run in every environment.
        .filter(|e| e.has_target())
    {
        let overlay = session.overlay_at(env, session.base)?;
        let images = overlay.image_map();
        let version = EnvVersion::of(images.values()).as_str().map(str::to_owned);
        let last_change = last_change(session, env, overlay.file(), &images)?;
        out.push(EnvStatus {
            name: env.name.clone(),
            app: env.app.clone(),
            overlay: overlay.file().to_owned(),
            from: env.from.clone(),
            mode: env.mode,
            version,
            images,
            last_change,
            approvals: approval::summary(&records.counted, &env.name, APPROVALS_SHOWN),
            ignored_approvals: approval::decide::ignored(&records, &env.name, APPROVALS_SHOWN),
            argocd: None,
        });
    }
    Ok(out)
}

/// The newest commit that changed ENV's overlay `file`, and who promoted it.
fn last_change(
    session: &Session,
    env: &Environment,
    file: &str,
    images: &ImageMap,
) -> Result<Option<LastChange>, PromoteError> {
    let Some(c) = session.repo.path_log(session.base, file, MAX_WALK).next() else {
        return Ok(None);
    };
    let c = c?;
    // The file is as `c` left it: it is the newest change.
    let promotion =
        provenance::promotion(session, env, file, &c, &EnvVersion::of(images.values()))?;
    let t = &promotion.trailers;
    Ok(Some(LastChange {
        commit: c.id.to_string(),
        by: t
            .get(trailers::PROMOTED_BY)
            .map(str::to_owned)
            .unwrap_or_else(|| c.author.to_string()),
        at: rfc3339(c.time),
        subject: c.message.lines().next().unwrap_or("").to_owned(),
        promoted_version: t.get(trailers::VERSION).map(str::to_owned),
        promoted_from: t.get(trailers::FROM).map(str::to_owned),
        promoted_via: promotion.via,
    }))
}
