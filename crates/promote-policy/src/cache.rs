//! The compiled-module cache: `<cache>/kubectl-promote/compiled/<engine key>/<sha256>.cwasm`.
//!
//! The engine key hashes `Engine::precompile_compatibility_hash()` and the version of this
//! cache's layout ([`LAYOUT`]), so a wasmtime upgrade, a different engine configuration or a
//! different record format never reads another engine's artifacts. Files are written to
//! a temp file in the same directory and renamed into place, so readers never see half a file.
//! Only files in this private cache, written by this program, are ever deserialized; anything
//! that fails to load is deleted and recompiled.
//!
//! `deserialize` maps the bytes as native code, and wasmtime checks only the artifact's header:
//! a flipped bit in the code (a bad disk, a torn write, a stray edit) would run as whatever
//! instructions it now encodes and crash the process (or worse) on every later run. So every
//! artifact has an integrity record beside it, `<sha256>.cwasm.integrity`, written when it is
//! compiled: a BLAKE3 hash over the artifact's bytes, keyed with the engine key and the module's
//! digest so that a record can only vouch for the artifact of that module on that engine (a
//! stale record, or an artifact and record copied from another entry, do not match). The
//! record is checked against the exact bytes that are then mapped; a missing or mismatching
//! record means recompile and replace ([`CacheStatus::Healed`] says why). This guards against
//! corruption and mix-ups; a process that can write the user's cache can also write the
//! record, as it could the binary itself, and is outside what this cache defends against.
//! BLAKE3 rather than SHA-256 because the check is on every policy load: over the 677 KB
//! artifact of a Rego policy it took 175 µs against SHA-256's 453 µs (with SHA-NI) on the
//! benchmark machine (docs/performance.md); it is as much a cryptographic hash.
//!
//! A Rego module's entry may also hold a *load record*, `<sha256>.cwasm.load`: what loading it
//! learned from the bundle and from the module beyond its code (the manifest's metadata,
//! `data.json`, the builtins and entrypoints the module declares; `opa::LoadRecord`), written
//! once every load check passed, so a later load of the same bundle reads neither the tarball
//! nor instantiates the module to ask. Its first line is a keyed BLAKE3 hash over the rest,
//! keyed like the artifact's record and with that record's text as well, so a load record
//! vouches only for that module's entry on that engine and only beside the artifact it was
//! written with (whose own record is checked over the bytes mapped). A load record that does
//! not match is treated like a corrupt artifact: the whole entry is deleted and rebuilt.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};

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
    /// A stored artifact could not be used; it was deleted, recompiled and stored again.
    Healed(Heal),
}

/// Why a stored artifact was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heal {
    /// Its bytes do not match its integrity record: it changed after it was written.
    Corrupt,
    /// It has no integrity record (written by an older kubectl-promote, or the record was
    /// lost).
    Unrecorded,
    /// Others could write to it, its directory or its integrity record.
    NotPrivate,
    /// wasmtime refused it (not an artifact of this engine).
    Unloadable,
}

impl std::fmt::Display for Heal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Corrupt => "its bytes do not match its integrity record (the file changed after it was written)",
            Self::Unrecorded => "it has no integrity record",
            Self::NotPrivate => "others can write to it or to its integrity record",
            Self::Unloadable => "wasmtime could not load it",
        })
    }
}

/// The cache of one engine.
pub(crate) struct Cache {
    dir: Option<PathBuf>,
    /// The engine key (the directory's name), part of every integrity record's key.
    engine_key: String,
}

impl Cache {
    pub(crate) fn new(mode: &CacheMode, engine: &Engine) -> Self {
        let engine_key = engine_key(engine);
        let dir = match mode {
            CacheMode::Disabled => None,
            CacheMode::Dir(root) => Some(
                root.join("kubectl-promote")
                    .join("compiled")
                    .join(&engine_key),
            ),
        };
        Self { dir, engine_key }
    }

