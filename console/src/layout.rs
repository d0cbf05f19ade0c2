//! The page shell: header with navigation and tenant switcher, flash message, main content.

use leptos::prelude::*;

use crate::flash::Flash;
use crate::types::{Me, Role, TenantView};

/// Where the user is, for the header.
pub(crate) struct Nav {
    pub email: String,
    pub platform_admin: bool,
    pub tenants: Vec<TenantView>,
    pub current: Option<TenantView>,
    /// The first path segment after the tenant (`keys`, `usage`, … or empty for the dashboard).
    pub section: String,
}

impl Nav {
    pub(crate) fn without_tenant(me: &Me, tenants: Vec<TenantView>) -> Self {
        Self {
            email: me.email.clone(),
            platform_admin: me.platform_admin,
            tenants,
            current: None,
            section: String::new(),
        }
    }
}

/// The sections of a tenant, in header order: (path segment, label, least role that sees it).
const SECTIONS: [(&str, &str, Role); 15] = [
    ("", "Dashboard", Role::Viewer),
    ("keys", "API keys", Role::Viewer),
    ("jwt", "JWT callers", Role::Viewer),
    ("providers", "Providers", Role::Viewer),
    ("models", "Models", Role::Viewer),
    ("prompt-apis", "Prompt APIs", Role::Viewer),
    ("mcp", "MCP servers", Role::Viewer),
    ("portal", "Portal", Role::Viewer),
    ("routes", "Routes", Role::Viewer),
    ("services", "Services", Role::Viewer),
    ("config", "Configuration", Role::Viewer),
    ("usage", "Usage", Role::Viewer),
    ("members", "Members", Role::Viewer),
    ("audit", "Audit log", Role::Viewer),
    ("tokens", "Admin tokens", Role::Viewer),
];

/// A whole HTML document.
pub(crate) fn document(
    title: &str,
    nav: Option<&Nav>,
    flash: Option<&Flash>,
    csrf: &str,
    body: String,
) -> String {
    let header = nav.map(|nav| header(nav, csrf)).unwrap_or_default();
    let flash = flash
        .map(|flash| {
            let (class, text) = match flash {
                Flash::Success(text) => ("flash success", text.clone()),
                Flash::Error(text) => ("flash error", text.clone()),
            };
            render(move || view! { <div class=class role="status">{text}</div> })
        })
        .unwrap_or_default();
    let title = escape(title);
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Tollgate</title>\
         <link rel=\"stylesheet\" href=\"/assets/console.css\">\
         <script src=\"/assets/console.js\" defer></script></head>\
         <body>{header}<main>{flash}{body}</main></body></html>"
    )
}

fn header(nav: &Nav, csrf: &str) -> String {
    let current_slug = nav
        .current
        .as_ref()
        .map(|t| t.tenant.slug.clone())
        .unwrap_or_default();
    let section = nav.section.clone();
    let tenants: Vec<(String, String)> = nav
        .tenants
        .iter()
        .map(|t| (t.tenant.slug.clone(), t.tenant.name.clone()))
        .collect();
    let mut links: Vec<(String, &'static str, bool)> = match &nav.current {
        Some(current) => SECTIONS
            .iter()
            .filter(|(_, _, least)| current.role >= *least)
            .map(|(segment, label, _)| {
                let href = if segment.is_empty() {
                    format!("/t/{current_slug}")
                } else {
                    format!("/t/{current_slug}/{segment}")
                };
                (href, *label, *segment == section)
            })
            .collect(),
        None => Vec::new(),
    };
    if nav.platform_admin && nav.current.is_some() {
        links.push((
            format!("/t/{current_slug}/platform"),
            "Platform",
            section == "platform",
        ));
        links.push((
            format!("/t/{current_slug}/proxies"),
            "Proxies",
            section == "proxies",
        ));
        links.push((
            format!("/t/{current_slug}/users"),
            "Users",
            section == "users",
        ));
        links.push((
            format!("/t/{current_slug}/sso"),
            "Single sign-on",
            section == "sso",
        ));
    }
    let role = nav.current.as_ref().map(|t| t.role.as_str()).unwrap_or("");
    let email = nav.email.clone();
    let csrf = csrf.to_string();
    let admin_badge = nav
        .platform_admin
        .then(|| view! { <span class="badge">"platform admin"</span> });
    render(move || {
        view! {
            <header class="top">
                <a class="brand" href="/">"Tollgate"</a>
                <form class="switcher" method="get" action="/switch">
                    <label for="tenant-switch">"Tenant"</label>
                    <select id="tenant-switch" name="tenant" data-autosubmit="">
                        {tenants
                            .into_iter()
                            .map(|(slug, name)| {
                                let selected = slug == current_slug;
                                view! { <option value=slug selected=selected>{name}</option> }
                            })
                            .collect_view()}
                    </select>
                    <input type="hidden" name="section" value=section.clone()/>
                    <button type="submit" class="secondary small js-hide">"Go"</button>
                </form>
                <div class="who">
                    {if current_slug.is_empty() {
                        view! { <span>{email}</span> }.into_any()
                    } else {
                        view! { <a href=format!("/t/{current_slug}/account") title="Your account">{email}</a> }.into_any()
                    }}
                    <span class="role">{role}</span>
                    {admin_badge}
                    <form method="post" action="/logout" class="inline">
                        <input type="hidden" name="csrf" value=csrf/>
                        <button type="submit" class="link">"Sign out"</button>
                    </form>
                </div>
            </header>
            <nav class="sections" aria-label="Sections">
                {links
                    .into_iter()
                    .map(|(href, label, active)| {
                        let current = active.then_some("page");
                        view! { <a href=href aria-current=current>{label}</a> }
                    })
                    .collect_view()}
            </nav>
        }
    })
}

/// A page body for a failure.
pub(crate) fn problem(title: &str, message: &str) -> String {
    let title = title.to_string();
    let message = message.to_string();
    render(move || {
        view! {
            <section class="card">
                <h1>{title}</h1>
                <p>{message}</p>
                <p><a href="/">"Back to the console"</a></p>
            </section>
        }
    })
}

/// Renders a view to HTML outside any reactive context.
pub(crate) fn render<V: IntoView + 'static>(view: impl FnOnce() -> V) -> String {
    Owner::new().with(|| view().to_html())
}

/// Escapes text for HTML outside of views.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The content of a `<textarea>`. Leptos writes a textarea's children as they are, so text
/// that holds `</textarea>` would end the element and turn the rest into live HTML; escaped, the
/// browser shows it as the text it is (textarea content is RCDATA: entities are decoded).
pub(crate) fn escape_textarea(text: &str) -> String {
    escape(text)
}

#[cfg(test)]
mod tests {
    use leptos::prelude::*;

    use super::*;

    #[test]
    fn textarea_content_cannot_break_out() {
        let payload =
            "</textarea><meta http-equiv=refresh content=0;url=//evil.example>".to_string();
        let html = render(move || view! { <textarea>{escape_textarea(&payload)}</textarea> });
        assert_eq!(html.matches("</textarea>").count(), 1, "{html}");
        assert!(!html.contains("<meta"), "{html}");
    }
}
