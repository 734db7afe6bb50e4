//! Hostile trees (issue 12, item 1), through the real binary, real git and the real `kubectl`:
//! commits whose trees hold entries no `git add` makes (`..`, names with `/`, `.git` and its
//! aliases, duplicate names) or symlinks out of the repository, built with git plumbing
//! (`hash-object --literally`, `commit-tree`) and pushed to a bare origin that, like git's
//! default, does not fsck what it receives. A dry run, a promotion and `verify` (local and
//! `--pr`) must refuse them with an error naming the path in the tree, write nothing outside
//! their scratch directory (a canary file beside it stays as it was), push nothing, and keep
//! outside content out of the render and its cache. And an interrupted promotion (SIGINT,
//! SIGTERM) leaves no scratch directory behind.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use promote_testkit::repo::{GitOps, Run};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");

const CONFIG: &str = "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\ngit: {mode: direct}\nenvironments:\n  - {name: staging, overlay: kustomize/staging}\n";
const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: shop}\nspec:\n  selector: {matchLabels: {app: shop}}\n  template:\n    metadata: {labels: {app: shop}}\n    spec:\n      containers:\n      - {name: a, image: reg/a:v1}\n";
const STAGING: &str = "resources: [../base]\nimages:\n- {name: reg/a, newTag: v1}\n";
const CANARY: &str = "the canary, as the test wrote it\n";
const SECRET: &str = "OUTSIDE-SECRET-4711";

/// A GitOps repo with one direct environment, `staging`, and beside the kit's repos: a canary
/// file, a directory `outside` holding a kustomization whose ConfigMap carries [`SECRET`], and
/// the test's own `TMPDIR` (so the scratch directories of the binary are `tmp/kubectl-promote-*`,
/// and `tmp/../canary.txt` is the canary).
struct Bed {
    kit: GitOps,
    tmp: PathBuf,
}

impl Bed {
    fn new() -> Bed {
        let mut kit = GitOps::new()
            .file("promote.yaml", CONFIG)
            .file(
                "kustomize/base/kustomization.yaml",
                "resources: [deploy.yaml]\n",
            )
            .file("kustomize/base/deploy.yaml", DEPLOY)
            .file("kustomize/staging/kustomization.yaml", STAGING);
        kit.commit("seed");
        let tmp = kit.root().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::write(kit.root().join("canary.txt"), CANARY).unwrap();
        let outside = kit.root().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(
            outside.join("kustomization.yaml"),
            "resources: [secret.yaml]\n",
        )
        .unwrap();
        std::fs::write(
            outside.join("secret.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: stolen}}\ndata: {{key: {SECRET}}}\n"),
        )
        .unwrap();
        Bed { kit, tmp }
    }

    fn run(&self, dir: &Path, args: &[&str]) -> Run {
        let tmp = self.tmp.to_str().unwrap();
        self.kit.run_bin(BIN, dir, &[("TMPDIR", tmp)], args)
    }

    /// A clone of origin to build commits in (an attacker's, or a contributor's).
    fn workspace(&self, name: &str) -> PathBuf {
        let dir = self.kit.root().join(name);
        if !dir.exists() {
            self.kit.git_in(
                self.kit.root(),
                &["clone", "--quiet", self.kit.origin.to_str().unwrap(), name],
            );
        }
        dir
    }

    /// Write `content` as a blob in the repository at `dir`.
    fn blob(&self, dir: &Path, content: &[u8]) -> String {
        self.stdin_git(dir, &["hash-object", "-w", "--stdin"], content)
    }

