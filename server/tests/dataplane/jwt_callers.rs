//! Callers with a JWT from a real OpenID Provider (the certified `oidc-provider`; its machine
//! client's access tokens are signed JWTs) instead of a Tollgate key: accepted when they check
//! out; expired, wrong audience, `alg: none`, HS256 signed with the public key and unknown key
//! ids refused with a reason; the provider's key rotation picked up without a restart; limits
//! per caller; usage by consumer.

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tollgate_testkit::{
    call, client, synced, Behaviour, OidcProvider, TestProxy, TestServer, Upstream,
};

const AUDIENCE: &str = "https://api.tollgate.test";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn header_of(token: &str) -> Value {
    let text = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .unwrap(),
    )
    .unwrap()
}

fn with_header(token: &str, header: &Value) -> String {
    let rest: Vec<&str> = token.split('.').skip(1).collect();
    format!("{}.{}", b64(header.to_string().as_bytes()), rest.join("."))
}

/// HMAC-SHA256, for a token "signed" with the provider's public key as a shared secret.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<_>>();
    let inner = Sha256::digest([pad(0x36), message.to_vec()].concat());
    Sha256::digest([pad(0x5c), inner.to_vec()].concat()).to_vec()
}

async fn get_orders(proxy: &TestProxy, token: &str) -> (u16, Value) {
    let (status, _, body) = call(client().get(proxy.url("/orders")).bearer_auth(token)).await;
    (status, body)
}

