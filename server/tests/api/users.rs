//! User management: changing your own password, disabling, enabling and deleting users,
//! one-time reset links (from the API and the server's command line), and the platform's audit
//! log of it all.

use reqwest::StatusCode;
use serde_json::json;
use tollgate_testkit::{Api, TestServer, ADMIN_EMAIL};

const USER: &str = "dana@example.com";
const PASSWORD: &str = "user-password-1";

async fn token_of(api: &Api) -> String {
    let made = api.post("/api/v1/tokens", json!({"name": "script"})).await;
    assert_eq!(made.status, 201, "{}", made.text);
    made.body["secret"].as_str().unwrap().to_string()
}

async fn user_id(admin: &Api, email: &str) -> String {
    let users = admin.get("/api/v1/users").await;
    assert_eq!(users.status, 200, "{}", users.text);
    users
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap_or_else(|| panic!("{email} in {}", users.text))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn platform_actions(entries: &serde_json::Value) -> Vec<String> {
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_on_request_the_admin_tokens() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let here = server.user_with_role("default", USER, "member").await;
    let elsewhere = server.login(USER, PASSWORD).await;
    let token = token_of(&here).await;
    let by_token = Api::with_bearer(&server.base, &token);

    let wrong = here
        .post(
            "/api/v1/me/password",
            json!({"current_password": "not it", "new_password": "a-new-password-2"}),
        )
        .await;
    wrong.assert_problem(422);
    assert!(wrong.text.contains("current_password"), "{}", wrong.text);
    here.post(
        "/api/v1/me/password",
        json!({"current_password": PASSWORD, "new_password": "short"}),
    )
    .await
    .assert_problem(422);

    let changed = here
        .post(
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "a-new-password-2"}),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.text);
    assert_eq!(here.get("/api/v1/me").await.status, StatusCode::OK);
    let ended = elsewhere.get("/api/v1/me").await;
    ended.assert_problem(401);
    assert!(ended.text.contains("session ended"), "{}", ended.text);
    assert_eq!(
        by_token.get("/api/v1/me").await.status,
        StatusCode::OK,
        "admin tokens stay unless asked"
    );
    server
        .anonymous()
        .post(
            "/api/v1/auth/login",
            json!({"email": USER, "password": PASSWORD}),
        )
        .await
        .assert_problem(401);

    let changed = here
        .post(
            "/api/v1/me/password",
            json!({"current_password": "a-new-password-2", "new_password": "a-third-password-3",
                   "end_admin_tokens": true}),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.text);
    by_token.get("/api/v1/me").await.assert_problem(401);
    assert_eq!(here.get("/api/v1/me").await.status, StatusCode::OK);
    server.login(USER, "a-third-password-3").await;

    // The platform's audit log has the sign-ins, the failure and the changes; never a password.
    let audit = admin.get("/api/v1/audit").await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    let actions = platform_actions(&audit.body);
    for expected in [
        "user.sign_in",
        "user.sign_in_failed",
        "user.password_change",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected}: {actions:?}"
        );
    }
    assert!(
        !audit.text.contains(PASSWORD) && !audit.text.contains("a-third-password"),
        "{}",
        audit.text
    );
    here.get("/api/v1/audit").await.assert_problem(403);
}

#[tokio::test]
async fn a_disabled_user_is_out_at_once_and_a_deleted_one_is_gone() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let user = server.user_with_role("default", USER, "admin").await;
    let token = token_of(&user).await;
    let by_token = Api::with_bearer(&server.base, &token);
    let key = user
        .post(
            "/api/v1/tenants/default/keys",
            json!({"name": "made-by-dana"}),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.text);
    let id = user_id(&admin, USER).await;
    user.get("/api/v1/users").await.assert_problem(403);

    let disabled = admin
        .post(&format!("/api/v1/users/{id}/disable"), json!({}))
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.text);
    assert_eq!(disabled.body["disabled"], true);
    let out = user.get("/api/v1/me").await;
    out.assert_problem(401);
    assert!(out.text.contains("disabled"), "{}", out.text);
    by_token.get("/api/v1/me").await.assert_problem(401);
    let refused = server
        .anonymous()
        .post(
            "/api/v1/auth/login",
            json!({"email": USER, "password": PASSWORD}),
        )
        .await;
    refused.assert_problem(401);
    assert!(refused.text.contains("disabled"), "{}", refused.text);
    // Keys they made keep working unless revoked.
    let keys = admin.get("/api/v1/tenants/default/keys").await;
    let made = keys
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "made-by-dana")
        .unwrap();
    assert!(made["revoked_at"].is_null(), "{}", keys.text);

    // Nobody disables themselves or the last platform admin.
    let me = user_id(&admin, ADMIN_EMAIL).await;
    admin
        .post(&format!("/api/v1/users/{me}/disable"), json!({}))
        .await
        .assert_problem(409);

    let enabled = admin
        .post(&format!("/api/v1/users/{id}/enable"), json!({}))
        .await;
    assert_eq!(enabled.body["disabled"], false, "{}", enabled.text);
    let again = server.login(USER, PASSWORD).await;
    assert_eq!(again.get("/api/v1/me").await.status, StatusCode::OK);
    by_token.get("/api/v1/me").await.assert_problem(401);

    let deleted = admin.delete(&format!("/api/v1/users/{id}")).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    again.get("/api/v1/me").await.assert_problem(401);
    let members = admin.get("/api/v1/tenants/default/members").await;
    assert!(!members.text.contains(USER), "{}", members.text);
    let audit = platform_actions(&admin.get("/api/v1/audit").await.body);
    for expected in ["user.disable", "user.enable", "user.delete"] {
        assert!(audit.iter().any(|a| a == expected), "{expected}: {audit:?}");
    }
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let user = server.user_with_role("default", USER, "member").await;
    let id = user_id(&admin, USER).await;
    user.post(&format!("/api/v1/users/{id}/password-reset"), json!({}))
        .await
        .assert_problem(403);
    let made = admin
        .post(&format!("/api/v1/users/{id}/password-reset"), json!({}))
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let link = made.body["link"].as_str().unwrap();
    assert!(link.contains("/reset-password?token=tgr_"), "{link}");
    let token = link.split("token=").nth(1).unwrap();

    let anonymous = server.anonymous();
    let reset = json!({"token": token, "new_password": "a-reset-password-9"});
    let done = anonymous
        .post("/api/v1/auth/password-reset", reset.clone())
        .await;
    assert_eq!(done.status, 204, "{}", done.text);
    user.get("/api/v1/me").await.assert_problem(401);
    server.login(USER, "a-reset-password-9").await;
    anonymous
        .post("/api/v1/auth/password-reset", reset)
        .await
        .assert_problem(404);

    // The server's command line makes one for the last admin who forgot theirs.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate-server"))
        .args(["admin", "reset-password", ADMIN_EMAIL])
        .env("DATABASE_URL", server.database_url())
        .env("TOLLGATE_PUBLIC_URL", "https://tollgate.example.com")
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.starts_with("https://tollgate.example.com/reset-password?token=tgr_"),
        "{printed}"
    );
    let token = printed
        .split("token=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    let done = anonymous
        .post(
            "/api/v1/auth/password-reset",
            json!({"token": token, "new_password": "admin-is-back-1"}),
        )
        .await;
    assert_eq!(done.status, 204, "{}", done.text);
    admin.get("/api/v1/me").await.assert_problem(401);
    server.login(ADMIN_EMAIL, "admin-is-back-1").await;
}
