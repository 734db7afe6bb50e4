//! The policy commands that touch the file system, end to end: `policy list | inspect | eval |
//! test | package`, the policy author's and the operator's view of modules, straight on the
//! wasmtime host ([`PolicyRuntime`](crate::ports::PolicyRuntime), the same limits and cache as
//! promotions). Each returns a typed report (`PolicyList`, `PolicyInspection`,
//! `PolicyEvaluation`, `PolicyTestResult`, `PolicyPackageResult`); the binary prints it and maps
//! it to an exit code. `policy new` and `policy sdk` write projects and SDKs ([`scaffold`]). What a MODULE argument names is [`resolve`]'s.

pub mod bench;
pub mod error;
pub mod eval;
pub mod inspect;
pub mod junit;
pub mod list;
pub mod package;
pub mod resolve;
pub mod scaffold;
pub mod suite;

pub use error::PoliciesError;
pub use eval::{EvalError, EvalReport, EvalRequest, Input};
pub use inspect::{InspectReport, LimitsReport, ShapeCheck};
pub use list::{ConfigSource, ListReport, ListRow};
pub use package::{PackageReport, PackageRequest};
pub use resolve::{module_in_dir, resolve_module};
pub use suite::{CaseResult, TestReport, TestRequest};
