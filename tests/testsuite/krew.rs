//! krew, for real: policy modules packaged by `kubectl promote policy package`, installed with
//! the pinned krew (`scripts/go-tools.sh` builds `kubectl-krew` v0.4.3) into a temp `KREW_ROOT`,
//! found by `policy list`, used by a promotion as `module: krew:NAME`, refused once tampered
//! with, and missed once uninstalled; `kubectl-promote` itself installed from
//! `krew-manifest.yaml` and run through krew's link; and shell completion through kubectl's
//! plugin completion hook (`kubectl_complete-promote`).
//!
//! Hermetic: temp `HOME` and `KREW_ROOT`, `KREW_NO_UPGRADE_CHECK`, no krew-index. krew v0.4.3
//! clones its default index only when a command needs an index and none is configured
//! (`install NAME`); `install --manifest` skips the index, but `uninstall` insists on at least
//! one index that is a git clone. So each test first adds the custom index `promote` from a
//! local git repository (`plugins/*.yaml`, the layout `scripts/package-policies.sh` writes),
//! and archives are served from 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use promote_testkit::repo::{GitOps, Run, workspace_root};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");
const TUESDAY: &str = "2026-11-24T09:00:00Z";

/// The directory holding `kubectl-krew`: PATH, else where scripts/go-tools.sh puts it.
fn krew_dir() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut places: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if let Some(t) = std::env::var_os("PROMOTE_TOOLS") {
        places.push(PathBuf::from(t));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    if let Some(c) = cache {
        places.push(c.join("kubectl-promote-dev/bin"));
    }
    places
        .into_iter()
        .find(|d| d.join("kubectl-krew").is_file())
        .expect("kubectl-krew not found on PATH nor in ~/.cache/kubectl-promote-dev/bin: run `bash scripts/go-tools.sh`")
}

/// PATH for the processes a test runs: `first` dirs, krew, then the test's own PATH without any
/// directory that holds another `kubectl-promote` (so kubectl finds the one meant).
pub(crate) fn path_with(first: &[&Path]) -> String {
    let own = std::env::var_os("PATH").unwrap_or_default();
    let rest = std::env::split_paths(&own).filter(|d| !d.join("kubectl-promote").exists());
    let dirs: Vec<PathBuf> = first
        .iter()
        .map(|p| p.to_path_buf())
        .chain([krew_dir()])
        .chain(rest)
        .collect();
    std::env::join_paths(dirs).unwrap().into_string().unwrap()
}

pub(crate) fn bin_dir() -> PathBuf {
    Path::new(BIN).parent().unwrap().to_path_buf()
}

fn krew_root(kit: &GitOps) -> PathBuf {
    kit.home.join(".krew")
}

/// A command run with the kit's hermetic environment and `path`.
fn cmd(kit: &GitOps, program: &str, dir: &Path, path: &str, args: &[&str]) -> Run {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(kit.env())
        .env("PATH", path)
        .env("KREW_NO_UPGRADE_CHECK", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// `kubectl promote …` through kubectl's plugin discovery (the debug binary's dir on PATH).
fn promote(kit: &GitOps, dir: &Path, args: &[&str]) -> Run {
    let path = path_with(&[&krew_root(kit).join("bin"), &bin_dir()]);
    let mut all = vec!["promote"];
    all.extend_from_slice(args);
    all.push("--color=never");
    let out = Command::new("kubectl")
        .args(&all)
        .current_dir(dir)
        .env_clear()
        .envs(kit.env())
        .env("PATH", path)
        .env("KUBECTL_PROMOTE_NOW", TUESDAY)
        .stdin(Stdio::null())
        .output()
        .expect("kubectl");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

fn krew(kit: &GitOps, args: &[&str]) -> Run {
    let path = path_with(&[&krew_root(kit).join("bin"), &bin_dir()]);
    let mut all = vec!["krew"];
    all.extend_from_slice(args);
    let run = cmd(kit, "kubectl", kit.root(), &path, &all);
    assert_eq!(
        run.code, 0,
        "kubectl krew {args:?}: {}{}",
        run.stdout, run.stderr
    );
    run
}

/// A git repository laid out as a krew index (`plugins/<name>.yaml`), added to krew as `promote`.
fn add_index(kit: &GitOps, manifests: &[&Path]) -> PathBuf {
    let index = kit.root().join("index-repo");
    std::fs::create_dir_all(index.join("plugins")).unwrap();
    std::fs::write(index.join("README.md"), "kubectl promote policies\n").unwrap();
    for m in manifests {
        std::fs::copy(m, index.join("plugins").join(m.file_name().unwrap())).unwrap();
    }
    kit.git_in(&index, &["init", "--quiet", "--initial-branch=main"]);
    kit.git_in(&index, &["add", "-A"]);
    kit.git_in(&index, &["commit", "--quiet", "-m", "index"]);
    krew(kit, &["index", "add", "promote", index.to_str().unwrap()]);
    index
}

/// Serves `file` over HTTP on 127.0.0.1 (every path) until the test ends; returns the base URL.
fn serve(file: PathBuf) -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let body = std::fs::read(&file).unwrap_or_default();
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
    });
    url
}

