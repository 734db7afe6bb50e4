//! Fuzzes the byte-minimal overlay editor (`promote_core::overlay`): parse → plan → apply.
//!
//! The input is structured (a kustomization-like document built from `arbitrary` parts: comments,
//! other keys, block or flow `images:` entries in any key order and quote style, CRLF or LF, plus
//! an edit plan: a version or an upstream overlay, `--only`, `--digest`, `--drop-digest`), with a
//! raw-text escape hatch so the parser also sees garbage. The invariants:
//! - nothing panics; every error renders to a message;
//! - when the plan succeeds, `apply` succeeds, and its output re-parses and holds exactly the
//!   intended values (the planned `to` for changed images, the old pins for the rest);
//! - nothing outside the edited entries changes (a character diff of input and output touches only
//!   the lines of entries that were edited), and inside them every scalar other than the targeted
//!   `newTag`/`digest` keeps its exact source text; no key appears but `newTag`/`digest`.

#![no_main]

use std::collections::BTreeSet;
use std::ops::Range;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use promote_core::overlay::{Overlay, PlanOptions, Target};
use promote_core::yaml::{self, Node};

#[derive(Arbitrary, Debug)]
struct Input {
    doc: Doc,
    upstream: Option<Doc>,
    version: Pick,
    only: Vec<Pick>,
    digests: Vec<(Pick, Pick)>,
    drop_digests: bool,
    /// When set, this text is the document (the parser's robustness), and `doc` is ignored.
    raw: Option<String>,
}

#[derive(Arbitrary, Debug)]
struct Doc {
    crlf: bool,
    head: Vec<Extra>,
    images: Images,
    tail: Vec<Extra>,
}

/// Something around `images:` that must survive untouched.
#[derive(Arbitrary, Debug)]
enum Extra {
    Comment(Pick),
    Resources { flow: bool, items: Vec<Pick> },
    Key(Pick, Value),
    Blank,
}

#[derive(Arbitrary, Debug)]
enum Images {
    Block { dash_indent: u8, gap: u8, entries: Vec<Entry> },
    Flow { entries: Vec<Entry> },
    Empty,
    Null,
}

#[derive(Arbitrary, Debug)]
struct Entry {
    flow: bool,
    leading_comment: Option<Pick>,
    keys: Vec<(Key, Value, Option<Pick>)>,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Name,
    NewName,
    NewTag,
    Digest,
    TagSuffix,
    Other,
}

#[derive(Arbitrary, Debug)]
struct Value {
    text: Pick,
    quote: Q,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Q {
    Plain,
    Single,
    Double,
}

/// A value from a small pool that makes names collide and tags valid (so plans succeed often),
/// or any string.
#[derive(Arbitrary, Debug)]
enum Pick {
    Pool(u8),
    Any(String),
}

const POOL: &[&str] = &[
    "a",
    "b",
    "reg.io/shop/cart",
    "cart",
    "front",
    "v1",
    "v1.0.1",
    "1234",
    "1.0",
    "sha256:1111111111111111111111111111111111111111111111111111111111111111",
    "sha256:2222222222222222222222222222222222222222222222222222222222222222",
    "",
    "null",
    "it's",
    "a: b",
    "x #y",
    "true",
    "latest",
];

impl Pick {
    fn text(&self) -> String {
        match self {
            Pick::Pool(i) => POOL[usize::from(*i) % POOL.len()].to_owned(),
            Pick::Any(s) => s.chars().take(40).collect(),
        }
    }
}

impl Key {
    fn text(self) -> &'static str {
        match self {
            Key::Name => "name",
            Key::NewName => "newName",
            Key::NewTag => "newTag",
            Key::Digest => "digest",
            Key::TagSuffix => "tagSuffix",
            Key::Other => "x-note",
        }
    }
}

fn scalar(v: &Value) -> String {
    let t = v.text.text();
    match v.quote {
        Q::Plain => t,
        Q::Single => format!("'{}'", t.replace('\'', "''")),
        Q::Double => format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").replace('\r', "\\r")),
    }
}

fn comment(p: &Pick) -> String {
    p.text().replace(['\n', '\r'], " ")
}

