//! Registry credentials as Docker keeps them: the docker config's `auths` (base64 `auth`, or
//! `username`/`password`, or an `identitytoken`), `credHelpers` per registry and the
//! `credsStore` default, whose `docker-credential-<name> get` reads the server on stdin and
//! answers `{"Username", "Secret"}` (a `<token>` username means the secret is an identity token).
//!
//! Read only when a registry asks for credentials (after an anonymous 401), once per registry.
//! Secrets are [`Token`]s, and a helper's output never reaches an error message.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde::Deserialize;

use promote_core::forge::Token;
use promote_core::registry::{DOCKER_HUB, RegistryError};

/// The server name Docker stores Hub credentials under.
const HUB_SERVER: &str = "https://index.docker.io/v1/";

/// What to authenticate with.
#[derive(Debug, Clone)]
pub enum Credential {
    Basic {
        username: String,
        password: Token,
    },
    /// An OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user).
    IdentityToken(Token),
}

#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

impl std::fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthEntry(***)")
    }
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// The docker config, read on first use, and the answers per registry.
#[derive(Debug)]
pub struct Credentials {
    file: Option<PathBuf>,
    config: OnceLock<Result<DockerConfig, String>>,
    found: Mutex<HashMap<String, Option<Credential>>>,
    /// Held while a helper is asked, so that lookups racing for one registry (the image check
    /// and the source labels run at once) ask it once.
    asking: Mutex<()>,
}

impl Credentials {
    pub fn new(file: Option<PathBuf>) -> Self {
        Credentials {
            file,
            config: OnceLock::new(),
            found: Mutex::new(HashMap::new()),
            asking: Mutex::new(()),
        }
    }

    fn config(&self) -> Result<&DockerConfig, RegistryError> {
        let loaded = self.config.get_or_init(|| match &self.file {
            None => Ok(DockerConfig::default()),
            Some(path) => match std::fs::read_to_string(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerConfig::default()),
                Err(e) => Err(e.to_string()),
                // serde_json's message names the line and column, never a value.
                Ok(text) => serde_json::from_str(&text).map_err(|e| e.to_string()),
            },
        });
        loaded
            .as_ref()
            .map_err(|detail| RegistryError::DockerConfig {
                file: self
                    .file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                detail: detail.clone(),
            })
    }

    /// The credential for `registry` (as image names write it: `docker.io`, `host:port`).
    pub fn for_registry(&self, registry: &str) -> Result<Option<Credential>, RegistryError> {
        let cached = || {
            self.found
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(registry)
                .cloned()
        };
        if let Some(found) = cached() {
            return Ok(found);
        }
        let _asking = self.asking.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = cached() {
            return Ok(found);
        }
        let found = self.look_up(registry)?;
        self.found
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(registry.to_owned(), found.clone());
        Ok(found)
    }

    fn look_up(&self, registry: &str) -> Result<Option<Credential>, RegistryError> {
        let config = self.config()?;
        let server = if registry == DOCKER_HUB {
            HUB_SERVER
        } else {
            registry
        };
        let matches = |key: &str| normalize(key) == normalize(server);
        if let Some((_, helper)) = config.cred_helpers.iter().find(|(k, _)| matches(k)) {
            return run_helper(helper, registry, server);
        }
        if let Some((_, entry)) = config.auths.iter().find(|(k, _)| matches(k))
            && let Some(c) = from_entry(entry, registry, self)?
        {
            return Ok(Some(c));
        }
        match &config.creds_store {
            Some(store) if !store.is_empty() => run_helper(store, registry, server),
            _ => Ok(None),
        }
    }
}

/// `https://index.docker.io/v1/` → `index.docker.io`; `http://reg:5000/` → `reg:5000`.
fn normalize(key: &str) -> String {
    let k = key.trim();
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "docker.io" | "registry-1.docker.io" => "index.docker.io".to_owned(),
        _ => host,
    }
}

