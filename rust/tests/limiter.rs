use crate::limiter::{LimiterConfig, RateLimiter};

fn rpm(n: u32) -> RateLimiter {
    RateLimiter::new(LimiterConfig {
        requests_per_minute: Some(n),
        ..LimiterConfig::default()
    })
}

fn tpm(n: u32) -> RateLimiter {
    RateLimiter::new(LimiterConfig {
        tokens_per_minute: Some(n),
        ..LimiterConfig::default()
    })
}

#[test]
fn no_limits_admits_everything() {
    let mut r = RateLimiter::new(LimiterConfig::default());
    for _ in 0..10_000 {
        assert_eq!(r.try_acquire(1_000_000, 0), 0);
    }
}

#[test]
fn rpm_paces_requests_after_the_burst() {
    // 60 rpm: one per second, burst 1.
    let mut r = rpm(60);
    assert_eq!(r.try_acquire(0, 0), 0);
    assert_eq!(r.try_acquire(0, 0), 1_000);
    assert_eq!(r.try_acquire(0, 400), 600);
    assert_eq!(r.try_acquire(0, 1_000), 0);
    assert_eq!(r.try_acquire(0, 1_000), 1_000);
}

#[test]
fn rpm_burst_defaults_to_one_seconds_share() {
    // 600 rpm: 10 per second, so 10 at once, then one every 100 ms.
    let mut r = rpm(600);
    for _ in 0..10 {
        assert_eq!(r.try_acquire(0, 5_000), 0);
    }
    assert_eq!(r.try_acquire(0, 5_000), 100);
    assert_eq!(r.try_acquire(0, 5_050), 50);
    assert_eq!(r.try_acquire(0, 5_100), 0);
}

#[test]
fn explicit_burst_is_honoured() {
    let mut r = RateLimiter::new(LimiterConfig {
        requests_per_minute: Some(60),
        request_burst: Some(3),
        ..LimiterConfig::default()
    });
    for _ in 0..3 {
        assert_eq!(r.try_acquire(0, 0), 0);
    }
    assert_eq!(r.try_acquire(0, 0), 1_000);
}

#[test]
fn waits_round_up_to_whole_milliseconds() {
    // 7 rpm: T = 8571.43 ms.
    let mut r = rpm(7);
    assert_eq!(r.try_acquire(0, 0), 0);
    assert_eq!(r.try_acquire(0, 0), 8_572);
    assert_eq!(r.try_acquire(0, 8_571), 1);
    assert_eq!(r.try_acquire(0, 8_572), 0);
}

#[test]
fn exact_arithmetic_admits_exactly_the_rate_every_minute() {
    // 7 rpm with a minute's burst: seven 8571.43 ms intervals are exactly one minute, so
    // every minute admits exactly seven, however long it runs.
    let mut r = RateLimiter::new(LimiterConfig {
        requests_per_minute: Some(7),
        request_burst: Some(7),
        ..LimiterConfig::default()
    });
    for minute in 0..10_000u64 {
        let now = minute * 60_000;
        for _ in 0..7 {
            assert_eq!(r.try_acquire(0, now), 0, "minute {minute}");
        }
        assert!(r.try_acquire(0, now) > 0, "minute {minute}");
    }
}

#[test]
fn refused_acquire_reserves_nothing() {
    let mut r = rpm(60);
    assert_eq!(r.try_acquire(0, 0), 0);
    for _ in 0..5 {
        assert_eq!(r.try_acquire(0, 0), 1_000);
    }
    assert_eq!(r.try_acquire(0, 1_000), 0);
}

#[test]
fn tpm_reserves_tokens() {
    // 6000 tpm: 100 tokens per second, burst 100.
    let mut r = tpm(6_000);
    assert_eq!(r.try_acquire(60, 0), 0);
    assert_eq!(r.try_acquire(40, 0), 0);
    assert_eq!(r.try_acquire(50, 0), 500);
    assert_eq!(r.try_acquire(50, 500), 0);
}

#[test]
fn a_cost_above_the_burst_waits_for_an_idle_schedule_then_pays_in_full() {
    let mut r = tpm(6_000);
    assert_eq!(r.try_acquire(300, 0), 0);
    // 300 tokens = 3 s of schedule, burst 1 s: the next token waits 2 s.
    assert_eq!(r.try_acquire(1, 0), 2_010);
    assert_eq!(r.try_acquire(300, 2_000), 1_000);
    assert_eq!(r.try_acquire(300, 3_000), 0);
}

#[test]
fn settle_charges_extra_tokens() {
    let mut r = tpm(6_000);
    assert_eq!(r.try_acquire(50, 0), 0);
    r.settle(50, 150, 0);
    assert_eq!(r.try_acquire(50, 0), 1_000);
}

#[test]
fn settle_gives_unused_tokens_back() {
    let mut r = tpm(6_000);
    assert_eq!(r.try_acquire(100, 0), 0);
    assert_eq!(r.try_acquire(100, 0), 1_000);
    r.settle(100, 20, 0);
    assert_eq!(r.try_acquire(80, 0), 0);
}

#[test]
fn settle_never_gives_back_past_time() {
    let mut r = tpm(6_000);
    assert_eq!(r.try_acquire(100, 0), 0);
    r.settle(100, 0, 10_000);
    // Idle long ago: still only one burst is available now.
    assert_eq!(r.try_acquire(100, 10_000), 0);
    assert_eq!(r.try_acquire(100, 10_000), 1_000);
}

#[test]
fn both_limits_must_admit() {
    let mut r = RateLimiter::new(LimiterConfig {
        requests_per_minute: Some(600),
        tokens_per_minute: Some(6_000),
        ..LimiterConfig::default()
    });
    assert_eq!(r.try_acquire(100, 0), 0);
    // Requests have room (burst 10), tokens do not.
    assert_eq!(r.try_acquire(100, 0), 1_000);
    assert_eq!(r.try_acquire(0, 0), 0);
}

#[test]
fn zero_rate_means_no_limit() {
    let mut r = rpm(0);
    for _ in 0..100 {
        assert_eq!(r.try_acquire(0, 0), 0);
    }
}

#[test]
fn large_clock_values_do_not_overflow() {
    let mut r = RateLimiter::new(LimiterConfig {
        requests_per_minute: Some(u32::MAX),
        tokens_per_minute: Some(u32::MAX),
        ..LimiterConfig::default()
    });
    assert_eq!(r.try_acquire(u64::MAX, u64::MAX), 0);
    assert!(r.try_acquire(u64::MAX, u64::MAX) > 0);
    r.settle(0, u64::MAX, u64::MAX);
    r.settle(u64::MAX, 0, u64::MAX);
}
