//! The stand-in's repo-server: resolves revisions in a real git repository (the `repoURL` is a
//! local path, bare or not, or a `file://` URL) with the `git` CLI, and renders an app's path at
//! a commit after materialising the tree with `git archive`: a Helm chart (a `Chart.yaml` at the
//! path, as Argo CD tells the source type) with the real `helm template` and the source's
//! `helm.valueFiles`, anything else with the real `kubectl kustomize`. Renders are cached by
//! (repo, commit, source) as Argo CD's manifest cache does; resolution never is (a requested
//! refresh resolves branches afresh).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// One rendered Kubernetes object, identified by (kind, name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Object {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub api_version: String,
    pub images: Vec<String>,
    pub text: String,
}

/// The rendered manifests of one overlay at one commit, by (kind, name).
pub(crate) type Manifests = BTreeMap<(String, String), Object>;

/// (repoURL, commit, source) → the render or the renderer's error.
type RenderCache = HashMap<(String, String, Source), Result<Manifests, String>>;

/// What the repo-server renders at a commit: the app's path and, for a Helm chart, the release
/// name and value files (relative to the chart, as `spec.source.helm.valueFiles` are).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Source {
    pub path: String,
    pub release: String,
    pub value_files: Vec<String>,
}

impl Source {
    /// The source of an Application (`spec.source`) named `app`: Argo CD's release name defaults
    /// to the Application's name.
    pub fn of(source: &serde_json::Value, app: &str) -> Self {
        let helm = source.get("helm");
        let release = helm
            .and_then(|h| h.get("releaseName"))
            .and_then(serde_json::Value::as_str)
            .filter(|r| !r.is_empty())
            .unwrap_or(app);
        let value_files = helm
            .and_then(|h| h.get("valueFiles"))
            .and_then(serde_json::Value::as_array)
            .map(|files| {
                files
                    .iter()
                    .filter_map(serde_json::Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Self {
            path: source
                .get("path")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            release: release.to_owned(),
            value_files,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Renderer {
    cache: Mutex<RenderCache>,
    scratch: Mutex<Option<tempfile::TempDir>>,
}

fn repo_path(repo_url: &str) -> PathBuf {
    PathBuf::from(repo_url.strip_prefix("file://").unwrap_or(repo_url))
}

fn git(repo: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("--git-dir").arg(git_dir(repo));
    c.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0");
    c
}

fn git_dir(repo: &Path) -> PathBuf {
    let dotgit = repo.join(".git");
    if dotgit.exists() {
        dotgit
    } else {
        repo.to_path_buf()
    }
}

impl Renderer {
    /// `targetRevision` → commit SHA. `""` and `HEAD` mean the repository's HEAD; a 40-hex SHA is
    /// taken as is (after checking it exists, as the repo-server would fail to check it out).
    pub fn resolve(&self, repo_url: &str, revision: &str) -> Result<String, String> {
        let repo = repo_path(repo_url);
        let rev = if revision.is_empty() {
            "HEAD"
        } else {
            revision
        };
        let out = git(&repo)
            .args([
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{rev}^{{commit}}"),
            ])
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("git: {e}"))?;
        if !out.status.success() {
            return Err(format!("unable to resolve '{rev}' to a commit SHA"));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    pub fn render(&self, repo_url: &str, sha: &str, source: &Source) -> Result<Manifests, String> {
        let key = (repo_url.to_owned(), sha.to_owned(), source.clone());
        if let Some(hit) = self.cache.lock().expect("render cache").get(&key) {
            return hit.clone();
        }
        let result = self.render_uncached(repo_url, sha, source);
        self.cache
            .lock()
            .expect("render cache")
            .insert(key, result.clone());
        result
    }

    fn render_uncached(
        &self,
        repo_url: &str,
        sha: &str,
        source: &Source,
    ) -> Result<Manifests, String> {
        let mut scratch = self.scratch.lock().expect("scratch dir");
        if scratch.is_none() {
            *scratch = Some(tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?);
        }
        let base = scratch.as_ref().expect("created above").path();
        let dir = tempfile::tempdir_in(base).map_err(|e| format!("temp dir: {e}"))?;
        let repo = repo_path(repo_url);
        let archive = git(&repo)
            .args(["archive", "--format=tar", sha])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("git archive: {e}"))?;
        let tar = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(dir.path())
            .stdin(archive.stdout.ok_or("git archive: no stdout")?)
            .output()
            .map_err(|e| format!("tar: {e}"))?;
        if !tar.status.success() {
            return Err(format!(
                "materialising {sha}: {}",
                String::from_utf8_lossy(&tar.stderr).trim()
            ));
        }
        let path = &source.path;
        let overlay = dir.path().join(path.trim_start_matches("./"));
        if !overlay.is_dir() {
            return Err(format!("{path}: app path does not exist"));
        }
        if overlay.join("Chart.yaml").is_file() {
            return helm_template(&overlay, source);
        }
        let out = Command::new("kubectl")
            .arg("kustomize")
            .arg(&overlay)
            .output()
            .map_err(|e| format!("kubectl kustomize: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`kustomize build {path}` failed exit status {}: {}",
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(parse_manifests(&String::from_utf8_lossy(&out.stdout)))
    }
}

/// `helm template RELEASE CHART -f VALUES…`, run in the chart's directory as Argo CD runs it
/// (value files are relative to the chart). A value file that leaves the chart is refused, as
/// Argo CD refuses one outside the repository.
fn helm_template(chart: &Path, source: &Source) -> Result<Manifests, String> {
    let mut cmd = Command::new("helm");
    cmd.current_dir(chart)
        .args(["template", &source.release, "."]);
    for file in &source.value_files {
        if Path::new(file).is_absolute() || file.split('/').any(|part| part == "..") {
            return Err(format!(
                "{}: value file {file} is outside the chart",
                source.path
            ));
        }
        cmd.arg("--values").arg(file);
    }
    let out = cmd.output().map_err(|e| format!("helm template: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`helm template {} {}` failed exit status {}: {}",
            source.release,
            source.path,
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(parse_manifests(&String::from_utf8_lossy(&out.stdout)))
}

/// Splits kustomize's normalised output into objects. kustomize prints `---` between documents,
/// top-level keys at column 0 and `metadata:` children indented by two spaces.
pub(crate) fn parse_manifests(yaml: &str) -> Manifests {
    let mut out = Manifests::new();
    for doc in yaml.split("\n---\n") {
        let doc = doc.trim_start_matches("---\n");
        if doc.trim().is_empty() {
            continue;
        }
        let mut kind = String::new();
        let mut api_version = String::new();
        let mut name = String::new();
        let mut namespace = None;
        let mut images = Vec::new();
        let mut in_metadata = false;
        for line in doc.lines() {
            if !line.starts_with(' ') && !line.starts_with('-') {
                in_metadata = line.starts_with("metadata:");
                if let Some(k) = line.strip_prefix("kind:") {
                    kind = k.trim().to_owned();
                }
                if let Some(k) = line.strip_prefix("apiVersion:") {
                    api_version = k.trim().to_owned();
                }
                continue;
            }
            if in_metadata {
                if let Some(n) = line.strip_prefix("  name:") {
                    name = n.trim().trim_matches('"').to_owned();
                }
                if let Some(n) = line.strip_prefix("  namespace:") {
                    namespace = Some(n.trim().trim_matches('"').to_owned());
                }
            }
            let t = line.trim_start().trim_start_matches("- ");
            if let Some(i) = t.strip_prefix("image:") {
                images.push(i.trim().trim_matches('"').trim_matches('\'').to_owned());
            }
        }
        out.insert(
            (kind.clone(), name.clone()),
            Object {
                kind,
                name,
                namespace,
                api_version,
                images,
                text: doc.to_owned(),
            },
        );
    }
    out
}

/// The tag of an image reference (`reg:5000/app:v1@sha256:…` → `v1`).
pub(crate) fn image_tag(image: &str) -> Option<&str> {
    let no_digest = image.split('@').next()?;
    let last = no_digest.rsplit('/').next()?;
    last.split_once(':').map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kustomize_output() {
        let m = parse_manifests(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: shop\nspec:\n  ports:\n  - port: 80\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  labels:\n    name: x\n  name: shop\nspec:\n  template:\n    spec:\n      containers:\n      - image: reg:5000/shop:v1.0.1\n        name: shop\n",
        );
        assert_eq!(m.len(), 2);
        let d = &m[&("Deployment".to_owned(), "shop".to_owned())];
        assert_eq!(d.images, vec!["reg:5000/shop:v1.0.1"]);
        assert_eq!(image_tag(&d.images[0]), Some("v1.0.1"));
        assert_eq!(image_tag("reg:5000/shop"), None);
    }
}
