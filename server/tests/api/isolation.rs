use reqwest::Method;
use serde_json::json;

use tollgate_testkit::TestServer;

/// A user of tenant A gets 404 for everything of tenant B, by slug or by id, read or write.
#[tokio::test]
async fn nothing_of_another_tenant_is_visible_or_writable() {
    let server = TestServer::start().await;
    let alice = server
        .user_with_role("acme", "alice@example.com", "owner")
        .await;
    let gina = server
        .user_with_role("globex", "gina@example.com", "owner")
        .await;
    let globex_key = gina
        .post("/api/v1/tenants/globex/keys", json!({"name": "g"}))
        .await;
    let key_id = globex_key.body["id"].as_str().unwrap().to_string();
    let globex_id = gina.get("/api/v1/tenants/globex").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();

    for tenant in ["globex", globex_id.as_str()] {
        let base = format!("/api/v1/tenants/{tenant}");
        let attempts: Vec<(Method, String, Option<serde_json::Value>)> = vec![
            (Method::GET, base.clone(), None),
            (Method::PATCH, base.clone(), Some(json!({"name": "pwned"}))),
            (Method::DELETE, base.clone(), None),
            (Method::GET, format!("{base}/members"), None),
            (
                Method::POST,
                format!("{base}/members"),
                Some(json!({"email": "alice@example.com", "role": "owner"})),
            ),
            (
                Method::PATCH,
                format!("{base}/members/gina@example.com"),
                Some(json!({"role": "viewer"})),
            ),
            (
                Method::DELETE,
                format!("{base}/members/gina@example.com"),
                None,
            ),
            (Method::GET, format!("{base}/keys"), None),
            (
                Method::POST,
                format!("{base}/keys"),
                Some(json!({"name": "mine now"})),
            ),
            (Method::GET, format!("{base}/keys/{key_id}"), None),
            (
                Method::PATCH,
                format!("{base}/keys/{key_id}"),
                Some(json!({"name": "x"})),
            ),
            (Method::DELETE, format!("{base}/keys/{key_id}"), None),
            (Method::GET, format!("{base}/audit"), None),
        ];
        for (method, path, body) in attempts {
            let reply = alice.send(method.clone(), &path, body).await;
            assert_eq!(
                reply.status.as_u16(),
                404,
                "{method} {path}: {}",
                reply.text
            );
            reply.assert_problem(404);
        }
    }

    // Another tenant's key id under one's own tenant is not found either.
    for method in [Method::GET, Method::DELETE] {
        alice
            .send(method, &format!("/api/v1/tenants/acme/keys/{key_id}"), None)
            .await
            .assert_problem(404);
    }
    alice
        .patch(
            &format!("/api/v1/tenants/acme/keys/{key_id}"),
            json!({"name": "x"}),
        )
        .await
        .assert_problem(404);

    // Nothing changed on globex's side.
    let key = gina
        .get(&format!("/api/v1/tenants/globex/keys/{key_id}"))
        .await;
    assert_eq!(key.body["name"], "g");
    assert_eq!(key.body["status"], "active");
    assert_eq!(
        gina.get("/api/v1/tenants/globex").await.body["name"],
        "globex"
    );
}
