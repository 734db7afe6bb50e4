//! The release behind the tags: for each image a promotion changes, where the old and the new
//! image say they were built from (their OCI labels, read from the registry), the revision range
//! between them with a compare link, and, where a token for the source's forge is set, the
//! commit subjects in that range. Shown in the plan, the result document, the pull request and
//! given to policies (`images[].source`).
//!
//! It never stops a promotion: an image without labels, a registry that cannot be asked or a
//! forge that does not answer leaves that image's source unknown, with the reason.

use serde::Serialize;

use promote_core::forge::{ForgeKind, ForgeSettings, ForgeTarget};
use promote_core::image::{ImageChange, ImageRef};
use promote_core::registry::{self, ImageName, ImageQuery, ImageResolver, Reference};
use promote_core::source::{self, Commits, ImageLabels, SourceCommit, SourceRange};

use crate::ports::ForgeConnector;

/// Commit subjects shown per image; the rest is a count.
pub const COMMITS_SHOWN: usize = 20;

/// What is known of one image's source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSource {
    /// The overlay's image name.
    pub image: String,
    /// The range, when the new image names its source.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub range: Option<SourceRange>,
    /// The first commits of the range, when the forge was asked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<SourceCommit>,
    /// How many commits the range holds, when the forge was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_commits: Option<usize>,
    /// Why something is unknown (`no source label`, the registry's or forge's error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ImageSource {
    /// One line for a plan: `cart: https://github.com/acme/cart 1111111..2222222 (3 commits)`.
    pub fn line(&self) -> String {
        let Some(r) = &self.range else {
            return format!(
                "{}: source unknown ({})",
                self.image,
                self.note.as_deref().unwrap_or("no source label")
            );
        };
        format!(
            "{}: {} {}{}",
            self.image,
            r.repo,
            r.short_range(),
            source::commit_count(self.total_commits)
        )
    }
}

/// Where the sources' forges are: the GitOps repository's forge (its web root, kind and token
/// variable are used for sources on the same host), and how to reach one.
pub struct Forges<'a> {
    pub gitops: Option<&'a ForgeTarget>,
    pub connector: &'a dyn ForgeConnector,
}

/// The sources of `changes`, in their order: [`ranges`], then [`with_commits`].
pub fn sources(
    resolver: &dyn ImageResolver,
    forges: &Forges<'_>,
    changes: &[ImageChange],
) -> Vec<ImageSource> {
    let known = known_forges(forges.gitops);
    with_commits(forges, changes, ranges(resolver, &known, changes))
}

/// The forges whose hosts `source_range` recognises besides github.com and gitlab.com.
pub fn known_forges(gitops: Option<&ForgeTarget>) -> Vec<(String, ForgeKind)> {
    gitops
        .map(|t| (t.web_url.clone(), t.kind))
        .into_iter()
        .collect()
}

/// Each change's range from the registry's labels, looked up in parallel like the image check
/// (two lookups per image); `Err` says why it is unknown. Needs nothing but the resolver, so it can run on a
/// thread of its own beside the render.
pub fn ranges(
    resolver: &dyn ImageResolver,
    known: &[(String, ForgeKind)],
    changes: &[ImageChange],
) -> Vec<Result<SourceRange, String>> {
    crate::images::registry_map(changes, |c| range_of(resolver, known, c))
}

/// The sources with their commits: each distinct range is asked of its forge once (images
/// built from one repository share it).
pub fn with_commits(
    forges: &Forges<'_>,
    changes: &[ImageChange],
    ranges: Vec<Result<SourceRange, String>>,
) -> Vec<ImageSource> {
    let mut asked: Vec<(SourceRange, Result<Option<Commits>, String>)> = Vec::new();
    changes
        .iter()
        .zip(ranges)
        .map(|(change, range)| {
            let range = match range {
                Ok(r) => r,
                Err(note) => {
                    return ImageSource {
                        image: change.name.clone(),
                        range: None,
                        commits: Vec::new(),
                        total_commits: None,
                        note: Some(note),
                    };
                }
            };
            let answer = match asked.iter().find(|(r, _)| *r == range) {
                Some((_, a)) => a.clone(),
                None => {
                    let a = commits(forges, &range);
                    asked.push((range.clone(), a.clone()));
                    a
                }
            };
            let (commits, total_commits, note) = match answer {
                Ok(Some(c)) => (c.commits, Some(c.total), None),
                Ok(None) => (Vec::new(), None, None),
                Err(e) => (Vec::new(), None, Some(format!("commits not listed: {e}"))),
            };
            ImageSource {
                image: change.name.clone(),
                range: Some(range),
                commits,
                total_commits,
                note,
            }
        })
        .collect()
}

/// The range of one change from the two images' labels; `Err` says why it is unknown.
fn range_of(
    resolver: &dyn ImageResolver,
    known: &[(String, ForgeKind)],
    change: &ImageChange,
) -> Result<SourceRange, String> {
    let image = ImageName::parse(registry::effective_name(change)).map_err(|e| e.to_string())?;
    let labels = |r: &ImageRef| -> Result<ImageLabels, String> {
        let Some(reference) = r
            .digest
            .clone()
            .map(Reference::Digest)
            .or_else(|| r.tag.clone().map(Reference::Tag))
        else {
            return Ok(ImageLabels::default());
        };
        let query = ImageQuery {
            image: image.clone(),
            reference,
        };
        match resolver.labels(&query) {
            Ok(Some(l)) => Ok(l),
            Ok(None) => Err(format!("{query} is not in its registry")),
            Err(e) => Err(e.to_string()),
        }
    };
    let new = labels(&change.to)?;
    // The old image may be gone from the registry: then there is no `from`, not no source.
    let old = labels(&change.from).unwrap_or_default();
    source::source_range(&old, &new, known).ok_or_else(|| "no source label".to_owned())
}

/// The range's commits from its forge: `None` when the forge is unknown, the range open, or no
/// token for it is set.
fn commits(forges: &Forges<'_>, range: &SourceRange) -> Result<Option<Commits>, String> {
    let (Some(kind), Some(from), Some(to)) =
        (range.forge, &range.from_revision, &range.to_revision)
    else {
        return Ok(None);
    };
    if from == to {
        return Ok(Some(Commits::default()));
    }
    // Same host as the GitOps forge: its API base and token variable; else the vendor's.
    let same_host = forges
        .gitops
        .filter(|t| t.kind == kind && range.repo.starts_with(&format!("{}/", t.web_url)));
    let settings = ForgeSettings {
        kind: Some(kind),
        url: same_host.map(|t| t.api_url.clone()),
        repo: None,
        token_env: same_host.map(|t| t.token_env.clone()),
    };
    let target = ForgeTarget::resolve(Some(&range.repo), &settings).map_err(|e| e.to_string())?;
    let Some(history) = forges
        .connector
        .source_history(&target)
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    history
        .commits_between(from, to, COMMITS_SHOWN)
        .map(Some)
        .map_err(|e| e.to_string())
}
