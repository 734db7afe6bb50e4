//! Argo CD Applications as the use cases see them, and every decision about them that needs no I/O.
//!
//! This module owns: the facts read from an `argoproj.io/v1alpha1` Application (sync status,
//! health, the *deployed* revision = `status.history[-1]`, auto-sync as Argo CD evaluates it,
//! the operation in progress and the last operation's state, our rollback marker); the pure
//! builders of the sync and rollback operations, shaped exactly as Argo CD's API server builds them
//! (`specs/argocd.md` §2.2, §2.3, §7 checklist) together with the API server's refusals, word for
//! word; the "is our operation done" predicate the waits evaluate on every observed version; the
//! consistency check of an Application's source against `promote.yaml`; the AppProject's sync
//! windows (5-field cron, matching, Argo CD's `CanSync`); and the small synchronous
//! [`ArgoCd`] trait the use cases call. Transports (kube, argocd-server REST) live in
//! `promote-argocd` and only move JSON documents; every rule about their content lives here.
//!
//! Documents stay `serde_json::Value`s end to end, so a write never drops a field this crate does
//! not know (a user's `spec` is theirs; Argo CD adds fields every release).

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value, json};

/// The annotation that asks the controller for a refresh (`normal` or `hard`).
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";
/// Name of the `operation.info` entry carrying the id of the promotion that started a sync.
pub const PROMOTE_ID_INFO: &str = "promote-id";

/// Our rollback marker: who rolled back.
pub const ROLLED_BACK_BY: &str = "promote.kubectl.io/rolled-back-by";
/// Our rollback marker: when (RFC 3339, UTC).
pub const ROLLED_BACK_AT: &str = "promote.kubectl.io/rolled-back-at";
/// Our rollback marker: why (the `--reason`, may be empty).
pub const ROLLBACK_REASON: &str = "promote.kubectl.io/rollback-reason";
/// Our rollback marker: the history id rolled back to.
pub const ROLLBACK_TO_ID: &str = "promote.kubectl.io/rollback-to-id";
/// Our rollback marker: the revision rolled back to.
pub const ROLLBACK_TO_REVISION: &str = "promote.kubectl.io/rollback-to-revision";
/// Our rollback marker: `spec.syncPolicy.automated` as it was before, as JSON (`null` when off).
pub const SYNC_POLICY_BEFORE: &str = "promote.kubectl.io/sync-policy-before";
/// Our rollback marker: how auto-sync was turned off (`enabled-false`, `removed` or `already-off`).
pub const AUTO_SYNC_DISABLED_BY: &str = "promote.kubectl.io/auto-sync-disabled-by";

const MARKER_ANNOTATIONS: [&str; 7] = [
    ROLLED_BACK_BY,
    ROLLED_BACK_AT,
    ROLLBACK_REASON,
    ROLLBACK_TO_ID,
    ROLLBACK_TO_REVISION,
    SYNC_POLICY_BEFORE,
    AUTO_SYNC_DISABLED_BY,
];

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

/// A point in time as Kubernetes writes it (`metav1.Time`, RFC 3339). Seconds since the Unix
/// epoch plus nanoseconds, so `reconciledAt >= finishedAt` is a comparison, not string order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

impl Timestamp {
    /// From seconds since the Unix epoch.
    pub fn from_unix(secs: i64) -> Self {
        Timestamp { secs, nanos: 0 }
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.secs
    }

    /// From seconds and nanoseconds since the Unix epoch.
    pub fn from_unix_nanos(secs: i64, nanos: u32) -> Self {
        Timestamp {
            secs: secs + i64::from(nanos / 1_000_000_000),
            nanos: nanos % 1_000_000_000,
        }
    }

    /// Go's `time.RFC3339Nano`: UTC, trailing zeros of the fraction dropped.
    pub fn to_rfc3339_nanos(self) -> String {
        let base = Timestamp {
            secs: self.secs,
            nanos: 0,
        }
        .to_string();
        if self.nanos == 0 {
            return base;
        }
        let frac = format!("{:09}", self.nanos);
        format!(
            "{}.{}Z",
            base.trim_end_matches('Z'),
            frac.trim_end_matches('0')
        )
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]`.
    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        let num = |from: usize, to: usize| -> Option<i64> {
            let s = text.get(from..to)?;
            if !s.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (hour, min, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || hour > 23
            || min > 59
            || sec > 60
        {
            return None;
        }
        let mut rest = &text[19..];
        let mut nanos = 0u32;
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            let mut value: u64 = 0;
            for (i, c) in frac[..digits].bytes().enumerate() {
                if i < 9 {
                    value = value * 10 + u64::from(c - b'0');
                }
            }
            for _ in digits..9 {
                value *= 10;
            }
            nanos = u32::try_from(value).ok()?;
            rest = &frac[digits..];
        }
        let offset = match rest {
            "Z" | "z" => 0,
            _ => {
                let rb = rest.as_bytes();
                if rb.len() != 6 || !matches!(rb[0], b'+' | b'-') || rb[3] != b':' {
                    return None;
                }
                let h: i64 = rest.get(1..3)?.parse().ok()?;
                let m: i64 = rest.get(4..6)?.parse().ok()?;
                let o = h * 3600 + m * 60;
                if rb[0] == b'-' { -o } else { o }
            }
        };
        let days = days_from_civil(year, month, day);
        Some(Timestamp {
            secs: days * 86_400 + hour * 3600 + min * 60 + sec - offset,
            nanos,
        })
    }
}

impl fmt::Display for Timestamp {
    /// `metav1.Time` form: UTC, second precision, `Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

// ---------------------------------------------------------------------------------------------
// Facts
// ---------------------------------------------------------------------------------------------

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
    fn from_json(v: Option<&Value>) -> Self {
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
            kustomize_images: v
                .pointer("/kustomize/images")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
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

/// How auto-sync was turned off for a rollback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AutoSyncDisabledBy {
    /// `automated.enabled: false` stuck (Argo CD 3.1+): prune/selfHeal kept in place.
    EnabledFalse,
    /// The server pruned `enabled` (CRD before 3.1): `automated` removed, its copy in
    /// [`SYNC_POLICY_BEFORE`].
    Removed,
    /// Auto-sync was already off.
    AlreadyOff,
}

impl AutoSyncDisabledBy {
    fn as_str(&self) -> &'static str {
        match self {
            AutoSyncDisabledBy::EnabledFalse => "enabled-false",
            AutoSyncDisabledBy::Removed => "removed",
            AutoSyncDisabledBy::AlreadyOff => "already-off",
        }
    }
}

/// Our rollback marker, read from (and written to) the Application's annotations.
#[derive(Clone, Debug, PartialEq)]
pub struct RollbackMarker {
    pub by: String,
    pub at: Option<Timestamp>,
    pub reason: String,
    pub to_id: Option<i64>,
    pub to_revision: Option<String>,
    /// `spec.syncPolicy.automated` before the rollback (`None` when it was absent).
    pub sync_policy_before: Option<Value>,
    pub disabled_by: AutoSyncDisabledBy,
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
            ManagedBy::ParentApplication { name } => write!(
                f,
                "the parent Application {name} may turn auto-sync back on when it syncs; add \
                 `ignoreDifferences: [{{group: argoproj.io, kind: Application, jsonPointers: [/spec/syncPolicy]}}]` \
                 to it"
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

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

fn time_at(v: &Value, path: &[&str]) -> Option<Timestamp> {
    str_at(v, path).and_then(Timestamp::parse)
}

fn non_null(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
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

        let sources = if non_null(spec.get("sourceHydrator")).is_some() {
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
        };

        let auto_sync = match non_null(spec.pointer("/syncPolicy/automated")) {
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
        };

        let sync_status = match str_at(&status, &["sync", "status"]) {
            Some("Synced") => SyncStatus::Synced,
            Some("OutOfSync") => SyncStatus::OutOfSync,
            Some(_) => SyncStatus::Unknown,
            None => SyncStatus::NotReported,
        };
        let health = match str_at(&status, &["health", "status"]) {
            Some("Healthy") => HealthStatus::Healthy,
            Some("Progressing") => HealthStatus::Progressing,
            Some("Degraded") => HealthStatus::Degraded,
            Some("Suspended") => HealthStatus::Suspended,
            Some("Missing") => HealthStatus::Missing,
            Some("") | None => HealthStatus::NotReported,
            Some(_) => HealthStatus::Unknown,
        };

        let operation_state = non_null(status.get("operationState")).map(|os| OperationState {
            operation: os.get("operation").cloned().unwrap_or(Value::Null),
            phase: OperationPhase::parse(str_at(os, &["phase"]).unwrap_or_default()),
            message: str_at(os, &["message"]).unwrap_or_default().to_owned(),
            started_at: time_at(os, &["startedAt"]),
            finished_at: time_at(os, &["finishedAt"]),
            sync_revision: str_at(os, &["syncResult", "revision"])
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
            retry_count: os.get("retryCount").and_then(Value::as_i64).unwrap_or(0),
        });

        let mut history = Vec::new();
        if let Some(list) = status.get("history").and_then(Value::as_array) {
            for (index, h) in list.iter().enumerate() {
                history.push(HistoryEntry {
                    id: h
                        .get("id")
                        .and_then(Value::as_i64)
                        .ok_or(ApplicationError::HistoryId { index })?,
                    revision: str_at(h, &["revision"])
                        .filter(|r| !r.is_empty())
                        .map(str::to_owned),
                    revisions: h
                        .get("revisions")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                    deployed_at: time_at(h, &["deployedAt"]),
                    initiated_by: InitiatedBy::from_json(h.get("initiatedBy")),
                });
            }
        }

        let conditions = status
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
            .unwrap_or_default();

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
            Some(r) => s.push_str(&format!(", deployed {}", short(r))),
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

fn short(rev: &str) -> &str {
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

// ---------------------------------------------------------------------------------------------
// Operations: built as Argo CD's API server builds them, refused as it refuses them
// ---------------------------------------------------------------------------------------------

/// Why Argo CD (or this tool on its behalf) will not start or stop an operation. The texts of
/// the variants Argo CD has are Argo CD's own, verbatim (`specs/argocd.md` §2).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum OperationRefused {
    #[error("another operation is already in progress")]
    AnotherOperationInProgress,
    #[error("rollback cannot be initiated when auto-sync is enabled")]
    AutoSyncEnabled,
    #[error("application is deleting")]
    Deleting,
    #[error("application {qualified_name} does not have deployment with id {id}")]
    NoSuchDeployment { qualified_name: String, id: i64 },
    #[error(
        "cannot rollback to revision deployed with Argo CD v0.11 or lower. sync to revision instead."
    )]
    NoSourceInHistory,
    #[error("Cannot sync to {revision}: auto-sync currently set to {target_revision}")]
    AutoSyncPinsRevision {
        revision: String,
        target_revision: String,
    },
    #[error("Unable to terminate operation. No operation is in progress")]
    NoOperationInProgress,
    // The variants below are this tool's own checks, made before anything is written.
    #[error(
        "{revision:?} is not a commit SHA (40 hex digits); sync to a commit, or to the app's own target"
    )]
    NotACommitSha { revision: String },
    #[error("the app has {count} sources; a sync to one commit needs a single-source app")]
    MultiSourceRevision { count: usize },
    #[error("the app has no source (or uses a source hydrator), so there is nothing to sync")]
    NoSource,
    #[error("no rollback by kubectl promote is recorded on the app (annotation {ROLLED_BACK_BY})")]
    NoRollbackMarker,
}

