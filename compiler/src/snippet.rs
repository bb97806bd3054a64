//! Drawing one diagnostic for people: its headline, one block of source per group of labels (each
//! headed by its own location), and its help.
//!
//! The layout is ariadne's (0.6), which Mova used before: its margins, underlines and arrows, and
//! its way of grouping labels into blocks. Drawing it here fixes what ariadne could not be told:
//! every block after the first was headed by the primary location instead of its own, and every
//! line was drawn whole, so a diagnostic on a long line cost the line's length, and many
//! diagnostics on one line cost its square. Here a line longer than [`MAX_LINE_CHARS`] is shown
//! around the labels on it ([`CONTEXT_CHARS`] either side, `...` for what is left out), as rustc
//! does, and a source is indexed once ([`LineIndex`]), so each diagnostic costs the size of what it
//! shows, whatever the size of the line or the file.

use crate::diag::{Diagnostic, Severity};
use std::fmt::Write as _;
use std::ops::Range;
use unicode_width::UnicodeWidthChar;

/// The longest line, in characters, that is shown whole.
pub const MAX_LINE_CHARS: usize = 160;
/// How many characters a shortened line keeps either side of each place a label marks.
pub const CONTEXT_CHARS: usize = 40;
/// What stands for the characters a shortened line leaves out.
const ELISION: &str = "...";
/// How many columns a tab advances to, as ariadne's default.
const TAB_WIDTH: usize = 4;
/// Bytes between the checkpoints of [`LineIndex`]'s character counts.
const CHECKPOINT: usize = 1024;

/// Line starts and character counts of a source, computed once, so that finding the line and
/// column of an offset costs at most [`CHECKPOINT`] bytes of counting instead of the whole prefix.
#[derive(Debug)]
pub struct LineIndex<'s> {
    text: &'s str,
    /// The byte offset of each line's start; a text ending in `\n` has an empty last line.
    starts: Vec<usize>,
    /// The number of characters before byte `k * CHECKPOINT`.
    checkpoints: Vec<usize>,
}

impl<'s> LineIndex<'s> {
    /// Indexes `text`.
    pub fn new(text: &'s str) -> LineIndex<'s> {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        let mut checkpoints = Vec::with_capacity(bytes.len() / CHECKPOINT + 1);
        let mut chars = 0;
        for (offset, &byte) in bytes.iter().enumerate() {
            if offset % CHECKPOINT == 0 {
                checkpoints.push(chars);
            }
            if is_char_start(byte) {
                chars += 1;
            }
            if byte == b'\n' {
                starts.push(offset + 1);
            }
        }
        if bytes.len().is_multiple_of(CHECKPOINT) {
            checkpoints.push(chars);
        }
        LineIndex {
            text,
            starts,
            checkpoints,
        }
    }

    /// The number of characters before `offset` (clamped to the text).
    pub fn chars_before(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        let block = offset / CHECKPOINT;
        let counted = self.checkpoints.get(block).copied().unwrap_or(0);
        let rest = self
            .text
            .as_bytes()
            .get(block * CHECKPOINT..offset)
            .unwrap_or_default();
        counted + rest.iter().filter(|&&byte| is_char_start(byte)).count()
    }

    /// The 0-based line holding `offset`; the offset after a final `\n` is on the empty line
    /// after it.
    fn line(&self, offset: usize) -> usize {
        self.starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1)
    }

    /// The 1-based line and column (in characters) of `offset`, as
    /// [`mova_lang::srcmap::line_column`] counts them: an offset past the end, or inside a
    /// character, counts as the end.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = if self.text.is_char_boundary(offset) {
            offset
        } else {
            self.text.len()
        };
        let line = self.line(offset);
        let start = self.starts.get(line).copied().unwrap_or(0);
        (
            line + 1,
            self.chars_before(offset) - self.chars_before(start) + 1,
        )
    }

    /// How many lines are drawn: a final `\n` ends the last line rather than starting one.
    fn drawn_lines(&self) -> usize {
        if self.text.ends_with('\n') {
            self.starts.len() - 1
        } else {
            self.starts.len()
        }
    }

    /// The drawn line holding `offset`: the end of a text that ends in `\n` is the end of its
    /// last line, where "the input ends here" belongs.
    fn drawn_line(&self, offset: usize) -> usize {
        self.line(offset).min(self.drawn_lines().saturating_sub(1))
    }

    /// The bytes of drawn line `line`, with its `\n`.
    fn line_span(&self, line: usize) -> Range<usize> {
        let start = self.starts.get(line).copied().unwrap_or(self.text.len());
        let end = self
            .starts
            .get(line + 1)
            .copied()
            .unwrap_or(self.text.len());
        start..end
    }
}

