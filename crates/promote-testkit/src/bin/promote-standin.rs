//! `promote-standin`: the Argo CD stand-in (`promote_testkit::argocd`) as a process, for the
//! sandbox (`scripts/sandbox.sh`) and for trying `kubectl promote` by hand. **A test stand-in,
//! not Argo CD.**
//!
//! ```text
//! promote-standin --repo PATH [--app FILE]... [--degraded TAG]... [--out FILE] [--argo-version 3.5|3.0]
//! ```
//!
//! * `--repo PATH`: the GitOps repository (bare or not) every Application deploys from; each
//!   `--app` manifest (YAML or JSON, e.g. `examples/gitops/argocd/*.yaml`) gets its
//!   `spec.source.repoURL` rewritten to this path before it is created.
//! * `--degraded TAG`: apps whose live images carry this tag report `Degraded` (repeatable).
//! * `--out FILE`: where to write the connection, in shell syntax
//!   (`KUBECONFIG=…`, `ARGOCD_SERVER=…`, `ARGOCD_AUTH_TOKEN=…`, `SHOP_URL=…`), so a script can
//!   `source` it; the same lines go to stdout.
//!
//! `SHOP_URL` is the shop stand-in (`promote_testkit::shop`: `/healthz`, Prometheus's
//! `/api/v1/query`) for checks after a deploy: unhealthy while any app runs a `--degraded` tag.
//!
//! It runs until SIGTERM or SIGINT, then stops the server and removes its scratch files.

use std::path::PathBuf;
use std::process::ExitCode;

use promote_testkit::argocd::{ArgoCdStandIn, ArgoVersion, Options};
use serde_json::Value;

struct Args {
    repo: PathBuf,
    apps: Vec<PathBuf>,
    degraded: Vec<String>,
    out: Option<PathBuf>,
    version: ArgoVersion,
}

const USAGE: &str = "usage: promote-standin --repo PATH [--app FILE]... [--degraded TAG]... [--out FILE] [--argo-version 3.5|3.0]";

fn parse() -> Result<Args, String> {
    let mut repo = None;
    let mut apps = Vec::new();
    let mut degraded = Vec::new();
    let mut out = None;
    let mut version = ArgoVersion::V3_5;
    for (flag, value) in promote_testkit::flags::pairs(std::env::args().skip(1), USAGE)? {
        match flag.as_str() {
            "--repo" => repo = Some(PathBuf::from(value)),
            "--app" => apps.push(PathBuf::from(value)),
            "--degraded" => degraded.push(value),
            "--out" => out = Some(PathBuf::from(value)),
            "--argo-version" => {
                version = match value.as_str() {
                    "3.5" => ArgoVersion::V3_5,
                    "3.0" => ArgoVersion::V3_0,
                    other => return Err(format!("--argo-version {other}: use 3.5 or 3.0")),
                }
            }
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    let repo = repo.ok_or_else(|| format!("--repo is required\n{USAGE}"))?;
    let repo = repo
        .canonicalize()
        .map_err(|e| format!("--repo {}: {e}", repo.display()))?;
    Ok(Args {
        repo,
        apps,
        degraded,
        out,
        version,
    })
}

/// The shop stand-in: unhealthy while any of `names` runs a `bad` tag.
fn shop(
    stand_in: &ArgoCdStandIn,
    names: Vec<String>,
    bad: Vec<String>,
) -> promote_testkit::shop::Shop {
    let live = stand_in.live_images_fn();
    promote_testkit::shop::Shop::start(std::sync::Arc::new(move |_| {
        !names.iter().any(|n| {
            live(n)
                .iter()
                .any(|i| bad.iter().any(|t| i.ends_with(&format!(":{t}"))))
        })
    }))
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // Read every manifest before starting anything, so a bad file is a clean error.
    let mut docs = Vec::new();
    for path in &args.apps {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: --app {}: {e}", path.display());
                return ExitCode::from(1);
            }
        };
        let mut doc: Value = match promote_core::yaml::from_str(&path.display().to_string(), &text)
        {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: --app {}: {e}", path.display());
                return ExitCode::from(1);
            }
        };
        if !doc.pointer("/spec/source").is_some_and(Value::is_object) {
            eprintln!(
                "error: --app {}: no spec.source (the stand-in deploys single-source Kustomize and Helm apps)",
                path.display()
            );
            return ExitCode::from(1);
        }
        doc["spec"]["source"]["repoURL"] = Value::from(args.repo.to_string_lossy().into_owned());
        docs.push(doc);
    }
    let stand_in = ArgoCdStandIn::start(Options::new(args.version));
    let names: Vec<String> = docs
        .iter()
        .filter_map(|d| d.pointer("/metadata/name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    for doc in docs {
        stand_in.create_application(doc);
    }
    let shop = shop(&stand_in, names, args.degraded.clone());
    for tag in &args.degraded {
        stand_in.set_health_for_tag(tag, "Degraded");
    }
    let connection = format!(
        "KUBECONFIG={}\nARGOCD_SERVER={}\nARGOCD_AUTH_TOKEN={}\nSHOP_URL={}\n",
        stand_in.kubeconfig_path().display(),
        stand_in.url(),
        stand_in.argocd_token(),
        shop.url
    );
    if let Some(out) = &args.out
        && let Err(e) = std::fs::write(out, &connection)
    {
        eprintln!("error: --out {}: {e}", out.display());
        return ExitCode::from(1);
    }
    print!("{connection}");
    eprintln!(
        "promote-standin: serving {} (Argo CD {:?} stand-in); stop with SIGTERM",
        stand_in.url(),
        args.version
    );
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the signal runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let stopped = runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok::<(), std::io::Error>(())
    });
    if let Err(e) = stopped {
        eprintln!("error: waiting for SIGTERM: {e}");
        return ExitCode::from(1);
    }
    drop(stand_in); // stops the server and the controller, removes the scratch directory
    ExitCode::SUCCESS
}
