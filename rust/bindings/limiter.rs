//! `RateLimiter`: the GCRA limits of one provider, shared by every task and thread.

use pyo3::prelude::*;

use super::clock::or_now;
use super::ints;
use super::positive;
use crate::limiter::{LimiterConfig, SharedLimiter};

#[pyclass(module = "automatosx._core", name = "RateLimiter", frozen)]
pub struct PyRateLimiter {
    inner: SharedLimiter,
    config: LimiterConfig,
}

#[pymethods]
impl PyRateLimiter {
    #[new]
    #[pyo3(signature = (
        requests_per_minute = None,
        tokens_per_minute = None,
        request_burst = None,
        token_burst = None,
    ))]
    fn new(
        #[pyo3(from_py_with = ints::requests_per_minute)] requests_per_minute: Option<u32>,
        #[pyo3(from_py_with = ints::tokens_per_minute)] tokens_per_minute: Option<u32>,
        #[pyo3(from_py_with = ints::request_burst)] request_burst: Option<u32>,
        #[pyo3(from_py_with = ints::token_burst)] token_burst: Option<u32>,
    ) -> PyResult<Self> {
        let config = LimiterConfig {
            requests_per_minute: positive("requests_per_minute", requests_per_minute)?,
            tokens_per_minute: positive("tokens_per_minute", tokens_per_minute)?,
            request_burst: positive("request_burst", request_burst)?,
            token_burst: positive("token_burst", token_burst)?,
        };
        Ok(PyRateLimiter {
            inner: SharedLimiter::new(config),
            config,
        })
    }

    #[pyo3(signature = (tokens = 0, now_ms = None))]
    fn try_acquire(
        &self,
        #[pyo3(from_py_with = ints::tokens)] tokens: u64,
        #[pyo3(from_py_with = ints::now_ms)] now_ms: Option<u64>,
    ) -> u64 {
        self.inner.try_acquire(tokens, or_now(now_ms))
    }

    #[pyo3(signature = (estimated, actual, now_ms = None))]
    fn settle(
        &self,
        #[pyo3(from_py_with = ints::estimated)] estimated: u64,
        #[pyo3(from_py_with = ints::actual)] actual: u64,
        #[pyo3(from_py_with = ints::now_ms)] now_ms: Option<u64>,
    ) {
        self.inner.settle(estimated, actual, or_now(now_ms));
    }

    #[getter]
    fn requests_per_minute(&self) -> Option<u32> {
        self.config.requests_per_minute
    }

    #[getter]
    fn tokens_per_minute(&self) -> Option<u32> {
        self.config.tokens_per_minute
    }

    fn __repr__(&self) -> String {
        let show = |v: Option<u32>| v.map_or_else(|| "None".to_owned(), |v| v.to_string());
        format!(
            "<RateLimiter requests_per_minute={} tokens_per_minute={}>",
            show(self.config.requests_per_minute),
            show(self.config.tokens_per_minute)
        )
    }
}
