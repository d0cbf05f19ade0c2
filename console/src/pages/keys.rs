//! API keys: list, create (secret shown once), edit limits, scopes and budget, revoke.

use axum::extract::Path;
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

use super::IdPath;
use crate::ctx::{Flash, TenantCtx};
use crate::format;
use crate::forms;
use crate::layout::render;
use crate::types::{ApiKey, Created, Role};

pub(crate) async fn list(t: TenantCtx) -> Response {
    render_list(t, None).await
}

async fn render_list(t: TenantCtx, created: Option<Created<ApiKey>>) -> Response {
    let keys: Vec<ApiKey> = match t.ctx.api.get(&t.api_path("/keys")).await {
        Ok(keys) => keys,
        Err(failure) => return t.failure(failure),
    };
    let can_manage = t.role() >= Role::Member;
    let csrf = t.ctx.csrf.clone();
    let base = t.path("/keys");
    let proxy = t.ctx.proxy_url.clone();
    let body = render(move || {
        view! {
            <div class="page-head"><h1>"API keys"</h1></div>
            <p class="muted">"Keys let applications call the proxy. The secret is shown once, when the key is created; Tollgate keeps only its hash."</p>
            {created.map(|created| view! {
                <section class="card secret" aria-live="polite">
                    <h2>{format!("Key \u{201c}{}\u{201d} created", created.item.name)}</h2>
                    <p class="warning">"Copy this secret now. It will not be shown again: Tollgate stores only a hash of it."</p>
                    <div class="copy-row">
                        <code id="new-secret" class="secret-value">{created.secret.clone()}</code>
                        <button type="button" class="secondary" data-copy="#new-secret">"Copy"</button>
                    </div>
                    <p class="muted">"Use it as a bearer token:"</p>
                    <pre>{format!("curl {proxy}/v1/models -H 'Authorization: Bearer {}'", created.secret)}</pre>
                </section>
            })}
            {if keys.is_empty() {
                view! { <section class="card empty"><p>"No API keys yet. Create one below to let an application call the proxy."</p></section> }.into_any()
            } else {
                let base = base.clone();
                view! {
                    <table>
                        <thead><tr>
                            <th>"Name"</th><th>"Prefix"</th><th>"Scopes"</th><th>"Limits"</th>
                            <th>"Budget used"</th><th>"Last used"</th><th>"Status"</th><th></th>
                        </tr></thead>
                        <tbody>
                            {keys.into_iter().map(|k| {
                                let href = format!("{base}/{}", k.id);
                                let status_class = format!("status {}", k.status);
                                view! {
                                    <tr>
                                        <td><a href=href.clone()>{k.name.clone()}</a></td>
                                        <td><code>{k.prefix.clone()}</code></td>
                                        <td>{scopes_text(&k)}</td>
                                        <td>{limits_text(&k)}</td>
                                        <td>{budget_text(&k)}</td>
                                        <td>{format::optional_time(k.last_used_at.as_deref())}</td>
                                        <td><span class=status_class>{k.status.clone()}</span></td>
                                        <td><a href=href>{if can_manage { "Edit" } else { "View" }}</a></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            {can_manage.then(|| view! {
                {super::form_card("Create a key", base.clone(), csrf.clone(), key_fields(None), "Create key")}
            })}
        }
    });
    t.page("API keys", body)
}

fn scopes_text(k: &ApiKey) -> String {
    let mut parts = Vec::new();
    for (label, items) in [
        ("routes", &k.scopes.routes),
        ("models", &k.scopes.models),
        ("prompt APIs", &k.scopes.prompt_apis),
        ("MCP servers", &k.scopes.mcp_servers),
    ] {
        if items.iter().any(|i| i == "*") {
            parts.push(format!("all {label}"));
        } else if !items.is_empty() {
            parts.push(format!("{label}: {}", items.join(", ")));
        }
    }
    if parts.len() == 4 && parts.iter().all(|p| p.starts_with("all ")) {
        "everything".into()
    } else if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join("; ")
    }
}

fn limits_text(k: &ApiKey) -> String {
    let mut parts = Vec::new();
    if let Some(rpm) = k.limits.requests_per_minute {
        parts.push(format!("{} req/min", format::count(rpm)));
    }
    if let Some(tpm) = k.limits.tokens_per_minute {
        parts.push(format!("{} tok/min", format::count(tpm)));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

fn budget_text(k: &ApiKey) -> String {
    match &k.budget {
        Some(b) => format!(
            "{} of {} / {}",
            format::usd(k.budget_spent_usd.as_deref().unwrap_or("0")),
            format::usd(&b.amount_usd),
            b.period
        ),
        None => "no budget".into(),
    }
}

/// The fields of the create and edit forms, filled from a key when editing.
fn key_fields(key: Option<&ApiKey>) -> impl IntoView {
    let name = key.map(|k| k.name.clone()).unwrap_or_default();
    // A new key reaches everything until narrowed; an emptied field reaches nothing.
    let all = || "*".to_string();
    let routes = key.map_or_else(all, |k| k.scopes.routes.join(", "));
    let models = key.map_or_else(all, |k| k.scopes.models.join(", "));
    let prompts = key.map_or_else(all, |k| k.scopes.prompt_apis.join(", "));
    let mcp = key.map_or_else(all, |k| k.scopes.mcp_servers.join(", "));
    let rpm = key
        .and_then(|k| k.limits.requests_per_minute)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let tpm = key
        .and_then(|k| k.limits.tokens_per_minute)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let amount = key
        .and_then(|k| k.budget.as_ref())
        .map(|b| b.amount_usd.clone())
        .unwrap_or_default();
    let period = key
        .and_then(|k| k.budget.as_ref())
        .map(|b| b.period.clone())
        .unwrap_or_else(|| "month".into());
    let expires = key.and_then(|k| k.expires_at.clone()).unwrap_or_default();
    view! {
        <label for="name">"Name"</label>
        <input id="name" name="name" required value=name placeholder="billing-service"/>
        <label for="expires_at">"Expires at"</label>
        <input id="expires_at" name="expires_at" value=expires placeholder="2027-01-31T00:00:00Z (empty: never)"/>
        <label for="scope_routes">"Routes it may call"</label>
        <input id="scope_routes" name="scope_routes" value=routes placeholder="route names, comma-separated; * for all (empty: none)"/>
        <label for="scope_models">"Models it may call"</label>
        <input id="scope_models" name="scope_models" value=models placeholder="model names; * for all (empty: none)"/>
        <label for="scope_prompt_apis">"Prompt APIs it may call"</label>
        <input id="scope_prompt_apis" name="scope_prompt_apis" value=prompts placeholder="prompt API slugs; * for all (empty: none)"/>
        <label for="scope_mcp_servers">"MCP servers it may call"</label>
        <input id="scope_mcp_servers" name="scope_mcp_servers" value=mcp placeholder="server names, or server/tool for one tool; * for all (empty: none)"/>
        <label for="requests_per_minute">"Requests per minute"</label>
        <input id="requests_per_minute" name="requests_per_minute" inputmode="numeric" value=rpm placeholder="no limit"/>
        <label for="tokens_per_minute">"Tokens per minute"</label>
        <input id="tokens_per_minute" name="tokens_per_minute" inputmode="numeric" value=tpm placeholder="no limit"/>
        <label for="budget_usd">"Budget (USD)"</label>
        <div class="inline-fields">
            <input id="budget_usd" name="budget_usd" inputmode="decimal" value=amount placeholder="no budget"/>
            <label for="budget_period" class="sr-only">"Budget period"</label>
            <select id="budget_period" name="budget_period">
                {["day", "month", "total"].into_iter().map(|p| {
                    let selected = p == period;
                    view! { <option value=p selected=selected>{format!("per {p}").replace("per total", "in total")}</option> }
                }).collect_view()}
            </select>
        </div>
    }
}

#[derive(Deserialize)]
pub(crate) struct KeyForm {
    name: String,
    #[serde(default)]
    expires_at: String,
    #[serde(default)]
    scope_routes: String,
    #[serde(default)]
    scope_models: String,
    #[serde(default)]
    scope_prompt_apis: String,
    #[serde(default)]
    scope_mcp_servers: String,
    #[serde(default)]
    requests_per_minute: String,
    #[serde(default)]
    tokens_per_minute: String,
    #[serde(default)]
    budget_usd: String,
    #[serde(default)]
    budget_period: String,
}

impl KeyForm {
    /// The API body; `null` for cleared optional fields (meaningful for PATCH).
    fn to_json(&self) -> Result<Value, String> {
        let budget = forms::opt(&self.budget_usd)
            .map(|amount| json!({"amount_usd": amount, "period": self.budget_period}));
        Ok(json!({
            "name": self.name.trim(),
            "expires_at": forms::opt(&self.expires_at),
            "scopes": {
                "routes": forms::list(&self.scope_routes),
                "models": forms::list(&self.scope_models),
                "prompt_apis": forms::list(&self.scope_prompt_apis),
                "mcp_servers": forms::list(&self.scope_mcp_servers),
            },
            "limits": {
                "requests_per_minute": forms::number::<i64>("Requests per minute", &self.requests_per_minute)?,
                "tokens_per_minute": forms::number::<i64>("Tokens per minute", &self.tokens_per_minute)?,
            },
            "budget": budget,
        }))
    }
}

pub(crate) async fn create(t: TenantCtx, Form(form): Form<KeyForm>) -> Response {
    let back = t.path("/keys");
    let body = match form.to_json() {
        Ok(mut body) => {
            // A new key has no expiry or budget to clear: leave absent fields out.
            if let Some(map) = body.as_object_mut() {
                map.retain(|_, v| !v.is_null());
            }
            body
        }
        Err(message) => return t.ctx.redirect(&back, Some(Flash::Error(message))),
    };
    match t
        .ctx
        .api
        .post::<Created<ApiKey>>(&t.api_path("/keys"), &body)
        .await
    {
        Ok(created) => render_list(t, Some(created)).await,
        Err(failure) => t.refused(&back, failure),
    }
}

pub(crate) async fn edit(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    let key: ApiKey = match t.ctx.api.get(&t.api_path(&format!("/keys/{id}"))).await {
        Ok(key) => key,
        Err(failure) => return t.failure(failure),
    };
    let can_manage = t.role() >= Role::Member && key.status != "revoked";
    let csrf = t.ctx.csrf.clone();
    let action = t.path(&format!("/keys/{id}"));
    let back = t.path("/keys");
    let title = format!("Key {}", key.name);
    let body = render(move || {
        let summary = view! {
            <dl class="facts">
                <dt>"Prefix"</dt><dd><code>{key.prefix.clone()}</code></dd>
                <dt>"Status"</dt><dd>{key.status.clone()}</dd>
                <dt>"Budget"</dt><dd>{budget_text(&key)}</dd>
                <dt>"Last used"</dt><dd>{format::optional_time(key.last_used_at.as_deref())}</dd>
                <dt>"Created"</dt><dd>{format::time(&key.created_at)}</dd>
            </dl>
        };
        view! {
            <div class="page-head"><h1>{format!("Key \u{201c}{}\u{201d}", key.name)}</h1><a href=back.clone()>"All keys"</a></div>
            <section class="card">{summary}</section>
            {can_manage.then(|| view! {
                {super::form_card("Settings", action.clone(), csrf.clone(), key_fields(Some(&key)), "Save")}
                {super::danger_card("Revoke", "Requests with this key are refused within seconds. This cannot be undone.", format!("{action}/revoke"), csrf.clone(), "Revoke this key? Applications using it stop working.", "Revoke key")}
            })}
        }
    });
    t.page(&title, body)
}

pub(crate) async fn update(
    t: TenantCtx,
    Path(IdPath { id }): Path<IdPath>,
    Form(form): Form<KeyForm>,
) -> Response {
    super::save(&t, &format!("/keys/{id}"), form.to_json(), |k: ApiKey| {
        format!("Key \u{201c}{}\u{201d} saved.", k.name)
    })
    .await
}

pub(crate) async fn revoke(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    let result = t
        .ctx
        .api
        .send(Method::DELETE, &t.api_path(&format!("/keys/{id}")), None)
        .await;
    t.after(&t.path("/keys"), result, |_| "Key revoked.".into())
}
