//! One test's repository on the shared real Gitea: `acme/ID`, seeded with the example's overlays
//! and a promote.yaml whose `forge:` is this Gitea, cloned into a hermetic home where git pushes
//! as `promoter` through git's credential store (the API token never sits in a remote URL).
//! Users (from `scripts/real-forge.sh`): promoter (Ana Platform), qa, pm (Pat PM, pm@example.com,
//! verified), each with an all-scopes token.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use promote_testkit::repo::{GitOps, workspace_root};
use serde_json::{Value, json};

use super::argo::files;
use super::servers::{self, Forge};
use super::{BIN, Run, pinned_now, unique, wait_for};

/// What a test's promote.yaml says about prod's approvals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approval {
    /// No approval needed.
    None,
    /// `builtin:require-approval {role: pm}` with `approvers.pm: ["gitea:pm"]`.
    PmByAccount,
    /// The same with `approvers.pm: [pm@example.com]` (finding G1).
    PmByEmail,
}

pub struct GiteaBed {
    pub repo: String,
    pub kit: GitOps,
    pub clone: PathBuf,
    pub forge: &'static Forge,
}

impl GiteaBed {
    pub fn new(slug: &str, approval: Approval) -> GiteaBed {
        let forge = servers::forge();
        let name = unique(slug);
        let repo = format!("acme/{name}");
        let kit = GitOps::new();
        let bed = GiteaBed {
            clone: kit.root().join("gitea-work"),
            repo,
            kit,
            forge,
        };
        let admin = forge.var("GITEA_ADMIN_TOKEN");
        bed.api_ok(
            "POST",
            "/orgs/acme/repos",
            admin,
            Some(json!({"name": name, "default_branch": "main", "private": false})),
        );
        for user in ["promoter", "qa", "pm"] {
            bed.api_ok(
                "PUT",
                &format!("/repos/{}/collaborators/{user}", bed.repo),
                admin,
                Some(json!({"permission": "write"})),
            );
        }
        // git pushes as promoter through the credential store of the hermetic home.
        let host = forge
            .var("GITEA_URL")
            .trim_start_matches("http://")
            .to_owned();
        std::fs::write(
            bed.kit.home.join(".git-credentials"),
            format!(
                "http://promoter:{}@{host}\n",
                forge.var("GITEA_PROMOTER_TOKEN")
            ),
        )
        .unwrap();
        let mut gitconfig = std::fs::read_to_string(bed.kit.home.join(".gitconfig")).unwrap();
        gitconfig.push_str("[credential]\n\thelper = store\n[user]\n\tname = Ana Platform\n\temail = ana@example.com\n");
        std::fs::write(bed.kit.home.join(".gitconfig"), gitconfig).unwrap();
        let seed = bed.kit.root().join("gitea-seed");
        for (rel, text) in files(&workspace_root().join("examples/gitops")) {
            if rel == "promote.yaml" || rel.starts_with("argocd/") {
                continue;
            }
            let p = seed.join(&rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        std::fs::write(seed.join("promote.yaml"), bed.config(approval)).unwrap();
        let url = bed.url();
        bed.kit
            .git_in(&seed, &["init", "--quiet", "--initial-branch=main"]);
        bed.kit.git_in(&seed, &["add", "-A"]);
        bed.kit.git_in(
            &seed,
            &["commit", "--quiet", "-m", "online boutique at v1.0.0"],
        );
        bed.kit
            .git_in(&seed, &["push", "--quiet", &url, "HEAD:main"]);
        bed.kit
            .git_in(bed.kit.root(), &["clone", "--quiet", &url, "gitea-work"]);
        // Gitea handles the first push into an empty repository in the background: until it has,
        // the repository counts as empty and listing its pull requests answers 404 (which the
        // product reads as "no repository"). Wait for that; a user is slower than that.
        let pulls = format!("/repos/{}/pulls", bed.repo);
        wait_for(
            "Gitea to process the first push",
            Duration::from_secs(30),
            || (bed.api("GET", &pulls, admin, None).0 == 200).then_some(()),
            || format!("{:?}", bed.api("GET", &pulls, admin, None)),
        );
        bed
    }

    /// The repo's clone URL (no credentials in it).
    pub fn url(&self) -> String {
        format!("{}/{}.git", self.forge.var("GITEA_URL"), self.repo)
    }

    pub fn config(&self, approval: Approval) -> String {
        let approvers = match approval {
            Approval::None | Approval::PmByAccount => "[\"gitea:pm\"]",
            Approval::PmByEmail => "[pm@example.com]",
        };
        let policies = match approval {
            Approval::None => "",
            _ => {
                "    policies:\n      promote:\n        - {module: builtin:require-approval, settings: {role: pm}}\n"
            }
        };
        format!(
            "apiVersion: promote.kubectl.io/v1alpha1
kind: PromotionConfig
git: {{remote: origin, baseBranch: main, mode: pr}}
forge: {{type: gitea, url: \"{}\", repo: {}}}
approvers:
  pm: {approvers}
environments:
  - {{name: staging, overlay: kustomize/staging, mode: direct}}
  - name: prod
    overlay: kustomize/prod
    from: staging
    reviewers: [pm]
    labels: [release]
{policies}",
            self.forge.var("GITEA_URL"),
            self.repo
        )
    }

    /// The binary in the clone, as promoter: with the API token in GITEA_TOKEN, or without.
    pub fn command(&self, args: &[&str], token: bool) -> Command {
        let mut env = vec![("KUBECTL_PROMOTE_NOW", pinned_now())];
        if token {
            env.push(("GITEA_TOKEN", self.forge.var("GITEA_PROMOTER_TOKEN")));
        }
        self.kit.bin_command(BIN, &self.clone, &env, args)
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_token(args, true)
    }

    pub fn run_token(&self, args: &[&str], token: bool) -> Run {
        let out = self.command(args, token).output().expect("run the binary");
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        self.assert_no_token(&run.stdout);
        self.assert_no_token(&run.stderr);
        run
    }

    /// No user's token in `text` (output, PR bodies, comments).
    #[track_caller]
    pub fn assert_no_token(&self, text: &str) {
        for name in [
            "GITEA_PROMOTER_TOKEN",
            "GITEA_PM_TOKEN",
            "GITEA_QA_TOKEN",
            "GITEA_ADMIN_TOKEN",
        ] {
            assert!(
                !text.contains(self.forge.var(name)),
                "{name} leaked: {text}"
            );
        }
    }

    /// Starts the binary with `--wait` and returns once it says it waits for the merge.
    pub fn start_waiting(&self, args: &[&str]) -> Waiting {
        let mut child = self
            .command(args, true)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the binary");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        wait_for(
            "the binary to wait for the merge",
            Duration::from_secs(60),
            || {
                stderr
                    .lock()
                    .unwrap()
                    .contains("to be merged")
                    .then_some(())
            },
            || stderr.lock().unwrap().clone(),
        );
        Waiting {
            child,
            stderr,
            reader: Some(reader),
        }
    }

    /// A Gitea API call as the holder of `token`: (HTTP status, JSON body or Null).
    pub fn api(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.forge.var("GITEA_API"));
        let mut c = Command::new("curl");
        c.args(["-sS", "-X", method, "-w", "\n%{http_code}", "-H"])
            .arg(format!("Authorization: token {token}"))
            .args(["-H", "Content-Type: application/json"]);
        if let Some(b) = body {
            c.args(["--data", &b.to_string()]);
        }
        let out = c.arg(&url).output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        let code = code.trim().parse().unwrap_or(0);
        (code, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    #[track_caller]
    pub fn api_ok(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
        let (code, v) = self.api(method, path, token, body);
        assert!(
            (200..300).contains(&code),
            "{method} {path}: HTTP {code}: {v}"
        );
        v
    }

    pub fn admin(&self) -> &str {
        self.forge.var("GITEA_ADMIN_TOKEN")
    }

    pub fn pm(&self) -> &str {
        self.forge.var("GITEA_PM_TOKEN")
    }

    /// Every pull request of the repo (open and closed), by number.
    pub fn pulls(&self) -> Vec<Value> {
        let v = self.api_ok(
            "GET",
            &format!("/repos/{}/pulls?state=all&limit=50", self.repo),
            self.admin(),
            None,
        );
        let mut prs = v.as_array().cloned().unwrap_or_default();
        prs.sort_by_key(|p| p["number"].as_u64());
        prs
    }

    pub fn pull(&self, n: u64) -> Value {
        self.api_ok(
            "GET",
            &format!("/repos/{}/pulls/{n}", self.repo),
            self.admin(),
            None,
        )
    }

    pub fn reviews(&self, n: u64) -> Vec<Value> {
        let v = self.api_ok(
            "GET",
            &format!("/repos/{}/pulls/{n}/reviews", self.repo),
            self.admin(),
            None,
        );
        v.as_array().cloned().unwrap_or_default()
    }

    pub fn comments(&self, n: u64) -> Vec<Value> {
        let v = self.api_ok(
            "GET",
            &format!("/repos/{}/issues/{n}/comments", self.repo),
            self.admin(),
            None,
        );
        v.as_array().cloned().unwrap_or_default()
    }

    /// pm approves pull request `n` with a review.
    pub fn pm_approves(&self, n: u64) {
        self.api_ok(
            "POST",
            &format!("/repos/{}/pulls/{n}/reviews", self.repo),
            self.pm(),
            Some(json!({"event": "APPROVED", "body": "fine by product"})),
        );
    }

    /// pm merges pull request `n` (`merge` or `squash`); Gitea checks mergeability in the
    /// background after a push, so a fresh PR may answer "try again later" for a moment.
    pub fn pm_merges(&self, n: u64, how: &str) {
        let path = format!("/repos/{}/pulls/{n}/merge", self.repo);
        wait_for(
            &format!("Gitea to merge #{n} ({how})"),
            Duration::from_secs(60),
            || {
                let (code, _) = self.api("POST", &path, self.pm(), Some(json!({"Do": how})));
                (200..300).contains(&code).then_some(())
            },
            || {
                format!(
                    "{}",
                    self.api("POST", &path, self.pm(), Some(json!({"Do": how})))
                        .1
                )
            },
        );
    }

    /// A file on the forge's `main`.
    pub fn main_file(&self, path: &str) -> String {
        self.kit
            .git_in(&self.clone, &["fetch", "--quiet", "origin"]);
        self.kit
            .git_in(&self.clone, &["show", &format!("origin/main:{path}")])
    }

    /// `git log` in the clone after a fetch.
    pub fn git_log(&self, args: &[&str]) -> String {
        self.kit
            .git_in(&self.clone, &["fetch", "--quiet", "origin"]);
        let mut a = vec!["log"];
        a.extend_from_slice(args);
        self.kit.git_in(&self.clone, &a)
    }
}

/// A binary started with `--wait`, waiting for a merge.
pub struct Waiting {
    child: Child,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Waiting {
    pub fn finish(mut self) -> Run {
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            std::io::Read::read_to_string(&mut out, &mut stdout).unwrap();
        }
        let status = self.child.wait().unwrap();
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        // A test that failed before finish(): never leave the binary running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
