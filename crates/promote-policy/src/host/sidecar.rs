//! The sidecar `promote-policy.yaml` beside a module (or handed over by the caller): the
//! metadata of modules that carry none themselves (Go, anything not built with the Rust SDK)
//! and, in krew packages, the module's file name and its sha256 pin.

use std::path::Path;

use promote_core::yaml;
use promote_policy_sdk::{PolicyMetadata, Resources};
use serde::Deserialize;
use serde_json::Value;

use crate::{LoadError, Sha256};

/// The name of the sidecar metadata file beside a module.
pub const SIDECAR: &str = "promote-policy.yaml";

/// A sidecar `promote-policy.yaml` the caller read itself, for modules that do not come from a
/// directory: a repo-path module read from a git revision has its sidecar in the same tree.
/// Modules without a metadata custom section (Go, anything not built with the Rust SDK) need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarText {
    /// Where it was read, for messages (`policies/promote-policy.yaml@origin/main`).
    pub place: String,
    /// The YAML.
    pub text: String,
}

/// Sidecar `promote-policy.yaml`: the metadata plus, in krew packages, the module and its pin.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Fields {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    name: String,
    version: String,
    abi: String,
    operations: Vec<promote_policy_sdk::OperationKind>,
    #[serde(default)]
    settings_schema: Option<Value>,
    #[serde(default)]
    resources: Option<Resources>,
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
}

/// A parsed sidecar and where it was read.
pub(crate) struct Sidecar {
    fields: Fields,
    place: String,
}

impl Sidecar {
    /// Reads the sidecar at `path`.
    pub(crate) fn read(origin: &str, path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(origin, &path.display().to_string(), &text)
    }

    /// Parses sidecar YAML read from `place`.
    pub(crate) fn parse(origin: &str, place: &str, text: &str) -> Result<Self, LoadError> {
        let fields = yaml::from_str::<Fields>(place, text).map_err(|e| LoadError::Metadata {
            origin: origin.to_owned(),
            place: place.to_owned(),
            message: e.message().to_owned(),
        })?;
        Ok(Sidecar {
            fields,
            place: place.to_owned(),
        })
    }

    /// The sha256 the sidecar pins the module named `file_name` to, if it names that module.
    pub(crate) fn pin_of(
        &self,
        origin: &str,
        file_name: Option<&str>,
    ) -> Result<Option<Sha256>, LoadError> {
        let names_it = self
            .fields
            .module
            .as_deref()
            .is_some_and(|m| Some(m) == file_name);
        match &self.fields.sha256 {
            Some(text) if names_it => {
                text.parse::<Sha256>()
                    .map(Some)
                    .map_err(|message| LoadError::Metadata {
                        origin: origin.to_owned(),
                        place: self.place.clone(),
                        message,
                    })
            }
            _ => Ok(None),
        }
    }

    pub(crate) fn into_metadata(self) -> PolicyMetadata {
        let f = self.fields;
        let _ = (f.api_version, f.kind, f.module, f.sha256);
        PolicyMetadata {
            name: f.name,
            version: f.version,
            abi: f.abi,
            operations: f.operations,
            settings_schema: f.settings_schema,
            resources: f.resources,
        }
    }
}
