//! `mova repl`: an interactive session of Mova.
//!
//! A session is one program written an entry at a time: each entry is top-level statements
//! (and function declarations) run once, in the state the earlier ones left. An entry that does
//! not parse as statements but does as an expression (`x * 2`, with or without a final `;`)
//! prints its value, as `print` would.
//!
//! **State.** Nothing is ever run twice. Between two top-level statements a program's stacks hold
//! exactly its top-level variables, in declaration order (`docs/language.md`, "Variables and
//! scope"), and the heap what they reach. So each entry is compiled together with the entries
//! accepted before it ([`compile_entry`]: the program a file of all of them would be), and the
//! VM is started at the first instruction of the new entry's code with the stacks and the heap
//! the last accepted entry left — through a state image, so that [`Image::check`] proves that
//! state is one the new program can be in (its stack heights at that instruction) before it
//! runs. The string constants the state refers to (the old program's) are made heap strings
//! first, so the new program's numbering of its constants does not matter. An entry that does
//! not compile, traps or is interrupted leaves the state as it was before it (the VM it ran in
//! is dropped); one that ends by `halt;` ends the session.
//!
//! **Input.** On a terminal, lines are read with rustyline (history in the user's state
//! directory, see [`history_path`]) with the prompt `mova> `, and `...   ` while the entry goes
//! on: [`syntax::incomplete`] decides, with the compiler's own lexer and layout, whether a
//! bracket or an indented label body is still open. Anything else is read line by line
//! without prompts or banner. Ctrl-C cancels the entry being typed, or interrupts the one
//! running; Ctrl-D ends the session.

use crate::heap::View;
use crate::machine::{Outcome, Trap, TrapKind, Vm};
use crate::output::Stdout;
use crate::{Interrupt, backtrace, exit};
use mova_compiler::diag::{ColorChoice, Diagnostic, Severity, render};
use mova_compiler::mova::compile::{self, TopLevel, compile_entry};
use mova_compiler::mova::errors::LangError;
use mova_compiler::mova::syntax;
use mova_compiler::stdio;
use mova_lang::heap::{Limits, Object, Ref, Target, show_string};
use mova_lang::image::{Image, State};
use rustyline::error::ReadlineError;
use rustyline::history::History as _;
use std::collections::HashMap;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The prompt of an entry's first line.
pub const PROMPT: &str = "mova> ";
/// The prompt of the lines that continue an entry.
pub const CONTINUATION: &str = "...   ";
/// The name the session's source map gives the session (what backtraces name).
const SESSION: &str = "<session>";
/// The most bytes `:vars` shows of a value.
const VARS_MAX_LEN: usize = 200;
/// The most lines the history keeps.
const HISTORY_LEN: usize = 1000;

/// What `:help` prints.
pub const HELP: &str = "\
Enter statements, function declarations or an expression (its value is printed):
    var xs = [3, 1, 2];
    fn sum(a: [int]) -> int { var s = 0; while len(a) > 0 { s += pop(a); } return s; }
    sum(xs) * 2
An entry goes on over several lines while a bracket or an indented label body is open
(a blank line ends an indented body). Variables and functions stay from entry to entry;
an entry that fails (does not compile, traps, or is interrupted) changes nothing.
Commands:
    :help          this text
    :vars          the variables, with their types and values
    :quit          leave (also :q, :exit, Ctrl-D)
Ctrl-C cancels the entry being typed, or interrupts the one running.
";

/// What an entry came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Done {
    /// It ran to its end (or had nothing to run); its state is the session's.
    Ran,
    /// It did not compile, or trapped: reported, and the state is as it was before it.
    Failed,
    /// It was interrupted (Ctrl-C): the state is as it was before it.
    Interrupted,
    /// It executed `halt;`, which ends the session.
    Halted,
    /// Standard output's reader went away: the session ends quietly.
    OutputClosed,
    /// Standard output could not be written: reported, and the session ends.
    OutputFailed,
}

/// An accepted entry's text, as compiled, and where it is in the session's source.
#[derive(Clone, Debug)]
struct Piece {
    /// Its number in the session, from 1.
    number: usize,
    /// Where its compiled form starts in the session's source.
    start: usize,
    /// The bytes of the compiled form before the text typed (`print(` for an expression).
    wrapper: usize,
    /// The text typed.
    text: String,
}

