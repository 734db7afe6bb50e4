//! The release behind the tags through in-memory ports: a registry of labelled images and a
//! forge for the source's history (promote-http's own tests read labels from a real registry).

use std::sync::Mutex;

use promote::ports::ForgeConnector;
use promote::release::{Forges, sources};
use promote_core::forge::{Forge, ForgeError, ForgeKind, ForgeTarget};
use promote_core::image::{ImageChange, ImageRef};
use promote_core::registry::{ImageQuery, ImageResolver, Lookup, Reference, RegistryError};
use promote_core::source::ImageLabels;
use promote_core::source::{Commits, SourceCommit, SourceHistory};

/// Images by `repository:tag`, with their labels.
struct MemRegistry(Vec<(String, ImageLabels)>);

impl ImageResolver for MemRegistry {
    fn resolve(&self, _: &ImageQuery) -> Result<Lookup, RegistryError> {
        unreachable!("the release context only reads labels")
    }
    fn labels(&self, q: &ImageQuery) -> Result<Option<ImageLabels>, RegistryError> {
        let Reference::Tag(tag) = &q.reference else {
            return Ok(None);
        };
        let key = format!("{}:{tag}", q.image.repository);
        Ok(self
            .0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, l)| l.clone()))
    }
    fn supply_chain(
        &self,
        _: &promote_core::registry::ImageName,
        _: &str,
        _: &promote_core::supply_chain::SupplyChainQuery<'_>,
    ) -> Result<promote_core::supply_chain::SupplyChainFacts, RegistryError> {
        unreachable!("the release context reads no signatures")
    }
}

const HOST: &str = "registry.example.com";

/// A forge whose every source repository has the same three commits in any range.
struct Histories {
    asked: Mutex<Vec<(String, String, String)>>,
}

struct History<'a> {
    repo: String,
    asked: &'a Mutex<Vec<(String, String, String)>>,
}

impl SourceHistory for History<'static> {
    fn commits_between(&self, from: &str, to: &str, limit: usize) -> Result<Commits, ForgeError> {
        self.asked
            .lock()
            .unwrap()
            .push((self.repo.clone(), from.into(), to.into()));
        let commits = (1..=3)
            .map(|i| SourceCommit {
                sha: format!("{i}{i}{i}{i}"),
                subject: format!("change {i}"),
            })
            .take(limit)
            .collect();
        Ok(Commits { commits, total: 3 })
    }
}

impl ForgeConnector for &'static Histories {
    fn connect(&self, _: &ForgeTarget) -> Result<Option<Box<dyn Forge>>, ForgeError> {
        Ok(None)
    }
    fn source_history(
        &self,
        target: &ForgeTarget,
    ) -> Result<Option<Box<dyn SourceHistory>>, ForgeError> {
        assert_eq!(target.kind, ForgeKind::GitHub);
        assert_eq!(target.api_url, "https://api.github.com");
        Ok(Some(Box::new(History {
            repo: target.repo.to_string(),
            asked: &self.asked,
        })))
    }
}

fn change(repo: &str, from: &str, to: &str) -> ImageChange {
    ImageChange {
        name: format!("{HOST}/{repo}"),
        new_name: None,
        from: ImageRef::tag(from),
        to: ImageRef::tag(to),
    }
}

#[test]
fn each_image_shows_its_source_range_commits_and_unlabelled_ones_say_unknown() {
    let src = "https://github.com/acme/shop";
    let labelled = |rev: &str| ImageLabels {
        source: Some(src.into()),
        revision: Some(rev.into()),
        version: None,
    };
    let resolver = MemRegistry(vec![
        ("shop/cart:v1".into(), labelled("1111111")),
        ("shop/cart:v2".into(), labelled("2222222")),
        ("shop/web:v1".into(), labelled("1111111")),
        ("shop/web:v2".into(), labelled("2222222")),
        ("shop/plain:v1".into(), ImageLabels::default()),
        ("shop/plain:v2".into(), ImageLabels::default()),
    ]);
    let histories: &'static Histories = Box::leak(Box::new(Histories {
        asked: Mutex::new(Vec::new()),
    }));
    let forges = Forges {
        gitops: None,
        connector: &histories,
    };
    let changes = [
        change("shop/cart", "v1", "v2"),
        change("shop/web", "v1", "v2"),
        change("shop/plain", "v1", "v2"),
        change("shop/gone", "v1", "v2"),
    ];
    let got = sources(&resolver, &forges, &changes);

    let cart = &got[0];
    let range = cart.range.as_ref().unwrap();
    assert_eq!(range.repo, src);
    assert_eq!(
        (range.from_revision.as_deref(), range.to_revision.as_deref()),
        (Some("1111111"), Some("2222222"))
    );
    assert_eq!(
        range.compare_url.as_deref(),
        Some("https://github.com/acme/shop/compare/1111111...2222222")
    );
    assert_eq!((cart.commits.len(), cart.total_commits), (3, Some(3)));
    assert_eq!(
        cart.line(),
        format!("{HOST}/shop/cart: {src} 1111111..2222222 (3 commits)")
    );
    // Two images from one repository and range: the forge is asked once.
    assert_eq!(got[1].total_commits, Some(3));
    assert_eq!(histories.asked.lock().unwrap().len(), 1);
    // No labels: unknown, never a failure; no such image: unknown with the reason.
    assert!(got[2].range.is_none());
    assert!(
        got[2].line().ends_with("source unknown (no source label)"),
        "{}",
        got[2].line()
    );
    assert!(
        got[3]
            .note
            .as_deref()
            .unwrap()
            .contains("not in its registry"),
        "{:?}",
        got[3]
    );
}
