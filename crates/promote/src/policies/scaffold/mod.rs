//! `policy new NAME --lang rust|go|rego` and `policy sdk --lang go|rust --out DIR`: a policy
//! project that builds and tests offline as generated (the SDK vendored into it, nothing to
//! fetch but what the local caches hold), and the SDKs written out on their own. The templates
//! are in `templates/`, the SDK files in [`sdk`], the case requests in [`cases`].

pub mod cases;
pub mod project;
pub mod sdk;
pub mod written;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use promote_policy_sdk::OperationKind;

use super::error::PoliciesError;
use crate::PromoteError;
use crate::document::Document;

pub use sdk::SdkLang;
pub use written::{Lang, Written};

/// `policy new`.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub name: String,
    pub lang: Lang,
    /// `--decides` (default: promote).
    pub decides: Vec<OperationKind>,
    /// `--dir` (default: ./NAME), relative to `cwd`.
    pub dir: Option<PathBuf>,
    pub cwd: PathBuf,
}

/// The project written (`kind: PolicyProject`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewReport {
    pub name: String,
    pub lang: &'static str,
    pub dir: String,
    pub operations: Vec<OperationKind>,
    pub files: Vec<String>,
    /// The commands that take the project from here to a module in promote.yaml.
    pub next: Vec<String>,
}

impl Document for NewReport {
    fn kind(&self) -> &'static str {
        "PolicyProject"
    }
}

/// `policy sdk`.
#[derive(Debug, Clone)]
pub struct SdkRequest {
    pub lang: SdkLang,
    /// `--out`, relative to `cwd`.
    pub out: PathBuf,
    pub cwd: PathBuf,
}

/// The SDK written (`kind: PolicySdk`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SdkReport {
    pub lang: &'static str,
    pub version: &'static str,
    pub dir: String,
    pub files: Vec<String>,
    /// How a project uses it from there.
    pub usage: String,
}

impl Document for SdkReport {
    fn kind(&self) -> &'static str {
        "PolicySdk"
    }
}

/// Writes a new policy project. `Err` (usage) for a bad name or a directory that is not
/// empty; nothing is overwritten.
pub fn new_project(req: &NewRequest) -> Result<NewReport, PromoteError> {
    check_name(&req.name)?;
    let mut decides = req.decides.clone();
    if decides.is_empty() {
        decides.push(OperationKind::Promote);
    }
    decides.sort();
    decides.dedup();
    let dir = req
        .cwd
        .join(req.dir.clone().unwrap_or_else(|| PathBuf::from(&req.name)));
    let files = project::files(req.lang, &req.name, &decides);
    write_all(&dir, "the project directory (--dir)", &files)?;
    Ok(NewReport {
        name: req.name.clone(),
        lang: req.lang.name(),
        dir: shown(&dir, &req.cwd),
        operations: decides.clone(),
        files: files.iter().map(|w| w.path.display().to_string()).collect(),
        next: project::next_steps(req.lang, &shown(&dir, &req.cwd)),
    })
}

/// Writes an SDK out. `Err` (usage) when `--out` is a directory that is not empty.
pub fn write_sdk(req: &SdkRequest) -> Result<SdkReport, PromoteError> {
    let dir = req.cwd.join(&req.out);
    let files = sdk::files(req.lang);
    write_all(&dir, "--out", &files)?;
    let at = shown(&dir, &req.cwd);
    let usage = match req.lang {
        SdkLang::Go => format!(
            "go mod edit -require {m}@v0.0.0 -replace {m}={}",
            if at.starts_with('/') || at.starts_with('.') {
                at.clone()
            } else {
                format!("./{at}")
            },
            m = sdk::GO_MODULE
        ),
        SdkLang::Rust => {
            format!("promote-policy-sdk = {{ path = \"{at}\" }}   # in Cargo.toml's [dependencies]")
        }
    };
    Ok(SdkReport {
        lang: req.lang.name(),
        version: env!("CARGO_PKG_VERSION"),
        dir: at,
        files: files.iter().map(|w| w.path.display().to_string()).collect(),
        usage,
    })
}

/// A policy name: what krew (`promote-policy-NAME`), cargo, Go and file names all accept.
fn check_name(name: &str) -> Result<(), PromoteError> {
    let ok = (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(PromoteError::Usage(format!(
            "NAME {name:?}: a policy name is 1 to 40 lowercase letters, digits and single dashes, starting with a letter (e.g. cost-guard); it becomes the krew plugin promote-policy-NAME"
        )))
    }
}

/// `dir` as the user would write it: relative to `cwd` when inside it.
fn shown(dir: &Path, cwd: &Path) -> String {
    dir.strip_prefix(cwd)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string()
}

/// Writes `files` below `dir`, which must not exist or be empty; `what` names it in errors.
fn write_all(dir: &Path, what: &str, files: &[Written]) -> Result<(), PromoteError> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(PromoteError::Usage(format!(
                "{what} {}: exists and is not empty; nothing was written (choose a new directory, or remove this one)",
                dir.display()
            )));
        }
    }
    for w in files {
        let path = dir.join(&w.path);
        write_one(&path, w).map_err(|source| PoliciesError::Write { path, source })?;
    }
    Ok(())
}

fn write_one(path: &Path, w: &Written) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if w.executable { 0o755 } else { 0o644 });
    }
    options.open(path)?.write_all(w.text.as_bytes())
}

#[cfg(test)]
mod tests {
    use promote_policy_sdk::OperationKind;

    use super::{Lang, NewRequest, check_name, new_project};
    use crate::PromoteError;

    #[test]
    fn names_are_what_krew_cargo_and_go_all_accept() {
        for good in ["cost-guard", "a", "v2-check"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["Cost", "-a", "a-", "a--b", "a_b", "../x", "", "2fast"] {
            assert!(
                matches!(check_name(bad), Err(PromoteError::Usage(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_project_is_written_once_and_never_over_a_file() {
        let d = tempfile::tempdir().unwrap();
        let req = NewRequest {
            name: "guard".into(),
            lang: Lang::Rego,
            decides: vec![OperationKind::Rollback, OperationKind::Promote],
            dir: None,
            cwd: d.path().to_path_buf(),
        };
        let report = new_project(&req).unwrap();
        assert_eq!(report.dir, "guard");
        assert_eq!(
            report.operations,
            [OperationKind::Promote, OperationKind::Rollback]
        );
        let manifest = std::fs::read_to_string(d.path().join("guard/.manifest")).unwrap();
        assert!(
            manifest.contains(r#""operations": ["promote","rollback"]"#),
            "{manifest}"
        );
        let build = d.path().join("guard/build.sh");
        assert!(
            std::fs::read_to_string(&build)
                .unwrap()
                .contains("policies/guard/bundle.tar.gz")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&build).unwrap().permissions().mode();
            assert_eq!(mode & 0o111, 0o111, "build.sh is executable");
        }
        assert!(
            matches!(new_project(&req), Err(PromoteError::Usage(m)) if m.contains("not empty"))
        );
    }
}
