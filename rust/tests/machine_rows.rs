//! One test per row of the transition table (DESIGN.md's baseline, then the documented
//! extensions and the restart rows). Long by design: a reader finds a row's test by its name.

use crate::machine::{Event, Machine, State, Usage};

pub(super) fn initiate(stream: bool) -> Event {
    Event::InitiateRequest {
        provider: "claude".into(),
        model: "claude-sonnet-4-5".into(),
        message_count: 1,
        max_tokens: Some(100),
        temperature: Some(1.0),
        stream,
    }
}

pub(super) fn chunk(text: &str, index: u32) -> Event {
    Event::ReceiveStreamChunk {
        chunk: text.into(),
        index,
    }
}

/// `retry_request` as the router sends it today: no retry number, no restart.
pub(super) const RETRY: Event = Event::RetryRequest {
    attempt: None,
    restart: false,
};

/// `retry_request(restart=True)`: the router starts a streamed reply again.
pub(super) const RESTART: Event = Event::RetryRequest {
    attempt: None,
    restart: true,
};

/// A failure the router will not retry on this deployment.
pub(super) fn failed(code: &str) -> Event {
    Event::RequestFailed {
        error: format!("{code} happened"),
        code: Some(code.into()),
        retryable: false,
    }
}

/// A failure the router's policy will retry on this deployment.
pub(super) fn retryable(code: &str) -> Event {
    Event::RequestFailed {
        error: format!("{code} happened"),
        code: Some(code.into()),
        retryable: true,
    }
}

pub(super) fn fallback(provider: &str) -> Event {
    Event::FallbackToProvider {
        provider: provider.into(),
        model: None,
        max_retries: None,
        restart: false,
    }
}

fn fallback_restarting(provider: &str) -> Event {
    Event::FallbackToProvider {
        provider: provider.into(),
        model: None,
        max_retries: None,
        restart: true,
    }
}

pub(super) fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        total_tokens: input + output,
        duration_ms: 42,
    }
}

pub(super) fn new_machine(max_retries: u32) -> Machine {
    Machine::new(
        "req-1".into(),
        max_retries,
        vec!["gemini".into(), "openai".into()],
    )
}

pub(super) fn apply(m: &mut Machine, events: &[Event]) {
    for event in events {
        if let Err(err) = m.transition(event) {
            panic!("setup step failed: {err}");
        }
    }
}

pub(super) fn requesting(stream: bool, max_retries: u32) -> Machine {
    let mut m = new_machine(max_retries);
    apply(&mut m, &[initiate(stream), Event::ValidationPassed]);
    m
}

fn history(m: &Machine) -> Vec<&'static str> {
    m.history().iter().map(|s| s.as_str()).collect()
}

fn assert_invalid(m: &mut Machine, event: &Event) {
    let before = m.clone();
    let err = m.transition(event).unwrap_err();
    assert_eq!((err.from, err.event), (before.state(), event.name()));
    assert_eq!(m.state(), before.state());
    assert_eq!(m.context(), before.context());
    assert_eq!(m.history(), before.history());
}

#[test]
fn row_idle_initiate_request_to_validating() {
    let mut m = new_machine(3);
    m.transition(&initiate(true)).unwrap();
    assert_eq!(m.state(), State::Validating);
    let ctx = m.context();
    assert_eq!(
        (ctx.provider.as_str(), ctx.model.as_str()),
        ("claude", "claude-sonnet-4-5")
    );
    assert_eq!(
        (ctx.message_count, ctx.max_tokens, ctx.temperature),
        (1, Some(100), Some(1.0))
    );
    assert!(ctx.stream);
    assert_eq!(ctx.fallback_providers, ["gemini", "openai"]);
    assert_eq!(history(&m), ["idle", "validating"]);
}

#[test]
fn row_validating_validation_passed_to_requesting() {
    let m = requesting(false, 3);
    assert_eq!(m.state(), State::Requesting);
    assert_eq!(m.context().attempt, 1);
    assert_eq!(history(&m), ["idle", "validating", "requesting"]);
}

