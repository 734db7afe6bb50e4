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

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use promote_core::forge::Token;
use promote_core::registry::{
    ImageName, ImageQuery, ImageResolver, Lookup, Reference, RegistryError, is_loopback_host,
};

use challenge::Challenge;
use credentials::{Credential, Credentials};

/// Every manifest kind a tag may name: OCI index and manifest, Docker list and manifest.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Manifests are small; a registry sending more than this is not answering the question.
const MAX_MANIFEST: u64 = 8 * 1024 * 1024;

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
    agent: ureq::Agent,
    insecure: Vec<String>,
    credentials: Credentials,
    /// `host/repository` → the `Authorization` value that worked there.
    auth: Mutex<HashMap<String, Token>>,
    user_agent: String,
}

impl std::fmt::Debug for HttpRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRegistry")
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

/// One response, read as far as a lookup needs.
struct Answer {
    status: u16,
    digest: Option<String>,
    challenge: Option<String>,
    body: Vec<u8>,
}

#[derive(Clone, Copy)]
enum Method {
    Head,
    Get,
}

impl HttpRegistry {
    pub fn new(options: &RegistryOptions) -> Result<Self, RegistryError> {
        let proxy = match &options.proxy {
            Some(url) => Some(ureq::Proxy::new(url).map_err(|e| RegistryError::Transport {
                registry: url.clone(),
                action: "use the configured proxy".into(),
                source: Box::new(e),
            })?),
            None => None,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(options.timeout))
            // A redirect (to a mirror or a CDN) never carries our Authorization header along.
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
            .proxy(proxy)
            .build();
        Ok(HttpRegistry {
            agent: ureq::Agent::new_with_config(config),
            insecure: options.insecure.clone(),
            credentials: Credentials::new(options.docker_config.clone()),
            auth: Mutex::new(HashMap::new()),
            user_agent: format!("kubectl-promote/{}", env!("CARGO_PKG_VERSION")),
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

    fn send(
        &self,
        method: Method,
        url: &str,
        auth: Option<&Token>,
        image: &ImageName,
        action: &str,
    ) -> Result<Answer, RegistryError> {
        let transport = |source: ureq::Error| RegistryError::Transport {
            registry: image.registry.clone(),
            action: action.to_owned(),
            source: Box::new(source),
        };
        macro_rules! common {
            ($b:expr) => {{
                let b = $b
                    .header("Accept", MANIFEST_ACCEPT)
                    .header("User-Agent", self.user_agent.as_str());
                match auth {
                    Some(a) => b.header("Authorization", a.expose_secret()),
                    None => b,
                }
            }};
        }
        let mut response = match method {
            Method::Head => common!(self.agent.head(url)).call(),
            Method::Get => common!(self.agent.get(url)).call(),
        }
        .map_err(transport)?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let digest = header("docker-content-digest");
        let challenge = header("www-authenticate");
        let status = response.status().as_u16();
        let body = match method {
            Method::Head => Vec::new(),
            Method::Get => response
                .body_mut()
                .with_config()
                .limit(MAX_MANIFEST)
                .read_to_vec()
                .map_err(transport)?,
        };
        Ok(Answer {
            status,
            digest,
            challenge,
            body,
        })
    }

    /// A request that answers 401 the way the registry's challenge asks.
    fn authed(
        &self,
        method: Method,
        url: &str,
        image: &ImageName,
        action: &str,
    ) -> Result<Answer, RegistryError> {
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
        let raw = first.challenge.clone().unwrap_or_default();
        let challenge = Challenge::parse(&raw).ok_or_else(|| RegistryError::Challenge {
            registry: image.registry.clone(),
            challenge: raw.clone(),
        })?;
        let credential = self.credentials.for_registry(&image.registry)?;
        let header = match challenge {
            Challenge::Basic => match &credential {
                Some(Credential::Basic { username, password }) => {
                    basic(username, password.expose_secret())
                }
                _ => {
                    return Err(unauthorized(
                        image,
                        401,
                        " and no credentials for it in the docker config",
                    ));
                }
            },
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let scope =
                    scope.unwrap_or_else(|| format!("repository:{}:pull", image.repository));
                let token = self.token(
                    image,
                    &realm,
                    service.as_deref(),
                    &scope,
                    credential.as_ref(),
                )?;
                Token::new(format!("Bearer {}", token.expose_secret())).ok_or_else(|| {
                    RegistryError::TokenEndpoint {
                        registry: image.registry.clone(),
                        realm: realm.clone(),
                        detail: "an empty token".into(),
                    }
                })?
            }
        };
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

    /// A Bearer token from the challenge's realm (Docker's token protocol; with an identity
    /// token, the OAuth2 refresh-token grant).
    fn token(
        &self,
        image: &ImageName,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        credential: Option<&Credential>,
    ) -> Result<Token, RegistryError> {
        let realm_host = realm
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or("");
        if realm.starts_with("http://") && credential.is_some() && !self.plain_http(realm_host) {
            return Err(RegistryError::Insecure {
                registry: image.registry.clone(),
                reason: format!(
                    "its token realm {realm} is plain HTTP, and credentials are not sent over it"
                ),
            });
        }
        let failed = |detail: String| RegistryError::TokenEndpoint {
            registry: image.registry.clone(),
            realm: realm.to_owned(),
            detail,
        };
        let transport = |source: ureq::Error| RegistryError::Transport {
            registry: image.registry.clone(),
            action: format!("get a token from {realm}"),
            source: Box::new(source),
        };
        let mut response = match credential {
            Some(Credential::IdentityToken(refresh)) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.expose_secret()),
                    ("client_id", "kubectl-promote"),
                    ("scope", scope),
                ];
                if let Some(s) = service {
                    form.push(("service", s));
                }
                self.agent
                    .post(realm)
                    .header("User-Agent", self.user_agent.as_str())
                    .send_form(form)
                    .map_err(transport)?
            }
            other => {
                let mut req = self
                    .agent
                    .get(realm)
                    .header("User-Agent", self.user_agent.as_str())
                    .query("scope", scope);
                if let Some(s) = service {
                    req = req.query("service", s);
                }
                if let Some(Credential::Basic { username, password }) = other {
                    req = req.header(
                        "Authorization",
                        basic(username, password.expose_secret()).expose_secret(),
                    );
                }
                req.call().map_err(transport)?
            }
        };
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            let how = if credential.is_some() {
                "the credentials from the docker config"
            } else {
                "an anonymous request"
            };
            return Err(unauthorized(
                image,
                status,
                &format!(" at its token endpoint {realm}, for {how}"),
            ));
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(1024 * 1024)
            .read_to_string()
            .map_err(transport)?;
        if status != 200 {
            return Err(failed(format!("HTTP {status}")));
        }
        let doc: serde_json::Value =
            serde_json::from_str(&body).map_err(|_| failed("a body that is not JSON".into()))?;
        let value = doc
            .get("token")
            .or_else(|| doc.get("access_token"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        Token::new(value).ok_or_else(|| failed("no `token` in its answer".into()))
    }
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
        let mut answer = self.authed(Method::Head, &url, image, &action)?;
        let mut method = "HEAD";
        if answer.status == 405 {
            // Some registries answer manifests to GET only.
            answer = self.authed(Method::Get, &url, image, &action)?;
            method = "GET";
        }
        match answer.status {
            200 => {}
            404 => {
                return Ok(Lookup::NotFound {
                    request: format!("{method} {path} → 404"),
                });
            }
            403 => return Err(unauthorized(image, 403, "")),
            status => {
                let message = String::from_utf8_lossy(&answer.body)
                    .chars()
                    .take(200)
                    .collect::<String>();
                return Err(RegistryError::Unexpected {
                    registry: image.registry.clone(),
                    request: format!("{method} {path}"),
                    status,
                    message: if message.trim().is_empty() {
                        "(no body)".into()
                    } else {
                        message
                    },
                });
            }
        }
        if let Reference::Digest(d) = &query.reference {
            return Ok(Lookup::Found { digest: d.clone() });
        }
        let digest = match answer
            .digest
            .filter(|d| promote_core::image::valid_digest(d))
        {
            Some(d) => d,
            None => {
                // No Docker-Content-Digest: the digest is the sha256 of the manifest's bytes.
                let body = if method == "GET" {
                    answer.body
                } else {
                    self.authed(Method::Get, &url, image, &action)?.body
                };
                format!("sha256:{}", hex::encode(Sha256::digest(&body)))
            }
        };
        Ok(Lookup::Found { digest })
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

/// `Basic base64(user:password)`.
fn basic(username: &str, password: &str) -> Token {
    use base64::Engine as _;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    Token::new(format!("Basic {encoded}")).expect("never empty")
}
