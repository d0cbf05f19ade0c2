//! Personal admin tokens, for scripts that use the admin API.

use axum::extract::Path;
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::json;

use super::IdPath;
use crate::ctx::{Flash, TenantCtx};
use crate::format;
use crate::forms;
use crate::layout::render;
use crate::types::{AdminToken, Created};

pub(crate) async fn list(t: TenantCtx) -> Response {
    render_list(t, None).await
}

async fn render_list(t: TenantCtx, created: Option<Created<AdminToken>>) -> Response {
    let tokens: Vec<AdminToken> = match t.ctx.api.get("/api/v1/tokens").await {
        Ok(tokens) => tokens,
        Err(failure) => return t.failure(failure),
    };
    let csrf = t.ctx.csrf.clone();
    let base = t.path("/tokens");
    let body = render(move || {
        view! {
            <div class="page-head"><h1>"Admin tokens"</h1></div>
            <p class="muted">"Personal tokens for scripts and CI: they act as you on the admin API (Authorization: Bearer …), with your roles. The secret is shown once."</p>
            {created.map(|created| view! {
                <section class="card secret">
                    <h2>{format!("Token \u{201c}{}\u{201d} created", created.item.name)}</h2>
                    <p class="warning">"Copy this token now. It will not be shown again."</p>
                    <div class="copy-row">
                        <code id="new-secret" class="secret-value">{created.secret.clone()}</code>
                        <button type="button" class="secondary" data-copy="#new-secret">"Copy"</button>
                    </div>
                </section>
            })}
            {if tokens.is_empty() {
                view! { <section class="card empty"><p>"No admin tokens. Create one below for a script or CI job."</p></section> }.into_any()
            } else {
                let base = base.clone();
                let csrf = csrf.clone();
                view! {
                    <table>
                        <thead><tr><th>"Name"</th><th>"Prefix"</th><th>"Expires"</th><th>"Last used"</th><th>"Created"</th><th></th></tr></thead>
                        <tbody>
                            {tokens.into_iter().map(|tok| view! {
                                <tr>
                                    <td>{tok.name.clone()}</td>
                                    <td><code>{tok.prefix.clone()}</code></td>
                                    <td>{tok.expires_at.as_deref().map(format::time).unwrap_or_else(|| "never".into())}</td>
                                    <td>{format::optional_time(tok.last_used_at.as_deref())}</td>
                                    <td>{format::time(&tok.created_at)}</td>
                                    <td>
                                        <form method="post" action=format!("{base}/{}/delete", tok.id) data-confirm="Delete this token? Scripts using it stop working.">
                                            <input type="hidden" name="csrf" value=csrf.clone()/>
                                            <button type="submit" class="link">"Delete"</button>
                                        </form>
                                    </td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <section class="card">
                <h2>"Create a token"</h2>
                <form method="post" action=base.clone() class="grid-form">
                    <input type="hidden" name="csrf" value=csrf.clone()/>
                    <label for="name">"Name"</label>
                    <input id="name" name="name" required placeholder="ci-deploy"/>
                    <label for="expires_in_days">"Expires in (days)"</label>
                    <input id="expires_in_days" name="expires_in_days" inputmode="numeric" placeholder="never"/>
                    <div class="actions"><button type="submit">"Create token"</button></div>
                </form>
            </section>
        }
    });
    t.page("Admin tokens", body)
}

#[derive(Deserialize)]
pub(crate) struct TokenForm {
    name: String,
    #[serde(default)]
    expires_in_days: String,
}

pub(crate) async fn create(t: TenantCtx, Form(form): Form<TokenForm>) -> Response {
    let back = t.path("/tokens");
    let days = match forms::number::<i64>("Expires in", &form.expires_in_days) {
        Ok(days) => days,
        Err(message) => return t.ctx.redirect(&back, Some(Flash::Error(message))),
    };
    let body = json!({"name": form.name.trim(), "expires_in_days": days});
    match t
        .ctx
        .api
        .post::<Created<AdminToken>>("/api/v1/tokens", &body)
        .await
    {
        Ok(created) => render_list(t, Some(created)).await,
        Err(failure) => t.refused(&back, failure),
    }
}

pub(crate) async fn delete(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    let result = t
        .ctx
        .api
        .send(Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
        .await;
    t.after(&t.path("/tokens"), result, |_| "Token deleted.".into())
}
