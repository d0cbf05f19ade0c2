//! End to end: the server, a real tollgate-proxy, and upstreams played by real HTTP servers on
//! loopback ports.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod ai;
mod chat_dialect;
mod cluster;
mod config_doc;
mod conformance;
mod console_browser;

mod jwt_callers;
mod keys_and_limits;
mod mcp;
mod messages;
mod portal;
mod readme;
mod resilience;
mod responses;
mod routing;
mod sdk;
mod security;
mod services;
mod shared_budgets;
mod shared_limits;
mod usage;
