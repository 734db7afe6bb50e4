//! The AppProject's sync windows (`spec.syncWindows`): which windows match an Application, whether
//! one is open now, and what Argo CD's `CanSync` concludes for a manual or an automated sync.

use std::fmt;

use serde_json::Value;

use super::facts::Application;
use super::json::str_at;
use super::time::Timestamp;

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
        let date = jiff::tz::TimeZone::UTC
            .to_datetime(jiff::Timestamp::from_second(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH))
            .date();
        let (month, day) = (i64::from(date.month()), i64::from(date.day()));
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
