//! OpenAPI documents of services, uploaded as JSON or YAML. When a service publishes them, each
//! operation becomes an MCP tool of the routes that forward to it (`/mcp/rest-apis` on the
//! proxy): its parameters and JSON request body make the tool's input schema.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sqlx::PgPool;
use time::OffsetDateTime;
use tollgate_protocol::{RestTool, RestToolParameter};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::{Principal, TenantAccess};
use crate::error::{ApiError, ApiResult};
use crate::roles::{Require, Role};
use crate::service::{audit, config_version, upstreams};

/// Largest document accepted.
const DOCUMENT_MAX: usize = 2 << 20;
/// Most operations published as tools per document.
const TOOLS_MAX: usize = 200;
/// How deep `$ref`s are followed into a schema.
const REF_DEPTH_MAX: usize = 12;
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// A document to store.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OpenApiUpload {
    /// The OpenAPI 3 document: a JSON object, or its JSON or YAML text.
    #[schema(value_type = Object)]
    pub(crate) document: Value,
    /// Publish its operations as MCP tools (default: no).
    #[serde(default)]
    pub(crate) publish_as_tools: bool,
}

/// A service's document, and the tools it makes.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ServiceOpenApi {
    #[schema(value_type = Object)]
    pub(crate) document: Value,
    pub(crate) publish_as_tools: bool,
    /// One per operation, whether published or not.
    pub(crate) tools: Vec<ToolSummary>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}

/// An operation as an MCP tool.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ToolSummary {
    pub(crate) name: String,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) description: Option<String>,
}

/// The document an upload holds, checked.
pub(crate) fn document_of(upload: Value) -> ApiResult<Value> {
    let document = match upload {
        Value::String(text) => {
            if text.len() > DOCUMENT_MAX {
                return Err(too_large());
            }
            // YAML is a superset of JSON; serde_yaml refuses alias bombs.
            serde_yaml::from_str::<Value>(&text)
                .map_err(|why| ApiError::Invalid(format!("document: not JSON or YAML: {why}")))?
        }
        other => other,
    };
    if serde_json::to_vec(&document).map_or(true, |bytes| bytes.len() > DOCUMENT_MAX) {
        return Err(too_large());
    }
    let version = document
        .get("openapi")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !version.starts_with("3.") {
        return Err(ApiError::Invalid(
            "document: an OpenAPI 3 document is needed (its \"openapi\" field like \"3.1.0\")"
                .into(),
        ));
    }
    if !document.get("paths").is_some_and(Value::is_object) {
        return Err(ApiError::Invalid(
            "document: \"paths\" must be an object".into(),
        ));
    }
    Ok(document)
}

fn too_large() -> ApiError {
    ApiError::Invalid(format!("document: at most {} MiB", DOCUMENT_MAX >> 20))
}

/// The document's operations as tools.
pub(crate) fn tools_of(document: &Value) -> ApiResult<Vec<RestTool>> {
    let mut tools: Vec<RestTool> = Vec::new();
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return Ok(tools);
    };
    for (path, item) in paths {
        if !path.starts_with('/') {
            continue;
        }
        let item = resolve(document, item, 0);
        let shared_parameters = item.get("parameters").cloned().unwrap_or(json!([]));
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let name = tool_name(operation, method, path);
            if tools.iter().any(|t| t.name == name) {
                return Err(ApiError::Invalid(format!(
                    "document: two operations would both be the tool '{name}'; give them distinct operationIds"
                )));
            }
            tools.push(tool(
                document,
                operation,
                &shared_parameters,
                method,
                path,
                name,
            ));
            if tools.len() > TOOLS_MAX {
                return Err(ApiError::Invalid(format!(
                    "document: at most {TOOLS_MAX} operations can be published as tools"
                )));
            }
        }
    }
    Ok(tools)
}

/// `operationId` where there is one (characters MCP tool names may not hold become `_`),
/// else the method and path: `get_orders_id`.
fn tool_name(operation: &Value, method: &str, path: &str) -> String {
    let raw = match operation.get("operationId").and_then(Value::as_str) {
        Some(id) if !id.trim().is_empty() => id.to_string(),
        _ => format!("{method}{path}"),
    };
    let mut name = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' {
            c
        } else {
            '_'
        };
        if !(c == '_' && name.ends_with('_')) {
            name.push(c);
        }
    }
    let name = name.trim_matches('_').replace("__", "_");
    name.chars().take(64).collect()
}

