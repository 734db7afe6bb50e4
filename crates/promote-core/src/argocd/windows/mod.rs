//! The AppProject's sync windows (`spec.syncWindows`): which windows match an Application, whether
//! one is open now, and what Argo CD's `CanSync` concludes for a manual or an automated sync.
//!
//! "Open now" is Argo CD's own rule (`SyncWindow.active`, read from its source for 2.4 to 3.5):
//! shift now by the offset the window's `timeZone` has *now*, and the window is open when the
//! schedule's next start after `shifted now - duration` comes before `shifted now`. So a schedule
//! reads as wall-clock times in that zone at today's offset: across a daylight-saving change, a
//! window that started before it keeps the clock it has after it (a `0 22 * * *` window of 8h in
//! Europe/Berlin ends at 06:00 local time both nights, not 8 elapsed hours after 22:00). A
//! schedule with a `CRON_TZ=` prefix fires by that zone's clocks instead. Any IANA zone is
//! evaluated; an unknown one is UTC, as Argo CD falls back to UTC (with a warning in its log).

mod cron;
mod duration;
mod zone;

use std::fmt;

use serde_json::Value;

use super::facts::Application;
use super::json::{str_at, strings_at};
use super::time::Timestamp;

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
            match zone::load(&self.time_zone) {
                Err(zone::ZoneError::Unknown(_)) => write!(
                    f,
                    " ({:?} is no time zone Argo CD knows: it uses UTC)",
                    self.time_zone
                )?,
                _ => write!(f, " ({})", self.time_zone)?,
            }
        }
        if !self.description.is_empty() {
            write!(f, " [{}]", self.description)?;
        }
        Ok(())
    }
}

