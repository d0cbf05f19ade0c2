//! Reading a configuration document: YAML (or JSON), one or several documents, each checked
//! and normalised as the admin API would store it. Errors name the document, the object, the
//! line and the field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{lines, references};
use crate::error::{ApiError, ApiResult};
use crate::service::api_keys::{self, KeyPolicy};
use crate::service::jwt_issuers::JwtIssuerSpec;
use crate::service::models::{self, ModelSpec};
use crate::service::prompt_apis::{self, PromptApiSpec};
use crate::service::providers::{self, CreateProvider, ProviderKind};
use crate::service::routes::{self, RouteSpec};
use crate::service::upstreams::{self, ServiceSpec};

pub(super) const API_VERSION: &str = "tollgate.dev/v1";
pub(super) const APIPARK_VERSION: &str = "api.apipark.com/v1";

/// The kinds of `tollgate.dev/v1`, in the order an apply stores them.
pub(super) const KINDS: &str =
    "Provider, Model, Service, Gateway, PromptApi, KeyPolicy and JwtIssuer";

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

/// `kind: Provider`: a provider's settings, its credentials as references (`${ENV_VAR}` or
/// `${file:PATH}`) resolved at apply time. Left out, the stored credentials stay.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProviderDoc {
    pub(super) kind: ProviderKind,
    /// Defaults per kind (required for azure_openai and openai_compatible).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) base_url: Option<String>,
    /// A reference like `${OPENAI_API_KEY}` or `${file:/run/secrets/openai}`; left out, the
    /// stored key stays (none for a new provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) api_key: Option<String>,
    /// Extra headers, each value a reference; left out, the stored headers stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) headers: Option<BTreeMap<String, String>>,
    /// Azure OpenAI's `api-version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) api_version: Option<String>,
    /// Time allowed until the provider starts answering, like "30s" (default 120s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) timeout: Option<String>,
}

impl ProviderDoc {
    /// The provider's settings with the credentials given.
    pub(super) fn input(
        &self,
        name: &str,
        api_key: Option<String>,
        headers: BTreeMap<String, String>,
    ) -> CreateProvider {
        CreateProvider {
            name: name.to_string(),
            kind: self.kind,
            base_url: self.base_url.clone(),
            api_key,
            headers,
            api_version: self.api_version.clone(),
            timeout: self.timeout.clone(),
        }
    }

    /// The references it makes, checked.
    fn references(&self) -> ApiResult<Vec<String>> {
        let mut out = Vec::new();
        if let Some(key) = &self.api_key {
            out.push(references::check("api_key", key)?);
        }
        for (name, value) in self.headers.iter().flatten() {
            out.push(references::check(name, value)?);
        }
        Ok(out)
    }
}

/// An object of a document and where it is, for errors found when it is applied.
#[derive(Debug)]
pub(super) struct Placed<T> {
    pub(super) place: String,
    pub(super) spec: T,
}

/// What a document asks for, by name.
#[derive(Debug, Default)]
pub(super) struct Desired {
    pub(super) providers: BTreeMap<String, Placed<ProviderDoc>>,
    pub(super) models: BTreeMap<String, Placed<ModelSpec>>,
    pub(super) services: BTreeMap<String, Placed<ServiceSpec>>,
    pub(super) routes: BTreeMap<String, Placed<RouteSpec>>,
    pub(super) prompt_apis: BTreeMap<String, Placed<PromptApiSpec>>,
    pub(super) key_policies: BTreeMap<String, Placed<KeyPolicy>>,
    pub(super) jwt_issuers: BTreeMap<String, Placed<JwtIssuerSpec>>,
}

/// Adds an object under its name, refusing a second one of the same kind and name.
fn add<T>(
    objects: &mut BTreeMap<String, Placed<T>>,
    name: String,
    place: &str,
    spec: T,
) -> ApiResult<()> {
    if objects.contains_key(&name) {
        return Err(invalid(
            place,
            "an object of this kind and name is in the document twice",
        ));
    }
    objects.insert(
        name,
        Placed {
            place: place.to_string(),
            spec,
        },
    );
    Ok(())
}

/// Where in the document something is, for error messages.
fn at(document: usize, kind: &str, name: &str) -> String {
    format!("document {document} ({kind} {name})")
}

pub(super) fn invalid(place: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::Invalid(format!("{place}: {why}"))
}

/// Reads a (multi-document) YAML or JSON text into what it asks for, each object checked and
/// normalised as the API would store it. An error names the document, the object, the line
/// and the field.
pub(super) fn parse(text: &str) -> ApiResult<Desired> {
    parse_documents(text).map_err(|err| match err {
        ApiError::Invalid(message) => ApiError::Invalid(lines::with_line(text, &message)),
        other => other,
    })
}

