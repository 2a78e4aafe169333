//! Unit tests, one file per source file.

mod backoff;
mod breaker;
mod limiter;
mod machine_props;
mod machine_rows;
mod machine_table;
mod retry_after;
