//! The policy SDKs this binary carries: the Go SDK (`sdk/go`) and the Rust SDK
//! (`crates/promote-policy-sdk`), embedded file by file so `policy sdk` and `policy new` can
//! write them anywhere, offline, at the exact version of the host that will run the module.
//! The list is checked against the source directories by a unit test: a file added to either
//! SDK and not here fails it.

use super::written::Written;

/// A language with an SDK to write out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdkLang {
    Go,
    Rust,
}

impl SdkLang {
    pub fn name(self) -> &'static str {
        match self {
            Self::Go => "go",
            Self::Rust => "rust",
        }
    }
}

/// The Go SDK's module path, as `require` and `replace` name it.
pub const GO_MODULE: &str = "github.com/kubectl-promote/kubectl-promote/sdk/go";

/// The Go SDK, by path relative to the directory it is written to (that directory is the
/// module: `go.mod` and the `policy` package).
const GO_FILES: &[(&str, &str)] = &[
    ("go.mod", include_str!("../../../../../sdk/go/go.mod")),
    (
        "policy/approvals.go",
        include_str!("../../../../../sdk/go/policy/approvals.go"),
    ),
    (
        "policy/decision.go",
        include_str!("../../../../../sdk/go/policy/decision.go"),
    ),
    (
        "policy/doc.go",
        include_str!("../../../../../sdk/go/policy/doc.go"),
    ),
    (
        "policy/policy_test.go",
        include_str!("../../../../../sdk/go/policy/policy_test.go"),
    ),
    (
        "policy/request.go",
        include_str!("../../../../../sdk/go/policy/request.go"),
    ),
    (
        "policy/run.go",
        include_str!("../../../../../sdk/go/policy/run.go"),
    ),
    (
        "policy/settings.go",
        include_str!("../../../../../sdk/go/policy/settings.go"),
    ),
];

/// The Rust SDK's sources, by path relative to the crate directory; its `Cargo.toml` is
/// [`rust_manifest`] (the one in this repository inherits from the workspace).
const RUST_FILES: &[(&str, &str)] = &[
    (
        "src/approvals.rs",
        include_str!("../../../../promote-policy-sdk/src/approvals.rs"),
    ),
    (
        "src/decision.rs",
        include_str!("../../../../promote-policy-sdk/src/decision.rs"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../../promote-policy-sdk/src/lib.rs"),
    ),
    (
        "src/metadata.rs",
        include_str!("../../../../promote-policy-sdk/src/metadata.rs"),
    ),
    (
        "src/request.rs",
        include_str!("../../../../promote-policy-sdk/src/request.rs"),
    ),
    (
        "src/run.rs",
        include_str!("../../../../promote-policy-sdk/src/run.rs"),
    ),
    (
        "src/tests.rs",
        include_str!("../../../../promote-policy-sdk/src/tests.rs"),
    ),
];

/// A standalone manifest for the vendored Rust SDK: the same dependencies and features as in
/// this repository's workspace (`preserve_order` keeps the JSON the host sees in field order).
fn rust_manifest() -> String {
    format!(
        "# The kubectl-promote policy SDK {version}, written by `kubectl promote policy sdk`.\n\
         [package]\n\
         name = \"promote-policy-sdk\"\n\
         version = \"{version}\"\n\
         edition = \"2024\"\n\
         rust-version = \"1.85\"\n\
         license = \"MIT\"\n\
         publish = false\n\
         \n\
         [dependencies]\n\
         serde = {{ version = \"1\", features = [\"derive\"] }}\n\
         serde_json = {{ version = \"1\", features = [\"preserve_order\"] }}\n",
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// The SDK's files, by path relative to the directory it is written to.
pub fn files(lang: SdkLang) -> Vec<Written> {
    match lang {
        SdkLang::Go => GO_FILES
            .iter()
            .map(|(path, text)| Written::file(path, (*text).to_owned()))
            .collect(),
        SdkLang::Rust => std::iter::once(Written::file("Cargo.toml", rust_manifest()))
            .chain(
                RUST_FILES
                    .iter()
                    .map(|(path, text)| Written::file(path, (*text).to_owned())),
            )
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::{GO_FILES, RUST_FILES};

    /// Every file under `dir`, relative to it, with `prefix` in front.
    fn tree(root: &Path, dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                tree(root, &path, prefix, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_str().unwrap();
                out.insert(format!("{prefix}{rel}"));
            }
        }
    }

    fn embedded(list: &[(&str, &str)]) -> BTreeSet<String> {
        list.iter().map(|(p, _)| (*p).to_owned()).collect()
    }

    #[test]
    fn every_file_of_the_go_sdk_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/go");
        let mut found = BTreeSet::new();
        tree(&root, &root, "", &mut found);
        assert_eq!(
            found,
            embedded(GO_FILES),
            "sdk/go changed: list its files in GO_FILES (crates/promote/src/policies/scaffold/sdk.rs)"
        );
    }

    #[test]
    fn every_source_of_the_rust_sdk_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../promote-policy-sdk");
        let mut found = BTreeSet::new();
        tree(&root, &root.join("src"), "", &mut found);
        assert_eq!(
            found,
            embedded(RUST_FILES),
            "crates/promote-policy-sdk/src changed: list its files in RUST_FILES (crates/promote/src/policies/scaffold/sdk.rs)"
        );
    }
}
