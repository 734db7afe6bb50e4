//! The facts about one Application that the use cases need, read from the
//! `argoproj.io/v1alpha1` document: sync status, health, the *deployed* revision
//! (`status.history[-1]`), auto-sync as Argo CD evaluates it, the operation in progress and the
//! last operation's state, who else writes the app, and our rollback marker.

use std::fmt;

use serde_json::Value;

use super::json::{non_null, str_at, strings_at, time_at};
use super::marker::{
    AUTO_SYNC_DISABLED_BY, AutoSyncDisabledBy, ROLLBACK_REASON, ROLLBACK_TO_ID,
    ROLLBACK_TO_REVISION, ROLLED_BACK_AT, ROLLED_BACK_BY, RollbackMarker, SYNC_POLICY_BEFORE,
};
use super::time::Timestamp;

/// The annotation that asks the controller for a refresh (`normal` or `hard`).
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";

/// `status.sync.status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncStatus {
    Synced,
    OutOfSync,
    Unknown,
    /// The controller has not compared the app yet (no `status.sync`).
    NotReported,
}

/// `status.health.status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthStatus {
    Healthy,
    Progressing,
    Degraded,
    Suspended,
    Missing,
    Unknown,
    /// Not assessed yet (`""` before the first reconcile).
    NotReported,
}

/// `status.operationState.phase`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperationPhase {
    Running,
    Terminating,
    Succeeded,
    Failed,
    Error,
    /// A phase this version does not know; treated as not completed.
    Other(String),
}

impl OperationPhase {
    fn parse(s: &str) -> Self {
        match s {
            "Running" => OperationPhase::Running,
            "Terminating" => OperationPhase::Terminating,
            "Succeeded" => OperationPhase::Succeeded,
            "Failed" => OperationPhase::Failed,
            "Error" => OperationPhase::Error,
            other => OperationPhase::Other(other.to_owned()),
        }
    }

    /// `OperationPhase.Completed()`: Succeeded, Failed or Error.
    pub fn is_completed(&self) -> bool {
        matches!(
            self,
            OperationPhase::Succeeded | OperationPhase::Failed | OperationPhase::Error
        )
    }
}

impl fmt::Display for OperationPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OperationPhase::Other(s) => f.write_str(s),
            other => write!(f, "{other:?}"),
        }
    }
}

impl fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncStatus::NotReported => f.write_str("not reported"),
            other => write!(f, "{other:?}"),
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthStatus::NotReported => f.write_str("not reported"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Auto-sync as Argo CD evaluates it: `automated != nil && enabled != false` (v3.1+).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AutoSync {
    /// No `spec.syncPolicy.automated`.
    Off,
    /// `automated` present and `enabled` absent or true.
    Enabled { prune: bool, self_heal: bool },
    /// `automated.enabled: false`: off, keeping the settings for when it comes back.
    Disabled { prune: bool, self_heal: bool },
}

impl AutoSync {
    pub fn is_enabled(&self) -> bool {
        matches!(self, AutoSync::Enabled { .. })
    }
}

/// Who started an operation (`initiatedBy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitiatedBy {
    Automated,
    User(String),
    Unknown,
}

impl InitiatedBy {
    /// Reads `initiatedBy` (absent: [`InitiatedBy::Unknown`]).
    pub fn from_json(v: Option<&Value>) -> Self {
        let Some(v) = v else {
            return InitiatedBy::Unknown;
        };
        if v.get("automated").and_then(Value::as_bool) == Some(true) {
            InitiatedBy::Automated
        } else if let Some(u) = v
            .get("username")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
        {
            InitiatedBy::User(u.to_owned())
        } else {
            InitiatedBy::Unknown
        }
    }
}

/// One application source (`spec.source` or an entry of `spec.sources`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub repo_url: String,
    pub path: String,
    /// As written; `""` means HEAD.
    pub target_revision: String,
    /// `kustomize.images` overrides Argo CD applies on top of the overlay.
    pub kustomize_images: Vec<String>,
}

