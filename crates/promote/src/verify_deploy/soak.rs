//! The soak: after Synced and Healthy, sample every check at its interval for the soak period,
//! watch that the app stays Synced and Healthy at our revision, and decide: with `verify`
//! policies, they judge the samples after each round (a deny fails the deploy at once) and once
//! the soak is over; without, any failed sample fails it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use promote_core::Person;
use promote_core::argocd::{HealthStatus, SyncStatus};
use promote_core::checks::{Check, CheckKind, Probe, ProbeRequest};
use promote_core::config::Environment;
use promote_core::config::VerifySpec;
use promote_core::image::ImageMap;
use promote_policy::sdk;

use crate::after_deploy::{Verification, show};
use crate::deploy::connect::{connect, one_line};
use crate::deploy::target::read_app;
use crate::deploy::wait::short;
use crate::gate::{Gate, Judged, Operation, PolicyVerdict};
use crate::ports::Purpose;
use crate::{Interaction, PromoteError};

/// How often the Application is looked at during a soak.
const APP_EVERY: Duration = Duration::from_secs(5);

/// One soak of ENV at `revision`.
pub struct Soak<'a> {
    pub gate: Gate<'a>,
    pub env: &'a Environment,
    pub spec: &'a VerifySpec,
    pub requests: Vec<ProbeRequest>,
    pub probe: Option<Arc<dyn Probe>>,
    pub revision: &'a str,
    pub version: &'a str,
    pub previous_version: Option<&'a str>,
    pub wave: Option<&'a sdk::Wave>,
    pub author: &'a Person,
}

/// What one round of the loop found.
enum Round {
    Going,
    Failed(String),
}

