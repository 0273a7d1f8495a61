//! Parsing durations written by people (`500ms`, `5s`, `1h 30m`), safely.

use std::time::Duration;

/// `humantime::parse_duration`, without its panic: humantime 2.4
/// panics ("overflow in Duration::new", chronotope/humantime#66)
/// instead of failing when its running sum reaches u64::MAX seconds
/// plus exactly one carried second, as in
/// `18446744073709551615s 1000000000ns`. The sum is worked out first,
/// read as humantime reads it (exact whenever humantime would accept
/// the text); beyond `Duration::MAX` the answer is humantime's own
/// `NumberOverflow`, else humantime's.
pub fn checked_humantime(s: &str) -> Result<Duration, humantime::DurationError> {
    // Nanoseconds per unit; years for an unknown unit (humantime
    // fails there, after adding the terms before), none for a missing one.
    fn unit_ns(unit: &str) -> u128 {
        const SEC: u128 = 1_000_000_000;
        match unit {
            "" => 0,
            "nanos" | "nsec" | "ns" => 1,
            "usec" | "us" | "µs" => 1_000,
            "millis" | "msec" | "ms" => 1_000_000,
            "seconds" | "second" | "secs" | "sec" | "s" => SEC,
            "minutes" | "minute" | "min" | "mins" | "m" => 60 * SEC,
            "hours" | "hour" | "hr" | "hrs" | "h" => 3_600 * SEC,
            "days" | "day" | "d" => 86_400 * SEC,
            "weeks" | "week" | "wk" | "wks" | "w" => 604_800 * SEC,
            "months" | "month" | "M" => 2_630_016 * SEC,
            _ => 31_557_600 * SEC,
        }
    }
    // Terms are NUMBER[.FRACTION] UNIT; spaces inside a number are skipped.
    let term = |int: u128, frac: Option<(u128, u128)>, unit: &str| {
        let u = unit_ns(unit);
        let f = frac.map_or(0, |(num, den)| num.saturating_mul(u) / den);
        int.saturating_mul(u).saturating_add(f)
    };
    let (mut total, mut int, mut frac, mut unit) = (0u128, 0u128, None, String::new());
    for c in s.chars() {
        let letter = c.is_ascii_alphabetic() || c == 'µ';
        if !letter && !unit.is_empty() {
            total = total.saturating_add(term(int, frac, &unit));
            (int, frac) = (0, None);
            unit.clear();
        }
        match c {
            '0'..='9' => {
                let d = u128::from(c as u8 - b'0');
                match &mut frac {
                    None => int = int.saturating_mul(10).saturating_add(d),
                    Some((num, den)) => {
                        *num = num.saturating_mul(10).saturating_add(d);
                        *den = den.saturating_mul(10);
                    }
                }
            }
            '.' => {
                frac.get_or_insert((0, 1));
            }
            _ if letter => unit.push(c),
            _ if c.is_whitespace() => {}
            _ => break, // humantime fails here
        }
    }
    total = total.saturating_add(term(int, frac, &unit));
    if total > Duration::MAX.as_nanos() {
        return Err(humantime::DurationError::NumberOverflow);
    }
    humantime::parse_duration(s)
}
