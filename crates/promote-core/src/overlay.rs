//! Reading a Kustomize overlay's `images:` and editing it byte-minimally; the same for image
//! fields kept in any YAML file (Helm values, a `HelmRelease`, an Application's parameters),
//! through [`crate::fields`], so planning (`--only`, `--digest`, `--from`) is one code path for
//! every kind of file an environment pins its images in.
//!
//! Users review these diffs, so an edit changes only the scalars it must: comments, key order,
//! quoting, flow style, indentation and CRLF line ends all stay. A missing `newTag` or `digest` is
//! inserted in the entry's own style (next line at the entry's indentation for block entries,
//! `, key: value` for flow entries). We deliberately do not do what `kustomize edit set image`
//! does (re-sort, re-key, drop comments and `newName`): see `shared/specs/argocd.md` §6.
//!
//! Field meanings (kustomize ≥ 4.5.3): `newTag` alone drops any digest the manifest had; `digest`
//! pins what the runtime pulls, so a stale digest beside a new tag keeps the old image running.
//! That is why planning refuses to leave one behind.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use crate::fields::{FieldError, FieldFile, FieldImage, ImageRepo};
use crate::image::{ImageChange, ImageMap, ImageRef, valid_digest, valid_tag};
use crate::yaml::{self, Node, Quote, Scalar, Style, YamlError};

/// The file names Kustomize accepts for a kustomization, in its order of preference.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Something is wrong with an overlay, or with what was asked of it.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("{file}: the document is {kind}, not a kustomization mapping")]
    NotAMapping { file: String, kind: &'static str },
    #[error(
        "{file}: no `images:` list; add one naming each image this environment pins, e.g.\n  images:\n  - name: registry.example.com/shop/cartservice\n    newTag: v1.0.0"
    )]
    NoImages { file: String },
    #[error("{file}: line {line}: `{key}` must be {expected}")]
    BadField {
        file: String,
        line: usize,
        key: String,
        expected: &'static str,
    },
    #[error("{file}: line {line}: image `{name}` is listed twice in `images:`; keep one entry")]
    DuplicateImage {
        file: String,
        line: usize,
        name: String,
    },
    #[error("{file}: image `{name}` is not listed in `images:`{hint}")]
    UnknownImage {
        file: String,
        name: String,
        hint: String,
    },
    #[error(
        "{file}: image `{name}` pins digest {digest}; a new tag beside it would keep the old image running. Pass --digest {name}=sha256:… with the new digest, or --drop-digest"
    )]
    StaleDigest {
        file: String,
        name: String,
        digest: String,
    },
    #[error(
        "`{value}` is not a valid image tag (letters, digits, `_`, `.`, `-`; at most 128; not starting with `.` or `-`)"
    )]
    BadTag { value: String },
    #[error(
        "{file}: no field `{path}`, where promote.yaml's targets say image `{name}`'s tag is; fix the path in promote.yaml (`targets[].…images.{name}.tag` or `field:`), or add the field to the file"
    )]
    NoTagField {
        file: String,
        path: String,
        name: String,
    },
    #[error("--digest {name}={value}: not a digest; expected sha256: followed by 64 hex digits")]
    BadDigest { name: String, value: String },
    #[error("--digest {name}=…: `{name}` is not among the images being promoted ({among})")]
    DigestForUnknownImage { name: String, among: String },
    #[error(
        "{upstream_file}: upstream does not list image `{name}`, which {file} pins; promote it by version, or add it upstream first"
    )]
    MissingUpstream {
        file: String,
        upstream_file: String,
        name: String,
    },
    #[error("{file}: `{given}` matches several images ({matches}); use the full name")]
    AmbiguousImage {
        file: String,
        given: String,
        matches: String,
    },
    #[error(
        "{file}: line {line}: `{key}` of image `{name}` is a block scalar; write it on one line"
    )]
    BlockScalar {
        file: String,
        line: usize,
        key: String,
        name: String,
    },
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error(
        "{file}: image `{name}` gets a digest, but its target in promote.yaml maps no `digest` field; add `digest: <field path>` to the image's fields, or promote without a digest (--drop-digest)"
    )]
    NoDigestField { file: String, name: String },
}

/// One `images:` entry as the overlay writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
    pub tag_suffix: Option<String>,
    pub line: usize,
}

impl ImageEntry {
    /// The image this entry runs as: `newName`, else `name`.
    pub fn runs_as(&self) -> &str {
        self.new_name.as_deref().unwrap_or(&self.name)
    }

    pub fn pinned(&self) -> ImageRef {
        ImageRef {
            tag: self.new_tag.clone(),
            digest: self.digest.clone(),
        }
    }
}

/// The file an environment pins its images in, parsed and keeping its text for minimal edits: a
/// kustomization (`images:`), or image fields of any YAML file.
#[derive(Debug, Clone)]
pub struct Overlay {
    file: String,
    text: String,
    backing: Backing,
    images: Option<Vec<ImageEntry>>,
}

#[derive(Debug, Clone)]
enum Backing {
    Kustomize(Node),
    Fields {
        doc: FieldFile,
        images: Vec<FieldImage>,
    },
}

/// What to do with one image's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestEdit {
    Keep,
    Set(String),
    Drop,
}

/// An edit of one image entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEdit {
    pub name: String,
    pub tag: Option<String>,
    pub digest: DigestEdit,
}

