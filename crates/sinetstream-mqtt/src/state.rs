//! The session state of an MQTT client, with no I/O.
//!
//! [`MqttState`] decides which packets to send in answer to requests and to packets received,
//! tracks packet ids, the in-flight window, and the QoS 2 handshakes in both directions, and
//! says what to resend after a reconnect. The event loop owns the connection and feeds it.
//! Requests carry a completion token `T` (a oneshot sender in the client, a number in tests)
//! that the state hands back in an [`Event`] when the request is done.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use sinetstream_mqtt_codec::{
    Packet, PacketId, PubAck, PubComp, PubRec, PubRel, Publish, PublishQos, QoS, SubAck, Subscribe,
    SubscribeFilter, SubscribeReturnCode, Unsubscribe,
};

/// How many completed QoS 2 ids are remembered against re-deliveries (see `completed_qos2`).
const COMPLETED_QOS2_KEPT: usize = 4096;

/// A fingerprint of a message's topic and payload.
fn fingerprint(p: &Publish) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    p.topic.hash(&mut h);
    p.payload.hash(&mut h);
    h.finish()
}

/// What the state reports to the event loop.
#[derive(Debug)]
pub enum Event<T> {
    /// A message for the application.
    Message(Publish),
    /// A publish is done: sent (QoS 0) or acknowledged (QoS 1/2).
    Published(T),
    /// A SUBSCRIBE was answered.
    Subscribed(T, Vec<SubscribeReturnCode>),
    /// An UNSUBSCRIBE was answered.
    Unsubscribed(T),
}

/// The broker broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StateError(pub String);

/// A message to publish, before it has a packet id.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Topic name.
    pub topic: String,
    /// QoS.
    pub qos: QoS,
    /// Retain flag.
    pub retain: bool,
    /// Payload.
    pub payload: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// QoS 1 sent, waiting for PUBACK.
    Qos1Sent,
    /// QoS 2 sent, waiting for PUBREC.
    Qos2Sent,
    /// PUBREL sent, waiting for PUBCOMP.
    Released,
}

#[derive(Debug)]
struct Inflight<T> {
    seq: u64,
    publish: Publish,
    stage: Stage,
    token: T,
}

#[derive(Debug)]
enum Request<T> {
    Subscribe(Subscribe, Option<T>),
    Unsubscribe(Unsubscribe, T),
}

impl<T> Request<T> {
    /// The packet that sends (or resends) this request.
    fn packet(&self) -> Packet {
        match self {
            Request::Subscribe(s, _) => Packet::Subscribe(s.clone()),
            Request::Unsubscribe(u, _) => Packet::Unsubscribe(u.clone()),
        }
    }
}

/// Session state of one client.
#[derive(Debug)]
pub struct MqttState<T> {
    max_inflight: usize,
    connected: bool,
    next_id: u16,
    seq: u64,
    inflight: HashMap<u16, Inflight<T>>,
    /// Publishes waiting for a window slot (or for the connection).
    queued: VecDeque<(Outgoing, T)>,
    /// QoS 2 messages received and delivered, whose PUBREL has not come yet, with a fingerprint
    /// of their topic and payload: a PUBLISH with one of these ids is a resend and must not be
    /// delivered again.
    incoming_qos2: HashMap<u16, u64>,
    /// QoS 2 messages completed (PUBREL came) recently, id → fingerprint, oldest first in
    /// `completed_order`. A broker restored from its persistence file after a restart may
    /// re-deliver (with DUP set) messages whose handshake had already completed (seen with
    /// mosquitto 2.0); the spec would let us deliver them as new, which breaks exactly-once.
    completed_qos2: HashMap<u16, u64>,
    completed_order: VecDeque<u16>,
    requests: HashMap<u16, Request<T>>,
    /// Subscriptions granted, resent when the broker lost the session.
    subscriptions: Vec<SubscribeFilter>,
    awaiting_pingresp: bool,
}

