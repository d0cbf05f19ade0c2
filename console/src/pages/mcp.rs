//! Remote MCP servers of the tenant: add one (credentials write-only), test it (lists its
//! tools), delete it.

use axum::extract::Path;
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

use super::IdPath;
use crate::ctx::{Flash, TenantCtx};
use crate::forms;
use crate::layout::render;
use crate::types::Role;

pub(crate) async fn list(t: TenantCtx) -> Response {
    let servers: Vec<Value> = match t.ctx.api.get(&t.api_path("/mcp-servers")).await {
        Ok(servers) => servers,
        Err(failure) => return t.failure(failure),
    };
    let csrf = t.ctx.csrf.clone();
    let base = t.path("/mcp");
    let may_edit = t.role() >= Role::Admin;
    let proxy = t.ctx.proxy_url.trim_end_matches('/').to_string();
    let first = servers
        .first()
        .and_then(|s| s["name"].as_str())
        .unwrap_or("github")
        .to_string();
    let agent_config = format!(
        "{{\n  \"mcpServers\": {{\n    \"tollgate\": {{\n      \"type\": \"http\",\n      \"url\": \"{proxy}/mcp\",\n      \"headers\": {{ \"Authorization\": \"Bearer ${{TOLLGATE_KEY}}\" }}\n    }}\n  }}\n}}"
    );
    let body = render(move || {
        view! {
            <div class="page-head"><h1>"MCP servers"</h1></div>
            <p class="muted">"Remote tool servers (MCP, Streamable HTTP) this tenant uses. Their credentials are kept encrypted and never shown again; \u{201c}Test\u{201d} connects as an MCP client and lists the tools."</p>
            {if servers.is_empty() {
                view! { <section class="card empty"><p>"No MCP server yet."</p></section> }.into_any()
            } else {
                view! {
                    <table>
                        <thead><tr><th>"Name"</th><th>"URL"</th><th>"Credentials"</th><th>"Tools allowed"</th><th>"Timeout"</th><th></th></tr></thead>
                        <tbody>
                            {servers.iter().map(|s| {
                                let id = s["id"].as_str().unwrap_or_default().to_string();
                                let tools = s["tools"].as_array().map(|t| t.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).filter(|t| !t.is_empty()).unwrap_or_else(|| "all".into());
                                view! {
                                    <tr>
                                        <td>{s["name"].as_str().unwrap_or_default().to_string()}</td>
                                        <td><code>{s["url"].as_str().unwrap_or_default().to_string()}</code></td>
                                        <td>{s["token_hint"].as_str().unwrap_or_default().to_string()}</td>
                                        <td>{tools}</td>
                                        <td>{s["timeout"].as_str().unwrap_or_default().to_string()}</td>
                                        <td class="row-actions">
                                            <form method="post" action=format!("{base}/{id}/test") class="inline">
                                                <input type="hidden" name="csrf" value=csrf.clone()/>
                                                <button type="submit" class="link">"Test"</button>
                                            </form>
                                            {may_edit.then(|| view! {
                                                <form method="post" action=format!("{base}/{id}/delete") data-confirm="Delete this MCP server?" class="inline">
                                                    <input type="hidden" name="csrf" value=csrf.clone()/>
                                                    <button type="submit" class="link danger">"Delete"</button>
                                                </form>
                                            })}
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <section class="card">
                <h2>"Connect an agent"</h2>
                <p>"Agents reach these servers through the proxy with a Tollgate key whose scope names them (MCP servers: " <code>"*"</code> ", a server's name, or " <code>"server/tool"</code> "). The servers' own credentials stay here; each tool call is metered."</p>
                <ul>
                    <li><code>{format!("{proxy}/mcp")}</code>" — every server the key may use, tools named " <code>"server__tool"</code></li>
                    <li><code>{format!("{proxy}/mcp/{first}")}</code>" — one server"</li>
                    <li><code>{format!("{proxy}/mcp/prompt-apis")}</code>" — this tenant's prompt APIs as tools"</li>
                </ul>
                <div class="copy-row"><pre id="mcp-config">{agent_config}</pre><button type="button" class="secondary" data-copy="#mcp-config">"Copy"</button></div>
            </section>
            {may_edit.then(|| view! {
                <section class="card">
                    <h2>"Add an MCP server"</h2>
                    <form method="post" action=base.clone() class="grid-form">
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        <label for="name">"Name"</label>
                        <input id="name" name="name" required placeholder="github"/>
                        <label for="url">"URL (Streamable HTTP)"</label>
                        <input id="url" name="url" required placeholder="https://tools.example.com/mcp"/>
                        <label for="bearer_token">"Bearer token"</label>
                        <input id="bearer_token" name="bearer_token" type="password" autocomplete="off"/>
                        <label for="timeout">"Timeout"</label>
                        <input id="timeout" name="timeout" placeholder="60s"/>
                        <label for="tools">"Allowed tools (empty: all)"</label>
                        <input id="tools" name="tools" placeholder="search, create_issue"/>
                        <div class="actions"><button type="submit">"Add server"</button></div>
                    </form>
                </section>
            })}
        }
    });
    t.page("MCP servers", body)
}

#[derive(Deserialize)]
pub(crate) struct ServerForm {
    name: String,
    url: String,
    #[serde(default)]
    bearer_token: String,
    #[serde(default)]
    timeout: String,
    #[serde(default)]
    tools: String,
}

pub(crate) async fn create(t: TenantCtx, Form(form): Form<ServerForm>) -> Response {
    let body = json!({"name": form.name.trim(), "url": form.url.trim(),
        "bearer_token": forms::opt(&form.bearer_token), "timeout": forms::opt(&form.timeout),
        "tools": forms::list(&form.tools)});
    let result = t
        .ctx
        .api
        .post::<Value>(&t.api_path("/mcp-servers"), &body)
        .await;
    t.after(&t.path("/mcp"), result, |s| {
        format!(
            "MCP server \u{201c}{}\u{201d} added.",
            s["name"].as_str().unwrap_or_default()
        )
    })
}

pub(crate) async fn test(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    let back = t.path("/mcp");
    match t
        .ctx
        .api
        .post::<Value>(&t.api_path(&format!("/mcp-servers/{id}/test")), &json!({}))
        .await
    {
        Ok(found) => {
            let tools: Vec<&str> = found["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["name"].as_str())
                .collect();
            let flash = if found["ok"] == true {
                Flash::Success(format!(
                    "Connection works ({} ms): {}",
                    found["latency_ms"],
                    if tools.is_empty() {
                        "no tools".to_string()
                    } else {
                        tools.join(", ")
                    }
                ))
            } else {
                Flash::Error(format!(
                    "Connection failed: {}",
                    found["detail"].as_str().unwrap_or_default()
                ))
            };
            t.ctx.redirect(&back, Some(flash))
        }
        Err(failure) => t.refused(&back, failure),
    }
}

pub(crate) async fn delete(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    let result = t
        .ctx
        .api
        .send(
            Method::DELETE,
            &t.api_path(&format!("/mcp-servers/{id}")),
            None,
        )
        .await;
    t.after(&t.path("/mcp"), result, |_| "MCP server deleted.".into())
}
