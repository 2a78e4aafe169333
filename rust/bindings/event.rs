//! `Event`: one of the machine's 14 events, built by its static constructors.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyString;

use super::ints;
use crate::machine::{Event, Usage};

/// `validation_failed`'s message when the caller gave none.
const DEFAULT_VALIDATION_ERROR: &str = "request validation failed";

#[pyclass(module = "automatosx._core", name = "Event", frozen, eq)]
#[derive(PartialEq)]
pub struct PyEvent(pub Event);

fn usage(input_tokens: u64, output_tokens: u64, total_tokens: u64, duration_ms: u64) -> Usage {
    Usage {
        input_tokens,
        output_tokens,
        total_tokens,
        duration_ms,
    }
}

#[pymethods]
impl PyEvent {
    #[staticmethod]
    #[pyo3(signature = (provider, model, message_count, max_tokens = None, temperature = None, stream = false))]
    fn initiate_request(
        provider: String,
        model: String,
        #[pyo3(from_py_with = ints::message_count)] message_count: u32,
        #[pyo3(from_py_with = ints::max_tokens)] max_tokens: Option<u32>,
        temperature: Option<f64>,
        stream: bool,
    ) -> Self {
        PyEvent(Event::InitiateRequest {
            provider,
            model,
            message_count,
            max_tokens,
            temperature,
            stream,
        })
    }

    #[staticmethod]
    fn validate_request() -> Self {
        PyEvent(Event::ValidateRequest)
    }

    #[staticmethod]
    fn validation_passed() -> Self {
        PyEvent(Event::ValidationPassed)
    }

    /// `reason` is the seed's name for `error`; at most one of them may be given.
    #[staticmethod]
    #[pyo3(signature = (reason = None, error = None))]
    fn validation_failed(reason: Option<String>, error: Option<String>) -> PyResult<Self> {
        let error = match (reason, error) {
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err(
                    "validation_failed takes reason or error (the same message), not both",
                ))
            }
            (Some(message), None) | (None, Some(message)) => message,
            (None, None) => DEFAULT_VALIDATION_ERROR.to_owned(),
        };
        Ok(PyEvent(Event::ValidationFailed { error }))
    }

    #[staticmethod]
    fn send_request() -> Self {
        PyEvent(Event::SendRequest)
    }

    #[staticmethod]
    #[pyo3(signature = (content, input_tokens = 0, output_tokens = 0, total_tokens = 0, duration_ms = 0))]
    fn receive_response(
        content: String,
        #[pyo3(from_py_with = ints::input_tokens)] input_tokens: u64,
        #[pyo3(from_py_with = ints::output_tokens)] output_tokens: u64,
        #[pyo3(from_py_with = ints::total_tokens)] total_tokens: u64,
        #[pyo3(from_py_with = ints::duration_ms)] duration_ms: u64,
    ) -> Self {
        PyEvent(Event::ReceiveResponse {
            content,
            usage: usage(input_tokens, output_tokens, total_tokens, duration_ms),
        })
    }

    #[staticmethod]
    fn receive_stream_chunk(chunk: String, #[pyo3(from_py_with = ints::index)] index: u32) -> Self {
        PyEvent(Event::ReceiveStreamChunk { chunk, index })
    }

    #[staticmethod]
    #[pyo3(signature = (input_tokens = 0, output_tokens = 0, total_tokens = 0, duration_ms = 0))]
    fn stream_complete(
        #[pyo3(from_py_with = ints::input_tokens)] input_tokens: u64,
        #[pyo3(from_py_with = ints::output_tokens)] output_tokens: u64,
        #[pyo3(from_py_with = ints::total_tokens)] total_tokens: u64,
        #[pyo3(from_py_with = ints::duration_ms)] duration_ms: u64,
    ) -> Self {
        PyEvent(Event::StreamComplete {
            usage: usage(input_tokens, output_tokens, total_tokens, duration_ms),
        })
    }

    #[staticmethod]
    #[pyo3(signature = (retry_after_ms = None))]
    fn rate_limit_hit(
        #[pyo3(from_py_with = ints::retry_after_ms)] retry_after_ms: Option<u64>,
    ) -> Self {
        PyEvent(Event::RateLimitHit { retry_after_ms })
    }

    #[staticmethod]
    #[pyo3(signature = (attempt = None, restart = false))]
    fn retry_request(
        #[pyo3(from_py_with = ints::attempt)] attempt: Option<u32>,
        restart: bool,
    ) -> Self {
        PyEvent(Event::RetryRequest { attempt, restart })
    }

    #[staticmethod]
    #[pyo3(signature = (error, code = None, retryable = false))]
    fn request_failed(error: String, code: Option<String>, retryable: bool) -> Self {
        PyEvent(Event::RequestFailed {
            error,
            code,
            retryable,
        })
    }

    #[staticmethod]
    #[pyo3(signature = (provider, model = None, max_retries = None, restart = false))]
    fn fallback_to_provider(
        provider: String,
        model: Option<String>,
        #[pyo3(from_py_with = ints::max_retries)] max_retries: Option<u32>,
        restart: bool,
    ) -> Self {
        PyEvent(Event::FallbackToProvider {
            provider,
            model,
            max_retries,
            restart,
        })
    }

    #[staticmethod]
    fn complete() -> Self {
        PyEvent(Event::Complete)
    }

    #[staticmethod]
    fn reset() -> Self {
        PyEvent(Event::Reset)
    }

    #[getter]
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let args = arguments(py, &self.0)?;
        Ok(format!("Event.{}({args})", self.0.name()))
    }
}