impl Piece {
    /// The name diagnostics give it.
    fn name(&self) -> String {
        format!("<entry {}>", self.number)
    }

    /// A span of the session's source as an offset range in the text typed, clamped to it.
    fn local(&self, span: &std::ops::Range<usize>) -> std::ops::Range<usize> {
        let at = |offset: usize| {
            offset
                .saturating_sub(self.start)
                .saturating_sub(self.wrapper)
                .min(self.text.len())
        };
        at(span.start)..at(span.end)
    }

    /// Whether the span starts in its compiled form (of `len` bytes), or at its end.
    fn holds(&self, span: &std::ops::Range<usize>, len: usize) -> bool {
        (self.start..=self.start + len + 1).contains(&span.start)
    }
}

/// The state the accepted entries left.
#[derive(Debug)]
struct Accepted {
    /// The VM, halted at the end of the last accepted entry.
    vm: Vm,
    /// The top-level variables.
    variables: Vec<TopLevel>,
}

/// An interactive session: the accepted entries and the state they left.
#[derive(Debug)]
pub struct Repl {
    /// The accepted entries' compiled forms, each followed by a line break.
    source: String,
    /// Where each of them is, in order.
    pieces: Vec<Piece>,
    /// The number the next entry gets.
    next: usize,
    state: Option<Accepted>,
    max_heap: usize,
    color: bool,
}

/// An entry as compiled: the form (statements, an expression printed, or a call), and its
/// program.
struct Compiled {
    piece: Piece,
    /// The compiled form.
    form: String,
    entry: compile::Entry,
}

impl Repl {
    /// An empty session whose heap may hold `max_heap` bytes; diagnostics in colour if `color`.
    pub fn new(max_heap: usize, color: bool) -> Repl {
        Repl {
            source: String::new(),
            pieces: Vec::new(),
            next: 1,
            state: None,
            max_heap,
            color,
        }
    }

    /// Runs one entry: compiles it with the earlier ones and runs its code, writing the
    /// program's output to `out` and diagnostics to standard error. `interrupt` stops it.
    pub fn entry<W: Write>(&mut self, text: &str, out: &mut W, interrupt: &Interrupt) -> Done {
        // An entry starts at the beginning of a line, so that no indented label body of an
        // earlier entry can take it in.
        let text = text.trim_start();
        if syntax::tokens(text).is_empty() {
            return Done::Ran;
        }
        let number = self.next;
        self.next += 1;
        let Some(compiled) = self.compile(text, number) else {
            return Done::Failed;
        };
        self.run(compiled, out, interrupt)
    }

    /// Compiles `text` in one of its forms, reporting its diagnostics; `None` if it does not
    /// compile.
    fn compile(&self, text: &str, number: usize) -> Option<Compiled> {
        let (_, syntax_errors) = syntax::parse(text);
        if syntax_errors.is_empty() {
            return self.compile_form(text, text.to_owned(), 0, number);
        }
        // Not statements: an expression, whose value is printed?
        let trimmed = text.trim_end();
        let expression = trimmed.strip_suffix(';').unwrap_or(trimmed).trim_end();
        // The line break keeps a final `// comment` from taking the `)`.
        let printed = format!("print({expression}\n);");
        if !expression.is_empty() && syntax::parse(&printed).1.is_empty() {
            let wrapper = "print(".len();
            match self.try_form(expression, &printed, wrapper, number) {
                Ok(compiled) => return Some(compiled),
                // A call of a function without a value (`greet(1)`): run it as a statement.
                Err(errors) if errors.iter().all(|error| error.code() == "E0018") => {
                    let statement = format!("{expression};");
                    if let Ok(compiled) = self.try_form(expression, &statement, 0, number) {
                        return Some(compiled);
                    }
                    self.report_compile(&errors, expression, wrapper, number);
                    return None;
                }
                Err(errors) => {
                    self.report_compile(&errors, expression, wrapper, number);
                    return None;
                }
            }
        }
        // Neither: a statement without its final `;` (`print(x)`, `x = 3`)?
        let statement = format!("{trimmed};");
        if syntax::parse(&statement).1.is_empty() {
            return self.compile_form(trimmed, statement, 0, number);
        }
        // Parsed on its own: the spans count from the entry's start.
        self.report_at(&syntax_errors, text, 0, 0, number);
        None
    }

