//! Budgets reserved and settled in a real Redis by several proxies.

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tollgate_proxy::config::BudgetFailure;
use tollgate_testkit::{
    call, client, create_key, serve, Api, RedisServer, SlowLink, TestProxy, TestServer,
};

use crate::ai::PROVIDER_KEY;

/// An OpenAI-speaking provider that takes 50 ms per call, so concurrent calls overlap. Every
/// call: 10 input and 10 output tokens.
async fn slow_provider(Json(body): Json<Value>) -> Response {
    tokio::time::sleep(Duration::from_millis(50)).await;
    let usage = json!({"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20});
    if body["stream"] == true {
        let chunks = [
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}]}),
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [], "usage": usage}),
        ];
        let mut text: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
        text.push_str("data: [DONE]\n\n");
        return ([("content-type", "text/event-stream")], Body::from(text)).into_response();
    }
    Json(json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
        "usage": usage}))
    .into_response()
}

/// A provider, model `m` priced $1 in and $2 out per million tokens (a call: 30,000
/// nano-dollars), and a key with a budget.
async fn budgeted_key(admin: &Api, budget_usd: &str) -> String {
    budgeted_key_and_id(admin, budget_usd).await.1
}

/// The same, with the key's id.
async fn budgeted_key_and_id(admin: &Api, budget_usd: &str) -> (String, String) {
    priced_model(admin, "1", "2").await;
    create_key(
        admin,
        json!({"name": "capped", "budget": {"amount_usd": budget_usd, "period": "month"}}),
    )
    .await
}

/// The slow provider, and model `m` at these prices per million tokens in and out.
pub(crate) async fn priced_model(admin: &Api, input_usd: &str, output_usd: &str) {
    let url = format!(
        "{}/v1",
        serve(axum::Router::new().fallback(slow_provider)).await
    );
    let reply = admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "slow", "kind": "openai_compatible", "base_url": url, "api_key": PROVIDER_KEY}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let reply = admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "m", "deployments": [{"provider": "slow", "model": "m"}],
                   "prices": {"input_per_mtok": input_usd, "output_per_mtok": output_usd}}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

async fn proxy_with(server: &TestServer, redis: &RedisServer, failure: BudgetFailure) -> TestProxy {
    let url = redis.url();
    let proxy = TestProxy::start_with(server, |config| {
        config.redis_url = Some(url);
        config.budget_failure = failure;
    })
    .await;
    wait_for_shared(&proxy, 1.0).await;
    proxy
}

pub(crate) async fn wait_for_shared(proxy: &TestProxy, value: f64) {
    for _ in 0..200 {
        if proxy.metric("tollgate_proxy_shared_limits_up").await == Some(value) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("shared counting never became {value}");
}

/// A chat call of model `m` for at most 20 output tokens.
pub(crate) fn chat(proxy: &TestProxy, key: &str, stream: bool) -> reqwest::RequestBuilder {
    client()
        .post(proxy.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "m", "max_tokens": 20, "stream": stream,
                      "messages": [{"role": "user", "content": "Hi"}]}))
}

