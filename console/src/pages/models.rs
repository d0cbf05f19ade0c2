//! Models: the names clients call, their deployments (weights, priorities) and prices.

use axum::extract::Path;
use axum::response::Response;
use axum::Form;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

use super::IdPath;
use crate::ctx::{Flash, TenantCtx};
use crate::format;
use crate::forms;
use crate::layout::{escape_textarea, render};
use crate::types::{Model, Provider, Role};

pub(crate) async fn list(t: TenantCtx) -> Response {
    let models: Vec<Model> = match t.ctx.api.get(&t.api_path("/models")).await {
        Ok(m) => m,
        Err(failure) => return t.failure(failure),
    };
    let providers: Vec<Provider> = match t.ctx.api.get(&t.api_path("/providers")).await {
        Ok(p) => p,
        Err(failure) => return t.failure(failure),
    };
    let can_manage = t.role() >= Role::Admin;
    let csrf = t.ctx.csrf.clone();
    let base = t.path("/models");
    let providers_href = t.path("/providers");
    let provider_names: Vec<String> = providers.iter().map(|p| p.name.clone()).collect();
    let body = render(move || {
        view! {
            <div class="page-head"><h1>"Models"</h1></div>
            <p class="muted">"The model names clients call. Each maps to deployments on providers: the lowest priority number is tried first, weights split traffic within a priority, and the next priority takes over on 429s, 5xx and timeouts."</p>
            {if models.is_empty() {
                view! { <section class="card empty"><p>"No models yet. Add a provider first, then a model that uses it."</p></section> }.into_any()
            } else {
                let base = base.clone();
                view! {
                    <table>
                        <thead><tr><th>"Name"</th><th>"Deployments"</th><th class="num">"Input / Mtok"</th><th class="num">"Output / Mtok"</th><th>"Prices from"</th><th></th></tr></thead>
                        <tbody>
                            {models.into_iter().map(|m| {
                                let href = format!("{base}/{}", m.id);
                                let deployments = m.deployments.iter()
                                    .map(|d| format!("{} → {} (weight {}, priority {})", d.provider, d.model, d.weight, d.priority))
                                    .collect::<Vec<_>>()
                                    .join("; ");
                                view! {
                                    <tr>
                                        <td><a href=href.clone()>{m.name.clone()}</a></td>
                                        <td>{deployments}</td>
                                        <td class="num">{format::usd(&m.prices.input_per_mtok)}</td>
                                        <td class="num">{format::usd(&m.prices.output_per_mtok)}</td>
                                        <td>{m.price_source.clone().unwrap_or_else(|| "set on the model".into())}</td>
                                        <td><a href=href>{if can_manage { "Edit" } else { "View" }}</a></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            {can_manage.then(|| view! {
                <section class="card">
                    <h2>"Add a model"</h2>
                    {provider_names.is_empty().then(|| view! {
                        <p class="warning">"There is no provider yet: "<a href=providers_href.clone()>"add one"</a>" first."</p>
                    })}
                    <form method="post" action=base.clone() class="grid-form">
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        {model_fields(None, &provider_names)}
                        <div class="actions"><button type="submit">"Add model"</button></div>
                    </form>
                </section>
            })}
        }
    });
    t.page("Models", body)
}

fn model_fields(model: Option<&Model>, providers: &[String]) -> impl IntoView {
    let name = model.map(|m| m.name.clone()).unwrap_or_default();
    let deployments = model
        .map(|m| {
            m.deployments
                .iter()
                .map(|d| format!("{} {} {} {}", d.provider, d.model, d.weight, d.priority))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let own_prices = model.is_some_and(|m| m.price_source.is_none());
    let price = |f: fn(&Model) -> Option<String>| {
        if own_prices {
            model.and_then(f).unwrap_or_default()
        } else {
            String::new()
        }
    };
    let input = price(|m| Some(m.prices.input_per_mtok.clone()));
    let cached = price(|m| m.prices.cached_input_per_mtok.clone());
    let output = price(|m| Some(m.prices.output_per_mtok.clone()));
    let per_request = price(|m| m.prices.per_request.clone());
    let example = providers
        .first()
        .cloned()
        .unwrap_or_else(|| "openai-prod".into());
    view! {
        <label for="name">"Name"</label>
        <input id="name" name="name" required value=name placeholder="gpt-4o"/>
        <label for="deployments">"Deployments"</label>
        <textarea id="deployments" name="deployments" rows="3" required placeholder=format!("{example} gpt-4o-2024-08-06 1 0")>{escape_textarea(&deployments)}</textarea>
        <p class="hint">{format!("One per line: provider, upstream model, weight (default 1), priority (default 0). Providers: {}.", if providers.is_empty() { "none yet".to_string() } else { providers.join(", ") })}</p>
        <label for="input_per_mtok">"Input price (USD / 1M tokens)"</label>
        <input id="input_per_mtok" name="input_per_mtok" inputmode="decimal" value=input placeholder="from the price catalog"/>
        <label for="cached_input_per_mtok">"Cached input price"</label>
        <input id="cached_input_per_mtok" name="cached_input_per_mtok" inputmode="decimal" value=cached placeholder="same as input"/>
        <label for="output_per_mtok">"Output price (USD / 1M tokens)"</label>
        <input id="output_per_mtok" name="output_per_mtok" inputmode="decimal" value=output placeholder="from the price catalog"/>
        <label for="per_request">"Price per request (USD)"</label>
        <input id="per_request" name="per_request" inputmode="decimal" value=per_request placeholder="none"/>
        <p class="hint">"Leave the prices empty to use the built-in catalog's dated list prices for the upstream model."</p>
    }
}

#[derive(Deserialize)]
pub(crate) struct ModelForm {
    name: String,
    deployments: String,
    #[serde(default)]
    input_per_mtok: String,
    #[serde(default)]
    cached_input_per_mtok: String,
    #[serde(default)]
    output_per_mtok: String,
    #[serde(default)]
    per_request: String,
}

impl ModelForm {
    fn to_json(&self) -> Result<Value, String> {
        let mut deployments = Vec::new();
        for (line, words) in forms::rows(&self.deployments) {
            let (provider, model) = match words.as_slice() {
                [provider, model, ..] => (provider, model),
                _ => {
                    return Err(format!(
                    "Deployments, line {line}: write  provider upstream-model [weight] [priority]"
                ))
                }
            };
            let weight = forms::number::<u32>(
                &format!("Deployments, line {line}, weight"),
                words.get(2).unwrap_or(&""),
            )?;
            let priority = forms::number::<u32>(
                &format!("Deployments, line {line}, priority"),
                words.get(3).unwrap_or(&""),
            )?;
            deployments.push(json!({
                "provider": provider, "model": model,
                "weight": weight.unwrap_or(1), "priority": priority.unwrap_or(0),
            }));
        }
        let input = forms::opt(&self.input_per_mtok);
        let output = forms::opt(&self.output_per_mtok);
        let prices = match (input, output) {
            (None, None) if forms::opt(&self.per_request).is_none() => Value::Null,
            (input, output) => json!({
                "input_per_mtok": input.unwrap_or_else(|| "0".into()),
                "output_per_mtok": output.unwrap_or_else(|| "0".into()),
                "cached_input_per_mtok": forms::opt(&self.cached_input_per_mtok),
                "per_request": forms::opt(&self.per_request),
            }),
        };
        Ok(json!({"name": self.name.trim(), "deployments": deployments, "prices": prices}))
    }
}

pub(crate) async fn create(t: TenantCtx, Form(form): Form<ModelForm>) -> Response {
    let back = t.path("/models");
    let body = match form.to_json() {
        Ok(body) => body,
        Err(message) => return t.ctx.redirect(&back, Some(Flash::Error(message))),
    };
    let result = t.ctx.api.post::<Model>(&t.api_path("/models"), &body).await;
    t.after(&back, result, |m| {
        format!("Model \u{201c}{}\u{201d} added.", m.name)
    })
}

pub(crate) async fn edit(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    let model: Model = match t.ctx.api.get(&t.api_path(&format!("/models/{id}"))).await {
        Ok(m) => m,
        Err(failure) => return t.failure(failure),
    };
    let providers: Vec<Provider> = match t.ctx.api.get(&t.api_path("/providers")).await {
        Ok(p) => p,
        Err(failure) => return t.failure(failure),
    };
    let provider_names: Vec<String> = providers.iter().map(|p| p.name.clone()).collect();
    let can_manage = t.role() >= Role::Admin;
    let csrf = t.ctx.csrf.clone();
    let action = t.path(&format!("/models/{id}"));
    let back = t.path("/models");
    let title = format!("Model {}", model.name);
    let body = render(move || {
        let prices = &model.prices;
        view! {
            <div class="page-head"><h1>{format!("Model \u{201c}{}\u{201d}", model.name)}</h1><a href=back.clone()>"All models"</a></div>
            <section class="card">
                <dl class="facts">
                    <dt>"Input"</dt><dd>{format!("{} per 1M tokens", format::usd(&prices.input_per_mtok))}</dd>
                    <dt>"Cached input"</dt><dd>{prices.cached_input_per_mtok.as_deref().map(format::usd).unwrap_or_else(|| "as input".into())}</dd>
                    <dt>"Output"</dt><dd>{format!("{} per 1M tokens", format::usd(&prices.output_per_mtok))}</dd>
                    <dt>"Per request"</dt><dd>{prices.per_request.as_deref().map(format::usd).unwrap_or_else(|| "none".into())}</dd>
                    <dt>"Prices from"</dt><dd>{model.price_source.clone().unwrap_or_else(|| "set on the model".into())}</dd>
                </dl>
            </section>
            {can_manage.then(|| view! {
                {super::form_card("Settings", action.clone(), csrf.clone(), model_fields(Some(&model), &provider_names), "Save")}
                {super::danger_card("Delete", "Clients calling this model get errors from then on.", format!("{action}/delete"), csrf.clone(), "Delete this model? Clients calling it get errors.", "Delete model")}
            })}
        }
    });
    t.page(&title, body)
}

pub(crate) async fn update(
    t: TenantCtx,
    Path(IdPath { id }): Path<IdPath>,
    Form(form): Form<ModelForm>,
) -> Response {
    super::save(&t, &format!("/models/{id}"), form.to_json(), |m: Model| {
        format!("Model \u{201c}{}\u{201d} saved.", m.name)
    })
    .await
}

pub(crate) async fn delete(t: TenantCtx, Path(IdPath { id }): Path<IdPath>) -> Response {
    super::delete_item(&t, "models", &id, "Model deleted.").await
}