    /// Compiles `form`, whose typed text is `text` after `wrapper` bytes, reporting what it says.
    fn compile_form(
        &self,
        text: &str,
        form: String,
        wrapper: usize,
        number: usize,
    ) -> Option<Compiled> {
        match self.try_form(text, &form, wrapper, number) {
            Ok(compiled) => Some(compiled),
            Err(errors) => {
                self.report_compile(&errors, text, wrapper, number);
                None
            }
        }
    }

    /// Compiles `form` after the accepted entries; reports its warnings if it compiles.
    fn try_form(
        &self,
        text: &str,
        form: &str,
        wrapper: usize,
        number: usize,
    ) -> Result<Compiled, Vec<LangError>> {
        let mut source = String::with_capacity(self.source.len() + form.len() + 1);
        source.push_str(&self.source);
        source.push_str(form);
        source.push('\n');
        let entry = compile_entry(&source, self.source.len(), Some(SESSION))?;
        let piece = Piece {
            number,
            start: self.source.len(),
            wrapper,
            text: text.to_owned(),
        };
        self.report(&entry.warnings, &piece, form.len());
        Ok(Compiled {
            piece,
            form: form.to_owned(),
            entry,
        })
    }

    /// Reports the errors of an entry whose text is `text` after `wrapper` bytes of its form,
    /// compiled after the accepted entries.
    fn report_compile(&self, errors: &[LangError], text: &str, wrapper: usize, number: usize) {
        self.report_at(errors, text, self.source.len(), wrapper, number);
    }

    /// Reports errors whose spans put the entry's form at byte `start`.
    fn report_at(
        &self,
        errors: &[LangError],
        text: &str,
        start: usize,
        wrapper: usize,
        number: usize,
    ) {
        let piece = Piece {
            number,
            start,
            wrapper,
            text: text.to_owned(),
        };
        self.report(errors, &piece, wrapper + text.len() + 1);
    }

    /// Writes diagnostics of the entry `piece` (its compiled form `len` bytes) to standard error,
    /// each against the text typed; a label elsewhere (on an earlier entry) is left out.
    fn report(&self, errors: &[LangError], piece: &Piece, len: usize) {
        for error in errors {
            let mut diagnostic = Diagnostic::from(error.clone());
            if diagnostic.span.start < piece.start {
                // Not the entry's (no accepted entries can cause one): shown in the session.
                let text = render(&[diagnostic], SESSION, &self.source, self.color);
                stdio::eprint(format_args!("{text}"));
                continue;
            }
            diagnostic.span = piece.local(&diagnostic.span);
            diagnostic.secondary = std::mem::take(&mut diagnostic.secondary)
                .into_iter()
                .filter(|(span, _)| piece.holds(span, len))
                .map(|(span, label)| (piece.local(&span), label))
                .collect();
            let text = render(&[diagnostic], &piece.name(), &piece.text, self.color);
            stdio::eprint(format_args!("{text}"));
        }
    }

