//! Circuit breaker: closed → open → half-open → closed, on an injected clock.
//!
//! * closed → open after `failure_threshold` consecutive failures (0 turns the rule off), or
//!   when the count-based window of the last `window_size` outcomes (0 turns it off) holds at
//!   least `minimum_calls` outcomes (capped at `window_size`) and its failure rate, in percent,
//!   is at least `failure_rate_threshold` (resilience4j semantics, checked after every outcome).
//! * open → half-open once `now >= opened_at + reset_timeout_ms`, applied by
//!   [`Breaker::allow_request`]; [`Breaker::state`] reports it without changing anything.
//! * half-open admits at most `half_open_max_calls` probes at a time. A success closes the
//!   breaker and clears its counters; a failure reopens it; a neutral outcome
//!   ([`Breaker::record_neutral`], e.g. a 429 or 401 that says nothing about the provider's
//!   health) frees the probe's slot and changes nothing else.
//! * In the open state outcomes are ignored: they belong to calls admitted before it opened.
//!
//! Every method takes `now_ms`; the breaker never reads a clock. [`SharedBreaker`] is the
//! thread-safe form that one process shares between all its tasks and threads.

use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerConfig {
    pub failure_threshold: u32,
    pub reset_timeout_ms: u64,
    pub half_open_max_calls: u32,
    pub window_size: u32,
    pub minimum_calls: u32,
    /// Percent, 0–100.
    pub failure_rate_threshold: f64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            reset_timeout_ms: 60_000,
            half_open_max_calls: 1,
            window_size: 0,
            minimum_calls: 10,
            failure_rate_threshold: 50.0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// The last `capacity` outcomes, as a ring of booleans (`true` = failure).
#[derive(Clone, Debug, Default)]
struct Window {
    outcomes: Vec<bool>,
    next: usize,
    failures: u32,
}

impl Window {
    fn new(capacity: u32) -> Self {
        Window {
            outcomes: Vec::with_capacity(capacity as usize),
            next: 0,
            failures: 0,
        }
    }

    fn record(&mut self, failed: bool, capacity: usize) {
        if capacity == 0 {
            return;
        }
        if self.outcomes.len() < capacity {
            self.outcomes.push(failed);
        } else {
            let evicted = std::mem::replace(&mut self.outcomes[self.next], failed);
            self.failures -= u32::from(evicted);
            self.next = (self.next + 1) % capacity;
        }
        self.failures += u32::from(failed);
    }

    fn len(&self) -> u32 {
        self.outcomes.len() as u32
    }

    fn failure_rate(&self) -> f64 {
        f64::from(self.failures) * 100.0 / f64::from(self.len().max(1))
    }

    fn clear(&mut self) {
        self.outcomes.clear();
        self.next = 0;
        self.failures = 0;
    }
}

#[derive(Clone, Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: BreakerState,
    consecutive_failures: u32,
    window: Window,
    opened_at_ms: u64,
    probes_in_flight: u32,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        Breaker {
            config,
            state: BreakerState::Closed,
            consecutive_failures: 0,
            window: Window::new(config.window_size),
            opened_at_ms: 0,
            probes_in_flight: 0,
        }
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The state as of `now_ms`: an open breaker whose timeout has passed reads as half-open.
    pub fn state(&self, now_ms: u64) -> BreakerState {
        if self.state == BreakerState::Open && self.reset_due(now_ms) {
            BreakerState::HalfOpen
        } else {
            self.state
        }
    }

    /// The state as of the last call, without applying the reset timeout.
    pub fn stored_state(&self) -> BreakerState {
        self.state
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// The failure rate (percent) over the window, once it holds enough outcomes to count.
    pub fn failure_rate(&self) -> Option<f64> {
        self.window_is_full_enough()
            .then(|| self.window.failure_rate())
    }

    pub fn allow_request(&mut self, now_ms: u64) -> bool {
        if self.state == BreakerState::Open && self.reset_due(now_ms) {
            self.state = BreakerState::HalfOpen;
            self.probes_in_flight = 0;
        }
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen
                if self.probes_in_flight < self.config.half_open_max_calls.max(1) =>
            {
                self.probes_in_flight += 1;
                true
            }
            BreakerState::HalfOpen => false,
        }
    }

    pub fn record_success(&mut self, now_ms: u64) {
        match self.state {
            BreakerState::Closed => {
                self.consecutive_failures = 0;
                self.record_in_window(false);
                if self.rate_tripped() {
                    self.open(now_ms);
                }
            }
            BreakerState::HalfOpen => self.close(),
            BreakerState::Open => {}
        }
    }

    pub fn record_failure(&mut self, now_ms: u64) {
        match self.state {
            BreakerState::Closed => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.record_in_window(true);
                if self.threshold_tripped() || self.rate_tripped() {
                    self.open(now_ms);
                }
            }
            BreakerState::HalfOpen => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.open(now_ms);
            }
            BreakerState::Open => {}
        }
    }

    pub fn record_neutral(&mut self, _now_ms: u64) {
        if self.state == BreakerState::HalfOpen {
            self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
        }
    }

    fn reset_due(&self, now_ms: u64) -> bool {
        now_ms
            >= self
                .opened_at_ms
                .saturating_add(self.config.reset_timeout_ms)
    }

    fn record_in_window(&mut self, failed: bool) {
        self.window.record(failed, self.config.window_size as usize);
    }

    fn threshold_tripped(&self) -> bool {
        self.config.failure_threshold > 0
            && self.consecutive_failures >= self.config.failure_threshold
    }

    fn window_is_full_enough(&self) -> bool {
        let needed = self
            .config
            .minimum_calls
            .clamp(1, self.config.window_size.max(1));
        self.config.window_size > 0 && self.window.len() >= needed
    }

    fn rate_tripped(&self) -> bool {
        self.window_is_full_enough()
            && self.window.failure_rate() >= self.config.failure_rate_threshold
    }

    fn open(&mut self, now_ms: u64) {
        self.state = BreakerState::Open;
        self.opened_at_ms = now_ms;
        self.probes_in_flight = 0;
    }

    fn close(&mut self) {
        self.state = BreakerState::Closed;
        self.consecutive_failures = 0;
        self.window.clear();
        self.probes_in_flight = 0;
    }
}

/// A [`Breaker`] behind a mutex. A panic while the lock is held cannot leave the breaker
/// half-updated in a way that matters (every method is a few field writes), so a poisoned lock
/// is simply taken over.
#[derive(Debug)]
pub struct SharedBreaker {
    inner: Mutex<Breaker>,
}

impl SharedBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        SharedBreaker {
            inner: Mutex::new(Breaker::new(config)),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Breaker> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn allow_request(&self, now_ms: u64) -> bool {
        self.lock().allow_request(now_ms)
    }

    pub fn record_success(&self, now_ms: u64) {
        self.lock().record_success(now_ms);
    }

    pub fn record_failure(&self, now_ms: u64) {
        self.lock().record_failure(now_ms);
    }

    pub fn record_neutral(&self, now_ms: u64) {
        self.lock().record_neutral(now_ms);
    }
}
