//! The image check (issue 6 item 7): before anything is committed, every `image:tag` (and
//! `@digest`) a promotion or a revert writes is looked up in its registry, and a reference the
//! registry does not have stops the operation with what was asked and how to get past it.
//!
//! It runs beside the render and the policies ([`crate::promotion::draft::finish`]), and resolves
//! distinct references in parallel through one resolver (one connection pool, one token cache),
//! so it adds the slowest lookup's latency, not the sum. `--pin-digests` resolves the tags
//! first, because the digests are part of the edit that is rendered and judged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread;

use promote_core::Person;
use promote_core::image::ImageChange;
use promote_core::overlay::{Overlay, PlanOptions, Target};
use promote_core::registry::{
    self, ImageCheckReport, ImageName, ImageQuery, ImageResolver, Lookup, Reference,
};

use crate::{Interaction, PromoteError};

/// How a command treats the images it writes.
#[derive(Clone, Default)]
pub enum ImageCheck {
    /// `--skip-image-check` (air-gapped use): nothing is asked; the plan, the JSON result and the
    /// `Image-Check` trailer say who skipped it. The library's default, so callers that build a
    /// request without a resolver are recorded as skipping, never silently.
    #[default]
    Skip,
    /// Look every written reference up; refuse unknown ones.
    Check(Arc<dyn ImageResolver>),
    /// As `Check`, and write the digest each promoted tag resolves to (`--pin-digests`).
    Pin(Arc<dyn ImageResolver>),
}

impl std::fmt::Debug for ImageCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageCheck::Skip => "ImageCheck::Skip",
            ImageCheck::Check(_) => "ImageCheck::Check",
            ImageCheck::Pin(_) => "ImageCheck::Pin",
        })
    }
}

impl ImageCheck {
    /// The registry client, shareable with another thread (`None`: `--skip-image-check`).
    pub fn resolver_arc(&self) -> Option<Arc<dyn ImageResolver>> {
        match self {
            ImageCheck::Skip => None,
            ImageCheck::Check(r) | ImageCheck::Pin(r) => Some(r.clone()),
        }
    }

    fn resolver(&self) -> Option<&dyn ImageResolver> {
        match self {
            ImageCheck::Skip => None,
            ImageCheck::Check(r) | ImageCheck::Pin(r) => Some(r.as_ref()),
        }
    }
}

/// What a command asks of the image check (the flags and `KUBECTL_PROMOTE_SKIP_IMAGE_CHECK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageMode {
    /// `--skip-image-check`: recorded as skipped.
    #[default]
    Skip,
    /// Look every written reference up.
    Check,
    /// `--pin-digests`: look up, and pin each promoted tag's digest.
    Pin,
}

impl ImageCheck {
    /// The check `mode` asks for, with the registry client from `ports` when it asks one.
    pub fn for_mode(mode: ImageMode, ports: &crate::Ports) -> Result<ImageCheck, PromoteError> {
        Ok(match mode {
            ImageMode::Skip => ImageCheck::Skip,
            ImageMode::Check => ImageCheck::Check(ports.registry.resolver()?),
            ImageMode::Pin => ImageCheck::Pin(ports.registry.resolver()?),
        })
    }
}

/// At most this many lookups at once: enough for an overlay's images, polite to a registry.
const PARALLEL: usize = 8;

/// `f` of every item, in order, at most [`PARALLEL`] at once: registry requests, which wait on
/// the network, not the CPU. Shared by the image check and the source labels.
pub(crate) fn registry_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(PARALLEL) {
        thread::scope(|s| {
            let handles: Vec<_> = chunk.iter().map(|i| s.spawn(|| f(i))).collect();
            out.extend(
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))),
            );
        });
    }
    out
}

/// A reference that was found, with its digest and whether `--pin-digests` wrote it.
pub(crate) type Found = (ImageQuery, String, bool);

/// The resolver and the references still to look up.
pub(crate) type Pending<'a> = (&'a dyn ImageResolver, Vec<ImageQuery>);

