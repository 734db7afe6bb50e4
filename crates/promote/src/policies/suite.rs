//! `policy test [DIR]`: policy test cases (`*.json`, the format of `promote_policy::cases`, plus
//! an optional `"module"`) run through the real sandbox. DIR is a policy project (a module and
//! `cases/`), a directory of cases, and/or one subdirectory of cases per module; each directory
//! of cases is a suite with the module it tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use promote_policy::cases::{Case, check_case};
use promote_policy::sdk::Decision;
use promote_policy::{Host, ModuleSource, Policy, builtin_bytes};

use super::error::PoliciesError;
use super::resolve::{file, module_in_dir, resolve_module};
use crate::document::Document;
use crate::gate::note_cache;
use crate::ports::PolicyRuntime;
use crate::{Interaction, PromoteError};

/// What to test.
#[derive(Debug, Clone)]
pub struct TestRequest {
    /// DIR (relative to `cwd`); `None`: `./cases`, else `./policies/cases`.
    pub dir: Option<PathBuf>,
    pub cwd: PathBuf,
}

/// The cases and how they went (`kind: PolicyTestResult`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestReport {
    pub dir: String,
    pub cases: Vec<CaseResult>,
    pub passed: usize,
    pub failed: usize,
}

impl Document for TestReport {
    fn kind(&self) -> &'static str {
        "PolicyTestResult"
    }
}

/// One case file.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseResult {
    /// The file, relative to DIR.
    pub file: String,
    /// The origin of the module it ran against, when one was found.
    pub module: Option<String>,
    pub description: String,
    pub passed: bool,
    pub problems: Vec<String>,
    /// The case's `expect`, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Value>,
    /// The Decision `evaluate` gave, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<Decision>,
}

/// A directory of case files and the module they test unless a case names its own.
#[derive(Debug)]
pub struct Suite {
    pub dir: PathBuf,
    pub module: Result<ModuleSource, String>,
}

/// Run every case. A case that fails (or whose module cannot be found or loaded) is a failed
/// result; `Err` when DIR holds no cases.
pub fn run(
    policies: &PolicyRuntime,
    req: &TestRequest,
    ui: &dyn Interaction,
) -> Result<TestReport, PromoteError> {
    let root = match &req.dir {
        Some(d) => req.cwd.join(d),
        None => default_test_dir(&req.cwd)?,
    };
    if !root.is_dir() {
        return Err(PromoteError::Usage(format!(
            "{}: not a directory of policy test cases",
            root.display()
        )));
    }
    let suites = suites(&root, &policies.settings.one_offs)?;
    let mut runner = Runner {
        host: policies.host()?,
        krew_root: policies.settings.krew_root.as_deref(),
        root: &root,
        loaded: BTreeMap::new(),
        ui,
    };
    let mut cases = Vec::new();
    for suite in &suites {
        for file in json_files(&suite.dir)? {
            cases.push(runner.case(suite, &file));
        }
    }
    let passed = cases.iter().filter(|r| r.passed).count();
    Ok(TestReport {
        dir: root.display().to_string(),
        failed: cases.len() - passed,
        cases,
        passed,
    })
}

/// `DIR` default: `./cases` (a policy project), else `./policies/cases` (this layout's
/// built-in cases, one subdirectory per built-in).
pub fn default_test_dir(cwd: &Path) -> Result<PathBuf, PromoteError> {
    for d in ["cases", "policies/cases"] {
        if cwd.join(d).is_dir() {
            return Ok(cwd.join(d));
        }
    }
    Err(PromoteError::Usage(format!(
        "no ./cases or ./policies/cases in {}; pass the directory: `kubectl promote policy test DIR`",
        cwd.display()
    )))
}

/// The suites under `root`: its `cases/` (or itself) when it holds case files, then each
/// subdirectory that does, in name order. `one_offs` are the `--policy` modules.
pub fn suites(root: &Path, one_offs: &[PathBuf]) -> Result<Vec<Suite>, PromoteError> {
    let cases_dir = if root.join("cases").is_dir() {
        root.join("cases")
    } else {
        root.to_path_buf()
    };
    let mut dirs = Vec::new();
    if has_json(&cases_dir) {
        dirs.push(cases_dir.clone());
    }
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
        .map_err(|source| read_error(&cases_dir, source))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && has_json(p))
        .collect();
    subdirs.sort();
    dirs.extend(subdirs);
    if dirs.is_empty() {
        return Err(PromoteError::Usage(format!(
            "no test cases (*.json) in {} or its subdirectories; see docs/policies.md, \"Testing\"",
            cases_dir.display()
        )));
    }
    Ok(dirs
        .into_iter()
        .map(|dir| Suite {
            module: suite_module(&dir, one_offs),
            dir,
        })
        .collect())
}

fn read_error(path: &Path, source: std::io::Error) -> PromoteError {
    PoliciesError::Read {
        what: path.display().to_string(),
        source,
    }
    .into()
}

fn has_json(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .any(|e| e.path().extension().is_some_and(|x| x == "json"))
}

/// The case files of a suite, sorted.
fn json_files(dir: &Path) -> Result<Vec<PathBuf>, PromoteError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| read_error(dir, source))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    Ok(files)
}

