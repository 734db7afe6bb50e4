//! Checks a module's shape before compiling it, and reads its metadata without running it:
//! imports only from `wasi_snapshot_preview1`, exports `_start` (func) and `memory` (memory),
//! and the JSON in the `kubectl-promote.policy.v1` custom section if there is one.

use promote_policy_sdk::METADATA_SECTION;
use wasmparser::{ExternalKind, Parser, Payload};

use crate::LoadError;

/// What the check learned.
pub(crate) struct Shape {
    /// The custom section's bytes, if present.
    pub metadata: Option<Vec<u8>>,
}

const WASI_P1: &str = "wasi_snapshot_preview1";

pub(crate) fn check(origin: &str, bytes: &[u8]) -> Result<Shape, LoadError> {
    let malformed = |e: wasmparser::BinaryReaderError| LoadError::Malformed {
        origin: origin.to_owned(),
        message: e.to_string(),
    };
    let mut refused = Vec::new();
    let (mut start, mut memory) = (false, false);
    let mut metadata = None;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(malformed)? {
            Payload::Version {
                encoding: wasmparser::Encoding::Component,
                ..
            } => {
                return Err(LoadError::Malformed {
                    origin: origin.to_owned(),
                    message: "this is a component; policies are WASI preview1 core modules".into(),
                });
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(malformed)?;
                    if import.module != WASI_P1 {
                        refused.push(format!("{}::{}", import.module, import.name));
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(malformed)?;
                    match (export.name, export.kind) {
                        ("_start", ExternalKind::Func) => start = true,
                        ("memory", ExternalKind::Memory) => memory = true,
                        _ => {}
                    }
                }
            }
            Payload::CustomSection(section) if section.name() == METADATA_SECTION => {
                metadata = Some(section.data().to_vec());
            }
            _ => {}
        }
    }
    if !refused.is_empty() {
        return Err(LoadError::RefusedImport {
            origin: origin.to_owned(),
            imports: refused,
        });
    }
    let missing = |name, kind| LoadError::MissingExport {
        origin: origin.to_owned(),
        name,
        kind,
    };
    if !start {
        return Err(missing("_start", "func"));
    }
    if !memory {
        return Err(missing("memory", "memory"));
    }
    Ok(Shape { metadata })
}