/// A policy directory holding a built-in module as `policy.wasm` and the project's LICENSE.
fn policy_dir(kit: &GitOps, builtin: &str) -> PathBuf {
    let dir = kit.root().join(format!("pkg-{builtin}"));
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = workspace_root().join(format!("crates/promote-policy/builtins/{builtin}.wasm"));
    std::fs::copy(wasm, dir.join("policy.wasm")).unwrap();
    std::fs::copy(workspace_root().join("LICENSE"), dir.join("LICENSE")).unwrap();
    dir
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn a_package_is_reproducible_complete_and_needs_a_license() {
    let kit = GitOps::new();
    let dir = policy_dir(&kit, "semver-guard");
    let a = promote(
        &kit,
        kit.root(),
        &[
            "policy",
            "package",
            dir.to_str().unwrap(),
            "--out-dir",
            "a",
            "-o",
            "json",
        ],
    );
    assert_eq!(a.code, 0, "{}{}", a.stdout, a.stderr);
    let doc: serde_json::Value = serde_json::from_str(&a.stdout).unwrap();
    assert_eq!(doc["plugin"], "promote-policy-semver-guard");
    assert_eq!(doc["version"], "v0.1.0");
    let b = promote(
        &kit,
        kit.root(),
        &[
            "policy",
            "package",
            dir.to_str().unwrap(),
            "--out-dir",
            "b",
            "--uri",
            "https://example.com/dl/{version}/",
        ],
    );
    assert_eq!(b.code, 0, "{}", b.stderr);
    let archive = "promote-policy-semver-guard-v0.1.0.tar.gz";
    let (x, y) = (
        std::fs::read(kit.root().join("a").join(archive)).unwrap(),
        std::fs::read(kit.root().join("b").join(archive)).unwrap(),
    );
    assert_eq!(
        x, y,
        "the same module and licence must give the same archive bytes"
    );
    assert_eq!(doc["sha256"], sha256_hex(&x));

    // The manifest carries the archive's real sha256 and krew's required fields.
    let manifest =
        std::fs::read_to_string(kit.root().join("b/promote-policy-semver-guard.yaml")).unwrap();
    for want in [
        "apiVersion: krew.googlecontainertools.github.com/v1alpha2",
        "kind: Plugin",
        "name: promote-policy-semver-guard",
        "version: v0.1.0",
        &format!("sha256: {}", sha256_hex(&x)),
        "uri: \"https://example.com/dl/v0.1.0/promote-policy-semver-guard-v0.1.0.tar.gz\"",
        "bin: promote-policy-semver-guard",
        "{key: os, operator: In, values: [darwin, linux]}",
    ] {
        assert!(
            manifest.contains(want),
            "manifest lacks {want:?}:\n{manifest}"
        );
    }

    // The archive: the metadata pinning the module, the module, the licence and the shim.
    let list = Command::new("tar")
        .args(["tzvf", kit.root().join("a").join(archive).to_str().unwrap()])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    let names: Vec<&str> = list
        .lines()
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "LICENSE",
            "policy.wasm",
            "promote-policy-semver-guard",
            "promote-policy.yaml"
        ],
        "{list}"
    );
    assert!(
        list.lines()
            .all(|l| l.contains("0/0") && l.contains("1970-01-01")),
        "fixed owners and times: {list}"
    );
    assert!(
        list.lines().nth(2).unwrap().starts_with("-rwxr-xr-x"),
        "the shim is executable: {list}"
    );
    let out = Command::new("tar")
        .args([
            "xzOf",
            kit.root().join("a").join(archive).to_str().unwrap(),
            "promote-policy.yaml",
            "promote-policy-semver-guard",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let module = std::fs::read(dir.join("policy.wasm")).unwrap();
    assert!(
        text.contains("module: policy.wasm")
            && text.contains(&format!("sha256: {}", sha256_hex(&module))),
        "{text}"
    );
    assert!(
        text.contains("name: \"semver-guard\"") && text.contains("operations: [\"promote\"]"),
        "{text}"
    );
    assert!(
        text.contains("# Metadata of a kubectl promote policy module")
            && text.contains("#!/bin/sh\n")
            && text.contains("exec kubectl-promote policy inspect krew:semver-guard \"$@\""),
        "{text}"
    );

    // Installed straight from the files (`--manifest --archive`: krew records index `detached`).
    let b = kit.root().join("b");
    krew(
        &kit,
        &[
            "install",
            &format!(
                "--manifest={}",
                b.join("promote-policy-semver-guard.yaml").display()
            ),
            &format!("--archive={}", b.join(archive).display()),
        ],
    );
    let inspect = promote(
        &kit,
        kit.root(),
        &["policy", "inspect", "krew:promote-policy-semver-guard"],
    );
    assert_eq!(inspect.code, 0, "{}{}", inspect.stdout, inspect.stderr);
    assert!(
        inspect
            .stdout
            .contains("origin:      krew:detached/semver-guard@v0.1.0"),
        "{}",
        inspect.stdout
    );

    // No LICENSE: refused, naming the file and the fix.
    std::fs::remove_file(dir.join("LICENSE")).unwrap();
    let no = promote(
        &kit,
        kit.root(),
        &["policy", "package", dir.to_str().unwrap(), "--out-dir", "c"],
    );
    assert_eq!(no.code, 2, "{}", no.stderr);
    assert!(
        no.stderr
            .contains(&format!("{}: missing", dir.join("LICENSE").display()))
            && no.stderr.contains("--license FILE"),
        "{}",
        no.stderr
    );
    assert!(!kit.root().join("c").exists(), "nothing written");
    // A version krew would refuse.
    std::fs::write(dir.join("LICENSE"), "MIT").unwrap();
    let bad = promote(
        &kit,
        kit.root(),
        &[
            "policy",
            "package",
            dir.to_str().unwrap(),
            "--version",
            "1.2",
            "--out-dir",
            "c",
        ],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains("`1.2` (from --version) is not a semantic version"),
        "{}",
        bad.stderr
    );
}

#[test]
fn krew_installs_a_policy_promotions_use_it_and_tampering_or_uninstalling_is_refused() {
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    let config =
        std::fs::read_to_string(workspace_root().join("examples/gitops/promote.yaml")).unwrap();
    let config = config.replacen(
        "    mode: direct\n",
        "    mode: direct\n    policies:\n      promote:\n        - module: krew:semver-guard\n",
        1,
    );
    kit.put("promote.yaml", &config)
        .commit("staging: semver-guard from krew");
    let me = kit.clone.clone();

    // Not installed yet: the promotion names the plugin and the install command.
    let missing = promote(&kit, &me, &["staging", "v1.0.1", "--dry-run"]);
    assert_eq!(missing.code, 1, "{}{}", missing.stdout, missing.stderr);
    assert!(
        missing
            .stderr
            .contains("the krew plugin promote-policy-semver-guard is not installed")
            && missing
                .stderr
                .contains("kubectl krew install promote/promote-policy-semver-guard"),
        "{}",
        missing.stderr
    );

    // Published as in production: the archive at a URL, the manifest in a custom index.
    let dir = policy_dir(&kit, "semver-guard");
    let archive = kit
        .root()
        .join("dist/promote-policy-semver-guard-v0.1.0.tar.gz");
    let url = serve(archive.clone());
    let pkg = promote(
        &kit,
        kit.root(),
        &[
            "policy",
            "package",
            dir.to_str().unwrap(),
            "--out-dir",
            "dist",
            "--uri",
            &format!("{url}/releases/{{version}}/{{archive}}"),
        ],
    );
    assert_eq!(pkg.code, 0, "{}", pkg.stderr);
    let manifest = kit.root().join("dist/promote-policy-semver-guard.yaml");
    add_index(&kit, &[&manifest]);
    krew(&kit, &["install", "promote/promote-policy-semver-guard"]);
    let root = krew_root(&kit);
    assert!(
        root.join("receipts/promote-policy-semver-guard.yaml")
            .is_file()
    );
    assert!(
        !root.join("index/default").exists(),
        "krew must not have cloned its default index"
    );

    // Listed, with its origin and who uses it.
    let list = promote(&kit, &me, &["policy", "list", "-o", "json"]);
    assert_eq!(list.code, 0, "{}{}", list.stdout, list.stderr);
    let doc: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let row = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["origin"] == "krew:promote/semver-guard@v0.1.0")
        .unwrap_or_else(|| panic!("{}", list.stdout));
    let module_sha = sha256_hex(&std::fs::read(dir.join("policy.wasm")).unwrap());
    assert_eq!(row["sha256"], module_sha.as_str());
    assert_eq!(row["usedBy"], serde_json::json!(["staging/promote"]));
    // krew's link runs the shim, which inspects the installed module.
    let shim = promote_plugin(&kit, "promote-policy-semver-guard");
    assert_eq!(shim.code, 0, "{}{}", shim.stdout, shim.stderr);
    assert!(
        shim.stdout
            .contains("origin:      krew:promote/semver-guard@v0.1.0"),
        "{}",
        shim.stdout
    );

    // A promotion goes through it; the verdict is in the trailers.
    let done = promote(&kit, &me, &["staging", "v1.0.1"]);
    assert_eq!(done.code, 0, "{}{}", done.stdout, done.stderr);
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.contains(&format!(
            "Policy-Module: krew:promote/semver-guard@v0.1.0 sha256:{module_sha} allow"
        )),
        "{msg}"
    );
    // And it decides: a downgrade through promote is denied by the krew-installed module.
    let down = promote(&kit, &me, &["staging", "v1.0.0", "--dry-run"]);
    assert_eq!(down.code, 3, "{}{}", down.stdout, down.stderr);

    // Tampered after install: refused, naming both digests and the fix.
    let installed = root.join("store/promote-policy-semver-guard/v0.1.0/policy.wasm");
    let mut bytes = std::fs::read(&installed).unwrap();
    bytes.extend_from_slice(b"\0");
    std::fs::write(&installed, &bytes).unwrap();
    let head = kit.origin_head();
    let tampered = promote(&kit, &me, &["staging", "v1.0.2"]);
    assert_eq!(tampered.code, 1, "{}{}", tampered.stdout, tampered.stderr);
    let changed = sha256_hex(&bytes);
    assert!(
        tampered.stderr.contains(&format!("has sha256 {changed}, but its package recorded {module_sha}"))
            && tampered.stderr.contains("kubectl krew uninstall promote-policy-semver-guard && kubectl krew install promote/promote-policy-semver-guard"),
        "{}",
        tampered.stderr
    );
    assert_eq!(kit.origin_head(), head, "nothing pushed");

    // Uninstalled: the configuration error is back.
    krew(&kit, &["uninstall", "promote-policy-semver-guard"]);
    assert!(!root.join("store/promote-policy-semver-guard").exists());
    let gone = promote(&kit, &me, &["staging", "v1.0.2", "--dry-run"]);
    assert_eq!(gone.code, 1, "{}", gone.stderr);
    assert!(
        gone.stderr.contains("promote.yaml")
            && gone
                .stderr
                .contains("promote-policy-semver-guard is not installed"),
        "{}",
        gone.stderr
    );
}

