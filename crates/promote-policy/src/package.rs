//! A policy module's krew package (`specs/policy-abi.md`, "krew packaging of a policy"): one
//! `.tar.gz` for every platform and the krew plugin manifest that installs it.
//!
//! The archive holds `promote-policy.yaml` (the metadata, `module: policy.wasm` and its
//! `sha256`), `policy.wasm`, `LICENSE`, and a POSIX `sh` shim as krew's required `bin`. It is
//! reproducible: entries in a fixed order with fixed times, owners and modes, and a gzip header
//! without a timestamp, so the same inputs give the same bytes and the manifest's sha256 can be
//! checked by anyone who rebuilds it.
//!
//! Krew facts the manifest follows (krew v0.4.3, `internal/index/validation`): the name must match
//! `^[\w-]+$`; `spec.version` must be semver with a leading `v`; each platform needs a `uri`, a
//! 64-hex `sha256`, a `bin` and a selector using only `os`/`arch`; archives are recognised by
//! their magic bytes and only regular files and directories are unpacked.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use promote_policy_sdk::PolicyMetadata;

use crate::Sha256;
use crate::krew::{PACKAGE_FILE, PLUGIN_PREFIX};

/// The module's file name inside the package.
pub const MODULE_FILE: &str = "policy.wasm";
/// The module's file name for a Rego bundle from `opa build` (kept whole: its `data.json` and
/// `.manifest` belong to the policy; the host recognises a bundle by its content).
pub const BUNDLE_FILE: &str = "bundle.tar.gz";

/// The name a module travels under in the package: a gzip'd Rego bundle keeps its own name.
pub fn module_file(module: &[u8]) -> &'static str {
    if module.starts_with(&[0x1f, 0x8b]) {
        BUNDLE_FILE
    } else {
        MODULE_FILE
    }
}
/// The licence's file name inside the package.
pub const LICENSE_FILE: &str = "LICENSE";
/// krew's manifest `apiVersion`.
pub const KREW_API_VERSION: &str = "krew.googlecontainertools.github.com/v1alpha2";

/// What goes into a package.
#[derive(Debug, Clone)]
pub struct PackageInput<'a> {
    /// The module's metadata (custom section or sidecar), as the host read it.
    pub metadata: &'a PolicyMetadata,
    /// The module's bytes.
    pub module: &'a [u8],
    /// The licence text.
    pub license: &'a [u8],
    /// The package (krew) version; default: the module's version, with a `v` in front.
    pub version: Option<&'a str>,
    /// Where the archive will be downloaded from: a URL, or a template with `{name}`,
    /// `{plugin}`, `{version}` and `{archive}`; a URL ending in `/` gets the archive's name.
    /// Default: a `file://` URI of the written archive (for `kubectl krew install --archive`).
    pub uri: Option<&'a str>,
    /// `spec.homepage` of the manifest.
    pub homepage: Option<&'a str>,
}

/// A written package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// `promote-policy-<name>`.
    pub plugin: String,
    /// The package version (`v…`).
    pub version: String,
    /// The archive.
    pub archive: PathBuf,
    /// The krew plugin manifest.
    pub manifest: PathBuf,
    /// The archive's sha256 (in the manifest).
    pub sha256: Sha256,
    /// The module's sha256 (in `promote-policy.yaml`).
    pub module_sha256: Sha256,
    /// The module's file name in the archive (`policy.wasm`, or `bundle.tar.gz` for Rego).
    pub module_file: &'static str,
    /// The manifest's `uri`.
    pub uri: String,
}

/// A package could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The policy name is not a krew plugin name.
    #[error(
        "the policy's name `{0}` cannot be a krew plugin name (promote-policy-NAME must match ^[A-Za-z0-9_-]+$); rename it in the module's metadata"
    )]
    Name(String),
    /// The version is not semver.
    #[error(
        "version `{version}` (from {from}) is not a semantic version like v1.2.3 (krew requires one); pass --version v1.2.3"
    )]
    Version {
        /// The version.
        version: String,
        /// `--version` or the module's metadata.
        from: &'static str,
    },
    /// `--uri` is not usable.
    #[error("--uri {0}: {1}")]
    Uri(String, String),
    /// Writing failed.
    #[error("writing {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Builds the archive and the manifest into `out_dir`:
