//! `Backoff` and the retry-after parsers.

use pyo3::prelude::*;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use super::clock::unix_now_ms;
use super::ints;
use crate::backoff::Backoff;

#[pyclass(module = "automatosx._core", name = "Backoff", frozen)]
pub struct PyBackoff {
    inner: Backoff,
}

#[pymethods]
impl PyBackoff {
    #[new]
    #[pyo3(signature = (base_ms = 500, cap_ms = 30_000, max_wait_ms = 60_000, seed = None))]
    fn new(
        #[pyo3(from_py_with = ints::base_ms)] base_ms: u64,
        #[pyo3(from_py_with = ints::cap_ms)] cap_ms: u64,
        #[pyo3(from_py_with = ints::max_wait_ms)] max_wait_ms: u64,
        #[pyo3(from_py_with = ints::seed)] seed: Option<u64>,
    ) -> Self {
        // RandomState is seeded once per thread from the OS; hashing a constant through it
        // is a random u64 without a clock or any I/O of ours.
        let seed = seed.unwrap_or_else(|| RandomState::new().hash_one(0x5eed_u64));
        PyBackoff {
            inner: Backoff::new(base_ms, cap_ms, max_wait_ms, seed),
        }
    }

    #[pyo3(signature = (attempt, retry_after_ms = None))]
    fn delay_ms(
        &self,
        #[pyo3(from_py_with = ints::attempt)] attempt: u32,
        #[pyo3(from_py_with = ints::retry_after_ms)] retry_after_ms: Option<u64>,
    ) -> Option<u64> {
        self.inner.delay_ms(attempt, retry_after_ms)
    }

    #[getter]
    fn base_ms(&self) -> u64 {
        self.inner.base_ms
    }

    #[getter]
    fn cap_ms(&self) -> u64 {
        self.inner.cap_ms
    }

    #[getter]
    fn max_wait_ms(&self) -> u64 {
        self.inner.max_wait_ms
    }

    fn __repr__(&self) -> String {
        format!(
            "<Backoff base_ms={} cap_ms={} max_wait_ms={}>",
            self.inner.base_ms, self.inner.cap_ms, self.inner.max_wait_ms
        )
    }
}

#[pyfunction]
#[pyo3(signature = (retry_after_ms = None, retry_after = None, now_unix_ms = None))]
pub fn parse_retry_after(
    retry_after_ms: Option<&str>,
    retry_after: Option<&str>,
    #[pyo3(from_py_with = ints::now_unix_ms)] now_unix_ms: Option<u64>,
) -> Option<u64> {
    let now = now_unix_ms.unwrap_or_else(unix_now_ms);
    crate::retry_after::parse_retry_after(retry_after_ms, retry_after, now)
}

#[pyfunction]
pub fn parse_duration(value: &str) -> Option<u64> {
    crate::retry_after::parse_duration(value)
}