#[test]
fn row_validating_validation_passed_without_messages_is_invalid() {
    let mut m = new_machine(3);
    let no_messages = Event::InitiateRequest {
        provider: "claude".into(),
        model: "m".into(),
        message_count: 0,
        max_tokens: None,
        temperature: None,
        stream: false,
    };
    m.transition(&no_messages).unwrap();
    assert_invalid(&mut m, &Event::ValidationPassed);
}

#[test]
fn row_validating_validation_failed_to_failed() {
    let mut m = new_machine(3);
    apply(&mut m, &[initiate(false)]);
    m.transition(&Event::ValidationFailed {
        error: "no messages".into(),
    })
    .unwrap();
    assert_eq!(m.state(), State::Failed);
    assert_eq!(m.context().error.as_deref(), Some("no messages"));
    assert_eq!(m.context().error_code.as_deref(), Some("VALIDATION_ERROR"));
    assert!(!m.context().retryable);
}

#[test]
fn row_requesting_receive_response_not_stream_to_completed() {
    let mut m = requesting(false, 3);
    m.transition(&Event::ReceiveResponse {
        content: "Hi!".into(),
        usage: usage(10, 5),
    })
    .unwrap();
    assert_eq!(m.state(), State::Completed);
    let ctx = m.context();
    assert_eq!(ctx.response, "Hi!");
    assert_eq!(
        (
            ctx.input_tokens,
            ctx.output_tokens,
            ctx.total_tokens,
            ctx.duration_ms
        ),
        (10, 5, 15, 42)
    );
    assert_eq!(
        history(&m),
        ["idle", "validating", "requesting", "completed"]
    );
}

#[test]
fn row_requesting_receive_response_when_streaming_is_invalid() {
    let mut m = requesting(true, 3);
    let response = Event::ReceiveResponse {
        content: "Hi!".into(),
        usage: usage(1, 1),
    };
    assert_invalid(&mut m, &response);
}

#[test]
fn row_requesting_receive_stream_chunk_stream_to_streaming() {
    let mut m = requesting(true, 3);
    m.transition(&chunk("Hello", 0)).unwrap();
    assert_eq!(m.state(), State::Streaming);
    assert_eq!(
        (m.context().response.as_str(), m.context().chunk_count),
        ("Hello", 1)
    );
}

#[test]
fn row_requesting_receive_stream_chunk_not_stream_is_invalid() {
    let mut m = requesting(false, 3);
    assert_invalid(&mut m, &chunk("Hello", 0));
}

#[test]
fn row_streaming_receive_stream_chunk_to_streaming() {
    let mut m = requesting(true, 3);
    apply(&mut m, &[chunk("Hello", 0), chunk(" World", 1)]);
    assert_eq!(m.state(), State::Streaming);
    assert_eq!(m.context().response, "Hello World");
    assert_eq!(m.context().chunk_count, 2);
    assert_eq!(
        history(&m),
        ["idle", "validating", "requesting", "streaming"]
    );
}

#[test]
fn row_streaming_stream_complete_to_completed() {
    let mut m = requesting(true, 3);
    apply(&mut m, &[chunk("Hello", 0), chunk(" World", 1)]);
    m.transition(&Event::StreamComplete { usage: usage(3, 2) })
        .unwrap();
    assert_eq!(m.state(), State::Completed);
    assert_eq!(m.context().response, "Hello World");
    assert_eq!(m.context().total_tokens, 5);
}

#[test]
fn row_requesting_rate_limit_hit_to_rate_limited() {
    let mut m = requesting(false, 3);
    m.transition(&Event::RateLimitHit {
        retry_after_ms: Some(1000),
    })
    .unwrap();
    assert_eq!(m.state(), State::RateLimited);
    assert_eq!(m.context().retry_after_ms, Some(1000));
}

#[test]
fn row_streaming_rate_limit_hit_to_rate_limited() {
    let mut m = requesting(true, 3);
    apply(&mut m, &[chunk("a", 0)]);
    m.transition(&Event::RateLimitHit {
        retry_after_ms: None,
    })
    .unwrap();
    assert_eq!(m.state(), State::RateLimited);
    assert_eq!(m.context().retry_after_ms, None);
}

