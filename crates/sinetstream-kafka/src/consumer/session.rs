//! Fetch sessions (KIP-227): the broker remembers which partitions the
//! consumer fetches from it, and from which offsets, so that a Fetch names
//! only the partitions whose offset changed (or that join or leave), and the
//! answer only the partitions with news. A consumer of many mostly idle
//! partitions then sends and receives a few bytes per Fetch instead of every
//! partition each time, and the broker does less work per Fetch.
//!
//! A pure state machine, one session per broker: [`Sessions::plan`] says
//! what the next Fetch to a broker carries, [`Sessions::answered`] and
//! [`Sessions::failed`] take its outcome. The consumer keeps at most one
//! Fetch in flight per broker, which the session epochs require.

use std::collections::{BTreeMap, HashMap};

use super::TopicPartition;
use super::fetcher::FetchPart;
use crate::error::ErrorCode;

/// What the broker holds for one partition of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    offset: i64,
    leader_epoch: i32,
}

impl Held {
    fn of(p: &FetchPart) -> Held {
        Held {
            offset: p.offset,
            leader_epoch: p.leader_epoch,
        }
    }
}

/// What the broker is to hold for `parts`.
fn held(parts: &[FetchPart]) -> HashMap<TopicPartition, Held> {
    parts.iter().map(|p| (p.tp.clone(), Held::of(p))).collect()
}

#[derive(Debug, Default)]
struct Session {
    /// The broker's id for the session; 0: none.
    id: i32,
    /// The epoch of the next Fetch: 0 asks for a new session (closing
    /// session `id`, if any), 1.. continue it.
    epoch: i32,
    /// The partitions the broker holds, as last sent.
    parts: HashMap<TopicPartition, Held>,
}

/// The session fields and partitions of one Fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) session_id: i32,
    pub(crate) epoch: i32,
    /// The partitions to name in the request: all of them for a full
    /// Fetch, those new or moved for an incremental one.
    pub(crate) send: Vec<FetchPart>,
    /// Partitions the broker is to drop from the session.
    pub(crate) forget: Vec<TopicPartition>,
}

impl Plan {
    /// A Fetch outside any session (a broker too old for sessions, or not
    /// connected yet, so its version is unknown).
    pub(crate) fn sessionless(want: Vec<FetchPart>) -> Plan {
        Plan {
            session_id: 0,
            epoch: -1,
            send: want,
            forget: Vec::new(),
        }
    }
}

/// The fetch sessions of a consumer, by broker.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_broker: HashMap<i32, Session>,
}

impl Sessions {
    /// The next Fetch to `broker`, which is to fetch exactly `want` (every
    /// partition the consumer wants from it now; others in the session are
    /// forgotten). The session is updated as if the Fetch will succeed; a
    /// failure must be reported with [`Sessions::failed`].
    pub(crate) fn plan(&mut self, broker: i32, want: Vec<FetchPart>) -> Plan {
        let s = self.by_broker.entry(broker).or_default();
        let wanted = held(&want);
        if s.epoch == 0 {
            // Full: every partition, and a new session.
            s.parts = wanted;
            return Plan {
                session_id: s.id,
                epoch: 0,
                send: want,
                forget: Vec::new(),
            };
        }
        let mut forget: Vec<TopicPartition> = s
            .parts
            .keys()
            .filter(|tp| !wanted.contains_key(*tp))
            .cloned()
            .collect();
        forget.sort();
        let send = want
            .into_iter()
            .filter(|p| s.parts.get(&p.tp) != Some(&Held::of(p)))
            .collect();
        s.parts = wanted;
        Plan {
            session_id: s.id,
            epoch: s.epoch,
            send,
            forget,
        }
    }

    /// The broker answered the last Fetch planned for it with `error` (the
    /// response's top-level error) and `session_id`.
    pub(crate) fn answered(&mut self, broker: i32, error: Option<ErrorCode>, session_id: i32) {
        let Some(s) = self.by_broker.get_mut(&broker) else {
            return;
        };
        match error {
            None if s.epoch == 0 => {
                // 0: the broker keeps no session for us (its cache is
                // full); the next Fetch is full again.
                if session_id != 0 && session_id != s.id {
                    tracing::debug!(broker, session = session_id, "fetch session opened");
                }
                s.id = session_id;
                s.epoch = i32::from(session_id != 0);
            }
            None => {
                // Epochs wrap to 1: 0 would start a new session.
                s.epoch = if s.epoch == i32::MAX { 1 } else { s.epoch + 1 };
            }
            Some(ErrorCode::FetchSessionIdNotFound) => {
                // Evicted, or the broker restarted: nothing to close.
                *s = Session::default();
            }
            Some(_) => self.failed(broker),
        }
    }

