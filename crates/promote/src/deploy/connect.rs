//! Reaching the Argo CD of environments through the [`ArgoCdConnector`] port: one
//! environment's app ([`connect`]), or many at once ([`read_all`]: one transport per way of
//! reaching Argo CD, opened on its own thread, each sending its reads together). The reads an
//! operation makes for its policy facts are gathered here ([`gather`]), and a rollback starts
//! them while the session fetches ([`EarlyReads`]), keeping only those the fetched
//! `promote.yaml` agrees with.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};

use promote_core::argocd::Application;
use promote_core::config::{Config, Environment};
use promote_policy::sdk;

use super::error::ArgoError;
use super::facts::policy_facts;
use super::target::{Target, classify};
use crate::ports::{ArgoCdClient, ArgoCdConnector, Location, Purpose};
use crate::{Interaction, Session};

/// An environment's Application and the transport that reaches it.
pub struct Conn {
    pub argo: ArgoCdClient,
    pub location: Location,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Conn {
    pub fn target(&self) -> Target<'_> {
        Target {
            argo: self.argo.as_ref(),
            app: self.location.app.clone(),
            via: self.location.via.clone(),
        }
    }
}

/// Opens the transport for ENV's Application.
pub fn connect(
    argocd: &dyn ArgoCdConnector,
    env: &Environment,
    purpose: Purpose,
) -> Result<Conn, ArgoError> {
    let location = argocd.locate(env, purpose)?;
    let argo = argocd
        .open(&location.transport)
        .map_err(|cause| ArgoError::unopened(&location, cause))?;
    Ok(Conn { argo, location })
}

/// Why an env's app could not be read: opening its transport failed, or the read did.
#[derive(Debug)]
pub enum ReadFailure {
    Connect(ArgoError),
    Read(ArgoError),
}

impl ReadFailure {
    pub fn into_error(self) -> ArgoError {
        match self {
            ReadFailure::Connect(e) | ReadFailure::Read(e) => e,
        }
    }
}

/// An env's app as read, with the connection that read it.
pub type Read = Result<(Conn, Application), ReadFailure>;

/// Reads the Application of every env (each has `argocd`) for [`Purpose::Read`], at once: one
/// transport per distinct way of reaching Argo CD, opened on its own thread, each sending its
/// GETs together. One answer per env, in order; the same answers as reading one after another.
pub fn read_all(argocd: &dyn ArgoCdConnector, envs: &[Environment]) -> Vec<Read> {
    let mut out: Vec<Option<Read>> = Vec::new();
    // Environments by the way they are reached, in order of first appearance.
    let mut groups: Vec<Vec<(usize, Location)>> = Vec::new();
    for (i, env) in envs.iter().enumerate() {
        match argocd.locate(env, Purpose::Read) {
            Ok(at) => {
                out.push(None);
                match groups.iter_mut().find(|g| g[0].1.transport == at.transport) {
                    Some(members) => members.push((i, at)),
                    None => groups.push(vec![(i, at)]),
                }
            }
            Err(e) => out.push(Some(Err(ReadFailure::Connect(e)))),
        }
    }
    let read_group = |members: Vec<(usize, Location)>| -> Vec<(usize, Read)> {
        let argo = match argocd.open(&members[0].1.transport) {
            Ok(argo) => argo,
            Err(cause) => {
                // Said for each env's own app.
                return members
                    .into_iter()
                    .map(|(i, at)| {
                        let e = ArgoError::unopened(&at, cause.clone());
                        (i, Err(ReadFailure::Connect(e)))
                    })
                    .collect();
            }
        };
        let refs: Vec<_> = members.iter().map(|(_, at)| at.app.clone()).collect();
        let apps = argo.applications(&refs);
        members
            .into_iter()
            .zip(apps)
            .map(|((i, location), app)| {
                let conn = Conn {
                    argo: Arc::clone(&argo),
                    location,
                };
                let read =
                    app.map_err(|e| ReadFailure::Read(classify(&envs[i].name, &conn.target(), e)));
                (i, read.map(|app| (conn, app)))
            })
            .collect()
    };
    let answers: Vec<_> = match groups.len() {
        0 => Vec::new(),
        // One transport: no thread to start.
        1 => groups.into_iter().flat_map(read_group).collect(),
        _ => std::thread::scope(|scope| {
            let handles: Vec<_> = groups
                .into_iter()
                .map(|g| scope.spawn(|| read_group(g)))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("an Argo CD read thread panicked"))
                .collect()
        }),
    };
    for (i, answer) in answers {
        out[i] = Some(answer);
    }
    out.into_iter()
        .map(|o| o.expect("every env answered"))
        .collect()
}

/// Which Argo CD reads an operation on ENV makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// A promotion: the apps its promote policies are told about.
    Promotion,
    /// A rollback in git: the apps its rollback policies are told about.
    Revert,
    /// A rollback that may go through Argo CD's history: those, and ENV's own app for the pick.
    RollbackMayUseHistory,
}

