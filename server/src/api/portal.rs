//! The developer portal's API: products a tenant publishes and the subscriptions to them (the
//! owner's side); the catalog, applications, their keys and subscriptions (the consumer's side).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::problems::{Conflict, Forbidden, Invalid, NotFound};
use crate::auth::TenantScope;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery, ObjectId, TenantParam};
use crate::service::api_keys::CreatedApiKey;
use crate::service::portal::applications::{
    self, Application, ApplicationDetail, ApplicationSpec, CreateApplicationKey,
};
use crate::service::portal::catalog::{self, CatalogQuery};
use crate::service::portal::products::{self, Product, ProductSpec};
use crate::service::portal::subscriptions::{
    self, Decision, DecisionNote, InboxQuery, SubscribeRequest, Subscription,
};
use crate::service::usage::{self, ApplicationUsage, SummaryQuery};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product, delete_product))
        .routes(routes!(list_catalog))
        .routes(routes!(get_catalog_product))
        .routes(routes!(get_catalog_openapi))
        .routes(routes!(list_applications, create_application))
        .routes(routes!(get_application, delete_application))
        .routes(routes!(create_application_key))
        .routes(routes!(get_application_usage))
        .routes(routes!(subscribe))
        .routes(routes!(cancel_subscription))
        .routes(routes!(list_product_subscriptions))
        .routes(routes!(decide_subscription))
}

/// The tenant's published products.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/products", tag = "portal",
    params(TenantParam), responses((status = 200, body = Vec<Product>), NotFound))]
async fn list_products(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
) -> ApiResult<Json<Vec<Product>>> {
    Ok(Json(products::list(&state.db, &access).await?))
}

/// Publish a product (admins and owners): routes, models, prompt APIs and MCP servers of this
/// tenant, who sees it, how subscriptions are approved, and its plans.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/products", tag = "portal",
    request_body = ProductSpec, params(TenantParam),
    responses((status = 201, body = Product), Forbidden, Conflict, Invalid))]
async fn create_product(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiJson(spec): ApiJson<ProductSpec>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    let product = products::create(&state.db, &principal, &access, spec).await?;
    Ok((StatusCode::CREATED, Json(product)))
}

/// One of the tenant's products.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/products/{id}", tag = "portal",
    params(TenantParam, ("id" = Uuid, Path, description = "Product id")),
    responses((status = 200, body = Product), NotFound))]
async fn get_product(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<Json<Product>> {
    Ok(Json(products::get(&state.db, &access, id).await?))
}

/// Change a product (JSON merge patch of its fields).
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/products/{id}", tag = "portal",
    request_body(content = ProductSpec, description = "JSON merge patch (RFC 7386) of these fields"),
    params(TenantParam, ("id" = Uuid, Path, description = "Product id")),
    responses((status = 200, body = Product), Forbidden, NotFound, Conflict, Invalid))]
async fn update_product(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> ApiResult<Json<Product>> {
    Ok(Json(
        products::update(&state.db, &principal, &access, id, patch).await?,
    ))
}

/// Delete a product; its subscriptions end with it.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/products/{id}", tag = "portal",
    params(TenantParam, ("id" = Uuid, Path, description = "Product id")),
    responses((status = 204, description = "Deleted"), Forbidden, NotFound))]
async fn delete_product(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<StatusCode> {
    products::delete(&state.db, &principal, &access, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The products this tenant may subscribe to: its own, platform-wide ones, and those shown to
/// it by name.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/catalog", tag = "portal",
    params(TenantParam, CatalogQuery), responses((status = 200, body = Vec<Product>), NotFound))]
async fn list_catalog(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiQuery(query): ApiQuery<CatalogQuery>,
) -> ApiResult<Json<Vec<Product>>> {
    Ok(Json(catalog::list(&state.db, &access, &query).await?))
}

/// A product of the catalog, with its OpenAPI document.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/catalog/{id}", tag = "portal",
    params(TenantParam, ("id" = Uuid, Path, description = "Product id")),
    responses((status = 200, body = Product), NotFound))]
async fn get_catalog_product(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<Json<Product>> {
    Ok(Json(catalog::get(&state.db, &access, id).await?))
}

/// A catalog product's API reference as one OpenAPI document: its REST document, chat
/// completions for its models, and its prompt APIs' endpoints.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/catalog/{id}/openapi.json", tag = "portal",
    params(TenantParam, ("id" = Uuid, Path, description = "Product id")),
    responses((status = 200, body = Object), NotFound))]
async fn get_catalog_openapi(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(catalog::openapi(&state.db, &access, id).await?))
}

/// The tenant's applications.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/applications", tag = "portal",
    params(TenantParam), responses((status = 200, body = Vec<Application>), NotFound))]
async fn list_applications(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
) -> ApiResult<Json<Vec<Application>>> {
    Ok(Json(applications::list(&state.db, &access).await?))
}

/// Create an application (members and up).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/applications", tag = "portal",
    request_body = ApplicationSpec, params(TenantParam),
    responses((status = 201, body = Application), Forbidden, Conflict, Invalid))]