    /// The artifact path for a module digest, when caching is on.
    pub(crate) fn path(&self, sha256: &Sha256) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{sha256}.cwasm")))
    }

    /// The keyed hash an artifact of module `sha256` must have (see the module docs).
    fn integrity(&self, sha256: &Sha256) -> Integrity {
        let mut h = blake3::Hasher::new();
        h.update(b"kubectl-promote compiled-module integrity v2\0");
        h.update(self.engine_key.as_bytes());
        h.update(b"\0");
        h.update(&sha256.0);
        Integrity(h)
    }

    /// Loads the module from the cache or compiles (and stores) it. Cache I/O problems never
    /// fail a load: the cache is an optimisation, so they fall back to compiling.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        sha256: &Sha256,
        bytes: &[u8],
    ) -> wasmtime::Result<(Module, CacheStatus)> {
        match self.lookup(engine, sha256) {
            Lookup::Hit(module, _) => Ok((module, CacheStatus::Hit)),
            Lookup::Miss(status) => self
                .compile(engine, sha256, bytes, status)
                .map(|(module, status, _)| (module, status)),
        }
    }

    /// The cached module of digest `sha256`, if a usable one is stored; a stored one that is
    /// not usable is deleted (the miss says why).
    pub(crate) fn lookup(&self, engine: &Engine, sha256: &Sha256) -> Lookup {
        let Some(path) = self.path(sha256) else {
            return Lookup::Miss(CacheStatus::Disabled);
        };
        if !path.is_file() {
            return Lookup::Miss(CacheStatus::Miss);
        }
        let record = record_path(&path);
        let expected = read_record(&record);
        match load_private(engine, &path, expected.as_ref(), self.integrity(sha256)) {
            Ok(module) => Lookup::Hit(module, Vouched(expected.unwrap_or_default())),
            Err(why) => {
                // Corrupt, truncated, unrecorded or foreign: drop it; the caller recompiles.
                self.remove(sha256);
                Lookup::Miss(CacheStatus::Healed(why))
            }
        }
    }

    /// Deletes the entry of `sha256`: the artifact, its integrity record and its load record.
    pub(crate) fn remove(&self, sha256: &Sha256) {
        if let Some(path) = self.path(sha256) {
            let _ = fs::remove_file(load_record_path(&path));
            let _ = fs::remove_file(record_path(&path));
            let _ = fs::remove_file(&path);
        }
    }

    /// The load record's text stored beside the artifact of `sha256`, unchecked (see
    /// [`Cache::check_load_record`]): `None` when there is none, or it is not ours to read
    /// (others could write it), or it is larger than any record we write.
    pub(crate) fn read_load_record(&self, sha256: &Sha256) -> Option<Vec<u8>> {
        use std::io::Read as _;
        let path = load_record_path(&self.path(sha256)?);
        let file = fs::File::open(&path).ok()?;
        if !is_private(&path) {
            return None;
        }
        let mut text = Vec::new();
        file.take(LOAD_RECORD_MAX + 1).read_to_end(&mut text).ok()?;
        (text.len() as u64 <= LOAD_RECORD_MAX).then_some(text)
    }

    /// The body of a load record read by [`Cache::read_load_record`], if its keyed hash matches:
    /// it was written for module `sha256` on this engine beside the artifact `vouched` vouches
    /// for, and not changed since. `Err(Corrupt)` otherwise.
    pub(crate) fn check_load_record<'r>(
        &self,
        sha256: &Sha256,
        vouched: &Vouched,
        text: &'r [u8],
    ) -> Result<&'r [u8], Heal> {
        let (sum, body) = text
            .iter()
            .position(|&b| b == b'\n')
            .map(|at| (&text[..at], &text[at + 1..]))
            .ok_or(Heal::Corrupt)?;
        let sum = std::str::from_utf8(sum).map_err(|_| Heal::Corrupt)?;
        let mut expected = self.load_integrity(sha256, vouched);
        expected.update(body);
        if expected.matches(sum) {
            Ok(body)
        } else {
            Err(Heal::Corrupt)
        }
    }

    /// Stores `body` as the load record of the entry of `sha256` whose artifact `vouched`
    /// vouches for. Failing to store it only means the next load reads the bundle again.
    pub(crate) fn store_load_record(&self, sha256: &Sha256, vouched: &Vouched, body: &[u8]) {
        let Some(path) = self.path(sha256) else {
            return;
        };
        if body.len() as u64 + 65 > LOAD_RECORD_MAX {
            return;
        }
        let mut sum = self.load_integrity(sha256, vouched);
        sum.update(body);
        let mut text = sum.hex().into_bytes();
        text.push(b'\n');
        text.extend_from_slice(body);
        let _ = store(&load_record_path(&path), &text);
    }

    /// The keyed hash a load record's body must have: keyed like the artifact's integrity
    /// record, and with that record's text, so it holds only beside that artifact.
    fn load_integrity(&self, sha256: &Sha256, vouched: &Vouched) -> Integrity {
        let mut h = blake3::Hasher::new();
        h.update(b"kubectl-promote load record v1\0");
        h.update(self.engine_key.as_bytes());
        h.update(b"\0");
        h.update(&sha256.0);
        h.update(vouched.0.trim().as_bytes());
        h.update(b"\0");
        Integrity(h)
    }

    /// Compiles `bytes` and stores the artifact under `sha256` (unless caching is off);
    /// `status` is what the [`Cache::lookup`] before it found.
    pub(crate) fn compile(
        &self,
        engine: &Engine,
        sha256: &Sha256,
        bytes: &[u8],
        status: CacheStatus,
    ) -> wasmtime::Result<(Module, CacheStatus, Option<Vouched>)> {
        let module = Module::new(engine, bytes)?;
        let Some(path) = self.path(sha256) else {
            return Ok((module, CacheStatus::Disabled, None));
        };
        let mut vouched = None;
        if let Ok(serialized) = module.serialize() {
            let mut sum = self.integrity(sha256);
            sum.update(&serialized);
            let hex = sum.hex();
            // A load record of an entry this replaces goes first (it was bound to the old
            // record); then the artifact, then its record: a reader between the two sees a
            // record that does not match (or none) and recompiles, never a record vouching for
            // bytes it was not made from.
            let _ = fs::remove_file(load_record_path(&path));
            if store(&path, &serialized).is_ok()
                && store(&record_path(&path), hex.as_bytes()).is_ok()
            {
                vouched = Some(Vouched(hex));
            }
        }
        Ok((module, status, vouched))
    }
}

