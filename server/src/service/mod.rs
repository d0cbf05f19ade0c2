//! Business rules of the control plane, shared by the admin API and the console.
//! Every query that touches tenant data is scoped by the tenant the caller may see.

pub mod admin_tokens;
pub mod api_keys;
pub mod audit;
pub mod config_version;
pub mod dataplanes;
pub mod invitations;
pub mod members;
pub mod models;
pub mod namespaces;
pub mod price_catalog;
pub mod prompt_apis;
pub mod providers;
pub(crate) mod removal;
pub mod routes;
pub(crate) mod scoped;
pub mod settings;
pub mod snapshot;
pub mod tenants;
pub mod usage;
pub mod users;
