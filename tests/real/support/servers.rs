//! The servers one run of the suite shares: ONE real cluster (kube-apiserver, etcd, redis and the
//! real Argo CD, `scripts/real-cluster.sh`), ONE real Gitea (`scripts/real-forge.sh`) and ONE
//! `crane registry serve` holding the example's nine images at v1.0.0..v1.0.5. Each is started on
//! first use (a Gitea-only run starts no cluster) and kept for the rest of the run.
//!
//! Statics are never dropped, so stopping does not hang on a destructor: when the first server is
//! started, a reaper process (its own session, so a Ctrl-C to the test's terminal does not take it
//! down first) waits for this test process to end, however it ends (success, a panic, SIGKILL),
//! then stops everything by the PIDs the scripts recorded, and writes `reaped` in the run dir.
//! `scripts/test-real.sh` waits for that file and checks that nothing of ours is left running.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use promote_testkit::repo::workspace_root;

/// Tags pushed for every image of the example (v1.0.5 is a second bad release).
pub const TAGS: [&str; 6] = ["v1.0.0", "v1.0.1", "v1.0.2", "v1.0.3", "v1.0.4", "v1.0.5"];

/// Where this run keeps its state: `REAL_SUITE_DIR` (set by `scripts/test-real.sh`), else a new
/// dir under the temp dir. `cluster/`, `forge/` are the scripts' state dirs; `extra/` records
/// processes the suite starts itself (the registry) in the scripts' PID-file format.
pub struct RunDir {
    pub path: PathBuf,
}

static RUN: OnceLock<RunDir> = OnceLock::new();

pub fn run_dir() -> &'static RunDir {
    RUN.get_or_init(|| {
        let path = match std::env::var_os("REAL_SUITE_DIR").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => std::env::temp_dir().join(format!("promote-real-suite.{}", std::process::id())),
        };
        std::fs::create_dir_all(path.join("extra/pids")).expect("creating the suite's run dir");
        let _ = std::fs::remove_file(path.join("reaped"));
        start_reaper(&path);
        RunDir { path }
    })
}

/// The reaper: a shell in its own session that outlives us just long enough to stop what we
/// started. `real_stop_all` signals only PIDs whose recorded start time still matches.
#[expect(
    clippy::zombie_processes,
    reason = "the reaper must outlive this process; init reaps it"
)]
fn start_reaper(run: &Path) {
    let root = workspace_root();
    let script = r#"
        while kill -0 "$1" 2>/dev/null; do sleep 0.3; done
        [ -d "$3/cluster/pids" ] && bash "$2/scripts/real-cluster.sh" stop "$3/cluster"
        [ -d "$3/forge/pids" ] && bash "$2/scripts/real-forge.sh" stop "$3/forge"
        source "$2/scripts/real-lib.sh"
        real_stop_all "$3/extra"
        date -u +%FT%TZ >"$3/reaped"
    "#;
    let log = std::fs::File::create(run.join("reaper.log")).expect("reaper log");
    Command::new("setsid")
        .args(["bash", "-c", script, "reaper"])
        .arg(std::process::id().to_string())
        .arg(&root)
        .arg(run)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("reaper log"))
        .stderr(log)
        .spawn()
        .expect("starting the reaper (setsid bash)");
}

