//! The order in which a request tries its candidates — a route's targets or a model's
//! deployments: priority groups in turn, within a group by weight, those in rotation before
//! ejected ones, each at most once. REST forwarding and AI fallbacks both use it, so retries
//! and fallbacks follow one rule and feed the same passive health.

use crate::health::TargetHealth;

/// Something a request can be sent to.
pub(crate) trait Candidate {
    /// Relative share of the traffic; 0 takes it out of rotation.
    fn weight(&self) -> u32;
    fn health(&self) -> &TargetHealth;
    /// False while active health checks keep it out of rotation: it gets no traffic at all.
    fn in_service(&self) -> bool {
        true
    }
}

/// Picks one of `weights` (index, weight) at random in proportion to its weight; `None` when
/// every weight is 0.
pub(crate) fn pick_weighted(weights: impl Iterator<Item = (usize, u32)> + Clone) -> Option<usize> {
    let total: u64 = weights.clone().map(|(_, w)| u64::from(w)).sum();
    if total == 0 {
        return None;
    }
    let mut pick = fastrand::u64(0..total);
    for (index, weight) in weights {
        let weight = u64::from(weight);
        if pick < weight {
            return Some(index);
        }
        pick -= weight;
    }
    None
}

/// The candidates still to try for one request: `groups` in order (a route's targets are one
/// group; a model's deployments a group per priority).
pub(crate) struct Attempts<'a, G, C> {
    groups: &'a [G],
    candidate: std::marker::PhantomData<&'a C>,
    group: usize,
    tried: Tried,
    left: u32,
    made: u32,
}

impl<'a, G, C> Attempts<'a, G, C>
where
    G: AsRef<[C]>,
    C: Candidate + 'a,
{
    /// At most `max` attempts over `groups`, the first group first.
    pub(crate) fn new(groups: &'a [G], max: u32) -> Self {
        Self {
            groups,
            candidate: std::marker::PhantomData,
            group: 0,
            tried: Tried::default(),
            left: max,
            made: 0,
        }
    }

    /// Attempts made so far.
    pub(crate) fn made(&self) -> u32 {
        self.made
    }

    /// The next candidate, or `None` when the attempts are spent or nothing is left to try.
    pub(crate) fn next_candidate(&mut self) -> Option<&'a C> {
        if self.left == 0 {
            return None;
        }
        while let Some(group) = self.groups.get(self.group).map(AsRef::as_ref) {
            let untried = |healthy_only: bool| {
                let tried = &self.tried;
                group.iter().enumerate().filter(move |(i, c)| {
                    c.weight() > 0
                        && c.in_service()
                        && !tried.contains(*i)
                        && (!healthy_only || !c.health().is_ejected())
                })
            };
            let chosen = pick_weighted(untried(true).map(|(i, c)| (i, c.weight())))
                .or_else(|| pick_weighted(untried(false).map(|(i, c)| (i, c.weight()))));
            match chosen {
                Some(index) => {
                    self.tried.insert(index);
                    self.left -= 1;
                    self.made += 1;
                    return group.get(index);
                }
                None => {
                    self.group += 1;
                    self.tried.clear();
                }
            }
        }
        None
    }
}

/// The candidates of the current group already tried: a bit each for the first 64 (no
/// allocation per request), a list for any after.
#[derive(Default)]
struct Tried {
    first: u64,
    more: Vec<usize>,
}

impl Tried {
    fn contains(&self, index: usize) -> bool {
        if index < 64 {
            self.first & (1 << index) != 0
        } else {
            self.more.contains(&index)
        }
    }

    fn insert(&mut self, index: usize) {
        if index < 64 {
            self.first |= 1 << index;
        } else {
            self.more.push(index);
        }
    }

    fn clear(&mut self) {
        self.first = 0;
        self.more.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        weight: u32,
        health: TargetHealth,
    }

    impl Candidate for Fake {
        fn weight(&self) -> u32 {
            self.weight
        }
        fn health(&self) -> &TargetHealth {
            &self.health
        }
    }

    fn fake(weight: u32) -> Fake {
        Fake {
            weight,
            health: TargetHealth::default(),
        }
    }

    fn position<T>(all: &[T], one: &T) -> usize {
        all.iter()
            .position(|c| std::ptr::eq(c, one))
            .unwrap_or(usize::MAX)
    }

    #[test]
    fn traffic_splits_by_weight() {
        let targets = [fake(900), fake(100), fake(0)];
        let mut firsts = [0u32; 3];
        for _ in 0..20_000 {
            let mut attempts = Attempts::new(std::slice::from_ref(&targets), 1);
            if let Some(first) = attempts.next_candidate() {
                firsts[position(&targets, first)] += 1;
            }
        }
        // 18,000 expected; four standard deviations (~170) either way.
        assert!((17_300..=18_700).contains(&firsts[0]), "{firsts:?}");
        assert_eq!(firsts[2], 0, "a weight of 0 is never chosen");
    }

    #[test]
    fn each_candidate_is_tried_once_and_groups_in_order() {
        let groups = [vec![fake(1), fake(1)], vec![fake(5)]];
        let mut attempts = Attempts::new(&groups, 10);
        let mut seen = Vec::new();
        while let Some(next) = attempts.next_candidate() {
            seen.push(next as *const Fake);
        }
        assert_eq!(seen.len(), 3);
        assert_eq!(
            seen[2], &groups[1][0] as *const Fake,
            "the fallback comes last"
        );
        assert_eq!(attempts.made(), 3);
    }

    #[test]
    fn past_sixty_four_candidates_each_is_still_tried_once() {
        let targets: Vec<Fake> = (0..70).map(|_| fake(1)).collect();
        let mut attempts = Attempts::new(std::slice::from_ref(&targets), 100);
        let mut seen: Vec<usize> = std::iter::from_fn(|| attempts.next_candidate())
            .map(|c| position(&targets, c))
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, Vec::from_iter(0..70));
    }

    #[test]
    fn ejected_candidates_come_after_healthy_ones_and_attempts_are_capped() {
        let targets = [fake(1000), fake(1)];
        for _ in 0..3 {
            targets[0].health.failed();
        }
        let mut attempts = Attempts::new(std::slice::from_ref(&targets), 1);
        let first = attempts.next_candidate().map(|c| position(&targets, c));
        assert_eq!(first, Some(1));
        assert!(attempts.next_candidate().is_none(), "one attempt only");
    }
}
