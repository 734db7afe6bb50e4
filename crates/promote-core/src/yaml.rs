//! All YAML parsing of `kubectl promote` lives here.
//!
//! Two needs, one parser family: typed documents (`promote.yaml`, approval records) go through
//! `serde-saphyr`; `kustomization.yaml` is read as a tree of nodes that remember their exact byte
//! ranges, parsed with `granit-parser` (the event parser `serde-saphyr` itself is built on), so the
//! overlay editor can rewrite single scalars and leave every other byte alone. `serde_yaml` is not
//! used: it is deprecated and its backend is flagged unmaintained (RUSTSEC-2024-0449).

use std::ops::Range;

use std::collections::HashMap;

use granit_parser::{Event, Options, Parser, ScalarStyle, StructureStyle};
use serde::de::DeserializeOwned;

/// A YAML document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    /// The text is not YAML.
    #[error("{file}: line {line}, column {column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// The YAML does not have the expected shape (serde's message, with its location).
    #[error("{file}: {message}")]
    Shape { file: String, message: String },
    /// A construct this tool refuses to edit around (anchors, aliases, tags, several documents).
    #[error("{file}: line {line}: {message}")]
    Unsupported {
        file: String,
        line: usize,
        message: String,
    },
}

impl YamlError {
    /// What is wrong, without the file: for callers whose own error already names the file.
    pub fn message(&self) -> &str {
        match self {
            YamlError::Syntax { message, .. }
            | YamlError::Shape { message, .. }
            | YamlError::Unsupported { message, .. } => message,
        }
    }
}

/// Deserialize a whole document into `T` (unknown keys are refused where `T` says so).
pub fn from_str<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, YamlError> {
    serde_saphyr::from_str(text).map_err(|e| YamlError::Shape {
        file: file.to_owned(),
        message: e.to_string(),
    })
}

/// Deserialize every document of a multi-document stream (rendered manifests, `---`
/// separated). Null documents are skipped. The budget is sized for what `kustomize build`
/// prints for a large application (thousands of objects; the default stops at 1,024
/// documents) and for deep CRD schemas (nesting up to 256, where the default stops at 64),
/// and still bounds what a hostile tree can make us build; the alias limits stay as they are.
pub fn from_documents<T: DeserializeOwned>(file: &str, text: &str) -> Result<Vec<T>, YamlError> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: 100_000,
            max_events: 50_000_000,
            max_nodes: 10_000_000,
            max_total_scalar_bytes: 256 << 20,
            max_depth: 256,
        },
    };
    serde_saphyr::from_multiple_with_options(text, options).map_err(|e| YamlError::Shape {
        file: file.to_owned(),
        message: e.to_string(),
    })
}

/// Serialize a value as YAML (for `-o yaml` and files we write whole).
pub fn to_string<T: serde::Serialize>(value: &T) -> Result<String, String> {
    serde_saphyr::to_string(value).map_err(|e| e.to_string())
}

/// The source style of a scalar, which an edit keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    Plain,
    Single,
    Double,
    Block,
}

/// A scalar with its value and the bytes it occupies in the source (quotes included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    pub value: String,
    pub quote: Quote,
    pub range: Range<usize>,
    /// 1-based line of the scalar's first byte.
    pub line: usize,
    /// 0-based column (in characters) of the scalar's first byte.
    pub column: usize,
    /// The anchor defined on this scalar (`&name`), kept only by [`Anchors::Keep`].
    pub anchor: Option<String>,
}

/// Block or flow collection style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Block,
    Flow,
}

/// A YAML node with byte ranges, enough to edit a document without re-serializing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Scalar(Scalar),
    Mapping {
        style: Style,
        range: Range<usize>,
        line: usize,
        anchor: Option<String>,
        entries: Vec<(Scalar, Node)>,
    },
    Sequence {
        style: Style,
        range: Range<usize>,
        line: usize,
        anchor: Option<String>,
        items: Vec<Node>,
    },
    /// `*name`: another node's value, only under [`Anchors::Keep`].
    Alias {
        name: String,
        range: Range<usize>,
        line: usize,
    },
}

