//! The request state machine's vocabulary: its states, its events, and the error it answers
//! an event it refuses with. The behaviour (the table) is in the parent module.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Idle,
    Validating,
    Requesting,
    Streaming,
    RateLimited,
    Retrying,
    Completed,
    Failed,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Idle,
        State::Validating,
        State::Requesting,
        State::Streaming,
        State::RateLimited,
        State::Retrying,
        State::Completed,
        State::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Validating => "validating",
            State::Requesting => "requesting",
            State::Streaming => "streaming",
            State::RateLimited => "rate_limited",
            State::Retrying => "retrying",
            State::Completed => "completed",
            State::Failed => "failed",
        }
    }

    pub const fn is_terminal(self) -> bool {
        matches!(self, State::Completed | State::Failed)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Token usage and duration reported with a response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub duration_ms: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    InitiateRequest {
        provider: String,
        model: String,
        message_count: u32,
        max_tokens: Option<u32>,
        temperature: Option<f64>,
        stream: bool,
    },
    ValidateRequest,
    ValidationPassed,
    ValidationFailed {
        error: String,
    },
    SendRequest,
    ReceiveResponse {
        content: String,
        usage: Usage,
    },
    ReceiveStreamChunk {
        chunk: String,
        index: u32,
    },
    StreamComplete {
        usage: Usage,
    },
    RateLimitHit {
        retry_after_ms: Option<u64>,
    },
    /// `attempt`, when given, must be the next retry number (`retry_count + 1`). `restart`
    /// allows the retry after chunks were streamed, discarding them.
    RetryRequest {
        attempt: Option<u32>,
        restart: bool,
    },
    /// `retryable` is the router's decision: its policy will retry this deployment.
    RequestFailed {
        error: String,
        code: Option<String>,
        retryable: bool,
    },
    /// `provider` is an opaque candidate label from the remaining fallback list. `restart`
    /// allows the fallback after chunks were streamed, discarding them.
    FallbackToProvider {
        provider: String,
        model: Option<String>,
        max_retries: Option<u32>,
        restart: bool,
    },
    Complete,
    Reset,
}

impl Event {
    pub const NAMES: [&'static str; 14] = [
        "initiate_request",
        "validate_request",
        "validation_passed",
        "validation_failed",
        "send_request",
        "receive_response",
        "receive_stream_chunk",
        "stream_complete",
        "rate_limit_hit",
        "retry_request",
        "request_failed",
        "fallback_to_provider",
        "complete",
        "reset",
    ];

    pub const fn name(&self) -> &'static str {
        Self::NAMES[self.index()]
    }

    const fn index(&self) -> usize {
        match self {
            Event::InitiateRequest { .. } => 0,
            Event::ValidateRequest => 1,
            Event::ValidationPassed => 2,
            Event::ValidationFailed { .. } => 3,
            Event::SendRequest => 4,
            Event::ReceiveResponse { .. } => 5,
            Event::ReceiveStreamChunk { .. } => 6,
            Event::StreamComplete { .. } => 7,
            Event::RateLimitHit { .. } => 8,
            Event::RetryRequest { .. } => 9,
            Event::RequestFailed { .. } => 10,
            Event::FallbackToProvider { .. } => 11,
            Event::Complete => 12,
            Event::Reset => 13,
        }
    }
}

/// Why a guard refused an event, when "not in this state" would not say enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `retry_request(attempt)` named a retry other than the next one.
    RetryNumberMismatch { given: u32, expected: u32 },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::RetryNumberMismatch { given, expected } => write!(
                f,
                "attempt={given} was given but the next retry is number {expected} \
                 (retry_count + 1)"
            ),
        }
    }
}

/// An event that the current state does not accept. The machine is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransitionError {
    pub from: State,
    pub event: &'static str,
    /// Set when a specific guard explains the refusal.
    pub reason: Option<Refusal>,
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot apply event '{}' in state '{}'",
            self.event, self.from
        )?;
        match self.reason {
            Some(reason) => write!(f, ": {reason}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for TransitionError {}