impl<T> MqttState<T> {
    /// A state allowing `max_inflight` unacknowledged QoS 1/2 publishes (at least 1).
    pub fn new(max_inflight: u16) -> Self {
        MqttState {
            max_inflight: usize::from(max_inflight.max(1)),
            connected: false,
            next_id: 0,
            seq: 0,
            inflight: HashMap::new(),
            queued: VecDeque::new(),
            incoming_qos2: HashMap::new(),
            completed_qos2: HashMap::new(),
            completed_order: VecDeque::new(),
            requests: HashMap::new(),
            subscriptions: Vec::new(),
            awaiting_pingresp: false,
        }
    }

    /// No publish or request is waiting for the broker.
    pub fn is_idle(&self) -> bool {
        self.inflight.is_empty() && self.queued.is_empty() && self.requests.is_empty()
    }

    /// Publishes in flight plus queued.
    pub fn pending_publishes(&self) -> usize {
        self.inflight.len() + self.queued.len()
    }

    /// Whether the connection is up (between [`Self::resume`] and [`Self::connection_lost`]).
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    fn alloc_id(&mut self) -> Option<PacketId> {
        for _ in 0..=u16::MAX {
            self.next_id = self.next_id.wrapping_add(1);
            let id = self.next_id;
            if id != 0 && !self.inflight.contains_key(&id) && !self.requests.contains_key(&id) {
                return PacketId::new(id);
            }
        }
        None
    }

    /// Queues a publish; sends it now if connected and (for QoS 1/2) the window has room.
    pub fn publish(
        &mut self,
        msg: Outgoing,
        token: T,
        out: &mut Vec<Packet>,
        events: &mut Vec<Event<T>>,
    ) {
        self.queued.push_back((msg, token));
        self.fill_window(out, events);
    }

    /// Moves queued publishes into flight while the window has room.
    fn fill_window(&mut self, out: &mut Vec<Packet>, events: &mut Vec<Event<T>>) {
        while self.connected {
            let Some((msg, _)) = self.queued.front() else {
                break;
            };
            if msg.qos != QoS::AtMostOnce && self.inflight.len() >= self.max_inflight {
                break;
            }
            let Some((msg, token)) = self.queued.pop_front() else {
                break;
            };
            match msg.qos {
                QoS::AtMostOnce => {
                    let mut p = Publish::new(msg.topic, PublishQos::AtMostOnce, msg.payload);
                    p.retain = msg.retain;
                    out.push(Packet::Publish(p));
                    events.push(Event::Published(token));
                }
                qos => {
                    let Some(id) = self.alloc_id() else {
                        // Every id is in use: wait for an ack to free one.
                        self.queued.push_front((msg, token));
                        break;
                    };
                    let mut p = Publish::new(msg.topic, PublishQos::new(qos, id), msg.payload);
                    p.retain = msg.retain;
                    let stage = if qos == QoS::AtLeastOnce {
                        Stage::Qos1Sent
                    } else {
                        Stage::Qos2Sent
                    };
                    self.seq += 1;
                    out.push(Packet::Publish(p.clone()));
                    self.inflight.insert(
                        id.get(),
                        Inflight {
                            seq: self.seq,
                            publish: p,
                            stage,
                            token,
                        },
                    );
                }
            }
        }
    }

    /// Subscribes; `token` comes back with the SUBACK.
    pub fn subscribe(
        &mut self,
        filters: Vec<SubscribeFilter>,
        token: T,
        out: &mut Vec<Packet>,
    ) -> Result<(), StateError> {
        self.request(
            |id| Request::Subscribe(Subscribe::new(id, filters), Some(token)),
            out,
        )
    }

    /// Unsubscribes; `token` comes back with the UNSUBACK.
    pub fn unsubscribe(
        &mut self,
        filters: Vec<String>,
        token: T,
        out: &mut Vec<Packet>,
    ) -> Result<(), StateError> {
        self.request(
            |id| Request::Unsubscribe(Unsubscribe::new(id, filters), token),
            out,
        )
    }

    /// Gives a new request a packet id and sends it now if connected; [`Self::resume`] sends
    /// it otherwise.
    fn request(
        &mut self,
        make: impl FnOnce(PacketId) -> Request<T>,
        out: &mut Vec<Packet>,
    ) -> Result<(), StateError> {
        let id = self
            .alloc_id()
            .ok_or_else(|| StateError("no free packet id".into()))?;
        let request = make(id);
        if self.connected {
            out.push(request.packet());
        }
        self.requests.insert(id.get(), request);
        Ok(())
    }

