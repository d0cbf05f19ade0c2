//! The `tollgate` command against a real server: validate offline, diff, apply, export.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Output;

use serde_json::json;
use tollgate_testkit::TestServer;

async fn tollgate(args: &[&str], url: &str, token: &str, home: &std::path::Path) -> Output {
    tollgate_with(args, url, token, home, &[]).await
}

/// Runs `tollgate` with more environment variables.
async fn tollgate_with(
    args: &[&str],
    url: &str,
    token: &str,
    home: &std::path::Path,
    env: &[(&str, &str)],
) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"));
    command
        .args(args)
        .env("TOLLGATE_URL", url)
        .env("TOLLGATE_TOKEN", token)
        .env("HOME", home)
        .envs(env.iter().copied());
    command.output().await.expect("tollgate runs")
}

/// An admin token of `admin`, as a CI job would hold.
async fn admin_token(admin: &tollgate_testkit::Api) -> String {
    admin
        .post("/api/v1/tokens", json!({"name": "ci"}))
        .await
        .body["secret"]
        .as_str()
        .unwrap()
        .to_string()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn validate_diff_apply_and_export_a_folder_of_documents() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let token = admin_token(&admin).await;
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("10-services.yaml"),
        "apiVersion: tollgate.dev/v1\nkind: Service\nmetadata: {name: orders}\nspec:\n  targets: [{url: 'http://127.0.0.1:9'}]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("20-gateway.yaml"),
        "apiVersion: tollgate.dev/v1\nkind: Gateway\nmetadata: {name: shop}\nspec:\n  routes:\n  - {name: orders, path: /orders, service: orders}\n",
    )
    .unwrap();
    let folder = dir.path().to_str().unwrap();
    let base = server.base.as_str();

    let out = tollgate(&["validate", "-f", folder], base, &token, home.path()).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("valid: 1 service(s), 1 route(s)"),
        "{}",
        text(&out)
    );

    let out = tollgate(&["diff", "-f", folder], base, &token, home.path()).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("+ Route orders (create)"),
        "{}",
        text(&out)
    );

    let out = tollgate(&["apply", "-f", folder], base, &token, home.path()).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("2 change(s) applied"), "{}", text(&out));

    let out = tollgate(&["diff", "-f", folder], base, &token, home.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let out = tollgate(&["export"], base, &token, home.path()).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("kind: Gateway"), "{}", text(&out));

    // A mistake names its file and document.
    std::fs::write(
        dir.path().join("30-broken.yaml"),
        "apiVersion: tollgate.dev/v1\nkind: Service\nmetadata: {name: x}\nspec:\n  targetz: []\n",
    )
    .unwrap();
    let out = tollgate(&["validate", "-f", folder], base, &token, home.path()).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("30-broken.yaml: document 1 (Service x), line 5"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("targetz"), "{}", text(&out));

    // So does a YAML syntax error, with the line in its own file.
    std::fs::write(
        dir.path().join("30-broken.yaml"),
        "apiVersion: tollgate.dev/v1\nkind: Service\nmetadata: {name: x\nspec: {}\n",
    )
    .unwrap();
    let out = tollgate(&["validate", "-f", folder], base, &token, home.path()).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let line = text(&out)
        .split("30-broken.yaml: document 1, line ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse::<usize>().ok());
    assert!(matches!(line, Some(3..=5)), "{}", text(&out));
}

#[tokio::test]
async fn credentials_come_from_the_environment_and_files_when_applying() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let token = admin_token(&admin).await;
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let org_file = dir.path().join("org.txt");
    std::fs::write(&org_file, "org-42\n").unwrap();
    let file = dir.path().join("providers.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: tollgate.dev/v1\nkind: Provider\nmetadata: {{name: local}}\nspec:\n  kind: openai_compatible\n  base_url: http://127.0.0.1:9/v1\n  api_key: ${{TG_TEST_PROVIDER_KEY}}\n  headers: {{x-org: '${{file:{}}}'}}\n",
            org_file.display()
        ),
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let base = server.base.as_str();

    // Offline, a missing variable is a note; applying without it is an error naming it.
    let out = tollgate(&["validate", "-f", path], base, &token, home.path()).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("TG_TEST_PROVIDER_KEY is not set")
            && text(&out).contains("valid: 1 provider(s)"),
        "{}",
        text(&out)
    );
    let out = tollgate(&["apply", "-f", path], base, &token, home.path()).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("TG_TEST_PROVIDER_KEY"),
        "{}",
        text(&out)
    );

    let env = [("TG_TEST_PROVIDER_KEY", "sk-from-the-ci-secret-abcd")];
    let out = tollgate_with(&["apply", "-f", path], base, &token, home.path(), &env).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("+ Provider local (create)"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("sk-from"), "{}", text(&out));
    let providers = admin.get("/api/v1/tenants/default/providers").await;
    assert_eq!(
        providers.body[0]["key_hint"], "sk-…abcd",
        "{}",
        providers.text
    );
    assert_eq!(providers.body[0]["header_names"], json!(["x-org"]));

    // Same values: nothing to change. A rotated secret: the diff says api_key changes.
    let out = tollgate_with(&["diff", "-f", path], base, &token, home.path(), &env).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rotated = [("TG_TEST_PROVIDER_KEY", "sk-rotated-secret-9999")];
    let out = tollgate_with(&["diff", "-f", path], base, &token, home.path(), &rotated).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("~ Provider local (update: api_key)"),
        "{}",
        text(&out)
    );
}
