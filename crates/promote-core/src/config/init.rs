//! The first `promote.yaml` that `kubectl promote init` writes.

use super::{API_VERSION, KIND};

/// What `kubectl promote init` found, to write a first `promote.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitEnv {
    pub name: String,
    /// Where the pins are: the overlay directory, or the file of a [`InitTarget`] that is not
    /// Kustomize.
    pub overlay: String,
    pub target: InitTarget,
    pub from: Option<String>,
    pub argocd: Option<(String, String)>,
}

/// The kind of target `init` proposes for an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitTarget {
    /// `overlay: DIR`.
    Kustomize,
    /// `helmValues: {file, chart, images}`: each image's name and its repository and tag paths.
    HelmValues {
        chart: Option<String>,
        images: Vec<InitImage>,
    },
    /// `argocdHelm: {application, parameter, image}`.
    ArgocdHelm { parameter: String, image: String },
}

/// An image found in a values file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitImage {
    pub name: String,
    pub repository: String,
    pub tag: String,
}

/// `s` as a YAML flow scalar: plain when it reads back as the same string, else double-quoted.
fn flow_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c))
        && !s.starts_with(['-', ':', '@'])
        && s.parse::<f64>().is_err()
        && !matches!(
            s,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "~"
        );
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// The `overlay:` or `targets:` lines of an environment.
fn pins_lines(e: &InitEnv) -> String {
    let q = flow_scalar;
    match &e.target {
        InitTarget::Kustomize => format!("    overlay: {}\n", q(&e.overlay)),
        InitTarget::HelmValues { chart, images } => {
            let mut out = format!(
                "    targets:\n      - helmValues:\n          file: {}\n",
                q(&e.overlay)
            );
            if let Some(c) = chart {
                out.push_str(&format!("          chart: {}\n", q(c)));
            }
            out.push_str("          images:\n");
            for i in images {
                out.push_str(&format!(
                    "            {}: {{repository: {}, tag: {}}}\n",
                    q(&i.name),
                    q(&i.repository),
                    q(&i.tag)
                ));
            }
            out
        }
        InitTarget::ArgocdHelm { parameter, image } => format!(
            "    targets: [{{argocdHelm: {{application: {}, parameter: {}, image: {}}}}}]\n",
            q(&e.overlay),
            q(parameter),
            q(image)
        ),
    }
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
        out.push_str(&format!("  - name: {}\n", flow_scalar(&e.name)));
        out.push_str(&pins_lines(e));
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