    /// A keepalive tick: a PINGREQ to send, or an error if the last one was never answered
    /// (the connection is half-open).
    pub fn ping(&mut self) -> Result<Packet, StateError> {
        if self.awaiting_pingresp {
            return Err(StateError(
                "no PINGRESP within the keepalive interval".into(),
            ));
        }
        self.awaiting_pingresp = true;
        Ok(Packet::PingReq)
    }

    /// The connection went away. Everything unacknowledged stays, to be resent by
    /// [`Self::resume`].
    pub fn connection_lost(&mut self) {
        self.connected = false;
        self.awaiting_pingresp = false;
    }

    /// A new connection was accepted. Returns, in `out`, what must be sent before anything new:
    /// with the session kept, unacknowledged PUBLISHes (DUP set) and PUBRELs in their original
    /// order; with a new session, the subscriptions again and the unacknowledged PUBLISHes as new
    /// messages (so that nothing is lost; a QoS 2 message whose PUBREC came is complete).
    pub fn resume(
        &mut self,
        session_present: bool,
        out: &mut Vec<Packet>,
        events: &mut Vec<Event<T>>,
    ) {
        self.connected = true;
        self.awaiting_pingresp = false;
        // A re-subscription of an earlier resume that was never answered: the broker may not
        // have made it, even if it kept the session it created then. It is replaced by a new
        // one for every subscription (subscribing again to a filter is harmless).
        let unanswered = self.requests.len();
        self.requests
            .retain(|_, r| !matches!(r, Request::Subscribe(_, None)));
        let resubscribe_pending = self.requests.len() != unanswered;
        if !session_present {
            self.incoming_qos2.clear();
            self.completed_qos2.clear();
            self.completed_order.clear();
        }
        if (!session_present || resubscribe_pending) && !self.subscriptions.is_empty() {
            if let Some(id) = self.alloc_id() {
                let s = Subscribe::new(id, self.subscriptions.clone());
                out.push(Packet::Subscribe(s.clone()));
                self.requests.insert(id.get(), Request::Subscribe(s, None));
            }
        }
        let mut ids: Vec<(u64, u16)> = self.inflight.iter().map(|(id, f)| (f.seq, *id)).collect();
        ids.sort_unstable();
        for (_, id) in ids {
            let Some(f) = self.inflight.get_mut(&id) else {
                continue;
            };
            match (f.stage, session_present) {
                (Stage::Released, true) => {
                    if let Some(pid) = PacketId::new(id) {
                        out.push(Packet::PubRel(PubRel::new(pid)));
                    }
                }
                (Stage::Released, false) => {
                    // The broker had the message (PUBREC); its new session cannot complete it.
                    if let Some(f) = self.inflight.remove(&id) {
                        events.push(Event::Published(f.token));
                    }
                }
                // Only a kept session has seen it before; to a new one it is a new message.
                (_, dup) => {
                    f.publish.dup = dup;
                    out.push(Packet::Publish(f.publish.clone()));
                }
            }
        }
        let mut reqs: Vec<u16> = self.requests.keys().copied().collect();
        reqs.sort_unstable();
        for id in reqs {
            match self.requests.get(&id) {
                // The re-subscription (no token) went out above.
                Some(Request::Subscribe(_, None)) | None => {}
                Some(request) => out.push(request.packet()),
            }
        }
        self.fill_window(out, events);
    }