/// Whether `byte` starts a UTF-8 character (is not a continuation byte).
fn is_char_start(byte: u8) -> bool {
    byte & 0xC0 != 0x80
}

/// The colours of the drawing: ariadne's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Color {
    Red,
    Yellow,
    Blue,
    Fixed(u8),
}

const MARGIN: Color = Color::Fixed(246);
const SKIPPED_MARGIN: Color = Color::Fixed(240);
const UNIMPORTANT: Color = Color::Fixed(249);
const NOTE: Color = Color::Fixed(115);

/// Text being drawn, coloured or not.
struct Canvas {
    out: String,
    color: bool,
}

impl Canvas {
    fn paint(&mut self, color: Option<Color>, text: impl std::fmt::Display) {
        match color.filter(|_| self.color) {
            Some(color) => {
                let code = match color {
                    Color::Red => String::from("31"),
                    Color::Yellow => String::from("33"),
                    Color::Blue => String::from("34"),
                    Color::Fixed(n) => format!("38;5;{n}"),
                };
                let _ = write!(self.out, "\u{1b}[{code}m{text}\u{1b}[0m");
            }
            None => {
                let _ = write!(self.out, "{text}");
            }
        }
    }

    fn plain(&mut self, text: impl std::fmt::Display) {
        self.paint(None, text);
    }

    fn spaces(&mut self, count: usize) {
        let _ = write!(self.out, "{:count$}", "");
    }

    fn newline(&mut self) {
        self.out.push('\n');
    }
}

/// A label: a span of the source and what it says there.
#[derive(Debug)]
struct Label<'d> {
    /// The bytes, on character boundaries.
    span: Range<usize>,
    /// The start of its last character (its start when it is empty).
    last: usize,
    /// Its length in characters.
    chars: usize,
    start_line: usize,
    end_line: usize,
    multi: bool,
    message: &'d str,
    color: Color,
    priority: i32,
}

impl Label<'_> {
    fn contains(&self, offset: usize) -> bool {
        self.span.contains(&offset)
    }
}

/// A label as drawn on one line.
#[derive(Clone, Copy, Debug)]
struct LineLabel<'l, 'd> {
    col: usize,
    label: &'l Label<'d>,
    multi: bool,
    draw_msg: bool,
}

impl<'l, 'd> LineLabel<'l, 'd> {
    /// A multi-line label on a line: at its start column (without its message) if it starts
    /// there, else at its end column (with it) if it ends there.
    fn multi(label: &'l Label<'d>, start: Option<usize>, end: Option<usize>) -> Option<Self> {
        let (col, draw_msg) = match (start, end) {
            (Some(col), _) => (col, false),
            (None, Some(col)) => (col, true),
            (None, None) => return None,
        };
        Some(LineLabel {
            col,
            label,
            multi: true,
            draw_msg,
        })
    }
}

fn same(a: &Label<'_>, b: &Label<'_>) -> bool {
    std::ptr::eq(a, b)
}

/// One column of a drawn line: a character, or one dot of an elision standing for `bytes`.
#[derive(Clone, Debug)]
struct Cell {
    shown: char,
    bytes: Range<usize>,
}

/// A drawn line: its cells, in order, covering all its bytes.
#[derive(Debug)]
struct Row {
    cells: Vec<Cell>,
    /// How many cells are printed: those before the trailing whitespace.
    printed: usize,
}

impl Row {
    /// The line `line`, shortened around `focus` (byte offsets on it) when it is long.
    fn new(index: &LineIndex<'_>, line: usize, focus: &[usize]) -> Row {
        let span = index.line_span(line);
        let text = index.text.get(span.clone()).unwrap_or_default();
        let long = index.chars_before(span.end) - index.chars_before(span.start) > MAX_LINE_CHARS;
        let windows = if long {
            windows(text, span.start, focus)
        } else {
            vec![span.clone()]
        };
        let mut cells = Vec::new();
        let mut at = span.start;
        for window in windows {
            if window.start > at {
                cells.extend(ELISION.chars().map(|shown| Cell {
                    shown,
                    bytes: at..window.start,
                }));
            }
            let piece = index.text.get(window.clone()).unwrap_or_default();
            cells.extend(piece.char_indices().map(|(i, shown)| Cell {
                shown,
                bytes: window.start + i..window.start + i + shown.len_utf8(),
            }));
            at = window.end;
        }
        if span.end > at {
            cells.extend(ELISION.chars().map(|shown| Cell {
                shown,
                bytes: at..span.end,
            }));
        }
        let trimmed_end = span.start + text.trim_end().len();
        let printed = cells
            .iter()
            .take_while(|cell| cell.bytes.start < trimmed_end)
            .count();
        Row { cells, printed }
    }

