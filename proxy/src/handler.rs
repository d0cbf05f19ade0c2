//! One request through the proxy, as named phases over one `RequestContext` (pingora's
//! `ProxyHttp` is the model):
//!
//! 1. `resolve`: an AI endpoint, or the REST route for the host and path;
//! 2. `admit`: the key, its scope, request and token limits, the budget (REST and AI alike);
//! 3. `upstream_request`: the headers and body the upstream gets;
//! 4. `forward`: weighted, health-aware attempts (`forward::forward`, `ai::serve`);
//! 5. `response_filter`: the proxy's response headers, the body's idle deadline;
//! 6. `logging`: metrics, cost, budget and token charges, the usage event. It always runs,
//!    when the response body is done, and sees the error if there was one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tollgate_protocol::{AiUsage, UsageEvent};
use uuid::Uuid;

use crate::active::{ActiveConfig, CompiledKey};
use crate::ai::{self, metering, AiCall};
use crate::body::{Counted, Finished, IdleTimeout, ProxyBody};
use crate::error::ProxyError;
use crate::forward::{self, Clients, RequestBody};
use crate::headers::{self, ClientFacts, Peer, X_REQUEST_ID};
use crate::mcp;
use crate::rate_limit::Decision;
use crate::route::CompiledRoute;
use crate::route_match::{normalise_host, RouteMatch};
use crate::shared::Shared;

static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
static RATE_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
static RATE_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining-requests");
static RATE_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset-requests");

/// What the phases learn about a request, for the response headers and the usage event.
struct RequestContext {
    method: Method,
    route: Option<Arc<CompiledRoute>>,
    key: Option<Uuid>,
    rate: Option<Decision>,
    upstream_latency: Option<Duration>,
    bytes_in: Arc<AtomicU64>,
    /// The tenant, when known from a key (AI calls have no route).
    tenant: Option<Uuid>,
    /// The metering of an AI call.
    ai: Option<AiCall>,
    /// The key's tokens-per-minute limit, charged when the call ends.
    tokens_per_minute: Option<u32>,
    /// A caller with a JWT instead of a key.
    consumer: Option<tollgate_protocol::ConsumerRef>,
    /// For MCP: whether (and how) the message is metered.
    mcp: Option<mcp::Metering>,
    /// What limits and budgets are counted against: the key, or the subscription it reached
    /// the API through.
    budget_key: Option<Uuid>,
    /// The subscription a request went through.
    subscription: Option<tollgate_protocol::SubscriptionRef>,
    /// When the request arrived, by the monotonic clock (latency) and the proxy's clock.
    started: Instant,
    time: OffsetDateTime,
}

/// What a request is for.
enum Upstream {
    /// The AI API (`/v1/…`, `/prompts/…`): the model is named in the body.
    Ai,
    /// The MCP gateway (`/mcp`, `/mcp/…`).
    Mcp(mcp::Endpoint),
    Route(Arc<CompiledRoute>),
}

/// Serves one request; never fails: every refusal or failure is a JSON error response.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    clients: &Clients,
    request: Request<Incoming>,
    peer: &Peer,
) -> Response<ProxyBody> {
    let config = shared.config.load_full();
    let request_id = request_id(request.headers());
    let messages_client = ai::speaks_messages(request.uri().path());
    let mut context = RequestContext {
        method: request.method().clone(),
        route: None,
        key: None,
        rate: None,
        upstream_latency: None,
        bytes_in: Arc::new(AtomicU64::new(0)),
        tenant: None,
        ai: None,
        tokens_per_minute: None,
        consumer: None,
        mcp: None,
        budget_key: None,
        subscription: None,
        started: Instant::now(),
        time: shared.clock.now_utc(),
    };
    let outcome = pipeline(
        &shared,
        clients,
        &config,
        request,
        peer,
        &request_id,
        &mut context,
    )
    .await;
    let (response, error) = match outcome {
        Ok(response) => (response, None),
        Err(error) if messages_client => (error.to_messages_response(), Some(error)),
        Err(error) => (error.to_response(), Some(error)),
    };
    response_filter(shared, response, context, error, request_id)
}

