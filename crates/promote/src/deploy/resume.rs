//! Ending an `argocd` rollback (`resume ENV`, and `promote --resume` after its push): restore the
//! recorded sync policy and remove the rollback marker, refusing while git still holds the
//! version rolled back from unless forced.

use serde::Serialize;

use promote_core::argocd::Application;
use promote_core::config::Environment;
use promote_core::image::EnvVersion;

use super::error::ArgoError;
use super::facts::{MarkerFacts, Versions, marker_facts};
use super::state::AutoSyncState;
use super::target::{Target, classify, read_app};
use super::wait::short;
use crate::{Interaction, Session};

/// What `resume` did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resumed {
    pub environment: String,
    pub app: String,
    /// After the resume.
    pub auto_sync: AutoSyncState,
    pub prune: bool,
    pub self_heal: bool,
    /// The marker that was removed.
    pub marker: MarkerFacts,
    /// Resumed with --force while git still held the version rolled back from.
    pub forced: bool,
}

/// `resume ENV [--force]`: restore the recorded sync policy and remove the marker, refusing while
/// git still holds the rolled-back version (the overlay's images at the base tip equal those of
/// the revision rolled back from).
pub fn resume(
    session: &Session,
    env: &Environment,
    t: &Target<'_>,
    force: bool,
    ui: &dyn Interaction,
) -> Result<Resumed, ArgoError> {
    let app = read_app(env, t)?;
    let marker = marker_facts(&app).ok_or_else(|| ArgoError::NothingToResume {
        app: t.app.to_string(),
    })?;
    let mut forced = false;
    match rolled_back_from(&app) {
        Some(from) => {
            let mut versions = Versions::new(session, env);
            let base_images = session
                .overlay_at(env, session.base)
                .map_err(|e| ArgoError::NoTarget(e.to_string()))?
                .image_map();
            let from_images = versions.images(&from);
            let still = match &from_images {
                Some(images) => *images == base_images,
                None => true, // cannot read it: refuse rather than redeploy a bad version
            };
            if still {
                if !force {
                    return Err(match from_images {
                        Some(images) => ArgoError::StillRolledBackVersion {
                            env: env.name.clone(),
                            version: EnvVersion::of(images.values()).to_string(),
                            base: format!("{} {}", session.base_name(), session.base.short()),
                            revision: short(&from).to_owned(),
                        },
                        None => ArgoError::UnknownRolledBackFrom {
                            env: env.name.clone(),
                            app: t.app.to_string(),
                        },
                    });
                }
                ui.warn(&format!("--force: git still holds what {} was rolled back from ({}); Argo CD will deploy it again", env.name, short(&from)));
                forced = true;
            }
        }
        None if !force => {
            return Err(ArgoError::UnknownRolledBackFrom {
                env: env.name.clone(),
                app: t.app.to_string(),
            });
        }
        None => forced = true,
    }
    resume_now(env, t, marker, forced, ui)
}

/// Restores the sync policy and refreshes (used by `resume` and by `promote --resume` after
/// its push).
pub fn resume_now(
    env: &Environment,
    t: &Target<'_>,
    marker: MarkerFacts,
    forced: bool,
    ui: &dyn Interaction,
) -> Result<Resumed, ArgoError> {
    let fail = |e| classify(&env.name, t, e);
    ui.step(&format!(
        "restoring the sync policy of {} and removing the rollback marker",
        t.app
    ));
    t.argo.resume(&t.app).map_err(fail)?;
    let app = t.argo.refresh(&t.app, false).map_err(fail)?;
    let (auto_sync, prune, self_heal) = AutoSyncState::of(&app.auto_sync);
    Ok(Resumed {
        environment: env.name.clone(),
        app: t.app.to_string(),
        auto_sync,
        prune,
        self_heal,
        marker,
        forced,
    })
}

/// The marker of ENV's app, for `promote --resume`.
pub fn marker(app: &Application) -> Option<MarkerFacts> {
    marker_facts(app)
}

/// The revision running before our rollback: the entry before the one the rollback appended
/// (the newest entry of the rolled-back-to revision after the target id), or, while the
/// rollback has not completed, the one running now.
fn rolled_back_from(app: &Application) -> Option<String> {
    let marker = app.rollback_marker.as_ref()?;
    let to = marker.to_revision.as_deref()?;
    let appended = app.history.iter().rposition(|h| {
        marker.to_id.is_none_or(|id| h.id > id) && h.revision.as_deref() == Some(to)
    });
    match appended {
        Some(i) => app.history[..i]
            .iter()
            .rev()
            .find_map(|h| h.revision.clone().filter(|r| r != to)),
        None => app
            .history
            .last()
            .and_then(|h| h.revision.clone())
            .filter(|r| r != to),
    }
}

#[cfg(test)]
mod tests {
    use super::super::wait::tests::{A, B, C, app};
    use super::*;
    use serde_json::json;

    #[test]
    fn the_version_rolled_back_from_is_the_entry_before_the_rollbacks_own() {
        let marker = json!({
            promote_core::argocd::ROLLED_BACK_BY: "alice", promote_core::argocd::ROLLBACK_TO_ID: "1", promote_core::argocd::ROLLBACK_TO_REVISION: B,
        });
        // Rolled back from C (id 2) to B (id 1); the rollback appended id 3.
        let done = app(marker.clone(), &[(0, A), (1, B), (2, C), (3, B)]);
        assert_eq!(rolled_back_from(&done).as_deref(), Some(C));
        // The rollback has not completed: what runs now is what it rolls back from.
        let pending = app(marker, &[(0, A), (1, B), (2, C)]);
        assert_eq!(rolled_back_from(&pending).as_deref(), Some(C));
        assert_eq!(rolled_back_from(&app(json!({}), &[(0, A)])), None);
    }
}