/// What [`parse_tree_with`] does with anchors (`&name`) and aliases (`*name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchors {
    /// Refuse aliases: files we edit in place where nobody needs them (kustomizations).
    Refuse,
    /// Keep both in the tree, for files that use them (Helm values): the editor then refuses an
    /// edit that would go through one.
    Keep,
}

impl Node {
    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Mapping { entries, .. } => {
                entries.iter().find(|(k, _)| k.value == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// The key scalar and value under `key` in a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Scalar, &Node)> {
        match self {
            Node::Mapping { entries, .. } => entries
                .iter()
                .find(|(k, _)| k.value == key)
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    pub fn as_scalar(&self) -> Option<&Scalar> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn line(&self) -> usize {
        match self {
            Node::Scalar(s) => s.line,
            Node::Mapping { line, .. } | Node::Sequence { line, .. } | Node::Alias { line, .. } => {
                *line
            }
        }
    }

    /// The byte offset where this node's text ends.
    pub fn end(&self) -> usize {
        match self {
            Node::Scalar(s) => s.range.end,
            Node::Mapping { range, .. }
            | Node::Sequence { range, .. }
            | Node::Alias { range, .. } => range.end,
        }
    }

    /// The anchor this node defines, if any.
    pub fn anchor(&self) -> Option<&str> {
        match self {
            Node::Scalar(s) => s.anchor.as_deref(),
            Node::Mapping { anchor, .. } | Node::Sequence { anchor, .. } => anchor.as_deref(),
            Node::Alias { .. } => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Node::Scalar(_) => "a scalar",
            Node::Mapping { .. } => "a mapping",
            Node::Sequence { .. } => "a list",
            Node::Alias { .. } => "an alias",
        }
    }
}

/// Parse one YAML document into a [`Node`] tree that keeps byte ranges.
///
/// Aliases, tags and multi-document files are refused: an edit next to them could change what
/// other nodes mean, and kustomization files do not need them.
pub fn parse_tree(file: &str, text: &str) -> Result<Node, YamlError> {
    parse_tree_with(file, text, Anchors::Refuse)
}

/// [`parse_tree`], keeping anchors and aliases in the tree under [`Anchors::Keep`].
pub fn parse_tree_with(file: &str, text: &str, anchors: Anchors) -> Result<Node, YamlError> {
    let unsupported = |line: usize, message: &str| YamlError::Unsupported {
        file: file.to_owned(),
        line,
        message: message.to_owned(),
    };
    let mut options = Options::default();
    options.emit_anchor_events = true;
    let mut events = Vec::new();
    let mut names: HashMap<usize, String> = HashMap::new();
    for item in Parser::new_from_str_with_options(text, options) {
        let (event, span) = item.map_err(|e| {
            let m = e.marker();
            YamlError::Syntax {
                file: file.to_owned(),
                line: m.line(),
                column: m.col() + 1,
                message: e.info().to_owned(),
            }
        })?;
        let range = span.byte_range().unwrap_or(0..0);
        let line = span.start.line();
        let column = span.start.col();
        match event {
            Event::DocumentStart(..) | Event::DocumentEnd => {
                events.push((Ev::Doc, range, line, column))
            }
            Event::Anchor(id, name) => {
                names.insert(id, name.into_owned());
            }
            Event::Alias(id) if anchors == Anchors::Keep => {
                events.push((Ev::Alias(id), range, line, column))
            }
            Event::Alias(_) | Event::UnresolvedAlias(_) => {
                return Err(unsupported(
                    line,
                    "anchors and aliases are not supported here; write the values out",
                ));
            }
            Event::Scalar(value, style, anchor, tag) => {
                if tag.is_some() {
                    return Err(unsupported(line, "YAML tags (`!…`) are not supported here"));
                }
                let quote = match style {
                    ScalarStyle::Plain => Quote::Plain,
                    ScalarStyle::SingleQuoted => Quote::Single,
                    ScalarStyle::DoubleQuoted => Quote::Double,
                    ScalarStyle::Literal | ScalarStyle::Folded => Quote::Block,
                };
                events.push((
                    Ev::Scalar(value.into_owned(), quote, anchor),
                    range,
                    line,
                    column,
                ));
            }
            Event::SequenceStart(style, anchor, _) => {
                events.push((Ev::SeqStart(style.into(), anchor), range, line, column))
            }
            Event::SequenceEnd => events.push((Ev::SeqEnd, range, line, column)),
            Event::MappingStart(style, anchor, _) => {
                events.push((Ev::MapStart(style.into(), anchor), range, line, column))
            }
            Event::MappingEnd => events.push((Ev::MapEnd, range, line, column)),
            _ => {}
        }
    }
    let docs = events.iter().filter(|e| matches!(e.0, Ev::Doc)).count();
    if docs > 2 {
        return Err(unsupported(
            1,
            "several YAML documents in one file; keep one",
        ));
    }
    let mut it = events
        .into_iter()
        .filter(|e| !matches!(e.0, Ev::Doc))
        .peekable();
    match it.peek() {
        None => Ok(Node::Mapping {
            style: Style::Block,
            range: 0..0,
            line: 1,
            anchor: None,
            entries: Vec::new(),
        }),
        Some(_) => build(
            &Builder {
                file,
                text,
                names: &names,
            },
            &mut it,
        ),
    }
}

impl From<StructureStyle> for Style {
    fn from(s: StructureStyle) -> Self {
        match s {
            StructureStyle::Block => Style::Block,
            StructureStyle::Flow => Style::Flow,
        }
    }
}

enum Ev {
    Doc,
    /// A scalar, its style and the id of the anchor it defines (0: none).
    Scalar(String, Quote, usize),
    SeqStart(Style, usize),
    SeqEnd,
    MapStart(Style, usize),
    MapEnd,
    /// An alias of the anchor with this id.
    Alias(usize),
}

/// What [`build`] reads besides the events: the file (for messages), its text, anchor names.
struct Builder<'a> {
    file: &'a str,
    text: &'a str,
    names: &'a HashMap<usize, String>,
}

impl Builder<'_> {
    fn anchor(&self, id: usize) -> Option<String> {
        (id != 0).then(|| {
            self.names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| format!("#{id}"))
        })
    }
}

