//! `CircuitBreaker` and `BreakerState`: one breaker shared by every task and thread.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use super::clock::or_now;
use super::ints;
use crate::breaker::{BreakerConfig, BreakerState, SharedBreaker};

#[pyclass(
    module = "automatosx._core",
    name = "BreakerState",
    eq,
    hash,
    frozen,
    rename_all = "snake_case"
)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PyBreakerState {
    Closed,
    Open,
    HalfOpen,
}

const ALL: [BreakerState; 3] = [
    BreakerState::Closed,
    BreakerState::Open,
    BreakerState::HalfOpen,
];

impl From<PyBreakerState> for BreakerState {
    fn from(state: PyBreakerState) -> Self {
        match state {
            PyBreakerState::Closed => BreakerState::Closed,
            PyBreakerState::Open => BreakerState::Open,
            PyBreakerState::HalfOpen => BreakerState::HalfOpen,
        }
    }
}

#[pymethods]
impl PyBreakerState {
    fn __str__(&self) -> &'static str {
        BreakerState::from(*self).as_str()
    }
}

static STATES: PyOnceLock<Vec<Py<PyBreakerState>>> = PyOnceLock::new();

fn state_object(py: Python<'_>, state: BreakerState) -> PyResult<Py<PyBreakerState>> {
    let all = STATES.get_or_try_init(py, || {
        let class = py.get_type::<PyBreakerState>();
        ALL.iter()
            .map(|s| {
                Ok(class
                    .getattr(s.as_str())?
                    .cast_into::<PyBreakerState>()?
                    .unbind())
            })
            .collect::<PyResult<Vec<_>>>()
    })?;
    Ok(all[state as usize].clone_ref(py))
}

#[pyclass(module = "automatosx._core", name = "CircuitBreaker", frozen)]
pub struct PyCircuitBreaker {
    inner: SharedBreaker,
}

#[pymethods]
impl PyCircuitBreaker {
    #[new]
    #[pyo3(signature = (
        failure_threshold = 5,
        reset_timeout_ms = 60_000,
        half_open_max_calls = 1,
        window_size = 0,
        minimum_calls = 10,
        failure_rate_threshold = 50.0,
    ))]
    fn new(
        #[pyo3(from_py_with = ints::failure_threshold)] failure_threshold: u32,
        #[pyo3(from_py_with = ints::reset_timeout_ms)] reset_timeout_ms: u64,
        #[pyo3(from_py_with = ints::half_open_max_calls)] half_open_max_calls: u32,
        #[pyo3(from_py_with = ints::window_size)] window_size: u32,
        #[pyo3(from_py_with = ints::minimum_calls)] minimum_calls: u32,
        failure_rate_threshold: f64,
    ) -> PyResult<Self> {
        if half_open_max_calls == 0 {
            return Err(PyValueError::new_err(
                "half_open_max_calls must be at least 1",
            ));
        }
        if !(0.0..=100.0).contains(&failure_rate_threshold) {
            return Err(PyValueError::new_err(format!(
                "failure_rate_threshold is a percentage (0-100), got {failure_rate_threshold}"
            )));
        }
        Ok(PyCircuitBreaker {
            inner: SharedBreaker::new(BreakerConfig {
                failure_threshold,
                reset_timeout_ms,
                half_open_max_calls,
                window_size,
                minimum_calls,
                failure_rate_threshold,
            }),
        })
    }

    #[pyo3(signature = (now_ms = None))]
    fn allow_request(&self, #[pyo3(from_py_with = ints::now_ms)] now_ms: Option<u64>) -> bool {
        self.inner.allow_request(or_now(now_ms))
    }

    #[pyo3(signature = (now_ms = None))]
    fn record_success(&self, #[pyo3(from_py_with = ints::now_ms)] now_ms: Option<u64>) {
        self.inner.record_success(or_now(now_ms));
    }

    #[pyo3(signature = (now_ms = None))]
    fn record_failure(&self, #[pyo3(from_py_with = ints::now_ms)] now_ms: Option<u64>) {
        self.inner.record_failure(or_now(now_ms));
    }

    #[pyo3(signature = (now_ms = None))]
    fn record_neutral(&self, #[pyo3(from_py_with = ints::now_ms)] now_ms: Option<u64>) {
        self.inner.record_neutral(or_now(now_ms));
    }

    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<Py<PyBreakerState>> {
        let state = self.inner.lock().stored_state();
        state_object(py, state)
    }

    #[pyo3(signature = (now_ms = None))]
    fn state_at(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = ints::now_ms)] now_ms: Option<u64>,
    ) -> PyResult<Py<PyBreakerState>> {
        let state = self.inner.lock().state(or_now(now_ms));
        state_object(py, state)
    }

    #[getter]
    fn consecutive_failures(&self) -> u32 {
        self.inner.lock().consecutive_failures()
    }

    #[getter]
    fn failure_rate(&self) -> Option<f64> {
        self.inner.lock().failure_rate()
    }

    fn __repr__(&self) -> String {
        let b = self.inner.lock();
        format!(
            "<CircuitBreaker state={} consecutive_failures={} failure_threshold={} \
             reset_timeout_ms={}>",
            b.stored_state().as_str(),
            b.consecutive_failures(),
            b.config().failure_threshold,
            b.config().reset_timeout_ms
        )
    }
}
