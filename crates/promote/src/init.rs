//! `kubectl promote init`: write a first `promote.yaml` from the overlays and Argo CD
//! Applications found in the repository (at HEAD of the local checkout: the file does not exist
//! on the remote yet, so this is the one command that reads the local repository).

use std::path::PathBuf;

use serde::Serialize;

use promote_core::config::{self, InitEnv, InitImage, InitTarget};
use promote_core::overlay::{KUSTOMIZATION_FILES, Overlay};
use promote_core::yaml::{self, Node};
use promote_git::{CommitId, Repo};

use crate::document::Document;
use crate::ports::Ports;
use crate::{Interaction, PromoteError};

/// Conventional environment names, in the order releases flow through them.
const ORDER: [&str; 12] = [
    "dev",
    "development",
    "test",
    "testing",
    "qa",
    "staging",
    "stage",
    "preprod",
    "uat",
    "canary",
    "prod",
    "production",
];

/// An init as asked on the command line.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `--force`: overwrite an existing `promote.yaml`.
    pub force: bool,
}

/// The file written (`kind: InitResult`).
#[derive(Debug, Clone, Serialize)]
pub struct InitResult {
    pub path: String,
    /// The text written.
    pub content: String,
    /// The environments found, in promotion order.
    #[serde(skip)]
    pub environments: Vec<InitEnv>,
}

impl Document for InitResult {
    fn kind(&self) -> &'static str {
        "InitResult"
    }
}

/// `init`: in the checkout around the working directory (or `--repo PATH`), find the overlays
/// and apps and write `promote.yaml`. Nothing is fetched: the remote has no file yet.
pub fn run(ports: &Ports, req: Request, _ui: &dyn Interaction) -> Result<InitResult, PromoteError> {
    let ws = &ports.workspace;
    let dir = match &ws.repo {
        Some(p) => ws.cwd.join(p),
        None => ws.cwd.clone(),
    };
    init(&Repo::discover(&dir)?, req.force)
}

/// Find the overlays and apps and write the file. `force` allows overwriting.
pub fn init(repo: &Repo, force: bool) -> Result<InitResult, PromoteError> {
    let path = destination(repo, force)?;
    let head = repo.resolve("HEAD")?;
    let files = repo.all_files(head)?;
    let mut envs = environments(repo, head, &files)?;
    for e in values_files(repo, head, &files)? {
        if !envs.iter().any(|o| o.name == e.name) {
            envs.push(e);
        }
    }
    let apps = applications(repo, head, &files)?;
    for found in &apps {
        let Some(target) = found.helm_target() else {
            continue;
        };
        let name = env_name_of_app(&found.name);
        if !envs
            .iter()
            .any(|o| o.name == name || o.overlay == found.file)
            && !config::RESERVED_NAMES.contains(&name.as_str())
        {
            envs.push(InitEnv {
                name,
                overlay: found.file.clone(),
                target,
                from: None,
                argocd: Some((found.name.clone(), found.namespace.clone())),
            });
        }
    }
    if envs.is_empty() {
        return Err(PromoteError::InitRefused("found no kustomization with an `images:` list, no Helm values file (values-ENV.yaml) with image fields and no Argo CD Application with a Helm image parameter; environments are where image tags are pinned".into()));
    }
    in_promotion_order(&mut envs);
    for found in apps {
        if let Some(e) = envs
            .iter_mut()
            .find(|e| e.argocd.is_none() && found.deploys(&e.overlay))
        {
            e.argocd = Some((found.name, found.namespace));
        }
    }
    let branch = ["main", "master"]
        .into_iter()
        .find(|b| repo.resolve(&format!("refs/remotes/origin/{b}")).is_ok())
        .unwrap_or("main");
    let text = config::render_init(&envs, branch);
    config::Config::parse(config::FILE_NAME, &text)?;
    std::fs::write(&path, &text).map_err(|source| PromoteError::Write {
        path: path.display().to_string(),
        source,
    })?;
    Ok(InitResult {
        path: path.display().to_string(),
        content: text,
        environments: envs,
    })
}

/// Where `promote.yaml` goes: the checkout's root, refused when something is there already
/// (unless `force`) or when it is a symbolic link (always).
fn destination(repo: &Repo, force: bool) -> Result<PathBuf, PromoteError> {
    let workdir = repo.workdir().ok_or_else(|| PromoteError::InitRefused("kubectl promote init needs a checkout (not a bare repository) to write promote.yaml into".into()))?;
    let path = workdir.join(config::FILE_NAME);
    // `symlink_metadata`: a symlink (even a dangling one, which `exists()` calls absent) is
    // never written through; a checkout can hold one from an untrusted commit.
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => Err(PromoteError::InitRefused(format!(
            "{} is a symbolic link; kubectl promote init does not write through it: remove it first",
            path.display()
        ))),
        Ok(_) if !force => Err(PromoteError::InitRefused(format!(
            "{} exists already; pass --force to overwrite it",
            path.display()
        ))),
        _ => Ok(path),
    }
}

