//! `kubectl promote diff ENV VERSION | ENV --from UPSTREAM | ENV --between REV1 REV2`: the
//! rendered diff alone, of a promotion's plan (a dry run: nothing is written) or of two
//! revisions of ENV; text or a `RenderDiff` document.

use std::collections::BTreeMap;

use serde::Serialize;

use promote::diff::{Between, between};
use promote::plan::RenderDiff;
use promote::promotion::{self, Outcome, PromoteRequest};

use super::render_diff::{print, print_objects};
use super::wait::short;
use super::{Ctx, check_env, usage};
use crate::Exit;
use crate::cli::{DiffArgs, DiffLevel};

/// The document of a promotion's diff.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanDiff<'a> {
    environment: &'a str,
    /// The base tip the change is compared with; null when ENV already runs the version.
    base: Option<&'a str>,
    version: Option<&'a str>,
    render_diff: Option<&'a RenderDiff>,
}

pub fn diff(ctx: &Ctx<'_>, args: &DiffArgs) -> anyhow::Result<Exit> {
    check_env("ENV", &args.env)?;
    let ports = ctx.ports()?;
    if let Some(revs) = &args.between {
        let req = Between {
            env: args.env.clone(),
            from: revs[0].clone(),
            to: revs[1].clone(),
        };
        let report = between(&ports, &req, ctx)?;
        if ctx.shell.is_text() {
            let heading = format!(
                "rendered diff of {} ({}) from {} ({}) to {} ({})",
                report.environment,
                report.overlay,
                req.from,
                short(&report.from.commit),
                req.to,
                short(&report.to.commit)
            );
            print_objects(ctx.shell, &heading, &report.render_diff, args.diff)?;
        }
        ctx.shell.document("RenderDiff", &report)?;
        return Ok(Exit::Ok);
    }
    let target = super::promote::target_spec(args.version.as_deref(), args.from.as_deref())
        .ok_or_else(|| usage("give VERSION, --from UPSTREAM or --between REV1 REV2"))??;
    let req = promotion::Request {
        change: PromoteRequest {
            env: args.env.clone(),
            target,
            only: args.only.clone(),
            digests: BTreeMap::new(),
            drop_digests: false,
            mode: None,
            message: None,
            author: None,
        },
        images: ctx.image_mode(args.skip_image_check, false),
        dry_run: true,
        yes: true,
        wait: None,
        resume: false,
        override_reason: None,
        after: Default::default(),
        wave: None,
        apps: None,
    };
    let outcome = promotion::run(&ports, req, ctx)?;
    let plan = match &outcome {
        Outcome::DryRun(p) | Outcome::Denied(p) | Outcome::AwaitingApproval(p) => Some(p),
        Outcome::AlreadyAt(_) => None,
        Outcome::NotConfirmed(_) | Outcome::Landed(_) => {
            unreachable!("a dry run neither asks nor lands")
        }
    };
    if ctx.shell.is_text() {
        match plan {
            Some(p) => print(
                ctx.shell,
                &format!(
                    "rendered diff of {} to {} against {}",
                    p.environment,
                    p.version.as_deref().unwrap_or("mixed"),
                    short(&p.base)
                ),
                &p.render_diff,
                if args.diff == DiffLevel::None {
                    DiffLevel::Summary
                } else {
                    args.diff
                },
            )?,
            None => ctx.shell.out(format!(
                "{} already runs what was asked: no change to diff",
                args.env
            ))?,
        }
    }
    ctx.shell.document(
        "RenderDiff",
        &PlanDiff {
            environment: &args.env,
            base: plan.map(|p| p.base.as_str()),
            version: plan.and_then(|p| p.version.as_deref()),
            render_diff: plan.map(|p| &p.render_diff),
        },
    )?;
    Ok(Exit::Ok)
}
