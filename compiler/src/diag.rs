//! Diagnostics: the one data type every stage's errors convert to, and the one place they are rendered.
//!
//! Stages report errors as their own `thiserror` enums and convert them to [`Diagnostic`]s; only
//! [`write_human`] (drawing with [`crate::snippet`], in ariadne's layout) and [`write_json`] turn
//! diagnostics into text, so every error looks the same and tests can render without colour. Both
//! write a diagnostic at a time and index the source once, so their memory and time grow with the
//! input and the output, never with the product of a line's length and its diagnostics.

use crate::snippet::{LineIndex, draw};
use std::io::{self, IsTerminal, Write};
use std::ops::Range;

/// A byte range in a source file.
pub type Span = Range<usize>;

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The input cannot be compiled.
    Error,
    /// The input compiles, but probably does not do what was meant.
    Warning,
}

/// A located message about the input, with a code that `docs/` explains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// How serious it is.
    pub severity: Severity,
    /// The stable code, e.g. `A0003` (runtime traps have none).
    pub code: Option<&'static str>,
    /// The headline, lower case and without a trailing period, like rustc's.
    pub message: String,
    /// The primary location.
    pub span: Span,
    /// What the primary label says at that location.
    pub label: String,
    /// Further locations with what each says (e.g. "first defined here").
    pub secondary: Vec<(Span, String)>,
    /// A suggestion for fixing it, if one helps.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error with a primary label.
    pub fn error(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code: Some(code),
            message: message.into(),
            span,
            label: label.into(),
            secondary: Vec::new(),
            help: None,
        }
    }

    /// Adds a help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a secondary label.
    #[must_use]
    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Self {
        self.secondary.push((span, label.into()));
        self
    }
}

/// When to colour diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when standard error is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether to colour output written to standard error.
    pub fn for_stderr(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
                    && std::io::stderr().is_terminal()
            }
        }
    }
}

/// Writes diagnostics about `source` (shown as `path`) to `out` as text for people, ending with
/// the line that says how to read the long explanation of their codes (`movac --explain`).
pub fn write_human(
    out: &mut dyn Write,
    diagnostics: &[Diagnostic],
    path: &str,
    source: &str,
    color: bool,
) -> io::Result<()> {
    let index = LineIndex::new(source);
    for diagnostic in diagnostics {
        out.write_all(draw(diagnostic, path, &index, color).as_bytes())?;
    }
    // Then, once, where to read more about the codes, as rustc ends its reports.
    let codes = diagnostics.iter().filter_map(|diagnostic| {
        let code = diagnostic.code?;
        Some((code, diagnostic.severity == Severity::Error))
    });
    if let Some(pointer) = crate::explain::pointer(codes) {
        out.write_all(pointer.as_bytes())?;
    }
    Ok(())
}

/// Writes diagnostics about `source` (shown as `path`) to `out` as JSON, one object per line, as
/// rustc's `--error-format=json` does. Lines and columns are 1-based, columns counted in
/// characters; `span` holds byte offsets.
pub fn write_json(
    out: &mut dyn Write,
    diagnostics: &[Diagnostic],
    path: &str,
    source: &str,
) -> io::Result<()> {
    let index = LineIndex::new(source);
    let location = |span: &Span| {
        let span = clamp(span, source);
        let (line, column) = index.line_column(span.start);
        let (end_line, end_column) = index.line_column(span.end);
        serde_json::json!({
            "line": line,
            "column": column,
            "end_line": end_line,
            "end_column": end_column,
            "span": { "start": span.start, "end": span.end },
        })
    };
    for diagnostic in diagnostics {
        let secondary: Vec<serde_json::Value> = diagnostic
            .secondary
            .iter()
            .map(|(span, label)| {
                let mut value = location(span);
                value["label"] = serde_json::Value::from(label.as_str());
                value
            })
            .collect();
        let mut value = location(&diagnostic.span);
        value["file"] = serde_json::Value::from(path);
        value["severity"] = serde_json::Value::from(severity_name(diagnostic.severity));
        value["code"] = serde_json::Value::from(diagnostic.code);
        value["message"] = serde_json::Value::from(diagnostic.message.as_str());
        value["label"] = serde_json::Value::from(diagnostic.label.as_str());
        value["help"] = serde_json::Value::from(diagnostic.help.as_deref());
        value["secondary"] = serde_json::Value::from(secondary);
        writeln!(out, "{value}")?;
    }
    Ok(())
}

