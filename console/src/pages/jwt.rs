//! JWT callers: identity providers whose signed tokens callers present to the proxy instead of
//! a key, and the callers (consumers) seen with them.

use axum::extract::Path;
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

use super::IdPath;
use crate::ctx::{Flash, TenantCtx};
use crate::format;
use crate::forms;
use crate::layout::render;
use crate::types::Role;

fn strings(value: &Value) -> String {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) async fn list(t: TenantCtx) -> Response {
    let issuers: Vec<Value> = match t.ctx.api.get(&t.api_path("/jwt-issuers")).await {
        Ok(issuers) => issuers,
        Err(failure) => return t.failure(failure),
    };
    let consumers: Vec<Value> = t
        .ctx
        .api
        .get(&t.api_path("/consumers"))
        .await
        .unwrap_or_default();
    let csrf = t.ctx.csrf.clone();
    let base = t.path("/jwt");
    let may_edit = t.role() >= Role::Admin;
    let body = render(move || {
        view! {
            <div class="page-head"><h1>"JWT callers"</h1></div>
            <p class="muted">"Callers may present a JWT signed by one of these identity providers instead of an API key (Authorization: Bearer <token>). The token's signature, issuer, audience and expiry are checked; the caller named by the consumer claim gets the issuer's scopes, limits and budget, counted per caller."</p>
            {if issuers.is_empty() {
                view! { <section class="card empty"><p>"No JWT issuer yet."</p></section> }.into_any()
            } else {
                view! {
                    <table>
                        <thead><tr><th>"Name"</th><th>"Issuer"</th><th>"Audiences"</th><th>"Consumer claim"</th><th>"Per caller"</th><th></th></tr></thead>
                        <tbody>
                            {issuers.iter().map(|i| {
                                let limits = format!("{} req/min, budget {}",
                                    i["limits"]["requests_per_minute"].as_i64().map_or("no limit".into(), |n| n.to_string()),
                                    i["budget"]["amount_usd"].as_str().map_or("none".into(), |a| format!("${a} per {}", i["budget"]["period"].as_str().unwrap_or_default())));
                                view! {
                                    <tr>
                                        <td>{i["name"].as_str().unwrap_or_default().to_string()}</td>
                                        <td><code>{i["issuer"].as_str().unwrap_or_default().to_string()}</code></td>
                                        <td>{strings(&i["audiences"])}</td>
                                        <td><code>{i["consumer_claim"].as_str().unwrap_or_default().to_string()}</code></td>
                                        <td>{limits}</td>
                                        <td>{may_edit.then(|| view! {
                                            <form method="post" action=format!("{base}/{}/delete", i["id"].as_str().unwrap_or_default()) data-confirm="Stop accepting this issuer's tokens?" class="inline">
                                                <input type="hidden" name="csrf" value=csrf.clone()/>
                                                <button type="submit" class="link danger">"Delete"</button>
                                            </form>
                                        })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <section class="card">
                <h2>"Callers seen"</h2>
                {if consumers.is_empty() {
                    view! { <p class="muted">"No caller has presented a JWT yet."</p> }.into_any()
                } else {
                    view! {
                        <table>
                            <thead><tr><th>"Caller"</th><th>"First seen"</th><th>"Last seen"</th></tr></thead>
                            <tbody>
                                {consumers.iter().map(|c| view! {
                                    <tr>
                                        <td>{c["name"].as_str().unwrap_or_default().to_string()}</td>
                                        <td>{format::time(c["first_seen_at"].as_str().unwrap_or_default())}</td>
                                        <td>{format::time(c["last_seen_at"].as_str().unwrap_or_default())}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }}
            </section>
            {may_edit.then(|| view! {
                <section class="card">
                    <h2>"Accept an issuer's tokens"</h2>
                    <form method="post" action=base.clone() class="grid-form">
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        <label for="name">"Name"</label>
                        <input id="name" name="name" required placeholder="corp-idp"/>
                        <label for="issuer">"Issuer (the tokens' iss)"</label>
                        <input id="issuer" name="issuer" required placeholder="https://id.example.com"/>
                        <label for="audiences">"Audiences"</label>
                        <input id="audiences" name="audiences" required placeholder="https://api.example.com"/>
                        <label for="jwks_url">"JWKS URL"</label>
                        <input id="jwks_url" name="jwks_url" required placeholder="https://id.example.com/.well-known/jwks.json"/>
                        <label for="consumer_claim">"Consumer claim"</label>
                        <input id="consumer_claim" name="consumer_claim" value="sub"/>
                        <label for="routes">"Routes (names, or *)"</label>
                        <input id="routes" name="routes" placeholder="*"/>
                        <label for="models">"Models (names, or *)"</label>
                        <input id="models" name="models" placeholder="*"/>
                        <label for="requests_per_minute">"Requests per minute, per caller"</label>
                        <input id="requests_per_minute" name="requests_per_minute" inputmode="numeric"/>
                        <label for="budget_usd">"Monthly budget per caller (USD)"</label>
                        <input id="budget_usd" name="budget_usd" inputmode="decimal"/>
                        <div class="actions"><button type="submit">"Add issuer"</button></div>
                    </form>
                </section>
            })}
        }
    });
    t.page("JWT callers", body)
}

#[derive(Deserialize)]
pub(crate) struct IssuerForm {
    name: String,
    issuer: String,
    audiences: String,
    jwks_url: String,
    #[serde(default)]
    consumer_claim: String,
    #[serde(default)]
    routes: String,
    #[serde(default)]
    models: String,
    #[serde(default)]
    requests_per_minute: String,
    #[serde(default)]
    budget_usd: String,
}

pub(crate) async fn create(t: TenantCtx, Form(form): Form<IssuerForm>) -> Response {
    let back = t.path("/jwt");
    let per_minute = match forms::number::<i64>("Requests per minute", &form.requests_per_minute) {
        Ok(n) => n,
        Err(message) => return t.ctx.redirect(&back, Some(Flash::Error(message))),
    };
    let mut body = json!({"name": form.name.trim(), "issuer": form.issuer.trim(),
        "audiences": forms::list(&form.audiences), "jwks_url": form.jwks_url.trim(),
        "consumer_claim": forms::opt(&form.consumer_claim).unwrap_or_else(|| "sub".into()),
        "scopes": {"routes": forms::list(&form.routes), "models": forms::list(&form.models)},
        "limits": {"requests_per_minute": per_minute}});
    if let Some(amount) = forms::opt(&form.budget_usd) {
        body["budget"] = json!({"amount_usd": amount, "period": "month"});
    }
    let result = t
        .ctx
        .api
        .post::<Value>(&t.api_path("/jwt-issuers"), &body)
        .await;
    t.after(&back, result, |i| {
        format!(
            "Tokens of \u{201c}{}\u{201d} are accepted now.",
            i["name"].as_str().unwrap_or_default()
        )
    })
}

pub(crate) async fn delete(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    let result = t
        .ctx
        .api
        .send(
            Method::DELETE,
            &t.api_path(&format!("/jwt-issuers/{id}")),
            None,
        )
        .await;
    t.after(&t.path("/jwt"), result, |_| "Issuer deleted.".into())
}