async fn pipeline(
    shared: &Shared,
    clients: &Clients,
    config: &ActiveConfig,
    mut request: Request<Incoming>,
    peer: &Peer,
    request_id: &HeaderValue,
    context: &mut RequestContext,
) -> Result<Response<ProxyBody>, ProxyError> {
    if config.version == 0 {
        return Err(ProxyError::NotReady);
    }
    normalise_path(&mut request)?;
    let upstream = resolve(config, &request)?;
    if let Upstream::Route(route) = &upstream {
        context.route = Some(route.clone());
    }
    let key = admit(shared, config, clients, &request, &upstream, context).await?;
    match upstream {
        Upstream::Ai => {
            let key = key.ok_or(ProxyError::MissingKey)?;
            let request =
                request.map(|body| ai::AiBody::Left(Counted::new(body, context.bytes_in.clone())));
            let (key, request) = if key.application.is_none() {
                (key, request)
            } else {
                let (reach, request) = key.for_ai(config, request).await?;
                let method = request.method().clone();
                count_against(shared, &reach, Some(&method), context).await?;
                (reach, request)
            };
            let caller = ai::Caller {
                key: &key,
                config,
                clients,
                shared,
                time: context.time,
            };
            ai::serve(&caller, request, &mut context.ai).await
        }
        Upstream::Mcp(endpoint) => {
            let key = key.ok_or(ProxyError::MissingKey)?;
            let (parts, body) = request.into_parts();
            let body = Counted::new(body, context.bytes_in.clone());
            let exchange = mcp::Exchange::read(&parts, body).await?;
            context.mcp = Some(mcp::Metering::Unmetered);
            let caller = ai::Caller {
                key: &key,
                config,
                clients,
                shared,
                time: context.time,
            };
            let gateway = mcp::Gateway {
                caller: &caller,
                endpoint: &endpoint,
                origin: mcp::Origin { peer, request_id },
            };
            if exchange.is_tool_call() {
                let reach = gateway.reach_for_call(&exchange);
                let ai = gateway.calls_prompt_api(&exchange).then_some(&Method::POST);
                if let Err(refusal) = count_against(shared, reach, ai, context).await {
                    return Ok(gateway.refuse(&exchange, &refusal, &mut context.mcp));
                }
            }
            gateway
                .serve(exchange, &mut context.mcp, &mut context.ai)
                .await
        }
        Upstream::Route(route) => {
            let (parts, body) =
                upstream_request(request, &route, peer, request_id, context).await?;
            let client = clients.get(route.connect_timeout);
            let forwarded = forward::forward(&route, parts, body, &client, &shared.metrics).await?;
            context.upstream_latency = Some(forwarded.upstream_latency);
            let (mut parts, body) = forwarded.response.into_parts();
            headers::strip_hop_by_hop(&mut parts.headers);
            let body = IdleTimeout::new(body, route.body_idle_timeout);
            Ok(Response::from_parts(parts, body.boxed_unsync()))
        }
    }
}

/// Phase 1: the AI API takes precedence; anything else must match a route of the tenant that
/// owns the host and path.
fn resolve<B>(config: &ActiveConfig, request: &Request<B>) -> Result<Upstream, ProxyError> {
    if ai::is_ai_path(request.uri().path()) {
        return Ok(Upstream::Ai);
    }
    if let Some(endpoint) = mcp::endpoint(request.uri().path()) {
        return Ok(Upstream::Mcp(endpoint));
    }
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .map(normalise_host)
        .unwrap_or_default();
    match config
        .routes
        .find(&host, request.uri().path(), request.method())
    {
        RouteMatch::Found(route) => Ok(Upstream::Route(route.clone())),
        RouteMatch::WrongMethod => Err(ProxyError::MethodNotAllowed),
        RouteMatch::NotFound => Err(ProxyError::NoRoute),
    }
}

