//! The PyO3 layer: thin wrappers over the core, the clock, and error conversion.
//!
//! The core never reads a clock. Here, `now_ms=None` means "now" on a monotonic clock whose
//! epoch is the first time the process asked (see [`clock`]); `_core.monotonic_ms()` exposes
//! the same clock so Python code can pass consistent values. None of these calls release the
//! GIL: they take nanoseconds.

pub mod backoff;
pub mod breaker;
pub mod clock;
pub mod event;
pub mod ints;
pub mod limiter;
pub mod machine;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;

use crate::machine::TransitionError;

create_exception!(
    automatosx,
    AutomatosxError,
    PyException,
    "The base of every error automatosx raises."
);
create_exception!(
    automatosx,
    InvalidTransitionError,
    AutomatosxError,
    "The state machine refused an event; `state` and `event` name both."
);

pub fn invalid_transition(py: Python<'_>, err: TransitionError) -> PyErr {
    let pyerr = InvalidTransitionError::new_err(err.to_string());
    let value = pyerr.value(py);
    let attributes = value
        .setattr("state", err.from.as_str())
        .and_then(|()| value.setattr("event", err.event));
    match attributes {
        Ok(()) => pyerr,
        Err(other) => other,
    }
}

/// `ValueError` unless `value` is positive (or absent).
pub fn positive(name: &str, value: Option<u32>) -> PyResult<Option<u32>> {
    match value {
        Some(0) => Err(PyValueError::new_err(format!(
            "{name} must be positive, got 0"
        ))),
        other => Ok(other),
    }
}
