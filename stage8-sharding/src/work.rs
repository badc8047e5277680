//! The simulated slow work every event needs: a stand-in for a call to another service.

use std::time::Duration;

/// Waits `duration` without occupying the calling thread, the way slow I/O would.
///
/// Why not `tokio::time::sleep`? Tokio's timer has millisecond granularity and rounds
/// every deadline up: on the 2-core reference machine a 10 ms sleep took 11.2 ms on
/// average, which alone would make stage 8 look 10% slower than its model and hide the
/// lesson in the noise. A blocking sleep on tokio's blocking pool is accurate to about
/// 0.2 ms, and awaiting it frees the caller's thread exactly as awaiting real I/O does.
pub async fn slow_call(duration: Duration) {
    if duration.is_zero() {
        return;
    }
    // The blocking task only sleeps; it cannot panic, so its result carries nothing.
    let _ = tokio::task::spawn_blocking(move || std::thread::sleep(duration)).await;
}
