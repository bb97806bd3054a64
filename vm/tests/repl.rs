//! End-to-end tests of `mova repl`, the real binary: through a pipe, as a script feeds it, and in
//! a real terminal (a tmux pane), as a person types: prompts, multi-line entries, history recall,
//! Ctrl-C and Ctrl-D.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

use assert_cmd::Command;
use mova_testkit::{ChildGuard, TIMEOUT, TempDir};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `mova repl` with `input` on standard input and the history kept in `state`.
fn repl(input: &str, state: &Path) -> assert_cmd::assert::Assert {
    Command::new(env!("CARGO_BIN_EXE_mova"))
        .arg("repl")
        .env("XDG_STATE_HOME", state)
        .env("NO_COLOR", "1")
        .write_stdin(input)
        .timeout(TIMEOUT)
        .assert()
}

fn stdout(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

fn stderr(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stderr.clone()).unwrap()
}

#[test]
fn a_pipe_gets_exactly_the_output() {
    let state = TempDir::new("repl-state");
    let assert = repl("var x = 2;\nprint(x * 21);\n", state.path()).success();
    assert_eq!(stdout(&assert), "42\n");
    assert_eq!(stderr(&assert), "");
    // No history is written when nobody types.
    assert!(!state.join("mova").exists());
}

#[test]
fn state_lasts_across_entries_and_nothing_runs_twice() {
    let state = TempDir::new("repl-state");
    let input = "\
print(\"hello\");
sleep(1);
var xs = [1, 2];
var alias = xs;
var s = \"ab\";
fn total(a: [int]) -> int {
    var t = 0;
    var i = 0;
    while i < len(a) {
        t += a[i];
        i++;
    }
    return t;
}
push(alias, 3);
s += \"c\";
print(xs, s, total(xs));
total(alias) * 2
len(s)
s
";
    let assert = repl(input, state.path()).success();
    assert_eq!(stdout(&assert), "hello\n[1, 2, 3] abc 6\n12\n3\nabc\n");
}

#[test]
fn errors_go_to_stderr_change_nothing_and_fail_the_script() {
    let state = TempDir::new("repl-state");
    let input = "\
var xs = [1];
push(xs, 2); print(xs); print(xs[5]);
xs = \"no\";
print(missing);
xs
var ok = len(xs);
ok
";
    let assert = repl(input, state.path()).code(1);
    // The trapping entry printed before it trapped; its push was undone with it.
    assert_eq!(stdout(&assert), "[1, 2]\n[1]\n1\n");
    let errors = stderr(&assert);
    assert!(
        errors.contains("index out of bounds: the length is 2 but the index is 5"),
        "{errors}"
    );
    assert!(errors.contains("<entry 2>:1:31"), "{errors}");
    assert!(errors.contains("[E0028]"), "{errors}");
    assert!(errors.contains("[E0005]"), "{errors}");
}

#[test]
fn a_trap_in_a_function_of_an_earlier_entry_shows_that_entry_and_the_backtrace() {
    let state = TempDir::new("repl-state");
    let input = "fn div(a: int, b: int) -> int {\n    return a / b;\n}\ndiv(1, 0)\ndiv(6, 3)\n";
    let assert = repl(input, state.path()).code(1);
    assert_eq!(stdout(&assert), "2\n");
    let errors = stderr(&assert);
    assert!(errors.contains("division by zero: 1 / 0"), "{errors}");
    assert!(errors.contains("<entry 1>:2:12"), "{errors}");
    assert!(errors.contains("div"), "{errors}");
}

#[test]
fn multi_line_entries_and_indented_bodies() {
    let state = TempDir::new("repl-state");
    // An indented body ends at a blank line; brackets at their closer.
    let input = "var i = 0;\ncount:\n    i++;\n    if i == 3 { break; }\n\nprint(i,\n    i * 2);\nvar m = [\n  [1],\n  [2]\n];\nm\n";
    let assert = repl(input, state.path()).success();
    assert_eq!(stdout(&assert), "3 6\n[[1], [2]]\n");
}

#[test]
fn halt_and_quit_end_the_session() {
    let state = TempDir::new("repl-state");
    let assert = repl("print(1);\nhalt;\nprint(2);\n", state.path()).success();
    assert_eq!(stdout(&assert), "1\n");
    let assert = repl("print(1);\n:quit\nprint(2);\n", state.path()).success();
    assert_eq!(stdout(&assert), "1\n");
}

