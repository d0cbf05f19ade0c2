//! The unified, OpenAI-compatible AI API: `POST /v1/chat/completions` (with `stream: true` as
//! server-sent events), `POST /v1/embeddings`, `GET /v1/models`. A model name resolves to
//! deployments; the first-choice group shares traffic by weight and later groups are fallbacks,
//! tried when a deployment fails (429, 5xx, timeout, connection error) before the client got a byte.

pub(crate) mod anthropic;
pub(crate) mod chat;
pub(crate) mod document;
pub(crate) mod gemini;
pub(crate) mod json_scan;
pub(crate) mod members;
pub(crate) mod messages;
pub(crate) mod metering;
pub(crate) mod openai;
pub(crate) mod prompt;
pub(crate) mod responses;
pub(crate) mod sse;
pub(crate) mod tokenizer;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tollgate_protocol::Dialect;
use uuid::Uuid;

use crate::active::{ActiveConfig, CompiledDeployment, CompiledKey, CompiledModel};
use crate::attempts::Attempts;
use crate::body::{Counted, ProxyBody};
use crate::client::ClientError;
use crate::error::ProxyError;
use crate::forward::{Clients, UpstreamClient};
use crate::metrics::Metrics;
use crate::shared::Shared;
use crate::shared_budgets::Reservation;
use chat::{ChatCompletion, ChatRequest};
pub(crate) use document::Document;
use metering::Tokens;
use serde::Deserialize;
use sse::{StreamFindings, UsageScanner};

/// Largest request body accepted on the AI endpoints.
const REQUEST_MAX: usize = 16 * 1024 * 1024;
/// Largest non-streamed answer read back from a provider.
const RESPONSE_MAX: usize = 64 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A JSON POST to a provider, with its authentication and extra headers.
pub(crate) fn provider_post(
    deployment: &CompiledDeployment,
    path: &[&str],
    body: &impl serde::Serialize,
) -> Result<Request<ProxyBody>, String> {
    let bytes = Bytes::from(serde_json::to_vec(body).map_err(|e| e.to_string())?);
    provider_post_bytes(deployment, path, bytes)
}

/// A POST of JSON text to the path made of `path`'s pieces under a provider's base URL, with
/// its authentication and extra headers: in origin form with `Host` set, for
/// [`send_to_provider`].
pub(crate) fn provider_post_bytes(
    deployment: &CompiledDeployment,
    path: &[&str],
    bytes: Bytes,
) -> Result<Request<ProxyBody>, String> {
    let provider = &deployment.provider;
    let Some(target) = &provider.target else {
        return Err(format!(
            "provider {} has an unusable base URL",
            provider.name
        ));
    };
    let mut uri = String::with_capacity(
        target.base_path.len() + path.iter().map(|piece| piece.len()).sum::<usize>(),
    );
    uri.push_str(&target.base_path);
    path.iter().for_each(|piece| uri.push_str(piece));
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )
        .body(
            Full::new(bytes)
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .map_err(|e| {
            format!(
                "provider {} has an unusable base URL or model: {e}",
                provider.name
            )
        })?;
    let headers = request.headers_mut();
    headers.insert(header::HOST, target.host.clone());
    for (name, value) in &provider.headers {
        headers.insert(name.clone(), value.clone());
    }
    Ok(request)
}

/// Sends a request made by [`provider_post_bytes`] to the deployment's provider.
async fn send_to_provider(
    client: &UpstreamClient,
    deployment: &CompiledDeployment,
    request: Request<ProxyBody>,
) -> Result<Response<Incoming>, ClientError> {
    match &deployment.provider.target {
        Some(target) => client.send(&target.origin, request).await,
        None => Err(ClientError::BadUrl),
    }
}

/// The API a client called, and so the dialect it reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inbound {
    /// OpenAI's `POST /v1/chat/completions`.
    Chat,
    /// OpenAI's `POST /v1/embeddings`.
    Embeddings,
    /// Anthropic's `POST /v1/messages`.
    Messages,
    /// OpenAI's `POST /v1/responses`.
    Responses,
}

