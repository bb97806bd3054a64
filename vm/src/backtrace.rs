//! Backtraces for people: where a program is, innermost call first, each frame named by its
//! function and placed on its source line when the program says so. `mova` prints one under a
//! trap inside a function; `movahv inspect` shows one for a saved image.
//!
//! A backtrace is a list of [`TraceEntry`] (from [`Vm::backtrace`](crate::Vm::backtrace), or
//! [`trace`] for an image's frames). What the program knows about its code — the debug info's
//! names and locals, the source map's lines — is looked up once, in [`Symbols`]. Deep recursion
//! (up to [`MAX_CALL_DEPTH`](mova_lang::func::MAX_CALL_DEPTH) frames) never takes a line per
//! frame ([`rows`]): a run of identical frames shows its first three and counts the rest, as
//! Python does, and what is still longer shows its [`SHOWN_INNER`] innermost and
//! [`SHOWN_OUTER`] outermost rows around one line that counts the frames left out, by function
//! ([`elided`]).
//!
//! Every text taken from the program (function and file names, source lines) is written through
//! [`escape_unseen`], so a forged program cannot send a terminal escape sequences.

use crate::machine::TraceEntry;
use mova_compiler::snippet::escape_unseen;
use mova_lang::debuginfo::{DebugInfo, Local};
use mova_lang::func::{Frame, MAIN};
use mova_lang::isa::Instr;
use mova_lang::mvb::Program;
use mova_lang::srcmap::SourceMap;
use std::fmt::Write as _;
use std::ops::Range;

/// How many of the innermost frames a long backtrace shows.
pub const SHOWN_INNER: usize = 10;
/// How many of the outermost frames a long backtrace shows.
pub const SHOWN_OUTER: usize = 10;
/// The most characters of a name or a source line shown; longer ones end in `…`.
const MAX_SHOWN_CHARS: usize = 100;

/// The backtrace of a program at `ip` with the calls `frames` in progress (outermost first, as a
/// VM and an image hold them): innermost first, the main program last. The innermost entry is at
/// `ip`; each outer one at the `CALL` it waits in, the instruction before its callee's return IP.
pub fn trace(ip: u32, frames: &[Frame]) -> Vec<TraceEntry> {
    let mut trace = Vec::with_capacity(frames.len() + 1);
    let mut ip = ip;
    for frame in frames.iter().rev() {
        trace.push(TraceEntry {
            function: frame.function,
            ip,
            base: frame.base,
            ref_base: frame.ref_base,
        });
        ip = frame.return_ip.saturating_sub(1);
    }
    trace.push(TraceEntry {
        function: MAIN,
        ip,
        base: 0,
        ref_base: 0,
    });
    trace
}

/// A place in the source: file, 1-based line and column, and the line's text (trimmed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLine {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub text: String,
}

/// What a program says about its code, decoded once: its instructions, its debug info and its
/// source map, each if it has them. Without a program (an image that does not carry its own),
/// only function numbers are known.
#[derive(Debug, Default)]
pub struct Symbols<'p> {
    program: Option<&'p Program>,
    debug: Option<DebugInfo>,
    map: Option<SourceMap>,
}

