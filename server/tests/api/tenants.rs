use reqwest::StatusCode;
use serde_json::json;

use tollgate_testkit::TestServer;

#[tokio::test]
async fn platform_admin_creates_reads_renames_and_deletes_tenants() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let created = admin
        .post("/api/v1/tenants", json!({"name": "Acme", "slug": "acme"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["role"], "owner");

    let by_slug = admin.get("/api/v1/tenants/acme").await;
    let by_id = admin.get(&format!("/api/v1/tenants/{id}")).await;
    assert_eq!(by_slug.body["id"], id.as_str());
    assert_eq!(by_id.body["slug"], "acme");

    let renamed = admin
        .patch(
            "/api/v1/tenants/acme",
            json!({"name": "Acme Corp", "slug": "acme-corp"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(renamed.body["name"], "Acme Corp");
    admin.get("/api/v1/tenants/acme").await.assert_problem(404);

    let slugs: Vec<String> = admin
        .get("/api/v1/tenants")
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(slugs, ["acme-corp", "default"]);

    assert_eq!(
        admin.delete(&format!("/api/v1/tenants/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    admin
        .get(&format!("/api/v1/tenants/{id}"))
        .await
        .assert_problem(404);
    let audit: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE tenant_id = $1::uuid ORDER BY id")
            .bind(&id)
            .fetch_all(&server.db)
            .await
            .unwrap();
    assert_eq!(audit, ["tenant.create", "tenant.update", "tenant.delete"]);
}

#[tokio::test]
async fn a_taken_slug_is_a_conflict() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    admin
        .post("/api/v1/tenants", json!({"name": "Acme", "slug": "acme"}))
        .await;
    admin
        .post("/api/v1/tenants", json!({"name": "Acme 2", "slug": "acme"}))
        .await
        .assert_problem(409);
    admin
        .post("/api/v1/tenants", json!({"name": "Other", "slug": "other"}))
        .await;
    admin
        .patch("/api/v1/tenants/other", json!({"slug": "acme"}))
        .await
        .assert_problem(409);
}

#[tokio::test]
async fn only_platform_admins_create_or_delete_tenants() {
    let server = TestServer::start().await;
    let owner = server
        .user_with_role("acme", "owner@example.com", "owner")
        .await;
    owner
        .post("/api/v1/tenants", json!({"name": "Mine"}))
        .await
        .assert_problem(403);
    owner
        .delete("/api/v1/tenants/acme")
        .await
        .assert_problem(403);
    // Owners may rename their own tenant.
    let renamed = owner
        .patch("/api/v1/tenants/acme", json!({"name": "Acme Inc"}))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
}

#[tokio::test]
async fn users_see_only_the_tenants_they_belong_to() {
    let server = TestServer::start().await;
    let alice = server
        .user_with_role("acme", "alice@example.com", "viewer")
        .await;
    server
        .user_with_role("globex", "gina@example.com", "owner")
        .await;
    let listed = alice.get("/api/v1/tenants").await;
    let slugs: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["acme"]);
    assert_eq!(listed.body[0]["role"], "viewer");
    let admin_sees = server.admin().await.get("/api/v1/tenants").await;
    assert_eq!(admin_sees.body.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn viewers_and_members_cannot_change_the_tenant() {
    let server = TestServer::start().await;
    let viewer = server
        .user_with_role("acme", "v@example.com", "viewer")
        .await;
    let member = server
        .user_with_role("acme", "m@example.com", "member")
        .await;
    viewer
        .patch("/api/v1/tenants/acme", json!({"name": "X"}))
        .await
        .assert_problem(403);
    member
        .patch("/api/v1/tenants/acme", json!({"name": "X"}))
        .await
        .assert_problem(403);
}