fn tool(
    document: &Value,
    operation: &Value,
    shared_parameters: &Value,
    method: &str,
    path: &str,
    name: String,
) -> RestTool {
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut parameters = Vec::new();
    let listed = shared_parameters.as_array().into_iter().flatten().chain(
        operation
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten(),
    );
    for parameter in listed {
        let parameter = resolve(document, parameter, 0);
        let (Some(name), Some(location)) = (
            parameter.get("name").and_then(Value::as_str),
            parameter.get("in").and_then(Value::as_str),
        ) else {
            continue;
        };
        if !matches!(location, "path" | "query" | "header") {
            continue;
        }
        let mut schema = parameter
            .get("schema")
            .map(|s| inline(document, s, 0))
            .unwrap_or_else(|| json!({"type": "string"}));
        if let Some(description) = parameter.get("description") {
            schema["description"] = description.clone();
        }
        if location == "path" || parameter.get("required") == Some(&Value::Bool(true)) {
            required.push(json!(name));
        }
        properties.insert(name.to_string(), schema);
        parameters.retain(|p: &RestToolParameter| p.name != name);
        parameters.push(RestToolParameter {
            name: name.to_string(),
            location: location.to_string(),
        });
    }
    let request_body = operation
        .get("requestBody")
        .map(|b| resolve(document, b, 0));
    let body_schema = request_body.as_ref().and_then(|b| {
        b.pointer("/content/application~1json/schema")
            .map(|s| inline(document, s, 0))
    });
    let body = body_schema.is_some();
    if let Some(mut schema) = body_schema {
        if schema.get("description").is_none() {
            schema["description"] = json!("The JSON request body.");
        }
        properties.insert("body".into(), schema);
        if request_body.is_some_and(|b| b.get("required") == Some(&Value::Bool(true))) {
            required.push(json!("body"));
        }
    }
    let description = [operation.get("summary"), operation.get("description")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n\n");
    RestTool {
        name,
        description: Some(if description.is_empty() {
            format!("{} {path}", method.to_uppercase())
        } else {
            description
        }),
        method: method.to_uppercase(),
        path: path.to_string(),
        input_schema: json!({"type": "object", "properties": properties, "required": required}),
        parameters,
        body,
    }
}

/// The object a `$ref` points at (within the document), or the value itself.
fn resolve(document: &Value, value: &Value, depth: usize) -> Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) if depth < REF_DEPTH_MAX => reference
            .strip_prefix('#')
            .and_then(|pointer| document.pointer(pointer))
            .map(|target| resolve(document, target, depth + 1))
            .unwrap_or_else(|| json!({})),
        Some(_) => json!({}),
        None => value.clone(),
    }
}

/// A schema with its local `$ref`s replaced by what they point at (to a depth; deeper or
/// recursive parts are left open: any value).
fn inline(document: &Value, schema: &Value, depth: usize) -> Value {
    if depth >= REF_DEPTH_MAX {
        return json!({});
    }
    match resolve(document, schema, 0) {
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .map(|(key, value)| (key, inline(document, &value, depth + 1)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| inline(document, item, depth + 1))
                .collect(),
        ),
        other => other,
    }
}

fn summaries(tools: &[RestTool]) -> Vec<ToolSummary> {
    tools
        .iter()
        .map(|t| ToolSummary {
            name: t.name.clone(),
            method: t.method.clone(),
            path: t.path.clone(),
            description: t.description.clone(),
        })
        .collect()
}

/// Stores (or replaces) a service's document.
pub(crate) async fn put(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    service_id: Uuid,
    upload: OpenApiUpload,
) -> ApiResult<ServiceOpenApi> {
    access.role.require(Role::Admin, "manage services")?;
    let service = upstreams::get(db, access, service_id).await?;
    let document = document_of(upload.document)?;
    let tools = tools_of(&document)?;
    let mut tx = db.begin().await?;
    let updated_at: OffsetDateTime = sqlx::query_scalar(
        "INSERT INTO service_openapi (service_id, tenant_id, document, publish_tools)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (service_id) DO UPDATE SET document = excluded.document,
             publish_tools = excluded.publish_tools, updated_at = now()
         RETURNING updated_at",
    )
    .bind(service_id)
    .bind(access.tenant.id)
    .bind(&document)
    .bind(upload.publish_as_tools)
    .fetch_one(&mut *tx)
    .await?;
    let change = audit::Change {
        tenant_id: Some(access.tenant.id),
        action: "service.openapi.put",
        target_type: "service",
        target_id: service_id.to_string(),
        details: json!({"name": service.spec.name, "operations": tools.len(),
                        "publish_as_tools": upload.publish_as_tools}),
    };
    config_version::commit(tx, principal, change).await?;
    Ok(ServiceOpenApi {
        document,
        publish_as_tools: upload.publish_as_tools,
        tools: summaries(&tools),
        updated_at,
    })
}

