//! Configuration as code: a tenant's services and routes as a YAML document
//! (`apiVersion: tollgate.dev/v1`, kinds `Service` and `Gateway`), exported, and applied as a
//! whole in one transaction — all or nothing, one configuration version, one audit entry —
//! with a plan (`dry_run`) and `prune`. APIPark's `api.apipark.com/v1` `Gateway` is accepted as
//! an import: its `service:` names a Tollgate service.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::{Principal, TenantAccess};
use crate::error::{ApiError, ApiResult};
use crate::roles::{Require, Role};
use crate::service::api_keys::{self, KeyPolicy};
use crate::service::removal::{self, Removable};
use crate::service::routes::{self, RouteSpec};
use crate::service::upstreams::{self, ServiceSpec};
use crate::service::{audit, config_version};

const API_VERSION: &str = "tollgate.dev/v1";
const APIPARK_VERSION: &str = "api.apipark.com/v1";

/// What applying a document does (or would do) to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct Step {
    /// `Service` or `Route`.
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    /// `create`, `update`, `delete` or `unchanged`.
    pub(crate) action: &'static str,
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

/// One document's envelope; `spec` is read by kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Envelope {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: serde_yaml::Value,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    name: String,
}

/// `kind: Gateway`: hosts, and the routes served on them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewaySpec {
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    routes: Vec<serde_yaml::Value>,
}

/// APIPark's route: a path (or a mesh-style match) and a service (or a destination subset with
/// a weight). Entries with the same match make one route that splits between them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiparkRoute {
    path: Option<String>,
    #[serde(rename = "match")]
    matching: Option<ApiparkMatch>,
    service: Option<String>,
    destination: Option<ApiparkDestination>,
    weight: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiparkMatch {
    prefix: Option<String>,
    exact: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiparkDestination {
    name: String,
    subset: Option<String>,
}

/// What a document asks for, by name.
#[derive(Debug, Default)]
struct Desired {
    services: BTreeMap<String, ServiceSpec>,
    routes: BTreeMap<String, RouteSpec>,
    key_policies: BTreeMap<String, KeyPolicy>,
}

/// Where in the document something is, for error messages.
fn at(document: usize, kind: &str, name: &str) -> String {
    format!("document {document} ({kind} {name})")
}

fn invalid(place: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::Invalid(format!("{place}: {why}"))
}

/// Reads a (multi-document) YAML or JSON text into what it asks for, each object checked and
/// normalised as the API would store it. An error names the document, the object, the line
/// and the field.
fn parse(text: &str) -> ApiResult<Desired> {
    parse_documents(text).map_err(|err| match err {
        ApiError::Invalid(message) => ApiError::Invalid(with_line(text, &message)),
        other => other,
    })
}

/// Adds the line of the field an error names (the first `quoted` word found in its document),
/// else of the document's start, after the error's place.
fn with_line(text: &str, message: &str) -> String {
    if message.contains(" at line ") {
        return message.to_string();
    }
    let Some(number) = message
        .strip_prefix("document ")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return message.to_string();
    };
    let lines: Vec<&str> = text.lines().collect();
    // Documents start at line 1 and after each `---` line (a leading one starts the first).
    let mut starts = vec![0];
    for (i, line) in lines.iter().enumerate() {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            if i == 0 {
                starts[0] = 1;
            } else {
                starts.push(i + 1);
            }
        }
    }
    let Some(&start) = starts.get(number - 1) else {
        return message.to_string();
    };
    let end = starts.get(number).copied().unwrap_or(lines.len());
    let field = message.split('`').nth(1).filter(|f| !f.is_empty());
    let line = field
        .and_then(|field| {
            (start..end).find(|&i| {
                lines[i]
                    .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                    .any(|word| word == field)
            })
        })
        .unwrap_or(start);
    match message.split_once(": ") {
        Some((place, why)) => format!("{place}, line {}: {why}", line + 1),
        None => format!("{message} (line {})", line + 1),
    }
}

