//! The render check: build the edited overlay with `kubectl kustomize` (or `kustomize build`
//! where installed) from a scratch copy of the tree, and refuse on kustomize's errors. An
//! environment whose pins are Helm values with a chart renders with `helm template`; one whose
//! pins are fields of another YAML file (a values file without a chart, a Flux HelmRelease, an
//! Argo CD Application) has that file parsed, every document of it ([`RenderTarget`]).
//!
//! Renders are cached by content: the key hashes what the render can read (the directories of
//! the overlay and of every kustomization it loads, by the tree id each has with the edited
//! files applied; see [`Renderer::key`]) and the program, so the same input is never rendered
//! twice (a retried promotion, `verify` after a dry run or of a pushed promotion, the next
//! promotion's comparison with what the env last had, a promotion after other environments
//! moved). The scratch
//! tree is written from git objects, never from the user's working tree, and holds only those
//! directories when they could be narrowed (the whole tree otherwise). The tree may come from an
//! untrusted pull request: [`Repo::materialize`] refuses entries and symlinks that would write or
//! read outside the scratch directory, which is a [`ScratchDir`] (mode 0700, removed on drop
//! and when the process is interrupted).
//!
//! A [`Speculation`] renders a promotion as planned from the last-fetched remote tip while the
//! fetch runs; the real render takes its result only when the keys are equal, i.e. when the
//! fetch changed nothing the render reads.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use promote_core::config::{Environment, FieldTarget, Pins};
use promote_core::overlay::{Overlay, is_remote_ref};
use promote_git::{CommitId, PathKind, Repo};

use crate::scratch::ScratchDir;

/// Which program renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderProgram {
    /// `kubectl kustomize DIR` (kubectl's built-in kustomize).
    Kubectl(PathBuf),
    /// `kustomize build DIR` (a standalone kustomize, preferred where present).
    Kustomize(PathBuf),
}

impl RenderProgram {
    pub fn describe(&self) -> &'static str {
        match self {
            RenderProgram::Kubectl(_) => "kubectl kustomize",
            RenderProgram::Kustomize(_) => "kustomize build",
        }
    }
}

/// What a render builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderTarget {
    /// A Kustomize overlay directory.
    Kustomize(String),
    /// `helm template RELEASE CHART -f VALUES`: a chart directory and the environment's values
    /// file, both in the repository.
    Helm {
        chart: String,
        values: String,
        release: String,
    },
    /// A YAML file read as it is: every document must parse.
    File(String),
}

impl RenderTarget {
    /// What renders ENV: its overlay, its chart with its values file, or the file of its fields.
    pub fn of(env: &Environment) -> RenderTarget {
        match &env.pins {
            Pins::Kustomize => RenderTarget::Kustomize(env.overlay.clone()),
            Pins::Fields(FieldTarget {
                chart: Some(chart), ..
            }) => RenderTarget::Helm {
                chart: chart.clone(),
                values: env.overlay.clone(),
                // Argo CD names a Helm release after its Application.
                release: env
                    .argocd
                    .as_ref()
                    .map_or_else(|| env.name.clone(), |a| a.app.clone()),
            },
            Pins::Fields(_) => RenderTarget::File(env.overlay.clone()),
        }
    }

    /// The repo path that messages name: the overlay, the values file or the file.
    pub fn path(&self) -> &str {
        match self {
            RenderTarget::Kustomize(p) | RenderTarget::File(p) => p,
            RenderTarget::Helm { values, .. } => values,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Renderer {
    pub program: RenderProgram,
    /// The `helm` that renders charts (`helm template`).
    pub helm: PathBuf,
    /// `<cache>/renders`; `None` disables the cache (`--no-cache`).
    pub cache: Option<PathBuf>,
    /// A render started while the session fetched ([`Speculation::start`]), taken when its key
    /// is ours.
    pub speculation: Option<Arc<Speculation>>,
}

/// The render failed: kustomize's own words.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("rendering {overlay} with {program} failed:\n{message}")]
    Kustomize {
        overlay: String,
        program: &'static str,
        message: String,
    },
    #[error("could not run {program}; is it installed and on PATH?")]
    Spawn {
        program: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("preparing the scratch tree for rendering: {0}")]
    Scratch(String),
    #[error(
        "{file}: `{reference}` is outside the repository; kustomize would read it from this machine, not from git: keep every reference inside the repository"
    )]
    OutsideRepository { file: String, reference: String },
}

/// A successful render.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub manifests: String,
    pub resources: usize,
    pub cached: bool,
    /// Rendered by the [`Speculation`] started during the fetch.
    pub speculative: bool,
}

