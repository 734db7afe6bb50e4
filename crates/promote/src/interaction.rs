//! The one way a use case talks to the person (or the CI job) running it while it works:
//! progress lines, warnings, details for `-v`, named checkpoints for the kill tests, and the
//! confirmation asked on a terminal before a protected environment is changed. The binary's
//! implementation writes to stderr and reads the terminal; tests use [`Quiet`] or a buffer. No
//! use case reads stdin or writes to stdout: the result is the use case's return value.

use crate::plan::{Milestone, Proposal};

/// Where progress goes and where a confirmation comes from.
pub trait Interaction {
    /// A progress line (`fetching origin`).
    fn step(&self, message: &str);
    /// Something the user should know that does not stop the use case.
    fn warn(&self, message: &str);
    /// A detail only a verbose run shows (`-v`). Does nothing by default.
    fn detail(&self, _message: &str) {}
    /// A named point between two writes (`before-push`, …) where the binary's test build may
    /// stop the process, so tests can kill it there and check that nothing is left half done.
    /// Does nothing by default.
    fn checkpoint(&self, _point: &str) {}
    /// A part of the result that is final while the use case goes on (see [`Milestone`]).
    /// Does nothing by default: the whole result is in the use case's outcome all the same.
    fn reached(&self, _milestone: &Milestone<'_>) {}
    /// Whether a person can answer a question now (a terminal, not CI). `false` by default:
    /// then nothing is asked, and the use case goes on as `--yes` would.
    fn can_confirm(&self) -> bool {
        false
    }
    /// Show the proposed change and ask its question; `true` to go ahead. Only called when
    /// [`Interaction::can_confirm`] said yes. Refuses by default.
    fn confirm(&self, _proposal: &Proposal<'_>) -> bool {
        false
    }
}

/// Interaction that goes nowhere and never confirms.
#[derive(Debug, Default)]
pub struct Quiet;

impl Interaction for Quiet {
    fn step(&self, _: &str) {}
    fn warn(&self, _: &str) {}
}