fn render(doc: &Doc) -> String {
    let eol = if doc.crlf { "\r\n" } else { "\n" };
    let mut out = String::new();
    let extra = |out: &mut String, e: &Extra| match e {
        Extra::Comment(c) => out.push_str(&format!("# {}{eol}", comment(c))),
        Extra::Blank => out.push_str(eol),
        Extra::Resources { flow: true, items } => {
            let items: Vec<String> = items.iter().take(4).map(|i| i.text()).collect();
            out.push_str(&format!("resources: [{}]{eol}", items.join(", ")));
        }
        Extra::Resources { flow: false, items } => {
            out.push_str(&format!("resources:{eol}"));
            for i in items.iter().take(4) {
                out.push_str(&format!("- {}{eol}", i.text()));
            }
        }
        Extra::Key(k, v) => out.push_str(&format!("{}: {}{eol}", k.text(), scalar(v))),
    };
    for e in doc.head.iter().take(4) {
        extra(&mut out, e);
    }
    match &doc.images {
        Images::Empty => out.push_str(&format!("images: []{eol}")),
        Images::Null => out.push_str(&format!("images:{eol}")),
        Images::Flow { entries } => {
            let items: Vec<String> = entries.iter().take(5).map(flow_entry).collect();
            out.push_str(&format!("images: [{}]{eol}", items.join(", ")));
        }
        Images::Block { dash_indent, gap, entries } => {
            out.push_str(&format!("images:{eol}"));
            let dash = " ".repeat(usize::from(dash_indent % 4));
            let gap = " ".repeat(usize::from(gap % 3) + 1);
            let column = dash.len() + 1 + gap.len();
            for e in entries.iter().take(5) {
                if let Some(c) = &e.leading_comment {
                    out.push_str(&format!("{dash}# {}{eol}", comment(c)));
                }
                if e.flow || e.keys.is_empty() {
                    out.push_str(&format!("{dash}-{gap}{}{eol}", flow_entry(e)));
                    continue;
                }
                for (i, (k, v, c)) in e.keys.iter().take(6).enumerate() {
                    let lead = if i == 0 { format!("{dash}-{gap}") } else { " ".repeat(column) };
                    let c = c.as_ref().map(|c| format!(" # {}", comment(c))).unwrap_or_default();
                    out.push_str(&format!("{lead}{}: {}{c}{eol}", k.text(), scalar(v)));
                }
            }
        }
    }
    for e in doc.tail.iter().take(4) {
        extra(&mut out, e);
    }
    out
}

fn flow_entry(e: &Entry) -> String {
    let keys: Vec<String> = e.keys.iter().take(6).map(|(k, v, _)| format!("{}: {}", k.text(), scalar(v))).collect();
    format!("{{{}}}", keys.join(", "))
}