    /// The column of byte `offset`: the cell holding it, or one past the last cell.
    fn col(&self, offset: usize) -> usize {
        self.cells.partition_point(|cell| cell.bytes.end <= offset)
    }

    fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether `label` covers the cell at `col`.
    fn covers(&self, label: &Label<'_>, col: usize) -> bool {
        self.cells.get(col).is_some_and(|cell| {
            !label.span.is_empty()
                && label.span.start <= cell.bytes.start
                && cell.bytes.end <= label.span.end
        })
    }

    /// The printed width of the cell at `col`, as ariadne counts it (1 past the printed cells).
    fn width(&self, col: usize) -> usize {
        match self.cells.get(col).filter(|_| col < self.printed) {
            Some(cell) => char_width(cell.shown, col).1,
            None => 1,
        }
    }
}

/// The byte ranges of `text` (a line starting at byte `base`) kept around `focus`, merged, in
/// order.
fn windows(text: &str, base: usize, focus: &[usize]) -> Vec<Range<usize>> {
    let mut windows: Vec<Range<usize>> = focus
        .iter()
        .map(|&offset| {
            let at = offset.saturating_sub(base).min(text.len());
            let before = text.get(..at).unwrap_or_default();
            let start = before
                .char_indices()
                .rev()
                .nth(CONTEXT_CHARS - 1)
                .map_or(0, |(i, _)| i);
            let after = text.get(at..).unwrap_or_default();
            let end = after
                .char_indices()
                .nth(CONTEXT_CHARS + 1)
                .map_or(text.len(), |(i, _)| at + i);
            base + start..base + end
        })
        .collect();
    windows.sort_by_key(|window| window.start);
    let mut merged: Vec<Range<usize>> = Vec::new();
    for window in windows {
        match merged.last_mut() {
            // Leaving out less than an elision's worth would not shorten anything.
            Some(last) if window.start <= last.end + ELISION.len() => {
                last.end = last.end.max(window.end);
            }
            Some(_) | None => merged.push(window),
        }
    }
    merged
}

/// What a character is drawn as and how many columns it takes, as ariadne draws it: whitespace
/// as spaces, a tab up to the next multiple of [`TAB_WIDTH`]; and unlike ariadne, a character a
/// terminal would obey rather than show ([`is_unseen`]) as a visible stand-in one column wide: a
/// control picture (`␛` for ESC) for the C0 controls and DEL, `�` for the others.
fn char_width(c: char, col: usize) -> (char, usize) {
    match c {
        '\t' => (' ', (col / TAB_WIDTH + 1) * TAB_WIDTH - col),
        c if c.is_whitespace() => (' ', 1),
        '\u{7f}' => ('\u{2421}', 1),
        c if is_unseen(c) => {
            let picture = u32::from(c)
                .checked_add(0x2400)
                .filter(|_| u32::from(c) < 0x20)
                .and_then(char::from_u32);
            (picture.unwrap_or('\u{FFFD}'), 1)
        }
        c => (c, c.width().unwrap_or(1)),
    }
}

