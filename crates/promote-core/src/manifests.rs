//! Rendered manifests as `kubectl promote` compares them: the objects a render prints, by
//! identity, and the image of every container of every pod template in them. `verify` and a
//! promotion's plan compare two renders with these, so an image change shows whatever edit made
//! it: an `images:` entry, a strategic-merge or JSON 6902 patch, a `replacements` entry, a
//! component, or an edit of a base.
//!
//! Containers are found by shape, not by kind: any mapping holding a `containers`,
//! `initContainers` or `ephemeralContainers` list of mappings with a string `image` is a pod
//! spec. That covers Pods and the pod templates of Deployments, StatefulSets, DaemonSets,
//! ReplicaSets, Jobs, CronJobs (`spec.jobTemplate.spec.template.spec`) and PodTemplates, and
//! custom resources that embed a pod template (Argo Rollouts, Knative, …) without a list to keep
//! up to date. A mapping whose `containers` is not such a list (an OpenAPI schema in a CRD, say)
//! is not one.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::image::{ImageChange, ImageRef};
use crate::yaml::{self, YamlError};

/// The keys of a pod spec that hold containers.
const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// The identity of a rendered object: API group, kind, namespace and name (what makes two
/// objects the same object to the API server).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectId {
    group: String,
    kind: String,
    namespace: Option<String>,
    name: String,
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

impl ObjectId {
    /// The API group (`apps`; empty for the core group).
    pub fn group(&self) -> &str {
        &self.group
    }
    pub fn kind(&self) -> &str {
        &self.kind
    }
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The identity on one line, group included: `apps/Deployment shop/cart`,
    /// `ConfigMap shop/settings`, `rbac.authorization.k8s.io/ClusterRole admin`.
    pub fn label(&self) -> String {
        if self.group.is_empty() {
            self.to_string()
        } else {
            format!("{}/{self}", self.group)
        }
    }

    /// The identity of a document; a document without `kind` or `metadata.name` (kustomize
    /// prints none, but the input is not ours) is named by its position.
    fn of(doc: &Value, index: usize) -> ObjectId {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let group = text(doc.get("apiVersion"))
            .and_then(|v| v.rsplit_once('/').map(|(g, _)| g.to_owned()))
            .unwrap_or_default();
        let metadata = doc.get("metadata");
        match (
            text(doc.get("kind")),
            text(metadata.and_then(|m| m.get("name"))),
        ) {
            (Some(kind), Some(name)) => ObjectId {
                group,
                kind,
                namespace: text(metadata.and_then(|m| m.get("namespace"))),
                name,
            },
            _ => ObjectId {
                group,
                kind: "(document".into(),
                namespace: None,
                name: format!("{})", index + 1),
            },
        }
    }
}

/// The objects of one render and their containers' images.
#[derive(Debug, Clone, Default)]
pub struct Manifests {
    objects: BTreeMap<ObjectId, Value>,
    /// (object, path of the container in it, e.g. `spec.template.spec.containers[server]`) →
    /// the image reference as rendered.
    images: BTreeMap<(ObjectId, String), String>,
}

impl Manifests {
    /// Read the output of `kustomize build` (`file` names the render in messages).
    pub fn parse(file: &str, text: &str) -> Result<Manifests, YamlError> {
        let docs: Vec<Value> = yaml::from_documents(file, text)?;
        let mut out = Manifests::default();
        for (i, doc) in docs.into_iter().enumerate() {
            if !doc.is_object() {
                continue;
            }
            let id = ObjectId::of(&doc, i);
            let mut found = Vec::new();
            containers(&doc, &mut Vec::new(), &mut found);
            for (path, image) in found {
                out.images.insert((id.clone(), path), image);
            }
            out.objects.insert(id, doc);
        }
        Ok(out)
    }

    /// How many objects the render holds.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Every object, in identity order.
    pub fn objects(&self) -> impl Iterator<Item = (&ObjectId, &Value)> + '_ {
        self.objects.iter()
    }

    /// Every container image: (object, container path, image reference).
    pub fn images(&self) -> impl Iterator<Item = (String, &str, &str)> + '_ {
        self.images
            .iter()
            .map(|((id, path), image)| (id.to_string(), path.as_str(), image.as_str()))
    }
}

/// Collect `(path, image)` of every container under `v`; `path` is the key path to `v`.
fn containers(v: &Value, path: &mut Vec<String>, found: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                if CONTAINER_LISTS.contains(&key.as_str())
                    && let Some(list) = container_list(value)
                {
                    for (i, (name, image)) in list.into_iter().enumerate() {
                        let item = name.unwrap_or_else(|| i.to_string());
                        let mut p = path.join(".");
                        if !p.is_empty() {
                            p.push('.');
                        }
                        p.push_str(&format!("{key}[{item}]"));
                        found.push((p, image));
                    }
                    continue;
                }
                path.push(key.clone());
                containers(value, path, found);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                containers(item, path, found);
                path.pop();
            }
        }
        _ => {}
    }
}