async fn create_application(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiJson(spec): ApiJson<ApplicationSpec>,
) -> ApiResult<(StatusCode, Json<Application>)> {
    let application = applications::create(&state.db, &principal, &access, spec).await?;
    Ok((StatusCode::CREATED, Json(application)))
}

/// An application with its keys and subscriptions.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/applications/{id}", tag = "portal",
    params(TenantParam, ("id" = Uuid, Path, description = "Application id")),
    responses((status = 200, body = ApplicationDetail), NotFound))]
async fn get_application(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<Json<ApplicationDetail>> {
    Ok(Json(applications::get(&state.db, &access, id).await?))
}

/// Delete an application (admins and owners): its keys and subscriptions end.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/applications/{id}", tag = "portal",
    params(TenantParam, ("id" = Uuid, Path, description = "Application id")),
    responses((status = 204, description = "Deleted"), Forbidden, NotFound))]
async fn delete_application(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<StatusCode> {
    applications::delete(&state.db, &principal, &access, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new key of the application; its secret is shown this once. It reaches what the
/// application's approved subscriptions grant, and nothing else.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/applications/{id}/keys", tag = "portal",
    request_body = CreateApplicationKey,
    params(TenantParam, ("id" = Uuid, Path, description = "Application id")),
    responses((status = 201, body = CreatedApiKey), Forbidden, NotFound, Invalid))]
async fn create_application_key(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
    ApiJson(input): ApiJson<CreateApplicationKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let key = applications::create_key(&state.db, &principal, &access, id, input).await?;
    Ok((StatusCode::CREATED, Json(key)))
}

/// Subscribe the application to a product of the catalog, on one of its plans: pending until
/// the product's admins approve (approved at once for a product that approves automatically).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/applications/{id}/subscriptions", tag = "portal",
    request_body = SubscribeRequest,
    params(TenantParam, ("id" = Uuid, Path, description = "Application id")),
    responses((status = 201, body = Subscription), Forbidden, NotFound, Conflict, Invalid))]
async fn subscribe(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
    ApiJson(request): ApiJson<SubscribeRequest>,
) -> ApiResult<(StatusCode, Json<Subscription>)> {
    let subscription =
        subscriptions::subscribe(&state.db, &principal, &access, id, request).await?;
    Ok((StatusCode::CREATED, Json(subscription)))
}

/// End one of the application's subscriptions (it becomes `revoked`).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/applications/{id}/subscriptions/{subscription}", tag = "portal",
    params(TenantParam, ("id" = Uuid, Path, description = "Application id"),
           ("subscription" = Uuid, Path, description = "Subscription id")),
    responses((status = 200, body = Subscription), Forbidden, NotFound, Conflict))]
async fn cancel_subscription(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath((_, id, subscription)): ApiPath<(String, Uuid, Uuid)>,
) -> ApiResult<Json<Subscription>> {
    Ok(Json(
        subscriptions::cancel(&state.db, &principal, &access, id, subscription).await?,
    ))
}

/// Subscriptions to the tenant's products (`?status=pending`: the requests to decide).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/subscriptions", tag = "portal",
    params(TenantParam, InboxQuery), responses((status = 200, body = Vec<Subscription>), NotFound))]
async fn list_product_subscriptions(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiQuery(query): ApiQuery<InboxQuery>,
) -> ApiResult<Json<Vec<Subscription>>> {
    Ok(Json(
        subscriptions::to_products(&state.db, &access, &query).await?,
    ))
}

/// A decision on a subscription to one of the tenant's products.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DecisionRequest {
    /// `approve` or `reject` a pending request; `suspend`, `resume` or `revoke` later.
    decision: Decision,
    /// Shown to the subscriber.
    #[serde(default)]
    note: String,
}

/// Decide on a subscription to one of the tenant's products (admins and owners); it takes
/// effect on every proxy within about a second.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/subscriptions/{id}/decision", tag = "portal",
    request_body = DecisionRequest,
    params(TenantParam, ("id" = Uuid, Path, description = "Subscription id")),
    responses((status = 200, body = Subscription), Forbidden, NotFound, Conflict, Invalid))]
async fn decide_subscription(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
    ApiJson(request): ApiJson<DecisionRequest>,
) -> ApiResult<Json<Subscription>> {
    let note = DecisionNote { note: request.note };
    Ok(Json(
        subscriptions::decide(&state.db, &principal, &access, id, request.decision, note).await?,
    ))
}

/// The application's usage and cost through its subscriptions, by product.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/applications/{id}/usage", tag = "portal",
    params(TenantParam, ("id" = Uuid, Path, description = "Application id"), SummaryQuery),
    responses((status = 200, body = ApplicationUsage), NotFound, Invalid))]
async fn get_application_usage(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
    ApiQuery(query): ApiQuery<SummaryQuery>,
) -> ApiResult<Json<ApplicationUsage>> {
    applications::find(&state.db, &access, id).await?;
    Ok(Json(
        usage::application_usage(&state.db, &access, id, &query).await?,
    ))
}
