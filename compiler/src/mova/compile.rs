//! The `.mova` pipeline: source → [`syntax`](crate::mova::syntax) → [`check`](crate::mova::check) →
//! [`codegen`](crate::mova::codegen) → a verified [`Program`], optionally with a source map.

use crate::mova::analysis::Analysis;
use crate::mova::errors::LangError;
use crate::mova::{check, codegen, hir, syntax};
use mova_lang::debuginfo::DEBUG_INFO;
use mova_lang::mvb::{Program, Section, VerifyError};
use mova_lang::srcmap::SourceMap;

/// A successful compilation: the program and the warnings found on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compiled {
    pub program: Program,
    /// Warnings, in source order.
    pub warnings: Vec<LangError>,
}

/// Compiles `source`. With `source_map`, the program carries a source map naming that file, so
/// that runtime traps can point at the source, and debug info (each function's name, each
/// variable's slot and live range); without, the bytecode is exactly the instructions and the
/// function table (so the seed program's `.mvb` is byte-identical to the one assembled from the
/// seed listing).
///
/// On failure, returns every error and warning, in source order.
pub fn compile(source: &str, source_map: Option<&str>) -> Result<Compiled, Vec<LangError>> {
    // Every stage recurses as deep as the program nests, so all of them run on a stack of known
    // size, whatever the caller's.
    syntax::on_front_end_stack(|| compile_here(source, source_map, None))
        .unwrap_or_else(|why| Err(vec![LangError::internal(0..0, why)]))
}

/// What tools need of a source: every diagnostic [`compile`] reports for it (without a source
/// map, as `movac check` compiles), and what its names resolve to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analyzed {
    /// The errors and warnings, in source order.
    pub diagnostics: Vec<LangError>,
    /// What the checker resolved. A program with syntax errors reports only those, but the
    /// checker still runs on what the parser recovered, so that most names resolve while a
    /// statement is being typed (its diagnostics are dropped, as they could be false).
    pub analysis: Analysis,
}

/// Compiles `source` as [`compile`] does, recording what its names resolve to.
pub fn analyze(source: &str) -> Analyzed {
    syntax::on_front_end_stack(|| {
        let mut analysis = Analysis::default();
        let diagnostics = match compile_here(source, None, Some(&mut analysis)) {
            Ok(compiled) => compiled.warnings,
            Err(all) => all,
        };
        Analyzed {
            diagnostics,
            analysis,
        }
    })
    .unwrap_or_else(|why| Analyzed {
        diagnostics: vec![LangError::internal(0..0, why)],
        analysis: Analysis::default(),
    })
}

/// A compiled entry of an interactive session ([`compile_entry`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The session's earlier entries and this one, as one program.
    pub program: Program,
    /// The first instruction of the entry's own main-program code: the session resumes there,
    /// in the state its earlier entries left (the stacks then hold exactly the top-level
    /// variables, in declaration order, as they do between any two top-level statements).
    pub start: u32,
    /// Where the main program ends (see [`codegen::Marks::end`]): a run that halts there
    /// finished the entry; one that halts anywhere else executed `halt;`.
    pub end: u32,
    /// The warnings about the entry.
    pub warnings: Vec<LangError>,
    /// The session's top-level variables (its earlier entries' and this one's), in declaration
    /// order.
    pub variables: Vec<TopLevel>,
}

/// A top-level variable of a session: the state an entry leaves holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopLevel {
    pub name: String,
    /// Its type, as the language writes it (`int`, `str`, `[[int]]`).
    pub ty: String,
    /// Whether it lives on the reference stack (a string or an array) rather than the int stack.
    pub reference: bool,
    /// Its slot on that stack.
    pub slot: usize,
}

/// Compiles an entry of an interactive session: `source` is the session's earlier entries (each
/// compiled before, in order) followed, from byte `entry`, by the new one. The result is the
/// program [`compile`] makes of `source` (the same code), and where the entry's code starts and
/// the main program ends.
///
/// Only the entry's diagnostics are kept (the earlier entries' were reported when they were
/// compiled; an error outside the entry, which no entry after accepted ones can cause, would
/// still be kept), without the warnings that a later entry can make wrong: an unused top-level
/// variable (W0001) or an unused function (W0004).
pub fn compile_entry(
    source: &str,
    entry: usize,
    source_map: Option<&str>,
) -> Result<Entry, Vec<LangError>> {
    let compiled =
        syntax::on_front_end_stack(|| compile_marked(source, source_map, Some(entry), None))
            .unwrap_or_else(|why| Err(vec![LangError::internal(0..0, why)]))?;
    let (compiled, marks, variables) = compiled;
    let marks = marks.unwrap_or(codegen::Marks { start: 0, end: 0 });
    let at = |offset: usize| u32::try_from(offset).unwrap_or(u32::MAX);
    Ok(Entry {
        program: compiled.program,
        start: at(marks.start),
        end: at(marks.end),
        warnings: compiled.warnings,
        variables,
    })
}

fn compile_here(
    source: &str,
    source_map: Option<&str>,
    analysis: Option<&mut Analysis>,
) -> Result<Compiled, Vec<LangError>> {
    compile_marked(source, source_map, None, analysis).map(|(compiled, ..)| compiled)
}

