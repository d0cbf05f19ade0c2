use reqwest::Method;
use serde_json::json;

use tollgate_testkit::TestServer;

#[tokio::test]
async fn malformed_requests_get_problem_documents_never_500() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let json = Some("application/json");
    let keys = "/api/v1/tenants/default/keys";

    let cases: Vec<(Method, String, Option<&str>, String, u16)> = vec![
        (Method::POST, keys.into(), json, "{\"name\": ".into(), 400),
        (Method::POST, keys.into(), json, "{,}".into(), 400),
        (
            Method::POST,
            keys.into(),
            None,
            "{\"name\": \"k\"}".into(),
            415,
        ),
        (
            Method::POST,
            keys.into(),
            json,
            "{\"name\": 42}".into(),
            422,
        ),
        (
            Method::POST,
            keys.into(),
            json,
            "{\"name\": \"k\", \"colour\": \"red\"}".into(),
            422,
        ),
        (Method::POST, keys.into(), json, "{}".into(), 422),
        (
            Method::POST,
            keys.into(),
            json,
            format!("{{\"name\": \"{}\"}}", "x".repeat(101)),
            422,
        ),
        (
            Method::POST,
            keys.into(),
            json,
            "{\"name\": \"   \"}".into(),
            422,
        ),
        (
            Method::POST,
            keys.into(),
            json,
            "{\"name\": \"k\", \"limits\": {\"requests_per_minute\": -5}}".into(),
            422,
        ),
        (
            Method::POST,
            keys.into(),
            json,
            "{\"name\": \"k\", \"limits\": {\"requests_per_minute\": 99999999999}}".into(),
            422,
        ),
        (
            Method::POST,
            keys.into(),
            json,
            "{\"name\": \"k\", \"budget\": {\"amount_usd\": \"-3\", \"period\": \"month\"}}".into(),
            422,
        ),
        (
            Method::POST,
            keys.into(),
            json,
            "{\"name\": \"k\", \"budget\": {\"amount_usd\": \"3\", \"period\": \"fortnight\"}}"
                .into(),
            422,
        ),
        (
            Method::POST,
            keys.into(),
            json,
            format!(
                "{{\"name\": \"k\", \"scopes\": {{\"models\": [\"{}\"]}}}}",
                "m".repeat(300)
            ),
            422,
        ),
        (
            Method::GET,
            format!("{keys}/not-a-uuid"),
            None,
            String::new(),
            400,
        ),
        (Method::PATCH, format!("{keys}/123"), json, "{}".into(), 400),
        (
            Method::DELETE,
            "/api/v1/tokens/xyz".into(),
            None,
            String::new(),
            400,
        ),
        (
            Method::GET,
            "/api/v1/tenants/default/audit?limit=abc".into(),
            None,
            String::new(),
            400,
        ),
        (
            Method::GET,
            "/api/v1/tenants/default/audit?limit=0".into(),
            None,
            String::new(),
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants".into(),
            json,
            "{\"name\": \"Bad\", \"slug\": \"Not A Slug\"}".into(),
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants".into(),
            json,
            "{\"name\": \"!!!\"}".into(),
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants/default/members".into(),
            json,
            "{\"email\": \"not-an-email\", \"password\": \"password-1\", \"role\": \"viewer\"}"
                .into(),
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants/default/members".into(),
            json,
            "{\"email\": \"a@b.c\", \"password\": \"short\", \"role\": \"viewer\"}".into(),
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants/default/members".into(),
            json,
            "{\"email\": \"a@b.c\", \"password\": \"password-1\", \"role\": \"king\"}".into(),
            422,
        ),
        (
            Method::POST,
            "/api/v1/auth/login".into(),
            json,
            "{\"email\": [], \"password\": \"x\"}".into(),
            422,
        ),
        (
            Method::GET,
            "/api/v1/nothing-here".into(),
            None,
            String::new(),
            404,
        ),
        (
            Method::PUT,
            "/api/v1/tenants".into(),
            json,
            "{}".into(),
            405,
        ),
    ];
    for (method, path, content_type, body, status) in cases {
        let reply = admin
            .send_raw(method.clone(), &path, content_type, body.clone())
            .await;
        assert_eq!(
            reply.status.as_u16(),
            status,
            "{method} {path} {body}: {}",
            reply.text
        );
        reply.assert_problem(status);
    }
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let reply = admin
        .send_raw(
            Method::POST,
            "/api/v1/tenants/default/keys",
            Some("application/json"),
            huge,
        )
        .await;
    reply.assert_problem(413);
}

#[tokio::test]
async fn problem_documents_name_what_was_wrong() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let reply = admin
        .post(
            "/api/v1/tenants/default/keys",
            json!({"name": "k", "colour": "red"}),
        )
        .await;
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(detail.contains("colour"), "{detail}");
    let reply = admin
        .post(
            "/api/v1/tenants/default/keys",
            json!({"name": "k", "budget": {"amount_usd": "1.2.3", "period": "day"}}),
        )
        .await;
    assert!(reply.body["detail"].as_str().unwrap().contains("1.2.3"));
}
