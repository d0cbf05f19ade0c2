use std::collections::BTreeSet;

use reqwest::StatusCode;

use tollgate_testkit::TestServer;

/// Every route the admin API serves, as "METHOD path".
const ROUTES: &[&str] = &[
    "GET /healthz",
    "GET /readyz",
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/logout",
    "GET /api/v1/me",
    "POST /api/v1/me/password",
    "POST /api/v1/auth/password-reset",
    "GET /api/v1/auth/sso",
    "GET /api/v1/auth/sso/{id}/start",
    "GET /api/v1/auth/sso/{id}/callback",
    "GET /api/v1/users",
    "DELETE /api/v1/users/{id}",
    "POST /api/v1/users/{id}/disable",
    "POST /api/v1/users/{id}/enable",
    "POST /api/v1/users/{id}/password-reset",
    "GET /api/v1/audit",
    "GET /api/v1/tenants/{tenant}/jwt-issuers",
    "POST /api/v1/tenants/{tenant}/jwt-issuers",
    "GET /api/v1/tenants/{tenant}/jwt-issuers/{id}",
    "PATCH /api/v1/tenants/{tenant}/jwt-issuers/{id}",
    "DELETE /api/v1/tenants/{tenant}/jwt-issuers/{id}",
    "GET /api/v1/tenants/{tenant}/consumers",
    "GET /api/v1/tenants/{tenant}/mcp-servers",
    "POST /api/v1/tenants/{tenant}/mcp-servers",
    "GET /api/v1/tenants/{tenant}/mcp-servers/{id}",
    "PATCH /api/v1/tenants/{tenant}/mcp-servers/{id}",
    "DELETE /api/v1/tenants/{tenant}/mcp-servers/{id}",
    "GET /api/v1/tenants/{tenant}/products",
    "POST /api/v1/tenants/{tenant}/products",
    "GET /api/v1/tenants/{tenant}/products/{id}",
    "PATCH /api/v1/tenants/{tenant}/products/{id}",
    "DELETE /api/v1/tenants/{tenant}/products/{id}",
    "GET /api/v1/tenants/{tenant}/catalog",
    "GET /api/v1/tenants/{tenant}/catalog/{id}",
    "GET /api/v1/tenants/{tenant}/catalog/{id}/openapi.json",
    "GET /api/v1/tenants/{tenant}/applications",
    "POST /api/v1/tenants/{tenant}/applications",
    "GET /api/v1/tenants/{tenant}/applications/{id}",
    "DELETE /api/v1/tenants/{tenant}/applications/{id}",
    "POST /api/v1/tenants/{tenant}/applications/{id}/keys",
    "GET /api/v1/tenants/{tenant}/applications/{id}/usage",
    "POST /api/v1/tenants/{tenant}/applications/{id}/subscriptions",
    "DELETE /api/v1/tenants/{tenant}/applications/{id}/subscriptions/{subscription}",
    "GET /api/v1/tenants/{tenant}/subscriptions",
    "POST /api/v1/tenants/{tenant}/subscriptions/{id}/decision",
    "POST /api/v1/tenants/{tenant}/mcp-servers/{id}/test",
    "GET /api/v1/identity-providers",
    "POST /api/v1/identity-providers",
    "GET /api/v1/identity-providers/{id}",
    "PATCH /api/v1/identity-providers/{id}",
    "DELETE /api/v1/identity-providers/{id}",
    "GET /api/v1/tokens",
    "POST /api/v1/tokens",
    "DELETE /api/v1/tokens/{id}",
    "GET /api/v1/tenants",
    "POST /api/v1/tenants",
    "GET /api/v1/tenants/{tenant}",
    "PATCH /api/v1/tenants/{tenant}",
    "DELETE /api/v1/tenants/{tenant}",
    "GET /api/v1/tenants/{tenant}/members",
    "POST /api/v1/tenants/{tenant}/members",
    "PATCH /api/v1/tenants/{tenant}/members/{user}",
    "DELETE /api/v1/tenants/{tenant}/members/{user}",
    "GET /api/v1/tenants/{tenant}/keys",
    "POST /api/v1/tenants/{tenant}/keys",
    "GET /api/v1/tenants/{tenant}/keys/{id}",
    "PATCH /api/v1/tenants/{tenant}/keys/{id}",
    "DELETE /api/v1/tenants/{tenant}/keys/{id}",
    "GET /api/v1/tenants/{tenant}/routes",
    "POST /api/v1/tenants/{tenant}/routes",
    "GET /api/v1/tenants/{tenant}/routes/{id}",
    "PATCH /api/v1/tenants/{tenant}/routes/{id}",
    "DELETE /api/v1/tenants/{tenant}/routes/{id}",
    "GET /api/v1/tenants/{tenant}/services",
    "POST /api/v1/tenants/{tenant}/services",
    "GET /api/v1/tenants/{tenant}/services/{id}",
    "PATCH /api/v1/tenants/{tenant}/services/{id}",
    "DELETE /api/v1/tenants/{tenant}/services/{id}",
    "GET /api/v1/tenants/{tenant}/services/{id}/openapi",
    "PUT /api/v1/tenants/{tenant}/services/{id}/openapi",
    "DELETE /api/v1/tenants/{tenant}/services/{id}/openapi",
    "GET /api/v1/tenants/{tenant}/config:export",
    "POST /api/v1/tenants/{tenant}/config:apply",
    "GET /api/v1/config/schema.json",
    "GET /api/v1/tenants/{tenant}/providers",
    "POST /api/v1/tenants/{tenant}/providers",
    "GET /api/v1/tenants/{tenant}/providers/{id}",
    "PATCH /api/v1/tenants/{tenant}/providers/{id}",
    "DELETE /api/v1/tenants/{tenant}/providers/{id}",
    "POST /api/v1/tenants/{tenant}/providers/{id}/test",
    "GET /api/v1/tenants/{tenant}/models",
    "POST /api/v1/tenants/{tenant}/models",
    "GET /api/v1/tenants/{tenant}/models/{id}",
    "PATCH /api/v1/tenants/{tenant}/models/{id}",
    "DELETE /api/v1/tenants/{tenant}/models/{id}",
    "GET /api/v1/tenants/{tenant}/prompt-apis",
    "POST /api/v1/tenants/{tenant}/prompt-apis",
    "GET /api/v1/tenants/{tenant}/prompt-apis/{id}",
    "PATCH /api/v1/tenants/{tenant}/prompt-apis/{id}",
    "DELETE /api/v1/tenants/{tenant}/prompt-apis/{id}",
    "POST /api/v1/tenants/{tenant}/prompt-apis/{id}/versions/{version}/activate",
    "GET /api/v1/tenants/{tenant}/prompt-apis/{id}/openapi.json",
    "GET /api/v1/price-catalog",
    "PUT /api/v1/price-catalog/{provider}/{model}",
    "GET /api/v1/settings/egress",
    "PUT /api/v1/settings/egress",
    "GET /api/v1/settings/quotas",
    "PUT /api/v1/settings/quotas",
    "GET /api/v1/tenants/{tenant}/namespace",
    "PUT /api/v1/tenants/{tenant}/namespace",
    "GET /api/v1/tenants/{tenant}/quotas",
    "PUT /api/v1/tenants/{tenant}/quotas",
    "GET /api/v1/tenants/{tenant}/invitations",
    "POST /api/v1/tenants/{tenant}/invitations",
    "DELETE /api/v1/tenants/{tenant}/invitations/{id}",
    "POST /api/v1/invitations/accept",
    "GET /api/v1/tenants/{tenant}/usage",
    "GET /api/v1/tenants/{tenant}/usage/summary",
    "GET /api/v1/dataplanes",
    "GET /api/v1/tenants/{tenant}/audit",
];

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let server = TestServer::start().await;
    let doc = server.anonymous().get("/api/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let expected: BTreeSet<String> = ROUTES.iter().map(|r| r.to_string()).collect();
    assert_eq!(documented, expected);
    assert!(doc.body["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc.body["components"]["schemas"]["Problem"].is_object());

    // Every documented route is really served (not 404/405) by the server.
    let api = server.anonymous();
    for route in ROUTES {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path
            .replace("{tenant}", "default")
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{user}", "nobody@example.com")
            .replace("{provider}", "openai")
            .replace("{model}", "gpt-4o")
            .replace("{version}", "1");
        let reply = api.send(method.parse().unwrap(), &path, None).await;
        // Anonymous calls are refused (401) or answered, but never unrouted (404/405).
        assert_ne!(reply.status.as_u16(), 405, "{route}: {}", reply.text);
        assert_ne!(reply.status.as_u16(), 404, "{route}: {}", reply.text);
    }
}

#[tokio::test]
async fn the_docs_ui_is_served_without_the_internet() {
    let server = TestServer::start().await;
    let api = server.anonymous();
    let page = api.get("/api/docs/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("swagger-ui"), "{}", page.text);
    assert!(
        !page.text.contains("https://"),
        "the docs page loads something remote: {}",
        page.text
    );
    let bundle = api.get("/api/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status, StatusCode::OK);
    assert!(bundle.text.len() > 100_000);
    let init = api.get("/api/docs/swagger-initializer.js").await;
    assert!(init.text.contains("/api/openapi.json"), "{}", init.text);
}

/// The whole document, pinned: any change to the API's shape shows in review as a diff of
/// `snapshots/api__openapi__the_openapi_document_is_pinned.snap` (accept it with
/// `cargo insta review`, or `INSTA_UPDATE=always`).
#[test]
fn the_openapi_document_is_pinned() {
    insta::assert_json_snapshot!(tollgate_server::api::openapi());
}
