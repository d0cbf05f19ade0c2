//! Business rules of the control plane, shared by the admin API and the console.
//! Every query that touches tenant data is scoped by the tenant the caller may see.

pub(crate) mod admin_tokens;
pub(crate) mod api_keys;
pub(crate) mod audit;
pub(crate) mod config_doc;
pub(crate) mod config_version;
pub(crate) mod dataplanes;
pub(crate) mod identity_providers;
pub(crate) mod invitations;
pub(crate) mod jobs;
pub(crate) mod jwt_issuers;
pub(crate) mod mcp_servers;
pub(crate) mod members;
pub(crate) mod models;
pub(crate) mod namespaces;
pub(crate) mod openapi_docs;
pub(crate) mod password_resets;
pub(crate) mod portal;
pub(crate) mod price_catalog;
pub(crate) mod prompt_apis;
pub(crate) mod providers;
pub(crate) mod removal;
pub(crate) mod routes;
pub(crate) mod scoped;
pub(crate) mod settings;
pub(crate) mod sign_ins;
pub(crate) mod snapshot;
pub(crate) mod sso;
pub(crate) mod tenants;
pub(crate) mod upstreams;
pub(crate) mod usage;
pub(crate) mod users;
