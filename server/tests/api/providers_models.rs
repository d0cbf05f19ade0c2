use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::IntoResponse;
use axum::Json;
use reqwest::StatusCode;
use serde_json::json;

use tollgate_testkit::serve;
use tollgate_testkit::TestServer;

const SECRET_KEY: &str = "sk-test-abcdefghijklmnopqrstuvwxyz0123";

/// A provider played by a loopback server: accepts only SECRET_KEY, in any family's header.
async fn mock_provider() -> String {
    let app = axum::Router::new().fallback(|headers: HeaderMap| async move {
        let presented = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_start_matches("Bearer ").to_string())
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::to_string));
        if presented.as_deref() == Some(SECRET_KEY) {
            Json(json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})).into_response()
        } else {
            (AxumStatus::UNAUTHORIZED, Json(json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}))).into_response()
        }
    });
    let url = format!("{}/v1", serve(app).await);
    url
}

#[tokio::test]
async fn provider_credentials_are_write_only_and_encrypted_at_rest() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let created = admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "openai-main", "kind": "openai",
            "api_key": SECRET_KEY, "headers": {"OpenAI-Organization": "org-secret-42"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["base_url"], "https://api.openai.com/v1");
    assert_eq!(created.body["key_hint"], "sk-…0123");
    assert_eq!(created.body["header_names"], json!(["OpenAI-Organization"]));
    let id = created.body["id"].as_str().unwrap();
    for reply in [
        created.text.clone(),
        admin.get("/api/v1/tenants/default/providers").await.text,
        admin
            .get(&format!("/api/v1/tenants/default/providers/{id}"))
            .await
            .text,
        admin.get("/api/v1/tenants/default/audit").await.text,
    ] {
        assert!(
            !reply.contains(SECRET_KEY) && !reply.contains("org-secret-42"),
            "{reply}"
        );
    }
    let row: String = sqlx::query_scalar("SELECT to_jsonb(p)::text FROM providers p")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert!(
        !row.contains(SECRET_KEY)
            && !row.contains("abcdefghijklmnop")
            && !row.contains("org-secret-42"),
        "{row}"
    );
    let whole_db: String = sqlx::query_scalar(
        "SELECT string_agg(x::text, ' ') FROM (SELECT to_jsonb(a) x FROM audit_log a) t",
    )
    .fetch_one(&server.db)
    .await
    .unwrap();
    assert!(!whole_db.contains(SECRET_KEY));
}

#[tokio::test]
async fn the_provider_test_reports_success_or_the_providers_error() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let base_url = mock_provider().await;
    let good = admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "good", "kind": "openai_compatible",
        "base_url": base_url, "api_key": SECRET_KEY}),
        )
        .await;
    let bad = admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "bad", "kind": "anthropic",
        "base_url": base_url, "api_key": "sk-wrong-key-000000000000"}),
        )
        .await;
    let test = |id: &str| format!("/api/v1/tenants/default/providers/{id}/test");
    let ok = admin
        .post(&test(good.body["id"].as_str().unwrap()), json!({}))
        .await;
    assert_eq!(ok.body["ok"], true, "{}", ok.text);
    assert_eq!(ok.body["status"], 200);
    let refused = admin
        .post(&test(bad.body["id"].as_str().unwrap()), json!({}))
        .await;
    assert_eq!(refused.body["ok"], false);
    assert_eq!(refused.body["status"], 401);
    assert_eq!(refused.body["detail"], "Incorrect API key provided");

    // A key rotated through PATCH is the one used from then on.
    let rotated = admin
        .patch(
            &format!(
                "/api/v1/tenants/default/providers/{}",
                bad.body["id"].as_str().unwrap()
            ),
            json!({"api_key": SECRET_KEY}),
        )
        .await;
    assert_eq!(rotated.body["key_hint"], "sk-…0123");
    let now_ok = admin
        .post(&test(bad.body["id"].as_str().unwrap()), json!({}))
        .await;
    assert_eq!(now_ok.body["ok"], true, "{}", now_ok.text);
}

#[tokio::test]
async fn bad_providers_are_refused() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let providers = "/api/v1/tenants/default/providers";
    for body in [
        json!({"name": "x", "kind": "openai_compatible", "api_key": "k"}),
        json!({"name": "x", "kind": "azure_openai", "base_url": "https://x.openai.azure.com/openai", "api_key": "k"}),
        json!({"name": "x", "kind": "openai", "base_url": "ftp://nope", "api_key": "k"}),
        json!({"name": "x", "kind": "openai", "api_key": ""}),
        json!({"name": "x", "kind": "openai", "api_key": "k", "headers": {"bad header": "v"}}),
    ] {
        admin.post(providers, body).await.assert_problem(422);
    }
    admin
        .post(
            providers,
            json!({"name": "x", "kind": "cohere", "api_key": "k"}),
        )
        .await
        .assert_problem(422);
    admin
        .post(
            providers,
            json!({"name": "x", "kind": "openai", "api_key": "k", "extra": 1}),
        )
        .await
        .assert_problem(422);
    admin
        .post(
            providers,
            json!({"name": "dup", "kind": "openai", "api_key": "k"}),
        )
        .await;
    admin
        .post(
            providers,
            json!({"name": "dup", "kind": "openai", "api_key": "k"}),
        )
        .await
        .assert_problem(409);
    let member = server
        .user_with_role("default", "m@example.com", "member")
        .await;
    member
        .post(
            providers,
            json!({"name": "m", "kind": "openai", "api_key": "k"}),
        )
        .await
        .assert_problem(403);
}

