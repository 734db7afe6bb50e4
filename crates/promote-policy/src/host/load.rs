//! Loading a module: read it from its source, pin it (the configuration's pin, a krew package's,
//! or the sidecar's), tell a Rego build from a WASI command, check its shape, read its metadata,
//! resolve its limits and compile it through the cache. Nothing of the module runs here but the
//! two constant exports of a Rego module (see `opa::prepare`).

use std::borrow::Cow;
use std::path::Path;

use promote_policy_sdk::{ABI_WASI_COMMAND_V1, PolicyMetadata};
use wasmtime::Module;

use super::sidecar::{SIDECAR, Sidecar, SidecarText};
use super::{Host, Kind, Policy};
use crate::cache::CacheStatus;
use crate::opa::Unpacked;
use crate::{LoadError, ModuleSource, Sha256, builtin_bytes};

/// What loading learned of a module besides where it came from.
struct Loaded {
    metadata: PolicyMetadata,
    limits: crate::Limits,
    cache_status: CacheStatus,
    kind: Kind,
}

/// A module's bytes as its source gave them.
struct Read<'s> {
    bytes: Cow<'s, [u8]>,
    /// The pin the source carries (the configuration's `sha256`).
    pin: Option<Sha256>,
    /// Where a sidecar beside the module would be.
    dir: Option<&'s Path>,
}

/// A module read from its source, pinned, and (a Rego build) unpacked: everything loading does
/// before it needs the engine, so it can run while the engine is being created on another
/// thread (`kubectl promote policy eval` does). [`Host::load_read`] finishes the load.
pub struct ReadModule<'s> {
    origin: crate::Origin,
    /// The origin as text, for messages.
    o: String,
    sha256: Sha256,
    bytes: Cow<'s, [u8]>,
    sidecar: Option<Sidecar>,
    /// A Rego build's contents, with the digest of its wasm module (the cache key).
    opa: Option<(Unpacked, Sha256)>,
}

impl<'s> ReadModule<'s> {
    /// Reads `source`, checks its pin (the configuration's, a krew package's or the
    /// sidecar's) and unpacks a Rego build. `given` is sidecar metadata the caller read (used
    /// instead of a `promote-policy.yaml` beside a file module; its own `sha256` pin applies
    /// only to file modules, callers that give one pin the bytes in `source`).
    ///
    /// # Errors
    /// See [`LoadError`]; a pin mismatch is reported before the bytes are parsed.
    pub fn new(
        source: &'s ModuleSource,
        given: Option<&SidecarText>,
    ) -> Result<ReadModule<'s>, LoadError> {
        let origin = source.origin();
        let o = origin.to_string();
        let read = read(source, &o)?;
        let sha256 = Sha256::of(&read.bytes);
        let sidecar = match (
            given,
            read.dir.map(|d| d.join(SIDECAR)).filter(|p| p.is_file()),
        ) {
            (Some(g), _) => Some(Sidecar::parse(&o, &g.place, &g.text)?),
            (None, Some(path)) => Some(Sidecar::read(&o, &path)?),
            (None, None) => None,
        };
        let sidecar_pin = match &sidecar {
            Some(s) => s.pin_of(&o, module_file_name(source))?,
            None => None,
        };
        if let Some(expected) = read.pin.or(sidecar_pin)
            && expected != sha256
        {
            return Err(LoadError::PinMismatch {
                origin: o,
                expected: expected.to_hex(),
                actual: sha256.to_hex(),
            });
        }
        let opa = crate::opa::unpack(&o, &read.bytes)?.map(|u| {
            let wasm_sha256 = Sha256::of(&u.wasm);
            (u, wasm_sha256)
        });
        Ok(ReadModule {
            origin,
            o,
            sha256,
            bytes: read.bytes,
            sidecar,
            opa,
        })
    }
}

impl Host {
    /// Reads, pins, checks and compiles a module. Nothing of it runs.
    ///
    /// # Errors
    /// See [`LoadError`]; a pin mismatch is reported before the bytes are parsed.
    pub fn load(&self, source: &ModuleSource) -> Result<Policy, LoadError> {
        self.load_with_sidecar(source, None)
    }

