//! The hypervisor's commands, shared by the one-shot command line and the interactive shell. The
//! shell keeps state between commands, as the seed describes: `bind` keeps a connection open, and
//! `rstate` keeps the state it read for a later `wstate`.

use crate::migrate::{self, Side};
use crate::{HvError, Target, connect, inspect, ps, record};
use clap::{Parser, Subcommand};
use mova_lang::image::Image;
use mova_vm::client::Client;
use mova_vm::runtime;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// The hypervisor's commands.
#[derive(Debug, Subcommand)]
pub enum HvCommand {
    /// List the Mova VMs on this host: pid, port, state, IP, stack depth, uptime, program
    Ps {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Connect to a VM and keep the connection for the following commands (shell)
    Bind {
        /// The VM's pid
        pid: u32,
    },
    /// Close a connection `bind` kept (shell)
    Unbind {
        /// The VM's pid
        pid: u32,
    },
    /// Pause a VM at the next instruction boundary (its output flushed)
    Interrupt {
        /// The VM: a pid, or host:port with --token
        target: String,
        /// The token of a remote VM (hex, from its runtime record)
        #[arg(long)]
        token: Option<String>,
    },
    /// Let a paused VM run on
    Resume {
        /// The VM: a pid, or host:port with --token
        target: String,
        /// The token of a remote VM
        #[arg(long)]
        token: Option<String>,
    },
    /// Read a VM's state: it stays paused (unless --leave-running); the shell keeps the state for
    /// `wstate`
    Rstate {
        /// The VM: a pid, or host:port with --token
        target: String,
        /// Write the image to FILE (`-` for standard output)
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Let the VM run on after reading its state
        #[arg(long)]
        leave_running: bool,
        /// Leave the program out of the image (it then restores only into a VM running it)
        #[arg(long)]
        no_program: bool,
        /// The token of a remote VM
        #[arg(long)]
        token: Option<String>,
    },
    /// Write a state into a VM and run it: `wstate FROM TO` (FROM a pid or an image file), or in
    /// the shell `wstate TO` with the state `rstate` kept. FROM stays paused
    Wstate {
        /// [FROM] TO
        #[arg(num_args = 1..=2, required = true, value_name = "FROM|FILE] [TO")]
        args: Vec<String>,
        /// The token of a remote target VM
        #[arg(long)]
        token: Option<String>,
    },
    /// Move a VM's running computation into another VM, losing and repeating nothing; the source
    /// stops once the target has the state
    Migrate {
        /// The source VM: a pid, or host:port with --from-token
        from: String,
        /// The target VM: a pid, or host:port with --token (e.g. a `mova serve` elsewhere)
        to: String,
        /// The token of a remote target VM
        #[arg(long)]
        token: Option<String>,
        /// The token of a remote source VM
        #[arg(long)]
        from_token: Option<String>,
        /// Print the statistics as JSON
        #[arg(long)]
        json: bool,
    },
    /// Stop a VM (it flushes its output and exits)
    Kill {
        /// The VM: a pid, or host:port with --token
        target: String,
        /// The token of a remote VM
        #[arg(long)]
        token: Option<String>,
    },
    /// Show what a saved state image holds: IP (with its instruction and source line), stack,
    /// program hash
    Inspect {
        /// The image (`.mvs`)
        file: PathBuf,
        /// The program, when the image does not carry it
        #[arg(long, value_name = "PROGRAM")]
        program: Option<PathBuf>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

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

/// What the shell keeps between commands (empty for a one-shot command).
#[derive(Debug, Default)]
pub struct State {
    bound: BTreeMap<u32, Client>,
    kept: Option<(String, Vec<u8>)>,
    interactive: bool,
}

impl State {
    /// Runs `command` against `target`, on the kept connection if there is one.
    fn with_client<T>(
        &mut self,
        target: &Target,
        token: Option<&str>,
        run: impl FnOnce(&mut Client) -> Result<T, HvError>,
    ) -> Result<T, HvError> {
        if let Target::Pid(pid) = target
            && let Some(client) = self.bound.get_mut(pid)
        {
            let result = run(client);
            if matches!(
                result,
                Err(HvError::Client(mova_vm::client::ClientError::Frame { .. }))
            ) {
                // The VM went away: forget the dead connection.
                self.bound.remove(pid);
            }
            return result;
        }
        let mut client = connect(target, token)?;
        run(&mut client)
    }
}

/// Runs one command, returning what to print.
pub fn execute(command: HvCommand, state: &mut State) -> Result<String, HvError> {
    match command {
        HvCommand::Ps { json } => {
            let entries = ps::list()?;
            Ok(if json {
                format!("{}\n", ps::to_json(&entries))
            } else {
                ps::to_table(&entries)
            })
        }
        HvCommand::Bind { pid } => {
            if !state.interactive {
                return Err(HvError::Usage(
                    "`bind` keeps a connection for later commands, which only the shell has: run `movahv` without arguments".into(),
                ));
            }
            let client = Client::to_record(&record(pid)?)?;
            let addr = client.addr();
            state.bound.insert(pid, client);
            Ok(format!("bound to {pid} at {addr}\n"))
        }
        HvCommand::Unbind { pid } => match state.bound.remove(&pid) {
            Some(_) => Ok(format!("unbound from {pid}\n")),
            None if !state.interactive => Err(HvError::Usage(
                "`unbind` closes a connection `bind` kept, which only the shell has".into(),
            )),
            None => Err(HvError::Usage(format!("not bound to {pid}"))),
        },
        HvCommand::Interrupt { target, token } => {
            let target = Target::parse(&target)?;
            state.with_client(&target, token.as_deref(), |client| Ok(client.interrupt()?))?;
            Ok(format!("interrupted {target}\n"))
        }
        HvCommand::Resume { target, token } => {
            let target = Target::parse(&target)?;
            state.with_client(&target, token.as_deref(), |client| Ok(client.resume()?))?;
            Ok(format!("resumed {target}\n"))
        }
        HvCommand::Rstate {
            target,
            output,
            leave_running,
            no_program,
            token,
        } => {
            let target = Target::parse(&target)?;
            let image = state.with_client(&target, token.as_deref(), |client| {
                save_leaving(client, !no_program, leave_running)
            })?;
            let mut said = format!(
                "read the state of {target} ({} bytes){}\n",
                image.len(),
                if leave_running {
                    "; it runs on"
                } else {
                    "; it is paused"
                }
            );
            match output.as_deref() {
                Some(path) if path == Path::new("-") => {
                    write_stdout(&image)?;
                    said.clear();
                }
                Some(path) => {
                    std::fs::write(path, &image).map_err(|source| HvError::File {
                        what: "cannot write",
                        path: path.to_owned(),
                        source,
                    })?;
                    said.push_str(&format!("saved to {}\n", path.display()));
                }
                None if state.interactive => said.push_str("kept for `wstate TO`\n"),
                None => {
                    write_stdout(&image)?;
                    said.clear();
                }
            }
            if state.interactive {
                state.kept = Some((target.to_string(), image));
            }
            Ok(said)
        }
        HvCommand::Wstate { args, token } => {
            let (from, to) = match args.as_slice() {
                [to] => match &state.kept {
                    Some((from, image)) => ((from.clone(), image.clone()), to),
                    None => {
                        return Err(HvError::Usage(
                            "no state kept: run `rstate PID` first (in the shell), or give `wstate FROM TO`".into(),
                        ));
                    }
                },
                [from, to] => (read_state(from, state)?, to),
                _ => return Err(HvError::Usage("wstate takes [FROM] TO".into())),
            };
            let target = Target::parse(to)?;
            let (label, image) = from;
            let bytes = image.len();
            state.with_client(&target, token.as_deref(), |client| {
                client.restore(image)?;
                client.resume()?;
                Ok(())
            })?;
            Ok(format!(
                "wrote the state of {label} ({bytes} bytes) into {target}; it runs\n"
            ))
        }
        HvCommand::Migrate {
            from,
            to,
            token,
            from_token,
            json,
        } => {
            // Connections of their own: a migration must not share a kept connection whose
            // closing would mean something else.
            let from = Side {
                target: Target::parse(&from)?,
                token: from_token,
            };
            if let (Target::Remote(addr), None) = (&from.target, &from.token) {
                return Err(HvError::Usage(format!(
                    "the source `{addr}` is a remote VM: give its token with --from-token"
                )));
            }
            let to = Side {
                target: Target::parse(&to)?,
                token,
            };
            let stats = migrate::migrate(&from, &to)?;
            let mut said = if json {
                format!(
                    "{}\n",
                    serde_json::json!({
                        "from": from.to_string(),
                        "to": stats.target_label,
                        "bytes": stats.bytes,
                        "downtime_ms": stats.downtime.as_secs_f64() * 1e3,
                        "total_ms": stats.total.as_secs_f64() * 1e3,
                        "notes": stats.notes,
                    })
                )
            } else {
                format!("migrated {from} → {}: {stats}\n", stats.target_label)
            };
            if !json {
                for note in &stats.notes {
                    said.push_str(&format!("note: {note}\n"));
                }
            }
            Ok(said)
        }
        HvCommand::Kill { target, token } => {
            let target = Target::parse(&target)?;
            state.with_client(&target, token.as_deref(), |client| {
                Ok(client.stop("killed by movahv")?)
            })?;
            if let Target::Pid(pid) = target {
                state.bound.remove(&pid);
            }
            Ok(format!("stopped {target}\n"))
        }
        HvCommand::Inspect {
            file,
            program,
            json,
        } => {
            let (image, size) = inspect::read(&file)?;
            let program = match program {
                Some(path) => Some(mova_compiler::driver::load_program(
                    &path,
                    &mova_compiler::driver::Options::default(),
                    &mut std::io::sink(),
                )?),
                None => None,
            };
            if let (Some(program), None) = (&program, image.program()) {
                image.check(program).map_err(|source| HvError::Image {
                    path: file.clone(),
                    source,
                })?;
            }
            Ok(if json {
                format!("{}\n", inspect::to_json(&image, size, program.as_ref()))
            } else {
                inspect::to_text(&file, &image, size, program.as_ref())
            })
        }
    }
}

/// The state `wstate FROM TO` writes: read from a VM if FROM names one, else from an image file.
fn read_state(from: &str, state: &mut State) -> Result<(String, Vec<u8>), HvError> {
    let path = Path::new(from);
    let is_vm = from.parse::<u32>().is_ok_and(|pid| record(pid).is_ok());
    if is_vm || !path.exists() {
        let target = Target::parse(from)?;
        let image = state.with_client(&target, None, |client| save_leaving(client, true, false))?;
        return Ok((from.to_owned(), image));
    }
    let (image, _) = inspect::read(path)?;
    Ok((path.display().to_string(), image.encode()))
}

/// Reads a VM's state and leaves it running or paused. The VM resumes by itself if the connection
/// closes before the answer, so a saved VM is left paused only by asking for it.
fn save_leaving(
    client: &mut Client,
    with_program: bool,
    running: bool,
) -> Result<Vec<u8>, HvError> {
    let image = client.save(with_program)?;
    if running {
        client.resume()?;
    } else {
        client.interrupt()?;
    }
    Ok(image)
}

/// Writes binary data to standard output, refusing a terminal.
fn write_stdout(bytes: &[u8]) -> Result<(), HvError> {
    let stdout = std::io::stdout();
    if stdout.is_terminal() {
        return Err(HvError::Usage(
            "refusing to write a binary image to a terminal: use -o FILE".into(),
        ));
    }
    let mut lock = stdout.lock();
    lock.write_all(bytes)
        .and_then(|()| lock.flush())
        .map_err(|source| HvError::File {
            what: "cannot write",
            path: PathBuf::from("<stdout>"),
            source,
        })
}

/// A state image, decoded: used by tests and tools that read `rstate` output.
pub fn decode_image(bytes: &[u8]) -> Result<Image, HvError> {
    Image::decode(bytes).map_err(|source| HvError::Image {
        path: PathBuf::from("<image>"),
        source,
    })
}

/// Completes command names and, after them, the pids of running VMs.
struct ShellHelper;

const COMMANDS: [&str; 13] = [
    "ps",
    "bind",
    "unbind",
    "interrupt",
    "resume",
    "rstate",
    "wstate",
    "migrate",
    "kill",
    "inspect",
    "help",
    "quit",
    "exit",
];

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
            COMMANDS.iter().map(|c| (*c).to_owned()).collect()
        } else {
            runtime::runtime_dir()
                .map(|dir| {
                    runtime::list(&dir)
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

/// Runs the interactive shell until `quit` or end of input. Returns whether every command
/// succeeded (so a script piped in can be checked).
pub fn run_shell() -> bool {
    let mut editor = match Editor::<ShellHelper, rustyline::history::DefaultHistory>::new() {
        Ok(editor) => editor,
        Err(error) => {
            eprintln!("error: cannot start the shell: {error}");
            return false;
        }
    };
    editor.set_helper(Some(ShellHelper));
    let history = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".movahv_history"));
    if let Some(history) = &history {
        let _ = editor.load_history(history);
    }
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        println!("movahv shell: `help` lists the commands, `quit` leaves");
    }
    let mut state = State {
        interactive: true,
        ..State::default()
    };
    let mut all_ok = true;
    loop {
        let line = match editor.readline("movahv> ") {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(error) => {
                eprintln!("error: {error}");
                all_ok = false;
                break;
            }
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let _ = editor.add_history_entry(line);
        let parsed = words(line).and_then(|words| {
            ShellLine::try_parse_from(words)
                .map_err(|error| HvError::Usage(error.render().to_string()))
        });
        match parsed {
            Ok(ShellLine {
                command: ShellCommand::Quit,
            }) => break,
            Ok(ShellLine {
                command: ShellCommand::Hv(command),
            }) => match execute(command, &mut state) {
                Ok(output) => print!("{output}"),
                Err(error) => {
                    eprintln!("error: {error}");
                    all_ok = false;
                }
            },
            Err(HvError::Usage(message))
                if message.starts_with("Usage") || message.contains("Commands:") =>
            {
                // `help` and `--help`: clap's rendering is the answer, not an error.
                print!("{message}");
            }
            Err(error) => {
                eprintln!("{}", error.to_string().trim_end());
                all_ok = false;
            }
        }
        let _ = std::io::stdout().flush();
    }
    if let Some(history) = &history {
        let _ = editor.save_history(history);
    }
    all_ok
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
        let line = ShellLine::try_parse_from(["exit"]).unwrap();
        assert!(matches!(line.command, ShellCommand::Quit));
        assert!(ShellLine::try_parse_from(["frobnicate"]).is_err());
    }
}
