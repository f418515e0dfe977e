//! Partition assignment (run by the group leader) and the Java client's
//! `ConsumerProtocol` encoding of subscriptions and assignments, so that
//! Java, Python and Rust consumers can share one group.

use std::collections::{BTreeMap, BTreeSet};

use super::sticky::{self, MemberSubscription};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

/// How the group leader spreads partitions over the members. Names and
/// results match the Java client's assignors of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Assignor {
    /// `range`: per topic, consecutive partition ranges; the first members
    /// (by member id) get one more when it does not divide evenly.
    Range,
    /// `roundrobin`: all partitions of all topics, dealt one by one to the
    /// members (sorted by member id) subscribed to their topic.
    RoundRobin,
    /// `sticky`: balanced, and keeps partitions where they were as far as
    /// balance allows; the eager protocol (every member gives up all its
    /// partitions before each rebalance).
    Sticky,
    /// `cooperative-sticky`: the `sticky` assignment with the incremental
    /// protocol (KIP-429). Members keep consuming the partitions they keep;
    /// a partition that moves is first given up by its owner, then
    /// assigned in a second, quick rebalance. Used when it is the only
    /// assignor offered, as in Java.
    CooperativeSticky,
}

impl Assignor {
    /// The protocol name announced in JoinGroup.
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
            Assignor::Sticky => "sticky",
            Assignor::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// The assignor called `name`, if implemented. Case, `-` and `_` do
    /// not matter (`cooperative-sticky`, `CooperativeSticky`).
    pub fn from_name(name: &str) -> Option<Assignor> {
        let key: String = name
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        match key.as_str() {
            "range" => Some(Assignor::Range),
            "roundrobin" => Some(Assignor::RoundRobin),
            "sticky" => Some(Assignor::Sticky),
            "cooperativesticky" => Some(Assignor::CooperativeSticky),
            _ => None,
        }
    }

    /// Whether the assignor supports the incremental protocol.
    pub fn is_cooperative(self) -> bool {
        self == Assignor::CooperativeSticky
    }

