//! One scalar in any YAML file, found by a path and rewritten byte-minimally: where Helm values
//! files, a Flux `HelmRelease` or an Argo CD Application's Helm parameters keep an image's tag.
//!
//! The guarantees are the overlay editor's: only the changed scalar's bytes change (comments, key
//! order, quoting, flow style, indentation and CRLF stay), and a tag YAML would read as a number
//! (`1.10`) is written quoted so it stays a string. Unlike kustomizations, values files do use
//! anchors and aliases, so the tree keeps them; an edit that would have to go *through* one (a
//! path that crosses an alias or a merge key, or a node anchored and aliased elsewhere, whose
//! change would silently change the alias too) is refused naming the lines, never rewritten. The
//! two corruptions reported most against argocd-image-updater (issue 884: other tags blanked;
//! issue 1584: data lost on rewrite) cannot happen: nothing is re-serialized.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use crate::yaml::{self, Anchors, Node, Quote, Scalar, Style, YamlError};

/// A path to a field: `cart.image.tag`, `spec.values.images[0].tag`,
/// `spec.source.helm.parameters[name=image.tag].value`, `"app.kubernetes.io/version"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// A mapping key.
    Key(String),
    /// A list item by position.
    Index(usize),
    /// The one list item whose `key` is `value` (`[name=image.tag]`).
    Select { key: String, value: String },
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FieldPath {
    /// Parse a path; the error says what is wrong with it (the caller names the config key).
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        let mut segments = Vec::new();
        let mut rest = text;
        let mut expect_key = true;
        while !rest.is_empty() {
            if let Some(inner) = rest.strip_prefix('[') {
                let end = inner
                    .find(']')
                    .ok_or_else(|| format!("`{text}`: `[` without its `]`"))?;
                let sel = &inner[..end];
                segments.push(match sel.split_once('=') {
                    Some((k, v)) if !k.is_empty() && !v.is_empty() => Segment::Select {
                        key: k.to_owned(),
                        value: v.to_owned(),
                    },
                    _ => Segment::Index(sel.parse().map_err(|_| {
                        format!("`{text}`: `[{sel}]` must be a list index (`[0]`) or a selector (`[name=image.tag]`)")
                    })?),
                });
                rest = &inner[end + 1..];
                expect_key = false;
                continue;
            }
            if !expect_key {
                rest = rest
                    .strip_prefix('.')
                    .ok_or_else(|| format!("`{text}`: expected `.` or `[` after `]`"))?;
            }
            let (key, after) = if let Some(quoted) = rest.strip_prefix('"') {
                let end = quoted
                    .find('"')
                    .ok_or_else(|| format!("`{text}`: a quoted key without its closing `\"`"))?;
                (&quoted[..end], &quoted[end + 1..])
            } else {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            };
            if key.is_empty() {
                return Err(format!(
                    "`{text}`: an empty key (two dots, or a leading or trailing dot)"
                ));
            }
            segments.push(Segment::Key(key.to_owned()));
            rest = match after.strip_prefix('.') {
                Some("") => return Err(format!("`{text}`: a trailing dot")),
                Some(r) => r,
                None => after,
            };
            expect_key = !rest.starts_with('[');
        }
        if segments.is_empty() {
            return Err("an empty field path".into());
        }
        Ok(FieldPath {
            text: text.to_owned(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Where one image's pins live in a file: its tag field, its repository (a field, or given in
/// promote.yaml when the file only holds the tag) and, optionally, its digest field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldImage {
    /// The name promote.yaml gives it (`cart`): what `--only` and approvals use.
    pub name: String,
    pub repository: ImageRepo,
    pub tag: FieldPath,
    pub digest: Option<FieldPath>,
}

/// Where an image's repository comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRepo {
    Field(FieldPath),
    Fixed(String),
}

/// A field could not be read or edited.
#[derive(Debug, thiserror::Error)]
pub enum FieldError {
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("{file}: {problem}")]
    At { file: String, problem: Box<Problem> },
}

/// What is wrong with a field of one file.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("no `{path}`: {why}")]
    Missing { path: String, why: String },
    #[error(
        "line {line}: `{at}` is an alias (*{name}); changing `{path}` would have to go through it, which would change the anchored value too. Write the value out at line {line}"
    )]
    ThroughAlias {
        path: String,
        at: String,
        name: String,
        line: usize,
    },
    #[error(
        "line {line}: `{at}` is anchored as &{name} and aliased at line {alias_lines}; changing `{path}` would change those too. Write the values out where they differ"
    )]
    Aliased {
        path: String,
        at: String,
        name: String,
        line: usize,
        alias_lines: String,
    },
    #[error(
        "line {line}: `{at}` gets `{key}` only through a merge key (`<<: *…`); changing `{path}` would have to go through the alias. Write `{key}:` out in this mapping"
    )]
    ThroughMerge {
        path: String,
        at: String,
        key: String,
        line: usize,
    },
    #[error("line {line}: `{path}` is {kind}; it must be one scalar (a tag, a digest)")]
    NotScalar {
        path: String,
        line: usize,
        kind: &'static str,
    },
    #[error("line {line}: `{path}` is a block scalar; write it on one line")]
    BlockScalar { path: String, line: usize },
}