/// Whether errors on `path` take Anthropic's shape (`{"type": "error", …}`).
pub(crate) fn speaks_messages(path: &str) -> bool {
    path.starts_with("/v1/messages")
}

/// Whether a path belongs to the AI API (it takes precedence over REST routes).
pub(crate) fn is_ai_path(path: &str) -> bool {
    matches!(
        path,
        "/v1/chat/completions"
            | "/v1/embeddings"
            | "/v1/models"
            | "/v1/messages"
            | "/v1/messages/count_tokens"
            | "/v1/responses"
    ) || path.starts_with("/v1/models/")
        || path.starts_with("/v1/responses/")
        || path.starts_with("/prompts/")
}

/// What the metering of an AI call needs, filled in as the call proceeds.
pub(crate) struct AiCall {
    pub(crate) model: Arc<CompiledModel>,
    pub(crate) provider_id: Option<Uuid>,
    pub(crate) upstream_model: Option<String>,
    pub(crate) fallbacks: u32,
    pub(crate) streamed: bool,
    pub(crate) findings: Arc<Mutex<StreamFindings>>,
    /// Set when the call serves a prompt API.
    pub(crate) prompt_api_id: Option<Uuid>,
    /// The request, whose text estimates its tokens if the provider reports none.
    pub(crate) request: Arc<Document>,
    /// The call's worst-case cost, held against the key's budget in Redis until it settles.
    pub(crate) reservation: Option<Reservation>,
}

impl AiCall {
    /// The request's text (made only when an estimate needs it).
    pub(crate) fn prompt_text(&self) -> String {
        metering::prompt_text(self.request.value())
    }
}

/// An admitted AI call's caller, and what it reaches providers with.
pub(crate) struct Caller<'a> {
    pub(crate) key: &'a CompiledKey,
    pub(crate) config: &'a ActiveConfig,
    pub(crate) clients: &'a Clients,
    pub(crate) shared: &'a Shared,
    /// When the request arrived (budget periods).
    pub(crate) time: OffsetDateTime,
}

/// Serves an AI API request for an authenticated key.
pub(crate) async fn serve(
    caller: &Caller<'_>,
    request: Request<AiBody>,
    call: &mut Option<AiCall>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let path = request.uri().path().to_string();
    match (request.method(), path.as_str()) {
        (&Method::GET, "/v1/models") => Ok(list_models(
            caller.config,
            caller.key,
            ModelShape::of(&request),
        )),
        (&Method::GET, path) if path.starts_with("/v1/models/") => retrieve_model(
            caller.config,
            caller.key,
            &path["/v1/models/".len()..],
            ModelShape::of(&request),
        ),
        (&Method::POST, "/v1/chat/completions") => {
            complete(caller, request, Inbound::Chat, call).await
        }
        (&Method::POST, "/v1/embeddings") => {
            complete(caller, request, Inbound::Embeddings, call).await
        }
        (&Method::POST, "/v1/messages") => complete(caller, request, Inbound::Messages, call).await,
        (&Method::POST, "/v1/messages/count_tokens") => count_tokens(caller, request).await,
        (&Method::POST, "/v1/responses") => {
            complete(caller, request, Inbound::Responses, call).await
        }
        (&Method::GET | &Method::DELETE, path) if path.starts_with("/v1/responses/") => {
            Err(ProxyError::BadRequest(
                "responses are not stored by this gateway (it answers as with store: false); keep the response you got, and send the whole conversation as input".into(),
            ))
        }
        (&Method::POST, path) if path.starts_with("/prompts/") => {
            let slug = path.trim_start_matches("/prompts/").to_string();
            prompt::run(caller, &slug, request, call).await
        }
        _ => Err(ProxyError::MethodNotAllowed),
    }
}

pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn may_use(key: &CompiledKey, model: &str) -> bool {
    key.models.allows(model)
}

