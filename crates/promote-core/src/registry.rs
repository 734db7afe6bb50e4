//! Container images in their registries, as the use cases see them: "does every image a
//! promotion writes exist, and which digest does its tag name right now?" (issue 6 item 7).
//!
//! This module owns the pure half: how an overlay's image name becomes a registry and a
//! repository (Docker's normalisation: `nginx` → `docker.io/library/nginx`, whose API lives on
//! `registry-1.docker.io`), which references a set of image changes asks the registries about,
//! the small sync [`ImageResolver`] port the HTTP adapter (`promote_http::registry`) implements,
//! and what the outcome looks like in plans, `-o json` and the `Image-Check` trailer. A tag that
//! the registry does not have is a [`Lookup::NotFound`], an answer; [`RegistryError`] means the
//! question could not be asked (network, credentials), so nothing is decided.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::image::ImageChange;
use crate::source::ImageLabels;
use crate::supply_chain::{SupplyChainFacts, SupplyChainQuery};
use crate::trailers::{self, Trailers};

/// Docker Hub as image names write it, and where its API is.
pub const DOCKER_HUB: &str = "docker.io";
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// An image name split into its registry and its repository, normalised as Docker does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageName {
    /// `registry.example.com`, `127.0.0.1:5000`, `docker.io`.
    pub registry: String,
    /// `microservices-demo/cartservice`, `library/nginx`.
    pub repository: String,
}

impl ImageName {
    /// Parses a tag-less image name as kustomize's `name`/`newName` hold it. The first path
    /// segment is a registry when it has a `.` or a `:` or is `localhost`, as in Docker;
    /// otherwise the image is on Docker Hub (`library/` is added to one-segment names there).
    pub fn parse(name: &str) -> Result<ImageName, RegistryError> {
        let bad = |reason: &'static str| RegistryError::InvalidName {
            name: name.to_owned(),
            reason,
        };
        let name_t = name.trim();
        if name_t.is_empty() {
            return Err(bad("it is empty"));
        }
        let (registry, repository) = match name_t.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), rest.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name_t.to_owned()),
        };
        let registry = if registry == "index.docker.io" || registry == DOCKER_HUB_API {
            DOCKER_HUB.to_owned()
        } else {
            registry
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if repository.contains('@') {
            return Err(bad("it carries a digest; the digest belongs in `digest:`"));
        }
        if repository.contains(':') {
            return Err(bad("it carries a tag; the tag belongs in `newTag:`"));
        }
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
                })
                && s.starts_with(|c: char| c.is_ascii_alphanumeric())
                && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        };
        if !repository.split('/').all(segment_ok) {
            return Err(bad(
                "a repository path is lowercase letters, digits and `.` `_` `-` between `/`",
            ));
        }
        Ok(ImageName {
            registry,
            repository,
        })
    }

    /// The host (and port) the distribution API is on: Docker Hub's API host for `docker.io`.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// Is the registry on this machine (`localhost`, `127.0.0.0/8`, `[::1]`)? Docker and crane
    /// talk plain HTTP to those; anything else needs TLS unless the user opts out for it.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.registry)
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

/// `localhost[:port]`, `*.localhost`, `127.x.y.z[:port]`, `[::1][:port]`.
pub fn is_loopback_host(host: &str) -> bool {
    let without_port = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    without_port == "localhost"
        || without_port.ends_with(".localhost")
        || without_port == "::1"
        || without_port
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What is asked of a repository: a tag, or a digest (the content the runtime pulls).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reference {
    Tag(String),
    Digest(String),
}

impl Reference {
    /// The last segment of `/v2/<repo>/manifests/<reference>`.
    pub fn as_str(&self) -> &str {
        match self {
            Reference::Tag(t) | Reference::Digest(t) => t,
        }
    }
}

/// One image reference to look up: `registry/repo:tag` or `registry/repo@sha256:…`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageQuery {
    pub image: ImageName,
    pub reference: Reference,
}

impl fmt::Display for ImageQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reference {
            Reference::Tag(t) => write!(f, "{}:{t}", self.image),
            Reference::Digest(d) => write!(f, "{}@{d}", self.image),
        }
    }
}

