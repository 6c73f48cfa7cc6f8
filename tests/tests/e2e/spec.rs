//! The committed `openapi.yaml` is the contract: it must equal what the service serves.

use e2e::Service;

const REGENERATE: &str = "regenerate it with `cargo run -p app -- openapi > openapi.yaml`";

#[tokio::test]
async fn committed_openapi_yaml_equals_the_served_spec() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml"))
            .expect("openapi.yaml at the workspace root");
    let service = Service::start().await;
    let served = service
        .client
        .get(service.url("/openapi.yaml"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        served == api::spec_yaml(),
        "served spec differs from api::spec_yaml()"
    );
    if committed != served {
        let line = committed
            .lines()
            .zip(served.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(served.lines().count()));
        panic!(
            "openapi.yaml drifted from the served spec (first difference at line {}); {REGENERATE}",
            line + 1
        );
    }
}
