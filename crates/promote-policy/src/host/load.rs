//! Loading a module: read it from its source, pin it (the configuration's pin, a krew package's,
//! or the sidecar's), tell a Rego build from a WASI command, check its shape, read its metadata,
//! resolve its limits and compile it through the cache. Nothing of the module runs here but the
//! two constant exports of a Rego module (see `opa::prepare`).

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use promote_policy_sdk::{ABI_WASI_COMMAND_V1, PolicyMetadata};
use wasmtime::Module;

use super::sidecar::{SIDECAR, Sidecar, SidecarText};
use super::{Host, Kind, Policy};
use crate::cache::{CacheStatus, Lookup};
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

/// A module read from its source and pinned: everything loading does before it needs the
/// engine, so it can run while the engine is being created on another thread (`kubectl promote
/// policy eval` does). A Rego bundle is not unpacked yet: [`Host::load_read`] first looks for
/// its cache entry (keyed by the bundle's digest, so it needs nothing from inside the bundle),
/// and an entry with a load record (`cache`) has everything loading needs from the bundle; only
/// without one is the bundle unpacked, on a thread of its own while the compiled module is read.
pub struct ReadModule<'s> {
    origin: crate::Origin,
    /// The origin as text, for messages.
    o: String,
    sha256: Sha256,
    sidecar: Option<Sidecar>,
    body: Body<'s>,
}