#[test]
fn row_rate_limited_retry_request_retries_left_to_retrying() {
    let mut m = requesting(false, 3);
    apply(
        &mut m,
        &[Event::RateLimitHit {
            retry_after_ms: Some(5),
        }],
    );
    m.transition(&RETRY).unwrap();
    assert_eq!(m.state(), State::Retrying);
    assert_eq!(m.context().retry_count, 1);
    assert_eq!(m.context().retry_after_ms, Some(5));
}

#[test]
fn row_rate_limited_retry_request_none_left_to_failed() {
    let mut m = requesting(false, 0);
    apply(
        &mut m,
        &[Event::RateLimitHit {
            retry_after_ms: None,
        }],
    );
    m.transition(&RETRY).unwrap();
    assert_eq!(m.state(), State::Failed);
    assert_eq!(m.context().error_code.as_deref(), Some("RATE_LIMITED"));
    assert!(m.context().error.is_some());
    assert_eq!(m.context().retry_count, 0);
}

#[test]
fn row_retrying_send_request_to_requesting() {
    let mut m = requesting(false, 3);
    apply(
        &mut m,
        &[
            Event::RateLimitHit {
                retry_after_ms: Some(5),
            },
            RETRY,
        ],
    );
    m.transition(&Event::SendRequest).unwrap();
    assert_eq!(m.state(), State::Requesting);
    assert_eq!(m.context().attempt, 2);
    assert_eq!(m.context().retry_after_ms, None);
    assert_eq!(
        history(&m),
        [
            "idle",
            "validating",
            "requesting",
            "rate_limited",
            "retrying",
            "requesting"
        ]
    );
}

#[test]
fn row_any_non_terminal_request_failed_to_failed() {
    for state in State::ALL.into_iter().filter(|s| !s.is_terminal()) {
        let mut m = super::machine_table::machine_in(state);
        m.transition(&Event::RequestFailed {
            error: "boom".into(),
            code: Some("SERVER_ERROR".into()),
            retryable: true,
        })
        .unwrap();
        assert_eq!(m.state(), State::Failed, "from {state}");
        assert_eq!(m.context().error.as_deref(), Some("boom"));
        assert_eq!(m.context().error_code.as_deref(), Some("SERVER_ERROR"));
        assert!(m.context().retryable);
    }
}

#[test]
fn row_request_failed_keeps_the_routers_retryable_decision_whatever_the_code() {
    let mut m = requesting(false, 3);
    apply(&mut m, &[failed("SERVER_ERROR")]);
    assert!(!m.context().retryable);
    assert_invalid(&mut m, &RETRY);
    let mut m = requesting(false, 3);
    apply(&mut m, &[retryable("AUTHENTICATION_ERROR")]);
    assert!(m.context().retryable);
    m.transition(&RETRY).unwrap();
    assert_eq!(m.state(), State::Retrying);
}

#[test]
fn row_request_failed_without_a_code_leaves_error_code_empty() {
    let mut m = requesting(false, 3);
    m.transition(&Event::RequestFailed {
        error: "boom".into(),
        code: None,
        retryable: false,
    })
    .unwrap();
    assert_eq!(m.state(), State::Failed);
    assert_eq!(m.context().error.as_deref(), Some("boom"));
    assert_eq!(m.context().error_code, None);
}

#[test]
fn row_failed_retry_request_retryable_retries_left_to_retrying() {
    let mut m = requesting(false, 3);
    apply(&mut m, &[retryable("OVERLOADED")]);
    m.transition(&RETRY).unwrap();
    assert_eq!(m.state(), State::Retrying);
    assert_eq!(m.context().retry_count, 1);
    m.transition(&Event::SendRequest).unwrap();
    assert_eq!(m.context().error, None);
    assert_eq!(m.context().error_code, None);
}

#[test]
fn row_failed_retry_request_not_retryable_is_invalid() {
    for code in ["SERVER_ERROR", "TIMEOUT", "AUTHENTICATION_ERROR"] {
        let mut m = requesting(false, 3);
        apply(&mut m, &[failed(code)]);
        assert_invalid(&mut m, &RETRY);
    }
}

