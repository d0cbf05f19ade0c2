//! Your account: change your password (every other session of yours ends; your admin tokens
//! too, if you tick it).

use axum::response::Response;
use axum::Form;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::ctx::{Flash, TenantCtx};
use crate::forms;
use crate::layout::render;

pub(crate) async fn page(t: TenantCtx) -> Response {
    let csrf = t.ctx.csrf.clone();
    let action = t.path("/account/password");
    let email = t.nav.email.clone();
    let body = render(move || {
        view! {
            <div class="page-head"><h1>"Your account"</h1></div>
            <p class="muted">{format!("Signed in as {email}.")}</p>
            <section class="card">
                <h2>"Change your password"</h2>
                <p class="muted">"Every other session of yours ends; this one goes on."</p>
                <form method="post" action=action class="grid-form">
                    <input type="hidden" name="csrf" value=csrf/>
                    <label for="current_password">"Current password"</label>
                    <input id="current_password" name="current_password" type="password" autocomplete="current-password" required/>
                    <label for="new_password">"New password"</label>
                    <input id="new_password" name="new_password" type="password" autocomplete="new-password" minlength="8" required/>
                    <label for="confirm_password">"New password again"</label>
                    <input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" minlength="8" required/>
                    <label for="end_admin_tokens">"Also delete my admin tokens"</label>
                    <input id="end_admin_tokens" name="end_admin_tokens" type="checkbox" value="on"/>
                    <div class="actions"><button type="submit">"Change password"</button></div>
                </form>
            </section>
        }
    });
    t.page("Your account", body)
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    current_password: String,
    new_password: String,
    confirm_password: String,
    end_admin_tokens: Option<String>,
}

pub(crate) async fn change_password(t: TenantCtx, Form(form): Form<PasswordForm>) -> Response {
    let back = t.path("/account");
    if form.new_password != form.confirm_password {
        return t.ctx.redirect(
            &back,
            Some(Flash::Error("The two new passwords differ.".into())),
        );
    }
    let body = json!({"current_password": form.current_password,
                      "new_password": form.new_password,
                      "end_admin_tokens": forms::ticked(&form.end_admin_tokens)});
    let result = t
        .ctx
        .api
        .send(axum::http::Method::POST, "/api/v1/me/password", Some(&body))
        .await;
    t.after(&back, result, |_| {
        "Password changed; your other sessions have ended.".into()
    })
}