impl OperationRefused {
    /// Recognises Argo CD's own refusal texts (the REST API's `message`), the inverse of Display.
    pub fn from_argo_message(message: &str) -> Option<Self> {
        let m = message.trim();
        Some(match m {
            "another operation is already in progress" => {
                OperationRefused::AnotherOperationInProgress
            }
            "rollback cannot be initiated when auto-sync is enabled" => {
                OperationRefused::AutoSyncEnabled
            }
            "application is deleting" => OperationRefused::Deleting,
            "cannot rollback to revision deployed with Argo CD v0.11 or lower. sync to revision instead." => {
                OperationRefused::NoSourceInHistory
            }
            "Unable to terminate operation. No operation is in progress" => {
                OperationRefused::NoOperationInProgress
            }
            _ => {
                if let Some(rest) = m.strip_prefix("application ")
                    && let Some((qualified_name, id)) =
                        rest.split_once(" does not have deployment with id ")
                {
                    return Some(OperationRefused::NoSuchDeployment {
                        qualified_name: qualified_name.to_owned(),
                        id: id.parse().ok()?,
                    });
                }
                let rest = m.strip_prefix("Cannot sync to ")?;
                let (revision, target) = rest.split_once(": auto-sync currently set to ")?;
                OperationRefused::AutoSyncPinsRevision {
                    revision: revision.to_owned(),
                    target_revision: target.to_owned(),
                }
            }
        })
    }
}

fn is_commit_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn sync_options(app: &Application) -> Option<Value> {
    app.raw
        .pointer("/spec/syncPolicy/syncOptions")
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        .cloned()
}

/// A sync we ask for (checklist §7.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncRequest {
    /// The commit to sync to; `None` syncs to the app's own `targetRevision`.
    pub revision: Option<String>,
    pub prune: bool,
    /// Recorded as `initiatedBy.username`.
    pub user: String,
    /// Recorded as `operation.info[promote-id]`, so the wait knows the operation is ours.
    pub promote_id: String,
}

/// The `.operation` Argo CD's `Sync` API would write for `request` (§2.2 step 10), after its
/// checks (§2.2 steps 5 and 6). Strategy `{hook: {}}` as the CLI sends it.
pub fn sync_operation(app: &Application, request: &SyncRequest) -> Result<Value, OperationRefused> {
    if app.deleting {
        return Err(OperationRefused::Deleting);
    }
    let mut sync = Map::new();
    match &app.sources {
        Sources::Single(src) => {
            let revision = request.revision.clone().unwrap_or_default();
            if !revision.is_empty() {
                if !is_commit_sha(&revision) {
                    return Err(OperationRefused::NotACommitSha { revision });
                }
                let target = if src.target_revision.is_empty() {
                    "HEAD"
                } else {
                    &src.target_revision
                };
                if revision != target && app.auto_sync.is_enabled() {
                    return Err(OperationRefused::AutoSyncPinsRevision {
                        revision,
                        target_revision: src.target_revision.clone(),
                    });
                }
            }
            sync.insert("revision".into(), Value::String(revision));
            sync.insert(
                "source".into(),
                app.raw
                    .pointer("/spec/source")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
        }
        Sources::Multi(list) => {
            if request.revision.is_some() {
                return Err(OperationRefused::MultiSourceRevision { count: list.len() });
            }
            sync.insert(
                "sources".into(),
                app.raw
                    .pointer("/spec/sources")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
        }
        Sources::Hydrator | Sources::None => return Err(OperationRefused::NoSource),
    }
    if request.prune {
        sync.insert("prune".into(), Value::Bool(true));
    }
    if let Some(opts) = sync_options(app) {
        sync.insert("syncOptions".into(), opts);
    }
    sync.insert("syncStrategy".into(), json!({"hook": {}}));
    let retry = app
        .raw
        .pointer("/spec/syncPolicy/retry")
        .filter(|v| !v.is_null())
        .cloned()
        .unwrap_or(json!({}));
    Ok(json!({
        "sync": Value::Object(sync),
        "initiatedBy": {"username": request.user},
        "info": [{"name": PROMOTE_ID_INFO, "value": request.promote_id}],
        "retry": retry,
    }))
}

/// A rollback we ask for (§2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollbackRequest {
    /// The `status.history` id to go back to.
    pub id: i64,
    pub prune: bool,
    pub dry_run: bool,
    /// Recorded as `initiatedBy.username` and in the marker.
    pub user: String,
    /// Why; recorded in the marker.
    pub reason: String,
}

/// The `.operation` Argo CD's `Rollback` API would write (§2.3), after its checks in its order:
/// deleting, the auto-sync guard, the history lookup by id, the pre-v0.11 entry.
pub fn rollback_operation(
    app: &Application,
    request: &RollbackRequest,
) -> Result<Value, OperationRefused> {
    if app.deleting {
        return Err(OperationRefused::Deleting);
    }
    if app.auto_sync.is_enabled() {
        return Err(OperationRefused::AutoSyncEnabled);
    }
    let entry = app
        .raw
        .pointer("/status/history")
        .and_then(Value::as_array)
        .and_then(|h| {
            h.iter()
                .find(|e| e.get("id").and_then(Value::as_i64) == Some(request.id))
        })
        .ok_or_else(|| OperationRefused::NoSuchDeployment {
            qualified_name: app.qualified_name(),
            id: request.id,
        })?;
    let source = non_null(entry.get("source")).filter(|s| {
        s.as_object()
            .is_some_and(|o| o.values().any(|v| !is_zero(v)))
    });
    let sources = entry
        .get("sources")
        .filter(|s| s.as_array().is_some_and(|a| !a.is_empty()));
    if source.is_none() && sources.is_none() {
        return Err(OperationRefused::NoSourceInHistory);
    }
    let mut sync = Map::new();
    sync.insert(
        "revision".into(),
        entry.get("revision").cloned().unwrap_or(json!("")),
    );
    if let Some(revs) = entry
        .get("revisions")
        .filter(|r| r.as_array().is_some_and(|a| !a.is_empty()))
    {
        sync.insert("revisions".into(), revs.clone());
    }
    if request.dry_run {
        sync.insert("dryRun".into(), Value::Bool(true));
    }
    if request.prune {
        sync.insert("prune".into(), Value::Bool(true));
    }
    if let Some(opts) = sync_options(app) {
        sync.insert("syncOptions".into(), opts);
    }
    // apply, not hook: Argo CD's rollback does not run hooks (argo-cd #1927).
    sync.insert("syncStrategy".into(), json!({"apply": {}}));
    // `source` is a non-pointer struct in the history entry: always present, `{"repoURL": ""}`
    // for a multi-source entry.
    sync.insert(
        "source".into(),
        source.cloned().unwrap_or(json!({"repoURL": ""})),
    );
    if let Some(s) = sources {
        sync.insert("sources".into(), s.clone());
    }
    Ok(json!({
        "sync": Value::Object(sync),
        "initiatedBy": {"username": request.user},
        "retry": {},
    }))
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_zero),
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

/// `SetAppOperation`'s write on a fetched document (§2.1): refuse when `.operation` is set,
/// else set it and wipe `status.operationState`. The caller replaces with the fetched
/// `resourceVersion` and starts over on a conflict.
pub fn set_operation(doc: &mut Value, operation: Value) -> Result<(), OperationRefused> {
    if non_null(doc.get("operation")).is_some() {
        return Err(OperationRefused::AnotherOperationInProgress);
    }
    let obj = doc.as_object_mut().ok_or(OperationRefused::NoSource)?;
    obj.insert("operation".into(), operation);
    let status = obj.entry("status").or_insert_with(|| json!({}));
    if let Some(s) = status.as_object_mut() {
        s.insert("operationState".into(), Value::Null);
    }
    Ok(())
}

/// `TerminateOperation`'s write (§2.4): phase `Terminating`, or Argo CD's refusal.
pub fn terminate_operation(doc: &mut Value) -> Result<(), OperationRefused> {
    let busy = non_null(doc.get("operation")).is_some();
    match doc.pointer_mut("/status/operationState") {
        Some(state) if busy && state.is_object() => {
            state["phase"] = json!("Terminating");
            Ok(())
        }
        _ => Err(OperationRefused::NoOperationInProgress),
    }
}

/// The companion of [`REFRESH_ANNOTATION`] on Argo CD master (after 3.5): the controller removes
/// both only if this value did not change while it refreshed.
pub const REFRESH_TIMESTAMP_ANNOTATION: &str = "argocd.argoproj.io/refresh-timestamp";

/// The JSON merge patch that asks the controller for a refresh (§3), as a webhook would:
/// `refresh` plus `refresh-timestamp` (RFC 3339 with nanoseconds; older controllers ignore it).
pub fn refresh_patch(hard: bool, now: Timestamp) -> Value {
    json!({"metadata": {"annotations": {
        REFRESH_ANNOTATION: if hard { "hard" } else { "normal" },
        REFRESH_TIMESTAMP_ANNOTATION: now.to_rfc3339_nanos(),
    }}})
}

/// The JSON merge patch of [`ArgoCd::annotate`]: `null` removes an annotation.
pub fn annotations_patch(annotations: &[(String, Option<String>)]) -> Value {
    let map: Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
        .collect();
    json!({"metadata": {"annotations": map}})
}

/// [`annotations_patch`] applied to a whole document, for transports that can only replace.
pub fn apply_annotations(doc: &mut Value, annotations: &[(String, Option<String>)]) {
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    let meta = obj.entry("metadata").or_insert_with(|| json!({}));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    let current = meta.entry("annotations").or_insert_with(|| json!({}));
    if !current.is_object() {
        *current = json!({});
    }
    if let Some(a) = current.as_object_mut() {
        for (k, v) in annotations {
            match v {
                Some(v) => {
                    a.insert(k.clone(), Value::String(v.clone()));
                }
                None => {
                    a.remove(k);
                }
            }
        }
    }
}

/// Who, when and why, for the marker a rollback leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollbackContext {
    pub user: String,
    pub reason: String,
    pub now: Timestamp,
}

