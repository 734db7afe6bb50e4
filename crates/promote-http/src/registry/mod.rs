//! Container registries over the OCI distribution API: the HTTP implementation of
//! `promote_core::registry::ImageResolver`, so a promotion refuses tags that do not exist and
//! `--pin-digests` can write what a tag names right now.
//!
//! It lives in this crate, beside the forges, because each heavy dependency lives in one crate
//! (STYLE.md): ureq with rustls is this crate's, and registries are the same kind of adapter, a
//! blocking HTTPS client of a hosted service (often the forge's own: ghcr.io, GitLab's and
//! Gitea's package registries). A crate of its own would link a second copy of the HTTP stack's
//! configuration for one request type.
//!
//! One lookup is `HEAD /v2/<repo>/manifests/<tag|digest>` with the four manifest media types in
//! `Accept`; the digest is `Docker-Content-Digest`, or the sha256 of a `GET`'s body when a
//! registry leaves the header out. Anonymous first; a 401 is answered as its `WWW-Authenticate`
//! asks ([`challenge`]): a Bearer token from the realm (with the user's credentials when the
//! docker config has some, [`credentials`]) or Basic. Tokens are kept per registry and
//! repository for the life of the resolver. Plain HTTP only to loopback registries, as Docker
//! and crane do, and to hosts the user lists (`KUBECTL_PROMOTE_INSECURE_REGISTRIES`).
//! Credentials and tokens are [`Token`]s: never in output, logs or errors.

mod challenge;
pub mod credentials;
mod keyless;
mod payload;
mod provenance;
mod referrers;
mod signatures;
mod tlog;
mod token;
mod trusted_root;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::http::{Http, Method, Options, Redirects, Request, Response};

use promote_core::forge::Token;
use promote_core::registry::{
    ImageName, ImageQuery, ImageResolver, Lookup, Reference, RegistryError, is_loopback_host,
};
use promote_core::source::ImageLabels;
use promote_core::supply_chain::{SupplyChainFacts, SupplyChainQuery};
use serde_json::Value;

use challenge::Challenge;
use credentials::Credentials;

/// Every manifest kind a tag may name: OCI index and manifest, Docker list and manifest.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Manifests are small; a registry sending more than this is not answering the question.
const MAX_MANIFEST: u64 = 8 * 1024 * 1024;

/// Image configs are a few KiB; a larger one is not read for its labels.
const MAX_CONFIG: u64 = 4 * 1024 * 1024;

/// How the resolver reaches registries. The caller reads the environment (this crate reads none).
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Deadline for each request, connect to last byte.
    pub timeout: Duration,
    /// An `http://` proxy.
    pub proxy: Option<String>,
    /// The docker config file (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`);
    /// `None` or a missing file: anonymous only.
    pub docker_config: Option<PathBuf>,
    /// Registries (`host[:port]`) reached over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            timeout: Duration::from_secs(30),
            proxy: None,
            docker_config: None,
            insecure: Vec::new(),
        }
    }
}

/// Registries reached over HTTP, with one connection pool and one token cache for all lookups.
pub struct HttpRegistry {
    http: Http,
    insecure: Vec<String>,
    credentials: Credentials,
    /// `host/repository` → the `Authorization` value that worked there.
    auth: Mutex<HashMap<String, Token>>,
}

impl std::fmt::Debug for HttpRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRegistry")
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

impl HttpRegistry {
    pub fn new(options: &RegistryOptions) -> Result<Self, RegistryError> {
        let http = Http::new(&Options {
            timeout: options.timeout,
            proxy: options.proxy.as_deref(),
            // A redirect (to a mirror or a CDN) never carries our Authorization header along.
            redirects: Redirects::FollowedWithoutAuth,
        })
        .map_err(|e| RegistryError::Transport {
            registry: options.proxy.clone().unwrap_or_default(),
            action: "use the configured proxy".into(),
            source: Box::new(e),
        })?;
        Ok(HttpRegistry {
            http,
            insecure: options.insecure.clone(),
            credentials: Credentials::new(options.docker_config.clone()),
            auth: Mutex::new(HashMap::new()),
        })
    }

