//! A tenant's configuration written as a document that applies back as a no-op: providers
//! (without their credentials), models, services, prompt APIs, key policies, then one Gateway
//! per set of hosts.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sqlx::PgPool;

use super::parse::{ProviderDoc, API_VERSION};
use crate::access::TenantAccess;
use crate::error::{ApiError, ApiResult};
use crate::service::{api_keys, jwt_issuers, models, prompt_apis, providers, routes, upstreams};

pub(crate) async fn export(db: &PgPool, access: &TenantAccess) -> ApiResult<String> {
    let mut out = String::new();
    for provider in providers::list(db, access).await? {
        let doc = ProviderDoc {
            kind: provider.kind,
            base_url: Some(provider.base_url),
            api_key: None,
            headers: None,
            api_version: provider.api_version,
            timeout: Some(provider.timeout),
        };
        push(&mut out, "Provider", &provider.name, to_value(&doc)?)?;
        let mut secret = Vec::new();
        if provider.key_hint != "none" {
            secret.push(format!("api_key ({})", provider.key_hint));
        }
        if !provider.header_names.is_empty() {
            secret.push(format!("headers {}", provider.header_names.join(", ")));
        }
        if !secret.is_empty() {
            out.push_str(&format!(
                "# {} not exported: left out, they stay as stored; to set them write ${{ENV_VAR}} or ${{file:PATH}}\n",
                secret.join(" and ")
            ));
        }
    }
    for model in models::list(db, access).await? {
        let deployments: Vec<Value> = model
            .deployments
            .iter()
            .map(|d| json!({"provider": d.provider, "model": d.model, "weight": d.weight, "priority": d.priority}))
            .collect();
        let mut spec = json!({ "deployments": deployments });
        // Catalog prices follow the catalog; only prices set by hand are written.
        if model.price_source.is_none() {
            spec["prices"] = to_value(&model.prices)?;
        }
        push(&mut out, "Model", &model.name, spec)?;
    }
    for service in upstreams::list(db, access).await? {
        let spec = without(to_value(&service.spec)?, "name");
        push(&mut out, "Service", &service.spec.name, spec)?;
    }
    for api in prompt_apis::list(db, access).await? {
        let spec = without(to_value(&api.spec)?, "slug");
        push(&mut out, "PromptApi", &api.spec.slug, spec)?;
    }
    let keys = api_keys::policies(&mut *db.acquire().await?, access).await?;
    for (_, name, policy) in &keys {
        // A name several keys share cannot be applied back; those keys stay out.
        if keys.iter().filter(|(_, other, _)| other == name).count() == 1 {
            push(&mut out, "KeyPolicy", name, to_value(policy)?)?;
        }
    }
    for issuer in jwt_issuers::list(db, access).await? {
        let spec = without(to_value(&issuer.spec)?, "name");
        push(&mut out, "JwtIssuer", &issuer.spec.name, spec)?;
    }
    let mut gateways: BTreeMap<Vec<String>, Vec<Value>> = BTreeMap::new();
    for route in routes::list(db, access).await? {
        let spec = without(to_value(&route.spec)?, "hosts");
        gateways.entry(route.spec.hosts).or_default().push(spec);
    }
    for (i, (hosts, routes)) in gateways.into_iter().enumerate() {
        let name = if i == 0 {
            "gateway".to_string()
        } else {
            format!("gateway-{}", i + 1)
        };
        let spec = json!({"hosts": hosts, "routes": routes});
        push(&mut out, "Gateway", &name, spec)?;
    }
    Ok(out)
}

fn to_value(value: &impl serde::Serialize) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(ApiError::internal)
}

/// The spec without the field that metadata.name (or the Gateway) carries.
fn without(mut spec: Value, field: &str) -> Value {
    if let Some(fields) = spec.as_object_mut() {
        fields.remove(field);
    }
    spec
}

fn push(out: &mut String, kind: &str, name: &str, spec: Value) -> ApiResult<()> {
    let document = json!({"apiVersion": API_VERSION, "kind": kind,
                          "metadata": {"name": name}, "spec": spec});
    if !out.is_empty() {
        out.push_str("---\n");
    }
    out.push_str(&serde_yaml::to_string(&document).map_err(ApiError::internal)?);
    Ok(())
}
