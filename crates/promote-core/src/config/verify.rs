//! `verify:` (checks after a deploy) and `waves:` of promote.yaml, and a `--check` flag's text:
//! from the raw shapes to [`VerifySpec`] and [`Wave`]; every error names the key and the fix.

use std::collections::BTreeSet;
use std::time::Duration;

use super::PolicyRef;
use super::common::{policy_ref, problem, strip_file_prefix};
use super::raw::{RawCheck, RawVerify, RawWave};
use super::{ConfigError, Environment, RESERVED_NAMES, valid_env_name};
use crate::checks::{Check, CheckKind, Threshold, default_name};
use crate::{duration, yaml};

/// Default time between two samples of a check.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(30);
/// A request never waits longer than this by default (nor longer than `every`).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// `verify:` of an environment: how long to soak, what to check, who decides.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VerifySpec {
    /// How long the app must stay Synced and Healthy (and the checks pass); zero: one sample
    /// of each check.
    pub soak: Duration,
    pub checks: Vec<Check>,
    /// `verify` policies: the verdict from the samples. None: any failed sample fails.
    pub policies: Vec<PolicyRef>,
    /// `onFailure: rollback`.
    pub rollback_on_failure: bool,
}

impl VerifySpec {
    /// Whether there is anything to do after the deploy.
    pub fn is_empty(&self) -> bool {
        self.soak.is_zero() && self.checks.is_empty()
    }
}

/// `waves:`: an ordered group of environments promoted one after the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wave {
    pub name: String,
    pub environments: Vec<String>,
}

pub(super) fn verify(file: &str, key: &str, raw: RawVerify) -> Result<VerifySpec, ConfigError> {
    let soak = match raw.soak.as_deref() {
        None => Duration::ZERO,
        Some(t) => duration::parse(t).map_err(|e| {
            problem(
                file,
                format!("{key}.soak"),
                e,
                "write a duration such as 10m or 1h30m",
            )
        })?,
    };
    let checks = raw
        .checks
        .into_iter()
        .enumerate()
        .map(|(j, c)| check(file, &format!("{key}.checks[{j}]"), c))
        .collect::<Result<Vec<_>, _>>()?;
    let policies = raw
        .policies
        .into_iter()
        .enumerate()
        .map(|(j, p)| policy_ref(file, &format!("{key}.policies[{j}]"), p))
        .collect::<Result<Vec<_>, _>>()?;
    let rollback_on_failure = match raw.on_failure.as_deref() {
        None | Some("report") => false,
        Some("rollback") => true,
        Some(other) => {
            return Err(problem(
                file,
                format!("{key}.onFailure"),
                format!("unknown value `{other}`"),
                "use `rollback` (roll back automatically) or `report` (exit 5 and say what failed; the default)",
            ));
        }
    };
    if soak.is_zero() && checks.is_empty() && !policies.is_empty() {
        return Err(problem(
            file,
            format!("{key}.policies"),
            "verify policies without checks or a soak have nothing to judge",
            "add `soak:` or `checks:`, or remove the policies",
        ));
    }
    Ok(VerifySpec {
        soak,
        checks,
        policies,
        rollback_on_failure,
    })
}

fn dur(
    file: &str,
    key: String,
    t: Option<&str>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    t.map_or(Ok(default), |t| {
        duration::parse(t).map_err(|e| problem(file, key, e, "write a duration such as 30s or 1m"))
    })
}

fn url(file: &str, key: String, u: &str) -> Result<String, ConfigError> {
    if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() < 10 {
        return Err(problem(
            file,
            key,
            format!("`{u}` is not an http(s) URL"),
            "write the full URL, e.g. https://shop.example.com/healthz",
        ));
    }
    Ok(u.to_owned())
}

