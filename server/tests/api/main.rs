//! Integration tests of the admin API: a real server on real PostgreSQL, over real HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod auth;
mod console;
mod internal;
mod isolation;
mod keys;
mod mcp;
mod members;
mod merge_patch;
mod openapi;
mod providers_models;
mod routes;
mod sso;
mod tenants;
mod tokens;
mod users;
mod validation;