/// Whether a terminal would act on `c` rather than show it: a control character (an escape
/// sequence starts with one), a bidirectional control, which reorders the text after it, or a
/// line or paragraph separator (drawn as a space, like other whitespace, in a source line). A
/// source, and so a diagnostic, may hold any of them: one read from a state image's source map
/// is anyone's.
pub fn is_unseen(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with the characters [`is_unseen`] says a terminal would act on written as escapes
/// (`\u{1b}`), for text that is not drawn cell by cell: a file name, a character in a message.
pub fn escape_unseen(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_unseen(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// A group of labels drawn in one block.
#[derive(Debug)]
struct Group<'l, 'd> {
    labels: Vec<&'l Label<'d>>,
    lines: Range<usize>,
}

/// Draws `diagnostic` about the source `index` indexes, called `path`.
pub fn draw(diagnostic: &Diagnostic, path: &str, index: &LineIndex<'_>, color: bool) -> String {
    let mut canvas = Canvas {
        out: String::new(),
        color,
    };
    let (kind, accent) = match diagnostic.severity {
        Severity::Error => ("Error", Color::Red),
        Severity::Warning => ("Warning", Color::Yellow),
    };
    let id = match diagnostic.code {
        Some(code) => format!("[{code}] {kind}:"),
        None => format!("{kind}:"),
    };
    canvas.paint(Some(accent), id);
    canvas.plain(format_args!(" {}\n", diagnostic.message));

    let labels: Vec<Label<'_>> = std::iter::once((&diagnostic.span, &diagnostic.label, accent, 1))
        .chain(
            diagnostic
                .secondary
                .iter()
                .map(|(span, label)| (span, label, Color::Blue, 0)),
        )
        .map(|(span, message, color, priority)| label(index, span, message, color, priority))
        .collect();
    let groups = groups(&labels, index);
    let width = groups
        .iter()
        .map(|group| digits(group.lines.end))
        .max()
        .unwrap_or(0);
    for (number, group) in groups.iter().enumerate() {
        draw_group(
            &mut canvas,
            diagnostic,
            path,
            index,
            group,
            width,
            number == 0,
            number + 1 == groups.len(),
        );
    }
    canvas.out
}

/// A label of `span`, snapped to character boundaries and kept inside the source.
fn label<'d>(
    index: &LineIndex<'_>,
    span: &Range<usize>,
    message: &'d str,
    color: Color,
    priority: i32,
) -> Label<'d> {
    let text = index.text;
    let mut end = span.end.min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    let mut start = span.start.min(end);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let last = text
        .get(..end)
        .and_then(|before| before.char_indices().next_back())
        .map_or(start, |(i, _)| i)
        .max(start);
    let start_line = index.drawn_line(start);
    let end_line = index.drawn_line(last);
    Label {
        span: start..end,
        last,
        chars: index.chars_before(end) - index.chars_before(start),
        start_line,
        end_line,
        multi: start_line != end_line,
        message,
        color,
        priority,
    }
}

/// Groups labels into blocks as ariadne does: in order, a label joins the current block unless
/// it ends on an earlier line than the block's last label.
fn groups<'l, 'd>(labels: &'l [Label<'d>], index: &LineIndex<'_>) -> Vec<Group<'l, 'd>> {
    let mut groups: Vec<(Vec<&Label<'d>>, Range<usize>)> = Vec::new();
    for label in labels {
        match groups.last_mut() {
            Some((members, span))
                if members
                    .last()
                    .is_none_or(|last| last.end_line <= label.end_line) =>
            {
                span.start = span.start.min(label.span.start);
                span.end = span.end.max(label.span.end);
                members.push(label);
            }
            Some(_) | None => groups.push((vec![label], label.span.clone())),
        }
    }
    groups
        .into_iter()
        .map(|(labels, span)| {
            let first = index.drawn_line(span.start);
            let last = index.drawn_line(span.end.saturating_sub(1).max(span.start));
            Group {
                labels,
                lines: first..last + 1,
            }
        })
        .collect()
}

/// The number of decimal digits of `n` (1 for 0).
fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// What one call of ariadne's margin drawing needs.
#[derive(Clone, Copy)]
struct Margin<'a, 'l, 'd> {
    line: usize,
    is_line: bool,
    is_ellipsis: bool,
    draw_labels: bool,
    report_row: Option<(usize, bool)>,
    line_labels: &'a [LineLabel<'l, 'd>],
    margin_label: Option<LineLabel<'l, 'd>>,
}

