//! Rego's `sprintf` in the sandbox: OPA compiles it to a host call, and the host's (`opa-wasm`'s)
//! formats C-style verbs only, so a format with Go's `%v` or `%q` passes `opa test` and traps in
//! the sandbox ("failed to call printf"). A module that imports `sprintf` is checked when it
//! loads: the format strings among the policy's constants are read from the module's data (the
//! segments OPA writes for the plan; the first one is OPA's own C runtime, whose `%`-strings are
//! not the policy's), and a verb the sandbox cannot run refuses the module, naming the verb and
//! the format.

use wasmparser::{Parser, Payload};

/// The verbs the host's `sprintf` formats as OPA does: `%s` (strings), `%d` (integers), `%f`
/// (numbers), `%%`.
pub const SUPPORTED_VERBS: &[char] = &['s', 'd', 'f', '%'];

/// The marker of OPA's C runtime data segment (its libc++ messages).
const RUNTIME_MARKER: &[u8] = b"-fno-exceptions";

/// The policy's format strings that use a verb outside [`SUPPORTED_VERBS`], with those verbs
/// (`%v`, `%q`, …), in the order found.
pub fn unsupported_formats(wasm: &[u8]) -> (Vec<String>, Vec<String>) {
    let mut formats = Vec::new();
    let mut verbs: Vec<String> = Vec::new();
    for segment in policy_segments(wasm) {
        for text in printable_runs(segment) {
            let bad: Vec<String> = verbs_of(text)
                .into_iter()
                .filter(|v| !SUPPORTED_VERBS.contains(v))
                .map(|v| format!("%{v}"))
                .collect();
            if bad.is_empty() {
                continue;
            }
            formats.push(text.to_owned());
            for v in bad {
                if !verbs.contains(&v) {
                    verbs.push(v);
                }
            }
        }
    }
    (verbs, formats)
}

/// The data segments that hold the policy's constants: all but OPA's runtime's.
fn policy_segments(wasm: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(Payload::DataSection(reader)) = payload else {
            continue;
        };
        for data in reader.into_iter().flatten() {
            if !data
                .data
                .windows(RUNTIME_MARKER.len())
                .any(|w| w == RUNTIME_MARKER)
            {
                out.push(data.data);
            }
        }
    }
    out
}

/// Runs of printable ASCII (strings are stored back to back, between non-printable bytes).
fn printable_runs(bytes: &[u8]) -> impl Iterator<Item = &str> {
    bytes
        .split(|b| !(0x20..0x7f).contains(b))
        .filter(|run| run.contains(&b'%'))
        .filter_map(|run| std::str::from_utf8(run).ok())
}

/// The verb of every `%` directive in a format: `%[flags][width][.precision]VERB`.
fn verbs_of(format: &str) -> Vec<char> {
    let mut verbs = Vec::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        while let Some(&f) = chars.peek() {
            if matches!(f, '#' | '0' | '-' | ' ' | '+' | '.' | '*') || f.is_ascii_digit() {
                chars.next();
            } else {
                break;
            }
        }
        match chars.next() {
            Some(v) if v.is_ascii_alphabetic() || v == '%' => verbs.push(v),
            // `%` at the end, or before something that is no verb: not a directive.
            _ => {}
        }
    }
    verbs
}

#[cfg(test)]
mod tests {
    use super::verbs_of;

    #[test]
    fn directives_are_read_with_flags_width_and_precision() {
        assert_eq!(
            verbs_of("env %s has %d: %v (%q) 100%%"),
            ['s', 'd', 'v', 'q', '%']
        );
        assert_eq!(verbs_of("%-8s|%08.3f|%+d"), ['s', 'f', 'd']);
        // As in Go, "% o" is a directive (space flag, octal); "50%." is none.
        assert_eq!(verbs_of("50% off"), ['o']);
        assert_eq!(verbs_of("50%."), Vec::<char>::new());
        assert_eq!(verbs_of("trailing %"), Vec::<char>::new());
    }
}
