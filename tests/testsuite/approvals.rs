//! Approval records through the binary, as an attacker would try them: who may approve is
//! re-checked against the base tip's `approvers` whenever a record is read, and `verified` is
//! computed from the record commit's signature (keys made here with `ssh-keygen` and `gpg`,
//! offline), never read from the record. prod in `examples/gitops` is protected, so its
//! `builtin:qa-approved` counts verified approvals only.

use std::path::{Path, PathBuf};
use std::process::Command;

use promote_testkit::repo::{GitOps, Run, workspace_root};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");
/// A Tuesday morning in Berlin: outside every window of examples/gitops/promote.yaml.
const TUESDAY: &str = "2026-11-24T09:00:00Z";
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
/// Where the example's `approverKeys.ssh` points.
const ALLOWED_SIGNERS: &str = ".promote/allowed_signers";

fn run_in(kit: &GitOps, dir: &Path, args: &[&str]) -> Run {
    kit.run_bin(BIN, dir, &[("KUBECTL_PROMOTE_NOW", TUESDAY)], args)
}

/// The example repo with staging at v1.0.1 (prod still runs v1.0.0).
fn staging_at_v1_0_1() -> GitOps {
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    // No cluster here: without its app, protected prod does not ask Argo CD for a marker.
    kit.without_argocd();
    let r = run_in(&kit, &kit.clone, &["staging", "v1.0.1"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    kit
}

/// QA's own clone: git identity `Quinn QA <qa@example.com>` (approvers.qa lists the e-mail).
fn qa_clone(kit: &GitOps) -> PathBuf {
    kit.person("qa", "Quinn QA", "qa@example.com")
}

/// Commits `line` into the allowed-signers file on origin's main (as a repo admin would).
fn allow(kit: &mut GitOps, line: &str) {
    let mut text = kit.origin_file(ALLOWED_SIGNERS).unwrap_or_default();
    text.push_str(line);
    kit.put(ALLOWED_SIGNERS, &text);
    kit.commit("allow an approver's signing key");
}

/// The `Promote-Image` trailers of a record of staging's images at `tag`.
fn image_trailers(tag: &str) -> String {
    let overlay = std::fs::read_to_string(
        workspace_root().join("examples/gitops/kustomize/staging/kustomization.yaml"),
    )
    .unwrap();
    overlay
        .lines()
        .filter_map(|l| l.strip_prefix("- name: "))
        .map(|name| format!("Promote-Image: {name} tag={tag}\n"))
        .collect()
}

/// Writes a record by hand with git plumbing on origin's approvals branch, as anyone who can
/// push there could: every trailer `approve` writes, including `Promote-By-Verified: true`.
fn forge_record(kit: &GitOps, by: &str) -> String {
    let message = format!(
        "approve staging v1.0.1 as qa\n\nPromote-Verdict: approved\nPromote-Environment: staging\nPromote-Version: v1.0.1\nPromote-Role: qa\n{}Promote-By: {by}\nPromote-By-Verified: true\nPromote-At: 2026-11-24T08:00:00Z\n",
        image_trailers("v1.0.1")
    );
    let tree = kit.origin_git(&["mktree"]);
    assert_eq!(tree.trim(), EMPTY_TREE);
    let parent = kit
        .git_cmd(
            &kit.origin,
            &[
                "rev-parse",
                "-q",
                "--verify",
                "refs/heads/promote/approvals",
            ],
        )
        .output()
        .unwrap();
    let parent = String::from_utf8_lossy(&parent.stdout).trim().to_owned();
    let mut args = vec!["commit-tree", EMPTY_TREE, "-m", message.as_str()];
    if !parent.is_empty() {
        args.extend(["-p", parent.as_str()]);
    }
    let commit = kit.origin_git(&args).trim().to_owned();
    kit.origin_git(&["update-ref", "refs/heads/promote/approvals", &commit]);
    commit
}

fn prod_dry_run(kit: &GitOps) -> Run {
    run_in(kit, &kit.clone, &["prod", "--from", "staging", "--dry-run"])
}

#[test]
fn a_forged_record_counts_for_nothing_and_someone_not_listed_is_reported() {
    let kit = staging_at_v1_0_1();
    // Someone who is nobody's approver, claiming `verified`.
    forge_record(&kit, "Mallory <mallory@example.com>");
    let r = prod_dry_run(&kit);
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("qa on staging: 0 of 1"), "{}", r.stdout);
    let status = run_in(&kit, &kit.clone, &["status", "staging"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status
            .stdout
            .lines()
            .any(|l| l.contains("mallory@example.com") && l.contains("not an approver")),
        "{}",
        status.stdout
    );
    let json = run_in(&kit, &kit.clone, &["status", "staging", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let staging = &doc["environments"][0];
    assert_eq!(staging["approvals"], serde_json::json!([]), "{staging}");
    let ignored = &staging["ignoredApprovals"][0];
    assert_eq!(ignored["by"]["email"], "mallory@example.com", "{staging}");
    assert_eq!(ignored["by"]["verified"], false, "{staging}");
    assert!(
        ignored["reason"]
            .as_str()
            .unwrap()
            .contains("not an approver"),
        "{staging}"
    );

    // The same forgery in QA's name: an approver, but the trailer is not believed.
    forge_record(&kit, "Quinn QA <qa@example.com>");
    let r = prod_dry_run(&kit);
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("not verified"), "{}", r.stdout);
    let json = run_in(&kit, &kit.clone, &["status", "staging", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let in_force = &doc["environments"][0]["approvals"][0]["inForce"];
    assert_eq!(in_force["by"]["email"], "qa@example.com", "{in_force}");
    assert_eq!(in_force["by"]["verified"], false, "{in_force}");
}

#[test]
fn a_spoofed_git_email_is_not_a_verified_approval() {
    let mut kit = staging_at_v1_0_1();
    // Anyone can be qa@example.com in git config; nothing signs this record.
    let spoof = kit.person("spoof", "Quinn QA", "qa@example.com");
    let approve = run_in(&kit, &spoof, &["approve", "staging", "v1.0.1"]);
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    assert!(
        approve.stderr.contains("not verified"),
        "approve says the record will not count where verification is required: {}",
        approve.stderr
    );
    let r = prod_dry_run(&kit);
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    // The reason says what is wrong and how to fix it.
    assert!(
        r.stdout.contains("is not verified") && r.stdout.contains("gpg.format ssh"),
        "{}",
        r.stdout
    );
    let json = run_in(
        &kit,
        &kit.clone,
        &["prod", "--from", "staging", "--dry-run", "-o", "json"],
    );
    assert_eq!(json.code, 4);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["result"], "awaiting-approval");
    let missing = &doc["policy"]["approvals"]["missing"][0];
    assert_eq!(missing["requirement"]["verified"], true, "{missing}");
    assert_eq!(
        missing["unverified"][0],
        "Quinn QA <qa@example.com> (not verified: the record commit is not signed)",
        "{missing}"
    );

    // A repo that does not want verification for prod says so in the policy's settings.
    let config = kit.origin_file("promote.yaml").unwrap().replace(
        "- module: builtin:qa-approved",
        "- module: builtin:qa-approved\n          settings: {requireVerified: false}",
    );
    kit.put("promote.yaml", &config);
    kit.commit("prod: unverified QA approvals count");
    let r = prod_dry_run(&kit);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn an_ssh_signed_approval_by_an_allowed_key_is_verified() {
    let mut kit = staging_at_v1_0_1();
    let key = kit.ssh_key("quinn");
    allow(&mut kit, &key.allowed_signer("qa@example.com"));
    let qa = qa_clone(&kit);
    kit.sign_with(&qa, &key);

    let approve = run_in(&kit, &qa, &["approve", "staging", "v1.0.1", "-o", "json"]);
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    let doc: serde_json::Value = serde_json::from_str(&approve.stdout).unwrap();
    let by = &doc["record"]["by"];
    assert_eq!(by["verified"], true, "{doc}");
    assert_eq!(by["verification"]["method"], "ssh", "{doc}");
    assert_eq!(by["verification"]["identity"], "qa@example.com", "{doc}");
    // The record is a commit git itself can verify with the same allowed signers.
    let commit = kit.origin_git(&["cat-file", "commit", "promote/approvals"]);
    assert!(
        commit.contains("gpgsig -----BEGIN SSH SIGNATURE-----"),
        "{commit}"
    );
    assert!(!commit.contains("Promote-By-Verified"), "{commit}");
    let signers = kit.root().join("allowed_signers");
    std::fs::write(&signers, kit.origin_file(ALLOWED_SIGNERS).unwrap()).unwrap();
    kit.git_in(
        &kit.origin,
        &[
            "-c",
            &format!("gpg.ssh.allowedSignersFile={}", signers.display()),
            "verify-commit",
            "promote/approvals",
        ],
    );

    let r = prod_dry_run(&kit);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("policies: allow"), "{}", r.stdout);
    let status = run_in(&kit, &kit.clone, &["status", "staging"]);
    assert!(
        status
            .stdout
            .contains("approved by Quinn QA <qa@example.com> (verified by ssh signature)"),
        "{}",
        status.stdout
    );

    // The result is kept, keyed by the keys it was checked against and the record's commit.
    let record = kit.origin_git(&["rev-parse", "promote/approvals"]);
    let cached: Vec<String> = std::fs::read_dir(kit.home.join(".cache/kubectl-promote/signatures"))
        .unwrap()
        .filter_map(|d| std::fs::read_to_string(d.unwrap().path().join(record.trim())).ok())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(
        cached[0].starts_with("good ssh qa@example.com SHA256:"),
        "{cached:?}"
    );

    // Taking the key out of the file on main un-verifies what it signed (another set of keys,
    // so the kept result does not apply).
    kit.put(ALLOWED_SIGNERS, "# nobody\n");
    kit.commit("remove Quinn's key");
    assert_eq!(prod_dry_run(&kit).code, 4);
}

#[test]
fn a_record_signed_by_a_key_not_allowed_for_its_approver_is_not_verified() {
    let mut kit = staging_at_v1_0_1();
    // The key is allowed, but for the PM; QA's record claims qa@example.com.
    let key = kit.ssh_key("pm");
    allow(&mut kit, &key.allowed_signer("pm@example.com"));
    let qa = qa_clone(&kit);
    kit.sign_with(&qa, &key);
    let approve = run_in(&kit, &qa, &["approve", "staging", "v1.0.1"]);
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    assert!(
        approve.stderr.contains("not verified"),
        "{}",
        approve.stderr
    );
    assert_eq!(prod_dry_run(&kit).code, 4);

    // A key nobody listed at all.
    let stranger = kit.ssh_key("stranger");
    kit.sign_with(&qa, &stranger);
    let approve = run_in(&kit, &qa, &["approve", "staging", "v1.0.1"]);
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    let r = prod_dry_run(&kit);
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    let status = run_in(&kit, &kit.clone, &["status", "staging"]);
    assert!(
        status.stdout.contains(
            "not verified: signed by an ssh key approverKeys.ssh does not allow for qa@example.com"
        ),
        "{}",
        status.stdout
    );
}

#[test]
fn a_gpg_signed_approval_by_an_allowed_key_is_verified() {
    let mut kit = staging_at_v1_0_1();
    let gnupg = Gnupg::new(&kit.root().join("gnupg"));
    let public = gnupg.key("Quinn QA <qa@example.com>");
    let config = kit.origin_file("promote.yaml").unwrap().replace(
        "approverKeys:",
        "approverKeys:\n  gpg: .promote/approvers.asc",
    );
    kit.put("promote.yaml", &config);
    kit.put(".promote/approvers.asc", &public);
    kit.commit("allow Quinn's gpg key");
    let qa = qa_clone(&kit);
    kit.git_in(&qa, &["config", "gpg.format", "openpgp"]);
    kit.git_in(&qa, &["config", "user.signingkey", "qa@example.com"]);
    kit.git_in(&qa, &["config", "commit.gpgsign", "true"]);
    let home = gnupg.home.to_str().unwrap();
    let approve = kit.run_bin(
        BIN,
        &qa,
        &[("GNUPGHOME", home), ("KUBECTL_PROMOTE_NOW", TUESDAY)],
        &["approve", "staging", "v1.0.1", "-o", "json"],
    );
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    let doc: serde_json::Value = serde_json::from_str(&approve.stdout).unwrap();
    assert_eq!(doc["record"]["by"]["verified"], true, "{doc}");
    assert_eq!(
        doc["record"]["by"]["verification"]["method"], "gpg",
        "{doc}"
    );
    assert_eq!(prod_dry_run(&kit).code, 0);
}

/// A private GNUPGHOME with one signing key, whose agent is stopped on drop.
struct Gnupg {
    home: PathBuf,
}

impl Gnupg {
    fn new(home: &Path) -> Gnupg {
        std::fs::create_dir_all(home).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        Gnupg {
            home: home.to_owned(),
        }
    }

    fn gpg(&self, args: &[&str]) -> String {
        let out = Command::new("gpg")
            .env("GNUPGHOME", &self.home)
            .args([
                "--batch",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .output()
            .expect("run gpg");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Makes a key for `uid` and returns its armored public key.
    fn key(&self, uid: &str) -> String {
        self.gpg(&["--quick-gen-key", uid, "ed25519", "sign", "never"]);
        self.gpg(&["--armor", "--export", uid])
    }
}

impl Drop for Gnupg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.home)
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

#[test]
fn qa_approved_denies_a_version_the_upstream_does_not_run() {
    let kit = staging_at_v1_0_1();
    let r = run_in(&kit, &kit.clone, &["prod", "v1.0.2", "--dry-run"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("staging runs v1.0.1, not v1.0.2: promote staging first"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("kubectl promote approve staging v1.0.2"),
        "no advice to approve what staging does not run: {}",
        r.stdout
    );
}

#[test]
fn a_broken_allowed_signers_file_is_an_error_naming_file_line_and_fix_and_nothing_is_recorded() {
    let mut kit = staging_at_v1_0_1();
    let key = kit.ssh_key("quinn");
    // The principals, but the key's type is cut off.
    let line = key.allowed_signer("qa@example.com");
    allow(&mut kit, line.split_once(' ').unwrap().0);
    allow(&mut kit, " AAAAC3NzaC1lZDI1NTE5\n");
    let qa = qa_clone(&kit);
    kit.sign_with(&qa, &key);
    let r = run_in(&kit, &qa, &["approve", "staging", "v1.0.1"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("approverKeys.ssh: .promote/allowed_signers: line 10:")
            && r.stderr
                .contains("fix: each line reads `PRINCIPALS [OPTIONS] KEYTYPE BASE64`"),
        "{}",
        r.stderr
    );
    let branches = kit.origin_git(&["for-each-ref", "refs/heads/promote/approvals"]);
    assert!(branches.trim().is_empty(), "nothing recorded: {branches}");

    // A file promote.yaml names that is not on the base branch.
    kit.remove(ALLOWED_SIGNERS);
    kit.commit("lose the allowed signers");
    let r = run_in(&kit, &qa, &["approve", "staging", "v1.0.1"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("approverKeys.ssh: no file `.promote/allowed_signers` at origin/main"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_rollback_is_not_held_up_by_records_it_cannot_check() {
    let mut kit = staging_at_v1_0_1();
    let qa = kit.signing_approver("qa", "Quinn QA", "qa@example.com");
    assert_eq!(run_in(&kit, &qa, &["approve", "staging", "v1.0.1"]).code, 0);
    let r = run_in(&kit, &kit.clone, &["prod", "--from", "staging", "--direct"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(run_in(&kit, &kit.clone, &["staging", "v1.0.2"]).code, 0);
    // Someone breaks the allowed signers on main.
    allow(&mut kit, "qa@example.com ssh-ed25519\n");
    let promote = run_in(&kit, &kit.clone, &["prod", "v1.0.2", "--dry-run"]);
    assert!(
        promote.code == 1 && promote.stderr.contains("approverKeys.ssh"),
        "a promotion stops: {}{}",
        promote.stdout,
        promote.stderr
    );
    let rollback = run_in(
        &kit,
        &kit.clone,
        &[
            "rollback",
            "prod",
            "--strategy",
            "revert",
            "--to",
            "v1.0.0",
            "--dry-run",
        ],
    );
    assert_ne!(rollback.code, 1, "{}{}", rollback.stdout, rollback.stderr);
    assert!(
        rollback
            .stderr
            .contains("approval records not given to the rollback policies"),
        "{}",
        rollback.stderr
    );
}
