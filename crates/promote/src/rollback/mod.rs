//! `kubectl promote rollback ENV`, end to end: through Argo CD's history (fast: auto-sync off,
//! the marker, the operation; [`history`]) or by reverting in git (reviewed like a promotion;
//! [`revert`]). Without `--strategy`: `argocd` where Argo CD's history holds the target, else
//! `revert`. Either way the policies are the environment's rollback policies, and the result
//! document is a `RollbackResult`.

pub mod history;
pub mod revert;
pub mod walk;

pub use history::{HistoryOutcome, HistoryRollbackResult};
pub use revert::{RevertRequest, RollbackTarget, prepare_revert};
pub use walk::{MAX_CHANGES, OverlayChange, overlay_history};

use std::time::Duration;

use promote_core::Person;
use promote_core::config::{Config, Mode};

use crate::deploy::{self, EarlyReads, Reads};
use crate::gate::{Gate, PolicyContext};
use crate::images::{ImageCheck, ImageMode};
use crate::ports::Ports;
use crate::promotion::{self, LandOptions, Planner, PromotionResult};
use crate::{Interaction, PromoteError, Session};

/// How to go back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Argo CD's history rollback.
    Argocd,
    /// A revert in git.
    Revert,
}

/// What to go back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The state before what runs now.
    Previous,
    /// The newest state that ran this version (`--to`).
    Version(String),
    /// ENV's overlay as it was at this commit (`--to-revision`).
    Revision(String),
    /// This Argo CD history id (`--to-id`; the history strategy only).
    HistoryId(i64),
}

/// A rollback as asked on the command line.
#[derive(Debug, Clone)]
pub struct Request {
    pub env: String,
    pub target: Target,
    /// `None`: pick (see the module docs).
    pub strategy: Option<Strategy>,
    /// `--pr` / `--direct` of a revert; `None` = the environment's mode.
    pub mode: Option<Mode>,
    /// `-m`: the revert's commit message body, or the history rollback's reason.
    pub message: Option<String>,
    /// `--author`: the commit's author, or who the history rollback is recorded as by.
    pub author: Option<Person>,
    /// How a revert's images are checked.
    pub images: ImageMode,
    pub dry_run: bool,
    pub yes: bool,
    pub wait: Option<Duration>,
    pub override_reason: Option<String>,
}

/// How a rollback ended, by strategy.
#[derive(Debug)]
pub enum Outcome {
    History(Box<HistoryOutcome>),
    Revert(promotion::Outcome),
}

/// The result document of either strategy (`kind: RollbackResult`).
#[derive(Debug)]
pub enum RollbackResult<'a> {
    History(HistoryRollbackResult<'a>),
    Revert(Box<PromotionResult<'a>>),
}

impl Outcome {
    pub fn document(&self) -> Option<RollbackResult<'_>> {
        match self {
            Outcome::History(h) => h.document().map(RollbackResult::History),
            Outcome::Revert(r) => r
                .document("RollbackResult")
                .map(|d| RollbackResult::Revert(Box::new(d))),
        }
    }
}

/// Roll back: see the module docs.
pub fn run(ports: &Ports, req: Request, ui: &dyn Interaction) -> Result<Outcome, PromoteError> {
    ports.policies.warm();
    let pick = req.strategy != Some(Strategy::Revert);
    let reads = if pick {
        Reads::RollbackMayUseHistory
    } else {
        Reads::Revert
    };
    let one_offs = !ports.policies.settings.one_offs.is_empty();
    // The Argo CD reads do not depend on the fetch: start them from promote.yaml as last
    // fetched, and keep those the fetched promote.yaml agrees with (`EarlyReads`).
    let (session, early) = std::thread::scope(|scope| {
        let early = last_fetched_config(ports).map(|config| {
            deploy::connect::start_early_reads(
                scope,
                ports.argocd.as_ref(),
                config,
                (&req.env, reads, one_offs),
            )
        });
        let session = Session::open(&ports.workspace, ui);
        let early: Option<EarlyReads> =
            early.map(|h| h.join().expect("the Argo CD read thread panicked"));
        (session, early)
    });
    let session = session?;
    let (argocd, argo_reads) = deploy::connect::gather(
        ports.argocd.as_ref(),
        &session,
        (&req.env, reads, one_offs),
        early,
        ui,
    );
    let context = PolicyContext {
        override_reason: req.override_reason.clone(),
        dry_run: req.dry_run,
        argocd,
        wave: None,
    };
    let gate = Gate {
        ports,
        session: &session,
        context: &context,
    };
    if pick
        && let history::Picked::History { conn, plan, app } =
            history::pick_strategy(ports, &session, &req, argo_reads, ui)?
    {
        let env = session.config.env(&req.env)?;
        let rollback = history::Rollback {
            gate,
            req: &req,
            env,
            conn: &conn,
            app: &app,
        };
        return Ok(Outcome::History(Box::new(rollback.run(*plan, ui)?)));
    }
    revert_strategy(gate, &req, ui).map(Outcome::Revert)
}

/// The revert, planned and landed like a promotion.
fn revert_strategy(
    gate: Gate<'_>,
    req: &Request,
    ui: &dyn Interaction,
) -> Result<promotion::Outcome, PromoteError> {
    let target = match &req.target {
        Target::Version(v) => RollbackTarget::Version(v.clone()),
        Target::Revision(r) => RollbackTarget::Revision(r.clone()),
        Target::Previous => RollbackTarget::Previous,
        Target::HistoryId(_) => {
            return Err(PromoteError::Usage(
                "--to-id names an Argo CD history entry: it needs --strategy argocd (or no --strategy)"
                    .into(),
            ));
        }
    };
    let revert = RevertRequest {
        env: req.env.clone(),
        target,
        mode: req.mode,
        message: req.message.clone(),
        author: req.author.clone(),
    };
    let ports = gate.ports;
    let images = ImageCheck::for_mode(req.images, ports)?;
    let renderer = ports.renderer.clone();
    let planner = Planner {
        gate,
        renderer: &renderer,
        images: &images,
    };
    let prepared = prepare_revert(&planner, &revert, ui)?;
    let how = LandOptions {
        dry_run: req.dry_run,
        yes: req.yes,
        verb: "Roll back",
        wait: req.wait,
        resume: false,
    };
    promotion::land(ports, gate.session, &renderer, prepared, &how, ui)
}

/// `promote.yaml` as the last fetch left it, to start the Argo CD reads from; `None` when there
/// is nothing to guess from (`--repo URL`: the clone is fetched first; no readable file). A
/// `--config` file is parsed again by the session; a parse error is reported there.
pub(crate) fn last_fetched_config(ports: &Ports) -> Option<Config> {
    let ws = &ports.workspace;
    match (&ws.config_override, &ws.repo) {
        (Some((label, text)), _) => Config::parse(label, text).ok(),
        (None, Some(repo))
            if repo.contains("://") || repo.contains('@') || repo.starts_with("file:") =>
        {
            None
        }
        (None, repo) => {
            crate::peek::config(&repo.as_ref().map_or(ws.cwd.clone(), |r| ws.cwd.join(r)))
        }
    }
}
