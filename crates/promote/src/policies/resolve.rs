//! What a MODULE argument names: `builtin:NAME`, `krew:NAME` (a `promote-policy-NAME` plugin
//! krew installed under `$KREW_ROOT`), a `.wasm` file (its metadata may sit beside it in
//! `promote-policy.yaml`), or a directory holding one: the module a `promote-policy.yaml` there
//! names, else its only `.wasm` or `bundle.tar.gz` (a Rego module from `opa build`), else the
//! only one cargo built under `target/wasm32-wasip1/release/`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use promote_policy::krew::{self, KrewRef};
use promote_policy::{BUILTIN_NAMES, Host, ModuleSource, SIDECAR, Sha256, builtin_bytes};

use super::error::PoliciesError;
use crate::PromoteError;

/// Where cargo puts a policy crate's module, below the crate's directory.
const CARGO_OUT: &str = "target/wasm32-wasip1/release";

/// `builtin:NAME`, `krew:NAME` (installed by krew), a file, or a directory holding a module;
/// a relative path is taken from `base`.
pub fn resolve_module(
    arg: &str,
    base: &Path,
    krew_root: Option<&Path>,
) -> Result<ModuleSource, PromoteError> {
    if let Some(name) = arg.strip_prefix("krew:") {
        let reference = KrewRef::parse(name).map_err(PromoteError::Usage)?;
        let root = krew_root.ok_or_else(|| PoliciesError::NoKrewRoot {
            module: reference.to_string(),
        })?;
        let installed = krew::find(root, &reference).map_err(PoliciesError::from)?;
        return Ok(ModuleSource::Krew(installed));
    }
    if let Some(name) = arg.strip_prefix("builtin:") {
        if builtin_bytes(name).is_none() {
            return Err(PromoteError::Usage(format!(
                "unknown built-in policy `{arg}`; the built-ins are {}",
                BUILTIN_NAMES
                    .iter()
                    .map(|n| format!("builtin:{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        return Ok(ModuleSource::Builtin(name.to_owned()));
    }
    let path = base.join(arg);
    if path.is_file() {
        return Ok(file(path));
    }
    if path.is_dir() {
        return module_in_dir(&path)?.ok_or_else(|| {
            PromoteError::Usage(format!(
                "{}: no policy module here: expected a promote-policy.yaml naming `module:`, one .wasm file or bundle.tar.gz (`opa build -t wasm -e promote/decision -b .`), or one built under {CARGO_OUT}/ (build it with `cargo build --release --target wasm32-wasip1`)",
                path.display()
            ))
        });
    }
    Err(PromoteError::Usage(format!(
        "{arg}: no such module file or directory; give builtin:NAME ({}) or a path to a .wasm",
        BUILTIN_NAMES.join(", ")
    )))
}

/// An unpinned module file.
pub(crate) fn file(path: PathBuf) -> ModuleSource {
    ModuleSource::File { path, sha256: None }
}

/// The module a directory holds, if it holds exactly one.
pub fn module_in_dir(dir: &Path) -> Result<Option<ModuleSource>, PromoteError> {
    Ok(module_file_in_dir(dir)?.map(file))
}

/// The module file a directory holds, if it holds exactly one: the one its
/// `promote-policy.yaml` names, else its only module, else the only one cargo built there.
pub fn module_file_in_dir(dir: &Path) -> Result<Option<PathBuf>, PromoteError> {
    if let Some(named) = named_by_sidecar(dir)? {
        return Ok(Some(dir.join(named)));
    }
    for place in [dir.to_path_buf(), dir.join(CARGO_OUT)] {
        let mut found = module_files(&place);
        match found.len() {
            0 => continue,
            1 => return Ok(found.pop()),
            _ => {
                return Err(PromoteError::Usage(format!(
                    "{}: several .wasm files ({}); name one (`kubectl promote policy … PATH`, or --policy PATH for `policy test`)",
                    place.display(),
                    found
                        .iter()
                        .filter_map(|p| p.file_name())
                        .map(|n| n.to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    Ok(None)
}

/// `module:` of the `promote-policy.yaml` in `dir`, if there is one that names a module.
fn named_by_sidecar(dir: &Path) -> Result<Option<String>, PromoteError> {
    let sidecar = dir.join(SIDECAR);
    if !sidecar.is_file() {
        return Ok(None);
    }
    let place = sidecar.display().to_string();
    let text = std::fs::read_to_string(&sidecar).map_err(|source| PoliciesError::Read {
        what: place.clone(),
        source,
    })?;
    let doc: Value =
        promote_core::yaml::from_str(&place, &text).map_err(|e| PoliciesError::Sidecar {
            message: e.message().to_string(),
            place: place.clone(),
        })?;
    Ok(doc.get("module").and_then(Value::as_str).map(str::to_owned))
}

/// The `.wasm` files and `bundle.tar.gz` in `dir`, sorted.
fn module_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && (p.extension().is_some_and(|e| e == "wasm")
                    // `opa build -t wasm` output: a Rego module (promote.opa/v1).
                    || p.file_name().is_some_and(|n| n == "bundle.tar.gz"))
        })
        .collect();
    v.sort();
    v
}

/// The bytes' digest, and whether the cache held a compiled copy before this command ran
/// (`None`: no cache, or the bytes could not be read).
pub fn digest_and_cached(host: &Host, source: &ModuleSource) -> (Option<Sha256>, Option<bool>) {
    let bytes: Option<std::borrow::Cow<'_, [u8]>> = match source {
        ModuleSource::Builtin(n) => builtin_bytes(n).map(Into::into),
        ModuleSource::File { path, .. } => std::fs::read(path).ok().map(Into::into),
        ModuleSource::Bytes { bytes, .. } => Some(bytes.as_slice().into()),
        ModuleSource::Krew(i) => std::fs::read(&i.module).ok().map(Into::into),
    };
    let sha = bytes.as_deref().map(Sha256::of);
    let cached = bytes
        .as_deref()
        .and_then(|b| host.cache_path_of(b))
        .map(|p| p.exists());
    (sha, cached)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use promote_policy::{ModuleSource, builtin_bytes};

    use super::{module_in_dir, resolve_module};
    use crate::PromoteError;
    use crate::policies::PoliciesError;

    /// A real module (a built-in's bytes) at `path`.
    fn module(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, builtin_bytes("semver-guard").unwrap()).unwrap();
    }

    fn file_of(found: Option<ModuleSource>) -> std::path::PathBuf {
        match found {
            Some(ModuleSource::File { path, sha256: None }) => path,
            other => panic!("expected an unpinned file, got {other:?}"),
        }
    }

    #[test]
    fn a_directory_with_one_module_is_that_module_and_a_rego_bundle_counts() {
        let d = tempfile::tempdir().unwrap();
        module(&d.path().join("policy.wasm"));
        std::fs::write(d.path().join("README.md"), "not a module").unwrap();
        assert_eq!(
            file_of(module_in_dir(d.path()).unwrap()),
            d.path().join("policy.wasm")
        );

        let rego = tempfile::tempdir().unwrap();
        std::fs::write(rego.path().join("bundle.tar.gz"), b"tar").unwrap();
        assert_eq!(
            file_of(module_in_dir(rego.path()).unwrap()),
            rego.path().join("bundle.tar.gz")
        );
    }

    #[test]
    fn promote_policy_yaml_names_the_module_among_several() {
        let d = tempfile::tempdir().unwrap();
        module(&d.path().join("a.wasm"));
        module(&d.path().join("b.wasm"));
        std::fs::write(d.path().join("promote-policy.yaml"), "module: b.wasm\n").unwrap();
        assert_eq!(
            file_of(module_in_dir(d.path()).unwrap()),
            d.path().join("b.wasm")
        );
    }

    #[test]
    fn a_cargo_project_is_the_module_cargo_built() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Cargo.toml"), "[package]\n").unwrap();
        let built = d.path().join("target/wasm32-wasip1/release/guard.wasm");
        module(&built);
        assert_eq!(file_of(module_in_dir(d.path()).unwrap()), built);
    }

    #[test]
    fn several_modules_are_a_usage_error_naming_them_and_none_is_none() {
        let d = tempfile::tempdir().unwrap();
        module(&d.path().join("a.wasm"));
        module(&d.path().join("b.wasm"));
        match module_in_dir(d.path()) {
            Err(PromoteError::Usage(m)) => {
                assert!(m.contains("several .wasm files (a.wasm, b.wasm)"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        let empty = tempfile::tempdir().unwrap();
        assert!(module_in_dir(empty.path()).unwrap().is_none());
    }

    #[test]
    fn a_sidecar_that_is_not_yaml_names_its_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("promote-policy.yaml"), "module: [a\n").unwrap();
        match module_in_dir(d.path()) {
            Err(PromoteError::Policies(e)) => match *e {
                PoliciesError::Sidecar { place, .. } => {
                    assert!(place.ends_with("promote-policy.yaml"), "{place}")
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn module_arguments_resolve_from_the_base_directory() {
        let d = tempfile::tempdir().unwrap();
        module(&d.path().join("p/policy.wasm"));
        assert!(matches!(
            resolve_module("builtin:semver-guard", d.path(), None),
            Ok(ModuleSource::Builtin(n)) if n == "semver-guard"
        ));
        assert!(matches!(
            resolve_module("p/policy.wasm", d.path(), None),
            Ok(ModuleSource::File { path, .. }) if path == d.path().join("p/policy.wasm")
        ));
        assert!(matches!(
            resolve_module("p", d.path(), None),
            Ok(ModuleSource::File { path, .. }) if path == d.path().join("p/policy.wasm")
        ));
        match resolve_module("builtin:nope", d.path(), None) {
            Err(PromoteError::Usage(m)) => assert!(m.contains("builtin:semver-guard"), "{m}"),
            other => panic!("{other:?}"),
        }
        match resolve_module("nope.wasm", d.path(), None) {
            Err(PromoteError::Usage(m)) => {
                assert!(m.starts_with("nope.wasm: no such module"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        match resolve_module("krew:guard", d.path(), None) {
            Err(PromoteError::Policies(e)) => match *e {
                PoliciesError::NoKrewRoot { module } => {
                    assert!(module.contains("guard"), "{module}")
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }
}
