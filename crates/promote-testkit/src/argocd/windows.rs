//! The stand-in's own sync-window check: does the AppProject let a sync of an app through now?
//!
//! Deliberately written apart from `promote_core::argocd`'s windows (no shared code, another
//! method), so that a mistake there cannot hide in the tests that run the product against this
//! stand-in. Where core computes the schedule's next start, this walks back minute by minute
//! from now over the window's duration and reads each minute's clock; where core compiles the
//! cron fields once, this reads the field text each time. Both follow Argo CD (`types.go`:
//! `SyncWindows.Matches`, `active`, `CanSync`; robfig/cron's parser and `Next`):
//!
//! * a window is open at `now` when its schedule starts at a whole minute strictly between
//!   `now + offset - duration` and `now + offset`, `offset` being the window `timeZone`'s UTC
//!   offset at `now` (UTC for an empty or unknown name); the schedule reads the clock of a
//!   `CRON_TZ=`/`TZ=` prefix's zone if it has one, else UTC;
//! * a schedule that never starts within five years counts as open (robfig answers the zero
//!   time, which is before anything);
//! * deny beats allow; manual syncs pass deny windows only if every active deny has
//!   `manualSync`, and pass closed allow windows only if every closed allow has it;
//! * a window that cannot be read (bad schedule, duration or `CRON_TZ` zone) makes every sync
//!   fail, as Argo CD's `CanSync` errors.

use jiff::tz::TimeZone;
use serde_json::Value;

/// What the windows say about a sync now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Window {
    Open,
    Blocked,
    /// A matching window cannot be read: Argo CD refuses the sync with this message.
    Invalid(String),
}

/// The verdict of `project`'s `spec.syncWindows` on a sync of `app` at `now`.
pub fn check(project: &Value, app: &Value, now: jiff::Timestamp, manual: bool) -> Window {
    let windows: Vec<&Value> = project
        .pointer("/spec/syncWindows")
        .and_then(Value::as_array)
        .map(|ws| ws.iter().filter(|w| applies_to(w, app)).collect())
        .unwrap_or_default();
    let mut open = Vec::new();
    let mut closed = Vec::new();
    for w in windows {
        match is_open(w, now) {
            Ok(true) => open.push(w),
            Ok(false) => closed.push(w),
            Err(e) => return Window::Invalid(e),
        }
    }
    fn kind<'a>(w: &&'a Value) -> &'a str {
        w.get("kind").and_then(Value::as_str).unwrap_or_default()
    }
    let manual_ok = |w: &&Value| w.get("manualSync").and_then(Value::as_bool) == Some(true);
    let open_denies: Vec<&Value> = open.iter().copied().filter(|w| kind(w) == "deny").collect();
    if !open_denies.is_empty() {
        return if manual && open_denies.iter().all(manual_ok) {
            Window::Open
        } else {
            Window::Blocked
        };
    }
    if open.iter().any(|w| kind(w) == "allow") {
        return Window::Open;
    }
    let closed_allows: Vec<&Value> = closed.into_iter().filter(|w| kind(w) == "allow").collect();
    if closed_allows.is_empty() || (manual && closed_allows.iter().all(manual_ok)) {
        Window::Open
    } else {
        Window::Blocked
    }
}

