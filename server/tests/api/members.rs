use reqwest::StatusCode;
use serde_json::json;

use tollgate_testkit::RoleUsers;
use tollgate_testkit::{Reply, TestServer};

#[tokio::test]
async fn adding_a_member_with_a_password_creates_a_user_who_can_log_in() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let added = admin
        .post(
            "/api/v1/tenants/default/members",
            json!({"email": "bob@example.com", "password": "bobs-password", "role": "admin"}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    assert_eq!(added.body["role"], "admin");
    assert!(added.body.get("password").is_none());

    let bob = server.login("bob@example.com", "bobs-password").await;
    let me = bob.get("/api/v1/me").await;
    assert_eq!(me.body["platform_admin"], false);
    assert_eq!(me.body["tenants"][0]["role"], "admin");

    let members = admin.get("/api/v1/tenants/default/members").await;
    let emails: Vec<&str> = members
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["admin@example.com", "bob@example.com"]);
}

#[tokio::test]
async fn existing_users_are_added_without_a_password() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    server
        .user_with_role("acme", "bob@example.com", "viewer")
        .await;
    let added = admin
        .post(
            "/api/v1/tenants/default/members",
            json!({"email": "BOB@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let refusals = [
        // Already a member.
        (
            "default",
            json!({"email": "bob@example.com", "role": "member"}),
            409,
        ),
        // A new user needs a password.
        (
            "default",
            json!({"email": "carol@example.com", "role": "member"}),
            422,
        ),
        // An existing user keeps their own password.
        (
            "acme",
            json!({"email": "bob@example.com", "password": "another-pass", "role": "member"}),
            409,
        ),
    ];
    for (tenant, member, status) in refusals {
        admin
            .post(&format!("/api/v1/tenants/{tenant}/members"), member)
            .await
            .assert_problem(status);
    }
}

#[tokio::test]
async fn each_role_may_do_what_it_should_and_no_more() {
    let server = TestServer::start().await;
    let RoleUsers {
        viewer,
        member,
        admin,
        owner,
    } = server.users_of_every_role("acme").await;
    let new_member =
        |email: &str, role: &str| json!({"email": email, "password": "password-123", "role": role});

    // Viewers read everything, change nothing.
    for path in [
        "/api/v1/tenants/acme",
        "/api/v1/tenants/acme/members",
        "/api/v1/tenants/acme/keys",
        "/api/v1/tenants/acme/audit",
    ] {
        assert_eq!(
            viewer.get(path).await.status,
            StatusCode::OK,
            "viewer GET {path}"
        );
    }
    viewer
        .post("/api/v1/tenants/acme/keys", json!({"name": "k"}))
        .await
        .assert_problem(403);
    viewer
        .post(
            "/api/v1/tenants/acme/members",
            new_member("x@example.com", "viewer"),
        )
        .await
        .assert_problem(403);

    // Members manage keys, not members.
    let key = member
        .post("/api/v1/tenants/acme/keys", json!({"name": "k"}))
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.text);
    let key_id = key.body["id"].as_str().unwrap();
    let patched = member
        .patch(
            &format!("/api/v1/tenants/acme/keys/{key_id}"),
            json!({"name": "k2"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    viewer
        .delete(&format!("/api/v1/tenants/acme/keys/{key_id}"))
        .await
        .assert_problem(403);
    assert_eq!(
        member
            .delete(&format!("/api/v1/tenants/acme/keys/{key_id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    member
        .post(
            "/api/v1/tenants/acme/members",
            new_member("x@example.com", "viewer"),
        )
        .await
        .assert_problem(403);
    member
        .patch(
            "/api/v1/tenants/acme/members/viewer@acme.example",
            json!({"role": "admin"}),
        )
        .await
        .assert_problem(403);

    // Admins invite members (nobody joins without accepting) but cannot grant, change or
    // remove the owner role.
    admin
        .post(
            "/api/v1/tenants/acme/members",
            new_member("x@example.com", "member"),
        )
        .await
        .assert_problem(403);
    let invited = admin
        .post(
            "/api/v1/tenants/acme/invitations",
            json!({"email": "x@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
    let accepted = server
        .anonymous()
        .post(
            "/api/v1/invitations/accept",
            json!({"token": invited.body["token"], "password": "x-user-password-1"}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    let promoted = admin
        .patch(
            "/api/v1/tenants/acme/members/x@example.com",
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(promoted.body["role"], "admin");
    admin
        .post(
            "/api/v1/tenants/acme/invitations",
            json!({"email": "y@example.com", "role": "owner"}),
        )
        .await
        .assert_problem(403);
    admin
        .patch(
            "/api/v1/tenants/acme/members/x@example.com",
            json!({"role": "owner"}),
        )
        .await
        .assert_problem(403);
    admin
        .delete("/api/v1/tenants/acme/members/owner@acme.example")
        .await
        .assert_problem(403);
    assert_eq!(
        admin
            .delete("/api/v1/tenants/acme/members/x@example.com")
            .await
            .status,
        StatusCode::NO_CONTENT
    );

    // Owners may grant the owner role.
    let made_owner = owner
        .patch(
            "/api/v1/tenants/acme/members/admin@acme.example",
            json!({"role": "owner"}),
        )
        .await;
    assert_eq!(made_owner.status, StatusCode::OK, "{}", made_owner.text);
}

#[tokio::test]
async fn the_last_owner_cannot_be_demoted_or_removed() {
    let server = TestServer::start().await;
    let owner = server
        .user_with_role("solo", "solo@example.com", "owner")
        .await;
    // The platform admin who created the tenant is an owner too; remove them first.
    let admin = server.admin().await;
    assert_eq!(
        admin
            .delete("/api/v1/tenants/solo/members/admin@example.com")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    owner
        .patch(
            "/api/v1/tenants/solo/members/solo@example.com",
            json!({"role": "admin"}),
        )
        .await
        .assert_problem(409);
    owner
        .delete("/api/v1/tenants/solo/members/solo@example.com")
        .await
        .assert_problem(409);
    let members = owner.get("/api/v1/tenants/solo/members").await;
    assert_eq!(members.body[0]["role"], "owner");
}

#[tokio::test]
async fn member_changes_are_audited() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    admin
        .post(
            "/api/v1/tenants/default/members",
            json!({"email": "bob@example.com", "password": "bobs-password", "role": "viewer"}),
        )
        .await;
    admin
        .patch(
            "/api/v1/tenants/default/members/bob@example.com",
            json!({"role": "member"}),
        )
        .await;
    admin
        .delete("/api/v1/tenants/default/members/bob@example.com")
        .await;
    let audit = admin.get("/api/v1/tenants/default/audit").await;
    let actions: Vec<&str> = audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["member.remove", "member.update", "member.add"]);
    assert_eq!(audit.body[1]["details"]["from"], "viewer");
    assert_eq!(audit.body[1]["details"]["to"], "member");
    assert_eq!(audit.body[0]["actor_email"], "admin@example.com");
    assert!(!audit.text.contains("bobs-password"));
}

#[tokio::test]
async fn invitations_need_consent_and_reveal_no_accounts() {
    let server = TestServer::start().await;
    let admin = server
        .user_with_role("acme", "admin@acme.example", "admin")
        .await;
    let existing = server
        .user_with_role("other", "taken@example.com", "viewer")
        .await;
    let invite = |email: &str| {
        admin.post(
            "/api/v1/tenants/acme/invitations",
            json!({"email": email, "role": "viewer"}),
        )
    };
    let to_existing = invite("taken@example.com").await;
    let to_new = invite("fresh@example.com").await;
    assert_eq!(to_existing.status, to_new.status);
    assert_eq!(
        to_existing.status,
        StatusCode::CREATED,
        "{}",
        to_existing.text
    );
    let keys = |body: &serde_json::Value| {
        let mut keys: Vec<String> = body.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&to_existing.body), keys(&to_new.body));
    // Not a member until they accept.
    let members = admin.get("/api/v1/tenants/acme/members").await.body;
    assert!(
        !members.to_string().contains("taken@example.com"),
        "{members}"
    );
    let pending = admin.get("/api/v1/tenants/acme/invitations").await.body;
    assert_eq!(pending.as_array().unwrap().len(), 2, "{pending}");

    // Only the invited person accepts: someone else (or nobody) signed in cannot.
    let token = to_existing.body["token"].clone();
    let body = json!({"token": token});
    let path = "/api/v1/invitations/accept";
    // Without credentials, or as someone else, the answers are the same for both invitations.
    let other = json!({"token": to_new.body["token"]});
    let anonymous_existing = server.anonymous().post(path, body.clone()).await;
    let anonymous_new = server.anonymous().post(path, other.clone()).await;
    anonymous_existing.assert_problem(422);
    anonymous_new.assert_problem(422);
    let as_admin_existing = admin.post(path, body.clone()).await;
    let as_admin_new = admin.post(path, other.clone()).await;
    as_admin_existing.assert_problem(403);
    as_admin_new.assert_problem(403);
    let detail = |reply: &Reply, email: &str| {
        reply.body["detail"]
            .as_str()
            .unwrap_or("")
            .replace(email, "EMAIL")
    };
    assert_eq!(
        detail(&anonymous_existing, "taken@example.com"),
        detail(&anonymous_new, "fresh@example.com")
    );
    assert_eq!(
        detail(&as_admin_existing, "taken@example.com"),
        detail(&as_admin_new, "fresh@example.com")
    );
    let joined = existing.post(path, body.clone()).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);
    assert_eq!(joined.body["tenant"], "acme");
    assert_eq!(joined.body["account_created"], false);
    // A link works once.
    existing.post(path, body.clone()).await.assert_problem(404);

    // A new person picks a password; a withdrawn invitation no longer works.
    let fresh = to_new.body["token"].clone();
    server
        .anonymous()
        .post("/api/v1/invitations/accept", json!({"token": fresh}))
        .await
        .assert_problem(422);
    let id = to_new.body["id"].as_str().unwrap();
    let withdrawn = admin
        .delete(&format!("/api/v1/tenants/acme/invitations/{id}"))
        .await;
    assert_eq!(withdrawn.status, StatusCode::NO_CONTENT);
    server
        .anonymous()
        .post(
            "/api/v1/invitations/accept",
            json!({"token": fresh, "password": "fresh-password-1"}),
        )
        .await
        .assert_problem(404);
}