type Item = (Ev, Range<usize>, usize, usize);

fn build(
    b: &Builder<'_>,
    it: &mut std::iter::Peekable<impl Iterator<Item = Item>>,
) -> Result<Node, YamlError> {
    let (file, text) = (b.file, b.text);
    let truncated = || YamlError::Syntax {
        file: file.to_owned(),
        line: 0,
        column: 0,
        message: "unexpected end".into(),
    };
    let (ev, range, line, column) = it.next().ok_or_else(truncated)?;
    match ev {
        Ev::Scalar(value, quote, anchor) => Ok(Node::Scalar(Scalar {
            value,
            quote,
            range,
            line,
            column,
            anchor: b.anchor(anchor),
        })),
        Ev::Alias(id) => Ok(Node::Alias {
            name: b.anchor(id).unwrap_or_default(),
            range,
            line,
        }),
        Ev::SeqStart(style, anchor) => {
            let mut items = Vec::new();
            loop {
                if let Some((Ev::SeqEnd, end, ..)) = it.peek() {
                    let end = end.end;
                    it.next();
                    let end = end.max(items.last().map_or(range.end, Node::end));
                    return Ok(Node::Sequence {
                        style,
                        range: range.start..end,
                        line,
                        anchor: b.anchor(anchor),
                        items,
                    });
                }
                items.push(build(b, it)?);
            }
        }
        Ev::MapStart(style, anchor) => {
            let mut entries: Vec<(Scalar, Node)> = Vec::new();
            loop {
                if let Some((Ev::MapEnd, end, ..)) = it.peek() {
                    let end = end.end;
                    it.next();
                    let end = end.max(entries.last().map_or(range.end, |(_, v)| v.end()));
                    return Ok(Node::Mapping {
                        style,
                        range: range.start..end,
                        line,
                        anchor: b.anchor(anchor),
                        entries,
                    });
                }
                let key = match build(b, it)? {
                    Node::Scalar(s) => s,
                    other => {
                        return Err(YamlError::Unsupported {
                            file: file.to_owned(),
                            line: other.line(),
                            message: "complex mapping keys are not supported".into(),
                        });
                    }
                };
                if entries.iter().any(|(k, _)| k.value == key.value) {
                    return Err(YamlError::Syntax {
                        file: file.to_owned(),
                        line: key.line,
                        column: key.column + 1,
                        message: format!("duplicate key `{}`", key.value),
                    });
                }
                let value = match build(b, it)? {
                    // An implicit null (`key:` and nothing) has no bytes, and the parser puts it
                    // at the key's end; it belongs after the colon, where a value would be written.
                    Node::Scalar(mut s) if s.range.is_empty() => {
                        let at = after_colon(text, key.range.end);
                        s.column += text.get(s.range.start..at).map_or(0, |t| t.chars().count());
                        s.range = at..at;
                        Node::Scalar(s)
                    }
                    other => other,
                };
                entries.push((key, value));
            }
        }
        Ev::SeqEnd | Ev::MapEnd | Ev::Doc => Err(YamlError::Syntax {
            file: file.to_owned(),
            line,
            column: column + 1,
            message: "unexpected end of a collection".into(),
        }),
    }
}

