//! A real OpenID Provider on loopback: the certified `oidc-provider` npm package (installed by
//! test.sh into the folder `TOLLGATE_TEST_NODE_DIR` names), run with Node.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{json, Value};

const SCRIPT: &str = include_str!("../assets/oidc-provider.mjs");

/// The client id Tollgate has at the provider.
pub const CLIENT_ID: &str = "tollgate";
/// Its client secret.
pub const CLIENT_SECRET: &str = "tollgate-client-secret-for-tests";
/// A client for machine callers (client credentials), whose access tokens are JWTs.
pub const MACHINE_CLIENT_ID: &str = "machine";
/// Its client secret.
pub const MACHINE_CLIENT_SECRET: &str = "machine-client-secret-for-tests";

/// A running provider.
pub struct OidcProvider {
    /// `http://127.0.0.1:port`, the issuer.
    pub issuer: String,
    port: u16,
    redirect_uris: Vec<String>,
    post_logout_uris: Vec<String>,
    id_token_ttl: u64,
    dir: tempfile::TempDir,
    key_id: String,
    child: Option<tokio::process::Child>,
}

fn node_dir() -> PathBuf {
    PathBuf::from(std::env::var("TOLLGATE_TEST_NODE_DIR").expect(
        "TOLLGATE_TEST_NODE_DIR is not set: run the tests with ./test.sh (it installs oidc-provider)",
    ))
}

impl OidcProvider {
    /// A free loopback port for a provider started later (its issuer must be known first).
    pub fn reserve() -> (u16, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        (port, format!("http://127.0.0.1:{port}"))
    }

    /// Starts the provider on `port` with Tollgate as a client sending users back to
    /// `redirect_uris`, and these accounts (id -> claims).
    pub async fn start(
        port: u16,
        redirect_uris: &[String],
        post_logout_uris: &[String],
        accounts: Value,
        id_token_ttl: u64,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut provider = Self {
            issuer: format!("http://127.0.0.1:{port}"),
            port,
            redirect_uris: redirect_uris.to_vec(),
            post_logout_uris: post_logout_uris.to_vec(),
            id_token_ttl,
            dir,
            key_id: "key-1".into(),
            child: None,
        };
        provider.set_accounts(&accounts);
        provider.launch().await;
        provider
    }

    /// Replaces the accounts (read at every sign-in).
    pub fn set_accounts(&self, accounts: &Value) {
        std::fs::write(self.dir.path().join("accounts.json"), accounts.to_string()).unwrap();
    }

    async fn launch(&mut self) {
        let script = node_dir().join("tollgate-oidc-provider.mjs");
        std::fs::write(&script, SCRIPT).unwrap();
        let clients = json!([
            {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
             "redirect_uris": self.redirect_uris, "post_logout_redirect_uris": self.post_logout_uris,
             "grant_types": ["authorization_code"], "response_types": ["code"],
             "token_endpoint_auth_method": "client_secret_basic"},
            {"client_id": MACHINE_CLIENT_ID, "client_secret": MACHINE_CLIENT_SECRET,
             "redirect_uris": [], "grant_types": ["client_credentials"], "response_types": [],
             "scope": "api"}
        ]);
        let mut child = tokio::process::Command::new("node")
            .arg(&script)
            .current_dir(node_dir())
            .env("PORT", self.port.to_string())
            .env("CLIENTS", clients.to_string())
            .env("ACCOUNTS_FILE", self.dir.path().join("accounts.json"))
            .env("KEYS_FILE", self.dir.path().join("keys.json"))
            .env("KEY_ID", &self.key_id)
            .env("ID_TOKEN_TTL", self.id_token_ttl.to_string())
            .env("ACCESS_TOKEN_TTL", self.id_token_ttl.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (install Node.js 20)");
        let discovery = format!("{}/.well-known/openid-configuration", self.issuer);
        for _ in 0..200 {
            if let Ok(reply) = reqwest::get(&discovery).await {
                if reply.status().is_success() {
                    self.child = Some(child);
                    return;
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the OpenID Provider exited: {status}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the OpenID Provider never answered on {}", self.issuer);
    }

    /// Rotates the signing key: the provider restarts on the same port with a new key only.
    pub async fn rotate_key(&mut self, key_id: &str) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
        std::fs::remove_file(self.dir.path().join("keys.json")).unwrap();
        self.key_id = key_id.to_string();
        self.launch().await;
    }

    /// The provider's public keys.
    pub async fn jwks(&self) -> Value {
        reqwest::get(format!("{}/jwks", self.issuer))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// An access token (a JWT for `https://api.tollgate.test`) of the machine client.
    pub async fn machine_token(&self) -> String {
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(MACHINE_CLIENT_ID, Some(MACHINE_CLIENT_SECRET))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "api"),
                ("resource", "https://api.tollgate.test"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {answer}"))
            .to_string()
    }
}

/// Follows a sign-in through the provider's own login and consent pages as a browser would
/// (without JavaScript): from `start` (a URL that redirects to the provider) to where the
/// provider finally sends the browser. Returns the last response.
pub async fn sign_in_as(client: &reqwest::Client, start: &str, login: &str) -> reqwest::Response {
    let mut response = client.get(start).send().await.unwrap();
    for _ in 0..6 {
        let url = response.url().clone();
        if !url.path().starts_with("/interaction/") {
            return response;
        }
        let html = response.text().await.unwrap();
        let action = form_action(&html).unwrap_or_else(|| panic!("no form in {html}"));
        let target = url.join(&action).unwrap();
        let fields: Vec<(&str, &str)> = if html.contains("name=\"login\"") {
            vec![("prompt", "login"), ("login", login), ("password", "any")]
        } else {
            vec![("prompt", "consent")]
        };
        response = client.post(target).form(&fields).send().await.unwrap();
    }
    response
}

fn form_action(html: &str) -> Option<String> {
    let start = html.find("action=\"")? + 8;
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}
