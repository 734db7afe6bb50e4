//! `builtin:change-window`: no promotions inside deny windows, only inside allow-only windows
//! (when any are set), and none during dated freezes. Windows are weekdays plus `HH:MM`–`HH:MM`
//! (end exclusive, `24:00` allowed) in an IANA time zone; the tz database is compiled into the
//! module (jiff's bundled tzdb), since a policy has no file system.

use std::process::ExitCode;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use policy_common::now;
use promote_policy_sdk::{
    Decision, EvaluationRequest, PolicyFailure, Reason, SettingsValidation, Verdict,
};
use serde::Deserialize;
use serde_json::Value;

promote_policy_sdk::embed_metadata!("../policy.json");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    /// IANA zone the windows and civil freeze times are in.
    timezone: String,
    #[serde(default)]
    deny: Vec<RawWindow>,
    #[serde(default)]
    allow_only: Vec<RawWindow>,
    #[serde(default)]
    freezes: Vec<RawFreeze>,
    /// Let `--override-policy` through (with a warning). Without it, a denial says it may not
    /// be overridden (`overridable: false`), so break-glass cannot open a closed window.
    #[serde(default)]
    honor_override: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    days: Vec<String>,
    from: String,
    to: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFreeze {
    from: String,
    to: String,
    #[serde(default)]
    reason: Option<String>,
}

/// A window with parsed days and minutes of the day, `[from, to)`.
struct Window {
    days: Vec<Weekday>,
    from: u16,
    to: u16,
    text: String,
}

struct Freeze {
    from: Timestamp,
    to: Timestamp,
    reason: String,
}

struct Rules {
    tz: TimeZone,
    deny: Vec<Window>,
    allow_only: Vec<Window>,
    freezes: Vec<Freeze>,
    honor_override: bool,
    tz_name: String,
}

fn main() -> ExitCode {
    promote_policy_sdk::run(evaluate, validate_settings)
}

fn validate_settings(settings: &Value) -> SettingsValidation {
    match parse(settings) {
        Ok(_) => SettingsValidation::valid(),
        Err(e) => SettingsValidation::invalid(e),
    }
}