fn parse_documents(text: &str) -> ApiResult<Desired> {
    let mut desired = Desired::default();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let number = index + 1;
        let value = serde_yaml::Value::deserialize(document)
            .map_err(|e| invalid(&format!("document {number}"), e))?;
        if value.is_null() {
            continue;
        }
        let envelope: Envelope =
            serde_yaml::from_value(value).map_err(|e| invalid(&format!("document {number}"), e))?;
        let place = at(number, &envelope.kind, &envelope.metadata.name);
        match (envelope.api_version.as_str(), envelope.kind.as_str()) {
            (API_VERSION, "Service") => {
                let mut spec = to_json(&envelope.spec, &place)?;
                insert_name(&mut spec, &envelope.metadata.name, &place)?;
                let spec: ServiceSpec =
                    serde_json::from_value(spec).map_err(|e| invalid(&place, e))?;
                let spec = upstreams::normalised(spec).map_err(|e| invalid(&place, e))?;
                if desired.services.insert(spec.name.clone(), spec).is_some() {
                    return Err(invalid(
                        &place,
                        "a service of this name is in the document twice",
                    ));
                }
            }
            (API_VERSION, "KeyPolicy") => {
                let spec = to_json(&envelope.spec, &place)?;
                let policy: KeyPolicy =
                    serde_json::from_value(spec).map_err(|e| invalid(&place, e))?;
                let policy =
                    api_keys::normalised_policy(&policy).map_err(|e| invalid(&place, e))?;
                if desired
                    .key_policies
                    .insert(envelope.metadata.name.clone(), policy)
                    .is_some()
                {
                    return Err(invalid(
                        &place,
                        "a policy for this key is in the document twice",
                    ));
                }
            }
            (API_VERSION, "Gateway") => {
                let gateway: GatewaySpec =
                    serde_yaml::from_value(envelope.spec).map_err(|e| invalid(&place, e))?;
                for (i, route) in gateway.routes.iter().enumerate() {
                    let place = format!("{place}, routes[{i}]");
                    let mut spec = to_json(route, &place)?;
                    let Some(fields) = spec.as_object_mut() else {
                        return Err(invalid(&place, "a route is a mapping of its fields"));
                    };
                    if fields.contains_key("hosts") {
                        return Err(invalid(
                            &place,
                            "hosts belong to the Gateway, not its routes",
                        ));
                    }
                    fields.insert("hosts".into(), json!(gateway.hosts));
                    if !fields.contains_key("name") {
                        let path = fields.get("path").and_then(Value::as_str).unwrap_or("");
                        fields.insert(
                            "name".into(),
                            json!(route_name(&envelope.metadata.name, path)),
                        );
                    }
                    add_route(&mut desired, spec, &place)?;
                }
            }
            (APIPARK_VERSION, "Gateway") => {
                let gateway: GatewaySpec =
                    serde_yaml::from_value(envelope.spec).map_err(|e| invalid(&place, e))?;
                import_apipark(&mut desired, &envelope.metadata.name, gateway, &place)?;
            }
            (API_VERSION | APIPARK_VERSION, kind) => {
                return Err(invalid(
                    &place,
                    format!(
                        "unknown kind '{kind}'; this version applies Service, Gateway and KeyPolicy"
                    ),
                ))
            }
            (version, _) => {
                return Err(invalid(
                    &place,
                    format!("unknown apiVersion '{version}'; use {API_VERSION}"),
                ))
            }
        }
    }
    Ok(desired)
}

fn to_json(value: &serde_yaml::Value, place: &str) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(|e| invalid(place, e))
}

fn insert_name(spec: &mut Value, name: &str, place: &str) -> ApiResult<()> {
    let Some(fields) = spec.as_object_mut() else {
        return Err(invalid(place, "spec is a mapping of the object's fields"));
    };
    if fields.contains_key("name") {
        return Err(invalid(
            place,
            "the name goes in metadata.name, not in spec",
        ));
    }
    fields.insert("name".into(), json!(name));
    Ok(())
}

fn add_route(desired: &mut Desired, spec: Value, place: &str) -> ApiResult<()> {
    let spec: RouteSpec = serde_json::from_value(spec).map_err(|e| invalid(place, e))?;
    let spec = routes::normalised(spec).map_err(|e| invalid(place, e))?;
    if desired.routes.insert(spec.name.clone(), spec).is_some() {
        return Err(invalid(
            place,
            "a route of this name is in the document twice",
        ));
    }
    Ok(())
}

