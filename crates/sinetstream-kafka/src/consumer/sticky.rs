//! The sticky assignors (`sticky`, `cooperative-sticky`).
//!
//! The algorithm follows the Java client's `AbstractStickyAssignor` (without
//! its rack awareness) so that a group led by a Rust member moves partitions
//! the way a Java leader would: few moves mean few lost in-memory states and
//! few repeated records after a rebalance. Everything here is a pure function
//! of what the members reported; the leader calls it with the JoinGroup
//! metadata and the topic metadata it fetched.
//!
//! Members' reports are untrusted input: a partition claimed twice, a claim
//! on a partition that no longer exists or a silly generation must yield a
//! valid assignment, never a panic.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::Hash;

/// One member's subscription as the group leader sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MemberSubscription {
    /// Subscribed topics.
    pub topics: BTreeSet<String>,
    /// Partitions the member says it owns (topic -> partitions), from ConsumerProtocolSubscription v1+.
    pub owned: BTreeMap<String, Vec<i32>>,
    /// The generation those were owned in (v2+), None when unknown (older members).
    pub generation: Option<i32>,
}

/// member id -> topic -> partitions (sorted ascending). Every member gets an entry, possibly empty.
pub(crate) type Plan = BTreeMap<String, BTreeMap<String, Vec<i32>>>;

/// Java's `DEFAULT_GENERATION`: members that report no generation lose every
/// conflict against one that does.
const NO_GENERATION: i32 = -1;

/// Sticky assignment: balanced (member partition counts differ by at most one when all members share
/// one subscription; in the general case no partition can move to a less-loaded eligible member to
/// improve balance) while keeping as many valid owned partitions in place as balance allows.
/// `partitions`: topic -> partition count (topics absent or count <= 0 get no assignment).
///
/// Ownership is decided per partition, as the Java client does since 3.1
/// (KAFKA-13406): the claim with the highest generation wins even when other
/// members report a newer generation, because a member that missed a
/// rebalance still consumes what it owned; two claims at the winning
/// generation cancel out, as neither can be trusted. A winning claim keeps
/// the partition only if the member still subscribes to its topic.
pub(crate) fn assign(
    members: &BTreeMap<String, MemberSubscription>,
    partitions: &BTreeMap<String, i32>,
) -> Plan {
    let ids: Vec<&String> = members.keys().collect();
    let subs: Vec<&MemberSubscription> = members.values().collect();
    let topics = Topics::new(&subs, partitions);
    let n = ids.len();

    // Each member's subscription restricted to topics that have partitions;
    // two members differing only in topics that do not exist can take
    // exactly the same partitions, so they still share the fast path.
    let subscribed: Vec<Vec<usize>> = subs
        .iter()
        .map(|s| {
            s.topics
                .iter()
                .filter_map(|t| topics.index.get(t.as_str()).copied())
                .collect()
        })
        .collect();

    // The partitions each member keeps a claim on, as (topic, partition).
    let claims = resolve_claims(&subs, |topic, partition| topics.locate(topic, partition));
    let mut owned: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (&(t, p), claim) in &claims {
        let Some(m) = claim.owner else {
            continue;
        };
        let still_subscribed = subscribed
            .get(m)
            .is_some_and(|ts| ts.binary_search(&t).is_ok());
        if let (true, Some(list)) = (still_subscribed, owned.get_mut(m)) {
            list.push((t, p));
        }
    }

    let identical = subscribed.windows(2).all(|w| w.first() == w.last());
    let assigned = if identical {
        constrained(&topics, &owned)
    } else {
        general(&topics, &subscribed, &owned)
    };
    topics.to_plan(&ids, &assigned)
}

/// The cooperative step (KIP-429): removes from `plan` every partition that another member still
/// claims, unless its new owner is the claimant [`assign`] honoured (same ownership rules); the
/// claimant must revoke it first, and it is assigned in the follow-up rebalance. Partitions nobody
/// claims stay in the plan.
///
/// This reads "previous owner" more broadly than the winner of the claims,
/// as the Java client does: two members claiming a partition in the same
/// generation, or a winning claimant that no longer subscribes to the topic,
/// may both still be consuming it until they get an assignment without it.
/// A Java leader's `validateCooperativeAssignment` rejects any plan that
/// gives a claimed partition to a member that did not claim it.
pub(crate) fn cooperative(plan: Plan, members: &BTreeMap<String, MemberSubscription>) -> Plan {
    let ids: Vec<&String> = members.keys().collect();
    let subs: Vec<&MemberSubscription> = members.values().collect();
    let claims = resolve_claims(&subs, |topic, partition| Some((topic, partition)));
    plan.into_iter()
        .map(|(member, topics)| {
            let me = ids.binary_search(&&member).ok();
            let topics = topics
                .into_iter()
                .filter_map(|(topic, parts)| {
                    let parts: Vec<i32> = parts
                        .into_iter()
                        .filter(|&p| match claims.get(&(topic.as_str(), p)) {
                            None => true,
                            Some(claim) => claim.owner.is_some() && claim.owner == me,
                        })
                        .collect();
                    (!parts.is_empty()).then_some((topic, parts))
                })
                .collect();
            (member, topics)
        })
        .collect()
}

