//! Parsing Salesforce's text values into typed values, and formatting typed values back
//! into the text Bulk ingest accepts. Pure functions, no allocation on the parse side.

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

#[inline]
fn digits(s: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u32;
    }
    Some(v)
}

/// `YYYY-MM-DD` → days since the epoch.
pub fn parse_date(s: &[u8]) -> Option<i32> {
    if s.len() != 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let y = digits(&s[0..4])? as i64;
    let m = digits(&s[5..7])?;
    let d = digits(&s[8..10])?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    i32::try_from(days_from_civil(y, m, d)).ok()
}

/// `HH:MM:SS[.fff…]` at the start of `s`: (milliseconds into the day, bytes used).
fn parse_clock(s: &[u8]) -> Option<(i64, usize)> {
    if s.len() < 8 || s[2] != b':' || s[5] != b':' {
        return None;
    }
    let h = digits(&s[0..2])?;
    let mi = digits(&s[3..5])?;
    let se = digits(&s[6..8])?;
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut used = 8;
    let mut millis = 0i64;
    if s.len() > 8 && s[8] == b'.' {
        let frac_start = 9;
        let mut end = frac_start;
        while end < s.len() && s[end].is_ascii_digit() {
            end += 1;
        }
        if end == frac_start {
            return None;
        }
        // Salesforce's precision is the millisecond: keep three digits, ignore the rest.
        let mut scale = 100;
        for &b in &s[frac_start..end.min(frac_start + 3)] {
            millis += (b - b'0') as i64 * scale;
            scale /= 10;
        }
        used = end;
    }
    let total = ((h as i64 * 60 + mi as i64) * 60 + se as i64) * 1000 + millis;
    Some((total, used))
}

