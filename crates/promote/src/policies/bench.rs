//! `policy bench MODULE --input FILE [--iterations N]`: one request through one module N times,
//! each in a fresh instance as promotions run it, and the p50/p99 time and fuel per evaluation,
//! so an author can size the module's `resources` against the limits (as Kubewarden's `kwctl
//! bench` does for its policies). The first evaluation is checked as `policy eval` checks it;
//! a policy error is the report's, not an `Err`.

use serde::Serialize;

use promote_policy::sdk::Verdict;

use super::eval::{EvalError, EvalRequest, evaluate_checked, load_with_request};
use crate::document::Document;
use crate::ports::PolicyRuntime;
use crate::{Interaction, PromoteError};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchRequest {
    /// The module, `--input` and `--settings`, as `policy eval` takes them.
    pub eval: EvalRequest,
    /// `--iterations` (at least 1).
    pub iterations: u32,
}

/// The measurement (`kind: PolicyBenchmark`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BenchReport {
    pub policy: String,
    pub origin: String,
    pub sha256: String,
    pub iterations: u32,
    /// The verdict every evaluation gave.
    pub decision: Option<Verdict>,
    /// Milliseconds per evaluation (instantiation included).
    pub time_ms: Option<Stats<f64>>,
    pub fuel: Option<Stats<u64>>,
    /// The limits the module runs under (its `resources`, capped by the host).
    pub fuel_limit: u64,
    pub timeout_ms: u64,
    /// The policy error that stopped the run.
    pub error: Option<EvalError>,
}

impl Document for BenchReport {
    fn kind(&self) -> &'static str {
        "PolicyBenchmark"
    }
}

/// Order statistics of one measure.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stats<T> {
    pub min: T,
    pub p50: T,
    pub p99: T,
    pub max: T,
}

impl<T: Copy + PartialOrd> Stats<T> {
    /// Nearest-rank percentiles of `values` (not empty).
    fn of(mut values: Vec<T>) -> Option<Self> {
        values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let rank = |p: usize| values[(values.len() * p).div_ceil(100).max(1) - 1];
        Some(Stats {
            min: *values.first()?,
            p50: rank(50),
            p99: rank(99),
            max: *values.last()?,
        })
    }
}

/// Measure. `Err` when the module cannot be found or loaded, or the input cannot be read.
pub fn run(
    policies: &PolicyRuntime,
    req: &BenchRequest,
    ui: &dyn Interaction,
) -> Result<BenchReport, PromoteError> {
    if req.iterations == 0 {
        return Err(PromoteError::Usage("--iterations: at least 1".to_owned()));
    }
    let (host, policy, request) = load_with_request(policies, &req.eval, ui)?;
    let mut report = BenchReport {
        policy: policy.name().to_owned(),
        origin: policy.origin().to_string(),
        sha256: policy.sha256().to_hex(),
        iterations: req.iterations,
        decision: None,
        time_ms: None,
        fuel: None,
        fuel_limit: policy.limits().fuel,
        timeout_ms: u64::try_from(policy.limits().timeout.as_millis()).unwrap_or(u64::MAX),
        error: None,
    };
    let mut times = Vec::new();
    let mut fuel = Vec::new();
    for i in 0..req.iterations {
        let evaluated = if i == 0 {
            evaluate_checked(host, &policy, &request, req.eval.settings.as_deref())
        } else {
            host.evaluate(&policy, &request)
                .map_err(|e| EvalError::from(&e))
        };
        match evaluated {
            Ok(ev) => {
                report.decision = Some(ev.decision.decision);
                times.push(ev.elapsed.as_secs_f64() * 1000.0);
                fuel.push(ev.fuel_used);
            }
            Err(e) => {
                report.error = Some(e);
                break;
            }
        }
    }
    report.time_ms = Stats::of(times);
    report.fuel = Stats::of(fuel);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::Stats;

    #[test]
    fn percentiles_are_nearest_rank() {
        let s = Stats::of((1..=100u64).rev().collect()).unwrap();
        assert_eq!((s.min, s.p50, s.p99, s.max), (1, 50, 99, 100));
        let one = Stats::of(vec![7u64]).unwrap();
        assert_eq!((one.p50, one.p99), (7, 7));
        assert!(Stats::<u64>::of(Vec::new()).is_none());
    }
}
