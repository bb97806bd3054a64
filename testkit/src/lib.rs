//! Support shared by the tests of every crate in the workspace, so that each piece exists once:
//! the snapshot location, the guard that kills a child process however a test ends, the bound on
//! every wait, temporary directories and the test-data files.
//!
//! It is a dev-dependency only. A failing helper panics, because that is how a test fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

pub use insta;

/// The longest any single wait for a child process may take before the test fails instead of
/// hanging.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The top of the workspace.
pub fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The example programs shipped with the workspace.
pub fn examples() -> PathBuf {
    workspace().join("examples")
}

/// Insta settings that put snapshots in `snapshots/DIR/` at the top of the workspace, named by
/// the test's own name for them only.
pub fn snapshot_settings(dir: &str) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(workspace().join("snapshots").join(dir));
    settings.set_prepend_module_to_snapshot(false);
    settings
}

/// Asserts a snapshot named `name` under `snapshots/DIR/`:
/// `mova_testkit::assert_snapshot!("asm", "tokens_loop", listing)`.
#[macro_export]
macro_rules! assert_snapshot {
    ($dir:expr, $name:expr, $content:expr) => {{
        $crate::snapshot_settings($dir).bind(|| $crate::insta::assert_snapshot!($name, $content));
    }};
}

/// A child process, killed and reaped however the test ends.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh temporary directory, removed with everything in it when dropped.
#[derive(Debug)]
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    /// A directory whose name starts with `mova-PREFIX-`, to tell the tests' leftovers apart.
    pub fn new(prefix: &str) -> TempDir {
        let prefix = format!("mova-{prefix}-");
        TempDir(tempfile::Builder::new().prefix(&prefix).tempdir().unwrap())
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.path().join(name)
    }

    /// Writes `contents` to `name` in the directory and returns its path.
    pub fn write(&self, name: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(name);
        fs::write(&path, contents).unwrap();
        path
    }

    /// The names of the files in the directory, sorted.
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// The files in `dir` whose extension is `extension`, sorted by name; a directory without any is
/// a broken test.
pub fn files_with_extension(dir: impl AsRef<Path>, extension: &str) -> Vec<PathBuf> {
    let dir = dir.as_ref();
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no .{extension} files in {}",
        dir.display()
    );
    files
}

/// The file name of `path` without its extension.
pub fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_are_found() {
        let files = files_with_extension(examples(), "mova");
        assert!(files.iter().any(|file| stem(file) == "loop"));
    }

    #[test]
    fn a_guarded_child_is_killed_when_the_guard_drops() {
        let child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pid = child.id();
        drop(ChildGuard(child));
        // Reaped: the pid no longer names our child, so /proc has no entry for it or it is
        // another process entirely; a zombie would still show as ours.
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        assert!(!status.contains("State:\tZ"), "{status}");
        assert!(!status.contains("Name:\tsleep"), "{status}");
    }

    #[test]
    fn a_temporary_directory_lists_what_is_written() {
        let dir = TempDir::new("testkit");
        dir.write("b", "2");
        dir.write("a", "1");
        assert_eq!(dir.entries(), ["a", "b"]);
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists());
    }
}
