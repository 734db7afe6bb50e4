//! `kubectl promote init`.

use serde::Serialize;

use super::Ctx;
use crate::Exit;
use crate::cli::InitArgs;

pub fn init(ctx: &Ctx<'_>, args: &InitArgs) -> anyhow::Result<Exit> {
    let cwd = std::env::current_dir()?;
    let path = match &ctx.global.repo {
        Some(p) => cwd.join(p),
        None => cwd,
    };
    let repo = promote_git::Repo::discover(&path)?;
    let res = promote::init::init(&repo, args.force)?;
    let shell = ctx.shell;
    if shell.is_text() {
        shell.out(format!(
            "wrote {} with {} environments:",
            res.path.display(),
            res.environments.len()
        ))?;
        for e in &res.environments {
            let argo = e
                .argocd
                .as_ref()
                .map(|(a, ns)| format!(", Argo CD app {ns}/{a}"))
                .unwrap_or_default();
            let from = e
                .from
                .as_deref()
                .map(|f| format!(", from {f}"))
                .unwrap_or_default();
            shell.out(format!("  {} ({}{from}{argo})", e.name, e.overlay))?;
        }
        shell.out("review it, then commit and push it to the base branch: kubectl promote reads it from there")?;
    }
    #[derive(Serialize)]
    struct InitDoc {
        path: String,
        content: String,
    }
    shell.document(
        "InitResult",
        &InitDoc {
            path: res.path.display().to_string(),
            content: res.text,
        },
    )?;
    Ok(Exit::Ok)
}
