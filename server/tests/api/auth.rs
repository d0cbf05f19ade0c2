use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestServer, ADMIN_EMAIL, ADMIN_PASSWORD};

#[tokio::test]
async fn bootstrap_admin_logs_in_and_owns_the_default_tenant() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let me = admin.get("/api/v1/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["email"], ADMIN_EMAIL);
    assert_eq!(me.body["platform_admin"], true);
    assert_eq!(me.body["tenants"][0]["slug"], "default");
    assert_eq!(me.body["tenants"][0]["role"], "owner");

    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE email = $1")
        .bind(ADMIN_EMAIL)
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains(ADMIN_PASSWORD));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let server = TestServer::start().await;
    let api = server.anonymous();
    let wrong_password = api
        .post(
            "/api/v1/auth/login",
            json!({"email": ADMIN_EMAIL, "password": "not the password"}),
        )
        .await;
    let unknown_email = api
        .post(
            "/api/v1/auth/login",
            json!({"email": "nobody@example.com", "password": "not the password"}),
        )
        .await;
    wrong_password.assert_problem(401);
    unknown_email.assert_problem(401);
    assert_eq!(wrong_password.body, unknown_email.body);
    assert_eq!(api.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn repeated_failed_logins_lock_the_account_out() {
    let server = TestServer::start().await;
    let api = server.anonymous();
    for _ in 0..5 {
        let reply = api
            .post(
                "/api/v1/auth/login",
                json!({"email": ADMIN_EMAIL, "password": "guess-guess"}),
            )
            .await;
        reply.assert_problem(401);
    }
    // Now even the right password is refused for a while.
    let locked = api
        .post(
            "/api/v1/auth/login",
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await;
    locked.assert_problem(429);
    let retry_after: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 60, "{retry_after}");

    // An unknown account is locked out just the same, so lock-outs reveal nothing.
    for _ in 0..5 {
        api.post(
            "/api/v1/auth/login",
            json!({"email": "ghost@example.com", "password": "guess-guess"}),
        )
        .await;
    }
    let ghost = api
        .post(
            "/api/v1/auth/login",
            json!({"email": "ghost@example.com", "password": "guess-guess"}),
        )
        .await;
    ghost.assert_problem(429);
}

#[tokio::test]
async fn logout_ends_the_session() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    assert_eq!(admin.get("/api/v1/me").await.status, StatusCode::OK);
    let out = admin.post("/api/v1/auth/logout", json!({})).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    admin.get("/api/v1/me").await.assert_problem(401);
}

#[tokio::test]
async fn session_cookie_is_http_only_and_same_site_lax() {
    let server = TestServer::start().await;
    let reply = server
        .anonymous()
        .post(
            "/api/v1/auth/login",
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await;
    let cookie = reply.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("tollgate_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    // The session lives in Postgres.
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM tower_sessions.session")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(sessions, 1);
}

#[tokio::test]
async fn the_api_refuses_anonymous_callers() {
    let server = TestServer::start().await;
    let api = server.anonymous();
    for path in [
        "/api/v1/me",
        "/api/v1/tenants",
        "/api/v1/tokens",
        "/api/v1/tenants/default/keys",
    ] {
        api.get(path).await.assert_problem(401);
    }
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let server = TestServer::start().await;
    let api = server.anonymous();
    let health = api.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = api.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["status"], "ready");
    assert!(health.headers.contains_key("x-request-id"));
}
