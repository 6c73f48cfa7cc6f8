//! Exports: `GET /exports/users.csv`, every user as CSV, streamed as rows are read.
//!
//! The rows go out as they come from storage (a few thousand at a time), so memory stays flat
//! however many users there are, and a client that goes away stops the reading: nothing polls
//! the stream any more.

use crate::{auth::BearerAuth, errors::problem_for, reply::FromProblem, responses, tags::Tag};
use bytes::Bytes;
use chrono::{DateTime, Datelike, Timelike, Utc};
use domain::users::{ExportedUser, UserService};
use futures_util::StreamExt;
use poem::{Body, Request, web::Data};
use poem_openapi::{OpenApi, payload::Binary};

/// The exports operations.
#[derive(Default)]
pub struct ExportsApi;

/// Bytes gathered before a chunk goes out: large enough to spare syscalls, small enough that
/// memory stays flat.
const CHUNK: usize = 32 * 1024;

responses! {
    /// Responses of `GET /exports/users.csv`.
    pub enum UsersExport {
        /// Every user, ordered by id: a header line `id,name,email,created_at`, then one RFC 4180
        /// row per user, CRLF-terminated.
        #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
        Ok(Binary<Body>, #[oai(header = "Content-Disposition")] String),
    }
    guarded("Only an admin may export users.");
    problems {}
}

#[OpenApi(tag = "Tag::Exports")]
impl ExportsApi {
    /// Export users as CSV
    ///
    /// For admins. Streamed as rows are read: the answer starts at once and takes as long as
    /// the export does.
    #[oai(
        path = "/exports/users.csv",
        method = "get",
        operation_id = "users_export"
    )]
    async fn users(
        &self,
        auth: BearerAuth,
        req: &Request,
        users: Data<&UserService>,
    ) -> UsersExport {
        let mut rows = match users.export(&auth.0) {
            Ok(rows) => rows,
            Err(err) => return UsersExport::from_problem(problem_for(err, req.uri().path())),
        };
        let csv = async_stream::stream! {
            let mut chunk = String::from("id,name,email,created_at\r\n");
            while let Some(row) = rows.next().await {
                match row {
                    Ok(user) => write_row(&mut chunk, &user),
                    Err(err) => {
                        tracing::error!(error = %err, "export failed midway");
                        yield Err(std::io::Error::other("the export failed"));
                        return;
                    }
                }
                if chunk.len() >= CHUNK {
                    yield Ok(Bytes::from(std::mem::replace(&mut chunk, String::with_capacity(CHUNK + 512))));
                }
            }
            yield Ok::<_, std::io::Error>(Bytes::from(chunk));
        };
        let disposition = r#"attachment; filename="users.csv""#.to_owned();
        UsersExport::Ok(Binary(Body::from_bytes_stream(csv)), disposition)
    }
}

/// Appends one RFC 4180 row.
fn write_row(out: &mut String, user: &ExportedUser) {
    if user.id < 0 {
        out.push('-');
    }
    push_digits(out, user.id.unsigned_abs(), 1);
    out.push(',');
    field(out, &user.name);
    out.push(',');
    field(out, &user.email);
    out.push(',');
    write_timestamp(out, &user.created_at);
    out.push_str("\r\n");
}

/// Appends `at` as the JSON bodies show it (`2026-01-02T03:04:05.000000Z`), written straight
/// into the buffer: chrono's RFC 3339 writer, a JSON value and then `write!` each cost the
/// export a large share of its time.
fn write_timestamp(out: &mut String, at: &DateTime<Utc>) {
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
            created_at: chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
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
    fn timestamps_read_as_in_the_json_bodies() {
        use crate::types::Timestamp;
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

    #[test]
    fn commas_quotes_and_line_breaks_are_quoted_rfc_4180_style() {
        assert_eq!(
            row("Lee, \"Ann\"\nJr", "a@example.com"),
            "7,\"Lee, \"\"Ann\"\"\nJr\",a@example.com,2026-01-02T03:04:05.000000Z\r\n"
        );
    }
}

#[cfg(test)]
mod api_tests {
    use crate::test_support::{test_app, user_in};
    use poem::http::Method;

    #[tokio::test]
    async fn admins_get_every_user_as_csv_in_id_order() {
        let app = test_app().await;
        app.send(
            Method::POST,
            "/users",
            None,
            Some(&user_in("Lee, \"Ann\"", "ann@example.com")),
        )
        .await;
        let admin = app.admin().await;
        let resp = app
            .client
            .get("/exports/users.csv")
            .header("authorization", format!("Bearer {admin}"))
            .send()
            .await
            .0;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
        assert_eq!(
            resp.headers()["content-disposition"],
            "attachment; filename=\"users.csv\""
        );
        let csv = resp.into_body().into_string().await.unwrap();
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], "id,name,email,created_at");
        assert!(
            lines[1].starts_with("1,Administrator,admin@example.com,"),
            "{csv}"
        );
        assert!(
            lines[2].starts_with("2,\"Lee, \"\"Ann\"\"\",ann@example.com,"),
            "{csv}"
        );
        assert_eq!(lines[3], "", "every row ends with CRLF");
        assert_eq!(lines.len(), 4);
    }

    #[tokio::test]
    async fn users_cannot_export_403() {
        let app = test_app().await;
        let ann = app.signup("Ann", "ann@example.com").await;
        let reply = app
            .send(Method::GET, "/exports/users.csv", Some(&ann.token), None)
            .await;
        reply.assert_problem(403, "/exports/users.csv");
    }
}
