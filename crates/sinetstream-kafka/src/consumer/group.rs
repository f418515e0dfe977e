//! The consumer group (classic protocol): coordinator discovery, JoinGroup
//! and SyncGroup (the leader runs the assignor), the heartbeat task, and
//! the offset APIs (OffsetFetch, OffsetCommit) that go to the coordinator.
//!
//! The heartbeat runs on its own timer task, not inside the fetch loop, so
//! that a slow application or a long fetch does not cost the membership.
//! It never rejoins by itself: it raises a flag (and wakes the consumer),
//! and the consumer rejoins from `recv`, after revoking its partitions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rand::seq::SliceRandom as _;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::TopicPartition;
use super::assignor::{self, Assignor};
use crate::backoff::Backoff;
use crate::cluster::Cluster;
use crate::connection;
use crate::error::{ErrorCode, KafkaError, Result};
use crate::messenger::Messenger;

/// Group settings, copied from the consumer's.
#[derive(Debug, Clone)]
pub(crate) struct GroupSettings {
    pub(crate) group_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) session_timeout: Duration,
    pub(crate) rebalance_timeout: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) max_poll_interval: Duration,
    pub(crate) assignors: Vec<Assignor>,
}

impl GroupSettings {
    /// The incremental protocol is used when every assignor offered
    /// supports it (Java's rule): with an eager one among them, the group
    /// could pick it, and eager members give up everything on a rebalance.
    pub(crate) fn cooperative(&self) -> bool {
        !self.assignors.is_empty() && self.assignors.iter().all(|a| a.is_cooperative())
    }
}

/// The outcome of [`Group::join`].
#[derive(Debug)]
pub(crate) struct Joined {
    /// This member's partitions: topic → partitions.
    pub(crate) assignment: BTreeMap<String, Vec<i32>>,
    /// The group forgot this member during the join, so the partitions it
    /// owned may be someone else's already: they are gone, not revoked
    /// (nothing may be committed for them).
    pub(crate) lost: bool,
}

#[derive(Debug)]
struct Membership {
    member_id: String,
    generation: i32,
    /// Joined and synced: heartbeats run, commits carry the generation.
    stable: bool,
    /// The consumer must rejoin (heartbeat or commit said so).
    rejoin: bool,
    /// An error that ends the consumer (e.g. FENCED_INSTANCE_ID).
    fatal: Option<KafkaError>,
    /// When the application was last seen polling: set by the heartbeat
    /// loop when `polls` has moved since its previous look (so a poll is
    /// dated up to one heartbeat interval late, and the per-record path
    /// reads no clock).
    last_poll: Instant,
    /// Polls so far (every `recv`/`try_recv` that delivered or waited).
    polls: u64,
    /// `polls` as the heartbeat loop last saw it.
    seen_polls: u64,
    /// As the group's leader: the partition count of every topic at the
    /// last assignment (0 for a topic without metadata then). When the
    /// metadata shows another count, the leader rejoins so that the new
    /// partitions get assigned (Java's assignment snapshot).
    led_counts: Option<BTreeMap<String, i32>>,
}

/// One consumer's membership of its group. See the module docs.
pub(crate) struct Group {
    pub(crate) settings: GroupSettings,
    cluster: Arc<Cluster>,
    /// A connection of its own, so that group requests (JoinGroup is held
    /// by the broker for seconds) never queue behind fetches.
    coordinator: tokio::sync::Mutex<Option<Arc<Messenger>>>,
    state: Mutex<Membership>,
    /// Wakes the consumer when a rejoin is needed.
    pub(crate) wake: Notify,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("group_id", &self.settings.group_id)
            .finish_non_exhaustive()
    }
}

fn group_id(s: &str) -> GroupId {
    GroupId(StrBytes::from_string(s.to_owned()))
}

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

/// Errors that mean "the coordinator moved or is not ready: find it again".
fn coordinator_moved(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
    )
}

