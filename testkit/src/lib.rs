//! Support shared by the tests of every crate in the workspace, so that each piece exists once:
//! the snapshot location, the guard that kills a child process however a test ends, the bound on
//! every wait, temporary directories and the test-data files.
//!
//! It is a dev-dependency only. A failing helper panics, because that is how a test fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

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

impl ChildGuard {
    /// Waits for the child to exit: its status, or `None` if it still runs after `timeout`
    /// (the caller says what that means for its test).
    pub fn wait_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads `output` (a child's standard output) line by line on a helper thread, so that every
/// read can be bounded in time. Each item is a line as read, with its `\n` if it had one, and
/// when it arrived. The thread ends at the end of the output, on a read error, once the receiver
/// is dropped, or — with `limit` — once that many lines were read; it then drops `output`, as
/// `head` does.
pub fn read_lines(
    output: impl Read + Send + 'static,
    limit: Option<usize>,
) -> Receiver<(Instant, String)> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(output);
        let mut count = 0;
        while limit.is_none_or(|limit| count < limit) {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if sender.send((Instant::now(), line)).is_err() {
                        break;
                    }
                    count += 1;
                }
            }
        }
    });
    receiver
}

/// Collects everything read from `output` (a child's standard error) on a helper thread, line by
/// line as it comes, into text that can be looked at at any time; bytes that are not UTF-8 are
/// shown as U+FFFD.
pub fn collect_text(output: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    thread::spawn(move || {
        let mut reader = BufReader::new(output);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line), Ok(read) if read > 0) {
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push_str(&String::from_utf8_lossy(&line));
            line.clear();
        }
    });
    text
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

/// What the lines of a test-data file say after one of `markers` (`"// expect: "`, say), in
/// order, with surrounding blanks removed: the expectations a data-driven test reads from the
/// comments of its cases.
pub fn marked_lines<'a>(source: &'a str, markers: &[&str]) -> Vec<&'a str> {
    source
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            markers
                .iter()
                .find_map(|marker| line.strip_prefix(marker))
                .map(str::trim_end)
        })
        .collect()
}

/// The file name of `path` without its extension.
pub fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

/// The line that ends each generated part of a doc.
pub const GENERATED_END: &str = "<!-- end of generated part -->";

/// Checks the part of the doc at `path` (from the workspace's top) after the line
/// `<!-- generated: NAME (COMMAND) -->` and up to [`GENERATED_END`] against `text`, the text it
/// is generated from; with `MOVA_BLESS` set in the environment, rewrites that part instead.
/// Fails naming `COMMAND`, which regenerates it, when they differ.
pub fn check_generated(path: &str, name: &str, command: &str, text: &str) {
    let file = workspace().join(path);
    let mut doc = fs::read_to_string(&file).unwrap();
    let marker = format!("<!-- generated: {name} ({command}) -->\n");
    let start = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("{path} lacks the line {marker:?}"))
        + marker.len();
    let end = start
        + doc[start..]
            .find(GENERATED_END)
            .unwrap_or_else(|| panic!("{path}: the {name} part has no end marker"));
    if doc[start..end] == *text {
        return;
    }
    if std::env::var_os("MOVA_BLESS").is_some() {
        doc.replace_range(start..end, text);
        fs::write(&file, doc).unwrap();
        return;
    }
    panic!("{path}: the {name} part is out of date; run `MOVA_BLESS=1 {command}`");
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
    fn marked_lines_are_read_in_order() {
        let source = "var x = 1; // expect: 1 \n  ; expect: two\n// error: E0001\nprint(x);\n";
        assert_eq!(
            marked_lines(source, &["; expect: ", "// expect: "]),
            ["two"]
        );
        assert_eq!(marked_lines(source, &["// error: "]), ["E0001"]);
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
    fn a_guarded_child_is_waited_for_within_a_bound() {
        let mut quick = ChildGuard(std::process::Command::new("true").spawn().unwrap());
        let status = quick.wait_within(TIMEOUT).unwrap();
        assert!(status.success());
        let mut slow = ChildGuard(
            std::process::Command::new("sleep")
                .arg("60")
                .spawn()
                .unwrap(),
        );
        assert_eq!(slow.wait_within(Duration::from_millis(50)), None);
    }

    #[test]
    fn lines_are_read_as_they_come_up_to_the_limit() {
        let lines = read_lines(&b"one\ntwo\nthree"[..], None);
        let read: Vec<String> = lines.iter().map(|(_, line)| line).collect();
        assert_eq!(read, ["one\n", "two\n", "three"]);
        let lines = read_lines(&b"one\ntwo\nthree\n"[..], Some(2));
        assert_eq!(lines.iter().count(), 2);
    }

    #[test]
    fn text_is_collected_as_it_comes() {
        let text = collect_text(&b"one\n\xfftwo"[..]);
        let deadline = Instant::now() + TIMEOUT;
        while text.lock().unwrap().as_str() != "one\n\u{fffd}two" {
            assert!(Instant::now() < deadline, "{:?}", text.lock().unwrap());
            thread::sleep(Duration::from_millis(5));
        }
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