/// How the claims on one partition came out.
#[derive(Debug, Clone, Copy)]
struct Claim {
    /// The highest generation any claimant reported.
    generation: i32,
    /// The only claimant at that generation; `None` when several tie.
    owner: Option<usize>,
    /// The member whose claim was seen last, so that a member listing a
    /// partition twice does not contest its own claim.
    last: usize,
}

/// Resolves every member's claims; `key` maps a claim to its partition, or
/// to `None` when the partition does not exist. Members are indexed in
/// member id order.
fn resolve_claims<'a, K, F>(subs: &[&'a MemberSubscription], mut key: F) -> HashMap<K, Claim>
where
    K: Hash + Eq,
    F: FnMut(&'a str, i32) -> Option<K>,
{
    let mut claims: HashMap<K, Claim> = HashMap::new();
    for (m, sub) in subs.iter().enumerate() {
        let generation = sub.generation.unwrap_or(NO_GENERATION);
        for (topic, parts) in &sub.owned {
            for &p in parts {
                let Some(k) = key(topic.as_str(), p) else {
                    continue;
                };
                match claims.get_mut(&k) {
                    None => {
                        claims.insert(
                            k,
                            Claim {
                                generation,
                                owner: Some(m),
                                last: m,
                            },
                        );
                    }
                    Some(c) if c.last == m => {}
                    Some(c) => {
                        c.last = m;
                        if generation > c.generation {
                            c.generation = generation;
                            c.owner = Some(m);
                        } else if generation == c.generation {
                            c.owner = None;
                        }
                    }
                }
            }
        }
    }
    claims
}

/// The topics that take part: subscribed by someone, with at least one
/// partition. Partitions get a dense index (topics by name, then partition
/// number), which keeps the bookkeeping in plain vectors.
#[derive(Debug)]
struct Topics<'a> {
    names: Vec<&'a str>,
    counts: Vec<usize>,
    /// Dense index of each topic's partition 0.
    offsets: Vec<usize>,
    index: HashMap<&'a str, usize>,
    total: usize,
}

impl<'a> Topics<'a> {
    fn new(subs: &[&MemberSubscription], partitions: &'a BTreeMap<String, i32>) -> Self {
        let mut topics = Topics {
            names: Vec::new(),
            counts: Vec::new(),
            offsets: Vec::new(),
            index: HashMap::new(),
            total: 0,
        };
        for (name, &count) in partitions {
            let Ok(count) = usize::try_from(count) else {
                continue;
            };
            if count == 0 || !subs.iter().any(|s| s.topics.contains(name)) {
                continue;
            }
            topics.index.insert(name.as_str(), topics.names.len());
            topics.names.push(name.as_str());
            topics.counts.push(count);
            topics.offsets.push(topics.total);
            topics.total = topics.total.saturating_add(count);
        }
        topics
    }

    /// (topic index, partition) of an existing partition.
    fn locate(&self, topic: &str, partition: i32) -> Option<(usize, usize)> {
        let t = *self.index.get(topic)?;
        let p = usize::try_from(partition).ok()?;
        (p < *self.counts.get(t)?).then_some((t, p))
    }

    /// `assigned`: per member (id order), (topic, partition) pairs.
    fn to_plan(&self, ids: &[&String], assigned: &[Vec<(usize, usize)>]) -> Plan {
        let mut plan = Plan::new();
        for (m, id) in ids.iter().enumerate() {
            let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for &(t, p) in assigned.get(m).map(Vec::as_slice).unwrap_or_default() {
                if let (Some(name), Ok(p)) = (self.names.get(t), i32::try_from(p)) {
                    topics.entry((*name).to_owned()).or_default().push(p);
                }
            }
            for parts in topics.values_mut() {
                parts.sort_unstable();
            }
            plan.insert((*id).clone(), topics);
        }
        plan
    }
}

