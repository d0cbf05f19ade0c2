//! Setting a new password with a one-time link a platform admin made.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::ctx::{Ctx, Flash};
use crate::layout::render;

#[derive(Deserialize)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    token: String,
}

pub(crate) async fn form(ctx: Ctx, Query(query): Query<TokenQuery>) -> Response {
    page(&ctx, &query.token, StatusCode::OK)
}

fn page(ctx: &Ctx, token: &str, status: StatusCode) -> Response {
    let csrf = ctx.csrf.clone();
    let token = token.to_string();
    let body = render(move || {
        view! {
            <section class="card login">
                <h1>"Choose a new password"</h1>
                <p class="muted">"Every session of this account ends; sign in with the new password afterwards."</p>
                <form method="post" action="/reset-password" class="stack">
                    <input type="hidden" name="csrf" value=csrf/>
                    <input type="hidden" name="token" value=token/>
                    <label for="new_password">"New password"</label>
                    <input id="new_password" name="new_password" type="password" autocomplete="new-password" minlength="8" required autofocus/>
                    <label for="confirm_password">"New password again"</label>
                    <input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" minlength="8" required/>
                    <button type="submit">"Set password"</button>
                </form>
            </section>
        }
    });
    let mut response = ctx.page(None, "New password", body);
    *response.status_mut() = status;
    // The token is in this page's URL: it is not sent on to other sites.
    response.headers_mut().insert(
        axum::http::header::REFERRER_POLICY,
        axum::http::HeaderValue::from_static("no-referrer"),
    );
    response
}

#[derive(Deserialize)]
pub(crate) struct ResetForm {
    token: String,
    new_password: String,
    confirm_password: String,
}

pub(crate) async fn submit(mut ctx: Ctx, Form(form): Form<ResetForm>) -> Response {
    if form.new_password != form.confirm_password {
        ctx.flash = Some(Flash::Error("The two passwords differ.".into()));
        return page(&ctx, &form.token, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let body = json!({"token": form.token.trim(), "new_password": form.new_password});
    match ctx
        .api
        .send(
            axum::http::Method::POST,
            "/api/v1/auth/password-reset",
            Some(&body),
        )
        .await
    {
        Ok(()) => ctx.redirect(
            "/login",
            Some(Flash::Success(
                "Your password is set; sign in with it.".into(),
            )),
        ),
        Err(failure) => {
            let status = failure.status;
            ctx.flash = Some(Flash::Error(failure.message));
            page(&ctx, &form.token, status)
        }
    }
}
