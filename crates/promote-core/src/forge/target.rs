//! Where a repository's forge API and web pages live: `forge:` settings over detection.

use serde::{Deserialize, Serialize};

use super::error::ForgeError;
use super::kind::ForgeKind;
use super::remote::{RemoteUrl, RepoPath, redact_userinfo, split_host_port};

// `forge.type` is read here, with the rest of the `forge:` settings, so that the kind does not
// depend on the errors that name it.
impl ForgeKind {
    /// The `forge.type` value of `promote.yaml`: `github`, `gitlab`, `gitea` or `forgejo`.
    pub fn from_config(value: &str) -> Result<Self, ForgeError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "github" => Ok(ForgeKind::GitHub),
            "gitlab" => Ok(ForgeKind::GitLab),
            "gitea" | "forgejo" => Ok(ForgeKind::Gitea),
            _ => Err(ForgeError::UnknownForgeType {
                value: value.to_owned(),
            }),
        }
    }
}

/// The `forge:` block of `promote.yaml`, each key optional; resolved against the remote URL by
/// [`ForgeTarget::resolve`]. The config module parses it; this type only carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForgeSettings {
    #[serde(rename = "type")]
    pub kind: Option<ForgeKind>,
    /// The REST API base (`https://git.example.com/api/v4`), or the instance's web root
    /// (`https://git.example.com`), to which the vendor's API path is added.
    pub url: Option<String>,
    pub repo: Option<RepoPath>,
    pub token_env: Option<String>,
}

/// Where the pull requests of this GitOps repository go: the resolved forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeTarget {
    pub kind: ForgeKind,
    /// REST API base without a trailing slash: `https://api.github.com`, `https://host/api/v4`.
    pub api_url: String,
    /// Web root without a trailing slash: `https://github.com`, `https://host`.
    pub web_url: String,
    pub repo: RepoPath,
    /// The environment variable holding the token (`GITHUB_TOKEN` unless `forge.tokenEnv`).
    pub token_env: String,
}

impl ForgeTarget {
    /// Resolves the forge from the remote URL, with each `forge:` setting winning over detection.
    ///
    /// `remote` may be `None` or a local path (tests push to bare repositories): then the
    /// settings must name the type, the URL and the repository.
    pub fn resolve(remote: Option<&str>, settings: &ForgeSettings) -> Result<Self, ForgeError> {
        let (remote, mut remote_error) = match remote.map(RemoteUrl::parse) {
            Some(Ok(parsed)) => (Some(parsed), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        // Why the remote cannot fill in what the settings leave open.
        let mut missing = || remote_error.take().unwrap_or(ForgeError::NoRemote);

        let kind = match (settings.kind, &remote) {
            (Some(kind), _) => kind,
            (None, Some(remote)) => {
                remote
                    .detect_kind()
                    .ok_or_else(|| ForgeError::UnknownForge {
                        host: remote.host.clone(),
                    })?
            }
            (None, None) => return Err(missing()),
        };
        let repo = match (&settings.repo, &remote) {
            (Some(repo), _) => repo.clone(),
            (None, Some(remote)) => remote.repo.clone(),
            (None, None) => return Err(missing()),
        };
        if kind != ForgeKind::GitLab && repo.depth() != 2 {
            return Err(ForgeError::InvalidRepo {
                repo: repo.to_string(),
            });
        }

        let (api_url, web_url) = match &settings.url {
            Some(url) => api_and_web_from_setting(kind, url)?,
            None => match &remote {
                Some(remote) => api_and_web_from_remote(kind, remote),
                None => return Err(missing()),
            },
        };
        let token_env = settings
            .token_env
            .clone()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| kind.default_token_env().to_owned());
        Ok(ForgeTarget {
            kind,
            api_url,
            web_url,
            repo,
            token_env,
        })
    }

    /// The page where a person opens the pull request by hand: printed when there is no token.
    pub fn compare_url(&self, base: &str, head: &str) -> String {
        let repo_web = format!("{}/{}", self.web_url, self.repo);
        match self.kind {
            ForgeKind::GitHub => {
                format!(
                    "{repo_web}/compare/{}...{}?expand=1",
                    encode_path(base),
                    encode_path(head)
                )
            }
            ForgeKind::Gitea => format!(
                "{repo_web}/compare/{}...{}",
                encode_path(base),
                encode_path(head)
            ),
            ForgeKind::GitLab => format!(
                "{repo_web}/-/merge_requests/new?merge_request%5Bsource_branch%5D={}&merge_request%5Btarget_branch%5D={}",
                encode_component(head),
                encode_component(base)
            ),
        }
    }
}

fn api_and_web_from_remote(kind: ForgeKind, remote: &RemoteUrl) -> (String, String) {
    let host = remote.host.as_str();
    // ssh remotes say nothing about the web port; the forge's web root is https on the host.
    let web = remote
        .web_root
        .clone()
        .unwrap_or_else(|| format!("https://{host}"));
    match kind {
        ForgeKind::GitHub if host == "github.com" || host.ends_with(".github.com") => {
            // `ssh.github.com` (ssh over 443) and `www.github.com` are github.com.
            (
                "https://api.github.com".to_owned(),
                "https://github.com".to_owned(),
            )
        }
        ForgeKind::GitHub if host.ends_with(".ghe.com") && !host.starts_with("api.") => {
            // GitHub Enterprise Cloud with data residency: the API is on `api.` + host.
            (format!("https://api.{host}"), format!("https://{host}"))
        }
        _ => (format!("{web}{}", kind.api_suffix()), web),
    }
}

fn api_and_web_from_setting(kind: ForgeKind, url: &str) -> Result<(String, String), ForgeError> {
    let invalid = |reason: &'static str| ForgeError::InvalidApiUrl {
        url: redact_userinfo(url),
        reason,
    };
    let trimmed = url.trim().trim_end_matches('/');
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return Err(invalid("not an http(s) URL"));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(invalid("not an http(s) URL"));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(invalid(
            "it carries credentials; put the token in the variable named by forge.tokenEnv",
        ));
    }
    if authority.is_empty() || path.contains(['?', '#']) {
        return Err(invalid("not an http(s) URL"));
    }
    let origin = format!("{scheme}://{}", authority.to_ascii_lowercase());
    let host = split_host_port(authority).0.to_ascii_lowercase();
    if kind == ForgeKind::GitHub
        && (host == "api.github.com" || host.starts_with("api.") && host.ends_with(".ghe.com"))
    {
        let web_host = host.trim_start_matches("api.");
        return Ok((format!("{origin}{path}"), format!("{scheme}://{web_host}")));
    }
    if path.is_empty() {
        // The instance's web root: the API lives under the vendor's path.
        return Ok((format!("{origin}{}", kind.api_suffix()), origin));
    }
    let web_path = path.strip_suffix(kind.api_suffix()).unwrap_or(path);
    Ok((format!("{origin}{path}"), format!("{origin}{web_path}")))
}

/// Percent-encodes everything but RFC 3986's unreserved characters: a path segment or a query
/// value (`group/sub/repo` → `group%2Fsub%2Frepo`, GitLab's project id form).
pub fn encode_component(value: &str) -> String {
    encode(value, false)
}

/// Like [`encode_component`] but keeps `/`: a branch name inside a URL path.
pub fn encode_path(value: &str) -> String {
    encode(value, true)
}

fn encode(value: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~');
        if unreserved || (keep_slash && byte == b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