impl Source {
    fn from_json(v: &Value) -> Self {
        Source {
            repo_url: str_at(v, &["repoURL"]).unwrap_or_default().to_owned(),
            path: str_at(v, &["path"]).unwrap_or_default().to_owned(),
            target_revision: str_at(v, &["targetRevision"])
                .unwrap_or_default()
                .to_owned(),
            kustomize_images: strings_at(v, "/kustomize/images"),
        }
    }
}

/// Where the app's manifests come from (`spec.GetSources()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sources {
    Single(Source),
    /// `spec.sources` is non-empty: it wins over `spec.source`.
    Multi(Vec<Source>),
    /// `spec.sourceHydrator` is set: out of scope for this tool.
    Hydrator,
    None,
}

/// One `status.history` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEntry {
    pub id: i64,
    /// Single source: the resolved SHA that was synced.
    pub revision: Option<String>,
    /// Multi-source: the SHAs in the order of `sources`.
    pub revisions: Vec<String>,
    pub deployed_at: Option<Timestamp>,
    pub initiated_by: InitiatedBy,
}

/// `status.operationState`: the current or last operation.
#[derive(Clone, Debug, PartialEq)]
pub struct OperationState {
    /// The copy of `.operation` the controller took when it started.
    pub operation: Value,
    pub phase: OperationPhase,
    pub message: String,
    pub started_at: Option<Timestamp>,
    /// Set when the phase completed, and also on a failed attempt awaiting retry.
    pub finished_at: Option<Timestamp>,
    /// `syncResult.revision`: the resolved SHA the operation synced to.
    pub sync_revision: Option<String>,
    pub retry_count: i64,
}

impl OperationState {
    /// The `operation.info` value named `name`.
    pub fn info(&self, name: &str) -> Option<&str> {
        self.operation
            .get("info")?
            .as_array()?
            .iter()
            .find_map(|i| {
                (i.get("name")?.as_str()? == name)
                    .then(|| i.get("value")?.as_str())
                    .flatten()
            })
    }
}

/// Who else writes this Application and may turn auto-sync back on after a rollback
/// (argo-cd #5351, #9570).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManagedBy {
    /// An `ownerReferences` entry of kind ApplicationSet.
    ApplicationSet { name: String },
    /// A parent Application (app of apps), from Argo CD's `argocd.argoproj.io/tracking-id`
    /// annotation or its `app.kubernetes.io/instance` tracking label.
    ParentApplication { name: String },
}

impl fmt::Display for ManagedBy {
    /// The warning and its fix, for the rollback's output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManagedBy::ApplicationSet { name } => write!(
                f,
                "ApplicationSet {name} generates this app and will turn auto-sync back on; add \
                 `ignoreApplicationDifferences: [{{jsonPointers: [/spec/syncPolicy]}}]` to it"
            ),
            // Measured on Argo CD 3.2 (docs/testbed-findings.md D6): ignoreDifferences alone stops
            // the parent's self-heal, but its next sync of a changed child manifest re-applies the
            // whole manifest unless it also respects ignoreDifferences.
            ManagedBy::ParentApplication { name } => write!(
                f,
                "the parent Application {name} may turn auto-sync back on when it syncs; add \
                 `ignoreDifferences: [{{group: argoproj.io, kind: Application, jsonPointers: [/spec/syncPolicy]}}]` \
                 and `syncOptions: [RespectIgnoreDifferences=true]` to it (without the second, its \
                 next sync of a changed child manifest applies /spec/syncPolicy again)"
            ),
        }
    }
}

/// A condition from `status.conditions`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub kind: String,
    pub message: String,
}

