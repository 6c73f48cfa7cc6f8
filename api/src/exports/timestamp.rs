//! Timestamps and integers written straight into an export's buffer: chrono's RFC 3339 writer,
//! a JSON value and then `write!` each cost an export a large share of its time.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// Appends `at` as the JSON bodies show it (`2026-01-02T03:04:05.000000Z`), written straight
/// into the buffer: chrono's RFC 3339 writer, a JSON value and then `write!` each cost the
/// export a large share of its time.
pub(super) fn write_timestamp(out: &mut String, at: &DateTime<Utc>) {
    let year = u64::try_from(at.year()).unwrap_or(0);
    push_digits(out, year, 4);
    for (separator, value) in [
        ('-', at.month()),
        ('-', at.day()),
        ('T', at.hour()),
        (':', at.minute()),
        (':', at.second()),
    ] {
        out.push(separator);
        push_digits(out, u64::from(value), 2);
    }
    out.push('.');
    push_digits(out, u64::from(at.nanosecond() / 1000), 6);
    out.push('Z');
}

/// Appends a signed `value` in decimal, as JSON and CSV write an id.
pub(super) fn push_integer(out: &mut String, value: i64) {
    if value < 0 {
        out.push('-');
    }
    push_digits(out, value.unsigned_abs(), 1);
}

/// Appends `value` in decimal, zero-padded to at least `width` digits.
fn push_digits(out: &mut String, mut value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    while value > 0 || start == digits.len() {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
    }
    let start = start.min(digits.len().saturating_sub(width));
    // ASCII digits: always UTF-8.
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_read_as_in_the_json_bodies() {
        use crate::json_types::Timestamp;
        use poem_openapi::types::ToJSON;

        for nanos in [0, 1_000, 123_456_789, 999_999_999] {
            let at = chrono::Utc.with_ymd_and_hms(2026, 11, 5, 23, 9, 7).unwrap()
                + chrono::Duration::nanoseconds(nanos);
            let mut out = String::new();
            write_timestamp(&mut out, &at);
            assert_eq!(
                Some(serde_json::Value::String(out)),
                Timestamp(at).to_json()
            );
        }
    }

    #[test]
    fn ids_are_written_whole() {
        let mut out = String::new();
        for (id, expected) in [(1, "1"), (10, "10"), (i64::MAX, "9223372036854775807")] {
            out.clear();
            push_digits(&mut out, u64::try_from(id).unwrap(), 1);
            assert_eq!(out, expected);
        }
        out.clear();
        push_digits(&mut out, 0, 6);
        assert_eq!(out, "000000");
    }
}
