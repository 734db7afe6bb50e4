//! Rego policies for tests: `opa build -t wasm` of a directory or of inline sources, with the
//! real `opa` (pinned by `scripts/go-tools.sh`, on PATH after `source scripts/env.sh`).
//!
//! Bundles are cached under the target directory (outside the clone) by the SHA-256 of the
//! sources, the entrypoints and `opa version`, so a test run builds each one once. A missing
//! `opa` fails the test with what to run; it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

/// What to run when `opa` is missing.
const HOW: &str = "install it with `bash scripts/go-tools.sh`, then `source scripts/env.sh` to put it on PATH";

/// `opa version`, or a panic saying how to get opa.
pub fn opa_version() -> String {
    let out = Command::new("opa").arg("version").output().unwrap_or_else(|e| {
        panic!("the Rego policy tests need `opa` (v1.22.3) on PATH and could not run it ({e}); {HOW}")
    });
    assert!(out.status.success(), "`opa version` failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the bundle of the policy directory `dir` (as `opa build -b .` run inside it, tests
/// ignored), with the given entrypoints; returns the cached `bundle.tar.gz`.
pub fn build_dir(dir: &Path, entrypoints: &[&str]) -> PathBuf {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    collect(dir, dir, &mut files);
    files.sort();
    build(&files, entrypoints, Some(dir))
}

/// Builds a bundle from inline files (`("policy.rego", "package promote ...")`, `(".manifest", ...)`).
pub fn build_files(files: &[(&str, &str)], entrypoints: &[&str]) -> PathBuf {
    let mut owned: Vec<(String, Vec<u8>)> =
        files.iter().map(|(n, t)| ((*n).to_owned(), t.as_bytes().to_vec())).collect();
    owned.sort();
    build(&owned, entrypoints, None)
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("reading the policy directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("below root").to_string_lossy().into_owned();
            out.push((rel, std::fs::read(&path).expect("reading a policy file")));
        }
    }
}

fn build(files: &[(String, Vec<u8>)], entrypoints: &[&str], dir: Option<&Path>) -> PathBuf {
    let version = opa_version();
    let mut h = Sha256::new();
    h.update(version.as_bytes());
    for e in entrypoints {
        h.update(b"\0e\0");
        h.update(e.as_bytes());
    }
    for (name, bytes) in files {
        h.update(b"\0f\0");
        h.update(name.as_bytes());
        h.update(b"\0");
        h.update(bytes);
    }
    let key = hex(&h.finalize()[..12]);
    let cache = cache_root().join(&key);
    let bundle = cache.join("bundle.tar.gz");
    if bundle.is_file() {
        return bundle;
    }
    std::fs::create_dir_all(&cache).expect("creating the bundle cache");
    // Build in a scratch copy so the bundle's file names (and so its digest) do not depend on
    // where the sources live.
    let scratch = tempfile::tempdir_in(&cache).expect("scratch dir");
    let src = scratch.path().join("src");
    match dir {
        Some(d) => copy_dir(d, &src),
        None => {
            for (name, bytes) in files {
                let p = src.join(name);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, bytes).unwrap();
            }
        }
    }
    let out = scratch.path().join("bundle.tar.gz");
    let mut cmd = Command::new("opa");
    cmd.current_dir(&src).args(["build", "-t", "wasm"]);
    for e in entrypoints {
        cmd.args(["-e", e]);
    }
    cmd.args(["-b", ".", "--ignore", "*_test.rego", "--ignore", "cases", "-o"]).arg(&out);
    let run = cmd.output().unwrap_or_else(|e| panic!("running opa build: {e}; {HOW}"));
    assert!(
        run.status.success(),
        "opa build failed in {}:\n{}{}",
        dir.map_or_else(|| "inline sources".to_owned(), |d| d.display().to_string()),
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    // Concurrent tests may race to the same key; the rename is atomic and the bytes identical.
    std::fs::rename(&out, &bundle).expect("moving the bundle into the cache");
    bundle
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).unwrap();
        }
    }
}

/// `<target>/opa-bundles`: the test executable lives in `<target>/<profile>/deps/`.
fn cache_root() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors()
        .nth(3)
        .map_or_else(std::env::temp_dir, Path::to_path_buf)
        .join("opa-bundles")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