    /// [`Host::load`] with sidecar metadata the caller read (see [`ReadModule::new`]).
    ///
    /// # Errors
    /// As [`Host::load`].
    pub fn load_with_sidecar(
        &self,
        source: &ModuleSource,
        given: Option<&SidecarText>,
    ) -> Result<Policy, LoadError> {
        self.load_read(ReadModule::new(source, given)?)
    }

    /// Checks and compiles a module [`ReadModule::new`] read. Nothing of it runs.
    ///
    /// # Errors
    /// See [`LoadError`].
    pub fn load_read(&self, read: ReadModule<'_>) -> Result<Policy, LoadError> {
        let ReadModule {
            origin,
            o,
            sha256,
            bytes,
            sidecar,
            opa,
        } = read;
        let loaded = match opa {
            Some((unpacked, wasm_sha256)) => self.load_opa(&o, unpacked, &wasm_sha256, sidecar)?,
            None => self.load_wasi(&o, &sha256, &bytes, sidecar)?,
        };
        Ok(Policy {
            metadata: loaded.metadata,
            origin,
            sha256,
            limits: loaded.limits,
            cache_status: loaded.cache_status,
            kind: loaded.kind,
        })
    }

    /// The WASI half of [`Host::load`]: shape check, metadata from the custom section (else the
    /// sidecar), the ABI, and the linked `InstancePre`.
    fn load_wasi(
        &self,
        o: &str,
        sha256: &Sha256,
        bytes: &[u8],
        sidecar: Option<Sidecar>,
    ) -> Result<Loaded, LoadError> {
        let shape = crate::inspect::check(o, bytes)?;
        let metadata = match (shape.metadata, sidecar) {
            (Some(json), _) => serde_json::from_slice::<PolicyMetadata>(&json).map_err(|e| {
                LoadError::Metadata {
                    origin: o.to_owned(),
                    place: format!("custom section {}", promote_policy_sdk::METADATA_SECTION),
                    message: e.to_string(),
                }
            })?,
            (None, Some(s)) => s.into_metadata(),
            (None, None) => {
                return Err(LoadError::NoMetadata {
                    origin: o.to_owned(),
                });
            }
        };
        if metadata.abi == crate::ABI_OPA_V1 {
            return Err(LoadError::AbiMismatch {
                origin: o.to_owned(),
                declared: metadata.abi,
                found: "not an `opa build -t wasm` module (neither a bundle.tar.gz nor a policy.wasm importing env.opa_abort)",
            });
        }
        if metadata.abi != ABI_WASI_COMMAND_V1 {
            return Err(LoadError::UnsupportedAbi {
                origin: o.to_owned(),
                abi: metadata.abi,
            });
        }
        let limits = self.limits_for(o, &metadata)?;
        let (module, cache_status) = self.compile(o, sha256, bytes)?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| LoadError::Link {
                origin: o.to_owned(),
                message: format!("{e:#}"),
            })?;
        let kind = Kind::Wasi(pre);
        Ok(Loaded {
            metadata,
            limits,
            cache_status,
            kind,
        })
    }

    /// The Rego half of [`Host::load`]: metadata from the bundle manifest (else the sidecar),
    /// the shared cache keyed by the digest of the wasm bytes, and the builtin check.
    fn load_opa(
        &self,
        o: &str,
        unpacked: Unpacked,
        wasm_sha256: &Sha256,
        sidecar: Option<Sidecar>,
    ) -> Result<Loaded, LoadError> {
        let metadata = match (unpacked.metadata, sidecar) {
            (Some((m, _)), _) => m,
            (None, Some(s)) => s.into_metadata(),
            (None, None) => {
                return Err(LoadError::Opa {
                    origin: o.to_owned(),
                    message: format!(
                        "no metadata: put {{name, version, abi: promote.opa/v1, operations}} under `metadata.{}` in the bundle's .manifest (then `opa build -b DIR`), or in a promote-policy.yaml beside the {}",
                        crate::opa::MANIFEST_KEY,
                        if unpacked.bundle { "bundle" } else { "module" }
                    ),
                });
            }
        };
        if metadata.abi != crate::ABI_OPA_V1 {
            return Err(LoadError::AbiMismatch {
                origin: o.to_owned(),
                declared: metadata.abi,
                found: "an `opa build -t wasm` module (abi promote.opa/v1)",
            });
        }
        let limits = self.limits_for(o, &metadata)?;
        let (module, cache_status) = self.compile(o, wasm_sha256, &unpacked.wasm)?;
        let opa = {
            let _slot = self.slots.take();
            crate::opa::prepare(&self.engine, o, module, unpacked.data, limits)?
        };
        if opa.builtins().iter().any(|b| b == "sprintf") {
            let (verbs, formats) = crate::sprintf::unsupported_formats(&unpacked.wasm);
            if !verbs.is_empty() {
                return Err(LoadError::UnsupportedSprintf {
                    origin: o.to_owned(),
                    verbs,
                    formats,
                });
            }
        }
        Ok(Loaded {
            metadata,
            limits,
            cache_status,
            kind: Kind::Opa(opa),
        })
    }

    /// The limits of a module: the host's defaults, raised to what its metadata asks for.
    fn limits_for(
        &self,
        origin: &str,
        metadata: &PolicyMetadata,
    ) -> Result<crate::Limits, LoadError> {
        self.config
            .defaults
            .asked(metadata.resources, self.config.maximum, origin)
    }

    /// Compiles `wasm` (whose digest is `sha256`) through the cache.
    fn compile(
        &self,
        origin: &str,
        sha256: &Sha256,
        wasm: &[u8],
    ) -> Result<(Module, CacheStatus), LoadError> {
        self.cache
            .load_or_compile(&self.engine, sha256, wasm)
            .map_err(|e| LoadError::Compile {
                origin: origin.to_owned(),
                message: format!("{e:#}"),
            })
    }
}