/// Phase 2: the key (where one is needed), its scope for a route, its request limit, and for
/// AI calls its token limit and budget. Returns the key, if one was presented and needed.
async fn admit<'c, B>(
    shared: &Shared,
    config: &'c ActiveConfig,
    clients: &Clients,
    request: &Request<B>,
    upstream: &Upstream,
    context: &mut RequestContext,
) -> Result<Option<AdmittedKey<'c>>, ProxyError> {
    let needs_key = match upstream {
        Upstream::Ai | Upstream::Mcp(_) => true,
        Upstream::Route(route) => route.require_key,
    };
    if !needs_key {
        return Ok(None);
    }
    let key = match authenticate(config, request.headers(), context.time)? {
        Credential::Key(key) => AdmittedKey::Key(key),
        Credential::Jwt(token) => {
            let tenant = match upstream {
                Upstream::Route(route) => Some(route.tenant_id),
                Upstream::Ai | Upstream::Mcp(_) => None,
            };
            AdmittedKey::Consumer(
                shared
                    .jwt_callers
                    .admit(config, clients, token, tenant)
                    .await?,
            )
        }
    };
    context.consumer = key.consumer.clone();
    // Noted before the scope check, so a refusal's usage event names the key.
    context.reached_with(&key);
    let key = match upstream {
        Upstream::Route(route) => key.for_route(route)?,
        _ => key,
    };
    match upstream {
        // The gateway limits tool calls only, once it has read which message it got; an
        // application's key reaches models and prompt APIs through a subscription, known once
        // the request says which one (`pipeline`).
        Upstream::Mcp(_) => {}
        Upstream::Ai if key.application.is_some() => {}
        Upstream::Ai => {
            count_against(shared, &key, Some(request.method()), context).await?;
        }
        Upstream::Route(_) => count_against(shared, &key, None, context).await?,
    }
    Ok(Some(key))
}

/// Serves the request with `reach` (the key, or one of its subscriptions): its request limit,
/// and for an AI call (`ai`: its method), its token limit and budget.
async fn count_against(
    shared: &Shared,
    reach: &CompiledKey,
    ai: Option<&Method>,
    context: &mut RequestContext,
) -> Result<(), ProxyError> {
    context.reached_with(reach);
    limit(shared, reach, context).await?;
    if let Some(method) = ai {
        ai_allowance(shared, reach, method, context)?;
    }
    Ok(())
}

impl RequestContext {
    /// Notes the key (or the subscription's reach) a request is served with.
    fn reached_with(&mut self, key: &CompiledKey) {
        self.key = Some(key.presented_id());
        self.budget_key = Some(key.id);
        self.tenant = Some(key.tenant_id);
        self.subscription = key.grant.map(|g| g.subscription);
    }
}

/// The key's AI token limit and budget, for a call that may spend them.
fn ai_allowance(
    shared: &Shared,
    key: &CompiledKey,
    method: &Method,
    context: &mut RequestContext,
) -> Result<(), ProxyError> {
    if let Some(per_minute) = key.tokens_per_minute {
        context.tokens_per_minute = Some(per_minute);
        let shared_check = shared
            .shared_limits
            .as_ref()
            .and_then(|limits| limits.check_tokens(key.id, per_minute, context.time));
        let check = shared_check.unwrap_or_else(|| {
            shared
                .token_limiter
                .check_at(key.id, per_minute, shared.clock.now())
        });
        if let Err(retry_after) = check {
            return Err(ProxyError::TokenRateLimited {
                limit: per_minute,
                retry_after,
            });
        }
    }
    if let Some(budget) = key.budget.filter(|_| method == Method::POST) {
        if !shared.budgets.allows(key.id, &budget, context.time) {
            return Err(ProxyError::BudgetExceeded(budget));
        }
    }
    Ok(())
}

/// Phase 3: the route's header rules, forwarding headers, and a body ready to send (kept in
/// memory when small and the route retries, so an attempt can send it again).
async fn upstream_request(
    request: Request<Incoming>,
    route: &CompiledRoute,
    peer: &Peer,
    request_id: &HeaderValue,
    context: &RequestContext,
) -> Result<(http::request::Parts, RequestBody), ProxyError> {
    let (mut parts, body) = request.into_parts();
    let client_host = parts.headers.get(header::HOST).cloned();
    headers::prepare_upstream(
        &mut parts.headers,
        route,
        &ClientFacts {
            peer,
            host: client_host.as_ref(),
            request_id,
        },
    );
    let body = Counted::new(body, context.bytes_in.clone());
    // A refused connection is retried for every method, since nothing was sent.
    let body = RequestBody::prepare(body, &parts.headers, route.retries > 0).await?;
    Ok((parts, body))
}

