//! Entries a tenant names (models, prompt APIs, MCP servers), found by tenant and name.

use rustc_hash::FxHashMap;
use uuid::Uuid;

/// A map per tenant, so a lookup by a request's name builds no key. FxHash, not SipHash: only
/// the snapshot inserts, so a client cannot crowd a bucket, and each AI request looks names
/// up more than once.
#[derive(Debug)]
pub(crate) struct ByTenant<V>(FxHashMap<Uuid, FxHashMap<String, V>>);

impl<V> ByTenant<V> {
    pub(crate) fn get(&self, tenant: Uuid, name: &str) -> Option<&V> {
        self.0.get(&tenant)?.get(name)
    }

    pub(crate) fn contains(&self, tenant: Uuid, name: &str) -> bool {
        self.get(tenant, name).is_some()
    }

    /// The tenant's entries with their names, in no particular order.
    pub(crate) fn of(&self, tenant: Uuid) -> impl Iterator<Item = (&str, &V)> {
        self.0
            .get(&tenant)
            .into_iter()
            .flat_map(|named| named.iter().map(|(name, value)| (name.as_str(), value)))
    }
}

impl<V> Default for ByTenant<V> {
    fn default() -> Self {
        Self(FxHashMap::default())
    }
}

/// A later entry with the same tenant and name replaces an earlier one.
impl<V> FromIterator<((Uuid, String), V)> for ByTenant<V> {
    fn from_iter<I: IntoIterator<Item = ((Uuid, String), V)>>(entries: I) -> Self {
        let mut map = Self::default();
        for ((tenant, name), value) in entries {
            map.0.entry(tenant).or_default().insert(name, value);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_only_under_their_own_tenant() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let map: ByTenant<u32> = [
            ((a, "gpt".to_string()), 1),
            ((a, "claude".to_string()), 2),
            ((b, "gpt".to_string()), 3),
            ((a, "gpt".to_string()), 4),
        ]
        .into_iter()
        .collect();
        assert_eq!(map.get(a, "gpt"), Some(&4), "the later entry wins");
        assert_eq!(map.get(b, "gpt"), Some(&3));
        assert!(map.contains(a, "claude"));
        assert!(!map.contains(b, "claude"));
        assert!(!map.contains(Uuid::from_u128(3), "gpt"));
        let mut names: Vec<(&str, u32)> = map.of(a).map(|(n, v)| (n, *v)).collect();
        names.sort_unstable();
        assert_eq!(names, [("claude", 2), ("gpt", 4)]);
        assert_eq!(map.of(Uuid::from_u128(3)).count(), 0);
    }
}