/// Look every query up, in parallel; all references the registries lack are reported together.
fn resolve_all(
    resolver: &dyn ImageResolver,
    queries: &[ImageQuery],
) -> Result<Vec<(ImageQuery, String)>, PromoteError> {
    let results = registry_map(queries, |q| resolver.resolve(q));
    let answers = queries.iter().cloned().zip(results);
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for (q, answer) in answers {
        match answer? {
            Lookup::Found { digest } => found.push((q, digest)),
            Lookup::NotFound { request } => missing.push((q, request)),
        }
    }
    if !missing.is_empty() {
        return Err(PromoteError::ImagesNotFound(registry::not_found_message(
            &missing,
        )));
    }
    Ok(found)
}

/// `--pin-digests`: resolve the tag each selected image will carry and return the digests to
/// pin (entry name → digest) with what was found. Nothing to do unless the check is `Pin`.
pub(crate) fn pin(
    check: &ImageCheck,
    overlay: &Overlay,
    target: &Target<'_>,
    opts: &PlanOptions,
    ui: &dyn Interaction,
) -> Result<(BTreeMap<String, String>, Vec<Found>), PromoteError> {
    let ImageCheck::Pin(resolver) = check else {
        return Ok((BTreeMap::new(), Vec::new()));
    };
    let wanted = overlay.pins_wanted(target, opts)?;
    let mut queries = Vec::new();
    for w in &wanted {
        queries.push(ImageQuery {
            image: ImageName::parse(&w.image)?,
            reference: Reference::Tag(w.tag.clone()),
        });
    }
    queries.sort();
    queries.dedup();
    ui.step(&format!(
        "resolving {} tag{} to pin their digests",
        queries.len(),
        if queries.len() == 1 { "" } else { "s" }
    ));
    let found = resolve_all(resolver.as_ref(), &queries)?;
    let mut pins = BTreeMap::new();
    for w in &wanted {
        let hit = found.iter().find(|(q, _)| {
            q.reference == Reference::Tag(w.tag.clone())
                && ImageName::parse(&w.image).is_ok_and(|i| i == q.image)
        });
        if let Some((_, digest)) = hit {
            pins.insert(w.name.clone(), digest.clone());
        }
    }
    Ok((pins, found.into_iter().map(|(q, d)| (q, d, true)).collect()))
}

/// What is left to look up of the references `changes` write, after what `known` answers:
/// `None` when the check is skipped. Runs on the caller's thread (it reports progress).
pub(crate) fn pending<'a>(
    check: &'a ImageCheck,
    changes: &[ImageChange],
    known: &[Found],
    ui: &dyn Interaction,
) -> Result<Option<Pending<'a>>, PromoteError> {
    let Some(resolver) = check.resolver() else {
        return Ok(None);
    };
    let all = registry::queries(changes)?;
    let pinned_digests: Vec<&String> = known.iter().map(|(_, d, _)| d).collect();
    let todo: Vec<ImageQuery> = all
        .iter()
        .filter(|q| !known.iter().any(|(k, _, _)| k == *q))
        // A digest just resolved from its tag exists: no need to ask again.
        .filter(|q| !matches!(&q.reference, Reference::Digest(d) if pinned_digests.contains(&d)))
        .cloned()
        .collect();
    if !todo.is_empty() {
        let mut registries: Vec<&str> = todo.iter().map(|q| q.image.registry.as_str()).collect();
        registries.sort_unstable();
        registries.dedup();
        ui.step(&format!(
            "checking {} image reference{} in {}",
            todo.len(),
            if todo.len() == 1 { "" } else { "s" },
            registries.join(", ")
        ));
    }
    Ok(Some((resolver, todo)))
}

/// Look the pending references up (on any thread) and add them to `known`.
pub(crate) fn resolve_pending(
    pending: Option<Pending<'_>>,
    known: &[Found],
) -> Result<Option<Vec<Found>>, PromoteError> {
    let Some((resolver, todo)) = pending else {
        return Ok(None);
    };
    let mut found: Vec<Found> = known.to_vec();
    found.extend(
        resolve_all(resolver, &todo)?
            .into_iter()
            .map(|(q, d)| (q, d, false)),
    );
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Some(found))
}

/// The plan's account of the check.
pub(crate) fn report(found: Option<Vec<Found>>, author: &Person) -> ImageCheckReport {
    match found {
        Some(found) => ImageCheckReport::verified(found),
        None => ImageCheckReport::Skipped {
            by: author.to_string(),
        },
    }
}