/// A registry's answer about one reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The manifest exists; its content digest.
    Found { digest: String },
    /// The registry has no such manifest. `request` says what was asked and what came back,
    /// e.g. `HEAD /v2/shop/cart/manifests/v1.0.11 → 404`.
    NotFound { request: String },
}

/// The registries, as the use cases need them. Sync on purpose, like [`crate::forge::Forge`]:
/// the HTTP adapter blocks, and the use cases call it from their own threads.
pub trait ImageResolver: Send + Sync {
    /// Looks `query` up in its registry: `HEAD /v2/<repo>/manifests/<reference>`.
    fn resolve(&self, query: &ImageQuery) -> Result<Lookup, RegistryError>;
    /// The source labels of the image `query` names (for a multi-platform index, the
    /// linux/amd64 image, else the first); `None` when the registry has no such manifest.
    fn labels(&self, query: &ImageQuery) -> Result<Option<ImageLabels>, RegistryError>;
    /// The cosign signatures and attestations of `image@digest` (the `sha256-<hex>.sig` and
    /// `.att` tags), each verified against `query`'s keys.
    fn supply_chain(
        &self,
        image: &ImageName,
        digest: &str,
        query: &SupplyChainQuery<'_>,
    ) -> Result<SupplyChainFacts, RegistryError>;
}

/// The image name a change writes (`newName` when the entry has one, else `name`).
pub fn effective_name(change: &ImageChange) -> &str {
    change.new_name.as_deref().unwrap_or(&change.name)
}

/// Every distinct reference the changes will write: each new tag, and each digest (the digest
/// is what runs when both are set, and the tag is what people read, so both must exist).
pub fn queries(changes: &[ImageChange]) -> Result<Vec<ImageQuery>, RegistryError> {
    let mut out = BTreeSet::new();
    for c in changes {
        let image = ImageName::parse(effective_name(c))?;
        if let Some(t) = &c.to.tag {
            out.insert(ImageQuery {
                image: image.clone(),
                reference: Reference::Tag(t.clone()),
            });
        }
        if let Some(d) = &c.to.digest {
            out.insert(ImageQuery {
                image,
                reference: Reference::Digest(d.clone()),
            });
        }
    }
    Ok(out.into_iter().collect())
}

/// One reference that was found, for plans and `-o json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedImage {
    /// `registry/repo:tag` or `registry/repo@sha256:…`.
    pub reference: String,
    pub digest: String,
    /// `--pin-digests` wrote this digest into the overlay.
    pub pinned: bool,
}

/// What the image check did for a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum ImageCheckReport {
    /// Every reference the promotion writes exists in its registry.
    Verified {
        registries: Vec<String>,
        images: Vec<ResolvedImage>,
    },
    /// `--skip-image-check` (or `KUBECTL_PROMOTE_SKIP_IMAGE_CHECK`): nothing was asked.
    Skipped { by: String },
}

impl ImageCheckReport {
    pub fn verified(images: Vec<(ImageQuery, String, bool)>) -> ImageCheckReport {
        let registries: BTreeSet<String> = images
            .iter()
            .map(|(q, _, _)| q.image.registry.clone())
            .collect();
        let images = images
            .into_iter()
            .map(|(q, digest, pinned)| ResolvedImage {
                reference: q.to_string(),
                digest,
                pinned,
            })
            .collect();
        ImageCheckReport::Verified {
            registries: registries.into_iter().collect(),
            images,
        }
    }

    /// The one-line summary used in plans and in the `Image-Check` trailer.
    pub fn summary(&self) -> String {
        match self {
            ImageCheckReport::Verified { registries, images } => {
                let pinned = images.iter().filter(|i| i.pinned).count();
                let n = images.len();
                let mut s = format!(
                    "verified {n} image reference{} in {}",
                    if n == 1 { "" } else { "s" },
                    if registries.is_empty() {
                        "no registry".to_owned()
                    } else {
                        registries.join(", ")
                    }
                );
                if pinned > 0 {
                    s.push_str(&format!(
                        "; pinned {pinned} digest{}",
                        if pinned == 1 { "" } else { "s" }
                    ));
                }
                s
            }
            ImageCheckReport::Skipped { by } => format!("skipped by {by}"),
        }
    }

