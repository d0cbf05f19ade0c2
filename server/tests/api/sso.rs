//! Single sign-on through a real OpenID Provider (the certified `oidc-provider` package on
//! loopback): sign-in with PKCE, state and nonce; just-in-time users; group rules applied at
//! every sign-in; SSO-only domains; RP-initiated logout; and ID tokens that do not check out.

use base64::Engine;
use serde_json::{json, Value};
use tollgate_protocol::jwt::{self, Expected, JwkSet, Refusal};
use tollgate_testkit::oidc::{CLIENT_ID, CLIENT_SECRET};
use tollgate_testkit::{sign_in_as, Api, OidcProvider, TestServer};

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

/// Adds the provider to Tollgate; returns its id.
async fn add_provider(admin: &Api, issuer: &str) -> String {
    let created = admin
        .post(
            "/api/v1/identity-providers",
            json!({"name": "Corp ID", "issuer": issuer, "client_id": CLIENT_ID,
                   "client_secret": CLIENT_SECRET, "scopes": ["openid", "email", "profile", "groups"],
                   "sso_only_domains": ["corp.example"],
                   "group_rules": [{"group": "devs", "tenant": "default", "role": "member"},
                                   {"group": "leads", "tenant": "default", "role": "admin"}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(!created.text.contains(CLIENT_SECRET), "{}", created.text);
    assert_eq!(created.body["has_client_secret"], true);
    created.body["id"].as_str().unwrap().to_string()
}

fn alice(groups: Value) -> Value {
    json!({"alice": {"email": "alice@corp.example", "email_verified": true, "groups": groups}})
}

async fn role_in_default(client: &reqwest::Client, base: &str) -> Option<String> {
    let me: Value = client
        .get(format!("{base}/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    me["tenants"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["slug"] == "default"))
        .map(|t| t["role"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn signing_in_through_the_provider_maps_groups_to_roles_at_every_sign_in() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (port, issuer) = OidcProvider::reserve();
    let id = add_provider(&admin, &issuer).await;
    let base = &server.base;
    let provider = OidcProvider::start(
        port,
        &[format!("{base}/api/v1/auth/sso/{id}/callback")],
        &[format!("{base}/login")],
        alice(json!(["devs"])),
        3600,
    )
    .await;
    let options = server.anonymous().get("/api/v1/auth/sso").await;
    assert_eq!(options.body, json!([{"id": id, "name": "Corp ID"}]));

    let start = format!("{base}/api/v1/auth/sso/{id}/start?next=/t/default/keys");
    let first = browser();
    let landed = sign_in_as(&first, &start, "alice").await;
    assert_eq!(landed.url().path(), "/t/default/keys");
    assert_eq!(landed.status(), 200);
    assert_eq!(
        role_in_default(&first, base).await.as_deref(),
        Some("member")
    );

    // The group changes at the provider: the next sign-in brings the new role, and leaving
    // every group takes the membership away.
    provider.set_accounts(&alice(json!(["devs", "leads"])));
    let second = browser();
    sign_in_as(&second, &start, "alice").await;
    assert_eq!(
        role_in_default(&second, base).await.as_deref(),
        Some("admin")
    );
    provider.set_accounts(&alice(json!([])));
    let third = browser();
    sign_in_as(&third, &start, "alice").await;
    assert_eq!(role_in_default(&third, base).await, None);

    let audit = admin.get("/api/v1/tenants/default/audit").await;
    for action in [
        "member.sso_grant",
        "member.sso_role_change",
        "member.sso_revoke",
    ] {
        assert!(audit.text.contains(action), "{action}: {}", audit.text);
    }
    let platform = admin.get("/api/v1/audit").await;
    assert!(
        platform.text.contains("\"method\":\"sso\""),
        "{}",
        platform.text
    );
    let users = admin.get("/api/v1/users").await;
    let made = users
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "alice@corp.example")
        .unwrap();
    assert_eq!(made["has_password"], false);
    assert_eq!(made["sso_providers"], json!(["Corp ID"]));

    // Emails of the SSO-only domain cannot sign in with a password.
    server
        .user_with_role("default", "bob@example.com", "member")
        .await;
    admin
        .post(
            "/api/v1/tenants/default/members",
            json!({"email": "carol@corp.example", "password": "carol-password-1", "role": "member"}),
        )
        .await;
    let refused = server
        .anonymous()
        .post(
            "/api/v1/auth/login",
            json!({"email": "carol@corp.example", "password": "carol-password-1"}),
        )
        .await;
    refused.assert_problem(401);
    assert!(refused.text.contains("Corp ID"), "{}", refused.text);

    // A callback without this browser's state is refused, and so is a replay.
    let stray = browser()
        .get(format!(
            "{base}/api/v1/auth/sso/{id}/callback?code=stolen&state=guess"
        ))
        .send()
        .await
        .unwrap();
    assert!(
        stray.url().as_str().ends_with("/login?sso_error=state"),
        "{}",
        stray.url()
    );

    // Signing out ends the session here and hands the browser to the provider's logout.
    let out = third
        .post(format!("{base}/api/v1/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    let out: Value = out.json().await.unwrap();
    let url = out["end_session_url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{issuer}/session/end")), "{url}");
    assert!(url.contains("post_logout_redirect_uri="), "{url}");
    let after = third.get(format!("{base}/api/v1/me")).send().await.unwrap();
    assert_eq!(after.status(), 401);
}

/// Signs in at the provider as Tollgate's client would, stopping at the redirect back; returns
/// the ID token.
async fn id_token_from(provider: &OidcProvider, nonce: &str) -> String {
    let redirect = "http://127.0.0.1:9/callback";
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.url().as_str().starts_with("http://127.0.0.1:9/") {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .build()
        .unwrap();
    let start = format!(
        "{}/auth?response_type=code&client_id={CLIENT_ID}&redirect_uri={redirect}&scope=openid%20email%20groups&state=s&nonce={nonce}",
        provider.issuer
    );
    let back = sign_in_as(&client, &start, "alice").await;
    let location = back.headers()["location"].to_str().unwrap().to_string();
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| panic!("no code in {location}"));
    let tokens: Value = reqwest::Client::new()
        .post(format!("{}/token", provider.issuer))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["id_token"].as_str().unwrap().to_string()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn part(token: &str, index: usize) -> Value {
    let text = token.split('.').nth(index).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .unwrap(),
    )
    .unwrap()
}

/// The token with its header or claims replaced (the signature kept).
fn altered(token: &str, header: Option<Value>, claims: Option<Value>) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    if let Some(header) = header {
        parts[0] = b64(header.to_string().as_bytes());
    }
    if let Some(claims) = claims {
        parts[1] = b64(claims.to_string().as_bytes());
    }
    parts.join(".")
}

#[tokio::test]
async fn id_tokens_that_do_not_check_out_are_refused() {
    let (port, issuer) = OidcProvider::reserve();
    let provider = OidcProvider::start(
        port,
        &["http://127.0.0.1:9/callback".to_string()],
        &[],
        alice(json!(["devs"])),
        2,
    )
    .await;
    let token = id_token_from(&provider, "nonce-123").await;
    let keys: JwkSet = serde_json::from_value(provider.jwks().await).unwrap();
    let audiences = [CLIENT_ID.to_string()];
    let expected = Expected {
        issuer: &issuer,
        audiences: &audiences,
        algorithms: jwt::ASYMMETRIC,
        leeway_secs: 30,
        required_claims: &["sub".to_string()],
        nonce: Some("nonce-123"),
    };
    let claims = jwt::verify(&token, &keys, &expected).expect("a genuine token verifies");
    assert_eq!(claims["email"], "alice@corp.example");
    assert_eq!(claims["groups"], json!(["devs"]));

    let mut claims_json = part(&token, 1);
    claims_json["groups"] = json!(["leads"]);
    assert_eq!(
        jwt::verify(&altered(&token, None, Some(claims_json)), &keys, &expected),
        Err(Refusal::BadSignature),
        "tampered"
    );
    let other_nonce = Expected {
        nonce: Some("another-sign-in"),
        ..expected.clone()
    };
    assert_eq!(
        jwt::verify(&token, &keys, &other_nonce),
        Err(Refusal::WrongNonce)
    );
    let others = ["someone-else".to_string()];
    let other_audience = Expected {
        audiences: &others,
        ..expected.clone()
    };
    assert_eq!(
        jwt::verify(&token, &keys, &other_audience),
        Err(Refusal::WrongAudience)
    );
    let mut header = part(&token, 0);
    header["kid"] = json!("not-a-key-of-the-provider");
    assert_eq!(
        jwt::verify(&altered(&token, Some(header), None), &keys, &expected),
        Err(Refusal::UnknownKey(Some(
            "not-a-key-of-the-provider".into()
        )))
    );
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        token.split('.').nth(1).unwrap()
    );
    assert_eq!(
        jwt::verify(&none, &keys, &expected),
        Err(Refusal::AlgorithmNotAllowed("none".into()))
    );
    let other_issuer = Expected {
        issuer: "https://id.elsewhere.example",
        ..expected.clone()
    };
    assert_eq!(
        jwt::verify(&token, &keys, &other_issuer),
        Err(Refusal::WrongIssuer)
    );
    // The provider issued it for 2 seconds.
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let strict = Expected {
        leeway_secs: 0,
        ..expected.clone()
    };
    assert_eq!(jwt::verify(&token, &keys, &strict), Err(Refusal::Expired));
}