fn parse_documents(text: &str) -> ApiResult<Desired> {
    let mut desired = Desired::default();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let number = index + 1;
        let value = serde_yaml::Value::deserialize(document).map_err(|e| syntax(number, &e))?;
        if value.is_null() {
            continue;
        }
        let envelope: Envelope = read(value, &format!("document {number}"))?;
        let place = at(number, &envelope.kind, &envelope.metadata.name);
        match (envelope.api_version.as_str(), envelope.kind.as_str()) {
            (API_VERSION, "Provider") => {
                let spec = to_json(&envelope.spec, &place)?;
                let doc: ProviderDoc = read(spec, &place)?;
                doc.references().map_err(|e| invalid(&place, e))?;
                // The references stand in for the credentials: every other field is checked
                // as an apply would.
                let headers = doc.headers.clone().unwrap_or_default();
                let settings = providers::check(doc.input(
                    &envelope.metadata.name,
                    doc.api_key.clone(),
                    headers,
                ))
                .map_err(|e| invalid(&place, e))?;
                add(&mut desired.providers, settings.name, &place, doc)?;
            }
            (API_VERSION, "Model") => {
                let mut spec = to_json(&envelope.spec, &place)?;
                insert_field(&mut spec, "name", &envelope.metadata.name, &place)?;
                let mut spec: ModelSpec = read(spec, &place)?;
                spec.name = models::check_name(&spec.name).map_err(|e| invalid(&place, e))?;
                add(&mut desired.models, spec.name.clone(), &place, spec)?;
            }
            (API_VERSION, "Service") => {
                let mut spec = to_json(&envelope.spec, &place)?;
                insert_field(&mut spec, "name", &envelope.metadata.name, &place)?;
                let spec: ServiceSpec = read(spec, &place)?;
                let spec = upstreams::normalised(spec).map_err(|e| invalid(&place, e))?;
                add(&mut desired.services, spec.name.clone(), &place, spec)?;
            }
            (API_VERSION, "PromptApi") => {
                let mut spec = to_json(&envelope.spec, &place)?;
                insert_field(&mut spec, "slug", &envelope.metadata.name, &place)?;
                let spec: PromptApiSpec = read(spec, &place)?;
                let spec = prompt_apis::checked(spec).map_err(|e| invalid(&place, e))?;
                add(&mut desired.prompt_apis, spec.slug.clone(), &place, spec)?;
            }
            (API_VERSION, "JwtIssuer") => {
                let mut spec = to_json(&envelope.spec, &place)?;
                insert_field(&mut spec, "name", &envelope.metadata.name, &place)?;
                let spec: JwtIssuerSpec = read(spec, &place)?;
                add(&mut desired.jwt_issuers, spec.name.clone(), &place, spec)?;
            }
            (API_VERSION, "KeyPolicy") => {
                let spec = to_json(&envelope.spec, &place)?;
                let policy: KeyPolicy = read(spec, &place)?;
                let policy =
                    api_keys::normalised_policy(&policy).map_err(|e| invalid(&place, e))?;
                add(
                    &mut desired.key_policies,
                    envelope.metadata.name.clone(),
                    &place,
                    policy,
                )?;
            }
            (API_VERSION, "Gateway") => {
                let gateway: GatewaySpec = read(envelope.spec, &place)?;
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
                let gateway: GatewaySpec = read(envelope.spec, &place)?;
                import_apipark(&mut desired, &envelope.metadata.name, gateway, &place)?;
            }
            (API_VERSION | APIPARK_VERSION, kind) => {
                return Err(invalid(
                    &place,
                    format!("unknown kind '{kind}'; this version applies {KINDS}"),
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

/// A YAML syntax error, with its line in the whole text.
fn syntax(number: usize, err: &serde_yaml::Error) -> ApiError {
    let message = err.to_string();
    match err.location() {
        Some(at) => {
            let why = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_string();
            invalid(
                &format!("document {number}, line {}", at.line()),
                format!("{why} (column {})", at.column()),
            )
        }
        None => invalid(&format!("document {number}"), message),
    }
}

/// Reads settings, naming the field a mistake is in (like `targets[1].weight`).
fn read<'de, T, D>(value: D, place: &str) -> ApiResult<T>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
    D::Error: std::fmt::Display,
{
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        if path == "." || inner.contains(&format!("`{path}`")) {
            invalid(place, inner)
        } else {
            invalid(place, format!("`{path}`: {inner}"))
        }
    })
}

fn to_json(value: &serde_yaml::Value, place: &str) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(|e| invalid(place, e))
}

/// Puts metadata.name into the spec as the field the object's settings name it by.
fn insert_field(spec: &mut Value, field: &str, name: &str, place: &str) -> ApiResult<()> {
    let Some(fields) = spec.as_object_mut() else {
        return Err(invalid(place, "spec is a mapping of the object's fields"));
    };
    if fields.contains_key(field) {
        return Err(invalid(
            place,
            format!("the {field} goes in metadata.name, not in spec"),
        ));
    }
    fields.insert(field.into(), json!(name));
    Ok(())
}

fn add_route(desired: &mut Desired, spec: Value, place: &str) -> ApiResult<()> {
    let spec: RouteSpec = read(spec, place)?;
    let spec = routes::normalised(spec).map_err(|e| invalid(place, e))?;
    add(&mut desired.routes, spec.name.clone(), place, spec)
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
        let route: ApiparkRoute = read(route.clone(), &place)?;
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

/// A document checked without a database (`tollgate validate`).
#[derive(Debug)]
pub struct Checked {
    /// How many objects of each kind it defines, like `("Service", 2)`.
    pub counts: Vec<(&'static str, usize)>,
    /// Objects it names but does not define, like "route api names service orders": they must
    /// exist in the tenant already.
    pub outside: Vec<String>,
    /// The credential references it makes (`OPENAI_API_KEY`, `file:/run/key`), for `apply` to
    /// resolve.
    pub references: Vec<String>,
}

/// Checks a document's syntax, kinds and fields as an apply would, without a database.
pub fn check_document(text: &str) -> Result<Checked, String> {
    let desired = parse(text).map_err(|e| e.to_string())?;
    let mut outside = Vec::new();
    for (name, route) in &desired.routes {
        let named = route
            .spec
            .service
            .iter()
            .chain(route.spec.destinations.iter().map(|d| &d.service));
        for service in named {
            if !desired.services.contains_key(service) {
                outside.push(format!("route {name} names service {service}"));
            }
        }
    }
    for (name, model) in &desired.models {
        for deployment in &model.spec.deployments {
            if !desired.providers.contains_key(&deployment.provider) {
                outside.push(format!(
                    "model {name} names provider {}",
                    deployment.provider
                ));
            }
        }
    }
    for (name, api) in &desired.prompt_apis {
        if !desired.models.contains_key(&api.spec.model) {
            outside.push(format!("prompt API {name} names model {}", api.spec.model));
        }
    }
    let mut references = Vec::new();
    for provider in desired.providers.values() {
        for reference in provider.spec.references().map_err(|e| e.to_string())? {
            if !references.contains(&reference) {
                references.push(reference);
            }
        }
    }
    Ok(Checked {
        counts: vec![
            ("Provider", desired.providers.len()),
            ("Model", desired.models.len()),
            ("Service", desired.services.len()),
            ("Route", desired.routes.len()),
            ("PromptApi", desired.prompt_apis.len()),
            ("KeyPolicy", desired.key_policies.len()),
            ("JwtIssuer", desired.jwt_issuers.len()),
        ],
        outside,
        references,
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
        assert_eq!(route.spec.hosts, ["my-gateway.example.com"]);
        assert_eq!(route.spec.destinations[0].service, "my-service");
    }

    #[test]
    fn mesh_style_entries_with_one_match_make_one_split_route() {
        let text = "apiVersion: api.apipark.com/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  routes:\n  - match: {prefix: /service}\n    destination: {name: my-service, subset: v1}\n    weight: 90\n  - match: {prefix: /service}\n    destination: {name: my-service, subset: v2}\n    weight: 10\n";
        let desired = parse(text).unwrap();
        let route = &desired.routes["g-service"];
        assert_eq!(route.spec.destinations.len(), 2);
        assert_eq!(route.spec.destinations[1].subset.as_deref(), Some("v2"));
    }

    #[test]
    fn alias_bombs_are_refused_not_expanded() {
        let mut text = String::from("apiVersion: tollgate.dev/v1\nkind: Service\nmetadata: {name: s}\nspec:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "  a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("repetition limit"), "{err}");
    }

    #[test]
    fn syntax_errors_name_their_line() {
        let text = "apiVersion: tollgate.dev/v1\nkind: Service\nmetadata: {name: s}\nspec:\n  targets: [{url: 'http://a'}]\n---\nkind: Service\nmetadata: {name: t\nspec: {}\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(err.starts_with("document 2, line "), "{err}");
        assert!(!err.contains(" at line "), "{err}");
    }

    #[test]
    fn wrong_types_name_the_field_and_its_line() {
        let text = "apiVersion: tollgate.dev/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  routes:\n  - path: /a\n    service: s\n  - path: /b\n    service: s\n    retries: many\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.contains("document 1 (Gateway g), routes[1], line 10: `retries`: invalid type"),
            "{err}"
        );
        let text = "apiVersion: tollgate.dev/v1\nkind: Service\nmetadata: {name: s}\nspec:\n  targets:\n  - url: http://a\n  - url: http://b\n    weight: ten\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.contains("document 1 (Service s), line 8: `targets[1].weight`: invalid type"),
            "{err}"
        );
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