#[test]
fn row_failed_retry_request_no_retries_left_is_invalid() {
    let mut m = requesting(false, 1);
    apply(
        &mut m,
        &[
            retryable("TIMEOUT"),
            RETRY,
            Event::SendRequest,
            retryable("TIMEOUT"),
        ],
    );
    assert_eq!(m.context().retry_count, 1);
    assert_invalid(&mut m, &RETRY);
}

#[test]
fn row_failed_fallback_to_provider_to_requesting() {
    let mut m = requesting(false, 3);
    apply(
        &mut m,
        &[retryable("SERVER_ERROR"), RETRY, Event::SendRequest],
    );
    apply(&mut m, &[retryable("SERVER_ERROR")]);
    m.transition(&Event::FallbackToProvider {
        provider: "gemini".into(),
        model: Some("gemini-2.5-flash".into()),
        max_retries: Some(2),
        restart: false,
    })
    .unwrap();
    assert_eq!(m.state(), State::Requesting);
    let ctx = m.context();
    assert_eq!(
        (ctx.provider.as_str(), ctx.model.as_str()),
        ("gemini", "gemini-2.5-flash")
    );
    assert_eq!((ctx.retry_count, ctx.max_retries, ctx.attempt), (0, 2, 3));
    assert_eq!((ctx.error.as_ref(), ctx.error_code.as_ref()), (None, None));
    assert_eq!(m.context().remaining_fallbacks(), ["openai"]);
}

#[test]
fn row_failed_fallback_keeps_model_and_retries_when_not_given() {
    let mut m = requesting(false, 3);
    apply(
        &mut m,
        &[failed("AUTHENTICATION_ERROR"), fallback("gemini")],
    );
    let ctx = m.context();
    assert_eq!(
        (ctx.provider.as_str(), ctx.model.as_str()),
        ("gemini", "claude-sonnet-4-5")
    );
    assert_eq!(ctx.max_retries, 3);
}

#[test]
fn row_failed_fallback_to_provider_not_remaining_is_invalid() {
    let mut m = requesting(false, 3);
    apply(&mut m, &[failed("SERVER_ERROR")]);
    assert_invalid(&mut m, &fallback("mistral"));
    apply(&mut m, &[fallback("openai"), failed("SERVER_ERROR")]);
    // "gemini" was skipped (consumed) on the way to "openai"; the list is now empty.
    assert!(m.context().remaining_fallbacks().is_empty());
    assert_invalid(&mut m, &fallback("gemini"));
    assert_invalid(&mut m, &fallback("openai"));
}

#[test]
fn row_failed_fallback_to_a_label_equal_to_the_current_provider_consumes_it() {
    let mut m = Machine::new("r".into(), 3, vec!["claude".into(), "gemini".into()]);
    apply(
        &mut m,
        &[
            initiate(false),
            Event::ValidationPassed,
            failed("SERVER_ERROR"),
        ],
    );
    m.transition(&fallback("claude")).unwrap();
    assert_eq!(m.state(), State::Requesting);
    assert_eq!(m.context().provider, "claude");
    assert_eq!(m.context().remaining_fallbacks(), ["gemini"]);
    apply(&mut m, &[failed("SERVER_ERROR")]);
    assert_invalid(&mut m, &fallback("claude"));
}

#[test]
fn row_failed_fallback_to_a_model_label_of_one_deployment() {
    let mut m = Machine::new(
        "r".into(),
        3,
        vec!["openai".into(), "openai/gpt-4o-mini".into()],
    );
    apply(
        &mut m,
        &[
            initiate(false),
            Event::ValidationPassed,
            failed("SERVER_ERROR"),
            fallback("openai"),
            failed("SERVER_ERROR"),
        ],
    );
    m.transition(&Event::FallbackToProvider {
        provider: "openai/gpt-4o-mini".into(),
        model: Some("gpt-4o-mini".into()),
        max_retries: None,
        restart: false,
    })
    .unwrap();
    let ctx = m.context();
    assert_eq!(
        (ctx.provider.as_str(), ctx.model.as_str()),
        ("openai/gpt-4o-mini", "gpt-4o-mini")
    );
    assert!(ctx.remaining_fallbacks().is_empty());
}

