//! The render check: build the edited overlay with `kubectl kustomize` (or `kustomize build`
//! where installed) from a scratch copy of the tree, and refuse on kustomize's errors.
//!
//! Renders are cached by content: the key hashes the base tree id, the edited files and the
//! program, so the same tree is never rendered twice (a retried promotion, `verify` after a dry
//! run). The scratch tree is written from git objects, never from the user's working tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use promote_git::{CommitId, Repo};

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

#[derive(Debug, Clone)]
pub struct Renderer {
    pub program: RenderProgram,
    /// `<cache>/renders`; `None` disables the cache (`--no-cache`).
    pub cache: Option<PathBuf>,
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
    #[error("could not run {program}: {source}; is it installed and on PATH?")]
    Spawn {
        program: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("preparing the scratch tree for rendering: {0}")]
    Scratch(String),
}

/// A successful render.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub manifests: String,
    pub resources: usize,
    pub cached: bool,
}

impl Renderer {
    /// Render `overlay` of `base`'s tree with `changes` (repo path → new bytes) applied.
    pub fn render(
        &self,
        repo: &Repo,
        base: CommitId,
        changes: &BTreeMap<String, Vec<u8>>,
        overlay: &str,
    ) -> Result<Rendered, RenderError> {
        let tree = repo
            .path_id(base, "")
            .map_err(|e| RenderError::Scratch(e.to_string()))?
            .unwrap_or_default();
        let mut h = Sha256::new();
        h.update(tree.as_bytes());
        for (p, c) in changes {
            h.update(p.as_bytes());
            h.update([0]);
            h.update(Sha256::digest(c));
        }
        h.update(overlay.as_bytes());
        h.update(self.program.describe().as_bytes());
        let key = hex::encode(h.finalize());
        if let Some(dir) = &self.cache
            && let Ok(manifests) = std::fs::read_to_string(dir.join(&key))
        {
            return Ok(Rendered {
                resources: count_resources(&manifests),
                manifests,
                cached: true,
            });
        }
        let scratch = tempfile::Builder::new()
            .prefix("kubectl-promote-render-")
            .tempdir()
            .map_err(|e| RenderError::Scratch(e.to_string()))?;
        repo.materialize(base, scratch.path())
            .map_err(|e| RenderError::Scratch(e.to_string()))?;
        for (p, c) in changes {
            let path = scratch.path().join(p);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| RenderError::Scratch(e.to_string()))?;
            }
            std::fs::write(&path, c).map_err(|e| RenderError::Scratch(e.to_string()))?;
        }
        let manifests = self.run(scratch.path(), overlay)?;
        if let Some(dir) = &self.cache {
            // Best effort: a cache that cannot be written only costs a re-render next time.
            if std::fs::create_dir_all(dir).is_ok() {
                let tmp = dir.join(format!(".{key}.{}", std::process::id()));
                if std::fs::write(&tmp, &manifests).is_ok() {
                    let _ = std::fs::rename(&tmp, dir.join(&key));
                }
            }
        }
        Ok(Rendered {
            resources: count_resources(&manifests),
            manifests,
            cached: false,
        })
    }

    fn run(&self, root: &Path, overlay: &str) -> Result<String, RenderError> {
        let dir = root.join(overlay);
        let mut cmd = match &self.program {
            RenderProgram::Kubectl(p) => {
                let mut c = Command::new(p);
                c.arg("kustomize").arg(&dir);
                c
            }
            RenderProgram::Kustomize(p) => {
                let mut c = Command::new(p);
                c.arg("build").arg(&dir);
                c
            }
        };
        let out = cmd.output().map_err(|source| RenderError::Spawn {
            program: self.program.describe(),
            source,
        })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            // kustomize names the scratch dir; show repo paths instead.
            let prefix = format!("{}/", root.display());
            let message = stderr.replace(&prefix, "").trim().to_owned();
            return Err(RenderError::Kustomize {
                overlay: overlay.to_owned(),
                program: self.program.describe(),
                message,
            });
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