    /// Runs a compiled entry from its first instruction in the session's state.
    fn run<W: Write>(&mut self, compiled: Compiled, out: &mut W, interrupt: &Interrupt) -> Done {
        let Compiled { piece, form, entry } = compiled;
        let len = form.len();
        let state = match &self.state {
            None => Ok(State {
                ip: entry.start,
                ..State::default()
            }),
            Some(accepted) => carried(&accepted.vm, entry.start),
        };
        let image = state.and_then(|state| {
            Image::of_state(&entry.program, state, false).map_err(|e| e.to_string())
        });
        let vm = image.and_then(|image| {
            Vm::from_image_with_heap_limit(entry.program.clone(), &image, self.max_heap)
                .map_err(|error| error.to_string())
        });
        let mut vm = match vm {
            Ok(vm) => vm,
            Err(error) => {
                // The compiler lays the session's variables out as the state has them; if it
                // ever did not, the image check says so here rather than running on.
                stdio::eprint(format_args!(
                    "error: internal error: the session's state does not fit entry {}: {error}\n",
                    piece.number
                ));
                return Done::Failed;
            }
        };
        interrupt.clear();
        let outcome = vm.run(out, interrupt);
        match outcome {
            Outcome::Halted if vm.frames().is_empty() && vm.ip() == entry.end => {
                self.source.push_str(&form);
                self.source.push('\n');
                self.pieces.push(piece);
                self.state = Some(Accepted {
                    vm,
                    variables: entry.variables,
                });
                Done::Ran
            }
            Outcome::Halted => Done::Halted,
            Outcome::Paused => {
                stdio::eprint(format_args!("interrupted\n"));
                Done::Interrupted
            }
            Outcome::Trapped(trap) => match &trap.kind {
                TrapKind::Output(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                    Done::OutputClosed
                }
                TrapKind::Output(error) => {
                    stdio::eprint(format_args!(
                        "error: cannot write to standard output: {error}\n"
                    ));
                    Done::OutputFailed
                }
                TrapKind::StackOverflow
                | TrapKind::CallDepth
                | TrapKind::NoCall
                | TrapKind::StackUnderflow { .. }
                | TrapKind::Arith { .. }
                | TrapKind::SlotOutOfRange { .. }
                | TrapKind::NegativeSleep { .. }
                | TrapKind::RefStackOverflow
                | TrapKind::RefStackUnderflow { .. }
                | TrapKind::RefSlotOutOfRange { .. }
                | TrapKind::IndexOutOfBounds { .. }
                | TrapKind::PopEmpty
                | TrapKind::NegativeLength { .. }
                | TrapKind::OutOfMemory { .. }
                | TrapKind::WrongKind { .. } => {
                    self.report_trap(&vm, &trap, &piece, len);
                    Done::Failed
                }
            },
        }
    }

    /// Reports a trap on the line of the entry that caused it (the running one, or the earlier
    /// one that declared the function it is in), then the backtrace for one inside a function.
    fn report_trap(&self, vm: &Vm, trap: &Trap, current: &Piece, len: usize) {
        let span = vm.program().source_map().and_then(|map| map.span(trap.ip));
        let piece = span.as_ref().and_then(|span| {
            if current.holds(span, len) {
                Some(current)
            } else {
                let at = self
                    .pieces
                    .partition_point(|piece| piece.start <= span.start);
                at.checked_sub(1).and_then(|at| self.pieces.get(at))
            }
        });
        match (span, piece) {
            (Some(span), Some(piece)) => {
                let diagnostic = Diagnostic {
                    severity: Severity::Error,
                    code: None,
                    message: trap.kind.to_string(),
                    span: piece.local(&span),
                    label: format!(
                        "trapped here, at instruction {} (`{}`)",
                        trap.ip, trap.instr
                    ),
                    secondary: Vec::new(),
                    help: None,
                };
                let text = render(&[diagnostic], &piece.name(), &piece.text, self.color);
                stdio::eprint(format_args!("{text}"));
            }
            _ => stdio::eprint(format_args!("error: {trap}\n")),
        }
        if !vm.frames().is_empty() {
            let symbols = backtrace::Symbols::of(Some(vm.program()));
            stdio::eprint(format_args!(
                "{}",
                backtrace::render(&symbols, &vm.backtrace())
            ));
        }
    }

    /// The top-level variables with their types and values, one a line (`:vars`).
    pub fn variables(&self) -> String {
        let Some(accepted) = &self.state else {
            return String::new();
        };
        let vm = &accepted.vm;
        let view = View {
            heap: vm.heap(),
            constants: vm.program().constants(),
        };
        let limits = Limits {
            max_len: VARS_MAX_LEN,
        };
        let mut out = String::new();
        for var in &accepted.variables {
            let value = if var.reference {
                vm.refs()
                    .get(var.slot)
                    .map(|value| show_string(&view, *value, true, limits))
            } else {
                vm.stack().get(var.slot).map(i64::to_string)
            };
            let value = value.unwrap_or_else(|| String::from("?"));
            out.push_str(&format!("{}: {} = {value}\n", var.name, var.ty));
        }
        out
    }
}

