//! The request state machine: one per request, driven by the router.
//!
//! [`Machine::transition`] is the whole behaviour: a `match (state, event)` read top to bottom.
//! An event that matches no row (or whose guard is false) is an invalid transition: it returns a
//! [`TransitionError`] naming the state and the event, and the machine is left unchanged —
//! guards are checked before any effect runs.
//!
//! The baseline table is DESIGN.md's. Where this file goes beyond it, it says so here:
//!
//! * **History** starts as `[idle]` and gains an entry only when the state *changes*: the
//!   `streaming → streaming` self-loop on each chunk and `validating → validating` on
//!   `validate_request` do not grow it. So `history.len() == state changes + 1` and the last
//!   entry is always the current state.
//! * **`validate_request`** is valid only in `validating` and changes nothing (a self-loop). It
//!   exists so a caller can say "validation started" without the machine caring.
//! * **`receive_stream_chunk`** must carry `index == chunk_count` (chunks in order, none
//!   skipped or repeated); any other index is invalid.
//! * **`stream_complete` from `requesting`** (when streaming): a stream that ended before its
//!   first chunk completes with an empty response.
//! * **`complete`** takes `requesting` or `streaming` to `completed`, keeping whatever response
//!   is there (usage untouched). It is the no-payload way for a router to close an attempt whose
//!   result it recorded by other means.
//! * **Streamed output is final unless the router restarts it**: once an attempt has delivered a
//!   chunk, `failed --retry_request-->` and `failed --fallback_to_provider-->` are invalid and
//!   `rate_limited --retry_request-->` goes to `failed` with `RATE_LIMITED` (as when no retries
//!   are left) — unless the event says `restart: true`. A restart is the router's explicit
//!   decision to start the stream again: the failed attempt's chunks and response are discarded
//!   and `restarts` grows by one (only when there were chunks to discard).
//! * **Retry and fallback need a started attempt**: a request that failed before
//!   `validation_passed` (`attempt == 0`) can neither retry nor fall back — that would skip
//!   validation.
//! * **The router decides, the machine checks invariants.** The machine has no table of error
//!   codes: `request_failed` carries the router's `retryable` decision ("the policy will retry
//!   this deployment"), and `failed --retry_request-->` requires it. Fallback is not judged by
//!   the error at all.
//! * **`retry_request`'s `attempt`**, when given, must be the next retry number
//!   (`retry_count + 1`); anything else is refused with both numbers in the error.
//! * **Fallback** entries are opaque candidate labels (a deployment, a group, or
//!   `"<deployment>/<model>"`). `fallback_to_provider(label)` is valid only when `label` is in
//!   the *remaining* fallback list; it and the entries before it are consumed (the router may
//!   skip disabled candidates or open breakers), so the list alone prevents loops — a label
//!   equal to the current provider is allowed. The model and `max_retries` change when given;
//!   `retry_count` becomes 0; chunks, error and retry-after are cleared.
//! * **A failure the machine declares itself** (`rate_limited --retry_request--> failed`) is not
//!   retryable: only the router marks failures retryable.
//! * **Attempts**: `attempt` counts attempts started — 1 after `validation_passed`, +1 on each
//!   `send_request` and each fallback. Starting an attempt clears the previous attempt's chunks,
//!   response, error and retry-after.
//! * **`reset`** returns to `idle` with a fresh context that keeps the request id, the
//!   constructor's `max_retries` and the original fallback list; history keeps growing
//!   (`idle` is appended), so a reset request's whole life stays on record.

mod vocabulary;

pub use vocabulary::{Event, Refusal, State, TransitionError, Usage};

/// What the machine knows about its request: counts and outcomes, never message bodies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Context {
    pub request_id: String,
    /// Empty until `initiate_request`.
    pub provider: String,
    /// Empty until `initiate_request`.
    pub model: String,
    pub message_count: u32,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub stream: bool,
    pub retry_count: u32,
    pub max_retries: u32,
    /// The fallback list as given; `fallback_providers[fallback_index..]` are still available.
    pub fallback_providers: Vec<String>,
    pub fallback_index: usize,
    /// The response so far: the whole content, or the chunks of this attempt joined.
    pub response: String,
    pub chunk_count: u32,
    pub error: Option<String>,
    pub error_code: Option<String>,
    pub retryable: bool,
    pub retry_after_ms: Option<u64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub duration_ms: u64,
    pub attempt: u32,
    /// Streams started again after chunks were delivered (`restart: true` that discarded
    /// chunks).
    pub restarts: u32,
}