/// What a promotion asks for, before it is checked against the overlay.
#[derive(Debug, Clone)]
pub enum Target<'a> {
    /// Set each image's tag to this version.
    Version(&'a str),
    /// Copy each image's tag and digest from the upstream overlay.
    Upstream(&'a Overlay),
}

/// Options of a plan: `--only`, `--digest`, `--drop-digest`.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub only: Vec<String>,
    pub digests: BTreeMap<String, String>,
    pub drop_digests: bool,
    /// Where images not listed in the overlay are set instead (kustomization file → image names),
    /// for the "edit it there" hint.
    pub elsewhere: Vec<(String, Vec<String>)>,
    /// Digests resolved for `--pin-digests` (entry name → digest): set where `--digest` does
    /// not set one. [`Overlay::pins_wanted`] says which to resolve.
    pub pin: BTreeMap<String, String>,
}

/// The selected entries with what the target asks of each, and the `--digest` values by name.
type Wanted<'a> = (Vec<(&'a ImageEntry, ImageRef)>, BTreeMap<String, String>);

/// One image `--pin-digests` resolves: entry `name`, running as `image:tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinWanted {
    pub name: String,
    pub image: String,
    pub tag: String,
}

/// A kustomization reference that Kustomize fetches (a URL, `git@…`, `github.com/…`) rather
/// than reads from the repository.
pub fn is_remote_ref(v: &str) -> bool {
    v.contains("://") || v.starts_with("git@") || v.starts_with("github.com/")
}

impl Overlay {
    /// Parse a kustomization file. `file` is its repo path, used in every message.
    pub fn parse(file: &str, text: &str) -> Result<Overlay, OverlayError> {
        let tree = yaml::parse_tree(file, text)?;
        if !matches!(tree, Node::Mapping { .. }) {
            return Err(OverlayError::NotAMapping {
                file: file.to_owned(),
                kind: tree.kind(),
            });
        }
        let images = match tree.get("images") {
            None => None,
            Some(Node::Scalar(s)) if s.value.is_empty() || s.value == "null" || s.value == "~" => {
                Some(Vec::new())
            }
            Some(Node::Sequence { items, .. }) => Some(read_entries(file, items)?),
            Some(other) => {
                return Err(OverlayError::BadField {
                    file: file.to_owned(),
                    line: other.line(),
                    key: "images".into(),
                    expected: "a list of {name, newName, newTag, digest} entries",
                });
            }
        };
        Ok(Overlay {
            file: file.to_owned(),
            text: text.to_owned(),
            backing: Backing::Kustomize(tree),
            images,
        })
    }

    /// Read `images`' fields from a YAML file (`file` is its repo path). Each image is an entry
    /// named as configured, running as its repository (read from the file, or given).
    pub fn parse_fields(
        file: &str,
        text: &str,
        images: &[FieldImage],
    ) -> Result<Overlay, OverlayError> {
        let doc = FieldFile::parse(file, text)?;
        let value =
            |path: &crate::fields::FieldPath| -> Result<Option<(String, usize)>, OverlayError> {
                Ok(doc
                    .get(path)?
                    // `""` is how charts write "no digest"; a plain null is unset too.
                    .filter(|s| {
                        !(s.value.is_empty()
                            || (s.quote == Quote::Plain
                                && matches!(s.value.as_str(), "~" | "null")))
                    })
                    .map(|s| (s.value.clone(), s.line)))
            };
        let mut entries = Vec::new();
        for image in images {
            if doc.get(&image.tag)?.is_none() {
                return Err(OverlayError::NoTagField {
                    file: file.to_owned(),
                    path: image.tag.to_string(),
                    name: image.name.clone(),
                });
            }
            let tag = value(&image.tag)?;
            let repository = match &image.repository {
                ImageRepo::Field(path) => value(path)?.map(|(v, _)| v),
                ImageRepo::Fixed(name) => Some(name.clone()),
            };
            let digest = match &image.digest {
                Some(path) => value(path)?.map(|(v, _)| v),
                None => None,
            };
            entries.push(ImageEntry {
                new_name: repository.filter(|r| r != &image.name),
                line: tag.as_ref().map_or(1, |(_, line)| *line),
                new_tag: tag.map(|(v, _)| v),
                digest,
                tag_suffix: None,
                name: image.name.clone(),
            });
        }
        Ok(Overlay {
            file: file.to_owned(),
            text: text.to_owned(),
            backing: Backing::Fields {
                doc,
                images: images.to_vec(),
            },
            images: Some(entries),
        })
    }

    /// Parse another version of the same file (`file` names it in messages) the way this one
    /// was parsed: a kustomization, or the same image fields.
    pub fn reparse(&self, file: &str, text: &str) -> Result<Overlay, OverlayError> {
        match &self.backing {
            Backing::Kustomize(_) => Overlay::parse(file, text),
            Backing::Fields { images, .. } => Overlay::parse_fields(file, text, images),
        }
    }

