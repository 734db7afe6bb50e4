//! Commit signatures, checked offline against the public keys a repository allows.
//!
//! A signed commit carries its signature in the `gpgsig` header; git's ssh signing (`gpg.format
//! ssh`) and OpenPGP (`gpg.format openpgp`) write the same header in their own armor. We take the
//! signature and the signed bytes apart with git2 and verify them with the tools git itself uses:
//! `ssh-keygen -Y verify` against an allowed-signers file (git's `gpg.ssh.allowedSignersFile`
//! format), and `gpg --verify` in a private `GNUPGHOME` that holds only the allowed public keys.
//! Neither the user's keyring, agent nor git signing config is involved: what verifies is what
//! the caller hands [`Signers::new`], and nothing else.
//!
//! A signature is good for an identity (an e-mail, or a forge account like `github:alice`) when
//! the key that made it is allowed for that identity: the allowed-signers line's principals
//! match it (ssh), or one of the key's user IDs has that e-mail (gpg). Key validity
//! (`valid-before`, expiry, revocation) is judged at the time of checking, not at the commit's
//! claimed date, which its author chose.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{CommitId, GitError, Repo, g};

/// A commit's signature and the bytes it signs (the commit without its `gpgsig` header).
#[derive(Debug, Clone)]
pub struct CommitSignature {
    pub signature: Vec<u8>,
    pub payload: Vec<u8>,
}

impl CommitSignature {
    /// What kind of signature this is, from its armor.
    pub fn method(&self) -> Method {
        let head = self
            .signature
            .iter()
            .position(|b| *b == b'\n')
            .map_or(&self.signature[..], |n| &self.signature[..n]);
        match head.trim_ascii() {
            b"-----BEGIN SSH SIGNATURE-----" => Method::Ssh,
            b"-----BEGIN PGP SIGNATURE-----" | b"-----BEGIN PGP MESSAGE-----" => Method::Gpg,
            _ => Method::Other,
        }
    }
}

/// How a commit is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// git's ssh signing (`ssh-keygen -Y sign`).
    Ssh,
    /// OpenPGP (`gpg`).
    Gpg,
    /// Anything else (x509 through `gpgsm`, or unknown armor): never verified here.
    Other,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Ssh => "ssh",
            Method::Gpg => "gpg",
            Method::Other => "other",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What checking a signature found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// A valid signature by a key allowed for `identity`; `key` is its fingerprint.
    Good {
        method: Method,
        identity: String,
        key: String,
    },
    /// A signature that is not good for any of the identities asked about: made by a key that
    /// is not allowed for them (or not allowed at all), or not a valid signature.
    NotAllowed { method: Method },
    /// Signed with a method for which no keys were given (or that is not supported).
    NoKeys { method: Method },
}

impl Checked {
    /// One line for a cache of results ([`Signers::time_independent`]): `good ssh ID KEY`,
    /// `not-allowed gpg`, `no-keys other`.
    pub fn to_line(&self) -> String {
        match self {
            Checked::Good {
                method,
                identity,
                key,
            } => format!("good {method} {identity} {key}"),
            Checked::NotAllowed { method } => format!("not-allowed {method}"),
            Checked::NoKeys { method } => format!("no-keys {method}"),
        }
    }

    /// Reads [`Checked::to_line`] back; `None` for anything else.
    pub fn from_line(line: &str) -> Option<Checked> {
        let mut f = line.trim_end_matches('\n').split(' ');
        let kind = f.next()?;
        let method = match f.next()? {
            "ssh" => Method::Ssh,
            "gpg" => Method::Gpg,
            "other" => Method::Other,
            _ => return None,
        };
        let checked = match kind {
            "good" => Checked::Good {
                method,
                identity: f.next().filter(|i| plain_identity(i))?.to_owned(),
                key: f.next().filter(|k| !k.is_empty())?.to_owned(),
            },
            "not-allowed" => Checked::NotAllowed { method },
            "no-keys" => Checked::NoKeys { method },
            _ => return None,
        };
        f.next().is_none().then_some(checked)
    }
}