    fn plain_http(&self, host: &str) -> bool {
        is_loopback_host(host) || self.insecure.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    fn base(&self, image: &ImageName) -> String {
        let host = image.api_host();
        format!(
            "{}://{host}",
            if self.plain_http(host) {
                "http"
            } else {
                "https"
            }
        )
    }

    /// One manifest request, with `auth` as its `Authorization` when there is one.
    fn send(
        &self,
        method: Method,
        url: &str,
        auth: Option<&Token>,
        image: &ImageName,
        action: &str,
    ) -> Result<Response, RegistryError> {
        let mut headers = vec![("Accept", MANIFEST_ACCEPT)];
        if let Some(a) = auth {
            headers.push(("Authorization", a.expose_secret()));
        }
        let request = Request {
            headers: &headers,
            ..Request::new(method, url, MAX_MANIFEST)
        };
        self.http
            .send(&request)
            .map_err(|source| RegistryError::Transport {
                registry: image.registry.clone(),
                action: action.to_owned(),
                source: Box::new(source),
            })
    }

    /// A request that answers 401 the way the registry's challenge asks.
    fn authed(
        &self,
        method: Method,
        url: &str,
        image: &ImageName,
        action: &str,
    ) -> Result<Response, RegistryError> {
        let key = format!("{}/{}", image.api_host(), image.repository);
        let cached = self
            .auth
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let first = self.send(method, url, cached.as_ref(), image, action)?;
        if first.status != 401 {
            return Ok(first);
        }
        let raw = first.header("www-authenticate").unwrap_or_default();
        let challenge = Challenge::parse(&raw).ok_or_else(|| RegistryError::Challenge {
            registry: image.registry.clone(),
            challenge: raw.clone(),
        })?;
        let credential = self.credentials.for_registry(&image.registry)?;
        let header = self.answer(image, challenge, credential.as_ref())?;
        let second = self.send(method, url, Some(&header), image, action)?;
        if second.status == 401 || second.status == 403 {
            let how = if credential.is_some() {
                " with the credentials from the docker config"
            } else {
                " anonymously"
            };
            return Err(unauthorized(image, second.status, how));
        }
        self.auth
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, header);
        Ok(second)
    }
}

impl HttpRegistry {
    /// `GET` a manifest or blob as JSON: `None` on 404. Content named by digest is checked
    /// against it (a registry or a mirror cannot swap what a digest names).
    fn get_json(
        &self,
        image: &ImageName,
        what: (&str, &str),
        limit: u64,
        action: &str,
    ) -> Result<Option<Value>, RegistryError> {
        let request = format!("GET /v2/{}/{}/{}", image.repository, what.0, what.1);
        match self.get_bytes(image, what, limit, action)? {
            None => Ok(None),
            Some(body) => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|_| bad_content(image, &request, "something that is not JSON")),
        }
    }

    /// `GET` a manifest or blob, at most `limit` bytes: `None` on 404. Content named by digest
    /// is checked against it.
    fn get_bytes(
        &self,
        image: &ImageName,
        what: (&str, &str),
        limit: u64,
        action: &str,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let (kind, reference) = what;
        let path = format!("/v2/{}/{kind}/{reference}", image.repository);
        let url = format!("{}{path}", self.base(image));
        let answer = self.authed(Method::Get, &url, image, action)?;
        let request = format!("GET {path}");
        match answer.status {
            200 => {}
            404 => return Ok(None),
            403 => return Err(unauthorized(image, 403, "")),
            status => return Err(unexpected(image, request, status, &answer)),
        }
        if answer.body.len() as u64 > limit {
            return Err(bad_content(
                image,
                &request,
                &format!("more than the {limit} bytes read for this"),
            ));
        }
        // A referrers list is named by the digest it lists referrers of, not its own.
        if kind != "referrers"
            && reference.starts_with("sha256:")
            && format!("sha256:{}", hex::encode(Sha256::digest(&answer.body))) != reference
        {
            return Err(bad_content(
                image,
                &request,
                "content that does not match its digest",
            ));
        }
        Ok(Some(answer.body))
    }
}