/// A route's default name: its gateway's, then its path's words.
fn route_name(gateway: &str, path: &str) -> String {
    let words: Vec<&str> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        gateway.to_string()
    } else {
        format!("{gateway}-{}", words.join("-"))
    }
}

fn import_apipark(
    desired: &mut Desired,
    gateway: &str,
    spec: GatewaySpec,
    place: &str,
) -> ApiResult<()> {
    // Routes by (match, path), in the order they first appear.
    let mut grouped: Vec<((&'static str, String), Vec<Value>)> = Vec::new();
    for (i, route) in spec.routes.iter().enumerate() {
        let place = format!("{place}, routes[{i}]");
        let route: ApiparkRoute =
            serde_yaml::from_value(route.clone()).map_err(|e| invalid(&place, e))?;
        let matching = match (route.path, route.matching) {
            (Some(path), None) => ("prefix", path),
            (
                None,
                Some(ApiparkMatch {
                    prefix: Some(path),
                    exact: None,
                }),
            ) => ("prefix", path),
            (
                None,
                Some(ApiparkMatch {
                    prefix: None,
                    exact: Some(path),
                }),
            ) => ("exact", path),
            _ => {
                return Err(invalid(
                    &place,
                    "give a path, or a match with one of prefix or exact",
                ))
            }
        };
        let destination = match (route.service, route.destination) {
            (Some(service), None) => {
                json!({"service": service, "weight": route.weight.unwrap_or(100)})
            }
            (None, Some(d)) => {
                json!({"service": d.name, "subset": d.subset, "weight": route.weight.unwrap_or(100)})
            }
            _ => {
                return Err(invalid(
                    &place,
                    "give a service, or a destination with a name",
                ))
            }
        };
        match grouped.iter_mut().find(|(m, _)| *m == matching) {
            Some((_, destinations)) => destinations.push(destination),
            None => grouped.push((matching, vec![destination])),
        }
    }
    for ((path_match, path), destinations) in grouped {
        let route_place = format!("{place}, route {path}");
        let spec = json!({
            "name": route_name(gateway, &path),
            "hosts": spec.hosts,
            "path": path,
            "match": path_match,
            "destinations": destinations,
        });
        add_route(desired, spec, &route_place)?;
    }
    Ok(())
}

/// The tenant's services and routes as a document: services first, then one Gateway per set of
/// hosts.
pub(crate) async fn export(db: &PgPool, access: &TenantAccess) -> ApiResult<String> {
    let services = upstreams::list(db, access).await?;
    let routes = routes::list(db, access).await?;
    let mut out = String::new();
    for service in services {
        let mut spec = serde_json::to_value(&service.spec).map_err(ApiError::internal)?;
        if let Some(fields) = spec.as_object_mut() {
            fields.remove("name");
        }
        push_document(&mut out, "Service", &service.spec.name, spec)?;
    }
    let mut conn = db.acquire().await?;
    let keys = api_keys::policies(&mut conn, access).await?;
    drop(conn);
    for (_, name, policy) in &keys {
        // A name several keys share cannot be applied back; those keys stay out.
        if keys.iter().filter(|(_, other, _)| other == name).count() == 1 {
            let spec = serde_json::to_value(policy).map_err(ApiError::internal)?;
            push_document(&mut out, "KeyPolicy", name, spec)?;
        }
    }
    let mut gateways: BTreeMap<Vec<String>, Vec<Value>> = BTreeMap::new();
    for route in routes {
        let mut spec = serde_json::to_value(&route.spec).map_err(ApiError::internal)?;
        if let Some(fields) = spec.as_object_mut() {
            fields.remove("hosts");
        }
        gateways.entry(route.spec.hosts).or_default().push(spec);
    }
    for (i, (hosts, routes)) in gateways.into_iter().enumerate() {
        let name = if i == 0 {
            "gateway".to_string()
        } else {
            format!("gateway-{}", i + 1)
        };
        push_document(
            &mut out,
            "Gateway",
            &name,
            json!({"hosts": hosts, "routes": routes}),
        )?;
    }
    Ok(out)
}

fn push_document(out: &mut String, kind: &str, name: &str, spec: Value) -> ApiResult<()> {
    let document = json!({"apiVersion": API_VERSION, "kind": kind,
                          "metadata": {"name": name}, "spec": spec});
    if !out.is_empty() {
        out.push_str("---\n");
    }
    out.push_str(&serde_yaml::to_string(&document).map_err(ApiError::internal)?);
    Ok(())
}

/// What the options of an apply say.
pub(crate) struct ApplyOptions {
    pub(crate) dry_run: bool,
    pub(crate) prune: bool,
    /// The configuration version the caller based the document on (`If-Match`).
    pub(crate) expected_version: Option<i64>,
}

/// Applies a document in one transaction: services, then routes, then (with `prune`) deletes
/// what the document does not name. A dry run does it all and rolls back, so the plan it
/// returns has passed every check a real apply makes.
pub(crate) async fn apply(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    text: &str,
    options: ApplyOptions,
) -> ApiResult<Applied> {
    access.role.require(Role::Admin, "apply configuration")?;
    let desired = parse(text)?;
    let mut tx = db.begin().await?;
    let version: i64 = sqlx::query_scalar("SELECT version FROM config_version FOR UPDATE")
        .fetch_one(&mut *tx)
        .await?;
    if let Some(expected) = options.expected_version {
        if expected != version {
            return Err(ApiError::Status {
                status: axum::http::StatusCode::PRECONDITION_FAILED,
                detail: format!(
                    "the configuration is at version {version}, not {expected}: it changed since; export it again and re-apply"
                ),
            });
        }
    }
    let services: BTreeMap<String, (Uuid, ServiceSpec)> = upstreams::list(db, access)
        .await?
        .into_iter()
        .map(|s| (s.spec.name.clone(), (s.id, s.spec)))
        .collect();
    let current_routes: BTreeMap<String, (Uuid, RouteSpec)> = routes::list(db, access)
        .await?
        .into_iter()
        .map(|r| (r.spec.name.clone(), (r.id, r.spec)))
        .collect();
    let mut plan = Vec::new();
    // Services first (routes may name new ones or new subsets); whether routes still find their
    // subsets is checked once the routes have moved too.
    let mut updated = Vec::new();
    for (name, spec) in &desired.services {
        let action = match services.get(name) {
            None => {
                upstreams::insert(&mut tx, access, spec.clone()).await?;
                "create"
            }
            Some((_, current)) if current == spec => "unchanged",
            Some((id, _)) => {
                let service =
                    upstreams::replace_unchecked(&mut tx, access, *id, spec.clone()).await?;
                updated.push(service);
                "update"
            }
        };
        plan.push(Step {
            kind: "Service",
            name: name.clone(),
            action,
        });
    }
    for (name, spec) in &desired.routes {
        let action = match current_routes.get(name) {
            None => {
                routes::insert(&mut tx, access, spec.clone()).await?;
                "create"
            }
            Some((_, current)) if same(current, spec)? => "unchanged",
            Some((id, _)) => {
                routes::replace(&mut tx, access, *id, spec.clone()).await?;
                "update"
            }
        };
        plan.push(Step {
            kind: "Route",
            name: name.clone(),
            action,
        });
    }
    if options.prune {
        for (name, (id, _)) in &current_routes {
            if !desired.routes.contains_key(name) {
                removal::remove_in(&mut tx, access, Removable::Route, *id).await?;
                plan.push(Step {
                    kind: "Route",
                    name: name.clone(),
                    action: "delete",
                });
            }
        }
        for (name, (id, _)) in &services {
            if !desired.services.contains_key(name) {
                upstreams::remove(&mut tx, access, *id).await?;
                plan.push(Step {
                    kind: "Service",
                    name: name.clone(),
                    action: "delete",
                });
            }
        }
    }
    for service in &updated {
        upstreams::still_served(&mut tx, access, service).await?;
    }
    if !desired.key_policies.is_empty() {
        let keys = api_keys::policies(&mut tx, access).await?;
        for (name, policy) in &desired.key_policies {
            let mut named = keys.iter().filter(|(_, key, _)| key == name);
            let (id, _, current) = named.next().ok_or_else(|| {
                ApiError::Invalid(format!(
                    "KeyPolicy {name}: no active key of this tenant is named '{name}'; create the key first (its secret never goes in a document)"
                ))
            })?;
            if named.next().is_some() {
                return Err(ApiError::Conflict(format!(
                    "KeyPolicy {name}: several active keys are named '{name}'; give them names of their own first"
                )));
            }
            let same = serde_json::to_value(current).map_err(ApiError::internal)?
                == serde_json::to_value(policy).map_err(ApiError::internal)?;
            let action = if same {
                "unchanged"
            } else {
                api_keys::set_policy(&mut tx, access, *id, policy).await?;
                "update"
            };
            plan.push(Step {
                kind: "KeyPolicy",
                name: name.clone(),
                action,
            });
        }
    }
    let changed: Vec<&Step> = plan.iter().filter(|s| s.action != "unchanged").collect();
    if options.dry_run || changed.is_empty() {
        tx.rollback().await?;
        return Ok(Applied {
            dry_run: options.dry_run,
            version,
            plan,
        });
    }
    audit::record(
        &mut tx,
        principal,
        audit::Change {
            tenant_id: Some(access.tenant.id),
            action: "config.apply",
            target_type: "config",
            target_id: access.tenant.slug.clone(),
            details: json!({ "changes": changed, "prune": options.prune }),
        },
    )
    .await?;
    let version = config_version::bump(&mut tx).await?;
    tx.commit().await?;
    Ok(Applied {
        dry_run: false,
        version,
        plan,
    })
}

/// Whether two route settings are the same (as the API shows them).
fn same(a: &RouteSpec, b: &RouteSpec) -> ApiResult<bool> {
    let a = serde_json::to_value(a).map_err(ApiError::internal)?;
    let b = serde_json::to_value(b).map_err(ApiError::internal)?;
    Ok(a == b)
}

/// The JSON Schema (2020-12) of one document, for editors to complete and check: the objects'
/// schemas are the admin API's (from its OpenAPI document), with a Service's name and a Gateway
/// route's hosts moved out to where the document keeps them.
pub(crate) fn json_schema() -> Value {
    let openapi = serde_json::to_value(crate::api::openapi()).unwrap_or_default();
    let schemas = openapi["components"]["schemas"].to_string();
    let mut defs: Value =
        serde_json::from_str(&schemas.replace("#/components/schemas/", "#/$defs/"))
            .unwrap_or_else(|_| json!({}));
    let without = |schema: &Value, field: &str| {
        let mut schema = schema.clone();
        if let Some(properties) = schema["properties"].as_object_mut() {
            properties.remove(field);
        }
        if let Some(required) = schema["required"].as_array_mut() {
            required.retain(|r| r != field);
        }
        schema
    };
    let service_body = without(&defs["ServiceSpec"], "name");
    let mut gateway_route = without(&defs["RouteSpec"], "hosts");
    if let Some(required) = gateway_route["required"].as_array_mut() {
        required.retain(|r| r != "name");
    }
    defs["ServiceBody"] = service_body;
    defs["KeyPolicy"] = serde_json::to_value(<KeyPolicy as utoipa::PartialSchema>::schema())
        .map(|v| {
            serde_json::from_str(&v.to_string().replace("#/components/schemas/", "#/$defs/"))
                .unwrap_or(v)
        })
        .unwrap_or_default();
    defs["GatewayRoute"] = gateway_route;
    let document = |version: &str, kind: &str, spec: Value| {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["apiVersion", "kind", "metadata", "spec"],
            "properties": {
                "apiVersion": {"const": version},
                "kind": {"const": kind},
                "metadata": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name"],
                    "properties": {"name": {"type": "string", "minLength": 1}}
                },
                "spec": spec
            }
        })
    };
    let hosts = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Tollgate configuration document",
        "description": "One document of a tollgate.dev/v1 configuration (several are separated by ---).",
        "oneOf": [
            document(API_VERSION, "Service", json!({"$ref": "#/$defs/ServiceBody"})),
            document(API_VERSION, "Gateway", json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "hosts": hosts,
                    "routes": {"type": "array", "items": {"$ref": "#/$defs/GatewayRoute"}}
                }
            })),
            document(API_VERSION, "KeyPolicy", json!({"$ref": "#/$defs/KeyPolicy"})),
            document(APIPARK_VERSION, "Gateway", json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "hosts": hosts,
                    "routes": {"type": "array", "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                            "path": {"type": "string"},
                            "match": {"type": "object", "additionalProperties": false,
                                      "properties": {"prefix": {"type": "string"}, "exact": {"type": "string"}}},
                            "service": {"type": "string"},
                            "destination": {"type": "object", "additionalProperties": false, "required": ["name"],
                                            "properties": {"name": {"type": "string"}, "subset": {"type": "string"}}},
                            "weight": {"type": "integer", "minimum": 0}
                        }
                    }}
                }
            }))
        ],
        "$defs": defs
    })
}

