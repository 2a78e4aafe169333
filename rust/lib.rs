//! automatosx's core: pure Rust, no I/O, no clock of its own.
//!
//! The PyO3 layer lives in `bindings` behind the `python` feature, so `cargo test` of the core
//! links without libpython.

pub mod backoff;
pub mod breaker;
pub mod limiter;
pub mod machine;
pub mod retry_after;

#[cfg(feature = "python")]
mod bindings;

#[cfg(test)]
mod tests;

#[cfg(feature = "python")]
#[pyo3::pymodule]
fn _core(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
    use bindings::{backoff, breaker, clock, event, limiter, machine};
    use pyo3::prelude::*;

    let py = m.py();
    m.add(
        "AutomatosxError",
        py.get_type::<bindings::AutomatosxError>(),
    )?;
    m.add(
        "InvalidTransitionError",
        py.get_type::<bindings::InvalidTransitionError>(),
    )?;
    m.add_class::<machine::PyState>()?;
    m.add_class::<machine::PyMachine>()?;
    m.add_class::<machine::PyContext>()?;
    m.add_class::<event::PyEvent>()?;
    m.add_class::<breaker::PyBreakerState>()?;
    m.add_class::<breaker::PyCircuitBreaker>()?;
    m.add_class::<limiter::PyRateLimiter>()?;
    m.add_class::<backoff::PyBackoff>()?;
    m.add_function(wrap_pyfunction!(backoff::parse_retry_after, m)?)?;
    m.add_function(wrap_pyfunction!(backoff::parse_duration, m)?)?;
    m.add_function(wrap_pyfunction!(clock::monotonic_ms, m)?)?;
    clock::monotonic_now_ms();
    Ok(())
}
