//! The proxies that report in, for platform admins: which configuration each serves, and how it
//! counts limits (on its own, or shared through Redis).

use axum::response::Response;
use leptos::prelude::*;
use serde::Deserialize;

use crate::client::ApiFailure;
use crate::ctx::TenantCtx;
use crate::format;
use crate::layout::render;

#[derive(Deserialize)]
struct Dataplanes {
    config_version: i64,
    dataplanes: Vec<Dataplane>,
}

#[derive(Deserialize)]
struct Dataplane {
    hostname: String,
    address: String,
    version: i64,
    uptime_secs: i64,
    proxy_version: String,
    limits: Option<String>,
    last_seen: String,
}

/// How a proxy counts limits, in words, with the status class it shows in.
fn limits_words(limits: Option<&str>) -> (&'static str, &'static str) {
    match limits {
        Some("shared") => ("shared through Redis", "status ok"),
        Some("local_fallback") => (
            "on its own: Redis is unreachable (budgets follow TOLLGATE_BUDGET_FAILURE)",
            "status error",
        ),
        Some("local") => ("on its own (no Redis configured)", "status"),
        _ => ("not reported", "status"),
    }
}

/// `3d 4h`, `5h 2m`, `12m`, `40s`.
fn uptime(secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

pub(crate) async fn page(t: TenantCtx) -> Response {
    if !t.nav.platform_admin {
        return t.failure(ApiFailure {
            status: axum::http::StatusCode::FORBIDDEN,
            message: "only platform admins see the proxies".into(),
        });
    }
    let listed: Dataplanes = match t.ctx.api.get("/api/v1/dataplanes").await {
        Ok(v) => v,
        Err(failure) => return t.failure(failure),
    };
    let latest = listed.config_version;
    let proxies = listed.dataplanes;
    let body = render(move || {
        view! {
            <div class="page-head"><h1>"Proxies"</h1></div>
            <p class="muted">{format!(
                "Proxies that reported in the last day. The latest configuration is version {latest}; proxies pick up changes within about a second."
            )}</p>
            {if proxies.is_empty() {
                view! { <section class="card empty"><p>"No proxy has reported yet. Start tollgate-proxy with this server's URL and proxy token."</p></section> }.into_any()
            } else {
                view! {
                    <table>
                        <thead><tr>
                            <th>"Host"</th><th>"Address"</th><th class="num">"Configuration"</th>
                            <th>"Limits counted"</th><th>"Version"</th><th class="num">"Up"</th><th>"Last seen"</th>
                        </tr></thead>
                        <tbody>
                            {proxies.into_iter().map(|p| {
                                let (limits, class) = limits_words(p.limits.as_deref());
                                let behind = p.version < latest;
                                let config = if behind {
                                    format!("{} (behind)", p.version)
                                } else {
                                    p.version.to_string()
                                };
                                view! {
                                    <tr>
                                        <td>{p.hostname}</td>
                                        <td><code>{p.address}</code></td>
                                        <td class="num"><span class:warning=behind>{config}</span></td>
                                        <td><span class=class>{limits}</span></td>
                                        <td>{p.proxy_version}</td>
                                        <td class="num">{uptime(p.uptime_secs)}</td>
                                        <td>{format::time(&p.last_seen)}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <p class="hint">"Without Redis each proxy counts rate limits on its own, so N proxies admit up to N times a key's limit; set TOLLGATE_REDIS_URL on every proxy to count them together."</p>
        }
    });
    t.page("Proxies", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_reads_in_its_two_largest_units() {
        assert_eq!(uptime(40), "40s");
        assert_eq!(uptime(125), "2m");
        assert_eq!(uptime(3 * 3600 + 120), "3h 2m");
        assert_eq!(uptime(2 * 86_400 + 5 * 3600 + 7), "2d 5h");
    }
}