/// `promote-policy-<name>-<version>.tar.gz` and `promote-policy-<name>.yaml`.
pub fn package(input: &PackageInput<'_>, out_dir: &Path) -> Result<Package, PackageError> {
    let name = &input.metadata.name;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(PackageError::Name(name.clone()));
    }
    let plugin = format!("{PLUGIN_PREFIX}{name}");
    let (raw, from) = match input.version {
        Some(v) => (v.to_owned(), "--version"),
        None => (input.metadata.version.clone(), "the module's metadata"),
    };
    let version = if raw.starts_with(|c: char| c.is_ascii_digit()) {
        format!("v{raw}")
    } else {
        raw.clone()
    };
    if !is_semver(&version) {
        return Err(PackageError::Version { version: raw, from });
    }
    let module_sha256 = Sha256::of(input.module);
    let module_file = module_file(input.module);
    let files: [(&str, u32, Vec<u8>); 4] = [
        (LICENSE_FILE, 0o644, input.license.to_vec()),
        (module_file, 0o644, input.module.to_vec()),
        (plugin.as_str(), 0o755, shim(name).into_bytes()),
        (
            PACKAGE_FILE,
            0o644,
            package_yaml(input.metadata, module_file, &module_sha256).into_bytes(),
        ),
    ];
    let archive_bytes = archive(&files).map_err(|source| PackageError::Write {
        path: out_dir.to_owned(),
        source,
    })?;
    let sha256 = Sha256::of(&archive_bytes);
    let archive_name = format!("{plugin}-{version}.tar.gz");
    std::fs::create_dir_all(out_dir).map_err(|source| PackageError::Write {
        path: out_dir.to_owned(),
        source,
    })?;
    let archive_path = out_dir.join(&archive_name);
    let uri = match input.uri {
        Some(t) => uri_from(t, name, &plugin, &version, &archive_name)?,
        None => {
            let abs = std::path::absolute(&archive_path).map_err(|source| PackageError::Write {
                path: archive_path.clone(),
                source,
            })?;
            format!("file://{}", lexical(&abs).display())
        }
    };
    let manifest = manifest(
        input.metadata,
        module_file,
        &plugin,
        &version,
        &uri,
        &sha256,
        input.homepage,
    );
    let manifest_path = out_dir.join(format!("{plugin}.yaml"));
    write(&archive_path, &archive_bytes)?;
    write(&manifest_path, manifest.as_bytes())?;
    Ok(Package {
        plugin,
        version,
        archive: archive_path,
        manifest: manifest_path,
        sha256,
        module_sha256,
        module_file,
        uri,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), PackageError> {
    std::fs::write(path, bytes).map_err(|source| PackageError::Write {
        path: path.to_owned(),
        source,
    })
}

/// `v` MAJOR.MINOR.PATCH, then optional `-pre` and `+build` of `[0-9A-Za-z.-]`.
fn is_semver(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let (core, build) = match rest.split_once('+') {
        Some((c, b)) => (c, Some(b)),
        None => (rest, None),
    };
    let (core, pre) = match core.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (core, None),
    };
    let ident_ok = |s: &str| {
        !s.is_empty()
            && s.split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    };
    let nums: Vec<&str> = core.split('.').collect();
    nums.len() == 3
        && nums.iter().all(|n| {
            !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit())
                && (n.len() == 1 || !n.starts_with('0'))
        })
        && pre.is_none_or(ident_ok)
        && build.is_none_or(ident_ok)
}

fn uri_from(
    template: &str,
    name: &str,
    plugin: &str,
    version: &str,
    archive: &str,
) -> Result<String, PackageError> {
    let mut uri = template
        .replace("{name}", name)
        .replace("{plugin}", plugin)
        .replace("{version}", version)
        .replace("{archive}", archive);
    if uri.ends_with('/') {
        uri.push_str(archive);
    }
    if let Some(open) = uri.find('{') {
        return Err(PackageError::Uri(
            template.to_owned(),
            format!(
                "unknown placeholder at `{}`; the placeholders are {{name}}, {{plugin}}, {{version}} and {{archive}}",
                &uri[open..]
            ),
        ));
    }
    if !uri.contains("://") {
        return Err(PackageError::Uri(
            template.to_owned(),
            "not a URL; give where the archive will be downloaded from, e.g. https://github.com/acme/policies/releases/download/{version}/{archive}".into(),
        ));
    }
    Ok(uri)
}

/// The krew `bin`: krew requires one; running it (`kubectl promote-policy-<name>`) shows what
/// the package holds. The module itself is data that `kubectl promote` loads, not a command.
fn shim(name: &str) -> String {
    format!(
        "#!/bin/sh\n\
         # promote-policy-{name}: a policy module for kubectl promote, installed by krew.\n\
         # Use it in promote.yaml as `module: krew:{name}`; this command shows its metadata.\n\
         exec kubectl-promote policy inspect krew:{name} \"$@\"\n"
    )
}

