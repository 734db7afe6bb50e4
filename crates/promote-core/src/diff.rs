//! Unified diffs of the files a promotion changes, as `git diff` prints them.

/// A unified diff of `old` → `new` for `path` (`a/path`, `b/path` headers, 3 lines of context).
pub fn unified(path: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn shows_only_changed_lines_with_context() {
        let d = super::unified("k.yaml", "a\nb\nc\n", "a\nB\nc\n");
        assert!(
            d.starts_with("--- a/k.yaml\n+++ b/k.yaml\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"),
            "{d}"
        );
    }
}