impl<'p> Symbols<'p> {
    /// The symbols of `program`, or none.
    pub fn of(program: Option<&'p Program>) -> Symbols<'p> {
        Symbols {
            program,
            debug: program.and_then(Program::debug_info),
            map: program.and_then(Program::source_map),
        }
    }

    /// Whether the program has debug info (so locals have names).
    pub fn has_debug_info(&self) -> bool {
        self.debug.is_some()
    }

    /// The name of `function` as the program gives it: its debug info's, else `<main>` for the
    /// main program and `function N` for the others. Not escaped.
    pub fn name(&self, function: u16) -> String {
        match self
            .debug
            .as_ref()
            .and_then(|debug| debug.function_name(function))
        {
            Some(name) => name.to_owned(),
            None if function == MAIN => String::from(mova_lang::func::MAIN_NAME),
            None => format!("function {function}"),
        }
    }

    /// The instruction at `ip`, if the program is known and has one there.
    pub fn instruction(&self, ip: u32) -> Option<Instr> {
        self.program?.code().get(ip as usize).copied()
    }

    /// The source line of instruction `ip`, if the program has a source map. Not escaped.
    pub fn source(&self, ip: u32) -> Option<SourceLine> {
        let map = self.map.as_ref()?;
        let span = map.span(ip)?;
        let (line, column) = map.line_column(span.start);
        let text = map
            .source
            .lines()
            .nth(line.saturating_sub(1))
            .unwrap_or_default()
            .trim()
            .to_owned();
        Some(SourceLine {
            file: map.file.clone(),
            line,
            column,
            text,
        })
    }

    /// The locals of `function` live at `ip`, by slot; `None` without debug info.
    pub fn locals(&self, function: u16, ip: u32) -> Option<Vec<&Local>> {
        Some(self.debug.as_ref()?.locals_at(function, ip))
    }
}

/// `text` safe for a terminal and at most [`MAX_SHOWN_CHARS`] characters long.
pub fn shown(text: &str) -> String {
    let escaped = escape_unseen(text);
    if escaped.chars().count() <= MAX_SHOWN_CHARS {
        return escaped;
    }
    let mut cut: String = escaped.chars().take(MAX_SHOWN_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// One row of a backtrace as shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Row {
    /// A frame: its index in the trace.
    Frame(usize),
    /// Frames identical to the one shown before them (the same function at the same
    /// instruction: a recursion through one call), left out.
    Repeated(Range<usize>),
    /// Frames left out of the middle of a long backtrace.
    Elided(Range<usize>),
}

/// How many frames of a run of identical ones are shown before the rest is counted.
const SHOWN_OF_A_RUN: usize = 3;

/// The rows that show `entries`, as Python shows a traceback: a run of identical frames (the
/// same function waiting in the same call) is shown by its first [`SHOWN_OF_A_RUN`] frames and
/// a count of the others; then, if more than [`SHOWN_INNER`] + [`SHOWN_OUTER`] + 1 rows are left
/// (mutual recursion, say), the innermost and outermost ones are kept around one that counts
/// the frames between them.
pub fn rows(entries: &[TraceEntry]) -> Vec<Row> {
    let mut items = Vec::new();
    let mut start = 0;
    while start < entries.len() {
        let key = entries.get(start).map(|entry| (entry.function, entry.ip));
        let len = entries
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|entry| Some((entry.function, entry.ip)) == key)
            .count()
            .max(1);
        items.extend((start..start + len.min(SHOWN_OF_A_RUN)).map(Row::Frame));
        if len > SHOWN_OF_A_RUN + 1 {
            items.push(Row::Repeated(start + SHOWN_OF_A_RUN..start + len));
        } else if len == SHOWN_OF_A_RUN + 1 {
            items.push(Row::Frame(start + SHOWN_OF_A_RUN));
        }
        start += len;
    }
    if items.len() <= SHOWN_INNER + SHOWN_OUTER + 1 {
        return items;
    }
    let covered = |row: &Row| match row {
        Row::Frame(index) => *index..index + 1,
        Row::Repeated(range) | Row::Elided(range) => range.clone(),
    };
    let outer = items.len() - SHOWN_OUTER;
    let first = items.get(SHOWN_INNER).map_or(0, |row| covered(row).start);
    let last = items.get(outer - 1).map_or(0, |row| covered(row).end);
    let mut shown: Vec<Row> = items.drain(..SHOWN_INNER).collect();
    shown.push(Row::Elided(first..last));
    shown.extend(items.drain(outer - SHOWN_INNER..));
    shown
}

/// The frames left out, counted by function, the most frequent first (at most three named):
/// "9,980 more frames of `f`", "600 more frames: 300 of `even`, 300 of `odd`". Escaped.
pub fn elided(symbols: &Symbols<'_>, entries: &[TraceEntry]) -> String {
    let mut counts: Vec<(u16, usize)> = Vec::new();
    for entry in entries {
        match counts
            .iter_mut()
            .find(|(function, _)| *function == entry.function)
        {
            Some((_, count)) => *count += 1,
            None => counts.push((entry.function, 1)),
        }
    }
    // Stable: among equal counts, the innermost function first.
    counts.sort_by_key(|&(_, count)| std::cmp::Reverse(count));
    let total = thousands(entries.len());
    let frames = if entries.len() == 1 {
        "frame"
    } else {
        "frames"
    };
    match counts.as_slice() {
        [(function, _)] => format!(
            "{total} more {frames} of `{}`",
            shown(&symbols.name(*function))
        ),
        _ => {
            let mut out = format!("{total} more {frames}: ");
            for (k, (function, count)) in counts.iter().take(3).enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                let _ = write!(
                    out,
                    "{} of `{}`",
                    thousands(*count),
                    shown(&symbols.name(*function))
                );
            }
            let others = counts.len().saturating_sub(3);
            if others > 0 {
                let rest: usize = counts.iter().skip(3).map(|(_, count)| count).sum();
                let _ = write!(
                    out,
                    " and {} of {others} other function{}",
                    thousands(rest),
                    if others == 1 { "" } else { "s" }
                );
            }
            out
        }
    }
}