impl Context {
    fn new(request_id: String, max_retries: u32, fallback_providers: Vec<String>) -> Self {
        Context {
            request_id,
            max_retries,
            fallback_providers,
            ..Context::default()
        }
    }

    pub fn remaining_fallbacks(&self) -> &[String] {
        self.fallback_providers
            .get(self.fallback_index..)
            .unwrap_or_default()
    }

    // Guards.

    fn retries_left(&self) -> bool {
        self.retry_count < self.max_retries
    }

    fn streamed(&self) -> bool {
        self.chunk_count > 0
    }

    /// A failed attempt may be followed by another: one was started, and its streamed output
    /// (if any) is to be discarded only when the router said `restart`.
    fn may_continue(&self, restart: bool) -> bool {
        self.attempt > 0 && (restart || !self.streamed())
    }

    fn may_retry_failure(&self, restart: bool) -> bool {
        self.retryable && self.retries_left() && self.may_continue(restart)
    }

    fn may_retry_rate_limit(&self, restart: bool) -> bool {
        self.retries_left() && (restart || !self.streamed())
    }

    /// The expected retry number when `attempt` names another one.
    fn retry_number_mismatch(&self, attempt: Option<u32>) -> Option<Refusal> {
        let expected = self.retry_count.saturating_add(1);
        match attempt {
            Some(given) if given != expected => {
                Some(Refusal::RetryNumberMismatch { given, expected })
            }
            _ => None,
        }
    }

    /// Where `label` sits in the remaining fallback list, if the request may move there.
    fn fallback_position(&self, label: &str, restart: bool) -> Option<usize> {
        if !self.may_continue(restart) {
            return None;
        }
        self.remaining_fallbacks().iter().position(|p| p == label)
    }

    fn chunk_in_order(&self, index: u32) -> bool {
        self.stream && index == self.chunk_count
    }

    // Effects.

    fn initiate(&mut self, event: &Event) {
        if let Event::InitiateRequest {
            provider,
            model,
            message_count,
            max_tokens,
            temperature,
            stream,
        } = event
        {
            self.provider.clone_from(provider);
            self.model.clone_from(model);
            self.message_count = *message_count;
            self.max_tokens = *max_tokens;
            self.temperature = *temperature;
            self.stream = *stream;
        }
    }

    fn begin_attempt(&mut self) {
        self.attempt += 1;
        self.response.clear();
        self.chunk_count = 0;
        self.error = None;
        self.error_code = None;
        self.retryable = false;
        self.retry_after_ms = None;
    }

    fn append_chunk(&mut self, chunk: &str) {
        self.response.push_str(chunk);
        self.chunk_count += 1;
    }

    fn record_usage(&mut self, usage: &Usage) {
        self.input_tokens = usage.input_tokens;
        self.output_tokens = usage.output_tokens;
        self.total_tokens = usage.total_tokens;
        self.duration_ms = usage.duration_ms;
    }

    fn fail(&mut self, error: &str, code: Option<&str>, retryable: bool) {
        self.error = Some(error.to_owned());
        self.error_code = code.map(str::to_owned);
        self.retryable = retryable;
    }

    /// Drops the failed attempt's streamed output, counting a restart when there was any.
    /// Guards allow streamed output here only when the event said `restart`.
    fn discard_streamed(&mut self) {
        if self.streamed() {
            self.response.clear();
            self.chunk_count = 0;
            self.restarts += 1;
        }
    }

    fn retry(&mut self) {
        self.retry_count += 1;
        self.discard_streamed();
    }

    fn fall_back(&mut self, position: usize, event: &Event) {
        if let Event::FallbackToProvider {
            provider,
            model,
            max_retries,
            ..
        } = event
        {
            self.discard_streamed();
            self.fallback_index += position + 1;
            self.provider.clone_from(provider);
            if let Some(model) = model {
                self.model.clone_from(model);
            }
            if let Some(max_retries) = max_retries {
                self.max_retries = *max_retries;
            }
            self.retry_count = 0;
            self.begin_attempt();
        }
    }

    fn reset(&mut self, max_retries: u32) {
        let request_id = std::mem::take(&mut self.request_id);
        let fallback_providers = std::mem::take(&mut self.fallback_providers);
        *self = Context::new(request_id, max_retries, fallback_providers);
    }
}