fn quoted(py: Python<'_>, s: &str) -> PyResult<String> {
    Ok(PyString::new(py, s).repr()?.to_string())
}

fn optional<T: std::fmt::Debug>(value: Option<T>) -> String {
    value.map_or_else(|| "None".to_owned(), |v| format!("{v:?}"))
}

fn optional_quoted(py: Python<'_>, value: Option<&str>) -> PyResult<String> {
    value.map_or_else(|| Ok("None".to_owned()), |v| quoted(py, v))
}

const fn boolean(value: bool) -> &'static str {
    if value {
        "True"
    } else {
        "False"
    }
}

fn usage_arguments(u: &Usage) -> String {
    format!(
        "input_tokens={}, output_tokens={}, total_tokens={}, duration_ms={}",
        u.input_tokens, u.output_tokens, u.total_tokens, u.duration_ms
    )
}

fn arguments(py: Python<'_>, event: &Event) -> PyResult<String> {
    Ok(match event {
        Event::InitiateRequest {
            provider,
            model,
            message_count,
            max_tokens,
            temperature,
            stream,
        } => format!(
            "provider={}, model={}, message_count={message_count}, max_tokens={}, \
             temperature={}, stream={}",
            quoted(py, provider)?,
            quoted(py, model)?,
            optional(*max_tokens),
            optional(*temperature),
            boolean(*stream),
        ),
        Event::ValidationFailed { error } => format!("error={}", quoted(py, error)?),
        Event::ReceiveResponse { content, usage } => {
            format!(
                "content={}, {}",
                quoted(py, content)?,
                usage_arguments(usage)
            )
        }
        Event::ReceiveStreamChunk { chunk, index } => {
            format!("chunk={}, index={index}", quoted(py, chunk)?)
        }
        Event::StreamComplete { usage } => usage_arguments(usage),
        Event::RateLimitHit { retry_after_ms } => {
            format!("retry_after_ms={}", optional(*retry_after_ms))
        }
        Event::RetryRequest { attempt, restart } => format!(
            "attempt={}, restart={}",
            optional(*attempt),
            boolean(*restart)
        ),
        Event::RequestFailed {
            error,
            code,
            retryable,
        } => format!(
            "error={}, code={}, retryable={}",
            quoted(py, error)?,
            optional_quoted(py, code.as_deref())?,
            boolean(*retryable)
        ),
        Event::FallbackToProvider {
            provider,
            model,
            max_retries,
            restart,
        } => format!(
            "provider={}, model={}, max_retries={}, restart={}",
            quoted(py, provider)?,
            optional_quoted(py, model.as_deref())?,
            optional(*max_retries),
            boolean(*restart)
        ),
        Event::ValidateRequest
        | Event::ValidationPassed
        | Event::SendRequest
        | Event::Complete
        | Event::Reset => String::new(),
    })
}