#[test]
fn row_failed_fallback_is_not_judged_by_the_error_code() {
    for code in ["INVALID_REQUEST", "CANCELLED", "VALIDATION_ERROR"] {
        let mut m = requesting(false, 3);
        apply(&mut m, &[failed(code)]);
        m.transition(&fallback("gemini")).unwrap();
        assert_eq!(m.state(), State::Requesting, "after {code}");
    }
}

#[test]
fn row_failed_fallback_after_validation_failed_is_invalid() {
    let mut m = new_machine(3);
    apply(
        &mut m,
        &[
            initiate(false),
            Event::ValidationFailed {
                error: "bad".into(),
            },
        ],
    );
    assert_invalid(&mut m, &fallback("gemini"));
}

#[test]
fn row_completed_reset_to_idle() {
    let mut m = requesting(false, 3);
    apply(&mut m, &[failed("SERVER_ERROR"), fallback("gemini")]);
    apply(
        &mut m,
        &[Event::ReceiveResponse {
            content: "x".into(),
            usage: usage(1, 1),
        }],
    );
    m.transition(&Event::Reset).unwrap();
    assert_eq!(m.state(), State::Idle);
    let fresh = new_machine(3);
    assert_eq!(m.context(), fresh.context());
    assert_eq!(*m.history().last().unwrap(), State::Idle);
}

#[test]
fn row_failed_reset_to_idle() {
    let mut m = requesting(false, 3);
    apply(&mut m, &[failed("NOT_FOUND")]);
    m.transition(&Event::Reset).unwrap();
    assert_eq!(m.state(), State::Idle);
    assert_eq!(m.context().request_id, "req-1");
    assert_eq!(m.context().error, None);
    assert_eq!(
        history(&m),
        ["idle", "validating", "requesting", "failed", "idle"]
    );
}

#[test]
fn ext_validating_validate_request_is_a_self_loop() {
    let mut m = new_machine(3);
    apply(&mut m, &[initiate(false)]);
    m.transition(&Event::ValidateRequest).unwrap();
    assert_eq!(m.state(), State::Validating);
    assert_eq!(history(&m), ["idle", "validating"]);
}

#[test]
fn ext_stream_chunk_out_of_order_is_invalid() {
    let mut m = requesting(true, 3);
    assert_invalid(&mut m, &chunk("late", 1));
    apply(&mut m, &[chunk("a", 0)]);
    assert_invalid(&mut m, &chunk("a", 0));
    assert_invalid(&mut m, &chunk("c", 2));
}

#[test]
fn ext_requesting_stream_complete_is_an_empty_stream() {
    let mut m = requesting(true, 3);
    m.transition(&Event::StreamComplete { usage: usage(1, 0) })
        .unwrap();
    assert_eq!(m.state(), State::Completed);
    assert_eq!(m.context().response, "");
    let mut not_stream = requesting(false, 3);
    assert_invalid(
        &mut not_stream,
        &Event::StreamComplete { usage: usage(1, 0) },
    );
}

#[test]
fn ext_complete_keeps_the_response() {
    let mut m = requesting(true, 3);
    apply(&mut m, &[chunk("part", 0), Event::Complete]);
    assert_eq!(m.state(), State::Completed);
    assert_eq!(m.context().response, "part");
    let mut plain = requesting(false, 3);
    plain.transition(&Event::Complete).unwrap();
    assert_eq!(plain.state(), State::Completed);
}

#[test]
fn ext_streamed_chunks_forbid_retry_and_fallback() {
    let mut m = requesting(true, 3);
    apply(&mut m, &[chunk("a", 0), retryable("SERVER_ERROR")]);
    assert_invalid(&mut m, &RETRY);
    assert_invalid(&mut m, &fallback("gemini"));
}

#[test]
fn ext_rate_limited_after_chunks_fails_on_retry_request() {
    let mut m = requesting(true, 3);
    apply(
        &mut m,
        &[
            chunk("a", 0),
            Event::RateLimitHit {
                retry_after_ms: None,
            },
        ],
    );
    m.transition(&RETRY).unwrap();
    assert_eq!(m.state(), State::Failed);
    assert_eq!(m.context().error_code.as_deref(), Some("RATE_LIMITED"));
    assert_eq!(m.context().retry_count, 0);
}

