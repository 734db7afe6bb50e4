//! `kubectl promote init [--force]`: the use case, and the file it wrote as text or an
//! `InitResult` document.

use promote::init;

use super::Ctx;
use crate::Exit;
use crate::cli::InitArgs;

pub fn init(ctx: &Ctx<'_>, args: &InitArgs) -> anyhow::Result<Exit> {
    let ports = ctx.ports()?;
    let req = init::Request { force: args.force };
    let res = init::run(&ports, req, ctx)?;
    let shell = ctx.shell;
    if shell.is_text() {
        shell.out(format!(
            "wrote {} with {} environments:",
            res.path,
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
    shell.document("InitResult", &res)?;
    Ok(Exit::Ok)
}
