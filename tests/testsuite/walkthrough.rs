//! The policy-authoring walk-throughs (docs/policy-authoring/{go,rust,rego}.md) run as written:
//! each page's ```` ```sh walk-through ```` blocks are read from the markdown, so the doc and
//! this test cannot drift, and run by `sh -eu` in a temp dir: `kubectl promote` is this build's
//! binary found by kubectl's plugin lookup, krew is the pinned one with a temp `KREW_ROOT`, and
//! nothing may use the network (cargo offline, `GOPROXY=off`).

use std::process::{Command, Stdio};

use promote_testkit::repo::{GitOps, workspace_root};

/// The commands of a page's `sh walk-through` blocks, in order.
fn walkthrough(page: &str) -> String {
    let path = workspace_root().join("docs/policy-authoring").join(page);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut script = String::new();
    let mut inside = false;
    for line in text.lines() {
        let fence = line.trim();
        if inside && fence == "```" {
            inside = false;
        } else if !inside && fence == "```sh walk-through" {
            inside = true;
        } else if inside {
            script.push_str(line);
            script.push('\n');
        }
    }
    assert!(
        script.lines().count() >= 5,
        "{page} has a ```sh walk-through block"
    );
    script
}

/// What `go env NAME` says on this machine: the build caches the walk-through may reuse.
fn go_env(name: &str) -> String {
    let out = Command::new("go")
        .args(["env", name])
        .output()
        .expect("go env");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn run_walkthrough(page: &str) -> String {
    let kit = GitOps::new();
    let script = walkthrough(page);
    let home = std::env::var("HOME").expect("HOME");
    let target = promote_testkit::go::target_dir();
    let path = super::krew::path_with(&[&super::krew::bin_dir()]);
    let out = Command::new("sh")
        .args(["-eu", "-c", &script])
        .current_dir(kit.root())
        .env_clear()
        .envs(kit.env())
        .env("PATH", path)
        .env("KREW_NO_UPGRADE_CHECK", "1")
        // The toolchains and their caches as the machine has them, offline.
        .env(
            "RUSTUP_HOME",
            std::env::var("RUSTUP_HOME").unwrap_or(format!("{home}/.rustup")),
        )
        .env(
            "CARGO_HOME",
            std::env::var("CARGO_HOME").unwrap_or(format!("{home}/.cargo")),
        )
        .env("CARGO_NET_OFFLINE", "true")
        .env("CARGO_TARGET_DIR", target.join("policy-new"))
        .env("GOCACHE", go_env("GOCACHE"))
        .env("GOMODCACHE", go_env("GOMODCACHE"))
        .env("GOPATH", go_env("GOPATH"))
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .stdin(Stdio::null())
        .output()
        .expect("sh");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the walk-through of docs/policy-authoring/{page} failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("2 passed, 0 failed") && stdout.contains("sha256:"),
        "{stdout}"
    );
    // `policy package` without --uri says the file:// URI is for --archive installs only.
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("on this machine only; for an index served over HTTP"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The last step, `policy inspect krew:cost-guard`, finds what krew installed.
    assert!(
        stdout.contains("origin:      krew:detached/cost-guard@v0.1.0")
            || stdout.contains("krew:") && stdout.contains("cost-guard"),
        "{stdout}"
    );
    stdout
}

#[test]
fn the_go_walkthrough_runs_as_written() {
    let out = run_walkthrough("go.md");
    assert!(out.contains("p99"), "policy bench ran: {out}");
}

#[test]
fn the_rust_walkthrough_runs_as_written() {
    run_walkthrough("rust.md");
}

#[test]
fn the_rego_walkthrough_runs_as_written() {
    run_walkthrough("rego.md");
}
