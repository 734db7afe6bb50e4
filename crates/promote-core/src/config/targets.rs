//! `environments[].targets`: where an environment pins its images, when that is not (only) a
//! Kustomize overlay's `images:` — Helm values files, a field of any YAML file, an Argo CD
//! Application's Helm parameters. Each becomes field paths ([`crate::fields`]) checked here, so a
//! typo in a path is a config error naming the key, not a failed promotion.

use super::ConfigError;
use super::common::{problem, repo_path};
use super::raw::{RawArgocdHelm, RawHelmValues, RawTarget, RawYamlTarget};
use crate::fields::{FieldImage, FieldPath, ImageRepo};

/// Where an environment's image pins live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pins {
    /// The `images:` of the kustomization in `overlay`.
    Kustomize,
    /// Image fields of the YAML file `overlay` names.
    Fields(FieldTarget),
}

/// Image fields of one YAML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTarget {
    pub kind: FieldKind,
    /// `helmValues.chart`: the chart directory `helm template` renders with the file.
    pub chart: Option<String>,
    pub images: Vec<FieldImage>,
}

/// Which kind of target the fields came from (for messages and the render check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    HelmValues,
    Yaml,
    ArgocdHelm,
}

impl FieldKind {
    pub fn key(self) -> &'static str {
        match self {
            FieldKind::HelmValues => "helmValues",
            FieldKind::Yaml => "yaml",
            FieldKind::ArgocdHelm => "argocdHelm",
        }
    }
}

/// `overlay:` or `targets:` of `environments[i]`, checked: the path shown as the environment's
/// location (the overlay directory, or the file the fields live in) and how to read it.
pub(super) fn pins(
    file: &str,
    key: &dyn Fn(&str) -> String,
    overlay: Option<String>,
    targets: Option<Vec<RawTarget>>,
) -> Result<(String, Pins), ConfigError> {
    let example = "`overlay: kustomize/prod`, or `targets: [{helmValues: {file: charts/shop/values-prod.yaml, images: {cart: {repository: cart.image.repository, tag: cart.image.tag}}}}]`";
    let mut targets = match (overlay, targets) {
        (Some(dir), None) => {
            let dir = repo_path(
                file,
                &key("overlay"),
                dir.trim_end_matches('/'),
                "give the overlay directory relative to the repo root, e.g. `kustomize/prod`",
            )?;
            return Ok((dir, Pins::Kustomize));
        }
        (None, Some(t)) => t,
        (Some(_), Some(_)) => {
            return Err(problem(
                file,
                key("targets"),
                "both `overlay` and `targets` are set",
                "keep one: `overlay: DIR` is short for `targets: [{kustomize: {dir: DIR}}]`",
            ));
        }
        (None, None) => {
            return Err(problem(
                file,
                key("overlay"),
                "the environment says nowhere where its images are pinned",
                format!("add {example}"),
            ));
        }
    };
    if targets.len() != 1 {
        return Err(problem(
            file,
            key("targets"),
            format!(
                "{} targets; an environment edits exactly one file today",
                targets.len()
            ),
            "list one target per environment (split the others into environments of their own)",
        ));
    }
    let t = targets.remove(0);
    let key = |k: &str| key(&format!("targets[0].{k}"));
    let kinds = [
        t.kustomize.is_some(),
        t.helm_values.is_some(),
        t.yaml.is_some(),
        t.argocd_helm.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(problem(
            file,
            key("").trim_end_matches('.').to_owned(),
            "a target needs exactly one kind",
            "write one of `kustomize: {dir}`, `helmValues: {file, images}`, `yaml: {file, field, image}`, `argocdHelm: {application, parameter, image}`",
        ));
    }
    if let Some(k) = t.kustomize {
        let dir = repo_path(
            file,
            &key("kustomize.dir"),
            k.dir.trim_end_matches('/'),
            "give the overlay directory relative to the repo root, e.g. `kustomize/prod`",
        )?;
        return Ok((dir, Pins::Kustomize));
    }
    if let Some(h) = t.helm_values {
        return helm_values(file, &key, h);
    }
    if let Some(y) = t.yaml {
        return yaml_field(file, &key, y);
    }
    match t.argocd_helm {
        Some(a) => argocd_helm(file, &key, a),
        None => unreachable!("exactly one kind was checked above"),
    }
}

