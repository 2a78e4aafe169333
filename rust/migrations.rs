//! The SQL migrations from the top-level `migrations/` directory, compiled in by `build.rs`:
//! `(file name, SQL)` pairs in file-name order.

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

pub fn migrations() -> &'static [(&'static str, &'static str)] {
    MIGRATIONS
}