fn parse(settings: &Value) -> Result<Rules, String> {
    let s = Settings::deserialize(settings).map_err(|e| e.to_string())?;
    let tz = TimeZone::get(&s.timezone).map_err(|e| format!("timezone {:?}: {e}", s.timezone))?;
    let windows = |raw: &[RawWindow], key: &str| -> Result<Vec<Window>, String> {
        raw.iter()
            .enumerate()
            .map(|(i, w)| window(w).map_err(|e| format!("{key}[{i}]: {e}")))
            .collect()
    };
    let freezes = s
        .freezes
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let from =
                instant(&f.from, &tz, false).map_err(|e| format!("freezes[{i}].from: {e}"))?;
            let to = instant(&f.to, &tz, true).map_err(|e| format!("freezes[{i}].to: {e}"))?;
            if to <= from {
                return Err(format!("freezes[{i}]: `to` must be after `from`"));
            }
            Ok(Freeze {
                from,
                to,
                reason: f.reason.clone().unwrap_or_else(|| "change freeze".into()),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Rules {
        deny: windows(&s.deny, "deny")?,
        allow_only: windows(&s.allow_only, "allowOnly")?,
        freezes,
        tz,
        honor_override: s.honor_override,
        tz_name: s.timezone,
    })
}

fn window(w: &RawWindow) -> Result<Window, String> {
    if w.days.is_empty() {
        return Err("days must list at least one weekday".into());
    }
    let days = w
        .days
        .iter()
        .map(|d| weekday(d))
        .collect::<Result<Vec<_>, _>>()?;
    let (from, to) = (minutes(&w.from)?, minutes(&w.to)?);
    if from >= to {
        return Err(format!(
            "from {:?} must be before to {:?} (split a window across midnight in two)",
            w.from, w.to
        ));
    }
    Ok(Window {
        days,
        from,
        to,
        text: format!("{} {}–{}", w.days.join(","), w.from, w.to),
    })
}

fn weekday(d: &str) -> Result<Weekday, String> {
    let day = match d.to_ascii_lowercase().get(..3) {
        Some("mon") => Weekday::Monday,
        Some("tue") => Weekday::Tuesday,
        Some("wed") => Weekday::Wednesday,
        Some("thu") => Weekday::Thursday,
        Some("fri") => Weekday::Friday,
        Some("sat") => Weekday::Saturday,
        Some("sun") => Weekday::Sunday,
        _ => return Err(format!("{d:?} is not a weekday (Mon..Sun)")),
    };
    Ok(day)
}

/// `HH:MM` as minutes of the day; `24:00` is the end of the day.
fn minutes(t: &str) -> Result<u16, String> {
    let bad = || format!("{t:?} is not a time of day HH:MM");
    let (h, m) = t.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// An RFC 3339 time, a civil `YYYY-MM-DDTHH:MM[:SS]` in the zone, or a date (start of the day;
/// as an end, the end of that day).
fn instant(text: &str, tz: &TimeZone, end: bool) -> Result<Timestamp, String> {
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    // A bare date also parses as a DateTime (at midnight), so dates are told apart first.
    if let (false, Ok(dt)) = (is_date(text), text.parse::<DateTime>()) {
        return dt
            .to_zoned_datetime(tz.clone())
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    let date: Date = text
        .parse()
        .map_err(|_| format!("{text:?} is not a date, a civil time or an RFC 3339 time"))?;
    let date = if end {
        date.tomorrow().map_err(|e| e.to_string())?
    } else {
        date
    };
    date.to_zoned_datetime(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| e.to_string())
}

fn is_date(text: &str) -> bool {
    text.len() == 10 && !text.contains('T')
}

fn evaluate(req: &EvaluationRequest) -> Result<Decision, PolicyFailure> {
    let rules =
        parse(&req.settings).map_err(|e| PolicyFailure(format!("invalid settings: {e}")))?;
    let now = now(req)?;
    let local = now.to_zoned_datetime(rules.tz.clone());
    let (day, minute) = (
        local.weekday(),
        u16::from(local.hour().unsigned_abs()) * 60 + u16::from(local.minute().unsigned_abs()),
    );
    let env = req.target_environment();
    let shown = local.strftime("%a %H:%M").to_string();
    let mut reasons = Vec::new();
    for f in rules.freezes.iter().filter(|f| f.from <= now && now < f.to) {
        let until =
            f.to.to_zoned_datetime(rules.tz.clone())
                .strftime("%a %Y-%m-%d %H:%M")
                .to_string();
        reasons.push(Reason::new(
            "ChangeFreeze",
            format!(
                "{env} is frozen until {until} {}: {}",
                rules.tz_name, f.reason
            ),
        ));
    }
    let inside = |w: &&Window| w.days.contains(&day) && w.from <= minute && minute < w.to;
    if let Some(w) = rules.deny.iter().find(inside) {
        reasons.push(Reason::new(
            "ChangeWindow",
            format!(
                "no changes to {env} during {} {} (now {shown})",
                w.text, rules.tz_name
            ),
        ));
    }
    if !rules.allow_only.is_empty() && !rules.allow_only.iter().any(|w| inside(&w)) {
        let list: Vec<&str> = rules.allow_only.iter().map(|w| w.text.as_str()).collect();
        reasons.push(Reason::new(
            "OutsideChangeWindow",
            format!(
                "changes to {env} only during {} {} (now {shown})",
                list.join("; "),
                rules.tz_name
            ),
        ));
    }
    if reasons.is_empty() {
        return Ok(Decision::allow());
    }
    let override_ = req
        .promotion()
        .and_then(|p| p.override_.as_ref())
        .or_else(|| req.rollback().and_then(|r| r.override_.as_ref()))
        .filter(|_| rules.honor_override);
    let mut d = Decision::allow();
    match override_ {
        Some(o) => {
            d.warnings = reasons
                .into_iter()
                .map(|r| format!("{} overridden ({}): {}", r.code, o.reason, r.message))
                .collect();
        }
        None => {
            d.decision = Verdict::Deny;
            d.reasons = reasons;
            // Without `honorOverride`, break-glass does not open a closed window either: the
            // host keeps this denial under `--override-policy` and says this policy refused.
            d.overridable = rules.honor_override;
        }
    }
    Ok(d)
}