/// `Matches`: by app name, destination cluster (name or server) or namespace; with
/// `andOperator`, every list that is set must match.
fn applies_to(w: &Value, app: &Value) -> bool {
    let text = |p: &str| app.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let list = |k: &str| -> Vec<&str> {
        w.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let name = text("/metadata/name");
    let (server, cluster) = (
        text("/spec/destination/server"),
        text("/spec/destination/name"),
    );
    let namespace = text("/spec/destination/namespace");
    let mut results = Vec::new();
    let apps = list("applications");
    if !apps.is_empty() {
        results.push(apps.iter().any(|g| glob(g, name)));
    }
    let clusters = list("clusters");
    if !clusters.is_empty() {
        results.push(clusters.iter().any(|g| {
            (!cluster.is_empty() && glob(g, cluster)) || (!server.is_empty() && glob(g, server))
        }));
    }
    let namespaces = list("namespaces");
    if !namespaces.is_empty() {
        results.push(namespaces.iter().any(|g| glob(g, namespace)));
    }
    if w.get("andOperator").and_then(Value::as_bool) == Some(true) {
        !results.is_empty() && results.iter().all(|r| *r)
    } else {
        results.iter().any(|r| *r)
    }
}

/// `*` any run of characters, `?` one; recursive, the texts are short.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.chars().next() {
        None => text.is_empty(),
        Some('*') => {
            let rest = &pattern[1..];
            text.char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .any(|i| glob(rest, &text[i..]))
        }
        Some(p) => match text.chars().next() {
            Some(t) if p == '?' || p == t => glob(&pattern[p.len_utf8()..], &text[t.len_utf8()..]),
            _ => false,
        },
    }
}

/// Whether window `w` is open at `now`.
fn is_open(w: &Value, now: jiff::Timestamp) -> Result<bool, String> {
    let text = |k: &str| w.get(k).and_then(Value::as_str).unwrap_or_default();
    let spec = text("schedule");
    let (clock, fields) = split_zone(spec)?;
    let fields: Vec<&str> = fields.split_whitespace().collect();
    if fields.len() != 5 || spec.trim_start().starts_with('@') {
        return Err(format!("cannot parse schedule '{spec}'"));
    }
    for (field, kind) in fields.iter().zip(FIELDS) {
        field_has(field, kind, kind.min)?;
    }
    let duration = go_duration(text("duration"))
        .ok_or_else(|| format!("cannot parse duration '{}'", text("duration")))?;
    // The window's zone only shifts "now", by its offset at this moment.
    let offset = match text("timeZone") {
        "" | "UTC" => 0,
        name => jiff::tz::db()
            .get(name)
            .ok()
            .filter(|tz| tz.iana_name() == Some(name))
            .map_or(0, |tz| i64::from(tz.to_offset(now).seconds())),
    };
    let end_nanos = now.as_nanosecond() + i128::from(offset) * 1_000_000_000;
    let start_nanos = end_nanos - duration;
    let end = i64::try_from(end_nanos.div_euclid(1_000_000_000)).map_err(|e| e.to_string())?;
    // Whole minutes m with start < m < end, newest first.
    let mut minute = i64::try_from((end_nanos - 1).div_euclid(60_000_000_000) * 60)
        .map_err(|e| e.to_string())?;
    let mut checked = 0u32;
    while i128::from(minute) * 1_000_000_000 > start_nanos {
        if fires(&fields, &clock, minute)? {
            return Ok(true);
        }
        minute -= 60;
        checked += 1;
        if checked > 600_000 {
            // More than a year of minutes: long windows are open if anything fired in it.
            break;
        }
    }
    // A schedule that never starts is open in Argo CD.
    Ok(!starts_within_five_years(&fields, &clock, end)?)
}

/// The `CRON_TZ=`/`TZ=` prefix's zone (UTC without one) and the fields after it.
fn split_zone(spec: &str) -> Result<(TimeZone, &str), String> {
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(rest) = spec.strip_prefix(prefix) {
            let Some((name, fields)) = rest.split_once(' ') else {
                return Err(format!("cannot parse schedule '{spec}'"));
            };
            let tz = jiff::tz::db()
                .get(name)
                .ok()
                .filter(|tz| tz.iana_name() == Some(name) || name == "UTC")
                .ok_or_else(|| {
                    format!("cannot parse schedule '{spec}': provided bad location {name}")
                })?;
            return Ok((tz, fields));
        }
    }
    Ok((TimeZone::UTC, spec))
}

/// One cron field: its values and whether it takes names.
#[derive(Clone, Copy)]
struct Kind {
    min: u32,
    max: u32,
    /// Three-letter names, in order from `min`.
    names: &'static str,
}