    /// Handles a packet from the broker: replies go to `out`, results to `events`.
    pub fn handle(
        &mut self,
        packet: Packet,
        out: &mut Vec<Packet>,
        events: &mut Vec<Event<T>>,
    ) -> Result<(), StateError> {
        match packet {
            Packet::Publish(p) => self.incoming_publish(p, out, events),
            Packet::PubAck(a) => self.acked(a.packet_id, Stage::Qos1Sent, out, events),
            Packet::PubRec(r) => {
                let id = r.packet_id;
                match self.inflight.get_mut(&id.get()) {
                    Some(f) if f.stage == Stage::Qos2Sent || f.stage == Stage::Released => {
                        f.stage = Stage::Released;
                    }
                    Some(_) => {
                        return Err(StateError(format!("PUBREC for QoS 1 message {id}")));
                    }
                    None => tracing::debug!("PUBREC for unknown packet id {id}; answering PUBREL"),
                }
                out.push(Packet::PubRel(PubRel::new(id)));
            }
            Packet::PubRel(r) => {
                let id = r.packet_id.get();
                if let Some(fp) = self.incoming_qos2.remove(&id) {
                    self.remember_completed(id, fp);
                }
                out.push(Packet::PubComp(PubComp::new(r.packet_id)));
            }
            Packet::PubComp(c) => self.acked(c.packet_id, Stage::Released, out, events),
            Packet::SubAck(a) => self.suback(a, events),
            Packet::UnsubAck(a) => match self.requests.remove(&a.packet_id.get()) {
                Some(Request::Unsubscribe(u, token)) => {
                    self.subscriptions
                        .retain(|s| !u.filters.contains(&s.filter));
                    events.push(Event::Unsubscribed(token));
                }
                Some(other) => {
                    self.requests.insert(a.packet_id.get(), other);
                    return Err(StateError(format!(
                        "UNSUBACK for a SUBSCRIBE ({})",
                        a.packet_id
                    )));
                }
                None => tracing::debug!("UNSUBACK for unknown packet id {}", a.packet_id),
            },
            Packet::PingResp => self.awaiting_pingresp = false,
            other => {
                return Err(StateError(format!(
                    "unexpected {:?} packet from the broker",
                    other.packet_type()
                )));
            }
        }
        Ok(())
    }

    fn incoming_publish(&mut self, p: Publish, out: &mut Vec<Packet>, events: &mut Vec<Event<T>>) {
        match p.qos {
            PublishQos::AtMostOnce => events.push(Event::Message(p)),
            PublishQos::AtLeastOnce(id) => {
                events.push(Event::Message(p));
                out.push(Packet::PubAck(PubAck::new(id)));
            }
            PublishQos::ExactlyOnce(id) => {
                let fp = fingerprint(&p);
                let key = id.get();
                let resend = self.incoming_qos2.contains_key(&key)
                    || (p.dup && self.completed_qos2.get(&key) == Some(&fp));
                self.incoming_qos2.insert(key, fp);
                if resend {
                    tracing::debug!("QoS 2 message {id} received again; not delivered twice");
                } else {
                    events.push(Event::Message(p));
                }
                out.push(Packet::PubRec(PubRec::new(id)));
            }
        }
    }

    fn remember_completed(&mut self, id: u16, fp: u64) {
        if self.completed_qos2.insert(id, fp).is_none() {
            self.completed_order.push_back(id);
        }
        while self.completed_order.len() > COMPLETED_QOS2_KEPT {
            if let Some(old) = self.completed_order.pop_front() {
                self.completed_qos2.remove(&old);
            }
        }
    }

    /// Completes publish `id` if it was waiting in stage `want` (PUBACK, PUBCOMP), which frees a
    /// window slot for a queued publish.
    fn acked(
        &mut self,
        id: PacketId,
        want: Stage,
        out: &mut Vec<Packet>,
        events: &mut Vec<Event<T>>,
    ) {
        match self.inflight.get(&id.get()) {
            Some(f) if f.stage == want => {
                if let Some(f) = self.inflight.remove(&id.get()) {
                    events.push(Event::Published(f.token));
                }
            }
            Some(f) => tracing::debug!("ack for packet id {id} in stage {:?} ignored", f.stage),
            None => tracing::debug!("ack for unknown packet id {id} ignored"),
        }
        self.fill_window(out, events);
    }

    fn suback(&mut self, a: SubAck, events: &mut Vec<Event<T>>) {
        match self.requests.remove(&a.packet_id.get()) {
            Some(Request::Subscribe(s, token)) => {
                for (f, code) in s.filters.iter().zip(a.return_codes.iter()) {
                    if *code != SubscribeReturnCode::Failure {
                        self.subscriptions.retain(|x| x.filter != f.filter);
                        self.subscriptions.push(f.clone());
                    }
                }
                if let Some(t) = token {
                    events.push(Event::Subscribed(t, a.return_codes));
                }
            }
            Some(other) => {
                self.requests.insert(a.packet_id.get(), other);
                tracing::debug!("SUBACK for a non-SUBSCRIBE packet id {}", a.packet_id);
            }
            None => tracing::debug!("SUBACK for unknown packet id {}", a.packet_id),
        }
    }