/// Just past the `:` that follows a mapping key ending at `key_end` (spaces may come between);
/// `key_end` itself when there is none (a flow mapping's `{key}`).
fn after_colon(text: &str, key_end: usize) -> usize {
    let rest = text.get(key_end..).unwrap_or_default();
    match rest.find(|c: char| c != ' ' && c != '\t') {
        Some(i) if rest[i..].starts_with(':') => key_end + i + 1,
        _ => key_end,
    }
}

/// The quote style a file already uses most (double when it uses none): what a value that
/// cannot stay plain is written in.
pub fn preferred_quote(tree: &Node) -> Quote {
    fn walk(n: &Node, counts: &mut (usize, usize)) {
        match n {
            Node::Scalar(s) => match s.quote {
                Quote::Single => counts.0 += 1,
                Quote::Double => counts.1 += 1,
                _ => {}
            },
            Node::Mapping { entries, .. } => entries.iter().for_each(|(_, v)| walk(v, counts)),
            Node::Sequence { items, .. } => items.iter().for_each(|v| walk(v, counts)),
            Node::Alias { .. } => {}
        }
    }
    let mut counts = (0, 0);
    walk(tree, &mut counts);
    if counts.0 > counts.1 {
        Quote::Single
    } else {
        Quote::Double
    }
}

/// Would `value`, written as a plain scalar, read back as something other than this string
/// (a number, a boolean, null) or not parse at all? Then it must be quoted.
pub fn needs_quotes(value: &str) -> bool {
    if value.is_empty() || value != value.trim() {
        return true;
    }
    let lower = value.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "~" | "null"
            | "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | ".inf"
            | "-.inf"
            | "+.inf"
            | ".nan"
    ) {
        return true;
    }
    let numeric = value.trim_start_matches(['+', '-']);
    if value.parse::<f64>().is_ok()
        || (numeric.starts_with("0x") && i64::from_str_radix(&numeric[2..], 16).is_ok())
        || (numeric.starts_with("0o") && i64::from_str_radix(&numeric[2..], 8).is_ok())
        || (!numeric.is_empty()
            && numeric
                .chars()
                .all(|c| c.is_ascii_digit() || c == '_' || c == ':' || c == '.')
            && numeric.chars().next().is_some_and(|c| c.is_ascii_digit())
            && numeric.matches('.').count() <= 1)
    {
        return true;
    }
    let first = value.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return true;
    }
    value.contains(": ")
        || value.contains(" #")
        || value.ends_with(':')
        || value.contains(|c: char| c.is_control() || c == '\u{feff}')
}