/// One model this key may call, in OpenAI's shape (`client.models.retrieve`).
/// How a model is described: OpenAI's `{"object": "model", …}` or Anthropic's
/// `{"type": "model", …}`.
#[derive(Clone, Copy)]
enum ModelShape {
    OpenAi,
    Anthropic,
}

impl ModelShape {
    /// Anthropic's SDKs send their API version with every call, and read models in their shape.
    fn of<B>(request: &Request<B>) -> Self {
        if request.headers().contains_key("anthropic-version") {
            Self::Anthropic
        } else {
            Self::OpenAi
        }
    }
}

fn retrieve_model(
    config: &ActiveConfig,
    key: &CompiledKey,
    name: &str,
    shape: ModelShape,
) -> Result<Response<ProxyBody>, ProxyError> {
    // Model names may hold `/` or `:`, escaped in the path.
    let name = percent_encoding::percent_decode_str(name)
        .decode_utf8_lossy()
        .into_owned();
    let visible = key
        .reaches()
        .any(|reach| config.models.contains(reach.tenant_id, &name) && may_use(reach, &name));
    if !visible {
        return Err(ProxyError::ModelNotFound(name));
    }
    Ok(json_response(
        StatusCode::OK,
        Bytes::from(model_object(&name, shape).to_string()),
    ))
}

fn model_object(name: &str, shape: ModelShape) -> Value {
    match shape {
        ModelShape::OpenAi => {
            json!({"id": name, "object": "model", "created": 0, "owned_by": "tollgate"})
        }
        ModelShape::Anthropic => json!({"type": "model", "id": name, "display_name": name,
            "created_at": "1970-01-01T00:00:00Z"}),
    }
}

