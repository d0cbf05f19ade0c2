//! Platform settings, for platform admins: the egress policy, the default tenant quotas, and
//! each tenant's namespace (the hosts and path prefixes its routes may serve).

use axum::extract::Path;
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::client::ApiFailure;
use crate::ctx::TenantCtx;
use crate::forms;
use crate::layout::{escape_textarea, render};
use crate::types::TenantView;

/// The quota fields, in form order: (field, label).
const QUOTAS: [(&str, &str); 8] = [
    ("max_routes", "Routes per tenant"),
    ("max_services", "Services per tenant"),
    ("max_keys", "API keys per tenant"),
    ("max_providers", "Providers per tenant"),
    ("max_models", "Models per tenant"),
    ("max_prompt_apis", "Prompt APIs per tenant"),
    ("max_object_bytes", "Bytes per object"),
    ("max_tenant_bytes", "Bytes of configuration per tenant"),
];

pub(crate) async fn page(t: TenantCtx) -> Response {
    if !t.nav.platform_admin {
        return t.failure(ApiFailure {
            status: axum::http::StatusCode::FORBIDDEN,
            message: "only platform admins see platform settings".into(),
        });
    }
    let egress: Value = match t.ctx.api.get("/api/v1/settings/egress").await {
        Ok(v) => v,
        Err(failure) => return t.failure(failure),
    };
    let quotas: Value = match t.ctx.api.get("/api/v1/settings/quotas").await {
        Ok(v) => v,
        Err(failure) => return t.failure(failure),
    };
    let tenants: Vec<TenantView> = match t.ctx.api.get("/api/v1/tenants").await {
        Ok(v) => v,
        Err(failure) => return t.failure(failure),
    };
    let mut namespaces = Vec::with_capacity(tenants.len());
    for tenant in &tenants {
        let slug = tenant.tenant.slug.clone();
        let parts: Value = t
            .ctx
            .api
            .get(&format!("/api/v1/tenants/{slug}/namespace"))
            .await
            .unwrap_or(Value::Null);
        namespaces.push((slug, parts_text(&parts)));
    }
    let list = |v: &Value| {
        v.as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    };
    let allow = list(&egress["allow"]);
    let deny = list(&egress["deny"]);
    let allow_private = egress["allow_private"] != false;
    let csrf = t.ctx.csrf.clone();
    let base = t.path("/platform");
    let body = render(move || {
        let quota_fields = QUOTAS
            .iter()
            .map(|(field, label)| {
                let value = quotas[*field]
                    .as_u64()
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                view! {
                    <label for=*field>{*label}</label>
                    <input id=*field name=*field inputmode="numeric" value=value/>
                }
            })
            .collect_view();
        view! {
            <div class="page-head"><h1>"Platform settings"</h1></div>
            <p class="muted">"What every tenant is held to. Proxies apply changes within about a second."</p>
            {super::form_card("Egress policy", format!("{base}/egress"), csrf.clone(), view! {
                <label for="allow">"Always allowed"</label>
                <textarea id="allow" name="allow" rows="3" placeholder="127.0.0.1/32">{escape_textarea(&allow)}</textarea>
                <p class="hint">"CIDRs or addresses, one per line. Loopback, link-local (cloud metadata) and other internal addresses are refused unless listed here."</p>
                <label for="deny">"Always refused"</label>
                <textarea id="deny" name="deny" rows="3" placeholder="10.9.0.0/16">{escape_textarea(&deny)}</textarea>
                <label for="allow_private">"Private ranges"</label>
                <div><input id="allow_private" name="allow_private" type="checkbox" value="on" checked=allow_private/>" Allow 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7"</div>
            }, "Save egress policy")}
            {super::form_card("Tenant quotas", format!("{base}/quotas"), csrf.clone(), quota_fields, "Save quotas")}
            <section class="card">
                <h2>"Tenant namespaces"</h2>
                <p class="hint">"One part per line: a host (exact, *.example.com, or * for any host) and a path prefix. A tenant's routes may only serve its own parts; the most specific part owns a request."</p>
                {namespaces.into_iter().map(|(slug, text)| {
                    let action = format!("{base}/namespaces/{slug}");
                    let id = format!("ns-{slug}");
                    view! {
                        <form method="post" action=action class="grid-form">
                            <input type="hidden" name="csrf" value=csrf.clone()/>
                            <label for=id.clone()>{slug.clone()}</label>
                            <textarea id=id name="parts" rows="2" placeholder="* /">{escape_textarea(&text)}</textarea>
                            <div class="actions"><button type="submit" class="secondary">"Save"</button></div>
                        </form>
                    }
                }).collect_view()}
            </section>
        }
    });
    t.page("Platform settings", body)
}