    /// The last Fetch to `broker` failed or its answer was not read: what
    /// the broker holds is unknown, so the next Fetch is a full one, which
    /// replaces the session.
    pub(crate) fn failed(&mut self, broker: i32) {
        if let Some(s) = self.by_broker.get_mut(&broker) {
            s.epoch = 0;
            s.parts.clear();
        }
    }

    /// Every Fetch in flight was dropped unread.
    pub(crate) fn all_failed(&mut self) {
        let brokers: Vec<i32> = self.by_broker.keys().copied().collect();
        for b in brokers {
            self.failed(b);
        }
    }
}

/// `forget` grouped by topic, partitions sorted, for the request.
pub(crate) fn by_topic(forget: &[TopicPartition]) -> BTreeMap<&str, Vec<i32>> {
    let mut out: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in forget {
        out.entry(&tp.topic).or_default().push(tp.partition);
    }
    for ps in out.values_mut() {
        ps.sort_unstable();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    fn part(p: i32, offset: i64) -> FetchPart {
        FetchPart {
            tp: TopicPartition::new("t", p),
            offset,
            leader_epoch: 3,
        }
    }

    fn sent(plan: &Plan) -> Vec<(i32, i64)> {
        plan.send
            .iter()
            .map(|p| (p.tp.partition, p.offset))
            .collect()
    }

    #[test]
    fn a_session_sends_only_what_changed() {
        let mut s = Sessions::default();
        // First: full, asking for a session.
        let p = s.plan(1, vec![part(0, 10), part(1, 20), part(2, 30)]);
        assert_eq!((p.session_id, p.epoch), (0, 0));
        assert_eq!(sent(&p), vec![(0, 10), (1, 20), (2, 30)]);
        s.answered(1, None, 77);

        // Only partition 1 brought records: only it moves.
        let p = s.plan(1, vec![part(0, 10), part(1, 25), part(2, 30)]);
        assert_eq!((p.session_id, p.epoch), (77, 1));
        assert_eq!(sent(&p), vec![(1, 25)]);
        assert!(p.forget.is_empty());
        s.answered(1, None, 77);

        // Nothing moved: an empty Fetch that still asks for news.
        let p = s.plan(1, vec![part(0, 10), part(1, 25), part(2, 30)]);
        assert_eq!((p.session_id, p.epoch), (77, 2));
        assert!(p.send.is_empty());
        s.answered(1, None, 77);

        // Partition 0 held back (buffered), 3 joins; a new leader epoch
        // counts as a change.
        let mut moved = part(2, 30);
        moved.leader_epoch = 4;
        let p = s.plan(1, vec![part(1, 25), moved.clone(), part(3, 0)]);
        assert_eq!(p.epoch, 3);
        assert_eq!(sent(&p), vec![(2, 30), (3, 0)]);
        assert_eq!(p.forget, vec![TopicPartition::new("t", 0)]);
        s.answered(1, None, 77);

        // It comes back: named again, with its offset.
        let p = s.plan(1, vec![part(0, 10), part(1, 25), moved, part(3, 0)]);
        assert_eq!(sent(&p), vec![(0, 10)]);
    }

    #[test]
    fn failures_fall_back_to_a_full_fetch() {
        let mut s = Sessions::default();
        s.plan(1, vec![part(0, 10), part(1, 20)]);
        s.answered(1, None, 5);
        s.plan(1, vec![part(0, 12), part(1, 20)]);
        // The connection broke: the broker may or may not have seen it.
        s.failed(1);
        let p = s.plan(1, vec![part(0, 12), part(1, 20)]);
        assert_eq!(
            (p.session_id, p.epoch),
            (5, 0),
            "closes session 5 and opens a new one"
        );
        assert_eq!(sent(&p), vec![(0, 12), (1, 20)]);
        s.answered(1, None, 6);
        let p = s.plan(1, vec![part(0, 12), part(1, 20)]);
        assert_eq!((p.session_id, p.epoch), (6, 1));

        // The broker lost the session: start afresh.
        s.answered(1, Some(ErrorCode::FetchSessionIdNotFound), 0);
        let p = s.plan(1, vec![part(0, 12), part(1, 20)]);
        assert_eq!((p.session_id, p.epoch), (0, 0));
        assert_eq!(p.send.len(), 2);

        // A wrong epoch: replace the session.
        s.answered(1, None, 9);
        s.plan(1, vec![part(0, 12), part(1, 20)]);
        s.answered(1, Some(ErrorCode::InvalidFetchSessionEpoch), 0);
        let p = s.plan(1, vec![part(0, 12), part(1, 20)]);
        assert_eq!((p.session_id, p.epoch), (9, 0));

        // No session granted (the broker's cache is full): full each time.
        s.answered(1, None, 0);
        let p = s.plan(1, vec![part(0, 12), part(1, 20)]);
        assert_eq!((p.session_id, p.epoch), (0, 0));
        assert_eq!(p.send.len(), 2);

        // Sessions are per broker; dropping every Fetch resets them all.
        s.answered(1, None, 11);
        s.plan(2, vec![part(5, 1)]);
        s.answered(2, None, 12);
        s.all_failed();
        assert_eq!(s.plan(1, vec![part(0, 12)]).epoch, 0);
        assert_eq!(s.plan(2, vec![part(5, 1)]).epoch, 0);
    }

    /// Random rounds of plans, answers and failures against a model of the
    /// broker's session (KIP-227's rules: a full Fetch replaces what the
    /// broker holds, an incremental one adds or updates what it names and
    /// drops what it forgets): after every answered Fetch the broker holds
    /// exactly the partitions wanted, at the offsets and epochs wanted.
    #[test]
    fn the_broker_holds_what_was_wanted() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut s = Sessions::default();
        let mut broker: HashMap<TopicPartition, Held> = HashMap::new();
        let mut offsets = [0i64; 8];
        let mut epochs = [0i32; 8];
        let mut next_id = 1;
        for round in 0..5_000 {
            // A random subset of 8 partitions, some moved on.
            let mut want = Vec::new();
            for p in 0..8 {
                if rng.below(4) == 0 {
                    offsets[p] += i64::try_from(rng.below(50)).expect("small");
                }
                if rng.below(50) == 0 {
                    epochs[p] += 1;
                }
                if rng.below(5) != 0 {
                    want.push(FetchPart {
                        tp: TopicPartition::new("t", i32::try_from(p).expect("small")),
                        offset: offsets[p],
                        leader_epoch: epochs[p],
                    });
                }
            }
            let plan = s.plan(1, want.clone());
            let fate = rng.below(20);
            // The broker applies the request unless it never arrives.
            if fate != 0 {
                if plan.epoch == 0 {
                    broker.clear();
                }
                broker.extend(held(&plan.send));
                for tp in &plan.forget {
                    broker.remove(tp);
                }
            }
            match fate {
                // Lost on the way, or its answer lost.
                0 | 1 => s.failed(1),
                // A session error: the broker dropped it.
                2 => {
                    broker.clear();
                    s.answered(1, Some(ErrorCode::FetchSessionIdNotFound), 0);
                }
                _ => {
                    let id = if plan.epoch == 0 {
                        next_id += 1;
                        next_id
                    } else {
                        plan.session_id
                    };
                    s.answered(1, None, id);
                    assert_eq!(broker, held(&want), "round {round}: {plan:?}");
                }
            }
        }
    }

    #[test]
    fn epochs_wrap_to_one() {
        let mut s = Sessions::default();
        s.plan(1, vec![part(0, 0)]);
        s.answered(1, None, 3);
        if let Some(x) = s.by_broker.get_mut(&1) {
            x.epoch = i32::MAX;
        }
        s.plan(1, vec![part(0, 0)]);
        s.answered(1, None, 3);
        assert_eq!(s.plan(1, vec![part(0, 0)]).epoch, 1);
    }
}
