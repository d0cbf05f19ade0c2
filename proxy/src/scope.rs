//! What a key may use of one kind: routes, models, prompt APIs or MCP servers.

use rustc_hash::FxHashSet;

/// The names a key may use of one kind; `*` means all of its tenant's, and no names none.
/// Looked up per request, so hashed with FxHash: the names come from the snapshot, so callers
/// cannot make them collide.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    /// It held `*`.
    all: bool,
    names: FxHashSet<String>,
}

impl Scope {
    /// Whether it holds `*` or names `name`.
    pub(crate) fn allows(&self, name: &str) -> bool {
        self.all || self.names.contains(name)
    }

    /// Whether it holds `*`.
    pub(crate) fn allows_all(&self) -> bool {
        self.all
    }

    /// It allows nothing.
    pub(crate) fn is_empty(&self) -> bool {
        !self.all && self.names.is_empty()
    }

    /// The names it holds, `*` aside.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}

impl FromIterator<String> for Scope {
    fn from_iter<I: IntoIterator<Item = String>>(names: I) -> Self {
        let mut scope = Self::default();
        for name in names {
            if name == "*" {
                scope.all = true;
            } else {
                scope.names.insert(name);
            }
        }
        scope
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(names: &[&str]) -> Scope {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_scope_allows_what_it_names_or_everything_with_a_star() {
        let named = scope(&["orders", "users"]);
        assert!(named.allows("orders") && named.allows("users"));
        assert!(!named.allows("billing") && !named.allows("*") && !named.allows_all());
        let all = scope(&["*"]);
        assert!(all.allows("billing") && all.allows_all() && !all.is_empty());
        assert_eq!(all.names().count(), 0);
        let none = scope(&[]);
        assert!(none.is_empty() && !none.allows("orders") && !none.allows(""));
    }
}
