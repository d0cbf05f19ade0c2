//! The landing page: what the tenant's traffic did and cost over 24 hours, 7 or 30 days.

use std::collections::BTreeMap;

use axum::extract::Query;
use axum::response::Response;
use leptos::prelude::*;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, Time};

use crate::charts::{self, Axis, Chart, Series, PALETTE};
use crate::ctx::TenantCtx;
use crate::format;
use crate::layout::render;
use crate::types::{ApiKey, GroupStats, ToolStats, UsageSummary};

#[derive(Deserialize, Default)]
pub(crate) struct RangeQuery {
    range: Option<String>,
}

/// A dashboard range: its name, length and bucket.
#[derive(Clone, Copy)]
struct Range {
    name: &'static str,
    label: &'static str,
    hours: i64,
    daily: bool,
}

const RANGES: [Range; 3] = [
    Range {
        name: "24h",
        label: "24 hours",
        hours: 24,
        daily: false,
    },
    Range {
        name: "7d",
        label: "7 days",
        hours: 24 * 7,
        daily: true,
    },
    Range {
        name: "30d",
        label: "30 days",
        hours: 24 * 30,
        daily: true,
    },
];

/// Where a range starts: the day `hours - 24` back at midnight for daily ranges, else the hour
/// `hours - 1` back, so the range holds that many whole buckets plus the current one.
fn range_start(range: Range, now: OffsetDateTime) -> OffsetDateTime {
    if range.daily {
        (now - Duration::hours(range.hours - 24)).replace_time(Time::MIDNIGHT)
    } else {
        let first = now - Duration::hours(range.hours - 1);
        first.replace_time(Time::from_hms(first.hour(), 0, 0).unwrap_or(Time::MIDNIGHT))
    }
}

