//! Decodes arbitrary bytes as every response (API and version) the Kafka
//! client uses, through the client's own decode path: response header,
//! body, leftover check, and for Metadata the cluster snapshot builder.
//!
//! Known upstream issue, worked around here only: kafka-protocol 0.18 sizes
//! arrays with `Vec::with_capacity(count)` straight from the wire, so a
//! hostile broker can make it request tens of gigabytes and abort the
//! process (kafka-protocol-rs PRs #152, #161, #200 fix it; not released).
//! So that this target keeps finding *other* bugs, its allocator refuses
//! single allocations above `HUGE` and the resulting allocation error is
//! turned into a panic that is caught below; any other panic still crashes.
#![no_main]
#![feature(alloc_error_hook)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use sinetstream_kafka::fuzzing::{client_apis, decode_response};

/// Larger than any response a 4 KiB fuzz input can legitimately decode to.
const HUGE: usize = 256 << 20;

struct Capped;

// SAFETY: forwards to the system allocator, except that oversized requests
// fail (return null), which `GlobalAlloc` allows.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HUGE {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HUGE {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > HUGE {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Capped = Capped;

/// Panic payload of a refused oversized allocation.
struct Refused;

fuzz_target!(|data: &[u8]| {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        std::alloc::set_alloc_error_hook(|_| std::panic::panic_any(Refused));
        let crash = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<Refused>() {
                crash(info);
            }
        }));
    });
    // The first byte picks one (API, version), the rest is the response
    // frame (correlation id first).
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let all: Vec<(i16, i16)> = client_apis()
        .into_iter()
        .flat_map(|(key, lo, hi)| (lo..=hi).map(move |v| (key, v)))
        .collect();
    let (key, version) = all[usize::from(pick) % all.len()];
    let _ = std::panic::catch_unwind(|| decode_response(key, version, frame));
});