/// The state `vm` (halted at the end of an entry) leaves to the next entry, whose code starts at
/// `ip`: its stacks and heap, with every string constant of its program made a heap string.
fn carried(vm: &Vm, ip: u32) -> Result<State, String> {
    let image = vm.save(false).map_err(|error| error.to_string())?;
    let Image {
        stack,
        mut refs,
        mut heap,
        ..
    } = image;
    let constants = vm.program().constants();
    let mut made: HashMap<u32, Ref> = HashMap::new();
    let mut extra: Vec<Object> = Vec::new();
    let base = heap.len();
    let mut own = |value: &mut Ref| -> Result<(), String> {
        let Target::Constant(index) = value.target() else {
            return Ok(());
        };
        if let Some(made) = made.get(&index) {
            *value = *made;
            return Ok(());
        }
        let bytes = constants
            .get(index as usize)
            .ok_or_else(|| format!("string constant {index} is not the program's"))?;
        let object = u32::try_from(base + extra.len())
            .ok()
            .filter(|&object| object < mova_lang::heap::MAX_OBJECTS)
            .ok_or_else(|| String::from("too many heap objects"))?;
        extra.push(Object::Str(bytes.clone()));
        *value = Ref::object(object);
        made.insert(index, *value);
        Ok(())
    };
    for value in &mut refs {
        own(value)?;
    }
    for object in &mut heap {
        if let Object::Refs(values) = object {
            for value in values {
                own(value)?;
            }
        }
    }
    heap.extend(extra);
    Ok(State {
        ip,
        stack,
        frames: Vec::new(),
        refs,
        heap,
        sleep_left_ms: None,
    })
}

/// Where the history is kept: `$XDG_STATE_HOME/mova/history` (when that is an absolute path),
/// else `~/.local/state/mova/history`; `None` without either variable.
pub fn history_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|home| !home.as_os_str().is_empty())
                .map(|home| home.join(".local").join("state"))
        })?;
    Some(state.join("mova").join("history"))
}