/// Why the allowed keys could not be prepared, or a signature could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("line {line}: {problem}")]
    AllowedSigners { line: usize, problem: String },
    #[error("holds no OpenPGP public key that gpg could import{}", if stderr.is_empty() { String::new() } else { format!(" ({stderr})") })]
    NoGpgKeys { stderr: String },
    #[error(
        "could not run `{program}` to check a signature; install it (ssh-keygen from OpenSSH 8.2 or later, gpg from GnuPG 2.2 or later)"
    )]
    Spawn {
        program: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("`{program}` failed: {stderr}")]
    Tool {
        program: &'static str,
        stderr: String,
    },
    #[error("{doing}: {}", path.display())]
    Io {
        doing: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(doing: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SignerError {
    let path = path.to_owned();
    move |source| SignerError::Io {
        doing,
        path,
        source,
    }
}

impl Repo {
    /// The signature of commit `id` and the bytes it signs, or `None` for an unsigned commit.
    pub fn commit_signature(&self, id: CommitId) -> Result<Option<CommitSignature>, GitError> {
        match self.repo.extract_signature(&id.0, None) {
            Ok((signature, payload)) => Ok(Some(CommitSignature {
                signature: signature.to_vec(),
                payload: payload.to_vec(),
            })),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(g(|| format!("reading the signature of commit {id}"))(e)),
        }
    }
}

/// The public keys allowed to sign, laid out for `ssh-keygen` and `gpg` in a private temp dir
/// (mode 0700) that is removed on drop.
pub struct Signers {
    dir: tempfile::TempDir,
    ssh: Option<PathBuf>,
    gpg: Option<GpgKeys>,
    /// sha256 of the keys as given (see [`Signers::fingerprint`]).
    fingerprint: String,
    /// No validity window in the allowed signers, no expiry on a gpg key.
    time_independent: bool,
    /// Names the signature files of concurrent checks apart.
    next: AtomicUsize,
}

impl std::fmt::Debug for Signers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signers")
            .field("ssh", &self.ssh.is_some())
            .field("gpg", &self.gpg.as_ref().map(|k| k.emails.len()))
            .finish()
    }
}

struct GpgKeys {
    home: PathBuf,
    /// Primary key fingerprint → the e-mails of its valid user IDs (lower case).
    emails: BTreeMap<String, Vec<String>>,
    /// Some key or subkey has an expiry date.
    expires: bool,
}

impl Signers {
    /// Prepares the allowed keys: `ssh`, the text of an allowed-signers file (checked line by
    /// line here, so a typo is an error naming the line rather than a key that silently never
    /// verifies); `gpg`, armored public keys (imported into a fresh keyring; at least one).
    pub fn new(ssh: Option<&[u8]>, gpg: Option<&[u8]>) -> Result<Signers, SignerError> {
        let ssh_text = ssh;
        let dir = tempfile::Builder::new()
            .prefix("kubectl-promote-keys-")
            .tempdir()
            .map_err(io(
                "creating a directory for the allowed keys",
                &std::env::temp_dir(),
            ))?;
        private(dir.path())?;
        let ssh = match ssh {
            None => None,
            Some(text) => {
                check_allowed_signers(text)?;
                let path = dir.path().join("allowed_signers");
                std::fs::write(&path, text).map_err(io("writing the allowed signers", &path))?;
                Some(path)
            }
        };
        let windowed = ssh_text.is_some_and(|t| {
            let t = String::from_utf8_lossy(t).to_ascii_lowercase();
            t.contains("valid-before") || t.contains("valid-after")
        });
        let gpg_keys = match gpg {
            None => None,
            Some(keys) => Some(GpgKeys::import(dir.path(), keys)?),
        };
        let fingerprint = {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            for part in [ssh_text, gpg] {
                match part {
                    Some(bytes) => {
                        h.update((bytes.len() as u64).to_le_bytes());
                        h.update(bytes);
                    }
                    None => h.update(u64::MAX.to_le_bytes()),
                }
            }
            hex::encode(h.finalize())
        };
        Ok(Signers {
            time_independent: !windowed && !gpg_keys.as_ref().is_some_and(|k| k.expires),
            dir,
            ssh,
            gpg: gpg_keys,
            fingerprint,
            next: AtomicUsize::new(0),
        })
    }

