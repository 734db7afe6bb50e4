//! The forge API token, which never prints its value.

use std::fmt;

/// An API token. It has no `Display` and no `Serialize`, and its `Debug` hides the value, so it
/// cannot end up in output, logs, errors or PR bodies by accident; only the HTTP layer reads it
/// through [`Token::expose_secret`].
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// `None` for an empty or blank value, which counts as "no token".
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        let trimmed = value.trim();
        if trimmed.is_empty() {
            None
        } else {
            Some(Token(trimmed.to_owned()))
        }
    }

    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the token in `text`: for vendor messages we pass on.
    pub fn scrub(&self, text: &str) -> String {
        text.replace(&self.0, "***")
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}
