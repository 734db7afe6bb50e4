//! The rendered diff: what the cluster would run differently, object by object. Two renders of
//! one environment ([`Manifests`]) are compared by identity (group, kind, namespace, name), not
//! by text: an object is added, removed or changed, and a changed one lists the fields that
//! differ and carries a unified diff of its YAML. Reviewers read this instead of a table of
//! tags, and policies get the summary (`promotion.renderDiff`).
//!
//! Secrets never show a value: `data` and `stringData` entries are replaced by a placeholder
//! that says only whether the key is new, gone, changed or the same, before the YAML is
//! written, so neither the patch text nor a field path can carry one.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::manifests::{Manifests, ObjectId};
use crate::yaml;

mod markdown;
pub use markdown::{Markdown, markdown};

/// How an object differs between the two renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    Changed,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        })
    }
}

/// One object that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDiff {
    /// `apps/Deployment shop-prod/cartservice` (group omitted for the core group).
    pub id: String,
    pub group: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub change: Change,
    /// The field paths that differ (`spec.template.spec.containers[server].image`); for an
    /// added or removed object, empty. A Secret's data keys appear, never their values.
    pub fields: Vec<String>,
    /// A unified diff of the object's YAML (`--- a/ID`, `+++ b/ID`).
    pub patch: String,
    /// The object is a Secret: its values were hidden before diffing.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// The per-object summary policies get: no patch text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectSummary<'a> {
    pub id: &'a str,
    pub group: &'a str,
    pub kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub change: Change,
    pub fields: &'a [String],
}

impl ObjectDiff {
    pub fn summary(&self) -> ObjectSummary<'_> {
        ObjectSummary {
            id: &self.id,
            group: &self.group,
            kind: &self.kind,
            namespace: self.namespace.as_deref(),
            name: &self.name,
            change: self.change,
            fields: &self.fields,
        }
    }

    /// One line for a summary: `~ apps/Deployment shop/cart: spec.replicas, …`.
    pub fn line(&self) -> String {
        let mark = match self.change {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Changed => '~',
        };
        if self.fields.is_empty() {
            return format!("{mark} {} ({})", self.id, self.change);
        }
        const SHOWN: usize = 4;
        let mut fields = self
            .fields
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if self.fields.len() > SHOWN {
            fields.push_str(&format!(" and {} more", self.fields.len() - SHOWN));
        }
        format!("{mark} {}: {fields}", self.id)
    }
}

/// Compare two renders, object by object, in identity order (removed and added objects sit
/// where their identity sorts).
pub fn diff_objects(before: &Manifests, after: &Manifests) -> Vec<ObjectDiff> {
    let mut out = Vec::new();
    let mut old = before.objects().peekable();
    let mut new = after.objects().peekable();
    loop {
        let step = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => Step::Removed,
            (None, Some(_)) => Step::Added,
            (Some((a, _)), Some((b, _))) => match a.cmp(b) {
                std::cmp::Ordering::Less => Step::Removed,
                std::cmp::Ordering::Greater => Step::Added,
                std::cmp::Ordering::Equal => Step::Both,
            },
        };
        match step {
            Step::Removed => {
                let (id, doc) = old.next().expect("peeked");
                out.push(object_diff(id, Some(doc), None));
            }
            Step::Added => {
                let (id, doc) = new.next().expect("peeked");
                out.push(object_diff(id, None, Some(doc)));
            }
            Step::Both => {
                let (id, a) = old.next().expect("peeked");
                let (_, b) = new.next().expect("peeked");
                if a != b {
                    out.push(object_diff(id, Some(a), Some(b)));
                }
            }
        }
    }
    out
}

enum Step {
    Removed,
    Added,
    Both,
}

fn object_diff(id: &ObjectId, before: Option<&Value>, after: Option<&Value>) -> ObjectDiff {
    let secret = id.group().is_empty() && id.kind() == "Secret";
    let (before, after) = if secret {
        hide_secret_values(before, after)
    } else {
        (before.cloned(), after.cloned())
    };
    let change = match (&before, &after) {
        (None, Some(_)) => Change::Added,
        (Some(_), None) => Change::Removed,
        _ => Change::Changed,
    };
    let mut fields = Vec::new();
    if let (Some(a), Some(b)) = (&before, &after) {
        changed_fields(a, b, &mut String::new(), &mut fields);
    }
    let text = |v: &Option<Value>| v.as_ref().map(to_yaml).unwrap_or_default();
    let label = id.label();
    let patch = crate::diff::unified(&label, &text(&before), &text(&after));
    ObjectDiff {
        id: label,
        group: id.group().to_owned(),
        kind: id.kind().to_owned(),
        namespace: id.namespace().map(str::to_owned),
        name: id.name().to_owned(),
        change,
        fields,
        patch,
        secret,
    }
}

