//! A counting global allocator for the benches: live heap bytes and allocations, on top of
//! the system allocator, and allocations of one chosen size (to count payload copies).
//! Counting costs a few atomic operations per allocation, so it is on only while memory is
//! measured ([`Counting::on`]), never while throughput is.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};

/// The allocator: install it with `#[global_allocator] static ALLOC: Counting = Counting;`.
pub struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static PEAK_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_ALLOCS: AtomicIsize = AtomicIsize::new(0);
static TOTAL_ALLOCS: AtomicUsize = AtomicUsize::new(0);
static ON: AtomicBool = AtomicBool::new(false);
/// Allocations of exactly `WATCHED_SIZE` bytes are counted in `WATCHED`.
static WATCHED_SIZE: AtomicUsize = AtomicUsize::new(usize::MAX);
static WATCHED: AtomicUsize = AtomicUsize::new(0);

/// What the allocator counted since it was switched on (each bench reads what it reports).
#[derive(Clone, Copy, Debug, Default)]
#[allow(dead_code)]
pub struct Counts {
    /// Heap bytes live (requested sizes; the system allocator adds its own headers).
    pub live_bytes: isize,
    /// The most heap bytes live at any moment.
    pub peak_bytes: isize,
    /// Allocations live.
    pub live_allocs: isize,
    /// Allocations and reallocations made.
    pub total_allocs: usize,
    /// Allocations of the watched size made.
    pub watched: usize,
}

impl Counting {
    /// Starts counting from zero; allocations of exactly `watched_size` bytes are counted
    /// apart.
    pub fn on(watched_size: usize) {
        LIVE_BYTES.store(0, Ordering::SeqCst);
        PEAK_BYTES.store(0, Ordering::SeqCst);
        LIVE_ALLOCS.store(0, Ordering::SeqCst);
        TOTAL_ALLOCS.store(0, Ordering::SeqCst);
        WATCHED.store(0, Ordering::SeqCst);
        WATCHED_SIZE.store(watched_size, Ordering::SeqCst);
        ON.store(true, Ordering::SeqCst);
    }

    /// What was counted since [`Counting::on`] (counting goes on).
    pub fn counts() -> Counts {
        Counts {
            live_bytes: LIVE_BYTES.load(Ordering::SeqCst),
            peak_bytes: PEAK_BYTES.load(Ordering::SeqCst),
            live_allocs: LIVE_ALLOCS.load(Ordering::SeqCst),
            total_allocs: TOTAL_ALLOCS.load(Ordering::SeqCst),
            watched: WATCHED.load(Ordering::SeqCst),
        }
    }

    /// Stops counting.
    pub fn off() {
        ON.store(false, Ordering::SeqCst);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            let live =
                LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed) + layout.size() as isize;
            PEAK_BYTES.fetch_max(live, Ordering::Relaxed);
            LIVE_ALLOCS.fetch_add(1, Ordering::Relaxed);
            TOTAL_ALLOCS.fetch_add(1, Ordering::Relaxed);
            if layout.size() == WATCHED_SIZE.load(Ordering::Relaxed) {
                WATCHED.fetch_add(1, Ordering::Relaxed);
            }
        }
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ON.load(Ordering::Relaxed) {
            LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
            LIVE_ALLOCS.fetch_sub(1, Ordering::Relaxed);
        }
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            let grow = new_size as isize - layout.size() as isize;
            let live = LIVE_BYTES.fetch_add(grow, Ordering::Relaxed) + grow;
            PEAK_BYTES.fetch_max(live, Ordering::Relaxed);
            TOTAL_ALLOCS.fetch_add(1, Ordering::Relaxed);
            if new_size == WATCHED_SIZE.load(Ordering::Relaxed) {
                WATCHED.fetch_add(1, Ordering::Relaxed);
            }
        }
        System.realloc(ptr, layout, new_size)
    }
}
