//! Commit messages with git trailers: the audit trail that `git log` shows and that rollback,
//! `status` and `history` read back.

use std::fmt::Write as _;

pub const PROMOTED_BY: &str = "Promoted-By";
pub const ENVIRONMENT: &str = "Promote-Environment";
pub const VERSION: &str = "Promote-Version";
pub const FROM: &str = "Promote-From";
/// One per app a promotion of apps changes (`apps:` in promote.yaml).
pub const APP: &str = "Promote-App";
pub const POLICY_DECISION: &str = "Policy-Decision";
pub const POLICY_MODULE: &str = "Policy-Module";
pub const POLICY_CONFIG: &str = "Policy-Config";
pub const OVERRIDE: &str = "Policy-Override";
pub const REVERTS: &str = "Promote-Reverts";
pub const ROLLBACK: &str = "Promote-Rollback";
pub const PROMOTE_ID: &str = "Promote-Id";
/// What the image check did: `verified N image references in REGISTRY[; pinned N digests]`,
/// or `skipped by Name <email>` (`--skip-image-check`).
pub const IMAGE_CHECK: &str = "Image-Check";
/// What the supply-chain check found: `verified N signatures (key PATH)`, or `skipped by …`;
/// absent when the environment has no `trust:`.
pub const SUPPLY_CHAIN: &str = "Supply-Chain";

/// Ordered `Key: value` trailers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailers(pub Vec<(String, String)>);

impl Trailers {
    pub fn push(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        // A trailer value is one line: fold anything a user typed onto one.
        let value: String = value
            .into()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        self.0.push((key.to_owned(), value));
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Read the trailer block: the last paragraph of `message`, if every line in it is a
    /// `Token: value` line (continuation lines start with white space), as `git interpret-trailers` does.
    pub fn parse(message: &str) -> Trailers {
        let trimmed = message.trim_end();
        let last = trimmed.rsplit("\n\n").next().unwrap_or("");
        if last == trimmed && !trimmed.contains('\n') && !is_trailer_line(trimmed) {
            return Trailers::default();
        }
        let mut out: Vec<(String, String)> = Vec::new();
        for line in last.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some((_, v)) = out.last_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                    continue;
                }
                return Trailers::default();
            }
            match line.split_once(':') {
                Some((k, v)) if is_token(k) => out.push((k.to_owned(), v.trim().to_owned())),
                _ => return Trailers::default(),
            }
        }
        Trailers(out)
    }
}

fn is_token(k: &str) -> bool {
    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_trailer_line(line: &str) -> bool {
    line.split_once(':').is_some_and(|(k, _)| is_token(k))
}

/// Build a commit message: subject, optional body paragraphs, trailers.
pub fn message(subject: &str, body: &[String], trailers: &Trailers) -> String {
    let mut out = String::new();
    out.push_str(subject.trim());
    out.push('\n');
    for para in body.iter().filter(|p| !p.trim().is_empty()) {
        out.push('\n');
        out.push_str(para.trim_end());
        out.push('\n');
    }
    if !trailers.0.is_empty() {
        out.push('\n');
        for (k, v) in &trailers.0 {
            let _ = writeln!(out, "{k}: {v}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut t = Trailers::default();
        t.push(PROMOTED_BY, "Ana <ana@example.com>")
            .push(ENVIRONMENT, "prod")
            .push(VERSION, "v1.0.1")
            .push(OVERRIDE, "INC-1\nmulti line");
        let msg = message(
            "promote prod to v1.0.1",
            &["Images:\n  a  v1 -> v2".into()],
            &t,
        );
        let back = Trailers::parse(&msg);
        assert_eq!(back, t);
        assert_eq!(back.get("promote-environment"), Some("prod"));
        assert_eq!(back.get(OVERRIDE), Some("INC-1 multi line"));
    }

    #[test]
    fn a_plain_body_has_no_trailers() {
        assert!(
            Trailers::parse("fix: things\n\nThis changes stuff.\nAnd more.\n")
                .0
                .is_empty()
        );
        assert!(Trailers::parse("subject only").0.is_empty());
    }
}
