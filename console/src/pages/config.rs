//! Configuration as code: the tenant's services and routes as the YAML document `tollgate apply`
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
            <p class="muted">"This tenant's services and routes as one YAML document: keep it in Git, change it there, and apply it with the tollgate command (all or nothing, one new configuration version)."</p>
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
                                    let changes = e.details["changes"].as_array().map(|steps| {
                                        steps.iter().map(|s| format!(
                                            "{} {} {}",
                                            s["action"].as_str().unwrap_or_default(),
                                            s["kind"].as_str().unwrap_or_default(),
                                            s["name"].as_str().unwrap_or_default()
                                        )).collect::<Vec<_>>().join(", ")
                                    }).unwrap_or_default();
                                    view! {
                                        <tr>
                                            <td>{format::time(&e.time)}</td>
                                            <td>{e.actor_email.clone().unwrap_or_else(|| "system".into())}</td>
                                            <td>{changes}</td>
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