/// The text of `f` at `head`, when it is UTF-8.
fn text_at(repo: &Repo, head: CommitId, f: &str) -> Result<Option<String>, PromoteError> {
    Ok(repo
        .read_file(head, f)?
        .and_then(|b| String::from_utf8(b).ok()))
}

/// An environment per kustomization that pins image tags, named after its directory (the
/// first of each name; reserved names are skipped).
fn environments(
    repo: &Repo,
    head: CommitId,
    files: &[String],
) -> Result<Vec<InitEnv>, PromoteError> {
    let mut envs: Vec<InitEnv> = Vec::new();
    for f in files {
        let (dir, name) = f.rsplit_once('/').unwrap_or(("", f));
        if !KUSTOMIZATION_FILES.contains(&name) || dir.is_empty() {
            continue;
        }
        let Some(text) = text_at(repo, head, f)? else {
            continue;
        };
        let Ok(o) = Overlay::parse(f, &text) else {
            continue;
        };
        if !o.has_images() || o.images().map(<[_]>::is_empty).unwrap_or(true) {
            continue;
        }
        let env_name = dir.rsplit('/').next().unwrap_or(dir).to_ascii_lowercase();
        if config::RESERVED_NAMES.contains(&env_name.as_str())
            || envs.iter().any(|e| e.name == env_name)
        {
            continue;
        }
        envs.push(InitEnv {
            name: env_name,
            overlay: dir.to_owned(),
            target: InitTarget::Kustomize,
            from: None,
            argocd: None,
        });
    }
    Ok(envs)
}

/// Conventional names first, in [`ORDER`], then the others by name; each promotes from the one
/// before it.
fn in_promotion_order(envs: &mut [InitEnv]) {
    envs.sort_by_key(|e| {
        (
            ORDER
                .iter()
                .position(|o| *o == e.name)
                .unwrap_or(usize::MAX / 2),
            e.name.clone(),
        )
    });
    for i in 1..envs.len() {
        envs[i].from = Some(envs[i - 1].name.clone());
    }
}

/// An Argo CD Application found in the repository.
struct FoundApp {
    /// The file it is in.
    file: String,
    name: String,
    namespace: String,
    /// Its source path, as an overlay directory is written.
    path: String,
    /// `spec.source.helm.valueFiles`, relative to `path`.
    value_files: Vec<String>,
    /// `spec.source.helm.parameters` as (name, value).
    parameters: Vec<(String, String)>,
}

impl FoundApp {
    /// Whether this Application deploys the pins at `location` (an overlay directory, or a
    /// values file among its `valueFiles`).
    fn deploys(&self, location: &str) -> bool {
        self.path == location
            || self
                .value_files
                .iter()
                .any(|v| join(&self.path, v) == location)
    }

    /// An `argocdHelm` target: a parameter named `….tag` (or `tag`) beside a `….repository`
    /// that names the image.
    fn helm_target(&self) -> Option<InitTarget> {
        self.parameters.iter().find_map(|(name, _)| {
            let prefix = name.strip_suffix("tag")?;
            if !(prefix.is_empty() || prefix.ends_with('.')) {
                return None;
            }
            let repo = format!("{prefix}repository");
            let (_, image) = self.parameters.iter().find(|(n, _)| *n == repo)?;
            Some(InitTarget::ArgocdHelm {
                parameter: name.clone(),
                image: image.clone(),
            })
        })
    }
}

/// `dir/file` with `./` and empty parts folded.
fn join(dir: &str, file: &str) -> String {
    let file = file.trim_start_matches("./");
    if dir.is_empty() || dir == "." {
        file.to_owned()
    } else {
        format!("{dir}/{file}")
    }
}

/// The environment an Application's name points at: its first part that is a conventional
/// environment name (`prod-shop` → `prod`), else the whole name.
fn env_name_of_app(app: &str) -> String {
    let app = app.to_ascii_lowercase();
    app.split(['-', '_', '.'])
        .find(|p| ORDER.contains(p))
        .map(str::to_owned)
        .unwrap_or(app)
}

