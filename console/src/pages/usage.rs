//! The request log: filters, pages, per-request tokens and cost, CSV export.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::Query;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use leptos::prelude::*;
use serde::Deserialize;

use crate::client::ApiResult;
use crate::ctx::TenantCtx;
use crate::format;
use crate::forms;
use crate::layout::render;
use crate::types::{ApiKey, Model, Route, UsagePage, UsageRecord};

/// The page's filters, as the form sends them.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct Filters {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    before: String,
}

impl Filters {
    /// The API's query string for these filters (form times are UTC, to the minute).
    fn api_query(&self, limit: u32, before: Option<&str>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [("from", &self.from), ("to", &self.to)] {
            if let Some(value) = forms::opt(value) {
                query.append_pair(name, &as_rfc3339(&value));
            }
        }
        for (name, value) in [
            ("key", &self.key),
            ("model", &self.model),
            ("route", &self.route),
            ("status", &self.status),
        ] {
            if let Some(value) = forms::opt(value) {
                query.append_pair(name, &value);
            }
        }
        if let Some(before) = before {
            query.append_pair("before", before);
        }
        query.append_pair("limit", &limit.to_string());
        query.finish()
    }

    /// This page's own query string, without the page position.
    fn page_query(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("from", &self.from),
            ("to", &self.to),
            ("key", &self.key),
            ("model", &self.model),
            ("route", &self.route),
            ("status", &self.status),
        ] {
            if !value.is_empty() {
                query.append_pair(name, value);
            }
        }
        query.finish()
    }
}

/// `2026-11-29T10:00` (a datetime-local field) → `2026-11-29T10:00:00Z`; anything else as is.
fn as_rfc3339(value: &str) -> String {
    if value.len() == 16 && value.as_bytes().get(10) == Some(&b'T') {
        format!("{value}:00Z")
    } else {
        value.to_string()
    }
}

/// Names of keys, models and routes, for showing ids.
struct Names {
    keys: BTreeMap<String, String>,
    models: BTreeMap<String, String>,
    routes: BTreeMap<String, String>,
    mcp_servers: BTreeMap<String, String>,
}

async fn names(t: &TenantCtx) -> ApiResult<Names> {
    let keys: Vec<ApiKey> = t.ctx.api.get(&t.api_path("/keys")).await?;
    let models: Vec<Model> = t.ctx.api.get(&t.api_path("/models")).await?;
    let routes: Vec<Route> = t.ctx.api.get(&t.api_path("/routes")).await?;
    let servers: Vec<serde_json::Value> = t.ctx.api.get(&t.api_path("/mcp-servers")).await?;
    let mcp_servers = servers
        .iter()
        .filter_map(|s| {
            Some((
                s["id"].as_str()?.to_string(),
                s["name"].as_str()?.to_string(),
            ))
        })
        .collect();
    Ok(Names {
        mcp_servers,
        keys: keys.into_iter().map(|k| (k.id, k.name)).collect(),
        models: models.into_iter().map(|m| (m.id, m.name)).collect(),
        routes: routes.into_iter().map(|r| (r.id, r.spec.name)).collect(),
    })
}

fn name_of(names: &BTreeMap<String, String>, id: &Option<String>) -> String {
    match id {
        None => String::new(),
        Some(id) => names.get(id).cloned().unwrap_or_else(|| "(deleted)".into()),
    }
}

/// `server/tool` of an MCP tool call (`prompt-apis/…` for a prompt API, `rest-apis/…` for a
/// route's operation).
fn tool_of(names: &Names, e: &UsageRecord) -> Option<String> {
    let tool = e.mcp_tool.as_ref()?;
    let server = match (&e.mcp_server_id, &e.route_id) {
        (None, None) => "prompt-apis".to_string(),
        (None, Some(_)) => "rest-apis".to_string(),
        (id, _) => name_of(&names.mcp_servers, id),
    };
    Some(format!("{server}/{tool}"))
}

