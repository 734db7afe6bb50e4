//! Each subcommand's `run`: build the use-case request from flags, call it, render the outcome.

mod approve;
pub(crate) mod complete;
mod diff;
mod history;
mod init;
mod misc;
mod policy;
mod promote;
pub(crate) mod render_diff;
mod resume;
mod rollback;
mod status;
mod sync;
mod verify;
mod verify_deploy;
mod wait;
mod waves;

pub use approve::{approve, reject};
pub use diff::diff;
pub use history::history;
pub use init::init;
pub use misc::{completion, version};
pub use policy::policy;
pub use promote::promote;
pub use resume::resume;
pub use rollback::rollback;
pub use status::status;
pub use sync::sync;
pub use verify::verify;

use std::io::BufRead as _;

use ::promote::plan::{Change, Milestone, Proposal};
use ::promote::ports::Ports;

use crate::cli::Global;
use crate::env::Env;
use crate::output::Shell;

/// Everything a command needs besides its own flags.
pub struct Ctx<'a> {
    pub global: &'a Global,
    pub env: &'a Env,
    pub shell: &'a Shell,
    /// The rendered diff's level in a plan's text (`--diff`).
    pub diff: render_diff::Level,
}

/// Interaction for the use cases: lines go to the shell, named checkpoints to the test hooks
/// ([`Env::pause_at`]; nothing in a release build), milestones are printed as they are reached
/// (text mode), and a confirmation is asked on the terminal.
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
    fn reached(&self, milestone: &Milestone<'_>) {
        if !self.shell.is_text() {
            return;
        }
        // A closed stdout is noticed when the result is written.
        let _ = match milestone {
            Milestone::Landed {
                plan,
                landed,
                remote,
                base_branch,
            } => promote::print_landed(
                (self.shell, self.diff.get()),
                plan,
                landed,
                remote,
                base_branch,
            ),
            Milestone::RollbackJudged { plan, verdict } => {
                rollback::print_judged(self.shell, plan, verdict)
            }
            Milestone::RolledBack {
                plan,
                auto_sync_disabled_by,
            } => rollback::print_rolled_back(self.shell, plan, auto_sync_disabled_by),
        };
    }
    fn can_confirm(&self) -> bool {
        self.env.interactive
    }
    fn confirm(&self, proposal: &Proposal<'_>) -> bool {
        match proposal.change {
            Change::Commit(plan) => self.shell.err_text(&promote::plan_text(plan)),
            Change::ArgoRollback(plan) => {
                self.shell
                    .err_text(&format!("{}\n", rollback::summary(plan)));
            }
        }
        self.shell
            .err_text(&format!("{} [y/N] ", proposal.question));
        self.shell.flush();
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).is_err() {
            return false;
        }
        matches!(line.trim(), "y" | "Y" | "yes" | "Yes")
    }
}

impl Ctx<'_> {
    /// The use cases' ports, from the global flags and the process environment.
    fn ports(&self) -> anyhow::Result<Ports> {
        crate::wiring::ports(self.global, self.env)
    }

    /// [`Ctx::ports`] for an operation that judges: `--save-requests DIR` (relative to the
    /// working directory) where each policy's request is saved as a test case.
    fn judging_ports(&self, save_requests: Option<&std::path::Path>) -> anyhow::Result<Ports> {
        let mut ports = self.ports()?;
        if let Some(dir) = save_requests {
            ports.policies.settings.save_requests = Some(std::env::current_dir()?.join(dir));
        }
        Ok(ports)
    }

    /// How a committing command checks the images it writes: `--skip-image-check` (or
    /// `KUBECTL_PROMOTE_SKIP_IMAGE_CHECK`), `--pin-digests` (which wins over the variable), or a
    /// lookup of every written reference.
    fn image_mode(&self, skip: bool, pin: bool) -> ::promote::ImageMode {
        use ::promote::ImageMode;
        if pin {
            ImageMode::Pin
        } else if skip || self.env.registries.skip_check {
            ImageMode::Skip
        } else {
            ImageMode::Check
        }
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

/// `--app` with a list or a wildcard selects apps for a promotion; a plain name scopes a
/// command to one app.
pub fn is_app_pattern(app: &str) -> bool {
    app.contains([',', '*', '?'])
}
