//! The [`Forge`] port that the HTTP adapters implement.

use super::error::ForgeError;
use super::pull::{ForgeUser, NewPullRequest, PrEdit, PrQuery, PullRequest, Review};
use super::target::ForgeTarget;

/// A forge's pull requests, for one repository, as the use cases need them. Sync on purpose: the
/// HTTP implementation blocks (`promote-http`), and so do the fakes in tests.
pub trait Forge {
    /// The resolved target (kind, repository, URLs, token variable name).
    fn target(&self) -> &ForgeTarget;
    /// The account behind the token.
    fn whoami(&self) -> Result<ForgeUser, ForgeError>;
    /// Open pull requests selected by `query`, all pages, oldest first.
    fn find_open(&self, query: &PrQuery) -> Result<Vec<PullRequest>, ForgeError>;
    /// Opens a pull request. A duplicate (same head and base) is [`ForgeError::AlreadyExists`].
    fn create(&self, pr: &NewPullRequest) -> Result<PullRequest, ForgeError>;
    fn update(&self, number: u64, edit: &PrEdit) -> Result<PullRequest, ForgeError>;
    /// Add a comment to pull request `number` (the rendered diff's overflow).
    fn comment(&self, number: u64, comment: &str) -> Result<(), ForgeError>;
    /// Comments, then closes without merging.
    fn close_with_comment(&self, number: u64, comment: &str) -> Result<(), ForgeError>;
    /// Requests reviews from accounts (`alice`) or teams (`org/team`, not on GitLab).
    fn request_reviewers(&self, number: u64, reviewers: &[String]) -> Result<(), ForgeError>;
    /// Adds labels, creating those the repository lacks where the forge needs that.
    fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), ForgeError>;
    fn get(&self, number: u64) -> Result<PullRequest, ForgeError>;
    /// Reviews in the order they were submitted.
    fn reviews(&self, number: u64) -> Result<Vec<Review>, ForgeError>;
    /// The e-mail the forge shows for account `login`, if it shows one (unverified: what the
    /// account holder set). For reviews whose account the review itself shows without one.
    fn user_email(&self, login: &str) -> Result<Option<String>, ForgeError> {
        let _ = login;
        Ok(None)
    }
}
