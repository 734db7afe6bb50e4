//! Policy metadata: what a module says about itself, read by the host without running it
//! (custom section [`METADATA_SECTION`] or a sidecar `promote-policy.yaml`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::OperationKind;

/// Name of the custom section holding the metadata JSON.
pub const METADATA_SECTION: &str = "kubectl-promote.policy.v1";

/// `{name, version, abi, operations, settingsSchema?, resources?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyMetadata {
    /// Policy name, e.g. `qa-approved`.
    pub name: String,
    /// Policy version.
    pub version: String,
    /// ABI, e.g. [`crate::ABI_WASI_COMMAND_V1`].
    pub abi: String,
    /// Operations the policy decides.
    pub operations: Vec<OperationKind>,
    /// JSON schema of the settings, for documentation and `policy inspect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_schema: Option<Value>,
    /// Limits the module asks for beyond the host defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

/// Resource requests; each is capped by the host maximum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// Wall time in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Fuel units.
    #[serde(default)]
    pub fuel: Option<u64>,
    /// Linear memory in MiB.
    #[serde(default, rename = "memoryMiB")]
    pub memory_mib: Option<u64>,
}