/// The facts about one Application the use cases need, plus the document they came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Application {
    pub namespace: String,
    pub name: String,
    pub resource_version: String,
    pub deleting: bool,
    pub sources: Sources,
    pub auto_sync: AutoSync,
    pub sync_status: SyncStatus,
    /// `status.sync.revision`: what the branch resolved to at the last comparison. NOT what runs.
    pub sync_revision: Option<String>,
    pub health: HealthStatus,
    pub health_message: Option<String>,
    /// `status.health.lastTransitionTime` (Argo CD 3.x): when the app's health last changed.
    pub health_since: Option<Timestamp>,
    /// `.operation`: non-null means busy (§2.7).
    pub operation: Option<Value>,
    pub operation_state: Option<OperationState>,
    pub reconciled_at: Option<Timestamp>,
    /// Oldest first.
    pub history: Vec<HistoryEntry>,
    pub conditions: Vec<Condition>,
    pub rollback_marker: Option<RollbackMarker>,
    /// ApplicationSets and parent apps that write this app's spec.
    pub managed_by: Vec<ManagedBy>,
    /// The whole document, every field kept.
    pub raw: Value,
}

fn read_sources(spec: &Value) -> Sources {
    if non_null(spec.get("sourceHydrator")).is_some() {
        Sources::Hydrator
    } else if let Some(list) = spec
        .get("sources")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        Sources::Multi(list.iter().map(Source::from_json).collect())
    } else if let Some(s) = non_null(spec.get("source")) {
        Sources::Single(Source::from_json(s))
    } else {
        Sources::None
    }
}

fn read_auto_sync(spec: &Value) -> AutoSync {
    match non_null(spec.pointer("/syncPolicy/automated")) {
        None => AutoSync::Off,
        Some(a) => {
            let prune = a.get("prune").and_then(Value::as_bool).unwrap_or(false);
            let self_heal = a.get("selfHeal").and_then(Value::as_bool).unwrap_or(false);
            if a.get("enabled").and_then(Value::as_bool) == Some(false) {
                AutoSync::Disabled { prune, self_heal }
            } else {
                AutoSync::Enabled { prune, self_heal }
            }
        }
    }
}

fn read_sync_status(status: &Value) -> SyncStatus {
    match str_at(status, &["sync", "status"]) {
        Some("Synced") => SyncStatus::Synced,
        Some("OutOfSync") => SyncStatus::OutOfSync,
        Some(_) => SyncStatus::Unknown,
        None => SyncStatus::NotReported,
    }
}

fn read_health(status: &Value) -> HealthStatus {
    match str_at(status, &["health", "status"]) {
        Some("Healthy") => HealthStatus::Healthy,
        Some("Progressing") => HealthStatus::Progressing,
        Some("Degraded") => HealthStatus::Degraded,
        Some("Suspended") => HealthStatus::Suspended,
        Some("Missing") => HealthStatus::Missing,
        Some("") | None => HealthStatus::NotReported,
        Some(_) => HealthStatus::Unknown,
    }
}

fn read_operation_state(os: &Value) -> OperationState {
    OperationState {
        operation: os.get("operation").cloned().unwrap_or(Value::Null),
        phase: OperationPhase::parse(str_at(os, &["phase"]).unwrap_or_default()),
        message: str_at(os, &["message"]).unwrap_or_default().to_owned(),
        started_at: time_at(os, &["startedAt"]),
        finished_at: time_at(os, &["finishedAt"]),
        sync_revision: str_at(os, &["syncResult", "revision"])
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
        retry_count: os.get("retryCount").and_then(Value::as_i64).unwrap_or(0),
    }
}

fn read_history(status: &Value) -> Result<Vec<HistoryEntry>, ApplicationError> {
    let Some(list) = status.get("history").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .enumerate()
        .map(|(index, h)| {
            Ok(HistoryEntry {
                id: h
                    .get("id")
                    .and_then(Value::as_i64)
                    .ok_or(ApplicationError::HistoryId { index })?,
                revision: str_at(h, &["revision"])
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned),
                revisions: strings_at(h, "/revisions"),
                deployed_at: time_at(h, &["deployedAt"]),
                initiated_by: InitiatedBy::from_json(h.get("initiatedBy")),
            })
        })
        .collect()
}