#[tokio::test]
async fn models_take_list_prices_from_the_catalog_or_their_own() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "openai-main", "kind": "openai", "api_key": SECRET_KEY}),
        )
        .await;
    admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "local", "kind": "openai_compatible",
        "base_url": "http://127.0.0.1:11434/v1"}),
        )
        .await;

    // The shape, with explicit prices.
    let explicit = admin.post("/api/v1/tenants/default/models", json!({"name": "gpt-4o-mini",
        "deployments": [{"provider": "openai-main", "model": "gpt-4o-mini", "weight": 1, "priority": 0}],
        "prices": {"input_per_mtok": "0.15", "cached_input_per_mtok": "0.075", "output_per_mtok": "0.60"}})).await;
    assert_eq!(explicit.status, StatusCode::CREATED, "{}", explicit.text);
    assert_eq!(explicit.body["prices"]["output_per_mtok"], "0.60");
    assert!(explicit.body["price_source"].is_null());
    let stored: (i64, i64, i64) = sqlx::query_as(
        "SELECT input_nanousd_per_mtok, cached_nanousd_per_mtok, output_nanousd_per_mtok FROM models WHERE name = 'gpt-4o-mini'")
        .fetch_one(&server.db).await.unwrap();
    assert_eq!(
        stored,
        (150_000_000, 75_000_000, 600_000_000),
        "integer nano-dollars, never floats"
    );

    // No prices: the catalog's list price, and its source.
    let fast = admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "fast",
        "deployments": [{"provider": "openai-main", "model": "gpt-4.1-mini", "weight": 3},
                        {"provider": "local", "model": "llama3", "priority": 1}]}),
        )
        .await;
    assert_eq!(fast.status, StatusCode::CREATED, "{}", fast.text);
    assert_eq!(fast.body["price_source"], "openai/gpt-4.1-mini");
    assert_eq!(fast.body["prices"]["input_per_mtok"], "0.40");
    assert_eq!(fast.body["deployments"][1]["provider"], "local");
    assert_eq!(fast.body["deployments"][1]["priority"], 1);

    // Unknown to the catalog and no prices given: a clear 422.
    admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "mystery",
        "deployments": [{"provider": "local", "model": "llama3"}]}),
        )
        .await
        .assert_problem(422);
    admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "ghost",
        "deployments": [{"provider": "nope", "model": "gpt-4o"}]}),
        )
        .await
        .assert_problem(422);
    admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "fast",
        "deployments": [{"provider": "openai-main", "model": "gpt-4o"}]}),
        )
        .await
        .assert_problem(409);

    // Own prices by PATCH, back to the catalog with null.
    let path = format!(
        "/api/v1/tenants/default/models/{}",
        fast.body["id"].as_str().unwrap()
    );
    let custom = admin
        .patch(
            &path,
            json!({"prices": {"input_per_mtok": "0.30", "output_per_mtok": "1.20"}}),
        )
        .await;
    assert_eq!(
        custom.body["prices"]["cached_input_per_mtok"], "0.30",
        "{}",
        custom.text
    );
    assert!(custom.body["price_source"].is_null());
    let back = admin.patch(&path, json!({"prices": null})).await;
    assert_eq!(
        back.body["price_source"], "openai/gpt-4.1-mini",
        "{}",
        back.text
    );

    // A provider in use cannot be deleted.
    let local = admin
        .id_of("/api/v1/tenants/default/providers", "local")
        .await;
    admin
        .delete(&format!("/api/v1/tenants/default/providers/{local}"))
        .await
        .assert_problem(409);
    assert_eq!(admin.delete(&path).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        admin
            .delete(&format!("/api/v1/tenants/default/providers/{local}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn the_price_catalog_is_listed_and_only_platform_admins_edit_it() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let listed = admin
        .get("/api/v1/price-catalog?provider=anthropic&search=haiku")
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    let entries = listed.body.as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| e["provider"] == "anthropic"));
    assert_eq!(entries[0]["as_of"], "2026-11-28");

    let edited = admin
        .send(
            reqwest::Method::PUT,
            "/api/v1/price-catalog/openai/gpt-4o-mini",
            Some(json!({"input_per_mtok": "0.10", "output_per_mtok": "0.50"})),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    assert_eq!(edited.body["edited"], true);
    assert_eq!(edited.body["input_per_mtok"], "0.10");
    let owner = server
        .user_with_role("acme", "o@example.com", "owner")
        .await;
    owner
        .send(
            reqwest::Method::PUT,
            "/api/v1/price-catalog/openai/gpt-4o-mini",
            Some(json!({"input_per_mtok": "0", "output_per_mtok": "0"})),
        )
        .await
        .assert_problem(403);
}

#[tokio::test]
async fn providers_and_models_of_another_tenant_are_invisible() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let provider = admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "p", "kind": "openai", "api_key": SECRET_KEY}),
        )
        .await;
    let model = admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "m",
        "deployments": [{"provider": "p", "model": "gpt-4o"}]}),
        )
        .await;
    let outsider = server
        .user_with_role("globex", "g@example.com", "owner")
        .await;
    let (p, m) = (
        provider.body["id"].as_str().unwrap(),
        model.body["id"].as_str().unwrap(),
    );
    for path in [
        format!("/api/v1/tenants/globex/providers/{p}"),
        format!("/api/v1/tenants/globex/models/{m}"),
        "/api/v1/tenants/default/providers".to_string(),
        "/api/v1/tenants/default/models".to_string(),
    ] {
        outsider.get(&path).await.assert_problem(404);
    }
    outsider
        .post(
            &format!("/api/v1/tenants/globex/providers/{p}/test"),
            json!({}),
        )
        .await
        .assert_problem(404);
    // A model in globex cannot deploy on default's provider, even by id.
    outsider
        .post(
            "/api/v1/tenants/globex/models",
            json!({"name": "steal",
        "deployments": [{"provider": p, "model": "gpt-4o"}]}),
        )
        .await
        .assert_problem(422);
}
