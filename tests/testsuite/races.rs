//! Ten `--direct` promotions at once, through the real binary (issue 7): ten "CI jobs", each with
//! its own clone of one bare origin, held at the `before-push` pause point (test-hooks build)
//! until all ten have built their commit on the same tip, then released together. So every
//! push but one loses its first race, deterministically. Different environments: all ten land
//! (each rebuilt on the moved tip, since the tip did not touch its overlay). One environment:
//! exactly one lands, the nine others stop with "ENV changed from X to Y while you promoted"
//! (exit 1, DESIGN) and push nothing. In both cases `main` only ever moves forward: a
//! `reference-transaction` hook on the origin logs every ref update, each old tip is the previous
//! new one and an ancestor of its new one.
//! Run with `cargo test -p kubectl-promote --features test-hooks --test testsuite races::`.
#![cfg(feature = "test-hooks")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use promote_testkit::repo::GitOps;

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");
const ENVS: usize = 10;

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - {name: app, image: registry.example.com/shop/app:v1.0.0}
";

/// A GitOps repo with ten direct environments `env0`…`env9` at v1.0.0, and a hook on the origin
/// that logs `REF OLD NEW` for every ref update it commits.
fn repo() -> GitOps {
    let mut kit = GitOps::new();
    kit.put(
        "kustomize/base/kustomization.yaml",
        "resources:\n- deployment.yaml\n",
    );
    kit.put("kustomize/base/deployment.yaml", DEPLOYMENT);
    let mut config = String::from(
        "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\ngit: {remote: origin, baseBranch: main, mode: direct}\nenvironments:\n",
    );
    for i in 0..ENVS {
        kit.put(
            &format!("kustomize/env{i}/kustomization.yaml"),
            &format!("# env{i}\nnamespace: env{i}\nresources:\n- ../base\nimages:\n- name: registry.example.com/shop/app\n  newTag: v1.0.0 # pinned\n"),
        );
        config.push_str(&format!(
            "  - {{name: env{i}, overlay: kustomize/env{i}}}\n"
        ));
    }
    kit.put("promote.yaml", &config);
    kit.commit("ten environments");
    // `reference-transaction` sees every ref update the origin commits (`update` would also log
    // the attempts that then lose the ref lock).
    let hook = kit.origin.join("hooks/reference-transaction");
    std::fs::write(&hook, "#!/bin/sh\n[ \"$1\" = committed ] || exit 0\nwhile read -r old new ref; do echo \"$ref $old $new\" >> \"$GIT_DIR/updates.log\"; done\n").unwrap();
    let mut perms = std::fs::metadata(&hook).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&hook, perms).unwrap();
    kit
}

struct Job {
    child: Child,
    marker: PathBuf,
    label: String,
}

struct Done {
    code: i32,
    stderr: String,
    label: String,
}

/// Clone the origin for job `i` (its own CI runner) and start `kubectl promote ARGS --direct`
/// there, to stop at `before-push`.
fn start(kit: &GitOps, i: usize, env: &str, version: &str) -> Job {
    let dir = format!("job{i}");
    kit.git_in(
        kit.root(),
        &["clone", "--quiet", kit.origin.to_str().unwrap(), &dir],
    );
    let marker = kit.root().join(format!("paused-{i}"));
    let child = Command::new(BIN)
        .args([env, version, "--direct", "--color", "never"])
        .current_dir(kit.root().join(&dir))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(kit.env())
        .env("KUBECTL_PROMOTE_TEST_PAUSE", "before-push")
        .env("KUBECTL_PROMOTE_TEST_PAUSE_FILE", &marker)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kubectl-promote");
    Job {
        child,
        marker,
        label: format!("{env} {version}"),
    }
}

