//! The clocks the bindings read when Python passes `now_ms=None`.

use pyo3::prelude::*;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Milliseconds on a monotonic clock whose zero is the first call in this process.
pub fn monotonic_now_ms() -> u64 {
    let epoch = EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

pub fn or_now(now_ms: Option<u64>) -> u64 {
    now_ms.unwrap_or_else(monotonic_now_ms)
}

/// Wall-clock Unix milliseconds (for HTTP dates only).
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[pyfunction]
pub fn monotonic_ms() -> u64 {
    monotonic_now_ms()
}
