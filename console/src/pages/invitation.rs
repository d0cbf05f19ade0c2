//! `/invitations/{token}`: where an invited person accepts, signed in as the invited email or
//! by choosing a password for a new account.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::ctx::{Ctx, Flash};
use crate::layout::render;

#[derive(Deserialize)]
pub(crate) struct TokenPath {
    token: String,
}

pub(crate) async fn page(ctx: Ctx, Path(TokenPath { token }): Path<TokenPath>) -> Response {
    show(&ctx, &token, StatusCode::OK)
}

fn show(ctx: &Ctx, token: &str, status: StatusCode) -> Response {
    let action = format!("/invitations/{token}");
    let sign_in = format!("/login?next={}", url_path_escape(&action));
    let csrf = ctx.csrf.clone();
    let body = render(move || {
        view! {
            <section class="card login">
                <h1>"Join a Tollgate tenant"</h1>
                <p>"You were invited to a tenant. If you have an account, "
                    <a href=sign_in>"sign in"</a>" as the invited email first, then accept. "
                    "If not, choose a password: your account is created as you accept."</p>
                <form method="post" action=action class="stack">
                    <input type="hidden" name="csrf" value=csrf/>
                    <label for="password">"Password for a new account"</label>
                    <input id="password" name="password" type="password" autocomplete="new-password" placeholder="leave empty if you are signed in"/>
                    <button type="submit">"Accept the invitation"</button>
                </form>
            </section>
        }
    });
    let mut response = ctx.page(None, "Invitation", body);
    *response.status_mut() = status;
    response
}

fn url_path_escape(path: &str) -> String {
    url::form_urlencoded::byte_serialize(path.as_bytes()).collect()
}

#[derive(Deserialize)]
pub(crate) struct AcceptForm {
    #[serde(default)]
    password: String,
}

pub(crate) async fn accept(
    mut ctx: Ctx,
    Path(TokenPath { token }): Path<TokenPath>,
    Form(form): Form<AcceptForm>,
) -> Response {
    let password = (!form.password.is_empty()).then_some(form.password);
    let body = json!({"token": token, "password": password});
    match ctx
        .api
        .post::<Value>("/api/v1/invitations/accept", &body)
        .await
    {
        Ok(accepted) => {
            let tenant = accepted["tenant"].as_str().unwrap_or_default().to_string();
            if accepted["account_created"] == true {
                ctx.redirect(
                    &format!("/login?next=/t/{tenant}"),
                    Some(Flash::Success(
                        "Your account is ready: sign in with your email and new password.".into(),
                    )),
                )
            } else {
                ctx.redirect(
                    &format!("/t/{tenant}"),
                    Some(Flash::Success(format!("You joined {tenant}."))),
                )
            }
        }
        Err(failure) => {
            let status = failure.status;
            ctx.flash = Some(Flash::Error(failure.message));
            show(&ctx, &token, status)
        }
    }
}
