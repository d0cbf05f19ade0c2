//! The developer portal: the catalog (search, tags), a product's page (its contents, plans and
//! operations; subscribe), the tenant's applications (keys, subscriptions, usage and cost by
//! product), and for the tenant's admins the products it publishes and the requests to decide.

use axum::extract::{Path, Query};
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
use crate::types::Role;

fn text(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_default().to_string()
}

fn names(value: &Value, field: &str) -> String {
    value[field]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a product holds, in a line.
fn contents(product: &Value) -> String {
    [
        ("routes", "routes"),
        ("models", "models"),
        ("prompt_apis", "prompt APIs"),
        ("mcp_servers", "MCP servers"),
    ]
    .iter()
    .filter_map(|(field, label)| {
        let list = names(product, field);
        (!list.is_empty()).then(|| format!("{label}: {list}"))
    })
    .collect::<Vec<_>>()
    .join(" · ")
}

/// A plan's terms, in a line.
fn terms(plan: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(rpm) = plan["limits"]["requests_per_minute"].as_i64() {
        parts.push(format!("{} requests/min", format::count(rpm)));
    }
    if let Some(tpm) = plan["limits"]["tokens_per_minute"].as_i64() {
        parts.push(format!("{} tokens/min", format::count(tpm)));
    }
    if let Some(amount) = plan["budget"]["amount_usd"].as_str() {
        parts.push(format!(
            "{} per {}",
            format::usd(amount),
            plan["budget"]["period"].as_str().unwrap_or("month")
        ));
    }
    if parts.is_empty() {
        "no limits".into()
    } else {
        parts.join(", ")
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct CatalogFilters {
    #[serde(default)]
    search: String,
    #[serde(default)]
    tag: String,
}

pub(crate) async fn home(t: TenantCtx, Query(filters): Query<CatalogFilters>) -> Response {
    let mut query = Vec::new();
    if let Some(search) = forms::opt(&filters.search) {
        query.push(format!("search={}", urlencode(&search)));
    }
    if let Some(tag) = forms::opt(&filters.tag) {
        query.push(format!("tag={}", urlencode(&tag)));
    }
    let catalog: Vec<Value> = match t
        .ctx
        .api
        .get(&t.api_path(&format!("/catalog?{}", query.join("&"))))
        .await
    {
        Ok(catalog) => catalog,
        Err(failure) => return t.failure(failure),
    };
    let applications: Vec<Value> = match t.ctx.api.get(&t.api_path("/applications")).await {
        Ok(applications) => applications,
        Err(failure) => return t.failure(failure),
    };
    let is_admin = t.role() >= Role::Admin;
    let (pending, live, products): (Vec<Value>, Vec<Value>, Vec<Value>) = if is_admin {
        let all: Vec<Value> = match t.ctx.api.get(&t.api_path("/subscriptions")).await {
            Ok(all) => all,
            Err(failure) => return t.failure(failure),
        };
        let (pending, live): (Vec<Value>, Vec<Value>) = all
            .into_iter()
            .filter(|s| {
                matches!(
                    s["status"].as_str(),
                    Some("pending" | "approved" | "suspended")
                )
            })
            .partition(|s| s["status"] == "pending");
        let products = match t.ctx.api.get(&t.api_path("/products")).await {
            Ok(products) => products,
            Err(failure) => return t.failure(failure),
        };
        (pending, live, products)
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    let csrf = t.ctx.csrf.clone();
    let base = t.path("/portal");
    let can_create = t.role() >= Role::Member;
    let body = render(move || {
        view! {
            <div class="page-head"><h1>"Developer portal"</h1></div>
            <p class="muted">"APIs published on this platform: find one, read its terms, subscribe an application, and call it with the application's key once its owners approve."</p>
            <form method="get" action=base.clone() class="card filters">
                <div><label for="search">"Search"</label><input id="search" name="search" value=filters.search.clone() placeholder="orders, summarise…"/></div>
                <div><label for="tag">"Tag"</label><input id="tag" name="tag" value=filters.tag.clone()/></div>
                <div><button type="submit">"Search"</button></div>
            </form>
            <section class="card">
                <h2>"Catalog"</h2>
                {if catalog.is_empty() {
                    view! { <p class="muted">"No product matches."</p> }.into_any()
                } else {
                    view! {
                        <table id="catalog">
                            <thead><tr><th>"API"</th><th>"From"</th><th>"Holds"</th><th>"Tags"</th><th>"Approval"</th></tr></thead>
                            <tbody>
                                {catalog.iter().map(|p| {
                                    let href = format!("{base}/products/{}", text(p, "id"));
                                    view! {
                                        <tr>
                                            <td><a href=href>{text(p, "title")}</a><div class="muted">{text(p, "description")}</div></td>
                                            <td>{p["tenant"]["slug"].as_str().unwrap_or_default().to_string()}</td>
                                            <td>{contents(p)}</td>
                                            <td>{names(p, "tags")}</td>
                                            <td>{text(p, "approval")}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }}
            </section>
            <section class="card">
                <h2>"Your applications"</h2>
                {if applications.is_empty() {
                    view! { <p class="muted">"No application yet. An application holds the keys that call the APIs it subscribes to."</p> }.into_any()
                } else {
                    view! {
                        <ul>
                            {applications.iter().map(|a| {
                                let href = format!("{base}/applications/{}", text(a, "id"));
                                view! { <li><a href=href>{text(a, "name")}</a>" "<span class="muted">{text(a, "description")}</span></li> }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
                {can_create.then(|| view! {
                    <form method="post" action=format!("{base}/applications") class="grid-form">
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        <label for="app_name">"Name"</label>
                        <input id="app_name" name="name" required placeholder="shop-frontend"/>
                        <label for="app_description">"Description"</label>
                        <input id="app_description" name="description"/>
                        <div class="actions"><button type="submit">"Create application"</button></div>
                    </form>
                })}
            </section>
            {is_admin.then(|| view! {
                <section class="card">
                    <h2>"Requests to decide"</h2>
                    {if pending.is_empty() {
                        view! { <p class="muted">"No pending subscription to this tenant's products."</p> }.into_any()
                    } else {
                        view! {
                            <table id="inbox">
                                <thead><tr><th>"Application"</th><th>"Product"</th><th>"Plan"</th><th>"Note"</th><th>"Decision"</th></tr></thead>
                                <tbody>
                                    {pending.iter().map(|s| {
                                        let action = format!("{base}/subscriptions/{}/decision", text(s, "id"));
                                        view! {
                                            <tr>
                                                <td>{format!("{} ({})", text(s, "application_name"), text(s, "consumer_tenant"))}</td>
                                                <td>{text(s, "product_title")}</td>
                                                <td>{text(s, "plan")}</td>
                                                <td>{text(s, "request_note")}</td>
                                                <td>
                                                    <form method="post" action=action class="inline">
                                                        <input type="hidden" name="csrf" value=csrf.clone()/>
                                                        <label class="sr-only" for=format!("note-{}", text(s, "id"))>"Note"</label>
                                                        <input id=format!("note-{}", text(s, "id")) name="note" placeholder="note to the subscriber"/>
                                                        <button type="submit" name="decision" value="approve">"Approve"</button>
                                                        <button type="submit" name="decision" value="reject" class="secondary">"Reject"</button>
                                                    </form>
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any()
                    }}
                </section>
                <section class="card">
                    <h2>"Subscriptions to this tenant's products"</h2>
                    {if live.is_empty() {
                        view! { <p class="muted">"No approved or suspended subscription."</p> }.into_any()
                    } else {
                        view! {
                            <table id="subscribers">
                                <thead><tr><th>"Application"</th><th>"Product"</th><th>"Plan"</th><th>"Status"</th><th></th></tr></thead>
                                <tbody>
                                    {live.iter().map(|s| {
                                        let action = format!("{base}/subscriptions/{}/decision", text(s, "id"));
                                        let suspended = s["status"] == "suspended";
                                        view! {
                                            <tr>
                                                <td>{format!("{} ({})", text(s, "application_name"), text(s, "consumer_tenant"))}</td>
                                                <td>{text(s, "product_title")}</td>
                                                <td>{text(s, "plan")}</td>
                                                <td><span class=format!("status {}", text(s, "status"))>{text(s, "status")}</span></td>
                                                <td>
                                                    <form method="post" action=action class="inline">
                                                        <input type="hidden" name="csrf" value=csrf.clone()/>
                                                        {if suspended {
                                                            view! { <button type="submit" name="decision" value="resume" class="secondary">"Resume"</button> }.into_any()
                                                        } else {
                                                            view! { <button type="submit" name="decision" value="suspend" class="secondary">"Suspend"</button> }.into_any()
                                                        }}
                                                        <button type="submit" name="decision" value="revoke" class="link danger">"Revoke"</button>
                                                    </form>
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any()
                    }}
                </section>
                <section class="card">
                    <h2>"Products this tenant publishes"</h2>
                    {if products.is_empty() {
                        view! { <p class="muted">"None yet."</p> }.into_any()
                    } else {
                        view! {
                            <table>
                                <thead><tr><th>"Product"</th><th>"Holds"</th><th>"Visible to"</th><th>"Approval"</th><th>"Plans"</th></tr></thead>
                                <tbody>
                                    {products.iter().map(|p| {
                                        let visible = match p["visibility"].as_str() {
                                            Some("platform") => "every tenant".to_string(),
                                            Some("tenants") => format!("this tenant, {}", names(p, "visible_to")),
                                            _ => "this tenant".to_string(),
                                        };
                                        let plans = p["plans"].as_array().into_iter().flatten().map(|plan| format!("{}: {}", text(plan, "name"), terms(plan))).collect::<Vec<_>>().join("; ");
                                        view! {
                                            <tr><td>{text(p, "title")}<div class="muted"><code>{text(p, "name")}</code></div></td><td>{contents(p)}</td><td>{visible}</td><td>{text(p, "approval")}</td><td>{plans}</td></tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any()
                    }}
                    <h3>"Publish a product"</h3>
                    <form method="post" action=format!("{base}/products") class="grid-form">
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        <label for="p_name">"Name (slug)"</label><input id="p_name" name="name" required placeholder="orders-api"/>
                        <label for="p_title">"Title"</label><input id="p_title" name="title" required placeholder="Orders API"/>
                        <label for="p_description">"Description"</label><textarea id="p_description" name="description" rows="3"></textarea>
                        <label for="p_tags">"Tags"</label><input id="p_tags" name="tags" placeholder="commerce, orders"/>
                        <label for="p_routes">"Routes"</label><input id="p_routes" name="routes" placeholder="route names"/>
                        <label for="p_models">"Models"</label><input id="p_models" name="models" placeholder="model names"/>
                        <label for="p_prompt_apis">"Prompt APIs"</label><input id="p_prompt_apis" name="prompt_apis" placeholder="slugs"/>
                        <label for="p_mcp_servers">"MCP servers"</label><input id="p_mcp_servers" name="mcp_servers" placeholder="server names"/>
                        <label for="p_visibility">"Visible to"</label>
                        <select id="p_visibility" name="visibility">
                            <option value="tenant">"this tenant"</option>
                            <option value="platform">"every tenant"</option>
                            <option value="tenants">"this tenant and those named below"</option>
                        </select>
                        <label for="p_visible_to">"Tenants (slugs)"</label><input id="p_visible_to" name="visible_to"/>
                        <label for="p_approval">"Subscriptions"</label>
                        <select id="p_approval" name="approval">
                            <option value="manual">"approved by an admin"</option>
                            <option value="automatic">"approved at once"</option>
                        </select>
                        <label for="p_plan">"Plan"</label><input id="p_plan" name="plan" value="standard" required/>
                        <label for="p_rpm">"Plan: requests per minute"</label><input id="p_rpm" name="requests_per_minute" inputmode="numeric" placeholder="no limit"/>
                        <label for="p_tpm">"Plan: tokens per minute"</label><input id="p_tpm" name="tokens_per_minute" inputmode="numeric" placeholder="no limit"/>
                        <label for="p_budget">"Plan: budget (USD per month)"</label><input id="p_budget" name="budget_usd" inputmode="decimal" placeholder="no budget"/>
                        <div class="actions"><button type="submit">"Publish"</button></div>
                    </form>
                </section>
            })}
        }
    });
    t.page("Developer portal", body)
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub(crate) async fn product(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    render_product(t, id, None).await
}

/// What a try-it call answered.
struct Tried {
    request: TryForm,
    status: u16,
    latency_ms: f64,
    body: String,
}

async fn render_product(t: TenantCtx, id: String, tried: Option<Tried>) -> Response {
    let product: Value = match t.ctx.api.get(&t.api_path(&format!("/catalog/{id}"))).await {
        Ok(product) => product,
        Err(failure) => return t.failure(failure),
    };
    let applications: Vec<Value> = match t.ctx.api.get(&t.api_path("/applications")).await {
        Ok(applications) => applications,
        Err(failure) => return t.failure(failure),
    };
    let operations: Vec<(String, String, String)> = product["openapi"]["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            ["get", "post", "put", "patch", "delete"]
                .into_iter()
                .filter_map(|method| {
                    let operation = item.get(method)?;
                    Some((
                        method.to_uppercase(),
                        path.clone(),
                        operation["summary"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    ))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let csrf = t.ctx.csrf.clone();
    let base = t.path("/portal");
    let proxy = t.ctx.proxy_url.trim_end_matches('/').to_string();
    let can_subscribe = t.role() >= Role::Member && !applications.is_empty();
    let title = text(&product, "title");
    let docs_href = format!("{base}/products/{}/docs", text(&product, "id"));
    let try_action = format!("{base}/products/{}/try", text(&product, "id"));
    let first_model = product["models"][0].as_str().map(str::to_string);
    let (try_method, try_path, try_body) = match &tried {
        Some(tried) => (
            tried.request.method.clone(),
            tried.request.path.clone(),
            tried.request.body.clone(),
        ),
        None => match &first_model {
            Some(model) => (
                "POST".to_string(),
                "/v1/chat/completions".to_string(),
                format!("{{\"model\": \"{model}\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hello\"}}]}}"),
            ),
            None => ("GET".to_string(), "/".to_string(), String::new()),
        },
    };
    let plans: Vec<Value> = product["plans"].as_array().cloned().unwrap_or_default();
    let examples: Vec<String> = [
        product["routes"].as_array().filter(|r| !r.is_empty()).map(|_| format!("curl {proxy}/… -H 'Authorization: Bearer $APP_KEY'  # a route of the product")),
        product["models"].as_array().and_then(|m| m.first()).and_then(Value::as_str).map(|m| format!("curl {proxy}/v1/chat/completions -H 'Authorization: Bearer $APP_KEY' -d '{{\"model\": \"{m}\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hello\"}}]}}'")),
        product["prompt_apis"].as_array().and_then(|m| m.first()).and_then(Value::as_str).map(|s| format!("curl {proxy}/prompts/{s} -H 'Authorization: Bearer $APP_KEY' -d '{{…variables…}}'")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let body = render(move || {
        view! {
            <div class="page-head"><h1>{text(&product, "title")}</h1><a href=base.clone()>"Catalog"</a></div>
            <p>{text(&product, "description")}</p>
            <section class="card">
                <dl class="facts">
                    <dt>"Published by"</dt><dd>{product["tenant"]["name"].as_str().unwrap_or_default().to_string()}</dd>
                    <dt>"Holds"</dt><dd>{contents(&product)}</dd>
                    <dt>"Tags"</dt><dd>{names(&product, "tags")}</dd>
                    <dt>"Subscriptions"</dt><dd>{if product["approval"] == "automatic" { "approved at once" } else { "approved by the publisher's admins" }}</dd>
                </dl>
            </section>
            <section class="card">
                <h2>"Plans"</h2>
                <table><thead><tr><th>"Plan"</th><th>"Terms"</th><th>"About"</th></tr></thead>
                    <tbody>{plans.iter().map(|p| view! { <tr><td>{text(p, "name")}</td><td>{terms(p)}</td><td>{text(p, "description")}</td></tr> }).collect_view()}</tbody>
                </table>
            </section>
            {(!operations.is_empty()).then(|| view! {
                <section class="card">
                    <h2>"Operations"</h2>
                    <table id="operations"><thead><tr><th>"Method"</th><th>"Path"</th><th>"Summary"</th></tr></thead>
                        <tbody>{operations.iter().map(|(m, p, s)| view! { <tr><td><code>{m.clone()}</code></td><td><code>{p.clone()}</code></td><td>{s.clone()}</td></tr> }).collect_view()}</tbody>
                    </table>
                </section>
            })}
            <section class="card">
                <h2>"Calling it"</h2>
                <p class="muted">"With a key of an application whose subscription is approved. "<a href=docs_href>"API reference"</a></p>
                <pre>{examples.join("\n")}</pre>
            </section>
            <section class="card">
                <h2>"Try it"</h2>
                <p class="muted">"Calls the proxy with your application's key (used for this call only, never stored)."</p>
                <form method="post" action=try_action class="grid-form" id="try-it">
                    <input type="hidden" name="csrf" value=csrf.clone()/>
                    <label for="t_key">"Application key"</label>
                    <input id="t_key" name="key" type="password" autocomplete="off" required placeholder="tg_…"/>
                    <label for="t_method">"Method"</label>
                    <select id="t_method" name="method">
                        {["GET", "POST", "PUT", "PATCH", "DELETE"].into_iter().map(|m| {
                            let selected = m == try_method;
                            view! { <option value=m selected=selected>{m}</option> }
                        }).collect_view()}
                    </select>
                    <label for="t_path">"Path"</label>
                    <input id="t_path" name="path" required value=try_path/>
                    <label for="t_body">"JSON body"</label>
                    <textarea id="t_body" name="body" rows="4">{crate::layout::escape_textarea(&try_body)}</textarea>
                    <div class="actions"><button type="submit">"Send"</button></div>
                </form>
                {tried.map(|tried| view! {
                    <div id="try-result">
                        <p>{format!("HTTP {} in {:.1} ms", tried.status, tried.latency_ms)}</p>
                        <pre>{tried.body}</pre>
                    </div>
                })}
            </section>
            {can_subscribe.then(|| view! {
                <section class="card">
                    <h2>"Subscribe"</h2>
                    <form method="post" action=format!("{base}/products/{}/subscribe", text(&product, "id")) class="grid-form">
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        <label for="s_app">"Application"</label>
                        <select id="s_app" name="application">
                            {applications.iter().map(|a| view! { <option value=text(a, "id")>{text(a, "name")}</option> }).collect_view()}
                        </select>
                        <label for="s_plan">"Plan"</label>
                        <select id="s_plan" name="plan">
                            {plans.iter().map(|p| view! { <option value=text(p, "name")>{text(p, "name")}</option> }).collect_view()}
                        </select>
                        <label for="s_note">"Note for the publisher"</label>
                        <input id="s_note" name="note" placeholder="what you will use it for"/>
                        <div class="actions"><button type="submit">"Subscribe"</button></div>
                    </form>
                </section>
            })}
        }
    });
    t.page(&title, body)
}

/// The product's API reference: Swagger UI on its OpenAPI document.
pub(crate) async fn docs(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    let product: Value = match t.ctx.api.get(&t.api_path(&format!("/catalog/{id}"))).await {
        Ok(product) => product,
        Err(failure) => return t.failure(failure),
    };
    let title = crate::layout::escape_textarea(&text(&product, "title"));
    let spec = crate::layout::escape_textarea(&t.api_path(&format!("/catalog/{id}/openapi.json")));
    let back = crate::layout::escape_textarea(&t.path(&format!("/portal/products/{id}")));
    t.ctx.standalone(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · API reference · Tollgate</title>\
         <link rel=\"stylesheet\" href=\"/api/docs/swagger-ui.css\"></head><body>\
         <p style=\"font-family:sans-serif;margin:1rem\"><a href=\"{back}\">← {title}</a></p>\
         <div id=\"swagger\" data-spec=\"{spec}\"></div>\
         <script src=\"/api/docs/swagger-ui-bundle.js\"></script>\
         <script src=\"/assets/portal-docs.js\"></script></body></html>"
    ))
}

#[derive(Deserialize, Clone)]
pub(crate) struct TryForm {
    key: String,
    method: String,
    path: String,
    #[serde(default)]
    body: String,
}

/// Sends the try-it request to the proxy with the reader's key.
pub(crate) async fn try_it(
    t: TenantCtx,
    Path(IdPath { id }): Path<IdPath>,
    Form(form): Form<TryForm>,
) -> Response {
    let path = form.path.trim();
    let (status, latency_ms, body) = if !path.starts_with('/') || path.starts_with("//") {
        (
            0,
            0.0,
            "The path starts with / (like /v1/chat/completions).".to_string(),
        )
    } else {
        let method =
            reqwest::Method::from_bytes(form.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let url = format!("{}{path}", t.ctx.proxy_internal_url);
        let mut request = t
            .ctx
            .http
            .request(method, &url)
            .bearer_auth(form.key.trim());
        if let Some(body) = forms::opt(&form.body) {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let started = std::time::Instant::now();
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                let shown = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| serde_json::to_string_pretty(&v).ok())
                    .unwrap_or(text);
                let shown: String = shown.chars().take(20_000).collect();
                (status, started.elapsed().as_secs_f64() * 1000.0, shown)
            }
            Err(err) => (0, 0.0, format!("Could not reach the proxy at {url}: {err}")),
        }
    };
    let tried = Tried {
        request: TryForm {
            key: String::new(),
            ..form
        },
        status,
        latency_ms,
        body,
    };
    render_product(t, id, Some(tried)).await
}

#[derive(Deserialize)]
pub(crate) struct SubscribeForm {
    application: String,
    plan: String,
    #[serde(default)]
    note: String,
}

pub(crate) async fn subscribe(
    t: TenantCtx,
    Path(IdPath { id }): Path<IdPath>,
    Form(form): Form<SubscribeForm>,
) -> Response {
    let body = json!({"product_id": id, "plan": form.plan, "note": form.note});
    let result = t
        .ctx
        .api
        .post::<Value>(
            &t.api_path(&format!("/applications/{}/subscriptions", form.application)),
            &body,
        )
        .await;
    match result {
        Ok(subscription) => {
            let status = text(&subscription, "status");
            let message = if status == "approved" {
                "Subscribed: the application's keys may call it now.".to_string()
            } else {
                "Requested: the publisher's admins will approve or reject it.".to_string()
            };
            t.ctx.redirect(
                &t.path(&format!("/portal/applications/{}", form.application)),
                Some(Flash::Success(message)),
            )
        }
        Err(failure) => t.refused(&t.path(&format!("/portal/products/{id}")), failure),
    }
}

#[derive(Deserialize)]
pub(crate) struct ApplicationForm {
    name: String,
    #[serde(default)]
    description: String,
}

pub(crate) async fn create_application(
    t: TenantCtx,
    Form(form): Form<ApplicationForm>,
) -> Response {
    let body = json!({"name": form.name.trim(), "description": form.description.trim()});
    match t
        .ctx
        .api
        .post::<Value>(&t.api_path("/applications"), &body)
        .await
    {
        Ok(application) => t.ctx.redirect(
            &t.path(&format!(
                "/portal/applications/{}",
                text(&application, "id")
            )),
            Some(Flash::Success("Application created.".into())),
        ),
        Err(failure) => t.refused(&t.path("/portal"), failure),
    }
}

pub(crate) async fn application(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    render_application(t, id, None).await
}

async fn render_application(t: TenantCtx, id: String, secret: Option<String>) -> Response {
    let application: Value = match t
        .ctx
        .api
        .get(&t.api_path(&format!("/applications/{id}")))
        .await
    {
        Ok(application) => application,
        Err(failure) => return t.failure(failure),
    };
    let usage: Value = match t
        .ctx
        .api
        .get(&t.api_path(&format!("/applications/{id}/usage")))
        .await
    {
        Ok(usage) => usage,
        Err(failure) => return t.failure(failure),
    };
    let csrf = t.ctx.csrf.clone();
    let base = t.path(&format!("/portal/applications/{id}"));
    let back = t.path("/portal");
    let name = text(&application, "name");
    let keys: Vec<Value> = application["keys"].as_array().cloned().unwrap_or_default();
    let subscriptions: Vec<Value> = application["subscriptions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let by_product: Vec<Value> = usage["by_product"].as_array().cloned().unwrap_or_default();
    let total = usage["total"].clone();
    let (calls_chart, cost_chart) = hourly_charts(&usage);
    let can_manage = t.role() >= Role::Member;
    let body = render(move || {
        view! {
            <div class="page-head"><h1>{format!("Application \u{201c}{}\u{201d}", text(&application, "name"))}</h1><a href=back.clone()>"Portal"</a></div>
            <p class="muted">{text(&application, "description")}</p>
            {secret.map(|secret| view! {
                <section class="card secret" aria-live="polite">
                    <h2>"New key"</h2>
                    <p class="warning">"Copy this secret now. It will not be shown again."</p>
                    <div class="copy-row"><code id="new-secret" class="secret-value">{secret}</code><button type="button" class="secondary" data-copy="#new-secret">"Copy"</button></div>
                </section>
            })}
            <section class="card">
                <h2>"Subscriptions"</h2>
                {if subscriptions.is_empty() {
                    view! { <p class="muted">"None yet: find an API in the catalog and subscribe."</p> }.into_any()
                } else {
                    view! {
                        <table id="subscriptions">
                            <thead><tr><th>"Product"</th><th>"From"</th><th>"Plan"</th><th>"Status"</th><th>"Note"</th><th></th></tr></thead>
                            <tbody>
                                {subscriptions.iter().map(|s| {
                                    let live = matches!(s["status"].as_str(), Some("pending" | "approved" | "suspended"));
                                    let cancel = format!("{base}/subscriptions/{}/cancel", text(s, "id"));
                                    view! {
                                        <tr>
                                            <td>{text(s, "product_title")}</td>
                                            <td>{text(s, "provider_tenant")}</td>
                                            <td>{text(s, "plan")}</td>
                                            <td><span class=format!("status {}", text(s, "status"))>{text(s, "status")}</span></td>
                                            <td>{text(s, "decision_note")}</td>
                                            <td>{(live && can_manage).then(|| view! {
                                                <form method="post" action=cancel class="inline" data-confirm="End this subscription?">
                                                    <input type="hidden" name="csrf" value=csrf.clone()/>
                                                    <button type="submit" class="link danger">"Cancel"</button>
                                                </form>
                                            })}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }}
            </section>
            <section class="card">
                <h2>"Usage and cost (last 24 hours)"</h2>
                <p>{
                    let calls = total["requests"].as_i64().unwrap_or(0);
                    let errors = total["client_errors"].as_i64().unwrap_or(0) + total["server_errors"].as_i64().unwrap_or(0);
                    format!("{} {}, {} {}, {}", format::count(calls), if calls == 1 { "call" } else { "calls" }, format::count(errors), if errors == 1 { "error" } else { "errors" }, format::usd(total["cost_usd"].as_str().unwrap_or("0")))
                }</p>
                <div class="chart-row">
                    <div inner_html=calls_chart></div>
                    <div inner_html=cost_chart></div>
                </div>
                {(!by_product.is_empty()).then(|| view! {
                    <table id="app-usage">
                        <thead><tr><th>"Product"</th><th class="num">"Calls"</th><th class="num">"Tokens"</th><th class="num">"p95"</th><th class="num">"Cost"</th></tr></thead>
                        <tbody>
                            {by_product.iter().map(|p| view! {
                                <tr>
                                    <td>{text(p, "name")}</td>
                                    <td class="num">{format::count(p["requests"].as_i64().unwrap_or(0))}</td>
                                    <td class="num">{format::count(p["input_tokens"].as_i64().unwrap_or(0) + p["output_tokens"].as_i64().unwrap_or(0))}</td>
                                    <td class="num">{format::ms(p["p95_ms"].as_f64().unwrap_or(0.0))}</td>
                                    <td class="num">{format::usd(p["cost_usd"].as_str().unwrap_or("0"))}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                })}
            </section>
            <section class="card">
                <h2>"Keys"</h2>
                <p class="muted">"An application's keys reach what its approved subscriptions grant, and nothing else."</p>
                <ul>
                    {keys.iter().map(|k| view! { <li><code>{format!("{}…", text(k, "prefix"))}</code>" "{text(k, "name")}" "<span class="muted">{text(k, "status")}</span></li> }).collect_view()}
                </ul>
                {can_manage.then(|| view! {
                    <form method="post" action=format!("{base}/keys") class="grid-form">
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        <label for="k_name">"Key name"</label><input id="k_name" name="name" required placeholder="production"/>
                        <div class="actions"><button type="submit">"Create key"</button></div>
                    </form>
                })}
            </section>
        }
    });
    t.page(&format!("Application {name}"), body)
}

/// Calls and cost per hour over the last 24 hours, as the dashboard draws them.
fn hourly_charts(usage: &Value) -> (String, String) {
    use crate::charts::{self, Axis, Chart, Series, PALETTE};
    use time::format_description::well_known::Rfc3339;
    use time::{Duration, OffsetDateTime, Time};
    let now = OffsetDateTime::now_utc();
    let this_hour = now.replace_time(Time::from_hms(now.hour(), 0, 0).unwrap_or(Time::MIDNIGHT));
    let hours: Vec<OffsetDateTime> = (0..24)
        .rev()
        .map(|back| this_hour - Duration::hours(back))
        .collect();
    let mut calls = vec![0.0; hours.len()];
    let mut cost = vec![0.0; hours.len()];
    for point in usage["series"].as_array().into_iter().flatten() {
        let Some(time) = point["time"]
            .as_str()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        else {
            continue;
        };
        if let Some(i) = hours.iter().position(|h| *h == time) {
            calls[i] = point["requests"].as_f64().unwrap_or(0.0);
            cost[i] = format::usd_value(point["cost_usd"].as_str().unwrap_or("0"));
        }
    }
    let labels: Vec<String> = hours
        .iter()
        .map(|h| format!("{:02}:00", h.hour()))
        .collect();
    let calls = charts::stacked_bars(&Chart {
        title: "Calls",
        labels: labels.clone(),
        series: vec![Series::new("calls", PALETTE[0], calls)],
        axis: Axis::Count,
    });
    let cost = charts::stacked_bars(&Chart {
        title: "Cost (USD)",
        labels,
        series: vec![Series::new("cost", PALETTE[1], cost)],
        axis: Axis::Usd,
    });
    (calls, cost)
}

#[derive(Deserialize)]
pub(crate) struct KeyForm {
    name: String,
}

pub(crate) async fn create_key(
    t: TenantCtx,
    Path(IdPath { id }): Path<IdPath>,
    Form(form): Form<KeyForm>,
) -> Response {
    match t
        .ctx
        .api
        .post::<Value>(
            &t.api_path(&format!("/applications/{id}/keys")),
            &json!({"name": form.name.trim()}),
        )
        .await
    {
        Ok(created) => {
            let secret = text(&created, "secret");
            render_application(t, id, Some(secret)).await
        }
        Err(failure) => t.refused(&t.path(&format!("/portal/applications/{id}")), failure),
    }
}

#[derive(Deserialize)]
pub(crate) struct SubscriptionPath {
    id: String,
    subscription: String,
}

pub(crate) async fn cancel(t: TenantCtx, Path(path): Path<SubscriptionPath>) -> Response {
    let result = t
        .ctx
        .api
        .send(
            Method::DELETE,
            &t.api_path(&format!(
                "/applications/{}/subscriptions/{}",
                path.id, path.subscription
            )),
            None,
        )
        .await;
    t.after(
        &t.path(&format!("/portal/applications/{}", path.id)),
        result,
        |()| "Subscription ended.".into(),
    )
}

#[derive(Deserialize)]
pub(crate) struct DecisionForm {
    decision: String,
    #[serde(default)]
    note: String,
}

pub(crate) async fn decide(
    t: TenantCtx,
    Path(IdPath { id }): Path<IdPath>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let body = json!({"decision": form.decision, "note": form.note});
    let result = t
        .ctx
        .api
        .post::<Value>(&t.api_path(&format!("/subscriptions/{id}/decision")), &body)
        .await;
    t.after(&t.path("/portal"), result, |s| {
        format!(
            "{} for {}: {}.",
            text(&s, "product_title"),
            text(&s, "application_name"),
            text(&s, "status")
        )
    })
}

#[derive(Deserialize)]
pub(crate) struct ProductForm {
    name: String,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    routes: String,
    #[serde(default)]
    models: String,
    #[serde(default)]
    prompt_apis: String,
    #[serde(default)]
    mcp_servers: String,
    visibility: String,
    #[serde(default)]
    visible_to: String,
    approval: String,
    plan: String,
    #[serde(default)]
    requests_per_minute: String,
    #[serde(default)]
    tokens_per_minute: String,
    #[serde(default)]
    budget_usd: String,
}

impl ProductForm {
    fn to_json(&self) -> Result<Value, String> {
        let budget = forms::opt(&self.budget_usd)
            .map(|amount| json!({"amount_usd": amount, "period": "month"}));
        Ok(json!({
            "name": self.name.trim(), "title": self.title.trim(),
            "description": self.description.trim(), "tags": forms::list(&self.tags),
            "routes": forms::list(&self.routes), "models": forms::list(&self.models),
            "prompt_apis": forms::list(&self.prompt_apis), "mcp_servers": forms::list(&self.mcp_servers),
            "visibility": self.visibility, "visible_to": forms::list(&self.visible_to),
            "approval": self.approval,
            "plans": [{
                "name": self.plan.trim(),
                "limits": {
                    "requests_per_minute": forms::number::<i64>("Requests per minute", &self.requests_per_minute)?,
                    "tokens_per_minute": forms::number::<i64>("Tokens per minute", &self.tokens_per_minute)?,
                },
                "budget": budget,
            }],
        }))
    }
}

pub(crate) async fn create_product(t: TenantCtx, Form(form): Form<ProductForm>) -> Response {
    let back = t.path("/portal");
    let body = match form.to_json() {
        Ok(body) => body,
        Err(message) => return t.ctx.redirect(&back, Some(Flash::Error(message))),
    };
    let result = t
        .ctx
        .api
        .post::<Value>(&t.api_path("/products"), &body)
        .await;
    t.after(&back, result, |p| {
        format!("Product \u{201c}{}\u{201d} published.", text(&p, "title"))
    })
}
