//! An open document: its text, and what the compiler found in it.

use super::text::LineIndex;
use crate::diag::{Diagnostic, Severity, Span};
use crate::driver::MAX_SOURCE_LEN;
use crate::mova::analysis::Analysis;
use crate::mova::compile::{Analyzed, analyze};
use lsp_types::{
    DiagnosticRelatedInformation, DiagnosticSeverity, DiagnosticTag, Location, NumberOrString,
    Position, Range, Uri,
};

/// The byte order mark, which the compiler skips at the start of a source.
const BOM: &str = "\u{feff}";

/// An open `.mova` document.
#[derive(Clone, Debug)]
pub struct Document {
    pub uri: Uri,
    /// The editor's version of it.
    pub version: i32,
    text: String,
    index: LineIndex,
    /// Where the source the compiler reads starts: after a byte order mark, if there is one.
    start: usize,
    /// The diagnostics, as the compiler reports them (spans in the source).
    diagnostics: Vec<Diagnostic>,
    /// What the names resolve to (spans in the source).
    pub analysis: Analysis,
}

impl Document {
    /// Takes in a document's text and compiles it.
    pub fn new(uri: Uri, version: i32, text: String) -> Document {
        let start = if text.starts_with(BOM) { BOM.len() } else { 0 };
        let source = text.get(start..).unwrap_or_default();
        let (diagnostics, analysis) = if source.len() > MAX_SOURCE_LEN {
            let diagnostic = Diagnostic {
                severity: Severity::Error,
                code: None,
                message: format!(
                    "the document is {} bytes long, more than the compiler reads ({MAX_SOURCE_LEN} \
                     bytes): it is not compiled",
                    source.len()
                ),
                span: 0..0,
                label: String::new(),
                secondary: Vec::new(),
                help: None,
            };
            (vec![diagnostic], Analysis::default())
        } else {
            let Analyzed {
                diagnostics,
                analysis,
            } = analyze(source);
            (
                diagnostics.into_iter().map(Diagnostic::from).collect(),
                analysis,
            )
        };
        Document {
            uri,
            version,
            index: LineIndex::new(&text),
            text,
            start,
            diagnostics,
            analysis,
        }
    }

    /// The whole text, as the editor has it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The source the compiler reads (without a byte order mark).
    pub fn source(&self) -> &str {
        self.text.get(self.start..).unwrap_or_default()
    }

    /// The range of a span of the source.
    pub fn range(&self, span: &Span) -> Range {
        let span = span.start.saturating_add(self.start)..span.end.saturating_add(self.start);
        self.index.range(&self.text, &span)
    }

    /// The offset in the source of a position, or `None` for one past the last line.
    pub fn offset(&self, position: Position) -> Option<usize> {
        let offset = self.index.offset(&self.text, position)?;
        Some(offset.saturating_sub(self.start))
    }

    /// The offset of a position, or an error saying it is outside the document.
    pub fn offset_or_error(&self, position: Position) -> Result<usize, String> {
        self.offset(position).ok_or_else(|| {
            format!(
                "line {} is past the end of the document, which has {} lines",
                position.line,
                self.index.lines()
            )
        })
    }

    /// A location in this document.
    pub fn location(&self, span: &Span) -> Location {
        Location::new(self.uri.clone(), self.range(span))
    }

    /// The compiler's diagnostics in the protocol's terms.
    pub fn diagnostics(&self) -> Vec<lsp_types::Diagnostic> {
        self.diagnostics
            .iter()
            .map(|diagnostic| self.diagnostic(diagnostic))
            .collect()
    }

    fn diagnostic(&self, diagnostic: &Diagnostic) -> lsp_types::Diagnostic {
        let mut message = diagnostic.message.clone();
        if !diagnostic.label.is_empty() && diagnostic.label != diagnostic.message {
            message.push('\n');
            message.push_str(&diagnostic.label);
        }
        if let Some(help) = &diagnostic.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        let related: Vec<DiagnosticRelatedInformation> = diagnostic
            .secondary
            .iter()
            .map(|(span, label)| DiagnosticRelatedInformation {
                location: self.location(span),
                message: label.clone(),
            })
            .collect();
        // Unused and unreachable code is shown faded.
        let unnecessary = matches!(diagnostic.code, Some("W0001" | "W0002" | "W0004" | "W0005"));
        lsp_types::Diagnostic {
            range: self.range(&diagnostic.span),
            severity: Some(match diagnostic.severity {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
            }),
            code: diagnostic
                .code
                .map(|code| NumberOrString::String(code.to_owned())),
            code_description: None,
            source: Some(String::from("movac")),
            message,
            related_information: (!related.is_empty()).then_some(related),
            tags: unnecessary.then(|| vec![DiagnosticTag::UNNECESSARY]),
            data: None,
        }
    }

    /// The text with an edit applied: `range` replaced by `new`, or the whole text without a
    /// range. A range past the end is clamped to it.
    pub fn edited(&self, range: Option<Range>, new: &str) -> String {
        super::text::edited(&self.text, &self.index, range, new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn uri() -> Uri {
        Uri::from_str("file:///t.mova").unwrap()
    }

    #[test]
    fn diagnostics_carry_code_severity_related_places_and_help() {
        let text = "// é😀\nvar x = 1;\nvar x = 2;\nprint(x);\n";
        let document = Document::new(uri(), 1, text.to_owned());
        let diagnostics = document.diagnostics();
        assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
        let duplicate = &diagnostics[0];
        assert_eq!(duplicate.code, Some(NumberOrString::String("E0006".into())));
        assert_eq!(duplicate.severity, Some(DiagnosticSeverity::ERROR));
        assert_eq!(duplicate.range.start, Position::new(2, 4));
        let related = duplicate.related_information.as_ref().unwrap();
        assert_eq!(related[0].location.range.start, Position::new(1, 4));
        assert!(
            duplicate
                .message
                .starts_with("`x` is already declared in this scope")
        );
    }

    #[test]
    fn a_byte_order_mark_shifts_nothing_but_the_first_line() {
        let document = Document::new(uri(), 1, format!("{BOM}var y = 1;"));
        let diagnostics = document.diagnostics();
        assert_eq!(
            diagnostics[0].code,
            Some(NumberOrString::String("W0001".into()))
        );
        // The mark is one UTF-16 unit.
        assert_eq!(diagnostics[0].range.start, Position::new(0, 5));
        assert_eq!(document.offset(Position::new(0, 5)), Some(4));
    }

    #[test]
    fn a_document_larger_than_a_source_is_not_compiled() {
        let document = Document::new(uri(), 1, " ".repeat(MAX_SOURCE_LEN + 1));
        let diagnostics = document.diagnostics();
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].message.contains("not compiled"));
    }

    #[test]
    fn edits_replace_ranges() {
        let document = Document::new(uri(), 1, String::from("ab\ncé\n"));
        let range = Range::new(Position::new(1, 1), Position::new(1, 2));
        assert_eq!(document.edited(Some(range), "x"), "ab\ncx\n");
        assert_eq!(document.edited(None, "new"), "new");
        let past = Range::new(Position::new(9, 0), Position::new(9, 0));
        assert_eq!(document.edited(Some(past), "!"), "ab\ncé\n!");
    }
}
