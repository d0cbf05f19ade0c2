//! One module per console section. Handlers read through the API and render with Leptos.

pub mod audit;
pub mod dashboard;
pub mod keys;
pub mod login;
pub mod members;
pub mod models;
pub mod prompt_apis;
pub mod providers;
pub mod routes;
pub mod tokens;
pub mod usage;

use axum::extract::Query;
use axum::response::Response;
use leptos::prelude::*;
use serde::Deserialize;

use crate::ctx::Ctx;
use crate::layout::{render, Nav};
use crate::types::{Me, TenantView};

/// `/`: the first tenant's dashboard, or the sign-in page.
pub async fn home(ctx: Ctx) -> Response {
    let me: Me = match ctx.api.get("/api/v1/me").await {
        Ok(me) => me,
        Err(failure) => return ctx.failure(None, failure),
    };
    let tenants: Vec<TenantView> = match ctx.api.get("/api/v1/tenants").await {
        Ok(tenants) => tenants,
        Err(failure) => return ctx.failure(None, failure),
    };
    if let Some(first) = tenants.first() {
        return ctx.redirect(&format!("/t/{}", first.tenant.slug), None);
    }
    let nav = Nav::without_tenant(&me, tenants);
    let body = render(|| {
        view! {
            <section class="card empty">
                <h1>"No tenant yet"</h1>
                <p>"You are not a member of any tenant. Ask an admin of your organisation to add you, \
                    then sign in again."</p>
            </section>
        }
    });
    ctx.page(Some(&nav), "No tenant", body)
}

#[derive(Deserialize)]
pub struct SwitchQuery {
    tenant: String,
    #[serde(default)]
    section: String,
}

/// The tenant switcher: the same section in another tenant.
pub async fn switch(ctx: Ctx, Query(query): Query<SwitchQuery>) -> Response {
    let slug: String = url::form_urlencoded::byte_serialize(query.tenant.as_bytes()).collect();
    let known = [
        "keys",
        "providers",
        "models",
        "prompt-apis",
        "routes",
        "usage",
        "members",
        "audit",
        "tokens",
    ];
    let to = if known.contains(&query.section.as_str()) {
        format!("/t/{slug}/{}", query.section)
    } else {
        format!("/t/{slug}")
    };
    ctx.redirect(&to, None)
}
