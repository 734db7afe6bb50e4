//! OCI registries for tests. [`Registry`] is the real thing: go-containerregistry's
//! `crane registry serve` on loopback (pinned by `scripts/go-tools.sh`, on PATH after
//! `source scripts/env.sh`), with images pushed by `crane append`, each tag with content of its
//! own so every tag has its own digest. [`TokenRegistry`] is a stand-in used only for what
//! crane's registry cannot do, authentication: Docker's token flow (401 with a Bearer challenge,
//! a token endpoint that wants Basic credentials), recording what clients sent.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// `crane registry serve` on `127.0.0.1:<free port>`, killed on drop.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    host: String,
    crane: PathBuf,
    scratch: TempDir,
}

/// `crane` from PATH, else from the tools cache `scripts/go-tools.sh` fills.
pub fn crane() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = std::env::split_paths(&path)
        .map(|d| d.join("crane"))
        .find(|p| p.is_file());
    let cached = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".cache/kubectl-promote-dev/bin/crane"))
        .filter(|p| p.is_file());
    on_path
        .or(cached)
        .expect("crane not found: run `bash scripts/go-tools.sh` and `source scripts/env.sh`")
}

impl Registry {
    /// Starts `crane registry serve` and waits (at most 20 s) until it accepts connections. It
    /// does not serve the OCI referrers API (404): clients fall back to the referrers tag.
    pub fn start() -> Registry {
        let crane = crane();
        let mut cmd = Command::new(&crane);
        cmd.args(["registry", "serve", "--address", "127.0.0.1:0"]);
        Registry::serve(cmd, crane)
    }

    /// Starts the registry program `bin` (one that says "serving on port N" on stderr, as
    /// `crane registry serve` does), e.g. [`crate::go::referrers_registry`]; crane pushes.
    pub fn start_program(bin: &Path) -> Registry {
        Registry::serve(Command::new(bin), crane())
    }

