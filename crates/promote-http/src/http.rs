//! The HTTP exchange shared by the three vendors: auth header, JSON bodies, status → error
//! mapping, and following `Link` pagination within the API base.

use promote_core::forge::{ForgeError, ForgeKind, ForgeTarget, Token};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ClientOptions;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    Get,
    Post,
    Put,
    Patch,
}

/// What a 404 means for the request that got it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Subject {
    /// The repository (or the account behind the token).
    Repo,
    /// One pull request of the repository.
    Pull(u64),
}

pub(crate) struct Client {
    pub(crate) target: ForgeTarget,
    token: Token,
    agent: ureq::Agent,
    user_agent: String,
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) next: Option<String>,
    pub(crate) location: Option<String>,
}

impl Client {
    pub(crate) fn new(
        target: ForgeTarget,
        token: Token,
        options: &ClientOptions,
    ) -> Result<Self, ForgeError> {
        let proxy = match &options.proxy {
            Some(url) => Some(ureq::Proxy::new(url).map_err(|e| ForgeError::Transport {
                forge: target.kind,
                api_url: target.api_url.clone(),
                action: "use the configured proxy".to_owned(),
                source: Box::new(e),
            })?),
            None => None,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // No redirects: ureq would carry custom headers such as GitLab's PRIVATE-TOKEN to
            // whatever host a redirect names. A moved repository is reported instead.
            .max_redirects(0)
            .timeout_global(Some(options.timeout))
            // The proxy comes from the caller only: this crate reads no environment.
            .proxy(proxy)
            .build();
        let user_agent = format!("kubectl-promote/{}", env!("CARGO_PKG_VERSION"));
        Ok(Client {
            target,
            token,
            agent: ureq::Agent::new_with_config(config),
            user_agent,
        })
    }

    pub(crate) fn kind(&self) -> ForgeKind {
        self.target.kind
    }

    /// `path` is relative to the API base and already encoded.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.target.api_url)
    }