    fn stdin_git(&self, dir: &Path, args: &[&str], input: &[u8]) -> String {
        use std::io::Write;
        let mut child = self
            .kit
            .git_cmd(dir, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// The tree `tree` with `add` put into its directory `at` (`a/b`; `""` = the root), in
    /// place of the entries of the same names, written with `hash-object --literally`, so that
    /// names git refuses are kept as given (and duplicates within `add` too).
    fn graft(&self, dir: &Path, tree: &str, at: &str, add: &[Entry]) -> String {
        let mut entries = self.ls_tree(dir, tree);
        match at.split_once('/') {
            _ if at.is_empty() => {
                entries.retain(|e| !add.iter().any(|a| a.name == e.name));
                entries.extend(add.iter().cloned());
            }
            split => {
                let (first, rest) = split.unwrap_or((at, ""));
                let sub = entries
                    .iter_mut()
                    .find(|e| e.name == first.as_bytes())
                    .unwrap_or_else(|| panic!("no `{first}` in {tree}"));
                sub.oid = self.graft(dir, &sub.oid, rest, add);
            }
        }
        self.write_tree(dir, entries)
    }

    fn ls_tree(&self, dir: &Path, tree: &str) -> Vec<Entry> {
        let out = self
            .kit
            .git_cmd(dir, &["ls-tree", "-z", tree])
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
            .split(|&b| b == 0)
            .filter(|l| !l.is_empty())
            .map(|line| {
                let tab = line.iter().position(|&b| b == b'\t').unwrap();
                let meta = String::from_utf8(line[..tab].to_vec()).unwrap();
                let mut f = meta.split(' ');
                let mode = f.next().unwrap().trim_start_matches('0').to_owned();
                f.next();
                Entry {
                    mode,
                    name: line[tab + 1..].to_vec(),
                    oid: f.next().unwrap().to_owned(),
                }
            })
            .collect()
    }

    /// A tree object of exactly these entries (in git's order, duplicates kept).
    fn write_tree(&self, dir: &Path, mut entries: Vec<Entry>) -> String {
        let key = |e: &Entry| {
            let mut k = e.name.clone();
            if e.mode == "40000" {
                k.push(b'/');
            }
            k
        };
        entries.sort_by_key(key);
        let mut raw = Vec::new();
        for e in &entries {
            raw.extend_from_slice(e.mode.as_bytes());
            raw.push(b' ');
            raw.extend_from_slice(&e.name);
            raw.push(0);
            raw.extend((0..20).map(|i| u8::from_str_radix(&e.oid[2 * i..2 * i + 2], 16).unwrap()));
        }
        self.stdin_git(
            dir,
            &["hash-object", "-w", "-t", "tree", "--literally", "--stdin"],
            &raw,
        )
    }

    /// A commit of `tree` on top of origin's `main`, in the workspace `dir`.
    fn commit_tree(&self, dir: &Path, tree: &str, message: &str) -> String {
        self.kit.git_in(dir, &["fetch", "--quiet", "origin"]);
        self.kit
            .git_in(
                dir,
                &["commit-tree", tree, "-p", "origin/main", "-m", message],
            )
            .trim()
            .to_owned()
    }

    /// Origin `main`'s tree with `add` in its directory `at`, committed in the workspace
    /// `attacker`.
    fn hostile_commit(&self, at: &str, add: impl FnOnce(&Bed, &Path) -> Vec<Entry>) -> String {
        let dir = self.workspace("attacker");
        self.kit.git_in(&dir, &["fetch", "--quiet", "origin"]);
        let base = self
            .kit
            .git_in(&dir, &["rev-parse", "origin/main^{tree}"])
            .trim()
            .to_owned();
        let entries = add(self, &dir);
        let tree = self.graft(&dir, &base, at, &entries);
        self.commit_tree(&dir, &tree, "a hand-made tree")
    }

    /// Push `commit` (in the workspace `attacker`) to origin's `refspec` target.
    fn push(&self, commit: &str, to: &str) {
        let dir = self.workspace("attacker");
        self.kit.git_in(
            &dir,
            &["push", "--quiet", "origin", &format!("{commit}:{to}")],
        );
    }

    fn canary(&self) -> String {
        std::fs::read_to_string(self.kit.root().join("canary.txt")).unwrap()
    }

    /// Nothing the binary left in its `TMPDIR`.
    fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(&self.tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Every file under the render cache that holds `needle`.
    fn cached_with(&self, needle: &str) -> Vec<PathBuf> {
        fn walk(dir: &Path, needle: &str, found: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, needle, found);
                } else if std::fs::read(&p)
                    .is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle))
                {
                    found.push(p);
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.kit.home.join(".cache"), needle, &mut found);
        found
    }
}

#[derive(Clone)]
struct Entry {
    mode: String,
    name: Vec<u8>,
    oid: String,
}

fn blob(bed: &Bed, dir: &Path, name: &[u8], content: &str) -> Entry {
    Entry {
        mode: "100644".into(),
        name: name.to_vec(),
        oid: bed.blob(dir, content.as_bytes()),
    }
}

fn symlink(bed: &Bed, dir: &Path, name: &str, target: &str) -> Entry {
    Entry {
        mode: "120000".into(),
        name: name.as_bytes().to_vec(),
        oid: bed.blob(dir, target.as_bytes()),
    }
}