/// What was read: a WASI command's bytes, or a Rego build.
enum Body<'s> {
    Wasi(Cow<'s, [u8]>),
    Opa(Rego<'s>),
}

/// A Rego build's contents: at hand (a bare `policy.wasm`), a bundle not unpacked yet, or one
/// being unpacked on another thread.
enum Rego<'s> {
    Ready(Box<Unpacked>),
    Packed(Cow<'s, [u8]>),
    Unpacking(std::thread::JoinHandle<Result<Unpacked, LoadError>>),
}

impl<'s> Body<'s> {
    /// Tells a Rego build from a WASI command.
    fn of(o: &str, bytes: Cow<'s, [u8]>) -> Result<Body<'s>, LoadError> {
        if crate::opa::is_bundle(&bytes) {
            return Ok(Body::Opa(Rego::Packed(bytes)));
        }
        Ok(match crate::opa::unpack(o, &bytes)? {
            Some(unpacked) => Body::Opa(Rego::Ready(Box::new(unpacked))),
            None => Body::Wasi(bytes),
        })
    }
}

impl Rego<'_> {
    /// Starts unpacking a bundle on a thread of its own (here, if no thread is to be had).
    fn start(self, o: &str) -> Result<Self, LoadError> {
        let Rego::Packed(bytes) = self else {
            return Ok(self);
        };
        let shared = Arc::new((o.to_owned(), bytes.into_owned()));
        let theirs = Arc::clone(&shared);
        Ok(
            match std::thread::Builder::new()
                .name("promote-policy-unpack".into())
                .spawn(move || crate::opa::unpack_bundle(&theirs.0, &theirs.1))
            {
                Ok(handle) => Rego::Unpacking(handle),
                Err(_) => Rego::Ready(Box::new(crate::opa::unpack_bundle(&shared.0, &shared.1)?)),
            },
        )
    }

    fn finish(self, o: &str) -> Result<Unpacked, LoadError> {
        match self {
            Rego::Ready(u) => Ok(*u),
            Rego::Packed(bytes) => crate::opa::unpack_bundle(o, &bytes),
            Rego::Unpacking(handle) => handle.join().unwrap_or_else(|_| {
                Err(LoadError::Opa {
                    origin: o.to_owned(),
                    message: "unpacking the bundle failed (the unpacking thread panicked)".into(),
                })
            }),
        }
    }
}

impl<'s> ReadModule<'s> {
    /// Reads `source` and checks its pin (the configuration's, a krew package's or the
    /// sidecar's). `given` is sidecar metadata the caller read
    /// (used instead of a `promote-policy.yaml` beside a file module; its own `sha256` pin
    /// applies only to file modules, callers that give one pin the bytes in `source`).
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
        let body = Body::of(&o, read.bytes)?;
        Ok(ReadModule {
            origin,
            o,
            sha256,
            sidecar,
            body,
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
            sidecar,
            body,
        } = read;
        let loaded = match body {
            Body::Opa(rego) => self.load_opa(&o, &sha256, rego, sidecar)?,
            Body::Wasi(bytes) => self.load_wasi(&o, &sha256, &bytes, sidecar)?,
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
            .wasi_linker()
            .and_then(|linker| linker.instantiate_pre(&module))
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

    /// The Rego half of [`Host::load`]: the compiled module from the shared cache (keyed, like
    /// every module's, by the digest of the bytes as given: the bundle's). With the entry's load
    /// record, that is all: the bundle is not unpacked and the module is not instantiated (see
    /// [`Host::load_recorded`]). Without one, the bundle is unpacked meanwhile; metadata from the
    /// bundle manifest (else the sidecar); the builtin and `sprintf` checks; then the load record
    /// is written for the next load.
    fn load_opa(
        &self,
        o: &str,
        sha256: &Sha256,
        rego: Rego<'_>,
        sidecar: Option<Sidecar>,
    ) -> Result<Loaded, LoadError> {
        let bundle = !matches!(rego, Rego::Ready(_));
        let record = self.cache.read_load_record(sha256);
        let rego = if record.is_none() {
            rego.start(o)?
        } else {
            rego
        };
        let cached = match (record.as_deref(), self.cache.lookup(&self.engine, sha256)) {
            (Some(text), Lookup::Hit(module, vouched)) => {
                match self.cache.check_load_record(sha256, &vouched, text) {
                    // A record from a build with other load checks is not used (nor is it
                    // wrong): the bundle is read and checked again below, and the record
                    // replaced.
                    Ok(body) => match crate::opa::LoadRecord::parse(body) {
                        Some(recorded) => {
                            return self.load_recorded(o, module, recorded, sidecar, bundle);
                        }
                        None => Lookup::Hit(module, vouched),
                    },
                    // Not what was written beside this artifact: nothing of the entry is
                    // trusted; it is deleted and rebuilt from the bundle.
                    Err(why) => {
                        self.cache.remove(sha256);
                        Lookup::Miss(CacheStatus::Healed(why))
                    }
                }
            }
            (_, cached) => cached,
        };
        let unpacked = rego.finish(o)?;
        let manifest = unpacked.metadata.map(|(m, _)| m);
        let metadata = opa_metadata(o, manifest.clone(), sidecar, unpacked.bundle)?;
        let limits = self.limits_for(o, &metadata)?;
        let (module, cache_status, vouched) = match cached {
            Lookup::Hit(module, vouched) => (module, CacheStatus::Hit, Some(vouched)),
            Lookup::Miss(status) => self
                .cache
                .compile(&self.engine, sha256, &unpacked.wasm, status)
                .map_err(|e| LoadError::Compile {
                    origin: o.to_owned(),
                    message: format!("{e:#}"),
                })?,
        };
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
        if let Some(vouched) = vouched {
            let recorded = crate::opa::LoadRecord::of(manifest.as_ref(), &opa);
            if let Ok(body) = serde_json::to_vec(&recorded) {
                self.cache.store_load_record(sha256, &vouched, &body);
            }
        }
        Ok(Loaded {
            metadata,
            limits,
            cache_status,
            kind: Kind::Opa(opa),
        })
    }

    /// A Rego module whose cache entry held a checked load record: its metadata (else the
    /// sidecar's) and data as the bundle gave them, and its builtins and entrypoints as the
    /// module declared them, checked again against what this host runs.
    fn load_recorded(
        &self,
        o: &str,
        module: Module,
        recorded: crate::opa::LoadRecord,
        sidecar: Option<Sidecar>,
        bundle: bool,
    ) -> Result<Loaded, LoadError> {
        let metadata = opa_metadata(o, recorded.metadata, sidecar, bundle)?;
        let limits = self.limits_for(o, &metadata)?;
        let opa = crate::opa::checked(
            o,
            module,
            recorded.data,
            recorded.builtins,
            recorded.entrypoints,
        )?;
        Ok(Loaded {
            metadata,
            limits,
            cache_status: CacheStatus::Hit,
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

/// A Rego module's metadata: the bundle manifest's, else the sidecar's, and its ABI checked.
/// `bundle` says which the message should name.
fn opa_metadata(
    o: &str,
    manifest: Option<PolicyMetadata>,
    sidecar: Option<Sidecar>,
    bundle: bool,
) -> Result<PolicyMetadata, LoadError> {
    let metadata = match (manifest, sidecar) {
        (Some(m), _) => m,
        (None, Some(s)) => s.into_metadata(),
        (None, None) => {
            return Err(LoadError::Opa {
                origin: o.to_owned(),
                message: format!(
                    "no metadata: put {{name, version, abi: promote.opa/v1, operations}} under `metadata.{}` in the bundle's .manifest (then `opa build -b DIR`), or in a promote-policy.yaml beside the {}",
                    crate::opa::MANIFEST_KEY,
                    if bundle { "bundle" } else { "module" }
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
    Ok(metadata)
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
