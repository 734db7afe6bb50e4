//! Answering a registry's 401 as its challenge asks: `Basic` with the docker config's user and
//! password, or `Bearer` with a token from the challenge's realm (Docker's token protocol: a `GET`
//! with `scope` and `service`, anonymous or with Basic credentials; with an identity token, the
//! OAuth2 refresh-token grant as a form `POST`). Credentials never go to a plain-HTTP realm the
//! user has not marked insecure.

use promote_core::forge::Token;
use promote_core::registry::{ImageName, RegistryError};

use super::challenge::Challenge;
use super::credentials::Credential;
use super::{HttpRegistry, unauthorized};
use crate::http::{Body, Method, Request, Response};

/// A token answer is a small JSON document.
const MAX_TOKEN_ANSWER: u64 = 1024 * 1024;

impl HttpRegistry {
    /// The `Authorization` value that answers `challenge` for `image`.
    pub(super) fn answer(
        &self,
        image: &ImageName,
        challenge: Challenge,
        credential: Option<&Credential>,
    ) -> Result<Token, RegistryError> {
        match challenge {
            Challenge::Basic => match credential {
                Some(Credential::Basic { username, password }) => {
                    Ok(basic(username, password.expose_secret()))
                }
                _ => Err(unauthorized(
                    image,
                    401,
                    " and no credentials for it in the docker config",
                )),
            },
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let scope =
                    scope.unwrap_or_else(|| format!("repository:{}:pull", image.repository));
                let token = self.token(image, &realm, service.as_deref(), &scope, credential)?;
                Token::new(format!("Bearer {}", token.expose_secret())).ok_or_else(|| {
                    RegistryError::TokenEndpoint {
                        registry: image.registry.clone(),
                        realm: realm.clone(),
                        detail: "an empty token".into(),
                    }
                })
            }
        }
    }

    /// A Bearer token from the challenge's realm.
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
        let response = self
            .ask_for_token(realm, service, scope, credential)
            .map_err(|source| RegistryError::Transport {
                registry: image.registry.clone(),
                action: format!("get a token from {realm}"),
                source: Box::new(source),
            })?;
        read_token(image, realm, credential, &response)
    }

    fn ask_for_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        credential: Option<&Credential>,
    ) -> Result<Response, ureq::Error> {
        let service = service.map(|s| ("service", s));
        if let Some(Credential::IdentityToken(refresh)) = credential {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.expose_secret()),
                ("client_id", "kubectl-promote"),
                ("scope", scope),
            ];
            form.extend(service);
            let request = Request {
                body: Body::Form(&form),
                ..Request::new(Method::Post, realm, MAX_TOKEN_ANSWER)
            };
            return self.http.send(&request);
        }
        let mut query = vec![("scope", scope)];
        query.extend(service);
        let authorization = match credential {
            Some(Credential::Basic { username, password }) => {
                Some(basic(username, password.expose_secret()))
            }
            _ => None,
        };
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|a| ("Authorization", a.expose_secret()))
            .collect();
        let request = Request {
            headers: &headers,
            query: &query,
            ..Request::new(Method::Get, realm, MAX_TOKEN_ANSWER)
        };
        self.http.send(&request)
    }
}

/// The token in a token endpoint's answer (`token`, or OAuth2's `access_token`).
fn read_token(
    image: &ImageName,
    realm: &str,
    credential: Option<&Credential>,
    response: &Response,
) -> Result<Token, RegistryError> {
    let failed = |detail: String| RegistryError::TokenEndpoint {
        registry: image.registry.clone(),
        realm: realm.to_owned(),
        detail,
    };
    let status = response.status;
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
    if status != 200 {
        return Err(failed(format!("HTTP {status}")));
    }
    let doc: serde_json::Value = serde_json::from_slice(&response.body)
        .map_err(|_| failed("a body that is not JSON".into()))?;
    let value = doc
        .get("token")
        .or_else(|| doc.get("access_token"))
        .and_then(|v| v.as_str())
        .unwrap_or("");
    Token::new(value).ok_or_else(|| failed("no `token` in its answer".into()))
}

/// `Basic base64(user:password)`.
pub(super) fn basic(username: &str, password: &str) -> Token {
    use base64::Engine as _;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    Token::new(format!("Basic {encoded}")).expect("never empty")
}