    /// Ends the session: returns every token still waiting, in no particular order.
    pub fn drain_tokens(&mut self) -> Vec<T> {
        let mut v: Vec<T> = self.inflight.drain().map(|(_, f)| f.token).collect();
        v.extend(self.queued.drain(..).map(|(_, t)| t));
        for (_, r) in self.requests.drain() {
            match r {
                Request::Subscribe(_, Some(t)) | Request::Unsubscribe(_, t) => v.push(t),
                Request::Subscribe(_, None) => {}
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(qos: QoS) -> Outgoing {
        Outgoing {
            topic: "t".into(),
            qos,
            retain: false,
            payload: Bytes::from_static(b"x"),
        }
    }

    fn id(n: u16) -> PacketId {
        PacketId::new(n).expect("non-zero")
    }

    fn published(events: &[Event<u32>]) -> Vec<u32> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Published(t) => Some(*t),
                _ => None,
            })
            .collect()
    }

    fn connected(max: u16) -> MqttState<u32> {
        let mut s = MqttState::new(max);
        s.resume(false, &mut vec![], &mut vec![]);
        s
    }

    #[test]
    fn qos0_is_done_when_sent() {
        let mut s = connected(2);
        let (mut out, mut ev) = (vec![], vec![]);
        s.publish(msg(QoS::AtMostOnce), 1, &mut out, &mut ev);
        assert!(matches!(&out[..], [Packet::Publish(p)] if p.qos == PublishQos::AtMostOnce));
        assert_eq!(published(&ev), [1]);
        assert!(s.is_idle());
    }

    #[test]
    fn qos1_window_and_puback() {
        let mut s = connected(2);
        let (mut out, mut ev) = (vec![], vec![]);
        for t in 1..=3 {
            s.publish(msg(QoS::AtLeastOnce), t, &mut out, &mut ev);
        }
        assert_eq!(out.len(), 2, "window of 2");
        assert_eq!(s.pending_publishes(), 3);
        out.clear();
        s.handle(Packet::PubAck(PubAck::new(id(1))), &mut out, &mut ev)
            .expect("ok");
        assert_eq!(published(&ev), [1]);
        assert!(
            matches!(&out[..], [Packet::Publish(p)] if p.qos == PublishQos::AtLeastOnce(id(3)))
        );
        // A duplicate ack is ignored.
        s.handle(Packet::PubAck(PubAck::new(id(1))), &mut out, &mut ev)
            .expect("ok");
        assert_eq!(published(&ev), [1]);
    }

    #[test]
    fn qos2_outgoing_handshake() {
        let mut s = connected(5);
        let (mut out, mut ev) = (vec![], vec![]);
        s.publish(msg(QoS::ExactlyOnce), 7, &mut out, &mut ev);
        out.clear();
        s.handle(Packet::PubRec(PubRec::new(id(1))), &mut out, &mut ev)
            .expect("ok");
        assert_eq!(out, vec![Packet::PubRel(PubRel::new(id(1)))]);
        assert!(published(&ev).is_empty());
        s.handle(Packet::PubComp(PubComp::new(id(1))), &mut out, &mut ev)
            .expect("ok");
        assert_eq!(published(&ev), [7]);
        assert!(s.is_idle());
    }

