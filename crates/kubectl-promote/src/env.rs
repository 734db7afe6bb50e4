//! The one place that reads environment variables (and asks whether stdin is a terminal).
//! Everything else receives an [`Env`], so tests can run the binary hermetically.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Env {
    /// `$XDG_CACHE_HOME/kubectl-promote`, else `~/.cache/kubectl-promote`.
    pub cache_dir: PathBuf,
    /// A person is at the terminal: stdin is a TTY and `CI` is unset.
    pub interactive: bool,
    /// `PATH` as the process got it; [`Env::render_tools`] searches it on first use, so
    /// commands that never render (`policy eval`, `status`) skip the probes.
    path: std::ffi::OsString,
    /// The render tools found on `path`, looked up once.
    render_tools: std::sync::OnceLock<RenderTools>,
    /// `KUBECTL_PROMOTE_NOW` (RFC 3339): the time policies see, for reproducible runs and
    /// tests of time-dependent policies (change windows, soak times). Unset = the clock.
    pub now: Option<String>,
    /// `$KREW_ROOT`, else `~/.krew`: where krew installs `promote-policy-*` modules.
    pub krew_root: Option<PathBuf>,
    /// The image check's registry settings (README "Images exist before we commit").
    pub registries: Registries,
    /// A snapshot of the environment, for variables named at run time (a forge's `tokenEnv`,
    /// `ARGOCD_AUTH_TOKEN`). Values may be secrets: never print them.
    vars: std::collections::BTreeMap<String, String>,
    /// Test builds only (`--features test-hooks`): `KUBECTL_PROMOTE_TEST_PAUSE=POINT` and
    /// `KUBECTL_PROMOTE_TEST_PAUSE_FILE=PATH` make the process stop at that point, so a test can
    /// kill it there. Release builds never read these variables.
    #[cfg(feature = "test-hooks")]
    test_pause: Option<(String, PathBuf)>,
}

impl Env {
    pub fn from_process() -> Env {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from);
        let cache_dir = var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("kubectl-promote");
        let ci = var("CI").is_some_and(|v| v != "false" && v != "0");
        Env {
            cache_dir,
            interactive: !ci && std::io::stdin().is_terminal(),
            path: var("PATH").unwrap_or_default(),
            render_tools: std::sync::OnceLock::new(),
            krew_root: var("KREW_ROOT")
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".krew"))),
            now: var("KUBECTL_PROMOTE_NOW").map(|v| v.to_string_lossy().into_owned()),
            registries: Registries {
                docker_config: var("DOCKER_CONFIG")
                    .map(PathBuf::from)
                    .or_else(|| home.as_ref().map(|h| h.join(".docker")))
                    .map(|d| d.join("config.json")),
                insecure: var("KUBECTL_PROMOTE_INSECURE_REGISTRIES")
                    .map(|v| {
                        v.to_string_lossy()
                            .split(',')
                            .map(|h| h.trim().to_owned())
                            .filter(|h| !h.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
                skip_check: var("KUBECTL_PROMOTE_SKIP_IMAGE_CHECK")
                    .is_some_and(|v| v != "false" && v != "0"),
            },
            vars: std::env::vars().collect(),
            #[cfg(feature = "test-hooks")]
            test_pause: var("KUBECTL_PROMOTE_TEST_PAUSE")
                .zip(var("KUBECTL_PROMOTE_TEST_PAUSE_FILE"))
                .map(|(p, f)| (p.to_string_lossy().into_owned(), PathBuf::from(f))),
        }
    }

    /// A named point where a test may stop the process (`--features test-hooks`): when
    /// `KUBECTL_PROMOTE_TEST_PAUSE` names it, write the marker file and sleep until killed, or
    /// until the test deletes the marker (a barrier: the race tests hold ten processes there and
    /// release them at once), at most ten minutes, then carry on. A process pauses once; a retry
    /// passing the point again goes on. Without the feature this does nothing.
    pub fn pause_at(&self, point: &str) {
        #[cfg(feature = "test-hooks")]
        if let Some((wanted, marker)) = &self.test_pause
            && wanted == point
        {
            static PAUSED: std::sync::atomic::AtomicBool =
                std::sync::atomic::AtomicBool::new(false);
            if PAUSED.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            // Written aside and renamed, so a test never reads a marker that exists but is empty.
            let aside = marker.with_extension("writing");
            let _ = std::fs::write(&aside, format!("{point} {}\n", std::process::id()));
            let _ = std::fs::rename(&aside, marker);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
            while std::time::Instant::now() < deadline && marker.exists() {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        #[cfg(not(feature = "test-hooks"))]
        let _ = point;
    }

    /// The `kubectl` to render with and a standalone `kustomize`, preferred where present
    /// (PATH lookups, made on the first call).
    pub fn render_tools(&self) -> &RenderTools {
        self.render_tools.get_or_init(|| {
            let which = |name: &str| {
                std::env::split_paths(&self.path)
                    .map(|d| d.join(name))
                    .find(|p| is_executable(p))
            };
            RenderTools {
                kubectl: which("kubectl").unwrap_or_else(|| PathBuf::from("kubectl")),
                kustomize: which("kustomize"),
                helm: which("helm").unwrap_or_else(|| PathBuf::from("helm")),
            }
        })
    }

    /// A variable's value, if set and not empty.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// The programs a render runs, found on `PATH`.
#[derive(Debug, Clone)]
pub struct RenderTools {
    /// The `kubectl` to render with (PATH lookup).
    pub kubectl: PathBuf,
    /// A standalone `kustomize` on PATH, preferred for rendering where present.
    pub kustomize: Option<PathBuf>,
    /// The `helm` that renders charts (PATH lookup).
    pub helm: PathBuf,
}

/// Where registry credentials are and which registries are special.
#[derive(Debug, Clone)]
pub struct Registries {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` (as the docker CLI).
    pub docker_config: Option<PathBuf>,
    /// `KUBECTL_PROMOTE_INSECURE_REGISTRIES=host[:port],…`: reached over plain HTTP (loopback
    /// registries always are).
    pub insecure: Vec<String>,
    /// `KUBECTL_PROMOTE_SKIP_IMAGE_CHECK=1`: `--skip-image-check` for every command (air-gapped
    /// CI); still recorded in the plan and the `Image-Check` trailer.
    pub skip_check: bool,
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}