impl Group {
    pub(crate) fn new(settings: GroupSettings, cluster: Arc<Cluster>) -> Arc<Group> {
        Arc::new(Group {
            settings,
            cluster,
            coordinator: tokio::sync::Mutex::new(None),
            state: Mutex::new(Membership {
                member_id: String::new(),
                generation: -1,
                stable: false,
                rejoin: true,
                fatal: None,
                last_poll: Instant::now(),
                polls: 0,
                seen_polls: 0,
                led_counts: None,
            }),
            wake: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Membership> {
        // Every critical section is a few field assignments.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that the application polled (for `max_poll_interval`).
    /// What `recv` checks per record, under one lock: notes the poll (for
    /// max_poll_interval), fails with a fatal group error, and tells whether
    /// a rejoin is due.
    pub(crate) fn poll_check(&self) -> Result<bool, KafkaError> {
        let mut st = self.lock();
        st.polls = st.polls.wrapping_add(1);
        if let Some(e) = &st.fatal {
            return Err(e.clone());
        }
        Ok(st.rejoin || !st.stable)
    }

    pub(crate) fn touch_poll(&self) {
        self.lock().last_poll = Instant::now();
    }

    pub(crate) fn needs_rejoin(&self) -> bool {
        let st = self.lock();
        st.rejoin || !st.stable
    }

    /// Asks for a rejoin at the next `recv` (new subscription).
    pub(crate) fn mark_rejoin(&self) {
        self.lock().rejoin = true;
    }

    pub(crate) fn take_fatal(&self) -> Option<KafkaError> {
        self.lock().fatal.clone()
    }

    /// Asks for a rejoin, unless the report is about an older generation.
    fn request_rejoin(&self, generation: i32, reset_member: bool, why: &str) {
        let mut st = self.lock();
        if st.generation != generation {
            return;
        }
        tracing::info!(group = %self.settings.group_id, generation, why, "rejoining the group");
        st.rejoin = true;
        st.stable = false;
        if reset_member {
            st.member_id.clear();
            st.generation = -1;
        }
        drop(st);
        self.wake.notify_one();
    }

    /// The coordinator no longer knows this member: join as a new one.
    fn forget_member(&self) {
        let mut st = self.lock();
        st.member_id.clear();
        st.generation = -1;
    }

    async fn reset_coordinator(&self) {
        if let Some(c) = self.coordinator.lock().await.take() {
            c.poison(KafkaError::connection(c.addr(), "coordinator moved"));
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(
            self.cluster.config.retry_backoff,
            self.cluster.config.retry_backoff_max,
        )
    }

    /// How long group operations retry retriable errors.
    fn deadline(&self) -> Instant {
        Instant::now()
            + self
                .cluster
                .config
                .request_timeout
                .max(Duration::from_secs(30))
                * 2
    }

    /// The coordinator connection, finding the coordinator if needed.
    pub(crate) async fn coordinator(&self) -> Result<Arc<Messenger>> {
        let mut slot = self.coordinator.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_poisoned()) {
            return Ok(Arc::clone(c));
        }
        *slot = None;
        let deadline = self.deadline();
        let mut backoff = self.backoff();
        loop {
            let err = match self.find_coordinator().await {
                Ok((host, port)) => match connection::open(&host, port, &self.cluster.config).await
                {
                    Ok(c) => {
                        tracing::debug!(group = %self.settings.group_id, coordinator = %c.addr(), "coordinator found");
                        *slot = Some(Arc::clone(&c));
                        return Ok(c);
                    }
                    Err(e) => e,
                },
                Err(e) => e,
            };
            if !err.is_retriable() || Instant::now() >= deadline {
                return Err(err);
            }
            tracing::debug!(group = %self.settings.group_id, error = %err, "coordinator lookup failed; retrying");
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    /// FindCoordinator through any broker: the coordinator's address.
    async fn find_coordinator(&self) -> Result<(String, u16)> {
        let (snap, generation) = self.cluster.metadata();
        let mut ids: Vec<i32> = snap.brokers.keys().copied().collect();
        ids.shuffle(&mut rand::rng());
        let mut last = None;
        for id in ids {
            let conn = match self.cluster.broker(id).await {
                Ok(c) => c,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            let v = conn.version_for(ApiKey::FindCoordinator)?;
            let gid = StrBytes::from_string(self.settings.group_id.clone());
            // v4 replaced the single key with a list of keys.
            let req = if v >= 4 {
                FindCoordinatorRequest::default().with_coordinator_keys(vec![gid])
            } else {
                FindCoordinatorRequest::default().with_key(gid)
            };
            let resp = match conn.request(&req).await {
                Ok(r) => r,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            let (code, message, host, port) = if v >= 4 {
                let Some(c) = resp.coordinators.first() else {
                    return Err(KafkaError::protocol(
                        conn.addr(),
                        "FindCoordinator answered no coordinator",
                    ));
                };
                (
                    c.error_code,
                    c.error_message.clone(),
                    c.host.clone(),
                    c.port,
                )
            } else {
                (
                    resp.error_code,
                    resp.error_message.clone(),
                    resp.host.clone(),
                    resp.port,
                )
            };
            if let Some(code) = ErrorCode::from_code(code) {
                return Err(KafkaError::broker(
                    code,
                    format!("FindCoordinator for group {:?}", self.settings.group_id),
                    message.map(|m| m.as_str().to_owned()),
                ));
            }
            let port = u16::try_from(port).map_err(|_| {
                KafkaError::protocol(conn.addr(), format!("coordinator port {port} is invalid"))
            })?;
            return Ok((host.as_str().to_owned(), port));
        }
        self.cluster.invalidate(generation);
        Err(last.unwrap_or_else(|| {
            KafkaError::connection(
                &self.cluster.config.bootstrap_servers.join(","),
                "no broker known to ask for the group coordinator",
            )
        }))
    }

    /// Joins (or rejoins) the group and returns this member's assignment.
    /// Retriable errors are retried; the protocol's member-id dance
    /// (MEMBER_ID_REQUIRED, UNKNOWN_MEMBER_ID) is handled.
    ///
    /// `owned`: the partitions this member had (the sticky assignors keep
    /// them in place where they can). They count only while the member
    /// keeps its id and generation; once the group has forgotten the
    /// member they are reported as lost, since others may hold them now.
    pub(crate) async fn join(
        &self,
        topics: &BTreeSet<String>,
        mut owned: BTreeMap<String, Vec<i32>>,
    ) -> Result<Joined> {
        let mut backoff = self.backoff();
        let gid = &self.settings.group_id;
        let mut lost = false;
        loop {
            if let Some(e) = self.take_fatal() {
                return Err(e);
            }
            let conn = match self.coordinator().await {
                Ok(c) => c,
                Err(e) if e.is_retriable() => {
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let (member_id, owned_generation) = {
                let st = self.lock();
                (st.member_id.clone(), st.generation)
            };
            if owned_generation < 0 && owned.values().any(|ps| !ps.is_empty()) {
                lost = true;
                owned.clear();
            }
            let mut req = JoinGroupRequest::default()
                .with_group_id(group_id(gid))
                .with_session_timeout_ms(millis(self.settings.session_timeout))
                .with_rebalance_timeout_ms(millis(self.settings.rebalance_timeout))
                .with_member_id(StrBytes::from_string(member_id))
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocols(
                    self.settings
                        .assignors
                        .iter()
                        .map(|a| {
                            JoinGroupRequestProtocol::default()
                                .with_name(StrBytes::from_static_str(a.name()))
                                .with_metadata(assignor::encode_subscription(
                                    *a,
                                    topics,
                                    &owned,
                                    owned_generation,
                                ))
                        })
                        .collect(),
                );
            if conn.version_for(ApiKey::JoinGroup)? >= 5 {
                req.group_instance_id = self
                    .settings
                    .instance_id
                    .as_ref()
                    .map(|s| StrBytes::from_string(s.clone()));
            }
            // The broker holds JoinGroup until every member has joined.
            let Some(resp) = self.held_request(&conn, &req, &mut backoff).await? else {
                continue;
            };
            match ErrorCode::from_code(resp.error_code) {
                None => {}
                Some(ErrorCode::MemberIdRequired) => {
                    // KIP-394: retry at once with the id the broker gave us.
                    self.lock().member_id = resp.member_id.as_str().to_owned();
                    continue;
                }
                Some(ErrorCode::UnknownMemberId) => {
                    self.forget_member();
                    continue;
                }
                Some(c) if coordinator_moved(c) => {
                    self.reset_coordinator().await;
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
                Some(
                    ErrorCode::CoordinatorLoadInProgress
                    | ErrorCode::RebalanceInProgress
                    | ErrorCode::IllegalGeneration,
                ) => {
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
                Some(code) => {
                    return Err(KafkaError::broker(
                        code,
                        format!("JoinGroup of group {gid:?}"),
                        None,
                    ));
                }
            }
            let member_id = resp.member_id.as_str().to_owned();
            let generation = resp.generation_id;
            {
                let mut st = self.lock();
                st.member_id = member_id.clone();
                st.generation = generation;
            }
            let (assignments, led_counts) = if resp.leader == resp.member_id {
                let (a, counts) = self.lead(&resp).await?;
                (a, Some(counts))
            } else {
                (Vec::new(), None)
            };
            let mut sync = SyncGroupRequest::default()
                .with_group_id(group_id(gid))
                .with_generation_id(generation)
                .with_member_id(resp.member_id.clone())
                .with_assignments(
                    assignments
                        .into_iter()
                        .map(|(m, a)| {
                            SyncGroupRequestAssignment::default()
                                .with_member_id(StrBytes::from_string(m))
                                .with_assignment(a)
                        })
                        .collect(),
                );
            let v = conn.version_for(ApiKey::SyncGroup)?;
            if v >= 3 {
                sync.group_instance_id = req.group_instance_id.clone();
            }
            if v >= 5 {
                sync.protocol_type = Some(StrBytes::from_static_str("consumer"));
                sync.protocol_name = resp.protocol_name.clone();
            }
            let Some(sresp) = self.held_request(&conn, &sync, &mut backoff).await? else {
                continue;
            };
            match ErrorCode::from_code(sresp.error_code) {
                None => {}
                Some(ErrorCode::RebalanceInProgress | ErrorCode::IllegalGeneration) => continue,
                Some(ErrorCode::UnknownMemberId) => {
                    self.forget_member();
                    continue;
                }
                Some(c) if coordinator_moved(c) => {
                    self.reset_coordinator().await;
                    continue;
                }
                Some(code) => {
                    return Err(KafkaError::broker(
                        code,
                        format!("SyncGroup of group {gid:?}"),
                        None,
                    ));
                }
            }
            let assignment = assignor::decode_assignment(&sresp.assignment)
                .map_err(|e| KafkaError::protocol(conn.addr(), e))?;
            {
                let mut st = self.lock();
                st.stable = true;
                st.rejoin = false;
                st.last_poll = Instant::now();
                st.led_counts = led_counts;
            }
            tracing::info!(group = %gid, generation, member = %member_id, ?assignment, "joined the group");
            return Ok(Joined { assignment, lost });
        }
    }

    /// Sends a request the coordinator may hold for up to the rebalance
    /// timeout (JoinGroup, SyncGroup). `Ok(None)` after a retriable failure:
    /// the coordinator is looked up again after a backoff, so the caller
    /// starts the join over.
    async fn held_request<A: crate::api::Api>(
        &self,
        conn: &Messenger,
        req: &A,
        backoff: &mut Backoff,
    ) -> Result<Option<A::Response>> {
        match conn
            .request_with_extra_time(req, self.settings.rebalance_timeout)
            .await
        {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.is_retriable() => {
                self.reset_coordinator().await;
                tokio::time::sleep(backoff.next_delay()).await;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The leader's part: decode every member's subscription, learn the
    /// partition counts, run the chosen assignor, encode the results. Also
    /// returns the counts used, to notice when they change.
    async fn lead(
        &self,
        resp: &JoinGroupResponse,
    ) -> Result<(Vec<(String, Bytes)>, BTreeMap<String, i32>)> {
        let protocol = resp
            .protocol_name
            .as_ref()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let Some(assignor) = Assignor::from_name(&protocol).filter(|a| {
            // The broker picks among the protocols every member offered.
            self.settings.assignors.contains(a)
        }) else {
            return Err(KafkaError::InvalidArgument(format!(
                "the group chose assignor {protocol:?}, which this consumer does not implement"
            )));
        };
        let mut members = BTreeMap::new();
        let mut all_topics = BTreeSet::new();
        for m in &resp.members {
            let sub = assignor::decode_subscription(&m.metadata).map_err(|e| {
                KafkaError::protocol(
                    "coordinator",
                    format!("member {}: {e}", m.member_id.as_str()),
                )
            })?;
            all_topics.extend(sub.topics.iter().cloned());
            members.insert(m.member_id.as_str().to_owned(), sub.for_assignor(assignor));
        }
        let deadline = Instant::now()
            + self
                .cluster
                .config
                .request_timeout
                .min(Duration::from_secs(10));
        let mut counts = BTreeMap::new();
        for t in &all_topics {
            match self.cluster.wait_topic(t, deadline).await {
                Ok(snap) => {
                    if let Some(tm) = snap.topic(t) {
                        let n = tm.partitions.iter().map(|p| p.id + 1).max().unwrap_or(0);
                        counts.insert(t.clone(), n);
                    }
                }
                // As the Java leader does: a topic without metadata gets
                // no assignment (it may be created later).
                Err(e) => {
                    tracing::warn!(topic = %t, error = %e, "no metadata for subscribed topic")
                }
            }
        }
        let plan = assignor.assign(&members, &counts);
        let mut used = counts;
        for t in all_topics {
            used.entry(t).or_insert(0);
        }
        let encoded = plan
            .into_iter()
            .map(|(m, a)| (m, assignor::encode_assignment(&a)))
            .collect();
        Ok((encoded, used))
    }

    /// As the leader: a topic's partition count differs from the one the
    /// current assignment was made with (partitions added, or a topic that
    /// had no metadata now exists). Which topic, and both counts.
    fn partition_count_change(&self) -> Option<(String, i32, i32)> {
        let st = self.lock();
        let led = st.led_counts.as_ref()?;
        let (snap, _) = self.cluster.metadata();
        led.iter().find_map(|(t, &was)| {
            let now = snap
                .topic(t)
                .map(|tm| tm.partitions.iter().map(|p| p.id + 1).max().unwrap_or(0))?;
            (now != was).then(|| (t.clone(), was, now))
        })
    }

    /// Sends heartbeats every `heartbeat_interval` while the membership is
    /// stable; turns their errors into rejoin requests. Also leaves the
    /// group when the application stops polling for `max_poll_interval`.
    pub(crate) async fn heartbeat_loop(self: Arc<Group>) {
        let gid = self.settings.group_id.clone();
        loop {
            tokio::time::sleep(self.settings.heartbeat_interval).await;
            let (member_id, generation, stable, idle) = {
                let mut st = self.lock();
                if st.polls != st.seen_polls {
                    st.seen_polls = st.polls;
                    st.last_poll = Instant::now();
                }
                (
                    st.member_id.clone(),
                    st.generation,
                    st.stable && !st.rejoin,
                    st.last_poll.elapsed(),
                )
            };
            if !stable {
                continue;
            }
            if idle > self.settings.max_poll_interval {
                tracing::warn!(group = %gid, ?idle, "no poll within max_poll_interval; leaving the group");
                self.leave("consumer poll timeout has expired").await;
                self.request_rejoin(generation, true, "max_poll_interval expired");
                continue;
            }
            if let Some((topic, was, now)) = self.partition_count_change() {
                tracing::info!(group = %gid, %topic, was, now, "partition count changed");
                self.request_rejoin(generation, false, "the partition count of a topic changed");
                continue;
            }
            let conn = match self.coordinator().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(group = %gid, error = %e, "heartbeat: no coordinator");
                    continue;
                }
            };
            let mut req = HeartbeatRequest::default()
                .with_group_id(group_id(&gid))
                .with_generation_id(generation)
                .with_member_id(StrBytes::from_string(member_id));
            if conn.version_for(ApiKey::Heartbeat).unwrap_or(0) >= 3 {
                req.group_instance_id = self
                    .settings
                    .instance_id
                    .as_ref()
                    .map(|s| StrBytes::from_string(s.clone()));
            }
            match conn.request(&req).await {
                Ok(resp) => match ErrorCode::from_code(resp.error_code) {
                    None => {}
                    Some(ErrorCode::RebalanceInProgress) => {
                        self.request_rejoin(generation, false, "rebalance in progress");
                    }
                    Some(ErrorCode::IllegalGeneration | ErrorCode::UnknownMemberId) => {
                        self.request_rejoin(generation, true, "membership lost");
                    }
                    Some(c) if coordinator_moved(c) => self.reset_coordinator().await,
                    Some(ErrorCode::FencedInstanceId) => {
                        let mut st = self.lock();
                        st.fatal = Some(KafkaError::broker(
                            ErrorCode::FencedInstanceId,
                            format!(
                                "Heartbeat of group {gid:?}: another consumer uses this group_instance_id"
                            ),
                            None,
                        ));
                        drop(st);
                        self.wake.notify_one();
                    }
                    Some(code) => {
                        tracing::warn!(group = %gid, error = %code, "heartbeat failed");
                    }
                },
                Err(e) => {
                    tracing::debug!(group = %gid, error = %e, "heartbeat failed; finding the coordinator again");
                    self.reset_coordinator().await;
                }
            }
        }
    }

    /// Leaves the group (best effort). Static members (with a
    /// `group_instance_id`) do not, as in Java: their partitions stay
    /// theirs until the session times out, so a restart causes no
    /// rebalance.
    pub(crate) async fn leave(&self, reason: &str) {
        let member_id = {
            let mut st = self.lock();
            st.stable = false;
            st.rejoin = true;
            std::mem::take(&mut st.member_id)
        };
        if member_id.is_empty() || self.settings.instance_id.is_some() {
            return;
        }
        let Some(conn) = self.coordinator.lock().await.clone() else {
            return;
        };
        let v = conn.version_for(ApiKey::LeaveGroup).unwrap_or(0);
        let mut req = LeaveGroupRequest::default().with_group_id(group_id(&self.settings.group_id));
        if v >= 3 {
            let mut m = MemberIdentity::default().with_member_id(StrBytes::from_string(member_id));
            if v >= 5 {
                m.reason = Some(StrBytes::from_string(reason.to_owned()));
            }
            req.members = vec![m];
        } else {
            req.member_id = StrBytes::from_string(member_id);
        }
        match conn.request(&req).await {
            Ok(r) if r.error_code == 0 => {
                tracing::debug!(group = %self.settings.group_id, "left the group");
            }
            Ok(r) => {
                tracing::debug!(group = %self.settings.group_id, code = r.error_code, "LeaveGroup failed")
            }
            Err(e) => {
                tracing::debug!(group = %self.settings.group_id, error = %e, "LeaveGroup failed")
            }
        }
    }

    /// Closes the coordinator connection.
    pub(crate) async fn shutdown(&self) {
        if let Some(c) = self.coordinator.lock().await.take() {
            c.poison(KafkaError::Closed("consumer closed".into()));
        }
    }

    /// Commits `offsets` (next offset to read, per partition) with the
    /// current generation. Coordinator moves are retried; a lost
    /// membership fails the commit (and asks for a rejoin).
    /// Commits `offsets`: partition → (offset, leader epoch of the record
    /// before it, when known).
    pub(crate) async fn commit(
        &self,
        offsets: &BTreeMap<TopicPartition, (i64, Option<i32>)>,
    ) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let gid = &self.settings.group_id;
        let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for (tp, &(off, epoch)) in offsets {
            by_topic.entry(&tp.topic).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(tp.partition)
                    .with_committed_offset(off)
                    .with_committed_leader_epoch(epoch.unwrap_or(-1)),
            );
        }
        let topics: Vec<OffsetCommitRequestTopic> = by_topic
            .into_iter()
            .map(|(t, ps)| {
                OffsetCommitRequestTopic::default()
                    .with_name(topic_name(t))
                    .with_partitions(ps)
            })
            .collect();
        let deadline = self.deadline();
        let mut backoff = self.backoff();
        loop {
            let (member_id, generation) = {
                let st = self.lock();
                if st.stable || st.generation >= 0 {
                    (st.member_id.clone(), st.generation)
                } else {
                    (String::new(), -1)
                }
            };
            let retry = match self.commit_once(&topics, &member_id, generation).await {
                Ok(()) => return Ok(()),
                Err(e) => match e.code() {
                    Some(
                        ErrorCode::RebalanceInProgress
                        | ErrorCode::IllegalGeneration
                        | ErrorCode::UnknownMemberId,
                    ) => {
                        let reset = e.code() != Some(ErrorCode::RebalanceInProgress);
                        self.request_rejoin(generation, reset, "commit refused");
                        return Err(e);
                    }
                    Some(c) if coordinator_moved(c) => {
                        self.reset_coordinator().await;
                        e
                    }
                    _ if e.is_retriable() => {
                        if matches!(
                            e,
                            KafkaError::Connection { .. } | KafkaError::Timeout { .. }
                        ) {
                            self.reset_coordinator().await;
                        }
                        e
                    }
                    _ => return Err(e),
                },
            };
            if Instant::now() >= deadline {
                return Err(retry);
            }
            tracing::debug!(group = %gid, error = %retry, "commit failed; retrying");
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    async fn commit_once(
        &self,
        topics: &[OffsetCommitRequestTopic],
        member_id: &str,
        generation: i32,
    ) -> Result<()> {
        let conn = self.coordinator().await?;
        let mut req = OffsetCommitRequest::default()
            .with_group_id(group_id(&self.settings.group_id))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(StrBytes::from_string(member_id.to_owned()))
            .with_topics(topics.to_vec());
        if conn.version_for(ApiKey::OffsetCommit)? >= 7 && generation >= 0 {
            req.group_instance_id = self
                .settings
                .instance_id
                .as_ref()
                .map(|s| StrBytes::from_string(s.clone()));
        }
        let resp = conn.request(&req).await?;
        for t in &resp.topics {
            for p in &t.partitions {
                if let Some(code) = ErrorCode::from_code(p.error_code) {
                    return Err(KafkaError::broker(
                        code,
                        format!(
                            "OffsetCommit of {}-{} for group {:?}",
                            t.name.0.as_str(),
                            p.partition_index,
                            self.settings.group_id
                        ),
                        None,
                    ));
                }
            }
        }
        Ok(())
    }

    /// The committed offsets of `parts` (`None` where nothing is committed).
    pub(crate) async fn committed_with_epochs(
        &self,
        parts: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, Option<(i64, Option<i32>)>>> {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in parts {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        let topics: Vec<OffsetFetchRequestTopic> = by_topic
            .into_iter()
            .map(|(t, ps)| {
                OffsetFetchRequestTopic::default()
                    .with_name(topic_name(t))
                    .with_partition_indexes(ps)
            })
            .collect();
        let deadline = self.deadline();
        let mut backoff = self.backoff();
        loop {
            let err = match self.committed_once(&topics).await {
                Ok(m) => return Ok(m),
                Err(e) => e,
            };
            if let Some(c) = err.code() {
                if coordinator_moved(c) {
                    self.reset_coordinator().await;
                }
            } else if err.is_retriable() {
                self.reset_coordinator().await;
            }
            if !err.is_retriable() || Instant::now() >= deadline {
                return Err(err);
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    async fn committed_once(
        &self,
        topics: &[OffsetFetchRequestTopic],
    ) -> Result<HashMap<TopicPartition, Option<(i64, Option<i32>)>>> {
        let conn = self.coordinator().await?;
        let v = conn.version_for(ApiKey::OffsetFetch)?;
        let mut req = OffsetFetchRequest::default()
            .with_group_id(group_id(&self.settings.group_id))
            .with_topics(Some(topics.to_vec()));
        if v >= 7 {
            // Wait for pending transactional commits rather than read stale.
            req.require_stable = true;
        }
        let resp = conn.request(&req).await?;
        let ctx = || format!("OffsetFetch for group {:?}", self.settings.group_id);
        if let Some(code) = ErrorCode::from_code(resp.error_code) {
            return Err(KafkaError::broker(code, ctx(), None));
        }
        let mut out = HashMap::new();
        for t in &resp.topics {
            for p in &t.partitions {
                if let Some(code) = ErrorCode::from_code(p.error_code) {
                    return Err(KafkaError::broker(code, ctx(), None));
                }
                out.insert(
                    TopicPartition::new(t.name.0.as_str(), p.partition_index),
                    (p.committed_offset >= 0).then_some((
                        p.committed_offset,
                        Some(p.committed_leader_epoch).filter(|e| *e >= 0),
                    )),
                );
            }
        }
        Ok(out)
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
