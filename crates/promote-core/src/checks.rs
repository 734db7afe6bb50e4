//! Checks after a deploy (`verify:` in promote.yaml, `--check`/`--soak`): what each check asks,
//! and what an answer means. The use case takes the samples through a [`Probe`] and keeps the
//! clock; everything here is pure.
//!
//! Two kinds: an HTTP endpoint (`expect.status`, optionally a body substring) and a Prometheus
//! instant query (`/api/v1/query`, every series `below` or `above` a threshold). Header values
//! may name environment variables as `${NAME}`: the credentials stay in the environment, are
//! resolved when the checks are prepared (before anything lands), and are never printed.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// How much of an HTTP check's answer is read (the body match looks at that much).
pub const HTTP_BODY_LIMIT: u64 = 64 * 1024;
/// How much of a Prometheus answer is read.
pub const PROMETHEUS_BODY_LIMIT: u64 = 1024 * 1024;
/// The longest message kept per sample (answers are hostile input).
const MESSAGE_LIMIT: usize = 200;

/// One check, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// For people and policies: `http shop.example.com/healthz`, or the config's `name`.
    pub name: String,
    /// Time between two samples.
    pub every: Duration,
    /// Deadline of one request.
    pub timeout: Duration,
    /// Header name → value template (`${VAR}` is read from the environment).
    pub headers: Vec<(String, String)>,
    pub kind: CheckKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    Http {
        url: String,
        status: u16,
        body: Option<String>,
    },
    Prometheus {
        url: String,
        query: String,
        threshold: Threshold,
    },
}

/// What every series of a Prometheus query must satisfy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Below(f64),
    Above(f64),
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Below(x) => write!(f, "< {x}"),
            Threshold::Above(x) => write!(f, "> {x}"),
        }
    }
}

/// One request a check makes, with the headers resolved (they may hold secrets: never print
/// them, [`fmt::Debug`] leaves their values out).
#[derive(Clone, PartialEq)]
pub struct ProbeRequest {
    pub url: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    /// The most body bytes to read.
    pub limit: u64,
}

impl fmt::Debug for ProbeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeRequest")
            .field("url", &self.url)
            .field("query", &self.query)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// An answer: the status and as much of the body as the limit allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReply {
    pub status: u16,
    pub body: String,
}

/// How checks reach their endpoints (an HTTP client in the binary, a fake in tests).
pub trait Probe: Send + Sync {
    /// One GET; `Err` says why there was no answer (connection refused, timed out, too long).
    fn get(&self, req: &ProbeRequest) -> Result<ProbeReply, String>;
}

/// A header value template names a variable that is not set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "check `{check}`: header {header} names ${{{var}}}, which is not set; export it before the promotion"
)]
pub struct MissingVariable {
    pub check: String,
    pub header: String,
    pub var: String,
}

