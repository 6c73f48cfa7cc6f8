//! The committed `openapi.yaml` is the contract: it must equal what the service serves.

use e2e::Service;

/// A committed document.
struct Document {
    /// Its file at the workspace root.
    file: &'static str,
    /// Where it is served.
    path: &'static str,
    /// What the service renders it from.
    rendered: fn() -> String,
    /// The command that regenerates it.
    regenerate: &'static str,
}

const DOCUMENTS: [Document; 2] = [
    Document {
        file: "openapi.yaml",
        path: "/openapi.yaml",
        rendered: api::spec_yaml,
        regenerate: "cargo run -p app -- openapi > openapi.yaml",
    },
    Document {
        file: "openapi-3.1.yaml",
        path: "/openapi-3.1.yaml",
        rendered: api::spec_yaml_3_1,
        regenerate: "cargo run -p app -- openapi --openapi-version 3.1 > openapi-3.1.yaml",
    },
];

#[tokio::test]
async fn committed_documents_equal_the_served_ones() {
    let service = Service::start().await;
    for Document {
        file,
        path,
        rendered,
        regenerate,
    } in DOCUMENTS
    {
        let committed =
            std::fs::read_to_string(format!("{}/../{file}", env!("CARGO_MANIFEST_DIR")))
                .unwrap_or_else(|err| panic!("{file} at the workspace root: {err}"));
        let served = service
            .client
            .get(service.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            served == rendered(),
            "{path} differs from what it is rendered from"
        );
        if committed != served {
            let line = committed
                .lines()
                .zip(served.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| committed.lines().count().min(served.lines().count()));
            panic!(
                "{file} drifted from {path} (first difference at line {}); regenerate it with `{regenerate}`",
                line + 1
            );
        }
    }
}

#[tokio::test]
async fn a_deprecated_operation_says_so_on_every_answer_and_links_its_successor_and_the_changes() {
    let service = Service::start().await;
    let get = |path: &str, accept: &str| {
        service
            .client
            .get(service.url(path))
            .header("accept", accept)
            .send()
    };
    let old = get("/healthz", "application/json").await.unwrap();
    assert_eq!(old.status(), 200);
    let headers = old.headers().clone();
    assert_eq!(
        old.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
    assert_eq!(headers["deprecation"], "@1796601600");
    assert_eq!(headers["sunset"], "Wed, 30 Jun 2027 23:59:59 GMT");
    let link = headers["link"].to_str().unwrap();
    assert!(
        link.contains("</livez>; rel=\"successor-version\""),
        "{link}"
    );
    assert!(
        link.contains("</api-changes>; rel=\"deprecation\""),
        "{link}"
    );

    // Its problems carry them too, and HEAD as GET does.
    let refused = get("/healthz", "image/png").await.unwrap();
    assert_eq!(refused.status(), 406);
    assert_eq!(refused.headers()["deprecation"], "@1796601600");
    let head = service
        .client
        .head(service.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.headers()["sunset"], "Wed, 30 Jun 2027 23:59:59 GMT");

    let successor = get("/livez", "application/json").await.unwrap();
    assert_eq!(successor.status(), 200);
    for name in ["deprecation", "sunset", "link"] {
        assert!(!successor.headers().contains_key(name), "/livez has {name}");
    }

    let changes = get("/api-changes", "text/markdown").await.unwrap();
    assert_eq!(changes.status(), 200);
    assert!(
        changes.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    let text = changes.text().await.unwrap();
    let version = format!("## {} (", api::API_VERSION);
    assert!(text.contains(&version) && text.contains("`GET /healthz`"));
}