#[test]
fn ext_failure_before_validation_cannot_retry_or_fall_back() {
    let mut m = new_machine(3);
    apply(&mut m, &[initiate(false), retryable("SERVER_ERROR")]);
    assert_invalid(&mut m, &RESTART);
    assert_invalid(&mut m, &fallback_restarting("gemini"));
    assert_invalid(&mut m, &RETRY);
    assert_invalid(&mut m, &fallback("gemini"));
}

#[test]
fn ext_send_request_clears_the_failed_attempts_chunks() {
    let mut m = requesting(true, 3);
    apply(
        &mut m,
        &[
            Event::RateLimitHit {
                retry_after_ms: None,
            },
            RETRY,
            Event::SendRequest,
        ],
    );
    apply(&mut m, &[chunk("fresh", 0)]);
    assert_eq!(m.context().response, "fresh");
}

#[test]
fn ext_reset_restores_the_constructor_max_retries() {
    let mut m = requesting(false, 3);
    apply(
        &mut m,
        &[
            failed("SERVER_ERROR"),
            Event::FallbackToProvider {
                provider: "gemini".into(),
                model: None,
                max_retries: Some(7),
                restart: false,
            },
            failed("SERVER_ERROR"),
            Event::Reset,
        ],
    );
    assert_eq!(m.context().max_retries, 3);
    assert_eq!(m.context().remaining_fallbacks(), ["gemini", "openai"]);
}

#[test]
fn ext_rate_limited_failure_declared_by_the_machine_is_not_retryable() {
    let mut m = requesting(true, 3);
    apply(
        &mut m,
        &[
            chunk("a", 0),
            Event::RateLimitHit {
                retry_after_ms: None,
            },
            RETRY,
        ],
    );
    assert!(!m.context().retryable);
    assert_invalid(&mut m, &RESTART);
}

#[test]
fn row_failed_retry_request_restart_after_chunks_to_retrying() {
    let mut m = requesting(true, 3);
    apply(
        &mut m,
        &[chunk("Hel", 0), chunk("lo", 1), retryable("SERVER_ERROR")],
    );
    m.transition(&RESTART).unwrap();
    assert_eq!(m.state(), State::Retrying);
    let ctx = m.context();
    assert_eq!((ctx.retry_count, ctx.restarts), (1, 1));
    assert_eq!((ctx.response.as_str(), ctx.chunk_count), ("", 0));
    apply(&mut m, &[Event::SendRequest, chunk("Hello", 0)]);
    assert_eq!(m.context().response, "Hello");
}

#[test]
fn row_failed_retry_request_restart_still_needs_retryable_and_retries_left() {
    let mut m = requesting(true, 3);
    apply(&mut m, &[chunk("a", 0), failed("SERVER_ERROR")]);
    assert_invalid(&mut m, &RESTART);
    let mut m = requesting(true, 0);
    apply(&mut m, &[chunk("a", 0), retryable("SERVER_ERROR")]);
    assert_invalid(&mut m, &RESTART);
}

#[test]
fn row_failed_retry_request_restart_without_chunks_is_a_plain_retry() {
    let mut m = requesting(true, 3);
    apply(&mut m, &[retryable("SERVER_ERROR")]);
    m.transition(&RESTART).unwrap();
    assert_eq!(m.state(), State::Retrying);
    assert_eq!((m.context().retry_count, m.context().restarts), (1, 0));
}

#[test]
fn row_rate_limited_retry_request_restart_after_chunks_to_retrying() {
    let mut m = requesting(true, 3);
    apply(
        &mut m,
        &[
            chunk("a", 0),
            Event::RateLimitHit {
                retry_after_ms: Some(7),
            },
        ],
    );
    m.transition(&RESTART).unwrap();
    assert_eq!(m.state(), State::Retrying);
    let ctx = m.context();
    assert_eq!((ctx.retry_count, ctx.restarts, ctx.chunk_count), (1, 1, 0));
    assert_eq!(ctx.response, "");
    assert_eq!(ctx.retry_after_ms, Some(7));
}

