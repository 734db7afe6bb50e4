//! Each subcommand's `run`: build the use-case request from flags, call it, render the outcome.

mod approve;
pub(crate) mod argo;
pub(crate) mod complete;
mod init;
mod misc;
mod policy;
mod promote;
mod rollback;
mod status;
mod verify;

pub use approve::{approve, reject};
pub use argo::{history, resume, sync};
pub use init::init;
pub use misc::{completion, version};
pub use policy::policy;
pub use promote::promote;
pub use rollback::rollback;
pub use status::status;
pub use verify::verify;

use anyhow::Context as _;

use ::promote::render::{RenderProgram, Renderer};
use ::promote::{OpenOptions, PolicyOptions, Session};
use std::path::Path;

use crate::cli::Global;
use crate::env::Env;
use crate::output::Shell;

/// Everything a command needs besides its own flags.
pub struct Ctx<'a> {
    pub global: &'a Global,
    pub env: &'a Env,
    pub shell: &'a Shell,
}

/// Interaction for the use cases: lines go to the shell, named checkpoints to the test hooks
/// ([`Env::pause_at`]; nothing in a release build).
impl ::promote::Interaction for Ctx<'_> {
    fn step(&self, message: &str) {
        ::promote::Interaction::step(self.shell, message);
    }
    fn warn(&self, message: &str) {
        ::promote::Interaction::warn(self.shell, message);
    }
    fn detail(&self, message: &str) {
        ::promote::Interaction::detail(self.shell, message);
    }
    fn checkpoint(&self, point: &str) {
        self.env.pause_at(point);
    }
}

impl Ctx<'_> {
    fn open(&self) -> anyhow::Result<Session> {
        self.open_for(false, None)
    }

    /// Open for a command that evaluates policies: `--dry-run` and `--override-policy`.
    fn open_for(&self, dry_run: bool, override_reason: Option<String>) -> anyhow::Result<Session> {
        let opts = self.open_options(dry_run, override_reason)?;
        Ok(Session::open(&opts, self.shell)?)
    }

    /// How [`Ctx::open_for`] opens the repository.
    pub(super) fn open_options(
        &self,
        dry_run: bool,
        override_reason: Option<String>,
    ) -> anyhow::Result<OpenOptions> {
        let config_override = match &self.global.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading --config {}", path.display()))?;
                Some((path.display().to_string(), text))
            }
            None => None,
        };
        let opts = OpenOptions {
            repo: self.global.repo.clone(),
            cwd: std::env::current_dir().context("reading the working directory")?,
            cache_dir: self.env.cache_dir.clone(),
            config_override,
            interactive: self.env.interactive,
            policy: PolicyOptions {
                // The host puts `kubectl-promote/compiled/…` below this root.
                cache: (!self.global.no_cache)
                    .then(|| self.env.cache_dir.parent().map(Path::to_path_buf))
                    .flatten(),
                one_offs: self.global.policy.clone(),
                override_reason,
                kube_user: None,
                now: self.env.now.clone(),
                dry_run,
                krew_root: self.env.krew_root.clone(),
                argocd_facts: Default::default(),
            },
            // Set by the commands that commit image references (promote, rollback).
            images: ::promote::ImageCheck::Skip,
            warm_policies: false,
        };
        Ok(opts)
    }

    fn renderer(&self) -> Renderer {
        let tools = self.env.render_tools();
        let program = match &tools.kustomize {
            Some(k) => RenderProgram::Kustomize(k.clone()),
            None => RenderProgram::Kubectl(tools.kubectl.clone()),
        };
        Renderer {
            program,
            cache: (!self.global.no_cache).then(|| self.env.cache_dir.join("renders")),
            speculation: None,
        }
    }

    /// How a committing command checks the images it writes: `--skip-image-check` (or
    /// `KUBECTL_PROMOTE_SKIP_IMAGE_CHECK`), `--pin-digests` (which wins over the variable), or a
    /// lookup of every written reference.
    fn image_check(&self, skip: bool, pin: bool) -> anyhow::Result<::promote::ImageCheck> {
        use ::promote::ImageCheck;
        if !pin && (skip || self.env.registries.skip_check) {
            return Ok(ImageCheck::Skip);
        }
        let options = promote_http::registry::RegistryOptions {
            docker_config: self.env.registries.docker_config.clone(),
            insecure: self.env.registries.insecure.clone(),
            ..Default::default()
        };
        let resolver = std::sync::Arc::new(promote_http::registry::HttpRegistry::new(&options)?);
        Ok(if pin {
            ImageCheck::Pin(resolver)
        } else {
            ImageCheck::Check(resolver)
        })
    }
}

/// ENV (or `--from UPSTREAM`) as given on the command line, checked against the rule for
/// environment names in promote.yaml before anything is fetched: a name no promote.yaml can
/// hold is a usage error (exit 2). A well-formed name that the fetched promote.yaml does not
/// define is reported after the fetch, with the list of environments.
pub(crate) fn check_env(what: &str, name: &str) -> anyhow::Result<()> {
    if promote_core::config::valid_env_name(name) {
        return Ok(());
    }
    Err(usage(format!(
        "{what} `{}`: not an environment name; environment names are {}",
        name.escape_debug(),
        promote_core::config::ENV_NAME_RULE
    )))
}

/// VERSION (or `--to VERSION`), checked before anything is fetched: a version is an image tag,
/// so anything but the OCI tag grammar is a usage error (exit 2).
pub(crate) fn check_version(what: &str, version: &str) -> anyhow::Result<()> {
    if promote_core::image::valid_tag(version) {
        return Ok(());
    }
    Err(usage(format!(
        "{what} `{}`: not a valid image tag; a version must match {}",
        version.escape_debug(),
        promote_core::image::TAG_RULE
    )))
}

/// A usage error (exit 2): the use cases' own kind, so that one rule maps it to the exit code.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    ::promote::PromoteError::Usage(msg.into()).into()
}