    /// The sha256 of the keys these signers were made from: what a cached result is valid for.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether a check's result depends only on the commit and these keys, not on the time of
    /// checking: no `valid-before`/`valid-after` in the allowed signers, no gpg key that
    /// expires. Only then may results be cached.
    pub fn time_independent(&self) -> bool {
        self.time_independent
    }

    /// Checks `sig` for each of `identities` in turn (the first good one wins).
    pub fn check(
        &self,
        sig: &CommitSignature,
        identities: &[&str],
    ) -> Result<Checked, SignerError> {
        let method = sig.method();
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let sig_file = self.dir.path().join(format!("signature-{n}"));
        let checked = match method {
            Method::Ssh => match &self.ssh {
                None => Checked::NoKeys { method },
                Some(allowed) => {
                    std::fs::write(&sig_file, &sig.signature)
                        .map_err(io("writing a signature to check", &sig_file))?;
                    ssh_check(allowed, &sig_file, &sig.payload, identities)?
                }
            },
            Method::Gpg => match &self.gpg {
                None => Checked::NoKeys { method },
                Some(keys) => {
                    std::fs::write(&sig_file, &sig.signature)
                        .map_err(io("writing a signature to check", &sig_file))?;
                    keys.check(&sig_file, &sig.payload, identities)?
                }
            },
            Method::Other => Checked::NoKeys { method },
        };
        let _ = std::fs::remove_file(&sig_file);
        Ok(checked)
    }
}

fn private(dir: &Path) -> Result<(), SignerError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("making the keys directory private", dir))?;
    }
    Ok(())
}

/// An identity we pass to a tool as one argument: no whitespace, control characters or commas
/// (a comma would read as a list of principals), not empty and not an option.
fn plain_identity(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('-')
        && !id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',')
}

fn run(program: &'static str, mut cmd: Command, stdin: &[u8]) -> Result<Output, SignerError> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| SignerError::Spawn { program, source })?;
    let mut input = child.stdin.take().expect("piped stdin");
    // A tool that exits early closes its stdin; its exit status says why, not the write.
    let _ = input.write_all(stdin);
    drop(input);
    child
        .wait_with_output()
        .map_err(|source| SignerError::Spawn { program, source })
}

fn ssh_check(
    allowed: &Path,
    sig_file: &Path,
    payload: &[u8],
    identities: &[&str],
) -> Result<Checked, SignerError> {
    for id in identities.iter().filter(|i| plain_identity(i)) {
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-Y", "verify", "-n", "git", "-f"])
            .arg(allowed)
            .arg("-I")
            .arg(id)
            .arg("-s")
            .arg(sig_file);
        let out = run("ssh-keygen", cmd, payload)?;
        if out.status.success() {
            // `Good "git" signature for ID with ED25519 key SHA256:…`
            let text = String::from_utf8_lossy(&out.stdout);
            let key = text
                .split(" key ")
                .nth(1)
                .map(|k| k.trim().to_owned())
                .unwrap_or_default();
            return Ok(Checked::Good {
                method: Method::Ssh,
                identity: (*id).to_owned(),
                key,
            });
        }
    }
    Ok(Checked::NotAllowed {
        method: Method::Ssh,
    })
}

impl GpgKeys {
    fn gpg(home: &Path) -> Command {
        let mut cmd = Command::new("gpg");
        cmd.arg("--homedir")
            .arg(home)
            .args(["--batch", "--no-tty", "--no-autostart", "--no-options"])
            .env_remove("GNUPGHOME");
        cmd
    }