/// Write `value` as a scalar in the given style (a plain style that cannot hold it becomes
/// `fallback`).
pub fn render_scalar(value: &str, quote: Quote, fallback: Quote) -> String {
    let quote = match quote {
        Quote::Plain if needs_quotes(value) => fallback,
        Quote::Block => Quote::Double,
        q => q,
    };
    // Single quotes fold line breaks and cannot escape: such values need double quotes.
    let quote = if quote == Quote::Single && value.contains(|c: char| c.is_control() && c != '\t') {
        Quote::Double
    } else {
        quote
    };
    match quote {
        Quote::Plain | Quote::Block => value.to_owned(),
        Quote::Single => format!("'{}'", value.replace('\'', "''")),
        Quote::Double => {
            let mut out = String::with_capacity(value.len() + 2);
            out.push('"');
            for c in value.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push('\t'),
                    c if c.is_control() || c == '\u{feff}' => {
                        out.push_str(&format!("\\u{:04x}", u32::from(c)))
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_quotes_and_survive_crlf() {
        let text = "images:\r\n- name: 'a'\r\n  newTag: \"v1\"\r\n";
        let tree = parse_tree("k.yaml", text).unwrap();
        let Some(Node::Sequence { items, .. }) = tree.get("images") else {
            panic!("no images")
        };
        let tag = items[0].get("newTag").unwrap().as_scalar().unwrap();
        assert_eq!(&text[tag.range.clone()], "\"v1\"");
        assert_eq!(tag.quote, Quote::Double);
        assert_eq!(tag.line, 3);
    }

    #[test]
    fn duplicate_keys_and_aliases_are_refused() {
        assert!(
            parse_tree("k", "a: 1\na: 2\n")
                .unwrap_err()
                .to_string()
                .contains("duplicate key `a`")
        );
        assert!(parse_tree("k", "a: &x 1\nb: *x\n").is_err());
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let err =
            parse_tree("kustomize/prod/kustomization.yaml", "images:\n- name: [a\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("kustomize/prod/kustomization.yaml: line"),
            "{err}"
        );
    }

    #[test]
    fn numeric_looking_tags_are_quoted() {
        for v in [
            "1234", "3.2e2", "1.0", "true", "no", "0x1F", "", "1_000", "12:30",
        ] {
            assert!(needs_quotes(v), "{v}");
        }
        for v in ["v1.0.1", "1.2.3", "latest", "sha-abc", "2024.01.02-rc1"] {
            assert!(!needs_quotes(v), "{v}");
        }
        assert_eq!(render_scalar("1234", Quote::Plain, Quote::Single), "'1234'");
        assert_eq!(
            render_scalar("it's", Quote::Single, Quote::Double),
            "'it''s'"
        );
    }

    #[test]
    fn line_breaks_and_control_characters_are_escaped() {
        for v in [
            "a\nb",
            "a\r\nb",
            "tab\there",
            "nul\u{0}x",
            "bell\u{7}",
            "\u{85}next",
            "back\\slash \"q\"",
        ] {
            for (quote, fallback) in [
                (Quote::Plain, Quote::Single),
                (Quote::Single, Quote::Single),
                (Quote::Double, Quote::Double),
            ] {
                let text = format!("k: {}\n", render_scalar(v, quote, fallback));
                let tree = parse_tree("k", &text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
                assert_eq!(
                    tree.get("k")
                        .and_then(Node::as_scalar)
                        .map(|s| s.value.as_str()),
                    Some(v),
                    "{text:?}"
                );
            }
        }
    }
}
