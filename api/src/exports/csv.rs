//! The users export as CSV: a header line, then one RFC 4180 row per user, CRLF-terminated.

use super::timestamp::{push_integer, write_timestamp};
use domain::users::ExportedUser;

/// The header line.
pub(super) const HEADER: &str = "id,name,email,created_at\r\n";

/// Appends one RFC 4180 row.
pub(super) fn write_row(out: &mut String, user: &ExportedUser) {
    push_integer(out, user.id);
    for text in [&user.name, &user.email] {
        out.push(',');
        field(out, text);
    }
    out.push(',');
    write_timestamp(out, &user.created_at);
    out.push_str("\r\n");
}

/// Appends a field, quoted (with inner quotes doubled) when it holds a comma, a quote or a line
/// break.
fn field(out: &mut String, value: &str) {
    if value.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn row(name: &str, email: &str) -> String {
        let user = ExportedUser {
            id: 7,
            name: name.to_owned(),
            email: email.to_owned(),
            bio: None,
            created_at: chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            updated_at: chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
        };
        let mut out = String::new();
        write_row(&mut out, &user);
        out
    }

    #[test]
    fn plain_fields_go_as_they_are() {
        assert_eq!(
            row("Ann", "ann@example.com"),
            "7,Ann,ann@example.com,2026-01-02T03:04:05.000000Z\r\n"
        );
    }

    #[test]
    fn commas_quotes_and_line_breaks_are_quoted_rfc_4180_style() {
        assert_eq!(
            row("Lee, \"Ann\"\nJr", "a@example.com"),
            "7,\"Lee, \"\"Ann\"\"\nJr\",a@example.com,2026-01-02T03:04:05.000000Z\r\n"
        );
    }
}