fn tokens_of(e: &UsageRecord) -> String {
    match (e.input_tokens, e.output_tokens) {
        (Some(i), Some(o)) => {
            let estimated = if e.tokens_estimated == Some(true) {
                " (estimated)"
            } else {
                ""
            };
            format!("{} / {}{estimated}", format::count(i), format::count(o))
        }
        _ => String::new(),
    }
}

pub(crate) async fn log(t: TenantCtx, Query(filters): Query<Filters>) -> Response {
    const PAGE: u32 = 50;
    let before = forms::opt(&filters.before);
    let page: UsagePage = match t
        .ctx
        .api
        .get(&t.api_path(&format!(
            "/usage?{}",
            filters.api_query(PAGE, before.as_deref())
        )))
        .await
    {
        Ok(page) => page,
        Err(failure) => {
            // A bad filter is the user's to fix: show it above the form rather than a dead end.
            if failure.status.is_client_error() && failure.status.as_u16() != 401 {
                return render_log(
                    t,
                    filters,
                    UsagePage {
                        events: vec![],
                        next_before: None,
                    },
                    Some(failure.message),
                )
                .await;
            }
            return t.failure(failure);
        }
    };
    render_log(t, filters, page, None).await
}

async fn render_log(
    t: TenantCtx,
    filters: Filters,
    page: UsagePage,
    error: Option<String>,
) -> Response {
    let names = match names(&t).await {
        Ok(names) => names,
        Err(failure) => return t.failure(failure),
    };
    let base = t.path("/usage");
    let query = filters.page_query();
    let csv_href = format!("{}?{query}", t.path("/usage.csv"));
    let next_href = page
        .next_before
        .as_ref()
        .map(|b| format!("{base}?{query}&before={b}"));
    let first_href = (!filters.before.is_empty()).then(|| format!("{base}?{query}"));
    let f = filters.clone();
    let body = render(move || {
        let select = |name: &'static str,
                      label: &'static str,
                      options: &BTreeMap<String, String>,
                      current: &str| {
            let options: Vec<(String, String)> = options
                .iter()
                .map(|(id, n)| (id.clone(), n.clone()))
                .collect();
            let current = current.to_string();
            view! {
                <div>
                    <label for=name>{label}</label>
                    <select id=name name=name>
                        <option value="">"any"</option>
                        {options.into_iter().map(|(id, n)| {
                            let selected = id == current;
                            view! { <option value=id selected=selected>{n}</option> }
                        }).collect_view()}
                    </select>
                </div>
            }
        };
        view! {
            <div class="page-head"><h1>"Usage"</h1><a href=csv_href>"Export CSV"</a></div>
            <form method="get" action=base.clone() class="card filters">
                <div><label for="from">"From (UTC)"</label><input id="from" name="from" type="datetime-local" value=f.from.clone()/></div>
                <div><label for="to">"To (UTC)"</label><input id="to" name="to" type="datetime-local" value=f.to.clone()/></div>
                {select("key", "Key", &names.keys, &f.key)}
                {select("model", "Model", &names.models, &f.model)}
                {select("route", "Route", &names.routes, &f.route)}
                <div><label for="status">"Status"</label><input id="status" name="status" value=f.status.clone() placeholder="429 or 5xx"/></div>
                <div><button type="submit">"Filter"</button></div>
            </form>
            {error.map(|e| view! { <div class="flash error" role="alert">{e}</div> })}
            <p class="muted">"Newest first; the last 24 hours unless a range is set."</p>
            {if page.events.is_empty() {
                view! { <section class="card empty"><p>"No requests match. Traffic through the proxy shows up here within seconds."</p></section> }.into_any()
            } else {
                view! {
                    <table id="usage-log">
                        <thead><tr>
                            <th>"Time (UTC)"</th><th>"Key"</th><th>"Route / model / tool"</th><th>"Method"</th><th class="num">"Status"</th>
                            <th class="num">"Latency"</th><th class="num">"Tokens in / out"</th><th class="num">"Cost"</th><th>"Error"</th>
                        </tr></thead>
                        <tbody>
                            {page.events.into_iter().map(|e| {
                                let target = match (&e.model_id, &e.route_id) {
                                    _ if e.mcp_tool.is_some() => format!("tool {}", tool_of(&names, &e).unwrap_or_default()),
                                    (Some(_), _) => format!("{}{}", name_of(&names.models, &e.model_id), e.upstream_model.as_ref().map(|m| format!(" → {m}")).unwrap_or_default()),
                                    (None, Some(_)) => name_of(&names.routes, &e.route_id),
                                    _ => String::new(),
                                };
                                view! {
                                    <tr>
                                        <td>{format::time_seconds(&e.time)}</td>
                                        <td>{name_of(&names.keys, &e.key_id)}</td>
                                        <td>{target}</td>
                                        <td>{e.method.clone()}</td>
                                        <td class="num">{e.status}</td>
                                        <td class="num">{format::ms(e.latency_us as f64 / 1000.0)}</td>
                                        <td class="num">{tokens_of(&e)}</td>
                                        <td class="num">{e.cost_usd.as_deref().map(format::usd).unwrap_or_default()}</td>
                                        <td>{e.error_class.clone().unwrap_or_default()}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <div class="pager">
                <span>{first_href.map(|href| view! { <a href=href>"← Newest"</a> })}</span>
                <span>{next_href.map(|href| view! { <a href=href>"Older →"</a> })}</span>
            </div>
        }
    });
    t.page("Usage", body)
}

/// The filtered log as CSV, newest first, up to 100,000 rows.
pub(crate) async fn csv(t: TenantCtx, Query(filters): Query<Filters>) -> Response {
    const MAX_ROWS: usize = 100_000;
    let names = match names(&t).await {
        Ok(names) => names,
        Err(failure) => return t.failure(failure),
    };
    let mut out = String::from(
        "id,time,key,route,model,upstream_model,method,status,latency_ms,input_tokens,cached_input_tokens,cache_write_tokens,output_tokens,tokens_estimated,cost_usd,error,mcp_tool\n",
    );
    let mut before: Option<String> = None;
    let mut rows = 0;
    loop {
        let page: UsagePage = match t
            .ctx
            .api
            .get(&t.api_path(&format!(
                "/usage?{}",
                filters.api_query(1000, before.as_deref())
            )))
            .await
        {
            Ok(page) => page,
            Err(failure) => return t.failure(failure),
        };
        for e in &page.events {
            let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{:.3},{},{},{},{},{},{},{},{}",
                e.id,
                e.time,
                csv_field(&name_of(&names.keys, &e.key_id)),
                csv_field(&name_of(&names.routes, &e.route_id)),
                csv_field(&name_of(&names.models, &e.model_id)),
                csv_field(e.upstream_model.as_deref().unwrap_or("")),
                e.method,
                e.status,
                e.latency_us as f64 / 1000.0,
                opt(e.input_tokens),
                opt(e.cached_input_tokens),
                opt(e.cache_write_tokens),
                opt(e.output_tokens),
                e.tokens_estimated
                    .map(|b| b.to_string())
                    .unwrap_or_default(),
                e.cost_usd.clone().unwrap_or_default(),
                csv_field(e.error_class.as_deref().unwrap_or("")),
                csv_field(&tool_of(&names, e).unwrap_or_default()),
            );
        }
        rows += page.events.len();
        match page.next_before {
            Some(next) if rows < MAX_ROWS => before = Some(next),
            _ => break,
        }
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"tollgate-usage.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}

/// A CSV field, quoted when needed; a leading formula character is defused for spreadsheets.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
    }

    #[test]
    fn form_times_become_rfc3339() {
        assert_eq!(as_rfc3339("2026-11-29T10:00"), "2026-11-29T10:00:00Z");
        assert_eq!(as_rfc3339("2026-11-29T10:00:00Z"), "2026-11-29T10:00:00Z");
    }
}
