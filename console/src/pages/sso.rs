//! Single sign-on, for platform admins: the identity providers (OpenID Connect) people sign in
//! through, their group rules (a group gives a role in a tenant, applied at every sign-in) and
//! "SSO only" email domains.

use axum::extract::Path;
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{danger_card, IdPath};
use crate::client::ApiFailure;
use crate::ctx::{Flash, TenantCtx};
use crate::forms;
use crate::layout::{escape_textarea, render};

fn forbidden() -> ApiFailure {
    ApiFailure {
        status: axum::http::StatusCode::FORBIDDEN,
        message: "only platform admins manage single sign-on".into(),
    }
}

/// The group rules as form lines: `group tenant role`.
fn rules_text(provider: &Value) -> String {
    provider["group_rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{} {} {}",
                r["group"].as_str().unwrap_or_default(),
                r["tenant"].as_str().unwrap_or_default(),
                r["role"].as_str().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn strings(value: &Value) -> String {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The provider form, empty or filled with `provider`.
fn provider_form(action: String, csrf: String, provider: &Value, origin: &str) -> impl IntoView {
    let field = |name: &str| provider[name].as_str().unwrap_or_default().to_string();
    let editing = provider.is_object();
    let scopes = if editing {
        strings(&provider["scopes"])
    } else {
        "openid, email, profile".into()
    };
    let groups_claim = if editing {
        field("groups_claim")
    } else {
        "groups".into()
    };
    let redirect = provider["redirect_path"]
        .as_str()
        .map(|p| format!("{origin}{p}"))
        .unwrap_or_else(|| format!("{origin}/api/v1/auth/sso/<id>/callback (shown once created)"));
    let enabled = !editing || provider["enabled"] == true;
    view! {
        <form method="post" action=action class="grid-form">
            <input type="hidden" name="csrf" value=csrf/>
            <label for="name">"Name (on the sign-in button)"</label>
            <input id="name" name="name" required value=field("name") placeholder="Okta"/>
            <label for="issuer">"Issuer URL"</label>
            <input id="issuer" name="issuer" required value=field("issuer") placeholder="https://example.okta.com"/>
            <label for="client_id">"Client ID"</label>
            <input id="client_id" name="client_id" required value=field("client_id")/>
            <label for="client_secret">"Client secret"</label>
            <input id="client_secret" name="client_secret" type="password" autocomplete="off"
                placeholder=if editing { "unchanged unless you type a new one" } else { "" }/>
            <label for="scopes">"Scopes"</label>
            <input id="scopes" name="scopes" value=scopes/>
            <label for="groups_claim">"Groups claim"</label>
            <input id="groups_claim" name="groups_claim" value=groups_claim/>
            <label for="group_rules">"Group rules (group tenant role, one per line)"</label>
            <textarea id="group_rules" name="group_rules" rows="4" placeholder="platform-team default admin">{escape_textarea(&rules_text(provider))}</textarea>
            <label for="sso_only_domains">"SSO-only email domains"</label>
            <input id="sso_only_domains" name="sso_only_domains" value=strings(&provider["sso_only_domains"]) placeholder="example.com"/>
            <label for="enabled">"Enabled"</label>
            <input id="enabled" name="enabled" type="checkbox" value="on" checked=enabled/>
            <p class="muted full">{format!("Register this redirect URI at the provider: {redirect}; and for sign-out: {origin}/login")}</p>
            <div class="actions"><button type="submit">{if editing { "Save" } else { "Add provider" }}</button></div>
        </form>
    }
}

pub(crate) async fn list(t: TenantCtx) -> Response {
    if !t.nav.platform_admin {
        return t.failure(forbidden());
    }
    let providers: Vec<Value> = match t.ctx.api.get("/api/v1/identity-providers").await {
        Ok(providers) => providers,
        Err(failure) => return t.failure(failure),
    };
    let csrf = t.ctx.csrf.clone();
    let base = t.path("/sso");
    let origin = t.ctx.origin();
    let body = render(move || {
        view! {
            <div class="page-head"><h1>"Single sign-on"</h1></div>
            <p class="muted">"People sign in through these identity providers (OpenID Connect). At every sign-in the group rules set the roles they give; a group left means the role is gone."</p>
            {if providers.is_empty() {
                view! { <section class="card empty"><p>"No identity provider yet: add one below."</p></section> }.into_any()
            } else {
                view! {
                    <table>
                        <thead><tr><th>"Name"</th><th>"Issuer"</th><th>"Group rules"</th><th>"SSO only"</th><th>"Enabled"</th></tr></thead>
                        <tbody>
                            {providers.iter().map(|p| view! {
                                <tr>
                                    <td><a href=format!("{base}/{}", p["id"].as_str().unwrap_or_default())>{p["name"].as_str().unwrap_or_default().to_string()}</a></td>
                                    <td><code>{p["issuer"].as_str().unwrap_or_default().to_string()}</code></td>
                                    <td>{p["group_rules"].as_array().map_or(0, Vec::len)}</td>
                                    <td>{strings(&p["sso_only_domains"])}</td>
                                    <td>{if p["enabled"] == true { "yes" } else { "no" }}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <section class="card">
                <h2>"Add an identity provider"</h2>
                {provider_form(base.clone(), csrf.clone(), &Value::Null, &origin)}
            </section>
        }
    });
    t.page("Single sign-on", body)
}

pub(crate) async fn edit(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    if !t.nav.platform_admin {
        return t.failure(forbidden());
    }
    let provider: Value = match t
        .ctx
        .api
        .get(&format!("/api/v1/identity-providers/{id}"))
        .await
    {
        Ok(provider) => provider,
        Err(failure) => return t.failure(failure),
    };
    let csrf = t.ctx.csrf.clone();
    let action = t.path(&format!("/sso/{id}"));
    let origin = t.ctx.origin();
    let name = provider["name"].as_str().unwrap_or_default().to_string();
    let body = render(move || {
        view! {
            <div class="page-head"><h1>{name.clone()}</h1></div>
            <section class="card">{provider_form(action.clone(), csrf.clone(), &provider, &origin)}</section>
            {danger_card("Delete this provider", "Its users keep their accounts; memberships its rules gave stay until changed.",
                format!("{action}/delete"), csrf.clone(), "Delete this identity provider?", "Delete provider")}
        }
    });
    t.page("Single sign-on", body)
}

#[derive(Deserialize)]
pub(crate) struct ProviderForm {
    name: String,
    issuer: String,
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    scopes: String,
    #[serde(default)]
    groups_claim: String,
    #[serde(default)]
    group_rules: String,
    #[serde(default)]
    sso_only_domains: String,
    enabled: Option<String>,
}

/// The form as the API's settings; `Err` names a malformed rule line.
fn settings(form: &ProviderForm) -> Result<Value, String> {
    let mut rules = Vec::new();
    for (line, words) in forms::rows(&form.group_rules) {
        let [group, tenant, role] = words[..] else {
            return Err(format!(
                "group rules, line {line}: write the group, the tenant's slug and the role"
            ));
        };
        rules.push(json!({"group": group, "tenant": tenant, "role": role}));
    }
    let mut body = json!({"name": form.name.trim(), "issuer": form.issuer.trim(),
        "client_id": form.client_id.trim(), "scopes": forms::list(&form.scopes),
        "groups_claim": forms::opt(&form.groups_claim).unwrap_or_else(|| "groups".into()),
        "group_rules": rules, "sso_only_domains": forms::list(&form.sso_only_domains),
        "enabled": forms::ticked(&form.enabled)});
    if let Some(secret) = forms::opt(&form.client_secret) {
        body["client_secret"] = json!(secret);
    }
    Ok(body)
}

pub(crate) async fn create(t: TenantCtx, Form(form): Form<ProviderForm>) -> Response {
    let back = t.path("/sso");
    let body = match settings(&form) {
        Ok(body) => body,
        Err(message) => return t.ctx.redirect(&back, Some(Flash::Error(message))),
    };
    let result = t
        .ctx
        .api
        .post::<Value>("/api/v1/identity-providers", &body)
        .await;
    t.after(&back, result, |p| {
        format!(
            "Identity provider \u{201c}{}\u{201d} added.",
            p["name"].as_str().unwrap_or_default()
        )
    })
}

pub(crate) async fn update(
    t: TenantCtx,
    Path(IdPath { id }): Path<IdPath>,
    Form(form): Form<ProviderForm>,
) -> Response {
    let back = t.path(&format!("/sso/{id}"));
    let body = match settings(&form) {
        Ok(body) => body,
        Err(message) => return t.ctx.redirect(&back, Some(Flash::Error(message))),
    };
    let result = t
        .ctx
        .api
        .patch::<Value>(&format!("/api/v1/identity-providers/{id}"), &body)
        .await;
    t.after(&back, result, |_| "Saved.".into())
}

pub(crate) async fn delete(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    let result = t
        .ctx
        .api
        .send(
            Method::DELETE,
            &format!("/api/v1/identity-providers/{id}"),
            None,
        )
        .await;
    t.after(&t.path("/sso"), result, |_| {
        "Identity provider deleted.".into()
    })
}