    /// Assigns the partitions of `partitions` (topic → partition count) to
    /// `members` (member id → subscription). Every member gets an entry,
    /// possibly empty.
    pub(crate) fn assign(
        self,
        members: &BTreeMap<String, MemberSubscription>,
        partitions: &BTreeMap<String, i32>,
    ) -> BTreeMap<String, BTreeMap<String, Vec<i32>>> {
        let mut out: BTreeMap<String, BTreeMap<String, Vec<i32>>> = members
            .keys()
            .map(|m| (m.clone(), BTreeMap::new()))
            .collect();
        match self {
            Assignor::Sticky => return sticky::assign(members, partitions),
            Assignor::CooperativeSticky => {
                return sticky::cooperative(sticky::assign(members, partitions), members);
            }
            Assignor::Range => {
                for (topic, &count) in partitions {
                    let subscribers: Vec<&String> = members
                        .iter()
                        .filter(|(_, s)| s.topics.contains(topic))
                        .map(|(m, _)| m)
                        .collect();
                    if subscribers.is_empty() || count <= 0 {
                        continue;
                    }
                    let n = subscribers.len() as i32;
                    let per = count / n;
                    let extra = count % n;
                    for (i, m) in subscribers.iter().enumerate() {
                        let i = i as i32;
                        let start = per * i + i.min(extra);
                        let len = per + i32::from(i < extra);
                        if len > 0 {
                            if let Some(a) = out.get_mut(*m) {
                                a.insert(topic.clone(), (start..start + len).collect());
                            }
                        }
                    }
                }
            }
            Assignor::RoundRobin => {
                let ids: Vec<&String> = members.keys().collect();
                if ids.is_empty() {
                    return out;
                }
                let mut next = 0usize;
                for (topic, &count) in partitions {
                    for p in 0..count.max(0) {
                        // The next member (circularly) subscribed to the topic.
                        for _ in 0..ids.len() {
                            let m = ids[next % ids.len()];
                            next += 1;
                            if members.get(m).is_some_and(|s| s.topics.contains(topic)) {
                                if let Some(a) = out.get_mut(m) {
                                    a.entry(topic.clone()).or_default().push(p);
                                }
                                break;
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

/// Encodes what this member announces in JoinGroup for `assignor`, the
/// way Java's `ConsumerProtocol` and assignors do, so that a Java leader
/// reads it and a Java member's bytes read back the same.
///
/// - `range`, `roundrobin`: version 0 (topics only), which every client
///   version reads.
/// - `sticky`: version 0 with Java's `StickyAssignor` user data: the
///   previous assignment and its generation (an eager member owns nothing
///   while it joins, so this is where stickiness comes from).
/// - `cooperative-sticky`: version 2 with the partitions owned now and
///   their generation, plus the generation again as user data for leaders
///   older than version 2.
///
/// `owned` is the current (cooperative) or previous (eager) assignment,
/// `generation` the generation it came from (-1: none).
pub(crate) fn encode_subscription(
    assignor: Assignor,
    topics: &BTreeSet<String>,
    owned: &BTreeMap<String, Vec<i32>>,
    generation: i32,
) -> Bytes {
    let mut sub = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|t| StrBytes::from_string(t.clone()))
            .collect(),
    );
    match assignor {
        Assignor::Range | Assignor::RoundRobin => encode_versioned(&sub, 0),
        Assignor::Sticky => {
            if generation >= 0 || !owned.is_empty() {
                sub.user_data = Some(encode_sticky_user_data(owned, generation));
            }
            encode_versioned(&sub, 0)
        }
        Assignor::CooperativeSticky => {
            sub.user_data = Some(Bytes::copy_from_slice(&generation.to_be_bytes()));
            sub.owned_partitions = owned
                .iter()
                .filter(|(_, ps)| !ps.is_empty())
                .map(|(t, ps)| {
                    OwnedTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(t.clone())))
                        .with_partitions(ps.clone())
                })
                .collect();
            sub.generation_id = generation;
            encode_versioned(&sub, 2)
        }
    }
}

/// Java's `StickyAssignor` user data, version 1: `[topic, [partition]]`,
/// then the generation.
fn encode_sticky_user_data(owned: &BTreeMap<String, Vec<i32>>, generation: i32) -> Bytes {
    let mut buf = BytesMut::with_capacity(16);
    let topics: Vec<(&String, &Vec<i32>)> = owned.iter().filter(|(_, ps)| !ps.is_empty()).collect();
    buf.put_i32(i32::try_from(topics.len()).unwrap_or(i32::MAX));
    for (t, ps) in topics {
        buf.put_i16(i16::try_from(t.len()).unwrap_or(i16::MAX));
        buf.put_slice(t.as_bytes());
        buf.put_i32(i32::try_from(ps.len()).unwrap_or(i32::MAX));
        for p in ps {
            buf.put_i32(*p);
        }
    }
    buf.put_i32(generation);
    buf.freeze()
}

/// Encodes an assignment (version 0: every client version reads it).
pub(crate) fn encode_assignment(assigned: &BTreeMap<String, Vec<i32>>) -> Bytes {
    let a = ConsumerProtocolAssignment::default().with_assigned_partitions(
        assigned
            .iter()
            .map(|(t, ps)| {
                AssignedTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(t.clone())))
                    .with_partitions(ps.clone())
            })
            .collect(),
    );
    encode_versioned(&a, 0)
}

fn encode_versioned<M: Encodable>(m: &M, version: i16) -> Bytes {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i16(version);
    // These versions have no field that could fail to encode (only
    // strings, arrays and integers we built); an error would mean a bug in
    // the encoder, and an empty body is then the safest thing to announce.
    if m.encode(&mut buf, version).is_err() {
        buf.truncate(2);
    }
    buf.freeze()
}

/// A bounded reader of the consumer protocol's (non-flexible) encoding.
///
/// Ours rather than kafka-protocol's decoder, which preallocates arrays
/// from the counts on the wire: these bytes come from other group members
/// (through the broker), and a bogus count must not make the leader
/// attempt a huge allocation. Only the fields we use are read; what
/// follows them (the rack, and anything newer versions add) is ignored,
/// which is how Java reads newer versions too.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.data.len() < n {
            return Err(format!("consumer protocol data truncated in {what}"));
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }

