//! How a wait for Argo CD ended, as text and an exit code: shared by `promote --wait`,
//! `rollback --wait` and `sync --wait`.

use promote::deploy::Waited;

use crate::Exit;
use crate::output::{DIM, GREEN, RED, Shell};

/// What the wait followed, for the advice after a failed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Followed {
    /// A promotion or a sync: a failure is rolled back by hand.
    Deploy,
    /// A promotion whose failure was already rolled back automatically (said below it).
    DeployRolledBack,
    /// A rollback.
    Rollback,
}

/// The outcome of a wait: a line on stdout when ready, the state seen and what to do otherwise.
pub(super) fn report_wait(
    shell: &Shell,
    env_name: &str,
    app: &str,
    waited: &Waited,
    followed: Followed,
) -> anyhow::Result<Exit> {
    let after_rollback = followed == Followed::Rollback;
    let rollback = format!("kubectl promote rollback {env_name}");
    match waited {
        Waited::Ready {
            revision,
            sync,
            health,
            waited_seconds,
        } => {
            if shell.is_text() {
                let rev = revision.as_deref().map(short).unwrap_or("?");
                shell.out(format!("{GREEN}deployed{GREEN:#} {rev} on {env_name} ({}): {sync}, {health} after {waited_seconds}s", app))?;
                if after_rollback && sync != "Synced" {
                    shell.out(format!("{DIM}{sync} is expected: the branch still holds the version rolled back from; fix git, then `kubectl promote resume {env_name}`{DIM:#}"))?;
                }
            }
            Ok(Exit::Ok)
        }
        Waited::Degraded {
            revision,
            message,
            waited_seconds,
        } => {
            let rev = revision.as_deref().map(short).unwrap_or("?");
            let msg = if message.is_empty() {
                String::new()
            } else {
                format!(" ({message})")
            };
            let hint = match followed {
                Followed::Rollback => format!(
                    "check the app; `kubectl promote history {env_name}` lists other entries"
                ),
                Followed::DeployRolledBack => "the automatic rollback is below".to_owned(),
                Followed::Deploy => format!("roll back with `{rollback}`"),
            };
            shell.err_text(&format!("{RED}error:{RED:#} {env_name} is Degraded{msg} running {rev} on {} after {waited_seconds}s; {hint}\n", app));
            Ok(Exit::Unhealthy)
        }
        Waited::OperationFailed {
            phase,
            message,
            waited_seconds,
        } => {
            shell.err_text(&format!("{RED}error:{RED:#} the Argo CD operation on {} ended {phase} after {waited_seconds}s: {message}; see `kubectl promote status {env_name}`\n", app));
            Ok(Exit::Unhealthy)
        }
        Waited::TimedOut {
            waited_for,
            last_seen,
            waited_seconds,
        } => {
            let hint = match followed {
                Followed::Deploy => format!("; if it is broken, roll back with `{rollback}`"),
                Followed::DeployRolledBack => "; the automatic rollback is below".to_owned(),
                Followed::Rollback => String::new(),
            };
            shell.err_text(&format!("{RED}error:{RED:#} timed out after {waited_seconds}s waiting for {waited_for} on {}; last seen: {last_seen}{hint}\n", app));
            Ok(Exit::Unhealthy)
        }
    }
}

pub(super) fn short(rev: &str) -> &str {
    if rev.len() == 40 { &rev[..7] } else { rev }
}
