//! A REST route compiled for the hot path: what it matches, where it forwards, and how.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, Uri};
use tollgate_protocol::{RetryOn, RouteEntry};
use uuid::Uuid;

use crate::attempts::Candidate;
use crate::health::{HealthRegistry, TargetHealth};
use crate::metrics::{Metrics, RouteSeries};

/// An upstream target with its base URL taken apart.
#[derive(Debug)]
pub(crate) struct CompiledTarget {
    pub(crate) url: String,
    /// Where its requests go and its connections are pooled.
    pub(crate) origin: crate::client::Origin,
    /// `Host` as the target gets it: its host, and its port unless the scheme's (never the
    /// URL's user info).
    pub(crate) host: http::HeaderValue,
    /// The target URL's own path, without a trailing slash ("" for none).
    pub(crate) base_path: String,
    pub(crate) weight: u32,
    pub(crate) health: Arc<TargetHealth>,
    /// Active health check findings, for a target of a checked service.
    pub(crate) probe: Option<Arc<crate::health::ProbeState>>,
}

/// A route ready to match and forward.
#[derive(Debug)]
pub(crate) struct CompiledRoute {
    pub(crate) id: Uuid,
    pub(crate) tenant_id: Uuid,
    pub(crate) label: String,
    pub(crate) name: String,
    pub(crate) hosts: Vec<String>,
    pub(crate) path: String,
    pub(crate) exact: bool,
    pub(crate) methods: Vec<Method>,
    pub(crate) strip_prefix: bool,
    pub(crate) targets: Vec<CompiledTarget>,
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) retry_on: Vec<RetryOn>,
    pub(crate) retry_non_idempotent: bool,
    pub(crate) require_key: bool,
    pub(crate) set_headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) remove_headers: Vec<HeaderName>,
    /// Forward the client's Tollgate key upstream (off: it is always removed).
    pub(crate) forward_key: bool,
    /// Time allowed between two pieces of the upstream's response body.
    pub(crate) body_idle_timeout: Duration,
    /// Its metric series, resolved once.
    pub(crate) series: RouteSeries,
    /// Its service's operations, published as MCP tools.
    pub(crate) tools: Vec<tollgate_protocol::RestTool>,
}

/// Compiles a route entry; an error says why it cannot be served.
pub(crate) fn compile(
    entry: &RouteEntry,
    health: &HealthRegistry,
    metrics: &Metrics,
) -> Result<CompiledRoute, String> {
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
        let origin = crate::client::Origin::new(scheme, authority)
            .map_err(|_| format!("target {} is not an http or https URL", target.url))?;
        let host = origin
            .host_header()
            .map_err(|_| format!("target {} has no usable host", target.url))?;
        targets.push(CompiledTarget {
            url: target.url.clone(),
            origin,
            host,
            base_path: uri.path().trim_end_matches('/').to_string(),
            weight: target.weight,
            // Health is kept per route: one tenant's failures never eject another's target.
            health: health.get(&health_key(entry.id, &target.url)),
            probe: target
                .service_id
                .map(|service| health.probe(service, &target.url)),
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
        forward_key: entry.forward_key,
        body_idle_timeout: Duration::from_millis(entry.body_idle_timeout_ms.max(1)),
        series: metrics.route_series(&entry.label),
        tools: entry.tools.clone(),
    })
}

/// Passive health is tracked per route and target.
pub(crate) fn health_key(route: Uuid, url: &str) -> String {
    format!("{route}|{url}")
}

impl Candidate for CompiledTarget {
    fn weight(&self) -> u32 {
        self.weight
    }

    fn health(&self) -> &TargetHealth {
        &self.health
    }

    fn in_service(&self) -> bool {
        self.probe.as_ref().is_none_or(|probe| probe.is_up())
    }
}