/// A document checked without a database (`tollgate validate`).
#[derive(Debug)]
pub struct Checked {
    /// The services it defines.
    pub services: Vec<String>,
    /// The routes it defines.
    pub routes: Vec<String>,
    /// (route, service) pairs where a route names a service the document does not define: it
    /// must exist in the tenant already.
    pub outside_services: Vec<(String, String)>,
}

/// Checks a document's syntax, kinds and fields as an apply would, without a database.
pub fn check_document(text: &str) -> Result<Checked, String> {
    let desired = parse(text).map_err(|e| e.to_string())?;
    let mut outside_services = Vec::new();
    for (name, route) in &desired.routes {
        let named = route
            .service
            .iter()
            .chain(route.destinations.iter().map(|d| &d.service));
        for service in named {
            if !desired.services.contains_key(service) {
                outside_services.push((name.clone(), service.clone()));
            }
        }
    }
    Ok(Checked {
        services: desired.services.into_keys().collect(),
        routes: desired.routes.into_keys().collect(),
        outside_services,
    })
}

/// The names a document defines, for `validate`-style checks without a database.
#[cfg(test)]
fn names(
    text: &str,
) -> ApiResult<(
    std::collections::BTreeSet<String>,
    std::collections::BTreeSet<String>,
)> {
    let desired = parse(text)?;
    Ok((
        desired.services.into_keys().collect(),
        desired.routes.into_keys().collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apipark_seed_example_is_accepted_as_it_is() {
        let text = "apiVersion: api.apipark.com/v1\nkind: Gateway\nmetadata:\n  name: api-park-gateway\nspec:\n  hosts: [my-gateway.example.com]\n  routes:\n  - path: /service\n    service: my-service\n";
        let desired = parse(text).unwrap();
        let route = &desired.routes["api-park-gateway-service"];
        assert_eq!(route.hosts, ["my-gateway.example.com"]);
        assert_eq!(route.destinations[0].service, "my-service");
    }

    #[test]
    fn mesh_style_entries_with_one_match_make_one_split_route() {
        let text = "apiVersion: api.apipark.com/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  routes:\n  - match: {prefix: /service}\n    destination: {name: my-service, subset: v1}\n    weight: 90\n  - match: {prefix: /service}\n    destination: {name: my-service, subset: v2}\n    weight: 10\n";
        let desired = parse(text).unwrap();
        let route = &desired.routes["g-service"];
        assert_eq!(route.destinations.len(), 2);
        assert_eq!(route.destinations[1].subset.as_deref(), Some("v2"));
    }

    #[test]
    fn mistakes_name_their_document_and_field() {
        let text = "apiVersion: tollgate.dev/v1\nkind: Service\nmetadata: {name: s}\nspec:\n  targets: [{url: 'http://a'}]\n---\napiVersion: tollgate.dev/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  routes:\n  - path: /x\n    servise: s\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.contains("document 2 (Gateway g), routes[0], line 13"),
            "{err}"
        );
        assert!(err.contains("servise"), "{err}");
        let err =
            parse("apiVersion: tollgate.dev/v9\nkind: Service\nmetadata: {name: s}\nspec: {}\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("apiVersion 'tollgate.dev/v9'"), "{err}");
        let err = parse("kind: Nope\n").unwrap_err().to_string();
        assert!(err.contains("document 1"), "{err}");
        let (services, routes) = names(&text.replace("servise", "service")).unwrap();
        assert_eq!((services.len(), routes.len()), (1, 1));
    }
}