/// A message that has no place in a source (a file that cannot be read, the final summary, a
/// usage error) as one JSON object with the same fields as a diagnostic's: those of a place are
/// null, and `file` is the file it is about, if any.
pub fn json_message(severity: Severity, file: Option<&str>, message: &str) -> String {
    serde_json::json!({
        "file": file,
        "line": null,
        "column": null,
        "end_line": null,
        "end_column": null,
        "span": null,
        "severity": severity_name(severity),
        "code": null,
        "message": message,
        "label": null,
        "help": null,
        "secondary": [],
    })
    .to_string()
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Renders diagnostics about `source` (shown as `path`) as text, with or without colour.
pub fn render(diagnostics: &[Diagnostic], path: &str, source: &str, color: bool) -> String {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_human(&mut out, diagnostics, path, source, color);
    String::from_utf8_lossy(&out).into_owned()
}

/// Which form diagnostics are printed in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ErrorFormat {
    /// Reports for people, drawn with the source.
    #[default]
    Human,
    /// One JSON object per diagnostic, one per line, for tools.
    Json,
}

/// Renders diagnostics as JSON, one object per line (see [`write_json`]).
pub fn render_json(diagnostics: &[Diagnostic], path: &str, source: &str) -> String {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_json(&mut out, diagnostics, path, source);
    String::from_utf8_lossy(&out).into_owned()
}

/// Keeps a span inside the source, so a diagnostic at the end of the input still renders.
fn clamp(span: &Span, source: &str) -> Span {
    let end = span.end.min(source.len());
    span.start.min(end)..end
}

/// The most candidates a suggestion is searched among: with more, none is offered, so one search
/// costs at most this many comparisons. Python's `NameError` suggestions have the same limit.
pub const MAX_SUGGESTION_CANDIDATES: usize = 750;

/// The longest name a suggestion is searched for or offered, in bytes (Python's limit too): one
/// comparison costs at most this squared.
pub const MAX_SUGGESTION_LEN: usize = 40;

/// How many suggestion searches one compilation makes; later errors come without a suggestion,
/// so any number of misspelt names costs a bounded amount of searching. Clang's
/// `-fspell-checking-limit` has the same default.
pub const MAX_SUGGESTION_SEARCHES: usize = 50;

/// Suggests the candidate closest to `name`, if one is close enough to be a likely typo: at most
/// a third of the longer name's length in edits (at least one), ignoring ASCII case. Ties go to
/// the candidate that sorts first. With more than [`MAX_SUGGESTION_CANDIDATES`] candidates there
/// is no suggestion, and names longer than [`MAX_SUGGESTION_LEN`] are neither searched for nor
/// offered.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    if name.len() > MAX_SUGGESTION_LEN {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for (seen, candidate) in candidates.into_iter().enumerate() {
        if seen == MAX_SUGGESTION_CANDIDATES {
            return None;
        }
        let limit = (candidate.len().max(name.len()) / 3).max(1);
        // The distance is at least the difference in length, which costs nothing to check.
        if candidate.len() > MAX_SUGGESTION_LEN || candidate.len().abs_diff(name.len()) > limit {
            continue;
        }
        let distance = strsim::levenshtein(&lower, &candidate.to_ascii_lowercase());
        if distance <= limit && best.is_none_or(|best| (distance, candidate) < best) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// One compilation's suggestion searches: [`did_you_mean`], at most
/// [`MAX_SUGGESTION_SEARCHES`] times.
#[derive(Clone, Debug)]
pub struct SuggestionBudget {
    left: usize,
}

impl Default for SuggestionBudget {
    fn default() -> Self {
        SuggestionBudget {
            left: MAX_SUGGESTION_SEARCHES,
        }
    }
}