/// `promote-policy.yaml`: the metadata (JSON values are YAML too), the module's file and pin.
fn package_yaml(m: &PolicyMetadata, module_file: &str, sha: &Sha256) -> String {
    let json = |v: &serde_json::Value| serde_json::to_string(v).unwrap_or_default();
    let mut s = String::from(
        "# Metadata of a kubectl promote policy module (specs/policy-abi.md), written by\n\
         # `kubectl promote policy package`; `sha256` pins the module: kubectl promote refuses a\n\
         # module that no longer matches it.\n\
         apiVersion: policy.promote.kubectl.io/v1alpha1\n\
         kind: PolicyPackage\n",
    );
    s.push_str(&format!("name: {}\n", json(&m.name.clone().into())));
    s.push_str(&format!("version: {}\n", json(&m.version.clone().into())));
    s.push_str(&format!("abi: {}\n", json(&m.abi.clone().into())));
    let ops: Vec<serde_json::Value> = m.operations.iter().map(|o| o.to_string().into()).collect();
    s.push_str(&format!("operations: {}\n", json(&ops.into())));
    if let Some(schema) = &m.settings_schema {
        s.push_str(&format!("settingsSchema: {}\n", json(schema)));
    }
    if let Some(r) = &m.resources {
        let v = serde_json::to_value(r).unwrap_or_default();
        s.push_str(&format!("resources: {}\n", json(&v)));
    }
    s.push_str(&format!("module: {module_file}\nsha256: {sha}\n"));
    s
}

fn manifest(
    m: &PolicyMetadata,
    module_file: &str,
    plugin: &str,
    version: &str,
    uri: &str,
    sha: &Sha256,
    homepage: Option<&str>,
) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let name = &m.name;
    let ops = m
        .operations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let homepage = homepage
        .map(|h| format!("  homepage: {}\n", q(h)))
        .unwrap_or_default();
    format!(
        "# krew plugin manifest of the kubectl promote policy `{name}`, written by\n\
         # `kubectl promote policy package`; sha256 is the archive's.\n\
         apiVersion: {KREW_API_VERSION}\n\
         kind: Plugin\n\
         metadata:\n  name: {plugin}\n\
         spec:\n  version: {version}\n{homepage}\
         \x20 shortDescription: {short}\n\
         \x20 description: |\n\
         \x20   The kubectl promote policy module `{name}` {mversion} ({abi}; decides: {ops}).\n\
         \x20   A sandboxed WebAssembly module that kubectl promote loads; not a command of its own.\n\
         \x20 caveats: |\n\
         \x20   Needs the kubectl promote plugin (kubectl-promote on PATH). Use it in promote.yaml:\n\
         \x20     policies:\n\
         \x20       promote:\n\
         \x20         - module: krew:{name}\n\
         \x20   `kubectl promote policy list` shows it; `kubectl {plugin}` prints its metadata.\n\
         \x20 platforms:\n\
         \x20 # One archive for every platform kubectl promote runs on: the module is portable\n\
         \x20 # WebAssembly and the bin is a POSIX sh script (so no Windows entry).\n\
         \x20 - selector:\n\
         \x20     matchExpressions:\n\
         \x20     - {{key: os, operator: In, values: [darwin, linux]}}\n\
         \x20   uri: {uri}\n\
         \x20   sha256: {sha}\n\
         \x20   bin: {plugin}\n\
         \x20   files:\n\
         \x20   - {{from: {PACKAGE_FILE}, to: .}}\n\
         \x20   - {{from: {module_file}, to: .}}\n\
         \x20   - {{from: {LICENSE_FILE}, to: .}}\n\
         \x20   - {{from: {plugin}, to: .}}\n",
        short = q(&format!("Policy module {name} for kubectl promote ({ops})")),
        mversion = m.version,
        abi = m.abi,
        uri = q(uri),
    )
}

/// A ustar archive of `files` in the given order, with fixed times and owners, gzipped without
/// a timestamp.
fn archive(files: &[(&str, u32, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, mode, bytes) in files {
        let mut h = tar::Header::new_ustar();
        h.set_path(name)?;
        h.set_size(bytes.len() as u64);
        h.set_mode(*mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar.append(&h, bytes.as_slice())?;
    }
    let tar = tar.into_inner()?;
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(3)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar)?;
    gz.finish()
}

#[cfg(test)]
mod tests {
    use super::{BUNDLE_FILE, MODULE_FILE, is_semver, module_file};

    #[test]
    fn semver() {
        for ok in ["v0.1.0", "v1.2.3-rc.1", "v1.2.3+build.5", "v10.0.0-alpha-1"] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in [
            "0.1.0",
            "v1.2",
            "v1.2.3.4",
            "v01.2.3",
            "v1.2.3-",
            "vx.y.z",
            "v1.2.3-a..b",
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn a_rego_bundle_keeps_its_name_and_a_wasm_module_is_policy_wasm() {
        assert_eq!(module_file(&[0x1f, 0x8b, 8, 0]), BUNDLE_FILE);
        assert_eq!(module_file(b"\0asm\x01\0\0\0"), MODULE_FILE);
    }
}

/// `path` with `.` and `..` resolved by name (it need not exist), so the printed `file://` URI
/// is the plain path krew and people read.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod lexical_tests {
    use std::path::Path;

    #[test]
    fn dots_are_resolved_by_name() {
        assert_eq!(
            super::lexical(Path::new("/work/a/./b/../dist/x.tar.gz")),
            Path::new("/work/a/dist/x.tar.gz")
        );
    }
}
