//! The security review's findings, each performed as an attack or a fault against a real server,
//! proxy and upstreams, and shown not to work any more.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use tollgate_testkit::TestServer;
use tollgate_testkit::{
    call, client, create_key, create_route, dead_url, start_proxy, synced, Behaviour, Upstream,
};
use tollgate_testkit::{serve, TestProxy};

/// Sends raw bytes to `addr` and returns what comes back until the peer closes (or 5 s pass).
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The headers an echo upstream reports it received.
fn upstream_headers(body: &Value) -> &serde_json::Map<String, Value> {
    body["headers"].as_object().expect("echoed headers")
}

#[tokio::test]
async fn a_tenant_cannot_capture_another_tenants_traffic_or_keys() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let a = Upstream::start("a", Behaviour::Echo).await;
    let b = Upstream::start("b", Behaviour::Echo).await;
    create_route(
        &admin,
        json!({"name": "aorders", "path": "/aorders", "targets": [{"url": a.url}]}),
    )
    .await;
    let (_, key_a) = create_key(
        &admin,
        json!({"name": "a", "scopes": {"routes": ["aorders"]}}),
    )
    .await;

    let bee = server
        .user_with_role("bee", "admin@bee.example", "admin")
        .await;
    let squat = |path: &str, hosts: Value| {
        json!({"name": "squat", "hosts": hosts, "path": path, "require_key": false,
               "targets": [{"url": b.url}]})
    };
    // Without a namespace, tenant B cannot create any route; the answer says how to get one.
    let refused = bee
        .post(
            "/api/v1/tenants/bee/routes",
            squat("/aorders/v2", json!([])),
        )
        .await;
    refused.assert_problem(422);
    assert!(refused.text.contains("platform admin"), "{}", refused.text);
    assert!(
        !refused.text.contains("default"),
        "names another tenant: {}",
        refused.text
    );

    // A platform admin gives B its own host; B's routes live there and nowhere else.
    let assigned = admin
        .put(
            "/api/v1/tenants/bee/namespace",
            json!({"parts": [{"host": "bee.example"}]}),
        )
        .await;
    assert_eq!(assigned.status, 200, "{}", assigned.text);
    for (path, hosts) in [
        ("/aorders/v2", json!([])),
        ("/aorders", json!([])),
        ("/aorders", json!(["api.a.example"])),
        ("/aorders", json!(["*.example"])),
    ] {
        let refused = bee
            .post("/api/v1/tenants/bee/routes", squat(path, hosts))
            .await;
        refused.assert_problem(422);
        assert!(!refused.text.contains("default"), "{}", refused.text);
    }
    let created = bee
        .post(
            "/api/v1/tenants/bee/routes",
            squat("/aorders", json!(["bee.example"])),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    // A's space cannot be handed to B while A holds it.
    admin
        .put(
            "/api/v1/tenants/bee/namespace",
            json!({"parts": [{"host": "bee.example"}, {"path_prefix": "/"}]}),
        )
        .await
        .assert_problem(409);

    let proxy = TestProxy::start(&server).await;
    let base = format!("http://{}", proxy.traffic_addr());
    // A's clients reach A's upstream, with A's key, on every host but B's.
    for host in ["127.0.0.1", "api.a.example", "other.example"] {
        let (status, _, body) = call(
            client()
                .get(format!("{base}/aorders/v2"))
                .header("host", host)
                .bearer_auth(&key_a),
        )
        .await;
        assert_eq!(status, 200, "{host}: {body}");
        assert_eq!(body["upstream"], "a");
    }
    // On B's host, B's route answers, and B's upstream never sees A's key.
    let (status, _, body) = call(
        client()
            .get(format!("{base}/aorders/v2"))
            .header("host", "bee.example")
            .bearer_auth(&key_a)
            .header("x-api-key", &key_a),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["upstream"], "b");
    let seen = upstream_headers(&body);
    assert!(!seen.contains_key("authorization"), "{body}");
    assert!(!seen.contains_key("x-api-key"), "{body}");
    assert_eq!(b.hits(), 1);
    proxy.shutdown().await;
}

