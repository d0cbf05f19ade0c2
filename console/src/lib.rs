//! Tollgate's web console, rendered on the server with Leptos (no WASM, works without JavaScript).
//! The server mounts [`router`] at `/`.

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;

/// The console's routes.
pub fn router() -> Router {
    Router::new().route("/", get(|| async { Html(home_page()) }))
}

#[component]
fn Home() -> impl IntoView {
    view! {
        <main class="home">
            <h1>"Tollgate"</h1>
            <p>"API management and AI gateway. The console is being built; meanwhile the admin API does everything."</p>
            <ul>
                <li><a href="/api/docs">"Admin API reference"</a></li>
                <li><a href="/api/openapi.json">"OpenAPI document"</a></li>
            </ul>
        </main>
    }
}

/// Renders the landing page as a complete HTML document.
pub fn home_page() -> String {
    let body = Owner::new().with(|| view! { <Home/> }.to_html());
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Tollgate</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1a1a2e}}\
         a{{color:#3a4bd8}}</style></head><body>{body}</body></html>"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn home_page_links_the_api_docs() {
        let html = super::home_page();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("href=\"/api/docs\""));
    }
}
