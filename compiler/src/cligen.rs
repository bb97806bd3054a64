//! What every binary generates from its own clap definition: shell completion scripts
//! (`clap_complete`) and manual pages (`clap_mangen`). `movac`, `mova` and `movahv` each flatten
//! [`Generate`] into their subcommands and hand it to [`run`] with their [`clap::Command`], so the
//! scripts and pages always describe the command line as it is, new subcommands included.

use crate::stdio;
use clap::error::ErrorKind;
use clap::{Args, Command, Subcommand};

pub use clap_complete::Shell;

/// The subcommands that generate text from the binary's command line.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum Generate {
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish or powershell)
    Completions(CompletionsArgs),
    /// Print the manual page (roff), the top-level one or COMMAND's
    Man(ManArgs),
}

/// `BINARY completions SHELL`.
#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct CompletionsArgs {
    /// The shell to write the script for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// `BINARY man [COMMAND]`.
#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct ManArgs {
    /// The command whose page to print [default: the binary's own page]
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

/// The completion script of `command` for `shell`, completing the binary named as `command` is.
pub fn completions(command: Command, shell: Shell) -> Vec<u8> {
    // zsh's script completes a top-level positional argument (`movac FILE`) at the first word and
    // the subcommands only after it, so it would never complete `movac ch` to `check`: for zsh a
    // binary that has both gets its script from the command without the positional arguments,
    // and its first word completes as a subcommand or as a file.
    let files_or_commands = shell == Shell::Zsh
        && command.has_subcommands()
        && command.get_positionals().next().is_some();
    let command = with_page_names(command);
    let mut command = if files_or_commands {
        without_positionals(&command)
    } else {
        command
    };
    let name = command.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name.as_str(), &mut script);
    if files_or_commands {
        let script = String::from_utf8_lossy(&script);
        return files_beside_commands(&script, &name).into_bytes();
    }
    if shell == Shell::Fish {
        script.extend_from_slice(fish_positional_values(&command).as_bytes());
    }
    script
}

/// The fish completions of the values of the subcommands' positional arguments
/// (`completions SHELL`, `man COMMAND`), which fish's generated script leaves out: it
/// completes only options' values.
fn fish_positional_values(command: &Command) -> String {
    let binary = command.get_name();
    let mut lines = String::new();
    for sub in command.get_subcommands() {
        for arg in sub.get_positionals() {
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|value| !value.is_hide_set())
                .map(|value| value.get_name().to_owned())
                .collect();
            if !values.is_empty() {
                lines.push_str(&format!(
                    "complete -c {binary} -n \"__fish_{binary}_using_subcommand {}\" -f -a \"{}\"\n",
                    sub.get_name(),
                    values.join(" ")
                ));
            }
        }
    }
    lines
}

/// `command` whose `man COMMAND` completes the names of the pages there are: its subcommands'.
fn with_page_names(command: Command) -> Command {
    let names: Vec<String> = command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .map(|sub| sub.get_name().to_owned())
        .collect();
    command.mut_subcommands(|sub| {
        let is_man =
            sub.get_name() == "man" && sub.get_arguments().any(|arg| arg.get_id() == "command");
        if !is_man {
            return sub;
        }
        sub.mut_arg("command", |arg| {
            arg.value_parser(clap::builder::PossibleValuesParser::new(names.clone()))
        })
    })
}

/// `command` without its own positional arguments: its name, about text, version, options and
/// subcommands.
fn without_positionals(command: &Command) -> Command {
    let mut bare = Command::new(command.get_name().to_owned())
        .args(
            command
                .get_arguments()
                .filter(|arg| !arg.is_positional())
                .cloned(),
        )
        .subcommands(command.get_subcommands().cloned());
    if let Some(about) = command.get_about() {
        bare = bare.about(about.clone());
    }
    if let Some(version) = command.get_version() {
        bare = bare.version(version.to_owned());
    }
    bare
}

/// The zsh `script` of `binary`, whose function completing the first word's subcommands
/// completes files too.
fn files_beside_commands(script: &str, binary: &str) -> String {
    let describe = format!("_describe -t commands '{binary} commands' commands \"$@\"\n");
    // Only the top-level function: the subcommands' functions are named `{binary} COMMAND`.
    script.replacen(&describe, &format!("{describe}    _files\n"), 1)
}

