//! `kubectl promote sync ENV [--wait]`, end to end: refresh ENV's Application and sync it to the
//! base tip (a sync operation when auto-sync is off), refused while a rollback marker holds the
//! environment back; with a wait budget, wait until it runs that commit, Synced and Healthy.
//! The steps are [`deploy::SyncJob`]'s; this module puts them in order and says how it went.

use std::time::Duration;

use serde::Serialize;

use crate::deploy::{self, SyncBy, SyncJob, Waited};
use crate::document::Document;
use crate::ports::{Ports, Purpose};
use crate::{Interaction, PromoteError, Session};

/// A sync as asked on the command line.
#[derive(Debug, Clone)]
pub struct Request {
    pub env: String,
    /// `--wait`: how long to wait for the app to run the base tip; `None` starts the sync only.
    pub wait: Option<Duration>,
}

/// What `sync` did (`kind: SyncResult`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncResult {
    pub environment: String,
    pub app: String,
    /// The base tip synced to.
    pub revision: String,
    /// `auto-sync` or `operation`.
    pub how: SyncBy,
    /// How the wait ended; null without `--wait`.
    pub wait: Option<Waited>,
    /// `origin/main`: the base tip's name, for people.
    #[serde(skip)]
    pub base_name: String,
}

impl Document for SyncResult {
    fn kind(&self) -> &'static str {
        "SyncResult"
    }
}

/// Sync ENV's app to the base tip: see the module docs.
pub fn run(ports: &Ports, req: Request, ui: &dyn Interaction) -> Result<SyncResult, PromoteError> {
    let session = Session::open(&ports.workspace, ui)?;
    let env = session.config.env(&req.env)?;
    let purpose = match req.wait {
        Some(_) => Purpose::Wait,
        None => Purpose::Read,
    };
    let conn = deploy::connect(ports.argocd.as_ref(), env, purpose)?;
    let t = conn.target();
    let app = deploy::target::read_app(env, &t)?;
    if let Some(m) = &app.rollback_marker {
        return Err(deploy::ArgoError::SyncWhileRolledBack {
            env: env.name.clone(),
            by: m.by.clone(),
        }
        .into());
    }
    let opts = deploy::after::wait_options(&session, req.wait.unwrap_or(Duration::ZERO));
    let job = SyncJob {
        session: &session,
        env,
        target: &t,
        renderer: &ports.renderer,
        now: deploy::windows::decision_time(ports.clock.as_ref()),
        opts: &opts,
    };
    let started = job.start(session.base, ui)?;
    let how = started.how;
    let wait = match req.wait {
        Some(_) => Some(job.wait(session.base, started, ui)?),
        None => None,
    };
    Ok(SyncResult {
        environment: env.name.clone(),
        app: t.app.to_string(),
        revision: session.base.to_string(),
        how,
        wait,
        base_name: session.base_name(),
    })
}