fn reason(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn jwt_callers_are_checked_limited_and_metered_per_consumer() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (port, issuer) = OidcProvider::reserve();
    let mut provider = OidcProvider::start(port, &[], &[], json!({}), 4).await;
    let up = Upstream::start("orders", Behaviour::Echo).await;
    let route = admin
        .post(
            "/api/v1/tenants/default/routes",
            json!({"name": "orders", "path": "/orders", "targets": [{"url": up.url}]}),
        )
        .await;
    assert_eq!(route.status, 201, "{}", route.text);

    // Configuration mistakes are refused: HMAC, no audience.
    for bad in [
        json!({"name": "x", "issuer": issuer, "audiences": [AUDIENCE], "jwks_url": format!("{issuer}/jwks"), "algorithms": ["HS256"]}),
        json!({"name": "x", "issuer": issuer, "audiences": [], "jwks_url": format!("{issuer}/jwks")}),
        json!({"name": "x", "issuer": issuer, "audiences": [AUDIENCE], "keys": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
    ] {
        admin
            .post("/api/v1/tenants/default/jwt-issuers", bad)
            .await
            .assert_problem(422);
    }
    let created = admin
        .post(
            "/api/v1/tenants/default/jwt-issuers",
            json!({"name": "corp", "issuer": issuer, "audiences": [AUDIENCE],
                   "jwks_url": format!("{issuer}/jwks"), "consumer_claim": "client_id",
                   "clock_skew_secs": 0, "scopes": {"routes": ["orders"]},
                   "limits": {"requests_per_minute": 60}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let issuer_id = created.body["id"].as_str().unwrap().to_string();
    let proxy = TestProxy::start(&server).await;
    synced(&server, &proxy).await;

    let token = provider.machine_token().await;
    let (status, body) = get_orders(&proxy, &token).await;
    assert_eq!(
        (status, body["upstream"].as_str()),
        (200, Some("orders")),
        "{body}"
    );

    // Sixty requests a minute per caller.
    let mut admitted = 1;
    for _ in 0..70 {
        let (status, body) = get_orders(&proxy, &token).await;
        match status {
            200 => admitted += 1,
            429 => break,
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(admitted, 60);
    // A change of configuration does not give the caller a fresh minute.
    let other = admin
        .post(
            "/api/v1/tenants/default/routes",
            json!({"name": "elsewhere", "path": "/elsewhere", "targets": [{"url": up.url}]}),
        )
        .await;
    assert_eq!(other.status, 201, "{}", other.text);
    synced(&server, &proxy).await;
    let (status, body) = get_orders(&proxy, &token).await;
    assert_eq!(status, 429, "{body}");

    let claims = token.split('.').nth(1).unwrap().to_string();
    let none = format!("{}.{claims}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
    let (status, body) = get_orders(&proxy, &none).await;
    assert_eq!(status, 401, "{body}");
    assert!(reason(&body).contains("'none' is not allowed"), "{body}");

    let mut header = header_of(&token);
    header["alg"] = json!("HS256");
    let public_key = provider.jwks().await["keys"][0].to_string();
    let unsigned = format!("{}.{claims}", b64(header.to_string().as_bytes()));
    let hs256 = format!(
        "{unsigned}.{}",
        b64(&hmac_sha256(public_key.as_bytes(), unsigned.as_bytes()))
    );
    let (status, body) = get_orders(&proxy, &hs256).await;
    assert_eq!(status, 401, "{body}");
    assert!(reason(&body).contains("'HS256' is not allowed"), "{body}");

    let mut header = header_of(&token);
    header["kid"] = json!("no-such-key");
    let (status, body) = get_orders(&proxy, &with_header(&token, &header)).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        reason(&body).contains("unknown key id 'no-such-key'"),
        "{body}"
    );

    let other = admin
        .patch(
            &format!("/api/v1/tenants/default/jwt-issuers/{issuer_id}"),
            json!({"audiences": ["https://another.api"]}),
        )
        .await;
    assert_eq!(other.status, 200, "{}", other.text);
    synced(&server, &proxy).await;
    let (status, body) = get_orders(&proxy, &token).await;
    assert_eq!(status, 401, "{body}");
    assert!(reason(&body).contains("another audience"), "{body}");
    admin
        .patch(
            &format!("/api/v1/tenants/default/jwt-issuers/{issuer_id}"),
            json!({"audiences": [AUDIENCE]}),
        )
        .await;
    synced(&server, &proxy).await;

    // The provider's tokens live 4 seconds (counted in whole seconds from `iat`).
    tokio::time::sleep(std::time::Duration::from_millis(5200)).await;
    let (status, body) = get_orders(&proxy, &token).await;
    assert_eq!(status, 401, "{body}");
    assert!(reason(&body).contains("expired"), "{body}");

    // A new signing key at the provider is found without restarting anything (the bucket has
    // refilled a few requests meanwhile).
    provider.rotate_key("key-2").await;
    let rotated = provider.machine_token().await;
    assert_eq!(header_of(&rotated)["kid"], "key-2");
    let (status, body) = get_orders(&proxy, &rotated).await;
    assert_eq!(status, 200, "{body}");

    // Usage names the caller: a consumer made on first sight.
    proxy.shutdown().await;
    let consumers = admin.get("/api/v1/tenants/default/consumers").await;
    assert_eq!(consumers.status, 200, "{}", consumers.text);
    assert_eq!(consumers.body[0]["name"], "machine", "{}", consumers.text);
    let consumer_id = consumers.body[0]["id"].as_str().unwrap().to_string();
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM usage_events WHERE key_id = $1::uuid AND status = 200",
    )
    .bind(&consumer_id)
    .fetch_one(&server.db)
    .await
    .unwrap();
    assert_eq!(events, 61);
}

#[tokio::test]
async fn a_jwt_caller_calls_models_within_its_own_budget() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (port, issuer) = OidcProvider::reserve();
    let provider = OidcProvider::start(port, &[], &[], json!({}), 300).await;
    let (mock_url, _) = crate::ai::start_mock(false).await;
    let made = admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "mock", "kind": "openai_compatible", "base_url": mock_url,
                   "api_key": crate::ai::PROVIDER_KEY}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "fast", "deployments": [{"provider": "mock", "model": "m"}],
                   "prices": {"input_per_mtok": "1", "output_per_mtok": "1"}}),
        )
        .await;
    // Each call costs 18 input and output tokens at $1 a million: $0.000018.
    let created = admin
        .post(
            "/api/v1/tenants/default/jwt-issuers",
            json!({"name": "corp", "issuer": issuer, "audiences": [AUDIENCE],
                   "jwks_url": format!("{issuer}/jwks"), "consumer_claim": "client_id",
                   "scopes": {"models": ["fast"]},
                   "budget": {"amount_usd": "0.00003", "period": "month"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    // Another tenant accepting the same issuer for another audience changes nothing here.
    let other = admin
        .post("/api/v1/tenants", json!({"name": "Other", "slug": "other"}))
        .await;
    assert_eq!(other.status, 201, "{}", other.text);
    let theirs = admin
        .post(
            "/api/v1/tenants/other/jwt-issuers",
            json!({"name": "corp", "issuer": issuer, "audiences": ["https://other.api"],
                   "jwks_url": format!("{issuer}/jwks")}),
        )
        .await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    let proxy = TestProxy::start(&server).await;
    synced(&server, &proxy).await;
    let token = provider.machine_token().await;

    let (status, _, body) = call(proxy.chat(&token, "fast")).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = call(proxy.chat(&token, "gpt-4o")).await;
    assert_eq!(status, 404, "out of scope: {body}");
    let (status, _, body) = call(proxy.chat(&token, "fast")).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = call(proxy.chat(&token, "fast")).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["type"], "insufficient_quota", "{body}");
    proxy.shutdown().await;

    let spent: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(e.cost_nanousd), 0)::bigint FROM usage_events e
         JOIN consumers c ON c.id = e.key_id WHERE c.name = 'machine'",
    )
    .fetch_one(&server.db)
    .await
    .unwrap();
    assert_eq!(spent, 36_000);
    let summary = admin.get("/api/v1/tenants/default/usage/summary").await;
    assert!(summary.text.contains("jwt:machine"), "{}", summary.text);
}
