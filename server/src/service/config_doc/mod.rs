//! Configuration as code: a tenant's providers, models, services, routes, prompt APIs and key
//! policies as a YAML document (`apiVersion: tollgate.dev/v1`), exported, and applied as a
//! whole in one transaction — all or nothing, one configuration version, one audit entry —
//! with a plan (`dry_run`) and `prune`. APIPark's `api.apipark.com/v1` `Gateway` is accepted as
//! an import: its `service:` names a Tollgate service.

mod apply;
mod export;
mod lines;
mod parse;
mod references;
mod schema;

use serde::Serialize;
use utoipa::ToSchema;

pub(crate) use apply::apply;
pub(crate) use export::export;
pub use parse::{check_document, Checked};
pub(crate) use schema::json_schema;

/// What applying a document does (or would do) to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct Step {
    /// `Provider`, `Model`, `Service`, `Route`, `PromptApi`, `KeyPolicy` or `JwtIssuer`.
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    /// `create`, `update`, `delete` or `unchanged`.
    pub(crate) action: &'static str,
    /// For an update, the settings that change (credentials by name only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) fields: Vec<String>,
}

/// The outcome of an apply.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Applied {
    /// Nothing was stored: this is the plan.
    pub(crate) dry_run: bool,
    /// The configuration version after the apply (unchanged by a dry run or an empty plan).
    pub(crate) version: i64,
    pub(crate) plan: Vec<Step>,
}

/// What the options of an apply say.
pub(crate) struct ApplyOptions {
    pub(crate) dry_run: bool,
    pub(crate) prune: bool,
    /// The configuration version the caller based the document on (`If-Match`).
    pub(crate) expected_version: Option<i64>,
}
