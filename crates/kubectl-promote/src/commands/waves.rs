//! A promotion in waves: each wave's outcome as a promotion's (text), then where the run
//! stopped; `-o json|yaml` is one `WavesResult` document with each wave's `PromotionResult`.
//! The exit code is the first failing wave's (0 when every wave was done).

use serde::Serialize;

use promote::promotion::Outcome;
use promote::waves::{Step, Stopped, WavesOutcome};

use super::Ctx;
use crate::Exit;
use crate::output::{BOLD, GREEN, RED};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WavesResult<'a> {
    name: &'a str,
    environments: &'a [String],
    /// `completed` or `stopped`.
    result: &'static str,
    stopped: Option<&'a Stopped>,
    waves: Vec<serde_json::Value>,
}

/// `show_one` prints one wave's promotion outcome and gives its exit code.
pub(super) fn show(
    ctx: &Ctx<'_>,
    out: WavesOutcome,
    show_one: &dyn Fn(Outcome) -> anyhow::Result<Exit>,
) -> anyhow::Result<Exit> {
    let shell = ctx.shell;
    let mut docs = Vec::new();
    for (i, (env, step)) in out.steps.iter().enumerate() {
        let mut doc = match step {
            Step::Promoted(o) => o
                .document("PromotionResult")
                .map(|d| serde_json::to_value(&d))
                .transpose()?
                .unwrap_or(serde_json::Value::Null),
            Step::Rechecked { sync, followed } => serde_json::json!({
                "result": "rechecked",
                "sync": sync,
                "verification": followed.verification,
                "autoRollback": followed.auto_rollback,
            }),
            Step::Failed(e) => serde_json::json!({"result": "error", "error": e.to_string()}),
        };
        if let serde_json::Value::Object(m) = &mut doc {
            m.insert("wave".into(), (i + 1).into());
            m.insert("environment".into(), env.clone().into());
        }
        docs.push(doc);
    }
    shell.document(
        "WavesResult",
        &WavesResult {
            name: &out.name,
            environments: &out.environments,
            result: if out.stopped.is_some() {
                "stopped"
            } else {
                "completed"
            },
            stopped: out.stopped.as_ref(),
            waves: docs,
        },
    )?;
    let of = out.environments.len();
    let mut exit = Exit::Ok;
    for (i, (env, step)) in out.steps.into_iter().enumerate() {
        if shell.is_text() {
            shell.out(format!("{BOLD}wave {}/{of}: {env}{BOLD:#}", i + 1))?;
        }
        let e = match step {
            Step::Promoted(o) => show_one(*o)?,
            Step::Rechecked { followed, sync } => {
                let waited = sync.as_ref().and_then(|s| s.wait.as_ref());
                if followed.failed(waited) {
                    Exit::Unhealthy
                } else {
                    Exit::Ok
                }
            }
            Step::Failed(e) => return Err(e.into()),
        };
        if exit == Exit::Ok {
            exit = e;
        }
    }
    match &out.stopped {
        Some(s) => {
            let untouched = if s.untouched.is_empty() {
                String::new()
            } else {
                format!("; untouched: {}", s.untouched.join(", "))
            };
            shell.err_text(&format!(
                "{RED}stopped{RED:#} at wave {}/{of} ({}): {}{untouched}\n",
                s.index, s.environment, s.reason
            ));
            if exit == Exit::Ok {
                exit = Exit::Error;
            }
        }
        None if shell.is_text() => {
            shell.out(format!(
                "{GREEN}all {of} waves done{GREEN:#}: {}",
                out.environments.join(" → ")
            ))?;
        }
        None => {}
    }
    Ok(exit)
}