fn tree(bed: &Bed, dir: &Path, name: &[u8], entries: Vec<Entry>) -> Entry {
    Entry {
        mode: "40000".into(),
        name: name.to_vec(),
        oid: bed.write_tree(dir, entries),
    }
}

/// `..` inside `..` inside … (`depth` deep) holding `canary.txt`: from `kustomize/staging` in
/// the scratch directory `tmp/kubectl-promote-render-X`, four levels up is the canary's
/// directory.
fn dotdot_chain(bed: &Bed, dir: &Path, depth: usize) -> Entry {
    let mut e = blob(bed, dir, b"canary.txt", "PWNED by a tree entry\n");
    for _ in 0..depth {
        e = tree(bed, dir, b"..", vec![e]);
    }
    e
}

/// Exit 1, the path named, the canary untouched, origin's `main` where it was, no scratch
/// directory left.
fn assert_refused(bed: &Bed, r: &Run, head: &str, path: &str) {
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let said = format!("{}{}", r.stdout, r.stderr);
    assert!(said.contains(&format!("`{path}`")), "{said}");
    assert_eq!(bed.canary(), CANARY, "the canary outside was overwritten");
    assert_eq!(bed.kit.origin_head(), head, "nothing is pushed");
    assert_eq!(bed.leftovers(), Vec::<String>::new());
}

#[test]
fn dotdot_entries_write_nothing_outside_in_a_dry_run_a_promotion_and_verify() {
    let bed = Bed::new();
    let hostile = bed.hostile_commit("kustomize/staging", |bed, dir| {
        vec![dotdot_chain(bed, dir, 4)]
    });
    bed.push(&hostile, "refs/heads/main");
    let head = bed.kit.origin_head();
    assert_eq!(head, hostile);
    let clone = bed.kit.clone.clone();

    let dry = bed.run(&clone, &["staging", "v2", "--dry-run"]);
    assert_refused(&bed, &dry, &head, "kustomize/staging/..");
    assert!(dry.stderr.contains("hasDotdot"), "{}", dry.stderr);

    let promotion = bed.run(&clone, &["staging", "v2"]);
    assert_refused(&bed, &promotion, &head, "kustomize/staging/..");

    // A pull request in CI: `verify --pr 7` on the same tree, on top of a clean base.
    let bed = Bed::new();
    let hostile = bed.hostile_commit("kustomize/staging", |bed, dir| {
        vec![dotdot_chain(bed, dir, 4)]
    });
    bed.push(&hostile, "refs/pull/7/head");
    let head = bed.kit.origin_head();
    let pr = bed.run(&bed.kit.clone, &["verify", "--pr", "7"]);
    assert_refused(&bed, &pr, &head, "kustomize/staging/..");
    assert!(pr.stdout.contains("render: failed"), "{}", pr.stdout);

    // And `verify` of the same commit checked out locally (a hand-written change).
    let clone = &bed.kit.clone;
    bed.kit
        .git_in(clone, &["fetch", "--quiet", "origin", "refs/pull/7/head"]);
    bed.kit
        .git_in(clone, &["reset", "--quiet", "--soft", &hostile]);
    let local = bed.run(clone, &["verify"]);
    assert_refused(&bed, &local, &head, "kustomize/staging/..");
}

#[test]
fn every_name_git_fsck_flags_is_refused_before_anything_is_written() {
    // Each a blob in `kustomize/staging` whose name would write elsewhere, or that git's fsck
    // refuses for what it does on other file systems. (An empty name cannot be pushed: git's
    // pack-objects refuses it; the unit tests of promote-git cover it, and NUL.)
    let cases: [(&[u8], &str, &str); 7] = [
        (
            b"../../../../canary.txt",
            "kustomize/staging/../../../../canary.txt",
            "fullPathname",
        ),
        (b".", "kustomize/staging/.", "hasDot"),
        (b".git", "kustomize/staging/.git", "hasDotgit"),
        (b".GIT", "kustomize/staging/.GIT", "hasDotgit"),
        (b"git~1", "kustomize/staging/git~1", "hasDotgit"),
        (
            b".git::$INDEX_ALLOCATION",
            "kustomize/staging/.git::$INDEX_ALLOCATION",
            "hasDotgit",
        ),
        (
            ".g\u{200c}it".as_bytes(),
            "kustomize/staging/.g\u{200c}it",
            "hasDotgit",
        ),
    ];
    for (name, path, rule) in cases {
        let bed = Bed::new();
        let hostile = bed.hostile_commit("kustomize/staging", |bed, dir| {
            vec![blob(bed, dir, name, "PWNED\n")]
        });
        bed.push(&hostile, "refs/heads/main");
        let head = bed.kit.origin_head();
        let r = bed.run(&bed.kit.clone, &["staging", "v2", "--dry-run"]);
        assert_refused(&bed, &r, &head, path);
        assert!(r.stderr.contains(rule), "{}: {}", path, r.stderr);
    }
}

