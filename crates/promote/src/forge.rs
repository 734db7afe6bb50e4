//! The forge of a session, as far as it can be reached: resolved from the remote URL and the
//! `forge:` settings, and connected through the [`ForgeConnector`](crate::ports::ForgeConnector)
//! port when there is a token for it (the binary reads it; it never reaches this crate as text).

use promote_core::forge::{Forge, ForgeError, ForgeTarget};

use crate::ports::Ports;
use crate::{Interaction, PromoteError, Session};

/// The resolved forge of this repository: the remote URL, with `forge:` settings winning.
pub fn target(session: &Session) -> Result<ForgeTarget, ForgeError> {
    let url = session.repo.remote_url(&session.remote).ok();
    let settings = session.config.forge.clone().unwrap_or_default();
    ForgeTarget::resolve(url.as_deref(), &settings)
}

/// The forge of a session, as far as it can be reached.
pub enum Connection {
    /// A forge and a token for it.
    Forge(Box<dyn Forge>),
    /// The forge is known, but its token variable is unset or empty.
    NoToken(ForgeTarget),
    /// No forge could be resolved from the remote and the `forge:` settings.
    NoForge(ForgeError),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Connection::Forge(forge) => f.debug_tuple("Forge").field(forge.target()).finish(),
            Connection::NoToken(t) => f.debug_tuple("NoToken").field(t).finish(),
            Connection::NoForge(e) => f.debug_tuple("NoForge").field(e).finish(),
        }
    }
}

impl Connection {
    pub fn forge(&self) -> Option<&dyn Forge> {
        match self {
            Connection::Forge(f) => Some(f.as_ref()),
            Connection::NoToken(_) | Connection::NoForge(_) => None,
        }
    }

    /// Why there is no forge, for messages (names the variable, never a value).
    pub fn why_not(&self) -> Option<String> {
        match self {
            Connection::Forge(_) => None,
            Connection::NoToken(t) => Some(format!(
                "no token in ${} for {} {}",
                t.token_env, t.kind, t.repo
            )),
            Connection::NoForge(e) => Some(e.to_string()),
        }
    }
}

/// Resolves the forge and connects it when there is a token (from the variable `forge.tokenEnv`
/// names; default `GITHUB_TOKEN`, `GITLAB_TOKEN`, `GITEA_TOKEN`).
pub fn connect(
    ports: &Ports,
    session: &Session,
    ui: &dyn Interaction,
) -> Result<Connection, PromoteError> {
    let target = match target(session) {
        Ok(t) => t,
        Err(e) => return Ok(Connection::NoForge(e)),
    };
    match ports.forges.connect(&target)? {
        Some(forge) => {
            ui.detail(&format!(
                "{} {} at {} (token from ${})",
                target.kind, target.repo, target.api_url, target.token_env
            ));
            Ok(Connection::Forge(forge))
        }
        None => Ok(Connection::NoToken(target)),
    }
}