pub(crate) async fn page(t: TenantCtx, Query(query): Query<RangeQuery>) -> Response {
    let range = RANGES
        .iter()
        .find(|r| Some(r.name) == query.range.as_deref())
        .copied()
        .unwrap_or(RANGES[0]);
    let now = OffsetDateTime::now_utc();
    let start = range_start(range, now);
    let from = start.format(&Rfc3339).unwrap_or_default();
    let bucket = if range.daily { "day" } else { "hour" };
    let summary: UsageSummary = match t
        .ctx
        .api
        .get(&t.api_path(&format!(
            "/usage/summary?from={}&bucket={bucket}",
            enc(&from)
        )))
        .await
    {
        Ok(summary) => summary,
        Err(failure) => return t.failure(failure),
    };
    let keys: Vec<ApiKey> = match t.ctx.api.get(&t.api_path("/keys")).await {
        Ok(keys) => keys,
        Err(failure) => return t.failure(failure),
    };

    let buckets = bucket_times(start, now, range.daily);
    let labels: Vec<String> = buckets
        .iter()
        .map(|b| {
            if range.daily {
                format!("{:02}-{:02}", b.month() as u8, b.day())
            } else {
                format!("{:02}:00", b.hour())
            }
        })
        .collect();
    let index: BTreeMap<OffsetDateTime, usize> =
        buckets.iter().enumerate().map(|(i, b)| (*b, i)).collect();
    let points: Vec<(usize, &crate::types::SeriesPoint)> = summary
        .series
        .iter()
        .filter_map(|p| {
            let time = OffsetDateTime::parse(&p.time, &Rfc3339).ok()?;
            index.get(&time).map(|i| (*i, p))
        })
        .collect();
    let n = buckets.len();
    // Buckets without traffic are 0 in bars; lines leave them out (NaN) rather than dip to 0.
    let column_or = |missing: f64, f: &dyn Fn(&crate::types::SeriesPoint) -> f64| {
        let mut values = vec![missing; n];
        for (i, p) in &points {
            values[*i] = f(p);
        }
        values
    };
    let column = |f: &dyn Fn(&crate::types::SeriesPoint) -> f64| column_or(0.0, f);

    let model_names: BTreeMap<String, String> = summary
        .by_model
        .iter()
        .filter_map(|g| {
            Some((
                g.id.clone()?,
                g.name.clone().unwrap_or_else(|| "deleted model".into()),
            ))
        })
        .collect();
    let mut spend_series: Vec<Series> = Vec::new();
    for (k, (model_id, name)) in model_names.iter().enumerate() {
        spend_series.push(Series {
            name: name.clone(),
            color: PALETTE[k % PALETTE.len()],
            values: column(&|p| {
                p.cost_by_model
                    .iter()
                    .filter(|c| &c.model_id == model_id)
                    .map(|c| format::usd_value(&c.cost_usd))
                    .sum()
            }),
        });
    }
    let spend = charts::stacked_bars(&Chart {
        title: "Spend by model (USD)",
        labels: labels.clone(),
        series: spend_series,
        axis: Axis::Usd,
    });
    let requests = charts::stacked_bars(&Chart {
        title: "Requests",
        labels: labels.clone(),
        series: vec![
            Series::new(
                "succeeded",
                PALETTE[2],
                column(&|p| {
                    (p.stats.requests - p.stats.client_errors - p.stats.server_errors) as f64
                }),
            ),
            Series::new(
                "client errors (4xx)",
                PALETTE[5],
                column(&|p| p.stats.client_errors as f64),
            ),
            Series::new(
                "server errors (5xx)",
                PALETTE[3],
                column(&|p| p.stats.server_errors as f64),
            ),
        ],
        axis: Axis::Count,
    });
    let tokens = charts::stacked_bars(&Chart {
        title: "Tokens",
        labels: labels.clone(),
        series: vec![
            Series::new(
                "input",
                PALETTE[0],
                column(&|p| p.stats.input_tokens as f64),
            ),
            Series::new(
                "output",
                PALETTE[1],
                column(&|p| p.stats.output_tokens as f64),
            ),
        ],
        axis: Axis::Count,
    });
    let latency = charts::lines(&Chart {
        title: "Latency (ms)",
        labels,
        series: vec![
            Series::new("p50", PALETTE[0], column_or(f64::NAN, &|p| p.stats.p50_ms)),
            Series::new("p95", PALETTE[3], column_or(f64::NAN, &|p| p.stats.p95_ms)),
        ],
        axis: Axis::Millis,
    });

    let total = summary.total.clone();
    let errors = total.client_errors + total.server_errors;
    let tiles = vec![
        ("Spend", format::usd(&total.cost_usd)),
        ("Requests", format::count(total.requests)),
        ("Error rate", format::percent(errors, total.requests)),
        (
            "Tokens in / out",
            format!(
                "{} / {}",
                format::count(total.input_tokens),
                format::count(total.output_tokens)
            ),
        ),
        (
            "Latency p50 / p95",
            format!(
                "{} / {}",
                format::ms(total.p50_ms),
                format::ms(total.p95_ms)
            ),
        ),
    ];
    let mut top_keys = summary.by_key.clone();
    top_keys.retain(|g| g.id.is_some());
    sort_by_cost(&mut top_keys);
    let mut top_models = summary.by_model.clone();
    sort_by_cost(&mut top_models);
    let tools = summary.by_tool.clone();
    let budgets: Vec<(String, String, String, String, f64)> = keys
        .iter()
        .filter_map(|k| {
            let budget = k.budget.as_ref()?;
            let spent = k.budget_spent_usd.clone().unwrap_or_else(|| "0".into());
            let limit = format::usd_value(&budget.amount_usd);
            let share = if limit > 0.0 {
                format::usd_value(&spent) / limit
            } else {
                1.0
            };
            Some((
                k.name.clone(),
                budget.period.clone(),
                format::usd(&spent),
                format::usd(&budget.amount_usd),
                share,
            ))
        })
        .collect();

    let base = t.path("");
    let range_name = range.name;
    let period = range.label;
    let body = render(move || {
        view! {
            <div class="page-head">
                <h1>"Dashboard"</h1>
                <nav class="tabs" aria-label="Range">
                    {RANGES
                        .iter()
                        .map(|r| {
                            let current = (r.name == range_name).then_some("page");
                            view! { <a href=format!("{base}?range={}", r.name) aria-current=current>{r.name}</a> }
                        })
                        .collect_view()}
                </nav>
            </div>
            <p class="muted">{format!("The last {period}, in UTC. Refreshes every minute.")}</p>
            <meta http-equiv="refresh" content="60"/>
            <section class="tiles">
                {tiles
                    .into_iter()
                    .map(|(label, value)| view! { <div class="tile"><span class="label">{label}</span><span class="value">{value}</span></div> })
                    .collect_view()}
            </section>
            <section class="charts">
                <div class="chart-row">
                    <div inner_html=spend></div>
                    <div>{group_table("Top models by cost", "Model", top_models)}</div>
                </div>
                <div class="chart-row">
                    <div inner_html=requests></div>
                    <div>{group_table("Top keys by cost", "Key", top_keys)}</div>
                </div>
                <div class="chart-row">
                    <div inner_html=tokens></div>
                    <div inner_html=latency></div>
                </div>
            </section>
            {(!tools.is_empty()).then(|| tool_table(tools))}
            <section class="card">
                <h2>"Budgets"</h2>
                {if budgets.is_empty() {
                    view! { <p class="muted">"No key has a budget. Set one on a key's page to cap what it may spend per day, month or in total."</p> }.into_any()
                } else {
                    view! {
                        <table>
                            <thead><tr><th>"Key"</th><th>"Period"</th><th class="num">"Spent"</th><th class="num">"Budget"</th><th>"Used"</th></tr></thead>
                            <tbody>
                                {budgets
                                    .into_iter()
                                    .map(|(name, period, spent, amount, share)| {
                                        let pct = (share * 100.0).clamp(0.0, 100.0);
                                        let class = if share >= 1.0 { "bar over" } else if share >= 0.8 { "bar warn" } else { "bar" };
                                        view! {
                                            <tr>
                                                <td>{name}</td>
                                                <td>{period}</td>
                                                <td class="num">{spent}</td>
                                                <td class="num">{amount}</td>
                                                <td><div class=class role="img" aria-label=format!("{pct:.0}% used")><span style=format!("width:{pct:.1}%")></span></div>{format!("{:.0}%", share * 100.0)}</td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }}
            </section>
        }
    });
    t.page("Dashboard", body)
}

fn group_table(title: &'static str, what: &'static str, groups: Vec<GroupStats>) -> impl IntoView {
    let rows: Vec<_> = groups.into_iter().take(8).collect();
    view! {
        <h3>{title}</h3>
        {if rows.is_empty() {
            view! { <p class="muted">"Nothing yet in this range."</p> }.into_any()
        } else {
            view! {
                <table class="compact">
                    <thead><tr><th>{what}</th><th class="num">"Requests"</th><th class="num">"Tokens"</th><th class="num">"Cost"</th></tr></thead>
                    <tbody>
                        {rows
                            .into_iter()
                            .map(|g| {
                                let name = g.name.clone().unwrap_or_else(|| "(deleted)".into());
                                view! {
                                    <tr>
                                        <td>{name}</td>
                                        <td class="num">{format::count(g.stats.requests)}</td>
                                        <td class="num">{format::count(g.stats.input_tokens + g.stats.output_tokens)}</td>
                                        <td class="num">{format::usd(&g.stats.cost_usd)}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
    }
}

/// MCP tool calls: calls, errors and p95 per tool, busiest first.
fn tool_table(tools: Vec<ToolStats>) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"MCP tool calls"</h2>
            <table class="compact">
                <thead><tr><th>"Server"</th><th>"Tool"</th><th class="num">"Calls"</th><th class="num">"Errors"</th><th class="num">"p95"</th><th class="num">"Cost"</th></tr></thead>
                <tbody>
                    {tools
                        .into_iter()
                        .take(20)
                        .map(|t| {
                            let server = t.server.clone().unwrap_or_else(|| "(deleted)".into());
                            let errors = t.stats.client_errors + t.stats.server_errors;
                            view! {
                                <tr>
                                    <td>{server}</td>
                                    <td>{t.tool.clone()}</td>
                                    <td class="num">{format::count(t.stats.requests)}</td>
                                    <td class="num">{format::count(errors)}</td>
                                    <td class="num">{format::ms(t.stats.p95_ms)}</td>
                                    <td class="num">{format::usd(&t.stats.cost_usd)}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}

fn sort_by_cost(groups: &mut [GroupStats]) {
    groups.sort_by(|a, b| {
        format::usd_value(&b.stats.cost_usd)
            .total_cmp(&format::usd_value(&a.stats.cost_usd))
            .then(b.stats.requests.cmp(&a.stats.requests))
    });
}

/// Every bucket start from `start` up to `now`.
fn bucket_times(start: OffsetDateTime, now: OffsetDateTime, daily: bool) -> Vec<OffsetDateTime> {
    let step = if daily {
        Duration::days(1)
    } else {
        Duration::hours(1)
    };
    let mut times = Vec::new();
    let mut t = start;
    while t <= now && times.len() < 800 {
        times.push(t);
        t += step;
    }
    times
}

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_day_range_is_the_last_24_hour_buckets_at_any_hour() {
        for (now, start) in [
            (
                datetime!(2026-12-01 10:37 UTC),
                datetime!(2026-11-30 11:00 UTC),
            ),
            (
                datetime!(2026-12-01 23:37 UTC),
                datetime!(2026-12-01 00:00 UTC),
            ),
            (
                datetime!(2026-12-01 00:05 UTC),
                datetime!(2026-11-30 01:00 UTC),
            ),
        ] {
            assert_eq!(range_start(RANGES[0], now), start, "at {now}");
        }
        assert_eq!(
            range_start(RANGES[1], datetime!(2026-12-01 23:37 UTC)),
            datetime!(2026-11-25 00:00 UTC)
        );
    }
}