const FIELDS: [Kind; 5] = [
    Kind {
        min: 0,
        max: 59,
        names: "",
    },
    Kind {
        min: 0,
        max: 23,
        names: "",
    },
    Kind {
        min: 1,
        max: 31,
        names: "",
    },
    Kind {
        min: 1,
        max: 12,
        names: "janfebmaraprmayjunjulaugsepoctnovdec",
    },
    Kind {
        min: 0,
        max: 6,
        names: "sunmontuewedthufrisat",
    },
];

/// Whether the schedule fires at the whole minute `at` (seconds since the epoch, shifted).
fn fires(fields: &[&str], clock: &TimeZone, at: i64) -> Result<bool, String> {
    let t = jiff::Timestamp::from_second(at).map_err(|e| e.to_string())?;
    let dt = clock.to_datetime(t);
    let weekday = u32::from(dt.weekday().to_sunday_zero_offset().unsigned_abs());
    let day_ok = day_matches(fields, dt.date(), weekday)?;
    Ok(day_ok
        && field_has(fields[0], FIELDS[0], u32::from(dt.minute().unsigned_abs()))?
        && field_has(fields[1], FIELDS[1], u32::from(dt.hour().unsigned_abs()))?
        && field_has(fields[3], FIELDS[3], u32::from(dt.month().unsigned_abs()))?)
}

fn day_matches(fields: &[&str], date: jiff::civil::Date, weekday: u32) -> Result<bool, String> {
    let dom = field_has(fields[2], FIELDS[2], u32::from(date.day().unsigned_abs()))?;
    let dow = field_has(fields[4], FIELDS[4], weekday)?;
    // robfig: a day field written as `*` or `?` (no step above 1) means both must match.
    let star = |f: &str| {
        f.split(',').any(|part| {
            let (range, step) = part.split_once('/').unwrap_or((part, "1"));
            matches!(range, "*" | "?") && step.parse::<u32>().is_ok_and(|s| s <= 1)
        })
    };
    Ok(if star(fields[2]) || star(fields[4]) {
        dom && dow
    } else {
        dom || dow
    })
}

/// Whether `value` is in the cron field `text`, read from the text.
fn field_has(text: &str, kind: Kind, value: u32) -> Result<bool, String> {
    let (min, max) = (kind.min, kind.max);
    let bad = || format!("cannot parse schedule field '{text}'");
    let mut found = false;
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s.parse::<u32>().map_err(|_| bad())?)),
            None => (part, None),
        };
        if step == Some(0) || step.is_some() && part.matches('/').count() > 1 {
            return Err(bad());
        }
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                number(a, kind).ok_or_else(bad)?,
                number(b, kind).ok_or_else(bad)?,
            )
        } else {
            let v = number(range, kind).ok_or_else(bad)?;
            (v, if step.is_some() { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(bad());
        }
        let step = step.unwrap_or(1);
        found |= value >= lo && value <= hi && (value - lo).is_multiple_of(step);
    }
    Ok(found)
}

/// A number, or a name where the field takes names (any case).
fn number(text: &str, kind: Kind) -> Option<u32> {
    if let Ok(n) = text.parse::<u32>() {
        return Some(n);
    }
    let lower = text.to_ascii_lowercase();
    if lower.len() != 3 || !lower.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let at = kind.names.find(&lower).filter(|i| i % 3 == 0)?;
    Some(u32::try_from(at / 3).ok()? + kind.min)
}

/// Whether the schedule starts at all in the five years after `from` (a day with a matching
/// date is enough: every hour and minute field names at least one value, or it errs).
fn starts_within_five_years(fields: &[&str], clock: &TimeZone, from: i64) -> Result<bool, String> {
    if fields[..2].iter().all(|f| f.split(',').all(str::is_empty)) {
        return Ok(false);
    }
    let start = jiff::Timestamp::from_second(from).map_err(|e| e.to_string())?;
    let mut date = clock.to_datetime(start).date();
    for _ in 0..(6 * 366) {
        let weekday = u32::from(date.weekday().to_sunday_zero_offset().unsigned_abs());
        if field_has(fields[3], FIELDS[3], u32::from(date.month().unsigned_abs()))?
            && day_matches(fields, date, weekday)?
        {
            return Ok(true);
        }
        date = date.tomorrow().map_err(|e| e.to_string())?;
    }
    Ok(false)
}