    /// One request to an absolute URL under the API base; any status comes back as an [`Answer`].
    pub(crate) fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        action: &str,
    ) -> Result<Answer, ForgeError> {
        let transport = |source: ureq::Error| ForgeError::Transport {
            forge: self.kind(),
            api_url: self.target.api_url.clone(),
            action: action.to_owned(),
            source: Box::new(source),
        };
        let secret = self.token.expose_secret();
        let (auth_name, auth_value) = match self.kind() {
            ForgeKind::GitHub => ("Authorization", format!("Bearer {secret}")),
            ForgeKind::Gitea => ("Authorization", format!("token {secret}")),
            ForgeKind::GitLab => ("PRIVATE-TOKEN", secret.to_owned()),
        };
        let payload = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        macro_rules! common {
            ($builder:expr) => {{
                let builder = $builder
                    .header(auth_name, auth_value.as_str())
                    .header("User-Agent", self.user_agent.as_str())
                    .header("Accept", accept(self.kind()));
                match self.kind() {
                    ForgeKind::GitHub => builder.header("X-GitHub-Api-Version", "2022-11-28"),
                    ForgeKind::GitLab | ForgeKind::Gitea => builder,
                }
            }};
        }
        let result = match (method, payload) {
            (Method::Get, _) => common!(self.agent.get(url)).call(),
            (method, payload) => {
                let builder = match method {
                    Method::Post => self.agent.post(url),
                    Method::Put => self.agent.put(url),
                    Method::Patch | Method::Get => self.agent.patch(url),
                };
                let builder = common!(builder);
                match payload {
                    Some(bytes) => builder
                        .header("Content-Type", "application/json")
                        .send(&bytes[..]),
                    None => builder.send_empty(),
                }
            }
        };
        let mut response = result.map_err(transport)?;
        let status = response.status().as_u16();
        let next = response
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_next_link);
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.body_mut().read_to_string().map_err(transport)?;
        Ok(Answer {
            status,
            body,
            next,
            location,
        })
    }

    /// A request whose success is any 2xx; anything else becomes the matching [`ForgeError`].
    pub(crate) fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        action: &str,
        subject: Subject,
    ) -> Result<Answer, ForgeError> {
        let answer = self.send(method, &self.url(path), body, action)?;
        if (200..300).contains(&answer.status) {
            Ok(answer)
        } else {
            Err(self.error(&answer, action, subject))
        }
    }

    /// Like [`Client::call`], decoding the JSON answer.
    pub(crate) fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        action: &str,
        subject: Subject,
    ) -> Result<T, ForgeError> {
        let answer = self.call(method, path, body, action, subject)?;
        self.decode(&answer.body, action)
    }

    pub(crate) fn decode<T: DeserializeOwned>(
        &self,
        body: &str,
        action: &str,
    ) -> Result<T, ForgeError> {
        serde_json::from_str(body).map_err(|e| ForgeError::InvalidResponse {
            forge: self.kind(),
            action: action.to_owned(),
            source: Box::new(e),
        })
    }

    /// Every page of a list, following `rel="next"` links within the API base.
    pub(crate) fn all_pages<T: DeserializeOwned>(
        &self,
        path: &str,
        action: &str,
    ) -> Result<Vec<T>, ForgeError> {
        let mut items = Vec::new();
        let mut url = self.url(path);
        // A bound, so a server that links a page to itself cannot keep us here.
        for _ in 0..1000 {
            let answer = self.send(Method::Get, &url, None, action)?;
            if !(200..300).contains(&answer.status) {
                return Err(self.error(&answer, action, Subject::Repo));
            }
            let page: Vec<T> = self.decode(&answer.body, action)?;
            let empty = page.is_empty();
            items.extend(page);
            match answer.next {
                Some(next) if !empty => {
                    if !within(&next, &self.target.api_url) {
                        return Err(ForgeError::ForeignLink {
                            forge: self.kind(),
                            api_url: self.target.api_url.clone(),
                        });
                    }
                    url = next;
                }
                _ => return Ok(items),
            }
        }
        Ok(items)
    }

    /// Maps a non-2xx answer to what the user needs to act on.
    pub(crate) fn error(&self, answer: &Answer, action: &str, subject: Subject) -> ForgeError {
        let forge = self.kind();
        let repo = self.target.repo.to_string();
        let token_env = self.target.token_env.clone();
        let message = self.token.scrub(&vendor_message(&answer.body));
        match (answer.status, subject) {
            (401, _) => ForgeError::BadToken { forge, token_env },
            (403, _) => ForgeError::Forbidden {
                forge,
                repo,
                action: action.to_owned(),
                token_env,
                message,
            },
            (404, Subject::Pull(number)) if !message.contains("Project Not Found") => {
                ForgeError::PullRequestNotFound {
                    forge,
                    noun: forge.pr_noun(),
                    repo,
                    number,
                }
            }
            (404, _) => ForgeError::RepoNotFound {
                forge,
                repo,
                api_url: self.target.api_url.clone(),
                token_env,
            },
            (300..=399, _) => ForgeError::Moved {
                forge,
                repo,
                location: answer.location.clone().unwrap_or_default(),
            },
            (status, _) => ForgeError::Rejected {
                forge,
                repo,
                action: action.to_owned(),
                status,
                message,
            },
        }
    }
}

fn accept(kind: ForgeKind) -> &'static str {
    match kind {
        ForgeKind::GitHub => "application/vnd.github+json",
        ForgeKind::GitLab | ForgeKind::Gitea => "application/json",
    }
}

/// Whether `url` lies under `base` (same origin, path below).
fn within(url: &str, base: &str) -> bool {
    url.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
}