/// A namespace as editable lines: `host path_prefix`, `*` for any host.
fn parts_text(namespace: &Value) -> String {
    namespace["parts"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .map(|p| {
                    format!(
                        "{} {}",
                        p["host"].as_str().unwrap_or("*"),
                        p["path_prefix"].as_str().unwrap_or("/")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[derive(Deserialize)]
pub(crate) struct EgressForm {
    #[serde(default)]
    allow: String,
    #[serde(default)]
    deny: String,
    #[serde(default)]
    allow_private: Option<String>,
}

pub(crate) async fn save_egress(t: TenantCtx, Form(form): Form<EgressForm>) -> Response {
    let body = json!({
        "allow": forms::list(&form.allow),
        "deny": forms::list(&form.deny),
        "allow_private": form.allow_private.is_some(),
    });
    let result = t
        .ctx
        .api
        .send(Method::PUT, "/api/v1/settings/egress", Some(&body))
        .await;
    t.after(&t.path("/platform"), result, |_| {
        "Egress policy saved.".into()
    })
}

pub(crate) async fn save_quotas(
    t: TenantCtx,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Response {
    let mut body = serde_json::Map::new();
    for (field, label) in QUOTAS {
        match forms::number::<u32>(label, form.get(field).map_or("", String::as_str)) {
            Ok(Some(value)) => {
                body.insert(field.to_string(), json!(value));
            }
            Ok(None) => {}
            Err(why) => {
                return t.refused(
                    &t.path("/platform"),
                    ApiFailure {
                        status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                        message: why,
                    },
                )
            }
        }
    }
    let result = t
        .ctx
        .api
        .send(
            Method::PUT,
            "/api/v1/settings/quotas",
            Some(&Value::Object(body)),
        )
        .await;
    t.after(&t.path("/platform"), result, |_| "Quotas saved.".into())
}

/// `/t/{tenant}/platform/namespaces/{slug}`: the tenant being changed is `slug`.
#[derive(Deserialize)]
pub(crate) struct NamespacePath {
    slug: String,
}

#[derive(Deserialize)]
pub(crate) struct NamespaceForm {
    #[serde(default)]
    parts: String,
}

pub(crate) async fn save_namespace(
    t: TenantCtx,
    Path(NamespacePath { slug }): Path<NamespacePath>,
    Form(form): Form<NamespaceForm>,
) -> Response {
    let parts: Vec<Value> = forms::rows(&form.parts)
        .map(|(_, words)| {
            let (host, prefix) = match words.as_slice() {
                [only] if only.starts_with('/') => ("*", *only),
                [only] => (*only, "/"),
                [host, prefix, ..] => (*host, *prefix),
                [] => ("*", "/"),
            };
            if host == "*" {
                json!({"path_prefix": prefix})
            } else {
                json!({"host": host, "path_prefix": prefix})
            }
        })
        .collect();
    let result = t
        .ctx
        .api
        .send(
            Method::PUT,
            &format!("/api/v1/tenants/{slug}/namespace"),
            Some(&json!({"parts": parts})),
        )
        .await;
    t.after(&t.path("/platform"), result, |_| {
        format!("Namespace of {slug} saved.")
    })
}