/// A YAML file parsed for field edits, keeping its text.
#[derive(Debug, Clone)]
pub struct FieldFile {
    file: String,
    text: String,
    tree: Node,
    /// Anchor name → the lines of its aliases.
    aliases: BTreeMap<String, Vec<usize>>,
}

/// Where a path leads: to a scalar, or to a mapping that lacks the last key.
enum Found<'a> {
    Scalar(&'a Scalar),
    /// The path's last key is absent from this block or flow mapping.
    Absent {
        style: Style,
        entries: &'a [(Scalar, Node)],
        key: String,
    },
}

impl FieldFile {
    /// Parse `text`; `file` is its repo path, used in every message.
    pub fn parse(file: &str, text: &str) -> Result<FieldFile, FieldError> {
        let tree = yaml::parse_tree_with(file, text, Anchors::Keep)?;
        let mut aliases: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        collect_aliases(&tree, &mut aliases);
        Ok(FieldFile {
            file: file.to_owned(),
            text: text.to_owned(),
            tree,
            aliases,
        })
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    fn fail(&self, problem: Problem) -> FieldError {
        FieldError::At {
            file: self.file.clone(),
            problem: Box::new(problem),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The field's value (`None` when its last key is absent). An empty or null value reads as
    /// `Some("")` / `Some("null")`: callers decide what an unset tag means.
    pub fn get(&self, path: &FieldPath) -> Result<Option<&Scalar>, FieldError> {
        match self.find(path)? {
            Found::Scalar(s) => Ok(Some(s)),
            Found::Absent { .. } => Ok(None),
        }
    }

    /// Write each `(path, value)` and return the new text; only those scalars' bytes change. A
    /// path whose last key is absent gets the key added to its mapping in the mapping's own style.
    pub fn set(&self, edits: &[(&FieldPath, &str)]) -> Result<String, FieldError> {
        let eol = if self.text.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        let fallback = yaml::preferred_quote(&self.tree);
        let mut patches: Vec<(Range<usize>, String)> = Vec::new();
        for (path, value) in edits {
            match self.find(path)? {
                Found::Scalar(s) => {
                    let rendered = yaml::render_scalar(value, s.quote, fallback);
                    patches.push(self.replacement(s, rendered));
                }
                Found::Absent {
                    style,
                    entries,
                    key,
                } => {
                    let rendered = yaml::render_scalar(value, Quote::Plain, fallback);
                    let key = yaml::render_scalar(&key, Quote::Plain, fallback);
                    patches.push(self.insertion(style, entries, &key, &rendered, eol, path)?);
                }
            }
        }
        patches.sort_by_key(|(r, _)| std::cmp::Reverse((r.start, r.end)));
        let mut out = self.text.clone();
        for (range, text) in patches {
            out.replace_range(range, &text);
        }
        Ok(out)
    }

    /// Walk `path`, refusing to cross an alias, a merge key or an anchor that is aliased.
    fn find(&self, path: &FieldPath) -> Result<Found<'_>, FieldError> {
        let mut node = &self.tree;
        // The line of the key (or list item) that led to `node`: where a reader looks.
        let mut via = node.line();
        let last = path.segments.len() - 1;
        for (i, seg) in path.segments.iter().enumerate() {
            let at = prefix(path, i);
            self.refuse_shared(node, via, path, &at)?;
            let next = match (seg, node) {
                (Segment::Key(k), Node::Mapping { entries, style, .. }) => {
                    match entries.iter().find(|(key, _)| &key.value == k) {
                        Some((key, v)) => {
                            via = key.line;
                            v
                        }
                        None if entries.iter().any(|(key, _)| key.value == "<<") => {
                            return Err(self.fail(Problem::ThroughMerge {
                                path: path.to_string(),
                                at: display_at(&at),
                                key: k.clone(),
                                line: via,
                            }));
                        }
                        None if i == last => {
                            return Ok(Found::Absent {
                                style: *style,
                                entries,
                                key: k.clone(),
                            });
                        }
                        None => return Err(self.missing(path, &at, via, k)),
                    }
                }
                (Segment::Index(n), Node::Sequence { items, .. }) => {
                    let item = items.get(*n).ok_or_else(|| {
                        self.fail(Problem::Missing {
                            path: path.to_string(),
                            why: format!(
                                "`{}` (line {}) has {} items, not {}",
                                display_at(&at),
                                via,
                                items.len(),
                                n + 1
                            ),
                        })
                    })?;
                    via = item.line();
                    item
                }
                (Segment::Select { key, value }, Node::Sequence { items, .. }) => {
                    let item = self.select(path, &at, via, items, key, value)?;
                    via = item.line();
                    item
                }
                (seg, other) => {
                    let wanted = match seg {
                        Segment::Key(_) => "a mapping",
                        _ => "a list",
                    };
                    return Err(self.fail(Problem::Missing {
                        path: path.to_string(),
                        why: format!(
                            "`{}` (line {}) is {}, not {wanted}",
                            display_at(&at),
                            via,
                            other.kind()
                        ),
                    }));
                }
            };
            node = next;
        }
        self.refuse_shared(node, via, path, path.as_str())?;
        match node {
            Node::Scalar(s) if s.quote == Quote::Block => Err(self.fail(Problem::BlockScalar {
                path: path.to_string(),
                line: via,
            })),
            Node::Scalar(s) => Ok(Found::Scalar(s)),
            other => Err(self.fail(Problem::NotScalar {
                path: path.to_string(),
                line: via,
                kind: other.kind(),
            })),
        }
    }

    /// A node the edit would pass through or change must not be an alias, nor carry an anchor
    /// that some alias reads.
    fn refuse_shared(
        &self,
        node: &Node,
        via: usize,
        path: &FieldPath,
        at: &str,
    ) -> Result<(), FieldError> {
        if let Node::Alias { name, line, .. } = node {
            return Err(self.fail(Problem::ThroughAlias {
                path: path.to_string(),
                at: display_at(at),
                name: name.clone(),
                line: (*line).max(via),
            }));
        }
        if let Some(name) = node.anchor()
            && let Some(lines) = self.aliases.get(name)
        {
            return Err(self.fail(Problem::Aliased {
                path: path.to_string(),
                at: display_at(at),
                name: name.to_owned(),
                line: via,
                alias_lines: lines
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            }));
        }
        Ok(())
    }

    fn select<'a>(
        &self,
        path: &FieldPath,
        at: &str,
        via: usize,
        items: &'a [Node],
        key: &str,
        value: &str,
    ) -> Result<&'a Node, FieldError> {
        let hits: Vec<&Node> = items
            .iter()
            .filter(|item| {
                item.get(key)
                    .and_then(Node::as_scalar)
                    .is_some_and(|s| s.value == value)
            })
            .collect();
        match hits.as_slice() {
            [one] => Ok(one),
            [] => Err(self.fail(Problem::Missing {
                path: path.to_string(),
                why: format!(
                    "no item of `{}` (line {}) has `{key}: {value}`; add one",
                    display_at(at),
                    via
                ),
            })),
            many => Err(self.fail(Problem::Missing {
                path: path.to_string(),
                why: format!(
                    "{} items of `{}` have `{key}: {value}` (lines {}); keep one",
                    many.len(),
                    display_at(at),
                    many.iter()
                        .map(|n| n.line().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })),
        }
    }

    fn missing(&self, path: &FieldPath, at: &str, via: usize, key: &str) -> FieldError {
        self.fail(Problem::Missing {
            path: path.to_string(),
            why: format!(
                "`{}` (line {}) has no `{key}`; add it, or fix the path in promote.yaml",
                display_at(at),
                via
            ),
        })
    }

    /// The patch that writes `rendered` in place of scalar `s` (an implicit null has no bytes:
    /// the value goes after the colon).
    fn replacement(&self, s: &Scalar, rendered: String) -> (Range<usize>, String) {
        if !s.range.is_empty() {
            return (s.range.clone(), rendered);
        }
        let at = s.range.start;
        let sep = if self.text[..at].ends_with(':') {
            " "
        } else {
            ": "
        };
        (at..at, format!("{sep}{rendered}"))
    }

    /// A new `key: value` after the mapping's last entry, at its keys' indentation.
    fn insertion(
        &self,
        style: Style,
        entries: &[(Scalar, Node)],
        key: &str,
        value: &str,
        eol: &str,
        path: &FieldPath,
    ) -> Result<(Range<usize>, String), FieldError> {
        let Some((first, _)) = entries.first() else {
            return Err(self.fail(Problem::Missing {
                path: path.to_string(),
                why: "its mapping is empty; write the key out once".into(),
            }));
        };
        let end = entries.last().map_or(first.range.end, |(_, v)| v.end());
        Ok(match style {
            Style::Flow => (end..end, format!(", {key}: {value}")),
            Style::Block => {
                let at = self.text[end..]
                    .find(['\r', '\n'])
                    .map_or(self.text.len(), |i| end + i);
                let indent = " ".repeat(first.column);
                (at..at, format!("{eol}{indent}{key}: {value}"))
            }
        })
    }
}

/// The path up to (not including) segment `i`, as the user wrote it.
fn prefix(path: &FieldPath, i: usize) -> String {
    let mut out = String::new();
    for seg in &path.segments[..i] {
        match seg {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                if k.contains(['.', '[']) {
                    out.push_str(&format!("\"{k}\""));
                } else {
                    out.push_str(k);
                }
            }
            Segment::Index(n) => out.push_str(&format!("[{n}]")),
            Segment::Select { key, value } => out.push_str(&format!("[{key}={value}]")),
        }
    }
    out
}

fn display_at(at: &str) -> String {
    if at.is_empty() {
        "the document".into()
    } else {
        at.to_owned()
    }
}

fn collect_aliases(node: &Node, out: &mut BTreeMap<String, Vec<usize>>) {
    match node {
        Node::Alias { name, line, .. } => out.entry(name.clone()).or_default().push(*line),
        Node::Mapping { entries, .. } => entries.iter().for_each(|(_, v)| collect_aliases(v, out)),
        Node::Sequence { items, .. } => items.iter().for_each(|v| collect_aliases(v, out)),
        Node::Scalar(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> FieldPath {
        FieldPath::parse(p).unwrap()
    }

    fn set(text: &str, edits: &[(&str, &str)]) -> Result<String, FieldError> {
        let f = FieldFile::parse("values.yaml", text)?;
        let paths: Vec<FieldPath> = edits.iter().map(|(p, _)| path(p)).collect();
        let edits: Vec<(&FieldPath, &str)> =
            paths.iter().zip(edits).map(|(p, (_, v))| (p, *v)).collect();
        f.set(&edits)
    }

    #[test]
    fn paths_parse_keys_indexes_selectors_and_quoted_keys() {
        let p = path(r#"spec.source.helm.parameters[name=image.tag].value"#);
        assert_eq!(p.segments.len(), 6);
        assert_eq!(
            p.segments[4],
            Segment::Select {
                key: "name".into(),
                value: "image.tag".into()
            }
        );
        let p = path(r#"metadata.labels."app.kubernetes.io/version""#);
        assert_eq!(
            p.segments[2],
            Segment::Key("app.kubernetes.io/version".into())
        );
        assert_eq!(path("images[1].tag").segments[1], Segment::Index(1));
        assert_eq!(path("a[0][2]").segments.len(), 3);
        for bad in ["", "a..b", ".a", "a.", "a[", "a[x]", "a[0]b", "\"a"] {
            assert!(FieldPath::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// The shape of argocd-image-updater issue 884: a values file with user data, comments and
    /// two images; promoting one leaves every other byte as it was.
    #[test]
    fn one_image_of_a_values_file_changes_and_nothing_else() {
        let text = "\
# values for test-app: edited by hand, keep the comments
replicaCount: 2
image:
  name: 123.dkr.ecr.us-west-2.amazonaws.com/images/test-app   # the main image
  tag: 1.2.0
  pullPolicy: IfNotPresent
image2:
  name: 123.dkr.ecr.us-west-2.amazonaws.com/images/test-app2
  tag: \"0.9.1\"
podAnnotations: {team: shop, tier: web}
env:
  - name: FEATURE_X
    value: \"true\"
";
        let out = set(text, &[("image.tag", "1.3.0")]).unwrap();
        assert_eq!(out, text.replace("  tag: 1.2.0\n", "  tag: 1.3.0\n"));
        let out = set(text, &[("image2.tag", "0.10.0"), ("image.tag", "1.3.0")]).unwrap();
        assert_eq!(
            out,
            text.replace("  tag: 1.2.0\n", "  tag: 1.3.0\n")
                .replace("\"0.9.1\"", "\"0.10.0\"")
        );
    }

    /// The shape of argocd-image-updater issue 1584: several images' tags in one shared values
    /// file; updating one must not blank the others.
    #[test]
    fn other_images_in_a_shared_values_file_keep_their_tags() {
        let text = "\
manager:
  image:
    repository: registry.local/manager
    tag: v1.4.0
session:
  image:
    repository: registry.local/session
    tag: v2.0.3
worker:
  image: {repository: registry.local/worker, tag: v0.7.0}
";
        let out = set(text, &[("manager.image.tag", "v1.5.0")]).unwrap();
        assert_eq!(out, text.replace("v1.4.0", "v1.5.0"));
        let out = set(text, &[("worker.image.tag", "v0.8.0")]).unwrap();
        assert_eq!(out, text.replace("v0.7.0", "v0.8.0"));
    }

    #[test]
    fn a_tag_yaml_would_read_as_a_number_is_quoted_in_the_files_style() {
        assert_eq!(
            set("image:\n  tag: 1.9\n", &[("image.tag", "1.10")]).unwrap(),
            "image:\n  tag: \"1.10\"\n"
        );
        assert_eq!(
            set("a: 'x'\nimage:\n  tag: v1\n", &[("image.tag", "1234")]).unwrap(),
            "a: 'x'\nimage:\n  tag: '1234'\n"
        );
        assert_eq!(
            set("image:\n  tag: '1.9'\n", &[("image.tag", "v2")]).unwrap(),
            "image:\n  tag: 'v2'\n"
        );
    }

    #[test]
    fn crlf_and_flow_style_stay() {
        let text = "image:\r\n  repository: r\r\n  tag: v1 # pinned\r\n";
        assert_eq!(
            set(text, &[("image.tag", "v2")]).unwrap(),
            "image:\r\n  repository: r\r\n  tag: v2 # pinned\r\n"
        );
        assert_eq!(
            set("image: {repository: r, tag: v1}\n", &[("image.tag", "v2")]).unwrap(),
            "image: {repository: r, tag: v2}\n"
        );
    }

    #[test]
    fn an_absent_last_key_is_added_in_the_mappings_style() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            set(
                "image:\n  repository: r\n  tag: v1\nnext: 1\n",
                &[("image.digest", &digest)]
            )
            .unwrap(),
            format!("image:\n  repository: r\n  tag: v1\n  digest: {digest}\nnext: 1\n")
        );
        assert_eq!(
            set("image:\r\n  tag: v1 # c\r\n", &[("image.digest", &digest)]).unwrap(),
            format!("image:\r\n  tag: v1 # c\r\n  digest: {digest}\r\n")
        );
        assert_eq!(
            set("image: {tag: v1}\n", &[("image.digest", &digest)]).unwrap(),
            format!("image: {{tag: v1, digest: {digest}}}\n")
        );
        let err = set("image: {}\n", &[("image.tag", "v1")]).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }

    #[test]
    fn anchors_elsewhere_are_fine_and_an_unaliased_anchor_stays() {
        let text = "\
defaults: &defaults
  pullPolicy: Always
cart:
  image:
    <<: *defaults
    repository: r
    tag: &carttag v1
";
        assert_eq!(
            set(text, &[("cart.image.tag", "v2")]).unwrap(),
            text.replace("&carttag v1", "&carttag v2")
        );
    }

    #[test]
    fn an_edit_through_an_alias_or_a_merge_key_is_refused_naming_lines() {
        let text = "\
staging: &img
  repository: r
  tag: v1
prod: *img
canary:
  <<: *img
";
        let err = set(text, &[("prod.tag", "v2")]).unwrap_err().to_string();
        assert!(err.contains("line 4: `prod` is an alias (*img)"), "{err}");
        let err = set(text, &[("staging.tag", "v2")]).unwrap_err().to_string();
        assert!(
            err.contains("line 1: `staging` is anchored as &img and aliased at line 4, 6"),
            "{err}"
        );
        let err = set(text, &[("canary.tag", "v2")]).unwrap_err().to_string();
        assert!(
            err.contains("`canary` gets `tag` only through a merge key"),
            "{err}"
        );
        let err = set("a: &t v1\nb: *t\n", &[("a", "v2")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`a` is anchored as &t and aliased at line 2"),
            "{err}"
        );
    }

    #[test]
    fn flux_helmrelease_and_argocd_parameters() {
        let release = "\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: cart
spec:
  values:
    image:
      tag: v1.0.0
";
        assert_eq!(
            set(release, &[("spec.values.image.tag", "v1.0.1")]).unwrap(),
            release.replace("v1.0.0", "v1.0.1")
        );
        let app = "\
apiVersion: argoproj.io/v1alpha1
kind: Application
spec:
  source:
    helm:
      parameters:
        - name: replicas
          value: \"2\"
        - name: image.tag
          value: v1.0.0
";
        let p = path("spec.source.helm.parameters[name=image.tag].value");
        let f = FieldFile::parse("app.yaml", app).unwrap();
        assert_eq!(f.get(&p).unwrap().unwrap().value, "v1.0.0");
        assert_eq!(
            f.set(&[(&p, "v1.0.1")]).unwrap(),
            app.replace("v1.0.0", "v1.0.1")
        );
        let err = set(
            app,
            &[("spec.source.helm.parameters[name=image.name].value", "x")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(
                "no item of `spec.source.helm.parameters` (line 6) has `name: image.name`"
            ),
            "{err}"
        );
    }

    #[test]
    fn wrong_shapes_name_the_line() {
        let text = "image:\n  - tag: v1\nnotes: |\n  text\n";
        let err = set(text, &[("image.tag", "v2")]).unwrap_err().to_string();
        assert!(
            err.contains("`image` (line 1) is a list, not a mapping"),
            "{err}"
        );
        let err = set(text, &[("notes", "v2")]).unwrap_err().to_string();
        assert!(err.contains("line 3: `notes` is a block scalar"), "{err}");
        let err = set(text, &[("image", "v2")]).unwrap_err().to_string();
        assert!(err.contains("`image` is a list"), "{err}");
        let err = set(text, &[("chart.image.tag", "v2")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`the document` (line 1) has no `chart`"),
            "{err}"
        );
        let err = set(text, &[("image[3].tag", "v2")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("has 1 items, not 4"), "{err}");
    }
}
