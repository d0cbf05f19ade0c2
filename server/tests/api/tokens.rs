use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

use tollgate_testkit::{Api, TestServer};

#[tokio::test]
async fn admin_token_is_shown_once_stored_hashed_and_works_as_bearer() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let created = admin
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let secret = created.body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("tga_") && secret.len() >= 36, "{secret}");
    let id = created.body["id"].as_str().unwrap().to_string();

    let listed = admin.get("/api/v1/tokens").await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert!(!listed.text.contains(&secret));
    assert!(listed.body[0].get("secret").is_none());

    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_hash FROM admin_tokens")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(stored, Sha256::digest(secret.as_bytes()).to_vec());

    let bot = Api::with_bearer(&server.base, &secret);
    let me = bot.get("/api/v1/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["platform_admin"], true);
    let created_by_bot = bot
        .post("/api/v1/tenants", json!({"name": "Scripted"}))
        .await;
    assert_eq!(
        created_by_bot.status,
        StatusCode::CREATED,
        "{}",
        created_by_bot.text
    );
    assert_eq!(created_by_bot.body["slug"], "scripted");

    let deleted = admin.delete(&format!("/api/v1/tokens/{id}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    bot.get("/api/v1/me").await.assert_problem(401);
}

#[tokio::test]
async fn unknown_or_malformed_bearer_tokens_are_refused() {
    let server = TestServer::start().await;
    Api::with_bearer(&server.base, "tga_notarealtoken")
        .get("/api/v1/me")
        .await
        .assert_problem(401);
    let basic = server
        .anonymous()
        .send_raw(reqwest::Method::GET, "/api/v1/me", None, "")
        .await;
    basic.assert_problem(401);
}

#[tokio::test]
async fn users_cannot_see_or_delete_each_others_tokens() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let created = admin.post("/api/v1/tokens", json!({"name": "mine"})).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let bob = server
        .user_with_role("acme", "bob@example.com", "owner")
        .await;
    assert_eq!(bob.get("/api/v1/tokens").await.body, json!([]));
    bob.delete(&format!("/api/v1/tokens/{id}"))
        .await
        .assert_problem(404);
    assert_eq!(
        admin
            .get("/api/v1/tokens")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn token_expiry_out_of_range_is_refused() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    admin
        .post("/api/v1/tokens", json!({"name": "x", "expires_in_days": 0}))
        .await
        .assert_problem(422);
}
