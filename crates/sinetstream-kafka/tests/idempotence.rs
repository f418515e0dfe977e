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
