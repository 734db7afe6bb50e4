//! The rendered-image comparison of `verify` and of a promotion's plan: an environment's overlay
//! rendered at two points, the container images of every pod template compared
//! ([`promote_core::manifests`]), each changed image named as the overlays name it, and marked
//! as explained by the `images:` edit or not.
//!
//! `verify` gives the policies what the render changes, whatever edit caused it (a patch, a
//! `replacements` entry, a component, a base edit), so a hand-written change cannot route an
//! image around them by leaving `images:` alone. A promotion shows the comparison in its plan
//! and flags what its own edit does not explain (see [`last_change`] for what it compares with).

use serde::Serialize;

use promote_core::image::ImageChange;
use promote_core::manifests::{self, ImageNames, Manifests};
use promote_core::overlay::Overlay;
use promote_git::CommitId;

use crate::Session;
use crate::session::normalize;

/// What a promotion's plan says about its render against the tree the environment last had.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum PlanComparison {
    /// Both rendered and compared.
    Compared(RenderedImages),
    /// Nothing the render reads changed since that tree but the edit itself (equal render
    /// keys), so there is nothing to flag; that tree was not rendered again.
    #[serde(rename_all = "camelCase")]
    OnlyThisEdit {
        compared_commit: String,
        compared_with: String,
    },
    /// A render's output is not readable YAML.
    Unreadable { message: String },
    /// A promotion of several apps: each app's plan has its own comparison.
    PerApp,
}

/// How a render's container images differ from another render's.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedImages {
    /// The commit whose render the change is compared with.
    pub compared_commit: String,
    /// That commit, short, and why that one (for people).
    pub compared_with: String,
    /// Rendered objects added, removed or changed in any field.
    pub objects_changed: usize,
    /// Every container whose image differs (new and removed containers included).
    pub containers: Vec<RenderedContainer>,
    /// The compared-with tree did not render (every container then counts as new).
    pub baseline_error: Option<String>,
}

/// One container whose image differs.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedContainer {
    /// `Deployment microservices-demo-prod/cartservice`.
    pub object: String,
    /// `spec.template.spec.containers[server]`.
    pub container: String,
    /// The image reference before (`None`: a new container).
    pub from: Option<String>,
    /// The image reference after (`None`: the container is gone).
    pub to: Option<String>,
    /// The image name the reference maps to: the `images:` entry that renders as its
    /// repository (by `newName`, else `name`), or the repository itself.
    pub image: String,
    /// The `images:` edit sets this image to this reference.
    pub explained: bool,
}

impl RenderedImages {
    /// The containers the `images:` edit does not explain.
    pub fn unexplained(&self) -> impl Iterator<Item = &RenderedContainer> {
        self.containers.iter().filter(|c| !c.explained)
    }
}

/// Compare the render `after` with `before` (its manifests, or why it did not render).
/// `declared`: the image changes of the `images:` edit, which explain a container change when
/// they set its image name to its new reference. Returns the comparison and the image changes
/// the render amounts to (containers that are gone are not among them: nothing new runs).
/// `Err`: a render's output is not readable YAML.
pub(crate) fn compare(
    before: Result<&str, &str>,
    after: &str,
    names: &ImageNames,
    declared: &[ImageChange],
    (compared_commit, compared_with): (CommitId, String),
) -> Result<(RenderedImages, Vec<ImageChange>), String> {
    // The same bytes render the same images: no parse needed (a promotion whose edit no
    // workload uses, or an unchanged render).
    let diff = if before == Ok(after) {
        manifests::RenderedDiff::default()
    } else {
        let after = Manifests::parse("the render", after).map_err(|e| e.to_string())?;
        let before = match before {
            Ok(text) => {
                Manifests::parse("the render compared with", text).map_err(|e| e.to_string())?
            }
            Err(_) => Manifests::default(),
        };
        manifests::diff(&before, &after)
    };
    let (changes, _) = manifests::image_changes(&diff, names);
    let containers = diff
        .containers
        .into_iter()
        .map(|c| {
            let change = manifests::image_change(&c, names);
            let image = match &change {
                Some(ic) => ic.name.clone(),
                None => {
                    let (repository, _) =
                        manifests::split_reference(c.from.as_deref().unwrap_or_default());
                    names.name_of(repository).0
                }
            };
            let explained = change
                .is_some_and(|ic| declared.iter().any(|d| d.name == ic.name && d.to == ic.to));
            RenderedContainer {
                object: c.object,
                container: c.container,
                from: c.from,
                to: c.to,
                image,
                explained,
            }
        })
        .collect();
    Ok((
        RenderedImages {
            compared_commit: compared_commit.to_string(),
            compared_with,
            objects_changed: diff.objects_changed,
            containers,
            baseline_error: before.err().map(str::to_owned),
        },
        changes,
    ))
}

/// What the policies judge for a change: each declared (`images:`) change that the render
/// agrees with or does not show (an entry no workload uses still changes what git says the
/// environment runs), then every rendered change the declared ones do not cover. A declared
/// change that the render contradicts (a patch sets another reference for that image) gives
/// way to what the render says will run.
pub(crate) fn judged(declared: &[ImageChange], rendered: &[ImageChange]) -> Vec<ImageChange> {
    let mut out: Vec<ImageChange> = declared
        .iter()
        .filter(|d| {
            let mut same_name = rendered.iter().filter(|r| r.name == d.name).peekable();
            same_name.peek().is_none() || same_name.any(|r| r.to == d.to)
        })
        .cloned()
        .collect();
    for r in rendered {
        if !out.iter().any(|o| o.name == r.name && o.to == r.to) {
            out.push(r.clone());
        }
    }
    out
}

