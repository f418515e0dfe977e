//! The shared core of every client role: the generation-tagged metadata
//! cache and one connection per broker id.
//!
//! Generations: every caller that sees a failure passes the generation of
//! the metadata it acted on. A refresh only happens if no newer generation
//! exists by the time the caller gets the refresh lock, so N requests
//! failing together cause one Metadata request, not N.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use rand::seq::SliceRandom as _;
use tokio::time::Instant;

use crate::api::Api;
use crate::backoff::Backoff;
use crate::config::{ClientConfig, parse_host_port};
use crate::connection;
use crate::error::{KafkaError, Result};
use crate::messenger::Messenger;
use crate::metadata::ClusterMetadata;

struct MetaState {
    snapshot: Arc<ClusterMetadata>,
    generation: u64,
    /// Someone reported the snapshot wrong; the next refresh must happen.
    stale: bool,
    refreshed_at: Option<Instant>,
    /// Topics to ask for in every refresh.
    interest: BTreeSet<String>,
}

#[derive(Default)]
struct BrokerSlot {
    conn: Option<Arc<Messenger>>,
    failures: u32,
    last_failure: Option<Instant>,
}

/// See the module docs.
pub(crate) struct Cluster {
    pub(crate) config: ClientConfig,
    bootstrap: Vec<(String, u16)>,
    meta: Mutex<MetaState>,
    refresh_lock: tokio::sync::Mutex<()>,
    brokers: Mutex<HashMap<i32, Arc<tokio::sync::Mutex<BrokerSlot>>>>,
    /// Connection to a bootstrap address, used for metadata until a broker
    /// connection by id exists.
    bootstrap_conn: tokio::sync::Mutex<Option<Arc<Messenger>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Critical sections here never leave data half-updated.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Cluster {
    /// Validates `config` and fetches the first metadata from any bootstrap
    /// server.
    pub(crate) async fn connect(config: ClientConfig) -> Result<Arc<Cluster>> {
        config.validate()?;
        let bootstrap = config
            .bootstrap_servers
            .iter()
            .map(|s| parse_host_port(s))
            .collect::<Result<Vec<_>>>()?;
        let c = Arc::new(Cluster {
            config,
            bootstrap,
            meta: Mutex::new(MetaState {
                snapshot: Arc::new(ClusterMetadata::default()),
                generation: 0,
                stale: true,
                refreshed_at: None,
                interest: BTreeSet::new(),
            }),
            refresh_lock: tokio::sync::Mutex::new(()),
            brokers: Mutex::new(HashMap::new()),
            bootstrap_conn: tokio::sync::Mutex::new(None),
        });
        c.refresh(0).await?;
        Ok(c)
    }

    /// The current snapshot and its generation.
    pub(crate) fn metadata(&self) -> (Arc<ClusterMetadata>, u64) {
        let st = lock(&self.meta);
        (Arc::clone(&st.snapshot), st.generation)
    }

    /// Marks generation `generation` as wrong. Reports against an older
    /// generation are ignored: a refresh already happened since.
    pub(crate) fn invalidate(&self, generation: u64) {
        let mut st = lock(&self.meta);
        if st.generation == generation {
            st.stale = true;
        }
    }

    /// The generation to refresh from, if the snapshot is stale or old.
    pub(crate) fn needs_refresh(&self) -> Option<u64> {
        let st = lock(&self.meta);
        let old = st
            .refreshed_at
            .is_none_or(|t| t.elapsed() >= self.config.metadata_max_age);
        (st.stale || old).then_some(st.generation)
    }

    /// Adds topics to those asked for in every refresh.
    pub(crate) fn add_interest<'a>(&self, topics: impl IntoIterator<Item = &'a str>) -> bool {
        let mut st = lock(&self.meta);
        let mut added = false;
        for t in topics {
            if !st.interest.contains(t) {
                st.interest.insert(t.to_owned());
                added = true;
            }
        }
        if added {
            st.stale = true;
        }
        added
    }

