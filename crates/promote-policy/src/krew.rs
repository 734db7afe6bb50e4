//! Policy modules installed by krew: discovery of `promote-policy-<name>` plugins under
//! `$KREW_ROOT` (the caller passes the root; this crate reads no environment).
//!
//! Krew writes `receipts/<plugin>.yaml` (the plugin manifest as installed, plus
//! `status.source.name`, the index it came from) and unpacks the archive into
//! `store/<plugin>/<version>/`. Discovery trusts the receipt for *which* version is installed and
//! from *where*, then the package's `promote-policy.yaml` in the store for *which module* and its
//! sha256; the host checks the module's bytes against that sha256 before compiling, so a module
//! changed after the install is refused (see [`crate::LoadError::KrewModuleChanged`]).
//!
//! Naming: the plugin is `promote-policy-<name>`; `promote.yaml` says `krew:<name>` (the prefix
//! may be written too, `krew:promote-policy-<name>` is the same module), optionally with the
//! index, `krew:<index>/<name>`, to insist on where it was installed from.

use std::fmt;
use std::path::{Path, PathBuf};

use promote_core::yaml;
use serde::Deserialize;

use crate::Sha256;

/// Every policy plugin's name starts with this.
pub const PLUGIN_PREFIX: &str = "promote-policy-";
/// The package's metadata file, in the archive and in the store.
pub const PACKAGE_FILE: &str = "promote-policy.yaml";
/// The index name krew records for `kubectl krew install --manifest=…`.
pub const DETACHED_INDEX: &str = "detached";
/// The index name this project's docs use for its custom index (`kubectl krew index add promote …`).
pub const SUGGESTED_INDEX: &str = "promote";

/// What `krew:` names: a policy name and, optionally, the index it must come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KrewRef {
    /// `promote`, from `krew:promote/qa-approved`.
    pub index: Option<String>,
    /// The policy name without the plugin prefix (`qa-approved`).
    pub name: String,
}

impl KrewRef {
    /// Parses what follows `krew:`: `NAME`, `promote-policy-NAME`, `INDEX/NAME`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (index, name) = match text.split_once('/') {
            Some((i, n)) => (Some(i.to_owned()), n),
            None => (None, text),
        };
        let name = name.strip_prefix(PLUGIN_PREFIX).unwrap_or(name).to_owned();
        let safe = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !safe(&name) || index.as_deref().is_some_and(|i| !safe(i)) {
            return Err(format!(
                "`krew:{text}` is not a krew policy name: use krew:NAME or krew:INDEX/NAME (letters, digits, `-`, `_`), e.g. krew:qa-approved for the plugin promote-policy-qa-approved"
            ));
        }
        Ok(Self { index, name })
    }

    /// `promote-policy-<name>`.
    pub fn plugin(&self) -> String {
        format!("{PLUGIN_PREFIX}{}", self.name)
    }

    /// The `kubectl krew install` command that installs it.
    pub fn install_command(&self) -> String {
        let index = self.index.as_deref().unwrap_or(SUGGESTED_INDEX);
        format!("kubectl krew install {index}/{}", self.plugin())
    }
}

impl fmt::Display for KrewRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.index {
            Some(i) => write!(f, "krew:{i}/{}", self.name),
            None => write!(f, "krew:{}", self.name),
        }
    }
}

/// A policy plugin krew installed, as its receipt and package describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// `promote-policy-<name>`.
    pub plugin: String,
    /// The index it was installed from (`detached` for `--manifest`).
    pub index: String,
    /// The installed version (`spec.version` of the receipt).
    pub version: String,
    /// `store/<plugin>/<version>`.
    pub dir: PathBuf,
    /// The module file the package names.
    pub module: PathBuf,
    /// The module's sha256 as the package recorded it.
    pub sha256: Sha256,
}

impl Installed {
    /// The policy name (the plugin name without its prefix).
    pub fn name(&self) -> &str {
        self.plugin
            .strip_prefix(PLUGIN_PREFIX)
            .unwrap_or(&self.plugin)
    }

    /// `krew:<index>/<name>@<version>`, as reports show it.
    pub fn label(&self) -> String {
        format!("krew:{}/{}@{}", self.index, self.name(), self.version)
    }

    /// How to put the packaged module back.
    pub fn reinstall_command(&self) -> String {
        let p = &self.plugin;
        match self.index.as_str() {
            DETACHED_INDEX => format!(
                "kubectl krew uninstall {p} && kubectl krew install --manifest=FILE --archive=FILE (the files it was installed from)"
            ),
            "default" => format!("kubectl krew uninstall {p} && kubectl krew install {p}"),
            index => format!("kubectl krew uninstall {p} && kubectl krew install {index}/{p}"),
        }
    }
}

