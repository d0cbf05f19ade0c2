//! The OpenAI family (OpenAI, Azure OpenAI, Mistral, and any OpenAI-compatible server): requests
//! pass through nearly as they are, with the deployment's model name, and streams ask for usage.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, StatusCode};
use serde_json::{json, Value};

use crate::active::CompiledDeployment;
use crate::ai::metering::Tokens;
use crate::ai::sse::{ChunkTranslator, OpenAiEvents, StreamFindings};
use crate::ai::Adapter;
use crate::body::ProxyBody;

/// The OpenAI family's adapter: the internal model is its own API.
pub(crate) struct OpenAi;

impl Adapter for OpenAi {
    fn request(
        &self,
        deployment: &CompiledDeployment,
        document: &Value,
        stream: bool,
    ) -> Result<Request<ProxyBody>, String> {
        post(deployment, "chat/completions", document, stream)
    }

    fn embeddings(
        &self,
        deployment: &CompiledDeployment,
        document: &Value,
    ) -> Result<Request<ProxyBody>, String> {
        post(deployment, "embeddings", document, false)
    }

    fn answer(&self, status: StatusCode, body: Bytes, _model: &str) -> (Bytes, Option<Tokens>) {
        let tokens = status
            .is_success()
            .then(|| serde_json::from_slice::<Value>(&body).ok())
            .flatten()
            .and_then(|answer| answer.get("usage").and_then(Tokens::from_openai_usage));
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

/// The provider request for `endpoint`: the document as it is, with the deployment's model name.
fn post(
    deployment: &CompiledDeployment,
    endpoint: &str,
    document: &Value,
    stream: bool,
) -> Result<Request<ProxyBody>, String> {
    let provider = &deployment.provider;
    let mut body = document.clone();
    body["model"] = Value::String(deployment.model.clone());
    if stream {
        // Without this, OpenAI sends no usage in streams, and the call could not be metered.
        match body
            .get_mut("stream_options")
            .and_then(Value::as_object_mut)
        {
            Some(options) => {
                options.insert("include_usage".into(), Value::Bool(true));
            }
            None => body["stream_options"] = json!({"include_usage": true}),
        }
    }
    let mut url = format!("{}/{endpoint}", provider.base_url);
    if let Some(version) = provider
        .api_version
        .as_deref()
        .filter(|_| provider.kind.takes_api_version_query())
    {
        url.push_str("?api-version=");
        url.push_str(version);
    }
    super::provider_post(deployment, url, &body)
}