/// Replaces the request's path by its normalised form, so the route matched is the path the
/// upstream serves; ambiguous paths are refused.
fn normalise_path<B>(request: &mut Request<B>) -> Result<(), ProxyError> {
    let uri = request.uri();
    let normal = match tollgate_protocol::path::normalise(uri.path()) {
        Ok(std::borrow::Cow::Borrowed(_)) => return Ok(()),
        Ok(std::borrow::Cow::Owned(normal)) => normal,
        Err(bad) => {
            return Err(ProxyError::BadRequest(format!(
                "bad request path: {}",
                bad.0
            )))
        }
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{normal}?{query}"),
        None => normal,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|_| ProxyError::BadRequest("bad request path".into()))?,
    );
    *request.uri_mut() = http::Uri::from_parts(parts)
        .map_err(|_| ProxyError::BadRequest("bad request path".into()))?;
    Ok(())
}

/// What a request presents: a key, or a JWT of an issuer to check.
enum Credential<'c, 'h> {
    Key(&'c CompiledKey),
    Jwt(&'h str),
}

/// The key a request was admitted with: one of the snapshot's (borrowed, so a busy key's
/// reference count is never touched), or the one made for a JWT caller.
enum AdmittedKey<'c> {
    Key(&'c CompiledKey),
    Consumer(Arc<CompiledKey>),
}

impl<'c> AdmittedKey<'c> {
    /// The reach that may use the route: the key itself (its own tenant's route, in its
    /// scope), or one of its subscriptions (a product holding the route).
    fn for_route(self, route: &CompiledRoute) -> Result<Self, ProxyError> {
        if authorize(&self, route).is_ok() {
            return Ok(self);
        }
        match self {
            Self::Key(key) => key
                .grant_for_route(route.tenant_id, &route.name)
                .map(Self::Key)
                .ok_or(ProxyError::KeyNotAllowed),
            Self::Consumer(_) => Err(ProxyError::KeyNotAllowed),
        }
    }

    /// For an application's key: the subscription's reach that serves the AI call (by the
    /// prompt API in the path, or the model the body names), and the request with its body
    /// read back in.
    async fn for_ai(
        self,
        config: &ActiveConfig,
        request: Request<ai::AiBody>,
    ) -> Result<(Self, Request<ai::AiBody>), ProxyError> {
        let Self::Key(key) = self else {
            return Ok((self, request));
        };
        if let Some(slug) = request.uri().path().strip_prefix("/prompts/") {
            let reach = key.grant_for_ai(config, slug, true);
            return Ok((Self::Key(reach.ok_or(ProxyError::KeyNotAllowed)?), request));
        }
        if request.method() != Method::POST {
            return Ok((self, request));
        }
        let (parts, body) = request.into_parts();
        let bytes = ai::read_request_body(body).await?;
        let model = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|d| d.get("model")?.as_str().map(str::to_string))
            .unwrap_or_default();
        let request =
            Request::from_parts(parts, ai::AiBody::Right(http_body_util::Full::new(bytes)));
        match key.grant_for_ai(config, &model, false) {
            Some(reach) => Ok((Self::Key(reach), request)),
            // `GET /v1/models` and the like: nothing of its own to list.
            None if model.is_empty() => Ok((self, request)),
            None => Err(ProxyError::KeyNotAllowed),
        }
    }
}

impl std::ops::Deref for AdmittedKey<'_> {
    type Target = CompiledKey;

    fn deref(&self) -> &CompiledKey {
        match self {
            Self::Key(key) => key,
            Self::Consumer(key) => key,
        }
    }
}

/// Finds the key the request presents, by the SHA-256 of its secret (or takes a JWT aside).
fn authenticate<'c, 'h>(
    config: &'c ActiveConfig,
    headers: &'h HeaderMap,
    now: OffsetDateTime,
) -> Result<Credential<'c, 'h>, ProxyError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(headers::bearer_token)
        .map(|secret| (secret, header::AUTHORIZATION));
    let presented = bearer.or_else(|| {
        headers
            .get(&X_API_KEY)
            .and_then(|v| v.to_str().ok())
            .map(|secret| (secret.trim(), X_API_KEY.clone()))
    });
    let (secret, _) = presented.ok_or(ProxyError::MissingKey)?;
    let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    let Some(key) = config.keys.get(&hash) else {
        if !config.jwt_issuers.is_empty() && crate::jwt_callers::looks_like_jwt(secret) {
            return Ok(Credential::Jwt(secret));
        }
        return Err(ProxyError::InvalidKey);
    };
    if key.expires_at.is_some_and(|at| at <= now) {
        return Err(ProxyError::ExpiredKey);
    }
    Ok(Credential::Key(key))
}

