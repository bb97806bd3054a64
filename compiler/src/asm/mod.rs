//! The assembler: `.mvasm` text to a verified [`Program`].
//!
//! Three steps: [`lexer`] splits the text into tokens, [`parser`] reads lines (recovering from bad
//! ones), and [`assemble`] resolves mnemonics, operands and labels. Every problem found on the way
//! is an [`AsmError`]; all of them are reported together, and no program is produced if there is one.

mod errors;
pub mod lexer;
pub mod parser;
mod resolve;

pub use errors::{AsmCode, AsmError};

use crate::diag::{Diagnostic, Span};
use crate::shared::{Internal, InvalidCharacter, TooLarge};
use errors::error_span;
use lexer::Token;
use mova_lang::mvb::{MAX_INSTRUCTIONS, Program, VerifyError};
use mova_lang::srcmap::SourceMap;
use parser::{Expected, Pattern};
use resolve::Resolver;

/// Assembles `.mvasm` source into a verified program, or returns every problem found.
pub fn assemble(source: &str) -> Result<Program, Vec<Diagnostic>> {
    let (program, errors) = assemble_errors(source, None);
    match program {
        Some(program) if errors.is_empty() => Ok(program),
        Some(_) | None => Err(errors.into_iter().map(Diagnostic::from).collect()),
    }
}

/// Assembles `source`, returning the program (when there are no errors) and the errors, in source
/// order. With `source_map`, the program carries a source map naming that file.
pub fn assemble_errors(source: &str, source_map: Option<&str>) -> (Option<Program>, Vec<AsmError>) {
    assemble_with_limit(source, MAX_INSTRUCTIONS, source_map)
}

/// [`assemble_errors`] with a smaller instruction limit, so tests can reach it.
fn assemble_with_limit(
    source: &str,
    limit: u32,
    source_map: Option<&str>,
) -> (Option<Program>, Vec<AsmError>) {
    let tokens = lexer::lex(source);
    let mut errors: Vec<AsmError> = tokens
        .iter()
        .filter(|(token, _)| *token == Token::Error)
        .map(|(_, span)| AsmError::InvalidCharacter(InvalidCharacter::at(source, span)))
        .collect();
    let (lines, syntax_errors) = parser::parse(&tokens, source.len());
    // An invalid character was reported already; do not report it again as unexpected.
    let invalid: Vec<Span> = tokens
        .iter()
        .filter(|(token, _)| *token == Token::Error)
        .map(|(_, span)| span.clone())
        .collect();
    errors.extend(
        syntax_errors
            .into_iter()
            .filter(|error| !invalid.contains(&error.span))
            .map(|error| AsmError::Syntax {
                found: error.found_text(),
                at_line_end: matches!(error.found, None | Some(Token::Newline)),
                expected: match &error.expected {
                    Expected::OneOf(expected) => Pattern::describe_all(expected),
                    Expected::Message(message) => vec![message.clone()],
                },
                span: error.span,
            }),
    );

    let mut resolver = Resolver::new(&lines, limit, &mut errors);
    let (code, spans) = resolver.resolve(&lines);
    errors.sort_by_key(|error| error_span(error).start);
    if !errors.is_empty() {
        return (None, errors);
    }
    let mut sections = Vec::new();
    if let Some(file) = source_map {
        match SourceMap::new(file, source, spans).to_section() {
            Ok(section) => sections.push(section),
            Err(error) => {
                errors.push(AsmError::TooLarge(TooLarge {
                    span: source.len()..source.len(),
                    what: format!("cannot make its source map: {error}"),
                }));
                return (None, errors);
            }
        }
    }
    match Program::with_sections(code, sections) {
        Ok(program) => (Some(program), errors),
        Err(error) => {
            // The resolver checks what the verifier checks, so this only guards against the two
            // drifting apart: report it at the end of the file rather than lose it.
            errors.push(verify_error(error, source.len()));
            (None, errors)
        }
    }
}