pub(super) fn check(file: &str, key: &str, raw: RawCheck) -> Result<Check, ConfigError> {
    let (kind, every, timeout, headers) = match (raw.http, raw.prometheus) {
        (Some(h), None) => {
            let expect = h.expect.unwrap_or(super::raw::RawExpect {
                status: None,
                body: None,
            });
            let status = expect.status.unwrap_or(200);
            if !(100..=599).contains(&status) {
                return Err(problem(
                    file,
                    format!("{key}.http.expect.status"),
                    format!("{status} is not an HTTP status"),
                    "use a status between 100 and 599, e.g. 200",
                ));
            }
            let kind = CheckKind::Http {
                url: url(file, format!("{key}.http.url"), &h.url)?,
                status,
                body: expect.body,
            };
            (kind, h.every, h.timeout, h.headers)
        }
        (None, Some(p)) => {
            let threshold = match (p.below, p.above) {
                (Some(b), None) if b.is_finite() => Threshold::Below(b),
                (None, Some(a)) if a.is_finite() => Threshold::Above(a),
                _ => {
                    return Err(problem(
                        file,
                        format!("{key}.prometheus"),
                        "give exactly one finite threshold, `below` or `above`",
                        "e.g. `below: 0.01` for an error ratio",
                    ));
                }
            };
            if p.query.trim().is_empty() {
                return Err(problem(
                    file,
                    format!("{key}.prometheus.query"),
                    "empty query",
                    "write a PromQL query that returns one value per series",
                ));
            }
            let kind = CheckKind::Prometheus {
                url: url(file, format!("{key}.prometheus.url"), &p.url)?,
                query: p.query,
                threshold,
            };
            (kind, p.every, p.timeout, p.headers)
        }
        _ => {
            return Err(problem(
                file,
                key,
                "a check is exactly one of `http` and `prometheus`",
                "e.g. `- http: {url: https://shop.example.com/healthz}`",
            ));
        }
    };
    let kind_key = match kind {
        CheckKind::Http { .. } => "http",
        CheckKind::Prometheus { .. } => "prometheus",
    };
    let every = dur(
        file,
        format!("{key}.{kind_key}.every"),
        every.as_deref(),
        DEFAULT_EVERY,
    )?;
    let timeout = dur(
        file,
        format!("{key}.{kind_key}.timeout"),
        timeout.as_deref(),
        DEFAULT_TIMEOUT.min(every),
    )?;
    for name in headers.keys() {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(problem(
                file,
                format!("{key}.{kind_key}.headers"),
                format!("`{name}` is not a header name"),
                "use letters, digits and `-`; put secrets in variables: `Authorization: \"Bearer ${TOKEN}\"`",
            ));
        }
    }
    Ok(Check {
        name: raw.name.unwrap_or_else(|| default_name(&kind)),
        every,
        timeout,
        headers: headers.into_iter().collect(),
        kind,
    })
}

/// A `--check` flag: a URL (an HTTP check expecting 200), or one check as YAML, e.g.
/// `'prometheus: {url: http://prom:9090, query: "…", below: 0.01}'`.
pub fn parse_check(text: &str) -> Result<Check, ConfigError> {
    let file = "--check";
    if text.starts_with("http://") || text.starts_with("https://") {
        let text = format!("http: {{url: {}}}", serde_json::Value::from(text));
        return parse_check(&text);
    }
    let raw: RawCheck = yaml::from_str(file, text).map_err(|e| {
        problem(
            file,
            "(value)",
            strip_file_prefix(&e.to_string(), file),
            "give a URL, or one check as YAML: 'http: {url: https://…/healthz, expect: {status: 200}}'",
        )
    })?;
    check(file, "(value)", raw)
}

