//! What a scaffold writes: the language of a project and one file to write (leaf types of
//! [`super`], shared by the project templates and the SDK list).

use std::path::PathBuf;

/// The language of a new policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Go,
    Rego,
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::Go => "go",
            Self::Rego => "rego",
        }
    }
}

/// One file to write, relative to the directory it goes to.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub text: String,
    /// A script: written with mode 0755.
    pub executable: bool,
}

impl Written {
    pub fn file(path: impl Into<PathBuf>, text: String) -> Self {
        Self {
            path: path.into(),
            text,
            executable: false,
        }
    }

    pub fn script(path: impl Into<PathBuf>, text: String) -> Self {
        Self {
            path: path.into(),
            text,
            executable: true,
        }
    }
}