#[allow(clippy::too_many_arguments)]
fn draw_group(
    canvas: &mut Canvas,
    diagnostic: &Diagnostic,
    path: &str,
    index: &LineIndex<'_>,
    group: &Group<'_, '_>,
    width: usize,
    first: bool,
    last: bool,
) {
    // Each block is headed by its own first label's place: the primary one for the first block.
    let location = group.labels.first().map_or(0, |label| label.span.start);
    let drawn = index.drawn_line(location);
    let column = index.chars_before(location) - index.chars_before(index.line_span(drawn).start);
    canvas.spaces(width + 2);
    canvas.paint(Some(MARGIN), if first { '╭' } else { '├' });
    canvas.paint(Some(MARGIN), '─');
    canvas.paint(Some(MARGIN), '[');
    canvas.plain(format_args!(
        " {}:{}:{} ",
        escape_unseen(path),
        drawn + 1,
        column + 1
    ));
    canvas.paint(Some(MARGIN), ']');
    canvas.newline();
    canvas.spaces(width + 2);
    canvas.paint(Some(MARGIN), '│');
    canvas.newline();

    let mut multi: Vec<&Label<'_>> = group
        .labels
        .iter()
        .copied()
        .filter(|label| label.multi)
        .collect();
    multi.sort_by_key(|label| std::cmp::Reverse(label.chars));

    let mut is_ellipsis = false;
    for line in candidate_lines(group, index) {
        let span = index.line_span(line);
        let on_line = |offset: usize| span.contains(&offset);
        let focus: Vec<usize> = group
            .labels
            .iter()
            .flat_map(|label| [label.span.start, label.last, label.span.end])
            .filter(|&offset| span.start <= offset && offset <= span.end)
            .collect();
        let row = Row::new(index, line, &focus);

        // A multi-line label shows on this line where it starts (without its message) or where
        // it ends (with it); `at_start` says whether its start counts here.
        let multi_label = |label: &Label<'_>, at_start: bool| {
            let start = (at_start && on_line(label.span.start)).then(|| row.col(label.span.start));
            (start, on_line(label.last).then(|| row.col(label.last)))
        };
        let margin_label = multi
            .iter()
            .filter_map(|&label| {
                let (start, end) = multi_label(label, true);
                LineLabel::multi(label, start, end)
            })
            .min_by_key(|ll| (ll.col, std::cmp::Reverse(ll.label.span.start)));
        let is_margin = |label: &Label<'_>| margin_label.is_some_and(|m| same(m.label, label));

        let mut line_labels: Vec<LineLabel<'_, '_>> = multi
            .iter()
            .filter_map(|&label| {
                let (start, end) = multi_label(label, !is_margin(label));
                LineLabel::multi(label, start, end)
            })
            .collect();
        for &label in &group.labels {
            if !label.multi && label.span.start >= span.start && label.span.end <= span.end {
                let start = row.col(label.span.start);
                let end = end_col(&row, label);
                line_labels.push(LineLabel {
                    col: ((start + end) / 2).max(start),
                    label,
                    multi: false,
                    draw_msg: true,
                });
            }
        }

        if line_labels.is_empty() && margin_label.is_none() {
            let within = multi.iter().any(|label| label.contains(span.start));
            if !is_ellipsis && within {
                is_ellipsis = true;
            } else {
                if !is_ellipsis {
                    draw_margin(
                        canvas,
                        &multi,
                        index,
                        width,
                        Margin {
                            line,
                            is_line: false,
                            is_ellipsis,
                            draw_labels: false,
                            report_row: None,
                            line_labels: &[],
                            margin_label: None,
                        },
                    );
                    canvas.newline();
                }
                is_ellipsis = true;
                continue;
            }
        } else {
            is_ellipsis = false;
        }

        line_labels.sort_by_key(|ll| (ll.col, std::cmp::Reverse(ll.label.span.start)));
        let arrow_len = line_labels.iter().fold(0, |len, ll| {
            if ll.multi {
                row.len()
            } else {
                len.max(end_col(&row, ll.label))
            }
        }) + 2;

        let get_vbar = |col: usize, report_row: usize| {
            line_labels
                .iter()
                .enumerate()
                .filter(|(_, ll)| !is_margin(ll.label))
                .find(|&(j, ll)| ll.col == col && report_row <= j)
                .map(|(_, ll)| *ll)
        };
        let get_highlight = |col: usize| {
            margin_label
                .iter()
                .map(|ll| ll.label)
                .chain(multi.iter().copied())
                .chain(line_labels.iter().map(|ll| ll.label))
                .filter(|label| row.covers(label, col))
                .min_by_key(|label| (-label.priority, label.chars))
        };
        let get_underline = |col: usize| {
            line_labels
                .iter()
                .filter(|ll| !ll.multi && row.covers(ll.label, col))
                .min_by_key(|ll| (-ll.label.priority, ll.label.chars))
                .copied()
        };

        let margin = Margin {
            line,
            is_line: true,
            is_ellipsis,
            draw_labels: true,
            report_row: None,
            line_labels: &line_labels,
            margin_label,
        };
        draw_margin(canvas, &multi, index, width, margin);
        if !is_ellipsis {
            for (col, cell) in row.cells.iter().take(row.printed).enumerate() {
                let color = get_highlight(col).map_or(UNIMPORTANT, |label| label.color);
                let (shown, cell_width) = char_width(cell.shown, col);
                if cell.shown.is_whitespace() {
                    for _ in 0..cell_width {
                        canvas.paint(Some(color), shown);
                    }
                } else {
                    canvas.paint(Some(color), shown);
                }
            }
        }
        canvas.newline();

        for (report_row, line_label) in line_labels.iter().enumerate() {
            draw_margin(
                canvas,
                &multi,
                index,
                width,
                Margin {
                    report_row: Some((report_row, false)),
                    is_line: false,
                    ..margin
                },
            );
            for col in 0..arrow_len {
                let cell_width = row.width(col);
                let underline = get_underline(col).filter(|_| report_row == 0);
                let (c, tail) = match (get_vbar(col, report_row), underline) {
                    (Some(vbar), Some(_)) => (('┬', vbar.label.color), ('─', vbar.label.color)),
                    (Some(vbar), None) if vbar.multi && report_row == 0 => {
                        (('▲', vbar.label.color), (' ', vbar.label.color))
                    }
                    (Some(vbar), None) => (('│', vbar.label.color), (' ', vbar.label.color)),
                    (None, Some(underline)) => {
                        (('─', underline.label.color), ('─', underline.label.color))
                    }
                    (None, None) => ((' ', UNIMPORTANT), (' ', UNIMPORTANT)),
                };
                for i in 0..cell_width {
                    let (shown, color) = if i == 0 { c } else { tail };
                    paint_cell(canvas, shown, color);
                }
            }
            canvas.newline();

            draw_margin(
                canvas,
                &multi,
                index,
                width,
                Margin {
                    report_row: Some((report_row, true)),
                    is_line: false,
                    ..margin
                },
            );
            let color = line_label.label.color;
            for col in 0..arrow_len {
                let cell_width = row.width(col);
                let is_hbar = ((col > line_label.col) ^ line_label.multi)
                    || (line_label.draw_msg && col > line_label.col);
                let (c, tail) = if col == line_label.col && !is_margin(line_label.label) {
                    let corner = match (line_label.multi, line_label.draw_msg) {
                        (true, true) => '┴',
                        (true, false) => '╯',
                        (false, _) => '╰',
                    };
                    ((corner, color), ('─', color))
                } else if get_vbar(col, report_row).is_some() {
                    if is_hbar {
                        (('─', color), ('─', color))
                    } else {
                        let vbar = get_vbar(col, report_row).map_or(color, |ll| ll.label.color);
                        (('│', vbar), (' ', color))
                    }
                } else if is_hbar {
                    (('─', color), ('─', color))
                } else {
                    ((' ', UNIMPORTANT), (' ', UNIMPORTANT))
                };
                if cell_width > 0 {
                    paint_cell(canvas, c.0, c.1);
                }
                for _ in 1..cell_width {
                    paint_cell(canvas, tail.0, tail.1);
                }
            }
            if line_label.draw_msg {
                canvas.plain(format_args!(" {}", line_label.label.message));
            }
            canvas.newline();
        }
    }

    if last {
        if let Some(help) = &diagnostic.help {
            let help_margin = |canvas: &mut Canvas| {
                draw_margin(
                    canvas,
                    &multi,
                    index,
                    width,
                    Margin {
                        line: 0,
                        is_line: false,
                        is_ellipsis: false,
                        draw_labels: true,
                        report_row: Some((0, false)),
                        line_labels: &[],
                        margin_label: None,
                    },
                );
            };
            help_margin(canvas);
            canvas.newline();
            let mut lines = help.lines();
            if let Some(first) = lines.next() {
                help_margin(canvas);
                canvas.paint(Some(NOTE), "Help");
                canvas.plain(format_args!(": {first}\n"));
            }
            for more in lines {
                help_margin(canvas);
                canvas.plain(format_args!("      {more}\n"));
            }
        }
        canvas.paint(Some(MARGIN), format_args!("{}╯", "─".repeat(width + 2)));
    } else {
        canvas.spaces(width + 2);
        canvas.paint(Some(MARGIN), '│');
    }
    canvas.newline();
}