/// The models this key may call, in OpenAI's or Anthropic's list shape.
fn list_models(config: &ActiveConfig, key: &CompiledKey, shape: ModelShape) -> Response<ProxyBody> {
    // Its own tenant's, and (an application's key) its subscriptions'.
    let mut names: Vec<&str> = key
        .reaches()
        .flat_map(|reach| {
            config
                .models
                .of(reach.tenant_id)
                .map(|(name, _)| name)
                .filter(|name| may_use(reach, name))
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    let list = match shape {
        ModelShape::OpenAi => json!({"object": "list",
            "data": names.iter().map(|n| model_object(n, shape)).collect::<Vec<_>>()}),
        ModelShape::Anthropic => json!({
            "data": names.iter().map(|n| model_object(n, shape)).collect::<Vec<_>>(),
            "has_more": false, "first_id": names.first(), "last_id": names.last()}),
    };
    json_response(StatusCode::OK, Bytes::from(list.to_string()))
}

/// Counts a deployment's failure; repeated failures take it out of rotation for a while.
fn note_failure(deployment: &CompiledDeployment, metrics: &Metrics, kind: &str) {
    metrics
        .upstream_errors
        .with_label_values(&[crate::metrics::AI_LABEL, kind])
        .inc();
    if deployment.health.failed() {
        tracing::warn!(provider = %deployment.provider.name, model = %deployment.model, "deployment ejected after repeated failures");
    }
}

/// Why one deployment did not answer.
enum Failure {
    Connect(String),
    Timeout,
    Status(StatusCode, Bytes),
    Unsupported(String),
}

async fn complete(
    caller: &Caller<'_>,
    request: Request<AiBody>,
    inbound: Inbound,
    call: &mut Option<AiCall>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let document = read_document(body).await?;
    check_scope(caller, &document)?;
    let request = ClientRequest {
        inbound,
        document,
        headers: parts.headers,
    };
    complete_document(caller, request, call, started).await
}

/// Holds the call's worst-case cost against the key's budget, when budgets are held in Redis:
/// its input counted with the tokenizer, and the most output it may produce (`max_tokens` or
/// its kin; else the model's output limit capped by the proxy's setting), at the model's prices.
async fn reserve_budget(
    caller: &Caller<'_>,
    inbound: Inbound,
    document: &Document,
    call: &AiCall,
) -> Result<Option<Reservation>, ProxyError> {
    let (Some(budgets), Some(budget)) = (&caller.shared.shared_budgets, caller.key.budget) else {
        return Ok(None);
    };
    let output = match inbound {
        Inbound::Embeddings => 0,
        _ => ["max_completion_tokens", "max_tokens", "max_output_tokens"]
            .iter()
            .find_map(|field| document.value().get(field).and_then(Value::as_u64))
            .unwrap_or_else(|| {
                let limit = call.model.max_output_tokens.map_or(u64::MAX, u64::from);
                limit.min(budgets.max_output_tokens)
            }),
    };
    let worst_case = metering::cost_nanousd(
        &call.model.prices,
        &Tokens {
            input: metering::estimate_tokens(&call.prompt_text()),
            output,
            ..Tokens::default()
        },
    );
    let known = caller
        .shared
        .budgets
        .spent(caller.key.id, &budget, caller.time);
    budgets
        .reserve(caller.key.id, &budget, worst_case, known, caller.time)
        .await
}

/// Refuses a model the key may not call (one it cannot see is "not found" later).
fn check_scope(caller: &Caller<'_>, document: &Document) -> Result<(), ProxyError> {
    if let Some(name) = document.model() {
        let exists = caller.config.models.contains(caller.key.tenant_id, name);
        if exists && !may_use(caller.key, name) {
            return Err(ProxyError::ModelNotAllowed(name.to_string()));
        }
    }
    Ok(())
}

/// `POST /v1/messages/count_tokens`: asked of the model's first Anthropic deployment, or
/// estimated with the tokenizer when it has none.
async fn count_tokens(
    caller: &Caller<'_>,
    request: Request<AiBody>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let (parts, body) = request.into_parts();
    let document = read_document(body).await?;
    check_scope(caller, &document)?;
    let model = find_model(caller, &document)?;
    let anthropic = model
        .groups
        .iter()
        .flatten()
        .find(|d| d.provider.kind.dialect() == Dialect::Anthropic);
    if let Some(deployment) = anthropic {
        let upstream = anthropic::relay(
            deployment,
            anthropic::COUNT_TOKENS_PATH,
            &document,
            &parts.headers,
        )
        .map_err(ProxyError::BadRequest)?;
        let client = caller.clients.get(CONNECT_TIMEOUT);
        let response = tokio::time::timeout(
            deployment.provider.timeout,
            send_to_provider(&client, deployment, upstream),
        )
        .await
        .map_err(|_| ProxyError::UpstreamTimeout)?
        .map_err(|e| ProxyError::UpstreamUnreachable(e.to_string()))?;
        let status = response.status();
        let body = read_body(response.into_body())
            .await
            .map_err(ProxyError::UpstreamUnreachable)?;
        return Ok(json_response(status, body));
    }
    let mut text = metering::prompt_text(document.value());
    for extra in ["system", "tools"] {
        match document.value().get(extra) {
            Some(Value::String(system)) => text.push_str(system),
            Some(other @ Value::Array(_)) => text.push_str(&other.to_string()),
            _ => {}
        }
    }
    let count = anthropic::wire::TokenCount {
        input_tokens: metering::estimate_tokens(&text),
    };
    Ok(json_response(
        StatusCode::OK,
        Bytes::from(serde_json::to_vec(&count).unwrap_or_default()),
    ))
}

/// The model a request names, if the key's tenant has it.
fn find_model(caller: &Caller<'_>, document: &Document) -> Result<Arc<CompiledModel>, ProxyError> {
    let Some(model_name) = document.model() else {
        return Err(ProxyError::BadRequest(
            "'model' is required: the name of the model to call".into(),
        ));
    };
    caller
        .config
        .models
        .get(caller.key.tenant_id, model_name)
        .cloned()
        .ok_or_else(|| ProxyError::ModelNotFound(model_name.to_string()))
}

/// A client's AI request: its dialect, its document and its headers.
pub(crate) struct ClientRequest {
    pub(crate) inbound: Inbound,
    pub(crate) document: Document,
    pub(crate) headers: http::HeaderMap,
}

/// A client's AI request body: as it streams in, or already read (an application's key's
/// request, read to find the model its subscriptions serve).
pub(crate) type AiBody = http_body_util::Either<Counted<Incoming>, Full<Bytes>>;

/// Reads a request body, up to the AI endpoints' limit.
pub(crate) async fn read_request_body(body: AiBody) -> Result<Bytes, ProxyError> {
    let bytes = match body {
        http_body_util::Either::Right(read) => read.collect().await.map(|b| b.to_bytes()).ok(),
        http_body_util::Either::Left(body) => Limited::new(body, REQUEST_MAX)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .ok(),
    };
    bytes.ok_or_else(|| {
        ProxyError::BadRequest(format!(
            "the request body is unreadable or over {} MiB",
            REQUEST_MAX >> 20
        ))
    })
}

/// Reads a JSON request body (an empty body reads as `{}`).
pub(crate) async fn read_json(body: AiBody) -> Result<Value, ProxyError> {
    document::whole(&read_request_body(body).await?).map_err(ProxyError::BadRequest)
}

/// Reads a JSON request body (an empty body reads as `{}`).
async fn read_document(body: AiBody) -> Result<Document, ProxyError> {
    Document::read(read_request_body(body).await?).map_err(ProxyError::BadRequest)
}

/// Calls the model a chat or embeddings document names, with fallbacks, metering into `call`.
/// The caller has checked that the key may use it (by model scope, or by prompt API scope for
/// the prompt API's own model).
pub(crate) async fn complete_document(
    caller: &Caller<'_>,
    request: ClientRequest,
    call: &mut Option<AiCall>,
    started: Instant,
) -> Result<Response<ProxyBody>, ProxyError> {
    let ClientRequest {
        inbound,
        document,
        headers,
    } = request;
    let document = Arc::new(document);
    let model = find_model(caller, &document)?;
    let model_name = model.name.clone();
    let stream = inbound != Inbound::Embeddings && document.streams();
    // The request in the canonical model, for deployments that do not speak the client's
    // dialect: made when first needed (a chat client of OpenAI-family providers never needs it).
    let mut canonical: Option<Result<ChatRequest, String>> = None;
    // The proxy always asks for a stream's usage (to meter it); the client gets the usage
    // chunk only if it asked too.
    let client_usage = document.wants_stream_usage();
    let findings = Arc::new(Mutex::new(StreamFindings::default()));
    *call = Some(AiCall {
        model: model.clone(),
        provider_id: None,
        upstream_model: None,
        fallbacks: 0,
        streamed: stream,
        findings: findings.clone(),
        prompt_api_id: None,
        request: document.clone(),
        reservation: None,
    });
    if let Some(call) = call.as_mut() {
        call.reservation = reserve_budget(caller, inbound, &document, call).await?;
    }

    let client = caller.clients.get(CONNECT_TIMEOUT);
    let mut failures: Vec<Failure> = Vec::new();
    let mut candidates = Attempts::new(&model.groups, u32::MAX);
    while let Some(deployment) = candidates.next_candidate() {
        if !failures.is_empty() {
            caller
                .shared
                .metrics
                .retries
                .with_label_values(&[crate::metrics::AI_LABEL])
                .inc();
        }
        if let Some(call) = call.as_mut() {
            call.fallbacks = u32::try_from(failures.len()).unwrap_or(u32::MAX);
            call.provider_id = Some(deployment.provider.id);
            call.upstream_model = Some(deployment.model.clone());
        }
        let dialect = deployment.provider.kind.dialect();
        let provider = adapter(dialect);
        let upstream = match (inbound, dialect) {
            (Inbound::Messages, Dialect::Anthropic) => {
                anthropic::relay(deployment, anthropic::MESSAGES_PATH, &document, &headers)
            }
            (Inbound::Chat, Dialect::OpenAi) => {
                openai::relay(deployment, "chat/completions", &document, stream)
            }
            (Inbound::Embeddings, _) => provider.embeddings(deployment, &document),
            _ => {
                let chat = match canonical {
                    Some(ref chat) => chat,
                    None => canonical.insert(to_canonical(inbound, document.value())?),
                };
                match chat {
                    Ok(chat) => provider.request(deployment, chat, stream),
                    Err(why) => Err(why.clone()),
                }
            }
        };
        let upstream = match upstream {
            Ok(upstream) => upstream,
            Err(why) => {
                failures.push(Failure::Unsupported(why));
                continue;
            }
        };
        let response = match tokio::time::timeout(
            deployment.provider.timeout,
            send_to_provider(&client, deployment, upstream),
        )
        .await
        {
            Err(_) => {
                note_failure(deployment, &caller.shared.metrics, "timeout");
                failures.push(Failure::Timeout);
                continue;
            }
            Ok(Err(err)) => {
                tracing::debug!(provider = %deployment.provider.name, error = %err, "provider unreachable");
                note_failure(deployment, &caller.shared.metrics, "connect");
                failures.push(Failure::Connect(deployment.provider.name.clone()));
                continue;
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            note_failure(deployment, &caller.shared.metrics, "status");
            let body = read_body(response.into_body()).await.unwrap_or_default();
            failures.push(Failure::Status(status, body));
            continue;
        }
        deployment.health.succeeded();
        if stream && status.is_success() {
            let (parts, body) = response.into_parts();
            let chunks = |include_usage| {
                provider.chunks(started, findings.clone(), &deployment.model, include_usage)
            };
            let translated = match (inbound, dialect) {
                (Inbound::Messages, Dialect::Anthropic) => {
                    anthropic::usage_scanner(body, started, findings.clone())
                        .map_err(Into::into)
                        .boxed_unsync()
                }
                // A chat client of an OpenAI-family provider that asked for usage: its bytes.
                (Inbound::Chat, Dialect::OpenAi) if client_usage => {
                    UsageScanner::new(body, started, findings.clone())
                        .map_err(Into::into)
                        .boxed_unsync()
                }
                (Inbound::Messages, _) => {
                    let events = messages::EventStream::new(&model_name);
                    sse::Translated::new(body, sse::Rechunked::new(chunks(true), events))
                        .map_err(Into::into)
                        .boxed_unsync()
                }
                (Inbound::Responses, _) => {
                    let events = responses::EventStream::new(document.value());
                    sse::Translated::new(body, sse::Rechunked::new(chunks(true), events))
                        .map_err(Into::into)
                        .boxed_unsync()
                }
                (Inbound::Chat | Inbound::Embeddings, _) => {
                    sse::Translated::new(body, chunks(client_usage))
                        .map_err(Into::into)
                        .boxed_unsync()
                }
            };
            let mut response = Response::new(translated);
            *response.status_mut() = parts.status;
            for name in [header::CONTENT_TYPE, header::CACHE_CONTROL] {
                if let Some(value) = parts.headers.get(&name) {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            return Ok(response);
        }
        // Answered (or refused for the client's own mistake, which another deployment would
        // refuse too): read it, note its usage, pass it on.
        let body = read_body(response.into_body())
            .await
            .map_err(ProxyError::UpstreamUnreachable)?;
        let (body, tokens) = match (inbound, dialect) {
            (Inbound::Messages, Dialect::Anthropic) => {
                let tokens = status
                    .is_success()
                    .then(|| anthropic::answer_tokens(&body))
                    .flatten();
                (body, tokens)
            }
            (Inbound::Responses, _) => {
                let (chat, tokens) = provider.answer(status, body, &deployment.model);
                let answer = match serde_json::from_slice::<ChatCompletion>(&chat) {
                    Ok(completion) if status.is_success() => {
                        responses::from_chat_completion(&completion, document.value())
                    }
                    _ => chat,
                };
                (answer, tokens)
            }
            (Inbound::Messages, _) => {
                let (chat, tokens) = provider.answer(status, body, &deployment.model);
                let answer = match serde_json::from_slice::<ChatCompletion>(&chat) {
                    Ok(completion) if status.is_success() => {
                        let message = messages::from_chat_completion(&completion, &model_name);
                        Bytes::from(serde_json::to_vec(&message).unwrap_or_default())
                    }
                    _ => messages::from_chat_error(status, &chat),
                };
                (answer, tokens)
            }
            _ => provider.answer(status, body, &deployment.model),
        };
        if let Ok(mut findings) = findings.lock() {
            findings.first_byte = Some(started.elapsed());
            match tokens {
                Some(tokens) => findings.tokens = tokens,
                // No usage reported: keep the answer's text for the estimate.
                None if status.is_success() => {
                    let completion = serde_json::from_slice::<ChatCompletion>(&body).ok();
                    let first = completion.as_ref().and_then(|c| c.choices.first());
                    if let Some(text) = first.and_then(|c| c.message.content.as_deref()) {
                        findings.add_text(text);
                    }
                }
                None => {}
            }
        }
        return Ok(json_response(status, body));
    }
    if let Some(call) = call.as_mut() {
        call.fallbacks = u32::try_from(failures.len().saturating_sub(1)).unwrap_or(u32::MAX);
    }
    Err(all_failed(&model.name, failures))
}

/// The client's request in the canonical model. A request that is not valid in its own
/// dialect is the client's error at once; one valid but not expressible in chat terms
/// (`Ok(Err(why))`) fails only the deployments that would need the translation.
fn to_canonical(
    inbound: Inbound,
    document: &Value,
) -> Result<Result<ChatRequest, String>, ProxyError> {
    Ok(match inbound {
        Inbound::Chat | Inbound::Embeddings => {
            Ok(ChatRequest::from_document(document).map_err(ProxyError::BadRequest)?)
        }
        Inbound::Messages => {
            let request = anthropic::wire::MessagesRequest::deserialize(document).map_err(|e| {
                ProxyError::BadRequest(format!("the request is not a valid Messages request: {e}"))
            })?;
            ChatRequest::try_from(&request)
        }
        Inbound::Responses => {
            let request = responses::ResponsesRequest::deserialize(document).map_err(|e| {
                ProxyError::BadRequest(format!("the request is not a valid Responses request: {e}"))
            })?;
            ChatRequest::try_from(&request)
        }
    })
}

/// A provider kind's API, behind one interface: how a canonical request (see [`chat`]) goes
/// up, and how its answers come back as chat completions and chunks. Each adapter keeps its
/// provider's wire types private and converts them to and from the canonical model; adding a
/// provider kind is one module implementing this, and its `Dialect` in the contract crate.
pub(crate) trait Adapter: Sync {
    /// The provider's request for a chat request; an error names what this provider cannot do.
    fn request(
        &self,
        deployment: &CompiledDeployment,
        chat: &ChatRequest,
        stream: bool,
    ) -> Result<Request<ProxyBody>, String>;

    /// The provider's request for an embeddings document; by default, none.
    fn embeddings(
        &self,
        deployment: &CompiledDeployment,
        _document: &Document,
    ) -> Result<Request<ProxyBody>, String> {
        let provider = &deployment.provider;
        Err(format!(
            "{} ({}) has no embeddings API here",
            provider.kind.label(),
            provider.name
        ))
    }

    /// A non-streamed answer as a chat completion (a refusal in chat's error shape), and the
    /// usage it reported.
    fn answer(&self, status: StatusCode, body: Bytes, model: &str) -> (Bytes, Option<Tokens>);

    /// The provider's stream re-emitted as chat completion chunks; the usage-only chunk only
    /// when `include_usage`.
    fn chunks(
        &self,
        started: Instant,
        findings: Arc<Mutex<StreamFindings>>,
        model: &str,
        include_usage: bool,
    ) -> Box<dyn sse::ChunkTranslator + Send>;
}

/// The adapter of a provider dialect.
fn adapter(dialect: Dialect) -> &'static dyn Adapter {
    match dialect {
        Dialect::OpenAi => &openai::OpenAi,
        Dialect::Anthropic => &anthropic::Anthropic,
        Dialect::Gemini => &gemini::Gemini,
    }
}

/// The non-streamed answer of a provider whose API is not chat's: a success, read as the
/// provider's answer type `A`, is turned into a chat completion by `convert`; anything else
/// into chat's error shape.
pub(crate) fn translated_answer<A: serde::de::DeserializeOwned>(
    status: StatusCode,
    body: &[u8],
    convert: impl FnOnce(A) -> (ChatCompletion, Tokens),
) -> (Bytes, Option<Tokens>) {
    match serde_json::from_slice::<A>(body) {
        Ok(answer) if status.is_success() => {
            let (completion, tokens) = convert(answer);
            let body = serde_json::to_vec(&completion).unwrap_or_default();
            (Bytes::from(body), Some(tokens))
        }
        _ => (chat_error(body), None),
    }
}

/// A provider's refusal (in its own error shape, `{"error": {"message", "type"}}` for both
/// Anthropic and Gemini) in chat's error shape.
pub(crate) fn chat_error(body: &[u8]) -> Bytes {
    #[derive(serde::Deserialize)]
    struct Refusal {
        error: RefusalDetail,
    }
    #[derive(serde::Deserialize)]
    struct RefusalDetail {
        #[serde(default)]
        message: Option<String>,
        #[serde(rename = "type", default)]
        kind: Option<Value>,
        #[serde(default)]
        status: Option<Value>,
    }
    let refusal = serde_json::from_slice::<Refusal>(body)
        .ok()
        .map(|r| r.error);
    let message = refusal
        .as_ref()
        .and_then(|r| r.message.clone())
        .unwrap_or_else(|| "the provider refused the request".into());
    // Gemini names the kind of error `status` (`INVALID_ARGUMENT`), Anthropic `type`.
    let kind = refusal
        .and_then(|r| r.kind.or(r.status))
        .unwrap_or_else(|| json!("invalid_request_error"));
    Bytes::from(serde_json::to_vec(&chat::ErrorBody::provider(message, kind)).unwrap_or_default())
}

async fn read_body(body: Incoming) -> Result<Bytes, String> {
    Limited::new(body, RESPONSE_MAX)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|e| format!("reading the provider's answer failed: {e}"))
}

/// One error for the client that names what went wrong with every deployment tried.
fn all_failed(model: &str, failures: Vec<Failure>) -> ProxyError {
    let describe = |failure: &Failure| match failure {
        Failure::Connect(provider) => format!("{provider} could not be reached"),
        Failure::Timeout => "a provider did not answer in time".to_string(),
        Failure::Status(status, body) => {
            let message = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| {
                    v.pointer("/error/message")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_default();
            // Display would print "529 <unknown status code>" for Anthropic's overload status.
            let status = match status.canonical_reason() {
                Some(reason) => format!("{} {reason}", status.as_u16()),
                None if status.as_u16() == 529 => "529 Overloaded".to_string(),
                None => status.as_u16().to_string(),
            };
            format!("a provider answered {status}: {message}")
        }
        Failure::Unsupported(why) => why.clone(),
    };
    let message = format!(
        "every deployment of '{model}' failed: {}",
        failures.iter().map(describe).collect::<Vec<_>>().join("; ")
    );
    // The request asks what no deployment can do (embeddings of a chat model, a parameter a
    // provider lacks): the client's to change, so a 400 that SDKs do not retry.
    if !failures.is_empty()
        && failures
            .iter()
            .all(|f| matches!(f, Failure::Unsupported(_)))
    {
        return ProxyError::BadRequest(message);
    }
    match failures.last() {
        None => ProxyError::ModelNotFound(model.to_string()),
        Some(Failure::Status(status, _)) if *status == StatusCode::TOO_MANY_REQUESTS => {
            ProxyError::Provider {
                status: StatusCode::TOO_MANY_REQUESTS,
                message,
            }
        }
        Some(Failure::Timeout) => ProxyError::Provider {
            status: StatusCode::GATEWAY_TIMEOUT,
            message,
        },
        Some(_) => ProxyError::Provider {
            status: StatusCode::BAD_GATEWAY,
            message,
        },
    }
}
