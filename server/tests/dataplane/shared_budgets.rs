//! Budgets reserved and settled in a real Redis by several proxies.

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tollgate_proxy::config::BudgetFailure;
use tollgate_testkit::{call, client, create_key, serve, Api, RedisServer, TestProxy, TestServer};

use crate::ai::PROVIDER_KEY;

/// Every call: 10 input and 10 output tokens. At $1 in and $2 out per million tokens, 30,000
/// nano-dollars.
const CALL_COST: i64 = 30_000;
/// What a call asking for at most 20 output tokens reserves: its input as the tokenizer counts
/// "Hi" (a token or two) plus 20 output tokens, at most this.
const WORST_CASE: i64 = 2 * 1_000 + 20 * 2_000;

/// An OpenAI-speaking provider that takes 50 ms per call, so concurrent calls overlap.
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

/// A provider, a model priced $1 in and $2 out per million tokens, and a key with a budget.
async fn budgeted_key(admin: &Api, budget_usd: &str) -> String {
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
                   "prices": {"input_per_mtok": "1", "output_per_mtok": "2"}}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    create_key(
        admin,
        json!({"name": "capped", "budget": {"amount_usd": budget_usd, "period": "month"}}),
    )
    .await
    .1
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

async fn wait_for_shared(proxy: &TestProxy, value: f64) {
    for _ in 0..200 {
        if proxy.metric("tollgate_proxy_shared_limits_up").await == Some(value) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("shared counting never became {value}");
}

fn chat(proxy: &TestProxy, key: &str, stream: bool) -> reqwest::RequestBuilder {
    client()
        .post(proxy.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "m", "max_tokens": 20, "stream": stream,
                      "messages": [{"role": "user", "content": "Hi"}]}))
}

/// The key's spend as the server has stored it, once `events` usage events have reached it.
async fn stored_spend(admin: &Api, events: usize) -> i64 {
    let mut summary = Value::Null;
    for _ in 0..400 {
        summary = admin
            .get("/api/v1/tenants/default/usage/summary")
            .await
            .body;
        if summary["total"]["requests"].as_u64() >= Some(events as u64) {
            let keys = admin.get("/api/v1/tenants/default/keys").await.body;
            let spent = keys[0]["budget_spent_usd"].as_str().unwrap().to_string();
            let dollars: f64 = spent.parse().unwrap();
            return (dollars * 1e9).round() as i64;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{events} usage events never arrived: {summary}");
}

#[tokio::test]
async fn three_proxies_keep_a_budget_under_200_concurrent_calls() {
    let server = TestServer::start().await;
    let redis = RedisServer::start().await;
    let admin = server.admin().await;
    // 100 calls' worth.
    let key = budgeted_key(&admin, "0.003").await;
    let budget = 3_000_000;
    let proxies = [
        proxy_with(&server, &redis, BudgetFailure::FailOpen).await,
        proxy_with(&server, &redis, BudgetFailure::FailOpen).await,
        proxy_with(&server, &redis, BudgetFailure::FailOpen).await,
    ];

    // 200 calls at once, spread over the proxies (some streamed): only as many as their
    // reservations fit in are admitted, the others are refused at once.
    let burst: Vec<_> = (0..200)
        .map(|i| {
            let request = chat(&proxies[i % 3], &key, i % 4 == 0);
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let body = response.text().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut admitted = 0;
    for call in burst {
        let (status, body) = call.await.unwrap();
        match status {
            200 => admitted += 1,
            429 => assert!(body.contains("insufficient_quota"), "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert!(
        admitted as i64 * WORST_CASE <= budget,
        "admitted {admitted}"
    );
    assert!(admitted >= 50, "admitted {admitted}");

    // Then one call after another until the budget says no: settled calls gave back what they
    // reserved beyond their cost, so the budget is used up to within one reservation.
    let mut calls = admitted;
    loop {
        let (status, _, body) = call(chat(&proxies[calls % 3], &key, false)).await;
        if status == 429 {
            assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("may cost up to"),
                "{body}"
            );
            break;
        }
        assert_eq!(status, 200, "{body}");
        calls += 1;
        assert!(calls <= 200, "the budget never refused");
    }
    // The burst, the calls after it, and the refusal.
    let spent = stored_spend(&admin, 200 + (calls - admitted) + 1).await;
    assert_eq!(spent, calls as i64 * CALL_COST);
    assert!(spent <= budget, "spent {spent} of {budget}");
    assert!(
        spent > budget - WORST_CASE - CALL_COST,
        "spent only {spent}"
    );
    for proxy in proxies {
        proxy.shutdown().await;
    }
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
