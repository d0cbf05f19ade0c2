//! One module per console section. Handlers read through the API and render with Leptos.

pub(crate) mod account;
pub(crate) mod audit;
pub(crate) mod config;
pub(crate) mod dashboard;
pub(crate) mod invitation;
pub(crate) mod jwt;
pub(crate) mod keys;
pub(crate) mod login;
pub(crate) mod mcp;
pub(crate) mod members;
pub(crate) mod models;
pub(crate) mod platform;
pub(crate) mod portal;
pub(crate) mod prompt_apis;
pub(crate) mod providers;
pub(crate) mod proxies;
pub(crate) mod reset;
pub(crate) mod routes;
pub(crate) mod services;
pub(crate) mod sso;
pub(crate) mod tokens;
pub(crate) mod usage;
pub(crate) mod users;

use axum::extract::Query;
use axum::http::Method;
use axum::response::Response;
use leptos::prelude::*;
use serde::Deserialize;

use crate::ctx::{Ctx, Flash, TenantCtx};
use crate::layout::{render, Nav};
use crate::types::{Me, TenantView};

/// `/`: the first tenant's dashboard, or the sign-in page.
pub(crate) async fn home(ctx: Ctx) -> Response {
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
pub(crate) struct SwitchQuery {
    tenant: String,
    #[serde(default)]
    section: String,
}

/// The tenant switcher: the same section in another tenant.
pub(crate) async fn switch(ctx: Ctx, Query(query): Query<SwitchQuery>) -> Response {
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
        "jwt",
        "mcp",
        "portal",
        "services",
        "config",
    ];
    let to = if known.contains(&query.section.as_str()) {
        format!("/t/{slug}/{}", query.section)
    } else {
        format!("/t/{slug}")
    };
    ctx.redirect(&to, None)
}

/// `{id}` in an item's path.
#[derive(Deserialize)]
pub(crate) struct IdPath {
    pub id: String,
}

/// A card with a form that posts `fields` (and the CSRF token) to `action`.
pub(crate) fn form_card(
    title: &'static str,
    action: String,
    csrf: String,
    fields: impl IntoView,
    button: &'static str,
) -> impl IntoView {
    view! {
        <section class="card">
            <h2>{title}</h2>
            <form method="post" action=action class="grid-form">
                <input type="hidden" name="csrf" value=csrf/>
                {fields}
                <div class="actions"><button type="submit">{button}</button></div>
            </form>
        </section>
    }
}

/// The card at the foot of an edit page that deletes (or revokes) the item, after a confirm.
pub(crate) fn danger_card(
    title: &'static str,
    note: &'static str,
    action: String,
    csrf: String,
    confirm: &'static str,
    button: &'static str,
) -> impl IntoView {
    view! {
        <section class="card danger">
            <h2>{title}</h2>
            <p>{note}</p>
            <form method="post" action=action data-confirm=confirm>
                <input type="hidden" name="csrf" value=csrf/>
                <button type="submit" class="danger">{button}</button>
            </form>
        </section>
    }
}

/// Saves an edit form to `item` (like `/models/{id}`) with a merge-patch: back to the item with
/// `done`'s message, or with the form's or the API's reason.
pub(crate) async fn save<T: serde::de::DeserializeOwned>(
    t: &TenantCtx,
    item: &str,
    body: Result<serde_json::Value, String>,
    done: impl FnOnce(T) -> String,
) -> Response {
    let here = t.path(item);
    match body {
        Ok(body) => {
            let result = t.ctx.api.patch::<T>(&t.api_path(item), &body).await;
            t.after(&here, result, done)
        }
        Err(message) => t.ctx.redirect(&here, Some(Flash::Error(message))),
    }
}

/// Deletes `/{section}/{id}` through the API: back to the list with `done`, or to the item
/// with the API's reason.
pub(crate) async fn delete_item(t: &TenantCtx, section: &str, id: &str, done: &str) -> Response {
    let item = format!("/{section}/{id}");
    match t
        .ctx
        .api
        .send(Method::DELETE, &t.api_path(&item), None)
        .await
    {
        Ok(()) => t.ctx.redirect(
            &t.path(&format!("/{section}")),
            Some(Flash::Success(done.to_string())),
        ),
        Err(failure) => t.refused(&t.path(&item), failure),
    }
}