fn read_conditions(status: &Value) -> Vec<Condition> {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|c| Condition {
                    kind: str_at(c, &["type"]).unwrap_or_default().to_owned(),
                    message: str_at(c, &["message"]).unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The document is not an Application this crate can read.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ApplicationError {
    #[error("not a JSON object")]
    NotAnObject,
    #[error("metadata.name is missing")]
    NoName,
    #[error("status.history[{index}] has no integer `id`")]
    HistoryId { index: usize },
    #[error("annotation {annotation}: {problem}")]
    Marker {
        annotation: &'static str,
        problem: String,
    },
}

impl Application {
    /// Reads the facts out of an Application document.
    pub fn from_json(raw: Value) -> Result<Self, ApplicationError> {
        if !raw.is_object() {
            return Err(ApplicationError::NotAnObject);
        }
        let name = str_at(&raw, &["metadata", "name"])
            .ok_or(ApplicationError::NoName)?
            .to_owned();
        let namespace = str_at(&raw, &["metadata", "namespace"])
            .unwrap_or_default()
            .to_owned();
        let spec = raw.get("spec").cloned().unwrap_or(Value::Null);
        let status = raw.get("status").cloned().unwrap_or(Value::Null);

        let sources = read_sources(&spec);
        let auto_sync = read_auto_sync(&spec);
        let sync_status = read_sync_status(&status);
        let health = read_health(&status);
        let operation_state = non_null(status.get("operationState")).map(read_operation_state);
        let history = read_history(&status)?;
        let conditions = read_conditions(&status);

        let rollback_marker = read_marker(raw.pointer("/metadata/annotations"))?;
        let managed_by = read_managed_by(&raw);

        Ok(Application {
            resource_version: str_at(&raw, &["metadata", "resourceVersion"])
                .unwrap_or_default()
                .to_owned(),
            deleting: non_null(raw.pointer("/metadata/deletionTimestamp")).is_some(),
            sources,
            auto_sync,
            sync_status,
            sync_revision: str_at(&status, &["sync", "revision"])
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
            health,
            health_message: str_at(&status, &["health", "message"]).map(str::to_owned),
            health_since: time_at(&status, &["health", "lastTransitionTime"]),
            operation: non_null(raw.get("operation")).cloned(),
            operation_state,
            reconciled_at: time_at(&status, &["reconciledAt"]),
            history,
            conditions,
            rollback_marker,
            managed_by,
            namespace,
            name,
            raw,
        })
    }

    /// `<namespace>/<name>`, as Argo CD's `QualifiedName()` prints it in messages.
    pub fn qualified_name(&self) -> String {
        if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }

    /// The revision actually deployed: `status.history[-1]`. `status.sync.revision` is the branch
    /// at the last comparison, which after a rollback is not what runs (§2.5).
    pub fn deployed_revision(&self) -> Option<&str> {
        let last = self.history.last()?;
        last.revision
            .as_deref()
            .or_else(|| last.revisions.first().map(String::as_str))
    }

    /// Our rollback marker is set but auto-sync is on again: someone else turned it back on (a
    /// parent Application or an ApplicationSet writing the app's manifest again, argo-cd #5351,
    /// or a person), so Argo CD syncs the branch's tip, the version rolled back from, again.
    /// Whoever it was, the rollback no longer holds; [`Self::managed_by`] names the likely writers.
    pub fn rollback_undone(&self) -> bool {
        self.rollback_marker.is_some() && self.auto_sync.is_enabled()
    }

    /// `.operation != null`: someone asked for an operation the controller has not finished.
    pub fn operation_in_progress(&self) -> bool {
        self.operation.is_some()
    }

    /// The history entry with `id` (a scan, as Argo CD does; ids are not indexes).
    pub fn history_entry(&self, id: i64) -> Option<&HistoryEntry> {
        self.history.iter().find(|h| h.id == id)
    }

    /// The entry `argocd app rollback` picks without an id: `history[len-2]`.
    pub fn previous_deployment(&self) -> Option<&HistoryEntry> {
        self.history.len().checked_sub(2).map(|i| &self.history[i])
    }

    /// A one-line account of the state, for progress lines and timeout reports.
    pub fn summary(&self) -> String {
        let mut s = format!("sync {}, health {}", self.sync_status, self.health);
        if let Some(m) = self.health_message.as_deref().filter(|m| !m.is_empty()) {
            s.push_str(&format!(" ({m})"));
        }
        match self.deployed_revision() {
            Some(r) => s.push_str(&format!(", deployed {}", short_revision(r))),
            None => s.push_str(", nothing deployed yet"),
        }
        if let Some(os) = &self.operation_state {
            s.push_str(&format!(", last operation {}", os.phase));
            if !os.message.is_empty() {
                s.push_str(&format!(": {}", os.message));
            }
        }
        if self.operation.is_some() {
            s.push_str(", an operation is pending");
        }
        s
    }
}

/// A revision as people read it: the first 7 characters of a commit SHA, anything else whole.
pub fn short_revision(rev: &str) -> &str {
    if rev.len() == 40 { &rev[..7] } else { rev }
}

fn read_managed_by(raw: &Value) -> Vec<ManagedBy> {
    let mut out = Vec::new();
    if let Some(owners) = raw
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
    {
        for o in owners {
            if str_at(o, &["kind"]) == Some("ApplicationSet")
                && let Some(name) = str_at(o, &["name"])
            {
                out.push(ManagedBy::ApplicationSet {
                    name: name.to_owned(),
                });
            }
        }
    }
    let parent = raw
        .pointer("/metadata/annotations/argocd.argoproj.io~1tracking-id")
        .and_then(Value::as_str)
        .and_then(|t| t.split(':').next())
        .or_else(|| {
            raw.pointer("/metadata/labels/app.kubernetes.io~1instance")
                .and_then(Value::as_str)
        })
        .filter(|p| !p.is_empty());
    if let Some(p) = parent {
        out.push(ManagedBy::ParentApplication { name: p.to_owned() });
    }
    out
}

fn read_marker(annotations: Option<&Value>) -> Result<Option<RollbackMarker>, ApplicationError> {
    let Some(a) = annotations else {
        return Ok(None);
    };
    let Some(by) = a.get(ROLLED_BACK_BY).and_then(Value::as_str) else {
        return Ok(None);
    };
    let get = |k: &str| a.get(k).and_then(Value::as_str);
    let to_id = match get(ROLLBACK_TO_ID) {
        None | Some("") => None,
        Some(s) => Some(s.parse().map_err(|_| ApplicationError::Marker {
            annotation: ROLLBACK_TO_ID,
            problem: format!("{s:?} is not an integer"),
        })?),
    };
    let sync_policy_before = match get(SYNC_POLICY_BEFORE) {
        None | Some("") => None,
        Some(s) => {
            let v: Value = serde_json::from_str(s).map_err(|e| ApplicationError::Marker {
                annotation: SYNC_POLICY_BEFORE,
                problem: format!("not JSON: {e}"),
            })?;
            (!v.is_null()).then_some(v)
        }
    };
    let disabled_by = match get(AUTO_SYNC_DISABLED_BY) {
        Some("enabled-false") => AutoSyncDisabledBy::EnabledFalse,
        Some("removed") => AutoSyncDisabledBy::Removed,
        Some("already-off") | None => AutoSyncDisabledBy::AlreadyOff,
        Some(other) => {
            return Err(ApplicationError::Marker {
                annotation: AUTO_SYNC_DISABLED_BY,
                problem: format!("unknown value {other:?}"),
            });
        }
    };
    Ok(Some(RollbackMarker {
        by: by.to_owned(),
        at: get(ROLLED_BACK_AT).and_then(Timestamp::parse),
        reason: get(ROLLBACK_REASON).unwrap_or_default().to_owned(),
        to_id,
        to_revision: get(ROLLBACK_TO_REVISION)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        sync_policy_before,
        disabled_by,
    }))
}
