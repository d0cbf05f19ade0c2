//! REST routes: hosts, path, methods, weighted targets, timeouts and retries.

use axum::extract::Path;
use axum::response::Response;
use axum::Form;
use leptos::prelude::*;
use serde_json::{json, Value};

use super::IdPath;
use crate::ctx::{Flash, TenantCtx};
use crate::forms;
use crate::layout::{escape_textarea, render};
use crate::types::{Role, Route};

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

pub(crate) async fn list(t: TenantCtx) -> Response {
    let routes: Vec<Route> = match t.ctx.api.get(&t.api_path("/routes")).await {
        Ok(r) => r,
        Err(failure) => return t.failure(failure),
    };
    let namespace: Value = t
        .ctx
        .api
        .get(&t.api_path("/namespace"))
        .await
        .unwrap_or(Value::Null);
    let space = namespace_text(&namespace);
    let can_manage = t.role() >= Role::Admin;
    let csrf = t.ctx.csrf.clone();
    let base = t.path("/routes");
    let body = render(move || {
        view! {
            <div class="page-head"><h1>"Routes"</h1></div>
            <p class="muted">"Requests the proxy forwards to your upstream services, matched on host, path and method."</p>
            <p class="hint" id="namespace">{space}</p>
            {if routes.is_empty() {
                view! { <section class="card empty"><p>"No routes yet. Add one below to put an upstream service behind the proxy."</p></section> }.into_any()
            } else {
                let base = base.clone();
                view! {
                    <table>
                        <thead><tr><th>"Name"</th><th>"Match"</th><th>"Targets"</th><th>"Timeout"</th><th class="num">"Retries"</th><th>"Key"</th><th></th></tr></thead>
                        <tbody>
                            {routes.into_iter().map(|r| {
                                let href = format!("{base}/{}", r.id);
                                let s = r.spec;
                                let hosts = if s.hosts.is_empty() { "any host".to_string() } else { s.hosts.join(", ") };
                                let methods = if s.methods.is_empty() { "any method".to_string() } else { s.methods.join(" ") };
                                let matching = format!("{methods} {hosts} {} ({})", s.path, s.path_match);
                                let targets = forwards_to(&s);
                                view! {
                                    <tr>
                                        <td><a href=href.clone()>{s.name.clone()}</a></td>
                                        <td>{matching}</td>
                                        <td>{targets}</td>
                                        <td>{s.timeout.clone().unwrap_or_default()}</td>
                                        <td class="num">{s.retries}</td>
                                        <td>{if s.require_key { "required" } else { "open" }}</td>
                                        <td><a href=href>{if can_manage { "Edit" } else { "View" }}</a></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            {can_manage.then(|| view! {
                {super::form_card("Add a route", base.clone(), csrf.clone(), route_fields(None), "Add route")}
            })}
        }
    });
    t.page("Routes", body)
}

/// Where a route forwards, in a few words.
fn forwards_to(spec: &crate::types::RouteSpec) -> String {
    if let Some(service) = &spec.service {
        return format!("service {service}");
    }
    if !spec.destinations.is_empty() {
        return spec
            .destinations
            .iter()
            .map(|d| match &d.subset {
                Some(subset) => format!("{} {subset} ×{}", d.service, d.weight),
                None => format!("{} ×{}", d.service, d.weight),
            })
            .collect::<Vec<_>>()
            .join(", ");
    }
    spec.targets
        .iter()
        .map(|t| format!("{} ×{}", t.url, t.weight))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where this tenant's routes may live, in words.
fn namespace_text(namespace: &Value) -> String {
    let parts: Vec<String> = namespace["parts"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .map(|p| {
                    let host = p["host"].as_str().unwrap_or("any host");
                    format!("{host} {}", p["path_prefix"].as_str().unwrap_or("/"))
                })
                .collect()
        })
        .unwrap_or_default();
    if parts.is_empty() {
        "This tenant has no part of the request space yet: a platform admin assigns it hosts or \
         path prefixes before its routes can be added."
            .into()
    } else {
        format!("Routes of this tenant may serve: {}.", parts.join("; "))
    }
}

fn route_fields(route: Option<&Route>) -> impl IntoView {
    let spec = route.map(|r| r.spec.clone());
    let name = spec.as_ref().map(|s| s.name.clone()).unwrap_or_default();
    let hosts = spec
        .as_ref()
        .map(|s| s.hosts.join(", "))
        .unwrap_or_default();
    let path = spec.as_ref().map(|s| s.path.clone()).unwrap_or_default();
    let exact = spec.as_ref().is_some_and(|s| s.path_match == "exact");
    let methods = spec.as_ref().map(|s| s.methods.clone()).unwrap_or_default();
    let strip = spec.as_ref().is_some_and(|s| s.strip_prefix);
    let targets = spec
        .as_ref()
        .map(|s| {
            s.targets
                .iter()
                .map(|t| format!("{} {}", t.url, t.weight))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let service = spec
        .as_ref()
        .and_then(|s| s.service.clone())
        .unwrap_or_default();
    let destinations = spec
        .as_ref()
        .map(|s| {
            s.destinations
                .iter()
                .map(|d| {
                    format!(
                        "{} {} {}",
                        d.service,
                        d.subset.as_deref().unwrap_or("*"),
                        d.weight
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let timeout = spec
        .as_ref()
        .and_then(|s| s.timeout.clone())
        .unwrap_or_default();
    let connect_timeout = spec
        .as_ref()
        .and_then(|s| s.connect_timeout.clone())
        .unwrap_or_default();
    let retries = spec.as_ref().map(|s| s.retries).unwrap_or(0).to_string();
    let require_key = spec.as_ref().is_none_or(|s| s.require_key);
    view! {
        <label for="name">"Name"</label>
        <input id="name" name="name" required value=name placeholder="orders"/>
        <label for="hosts">"Hosts"</label>
        <input id="hosts" name="hosts" value=hosts placeholder="api.example.com, *.example.com (empty: any)"/>
        <label for="path">"Path"</label>
        <div class="inline-fields">
            <input id="path" name="path" required value=path placeholder="/orders"/>
            <label for="match" class="sr-only">"Path match"</label>
            <select id="match" name="match">
                <option value="prefix" selected=!exact>"prefix"</option>
                <option value="exact" selected=exact>"exact"</option>
            </select>
        </div>
        <span>"Methods"</span>
        <div class="inline-fields" role="group" aria-label="Methods">
            {METHODS.iter().map(|m| {
                let checked = methods.iter().any(|x| x == m);
                let id = format!("method-{m}");
                let input_id = id.clone();
                view! { <label for=id><input id=input_id type="checkbox" name="methods" value=*m checked=checked/>" "{*m}</label> }
            }).collect_view()}
        </div>
        <p class="hint">"None ticked: any method."</p>
        <label for="targets">"Targets"</label>
        <textarea id="targets" name="targets" rows="3" placeholder="http://10.0.0.5:8080 3\nhttp://10.0.0.6:8080 1">{escape_textarea(&targets)}</textarea>
        <p class="hint">"One per line: upstream URL, then its weight (default 1). Or, instead, a service:"</p>
        <label for="service">"Service"</label>
        <input id="service" name="service" value=service placeholder="orders (a service of this tenant)"/>
        <label for="destinations">"Or split between"</label>
        <textarea id="destinations" name="destinations" rows="2" placeholder="orders v1 90\norders v2 10">{escape_textarea(&destinations)}</textarea>
        <p class="hint">"One per line: service, subset (or * for all of it), weight. Give exactly one of targets, service or split."</p>
        <label for="strip_prefix">"Strip prefix"</label>
        <div><input id="strip_prefix" name="strip_prefix" type="checkbox" value="on" checked=strip/>" Remove the matched path before forwarding"</div>
        <label for="timeout">"Timeout"</label>
        <input id="timeout" name="timeout" value=timeout placeholder="60s"/>
        <label for="connect_timeout">"Connect timeout"</label>
        <input id="connect_timeout" name="connect_timeout" value=connect_timeout placeholder="5s"/>
        <label for="retries">"Retries"</label>
        <input id="retries" name="retries" inputmode="numeric" value=retries/>
        <label for="require_key">"Require an API key"</label>
        <div><input id="require_key" name="require_key" type="checkbox" value="on" checked=require_key/></div>
    }
}

/// The route form; `methods` repeats, so it is read from the raw pairs.
fn route_json(pairs: &[(String, String)]) -> Result<Value, String> {
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let methods: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "methods")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut targets = Vec::new();
    for (line, words) in forms::rows(field("targets")) {
        let url = words.first().copied().unwrap_or_default();
        let weight = forms::number::<u32>(
            &format!("Targets, line {line}, weight"),
            words.get(1).unwrap_or(&""),
        )?;
        targets.push(json!({"url": url, "weight": weight.unwrap_or(1)}));
    }
    let mut destinations = Vec::new();
    for (line, words) in forms::rows(field("destinations")) {
        let service = words.first().copied().unwrap_or_default();
        let subset = words.get(1).copied().filter(|s| *s != "*");
        let weight = forms::number::<u32>(
            &format!("Split, line {line}, weight"),
            words.get(2).unwrap_or(&""),
        )?;
        destinations
            .push(json!({"service": service, "subset": subset, "weight": weight.unwrap_or(1)}));
    }
    Ok(json!({
        "name": field("name").trim(),
        "hosts": forms::list(field("hosts")),
        "path": field("path").trim(),
        "match": if field("match") == "exact" { "exact" } else { "prefix" },
        "methods": methods,
        "strip_prefix": !field("strip_prefix").is_empty(),
        "targets": targets,
        "service": forms::opt(field("service")),
        "destinations": destinations,
        "timeout": forms::opt(field("timeout")),
        "connect_timeout": forms::opt(field("connect_timeout")),
        "retries": forms::number::<u32>("Retries", field("retries"))?.unwrap_or(0),
        "require_key": !field("require_key").is_empty(),
    }))
}

pub(crate) async fn create(t: TenantCtx, Form(pairs): Form<Vec<(String, String)>>) -> Response {
    let back = t.path("/routes");
    let body = match route_json(&pairs) {
        Ok(body) => body,
        Err(message) => return t.ctx.redirect(&back, Some(Flash::Error(message))),
    };
    let result = t.ctx.api.post::<Route>(&t.api_path("/routes"), &body).await;
    t.after(&back, result, |r| {
        format!(
            "Route \u{201c}{}\u{201d} added; the proxies pick it up within seconds.",
            r.spec.name
        )
    })
}

pub(crate) async fn edit(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    let route: Route = match t.ctx.api.get(&t.api_path(&format!("/routes/{id}"))).await {
        Ok(r) => r,
        Err(failure) => return t.failure(failure),
    };
    let can_manage = t.role() >= Role::Admin;
    let csrf = t.ctx.csrf.clone();
    let action = t.path(&format!("/routes/{id}"));
    let back = t.path("/routes");
    let title = format!("Route {}", route.spec.name);
    let body = render(move || {
        view! {
            <div class="page-head"><h1>{format!("Route \u{201c}{}\u{201d}", route.spec.name)}</h1><a href=back.clone()>"All routes"</a></div>
            <section class="card">
                <form method="post" action=action.clone() class="grid-form">
                    <input type="hidden" name="csrf" value=csrf.clone()/>
                    <fieldset disabled=!can_manage class="wide" style="border:0;padding:0;margin:0;display:contents">
                        {route_fields(Some(&route))}
                    </fieldset>
                    {can_manage.then(|| view! { <div class="actions"><button type="submit">"Save"</button></div> })}
                </form>
            </section>
            {can_manage.then(|| view! {
                {super::danger_card("Delete", "The proxies stop serving this route within seconds.", format!("{action}/delete"), csrf.clone(), "Delete this route? The proxies stop serving it.", "Delete route")}
            })}
        }
    });
    t.page(&title, body)
}

pub(crate) async fn update(
    t: TenantCtx,
    Path(IdPath { id }): Path<IdPath>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    super::save(
        &t,
        &format!("/routes/{id}"),
        route_json(&pairs),
        |r: Route| format!("Route \u{201c}{}\u{201d} saved.", r.spec.name),
    )
    .await
}

pub(crate) async fn delete(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    super::delete_item(&t, "routes", &id, "Route deleted.").await
}
