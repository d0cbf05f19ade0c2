//! Callers who present a JWT from a configured issuer instead of a Tollgate key. The token is
//! checked against the issuer's keys (its JWKS, cached and read again when a token names a key
//! id not seen yet, so rotation needs no restart): algorithm (asymmetric only), signature,
//! issuer, audience, expiry with the issuer's clock skew, required claims. The caller named by
//! the issuer's consumer claim then acts as a key with the issuer's scopes and limits, under an
//! id of its own (so limits and budgets count per caller).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Method, Request};
use serde_json::Value;
use tollgate_protocol::jwt::{self, Expected, JwkSet};
use tollgate_protocol::ConsumerRef;
use uuid::Uuid;

use crate::active::{ActiveConfig, CompiledKey};
use crate::error::ProxyError;
use crate::forward::Clients;
use crate::jwt_issuer::CompiledIssuer;

/// Keys are read again for an unknown key id at most this often.
const REFETCH_AFTER: Duration = Duration::from_secs(2);
/// And at least this often.
const KEEP_FOR: Duration = Duration::from_secs(3600);
/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// Whether a presented credential looks like a JWT rather than a key.
pub(crate) fn looks_like_jwt(credential: &str) -> bool {
    credential.starts_with("ey") && credential.split('.').count() == 3
}

/// The issuers' keys fetched so far, by JWKS URL.
#[derive(Default)]
pub(crate) struct JwtCallers {
    keys: Mutex<HashMap<String, (Instant, Arc<JwkSet>)>>,
}

fn refused(why: impl std::fmt::Display) -> ProxyError {
    ProxyError::InvalidJwt(why.to_string())
}

impl JwtCallers {
    /// The caller a token stands for, if it checks out. `tenant` is the tenant whose route
    /// was matched (none for AI calls).
    pub(crate) async fn admit(
        &self,
        config: &ActiveConfig,
        clients: &Clients,
        token: &str,
        tenant: Option<Uuid>,
    ) -> Result<Arc<CompiledKey>, ProxyError> {
        let iss = jwt::unverified_issuer(token)
            .ok_or_else(|| refused("the token is not a JWT with an issuer"))?;
        let candidates: Vec<&Arc<CompiledIssuer>> = config
            .jwt_issuers
            .iter()
            .filter(|i| i.entry.issuer == iss && tenant.is_none_or(|t| i.entry.tenant_id == t))
            .collect();
        if candidates.is_empty() {
            return Err(refused("tokens of this issuer are not accepted here"));
        }
        let (_, kid) = jwt::header(token).map_err(refused)?;
        // Several tenants may accept one issuer (for other audiences): the token must verify
        // for exactly one of them.
        let mut verified = Vec::new();
        let mut first_refusal = None;
        for issuer in candidates {
            match self.verify(issuer, clients, token, kid.as_deref()).await {
                Ok(claims) => verified.push((issuer, claims)),
                Err(refusal) => {
                    first_refusal.get_or_insert(refusal);
                }
            }
        }
        if verified.len() > 1 {
            return Err(refused(
                "the token is accepted by several tenants; use a key, or give each tenant its own audience",
            ));
        }
        let Some((issuer, claims)) = verified.pop() else {
            return Err(first_refusal.unwrap_or_else(|| refused("the token does not verify")));
        };
        let entry = &issuer.entry;
        let name = match claims.get(&entry.consumer_claim) {
            Some(Value::String(name)) if !name.is_empty() && name.len() <= 256 => name.clone(),
            Some(Value::Number(number)) => number.to_string(),
            _ => {
                return Err(refused(format!(
                    "the token has no '{}' claim naming the caller",
                    entry.consumer_claim
                )))
            }
        };
        Ok(Arc::new(CompiledKey {
            id: entry.consumer_id(&name),
            tenant_id: entry.tenant_id,
            routes: entry.routes.iter().cloned().collect(),
            models: entry.models.iter().cloned().collect(),
            prompt_apis: entry.prompt_apis.iter().cloned().collect(),
            mcp_servers: entry.mcp_servers.iter().cloned().collect(),
            requests_per_minute: entry.requests_per_minute,
            tokens_per_minute: entry.tokens_per_minute,
            budget: entry.budget,
            expires_at: None,
            consumer: Some(ConsumerRef {
                issuer_id: entry.id,
                name,
            }),
            application: None,
            grants: Vec::new(),
            grant: None,
        }))
    }

    /// The token's claims, if it verifies for this issuer.
    async fn verify(
        &self,
        issuer: &CompiledIssuer,
        clients: &Clients,
        token: &str,
        kid: Option<&str>,
    ) -> Result<serde_json::Map<String, Value>, ProxyError> {
        let keys = match &issuer.static_keys {
            Some(keys) => keys.clone(),
            None => self.keys_of(issuer, clients, kid).await?,
        };
        let entry = &issuer.entry;
        jwt::verify(
            token,
            &keys,
            &Expected {
                issuer: &entry.issuer,
                audiences: &entry.audiences,
                algorithms: &issuer.algorithms,
                leeway_secs: entry.clock_skew_secs,
                required_claims: &entry.required_claims,
                nonce: None,
            },
        )
        .map_err(refused)
    }

    /// The issuer's keys from its JWKS URL: cached, read again for an unknown key id.
    async fn keys_of(
        &self,
        issuer: &CompiledIssuer,
        clients: &Clients,
        kid: Option<&str>,
    ) -> Result<Arc<JwkSet>, ProxyError> {
        let Some(url) = issuer.entry.jwks_url.as_deref() else {
            return Err(refused("the issuer has no keys"));
        };
        let cached = {
            let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            keys.get(url).cloned()
        };
        if let Some((fetched, keys)) = &cached {
            let known = kid.is_none_or(|kid| keys.find(kid).is_some());
            if (known && fetched.elapsed() < KEEP_FOR) || fetched.elapsed() < REFETCH_AFTER {
                return Ok(keys.clone());
            }
        }
        match fetch(clients, url).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                let mut all = self.keys.lock().unwrap_or_else(|e| e.into_inner());
                all.insert(url.to_string(), (Instant::now(), keys.clone()));
                Ok(keys)
            }
            Err(why) => {
                tracing::warn!(issuer = %issuer.entry.name, %url, %why, "cannot read the issuer's keys");
                // Keys read before still verify tokens signed with them.
                cached
                    .map(|(_, keys)| keys)
                    .ok_or_else(|| refused("the issuer's keys cannot be read right now"))
            }
        }
    }
}

/// Reads a JWKS document (through the egress policy, like every connection the proxy makes).
async fn fetch(clients: &Clients, url: &str) -> Result<JwkSet, String> {
    let timeout = Duration::from_secs(5);
    let client = clients.get(timeout);
    let request = Request::builder()
        .method(Method::GET)
        .uri(url)
        .header(http::header::USER_AGENT, "tollgate-proxy")
        .body(
            Empty::<Bytes>::new()
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(timeout, client.request(request))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    let body = tokio::time::timeout(
        timeout,
        Limited::new(response.into_body(), MAX_JWKS_BYTES).collect(),
    )
    .await
    .map_err(|_| "timed out".to_string())?
    .map_err(|e| e.to_string())?
    .to_bytes();
    serde_json::from_slice(&body).map_err(|e| format!("not a JWKS document: {e}"))
}
