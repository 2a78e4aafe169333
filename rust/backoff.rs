//! Retry delays: full jitter, unless the server said how long to wait.
//!
//! `delay_ms(attempt, retry_after_ms)` is a uniform draw from `[0, min(cap, base · 2^attempt)]`
//! (saturating; attempt 0 draws from `[0, base]`). A server's retry-after replaces the draw.
//! When the chosen delay is longer than `max_wait_ms` the answer is `None`: "fall back now,
//! don't sleep".
//!
//! The random numbers come from SplitMix64 kept in an atomic, so one `Backoff` can be shared
//! between threads without a lock and a fixed seed replays the same delays.

use std::sync::atomic::{AtomicU64, Ordering};

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64: each draw advances the state by a constant, so an atomic add is the whole update.
#[derive(Debug)]
struct SplitMix64 {
    state: AtomicU64,
}

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        SplitMix64 {
            state: AtomicU64::new(seed),
        }
    }

    fn next_u64(&self) -> u64 {
        let mut z = self
            .state
            .fetch_add(GOLDEN_GAMMA, Ordering::Relaxed)
            .wrapping_add(GOLDEN_GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, bound]` (Lemire's multiply-shift; the bias is below 2^-64 · bound).
    fn up_to(&self, bound: u64) -> u64 {
        let span = u128::from(bound) + 1;
        ((u128::from(self.next_u64()) * span) >> 64) as u64
    }
}

#[derive(Debug)]
pub struct Backoff {
    pub base_ms: u64,
    pub cap_ms: u64,
    pub max_wait_ms: u64,
    rng: SplitMix64,
}

impl Backoff {
    pub fn new(base_ms: u64, cap_ms: u64, max_wait_ms: u64, seed: u64) -> Self {
        Backoff {
            base_ms,
            cap_ms,
            max_wait_ms,
            rng: SplitMix64::new(seed),
        }
    }

    /// The upper bound of the jitter for `attempt`: `min(cap, base · 2^attempt)`.
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let grown = match 1u64.checked_shl(attempt) {
            Some(factor) => self.base_ms.saturating_mul(factor),
            None if self.base_ms == 0 => 0,
            None => u64::MAX,
        };
        grown.min(self.cap_ms)
    }

    pub fn delay_ms(&self, attempt: u32, retry_after_ms: Option<u64>) -> Option<u64> {
        let delay = match retry_after_ms {
            Some(server_says) => server_says,
            None => self.rng.up_to(self.ceiling_ms(attempt)),
        };
        (delay <= self.max_wait_ms).then_some(delay)
    }
}
