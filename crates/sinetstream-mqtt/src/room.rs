//! Places in a client's publish queue (`max_queued`), given back in batches.
//!
//! `publish` takes a place (waiting while there is none); the event loop gives places back as
//! it takes publishes out of the queue. Handing them back one by one woke a publisher blocked
//! on a full queue once per message, which then queued one message and blocked again: a
//! context switch per message on each side. Given back a batch at a time (an eighth of the
//! queue, or everything once the queue is empty, so a blocked publisher always wakes), the
//! publisher wakes once per batch.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// The event loop's side.
#[derive(Debug)]
pub(crate) struct QueueRoom {
    places: Arc<Semaphore>,
    /// Places taken out of the queue but not yet given back.
    unreleased: usize,
    batch: usize,
}

impl QueueRoom {
    /// Room for `places` publishes; also returns the publishers' side.
    pub(crate) fn new(places: usize) -> (QueueRoom, Arc<Semaphore>) {
        let places = places.clamp(1, Semaphore::MAX_PERMITS);
        let sem = Arc::new(Semaphore::new(places));
        let room = QueueRoom {
            places: Arc::clone(&sem),
            unreleased: 0,
            batch: (places / 8).max(1),
        };
        (room, sem)
    }

    /// One publish left the queue; `queue_empty` when no request is waiting behind it.
    pub(crate) fn taken(&mut self, queue_empty: bool) {
        self.unreleased += 1;
        if queue_empty || self.unreleased >= self.batch {
            self.places
                .add_permits(std::mem::take(&mut self.unreleased));
        }
    }

    /// No more publishes: waiting publishers fail.
    pub(crate) fn close(&self) {
        self.places.close();
    }
}

impl Drop for QueueRoom {
    /// The event loop is gone: a publisher waiting for a place must not wait forever.
    fn drop(&mut self) {
        self.places.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_come_back_in_batches_or_when_the_queue_empties() {
        let (mut room, sem) = QueueRoom::new(16);
        let taken: Vec<_> = (0..16).filter_map(|_| sem.try_acquire().ok()).collect();
        assert_eq!(taken.len(), 16);
        taken.into_iter().for_each(|p| p.forget());
        room.taken(false);
        assert_eq!(sem.available_permits(), 0, "one place is not a batch");
        room.taken(false);
        assert_eq!(sem.available_permits(), 2, "a batch is an eighth");
        room.taken(true);
        assert_eq!(
            sem.available_permits(),
            3,
            "an empty queue gives back at once"
        );
        room.close();
        assert!(sem.try_acquire().is_err());
    }

    #[test]
    fn dropped_room_closes() {
        let (room, sem) = QueueRoom::new(1);
        drop(room);
        assert!(sem.try_acquire().is_err());
    }

    #[test]
    fn zero_places_is_one() {
        let (_room, sem) = QueueRoom::new(0);
        assert_eq!(sem.available_permits(), 1);
    }
}