/// `kubectl <plugin>` through krew's link in `$KREW_ROOT/bin`.
fn promote_plugin(kit: &GitOps, plugin: &str) -> Run {
    let path = path_with(&[&krew_root(kit).join("bin"), &bin_dir()]);
    cmd(
        kit,
        "kubectl",
        kit.root(),
        &path,
        &[plugin, "--color=never"],
    )
}

#[test]
fn kubectl_promote_itself_installs_with_krew_from_its_manifest() {
    let kit = GitOps::new();
    let out = kit.root().join("dist");
    let script = workspace_root().join("scripts/package-krew.sh");
    let pkg = Command::new("bash")
        .arg(&script)
        .env_clear()
        .envs(kit.env())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIN", BIN)
        .env("OUT", &out)
        .output()
        .unwrap();
    assert!(
        pkg.status.success(),
        "{}{}",
        String::from_utf8_lossy(&pkg.stdout),
        String::from_utf8_lossy(&pkg.stderr)
    );
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    let manifest = out.join("promote.yaml");
    let archive = out.join(format!("kubectl-promote_{version}_linux_amd64.tar.gz"));
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(
        text.contains(&format!(
            "sha256: {}",
            sha256_hex(&std::fs::read(&archive).unwrap())
        )),
        "{text}"
    );
    add_index(&kit, &[]);
    krew(
        &kit,
        &[
            "install",
            &format!("--manifest={}", manifest.display()),
            &format!("--archive={}", archive.display()),
        ],
    );
    let receipt = std::fs::read_to_string(krew_root(&kit).join("receipts/promote.yaml")).unwrap();
    assert!(receipt.contains("name: detached"), "{receipt}");

    // Only krew's bin dir provides kubectl-promote now.
    let krew_bin = krew_root(&kit).join("bin");
    let link = std::fs::read_link(krew_bin.join("kubectl-promote")).unwrap();
    assert!(
        link.starts_with(krew_root(&kit).join("store/promote").join(&version)),
        "{}",
        link.display()
    );
    let path = path_with(&[&krew_bin]);
    let v = cmd(&kit, "kubectl", kit.root(), &path, &["promote", "version"]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert_eq!(
        v.stdout.trim(),
        format!("kubectl-promote {}", env!("CARGO_PKG_VERSION"))
    );
    krew(&kit, &["uninstall", "promote"]);
    let after = cmd(&kit, "kubectl", kit.root(), &path, &["promote", "version"]);
    assert_ne!(
        after.code, 0,
        "kubectl-promote is gone from PATH: {}",
        after.stdout
    );
}

#[test]
fn kubectl_completes_promote_through_the_plugin_hook() {
    let kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    let hook_dir = kit.root().join("hook");
    std::fs::create_dir_all(&hook_dir).unwrap();
    let hook = cmd(
        &kit,
        BIN,
        kit.root(),
        &path_with(&[]),
        &["completion", "kubectl-hook"],
    );
    assert_eq!(hook.code, 0, "{}", hook.stderr);
    let script = hook_dir.join("kubectl_complete-promote");
    std::fs::write(&script, &hook.stdout).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = path_with(&[&hook_dir, &bin_dir()]);
    let complete = |words: &[&str]| {
        let mut args = vec!["__complete", "promote"];
        args.extend_from_slice(words);
        let run = cmd(&kit, "kubectl", &kit.clone, &path, &args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout
            .lines()
            .map(|l| l.split('\t').next().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    // A new word: subcommands and the environments of promote.yaml (as last fetched).
    let all = complete(&[""]);
    for want in [
        "staging",
        "prod",
        "policy",
        "rollback",
        "status",
        "completion",
        ":4",
    ] {
        assert!(all.iter().any(|c| c == want), "{want} missing from {all:?}");
    }
    assert!(!all.iter().any(|c| c == "__complete"), "hidden: {all:?}");
    assert_eq!(complete(&["pr"]), ["prod", ":4"]);
    assert_eq!(complete(&["rollback", "st"]), ["staging", ":4"]);
    assert_eq!(
        complete(&["rollback", "prod", "--strategy", ""]),
        ["argocd", "revert", ":4"]
    );
    assert_eq!(complete(&["prod", "--fr"]), ["--from", ":4"]);
    assert_eq!(complete(&["prod", "--from", "s"]), ["staging", ":4"]);
    assert_eq!(
        complete(&["policy", "inspect", "builtin:s"]),
        [
            "builtin:semver-guard",
            "builtin:soak-time",
            "builtin:slo-guard",
            "builtin:signed-images",
            ":0"
        ]
    );
    assert_eq!(complete(&["completion", "k"]), ["kubectl-hook", ":4"]);
}

#[test]
fn the_committed_index_matches_a_fresh_packaging_and_installs() {
    let kit = GitOps::new();
    // plugins/ (the custom index) is what scripts/package-policies.sh writes, byte for byte.
    let check = Command::new("bash")
        .arg(workspace_root().join("scripts/package-policies.sh"))
        .arg("--check")
        .env_clear()
        .envs(kit.env())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIN", BIN)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // And krew accepts a committed manifest with an archive rebuilt here: its sha256 is real.
    let dir = policy_dir(&kit, "rollback-guard");
    let pkg = promote(
        &kit,
        kit.root(),
        &[
            "policy",
            "package",
            dir.to_str().unwrap(),
            "--out-dir",
            "dist",
        ],
    );
    assert_eq!(pkg.code, 0, "{}", pkg.stderr);
    let manifest = workspace_root().join("plugins/promote-policy-rollback-guard.yaml");
    let archive = kit
        .root()
        .join("dist/promote-policy-rollback-guard-v0.1.0.tar.gz");
    krew(
        &kit,
        &[
            "install",
            &format!("--manifest={}", manifest.display()),
            &format!("--archive={}", archive.display()),
        ],
    );
    let list = promote(&kit, kit.root(), &["policy", "list"]);
    assert!(
        list.stdout.contains("krew:detached/rollback-guard@v0.1.0"),
        "{}{}",
        list.stdout,
        list.stderr
    );
}

#[test]
fn help_of_policy_package_and_completion() {
    let kit = GitOps::new();
    for (name, args) in [
        (
            "policy_package_help",
            ["policy", "package", "--help"].as_slice(),
        ),
        ("completion_help", ["completion", "--help"].as_slice()),
    ] {
        let run = promote(&kit, kit.root(), args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        insta::assert_snapshot!(name, run.stdout);
    }
}