/// Paints one cell, leaving spaces uncoloured.
fn paint_cell(canvas: &mut Canvas, shown: char, color: Color) {
    if shown == ' ' {
        canvas.plain(' ');
    } else {
        canvas.paint(Some(color), shown);
    }
}

/// The column just past an inline label's last character (its start when it is empty).
fn end_col(row: &Row, label: &Label<'_>) -> usize {
    if label.span.is_empty() {
        row.col(label.span.start)
    } else {
        row.col(label.last) + 1
    }
}

/// The lines of a block worth looking at, in order: those a label starts or ends on (and the
/// one before an empty label at a line's start, which the drawing also puts it on), and the first
/// line after each, which stands for the run of lines up to the next. The lines in such a run
/// draw nothing after its first, so skipping them draws the same as visiting every line, in time
/// that does not grow with the distance between labels.
fn candidate_lines(group: &Group<'_, '_>, index: &LineIndex<'_>) -> Vec<usize> {
    let mut lines: Vec<usize> = group
        .labels
        .iter()
        .flat_map(|label| {
            let before = (label.span.is_empty()
                && index.line_span(label.start_line).start == label.span.start)
                .then(|| label.start_line.checked_sub(1))
                .flatten();
            [Some(label.start_line), Some(label.end_line), before]
        })
        .flatten()
        .collect();
    let after: Vec<usize> = lines.iter().map(|line| line + 1).collect();
    lines.extend(after);
    lines.retain(|line| group.lines.contains(line));
    lines.sort_unstable();
    lines.dedup();
    lines
}