#[test]
fn a_symlink_and_a_directory_of_one_name_are_refused() {
    // Written in tree order, the symlink `a` first and then the directory `a`'s files would
    // land where the symlink points.
    let bed = Bed::new();
    let outside = bed.kit.root().to_str().unwrap().to_owned();
    let hostile = bed.hostile_commit("kustomize/staging", |bed, dir| {
        vec![
            symlink(bed, dir, "a", &outside),
            tree(
                bed,
                dir,
                b"a",
                vec![blob(bed, dir, b"canary.txt", "PWNED\n")],
            ),
        ]
    });
    bed.push(&hostile, "refs/heads/main");
    let head = bed.kit.origin_head();
    let r = bed.run(&bed.kit.clone, &["staging", "v2", "--dry-run"]);
    assert_refused(&bed, &r, &head, "kustomize/staging/a");
    assert!(r.stderr.contains("duplicateEntries"), "{}", r.stderr);
}

#[test]
fn symlinks_out_of_the_repository_are_refused_and_nothing_outside_is_rendered() {
    // From `tmp/kubectl-promote-render-X/kustomize/staging`, `outside` is four levels up.
    let cases = [
        ("absolute", "OUTSIDE".to_owned()),
        ("relative", "../../../../outside".to_owned()),
        // `top` is the repository root (allowed), so `top/../..` climbs above the scratch
        // directory although its text stays inside.
        ("through-another", "top/../../outside".to_owned()),
    ];
    for (name, target) in cases {
        let bed = Bed::new();
        let target = target.replace("OUTSIDE", bed.kit.root().join("outside").to_str().unwrap());
        let hostile = bed.hostile_commit("kustomize/staging", |bed, dir| {
            vec![
                symlink(bed, dir, "top", "../.."),
                symlink(bed, dir, name, &target),
                blob(
                    bed,
                    dir,
                    b"kustomization.yaml",
                    &format!(
                        "resources: [../base, {name}]\nimages:\n- {{name: reg/a, newTag: v1}}\n"
                    ),
                ),
            ]
        });
        bed.push(&hostile, "refs/heads/main");
        let head = bed.kit.origin_head();
        let r = bed.run(&bed.kit.clone, &["staging", "v2", "--dry-run"]);
        assert_refused(&bed, &r, &head, &format!("kustomize/staging/{name}"));
        assert!(!r.stdout.contains(SECRET), "{}", r.stdout);
        assert_eq!(bed.cached_with(SECRET), Vec::<PathBuf>::new());
        bed.kit.git(&["fetch", "--quiet"]);
        let verify = bed.run(&bed.kit.clone, &["verify", &hostile]);
        assert_refused(&bed, &verify, &head, &format!("kustomize/staging/{name}"));
        assert_eq!(bed.cached_with(SECRET), Vec::<PathBuf>::new());
    }
}

#[test]
fn kustomize_references_out_of_the_repository_are_refused() {
    // Kustomize loads a directory named in `resources` from anywhere (its load restrictor
    // covers files only): from `tmp/kubectl-promote-render-X/kustomize/*`, four levels up is
    // `outside`, a kustomization on this machine. In the overlay, or in a base it loads.
    let cases = [
        (
            "kustomize/staging/kustomization.yaml",
            "resources: [../base, ../../../../outside]\nimages:\n- {name: reg/a, newTag: v1}\n",
        ),
        (
            "kustomize/base/kustomization.yaml",
            "resources: [deploy.yaml, ../../../../outside]\n",
        ),
    ];
    for (file, text) in cases {
        let mut bed = Bed::new();
        bed.kit.put(file, text);
        bed.kit.commit("a reference out of the repository");
        let head = bed.kit.origin_head();
        let r = bed.run(&bed.kit.clone, &["staging", "v2", "--dry-run"]);
        assert_refused(&bed, &r, &head, "../../../../outside");
        assert!(
            r.stderr.contains(&format!(
                "{file}: `../../../../outside` is outside the repository"
            )),
            "{}",
            r.stderr
        );
        assert!(!r.stdout.contains(SECRET), "{}", r.stdout);
        assert_eq!(bed.cached_with(SECRET), Vec::<PathBuf>::new());
    }
}