impl Renderer {
    /// Render `overlay` of `base`'s tree with `changes` (repo path → new bytes) applied.
    pub fn render(
        &self,
        repo: &Repo,
        base: CommitId,
        changes: &BTreeMap<String, Vec<u8>>,
        target: &RenderTarget,
    ) -> Result<Rendered, RenderError> {
        let (key, inputs) = self.key_and_inputs(repo, base, changes, target)?;
        if let Some(hit) = self.cached(&key) {
            return Ok(hit);
        }
        if let Some(spec) = &self.speculation
            && let Some(taken) = spec.claim(&key)
        {
            return taken;
        }
        self.render_fresh(repo, base, changes, target, (&key, inputs.as_deref()), None)
    }

    /// How TARGET is rendered, for messages: `kubectl kustomize`, `helm template`, ….
    pub fn describe(&self, target: &RenderTarget) -> &'static str {
        match target {
            RenderTarget::Kustomize(_) => self.program.describe(),
            RenderTarget::Helm { .. } => "helm template",
            RenderTarget::File(_) => "a YAML parse",
        }
    }

    /// The cache key of a render: what it can read and which program reads it.
    ///
    /// Kustomize (both `kubectl kustomize` and `kustomize build`, with their default load
    /// restrictor `LoadRestrictionsRootOnly`) reads only files in or below a kustomization's
    /// directory, plus the directories its `resources`/`components`/… load as kustomizations
    /// in turn. So the key holds the tree id of each of those directories, found by following
    /// the kustomizations at `base`, instead of the whole repository's tree: other teams'
    /// commits elsewhere leave it unchanged. Anything not understood (a remote reference, a
    /// symlink or a file outside its root, Helm charts, an unparsable kustomization) falls
    /// back to the root tree id, as before; a reference outside the repository is an error
    /// ([`RenderError::OutsideRepository`]).
    pub fn key(
        &self,
        repo: &Repo,
        base: CommitId,
        changes: &BTreeMap<String, Vec<u8>>,
        target: &RenderTarget,
    ) -> Result<String, RenderError> {
        Ok(self.key_and_inputs(repo, base, changes, target)?.0)
    }

    /// The key, and the directories the render reads when they could be narrowed (only those
    /// are written to the scratch tree).
    ///
    /// The key is content-addressed: each directory counts by the tree id it has with
    /// `changes` applied ([`Repo::tree_id_with`], computed without writing), so a tree rendered
    /// with an edit and the commit that later holds the edit share a key. The promotion that
    /// pushed an edit has thus already rendered what the next promotion's plan, `verify` of
    /// that commit and `--wait` render for it with no edit.
    fn key_and_inputs(
        &self,
        repo: &Repo,
        base: CommitId,
        changes: &BTreeMap<String, Vec<u8>>,
        target: &RenderTarget,
    ) -> Result<(String, Option<Vec<String>>), RenderError> {
        let scratch = |e: promote_git::GitError| RenderError::Scratch(e.to_string());
        let mut h = Sha256::new();
        let inputs = inputs(repo, base, changes, target)?;
        let effective = |dir: &str, id: &str| -> Result<String, RenderError> {
            if changes.keys().any(|p| is_below(p, dir)) {
                Ok(repo
                    .tree_id_with(base, dir, changes)
                    .map_err(scratch)?
                    .unwrap_or_default())
            } else {
                Ok(id.to_owned())
            }
        };
        match &inputs {
            Some(dirs) => {
                h.update(b"inputs/v2\0");
                for (dir, id) in dirs {
                    h.update(dir.as_bytes());
                    h.update([0]);
                    h.update(effective(dir, id)?.as_bytes());
                    h.update([0]);
                }
            }
            None => {
                let tree = repo.path_id(base, "").map_err(scratch)?.unwrap_or_default();
                h.update(b"tree/v2\0");
                h.update(effective("", &tree)?.as_bytes());
            }
        }
        match target {
            RenderTarget::Kustomize(overlay) => h.update(overlay.as_bytes()),
            RenderTarget::Helm {
                chart,
                values,
                release,
            } => {
                for part in ["helm", chart, values, release] {
                    h.update(part.as_bytes());
                    h.update([0]);
                }
            }
            RenderTarget::File(file) => {
                h.update(b"file\0");
                h.update(file.as_bytes());
            }
        }
        h.update([0]);
        h.update(self.describe(target).as_bytes());
        let dirs = inputs.map(|d| d.into_keys().collect());
        Ok((hex::encode(h.finalize()), dirs))
    }

    /// The render of `overlay` at `base` with `changes` when the cache holds it; renders
    /// nothing.
    pub fn render_cached(
        &self,
        repo: &Repo,
        base: CommitId,
        changes: &BTreeMap<String, Vec<u8>>,
        target: &RenderTarget,
    ) -> Result<Option<Rendered>, RenderError> {
        Ok(self.cached(&self.key(repo, base, changes, target)?))
    }

    fn cached(&self, key: &str) -> Option<Rendered> {
        let manifests = std::fs::read_to_string(self.cache.as_ref()?.join(key)).ok()?;
        Some(Rendered {
            resources: count_resources(&manifests),
            manifests,
            cached: true,
            speculative: false,
        })
    }

    /// Render without looking at the cache (the result is stored in it). `cancel`: a
    /// speculation's handle, so that the child can be killed when its render is not wanted.
    fn render_fresh(
        &self,
        repo: &Repo,
        base: CommitId,
        changes: &BTreeMap<String, Vec<u8>>,
        target: &RenderTarget,
        (key, inputs): (&str, Option<&[String]>),
        cancel: Option<&Shared>,
    ) -> Result<Rendered, RenderError> {
        let scratch = ScratchDir::new("render").map_err(|e| RenderError::Scratch(e.to_string()))?;
        repo.materialize(base, scratch.path(), inputs, changes)
            .map_err(|e| RenderError::Scratch(e.to_string()))?;
        let manifests = self.run(scratch.path(), target, cancel)?;
        if let Some(dir) = &self.cache {
            // Best effort: a cache that cannot be written only costs a re-render next time.
            if std::fs::create_dir_all(dir).is_ok() {
                let tmp = dir.join(format!(".{key}.{}", std::process::id()));
                if std::fs::write(&tmp, &manifests).is_ok() {
                    let _ = std::fs::rename(&tmp, dir.join(key));
                }
            }
        }
        Ok(Rendered {
            resources: count_resources(&manifests),
            manifests,
            cached: false,
            speculative: false,
        })
    }

    fn run(
        &self,
        root: &Path,
        target: &RenderTarget,
        cancel: Option<&Shared>,
    ) -> Result<String, RenderError> {
        let program = self.describe(target);
        let failed = |message: String| RenderError::Kustomize {
            overlay: target.path().to_owned(),
            program,
            message,
        };
        let mut cmd = match (target, &self.program) {
            (RenderTarget::File(file), _) => {
                let text = std::fs::read_to_string(root.join(file))
                    .map_err(|e| failed(format!("reading {file}: {e}")))?;
                promote_core::yaml::from_documents::<serde_json::Value>(file, &text)
                    .map_err(|e| failed(e.to_string()))?;
                return Ok(text);
            }
            (
                RenderTarget::Helm {
                    chart,
                    values,
                    release,
                },
                _,
            ) => {
                let mut c = Command::new(&self.helm);
                c.arg("template")
                    .arg(release)
                    .arg(root.join(chart))
                    .arg("--values")
                    .arg(root.join(values));
                // Helm's caches and config go to the scratch tree, never the user's home: a
                // chart from a pull request renders with nothing of this machine's Helm set-up.
                for (var, dir) in [
                    ("HELM_CACHE_HOME", ".helm/cache"),
                    ("HELM_CONFIG_HOME", ".helm/config"),
                    ("HELM_DATA_HOME", ".helm/data"),
                ] {
                    c.env(var, root.join(dir));
                }
                c
            }
            (RenderTarget::Kustomize(overlay), RenderProgram::Kubectl(p)) => {
                let mut c = Command::new(p);
                c.arg("kustomize").arg(root.join(overlay));
                c
            }
            (RenderTarget::Kustomize(overlay), RenderProgram::Kustomize(p)) => {
                let mut c = Command::new(p);
                c.arg("build").arg(root.join(overlay));
                c
            }
        };
        let spawn = |source| RenderError::Spawn { program, source };
        let out = match cancel {
            None => cmd.output().map_err(spawn)?,
            Some(shared) => shared.output(cmd).map_err(spawn)?,
        };
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            // The renderer names the scratch dir; show repo paths instead.
            let prefix = format!("{}/", root.display());
            return Err(failed(stderr.replace(&prefix, "").trim().to_owned()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn count_resources(manifests: &str) -> usize {
    manifests
        .split("\n---\n")
        .filter(|d| d.lines().any(|l| l.starts_with("kind:")))
        .count()
}

/// The directories a render of TARGET at `base` reads, with their tree ids (see
/// [`Renderer::key`]); `None` when that cannot be narrowed safely. A chart renders from its
/// directory and the values file's; a YAML file is read from its own directory.
pub(crate) fn inputs(
    repo: &Repo,
    base: CommitId,
    changes: &BTreeMap<String, Vec<u8>>,
    target: &RenderTarget,
) -> Result<Option<BTreeMap<String, String>>, RenderError> {
    let dirs: Vec<&str> = match target {
        RenderTarget::Kustomize(overlay) => return render_inputs(repo, base, changes, overlay),
        RenderTarget::Helm { chart, values, .. } => vec![chart, parent(values)],
        RenderTarget::File(file) => vec![parent(file)],
    };
    let mut out = BTreeMap::new();
    for dir in dirs {
        match repo
            .path_entry(base, dir)
            .map_err(|e| RenderError::Scratch(e.to_string()))?
        {
            Some((PathKind::Dir, id)) => out.insert(dir.to_owned(), id),
            // The root, or a chart that is not there: render from the whole tree (and let the
            // renderer say what is missing).
            _ => return Ok(None),
        };
    }
    Ok(Some(out))
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The directories a render of `overlay` at `base` reads, with their tree ids (see
/// [`Renderer::key`]); `None` when that cannot be narrowed safely.
///
/// The walk also refuses a kustomization that references a path outside the repository
/// (absolute, or `..` past the root): kustomize loads a directory given as a resource from
/// anywhere on the machine (its load restrictor covers files only), so a pull request could
/// otherwise render a directory of the CI runner into the plan and the render cache. So the
/// walk goes on past what only stops the narrowing (a remote reference, a Helm chart, a
/// symlink), to check every kustomization it can read.
pub(crate) fn render_inputs(
    repo: &Repo,
    base: CommitId,
    changes: &BTreeMap<String, Vec<u8>>,
    overlay: &str,
) -> Result<Option<BTreeMap<String, String>>, RenderError> {
    let git = |e: promote_git::GitError| RenderError::Scratch(e.to_string());
    let mut dirs = BTreeMap::new();
    let mut narrow = true;
    // Each directory's listing is read once: an overlay may load a thousand files of one base.
    let mut listings: BTreeMap<String, BTreeMap<String, (PathKind, String)>> = BTreeMap::new();
    let mut entry = |path: &str| -> Result<Option<PathKind>, promote_git::GitError> {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        if !listings.contains_key(parent) {
            listings.insert(parent.to_owned(), repo.dir_entries(base, parent)?);
        }
        Ok(listings[parent].get(name).map(|(k, _)| *k))
    };
    let mut queue = vec![overlay.trim_matches('/').to_owned()];
    while let Some(dir) = queue.pop() {
        if dirs.contains_key(&dir) {
            continue;
        }
        let Some((PathKind::Dir, id)) = repo.path_entry(base, &dir).map_err(git)? else {
            narrow = false;
            continue;
        };
        dirs.insert(dir.clone(), id);
        if dirs.len() > 512 {
            return Ok(None);
        }
        // The kustomization as the render will see it: edited where `changes` edit it.
        let edited = promote_core::overlay::KUSTOMIZATION_FILES
            .iter()
            .map(|name| join_inside(&dir, name).unwrap_or_default())
            .find_map(|p| changes.get(&p).map(|bytes| (p, bytes.clone())));
        let found = match edited {
            Some(e) => Some(e),
            None => crate::session::kustomization_in(repo, &dir, base).map_err(git)?,
        };
        let Some((path, bytes)) = found else {
            narrow = false;
            continue;
        };
        let Some(refs) = String::from_utf8(bytes)
            .ok()
            .and_then(|text| Overlay::parse(&path, &text).ok())
            .and_then(|o| o.load_refs())
        else {
            narrow = false;
            continue;
        };
        for r in refs {
            if is_remote_ref(&r) {
                narrow = false;
                continue;
            }
            let Some(p) = join_inside(&dir, &r) else {
                return Err(RenderError::OutsideRepository {
                    file: path,
                    reference: r,
                });
            };
            match entry(&p).map_err(git)? {
                Some(PathKind::Dir) => queue.push(p),
                // A file below this kustomization's directory is in its tree id already.
                Some(PathKind::File) if is_below(&p, &dir) => {}
                // Missing: kustomize will say so, from inside this root or not.
                None if is_below(&p, &dir) => {}
                _ => narrow = false,
            }
        }
    }
    Ok(narrow.then_some(dirs))
}

/// `dir/rel` as a repo path, `None` when it is absolute or climbs out of the repository.
fn join_inside(dir: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for p in rel.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn is_below(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A render started ahead of time on another thread: while `Session::open` fetches, the
/// promotion is planned from the last-fetched remote tip and rendered. [`Renderer::render`]
/// takes the result when the key it computes after the fetch is the speculation's key (the
/// fetch changed nothing the render reads), and otherwise kills the speculative child and
/// renders itself. Dropping the last handle cancels and joins the thread, so no child process
/// or scratch directory outlives the command.
pub struct Speculation {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Speculation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speculation").finish_non_exhaustive()
    }
}

/// What a speculation is planned from: an opened repository, the commit, the edited files and
/// the overlay directory.
pub type SpeculativeInput = (Repo, CommitId, BTreeMap<String, Vec<u8>>, RenderTarget);

enum State {
    Planning,
    Rendering(String),
    Done(String, Result<Rendered, RenderError>),
    /// Taken by the real render, or nothing to offer.
    Over,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    child: Mutex<Option<Child>>,
    cancelled: AtomicBool,
}

impl Shared {
    fn set(&self, state: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
        self.changed.notify_all();
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        if let Some(child) = self
            .child
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            let _ = child.kill();
        }
    }

    /// `Command::output`, with the child reachable by [`Shared::cancel`] while it runs.
    fn output(&self, mut cmd: Command) -> std::io::Result<std::process::Output> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
        *self.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        if self.cancelled.load(Ordering::SeqCst) {
            self.cancel();
        }
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        std::thread::scope(|s| {
            let e = s.spawn(|| {
                if let Some(err) = err.as_mut() {
                    let _ = err.read_to_end(&mut stderr);
                }
            });
            if let Some(out) = out.as_mut() {
                let _ = out.read_to_end(&mut stdout);
            }
            let _ = e.join();
        });
        let child = self.child.lock().unwrap_or_else(|p| p.into_inner()).take();
        let status = match child {
            Some(mut c) => c.wait()?,
            None => return Err(std::io::Error::other("render child lost")),
        };
        Ok(std::process::Output {
            status,
            stdout,
            stderr,
        })
    }
}

impl Speculation {
    /// Start `plan` on a thread, then render what it returns with `renderer` (its cache is
    /// written as for any render). `plan` returns `None` when there is nothing to guess.
    pub fn start<F>(renderer: Renderer, plan: F) -> Arc<Speculation>
    where
        F: FnOnce() -> Option<SpeculativeInput> + Send + 'static,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::Planning),
            changed: Condvar::new(),
            child: Mutex::new(None),
            cancelled: AtomicBool::new(false),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("speculative-render".into())
            .spawn(move || {
                let guess = if s.cancelled.load(Ordering::SeqCst) {
                    None
                } else {
                    plan()
                };
                let Some((repo, base, changes, target)) = guess else {
                    return s.set(State::Over);
                };
                let (key, inputs) = match renderer.key_and_inputs(&repo, base, &changes, &target) {
                    Ok((k, i)) if renderer.cached(&k).is_none() => (k, i),
                    // A cache hit needs no head start; an error is the real render's.
                    _ => return s.set(State::Over),
                };
                s.set(State::Rendering(key.clone()));
                if s.cancelled.load(Ordering::SeqCst) {
                    return s.set(State::Over);
                }
                let r = renderer.render_fresh(
                    &repo,
                    base,
                    &changes,
                    &target,
                    (&key, inputs.as_deref()),
                    Some(&s),
                );
                let mut state = s.state.lock().unwrap_or_else(|p| p.into_inner());
                if matches!(*state, State::Rendering(_)) {
                    *state = State::Done(key, r);
                }
                drop(state);
                s.changed.notify_all();
            });
        Arc::new(Speculation {
            shared,
            thread: Mutex::new(thread.ok()),
        })
    }

    /// The speculative render's result when its key is `key` (waiting for it to finish);
    /// otherwise cancel it and return `None`.
    fn claim(&self, key: &str) -> Option<Result<Rendered, RenderError>> {
        let mut state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match &*state {
                State::Planning => {}
                State::Rendering(k) if k == key => {}
                State::Done(k, _) if k == key => {
                    let State::Done(_, r) = std::mem::replace(&mut *state, State::Over) else {
                        unreachable!()
                    };
                    return Some(r.map(|r| Rendered {
                        speculative: true,
                        ..r
                    }));
                }
                _ => break,
            }
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
        drop(state);
        self.shared.cancel();
        None
    }
}

impl Drop for Speculation {
    fn drop(&mut self) {
        self.shared.cancel();
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}