/// The text of the integrity record that vouched for (or was just written for) an artifact:
/// what a load record is bound to.
pub(crate) struct Vouched(String);

/// What the cache holds for a digest.
pub(crate) enum Lookup {
    /// A usable compiled module, and the record that vouched for it.
    Hit(Module, Vouched),
    /// Nothing usable: compile, and report this status.
    Miss(CacheStatus),
}

/// What an integrity record says: `Ok(text)`, `Err(NotPrivate)` when others could have written
/// it, `Err(Unrecorded)` when there is none (or it is not a record: too long, not text).
fn read_record(path: &Path) -> Result<String, Heal> {
    use std::io::Read as _;
    let file = fs::File::open(path).map_err(|_| Heal::Unrecorded)?;
    if !is_private(path) {
        return Err(Heal::NotPrivate);
    }
    // 64 hex digits and a newline at most; read no more than that, whatever the file holds.
    let mut text = String::new();
    file.take(RECORD_MAX as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|_| Heal::Unrecorded)?;
    if text.len() > RECORD_MAX {
        return Err(Heal::Unrecorded);
    }
    Ok(text)
}

/// The longest record text accepted.
const RECORD_MAX: usize = 128;

/// `<sha256>.cwasm.integrity` beside `<sha256>.cwasm`.
fn record_path(artifact: &Path) -> PathBuf {
    let mut name = artifact.as_os_str().to_owned();
    name.push(".integrity");
    PathBuf::from(name)
}