/// The module's bytes, the pin its source carries, and the directory a sidecar would be in.
fn read<'s>(source: &'s ModuleSource, origin: &str) -> Result<Read<'s>, LoadError> {
    let read_file = |path: &Path| {
        std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })
    };
    Ok(match source {
        ModuleSource::Builtin(name) => {
            let bytes = builtin_bytes(name).ok_or_else(|| LoadError::UnknownBuiltin {
                name: name.clone(),
                known: crate::BUILTIN_NAMES.join(", "),
            })?;
            Read {
                bytes: Cow::Borrowed(bytes),
                pin: None,
                dir: None,
            }
        }
        ModuleSource::File { path, sha256 } => Read {
            bytes: Cow::Owned(read_file(path)?),
            pin: *sha256,
            dir: path.parent(),
        },
        ModuleSource::Bytes { bytes, sha256, .. } => Read {
            bytes: Cow::Borrowed(bytes.as_slice()),
            pin: *sha256,
            dir: None,
        },
        ModuleSource::Krew(installed) => {
            let bytes = read_file(&installed.module)?;
            // The package's own pin, checked here with a message that says how to repair
            // the install (the generic pin message would blame the configuration).
            let actual = Sha256::of(&bytes);
            if actual != installed.sha256 {
                return Err(LoadError::KrewModuleChanged {
                    origin: origin.to_owned(),
                    path: installed.module.clone(),
                    expected: installed.sha256.to_hex(),
                    actual: actual.to_hex(),
                    reinstall: installed.reinstall_command(),
                });
            }
            Read {
                bytes: Cow::Owned(bytes),
                pin: None,
                dir: Some(installed.dir.as_path()),
            }
        }
    })
}

/// The module's file name, which a sidecar's `module` must name for its pin to apply.
fn module_file_name(source: &ModuleSource) -> Option<&str> {
    match source {
        ModuleSource::File { path, .. } => path.file_name().and_then(|n| n.to_str()),
        ModuleSource::Krew(i) => i.module.file_name().and_then(|n| n.to_str()),
        ModuleSource::Builtin(_) | ModuleSource::Bytes { .. } => None,
    }
}
