use crate::backoff::Backoff;

#[test]
fn full_jitter_stays_within_bounds_and_spreads() {
    let b = Backoff::new(500, 30_000, u64::MAX, 7);
    for attempt in 0..10 {
        let ceiling = (500u64 << attempt).min(30_000);
        assert_eq!(b.ceiling_ms(attempt), ceiling);
        let draws: Vec<u64> = (0..2_000)
            .map(|_| b.delay_ms(attempt, None).unwrap())
            .collect();
        assert!(draws.iter().all(|&d| d <= ceiling));
        let mean = draws.iter().sum::<u64>() as f64 / draws.len() as f64;
        let expected = ceiling as f64 / 2.0;
        assert!(
            (mean - expected).abs() < expected * 0.1,
            "attempt {attempt}: mean {mean}"
        );
        assert!(draws.iter().any(|&d| d < ceiling / 10));
        assert!(draws.iter().any(|&d| d > ceiling * 9 / 10));
    }
}

#[test]
fn the_same_seed_gives_the_same_delays() {
    let a = Backoff::new(100, 10_000, u64::MAX, 42);
    let b = Backoff::new(100, 10_000, u64::MAX, 42);
    let c = Backoff::new(100, 10_000, u64::MAX, 43);
    let draw = |x: &Backoff| (0..20).map(|i| x.delay_ms(i % 8, None)).collect::<Vec<_>>();
    let first = draw(&a);
    assert_eq!(first, draw(&b));
    assert_ne!(first, draw(&c));
}

#[test]
fn retry_after_wins() {
    let b = Backoff::new(500, 30_000, 60_000, 1);
    assert_eq!(b.delay_ms(0, Some(45_000)), Some(45_000));
    assert_eq!(b.delay_ms(9, Some(0)), Some(0));
}

#[test]
fn longer_than_max_wait_means_fall_back_now() {
    let b = Backoff::new(500, 30_000, 10_000, 1);
    assert_eq!(b.delay_ms(0, Some(10_001)), None);
    assert_eq!(b.delay_ms(0, Some(10_000)), Some(10_000));
    let impatient = Backoff::new(500, 30_000, 0, 1);
    let draws: Vec<_> = (0..100).map(|_| impatient.delay_ms(3, None)).collect();
    assert!(draws.contains(&None));
}

#[test]
fn huge_attempts_saturate_at_the_cap() {
    let b = Backoff::new(500, 30_000, u64::MAX, 1);
    for attempt in [31, 63, 64, 1_000, u32::MAX] {
        assert_eq!(b.ceiling_ms(attempt), 30_000);
        assert!(b.delay_ms(attempt, None).unwrap() <= 30_000);
    }
    let uncapped = Backoff::new(u64::MAX, u64::MAX, u64::MAX, 1);
    assert_eq!(uncapped.ceiling_ms(5), u64::MAX);
    assert!(uncapped.delay_ms(5, None).is_some());
    let zero = Backoff::new(0, 30_000, u64::MAX, 1);
    assert_eq!(zero.delay_ms(100, None), Some(0));
}