impl Check {
    /// The request of one sample, headers resolved through `var`.
    pub fn request(
        &self,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ProbeRequest, MissingVariable> {
        let mut headers = Vec::new();
        for (name, template) in &self.headers {
            let value = expand(template, var).map_err(|v| MissingVariable {
                check: self.name.clone(),
                header: name.clone(),
                var: v,
            })?;
            headers.push((name.clone(), value));
        }
        Ok(match &self.kind {
            CheckKind::Http { url, .. } => ProbeRequest {
                url: url.clone(),
                query: Vec::new(),
                headers,
                timeout: self.timeout,
                limit: HTTP_BODY_LIMIT,
            },
            CheckKind::Prometheus { url, query, .. } => ProbeRequest {
                url: format!("{}/api/v1/query", url.trim_end_matches('/')),
                query: vec![("query".to_owned(), query.clone())],
                headers,
                timeout: self.timeout,
                limit: PROMETHEUS_BODY_LIMIT,
            },
        })
    }

    /// What an answer (or its absence) means: `(ok, status, value, message)`.
    pub fn judge(&self, reply: Result<&ProbeReply, &str>) -> Judged {
        let reply = match reply {
            Ok(r) => r,
            Err(why) => {
                return Judged {
                    ok: false,
                    status: None,
                    value: None,
                    message: bounded(&format!("no answer: {why}")),
                };
            }
        };
        match &self.kind {
            CheckKind::Http { status, body, .. } => {
                let mut problems = Vec::new();
                if reply.status != *status {
                    problems.push(format!("expected {status}"));
                }
                if let Some(want) = body
                    && !reply.body.contains(want.as_str())
                {
                    problems.push(format!("body lacks {want:?}"));
                }
                Judged {
                    ok: problems.is_empty(),
                    status: Some(reply.status),
                    value: None,
                    message: bounded(&if problems.is_empty() {
                        reply.status.to_string()
                    } else {
                        format!("{} ({})", reply.status, problems.join(", "))
                    }),
                }
            }
            CheckKind::Prometheus { threshold, .. } => {
                let judged = if reply.status == 200 {
                    prometheus_values(&reply.body).map(|values| worst(&values, *threshold))
                } else {
                    Err(format!(
                        "HTTP {}: {}",
                        reply.status,
                        prometheus_error(&reply.body)
                    ))
                };
                match judged {
                    Ok(Some(v)) => {
                        let ok = satisfies(v, *threshold);
                        Judged {
                            ok,
                            status: Some(reply.status),
                            value: v.is_finite().then_some(v),
                            message: if ok {
                                format!("{v}")
                            } else {
                                format!("{v} (expected {threshold})")
                            },
                        }
                    }
                    Ok(None) => Judged {
                        ok: false,
                        status: Some(reply.status),
                        value: None,
                        message: "the query returned no series".into(),
                    },
                    Err(e) => Judged {
                        ok: false,
                        status: Some(reply.status),
                        value: None,
                        message: bounded(&e),
                    },
                }
            }
        }
    }
}

/// What [`Check::judge`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub ok: bool,
    pub status: Option<u16>,
    pub value: Option<f64>,
    pub message: String,
}

/// `${NAME}` → the variable's value; `Err(NAME)` when unset. `$` alone stays.
fn expand(template: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 2..];
        let Some(end) = tail.find('}') else {
            out.push_str(&rest[at..]);
            return Ok(out);
        };
        let name = &tail[..end];
        out.push_str(&var(name).ok_or_else(|| name.to_owned())?);
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn satisfies(v: f64, t: Threshold) -> bool {
    match t {
        Threshold::Below(x) => v < x,
        Threshold::Above(x) => v > x,
    }
}

/// The series value furthest from passing (NaN counts as failing); `None` without series.
fn worst(values: &[f64], t: Threshold) -> Option<f64> {
    if let Some(nan) = values.iter().find(|v| v.is_nan()) {
        return Some(*nan);
    }
    let it = values.iter().copied();
    match t {
        Threshold::Below(_) => it.reduce(f64::max),
        Threshold::Above(_) => it.reduce(f64::min),
    }
}

/// The values of an instant query's answer (`vector` or `scalar`), as Prometheus documents
/// `/api/v1/query`: `{"status":"success","data":{"resultType":…,"result":…}}` with each value
/// `[unixTime, "string"]`.
pub fn prometheus_values(body: &str) -> Result<Vec<f64>, String> {
    let doc: Value =
        serde_json::from_str(body).map_err(|e| format!("not a Prometheus answer: {e}"))?;
    if doc["status"] != "success" {
        return Err(format!("query failed: {}", prometheus_error(body)));
    }
    let data = &doc["data"];
    let value = |pair: &Value| -> Result<f64, String> {
        let text = pair
            .get(1)
            .and_then(Value::as_str)
            .ok_or("a sample without a [time, \"value\"] pair")?;
        match text {
            "NaN" => Ok(f64::NAN),
            "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            t => t
                .parse()
                .map_err(|_| format!("`{}` is not a number", bounded(t))),
        }
    };
    match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .ok_or("data.result is not a list")?
            .iter()
            .map(|s| value(&s["value"]))
            .collect(),
        Some("scalar") => Ok(vec![value(&data["result"])?]),
        other => Err(format!(
            "result type {} is not an instant vector or a scalar; write a query that returns one (e.g. wrap it in sum())",
            other.unwrap_or("(none)")
        )),
    }
}