/// The manifest of an index to read labels from: linux/amd64, else the first entry that is not
/// an attestation (`platform.os: unknown`); `None` when `index` is an image manifest.
fn platform_child(index: &Value) -> Option<String> {
    let entries = index.get("manifests")?.as_array()?;
    let platform = |e: &Value, key: &str| {
        e.get("platform")
            .and_then(|p| p.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let digest = |e: &Value| {
        e.get("digest")
            .and_then(Value::as_str)
            .filter(|d| promote_core::image::valid_digest(d))
            .map(str::to_owned)
    };
    entries
        .iter()
        .find(|e| {
            platform(e, "os").as_deref() == Some("linux")
                && platform(e, "architecture").as_deref() == Some("amd64")
        })
        .or_else(|| {
            entries
                .iter()
                .find(|e| platform(e, "os").as_deref() != Some("unknown"))
        })
        .and_then(digest)
}

impl ImageResolver for HttpRegistry {
    fn resolve(&self, query: &ImageQuery) -> Result<Lookup, RegistryError> {
        let image = &query.image;
        let path = format!(
            "/v2/{}/manifests/{}",
            image.repository,
            query.reference.as_str()
        );
        let url = format!("{}{path}", self.base(image));
        let action = format!("look up {query}");
        let mut method = Method::Head;
        let mut answer = self.authed(method, &url, image, &action)?;
        if answer.status == 405 {
            // Some registries answer manifests to GET only.
            method = Method::Get;
            answer = self.authed(method, &url, image, &action)?;
        }
        let request = format!("{} {path}", method.as_str());
        match answer.status {
            200 => {}
            404 => {
                return Ok(Lookup::NotFound {
                    request: format!("{request} → 404"),
                });
            }
            403 => return Err(unauthorized(image, 403, "")),
            status => return Err(unexpected(image, request, status, &answer)),
        }
        if let Reference::Digest(d) = &query.reference {
            return Ok(Lookup::Found { digest: d.clone() });
        }
        let digest = match answer
            .header("docker-content-digest")
            .filter(|d| promote_core::image::valid_digest(d))
        {
            Some(d) => d,
            None => {
                // No Docker-Content-Digest: the digest is the sha256 of the manifest's bytes.
                let body = match method {
                    Method::Get => answer.body,
                    _ => self.authed(Method::Get, &url, image, &action)?.body,
                };
                format!("sha256:{}", hex::encode(Sha256::digest(&body)))
            }
        };
        Ok(Lookup::Found { digest })
    }

    fn labels(&self, query: &ImageQuery) -> Result<Option<ImageLabels>, RegistryError> {
        let image = &query.image;
        let action = format!("read the labels of {query}");
        let reference = query.reference.as_str();
        let Some(mut manifest) =
            self.get_json(image, ("manifests", reference), MAX_MANIFEST, &action)?
        else {
            return Ok(None);
        };
        if let Some(child) = platform_child(&manifest) {
            match self.get_json(image, ("manifests", &child), MAX_MANIFEST, &action)? {
                Some(m) => manifest = m,
                None => return Ok(None),
            }
        }
        let config = manifest
            .get("config")
            .and_then(|c| c.get("digest"))
            .and_then(Value::as_str)
            .filter(|d| d.starts_with("sha256:") && promote_core::image::valid_digest(d));
        let Some(config) = config else {
            // An index without a usable entry, or an artifact without a config: no labels.
            return Ok(Some(ImageLabels::default()));
        };
        let blob = self.get_json(image, ("blobs", config), MAX_CONFIG, &action)?;
        Ok(Some(
            blob.map(|b| ImageLabels::from_config(&b))
                .unwrap_or_default(),
        ))
    }

    fn supply_chain(
        &self,
        image: &ImageName,
        digest: &str,
        query: &SupplyChainQuery<'_>,
    ) -> Result<SupplyChainFacts, RegistryError> {
        let fetch = Fetcher {
            registry: self,
            image,
            action: format!("read the signatures of {image}@{digest}"),
        };
        signatures::facts(&fetch, image, digest, query)
    }
}

/// The registry as [`signatures`] reads it: one image's manifests and blobs.
struct Fetcher<'a> {
    registry: &'a HttpRegistry,
    image: &'a ImageName,
    action: String,
}

impl signatures::Fetch for Fetcher<'_> {
    fn get(
        &self,
        kind: &str,
        reference: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        self.registry
            .get_bytes(self.image, (kind, reference), limit, &self.action)
    }
}

/// An answer a lookup has no meaning for, with the start of what the registry said.
fn unexpected(image: &ImageName, request: String, status: u16, answer: &Response) -> RegistryError {
    let message = answer.text().chars().take(200).collect::<String>();
    RegistryError::Unexpected {
        registry: image.registry.clone(),
        request,
        status,
        message: if message.trim().is_empty() {
            "(no body)".into()
        } else {
            message
        },
    }
}

/// A 200 whose body cannot be what was asked for.
fn bad_content(image: &ImageName, request: &str, what: &str) -> RegistryError {
    RegistryError::Unexpected {
        registry: image.registry.clone(),
        request: request.to_owned(),
        status: 200,
        message: format!("the registry sent {what}"),
    }
}

fn unauthorized(image: &ImageName, status: u16, detail: &str) -> RegistryError {
    RegistryError::Unauthorized {
        registry: image.registry.clone(),
        repository: image.repository.clone(),
        status,
        detail: detail.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    const AMD: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const ARM: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const ATT: &str = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    #[test]
    fn an_index_is_read_through_its_linux_amd64_image_else_the_first_real_one() {
        let entry = |digest: &str, os: &str, arch: &str| json!({"digest": digest, "platform": {"os": os, "architecture": arch}});
        let index = json!({"manifests": [
            entry(ATT, "unknown", "unknown"), entry(ARM, "linux", "arm64"), entry(AMD, "linux", "amd64")
        ]});
        assert_eq!(super::platform_child(&index).as_deref(), Some(AMD));
        let no_amd =
            json!({"manifests": [entry(ATT, "unknown", "unknown"), entry(ARM, "linux", "arm64")]});
        assert_eq!(super::platform_child(&no_amd).as_deref(), Some(ARM));
        let bad_digest = json!({"manifests": [entry("sha256:../../x", "linux", "amd64")]});
        assert_eq!(super::platform_child(&bad_digest), None);
        assert_eq!(super::platform_child(&json!({"config": {}})), None);
    }
}
