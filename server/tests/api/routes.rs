use reqwest::StatusCode;
use serde_json::json;

use tollgate_testkit::RoleUsers;
use tollgate_testkit::TestServer;

fn orders() -> serde_json::Value {
    json!({"name": "orders", "hosts": [], "path": "/orders", "match": "prefix", "methods": [],
        "strip_prefix": true, "targets": [{"url": "http://10.0.0.5:8080", "weight": 90},
        {"url": "http://10.0.0.6:8080", "weight": 10}], "timeout": "10s", "retries": 3, "require_key": true})
}

#[tokio::test]
async fn routes_are_created_read_patched_and_deleted() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let created = admin.post("/api/v1/tenants/default/routes", orders()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["timeout"], "10s");
    assert_eq!(created.body["connect_timeout"], "5s");
    assert_eq!(
        created.body["retry_on"],
        json!(["connect_error", "502", "503", "504"])
    );
    assert_eq!(created.body["targets"][1]["weight"], 10);

    let path = format!("/api/v1/tenants/default/routes/{id}");
    let patched = admin
        .patch(&path, json!({"timeout": "1500ms", "methods": ["get"], "request_headers": {"set": {"x-a": "1"}}}))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["timeout"], "1s 500ms");
    assert_eq!(patched.body["methods"], json!(["GET"]));
    assert_eq!(patched.body["strip_prefix"], true, "fields left out stay");
    let reset = admin.patch(&path, json!({"timeout": null})).await;
    assert_eq!(reset.body["timeout"], "1m", "null restores the default");

    assert_eq!(
        admin
            .get("/api/v1/tenants/default/routes")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(admin.delete(&path).await.status, StatusCode::NO_CONTENT);
    admin.get(&path).await.assert_problem(404);
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE target_type = 'route' ORDER BY id")
            .fetch_all(&server.db)
            .await
            .unwrap();
    assert_eq!(
        actions,
        [
            "route.create",
            "route.update",
            "route.update",
            "route.delete"
        ]
    );
}

#[tokio::test]
async fn bad_routes_are_refused_with_problems() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let with = |change: serde_json::Value| {
        let mut route = orders();
        for (k, v) in change.as_object().unwrap() {
            route[k] = v.clone();
        }
        route
    };
    for change in [
        json!({"targets": [{"url": "not a url"}]}),
        json!({"targets": [{"url": "http://a", "weight": 0}]}),
        json!({"targets": []}),
        json!({"timeout": "-5s"}),
        json!({"connect_timeout": "0s"}),
        json!({"path": "orders"}),
        json!({"methods": ["FETCH"]}),
        json!({"retries": 99}),
        json!({"name": ""}),
    ] {
        admin
            .post("/api/v1/tenants/default/routes", with(change.clone()))
            .await
            .assert_problem(422);
    }
    admin
        .post(
            "/api/v1/tenants/default/routes",
            with(json!({"colour": "red"})),
        )
        .await
        .assert_problem(422);
    admin
        .post(
            "/api/v1/tenants/default/routes",
            with(json!({"retries": "three"})),
        )
        .await
        .assert_problem(422);
}

#[tokio::test]
async fn a_route_that_duplicates_another_match_is_a_conflict() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    admin.post("/api/v1/tenants/default/routes", orders()).await;
    let mut same_match = orders();
    same_match["name"] = json!("orders-2");
    same_match["path"] = json!("/orders/");
    admin
        .post("/api/v1/tenants/default/routes", same_match.clone())
        .await
        .assert_problem(409);
    let mut same_name = orders();
    same_name["path"] = json!("/other");
    admin
        .post("/api/v1/tenants/default/routes", same_name)
        .await
        .assert_problem(409);
    // Differing in methods is a different match.
    same_match["methods"] = json!(["POST"]);
    assert_eq!(
        admin
            .post("/api/v1/tenants/default/routes", same_match)
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn only_admins_manage_routes_and_other_tenants_see_none() {
    let server = TestServer::start().await;
    let RoleUsers {
        viewer,
        member,
        admin,
        ..
    } = server.users_of_every_role("acme").await;
    server.give_request_space("acme").await;
    member
        .post("/api/v1/tenants/acme/routes", orders())
        .await
        .assert_problem(403);
    let created = admin.post("/api/v1/tenants/acme/routes", orders()).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        viewer
            .get(&format!("/api/v1/tenants/acme/routes/{id}"))
            .await
            .status,
        StatusCode::OK
    );
    viewer
        .delete(&format!("/api/v1/tenants/acme/routes/{id}"))
        .await
        .assert_problem(403);

    let outsider = server
        .user_with_role("globex", "g@example.com", "owner")
        .await;
    outsider
        .get("/api/v1/tenants/acme/routes")
        .await
        .assert_problem(404);
    outsider
        .get(&format!("/api/v1/tenants/globex/routes/{id}"))
        .await
        .assert_problem(404);
    outsider
        .patch(
            &format!("/api/v1/tenants/globex/routes/{id}"),
            json!({"retries": 0}),
        )
        .await
        .assert_problem(404);
    outsider
        .delete(&format!("/api/v1/tenants/globex/routes/{id}"))
        .await
        .assert_problem(404);
}