#[tokio::test]
async fn upstreams_never_see_tollgate_keys_unless_the_route_opts_in() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let upstream = Upstream::start("u", Behaviour::Echo).await;
    create_route(
        &admin,
        json!({"name": "public", "path": "/public", "require_key": false,
               "targets": [{"url": upstream.url}]}),
    )
    .await;
    create_route(
        &admin,
        json!({"name": "keyed", "path": "/keyed", "forward_key": true,
               "targets": [{"url": upstream.url}]}),
    )
    .await;
    let (_, key) = create_key(&admin, json!({"name": "k"})).await;
    let proxy = TestProxy::start(&server).await;
    let base = format!("http://{}", proxy.traffic_addr());
    let (status, _, body) = call(
        client()
            .get(format!("{base}/public"))
            .header("authorization", format!("bearer {key}"))
            .header("x-api-key", &key),
    )
    .await;
    assert_eq!(status, 200);
    let seen = upstream_headers(&body);
    assert!(
        !seen.contains_key("authorization") && !seen.contains_key("x-api-key"),
        "{body}"
    );
    // Other credentials of the client pass through untouched.
    let (_, _, body) = call(
        client()
            .get(format!("{base}/public"))
            .header("authorization", "Bearer upstream-token"),
    )
    .await;
    assert_eq!(
        upstream_headers(&body)["authorization"],
        "Bearer upstream-token"
    );
    // A route that opts in forwards the key (and "Bearer" is case-insensitive).
    let (status, _, body) = call(
        client()
            .get(format!("{base}/keyed"))
            .header("authorization", format!("BEARER {key}")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        upstream_headers(&body)["authorization"],
        format!("BEARER {key}")
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn path_tricks_never_skip_the_key_check() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let files = Upstream::start("static", Behaviour::Echo).await;
    let secret = Upstream::start("admin", Behaviour::Echo).await;
    create_route(
        &admin,
        json!({"name": "static", "path": "/static", "require_key": false,
               "targets": [{"url": files.url}]}),
    )
    .await;
    create_route(
        &admin,
        json!({"name": "admin", "path": "/admin", "targets": [{"url": secret.url}]}),
    )
    .await;
    let proxy = TestProxy::start(&server).await;
    let addr = proxy.traffic_addr();
    for path in [
        "/static/../admin/secret.txt",
        "/static/%2e%2e/admin/secret.txt",
        "/static/%2E%2E/admin/secret.txt",
        "/static//../admin/secret.txt",
        "/static/./../admin/secret.txt",
    ] {
        let answer = raw(
            addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        // Normalised to /admin/secret.txt, which needs a key.
        assert_eq!(status_of(&answer), 401, "{path}: {answer}");
    }
    for path in [
        "/static/..%2fadmin/secret.txt",
        "/static/..%5cadmin/secret.txt",
        "/static/..\\admin/secret.txt",
        "/static/..;/admin/secret.txt",
        "/static/%00",
    ] {
        let answer = raw(
            addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(status_of(&answer), 400, "{path}: {answer}");
    }
    // Over h2c (HTTP/2 without TLS) too.
    let h2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Empty<axum::body::Bytes>>();
    let uri: axum::http::Uri = format!("http://{addr}/static/%2e%2e/admin/secret.txt")
        .parse()
        .unwrap();
    let response = h2.get(uri).await.unwrap();
    assert_eq!(response.version(), axum::http::Version::HTTP_2);
    assert_eq!(response.status(), 401);
    // A normalised path still reaches the static files, as that path.
    let (status, _, body) =
        call(client().get(format!("http://{addr}/static/css/../app.css"))).await;
    assert_eq!(status, 200);
    assert_eq!(body["path"], "/static/app.css");
    assert_eq!(secret.hits(), 0);
    proxy.shutdown().await;
}

#[tokio::test]
async fn slow_and_greedy_clients_are_cut_off() {
    let mut server = TestServer::start().await;
    server.set_header_timeout(Duration::from_millis(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = tollgate_testkit::proxy_config(&server, dir.path());
    config.max_connections_per_client = 5;
    config.header_timeout = Duration::from_millis(200);
    let proxy = tollgate_proxy::Proxy::start(&config).await.unwrap();
    let proxy_addr = proxy.traffic_addr();
    let server_addr: std::net::SocketAddr =
        server.base.trim_start_matches("http://").parse().unwrap();

    // A client holding its maximum gets no more connections.
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(TcpStream::connect(proxy_addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(proxy_addr).await.unwrap();
    let mut buf = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    drop(held);
    // Once the proxy has seen them close, the client may connect again.
    let mut readmitted = false;
    for _ in 0..100 {
        let mut again = TcpStream::connect(proxy_addr).await.unwrap();
        again
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        if matches!(again.read(&mut buf).await, Ok(n) if n > 0) {
            readmitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        readmitted,
        "the client's closed connections were never released"
    );

    // Partial headers and idle connections are closed on proxy and server alike.
    let started = Instant::now();
    let mut slow = Vec::new();
    for addr in [proxy_addr, server_addr] {
        for partial in [
            &b""[..],
            b"GET / HTTP/1.1\r\nHost: x\r\n",
            b"G",
            b"PRI * HTTP/2",
        ] {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(partial).await.unwrap();
            slow.push(stream);
        }
    }
    for (i, mut stream) in slow.into_iter().enumerate() {
        let mut rest = Vec::new();
        let outcome =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
        assert!(
            outcome.is_ok(),
            "slow connection {i} was still open after {:?}",
            started.elapsed()
        );
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    proxy.shutdown().await;
}

#[tokio::test]
async fn client_faults_are_400s_and_never_eject_a_target() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let upstream = Upstream::start("u", Behaviour::Echo).await;
    create_route(
        &admin,
        json!({"name": "up", "path": "/up", "require_key": false, "targets": [{"url": upstream.url}]}),
    )
    .await;
    let proxy = TestProxy::start(&server).await;
    for _ in 0..5 {
        let answer = raw(
            proxy.traffic_addr(),
            b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nnot hex\r\n0\r\n\r\n",
        )
        .await;
        let status = status_of(&answer);
        assert!(status == 400 || status == 0, "{answer}");
    }
    // The target is still in rotation.
    let (status, _, _) = call(client().get(format!("http://{}/up", proxy.traffic_addr()))).await;
    assert_eq!(status, 200);
    proxy.shutdown().await;
}

#[tokio::test]
async fn refused_connections_are_retried_for_every_method_and_trace_needs_a_route_that_lists_it() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let live = Upstream::start("live", Behaviour::Echo).await;
    let dead = dead_url().await;
    create_route(
        &admin,
        json!({"name": "two", "path": "/two", "require_key": false, "retries": 2,
               "targets": [{"url": dead, "weight": 1}, {"url": live.url, "weight": 1}]}),
    )
    .await;
    create_route(
        &admin,
        json!({"name": "trace", "path": "/trace", "require_key": false, "methods": ["TRACE"],
               "targets": [{"url": live.url}]}),
    )
    .await;
    let proxy = TestProxy::start(&server).await;
    let base = format!("http://{}", proxy.traffic_addr());
    for _ in 0..30 {
        let (status, _, body) = call(client().post(format!("{base}/two")).body("{}")).await;
        assert_eq!(status, 200, "{body}");
    }
    let trace = reqwest::Method::from_bytes(b"TRACE").unwrap();
    let (status, _, _) = call(client().request(trace.clone(), format!("{base}/two"))).await;
    assert_eq!(status, 405);
    let (status, _, _) = call(client().request(trace, format!("{base}/trace"))).await;
    assert_eq!(status, 200);
    proxy.shutdown().await;
}

/// An upstream that sends its headers and the first bytes of its body, then stalls.
async fn stalling_upstream() -> String {
    use axum::body::Body;
    let app = axum::Router::new().fallback(|| async {
        let chunks = futures_util::stream::once(async {
            Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"first part"))
        })
        .chain(futures_util::stream::pending());
        axum::response::Response::new(Body::from_stream(chunks))
    });
    let url = serve(app).await;
    url
}

#[tokio::test]
async fn an_upstream_that_stalls_mid_body_is_cut_off() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let url = stalling_upstream().await;
    create_route(
        &admin,
        json!({"name": "stall", "path": "/stall", "require_key": false,
               "body_idle_timeout": "1s", "targets": [{"url": url}]}),
    )
    .await;
    let proxy = TestProxy::start(&server).await;
    let response = client()
        .get(format!("http://{}/stall", proxy.traffic_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = tokio::time::timeout(Duration::from_secs(10), response.bytes()).await;
    assert!(
        matches!(body, Ok(Err(_))),
        "the stalled body was not cut off: {body:?}"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn the_egress_policy_keeps_tenants_off_internal_addresses() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let upstream = Upstream::start("u", Behaviour::Echo).await;
    create_route(
        &admin,
        json!({"name": "inner", "path": "/inner", "require_key": false,
               "targets": [{"url": upstream.url}]}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&server, dir.path()).await;
    // Back to the default policy: loopback, link-local and metadata refused.
    let reset = admin.put("/api/v1/settings/egress", json!({})).await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    assert_eq!(
        reset.body,
        json!({"allow": [], "deny": [], "allow_private": true})
    );
    for target in [
        "http://169.254.169.254/latest/meta-data",
        "http://127.1:9",
        "http://0x7f000001:9",
        "http://[::1]:9",
        "http://localhost:9",
        "http://0.0.0.0:9",
    ] {
        admin
            .post(
                "/api/v1/tenants/default/routes",
                json!({"name": "ssrf", "path": "/ssrf", "targets": [{"url": target}]}),
            )
            .await
            .assert_problem(422);
        admin
            .post(
                "/api/v1/tenants/default/providers",
                json!({"name": "ssrf", "kind": "openai_compatible", "base_url": target}),
            )
            .await
            .assert_problem(422);
    }
    // A route saved while loopback was allowed is refused at connect time, where DNS tricks
    // and old objects cannot get around the policy.
    synced(&server, &proxy).await;
    let (status, _, body) =
        call(client().get(format!("http://{}/inner", proxy.traffic_addr()))).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "egress_refused");
    assert_eq!(upstream.hits(), 0);
    // A host name that resolves to loopback is refused the same way.
    let by_name = upstream.url.replace("127.0.0.1", "localhost.");
    let created = admin
        .post(
            "/api/v1/tenants/default/routes",
            json!({"name": "named", "path": "/named", "require_key": false,
                   "targets": [{"url": by_name}]}),
        )
        .await;
    if created.status == 201 {
        synced(&server, &proxy).await;
        let (status, _, body) =
            call(client().get(format!("http://{}/named", proxy.traffic_addr()))).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(upstream.hits(), 0);
    }
    // Private ranges can be switched off, and explicit CIDRs allowed again.
    admin
        .put("/api/v1/settings/egress", json!({"allow": ["not-a-cidr"]}))
        .await
        .assert_problem(422);
    let allowed = admin
        .put(
            "/api/v1/settings/egress",
            json!({"allow": ["127.0.0.1/32"], "allow_private": false}),
        )
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.text);
    synced(&server, &proxy).await;
    let (status, _, _) = call(client().get(format!("http://{}/inner", proxy.traffic_addr()))).await;
    assert_eq!(status, 200);
    admin
        .post(
            "/api/v1/tenants/default/routes",
            json!({"name": "private", "path": "/private", "targets": [{"url": "http://10.1.2.3"}]}),
        )
        .await
        .assert_problem(422);
    proxy.shutdown().await;
}

#[tokio::test]
async fn the_provider_test_is_no_port_scanner_and_follows_no_redirects() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    // A "provider" that redirects to the metadata service.
    let app = axum::Router::new().fallback(|| async {
        axum::response::Redirect::temporary("http://169.254.169.254/latest/meta-data")
    });
    let url = format!("{}/v1", serve(app).await);
    let provider = admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "redirector", "kind": "openai_compatible", "base_url": url}),
        )
        .await;
    assert_eq!(provider.status, 201, "{}", provider.text);
    let id = provider.body["id"].as_str().unwrap();
    let tested = admin
        .post(
            &format!("/api/v1/tenants/default/providers/{id}/test"),
            json!({}),
        )
        .await;
    assert_eq!(tested.body["ok"], false, "{}", tested.text);
    assert_eq!(
        tested.body["status"], 307,
        "the redirect was followed: {}",
        tested.text
    );
    // With loopback no longer allowed, the test does not connect at all.
    admin.put("/api/v1/settings/egress", json!({})).await;
    let tested = admin
        .post(
            &format!("/api/v1/tenants/default/providers/{id}/test"),
            json!({}),
        )
        .await;
    assert_eq!(tested.body["ok"], false);
    assert!(tested.body["status"].is_null(), "{}", tested.text);
    assert!(
        tested.body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("may not be reached"),
        "{}",
        tested.text
    );
}

#[tokio::test]
async fn a_key_scoped_to_routes_reaches_no_model_and_star_means_all() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    admin.chat_model("default").await;
    let (_, routes_only) = create_key(
        &admin,
        json!({"name": "r", "scopes": {"routes": ["orders"]}}),
    )
    .await;
    let (id, everything) = create_key(&admin, json!({"name": "all"})).await;
    let shown = admin
        .get(&format!("/api/v1/tenants/default/keys/{id}"))
        .await;
    assert_eq!(shown.body["scopes"]["models"], json!(["*"]));
    let proxy = TestProxy::start(&server).await;
    let base = format!("http://{}", proxy.traffic_addr());
    let chat = |key: &str| {
        client()
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": "chat", "messages": [{"role": "user", "content": "hi"}]}))
    };
    let (status, _, body) = call(chat(&routes_only)).await;
    assert_eq!(status, 403, "{body}");
    let (_, _, listed) = call(
        client()
            .get(format!("{base}/v1/models"))
            .bearer_auth(&routes_only),
    )
    .await;
    assert_eq!(listed["data"], json!([]), "{listed}");
    // The key with every scope gets past authorization (the provider itself is unreachable).
    let (status, _, body) = call(chat(&everything)).await;
    assert_ne!(status, 403, "{body}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn quotas_bound_what_a_tenant_can_store() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let member = server
        .user_with_role("default", "m@example.com", "admin")
        .await;
    member
        .put("/api/v1/settings/quotas", json!({"max_routes": 1}))
        .await
        .assert_problem(403);
    let set = admin
        .put(
            "/api/v1/settings/quotas",
            json!({"max_routes": 1, "max_object_bytes": 2048}),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    let route = |name: &str, header: &str| {
        json!({"name": name, "path": format!("/{name}"), "targets": [{"url": "http://10.0.0.1"}],
               "request_headers": {"set": {"x-big": header}}})
    };
    let big = member
        .post(
            "/api/v1/tenants/default/routes",
            route("big", &"x".repeat(3000)),
        )
        .await;
    big.assert_problem(422);
    assert!(big.text.contains("bytes"), "{}", big.text);
    let first = member
        .post("/api/v1/tenants/default/routes", route("one", "1"))
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let second = member
        .post("/api/v1/tenants/default/routes", route("two", "2"))
        .await;
    second.assert_problem(422);
    assert!(second.text.contains("quota"), "{}", second.text);
}

#[tokio::test]
async fn client_mistakes_are_4xx_never_500() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let status = admin.get("/api/v1/tenants/a%00b").await.status.as_u16();
    assert!((400..500).contains(&status), "{status}");
    admin
        .post(
            "/api/v1/tenants/default/keys",
            json!({"name": "k", "scopes": {"routes": ["a\u{0000}b"]}}),
        )
        .await
        .assert_problem(422);
    admin
        .post(
            "/api/v1/tenants/default/keys",
            json!({"name": "pay\u{202e}lexe"}),
        )
        .await
        .assert_problem(422);
    admin
        .post(
            "/api/v1/tenants/default/keys",
            json!({"name": "zero\u{200b}width"}),
        )
        .await
        .assert_problem(422);
    for timeout in ["1ns", "999us", "0s"] {
        admin
            .post(
                "/api/v1/tenants/default/routes",
                json!({"name": "t", "path": "/t", "timeout": timeout,
                       "targets": [{"url": "http://10.0.0.1"}]}),
            )
            .await
            .assert_problem(422);
    }
    for header in ["content-length", "Host", "transfer-encoding", "connection"] {
        admin
            .post(
                "/api/v1/tenants/default/providers",
                json!({"name": "h", "kind": "openai", "api_key": "sk-x",
                       "headers": {header: "0"}}),
            )
            .await
            .assert_problem(422);
    }
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/login?next=%2F%09%2Fevil.example", server.base))
        .send()
        .await
        .unwrap();
    let html = response.text().await.unwrap();
    assert!(!html.contains("evil.example"), "{html}");
}

#[tokio::test]
async fn cookie_sessions_cannot_be_used_from_another_origin() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let other_origin = server
        .base
        .rsplit_once(':')
        .map(|(h, _)| format!("{h}:1"))
        .unwrap();
    let (status, _) = admin
        .post_form_with_origin("/api/v1/auth/logout", &other_origin, "same-site")
        .await;
    assert_eq!(status, 403);
    assert_eq!(admin.get("/api/v1/me").await.status, 200, "still signed in");
    let (status, _) = admin
        .post_form_with_origin("/api/v1/auth/logout", &server.base, "same-origin")
        .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn while_postgresql_is_away_the_api_answers_503_quickly() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let database = server.database_name().to_string();
    let mut superuser = server.superuser().await;
    sqlx::query(&format!(
        "ALTER DATABASE {database} ALLOW_CONNECTIONS false"
    ))
    .execute(&mut superuser)
    .await
    .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&database)
        .execute(&mut superuser)
        .await
        .unwrap();
    let started = Instant::now();
    let ready = server.anonymous().get("/readyz").await;
    assert_eq!(ready.status, 503);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let tenants = admin.get("/api/v1/tenants").await;
    assert_eq!(tenants.status, 503, "{}", tenants.text);
    assert!(tenants.headers.contains_key("retry-after"));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    sqlx::query(&format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true"))
        .execute(&mut superuser)
        .await
        .unwrap();
    let mut back = false;
    for _ in 0..50 {
        if server.anonymous().get("/readyz").await.status == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the server came back when the database did");
}
