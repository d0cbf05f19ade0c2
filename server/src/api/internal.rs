//! The control-plane/data-plane API the proxies call, authenticated with the shared proxy token.
//! Not part of the public admin API document.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tollgate_protocol::internal::{self, Ingested, SnapshotQuery};
use tollgate_protocol::{Heartbeat, UsageBatch};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::secrets;
use crate::service::{dataplanes, snapshot, usage};
use crate::state::AppState;

/// How long a snapshot request waits for a change when it does not say.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

pub(super) fn router(state: AppState) -> Router {
    Router::new()
        .route(internal::SNAPSHOT_PATH, get(snapshot))
        .route(
            internal::USAGE_PATH,
            post(ingest_usage).layer(DefaultBodyLimit::max(internal::MAX_USAGE_BODY)),
        )
        .route(internal::HEARTBEAT_PATH, post(heartbeat))
        .route(internal::SPEND_PATH, get(spend))
        .with_state(state)
}

/// A caller holding the proxy token.
struct ProxyAuth;

impl FromRequestParts<AppState> for ProxyAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = &state.proxy_token_hash else {
            return Err(ApiError::Status {
                status: StatusCode::SERVICE_UNAVAILABLE,
                detail: "this server has no proxy token: start it with TOLLGATE_PROXY_TOKEN set \
                         (the same value as the proxies')"
                    .into(),
            });
        };
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::auth::bearer_token)
            .map(secrets::hash);
        match presented {
            Some(hash) if hash == **expected => Ok(Self),
            _ => Err(ApiError::Unauthenticated(
                "the proxy token is missing or wrong; set TOLLGATE_PROXY_TOKEN to the server's"
                    .into(),
            )),
        }
    }
}

/// The full snapshot when it is newer than `after`; otherwise waits for a change, then 304.
async fn snapshot(
    State(state): State<AppState>,
    _: ProxyAuth,
    ApiQuery(query): ApiQuery<SnapshotQuery>,
) -> ApiResult<Response> {
    let after = query.after.unwrap_or(-1);
    let wait = query
        .wait
        .map_or(DEFAULT_WAIT, Duration::from_secs)
        .min(Duration::from_secs(internal::MAX_SNAPSHOT_WAIT_SECS));
    let mut versions = state.config_version.clone();
    let mut stopping = state.stopping.clone();
    let newer = async { versions.wait_for(|v| *v > after).await.map(|v| *v).ok() };
    let current = tokio::select! {
        newer = tokio::time::timeout(wait, newer) => newer.ok().flatten(),
        _ = stopping.wait_for(|stop| *stop) => None,
    };
    // Nothing new in time, or the server is stopping: the proxy asks again.
    let Some(current) = current else {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    };
    let cached = state
        .snapshot_cache
        .lock()
        .ok()
        .and_then(|cache| cache.clone())
        .filter(|(version, _)| *version >= current);
    let (version, body) = match cached {
        Some(hit) => hit,
        None => {
            let built = snapshot::build(&state.db, &state.secrets).await?;
            let body = Bytes::from(serde_json::to_vec(&built).map_err(ApiError::internal)?);
            if let Ok(mut cache) = state.snapshot_cache.lock() {
                if cache.as_ref().is_none_or(|(v, _)| *v < built.version) {
                    *cache = Some((built.version, body.clone()));
                }
            }
            (built.version, body)
        }
    };
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (
                axum::http::HeaderName::from_static(internal::CONFIG_VERSION_HEADER),
                HeaderValue::from(version),
            ),
        ],
        body,
    )
        .into_response())
}

/// Stores a batch of usage events; replaying a batch is harmless.
async fn ingest_usage(
    State(state): State<AppState>,
    _: ProxyAuth,
    body: Bytes,
) -> ApiResult<Json<Ingested>> {
    Ok(Json(
        usage::ingest(&state.db, &state.key_use, &usage_batch(&body)?).await?,
    ))
}

/// A usage batch read by serde_json alone. axum's `Json` tracks the path to every value for its
/// error messages, and on this, the busiest internal call, that was about a fifth of the
/// server's CPU per event; serde_json's own message (line and column) serves the proxies.
fn usage_batch(body: &[u8]) -> ApiResult<UsageBatch> {
    serde_json::from_slice(body).map_err(|err| {
        let (status, what) = if err.is_data() {
            (StatusCode::UNPROCESSABLE_ENTITY, "does not fit")
        } else {
            (StatusCode::BAD_REQUEST, "is not valid JSON")
        };
        ApiError::Status {
            status,
            detail: format!("the usage batch {what}: {err}"),
        }
    })
}

/// Each budgeted key's spend in its current period.
async fn spend(
    State(state): State<AppState>,
    _: ProxyAuth,
) -> ApiResult<Json<tollgate_protocol::SpendReport>> {
    Ok(Json(usage::spend(&state.db).await?))
}

/// A proxy reports which version it has loaded.
async fn heartbeat(
    State(state): State<AppState>,
    _: ProxyAuth,
    ApiJson(heartbeat): ApiJson<Heartbeat>,
) -> ApiResult<StatusCode> {
    dataplanes::record(&state.db, &heartbeat).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usage_batch_that_is_not_json_is_a_400_and_one_of_the_wrong_shape_a_422() {
        let status = |body: &[u8]| usage_batch(body).err().map(|err| err.status());
        assert_eq!(status(b"{\"events\": ["), Some(StatusCode::BAD_REQUEST));
        assert_eq!(status(b"not json"), Some(StatusCode::BAD_REQUEST));
        assert_eq!(
            status(b"{\"events\": [{\"id\": 7}]}"),
            Some(StatusCode::UNPROCESSABLE_ENTITY)
        );
        let empty = usage_batch(
            br#"{"dataplane_id": "0190a5f0-0000-7000-8000-000000000001", "events": []}"#,
        );
        assert!(empty.is_ok_and(|batch| batch.events.is_empty()));
    }
}