/// Everything a rollback writes, in one document: auto-sync off (`how`), the marker, the rollback
/// operation, `status.operationState` wiped. `doc` is the fetched Application; the caller
/// replaces it with the fetched `resourceVersion`, so no half-done state can exist.
///
/// `how` is [`AutoSyncDisabledBy::EnabledFalse`] first; when the server prunes `enabled` (its CRD
/// predates 3.1), call again with [`AutoSyncDisabledBy::Removed`]. Ignored when auto-sync is
/// already off.
pub fn prepare_rollback(
    doc: &Value,
    request: &RollbackRequest,
    ctx: &RollbackContext,
    how: AutoSyncDisabledBy,
) -> Result<Value, PrepareError> {
    let app = Application::from_json(doc.clone()).map_err(PrepareError::Unreadable)?;
    if app.operation.is_some() {
        return Err(PrepareError::Refused(
            OperationRefused::AnotherOperationInProgress,
        ));
    }
    let mut out = prepare_auto_sync_off(doc, request, ctx, how)?;
    let modified = Application::from_json(out.clone()).map_err(PrepareError::Unreadable)?;
    let operation = rollback_operation(&modified, request).map_err(PrepareError::Refused)?;
    set_operation(&mut out, operation).map_err(PrepareError::Refused)?;
    Ok(out)
}

/// The first half of [`prepare_rollback`], for transports that cannot write the operation in the
/// same request (argocd-server's REST API, as its UI does): auto-sync off as `how` says and the
/// marker, nothing else. Checks the target entry exists first, so nothing is written for a
/// rollback Argo CD would refuse.
pub fn prepare_auto_sync_off(
    doc: &Value,
    request: &RollbackRequest,
    ctx: &RollbackContext,
    how: AutoSyncDisabledBy,
) -> Result<Value, PrepareError> {
    let app = Application::from_json(doc.clone()).map_err(PrepareError::Unreadable)?;
    if app.deleting {
        return Err(PrepareError::Refused(OperationRefused::Deleting));
    }
    if app.history_entry(request.id).is_none() {
        return Err(PrepareError::Refused(OperationRefused::NoSuchDeployment {
            qualified_name: app.qualified_name(),
            id: request.id,
        }));
    }
    let mut out = doc.clone();
    let before = non_null(doc.pointer("/spec/syncPolicy/automated")).cloned();
    let how = if app.auto_sync.is_enabled() {
        how
    } else {
        AutoSyncDisabledBy::AlreadyOff
    };
    match how {
        AutoSyncDisabledBy::EnabledFalse => {
            if let Some(a) = out
                .pointer_mut("/spec/syncPolicy/automated")
                .and_then(Value::as_object_mut)
            {
                a.insert("enabled".into(), Value::Bool(false));
            }
        }
        AutoSyncDisabledBy::Removed => {
            if let Some(p) = out
                .pointer_mut("/spec/syncPolicy")
                .and_then(Value::as_object_mut)
            {
                p.remove("automated");
            }
        }
        AutoSyncDisabledBy::AlreadyOff => {}
    }
    let entry_revision = app
        .history_entry(request.id)
        .and_then(|h| h.revision.clone());
    let meta = out
        .as_object_mut()
        .ok_or(PrepareError::Unreadable(ApplicationError::NotAnObject))?
        .entry("metadata")
        .or_insert_with(|| json!({}));
    let annotations = meta
        .as_object_mut()
        .ok_or(PrepareError::Unreadable(ApplicationError::NotAnObject))?
        .entry("annotations")
        .or_insert_with(|| json!({}));
    if annotations.is_null() {
        *annotations = json!({});
    }
    let a = annotations
        .as_object_mut()
        .ok_or(PrepareError::Unreadable(ApplicationError::NotAnObject))?;
    a.insert(ROLLED_BACK_BY.into(), json!(ctx.user));
    a.insert(ROLLED_BACK_AT.into(), json!(ctx.now.to_string()));
    a.insert(ROLLBACK_REASON.into(), json!(ctx.reason));
    a.insert(ROLLBACK_TO_ID.into(), json!(request.id.to_string()));
    a.insert(
        ROLLBACK_TO_REVISION.into(),
        json!(entry_revision.unwrap_or_default()),
    );
    a.insert(
        SYNC_POLICY_BEFORE.into(),
        json!(before.unwrap_or(Value::Null).to_string()),
    );
    a.insert(AUTO_SYNC_DISABLED_BY.into(), json!(how.as_str()));
    Ok(out)
}

/// The document that ends a rollback: auto-sync restored as [`SYNC_POLICY_BEFORE`] recorded it,
/// the marker removed. Refusing while git still holds the rolled-back version is the use case's
/// call, not this function's.
pub fn prepare_resume(doc: &Value) -> Result<Value, PrepareError> {
    let app = Application::from_json(doc.clone()).map_err(PrepareError::Unreadable)?;
    let marker = app
        .rollback_marker
        .ok_or(PrepareError::Refused(OperationRefused::NoRollbackMarker))?;
    let mut out = doc.clone();
    if let Some(before) = marker.sync_policy_before {
        let spec = out
            .as_object_mut()
            .ok_or(PrepareError::Unreadable(ApplicationError::NotAnObject))?
            .entry("spec")
            .or_insert_with(|| json!({}));
        let policy = spec
            .as_object_mut()
            .ok_or(PrepareError::Unreadable(ApplicationError::NotAnObject))?
            .entry("syncPolicy")
            .or_insert_with(|| json!({}));
        if policy.is_null() {
            *policy = json!({});
        }
        if let Some(p) = policy.as_object_mut() {
            p.insert("automated".into(), before);
        }
    }
    if let Some(a) = out
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        for k in MARKER_ANNOTATIONS {
            a.remove(k);
        }
    }
    Ok(out)
}

/// A write this crate prepares could not be prepared.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PrepareError {
    #[error(transparent)]
    Refused(OperationRefused),
    #[error("the Application could not be read")]
    Unreadable(#[source] ApplicationError),
}

// ---------------------------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------------------------

/// What must be true at the end besides "our operation completed and was reconciled".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// After a promotion or sync: Synced and Healthy.
    SyncedAndHealthy,
    /// After a rollback: Healthy (OutOfSync is expected, the branch still holds HEAD).
    Healthy,
}

/// Which operation a wait waits for.
#[derive(Clone, Debug, PartialEq)]
pub enum WaitGoal {
    /// An operation we wrote (or argocd-server wrote for us): it is ours when
    /// [`same_operation`] says so of `operationState.operation`.
    Operation {
        operation: Value,
        revision: Option<String>,
        expect: Expect,
    },
    /// Auto-sync of one of these commits: `initiatedBy.automated` and `syncResult.revision`.
    AutoSync { revisions: Vec<String> },
}

impl fmt::Display for WaitGoal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let expect = |e: &Expect| match e {
            Expect::SyncedAndHealthy => "Synced and Healthy",
            Expect::Healthy => "Healthy",
        };
        match self {
            WaitGoal::Operation {
                revision,
                expect: e,
                ..
            } => match revision {
                Some(r) => write!(
                    f,
                    "our operation to {} to complete and the app to be {}",
                    short(r),
                    expect(e)
                ),
                None => write!(
                    f,
                    "our operation to complete and the app to be {}",
                    expect(e)
                ),
            },
            WaitGoal::AutoSync { revisions } => {
                let r: Vec<&str> = revisions.iter().map(|r| short(r)).collect();
                write!(
                    f,
                    "Argo CD's auto-sync to {} to complete and the app to be Synced and Healthy",
                    r.join(" or ")
                )
            }
        }
    }
}

/// How a finished wait ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The operation succeeded and the app is as expected.
    Ready,
    /// The operation completed but did not succeed.
    OperationFailed {
        phase: OperationPhase,
        message: String,
    },
    /// The operation succeeded, and the app went Degraded.
    Degraded { message: String },
}

/// The verdict on one observed version of the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    Done(WaitOutcome),
    /// Not yet; says what is missing.
    Waiting(String),
}

/// Our operation's state, once `.operation` is null and `operationState` is ours (any phase).
fn our_operation<'a>(
    app: &'a Application,
    goal: &'a WaitGoal,
) -> Result<(&'a OperationState, Expect, Vec<&'a str>), String> {
    if app.operation.is_some() {
        return Err("an operation is pending or running".into());
    }
    let Some(state) = &app.operation_state else {
        return Err("no operation has started yet".into());
    };
    match goal {
        WaitGoal::Operation {
            operation,
            revision,
            expect,
        } => {
            if !same_operation(operation, &state.operation) {
                return Err("the last operation is not ours".into());
            }
            Ok((
                state,
                *expect,
                revision.iter().map(String::as_str).collect(),
            ))
        }
        WaitGoal::AutoSync { revisions } => {
            let automated = InitiatedBy::from_json(state.operation.get("initiatedBy"))
                == InitiatedBy::Automated;
            let ours = state
                .sync_revision
                .as_deref()
                .is_some_and(|r| revisions.iter().any(|x| x == r));
            if !(automated && ours) {
                return Err("auto-sync has not synced the commit yet".into());
            }
            Ok((
                state,
                Expect::SyncedAndHealthy,
                revisions.iter().map(String::as_str).collect(),
            ))
        }
    }
}