/// `(name, image)` of each container when `v` is a list of containers (mappings with a string
/// `image`), else `None`.
fn container_list(v: &Value) -> Option<Vec<(Option<String>, String)>> {
    let items = v.as_array()?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let image = item.get("image")?.as_str()?;
        let name = match item.get("name") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        out.push((name, image.to_owned()));
    }
    (!out.is_empty()).then_some(out)
}

/// How one container's image differs between two renders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerChange {
    /// `Deployment microservices-demo-prod/cartservice`.
    pub object: String,
    /// Where the container sits in the object: `spec.template.spec.containers[server]`.
    pub container: String,
    /// The image before; `None`: the container is new (or its object is).
    pub from: Option<String>,
    /// The image after; `None`: the container is gone (or its object is).
    pub to: Option<String>,
}

/// What differs between two renders.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedDiff {
    /// Objects added, removed or changed in any field.
    pub objects_changed: usize,
    /// Containers whose image differs (added and removed containers included).
    pub containers: Vec<ContainerChange>,
}

/// Compare two renders.
pub fn diff(before: &Manifests, after: &Manifests) -> RenderedDiff {
    let mut objects_changed = 0;
    for (id, doc) in &after.objects {
        if before.objects.get(id) != Some(doc) {
            objects_changed += 1;
        }
    }
    objects_changed += before
        .objects
        .keys()
        .filter(|id| !after.objects.contains_key(*id))
        .count();
    let mut containers = Vec::new();
    for (key, image) in &after.images {
        let from = before.images.get(key);
        if from != Some(image) {
            containers.push(ContainerChange {
                object: key.0.to_string(),
                container: key.1.clone(),
                from: from.cloned(),
                to: Some(image.clone()),
            });
        }
    }
    for (key, image) in &before.images {
        if !after.images.contains_key(key) {
            containers.push(ContainerChange {
                object: key.0.to_string(),
                container: key.1.clone(),
                from: Some(image.clone()),
                to: None,
            });
        }
    }
    RenderedDiff {
        objects_changed,
        containers,
    }
}

/// Split an image reference into its repository and the tag and digest it pins:
/// `reg.example.com:5000/shop/cart:v1@sha256:…` → (`reg.example.com:5000/shop/cart`, v1, sha256:…).
/// A `:` before the last `/` belongs to the registry's port, not to a tag.
pub fn split_reference(reference: &str) -> (&str, ImageRef) {
    let (rest, digest) = match reference.split_once('@') {
        Some((r, d)) => (r, Some(d.to_owned())),
        None => (reference, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (
                &rest[..at],
                ImageRef {
                    tag: Some(rest[at + 1..].to_owned()),
                    digest,
                },
            )
        }
        None => (rest, ImageRef { tag: None, digest }),
    }
}

/// Which image name (an `images:` entry's `name`) a rendered repository comes from: the
/// kustomizations' `images:` entries, the overlay's first, then those of what it builds on.
/// Kustomize renders an entry's `newName` (or, without one, its `name`) as the repository, so a
/// rendered repository maps back to the first entry that renders as it; a repository no entry
/// renders (an image a base or a patch sets outright) is its own name. Policies and approvals
/// then see the names the overlays use.
#[derive(Debug, Clone, Default)]
pub struct ImageNames(Vec<(String, Option<String>)>);

impl ImageNames {
    /// From `(name, newName)` pairs, in precedence order.
    pub fn new(entries: impl IntoIterator<Item = (String, Option<String>)>) -> ImageNames {
        ImageNames(entries.into_iter().collect())
    }

    /// `(name, newName)` for a rendered repository.
    pub fn name_of(&self, repository: &str) -> (String, Option<String>) {
        self.0
            .iter()
            .find(|(name, new_name)| new_name.as_deref().unwrap_or(name) == repository)
            .map(|(name, new_name)| (name.clone(), new_name.clone()))
            .unwrap_or_else(|| (repository.to_owned(), None))
    }
}

/// The image change one container change amounts to, named by [`ImageNames`]: `None` for a
/// container that is gone (nothing new runs). A container whose repository changed counts as
/// the new repository added (`from` unset): the old one's tag says nothing about the new one.
pub fn image_change(c: &ContainerChange, names: &ImageNames) -> Option<ImageChange> {
    let to = c.to.as_deref()?;
    let (repository, to_ref) = split_reference(to);
    let from = c
        .from
        .as_deref()
        .map(split_reference)
        .filter(|(r, _)| *r == repository)
        .map(|(_, f)| f)
        .unwrap_or_default();
    let (name, new_name) = names.name_of(repository);
    Some(ImageChange {
        name,
        new_name,
        from,
        to: to_ref,
    })
}