/// Draws the margin of a row: the line number or a bar, then the columns of multi-line labels.
/// This follows ariadne's `write_margin` step by step, so that blocks look as they did.
fn draw_margin(
    canvas: &mut Canvas,
    multi: &[&Label<'_>],
    index: &LineIndex<'_>,
    width: usize,
    margin: Margin<'_, '_, '_>,
) {
    canvas.plain(' ');
    if margin.is_line && !margin.is_ellipsis {
        let number = (margin.line + 1).to_string();
        canvas.paint(
            Some(MARGIN),
            format_args!(
                "{:pad$}{number} │",
                "",
                pad = width.saturating_sub(number.len())
            ),
        );
    } else {
        canvas.paint(
            Some(SKIPPED_MARGIN),
            format_args!(
                "{:pad$}{}",
                "",
                if margin.is_ellipsis { '┆' } else { '│' },
                pad = width + 1
            ),
        );
    }
    canvas.plain(' ');
    if !margin.draw_labels {
        return;
    }
    let span = index.line_span(margin.line);
    let is_margin = |label: &Label<'_>| margin.margin_label.is_some_and(|m| same(m.label, label));
    let columns = multi.len() + usize::from(!multi.is_empty());
    for col in 0..columns {
        let mut corner: Option<(&Label<'_>, bool)> = None;
        let mut hbar: Option<&Label<'_>> = None;
        let mut vbar: Option<&Label<'_>> = None;
        let mut margin_ptr: Option<(LineLabel<'_, '_>, bool)> = None;
        let multi_label = multi.get(col);
        for (i, &label) in multi.iter().take(col + 1).enumerate() {
            if !(label.span.start <= span.end && label.span.end > span.start) {
                continue;
            }
            let is_parent = i != col;
            let is_start = span.contains(&label.span.start);
            let is_end = span.contains(&label.last);
            let own = margin.margin_label.filter(|m| same(m.label, label));
            if let Some(own) = own.filter(|_| margin.is_line) {
                margin_ptr = Some((own, is_start));
            } else if !is_start && (!is_end || margin.is_line) {
                vbar = vbar.or(Some(label).filter(|_| !is_parent));
            } else if let Some((report_row, is_arrow)) = margin.report_row {
                let label_row = margin
                    .line_labels
                    .iter()
                    .position(|ll| same(ll.label, label))
                    .unwrap_or(0);
                if report_row == label_row {
                    if let Some(own) = own {
                        vbar = Some(own.label).filter(|_| col == i);
                        if is_start {
                            continue;
                        }
                    }
                    if is_arrow {
                        hbar = Some(label);
                        if !is_parent {
                            corner = Some((label, is_start));
                        }
                    } else if !is_start {
                        vbar = vbar.or(Some(label).filter(|_| !is_parent));
                    }
                } else {
                    vbar = vbar
                        .or(Some(label)
                            .filter(|_| !is_parent && (is_start ^ (report_row < label_row))));
                }
            }
        }
        if let (Some((own, _)), true) = (margin_ptr, margin.is_line) {
            let is_col = multi_label.is_some_and(|label| same(label, own.label));
            let is_limit = col + 1 == multi.len();
            if !is_col && !is_limit {
                hbar = hbar.or(Some(own.label));
            }
        }
        hbar = hbar.filter(|label| !is_margin(label) || !margin.is_line);

        let (a, b) = if let Some((label, is_start)) = corner {
            (
                (if is_start { '╭' } else { '╰' }, label.color),
                ('─', label.color),
            )
        } else if let Some(label) = hbar {
            (('─', label.color), ('─', label.color))
        } else if let Some(label) = vbar {
            (
                (if margin.is_ellipsis { '┆' } else { '│' }, label.color),
                (' ', label.color),
            )
        } else if let (Some((own, is_start)), true) = (margin_ptr, margin.is_line) {
            let is_col = multi_label.is_some_and(|label| same(label, own.label));
            let is_limit = col == multi.len();
            let shown = if is_limit {
                '▶'
            } else if is_col {
                if is_start { '╭' } else { '├' }
            } else {
                '─'
            };
            (
                (shown, own.label.color),
                (if is_limit { ' ' } else { '─' }, own.label.color),
            )
        } else {
            ((' ', UNIMPORTANT), (' ', UNIMPORTANT))
        };
        paint_cell(canvas, a.0, a.1);
        paint_cell(canvas, b.0, b.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mova_lang::srcmap::line_column;

    #[test]
    fn the_index_agrees_with_line_column() {
        let big = "é".repeat(CHECKPOINT) + "\nx\n";
        for text in [
            "",
            "a",
            "a\n",
            "ab\ncd\n\nef",
            "é = 1;\nx $\n",
            big.as_str(),
        ] {
            let index = LineIndex::new(text);
            for offset in 0..=text.len() + 2 {
                assert_eq!(
                    index.line_column(offset),
                    line_column(text, offset),
                    "{text:?} at {offset}"
                );
            }
        }
    }

    #[test]
    #[allow(clippy::single_range_in_vec_init)]
    fn long_lines_keep_the_context_of_each_focus() {
        let line = "a".repeat(1000);
        let kept = windows(&line, 0, &[500]);
        assert_eq!(kept, vec![460..541]);
        // Two places far apart keep two windows; close ones merge.
        assert_eq!(windows(&line, 0, &[100, 900]).len(), 2);
        assert_eq!(windows(&line, 0, &[500, 520]), vec![460..561]);
        // A window near an end reaches it.
        assert_eq!(windows(&line, 0, &[10]), vec![0..51]);
        assert_eq!(windows(&line, 0, &[1000]), vec![960..1000]);
    }

    #[test]
    fn the_docs_state_the_shortening_limits() {
        let docs = include_str!("../../docs/language.md").replace('\n', " ");
        assert!(docs.contains(&format!("longer than {MAX_LINE_CHARS} characters")));
        assert!(docs.contains(&format!("{CONTEXT_CHARS} characters either side")));
    }

    #[test]
    fn what_a_terminal_would_obey_is_drawn_visibly() {
        use crate::diag::{Diagnostic, Severity, render};
        // A source map in a state image is anyone's: its file name sets the terminal's title,
        // its source clears the screen and reverses the text after it.
        let source = "\u{1b}[2Jprint(1 / 0);\u{202e}\u{7f}\u{9b}\n";
        let diagnostic = Diagnostic {
            severity: Severity::Error,
            code: None,
            message: "division by zero".into(),
            span: 0..20,
            label: "trapped here".into(),
            secondary: Vec::new(),
            help: None,
        };
        let drawn = render(&[diagnostic], "\u{1b}]0;owned\u{7}x.mova", source, false);
        assert!(
            !drawn.chars().any(|c| c != '\n' && is_unseen(c)),
            "{drawn:?}"
        );
        assert!(
            drawn.contains("[ \\u{1b}]0;owned\\u{7}x.mova:1:1 ]"),
            "{drawn}"
        );
        // One column each, as before, so the underline still spans them.
        assert!(drawn.contains(" 1 │ ␛[2Jprint(1 / 0);�␡�\n"), "{drawn}");
        assert!(drawn.contains("   │ ─────────┬────────  \n"), "{drawn}");
        // A bidirectional control used to take no column, and its label no caret.
        let at_bidi = Diagnostic {
            span: 17..20,
            ..Diagnostic {
                severity: Severity::Error,
                code: None,
                message: "invalid character".into(),
                span: 0..0,
                label: "here".into(),
                secondary: Vec::new(),
                help: None,
            }
        };
        let drawn = render(&[at_bidi], "x.mova", source, false);
        assert!(drawn.contains("   │                  ┬"), "{drawn}");
    }

    #[test]
    fn digits_count_like_ariadne() {
        assert_eq!([0, 1, 9, 10, 99, 100].map(digits), [1, 1, 1, 2, 2, 3]);
    }
}