fn to_yaml(v: &Value) -> String {
    // A JSON value always serializes; an error would be a serializer bug, shown in place.
    yaml::to_string(v).unwrap_or_else(|e| format!("# could not write this object as YAML: {e}\n"))
}

/// The Secret's two sides with every `data`/`stringData` value replaced by what a reviewer may
/// know of it: that it is there, and whether it changed.
fn hide_secret_values(
    before: Option<&Value>,
    after: Option<&Value>,
) -> (Option<Value>, Option<Value>) {
    let mut a = before.cloned();
    let mut b = after.cloned();
    for key in ["data", "stringData"] {
        let old = before.and_then(|v| v.get(key)).and_then(Value::as_object);
        let new = after.and_then(|v| v.get(key)).and_then(Value::as_object);
        // Whether the other side has the object at all: a whole new or gone Secret just hides.
        let (has_old, has_new) = (before.is_some(), after.is_some());
        if let Some(doc) = a.as_mut() {
            hide(doc, key, |k, v| match new.and_then(|n| n.get(k)) {
                _ if !has_new => "(hidden)",
                None => "(hidden, removed)",
                Some(n) if n == v => "(hidden)",
                Some(_) => "(hidden, before the change)",
            });
        }
        if let Some(doc) = b.as_mut() {
            hide(doc, key, |k, v| match old.and_then(|o| o.get(k)) {
                _ if !has_old => "(hidden)",
                None => "(hidden, new)",
                Some(o) if o == v => "(hidden)",
                Some(_) => "(hidden, changed)",
            });
        }
    }
    (a, b)
}

fn hide(doc: &mut Value, key: &str, mark: impl Fn(&str, &Value) -> &'static str) {
    let Some(Value::Object(map)) = doc.get_mut(key) else {
        // A non-mapping `data` is not a valid Secret; hide it whole all the same.
        if let Some(v) = doc.get_mut(key) {
            *v = Value::String("(hidden)".into());
        }
        return;
    };
    let hidden: Map<String, Value> = map
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(mark(k, v).to_owned())))
        .collect();
    *map = hidden;
}

/// Push the paths under `path` where `a` and `b` differ. Lists of mappings that all carry a
/// `name` are matched by name (`containers[server]`), as Kubernetes merges them; other lists
/// by position.
fn changed_fields(a: &Value, b: &Value, path: &mut String, out: &mut Vec<String>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let len = path.len();
                push_key(path, k);
                match y.get(k) {
                    Some(vb) => changed_fields(va, vb, path, out),
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                let len = path.len();
                push_key(path, k);
                out.push(path.clone());
                path.truncate(len);
            }
        }
        (Value::Array(x), Value::Array(y)) => match (named(x), named(y)) {
            (Some(nx), Some(ny)) => {
                for (name, va) in &nx {
                    let len = path.len();
                    path.push_str(&format!("[{name}]"));
                    match ny.iter().find(|(n, _)| n == name) {
                        Some((_, vb)) => changed_fields(va, vb, path, out),
                        None => out.push(path.clone()),
                    }
                    path.truncate(len);
                }
                for (name, _) in ny.iter().filter(|(n, _)| !nx.iter().any(|(m, _)| m == n)) {
                    out.push(format!("{path}[{name}]"));
                }
            }
            _ => {
                for i in 0..x.len().max(y.len()) {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    match (x.get(i), y.get(i)) {
                        (Some(va), Some(vb)) => changed_fields(va, vb, path, out),
                        _ => out.push(path.clone()),
                    }
                    path.truncate(len);
                }
            }
        },
        _ => out.push(if path.is_empty() {
            ".".to_owned()
        } else {
            path.clone()
        }),
    }
}

/// `(name, item)` of every item when each is a mapping with a string `name`, else `None`.
fn named(items: &[Value]) -> Option<Vec<(&str, &Value)>> {
    items
        .iter()
        .map(|i| Some((i.get("name")?.as_str()?, i)))
        .collect()
}

/// `a.b`, or `a["x.y"]` when the key itself holds a dot (annotation keys do).
fn push_key(path: &mut String, key: &str) {
    if key.contains(['.', '[', ']', '"']) || key.is_empty() {
        path.push_str(&format!(
            "[{}]",
            serde_json::to_string(key).unwrap_or_default()
        ));
        return;
    }
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str) -> Manifests {
        Manifests::parse("render", text).unwrap()
    }

    const BEFORE: &str = "\
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
data: {password: cGFzczE=, user: YWRtaW4=}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop, annotations: {example.com/team: a}}
spec:
  replicas: 2
  template:
    spec:
      containers:
        - {name: server, image: 'reg/cart:v1.0.0'}
        - {name: sidecar, image: 'reg/proxy:1'}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: old, namespace: shop}