/// A krew installation could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KrewError {
    /// No receipt for the plugin.
    #[error(
        "{reference}: the krew plugin {plugin} is not installed (no {receipt}); install it with `{install}`{hint}"
    )]
    NotInstalled {
        /// What was asked for.
        reference: String,
        /// `promote-policy-<name>`.
        plugin: String,
        /// The receipt path looked for.
        receipt: String,
        /// The install command.
        install: String,
        /// How to add the index, when the suggested one is meant.
        hint: String,
    },
    /// Installed, but from another index than the one `krew:INDEX/NAME` insists on.
    #[error(
        "{reference}: {plugin} is installed from the krew index `{installed}`, not `{wanted}`; reinstall it: kubectl krew uninstall {plugin} && kubectl krew install {wanted}/{plugin}"
    )]
    OtherIndex {
        /// What was asked for.
        reference: String,
        /// `promote-policy-<name>`.
        plugin: String,
        /// Where it came from.
        installed: String,
        /// Where it should come from.
        wanted: String,
    },
    /// A receipt that does not parse.
    #[error("{path}: not a krew receipt ({message}); reinstall the plugin with kubectl krew")]
    Receipt {
        /// The receipt.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The store lacks the package file, or it is not a policy package.
    #[error("{label}: {path}: {problem}; reinstall it: {reinstall}")]
    Package {
        /// `krew:<index>/<name>@<version>`.
        label: String,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
        /// The command that fixes it.
        reinstall: String,
    },
    /// The receipts directory could not be listed.
    #[error("listing krew receipts in {}", path.display())]
    List {
        /// `$KREW_ROOT/receipts`.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The part of a krew receipt discovery needs (krew's own format; unknown keys are ignored, as
/// krew itself does, because krew adds fields between versions).
#[derive(Deserialize)]
struct Receipt {
    metadata: ReceiptMeta,
    spec: ReceiptSpec,
    #[serde(default)]
    status: Option<ReceiptStatus>,
}

#[derive(Deserialize)]
struct ReceiptMeta {
    name: String,
}

#[derive(Deserialize)]
struct ReceiptSpec {
    version: String,
}

#[derive(Deserialize)]
struct ReceiptStatus {
    #[serde(default)]
    source: Option<ReceiptSource>,
}

#[derive(Deserialize)]
struct ReceiptSource {
    #[serde(default)]
    name: Option<String>,
}

/// The pin part of a package's `promote-policy.yaml` (the host reads the rest, strictly).
#[derive(Deserialize)]
struct PackagePin {
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
}

/// Every `promote-policy-*` plugin with a receipt under `root`, by plugin name; a plugin whose
/// receipt or package cannot be read is an `Err` in its place. No `receipts` directory (krew
/// never ran) is an empty list.
pub fn installed(root: &Path) -> Result<Vec<Result<Installed, KrewError>>, KrewError> {
    let dir = root.join("receipts");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(KrewError::List { path: dir, source }),
    };
    let mut receipts: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PLUGIN_PREFIX) && n.ends_with(".yaml"))
        })
        .collect();
    receipts.sort();
    Ok(receipts.iter().map(|r| read(root, r)).collect())
}

/// The installed plugin `reference` names.
pub fn find(root: &Path, reference: &KrewRef) -> Result<Installed, KrewError> {
    let plugin = reference.plugin();
    let receipt = root.join("receipts").join(format!("{plugin}.yaml"));
    if !receipt.is_file() {
        let hint = if reference.index.is_none() {
            format!(
                " (once: `kubectl krew index add {SUGGESTED_INDEX} <index git URL>`), or from files: `kubectl krew install --manifest=FILE --archive=FILE`"
            )
        } else {
            String::new()
        };
        return Err(KrewError::NotInstalled {
            reference: reference.to_string(),
            plugin,
            receipt: receipt.display().to_string(),
            install: reference.install_command(),
            hint,
        });
    }
    let found = read(root, &receipt)?;
    if let Some(wanted) = &reference.index
        && *wanted != found.index
    {
        return Err(KrewError::OtherIndex {
            reference: reference.to_string(),
            plugin,
            installed: found.index,
            wanted: wanted.clone(),
        });
    }
    Ok(found)
}