/// Takes one request from the key's requests-per-minute bucket, if it has a limit.
async fn limit(
    shared: &Shared,
    key: &CompiledKey,
    context: &mut RequestContext,
) -> Result<(), ProxyError> {
    let Some(per_minute) = key.requests_per_minute else {
        return Ok(());
    };
    let counted_together = match &shared.shared_limits {
        Some(limits) => limits.check_request(key.id, per_minute, context.time).await,
        None => None,
    };
    let decision = counted_together.unwrap_or_else(|| {
        shared
            .limiter
            .check_at(key.id, per_minute, shared.clock.now())
    });
    context.rate = Some(decision);
    if decision.allowed {
        Ok(())
    } else {
        Err(ProxyError::RateLimited {
            limit: per_minute,
            retry_after: decision.reset,
        })
    }
}

/// A key may use its own tenant's routes, and only those its scope names (`*`: all).
fn authorize(key: &CompiledKey, route: &CompiledRoute) -> Result<(), ProxyError> {
    let in_scope = key.routes.allows(&route.name);
    if key.tenant_id == route.tenant_id && in_scope {
        Ok(())
    } else {
        Err(ProxyError::KeyNotAllowed)
    }
}

/// The client's request id if it sent a sensible one, else a fresh one.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&X_REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .cloned()
        .unwrap_or_else(|| {
            let id = tollgate_protocol::usage_json::hyphenated(Uuid::new_v4());
            HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("-"))
        })
}

/// Phase 5: the proxy's own response headers; `logging` is attached to the end of the body.
fn response_filter(
    shared: Arc<Shared>,
    response: Response<ProxyBody>,
    context: RequestContext,
    error: Option<ProxyError>,
    request_id: HeaderValue,
) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    parts.headers.insert(X_REQUEST_ID.clone(), request_id);
    if let Some(rate) = context.rate {
        parts
            .headers
            .insert(RATE_LIMIT.clone(), HeaderValue::from(rate.limit));
        parts
            .headers
            .insert(RATE_REMAINING.clone(), HeaderValue::from(rate.remaining));
        parts.headers.insert(
            RATE_RESET.clone(),
            seconds_value(whole_seconds_up(rate.reset)),
        );
    }
    let status = parts.status;
    let log = move |bytes_out: u64| logging(&shared, &context, status, error.as_ref(), bytes_out);
    Response::from_parts(parts, Finished::new(body, log).boxed_unsync())
}

/// A usage event's id: a v7 UUID stamped with the request's arrival and random after. (uuid's
/// `now_v7` reads the clock again and keeps a process-wide counter, for an order within a
/// millisecond that usage ids do not need.)
fn event_id(time: OffsetDateTime) -> Uuid {
    let millis = u64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let random: [u8; 16] = fastrand::u128(..).to_le_bytes();
    let mut tail = [0u8; 10];
    tail.copy_from_slice(&random[..10]);
    uuid::Builder::from_unix_timestamp_millis(millis, &tail).into_uuid()
}

