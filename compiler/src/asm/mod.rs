//! The assembler: `.mvasm` text to a verified [`Program`].
//!
//! Three steps: [`lexer`] splits the text into tokens, [`parser`] reads lines (recovering from bad
//! ones), and [`assemble`] resolves mnemonics, operands and labels. Every problem found on the way
//! is an [`AsmError`]; all of them are reported together, and no program is produced if there is one.

mod errors;
pub mod lexer;
pub mod parser;
mod resolve;
pub mod string;

pub use errors::{AsmCode, AsmError};

use crate::diag::{Diagnostic, Span};
use crate::shared::{Internal, InvalidCharacter, TooLarge};
pub use errors::MAIN_WORD;
use errors::{END_OF_CODE, error_span};
use lexer::Token;
use mova_lang::debuginfo::{DEBUG_INFO, DebugInfo, FunctionName};
use mova_lang::func::{self, Function, MAX_FUNCTIONS, Returns};
use mova_lang::heap::{self, STRINGS};
use mova_lang::mvb::{MAX_INSTRUCTIONS, Program, Section, VerifyError};
use mova_lang::srcmap::SourceMap;
use mova_lang::verify::HeightError;
use parser::{Expected, Pattern};
use resolve::{FunctionDecl, Limits, Resolver};

/// Assembles `.mvasm` source into a verified program, or returns every problem found.
pub fn assemble(source: &str) -> Result<Program, Vec<Diagnostic>> {
    let (program, errors) = assemble_errors(source, None);
    match program {
        Some(program) if errors.is_empty() => Ok(program),
        Some(_) | None => Err(errors.into_iter().map(Diagnostic::from).collect()),
    }
}

/// Assembles `source`, returning the program (when there are no errors) and the errors, in source
/// order. With `source_map`, the program carries a source map naming that file and, when it has
/// functions, debug info naming them.
pub fn assemble_errors(source: &str, source_map: Option<&str>) -> (Option<Program>, Vec<AsmError>) {
    let limits = Limits {
        instructions: MAX_INSTRUCTIONS,
        functions: MAX_FUNCTIONS,
    };
    assemble_with_limits(source, limits, source_map)
}

