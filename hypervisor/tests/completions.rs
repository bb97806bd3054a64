//! Shell completions and manual pages of all three binaries, as a user gets them: each script is
//! loaded by the real shell, which is then asked to complete (bash through its completion
//! function, fish through `complete -C`, zsh interactively in a pseudo-terminal through `zpty`),
//! and each page is rendered by `man`. A shell that is not installed is skipped with a message
//! (`.ci/run` installs zsh and fish).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mova_testkit::{TIMEOUT, TempDir};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// A binary of the workspace: `movahv` is this package's, `mova` and `movac` lie beside it in
/// `target/<profile>/` (built by `cargo test --workspace`, or `cargo build`).
fn binary(name: &str) -> PathBuf {
    let movahv = PathBuf::from(env!("CARGO_BIN_EXE_movahv"));
    let path = movahv.with_file_name(name);
    assert!(
        path.is_file(),
        "`{name}` is not at {}: build it first with `cargo build --workspace`",
        path.display()
    );
    path
}

/// Runs `command` to its end within the test timeout (killed after it), with nothing on
/// standard input, its outputs read as it writes them.
fn run(command: &mut Command) -> Output {
    let mut command = std::mem::replace(command, Command::new("true"));
    command.stdin(Stdio::null());
    assert_cmd::Command::from_std(command)
        .timeout(TIMEOUT * 3)
        .output()
        .unwrap()
}