/// The vendor's own words from an error body: GitHub `message` + `errors[].message`, GitLab
/// `message` (a string, a list, or a map of field → list) or `error`, Gitea `message`.
pub(crate) fn vendor_message(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return body.chars().take(200).collect::<String>().trim().to_owned();
    };
    let mut parts: Vec<String> = Vec::new();
    let push_text = |parts: &mut Vec<String>, v: &Value| match v {
        Value::String(s) => parts.push(s.clone()),
        Value::Array(list) => {
            parts.extend(list.iter().filter_map(Value::as_str).map(str::to_owned))
        }
        Value::Object(map) => {
            for (field, v) in map {
                let text = match v {
                    Value::Array(list) => list
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => other.as_str().unwrap_or_default().to_owned(),
                };
                parts.push(format!("{field} {text}"));
            }
        }
        _ => {}
    };
    if let Some(m) = value.get("message") {
        push_text(&mut parts, m);
    }
    if let Some(e) = value.get("error") {
        push_text(&mut parts, e);
    }
    if let Some(errors) = value.get("errors").and_then(Value::as_array) {
        for e in errors {
            match e.get("message") {
                Some(m) => push_text(&mut parts, m),
                None => {
                    let field = e.get("field").and_then(Value::as_str).unwrap_or_default();
                    let code = e.get("code").and_then(Value::as_str).unwrap_or_default();
                    if !field.is_empty() || !code.is_empty() {
                        parts.push(format!("{field}: {code}"));
                    }
                }
            }
        }
    }
    if parts.is_empty() {
        body.chars().take(200).collect()
    } else {
        parts.join("; ")
    }
}

/// The `rel="next"` target of an RFC 8288 `Link` header, as GitHub, GitLab and Gitea send it.
pub fn parse_next_link(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>')?;
        let target = &after[..end];
        let params_end = after[end..].find('<').map_or(after.len(), |i| end + i);
        let params = &after[end + 1..params_end];
        let is_next = params.split(';').any(|p| {
            let p = p.trim().trim_end_matches(',').trim();
            p.strip_prefix("rel=").is_some_and(|v| {
                v.trim_matches('"')
                    .split_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(target.to_owned());
        }
        rest = &after[params_end..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_are_found_among_others() {
        let header = r#"<https://api.github.com/repositories/1/pulls?page=1>; rel="prev", <https://api.github.com/repositories/1/pulls?page=3>; rel="next", <https://api.github.com/repositories/1/pulls?page=5>; rel="last""#;
        assert_eq!(
            parse_next_link(header).as_deref(),
            Some("https://api.github.com/repositories/1/pulls?page=3")
        );
        assert_eq!(
            parse_next_link(r#"<https://x/a?page=1>; rel="first""#),
            None
        );
        assert_eq!(parse_next_link(""), None);
    }

    #[test]
    fn vendor_messages_are_read_from_each_shape() {
        let github = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for acme:x."}]}"#;
        assert_eq!(
            vendor_message(github),
            "Validation Failed; A pull request already exists for acme:x."
        );
        let gitlab = r#"{"message":["Another open merge request already exists for this source branch: !1"]}"#;
        assert_eq!(
            vendor_message(gitlab),
            "Another open merge request already exists for this source branch: !1"
        );
        assert_eq!(
            vendor_message(r#"{"message":{"title":["is too long"]}}"#),
            "title is too long"
        );
        assert_eq!(
            vendor_message(r#"{"error":"title is missing"}"#),
            "title is missing"
        );
        assert_eq!(
            vendor_message("<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
    }

    #[test]
    fn links_are_followed_only_under_the_api_base() {
        assert!(within(
            "http://127.0.0.1:1/api/v4/projects?page=2",
            "http://127.0.0.1:1/api/v4"
        ));
        assert!(!within(
            "http://127.0.0.1:1/api/v45",
            "http://127.0.0.1:1/api/v4"
        ));
        assert!(!within(
            "https://evil.example/api/v4?page=2",
            "https://gitlab.com/api/v4"
        ));
        assert!(!within(
            "https://api.github.com.evil.example/x",
            "https://api.github.com"
        ));
    }
}
