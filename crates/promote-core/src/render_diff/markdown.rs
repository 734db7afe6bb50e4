//! The rendered diff in a pull request: a summary line per object in the body, the patches in a
//! collapsed block, and whatever does not fit the forge's size limit in follow-up comments,
//! split at object boundaries (a reviewer never gets half an object in one comment and the rest
//! in the next, unless one object alone passes the limit, which is then cut with a note).
//!
//! Object names and patches come from rendered manifests, i.e. from git: inline names have
//! their backticks replaced and code fences are longer than any backtick run they hold, so no
//! text of theirs can close our Markdown and write its own.

use super::ObjectDiff;

/// The diff's share of a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markdown {
    /// The section for the body: summary lines and as many patches as fit.
    pub body: String,
    /// Follow-up comments, in order, each within the limit.
    pub comments: Vec<String>,
}

/// Render `diffs` of `env` for a body that may take `budget` more characters, and comments of
/// at most `limit` characters each. `how_to_see` is the command that prints the whole diff.
pub fn markdown(
    env: &str,
    diffs: &[ObjectDiff],
    budget: usize,
    limit: usize,
    how_to_see: &str,
) -> Markdown {
    let mut body = format!(
        "#### Rendered changes in {} ({} object{})\n\n",
        inline(env),
        diffs.len(),
        if diffs.len() == 1 { "" } else { "s" }
    );
    if diffs.is_empty() {
        body.push_str("The render is the same object by object.\n");
        return Markdown {
            body,
            comments: Vec::new(),
        };
    }
    for d in diffs {
        body.push_str(&format!("- {}\n", summary_line(d)));
    }
    body.push('\n');
    let blocks: Vec<String> = diffs.iter().map(|d| block(d, limit)).collect();
    // The patches that fit go into the body's collapsed block; the rest into comments.
    let open = "<details><summary>Patches</summary>\n\n";
    let close = "</details>\n";
    let mut in_body = 0;
    let mut used = body.len() + open.len() + close.len();
    while in_body < blocks.len() && used + blocks[in_body].len() <= budget {
        used += blocks[in_body].len();
        in_body += 1;
    }
    if in_body > 0 {
        body.push_str(open);
        for b in &blocks[..in_body] {
            body.push_str(b);
        }
        body.push_str(close);
    }
    let rest = &blocks[in_body..];
    if !rest.is_empty() {
        body.push_str(&format!(
            "\n{} patch{} did not fit here: see the comments below, or run `{}`.\n",
            rest.len(),
            if rest.len() == 1 { "" } else { "es" },
            inline(how_to_see)
        ));
    }
    Markdown {
        body,
        comments: comments(env, rest, limit),
    }
}