/// Whether the controller's copy of an operation (`operationState.operation`) is the one we
/// wrote. Compared on what identifies an operation, not byte for byte: Argo CD's controller
/// re-encodes the copy through its Go types, which drops empty and unknown fields (in `source`,
/// for one). A sync carries our promote id in `info`; a rollback is told by its revision, its
/// `apply` strategy and its user. No older operation can be mistaken for ours: writing ours wiped
/// `operationState`, and nobody else can set `.operation` until ours completes.
pub fn same_operation(ours: &Value, theirs: &Value) -> bool {
    fn flag(v: &Value, p: &str) -> bool {
        v.pointer(p).and_then(Value::as_bool).unwrap_or(false)
    }
    fn text<'a>(v: &'a Value, p: &str) -> &'a str {
        v.pointer(p).and_then(Value::as_str).unwrap_or_default()
    }
    fn strategy(v: &Value) -> &'static str {
        if non_null(v.pointer("/sync/syncStrategy/apply")).is_some() {
            "apply"
        } else {
            "hook"
        }
    }
    fn list(v: &Value, p: &str) -> Vec<String> {
        let mut l: Vec<String> = v
            .pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| format!("{}={}", text(x, "/name"), text(x, "/value")))
                    .collect()
            })
            .unwrap_or_default();
        l.sort();
        l
    }
    fn revisions(v: &Value) -> Vec<&str> {
        v.pointer("/sync/revisions")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
    text(ours, "/sync/revision") == text(theirs, "/sync/revision")
        && revisions(ours) == revisions(theirs)
        && strategy(ours) == strategy(theirs)
        && flag(ours, "/sync/dryRun") == flag(theirs, "/sync/dryRun")
        && flag(ours, "/sync/prune") == flag(theirs, "/sync/prune")
        && text(ours, "/initiatedBy/username") == text(theirs, "/initiatedBy/username")
        && flag(ours, "/initiatedBy/automated") == flag(theirs, "/initiatedBy/automated")
        && list(ours, "/info") == list(theirs, "/info")
}

/// Whether the operation `goal` waits for has completed (`.operation` null, phase completed),
/// whatever the app's sync and health: waits count the versions seen after it.
pub fn operation_completed(app: &Application, goal: &WaitGoal) -> bool {
    our_operation(app, goal).is_ok_and(|(s, _, _)| s.phase.is_completed())
}

/// Evaluates `goal` on one observed version of the app (§7 checklist 3): `.operation == null`;
/// `operationState` is our operation and completed; `reconciledAt >= finishedAt` (one
/// reconcile after the operation); the deployed revision is the one asked for; then health and
/// sync. A Degraded app is an answer, not something to wait out.
pub fn evaluate(app: &Application, goal: &WaitGoal) -> Progress {
    let (state, expect, revisions) = match our_operation(app, goal) {
        Ok(x) => x,
        Err(why) => return Progress::Waiting(why),
    };
    if !state.phase.is_completed() {
        return Progress::Waiting(format!("the operation is {}", state.phase));
    }
    let dry_run = state
        .operation
        .pointer("/sync/dryRun")
        .and_then(Value::as_bool)
        == Some(true);
    if !dry_run {
        match (app.reconciled_at, state.finished_at) {
            (Some(r), Some(f)) if r >= f => {}
            _ => {
                return Progress::Waiting(
                    "Argo CD has not compared the app since the operation".into(),
                );
            }
        }
    }
    if state.phase != OperationPhase::Succeeded {
        return Progress::Done(WaitOutcome::OperationFailed {
            phase: state.phase.clone(),
            message: state.message.clone(),
        });
    }
    if !dry_run && !revisions.is_empty() {
        let deployed = app.deployed_revision();
        if !deployed.is_some_and(|d| revisions.contains(&d)) {
            return Progress::Waiting(format!(
                "the deployed revision is {}, not the one asked for",
                deployed.map(short).unwrap_or("nothing")
            ));
        }
    }
    match app.health {
        HealthStatus::Degraded => {
            return Progress::Done(WaitOutcome::Degraded {
                message: app.health_message.clone().unwrap_or_default(),
            });
        }
        HealthStatus::Healthy => {}
        ref other => return Progress::Waiting(format!("health is {other}")),
    }
    if expect == Expect::SyncedAndHealthy && app.sync_status != SyncStatus::Synced {
        return Progress::Waiting(format!("sync status is {}", app.sync_status));
    }
    Progress::Done(WaitOutcome::Ready)
}

/// `reconciledAt == finishedAt`: with second precision, the comparison may be the one made just
/// *before* the operation finished, in the same second, so the sync and health seen may predate
/// the operation. The post-operation refresh follows immediately; a wait that sees this should
/// give the app a short grace for one more version before trusting the answer.
pub fn reconcile_is_ambiguous(app: &Application) -> bool {
    match (&app.operation_state, app.reconciled_at) {
        (Some(state), Some(r)) => state.finished_at == Some(r),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Consistency with promote.yaml
// ---------------------------------------------------------------------------------------------

/// What `promote.yaml` says the app deploys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedSource {
    pub repo_url: String,
    /// The overlay path inside the repo.
    pub path: String,
    /// The base branch.
    pub target_revision: String,
}

/// A difference that makes the app deploy something else than the overlay we edit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceMismatch {
    RepoUrl {
        expected: String,
        actual: String,
    },
    Path {
        expected: String,
        actual: String,
    },
    TargetRevision {
        expected: String,
        actual: String,
    },
    /// No single source to compare (none, or a source hydrator).
    NoSource,
}

/// Worth a warning, not a refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceWarning {
    /// `spec.source.kustomize.images`: Argo CD overrides the overlay's images with these.
    KustomizeImages(Vec<String>),
    /// A multi-source app: the first source matching the overlay is the one checked.
    MultiSource { count: usize },
}

/// Result of [`check_source`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceCheck {
    pub mismatches: Vec<SourceMismatch>,
    pub warnings: Vec<SourceWarning>,
}

/// `repoURL` in a comparable form: no scheme, no user, scp-style `host:path` as `host/path`,
/// host lowercased, no trailing `/` or `.git`.
pub fn normalize_repo_url(url: &str) -> String {
    let mut s = url.trim();
    let had_scheme = if let Some(i) = s.find("://") {
        s = &s[i + 3..];
        true
    } else {
        false
    };
    if let Some(at) = s.find('@')
        && !s[..at].contains('/')
    {
        s = &s[at + 1..];
    }
    let mut s = s.to_owned();
    if !had_scheme && !s.starts_with('/') && !s.starts_with('.') {
        // scp-like `host:org/repo`.
        if let Some(colon) = s.find(':')
            && !s[..colon].contains('/')
        {
            s.replace_range(colon..=colon, "/");
        }
    }
    while s.ends_with('/') {
        s.pop();
    }
    if let Some(stripped) = s.strip_suffix(".git") {
        s = stripped.to_owned();
    }
    while s.ends_with('/') {
        s.pop();
    }
    if !s.starts_with('/') {
        let host_end = s.find('/').unwrap_or(s.len());
        let host = s[..host_end].to_ascii_lowercase();
        s.replace_range(..host_end, &host);
    }
    s
}

fn normalize_path(p: &str) -> String {
    let p = p.trim().trim_start_matches("./").trim_matches('/');
    if p.is_empty() {
        ".".to_owned()
    } else {
        p.to_owned()
    }
}

fn normalize_target(t: &str) -> &str {
    let t = t.trim();
    let t = t.strip_prefix("refs/heads/").unwrap_or(t);
    if t.is_empty() { "HEAD" } else { t }
}

/// Does the app deploy the overlay `promote.yaml` names? (DESIGN step 7.)
pub fn check_source(app: &Application, expected: &ExpectedSource) -> SourceCheck {
    let mut check = SourceCheck::default();
    let source = match &app.sources {
        Sources::Single(s) => s,
        Sources::Multi(list) => {
            check
                .warnings
                .push(SourceWarning::MultiSource { count: list.len() });
            let want = normalize_path(&expected.path);
            match list
                .iter()
                .find(|s| normalize_path(&s.path) == want)
                .or(list.first())
            {
                Some(s) => s,
                None => {
                    check.mismatches.push(SourceMismatch::NoSource);
                    return check;
                }
            }
        }
        Sources::Hydrator | Sources::None => {
            check.mismatches.push(SourceMismatch::NoSource);
            return check;
        }
    };
    if normalize_repo_url(&source.repo_url) != normalize_repo_url(&expected.repo_url) {
        check.mismatches.push(SourceMismatch::RepoUrl {
            expected: expected.repo_url.clone(),
            actual: source.repo_url.clone(),
        });
    }
    if normalize_path(&source.path) != normalize_path(&expected.path) {
        check.mismatches.push(SourceMismatch::Path {
            expected: expected.path.clone(),
            actual: source.path.clone(),
        });
    }
    if normalize_target(&source.target_revision) != normalize_target(&expected.target_revision) {
        check.mismatches.push(SourceMismatch::TargetRevision {
            expected: expected.target_revision.clone(),
            actual: source.target_revision.clone(),
        });
    }
    if !source.kustomize_images.is_empty() {
        check.warnings.push(SourceWarning::KustomizeImages(
            source.kustomize_images.clone(),
        ));
    }
    check
}

// ---------------------------------------------------------------------------------------------
// Sync windows (the Application's AppProject `spec.syncWindows`)
// ---------------------------------------------------------------------------------------------

/// `allow` or `deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    Allow,
    Deny,
}

impl fmt::Display for WindowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WindowKind::Allow => "allow",
            WindowKind::Deny => "deny",
        })
    }
}

/// One entry of an AppProject's `spec.syncWindows`, as written (evaluated by
/// [`manual_sync_window`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncWindow {
    /// `None` when the kind is neither `allow` nor `deny` (Argo CD rejects such a project).
    pub kind: Option<WindowKind>,
    pub schedule: String,
    pub duration: String,
    pub applications: Vec<String>,
    pub namespaces: Vec<String>,
    pub clusters: Vec<String>,
    pub manual_sync: bool,
    pub time_zone: String,
    /// `andOperator`: every non-empty selector list must match, not just one.
    pub and_operator: bool,
    pub description: String,
}