/// Phase 6: runs once the response body is done (or dropped), for every request.
fn logging(
    shared: &Shared,
    context: &RequestContext,
    status: StatusCode,
    error: Option<&ProxyError>,
    bytes_out: u64,
) {
    let latency = context.started.elapsed();
    let series = match (&context.route, &context.mcp, &context.ai) {
        (Some(route), _, _) => &route.series,
        (None, Some(_), _) => &shared.metrics.mcp,
        (None, None, Some(_)) => &shared.metrics.ai,
        (None, None, None) => &shared.metrics.unmatched,
    };
    series.observe(&shared.metrics, status, latency, context.upstream_latency);
    // Of the gateway's messages only tool calls are usage events, with how the call ended.
    let (mcp, status, error_class, tool_route) = match &context.mcp {
        Some(mcp::Metering::Unmetered) => return,
        Some(mcp::Metering::Call(call)) => {
            let (usage, outcome) = call.usage();
            let status = StatusCode::from_u16(outcome.status).unwrap_or(status);
            let class = outcome.error_class.map(str::to_string);
            (Some(usage), status, class, call.route_id())
        }
        None => (None, status, error.map(|e| e.class().to_string()), None),
    };
    let ai = context.ai.as_ref().map(|call| ai_usage(call, status));
    let id = event_id(context.time);
    if let (Some(key), Some(ai)) = (context.budget_key, &ai) {
        shared
            .budgets
            .charge(key, id, ai.cost_nanousd, context.time);
        if let (Some(budgets), Some(reservation)) = (
            &shared.shared_budgets,
            context
                .ai
                .as_ref()
                .and_then(|call| call.reservation.as_ref()),
        ) {
            budgets.settle(reservation, ai.cost_nanousd);
        }
        if let Some(per_minute) = context.tokens_per_minute {
            let tokens = ai.input_tokens + ai.output_tokens;
            let counted_together = shared
                .shared_limits
                .as_ref()
                .is_some_and(|limits| limits.consume_tokens(key, tokens, shared.clock.now_utc()));
            if !counted_together {
                shared
                    .token_limiter
                    .consume_at(key, per_minute, tokens, shared.clock.now());
            }
        }
    }
    shared.usage.record(UsageEvent {
        ai,
        id,
        time: context.time,
        tenant_id: context
            .route
            .as_ref()
            .map(|r| r.tenant_id)
            .or(context.tenant),
        key_id: context.key,
        consumer: context.consumer.clone(),
        mcp,
        subscription: context.subscription,
        route_id: context.route.as_ref().map(|r| r.id).or(tool_route),
        method: context.method.as_str().to_owned(),
        status: status.as_u16(),
        latency_us: micros(latency),
        upstream_latency_us: context.upstream_latency.map(micros),
        bytes_in: context.bytes_in.load(Ordering::Relaxed),
        bytes_out,
        error_class: error_class.or_else(|| {
            status
                .is_server_error()
                .then(|| "upstream_status".to_string())
        }),
    });
}

/// `{n}s` as a header value; the values a one-minute window gives are made once.
fn seconds_value(seconds: u64) -> HeaderValue {
    static COMMON: std::sync::LazyLock<Vec<HeaderValue>> = std::sync::LazyLock::new(|| {
        (0..=60)
            .map(|n| {
                HeaderValue::from_str(&format!("{n}s")).unwrap_or(HeaderValue::from_static("0s"))
            })
            .collect()
    });
    usize::try_from(seconds)
        .ok()
        .and_then(|n| COMMON.get(n))
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&format!("{seconds}s")).unwrap_or(HeaderValue::from_static("0s"))
        })
}

/// A duration in seconds, rounded up.
fn whole_seconds_up(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The metering of an AI call: tokens as the provider reported them, and their cost. What it
/// did not report (all of it, or the output of a stream cut short) is estimated from the text;
/// every figure it did report is kept. A failed call costs nothing unless the provider reported
/// usage.
fn ai_usage(call: &AiCall, status: StatusCode) -> AiUsage {
    let (tokens, first_byte) = call
        .findings
        .lock()
        .map(|f| {
            let mut tokens = f.tokens;
            if status.is_success() || !f.output_text.is_empty() {
                if !tokens.reported {
                    tokens.input = metering::estimate_tokens(&call.prompt_text());
                }
                if !tokens.output_reported {
                    tokens.output = tokens.output.max(metering::estimate_tokens(&f.output_text));
                }
            }
            (tokens, f.first_byte)
        })
        .unwrap_or_default();
    AiUsage {
        model_id: call.model.id,
        provider_id: call.provider_id,
        upstream_model: call.upstream_model.clone(),
        input_tokens: tokens.input,
        cached_input_tokens: tokens.cached_input,
        cache_write_tokens: tokens.cache_write,
        output_tokens: tokens.output,
        estimated: !(tokens.reported && tokens.output_reported),
        cost_nanousd: if tokens.reported || status.is_success() {
            metering::cost_nanousd(&call.model.prices, &tokens)
        } else {
            0
        },
        ttft_us: first_byte.map(micros),
        fallbacks: call.fallbacks,
        streamed: call.streamed,
        prompt_api_id: call.prompt_api_id,
    }
}
