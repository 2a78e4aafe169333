//! `ProviderStateMachine`, its `State` enum and its read-only `Context` view.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyString};

use super::event::PyEvent;
use super::{ints, invalid_transition};
use crate::machine::{Context, Machine, State};

#[pyclass(
    module = "automatosx._core",
    name = "State",
    eq,
    hash,
    frozen,
    rename_all = "snake_case"
)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PyState {
    Idle,
    Validating,
    Requesting,
    Streaming,
    RateLimited,
    Retrying,
    Completed,
    Failed,
}

impl From<PyState> for State {
    fn from(state: PyState) -> Self {
        match state {
            PyState::Idle => State::Idle,
            PyState::Validating => State::Validating,
            PyState::Requesting => State::Requesting,
            PyState::Streaming => State::Streaming,
            PyState::RateLimited => State::RateLimited,
            PyState::Retrying => State::Retrying,
            PyState::Completed => State::Completed,
            PyState::Failed => State::Failed,
        }
    }
}

#[pymethods]
impl PyState {
    fn __str__(&self) -> &'static str {
        State::from(*self).as_str()
    }

    #[getter]
    fn is_terminal(&self) -> bool {
        State::from(*self).is_terminal()
    }
}

static STATES: PyOnceLock<Vec<Py<PyState>>> = PyOnceLock::new();
static STATE_NAMES: PyOnceLock<Vec<Py<PyString>>> = PyOnceLock::new();

/// The class attribute `State.<name>` for `state`, so `m.state is State.idle` and no
/// object is created per call.
fn state_object(py: Python<'_>, state: State) -> PyResult<Py<PyState>> {
    let all = STATES.get_or_try_init(py, || {
        let class = py.get_type::<PyState>();
        State::ALL
            .iter()
            .map(|s| Ok(class.getattr(s.as_str())?.cast_into::<PyState>()?.unbind()))
            .collect::<PyResult<Vec<_>>>()
    })?;
    Ok(all[state as usize].clone_ref(py))
}

fn state_name(py: Python<'_>, state: State) -> Bound<'_, PyString> {
    let names = STATE_NAMES.get_or_init(py, || {
        State::ALL
            .iter()
            .map(|s| PyString::intern(py, s.as_str()).unbind())
            .collect()
    });
    names[state as usize].bind(py).clone()
}

#[pyclass(module = "automatosx._core", name = "ProviderStateMachine")]
pub struct PyMachine {
    inner: Machine,
}

#[pymethods]
impl PyMachine {
    #[new]
    #[pyo3(signature = (request_id, max_retries = 3, fallback_providers = None))]
    fn new(
        request_id: String,
        #[pyo3(from_py_with = ints::max_retries)] max_retries: u32,
        fallback_providers: Option<Vec<String>>,
    ) -> Self {
        PyMachine {
            inner: Machine::new(
                request_id,
                max_retries,
                fallback_providers.unwrap_or_default(),
            ),
        }
    }

    fn transition(&mut self, py: Python<'_>, event: &Bound<'_, PyEvent>) -> PyResult<()> {
        self.inner
            .transition(&event.get().0)
            .map_err(|err| invalid_transition(py, err))
    }

    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<Py<PyState>> {
        state_object(py, self.inner.state())
    }

    #[getter]
    fn is_terminal(&self) -> bool {
        self.inner.is_terminal()
    }

    #[getter]
    fn history<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.history().iter().map(|&s| state_name(py, s)))
    }

    #[getter]
    fn context(slf: &Bound<'_, Self>) -> PyContext {
        PyContext {
            machine: slf.clone().unbind(),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let id = PyString::new(py, &self.inner.context().request_id).repr()?;
        Ok(format!(
            "<ProviderStateMachine {id} state={}>",
            self.inner.state()
        ))
    }
}

/// A live, read-only view of a machine's context: reading a field copies only that field.
#[pyclass(module = "automatosx._core", name = "Context", frozen)]
pub struct PyContext {
    machine: Py<PyMachine>,
}

