//! What Tollgate's integration tests share: a real server on a cloned database, an admin API
//! client, upstreams played by small HTTP servers, and proxies started beside the server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
mod balancer;
mod dataplane;
mod mcp;
pub mod oidc;
mod redis;
mod server;
mod slow_link;
mod template;

pub use api::{csrf_token, csrf_token_for, Api, Reply};
pub use balancer::Balancer;
pub use dataplane::{
    call, client, create_key, create_key_in, create_route, dead_url, proxy_config, serve,
    start_proxy, synced, Behaviour, TestProxy, Upstream,
};
pub use mcp::McpUpstream;
pub use oidc::{sign_in_as, OidcProvider};
pub use redis::RedisServer;
pub use server::{
    EmptyDatabase, RoleUsers, ServerProcess, TestServer, ADMIN_EMAIL, ADMIN_PASSWORD, PROXY_TOKEN,
};
pub use slow_link::SlowLink;