/// The `images:` entries of the overlay in `dir` and of the kustomizations it builds on, at
/// each commit of `at` in turn (the overlay's own first), as (name, newName) for
/// [`ImageNames`].
pub(crate) fn image_names(session: &Session, dir: &str, at: &[CommitId]) -> ImageNames {
    let mut entries = Vec::new();
    for commit in at {
        let mut queue = std::collections::VecDeque::from([(normalize(dir), 0)]);
        let mut seen = std::collections::BTreeSet::new();
        while let Some((dir, depth)) = queue.pop_front() {
            if depth > 16 || !seen.insert(dir.clone()) {
                continue;
            }
            let Ok(Some((file, text))) = session.kustomization_at(&dir, *commit) else {
                continue;
            };
            let Ok(o) = Overlay::parse(&file, &text) else {
                continue;
            };
            for e in o.images().unwrap_or_default() {
                entries.push((e.name.clone(), e.new_name.clone()));
            }
            for r in o.local_refs() {
                queue.push_back((normalize(&format!("{dir}/{r}")), depth + 1));
            }
        }
    }
    ImageNames::new(entries)
}

/// The newest commit at or before `at` that changed `file` (an environment's kustomization):
/// its last promotion, revert or hand edit, with its subject.
///
/// A promotion's plan compares its render with the render of this commit rather than with the
/// base tip before the edit. Both hold the same `images:`, but edits to what the overlay builds
/// on (a base, a component, a patch file beside the kustomization) that landed on the base
/// branch since then reach the environment for the first time with this promotion when it is
/// not synced automatically, and only this comparison shows them. Git, not Argo CD, says what
/// the environment last had: the plan is the same offline, in a dry run and in CI, and `verify`
/// already judged each of those edits for this environment when it was merged.
pub(crate) fn last_change(
    repo: &promote_git::Repo,
    file: &str,
    at: CommitId,
) -> Option<(CommitId, String)> {
    repo.log_path(at, file, 1, LAST_CHANGE_WALK)
        .ok()?
        .into_iter()
        .next()
        .map(|c| (c.id, c.message.lines().next().unwrap_or("").to_owned()))
}

/// How far back [`last_change`] walks (as `status` does for an overlay's last change).
const LAST_CHANGE_WALK: usize = 100_000;

#[cfg(test)]
mod tests {
    use promote_core::image::ImageRef;

    use super::*;

    fn commit() -> CommitId {
        "0123456789012345678901234567890123456789".parse().unwrap()
    }

    fn change(name: &str, from: &str, to: &str) -> ImageChange {
        ImageChange {
            name: name.into(),
            new_name: None,
            from: ImageRef::tag(from),
            to: ImageRef::tag(to),
        }
    }

    #[test]
    fn the_render_wins_where_it_contradicts_images() {
        let declared = [change("a", "v1", "v2"), change("unused", "v1", "v2")];
        let rendered = [change("a", "v1", "v3"), change("b", "v1", "v9")];
        let judged = judged(&declared, &rendered);
        assert_eq!(
            judged,
            [
                change("unused", "v1", "v2"),
                change("a", "v1", "v3"),
                change("b", "v1", "v9")
            ]
        );
        // Agreeing: the declared entry stands, nothing is added.
        assert_eq!(
            super::judged(&declared[..1], &[change("a", "v1", "v2")]),
            [change("a", "v1", "v2")]
        );
    }

    #[test]
    fn explained_changes_are_marked() {
        let deploy = |image: &str| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: shop}}\nspec:\n  template:\n    spec:\n      containers:\n      - {{name: app, image: '{image}'}}\n      - {{name: side, image: 'reg/side:v1'}}\n"
            )
        };
        let before = deploy("reg/shop:v1");
        let after = deploy("reg/shop:v2").replace("reg/side:v1", "reg/side:v5");
        let names = ImageNames::new([("shop".to_owned(), Some("reg/shop".to_owned()))]);
        let (cmp, changes) = compare(
            Ok(&before),
            &after,
            &names,
            &[change("shop", "v1", "v2")],
            (commit(), "x".into()),
        )
        .unwrap();
        assert_eq!(cmp.objects_changed, 1);
        let marks: Vec<(&str, bool)> = cmp
            .containers
            .iter()
            .map(|c| (c.image.as_str(), c.explained))
            .collect();
        assert_eq!(marks, [("shop", true), ("reg/side", false)]);
        assert_eq!(changes.len(), 2);
        // A baseline that did not render: everything is new.
        let (cmp, _) = compare(Err("boom"), &after, &names, &[], (commit(), "x".into())).unwrap();
        assert_eq!(cmp.containers.len(), 2);
        assert!(
            cmp.containers
                .iter()
                .all(|c| c.from.is_none() && !c.explained)
        );
        assert_eq!(cmp.baseline_error.as_deref(), Some("boom"));
    }
}
