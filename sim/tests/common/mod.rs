//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// The Porcupine test histories: `$QUORATE_TESTDATA` if set, else
/// the copy vendored in the repository, `testdata/porcupine` at the project root.
///
/// # Panics
/// If the directory is missing: these tests must fail loudly, not skip.
pub fn porcupine_dir() -> PathBuf {
    let dir = match std::env::var_os("QUORATE_TESTDATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/porcupine"),
    };
    assert!(
        dir.join("README.md").is_file(),
        "test data not found at {} (set QUORATE_TESTDATA to the porcupine directory)",
        dir.display()
    );
    dir
}

/// Reads a test data file.
#[allow(dead_code)] // not every test binary reads files itself
pub fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