fuzz_target!(|input: Input| {
    let text = match &input.raw {
        Some(raw) => raw.clone(),
        None => render(&input.doc),
    };
    if text.len() > 4096 {
        return;
    }
    let before = match Overlay::parse("k.yaml", &text) {
        Ok(o) => o,
        Err(e) => return assert!(!e.to_string().is_empty()),
    };
    let upstream = match &input.upstream {
        Some(doc) => match Overlay::parse("up.yaml", &render(doc)) {
            Ok(o) => Some(o),
            Err(e) => return assert!(!e.to_string().is_empty()),
        },
        None => None,
    };
    let version = input.version.text();
    let target = match &upstream {
        Some(up) => Target::Upstream(up),
        None => Target::Version(&version),
    };
    let opts = PlanOptions {
        only: input.only.iter().take(3).map(Pick::text).collect(),
        digests: input.digests.iter().take(3).map(|(n, d)| (n.text(), d.text())).collect(),
        drop_digests: input.drop_digests,
        elsewhere: Vec::new(),
    };
    let (edits, changes) = match before.plan(&target, &opts) {
        Ok(p) => p,
        Err(e) => return assert!(!e.to_string().is_empty()),
    };
    assert_eq!(edits.len(), changes.len());
    let out = before.apply(&edits).unwrap_or_else(|e| panic!("a planned edit failed to apply: {e}\n--- input\n{text:?}"));
    if edits.is_empty() {
        assert_eq!(out, text, "no edits must mean no change");
        return;
    }

    // Re-parses and holds the intended values.
    let after = Overlay::parse("k.yaml", &out).unwrap_or_else(|e| panic!("the edit does not re-parse: {e}\n--- input\n{text:?}\n--- output\n{out:?}"));
    let mut expected = before.image_map();
    for c in &changes {
        expected.insert(c.name.clone(), c.to.clone());
    }
    assert_eq!(after.image_map(), expected, "the edit holds other values\n--- input\n{text:?}\n--- output\n{out:?}");

    // Only the edited entries change, and inside them only the targeted scalars.
    let edited: BTreeSet<&str> = edits.iter().map(|e| e.name.as_str()).collect();
    let old_tree = yaml::parse_tree("k.yaml", &text).unwrap();
    let new_tree = yaml::parse_tree("k.yaml", &out).unwrap();
    let (Node::Mapping { entries: old_top, .. }, Node::Mapping { entries: new_top, .. }) = (&old_tree, &new_tree) else {
        panic!("both documents are mappings");
    };
    assert_eq!(old_top.len(), new_top.len());
    let mut allowed: Vec<Range<usize>> = Vec::new();
    for ((ok, ov), (nk, nv)) in old_top.iter().zip(new_top) {
        assert_eq!(&text[ok.range.clone()], &out[nk.range.clone()]);
        if ok.value != "images" {
            assert_eq!(&text[span(ov)], &out[span(nv)], "a key other than images changed");
            continue;
        }
        let (Node::Sequence { items: old_items, .. }, Node::Sequence { items: new_items, .. }) = (ov, nv) else {
            panic!("images stays a list");
        };
        assert_eq!(old_items.len(), new_items.len());
        for (oi, ni) in old_items.iter().zip(new_items) {
            let name = oi.get("name").and_then(Node::as_scalar).map(|s| s.value.as_str()).unwrap_or_default();
            if !edited.contains(name) {
                assert_eq!(&text[span(oi)], &out[span(ni)], "entry {name} was not edited but changed");
                continue;
            }
            allowed.push(line_start(&text, span(oi).start)..line_after(&text, span(oi).end));
            let (Node::Mapping { entries: oe, .. }, Node::Mapping { entries: ne, .. }) = (oi, ni) else { panic!("entries are mappings") };
            for (k, v) in oe {
                let targeted = k.value == "newTag" || k.value == "digest";
                match ne.iter().find(|(nk, _)| nk.value == k.value) {
                    Some((nk, nv)) => {
                        assert_eq!(&text[k.range.clone()], &out[nk.range.clone()], "a key's text changed");
                        if !targeted {
                            assert_eq!(&text[span(v)], &out[span(nv)], "`{}` of {name} changed", k.value);
                        }
                    }
                    None => assert!(k.value == "digest", "`{}` of {name} disappeared", k.value),
                }
            }
            for (nk, _) in ne {
                let known = oe.iter().any(|(k, _)| k.value == nk.value);
                assert!(known || nk.value == "newTag" || nk.value == "digest", "`{}` appeared in {name}", nk.value);
            }
        }
    }
    for op in similar::TextDiff::from_chars(text.as_str(), out.as_str()).ops() {
        if op.tag() == similar::DiffTag::Equal {
            continue;
        }
        let old = op.old_range();
        // Character indices → byte offsets.
        let start = text.char_indices().nth(old.start).map_or(text.len(), |(i, _)| i);
        let end = text.char_indices().nth(old.end).map_or(text.len(), |(i, _)| i);
        assert!(
            allowed.iter().any(|r| r.start <= start && end <= r.end),
            "bytes {start}..{end} changed outside the edited entries\n--- input\n{text:?}\n--- output\n{out:?}"
        );
    }
});

fn span(n: &Node) -> Range<usize> {
    match n {
        Node::Scalar(s) => s.range.clone(),
        Node::Mapping { range, .. } | Node::Sequence { range, .. } => range.clone(),
    }
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// The offset just past the end of the line holding `at` (its line break included).
fn line_after(text: &str, at: usize) -> usize {
    text[at..].find('\n').map_or(text.len(), |i| at + i + 1)
}
