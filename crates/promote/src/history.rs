//! `kubectl promote history ENV [--limit N]`, end to end: Argo CD's history of ENV's app (when
//! it has one) with the version each entry ran, then the overlay's git changes (promotions,
//! reverts, hand edits). The git half stands on its own, so an Argo CD that cannot be read is a
//! warning and an `argocdError` in the result, not a failure.

use serde::Serialize;

use promote_core::config::Environment;

use crate::deploy::{self, one_line};
use crate::document::Document;
use crate::plan::HistoryItem;
use crate::ports::{Ports, Purpose};
use crate::rollback::{OverlayChange, overlay_history};
use crate::{Interaction, PromoteError, Session};

/// A history as asked on the command line.
#[derive(Debug, Clone)]
pub struct Request {
    pub env: String,
    /// `--limit`: at most this many entries of each half, newest first.
    pub limit: Option<usize>,
}

/// ENV's history (`kind: History`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    pub environment: String,
    /// Null when ENV has no Argo CD application.
    pub app: Option<String>,
    /// Argo CD's history, newest first (empty without an app, or when it could not be read).
    pub entries: Vec<HistoryItem>,
    /// Why Argo CD's history could not be read (the git half is there all the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argocd_error: Option<String>,
    /// The overlay's git changes, newest first.
    pub git: Vec<OverlayChange>,
    /// ENV's overlay directory, for people.
    #[serde(skip)]
    pub overlay: String,
}

impl Document for History {
    fn kind(&self) -> &'static str {
        "History"
    }
}

/// List ENV's history: see the module docs.
pub fn run(ports: &Ports, req: Request, ui: &dyn Interaction) -> Result<History, PromoteError> {
    let session = Session::open(&ports.workspace, ui)?;
    let env = session.config.env(&req.env)?;
    let argocd = argocd_half(ports, &session, env, req.limit, ui);
    let git = overlay_history(&session, &env.name, req.limit.unwrap_or(usize::MAX))?;
    let (app, entries, argocd_error) = match argocd {
        None => (None, Vec::new(), None),
        Some(ArgoHalf::Read { app, entries }) => (Some(app), entries, None),
        Some(ArgoHalf::Unread { app, error }) => (Some(app), Vec::new(), Some(error)),
    };
    Ok(History {
        environment: env.name.clone(),
        app,
        entries,
        argocd_error,
        git,
        overlay: env.overlay.clone(),
    })
}

/// Argo CD's half of the history.
enum ArgoHalf {
    Read {
        app: String,
        entries: Vec<HistoryItem>,
    },
    /// It could not be read (and a warning said why).
    Unread { app: String, error: String },
}

/// Argo CD's history of ENV's app; `None` when ENV has none.
fn argocd_half(
    ports: &Ports,
    session: &Session,
    env: &Environment,
    limit: Option<usize>,
    ui: &dyn Interaction,
) -> Option<ArgoHalf> {
    let target = env.argocd.as_ref()?;
    let read = deploy::connect(ports.argocd.as_ref(), env, Purpose::Read).and_then(|conn| {
        let t = conn.target();
        let app = deploy::target::read_app(env, &t)?;
        Ok(ArgoHalf::Read {
            app: t.app.to_string(),
            entries: deploy::facts::history(session, env, &app, limit),
        })
    });
    Some(read.unwrap_or_else(|e| {
        let error = one_line(&e);
        ui.warn(&format!(
            "{}: Argo CD history not shown, only git's: {error}",
            env.name
        ));
        ArgoHalf::Unread {
            app: ports.argocd.app(target).to_string(),
            error,
        }
    }))
}