impl Soak<'_> {
    /// Runs the soak to its verdict. `Err`: it could not judge (the verify policies could not
    /// be loaded); a failed check or a deny is a `failed` verification.
    pub fn run(&self, ui: &dyn Interaction) -> Result<Verification, PromoteError> {
        let begin = Instant::now();
        let started_at = self.gate.ports.clock.now();
        let soak = self.spec.soak;
        let mut results: Vec<sdk::CheckResults> = self.spec.checks.iter().map(results).collect();
        let mut next: Vec<Instant> = vec![begin; self.spec.checks.len()];
        let mut next_app = begin;
        let target = self.app_target(ui);
        let mut policy = None;
        ui.step(&format!(
            "verifying {}: {} check{} for {}",
            self.env.name,
            self.spec.checks.len(),
            if self.spec.checks.len() == 1 { "" } else { "s" },
            show(soak.as_secs())
        ));
        let failure = loop {
            let now = Instant::now();
            let elapsed = now.duration_since(begin);
            let over = elapsed >= soak;
            if let Some(t) = &target
                && (now >= next_app || over)
            {
                next_app = now + APP_EVERY;
                if let Round::Failed(why) = self.look_at_app(t, ui) {
                    break Some(why);
                }
            }
            let mut sampled = Vec::new();
            for (i, check) in self.spec.checks.iter().enumerate() {
                let due = now >= next[i] && (!over || results[i].samples.is_empty());
                if due {
                    next[i] += check.every;
                    let s = self.sample(i, check, started_at, begin);
                    sampled.push(format!("{} {}", check.name, s.message));
                    results[i].samples.push(s);
                }
            }
            if !sampled.is_empty() {
                ui.step(&format!(
                    "verifying {} ({} of {}): {}",
                    self.env.name,
                    show(elapsed.as_secs()),
                    show(soak.as_secs()),
                    sampled.join(" · ")
                ));
            }
            let complete = over && results.iter().all(|r| !r.samples.is_empty());
            if !sampled.is_empty() || complete {
                match self.judge(&results, elapsed, complete, &mut policy, ui)? {
                    Round::Failed(why) => break Some(why),
                    Round::Going if complete => break None,
                    Round::Going => {}
                }
            }
            if complete {
                break None;
            }
            let wake = next
                .iter()
                .copied()
                .chain(target.as_ref().map(|_| next_app))
                .chain((!over).then_some(begin + soak))
                .min()
                .unwrap_or(now);
            std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        };
        Ok(Verification {
            result: if failure.is_none() {
                "passed"
            } else {
                "failed"
            },
            soak_seconds: soak.as_secs(),
            elapsed_seconds: begin.elapsed().as_secs(),
            checks: results,
            failure,
            policy,
        })
    }

    /// The Application to watch, when ENV has one and it can be reached (a soak without it
    /// says so and goes on with the checks).
    fn app_target(&self, ui: &dyn Interaction) -> Option<crate::deploy::Conn> {
        self.env.argocd.as_ref()?;
        match connect(self.gate.ports.argocd.as_ref(), self.env, Purpose::Read) {
            Ok(c) => Some(c),
            Err(e) => {
                ui.warn(&format!(
                    "the soak cannot watch {}'s Argo CD application: {}",
                    self.env.name,
                    one_line(&e)
                ));
                None
            }
        }
    }

    /// The app must stay Synced and Healthy at our revision; a read error is said and retried.
    fn look_at_app(&self, conn: &crate::deploy::Conn, ui: &dyn Interaction) -> Round {
        let t = conn.target();
        match read_app(self.env, &t) {
            Ok(app) => {
                let ours = app.deployed_revision() == Some(self.revision);
                if app.sync_status == SyncStatus::Synced
                    && app.health == HealthStatus::Healthy
                    && ours
                {
                    Round::Going
                } else if !ours {
                    Round::Failed(format!(
                        "{} no longer deploys {}: {}",
                        t.app,
                        short(self.revision),
                        app.summary()
                    ))
                } else {
                    Round::Failed(format!(
                        "{} left Synced and Healthy: {}",
                        t.app,
                        app.summary()
                    ))
                }
            }
            Err(e) => {
                ui.warn(&format!(
                    "could not read {} during the soak: {}",
                    t.app,
                    one_line(&e)
                ));
                Round::Going
            }
        }
    }

    fn sample(
        &self,
        i: usize,
        check: &Check,
        started_at: jiff::Timestamp,
        begin: Instant,
    ) -> sdk::CheckSample {
        let elapsed = begin.elapsed();
        let reply = match &self.probe {
            Some(p) => p.get(&self.requests[i]),
            None => Err("no HTTP client".to_owned()),
        };
        let judged = check.judge(reply.as_ref().map_err(String::as_str));
        let at = started_at
            .checked_add(jiff::SignedDuration::try_from(elapsed).unwrap_or_default())
            .unwrap_or(started_at);
        sdk::CheckSample {
            at: crate::clock::format_utc(at),
            elapsed_seconds: (elapsed.as_millis() as f64) / 1000.0,
            ok: judged.ok,
            status: judged.status,
            value: judged.value,
            message: judged.message,
        }
    }

    /// After a round of samples: the verify policies' verdict, or without policies, the first
    /// failed sample.
    fn judge(
        &self,
        results: &[sdk::CheckResults],
        elapsed: Duration,
        complete: bool,
        policy: &mut Option<PolicyVerdict>,
        ui: &dyn Interaction,
    ) -> Result<Round, PromoteError> {
        if self.spec.policies.is_empty() && self.gate.ports.policies.settings.one_offs.is_empty() {
            return Ok(first_failure(results));
        }
        let request = sdk::Verification {
            environment: self.env.name.clone(),
            version: self.version.to_owned(),
            previous_version: self.previous_version.map(str::to_owned),
            revision: self.revision.to_owned(),
            soak_seconds: self.spec.soak.as_secs(),
            elapsed_seconds: elapsed.as_secs(),
            complete,
            argocd: None,
            checks: results.to_vec(),
            wave: self.wave.cloned(),
        };
        let promoted = ImageMap::default();
        let judged = Judged {
            env: self.env,
            operation: Operation::Verify(Box::new(request)),
            version: self.version,
            promoted: &promoted,
            author: self.author,
        };
        let Some(verdict) = self.gate.judge(&judged, ui)? else {
            return Ok(first_failure(results));
        };
        let denied = verdict.denied();
        let why = verdict
            .reasons
            .iter()
            .map(|r| r.message.clone())
            .collect::<Vec<_>>();
        *policy = Some(verdict);
        Ok(if denied {
            Round::Failed(format!("the verify policies denied: {}", why.join("; ")))
        } else {
            Round::Going
        })
    }
}

fn results(c: &Check) -> sdk::CheckResults {
    sdk::CheckResults {
        name: c.name.clone(),
        kind: match c.kind {
            CheckKind::Http { .. } => "http",
            CheckKind::Prometheus { .. } => "prometheus",
        }
        .to_owned(),
        every_seconds: c.every.as_secs_f64(),
        samples: Vec::new(),
    }
}

fn first_failure(results: &[sdk::CheckResults]) -> Round {
    for r in results {
        if let Some(s) = r.samples.iter().find(|s| !s.ok) {
            return Round::Failed(format!(
                "{}: {} at {}",
                r.name,
                s.message,
                show(s.elapsed_seconds as u64)
            ));
        }
    }
    Round::Going
}
