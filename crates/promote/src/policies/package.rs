//! `policy package DIR`: a module and its licence as a krew plugin, a reproducible `.tar.gz` and
//! its manifest ([`promote_policy::package`]), once the host has loaded the module as promotions
//! would: a module that would be refused is not packaged.

use std::path::{Path, PathBuf};

use serde::Serialize;

use promote_policy::package::{PackageError, PackageInput};

use super::error::PoliciesError;
use super::resolve::{file, module_file_in_dir};
use crate::PromoteError;
use crate::document::Document;
use crate::ports::PolicyRuntime;

/// What to package, and where to.
#[derive(Debug, Clone)]
pub struct PackageRequest {
    /// The policy directory (module + LICENSE), or the module file (LICENSE beside it).
    pub dir: PathBuf,
    /// `--version` (default: the module's metadata version, with a leading `v`).
    pub version: Option<String>,
    /// `--out-dir`.
    pub out_dir: PathBuf,
    /// `--uri`: the archive's download URL, or a template.
    pub uri: Option<String>,
    /// `--license` (default: DIR/LICENSE).
    pub license: Option<PathBuf>,
    /// `--homepage`.
    pub homepage: Option<String>,
    /// Relative paths are taken from here, and the written files shown relative to it.
    pub cwd: PathBuf,
}

/// The package written (`kind: PolicyPackageResult`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageReport {
    pub plugin: String,
    pub version: String,
    pub archive: String,
    pub sha256: String,
    pub manifest: String,
    pub uri: String,
    pub module_file: &'static str,
    pub module_sha256: String,
    /// The policy's name: `krew:NAME` in promote.yaml (for the text view).
    #[serde(skip)]
    pub name: String,
    /// What the author should know before publishing (a `file://` URI).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Document for PackageReport {
    fn kind(&self) -> &'static str {
        "PolicyPackageResult"
    }
}

/// Package the module. `Err` when there is no module or licence, the module would be
/// refused, its name or version cannot be a krew plugin's, or the files cannot be written.
pub fn run(policies: &PolicyRuntime, req: &PackageRequest) -> Result<PackageReport, PromoteError> {
    let cwd = &req.cwd;
    let (dir, module_path) = locate(req)?;
    let license_path = req
        .license
        .as_ref()
        .map_or_else(|| dir.join("LICENSE"), |l| cwd.join(l));
    let license = read_license(&license_path)?;
    let host = policies.host()?;
    // Load it as promotions would: a module that would be refused is not packaged.
    let policy =
        host.load(&file(module_path.clone()))
            .map_err(|source| PoliciesError::NotPackaged {
                module: module_path.display().to_string(),
                source,
            })?;
    let module = std::fs::read(&module_path).map_err(|source| PoliciesError::Read {
        what: module_path.display().to_string(),
        source,
    })?;
    let p = promote_policy::package::package(
        &PackageInput {
            metadata: policy.metadata(),
            module: &module,
            license: &license,
            version: req.version.as_deref(),
            uri: req.uri.as_deref(),
            homepage: req.homepage.as_deref(),
        },
        &cwd.join(&req.out_dir),
    )
    .map_err(|e| match e {
        PackageError::Write { .. } => PoliciesError::Package(e).into(),
        other => PromoteError::Usage(other.to_string()),
    })?;
    let shown = |p: &Path| p.strip_prefix(cwd).unwrap_or(p).display().to_string();
    let warnings = if p.uri.starts_with("file://") {
        vec![format!(
            "the manifest's uri is {}: it works for `kubectl krew install --manifest=… --archive=…` on this machine only; for an index served over HTTP, package again with --uri 'https://HOST/PATH/{{archive}}' where the archive will be uploaded",
            p.uri
        )]
    } else {
        Vec::new()
    };
    Ok(PackageReport {
        warnings,
        archive: shown(&p.archive),
        manifest: shown(&p.manifest),
        sha256: p.sha256.to_hex(),
        module_sha256: p.module_sha256.to_hex(),
        plugin: p.plugin,
        version: p.version,
        uri: p.uri,
        module_file: p.module_file,
        name: policy.metadata().name.clone(),
    })
}

/// The policy directory and the module file in it.
fn locate(req: &PackageRequest) -> Result<(PathBuf, PathBuf), PromoteError> {
    let given = req.cwd.join(&req.dir);
    if given.is_file() {
        let dir = given
            .parent()
            .map_or_else(|| req.cwd.clone(), Path::to_path_buf);
        return Ok((dir, given));
    }
    if !given.is_dir() {
        return Err(PromoteError::Usage(format!(
            "{}: no such policy directory or module file",
            req.dir.display()
        )));
    }
    match module_file_in_dir(&given)? {
        Some(module) => Ok((given, module)),
        None => Err(PromoteError::Usage(format!(
            "{}: no policy module here: expected a promote-policy.yaml naming `module:`, one .wasm file, or one built under target/wasm32-wasip1/release/",
            given.display()
        ))),
    }
}

/// The licence text; a missing one is the command line's to fix.
fn read_license(path: &Path) -> Result<Vec<u8>, PromoteError> {
    match std::fs::read(path) {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(PromoteError::Usage(format!(
            "{}: missing; a krew package ships its licence: put the licence text there (e.g. copy your project's LICENSE) or pass --license FILE",
            path.display()
        ))),
        Err(source) => Err(PoliciesError::Read {
            what: path.display().to_string(),
            source,
        }
        .into()),
    }
}
