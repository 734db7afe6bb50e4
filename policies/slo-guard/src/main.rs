//! `builtin:slo-guard`: the verdict of a deploy's checks (`operation: verify`). Each check may
//! fail at most `maxFailedSamples` samples (default 0) and at most `maxFailureRatio` of them
//! (default: no ratio); when the soak is over, each check must have at least `minSamples`
//! samples (default 1). Asked after every round of samples, it denies as soon as a budget is
//! spent, so a bad deploy is stopped (and rolled back) without waiting for the soak's end.

use std::process::ExitCode;

use promote_policy_sdk::{Decision, EvaluationRequest, PolicyFailure, SettingsValidation};
use serde::Deserialize;
use serde_json::Value;

promote_policy_sdk::embed_metadata!("../policy.json");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    /// Failed samples each check may have.
    #[serde(default)]
    max_failed_samples: u32,
    /// The largest share of failed samples (0..1) a check may have, judged once it has
    /// `minSamples` samples.
    #[serde(default)]
    max_failure_ratio: Option<f64>,
    /// Samples each check needs by the end of the soak.
    #[serde(default = "one")]
    min_samples: u32,
    /// Only these checks (by name); empty: every check.
    #[serde(default)]
    checks: Vec<String>,
}

fn one() -> u32 {
    1
}

fn main() -> ExitCode {
    promote_policy_sdk::run(evaluate, validate_settings)
}

fn validate_settings(settings: &Value) -> SettingsValidation {
    match Settings::deserialize(settings) {
        Ok(s) if s.max_failure_ratio.is_some_and(|r| !(0.0..=1.0).contains(&r)) => {
            SettingsValidation::invalid("maxFailureRatio: give a share between 0 and 1, e.g. 0.05")
        }
        Ok(_) => SettingsValidation::valid(),
        Err(e) => SettingsValidation::invalid(e.to_string()),
    }
}

fn evaluate(req: &EvaluationRequest) -> Result<Decision, PolicyFailure> {
    let s: Settings = req.settings()?;
    let Some(v) = req.verification() else {
        return Ok(Decision::allow().with_warning("slo-guard only judges the checks after a deploy (operation verify)"));
    };
    let mut judged = 0;
    for c in &v.checks {
        if !s.checks.is_empty() && !s.checks.contains(&c.name) {
            continue;
        }
        judged += 1;
        let total = c.samples.len() as u32;
        let failed: Vec<_> = c.samples.iter().filter(|x| !x.ok).collect();
        let n = failed.len() as u32;
        if n > s.max_failed_samples {
            let last = failed.last().map(|x| x.message.as_str()).unwrap_or("");
            return Ok(Decision::deny(
                "CheckFailing",
                format!(
                    "{}: {n} of {total} samples failed (at most {} allowed); last: {last}",
                    c.name, s.max_failed_samples
                ),
            ));
        }
        if let Some(max) = s.max_failure_ratio
            && total >= s.min_samples
            && total > 0
            && f64::from(n) / f64::from(total) > max
        {
            return Ok(Decision::deny(
                "FailureRatio",
                format!("{}: {n} of {total} samples failed, more than {max} of them", c.name),
            ));
        }
        if v.complete && total < s.min_samples {
            return Ok(Decision::deny(
                "TooFewSamples",
                format!(
                    "{}: {total} samples by the end of the soak, {} needed; lengthen the soak or shorten `every`",
                    c.name, s.min_samples
                ),
            ));
        }
    }
    if judged == 0 && !s.checks.is_empty() {
        return Ok(Decision::deny(
            "NoSuchCheck",
            format!("none of the checks {} ran; name checks as `verify.checks[].name` says", s.checks.join(", ")),
        ));
    }
    Ok(Decision::allow())
}
