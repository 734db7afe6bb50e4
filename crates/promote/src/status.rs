//! `kubectl promote status [ENV]`: what each environment runs according to git (the version, or
//! `mixed` with the per-image truth beside it) and its last promotion.

use std::collections::BTreeMap;

use serde::Serialize;

use promote_core::config::Mode;
use promote_core::image::{EnvVersion, ImageRef};
use promote_core::trailers::{self, Trailers};

use crate::{PromoteError, Session};

/// One environment's state in git.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvStatus {
    pub name: String,
    pub overlay: String,
    pub from: Option<String>,
    pub mode: Mode,
    /// The tag all images share, `mixed`, or null when no image pins a tag.
    pub version: Option<String>,
    pub images: BTreeMap<String, ImageRef>,
    pub last_change: Option<LastChange>,
    /// Approvals, rejections and revocations recorded for this environment: per version and
    /// role, the record in force and who approved, most recent first.
    pub approvals: Vec<crate::approvals::ApprovalState>,
    /// Records for this environment that do not count (by someone `approvers` does not list
    /// for the role), most recent first.
    pub ignored_approvals: Vec<crate::approvals::IgnoredRecord>,
    /// Argo CD's view (sync, health, deployed revision, auto-sync, operation, rollback marker);
    /// filled by the caller that reaches Argo CD, absent when the env has no app or it was not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argocd: Option<crate::argo::ArgoStatus>,
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
}

/// How many (version, role) pairs of approvals `status` shows per environment.
const APPROVALS_SHOWN: usize = 10;

/// How far back `status` looks for the last change of an overlay before it says "unknown".
const MAX_WALK: usize = 100_000;

pub fn status(session: &Session, only: Option<&str>) -> Result<Vec<EnvStatus>, PromoteError> {
    if let Some(name) = only {
        session.config.env(name)?;
    }
    let records = crate::approvals::list(session, &crate::Quiet)?;
    let mut out = Vec::new();
    for env in session
        .config
        .environments
        .iter()
        .filter(|e| only.is_none_or(|o| o == e.name))
    {
        let overlay = session.overlay_at(env, session.base)?;
        let images = overlay.image_map();
        let version = EnvVersion::of(images.values()).as_str().map(str::to_owned);
        let last_change = session
            .repo
            .log_path(session.base, overlay.file(), 1, MAX_WALK)?
            .into_iter()
            .next()
            .map(|c| {
                let t = Trailers::parse(&c.message);
                LastChange {
                    commit: c.id.to_string(),
                    by: t
                        .get(trailers::PROMOTED_BY)
                        .map(str::to_owned)
                        .unwrap_or_else(|| c.author.to_string()),
                    at: rfc3339(c.time),
                    subject: c.message.lines().next().unwrap_or("").to_owned(),
                    promoted_version: t.get(trailers::VERSION).map(str::to_owned),
                    promoted_from: t.get(trailers::FROM).map(str::to_owned),
                }
            });
        out.push(EnvStatus {
            name: env.name.clone(),
            overlay: overlay.file().to_owned(),
            from: env.from.clone(),
            mode: env.mode,
            version,
            images,
            last_change,
            approvals: crate::approvals::summary(&records.counted, &env.name, APPROVALS_SHOWN),
            ignored_approvals: crate::approvals::ignored(&records, &env.name, APPROVALS_SHOWN),
            argocd: None,
        });
    }
    Ok(out)
}

/// Seconds since the epoch as RFC 3339 UTC with second precision (as Kubernetes writes times).
pub fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}
