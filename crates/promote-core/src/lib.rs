//! Domain types and pure decisions of `kubectl promote`.
//!
//! This crate does no I/O: no filesystem, no network, no processes, no async. The adapters
//! (`promote-git`, `promote-policy`, `promote-argocd`, `promote-http`) turn the world into the
//! types defined here, and the use cases in `promote` combine them through the small traits this
//! crate defines, so every decision can be tested with in-memory fakes.

pub mod argocd;
pub mod checks;
pub mod config;
pub mod diff;
pub mod duration;
pub mod fields;
pub mod forge;
pub mod image;
pub mod manifests;
pub mod overlay;
pub mod registry;
pub mod render_diff;
pub mod source;
pub mod supply_chain;
pub mod trailers;
pub mod yaml;

/// A person as git writes one: `Name <email>`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Person {
    pub name: String,
    pub email: String,
}

impl std::fmt::Display for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} <{}>", self.name, self.email)
    }
}

impl std::str::FromStr for Person {
    type Err = String;
    /// Parse `Name <email>` (as `git commit --author` takes it).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not `Name <email>`");
        let (name, rest) = s.split_once('<').ok_or_else(bad)?;
        let email = rest.strip_suffix('>').ok_or_else(bad)?.trim();
        let name = name.trim();
        if name.is_empty() || email.is_empty() || !email.contains('@') {
            return Err(bad());
        }
        Ok(Person {
            name: name.to_owned(),
            email: email.to_owned(),
        })
    }
}