    /// Several apps' checks as one (a promotion of several apps): every reference, or who
    /// skipped.
    pub fn merged(reports: &[&ImageCheckReport]) -> ImageCheckReport {
        let mut registries = BTreeSet::new();
        let mut all = Vec::new();
        for r in reports {
            match r {
                ImageCheckReport::Skipped { .. } => return (*r).clone(),
                ImageCheckReport::Verified {
                    registries: g,
                    images,
                } => {
                    registries.extend(g.iter().cloned());
                    all.extend(images.iter().cloned());
                }
            }
        }
        ImageCheckReport::Verified {
            registries: registries.into_iter().collect(),
            images: all,
        }
    }

    /// `Image-Check: verified …` / `Image-Check: skipped by Name <email>`.
    pub fn add_trailers(&self, t: &mut Trailers) {
        t.push(trailers::IMAGE_CHECK, self.summary());
    }
}

/// The message for references a registry does not have: one line each, then what to do.
pub fn not_found_message(missing: &[(ImageQuery, String)]) -> String {
    let lines: Vec<String> = missing
        .iter()
        .map(|(q, request)| format!("{q} not found in {} ({request})", q.image.registry))
        .collect();
    match lines.as_slice() {
        [one] => format!("{one}; check the tag or use --skip-image-check"),
        many => format!(
            "{} image references not found:\n  {}\ncheck the tags or use --skip-image-check",
            many.len(),
            many.join("\n  ")
        ),
    }
}