#[derive(Clone, Debug)]
pub struct Machine {
    state: State,
    context: Context,
    history: Vec<State>,
    initial_max_retries: u32,
}

impl Machine {
    pub fn new(request_id: String, max_retries: u32, fallback_providers: Vec<String>) -> Self {
        let mut history = Vec::with_capacity(8);
        history.push(State::Idle);
        Machine {
            state: State::Idle,
            context: Context::new(request_id, max_retries, fallback_providers),
            history,
            initial_max_retries: max_retries,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn context(&self) -> &Context {
        &self.context
    }

    pub fn history(&self) -> &[State] {
        &self.history
    }

    pub fn is_terminal(&self) -> bool {
        self.state.is_terminal()
    }

    pub fn transition(&mut self, event: &Event) -> Result<(), TransitionError> {
        use Event as E;
        use State as S;
        let ctx = &mut self.context;
        let next = match (self.state, event) {
            (S::Idle, E::InitiateRequest { .. }) => {
                ctx.initiate(event);
                S::Validating
            }
            (S::Validating, E::ValidateRequest) => S::Validating,
            (S::Validating, E::ValidationPassed) if ctx.message_count > 0 => {
                ctx.begin_attempt();
                S::Requesting
            }
            (S::Validating, E::ValidationFailed { error }) => {
                ctx.fail(error, Some("VALIDATION_ERROR"), false);
                S::Failed
            }
            (S::Requesting, E::ReceiveResponse { content, usage }) if !ctx.stream => {
                ctx.response.clone_from(content);
                ctx.record_usage(usage);
                S::Completed
            }
            (S::Requesting | S::Streaming, E::ReceiveStreamChunk { chunk, index })
                if ctx.chunk_in_order(*index) =>
            {
                ctx.append_chunk(chunk);
                S::Streaming
            }
            (S::Streaming, E::StreamComplete { usage }) => {
                ctx.record_usage(usage);
                S::Completed
            }
            (S::Requesting, E::StreamComplete { usage }) if ctx.stream => {
                ctx.record_usage(usage);
                S::Completed
            }
            (S::Requesting | S::Streaming, E::RateLimitHit { retry_after_ms }) => {
                ctx.retry_after_ms = *retry_after_ms;
                S::RateLimited
            }
            (from @ (S::RateLimited | S::Failed), E::RetryRequest { attempt, .. })
                if ctx.retry_number_mismatch(*attempt).is_some() =>
            {
                return Err(TransitionError {
                    from,
                    event: event.name(),
                    reason: ctx.retry_number_mismatch(*attempt),
                });
            }
            (S::RateLimited, E::RetryRequest { restart, .. })
                if ctx.may_retry_rate_limit(*restart) =>
            {
                ctx.retry();
                S::Retrying
            }
            (S::RateLimited, E::RetryRequest { .. }) => {
                let why = if ctx.retries_left() {
                    "rate limited after the stream began"
                } else {
                    "rate limited and no retries left"
                };
                ctx.fail(why, Some("RATE_LIMITED"), false);
                S::Failed
            }
            (S::Retrying, E::SendRequest) => {
                ctx.begin_attempt();
                S::Requesting
            }
            (
                from,
                E::RequestFailed {
                    error,
                    code,
                    retryable,
                },
            ) if !from.is_terminal() => {
                ctx.fail(error, code.as_deref(), *retryable);
                S::Failed
            }
            (S::Failed, E::RetryRequest { restart, .. }) if ctx.may_retry_failure(*restart) => {
                ctx.retry();
                S::Retrying
            }
            (
                S::Failed,
                E::FallbackToProvider {
                    provider, restart, ..
                },
            ) if ctx.fallback_position(provider, *restart).is_some() => {
                let position = ctx
                    .fallback_position(provider, *restart)
                    .unwrap_or_default();
                ctx.fall_back(position, event);
                S::Requesting
            }
            (S::Requesting | S::Streaming, E::Complete) => S::Completed,
            (S::Completed | S::Failed, E::Reset) => {
                ctx.reset(self.initial_max_retries);
                S::Idle
            }
            (from, _) => {
                return Err(TransitionError {
                    from,
                    event: event.name(),
                    reason: None,
                })
            }
        };
        if next != self.state {
            self.state = next;
            self.history.push(next);
        }
        Ok(())
    }
}
