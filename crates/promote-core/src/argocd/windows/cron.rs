//! A sync window's `schedule`, as Argo CD parses it: robfig/cron v3 with the fields
//! `Minute | Hour | Dom | Month | Dow` and no descriptors. Five fields of values, names (`JAN`,
//! `MON`, any case), ranges, lists, steps and `*`/`?`; an optional `TZ=Zone ` or `CRON_TZ=Zone `
//! prefix makes the schedule fire by that zone's clocks (daylight saving time included), else it
//! fires by the clock it is given. `@daily` and friends are refused, as Argo CD refuses them.
//!
//! A schedule fires at every instant whose civil time in its zone matches all fields: a time
//! skipped by a daylight-saving change does not fire, a time that happens twice fires twice.

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};

use super::zone;

/// The range and names of one field.
struct Bounds {
    what: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

impl Bounds {
    /// A field written only as numbers.
    const fn numeric(what: &'static str, min: u32, max: u32) -> Bounds {
        Bounds {
            what,
            min,
            max,
            names: &[],
        }
    }
}

const MINUTE: Bounds = Bounds::numeric("minute", 0, 59);
const HOUR: Bounds = Bounds::numeric("hour", 0, 23);
const DAY_OF_MONTH: Bounds = Bounds::numeric("day of month", 1, 31);
const MONTH: Bounds = Bounds {
    what: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DAY_OF_WEEK: Bounds = Bounds {
    what: "day of week",
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// One parsed field: the values it allows, and whether it was written as "any" (`*` or `?`
/// without a step above 1), which decides how the two day fields combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    bits: u64,
    any: bool,
}

impl Field {
    fn has(self, value: u32) -> bool {
        value < 64 && self.bits & (1 << value) != 0
    }
}

/// A parsed schedule.
#[derive(Clone, Debug)]
pub(super) struct Schedule {
    minute: Field,
    hour: Field,
    day_of_month: Field,
    month: Field,
    day_of_week: Field,
    /// `None`: the clock of the instants it is asked about (UTC here).
    zone: Option<TimeZone>,
}

impl Schedule {
    /// Parses `spec`; the error says what Argo CD would refuse in it.
    pub(super) fn parse(spec: &str) -> Result<Schedule, String> {
        if spec.is_empty() {
            return Err("the schedule is empty".to_owned());
        }
        let (zone, rest) = match spec
            .strip_prefix("CRON_TZ=")
            .or_else(|| spec.strip_prefix("TZ="))
        {
            Some(prefixed) => {
                let (name, rest) = prefixed
                    .split_once(' ')
                    .ok_or_else(|| format!("schedule {spec:?} names a time zone and no fields"))?;
                let zone =
                    zone::load(name).map_err(|e| format!("schedule {spec:?}: {}", e.describe()))?;
                (Some(zone), rest.trim())
            }
            None => (None, spec),
        };
        if rest.starts_with('@') {
            return Err(format!(
                "schedule {spec:?}: Argo CD does not accept descriptors such as @daily; write the five fields (minute hour day-of-month month day-of-week)"
            ));
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(format!(
                "schedule {spec:?} needs exactly 5 fields (minute hour day-of-month month day-of-week), has {}",
                fields.len()
            ));
        };
        let field = |text: &str, bounds: &Bounds| {
            parse_field(text, bounds).map_err(|problem| format!("schedule {spec:?}: {problem}"))
        };
        Ok(Schedule {
            minute: field(minute, &MINUTE)?,
            hour: field(hour, &HOUR)?,
            day_of_month: field(dom, &DAY_OF_MONTH)?,
            month: field(month, &MONTH)?,
            day_of_week: field(dow, &DAY_OF_WEEK)?,
            zone,
        })
    }

    /// The first instant after `t` at which the schedule fires, looking as far as robfig does:
    /// to the end of the fifth year after `t`'s. `None` when it does not fire by then (a
    /// schedule for February 30th never does).
    pub(super) fn next_after(&self, t: jiff::Timestamp) -> Option<jiff::Timestamp> {
        let zone = self.zone.clone().unwrap_or(TimeZone::UTC);
        let first = zone.to_datetime(t).date();
        let last_year = first.year().saturating_add(5);
        // A day before, for zones whose clocks go back across midnight.
        let mut date = first.yesterday().unwrap_or(first);
        let mut best: Option<jiff::Timestamp> = None;
        let mut stop: Option<Date> = None;
        while date.year() <= last_year && stop.is_none_or(|s| date <= s) {
            if !self.month.has(u32::from(date.month().unsigned_abs())) {
                date = match first_of_next_month(date) {
                    Some(d) => d,
                    None => break,
                };
                continue;
            }
            if self.day_matches(date) {
                for fire in self.fires_on(&zone, date).filter(|f| *f > t) {
                    if best.is_none_or(|b| fire < b) {
                        best = Some(fire);
                        // Instants on the next day could still come first around a fold.
                        stop = stop.or(date.tomorrow().ok());
                    }
                }
            }
            date = match date.tomorrow() {
                Ok(d) => d,
                Err(_) => break,
            };
        }
        best
    }

    /// robfig's rule: when either day field is "any", both must match; else either.
    fn day_matches(&self, date: Date) -> bool {
        let dom = self.day_of_month.has(u32::from(date.day().unsigned_abs()));
        let dow = self.day_of_week.has(u32::from(
            date.weekday().to_sunday_zero_offset().unsigned_abs(),
        ));
        if self.day_of_month.any || self.day_of_week.any {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// Every instant of `date`'s matching hours and minutes, by `zone`'s clocks.
    fn fires_on<'a>(
        &'a self,
        zone: &'a TimeZone,
        date: Date,
    ) -> impl Iterator<Item = jiff::Timestamp> + 'a {
        let hours = (0..24u8).filter(|h| self.hour.has(u32::from(*h)));
        hours.flat_map(move |h| {
            (0..60u8)
                .filter(|m| self.minute.has(u32::from(*m)))
                .flat_map(move |m| {
                    let civil =
                        DateTime::from_parts(date, jiff::civil::time(to_i8(h), to_i8(m), 0, 0));
                    instants(zone, civil)
                })
        })
    }
}

fn to_i8(v: u8) -> i8 {
    i8::try_from(v).unwrap_or(i8::MAX)
}

/// The instants that read `civil` on `zone`'s clocks: none in a gap, two in a fold.
fn instants(zone: &TimeZone, civil: DateTime) -> Vec<jiff::Timestamp> {
    let offsets = match zone.to_ambiguous_timestamp(civil).offset() {
        AmbiguousOffset::Unambiguous { offset } => vec![offset],
        AmbiguousOffset::Gap { .. } => vec![],
        AmbiguousOffset::Fold { before, after } => vec![before, after],
    };
    offsets
        .into_iter()
        .filter_map(|o| o.to_timestamp(civil).ok())
        .collect()
}

fn first_of_next_month(date: Date) -> Option<Date> {
    date.first_of_month()
        .checked_add(jiff::Span::new().months(1))
        .ok()
}

/// One field: a comma-separated list of ranges (empty items are skipped, as robfig skips them).
fn parse_field(text: &str, bounds: &Bounds) -> Result<Field, String> {
    let mut field = Field {
        bits: 0,
        any: false,
    };
    for expr in text.split(',').filter(|e| !e.is_empty()) {
        let part = parse_range(expr, bounds)?;
        field.bits |= part.bits;
        field.any |= part.any;
    }
    Ok(field)
}

/// `*`, `?`, `N`, `N-M`, each optionally `/step`; `N/step` runs from N to the field's end.
fn parse_range(expr: &str, b: &Bounds) -> Result<Field, String> {
    let bad = |why: String| format!("{} field {expr:?}: {why}", b.what);
    let (range, step) = match expr.split('/').collect::<Vec<_>>()[..] {
        [range] => (range, None),
        [range, step] => (range, Some(number(step).map_err(bad)?)),
        _ => return Err(bad("more than one `/`".to_owned())),
    };
    let ends: Vec<&str> = range.split('-').collect();
    let (mut start, mut end, mut any) = if matches!(ends[0], "*" | "?") {
        (b.min, b.max, true)
    } else {
        let start = value(ends[0], b).map_err(bad)?;
        match ends[..] {
            [_] => (start, start, false),
            [_, end] => (start, value(end, b).map_err(bad)?, false),
            _ => return Err(bad("more than one `-`".to_owned())),
        }
    };
    if let Some(step) = step {
        if ends.len() == 1 && !any {
            end = b.max;
        }
        if step > 1 {
            any = false;
        }
        if step == 0 {
            return Err(bad("a step must be a positive number".to_owned()));
        }
    }
    if start < b.min || end > b.max || start > end {
        return Err(bad(format!("outside {}-{}", b.min, b.max)));
    }
    let step = step.unwrap_or(1);
    let mut bits = 0u64;
    while start <= end {
        bits |= 1 << start;
        start += step;
    }
    Ok(Field { bits, any })
}

fn value(text: &str, b: &Bounds) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = b.names.iter().position(|n| *n == lower) {
        return Ok(b.min + u32::try_from(i).unwrap_or(0));
    }
    number(text)
}

fn number(text: &str) -> Result<u32, String> {
    let n: i64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    u32::try_from(n).map_err(|_| format!("{text:?} is negative or too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().expect("timestamp")
    }

    /// Whether `spec` fires at the minute `text`.
    fn fires(spec: &str, text: &str) -> bool {
        let t = at(text);
        let s = Schedule::parse(spec).expect("parse");
        s.next_after(t - jiff::SignedDuration::from_secs(1)) == Some(t)
    }

    #[test]
    fn fields_lists_ranges_steps_and_names() {
        // 2026-11-26 is a Thursday.
        assert!(fires("*/15 9-17 * * MON-FRI", "2026-11-26T09:45:00Z"));
        assert!(!fires("*/15 9-17 * * MON-FRI", "2026-11-26T09:44:00Z"));
        assert!(!fires("*/15 9-17 * * MON-FRI", "2026-11-26T18:00:00Z"));
        assert!(!fires("*/15 9-17 * * mon-fri", "2026-11-28T10:00:00Z"));
        assert!(fires("0 22 1,15 jan,DEC *", "2026-12-15T22:00:00Z"));
        assert!(!fires("0 22 1,15 jan,dec *", "2026-11-15T22:00:00Z"));
        // Both day fields restricted: either matches.
        assert!(fires("0 0 1 * 0", "2026-11-01T00:00:00Z"));
        assert!(fires("0 0 1 * 0", "2026-11-29T00:00:00Z"));
        assert!(!fires("0 0 1 * 0", "2026-11-28T00:00:00Z"));
        // `*/2` is not "any": with a restricted day of week, either day field matches.
        assert!(fires("0 0 */2 * 1", "2026-11-30T00:00:00Z"));
        // `?` is "any", in every field.
        assert!(fires("0 ? ? * ?", "2026-11-30T05:00:00Z"));
        // `N/step` runs to the end of the range.
        assert!(fires("5/20 * * * *", "2026-11-26T10:45:00Z"));
        assert!(!fires("5/20 * * * *", "2026-11-26T10:06:00Z"));
        assert_eq!(
            Schedule::parse("0 0 * * *")
                .unwrap()
                .next_after(at("2026-11-26T10:00:00Z")),
            Some(at("2026-11-27T00:00:00Z"))
        );
    }

    #[test]
    fn what_argo_cd_refuses_is_an_error() {
        for bad in [
            "",
            "* * * *",
            "* * * * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 7",
            "*/0 * * * *",
            "5-1 * * * *",
            "x * * * *",
            "1-2-3 * * * *",
            "*/2/3 * * * *",
            "-1 * * * *",
            "@daily",
            "CRON_TZ=Europe/Berlin @daily",
            "TZ=Mars/Base 0 0 * * *",
            "CRON_TZ=Europe/Berlin",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_schedule_that_never_fires_has_no_next() {
        let never = Schedule::parse("0 0 30 2 *").unwrap();
        assert_eq!(never.next_after(at("2026-01-01T00:00:00Z")), None);
        // Feb 29th fires within robfig's five years.
        let leap = Schedule::parse("0 0 29 2 *").unwrap();
        assert_eq!(
            leap.next_after(at("2026-03-01T00:00:00Z")),
            Some(at("2028-02-29T00:00:00Z"))
        );
    }

    #[test]
    fn cron_tz_fires_by_that_zones_clocks_across_daylight_saving_time() {
        let berlin = "CRON_TZ=Europe/Berlin 30 2 * * *";
        // Winter: 02:30 CET is 01:30 UTC; summer: 02:30 CEST is 00:30 UTC.
        assert!(fires(berlin, "2026-01-15T01:30:00Z"));
        assert!(fires(berlin, "2026-07-15T00:30:00Z"));
        // 2026-03-29 skips 02:00-03:00 in Berlin: no 02:30 that day.
        let s = Schedule::parse(berlin).unwrap();
        assert_eq!(
            s.next_after(at("2026-03-28T23:00:00Z")),
            Some(at("2026-03-30T00:30:00Z"))
        );
        // 2026-10-25 has 02:30 twice: CEST (00:30 UTC), then CET (01:30 UTC).
        assert_eq!(
            s.next_after(at("2026-10-24T23:00:00Z")),
            Some(at("2026-10-25T00:30:00Z"))
        );
        assert_eq!(
            s.next_after(at("2026-10-25T00:30:00Z")),
            Some(at("2026-10-25T01:30:00Z"))
        );
    }
}
