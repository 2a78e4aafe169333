use crate::retry_after::{parse_duration, parse_retry_after};

/// 2015-10-21T07:28:00Z.
const OCT_21_2015: u64 = 1_445_412_480_000;

#[test]
fn retry_after_ms_wins() {
    assert_eq!(parse_retry_after(Some("1500"), Some("30"), 0), Some(1_500));
    assert_eq!(parse_retry_after(Some("1500.2"), None, 0), Some(1_501));
    assert_eq!(parse_retry_after(Some(" 20 "), None, 0), Some(20));
}

#[test]
fn garbage_retry_after_ms_falls_back_to_retry_after() {
    assert_eq!(parse_retry_after(Some("soon"), Some("2"), 0), Some(2_000));
}

#[test]
fn retry_after_seconds() {
    assert_eq!(parse_retry_after(None, Some("30"), 0), Some(30_000));
    assert_eq!(parse_retry_after(None, Some("0"), 0), Some(0));
    assert_eq!(parse_retry_after(None, Some("1.5"), 0), Some(1_500));
    assert_eq!(parse_retry_after(None, Some("0.0001"), 0), Some(1));
    assert_eq!(
        parse_retry_after(None, Some("99999999999999999999999"), 0),
        Some(u64::MAX)
    );
}

#[test]
fn retry_after_http_date_in_the_future() {
    let now = OCT_21_2015 - 5_000;
    let date = "Wed, 21 Oct 2015 07:28:00 GMT";
    assert_eq!(parse_retry_after(None, Some(date), now), Some(5_000));
}

#[test]
fn retry_after_http_date_in_the_past_is_zero() {
    let date = "Wed, 21 Oct 2015 07:28:00 GMT";
    assert_eq!(
        parse_retry_after(None, Some(date), OCT_21_2015 + 1),
        Some(0)
    );
    let before_epoch = "Thu, 01 Jan 1950 00:00:00 GMT";
    assert_eq!(parse_retry_after(None, Some(before_epoch), 0), Some(0));
}

#[test]
fn http_dates_across_leap_days_and_centuries() {
    let cases = [
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
        ("Tue, 29 Feb 2000 12:00:00 GMT", 951_825_600_000),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777_000),
        ("Fri, 31 Dec 2099 23:59:59 GMT", 4_102_444_799_000),
    ];
    for (date, unix_ms) in cases {
        assert_eq!(
            parse_retry_after(None, Some(date), 0),
            Some(unix_ms),
            "{date}"
        );
    }
}

#[test]
fn garbage_is_none() {
    let garbage = [
        "",
        " ",
        "-1",
        "1e3",
        "1.2.3",
        ".",
        "+5",
        "soon",
        "Wed, 21 Oct 2015 07:28:00 UTC",
        "Wed, 21 Oct 2015 07:28 GMT",
        "Wed, 32 Oct 2015 07:28:00 GMT",
        "Wed, 29 Feb 2015 07:28:00 GMT",
        "Wed, 21 Foo 2015 07:28:00 GMT",
        "Wed 21 Oct 2015 07:28:00 GMT",
        "Wed, 21 Oct 2015 24:00:00 GMT",
        "Wed, 21 Oct 2015 07:28:00 GMT extra",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Wed, 21 Oct 2015 07:28:00:00 GMT",
        "Wed, 21 Oct 15 07:28:00 GMT",
        "1\u{0660}",
    ];
    for value in garbage {
        assert_eq!(parse_retry_after(None, Some(value), 0), None, "{value:?}");
        assert_eq!(parse_retry_after(Some(value), None, 0), None, "{value:?}");
    }
    assert_eq!(parse_retry_after(None, None, 0), None);
}

#[test]
fn durations() {
    assert_eq!(parse_duration("30s"), Some(30_000));
    assert_eq!(parse_duration("1.5s"), Some(1_500));
    assert_eq!(parse_duration("0.250s"), Some(250));
    assert_eq!(parse_duration("0.000000001s"), Some(1));
    assert_eq!(parse_duration("0s"), Some(0));
    assert_eq!(parse_duration(" 2s "), Some(2_000));
    assert_eq!(parse_duration("6m0s"), Some(360_000));
    assert_eq!(parse_duration("1h2m3.5s"), Some(3_723_500));
    assert_eq!(parse_duration("300ms"), Some(300));
    assert_eq!(parse_duration("1.5ms"), Some(2));
    assert_eq!(parse_duration("1500us"), Some(2));
    assert_eq!(parse_duration("1\u{b5}s"), Some(1));
    assert_eq!(parse_duration("999999ns"), Some(1));
    assert_eq!(parse_duration("0"), Some(0));
    assert_eq!(
        parse_duration("99999999999999999999999999999999999999999h"),
        Some(u64::MAX)
    );
    for garbage in [
        "", "s", "30", "-1s", "abc", "1..5s", "1 s", "5d", "1s2", ".s", "1S",
    ] {
        assert_eq!(parse_duration(garbage), None, "{garbage:?}");
    }
}

proptest::proptest! {
    #[test]
    fn never_panics(a in ".{0,40}", b in ".{0,40}", now in proptest::prelude::any::<u64>()) {
        let _ = parse_retry_after(Some(&a), Some(&b), now);
        let _ = parse_retry_after(None, Some(&a), now);
        let _ = parse_duration(&a);
    }
}