/// `n` with a comma between each group of three digits: `10,000`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The text of a backtrace under a trap, innermost call first, as `mova` prints it:
///
/// ```text
/// backtrace, innermost call first:
///    0: g at t.mova:2:12, instruction 9 (`DIV`)
///           return 1 / x;
///    1: f at t.mova:5:5, instruction 4 (`CALL 2`)
///           g(x);
///    2: main at t.mova:7:1, instruction 1 (`CALL 1`)
///           f(0);
/// ```
///
/// Without a source map each frame is one line (`   0: g, instruction 9 (`DIV`)`); a long
/// backtrace leaves out its middle ([`rows`]).
pub fn render(symbols: &Symbols<'_>, entries: &[TraceEntry]) -> String {
    let width = entries.len().saturating_sub(1).to_string().len().max(2) + 1;
    let mut out = String::from("backtrace, innermost call first:\n");
    for row in rows(entries) {
        match row {
            Row::Frame(index) => {
                let Some(entry) = entries.get(index) else {
                    continue;
                };
                let _ = write!(
                    out,
                    "{index:>width$}: {}",
                    shown(&symbols.name(entry.function))
                );
                let source = symbols.source(entry.ip);
                if let Some(source) = &source {
                    let _ = write!(
                        out,
                        " at {}:{}:{},",
                        shown(&source.file),
                        source.line,
                        source.column
                    );
                } else {
                    out.push(',');
                }
                let _ = write!(out, " instruction {}", entry.ip);
                if let Some(instr) = symbols.instruction(entry.ip) {
                    let _ = write!(out, " (`{instr}`)");
                }
                out.push('\n');
                if let Some(source) = source
                    && !source.text.is_empty()
                {
                    let _ = writeln!(out, "{:width$}      {}", "", shown(&source.text));
                }
            }
            Row::Repeated(range) => {
                let _ = writeln!(
                    out,
                    "{:width$}  [{} more {} like the one above]",
                    "",
                    thousands(range.len()),
                    if range.len() == 1 { "frame" } else { "frames" }
                );
            }
            Row::Elided(range) => {
                let left_out = entries.get(range).unwrap_or_default();
                let _ = writeln!(out, "{:width$}  … {} …", "", elided(symbols, left_out));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(9980), "9,980");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    fn entries(functions: &[(u16, u32)]) -> Vec<TraceEntry> {
        functions
            .iter()
            .map(|&(function, ip)| TraceEntry {
                function,
                ip,
                base: 0,
                ref_base: 0,
            })
            .collect()
    }

    #[test]
    fn short_backtraces_are_shown_whole() {
        let trace = entries(&[(2, 9), (1, 4), (0, 1)]);
        assert_eq!(rows(&trace), [Row::Frame(0), Row::Frame(1), Row::Frame(2)]);
        // Four identical frames are shown: a line counting one would save nothing.
        let trace = entries(&[(1, 5), (1, 5), (1, 5), (1, 5), (0, 1)]);
        assert_eq!(rows(&trace).len(), 5);
    }

    #[test]
    fn a_run_of_identical_frames_shows_three_and_counts_the_rest() {
        let mut functions = vec![(1, 2)];
        functions.extend(std::iter::repeat_n((1, 5), 9_999));
        functions.push((0, 1));
        let trace = entries(&functions);
        assert_eq!(
            rows(&trace),
            [
                Row::Frame(0),
                Row::Frame(1),
                Row::Frame(2),
                Row::Frame(3),
                Row::Repeated(4..10_000),
                Row::Frame(10_000),
            ]
        );
    }

    #[test]
    fn mutual_recursion_shows_both_ends_around_a_count() {
        let mut functions: Vec<(u16, u32)> = (0..1_000)
            .map(|k| (1 + (k % 2), 7 + (k % 2) as u32))
            .collect();
        functions.push((0, 1));
        let trace = entries(&functions);
        let shown = rows(&trace);
        assert_eq!(shown.len(), SHOWN_INNER + 1 + SHOWN_OUTER);
        assert_eq!(shown[SHOWN_INNER], Row::Elided(10..991));
        assert_eq!(shown.last(), Some(&Row::Frame(1_000)));
    }

    #[test]
    fn the_frames_left_out_are_counted_by_function() {
        let symbols = Symbols::default();
        let entry = |function| TraceEntry {
            function,
            ip: 0,
            base: 0,
            ref_base: 0,
        };
        let same: Vec<_> = (0..9980).map(|_| entry(1)).collect();
        assert_eq!(elided(&symbols, &same), "9,980 more frames of `function 1`");
        let mutual: Vec<_> = (0..600).map(|k| entry(1 + (k % 2))).collect();
        assert_eq!(
            elided(&symbols, &mutual),
            "600 more frames: 300 of `function 1`, 300 of `function 2`"
        );
        let many: Vec<_> = (0..10).map(|k| entry(k / 2 + 1)).collect();
        assert_eq!(
            elided(&symbols, &many),
            "10 more frames: 2 of `function 1`, 2 of `function 2`, 2 of `function 3` and 4 of 2 \
             other functions"
        );
    }

    #[test]
    fn names_are_escaped_and_cut() {
        assert_eq!(shown("f\u{1b}[2J"), "f\\u{1b}[2J");
        let long = "x".repeat(300);
        assert_eq!(shown(&long).chars().count(), MAX_SHOWN_CHARS);
        assert!(shown(&long).ends_with('…'));
    }
}
