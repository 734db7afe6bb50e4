//! Real git repositories for tests: a bare "origin" in a temp dir and a clone of it, built with
//! the `git` CLI under a hermetic environment (temp `HOME`, no system config), so tests read like
//! the scenario: `GitOps::new().file("a", "…").commit("msg")`.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// A bare origin plus a user's clone of it, in one temp dir that is removed on drop.
#[derive(Debug)]
pub struct GitOps {
    tmp: TempDir,
    pub origin: PathBuf,
    pub clone: PathBuf,
    pub home: PathBuf,
    /// Files staged for the next `commit` on origin (through a scratch clone).
    pending: Vec<(String, Option<String>)>,
    /// Whether the binary looks images up ([`GitOps::check_images`]); off by default, because
    /// most scenarios use images no registry has.
    check_images: bool,
}

impl Default for GitOps {
    fn default() -> Self {
        Self::new()
    }
}

impl GitOps {
    /// An empty bare origin with branch `main`, and a home with a git identity.
    pub fn new() -> GitOps {
        let tmp = tempfile::Builder::new()
            .prefix("promote-test-")
            .tempdir()
            .expect("tempdir");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        std::fs::write(home.join(".gitconfig"), "[user]\n\tname = Test User\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n").expect("gitconfig");
        let origin = tmp.path().join("origin.git");
        let clone = tmp.path().join("work");
        let kit = GitOps {
            tmp,
            origin,
            clone,
            home,
            pending: Vec::new(),
            check_images: false,
        };
        kit.git_in(
            kit.tmp.path(),
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                "origin.git",
            ],
        );
        kit
    }

    /// The same, seeded with a copy of a directory (e.g. `examples/gitops`) as the first commit.
    pub fn from_dir(dir: &Path) -> GitOps {
        let mut kit = GitOps::new();
        copy_dir(dir, dir, &mut |rel, content| {
            kit.pending.push((rel.to_owned(), Some(content)));
        });
        kit.commit("initial: GitOps repo");
        kit
    }

    /// `examples/gitops`-style seed whose images live on `registry` instead of
    /// `registry.example.com`, with each of the example's images pushed there at `tags`; the
    /// binary checks images for this kit.
    pub fn from_dir_on(dir: &Path, registry: &crate::registry::Registry, tags: &[&str]) -> GitOps {
        let mut kit = GitOps::new();
        let mut repos = std::collections::BTreeSet::new();
        copy_dir(dir, dir, &mut |rel, content| {
            for line in content.lines() {
                if let Some(rest) = line.split("registry.example.com/").nth(1) {
                    let repo: String = rest
                        .chars()
                        .take_while(|c| {
                            c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.')
                        })
                        .collect();
                    repos.insert(repo);
                }
            }
            kit.pending.push((
                rel.to_owned(),
                Some(content.replace("registry.example.com", registry.host())),
            ));
        });
        for repo in &repos {
            for tag in tags {
                registry.push(repo, tag);
            }
        }
        kit.commit("initial: GitOps repo");
        kit.check_images = true;
        kit
    }

    /// Let the binary look the images it writes up in their registries (see [`GitOps::env`]).
    pub fn check_images(mut self) -> Self {
        self.check_images = true;
        self
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// Stage a file for the next commit on origin.
    pub fn file(mut self, path: &str, content: &str) -> Self {
        self.pending
            .push((path.to_owned(), Some(content.to_owned())));
        self
    }

    /// Stage a file (by reference, for tests that keep the kit in a variable).
    pub fn put(&mut self, path: &str, content: &str) -> &mut Self {
        self.pending
            .push((path.to_owned(), Some(content.to_owned())));
        self
    }

    pub fn remove(&mut self, path: &str) -> &mut Self {
        self.pending.push((path.to_owned(), None));
        self
    }

    /// Commit the staged files on origin's `main` (as another person would push them) and
    /// bring the user's clone up to date, creating it on first use. Returns the new SHA.
    pub fn commit(&mut self, message: &str) -> String {
        let scratch = self.tmp.path().join("scratch");
        if !scratch.exists() {
            self.git_in(
                self.tmp.path(),
                &[
                    "clone",
                    "--quiet",
                    self.origin.to_str().expect("utf-8"),
                    "scratch",
                ],
            );
        } else {
            self.git_in(
                &scratch,
                &["pull", "--quiet", "--ff-only", "origin", "main"],
            );
        }
        for (path, content) in std::mem::take(&mut self.pending) {
            let p = scratch.join(&path);
            match content {
                Some(c) => {
                    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
                    std::fs::write(&p, c).expect("write");
                }
                None => {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
        self.git_in(&scratch, &["add", "-A"]);
        self.git_in(
            &scratch,
            &["commit", "--quiet", "--allow-empty", "-m", message],
        );
        self.git_in(&scratch, &["push", "--quiet", "origin", "HEAD:main"]);
        if !self.clone.exists() {
            self.git_in(
                self.tmp.path(),
                &[
                    "clone",
                    "--quiet",
                    self.origin.to_str().expect("utf-8"),
                    "work",
                ],
            );
        }
        self.git_in(&scratch, &["rev-parse", "HEAD"])
            .trim()
            .to_owned()
    }

    /// Run git in `dir` with the hermetic environment; panics with git's stderr on failure.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git_cmd(dir, args).output().expect("run git");
        assert!(
            out.status.success(),
            "git {:?} failed in {}: {}",
            args,
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A `git` command with the hermetic environment, for tests that inspect failures.
    pub fn git_cmd(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.current_dir(dir).args(args);
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        cmd
    }

    /// Environment for every process a test runs (git and the binary alike). It is also the
    /// one place that turns the image check off for scenarios unrelated to images
    /// (`KUBECTL_PROMOTE_SKIP_IMAGE_CHECK`, the variable twin of `--skip-image-check`), unless
    /// the kit was built to check them ([`GitOps::check_images`], [`GitOps::from_dir_on`]).
    pub fn env(&self) -> Vec<(String, String)> {
        let h = self.home.to_string_lossy().into_owned();
        let skip = (!self.check_images).then(|| {
            (
                "KUBECTL_PROMOTE_SKIP_IMAGE_CHECK".to_owned(),
                "1".to_owned(),
            )
        });
        let mut vars = vec![
            ("HOME".into(), h.clone()),
            ("XDG_CONFIG_HOME".into(), format!("{h}/.config")),
            ("XDG_CACHE_HOME".into(), format!("{h}/.cache")),
            ("KUBECONFIG".into(), format!("{h}/.kube/config")),
            ("KREW_ROOT".into(), format!("{h}/.krew")),
            ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
            ("GIT_TERMINAL_PROMPT".into(), "0".into()),
        ];
        vars.extend(skip);
        vars
    }

    /// Run git in the user's clone.
    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.clone, args)
    }

    /// Run git against origin.
    pub fn origin_git(&self, args: &[&str]) -> String {
        self.git_in(&self.origin, args)
    }

    /// Drop every environment's `argocd:` line from origin's `promote.yaml` (one commit), for a
    /// test about something else that reaches no cluster: a protected environment with an
    /// Argo CD application refuses promotions while its rollback marker cannot be read.
    pub fn without_argocd(&mut self) -> &mut Self {
        let text = self
            .origin_file("promote.yaml")
            .expect("promote.yaml on origin");
        let kept: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("argocd:"))
            .map(|l| format!("{l}\n"))
            .collect();
        self.put("promote.yaml", &kept);
        self.commit("promote.yaml without Argo CD applications");
        self
    }

    /// A file on origin's `main`.
    pub fn origin_file(&self, path: &str) -> Option<String> {
        let out = self
            .git_cmd(&self.origin, &["show", &format!("main:{path}")])
            .output()
            .expect("git show");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Origin's `main` SHA.
    pub fn origin_head(&self) -> String {
        self.origin_git(&["rev-parse", "main"]).trim().to_owned()
    }

    /// `git status --porcelain` plus HEAD, index and branch list of the user's clone: tests
    /// compare it before and after to prove we touched nothing of the user's.
    pub fn clone_state(&self) -> String {
        let mut s = self.git(&["status", "--porcelain", "--untracked-files=all"]);
        s.push_str(&self.git(&["rev-parse", "HEAD"]));
        s.push_str(&self.git(&[
            "for-each-ref",
            "refs/heads",
            "--format=%(refname) %(objectname)",
        ]));
        s.push_str(&self.git(&["ls-files", "-s"]));
        s
    }
}

/// An ssh key pair made with `ssh-keygen` for signing commits (git's `gpg.format ssh`), offline.
#[derive(Debug, Clone)]
pub struct SshKey {
    /// The private key file (no passphrase): what `user.signingkey` names.
    pub private: PathBuf,
    /// The public key as one line (`ssh-ed25519 AAAA… comment`), for an allowed-signers file.
    pub public: String,
}

impl SshKey {
    /// The line of an allowed-signers file (git's `gpg.ssh.allowedSignersFile` format) that
    /// allows this key for `principals` (`qa@example.com`, or `a@x,b@x`).
    pub fn allowed_signer(&self, principals: &str) -> String {
        format!("{principals} {}\n", self.public)
    }
}

impl GitOps {
    /// A new ed25519 key named `name` in the kit's temp dir (no passphrase, so signing needs
    /// neither an agent nor a terminal).
    pub fn ssh_key(&self, name: &str) -> SshKey {
        let private = self.tmp.path().join(format!("{name}.ssh-key"));
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&private)
            .output()
            .expect("run ssh-keygen");
        assert!(
            out.status.success(),
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let public = std::fs::read_to_string(private.with_extension("ssh-key.pub"))
            .expect("public key")
            .trim()
            .to_owned();
        SshKey { private, public }
    }

    /// Make the repository in `dir` sign its commits with `key`, as a user who set up git's ssh
    /// signing would: `gpg.format ssh`, `user.signingkey`, `commit.gpgsign true`.
    pub fn sign_with(&self, dir: &Path, key: &SshKey) {
        self.git_in(dir, &["config", "gpg.format", "ssh"]);
        self.git_in(
            dir,
            &[
                "config",
                "user.signingkey",
                key.private.to_str().expect("utf-8"),
            ],
        );
        self.git_in(dir, &["config", "commit.gpgsign", "true"]);
    }

    /// An approver whose records are verified: a clone named `name` with git identity `user
    /// <email>` that signs its commits with a new ssh key, which is allowed for `email` in
    /// `.promote/allowed_signers` on origin's main (the file `approverKeys.ssh` names in
    /// `examples/gitops`).
    pub fn signing_approver(&mut self, name: &str, user: &str, email: &str) -> PathBuf {
        let key = self.ssh_key(name);
        let mut signers = self
            .origin_file(".promote/allowed_signers")
            .unwrap_or_default();
        signers.push_str(&key.allowed_signer(email));
        self.put(".promote/allowed_signers", &signers);
        self.commit(&format!("allow {email}'s signing key"));
        let dir = self.person(name, user, email);
        self.sign_with(&dir, &key);
        dir
    }

    /// A clone of origin (in the kit's temp dir, named `name`) whose git identity is `Name
    /// <email>`: a second person working next to the user.
    pub fn person(&self, name: &str, user: &str, email: &str) -> PathBuf {
        self.git_in(
            self.tmp.path(),
            &[
                "clone",
                "--quiet",
                self.origin.to_str().expect("utf-8"),
                name,
            ],
        );
        let dir = self.tmp.path().join(name);
        self.git_in(&dir, &["config", "user.name", user]);
        self.git_in(&dir, &["config", "user.email", email]);
        dir
    }
}

fn copy_dir(root: &Path, dir: &Path, add: &mut dyn FnMut(&str, String)) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            copy_dir(root, &p, add);
        } else {
            let rel = p
                .strip_prefix(root)
                .expect("prefix")
                .to_string_lossy()
                .into_owned();
            add(&rel, std::fs::read_to_string(&p).expect("utf-8 file"));
        }
    }
}