/// A zone suffix: `Z`, `+HHMM`, `+HH:MM`, `+HH`, or nothing (UTC) → offset in minutes.
fn parse_zone(s: &[u8]) -> Option<i64> {
    match s {
        [] | [b'Z'] | [b'z'] => Some(0),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest.len() {
                2 => (digits(rest)?, 0),
                4 => (digits(&rest[0..2])?, digits(&rest[2..4])?),
                5 if rest[2] == b':' => (digits(&rest[0..2])?, digits(&rest[3..5])?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = (h * 60 + m) as i64;
            Some(if *sign == b'-' { -minutes } else { minutes })
        }
        _ => None,
    }
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ` (or a `+0000`/`+00:00` offset, or none) → UTC milliseconds
/// since the epoch.
pub fn parse_datetime(s: &[u8]) -> Option<i64> {
    if s.len() < 19 || !(s[10] == b'T' || s[10] == b' ') {
        return None;
    }
    let days = parse_date(&s[0..10])? as i64;
    let (clock, used) = parse_clock(&s[11..])?;
    let offset_min = parse_zone(&s[11 + used..])?;
    Some(days * 86_400_000 + clock - offset_min * 60_000)
}

/// Like `parse_datetime`, in microseconds.
#[inline]
pub fn parse_datetime_micros(s: &[u8]) -> Option<i64> {
    parse_datetime(s)?.checked_mul(1000)
}

/// `HH:MM:SS.sssZ` → nanoseconds since midnight.
pub fn parse_time(s: &[u8]) -> Option<i64> {
    let (clock, used) = parse_clock(s)?;
    let offset_min = parse_zone(&s[used..])?;
    let ms = (clock - offset_min * 60_000).rem_euclid(86_400_000);
    Some(ms * 1_000_000)
}

/// `true`/`false` in any case, or `1`/`0`.
pub fn parse_bool(s: &[u8]) -> Option<bool> {
    if s.eq_ignore_ascii_case(b"true") || s == b"1" {
        Some(true)
    } else if s.eq_ignore_ascii_case(b"false") || s == b"0" {
        Some(false)
    } else {
        None
    }
}

/// An integer, optionally signed; a zero fraction (`12.0`) is accepted because formula
/// and roll-up fields sometimes render integers that way.
pub fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, body) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let int_part = match memchr::memchr(b'.', body) {
        Some(dot) => {
            if !body[dot + 1..].iter().all(|&b| b == b'0') {
                return None;
            }
            &body[..dot]
        }
        None => body,
    };
    if int_part.is_empty() || int_part.len() > 19 {
        return None;
    }
    let mut v: i64 = 0;
    for &b in int_part {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(d as i64)?;
    }
    Some(if neg { -v } else { v })
}

/// A decimal number as Salesforce renders it (plain or with an exponent).
pub fn parse_double(s: &[u8]) -> Option<f64> {
    // Only the digits/sign/dot/exponent alphabet: refuses `inf`, `nan` and whitespace.
    if s.is_empty()
        || !s
            .iter()
            .all(|&b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return None;
    }
    // SAFETY-free: the alphabet check above guarantees ASCII.
    std::str::from_utf8(s).ok()?.parse::<f64>().ok()
}

/// Writes `days` since the epoch as `YYYY-MM-DD`.
pub fn write_date(out: &mut Vec<u8>, days: i64) {
    let (y, m, d) = civil_from_days(days);
    write_padded(out, y, 4);
    out.push(b'-');
    write_padded(out, m as i64, 2);
    out.push(b'-');
    write_padded(out, d as i64, 2);
}

/// Writes a time of day in milliseconds as `HH:MM:SS.sss`.
pub fn write_clock(out: &mut Vec<u8>, ms_of_day: i64) {
    let ms = ms_of_day.rem_euclid(86_400_000);
    write_padded(out, ms / 3_600_000, 2);
    out.push(b':');
    write_padded(out, ms / 60_000 % 60, 2);
    out.push(b':');
    write_padded(out, ms / 1000 % 60, 2);
    out.push(b'.');
    write_padded(out, ms % 1000, 3);
}

/// Writes UTC milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.sssZ`.
pub fn write_datetime(out: &mut Vec<u8>, ms: i64) {
    let days = ms.div_euclid(86_400_000);
    write_date(out, days);
    out.push(b'T');
    write_clock(out, ms.rem_euclid(86_400_000));
    out.push(b'Z');
}

fn write_padded(out: &mut Vec<u8>, v: i64, width: usize) {
    if v < 0 {
        out.push(b'-');
        return write_padded(out, -v, width);
    }
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut n = v as u64;
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for _ in (tmp.len() - i)..width {
        out.push(b'0');
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Writes an integer in plain decimal.
#[inline]
pub fn write_int(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_uint(out, v.unsigned_abs());
}

/// Writes an unsigned integer in plain decimal.
#[inline]
pub fn write_uint(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Writes a float as the shortest decimal that round-trips, never with an exponent
/// (Salesforce rejects `1e-7`). Non-finite values have no Bulk CSV form: returns false.
pub fn write_f64(out: &mut Vec<u8>, v: f64) -> bool {
    if !v.is_finite() {
        return false;
    }
    use std::io::Write;
    // Rust's Display for floats is shortest-round-trip and positional (no exponent).
    let _ = write!(out, "{}", v);
    true
}

/// Writes a 32-bit float via its shortest round-trip form.
pub fn write_f32(out: &mut Vec<u8>, v: f32) -> bool {
    if !v.is_finite() {
        return false;
    }
    use std::io::Write;
    let _ = write!(out, "{}", v);
    true
}

/// Writes a scaled decimal (`value / 10^scale`) in plain notation.
pub fn write_decimal(out: &mut Vec<u8>, value: i128, scale: i8) {
    if scale <= 0 {
        let _ = std::io::Write::write_fmt(out, format_args!("{}", value));
        for _ in 0..(-scale as usize) {
            out.push(b'0');
        }
        return;
    }
    let neg = value < 0;
    let digits = value.unsigned_abs().to_string();
    let scale = scale as usize;
    if neg {
        out.push(b'-');
    }
    if digits.len() <= scale {
        out.extend_from_slice(b"0.");
        for _ in 0..(scale - digits.len()) {
            out.push(b'0');
        }
        out.extend_from_slice(digits.as_bytes());
    } else {
        let split = digits.len() - scale;
        out.extend_from_slice(&digits.as_bytes()[..split]);
        out.push(b'.');
        out.extend_from_slice(&digits.as_bytes()[split..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_datetimes_parse_to_utc_millis() {
        assert_eq!(parse_datetime(b"1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            parse_datetime(b"2024-01-31T12:34:56.789Z"),
            Some(1_706_704_496_789)
        );
        assert_eq!(
            parse_datetime(b"2024-01-31T12:34:56.789+0000"),
            Some(1_706_704_496_789)
        );
        assert_eq!(
            parse_datetime(b"2024-01-31T13:34:56.789+01:00"),
            Some(1_706_704_496_789)
        );
        assert_eq!(
            parse_datetime(b"2024-01-31T12:34:56Z"),
            Some(1_706_704_496_000)
        );
        assert_eq!(parse_datetime(b"2024-02-30T12:34:56Z"), None);
        assert_eq!(parse_datetime(b"2024-01-31"), None);
        assert_eq!(parse_datetime(b"2024-01-31T25:00:00Z"), None);
    }

    #[test]
    fn dates_times_and_numbers_parse() {
        assert_eq!(parse_date(b"2024-02-29"), Some(19_782));
        assert_eq!(parse_date(b"2023-02-29"), None);
        assert_eq!(parse_date(b"1969-12-31"), Some(-1));
        assert_eq!(parse_time(b"12:34:56.000Z"), Some(45_296_000_000_000));
        assert_eq!(parse_int(b"-42"), Some(-42));
        assert_eq!(parse_int(b"12.0"), Some(12));
        assert_eq!(parse_int(b"12.5"), None);
        assert_eq!(parse_int(b"99999999999999999999"), None);
        assert_eq!(parse_double(b"1.5E3"), Some(1500.0));
        assert_eq!(parse_double(b"inf"), None);
        assert_eq!(parse_bool(b"TRUE"), Some(true));
        assert_eq!(parse_bool(b"yes"), None);
    }

    #[test]
    fn civil_round_trip_over_four_centuries() {
        for days in (-200_000..200_000).step_by(37) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn formatting_matches_salesforce_formats() {
        let mut out = Vec::new();
        write_datetime(&mut out, 1_706_704_496_789);
        assert_eq!(out, b"2024-01-31T12:34:56.789Z");
        out.clear();
        write_f64(&mut out, 1e-7);
        assert_eq!(out, b"0.0000001");
        out.clear();
        write_f64(&mut out, 1e21);
        assert_eq!(out, b"1000000000000000000000");
        out.clear();
        write_decimal(&mut out, -1234, 3);
        assert_eq!(out, b"-1.234");
        out.clear();
        write_decimal(&mut out, 5, 3);
        assert_eq!(out, b"0.005");
        out.clear();
        write_int(&mut out, i64::MIN);
        assert_eq!(out, b"-9223372036854775808");
    }
}
