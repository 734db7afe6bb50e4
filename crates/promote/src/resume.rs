//! `kubectl promote resume ENV [--force]`, end to end: end an `argocd` rollback by restoring
//! the sync policy it recorded and removing its marker, refused while git still holds the
//! version rolled back from unless forced ([`deploy::resume`] has the steps).

use crate::deploy::{self, Resumed};
use crate::document::Document;
use crate::ports::{Ports, Purpose};
use crate::{Interaction, PromoteError, Session};

/// A resume as asked on the command line.
#[derive(Debug, Clone)]
pub struct Request {
    pub env: String,
    /// `--force`: resume although git still holds the version rolled back from.
    pub force: bool,
}

impl Document for Resumed {
    fn kind(&self) -> &'static str {
        "ResumeResult"
    }
}

/// Resume ENV: see the module docs.
pub fn run(ports: &Ports, req: Request, ui: &dyn Interaction) -> Result<Resumed, PromoteError> {
    let session = Session::open(&ports.workspace, ui)?;
    let env = session.config.env(&req.env)?;
    let conn = deploy::connect(ports.argocd.as_ref(), env, Purpose::Read)?;
    Ok(deploy::resume::resume(
        &session,
        env,
        &conn.target(),
        req.force,
        ui,
    )?)
}
