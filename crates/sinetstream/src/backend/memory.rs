//! The `memory` backend: in-process topics, for examples and tests.
//!
//! Topics live in a process-wide table keyed by the service's `brokers` value (any string;
//! default `"default"`) and the topic name, so unrelated tests do not see each other's messages
//! when they use different names. Each topic keeps its last `max_messages` messages (default
//! 100,000). A reader starts at the oldest kept message (`auto_offset_reset: earliest`, the
//! default) or after the newest (`latest`), and can seek either way.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use futures::future::BoxFuture;
use tokio::sync::Notify;

use super::{Backend, OpenContext, OutgoingMessage, RawMessage, ReaderBackend, WriterBackend};
use crate::error::{Error, Result};

/// Where a memory message sits in its topic (`RawMessage::meta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryMeta {
    /// Position in the topic, from 0.
    pub offset: u64,
}

#[derive(Default)]
struct TopicLog {
    first_offset: u64,
    messages: std::collections::VecDeque<RawMessage>,
}

struct Topic {
    log: Mutex<TopicLog>,
    notify: Notify,
    capacity: usize,
}

impl Topic {
    fn lock(&self) -> std::sync::MutexGuard<'_, TopicLog> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn end_offset(&self) -> u64 {
        let log = self.lock();
        log.first_offset + log.messages.len() as u64
    }
}

type Topics = Mutex<HashMap<(String, String), Arc<Topic>>>;
static TOPICS: LazyLock<Topics> = LazyLock::new(Topics::default);

fn topic(namespace: &str, name: &str, capacity: usize) -> Arc<Topic> {
    let mut t = TOPICS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    t.entry((namespace.to_owned(), name.to_owned()))
        .or_insert_with(|| {
            Arc::new(Topic {
                log: Mutex::new(TopicLog::default()),
                notify: Notify::new(),
                capacity,
            })
        })
        .clone()
}

fn namespace(ctx: &OpenContext<'_>) -> String {
    ctx.config
        .common()
        .str_list("brokers", false)
        .map(|b| b.join(","))
        .unwrap_or_else(|| "default".into())
}

/// The `memory` backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryBackend;

impl Backend for MemoryBackend {
    fn open_writer<'a>(
        &'a self,
        ctx: &'a OpenContext<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn WriterBackend>>> {
        Box::pin(async move {
            let capacity = capacity(ctx);
            Ok(Box::new(MemoryWriter {
                namespace: namespace(ctx),
                capacity,
            }) as Box<dyn WriterBackend>)
        })
    }

    fn open_reader<'a>(
        &'a self,
        ctx: &'a OpenContext<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn ReaderBackend>>> {
        Box::pin(async move {
            let ns = namespace(ctx);
            let capacity = capacity(ctx);
            let from_end = match ctx.config.backend().str("auto_offset_reset") {
                None | Some("earliest") => false,
                Some("latest") => true,
                Some(other) => {
                    return Err(Error::InvalidArgument(format!(
                        "service {:?}: auto_offset_reset must be earliest or latest, not {other:?}",
                        ctx.config.service()
                    )));
                }
            };
            let subs = ctx
                .topics
                .iter()
                .map(|name| {
                    let t = topic(&ns, name, capacity);
                    let next = if from_end { t.end_offset() } else { 0 };
                    (t, next)
                })
                .collect();
            Ok(Box::new(MemoryReader { subs, cursor: 0 }) as Box<dyn ReaderBackend>)
        })
    }
}

fn capacity(ctx: &OpenContext<'_>) -> usize {
    ctx.config
        .backend()
        .u64("max_messages")
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(100_000)
}

struct MemoryWriter {
    namespace: String,
    capacity: usize,
}

impl WriterBackend for MemoryWriter {
    fn publish(&mut self, msg: OutgoingMessage) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let t = topic(&self.namespace, &msg.topic, self.capacity);
            {
                let mut log = t.lock();
                let offset = log.first_offset + log.messages.len() as u64;
                let mut raw = RawMessage::new(msg.topic, msg.payload);
                raw.timestamp_us = Some(msg.timestamp_us);
                raw.meta = Some(Arc::new(MemoryMeta { offset }));
                log.messages.push_back(raw);
                while log.messages.len() > t.capacity {
                    log.messages.pop_front();
                    log.first_offset += 1;
                }
            }
            t.notify.notify_waiters();
            Ok(())
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn close(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

struct MemoryReader {
    /// Each subscribed topic with the offset of the next message to deliver.
    subs: Vec<(Arc<Topic>, u64)>,
    /// Round-robin start, so that one busy topic does not starve the others.
    cursor: usize,
}

impl MemoryReader {
    fn try_next(&mut self) -> Option<RawMessage> {
        let n = self.subs.len();
        for i in 0..n {
            let idx = (self.cursor + i) % n;
            let (t, next) = &mut self.subs[idx];
            let log = t.lock();
            // A reader that fell behind the kept window skips to the oldest kept message.
            let pos = (*next).max(log.first_offset);
            if let Some(m) = log.messages.get((pos - log.first_offset) as usize) {
                let m = m.clone();
                drop(log);
                *next = pos + 1;
                self.cursor = (idx + 1) % n;
                return Some(m);
            }
        }
        None
    }
}

impl ReaderBackend for MemoryReader {
    fn recv(&mut self) -> BoxFuture<'_, Result<Option<RawMessage>>> {
        Box::pin(async move {
            if self.subs.is_empty() {
                return Ok(None);
            }
            loop {
                // Register interest before checking, so a publish in between is not missed.
                let waits: Vec<_> = self.subs.iter().map(|(t, _)| t.clone()).collect();
                let notified: Vec<_> = waits
                    .iter()
                    .map(|t| Box::pin(t.notify.notified()))
                    .collect();
                let mut notified = notified;
                for n in notified.iter_mut() {
                    n.as_mut().enable();
                }
                if let Some(m) = self.try_next() {
                    return Ok(Some(m));
                }
                futures::future::select_all(notified).await;
            }
        })
    }

    fn seek_to_beginning(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            for (_, next) in self.subs.iter_mut() {
                *next = 0;
            }
            Ok(())
        })
    }

    fn seek_to_end(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            for (t, next) in self.subs.iter_mut() {
                *next = t.end_offset();
            }
            Ok(())
        })
    }

    fn close(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}