impl fmt::Display for SyncWindow {
    /// `deny window "0 22 * * *" for 8h (freeze)`: what a user finds in the project.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Some(k) => write!(f, "{k} window")?,
            None => f.write_str("window")?,
        }
        write!(f, " \"{}\" for {}", self.schedule, self.duration)?;
        if !self.time_zone.is_empty() {
            write!(f, " ({})", self.time_zone)?;
        }
        if !self.description.is_empty() {
            write!(f, " [{}]", self.description)?;
        }
        Ok(())
    }
}

/// The sync windows of an AppProject document (`spec.syncWindows`); none when absent.
pub fn parse_sync_windows(project: &Value) -> Vec<SyncWindow> {
    let strings = |w: &Value, key: &str| -> Vec<String> {
        w.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let text = |w: &Value, key: &str| {
        w.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    project
        .pointer("/spec/syncWindows")
        .and_then(Value::as_array)
        .map(|ws| {
            ws.iter()
                .map(|w| SyncWindow {
                    kind: match w.get("kind").and_then(Value::as_str) {
                        Some("allow") => Some(WindowKind::Allow),
                        Some("deny") => Some(WindowKind::Deny),
                        _ => None,
                    },
                    schedule: text(w, "schedule"),
                    duration: text(w, "duration"),
                    applications: strings(w, "applications"),
                    namespaces: strings(w, "namespaces"),
                    clusters: strings(w, "clusters"),
                    manual_sync: w
                        .get("manualSync")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    time_zone: text(w, "timeZone"),
                    and_operator: w
                        .get("andOperator")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    description: text(w, "description"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `spec.project` of an Application (`default` when empty, as Argo CD reads it).
pub fn app_project(app: &Application) -> String {
    match str_at(&app.raw, &["spec", "project"]) {
        Some(p) if !p.is_empty() => p.to_owned(),
        _ => "default".to_owned(),
    }
}

/// Argo CD's `glob.Match` for the patterns sync windows use: `*` any run, `?` one character.
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl SyncWindow {
    /// Argo CD's `SyncWindows.Matches`: by app name, destination namespace, or destination
    /// cluster (server URL or name); a window without selectors matches nothing.
    pub fn matches(&self, app: &Application) -> bool {
        let any = |globs: &[String], values: &[&str]| {
            globs
                .iter()
                .any(|g| values.iter().any(|v| glob_match(g, v)))
        };
        let dest = |k: &str| str_at(&app.raw, &["spec", "destination", k]).unwrap_or_default();
        let tests: Vec<bool> = [
            (&self.applications, vec![app.name.as_str()]),
            (&self.namespaces, vec![dest("namespace")]),
            (&self.clusters, vec![dest("server"), dest("name")]),
        ]
        .into_iter()
        .filter(|(globs, _)| !globs.is_empty())
        .map(|(globs, values)| any(globs, &values))
        .collect();
        if tests.is_empty() {
            return false;
        }
        if self.and_operator {
            tests.iter().all(|m| *m)
        } else {
            tests.iter().any(|m| *m)
        }
    }

    /// Whether the window is open at `now`: a scheduled start lies in `(now - duration, now)`,
    /// as Argo CD's `schedule.Next(now - duration).Before(now)` decides.
    pub fn active(&self, now: Timestamp) -> Result<bool, WindowError> {
        let bad = |problem: String| WindowError {
            window: self.to_string(),
            problem,
        };
        let schedule = CronSchedule::parse(&self.schedule).map_err(bad)?;
        let duration = go_duration_secs(&self.duration)
            .ok_or_else(|| bad(format!("duration {:?} is not a Go duration", self.duration)))?;
        let offset = match self.time_zone.as_str() {
            // Only UTC is evaluated: the core carries no time zone database. Anything else is
            // reported, never guessed.
            "" | "UTC" | "Etc/UTC" | "Etc/GMT" | "GMT" | "Z" => 0,
            other => {
                return Err(bad(format!(
                    "time zone {other} is not evaluated (only UTC)"
                )));
            }
        };
        let now = now.unix_seconds() + offset;
        // The first whole minute strictly after now - duration.
        let from = (now - duration).div_euclid(60) * 60 + 60;
        // A year of minutes bounds the search; longer windows are treated as always open when
        // anything in the last year fired, which is what they mean in practice.
        let mut t = from.max(now - 366 * 86_400);
        while t < now {
            if schedule.fires_at(t) {
                return Ok(true);
            }
            t += 60;
        }
        Ok(false)
    }
}

/// A sync window that cannot be evaluated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{window}: {problem}")]
pub struct WindowError {
    pub window: String,
    pub problem: String,
}

/// What the project's windows say about a manual sync (or rollback) of one app now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowVerdict {
    /// No window blocks it (including: no window matches the app).
    Allowed,
    /// Active `deny` windows without `manualSync` block it.
    DeniedBy(Vec<SyncWindow>),
    /// `allow` windows match the app, none is active, none allows manual syncs.
    OutsideAllow(Vec<SyncWindow>),
    /// A matching window could not be evaluated; Argo CD refuses syncs on an invalid window.
    Unknown(WindowError),
}

/// Argo CD's `SyncWindows.Matches(app).CanSync(true)` (manual syncs, rollbacks): any active
/// matching `deny` blocks unless every active deny has `manualSync`; else an active `allow`
/// permits; else matching (inactive) `allow` windows block unless one has `manualSync`.
pub fn manual_sync_window(
    windows: &[SyncWindow],
    app: &Application,
    now: Timestamp,
) -> WindowVerdict {
    sync_window_verdict(windows, app, now, true)
}

/// `CanSync(manual)`: as [`manual_sync_window`]; for automated syncs (`manual == false`)
/// `manualSync` never lets one through.
pub fn sync_window_verdict(
    windows: &[SyncWindow],
    app: &Application,
    now: Timestamp,
    manual: bool,
) -> WindowVerdict {
    let matching: Vec<&SyncWindow> = windows.iter().filter(|w| w.matches(app)).collect();
    let mut active = Vec::new();
    let mut inactive = Vec::new();
    for w in &matching {
        match w.active(now) {
            Ok(true) => active.push(*w),
            Ok(false) => inactive.push(*w),
            Err(e) => return WindowVerdict::Unknown(e),
        }
    }
    let denies: Vec<&SyncWindow> = active
        .iter()
        .copied()
        .filter(|w| w.kind == Some(WindowKind::Deny))
        .collect();
    if !denies.is_empty() {
        if manual && denies.iter().all(|w| w.manual_sync) {
            return WindowVerdict::Allowed;
        }
        return WindowVerdict::DeniedBy(
            denies
                .into_iter()
                .filter(|w| !(manual && w.manual_sync))
                .cloned()
                .collect(),
        );
    }
    if active.iter().any(|w| w.kind == Some(WindowKind::Allow)) {
        return WindowVerdict::Allowed;
    }
    let allows: Vec<&SyncWindow> = inactive
        .into_iter()
        .filter(|w| w.kind == Some(WindowKind::Allow))
        .collect();
    if allows.is_empty() || (manual && allows.iter().any(|w| w.manual_sync)) {
        return WindowVerdict::Allowed;
    }
    WindowVerdict::OutsideAllow(allows.into_iter().cloned().collect())
}

/// Go's `time.ParseDuration` for what windows use: `1h`, `30m`, `1h30m`, `1.5h`, `90s`. Seconds.
fn go_duration_secs(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|n| *n > 0)?;
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "durations are far below i64::MAX seconds"
    )]
    Some(total.floor() as i64)
}

/// The 5-field cron schedule Argo CD parses windows with (robfig/cron `Minute|Hour|Dom|Month|Dow`):
/// `*`, `?`, values, names (`JAN`, `MON`), ranges, lists and `/step`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CronSchedule {
    minutes: u64,
    hours: u64,
    dom: u64,
    months: u64,
    dow: u64,
    /// robfig: when either day field is a bare `*`/`?`, both must match; else either.
    dom_star: bool,
    dow_star: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl CronSchedule {
    fn parse(spec: &str) -> Result<Self, String> {
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "schedule {spec:?} needs 5 fields (minute hour day-of-month month day-of-week), has {}",
                fields.len()
            ));
        }
        let star = |f: &str| f == "*" || f == "?";
        Ok(CronSchedule {
            minutes: field(fields[0], 0, 59, &[])?,
            hours: field(fields[1], 0, 23, &[])?,
            dom: field(fields[2], 1, 31, &[])?,
            months: field(fields[3], 1, 12, &MONTHS)?,
            dow: field(fields[4], 0, 6, &DAYS)?,
            dom_star: star(fields[2]),
            dow_star: star(fields[4]),
        })
    }

    /// Whether the schedule fires at this minute (`t` in UTC seconds, a whole minute).
    fn fires_at(&self, t: i64) -> bool {
        let days = t.div_euclid(86_400);
        let rem = t.rem_euclid(86_400);
        let (_, month, day) = civil_from_days(days);
        // 1970-01-01 was a Thursday (4).
        let weekday = (days + 4).rem_euclid(7);
        let bit = |set: u64, v: i64| set & (1u64 << v) != 0;
        let dom_ok = bit(self.dom, day);
        let dow_ok = bit(self.dow, weekday);
        let day_ok = if self.dom_star || self.dow_star {
            dom_ok && dow_ok
        } else {
            dom_ok || dow_ok
        };
        bit(self.minutes, rem % 3600 / 60)
            && bit(self.hours, rem / 3600)
            && bit(self.months, month)
            && day_ok
    }
}

/// One cron field as a bit set of the values it allows.
fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let value = |s: &str| -> Result<u32, String> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == lower) {
            return Ok(min + u32::try_from(i).unwrap_or(0));
        }
        s.parse::<u32>()
            .map_err(|_| format!("{s:?} is not a number or name in field {text:?}"))
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("step {s:?} in {text:?} is not a positive number"))?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            // `N/step` runs from N to the end of the range, as robfig reads it.
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!(
                "{range:?} is outside {min}-{max} in field {text:?}"
            ));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1u64 << v;
            v += step;
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod window_tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).expect("timestamp")
    }

    fn app() -> Application {
        Application::from_json(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop-prod", "namespace": "argocd"},
            "spec": {"project": "shop", "destination": {"server": "https://kubernetes.default.svc", "namespace": "prod"},
                     "source": {"repoURL": "r", "path": "p", "targetRevision": "main"}}
        }))
        .expect("app")
    }

    fn window(doc: Value) -> SyncWindow {
        parse_sync_windows(&json!({"spec": {"syncWindows": [doc]}})).remove(0)
    }

    #[test]
    fn cron_fields_lists_ranges_steps_and_names() {
        let s = CronSchedule::parse("*/15 9-17 * * MON-FRI").expect("parse");
        // 2026-11-26 is a Thursday.
        assert!(s.fires_at(at("2026-11-26T09:45:00Z").unix_seconds()));
        assert!(!s.fires_at(at("2026-11-26T09:44:00Z").unix_seconds()));
        assert!(!s.fires_at(at("2026-11-26T18:00:00Z").unix_seconds()));
        // Saturday.
        assert!(!s.fires_at(at("2026-11-28T10:00:00Z").unix_seconds()));
        let s = CronSchedule::parse("0 22 1,15 jan,dec *").expect("parse");
        assert!(s.fires_at(at("2026-12-15T22:00:00Z").unix_seconds()));
        assert!(!s.fires_at(at("2026-11-15T22:00:00Z").unix_seconds()));
        // Both day fields restricted: either matches (robfig).
        let s = CronSchedule::parse("0 0 1 * 0").expect("parse");
        assert!(s.fires_at(at("2026-11-01T00:00:00Z").unix_seconds()));
        assert!(s.fires_at(at("2026-11-29T00:00:00Z").unix_seconds()));
        assert!(!s.fires_at(at("2026-11-28T00:00:00Z").unix_seconds()));
        // `N/step` runs to the end of the range.
        let s = CronSchedule::parse("5/20 * * * *").expect("parse");
        assert!(s.fires_at(at("2026-11-26T10:45:00Z").unix_seconds()));
        assert!(!s.fires_at(at("2026-11-26T10:05:00Z").unix_seconds() + 60));
    }

    #[test]
    fn bad_schedules_are_errors() {
        for bad in [
            "* * * *",
            "60 * * * *",
            "* * * * 7",
            "*/0 * * * *",
            "5-1 * * * *",
            "x * * * *",
            "@daily",
        ] {
            assert!(CronSchedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration_secs("1h30m"), Some(5400));
        assert_eq!(go_duration_secs("1.5h"), Some(5400));
        assert_eq!(go_duration_secs("90s"), Some(90));
        assert_eq!(go_duration_secs("1d"), None);
        assert_eq!(go_duration_secs("h"), None);
        assert_eq!(go_duration_secs(""), None);
    }

    #[test]
    fn active_means_a_start_within_the_duration_before_now() {
        let w = window(
            json!({"kind": "deny", "schedule": "0 22 * * *", "duration": "8h", "applications": ["*"]}),
        );
        assert_eq!(w.active(at("2026-11-26T23:00:00Z")), Ok(true));
        assert_eq!(w.active(at("2026-11-27T05:59:00Z")), Ok(true));
        assert_eq!(w.active(at("2026-11-27T06:00:00Z")), Ok(false));
        assert_eq!(w.active(at("2026-11-26T21:59:00Z")), Ok(false));
        let tz = window(
            json!({"kind": "deny", "schedule": "0 22 * * *", "duration": "8h", "timeZone": "Europe/Berlin"}),
        );
        assert!(tz.active(at("2026-11-26T23:00:00Z")).is_err());
    }

    #[test]
    fn matching_by_name_namespace_cluster_and_operator() {
        let a = app();
        assert!(window(json!({"kind": "deny", "applications": ["shop-*"]})).matches(&a));
        assert!(window(json!({"kind": "deny", "namespaces": ["pro?"]})).matches(&a));
        assert!(window(json!({"kind": "deny", "clusters": ["https://kubernetes.*"]})).matches(&a));
        assert!(!window(json!({"kind": "deny", "applications": ["other"]})).matches(&a));
        assert!(!window(json!({"kind": "deny"})).matches(&a));
        assert!(
            window(json!({"kind": "deny", "applications": ["other"], "namespaces": ["prod"]}))
                .matches(&a)
        );
        assert!(!window(json!({"kind": "deny", "applications": ["other"], "namespaces": ["prod"], "andOperator": true})).matches(&a));
    }

    #[test]
    fn verdicts_follow_can_sync_for_manual_syncs() {
        let a = app();
        let now = at("2026-11-26T23:00:00Z");
        let deny = json!({"kind": "deny", "schedule": "0 22 * * *", "duration": "8h", "applications": ["*"]});
        let mut manual = deny.clone();
        manual["manualSync"] = json!(true);
        let closed_allow = json!({"kind": "allow", "schedule": "0 9 * * *", "duration": "1h", "applications": ["*"]});
        let open_allow = json!({"kind": "allow", "schedule": "30 22 * * *", "duration": "1h", "applications": ["*"]});
        let other_app = json!({"kind": "deny", "schedule": "0 22 * * *", "duration": "8h", "applications": ["nope"]});

        assert_eq!(manual_sync_window(&[], &a, now), WindowVerdict::Allowed);
        assert!(
            matches!(manual_sync_window(&[window(deny.clone())], &a, now), WindowVerdict::DeniedBy(w) if w.len() == 1)
        );
        assert_eq!(
            manual_sync_window(&[window(manual.clone())], &a, now),
            WindowVerdict::Allowed
        );
        // manualSync does nothing for auto-sync.
        assert!(matches!(
            sync_window_verdict(&[window(manual.clone())], &a, now, false),
            WindowVerdict::DeniedBy(_)
        ));
        // One active deny without manualSync is enough to block.
        assert!(matches!(
            manual_sync_window(&[window(manual), window(deny.clone())], &a, now),
            WindowVerdict::DeniedBy(_)
        ));
        // A deny wins over an active allow.
        assert!(matches!(
            manual_sync_window(&[window(open_allow.clone()), window(deny)], &a, now),
            WindowVerdict::DeniedBy(_)
        ));
        assert_eq!(
            manual_sync_window(&[window(open_allow), window(closed_allow.clone())], &a, now),
            WindowVerdict::Allowed
        );
        assert!(matches!(
            manual_sync_window(&[window(closed_allow.clone())], &a, now),
            WindowVerdict::OutsideAllow(_)
        ));
        let mut closed_manual = closed_allow;
        closed_manual["manualSync"] = json!(true);
        assert_eq!(
            manual_sync_window(&[window(closed_manual)], &a, now),
            WindowVerdict::Allowed
        );
        assert_eq!(
            manual_sync_window(&[window(other_app)], &a, now),
            WindowVerdict::Allowed
        );
        // Inactive at 07:00.
        let later = at("2026-11-27T07:00:00Z");
        let deny = json!({"kind": "deny", "schedule": "0 22 * * *", "duration": "8h", "applications": ["*"]});
        assert_eq!(
            manual_sync_window(&[window(deny)], &a, later),
            WindowVerdict::Allowed
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The port the use cases call
// ---------------------------------------------------------------------------------------------

/// One Application, addressed as kubectl would: namespace (`None`: the context's) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AppRef {
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for AppRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A started operation and the goal that waits for it.
#[derive(Clone, Debug)]
pub struct Started {
    /// The app as written.
    pub app: Application,
    pub goal: WaitGoal,
}

impl Started {
    /// The goal of a sync we just wrote: our operation done, the app Synced and Healthy.
    pub fn sync(app: Application, request: &SyncRequest) -> Started {
        let operation = app.operation.clone().unwrap_or(Value::Null);
        let goal = WaitGoal::Operation {
            operation,
            revision: request.revision.clone(),
            expect: Expect::SyncedAndHealthy,
        };
        Started { app, goal }
    }

    /// The goal of a rollback to history entry `id`: our operation done, the app Healthy
    /// (OutOfSync is expected after a rollback).
    pub fn rollback(app: Application, id: i64) -> Started {
        let revision = app.history_entry(id).and_then(|h| h.revision.clone());
        let operation = app.operation.clone().unwrap_or(Value::Null);
        let goal = WaitGoal::Operation {
            operation,
            revision,
            expect: Expect::Healthy,
        };
        Started { app, goal }
    }
}

/// A started rollback.
#[derive(Clone, Debug)]
pub struct StartedRollback {
    pub started: Started,
    /// How auto-sync was turned off (the 3.0 fallback shows here as `Removed`).
    pub disabled_by: AutoSyncDisabledBy,
}

/// A wait that reached an answer.
#[derive(Clone, Debug)]
pub struct WaitReport {
    pub outcome: WaitOutcome,
    pub app: Application,
    pub waited: Duration,
}

/// What an Argo CD transport could not do. Display says what was being done; the cause is in
/// `source()` or in the fields.
#[derive(Debug, thiserror::Error)]
pub enum ArgoCdError {
    #[error("Argo CD application {app} not found")]
    NotFound { app: String },
    #[error("not allowed to {action} Argo CD application {app}: {message}")]
    Forbidden {
        app: String,
        action: &'static str,
        message: String,
    },
    #[error("Argo CD refused to {action} application {app}")]
    Refused {
        app: String,
        action: &'static str,
        #[source]
        reason: OperationRefused,
    },
    #[error("gave up on {action} for {app} after {attempts} conflicting concurrent writes")]
    Conflict {
        app: String,
        action: &'static str,
        attempts: u32,
    },
    #[error("timed out after {}s waiting for {waited_for} on {app}; last seen: {last_seen}", after.as_secs())]
    WaitTimedOut {
        app: String,
        waited_for: String,
        last_seen: String,
        after: Duration,
    },
    #[error(
        "auto-sync of {app} is still on after the write that turned it off, with the rollback operation written: Argo CD will sync HEAD again; turn auto-sync off by hand"
    )]
    AutoSyncStillOn { app: String },
    #[error("Argo CD application {app} could not be read")]
    Unreadable {
        app: String,
        #[source]
        cause: ApplicationError,
    },
    #[error("the server answered {code} to {action} on {app}: {message}")]
    Api {
        app: String,
        action: &'static str,
        code: u16,
        message: String,
    },
    #[error("could not {action} Argo CD application {app}")]
    Transport {
        app: String,
        action: &'static str,
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The Argo CD operations the use cases need. Synchronous: transports keep their runtime inside.
pub trait ArgoCd {
    /// The Application as it is now.
    fn application(&self, app: &AppRef) -> Result<Application, ArgoCdError>;
    /// Several Applications as they are now, one answer per [`AppRef`] in order. Transports
    /// that can send the requests at once override this (policy facts read every env's app).
    fn applications(&self, apps: &[AppRef]) -> Vec<Result<Application, ArgoCdError>> {
        apps.iter().map(|a| self.application(a)).collect()
    }
    /// Ask the controller to refresh (`argocd.argoproj.io/refresh`), as a webhook would.
    fn refresh(&self, app: &AppRef, hard: bool) -> Result<Application, ArgoCdError>;
    /// Start a sync as Argo CD's Sync API does, refusing while another operation runs.
    fn sync(&self, app: &AppRef, request: &SyncRequest) -> Result<Started, ArgoCdError>;
    /// Turn auto-sync off keeping its settings, record the marker and start Argo CD's rollback
    /// operation, all in one write.
    fn rollback(
        &self,
        app: &AppRef,
        request: &RollbackRequest,
        now: Timestamp,
    ) -> Result<StartedRollback, ArgoCdError>;
    /// [`ArgoCd::rollback`] from `current`, the app as the caller last read it: a transport
    /// that writes under optimistic concurrency may make its first write against `current`'s
    /// `resourceVersion` instead of reading the app again; a conflict (the app moved since)
    /// makes it read again, so the outcome is the same. Default: [`ArgoCd::rollback`].
    fn rollback_from(
        &self,
        app: &AppRef,
        current: &Application,
        request: &RollbackRequest,
        now: Timestamp,
    ) -> Result<StartedRollback, ArgoCdError> {
        let _ = current;
        self.rollback(app, request, now)
    }
    /// Restore the sync policy a rollback recorded and remove the marker.
    fn resume(&self, app: &AppRef) -> Result<Application, ArgoCdError>;
    /// Ask the controller to terminate the running operation.
    fn terminate_operation(&self, app: &AppRef) -> Result<Application, ArgoCdError>;
    /// Set (`Some`) or remove (`None`) these annotations, leaving every other field alone: this
    /// tool's own bookkeeping on the app (the revisions a wait saw healthy), visible to every
    /// user and needing nothing installed in the cluster.
    fn annotate(
        &self,
        app: &AppRef,
        annotations: &[(String, Option<String>)],
    ) -> Result<Application, ArgoCdError>;
    /// The sync windows of the app's AppProject (`spec.project`), as [`parse_sync_windows`]
    /// reads them; decide with [`manual_sync_window`].
    fn project_sync_windows(&self, app: &Application) -> Result<Vec<SyncWindow>, ArgoCdError>;
    /// Wait, at most `timeout`, until [`evaluate`] answers for `goal`.
    fn wait(
        &self,
        app: &AppRef,
        goal: &WaitGoal,
        timeout: Duration,
    ) -> Result<WaitReport, ArgoCdError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn app(extra: Value) -> Value {
        let mut base = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "argocd", "resourceVersion": "7"},
            "spec": {
                "project": "default",
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "prod"},
                "source": {"repoURL": "https://git.example.com/org/gitops.git", "path": "overlays/prod", "targetRevision": "main"},
                "syncPolicy": {"syncOptions": ["CreateNamespace=true"]},
                "someFutureField": {"x": 1}
            },
            "status": {
                "sync": {"status": "OutOfSync", "revision": B},
                "health": {"status": "Healthy"},
                "history": [
                    {"id": 0, "revision": A, "deployedAt": "2026-08-22T10:00:00Z", "source": {"repoURL": "https://git.example.com/org/gitops.git", "path": "overlays/prod", "targetRevision": "main"}, "initiatedBy": {"username": "admin"}},
                    {"id": 1, "revision": B, "deployedAt": "2026-08-22T11:00:00Z", "source": {"repoURL": "https://git.example.com/org/gitops.git", "path": "overlays/prod", "targetRevision": "main"}, "initiatedBy": {"automated": true}}
                ]
            }
        });
        merge(&mut base, &extra);
        base
    }

    fn merge(a: &mut Value, b: &Value) {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    if v.is_null() {
                        a.remove(k);
                    } else {
                        merge(a.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
            (a, b) => *a = b.clone(),
        }
    }

    #[test]
    fn timestamps_round_trip_and_order() {
        let t = Timestamp::parse("2026-08-22T10:00:00Z").unwrap();
        assert_eq!(t.to_string(), "2026-08-22T10:00:00Z");
        assert_eq!(Timestamp::parse("2026-08-22T12:00:00+02:00"), Some(t));
        assert!(Timestamp::parse("2026-08-22T10:00:00.5Z").unwrap() > t);
        assert_eq!(Timestamp::from_unix(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::parse("2000-02-29T00:00:00Z")
                .unwrap()
                .unix_seconds(),
            951_782_400
        );
        assert_eq!(Timestamp::parse("yesterday"), None);
        let n = Timestamp::from_unix_nanos(0, 120_000_000);
        assert_eq!(n.to_rfc3339_nanos(), "1970-01-01T00:00:00.12Z");
        assert_eq!(Timestamp::parse(&n.to_rfc3339_nanos()), Some(n));
        assert_eq!(
            Timestamp::from_unix(0).to_rfc3339_nanos(),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn facts_deployed_revision_is_last_history_entry_not_sync_revision() {
        let a = Application::from_json(app(json!({}))).unwrap();
        assert_eq!(a.deployed_revision(), Some(B));
        let rolled = Application::from_json(app(json!({"status": {"history": [
            {"id": 0, "revision": A, "deployedAt": "2026-08-22T10:00:00Z"},
            {"id": 1, "revision": B, "deployedAt": "2026-08-22T11:00:00Z"},
            {"id": 2, "revision": A, "deployedAt": "2026-08-22T12:00:00Z"}]}})))
        .unwrap();
        assert_eq!(rolled.deployed_revision(), Some(A));
        assert_eq!(rolled.sync_revision.as_deref(), Some(B));
        assert_eq!(rolled.previous_deployment().unwrap().id, 1);
    }

    #[test]
    fn auto_sync_follows_enabled_nil_means_on() {
        let on = Application::from_json(app(
            json!({"spec": {"syncPolicy": {"automated": {"prune": true}}}}),
        ))
        .unwrap();
        assert_eq!(
            on.auto_sync,
            AutoSync::Enabled {
                prune: true,
                self_heal: false
            }
        );
        let empty = Application::from_json(app(json!({"spec": {"syncPolicy": {"automated": {}}}})))
            .unwrap();
        assert!(empty.auto_sync.is_enabled());
        let off = Application::from_json(app(
            json!({"spec": {"syncPolicy": {"automated": {"selfHeal": true, "enabled": false}}}}),
        ))
        .unwrap();
        assert_eq!(
            off.auto_sync,
            AutoSync::Disabled {
                prune: false,
                self_heal: true
            }
        );
        assert_eq!(
            Application::from_json(app(json!({}))).unwrap().auto_sync,
            AutoSync::Off
        );
    }

    #[test]
    fn parents_that_would_turn_auto_sync_back_on_are_named() {
        let a = Application::from_json(app(json!({"metadata": {
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": "shops", "uid": "u"}],
            "annotations": {"argocd.argoproj.io/tracking-id": "root:argoproj.io/Application:argocd/shop"}
        }})))
        .unwrap();
        assert_eq!(
            a.managed_by,
            vec![
                ManagedBy::ApplicationSet {
                    name: "shops".into()
                },
                ManagedBy::ParentApplication {
                    name: "root".into()
                }
            ]
        );
        assert!(a.managed_by[1].to_string().contains("/spec/syncPolicy"));
        assert!(
            Application::from_json(app(json!({})))
                .unwrap()
                .managed_by
                .is_empty()
        );
    }

    #[test]
    fn sync_operation_is_shaped_like_the_api_servers() {
        let a = Application::from_json(app(
            json!({"spec": {"syncPolicy": {"retry": {"limit": 2}}}}),
        ))
        .unwrap();
        let req = SyncRequest {
            revision: Some(B.into()),
            prune: false,
            user: "alice".into(),
            promote_id: "u-1".into(),
        };
        let op = sync_operation(&a, &req).unwrap();
        assert_eq!(
            op,
            json!({
                "sync": {
                    "revision": B,
                    "source": {"repoURL": "https://git.example.com/org/gitops.git", "path": "overlays/prod", "targetRevision": "main"},
                    "syncOptions": ["CreateNamespace=true"],
                    "syncStrategy": {"hook": {}}
                },
                "initiatedBy": {"username": "alice"},
                "info": [{"name": "promote-id", "value": "u-1"}],
                "retry": {"limit": 2}
            })
        );
    }

    #[test]
    fn sync_to_a_commit_is_refused_while_auto_sync_pins_the_branch() {
        let a = Application::from_json(app(json!({"spec": {"syncPolicy": {"automated": {}}}})))
            .unwrap();
        let req = SyncRequest {
            revision: Some(B.into()),
            prune: false,
            user: "a".into(),
            promote_id: "x".into(),
        };
        let err = sync_operation(&a, &req).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("Cannot sync to {B}: auto-sync currently set to main")
        );
        let bad = SyncRequest {
            revision: Some("main".into()),
            ..req
        };
        assert!(matches!(
            sync_operation(&a, &bad),
            Err(OperationRefused::NotACommitSha { .. })
        ));
    }

    #[test]
    fn rollback_operation_matches_the_worked_example() {
        let a = Application::from_json(app(json!({}))).unwrap();
        let op = rollback_operation(
            &a,
            &RollbackRequest {
                id: 0,
                prune: false,
                dry_run: false,
                user: "admin".into(),
                reason: String::new(),
            },
        )
        .unwrap();
        assert_eq!(
            op,
            json!({
                "sync": {
                    "revision": A,
                    "syncOptions": ["CreateNamespace=true"],
                    "syncStrategy": {"apply": {}},
                    "source": {"repoURL": "https://git.example.com/org/gitops.git", "path": "overlays/prod", "targetRevision": "main"}
                },
                "initiatedBy": {"username": "admin"},
                "retry": {}
            })
        );
    }

    #[test]
    fn rollback_refusals_use_argo_cds_words_in_its_order() {
        let req = RollbackRequest {
            id: 9,
            prune: false,
            dry_run: false,
            user: "u".into(),
            reason: String::new(),
        };
        let auto = Application::from_json(app(json!({"spec": {"syncPolicy": {"automated": {}}}})))
            .unwrap();
        assert_eq!(
            rollback_operation(&auto, &req).unwrap_err().to_string(),
            "rollback cannot be initiated when auto-sync is enabled"
        );
        let plain = Application::from_json(app(json!({}))).unwrap();
        assert_eq!(
            rollback_operation(&plain, &req).unwrap_err().to_string(),
            "application argocd/shop does not have deployment with id 9"
        );
        let old = Application::from_json(app(json!({"status": {"history": [{"id": 9, "revision": A, "deployedAt": "2026-08-22T10:00:00Z"}]}}))).unwrap();
        assert_eq!(
            rollback_operation(&old, &req).unwrap_err(),
            OperationRefused::NoSourceInHistory
        );
        let deleting = Application::from_json(app(json!({"metadata": {"deletionTimestamp": "2026-08-22T10:00:00Z"}, "spec": {"syncPolicy": {"automated": {}}}}))).unwrap();
        assert_eq!(
            rollback_operation(&deleting, &req).unwrap_err(),
            OperationRefused::Deleting
        );
    }

    #[test]
    fn argo_cd_messages_map_back_to_refusals() {
        let all = [
            OperationRefused::AnotherOperationInProgress,
            OperationRefused::AutoSyncEnabled,
            OperationRefused::Deleting,
            OperationRefused::NoSuchDeployment {
                qualified_name: "argocd/shop".into(),
                id: 3,
            },
            OperationRefused::NoSourceInHistory,
            OperationRefused::AutoSyncPinsRevision {
                revision: B.into(),
                target_revision: "main".into(),
            },
            OperationRefused::NoOperationInProgress,
        ];
        for r in all {
            assert_eq!(OperationRefused::from_argo_message(&r.to_string()), Some(r));
        }
        assert_eq!(
            OperationRefused::from_argo_message("permission denied"),
            None
        );
    }

    #[test]
    fn set_operation_refuses_when_busy_and_wipes_the_old_state() {
        let mut doc = app(json!({"status": {"operationState": {"phase": "Succeeded"}}}));
        set_operation(&mut doc, json!({"sync": {}})).unwrap();
        assert_eq!(doc["status"]["operationState"], Value::Null);
        assert_eq!(
            set_operation(&mut doc, json!({"sync": {}}))
                .unwrap_err()
                .to_string(),
            "another operation is already in progress"
        );
    }

    #[test]
    fn prepare_rollback_disables_auto_sync_keeping_settings_and_records_the_marker() {
        let doc =
            app(json!({"spec": {"syncPolicy": {"automated": {"prune": true, "selfHeal": true}}}}));
        let req = RollbackRequest {
            id: 0,
            prune: false,
            dry_run: false,
            user: "alice".into(),
            reason: "v1.0.2 crashes".into(),
        };
        let ctx = RollbackContext {
            user: "alice".into(),
            reason: "v1.0.2 crashes".into(),
            now: Timestamp::from_unix(1_790_000_000),
        };
        let out = prepare_rollback(&doc, &req, &ctx, AutoSyncDisabledBy::EnabledFalse).unwrap();
        assert_eq!(
            out["spec"]["syncPolicy"]["automated"],
            json!({"prune": true, "selfHeal": true, "enabled": false})
        );
        assert_eq!(
            out["spec"]["someFutureField"],
            json!({"x": 1}),
            "unknown fields are kept"
        );
        assert_eq!(out["operation"]["sync"]["revision"], json!(A));
        let read = Application::from_json(out.clone()).unwrap();
        let marker = read.rollback_marker.unwrap();
        assert_eq!(
            marker.sync_policy_before,
            Some(json!({"prune": true, "selfHeal": true}))
        );
        assert_eq!(marker.disabled_by, AutoSyncDisabledBy::EnabledFalse);
        assert_eq!(marker.to_revision.as_deref(), Some(A));

        let removed = prepare_rollback(&doc, &req, &ctx, AutoSyncDisabledBy::Removed).unwrap();
        assert_eq!(
            removed["spec"]["syncPolicy"],
            json!({"syncOptions": ["CreateNamespace=true"]})
        );
        let resumed = prepare_resume(&removed).unwrap();
        assert_eq!(
            resumed["spec"]["syncPolicy"]["automated"],
            json!({"prune": true, "selfHeal": true})
        );
        assert!(
            Application::from_json(resumed)
                .unwrap()
                .rollback_marker
                .is_none()
        );
    }

    #[test]
    fn evaluate_waits_for_our_operation_and_a_reconcile_after_it() {
        let op = json!({"sync": {"revision": B}, "info": [{"name": "promote-id", "value": "u"}]});
        let goal = WaitGoal::Operation {
            operation: op.clone(),
            revision: Some(B.into()),
            expect: Expect::SyncedAndHealthy,
        };
        let state = |phase: &str, reconciled: &str| {
            app(json!({"status": {
                "sync": {"status": "Synced", "revision": B},
                "reconciledAt": reconciled,
                "operationState": {"operation": op, "phase": phase, "message": "m", "startedAt": "2026-08-22T10:59:00Z", "finishedAt": "2026-08-22T11:00:00Z", "syncResult": {"revision": B}}
            }}))
        };
        let check = |doc: Value| evaluate(&Application::from_json(doc).unwrap(), &goal);
        assert!(matches!(
            check(state("Succeeded", "2026-08-22T10:59:59Z")),
            Progress::Waiting(_)
        ));
        assert_eq!(
            check(state("Succeeded", "2026-08-22T11:00:00Z")),
            Progress::Done(WaitOutcome::Ready)
        );
        assert!(matches!(
            check(state("Failed", "2026-08-22T11:00:01Z")),
            Progress::Done(WaitOutcome::OperationFailed { .. })
        ));
        let mut busy = state("Succeeded", "2026-08-22T11:00:00Z");
        busy["operation"] = json!({"sync": {}});
        assert!(matches!(check(busy), Progress::Waiting(_)));
        let mut other = state("Succeeded", "2026-08-22T11:00:00Z");
        other["status"]["operationState"]["operation"] = json!({"sync": {"revision": A}});
        assert!(matches!(check(other), Progress::Waiting(_)));
        let mut degraded = state("Succeeded", "2026-08-22T11:00:00Z");
        degraded["status"]["health"] = json!({"status": "Degraded", "message": "crash"});
        assert_eq!(
            check(degraded),
            Progress::Done(WaitOutcome::Degraded {
                message: "crash".into()
            })
        );
        let mut stale = state("Succeeded", "2026-08-22T11:00:00Z");
        stale["status"]["history"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": 2, "revision": A, "deployedAt": "2026-08-22T11:00:00Z"}));
        assert!(matches!(check(stale), Progress::Waiting(_)));
    }

    #[test]
    fn our_operation_is_recognised_after_the_controller_re_encodes_it() {
        let ours = json!({"sync": {"revision": A, "source": {"repoURL": "r", "path": "", "kustomize": {}}, "syncStrategy": {"hook": {}}},
                          "initiatedBy": {"username": "alice"}, "info": [{"name": "promote-id", "value": "u1"}], "retry": {}});
        let copy = json!({"sync": {"revision": A, "source": {"repoURL": "r"}, "syncStrategy": {"hook": {}}},
                          "initiatedBy": {"username": "alice"}, "info": [{"name": "promote-id", "value": "u1"}], "retry": {}});
        assert!(same_operation(&ours, &copy));
        let other_id = json!({"sync": {"revision": A}, "initiatedBy": {"username": "alice"}, "info": [{"name": "promote-id", "value": "u2"}]});
        assert!(!same_operation(&ours, &other_id));
        let rollback = json!({"sync": {"revision": A, "syncStrategy": {"apply": {}}}, "initiatedBy": {"username": "alice"}, "retry": {}});
        assert!(!same_operation(&ours, &rollback));
        assert!(same_operation(
            &rollback,
            &json!({"sync": {"revision": A, "syncStrategy": {"apply": {"force": false}}}, "initiatedBy": {"username": "alice"}})
        ));
    }

    #[test]
    fn repo_urls_compare_without_scheme_user_suffix() {
        let n = normalize_repo_url;
        assert_eq!(
            n("https://GitHub.com/acme/gitops.git/"),
            "github.com/acme/gitops"
        );
        assert_eq!(
            n("git@github.com:acme/gitops.git"),
            n("https://github.com/acme/gitops")
        );
        assert_eq!(
            n("ssh://git@github.com/acme/gitops"),
            "github.com/acme/gitops"
        );
        assert_eq!(n("/tmp/x/remote.git"), "/tmp/x/remote");
        let a = Application::from_json(app(
            json!({"spec": {"source": {"kustomize": {"images": ["shop=reg/shop:1"]}}}}),
        ))
        .unwrap();
        let check = check_source(
            &a,
            &ExpectedSource {
                repo_url: "git@git.example.com:org/gitops".into(),
                path: "overlays/prod/".into(),
                target_revision: "main".into(),
            },
        );
        assert!(check.mismatches.is_empty(), "{check:?}");
        assert_eq!(
            check.warnings,
            vec![SourceWarning::KustomizeImages(vec![
                "shop=reg/shop:1".into()
            ])]
        );
        let wrong = check_source(
            &a,
            &ExpectedSource {
                repo_url: "https://git.example.com/org/other".into(),
                path: "overlays/staging".into(),
                target_revision: "release".into(),
            },
        );
        assert_eq!(wrong.mismatches.len(), 3);
    }
}
