//! Idempotent production across a broker restart (`kafka.sh restart`).
//! In its own test binary: the restart must not disturb other tests.

mod common;

use std::sync::Mutex;

use common::{exactly_once_in_order, restart_broker, unique_topic};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_records_survive_a_broker_restart() {
    let topic = unique_topic("idem-restart");
    let restarter: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);
    exactly_once_in_order(&topic, 3, 100_000, |i, _| {
        if i == 30_000 {
            // In a thread: sends go on (into the buffer) while the broker is down.
            *restarter.lock().expect("lock") = Some(std::thread::spawn(restart_broker));
        }
    })
    .await;
    if let Some(t) = restarter.lock().expect("lock").take() {
        t.join().expect("restart thread");
    }
}
