//! Applying a document in one transaction: providers, models, services, routes, prompt APIs
//! and key policies in the order they depend on each other, then (with `prune`) deleting what
//! the document does not name, in the reverse order. A dry run does it all and rolls back, so
//! the plan it returns has passed every check a real apply makes.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::lines;
use super::parse::{self, Desired};
use super::references;
use super::{Applied, ApplyOptions, Step};
use crate::access::{Principal, TenantAccess};
use crate::error::{ApiError, ApiResult};
use crate::roles::{Require, Role};
use crate::secret_box::SecretBox;
use crate::service::removal::{self, Removable};
use crate::service::{api_keys, audit, config_version};
use crate::service::{jwt_issuers, models, prompt_apis, providers, routes, upstreams};

/// What an apply works with.
struct Run<'a> {
    db: &'a PgPool,
    secrets: &'a SecretBox,
    access: &'a TenantAccess,
    principal: &'a Principal,
    /// Credential values the caller resolved, by reference name.
    values: &'a BTreeMap<String, String>,
    desired: Desired,
    plan: Vec<Step>,
}

pub(crate) async fn apply(
    db: &PgPool,
    secrets: &SecretBox,
    principal: &Principal,
    access: &TenantAccess,
    text: &str,
    values: &BTreeMap<String, String>,
    options: ApplyOptions,
) -> ApiResult<Applied> {
    access.role.require(Role::Admin, "apply configuration")?;
    let run = Run {
        db,
        secrets,
        access,
        principal,
        values,
        desired: parse::parse(text)?,
        plan: Vec::new(),
    };
    run.apply(options).await.map_err(|err| match err {
        ApiError::Invalid(message) => ApiError::Invalid(lines::with_line(text, &message)),
        other => other,
    })
}

/// Prefixes an error found while storing an object with where the object is.
fn placed(place: &str) -> impl Fn(ApiError) -> ApiError + '_ {
    move |err| match err {
        ApiError::Invalid(message) if !message.starts_with("document ") => {
            ApiError::Invalid(format!("{place}: {message}"))
        }
        ApiError::Conflict(message) => ApiError::Conflict(format!("{place}: {message}")),
        other => other,
    }
}

/// The top-level fields in which two settings differ.
fn changed_fields(before: &impl Serialize, after: &impl Serialize) -> ApiResult<Vec<String>> {
    let before = serde_json::to_value(before).map_err(ApiError::internal)?;
    let after = serde_json::to_value(after).map_err(ApiError::internal)?;
    let empty = serde_json::Map::new();
    let (before, after) = (
        before.as_object().unwrap_or(&empty),
        after.as_object().unwrap_or(&empty),
    );
    let mut fields: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|key| before.get(*key) != after.get(*key))
        .cloned()
        .collect();
    fields.sort();
    fields.dedup();
    Ok(fields)
}

