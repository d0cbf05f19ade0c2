//! The platform's users, for platform admins: disable (sessions and admin tokens end at once;
//! API keys they created keep working unless revoked), enable, delete, and one-time password
//! reset links to pass on.

use axum::extract::Path;
use axum::http::Method;
use axum::response::Response;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use super::IdPath;
use crate::client::ApiFailure;
use crate::ctx::TenantCtx;
use crate::format;
use crate::layout::render;

/// A user as the API lists them.
#[derive(Deserialize, Clone)]
struct User {
    id: String,
    email: String,
    platform_admin: bool,
    disabled: bool,
    has_password: bool,
    sso_providers: Vec<String>,
    tenants: i64,
    last_sign_in_at: Option<String>,
}

fn forbidden() -> ApiFailure {
    ApiFailure {
        status: axum::http::StatusCode::FORBIDDEN,
        message: "only platform admins manage users".into(),
    }
}

pub(crate) async fn list(t: TenantCtx) -> Response {
    render_list(t, None).await
}

async fn render_list(t: TenantCtx, link: Option<Value>) -> Response {
    if !t.nav.platform_admin {
        return t.failure(forbidden());
    }
    let users: Vec<User> = match t.ctx.api.get("/api/v1/users").await {
        Ok(users) => users,
        Err(failure) => return t.failure(failure),
    };
    let csrf = t.ctx.csrf.clone();
    let base = t.path("/users");
    let body = render(move || {
        view! {
            <div class="page-head"><h1>"Users"</h1></div>
            <p class="muted">"Everyone who can sign in to this platform. Disabling a user ends their sessions and admin tokens at once; API keys they created keep working unless you revoke them."</p>
            {link.map(|link| view! {
                <section class="card secret">
                    <h2>{format!("Password reset link for {}", link["email"].as_str().unwrap_or_default())}</h2>
                    <p class="warning">"Pass this link on yourself (no mail is sent). It works once, until "{format::time(link["expires_at"].as_str().unwrap_or_default())}"."</p>
                    <div class="copy-row">
                        <code id="reset-link" class="secret-value">{link["link"].as_str().unwrap_or_default().to_string()}</code>
                        <button type="button" class="secondary" data-copy="#reset-link">"Copy"</button>
                    </div>
                </section>
            })}
            <table>
                <thead><tr><th>"Email"</th><th>"Sign-in"</th><th>"Tenants"</th><th>"Last sign-in"</th><th>"Status"</th><th></th></tr></thead>
                <tbody>
                    {users.into_iter().map(|user| {
                        let action = |what: &str| format!("{base}/{}/{what}", user.id);
                        let mut sign_in: Vec<String> = user.sso_providers.clone();
                        if user.has_password {
                            sign_in.insert(0, "password".into());
                        }
                        let status = if user.disabled { "disabled" } else { "active" };
                        let toggle = if user.disabled { ("enable", "Enable", "") } else {
                            ("disable", "Disable", "Disable this user? Their sessions and admin tokens end now; their API keys keep working.")
                        };
                        view! {
                            <tr class=user.disabled.then_some("muted")>
                                <td>{user.email.clone()}{user.platform_admin.then(|| view! { " " <span class="badge">"platform admin"</span> })}</td>
                                <td>{sign_in.join(", ")}</td>
                                <td>{user.tenants}</td>
                                <td>{format::optional_time(user.last_sign_in_at.as_deref())}</td>
                                <td>{status}</td>
                                <td class="row-actions">
                                    <form method="post" action=action(toggle.0) data-confirm=toggle.2 class="inline">
                                        <input type="hidden" name="csrf" value=csrf.clone()/>
                                        <button type="submit" class="link">{toggle.1}</button>
                                    </form>
                                    <form method="post" action=action("reset") class="inline">
                                        <input type="hidden" name="csrf" value=csrf.clone()/>
                                        <button type="submit" class="link">"Reset link"</button>
                                    </form>
                                    <form method="post" action=action("delete") data-confirm="Delete this user? Their memberships, sessions and admin tokens go; what they made stays." class="inline">
                                        <input type="hidden" name="csrf" value=csrf.clone()/>
                                        <button type="submit" class="link danger">"Delete"</button>
                                    </form>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        }
    });
    t.page("Users", body)
}

async fn act(t: TenantCtx, id: &str, what: &str, done: &'static str) -> Response {
    let (method, path) = match what {
        "delete" => (Method::DELETE, format!("/api/v1/users/{id}")),
        _ => (Method::POST, format!("/api/v1/users/{id}/{what}")),
    };
    let result = t.ctx.api.send(method, &path, None).await;
    t.after(&t.path("/users"), result, |_| done.into())
}

pub(crate) async fn disable(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    act(
        t,
        &id,
        "disable",
        "User disabled; their sessions and admin tokens have ended.",
    )
    .await
}

pub(crate) async fn enable(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    act(t, &id, "enable", "User enabled.").await
}

pub(crate) async fn delete(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    act(t, &id, "delete", "User deleted.").await
}

pub(crate) async fn reset(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    let path = format!("/api/v1/users/{id}/password-reset");
    match t.ctx.api.post::<Value>(&path, &serde_json::json!({})).await {
        Ok(link) => render_list(t, Some(link)).await,
        Err(failure) => t.refused(&t.path("/users"), failure),
    }
}
