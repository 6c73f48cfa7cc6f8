//! Tests of what every route shares: framework errors as problems, request ids, health, the
//! served spec and the docs UIs.

use crate::test_support::{Reply, test_app, user_in};
use poem::http::{HeaderValue, Method};

#[tokio::test]
async fn unknown_route_is_404_problem() {
    let app = test_app().await;
    let reply = Reply::of(app.client.get("/nope/deeper").send().await).await;
    let body = reply.assert_problem(404, "/nope/deeper");
    assert_eq!(body["title"], "Not Found");
    assert_eq!(body["type"], "about:blank");
}

#[tokio::test]
async fn wrong_method_is_405_problem_with_allow() {
    let app = test_app().await;
    for (method, uri, allow) in [
        (Method::DELETE, "/users", "GET, HEAD, POST"),
        (Method::POST, "/users/3", "GET, HEAD, PUT, PATCH, DELETE"),
        (Method::POST, "/healthz", "GET, HEAD"),
        (Method::DELETE, "/openapi.json", "GET, HEAD"),
    ] {
        let reply = Reply::of(app.client.request(method, uri).send().await).await;
        reply.assert_problem(405, uri);
        assert_eq!(reply.header("allow"), Some(allow), "{uri}");
    }
}

#[tokio::test]
async fn request_id_is_echoed_as_sent_and_generated_when_missing_empty_or_huge() {
    let app = test_app().await;
    let sent: [&[u8]; 3] = [b"abc-123", b"has space", "caf\u{e9}".as_bytes()];
    for sent in sent {
        let resp = app
            .client
            .get("/nope")
            .header("x-request-id", HeaderValue::from_bytes(sent).unwrap())
            .send()
            .await;
        assert_eq!(resp.0.headers()["x-request-id"].as_bytes(), sent);
    }
    let huge = "x".repeat(1025);
    for sent in [None, Some(""), Some(huge.as_str())] {
        let mut request = app.client.get("/nope");
        if let Some(sent) = sent {
            request = request.header("x-request-id", sent);
        }
        let resp = request.send().await;
        let id = resp.0.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(id.len(), 36, "a UUID, got {id:?}");
    }
}

#[tokio::test]
async fn health_is_ok_and_readiness_follows_the_database() {
    let app = test_app().await;
    let reply = Reply::of(app.client.get("/healthz").send().await).await;
    assert_eq!(
        (reply.status, reply.body["status"].as_str()),
        (200, Some("ok"))
    );
    let reply = Reply::of(app.client.get("/readyz").send().await).await;
    assert_eq!(
        (reply.status, reply.body["status"].as_str()),
        (200, Some("ready"))
    );
    app.db.close().await.unwrap();
    let reply = Reply::of(app.client.get("/readyz").send().await).await;
    reply.assert_problem(503, "/readyz");
    assert_eq!(reply.header("retry-after"), Some("2"));
}

#[tokio::test]
async fn requests_whose_database_is_gone_are_503_database_unavailable_with_retry_after() {
    let app = test_app().await;
    let member = app.signup("Ada", "ada@example.com").await;
    app.db.close().await.unwrap();
    let read = app
        .send(Method::GET, &member.uri, Some(&member.token), None)
        .await;
    let signup = app
        .send(
            Method::POST,
            "/users",
            None,
            Some(&user_in("Bob", "bob@example.com")),
        )
        .await;
    for (reply, instance) in [(read, member.uri.as_str()), (signup, "/users")] {
        let problem = reply.assert_problem(503, instance);
        assert_eq!(problem["type"], "/problems/database-unavailable");
        assert_eq!(reply.header("retry-after"), Some("2"));
    }
}

#[tokio::test]
async fn served_yaml_is_the_served_json_for_yaml_1_1_and_1_2_readers() {
    use crate::spec::yaml::tests::{read_yaml_1_1, read_yaml_1_2};
    let app = test_app().await;
    for (yaml, json) in [
        ("/openapi.yaml", "/openapi.json"),
        ("/openapi-3.1.yaml", "/openapi-3.1.json"),
    ] {
        let yaml = app.client.get(yaml).send().await.0;
        let yaml = yaml.into_body().into_string().await.unwrap();
        let json = Reply::of(app.client.get(json).send().await).await.body;
        assert_eq!(
            read_yaml_1_1(&yaml),
            json,
            "a YAML 1.1 reader (PyYAML, Psych)"
        );
        assert_eq!(read_yaml_1_2(&yaml), json, "a YAML 1.2 reader");
    }
}