/// The module a suite tests: `--policy`, else one beside the cases (in the directory, or in
/// the policy directory above a `cases/`), else `builtin:NAME` for a directory named NAME.
pub fn suite_module(dir: &Path, one_offs: &[PathBuf]) -> Result<ModuleSource, String> {
    match one_offs {
        [one] => return Ok(file(one.clone())),
        [] => {}
        _ => {
            return Err(
                "several --policy modules given; `policy test` takes one (or name the module in each case)"
                    .into(),
            );
        }
    }
    let mut places = vec![dir.to_path_buf()];
    if dir.file_name().is_some_and(|n| n == "cases")
        && let Some(parent) = dir.parent()
    {
        places.push(parent.to_path_buf());
    }
    for p in &places {
        match module_in_dir(p) {
            Ok(Some(m)) => return Ok(m),
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    match dir.file_name().and_then(|n| n.to_str()) {
        Some(name) if builtin_bytes(name).is_some() => Ok(ModuleSource::Builtin(name.to_owned())),
        _ => Err(format!(
            "no module for the cases in {}: put the module (or a promote-policy.yaml naming it) beside them, name it in each case (\"module\": \"builtin:NAME\" or a path), or pass --policy PATH",
            dir.display()
        )),
    }
}

/// Runs cases, loading each module once.
struct Runner<'a> {
    host: &'a Host,
    krew_root: Option<&'a Path>,
    /// DIR: case files are shown relative to it.
    root: &'a Path,
    /// By origin: the module, or why it could not be loaded.
    loaded: BTreeMap<String, Result<Policy, String>>,
    ui: &'a dyn Interaction,
}

impl Runner<'_> {
    fn case(&mut self, suite: &Suite, file: &Path) -> CaseResult {
        let mut result = CaseResult {
            file: file
                .strip_prefix(self.root)
                .unwrap_or(file)
                .display()
                .to_string(),
            module: None,
            description: String::new(),
            passed: false,
            problems: Vec::new(),
            expected: None,
            actual: None,
        };
        let (named, case, expected) = match parse_case(file) {
            Ok(c) => c,
            Err(e) => {
                result.problems.push(e);
                return result;
            }
        };
        result.description = case.description.clone();
        result.expected = Some(expected);
        let module = match named {
            Some(m) => resolve_module(&m, &suite.dir, self.krew_root)
                .map_err(|e| format!("\"module\": {e}")),
            None => suite.module.clone(),
        };
        let source = match module {
            Ok(s) => s,
            Err(e) => {
                result.problems.push(e);
                return result;
            }
        };
        let key = source.origin().to_string();
        result.module = Some(key.clone());
        let host = self.host;
        match self.load(key, &source) {
            Err(e) => result.problems.push(e.clone()),
            Ok(p) => {
                let checked = check_case(host, p, &case);
                result.passed = checked.problems.is_empty();
                result.problems = checked.problems;
                result.actual = checked.actual;
            }
        }
        result
    }

    /// The module under `key`, loaded on first use.
    fn load(&mut self, key: String, source: &ModuleSource) -> &Result<Policy, String> {
        let (host, ui) = (self.host, self.ui);
        self.loaded.entry(key).or_insert_with(|| {
            let p = host.load(source).map_err(|e| e.to_string());
            if let Ok(p) = &p {
                note_cache(host, p, ui);
            }
            p
        })
    }
}