/// The sync windows of an AppProject document (`spec.syncWindows`); none when absent.
pub fn parse_sync_windows(project: &Value) -> Vec<SyncWindow> {
    let strings = |w: &Value, key: &str| strings_at(w, &format!("/{key}"));
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

    /// Whether the window is open at `now`, as Argo CD decides it (see the module's doc): its
    /// schedule starts in `(now - duration, now)` on the clock of its `timeZone` at today's offset.
    /// A schedule that never starts (February 30th) is always open, as Argo CD's reading of
    /// robfig's "no next time" makes it.
    pub fn active(&self, now: Timestamp) -> Result<bool, WindowError> {
        let bad = |problem: String| WindowError {
            window: self.to_string(),
            problem,
        };
        let schedule = cron::Schedule::parse(&self.schedule).map_err(bad)?;
        let duration = duration::parse(&self.duration).map_err(bad)?;
        let offset = match zone::load(&self.time_zone) {
            Ok(tz) => tz.to_offset(now.as_jiff()).seconds(),
            Err(zone::ZoneError::Unknown(_)) => 0,
            Err(e @ zone::ZoneError::Local) => return Err(bad(e.describe())),
        };
        let out_of_range = || bad("the window reaches beyond the years 9999 BC to 9999 AD".into());
        let end = now
            .as_jiff()
            .checked_add(jiff::SignedDuration::from_secs(i64::from(offset)))
            .map_err(|_| out_of_range())?;
        let start = end.checked_sub(duration).map_err(|_| out_of_range())?;
        Ok(schedule.next_after(start).is_none_or(|first| first < end))
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
/// permits; else matching (inactive) `allow` windows block unless all of them have `manualSync`.
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
    // Argo CD's `manualEnabled`: every inactive allow window must let manual syncs through.
    if allows.is_empty() || (manual && allows.iter().all(|w| w.manual_sync)) {
        return WindowVerdict::Allowed;
    }
    WindowVerdict::OutsideAllow(allows.into_iter().cloned().collect())
}

#[cfg(test)]
mod window_tests {
    use serde_json::json;

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
    fn active_means_a_start_within_the_duration_before_now() {
        let w = window(
            json!({"kind": "deny", "schedule": "0 22 * * *", "duration": "8h", "applications": ["*"]}),
        );
        assert_eq!(w.active(at("2026-11-26T23:00:00Z")), Ok(true));
        assert_eq!(w.active(at("2026-11-27T05:59:00Z")), Ok(true));
        assert_eq!(w.active(at("2026-11-27T06:00:00Z")), Ok(false));
        assert_eq!(w.active(at("2026-11-26T22:00:00Z")), Ok(false));
        assert_eq!(w.active(at("2026-11-26T21:59:00Z")), Ok(false));
    }

    /// Open at each instant of `open`, closed at each of `closed`.
    fn check(w: &SyncWindow, open: &[&str], closed: &[&str]) {
        for t in open {
            assert_eq!(w.active(at(t)), Ok(true), "{w} at {t}");
        }
        for t in closed {
            assert_eq!(w.active(at(t)), Ok(false), "{w} at {t}");
        }
    }

    #[test]
    fn a_berlin_window_follows_the_local_clock_across_daylight_saving_time() {
        // 22:00 to 06:00 local time, every night, in Europe/Berlin.
        let w = window(
            json!({"kind": "deny", "schedule": "0 22 * * *", "duration": "8h", "timeZone": "Europe/Berlin", "applications": ["*"]}),
        );
        // Winter, UTC+1.
        check(
            &w,
            &["2026-01-15T21:01:00Z", "2026-01-16T04:59:00Z"],
            &[
                "2026-01-15T20:59:00Z",
                "2026-01-16T05:00:00Z",
                "2026-01-16T12:00:00Z",
            ],
        );
        // Summer, UTC+2.
        check(
            &w,
            &["2026-07-15T20:01:00Z", "2026-07-16T03:59:00Z"],
            &["2026-07-15T19:59:00Z", "2026-07-16T04:00:00Z"],
        );
        // The night clocks go back (2026-10-25, 03:00 CEST -> 02:00 CET): opened at 22:00 CEST
        // (20:00 UTC), it closes at 06:00 CET (05:00 UTC), nine hours later.
        check(
            &w,
            &[
                "2026-10-24T20:01:00Z",
                "2026-10-25T04:30:00Z",
                "2026-10-25T04:59:00Z",
            ],
            &["2026-10-24T19:59:00Z", "2026-10-25T05:00:00Z"],
        );
        // The night clocks go forward (2026-03-29, 02:00 CET -> 03:00 CEST): opened at 22:00 CET
        // (21:00 UTC), it closes at 06:00 CEST (04:00 UTC), seven hours later.
        check(
            &w,
            &["2026-03-28T21:01:00Z", "2026-03-29T03:59:00Z"],
            &["2026-03-28T20:59:00Z", "2026-03-29T04:00:00Z"],
        );
    }

    #[test]
    fn a_cron_tz_schedule_starts_by_that_zones_clock_and_lasts_its_duration() {
        let w = window(
            json!({"kind": "deny", "schedule": "CRON_TZ=Europe/Berlin 0 22 * * *", "duration": "8h", "applications": ["*"]}),
        );
        // Opened at 22:00 CEST on 2026-10-24 (20:00 UTC), it lasts 8 elapsed hours.
        check(
            &w,
            &["2026-10-24T20:01:00Z", "2026-10-25T03:59:00Z"],
            &[
                "2026-10-24T19:59:00Z",
                "2026-10-25T04:00:00Z",
                "2026-10-25T04:30:00Z",
            ],
        );
    }

    #[test]
    fn zones_argo_cd_cannot_load_are_utc_and_local_cannot_be_evaluated() {
        let unknown = window(
            json!({"kind": "deny", "schedule": "0 22 * * *", "duration": "8h", "timeZone": "Mars/Base"}),
        );
        assert_eq!(unknown.active(at("2026-11-26T23:00:00Z")), Ok(true));
        assert_eq!(unknown.active(at("2026-11-27T06:00:00Z")), Ok(false));
        assert!(unknown.to_string().contains("it uses UTC"), "{unknown}");
        let local = window(
            json!({"kind": "deny", "schedule": "0 22 * * *", "duration": "8h", "timeZone": "Local"}),
        );
        assert!(local.active(at("2026-11-26T23:00:00Z")).is_err());
        for (schedule, duration) in [("0 22 * * *", "1d"), ("@daily", "1h"), ("61 * * * *", "1h")] {
            let bad = window(json!({"kind": "deny", "schedule": schedule, "duration": duration}));
            assert!(bad.active(at("2026-11-26T23:00:00Z")).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_schedule_that_never_starts_is_always_open_as_in_argo_cd() {
        let w = window(json!({"kind": "deny", "schedule": "0 0 30 2 *", "duration": "1h"}));
        assert_eq!(w.active(at("2026-06-01T12:00:00Z")), Ok(true));
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
        let mut closed_manual = closed_allow.clone();
        closed_manual["manualSync"] = json!(true);
        assert_eq!(
            manual_sync_window(&[window(closed_manual.clone())], &a, now),
            WindowVerdict::Allowed
        );
        // Every closed allow window must allow manual syncs (Argo CD's `manualEnabled`).
        assert!(matches!(
            manual_sync_window(&[window(closed_manual), window(closed_allow)], &a, now),
            WindowVerdict::OutsideAllow(w) if w.len() == 2
        ));
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
