//! What can stop a policy command besides the command line's own mistakes (those are
//! [`PromoteError::Usage`](crate::PromoteError::Usage), exit 2): a file that cannot be read, a
//! module that cannot be loaded, a krew installation or a package that cannot be written.

use promote_policy::LoadError;
use promote_policy::krew::KrewError;
use promote_policy::package::PackageError;

use crate::PromoteError;

/// A policy command could not do its job. (A denial is not here: it is a result.)
#[derive(Debug, thiserror::Error)]
pub enum PoliciesError {
    /// A file the command was given or found (`what` names it as the user would: a path,
    /// `--input FILE`, `--settings FILE`).
    #[error("reading {what}")]
    Read {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A file a command writes (`policy new`, `policy sdk`, `--save-requests`, `--junit`).
    #[error("writing {}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A `promote-policy.yaml` beside a module that is not YAML.
    #[error("{place}: {message}")]
    Sidecar { place: String, message: String },
    /// `krew:NAME` where no krew root is known.
    #[error("{module}: no krew root (neither KREW_ROOT nor HOME is set); set KREW_ROOT")]
    NoKrewRoot { module: String },
    #[error(transparent)]
    Krew(#[from] KrewError),
    /// The module could not be loaded (read, checked, compiled).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// `policy package` of a module promotions would refuse.
    #[error("{module}: not packaged")]
    NotPackaged {
        module: String,
        #[source]
        source: LoadError,
    },
    /// The package could not be written.
    #[error(transparent)]
    Package(PackageError),
}

impl From<PoliciesError> for PromoteError {
    fn from(e: PoliciesError) -> Self {
        PromoteError::Policies(Box::new(e))
    }
}