data: {a: '1'}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec: {group: example.com, versions: [{name: v1, served: true}]}
";

    /// BEFORE with the changes the tests look for: a Secret key changed and one added, an
    /// annotation changed, the containers reordered with a new image, a ConfigMap replaced by
    /// another, a CRD version added.
    fn after() -> String {
        BEFORE
            .replace(
                "data: {password: cGFzczE=, user: YWRtaW4=}",
                "data: {password: cGFzczI=, user: YWRtaW4=, token: dG9r}",
            )
            .replace("example.com/team: a", "example.com/team: b")
            .replace(
                "        - {name: server, image: 'reg/cart:v1.0.0'}\n        - {name: sidecar, image: 'reg/proxy:1'}",
                "        - {name: sidecar, image: 'reg/proxy:1'}\n        - {name: server, image: 'reg/cart:v1.0.1'}",
            )
            .replace("metadata: {name: old, namespace: shop}", "metadata: {name: new, namespace: shop}")
            .replace(
                "versions: [{name: v1, served: true}]",
                "versions: [{name: v1, served: true}, {name: v2, served: true}]",
            )
    }

    fn by_id<'a>(d: &'a [ObjectDiff], id: &str) -> &'a ObjectDiff {
        d.iter()
            .find(|o| o.id == id)
            .unwrap_or_else(|| panic!("{id} in {d:#?}"))
    }

    #[test]
    fn objects_are_compared_by_identity_with_the_fields_that_differ() {
        let d = diff_objects(&render(BEFORE), &render(&after()));
        let ids: Vec<_> = d.iter().map(|o| (o.id.as_str(), o.change)).collect();
        assert_eq!(
            ids,
            [
                ("ConfigMap shop/new", Change::Added),
                ("ConfigMap shop/old", Change::Removed),
                ("Secret shop/db", Change::Changed),
                (
                    "apiextensions.k8s.io/CustomResourceDefinition widgets.example.com",
                    Change::Changed
                ),
                ("apps/Deployment shop/cart", Change::Changed),
            ]
        );
        let cart = by_id(&d, "apps/Deployment shop/cart");
        // Containers are matched by name: the reorder is not a change of the sidecar.
        assert_eq!(
            cart.fields,
            [
                r#"metadata.annotations["example.com/team"]"#,
                "spec.template.spec.containers[server].image"
            ]
        );
        assert!(cart.patch.contains("reg/cart:v1.0.0"), "{}", cart.patch);
        assert!(cart.patch.starts_with("--- a/apps/Deployment shop/cart\n"));
        let crd = by_id(
            &d,
            "apiextensions.k8s.io/CustomResourceDefinition widgets.example.com",
        );
        assert_eq!(crd.fields, ["spec.versions[v2]"]);
        assert!(crd.namespace.is_none());
        let added = by_id(&d, "ConfigMap shop/new");
        assert!(added.fields.is_empty());
        assert!(added.patch.contains("+  name: new"), "{}", added.patch);
    }

    #[test]
    fn a_secret_shows_which_keys_changed_never_a_value() {
        let d = diff_objects(&render(BEFORE), &render(&after()));
        let s = by_id(&d, "Secret shop/db");
        assert!(s.secret);
        assert_eq!(s.fields, ["data.password", "data.token"]);
        for value in ["cGFzczE=", "cGFzczI=", "YWRtaW4=", "dG9r"] {
            assert!(!s.patch.contains(value), "{value} leaked: {}", s.patch);
        }
        assert!(
            s.patch.contains(
                "-  password: (hidden, before the change)\n+  password: (hidden, changed)\n"
            ),
            "{}",
            s.patch
        );
        assert!(s.patch.contains("+  token: (hidden, new)\n"), "{}", s.patch);
        // An unchanged key is not part of the change.
        assert!(!s.fields.iter().any(|f| f == "data.user"));
        // A removed Secret hides its values too.
        let gone = diff_objects(
            &render(BEFORE),
            &render("kind: ConfigMap\nmetadata: {name: x}\n"),
        );
        let s = by_id(&gone, "Secret shop/db");
        assert_eq!(s.change, Change::Removed);
        assert!(!s.patch.contains("cGFzczE="), "{}", s.patch);
    }

    #[test]
    fn identical_renders_have_no_diff_and_lines_summarise() {
        assert!(diff_objects(&render(BEFORE), &render(BEFORE)).is_empty());
        let d = diff_objects(&render(BEFORE), &render(&after()));
        assert_eq!(
            by_id(&d, "ConfigMap shop/old").line(),
            "- ConfigMap shop/old (removed)"
        );
        assert_eq!(
            by_id(&d, "Secret shop/db").line(),
            "~ Secret shop/db: data.password, data.token"
        );
    }
}
