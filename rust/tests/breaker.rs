use crate::breaker::{Breaker, BreakerConfig, BreakerState, SharedBreaker};
use std::sync::Arc;

fn config(failure_threshold: u32, reset_timeout_ms: u64) -> BreakerConfig {
    BreakerConfig {
        failure_threshold,
        reset_timeout_ms,
        ..BreakerConfig::default()
    }
}

fn rate_config(window_size: u32, minimum_calls: u32, threshold: f64) -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 0,
        window_size,
        minimum_calls,
        failure_rate_threshold: threshold,
        ..BreakerConfig::default()
    }
}

fn opened(reset_timeout_ms: u64, half_open_max_calls: u32) -> Breaker {
    let mut b = Breaker::new(BreakerConfig {
        half_open_max_calls,
        ..config(1, reset_timeout_ms)
    });
    b.record_failure(1_000);
    assert_eq!(b.stored_state(), BreakerState::Open);
    b
}

#[test]
fn opens_after_threshold_consecutive_failures() {
    let mut b = Breaker::new(config(3, 1_000));
    b.record_failure(0);
    b.record_failure(0);
    assert_eq!(b.state(0), BreakerState::Closed);
    assert_eq!(b.consecutive_failures(), 2);
    b.record_failure(0);
    assert_eq!(b.state(0), BreakerState::Open);
    assert!(!b.allow_request(0));
}

#[test]
fn a_success_resets_the_consecutive_count() {
    let mut b = Breaker::new(config(3, 1_000));
    b.record_failure(0);
    b.record_failure(0);
    b.record_success(0);
    b.record_failure(0);
    b.record_failure(0);
    assert_eq!(b.state(0), BreakerState::Closed);
    assert_eq!(b.consecutive_failures(), 2);
}

#[test]
fn rate_window_waits_for_minimum_calls() {
    let mut b = Breaker::new(rate_config(10, 4, 50.0));
    b.record_failure(0);
    b.record_failure(0);
    b.record_failure(0);
    assert_eq!(b.failure_rate(), None);
    assert_eq!(b.state(0), BreakerState::Closed);
    b.record_success(0);
    // 3 failures of 4 calls = 75% >= 50%: it trips on the success that completes the minimum.
    assert_eq!(b.state(0), BreakerState::Open);
}

#[test]
fn rate_window_below_threshold_stays_closed() {
    let mut b = Breaker::new(rate_config(4, 4, 50.0));
    for failed in [true, false, false, false, true, false, false] {
        if failed {
            b.record_failure(0);
        } else {
            b.record_success(0);
        }
        assert_eq!(b.state(0), BreakerState::Closed);
    }
    assert_eq!(b.failure_rate(), Some(25.0));
}

#[test]
fn rate_window_forgets_old_outcomes() {
    let mut b = Breaker::new(rate_config(4, 4, 75.0));
    for _ in 0..2 {
        b.record_failure(0);
    }
    for _ in 0..4 {
        b.record_success(0);
    }
    assert_eq!(b.failure_rate(), Some(0.0));
    for _ in 0..2 {
        b.record_failure(0);
    }
    assert_eq!(b.failure_rate(), Some(50.0));
    b.record_failure(0);
    assert_eq!(b.state(0), BreakerState::Open);
}

#[test]
fn minimum_calls_above_window_size_is_capped() {
    let mut b = Breaker::new(rate_config(2, 10, 100.0));
    b.record_failure(0);
    b.record_failure(0);
    assert_eq!(b.state(0), BreakerState::Open);
}

#[test]
fn half_opens_after_reset_timeout() {
    let mut b = opened(500, 1);
    assert_eq!(b.state(1_499), BreakerState::Open);
    assert!(!b.allow_request(1_499));
    assert_eq!(b.state(1_500), BreakerState::HalfOpen);
    assert_eq!(b.stored_state(), BreakerState::Open);
    assert!(b.allow_request(1_500));
    assert_eq!(b.stored_state(), BreakerState::HalfOpen);
}

#[test]
fn half_open_admits_at_most_max_calls_probes() {
    let mut b = opened(500, 2);
    assert!(b.allow_request(2_000));
    assert!(b.allow_request(2_000));
    assert!(!b.allow_request(2_000));
    b.record_neutral(2_001);
    assert_eq!(b.stored_state(), BreakerState::HalfOpen);
    assert!(b.allow_request(2_002));
    assert!(!b.allow_request(2_002));
}

#[test]
fn probe_success_closes_and_clears() {
    let mut b = opened(500, 1);
    assert!(b.allow_request(2_000));
    b.record_success(2_010);
    assert_eq!(b.state(2_010), BreakerState::Closed);
    assert_eq!(b.consecutive_failures(), 0);
    assert!(b.allow_request(2_010));
}

#[test]
fn probe_failure_reopens_from_now() {
    let mut b = opened(500, 1);
    assert!(b.allow_request(2_000));
    b.record_failure(2_100);
    assert_eq!(b.state(2_100), BreakerState::Open);
    assert!(!b.allow_request(2_599));
    assert!(b.allow_request(2_600));
}

#[test]
fn neutral_outcomes_change_nothing_when_closed() {
    let mut b = Breaker::new(config(2, 1_000));
    b.record_failure(0);
    b.record_neutral(0);
    assert_eq!(b.consecutive_failures(), 1);
    b.record_failure(0);
    assert_eq!(b.state(0), BreakerState::Open);
}

#[test]
fn outcomes_while_open_are_ignored() {
    let mut b = opened(500, 1);
    b.record_success(1_100);
    assert_eq!(b.stored_state(), BreakerState::Open);
    b.record_failure(1_400);
    assert!(
        b.allow_request(1_500),
        "the late failure must not push the reset back"
    );
}

#[test]
fn huge_reset_timeout_does_not_overflow() {
    let mut b = Breaker::new(config(1, u64::MAX));
    b.record_failure(1);
    assert!(!b.allow_request(u64::MAX - 1));
}

#[test]
fn shared_breaker_counts_every_thread() {
    let shared = Arc::new(SharedBreaker::new(BreakerConfig {
        failure_threshold: 0,
        window_size: 1_000,
        minimum_calls: 1_000,
        failure_rate_threshold: 100.0,
        ..BreakerConfig::default()
    }));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                for i in 0..125 {
                    assert!(shared.allow_request(i));
                    shared.record_failure(i);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let b = shared.lock();
    assert_eq!(b.consecutive_failures(), 1_000);
    assert_eq!(b.stored_state(), BreakerState::Open);
}

#[test]
fn shared_breaker_survives_a_poisoned_lock() {
    let shared = Arc::new(SharedBreaker::new(config(5, 1_000)));
    let poisoner = Arc::clone(&shared);
    let result = std::thread::spawn(move || {
        let _guard = poisoner.lock();
        panic!("poison the lock");
    })
    .join();
    assert!(result.is_err());
    shared.record_failure(0);
    assert_eq!(shared.lock().consecutive_failures(), 1);
}