/// What `BINARY ARGS…` prints, checking that it succeeds.
fn stdout_of(name: &str, args: &[&str]) -> String {
    let output = run(Command::new(binary(name)).args(args));
    assert!(
        output.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Whether `program` can be run (it is on the `PATH`).
fn installed(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        eprintln!("note: {program} is not installed; skipping its part of this test");
    }
    found
}

/// The `PATH` with the workspace's binaries first, so that shells find them by name.
fn path_with_binaries() -> String {
    let dir = binary("movac").parent().unwrap().to_owned();
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{}:{path}", dir.display())
}

/// Writes `BINARY completions SHELL` into `dir` as the file `name`, and returns its path.
fn script(dir: &TempDir, binary_name: &str, shell: &str, name: &str) -> PathBuf {
    let text = stdout_of(binary_name, &["completions", shell]);
    assert!(!text.is_empty(), "{binary_name} completions {shell}");
    dir.write(name, text)
}

/// What bash's completion function registered for the line's command offers for `line` (the
/// cursor at its end), one candidate a line, as `COMPREPLY` holds them after a TAB.
fn bash_complete(dir: &TempDir, line: &str) -> Vec<String> {
    let command = line.split_whitespace().next().unwrap();
    let script = script(dir, command, "bash", &format!("{command}.bash"));
    let driver = r#"
        source "$1"
        line="$2"
        read -ra COMP_WORDS <<< "$line"
        [[ "$line" == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        COMP_LINE="$line"
        COMP_POINT=${#line}
        spec=$(complete -p "${COMP_WORDS[0]}")
        function=${spec##*-F }
        function=${function%% *}
        COMPREPLY=()
        "$function" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let output = run(Command::new("bash")
        .args(["--norc", "--noprofile", "-c", driver, "bash"])
        .arg(&script)
        .arg(line)
        .current_dir(dir.path())
        .env("PATH", path_with_binaries()));
    assert!(
        output.status.success(),
        "{line:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_commands_and_options_of_each_binary() {
    if !installed("bash") {
        return;
    }
    let dir = TempDir::new("completions-bash");
    assert_eq!(bash_complete(&dir, "movac ch"), ["check"]);
    assert_eq!(bash_complete(&dir, "mova se"), ["serve"]);
    assert_eq!(bash_complete(&dir, "movahv mi"), ["migrate"]);
    let options = bash_complete(&dir, "mova --");
    for option in ["--restore", "--paused", "--max-heap", "--port"] {
        assert!(options.iter().any(|o| o == option), "{option}: {options:?}");
    }
    assert_eq!(bash_complete(&dir, "movac check --e"), ["--error-format"]);
    let shells = bash_complete(&dir, "movahv completions ");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        assert!(shells.iter().any(|s| s == shell), "{shell}: {shells:?}");
    }
    let pages = bash_complete(&dir, "movac man ");
    for page in ["check", "dis", "completions", "man"] {
        assert!(pages.iter().any(|p| p == page), "{page}: {pages:?}");
    }
}

#[test]
fn fish_completes_commands_and_options_of_each_binary() {
    if !installed("fish") {
        return;
    }
    let dir = TempDir::new("completions-fish");
    for name in ["movac", "mova", "movahv"] {
        script(&dir, name, "fish", &format!("{name}.fish"));
    }
    let complete = |line: &str| -> Vec<String> {
        let command = line.split_whitespace().next().unwrap();
        let output = run(Command::new("fish")
            .args(["--no-config", "-c"])
            .arg(format!("source {command}.fish; complete -C '{line}'"))
            .current_dir(dir.path())
            .env("PATH", path_with_binaries()));
        assert!(
            output.status.success(),
            "{line:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // Each candidate, then a tab and its description.
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(complete("movac ch"), ["check"]);
    assert_eq!(complete("movahv mi"), ["migrate"]);
    assert!(complete("mova --").iter().any(|o| o == "--restore"));
    assert!(complete("mova serve --").iter().any(|o| o == "--max-heap"));
    assert!(
        complete("movac completions ")
            .iter()
            .any(|s| s == "powershell")
    );
}

#[test]
fn zsh_completes_commands_files_and_options_in_a_terminal() {
    if !installed("zsh") {
        return;
    }
    let dir = TempDir::new("completions-zsh");
    let functions = dir.join("functions");
    std::fs::create_dir(&functions).unwrap();
    for name in ["movac", "mova", "movahv"] {
        let text = stdout_of(name, &["completions", "zsh"]);
        assert!(text.starts_with(&format!("#compdef {name}\n")), "{name}");
        std::fs::write(functions.join(format!("_{name}")), text).unwrap();
    }
    dir.write("example.mova", "print(1);\n");
    // An interactive zsh in a pseudo-terminal: each line is typed with a TAB after it, and what
    // the terminal shows then is printed after a marker. `compinit -D` loads the functions from
    // `fpath` without a dump file.
    let lines = [
        "movac ch",
        "movac ex",
        "movac check --e",
        "mova --res",
        "movahv mig",
        "movac completions ",
    ];
    let mut typed = String::new();
    for line in lines {
        typed.push_str(&format!(
            "zpty -w -n z $'\\x15'{line:?}$'\\t'\ndrain\nprint -r -- \"<<{line}>>$out<<end>>\"\n"
        ));
    }
    let driver = format!(
        r#"
zmodload zsh/zpty
# What the terminal shows until it has been quiet for a second.
drain() {{
    local chunk idle=0
    out=
    while (( idle < 10 )); do
        if zpty -r -t z chunk; then out+=$chunk; idle=0; else sleep 0.1; (( idle++ )); fi
    done
}}
zpty z zsh -f -i
zpty -w z "PS1='> '; fpath=({functions} \$fpath); autoload -Uz compinit; compinit -u -D; print RE''ADY"
zpty -r z out '*READY*'
drain
{typed}
zpty -d z
"#,
        functions = functions.display()
    );
    let output = run(Command::new("zsh")
        .args(["-f", "-c", &driver])
        .current_dir(dir.path())
        .env("PATH", path_with_binaries()));
    let shown = String::from_utf8_lossy(&output.stdout);
    let screen = |line: &str| -> String {
        let start = shown
            .find(&format!("<<{line}>>"))
            .unwrap_or_else(|| panic!("no screen for {line:?}: {shown}"));
        let rest = &shown[start..];
        rest[..rest.find("<<end>>").unwrap()].to_owned()
    };
    assert!(screen("movac ch").contains("movac check"), "{shown}");
    assert!(screen("movac ex").contains("movac example.mova"), "{shown}");
    assert!(screen("movac check --e").contains("movac check --error-format"));
    assert!(screen("mova --res").contains("mova --restore"), "{shown}");
    assert!(screen("movahv mig").contains("movahv migrate"), "{shown}");
    let shells = screen("movac completions ");
    for shell in ["bash", "elvish", "fish", "powershell", "zsh"] {
        assert!(shells.contains(shell), "{shell}: {shells}");
    }
}

#[test]
fn elvish_and_powershell_scripts_name_every_command() {
    for (name, commands) in [
        ("movac", &["check", "dis", "completions", "man"][..]),
        ("mova", &["serve", "completions", "man"][..]),
        (
            "movahv",
            &["ps", "migrate", "inspect", "completions", "man"][..],
        ),
    ] {
        for shell in ["elvish", "powershell"] {
            let text = stdout_of(name, &["completions", shell]);
            for command in commands {
                // `cand check '…'` in elvish, `CompletionResult]::new('check', …` in PowerShell.
                assert!(
                    text.contains(&format!("cand {command} "))
                        || text.contains(&format!("::new('{command}'")),
                    "{name} completions {shell} lacks {command}"
                );
            }
        }
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    for name in ["movac", "mova", "movahv"] {
        let output = run(Command::new(binary(name)).args(["completions", "tcsh"]));
        assert_eq!(output.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("invalid value 'tcsh'"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}

/// A page rendered by `man` as plain text (no bold, no hyphenation), or `None` without `man`.
fn rendered(roff: &str, dir: &TempDir) -> Option<String> {
    if !installed("man") {
        return None;
    }
    let page = dir.write("page.1", roff);
    let output = run(Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANWIDTH", "200")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MAN_KEEP_FORMATTING", ""));
    assert!(
        output.status.success(),
        "man -l: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn each_binary_and_command_has_a_manual_page_that_man_renders() {
    let dir = TempDir::new("man");
    for (name, commands, option) in [
        (
            "movac",
            &["check", "dis", "completions", "man"][..],
            "--emit",
        ),
        ("mova", &["serve", "completions", "man"][..], "--restore"),
        (
            "movahv",
            &["ps", "migrate", "inspect", "completions", "man"][..],
            "--version",
        ),
    ] {
        let page = stdout_of(name, &["man"]);
        assert!(page.contains(&format!(".TH {name} 1 ")), "{page}");
        for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
            assert!(page.contains(section), "{name}: {section}");
        }
        assert!(
            page.contains(&option.replace('-', "\\-")),
            "{name}: {option}"
        );
        if let Some(text) = rendered(&page, &dir) {
            assert!(text.contains("NAME"), "{text}");
            assert!(text.contains(&format!("{name} - The Mova")), "{text}");
            assert!(text.contains(option), "{name}: {option} in {text}");
            assert!(
                text.contains(&format!("{name}-{}(1)", commands[0])),
                "{text}"
            );
        }
        for command in commands {
            let page = stdout_of(name, &["man", command]);
            let title = format!("{name}-{command}");
            assert!(page.contains(&format!(".TH {title} 1 ")), "{page}");
            if let Some(text) = rendered(&page, &dir) {
                assert!(text.contains(&format!("{title} - ")), "{text}");
                assert!(text.contains(&format!("{name} 0.")), "the version: {text}");
            }
        }
    }
}

#[test]
fn a_page_for_no_command_is_a_usage_error_naming_the_pages() {
    let output = run(Command::new(binary("movac")).args(["man", "frobnicate"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "error: `frobnicate` is not a command of `movac`; there are pages for `movac` and \
             for its commands: check, fmt, dis, lsp, completions, man\n"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("Usage: movac man"), "{stderr}");
}

#[test]
fn the_positional_file_still_comes_first_when_it_is_no_command() {
    let dir = TempDir::new("completions-positional");
    let source = dir.write("man.mova", "print(42);\n");
    let output = run(Command::new(binary("mova")).arg(&source));
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "42\n");
    let output = run(Command::new(binary("movac")).arg("check").arg(&source));
    assert!(output.status.success());
    // A word next to a command's name is suggested it, as before.
    let output = run(Command::new(binary("movac")).arg("completion"));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("did you mean `completions`?"), "{stderr}");
}