/// [`assemble_errors`] with smaller limits, so tests can reach them.
fn assemble_with_limits(
    source: &str,
    limits: Limits,
    source_map: Option<&str>,
) -> (Option<Program>, Vec<AsmError>) {
    let tokens = lexer::lex(source);
    let mut errors: Vec<AsmError> = tokens
        .iter()
        .filter_map(|(token, span)| {
            if *token == Token::Error {
                Some(AsmError::InvalidCharacter(InvalidCharacter::at(
                    source, span,
                )))
            } else if matches!(token, Token::Unterminated(_)) {
                Some(AsmError::BadString {
                    span: span.clone(),
                    reason: string::StringError::Unterminated,
                })
            } else {
                None
            }
        })
        .collect();
    let (lines, syntax_errors) = parser::parse(&tokens, source.len());
    // An invalid character or an unterminated string was reported already; do not report it
    // again as unexpected.
    let invalid: Vec<Span> = tokens
        .iter()
        .filter(|(token, _)| matches!(token, Token::Error | Token::Unterminated(_)))
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

    let mut resolver = Resolver::new(&lines, limits, &mut errors);
    let (code, spans) = resolver.resolve(&lines);
    let declared = resolver.functions().to_vec();
    let strings = resolver.strings().to_vec();
    errors.sort_by_key(|error| error_span(error).start);
    if !errors.is_empty() {
        return (None, errors);
    }
    let functions: Vec<Function> = declared.iter().map(|decl| decl.function).collect();
    let mut sections = Vec::new();
    // The string constants, when there are some (a program without strings is as before).
    if !strings.is_empty() {
        sections.push(Section {
            kind: STRINGS,
            payload: heap::encode_strings(&strings),
        });
    }
    if let Some(file) = source_map {
        match SourceMap::new(file, source, spans.clone()).to_section() {
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
    if source_map.is_some() && !declared.is_empty() {
        sections.push(Section {
            kind: DEBUG_INFO,
            payload: debug_info(&declared).encode(),
        });
    }
    let len = code.len();
    match Program::with_functions(code, &functions, sections) {
        Ok(program) => (Some(program), errors),
        Err(error) => {
            // The verifier checks how the code and its functions fit together (the resolver
            // checks the rest, and what it can report at once); its error points at the
            // instruction it names.
            let at = Site {
                spans: &spans,
                declared: &declared,
                end: source.len(),
                len,
            };
            errors.push(at.error(error));
            (None, errors)
        }
    }
}

/// The debug info of an assembled program: the names of its functions, each at its `.fn` line,
/// and the main program's [`func::MAIN_NAME`] (as the compiler gives it); no locals, which
/// `.mvasm` does not name.
fn debug_info(declared: &[FunctionDecl<'_>]) -> DebugInfo {
    let main = FunctionName {
        function: func::MAIN,
        name: func::MAIN_NAME.to_owned(),
        span: 0..0,
    };
    let span = |span: &Span| {
        u32::try_from(span.start).unwrap_or(u32::MAX)..u32::try_from(span.end).unwrap_or(u32::MAX)
    };
    let functions = std::iter::once(main)
        .chain(
            (1..=u16::MAX)
                .zip(declared)
                .map(|(number, decl)| FunctionName {
                    function: number,
                    name: decl.name.to_owned(),
                    span: span(&decl.span),
                }),
        )
        .collect();
    DebugInfo {
        functions,
        locals: Vec::new(),
    }
}

/// What a verifier error is reported with: where each instruction is in the source, and the
/// functions as declared.
struct Site<'a, 's> {
    /// Each instruction's span.
    spans: &'a [Span],
    declared: &'a [FunctionDecl<'s>],
    /// The end of the source.
    end: usize,
    /// The number of instructions.
    len: usize,
}

impl Site<'_, '_> {
    /// The span of instruction `index` (the end of the source if there is none).
    fn span(&self, index: u32) -> Span {
        usize::try_from(index)
            .ok()
            .and_then(|index| self.spans.get(index))
            .cloned()
            .unwrap_or(self.end..self.end)
    }

    /// The name of function `function`: `main` for the main program.
    fn name(&self, function: u16) -> String {
        match function.checked_sub(1) {
            None => MAIN_WORD.to_owned(),
            Some(index) => self.declared.get(usize::from(index)).map_or_else(
                || format!("function {function}"),
                |decl| decl.name.to_owned(),
            ),
        }
    }

    /// What function `function` returns; `None` for the main program.
    fn returns(&self, function: u16) -> Option<Returns> {
        let index = function.checked_sub(1)?;
        Some(
            self.declared
                .get(usize::from(index))
                .map_or(Returns::Nothing, |decl| decl.function.returns()),
        )
    }

    /// What instruction `target` is part of, in words.
    fn place(&self, target: u32) -> String {
        if usize::try_from(target).is_ok_and(|target| target >= self.len) {
            return END_OF_CODE.to_owned();
        }
        let functions: Vec<Function> = std::iter::once(Function::MAIN)
            .chain(self.declared.iter().map(|decl| decl.function))
            .collect();
        match func::function_at(&functions, target) {
            func::MAIN => String::from("the main program"),
            function => format!("`{}`", self.name(function)),
        }
    }

    fn error(&self, error: VerifyError) -> AsmError {
        let end = self.end;
        match error {
            VerifyError::CallTarget {
                index,
                instr,
                function,
                count,
            } => AsmError::CallTarget {
                span: self.span(index),
                instr,
                function,
                count,
            },
            VerifyError::LeavesFunction {
                index,
                instr,
                target,
                function,
                ..
            } => AsmError::LeavesFunction {
                span: self.span(index),
                instr,
                target: self.place(target),
                jumps: instr.jump_target(index) == Some(mova_lang::isa::JumpTarget::Index(target)),
                function: self.name(function),
                returns: self.returns(function),
            },
            VerifyError::Return {
                index,
                instr,
                function,
                ..
            } => AsmError::Return {
                span: self.span(index),
                instr,
                function: self.name(function),
                returns: self.returns(function),
            },
            VerifyError::Heights { function, reason } => {
                let index = match &reason {
                    HeightError::Disagree { index, .. }
                    | HeightError::Underflow { index, .. }
                    | HeightError::Overflow { index, .. }
                    | HeightError::RefsDisagree { index, .. }
                    | HeightError::RefsUnderflow { index, .. }
                    | HeightError::RefsOverflow { index, .. } => *index,
                };
                let declared = function
                    .checked_sub(1)
                    .and_then(|index| self.declared.get(usize::from(index)))
                    .map(|decl| decl.span.clone());
                AsmError::Heights {
                    span: self.span(index),
                    declared,
                    function: self.name(function),
                    reason,
                }
            }
            VerifyError::TooManyFunctions { count } => AsmError::TooManyFunctions {
                span: end..end,
                count,
                limit: MAX_FUNCTIONS,
            },
            error @ (VerifyError::TooManyInstructions { .. }
            | VerifyError::TooManySections { .. }
            | VerifyError::JumpOutOfRange { .. }
            | VerifyError::UnknownSection { .. }
            | VerifyError::InvalidSection { .. }
            | VerifyError::DuplicateSection { .. }
            | VerifyError::Constant { .. }
            | VerifyError::SectionTooLarge { .. }) => verify_error(error, end),
        }
    }
}

/// A verifier error that no source causes (the resolver reports them first, or the assembler
/// never writes what they refuse), at the end of the file rather than lost.
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
        | VerifyError::Constant { .. }
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
        let limits = Limits {
            instructions: 2,
            functions: MAX_FUNCTIONS,
        };
        let (program, errors) = assemble_with_limits(source, limits, None);
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
    fn too_many_functions_is_reported_once_at_the_first_one_past_the_limit() {
        let source = "HALT\n.fn a 0 -> 0\nRET\n.fn b 0 -> 0\nRET\n.fn c 0 -> 0\nRET\n";
        let limits = Limits {
            instructions: MAX_INSTRUCTIONS,
            functions: 1,
        };
        let (program, errors) = assemble_with_limits(source, limits, None);
        assert_eq!(program, None);
        assert_eq!(
            errors.iter().map(AsmError::code).collect::<Vec<_>>(),
            ["A0018"]
        );
        let rendered =
            crate::diag::render(&[errors[0].clone().into()], "many.mvasm", source, false);
        mova_testkit::assert_snapshot!(
            "asm",
            "error-a0018_too_many_functions",
            format!("{source}\n── diagnostics ──\n{rendered}")
        );
    }

    #[test]
    fn refs_overflow_is_reported_at_the_instruction_that_overflows() {
        let pushes = mova_lang::isa::STACK_LIMIT + 1;
        let source = format!("{}HALT\n", "CONST \"a\"\n".repeat(pushes));
        let (program, errors) = assemble_errors(&source, None);
        assert_eq!(program, None);
        assert_eq!(
            errors.iter().map(AsmError::code).collect::<Vec<_>>(),
            ["A0026"]
        );
        let at = error_span(&errors[0]).start;
        assert_eq!(source[..at].lines().count(), pushes - 1);
        let rendered =
            crate::diag::render(&[errors[0].clone().into()], "deep.mvasm", &source, false);
        mova_testkit::assert_snapshot!(
            "asm",
            "error-a0026_refs_overflow",
            format!("{pushes} lines `CONST \"a\"`, then `HALT`\n── diagnostics ──\n{rendered}")
        );
    }

    #[test]
    fn string_literals_become_constants_each_text_once_in_order_of_first_use() {
        let source = "CONST \"b\"\nCONST \"a\\n\"\nCONST \"b\"\nCONCAT\nCONCAT\nPRINTR\nHALT\n";
        let program = assemble(source).unwrap();
        assert_eq!(
            &program.code()[..3],
            [Instr::Const(0), Instr::Const(1), Instr::Const(0)]
        );
        let constants: Vec<&[u8]> = program.constants().iter().map(|c| &c[..]).collect();
        assert_eq!(constants, [&b"b"[..], b"a\n"]);
        // A program without strings has no strings section.
        let plain = assemble("PUT 1\nPRINT\nHALT\n").unwrap();
        assert!(plain.sections().iter().all(|s| s.kind != STRINGS));
        assert!(plain.constants().is_empty());
    }

    #[test]
    fn string_lines_declare_the_first_constants_and_numbers_name_them() {
        let source = ".string \"x\"\n.string \"y\"\n.STRING \"x\"\n\
                      CONST \"y\"\nCONST 2\nCONST \"z\"\nCONST \"x\"\nRPOP\nRPOP\nRPOP\nRPOP\nHALT\n";
        let program = assemble(source).unwrap();
        assert_eq!(
            &program.code()[..4],
            [
                Instr::Const(1),
                Instr::Const(2),
                Instr::Const(3),
                Instr::Const(0)
            ]
        );
        let constants: Vec<&[u8]> = program.constants().iter().map(|c| &c[..]).collect();
        assert_eq!(constants, [&b"x"[..], b"y", b"x", b"z"]);
        assert_eq!(codes(".string \"x\"\nCONST 1\n"), ["A0025"]);
        assert_eq!(codes(".string 1\nHALT\n"), ["A0002"]);
        assert_eq!(codes(".string \"\\q\"\nHALT\n"), ["A0024"]);
    }

    #[test]
    fn fn_lines_declare_reference_parameters_and_results() {
        let source = "HALT\n.fn a 2r -> 1r\nCONCAT\nRETR\n.fn b 1 1r -> 1\nLEN\nADDL 0\nRETV\n\
                      .fn c 0 0r -> 0r\nRET\n";
        let program = assemble(source).unwrap();
        assert_eq!(
            program.functions()[1..],
            [
                Function {
                    entry: 1,
                    params: 0,
                    results: 0,
                    ref_params: 2,
                    ref_results: 1
                },
                Function {
                    entry: 3,
                    params: 1,
                    results: 1,
                    ref_params: 1,
                    ref_results: 0
                },
                Function::ints(6, 0, 0),
            ]
        );
        assert!(
            program
                .sections()
                .iter()
                .any(|s| s.kind == func::FUNCTIONS_REFS)
        );
        assert_eq!(codes("HALT\n.fn f 1r 1r -> 0\nRET\n"), ["A0021"]);
        assert_eq!(codes("HALT\n.fn f 1 -> 1 1\nRET\n"), ["A0002"]);
        assert_eq!(codes("HALT\n.fn f 1x -> 0\nRET\n"), ["A0006"]);
    }

    #[test]
    fn calls_resolve_names_and_numbers_and_debug_info_names_the_functions() {
        let source =
            "PUT 2\nCALL twice\nCALL 1\nPRINT\nHALT\n.fn twice 1 -> 1\nLOAD 0\nMULK 2\nRETV\n";
        let program = assemble(source).unwrap();
        assert_eq!(program.code()[1], Instr::Call(1));
        assert_eq!(program.code()[2], Instr::Call(1));
        assert_eq!(
            program.functions()[1..],
            [Function {
                entry: 5,
                params: 1,
                results: 1,
                ref_params: 0,
                ref_results: 0,
            }]
        );
        // Without -g, no debug info; with it, the names (main's too) and no locals.
        assert_eq!(program.debug_info(), None);
        let (with_g, errors) = assemble_errors(source, Some("t.mvasm"));
        assert_eq!(errors, []);
        let info = with_g.unwrap().debug_info().unwrap();
        assert_eq!(info.function_name(0), Some(func::MAIN_NAME));
        assert_eq!(info.function_name(1), Some("twice"));
        assert_eq!(info.functions[1].span, 35..51);
        assert_eq!(&source[35..51], ".fn twice 1 -> 1");
        assert!(info.locals.is_empty());
        // A program without functions gets no debug info, even with -g.
        let (plain, _) = assemble_errors("PUT 1\nPRINT\n", Some("p.mvasm"));
        assert_eq!(plain.unwrap().debug_info(), None);
    }

    #[test]
    fn verifier_errors_point_at_their_instruction() {
        let source = "CALL f\nHALT\n.fn f 0 -> 0\nPUT 1\nRETV\n";
        let (_, errors) = assemble_errors(source, None);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code(), "A0016");
        assert_eq!(&source[error_span(&errors[0]).clone()], "RETV");
        assert_eq!(
            errors[0].to_string(),
            "`RETV` in `f`, which returns no value"
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
