//! Exports: every user, streamed as rows are read, as CSV (`GET /exports/users.csv`) or as
//! JSON Lines (`GET /exports/users.jsonl`, one `UserOut` per line).
//!
//! The rows go out as they come from storage (a few thousand at a time), gathered into chunks,
//! so memory stays flat however many users there are, and a client that goes away stops the
//! reading: nothing polls the stream any more. Both formats are compressed like any JSON body
//! when the client asks (`Accept-Encoding`), as a stream.

mod csv;
mod jsonl;
mod timestamp;

use crate::{auth::BearerAuth, errors::problem_for, reply::FromProblem, responses, tags::Tag};
use bytes::Bytes;
use domain::users::{ExportedUser, UserService, UserStream};
use futures_util::{Stream, StreamExt};
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

responses! {
    /// Responses of `GET /exports/users.jsonl`.
    pub enum UsersExportJsonl {
        /// Every user, ordered by id, as JSON Lines: one `UserOut` object per line, each line
        /// ended by `\n`.
        #[oai(status = 200, content_type = "application/jsonl")]
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
        match users.export(&auth.0) {
            Ok(rows) => UsersExport::Ok(
                Binary(Body::from_bytes_stream(chunked(
                    rows,
                    csv::HEADER,
                    csv::write_row,
                ))),
                attachment("users.csv"),
            ),
            Err(err) => UsersExport::from_problem(problem_for(err, req.uri().path())),
        }
    }

    /// Export users as JSON Lines
    ///
    /// For admins. One `UserOut` per line, in id order, streamed as rows are read, as the CSV
    /// export is.
    #[oai(
        path = "/exports/users.jsonl",
        method = "get",
        operation_id = "users_export_jsonl"
    )]
    async fn users_jsonl(
        &self,
        auth: BearerAuth,
        req: &Request,
        users: Data<&UserService>,
    ) -> UsersExportJsonl {
        match users.export(&auth.0) {
            Ok(rows) => UsersExportJsonl::Ok(
                Binary(Body::from_bytes_stream(chunked(
                    rows,
                    "",
                    jsonl::write_line,
                ))),
                attachment("users.jsonl"),
            ),
            Err(err) => UsersExportJsonl::from_problem(problem_for(err, req.uri().path())),
        }
    }
}

/// `Content-Disposition` for a download saved as `name`.
fn attachment(name: &str) -> String {
    format!("attachment; filename=\"{name}\"")
}

/// `rows` written by `write` after `header`, in chunks of about [`CHUNK`] bytes. A failed read
/// ends the body with an error, so that the client sees a broken transfer, not a short export.
fn chunked(
    mut rows: UserStream,
    header: &'static str,
    write: fn(&mut String, &ExportedUser),
) -> impl Stream<Item = std::io::Result<Bytes>> {
    async_stream::stream! {
        let mut chunk = String::with_capacity(CHUNK + 512);
        chunk.push_str(header);
        while let Some(row) = rows.next().await {
            match row {
                Ok(user) => write(&mut chunk, &user),
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
    async fn admins_get_every_user_as_json_lines_each_as_get_user_answers_it() {
        let app = test_app().await;
        let ann = app.signup("Lee, \"Ann\"\n", "ann@example.com").await;
        let admin = app.admin().await;
        let resp = app
            .client
            .get("/exports/users.jsonl")
            .header("authorization", format!("Bearer {admin}"))
            .send()
            .await
            .0;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/jsonl");
        assert!(
            resp.headers().get("etag").is_none(),
            "a stream is not read whole to tag it"
        );
        let text = resp.into_body().into_string().await.unwrap();
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 2, "{text}");
        let second: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        let read = app.send(Method::GET, &ann.uri, Some(&admin), None).await;
        assert_eq!(
            second, read.body,
            "a line is the user as GET /users/{{id}} has it"
        );
        let zstd = app
            .client
            .get("/exports/users.jsonl")
            .header("authorization", format!("Bearer {admin}"))
            .header("accept-encoding", "zstd")
            .send()
            .await
            .0;
        assert_eq!(zstd.headers()["content-encoding"], "zstd");
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
