//! A client claims a 10 GB body. The server must answer 413 from the claim alone, and
//! must not allocate anything of that size on the way: this test binary counts every
//! allocation the process makes while the request is handled.

// A counting allocator is the one way to observe allocation sizes from a test; it only
// forwards to the system allocator and records sizes.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct LargestAllocation;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this same layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

#[tokio::test]
async fn a_claimed_ten_gigabyte_body_is_refused_without_allocating_it() {
    let addr = test_kit::start(stage3::run, stage3::Config::default()).await;
    let mut client = test_kit::Client::connect(addr).await;
    LARGEST.store(0, Ordering::Relaxed);

    let answer = client
        .roundtrip(b"POST /events HTTP/1.1\r\nContent-Length: 10000000000\r\n\r\n{\"user\"")
        .await;

    assert_eq!(answer.status, 413);
    assert_eq!(answer.reason(), "body_too_large");
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < 1024 * 1024,
        "the largest allocation while answering was {largest} bytes"
    );
}