fn from_entry(
    entry: &AuthEntry,
    registry: &str,
    creds: &Credentials,
) -> Result<Option<Credential>, RegistryError> {
    if let Some(t) = entry.identitytoken.as_deref().and_then(Token::new) {
        return Ok(Some(Credential::IdentityToken(t)));
    }
    if let (Some(u), Some(p)) = (
        &entry.username,
        entry.password.as_deref().and_then(Token::new),
    ) {
        return Ok(Some(Credential::Basic {
            username: u.clone(),
            password: p,
        }));
    }
    let Some(auth) = entry.auth.as_deref().filter(|a| !a.trim().is_empty()) else {
        return Ok(None);
    };
    use base64::Engine as _;
    let bad = |what: &str| RegistryError::DockerConfig {
        file: creds
            .file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        detail: format!(
            "auths entry for {registry}: `auth` is {what}; expected base64 of `user:password` (run `docker login {registry}` again)"
        ),
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad("not base64"))?;
    let text = String::from_utf8(decoded).map_err(|_| bad("not UTF-8 text"))?;
    let (u, p) = text.split_once(':').ok_or_else(|| bad("missing the `:`"))?;
    Ok(Token::new(p).map(|password| Credential::Basic {
        username: u.to_owned(),
        password,
    }))
}

/// `docker-credential-<helper> get`, the server on stdin; "not found" is no credential.
fn run_helper(
    helper: &str,
    registry: &str,
    server: &str,
) -> Result<Option<Credential>, RegistryError> {
    let program = format!("docker-credential-{helper}");
    let failed = |detail: String| RegistryError::CredentialHelper {
        helper: helper.to_owned(),
        registry: registry.to_owned(),
        detail,
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("could not run {program}: {e}; install it or fix `credHelpers`/`credsStore` in the docker config")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // The helpers print "credentials not found in native keychain" for an unknown server.
        let said = format!("{stdout} {}", String::from_utf8_lossy(&out.stderr));
        if said.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        // Its words, trimmed to one short line; a failing helper has printed no secret.
        let line = said
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(160)
            .collect::<String>();
        return Err(failed(format!("{} ({line})", out.status)));
    }
    let answer: HelperAnswer = serde_json::from_str(&stdout)
        .map_err(|_| failed("its answer is not {\"Username\", \"Secret\"} JSON".into()))?;
    let Some(secret) = Token::new(answer.secret) else {
        return Ok(None);
    };
    Ok(Some(if answer.username == "<token>" {
        Credential::IdentityToken(secret)
    } else {
        Credential::Basic {
            username: answer.username,
            password: secret,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_match_the_registry_as_docker_writes_them() {
        assert_eq!(normalize("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(normalize(HUB_SERVER), normalize("docker.io"));
        assert_eq!(
            normalize("http://Reg.example.com:5000/"),
            "reg.example.com:5000"
        );
    }

    #[test]
    fn auths_entries_decode_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        // base64("ana:s3cret-pass")
        std::fs::write(&file, r#"{"auths": {"https://reg.example.com": {"auth": "YW5hOnMzY3JldC1wYXNz"}, "other.io": {"identitytoken": "refresh-xyz"}, "bad.io": {"auth": "!!"}}}"#).unwrap();
        let creds = Credentials::new(Some(file));
        match creds.for_registry("reg.example.com").unwrap() {
            Some(Credential::Basic { username, password }) => assert_eq!(
                (username.as_str(), password.expose_secret()),
                ("ana", "s3cret-pass")
            ),
            other => panic!("{other:?}"),
        }
        let token = creds.for_registry("other.io").unwrap();
        assert!(matches!(token, Some(Credential::IdentityToken(_))));
        assert!(!format!("{token:?}").contains("refresh-xyz"));
        assert!(creds.for_registry("nowhere.io").unwrap().is_none());
        let err = creds.for_registry("bad.io").unwrap_err().to_string();
        assert!(err.contains("not base64") && !err.contains("!!"), "{err}");
    }
}
