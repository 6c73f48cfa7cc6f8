use crate::test_support::{FILE_LIMIT, Reply, TestApp, test_app};
use poem::http::{Method, StatusCode};
use serde_json::Value;

const CONTENT: &[u8] = b"0123456789abcdefghij";

async fn upload(app: &TestApp, token: &str, name: &str, bytes: &'static [u8]) -> Reply {
    Reply::of(
        app.client
            .put(format!("/files/{name}"))
            .header("authorization", format!("Bearer {token}"))
            .content_type("application/octet-stream")
            .body(bytes)
            .send()
            .await,
    )
    .await
}

struct Raw {
    status: StatusCode,
    headers: poem::http::HeaderMap,
    body: Vec<u8>,
}

async fn download(
    app: &TestApp,
    method: Method,
    uri: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> Raw {
    let mut request = app
        .client
        .request(method, uri)
        .header("authorization", format!("Bearer {token}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let resp = request.send().await.0;
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = resp.into_body().into_bytes().await.unwrap().to_vec();
    Raw {
        status,
        headers,
        body,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn admin_upload_is_201_then_200_on_replace() {
    let app = test_app().await;
    let admin = app.admin().await;
    let reply = upload(&app, &admin, "notes.txt", CONTENT).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.header("location"), Some("/files/notes.txt"));
    assert_eq!(reply.body["name"], "notes.txt");
    assert_eq!(reply.body["size"], CONTENT.len());
    assert_eq!(reply.body["sha256"], sha256_hex(CONTENT));
    let created_at = reply.body["created_at"].clone();
    let reply = upload(&app, &admin, "notes.txt", b"new").await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("location").is_none());
    assert_eq!(
        (reply.body["size"].as_u64(), &reply.body["created_at"]),
        (Some(3), &created_at)
    );
    let got = download(&app, Method::GET, "/files/notes.txt", &admin, &[]).await;
    assert_eq!(got.body, b"new");
}

#[tokio::test]
async fn upload_without_a_content_type_is_taken() {
    let app = test_app().await;
    let admin = app.admin().await;
    let reply = Reply::of(
        app.client
            .put("/files/raw.bin")
            .header("authorization", format!("Bearer {admin}"))
            .body(&b"raw"[..])
            .send()
            .await,
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

#[tokio::test]
async fn only_admins_write_files_and_every_user_reads_them() {
    let app = test_app().await;
    let admin = app.admin().await;
    upload(&app, &admin, "shared.txt", CONTENT).await;
    let ann = app.signup("Ann", "ann@example.com").await;
    let reply = upload(&app, &ann.token, "shared.txt", b"mine").await;
    reply.assert_problem(403, "/files/shared.txt");
    let reply = app
        .send(Method::DELETE, "/files/shared.txt", Some(&ann.token), None)
        .await;
    reply.assert_problem(403, "/files/shared.txt");
    let got = download(&app, Method::GET, "/files/shared.txt", &ann.token, &[]).await;
    assert_eq!((got.status, got.body.as_slice()), (StatusCode::OK, CONTENT));
    let list = app
        .send(Method::GET, "/files", Some(&ann.token), None)
        .await;
    assert_eq!(list.body["items"][0]["name"], "shared.txt");
}

#[tokio::test]
async fn upload_over_the_limit_is_413_and_keeps_the_old_version() {
    let app = test_app().await;
    let admin = app.admin().await;
    upload(&app, &admin, "big.bin", CONTENT).await;
    let too_big = vec![b'x'; FILE_LIMIT as usize + 1];
    let reply = Reply::of(
        app.client
            .put("/files/big.bin")
            .header("authorization", format!("Bearer {admin}"))
            .header("content-length", too_big.len())
            .body(too_big)
            .send()
            .await,
    )
    .await;
    reply.assert_problem(413, "/files/big.bin");
    let got = download(&app, Method::GET, "/files/big.bin", &admin, &[]).await;
    assert_eq!(got.body, CONTENT);
}

#[tokio::test]
async fn download_carries_type_disposition_length_etag_and_accept_ranges() {
    let app = test_app().await;
    let admin = app.admin().await;
    upload(&app, &admin, "notes.txt", CONTENT).await;
    let got = download(&app, Method::GET, "/files/notes.txt", &admin, &[]).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, CONTENT);
    let header = |name: &str| got.headers[name].to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "application/octet-stream");
    assert_eq!(
        header("content-disposition"),
        "attachment; filename=\"notes.txt\""
    );
    assert_eq!(header("content-length"), CONTENT.len().to_string());
    assert_eq!(header("etag"), format!("\"{}\"", sha256_hex(CONTENT)));
    assert_eq!(header("accept-ranges"), "bytes");
    assert!(header("last-modified").ends_with(" GMT"));
}

#[tokio::test]
async fn a_single_range_is_206_with_exactly_those_bytes_even_covering_the_whole_file() {
    let app = test_app().await;
    let admin = app.admin().await;
    upload(&app, &admin, "notes.txt", CONTENT).await;
    for (range, expected, content_range) in [
        ("bytes=2-5", &CONTENT[2..6], "bytes 2-5/20"),
        ("bytes=15-", &CONTENT[15..], "bytes 15-19/20"),
        ("bytes=-4", &CONTENT[16..], "bytes 16-19/20"),
        ("bytes=10-999", &CONTENT[10..], "bytes 10-19/20"),
        ("bytes=0-0", &CONTENT[..1], "bytes 0-0/20"),
        ("bytes=0-", CONTENT, "bytes 0-19/20"),
        ("bytes=-20", CONTENT, "bytes 0-19/20"),
    ] {
        let got = download(
            &app,
            Method::GET,
            "/files/notes.txt",
            &admin,
            &[("range", range)],
        )
        .await;
        assert_eq!(got.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(got.body, expected, "{range}");
        assert_eq!(got.headers["content-range"], content_range, "{range}");
        assert_eq!(
            got.headers["content-length"],
            expected.len().to_string().as_str()
        );
    }
}

#[tokio::test]
async fn a_range_past_the_end_is_416_with_the_size_and_ignored_ranges_are_200() {
    let app = test_app().await;
    let admin = app.admin().await;
    upload(&app, &admin, "notes.txt", CONTENT).await;
    let got = download(
        &app,
        Method::GET,
        "/files/notes.txt",
        &admin,
        &[("range", "bytes=20-")],
    )
    .await;
    assert_eq!(got.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(got.headers["content-range"], "bytes */20");
    assert_eq!(got.headers["content-type"], "application/problem+json");
    let problem: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(problem["status"], 416);
    for ignored in ["bytes=0-1,5-6", "lines=1-2", "bytes=9-2"] {
        let got = download(
            &app,
            Method::GET,
            "/files/notes.txt",
            &admin,
            &[("range", ignored)],
        )
        .await;
        assert_eq!(
            (got.status, got.body.as_slice()),
            (StatusCode::OK, CONTENT),
            "{ignored}"
        );
    }
    let stale = [("range", "bytes=0-1"), ("if-range", "\"stale\"")];
    let got = download(&app, Method::GET, "/files/notes.txt", &admin, &stale).await;
    assert_eq!(
        got.status,
        StatusCode::OK,
        "If-Range with an old tag gets the whole file"
    );
}

#[tokio::test]
async fn if_none_match_with_the_current_etag_is_304_without_a_body() {
    let app = test_app().await;
    let admin = app.admin().await;
    upload(&app, &admin, "notes.txt", CONTENT).await;
    let etag = format!("\"{}\"", sha256_hex(CONTENT));
    // GET and HEAD alike, answered by the edge's one 304 (the headers a 200 would carry that
    // describe the representation).
    for (method, tag) in [Method::GET, Method::HEAD]
        .into_iter()
        .flat_map(|m| [etag.as_str(), "*", "\"other\", W/\"x\""].map(|t| (m.clone(), t)))
    {
        let headers = [("if-none-match", tag)];
        let got = download(&app, method.clone(), "/files/notes.txt", &admin, &headers).await;
        if tag.contains("other") {
            assert_eq!(got.status, StatusCode::OK, "{method} {tag}");
            continue;
        }
        assert_eq!(got.status, StatusCode::NOT_MODIFIED, "{method} {tag}");
        assert!(got.body.is_empty());
        assert_eq!(got.headers["etag"], etag.as_str());
        assert!(got.headers.contains_key("last-modified"), "{method} {tag}");
    }
}

#[tokio::test]
async fn head_gives_the_download_headers_without_the_bytes() {
    let app = test_app().await;
    let admin = app.admin().await;
    upload(&app, &admin, "notes.txt", CONTENT).await;
    let got = download(&app, Method::HEAD, "/files/notes.txt", &admin, &[]).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.body.is_empty());
    assert_eq!(got.headers["content-length"], "20");
    assert_eq!(got.headers["content-type"], "application/octet-stream");
    assert_eq!(got.headers["accept-ranges"], "bytes");
    assert!(got.headers.contains_key("etag") && got.headers.contains_key("content-disposition"));
    let etag = got.headers["etag"].to_str().unwrap().to_owned();
    let got = download(
        &app,
        Method::HEAD,
        "/files/notes.txt",
        &admin,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(got.status, StatusCode::NOT_MODIFIED);
    let got = download(&app, Method::HEAD, "/files/missing", &admin, &[]).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn missing_files_are_404_and_delete_is_204_then_404() {
    let app = test_app().await;
    let admin = app.admin().await;
    let reply = app
        .send(Method::GET, "/files/nothing.txt", Some(&admin), None)
        .await;
    reply.assert_problem(404, "/files/nothing.txt");
    upload(&app, &admin, "gone.txt", CONTENT).await;
    let reply = app
        .send(Method::DELETE, "/files/gone.txt", Some(&admin), None)
        .await;
    assert_eq!(reply.status, 204);
    assert_eq!(reply.body, Value::Null);
    let reply = app
        .send(Method::DELETE, "/files/gone.txt", Some(&admin), None)
        .await;
    reply.assert_problem(404, "/files/gone.txt");
    let reply = app
        .send(Method::GET, "/files/gone.txt", Some(&admin), None)
        .await;
    reply.assert_problem(404, "/files/gone.txt");
}

#[tokio::test]
async fn traversal_attempts_plain_encoded_and_double_encoded_are_422() {
    let app = test_app().await;
    let admin = app.admin().await;
    for name in [
        "..",
        ".env",
        ".blob-00000000-0000-0000-0000-000000000000",
        "%2e%2e",
        "..%2fapi.db",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "%252e%252e%252fetc%252fpasswd",
        "a%00b",
        "a%20b",
        "%c3%a9.txt",
        "../api.db",
        "a/b",
    ] {
        let uri = format!("/files/{name}");
        for method in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE] {
            let got = download(&app, method.clone(), &uri, &admin, &[]).await;
            assert_eq!(
                got.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{method} {uri}"
            );
            if method != Method::HEAD {
                let problem: Value = serde_json::from_slice(&got.body).unwrap();
                assert_eq!(
                    problem["errors"][0]["loc"],
                    serde_json::json!(["path", "name"]),
                    "{uri}"
                );
            }
        }
    }
}

#[tokio::test]
async fn files_list_by_name_a_page_at_a_time() {
    let app = test_app().await;
    let admin = app.admin().await;
    for name in ["c.txt", "a.txt", "b.txt"] {
        upload(&app, &admin, name, CONTENT).await;
    }
    let first = app
        .send(Method::GET, "/files?limit=2", Some(&admin), None)
        .await;
    let names: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.txt", "b.txt"]);
    assert_eq!(first.body["items"][0]["size"], 20);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    assert!(first.header("link").unwrap().contains(cursor));
    let rest = app
        .send(
            Method::GET,
            &format!("/files?limit=2&cursor={cursor}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(rest.body["items"][0]["name"], "c.txt");
    assert_eq!(rest.body["next_cursor"], Value::Null);
}

async fn upload_if(
    app: &TestApp,
    token: &str,
    name: &str,
    bytes: &'static [u8],
    condition: (&str, &str),
) -> Reply {
    Reply::of(
        app.client
            .put(format!("/files/{name}"))
            .header("authorization", format!("Bearer {token}"))
            .header(condition.0, condition.1)
            .content_type("application/octet-stream")
            .body(bytes)
            .send()
            .await,
    )
    .await
}

#[tokio::test]
async fn file_writes_with_a_stale_if_match_are_412_and_keep_the_file() {
    let app = test_app().await;
    let admin = app.admin().await;
    let first = upload(&app, &admin, "a.txt", CONTENT).await;
    let tag = first.header("etag").unwrap().to_owned();
    assert_eq!(tag, format!("\"{}\"", sha256_hex(CONTENT)));
    let stale = upload_if(&app, &admin, "a.txt", b"other", ("if-match", "\"stale\"")).await;
    let body = stale.assert_problem(412, "/files/a.txt");
    assert_eq!(body["type"], "/problems/precondition-failed");
    let create_only = upload_if(&app, &admin, "a.txt", b"other", ("if-none-match", "*")).await;
    create_only.assert_problem(412, "/files/a.txt");
    let kept = download(&app, Method::GET, "/files/a.txt", &admin, &[]).await;
    assert_eq!(kept.body, CONTENT);
    let replaced = upload_if(&app, &admin, "a.txt", b"other", ("if-match", &tag)).await;
    assert_eq!(replaced.status, 200);
    let gone = download(
        &app,
        Method::DELETE,
        "/files/a.txt",
        &admin,
        &[("if-match", &tag)],
    )
    .await;
    assert_eq!(gone.status, StatusCode::PRECONDITION_FAILED);
    let new_tag = replaced.header("etag").unwrap().to_owned();
    let gone = download(
        &app,
        Method::DELETE,
        "/files/a.txt",
        &admin,
        &[("if-match", &new_tag)],
    )
    .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let missing = download(
        &app,
        Method::DELETE,
        "/files/a.txt",
        &admin,
        &[("if-match", "*")],
    )
    .await;
    assert_eq!(missing.status, StatusCode::PRECONDITION_FAILED);
}
