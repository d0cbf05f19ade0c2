//! The JSON Schema of a configuration document, published for editors.

use serde_json::{json, Value};

use super::parse::{ProviderDoc, APIPARK_VERSION, API_VERSION};
use crate::service::api_keys::KeyPolicy;

/// A type's schema with its references pointing into `$defs`.
fn schema_of<T: utoipa::PartialSchema>() -> Value {
    serde_json::to_value(T::schema())
        .map(|v| {
            serde_json::from_str(&v.to_string().replace("#/components/schemas/", "#/$defs/"))
                .unwrap_or(v)
        })
        .unwrap_or_default()
}

/// The JSON Schema (2020-12) of one document, for editors to complete and check: the objects'
/// schemas are the admin API's (from its OpenAPI document), with names (a Service's, a Model's,
/// a PromptApi's slug) and a Gateway route's hosts moved out to where the document keeps them.
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
    defs["ModelBody"] = without(&defs["ModelSpec"], "name");
    defs["PromptApiBody"] = without(&defs["PromptApiSpec"], "slug");
    defs["JwtIssuerBody"] = without(&defs["JwtIssuerSpec"], "name");
    let mut gateway_route = without(&defs["RouteSpec"], "hosts");
    if let Some(required) = gateway_route["required"].as_array_mut() {
        required.retain(|r| r != "name");
    }
    defs["ServiceBody"] = service_body;
    defs["KeyPolicy"] = schema_of::<KeyPolicy>();
    defs["ProviderDoc"] = schema_of::<ProviderDoc>();
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
            document(API_VERSION, "Provider", json!({"$ref": "#/$defs/ProviderDoc"})),
            document(API_VERSION, "Model", json!({"$ref": "#/$defs/ModelBody"})),
            document(API_VERSION, "Service", json!({"$ref": "#/$defs/ServiceBody"})),
            document(API_VERSION, "PromptApi", json!({"$ref": "#/$defs/PromptApiBody"})),
            document(API_VERSION, "Gateway", json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "hosts": hosts,
                    "routes": {"type": "array", "items": {"$ref": "#/$defs/GatewayRoute"}}
                }
            })),
            document(API_VERSION, "KeyPolicy", json!({"$ref": "#/$defs/KeyPolicy"})),
            document(API_VERSION, "JwtIssuer", json!({"$ref": "#/$defs/JwtIssuerBody"})),
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
