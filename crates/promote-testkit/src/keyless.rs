//! Keyless cosign signatures for tests, made offline by `tests/keyless-signer` (Go, built by
//! [`crate::go::keyless_signer`]): each [`Sigstore`] is a fresh throw-away root CA,
//! intermediate and Rekor key, written as a Sigstore `trusted_root.json`; [`Sigstore::sign`]
//! issues a 10-minute Fulcio-style certificate for an OIDC identity, signs the digest a tag
//! names, makes the Rekor entry and its signed entry timestamp, and pushes cosign's `.sig`
//! manifest to the registry, exactly as `cosign sign` with Fulcio and Rekor lays it out, or
//! ([`Form::Bundle`]) a Sigstore bundle with an inclusion proof as an OCI referrer, as
//! `cosign sign --new-bundle-format` does. [`Sigstore::cosign_verify`] runs the real `cosign
//! verify` on the result.

use std::process::Command;

use tempfile::TempDir;

use crate::registry::Registry;

/// GitHub Actions' OIDC issuer, as Fulcio puts it in certificates.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// A release workflow's identity (the certificate's URI SAN).
pub const RELEASE_WORKFLOW: &str =
    "https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main";

/// What to break in a signature, to test that it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    None,
    /// Flip a bit of the Rekor signed entry timestamp.
    Set,
    /// The certificate is issued by a CA outside the trusted root (the log is the trusted one).
    ForeignCa,
    /// Alter one hash of the bundle's inclusion proof ([`Form::Bundle`] only).
    Proof,
}

/// Where the signature goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// cosign's `.sig` tag, with the certificate and Rekor bundle annotations.
    Sig,
    /// A Sigstore bundle (with an inclusion proof and checkpoint) pushed as an OCI referrer of
    /// the digest, as `cosign sign --new-bundle-format` does (the referrers fallback tag where
    /// the registry has no referrers API).
    Bundle,
}

/// One run of the signer: its trusted root and, when it signed, the `.sig` it pushed.
#[derive(Debug)]
pub struct Sigstore {
    dir: TempDir,
}

impl Sigstore {
    /// A fresh CA and Rekor key that sign nothing (a root some other party uses).
    pub fn new() -> Sigstore {
        let dir = scratch();
        run(&[
            "-out",
            dir.path().to_str().expect("utf-8"),
            "-subject",
            "x@example.com",
            "-issuer",
            GITHUB_ISSUER,
        ]);
        Sigstore { dir }
    }

    /// A fresh CA and Rekor key that sign `repo:tag`'s digest in `registry` as `subject` from
    /// `issuer` (a `.sig`), with `tamper` applied.
    pub fn sign(
        registry: &Registry,
        image: (&str, &str),
        identity: (&str, &str),
        tamper: Tamper,
    ) -> Sigstore {
        Sigstore::sign_as(registry, image, identity, (Form::Sig, tamper))
    }

    /// [`Sigstore::sign`], in the `form` given.
    pub fn sign_as(
        registry: &Registry,
        (repo, tag): (&str, &str),
        (issuer, subject): (&str, &str),
        (form, tamper): (Form, Tamper),
    ) -> Sigstore {
        let dir = scratch();
        let image = format!("{}/{repo}@{}", registry.host(), registry.digest(repo, tag));
        let mut args = vec![
            "-out",
            dir.path().to_str().expect("utf-8"),
            "-subject",
            subject,
            "-issuer",
            issuer,
            "-image",
            &image,
        ];
        match tamper {
            Tamper::None => {}
            Tamper::Set => args.extend_from_slice(&["-tamper", "set"]),
            Tamper::ForeignCa => args.extend_from_slice(&["-tamper", "ca"]),
            Tamper::Proof => args.extend_from_slice(&["-tamper", "proof"]),
        }
        if form == Form::Bundle {
            args.push("-bundle");
        }
        run(&args);
        Sigstore { dir }
    }

    /// The real `cosign verify` of `repo:tag`'s digest against this run's trust, offline, for
    /// the identity `(issuer, subject)` (SCTs ignored: the stand-in CA writes none): `Err` with
    /// cosign's output when it refuses. A bundle is checked with `--trusted-root`; a `.sig` with
    /// cosign's older `SIGSTORE_ROOT_FILE` and `SIGSTORE_REKOR_PUBLIC_KEY` (cosign takes a trusted
    /// root only with the new bundle format).
    pub fn cosign_verify(
        &self,
        registry: &Registry,
        (repo, tag): (&str, &str),
        (issuer, subject): (&str, &str),
        form: Form,
    ) -> Result<(), String> {
        let image = format!("{}/{repo}@{}", registry.host(), registry.digest(repo, tag));
        let file = |name: &str| self.dir.path().join(name);
        let mut command = Command::new(crate::cosign::cosign());
        command
            .args(["verify", "--certificate-identity", subject])
            .args(["--certificate-oidc-issuer", issuer, "--insecure-ignore-sct"])
            .args(["--allow-insecure-registry", "--allow-http-registry"])
            .env("HOME", self.dir.path())
            .env("TUF_ROOT", file(".sigstore"));
        match form {
            Form::Bundle => {
                command
                    .args(["--new-bundle-format", "--trusted-root"])
                    .arg(file("trusted_root.json"));
            }
            Form::Sig => {
                command
                    .arg("--offline")
                    .env("SIGSTORE_ROOT_FILE", file("fulcio.pem"))
                    .env("SIGSTORE_REKOR_PUBLIC_KEY", file("rekor.pub"));
            }
        }
        let out = command.arg(&image).output().expect("running cosign verify");
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The `trusted_root.json` naming this run's CA and Rekor key.
    pub fn trusted_root(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("trusted_root.json"))
            .expect("trusted_root.json")
    }
}

impl Default for Sigstore {
    fn default() -> Self {
        Sigstore::new()
    }
}

fn scratch() -> TempDir {
    tempfile::Builder::new()
        .prefix("promote-keyless-")
        .tempdir()
        .expect("tempdir")
}

fn run(args: &[&str]) {
    let out = Command::new(crate::go::keyless_signer())
        .args(args)
        .output()
        .expect("running tests/keyless-signer");
    assert!(
        out.status.success(),
        "keyless-signer {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