/// A service's document.
pub(crate) async fn get(
    db: &PgPool,
    access: &TenantAccess,
    service_id: Uuid,
) -> ApiResult<ServiceOpenApi> {
    let row: Option<(Value, bool, OffsetDateTime)> = sqlx::query_as(
        "SELECT document, publish_tools, updated_at FROM service_openapi
         WHERE tenant_id = $1 AND service_id = $2",
    )
    .bind(access.tenant.id)
    .bind(service_id)
    .fetch_optional(db)
    .await?;
    let (document, publish_as_tools, updated_at) = row.ok_or_else(|| {
        ApiError::not_found("OpenAPI document of service", &service_id.to_string())
    })?;
    let tools = tools_of(&document).unwrap_or_default();
    Ok(ServiceOpenApi {
        document,
        publish_as_tools,
        tools: summaries(&tools),
        updated_at,
    })
}

/// Removes a service's document (and its tools).
pub(crate) async fn delete(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    service_id: Uuid,
) -> ApiResult<()> {
    access.role.require(Role::Admin, "manage services")?;
    let mut tx = db.begin().await?;
    let deleted =
        sqlx::query("DELETE FROM service_openapi WHERE tenant_id = $1 AND service_id = $2")
            .bind(access.tenant.id)
            .bind(service_id)
            .execute(&mut *tx)
            .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::not_found(
            "OpenAPI document of service",
            &service_id.to_string(),
        ));
    }
    let change = audit::Change {
        tenant_id: Some(access.tenant.id),
        action: "service.openapi.delete",
        target_type: "service",
        target_id: service_id.to_string(),
        details: json!({}),
    };
    config_version::commit(tx, principal, change).await
}

/// The tools of every service that publishes them, by service, for the snapshot.
pub(crate) async fn published(
    conn: &mut sqlx::PgConnection,
) -> ApiResult<HashMap<Uuid, Vec<RestTool>>> {
    let rows: Vec<(Uuid, Value)> =
        sqlx::query_as("SELECT service_id, document FROM service_openapi WHERE publish_tools")
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, document)| Some((id, tools_of(&document).ok()?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_become_tools_with_their_parameters_and_body() {
        let document = json!({
            "openapi": "3.1.0",
            "paths": {
                "/orders/{id}": {
                    "parameters": [{"$ref": "#/components/parameters/Id"}],
                    "get": {"operationId": "getOrder", "summary": "One order",
                            "parameters": [{"name": "expand", "in": "query", "schema": {"type": "boolean"}}]},
                    "delete": {}
                },
                "/orders": {"post": {"operationId": "create order!",
                    "requestBody": {"required": true, "content": {"application/json":
                        {"schema": {"$ref": "#/components/schemas/Order"}}}}}}
            },
            "components": {
                "parameters": {"Id": {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}},
                "schemas": {"Order": {"type": "object", "properties": {"item": {"type": "string"},
                    "parent": {"$ref": "#/components/schemas/Order"}}}}
            }
        });
        let tools = tools_of(&document).unwrap_or_default();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["create_order", "getOrder", "delete_orders_id"]);
        let get = &tools[1];
        assert_eq!(get.method, "GET");
        assert_eq!(get.input_schema["required"], json!(["id"]));
        assert_eq!(get.input_schema["properties"]["expand"]["type"], "boolean");
        assert_eq!(get.parameters.len(), 2);
        let create = &tools[0];
        assert!(create.body);
        assert_eq!(create.input_schema["required"], json!(["body"]));
        assert_eq!(
            create.input_schema["properties"]["body"]["properties"]["item"]["type"],
            "string"
        );
    }

    #[test]
    fn what_is_not_an_openapi_3_document_is_refused() {
        assert!(document_of(json!({"swagger": "2.0", "paths": {}})).is_err());
        assert!(document_of(json!({"openapi": "3.0.3"})).is_err());
        assert!(document_of(json!("openapi: 3.0.3\npaths: {}\n")).is_ok());
        assert!(document_of(json!("{not yaml: [")).is_err());
    }
}