fn verify_error(error: VerifyError, end: usize) -> AsmError {
    match error {
        VerifyError::TooManyInstructions { .. }
        | VerifyError::TooManySections { .. }
        | VerifyError::SectionTooLarge { .. } => AsmError::TooLarge(TooLarge {
            span: end..end,
            what: error.to_string(),
        }),
        VerifyError::JumpOutOfRange {
            index,
            instr,
            target,
            len,
        } => AsmError::JumpOutOfRange {
            span: end..end,
            instr,
            index,
            target,
            len,
        },
        VerifyError::UnknownSection { .. }
        | VerifyError::InvalidSection { .. }
        | VerifyError::DuplicateSection { .. }
        | VerifyError::TooManyFunctions { .. }
        | VerifyError::CallTarget { .. }
        | VerifyError::LeavesFunction { .. }
        | VerifyError::Return { .. }
        | VerifyError::Heights { .. } => AsmError::Internal(Internal {
            span: end..end,
            what: error.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mova_lang::isa::Instr;

    fn codes(source: &str) -> Vec<&'static str> {
        assemble_errors(source, None)
            .1
            .iter()
            .map(AsmError::code)
            .collect()
    }

    #[test]
    fn assembles_the_seed_listing() {
        let program = assemble("PUT 0\nADD 1\nPRINT\nSLEEP 100\nGOTO 3\n").unwrap();
        assert_eq!(program.code(), mova_lang::strategies::seed_program().code());
    }

    #[test]
    fn labels_become_the_distances_of_each_jump_kind() {
        let program = assemble("top: PUT 1\nJZ end\nGOTO top\nJMP top\nend:").unwrap();
        assert_eq!(
            program.code(),
            [Instr::Put(1), Instr::Jz(3), Instr::Goto(2), Instr::Jmp(-3)]
        );
    }

    #[test]
    fn mnemonics_are_case_insensitive_and_labels_are_not() {
        assert!(assemble("Loop: put 1\ngoto Loop").is_ok());
        assert_eq!(codes("Loop: put 1\ngoto loop"), ["A0010"]);
    }

    #[test]
    fn reports_several_errors_in_one_run() {
        assert_eq!(
            codes("PUTT 1\nPRINT 3\nPUT\nSLEEP -1\nGOTO nowhere\nPUT 1 2\nx: x: HALT\nJMP 9\n$"),
            [
                "A0003", "A0005", "A0004", "A0007", "A0010", "A0002", "A0008", "A0012", "A0001"
            ]
        );
    }

    #[test]
    fn goto_to_a_later_label_is_refused() {
        assert_eq!(codes("GOTO later\nlater: HALT"), ["A0011"]);
        assert_eq!(codes("here: GOTO here"), Vec::<&str>::new());
    }

    #[test]
    fn too_many_instructions_is_reported_once_at_the_first_one_past_the_limit() {
        let source = "PUT 1\nPRINT\nPOP\nHALT\n";
        let (program, errors) = assemble_with_limit(source, 2, None);
        assert_eq!(program, None);
        assert_eq!(
            errors.iter().map(AsmError::code).collect::<Vec<_>>(),
            ["A0013"]
        );
        let rendered = crate::diag::render(&[errors[0].clone().into()], "big.mvasm", source, false);
        mova_testkit::assert_snapshot!(
            "asm",
            "error-a0013_too_many_instructions",
            format!("{source}\n── diagnostics ──\n{rendered}")
        );
    }

    #[test]
    fn a_program_the_verifier_refuses_is_an_internal_error_not_a_syntax_error() {
        let error = verify_error(VerifyError::UnknownSection { kind: 7, index: 0 }, 12);
        assert_eq!(error.code(), "A9999");
        let diagnostic = Diagnostic::from(error);
        assert_eq!(diagnostic.span, 12..12);
        assert!(
            diagnostic.message.starts_with("internal compiler error: "),
            "{diagnostic:?}"
        );
        assert!(diagnostic.help.is_some_and(|help| help.contains("a bug")));
    }

    #[test]
    fn numbers_are_checked_for_their_operand_kind() {
        assert_eq!(codes("PUT 12ab"), ["A0006"]);
        assert_eq!(codes("PUT 99999999999999999999"), ["A0007"]);
        assert_eq!(codes("LOAD 65536"), ["A0007"]);
        assert_eq!(codes("PUT label\nlabel:"), ["A0009"]);
        assert_eq!(codes("PUT -9223372036854775808"), Vec::<&str>::new());
    }
}
