//! `kubectl promote init`: write a first `promote.yaml` from the overlays and Argo CD
//! Applications found in the repository (at HEAD of the local checkout: the file does not exist
//! on the remote yet, so this is the one command that reads the local repository).

use std::path::PathBuf;

use promote_core::config::{self, InitEnv};
use promote_core::overlay::{KUSTOMIZATION_FILES, Overlay};
use promote_core::yaml::{self, Node};
use promote_git::Repo;

use crate::PromoteError;

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

#[derive(Debug, Clone)]
pub struct InitResult {
    pub path: PathBuf,
    pub text: String,
    pub environments: Vec<InitEnv>,
}

/// Find the overlays and apps and render the file's text. `force` allows overwriting.
pub fn init(repo: &Repo, force: bool) -> Result<InitResult, PromoteError> {
    let workdir = repo.workdir().ok_or_else(|| PromoteError::InitRefused("kubectl promote init needs a checkout (not a bare repository) to write promote.yaml into".into()))?.to_owned();
    let path = workdir.join(config::FILE_NAME);
    // `symlink_metadata`: a symlink (even a dangling one, which `exists()` calls absent) is
    // never written through; a checkout can hold one from an untrusted commit.
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(PromoteError::InitRefused(format!(
                "{} is a symbolic link; kubectl promote init does not write through it: remove it first",
                path.display()
            )));
        }
        Ok(_) if !force => {
            return Err(PromoteError::InitRefused(format!(
                "{} exists already; pass --force to overwrite it",
                path.display()
            )));
        }
        _ => {}
    }
    let head = repo.resolve("HEAD")?;
    let files = repo.all_files(head)?;
    let mut envs: Vec<InitEnv> = Vec::new();
    for f in &files {
        let (dir, name) = f.rsplit_once('/').unwrap_or(("", f));
        if !KUSTOMIZATION_FILES.contains(&name) || dir.is_empty() {
            continue;
        }
        let Some(text) = repo
            .read_file(head, f)?
            .and_then(|b| String::from_utf8(b).ok())
        else {
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
            from: None,
            argocd: None,
        });
    }
    if envs.is_empty() {
        return Err(PromoteError::InitRefused("found no kustomization with an `images:` list; environments are overlays that pin image tags".into()));
    }
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
    // Argo CD Applications whose source path is an overlay.
    for f in files
        .iter()
        .filter(|f| f.ends_with(".yaml") || f.ends_with(".yml"))
    {
        let Some(text) = repo
            .read_file(head, f)?
            .and_then(|b| String::from_utf8(b).ok())
        else {
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
        if let Some(e) = envs.iter_mut().find(|e| e.overlay == path) {
            e.argocd = Some((app, ns));
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
        path,
        text,
        environments: envs,
    })
}
