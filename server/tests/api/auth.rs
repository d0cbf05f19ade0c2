use reqwest::StatusCode;
use serde_json::json;

use tollgate_testkit::{Reply, TestServer, ADMIN_EMAIL, ADMIN_PASSWORD};

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

/// A sign-in from a given client address (the test server trusts loopback as a reverse proxy).
async fn login_from(server: &TestServer, address: &str, email: &str, password: &str) -> Reply {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", server.base))
        .header("x-forwarded-for", address)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or_default(),
        text,
    }
}

fn retry_after(reply: &Reply) -> u64 {
    reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn failed_logins_slow_down_their_own_address_only() {
    let server = TestServer::start().await;
    let attacker = "203.0.113.7";
    for _ in 0..3 {
        login_from(&server, attacker, ADMIN_EMAIL, "guess-guess")
            .await
            .assert_problem(401);
    }
    // The attacking address must now wait, even with the right password...
    let waiting = login_from(&server, attacker, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    waiting.assert_problem(429);
    assert_eq!(retry_after(&waiting), 1);
    // ...and the wait doubles with each further failure.
    sqlx::query("UPDATE login_failures SET last_at = last_at - interval '5 seconds'")
        .execute(&server.db)
        .await
        .unwrap();
    login_from(&server, attacker, ADMIN_EMAIL, "guess-again")
        .await
        .assert_problem(401);
    let longer = login_from(&server, attacker, ADMIN_EMAIL, "guess-guess").await;
    longer.assert_problem(429);
    assert_eq!(retry_after(&longer), 2);

    // The platform admin signs in from their own address all the same: no lock-out for others.
    let admin = login_from(&server, "198.51.100.1", ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.text);

    // The counters live in PostgreSQL, where every server process sees them.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM login_failures WHERE address = $1")
        .bind(attacker)
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(stored, 1);

    // An unknown account is slowed just the same, so waits reveal nothing.
    for _ in 0..3 {
        login_from(&server, attacker, "ghost@example.com", "guess-guess")
            .await
            .assert_problem(401);
    }
    login_from(&server, attacker, "ghost@example.com", "guess-guess")
        .await
        .assert_problem(429);

    // X-Forwarded-For from an untrusted peer is ignored (here the peer is trusted loopback, so
    // a forged leftmost entry does not help either: the last untrusted hop counts).
    let forged = login_from(
        &server,
        &format!("198.51.100.9, {attacker}"),
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
    )
    .await;
    forged.assert_problem(429);
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