impl Reads {
    /// The envs whose apps are read: every env with an app when policies ask (configured for
    /// the operation, or `one_offs`), and ENV's own for a pick.
    fn wanted(self, config: &Config, env_name: &str, one_offs: bool) -> Vec<Environment> {
        let Ok(env) = config.env(env_name) else {
            return Vec::new();
        };
        let facts = one_offs || !self.configured(env).is_empty();
        let pick = self == Reads::RollbackMayUseHistory;
        config
            .environments
            .iter()
            .filter(|e| e.argocd.is_some() && (facts || (pick && e.name == env_name)))
            .cloned()
            .collect()
    }

    fn configured(self, env: &Environment) -> &[promote_core::config::PolicyRef] {
        match self {
            Reads::Promotion => &env.promote_policies,
            Reads::Revert | Reads::RollbackMayUseHistory => &env.rollback_policies,
        }
    }
}

/// The Applications an operation read (for the policy facts, and ENV's own for a rollback's
/// strategy pick), kept so that nothing reads them twice.
#[derive(Debug, Default)]
pub struct ArgoReads {
    /// By environment name: its connection (opened for [`Purpose::Read`]) and the app, or why
    /// not.
    pub apps: BTreeMap<String, Read>,
}

/// Argo CD reads started during the session's fetch, from `promote.yaml` as the last fetch left
/// it ([`crate::peek`]). After the fetch, [`gather`] uses an env's read only when the fetched
/// `promote.yaml` reaches that env's app the same way (same app, namespace and transport); what
/// Argo CD holds does not depend on our fetch, so such a read is the one that would have been
/// made a few milliseconds later. Anything else is read again.
#[derive(Debug, Default)]
pub struct EarlyReads {
    apps: BTreeMap<String, (Location, Read)>,
}

/// Starts [`EarlyReads`] on a thread of `scope` while the caller fetches, for an operation on
/// `env_name` as `config` (the last-fetched `promote.yaml`) describes it.
pub fn start_early_reads<'scope>(
    scope: &'scope Scope<'scope, '_>,
    argocd: &'scope dyn ArgoCdConnector,
    config: Config,
    (env_name, reads, one_offs): (&'scope str, Reads, bool),
) -> ScopedJoinHandle<'scope, EarlyReads> {
    scope.spawn(move || {
        let envs = reads.wanted(&config, env_name, one_offs);
        let located: Vec<Option<Location>> = envs
            .iter()
            .map(|e| argocd.locate(e, Purpose::Read).ok())
            .collect();
        let answers = read_all(argocd, &envs);
        EarlyReads {
            apps: envs
                .into_iter()
                .zip(located)
                .zip(answers)
                .filter_map(|((e, at), r)| Some((e.name, (at?, r))))
                .collect(),
        }
    })
}

/// Give policies every environment's Argo CD facts when the operation has policies to ask;
/// for [`Reads::RollbackMayUseHistory`], read ENV's app too, for the strategy pick. The apps
/// come from `early` where it holds an equivalent read, else are read at once ([`read_all`]);
/// the facts are computed here, in environment order, with a warning for each app that could
/// not be read.
pub fn gather(
    argocd: &dyn ArgoCdConnector,
    session: &Session,
    (env_name, reads, one_offs): (&str, Reads, bool),
    early: Option<EarlyReads>,
    ui: &dyn Interaction,
) -> (BTreeMap<String, sdk::ArgoCdState>, ArgoReads) {
    let mut facts = BTreeMap::new();
    let mut out = ArgoReads::default();
    let Ok(env) = session.config.env(env_name) else {
        return (facts, out);
    };
    let asked = one_offs || !reads.configured(env).is_empty();
    let envs = reads.wanted(&session.config, env_name, one_offs);
    let mut early = early.map(|e| e.apps).unwrap_or_default();
    let mut got: Vec<Option<Read>> = envs
        .iter()
        .map(|e| {
            let (at, read) = early.remove(&e.name)?;
            let now = argocd.locate(e, Purpose::Read).ok()?;
            (now == at).then_some(read)
        })
        .collect();
    let missing: Vec<Environment> = envs
        .iter()
        .zip(&got)
        .filter(|(_, g)| g.is_none())
        .map(|(e, _)| e.clone())
        .collect();
    let mut fresh = read_all(argocd, &missing).into_iter();
    for g in &mut got {
        if g.is_none() {
            *g = fresh.next();
        }
    }
    for (env, read) in envs.iter().zip(got) {
        let read = read.expect("every env read");
        if asked {
            match &read {
                Ok((_, app)) => {
                    facts.insert(env.name.clone(), policy_facts(session, env, app));
                }
                Err(ReadFailure::Connect(e) | ReadFailure::Read(e)) => ui.warn(&format!(
                    "{}: Argo CD facts not given to policies: {}",
                    env.name,
                    one_line(e)
                )),
            }
        }
        out.apps.insert(env.name.clone(), read);
    }
    (facts, out)
}

/// An error and its causes on one line.
pub fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s
}
