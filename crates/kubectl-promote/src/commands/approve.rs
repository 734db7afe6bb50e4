//! `kubectl promote approve | reject | approve --revoke`, and the forge connection that PR mode
//! shares: the token is read here (through [`crate::env::Env`]) from the variable the resolved
//! forge names, and handed to the adapter; it is never printed, logged or passed to the use cases
//! as text.

use promote::Session;
use promote::approvals::{self, Identity, RecordRequest, Recorded, Verdict};
use promote_core::forge::{Forge, ForgeError, ForgeTarget, Token};
use promote_http::HttpForge;

use super::Ctx;
use crate::Exit;
use crate::cli::{ApproveArgs, RejectArgs};
use crate::output::{BOLD, DIM, GREEN, RED};

/// The forge of a session, as far as it can be reached.
pub(crate) enum Connection {
    /// A forge and a token for it.
    Forge(HttpForge),
    /// The forge is known, but its token variable is unset or empty.
    NoToken(ForgeTarget),
    /// No forge could be resolved from the remote and the `forge:` settings.
    NoForge(ForgeError),
}

impl Connection {
    pub(crate) fn forge(&self) -> Option<&dyn Forge> {
        match self {
            Connection::Forge(f) => Some(f),
            Connection::NoToken(_) | Connection::NoForge(_) => None,
        }
    }

    /// Why there is no forge, for messages (names the variable, never a value).
    pub(crate) fn why_not(&self) -> Option<String> {
        match self {
            Connection::Forge(_) => None,
            Connection::NoToken(t) => Some(format!(
                "no token in ${} for {} {}",
                t.token_env, t.kind, t.repo
            )),
            Connection::NoForge(e) => Some(e.to_string()),
        }
    }
}

/// Resolves the forge (remote URL, `forge:` settings) and reads its token from the variable
/// `forge.tokenEnv` names (default `GITHUB_TOKEN`, `GITLAB_TOKEN`, `GITEA_TOKEN`).
pub(crate) fn connect(ctx: &Ctx<'_>, session: &Session) -> anyhow::Result<Connection> {
    let target = match promote::pr::forge_target(session) {
        Ok(t) => t,
        Err(e) => return Ok(Connection::NoForge(e)),
    };
    match ctx.env.var(&target.token_env).and_then(Token::new) {
        Some(token) => {
            if ctx.shell.verbose > 0 {
                ctx.shell.status(&format!(
                    "{} {} at {} (token from ${})",
                    target.kind, target.repo, target.api_url, target.token_env
                ));
            }
            Ok(Connection::Forge(HttpForge::new(target, token)?))
        }
        None => Ok(Connection::NoToken(target)),
    }
}

pub fn approve(ctx: &Ctx<'_>, args: &ApproveArgs) -> anyhow::Result<Exit> {
    let verdict = if args.revoke {
        Verdict::Revoked
    } else {
        Verdict::Approved
    };
    run(
        ctx,
        RecordRequest {
            env: args.env.clone(),
            version: args.version.clone(),
            role: args.role.clone(),
            verdict,
            note: args.message.clone(),
        },
    )
}

pub fn reject(ctx: &Ctx<'_>, args: &RejectArgs) -> anyhow::Result<Exit> {
    run(
        ctx,
        RecordRequest {
            env: args.env.clone(),
            version: args.version.clone(),
            role: args.role.clone(),
            verdict: Verdict::Rejected,
            note: Some(args.message.clone()),
        },
    )
}

fn run(ctx: &Ctx<'_>, req: RecordRequest) -> anyhow::Result<Exit> {
    super::check_env("ENV", &req.env)?;
    super::check_version("VERSION", &req.version)?;
    let session = ctx.open()?;
    let connection = connect(ctx, &session)?;
    if let Some(why) = connection.why_not() {
        ctx.shell
            .status(&format!("identity from git config: {why}"));
    }
    let identity = Identity::of(&session, connection.forge())?;
    let recorded = approvals::record(&session, &req, &identity, ctx)?;
    let shell = ctx.shell;
    if !recorded.record.by.verified() {
        // Say it now, not when a protected promotion waits for an approval that never counts.
        shell.warn(&format!(
            "this record is {}; where verified approvals are required (protected environments, by default) it does not count. {SIGNING}",
            recorded.record.by.verification
        ));
    }
    if shell.is_text() {
        print(ctx, &recorded)?;
    }
    shell.document("ApprovalRecord", &recorded)?;
    Ok(Exit::Ok)
}

/// How to make records verified, for the warning above.
const SIGNING: &str = "To sign approvals: `git config gpg.format ssh`, `git config user.signingkey ~/.ssh/id_ed25519`, `git config commit.gpgsign true`, and add `YOUR-EMAIL ssh-ed25519 AAAA…` (your public key) to the file promote.yaml's approverKeys.ssh names, on the base branch (README: \"Signed approvals\")";

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