    fn i16(&mut self, what: &str) -> Result<i16, String> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, what: &str) -> Result<i32, String> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        let len = self.i16(what)?;
        let len = usize::try_from(len).map_err(|_| format!("null or negative {what}"))?;
        let b = self.take(len, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
    }

    /// An array count, checked against the bytes that could hold it
    /// (each element takes at least `min_size` bytes). Null is empty.
    fn count(&mut self, min_size: usize, what: &str) -> Result<usize, String> {
        let n = self.i32(what)?;
        if n < 0 {
            return Ok(0);
        }
        let n = n as usize;
        if n > self.data.len() / min_size {
            return Err(format!("{what} count {n} exceeds the data"));
        }
        Ok(n)
    }

    /// Nullable bytes (`None` for null).
    fn bytes(&mut self, what: &str) -> Result<Option<&'a [u8]>, String> {
        let len = self.i32(what)?;
        if len < 0 {
            return Ok(None);
        }
        self.take(len as usize, what).map(Some)
    }

    /// `[topic, [partition]]`, the same topic twice merged.
    fn topic_partitions(&mut self, what: &str) -> Result<BTreeMap<String, Vec<i32>>, String> {
        let n = self.count(6, what)?;
        let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for _ in 0..n {
            let topic = self.string("topic")?;
            let np = self.count(4, "partitions")?;
            let mut ps = Vec::with_capacity(np);
            for _ in 0..np {
                ps.push(self.i32("partition")?);
            }
            out.entry(topic).or_default().extend(ps);
        }
        Ok(out)
    }

    fn version(&mut self) -> Result<i16, String> {
        let v = self.i16("version")?;
        if v < 0 {
            return Err(format!("negative consumer protocol version {v}"));
        }
        Ok(v)
    }
}

/// A member's subscription as sent in JoinGroup (any version).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Subscription {
    pub(crate) topics: BTreeSet<String>,
    /// The assignor's own data (null: empty).
    pub(crate) user_data: Vec<u8>,
    /// Partitions owned while joining (version 1+).
    pub(crate) owned: BTreeMap<String, Vec<i32>>,
    /// Their generation (version 2+; -1 on the wire: unknown).
    pub(crate) generation: Option<i32>,
}

impl Subscription {
    /// What the sticky assignors need of it, read the way `assignor`
    /// announces it (see [`encode_subscription`]). Unreadable user data
    /// means no previous assignment: the member is then treated as new.
    pub(crate) fn for_assignor(&self, assignor: Assignor) -> MemberSubscription {
        let mut m = MemberSubscription {
            topics: self.topics.clone(),
            ..MemberSubscription::default()
        };
        match assignor {
            Assignor::Range | Assignor::RoundRobin => {}
            Assignor::Sticky => {
                if let Some((owned, generation)) = decode_sticky_user_data(&self.user_data) {
                    m.owned = owned;
                    m.generation = generation;
                }
            }
            Assignor::CooperativeSticky => {
                m.owned = self.owned.clone();
                m.generation = self.generation.or_else(|| {
                    let g = i32::from_be_bytes(self.user_data.get(..4)?.try_into().ok()?);
                    (g >= 0).then_some(g)
                });
            }
        }
        m
    }
}

/// Decodes a member's subscription. Fields of versions newer than 2 (the
/// rack) are ignored, as Java ignores what it does not know.
pub(crate) fn decode_subscription(data: &[u8]) -> Result<Subscription, String> {
    let mut r = Reader { data };
    let version = r.version()?;
    let mut sub = Subscription::default();
    let n = r.count(2, "topics")?;
    for _ in 0..n {
        sub.topics.insert(r.string("topic")?);
    }
    if r.data.is_empty() {
        return Ok(sub);
    }
    if let Some(b) = r.bytes("user data")? {
        sub.user_data = b.to_vec();
    }
    if version >= 1 {
        sub.owned = r.topic_partitions("owned partitions")?;
    }
    if version >= 2 {
        let g = r.i32("generation")?;
        sub.generation = (g >= 0).then_some(g);
    }
    Ok(sub)
}

/// Partitions by topic.
type Owned = BTreeMap<String, Vec<i32>>;

