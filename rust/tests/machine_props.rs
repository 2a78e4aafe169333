//! Random event sequences: never a panic, and the invariants always hold.

use crate::machine::{Event, Machine, State, Usage};
use proptest::prelude::*;

const PROVIDERS: [&str; 4] = ["claude", "gemini", "openai", "mistral"];
const CODES: [&str; 6] = [
    "SERVER_ERROR",
    "RATE_LIMITED",
    "TIMEOUT",
    "AUTHENTICATION_ERROR",
    "INVALID_REQUEST",
    "CANCELLED",
];

fn provider() -> impl Strategy<Value = String> {
    prop::sample::select(&PROVIDERS[..]).prop_map(str::to_owned)
}

fn usage() -> impl Strategy<Value = Usage> {
    (0u64..100, 0u64..100, 0u64..1000).prop_map(|(i, o, d)| Usage {
        input_tokens: i,
        output_tokens: o,
        total_tokens: i + o,
        duration_ms: d,
    })
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (provider(), 0u32..3, any::<bool>()).prop_map(|(provider, message_count, stream)| {
            Event::InitiateRequest {
                provider,
                model: "m".into(),
                message_count,
                max_tokens: None,
                temperature: None,
                stream,
            }
        }),
        Just(Event::ValidateRequest),
        Just(Event::ValidationPassed),
        Just(Event::ValidationFailed { error: "v".into() }),
        Just(Event::SendRequest),
        usage().prop_map(|usage| Event::ReceiveResponse {
            content: "r".into(),
            usage
        }),
        (0u32..4).prop_map(|index| Event::ReceiveStreamChunk {
            chunk: "c".into(),
            index
        }),
        usage().prop_map(|usage| Event::StreamComplete { usage }),
        proptest::option::of(0u64..5000)
            .prop_map(|retry_after_ms| Event::RateLimitHit { retry_after_ms }),
        (proptest::option::of(0u32..5), any::<bool>())
            .prop_map(|(attempt, restart)| Event::RetryRequest { attempt, restart }),
        (
            proptest::option::of(prop::sample::select(&CODES[..])),
            any::<bool>()
        )
            .prop_map(|(code, retryable)| Event::RequestFailed {
                error: "f".into(),
                code: code.map(str::to_owned),
                retryable
            }),
        (provider(), proptest::option::of(0u32..4), any::<bool>()).prop_map(
            |(provider, max_retries, restart)| Event::FallbackToProvider {
                provider,
                model: None,
                max_retries,
                restart,
            }
        ),
        Just(Event::Complete),
        Just(Event::Reset),
    ]
}

fn may_leave_terminal(event: &Event) -> bool {
    matches!(
        event,
        Event::Reset | Event::RetryRequest { .. } | Event::FallbackToProvider { .. }
    )
}

fn restarting(event: &Event) -> bool {
    matches!(
        event,
        Event::RetryRequest { restart: true, .. } | Event::FallbackToProvider { restart: true, .. }
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_sequences_keep_the_invariants(
        max_retries in 0u32..4,
        fallbacks in prop::collection::vec(provider(), 0..4),
        events in prop::collection::vec(event(), 0..60),
    ) {
        let mut m = Machine::new("req".into(), max_retries, fallbacks);
        let mut changes = 0;
        for event in &events {
            let before = m.clone();
            match m.transition(event) {
                Err(err) => {
                    prop_assert_eq!((err.from, err.event), (before.state(), event.name()));
                    prop_assert_eq!(m.context(), before.context());
                    prop_assert_eq!(m.history(), before.history());
                }
                Ok(()) => {
                    if m.state() != before.state() {
                        changes += 1;
                        if before.state().is_terminal() {
                            prop_assert!(may_leave_terminal(event), "left {} by {}", before.state(), event.name());
                        }
                    }
                }
            }
            let ctx = m.context();
            prop_assert!(ctx.retry_count <= ctx.max_retries);
            prop_assert_eq!(m.history().len(), changes + 1);
            prop_assert_eq!(m.history().last().copied(), Some(m.state()));
            prop_assert_eq!(m.history()[0], State::Idle);
            prop_assert!(ctx.fallback_index <= ctx.fallback_providers.len());
            if ctx.restarts > before.context().restarts {
                prop_assert!(restarting(event), "restarted by {}", event.name());
            }
            if ctx.restarts < before.context().restarts {
                prop_assert!(matches!(event, Event::Reset), "restarts fell on {}", event.name());
            }
            if m.state() == State::Streaming {
                prop_assert!(ctx.stream && ctx.chunk_count > 0);
            }
        }
    }
}