/// `<sha256>.cwasm.load` beside `<sha256>.cwasm`.
fn load_record_path(artifact: &Path) -> PathBuf {
    let mut name = artifact.as_os_str().to_owned();
    name.push(".load");
    PathBuf::from(name)
}

/// The largest load record read or written: a bundle's `data.json` lives in it, and a bundle
/// with more data than this is read from its tarball every time instead.
const LOAD_RECORD_MAX: u64 = 4 << 20;

/// A keyed BLAKE3 hash in progress: the key is hashed in, the artifact's bytes go next.
struct Integrity(blake3::Hasher);

impl Integrity {
    fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn hex(self) -> String {
        self.0.finalize().to_hex().to_string()
    }

    /// Whether the hash equals the record's text (hex, surrounding whitespace ignored).
    fn matches(self, record: &str) -> bool {
        self.hex() == record.trim()
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
fn load_private(
    engine: &Engine,
    path: &Path,
    record: Result<&String, &Heal>,
    mut sum: Integrity,
) -> Result<Module, Heal> {
    if !is_private(path) {
        return Err(Heal::NotPrivate);
    }
    let record = record.map_err(|why| *why)?;
    // SAFETY (both calls): `path` is `<cache>/kubectl-promote/compiled/<engine key>/<sha256>.cwasm`
    // in the cache directory this program created with owner-only permissions; the file was
    // written by `store` below (temp file + rename) from `Module::serialize` of the same engine
    // configuration (the engine key), never copied from a package or another user, and
    // `is_private` refused it above if others could have written it. The bytes handed to
    // wasmtime are exactly the bytes whose keyed hash matched the record written beside them
    // when they were compiled (so a corrupted or swapped file is never mapped), and wasmtime
    // checks the header and compatibility hash; anything that fails is deleted and
    // recompiled. What wasmtime maps is our sealed private copy (see above), which cannot
    // change between the check and the mapping, nor while mapped.
    #[cfg(target_os = "linux")]
    if let Ok(copy) = sealed_copy(path) {
        hash_file(&copy, &mut sum).map_err(|_| Heal::Unloadable)?;
        if !sum.matches(record) {
            return Err(Heal::Corrupt);
        }
        return unsafe { Module::deserialize_open_file(engine, copy) }
            .map_err(|_| Heal::Unloadable);
    }
    let bytes = fs::read(path).map_err(|_| Heal::Unloadable)?;
    sum.update(&bytes);
    if !sum.matches(record) {
        return Err(Heal::Corrupt);
    }
    unsafe { Module::deserialize(engine, &bytes) }.map_err(|_| Heal::Unloadable)
}

/// Feeds a file's bytes to `sum`, read at explicit offsets (the file's position is left alone).
#[cfg(target_os = "linux")]
fn hash_file(file: &fs::File, sum: &mut Integrity) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt as _;
    // 64 KiB: under malloc's mmap threshold, so the buffer comes from (and goes back to) the
    // heap instead of a fresh mapping whose pages all fault in on every load.
    let mut buf = vec![0u8; 64 << 10];
    let mut at = 0u64;
    loop {
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            return Ok(());
        }
        sum.update(&buf[..n]);
        at += n as u64;
    }
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

/// The layout of the cache's entries: `v2` when the integrity records went from SHA-256 to
/// BLAKE3 (an entry of one layout is never read by another: the engine key differs).
const LAYOUT: &[u8] = b"kubectl-promote compiled cache v2\0";

/// First 16 bytes (hex) of SHA-256 over the cache layout and the engine's compatibility hash.
fn engine_key(engine: &Engine) -> String {
    use sha2::Digest as _;
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
    h.0.update(LAYOUT);
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(&h.0.finalize()[..16])
}