#[test]
fn row_rate_limited_retry_request_restart_none_left_to_failed() {
    let mut m = requesting(true, 0);
    apply(
        &mut m,
        &[
            chunk("a", 0),
            Event::RateLimitHit {
                retry_after_ms: None,
            },
        ],
    );
    m.transition(&RESTART).unwrap();
    assert_eq!(m.state(), State::Failed);
    assert_eq!(m.context().error_code.as_deref(), Some("RATE_LIMITED"));
    assert_eq!(
        (m.context().restarts, m.context().response.as_str()),
        (0, "a")
    );
}

#[test]
fn row_failed_fallback_to_provider_restart_after_chunks_to_requesting() {
    let mut m = requesting(true, 3);
    apply(&mut m, &[chunk("a", 0), failed("SERVER_ERROR")]);
    m.transition(&fallback_restarting("gemini")).unwrap();
    assert_eq!(m.state(), State::Requesting);
    let ctx = m.context();
    assert_eq!(ctx.provider, "gemini");
    assert_eq!((ctx.restarts, ctx.chunk_count, ctx.attempt), (1, 0, 2));
    assert_eq!(ctx.response, "");
    assert_eq!(ctx.remaining_fallbacks(), ["openai"]);
}

#[test]
fn row_failed_fallback_to_provider_restart_still_needs_a_remaining_entry() {
    let mut m = requesting(true, 3);
    apply(&mut m, &[chunk("a", 0), failed("SERVER_ERROR")]);
    assert_invalid(&mut m, &fallback_restarting("mistral"));
}

#[test]
fn ext_restarts_accumulate_until_reset() {
    let mut m = requesting(true, 3);
    apply(
        &mut m,
        &[
            chunk("a", 0),
            retryable("SERVER_ERROR"),
            RESTART,
            Event::SendRequest,
            chunk("b", 0),
            failed("SERVER_ERROR"),
            fallback_restarting("gemini"),
        ],
    );
    assert_eq!(m.context().restarts, 2);
    apply(&mut m, &[Event::Complete, Event::Reset]);
    assert_eq!(m.context().restarts, 0);
}

#[test]
fn row_retry_request_with_the_next_retry_number_is_accepted() {
    let mut m = requesting(false, 3);
    apply(&mut m, &[retryable("SERVER_ERROR")]);
    m.transition(&Event::RetryRequest {
        attempt: Some(1),
        restart: false,
    })
    .unwrap();
    apply(
        &mut m,
        &[
            Event::SendRequest,
            Event::RateLimitHit {
                retry_after_ms: None,
            },
        ],
    );
    m.transition(&Event::RetryRequest {
        attempt: Some(2),
        restart: false,
    })
    .unwrap();
    assert_eq!(m.context().retry_count, 2);
}

#[test]
fn row_retry_request_with_another_retry_number_is_invalid_and_says_both() {
    use crate::machine::Refusal;
    let mut m = requesting(false, 3);
    apply(&mut m, &[retryable("SERVER_ERROR")]);
    for given in [0, 2, u32::MAX] {
        let event = Event::RetryRequest {
            attempt: Some(given),
            restart: false,
        };
        assert_invalid(&mut m, &event);
        let err = m.transition(&event).unwrap_err();
        assert_eq!(
            err.reason,
            Some(Refusal::RetryNumberMismatch { given, expected: 1 })
        );
        let message = err.to_string();
        assert!(message.contains(&format!("attempt={given}")), "{message}");
        assert!(message.contains("number 1"), "{message}");
    }
    apply(
        &mut m,
        &[
            RETRY,
            Event::SendRequest,
            Event::RateLimitHit {
                retry_after_ms: None,
            },
        ],
    );
    assert_invalid(
        &mut m,
        &Event::RetryRequest {
            attempt: Some(1),
            restart: false,
        },
    );
}

#[test]
fn transition_error_names_the_state_and_event() {
    let mut m = new_machine(3);
    let err = m.transition(&RETRY).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot apply event 'retry_request' in state 'idle'"
    );
}
