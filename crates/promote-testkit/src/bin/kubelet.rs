//! `kubelet`: the Deployment-status stand-in (`promote_testkit::kubelet`) as a process, beside the
//! real kube-apiserver and Argo CD of `scripts/real-cluster.sh`. **A test stand-in, not a
//! kubelet**: it runs no pods, it writes the status a finished rollout would have.
//!
//! ```text
//! kubelet [--env FILE] [--bad-tag TAG]... [--rollout SECONDS] [--namespace NS]
//! ```
//!
//! * `--env FILE`: the env file `scripts/real-cluster.sh start` wrote (default: the variables
//!   `APISERVER`, `APISERVER_TOKEN`, `APISERVER_CA` of the environment, as
//!   `set -a; . <(bash scripts/real-cluster.sh env)` sets them).
//! * `--bad-tag TAG`: Deployments running an image with this tag (or digest) go Degraded
//!   (repeatable). Every other tag goes Healthy.
//! * `--rollout SECONDS`: how long a new generation stays Progressing first (default 0).
//! * `--namespace NS`: only Deployments in NS (default: every namespace). Run one kubelet per
//!   set of Deployments: two would undo each other's verdicts.
//!
//! It runs until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use promote_testkit::kubelet::{ApiServer, Kubelet, KubeletOptions};

const USAGE: &str =
    "usage: kubelet [--env FILE] [--bad-tag TAG]... [--rollout SECONDS] [--namespace NS]";

struct Args {
    env: Option<PathBuf>,
    options: KubeletOptions,
}

fn parse() -> Result<Args, String> {
    let mut env = None;
    let mut options = KubeletOptions {
        log: true,
        ..KubeletOptions::default()
    };
    for (flag, value) in promote_testkit::flags::pairs(std::env::args().skip(1), USAGE)? {
        match flag.as_str() {
            "--env" => env = Some(PathBuf::from(value)),
            "--bad-tag" => options = options.bad_tag(&value),
            "--namespace" => options = options.namespace(&value),
            "--rollout" => {
                let secs: f64 = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("--rollout {value}: give seconds, e.g. 2 or 0.5"))?;
                options = options.rollout(Duration::from_secs_f64(secs));
            }
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    Ok(Args { env, options })
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let api = match &args.env {
        Some(path) => ApiServer::from_env_file(path),
        None => ApiServer::from_env(),
    };
    let started = api.and_then(|api| {
        eprintln!(
            "kubelet stand-in (not a kubelet: it writes Deployment status, runs no pods) on {}; bad tags: {:?}",
            api.url, args.options.bad
        );
        Kubelet::start(api, args.options)
    });
    match started {
        // The watch thread runs until the process is signalled.
        Ok(kubelet) => {
            kubelet.join();
            ExitCode::SUCCESS
        }
        Err(e) => {
            let mut msg = format!("kubelet: error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}
