//! Diagnostics: the one data type every stage's errors convert to, and the one place they are rendered.
//!
//! Stages report errors as their own `thiserror` enums and convert them to [`Diagnostic`]s; only
//! [`render`] turns diagnostics into text, with ariadne, so every error looks the same and tests can
//! render without colour.

use ariadne::{Color, Config, IndexType, Label, Report, ReportKind, Source};
use mova_lang::srcmap::line_column;
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

/// Writes diagnostics about `source` (shown as `path`) to `out` as text for people.
pub fn write_human(
    out: &mut dyn Write,
    diagnostics: &[Diagnostic],
    path: &str,
    source: &str,
    color: bool,
) -> io::Result<()> {
    out.write_all(render(diagnostics, path, source, color).as_bytes())
}

/// Writes diagnostics about `source` (shown as `path`) to `out` as JSON, one object per line.
pub fn write_json(
    out: &mut dyn Write,
    diagnostics: &[Diagnostic],
    path: &str,
    source: &str,
) -> io::Result<()> {
    out.write_all(render_json(diagnostics, path, source).as_bytes())
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
    let mut cache = (path.to_owned(), Source::from(source));
    for diagnostic in diagnostics {
        let (kind, accent) = match diagnostic.severity {
            Severity::Error => (ReportKind::Error, Color::Red),
            Severity::Warning => (ReportKind::Warning, Color::Yellow),
        };
        let span = clamp(&diagnostic.span, source);
        let mut report = Report::build(kind, (path.to_owned(), span.clone()))
            .with_config(
                Config::new()
                    .with_index_type(IndexType::Byte)
                    .with_color(color),
            )
            .with_message(&diagnostic.message)
            .with_label(
                Label::new((path.to_owned(), span))
                    .with_message(&diagnostic.label)
                    .with_color(accent)
                    .with_priority(1),
            );
        if let Some(code) = diagnostic.code {
            report = report.with_code(code);
        }
        for (span, label) in &diagnostic.secondary {
            report = report.with_label(
                Label::new((path.to_owned(), clamp(span, source)))
                    .with_message(label)
                    .with_color(Color::Blue),
            );
        }
        if let Some(help) = &diagnostic.help {
            report = report.with_help(help);
        }
        // Writing into a Vec cannot fail; a failure would only lose this report's text.
        let _ = report.finish().write(&mut cache, &mut out);
    }
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

/// Renders diagnostics as JSON, one object per line, as rustc's `--error-format=json` does. Lines
/// and columns are 1-based, columns counted in characters; `span` holds byte offsets.
pub fn render_json(diagnostics: &[Diagnostic], path: &str, source: &str) -> String {
    let location = |span: &Span| {
        let span = clamp(span, source);
        let (line, column) = line_column(source, span.start);
        let (end_line, end_column) = line_column(source, span.end);
        serde_json::json!({
            "line": line,
            "column": column,
            "end_line": end_line,
            "end_column": end_column,
            "span": { "start": span.start, "end": span.end },
        })
    };
    let mut out = String::new();
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
        out.push_str(&value.to_string());
        out.push('\n');
    }
    out
}

/// Keeps a span inside the source, so a diagnostic at the end of the input still renders.
fn clamp(span: &Span, source: &str) -> Span {
    let end = span.end.min(source.len());
    span.start.min(end)..end
}

/// Suggests the candidate closest to `name`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let distance = strsim::levenshtein(&lower, &candidate.to_ascii_lowercase());
            (distance, candidate)
        })
        .filter(|&(distance, candidate)| distance <= (candidate.len().max(name.len()) / 3).max(1))
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
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
    fn suggestions_only_for_close_names() {
        let names = ["PRINT", "PUT", "POP"];
        assert_eq!(did_you_mean("PRNT", names), Some("PRINT"));
        assert_eq!(did_you_mean("pus", names), Some("PUT"));
        assert_eq!(did_you_mean("FROBNICATE", names), None);
    }
}
