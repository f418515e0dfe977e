//! Idempotent production: exactly once and in order per partition, even
//! when connections drop mid-stream.

mod common;

use common::{exactly_once_in_order, unique_topic};

#[tokio::test]
async fn hundred_thousand_records_survive_dropped_connections() {
    let topic = unique_topic("idem-drop");
    exactly_once_in_order(&topic, 3, 100_000, |i, p| {
        // Drop every connection several times while batches are in flight.
        if i > 0 && i % 15_000 == 0 {
            p.debug_drop_connections();
        }
    })
    .await;
}

#[tokio::test]
async fn sequence_reset_bumps_the_epoch_and_keeps_exactly_once() {
    let topic = unique_topic("idem-bump");
    let mut seen = Vec::new();
    exactly_once_in_order(&topic, 2, 30_000, |i, p| {
        // As after OUT_OF_ORDER_SEQUENCE_NUMBER: the producer must renumber
        // under the next epoch of the same id (KIP-360), not lose or repeat.
        if i == 10_000 || i == 20_000 {
            p.debug_reset_producer_id();
        }
        if i == 9_999 || i == 19_999 || i == 29_999 {
            seen.push(p.producer_identity());
        }
    })
    .await;
    let ids: Vec<(i64, i16)> = seen
        .into_iter()
        .map(|x| x.expect("an idempotent producer has an identity once it sent"))
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.iter().all(|(id, _)| *id == ids[0].0),
        "same producer id throughout: {ids:?}"
    );
    assert!(
        ids[0].1 < ids[1].1 && ids[1].1 < ids[2].1,
        "each reset bumps the epoch: {ids:?}"
    );
}