fn prometheus_error(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|d| d["error"].as_str().map(bounded))
        .unwrap_or_else(|| bounded(body.lines().next().unwrap_or("")))
}

/// One line, printable, at most [`MESSAGE_LIMIT`] characters.
fn bounded(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MESSAGE_LIMIT)
        .collect();
    clean.trim().to_owned()
}

/// A check's default name: its kind and where it looks (`http shop.example.com/healthz`,
/// `prometheus prometheus:9090`), without query strings or credentials.
pub fn default_name(kind: &CheckKind) -> String {
    let short = |url: &str| {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        rest.split(['?', '#']).next().unwrap_or(rest).to_owned()
    };
    match kind {
        CheckKind::Http { url, .. } => format!("http {}", short(url)),
        CheckKind::Prometheus { url, .. } => format!("prometheus {}", short(url)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(body: Option<&str>) -> Check {
        Check {
            name: "h".into(),
            every: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            headers: vec![("Authorization".into(), "Bearer ${TOKEN}".into())],
            kind: CheckKind::Http {
                url: "http://x/healthz".into(),
                status: 200,
                body: body.map(Into::into),
            },
        }
    }

    fn prom(t: Threshold) -> Check {
        Check {
            name: "p".into(),
            every: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            headers: vec![],
            kind: CheckKind::Prometheus {
                url: "http://p:9090/".into(),
                query: "up".into(),
                threshold: t,
            },
        }
    }

    fn reply(status: u16, body: &str) -> ProbeReply {
        ProbeReply {
            status,
            body: body.into(),
        }
    }

    #[test]
    fn headers_come_from_the_environment_and_are_not_debug_printed() {
        let c = http(None);
        let r = c
            .request(&|n| (n == "TOKEN").then(|| "s3cret".into()))
            .unwrap();
        assert_eq!(r.headers[0].1, "Bearer s3cret");
        assert!(!format!("{r:?}").contains("s3cret"));
        let e = c.request(&|_| None).unwrap_err();
        assert_eq!(e.var, "TOKEN");
        assert!(e.to_string().contains("export it"), "{e}");
    }

    #[test]
    fn http_answers_are_judged_by_status_and_body() {
        let c = http(Some("ok"));
        assert!(c.judge(Ok(&reply(200, "all ok"))).ok);
        let j = c.judge(Ok(&reply(500, "boom")));
        assert!(!j.ok);
        assert_eq!(j.message, "500 (expected 200, body lacks \"ok\")");
        let j = c.judge(Err("connection refused"));
        assert!(!j.ok && j.message.contains("connection refused"));
    }

    #[test]
    fn prometheus_vectors_and_scalars_are_judged_by_their_worst_series() {
        let c = prom(Threshold::Below(0.01));
        let v = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.001"]},{"metric":{"a":"b"},"value":[1,"0.02"]}]}}"#;
        let j = c.judge(Ok(&reply(200, v)));
        assert!(!j.ok);
        assert_eq!(j.value, Some(0.02));
        assert_eq!(j.message, "0.02 (expected < 0.01)");
        let s = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"0.005"]}}"#;
        assert!(c.judge(Ok(&reply(200, s))).ok);
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(
            c.judge(Ok(&reply(200, empty))).message,
            "the query returned no series"
        );
        let nan = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#;
        assert!(!c.judge(Ok(&reply(200, nan))).ok);
        let bad = r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#;
        let j = c.judge(Ok(&reply(400, bad)));
        assert!(j.message.contains("parse error at char 3"), "{}", j.message);
        let m = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(c.judge(Ok(&reply(200, m))).message.contains("sum()"));
        let above = prom(Threshold::Above(0.9));
        let v = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.95"]}]}}"#;
        assert!(above.judge(Ok(&reply(200, v))).ok);
        assert_eq!(
            above.request(&|_| None).unwrap().url,
            "http://p:9090/api/v1/query"
        );
    }

    #[test]
    fn default_names_leave_out_credentials_and_queries() {
        let k = CheckKind::Http {
            url: "https://user:pw@shop.example.com/healthz?token=x".into(),
            status: 200,
            body: None,
        };
        assert_eq!(default_name(&k), "http shop.example.com/healthz");
    }
}