/// The fast path when every member can take every partition: quotas are
/// known up front (each member gets `min` or `max` partitions, exactly
/// `total % n` of them `max`), so owned partitions are kept up to the quota
/// and the rest is dealt round-robin, first to members below `min`.
fn constrained(topics: &Topics<'_>, owned: &[Vec<(usize, usize)>]) -> Vec<Vec<(usize, usize)>> {
    let n = owned.len();
    let mut assigned: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    if n == 0 {
        return assigned;
    }
    let total = topics.total;
    let min = total / n;
    let max = total.div_ceil(n);
    let expected_over = total % n;
    let mut over = 0;
    let mut taken = vec![false; total];
    let mut under: VecDeque<usize> = VecDeque::new();
    let mut exact: VecDeque<usize> = VecDeque::new();

    for (m, mine) in owned.iter().enumerate() {
        let mut mine = mine.clone();
        // Lowest partition numbers first, across topics, as Java does: a
        // member trimmed to its quota keeps a spread over its topics.
        mine.sort_unstable_by_key(|&(t, p)| (p, t));
        let keep = if mine.len() < min {
            under.push_back(m);
            mine.len()
        } else if mine.len() >= max && over < expected_over {
            over += 1;
            if over == expected_over {
                // The `max` slots are all taken; nobody else may grow past `min`.
                exact.clear();
            }
            max
        } else {
            if over < expected_over {
                exact.push_back(m);
            }
            min
        };
        for &(t, p) in mine.iter().take(keep) {
            if let Some(slot) = topics.offsets.get(t).and_then(|o| taken.get_mut(o + p)) {
                *slot = true;
            }
        }
        if let Some(list) = assigned.get_mut(m) {
            list.extend(mine.into_iter().take(keep));
        }
    }

    let mut flat = 0;
    for (t, &count) in topics.counts.iter().enumerate() {
        for p in 0..count {
            let free = !taken.get(flat).copied().unwrap_or(true);
            flat += 1;
            if !free {
                continue;
            }
            let from_under = under.pop_front();
            let m = match from_under.or_else(|| exact.pop_front()) {
                Some(m) => m,
                // Unreachable by the quota arithmetic; kept so that a
                // mistake costs balance, not a partition.
                None => least_loaded(&assigned),
            };
            let Some(list) = assigned.get_mut(m) else {
                continue;
            };
            list.push((t, p));
            if from_under.is_some() {
                if list.len() >= min {
                    exact.push_back(m);
                } else {
                    under.push_back(m);
                }
            }
        }
    }
    assigned
}

fn least_loaded(assigned: &[Vec<(usize, usize)>]) -> usize {
    (0..assigned.len())
        .min_by_key(|&m| (assigned.get(m).map_or(0, Vec::len), m))
        .unwrap_or(0)
}

/// One member's partitions of one topic in the general path.
#[derive(Debug, Default)]
struct Holding {
    /// Partitions it owned before and keeps (moved last).
    kept: Vec<usize>,
    /// Partitions it gets in this rebalance (moved first: no state lost).
    new: Vec<usize>,
}

impl Holding {
    fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.new.is_empty()
    }
}

/// The path for differing subscriptions: keep every valid owned partition,
/// give each remaining partition to its least-loaded subscriber, then move
/// partitions from more- to less-loaded subscribers until no single move
/// helps. Each move lowers the sum of squared member loads, so this ends.
fn general(
    topics: &Topics<'_>,
    subscribed: &[Vec<usize>],
    owned: &[Vec<(usize, usize)>],
) -> Vec<Vec<(usize, usize)>> {
    let n = subscribed.len();
    let nt = topics.names.len();
    let mut eligible: Vec<Vec<usize>> = vec![Vec::new(); nt];
    for (m, ts) in subscribed.iter().enumerate() {
        for &t in ts {
            if let Some(e) = eligible.get_mut(t) {
                e.push(m);
            }
        }
    }
    let mut counts = vec![0usize; n];
    let mut holdings: Vec<BTreeMap<usize, Holding>> = (0..nt).map(|_| BTreeMap::new()).collect();
    let mut taken = vec![false; topics.total];
    for (m, mine) in owned.iter().enumerate() {
        for &(t, p) in mine {
            if let Some(h) = holdings.get_mut(t) {
                h.entry(m).or_default().kept.push(p);
                if let Some(c) = counts.get_mut(m) {
                    *c += 1;
                }
                if let Some(slot) = topics.offsets.get(t).and_then(|o| taken.get_mut(o + p)) {
                    *slot = true;
                }
            }
        }
    }

    // Topics with the fewest subscribers first: their partitions have the
    // fewest places to go, the others can fill in around them.
    let mut order: Vec<usize> = (0..nt).collect();
    order.sort_by_key(|&t| (eligible.get(t).map_or(0, Vec::len), t));

    for &t in &order {
        let (Some(e), Some(&count), Some(&offset)) =
            (eligible.get(t), topics.counts.get(t), topics.offsets.get(t))
        else {
            continue;
        };
        for p in 0..count {
            if taken.get(offset + p).copied().unwrap_or(true) {
                continue;
            }
            let Some(m) = least_loaded_of(e, &counts) else {
                break;
            };
            if let (Some(h), Some(c)) = (holdings.get_mut(t), counts.get_mut(m)) {
                h.entry(m).or_default().new.push(p);
                *c += 1;
            }
        }
    }

    while rebalance(&order, &eligible, &mut holdings, &mut counts) {}

    let mut assigned: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (t, hs) in holdings.iter().enumerate() {
        for (&m, h) in hs {
            if let Some(list) = assigned.get_mut(m) {
                list.extend(h.kept.iter().chain(&h.new).map(|&p| (t, p)));
            }
        }
    }
    assigned
}

fn least_loaded_of(members: &[usize], counts: &[usize]) -> Option<usize> {
    members
        .iter()
        .copied()
        .min_by_key(|&m| (counts.get(m).copied().unwrap_or(usize::MAX), m))
}