/// The workspace root (for `examples/`), from this crate's manifest dir.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// What a run of the binary printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl GitOps {
    /// Run a binary (`env!("CARGO_BIN_EXE_kubectl-promote")`) in `dir` the way a user would,
    /// with nothing of the test process's environment but `PATH`: the kit's hermetic home,
    /// `--color=never`, no stdin (so nothing prompts), plus `extra` variables.
    /// The binary `bin` as a hermetic command in `dir`: only `PATH` from the outside, the kit's
    /// environment ([`GitOps::env`]) plus `extra`, no colour, no stdin. Tests that need the
    /// process itself (to kill it, to run several at once) start this; others use `run_bin`.
    pub fn bin_command(
        &self,
        bin: &str,
        dir: &Path,
        extra: &[(&str, &str)],
        args: &[&str],
    ) -> Command {
        let mut c = Command::new(bin);
        c.args(args)
            .arg("--color=never")
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env())
            .envs(extra.iter().copied())
            .stdin(std::process::Stdio::null());
        c
    }

    pub fn run_bin(&self, bin: &str, dir: &Path, extra: &[(&str, &str)], args: &[&str]) -> Run {
        let out = self
            .bin_command(bin, dir, extra, args)
            .output()
            .unwrap_or_else(|e| panic!("running {bin}: {e}"));
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }
}