    /// The kustomization's tree; `None` for image fields of another kind of file.
    fn tree(&self) -> Option<&Node> {
        match &self.backing {
            Backing::Kustomize(tree) => Some(tree),
            Backing::Fields { .. } => None,
        }
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The `images:` entries, or `NoImages` when the overlay has no such list.
    pub fn images(&self) -> Result<&[ImageEntry], OverlayError> {
        self.images
            .as_deref()
            .ok_or_else(|| OverlayError::NoImages {
                file: self.file.clone(),
            })
    }

    /// Has an `images:` key at all (an empty list counts)?
    pub fn has_images(&self) -> bool {
        self.images.is_some()
    }

    /// What the one entry running as `image` pins (an upstream of another kind names its
    /// entries differently: a kustomization by image name, Helm values by a key of ours).
    fn pinned_as(&self, image: &str) -> Option<ImageRef> {
        let mut hits = self
            .images
            .iter()
            .flatten()
            .filter(|e| e.runs_as() == image);
        match (hits.next(), hits.next()) {
            (Some(one), None) => Some(one.pinned()),
            _ => None,
        }
    }

    /// Per-image pins, by image name.
    pub fn image_map(&self) -> ImageMap {
        self.images
            .iter()
            .flatten()
            .map(|e| (e.name.clone(), e.pinned()))
            .collect()
    }

    /// Local directories this kustomization builds on (`resources`, `bases`, `components`), as
    /// written (relative to the kustomization's directory). Remote URLs and files are left out.
    pub fn local_refs(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Some(tree) = self.tree() else {
            return out;
        };
        for key in ["resources", "bases", "components"] {
            if let Some(Node::Sequence { items, .. }) = tree.get(key) {
                for item in items {
                    if let Some(s) = item.as_scalar() {
                        let v = s.value.as_str();
                        let remote = is_remote_ref(v);
                        let file =
                            v.ends_with(".yaml") || v.ends_with(".yml") || v.ends_with(".json");
                        if !remote && !file {
                            out.push(v.to_owned());
                        }
                    }
                }
            }
        }
        out
    }

    /// Every entry that makes Kustomize load another path (`resources`, `bases`, `components`,
    /// `generators`, `transformers`, `validators`: local files, directories and remote URLs
    /// alike), for working out what a render reads. `None` when the kustomization inflates Helm
    /// charts (`helmCharts`, `helmGlobals`, `helmChartInflationGenerator`), whose chart home
    /// may lie anywhere.
    pub fn load_refs(&self) -> Option<Vec<String>> {
        let tree = self.tree()?;
        if ["helmCharts", "helmGlobals", "helmChartInflationGenerator"]
            .iter()
            .any(|k| tree.get(k).is_some())
        {
            return None;
        }
        let mut out = Vec::new();
        for key in [
            "resources",
            "bases",
            "components",
            "generators",
            "transformers",
            "validators",
        ] {
            match tree.get(key) {
                Some(Node::Sequence { items, .. }) => {
                    for item in items {
                        // An inline generator/transformer config (a mapping) reads no path.
                        if let Some(s) = item.as_scalar() {
                            out.push(s.value.clone());
                        }
                    }
                }
                Some(Node::Scalar(s))
                    if s.value.is_empty() || s.value == "null" || s.value == "~" => {}
                None => {}
                // Anything else: not understood, so not narrowed.
                Some(_) => return None,
            }
        }
        Some(out)
    }

    /// Check a promotion against the overlay and turn it into edits and image changes.
    /// An empty change list means "already there".
    pub fn plan(
        &self,
        target: &Target<'_>,
        opts: &PlanOptions,
    ) -> Result<(Vec<ImageEdit>, Vec<ImageChange>), OverlayError> {
        let (wanted, digests) = self.wanted(target, opts)?;
        let mut edits = Vec::new();
        let mut changes = Vec::new();
        for (entry, mut to) in wanted {
            let from = entry.pinned();
            let mut digest = DigestEdit::Keep;
            if let Some(d) = digests.get(&entry.name) {
                to.digest = Some(d.clone());
            } else if let Some(d) = opts.pin.get(&entry.name) {
                to.digest = Some(d.clone());
            } else if opts.drop_digests {
                to.digest = None;
            } else if matches!(target, Target::Version(_))
                && from.digest.is_some()
                && to.tag != from.tag
            {
                return Err(OverlayError::StaleDigest {
                    file: self.file.clone(),
                    name: entry.name.clone(),
                    digest: from.digest.clone().unwrap_or_default(),
                });
            }
            if to.digest != from.digest {
                digest = match &to.digest {
                    Some(d) => DigestEdit::Set(d.clone()),
                    None => DigestEdit::Drop,
                };
            }
            if to == from {
                continue;
            }
            let tag = if to.tag != from.tag {
                to.tag.clone()
            } else {
                None
            };
            edits.push(ImageEdit {
                name: entry.name.clone(),
                tag,
                digest,
            });
            changes.push(ImageChange {
                name: entry.name.clone(),
                new_name: entry.new_name.clone(),
                from,
                to,
            });
        }
        Ok((edits, changes))
    }

    /// What `--pin-digests` must resolve before planning: each selected image whose digest
    /// neither `--digest` nor the upstream sets, with the name it will run under (`newName`,
    /// else `name`) and the tag it will carry.
    pub fn pins_wanted(
        &self,
        target: &Target<'_>,
        opts: &PlanOptions,
    ) -> Result<Vec<PinWanted>, OverlayError> {
        let (wanted, digests) = self.wanted(target, opts)?;
        Ok(wanted
            .into_iter()
            .filter(|(e, to)| {
                !digests.contains_key(&e.name)
                    && (matches!(target, Target::Version(_)) || to.digest.is_none())
            })
            .filter_map(|(e, to)| {
                to.tag.map(|tag| PinWanted {
                    name: e.name.clone(),
                    image: e.new_name.clone().unwrap_or_else(|| e.name.clone()),
                    tag,
                })
            })
            .collect())
    }

    /// The selected entries with what the target asks of each (before the digest rules), and
    /// the `--digest` values by entry name; every flag checked.
    fn wanted(&self, target: &Target<'_>, opts: &PlanOptions) -> Result<Wanted<'_>, OverlayError> {
        let entries = self.images()?;
        if let Target::Version(v) = target
            && !valid_tag(v)
        {
            return Err(OverlayError::BadTag {
                value: (*v).to_owned(),
            });
        }
        let listed: BTreeSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        let mut only = Vec::new();
        for given in &opts.only {
            match self.resolve_name(given)? {
                Some(name) => only.push(name),
                None => return Err(self.unknown_image(given, &listed, &opts.elsewhere)),
            }
        }
        let selected: Vec<&ImageEntry> = entries
            .iter()
            .filter(|e| only.is_empty() || only.contains(&e.name))
            .collect();
        let mut digests = BTreeMap::new();
        for (given, value) in &opts.digests {
            let name = self
                .resolve_name(given)?
                .filter(|n| selected.iter().any(|e| &e.name == n));
            let Some(name) = name else {
                let among = selected
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(OverlayError::DigestForUnknownImage {
                    name: given.clone(),
                    among,
                });
            };
            if !valid_digest(value) {
                return Err(OverlayError::BadDigest {
                    name: given.clone(),
                    value: value.clone(),
                });
            }
            digests.insert(name, value.clone());
        }
        let upstream_map = match target {
            Target::Upstream(up) => Some((up.file(), up.image_map())),
            Target::Version(_) => None,
        };
        let mut out = Vec::new();
        for entry in selected {
            let from = entry.pinned();
            let mut to = match (target, &upstream_map) {
                (Target::Version(v), _) => ImageRef {
                    tag: Some((*v).to_owned()),
                    digest: from.digest.clone(),
                },
                (Target::Upstream(up), Some((up_file, map))) => match map
                    .get(&entry.name)
                    .cloned()
                    .or_else(|| up.pinned_as(entry.runs_as()))
                {
                    Some(up) => up,
                    None => {
                        return Err(OverlayError::MissingUpstream {
                            file: self.file.clone(),
                            upstream_file: (*up_file).to_owned(),
                            name: entry.name.clone(),
                        });
                    }
                },
                (Target::Upstream(_), None) => {
                    unreachable!("upstream map is built for upstream targets")
                }
            };
            if to.tag.is_none() {
                // Upstream pins only a digest: keep our tag text out of the way rather than guess.
                to.tag = from.tag.clone();
            }
            out.push((entry, to));
        }
        Ok((out, digests))
    }
    /// The entry a user means by `given`: its exact `name`, or else the last path segment of
    /// `name` or `newName` (`cartservice` for `registry.example.com/shop/cartservice`) when
    /// exactly one entry has it.
    pub fn resolve_name(&self, given: &str) -> Result<Option<String>, OverlayError> {
        let entries = self.images()?;
        if entries.iter().any(|e| e.name == given) {
            return Ok(Some(given.to_owned()));
        }
        let last = |s: &str| s.rsplit('/').next().unwrap_or(s).to_owned();
        let hits: Vec<&ImageEntry> = entries
            .iter()
            .filter(|e| {
                last(&e.name) == given
                    || e.new_name
                        .as_deref()
                        .is_some_and(|n| n == given || last(n) == given)
            })
            .collect();
        match hits.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.name.clone())),
            many => Err(OverlayError::AmbiguousImage {
                file: self.file.clone(),
                given: given.to_owned(),
                matches: many
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    fn unknown_image(
        &self,
        name: &str,
        listed: &BTreeSet<&str>,
        elsewhere: &[(String, Vec<String>)],
    ) -> OverlayError {
        let hint = match elsewhere
            .iter()
            .find(|(_, names)| names.iter().any(|n| n == name))
        {
            Some((where_, _)) => format!(
                "; it is set in {where_}. Add an entry for it to {} (`- name: {name}` with `newTag:`) to promote it per environment, or edit {where_}",
                self.file
            ),
            None if listed.is_empty() => String::new(),
            None => format!(
                " (it lists: {})",
                listed.iter().copied().collect::<Vec<_>>().join(", ")
            ),
        };
        OverlayError::UnknownImage {
            file: self.file.clone(),
            name: name.to_owned(),
            hint,
        }
    }

    /// Apply edits, returning the new text. Only the edited scalars' bytes change.
    pub fn apply(&self, edits: &[ImageEdit]) -> Result<String, OverlayError> {
        let tree = match &self.backing {
            Backing::Kustomize(tree) => tree,
            Backing::Fields { doc, images } => return self.apply_fields(doc, images, edits),
        };
        let Some(Node::Sequence { items, .. }) = tree.get("images") else {
            return if edits.is_empty() {
                Ok(self.text.clone())
            } else {
                Err(OverlayError::NoImages {
                    file: self.file.clone(),
                })
            };
        };
        let eol = if self.text.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        let fallback = yaml::preferred_quote(tree);
        let mut patches: Vec<(Range<usize>, String)> = Vec::new();
        for edit in edits {
            let node = items
                .iter()
                .find(|n| {
                    n.get("name")
                        .and_then(Node::as_scalar)
                        .is_some_and(|s| s.value == edit.name)
                })
                .ok_or_else(|| OverlayError::UnknownImage {
                    file: self.file.clone(),
                    name: edit.name.clone(),
                    hint: String::new(),
                })?;
            let Node::Mapping { style, entries, .. } = node else {
                unreachable!("entries were checked to be mappings")
            };
            let mut inserts: Vec<(&'static str, String)> = Vec::new();
            if let Some(tag) = &edit.tag {
                match node.get("newTag").and_then(Node::as_scalar) {
                    Some(s) => patches
                        .push(self.replacement(s, yaml::render_scalar(tag, s.quote, fallback))),
                    None => {
                        inserts.push(("newTag", yaml::render_scalar(tag, Quote::Plain, fallback)))
                    }
                }
            }
            match &edit.digest {
                DigestEdit::Keep => {}
                DigestEdit::Set(d) => match node.get("digest").and_then(Node::as_scalar) {
                    Some(s) => {
                        patches.push(self.replacement(s, yaml::render_scalar(d, s.quote, fallback)))
                    }
                    None => {
                        inserts.push(("digest", yaml::render_scalar(d, Quote::Plain, fallback)))
                    }
                },
                DigestEdit::Drop => {
                    if let Some(i) = entries.iter().position(|(k, _)| k.value == "digest") {
                        patches.push((self.removal(*style, entries, i), String::new()));
                    }
                }
            }
            if !inserts.is_empty() {
                patches.push(self.insertion(*style, entries, &inserts, eol));
            }
        }
        patches.sort_by_key(|(r, _)| std::cmp::Reverse((r.start, r.end)));
        let mut out = self.text.clone();
        for (range, text) in patches {
            out.replace_range(range, &text);
        }
        Ok(out)
    }

    /// [`Self::apply`] on image fields: a tag or digest is written to its field; a dropped
    /// digest becomes `""` (charts read an empty digest as none; the key stays for the next one).
    fn apply_fields(
        &self,
        doc: &FieldFile,
        images: &[FieldImage],
        edits: &[ImageEdit],
    ) -> Result<String, OverlayError> {
        let mut writes: Vec<(&crate::fields::FieldPath, &str)> = Vec::new();
        for edit in edits {
            let image = images.iter().find(|i| i.name == edit.name).ok_or_else(|| {
                OverlayError::UnknownImage {
                    file: self.file.clone(),
                    name: edit.name.clone(),
                    hint: String::new(),
                }
            })?;
            if let Some(tag) = &edit.tag {
                writes.push((&image.tag, tag));
            }
            match (&edit.digest, &image.digest) {
                (DigestEdit::Keep, _) | (DigestEdit::Drop, None) => {}
                (DigestEdit::Set(d), Some(path)) => writes.push((path, d)),
                (DigestEdit::Drop, Some(path)) => {
                    if doc.get(path)?.is_some() {
                        writes.push((path, ""));
                    }
                }
                (DigestEdit::Set(_), None) => {
                    return Err(OverlayError::NoDigestField {
                        file: self.file.clone(),
                        name: edit.name.clone(),
                    });
                }
            }
        }
        Ok(doc.set(&writes)?)
    }

    /// The patch that writes `rendered` in place of scalar `s`. An implicit null (`newTag:` with
    /// nothing after it, or a flow `{name: a, newTag}`) has no bytes: the value goes after the
    /// colon with a space, or after the key with `: ` when there is no colon.
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

    /// Where and what to insert for new keys of an entry: after `newTag`/`newName`/`name`.
    fn insertion(
        &self,
        style: Style,
        entries: &[(Scalar, Node)],
        inserts: &[(&str, String)],
        eol: &str,
    ) -> (Range<usize>, String) {
        let anchor_key = ["newTag", "newName", "name"]
            .into_iter()
            .find_map(|k| entries.iter().find(|(key, _)| key.value == k))
            .or(entries.last())
            .expect("an image entry has a name");
        let anchor_end = anchor_key.1.end();
        match style {
            Style::Flow => {
                let text: String = inserts.iter().map(|(k, v)| format!(", {k}: {v}")).collect();
                (anchor_end..anchor_end, text)
            }
            Style::Block => {
                let indent = " ".repeat(entries[0].0.column);
                let at = line_end(&self.text, anchor_end);
                let text: String = inserts
                    .iter()
                    .map(|(k, v)| format!("{eol}{indent}{k}: {v}"))
                    .collect();
                (at..at, text)
            }
        }
    }

    /// The bytes to remove to delete entry `i` of a mapping.
    fn removal(&self, style: Style, entries: &[(Scalar, Node)], i: usize) -> Range<usize> {
        let (key, value) = &entries[i];
        match style {
            Style::Flow => match (i.checked_sub(1), entries.get(i + 1)) {
                (Some(p), _) => entries[p].1.end()..value.end(),
                (None, Some((next, _))) => key.range.start..next.range.start,
                (None, None) => key.range.start..value.end(),
            },
            Style::Block => {
                let start = line_start(&self.text, key.range.start);
                let own_line = self.text[start..key.range.start]
                    .chars()
                    .all(|c| c == ' ' || c == '\t');
                if own_line {
                    let end = line_end(&self.text, value.end());
                    let end = if self.text[end..].starts_with("\r\n") {
                        end + 2
                    } else if end < self.text.len() {
                        end + 1
                    } else {
                        end
                    };
                    start..end
                } else if let Some((next, _)) = entries.get(i + 1) {
                    // `- digest: …` on the dash line: pull the next key up onto it.
                    key.range.start..next.range.start
                } else {
                    let prev = i
                        .checked_sub(1)
                        .map_or(key.range.start, |p| entries[p].1.end());
                    prev..value.end()
                }
            }
        }
    }
}

fn read_entries(file: &str, items: &[Node]) -> Result<Vec<ImageEntry>, OverlayError> {
    let mut out: Vec<ImageEntry> = Vec::new();
    for item in items {
        let Node::Mapping { line, .. } = item else {
            return Err(OverlayError::BadField {
                file: file.to_owned(),
                line: item.line(),
                key: "images[]".into(),
                expected: "a mapping with `name:`",
            });
        };
        let field = |key: &str| -> Result<Option<String>, OverlayError> {
            match item.get(key) {
                None => Ok(None),
                Some(Node::Scalar(s)) if s.quote == Quote::Block => {
                    Err(OverlayError::BlockScalar {
                        file: file.to_owned(),
                        line: s.line,
                        key: key.to_owned(),
                        name: item
                            .get("name")
                            .and_then(Node::as_scalar)
                            .map(|n| n.value.clone())
                            .unwrap_or_default(),
                    })
                }
                Some(Node::Scalar(s))
                    if s.quote == Quote::Plain
                        && (s.value.is_empty() || s.value == "~" || s.value == "null") =>
                {
                    Ok(None)
                }
                Some(Node::Scalar(s)) => Ok(Some(s.value.clone())),
                Some(other) => Err(OverlayError::BadField {
                    file: file.to_owned(),
                    line: other.line(),
                    key: key.to_owned(),
                    expected: "a string",
                }),
            }
        };
        let Some(name) = field("name")? else {
            return Err(OverlayError::BadField {
                file: file.to_owned(),
                line: *line,
                key: "images[].name".into(),
                expected: "set: the image name as the manifests write it",
            });
        };
        if out.iter().any(|e| e.name == name) {
            return Err(OverlayError::DuplicateImage {
                file: file.to_owned(),
                line: *line,
                name,
            });
        }
        out.push(ImageEntry {
            new_name: field("newName")?,
            new_tag: field("newTag")?,
            digest: field("digest")?,
            tag_suffix: field("tagSuffix")?,
            name,
            line: *line,
        });
    }
    Ok(out)
}

fn line_end(text: &str, from: usize) -> usize {
    match text[from..].find('\n') {
        Some(i) if i > 0 && text.as_bytes()[from + i - 1] == b'\r' => from + i - 1,
        Some(i) => from + i,
        None => text.len(),
    }
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promote(text: &str, version: &str, opts: &PlanOptions) -> Result<String, OverlayError> {
        let o = Overlay::parse("k.yaml", text)?;
        let (edits, _) = o.plan(&Target::Version(version), opts)?;
        o.apply(&edits)
    }

    fn v(text: &str, version: &str) -> String {
        promote(text, version, &PlanOptions::default()).unwrap()
    }

    #[test]
    fn only_tag_scalars_change() {
        let text = "# prod\nresources:\n- ../base\nimages:\n# the cart\n- name: cart   # trailing\n  newName: reg/cart\n  newTag: v1.0.0 # pinned\n\n- name: 'front'\n  newTag: 'v1.0.0'\n";
        let out = v(text, "v1.0.1");
        assert_eq!(
            out,
            text.replace("v1.0.0 #", "v1.0.1 #")
                .replace("'v1.0.0'", "'v1.0.1'")
        );
    }

    #[test]
    fn empty_values_are_filled_after_the_colon() {
        // Found by fuzzing (fuzz/overlay_edit): the edit went before the colon (`newTaga: `).
        assert_eq!(
            v("images: [{newTag: , name: a}]\r\n", "v2"),
            "images: [{newTag: v2 , name: a}]\r\n"
        );
        assert_eq!(
            v("images:\n- name: a\n  newTag:\n", "v2"),
            "images:\n- name: a\n  newTag: v2\n"
        );
        assert_eq!(
            v("images:\n- name: a\n  newTag: # c\n  newName: b\n", "v2"),
            "images:\n- name: a\n  newTag: v2 # c\n  newName: b\n"
        );
        assert_eq!(
            v("images:\n- newTag:\n  name: a\n", "v2"),
            "images:\n- newTag: v2\n  name: a\n"
        );
        assert_eq!(
            v("images: [{name: a, newTag}]\n", "v2"),
            "images: [{name: a, newTag: v2}]\n"
        );
    }

    #[test]
    fn flow_style_and_crlf_are_kept() {
        let text = "images: [{name: a, newTag: v1}, {name: b, newTag: \"v1\"}]\r\nresources: [../base]\r\n";
        assert_eq!(
            v(text, "v2"),
            "images: [{name: a, newTag: v2}, {name: b, newTag: \"v2\"}]\r\nresources: [../base]\r\n"
        );
    }

    #[test]
    fn missing_new_tag_is_inserted_in_the_entry_style() {
        let text = "images:\r\n  - name: a\r\n    newName: reg/a # moved\r\n  - {name: b}\r\n";
        assert_eq!(
            v(text, "v2"),
            "images:\r\n  - name: a\r\n    newName: reg/a # moved\r\n    newTag: v2\r\n  - {name: b, newTag: v2}\r\n"
        );
    }

    #[test]
    fn numeric_tags_are_quoted_in_the_file_style() {
        let text = "images:\n- name: a\n  newTag: v1\n- name: 'b'\n";
        assert_eq!(
            v(text, "1234"),
            "images:\n- name: a\n  newTag: '1234'\n- name: 'b'\n  newTag: '1234'\n"
        );
    }

    #[test]
    fn stale_digest_is_refused_and_can_be_replaced_or_dropped() {
        let d1 = format!("sha256:{}", "1".repeat(64));
        let d2 = format!("sha256:{}", "2".repeat(64));
        let text = format!(
            "images:\n- name: a\n  newTag: v1\n  digest: {d1}\n- digest: {d1}\n  name: b\n  newTag: v1\n"
        );
        let err = promote(&text, "v2", &PlanOptions::default()).unwrap_err();
        assert!(
            matches!(err, OverlayError::StaleDigest { ref name, .. } if name == "a"),
            "{err}"
        );
        let dropped = promote(
            &text,
            "v2",
            &PlanOptions {
                drop_digests: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            dropped,
            "images:\n- name: a\n  newTag: v2\n- name: b\n  newTag: v2\n"
        );
        let digests = [("a".to_owned(), d2.clone()), ("b".to_owned(), d2.clone())].into();
        let set = promote(
            &text,
            "v2",
            &PlanOptions {
                digests,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(set, text.replace("v1", "v2").replace(&d1, &d2));
    }

    #[test]
    fn from_upstream_copies_tag_and_digest() {
        let d = format!("sha256:{}", "3".repeat(64));
        let up = Overlay::parse(
            "staging.yaml",
            &format!("images:\n- name: a\n  newTag: v2\n  digest: {d}\n- name: b\n  newTag: v2\n"),
        )
        .unwrap();
        let prod = Overlay::parse(
            "prod.yaml",
            "images:\n- name: a\n  newTag: v1\n- name: b\n  newTag: v1\n  digest: sha256:old\n",
        )
        .unwrap();
        let (edits, changes) = prod
            .plan(&Target::Upstream(&up), &PlanOptions::default())
            .unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(
            prod.apply(&edits).unwrap(),
            format!("images:\n- name: a\n  newTag: v2\n  digest: {d}\n- name: b\n  newTag: v2\n")
        );
    }

    #[test]
    fn pinned_digests_are_written_where_nothing_else_sets_one() {
        let d_up = format!("sha256:{}", "4".repeat(64));
        let d_pin = format!("sha256:{}", "5".repeat(64));
        let d_old = format!("sha256:{}", "6".repeat(64));
        let prod = Overlay::parse("prod.yaml", &format!("images:\n- name: a\n  newName: reg/a\n  newTag: v1\n  digest: {d_old}\n- {{name: b, newTag: v1}}\n")).unwrap();
        let wanted = prod
            .pins_wanted(&Target::Version("v2"), &PlanOptions::default())
            .unwrap();
        assert_eq!(
            wanted,
            [
                PinWanted {
                    name: "a".into(),
                    image: "reg/a".into(),
                    tag: "v2".into()
                },
                PinWanted {
                    name: "b".into(),
                    image: "b".into(),
                    tag: "v2".into()
                }
            ]
        );
        let pin: BTreeMap<String, String> = [
            ("a".to_owned(), d_pin.clone()),
            ("b".to_owned(), d_pin.clone()),
        ]
        .into();
        let (edits, _) = prod
            .plan(
                &Target::Version("v2"),
                &PlanOptions {
                    pin: pin.clone(),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            prod.apply(&edits).unwrap(),
            format!(
                "images:\n- name: a\n  newName: reg/a\n  newTag: v2\n  digest: {d_pin}\n- {{name: b, newTag: v2, digest: {d_pin}}}\n"
            )
        );
        // From upstream: upstream's own digest is copied, not re-resolved.
        let up = Overlay::parse(
            "staging.yaml",
            &format!(
                "images:\n- {{name: a, newTag: v2, digest: {d_up}}}\n- {{name: b, newTag: v2}}\n"
            ),
        )
        .unwrap();
        let wanted = prod
            .pins_wanted(&Target::Upstream(&up), &PlanOptions::default())
            .unwrap();
        assert_eq!(
            wanted.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        // --digest wins over a pin.
        let digests = [("a".to_owned(), d_up.clone())].into();
        let wanted = prod
            .pins_wanted(
                &Target::Version("v2"),
                &PlanOptions {
                    digests,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            wanted.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
    }

    #[test]
    fn already_there_is_no_change() {
        let o = Overlay::parse("k", "images:\n- name: a\n  newTag: v1\n").unwrap();
        let (edits, changes) = o
            .plan(&Target::Version("v1"), &PlanOptions::default())
            .unwrap();
        assert!(edits.is_empty() && changes.is_empty());
    }

    #[test]
    fn bad_overlays_get_named_errors() {
        let no_images =
            promote("resources: [../base]\n", "v1", &PlanOptions::default()).unwrap_err();
        assert!(
            no_images
                .to_string()
                .starts_with("k.yaml: no `images:` list"),
            "{no_images}"
        );
        let dup = promote(
            "images:\n- name: a\n- name: a\n",
            "v1",
            &PlanOptions::default(),
        )
        .unwrap_err();
        assert!(
            dup.to_string()
                .contains("line 3: image `a` is listed twice"),
            "{dup}"
        );
        let syntax = promote(
            "images:\n- name: a\n  newTag: [\n",
            "v1",
            &PlanOptions::default(),
        )
        .unwrap_err();
        assert!(syntax.to_string().starts_with("k.yaml: line"), "{syntax}");
        let bad_tag = promote("images:\n- name: a\n", "v1:x", &PlanOptions::default()).unwrap_err();
        assert!(matches!(bad_tag, OverlayError::BadTag { .. }));
    }

    #[test]
    fn only_names_unknown_images_and_where_they_are_set() {
        let opts = PlanOptions {
            only: vec!["redis".into()],
            elsewhere: vec![(
                "kustomize/base/kustomization.yaml".into(),
                vec!["redis".into()],
            )],
            ..Default::default()
        };
        let err = promote("images:\n- name: a\n", "v1", &opts)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("it is set in kustomize/base/kustomization.yaml"),
            "{err}"
        );
        let only_a = PlanOptions {
            only: vec!["a".into()],
            ..Default::default()
        };
        assert_eq!(
            promote(
                "images:\n- name: a\n  newTag: v0\n- name: b\n  newTag: v0\n",
                "v1",
                &only_a
            )
            .unwrap(),
            "images:\n- name: a\n  newTag: v1\n- name: b\n  newTag: v0\n"
        );
    }

    #[test]
    fn short_names_select_images_when_unambiguous() {
        let text = "images:\n- name: reg.io/shop/cart\n  newTag: v1\n- name: front\n  newName: reg.io/shop/frontend\n  newTag: v1\n- name: other.io/cart\n";
        let o = Overlay::parse("k", text).unwrap();
        assert_eq!(
            o.resolve_name("frontend").unwrap().as_deref(),
            Some("front")
        );
        assert_eq!(o.resolve_name("front").unwrap().as_deref(), Some("front"));
        assert!(matches!(
            o.resolve_name("cart"),
            Err(OverlayError::AmbiguousImage { .. })
        ));
        assert_eq!(o.resolve_name("nope").unwrap(), None);
        let opts = PlanOptions {
            only: vec!["frontend".into()],
            ..Default::default()
        };
        let (_, changes) = o.plan(&Target::Version("v2"), &opts).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].name, "front");
    }

    #[test]
    fn load_refs_lists_every_loaded_path() {
        let o = Overlay::parse("k", "resources:\n- ../base\n- ns.yaml\n- https://github.com/x/y\ncomponents: [../comp]\ntransformers:\n- labels.yaml\n- {apiVersion: builtin, kind: LabelTransformer}\ngenerators: ~\nimages: []\n").unwrap();
        assert_eq!(
            o.load_refs().unwrap(),
            vec![
                "../base",
                "ns.yaml",
                "https://github.com/x/y",
                "../comp",
                "labels.yaml"
            ]
        );
        let helm = Overlay::parse("k", "helmCharts:\n- name: x\nresources: [a.yaml]\n").unwrap();
        assert_eq!(helm.load_refs(), None);
        let odd = Overlay::parse("k", "resources: ../base\n").unwrap();
        assert_eq!(odd.load_refs(), None);
    }

    #[test]
    fn local_refs_skip_files_and_remotes() {
        let o = Overlay::parse("k", "resources:\n- ../base\n- ns.yaml\n- https://github.com/x/y\ncomponents: [../comp]\nimages: []\n").unwrap();
        assert_eq!(o.local_refs(), vec!["../base", "../comp"]);
    }

    fn field(p: &str) -> crate::fields::FieldPath {
        crate::fields::FieldPath::parse(p).unwrap()
    }

    /// `cart` and `checkout` in a shared Helm values file; checkout's repository is given.
    fn helm_images() -> Vec<FieldImage> {
        vec![
            FieldImage {
                name: "cart".into(),
                repository: ImageRepo::Field(field("cart.image.repository")),
                tag: field("cart.image.tag"),
                digest: Some(field("cart.image.digest")),
            },
            FieldImage {
                name: "checkout".into(),
                repository: ImageRepo::Fixed("registry.example.com/shop/checkout".into()),
                tag: field("checkout.tag"),
                digest: None,
            },
        ]
    }

    const VALUES: &str = "\
cart:
  image:
    repository: registry.example.com/shop/cart  # built by CI
    tag: v1.0.0
    digest: \"\"
checkout:
  tag: v1.0.0
";

    #[test]
    fn image_fields_plan_and_apply_like_an_overlay() {
        let o =
            Overlay::parse_fields("charts/shop/values-prod.yaml", VALUES, &helm_images()).unwrap();
        let names: Vec<(&str, &str)> = o
            .images()
            .unwrap()
            .iter()
            .map(|e| (e.name.as_str(), e.runs_as()))
            .collect();
        assert_eq!(
            names,
            [
                ("cart", "registry.example.com/shop/cart"),
                ("checkout", "registry.example.com/shop/checkout")
            ]
        );
        let opts = PlanOptions {
            only: vec!["cart".into()],
            ..PlanOptions::default()
        };
        let (edits, changes) = o.plan(&Target::Version("1.10"), &opts).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(
            o.apply(&edits).unwrap(),
            VALUES.replacen("tag: v1.0.0", "tag: \"1.10\"", 1)
        );
        let d = format!("sha256:{}", "b".repeat(64));
        let opts = PlanOptions {
            digests: [("cart".to_owned(), d.clone())].into(),
            only: vec!["cart".into()],
            ..PlanOptions::default()
        };
        let (edits, _) = o.plan(&Target::Version("v1.1.0"), &opts).unwrap();
        assert_eq!(
            o.apply(&edits).unwrap(),
            VALUES
                .replacen("tag: v1.0.0", "tag: v1.1.0", 1)
                .replace("digest: \"\"", &format!("digest: \"{d}\""))
        );
        let opts = PlanOptions {
            digests: [("checkout".to_owned(), d)].into(),
            ..PlanOptions::default()
        };
        let (edits, _) = o.plan(&Target::Version("v1.1.0"), &opts).unwrap();
        let err = o.apply(&edits).unwrap_err().to_string();
        assert!(err.contains("image `checkout` gets a digest, but its target in promote.yaml maps no `digest` field"), "{err}");
    }

    #[test]
    fn from_an_upstream_of_another_kind_matches_by_the_image_it_runs() {
        let staging = Overlay::parse(
            "overlays/staging/kustomization.yaml",
            "images:\n- name: registry.example.com/shop/cart\n  newTag: v1.2.0\n- name: registry.example.com/shop/checkout\n  newTag: v1.2.1\n",
        )
        .unwrap();
        let prod = Overlay::parse_fields("values-prod.yaml", VALUES, &helm_images()).unwrap();
        let (edits, changes) = prod
            .plan(&Target::Upstream(&staging), &PlanOptions::default())
            .unwrap();
        let to: Vec<String> = changes
            .iter()
            .map(|c| format!("{} {}", c.name, c.to))
            .collect();
        assert_eq!(to, ["cart v1.2.0", "checkout v1.2.1"]);
        assert_eq!(
            prod.apply(&edits).unwrap(),
            VALUES.replacen("tag: v1.0.0", "tag: v1.2.0", 1).replacen(
                "tag: v1.0.0",
                "tag: v1.2.1",
                1
            )
        );
        // And back: a kustomization downstream of Helm values.
        let (_, changes) = staging
            .plan(&Target::Upstream(&prod), &PlanOptions::default())
            .unwrap();
        assert_eq!(changes.len(), 2);
    }

    #[test]
    fn a_new_tag_beside_a_pinned_digest_field_is_refused_and_drop_empties_it() {
        let pinned = VALUES.replace(
            "digest: \"\"",
            &format!("digest: sha256:{}", "c".repeat(64)),
        );
        let o = Overlay::parse_fields("v.yaml", &pinned, &helm_images()).unwrap();
        let err = o
            .plan(&Target::Version("v2"), &PlanOptions::default())
            .unwrap_err();
        assert!(matches!(err, OverlayError::StaleDigest { .. }), "{err}");
        let opts = PlanOptions {
            drop_digests: true,
            ..PlanOptions::default()
        };
        let (edits, _) = o.plan(&Target::Version("v2"), &opts).unwrap();
        let out = o.apply(&edits).unwrap();
        assert!(out.contains("    digest: \"\"\n"), "{out}");
        assert!(!out.contains("v1.0.0"), "{out}");
    }
}
