//! What a promotion carries into and out of its deploy's checks (a leaf: the promotion, the
//! checks and the waves all use these): the flags that add to ENV's `verify:`, the checks
//! prepared before anything lands (credentials resolved), and the results a document shows.

use std::time::Duration;

use serde::Serialize;

use promote_core::checks::{Check, ProbeRequest};
use promote_core::config::{Environment, VerifySpec};
use promote_core::duration;
use promote_policy::sdk;

use crate::PromoteError;
use crate::deploy::Waited;
use crate::gate::PolicyVerdict;
use crate::images::ImageMode;
use crate::ports::Ports;

/// Where the deploy notes live.
pub const NOTES_REF: &str = "refs/notes/promote";
/// The note's key.
pub const NOTE_KEY: &str = "Promote-Verify";

/// What the command line adds to ENV's `verify:` for one run.
#[derive(Debug, Clone, Default)]
pub struct AfterDeploy {
    /// `--check`: more checks.
    pub checks: Vec<Check>,
    /// `--soak`: replaces the configured soak.
    pub soak: Option<Duration>,
    /// `--rollback-on-failure`.
    pub rollback_on_failure: bool,
}

impl AfterDeploy {
    /// ENV's `verify:` with this run's flags.
    pub fn spec(&self, env: &Environment) -> VerifySpec {
        let mut spec = env.verify.clone();
        spec.checks.extend(self.checks.iter().cloned());
        if let Some(s) = self.soak {
            spec.soak = s;
        }
        spec.rollback_on_failure |= self.rollback_on_failure;
        spec
    }

    /// Whether the flags ask for anything that needs the wait.
    pub fn needs_wait(&self) -> bool {
        !self.checks.is_empty() || self.soak.is_some() || self.rollback_on_failure
    }
}

/// The rollback a failed deploy triggered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoRollback {
    /// `rolled-back`, `denied`, `awaiting-approval`, `nothing-to-do` or `failed`.
    pub result: &'static str,
    /// `argocd` or `revert`, when it got that far.
    pub strategy: Option<&'static str>,
    /// The version it went back to, when known.
    pub to_version: Option<String>,
    /// For people: what was done, or why not.
    pub message: String,
    /// The wait on the rollback.
    pub waited: Option<Waited>,
}

/// What to do after the landing, prepared before it (so a missing credential stops the
/// promotion before anything is written).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub spec: VerifySpec,
    pub requests: Vec<ProbeRequest>,
    pub wave: Option<sdk::Wave>,
    /// How a revert's images are checked (the promotion's own mode).
    pub images: ImageMode,
}

/// Checks `after` against ENV before the promotion does anything.
pub fn prepare(
    ports: &Ports,
    env: &Environment,
    after: &AfterDeploy,
    wave: Option<sdk::Wave>,
    images: ImageMode,
) -> Result<Prepared, PromoteError> {
    let spec = after.spec(env);
    let requests = prepare_requests(&spec, &|n| ports.checks.variable(n))?;
    if !spec.checks.is_empty() {
        ports.checks.probe()?;
    }
    Ok(Prepared {
        spec,
        requests,
        wave,
        images,
    })
}

/// How the checks after a deploy ended (the `verification` of a result document).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// `passed` or `failed`.
    pub result: &'static str,
    pub soak_seconds: u64,
    pub elapsed_seconds: u64,
    /// Every sample of every check, oldest first.
    pub checks: Vec<sdk::CheckResults>,
    /// What failed, for people (null when passed).
    pub failure: Option<String>,
    /// The verify policies' last verdict (null: none configured).
    pub policy: Option<PolicyVerdict>,
}

impl Verification {
    pub fn passed(&self) -> bool {
        self.result == "passed"
    }

    /// `soak 10m, 2 checks, 40 samples`.
    pub fn summary(&self) -> String {
        let samples: usize = self.checks.iter().map(|c| c.samples.len()).sum();
        format!(
            "soak {}, {} check{}, {samples} sample{}",
            show(self.soak_seconds),
            self.checks.len(),
            if self.checks.len() == 1 { "" } else { "s" },
            if samples == 1 { "" } else { "s" }
        )
    }
}

pub(crate) fn show(secs: u64) -> String {
    if secs == 0 {
        "0s".to_owned()
    } else {
        duration::show(Duration::from_secs(secs))
    }
}

/// Prepared requests of a spec's checks: the header variables resolved before anything lands,
/// so a missing credential stops the promotion instead of failing (and rolling back) the deploy.
pub fn prepare_requests(
    spec: &VerifySpec,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<ProbeRequest>, PromoteError> {
    spec.checks
        .iter()
        .map(|c| {
            c.request(var)
                .map_err(|e| PromoteError::Usage(e.to_string()))
        })
        .collect()
}
