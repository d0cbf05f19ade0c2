use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

use tollgate_testkit::TestServer;

#[tokio::test]
async fn key_secret_is_returned_once_and_only_its_hash_is_stored() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let created = admin
        .post(
            "/api/v1/tenants/default/keys",
            json!({
                "name": "checkout service",
                "scopes": {"routes": ["orders"], "models": ["gpt-4o-mini"]},
                "limits": {"requests_per_minute": 600, "tokens_per_minute": 100000},
                "budget": {"amount_usd": "25.50", "period": "month"}
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let secret = created.body["secret"].as_str().unwrap().to_string();
    let id = created.body["id"].as_str().unwrap().to_string();
    let random = secret.strip_prefix("tg_").expect("tg_ prefix");
    assert!(
        random.len() >= 32 && random.chars().all(|c| c.is_ascii_alphanumeric()),
        "{secret}"
    );
    assert_eq!(created.body["status"], "active");
    assert_eq!(created.body["scopes"]["routes"], json!(["orders"]));
    assert_eq!(created.body["scopes"]["prompt_apis"], json!([]));
    assert_eq!(created.body["limits"]["requests_per_minute"], 600);
    assert_eq!(
        created.body["budget"],
        json!({"amount_usd": "25.50", "period": "month"})
    );
    assert!(secret.starts_with(created.body["prefix"].as_str().unwrap()));

    // The database holds the SHA-256 and a short prefix, never the secret.
    let (hash, prefix, budget): (Vec<u8>, String, i64) = sqlx::query_as(
        "SELECT secret_hash, prefix, budget_nanousd FROM api_keys WHERE id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&server.db)
    .await
    .unwrap();
    assert_eq!(hash, Sha256::digest(secret.as_bytes()).to_vec());
    assert!(prefix.len() < 16);
    assert_eq!(budget, 25_500_000_000);
    let whole_row: String =
        sqlx::query_scalar("SELECT to_jsonb(k)::text FROM api_keys k WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&server.db)
            .await
            .unwrap();
    assert!(
        !whole_row.contains(random),
        "the secret is stored: {whole_row}"
    );

    // Reads and lists never show it again.
    let one = admin
        .get(&format!("/api/v1/tenants/default/keys/{id}"))
        .await;
    let all = admin.get("/api/v1/tenants/default/keys").await;
    for reply in [&one, &all] {
        assert_eq!(reply.status, StatusCode::OK);
        assert!(!reply.text.contains(random));
        assert!(!reply.text.contains("secret"), "{}", reply.text);
        assert!(!reply.text.contains("hash"), "{}", reply.text);
    }
    assert_eq!(one.body["name"], "checkout service");
}

#[tokio::test]
async fn revoked_keys_stay_listed_and_can_never_change_again() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let created = admin
        .post("/api/v1/tenants/default/keys", json!({"name": "old"}))
        .await;
    let id = created.body["id"].as_str().unwrap();
    let path = format!("/api/v1/tenants/default/keys/{id}");
    assert_eq!(admin.delete(&path).await.status, StatusCode::NO_CONTENT);
    let after = admin.get(&path).await;
    assert_eq!(after.body["status"], "revoked");
    assert!(after.body["revoked_at"].is_string());
    admin
        .patch(&path, json!({"name": "revived"}))
        .await
        .assert_problem(409);
    // Revoking again is harmless, and is recorded once.
    assert_eq!(admin.delete(&path).await.status, StatusCode::NO_CONTENT);
    let listed = admin.get("/api/v1/tenants/default/keys").await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    let revocations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'key.revoke'")
            .fetch_one(&server.db)
            .await
            .unwrap();
    assert_eq!(revocations, 1);
}

#[tokio::test]
async fn expiry_must_be_in_the_future_and_expired_keys_show_as_expired() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    for past_or_malformed in ["2020-01-01T00:00:00Z", "tomorrow"] {
        admin
            .post(
                "/api/v1/tenants/default/keys",
                json!({"name": "k", "expires_at": past_or_malformed}),
            )
            .await
            .assert_problem(422);
    }
    let created = admin
        .post(
            "/api/v1/tenants/default/keys",
            json!({"name": "k", "expires_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["expires_at"], "2099-01-01T00:00:00Z");
    let id = created.body["id"].as_str().unwrap();
    sqlx::query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1::uuid")
        .bind(id)
        .execute(&server.db)
        .await
        .unwrap();
    let expired = admin
        .get(&format!("/api/v1/tenants/default/keys/{id}"))
        .await;
    assert_eq!(expired.body["status"], "expired");
}

#[tokio::test]
async fn patch_changes_settings_and_null_clears_budget_and_expiry() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let created = admin
        .post(
            "/api/v1/tenants/default/keys",
            json!({"name": "k", "expires_at": "2099-01-01T00:00:00Z", "budget": {"amount_usd": "5", "period": "day"}}),
        )
        .await;
    let path = format!(
        "/api/v1/tenants/default/keys/{}",
        created.body["id"].as_str().unwrap()
    );
    let changed = admin
        .patch(&path, json!({"limits": {"requests_per_minute": 10}, "scopes": {"prompt_apis": ["summarize"]}}))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["limits"]["requests_per_minute"], 10);
    assert_eq!(changed.body["scopes"]["prompt_apis"], json!(["summarize"]));
    assert_eq!(
        changed.body["budget"]["amount_usd"], "5.00",
        "untouched fields stay"
    );
    let cleared = admin
        .patch(&path, json!({"budget": null, "expires_at": null}))
        .await;
    assert_eq!(cleared.body["budget"], json!(null));
    assert_eq!(cleared.body["expires_at"], json!(null));
    assert_eq!(cleared.body["limits"]["requests_per_minute"], 10);
}

#[tokio::test]
async fn key_writes_are_audited_without_secrets_and_bump_the_config_version() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let version = || async {
        sqlx::query_scalar::<_, i64>("SELECT version FROM config_version")
            .fetch_one(&server.db)
            .await
            .unwrap()
    };
    let before = version().await;
    let created = admin
        .post("/api/v1/tenants/default/keys", json!({"name": "audited"}))
        .await;
    let secret = created.body["secret"].as_str().unwrap();
    let path = format!(
        "/api/v1/tenants/default/keys/{}",
        created.body["id"].as_str().unwrap()
    );
    admin.patch(&path, json!({"name": "audited-2"})).await;
    admin.delete(&path).await;
    assert_eq!(version().await, before + 3);

    let audit = admin.get("/api/v1/tenants/default/audit").await;
    let actions: Vec<&str> = audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["key.revoke", "key.update", "key.create"]);
    assert_eq!(audit.body[2]["target_type"], "api_key");
    assert!(!audit.text.contains(secret));

    // Paging: newest first, `before` continues after the last id of a page.
    let first = admin.get("/api/v1/tenants/default/audit?limit=1").await;
    let last_id = first.body[0]["id"].as_str().unwrap();
    let next = admin
        .get(&format!(
            "/api/v1/tenants/default/audit?limit=5&before={last_id}"
        ))
        .await;
    assert_eq!(next.body.as_array().unwrap().len(), 2);
    assert_eq!(next.body[0]["action"], "key.update");
}
