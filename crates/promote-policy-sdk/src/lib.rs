//! The wire contract between `kubectl promote` and its policy modules
//! (`promote.wasi-command/v1`, see `specs/policy-abi.md`), shared by the host and by guests.
//!
//! This crate owns the JSON shapes (the [`EvaluationRequest`] on stdin, the [`Decision`] and
//! [`SettingsValidation`] on stdout, the [`PolicyMetadata`] in the module's custom section), the
//! [`run`] helper that turns a guest's `main` into the command-module protocol, and small helpers
//! that every policy needs ([`latest_approval`], [`latest_per_approver`]). It depends on serde
//! and serde_json only, so it builds for the host and for `wasm32-wasip1` alike.
//!
//! Fields the host could not learn are `None` and travel as JSON `null`, never omitted, so a
//! policy can tell "unknown" from "absent by design".

mod approvals;
mod decision;
mod metadata;
mod request;
mod run;

pub use approvals::{approver_key, latest_approval, latest_per_approver};
pub use decision::{
    Decision, DecisionError, Reason, RequiredApproval, SettingsValidation, Verdict,
};
pub use metadata::{METADATA_SECTION, PolicyMetadata, Resources};
pub use request::{
    Actor, ApprovalRecord, ApprovalVerdict, Approver, ArgoCdState, CheckResults, CheckSample,
    Context, Environment, EvaluationRequest, GitState, HistoryEntry, Identity, ImageChange,
    ImageRef, ImageSource, InitiatedBy, ObjectChange, Operation, OperationKind, Override,
    Promotion, PromotionMode, Provenance, RenderedObject, RequestError, Rollback, RollbackFrom,
    RollbackStrategy, RollbackTo, SignatureFact, SourceCommit, SupplyChain, Verification,
    VerifyApp, Wave,
};
pub use run::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_USAGE, PolicyFailure, run, run_with};

/// `apiVersion` of every document of this contract.
pub const API_VERSION: &str = "policy.promote.kubectl.io/v1alpha1";

/// The ABI name a module declares in its metadata (`abi`).
pub const ABI_WASI_COMMAND_V1: &str = "promote.wasi-command/v1";

/// Embeds the policy's metadata JSON file in the `kubectl-promote.policy.v1` custom section.
///
/// The host reads metadata without running code, so it has to be in the module as data.
/// `#[used]` keeps the static through LTO and the linker's garbage collection; the section
/// survives `strip` because wasm-ld only strips debug and name sections.
///
/// ```ignore
/// promote_policy_sdk::embed_metadata!("../policy.json");
/// ```
#[macro_export]
macro_rules! embed_metadata {
    ($path:literal) => {
        #[allow(
            unsafe_code,
            reason = "link_section is an unsafe attribute; the static is plain bytes nobody reads in-process"
        )]
        #[used]
        #[unsafe(link_section = "kubectl-promote.policy.v1")]
        static PROMOTE_POLICY_METADATA: [u8; include_bytes!($path).len()] = *include_bytes!($path);
    };
}

#[cfg(test)]
mod tests;
