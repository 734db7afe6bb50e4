//! What a module says, made safe to print. Reasons, warnings, approval ids and logs come from
//! untrusted guests and end up on a terminal, in PR bodies and in commit trailers: a guest that
//! prints terminal escapes (ESC sequences that move the cursor, rewrite earlier lines or set the
//! window title), other control characters, or Unicode bidi overrides ("Trojan Source") could
//! make a denial read like an approval. Each such character is replaced by its `\u{..}` escape,
//! so nothing is hidden and nothing is interpreted.

use promote_policy_sdk::{Decision, SettingsValidation};

/// Whether `c` must not reach a terminal as is: C0/C1 controls and DEL (except the newline,
/// where `keep_newlines`), and the bidi embedding, override and isolate controls.
fn unsafe_char(c: char, keep_newlines: bool) -> bool {
    if c == '\n' {
        return !keep_newlines;
    }
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

fn escape(text: &str, keep_newlines: bool) -> String {
    if !text.chars().any(|c| unsafe_char(c, keep_newlines)) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c, keep_newlines) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// One line of guest text (a reason, a warning, an id): every control character escaped.
pub fn line(text: &str) -> String {
    escape(text, false)
}

/// A guest's log (stderr): lines kept, every other control character escaped.
pub fn log(text: &str) -> String {
    escape(text, true)
}

/// A decision with every string a guest chose made printable.
pub fn decision(mut d: Decision) -> Decision {
    for r in &mut d.reasons {
        r.code = line(&r.code);
        r.message = line(&r.message);
    }
    for w in &mut d.warnings {
        *w = line(w);
    }
    for a in &mut d.required_approvals {
        a.id = line(&a.id);
        a.environment = line(&a.environment);
        a.reason = line(&a.reason);
    }
    d
}

/// A settings verdict with its message made printable.
pub fn settings(mut v: SettingsValidation) -> SettingsValidation {
    v.message = v.message.as_deref().map(line);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls_and_bidi_overrides_and_keeps_plain_text() {
        assert_eq!(line("QA approved v1.0.2 ✓"), "QA approved v1.0.2 ✓");
        assert_eq!(
            line("\u{1b}[2K\u{1b}[1Aallowed"),
            "\\u{1b}[2K\\u{1b}[1Aallowed"
        );
        assert_eq!(line("a\rb\nc\u{7}"), "a\\u{d}b\\u{a}c\\u{7}");
        assert_eq!(line("x\u{202E}yz"), "x\\u{202e}yz");
        assert_eq!(line("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(
            log("one\ntwo\u{1b}]0;title\u{7}"),
            "one\ntwo\\u{1b}]0;title\\u{7}"
        );
    }
}
