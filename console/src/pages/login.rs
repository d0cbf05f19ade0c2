//! Signing in and out, through the API's own login (with its lock-out).

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ctx::{Ctx, Flash};
use crate::layout::render;

#[derive(Deserialize, Default)]
pub(crate) struct Next {
    next: Option<String>,
    /// Why single sign-on failed, as a code (never text from the URL is shown).
    sso_error: Option<String>,
}

/// What a single sign-on failure code means.
fn sso_failure(code: &str) -> &'static str {
    match code {
        "state" => "The sign-in took too long or came from another browser tab; try again.",
        "denied" => "The identity provider did not sign you in.",
        "unavailable" => "The identity provider cannot be reached right now; try again later.",
        "token" => "The identity provider's answer could not be verified, so you are not signed in.",
        "email" => "The identity provider did not share your email address.",
        "disabled" => "Your account is disabled; ask a platform admin.",
        "unknown" => "This sign-in option no longer exists.",
        "unverified" => "An account with your email exists, and the identity provider does not vouch for the email; ask a platform admin.",
        _ => "Single sign-on failed; try again.",
    }
}

/// A sign-in button of an identity provider.
#[derive(Deserialize, Clone)]
struct SsoOption {
    id: String,
    name: String,
}

/// Only paths on this site are followed after signing in.
/// Where to go after signing in: only a path of this site. The value is resolved the way a
/// browser would (which drops tabs and newlines and reads `\\` as `/`), and anything that
/// would leave this origin, or holds control characters, goes to the dashboard instead.
fn safe_next(next: Option<&str>) -> String {
    const HERE: &str = "http://console.invalid/";
    let Some(next) = next else {
        return "/".into();
    };
    if !next.starts_with('/') || next.chars().any(|c| c.is_control() || c == '\\') {
        return "/".into();
    }
    let Ok(base) = url::Url::parse(HERE) else {
        return "/".into();
    };
    match base.join(next) {
        // A path that resolves to `//…` would read as another host in a Location header.
        Ok(url) if url.origin() == base.origin() && !url.path().starts_with("//") => {
            match url.query() {
                Some(query) => format!("{}?{query}", url.path()),
                None => url.path().to_string(),
            }
        }
        _ => "/".into(),
    }
}

pub(crate) async fn form(mut ctx: Ctx, Query(query): Query<Next>) -> Response {
    if ctx.api.get::<Value>("/api/v1/me").await.is_ok() {
        return ctx.redirect(&safe_next(query.next.as_deref()), None);
    }
    if let Some(code) = &query.sso_error {
        ctx.flash = Some(Flash::Error(sso_failure(code).into()));
    }
    page(&ctx, "", query.next.as_deref(), StatusCode::OK).await
}

async fn page(ctx: &Ctx, email: &str, next: Option<&str>, status: StatusCode) -> Response {
    let email = email.to_string();
    let next = safe_next(next);
    let csrf = ctx.csrf.clone();
    let providers: Vec<SsoOption> = ctx.api.get("/api/v1/auth/sso").await.unwrap_or_default();
    let sso_next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    let body = render(move || {
        view! {
            <section class="card login">
                <h1>"Sign in to Tollgate"</h1>
                {(!providers.is_empty()).then(|| view! {
                    <div class="stack sso">
                        {providers.iter().map(|p| view! {
                            <a class="button" href=format!("/api/v1/auth/sso/{}/start?next={}", p.id, sso_next)>{format!("Sign in with {}", p.name)}</a>
                        }).collect_view()}
                        <p class="muted">"or with your email and password:"</p>
                    </div>
                })}
                <form method="post" action="/login" class="stack">
                    <input type="hidden" name="csrf" value=csrf/>
                    <input type="hidden" name="next" value=next/>
                    <label for="email">"Email"</label>
                    <input id="email" name="email" type="email" autocomplete="username" required value=email autofocus/>
                    <label for="password">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required/>
                    <button type="submit">"Sign in"</button>
                </form>
            </section>
        }
    });
    let mut response = ctx.page(None, "Sign in", body);
    *response.status_mut() = status;
    response
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

#[derive(Serialize)]
struct LoginRequest<'a> {
    email: &'a str,
    password: &'a str,
}

pub(crate) async fn submit(mut ctx: Ctx, Form(form): Form<LoginForm>) -> Response {
    let request = LoginRequest {
        email: form.email.trim(),
        password: &form.password,
    };
    match ctx.api.post::<Value>("/api/v1/auth/login", &request).await {
        Ok(_) => ctx.redirect(&safe_next(form.next.as_deref()), None),
        Err(failure) => {
            let status = if failure.status == StatusCode::TOO_MANY_REQUESTS {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            ctx.flash = Some(Flash::Error(failure.message));
            page(&ctx, form.email.trim(), form.next.as_deref(), status).await
        }
    }
}

pub(crate) async fn logout(ctx: Ctx) -> Response {
    let answer = ctx.api.post_maybe_json("/api/v1/auth/logout").await;
    // Signed in through an identity provider: sign out there too; it sends the browser back.
    // (A page that moves on, not a redirect: the console's forms may only post to itself.)
    if let Some(url) = answer
        .ok()
        .flatten()
        .and_then(|a| a["end_session_url"].as_str().map(str::to_string))
    {
        let body = render(move || {
            view! {
                <section class="card login">
                    <h1>"Signed out of Tollgate"</h1>
                    <p>"Now signing you out at your identity provider too…"</p>
                    <p><a id="end-session" href=url.clone()>"Continue to your identity provider"</a></p>
                </section>
                <meta http-equiv="refresh" content=format!("0; url={url}")/>
            }
        });
        return ctx.page(None, "Signing out", body);
    }
    ctx.redirect("/login", Some(Flash::Success("You are signed out.".into())))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_paths_of_this_site_are_followed() {
        for evil in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "/..//evil.example",
        ] {
            let next = safe_next(Some(evil));
            assert!(
                next.starts_with('/') && !next.starts_with("//") && !next.contains("evil"),
                "{evil:?} -> {next}"
            );
        }
        assert_eq!(safe_next(Some("/t/acme/keys?x=1")), "/t/acme/keys?x=1");
        assert_eq!(safe_next(None), "/");
    }
}
