//! The OpenID Connect relying party: provider discovery and keys (cached; the keys are read
//! again when a token names a key id not seen yet, so a provider's key rotation is picked up
//! without a restart), the authorization request with PKCE, `state` and `nonce`, the code
//! exchange, and the ID token's checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use rand::distributions::{Alphanumeric, DistString};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tollgate_protocol::jwt::{self, Expected, JwkSet, Refusal};

/// How long a provider's discovery document and keys are kept.
const CACHE_FOR: Duration = Duration::from_secs(3600);
/// Keys are read again for an unknown key id at most this often.
const REFETCH_AFTER: Duration = Duration::from_secs(10);
/// Clock skew allowed on an ID token's times.
const LEEWAY_SECS: u64 = 60;

/// What a provider's `/.well-known/openid-configuration` says.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Discovery {
    pub(crate) issuer: String,
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: String,
    pub(crate) jwks_uri: String,
    pub(crate) end_session_endpoint: Option<String>,
}

/// Why signing in through a provider failed (details go to the log, not the browser).
#[derive(Debug, thiserror::Error)]
pub(crate) enum OidcError {
    #[error("the provider could not be reached or answered wrongly: {0}")]
    Unavailable(String),
    #[error("the provider refused the code: {0}")]
    Exchange(String),
    #[error("the ID token was refused: {0}")]
    Token(String),
}

/// A sign-in begun: what the browser's session keeps until the provider sends it back.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub(crate) struct Pending {
    pub(crate) provider: uuid::Uuid,
    pub(crate) state: String,
    pub(crate) nonce: String,
    pub(crate) verifier: String,
    /// Where to go afterwards (a path of the console).
    pub(crate) next: String,
}

impl Pending {
    pub(crate) fn new(provider: uuid::Uuid, next: String) -> Self {
        let random = |n| Alphanumeric.sample_string(&mut rand::thread_rng(), n);
        Self {
            provider,
            state: random(32),
            nonce: random(32),
            verifier: random(64),
            next,
        }
    }

    /// The PKCE `S256` challenge of the verifier.
    fn challenge(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(self.verifier.as_bytes()))
    }
}

/// A provider's client settings, as the relying party needs them.
pub(crate) struct ClientSettings<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) client_secret: Option<&'a str>,
    pub(crate) scopes: &'a [String],
    pub(crate) redirect_uri: &'a str,
}

type Cache<T> = Mutex<HashMap<String, (Instant, Arc<T>)>>;

/// Talks to identity providers; keeps their discovery documents and keys.
pub(crate) struct Oidc {
    http: reqwest::Client,
    discovery: Cache<Discovery>,
    keys: Cache<JwkSet>,
}