/// Why a registry could not be asked. Display names the registry and what was being done, and
/// never a password or token (they are not in any variant).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error("`{name}` is not an image name: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error(
        "{registry} refused access to {repository} (HTTP {status}{detail}): the repository does not exist there, or it needs credentials: log in with `docker login {registry}` (kubectl promote reads the docker config and its credential helpers), or use --skip-image-check"
    )]
    Unauthorized {
        registry: String,
        repository: String,
        status: u16,
        detail: String,
    },
    #[error(
        "could not reach registry {registry} to {action}; check the network or the registry name, or use --skip-image-check where the registry is out of reach"
    )]
    Transport {
        registry: String,
        action: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("registry {registry} answered {request} → {status}: {message}")]
    Unexpected {
        registry: String,
        request: String,
        status: u16,
        message: String,
    },
    #[error("{registry} asks for a token at {realm}, which answered {detail}")]
    TokenEndpoint {
        registry: String,
        realm: String,
        detail: String,
    },
    #[error(
        "{registry} sent a WWW-Authenticate challenge kubectl promote cannot answer: {challenge}"
    )]
    Challenge { registry: String, challenge: String },
    #[error(
        "reading the docker config {file}: {detail}; fix or move the file (kubectl promote reads `auths`, `credHelpers` and `credsStore`)"
    )]
    DockerConfig { file: String, detail: String },
    #[error("the credential helper docker-credential-{helper} failed for {registry}: {detail}")]
    CredentialHelper {
        helper: String,
        registry: String,
        detail: String,
    },
    #[error(
        "{registry}: {reason}; kubectl promote talks plain HTTP only to loopback registries and those listed in KUBECTL_PROMOTE_INSECURE_REGISTRIES"
    )]
    Insecure { registry: String, reason: String },
    #[error(
        "the trusted key {path} (promote.yaml trust.signatures) is not a public key cosign can verify with: {detail}; commit the PEM file `cosign generate-key-pair` wrote as cosign.pub"
    )]
    TrustKey { path: String, detail: String },
    #[error(
        "the trusted root {path} (promote.yaml trust.signatures[].keyless.trustedRoot) is not a Sigstore trusted root: {field}: {detail}; commit the trusted_root.json of the Sigstore instance that issued the certificates (for the public one, `cosign trusted-root create` or sigstore's TUF repository has it)"
    )]
    TrustedRoot {
        path: String,
        field: String,
        detail: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageRef;

    fn n(s: &str) -> (String, String) {
        let i = ImageName::parse(s).unwrap();
        (i.registry, i.repository)
    }

    #[test]
    fn names_are_normalised_as_docker_does() {
        assert_eq!(n("nginx"), ("docker.io".into(), "library/nginx".into()));
        assert_eq!(
            n("bitnami/redis"),
            ("docker.io".into(), "bitnami/redis".into())
        );
        assert_eq!(
            n("docker.io/nginx"),
            ("docker.io".into(), "library/nginx".into())
        );
        assert_eq!(
            n("index.docker.io/library/nginx"),
            ("docker.io".into(), "library/nginx".into())
        );
        assert_eq!(
            n("registry.example.com/microservices-demo/cartservice"),
            (
                "registry.example.com".into(),
                "microservices-demo/cartservice".into()
            )
        );
        assert_eq!(
            n("localhost/shop/cart"),
            ("localhost".into(), "shop/cart".into())
        );
        assert_eq!(
            n("127.0.0.1:5000/cart"),
            ("127.0.0.1:5000".into(), "cart".into())
        );
        assert_eq!(
            ImageName::parse("nginx").unwrap().api_host(),
            "registry-1.docker.io"
        );
        assert!(ImageName::parse("reg.io/Shop").is_err());
        assert!(
            ImageName::parse("reg.io/shop:v1")
                .unwrap_err()
                .to_string()
                .contains("newTag")
        );
        assert!(ImageName::parse("").is_err());
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:41234",
            "127.1.2.3",
            "[::1]:5000",
            "reg.localhost:80",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "registry.example.com",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[2001:db8::1]:5000",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn queries_are_the_written_tags_and_digests_once_each() {
        let d = format!("sha256:{}", "a".repeat(64));
        let change =
            |name: &str, new_name: Option<&str>, tag: &str, digest: Option<&str>| ImageChange {
                name: name.into(),
                new_name: new_name.map(Into::into),
                from: ImageRef::tag("v0"),
                to: ImageRef {
                    tag: Some(tag.into()),
                    digest: digest.map(Into::into),
                },
            };
        let qs = queries(&[
            change("cart", Some("reg.io/shop/cart"), "v1", Some(&d)),
            change("reg.io/shop/cart", None, "v1", None),
        ])
        .unwrap();
        let shown: Vec<String> = qs.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "reg.io/shop/cart:v1".to_owned(),
                format!("reg.io/shop/cart@{d}")
            ]
        );
    }

    #[test]
    fn not_found_names_the_request_and_the_way_out() {
        let q = ImageQuery {
            image: ImageName::parse("registry.example.com/microservices-demo/cartservice").unwrap(),
            reference: Reference::Tag("v1.0.11".into()),
        };
        let msg = not_found_message(&[(
            q,
            "HEAD /v2/microservices-demo/cartservice/manifests/v1.0.11 → 404".into(),
        )]);
        assert_eq!(
            msg,
            "registry.example.com/microservices-demo/cartservice:v1.0.11 not found in registry.example.com (HEAD /v2/microservices-demo/cartservice/manifests/v1.0.11 → 404); check the tag or use --skip-image-check"
        );
    }

    #[test]
    fn reports_summarise_for_the_trailer() {
        let q = ImageQuery {
            image: ImageName::parse("127.0.0.1:5000/shop/cart").unwrap(),
            reference: Reference::Tag("v1".into()),
        };
        let r = ImageCheckReport::verified(vec![(q, "sha256:x".into(), true)]);
        assert_eq!(
            r.summary(),
            "verified 1 image reference in 127.0.0.1:5000; pinned 1 digest"
        );
        let mut t = Trailers::default();
        ImageCheckReport::Skipped {
            by: "Ana <ana@example.com>".into(),
        }
        .add_trailers(&mut t);
        assert_eq!(
            t.get(trailers::IMAGE_CHECK),
            Some("skipped by Ana <ana@example.com>")
        );
    }
}