/// Moves partitions, topic by topic, from the most-loaded holder to the
/// least-loaded subscriber while they differ by more than one; the holder
/// gives up partitions it got in this rebalance before those it already had,
/// since moving those costs nothing. Returns whether anything moved.
fn rebalance(
    order: &[usize],
    eligible: &[Vec<usize>],
    holdings: &mut [BTreeMap<usize, Holding>],
    counts: &mut [usize],
) -> bool {
    let mut moved = false;
    for &t in order {
        let (Some(e), Some(hs)) = (eligible.get(t), holdings.get_mut(t)) else {
            continue;
        };
        while let Some(to) = least_loaded_of(e, counts) {
            // Emptied holdings are removed, so every key holds something.
            let from = hs
                .keys()
                .copied()
                .max_by_key(|&m| (counts.get(m).copied().unwrap_or(0), std::cmp::Reverse(m)));
            let Some(from) = from else {
                break;
            };
            let (Some(&c_from), Some(&c_to)) = (counts.get(from), counts.get(to)) else {
                break;
            };
            if c_from <= c_to + 1 {
                break;
            }
            let Some(h) = hs.get_mut(&from) else {
                break;
            };
            let Some(p) = h.new.pop().or_else(|| h.kept.pop()) else {
                break;
            };
            if h.is_empty() {
                hs.remove(&from);
            }
            hs.entry(to).or_default().new.push(p);
            if let Some(c) = counts.get_mut(from) {
                *c -= 1;
            }
            if let Some(c) = counts.get_mut(to) {
                *c += 1;
            }
            moved = true;
        }
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    fn sub(
        topics: &[&str],
        owned: &[(&str, &[i32])],
        generation: Option<i32>,
    ) -> MemberSubscription {
        let mut o: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (t, ps) in owned {
            o.entry((*t).to_owned()).or_default().extend_from_slice(ps);
        }
        MemberSubscription {
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            owned: o,
            generation,
        }
    }

    fn parts(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
        list.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
    }

    fn members(list: Vec<(&str, MemberSubscription)>) -> BTreeMap<String, MemberSubscription> {
        list.into_iter().map(|(id, s)| (id.to_owned(), s)).collect()
    }

    fn of(plan: &Plan, member: &str, topic: &str) -> Vec<i32> {
        plan.get(member)
            .and_then(|ts| ts.get(topic))
            .cloned()
            .unwrap_or_default()
    }

    fn count(plan: &Plan, member: &str) -> usize {
        plan.get(member)
            .map_or(0, |ts| ts.values().map(Vec::len).sum())
    }

    /// The next round's subscriptions: same topics, owning what `plan` gave.
    fn next_round(
        members: &BTreeMap<String, MemberSubscription>,
        plan: &Plan,
        generation: i32,
    ) -> BTreeMap<String, MemberSubscription> {
        members
            .iter()
            .map(|(id, s)| {
                let owned = plan.get(id).cloned().unwrap_or_default();
                let s = MemberSubscription {
                    topics: s.topics.clone(),
                    owned,
                    generation: Some(generation),
                };
                (id.clone(), s)
            })
            .collect()
    }

    fn set_of(plan: &Plan, member: &str) -> BTreeSet<(String, i32)> {
        plan.get(member)
            .into_iter()
            .flatten()
            .flat_map(|(t, ps)| ps.iter().map(move |&p| (t.clone(), p)))
            .collect()
    }

    /// Validity and balance, as Java's `verifyValidityAndBalance`.
    fn verify(
        members: &BTreeMap<String, MemberSubscription>,
        partitions: &BTreeMap<String, i32>,
        plan: &Plan,
    ) {
        assert_eq!(
            plan.keys().collect::<Vec<_>>(),
            members.keys().collect::<Vec<_>>(),
            "every member gets an entry"
        );
        let mut seen: BTreeMap<(String, i32), String> = BTreeMap::new();
        for (m, ts) in plan {
            let s = &members[m];
            for (t, ps) in ts {
                assert!(!ps.is_empty(), "no empty topic entries");
                assert!(ps.windows(2).all(|w| w[0] < w[1]), "{m} {t} sorted: {ps:?}");
                assert!(s.topics.contains(t), "{m} got {t} without subscribing");
                let n = partitions.get(t).copied().unwrap_or(0);
                for &p in ps {
                    assert!((0..n).contains(&p), "{t}-{p} does not exist");
                    let prev = seen.insert((t.clone(), p), m.clone());
                    assert!(prev.is_none(), "{t}-{p} assigned twice");
                }
            }
        }
        for (t, &n) in partitions {
            if members.values().any(|s| s.topics.contains(t)) {
                for p in 0..n {
                    assert!(seen.contains_key(&(t.clone(), p)), "{t}-{p} unassigned");
                }
            }
        }
        // No partition can move to a less-loaded subscriber and improve balance.
        for (a, ts) in plan {
            for t in ts.keys() {
                for (b, s) in members {
                    if s.topics.contains(t) {
                        assert!(
                            count(plan, a) <= count(plan, b) + 1,
                            "{t} could move from {a} ({}) to {b} ({})",
                            count(plan, a),
                            count(plan, b)
                        );
                    }
                }
            }
        }
        let first = members.values().next().map(|s| &s.topics);
        if members.values().all(|s| Some(&s.topics) == first) {
            let counts: Vec<usize> = members.keys().map(|m| count(plan, m)).collect();
            let (lo, hi) = (counts.iter().min(), counts.iter().max());
            if let (Some(lo), Some(hi)) = (lo, hi) {
                assert!(hi - lo <= 1, "unbalanced: {counts:?}");
            }
        }
    }

    /// Java's `isSticky`: no two partitions of one topic swapped places
    /// between the same two members.
    fn assert_no_swaps(before: &Plan, after: &Plan) {
        let mut moves: BTreeSet<(String, String, String)> = BTreeSet::new();
        for (from, ts) in before {
            for (t, ps) in ts {
                for &p in ps {
                    for (to, ts2) in after {
                        if to != from && ts2.get(t).is_some_and(|v| v.contains(&p)) {
                            moves.insert((t.clone(), from.clone(), to.clone()));
                        }
                    }
                }
            }
        }
        for (t, a, b) in &moves {
            assert!(
                !moves.contains(&(t.clone(), b.clone(), a.clone())),
                "{t} moved both ways between {a} and {b}"
            );
        }
    }

    #[test]
    fn empty_inputs() {
        assert!(assign(&BTreeMap::new(), &parts(&[("t", 3)])).is_empty());
        let ms = members(vec![
            ("a", sub(&["t"], &[], None)),
            ("b", sub(&[], &[], None)),
        ]);
        let plan = assign(&ms, &BTreeMap::new());
        assert_eq!(plan.len(), 2);
        assert!(plan.values().all(BTreeMap::is_empty));
        let plan = assign(&ms, &parts(&[("t", 0), ("u", -3)]));
        assert!(plan.values().all(BTreeMap::is_empty));
        let plan = assign(&ms, &parts(&[("t", 2)]));
        assert_eq!(of(&plan, "a", "t"), vec![0, 1]);
        assert!(plan["b"].is_empty());
    }

    #[test]
    fn one_member_gets_everything() {
        let ms = members(vec![("a", sub(&["t1", "t2"], &[], None))]);
        let ps = parts(&[("t1", 3), ("t2", 2), ("other", 4)]);
        let plan = assign(&ms, &ps);
        verify(&ms, &ps, &plan);
        assert_eq!(of(&plan, "a", "t1"), vec![0, 1, 2]);
        assert_eq!(of(&plan, "a", "t2"), vec![0, 1]);
        assert!(!plan["a"].contains_key("other"));
    }

    #[test]
    fn add_remove_consumer_one_topic() {
        let ps = parts(&[("t", 3)]);
        let ms = members(vec![("c1", sub(&["t"], &[], Some(1)))]);
        let plan = assign(&ms, &ps);
        assert_eq!(of(&plan, "c1", "t"), vec![0, 1, 2]);

        let ms = members(vec![
            ("c1", sub(&["t"], &[("t", &[0, 1, 2])], Some(1))),
            ("c2", sub(&["t"], &[], Some(1))),
        ]);
        let plan = assign(&ms, &ps);
        verify(&ms, &ps, &plan);
        assert_eq!(of(&plan, "c1", "t"), vec![0, 1]);
        assert_eq!(of(&plan, "c2", "t"), vec![2]);

        let ms = members(vec![("c2", sub(&["t"], &[("t", &[2])], Some(2)))]);
        let plan = assign(&ms, &ps);
        assert_eq!(of(&plan, "c2", "t"), vec![0, 1, 2]);
    }

    #[test]
    fn same_subscriptions_then_one_leaves() {
        let mut ps = BTreeMap::new();
        let mut topics = Vec::new();
        for i in 1..15 {
            ps.insert(format!("t{i:02}"), i);
            topics.push(format!("t{i:02}"));
        }
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        let ms: BTreeMap<String, MemberSubscription> = (1..10)
            .map(|i| (format!("c{i}"), sub(&topics, &[], None)))
            .collect();
        let plan = assign(&ms, &ps);
        verify(&ms, &ps, &plan);

        let mut next = next_round(&ms, &plan, 1);
        next.remove("c5");
        let plan2 = assign(&next, &ps);
        verify(&next, &ps, &plan2);
        assert_no_swaps(&plan, &plan2);
        // Survivors had at most the new quota, so they keep everything.
        for m in next.keys() {
            assert!(
                set_of(&plan, m).is_subset(&set_of(&plan2, m)),
                "{m} lost partitions"
            );
        }
    }

    #[test]
    fn reassignment_after_one_consumer_leaves() {
        let mut ps = BTreeMap::new();
        for i in 1..20 {
            ps.insert(format!("t{i:02}"), i);
        }
        let names: Vec<String> = ps.keys().cloned().collect();
        let ms: BTreeMap<String, MemberSubscription> = (1..20)
            .map(|i| {
                let topics: Vec<&str> = names.iter().take(i).map(String::as_str).collect();
                (format!("c{i:02}"), sub(&topics, &[], None))
            })
            .collect();
        let plan = assign(&ms, &ps);
        verify(&ms, &ps, &plan);

        let mut next = next_round(&ms, &plan, 1);
        next.remove("c10");
        let plan2 = assign(&next, &ps);
        verify(&next, &ps, &plan2);
        assert_no_swaps(&plan, &plan2);
    }

    #[test]
    fn conflicting_claims_in_same_generation() {
        let ps = parts(&[("t", 3)]);
        let ms = members(vec![
            ("c1", sub(&["t"], &[("t", &[0, 1])], Some(5))),
            ("c2", sub(&["t"], &[("t", &[0, 2])], Some(5))),
            ("c3", sub(&["t"], &[], Some(5))),
        ]);
        let plan = assign(&ms, &ps);
        verify(&ms, &ps, &plan);
        assert_eq!(of(&plan, "c1", "t"), vec![1]);
        assert_eq!(of(&plan, "c2", "t"), vec![2]);
        assert_eq!(of(&plan, "c3", "t"), vec![0]);
        // Both claimants may still consume t-0: it waits for the next round.
        let coop = cooperative(plan, &ms);
        assert_eq!(of(&coop, "c1", "t"), vec![1]);
        assert_eq!(of(&coop, "c2", "t"), vec![2]);
        assert!(coop["c3"].is_empty());
    }

    #[test]
    fn a_newer_generation_settles_a_conflict() {
        let ps = parts(&[("t", 2)]);
        let ms = members(vec![
            ("a", sub(&["t"], &[("t", &[0])], Some(4))),
            ("b", sub(&["t"], &[("t", &[0])], Some(4))),
            ("c", sub(&["t"], &[("t", &[0])], Some(5))),
        ]);
        let plan = assign(&ms, &ps);
        verify(&ms, &ps, &plan);
        assert_eq!(of(&plan, "c", "t"), vec![0]);
        assert_eq!(cooperative(plan.clone(), &ms), plan);
    }

    #[test]
    fn stale_generation_claims_are_ignored() {
        let ps = parts(&[("t1", 3), ("t2", 3)]);
        let claim: &[(&str, &[i32])] = &[("t1", &[0, 2]), ("t2", &[1])];
        for stale in [Some(9), None] {
            let ms = members(vec![
                ("c1", sub(&["t1", "t2"], claim, Some(10))),
                ("c2", sub(&["t1", "t2"], claim, stale)),
            ]);
            let plan = assign(&ms, &ps);
            verify(&ms, &ps, &plan);
            assert_eq!(of(&plan, "c1", "t1"), vec![0, 2]);
            assert_eq!(of(&plan, "c1", "t2"), vec![1]);
            assert_eq!(of(&plan, "c2", "t1"), vec![1]);
            assert_eq!(of(&plan, "c2", "t2"), vec![0, 2]);
            assert_eq!(cooperative(plan.clone(), &ms), plan);
        }
    }

    #[test]
    fn uncontested_stale_claims_are_kept() {
        // Java's testEnsurePartitionsAssignedToHighestGeneration.
        let ps = parts(&[("t1", 3), ("t2", 3), ("t3", 3)]);
        let all = ["t1", "t2", "t3"];
        let ms = members(vec![
            (
                "c1",
                sub(&all, &[("t1", &[0]), ("t2", &[0]), ("t3", &[0])], Some(10)),
            ),
            (
                "c2",
                sub(&all, &[("t1", &[1]), ("t2", &[1]), ("t3", &[1])], Some(9)),
            ),
            ("c3", sub(&all, &[("t2", &[1]), ("t3", &[0, 2])], Some(8))),
        ]);
        let plan = assign(&ms, &ps);
        verify(&ms, &ps, &plan);
        for (m, p) in [("c1", 0), ("c2", 1), ("c3", 2)] {
            for t in all {
                assert_eq!(of(&plan, m, t), vec![p], "{m} {t}");
            }
        }
        assert_eq!(cooperative(plan.clone(), &ms), plan);
    }

    #[test]
    fn invalid_claims_are_ignored() {
        let ps = parts(&[("t", 4), ("u", 2)]);
        let ms = members(vec![
            (
                "a",
                sub(
                    &["t"],
                    &[
                        ("t", &[-1, 7, i32::MIN, i32::MAX]),
                        ("u", &[0]),
                        ("gone", &[0]),
                    ],
                    Some(3),
                ),
            ),
            ("b", sub(&["t", "u"], &[("t", &[0, 1, 2, 3])], Some(3))),
        ]);
        let plan = assign(&ms, &ps);
        verify(&ms, &ps, &plan);
        // b keeps all of t it can; a, unsubscribed from u, drops u-0.
        assert_eq!(count(&plan, "a"), 3);
        assert_eq!(count(&plan, "b"), 3);
        assert!(of(&plan, "b", "u").contains(&0));
        // a still consumes u-0 until told otherwise; b gets it next round.
        let coop = cooperative(plan.clone(), &ms);
        assert!(!of(&coop, "b", "u").contains(&0));
    }

    #[test]
    fn cooperative_two_members_four_partitions() {
        let ps = parts(&[("t", 4)]);
        let ms = members(vec![
            ("a", sub(&["t"], &[("t", &[0, 1, 2, 3])], Some(1))),
            ("b", sub(&["t"], &[], None)),
        ]);
        let plan = assign(&ms, &ps);
        verify(&ms, &ps, &plan);
        assert_eq!(of(&plan, "a", "t"), vec![0, 1]);
        assert_eq!(of(&plan, "b", "t"), vec![2, 3]);
        let coop = cooperative(plan, &ms);
        assert_eq!(of(&coop, "a", "t"), vec![0, 1]);
        assert!(coop["b"].is_empty());

        // a revoked 2 and 3; the follow-up rebalance hands them to b.
        let ms2 = next_round(&ms, &coop, 2);
        let plan2 = assign(&ms2, &ps);
        let coop2 = cooperative(plan2.clone(), &ms2);
        assert_eq!(coop2, plan2);
        assert_eq!(of(&coop2, "a", "t"), vec![0, 1]);
        assert_eq!(of(&coop2, "b", "t"), vec![2, 3]);
    }

    #[test]
    fn cooperative_keeps_unclaimed_and_own_partitions() {
        let ms = members(vec![
            ("a", sub(&["t"], &[("t", &[0])], Some(2))),
            ("b", sub(&["t"], &[], Some(2))),
        ]);
        let plan: Plan = [
            ("a".to_owned(), [("t".to_owned(), vec![0, 1])].into()),
            ("b".to_owned(), [("t".to_owned(), vec![2])].into()),
            ("ghost".to_owned(), [("t".to_owned(), vec![3])].into()),
        ]
        .into();
        assert_eq!(cooperative(plan.clone(), &ms), plan);
        let moved: Plan = [
            ("a".to_owned(), BTreeMap::new()),
            ("b".to_owned(), [("t".to_owned(), vec![0, 1])].into()),
        ]
        .into();
        let coop = cooperative(moved, &ms);
        assert_eq!(of(&coop, "b", "t"), vec![1]);
    }

    #[test]
    fn stable_when_nothing_changes() {
        let ps = parts(&[("t1", 7), ("t2", 5)]);
        let ms = members(vec![
            ("a", sub(&["t1", "t2"], &[], None)),
            ("b", sub(&["t1"], &[], None)),
            ("c", sub(&["t2"], &[], None)),
        ]);
        let plan = assign(&ms, &ps);
        verify(&ms, &ps, &plan);
        let again = next_round(&ms, &plan, 1);
        assert_eq!(assign(&again, &ps), plan);
        assert_eq!(cooperative(plan.clone(), &again), plan);
    }

    #[test]
    fn pathological_input_does_not_panic() {
        let ps = parts(&[("t", 5), ("", 1), ("neg", i32::MIN), ("zero", 0)]);
        let all = ["t", "", "neg", "zero", "missing"];
        let ms = members(vec![
            (
                "",
                sub(&all, &[("t", &[0, 0, 0, 4, 4]), ("", &[0])], Some(i32::MAX)),
            ),
            (
                "x",
                sub(
                    &all,
                    &[("t", &[0, 1, 2, 3, 4]), ("neg", &[0, -1])],
                    Some(i32::MAX),
                ),
            ),
            (
                "y",
                sub(&all, &[("t", &[1, 1]), ("zero", &[0])], Some(i32::MIN)),
            ),
            ("z", sub(&[], &[("t", &[2, 3])], None)),
        ]);
        let plan = assign(&ms, &ps);
        verify(&ms, &ps, &plan);
        let coop = cooperative(plan.clone(), &ms);
        for (m, ts) in &coop {
            assert!(set_of(&coop, m).is_subset(&set_of(&plan, m)));
            assert!(ts.values().all(|v| !v.is_empty()));
        }
    }

    /// Cooperative rounds: whatever the first plan, members end up with a
    /// complete assignment once revoked partitions are handed over, and no
    /// round gives a partition to a member while another still claims it.
    fn converge(
        members: &BTreeMap<String, MemberSubscription>,
        partitions: &BTreeMap<String, i32>,
        mut generation: i32,
    ) -> Plan {
        let mut ms = members.clone();
        for _ in 0..10 {
            let plan = assign(&ms, partitions);
            verify(&ms, partitions, &plan);
            let coop = cooperative(plan.clone(), &ms);
            for (m, ts) in &coop {
                for (t, ps) in ts {
                    for p in ps {
                        let added = !ms[m].owned.get(t).is_some_and(|v| v.contains(p));
                        let claimed_elsewhere = ms
                            .iter()
                            .any(|(o, s)| o != m && s.owned.get(t).is_some_and(|v| v.contains(p)));
                        assert!(
                            !(added && claimed_elsewhere),
                            "{t}-{p} handed to {m} while claimed"
                        );
                    }
                }
                assert!(set_of(&coop, m).is_subset(&set_of(&plan, m)));
            }
            if coop == plan {
                return plan;
            }
            generation += 1;
            ms = next_round(&ms, &coop, generation);
        }
        panic!("cooperative rebalancing did not converge");
    }

    fn random_partitions(rng: &mut Rng) -> BTreeMap<String, i32> {
        let topics = 1 + rng.below(6);
        (0..topics)
            .map(|t| (format!("t{t}"), i32::try_from(rng.below(20)).unwrap_or(0)))
            .collect()
    }

    #[test]
    fn random_same_subscription() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..200 {
            let ps = random_partitions(&mut rng);
            let topics: Vec<&str> = ps.keys().map(String::as_str).collect();
            let n = 1 + rng.below(12);
            let ms: BTreeMap<String, MemberSubscription> = (0..n)
                .map(|i| (format!("m{i:02}"), sub(&topics, &[], None)))
                .collect();
            let plan = assign(&ms, &ps);
            verify(&ms, &ps, &plan);
            assert_eq!(assign(&ms, &ps), plan, "deterministic");

            // One member joins or leaves.
            let mut next = next_round(&ms, &plan, 1);
            if rng.below(2) == 0 && next.len() > 1 {
                let gone = format!("m{:02}", rng.below(n));
                next.remove(&gone);
            } else {
                next.insert("new".to_owned(), sub(&topics, &[], None));
            }
            let plan2 = assign(&next, &ps);
            verify(&next, &ps, &plan2);
            assert_no_swaps(&plan, &plan2);
            let total: usize = ps.values().map(|&c| usize::try_from(c).unwrap_or(0)).sum();
            let quota = total / next.len();
            for m in next.keys() {
                let owned = set_of(&plan, m);
                let kept = owned.intersection(&set_of(&plan2, m)).count();
                assert!(
                    kept >= owned.len().min(quota),
                    "{m} kept {kept} of {}",
                    owned.len()
                );
            }
            converge(&next, &ps, 1);
        }
    }

    #[test]
    fn random_differing_subscriptions() {
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        for _ in 0..200 {
            let ps = random_partitions(&mut rng);
            let topics: Vec<&str> = ps.keys().map(String::as_str).collect();
            let n = 1 + rng.below(10);
            let mut ms = BTreeMap::new();
            for i in 0..n {
                let mine: Vec<&str> = topics
                    .iter()
                    .copied()
                    .filter(|_| rng.below(3) != 0)
                    .collect();
                ms.insert(format!("m{i:02}"), sub(&mine, &[], None));
            }
            let plan = assign(&ms, &ps);
            verify(&ms, &ps, &plan);
            assert_eq!(assign(&ms, &ps), plan, "deterministic");
            let same = next_round(&ms, &plan, 1);
            assert_eq!(assign(&same, &ps), plan, "stable");

            // Change one member's subscription, drop one, add one.
            let mut next = next_round(&ms, &plan, 1);
            if let Some(s) = next.values_mut().next() {
                s.topics = topics.iter().map(|t| (*t).to_owned()).collect();
            }
            if next.len() > 2 {
                next.remove(&format!("m{:02}", 1 + rng.below(n - 1)));
            }
            let few: Vec<&str> = topics.iter().copied().take(2).collect();
            next.insert("new".to_owned(), sub(&few, &[], None));
            let plan2 = assign(&next, &ps);
            verify(&next, &ps, &plan2);
            assert_no_swaps(&plan, &plan2);
            converge(&next, &ps, 1);

            // Random, partly conflicting, partly stale claims.
            let mut wild = next.clone();
            for s in wild.values_mut() {
                s.generation = match rng.below(4) {
                    0 => None,
                    g => i32::try_from(g).ok(),
                };
                s.owned.clear();
                for t in &topics {
                    let ps: Vec<i32> = (0..rng.below(5))
                        .map(|_| i32::try_from(rng.below(24)).unwrap_or(0) - 2)
                        .collect();
                    s.owned.insert((*t).to_owned(), ps);
                }
            }
            verify(&wild, &ps, &assign(&wild, &ps));
            converge(&wild, &ps, 10);
        }
    }

    #[test]
    fn large_group() {
        let ps: BTreeMap<String, i32> = (0..10).map(|t| (format!("t{t}"), 1000)).collect();
        let topics: Vec<&str> = ps.keys().map(String::as_str).collect();
        let mut ms: BTreeMap<String, MemberSubscription> = (0..100)
            .map(|i| (format!("m{i:03}"), sub(&topics, &[], None)))
            .collect();
        let plan = assign(&ms, &ps);
        verify(&ms, &ps, &plan);
        let mut next = next_round(&ms, &plan, 1);
        next.remove("m050");
        let plan2 = assign(&next, &ps);
        verify(&next, &ps, &plan2);

        // General path: one member sees a single topic; everybody claims
        // everything from a stale plan that gave all to one member.
        ms.insert("z".to_owned(), sub(&["t0"], &[], None));
        let plan3 = assign(&ms, &ps);
        verify(&ms, &ps, &plan3);
        let mut hog = next_round(&ms, &plan3, 2);
        let everything: BTreeMap<String, Vec<i32>> = ps
            .keys()
            .map(|t| (t.clone(), (0..1000).collect()))
            .collect();
        if let Some(s) = hog.get_mut("m000") {
            s.owned = everything;
            s.generation = Some(3);
        }
        let plan4 = assign(&hog, &ps);
        verify(&hog, &ps, &plan4);
        let coop = cooperative(plan4.clone(), &hog);
        // m000 keeps its share; everything else must first be revoked by it.
        assert_eq!(set_of(&coop, "m000"), set_of(&plan4, "m000"));
        assert!((99..=100).contains(&count(&coop, "m000")));
        assert!(coop.iter().all(|(m, ts)| m == "m000" || ts.is_empty()));
    }
}
