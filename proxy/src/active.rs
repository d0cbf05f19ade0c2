//! The configuration in force: a snapshot compiled into lookup structures for the hot path.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, Uri};
use time::OffsetDateTime;
use tollgate_protocol::{RetryOn, RouteEntry, Snapshot};
use uuid::Uuid;

use crate::health::{HealthRegistry, TargetHealth};
use crate::route_match::RouteTable;

/// A snapshot ready to serve.
pub struct ActiveConfig {
    pub version: i64,
    pub generated_at: OffsetDateTime,
    pub routes: RouteTable,
    pub keys: HashMap<[u8; 32], Arc<CompiledKey>>,
}

/// An API key as the hot path needs it.
#[derive(Debug)]
pub struct CompiledKey {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Route names the key may use; empty means all of its tenant's.
    pub routes: HashSet<String>,
    pub requests_per_minute: Option<u32>,
    pub expires_at: Option<OffsetDateTime>,
}

/// An upstream target with its base URL taken apart.
#[derive(Debug)]
pub struct CompiledTarget {
    pub url: String,
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    /// The target URL's own path, without a trailing slash ("" for none).
    pub base_path: String,
    pub weight: u32,
    pub health: Arc<TargetHealth>,
}

/// A route ready to match and forward.
#[derive(Debug)]
pub struct CompiledRoute {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub label: String,
    pub name: String,
    pub hosts: Vec<String>,
    pub path: String,
    pub exact: bool,
    pub methods: Vec<Method>,
    pub strip_prefix: bool,
    pub targets: Vec<CompiledTarget>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub retry_on: Vec<RetryOn>,
    pub retry_non_idempotent: bool,
    pub require_key: bool,
    pub set_headers: Vec<(HeaderName, HeaderValue)>,
    pub remove_headers: Vec<HeaderName>,
}

impl ActiveConfig {
    /// The configuration before any snapshot arrived: serves nothing.
    pub fn empty() -> Self {
        Self {
            version: 0,
            generated_at: OffsetDateTime::UNIX_EPOCH,
            routes: RouteTable::default(),
            keys: HashMap::new(),
        }
    }

    /// Compiles a snapshot; entries that cannot be used are skipped with a warning, so one bad
    /// entry never takes the others down.
    pub fn compile(snapshot: &Snapshot, health: &HealthRegistry) -> Self {
        let mut keys = HashMap::with_capacity(snapshot.keys.len());
        for key in &snapshot.keys {
            let mut hash = [0u8; 32];
            if hex::decode_to_slice(&key.secret_sha256, &mut hash).is_err() {
                tracing::warn!(key = %key.id, "skipping a key with a malformed hash");
                continue;
            }
            keys.insert(
                hash,
                Arc::new(CompiledKey {
                    id: key.id,
                    tenant_id: key.tenant_id,
                    routes: key.routes.iter().cloned().collect(),
                    requests_per_minute: key.requests_per_minute,
                    expires_at: key.expires_at,
                }),
            );
        }
        let routes: Vec<Arc<CompiledRoute>> = snapshot
            .routes
            .iter()
            .filter_map(|entry| match compile_route(entry, health) {
                Ok(route) => Some(Arc::new(route)),
                Err(why) => {
                    tracing::warn!(route = %entry.label, %why, "skipping a route");
                    None
                }
            })
            .collect();
        let in_use: HashSet<String> = routes
            .iter()
            .flat_map(|r| r.targets.iter().map(|t| t.url.clone()))
            .collect();
        health.retain(|url| in_use.contains(url));
        Self {
            version: snapshot.version,
            generated_at: snapshot.generated_at,
            routes: RouteTable::new(routes),
            keys,
        }
    }
}

fn compile_route(entry: &RouteEntry, health: &HealthRegistry) -> Result<CompiledRoute, String> {
    let mut targets = Vec::with_capacity(entry.targets.len());
    for target in &entry.targets {
        let uri: Uri = target
            .url
            .parse()
            .map_err(|e| format!("target {}: {e}", target.url))?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            return Err(format!("target {} has no scheme or host", target.url));
        };
        targets.push(CompiledTarget {
            url: target.url.clone(),
            scheme,
            authority,
            base_path: uri.path().trim_end_matches('/').to_string(),
            weight: target.weight,
            health: health.get(&target.url),
        });
    }
    if targets.iter().all(|t| t.weight == 0) {
        return Err("no target has weight".into());
    }
    let methods = entry
        .methods
        .iter()
        .map(|m| Method::from_bytes(m.as_bytes()).map_err(|e| format!("method {m}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let set_headers = entry
        .set_headers
        .iter()
        .map(|(name, value)| {
            Ok((
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| format!("header {name}: {e}"))?,
                HeaderValue::from_str(value).map_err(|e| format!("header {name}: {e}"))?,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let remove_headers = entry
        .remove_headers
        .iter()
        .map(|name| {
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header {name}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CompiledRoute {
        id: entry.id,
        tenant_id: entry.tenant_id,
        label: entry.label.clone(),
        name: entry.name.clone(),
        hosts: entry.hosts.clone(),
        path: entry.path.clone(),
        exact: entry.path_match == tollgate_protocol::PathMatch::Exact,
        methods,
        strip_prefix: entry.strip_prefix,
        targets,
        connect_timeout: Duration::from_millis(entry.connect_timeout_ms.max(1)),
        timeout: Duration::from_millis(entry.timeout_ms.max(1)),
        retries: entry.retries,
        retry_on: entry.retry_on.clone(),
        retry_non_idempotent: entry.retry_non_idempotent,
        require_key: entry.require_key,
        set_headers,
        remove_headers,
    })
}
