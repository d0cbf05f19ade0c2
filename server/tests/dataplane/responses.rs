//! OpenAI's Responses API in (`POST /v1/responses`, what Codex speaks), driven by the official
//! `openai` Python SDK, unmodified but for `base_url` and `api_key`, against every provider
//! kind: created and streamed with the typed events, tools over two turns, metered, and a clear
//! 400 for what a stateless gateway cannot do.

use serde_json::json;

use tollgate_testkit::TestServer;

use crate::ai::{start_anthropic_mock, start_gemini_mock, start_mock};
use crate::sdk::{model_per_kind, run_sdk_script};

const SCRIPT: &str = r#"
import os, json
from openai import OpenAI
client = OpenAI(base_url=os.environ["BASE_URL"], api_key=os.environ["API_KEY"], max_retries=0)
out = {}
for model in ["gpt", "claude", "gemini"]:
    r = {}
    resp = client.responses.create(model=model, input="Hi", instructions="Be brief.")
    r["text"] = resp.output_text
    r["status"] = resp.status
    r["model"] = resp.model
    r["usage"] = [resp.usage.input_tokens, resp.usage.output_tokens]
    with client.responses.stream(model=model, input=[{"role": "user", "content": "Hi"}]) as stream:
        kinds = []
        deltas = []
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    r["stream"] = "".join(deltas)
    r["stream_final"] = final.output_text
    r["stream_status"] = final.status
    r["stream_usage"] = final.usage.output_tokens
    r["first_and_last"] = [kinds[0], kinds[-1]]
    out[model] = r

tools = [{"type": "function", "name": "get_weather",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
first = client.responses.create(model="gpt", input="Weather in Paris?", tools=tools)
call = next(item for item in first.output if item.type == "function_call")
second = client.responses.create(model="gpt", input=[
    {"role": "user", "content": "Weather in Paris?"},
    {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
    {"type": "function_call_output", "call_id": call.call_id, "output": "21C"}])
out["tools"] = [call.name, json.loads(call.arguments), call.call_id, second.output_text]
try:
    client.responses.create(model="gpt", input="x", previous_response_id="resp_1")
except Exception as e:
    out["previous"] = [type(e).__name__, "whole conversation" in str(e)]
try:
    client.responses.retrieve("resp_1")
except Exception as e:
    out["retrieve"] = type(e).__name__
print(json.dumps(out))
"#;

#[tokio::test]
async fn the_openai_sdk_speaks_responses_to_every_provider_kind() {
    let server = TestServer::start().await;
    let (openai_url, openai) = start_mock(false).await;
    let (anthropic_url, _) = start_anthropic_mock().await;
    let (gemini_url, _) = start_gemini_mock().await;
    let (key, proxy) = model_per_kind(&server, &openai_url, &anthropic_url, &gemini_url).await;

    let base_url = format!("http://{}/v1", proxy.traffic_addr());
    let out = run_sdk_script(SCRIPT, &base_url, &key).await;

    for (model, text, input, output) in [
        ("gpt", "Hello", 11, 7),
        ("claude", "Bonjour", 29, 9),
        ("gemini", "Hallo", 30, 4),
    ] {
        let r = &out[model];
        assert_eq!(r["text"], text, "{model}: {r}");
        assert_eq!(r["status"], "completed");
        assert_eq!(r["model"], model, "named as the client asked");
        assert_eq!(r["usage"], json!([input, output]), "{model}: {r}");
        assert_eq!(r["stream"], text, "{model}: {r}");
        assert_eq!(r["stream_final"], text, "{model}: {r}");
        assert_eq!(r["stream_status"], "completed");
        assert_eq!(r["stream_usage"], output, "{model}: {r}");
        assert_eq!(
            r["first_and_last"],
            json!(["response.created", "response.completed"])
        );
    }
    assert_eq!(
        out["tools"],
        json!(["get_weather", {"city": "Paris"}, "call_1", "Hello"])
    );
    assert_eq!(out["previous"], json!(["BadRequestError", true]));
    assert_eq!(out["retrieve"], "BadRequestError");

    // The second turn went up as chat: the call, then its result.
    let sent = openai.lock().unwrap().clone();
    let turn = sent
        .iter()
        .find(|b| b["messages"].as_array().is_some_and(|m| m.len() == 3))
        .unwrap();
    assert_eq!(turn["messages"][1]["tool_calls"][0]["id"], "call_1");
    assert_eq!(
        turn["messages"][2],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "21C"})
    );
    assert_eq!(
        sent[0]["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    proxy.shutdown().await;
}
