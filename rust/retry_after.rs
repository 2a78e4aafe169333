//! How long a server asked us to wait, from the headers and bodies the providers send.
//!
//! * `retry-after-ms` (OpenAI): milliseconds, integer or decimal. It wins when it parses.
//! * `retry-after` (RFC 9110): delay-seconds (integer, or decimal as some servers send) or an
//!   HTTP-date in IMF-fixdate form (`Wed, 21 Oct 2015 07:28:00 GMT`); a date in the past means
//!   0. The obsolete RFC 850 and asctime date forms are not accepted.
//! * Gemini's `RetryInfo.retryDelay`: a protobuf JSON duration such as `"1.5s"`; Go-style
//!   durations (`"6m0s"`) are accepted too.
//!
//! Fractions of a millisecond round up, so the wait is never shorter than asked. Anything else
//! (negative numbers, exponents, stray text) is `None`; nothing here panics.

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MS_PER_DAY: i64 = 86_400_000;

/// The wait in milliseconds from a response's `retry-after-ms` and `retry-after` headers.
pub fn parse_retry_after(
    retry_after_ms: Option<&str>,
    retry_after: Option<&str>,
    now_unix_ms: u64,
) -> Option<u64> {
    if let Some(ns) = retry_after_ms.and_then(|s| decimal_ns(s.trim(), NS_PER_MS)) {
        return Some(ns_to_ms(ns));
    }
    let value = retry_after?.trim();
    match decimal_ns(value, NS_PER_S) {
        Some(ns) => Some(ns_to_ms(ns)),
        None => {
            let at = http_date_unix_ms(value)?;
            Some(u64::try_from(at).unwrap_or(0).saturating_sub(now_unix_ms))
        }
    }
}

/// Milliseconds in a duration string: protobuf JSON (`"30s"`, `"1.5s"`, `"0.250s"`) or Go
/// (`"6m0s"`, `"1h2m"`, `"300ms"`; units `h m s ms us µs ns`; a bare `"0"`).
pub fn parse_duration(s: &str) -> Option<u64> {
    let mut rest = s.trim();
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total_ns: u128 = 0;
    while !rest.is_empty() {
        let is_number = |c: char| c.is_ascii_digit() || c == '.';
        let (number, after) = rest.split_at(rest.find(|c| !is_number(c)).unwrap_or(rest.len()));
        let (unit, next) = after.split_at(after.find(is_number).unwrap_or(after.len()));
        let unit_ns = match unit {
            "h" => 3_600 * NS_PER_S,
            "m" => 60 * NS_PER_S,
            "s" => NS_PER_S,
            "ms" => NS_PER_MS,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ns" => 1,
            _ => return None,
        };
        total_ns = total_ns.saturating_add(decimal_ns(number, unit_ns)?);
        rest = next;
    }
    Some(ns_to_ms(total_ns))
}

const NS_PER_MS: u128 = 1_000_000;
const NS_PER_S: u128 = 1_000_000_000;
/// Fraction digits read exactly; any non-zero digit past them rounds up by a nanosecond.
const FRACTION_DIGITS: usize = 18;

fn ns_to_ms(ns: u128) -> u64 {
    u64::try_from(ns.div_ceil(NS_PER_MS)).unwrap_or(u64::MAX)
}

/// A non-negative decimal (digits, at most one dot) times `unit_ns`, in nanoseconds rounded
/// up; saturates rather than overflowing.
fn decimal_ns(s: &str, unit_ns: u128) -> Option<u128> {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let digits_value = |digits: &[u8]| {
        digits.iter().fold(0u128, |acc, &d| {
            acc.saturating_mul(10).saturating_add(u128::from(d - b'0'))
        })
    };
    let (exact, beyond) = fraction
        .as_bytes()
        .split_at(fraction.len().min(FRACTION_DIGITS));
    let fraction_ns = (digits_value(exact) * unit_ns).div_ceil(10u128.pow(exact.len() as u32));
    let rounds_up = beyond.iter().any(|&b| b != b'0');
    Some(
        digits_value(whole.as_bytes())
            .saturating_mul(unit_ns)
            .saturating_add(fraction_ns)
            .saturating_add(u128::from(rounds_up)),
    )
}

/// Unix milliseconds of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date_unix_ms(s: &str) -> Option<i64> {
    let mut parts = s.split_ascii_whitespace();
    let weekday = parts.next()?.strip_suffix(',')?;
    let day: u32 = two_digits(parts.next()?)?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|&m| m == month_name)? as u32 + 1;
    let year_text = parts.next()?;
    let year: i64 = year_text.parse().ok().filter(|_| year_text.len() == 4)?;
    let mut clock = parts.next()?.split(':');
    let (h, m, sec) = (
        two_digits(clock.next()?)?,
        two_digits(clock.next()?)?,
        two_digits(clock.next()?)?,
    );
    let valid = WEEKDAYS.contains(&weekday)
        && parts.next()? == "GMT"
        && parts.next().is_none()
        && clock.next().is_none()
        && (1..=days_in_month(year, month)).contains(&day)
        && h < 24
        && m < 60
        && sec < 61;
    let seconds = i64::from(h * 3600 + m * 60 + sec);
    valid.then(|| days_from_civil(year, month, day) * MS_PER_DAY + seconds * 1000)
}

fn two_digits(s: &str) -> Option<u32> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
