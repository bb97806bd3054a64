//! The interactive shell (`movahv` with no arguments): line editing and history (rustyline),
//! completion of the command names (from the clap definition) and of pids, and the loop that
//! runs each line's command ([`commands`](crate::commands)) with the [`State`] the commands keep
//! between lines.

use crate::commands::{HvCommand, State, execute, output_closed};
use crate::{HvError, inspect};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};
use mova_compiler::report;
use mova_compiler::stdio::{self, StdoutError};
use mova_vm::runtime;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use std::io::IsTerminal;
use std::path::PathBuf;

/// A line typed in the shell.
#[derive(Debug, Parser)]
#[command(
    no_binary_name = true,
    disable_version_flag = true,
    name = "",
    about = "movahv shell: the hypervisor's commands, plus `quit`"
)]
struct ShellLine {
    #[command(subcommand)]
    command: ShellCommand,
}

#[derive(Debug, Subcommand)]
enum ShellCommand {
    #[command(flatten)]
    Hv(HvCommand),
    /// Leave the shell
    #[command(alias = "exit")]
    Quit,
}

/// Completes command names and, after them, the pids of running VMs.
struct ShellHelper {
    commands: Vec<String>,
}

/// Every name a shell line may start with, as the parser knows them: each command's name and
/// aliases, and clap's own `help`.
fn command_names() -> Vec<String> {
    let mut line = ShellLine::command();
    // Building adds the `help` subcommand.
    line.build();
    line.get_subcommands()
        .flat_map(|command| std::iter::once(command.get_name()).chain(command.get_all_aliases()))
        .map(str::to_owned)
        .collect()
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.rfind(' ').map_or(0, |i| i + 1);
        let word = &before[start..];
        let candidates: Vec<String> = if start == 0 {
            self.commands.clone()
        } else {
            runtime::runtime_dir()
                .map(|dir| {
                    // Skipped files are not warned about here: a warning would garble the line
                    // being edited (`ps` warns).
                    runtime::list(&dir)
                        .records
                        .into_iter()
                        .map(|r| r.pid.to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok((
            start,
            candidates
                .into_iter()
                .filter(|candidate| candidate.starts_with(word))
                .map(|candidate| Pair {
                    display: candidate.clone(),
                    replacement: format!("{candidate} "),
                })
                .collect(),
        ))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

/// Splits a shell line into words, honouring single and double quotes.
fn words(line: &str) -> Result<Vec<String>, HvError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(HvError::Usage("unclosed quote".into()));
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Whether clap's "error" is what was asked for: the help (`help`, `--help`, `help migrate`), or
/// the version, rather than a mistake.
fn is_answer(error: &clap::Error) -> bool {
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => true,
        ErrorKind::InvalidValue
        | ErrorKind::UnknownArgument
        | ErrorKind::InvalidSubcommand
        | ErrorKind::NoEquals
        | ErrorKind::ValueValidation
        | ErrorKind::TooManyValues
        | ErrorKind::TooFewValues
        | ErrorKind::WrongNumberOfValues
        | ErrorKind::ArgumentConflict
        | ErrorKind::MissingRequiredArgument
        | ErrorKind::MissingSubcommand
        | ErrorKind::InvalidUtf8
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        | ErrorKind::Io
        | ErrorKind::Format => false,
        // `ErrorKind` is non-exhaustive: a kind clap adds later is a mistake too.
        _ => false,
    }
}

/// Runs the interactive shell until `quit` or end of input. Returns whether every command
/// succeeded (so a script piped in can be checked), or why standard output could not be written
/// (which ends the shell).
pub fn run_shell() -> Result<bool, StdoutError> {
    let mut editor = match Editor::<ShellHelper, rustyline::history::DefaultHistory>::new() {
        Ok(editor) => editor,
        Err(error) => {
            report!("error: cannot start the shell: {error}");
            return Ok(false);
        }
    };
    editor.set_helper(Some(ShellHelper {
        commands: command_names(),
    }));
    let history = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".movahv_history"));
    if let Some(history) = &history {
        let _ = editor.load_history(history);
    }
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        stdio::print("movahv shell: `help` lists the commands, `quit` leaves\n")?;
    }
    let mut state = State::interactive();
    let mut all_ok = true;
    loop {
        let line = match editor.readline("movahv> ") {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(error) => {
                report!("error: {error}");
                all_ok = false;
                break;
            }
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let _ = editor.add_history_entry(line);
        match words(line).map(ShellLine::try_parse_from) {
            Ok(Ok(ShellLine {
                command: ShellCommand::Quit,
            })) => break,
            Ok(Ok(ShellLine {
                command: ShellCommand::Hv(command),
            })) => match execute(command, &mut state) {
                Ok(output) => stdio::print(&output)?,
                // Standard output's reader went away: nobody sees what follows.
                Err(error) if output_closed(&error) => return Err(StdoutError::Closed),
                Err(HvError::Output(error)) => return Err(error),
                Err(error) => {
                    inspect::write_diagnostics(&error);
                    report!("error: {error}");
                    all_ok = false;
                }
            },
            // `help` and `--help`: clap's rendering is the answer, not an error.
            Ok(Err(error)) if is_answer(&error) => stdio::print(&error.render().to_string())?,
            Ok(Err(error)) => {
                report!("{}", error.render().to_string().trim_end());
                all_ok = false;
            }
            Err(error) => {
                report!("error: {error}");
                all_ok = false;
            }
        }
    }
    if let Some(history) = &history {
        let _ = editor.save_history(history);
    }
    Ok(all_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_honour_quotes() {
        assert_eq!(
            words("wstate 'my file.mvs' 42").unwrap(),
            ["wstate", "my file.mvs", "42"]
        );
        assert_eq!(words("  ps   --json ").unwrap(), ["ps", "--json"]);
        assert!(words("inspect \"x").is_err());
    }

    #[test]
    fn shell_lines_parse_with_the_shared_commands() {
        let line = ShellLine::try_parse_from(["migrate", "1", "2"]).unwrap();
        assert!(matches!(
            line.command,
            ShellCommand::Hv(HvCommand::Migrate { .. })
        ));
        // `wstate TO` in the shell, `wstate FROM TO` anywhere.
        let line = ShellLine::try_parse_from(["wstate", "42"]).unwrap();
        assert!(matches!(
            line.command,
            ShellCommand::Hv(HvCommand::Wstate { from: None, ref to, .. }) if to == "42"
        ));
        let line = ShellLine::try_parse_from(["wstate", "s.mvs", "42"]).unwrap();
        assert!(matches!(
            line.command,
            ShellCommand::Hv(HvCommand::Wstate { from: Some(ref from), ref to, .. })
                if from == "s.mvs" && to == "42"
        ));
        assert!(ShellLine::try_parse_from(["wstate"]).is_err());
        let line = ShellLine::try_parse_from(["exit"]).unwrap();
        assert!(matches!(line.command, ShellCommand::Quit));
        assert!(ShellLine::try_parse_from(["frobnicate"]).is_err());
    }

    #[test]
    fn help_is_an_answer_and_a_mistake_is_not() {
        for line in [
            &["help"][..],
            &["--help"],
            &["help", "migrate"],
            &["migrate", "--help"],
        ] {
            let error = ShellLine::try_parse_from(line).unwrap_err();
            assert!(is_answer(&error), "{line:?}: {:?}", error.kind());
        }
        for line in [
            &["frobnicate"][..],
            &["migrate"],
            &["ps", "--jsn"],
            &["--version"],
        ] {
            let error = ShellLine::try_parse_from(line).unwrap_err();
            assert!(!is_answer(&error), "{line:?}: {:?}", error.kind());
        }
    }

    #[test]
    fn the_completed_names_are_the_commands_the_shell_parses() {
        let names = command_names();
        assert_eq!(
            names,
            [
                "ps",
                "record",
                "bind",
                "unbind",
                "interrupt",
                "resume",
                "rstate",
                "wstate",
                "migrate",
                "kill",
                "inspect",
                "quit",
                "exit",
                "help",
            ]
        );
        // Each is a command (perhaps missing its arguments), as a misspelt one is not.
        let known = |name: &str| {
            ShellLine::try_parse_from([name]).map_or_else(
                |error| error.kind() != ErrorKind::InvalidSubcommand,
                |_| true,
            )
        };
        assert!(!known("frobnicate"));
        for name in &names {
            assert!(known(name), "{name}");
        }
        let helper = ShellHelper { commands: names };
        let history = rustyline::history::DefaultHistory::new();
        let (start, candidates) = helper.complete("mig", 3, &Context::new(&history)).unwrap();
        assert_eq!(start, 0);
        let candidates: Vec<&str> = candidates
            .iter()
            .map(|pair| pair.replacement.as_str())
            .collect();
        assert_eq!(candidates, ["migrate "]);
    }
}
