//! The first `promote.yaml` that `kubectl promote init` writes.

use super::{API_VERSION, KIND};

/// What `kubectl promote init` found, to write a first `promote.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitEnv {
    pub name: String,
    pub overlay: String,
    pub from: Option<String>,
    pub argocd: Option<(String, String)>,
}

/// The text of a first `promote.yaml` (commented, so that it reads as documentation).
pub fn render_init(envs: &[InitEnv], base_branch: &str) -> String {
    let mut out = String::new();
    out.push_str("# kubectl promote configuration (written by `kubectl promote init`).\n");
    out.push_str("# Read from the tip of the base branch on the remote; commit it there.\n");
    out.push_str(&format!("apiVersion: {API_VERSION}\nkind: {KIND}\n"));
    out.push_str(&format!(
        "git: {{remote: origin, baseBranch: {base_branch}, mode: pr}}\n"
    ));
    out.push_str("environments:\n");
    for e in envs {
        out.push_str(&format!(
            "  - name: {}\n    overlay: {}\n",
            e.name, e.overlay
        ));
        match &e.from {
            Some(from) => out.push_str(&format!("    from: {from}\n    protected: true\n")),
            None => out.push_str("    mode: direct\n"),
        }
        if let Some((app, ns)) = &e.argocd {
            out.push_str(&format!("    argocd: {{app: {app}, namespace: {ns}}}\n"));
        }
    }
    out
}
