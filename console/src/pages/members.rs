//! Members and their roles in the current tenant, and the tenants themselves.

use axum::extract::Path;
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::ctx::{Flash, TenantCtx};
use crate::format;
use crate::forms;
use crate::layout::render;
use crate::types::{Member, Role, TenantView};

#[derive(Deserialize)]
pub(crate) struct UserPath {
    user: String,
}

pub(crate) async fn list(t: TenantCtx) -> Response {
    let members: Vec<Member> = match t.ctx.api.get(&t.api_path("/members")).await {
        Ok(m) => m,
        Err(failure) => return t.failure(failure),
    };
    let role = t.role();
    let can_manage = role >= Role::Admin;
    let platform_admin = t.nav.platform_admin;
    let tenants: Vec<TenantView> = t.nav.tenants.clone();
    let my_id = t.me.id.clone();
    let csrf = t.ctx.csrf.clone();
    let base = t.path("/members");
    let tenants_action = t.path("/tenants");
    let tenant_name = t
        .nav
        .current
        .as_ref()
        .map(|c| c.tenant.name.clone())
        .unwrap_or_default();
    // Only owners hand out the owner role.
    let grantable: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| *r != Role::Owner || role == Role::Owner)
        .collect();
    let body = render(move || {
        view! {
            <div class="page-head"><h1>{format!("Members of {tenant_name}")}</h1></div>
            <p class="muted">"Viewers read everything; members also manage API keys and prompt APIs; admins manage everything in the tenant; owners also grant the owner role."</p>
            <table>
                <thead><tr><th>"Email"</th><th>"Role"</th><th>"Joined"</th>{can_manage.then(|| view! { <th></th> })}</tr></thead>
                <tbody>
                    {members.into_iter().map(|m| {
                        let action = format!("{base}/{}", m.user_id);
                        let is_me = m.user_id == my_id;
                        let member_role = m.role;
                        let grantable = grantable.clone();
                        let csrf = csrf.clone();
                        let editable = can_manage && (member_role != Role::Owner || role == Role::Owner);
                        view! {
                            <tr>
                                <td>{m.email.clone()}{is_me.then_some(" (you)")}</td>
                                <td>{if editable {
                                    view! {
                                        <form method="post" action=action.clone() class="inline-fields">
                                            <input type="hidden" name="csrf" value=csrf.clone()/>
                                            <label for=format!("role-{}", m.user_id) class="sr-only">"Role"</label>
                                            <select id=format!("role-{}", m.user_id) name="role">
                                                {grantable.into_iter().map(|r| view! { <option value=r.as_str() selected=r == member_role>{r.as_str()}</option> }).collect_view()}
                                            </select>
                                            <button type="submit" class="secondary small">"Change"</button>
                                        </form>
                                    }.into_any()
                                } else {
                                    view! { <span>{member_role.as_str()}</span> }.into_any()
                                }}</td>
                                <td>{format::time(&m.joined_at)}</td>
                                {can_manage.then(|| view! {
                                    <td>{editable.then(|| view! {
                                        <form method="post" action=format!("{action}/remove") data-confirm="Remove this member from the tenant?">
                                            <input type="hidden" name="csrf" value=csrf.clone()/>
                                            <button type="submit" class="link">"Remove"</button>
                                        </form>
                                    })}</td>
                                })}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            {can_manage.then(|| view! {
                <section class="card">
                    <h2>"Invite a member"</h2>
                    <p class="hint">"They join when they open the invitation link and accept it (signing in, or choosing a password if they have no account yet). The link works for 7 days."</p>
                    <form method="post" action=base.clone() class="grid-form">
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        <label for="email">"Email"</label>
                        <input id="email" name="email" type="email" required/>
                        <label for="role">"Role"</label>
                        <select id="role" name="role">
                            {grantable.iter().map(|r| view! { <option value=r.as_str() selected=*r == Role::Member>{r.as_str()}</option> }).collect_view()}
                        </select>
                        <div class="actions"><button type="submit">"Create invitation"</button></div>
                    </form>
                </section>
            })}
            <section class="card">
                <h2>"Tenants"</h2>
                <table class="compact">
                    <thead><tr><th>"Name"</th><th>"Slug"</th><th>"Your role"</th><th>"Created"</th></tr></thead>
                    <tbody>
                        {tenants.into_iter().map(|tv| view! {
                            <tr>
                                <td><a href=format!("/t/{}", tv.tenant.slug)>{tv.tenant.name.clone()}</a></td>
                                <td><code>{tv.tenant.slug.clone()}</code></td>
                                <td>{tv.role.as_str()}</td>
                                <td>{format::time(&tv.tenant.created_at)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
                {platform_admin.then(|| view! {
                    <h3>"Create a tenant"</h3>
                    <form method="post" action=tenants_action.clone() class="grid-form">
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        <label for="tenant_name">"Name"</label>
                        <input id="tenant_name" name="name" required placeholder="Acme Research"/>
                        <label for="tenant_slug">"Slug"</label>
                        <input id="tenant_slug" name="slug" placeholder="made from the name when empty"/>
                        <div class="actions"><button type="submit">"Create tenant"</button></div>
                    </form>
                })}
            </section>
        }
    });
    t.page("Members", body)
}

#[derive(Deserialize)]
pub(crate) struct InviteForm {
    email: String,
    role: String,
}

#[derive(Deserialize)]
pub(crate) struct CreatedInvitation {
    email: String,
    role: String,
    accept_path: String,
}

/// Creates an invitation; the flash shows its link once.
pub(crate) async fn invite(t: TenantCtx, Form(form): Form<InviteForm>) -> Response {
    let body = json!({"email": form.email.trim(), "role": form.role});
    let result = t
        .ctx
        .api
        .post::<CreatedInvitation>(&t.api_path("/invitations"), &body)
        .await;
    t.after(&t.path("/members"), result, |i| {
        format!(
            "Invitation for {} as {} created. Send them this link on this console (shown once): {}",
            i.email, i.role, i.accept_path
        )
    })
}

#[derive(Deserialize)]
pub(crate) struct RoleForm {
    role: String,
}

pub(crate) async fn change_role(
    t: TenantCtx,
    Path(UserPath { user }): Path<UserPath>,
    Form(form): Form<RoleForm>,
) -> Response {
    let result = t
        .ctx
        .api
        .patch::<Member>(
            &t.api_path(&format!("/members/{user}")),
            &json!({"role": form.role}),
        )
        .await;
    t.after(&t.path("/members"), result, |m| {
        format!("{} is now {}.", m.email, m.role.as_str())
    })
}

pub(crate) async fn remove(t: TenantCtx, Path(UserPath { user }): Path<UserPath>) -> Response {
    let result = t
        .ctx
        .api
        .send(
            Method::DELETE,
            &t.api_path(&format!("/members/{user}")),
            None,
        )
        .await;
    t.after(&t.path("/members"), result, |_| "Member removed.".into())
}

#[derive(Deserialize)]
pub(crate) struct TenantForm {
    name: String,
    #[serde(default)]
    slug: String,
}

pub(crate) async fn create_tenant(t: TenantCtx, Form(form): Form<TenantForm>) -> Response {
    let body = json!({"name": form.name.trim(), "slug": forms::opt(&form.slug)});
    match t.ctx.api.post::<TenantView>("/api/v1/tenants", &body).await {
        Ok(created) => t.ctx.redirect(
            &format!("/t/{}", created.tenant.slug),
            Some(Flash::Success(format!(
                "Tenant \u{201c}{}\u{201d} created.",
                created.tenant.name
            ))),
        ),
        Err(failure) => t.refused(&t.path("/members"), failure),
    }
}
