//! The users export as JSON Lines: one `UserOut` object per line, exactly as `GET /users/{id}`
//! writes it, written straight into the buffer (a JSON value per row would cost the export a
//! large share of its time).

use super::timestamp::{push_integer, write_timestamp};
use domain::users::ExportedUser;

/// Appends `user` as one line: `{"id":…,"name":…,"email":…,"bio":…,"created_at":…,
/// "updated_at":…}` and `\n`.
pub(super) fn write_line(out: &mut String, user: &ExportedUser) {
    out.push_str("{\"id\":");
    push_integer(out, user.id);
    out.push_str(",\"name\":");
    string(out, &user.name);
    out.push_str(",\"email\":");
    string(out, &user.email);
    out.push_str(",\"bio\":");
    match &user.bio {
        Some(bio) => string(out, bio),
        None => out.push_str("null"),
    }
    out.push_str(",\"created_at\":\"");
    write_timestamp(out, &user.created_at);
    out.push_str("\",\"updated_at\":\"");
    write_timestamp(out, &user.updated_at);
    out.push_str("\"}\n");
}

/// Appends `value` as a JSON string, escaped as serde_json escapes it.
fn string(out: &mut String, value: &str) {
    out.push('"');
    let mut plain = 0;
    for (at, byte) in value.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&value[plain..at]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        } else {
            out.push_str(escape);
        }
        plain = at + 1;
    }
    out.push_str(&value[plain..]);
    out.push('"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::{Value, json};

    fn line(name: &str, bio: Option<&str>) -> String {
        let at = chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let user = ExportedUser {
            id: 7,
            name: name.to_owned(),
            email: "ann@example.com".to_owned(),
            bio: bio.map(str::to_owned),
            created_at: at,
            updated_at: at + chrono::Duration::microseconds(1),
        };
        let mut out = String::new();
        write_line(&mut out, &user);
        out
    }

    #[test]
    fn a_line_is_the_user_as_get_user_writes_it_and_ends_with_a_newline() {
        let written = line("Ann", None);
        assert!(written.ends_with("}\n") && written.matches('\n').count() == 1);
        let value: Value = serde_json::from_str(&written).unwrap();
        assert_eq!(
            value,
            json!({
                "id": 7, "name": "Ann", "email": "ann@example.com", "bio": null,
                "created_at": "2026-01-02T03:04:05.000000Z",
                "updated_at": "2026-01-02T03:04:05.000001Z",
            })
        );
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["id", "name", "email", "bio", "created_at", "updated_at"]
        );
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them_on_one_line() {
        for tricky in [
            "Lee \"Ann\"",
            "back\\slash",
            "two\nlines\r\t",
            "bell\u{7}\u{1f}\u{8}\u{c}",
            "é ✓ /",
        ] {
            let written = line(tricky, Some(tricky));
            assert_eq!(written.matches('\n').count(), 1, "{written}");
            let value: Value = serde_json::from_str(&written).unwrap();
            assert_eq!(
                (value["name"].as_str(), value["bio"].as_str()),
                (Some(tricky), Some(tricky))
            );
            let mut expected = String::new();
            expected.push_str(&serde_json::to_string(tricky).unwrap());
            let mut ours = String::new();
            string(&mut ours, tricky);
            assert_eq!(ours, expected);
        }
    }
}