impl Run<'_> {
    fn step(&mut self, kind: &'static str, name: &str, action: &'static str, fields: Vec<String>) {
        self.plan.push(Step {
            kind,
            name: name.to_string(),
            action,
            fields,
        });
    }

    async fn apply(mut self, options: ApplyOptions) -> ApiResult<Applied> {
        let mut tx = self.db.begin().await?;
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
        self.providers(&mut tx).await?;
        self.models(&mut tx).await?;
        let updated_services = self.services(&mut tx).await?;
        let current_routes = self.routes(&mut tx).await?;
        self.prompt_apis(&mut tx, options.prune).await?;
        if options.prune {
            self.prune_routes(&mut tx, &current_routes).await?;
            self.prune_services(&mut tx).await?;
            self.prune_models_and_providers(&mut tx).await?;
        }
        for service in &updated_services {
            upstreams::still_served(&mut tx, self.access, service).await?;
        }
        self.key_policies(&mut tx).await?;
        self.jwt_issuers(&mut tx, options.prune).await?;
        let changed: Vec<&Step> = self
            .plan
            .iter()
            .filter(|s| s.action != "unchanged")
            .collect();
        if options.dry_run || changed.is_empty() {
            tx.rollback().await?;
            return Ok(Applied {
                dry_run: options.dry_run,
                version,
                plan: self.plan,
            });
        }
        audit::record(
            &mut tx,
            self.principal,
            audit::Change {
                tenant_id: Some(self.access.tenant.id),
                action: "config.apply",
                target_type: "config",
                target_id: self.access.tenant.slug.clone(),
                details: json!({ "changes": changed, "prune": options.prune }),
            },
        )
        .await?;
        let version = config_version::bump(&mut tx).await?;
        tx.commit().await?;
        Ok(Applied {
            dry_run: false,
            version,
            plan: self.plan,
        })
    }

    /// Providers; credentials a document leaves out stay as stored.
    async fn providers(&mut self, tx: &mut PgConnection) -> ApiResult<()> {
        let current: BTreeMap<String, (Uuid, providers::ProviderSettings)> =
            providers::stored_in(tx, self.secrets, self.access)
                .await?
                .into_iter()
                .map(|(id, settings)| (settings.name.clone(), (id, settings)))
                .collect();
        let desired = std::mem::take(&mut self.desired.providers);
        for (name, object) in &desired {
            let at = placed(&object.place);
            let doc = &object.spec;
            let stored = current.get(name).map(|(_, settings)| &settings.credentials);
            let api_key = match &doc.api_key {
                Some(reference) => {
                    Some(references::resolve("api_key", reference, self.values).map_err(&at)?)
                }
                None => stored.and_then(|c| c.api_key.clone()),
            };
            let headers = match &doc.headers {
                Some(headers) => headers
                    .iter()
                    .map(|(header, reference)| {
                        references::resolve(header, reference, self.values)
                            .map(|value| (header.clone(), value))
                    })
                    .collect::<ApiResult<_>>()
                    .map_err(&at)?,
                None => stored.map(|c| c.headers.clone()).unwrap_or_default(),
            };
            let settings = providers::check(doc.input(name, api_key, headers)).map_err(&at)?;
            match current.get(name) {
                None => {
                    providers::store_in(tx, self.secrets, self.access, None, settings)
                        .await
                        .map_err(&at)?;
                    self.step("Provider", name, "create", Vec::new());
                }
                Some((_, stored)) if *stored == settings => {
                    self.step("Provider", name, "unchanged", Vec::new())
                }
                Some((id, stored)) => {
                    let fields = provider_changes(stored, &settings);
                    providers::store_in(tx, self.secrets, self.access, Some(*id), settings)
                        .await
                        .map_err(&at)?;
                    self.step("Provider", name, "update", fields);
                }
            }
        }
        self.desired.providers = desired;
        Ok(())
    }

    async fn models(&mut self, tx: &mut PgConnection) -> ApiResult<()> {
        let current: BTreeMap<String, (Uuid, models::ModelSettings)> =
            models::stored_in(tx, self.access)
                .await?
                .into_iter()
                .map(|(id, settings)| (settings.name.clone(), (id, settings)))
                .collect();
        let desired = std::mem::take(&mut self.desired.models);
        for (name, object) in &desired {
            let at = placed(&object.place);
            let settings = models::check_in(tx, self.db, self.access, &object.spec)
                .await
                .map_err(&at)?;
            match current.get(name) {
                None => {
                    models::store_in(tx, self.access, None, &settings)
                        .await
                        .map_err(&at)?;
                    self.step("Model", name, "create", Vec::new());
                }
                Some((_, stored)) if stored.same(&settings) => {
                    self.step("Model", name, "unchanged", Vec::new())
                }
                Some((id, stored)) => {
                    let fields = stored.changes(&settings);
                    models::store_in(tx, self.access, Some(*id), &settings)
                        .await
                        .map_err(&at)?;
                    self.step("Model", name, "update", fields);
                }
            }
        }
        self.desired.models = desired;
        Ok(())
    }

    /// Services; returns those updated, whose routes are checked once the routes moved too
    /// (routes may name new services or subsets).
    async fn services(&mut self, tx: &mut PgConnection) -> ApiResult<Vec<upstreams::Service>> {
        let current: BTreeMap<String, (Uuid, upstreams::ServiceSpec)> =
            upstreams::list(self.db, self.access)
                .await?
                .into_iter()
                .map(|s| (s.spec.name.clone(), (s.id, s.spec)))
                .collect();
        let mut updated = Vec::new();
        let desired = std::mem::take(&mut self.desired.services);
        for (name, object) in &desired {
            let at = placed(&object.place);
            let spec = &object.spec;
            match current.get(name) {
                None => {
                    upstreams::insert(tx, self.access, spec.clone())
                        .await
                        .map_err(&at)?;
                    self.step("Service", name, "create", Vec::new());
                }
                Some((_, stored)) if stored == spec => {
                    self.step("Service", name, "unchanged", Vec::new())
                }
                Some((id, stored)) => {
                    let fields = changed_fields(stored, spec)?;
                    let service = upstreams::replace_unchecked(tx, self.access, *id, spec.clone())
                        .await
                        .map_err(&at)?;
                    updated.push(service);
                    self.step("Service", name, "update", fields);
                }
            }
        }
        self.desired.services = desired;
        Ok(updated)
    }

    /// Routes; returns the tenant's routes before the apply, by name.
    async fn routes(
        &mut self,
        tx: &mut PgConnection,
    ) -> ApiResult<BTreeMap<String, (Uuid, routes::RouteSpec)>> {
        let current: BTreeMap<String, (Uuid, routes::RouteSpec)> =
            routes::list(self.db, self.access)
                .await?
                .into_iter()
                .map(|r| (r.spec.name.clone(), (r.id, r.spec)))
                .collect();
        let desired = std::mem::take(&mut self.desired.routes);
        for (name, object) in &desired {
            let at = placed(&object.place);
            let spec = &object.spec;
            match current.get(name) {
                None => {
                    routes::insert(tx, self.access, spec.clone())
                        .await
                        .map_err(&at)?;
                    self.step("Route", name, "create", Vec::new());
                }
                Some((id, stored)) => {
                    let fields = changed_fields(stored, spec)?;
                    if fields.is_empty() {
                        self.step("Route", name, "unchanged", fields);
                    } else {
                        routes::replace(tx, self.access, *id, spec.clone())
                            .await
                            .map_err(&at)?;
                        self.step("Route", name, "update", fields);
                    }
                }
            }
        }
        self.desired.routes = desired;
        Ok(current)
    }

    /// Prompt APIs (an update is a new version); with `prune`, deletes those not named.
    async fn prompt_apis(&mut self, tx: &mut PgConnection, prune: bool) -> ApiResult<()> {
        let current: BTreeMap<String, (Uuid, prompt_apis::PromptApiSpec)> =
            prompt_apis::stored_in(tx, self.access)
                .await?
                .into_iter()
                .map(|(id, spec)| (spec.slug.clone(), (id, spec)))
                .collect();
        let desired = std::mem::take(&mut self.desired.prompt_apis);
        for (slug, object) in &desired {
            let at = placed(&object.place);
            let adding = !current.contains_key(slug);
            let spec = prompt_apis::check_in(tx, self.access, object.spec.clone(), adding)
                .await
                .map_err(&at)?;
            match current.get(slug) {
                None => {
                    prompt_apis::insert_in(tx, self.principal, self.access, &spec)
                        .await
                        .map_err(&at)?;
                    self.step("PromptApi", slug, "create", Vec::new());
                }
                Some((id, stored)) => {
                    let fields = changed_fields(stored, &spec)?;
                    if fields.is_empty() {
                        self.step("PromptApi", slug, "unchanged", fields);
                    } else {
                        prompt_apis::new_version_in(tx, self.principal, self.access, *id, &spec)
                            .await
                            .map_err(&at)?;
                        self.step("PromptApi", slug, "update", fields);
                    }
                }
            }
        }
        if prune {
            for (slug, (id, _)) in &current {
                if !desired.contains_key(slug) {
                    removal::remove_in(tx, self.access, Removable::PromptApi, *id).await?;
                    self.step("PromptApi", slug, "delete", Vec::new());
                }
            }
        }
        self.desired.prompt_apis = desired;
        Ok(())
    }

    async fn prune_routes(
        &mut self,
        tx: &mut PgConnection,
        current: &BTreeMap<String, (Uuid, routes::RouteSpec)>,
    ) -> ApiResult<()> {
        for (name, (id, _)) in current {
            if !self.desired.routes.contains_key(name) {
                removal::remove_in(tx, self.access, Removable::Route, *id).await?;
                self.step("Route", name, "delete", Vec::new());
            }
        }
        Ok(())
    }

    async fn prune_services(&mut self, tx: &mut PgConnection) -> ApiResult<()> {
        let current = upstreams::list(self.db, self.access).await?;
        for service in current {
            let name = &service.spec.name;
            if !self.desired.services.contains_key(name) {
                upstreams::remove(tx, self.access, service.id)
                    .await
                    .map_err(placed(&format!("pruning service {name}")))?;
                self.step("Service", name, "delete", Vec::new());
            }
        }
        Ok(())
    }

    /// Models first: a provider goes once no model deploys on it.
    async fn prune_models_and_providers(&mut self, tx: &mut PgConnection) -> ApiResult<()> {
        for (id, model) in models::stored_in(tx, self.access).await? {
            if !self.desired.models.contains_key(&model.name) {
                removal::remove_in(tx, self.access, Removable::Model, id).await?;
                self.step("Model", &model.name, "delete", Vec::new());
            }
        }
        for (id, provider) in providers::stored_in(tx, self.secrets, self.access).await? {
            if !self.desired.providers.contains_key(&provider.name) {
                providers::remove_in(tx, self.access, id)
                    .await
                    .map_err(placed(&format!("pruning provider {}", provider.name)))?;
                self.step("Provider", &provider.name, "delete", Vec::new());
            }
        }
        Ok(())
    }

    /// JWT issuers (`prune` deletes those not named).
    async fn jwt_issuers(&mut self, tx: &mut PgConnection, prune: bool) -> ApiResult<()> {
        let current: BTreeMap<String, (Uuid, jwt_issuers::JwtIssuerSpec)> =
            jwt_issuers::stored_in(tx, self.access)
                .await?
                .into_iter()
                .map(|(id, spec)| (spec.name.clone(), (id, spec)))
                .collect();
        let desired = std::mem::take(&mut self.desired.jwt_issuers);
        for (name, object) in &desired {
            let at = placed(&object.place);
            let spec = jwt_issuers::check(tx, object.spec.clone())
                .await
                .map_err(&at)?;
            match current.get(name) {
                None => {
                    jwt_issuers::store_in(tx, self.access, None, &spec)
                        .await
                        .map_err(&at)?;
                    self.step("JwtIssuer", name, "create", Vec::new());
                }
                Some((id, stored)) => {
                    let fields = changed_fields(stored, &spec)?;
                    if fields.is_empty() {
                        self.step("JwtIssuer", name, "unchanged", fields);
                    } else {
                        jwt_issuers::store_in(tx, self.access, Some(*id), &spec)
                            .await
                            .map_err(&at)?;
                        self.step("JwtIssuer", name, "update", fields);
                    }
                }
            }
        }
        if prune {
            for (name, (id, _)) in &current {
                if !desired.contains_key(name) {
                    jwt_issuers::remove_in(tx, self.access, *id).await?;
                    self.step("JwtIssuer", name, "delete", Vec::new());
                }
            }
        }
        self.desired.jwt_issuers = desired;
        Ok(())
    }

    /// Key policies: keys are made elsewhere (their secrets never go in a document), so a
    /// policy names an active key of the tenant.
    async fn key_policies(&mut self, tx: &mut PgConnection) -> ApiResult<()> {
        if self.desired.key_policies.is_empty() {
            return Ok(());
        }
        let keys = api_keys::policies(tx, self.access).await?;
        let desired = std::mem::take(&mut self.desired.key_policies);
        for (name, object) in &desired {
            let at = placed(&object.place);
            let mut named = keys.iter().filter(|(_, key, _)| key == name);
            let (id, _, current) = named.next().ok_or_else(|| {
                at(ApiError::Invalid(format!(
                    "no active key of this tenant is named '{name}'; create the key first (its secret never goes in a document)"
                )))
            })?;
            if named.next().is_some() {
                return Err(at(ApiError::Conflict(format!(
                    "several active keys are named '{name}'; give them names of their own first"
                ))));
            }
            let fields = changed_fields(current, &object.spec)?;
            if fields.is_empty() {
                self.step("KeyPolicy", name, "unchanged", fields);
            } else {
                api_keys::set_policy(tx, self.access, *id, &object.spec)
                    .await
                    .map_err(&at)?;
                self.step("KeyPolicy", name, "update", fields);
            }
        }
        self.desired.key_policies = desired;
        Ok(())
    }
}

