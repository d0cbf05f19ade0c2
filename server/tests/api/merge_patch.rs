//! Every PATCH endpoint takes a JSON merge patch (RFC 7386) of the resource's settings: fields
//! left out stay, nested objects merge, `null` removes a field (back to its default).

use reqwest::StatusCode;
use serde_json::json;

use tollgate_testkit::TestServer;

#[tokio::test]
async fn every_patch_endpoint_refuses_a_body_that_is_not_an_object() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let key = admin
        .post("/api/v1/tenants/default/keys", json!({"name": "k"}))
        .await;
    let provider = admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "p", "kind": "openai", "api_key": "sk-test-0123"}),
        )
        .await;
    server
        .user_with_role("default", "m@example.com", "member")
        .await;
    for path in [
        "/api/v1/tenants/default".to_string(),
        format!(
            "/api/v1/tenants/default/keys/{}",
            key.body["id"].as_str().unwrap()
        ),
        format!(
            "/api/v1/tenants/default/providers/{}",
            provider.body["id"].as_str().unwrap()
        ),
        "/api/v1/tenants/default/members/m@example.com".to_string(),
    ] {
        for body in [json!([1, 2]), json!("name"), json!(null)] {
            admin.patch(&path, body).await.assert_problem(422);
        }
        admin
            .patch(&path, json!({"no_such_field": 1}))
            .await
            .assert_problem(422);
    }
}

#[tokio::test]
async fn nested_objects_merge_and_null_restores_defaults() {
    let server = TestServer::start().await;
    let admin = server.admin().await;

    // Keys: a nested object merges field by field; `null` scopes reach everything.
    let key = admin
        .post(
            "/api/v1/tenants/default/keys",
            json!({"name": "k", "limits": {"requests_per_minute": 60, "tokens_per_minute": 1000},
                   "scopes": {"models": ["gpt"]}}),
        )
        .await;
    let path = format!(
        "/api/v1/tenants/default/keys/{}",
        key.body["id"].as_str().unwrap()
    );
    let merged = admin
        .patch(&path, json!({"limits": {"tokens_per_minute": 5}}))
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.text);
    assert_eq!(merged.body["limits"]["requests_per_minute"], 60);
    assert_eq!(merged.body["limits"]["tokens_per_minute"], 5);
    let unlimited = admin
        .patch(
            &path,
            json!({"limits": {"requests_per_minute": null}, "scopes": null}),
        )
        .await;
    assert_eq!(unlimited.body["limits"]["requests_per_minute"], json!(null));
    assert_eq!(unlimited.body["limits"]["tokens_per_minute"], 5);
    assert_eq!(
        unlimited.body["scopes"]["models"],
        json!(["*"]),
        "{}",
        unlimited.text
    );

    // Providers: the kind is fixed, `null` restores the default timeout, removes the key.
    let provider = admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "p", "kind": "openai", "api_key": "sk-test-0123", "timeout": "5s"}),
        )
        .await;
    let path = format!(
        "/api/v1/tenants/default/providers/{}",
        provider.body["id"].as_str().unwrap()
    );
    admin
        .patch(&path, json!({"kind": "anthropic"}))
        .await
        .assert_problem(422);
    let renamed = admin.patch(&path, json!({"name": "p2"})).await;
    assert_eq!(renamed.body["timeout"], "5s", "{}", renamed.text);
    assert_eq!(renamed.body["key_hint"], provider.body["key_hint"]);
    let defaults = admin
        .patch(&path, json!({"timeout": null, "api_key": null}))
        .await;
    assert_eq!(defaults.body["timeout"], "2m", "{}", defaults.text);
    assert_eq!(defaults.body["key_hint"], "none");

    // Tenants: a `null` slug is derived from the name again.
    let tenant = admin
        .post("/api/v1/tenants", json!({"name": "Acme", "slug": "custom"}))
        .await;
    assert_eq!(tenant.status, StatusCode::CREATED, "{}", tenant.text);
    let derived = admin
        .patch(
            "/api/v1/tenants/custom",
            json!({"name": "Acme Labs", "slug": null}),
        )
        .await;
    assert_eq!(derived.body["slug"], "acme-labs", "{}", derived.text);
}