/// The manual page of `command` (section 1), or of its subcommand `subcommand`, as roff. A name
/// that is no subcommand is a usage error naming those there are.
pub fn man(command: Command, subcommand: Option<&str>) -> Result<Vec<u8>, clap::Error> {
    // Built, the subcommands are named `BINARY-COMMAND`, as their pages are; `help` is no page.
    let mut command = command.disable_help_subcommand(true);
    command.build();
    // Every page's footer names the binary and its version, subcommands' too.
    let source = match command.get_version() {
        Some(version) => format!("{} {version}", command.get_name()),
        None => command.get_name().to_owned(),
    };
    let page = match subcommand {
        None => command,
        Some(name) => match command.find_subcommand(name) {
            Some(sub) if !sub.is_hide_set() => sub.clone(),
            Some(_) | None => return Err(no_such_page(&mut command, name)),
        },
    };
    let mut roff = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = clap_mangen::Man::new(page).source(source).render(&mut roff);
    Ok(roff)
}

/// The usage error for `BINARY man NAME` when `NAME` is no command: it names the pages there
/// are, under the usage of `man`.
fn no_such_page(command: &mut Command, name: &str) -> clap::Error {
    let binary = command.get_name().to_owned();
    let names: Vec<String> = command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .map(|sub| sub.get_name().to_owned())
        .collect();
    let message = format!(
        "`{name}` is not a command of `{binary}`; there are pages for `{binary}` and for its \
         commands: {}",
        names.join(", ")
    );
    match command.find_subcommand_mut("man") {
        Some(man) => man.error(ErrorKind::InvalidValue, message),
        None => command.error(ErrorKind::InvalidValue, message),
    }
}

/// Runs a [`Generate`] subcommand of `command`'s binary: writes the script or the page to standard
/// output and returns the status to end with: 0, clap's usage status (2) for a page that does not
/// exist, or `failure` when standard output cannot be written.
pub fn run(generate: &Generate, command: Command, failure: u8) -> u8 {
    let text = match generate {
        Generate::Completions(args) => completions(command, args.shell),
        Generate::Man(args) => match man(command, args.command.as_deref()) {
            Ok(roff) => roff,
            Err(error) => return stdio::parse_error(&error, failure),
        },
    };
    match stdio::write(&text) {
        Ok(()) => 0,
        Err(error) => error.report(failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Arg;

    /// A binary shaped like `movac`: a positional file at the top level, and subcommands.
    fn binary() -> Command {
        Command::new("tool")
            .version("1.2.3")
            .about("A tool")
            .args_conflicts_with_subcommands(true)
            .arg(Arg::new("input").value_name("INPUT").required(true))
            .arg(Arg::new("loud").long("loud").help("Shout"))
            .subcommand(Command::new("check").about("Check it"))
            .subcommand(Command::new("secret").hide(true))
            .subcommands(
                Generate::augment_subcommands(Command::new("x"))
                    .get_subcommands()
                    .cloned(),
            )
    }

    #[test]
    fn every_shell_gets_a_script_naming_the_commands() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let script = String::from_utf8(completions(binary(), shell)).unwrap();
            for word in ["check", "completions", "man", "loud"] {
                assert!(script.contains(word), "{shell}: {word}");
            }
        }
    }

    #[test]
    fn zsh_completes_files_beside_the_commands_at_the_first_word() {
        let script = String::from_utf8(completions(binary(), Shell::Zsh)).unwrap();
        assert!(
            script.contains("_describe -t commands 'tool commands' commands \"$@\"\n    _files\n"),
            "{script}"
        );
        // The positional is gone from the top level, so the subcommand is the first word.
        assert!(!script.contains(":input"), "{script}");
        assert!(script.contains("case $line[1] in"), "{script}");
    }

    #[test]
    fn fish_completes_the_values_of_positional_arguments() {
        let script = String::from_utf8(completions(binary(), Shell::Fish)).unwrap();
        assert!(script.ends_with(
            "complete -c tool -n \"__fish_tool_using_subcommand completions\" -f -a \"bash elvish fish powershell zsh\"\n\
             complete -c tool -n \"__fish_tool_using_subcommand man\" -f -a \"check completions man\"\n"
        ), "{script}");
    }

    #[test]
    fn the_pages_are_the_binarys_and_its_visible_commands() {
        let page = String::from_utf8(man(binary(), None).unwrap()).unwrap();
        assert!(page.contains(".TH tool 1  \"tool 1.2.3\""), "{page}");
        assert!(page.contains("\\-\\-loud"), "{page}");
        let page = String::from_utf8(man(binary(), Some("check")).unwrap()).unwrap();
        assert!(page.contains(".TH tool-check 1  \"tool 1.2.3\""), "{page}");
        for missing in ["secret", "help", "nothing"] {
            let error = man(binary(), Some(missing)).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidValue);
            assert!(
                error.to_string().starts_with(&format!(
                    "error: `{missing}` is not a command of `tool`; there are pages for `tool` \
                     and for its commands: check, completions, man\n"
                )),
                "{error}"
            );
        }
    }
}