/// The image changes of a rendered diff, one per (name, from, to) in first-seen order, and the
/// references of containers that are gone.
pub fn image_changes(diff: &RenderedDiff, names: &ImageNames) -> (Vec<ImageChange>, Vec<String>) {
    let mut changes: Vec<ImageChange> = Vec::new();
    let mut removed = Vec::new();
    for c in &diff.containers {
        match image_change(c, names) {
            Some(ic) => {
                if !changes.contains(&ic) {
                    changes.push(ic);
                }
            }
            None => {
                if let Some(from) = &c.from
                    && !removed.contains(from)
                {
                    removed.push(from.clone());
                }
            }
        }
    }
    (changes, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: shop, namespace: prod}\nspec:\n  template:\n    spec:\n      initContainers:\n      - {name: migrate, image: reg/shop-migrate:v1}\n      containers:\n      - {name: app, image: reg/shop:v1}\n      - {name: proxy, image: 'reg:5000/proxy@sha256:aa'}\n";
    const CRON: &str = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: report}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - {name: run, image: reg/report:v1}\n";
    const CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: things.example.com}\nspec:\n  versions:\n  - schema:\n      openAPIV3Schema:\n        properties:\n          containers: {type: array, items: {properties: {image: {type: string}}}}\n";
    const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: shop, namespace: prod}\nspec: {ports: [{port: 80}]}\n";

    fn render(docs: &[&str]) -> Manifests {
        Manifests::parse("render", &docs.join("---\n")).unwrap()
    }

    #[test]
    fn finds_every_container_of_every_pod_template() {
        let m = render(&[DEPLOY, CRON, CRD, SERVICE]);
        let images: Vec<(String, &str, &str)> = m.images().collect();
        assert_eq!(
            images,
            [
                (
                    "Deployment prod/shop".to_owned(),
                    "spec.template.spec.containers[app]",
                    "reg/shop:v1"
                ),
                (
                    "Deployment prod/shop".to_owned(),
                    "spec.template.spec.containers[proxy]",
                    "reg:5000/proxy@sha256:aa"
                ),
                (
                    "Deployment prod/shop".to_owned(),
                    "spec.template.spec.initContainers[migrate]",
                    "reg/shop-migrate:v1"
                ),
                (
                    "CronJob report".to_owned(),
                    "spec.jobTemplate.spec.template.spec.containers[run]",
                    "reg/report:v1"
                ),
            ]
        );
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn diff_counts_objects_and_lists_container_changes() {
        let before = render(&[DEPLOY, SERVICE]);
        let after = render(&[
            &DEPLOY
                .replace("reg/shop:v1", "reg/shop:v2")
                .replace("      - {name: migrate, image: reg/shop-migrate:v1}\n", ""),
            &SERVICE.replace("80", "8080"),
            CRON,
        ]);
        let d = diff(&before, &after);
        assert_eq!(d.objects_changed, 3);
        assert_eq!(d.containers.len(), 3, "{d:?}");
        let names = ImageNames::new([("shop".to_owned(), Some("reg/shop".to_owned()))]);
        let (changes, removed) = image_changes(&d, &names);
        assert_eq!(
            changes,
            [
                ImageChange {
                    name: "shop".into(),
                    new_name: Some("reg/shop".into()),
                    from: ImageRef::tag("v1"),
                    to: ImageRef::tag("v2"),
                },
                ImageChange {
                    name: "reg/report".into(),
                    new_name: None,
                    from: ImageRef::default(),
                    to: ImageRef::tag("v1"),
                },
            ]
        );
        assert_eq!(removed, ["reg/shop-migrate:v1"]);
        // The same render twice: nothing differs.
        assert_eq!(diff(&before, &before), RenderedDiff::default());
    }

    #[test]
    fn references_split_at_the_tag_not_the_port() {
        assert_eq!(
            split_reference("reg:5000/a/b:v1@sha256:ff"),
            (
                "reg:5000/a/b",
                ImageRef {
                    tag: Some("v1".into()),
                    digest: Some("sha256:ff".into())
                }
            )
        );
        assert_eq!(
            split_reference("reg:5000/a/b"),
            ("reg:5000/a/b", ImageRef::default())
        );
        assert_eq!(
            split_reference("busybox:1.36"),
            ("busybox", ImageRef::tag("1.36"))
        );
    }

    #[test]
    fn a_new_repository_counts_as_added() {
        let c = ContainerChange {
            object: "Deployment shop".into(),
            container: "spec.template.spec.containers[app]".into(),
            from: Some("reg/shop:v1".into()),
            to: Some("evil/shop:v1".into()),
        };
        let ic = image_change(&c, &ImageNames::default()).unwrap();
        assert_eq!(ic.name, "evil/shop");
        assert_eq!(ic.from, ImageRef::default());
    }
}