impl SuggestionBudget {
    /// [`did_you_mean`], while searches are left; then `None`.
    pub fn did_you_mean<'a>(
        &mut self,
        name: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Option<&'a str> {
        self.left = self.left.checked_sub(1)?;
        did_you_mean(name, candidates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_code_message_label_and_help_without_colour() {
        let diagnostic = Diagnostic::error("A9999", "something is off", 4..7, "this part")
            .with_help("try another thing");
        let text = render(&[diagnostic], "t.mvasm", "PUT abc\n", false);
        assert!(text.contains("[A9999] Error: something is off"), "{text}");
        assert!(text.contains("t.mvasm:1:5"), "{text}");
        assert!(text.contains("this part"), "{text}");
        assert!(text.contains("Help: try another thing"), "{text}");
        assert!(!text.contains('\u{1b}'), "no escape codes: {text}");
    }

    #[test]
    fn spans_past_the_end_are_clamped() {
        let diagnostic = Diagnostic::error("A9999", "at the end", 10..12, "here");
        let text = render(&[diagnostic], "t.mvasm", "PUT", false);
        assert!(text.contains("here"), "{text}");
    }

    #[test]
    fn json_gives_positions_in_lines_and_characters() {
        let diagnostic = Diagnostic::error("E9999", "bad", 7..8, "here").with_help("fix it");
        let json = render_json(&[diagnostic], "t.mova", "é = 1;\nx $\n");
        let value: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
        assert_eq!(value["file"], "t.mova");
        assert_eq!(value["code"], "E9999");
        assert_eq!(value["severity"], "error");
        assert_eq!(
            (value["line"].as_u64(), value["column"].as_u64()),
            (Some(1), Some(7))
        );
        assert_eq!(value["span"]["start"], 7);
        assert_eq!(value["help"], "fix it");
    }

    #[test]
    fn the_suggestion_search_is_bounded() {
        // It looks at one candidate more than the limit to know there are too many, no further.
        let names: Vec<String> = (0..10_000).map(|i| format!("name{i}")).collect();
        let mut pulled = 0;
        let found = did_you_mean(
            "name1x",
            names.iter().map(String::as_str).inspect(|_| pulled += 1),
        );
        assert_eq!((found, pulled), (None, MAX_SUGGESTION_CANDIDATES + 1));
        let few = &names[..MAX_SUGGESTION_CANDIDATES];
        assert_eq!(
            did_you_mean("name1x", few.iter().map(String::as_str)),
            Some("name1")
        );
        // A name too long to be searched for, or to be offered.
        let long = "a".repeat(MAX_SUGGESTION_LEN + 1);
        let longer = format!("{long}b");
        assert_eq!(did_you_mean(&longer, [long.as_str()]), None);
        assert_eq!(did_you_mean(&long[1..], [long.as_str()]), None);
        // A budget of searches runs out.
        let mut budget = SuggestionBudget::default();
        for _ in 0..MAX_SUGGESTION_SEARCHES {
            assert_eq!(budget.did_you_mean("PRNT", ["PRINT"]), Some("PRINT"));
        }
        assert_eq!(budget.did_you_mean("PRNT", ["PRINT"]), None);
    }

    #[test]
    fn ties_go_to_the_first_name_in_order() {
        assert_eq!(did_you_mean("ab", ["ac", "aa"]), Some("aa"));
        assert_eq!(did_you_mean("ab", ["aa", "ac"]), Some("aa"));
    }

    #[test]
    fn suggestions_only_for_close_names() {
        let names = ["PRINT", "PUT", "POP"];
        assert_eq!(did_you_mean("PRNT", names), Some("PRINT"));
        assert_eq!(did_you_mean("pus", names), Some("PUT"));
        assert_eq!(did_you_mean("FROBNICATE", names), None);
    }

    /// `count` unused variables on one line, and their warnings.
    fn one_long_line(count: usize) -> (String, Vec<Diagnostic>) {
        let source: String = (0..count).map(|i| format!("var v{i}=1;")).collect();
        let warnings = crate::mova::compile::compile(&source, None)
            .unwrap()
            .warnings;
        assert_eq!(warnings.len(), count);
        (source, warnings.into_iter().map(Into::into).collect())
    }

    #[test]
    fn a_long_line_is_shortened_around_the_span() {
        let (source, diagnostics) = one_long_line(2_000);
        let at = source.find("v1000=").unwrap();
        let text = render(&diagnostics[1000..1001], "t.mova", &source, false);
        assert_eq!(
            text,
            format!(
                "[W0001] Warning: unused variable: `v1000`\n\
                 \x20  ╭─[ t.mova:1:{column} ]\n\
                 \x20  │\n\
                 \x201 │ ...=1;var v997=1;var v998=1;var v999=1;var v1000=1;var v1001=1;var v1002=1;var v1003=1;va...\n\
                 \x20  │                                            ──┬──  \n\
                 \x20  │                                              ╰──── declared, but never read\n\
                 \x20  │ \n\
                 \x20  │ Help: if this is intentional, prefix it with an underscore: `_v1000`\n\
                 ───╯\n\
                 For more information about this warning, try `movac --explain W0001`.\n",
                column = at + 1
            )
        );
    }

    #[test]
    fn diagnostics_on_one_line_cost_what_they_show_not_the_line() {
        // Drawing every warning with the whole line would take more than `count` times the
        // line's length; shortened, each takes a bounded size whatever the line's length.
        let (source, diagnostics) = one_long_line(1_000);
        let human = render(&diagnostics, "t.mova", &source, false);
        let json = render_json(&diagnostics, "t.mova", &source);
        let per_diagnostic = 800;
        assert!(source.len() > 10 * per_diagnostic);
        assert!(
            human.len() < diagnostics.len() * per_diagnostic,
            "{} bytes of human diagnostics",
            human.len()
        );
        assert!(
            json.len() < diagnostics.len() * per_diagnostic,
            "{} bytes of JSON",
            json.len()
        );
        let coloured = render(&diagnostics, "t.mova", &source, true);
        assert!(coloured.len() < diagnostics.len() * 4 * per_diagnostic);
    }

    #[test]
    fn a_secondary_block_is_headed_by_its_own_location() {
        let diagnostic = Diagnostic::error("E9999", "twice", 15..16, "again here")
            .with_secondary(4..5, "first here");
        let text = render(&[diagnostic], "t3.mova", "var x = 1;\nvar x = 2;\n", false);
        let headers: Vec<&str> = text.lines().filter(|line| line.contains("─[")).collect();
        assert_eq!(
            headers,
            ["   ╭─[ t3.mova:2:5 ]", "   ├─[ t3.mova:1:5 ]"],
            "{text}"
        );
    }
}
