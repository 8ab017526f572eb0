//! A global allocator that counts: the heap in use now and the most in use since the last reset. Install
//! it in a binary (`#[global_allocator] static A: CountingAllocator = CountingAllocator;`) and wrap each
//! input in [`measure`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting.
pub struct CountingAllocator;

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                IN_USE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

fn grew(bytes: usize) {
    let now = IN_USE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

/// Heap in use now, as counted (zero when the counting allocator is not installed).
pub fn in_use() -> usize {
    IN_USE.load(Ordering::Relaxed)
}

/// Runs `f` and returns how far the heap grew above where it started while `f` ran. Measurements of
/// concurrent callers mix, so callers take turns (see [`crate::campaign`]).
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = IN_USE.load(Ordering::Relaxed);
    PEAK.store(start, Ordering::Relaxed);
    let result = f();
    let peak = PEAK.load(Ordering::Relaxed);
    (result, peak.saturating_sub(start))
}

/// Whether the counting allocator is the one in use (a binary may run without it). The count is
/// process-wide, so another thread's frees can hide one probe (a clean-clone CI run once read "not
/// installed" beside the other tests): any of a few probes seen counted is enough.
pub fn counting() -> bool {
    (0..8).any(|_| {
        let before = in_use();
        let probe = std::hint::black_box(vec![0u8; 4096]);
        let during = in_use();
        drop(probe);
        during >= before + 4096
    })
}