fn field(file: &str, key: &str, text: &str) -> Result<FieldPath, ConfigError> {
    FieldPath::parse(text).map_err(|why| {
        problem(file, key, why, "write a dotted path to the field, e.g. `image.tag`, `spec.values.image.tag` or `parameters[name=image.tag].value`")
    })
}

fn yaml_file(file: &str, key: &str, path: &str) -> Result<String, ConfigError> {
    let path = repo_path(
        file,
        key,
        path,
        "give the file's path relative to the repo root, e.g. `charts/shop/values-prod.yaml`",
    )?;
    if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
        return Err(problem(
            file,
            key,
            format!("`{path}` is not a YAML file (.yaml or .yml)"),
            "point at the YAML file that holds the image fields",
        ));
    }
    Ok(path)
}

fn helm_values(
    file: &str,
    key: &dyn Fn(&str) -> String,
    h: RawHelmValues,
) -> Result<(String, Pins), ConfigError> {
    let path = yaml_file(file, &key("helmValues.file"), &h.file)?;
    let chart = match h.chart {
        Some(c) => Some(repo_path(
            file,
            &key("helmValues.chart"),
            c.trim_end_matches('/'),
            "give the chart directory relative to the repo root, e.g. `charts/shop`",
        )?),
        None => None,
    };
    if h.images.is_empty() {
        return Err(problem(
            file,
            key("helmValues.images"),
            "no images",
            "map each image to its fields: `images: {cart: {repository: cart.image.repository, tag: cart.image.tag}}`",
        ));
    }
    let mut images = Vec::new();
    for (name, f) in h.images {
        let k = |f: &str| key(&format!("helmValues.images.{name}.{f}"));
        let repository = match (f.repository, f.image) {
            (Some(r), None) => ImageRepo::Field(field(file, &k("repository"), &r)?),
            (None, Some(i)) => ImageRepo::Fixed(i),
            _ => {
                return Err(problem(
                    file,
                    k("repository"),
                    "give exactly one of `repository` (the field that holds the image's repository) and `image` (the repository itself, when the file holds only the tag)",
                    "e.g. `repository: cart.image.repository` or `image: ghcr.io/acme/cart`",
                ));
            }
        };
        images.push(FieldImage {
            tag: field(file, &k("tag"), &f.tag)?,
            digest: f
                .digest
                .map(|d| field(file, &k("digest"), &d))
                .transpose()?,
            repository,
            name,
        });
    }
    Ok((
        path,
        Pins::Fields(FieldTarget {
            kind: FieldKind::HelmValues,
            chart,
            images,
        }),
    ))
}

fn yaml_field(
    file: &str,
    key: &dyn Fn(&str) -> String,
    y: RawYamlTarget,
) -> Result<(String, Pins), ConfigError> {
    let path = yaml_file(file, &key("yaml.file"), &y.file)?;
    let image = FieldImage {
        name: y.name.unwrap_or_else(|| y.image.clone()),
        tag: field(file, &key("yaml.field"), &y.field)?,
        digest: y
            .digest
            .map(|d| field(file, &key("yaml.digest"), &d))
            .transpose()?,
        repository: ImageRepo::Fixed(y.image),
    };
    Ok((
        path,
        Pins::Fields(FieldTarget {
            kind: FieldKind::Yaml,
            chart: None,
            images: vec![image],
        }),
    ))
}

fn argocd_helm(
    file: &str,
    key: &dyn Fn(&str) -> String,
    a: RawArgocdHelm,
) -> Result<(String, Pins), ConfigError> {
    let path = yaml_file(file, &key("argocdHelm.application"), &a.application)?;
    let param = |k: &str, p: &str| {
        if p.contains(']') {
            return Err(problem(
                file,
                key(k),
                format!("`{p}` cannot name a Helm parameter"),
                "give the parameter's name as the Application lists it, e.g. `image.tag`",
            ));
        }
        field(
            file,
            &key(k),
            &format!("spec.source.helm.parameters[name={p}].value"),
        )
    };
    let image = FieldImage {
        name: a.name.unwrap_or_else(|| a.image.clone()),
        tag: param("argocdHelm.parameter", &a.parameter)?,
        digest: a
            .digest_parameter
            .map(|d| param("argocdHelm.digestParameter", &d))
            .transpose()?,
        repository: ImageRepo::Fixed(a.image),
    };
    Ok((
        path,
        Pins::Fields(FieldTarget {
            kind: FieldKind::ArgocdHelm,
            chart: None,
            images: vec![image],
        }),
    ))
}