/// The settings of a provider that change, credentials named but never shown.
fn provider_changes(
    before: &providers::ProviderSettings,
    after: &providers::ProviderSettings,
) -> Vec<String> {
    let mut fields = Vec::new();
    let mut differs = |field: &str, changed: bool| {
        if changed {
            fields.push(field.to_string());
        }
    };
    differs("base_url", before.base_url != after.base_url);
    differs("api_version", before.api_version != after.api_version);
    differs("timeout", before.timeout_ms != after.timeout_ms);
    differs(
        "api_key",
        before.credentials.api_key != after.credentials.api_key,
    );
    differs(
        "headers",
        before.credentials.headers != after.credentials.headers,
    );
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_fields_names_top_level_differences() {
        let before = json!({"a": 1, "b": [1, 2], "c": null});
        let after = json!({"a": 1, "b": [2], "d": true});
        assert_eq!(changed_fields(&before, &after).unwrap(), ["b", "c", "d"]);
        assert!(changed_fields(&before, &before).unwrap().is_empty());
    }

    #[test]
    fn errors_found_while_storing_say_which_object() {
        let at = placed("document 3 (Model fast)");
        assert_eq!(
            at(ApiError::Invalid("no provider".into())).to_string(),
            ApiError::Invalid("document 3 (Model fast): no provider".into()).to_string()
        );
        let already = ApiError::Invalid("document 1 (Route r): x".into()).to_string();
        assert_eq!(
            at(ApiError::Invalid("document 1 (Route r): x".into())).to_string(),
            already
        );
    }
}
