//! Every (state, event) pair outside the table is an invalid transition that changes nothing.

use super::machine_rows::{apply, chunk, failed, fallback, initiate, requesting, usage, RETRY};
use crate::machine::{Event, Machine, State};

/// The pairs the table has a row for (whatever their guards say).
const TABLE: &[(State, &str)] = &[
    (State::Idle, "initiate_request"),
    (State::Validating, "validate_request"),
    (State::Validating, "validation_passed"),
    (State::Validating, "validation_failed"),
    (State::Requesting, "receive_response"),
    (State::Requesting, "receive_stream_chunk"),
    (State::Requesting, "stream_complete"),
    (State::Requesting, "rate_limit_hit"),
    (State::Requesting, "complete"),
    (State::Streaming, "receive_stream_chunk"),
    (State::Streaming, "stream_complete"),
    (State::Streaming, "rate_limit_hit"),
    (State::Streaming, "complete"),
    (State::RateLimited, "retry_request"),
    (State::Retrying, "send_request"),
    (State::Failed, "retry_request"),
    (State::Failed, "fallback_to_provider"),
    (State::Completed, "reset"),
    (State::Failed, "reset"),
];

fn in_table(state: State, event: &str) -> bool {
    let any_non_terminal = event == "request_failed" && !state.is_terminal();
    any_non_terminal || TABLE.contains(&(state, event))
}

/// A streaming-request machine in `state`, reached by valid transitions.
pub(super) fn machine_in(state: State) -> Machine {
    let mut m = requesting(true, 3);
    let rest: &[Event] = match state {
        State::Idle => return super::machine_rows::new_machine(3),
        State::Validating => {
            let mut m = super::machine_rows::new_machine(3);
            apply(&mut m, &[initiate(true)]);
            return m;
        }
        State::Requesting => &[],
        State::Streaming => &[chunk("a", 0)],
        State::RateLimited => &[Event::RateLimitHit {
            retry_after_ms: None,
        }],
        State::Retrying => &[
            Event::RateLimitHit {
                retry_after_ms: None,
            },
            RETRY,
        ],
        State::Completed => &[Event::StreamComplete { usage: usage(1, 1) }],
        State::Failed => &[failed("SERVER_ERROR")],
    };
    apply(&mut m, rest);
    assert_eq!(m.state(), state);
    m
}

fn one_of_each_event() -> Vec<Event> {
    vec![
        initiate(true),
        Event::ValidateRequest,
        Event::ValidationPassed,
        Event::ValidationFailed { error: "e".into() },
        Event::SendRequest,
        Event::ReceiveResponse {
            content: "c".into(),
            usage: usage(1, 1),
        },
        chunk("b", 1),
        Event::StreamComplete { usage: usage(1, 1) },
        Event::RateLimitHit {
            retry_after_ms: Some(1),
        },
        RETRY,
        failed("SERVER_ERROR"),
        fallback("gemini"),
        Event::Complete,
        Event::Reset,
    ]
}

#[test]
fn every_pair_outside_the_table_is_a_typed_error_and_changes_nothing() {
    let events = one_of_each_event();
    assert_eq!(
        events.iter().map(Event::name).collect::<Vec<_>>(),
        Event::NAMES
    );
    let mut checked = 0;
    for state in State::ALL {
        for event in events.iter().filter(|e| !in_table(state, e.name())) {
            let mut m = machine_in(state);
            let before = m.clone();
            let err = m.transition(event).unwrap_err();
            assert_eq!((err.from, err.event), (state, event.name()));
            assert_eq!(m.state(), before.state());
            assert_eq!(m.context(), before.context());
            assert_eq!(m.history(), before.history());
            checked += 1;
        }
    }
    // 8 states × 14 events, less the 19 table pairs and the 6 request_failed rows.
    assert_eq!(checked, 8 * 14 - TABLE.len() - 6);
}