pub(super) fn waves(
    file: &str,
    raw: Vec<RawWave>,
    environments: &[Environment],
) -> Result<Vec<Wave>, ConfigError> {
    let mut names = BTreeSet::new();
    raw.into_iter()
        .enumerate()
        .map(|(i, w)| {
            let key = |k: &str| format!("waves[{i}].{k}");
            if !valid_env_name(&w.name)
                || RESERVED_NAMES.contains(&w.name.as_str())
                || environments.iter().any(|e| e.name == w.name)
                || !names.insert(w.name.clone())
            {
                return Err(problem(
                    file,
                    key("name"),
                    format!("`{}` cannot name a wave", w.name),
                    "use a name of its own (not an environment's, a subcommand's or another wave's), lower-case letters, digits and `-`",
                ));
            }
            if w.environments.is_empty() {
                return Err(problem(
                    file,
                    key("environments"),
                    "no environments",
                    "list the environments in the order they are promoted, e.g. [prod-eu, prod-us]",
                ));
            }
            let mut seen = BTreeSet::new();
            for e in &w.environments {
                if !environments.iter().any(|x| &x.name == e) {
                    return Err(problem(
                        file,
                        key("environments"),
                        format!("no environment named `{e}`"),
                        "list environments declared under `environments:`",
                    ));
                }
                if !seen.insert(e) {
                    return Err(problem(
                        file,
                        key("environments"),
                        format!("`{e}` is listed twice"),
                        "list each environment once",
                    ));
                }
            }
            Ok(Wave {
                name: w.name,
                environments: w.environments,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{API_VERSION, Config, KIND};

    fn parse(body: &str) -> Result<Config, ConfigError> {
        Config::parse(
            "promote.yaml",
            &format!("apiVersion: {API_VERSION}\nkind: {KIND}\n{body}"),
        )
    }

    const ENVS: &str =
        "environments:\n  - {name: eu, overlay: k/eu}\n  - {name: us, overlay: k/us}\n";

    #[test]
    fn verify_blocks_parse_with_defaults() {
        let c = parse("environments:\n  - name: prod\n    overlay: k\n    verify:\n      soak: 10m\n      onFailure: rollback\n      checks:\n        - http: {url: https://shop.example.com/healthz, expect: {status: 200, body: ok}, every: 30s, headers: {Authorization: \"Bearer ${T}\"}}\n        - prometheus: {url: \"http://prometheus:9090\", query: 'sum(rate(x[5m]))', below: 0.01, every: 1m}\n      policies:\n        - module: builtin:slo-guard\n").unwrap();
        let v = &c.env("prod").unwrap().verify;
        assert_eq!(v.soak, Duration::from_secs(600));
        assert!(v.rollback_on_failure);
        assert_eq!(v.checks[0].name, "http shop.example.com/healthz");
        assert_eq!(v.checks[0].timeout, Duration::from_secs(10));
        assert_eq!(v.checks[1].every, Duration::from_secs(60));
        assert_eq!(v.policies.len(), 1);
    }

    #[test]
    fn bad_checks_name_the_key() {
        let e = parse("environments:\n  - name: prod\n    overlay: k\n    verify: {checks: [{http: {url: x}}]}\n").unwrap_err();
        assert_eq!(e.key, "environments[0].verify.checks[0].http.url");
        let e = parse("environments:\n  - name: prod\n    overlay: k\n    verify: {checks: [{prometheus: {url: \"http://p:9090\", query: up}}]}\n").unwrap_err();
        assert_eq!(e.key, "environments[0].verify.checks[0].prometheus");
        let e = parse("environments:\n  - name: prod\n    overlay: k\n    verify: {soak: soon}\n")
            .unwrap_err();
        assert_eq!(e.key, "environments[0].verify.soak");
        let e = parse(
            "environments:\n  - name: prod\n    overlay: k\n    verify: {onFailure: panic}\n",
        )
        .unwrap_err();
        assert!(e.fix.contains("rollback"), "{e}");
        let e =
            parse("environments:\n  - name: prod\n    overlay: k\n    verify: {checks: [{}]}\n")
                .unwrap_err();
        assert!(e.problem.contains("exactly one"), "{e}");
    }

    #[test]
    fn check_flags_take_a_url_or_yaml() {
        let c = parse_check("https://shop.example.com/healthz").unwrap();
        assert!(matches!(c.kind, CheckKind::Http { status: 200, .. }));
        let c = parse_check("prometheus: {url: \"http://p:9090\", query: up, above: 0}").unwrap();
        assert!(matches!(
            c.kind,
            CheckKind::Prometheus {
                threshold: Threshold::Above(_),
                ..
            }
        ));
        let e = parse_check("ftp://x").unwrap_err();
        assert!(e.to_string().starts_with("--check"), "{e}");
    }

    #[test]
    fn waves_name_existing_environments_in_order() {
        let c = parse(&format!(
            "{ENVS}waves:\n  - {{name: prod, environments: [eu, us]}}\n"
        ))
        .unwrap();
        assert_eq!(c.wave("prod").unwrap().environments, ["eu", "us"]);
        for (waves, key) in [
            ("[{name: eu, environments: [us]}]", "waves[0].name"),
            ("[{name: prod, environments: []}]", "waves[0].environments"),
            (
                "[{name: prod, environments: [eu, nope]}]",
                "waves[0].environments",
            ),
            (
                "[{name: prod, environments: [eu, eu]}]",
                "waves[0].environments",
            ),
            ("[{name: status, environments: [eu]}]", "waves[0].name"),
        ] {
            let e = parse(&format!("{ENVS}waves: {waves}\n")).unwrap_err();
            assert_eq!(e.key, key, "{waves}: {e}");
        }
    }
}