    #[test]
    fn qos2_incoming_is_delivered_once() {
        let mut s = connected(5);
        let (mut out, mut ev) = (vec![], vec![]);
        let p = Publish::new(
            "t",
            PublishQos::ExactlyOnce(id(9)),
            Bytes::from_static(b"m"),
        );
        s.handle(Packet::Publish(p.clone()), &mut out, &mut ev)
            .expect("ok");
        let mut again = p.clone();
        again.dup = true;
        s.handle(Packet::Publish(again), &mut out, &mut ev)
            .expect("ok");
        let delivered = ev.iter().filter(|e| matches!(e, Event::Message(_))).count();
        assert_eq!(delivered, 1);
        assert_eq!(
            out,
            vec![
                Packet::PubRec(PubRec::new(id(9))),
                Packet::PubRec(PubRec::new(id(9)))
            ]
        );
        out.clear();
        s.handle(Packet::PubRel(PubRel::new(id(9))), &mut out, &mut ev)
            .expect("ok");
        assert_eq!(out, vec![Packet::PubComp(PubComp::new(id(9)))]);
        // After PUBREL the id is free again: a new message with it is delivered.
        s.handle(Packet::Publish(p), &mut out, &mut ev).expect("ok");
        assert_eq!(
            ev.iter().filter(|e| matches!(e, Event::Message(_))).count(),
            2
        );
    }

    #[test]
    fn qos2_redelivery_of_a_completed_message_is_not_delivered_again() {
        let mut s = connected(5);
        let (mut out, mut ev) = (vec![], vec![]);
        let p = Publish::new(
            "t",
            PublishQos::ExactlyOnce(id(4)),
            Bytes::from_static(b"m1"),
        );
        s.handle(Packet::Publish(p.clone()), &mut out, &mut ev)
            .expect("ok");
        s.handle(Packet::PubRel(PubRel::new(id(4))), &mut out, &mut ev)
            .expect("ok");
        s.connection_lost();
        s.resume(true, &mut out, &mut ev);
        // The broker re-delivers the completed message with DUP: acknowledged, not delivered.
        let mut again = p.clone();
        again.dup = true;
        out.clear();
        s.handle(Packet::Publish(again), &mut out, &mut ev)
            .expect("ok");
        assert_eq!(out, vec![Packet::PubRec(PubRec::new(id(4)))]);
        assert_eq!(
            ev.iter().filter(|e| matches!(e, Event::Message(_))).count(),
            1
        );
        s.handle(Packet::PubRel(PubRel::new(id(4))), &mut out, &mut ev)
            .expect("ok");
        // A new message reusing the id (no DUP, or other content) is delivered.
        let new = Publish::new(
            "t",
            PublishQos::ExactlyOnce(id(4)),
            Bytes::from_static(b"m1"),
        );
        s.handle(Packet::Publish(new), &mut out, &mut ev)
            .expect("ok");
        s.handle(Packet::PubRel(PubRel::new(id(4))), &mut out, &mut ev)
            .expect("ok");
        let mut other = Publish::new(
            "t",
            PublishQos::ExactlyOnce(id(4)),
            Bytes::from_static(b"m2"),
        );
        other.dup = true;
        s.handle(Packet::Publish(other), &mut out, &mut ev)
            .expect("ok");
        assert_eq!(
            ev.iter().filter(|e| matches!(e, Event::Message(_))).count(),
            3
        );
    }

    #[test]
    fn resume_with_session_resends_in_order_with_dup() {
        let mut s = connected(10);
        let (mut out, mut ev) = (vec![], vec![]);
        s.publish(msg(QoS::AtLeastOnce), 1, &mut out, &mut ev);
        s.publish(msg(QoS::ExactlyOnce), 2, &mut out, &mut ev);
        s.publish(msg(QoS::ExactlyOnce), 3, &mut out, &mut ev);
        s.handle(Packet::PubRec(PubRec::new(id(3))), &mut out, &mut ev)
            .expect("ok");
        s.connection_lost();
        // Published while disconnected: queued, not sent.
        out.clear();
        s.publish(msg(QoS::AtMostOnce), 4, &mut out, &mut ev);
        assert!(out.is_empty());
        s.resume(true, &mut out, &mut ev);
        assert_eq!(out.len(), 4);
        assert!(
            matches!(&out[0], Packet::Publish(p) if p.dup && p.qos == PublishQos::AtLeastOnce(id(1)))
        );
        assert!(
            matches!(&out[1], Packet::Publish(p) if p.dup && p.qos == PublishQos::ExactlyOnce(id(2)))
        );
        assert_eq!(out[2], Packet::PubRel(PubRel::new(id(3))));
        assert!(matches!(&out[3], Packet::Publish(p) if p.qos == PublishQos::AtMostOnce));
    }