    /// Refreshes the metadata unless someone else did since `seen`.
    pub(crate) async fn refresh(&self, seen: u64) -> Result<(Arc<ClusterMetadata>, u64)> {
        let _guard = self.refresh_lock.lock().await;
        let topics = {
            let st = lock(&self.meta);
            if st.generation != seen && !st.stale {
                return Ok((Arc::clone(&st.snapshot), st.generation));
            }
            st.interest.iter().cloned().collect::<Vec<_>>()
        };
        let req = MetadataRequest::default()
            .with_topics(Some(
                topics
                    .iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                    })
                    .collect(),
            ))
            .with_allow_auto_topic_creation(self.config.allow_auto_topic_creation);
        let resp = self.any_request(&req).await?;
        let mut fresh = ClusterMetadata::from_response(&resp);
        let mut st = lock(&self.meta);
        fresh.keep_newer_epochs(&st.snapshot);
        let snapshot = Arc::new(fresh);
        st.snapshot = Arc::clone(&snapshot);
        st.generation += 1;
        st.stale = false;
        st.refreshed_at = Some(Instant::now());
        tracing::debug!(
            generation = st.generation,
            brokers = snapshot.brokers.len(),
            topics = snapshot.topics.len(),
            "metadata refreshed"
        );
        Ok((snapshot, st.generation))
    }

    /// Waits until `topic` has usable metadata (auto-creating it if allowed
    /// and needed), or `deadline`.
    pub(crate) async fn wait_topic(
        &self,
        topic: &str,
        deadline: Instant,
    ) -> Result<Arc<ClusterMetadata>> {
        if topic.is_empty() {
            return Err(KafkaError::InvalidArgument("empty topic name".into()));
        }
        self.add_interest([topic]);
        let mut backoff = Backoff::new(self.config.retry_backoff, self.config.retry_backoff_max);
        let mut last_err: Option<KafkaError> = None;
        let mut first = true;
        loop {
            let (snap, generation) = self.metadata();
            if let Some(t) = snap.topic(topic) {
                match t.error {
                    None if !t.partitions.is_empty() => return Ok(snap),
                    Some(code) if !code.is_retriable() => {
                        return Err(KafkaError::broker(
                            code,
                            format!("metadata of topic {topic:?}"),
                            None,
                        ));
                    }
                    Some(code) => {
                        last_err = Some(KafkaError::broker(
                            code,
                            format!("metadata of topic {topic:?}"),
                            None,
                        ));
                    }
                    None => {}
                }
            }
            let now = Instant::now();
            if now >= deadline {
                let why = last_err
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default();
                return Err(KafkaError::Timeout {
                    what: format!("metadata of topic {topic:?}{why}"),
                    timeout: deadline.saturating_duration_since(now),
                });
            }
            if !first {
                tokio::time::sleep_until((now + backoff.next_delay()).min(deadline)).await;
            }
            first = false;
            self.invalidate(generation);
            match tokio::time::timeout_at(deadline, self.refresh(generation)).await {
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(e)) if e.is_config_problem() => return Err(e),
                Ok(Err(e)) => last_err = Some(e),
            }
        }
    }

    /// Sends a request to whichever broker answers: a live connection
    /// first, else known brokers, else the bootstrap servers.
    pub(crate) async fn any_request<A: Api>(&self, req: &A) -> Result<A::Response> {
        // Live connections first, without connecting.
        let live: Vec<Arc<Messenger>> = {
            let slots: Vec<_> = lock(&self.brokers).values().cloned().collect();
            let mut v = Vec::new();
            for s in slots {
                if let Ok(s) = s.try_lock() {
                    if let Some(c) = s.conn.as_ref().filter(|c| !c.is_poisoned()) {
                        v.push(Arc::clone(c));
                    }
                }
            }
            v
        };
        let mut last_err = None;
        for c in live {
            match c.request(req).await {
                Ok(r) => return Ok(r),
                Err(e) => last_err = Some(e),
            }
        }
        // Known brokers, in random order to spread the load.
        let mut ids: Vec<i32> = self.metadata().0.brokers.keys().copied().collect();
        ids.shuffle(&mut rand::rng());
        for id in ids {
            match self.broker(id).await {
                Ok(c) => match c.request(req).await {
                    Ok(r) => return Ok(r),
                    Err(e) => last_err = Some(e),
                },
                Err(e) if e.is_config_problem() => return Err(e),
                Err(e) => last_err = Some(e),
            }
        }
        // Bootstrap servers, in the order given.
        let mut slot = self.bootstrap_conn.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_poisoned()) {
            match c.request(req).await {
                Ok(r) => return Ok(r),
                Err(e) => last_err = Some(e),
            }
        }
        *slot = None;
        for (host, port) in &self.bootstrap {
            match connection::open(host, *port, &self.config).await {
                Ok(c) => {
                    *slot = Some(Arc::clone(&c));
                    match c.request(req).await {
                        Ok(r) => return Ok(r),
                        Err(e) => last_err = Some(e),
                    }
                }
                Err(e) if e.is_config_problem() => return Err(e),
                Err(e) => last_err = Some(e),
            }
        }
        Err(match last_err {
            Some(e) if self.bootstrap.len() == 1 => e,
            Some(e) => KafkaError::Connection {
                broker: self.config.bootstrap_servers.join(","),
                detail: format!("no broker reachable; last error: {e}"),
                source: Some(Arc::new(e)),
            },
            None => {
                KafkaError::connection(&self.config.bootstrap_servers.join(","), "no broker to ask")
            }
        })
    }

    /// The live connection to broker `id`, if one is open and nobody is
    /// (re)connecting it right now: the synchronous fast path of
    /// [`Cluster::broker`].
    pub(crate) fn connected(&self, id: i32) -> Option<Arc<Messenger>> {
        let slot = Arc::clone(lock(&self.brokers).get(&id)?);
        let slot = slot.try_lock().ok()?;
        slot.conn.as_ref().filter(|c| !c.is_poisoned()).cloned()
    }

    /// The connection to broker `id`, opening it if needed. One connection
    /// per broker: concurrent callers wait for the same connect.
    pub(crate) async fn broker(&self, id: i32) -> Result<Arc<Messenger>> {
        let slot = Arc::clone(lock(&self.brokers).entry(id).or_default());
        let mut slot = slot.lock().await;
        if let Some(c) = slot.conn.as_ref().filter(|c| !c.is_poisoned()) {
            return Ok(Arc::clone(c));
        }
        slot.conn = None;
        if let Some(t) = slot.last_failure {
            let wait = Backoff::delay_for(
                self.config.reconnect_backoff,
                self.config.reconnect_backoff_max,
                slot.failures.saturating_sub(1),
            );
            tokio::time::sleep_until(t + wait).await;
        }
        let (snap, generation) = self.metadata();
        let Some(b) = snap.broker(id) else {
            self.invalidate(generation);
            return Err(KafkaError::connection(
                &format!("broker {id}"),
                "broker is not in the metadata",
            ));
        };
        if let Some(c) = self.adopt_bootstrap(&b.host, b.port) {
            slot.conn = Some(Arc::clone(&c));
            slot.failures = 0;
            slot.last_failure = None;
            return Ok(c);
        }
        match connection::open(&b.host, b.port, &self.config).await {
            Ok(c) => {
                slot.conn = Some(Arc::clone(&c));
                slot.failures = 0;
                slot.last_failure = None;
                Ok(c)
            }
            Err(e) => {
                slot.failures = slot.failures.saturating_add(1);
                slot.last_failure = Some(Instant::now());
                // The broker may have moved or died: let metadata tell.
                self.invalidate(generation);
                Err(e)
            }
        }
    }

    /// The bootstrap connection, if it goes to `host:port` as given, taken
    /// over as a broker's connection: a second connection to the same
    /// address would cost a TCP (and TLS) handshake, ApiVersions and a
    /// SASL exchange (SCRAM's key derivation included) before the first
    /// request to the broker, which a short-lived client (one CLI write)
    /// feels. Not if the bootstrap connection is busy (a request or a
    /// connect in progress): a new connection is no slower than waiting.
    fn adopt_bootstrap(&self, host: &str, port: u16) -> Option<Arc<Messenger>> {
        let mut boot = self.bootstrap_conn.try_lock().ok()?;
        let c = boot.as_ref().filter(|c| !c.is_poisoned())?;
        if c.addr() != connection::authority(host, port) {
            return None;
        }
        tracing::debug!(broker = %c.addr(), "bootstrap connection kept as the broker's");
        boot.take()
    }

    /// Kills every connection; pending requests fail with `err(addr)`.
    pub(crate) fn poison_all(&self, err: impl Fn(&str) -> KafkaError + Send + Sync + 'static) {
        let err = Arc::new(err);
        let slots: Vec<_> = lock(&self.brokers).values().cloned().collect();
        for s in slots {
            if let Ok(s) = s.try_lock() {
                if let Some(c) = &s.conn {
                    c.poison(err(c.addr()));
                }
            } else {
                // Being connected right now; poison it once available.
                let err = Arc::clone(&err);
                tokio::spawn(async move {
                    if let Some(c) = &s.lock().await.conn {
                        c.poison(err(c.addr()));
                    }
                });
            }
        }
        if let Ok(b) = self.bootstrap_conn.try_lock() {
            if let Some(c) = b.as_ref() {
                c.poison(err(c.addr()));
            }
        }
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("bootstrap", &self.config.bootstrap_servers)
            .field("generation", &self.metadata().1)
            .finish_non_exhaustive()
    }
}