    /// Runs `cmd` and waits (at most 20 s) until it accepts connections.
    fn serve(mut cmd: Command, crane: PathBuf) -> Registry {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the registry {cmd:?}: {e}"));
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        // Read the port from its first line, then keep draining: crane logs every request.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = line.split("serving on port ").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(port.trim().to_owned());
                }
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                panic!("the registry {cmd:?} did not say which port it serves on within 20 s");
            }
        };
        let host = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&host).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry on {host} did not accept connections within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            child,
            host,
            crane,
            scratch: tempfile::Builder::new()
                .prefix("promote-registry-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    /// `127.0.0.1:PORT`, the registry part of image names.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Pushes `repo:tag` (a one-layer image whose file names the reference, so its digest is
    /// its own) and returns the digest crane reports.
    pub fn push(&self, repo: &str, tag: &str) -> String {
        let reference = format!("{}/{repo}:{tag}", self.host);
        let layer = self
            .scratch
            .path()
            .join(format!("{}.tar", reference.replace(['/', ':'], "_")));
        std::fs::write(&layer, tar_of_one_file("ref.txt", reference.as_bytes()))
            .expect("write layer");
        self.crane(&[
            "append",
            "--new_layer",
            layer.to_str().expect("utf-8"),
            "--new_tag",
            &reference,
        ]);
        self.digest(repo, tag)
    }

    /// Pushes `repo:tag` as [`Registry::push`] does, then gives its config these labels
    /// (`crane mutate --label`, which re-tags the labelled image); returns the final digest.
    pub fn push_labelled(&self, repo: &str, tag: &str, labels: &[(&str, &str)]) -> String {
        self.push(repo, tag);
        let reference = format!("{}/{repo}:{tag}", self.host);
        let mut args = vec!["mutate".to_owned(), reference.clone()];
        for (k, v) in labels {
            args.push("--label".into());
            args.push(format!("{k}={v}"));
        }
        args.push("--tag".into());
        args.push(reference);
        self.crane(&args.iter().map(String::as_str).collect::<Vec<_>>());
        self.digest(repo, tag)
    }

    /// `crane ls HOST/repo`: the repository's tags.
    pub fn tags(&self, repo: &str) -> Vec<String> {
        self.crane(&["ls", &format!("{}/{repo}", self.host)])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// `crane digest HOST/repo:tag`.
    pub fn digest(&self, repo: &str, tag: &str) -> String {
        self.crane(&["digest", &format!("{}/{repo}:{tag}", self.host)])
            .trim()
            .to_owned()
    }

    /// Deletes `repo:tag` and the manifest it names (`crane delete` of both): what a
    /// registry's retention policy does.
    pub fn delete(&self, repo: &str, tag: &str) {
        let digest = self.digest(repo, tag);
        self.crane(&["delete", &format!("{}/{repo}:{tag}", self.host)]);
        self.crane(&["delete", &format!("{}/{repo}@{digest}", self.host)]);
    }

    fn crane(&self, args: &[&str]) -> String {
        let out = Command::new(&self.crane)
            .args(args)
            .output()
            .expect("run crane");
        assert!(
            out.status.success(),
            "crane {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A ustar archive holding one regular file.
fn tar_of_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |field: &mut [u8], value: u64| {
        let text = format!("{value:0width$o}\0", width = field.len() - 1);
        field.copy_from_slice(text.as_bytes());
    };
    octal(&mut header[100..108], 0o644);
    octal(&mut header[108..116], 0);
    octal(&mut header[116..124], 0);
    octal(&mut header[124..136], content.len() as u64);
    octal(&mut header[136..148], 0);
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u64 = header.iter().map(|b| u64::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// What a [`TokenRegistry`] saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// `METHOD path Authorization` of every request, in order.
    pub requests: Vec<String>,
    /// The bodies of the form `POST`s to the token endpoint, decoded, in order.
    pub forms: Vec<Vec<(String, String)>>,
}

/// A registry that wants a Bearer token for everything, from its own token endpoint, which
/// hands one out only for Basic `user:password` (`GET /token`), or for an identity token it
/// was told of through the OAuth2 refresh-token grant (`POST /token`, a form with
/// `grant_type=refresh_token`; see [`TokenRegistry::accept_identity_token`]). It knows the
/// manifests in `tags`; one with an empty digest is served without `Docker-Content-Digest` (as
/// some registries do), its body [`FAKE_MANIFEST`] on GET.
pub struct TokenRegistry {
    server: Arc<tiny_http::Server>,
    pub host: String,
    pub seen: Arc<Mutex<Seen>>,
    identity_tokens: Arc<Mutex<Vec<String>>>,
}

/// The manifest body of a tag served without a digest header.
pub const FAKE_MANIFEST: &str =
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}";

/// The token the endpoint hands out.
pub const FAKE_TOKEN: &str = "fake-registry-token-3141";

/// What the stand-in's thread answers from.
struct TokenState {
    host: String,
    want_basic: String,
    /// `(repository, tag, digest)`.
    tags: Vec<(String, String, String)>,
    seen: Arc<Mutex<Seen>>,
    identity_tokens: Arc<Mutex<Vec<String>>>,
}

impl TokenRegistry {
    /// `tags`: `(repository, tag, digest)` it serves.
    pub fn start(user: &str, password: &str, tags: &[(&str, &str, &str)]) -> TokenRegistry {
        let server = Arc::new(
            tiny_http::Server::http("127.0.0.1:0").expect("bind a fake registry on 127.0.0.1:0"),
        );
        let host = format!(
            "127.0.0.1:{}",
            server.server_addr().to_ip().expect("ip").port()
        );
        let seen = Arc::new(Mutex::new(Seen::default()));
        let identity_tokens = Arc::new(Mutex::new(Vec::new()));
        let state = TokenState {
            host: host.clone(),
            want_basic: format!(
                "Basic {}",
                base64_lite::encode(format!("{user}:{password}").as_bytes())
            ),
            tags: tags
                .iter()
                .map(|(r, t, d)| ((*r).to_owned(), (*t).to_owned(), (*d).to_owned()))
                .collect(),
            seen: Arc::clone(&seen),
            identity_tokens: Arc::clone(&identity_tokens),
        };
        let srv = Arc::clone(&server);
        std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                state.answer(request);
            }
        });
        TokenRegistry {
            server,
            host,
            seen,
            identity_tokens,
        }
    }

    /// From now on the token endpoint also answers the refresh-token grant for `token`.
    pub fn accept_identity_token(&self, token: &str) {
        self.identity_tokens
            .lock()
            .expect("identity tokens")
            .push(token.to_owned());
    }
}

