//! Prompt APIs: template and variables, versions, a try-it form that calls the proxy, a curl snippet.

use std::time::Instant;

use axum::extract::Path;
use axum::response::Response;
use axum::Form;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::IdPath;
use crate::ctx::{Flash, TenantCtx};
use crate::format;
use crate::forms;
use crate::layout::{escape_textarea, render};
use crate::types::{Model, PromptApi, Role, TemplateMessage, Variable};

pub(crate) async fn list(t: TenantCtx) -> Response {
    let apis: Vec<PromptApi> = match t.ctx.api.get(&t.api_path("/prompt-apis")).await {
        Ok(a) => a,
        Err(failure) => return t.failure(failure),
    };
    let models: Vec<Model> = match t.ctx.api.get(&t.api_path("/models")).await {
        Ok(m) => m,
        Err(failure) => return t.failure(failure),
    };
    let model_names: Vec<String> = models.into_iter().map(|m| m.name).collect();
    let can_manage = t.role() >= Role::Member;
    let csrf = t.ctx.csrf.clone();
    let base = t.path("/prompt-apis");
    let proxy = t.ctx.proxy_url.clone();
    let body = render(move || {
        view! {
            <div class="page-head"><h1>"Prompt APIs"</h1></div>
            <p class="muted">"A prompt template served as a REST endpoint by the proxy: JSON variables in, the model's answer out. Every edit is a new version; any version can be made active again."</p>
            {if apis.is_empty() {
                view! { <section class="card empty"><p>"No prompt APIs yet. Create one below from a template with {{variables}}."</p></section> }.into_any()
            } else {
                let base = base.clone();
                let proxy = proxy.clone();
                view! {
                    <table>
                        <thead><tr><th>"Slug"</th><th>"Endpoint"</th><th>"Model"</th><th>"Variables"</th><th class="num">"Version"</th><th>"Updated"</th></tr></thead>
                        <tbody>
                            {apis.into_iter().map(|a| {
                                let href = format!("{base}/{}", a.id);
                                let vars = a.spec.variables.iter().map(|v| v.name.clone()).collect::<Vec<_>>().join(", ");
                                view! {
                                    <tr>
                                        <td><a href=href>{a.spec.slug.clone()}</a></td>
                                        <td><code>{format!("POST {proxy}/prompts/{}", a.spec.slug)}</code></td>
                                        <td>{a.spec.model.clone()}</td>
                                        <td>{vars}</td>
                                        <td class="num">{a.version}</td>
                                        <td>{format::time(&a.updated_at)}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            {can_manage.then(|| view! {
                {super::form_card("Create a prompt API", base.clone(), csrf.clone(), prompt_fields(None, &model_names), "Create prompt API")}
            })}
        }
    });
    t.page("Prompt APIs", body)
}

/// `name type [required] [default=…] [values=a|b]` for one variable.
fn variable_line(v: &Variable) -> String {
    let mut line = format!("{} {}", v.name, v.kind);
    if v.required {
        line.push_str(" required");
    }
    if let Some(default) = &v.default {
        let text = match default {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        line.push_str(&format!(" default={text}"));
    }
    if !v.values.is_empty() {
        line.push_str(&format!(" values={}", v.values.join("|")));
    }
    line
}

fn parse_variables(text: &str) -> Result<Vec<Value>, String> {
    let mut variables = Vec::new();
    for (line, words) in forms::rows(text) {
        let Some((name, rest)) = words.split_first() else {
            continue;
        };
        let kind = rest.first().copied().unwrap_or("string");
        let mut variable = Map::new();
        variable.insert("name".into(), json!(name));
        variable.insert("type".into(), json!(kind));
        for word in rest.iter().skip(1) {
            if *word == "required" {
                variable.insert("required".into(), json!(true));
            } else if let Some(default) = word.strip_prefix("default=") {
                let value = match kind {
                    "number" => default
                        .parse::<i64>()
                        .map(|n| json!(n))
                        .or_else(|_| default.parse::<f64>().map(|n| json!(n)))
                        .map_err(|_| {
                            format!("Variables, line {line}: default '{default}' is not a number")
                        })?,
                    "boolean" => json!(default == "true"),
                    _ => json!(default),
                };
                variable.insert("default".into(), value);
            } else if let Some(values) = word.strip_prefix("values=") {
                variable.insert(
                    "values".into(),
                    json!(values.split('|').collect::<Vec<_>>()),
                );
            } else {
                return Err(format!(
                    "Variables, line {line}: '{word}' is not understood; write  name type [required] [default=value] [values=a|b]"
                ));
            }
        }
        variables.push(Value::Object(variable));
    }
    Ok(variables)
}

fn prompt_fields(api: Option<&PromptApi>, models: &[String]) -> impl IntoView {
    let spec = api.map(|a| a.spec.clone());
    let slug = spec.as_ref().map(|s| s.slug.clone()).unwrap_or_default();
    let description = spec
        .as_ref()
        .and_then(|s| s.description.clone())
        .unwrap_or_default();
    let model = spec.as_ref().map(|s| s.model.clone()).unwrap_or_default();
    let message = |role: &str| {
        spec.as_ref()
            .and_then(|s| s.messages.iter().find(|m| m.role == role))
            .map(|m| m.content.clone())
            .unwrap_or_default()
    };
    let system = message("system");
    let user = message("user");
    // Templates with more turns (few-shot examples) are edited whole, as JSON, so none is lost.
    let messages_json = spec
        .as_ref()
        .filter(|s| !simple_messages(&s.messages))
        .map(|s| serde_json::to_string_pretty(&s.messages).unwrap_or_default());
    let variables = spec
        .as_ref()
        .map(|s| {
            s.variables
                .iter()
                .map(variable_line)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let temperature = spec
        .as_ref()
        .and_then(|s| s.parameters.temperature)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let max_tokens = spec
        .as_ref()
        .and_then(|s| s.parameters.max_tokens)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let json_output = spec
        .as_ref()
        .and_then(|s| s.parameters.response_format.clone())
        .is_some_and(|f| f == "json_object");
    let model_hint = if models.is_empty() {
        "No models yet: add one on the Models page.".to_string()
    } else {
        format!("Models: {}.", models.join(", "))
    };
    view! {
        <label for="slug">"Slug"</label>
        <input id="slug" name="slug" required value=slug placeholder="summarize"/>
        <p class="hint">"Served at POST /prompts/{slug} on the proxy."</p>
        <label for="description">"Description"</label>
        <input id="description" name="description" value=description placeholder="What it does, for the people calling it"/>
        <label for="model">"Model"</label>
        <input id="model" name="model" required value=model list="model-names" placeholder="gpt-4o"/>
        <datalist id="model-names">{models.iter().map(|m| view! { <option value=m.clone()></option> }).collect_view()}</datalist>
        <p class="hint">{model_hint}</p>
        {match messages_json {
            Some(json) => view! {
                <label for="messages_json">"Messages (JSON)"</label>
                <textarea id="messages_json" name="messages_json" rows="10" required>{escape_textarea(&json)}</textarea>
                <p class="hint">"This template has several turns: edit them as a JSON list of {\"role\", \"content\"} objects."</p>
            }.into_any(),
            None => view! {
                <label for="system">"System message"</label>
                <textarea id="system" name="system" rows="3" placeholder="You are a concise assistant.">{escape_textarea(&system)}</textarea>
                <label for="user">"User message"</label>
                <textarea id="user" name="user" rows="4" required placeholder="Summarize in {{sentences}} sentences: {{text}}">{escape_textarea(&user)}</textarea>
            }.into_any(),
        }}
        <label for="variables">"Variables"</label>
        <textarea id="variables" name="variables" rows="3" placeholder="text string required\nsentences number default=2">{escape_textarea(&variables)}</textarea>
        <p class="hint">"One per line: name, type (string, number, boolean, enum), then optionally required, default=value, values=a|b|c (for enum)."</p>
        <label for="temperature">"Temperature"</label>
        <input id="temperature" name="temperature" inputmode="decimal" value=temperature placeholder="the model's default"/>
        <label for="max_tokens">"Max tokens"</label>
        <input id="max_tokens" name="max_tokens" inputmode="numeric" value=max_tokens placeholder="the model's default"/>
        <label for="json_output">"JSON output"</label>
        <div><input id="json_output" name="json_output" type="checkbox" value="on" checked=json_output/>" Ask for a JSON object and return it parsed"</div>
    }
}

/// At most a system message followed by one user message: the two-field form shows it whole.
fn simple_messages(messages: &[TemplateMessage]) -> bool {
    match messages {
        [user] => user.role == "user",
        [system, user] => system.role == "system" && user.role == "user",
        _ => false,
    }
}

#[derive(Deserialize)]
pub(crate) struct PromptForm {
    slug: String,
    #[serde(default)]
    description: String,
    model: String,
    #[serde(default)]
    system: String,
    #[serde(default)]
    user: String,
    messages_json: Option<String>,
    #[serde(default)]
    variables: String,
    #[serde(default)]
    temperature: String,
    #[serde(default)]
    max_tokens: String,
    json_output: Option<String>,
}

impl PromptForm {
    fn to_json(&self) -> Result<Value, String> {
        let messages = match &self.messages_json {
            Some(text) => serde_json::from_str::<Value>(text)
                .map_err(|err| format!("Messages: not valid JSON ({err})"))?,
            None => {
                let mut messages = Vec::new();
                if let Some(system) = forms::opt(&self.system) {
                    messages.push(json!({"role": "system", "content": system}));
                }
                messages.push(json!({"role": "user", "content": self.user.trim()}));
                Value::Array(messages)
            }
        };
        Ok(json!({
            "slug": self.slug.trim(),
            "description": forms::opt(&self.description),
            "model": self.model.trim(),
            "messages": messages,
            "variables": parse_variables(&self.variables)?,
            "parameters": {
                "temperature": forms::number::<f64>("Temperature", &self.temperature)?,
                "max_tokens": forms::number::<u32>("Max tokens", &self.max_tokens)?,
                "response_format": forms::ticked(&self.json_output).then_some("json_object"),
            },
        }))
    }
}

pub(crate) async fn create(t: TenantCtx, Form(form): Form<PromptForm>) -> Response {
    let back = t.path("/prompt-apis");
    let body = match form.to_json() {
        Ok(body) => body,
        Err(message) => return t.ctx.redirect(&back, Some(Flash::Error(message))),
    };
    match t
        .ctx
        .api
        .post::<PromptApi>(&t.api_path("/prompt-apis"), &body)
        .await
    {
        Ok(api) => t.ctx.redirect(
            &t.path(&format!("/prompt-apis/{}", api.id)),
            Some(Flash::Success(format!(
                "Prompt API \u{201c}{}\u{201d} created. Try it below.",
                api.spec.slug
            ))),
        ),
        Err(failure) => t.refused(&back, failure),
    }
}

/// What a try-it call brought back.
struct TryResult {
    status: u16,
    latency_ms: f64,
    output: String,
    tokens: Option<String>,
    cost: Option<String>,
    error: Option<String>,
}

pub(crate) async fn edit(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    render_edit(t, &id, None, None).await
}

async fn render_edit(
    t: TenantCtx,
    id: &str,
    tried: Option<TryResult>,
    tried_input: Option<String>,
) -> Response {
    let api: PromptApi = match t
        .ctx
        .api
        .get(&t.api_path(&format!("/prompt-apis/{id}")))
        .await
    {
        Ok(a) => a,
        Err(failure) => return t.failure(failure),
    };
    let models: Vec<Model> = match t.ctx.api.get(&t.api_path("/models")).await {
        Ok(m) => m,
        Err(failure) => return t.failure(failure),
    };
    let model_names: Vec<String> = models.into_iter().map(|m| m.name).collect();
    let can_manage = t.role() >= Role::Member;
    let csrf = t.ctx.csrf.clone();
    let action = t.path(&format!("/prompt-apis/{id}"));
    let back = t.path("/prompt-apis");
    let endpoint = format!("{}/prompts/{}", t.ctx.proxy_url, api.spec.slug);
    let example = example_input(&api.spec.variables);
    let input = tried_input.unwrap_or_else(|| example.clone());
    let curl = format!(
        "curl {endpoint} \\\n  -H \"Authorization: Bearer $TOLLGATE_KEY\" \\\n  -H 'Content-Type: application/json' \\\n  -d '{}'",
        example.replace('\'', "'\\''")
    );
    let openapi = format!("{}/openapi.json", t.api_path(&format!("/prompt-apis/{id}")));
    let title = format!("Prompt API {}", api.spec.slug);
    let body = render(move || {
        let active = api.version;
        view! {
            <div class="page-head"><h1>{format!("Prompt API \u{201c}{}\u{201d}", api.spec.slug)}</h1><a href=back.clone()>"All prompt APIs"</a></div>
            <section class="card">
                <dl class="facts">
                    <dt>"Endpoint"</dt><dd><code>{format!("POST {endpoint}")}</code></dd>
                    <dt>"Model"</dt><dd>{api.spec.model.clone()}</dd>
                    <dt>"Active version"</dt><dd>{api.version}</dd>
                    <dt>"OpenAPI"</dt><dd><a href=openapi>"openapi.json for this endpoint"</a></dd>
                </dl>
                <h3>"Call it"</h3>
                <div class="copy-row"><pre id="curl-snippet">{curl}</pre><button type="button" class="secondary" data-copy="#curl-snippet">"Copy"</button></div>
            </section>
            <section class="card">
                <h2>"Try it"</h2>
                <p class="muted">"Calls the endpoint through the proxy with an API key of yours (it is used for this call only, never stored). The call is metered and billed like any other."</p>
                <form method="post" action=format!("{action}/try") class="grid-form">
                    <input type="hidden" name="csrf" value=csrf.clone()/>
                    <label for="try_key">"API key"</label>
                    <input id="try_key" name="key" type="password" autocomplete="off" required placeholder="tg_…"/>
                    <label for="try_input">"Variables (JSON)"</label>
                    <textarea id="try_input" name="input" rows="4">{escape_textarea(&input)}</textarea>
                    <div class="actions"><button type="submit">"Run"</button></div>
                </form>
                {tried.map(|r| {
                    let class = if r.error.is_some() { "status error" } else { "status ok" };
                    view! {
                        <div class="try-output" id="try-result">
                            <dl class="facts">
                                <dt>"Status"</dt><dd><span class=class>{r.status}</span></dd>
                                <dt>"Latency"</dt><dd id="try-latency">{format::ms(r.latency_ms)}</dd>
                                <dt>"Tokens"</dt><dd id="try-tokens">{r.tokens.unwrap_or_else(|| "-".into())}</dd>
                                <dt>"Cost"</dt><dd id="try-cost">{r.cost.unwrap_or_else(|| "-".into())}</dd>
                            </dl>
                            {r.error.map(|e| view! { <p class="flash error">{e}</p> })}
                            <h3>"Output"</h3>
                            <pre id="try-output">{r.output}</pre>
                        </div>
                    }
                })}
            </section>
            <section class="card">
                <h2>"Versions"</h2>
                <table class="compact">
                    <thead><tr><th class="num">"Version"</th><th>"Created"</th><th></th></tr></thead>
                    <tbody>
                        {api.versions.iter().rev().map(|v| {
                            let version = v.version;
                            view! {
                                <tr>
                                    <td class="num">{version}</td>
                                    <td>{format::time(&v.created_at)}</td>
                                    <td>{if version == active {
                                        view! { <span class="status ok">"active"</span> }.into_any()
                                    } else if can_manage {
                                        view! {
                                            <form method="post" action=format!("{action}/activate") class="inline">
                                                <input type="hidden" name="csrf" value=csrf.clone()/>
                                                <input type="hidden" name="version" value=version/>
                                                <button type="submit" class="secondary small">"Make active"</button>
                                            </form>
                                        }.into_any()
                                    } else {
                                        view! { <span></span> }.into_any()
                                    }}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </section>
            {can_manage.then(|| view! {
                {super::form_card("Edit (saves a new version)", action.clone(), csrf.clone(), prompt_fields(Some(&api), &model_names), "Save new version")}
                {super::danger_card("Delete", "The endpoint and all its versions go away.", format!("{action}/delete"), csrf.clone(), "Delete this prompt API and all its versions?", "Delete prompt API")}
            })}
        }
    });
    t.page(&title, body)
}

/// A JSON body with every variable, for the try-it form and the curl snippet.
fn example_input(variables: &[Variable]) -> String {
    let mut body = Map::new();
    for v in variables {
        let value = v.default.clone().unwrap_or_else(|| match v.kind.as_str() {
            "number" => json!(1),
            "boolean" => json!(true),
            "enum" => json!(v.values.first().cloned().unwrap_or_default()),
            _ => json!(format!("your {}", v.name)),
        });
        body.insert(v.name.clone(), value);
    }
    Value::Object(body).to_string()
}

pub(crate) async fn update(
    t: TenantCtx,
    Path(IdPath { id }): Path<IdPath>,
    Form(form): Form<PromptForm>,
) -> Response {
    super::save(
        &t,
        &format!("/prompt-apis/{id}"),
        form.to_json(),
        |a: PromptApi| format!("Saved as version {}, now active.", a.version),
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct ActivateForm {
    version: i32,
}

pub(crate) async fn activate(
    t: TenantCtx,
    Path(IdPath { id }): Path<IdPath>,
    Form(form): Form<ActivateForm>,
) -> Response {
    let here = t.path(&format!("/prompt-apis/{id}"));
    let result = t
        .ctx
        .api
        .post::<PromptApi>(
            &t.api_path(&format!(
                "/prompt-apis/{id}/versions/{}/activate",
                form.version
            )),
            &json!({}),
        )
        .await;
    t.after(&here, result, |a| {
        format!("Version {} is active.", a.version)
    })
}

pub(crate) async fn delete(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    super::delete_item(&t, "prompt-apis", &id, "Prompt API deleted.").await
}

#[derive(Deserialize)]
pub(crate) struct TryForm {
    key: String,
    input: String,
}

/// Runs the prompt API through the proxy, as a client would.
pub(crate) async fn try_it(
    t: TenantCtx,
    Path(IdPath { id }): Path<IdPath>,
    Form(form): Form<TryForm>,
) -> Response {
    let api: PromptApi = match t
        .ctx
        .api
        .get(&t.api_path(&format!("/prompt-apis/{id}")))
        .await
    {
        Ok(a) => a,
        Err(failure) => return t.failure(failure),
    };
    let input = form.input.clone();
    let result = match serde_json::from_str::<Value>(&form.input) {
        Err(err) => TryResult {
            status: 0,
            latency_ms: 0.0,
            output: String::new(),
            tokens: None,
            cost: None,
            error: Some(format!("The variables are not valid JSON: {err}")),
        },
        Ok(body) => call_proxy(&t, &api.spec.slug, form.key.trim(), &body).await,
    };
    render_edit(t, &id, Some(result), Some(input)).await
}

async fn call_proxy(t: &TenantCtx, slug: &str, key: &str, body: &Value) -> TryResult {
    let url = format!("{}/prompts/{slug}", t.ctx.proxy_internal_url);
    let started = Instant::now();
    let response = t
        .ctx
        .http
        .post(&url)
        .bearer_auth(key)
        .json(body)
        .send()
        .await;
    let response = match response {
        Ok(response) => response,
        Err(err) => {
            return TryResult {
                status: 0,
                latency_ms: started.elapsed().as_secs_f64() * 1000.0,
                output: String::new(),
                tokens: None,
                cost: None,
                error: Some(format!(
                    "Could not reach the proxy at {url}: {err}. Is it running, and is TOLLGATE_PROXY_URL right?"
                )),
            }
        }
    };
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let json: Option<Value> = serde_json::from_str(&text).ok();
    if !(200..300).contains(&status) {
        let message = json
            .as_ref()
            .and_then(|j| j.pointer("/error/message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| text.clone());
        return TryResult {
            status,
            latency_ms,
            output: text,
            tokens: None,
            cost: None,
            error: Some(message),
        };
    }
    let Some(json) = json else {
        return TryResult {
            status,
            latency_ms,
            output: text,
            tokens: None,
            cost: None,
            error: None,
        };
    };
    let output = match json.get("output") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => serde_json::to_string_pretty(other).unwrap_or_default(),
        None => text,
    };
    let count = |field: &str| {
        json.pointer(&format!("/usage/{field}"))
            .and_then(Value::as_i64)
    };
    let tokens = match (count("prompt_tokens"), count("completion_tokens")) {
        (Some(i), Some(o)) => Some(format!("{} in, {} out", format::count(i), format::count(o))),
        _ => None,
    };
    let cost = json
        .get("cost_usd")
        .and_then(Value::as_str)
        .map(format::usd);
    TryResult {
        status,
        latency_ms,
        output,
        tokens,
        cost,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_read_from_lines() {
        let parsed = parse_variables(
            "text string required\nsentences number default=2\ntone enum values=a|b",
        )
        .unwrap();
        assert_eq!(
            parsed[0],
            json!({"name": "text", "type": "string", "required": true})
        );
        assert_eq!(parsed[1]["default"], json!(2));
        assert_eq!(parsed[2]["values"], json!(["a", "b"]));
        assert!(parse_variables("x string loud")
            .unwrap_err()
            .contains("loud"));
    }
}