    fn import(dir: &Path, keys: &[u8]) -> Result<GpgKeys, SignerError> {
        let home = dir.join("gnupg");
        std::fs::create_dir(&home).map_err(io("creating a private keyring", &home))?;
        private(&home)?;
        // An empty common.conf keeps GnuPG 2.4 from switching a new home to keyboxd (a daemon).
        let common = home.join("common.conf");
        std::fs::write(&common, b"").map_err(io("creating a private keyring", &common))?;
        let mut import = Self::gpg(&home);
        import.args(["--quiet", "--import"]);
        let out = run("gpg", import, keys)?;
        let mut list = Self::gpg(&home);
        list.args(["--with-colons", "--fixed-list-mode", "--list-keys"]);
        let listed = run("gpg", list, b"")?;
        let listed = String::from_utf8_lossy(&listed.stdout);
        let emails = parse_key_list(&listed);
        if emails.is_empty() {
            return Err(SignerError::NoGpgKeys {
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        // Field 7 of a `pub`/`sub` line is its expiry (empty: never).
        let expires = listed.lines().any(|l| {
            let f: Vec<&str> = l.split(':').collect();
            matches!(f.first(), Some(&"pub" | &"sub")) && f.get(6).is_some_and(|e| !e.is_empty())
        });
        Ok(GpgKeys {
            home,
            emails,
            expires,
        })
    }

    fn check(
        &self,
        sig_file: &Path,
        payload: &[u8],
        identities: &[&str],
    ) -> Result<Checked, SignerError> {
        let mut cmd = Self::gpg(&self.home);
        cmd.args(["--status-fd", "1", "--verify"])
            .arg(sig_file)
            .arg("-");
        let out = run("gpg", cmd, payload)?;
        let status = String::from_utf8_lossy(&out.stdout);
        let not_allowed = Checked::NotAllowed {
            method: Method::Gpg,
        };
        // GOODSIG: good and made by a key that is neither expired nor revoked now; VALIDSIG's
        // last field is the primary key's fingerprint.
        let good = status.lines().any(|l| l.starts_with("[GNUPG:] GOODSIG "));
        let primary = status
            .lines()
            .find_map(|l| l.strip_prefix("[GNUPG:] VALIDSIG "))
            .and_then(|rest| rest.split_whitespace().last())
            .map(str::to_ascii_uppercase);
        let (true, Some(primary)) = (good && out.status.success(), primary) else {
            return Ok(not_allowed);
        };
        let Some(emails) = self.emails.get(&primary) else {
            return Ok(not_allowed);
        };
        for id in identities {
            let id = id.to_ascii_lowercase();
            if emails.contains(&id) {
                return Ok(Checked::Good {
                    method: Method::Gpg,
                    identity: id,
                    key: primary,
                });
            }
        }
        Ok(not_allowed)
    }
}

/// `gpg --with-colons --list-keys`: each primary key's fingerprint and the e-mails of its user
/// IDs that are not revoked or expired.
fn parse_key_list(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut want_fpr = false;
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        match f.first().copied() {
            Some("pub") => {
                current = None;
                // Field 2 is validity: r = revoked, e = expired, i = invalid.
                want_fpr = !matches!(f.get(1).copied(), Some("r" | "e" | "i"));
            }
            Some("sub") | Some("ssb") => want_fpr = false,
            Some("fpr") if want_fpr => {
                current = f.get(9).map(|s| s.to_ascii_uppercase());
                if let Some(c) = &current {
                    out.entry(c.clone()).or_default();
                }
                want_fpr = false;
            }
            Some("uid") => {
                let (Some(fpr), Some(validity), Some(uid)) = (&current, f.get(1), f.get(9)) else {
                    continue;
                };
                if matches!(*validity, "r" | "e" | "i") {
                    continue;
                }
                // `Name (comment) <e-mail>`; colons in the UID arrive as `\x3a`.
                let uid = uid.replace("\\x3a", ":");
                let email = match (uid.rfind('<'), uid.rfind('>')) {
                    (Some(a), Some(b)) if a < b => uid[a + 1..b].to_owned(),
                    _ if uid.contains('@') && !uid.contains(' ') => uid.clone(),
                    _ => continue,
                };
                out.entry(fpr.clone())
                    .or_default()
                    .push(email.to_ascii_lowercase());
            }
            _ => {}
        }
    }
    out.retain(|_, emails| !emails.is_empty());
    out
}

/// Key types an allowed-signers line may name (OpenSSH's, with the security-key variants).
const KEY_TYPES: [&str; 9] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-xmss@openssh.com",
];

/// Options an allowed-signers line may carry (ssh-keygen(1), "ALLOWED SIGNERS").
const OPTIONS: [&str; 4] = [
    "cert-authority",
    "namespaces",
    "valid-after",
    "valid-before",
];

/// Checks the text of an allowed-signers file: `principals [options] keytype base64 [comment]`
/// per line, `#` comments and blank lines allowed.
pub fn check_allowed_signers(text: &[u8]) -> Result<(), SignerError> {
    let err = |line: usize, problem: String| SignerError::AllowedSigners { line, problem };
    let text = std::str::from_utf8(text).map_err(|e| {
        let line = 1 + text[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        err(line, "is not UTF-8 text".into())
    })?;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split_fields(line).ok_or_else(|| err(n, "an unterminated quote".into()))?;
        let principals = fields[0].trim_matches('"');
        if principals.is_empty() || principals.split(',').any(str::is_empty) {
            return Err(err(n, "empty principal".into()));
        }
        let (options, rest) = match fields.get(1) {
            Some(t) if KEY_TYPES.contains(t) => (None, &fields[1..]),
            Some(t) => (Some(*t), &fields[2.min(fields.len())..]),
            None => (None, &fields[1..]),
        };
        if let Some(options) = options {
            for o in split_options(options) {
                let name = o.split('=').next().unwrap_or("").to_ascii_lowercase();
                if !OPTIONS.contains(&name.as_str()) {
                    return Err(err(
                        n,
                        format!(
                            "`{}` is neither a key type ({}) nor an option ({})",
                            o,
                            KEY_TYPES[..6].join(", "),
                            OPTIONS.join(", ")
                        ),
                    ));
                }
            }
        }
        let (Some(kind), Some(blob)) = (rest.first(), rest.get(1)) else {
            return Err(err(
                n,
                "no public key; a line reads `PRINCIPALS KEYTYPE BASE64`, e.g. `qa@example.com ssh-ed25519 AAAAC3Nz…` (the content of the .pub file after the principals)".into(),
            ));
        };
        if !KEY_TYPES.contains(kind) {
            return Err(err(n, format!("unknown key type `{kind}`")));
        }
        let base64 = blob.len() % 4 == 0
            && blob.len() >= 16
            && blob
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if !base64 {
            return Err(err(n, format!("the {kind} key is not base64")));
        }
    }
    Ok(())
}

/// Splits on spaces and tabs outside double quotes; `None` for an unterminated quote.
fn split_fields(line: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut start = None;
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => {
                quoted = !quoted;
                start.get_or_insert(i);
            }
            ' ' | '\t' if !quoted => {
                if let Some(s) = start.take() {
                    out.push(&line[s..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if quoted {
        return None;
    }
    if let Some(s) = start {
        out.push(&line[s..]);
    }
    Some(out)
}

/// Splits options on commas outside double quotes.
fn split_options(options: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in options.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&options[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&options[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIN8OSqYKq9/YSdgqx2dv7NhrIfrLFhbPnFcxa3XTtc3l";

    #[test]
    fn allowed_signers_lines_are_checked() {
        let ok = format!(
            "# QA\n\nqa@example.com ssh-ed25519 {KEY} quinn\nqa@example.com,github:qa-bot namespaces=\"git,file\",valid-after=\"20260101\" ssh-ed25519 {KEY}\n*@example.com cert-authority ssh-ed25519 {KEY}\n"
        );
        check_allowed_signers(ok.as_bytes()).unwrap();
        let line_of = |text: &str| match check_allowed_signers(text.as_bytes()) {
            Err(SignerError::AllowedSigners { line, problem }) => (line, problem),
            other => panic!("{other:?}"),
        };
        assert_eq!(line_of(&format!("# ok\nqa@example.com {KEY}\n")).0, 2);
        assert!(
            line_of("qa@example.com ssh-ed25519\n")
                .1
                .contains("no public key")
        );
        assert!(
            line_of(&format!("qa@example.com ssh-ed448 {KEY}\n"))
                .1
                .contains("neither a key type")
        );
        assert!(
            line_of("qa@example.com ssh-ed25519 not*base64!\n")
                .1
                .contains("not base64")
        );
        assert!(
            line_of(&format!(
                "qa@example.com namespaces=\"git ssh-ed25519 {KEY}\n"
            ))
            .1
            .contains("quote")
        );
        assert!(
            line_of(&format!("qa@example.com,,x ssh-ed25519 {KEY}\n"))
                .1
                .contains("empty principal")
        );
    }

    #[test]
    fn gpg_key_lists_map_fingerprints_to_emails() {
        let list = "tru::1:1700000000:0:3:1:5\n\
pub:u:255:22:AAAA1111:1700000000:::u:::scSC::::::23::0:\n\
fpr:::::::::ABCDEF0123456789ABCDEF0123456789ABCDEF01:\n\
uid:u::::1700000000::HASH::Quinn QA <QA@example.com>::::::::::0:\n\
uid:r::::1700000000::HASH::Old <old@example.com>::::::::::0:\n\
sub:u:255:18:BBBB2222:1700000000::::::e::::::23:\n\
fpr:::::::::1111111111111111111111111111111111111111:\n\
pub:r:255:22:CCCC3333:1700000000:::u:::sc::::::23::0:\n\
fpr:::::::::2222222222222222222222222222222222222222:\n\
uid:u::::1700000000::HASH::Revoked Key <pm@example.com>::::::::::0:\n";
        let map = parse_key_list(list);
        assert_eq!(
            map,
            BTreeMap::from([(
                "ABCDEF0123456789ABCDEF0123456789ABCDEF01".to_owned(),
                vec!["qa@example.com".to_owned()]
            )])
        );
    }

    #[test]
    fn results_round_trip_through_cache_lines() {
        for c in [
            Checked::Good {
                method: Method::Ssh,
                identity: "qa@example.com".into(),
                key: "SHA256:abc+/=".into(),
            },
            Checked::NotAllowed {
                method: Method::Gpg,
            },
            Checked::NoKeys {
                method: Method::Other,
            },
        ] {
            assert_eq!(Checked::from_line(&c.to_line()), Some(c.clone()), "{c:?}");
        }
        for bad in [
            "",
            "good ssh",
            "good ssh a,b k",
            "good ssh id k extra",
            "maybe ssh",
            "no-keys x509",
        ] {
            assert_eq!(Checked::from_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn results_of_keys_with_validity_windows_are_not_cacheable() {
        let line = format!("qa@example.com ssh-ed25519 {KEY}\n");
        let plain = Signers::new(Some(line.as_bytes()), None).unwrap();
        assert!(plain.time_independent());
        let windowed = format!("qa@example.com valid-before=\"20300101\" ssh-ed25519 {KEY}\n");
        let windowed = Signers::new(Some(windowed.as_bytes()), None).unwrap();
        assert!(!windowed.time_independent());
        assert_ne!(plain.fingerprint(), windowed.fingerprint());
        assert_ne!(
            plain.fingerprint(),
            Signers::new(None, None).unwrap().fingerprint()
        );
    }

    #[test]
    fn identities_passed_to_tools_are_plain() {
        assert!(plain_identity("qa@example.com"));
        assert!(plain_identity("github:qa-bot"));
        for bad in ["", "-Ofoo", "a b", "a,b", "a\nb"] {
            assert!(!plain_identity(bad), "{bad:?}");
        }
    }
}

/// Signed commits made by git itself (ssh signing, keys from `ssh-keygen`), checked here.
#[cfg(test)]
mod signed_commits {
    use super::*;

    struct Fixture {
        dir: tempfile::TempDir,
        repo: Repo,
    }

    fn succeeded(out: &Output) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let git = |args: &[&str]| {
                let out = Command::new("git")
                    .current_dir(dir.path())
                    .env("GIT_CONFIG_NOSYSTEM", "1")
                    .env("HOME", dir.path())
                    .args(args)
                    .output()
                    .unwrap();
                succeeded(&out);
            };
            git(&["init", "--quiet", "repo"]);
            let repo = Repo::open(&dir.path().join("repo/.git")).unwrap();
            Fixture { dir, repo }
        }

        /// A new ed25519 key: (private key path, public key line).
        fn key(&self, name: &str) -> (PathBuf, String) {
            let path = self.dir.path().join(name);
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
                .arg(&path)
                .output()
                .unwrap();
            succeeded(&out);
            let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
            (path, public.trim().to_owned())
        }

        /// An empty commit by git, signed with `key` (or unsigned).
        fn commit(&self, key: Option<&Path>, message: &str) -> CommitId {
            let mut cmd = Command::new("git");
            cmd.current_dir(self.dir.path().join("repo"))
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("HOME", self.dir.path())
                .args(["-c", "user.name=Quinn", "-c", "user.email=qa@example.com"]);
            if let Some(key) = key {
                cmd.args(["-c", "gpg.format=ssh", "-c"])
                    .arg(format!("user.signingkey={}", key.display()))
                    .arg("-c")
                    .arg("commit.gpgsign=true");
            }
            let out = cmd
                .args(["commit", "--quiet", "--allow-empty", "-m", message])
                .output()
                .unwrap();
            succeeded(&out);
            self.repo.resolve("HEAD").unwrap()
        }
    }

    #[test]
    fn an_ssh_signature_is_good_only_for_the_principals_its_key_is_allowed_for() {
        let f = Fixture::new();
        let (qa_key, qa_pub) = f.key("qa");
        let (other_key, _) = f.key("other");
        let allowed = format!("qa@example.com,github:qa-bot {qa_pub}\n");
        let signers = Signers::new(Some(allowed.as_bytes()), None).unwrap();

        let unsigned = f.commit(None, "unsigned");
        assert!(f.repo.commit_signature(unsigned).unwrap().is_none());

        let signed = f.commit(Some(&qa_key), "signed");
        let sig = f.repo.commit_signature(signed).unwrap().unwrap();
        assert_eq!(sig.method(), Method::Ssh);
        match signers.check(&sig, &["qa@example.com"]).unwrap() {
            Checked::Good {
                method,
                identity,
                key,
            } => {
                assert_eq!((method, identity.as_str()), (Method::Ssh, "qa@example.com"));
                assert!(key.starts_with("SHA256:"), "{key}");
            }
            other => panic!("{other:?}"),
        }
        // The first identity the key is allowed for wins; others are tried in turn.
        assert!(matches!(
            signers.check(&sig, &["mallory@example.com", "github:qa-bot"]).unwrap(),
            Checked::Good { identity, .. } if identity == "github:qa-bot"
        ));
        assert_eq!(
            signers.check(&sig, &["pm@example.com"]).unwrap(),
            Checked::NotAllowed {
                method: Method::Ssh
            }
        );
        // A key nobody listed.
        let stranger = f.commit(Some(&other_key), "by a stranger");
        let sig = f.repo.commit_signature(stranger).unwrap().unwrap();
        assert_eq!(
            signers.check(&sig, &["qa@example.com"]).unwrap(),
            Checked::NotAllowed {
                method: Method::Ssh
            }
        );
        // Signed bytes that were changed after signing.
        let mut tampered = f.repo.commit_signature(signed).unwrap().unwrap();
        tampered
            .payload
            .extend_from_slice(b"\nPromote-By-Verified: true\n");
        assert_eq!(
            signers.check(&tampered, &["qa@example.com"]).unwrap(),
            Checked::NotAllowed {
                method: Method::Ssh
            }
        );
        // No ssh keys given at all.
        let none = Signers::new(None, None).unwrap();
        let sig = f.repo.commit_signature(signed).unwrap().unwrap();
        assert_eq!(
            none.check(&sig, &["qa@example.com"]).unwrap(),
            Checked::NoKeys {
                method: Method::Ssh
            }
        );
    }

    #[test]
    fn key_validity_is_judged_when_checking() {
        let f = Fixture::new();
        let (key, public) = f.key("qa");
        let signed = f.commit(Some(&key), "signed");
        let sig = f.repo.commit_signature(signed).unwrap().unwrap();
        // The key was retired before now: its signatures no longer verify, whatever the
        // commit's date says.
        let retired = format!("qa@example.com valid-before=\"20200101\" {public}\n");
        let signers = Signers::new(Some(retired.as_bytes()), None).unwrap();
        assert_eq!(
            signers.check(&sig, &["qa@example.com"]).unwrap(),
            Checked::NotAllowed {
                method: Method::Ssh
            }
        );
    }
}
