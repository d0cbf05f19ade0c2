//! Configuration as code: the tenant's configuration as the YAML document `tollgate apply`
//! takes, to copy or download, and the recent applies with what each changed.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use leptos::prelude::*;

use crate::ctx::TenantCtx;
use crate::format;
use crate::layout::render;
use crate::types::AuditEntry;

/// Audit entries read to find the recent applies.
const AUDIT_WINDOW: usize = 500;

pub(crate) async fn page(t: TenantCtx) -> Response {
    let document = match t.ctx.api.text(&t.api_path("/config:export")).await {
        Ok(text) => text,
        Err(failure) => return t.failure(failure),
    };
    let entries: Vec<AuditEntry> = t
        .ctx
        .api
        .get(&t.api_path(&format!("/audit?limit={AUDIT_WINDOW}")))
        .await
        .unwrap_or_default();
    let applies: Vec<AuditEntry> = entries
        .into_iter()
        .filter(|e| e.action == "config.apply")
        .take(20)
        .collect();
    let download = t.path("/config/tenant.yaml");
    let slug = t
        .nav
        .current
        .as_ref()
        .map(|c| c.tenant.slug.clone())
        .unwrap_or_default();
    let body = render(move || {
        view! {
            <div class="page-head"><h1>"Configuration"</h1><a href=download.clone() download="tenant.yaml">"Download tenant.yaml"</a></div>
            <p class="muted">"This tenant's providers, models, services, routes, prompt APIs and key policies as one YAML document: keep it in Git, change it there, and apply it with the tollgate command (all or nothing, one new configuration version). Provider credentials are never exported: write them as ${ENV_VAR} or ${file:PATH}, which tollgate apply reads where it runs."</p>
            <pre>{format!("tollgate diff -f tenant.yaml --tenant {slug}    # what would change (exit code 1 if anything)\ntollgate apply -f tenant.yaml --tenant {slug}")}</pre>
            <section class="card">
                <h2>"tenant.yaml"</h2>
                <div class="copy-row"><pre id="tenant-yaml">{document}</pre><button type="button" class="secondary" data-copy="#tenant-yaml">"Copy"</button></div>
            </section>
            <section class="card">
                <h2>"Recent applies"</h2>
                {if applies.is_empty() {
                    view! { <p class="muted">"No document has been applied to this tenant yet."</p> }.into_any()
                } else {
                    view! {
                        <table>
                            <thead><tr><th>"Time"</th><th>"Who"</th><th>"Changes"</th></tr></thead>
                            <tbody>
                                {applies.into_iter().map(|e| {
                                    let changes: Vec<String> = e.details["changes"]
                                        .as_array()
                                        .into_iter()
                                        .flatten()
                                        .map(describe_change)
                                        .collect();
                                    view! {
                                        <tr>
                                            <td>{format::time(&e.time)}</td>
                                            <td>{e.actor_email.clone().unwrap_or_else(|| "system".into())}</td>
                                            <td><ul class="changes">{changes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}</ul></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }}
            </section>
        }
    });
    t.page("Configuration", body)
}

/// One change of an apply, like "update Route orders (retries, timeout)".
fn describe_change(step: &serde_json::Value) -> String {
    let fields: Vec<&str> = step["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str())
        .collect();
    let mut text = format!(
        "{} {} {}",
        step["action"].as_str().unwrap_or_default(),
        step["kind"].as_str().unwrap_or_default(),
        step["name"].as_str().unwrap_or_default()
    );
    if !fields.is_empty() {
        text.push_str(&format!(" ({})", fields.join(", ")));
    }
    text
}

/// The document as a file.
pub(crate) async fn download(t: TenantCtx) -> Response {
    match t.ctx.api.text(&t.api_path("/config:export")).await {
        Ok(text) => (
            [
                (header::CONTENT_TYPE, "application/yaml"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"tenant.yaml\"",
                ),
            ],
            text,
        )
            .into_response(),
        Err(failure) => t.failure(failure),
    }
}
