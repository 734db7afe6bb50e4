//! The one HTTP layer of the crate: how an agent is configured (deadline, proxy, what a redirect
//! may carry), the `User-Agent`, one request with its headers, query and body, and the answer read
//! up to a size limit. The forge client and the registry client both speak through it; what a
//! status or a header means stays with them.
//!
//! Blocking on purpose (ureq with rustls, no async runtime): the use cases make a handful of
//! requests per promotion, and the rest of the pipeline (git2, wasmtime) is sync too.

use std::time::Duration;

use serde_json::Value;
use ureq::http::HeaderMap;

/// What a redirect answer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Redirects {
    /// Not followed: the 3xx comes back to the caller. For clients whose credentials travel in
    /// custom headers (GitLab's `PRIVATE-TOKEN`), which ureq would carry to any host a redirect
    /// names.
    Refused,
    /// Followed, without the `Authorization` header (registries redirect blobs and manifests to
    /// mirrors and CDNs).
    FollowedWithoutAuth,
}

/// How an [`Http`] reaches servers. The caller reads the environment; this crate reads none.
#[derive(Debug, Clone)]
pub(crate) struct Options<'a> {
    /// Deadline for each request, connect to last byte.
    pub(crate) timeout: Duration,
    /// An `http://` proxy.
    pub(crate) proxy: Option<&'a str>,
    pub(crate) redirects: Redirects,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
}

impl Method {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
        }
    }
}

/// What a request carries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body<'a> {
    Empty,
    /// Sent as `application/json`.
    Json(&'a Value),
    /// Sent as `application/x-www-form-urlencoded`.
    Form(&'a [(&'a str, &'a str)]),
}

/// One request. Headers and query pairs are given unencoded; the URL's own path and query are
/// taken as they are (already encoded by the caller).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub(crate) method: Method,
    pub(crate) url: &'a str,
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) query: &'a [(&'a str, &'a str)],
    pub(crate) body: Body<'a>,
    /// The most body bytes to read; a longer body is a transport error, not a truncation.
    pub(crate) limit: u64,
}

impl<'a> Request<'a> {
    /// A request without headers, query or body, reading at most `limit` bytes of answer.
    pub(crate) fn new(method: Method, url: &'a str, limit: u64) -> Self {
        Request {
            method,
            url,
            headers: &[],
            query: &[],
            body: Body::Empty,
            limit,
        }
    }
}

/// An answer of any status.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    headers: HeaderMap,
    /// Empty for `HEAD`.
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// A header's value, when it is present and visible ASCII.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The body as text (lossily: bodies here are JSON or short messages).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A configured agent: one connection pool, one `User-Agent`.
pub(crate) struct Http {
    agent: ureq::Agent,
    user_agent: String,
}

impl Http {
    /// Fails only on a proxy URL ureq cannot use.
    pub(crate) fn new(options: &Options<'_>) -> Result<Self, ureq::Error> {
        let proxy = options.proxy.map(ureq::Proxy::new).transpose()?;
        let builder = ureq::Agent::config_builder()
            // Every status comes back as an answer: the callers say what each one means.
            .http_status_as_error(false)
            .timeout_global(Some(options.timeout))
            .proxy(proxy);
        let config = match options.redirects {
            Redirects::Refused => builder.max_redirects(0),
            Redirects::FollowedWithoutAuth => {
                builder.redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
            }
        }
        .build();
        Ok(Http {
            agent: ureq::Agent::new_with_config(config),
            user_agent: format!("kubectl-promote/{}", env!("CARGO_PKG_VERSION")),
        })
    }

    /// Sends one request and reads its answer (the body up to the request's limit).
    pub(crate) fn send(&self, request: &Request<'_>) -> Result<Response, ureq::Error> {
        let a = &self.agent;
        let url = request.url;
        let result = match request.method {
            Method::Get => self.prepare(a.get(url), request).call(),
            Method::Head => self.prepare(a.head(url), request).call(),
            Method::Post => send_body(self.prepare(a.post(url), request), request.body),
            Method::Put => send_body(self.prepare(a.put(url), request), request.body),
            Method::Patch => send_body(self.prepare(a.patch(url), request), request.body),
        };
        let mut response = result?;
        let status = response.status().as_u16();
        let headers = std::mem::take(response.headers_mut());
        let body = match request.method {
            Method::Head => Vec::new(),
            _ => response
                .body_mut()
                .with_config()
                .limit(request.limit)
                .read_to_vec()?,
        };
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn prepare<B>(
        &self,
        builder: ureq::RequestBuilder<B>,
        request: &Request<'_>,
    ) -> ureq::RequestBuilder<B> {
        let mut builder = builder.header("User-Agent", self.user_agent.as_str());
        for (name, value) in request.headers {
            builder = builder.header(*name, *value);
        }
        builder.query_pairs(request.query.iter().copied())
    }
}

fn send_body(
    builder: ureq::RequestBuilder<ureq::typestate::WithBody>,
    body: Body<'_>,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    match body {
        Body::Empty => builder.send_empty(),
        Body::Json(value) => builder
            .header("Content-Type", "application/json")
            .send(&serde_json::to_vec(value).unwrap_or_default()[..]),
        Body::Form(pairs) => builder.send_form(pairs.iter().copied()),
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

/// Whether `url` lies under `base` (same origin, path below).
pub(crate) fn within(url: &str, base: &str) -> bool {
    url.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
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
