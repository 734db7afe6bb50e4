//! The result documents of `-o json|yaml`: typed, versioned (`apiVersion`, `kind`), one `kind`
//! per use case whatever the way it went. The binary writes them; the use cases build them.

use serde::Serialize;

/// `apiVersion` of every result document.
pub const API_VERSION: &str = "promote.kubectl.io/v1alpha1";

/// A result document's body; the writer adds `apiVersion` and `kind`.
pub trait Document: Serialize {
    /// `PromotionResult`, `RollbackResult`, `Status`, …
    fn kind(&self) -> &'static str;
}