/// Go's `time.ParseDuration`, in nanoseconds (units h, m, s, ms, us/µs, ns; fractions; a sign).
fn go_duration(text: &str) -> Option<i128> {
    let (sign, body) = match text.strip_prefix('-') {
        Some(b) => (-1, b),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    if body == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = body;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number = &rest[..n];
        if number.is_empty() || number == "." {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let ns = match &rest[..u] {
            "h" => 3.6e12,
            "m" => 6e10,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" | "μs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
        total += value * ns;
        rest = &rest[u..];
    }
    if total >= 9.223_372_036_854_776e18 {
        return None;
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "checked against Go's limit just above"
    )]
    Some(sign * total.round() as i128)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    fn open(window: Value, now: &str) -> Result<bool, String> {
        is_open(&window, at(now))
    }

    #[test]
    fn a_berlin_window_keeps_local_time_across_daylight_saving_time() {
        let w = json!({"kind": "deny", "schedule": "0 22 * * *", "duration": "8h", "timeZone": "Europe/Berlin"});
        for (now, want) in [
            ("2026-01-15T20:59:00Z", false),
            ("2026-01-15T21:01:00Z", true),
            ("2026-01-16T04:59:00Z", true),
            ("2026-01-16T05:00:00Z", false),
            ("2026-07-16T03:59:00Z", true),
            ("2026-07-16T04:00:00Z", false),
            ("2026-10-25T04:59:00Z", true),
            ("2026-10-25T05:00:00Z", false),
            ("2026-03-29T03:59:00Z", true),
            ("2026-03-29T04:00:00Z", false),
        ] {
            assert_eq!(open(w.clone(), now), Ok(want), "{now}");
        }
        let cron_tz = json!({"kind": "deny", "schedule": "CRON_TZ=Europe/Berlin 0 22 * * *", "duration": "8h"});
        assert_eq!(open(cron_tz.clone(), "2026-10-25T03:59:00Z"), Ok(true));
        assert_eq!(open(cron_tz, "2026-10-25T04:30:00Z"), Ok(false));
    }

    #[test]
    fn verdicts() {
        let app = json!({"metadata": {"name": "shop-prod"}, "spec": {"destination": {"server": "https://kubernetes.default.svc", "namespace": "prod"}}});
        let project = |ws: Value| json!({"spec": {"syncWindows": ws}});
        let now = at("2026-11-26T23:00:00Z");
        let deny = json!({"kind": "deny", "schedule": "0 22 * * *", "duration": "8h", "applications": ["shop-*"]});
        assert_eq!(
            check(&project(json!([deny])), &app, now, true),
            Window::Blocked
        );
        let mut manual = deny.clone();
        manual["manualSync"] = json!(true);
        assert_eq!(
            check(&project(json!([manual])), &app, now, true),
            Window::Open
        );
        assert_eq!(
            check(&project(json!([manual])), &app, now, false),
            Window::Blocked
        );
        let closed_allow = json!({"kind": "allow", "schedule": "0 9 * * *", "duration": "1h", "namespaces": ["pro?"]});
        assert_eq!(
            check(&project(json!([closed_allow])), &app, now, true),
            Window::Blocked
        );
        let other = json!({"kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["x"]});
        assert_eq!(
            check(&project(json!([other])), &app, now, false),
            Window::Open
        );
        let bad =
            json!({"kind": "deny", "schedule": "@daily", "duration": "1h", "clusters": ["*"]});
        assert!(matches!(
            check(&project(json!([bad])), &app, now, true),
            Window::Invalid(_)
        ));
        let never = json!({"kind": "deny", "schedule": "0 0 30 2 *", "duration": "1h", "applications": ["*"]});
        assert_eq!(
            check(&project(json!([never])), &app, now, true),
            Window::Blocked
        );
    }
}
