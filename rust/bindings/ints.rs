//! Integer arguments: a Python int outside the Rust type's range (negative, or too large such
//! as `2**64`) is a `ValueError` naming the argument and the allowed range — never PyO3's
//! bare `OverflowError`, which names neither.
//!
//! PyO3 mentions an argument's name only in a note on the exception, so each integer argument
//! is extracted by a function named after it: `#[pyo3(from_py_with = ints::index)] index: u32`.
//! Every one of them goes through [`IntArg::extract_named`]; the Rust signature (and so the
//! Python signature and its defaults) is unchanged.

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;

/// A Rust integer type (or `Option` of one) that a Python argument converts to.
pub trait IntArg: Sized {
    fn extract_named(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<Self>;
}

macro_rules! int_arg {
    ($($ty:ty),*) => {$(
        impl IntArg for $ty {
            fn extract_named(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<Self> {
                obj.extract::<$ty>().map_err(|err| {
                    if err.is_instance_of::<PyOverflowError>(obj.py()) {
                        PyValueError::new_err(format!(
                            "{name} must be an integer from {} to {}, got {}",
                            <$ty>::MIN,
                            <$ty>::MAX,
                            shown(obj)
                        ))
                    } else if err.is_instance_of::<PyTypeError>(obj.py()) {
                        PyTypeError::new_err(format!(
                            "{name} must be an int, got {}",
                            type_name(obj)
                        ))
                    } else {
                        err
                    }
                })
            }
        }
    )*};
}

int_arg!(u32, u64, usize);

impl<T: IntArg> IntArg for Option<T> {
    fn extract_named(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        if obj.is_none() {
            Ok(None)
        } else {
            T::extract_named(name, obj).map(Some)
        }
    }
}

fn shown(obj: &Bound<'_, PyAny>) -> String {
    obj.str()
        .map_or_else(|_| "an int".to_owned(), |s| s.to_string())
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "another type".to_owned(), |n| n.to_string())
}

macro_rules! arguments {
    ($($name:ident),* $(,)?) => {$(
        #[doc = concat!("The `", stringify!($name), "` argument.")]
        pub fn $name<T: IntArg>(obj: &Bound<'_, PyAny>) -> PyResult<T> {
            T::extract_named(stringify!($name), obj)
        }
    )*};
}

arguments!(
    // ProviderStateMachine and Event
    max_retries,
    message_count,
    max_tokens,
    input_tokens,
    output_tokens,
    total_tokens,
    duration_ms,
    index,
    retry_after_ms,
    attempt,
    // CircuitBreaker
    failure_threshold,
    reset_timeout_ms,
    half_open_max_calls,
    window_size,
    minimum_calls,
    now_ms,
    // RateLimiter
    requests_per_minute,
    tokens_per_minute,
    request_burst,
    token_burst,
    tokens,
    estimated,
    actual,
    // Backoff and retry-after
    base_ms,
    cap_ms,
    max_wait_ms,
    seed,
    now_unix_ms,
);