    /// Connected, with "a/#" subscribed (packet id 1) and acknowledged.
    fn subscribed_to_a() -> MqttState<u32> {
        let mut s = connected(10);
        let (mut out, mut ev) = (vec![], vec![]);
        s.subscribe(
            vec![SubscribeFilter::new("a/#", QoS::AtLeastOnce)],
            100,
            &mut out,
        )
        .expect("ok");
        s.handle(
            Packet::SubAck(SubAck::new(
                id(1),
                vec![SubscribeReturnCode::Success(QoS::AtLeastOnce)],
            )),
            &mut out,
            &mut ev,
        )
        .expect("ok");
        s
    }

    #[test]
    fn resume_without_session_resubscribes_and_completes_released_qos2() {
        let mut s = subscribed_to_a();
        let (mut out, mut ev) = (vec![], vec![]);
        s.publish(msg(QoS::ExactlyOnce), 5, &mut out, &mut ev);
        s.handle(Packet::PubRec(PubRec::new(id(2))), &mut out, &mut ev)
            .expect("ok");
        s.publish(msg(QoS::AtLeastOnce), 6, &mut out, &mut ev);
        s.connection_lost();
        out.clear();
        ev.clear();
        s.resume(false, &mut out, &mut ev);
        assert!(matches!(&out[0], Packet::Subscribe(sub) if sub.filters[0].filter == "a/#"));
        assert!(matches!(&out[1], Packet::Publish(p) if !p.dup && p.qos.qos() == QoS::AtLeastOnce));
        assert_eq!(out.len(), 2);
        assert_eq!(published(&ev), [5]);
    }

    #[test]
    fn unanswered_resubscription_is_sent_again_even_to_a_kept_session() {
        let mut s = subscribed_to_a();
        let (mut out, mut ev) = (vec![], vec![]);
        // A new session: the subscription is made again...
        s.connection_lost();
        out.clear();
        s.resume(false, &mut out, &mut ev);
        assert!(matches!(&out[..], [Packet::Subscribe(sub)] if sub.filters[0].filter == "a/#"));
        // ...but the connection drops before the SUBACK; the broker kept the session it
        // created at that CONNECT, perhaps without the subscription.
        s.connection_lost();
        out.clear();
        s.resume(true, &mut out, &mut ev);
        assert!(matches!(&out[..], [Packet::Subscribe(sub)] if sub.filters[0].filter == "a/#"));
        assert_eq!(
            s.requests.len(),
            1,
            "the unanswered one is replaced, not kept"
        );
        // Answered now: a kept session needs nothing more.
        let Packet::Subscribe(sub) = &out[0] else {
            unreachable!("checked above")
        };
        let pid = sub.packet_id;
        s.handle(
            Packet::SubAck(SubAck::new(
                pid,
                vec![SubscribeReturnCode::Success(QoS::AtLeastOnce)],
            )),
            &mut out,
            &mut ev,
        )
        .expect("ok");
        s.connection_lost();
        out.clear();
        s.resume(true, &mut out, &mut ev);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn unanswered_ping_is_an_error() {
        let mut s = connected(1);
        assert_eq!(s.ping().expect("first"), Packet::PingReq);
        assert!(s.ping().is_err());
        s.handle(Packet::PingResp, &mut vec![], &mut vec![])
            .expect("ok");
        assert!(s.ping().is_ok());
    }

    #[test]
    fn unexpected_packets_are_protocol_errors() {
        let mut s = connected(1);
        assert!(s.handle(Packet::PingReq, &mut vec![], &mut vec![]).is_err());
    }

    #[test]
    fn drain_returns_every_waiting_token() {
        let mut s = MqttState::new(1);
        let (mut out, mut ev) = (vec![], vec![]);
        s.publish(msg(QoS::AtLeastOnce), 1, &mut out, &mut ev);
        s.resume(false, &mut out, &mut ev);
        s.publish(msg(QoS::AtLeastOnce), 2, &mut out, &mut ev);
        s.unsubscribe(vec!["x".into()], 3, &mut out).expect("ok");
        let mut t = s.drain_tokens();
        t.sort_unstable();
        assert_eq!(t, [1, 2, 3]);
        assert!(s.is_idle());
    }
}