type Reply = tiny_http::Response<std::io::Cursor<Vec<u8>>>;

fn reply(status: u16, body: &str) -> Reply {
    tiny_http::Response::from_string(body).with_status_code(status)
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name, value).expect("header")
}

const UNAUTHORIZED: &str = "{\"errors\": [{\"code\": \"UNAUTHORIZED\"}]}";

impl TokenState {
    fn answer(&self, mut request: tiny_http::Request) {
        let auth = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Authorization"))
            .map(|h| h.value.as_str().to_owned())
            .unwrap_or_default();
        let url = request.url().to_owned();
        let method = request.method().clone();
        self.seen
            .lock()
            .expect("seen")
            .requests
            .push(format!("{method} {url} {auth}"));
        let response = if url.starts_with("/token") && method == tiny_http::Method::Post {
            let mut body = String::new();
            let _ = request.as_reader().read_to_string(&mut body);
            self.refresh_grant(&body)
        } else if url.starts_with("/token") {
            if auth == self.want_basic {
                reply(200, &format!("{{\"token\": \"{FAKE_TOKEN}\"}}"))
            } else {
                reply(401, UNAUTHORIZED)
            }
        } else if auth != format!("Bearer {FAKE_TOKEN}") {
            let challenge = format!(
                "Bearer realm=\"http://{}/token\",service=\"fake-registry\"",
                self.host
            );
            reply(401, UNAUTHORIZED).with_header(header("WWW-Authenticate", &challenge))
        } else {
            self.manifest(&url, &method)
        };
        let _ = request.respond(response);
    }

    /// The OAuth2 refresh-token grant: a token for an identity token it was told of.
    fn refresh_grant(&self, body: &str) -> Reply {
        let form = crate::query::pairs(body);
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let granted = field("grant_type") == "refresh_token"
            && self
                .identity_tokens
                .lock()
                .expect("identity tokens")
                .contains(&field("refresh_token"));
        self.seen.lock().expect("seen").forms.push(form);
        if granted {
            reply(200, &format!("{{\"access_token\": \"{FAKE_TOKEN}\"}}"))
        } else {
            reply(401, UNAUTHORIZED)
        }
    }

    fn manifest(&self, url: &str, method: &tiny_http::Method) -> Reply {
        let hit = self
            .tags
            .iter()
            .find(|(r, t, _)| url == format!("/v2/{r}/manifests/{t}"));
        match hit {
            Some((_, _, d)) if d.is_empty() => {
                let body = if *method == tiny_http::Method::Get {
                    FAKE_MANIFEST
                } else {
                    ""
                };
                reply(200, body)
            }
            Some((_, _, d)) => reply(200, "").with_header(header("Docker-Content-Digest", d)),
            None => reply(404, "{\"errors\": [{\"code\": \"MANIFEST_UNKNOWN\"}]}"),
        }
    }
}

impl std::fmt::Debug for TokenRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRegistry")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// Standard base64 for the stand-in's expected header (the testkit links no base64 crate).
mod base64_lite {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn known_values() {
        assert_eq!(encode(b"ana:s3cret"), "YW5hOnMzY3JldA==");
        assert_eq!(encode(b"ab"), "YWI=");
        assert_eq!(encode(b"abc"), "YWJj");
    }
}
