//! The audit log: who changed what in this tenant, newest first.

use axum::extract::Query;
use axum::response::Response;
use leptos::prelude::*;
use serde::Deserialize;

use crate::ctx::TenantCtx;
use crate::format;
use crate::layout::render;
use crate::types::AuditEntry;

#[derive(Deserialize, Default)]
pub(crate) struct AuditQuery {
    before: Option<String>,
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    #[serde(flatten)]
    entry: AuditEntry,
}

pub(crate) async fn page(t: TenantCtx, Query(query): Query<AuditQuery>) -> Response {
    const PAGE: usize = 50;
    let mut path = t.api_path(&format!("/audit?limit={PAGE}"));
    if let Some(before) = query.before.as_deref().filter(|b| !b.is_empty()) {
        let before: String = url::form_urlencoded::byte_serialize(before.as_bytes()).collect();
        path.push_str(&format!("&before={before}"));
    }
    let entries: Vec<Entry> = match t.ctx.api.get(&path).await {
        Ok(entries) => entries,
        Err(failure) => return t.failure(failure),
    };
    let base = t.path("/audit");
    let older = (entries.len() == PAGE)
        .then(|| entries.last().map(|e| format!("{base}?before={}", e.id)))
        .flatten();
    let newest = query.before.is_some().then(|| base.clone());
    let body = render(move || {
        view! {
            <div class="page-head"><h1>"Audit log"</h1></div>
            {if entries.is_empty() {
                view! { <section class="card empty"><p>"Nothing has changed in this tenant yet."</p></section> }.into_any()
            } else {
                view! {
                    <table>
                        <thead><tr><th>"Time"</th><th>"Who"</th><th>"Action"</th><th>"Target"</th><th>"Details"</th></tr></thead>
                        <tbody>
                            {entries.into_iter().map(|e| {
                                let e = e.entry;
                                let details = if e.details.is_null() { String::new() } else { e.details.to_string() };
                                view! {
                                    <tr>
                                        <td>{format::time(&e.time)}</td>
                                        <td>{e.actor_email.clone().unwrap_or_else(|| "system".into())}</td>
                                        <td><code>{e.action.clone()}</code></td>
                                        <td>{format!("{} {}", e.target_type, e.target_id)}</td>
                                        <td><code>{details}</code></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <div class="pager">
                <span>{newest.map(|href| view! { <a href=href>"← Newest"</a> })}</span>
                <span>{older.map(|href| view! { <a href=href>"Older →"</a> })}</span>
            </div>
        }
    });
    t.page("Audit log", body)
}
