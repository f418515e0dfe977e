//! Cluster metadata snapshots: brokers, topics, partition leaders.

use std::collections::HashMap;

use kafka_protocol::messages::MetadataResponse;

use crate::error::ErrorCode;

/// A broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// Node id.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// Rack, when configured.
    pub rack: Option<String>,
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// Partition index.
    pub id: i32,
    /// Node id of the leader; `None` while there is none.
    pub leader: Option<i32>,
    /// Leader epoch (-1 if unknown).
    pub leader_epoch: i32,
    /// Partition-level error, e.g. `LEADER_NOT_AVAILABLE`.
    pub error: Option<ErrorCode>,
}

/// A topic and its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Topic name.
    pub name: String,
    /// Topic-level error, e.g. `UNKNOWN_TOPIC_OR_PARTITION` or, while a
    /// topic is being auto-created, `LEADER_NOT_AVAILABLE`.
    pub error: Option<ErrorCode>,
    /// Partitions, sorted by index.
    pub partitions: Vec<PartitionMetadata>,
    /// The topic's id (Metadata v10+), which tells a topic deleted and
    /// made again from the one before.
    pub(crate) id: Option<[u8; 16]>,
}

impl TopicMetadata {
    /// The partition with index `id`.
    pub fn partition(&self, id: i32) -> Option<&PartitionMetadata> {
        // Sorted and dense in practice; fall back to a search otherwise.
        usize::try_from(id)
            .ok()
            .and_then(|i| self.partitions.get(i))
            .filter(|p| p.id == id)
            .or_else(|| self.partitions.iter().find(|p| p.id == id))
    }

    /// Whether the topic can be produced to: no topic error, partitions known.
    pub fn is_usable(&self) -> bool {
        self.error.is_none() && !self.partitions.is_empty()
    }
}

/// What the client knows about the cluster at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    pub(crate) cluster_id: Option<String>,
    pub(crate) controller_id: Option<i32>,
    pub(crate) brokers: HashMap<i32, BrokerInfo>,
    pub(crate) topics: HashMap<String, TopicMetadata>,
}

impl ClusterMetadata {
    /// The cluster id.
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    /// The active controller, when the broker tells.
    pub fn controller_id(&self) -> Option<i32> {
        self.controller_id
    }

    /// Brokers by id.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerInfo> {
        self.brokers.values()
    }

    /// One broker.
    pub fn broker(&self, id: i32) -> Option<&BrokerInfo> {
        self.brokers.get(&id)
    }

    /// A topic, if it was asked for.
    pub fn topic(&self, name: &str) -> Option<&TopicMetadata> {
        self.topics.get(name)
    }

    /// The leader of a partition.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.topic(topic)?.partition(partition)?.leader
    }

    /// The leader epoch of a partition, -1 if unknown.
    pub fn leader_epoch(&self, topic: &str, partition: i32) -> i32 {
        self.topic(topic)
            .and_then(|t| t.partition(partition))
            .map_or(-1, |p| p.leader_epoch)
    }

    /// Keeps, for each partition whose leader epoch the new answer puts
    /// below what `old` knew, the old entry: the broker that answered has
    /// not heard of the newer leader yet, and going back to the old one
    /// would fetch from a log that may be truncated (KIP-320). A topic made
    /// again (another id) starts its epochs afresh and is taken as it is.
    pub(crate) fn keep_newer_epochs(&mut self, old: &ClusterMetadata) {
        for (name, t) in &mut self.topics {
            let Some(o) = old.topics.get(name) else {
                continue;
            };
            if t.id != o.id {
                continue;
            }
            for p in &mut t.partitions {
                if let Some(op) = o.partition(p.id) {
                    if p.leader_epoch >= 0 && op.leader_epoch > p.leader_epoch {
                        tracing::debug!(
                            topic = %name,
                            partition = p.id,
                            stale = p.leader_epoch,
                            known = op.leader_epoch,
                            "metadata with an older leader epoch; keeping the newer"
                        );
                        *p = op.clone();
                    }
                }
            }
        }
    }

    pub(crate) fn from_response(resp: &MetadataResponse) -> ClusterMetadata {
        let brokers = resp
            .brokers
            .iter()
            .filter_map(|b| {
                // A broker advertising an impossible port cannot be reached anyway.
                let port = u16::try_from(b.port).ok()?;
                Some((
                    b.node_id.0,
                    BrokerInfo {
                        id: b.node_id.0,
                        host: b.host.as_str().to_owned(),
                        port,
                        rack: b.rack.as_ref().map(|r| r.as_str().to_owned()),
                    },
                ))
            })
            .collect();
        let topics = resp
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.as_ref()?.0.as_str().to_owned();
                let mut partitions: Vec<PartitionMetadata> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionMetadata {
                        id: p.partition_index,
                        leader: Some(p.leader_id.0).filter(|l| *l >= 0),
                        leader_epoch: p.leader_epoch,
                        error: ErrorCode::from_code(p.error_code),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.id);
                Some((
                    name.clone(),
                    TopicMetadata {
                        name,
                        error: ErrorCode::from_code(t.error_code),
                        partitions,
                        id: Some(*t.topic_id.as_bytes()).filter(|id| *id != [0; 16]),
                    },
                ))
            })
            .collect();
        ClusterMetadata {
            cluster_id: resp.cluster_id.as_ref().map(|c| c.as_str().to_owned()),
            controller_id: Some(resp.controller_id.0).filter(|c| *c >= 0),
            brokers,
            topics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: u8, epochs: &[(i32, i32)]) -> ClusterMetadata {
        let partitions = epochs
            .iter()
            .enumerate()
            .map(|(i, &(leader, leader_epoch))| PartitionMetadata {
                id: i32::try_from(i).expect("small"),
                leader: Some(leader),
                leader_epoch,
                error: None,
            })
            .collect();
        let t = TopicMetadata {
            name: "t".into(),
            error: None,
            partitions,
            id: Some([id; 16]),
        };
        ClusterMetadata {
            topics: [("t".to_owned(), t)].into(),
            ..ClusterMetadata::default()
        }
    }

    #[test]
    fn an_older_leader_epoch_does_not_replace_a_newer_one() {
        let known = meta(1, &[(1, 5), (2, 3), (3, 7)]);
        // Partition 0 went back (a lagging broker answered), 1 moved on,
        // 2 has no epoch (an old Metadata version).
        let mut fresh = meta(1, &[(2, 4), (3, 4), (1, -1)]);
        fresh.keep_newer_epochs(&known);
        assert_eq!(fresh.leader("t", 0), Some(1));
        assert_eq!(fresh.leader_epoch("t", 0), 5);
        assert_eq!(fresh.leader("t", 1), Some(3));
        assert_eq!(fresh.leader_epoch("t", 1), 4);
        assert_eq!(fresh.leader("t", 2), Some(1));
        assert_eq!(fresh.leader_epoch("t", 9), -1, "unknown partition");

        // The topic was deleted and made again: its epochs start afresh.
        let mut remade = meta(2, &[(2, 0), (3, 0), (1, 0)]);
        remade.keep_newer_epochs(&known);
        assert_eq!(remade.leader("t", 0), Some(2));
        assert_eq!(remade.leader_epoch("t", 0), 0);
    }
}
