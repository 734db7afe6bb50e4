//! `kubectl promote approve | reject | approve --revoke`: flags to a record request, the use
//! case, and the record as text or an `ApprovalRecord` document.

use promote::approval::{self, RecordRequest, Recorded, Verdict};

use super::Ctx;
use crate::Exit;
use crate::cli::{ApproveArgs, RecordArgs, RejectArgs};
use crate::output::{BOLD, DIM, GREEN, RED};

pub fn approve(ctx: &Ctx<'_>, args: &ApproveArgs) -> anyhow::Result<Exit> {
    let verdict = if args.revoke {
        Verdict::Revoked
    } else {
        Verdict::Approved
    };
    let req = request(&args.record, &args.version, verdict, args.message.clone());
    run(ctx, req)
}

pub fn reject(ctx: &Ctx<'_>, args: &RejectArgs) -> anyhow::Result<Exit> {
    let note = Some(args.message.clone());
    run(
        ctx,
        request(&args.record, &args.version, Verdict::Rejected, note),
    )
}

fn request(
    at: &RecordArgs,
    version: &str,
    verdict: Verdict,
    note: Option<String>,
) -> RecordRequest {
    RecordRequest {
        env: at.env.clone(),
        version: version.to_owned(),
        role: at.role.clone(),
        verdict,
        note,
    }
}

fn run(ctx: &Ctx<'_>, req: RecordRequest) -> anyhow::Result<Exit> {
    super::check_env("ENV", &req.env)?;
    super::check_version("VERSION", &req.version)?;
    let ports = ctx.ports()?;
    let recorded = approval::run(&ports, &req, ctx)?;
    let shell = ctx.shell;
    if shell.is_text() {
        print(ctx, &recorded)?;
    }
    shell.document("ApprovalRecord", &recorded)?;
    Ok(Exit::Ok)
}

fn print(ctx: &Ctx<'_>, rec: &Recorded) -> anyhow::Result<()> {
    let shell = ctx.shell;
    let r = &rec.record;
    let (style, verb) = match r.verdict {
        Verdict::Approved => (GREEN, "approved"),
        Verdict::Rejected => (RED, "rejected"),
        Verdict::Revoked => (RED, "revoked the approval of"),
    };
    shell.out(format!(
        "{style}{verb}{style:#} {BOLD}{} {}{BOLD:#} as {}: recorded {} on {}",
        r.environment,
        r.version,
        r.role,
        &rec.commit[..7],
        rec.branch
    ))?;
    shell.out(format!("  by {}", r.by))?;
    let width = r.images.keys().map(String::len).max().unwrap_or(0);
    for (name, image) in &r.images {
        shell.out(format!(
            "  {DIM}{name:width$}{DIM:#}  {}",
            image_text(image)
        ))?;
    }
    if let Some(note) = &r.note {
        shell.out(format!(
            "  note: {}",
            note.lines().collect::<Vec<_>>().join(" / ")
        ))?;
    }
    Ok(())
}

fn image_text(image: &promote_core::image::ImageRef) -> String {
    match (&image.tag, &image.digest) {
        (Some(t), Some(d)) => format!("{t}@{d}"),
        (Some(t), None) => t.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) => "(unset)".into(),
    }
}