/// The diagnostics of an entry of a session that starts at byte `entry`, `top_level` the
/// names of its top-level variables: see [`compile_entry`].
fn entry_diagnostics(
    diagnostics: Vec<LangError>,
    entry: usize,
    top_level: &std::collections::HashSet<crate::diag::Span>,
) -> Vec<LangError> {
    diagnostics
        .into_iter()
        .filter(|error| {
            if is_error(error) {
                return true;
            }
            let stale = matches!(error, LangError::UnusedFunction { .. })
                || matches!(error, LangError::UnusedVariable { span, .. } if top_level.contains(span));
            error.span().start >= entry && !stale
        })
        .collect()
}

fn compile_marked(
    source: &str,
    source_map: Option<&str>,
    mark: Option<usize>,
    analysis: Option<&mut Analysis>,
) -> Result<(Compiled, Option<codegen::Marks>, Vec<TopLevel>), Vec<LangError>> {
    let (stmts, syntax_errors) = syntax::parse_here(source);
    // A program that does not parse is not checked: a statement skipped by the parser's recovery
    // may hold the declaration or the use that a semantic diagnostic would miss, so every one of
    // them could be a false report. Go and Python stop at syntax errors too.
    if !syntax_errors.is_empty() {
        if let Some(analysis) = analysis {
            *analysis = check::check_recording(&stmts).2;
        }
        return Err(syntax_errors);
    }
    let (program, diagnostics) = match analysis {
        Some(analysis) => {
            let (program, diagnostics, recorded) = check::check_recording(&stmts);
            *analysis = recorded;
            (program, diagnostics)
        }
        // Code generation reads the checked program only: the syntax tree goes as it is
        // checked, so a large input's two trees are never both whole.
        None => check::check_owned(stmts),
    };
    let declared: Vec<&hir::Variable> = program
        .body
        .iter()
        .filter_map(|stmt| {
            if let hir::StmtKind::Declare { var, .. } = &stmt.kind {
                program.vars.get(var.0)
            } else {
                None
            }
        })
        .collect();
    let mut diagnostics = match mark {
        Some(entry) => {
            let top_level = declared.iter().map(|var| var.span.clone()).collect();
            entry_diagnostics(diagnostics, entry, &top_level)
        }
        None => diagnostics,
    };
    let mut slots = [0usize; 2];
    let variables = declared
        .iter()
        .map(|var| {
            let reference = var.ty.is_ref();
            let slot = &mut slots[usize::from(reference)];
            *slot += 1;
            TopLevel {
                name: var.name.clone(),
                ty: var.ty.to_string(),
                reference,
                slot: *slot - 1,
            }
        })
        .collect();
    if diagnostics.iter().any(is_error) {
        return Err(diagnostics);
    }
    let generated = match mark {
        Some(mark) => {
            codegen::generate_marked(&program, mark).map(|(code, marks)| (code, Some(marks)))
        }
        None => codegen::generate(&program).map(|code| (code, None)),
    };
    let (mut generated, marks) = match generated {
        Ok(generated) => generated,
        Err(error) => {
            diagnostics.push(error);
            return Err(diagnostics);
        }
    };
    let mut sections = Vec::new();
    // A program without strings has no strings section, so that its bytes are what they were
    // before there were strings.
    if !generated.strings.is_empty() {
        sections.push(Section {
            kind: mova_lang::heap::STRINGS,
            payload: mova_lang::heap::encode_strings(&generated.strings),
        });
    }
    if let Some(file) = source_map {
        match SourceMap::new(file, source, generated.spans.iter().cloned()).to_section() {
            Ok(section) => sections.push(section),
            Err(error) => {
                diagnostics.push(too_large(source.len(), error.to_string()));
                return Err(diagnostics);
            }
        }
        // The main program's declaration is the whole source.
        let end = u32::try_from(source.len()).unwrap_or(u32::MAX);
        for name in &mut generated.debug.functions {
            if name.function == mova_lang::func::MAIN {
                name.span = 0..end;
            }
        }
        sections.push(Section {
            kind: DEBUG_INFO,
            payload: generated.debug.encode(),
        });
    }
    match Program::with_functions(generated.code, &generated.functions, sections) {
        Ok(program) => Ok((
            Compiled {
                program,
                warnings: diagnostics,
            },
            marks,
            variables,
        )),
        Err(
            error @ (VerifyError::TooManyInstructions { .. }
            | VerifyError::TooManySections { .. }
            | VerifyError::SectionTooLarge { .. }),
        ) => {
            diagnostics.push(too_large(source.len(), error.to_string()));
            Err(diagnostics)
        }
        Err(
            error @ (VerifyError::JumpOutOfRange { .. }
            | VerifyError::UnknownSection { .. }
            | VerifyError::InvalidSection { .. }
            | VerifyError::DuplicateSection { .. }
            | VerifyError::TooManyFunctions { .. }
            | VerifyError::CallTarget { .. }
            | VerifyError::LeavesFunction { .. }
            | VerifyError::Return { .. }
            | VerifyError::Constant { .. }
            | VerifyError::Heights { .. }),
        ) => {
            // Code generation only emits verified shapes; if that ever breaks, say so rather
            // than write a file the VM would refuse.
            let end = source.len();
            diagnostics.push(LangError::internal(end..end, error.to_string()));
            Err(diagnostics)
        }
    }
}

