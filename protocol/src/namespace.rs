//! Tenant namespaces: which tenant owns which part of the request space (host, path prefix).
//!
//! The server uses this to refuse routes outside their tenant's namespace, and the proxy to
//! pick the one tenant whose routes may answer a request, so no tenant's route can capture
//! another tenant's traffic. Both sides decide with this one function.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One part of the request space given to a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NamespaceEntry {
    /// The tenant that owns this part.
    pub tenant_id: Uuid,
    /// An exact host, a wildcard like `*.example.com`, or empty for any host; lower-case.
    pub host: String,
    /// A path prefix starting with `/` (without a trailing `/`, except `/` itself).
    pub path_prefix: String,
}

/// The namespaces of every tenant, ready to answer "who owns this request?".
///
/// Precedence mirrors route matching: an exact host's parts first, then wildcard hosts (longest
/// suffix first), then the parts for any host; within each, the longest path prefix that covers
/// the path wins. A more specific part therefore carves itself out of a broader one.
#[derive(Debug, Default, Clone)]
pub struct Namespaces {
    exact: HashMap<String, Vec<(String, Uuid)>>,
    /// `(".example.com", parts)` for `*.example.com`, longest suffix first.
    wildcard: Vec<(String, Vec<(String, Uuid)>)>,
    any: Vec<(String, Uuid)>,
}

impl Namespaces {
    /// Indexes the snapshot's namespace parts.
    pub fn new(entries: &[NamespaceEntry]) -> Self {
        let mut namespaces = Self::default();
        let mut wildcard: HashMap<String, Vec<(String, Uuid)>> = HashMap::new();
        for entry in entries {
            let part = (entry.path_prefix.clone(), entry.tenant_id);
            if entry.host.is_empty() {
                namespaces.any.push(part);
            } else if let Some(suffix) = entry.host.strip_prefix('*') {
                wildcard.entry(suffix.to_string()).or_default().push(part);
            } else {
                namespaces
                    .exact
                    .entry(entry.host.clone())
                    .or_default()
                    .push(part);
            }
        }
        namespaces.wildcard = wildcard.into_iter().collect();
        namespaces
            .wildcard
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        for group in namespaces
            .exact
            .values_mut()
            .chain(namespaces.wildcard.iter_mut().map(|(_, g)| g))
            .chain(std::iter::once(&mut namespaces.any))
        {
            group.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        }
        namespaces
    }

    /// No tenant owns any part of the request space.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty() && self.any.is_empty()
    }

    /// The tenant that owns requests for `host` (lower-case, no port) and `path`.
    pub fn owner(&self, host: &str, path: &str) -> Option<Uuid> {
        let exact = self.exact.get(host).into_iter();
        let wildcard = self
            .wildcard
            .iter()
            .filter(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
            .map(|(_, group)| group);
        owner_in(exact.chain(wildcard), &self.any, path)
    }

    /// The tenant that owns what a route with this host pattern (exact, `*.suffix`, or empty for
    /// any host) and path would match. An exact host part never covers a wildcard pattern, and
    /// only parts for any host cover a route for any host.
    pub fn owner_of_pattern(&self, host_pattern: &str, path: &str) -> Option<Uuid> {
        if host_pattern.is_empty() {
            return owner_in(std::iter::empty(), &self.any, path);
        }
        match host_pattern.strip_prefix('*') {
            Some(suffix) => {
                let wildcard = self
                    .wildcard
                    .iter()
                    .filter(|(claim, _)| suffix.ends_with(claim.as_str()))
                    .map(|(_, group)| group);
                owner_in(wildcard, &self.any, path)
            }
            None => self.owner(host_pattern, path),
        }
    }
}

impl Namespaces {
    /// The first host pattern of a route (its `hosts`, empty meaning any host, written `""`)
    /// whose requests on `path` `tenant` does not own; `None` when the route lies wholly inside
    /// the tenant's namespace.
    pub fn outside<'h>(&self, tenant: Uuid, hosts: &'h [String], path: &str) -> Option<&'h str> {
        if hosts.is_empty() {
            return (self.owner_of_pattern("", path) != Some(tenant)).then_some("");
        }
        hosts
            .iter()
            .map(String::as_str)
            .find(|host| self.owner_of_pattern(host, path) != Some(tenant))
    }
}

fn owner_in<'a>(
    groups: impl Iterator<Item = &'a Vec<(String, Uuid)>>,
    any: &'a [(String, Uuid)],
    path: &str,
) -> Option<Uuid> {
    groups
        .map(Vec::as_slice)
        .chain(std::iter::once(any))
        .find_map(|group| {
            group
                .iter()
                .find(|(prefix, _)| prefix_covers(prefix, path))
                .map(|(_, tenant)| *tenant)
        })
}

/// Whether `path` is `prefix` or continues it after a `/`.
pub fn prefix_covers(prefix: &str, path: &str) -> bool {
    prefix == "/"
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tenant: u128, host: &str, prefix: &str) -> NamespaceEntry {
        NamespaceEntry {
            tenant_id: Uuid::from_u128(tenant),
            host: host.into(),
            path_prefix: prefix.into(),
        }
    }

    #[test]
    fn the_most_specific_part_owns_a_request() {
        let spaces = Namespaces::new(&[
            entry(1, "", "/"),
            entry(2, "", "/b"),
            entry(3, "api.c.com", "/"),
            entry(4, "*.d.com", "/"),
            entry(5, "*.d.com", "/five"),
        ]);
        let owner = |host: &str, path: &str| spaces.owner(host, path).map(|u| u.as_u128());
        assert_eq!(owner("x", "/orders"), Some(1));
        assert_eq!(owner("x", "/b"), Some(2));
        assert_eq!(owner("x", "/b/1"), Some(2));
        assert_eq!(owner("x", "/bee"), Some(1));
        assert_eq!(owner("api.c.com", "/b"), Some(3));
        assert_eq!(owner("a.d.com", "/x"), Some(4));
        assert_eq!(owner("a.d.com", "/five/x"), Some(5));
        assert_eq!(owner("d.com", "/x"), Some(1));
    }

    #[test]
    fn a_route_pattern_is_owned_only_by_parts_that_cover_all_of_it() {
        let spaces = Namespaces::new(&[entry(1, "", "/"), entry(2, "api.b.com", "/")]);
        let owner =
            |host: &str, path: &str| spaces.owner_of_pattern(host, path).map(|u| u.as_u128());
        // Tenant 2 owns only its host: a route for any host is tenant 1's space.
        assert_eq!(owner("", "/orders"), Some(1));
        assert_eq!(owner("api.b.com", "/orders"), Some(2));
        assert_eq!(owner("*.b.com", "/orders"), Some(1));
        let b = Uuid::from_u128(2);
        assert_eq!(spaces.outside(b, &["api.b.com".into()], "/x"), None);
        assert_eq!(spaces.outside(b, &[], "/x"), Some(""));
        assert_eq!(
            spaces.outside(b, &["api.b.com".into(), "a.com".into()], "/x"),
            Some("a.com")
        );
        let narrow = Namespaces::new(&[entry(2, "api.b.com", "/")]);
        assert_eq!(narrow.owner_of_pattern("", "/"), None);
    }
}
