//! Finds the route for a request: first the tenant whose namespace owns the request's host and
//! path, then among that tenant's routes only: host first, then the most specific path, then
//! method. No tenant's route can answer a request in another tenant's namespace.

use std::borrow::Cow;
use std::sync::Arc;

use http::Method;
use rustc_hash::FxHashMap;
use tollgate_protocol::{NamespaceEntry, Namespaces};
use uuid::Uuid;

use crate::route::CompiledRoute;

/// Every tenant's routes behind the namespaces that say whose routes may answer.
#[derive(Default)]
pub(crate) struct RouteTable {
    namespaces: Namespaces,
    by_tenant: FxHashMap<Uuid, TenantRoutes>,
    len: usize,
}

/// One tenant's routes grouped by how they match hosts, each group ordered most specific first.
#[derive(Default)]
struct TenantRoutes {
    exact_hosts: FxHashMap<String, Vec<Arc<CompiledRoute>>>,
    /// `(".example.com", routes)` for `*.example.com`, longest suffix first.
    wildcard_hosts: Vec<(String, Vec<Arc<CompiledRoute>>)>,
    any_host: Vec<Arc<CompiledRoute>>,
}

/// The outcome of matching a request.
pub(crate) enum RouteMatch<'a> {
    Found(&'a Arc<CompiledRoute>),
    /// A route matches the host and path, but not the method.
    WrongMethod,
    NotFound,
}

impl RouteTable {
    pub(crate) fn new(routes: Vec<Arc<CompiledRoute>>, namespaces: &[NamespaceEntry]) -> Self {
        let len = routes.len();
        let mut grouped: FxHashMap<Uuid, Vec<Arc<CompiledRoute>>> = FxHashMap::default();
        for route in routes {
            grouped.entry(route.tenant_id).or_default().push(route);
        }
        Self {
            namespaces: Namespaces::new(namespaces),
            by_tenant: grouped
                .into_iter()
                .map(|(tenant, routes)| (tenant, TenantRoutes::new(routes)))
                .collect(),
            len,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Matches `host` (lower-case, without port), a normalised `path` and `method` among the
    /// routes of the tenant that owns the host and path.
    pub(crate) fn find(&self, host: &str, path: &str, method: &Method) -> RouteMatch<'_> {
        let Some(owner) = self.namespaces.owner(host, path) else {
            return RouteMatch::NotFound;
        };
        match self.by_tenant.get(&owner) {
            Some(routes) => routes.find(host, path, method),
            None => RouteMatch::NotFound,
        }
    }
}

impl TenantRoutes {
    fn new(routes: Vec<Arc<CompiledRoute>>) -> Self {
        let mut table = Self::default();
        let mut wildcards: FxHashMap<String, Vec<Arc<CompiledRoute>>> = FxHashMap::default();
        for route in routes {
            if route.hosts.is_empty() {
                table.any_host.push(route.clone());
            }
            for host in &route.hosts {
                match host.strip_prefix('*') {
                    Some(suffix) => wildcards
                        .entry(suffix.to_string())
                        .or_default()
                        .push(route.clone()),
                    None => table
                        .exact_hosts
                        .entry(host.clone())
                        .or_default()
                        .push(route.clone()),
                }
            }
        }
        table.wildcard_hosts = wildcards.into_iter().collect();
        table
            .wildcard_hosts
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        for group in table
            .exact_hosts
            .values_mut()
            .chain(table.wildcard_hosts.iter_mut().map(|(_, g)| g))
            .chain(std::iter::once(&mut table.any_host))
        {
            group.sort_by_key(|route| std::cmp::Reverse(specificity(route)));
        }
        table
    }