/// Wait until every job stands at `before-push`, release them all at once, collect the results.
fn release_together(jobs: Vec<Job>) -> Vec<Done> {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut jobs = jobs;
    while !jobs.iter().all(|j| j.marker.exists()) {
        if let Some(i) = jobs
            .iter_mut()
            .position(|j| j.child.try_wait().unwrap().is_some())
        {
            let j = jobs.swap_remove(i);
            let out = j.child.wait_with_output().unwrap();
            panic!(
                "{} ended ({}) before reaching before-push: {}",
                j.label,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            Instant::now() < deadline,
            "not every promotion reached before-push within 300s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for j in &jobs {
        std::fs::remove_file(&j.marker).unwrap();
    }
    jobs.into_iter()
        .map(|j| {
            let out = j.child.wait_with_output().unwrap();
            Done {
                code: out.status.code().unwrap_or(-1),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                label: j.label,
            }
        })
        .collect()
}

/// `REF OLD NEW` lines the origin's `reference-transaction` hook logged.
fn updates(kit: &GitOps) -> Vec<(String, String, String)> {
    let log = std::fs::read_to_string(kit.origin.join("updates.log")).unwrap_or_default();
    log.lines()
        .map(|l| {
            let mut parts = l.split(' ').map(str::to_owned);
            (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            )
        })
        .collect()
}

/// Every update of `main` moved it forward from the tip before it (no force, no lost commit),
/// one after the other; returns how many.
fn assert_main_only_moved_forward(kit: &GitOps, from: &str) -> usize {
    let mains: Vec<_> = updates(kit)
        .into_iter()
        .filter(|(r, _, _)| r == "refs/heads/main")
        .collect();
    let mut tip = from.to_owned();
    for (_, old, new) in &mains {
        assert_eq!(
            old, &tip,
            "an update of main did not start from the tip before it: {mains:?}"
        );
        let ancestor = kit
            .git_cmd(&kit.origin, &["merge-base", "--is-ancestor", old, new])
            .status()
            .unwrap();
        assert!(ancestor.success(), "{old} -> {new} is not a fast-forward");
        tip = new.clone();
    }
    assert_eq!(tip, kit.origin_head());
    mains.len()
}

/// The commits `from..main` on the origin, newest first, each with one parent and on the first
/// parent chain (a straight line).
fn linear_commits(kit: &GitOps, from: &str) -> Vec<String> {
    let range = format!("{from}..main");
    let all = kit.origin_git(&["rev-list", &range]);
    let first_parent = kit.origin_git(&["rev-list", "--first-parent", &range]);
    assert_eq!(all, first_parent, "history is not a straight line");
    let merges = kit.origin_git(&["rev-list", "--min-parents=2", &range]);
    assert!(merges.trim().is_empty(), "merge commits: {merges}");
    all.lines().map(str::to_owned).collect()
}

fn trailer(kit: &GitOps, commit: &str, key: &str) -> String {
    kit.origin_git(&[
        "log",
        "-1",
        &format!("--format=%(trailers:key={key},valueonly)"),
        commit,
    ])
    .trim()
    .to_owned()
}

fn overlay(kit: &GitOps, env: &str) -> String {
    kit.origin_file(&format!("kustomize/{env}/kustomization.yaml"))
        .unwrap()
}

fn show(done: &[Done]) -> String {
    done.iter()
        .map(|d| format!("--- {} (exit {})\n{}", d.label, d.code, d.stderr))
        .collect()
}

#[test]
fn ten_direct_promotions_of_ten_environments_at_once_all_land_in_a_straight_line() {
    let kit = repo();
    let start_tip = kit.origin_head();
    let jobs = (0..ENVS)
        .map(|i| start(&kit, i, &format!("env{i}"), &format!("v2.0.{i}")))
        .collect();
    let done = release_together(jobs);
    assert!(
        done.iter().all(|d| d.code == 0),
        "every promotion lands:\n{}",
        show(&done)
    );
    // All ten built on the same tip, so nine lost the first push and were rebuilt.
    let retried = done
        .iter()
        .filter(|d| d.stderr.contains("moved while promoting"))
        .count();
    assert!(
        retried >= ENVS - 1,
        "{retried} rebuilt on a moved tip:\n{}",
        show(&done)
    );

    let commits = linear_commits(&kit, &start_tip);
    assert_eq!(commits.len(), ENVS, "ten promotion commits, nothing else");
    let mut envs: Vec<String> = commits
        .iter()
        .map(|c| trailer(&kit, c, "Promote-Environment"))
        .collect();
    envs.sort();
    assert_eq!(
        envs,
        (0..ENVS).map(|i| format!("env{i}")).collect::<Vec<_>>()
    );
    for i in 0..ENVS {
        let text = overlay(&kit, &format!("env{i}"));
        assert!(
            text.contains(&format!("  newTag: v2.0.{i} # pinned\n")),
            "env{i} lost its promotion:\n{text}"
        );
    }
    assert_eq!(
        assert_main_only_moved_forward(&kit, &start_tip),
        ENVS,
        "one push per promotion"
    );
}

#[test]
fn ten_direct_promotions_of_one_environment_at_once_one_lands_nine_stop_with_the_race_message() {
    let kit = repo();
    let start_tip = kit.origin_head();
    let jobs = (0..ENVS)
        .map(|i| start(&kit, i, "env0", &format!("v3.0.{i}")))
        .collect();
    let done = release_together(jobs);
    let winners: Vec<&Done> = done.iter().filter(|d| d.code == 0).collect();
    assert_eq!(winners.len(), 1, "exactly one lands:\n{}", show(&done));
    let won = winners[0].label.strip_prefix("env0 ").unwrap().to_owned();
    for d in done.iter().filter(|d| d.code != 0) {
        assert_eq!(d.code, 1, "a lost race exits 1:\n{}", show(&done));
        let expected = format!("env0 changed from v1.0.0 to {won} while you promoted");
        assert!(
            d.stderr.contains(&expected),
            "{} says `{expected}`:\n{}",
            d.label,
            d.stderr
        );
        assert!(d.stderr.contains("nothing was pushed"), "{}", d.stderr);
    }

    let commits = linear_commits(&kit, &start_tip);
    assert_eq!(commits.len(), 1, "exactly one promotion commit");
    assert_eq!(trailer(&kit, &commits[0], "Promote-Version"), won);
    let text = overlay(&kit, "env0");
    assert!(
        text.contains(&format!("  newTag: {won} # pinned\n")),
        "{text}"
    );
    for i in 1..ENVS {
        assert!(
            overlay(&kit, &format!("env{i}")).contains("newTag: v1.0.0"),
            "env{i} untouched"
        );
    }
    assert_eq!(
        assert_main_only_moved_forward(&kit, &start_tip),
        1,
        "one push reached main"
    );
    // No loser's commit reached any ref of the origin.
    let refs = kit.origin_git(&["for-each-ref", "--format=%(refname)"]);
    assert_eq!(refs.trim(), "refs/heads/main", "no other refs appeared");
}

/// The barrier itself: without a pause point named, a promotion runs through (and the pause
/// variables change nothing).
#[test]
fn the_before_push_pause_is_inert_unless_named() {
    let kit = repo();
    let out = Command::new(BIN)
        .args(["env3", "v9.9.9", "--direct", "--color", "never"])
        .current_dir(&kit.clone)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(kit.env())
        .env("KUBECTL_PROMOTE_TEST_PAUSE", "no-such-point")
        .env("KUBECTL_PROMOTE_TEST_PAUSE_FILE", kit.root().join("never"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!Path::new(&kit.root().join("never")).exists());
    assert!(overlay(&kit, "env3").contains("newTag: v9.9.9"));
}