fn read(root: &Path, receipt: &Path) -> Result<Installed, KrewError> {
    let bad = |message: String| KrewError::Receipt {
        path: receipt.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(receipt).map_err(|e| bad(e.to_string()))?;
    let place = receipt.display().to_string();
    let r: Receipt = yaml::from_str(&place, &text).map_err(|e| bad(e.message().to_owned()))?;
    let plugin = r.metadata.name;
    if !plugin.starts_with(PLUGIN_PREFIX) || plugin.contains(['/', '\\']) || plugin.contains("..") {
        return Err(bad(format!("`{plugin}` is not a policy plugin name")));
    }
    if r.spec.version.contains(['/', '\\']) || r.spec.version.contains("..") {
        return Err(bad(format!("`{}` is not a version", r.spec.version)));
    }
    // krew reads a receipt without a source as installed from its default index.
    let index = r
        .status
        .and_then(|s| s.source)
        .and_then(|s| s.name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_owned());
    let dir = root.join("store").join(&plugin).join(&r.spec.version);
    let mut found = Installed {
        plugin,
        index,
        version: r.spec.version,
        module: PathBuf::new(),
        sha256: Sha256([0; 32]),
        dir,
    };
    let package = found.dir.join(PACKAGE_FILE);
    let problem = |problem: String| KrewError::Package {
        label: found.label(),
        path: package.clone(),
        problem,
        reinstall: found.reinstall_command(),
    };
    let text = std::fs::read_to_string(&package).map_err(|e| {
        problem(format!(
            "cannot read the package metadata ({e}); this plugin is not a kubectl promote policy package, or its files were removed"
        ))
    })?;
    let place = package.display().to_string();
    let pin: PackagePin =
        yaml::from_str(&place, &text).map_err(|e| problem(e.message().to_owned()))?;
    let module = match pin.module {
        Some(m) if !m.is_empty() && !m.contains(['/', '\\']) && m != ".." => m,
        Some(m) => return Err(problem(format!("`module: {m}` must name a file beside it"))),
        None => {
            return Err(problem(
                "no `module:` (the packaged module's file name)".into(),
            ));
        }
    };
    let sha256 = match pin.sha256.as_deref().map(str::parse::<Sha256>) {
        Some(Ok(s)) => s,
        Some(Err(e)) => return Err(problem(format!("`sha256`: {e}"))),
        None => return Err(problem("no `sha256:` pin of the module".into())),
    };
    found.module = found.dir.join(module);
    found.sha256 = sha256;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = KrewRef::parse("qa-approved").unwrap();
        assert_eq!(
            (r.index.as_deref(), r.name.as_str(), r.plugin()),
            (None, "qa-approved", "promote-policy-qa-approved".to_owned())
        );
        assert_eq!(KrewRef::parse("promote-policy-qa-approved").unwrap(), r);
        let r = KrewRef::parse("acme/promote-policy-cost_guard").unwrap();
        assert_eq!(
            (r.index.as_deref(), r.name.as_str()),
            (Some("acme"), "cost_guard")
        );
        assert_eq!(
            r.install_command(),
            "kubectl krew install acme/promote-policy-cost_guard"
        );
        for bad in ["", "a/b/c", "../x", "x y", "acme/"] {
            assert!(KrewRef::parse(bad).is_err(), "{bad}");
        }
    }

    fn receipt(root: &Path, plugin: &str, status: &str) {
        std::fs::create_dir_all(root.join("receipts")).unwrap();
        std::fs::write(
            root.join("receipts").join(format!("{plugin}.yaml")),
            format!("apiVersion: krew.googlecontainertools.github.com/v1alpha2\nkind: Plugin\nmetadata:\n  creationTimestamp: \"2026-11-26T10:00:00Z\"\n  name: {plugin}\nspec:\n  version: v1.2.0\n  shortDescription: x\n  platforms: []\n{status}"),
        )
        .unwrap();
    }

    #[test]
    fn receipts_then_the_store() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        assert!(
            installed(root).unwrap().is_empty(),
            "no receipts dir: nothing installed"
        );
        // A receipt without a source: krew's default index. Another plugin's receipt is ignored.
        receipt(root, "promote-policy-a", "");
        receipt(root, "ctx", "status:\n  source:\n    name: default\n");
        let store = root.join("store/promote-policy-a/v1.2.0");
        std::fs::create_dir_all(&store).unwrap();
        let sha = Sha256::of(b"module");
        std::fs::write(store.join(PACKAGE_FILE), format!("name: a\nversion: 1.2.0\nabi: promote.wasi-command/v1\noperations: [promote]\nmodule: policy.wasm\nsha256: {sha}\n")).unwrap();
        let all = installed(root).unwrap();
        assert_eq!(all.len(), 1);
        let a = all[0].as_ref().unwrap();
        assert_eq!(
            (a.index.as_str(), a.name(), a.label()),
            ("default", "a", "krew:default/a@v1.2.0".to_owned())
        );
        assert_eq!(
            (a.module.clone(), a.sha256),
            (store.join("policy.wasm"), sha)
        );
        assert_eq!(
            a.reinstall_command(),
            "kubectl krew uninstall promote-policy-a && kubectl krew install promote-policy-a"
        );

        // From another index than asked for.
        let e = find(root, &KrewRef::parse("acme/a").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("installed from the krew index `default`, not `acme`"),
            "{e}"
        );
        // Not installed.
        let e = find(root, &KrewRef::parse("b").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("promote-policy-b is not installed")
                && e.contains("kubectl krew install promote/promote-policy-b"),
            "{e}"
        );
        // A package without its pin.
        std::fs::write(store.join(PACKAGE_FILE), "name: a\nmodule: policy.wasm\n").unwrap();
        let e = find(root, &KrewRef::parse("a").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no `sha256:` pin")
                && e.contains("reinstall it: kubectl krew uninstall promote-policy-a"),
            "{e}"
        );
        // Files removed from the store.
        std::fs::remove_dir_all(&store).unwrap();
        let e = find(root, &KrewRef::parse("a").unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read the package metadata"), "{e}");
    }
}