    fn find(&self, host: &str, path: &str, method: &Method) -> RouteMatch<'_> {
        let mut wrong_method = false;
        let exact = self.exact_hosts.get(host).into_iter();
        let wildcard = self
            .wildcard_hosts
            .iter()
            .filter(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
            .map(|(_, group)| group);
        for group in exact.chain(wildcard).chain(std::iter::once(&self.any_host)) {
            for route in group {
                if !path_matches(route, path) {
                    continue;
                }
                if takes(route, method) {
                    return RouteMatch::Found(route);
                }
                wrong_method = true;
            }
        }
        if wrong_method {
            RouteMatch::WrongMethod
        } else {
            RouteMatch::NotFound
        }
    }
}

/// Whether the route takes the method: the methods it lists, or any when it lists none, except
/// TRACE and CONNECT, which reach an upstream only on a route that lists them.
fn takes(route: &CompiledRoute, method: &Method) -> bool {
    if route.methods.is_empty() {
        !matches!(*method, Method::TRACE | Method::CONNECT)
    } else {
        route.methods.contains(method)
    }
}

/// Longer paths first; at equal length exact before prefix; routes naming methods before
/// routes taking any.
fn specificity(route: &CompiledRoute) -> (usize, bool, bool) {
    (route.path.len(), route.exact, !route.methods.is_empty())
}

fn path_matches(route: &CompiledRoute, path: &str) -> bool {
    if route.exact {
        return path == route.path;
    }
    tollgate_protocol::namespace::prefix_covers(&route.path, path)
}

/// The request's host: lower-case, port removed.
pub(crate) fn normalise_host(host: &str) -> Cow<'_, str> {
    let host = match host.strip_prefix('[') {
        // IPv6 literal: up to its closing bracket, the port dropped.
        Some(_) => host.split_inclusive(']').next().unwrap_or(host),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    // "api.example.com." is the same host as "api.example.com".
    let host = host.trim_end_matches('.');
    if host.starts_with('[') && !host.ends_with(']') {
        return Cow::Owned(format!("{}]", host.to_ascii_lowercase()));
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn route(
        name: &str,
        hosts: &[&str],
        path: &str,
        exact: bool,
        methods: &[&str],
    ) -> Arc<CompiledRoute> {
        Arc::new(CompiledRoute {
            id: uuid::Uuid::nil(),
            tenant_id: uuid::Uuid::nil(),
            label: name.into(),
            name: name.into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            path: path.into(),
            exact,
            methods: methods
                .iter()
                .map(|m| Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET))
                .collect(),
            strip_prefix: false,
            targets: vec![],
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            retries: 0,
            retry_on: vec![],
            retry_non_idempotent: false,
            require_key: false,
            set_headers: vec![],
            remove_headers: vec![],
            forward_key: false,
            body_idle_timeout: Duration::from_secs(1),
            series: crate::metrics::Metrics::new()
                .unwrap_or_else(|e| panic!("{e}"))
                .route_series(name),
            tools: Vec::new(),
        })
    }

    /// The nil tenant owns the whole request space.
    fn everything() -> Vec<NamespaceEntry> {
        vec![NamespaceEntry {
            tenant_id: Uuid::nil(),
            host: String::new(),
            path_prefix: "/".into(),
        }]
    }

    fn found(table: &RouteTable, host: &str, path: &str, method: Method) -> Option<String> {
        match table.find(host, path, &method) {
            RouteMatch::Found(route) => Some(route.name.clone()),
            RouteMatch::WrongMethod => Some("405".into()),
            RouteMatch::NotFound => None,
        }
    }

    #[test]
    fn host_then_most_specific_path_then_method() {
        let table = RouteTable::new(
            vec![
                route("root", &[], "/", false, &[]),
                route("orders", &[], "/orders", false, &[]),
                route("orders-post", &[], "/orders", false, &["POST"]),
                route("order-42", &[], "/orders/42", true, &[]),
                route("api-host", &["api.example.com"], "/orders", false, &[]),
                route("wild", &["*.example.com"], "/", false, &[]),
                route("deep-wild", &["*.eu.example.com"], "/", false, &[]),
                route("get-only", &["get.test"], "/g", false, &["GET"]),
            ],
            &everything(),
        );
        let cases = [
            ("other", "/orders/1", Method::GET, "orders"),
            ("other", "/orders/1", Method::POST, "orders-post"),
            ("other", "/orders/42", Method::GET, "order-42"),
            ("other", "/orders/42/x", Method::GET, "orders"),
            ("other", "/ordersx", Method::GET, "root"),
            ("api.example.com", "/orders", Method::GET, "api-host"),
            ("api.example.com", "/x", Method::GET, "wild"),
            ("a.eu.example.com", "/x", Method::GET, "deep-wild"),
            ("example.com", "/x", Method::GET, "root"),
            ("get.test", "/g", Method::GET, "get-only"),
            // The host's own route refuses the method; the catch-all still serves the path.
            ("get.test", "/g", Method::DELETE, "root"),
        ];
        for (host, path, method, expected) in cases {
            assert_eq!(
                found(&table, host, path, method.clone()).as_deref(),
                Some(expected),
                "{method} {host}{path}"
            );
        }
    }

    #[test]
    fn wrong_method_and_no_route_are_told_apart() {
        let table = RouteTable::new(
            vec![route("get-only", &[], "/g", false, &["GET"])],
            &everything(),
        );
        assert_eq!(
            found(&table, "h", "/g", Method::POST).as_deref(),
            Some("405")
        );
        assert_eq!(found(&table, "h", "/other", Method::GET), None);
    }

    #[test]
    fn trace_and_connect_need_a_route_that_lists_them() {
        let table = RouteTable::new(
            vec![
                route("any", &[], "/a", false, &[]),
                route("trace", &[], "/t", false, &["TRACE"]),
            ],
            &everything(),
        );
        assert_eq!(
            found(&table, "h", "/a", Method::TRACE).as_deref(),
            Some("405")
        );
        assert_eq!(
            found(&table, "h", "/a", Method::CONNECT).as_deref(),
            Some("405")
        );
        assert_eq!(
            found(&table, "h", "/t", Method::TRACE).as_deref(),
            Some("trace")
        );
    }

    #[test]
    fn a_tenant_route_never_answers_in_another_tenants_namespace() {
        let tenant_a = Uuid::from_u128(1);
        let tenant_b = Uuid::from_u128(2);
        let mut orders = route("orders", &[], "/aorders", false, &[]);
        let mut squat = route("squat", &[], "/aorders/v2", false, &[]);
        let mut host_squat = route("host-squat", &["api.a.com"], "/aorders", false, &[]);
        for (route, tenant) in [
            (&mut orders, tenant_a),
            (&mut squat, tenant_b),
            (&mut host_squat, tenant_b),
        ] {
            if let Some(route) = Arc::get_mut(route) {
                route.tenant_id = tenant;
            }
        }
        let namespaces = vec![
            NamespaceEntry {
                tenant_id: tenant_a,
                host: String::new(),
                path_prefix: "/".into(),
            },
            NamespaceEntry {
                tenant_id: tenant_b,
                host: "b.example".into(),
                path_prefix: "/".into(),
            },
        ];
        let table = RouteTable::new(vec![orders, squat, host_squat], &namespaces);
        assert_eq!(
            found(&table, "x", "/aorders/v2", Method::GET).as_deref(),
            Some("orders")
        );
        assert_eq!(
            found(&table, "api.a.com", "/aorders", Method::GET).as_deref(),
            Some("orders")
        );
        // Tenant B's routes answer only on tenant B's own host.
        assert_eq!(
            found(&table, "b.example", "/aorders/v2", Method::GET).as_deref(),
            Some("squat")
        );
        assert_eq!(found(&table, "b.example", "/other", Method::GET), None);
    }

    #[test]
    fn hosts_lose_their_port_and_case() {
        assert_eq!(normalise_host("API.Example.com:8080"), "api.example.com");
        assert_eq!(normalise_host("api.example.com.:80"), "api.example.com");
        assert_eq!(normalise_host("[::1]:8000"), "[::1]");
        assert_eq!(normalise_host("[::1"), "[::1]");
        assert_eq!(normalise_host("[FE80::1]"), "[fe80::1]");
        assert_eq!(normalise_host("api.example.com"), "api.example.com");
        assert!(matches!(
            normalise_host("api.example.com:443"),
            Cow::Borrowed(_)
        ));
    }
}