/// Follow-up comments of at most `limit` characters, each a run of whole blocks.
fn comments(env: &str, blocks: &[String], limit: usize) -> Vec<String> {
    let head = |n: usize| {
        format!(
            "#### Rendered changes in {} (continued, {n})\n\n",
            inline(env)
        )
    };
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for b in blocks {
        if !current.is_empty() && current.len() + b.len() > limit {
            out.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current = head(out.len() + 1);
        }
        current.push_str(b);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn summary_line(d: &ObjectDiff) -> String {
    let what = match d.change {
        super::Change::Added => "added".to_owned(),
        super::Change::Removed => "removed".to_owned(),
        super::Change::Changed => {
            let shown: Vec<String> = d.fields.iter().take(6).map(|f| inline(f)).collect();
            let more = d.fields.len().saturating_sub(shown.len());
            let mut s = shown.join(", ");
            if more > 0 {
                s.push_str(&format!(" and {more} more"));
            }
            s
        }
    };
    let secret = if d.secret { " (values hidden)" } else { "" };
    format!("{} {}{secret}: {what}", mark(d), inline(&d.id))
}

fn mark(d: &ObjectDiff) -> &'static str {
    match d.change {
        super::Change::Added => "➕",
        super::Change::Removed => "➖",
        super::Change::Changed => "✏️",
    }
}

/// One object's patch as a fenced `diff` block, cut to fit `limit` with a note.
fn block(d: &ObjectDiff, limit: usize) -> String {
    let fence = fence_for(&d.patch);
    let title = format!("**{}** {}\n\n", inline(&d.id), d.change);
    let frame = title.len() + 2 * fence.len() + "diff\n\n\n".len() + 200;
    let room = limit.saturating_sub(frame);
    let patch = if d.patch.len() > room {
        let mut cut = room;
        while !d.patch.is_char_boundary(cut) {
            cut -= 1;
        }
        let shown = &d.patch[..d.patch[..cut].rfind('\n').map_or(0, |i| i + 1)];
        let hidden = d.patch[shown.len()..].lines().count();
        format!("{shown}… {hidden} more lines not shown\n")
    } else {
        d.patch.clone()
    };
    format!("{title}{fence}diff\n{patch}{fence}\n\n")
}

/// A backtick fence longer than any run of backticks in `text`.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// Text as inline code that cannot end early.
fn inline(text: &str) -> String {
    format!("`{}`", text.replace('`', "'").replace(['\n', '\r'], " "))
}

#[cfg(test)]
mod tests {
    use super::super::{Change, ObjectDiff};
    use super::*;

    fn object(i: usize, patch_lines: usize) -> ObjectDiff {
        let patch = (0..patch_lines)
            .map(|l| format!("+line {l} of object {i}\n"))
            .collect::<String>();
        ObjectDiff {
            id: format!("ConfigMap shop/c{i}"),
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: Some("shop".into()),
            name: format!("c{i}"),
            change: Change::Changed,
            fields: vec!["data.a".into()],
            patch,
            secret: false,
        }
    }

    #[test]
    fn everything_fits_in_the_body() {
        let m = markdown(
            "prod",
            &[object(1, 3)],
            10_000,
            65_536,
            "kubectl promote diff prod v2",
        );
        assert!(m.comments.is_empty());
        assert!(
            m.body.contains("- ✏️ `ConfigMap shop/c1`: `data.a`\n"),
            "{}",
            m.body
        );
        assert!(m.body.contains("<details><summary>Patches</summary>"));
        assert!(
            m.body.contains("```diff\n+line 0 of object 1\n"),
            "{}",
            m.body
        );
    }

    #[test]
    fn what_does_not_fit_goes_to_comments_split_at_object_boundaries() {
        let diffs: Vec<_> = (0..40).map(|i| object(i, 100)).collect();
        let limit = 10_000;
        let m = markdown("prod", &diffs, 5_000, limit, "kubectl promote diff prod v2");
        // Every summary line stays in the body.
        assert_eq!(m.body.matches("- ✏️").count(), 40);
        assert!(m.body.contains("did not fit here"), "{}", m.body);
        assert!(!m.comments.is_empty());
        let mut seen = 0;
        for c in &m.comments {
            assert!(c.len() <= limit, "{} > {limit}", c.len());
            // Whole objects only: every block opened is closed in the same comment.
            assert_eq!(
                c.matches("```diff").count() * 2,
                c.matches("```").count(),
                "{c}"
            );
            seen += c.matches("**`ConfigMap").count();
        }
        let in_body = m.body.matches("**`ConfigMap").count();
        assert_eq!(in_body + seen, 40, "every patch once");
    }

    #[test]
    fn one_huge_object_is_cut_with_a_note_and_hostile_text_cannot_break_out() {
        let mut huge = object(1, 5_000);
        huge.id = "ConfigMap shop/x` **bold**".into();
        huge.patch.push_str("+````\n");
        let m = markdown(
            "prod",
            &[huge],
            1_000,
            8_000,
            "kubectl promote diff prod v2",
        );
        assert_eq!(m.comments.len(), 1);
        assert!(m.comments[0].len() <= 8_000);
        assert!(m.comments[0].contains("more lines not shown"));
        assert!(
            m.body.contains("`ConfigMap shop/x' **bold**`"),
            "{}",
            m.body
        );
        // The fence is longer than the 4 backticks inside the patch.
        assert!(
            m.comments[0].contains("`````diff\n"),
            "{}",
            &m.comments[0][..300]
        );
    }
}