/// `KEY=VALUE` lines of an env file the scripts write.
fn read_env(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Runs `bash scripts/NAME start DIR`; the error says which script failed and how.
fn script_start(name: &str, dir: &Path) -> Result<BTreeMap<String, String>, String> {
    let started = Instant::now();
    let start = || {
        Command::new("bash")
            .arg(workspace_root().join("scripts").join(name))
            .arg("start")
            .arg(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running scripts/{name}: {e}"))
    };
    let mut out = start()?;
    // A port picked free can still be taken before the component binds it; a failed start
    // stops what it started and forgets its state, so another go picks new ports.
    for _ in 0..2 {
        if out.status.success()
            || !String::from_utf8_lossy(&out.stderr).contains("address already in use")
        {
            break;
        }
        timing(&format!(
            "scripts/{name} start: a port was taken, starting again"
        ));
        out = start()?;
    }
    if !out.status.success() {
        return Err(format!(
            "scripts/{name} start {} failed ({}): {}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    timing(&format!(
        "scripts/{name} start took {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(read_env(&dir.join("env")))
}

/// The real cluster's env file (KUBECONFIG, APISERVER…, ARGOCD_SERVER, ARGOCD_AUTH_TOKEN).
pub struct Cluster {
    pub env: BTreeMap<String, String>,
}

impl Cluster {
    pub fn var(&self, name: &str) -> &str {
        self.env
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from the cluster's env file"))
    }
    pub fn kubeconfig(&self) -> &str {
        self.var("KUBECONFIG")
    }
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

pub fn cluster() -> &'static Cluster {
    let got = CLUSTER.get_or_init(|| {
        let dir = run_dir().path.join("cluster");
        script_start("real-cluster.sh", &dir).map(|env| Cluster { env })
    });
    match got {
        Ok(c) => c,
        Err(e) => panic!("the real cluster did not start: {e}"),
    }
}

/// The real Gitea's env file (GITEA_URL, GITEA_API, the users' tokens).
pub struct Forge {
    pub env: BTreeMap<String, String>,
}

impl Forge {
    pub fn var(&self, name: &str) -> &str {
        self.env
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from the forge's env file"))
    }
}

static FORGE: OnceLock<Result<Forge, String>> = OnceLock::new();

pub fn forge() -> &'static Forge {
    let got = FORGE.get_or_init(|| {
        let dir = run_dir().path.join("forge");
        script_start("real-forge.sh", &dir).map(|env| Forge { env })
    });
    match got {
        Ok(f) => f,
        Err(e) => panic!("the real Gitea did not start: {e}"),
    }
}

/// `crane registry serve` for the whole run, with the example's images pushed once.
pub struct Registry {
    pub host: String,
}

static REGISTRY: OnceLock<Result<Registry, String>> = OnceLock::new();

/// The example's image repositories (`microservices-demo/cartservice`, ...), from its staging
/// overlay.
pub fn example_repos() -> Vec<String> {
    let text = std::fs::read_to_string(
        workspace_root().join("examples/gitops/kustomize/staging/kustomization.yaml"),
    )
    .expect("the example's staging overlay");
    text.lines()
        .filter_map(|l| l.split("registry.example.com/").nth(1))
        .map(|r| r.trim().to_owned())
        .collect()
}

pub fn registry() -> &'static Registry {
    let got = REGISTRY.get_or_init(start_registry);
    match got {
        Ok(r) => r,
        Err(e) => panic!("the registry did not start: {e}"),
    }
}

fn start_registry() -> Result<Registry, String> {
    let started = Instant::now();
    let run = run_dir();
    let crane = promote_testkit::registry::crane();
    let mut child = Command::new(&crane)
        .args(["registry", "serve", "--address", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {} registry serve: {e}", crane.display()))?;
    record_pid(&run.path.join("extra/pids/crane.pid"), child.id());
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    // The port is on its first line; then keep draining (crane logs every request).
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(port) = line.split("serving on port ").nth(1)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(port.trim().to_owned());
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| "crane registry serve named no port within 30 s".to_owned())?;
    let host = format!("127.0.0.1:{port}");
    let layers = run.path.join("layers");
    std::fs::create_dir_all(&layers).map_err(|e| e.to_string())?;
    // One small layer naming the reference, so every tag has a digest of its own; one crane
    // process per repo (a shell loop), not one per tag.
    let script = r#"
        set -e
        crane=$1 host=$2 dir=$3; shift 3
        for repo in "$@"; do
          for tag in v1.0.0 v1.0.1 v1.0.2 v1.0.3 v1.0.4 v1.0.5; do
            f="$dir/$(echo "$repo-$tag" | tr / _)"
            mkdir -p "$f" && echo "$host/$repo:$tag" >"$f/ref.txt"
            tar -C "$f" -cf "$f.tar" ref.txt
            "$crane" append --new_layer "$f.tar" --new_tag "$host/$repo:$tag" >/dev/null
          done
        done
    "#;
    let out = Command::new("bash")
        .args(["-c", script, "push"])
        .arg(&crane)
        .arg(&host)
        .arg(&layers)
        .args(example_repos())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "pushing the example's images to {host}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    timing(&format!(
        "registry {host} with {} images x {} tags in {:.1}s",
        example_repos().len(),
        TAGS.len(),
        started.elapsed().as_secs_f64()
    ));
    // Never waited for: the reaper ends it with the rest (dropping a Child does not kill it).
    drop(child);
    Ok(Registry { host })
}

/// `PID STARTTIME` (field 22 of /proc/PID/stat), as `scripts/real-lib.sh` records a process, so
/// the reaper's `real_stop_all` stops it and never a recycled PID.
fn record_pid(file: &Path, pid: u32) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let start = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.split_whitespace().nth(19))
        .unwrap_or_default()
        .to_owned();
    std::fs::write(file, format!("{pid} {start}\n")).expect("recording a PID");
}

/// One line in the run dir's `timings.log` (printed by `scripts/test-real.sh`) and on stderr.
pub fn timing(line: &str) {
    use std::io::Write;
    eprintln!("real suite: {line}");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run_dir().path.join("timings.log"))
    {
        let _ = writeln!(f, "{line}");
    }
}
