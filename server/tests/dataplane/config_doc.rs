//! Configuration as code: a YAML document applied in one transaction, with a plan, a guard on
//! the version, prune, and an export that applies back as a no-op.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use tollgate_testkit::{
    call, client, create_key, synced, Api, Behaviour, TestProxy, TestServer, Upstream,
};

async fn apply(
    admin: &Api,
    query: &str,
    document: &str,
    if_match: Option<&str>,
) -> tollgate_testkit::Reply {
    let headers: Vec<(&str, &str)> = if_match.map(|v| ("if-match", v)).into_iter().collect();
    admin
        .send_with_headers(
            Method::POST,
            &format!("/api/v1/tenants/default/config:apply{query}"),
            "application/yaml",
            document,
            &headers,
        )
        .await
}

/// Applies a document with the values of the credential references it makes, as
/// `tollgate apply` sends them.
async fn apply_with_values(
    admin: &Api,
    query: &str,
    document: &str,
    values: serde_json::Value,
) -> tollgate_testkit::Reply {
    admin
        .send_with_headers(
            Method::POST,
            &format!("/api/v1/tenants/default/config:apply{query}"),
            "application/json",
            &json!({"document": document, "values": values}).to_string(),
            &[],
        )
        .await
}

fn actions(reply: &tollgate_testkit::Reply) -> Vec<String> {
    reply.body["plan"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", reply.text))
        .iter()
        .map(|s| {
            format!(
                "{} {} {}",
                s["action"].as_str().unwrap(),
                s["kind"].as_str().unwrap(),
                s["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn the_apipark_seed_example_applies_routes_traffic_and_round_trips() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let up = Upstream::start("my-service", Behaviour::Echo).await;
    let document = format!(
        "apiVersion: tollgate.dev/v1
kind: Service
metadata:
  name: my-service
spec:
  targets:
  - url: {}
---
apiVersion: api.apipark.com/v1
kind: Gateway
metadata:
  name: api-park-gateway
spec:
  hosts: [my-gateway.example.com]
  routes:
  - path: /service
    service: my-service
",
        up.url
    );

    // The plan first: nothing is stored.
    let planned = apply(&admin, "?dry_run=true", &document, None).await;
    assert_eq!(planned.status, 200, "{}", planned.text);
    assert_eq!(
        actions(&planned),
        [
            "create Service my-service",
            "create Route api-park-gateway-service"
        ]
    );
    assert_eq!(
        admin.get("/api/v1/tenants/default/services").await.body,
        json!([])
    );

    let applied = apply(&admin, "", &document, None).await;
    assert_eq!(applied.status, 200, "{}", applied.text);
    assert_eq!(applied.body["dry_run"], false);
    let (_, key) = create_key(&admin, json!({"name": "k"})).await;
    let proxy = TestProxy::start(&server).await;
    let (status, _, body) = call(
        client()
            .get(proxy.url("/service/orders"))
            .header("host", "my-gateway.example.com")
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(
        (status, body["upstream"].as_str()),
        (200, Some("my-service"))
    );
    let (status, _, _) = call(client().get(proxy.url("/service/orders")).bearer_auth(&key)).await;
    assert_eq!(status, 404, "another host is not the gateway's");

    // One audit entry for the whole apply.
    let audit = admin.get("/api/v1/tenants/default/audit").await;
    let applies = audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "config.apply")
        .count();
    assert_eq!(applies, 1, "{}", audit.text);

    // Export, and the export applies back as a no-op.
    let exported = admin.get("/api/v1/tenants/default/config:export").await;
    assert_eq!(exported.status, 200);
    assert_eq!(exported.content_type(), "application/yaml");
    let etag = exported.headers["etag"].to_str().unwrap().to_string();
    let again = apply(&admin, "", &exported.text, Some(&etag)).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert!(
        actions(&again).iter().all(|a| a.starts_with("unchanged")),
        "{}",
        again.text
    );

    // A pipeline working from an older version is refused.
    let stale = apply(&admin, "", &exported.text, Some("\"1\"")).await;
    stale.assert_problem(412);
    synced(&server, &proxy).await;
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_mistake_anywhere_leaves_the_tenant_untouched_and_prune_deletes_what_is_not_named() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let up = Upstream::start("up", Behaviour::Echo).await;
    let fewer = format!(
        "apiVersion: tollgate.dev/v1
kind: Service
metadata: {{name: orders}}
spec:
  targets: [{{url: '{url}', subset: v1}}, {{url: '{url}/v2', subset: v2}}]
---
apiVersion: tollgate.dev/v1
kind: Gateway
metadata: {{name: shop}}
spec:
  routes:
  - name: orders
    path: /orders
    destinations: [{{service: orders, subset: v1, weight: 90}}, {{service: orders, subset: v2, weight: 10}}]
",
        url = up.url
    );
    let good = format!(
        "{fewer}  - path: /health\n    targets: [{{url: '{url}'}}]\n    require_key: false\n",
        url = up.url
    );
    let applied = apply(&admin, "", &good, None).await;
    assert_eq!(applied.status, 200, "{}", applied.text);
    let before = admin
        .get("/api/v1/tenants/default/config:export")
        .await
        .text;

    // The last object names a service that does not exist: nothing of it is stored.
    let bad = format!(
        "{good}---
apiVersion: tollgate.dev/v1
kind: Service
metadata: {{name: payments}}
spec:
  targets: [{{url: '{url}'}}]
---
apiVersion: tollgate.dev/v1
kind: Gateway
metadata: {{name: more}}
spec:
  routes:
  - path: /pay
    service: nowhere
",
        url = up.url
    );
    let refused = apply(&admin, "", &bad, None).await;
    refused.assert_problem(422);
    assert!(refused.text.contains("nowhere"), "{}", refused.text);
    assert_eq!(
        admin
            .get("/api/v1/tenants/default/config:export")
            .await
            .text,
        before
    );

    // Unknown fields and kinds are named.
    let typo = good.replace("require_key", "requires_key");
    let refused = apply(&admin, "", &typo, None).await;
    refused.assert_problem(422);
    assert!(
        refused
            .text
            .contains("document 2 (Gateway shop), routes[1]"),
        "{}",
        refused.text
    );
    assert!(refused.text.contains("requires_key"), "{}", refused.text);

    // Prune: a document without the health route deletes it; without prune it stays.
    let kept = apply(&admin, "?dry_run=true", &fewer, None).await;
    assert_eq!(kept.status, 200, "{}", kept.text);
    assert!(
        !actions(&kept).iter().any(|a| a.starts_with("delete")),
        "{}",
        kept.text
    );
    let pruned = apply(&admin, "?prune=true", &fewer, None).await;
    assert_eq!(pruned.status, 200, "{}", pruned.text);
    assert!(
        actions(&pruned).contains(&"delete Route shop-health".to_string()),
        "{}",
        pruned.text
    );
    let routes = admin.get("/api/v1/tenants/default/routes").await;
    assert_eq!(routes.body.as_array().unwrap().len(), 1, "{}", routes.text);
}

#[tokio::test]
async fn two_pipelines_applying_from_one_version_cannot_both_win() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let up = Upstream::start("up", Behaviour::Echo).await;
    let exported = admin.get("/api/v1/tenants/default/config:export").await;
    let etag = exported.headers["etag"].to_str().unwrap().to_string();
    let document = |name: &str| {
        format!(
            "apiVersion: tollgate.dev/v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  targets: [{{url: '{}'}}]\n",
            up.url
        )
    };
    let (a, b) = (document("a"), document("b"));
    let (first, second) = tokio::join!(
        apply(&admin, "", &a, Some(&etag)),
        apply(&admin, "", &b, Some(&etag)),
    );
    let mut statuses = [first.status.as_u16(), second.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412], "{} / {}", first.text, second.text);
    let services = admin.get("/api/v1/tenants/default/services").await;
    assert_eq!(
        services.body.as_array().unwrap().len(),
        1,
        "{}",
        services.text
    );
}

/// Checks each document against the schema with Python's `jsonschema` (Draft 2020-12);
/// returns one verdict per document: "ok" or the first error.
async fn check_with_jsonschema(schema: &str, documents: &str) -> Vec<String> {
    let python = std::env::var("TOLLGATE_TEST_PYTHON")
        .expect("TOLLGATE_TEST_PYTHON is not set: run the tests with ./test.sh");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schema.json"), schema).unwrap();
    let as_json: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(documents)
        .map(|d| serde_json::to_value(serde_yaml::Value::deserialize(d).unwrap()).unwrap())
        .collect();
    std::fs::write(
        dir.path().join("documents.json"),
        serde_json::to_string(&as_json).unwrap(),
    )
    .unwrap();
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        jsonschema.Draft202012Validator.check_schema(schema)\n\
        validator = jsonschema.Draft202012Validator(schema)\n\
        for doc in json.load(open(sys.argv[2])):\n    \
            errors = list(validator.iter_errors(doc))\n    \
            print('ok' if not errors else 'error')\n    \
            for e in errors: print(doc['kind'], list(e.absolute_path), e.message, file=sys.stderr)\n";
    let output = tokio::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(dir.path().join("schema.json"))
        .arg(dir.path().join("documents.json"))
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Why documents were refused, shown when a test fails.
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn the_published_schema_accepts_documents_and_catches_typos() {
    let server = TestServer::start().await;
    let schema = client()
        .get(format!("{}/api/v1/config/schema.json", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(schema.status(), 200);
    let schema = schema.text().await.unwrap();
    let good = "apiVersion: tollgate.dev/v1
kind: Service
metadata: {name: orders}
spec:
  targets: [{url: 'http://10.0.0.5:8080', subset: v1}]
  health_check: {path: /healthz, interval: 5s}
---
apiVersion: tollgate.dev/v1
kind: Gateway
metadata: {name: shop}
spec:
  hosts: [api.example.com]
  routes:
  - {name: orders, path: /orders, destinations: [{service: orders, subset: v1, weight: 90}], timeout: 10s}
---
apiVersion: api.apipark.com/v1
kind: Gateway
metadata: {name: api-park-gateway}
spec:
  hosts: [my-gateway.example.com]
  routes:
  - {path: /service, service: my-service}
---
apiVersion: tollgate.dev/v1
kind: KeyPolicy
metadata: {name: ci-bot}
spec:
  scopes: {routes: [orders]}
  limits: {requests_per_minute: 60}
  budget: {amount_usd: '5.00', period: month}
---
apiVersion: tollgate.dev/v1
kind: Provider
metadata: {name: openai}
spec: {kind: openai, api_key: '${OPENAI_API_KEY}', timeout: 30s}
---
apiVersion: tollgate.dev/v1
kind: Model
metadata: {name: fast}
spec:
  deployments: [{provider: openai, model: gpt-4o-mini}]
---
apiVersion: tollgate.dev/v1
kind: PromptApi
metadata: {name: summarize}
spec:
  model: fast
  messages: [{role: user, content: 'Summarize {{text}}'}]
  variables: [{name: text, required: true}]
---
apiVersion: tollgate.dev/v1
kind: JwtIssuer
metadata: {name: corp}
spec:
  issuer: https://id.example.com
  audiences: [https://api.example.com]
  jwks_url: https://id.example.com/jwks
  limits: {requests_per_minute: 600}
";
    assert_eq!(
        check_with_jsonschema(&schema, good).await,
        ["ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"]
    );
    let typos = "apiVersion: tollgate.dev/v1
kind: Service
metadata: {name: orders}
spec:
  targetz: []
---
apiVersion: tollgate.dev/v1
kind: Gateway
metadata: {name: shop}
spec:
  routes:
  - {path: /orders, hosts: [a.example.com], service: orders}
---
apiVersion: tollgate.dev/v1
kind: Provider
metadata: {name: openai}
spec: {kind: openia}
---
apiVersion: tollgate.dev/v1
kind: Model
metadata: {name: fast}
spec: {name: fast, deployments: []}
";
    assert_eq!(
        check_with_jsonschema(&schema, typos).await,
        ["error", "error", "error", "error"]
    );
}

/// A small deterministic generator, so a failing document can be made again from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next(items.len() as u64) as usize]
    }
}

/// A random document: providers (credentials by reference or kept), models on them with
/// prices, prompt APIs on the models, services with subsets and sometimes a health check, and a
/// gateway whose routes use inline targets, a service, or a split between subsets.
fn random_document(rng: &mut Rng) -> String {
    let mut out = String::new();
    let providers = rng.next(3);
    for p in 0..providers {
        out.push_str(&format!(
            "apiVersion: tollgate.dev/v1\nkind: Provider\nmetadata: {{name: p{p}}}\nspec:\n  kind: openai_compatible\n  base_url: http://10.2.0.{p}:8000/v1\n"
        ));
        if rng.next(2) == 0 {
            out.push_str(&format!("  api_key: ${{KEY_{}}}\n", rng.next(2)));
        }
        if rng.next(3) == 0 {
            out.push_str("  headers: {x-team: '${file:/run/secrets/team}'}\n");
        }
        if rng.next(2) == 0 {
            out.push_str(&format!("  timeout: {}s\n", 5 + rng.next(100)));
        }
        out.push_str("---\n");
    }
    let models = if providers > 0 { rng.next(3) } else { 0 };
    for m in 0..models {
        out.push_str(&format!(
            "apiVersion: tollgate.dev/v1\nkind: Model\nmetadata: {{name: m{m}}}\nspec:\n  deployments:\n  - {{provider: p{}, model: llama-{m}, weight: {}}}\n",
            rng.next(providers),
            1 + rng.next(5)
        ));
        if providers > 1 && rng.next(2) == 0 {
            out.push_str("  - {provider: p1, model: backup, priority: 1}\n");
        }
        let extra = if rng.next(2) == 0 {
            ", cached_input_per_mtok: '0.01', per_request: '0.001'"
        } else {
            ""
        };
        out.push_str(&format!(
            "  prices: {{input_per_mtok: '0.{}', output_per_mtok: '{}.5'{extra}}}\n---\n",
            1 + rng.next(9),
            rng.next(4)
        ));
    }
    for a in 0..(if models > 0 { rng.next(3) } else { 0 }) {
        let model = rng.next(models);
        let kind = rng.pick(&["string", "enum"]);
        let values = if kind == "enum" {
            ", values: [cats, dogs]"
        } else {
            ""
        };
        out.push_str(&format!(
            "apiVersion: tollgate.dev/v1\nkind: PromptApi\nmetadata: {{name: pa{a}}}\nspec:\n  model: m{model}\n  messages:\n  - {{role: system, content: 'You write about {{{{topic}}}}.'}}\n  variables:\n  - {{name: topic, type: {kind}, required: true{values}}}\n"
        ));
        if rng.next(2) == 0 {
            out.push_str(&format!(
                "  description: About a topic\n  parameters: {{temperature: 0.{}, max_tokens: {}}}\n",
                rng.next(10),
                10 + rng.next(500)
            ));
        }
        out.push_str("---\n");
    }
    let services = 1 + rng.next(3);
    for s in 0..services {
        out.push_str(&format!(
            "apiVersion: tollgate.dev/v1\nkind: Service\nmetadata: {{name: svc{s}}}\nspec:\n  targets:\n"
        ));
        for t in 0..(1 + rng.next(3)) {
            out.push_str(&format!(
                "  - {{url: 'http://10.0.{s}.{t}:8080', weight: {}, subset: v{}}}\n",
                1 + rng.next(20),
                t % 2 + 1
            ));
        }
        if rng.next(2) == 0 {
            out.push_str(&format!(
                "  health_check: {{path: /{}, interval: {}s, unhealthy_threshold: {}}}\n",
                rng.pick(&["healthz", "ready", "ping"]),
                2 + rng.next(20),
                1 + rng.next(5)
            ));
        }
        if rng.next(2) == 0 {
            out.push_str(&format!("  connect_timeout: {}ms\n", 100 + rng.next(5000)));
        }
        out.push_str("---\n");
    }
    out.push_str("apiVersion: tollgate.dev/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n");
    if rng.next(2) == 0 {
        out.push_str("  hosts: [api.example.com, '*.example.org']\n");
    }
    out.push_str("  routes:\n");
    for r in 0..(1 + rng.next(4)) {
        out.push_str(&format!("  - path: /r{r}\n"));
        match rng.next(3) {
            0 => out.push_str(&format!(
                "    targets: [{{url: 'http://10.1.0.{r}:80', weight: {}}}]\n",
                1 + rng.next(9)
            )),
            1 => out.push_str(&format!("    service: svc{}\n", rng.next(services))),
            _ => out.push_str(&format!(
                "    destinations: [{{service: svc0, subset: v1, weight: {}}}, {{service: svc{}, weight: {}}}]\n",
                1 + rng.next(99),
                services - 1,
                1 + rng.next(99)
            )),
        }
        if rng.next(2) == 0 {
            out.push_str(&format!(
                "    methods: [{}]\n    match: {}\n",
                rng.pick(&["GET", "POST", "PUT"]),
                rng.pick(&["prefix", "exact"])
            ));
        }
        if rng.next(2) == 0 {
            out.push_str(&format!(
                "    timeout: {}s\n    retries: {}\n    strip_prefix: true\n",
                1 + rng.next(30),
                rng.next(4)
            ));
        }
        if rng.next(3) == 0 {
            out.push_str("    require_key: false\n    request_headers: {set: {x-team: shop}, remove: [cookie]}\n");
        }
    }
    if rng.next(2) == 0 {
        out.push_str(&format!(
            "---\napiVersion: tollgate.dev/v1\nkind: JwtIssuer\nmetadata: {{name: idp}}\nspec:\n  issuer: https://id.example.com\n  audiences: [https://api.example.com]\n  jwks_url: https://id.example.com/jwks\n  consumer_claim: {}\n  limits: {{requests_per_minute: {}}}\n",
            rng.pick(&["sub", "client_id"]),
            1 + rng.next(500)
        ));
    }
    if rng.next(2) == 0 {
        out.push_str(&format!(
            "---\napiVersion: tollgate.dev/v1\nkind: KeyPolicy\nmetadata: {{name: bot}}\nspec:\n  scopes: {{routes: [r0], models: ['*']}}\n  limits: {{requests_per_minute: {}}}\n",
            1 + rng.next(1000)
        ));
        if rng.next(2) == 0 {
            out.push_str(&format!(
                "  budget: {{amount_usd: '{}.50', period: {}}}\n",
                rng.next(100),
                rng.pick(&["day", "month"])
            ));
        }
    }
    out
}

#[tokio::test]
async fn any_document_applied_then_exported_applies_back_as_a_no_op() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    // Keys are made elsewhere; documents may set the policy of this one.
    create_key(&admin, json!({"name": "bot"})).await;
    for seed in 1..=16u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let document = random_document(&mut rng);
        // Prune: each document replaces the previous one whole.
        let values = json!({"KEY_0": format!("sk-zero-{seed}-0123456789"), "KEY_1": "sk-one-0123456789",
                            "file:/run/secrets/team": "shop"});
        let applied = apply_with_values(&admin, "?prune=true", &document, values).await;
        assert_eq!(
            applied.status, 200,
            "seed {seed}:\n{document}\n{}",
            applied.text
        );
        let exported = admin.get("/api/v1/tenants/default/config:export").await;
        let again = apply(&admin, "?dry_run=true&prune=true", &exported.text, None).await;
        assert_eq!(again.status, 200, "seed {seed}: {}", again.text);
        assert!(
            actions(&again).iter().all(|a| a.starts_with("unchanged")),
            "seed {seed}:\n{document}\nexported:\n{}\nplan: {}",
            exported.text,
            again.text
        );
    }
}

#[tokio::test]
async fn one_apply_may_drop_a_subset_and_move_its_route_off_it() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let document = |subsets: &str, route_subset: &str| {
        format!(
            "apiVersion: tollgate.dev/v1\nkind: Service\nmetadata: {{name: s}}\nspec:\n  targets: [{subsets}]\n---\napiVersion: tollgate.dev/v1\nkind: Gateway\nmetadata: {{name: g}}\nspec:\n  routes:\n  - {{name: r, path: /r, destinations: [{{service: s, subset: {route_subset}}}]}}\n"
        )
    };
    let both = "{url: 'http://10.0.0.1', subset: v1}, {url: 'http://10.0.0.2', subset: v2}";
    let only_v1 = "{url: 'http://10.0.0.1', subset: v1}";
    assert_eq!(
        apply(&admin, "", &document(both, "v2"), None).await.status,
        200
    );
    // Dropping v2 while the route stays on it is refused, and changes nothing...
    let refused = apply(&admin, "", &document(only_v1, "v2"), None).await;
    assert!(
        refused.status == 409 || refused.status == 422,
        "{}",
        refused.text
    );
    // ...but dropping it while moving the route off it, in one document, is fine.
    let moved = apply(&admin, "", &document(only_v1, "v1"), None).await;
    assert_eq!(moved.status, 200, "{}", moved.text);
}

#[tokio::test]
async fn key_policies_set_the_reach_limits_and_budget_of_keys_made_elsewhere() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (id, _) = create_key(&admin, json!({"name": "ci-bot"})).await;
    let policy = "apiVersion: tollgate.dev/v1
kind: KeyPolicy
metadata: {name: ci-bot}
spec:
  scopes: {routes: [orders], models: ['*']}
  limits: {requests_per_minute: 60}
  budget: {amount_usd: '5.00', period: month}
";
    let applied = apply(&admin, "", policy, None).await;
    assert_eq!(applied.status, 200, "{}", applied.text);
    assert_eq!(actions(&applied), ["update KeyPolicy ci-bot"]);
    let key = admin
        .get(&format!("/api/v1/tenants/default/keys/{id}"))
        .await;
    assert_eq!(
        key.body["limits"]["requests_per_minute"], 60,
        "{}",
        key.text
    );
    assert_eq!(key.body["scopes"]["routes"], json!(["orders"]));
    assert_eq!(key.body["budget"]["period"], "month");
    // Applied again, and exported then applied, nothing changes; no secret is ever written.
    assert_eq!(
        actions(&apply(&admin, "", policy, None).await),
        ["unchanged KeyPolicy ci-bot"]
    );
    let exported = admin.get("/api/v1/tenants/default/config:export").await;
    assert!(
        exported.text.contains("kind: KeyPolicy"),
        "{}",
        exported.text
    );
    assert!(!exported.text.contains("tg_"), "{}", exported.text);
    let again = apply(&admin, "?dry_run=true", &exported.text, None).await;
    assert!(
        actions(&again).iter().all(|a| a.starts_with("unchanged")),
        "{}",
        again.text
    );
    // A policy for a key that does not exist is refused: keys are made through the API.
    let missing = apply(&admin, "", &policy.replace("ci-bot", "ghost"), None).await;
    missing.assert_problem(422);
    assert!(
        missing.text.contains("create the key first"),
        "{}",
        missing.text
    );
}

#[tokio::test]
async fn providers_models_and_prompt_apis_apply_with_credentials_given_by_reference() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (mock_url, received) = crate::ai::start_mock(false).await;
    let provider = format!(
        "apiVersion: tollgate.dev/v1
kind: Provider
metadata: {{name: mock}}
spec:
  kind: openai_compatible
  base_url: {mock_url}
  api_key: ${{MOCK_KEY}}
  headers: {{x-org: '${{file:/run/secrets/org}}'}}
  timeout: 30s
"
    );
    let document = format!(
        "{provider}---
apiVersion: tollgate.dev/v1
kind: Model
metadata: {{name: fast}}
spec:
  deployments: [{{provider: mock, model: gpt-4o-mini}}]
  prices: {{input_per_mtok: '1', output_per_mtok: '2'}}
---
apiVersion: tollgate.dev/v1
kind: PromptApi
metadata: {{name: greet}}
spec:
  model: fast
  messages: [{{role: user, content: 'Say hello to {{{{name}}}}'}}]
  variables: [{{name: name, required: true}}]
"
    );
    let values = json!({"MOCK_KEY": crate::ai::PROVIDER_KEY, "file:/run/secrets/org": "org-7"});

    // A key written in the file is refused without being echoed; a reference without its
    // value is refused, saying how to apply.
    let literal = document.replace("${MOCK_KEY}", "sk-live-written-in-git");
    let refused = apply(&admin, "", &literal, None).await;
    refused.assert_problem(422);
    assert!(
        refused.text.contains("document 1 (Provider mock), line 7"),
        "{}",
        refused.text
    );
    assert!(!refused.text.contains("sk-live"), "{}", refused.text);
    let refused = apply(&admin, "", &document, None).await;
    refused.assert_problem(422);
    assert!(
        refused.text.contains("${MOCK_KEY}") && refused.text.contains("tollgate apply"),
        "{}",
        refused.text
    );
    // A model on a provider that exists nowhere names its document.
    let lost = apply_with_values(
        &admin,
        "",
        &document.replace("provider: mock", "provider: nowhere"),
        values.clone(),
    )
    .await;
    lost.assert_problem(422);
    assert!(
        lost.text.contains("document 2 (Model fast)") && lost.text.contains("nowhere"),
        "{}",
        lost.text
    );
    assert_eq!(
        admin.get("/api/v1/tenants/default/providers").await.body,
        json!([])
    );

    let applied = apply_with_values(&admin, "", &document, values.clone()).await;
    assert_eq!(applied.status, 200, "{}", applied.text);
    assert_eq!(
        actions(&applied),
        [
            "create Provider mock",
            "create Model fast",
            "create PromptApi greet"
        ]
    );
    let providers = admin.get("/api/v1/tenants/default/providers").await;
    assert_eq!(
        providers.body[0]["key_hint"], "sk-…6789",
        "{}",
        providers.text
    );
    assert_eq!(providers.body[0]["header_names"], json!(["x-org"]));
    let audit = admin.get("/api/v1/tenants/default/audit").await;
    assert!(
        !audit.text.contains(crate::ai::PROVIDER_KEY) && !audit.text.contains("org-7"),
        "{}",
        audit.text
    );

    // The proxy calls the provider with the key the reference gave (the mock refuses others),
    // both as a model and through the prompt API.
    let (_, key) = create_key(&admin, json!({"name": "k"})).await;
    let proxy = TestProxy::start(&server).await;
    let (status, _, body) = call(proxy.chat(&key, "fast")).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = call(
        client()
            .post(proxy.url("/prompts/greet"))
            .bearer_auth(&key)
            .json(&json!({"name": "Ann"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output"], "Hello");
    let sent = received.lock().unwrap().last().cloned().unwrap();
    assert_eq!(sent["messages"][0]["content"], "Say hello to Ann");

    // The export never holds credentials, and applies back (without any values) as a no-op.
    let exported = admin.get("/api/v1/tenants/default/config:export").await;
    assert!(
        exported.text.contains("kind: Provider")
            && exported.text.contains("kind: PromptApi")
            && !exported.text.contains(crate::ai::PROVIDER_KEY)
            && !exported.text.contains("org-7"),
        "{}",
        exported.text
    );
    assert!(
        exported
            .text
            .contains("# api_key (sk-…6789) and headers x-org not exported"),
        "{}",
        exported.text
    );
    let again = apply(&admin, "?prune=true", &exported.text, None).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert!(
        actions(&again).iter().all(|a| a.starts_with("unchanged")),
        "{}",
        again.text
    );

    // A rotated key is an update of api_key alone; the plan never shows values.
    let rotated = json!({"MOCK_KEY": "sk-rotated-key-000000", "file:/run/secrets/org": "org-7"});
    let planned = apply_with_values(&admin, "?dry_run=true", &document, rotated).await;
    assert_eq!(planned.status, 200, "{}", planned.text);
    assert_eq!(
        planned.body["plan"][0],
        json!({"kind": "Provider", "name": "mock", "action": "update", "fields": ["api_key"]})
    );
    assert!(!planned.text.contains("rotated"), "{}", planned.text);

    // A prompt API edit is a new version; prune removes what the document no longer names,
    // dependants first.
    let edited = document.replace("Say hello to", "Greet");
    let applied = apply_with_values(&admin, "", &edited, values.clone()).await;
    assert_eq!(
        actions(&applied)[2],
        "update PromptApi greet",
        "{}",
        applied.text
    );
    let apis = admin.get("/api/v1/tenants/default/prompt-apis").await;
    assert_eq!(apis.body[0]["version"], 2, "{}", apis.text);
    let pruned = apply_with_values(&admin, "?prune=true", &provider, values).await;
    assert_eq!(pruned.status, 200, "{}", pruned.text);
    assert_eq!(
        actions(&pruned),
        [
            "unchanged Provider mock",
            "delete PromptApi greet",
            "delete Model fast"
        ]
    );
    synced(&server, &proxy).await;
    let (status, _, _) = call(proxy.chat(&key, "fast")).await;
    assert_eq!(status, 404, "a pruned model is gone from the proxy");
    proxy.shutdown().await;
}
