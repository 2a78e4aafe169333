//! Compiles the SQL migrations into the crate, so they ship inside the wheel's `_core`.
//!
//! Every `migrations/NNN_name.sql` (digits, an underscore, a name) becomes one entry of
//! `MIGRATIONS`, in file-name order. No directory, or no such files, means no migrations.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn is_migration(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".sql") else {
        return false;
    };
    let Some((number, rest)) = stem.split_once('_') else {
        return false;
    };
    !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty()
}

fn migration_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            is_migration(&name).then(|| (name, entry.path()))
        })
        .collect();
    files.sort();
    files
}

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dir = manifest_dir.join("migrations");
    println!("cargo:rerun-if-changed=migrations");

    let mut code = String::from("pub static MIGRATIONS: &[(&str, &str)] = &[\n");
    for (name, path) in migration_files(&dir) {
        code.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("migrations.rs");
    fs::write(out, code).expect("OUT_DIR is writable");
}
