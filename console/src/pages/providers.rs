//! AI providers: add, edit (credentials are write-only), test the connection, delete.

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::response::Response;
use axum::Form;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::IdPath;
use crate::ctx::{Flash, TenantCtx};
use crate::forms;
use crate::layout::render;
use crate::types::{Provider, ProviderTest, Role};
use tollgate_protocol::ProviderKind;

pub(crate) async fn list(t: TenantCtx) -> Response {
    let providers: Vec<Provider> = match t.ctx.api.get(&t.api_path("/providers")).await {
        Ok(p) => p,
        Err(failure) => return t.failure(failure),
    };
    let can_manage = t.role() >= Role::Admin;
    let csrf = t.ctx.csrf.clone();
    let base = t.path("/providers");
    let body = render(move || {
        view! {
            <div class="page-head"><h1>"Providers"</h1></div>
            <p class="muted">"Where model calls go. Credentials are encrypted at rest and never shown again after saving."</p>
            {if providers.is_empty() {
                view! { <section class="card empty"><p>"No providers yet. Add one below, then define a model that uses it."</p></section> }.into_any()
            } else {
                let base = base.clone();
                view! {
                    <table>
                        <thead><tr><th>"Name"</th><th>"Kind"</th><th>"Base URL"</th><th>"Key"</th><th>"Timeout"</th><th></th></tr></thead>
                        <tbody>
                            {providers.into_iter().map(|p| {
                                let href = format!("{base}/{}", p.id);
                                view! {
                                    <tr>
                                        <td><a href=href.clone()>{p.name.clone()}</a></td>
                                        <td>{p.kind.label()}</td>
                                        <td><code>{p.base_url.clone()}</code></td>
                                        <td><code>{p.key_hint.clone()}</code></td>
                                        <td>{p.timeout.clone()}</td>
                                        <td><a href=href>{if can_manage { "Edit" } else { "View" }}</a></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            {can_manage.then(|| view! {
                {super::form_card("Add a provider", base.clone(), csrf.clone(), provider_fields(None), "Add provider")}
            })}
        }
    });
    t.page("Providers", body)
}

fn provider_fields(provider: Option<&Provider>) -> impl IntoView {
    let editing = provider.is_some();
    let name = provider.map(|p| p.name.clone()).unwrap_or_default();
    let kind = provider.map_or(ProviderKind::Openai, |p| p.kind);
    let base_url = provider.map(|p| p.base_url.clone()).unwrap_or_default();
    let api_version = provider
        .and_then(|p| p.api_version.clone())
        .unwrap_or_default();
    let timeout = provider.map(|p| p.timeout.clone()).unwrap_or_default();
    let key_placeholder = match provider {
        Some(p) => format!("unchanged ({}); type to replace", p.key_hint),
        None => "sk-…".to_string(),
    };
    let headers_hint = match provider {
        Some(p) if !p.header_names.is_empty() => format!(
            "Set now: {}. Leave empty to keep them; type all of them to replace.",
            p.header_names.join(", ")
        ),
        _ => "One per line, like  X-Org: acme. Stored encrypted, like the key.".to_string(),
    };
    view! {
        <label for="name">"Name"</label>
        <input id="name" name="name" required value=name placeholder="openai-prod"/>
        <label for="kind">"Kind"</label>
        <select id="kind" name="kind" disabled=editing>
            {ProviderKind::ALL.iter().map(|value| {
                let selected = *value == kind;
                view! { <option value=value.as_str() selected=selected>{value.label()}</option> }
            }).collect_view()}
        </select>
        <label for="base_url">"Base URL"</label>
        <input id="base_url" name="base_url" value=base_url placeholder="the provider's default when empty"/>
        <label for="api_key">"API key"</label>
        <input id="api_key" name="api_key" type="password" autocomplete="off" placeholder=key_placeholder/>
        <label for="headers">"Extra headers"</label>
        <textarea id="headers" name="headers" rows="2" placeholder="X-Org: acme"></textarea>
        <p class="hint">{headers_hint}</p>
        <label for="api_version">"API version"</label>
        <input id="api_version" name="api_version" value=api_version placeholder="Azure OpenAI only, e.g. 2024-10-21"/>
        <label for="timeout">"Timeout to first answer"</label>
        <input id="timeout" name="timeout" value=timeout placeholder="60s"/>
    }
}

#[derive(Deserialize)]
pub(crate) struct ProviderForm {
    name: String,
    kind: Option<String>,
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    headers: String,
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    timeout: String,
}

impl ProviderForm {
    fn headers(&self) -> Result<Option<BTreeMap<String, String>>, String> {
        let mut headers = BTreeMap::new();
        for (n, line) in self.headers.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (name, value) = line.split_once(':').ok_or_else(|| {
                format!("Extra headers, line {}: write it as  Name: value", n + 1)
            })?;
            headers.insert(name.trim().to_string(), value.trim().to_string());
        }
        Ok((!headers.is_empty()).then_some(headers))
    }

    /// The API body: only fields with a value, so an edit keeps what was left empty.
    fn to_json(&self, creating: bool) -> Result<Value, String> {
        let mut body = Map::new();
        body.insert("name".into(), json!(self.name.trim()));
        if creating {
            body.insert(
                "kind".into(),
                json!(self.kind.as_deref().unwrap_or("openai")),
            );
        }
        for (field, value) in [
            ("base_url", &self.base_url),
            ("api_key", &self.api_key),
            ("api_version", &self.api_version),
            ("timeout", &self.timeout),
        ] {
            if let Some(value) = forms::opt(value) {
                body.insert(field.into(), json!(value));
            }
        }
        if let Some(headers) = self.headers()? {
            body.insert("headers".into(), json!(headers));
        }
        Ok(Value::Object(body))
    }
}

pub(crate) async fn create(t: TenantCtx, Form(form): Form<ProviderForm>) -> Response {
    let back = t.path("/providers");
    let body = match form.to_json(true) {
        Ok(body) => body,
        Err(message) => return t.ctx.redirect(&back, Some(Flash::Error(message))),
    };
    let result = t
        .ctx
        .api
        .post::<Provider>(&t.api_path("/providers"), &body)
        .await;
    match result {
        Ok(p) => t.ctx.redirect(
            &t.path(&format!("/providers/{}", p.id)),
            Some(Flash::Success(format!(
                "Provider \u{201c}{}\u{201d} added. Test the connection below.",
                p.name
            ))),
        ),
        Err(failure) => t.refused(&back, failure),
    }
}

pub(crate) async fn edit(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    let provider: Provider = match t
        .ctx
        .api
        .get(&t.api_path(&format!("/providers/{id}")))
        .await
    {
        Ok(p) => p,
        Err(failure) => return t.failure(failure),
    };
    let can_manage = t.role() >= Role::Admin;
    let csrf = t.ctx.csrf.clone();
    let action = t.path(&format!("/providers/{id}"));
    let back = t.path("/providers");
    let title = format!("Provider {}", provider.name);
    let body = render(move || {
        view! {
            <div class="page-head"><h1>{format!("Provider \u{201c}{}\u{201d}", provider.name)}</h1><a href=back.clone()>"All providers"</a></div>
            <section class="card">
                <dl class="facts">
                    <dt>"Kind"</dt><dd>{provider.kind.label()}</dd>
                    <dt>"Base URL"</dt><dd><code>{provider.base_url.clone()}</code></dd>
                    <dt>"Key"</dt><dd><code>{provider.key_hint.clone()}</code></dd>
                    <dt>"Timeout"</dt><dd>{provider.timeout.clone()}</dd>
                </dl>
                {can_manage.then(|| view! {
                    <form method="post" action=format!("{action}/test")>
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        <button type="submit" class="secondary">"Test connection"</button>
                        <span class="muted">" Lists the provider's models with the saved credentials; spends no tokens."</span>
                    </form>
                })}
            </section>
            {can_manage.then(|| view! {
                {super::form_card("Settings", action.clone(), csrf.clone(), provider_fields(Some(&provider)), "Save")}
                {super::danger_card("Delete", "Models with deployments on this provider must be changed first.", format!("{action}/delete"), csrf.clone(), "Delete this provider?", "Delete provider")}
            })}
        }
    });
    t.page(&title, body)
}

pub(crate) async fn update(
    t: TenantCtx,
    Path(IdPath { id }): Path<IdPath>,
    Form(form): Form<ProviderForm>,
) -> Response {
    super::save(
        &t,
        &format!("/providers/{id}"),
        form.to_json(false),
        |p: Provider| format!("Provider \u{201c}{}\u{201d} saved.", p.name),
    )
    .await
}

pub(crate) async fn test(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    let here = t.path(&format!("/providers/{id}"));
    let result = t
        .ctx
        .api
        .post::<ProviderTest>(&t.api_path(&format!("/providers/{id}/test")), &json!({}))
        .await;
    match result {
        Ok(test) if test.ok => t.ctx.redirect(
            &here,
            Some(Flash::Success(format!(
                "Connection works ({} ms): {}",
                test.latency_ms, test.detail
            ))),
        ),
        Ok(test) => t.ctx.redirect(
            &here,
            Some(Flash::Error(format!(
                "Connection failed{} after {} ms: {}",
                test.status
                    .map(|s| format!(" with HTTP {s}"))
                    .unwrap_or_default(),
                test.latency_ms,
                test.detail
            ))),
        ),
        Err(failure) => t.refused(&here, failure),
    }
}

pub(crate) async fn delete(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    super::delete_item(&t, "providers", &id, "Provider deleted.").await
}