/// Whether a diagnostic stops compilation.
pub fn is_error(error: &LangError) -> bool {
    error.severity() == crate::diag::Severity::Error
}

fn too_large(end: usize, what: String) -> LangError {
    LangError::too_large(end..end, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mova_lang::func::Function;
    use mova_lang::isa::Instr;

    fn code(source: &str) -> Vec<Instr> {
        match compile(source, None) {
            Ok(compiled) => compiled.program.code().to_vec(),
            Err(errors) => panic!("{errors:#?}"),
        }
    }

    #[test]
    fn the_seed_program_compiles_to_the_seed_instructions() {
        assert_eq!(
            code("var i = 0;\nloop:\n    i++;\n    print(i);\n    sleep(100);\n"),
            mova_lang::strategies::seed_program().code()
        );
    }

    #[test]
    fn the_same_rule_applies_to_other_programs() {
        // A braced, named loop counting down: the top variable is updated and printed in place.
        assert_eq!(
            code("var n = 10;\ncount: {\n    n -= 2;\n    print(n);\n}\n"),
            [Instr::Put(10), Instr::Add(-2), Instr::Print, Instr::Goto(2)]
        );
        // With a second variable on top, the first is updated in its slot.
        assert_eq!(
            code("var a = 1;\nvar b = 2;\nloop { a++; print(b); }"),
            [
                Instr::Put(1),
                Instr::Put(2),
                Instr::AddKTo(0, 1),
                Instr::Print,
                Instr::Goto(2),
            ]
        );
    }

    #[test]
    fn an_int_joins_a_string_without_a_string_of_its_own() {
        // `s + str(n)`, `s += str(n)` and an int printed after another value are `CONCATI`.
        assert_eq!(
            code("var n = 4;\nvar s = \"n=\" + str(n);\ns += str(n * 2);\nprint(s, n);"),
            [
                Instr::Put(4),
                Instr::Const(0),
                Instr::Dup,
                Instr::ConcatI,
                Instr::Dup,
                Instr::MulK(2),
                Instr::ConcatI,
                Instr::RDup,
                Instr::Const(1),
                Instr::Concat,
                Instr::Dup,
                Instr::ConcatI,
                Instr::PrintR,
            ]
        );
    }

    #[test]
    fn a_jump_to_an_unconditional_jump_goes_straight_to_its_target() {
        // The outer loop's test jumps back to its body, whose first statement is the inner
        // loop's `JMP` to its test: the test goes straight there (`JLTKP 5, L5`, not `L3`).
        assert_eq!(
            code("var a = 0;\nvar b = 0;\nwhile a < 5 {\n    while b < a { b++; }\n    a++;\n}"),
            [
                Instr::Put(0),
                Instr::Put(0),
                Instr::Jmp(6),
                Instr::Jmp(2),
                Instr::Add(1),
                Instr::Dup,
                Instr::JltLP(0, -2),
                Instr::AddKTo(0, 1),
                Instr::Load(0),
                Instr::JltKP(5, -4),
            ]
        );
    }

    #[test]
    fn slot_forms_of_updates_comparisons_and_element_access() {
        // A variable below the top updated by a constant, in its slot.
        assert_eq!(
            code("var x = 9;\nvar y = 0;\nx /= 2;\nx *= 3;\nx %= 5;\nx -= 1;\nprint(y);"),
            [
                Instr::Put(9),
                Instr::Put(0),
                Instr::DivKTo(0, 2),
                Instr::MulKTo(0, 3),
                Instr::ModKTo(0, 5),
                Instr::AddKTo(0, -1),
                Instr::Print,
            ]
        );
        // A computed value, or a variable below the top, compared with a constant or a variable:
        // computed, then one jump that pops it (`JNEKP`, `JGTLP`); a constant or a variable on the
        // left is mirrored (`1 < x` is `x > 1`, `y >= x % 3` is `x % 3 <= y`).
        assert_eq!(
            code(
                "var x = 7;\nvar y = 2;\nwhile x != 1 { x--; }\nif 1 < x { print(1); }\n\
                 if x * 2 > y { print(2); }\nif y >= x % 3 { print(3); }\nprint(y);"
            ),
            [
                Instr::Put(7),
                Instr::Put(2),
                Instr::Jmp(2),
                Instr::AddKTo(0, -1),
                Instr::Load(0),
                Instr::JneKP(1, -2),
                Instr::Load(0),
                Instr::JleKP(1, 4),
                Instr::Put(1),
                Instr::Print,
                Instr::Pop,
                Instr::Load(0),
                Instr::MulK(2),
                Instr::JleLP(1, 4),
                Instr::Put(2),
                Instr::Print,
                Instr::Pop,
                Instr::Load(0),
                Instr::ModK(3),
                Instr::JgtLP(1, 4),
                Instr::Put(3),
                Instr::Print,
                Instr::Pop,
                Instr::Print,
            ]
        );
        // Strings: `CMP`, then its -1, 0 or 1 against 0 in one jump.
        assert_eq!(
            code("var s = \"a\";\nvar t = \"b\";\nif s < t { print(1); }"),
            [
                Instr::Const(0),
                Instr::Const(1),
                Instr::RLoad(0),
                Instr::RLoad(1),
                Instr::Cmp,
                Instr::JgeKP(0, 4),
                Instr::Put(1),
                Instr::Print,
                Instr::Pop,
            ]
        );
        // An element of an array of ints (or a byte of a string) with the array and the index
        // in variables: `GETL`, `SETL` (`a[i] += v` too), whatever the value.
        assert_eq!(
            code(
                "var a = [5, 6];\nvar i = 1;\nvar v = a[i];\na[i] = v;\na[i] += 2;\n\
                 var s = \"hi\";\nprint(s[i]);"
            ),
            [
                Instr::NewI,
                Instr::Put(5),
                Instr::Append,
                Instr::Put(6),
                Instr::Append,
                Instr::Put(1),
                Instr::GetL(0, 0),
                Instr::Dup,
                Instr::SetL(0, 0),
                Instr::GetL(0, 0),
                Instr::Add(2),
                Instr::SetL(0, 0),
                Instr::Const(0),
                Instr::GetL(1, 0),
                Instr::Print,
                Instr::Pop,
            ]
        );
    }

    #[test]
    fn constants_fold_and_conditions_become_jumps() {
        assert_eq!(
            code("print(2 * 3 + 1);"),
            [Instr::Put(7), Instr::Print, Instr::Pop]
        );
        assert_eq!(
            code("var x = 5;\nwhile x > 0 && x != 3 { x--; }\nprint(x);"),
            // The test is at the bottom of the loop, and each comparison of the top variable with
            // a constant is one instruction that leaves it in place.
            [
                Instr::Put(5),
                Instr::Jmp(2),
                Instr::Add(-1),
                Instr::JleK(0, 2),
                Instr::JneK(3, -2),
                Instr::Print,
            ]
        );
        assert_eq!(
            code("while false { print(1); }"),
            [Instr::Jmp(4), Instr::Put(1), Instr::Print, Instr::Pop]
        );
    }

    #[test]
    fn peepholes_for_zero_tests_and_conditional_breaks() {
        // `n % 2 == 0` tests `n % 2` itself; `if … { break; }` is one jump.
        assert_eq!(
            code("var n = 10;\nloop { if n % 2 == 0 { break; } n--; }\nprint(n);"),
            [
                Instr::Put(10),
                Instr::Dup,
                Instr::ModK(2),
                Instr::Jz(3),
                Instr::Add(-1),
                Instr::Goto(4),
                Instr::Print,
            ]
        );
    }

    #[test]
    fn immediate_arithmetic_and_accumulating_into_a_variable() {
        // `x = x * 3` is `x *= 3`, one MULK on the top variable; `t += …` on another variable
        // computes the value and adds it into the slot.
        assert_eq!(
            code("var t = 0;\nvar x = 2;\nx = x * 3;\nt += x % 4;\nprint(t);"),
            [
                Instr::Put(0),
                Instr::Put(2),
                Instr::MulK(3),
                Instr::Dup,
                Instr::ModK(4),
                Instr::AddTo(0),
                Instr::Load(0),
                Instr::Print,
                Instr::Pop,
            ]
        );
        // A variable operand of a compound assignment to the top variable is read from its slot:
        // `m += p` is one `ADDL`, `m -= p` one `SUBL`, `m = p * m` one `MULL`.
        assert_eq!(
            code("var p = 3;\nvar m = 1;\nm += p;\nm -= p;\nm = p * m;\nm /= p;\nprint(m);"),
            [
                Instr::Put(3),
                Instr::Put(1),
                Instr::AddL(0),
                Instr::SubL(0),
                Instr::MulL(0),
                Instr::Load(0),
                Instr::Div,
                Instr::Print,
            ]
        );
        // A constant on the left of `*` moves right; `k < x` is `x > k`.
        assert_eq!(
            code("var x = 1;\nwhile 100 > x { x = 2 * x; }\nprint(x);"),
            [
                Instr::Put(1),
                Instr::Jmp(2),
                Instr::MulK(2),
                Instr::JltK(100, -1),
                Instr::Print
            ]
        );
    }

    #[test]
    fn counting_loops_step_and_test_in_one_instruction() {
        // `while i < k { …; i++; }` with `i` on top: an entry test, then INCJLT.
        assert_eq!(
            code("var i = 0;\nwhile i < 10 {\n    print(i);\n    i = i + 1;\n}"),
            [
                Instr::Put(0),
                Instr::JgeK(10, 3),
                Instr::Print,
                Instr::IncJlt(10, -1),
            ]
        );
        // A `continue` must skip the step, so such a loop keeps its separate test.
        let with_continue =
            code("var i = 0;\nwhile i < 10 {\n    i++;\n    if i == 5 { continue; }\n    i++;\n}");
        assert!(
            !with_continue
                .iter()
                .any(|instr| matches!(instr, Instr::IncJlt(..))),
            "{with_continue:?}"
        );
    }

    #[test]
    fn break_and_continue_drop_the_variables_of_the_scopes_they_leave() {
        assert_eq!(
            code("outer: {\n    var t = 1;\n    loop { var u = 2; break outer; }\n}\nhalt;"),
            [
                Instr::Put(1),
                Instr::Put(2),
                Instr::Pop,
                Instr::Pop,
                Instr::Jmp(5),
                Instr::Pop,
                Instr::Goto(5),
                Instr::Pop,
                Instr::Goto(8),
                Instr::Halt,
            ]
        );
    }

    #[test]
    fn a_syntax_error_hides_the_semantic_diagnostics_it_could_cause() {
        // The use of `x` is in a statement that does not parse, so `x` is not unused; the
        // declaration of `y` does not parse, so its use is not an unknown variable.
        for source in [
            "var x = 1;\nprint(x +);\n",
            "var y = 1 +;\nprint(y);\n",
            "var z = 1 $ 2;\nprint(z);\nbreak;\n",
        ] {
            let errors = compile(source, None).unwrap_err();
            let codes: Vec<&str> = errors.iter().map(LangError::code).collect();
            assert!(
                codes.iter().all(|code| ["E0001", "E0002"].contains(code)),
                "{source:?}: {codes:?}"
            );
        }
    }

    #[test]
    #[allow(clippy::wildcard_enum_match_arm)]
    fn only_the_first_misspellings_get_a_suggestion() {
        use crate::diag::MAX_SUGGESTION_SEARCHES;
        let mut source = String::from("var count = 0;\nouter: {\n");
        for _ in 0..MAX_SUGGESTION_SEARCHES + 10 {
            source.push_str("print(cout);\ncont = 1;\nbreak outr;\n");
        }
        source.push_str("print(count);\n}\n");
        let errors = compile(&source, None).unwrap_err();
        let suggested: Vec<bool> = errors
            .iter()
            .map(|error| match error {
                LangError::UnknownVariable { suggestion, .. }
                | LangError::UndeclaredAssignment { suggestion, .. }
                | LangError::UnknownLabel { suggestion, .. } => suggestion.is_some(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(suggested.len(), 3 * (MAX_SUGGESTION_SEARCHES + 10));
        assert!(suggested[..MAX_SUGGESTION_SEARCHES].iter().all(|s| *s));
        assert!(!suggested[MAX_SUGGESTION_SEARCHES..].iter().any(|s| *s));
    }

    /// Programs nested `n` levels deep in each way there is, with the byte offset of the token
    /// that opens the deepest level. The test threads' small stacks (2 MiB) show that every stage
    /// takes the limit.
    fn nested(n: usize) -> Vec<(String, usize)> {
        let wrap = |open: &str, inner: &str, close: &str| {
            let text = format!("{}{inner}{}", open.repeat(n), close.repeat(n));
            let deepest =
                open.len() * n - open.len() + open.find(['(', '{', '-', '!']).unwrap_or(0);
            (text, deepest)
        };
        let (parens, at) = wrap("(", "x", ")");
        let (blocks, block_at) = wrap("{", "x = 2;", "}");
        // Every precedence level on the way down, so the parser's precedence climbing recurses
        // too, and an `if` in every block.
        let (mixed, mixed_at) = wrap("x || x && x == x < x + -x * (", "x", ")");
        let (ifs, if_at) = wrap("if x { x = 1 + x;", "x = 2;", "}");
        let (minus, minus_at) = wrap("- ", "x", "");
        let (not, not_at) = wrap("!", "x", "");
        // Calls nested in calls' arguments: each argument list is a level.
        let (calls, calls_at) = wrap("f(", "x", ")");
        // Arrays in arrays: each literal is a level.
        let (arrays, arrays_at) = wrap("[", "x", "]");
        let labels: String = (0..n)
            .map(|i| format!("{}l{i}:\n", " ".repeat(i)))
            .collect();
        let label_at = labels.rfind(':').unwrap_or(0) + 1;
        let prelude = "fn f(a: int) -> int { return a; }\nvar x = 1;\n";
        [
            // `var _y = …;`, not `print(…)`, whose own `(` would count a level.
            (format!("var _y = {parens};"), at + "var _y = ".len()),
            (blocks, block_at),
            (format!("var _y = {mixed};"), mixed_at + "var _y = ".len()),
            (ifs, if_at),
            (format!("var _y = {minus};"), minus_at + "var _y = ".len()),
            (format!("var _y = {not};"), not_at + "var _y = ".len()),
            (format!("var _y = {calls};"), calls_at + "var _y = ".len()),
            (format!("var _y = {arrays};"), arrays_at + "var _y = ".len()),
            (format!("{labels}{}halt;", " ".repeat(n)), label_at),
        ]
        .into_iter()
        .map(|(source, at)| (format!("{prelude}{source}"), at + prelude.len()))
        .collect()
    }

    #[test]
    fn nesting_up_to_the_limit_compiles_and_one_more_is_e0015() {
        use crate::mova::syntax::MAX_NESTING;
        for (source, _) in nested(MAX_NESTING) {
            if let Err(errors) = compile(&source, Some("deep.mova")) {
                panic!("{}: {errors:#?}", &source[..80.min(source.len())]);
            }
        }
        for (source, at) in nested(MAX_NESTING + 1) {
            let errors = compile(&source, None).unwrap_err();
            let too_deep: Vec<&LangError> = errors.iter().filter(|e| e.code() == "E0015").collect();
            assert_eq!(too_deep.len(), 1, "{}: {errors:#?}", &source[..80]);
            assert_eq!(too_deep[0].span().start, at, "{}", &source[..80]);
        }
        // A chain of indexes nests its expression too: each index after the first counts a
        // level until the statement ends.
        let chain = |n: usize| format!("var s = \"a\";\nprint(s{});", "[0]".repeat(n));
        let codes = |source: &str| -> Vec<&'static str> {
            compile(source, None)
                .unwrap_err()
                .iter()
                .map(LangError::code)
                .collect()
        };
        // `print(` is a level, the chain `n - 1` more, and the last index's brackets one.
        assert_eq!(codes(&chain(MAX_NESTING - 1)), ["E0030"]);
        assert_eq!(codes(&chain(MAX_NESTING)), ["E0015"]);
    }

    #[test]
    fn a_source_map_is_added_on_request() {
        let source = "var x = 1;\nprint(x);\n";
        let with = compile(source, Some("x.mova")).unwrap().program;
        let map = with.source_map().unwrap();
        assert_eq!(map.file, "x.mova");
        assert_eq!(map.span(1), Some(11..20));
        assert_eq!(compile(source, None).unwrap().program.source_map(), None);
    }

    #[test]
    fn functions_follow_the_main_program_with_their_parameters_in_slots() {
        let source = "fn add(a: int, b: int) -> int { return a + b; }\n\
                      fn show(x: int) { print(x); }\n\
                      show(add(1, 2));\n\
                      add(3, 4);\n";
        let program = compile(source, None).unwrap().program;
        assert_eq!(
            program.code(),
            [
                // main: arguments left to right, CALL; a dropped result is popped; HALT.
                Instr::Put(1),
                Instr::Put(2),
                Instr::Call(1),
                Instr::Call(2),
                Instr::Put(3),
                Instr::Put(4),
                Instr::Call(1),
                Instr::Pop,
                Instr::Halt,
                // add: `a` from its slot, `b` added from its own.
                Instr::Load(0),
                Instr::AddL(1),
                Instr::RetV,
                // show: the top variable printed in place, and the end returns.
                Instr::Print,
                Instr::Ret,
            ]
        );
        assert_eq!(
            program.functions(),
            [
                Function::MAIN,
                Function {
                    entry: 9,
                    params: 2,
                    results: 1,
                    ref_params: 0,
                    ref_results: 0,
                },
                Function {
                    entry: 12,
                    params: 1,
                    results: 0,
                    ref_params: 0,
                    ref_results: 0,
                },
            ]
        );
    }

    #[test]
    fn the_rules_of_the_main_program_apply_inside_functions() {
        // The top variable stepped in place, a counting loop, a bare RETV of the top variable.
        let source = "fn count(n: int) -> int {\n\
                      var i = 0;\n\
                      while i < 10 { i++; }\n\
                      return i;\n}\n\
                      print(count(1));\n";
        let code = code(source);
        let function = &code[5..];
        assert_eq!(
            function,
            [
                Instr::Put(0),
                Instr::JgeK(10, 2),
                Instr::IncJlt(10, 0),
                Instr::RetV,
            ],
            "{code:?}"
        );
        // Main ends in an instruction that does not fall through: no HALT is added.
        let code = self::code("fn f() { }\nloop { f(); }\n");
        assert_eq!(code, [Instr::Call(1), Instr::Goto(1), Instr::Ret]);
    }

    #[test]
    fn no_code_runs_off_the_end_of_a_function() {
        // Both branches return: the jump over the `else` goes to the end, which gets a RETV
        // that never runs. Without a result, the end gets its RET.
        for source in [
            "fn f(x: int) -> int { if x { return 1; } else { return 2; } }\nprint(f(1));",
            "fn f(x: int) { if x { print(1); } else { print(2); } }\nf(1);",
            "fn f(x: int) { while x > 0 { x--; } }\nf(3);",
            "fn f() -> int { return 1; print(2); }\nprint(f());",
        ] {
            let compiled = compile(source, Some("f.mova")).unwrap_or_else(|e| panic!("{e:#?}"));
            let last = compiled.program.code().last().copied();
            assert!(
                matches!(last, Some(Instr::Ret | Instr::RetV)),
                "{source}: {:?}",
                compiled.program.code()
            );
        }
    }

    #[test]
    fn debug_info_names_functions_and_variables_with_their_live_ranges() {
        let source = "fn gcd(a: int, b: int) -> int {\n\
                      while b != 0 { var t = b; b = a % b; a = t; }\n\
                      return a;\n}\n\
                      var x = gcd(12, 18);\n\
                      print(x);\n";
        let program = compile(source, Some("gcd.mova")).unwrap().program;
        assert_eq!(compile(source, None).unwrap().program.debug_info(), None);
        let info = program.debug_info().unwrap();
        let names: Vec<(u16, &str)> = info
            .functions
            .iter()
            .map(|name| (name.function, name.name.as_str()))
            .collect();
        assert_eq!(names, [(0, "<main>"), (1, "gcd")]);
        assert_eq!(
            info.functions[0].span,
            0..u32::try_from(source.len()).unwrap()
        );
        let decl = source.find("fn gcd").unwrap();
        assert_eq!(info.functions[1].span.start, u32::try_from(decl).unwrap());
        let code = program.code();
        let gcd = program.code_range(1);
        let locals: Vec<(u16, u16, &str)> = info
            .locals
            .iter()
            .map(|local| (local.function, local.slot, local.name.as_str()))
            .collect();
        assert_eq!(
            locals,
            [(0, 0, "x"), (1, 2, "t"), (1, 0, "a"), (1, 1, "b")],
            "{info:#?}"
        );
        let local = |name: &str| info.locals.iter().find(|l| l.name == name).unwrap();
        // Parameters live through the whole function; `x` from after the call that computes
        // it to the end of the main program.
        assert_eq!(local("a").live, gcd.clone());
        assert_eq!(local("b").live, gcd.clone());
        assert_eq!(local("x").live, 3..program.code_range(0).end);
        assert_eq!(code[2], Instr::Call(1));
        // `t` from after the `DUP` that makes it to the `POP` that drops it, included.
        let t = local("t").live.clone();
        assert_eq!(code[t.start as usize - 1], Instr::Dup);
        assert_eq!(code[t.end as usize - 1], Instr::Pop);
        assert_eq!(
            info.locals_at(1, t.start)
                .iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "b", "t"]
        );
        assert_eq!(local("t").span, {
            let at = u32::try_from(source.find("var t").unwrap() + 4).unwrap();
            at..at + 1
        });
    }

    #[test]
    fn errors_stop_compilation_and_warnings_do_not() {
        let errors = compile("print(y);\nbreak;", None).unwrap_err();
        let codes: Vec<&str> = errors.iter().map(LangError::code).collect();
        assert_eq!(codes, ["E0005", "E0007"]);
        let compiled = compile("var unused = 1;", None).unwrap();
        assert_eq!(
            compiled
                .warnings
                .iter()
                .map(LangError::code)
                .collect::<Vec<_>>(),
            ["W0001"]
        );
    }

    #[test]
    fn strings_are_constants_once_each_and_live_on_the_reference_stack() {
        let compiled = compile(
            "var s = \"a\";\nvar t = s + \"b\" + \"a\";\nprint(t);",
            None,
        )
        .unwrap();
        let program = compiled.program;
        assert_eq!(
            program.code(),
            [
                Instr::Const(0),
                Instr::RDup,
                Instr::Const(1),
                Instr::Concat,
                Instr::Const(0),
                Instr::Concat,
                Instr::RDup,
                Instr::PrintR,
            ]
        );
        let constants: Vec<&[u8]> = program.constants().iter().map(|c| &c[..]).collect();
        assert_eq!(constants, [b"a".as_slice(), b"b"]);
        // An int-only program has no strings section.
        let ints = compile("print(1);", None).unwrap().program;
        assert!(ints.constants().is_empty());
        assert!(ints.sections().is_empty());
    }

    #[test]
    fn string_comparisons_and_print_of_several_values() {
        assert_eq!(
            code("var s = \"x\";\nprint(s < \"y\", 1, [2]);"),
            [
                Instr::Const(0),
                Instr::RDup,
                Instr::Const(1),
                Instr::Cmp,
                Instr::Put(0),
                Instr::Lt,
                Instr::ToStr,
                Instr::Const(2),
                Instr::Concat,
                Instr::Put(1),
                Instr::ConcatI,
                Instr::Const(2),
                Instr::Concat,
                Instr::NewI,
                Instr::Put(2),
                Instr::Append,
                Instr::Show,
                Instr::Concat,
                Instr::PrintR,
            ]
        );
    }

    #[test]
    fn element_updates_compute_the_array_and_index_once() {
        assert_eq!(
            code("var m = [[1]];\nm[0][0] += 2;\npush(m[0], 3);\nprint(pop(m[0]));"),
            [
                Instr::NewR,
                Instr::NewI,
                Instr::Put(1),
                Instr::Append,
                Instr::AppendR,
                Instr::RDup,
                Instr::Put(0),
                Instr::GetR,
                Instr::Put(0),
                Instr::RDup,
                Instr::Dup,
                Instr::Get,
                Instr::Add(2),
                Instr::Set,
                Instr::RDup,
                Instr::Put(0),
                Instr::GetR,
                Instr::Put(3),
                Instr::Append,
                Instr::RPop,
                Instr::RDup,
                Instr::Put(0),
                Instr::GetR,
                Instr::Remove,
                Instr::Print,
                Instr::Pop,
            ]
        );
    }

    #[test]
    fn leaving_blocks_drops_references_too() {
        // `break` drops the loop body's int and reference variables; the block's end as well.
        assert_eq!(
            code("loop {\n    var s = \"a\";\n    var n = len(s);\n    if n > 0 { break; }\n}"),
            [
                Instr::Const(0),
                Instr::RDup,
                Instr::Len,
                Instr::JleK(0, 4),
                Instr::Pop,
                Instr::RPop,
                Instr::Jmp(4),
                Instr::Pop,
                Instr::RPop,
                Instr::Goto(9),
            ]
        );
        // A `return` inside nested blocks of a function with references verifies: the
        // verifier checks exact reference heights everywhere.
        let source = "fn f(xs: [int], n: int, s: str) -> str {\n    var t = s;\n    while n > 0 {\n        var u = t + str(n);\n        if len(u) > 3 { return u; }\n        t = u;\n        n--;\n    }\n    push(xs, n);\n    return t;\n}\nprint(f([1], 3, \"ab\"));";
        let program = compile(source, None).unwrap().program;
        assert_eq!(
            program.functions()[1],
            Function {
                entry: program.functions()[1].entry,
                params: 1,
                results: 0,
                ref_params: 2,
                ref_results: 1,
            }
        );
        assert!(program.code().contains(&Instr::RetR));
    }

    #[test]
    fn reference_locals_are_in_the_debug_info() {
        let source = "var n = 1;\nvar s = \"a\";\nvar xs = [n];\nprint(s, xs, n);";
        let program = compile(source, Some("t.mova")).unwrap().program;
        let info = program.debug_info().unwrap();
        let locals: Vec<(u16, bool, &str)> = info
            .locals
            .iter()
            .map(|local| (local.slot, local.reference, local.name.as_str()))
            .collect();
        assert_eq!(locals, [(0, false, "n"), (0, true, "s"), (1, true, "xs")]);
        let end = program.code_range(0).end;
        let names: Vec<&str> = info
            .locals_at(0, end - 1)
            .iter()
            .map(|local| local.name.as_str())
            .collect();
        assert_eq!(names, ["n", "s", "xs"]);
    }

    #[test]
    fn an_entry_compiles_as_the_whole_session_and_says_where_it_starts() {
        let history = "var x = 2;\nprint(x);\nfn double(n: int) -> int { return 2 * n; }\n";
        let source = format!("{history}var y = double(x);\nprint(y);\n");
        let entry = compile_entry(&source, history.len(), None).unwrap();
        // The same code as the whole source compiled as a file.
        assert_eq!(entry.program, compile(&source, None).unwrap().program);
        let code = entry.program.code();
        // `PUT 2`, `PRINT` are the earlier entries; the new one starts after them.
        assert_eq!(entry.start, 2);
        assert_eq!(code[2], Instr::Dup);
        // The main program ends in the `HALT` before the function.
        assert_eq!(code[entry.end as usize], Instr::Halt);
        // An entry of declarations only starts where the main program ends.
        let source = format!("{history}fn triple(n: int) -> int {{ return 3 * n; }}\n");
        let entry = compile_entry(&source, history.len(), None).unwrap();
        assert_eq!(entry.start, entry.end);
        assert_eq!(code.get(2), Some(&Instr::Dup));
    }

    #[test]
    fn an_entry_keeps_only_its_own_lasting_diagnostics() {
        let history = "var x = 2;\nvar unused = 1;\n";
        // Its top-level variables and functions may be used by a later entry: no W0001, W0004;
        // a block's unused variable is still reported, and so is an unreachable statement.
        let source = format!(
            "{history}var z = 3;\nfn f() {{ }}\n{{ var w = 1; }}\nloop {{ break; print(x); }}\n"
        );
        let entry = compile_entry(&source, history.len(), None).unwrap();
        let codes: Vec<&str> = entry.warnings.iter().map(LangError::code).collect();
        assert_eq!(codes, ["W0001", "W0002"]);
        assert!(entry.warnings[0].span().start > history.len());
        // Errors are the entry's.
        let source = format!("{history}var x = 3;\nprint(q);\n");
        let errors = compile_entry(&source, history.len(), None).unwrap_err();
        let codes: Vec<&str> = errors.iter().map(LangError::code).collect();
        assert_eq!(codes, ["E0006", "E0005"]);
    }

    #[test]
    fn an_entry_at_any_statement_of_an_example_is_the_examples_program() {
        for path in mova_testkit::files_with_extension(mova_testkit::examples(), "mova") {
            let source = std::fs::read_to_string(&path).unwrap();
            let whole = compile(&source, Some("x.mova")).unwrap().program;
            let (stmts, _) = crate::mova::syntax::parse(&source);
            for stmt in &stmts {
                let entry = compile_entry(&source, stmt.span.start, Some("x.mova")).unwrap();
                assert_eq!(entry.program, whole, "{}", path.display());
                assert!(entry.start <= entry.end, "{}", path.display());
                // Each entry's diagnostics are its own.
                assert!(
                    entry
                        .warnings
                        .iter()
                        .all(|warning| warning.span().start >= stmt.span.start)
                );
            }
        }
    }
}
