//! Requests-per-minute and tokens-per-minute limits, as two GCRA schedules.
//!
//! GCRA (the generic cell rate algorithm) keeps one number per limit: the theoretical arrival
//! time (TAT) at which the schedule would be idle again. A cost of `n` units is admissible at
//! `now` when `max(TAT, now) + n·T − burst·T <= now`, where `T` is the emission interval
//! (60 000 ms / rate). Admitting it moves TAT to `max(TAT, now) + n·T`.
//!
//! * Time is kept in ticks of `1/rate` ms, so `T` is exactly 60 000 ticks and no rounding drifts
//!   however many requests pass; waits are rounded up to whole milliseconds.
//! * The burst defaults to one second's share of the rate, at least 1: `max(1, ceil(rate/60))`.
//! * A single cost larger than the burst would never fit. It is admitted once the schedule is
//!   idle (it waits as if it cost exactly the burst) and then charged in full, so the requests
//!   after it wait off the excess.
//! * [`RateLimiter::try_acquire`] checks both limits and reserves on both only when both admit;
//!   otherwise it returns how long to wait and reserves nothing.
//! * [`RateLimiter::settle`] corrects the token schedule once the real usage is known: more
//!   tokens than estimated push TAT later; fewer give tokens back, but never move TAT before now
//!   (unused capacity in the past cannot be spent).
//! * A rate of 0 means "no limit", like `None`.

use std::sync::{Mutex, MutexGuard, PoisonError};

const MS_PER_MINUTE: u128 = 60_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimiterConfig {
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
    /// Requests admitted at once; defaults to one second's share.
    pub request_burst: Option<u32>,
    /// Tokens admitted at once; defaults to one second's share.
    pub token_burst: Option<u32>,
}

/// One GCRA schedule; a tick is `1/rate` ms, so one unit costs `MS_PER_MINUTE` ticks.
#[derive(Clone, Debug)]
struct Gcra {
    rate: u128,
    burst: u128,
    tat: u128,
}

impl Gcra {
    fn new(per_minute: Option<u32>, burst: Option<u32>) -> Option<Self> {
        let rate = per_minute.filter(|&r| r > 0)?;
        let burst = burst.unwrap_or_else(|| rate.div_ceil(60)).max(1);
        Some(Gcra {
            rate: u128::from(rate),
            burst: u128::from(burst),
            tat: 0,
        })
    }

    fn ticks(&self, now_ms: u64) -> u128 {
        u128::from(now_ms) * self.rate
    }

    /// Milliseconds until `cost` units would be admitted (0 = now).
    fn wait_ms(&self, cost: u64, now_ms: u64) -> u64 {
        let now = self.ticks(now_ms);
        let charged = u128::from(cost).min(self.burst) * MS_PER_MINUTE;
        let allowed_at = (self.tat.max(now) + charged).saturating_sub(self.burst * MS_PER_MINUTE);
        let wait = allowed_at.saturating_sub(now).div_ceil(self.rate);
        u64::try_from(wait).unwrap_or(u64::MAX)
    }

    fn reserve(&mut self, cost: u64, now_ms: u64) {
        let now = self.ticks(now_ms);
        self.tat = self.tat.max(now) + u128::from(cost) * MS_PER_MINUTE;
    }

    fn give_back(&mut self, amount: u64, now_ms: u64) {
        let now = self.ticks(now_ms);
        self.tat = self
            .tat
            .saturating_sub(u128::from(amount) * MS_PER_MINUTE)
            .max(now);
    }
}

#[derive(Clone, Debug)]
pub struct RateLimiter {
    requests: Option<Gcra>,
    tokens: Option<Gcra>,
}

impl RateLimiter {
    pub fn new(config: LimiterConfig) -> Self {
        RateLimiter {
            requests: Gcra::new(config.requests_per_minute, config.request_burst),
            tokens: Gcra::new(config.tokens_per_minute, config.token_burst),
        }
    }

    /// Reserves one request and `tokens` tokens and returns 0 when both limits admit them now;
    /// otherwise reserves nothing and returns the milliseconds to wait before trying again.
    pub fn try_acquire(&mut self, tokens: u64, now_ms: u64) -> u64 {
        let request_wait = self.requests.as_ref().map_or(0, |g| g.wait_ms(1, now_ms));
        let token_wait = self
            .tokens
            .as_ref()
            .map_or(0, |g| g.wait_ms(tokens, now_ms));
        let wait = request_wait.max(token_wait);
        if wait == 0 {
            if let Some(g) = self.requests.as_mut() {
                g.reserve(1, now_ms);
            }
            if let Some(g) = self.tokens.as_mut() {
                g.reserve(tokens, now_ms);
            }
        }
        wait
    }

    /// Corrects the token schedule by `actual - estimated` once the real usage is known.
    pub fn settle(&mut self, estimated: u64, actual: u64, now_ms: u64) {
        let Some(g) = self.tokens.as_mut() else {
            return;
        };
        if actual > estimated {
            g.reserve(actual - estimated, now_ms);
        } else {
            g.give_back(estimated - actual, now_ms);
        }
    }
}

/// A [`RateLimiter`] behind a mutex; a poisoned lock is taken over (see `SharedBreaker`).
#[derive(Debug)]
pub struct SharedLimiter {
    inner: Mutex<RateLimiter>,
}

impl SharedLimiter {
    pub fn new(config: LimiterConfig) -> Self {
        SharedLimiter {
            inner: Mutex::new(RateLimiter::new(config)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RateLimiter> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn try_acquire(&self, tokens: u64, now_ms: u64) -> u64 {
        self.lock().try_acquire(tokens, now_ms)
    }

    pub fn settle(&self, estimated: u64, actual: u64, now_ms: u64) {
        self.lock().settle(estimated, actual, now_ms);
    }
}
