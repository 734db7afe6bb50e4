//! The compiled-module cache: `<cache>/kubectl-promote/compiled/<engine key>/<sha256>.cwasm`.
//!
//! The engine key hashes `Engine::precompile_compatibility_hash()`, so a wasmtime upgrade or a
//! different engine configuration never reads another engine's artifacts. Files are written to
//! a temp file in the same directory and renamed into place, so readers never see half a file.
//! Only files in this private cache, written by this program, are ever deserialized; anything
//! that fails to load is deleted and recompiled.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::Digest as _;
use wasmtime::{Engine, Module};

use crate::Sha256;

/// Whether and where to cache compiled modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheMode {
    /// Compile every time (`--no-cache`).
    Disabled,
    /// The user's cache directory (e.g. `$XDG_CACHE_HOME`); `kubectl-promote/compiled/...` is
    /// created below it.
    Dir(PathBuf),
}

/// What the cache did for one load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Caching is off; compiled.
    Disabled,
    /// Loaded a compiled artifact.
    Hit,
    /// Compiled and stored.
    Miss,
    /// A stored artifact failed to load; it was deleted, recompiled and stored again.
    Healed,
}

/// The cache of one engine.
pub(crate) struct Cache {
    dir: Option<PathBuf>,
}

impl Cache {
    pub(crate) fn new(mode: &CacheMode, engine: &Engine) -> Self {
        let dir = match mode {
            CacheMode::Disabled => None,
            CacheMode::Dir(root) => Some(
                root.join("kubectl-promote")
                    .join("compiled")
                    .join(engine_key(engine)),
            ),
        };
        Self { dir }
    }

    /// The artifact path for a module digest, when caching is on.
    pub(crate) fn path(&self, sha256: &Sha256) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{sha256}.cwasm")))
    }

    /// Loads the module from the cache or compiles (and stores) it. Cache I/O problems never
    /// fail a load: the cache is an optimisation, so they fall back to compiling.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        sha256: &Sha256,
        bytes: &[u8],
    ) -> wasmtime::Result<(Module, CacheStatus)> {
        let Some(path) = self.path(sha256) else {
            return Ok((Module::new(engine, bytes)?, CacheStatus::Disabled));
        };
        let mut status = CacheStatus::Miss;
        if path.is_file() {
            match load_private(engine, &path) {
                Ok(module) => return Ok((module, CacheStatus::Hit)),
                Err(_) => {
                    // Corrupt, truncated or foreign: drop it and rebuild below.
                    let _ = fs::remove_file(&path);
                    status = CacheStatus::Healed;
                }
            }
        }
        let module = Module::new(engine, bytes)?;
        if let Ok(serialized) = module.serialize() {
            let _ = store(&path, &serialized);
        }
        Ok((module, status))
    }
}

/// Deserializes an artifact from our private cache.
///
/// The file itself is never mapped (`Module::deserialize_file`): a mapped file that another
/// process truncates under us (a concurrent `rm -rf` of the cache, a disk filling up) would
/// kill this process with SIGBUS. On Linux the bytes are copied in the kernel into a sealed
/// memfd that wasmtime maps instead: nobody can shrink or write it (`F_SEAL_SHRINK |
/// F_SEAL_WRITE`, and `F_SEAL_SEAL` so the seals stay), so it cannot change under us either,
/// and only the pages wasmtime touches are paged in, once, instead of the whole artifact being
/// copied twice (into a buffer, then into wasmtime's code memory). Elsewhere, or when the
/// memfd cannot be made, the file is read into memory and deserialized from that copy.
#[expect(
    unsafe_code,
    reason = "Module::deserialize is unsafe: it loads native code"
)]
fn load_private(engine: &Engine, path: &Path) -> wasmtime::Result<Module> {
    if !is_private(path) {
        wasmtime::bail!(
            "{} is writable by others; not loading native code from it",
            path.display()
        );
    }
    // SAFETY (both calls): `path` is `<cache>/kubectl-promote/compiled/<engine key>/<sha256>.cwasm`
    // in the cache directory this program created with owner-only permissions; the file was
    // written by `store` below (temp file + rename) from `Module::serialize` of the same engine
    // configuration (the engine key), never copied from a package or another user, and
    // `is_private` refused it above if others could have written it. wasmtime checks the
    // header and compatibility hash; anything that fails is deleted and recompiled. What
    // wasmtime maps is our sealed private copy (see above), which cannot change while mapped.
    #[cfg(target_os = "linux")]
    if let Ok(copy) = sealed_copy(path) {
        return unsafe { Module::deserialize_open_file(engine, copy) };
    }
    let bytes = fs::read(path)?;
    unsafe { Module::deserialize(engine, &bytes) }
}

/// The file's bytes in an anonymous memfd, sealed against any change.
#[cfg(target_os = "linux")]
fn sealed_copy(path: &Path) -> std::io::Result<fs::File> {
    use rustix::fs::{MemfdFlags, SealFlags};
    let mut src = fs::File::open(path)?;
    let fd = rustix::fs::memfd_create(
        "kubectl-promote-cwasm",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    let mut copy = fs::File::from(fd);
    // File to file: `copy_file_range`/`sendfile`, no user-space buffer.
    std::io::copy(&mut src, &mut copy)?;
    rustix::fs::fcntl_add_seals(
        &copy,
        SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
    )?;
    Ok(copy)
}

#[cfg(unix)]
fn is_private(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let ok = |p: &Path| fs::metadata(p).is_ok_and(|m| m.mode() & 0o022 == 0);
    ok(path) && path.parent().is_some_and(ok)
}

#[cfg(not(unix))]
fn is_private(path: &Path) -> bool {
    path.is_file()
}

fn store(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("cache path has no parent"))?;
    create_private_dir(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(".cwasm")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// First 16 bytes (hex) of SHA-256 over the engine's compatibility hash.
fn engine_key(engine: &Engine) -> String {
    struct ShaHasher(sha2::Sha256);
    impl Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = ShaHasher(sha2::Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(&h.0.finalize()[..16])
}