/// A Helm values file per environment: `values-ENV.yaml` (or `values.ENV.yaml`, `.yml`) whose
/// mappings hold a `repository` and a `tag` (the chart convention for an image). Its chart is
/// the directory, when that holds a `Chart.yaml`.
fn values_files(
    repo: &Repo,
    head: CommitId,
    files: &[String],
) -> Result<Vec<InitEnv>, PromoteError> {
    let mut envs = Vec::new();
    for f in files {
        let (dir, base) = f.rsplit_once('/').unwrap_or(("", f));
        let Some(env) = base
            .strip_suffix(".yaml")
            .or_else(|| base.strip_suffix(".yml"))
            .and_then(|b| {
                b.strip_prefix("values-")
                    .or_else(|| b.strip_prefix("values."))
            })
            .map(str::to_ascii_lowercase)
        else {
            continue;
        };
        if env.is_empty() || config::RESERVED_NAMES.contains(&env.as_str()) {
            continue;
        }
        let Some(text) = text_at(repo, head, f)? else {
            continue;
        };
        let Ok(tree) = yaml::parse_tree_with(f, &text, yaml::Anchors::Keep) else {
            continue;
        };
        let mut images = Vec::new();
        image_fields(&tree, &mut Vec::new(), &mut images);
        if images.is_empty() || envs.iter().any(|e: &InitEnv| e.name == env) {
            continue;
        }
        let chart_file = join(dir, "Chart.yaml");
        envs.push(InitEnv {
            name: env,
            overlay: f.clone(),
            target: InitTarget::HelmValues {
                chart: files
                    .contains(&chart_file)
                    .then(|| dir.to_owned())
                    .filter(|d| !d.is_empty()),
                images,
            },
            from: None,
            argocd: None,
        });
    }
    Ok(envs)
}

/// Every mapping under `node` with scalar `repository` and `tag` values, as an image named after
/// the repository's last part. Keys that a dotted path cannot spell are passed over.
fn image_fields(node: &Node, path: &mut Vec<String>, out: &mut Vec<InitImage>) {
    let Node::Mapping { entries, .. } = node else {
        return;
    };
    let scalar = |k: &str| node.get(k).and_then(Node::as_scalar);
    if let (Some(repository), Some(_)) = (scalar("repository"), scalar("tag")) {
        let at = |k: &str| {
            path.iter()
                .map(String::as_str)
                .chain([k])
                .collect::<Vec<_>>()
                .join(".")
        };
        let base = repository.value.rsplit('/').next().unwrap_or("image");
        let mut name = base.to_owned();
        let mut n = 2;
        while out.iter().any(|i| i.name == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        if !repository.value.is_empty() {
            out.push(InitImage {
                name,
                repository: at("repository"),
                tag: at("tag"),
            });
        }
        return;
    }
    for (k, v) in entries {
        let plain = !k.value.is_empty()
            && k.value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if plain {
            path.push(k.value.clone());
            image_fields(v, path, out);
            path.pop();
        }
    }
}

/// Argo CD Applications in the repository, in file order.
fn applications(
    repo: &Repo,
    head: CommitId,
    files: &[String],
) -> Result<Vec<FoundApp>, PromoteError> {
    let mut apps = Vec::new();
    for f in files
        .iter()
        .filter(|f| f.ends_with(".yaml") || f.ends_with(".yml"))
    {
        let Some(text) = text_at(repo, head, f)? else {
            continue;
        };
        if !text.contains("kind: Application") {
            continue;
        }
        let Ok(tree) = yaml::parse_tree(f, &text) else {
            continue;
        };
        let s = |n: Option<&Node>| n.and_then(Node::as_scalar).map(|s| s.value.clone());
        if s(tree.get("kind")).as_deref() != Some("Application") {
            continue;
        }
        let meta = tree.get("metadata");
        let (Some(app), Some(path)) = (
            s(meta.and_then(|m| m.get("name"))),
            s(tree
                .get("spec")
                .and_then(|sp| sp.get("source"))
                .and_then(|so| so.get("path"))),
        ) else {
            continue;
        };
        let ns = s(meta.and_then(|m| m.get("namespace"))).unwrap_or_else(|| "argocd".into());
        let path = path
            .trim_end_matches('/')
            .trim_start_matches("./")
            .to_owned();
        let helm = tree
            .get("spec")
            .and_then(|sp| sp.get("source"))
            .and_then(|so| so.get("helm"));
        let list = |key: &str| match helm.and_then(|h| h.get(key)) {
            Some(Node::Sequence { items, .. }) => items.clone(),
            _ => Vec::new(),
        };
        let value_files = list("valueFiles")
            .iter()
            .filter_map(|n| s(Some(n)))
            .collect();
        let parameters = list("parameters")
            .iter()
            .filter_map(|p| Some((s(p.get("name"))?, s(p.get("value"))?)))
            .collect();
        apps.push(FoundApp {
            file: f.clone(),
            name: app,
            namespace: ns,
            path,
            value_files,
            parameters,
        });
    }
    Ok(apps)
}
