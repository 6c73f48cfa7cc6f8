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

use crate::state::State;
use crate::{
    accept, auth::BearerAuth, errors::problem_for, responses, responses::FromProblem, tags::Tag,
};
use bytes::Bytes;
use domain::users::{ExportedUser, UserService, UserStream};
use futures_util::{Stream, StreamExt};
use poem::{Body, Request};
use poem_openapi::{
    OpenApi, ResponseContent,
    payload::Binary,
    registry::{MetaMediaType, MetaSchema, MetaSchemaRef},
};

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

/// The media type of JSON Lines.
const JSONL: &str = "application/jsonl";
/// What the same bytes are sent as to a client that asks for bytes rather than JSON Lines.
const OCTETS: &str = "application/octet-stream";

/// JSON Lines as a response: `application/jsonl`, or the same bytes labelled
/// `application/octet-stream` for a client that weighs that higher (a generator that knows no
/// JSON Lines reads the body as bytes).
pub struct JsonLines {
    body: Body,
    media: &'static str,
}

impl JsonLines {
    /// `body`, labelled as `accept` prefers.
    fn new(body: Body, accept: Option<&str>) -> Self {
        let octets = accept::quality(accept, OCTETS) > accept::quality(accept, JSONL);
        Self {
            body,
            media: if octets { OCTETS } else { JSONL },
        }
    }
}

impl ResponseContent for JsonLines {
    fn media_types() -> Vec<MetaMediaType> {
        [JSONL, OCTETS]
            .into_iter()
            .map(|content_type| MetaMediaType {
                content_type,
                schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format(
                    "string", "binary",
                ))),
            })
            .collect()
    }
}

impl poem::IntoResponse for JsonLines {
    fn into_response(self) -> poem::Response {
        poem::Response::builder()
            .content_type(self.media)
            .body(self.body)
    }
}

responses! {
    /// Responses of `GET /exports/users.jsonl`.
    pub enum UsersExportJsonl {
        /// Every user, ordered by id, as JSON Lines: one `UserOut` object per line, each line
        /// ended by `\n` (sent as `application/octet-stream` when `Accept` prefers that).
        #[oai(status = 200)]
        Ok(JsonLines, #[oai(header = "Content-Disposition")] String),
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
        users: State<'_, UserService>,
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
        users: State<'_, UserService>,
    ) -> UsersExportJsonl {
        match users.export(&auth.0) {
            Ok(rows) => {
                let lines = Body::from_bytes_stream(chunked(rows, "", jsonl::write_line));
                let accept = req.header(poem::http::header::ACCEPT);
                UsersExportJsonl::Ok(JsonLines::new(lines, accept), attachment("users.jsonl"))
            }
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
        let bytes = app
            .client
            .get("/exports/users.jsonl")
            .header("authorization", format!("Bearer {admin}"))
            .header("accept", "application/octet-stream")
            .send()
            .await
            .0;
        assert_eq!(bytes.headers()["content-type"], "application/octet-stream");
        assert_eq!(bytes.into_body().into_string().await.unwrap(), text);
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
