//! Go's `time.ParseDuration`, which Argo CD reads a sync window's `duration` with: a sign, then
//! one or more decimal numbers each with a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), such as
//! `8h`, `1h30m`, `1.5h` or `-90s`; `0` alone is zero. Anything else, including `1d` and a value
//! beyond Go's ±292 years, is an error, as Argo CD makes it.

use jiff::SignedDuration;

/// The largest magnitude Go's `time.Duration` holds, in nanoseconds (2^63).
const LIMIT: u128 = 1 << 63;

/// Parses `text` as Go does; the error says what is wrong with it.
pub(super) fn parse(text: &str) -> Result<SignedDuration, String> {
    let invalid = || format!("duration {text:?} is not a Go duration (such as 8h, 1h30m or 90m)");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(SignedDuration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (nanos, after) = element(rest).ok_or_else(invalid)?;
        total += nanos;
        if total > LIMIT {
            return Err(invalid());
        }
        rest = after;
    }
    let signed = if negative {
        -i128::try_from(total).map_err(|_| invalid())?
    } else if total == LIMIT {
        return Err(invalid());
    } else {
        i128::try_from(total).map_err(|_| invalid())?
    };
    let nanos = i64::try_from(signed).map_err(|_| invalid())?;
    Ok(SignedDuration::from_nanos(nanos))
}

/// One `<number><unit>` element: its nanoseconds and the text after it.
fn element(text: &str) -> Option<(u128, &str)> {
    let int_len = text.bytes().take_while(u8::is_ascii_digit).count();
    let (int_digits, mut rest) = text.split_at(int_len);
    let mut frac_digits = "";
    if let Some(after_dot) = rest.strip_prefix('.') {
        let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        (frac_digits, rest) = after_dot.split_at(frac_len);
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let unit_len = rest
        .find(|c: char| c == '.' || c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (unit, rest) = rest.split_at(unit_len);
    let scale: u128 = match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    };
    // The integer part overflows Go's range long before u128's: refuse past it.
    let mut whole: u128 = 0;
    for d in int_digits.bytes() {
        whole = whole * 10 + u128::from(d - b'0');
        if whole > LIMIT {
            return None;
        }
    }
    let mut nanos = whole.checked_mul(scale)?;
    // The fraction, exact to the nanosecond: digits beyond what a nanosecond resolves are cut,
    // as Go's float arithmetic cuts them.
    let mut numerator: u128 = 0;
    let mut denominator: u128 = 1;
    for d in frac_digits.bytes().take(30) {
        numerator = numerator * 10 + u128::from(d - b'0');
        denominator *= 10;
    }
    nanos += numerator * scale / denominator;
    (nanos <= LIMIT).then_some((nanos, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> Option<i64> {
        parse(text).ok().map(|d| d.as_secs())
    }

    #[test]
    fn go_durations() {
        assert_eq!(secs("1h30m"), Some(5400));
        assert_eq!(secs("1.5h"), Some(5400));
        assert_eq!(secs(".5h"), Some(1800));
        assert_eq!(secs("90s"), Some(90));
        assert_eq!(secs("-90m"), Some(-5400));
        assert_eq!(secs("+8h"), Some(28_800));
        assert_eq!(secs("0"), Some(0));
        assert_eq!(parse("1500ms").unwrap(), SignedDuration::from_millis(1500));
        assert_eq!(parse("1µs").unwrap(), SignedDuration::from_micros(1));
    }

    #[test]
    fn what_go_refuses_is_refused() {
        for bad in [
            "",
            "1d",
            "h",
            "1",
            ".h",
            "-",
            "1h 30m",
            "1H",
            "0h0",
            "9999999999999999999h",
            "2562048h",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        // Go's limit: 2562047h47m16.854775807s.
        assert!(parse("2562047h").is_ok());
    }
}
