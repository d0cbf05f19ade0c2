//! Services (upstreams): named sets of targets with subsets and an optional active health
//! check, that routes forward to by name.

use axum::extract::Path;
use axum::response::Response;
use axum::Form;
use leptos::prelude::*;
use serde_json::{json, Value};

use super::IdPath;
use crate::ctx::{Flash, TenantCtx};
use crate::forms;
use crate::layout::{escape_textarea, render};
use crate::types::{Role, Service};

pub(crate) async fn list(t: TenantCtx) -> Response {
    let services: Vec<Service> = match t.ctx.api.get(&t.api_path("/services")).await {
        Ok(s) => s,
        Err(failure) => return t.failure(failure),
    };
    let can_manage = t.role() >= Role::Admin;
    let csrf = t.ctx.csrf.clone();
    let base = t.path("/services");
    let body = render(move || {
        view! {
            <div class="page-head"><h1>"Services"</h1></div>
            <p class="muted">"Upstreams that routes forward to by name: their targets (optionally labelled with a subset such as v1 or v2, for canaries), and an active health check that keeps failing targets out of rotation."</p>
            {if services.is_empty() {
                view! { <section class="card empty"><p>"No services yet. Add one below, then point a route at it."</p></section> }.into_any()
            } else {
                let base = base.clone();
                view! {
                    <table>
                        <thead><tr><th>"Name"</th><th>"Targets"</th><th>"Health check"</th><th></th></tr></thead>
                        <tbody>
                            {services.into_iter().map(|s| {
                                let href = format!("{base}/{}", s.id);
                                let targets = s.targets.iter().map(|t| match &t.subset {
                                    Some(subset) => format!("{} ×{} ({subset})", t.url, t.weight),
                                    None => format!("{} ×{}", t.url, t.weight),
                                }).collect::<Vec<_>>().join(", ");
                                let check = s.health_check.as_ref().map_or_else(
                                    || "none".to_string(),
                                    |c| format!("GET {} every {}", c.path, c.interval.clone().unwrap_or_default()),
                                );
                                view! {
                                    <tr>
                                        <td><a href=href.clone()>{s.name.clone()}</a></td>
                                        <td>{targets}</td>
                                        <td>{check}</td>
                                        <td><a href=href>{if can_manage { "Edit" } else { "View" }}</a></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            {can_manage.then(|| view! {
                {super::form_card("Add a service", base.clone(), csrf.clone(), service_fields(None), "Add service")}
            })}
        }
    });
    t.page("Services", body)
}

fn service_fields(service: Option<&Service>) -> impl IntoView {
    let name = service.map(|s| s.name.clone()).unwrap_or_default();
    let targets = service
        .map(|s| {
            s.targets
                .iter()
                .map(|t| {
                    let subset = t.subset.as_deref().unwrap_or_default();
                    format!("{} {} {subset}", t.url, t.weight)
                        .trim_end()
                        .to_string()
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let connect_timeout = service
        .and_then(|s| s.connect_timeout.clone())
        .unwrap_or_default();
    let check = service.and_then(|s| s.health_check.clone());
    let check_path = check.as_ref().map(|c| c.path.clone()).unwrap_or_default();
    let interval = check
        .as_ref()
        .and_then(|c| c.interval.clone())
        .unwrap_or_default();
    let timeout = check
        .as_ref()
        .and_then(|c| c.timeout.clone())
        .unwrap_or_default();
    let healthy = check
        .as_ref()
        .map(|c| c.healthy_threshold.to_string())
        .unwrap_or_default();
    let unhealthy = check
        .as_ref()
        .map(|c| c.unhealthy_threshold.to_string())
        .unwrap_or_default();
    view! {
        <label for="name">"Name"</label>
        <input id="name" name="name" required value=name placeholder="orders"/>
        <label for="targets">"Targets"</label>
        <textarea id="targets" name="targets" rows="3" required placeholder="http://orders-v1:8080 1 v1\nhttp://orders-v2:8080 1 v2">{escape_textarea(&targets)}</textarea>
        <p class="hint">"One per line: upstream URL, its weight (default 1), and optionally a subset label that routes can split traffic by."</p>
        <label for="connect_timeout">"Connect timeout"</label>
        <input id="connect_timeout" name="connect_timeout" value=connect_timeout placeholder="5s"/>
        <label for="check_path">"Health check path"</label>
        <input id="check_path" name="check_path" value=check_path placeholder="/healthz (empty: no active check)"/>
        <label for="check_interval">"Check every"</label>
        <input id="check_interval" name="check_interval" value=interval placeholder="10s"/>
        <label for="check_timeout">"Check timeout"</label>
        <input id="check_timeout" name="check_timeout" value=timeout placeholder="2s"/>
        <label for="unhealthy_threshold">"Failures to take out"</label>
        <input id="unhealthy_threshold" name="unhealthy_threshold" inputmode="numeric" value=unhealthy placeholder="3"/>
        <label for="healthy_threshold">"Passes to bring back"</label>
        <input id="healthy_threshold" name="healthy_threshold" inputmode="numeric" value=healthy placeholder="2"/>
        <p class="hint wide">"With a path, each target is asked for it with GET; an answer below 500 passes. A target that fails the given number of checks in a row gets no traffic until it passes again."</p>
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct ServiceForm {
    name: String,
    targets: String,
    #[serde(default)]
    connect_timeout: String,
    #[serde(default)]
    check_path: String,
    #[serde(default)]
    check_interval: String,
    #[serde(default)]
    check_timeout: String,
    #[serde(default)]
    healthy_threshold: String,
    #[serde(default)]
    unhealthy_threshold: String,
}

fn service_json(form: &ServiceForm) -> Result<Value, String> {
    let mut targets = Vec::new();
    for (line, words) in forms::rows(&form.targets) {
        let url = words.first().copied().unwrap_or_default();
        let weight = forms::number::<u32>(
            &format!("Targets, line {line}, weight"),
            words.get(1).unwrap_or(&""),
        )?;
        let mut target = json!({"url": url, "weight": weight.unwrap_or(1)});
        if let Some(subset) = words.get(2) {
            target["subset"] = json!(subset);
        }
        targets.push(target);
    }
    let health_check = match forms::opt(&form.check_path) {
        None => Value::Null,
        Some(path) => json!({
            "path": path,
            "interval": forms::opt(&form.check_interval),
            "timeout": forms::opt(&form.check_timeout),
            "healthy_threshold": forms::number::<u32>("Passes to bring back", &form.healthy_threshold)?.unwrap_or(2),
            "unhealthy_threshold": forms::number::<u32>("Failures to take out", &form.unhealthy_threshold)?.unwrap_or(3),
        }),
    };
    Ok(json!({
        "name": form.name.trim(),
        "targets": targets,
        "connect_timeout": forms::opt(&form.connect_timeout),
        "health_check": health_check,
    }))
}

pub(crate) async fn create(t: TenantCtx, Form(form): Form<ServiceForm>) -> Response {
    let back = t.path("/services");
    let body = match service_json(&form) {
        Ok(body) => body,
        Err(message) => return t.ctx.redirect(&back, Some(Flash::Error(message))),
    };
    let result = t
        .ctx
        .api
        .post::<Service>(&t.api_path("/services"), &body)
        .await;
    t.after(&back, result, |s| {
        format!(
            "Service \u{201c}{}\u{201d} added; point a route at it by name.",
            s.name
        )
    })
}

pub(crate) async fn edit(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    let service: Service = match t.ctx.api.get(&t.api_path(&format!("/services/{id}"))).await {
        Ok(s) => s,
        Err(failure) => return t.failure(failure),
    };
    let openapi: Option<Value> = match t
        .ctx
        .api
        .get(&t.api_path(&format!("/services/{id}/openapi")))
        .await
    {
        Ok(document) => Some(document),
        Err(failure) if failure.status == axum::http::StatusCode::NOT_FOUND => None,
        Err(failure) => return t.failure(failure),
    };
    let can_manage = t.role() >= Role::Admin;
    let csrf = t.ctx.csrf.clone();
    let action = t.path(&format!("/services/{id}"));
    let back = t.path("/services");
    let title = format!("Service {}", service.name);
    let openapi_card = openapi_card(
        openapi,
        format!("{action}/openapi"),
        csrf.clone(),
        can_manage,
    );
    let body = render(move || {
        view! {
            <div class="page-head"><h1>{format!("Service \u{201c}{}\u{201d}", service.name)}</h1><a href=back.clone()>"All services"</a></div>
            <section class="card">
                <form method="post" action=action.clone() class="grid-form">
                    <input type="hidden" name="csrf" value=csrf.clone()/>
                    <fieldset disabled=!can_manage class="wide" style="border:0;padding:0;margin:0;display:contents">
                        {service_fields(Some(&service))}
                    </fieldset>
                    {can_manage.then(|| view! { <div class="actions"><button type="submit">"Save"</button></div> })}
                </form>
            </section>
            {openapi_card}
            {can_manage.then(|| view! {
                {super::danger_card("Delete", "Only a service no route forwards to can be deleted.", format!("{action}/delete"), csrf.clone(), "Delete this service?", "Delete service")}
            })}
        }
    });
    t.page(&title, body)
}

/// The service's OpenAPI document: pasted as JSON or YAML, optionally published as MCP tools.
fn openapi_card(
    openapi: Option<Value>,
    action: String,
    csrf: String,
    can_manage: bool,
) -> impl IntoView {
    let published = openapi
        .as_ref()
        .is_some_and(|o| o["publish_as_tools"] == json!(true));
    let tools: Vec<(String, String, String)> = openapi
        .as_ref()
        .and_then(|o| o["tools"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|t| {
            let text = |field: &str| t[field].as_str().unwrap_or_default().to_string();
            (text("name"), text("method"), text("path"))
        })
        .collect();
    let document = openapi
        .as_ref()
        .map(|o| serde_json::to_string_pretty(&o["document"]).unwrap_or_default())
        .unwrap_or_default();
    view! {
        <section class="card">
            <h2>"OpenAPI document"</h2>
            <p class="muted">"The service's API description (OpenAPI 3, JSON or YAML). Published as MCP tools, each operation becomes a tool of the routes that forward here (" <code>"/mcp/rest-apis"</code> " on the proxy), for keys that may use those routes."</p>
            {(!tools.is_empty()).then(|| view! {
                <table class="compact">
                    <thead><tr><th>"Tool"</th><th>"Operation"</th></tr></thead>
                    <tbody>
                        {tools.into_iter().map(|(name, method, path)| view! {
                            <tr><td><code>{name}</code></td><td>{format!("{method} {path}")}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
            {can_manage.then(|| view! {
                <form method="post" action=action class="grid-form">
                    <input type="hidden" name="csrf" value=csrf/>
                    <label for="document">"Document"</label>
                    <textarea id="document" name="document" rows="12" placeholder="openapi: 3.1.0">{escape_textarea(&document)}</textarea>
                    <label class="check"><input type="checkbox" name="publish_as_tools" value="true" checked=published/>" Publish its operations as MCP tools"</label>
                    <div class="actions"><button type="submit">"Save document"</button></div>
                </form>
            })}
        </section>
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct OpenApiForm {
    document: String,
    #[serde(default)]
    publish_as_tools: Option<String>,
}

pub(crate) async fn save_openapi(
    t: TenantCtx,
    Path(IdPath { id }): Path<IdPath>,
    Form(form): Form<OpenApiForm>,
) -> Response {
    let body =
        json!({"document": form.document, "publish_as_tools": form.publish_as_tools.is_some()});
    let result = t
        .ctx
        .api
        .send(
            axum::http::Method::PUT,
            &t.api_path(&format!("/services/{id}/openapi")),
            Some(&body),
        )
        .await;
    t.after(&t.path(&format!("/services/{id}")), result, |()| {
        "OpenAPI document saved.".to_string()
    })
}

pub(crate) async fn update(
    t: TenantCtx,
    Path(IdPath { id }): Path<IdPath>,
    Form(form): Form<ServiceForm>,
) -> Response {
    super::save(
        &t,
        &format!("/services/{id}"),
        service_json(&form),
        |s: Service| format!("Service \u{201c}{}\u{201d} saved.", s.name),
    )
    .await
}

pub(crate) async fn delete(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    super::delete_item(&t, "services", &id, "Service deleted.").await
}