/// Java's `StickyAssignor` user data: version 1 (assignment, generation),
/// or version 0 (assignment only).
pub(crate) fn decode_sticky_user_data(data: &[u8]) -> Option<(Owned, Option<i32>)> {
    if data.is_empty() {
        return None;
    }
    let mut r = Reader { data };
    let owned = r.topic_partitions("previous assignment").ok()?;
    let generation = if r.data.len() >= 4 {
        r.i32("generation").ok().filter(|g| *g >= 0)
    } else {
        None
    };
    Some((owned, generation))
}

/// Decodes our assignment; empty data (a leader with nothing for us, as
/// some clients send) is an empty assignment.
pub(crate) fn decode_assignment(data: &[u8]) -> Result<BTreeMap<String, Vec<i32>>, String> {
    if data.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut r = Reader { data };
    r.version()?;
    r.topic_partitions("assigned topics")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(spec: &[(&str, &[&str])]) -> BTreeMap<String, MemberSubscription> {
        spec.iter()
            .map(|(m, ts)| {
                (
                    (*m).to_owned(),
                    MemberSubscription {
                        topics: ts.iter().map(|t| (*t).to_owned()).collect(),
                        ..MemberSubscription::default()
                    },
                )
            })
            .collect()
    }

    fn parts(spec: &[(&str, i32)]) -> BTreeMap<String, i32> {
        spec.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
    }

    #[test]
    fn range_matches_java() {
        // Java RangeAssignor: t0 has 3 partitions, t1 3, two consumers:
        // c0 = t0p0,t0p1,t1p0,t1p1; c1 = t0p2,t1p2.
        let a = Assignor::Range.assign(
            &members(&[("c0", &["t0", "t1"]), ("c1", &["t0", "t1"])]),
            &parts(&[("t0", 3), ("t1", 3)]),
        );
        assert_eq!(a["c0"]["t0"], vec![0, 1]);
        assert_eq!(a["c0"]["t1"], vec![0, 1]);
        assert_eq!(a["c1"]["t0"], vec![2]);
        assert_eq!(a["c1"]["t1"], vec![2]);
        // More members than partitions: the last get nothing.
        let a = Assignor::Range.assign(
            &members(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])]),
            &parts(&[("t", 2)]),
        );
        assert_eq!(a["a"]["t"], vec![0]);
        assert_eq!(a["b"]["t"], vec![1]);
        assert!(a["c"].is_empty());
    }

    #[test]
    fn round_robin_matches_java() {
        // Java RoundRobinAssignor example: c0 = t0p0,t0p2,t1p1;
        // c1 = t0p1,t1p0,t1p2.
        let a = Assignor::RoundRobin.assign(
            &members(&[("c0", &["t0", "t1"]), ("c1", &["t0", "t1"])]),
            &parts(&[("t0", 3), ("t1", 3)]),
        );
        assert_eq!(a["c0"]["t0"], vec![0, 2]);
        assert_eq!(a["c0"]["t1"], vec![1]);
        assert_eq!(a["c1"]["t0"], vec![1]);
        assert_eq!(a["c1"]["t1"], vec![0, 2]);
        // Members not subscribed to a topic are skipped.
        let a = Assignor::RoundRobin.assign(
            &members(&[("a", &["x"]), ("b", &["x", "y"])]),
            &parts(&[("x", 2), ("y", 2)]),
        );
        assert_eq!(a["a"]["x"], vec![0]);
        assert_eq!(a["b"]["x"], vec![1]);
        assert_eq!(a["b"]["y"], vec![0, 1]);
    }

    #[test]
    fn protocol_round_trip_and_java_bytes() {
        let topics: BTreeSet<String> = ["a".to_owned()].into();
        let none = BTreeMap::new();
        let s = encode_subscription(Assignor::Range, &topics, &none, -1);
        // Java ConsumerProtocol v0: version, [topics], user_data (null).
        assert_eq!(
            &s[..],
            &[0, 0, 0, 0, 0, 1, 0, 1, b'a', 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(decode_subscription(&s).expect("decode").topics, topics);
        let mut assigned = BTreeMap::new();
        assigned.insert("a".to_owned(), vec![0, 3]);
        let enc = encode_assignment(&assigned);
        assert_eq!(decode_assignment(&enc).expect("decode"), assigned);
        assert!(decode_assignment(&[]).expect("empty").is_empty());
        assert!(decode_subscription(&[0xff, 0xff]).is_err());
        assert!(decode_assignment(&[0, 1, 0, 0, 0, 9]).is_err());
        // A huge count is refused before anything is allocated.
        assert!(decode_subscription(&[0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 1]).is_err());
        // Newer versions: the fields we read come first; the rest is ignored.
        let mut v3 = vec![0, 3];
        v3.extend_from_slice(&s[2..]);
        v3.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7, 0xff, 0xff]);
        let d = decode_subscription(&v3).expect("v3");
        assert_eq!((d.topics, d.generation), (topics, Some(7)));
    }

    #[test]
    fn sticky_subscriptions_match_java_layout() {
        let topics: BTreeSet<String> = ["a".to_owned()].into();
        let mut owned = BTreeMap::new();
        owned.insert("a".to_owned(), vec![3]);
        // CooperativeStickyAssignor: ConsumerProtocol v2 with the owned
        // partitions and generation, user data = the generation.
        let s = encode_subscription(Assignor::CooperativeSticky, &topics, &owned, 5);
        #[rustfmt::skip]
        let java = [
            0, 2,                       // version
            0, 0, 0, 1, 0, 1, b'a',     // topics
            0, 0, 0, 4, 0, 0, 0, 5,     // user data: generation
            0, 0, 0, 1, 0, 1, b'a', 0, 0, 0, 1, 0, 0, 0, 3, // owned
            0, 0, 0, 5,                 // generation
        ];
        assert_eq!(&s[..], &java[..]);
        let d = decode_subscription(&s).expect("decode");
        let m = d.for_assignor(Assignor::CooperativeSticky);
        assert_eq!((m.owned, m.generation), (owned.clone(), Some(5)));
        // A version 0 member (an older client): the generation from the
        // user data, nothing owned.
        let mut v0 = vec![0, 0, 0, 0, 0, 1, 0, 1, b'a', 0, 0, 0, 4, 0, 0, 0, 9];
        let m = decode_subscription(&v0)
            .expect("v0")
            .for_assignor(Assignor::CooperativeSticky);
        assert_eq!((m.owned.len(), m.generation), (0, Some(9)));
        // StickyAssignor: version 0, the previous assignment and its
        // generation as user data.
        let s = encode_subscription(Assignor::Sticky, &topics, &owned, 5);
        #[rustfmt::skip]
        let java = [
            0, 0, 0, 0, 0, 1, 0, 1, b'a',
            0, 0, 0, 19,
            0, 0, 0, 1, 0, 1, b'a', 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 5,
        ];
        assert_eq!(&s[..], &java[..]);
        let m = decode_subscription(&s)
            .expect("decode")
            .for_assignor(Assignor::Sticky);
        assert_eq!((m.owned, m.generation), (owned, Some(5)));
        // Sticky user data version 0 (no generation), and garbage.
        assert_eq!(
            decode_sticky_user_data(&[0, 0, 0, 1, 0, 1, b'b', 0, 0, 0, 1, 0, 0, 0, 2]),
            Some(([("b".to_owned(), vec![2])].into(), None))
        );
        assert_eq!(decode_sticky_user_data(&[0, 0, 0x7f, 0xff]), None);
        // Truncated newer fields are an error, not a guess.
        v0[1] = 2;
        assert!(decode_subscription(&v0).is_err());
    }

    #[test]
    fn names() {
        for (n, a) in [
            ("range", Assignor::Range),
            ("RoundRobin", Assignor::RoundRobin),
            ("sticky", Assignor::Sticky),
            ("cooperative-sticky", Assignor::CooperativeSticky),
            ("CooperativeSticky", Assignor::CooperativeSticky),
            ("cooperative_sticky", Assignor::CooperativeSticky),
        ] {
            assert_eq!(Assignor::from_name(n), Some(a), "{n}");
            assert_eq!(Assignor::from_name(a.name()), Some(a));
        }
        assert_eq!(Assignor::from_name("uniform"), None);
    }
}
