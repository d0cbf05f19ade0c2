//! The OpenAI family (OpenAI, Azure OpenAI, Mistral, and any OpenAI-compatible server): requests
//! pass through nearly as they are, with the deployment's model name, and streams ask for usage.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, StatusCode};
use serde_json::Value;

use crate::active::CompiledDeployment;
use crate::ai::chat::{ChatRequest, StreamOptions, Usage};
use crate::ai::metering::Tokens;
use crate::ai::sse::{ChunkTranslator, OpenAiEvents, StreamFindings};
use crate::ai::{json_scan, Adapter, Document};
use crate::body::ProxyBody;

/// The OpenAI family's adapter: the canonical model is its own API.
pub(crate) struct OpenAi;

impl Adapter for OpenAi {
    fn request(
        &self,
        deployment: &CompiledDeployment,
        chat: &ChatRequest,
        stream: bool,
    ) -> Result<Request<ProxyBody>, String> {
        let mut body = chat.clone();
        body.model.clone_from(&deployment.model);
        body.stream = stream;
        if stream {
            // Without this, OpenAI sends no usage in streams, and the call could not be metered.
            body.stream_options
                .get_or_insert_with(StreamOptions::default)
                .include_usage = true;
        }
        post(deployment, "chat/completions", &body)
    }

    fn embeddings(
        &self,
        deployment: &CompiledDeployment,
        document: &Document,
    ) -> Result<Request<ProxyBody>, String> {
        relay(deployment, "embeddings", document, false)
    }

    fn answer(&self, status: StatusCode, body: Bytes, _model: &str) -> (Bytes, Option<Tokens>) {
        let tokens = status
            .is_success()
            .then(|| json_scan::answer_usage::<Usage>(&body))
            .flatten()
            .map(|usage| Tokens::from(&usage));
        (body, tokens)
    }

    fn chunks(
        &self,
        started: Instant,
        findings: Arc<Mutex<StreamFindings>>,
        _model: &str,
        include_usage: bool,
    ) -> Box<dyn ChunkTranslator + Send> {
        Box::new(OpenAiEvents::new(started, findings, include_usage))
    }
}

/// A chat client's own request to an OpenAI-family provider: the body as it came (`request`:
/// the document, and its bytes when the client sent them), with the deployment's model name
/// and, on streams, the usage asked for. Nothing is parsed into the canonical model or written
/// again, so fields this gateway does not know pass exactly.
pub(crate) fn relay(
    deployment: &CompiledDeployment,
    endpoint: &str,
    document: &Document,
    stream: bool,
) -> Result<Request<ProxyBody>, String> {
    let mut replace = vec![("model", &*deployment.model_json)];
    let options;
    if stream {
        let mut asked = match document.stream_options() {
            Some(Value::Object(options)) => options.clone(),
            _ => serde_json::Map::new(),
        };
        asked.insert("include_usage".into(), Value::Bool(true));
        options = serde_json::to_vec(&asked).map_err(|e| e.to_string())?;
        replace.push(("stream_options", options.as_slice()));
    }
    let body = crate::ai::members::relayed(document, &replace)?;
    post_bytes(deployment, endpoint, Bytes::from(body))
}

/// The provider request for `endpoint` with `body`, and the API version Azure wants.
fn post(
    deployment: &CompiledDeployment,
    endpoint: &str,
    body: &impl serde::Serialize,
) -> Result<Request<ProxyBody>, String> {
    let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    post_bytes(deployment, endpoint, Bytes::from(body))
}

/// [`post`] for a body already written.
fn post_bytes(
    deployment: &CompiledDeployment,
    endpoint: &str,
    body: Bytes,
) -> Result<Request<ProxyBody>, String> {
    let provider = &deployment.provider;
    let version = provider
        .api_version
        .as_deref()
        .filter(|_| provider.kind.takes_api_version_query());
    let path: &[&str] = match version {
        Some(version) => &["/", endpoint, "?api-version=", version],
        None => &["/", endpoint],
    };
    super::provider_post_bytes(deployment, path, body)
}