impl Oidc {
    pub(crate) fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            discovery: Mutex::default(),
            keys: Mutex::default(),
        }
    }

    fn cached<T>(cache: &Cache<T>, key: &str, max_age: Duration) -> Option<Arc<T>> {
        let cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(_, value)| value.clone())
    }

    fn keep<T>(cache: &Cache<T>, key: &str, value: Arc<T>) {
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(key.to_string(), (Instant::now(), value));
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(format!("{url}: {}", e.without_url())))?;
        if !response.status().is_success() {
            return Err(OidcError::Unavailable(format!(
                "{url} answered {}",
                response.status()
            )));
        }
        response
            .json()
            .await
            .map_err(|e| OidcError::Unavailable(format!("{url}: {}", e.without_url())))
    }

    /// The provider's discovery document (its `issuer` must be the one configured).
    pub(crate) async fn discover(&self, issuer: &str) -> Result<Arc<Discovery>, OidcError> {
        if let Some(found) = Self::cached(&self.discovery, issuer, CACHE_FOR) {
            return Ok(found);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let discovery: Discovery = self.get_json(&url).await?;
        if discovery.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(OidcError::Unavailable(format!(
                "the discovery document names the issuer '{}', not '{issuer}'",
                discovery.issuer
            )));
        }
        let discovery = Arc::new(discovery);
        Self::keep(&self.discovery, issuer, discovery.clone());
        Ok(discovery)
    }

    /// Where to send the browser to sign in.
    pub(crate) fn authorization_url(
        &self,
        discovery: &Discovery,
        client: &ClientSettings<'_>,
        pending: &Pending,
    ) -> Result<String, OidcError> {
        let mut url = url::Url::parse(&discovery.authorization_endpoint)
            .map_err(|e| OidcError::Unavailable(format!("authorization_endpoint: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client.client_id)
            .append_pair("redirect_uri", client.redirect_uri)
            .append_pair("scope", &client.scopes.join(" "))
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &pending.challenge())
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Exchanges the code for tokens and returns the verified ID token's claims and the token
    /// itself (for RP-initiated logout).
    pub(crate) async fn finish(
        &self,
        discovery: &Discovery,
        client: &ClientSettings<'_>,
        pending: &Pending,
        code: &str,
    ) -> Result<(Map<String, Value>, String), OidcError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", client.redirect_uri),
            ("code_verifier", pending.verifier.as_str()),
        ];
        let mut request = self.http.post(&discovery.token_endpoint);
        match client.client_secret {
            Some(secret) => request = request.basic_auth(client.client_id, Some(secret)),
            None => form.push(("client_id", client.client_id)),
        }
        let response =
            request.form(&form).send().await.map_err(|e| {
                OidcError::Unavailable(format!("token endpoint: {}", e.without_url()))
            })?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| OidcError::Exchange(format!("{status}: {}", e.without_url())))?;
        if !status.is_success() {
            return Err(OidcError::Exchange(format!(
                "{status}: {}",
                body["error"].as_str().unwrap_or("no error code")
            )));
        }
        let id_token = body["id_token"]
            .as_str()
            .ok_or_else(|| OidcError::Exchange("no id_token in the answer".into()))?
            .to_string();
        let claims = self
            .verify_id_token(discovery, client.client_id, &id_token, &pending.nonce)
            .await
            .map_err(|refusal| OidcError::Token(refusal.to_string()))?;
        Ok((claims, id_token))
    }

    /// The provider's keys; read again when `kid` is not among them (at most every few
    /// seconds), so rotated keys are found.
    pub(crate) async fn keys(
        &self,
        jwks_uri: &str,
        kid: Option<&str>,
    ) -> Result<Arc<JwkSet>, OidcError> {
        let cached = Self::cached(&self.keys, jwks_uri, CACHE_FOR);
        let known = |keys: &JwkSet| kid.is_none_or(|kid| keys.find(kid).is_some());
        if let Some(keys) = &cached {
            if known(keys) || Self::cached(&self.keys, jwks_uri, REFETCH_AFTER).is_some() {
                return Ok(keys.clone());
            }
        }
        let keys: Arc<JwkSet> = Arc::new(self.get_json(jwks_uri).await?);
        Self::keep(&self.keys, jwks_uri, keys.clone());
        Ok(keys)
    }

    /// Checks an ID token: signature by the provider's key, issuer, audience (our client id,
    /// and `azp` when several audiences), times, and the nonce of this sign-in.
    pub(crate) async fn verify_id_token(
        &self,
        discovery: &Discovery,
        client_id: &str,
        token: &str,
        nonce: &str,
    ) -> Result<Map<String, Value>, Refusal> {
        let (_, kid) = jwt::header(token)?;
        let keys = self
            .keys(&discovery.jwks_uri, kid.as_deref())
            .await
            .map_err(|e| Refusal::Malformed(e.to_string()))?;
        let audiences = [client_id.to_string()];
        let claims = jwt::verify(
            token,
            &keys,
            &Expected {
                issuer: &discovery.issuer,
                audiences: &audiences,
                algorithms: jwt::ASYMMETRIC,
                leeway_secs: LEEWAY_SECS,
                required_claims: &["sub".to_string(), "iat".to_string()],
                nonce: Some(nonce),
            },
        )?;
        if let Some(Value::Array(audiences)) = claims.get("aud") {
            if audiences.len() > 1 && claims.get("azp").and_then(Value::as_str) != Some(client_id) {
                return Err(Refusal::WrongAudience);
            }
        }
        Ok(claims)
    }

    /// Where to send the browser to end its session at the provider, when it supports that.
    pub(crate) fn end_session_url(
        discovery: &Discovery,
        client_id: &str,
        id_token: &str,
        after: &str,
    ) -> Option<String> {
        let mut url = url::Url::parse(discovery.end_session_endpoint.as_deref()?).ok()?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair("client_id", client_id)
            .append_pair("post_logout_redirect_uri", after);
        Some(url.into())
    }
}
