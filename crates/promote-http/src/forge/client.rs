//! The forge side of the HTTP exchange, shared by the three vendors: the auth header each one
//! documents, JSON bodies, status → [`ForgeError`], and following `Link` pagination only within
//! the API base, so the token never goes to another origin.

use promote_core::forge::{
    ForgeError, ForgeKind, ForgeTarget, ForgeUser, NewPullRequest, PullRequest, Token,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ClientOptions;
use crate::http::{Body, Http, Method, Options, Redirects, Request, parse_next_link, within};

/// Forge answers are JSON documents and lists of at most a hundred; a longer body is not one.
const MAX_BODY: u64 = 10 * 1024 * 1024;

/// A bound on pages, so a server that links a page to itself cannot keep us here.
const MAX_PAGES: usize = 1000;

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
    http: Http,
}

/// One answer of any status, and what it answered (for the errors it may turn into).
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) next: Option<String>,
    pub(crate) location: Option<String>,
    forge: ForgeKind,
    action: String,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as the JSON document `T`.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, ForgeError> {
        serde_json::from_str(&self.body).map_err(|e| ForgeError::InvalidResponse {
            forge: self.forge,
            action: self.action.clone(),
            source: Box::new(e),
        })
    }
}

impl Client {
    pub(crate) fn new(
        target: ForgeTarget,
        token: Token,
        options: &ClientOptions,
    ) -> Result<Self, ForgeError> {
        let http = Http::new(&Options {
            timeout: options.timeout,
            proxy: options.proxy.as_deref(),
            // Not followed: ureq would carry custom headers such as GitLab's PRIVATE-TOKEN to
            // whatever host a redirect names. A moved repository is reported instead.
            redirects: Redirects::Refused,
        })
        .map_err(|e| ForgeError::Transport {
            forge: target.kind,
            api_url: target.api_url.clone(),
            action: "use the configured proxy".to_owned(),
            source: Box::new(e),
        })?;
        Ok(Client {
            target,
            token,
            http,
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
        let auth = match self.kind() {
            ForgeKind::GitHub => ("Authorization", format!("Bearer {secret}")),
            ForgeKind::Gitea => ("Authorization", format!("token {secret}")),
            ForgeKind::GitLab => ("PRIVATE-TOKEN", secret.to_owned()),
        };
        let mut headers = vec![(auth.0, auth.1.as_str())];
        match self.kind() {
            ForgeKind::GitHub => headers.extend([
                ("Accept", "application/vnd.github+json"),
                ("X-GitHub-Api-Version", "2022-11-28"),
            ]),
            ForgeKind::GitLab | ForgeKind::Gitea => headers.push(("Accept", "application/json")),
        }
        let request = Request {
            headers: &headers,
            body: body.map_or(Body::Empty, Body::Json),
            ..Request::new(method, url, MAX_BODY)
        };
        let response = self.http.send(&request).map_err(transport)?;
        Ok(Answer {
            status: response.status,
            next: response.header("link").as_deref().and_then(parse_next_link),
            location: response.header("location"),
            body: response.text(),
            forge: self.kind(),
            action: action.to_owned(),
        })
    }

    /// Requests about `subject`, which says what a 404 means for them.
    pub(crate) fn on(&self, subject: Subject) -> On<'_> {
        On {
            client: self,
            subject,
        }
    }

    /// A request whose success is any 2xx; anything else becomes the matching [`ForgeError`].
    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        action: &str,
        subject: Subject,
    ) -> Result<Answer, ForgeError> {
        let answer = self.send(method, &self.url(path), body, action)?;
        if answer.ok() {
            Ok(answer)
        } else {
            Err(self.error(&answer, action, subject))
        }
    }

    /// The account behind the token.
    pub(crate) fn whoami<U>(&self) -> Result<ForgeUser, ForgeError>
    where
        U: DeserializeOwned + Into<ForgeUser>,
    {
        let user: U = self
            .on(Subject::Repo)
            .get("/user", "identify the token's account")?;
        Ok(user.into())
    }

    /// Opens a pull request by `POST`ing `body` to `path`. `is_duplicate` recognises the
    /// vendor's answer for "one is already open for this head and base".
    pub(crate) fn create<P>(
        &self,
        path: &str,
        body: &Value,
        pr: &NewPullRequest,
        is_duplicate: impl Fn(&Answer) -> bool,
    ) -> Result<PullRequest, ForgeError>
    where
        P: DeserializeOwned + Into<PullRequest>,
    {
        let noun = self.kind().pr_noun();
        let action = format!("open a {noun}");
        let answer = self.send(Method::Post, &self.url(path), Some(body), &action)?;
        if is_duplicate(&answer) {
            return Err(ForgeError::AlreadyExists {
                forge: self.kind(),
                noun,
                repo: self.target.repo.to_string(),
                head: pr.head.clone(),
                base: pr.base.clone(),
            });
        }
        if !answer.ok() {
            return Err(self.error(&answer, &action, Subject::Repo));
        }
        answer.json::<P>().map(Into::into)
    }

    /// Every page of a list, following `rel="next"` links within the API base.
    pub(crate) fn all_pages<T: DeserializeOwned>(
        &self,
        path: &str,
        action: &str,
    ) -> Result<Vec<T>, ForgeError> {
        let mut items = Vec::new();
        let mut url = self.url(path);
        for _ in 0..MAX_PAGES {
            let answer = self.send(Method::Get, &url, None, action)?;
            if !answer.ok() {
                return Err(self.error(&answer, action, Subject::Repo));
            }
            let page: Vec<T> = answer.json()?;
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

/// Requests about one subject: `path` is relative to the API base and already encoded,
/// `action` says what the request does, for errors ("close the pull request").
pub(crate) struct On<'c> {
    client: &'c Client,
    subject: Subject,
}

impl On<'_> {
    /// A `GET` of one JSON document.
    pub(crate) fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        action: &str,
    ) -> Result<T, ForgeError> {
        self.client
            .call(Method::Get, path, None, action, self.subject)?
            .json()
    }

    /// A `POST`, `PUT` or `PATCH` of `body`.
    pub(crate) fn write(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        action: &str,
    ) -> Result<Answer, ForgeError> {
        self.client
            .call(method, path, Some(body), action, self.subject)
    }
}

/// The vendor's own words from an error body: GitHub `message` + `errors[].message`, GitLab
/// `message` (a string, a list, or a map of field → list) or `error`, Gitea `message`.
pub(crate) fn vendor_message(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return body.chars().take(200).collect::<String>().trim().to_owned();
    };
    let mut parts: Vec<String> = Vec::new();
    for key in ["message", "error"] {
        if let Some(v) = value.get(key) {
            push_text(&mut parts, v);
        }
    }
    for e in value
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
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
    if parts.is_empty() {
        body.chars().take(200).collect()
    } else {
        parts.join("; ")
    }
}

/// A message as a string, a list of strings, or a map of field → strings.
fn push_text(parts: &mut Vec<String>, v: &Value) {
    fn strings(list: &[Value]) -> impl Iterator<Item = String> + '_ {
        list.iter().filter_map(Value::as_str).map(str::to_owned)
    }
    match v {
        Value::String(s) => parts.push(s.clone()),
        Value::Array(list) => parts.extend(strings(list)),
        Value::Object(map) => {
            for (field, v) in map {
                let text = match v {
                    Value::Array(list) => strings(list).collect::<Vec<_>>().join(", "),
                    other => other.as_str().unwrap_or_default().to_owned(),
                };
                parts.push(format!("{field} {text}"));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