#[tokio::test]
async fn a_flushed_redis_starts_again_from_the_spend_the_proxy_knows() {
    let server = TestServer::start().await;
    let redis = RedisServer::start().await;
    let admin = server.admin().await;
    // Two calls fit (60,000 spent); a third's reservation (up to 42,000) does not.
    let key = budgeted_key(&admin, "0.0001").await;
    let proxy = proxy_with(&server, &redis, BudgetFailure::FailOpen).await;
    for _ in 0..2 {
        assert_eq!(call(chat(&proxy, &key, true)).await.0, 200);
    }
    // Streams settle when they end; give the settlement a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(call(chat(&proxy, &key, false)).await.0, 429);

    redis.flush_all();
    let (status, _, body) = call(chat(&proxy, &key, false)).await;
    assert_eq!(status, 429, "a flushed Redis forgot the spend: {body}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn while_redis_is_away_budgets_follow_the_failure_policy() {
    let server = TestServer::start().await;
    let mut redis = RedisServer::start().await;
    let admin = server.admin().await;
    let key = budgeted_key(&admin, "1").await;
    let (_, unbudgeted) = create_key(&admin, json!({"name": "free"})).await;
    let open = proxy_with(&server, &redis, BudgetFailure::FailOpen).await;
    let closed = proxy_with(&server, &redis, BudgetFailure::FailClosed).await;
    assert_eq!(call(chat(&closed, &key, false)).await.0, 200);

    redis.stop();
    wait_for_shared(&open, 0.0).await;
    wait_for_shared(&closed, 0.0).await;
    let (status, _, body) = call(chat(&closed, &key, false)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "budget_unavailable");
    assert_eq!(call(chat(&closed, &unbudgeted, false)).await.0, 200);
    assert_eq!(call(chat(&open, &key, false)).await.0, 200);

    // Back without a restart.
    redis.resume().await;
    wait_for_shared(&closed, 1.0).await;
    assert_eq!(call(chat(&closed, &key, false)).await.0, 200);
    open.shutdown().await;
    closed.shutdown().await;
}

#[tokio::test]
async fn a_hold_redis_places_after_the_proxy_stopped_waiting_is_given_back() {
    let server = TestServer::start().await;
    let redis = RedisServer::start().await;
    let link = SlowLink::start(redis.addr()).await;
    let admin = server.admin().await;
    // One reservation (up to 42,000) fits in 50,000; two do not.
    let key = budgeted_key(&admin, "0.00005").await;
    let url = format!("redis://{}/0", link.addr());
    let proxy = TestProxy::start_with(&server, |config| {
        config.redis_url = Some(url);
        config.budget_failure = BudgetFailure::FailClosed;
    })
    .await;
    wait_for_shared(&proxy, 1.0).await;

    // Redis holds the call's cost, but answers after the proxy stopped waiting.
    link.delay(Duration::from_millis(1500));
    let (status, _, body) = call(chat(&proxy, &key, false)).await;
    assert_eq!(status, 503, "{body}");
    link.delay(Duration::ZERO);
    wait_for_shared(&proxy, 1.0).await;

    // Given back once Redis answers again (settlements it missed are retried every 500 ms);
    // kept, it would refuse the key's calls for 15 minutes.
    let mut last = (0, Value::Null);
    for _ in 0..30 {
        let (status, _, body) = call(chat(&proxy, &key, false)).await;
        last = (status, body);
        if status != 429 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last.0, 200, "the late hold was not given back: {}", last.1);
    proxy.shutdown().await;
}

#[tokio::test]
async fn redis_is_raised_to_the_spend_postgresql_has_stored() {
    let server = TestServer::start().await;
    let redis = RedisServer::start().await;
    let admin = server.admin().await;
    let (id, key) = budgeted_key_and_id(&admin, "0.0001").await;
    let proxy = proxy_with(&server, &redis, BudgetFailure::FailOpen).await;
    for _ in 0..2 {
        assert_eq!(call(chat(&proxy, &key, false)).await.0, 200);
    }
    let month = time::OffsetDateTime::now_utc()
        .replace_day(1)
        .unwrap()
        .replace_time(time::Time::MIDNIGHT);
    let spent = format!("tollgate:budget:{{{id}:{}}}:spent", month.unix_timestamp());
    let mut figure = String::new();
    for _ in 0..100 {
        figure = redis.command(&["GET", &spent]);
        if figure == "$5\n60000" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(figure, "$5\n60000");

    // Redis loses its figure of those calls (settled by a proxy that died, or admitted while
    // Redis was away): the next spend report from the server puts it back.
    redis.command(&["SET", &spent, "0"]);
    for _ in 0..200 {
        figure = redis.command(&["GET", &spent]);
        if figure == "$5\n60000" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(figure, "$5\n60000", "never raised back to the stored spend");
    assert_eq!(call(chat(&proxy, &key, false)).await.0, 429);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_call_without_max_tokens_reserves_the_model_s_output_limit_capped_by_the_setting() {
    let server = TestServer::start().await;
    let redis = RedisServer::start().await;
    let admin = server.admin().await;
    // $0.005 of budget; output at $2 per million tokens.
    let key = budgeted_key(&admin, "0.005").await;
    // The price catalog says computer-use-preview writes at most 1,024 tokens a call.
    let reply = admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "cu", "deployments": [{"provider": "slow", "model": "computer-use-preview"}],
                   "prices": {"input_per_mtok": "1", "output_per_mtok": "2"}}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let proxy = proxy_with(&server, &redis, BudgetFailure::FailOpen).await;
    let unbounded = |model: &str| {
        client()
            .post(proxy.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "Hi"}]}))
    };
    // 1,024 output tokens: about $0.002, which fits.
    let (status, _, body) = call(unbounded("cu")).await;
    assert_eq!(status, 200, "{body}");
    // A model the catalog does not know: the setting's 4,096 tokens, about $0.0082, which
    // does not.
    let (status, _, body) = call(unbounded("m")).await;
    assert_eq!(status, 429, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("may cost up to $0.00819"), "{message}");
    proxy.shutdown().await;
}
