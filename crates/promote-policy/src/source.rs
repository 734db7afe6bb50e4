//! Where a module comes from and how it is identified: `builtin:NAME`, a file with an optional
//! sha256 pin, or a krew-installed package pinned by its own metadata; pins are checked before
//! anything is compiled.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use sha2::Digest as _;

/// A SHA-256 digest of module bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(sha2::Sha256::digest(bytes).into())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Sha256 {
    type Err = String;

    /// 64 hex digits, optionally prefixed `sha256:`.
    fn from_str(s: &str) -> Result<Self, String> {
        let hexits = s.strip_prefix("sha256:").unwrap_or(s);
        let mut out = [0u8; 32];
        hex::decode_to_slice(hexits, &mut out)
            .map_err(|e| format!("{s:?} is not a sha256 digest (64 hex digits): {e}"))?;
        Ok(Self(out))
    }
}

/// How to find a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleSource {
    /// `builtin:NAME`: embedded in the binary.
    Builtin(String),
    /// A `.wasm` file; when `sha256` is set the bytes must match it.
    File {
        /// Path to the module.
        path: PathBuf,
        /// The pinned digest.
        sha256: Option<Sha256>,
    },
    /// Bytes held by the caller (a module read from a git revision, a test module).
    Bytes {
        /// What to call it in reports.
        label: String,
        /// The module (binary or, with wasmtime's `wat` support, text).
        bytes: Vec<u8>,
        /// The pinned digest.
        sha256: Option<Sha256>,
    },
    /// Installed by krew as `promote-policy-<name>` ([`crate::krew`]): the module in the store,
    /// pinned by the sha256 its package recorded; the package's `promote-policy.yaml` is its
    /// sidecar.
    Krew(crate::krew::Installed),
}

impl ModuleSource {
    /// Parses a `module:` value from `promote.yaml`: `builtin:NAME` or a path (relative paths are
    /// the caller's business), with the optional `sha256:` pin next to it.
    pub fn from_config(module: &str, sha256: Option<Sha256>) -> Self {
        match module.strip_prefix("builtin:") {
            Some(name) => Self::Builtin(name.to_owned()),
            None => Self::File {
                path: PathBuf::from(module),
                sha256,
            },
        }
    }

    /// The origin shown in reports.
    pub fn origin(&self) -> Origin {
        match self {
            Self::Builtin(name) => Origin::Builtin(name.clone()),
            Self::File { path, .. } => Origin::File(path.clone()),
            Self::Bytes { label, .. } => Origin::Bytes(label.clone()),
            Self::Krew(i) => Origin::Krew {
                index: i.index.clone(),
                name: i.name().to_owned(),
                version: i.version.clone(),
            },
        }
    }
}

/// Where a loaded module came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `builtin:NAME`.
    Builtin(String),
    /// A file.
    File(PathBuf),
    /// Caller-supplied bytes.
    Bytes(String),
    /// Installed by krew: `krew:<index>/<name>@<version>`.
    Krew {
        /// The index it was installed from (`detached` for `--manifest` installs).
        index: String,
        /// The policy name (the plugin name without `promote-policy-`).
        name: String,
        /// The installed version.
        version: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Builtin(n) => write!(f, "builtin:{n}"),
            Self::File(p) => write!(f, "{}", p.display()),
            Self::Bytes(l) => f.write_str(l),
            Self::Krew {
                index,
                name,
                version,
            } => write!(f, "krew:{index}/{name}@{version}"),
        }
    }
}
