//! The real `cosign` (sigstore's Go module, pinned and built by `scripts/go-tools.sh`) against a
//! [`Registry`]: key pairs, signatures and SLSA provenance attestations, made exactly as a
//! release pipeline makes them, offline (`--tlog-upload=false`: no Rekor, no Fulcio).

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::registry::Registry;

/// `cosign` from PATH, else from the tools cache `scripts/go-tools.sh` fills.
pub fn cosign() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = std::env::split_paths(&path)
        .map(|d| d.join("cosign"))
        .find(|p| p.is_file());
    let cached = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".cache/kubectl-promote-dev/bin/cosign"))
        .filter(|p| p.is_file());
    on_path
        .or(cached)
        .expect("cosign not found: run `bash scripts/go-tools.sh` and `source scripts/env.sh`")
}

/// Where cosign keeps a signature or attestation in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// cosign's tags, `sha256-<hex>.sig` / `.att` (its default).
    Tags,
    /// An OCI referrer: a cosign signature manifest whose `subject` is the digest
    /// (`--registry-referrers-mode=oci-1-1`, which cosign 2 gates behind
    /// `COSIGN_EXPERIMENTAL=1`; signatures only).
    Referrer,
    /// An OCI referrer holding a Sigstore bundle (`--new-bundle-format`).
    Bundle,
}

impl Storage {
    fn args(self) -> &'static [&'static str] {
        match self {
            Storage::Tags => &[],
            Storage::Referrer => &["--registry-referrers-mode=oci-1-1"],
            Storage::Bundle => &["--new-bundle-format"],
        }
    }
}

/// A cosign key pair (empty password) in a directory of its own.
#[derive(Debug)]
pub struct KeyPair {
    dir: TempDir,
}

impl KeyPair {
    /// `cosign generate-key-pair` with `COSIGN_PASSWORD=""`.
    pub fn generate() -> KeyPair {
        let dir = tempfile::Builder::new()
            .prefix("promote-cosign-")
            .tempdir()
            .expect("tempdir");
        run(dir.path(), &["generate-key-pair"]);
        KeyPair { dir }
    }

    /// The public key's PEM text (`cosign.pub`).
    pub fn public_pem(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cosign.pub")).expect("cosign.pub")
    }

    fn key(&self) -> String {
        self.dir
            .path()
            .join("cosign.key")
            .to_str()
            .expect("utf-8")
            .to_owned()
    }

    /// `cosign sign --key cosign.key --tlog-upload=false HOST/repo@digest` (the digest `tag`
    /// names now).
    pub fn sign(&self, registry: &Registry, repo: &str, tag: &str) {
        self.sign_in(registry, (repo, tag), Storage::Tags);
    }

    /// [`KeyPair::sign`], with the signature kept as `storage` says.
    pub fn sign_in(&self, registry: &Registry, (repo, tag): (&str, &str), storage: Storage) {
        let reference = format!("{}/{repo}@{}", registry.host(), registry.digest(repo, tag));
        self.run_keyed(&["sign"], storage, &reference);
    }

    /// `cosign attest --type slsaprovenance --predicate FILE` of `repo:tag`'s digest, with a
    /// SLSA v0.2 predicate built from `repo_url`, `git_ref` and `revision`.
    pub fn attest_provenance(
        &self,
        registry: &Registry,
        image: (&str, &str),
        source: (&str, &str, &str),
    ) {
        self.attest_provenance_in(registry, image, source, Storage::Tags);
    }

    /// [`KeyPair::attest_provenance`], kept as `storage` says (not [`Storage::Referrer`]:
    /// `cosign attest` has no such mode).
    pub fn attest_provenance_in(
        &self,
        registry: &Registry,
        (repo, tag): (&str, &str),
        (repo_url, git_ref, revision): (&str, &str, &str),
        storage: Storage,
    ) {
        assert_ne!(
            storage,
            Storage::Referrer,
            "cosign attest has no oci-1-1 mode"
        );
        let reference = format!("{}/{repo}@{}", registry.host(), registry.digest(repo, tag));
        let predicate = format!(
            r#"{{"builder": {{"id": "{repo_url}/.github/workflows/release.yml@{git_ref}"}},
  "buildType": "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
  "invocation": {{"configSource": {{"uri": "git+{repo_url}@{git_ref}", "digest": {{"sha1": "{revision}"}}, "entryPoint": ".github/workflows/release.yml"}}}},
  "materials": [{{"uri": "git+{repo_url}@{git_ref}", "digest": {{"sha1": "{revision}"}}}}]}}"#
        );
        let file = self.dir.path().join("predicate.json");
        std::fs::write(&file, predicate).expect("write predicate");
        let predicate = ["--type", "slsaprovenance", "--predicate"];
        let command = [
            &["attest"][..],
            &predicate,
            &[file.to_str().expect("utf-8")],
        ]
        .concat();
        self.run_keyed(&command, storage, &reference);
    }
}

impl KeyPair {
    /// `cosign COMMAND --key cosign.key --tlog-upload=false … REFERENCE`, stored as `storage`
    /// says, against the test's plain-HTTP registry.
    fn run_keyed(&self, command: &[&str], storage: Storage, reference: &str) {
        let key = self.key();
        let mut args = command.to_vec();
        args.extend_from_slice(&[
            "--key",
            &key,
            "--tlog-upload=false",
            "--allow-insecure-registry",
            "--yes",
        ]);
        args.extend_from_slice(storage.args());
        args.push(reference);
        run(self.dir.path(), &args);
    }
}

fn run(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(cosign())
        .args(args)
        .current_dir(dir)
        .env("COSIGN_PASSWORD", "")
        // No sigstore TUF cache or config of the user's, and no network use by default.
        .env("HOME", dir)
        .env("TUF_ROOT", dir.join(".sigstore"))
        // Only the referrers mode needs it (cosign 2 calls oci-1-1 experimental).
        .env(
            "COSIGN_EXPERIMENTAL",
            if args.iter().any(|a| a.contains("oci-1-1")) {
                "1"
            } else {
                "0"
            },
        )
        .output()
        .expect("running cosign");
    assert!(
        out.status.success(),
        "cosign {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
