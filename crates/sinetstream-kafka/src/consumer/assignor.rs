//! Partition assignment (run by the group leader) and the Java client's
//! `ConsumerProtocol` encoding of subscriptions and assignments, so that
//! Java, Python and Rust consumers can share one group.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
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
}

impl Assignor {
    /// The protocol name announced in JoinGroup.
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
        }
    }

    /// The assignor called `name`, if implemented.
    pub fn from_name(name: &str) -> Option<Assignor> {
        match name.trim().to_ascii_lowercase().as_str() {
            "range" => Some(Assignor::Range),
            "roundrobin" => Some(Assignor::RoundRobin),
            _ => None,
        }
    }

    /// Assigns the partitions of `partitions` (topic → partition count) to
    /// `members` (member id → subscribed topics). Every member gets an
    /// entry, possibly empty.
    pub(crate) fn assign(
        self,
        members: &BTreeMap<String, BTreeSet<String>>,
        partitions: &BTreeMap<String, i32>,
    ) -> BTreeMap<String, BTreeMap<String, Vec<i32>>> {
        let mut out: BTreeMap<String, BTreeMap<String, Vec<i32>>> = members
            .keys()
            .map(|m| (m.clone(), BTreeMap::new()))
            .collect();
        match self {
            Assignor::Range => {
                for (topic, &count) in partitions {
                    let subscribers: Vec<&String> = members
                        .iter()
                        .filter(|(_, t)| t.contains(topic))
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
                            if members.get(m).is_some_and(|t| t.contains(topic)) {
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

/// Encodes a subscription the way Java's `ConsumerProtocol` does: an i16
/// version, then the body. Version 0: every client version can read it.
pub(crate) fn encode_subscription(topics: &BTreeSet<String>) -> Bytes {
    let sub = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|t| StrBytes::from_string(t.clone()))
            .collect(),
    );
    encode_versioned(&sub)
}

/// Encodes an assignment (version 0, see [`encode_subscription`]).
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
    encode_versioned(&a)
}

fn encode_versioned<M: Encodable>(m: &M) -> Bytes {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i16(0);
    // Version 0 of these messages has no field that could fail to encode
    // (only strings and arrays we built); an error would mean a bug in the
    // encoder, and an empty body is then the safest thing to announce.
    if m.encode(&mut buf, 0).is_err() {
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
/// follows them (user data, owned partitions, rack, and anything newer
/// versions add) is ignored, which is how Java reads newer versions too.
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

    fn version(&mut self) -> Result<i16, String> {
        let v = self.i16("version")?;
        if v < 0 {
            return Err(format!("negative consumer protocol version {v}"));
        }
        Ok(v)
    }
}

/// Decodes a member's subscription: the topics it wants.
pub(crate) fn decode_subscription(data: &[u8]) -> Result<BTreeSet<String>, String> {
    let mut r = Reader { data };
    r.version()?;
    let n = r.count(2, "topics")?;
    let mut topics = BTreeSet::new();
    for _ in 0..n {
        topics.insert(r.string("topic")?);
    }
    Ok(topics)
}

/// Decodes our assignment; empty data (a leader with nothing for us, as
/// some clients send) is an empty assignment.
pub(crate) fn decode_assignment(data: &[u8]) -> Result<BTreeMap<String, Vec<i32>>, String> {
    if data.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut r = Reader { data };
    r.version()?;
    let n = r.count(6, "assigned topics")?;
    let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for _ in 0..n {
        let topic = r.string("topic")?;
        let np = r.count(4, "partitions")?;
        let mut ps = Vec::with_capacity(np);
        for _ in 0..np {
            ps.push(r.i32("partition")?);
        }
        out.entry(topic).or_default().extend(ps);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(spec: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        spec.iter()
            .map(|(m, ts)| {
                (
                    (*m).to_owned(),
                    ts.iter().map(|t| (*t).to_owned()).collect(),
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
        let s = encode_subscription(&topics);
        // Java ConsumerProtocol v0: version, [topics], user_data (null).
        assert_eq!(
            &s[..],
            &[0, 0, 0, 0, 0, 1, 0, 1, b'a', 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(decode_subscription(&s).expect("decode"), topics);
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
        assert_eq!(decode_subscription(&v3).expect("v3"), topics);
    }
}