#[tokio::test]
async fn both_documents_are_served_as_json_and_yaml_and_docs_uis_render_the_3_1_one() {
    let app = test_app().await;
    for (yaml, json, version, rendered) in [
        (
            "/openapi.yaml",
            "/openapi.json",
            "3.0.0",
            crate::spec_yaml as fn() -> String,
        ),
        (
            "/openapi-3.1.yaml",
            "/openapi-3.1.json",
            "3.1.0",
            crate::spec_yaml_3_1,
        ),
    ] {
        let resp = app.client.get(yaml).send().await;
        resp.assert_status_is_ok();
        resp.assert_content_type("application/yaml");
        resp.assert_text(rendered()).await;
        let reply = Reply::of(app.client.get(json).send().await).await;
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.body["openapi"], version);
        assert!(reply.body["paths"]["/users/{id}"]["patch"].is_object());
    }
    for ui in ["/docs", "/docs/", "/rapidoc", "/rapidoc/"] {
        let resp = app.client.get(ui).send().await;
        resp.assert_status_is_ok();
        let html = resp.0.into_body().into_string().await.unwrap();
        // The served 3.1 document, with what poem-openapi alone does not write, and the link
        // to the 3.0 one.
        assert!(html.contains("users_create"), "{ui} embeds the spec");
        assert!(
            html.contains("\"openapi\": \"3.1.0\""),
            "{ui} embeds the 3.1 document"
        );
        assert!(
            html.contains("\"security\": []"),
            "{ui} embeds the completed spec"
        );
        assert!(html.contains("(/openapi.json)"), "{ui} links the 3.0 one");
    }
}

#[tokio::test]
async fn every_error_response_in_the_spec_is_a_problem_with_an_example_and_every_operation_has_an_id()
 {
    let spec: serde_json::Value = crate::spec_value();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap_or_default();
            let (resource, verb) = id.split_once('_').unwrap_or_default();
            assert!(
                !resource.is_empty() && !verb.is_empty(),
                "{method} {path}: {id:?}"
            );
            for (status, response) in operation["responses"].as_object().unwrap() {
                assert!(
                    !response["description"]
                        .as_str()
                        .unwrap_or_default()
                        .is_empty(),
                    "{method} {path} {status} has no description"
                );
                if status.as_str() >= "400" {
                    let content = response["content"].as_object().unwrap();
                    assert_eq!(
                        content.keys().collect::<Vec<_>>(),
                        ["application/problem+json", "application/json"],
                        "{method} {path} {status}"
                    );
                    for media in content.values() {
                        assert_eq!(media["schema"]["$ref"], "#/components/schemas/Problem");
                        assert_eq!(
                            media["example"]["status"].as_u64().map(|s| s.to_string()),
                            Some(status.clone()),
                            "{method} {path} {status} has no example of its problem"
                        );
                    }
                }
            }
        }
    }
}

