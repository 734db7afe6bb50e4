//! The checks after a deploy and the rollback they triggered, as text and an exit code (the
//! document carries them as `verification` and `autoRollback`).

use promote::deploy::Waited;
use promote::promotion::Delivered;

use crate::Exit;
use crate::output::{GREEN, RED, Shell, YELLOW};

/// Prints how the checks (and an automatic rollback) went; exit 5 when the deploy failed them
/// or was rolled back.
pub(super) fn report(shell: &Shell, d: &Delivered) -> anyhow::Result<Exit> {
    let env = &d.plan.environment;
    let mut exit = Exit::Ok;
    if let Some(v) = &d.verification {
        if v.passed() {
            if shell.is_text() {
                shell.out(format!("{GREEN}verified{GREEN:#} {env}: {}", v.summary()))?;
            }
        } else {
            exit = Exit::Unhealthy;
            shell.err_text(&format!(
                "{RED}error:{RED:#} {env} failed its checks after the deploy: {}\n",
                v.failure.as_deref().unwrap_or("failed")
            ));
        }
    }
    if let Some(rb) = &d.auto_rollback {
        exit = Exit::Unhealthy;
        let wait = match &rb.waited {
            Some(Waited::Ready {
                health,
                waited_seconds,
                ..
            }) => format!(" ({health} after {waited_seconds}s)"),
            Some(w) => format!(" ({})", promote::verify_deploy::not_ready(w)),
            None => String::new(),
        };
        let color = if rb.result == "rolled-back" {
            YELLOW
        } else {
            RED
        };
        shell.err_text(&format!(
            "{color}automatic rollback:{color:#} {env}: {}{wait}\n",
            rb.message
        ));
    }
    Ok(exit)
}
