//! Go policy modules for tests and benchmarks, built with the real Go toolchain
//! (`GOOS=wasip1 GOARCH=wasm go build`), once per source: the module and its sidecar
//! `promote-policy.yaml` land in `<target dir>/go-policies/<name>-<hash>/`, where the hash covers
//! the policy's files, the Go SDK (`sdk/go`) and `go version`, so repeated runs reuse them and
//! any change rebuilds. Go missing is a test failure with a message, never a silent pass: CI has
//! Go (`scripts/setup.sh` requires it).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::repo::workspace_root;

/// Flags that make the build reproducible: no local paths and no VCS stamp in the module, so
/// the same source and toolchain give the same bytes (and sha256 pin) on every machine.
pub const GO_BUILD_FLAGS: &[&str] = &["-trimpath", "-buildvcs=false"];

/// The Go qa-approved example (`examples/policies/go/qa-approved`), built; see [`go_policy`].
pub fn go_qa_approved() -> PathBuf {
    go_policy(&workspace_root().join("examples/policies/go/qa-approved"))
}

/// Builds the Go policy in `dir` (a `main` package with a `promote-policy.yaml`) to WASI, or
/// reuses the build of identical sources. Returns the `.wasm`; its sidecar is beside it.
///
/// # Panics
/// When `go` is not installed or the build fails, with what to do about it.
pub fn go_policy(dir: &Path) -> PathBuf {
    let version = Command::new("go").arg("version").output().unwrap_or_else(|e| {
        panic!(
            "the Go policy tests need the Go toolchain (1.21+, for GOOS=wasip1), and running `go version` failed: {e}. \
             Install Go 1.26 (https://go.dev/dl) and put it on PATH; CI installs it before scripts/setup.sh"
        )
    });
    assert!(
        version.status.success(),
        "`go version` failed: {}",
        String::from_utf8_lossy(&version.stderr)
    );
    let mut h = DefaultHasher::new();
    version.stdout.hash(&mut h);
    GO_BUILD_FLAGS.hash(&mut h);
    hash_tree(dir, dir, &mut h);
    let sdk = workspace_root().join("sdk/go");
    hash_tree(&sdk, &sdk, &mut h);
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("policy");
    let out_dir = target_dir()
        .join("go-policies")
        .join(format!("{name}-{:016x}", h.finish()));
    let wasm = out_dir.join("policy.wasm");
    if wasm.is_file() && out_dir.join("promote-policy.yaml").is_file() {
        return wasm;
    }
    let tmp = go_build(dir, &out_dir, &[("GOOS", "wasip1"), ("GOARCH", "wasm")]);
    std::fs::copy(
        dir.join("promote-policy.yaml"),
        out_dir.join("promote-policy.yaml"),
    )
    .unwrap();
    tmp.persist(&wasm).unwrap();
    wasm
}

/// `tests/referrers-registry` built (native, with `go build`, once per source and Go version,
/// under `<target>/go-tools/`): go-containerregistry's registry with the OCI referrers API on,
/// which `crane registry serve` (the same registry) leaves off. Start it with
/// [`crate::registry::Registry::start_program`].
pub fn referrers_registry() -> PathBuf {
    go_tool("referrers-registry")
}

/// `tests/keyless-signer` built as [`referrers_registry`] is: a throw-away Fulcio-and-Rekor
/// stand-in that signs image digests keylessly (see [`crate::keyless`]).
pub fn keyless_signer() -> PathBuf {
    go_tool("keyless-signer")
}

/// The native Go program `tests/<name>`, built once per source and Go version.
fn go_tool(name: &str) -> PathBuf {
    let dir = workspace_root().join("tests").join(name);
    let version = Command::new("go")
        .arg("version")
        .output()
        .unwrap_or_else(|e| {
            panic!("tests/{name} is built with Go: install Go 1.26 and put it on PATH ({e})")
        });
    let mut h = DefaultHasher::new();
    version.stdout.hash(&mut h);
    hash_tree(&dir, &dir, &mut h);
    let out_dir = target_dir().join("go-tools");
    let bin = out_dir.join(format!("{name}-{:016x}", h.finish()));
    if bin.is_file() {
        return bin;
    }
    let tmp = go_build(&dir, &out_dir, &[]);
    tmp.persist(&bin)
        .unwrap_or_else(|e| panic!("persist the build of tests/{name}: {e}"));
    bin
}

/// `go build` of the main package in `dir` (with `env`, CGO off) into a temp file in
/// `out_dir`, for the caller to rename into place: a concurrent test never sees half a build.
fn go_build(dir: &Path, out_dir: &Path, env: &[(&str, &str)]) -> tempfile::TempPath {
    std::fs::create_dir_all(out_dir).expect("mkdir for a Go build");
    let tmp = tempfile::Builder::new()
        .prefix(".build-")
        .tempfile_in(out_dir)
        .expect("temp file")
        .into_temp_path();
    let built = Command::new("go")
        .arg("build")
        .args(GO_BUILD_FLAGS)
        .arg("-o")
        .arg(&tmp)
        .arg(".")
        .current_dir(dir)
        .envs(env.iter().copied())
        .env("CGO_ENABLED", "0")
        .output()
        .unwrap_or_else(|e| panic!("running go build in {}: {e}", dir.display()));
    assert!(
        built.status.success(),
        "go build ({env:?}) in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&built.stderr)
    );
    tmp
}

/// A compiled-module cache root for tests that load Go modules (`<target>/go-policies/compiled`):
/// a Go module takes seconds to compile in a debug build, so tests share one compile per engine
/// configuration instead of paying it in every test.
pub fn compiled_cache() -> PathBuf {
    target_dir().join("go-policies").join("compiled")
}

/// The files that make up a Go policy: go.mod, go.sum, *.go and the sidecar, by relative path.
fn hash_tree(root: &Path, dir: &Path, h: &mut DefaultHasher) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        // `cases` is a link to test data, not source.
        if p.is_dir() && !p.is_symlink() {
            hash_tree(root, &p, h);
        } else if p.is_file()
            && (name.ends_with(".go")
                || matches!(name, "go.mod" | "go.sum" | "promote-policy.yaml"))
        {
            p.strip_prefix(root).unwrap().hash(h);
            std::fs::read(&p).unwrap().hash(h);
        }
    }
}

/// `<target>` from the running test or bench executable (`<target>/<profile>/deps/<exe>`): where
/// tests keep build outputs that outlive a run (Go modules, generated policy projects' builds).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.ancestors().nth(3).map_or_else(
        || std::env::temp_dir().join("promote-go-policies"),
        Path::to_path_buf,
    )
}