/// Makes sure the history file exists, readable and writable by its owner only (its directory
/// too, if it makes it).
fn prepare_history(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

/// Where lines come from: the line editor on a terminal, else standard input as it is.
enum Input {
    Editor {
        editor: Box<rustyline::DefaultEditor>,
        history: Option<PathBuf>,
        /// Whether writing the history failed once (it is said once).
        warned: bool,
    },
    Plain(io::StdinLock<'static>),
}

/// A line read, or why there is none.
enum Line {
    Text(String),
    /// Ctrl-C while typing.
    Cancelled,
    End,
}

impl Input {
    fn read(&mut self, prompt: &str) -> Line {
        match self {
            Input::Editor { editor, .. } => match editor.readline(prompt) {
                Ok(line) => Line::Text(line),
                Err(ReadlineError::Interrupted) => Line::Cancelled,
                Err(ReadlineError::Eof) => Line::End,
                Err(error) => {
                    stdio::eprint(format_args!("error: cannot read a line: {error}\n"));
                    Line::End
                }
            },
            Input::Plain(stdin) => {
                let mut line = String::new();
                match stdin.read_line(&mut line) {
                    Ok(0) => Line::End,
                    Ok(_) => {
                        if line.ends_with('\n') {
                            line.pop();
                            if line.ends_with('\r') {
                                line.pop();
                            }
                        }
                        Line::Text(line)
                    }
                    Err(error) => {
                        stdio::eprint(format_args!("error: cannot read standard input: {error}\n"));
                        Line::End
                    }
                }
            }
        }
    }

    /// Adds a line to the history (and its file).
    fn remember(&mut self, line: &str) {
        let Input::Editor {
            editor,
            history,
            warned,
        } = self
        else {
            return;
        };
        if line.trim().is_empty() || editor.add_history_entry(line).ok() != Some(true) {
            return;
        }
        if let Some(path) = history
            && let Err(error) = editor.append_history(path)
            && !*warned
        {
            *warned = true;
            stdio::eprint(format_args!(
                "warning: cannot write the history to `{}`: {error}\n",
                path.display()
            ));
        }
    }
}

/// The line editor, with the history loaded (a failure is a warning).
fn editor() -> Result<Input, String> {
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|error| format!("cannot start the editor: {error}"))?;
    let _ = editor.history_mut().set_max_len(HISTORY_LEN);
    let _ = editor.history_mut().ignore_dups(true);
    let history = match history_path() {
        Some(path) => match prepare_history(&path)
            .map_err(|error| error.to_string())
            .and_then(|()| {
                editor
                    .load_history(&path)
                    .map_err(|error| error.to_string())
            }) {
            Ok(()) => Some(path),
            Err(error) => {
                stdio::eprint(format_args!(
                    "warning: no history: cannot use `{}`: {error}\n",
                    path.display()
                ));
                None
            }
        },
        None => {
            stdio::eprint(format_args!(
                "warning: no history: neither XDG_STATE_HOME nor HOME is set\n"
            ));
            None
        }
    };
    Ok(Input::Editor {
        editor: Box::new(editor),
        history,
        warned: false,
    })
}

/// A `:` command, run; `false` if it ends the session. `ok` is cleared by an unknown one.
fn command(line: &str, repl: &Repl, ok: &mut bool) -> Result<bool, stdio::StdoutError> {
    match line.trim() {
        ":help" | ":h" | ":?" => stdio::print(HELP)?,
        ":vars" | ":v" => stdio::print(&repl.variables())?,
        ":quit" | ":q" | ":exit" => return Ok(false),
        other => {
            *ok = false;
            stdio::eprint(format_args!(
                "error: unknown command `{other}`: `:help` lists the commands\n"
            ));
        }
    }
    Ok(true)
}

/// Runs `mova repl` until the end of input, `:quit` or `halt;`; returns the exit status: 0, or
/// when standard input is not a terminal, 1 if an entry failed (130 if one was interrupted).
pub fn run(max_heap: usize, color: ColorChoice) -> u8 {
    let interactive = io::stdin().is_terminal();
    let interrupt = Interrupt::new();
    let running = Arc::new(AtomicBool::new(false));
    if let Err(error) = watch_interrupts(&interrupt, &running, interactive) {
        stdio::eprint(format_args!(
            "error: cannot install signal handlers: {error}\n"
        ));
        return exit::CONTROL_FAILED;
    }
    let mut input = if interactive {
        match editor() {
            Ok(input) => input,
            Err(error) => {
                stdio::eprint(format_args!("error: {error}\n"));
                return exit::LOAD_FAILED;
            }
        }
    } else {
        Input::Plain(io::stdin().lock())
    };
    if interactive
        && let Err(error) = stdio::print(&format!(
            "mova {} repl: `:help` for help, Ctrl-D to leave\n",
            env!("CARGO_PKG_VERSION")
        ))
    {
        return error.report(exit::OUTPUT_FAILED);
    }
    let mut repl = Repl::new(max_heap, color.for_stderr());
    let mut ok = true;
    let mut lines: Vec<String> = Vec::new();
    let mut ended = false;
    while !ended {
        let prompt = if lines.is_empty() {
            PROMPT
        } else {
            CONTINUATION
        };
        let text = match input.read(prompt) {
            Line::Text(line) => {
                input.remember(&line);
                if lines.is_empty() && line.trim_start().starts_with(':') {
                    match command(&line, &repl, &mut ok) {
                        Ok(true) => continue,
                        Ok(false) => break,
                        Err(error) => return error.report(exit::OUTPUT_FAILED),
                    }
                }
                lines.push(line);
                let text = lines.join("\n");
                if syntax::incomplete(&text) {
                    continue;
                }
                lines.clear();
                text
            }
            Line::Cancelled => {
                lines.clear();
                continue;
            }
            Line::End => {
                // Input that ends inside an entry is an entry (its unclosed bracket is reported),
                // unless a person left it by Ctrl-D.
                if lines.is_empty() || interactive {
                    break;
                }
                ended = true;
                std::mem::take(&mut lines).join("\n")
            }
        };
        let mut out = Stdout::new();
        running.store(true, Ordering::SeqCst);
        let done = repl.entry(&text, &mut out, &interrupt);
        running.store(false, Ordering::SeqCst);
        drop(out);
        match done {
            Done::Ran => {}
            Done::Failed => ok = false,
            Done::Interrupted if interactive => {}
            Done::Interrupted => return exit::SIGNAL_BASE + 2,
            Done::Halted | Done::OutputClosed => break,
            Done::OutputFailed => return exit::OUTPUT_FAILED,
        }
    }
    if ok || interactive {
        exit::HALTED
    } else {
        exit::TRAPPED
    }
}

/// Ctrl-C (SIGINT) interrupts the entry running, if one is; otherwise it ends a session that
/// is not interactive (a person at a terminal cancels a line through the editor instead).
fn watch_interrupts(
    interrupt: &Interrupt,
    running: &Arc<AtomicBool>,
    interactive: bool,
) -> io::Result<()> {
    use signal_hook::consts::SIGINT;
    let mut signals = signal_hook::iterator::Signals::new([SIGINT])?;
    let interrupt = interrupt.clone();
    let running = Arc::clone(running);
    std::thread::Builder::new()
        .name("interrupts".into())
        .spawn(move || {
            for number in signals.forever() {
                if running.load(Ordering::SeqCst) {
                    interrupt.request();
                } else if !interactive {
                    std::process::exit(i32::from(exit::SIGNAL_BASE) + number);
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs entries in one session; returns the output and what each came to.
    fn session(entries: &[&str]) -> (String, Vec<Done>) {
        let mut repl = Repl::new(mova_lang::heap::MAX_HEAP, false);
        let mut out = Vec::new();
        let interrupt = Interrupt::new();
        let done = entries
            .iter()
            .map(|entry| repl.entry(entry, &mut out, &interrupt))
            .collect();
        (String::from_utf8(out).unwrap(), done)
    }

    #[test]
    fn state_lasts_and_nothing_runs_twice() {
        let (out, done) = session(&[
            "var x = 2;",
            "print(\"once\");",
            "var s = \"ab\";\nvar xs = [1, 2];\nvar ys = xs;",
            "fn twice(n: int) -> int { return 2 * n; }",
            "push(ys, 3);",
            "s += \"c\";",
            "print(x, s, xs, twice(x));",
            "x * 21",
            "s",
        ]);
        assert_eq!(out, "once\n2 abc [1, 2, 3] 4\n42\nabc\n");
        assert!(done.iter().all(|done| *done == Done::Ran), "{done:?}");
    }

    #[test]
    fn a_failed_entry_changes_nothing() {
        let (out, done) = session(&[
            "var xs = [1];",
            "push(xs, 2); print(xs); print(1 / (len(xs) - 2));",
            "xs = 3;",
            "var x = 1; print(nope);",
            "print(xs);",
            "var x = 5;",
            "x",
        ]);
        assert_eq!(out, "[1, 2]\n[1]\n5\n");
        use Done::{Failed, Ran};
        assert_eq!(done, [Ran, Failed, Failed, Failed, Ran, Ran, Ran]);
    }

    #[test]
    fn constants_travel_inside_arrays_and_functions_see_them() {
        let (out, _) = session(&[
            "var names = [\"a\", \"b\"];",
            "fn first(xs: [str]) -> str { return xs[0] + \"!\"; }",
            "var f = first(names);",
            "print(\"z\", f, names);",
            "f",
            "names[1]",
        ]);
        assert_eq!(out, "z a! [\"a\", \"b\"]\na!\nb\n");
    }

    #[test]
    fn calls_without_a_value_and_halt() {
        let (out, done) = session(&[
            "fn greet(n: int) { print(n); }",
            "greet(7)",
            "greet(8);",
            "halt;",
        ]);
        assert_eq!(out, "7\n8\n");
        assert_eq!(done.last(), Some(&Done::Halted));
    }

    #[test]
    fn variables_lists_types_and_values() {
        let mut repl = Repl::new(mova_lang::heap::MAX_HEAP, false);
        let interrupt = Interrupt::new();
        let mut out = Vec::new();
        for entry in ["var n = 3;", "var s = \"hi\";", "var m = [[1], []];"] {
            assert_eq!(repl.entry(entry, &mut out, &interrupt), Done::Ran);
        }
        assert_eq!(
            repl.variables(),
            "n: int = 3\ns: str = \"hi\"\nm: [[int]] = [[1], []]\n"
        );
    }

    #[test]
    fn an_interrupted_entry_changes_nothing() {
        let mut repl = Repl::new(mova_lang::heap::MAX_HEAP, false);
        let interrupt = Interrupt::new();
        let mut out = Vec::new();
        assert_eq!(repl.entry("var n = 0;", &mut out, &interrupt), Done::Ran);
        let stop = interrupt.clone();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            stop.request();
        });
        assert_eq!(
            repl.entry("loop { n++; }", &mut out, &interrupt),
            Done::Interrupted
        );
        stopper.join().unwrap();
        assert_eq!(repl.entry("n", &mut out, &interrupt), Done::Ran);
        assert_eq!(String::from_utf8(out).unwrap(), "0\n");
    }
}
