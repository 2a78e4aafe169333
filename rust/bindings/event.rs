//! `Event`: one of the machine's 14 events, built by its static constructors.

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::machine::{Event, Usage};

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
        message_count: u32,
        max_tokens: Option<u32>,
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

    #[staticmethod]
    fn validation_failed(error: String) -> Self {
        PyEvent(Event::ValidationFailed { error })
    }

    #[staticmethod]
    fn send_request() -> Self {
        PyEvent(Event::SendRequest)
    }

    #[staticmethod]
    #[pyo3(signature = (content, input_tokens = 0, output_tokens = 0, total_tokens = 0, duration_ms = 0))]
    fn receive_response(
        content: String,
        input_tokens: u64,
        output_tokens: u64,
        total_tokens: u64,
        duration_ms: u64,
    ) -> Self {
        PyEvent(Event::ReceiveResponse {
            content,
            usage: usage(input_tokens, output_tokens, total_tokens, duration_ms),
        })
    }

    #[staticmethod]
    fn receive_stream_chunk(chunk: String, index: u32) -> Self {
        PyEvent(Event::ReceiveStreamChunk { chunk, index })
    }

    #[staticmethod]
    #[pyo3(signature = (input_tokens = 0, output_tokens = 0, total_tokens = 0, duration_ms = 0))]
    fn stream_complete(
        input_tokens: u64,
        output_tokens: u64,
        total_tokens: u64,
        duration_ms: u64,
    ) -> Self {
        PyEvent(Event::StreamComplete {
            usage: usage(input_tokens, output_tokens, total_tokens, duration_ms),
        })
    }

    #[staticmethod]
    #[pyo3(signature = (retry_after_ms = None))]
    fn rate_limit_hit(retry_after_ms: Option<u64>) -> Self {
        PyEvent(Event::RateLimitHit { retry_after_ms })
    }

    #[staticmethod]
    fn retry_request() -> Self {
        PyEvent(Event::RetryRequest)
    }

    #[staticmethod]
    #[pyo3(signature = (error, code, retryable = None))]
    fn request_failed(error: String, code: String, retryable: Option<bool>) -> Self {
        PyEvent(Event::RequestFailed {
            error,
            code,
            retryable,
        })
    }

    #[staticmethod]
    #[pyo3(signature = (provider, model = None, max_retries = None))]
    fn fallback_to_provider(
        provider: String,
        model: Option<String>,
        max_retries: Option<u32>,
    ) -> Self {
        PyEvent(Event::FallbackToProvider {
            provider,
            model,
            max_retries,
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
            if *stream { "True" } else { "False" },
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
        Event::RequestFailed {
            error,
            code,
            retryable,
        } => format!(
            "error={}, code={}, retryable={}",
            quoted(py, error)?,
            quoted(py, code)?,
            match retryable {
                Some(true) => "True",
                Some(false) => "False",
                None => "None",
            }
        ),
        Event::FallbackToProvider {
            provider,
            model,
            max_retries,
        } => format!(
            "provider={}, model={}, max_retries={}",
            quoted(py, provider)?,
            match model {
                Some(m) => quoted(py, m)?,
                None => "None".to_owned(),
            },
            optional(*max_retries)
        ),
        Event::ValidateRequest
        | Event::ValidationPassed
        | Event::SendRequest
        | Event::RetryRequest
        | Event::Complete
        | Event::Reset => String::new(),
    })
}