#[test]
fn commands() {
    let state = TempDir::new("repl-state");
    let assert = repl(
        "var n = 3;\nvar s = \"hi\";\nvar m = [[1], []];\n:vars\n:help\n",
        state.path(),
    )
    .success();
    let out = stdout(&assert);
    assert!(
        out.starts_with("n: int = 3\ns: str = \"hi\"\nm: [[int]] = [[1], []]\n"),
        "{out}"
    );
    assert!(out.contains(":quit"), "{out}");
    let assert = repl(":nope\n", state.path()).code(1);
    assert!(stderr(&assert).contains("unknown command `:nope`"));
}

#[test]
fn input_that_ends_inside_an_entry_is_reported() {
    let state = TempDir::new("repl-state");
    let assert = repl("print(1);\nprint(2,\n", state.path()).code(1);
    assert_eq!(stdout(&assert), "1\n");
    assert!(stderr(&assert).contains("[E0003]"));
}

#[test]
fn ctrl_c_ends_a_script_that_runs_forever() {
    let mut child = ChildGuard(
        std::process::Command::new(env!("CARGO_BIN_EXE_mova"))
            .arg("repl")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdin = child.0.stdin.take().unwrap();
    stdin.write_all(b"loop { }\n").unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = child.0.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let status = child
        .wait_within(TIMEOUT)
        .expect("mova repl did not stop on SIGINT");
    assert_eq!(status.code(), Some(130));
}

/// A tmux server of its own, with one pane running `mova repl`; killed when dropped.
struct Terminal {
    socket: String,
}

impl Terminal {
    /// Starts `mova repl` in a 120×40 pane, its history under `state`, or `None` (with a note)
    /// without tmux.
    fn start(name: &str, state: &Path) -> Option<Terminal> {
        if std::process::Command::new("tmux")
            .arg("-V")
            .output()
            .is_err()
        {
            eprintln!("note: tmux is not installed: skipping the terminal test");
            return None;
        }
        let socket = format!("mova-repl-{name}-{}", std::process::id());
        // The pane says how the REPL exited, and stays long enough to be read.
        let command = format!(
            "env XDG_STATE_HOME='{}' NO_COLOR=1 '{}' repl; echo \"exit status $?\"; sleep 60",
            state.display(),
            env!("CARGO_BIN_EXE_mova")
        );
        let terminal = Terminal { socket };
        terminal.tmux(&[
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "40",
            "-s",
            "repl",
            &command,
        ]);
        terminal.wait_for("the prompt", |screen| {
            Terminal::lines(screen).contains(&"mova>")
        });
        Some(terminal)
    }

    fn tmux(&self, args: &[&str]) -> String {
        let output = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "tmux {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Types `text` literally.
    fn type_text(&self, text: &str) {
        // tmux takes an argument's final `;` for a command separator, unless escaped.
        let text = match text.strip_suffix(';') {
            Some(before) => format!("{before}\\;"),
            None => text.to_owned(),
        };
        self.tmux(&["send-keys", "-t", "repl", "-l", &text]);
    }

    /// Presses keys by name (`Enter`, `Up`, `C-c`, `C-d`).
    fn press(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "repl"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Types a line and presses Enter, once a prompt waits for it: keys typed while the previous
    /// entry still runs can be lost when the line editor takes the terminal back, so a test that
    /// typed ahead failed on a loaded machine.
    fn line(&self, text: &str) {
        self.wait_for("a prompt waiting", |screen| {
            let last = Terminal::lines(screen)
                .into_iter()
                .rfind(|line| !line.is_empty());
            matches!(last, Some("mova>" | "..."))
        });
        self.type_text(text);
        self.press(&["Enter"]);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "repl"])
    }

    /// Waits until the screen satisfies `ready`, and returns it; fails after [`TIMEOUT`].
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} on the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the last line that is not blank is `line` (a prompt waiting, say).
    fn wait_for_last(&self, line: &str) {
        self.wait_for(line, |screen| {
            Terminal::lines(screen)
                .into_iter()
                .rfind(|text| !text.is_empty())
                == Some(line)
        });
    }

    /// The screen's lines, trailing blanks dropped.
    fn lines(screen: &str) -> Vec<&str> {
        screen.lines().map(str::trim_end).collect()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

#[test]
fn a_terminal_session() {
    let state = TempDir::new("repl-tty");
    let Some(terminal) = Terminal::start("session", state.path()) else {
        return;
    };
    let screen = terminal.screen();
    assert!(
        screen.contains("`:help` for help, Ctrl-D to leave"),
        "{screen}"
    );

    // A function over several lines: the continuation prompt until the brace closes.
    terminal.line("fn square(n: int) -> int {");
    terminal.wait_for("continuation prompt", |screen| {
        Terminal::lines(screen).contains(&"...")
    });
    terminal.line("    return n * n;");
    terminal.line("}");
    terminal.line("square(7)");
    terminal.wait_for("49", |screen| Terminal::lines(screen).contains(&"49"));
    terminal.wait_for_last("mova>");

    // Up recalls the last line; Enter runs it again.
    terminal.press(&["Up"]);
    terminal.wait_for("the recalled line", |screen| {
        screen
            .lines()
            .last()
            .is_some_and(|line| line.contains("square(7)"))
            || Terminal::lines(screen)
                .iter()
                .filter(|line| **line == "mova> square(7)")
                .count()
                == 2
    });
    terminal.press(&["Enter"]);
    terminal.wait_for("a second 49", |screen| {
        Terminal::lines(screen)
            .iter()
            .filter(|line| **line == "49")
            .count()
            == 2
    });

    // Ctrl-C cancels the entry being typed.
    terminal.line("print(99,");
    terminal.wait_for_last("...");
    terminal.press(&["C-c"]);
    terminal.wait_for_last("mova>");
    terminal.line("1 + 1");
    let screen = terminal.wait_for("2", |screen| Terminal::lines(screen).contains(&"2"));
    assert!(!Terminal::lines(&screen).contains(&"99"), "{screen}");

    // Ctrl-C interrupts an entry that runs forever; its changes are undone.
    terminal.line("var n = 0;");
    terminal.wait_for_last("mova>");
    terminal.line("loop { n++; }");
    // A Ctrl-C that comes before the entry runs (while it compiles) is not for it: press
    // until one interrupts it.
    let interrupted = |screen: &str| {
        // The terminal echoes the Ctrl-C as `^C` before it.
        Terminal::lines(screen)
            .iter()
            .any(|line| line.ends_with("interrupted"))
    };
    let deadline = Instant::now() + TIMEOUT;
    while !interrupted(&terminal.screen()) {
        assert!(
            Instant::now() < deadline,
            "not interrupted:\n{}",
            terminal.screen()
        );
        std::thread::sleep(Duration::from_millis(200));
        terminal.press(&["C-c"]);
    }
    terminal.wait_for_last("mova>");
    terminal.line("n + 100");
    terminal.wait_for("100", |screen| Terminal::lines(screen).contains(&"100"));
    terminal.wait_for_last("mova>");

    // Ctrl-D leaves, with status 0.
    terminal.press(&["C-d"]);
    terminal.wait_for("exit status 0", |screen| {
        Terminal::lines(screen).contains(&"exit status 0")
    });

    // The history file holds the lines typed, and only its owner may read it.
    let history = state.join("mova").join("history");
    let mode = std::fs::metadata(&history).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&history).unwrap();
    assert!(text.contains("square(7)"), "{text}");
    assert!(text.contains("loop { n++; }"), "{text}");
}

#[test]
fn history_lasts_between_sessions() {
    let state = TempDir::new("repl-tty-history");
    let Some(first) = Terminal::start("history-1", state.path()) else {
        return;
    };
    first.line("var remembered = 40 + 2;");
    first.line("remembered");
    first.wait_for("42", |screen| Terminal::lines(screen).contains(&"42"));
    first.wait_for_last("mova>");
    first.press(&["C-d"]);
    first.wait_for("exit status 0", |screen| {
        Terminal::lines(screen).contains(&"exit status 0")
    });
    drop(first);
    // The next session recalls the first one's lines (its variables are gone: a new program).
    let second = Terminal::start("history-2", state.path()).unwrap();
    second.wait_for_last("mova>");
    second.press(&["Up", "Up"]);
    second.wait_for("the first session's line", |screen| {
        Terminal::lines(screen).contains(&"mova> var remembered = 40 + 2;")
    });
    second.press(&["Enter"]);
    second.line("remembered + 1");
    second.wait_for("43", |screen| Terminal::lines(screen).contains(&"43"));
}