/// A case file, with an optional `"module"` naming what it tests (beside the format of
/// `promote_policy::cases`), and its `expect` as written.
pub fn parse_case(path: &Path) -> Result<(Option<String>, Case, Value), String> {
    let text = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut v: Value =
        serde_json::from_slice(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let module = match v.as_object_mut().and_then(|o| o.remove("module")) {
        None => None,
        Some(Value::String(m)) => Some(m),
        Some(other) => {
            return Err(format!(
                "{}: \"module\" must be a string (builtin:NAME or a path), not {other}",
                path.display()
            ));
        }
    };
    let expected = v.get("expect").cloned().unwrap_or(Value::Null);
    let case = serde_json::from_value::<Case>(v)
        .map_err(|e| format!("{}: not a policy test case: {e}", path.display()))?;
    Ok((module, case, expected))
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use promote_policy::{ModuleSource, builtin_bytes};

    use super::{TestRequest, default_test_dir, parse_case, suite_module, suites};
    use crate::PromoteError;
    use crate::ports::{PolicyRuntime, PolicySettings};

    /// This repository's case files for `builtin:NAME`.
    fn builtin_cases(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../policies/cases")
            .join(name)
    }

    fn copy_case(from: &str, to: &Path) {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(builtin_cases("semver-guard").join(from), to).unwrap();
    }

    #[test]
    fn the_default_directory_is_cases_then_policies_cases() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            default_test_dir(d.path()),
            Err(PromoteError::Usage(_))
        ));
        std::fs::create_dir_all(d.path().join("policies/cases")).unwrap();
        assert_eq!(
            default_test_dir(d.path()).unwrap(),
            d.path().join("policies/cases")
        );
        std::fs::create_dir_all(d.path().join("cases")).unwrap();
        assert_eq!(default_test_dir(d.path()).unwrap(), d.path().join("cases"));
    }

    #[test]
    fn a_suite_tests_the_policy_option_the_module_beside_it_or_the_builtin_it_is_named_for() {
        let d = tempfile::tempdir().unwrap();
        let project = d.path().join("guard");
        std::fs::create_dir_all(project.join("cases")).unwrap();
        std::fs::write(
            project.join("policy.wasm"),
            builtin_bytes("soak-time").unwrap(),
        )
        .unwrap();
        // In the policy directory above `cases/`.
        assert!(matches!(
            suite_module(&project.join("cases"), &[]),
            Ok(ModuleSource::File { path, .. }) if path == project.join("policy.wasm")
        ));
        // `--policy` wins; two are one too many.
        let one = PathBuf::from("/elsewhere/p.wasm");
        assert!(matches!(
            suite_module(&project.join("cases"), std::slice::from_ref(&one)),
            Ok(ModuleSource::File { path, .. }) if path == one
        ));
        let two = suite_module(&project.join("cases"), &[one.clone(), one]).unwrap_err();
        assert!(two.contains("several --policy modules"), "{two}");
        // A directory named for a built-in.
        let named = d.path().join("semver-guard");
        std::fs::create_dir_all(&named).unwrap();
        assert!(matches!(
            suite_module(&named, &[]),
            Ok(ModuleSource::Builtin(n)) if n == "semver-guard"
        ));
        let none = suite_module(d.path(), &[]).unwrap_err();
        assert!(none.contains("pass --policy PATH"), "{none}");
    }

    #[test]
    fn suites_are_the_cases_directory_then_each_subdirectory_in_name_order() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        copy_case("deny-downgrade.json", &root.join("cases/top.json"));
        copy_case(
            "deny-downgrade.json",
            &root.join("cases/semver-guard/a.json"),
        );
        copy_case("deny-downgrade.json", &root.join("cases/b-dir/b.json"));
        std::fs::create_dir_all(root.join("cases/no-json")).unwrap();
        let found: Vec<PathBuf> = suites(root, &[])
            .unwrap()
            .into_iter()
            .map(|s| s.dir)
            .collect();
        assert_eq!(
            found,
            [
                root.join("cases"),
                root.join("cases/b-dir"),
                root.join("cases/semver-guard")
            ]
        );
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            suites(empty.path(), &[]),
            Err(PromoteError::Usage(_))
        ));
    }

    #[test]
    fn a_case_may_name_its_module_and_nothing_else_beyond_the_case_format() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("c.json");
        std::fs::write(
            &path,
            r#"{"module": "builtin:soak-time", "expect": {"settingsValid": true}}"#,
        )
        .unwrap();
        let (module, _, expected) = parse_case(&path).unwrap();
        assert_eq!(expected["settingsValid"], true);
        assert_eq!(module.as_deref(), Some("builtin:soak-time"));
        std::fs::write(&path, r#"{"module": 5, "expect": {}}"#).unwrap();
        assert!(
            parse_case(&path)
                .unwrap_err()
                .contains("\"module\" must be a string")
        );
        std::fs::write(&path, r#"{"expect": {}, "surprise": 1}"#).unwrap();
        assert!(
            parse_case(&path)
                .unwrap_err()
                .contains("not a policy test case")
        );
    }

    #[test]
    fn run_counts_passed_and_failed_cases_against_the_real_sandbox() {
        let d = tempfile::tempdir().unwrap();
        let cases = d.path().join("semver-guard");
        copy_case("deny-downgrade.json", &cases.join("deny-downgrade.json"));
        // The same request with the opposite expectation fails.
        let text = std::fs::read_to_string(cases.join("deny-downgrade.json")).unwrap();
        std::fs::write(
            cases.join("wrong.json"),
            text.replace("\"deny\"", "\"allow\""),
        )
        .unwrap();
        let runtime = PolicyRuntime::new(PolicySettings::default());
        let request = TestRequest {
            dir: Some("semver-guard".into()),
            cwd: d.path().to_path_buf(),
        };
        let report = super::run(&runtime, &request, &crate::Quiet).unwrap();
        assert_eq!((report.passed, report.failed), (1, 1));
        assert_eq!(report.cases[0].file, "deny-downgrade.json");
        assert_eq!(
            report.cases[0].module.as_deref(),
            Some("builtin:semver-guard")
        );
        assert!(!report.cases[1].passed && !report.cases[1].problems.is_empty());
        // Side by side: what the case expected and what the module said.
        assert_eq!(
            report.cases[1].expected.as_ref().unwrap()["decision"],
            "allow"
        );
        assert_eq!(
            report.cases[1].actual.as_ref().unwrap().decision,
            promote_policy::sdk::Verdict::Deny
        );
        let xml = crate::policies::junit::xml(&report);
        assert!(
            xml.contains(r#"<testsuite name="semver-guard" tests="2" failures="1""#)
                && xml.contains(r#"<testcase name="wrong.json" classname="builtin:semver-guard"><failure message="decision is deny"#),
            "{xml}"
        );
    }
}