#[test]
fn symlinks_inside_the_repository_still_render() {
    let bed = Bed::new();
    let hostile = bed.hostile_commit("kustomize", |bed, dir| {
        vec![symlink(bed, dir, "base-link", "base")]
    });
    let dir = bed.workspace("attacker");
    let tree = bed
        .kit
        .git_in(&dir, &["rev-parse", &format!("{hostile}^{{tree}}")])
        .trim()
        .to_owned();
    let staging = blob(
        &bed,
        &dir,
        b"kustomization.yaml",
        "resources: [../base-link]\nimages:\n- {name: reg/a, newTag: v1}\n",
    );
    let tree = bed.graft(&dir, &tree, "kustomize/staging", &[staging]);
    let commit = bed.commit_tree(&dir, &tree, "staging through a symlink");
    bed.push(&commit, "refs/heads/main");
    let r = bed.run(&bed.kit.clone, &["staging", "v2", "--dry-run"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("render: ok"), "{}", r.stdout);
    assert_eq!(bed.canary(), CANARY);
    assert_eq!(bed.leftovers(), Vec::<String>::new());
}

/// Interrupt a promotion while it renders (a `kustomize` on PATH that says where it is and
/// waits), and check what it leaves in `TMPDIR`.
fn interrupt_while_rendering(signal: &str) -> (i32, Vec<String>) {
    let bed = Bed::new();
    let bin = bed.kit.root().join("slow-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let marker = bed.kit.root().join("rendering");
    let script = bin.join("kustomize");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$$ $2\" > {}.part && mv {0}.part {0}\nexec sleep 60\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let tmp = bed.tmp.to_str().unwrap().to_owned();
    let mut child = bed
        .kit
        .bin_command(
            BIN,
            &bed.kit.clone,
            &[("TMPDIR", &tmp), ("PATH", &path)],
            &["staging", "v2"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !marker.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "ended before rendering"
        );
        assert!(Instant::now() < deadline, "never reached the render");
        std::thread::sleep(Duration::from_millis(20));
    }
    let said = std::fs::read_to_string(&marker).unwrap();
    let (render_pid, overlay) = said.trim().split_once(' ').unwrap();
    assert!(
        overlay.starts_with(&tmp) && overlay.contains("kubectl-promote-render-"),
        "kustomize renders in the test's TMPDIR: {overlay}"
    );
    let kill = |sig: &str, pid: &str| {
        std::process::Command::new("kill")
            .args([sig, pid])
            .status()
            .unwrap()
    };
    assert!(kill(signal, &child.id().to_string()).success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "did not end on {signal}");
        std::thread::sleep(Duration::from_millis(20));
    };
    // The render child is the kit's stand-in: end it too.
    kill("-KILL", render_pid);
    assert_eq!(bed.canary(), CANARY);
    (status.code().unwrap_or(-1), bed.leftovers())
}

#[test]
fn an_interrupted_promotion_leaves_no_scratch_directory() {
    assert_eq!(interrupt_while_rendering("-INT"), (130, vec![]));
    assert_eq!(interrupt_while_rendering("-TERM"), (143, vec![]));
}

#[test]
fn init_does_not_write_promote_yaml_through_a_symlink() {
    // A checkout whose promote.yaml is a symlink (from a commit someone else made): dangling,
    // or to a file outside the repository.
    let bed = Bed::new();
    let clone = &bed.kit.clone;
    let yaml = clone.join("promote.yaml");
    for (target, args) in [
        ("../made-by-init.yaml", &["init"][..]),
        ("../canary.txt", &["init", "--force"][..]),
    ] {
        std::fs::remove_file(&yaml).unwrap();
        std::os::unix::fs::symlink(target, &yaml).unwrap();
        let r = bed.run(clone, args);
        assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("promote.yaml is a symbolic link"),
            "{}",
            r.stderr
        );
        assert_eq!(bed.canary(), CANARY);
        assert!(!bed.kit.root().join("made-by-init.yaml").exists());
    }
}
