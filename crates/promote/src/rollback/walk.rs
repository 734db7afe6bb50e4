//! The history of ENV's overlay as a revert (and `history`) sees it: a path-limited,
//! first-parent walk of the overlay file (merge commits compare against parent 1, so a merged PR
//! counts as one change) that reads the *image values* each commit left behind, not trailers
//! alone: that also finds promotions that were squash-merged or written by hand. Who promoted a
//! merged or squashed change is read from the promotion it brought in ([`provenance`]).

use serde::Serialize;

use promote_core::image::{EnvVersion, ImageMap};
use promote_git::CommitId;

use crate::provenance::{self, PromotedVia};
use crate::session::MAX_WALK;
use crate::{PromoteError, Session};

/// How many overlay changes a revert (or `history`) considers at most.
pub const MAX_CHANGES: usize = 200;

/// One change of the overlay, as the walk saw it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverlayChange {
    pub commit: String,
    pub subject: String,
    /// The version after this commit (`mixed`, or null when no tag is pinned).
    pub version: Option<String>,
    pub promoted_by: Option<String>,
    /// Set when `promotedBy` was read from the promotion a forge's merge or squash brought in
    /// (the change itself carries no trailers of ours).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promoted_via: Option<PromotedVia>,
    #[serde(skip)]
    pub(crate) id: Option<CommitId>,
    #[serde(skip)]
    pub(crate) images: ImageMap,
}

/// The newest `limit` overlay changes of ENV (at most [`MAX_CHANGES`], walking at most
/// [`MAX_WALK`] commits).
pub fn overlay_history(
    session: &Session,
    env_name: &str,
    limit: usize,
) -> Result<Vec<OverlayChange>, PromoteError> {
    overlay_changes(session, env_name)?
        .take(limit.min(MAX_CHANGES))
        .collect()
}

/// The overlay changes of ENV, newest first, read lazily: the revert lookup stops at the
/// change it needs instead of reading [`MAX_CHANGES`] of them from a deep history.
pub(crate) fn overlay_changes<'s>(
    session: &'s Session,
    env_name: &str,
) -> Result<impl Iterator<Item = Result<OverlayChange, PromoteError>> + 's, PromoteError> {
    let env = session.config.env(env_name)?;
    let file = session.overlay_at(env, session.base)?.file().to_owned();
    let log = session.repo.path_log(session.base, &file, MAX_WALK);
    Ok(log.map(move |c| {
        let c = c?;
        let images = match session.repo.read_file(c.id, &file)? {
            Some(bytes) => env
                .parse_pins(&file, &String::from_utf8_lossy(&bytes))
                .map(|o| o.image_map())
                .unwrap_or_default(),
            None => ImageMap::new(),
        };
        let version = EnvVersion::of(images.values());
        let promotion = provenance::promotion(session, env, &file, &c, &version)?;
        Ok(OverlayChange {
            commit: c.id.to_string(),
            subject: c.message.lines().next().unwrap_or("").to_owned(),
            version: version.as_str().map(str::to_owned),
            promoted_by: promotion.promoted_by().map(str::to_owned),
            promoted_via: promotion.via,
            id: Some(c.id),
            images,
        })
    }))
}