/// A connection to a cluster, for metadata and diagnostics. Producers open
/// their own.
#[derive(Debug, Clone)]
pub struct Client {
    cluster: Arc<Cluster>,
}

impl Client {
    /// Connects to any bootstrap server and fetches the cluster metadata.
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        Ok(Client {
            cluster: Cluster::connect(config).await?,
        })
    }

    /// The last known metadata.
    pub fn metadata(&self) -> Arc<ClusterMetadata> {
        self.cluster.metadata().0
    }

    /// Fetches fresh metadata including `topics` (auto-created if allowed).
    pub async fn refresh_metadata(&self, topics: &[&str]) -> Result<Arc<ClusterMetadata>> {
        self.cluster.add_interest(topics.iter().copied());
        let (_, generation) = self.cluster.metadata();
        self.cluster.invalidate(generation);
        Ok(self.cluster.refresh(generation).await?.0)
    }

    /// The API versions negotiated with broker `id`: `(API name, version)`.
    pub async fn api_versions(&self, broker_id: i32) -> Result<Vec<(String, i16)>> {
        let c = self.cluster.broker(broker_id).await?;
        Ok(c.versions()
            .map(|v| {
                v.chosen()
                    .into_iter()
                    .map(|(k, v)| (format!("{k:?}"), v))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Creates `topic` with `partitions` partitions and
    /// `replication_factor` replicas (`None`: the broker's default), and
    /// waits until its metadata is usable. An existing topic fails with
    /// [`ErrorCode::TopicAlreadyExists`](crate::ErrorCode::TopicAlreadyExists).
    pub async fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
        replication_factor: Option<i16>,
    ) -> Result<()> {
        use kafka_protocol::messages::CreateTopicsRequest;
        use kafka_protocol::messages::create_topics_request::CreatableTopic;

        if topic.is_empty() || partitions < 1 {
            return Err(KafkaError::InvalidArgument(format!(
                "create_topic: bad name {topic:?} or partition count {partitions}"
            )));
        }
        let timeout = self.cluster.config.request_timeout;
        let req = CreateTopicsRequest::default()
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                    .with_num_partitions(partitions)
                    .with_replication_factor(replication_factor.unwrap_or(-1)),
            ])
            .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX));
        // KRaft brokers forward to the controller; ask it directly when known.
        let resp = match self.cluster.metadata().0.controller_id {
            Some(id) => match self.cluster.broker(id).await {
                Ok(c) => c.request(&req).await?,
                Err(_) => self.cluster.any_request(&req).await?,
            },
            None => self.cluster.any_request(&req).await?,
        };
        for t in &resp.topics {
            if let Some(code) = crate::error::ErrorCode::from_code(t.error_code) {
                return Err(KafkaError::broker(
                    code,
                    format!("CreateTopics {topic:?}"),
                    t.error_message.as_ref().map(|m| m.as_str().to_owned()),
                ));
            }
        }
        self.cluster
            .wait_topic(topic, Instant::now() + timeout)
            .await
            .map(|_| ())
    }

    /// Closes every connection.
    pub fn close(&self) {
        self.cluster
            .poison_all(|_| KafkaError::Closed("client closed".into()));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::{ApiKey, BrokerId, MetadataResponse};

    use super::*;
    use crate::scripted;

    /// A TCP broker that answers ApiVersions and Metadata (one topic "t"
    /// with one partition led by itself), counting Metadata requests and
    /// ApiVersions ones (one per connection).
    async fn scripted_broker(
        metadata_requests: Arc<AtomicUsize>,
        api_versions_requests: Arc<AtomicUsize>,
    ) -> u16 {
        scripted::serve(move |req| {
            let counter = Arc::clone(&metadata_requests);
            let connections = Arc::clone(&api_versions_requests);
            async move {
                let v = req.version;
                match req.key {
                    ApiKey::ApiVersions => {
                        connections.fetch_add(1, Ordering::SeqCst);
                        Some(scripted::body(
                            &scripted::versions(&[
                                (ApiKey::ApiVersions, 0, 3),
                                (ApiKey::Metadata, 0, 12),
                            ]),
                            v,
                        ))
                    }
                    ApiKey::Metadata => {
                        counter.fetch_add(1, Ordering::SeqCst);
                        // Slow enough for concurrent callers to pile up.
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Some(scripted::body(
                            &MetadataResponse::default()
                                .with_brokers(vec![
                                    MetadataResponseBroker::default()
                                        .with_node_id(BrokerId(0))
                                        .with_host("127.0.0.1".into())
                                        .with_port(i32::from(req.port)),
                                ])
                                .with_topics(vec![
                                    MetadataResponseTopic::default()
                                        .with_name(Some(TopicName("t".into())))
                                        .with_partitions(vec![
                                            MetadataResponsePartition::default()
                                                .with_leader_id(BrokerId(0)),
                                        ]),
                                ]),
                            v,
                        ))
                    }
                    _ => None,
                }
            }
        })
        .await
    }

    #[tokio::test]
    async fn concurrent_failures_cause_one_refresh() {
        let count = Arc::new(AtomicUsize::new(0));
        let port = scripted_broker(Arc::clone(&count), Arc::default()).await;
        let c = Cluster::connect(ClientConfig::new([format!("127.0.0.1:{port}")]))
            .await
            .expect("bootstrap");
        assert_eq!(count.load(Ordering::SeqCst), 1, "bootstrap metadata");
        c.add_interest(["t"]);
        let (_, generation) = c.metadata();
        // Ten requests fail at once, each reporting the generation it used.
        let refreshes = (0..10).map(|_| {
            c.invalidate(generation);
            c.refresh(generation)
        });
        let results = futures::future::join_all(refreshes).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(
            count.load(Ordering::SeqCst),
            2,
            "one refresh for ten failures"
        );
        let (snap, now) = c.metadata();
        assert_eq!(now, generation + 1);
        assert_eq!(snap.leader("t", 0), Some(0));
        // A late report against the old generation changes nothing.
        c.invalidate(generation);
        assert_eq!(c.needs_refresh(), None);
        c.refresh(generation).await.expect("no-op");
        assert_eq!(count.load(Ordering::SeqCst), 2);
        // One connection per broker id, reused.
        let a = c.broker(0).await.expect("broker 0");
        let b = c.broker(0).await.expect("broker 0 again");
        assert!(Arc::ptr_eq(&a, &b));
        a.poison(KafkaError::connection("x", "test"));
        let d = c.broker(0).await.expect("reconnected");
        assert!(!Arc::ptr_eq(&a, &d));
    }

    #[tokio::test]
    async fn the_bootstrap_connection_becomes_the_brokers() {
        let connections = Arc::new(AtomicUsize::new(0));
        let port = scripted_broker(Arc::default(), Arc::clone(&connections)).await;
        // Bootstrapped at the address the broker advertises: one connection.
        let c = Cluster::connect(ClientConfig::new([format!("127.0.0.1:{port}")]))
            .await
            .expect("bootstrap");
        let a = c.broker(0).await.expect("broker 0");
        assert_eq!(connections.load(Ordering::SeqCst), 1);
        assert!(Arc::ptr_eq(&a, &c.broker(0).await.expect("again")));
        // Metadata now goes over the broker's connection.
        c.add_interest(["t"]);
        let (_, generation) = c.metadata();
        c.invalidate(generation);
        c.refresh(generation).await.expect("refresh");
        assert_eq!(connections.load(Ordering::SeqCst), 1);

        // Another spelling of the address: a connection of its own.
        connections.store(0, Ordering::SeqCst);
        let c = Cluster::connect(ClientConfig::new([format!("localhost:{port}")]))
            .await
            .expect("bootstrap");
        c.broker(0).await.expect("broker 0");
        assert_eq!(connections.load(Ordering::SeqCst), 2);
    }
}