impl PyContext {
    fn read<'py, R>(&self, py: Python<'py>, f: impl FnOnce(&Context) -> R) -> PyResult<R> {
        let machine = self.machine.bind(py).try_borrow()?;
        Ok(f(machine.inner.context()))
    }

    fn read_str<'py>(
        &self,
        py: Python<'py>,
        f: impl FnOnce(&Context) -> &str,
    ) -> PyResult<Bound<'py, PyString>> {
        self.read(py, |c| PyString::new(py, f(c)))
    }

    fn read_list<'py>(
        &self,
        py: Python<'py>,
        f: impl FnOnce(&Context) -> &[String],
    ) -> PyResult<Bound<'py, PyList>> {
        self.read(py, |c| PyList::new(py, f(c)))?
    }
}

#[pymethods]
impl PyContext {
    #[getter]
    fn request_id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        self.read_str(py, |c| &c.request_id)
    }
    #[getter]
    fn provider<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        self.read_str(py, |c| &c.provider)
    }
    #[getter]
    fn model<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        self.read_str(py, |c| &c.model)
    }
    #[getter]
    fn message_count(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |c| c.message_count)
    }
    #[getter]
    fn max_tokens(&self, py: Python<'_>) -> PyResult<Option<u32>> {
        self.read(py, |c| c.max_tokens)
    }
    #[getter]
    fn temperature(&self, py: Python<'_>) -> PyResult<Option<f64>> {
        self.read(py, |c| c.temperature)
    }
    #[getter]
    fn stream(&self, py: Python<'_>) -> PyResult<bool> {
        self.read(py, |c| c.stream)
    }
    #[getter]
    fn retry_count(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |c| c.retry_count)
    }
    #[getter]
    fn max_retries(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |c| c.max_retries)
    }
    #[getter]
    fn fallback_providers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.read_list(py, |c| &c.fallback_providers)
    }
    #[getter]
    fn remaining_fallbacks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.read_list(py, Context::remaining_fallbacks)
    }
    #[getter]
    fn fallback_index(&self, py: Python<'_>) -> PyResult<usize> {
        self.read(py, |c| c.fallback_index)
    }
    #[getter]
    fn response<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        self.read_str(py, |c| &c.response)
    }
    #[getter]
    fn chunk_count(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |c| c.chunk_count)
    }
    #[getter]
    fn error<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyString>>> {
        self.read(py, |c| c.error.as_deref().map(|e| PyString::new(py, e)))
    }
    #[getter]
    fn error_code<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyString>>> {
        self.read(py, |c| {
            c.error_code.as_deref().map(|e| PyString::new(py, e))
        })
    }
    #[getter]
    fn retryable(&self, py: Python<'_>) -> PyResult<bool> {
        self.read(py, |c| c.retryable)
    }
    #[getter]
    fn retry_after_ms(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        self.read(py, |c| c.retry_after_ms)
    }
    #[getter]
    fn input_tokens(&self, py: Python<'_>) -> PyResult<u64> {
        self.read(py, |c| c.input_tokens)
    }
    #[getter]
    fn output_tokens(&self, py: Python<'_>) -> PyResult<u64> {
        self.read(py, |c| c.output_tokens)
    }
    #[getter]
    fn total_tokens(&self, py: Python<'_>) -> PyResult<u64> {
        self.read(py, |c| c.total_tokens)
    }
    #[getter]
    fn duration_ms(&self, py: Python<'_>) -> PyResult<u64> {
        self.read(py, |c| c.duration_ms)
    }
    #[getter]
    fn attempt(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |c| c.attempt)
    }
    #[getter]
    fn restarts(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |c| c.restarts)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        self.read(py, |c| {
            format!(
                "<Context provider={:?} model={:?} attempt={} retry_count={} restarts={} \
                 error_code={:?}>",
                c.provider, c.model, c.attempt, c.retry_count, c.restarts, c.error_code
            )
        })
    }
}