/// What the edge answers before any operation runs is documented on the operations it can
/// reach: 503 past the in-flight cap on every one, 406 on every one that answers with a body,
/// 408 and 413 on every one that reads a body.
#[test]
fn every_operation_documents_the_edge_refusals_it_can_meet() {
    let spec: serde_json::Value = crate::spec_value();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = &operation["responses"];
            assert!(
                responses["503"]["headers"]["RETRY-AFTER"].is_object(),
                "{method} {path} lacks the 503 with Retry-After"
            );
            let answers_with_a_body = responses
                .as_object()
                .unwrap()
                .iter()
                .any(|(status, r)| status.starts_with('2') && r.get("content").is_some());
            assert_eq!(
                responses["406"].is_object(),
                answers_with_a_body,
                "{method} {path}: a 406 exactly when a success has a body to negotiate"
            );
            if operation.get("requestBody").is_some() {
                for status in ["408", "413"] {
                    assert!(
                        responses[status].is_object(),
                        "{method} {path} reads a body but lacks {status}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn cors_is_off_unless_origins_are_configured() {
    use crate::test_support::test_app_adjusted;
    use poem::test::TestClient;

    async fn preflight<E: poem::Endpoint>(
        client: &TestClient<E>,
        origin: &str,
    ) -> poem::test::TestResponse {
        client
            .request(Method::OPTIONS, "/users/1")
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .send()
            .await
    }
    let off = test_app().await;
    let resp = preflight(&off.client, "https://app.example.com").await;
    assert!(
        resp.0
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let on = test_app_adjusted(|settings| {
        settings.cors_allowed_origins = vec!["https://app.example.com".to_owned()];
    })
    .await;
    let on = &on.client;
    let resp = preflight(on, "https://app.example.com").await;
    resp.assert_status_is_ok();
    resp.assert_header("access-control-allow-origin", "https://app.example.com");
    let methods = resp.0.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("PATCH"), "{methods}");
    let resp = preflight(on, "https://evil.example.com").await;
    assert!(
        resp.0
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    resp.assert_content_type("application/problem+json");
    let resp = on
        .get("/healthz")
        .header("origin", "https://app.example.com")
        .send()
        .await;
    resp.assert_header("access-control-allow-origin", "https://app.example.com");
    let exposed = resp.0.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("x-request-id"), "{exposed}");
}

/// Sends `GET uri` with `Accept: accept`, as the holder of `token`.
async fn get_accepting(
    app: &crate::test_support::TestApp,
    uri: &str,
    accept: &str,
    token: &str,
) -> Reply {
    let request = app
        .client
        .get(uri)
        .header("accept", accept)
        .header("authorization", format!("Bearer {token}"));
    Reply::of(request.send().await).await
}

#[tokio::test]
async fn an_accept_that_takes_nothing_the_operation_answers_with_is_a_406_problem() {
    let app = test_app().await;
    let admin = app.admin().await;
    for (uri, accept) in [
        ("/users/1", "application/xml"),
        ("/healthz", "text/html"),
        ("/exports/users.csv", "application/xml"),
        ("/users", "application/json;q=0, text/*"),
    ] {
        let reply = get_accepting(&app, uri, accept, &admin).await;
        let body = reply.assert_problem(406, uri);
        assert!(
            body["detail"].as_str().unwrap().contains("Accept"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn wildcards_q_values_and_parameters_in_accept_keep_working() {
    let app = test_app().await;
    let admin = app.admin().await;
    for accept in [
        "*/*",
        "application/*",
        "text/html, application/json;q=0.5",
        "application/json; charset=utf-8",
        "",
    ] {
        let reply = get_accepting(&app, "/users/1", accept, &admin).await;
        assert_eq!(reply.status, 200, "Accept: {accept:?}: {}", reply.body);
    }
    let reply = get_accepting(&app, "/exports/users.csv", "text/csv", &admin).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn a_bodiless_success_is_not_negotiated() {
    let app = test_app().await;
    let admin = app.admin().await;
    let member = app.signup("Ann", "ann@example.com").await;
    let request = app
        .client
        .delete(&member.uri)
        .header("accept", "application/xml")
        .header("authorization", format!("Bearer {admin}"));
    assert_eq!(Reply::of(request.send().await).await.status, 204);
}

#[tokio::test]
async fn a_client_that_asks_only_for_json_gets_its_problems_as_application_json() {
    let app = test_app().await;
    let admin = app.admin().await;
    let missing = get_accepting(&app, "/users/999", "application/json", &admin).await;
    let unknown = get_accepting(&app, "/nope", "application/json", &admin).await;
    let forged = get_accepting(&app, "/users/1", "application/json", "forged").await;
    for (reply, status) in [(&missing, 404), (&unknown, 404), (&forged, 401)] {
        assert_eq!(reply.status, status, "{}", reply.body);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.body["status"], status);
        assert!(reply.body["title"].is_string() && reply.body["instance"].is_string());
    }
    assert!(forged.header("www-authenticate").is_some());
    // Any `Accept` that weighs problems at least as high keeps the problem media type.
    for accept in ["*/*", "application/json, application/problem+json"] {
        let reply = get_accepting(&app, "/users/999", accept, &admin).await;
        reply.assert_problem(404, "/users/999");
    }
}

#[tokio::test]
async fn every_problem_type_resolves_to_its_own_page_and_the_spec_names_it() {
    use crate::problem_types::ProblemType;
    let app = test_app().await;
    let spec = crate::spec_value();
    let documented = spec
        .pointer("/components/schemas/Problem/properties/type/description")
        .and_then(serde_json::Value::as_str)
        .unwrap()
        .to_owned();
    let mut pages = std::collections::HashSet::new();
    for kind in ProblemType::ALL {
        let uri = kind.uri();
        let resp = app.client.get(&uri).send().await;
        resp.assert_status_is_ok();
        resp.assert_content_type("text/html; charset=utf-8");
        let page = resp.0.into_body().into_string().await.unwrap();
        assert!(page.contains(kind.title()), "{uri}");
        assert!(pages.insert(page), "{uri} has the page of another type");
        assert!(
            documented.contains(&format!("`{uri}`")),
            "{uri} is not in the spec"
        );
    }
    let index = app.client.get("/problems/").send().await;
    index.assert_status_is_ok();
    let unknown = Reply::of(app.client.get("/problems/no-such-type").send().await).await;
    unknown.assert_problem(404, "/problems/no-such-type");
}

#[tokio::test]
async fn problem_pages_are_open_without_a_token() {
    let app = test_app().await;
    let resp = app.client.get("/problems/insufficient-funds").send().await;
    resp.assert_status_is_ok();
}

/// Every bound a request schema or parameter states in the spec, and the domain constant it
/// must equal: poem-openapi takes validator bounds only as literals, so this is where they
/// are tied to the rules they restate. Both ways: a bound the spec states that no rule backs,
/// and a rule's bound the spec does not state, fail; parameters are told apart per operation.
#[test]
fn every_bound_in_a_request_schema_or_parameter_is_the_domains() {
    use domain::{
        Email, Limit,
        files::FileName,
        idempotency::IdempotencyKey,
        money::Amount,
        notifications::{MessageBody, Subject},
        users::{Bio, MAX_CHOSEN_ID, Password, UserName},
        webhooks::{Description, WebhookUrl},
    };
    use serde_json::Value;
    use std::collections::BTreeMap;
    type Bounds = Vec<(&'static str, f64)>;
    let length = |n: usize| n as f64;
    let text = |min: f64, max: usize| vec![("maxLength", length(max)), ("minLength", min)];
    let amount = || vec![("maximum", Amount::MAX as f64), ("minimum", 1.0)];
    let id = || vec![("minimum", 1.0)];
    let unbounded = Bounds::new;
    // Each body schema's members and their bounds, as the domain's rules give them.
    let members: BTreeMap<(&str, &str), Bounds> = BTreeMap::from([
        (("UserIn", "name"), text(1.0, UserName::MAX_LEN)),
        (
            ("UserIn", "email"),
            vec![("maxLength", length(Email::MAX_LEN))],
        ),
        (
            ("UserIn", "password"),
            text(length(Password::MIN_LEN), Password::MAX_LEN),
        ),
        (("UserIn", "bio"), vec![("maxLength", length(Bio::MAX_LEN))]),
        (("UserPatchIn", "name"), text(1.0, UserName::MAX_LEN)),
        (
            ("UserPatchIn", "email"),
            vec![("maxLength", length(Email::MAX_LEN))],
        ),
        (
            ("UserPatchIn", "password"),
            text(length(Password::MIN_LEN), Password::MAX_LEN),
        ),
        (
            ("UserPatchIn", "bio"),
            vec![("maxLength", length(Bio::MAX_LEN))],
        ),
        (
            ("TokenIn", "email"),
            vec![("maxLength", length(Email::MAX_LEN))],
        ),
        (
            ("TokenIn", "password"),
            vec![("maxLength", length(Password::MAX_LEN))],
        ),
        (
            ("NotificationIn", "email"),
            vec![("maxLength", length(Email::MAX_LEN))],
        ),
        (("NotificationIn", "subject"), text(1.0, Subject::MAX_LEN)),
        (("NotificationIn", "body"), text(1.0, MessageBody::MAX_LEN)),
        (("AccountIn", "owner_id"), id()),
        (("AccountIn", "currency"), unbounded()),
        (("AmountIn", "amount"), amount()),
        (("TransferIn", "from_account_id"), id()),
        (("TransferIn", "to_account_id"), id()),
        (("TransferIn", "amount"), amount()),
        (("WebhookIn", "url"), text(1.0, WebhookUrl::MAX_LEN)),
        (("WebhookIn", "events"), unbounded()),
        (
            ("WebhookIn", "description"),
            vec![("maxLength", length(Description::MAX_LEN))],
        ),
        (("WebhookIn", "enabled"), unbounded()),
        (("WebhookPatchIn", "url"), text(1.0, WebhookUrl::MAX_LEN)),
        (("WebhookPatchIn", "events"), unbounded()),
        (
            ("WebhookPatchIn", "description"),
            vec![("maxLength", length(Description::MAX_LEN))],
        ),
        (("WebhookPatchIn", "enabled"), unbounded()),
    ]);
    // A parameter's bounds, by operation and name.
    let parameter = |operation: &str, name: &str| -> Bounds {
        match name {
            "limit" => vec![
                ("maximum", f64::from(Limit::MAX)),
                ("minimum", f64::from(Limit::MIN)),
            ],
            "id" if operation == "put /users/{id}" => {
                vec![("maximum", MAX_CHOSEN_ID as f64), ("minimum", 1.0)]
            }
            "id" | "tid" | "delivery_id" => id(),
            "name" => text(1.0, FileName::MAX_LEN),
            "Idempotency-Key" => text(1.0, IdempotencyKey::MAX_LEN),
            // Event ids: non-negative 64-bit integers, at most 19 digits.
            "Last-Event-ID" => vec![("maxLength", 19.0)],
            // Opaque cursors: bounds of this crate's own encoding, no domain rule.
            "cursor" if operation == "get /files" => vec![("maxLength", 400.0)],
            "cursor" => vec![("maxLength", 64.0)],
            _ => unbounded(),
        }
    };
    let stated = |schema: &Value| -> Vec<(String, f64)> {
        let mut bounds: Vec<(String, f64)> = ["maxLength", "maximum", "minLength", "minimum"]
            .into_iter()
            .filter_map(|keyword| Some((keyword.to_owned(), schema.get(keyword)?.as_f64()?)))
            .collect();
        bounds.sort_by(|a, b| a.0.cmp(&b.0));
        bounds
    };
    let owned = |bounds: Bounds| -> Vec<(String, f64)> {
        let mut bounds: Vec<_> = bounds.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        bounds.sort_by(|a, b| a.0.cmp(&b.0));
        bounds
    };
    let spec = crate::spec_value();
    let schemas = &spec["components"]["schemas"];
    let mut bodies_seen = std::collections::BTreeSet::new();
    let mut parameters_seen = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let at = format!("{method} {path}");
            for parameter_spec in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter_spec["name"].as_str().unwrap();
                assert_eq!(
                    stated(&parameter_spec["schema"]),
                    owned(parameter(&at, name)),
                    "{at}: parameter {name}"
                );
                parameters_seen += 1;
            }
            let bodies = operation["requestBody"]["content"].as_object();
            for media in bodies.into_iter().flat_map(|content| content.values()) {
                let Some(reference) = media["schema"]["$ref"].as_str() else {
                    continue;
                };
                let name = reference.rsplit('/').next().unwrap();
                for (member, schema) in schemas[name]["properties"].as_object().unwrap() {
                    let expected = members
                        .get(&(name, member.as_str()))
                        .unwrap_or_else(|| panic!("{name}.{member} is not in this test's table"));
                    assert_eq!(stated(schema), owned(expected.clone()), "{name}.{member}");
                    bodies_seen.insert((name.to_owned(), member.clone()));
                }
            }
        }
    }
    for (schema, member) in members.keys() {
        assert!(
            bodies_seen.contains(&((*schema).to_owned(), (*member).to_owned())),
            "{schema}.{member} is no request body member of any operation"
        );
    }
    assert!(
        parameters_seen > 30,
        "only {parameters_seen} parameters read"
    );
}
