//! `mova` on a trap inside functions: the diagnostic of the innermost frame, then the backtrace,
//! innermost call first, with and without a source map; deep recursion shows its ends and counts
//! its middle; unbounded recursion is the stack overflow trap, never an abort.
//!
//! The programs are built by hand through lang's API (the function table, a source map and
//! debug info as `movac -g` writes them), each instruction given the span of the source text it
//! stands for.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mova_lang::Instr;
use mova_lang::debuginfo::{DEBUG_INFO, DebugInfo, FunctionName, Local};
use mova_lang::func::Function;
use mova_lang::mvb::{Program, Section};
use mova_lang::srcmap::SourceMap;
use mova_testkit::TempDir;
use std::ops::Range;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

/// The byte span of the `nth` (from 0) occurrence of `needle` in `source`; a needle may mark the
/// part it stands for within its context with `«` and `»`: `ratio(«n»)`.
fn span(source: &str, needle: &str, nth: usize) -> Range<usize> {
    let whole = needle.replace(['«', '»'], "");
    let start = source
        .match_indices(&whole)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} #{nth} is not in the source"))
        .0;
    match (needle.find('«'), needle.find('»')) {
        (Some(open), Some(close)) => start + open..start + close - '«'.len_utf8(),
        _ => start..start + whole.len(),
    }
}

/// Instructions, each with the source text it comes from: `(instruction, needle, occurrence)`.
type Code = Vec<(Instr, &'static str, usize)>;

/// A program: main's code, then each function's, each instruction with the source text it comes
/// from (`(needle, nth occurrence)`); the names of main and the functions; the locals as
/// `(function, slot, name, declaration)`, live over their whole function.
struct Fixture {
    file: &'static str,
    source: &'static str,
    main: Code,
    functions: Vec<(&'static str, u16, u8, Code)>,
    locals: Vec<(u16, u16, &'static str, &'static str)>,
}

impl Fixture {
    /// The program, with its source map and debug info if `symbols`.
    fn program(&self, symbols: bool) -> Program {
        let mut code = Vec::new();
        let mut spans = Vec::new();
        let mut table = Vec::new();
        let mut names = vec![FunctionName {
            function: 0,
            name: mova_lang::func::MAIN_NAME.into(),
            span: 0..0,
        }];
        let mut ranges = Vec::new();
        let mut push = |code: &mut Vec<Instr>, body: &[(Instr, &str, usize)]| {
            for (instr, needle, nth) in body {
                code.push(*instr);
                spans.push(span(self.source, needle, *nth));
            }
        };
        push(&mut code, &self.main);
        for (name, params, results, body) in &self.functions {
            let entry = code.len() as u32;
            table.push(Function {
                entry,
                params: *params,
                results: *results,
                ref_params: 0,
                ref_results: 0,
            });
            push(&mut code, body);
            ranges.push(entry..code.len() as u32);
            let declaration = span(self.source, &format!("fn {name}"), 0);
            names.push(FunctionName {
                function: table.len() as u16,
                name: (*name).into(),
                span: declaration.start as u32..declaration.end as u32,
            });
        }
        let mut sections = Vec::new();
        if symbols {
            sections.push(
                SourceMap::new(self.file, self.source, spans)
                    .to_section()
                    .unwrap(),
            );
            let locals = self
                .locals
                .iter()
                .map(|(function, slot, name, declaration)| {
                    let at = span(self.source, declaration, 0);
                    Local {
                        function: *function,
                        slot: *slot,
                        name: (*name).into(),
                        live: ranges[usize::from(*function) - 1].clone(),
                        span: at.start as u32..at.end as u32,
                        reference: false,
                    }
                })
                .collect();
            let info = DebugInfo {
                functions: names,
                locals,
            };
            sections.push(Section {
                kind: DEBUG_INFO,
                payload: info.encode(),
            });
        }
        Program::with_functions(code, &table, sections).unwrap()
    }
}

/// `main` calls `report(0)`, which prints `ratio(x)`, which divides by zero: a trap 3 frames
/// deep.
fn nested() -> Fixture {
    use Instr::*;
    Fixture {
        file: "nested.mova",
        source: "fn ratio(x: int) -> int {\n    return 100 / x;\n}\n\n\
                 fn report(n: int) {\n    print(ratio(n));\n}\n\nreport(0);\n",
        main: vec![
            (Put(0), "report(«0»)", 0),
            (Call(1), "report(0)", 0),
            (Halt, "report(0);", 0),
        ],
        functions: vec![
            (
                "report",
                1,
                0,
                vec![
                    (Load(0), "ratio(«n»)", 0),
                    (Call(2), "ratio(n)", 0),
                    (Print, "print(ratio(n))", 0),
                    (Pop, "print(ratio(n));", 0),
                    (Ret, "}", 1),
                ],
            ),
            (
                "ratio",
                1,
                1,
                vec![
                    (Put(100), "100", 0),
                    (Load(0), "100 / «x»", 0),
                    (Div, "100 / x", 0),
                    (RetV, "return 100 / x;", 0),
                ],
            ),
        ],
        locals: vec![(1, 0, "n", "n: int"), (2, 0, "x", "x: int")],
    }
}

/// `down(n) { print(n); down(n + 1); }` from `down(1)`: recursion without end.
fn unbounded() -> Fixture {
    use Instr::*;
    Fixture {
        file: "down.mova",
        source: "fn down(n: int) {\n    down(n + 1);\n}\n\ndown(1);\n",
        main: vec![
            (Put(1), "down(«1»)", 0),
            (Call(1), "down(1)", 0),
            (Halt, "down(1);", 0),
        ],
        functions: vec![(
            "down",
            1,
            0,
            vec![
                (Load(0), "down(«n» + 1)", 0),
                (Add(1), "n + 1", 0),
                (Call(1), "down(n + 1)", 0),
                (Ret, "}", 0),
            ],
        )],
        locals: vec![(1, 0, "n", "n: int")],
    }
}

/// Runs `mova` on `program` written as `name`, without colour.
fn run(dir: &TempDir, name: &str, program: &Program) -> Output {
    dir.write(name, program.encode());
    let runtime = dir.join("run");
    if !runtime.exists() {
        std::fs::create_dir(&runtime).unwrap();
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    Command::new(env!("CARGO_BIN_EXE_mova"))
        .arg(name)
        .current_dir(dir.path())
        .env("MOVA_RUNTIME_DIR", &runtime)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Standard error of a run that must end with the trap status and no panic.
fn trapped(output: &Output) -> String {
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn a_trap_three_frames_deep_shows_its_line_then_the_backtrace() {
    let dir = TempDir::new("backtrace-map");
    let stderr = trapped(&run(&dir, "nested.mvb", &nested().program(true)));
    mova_testkit::assert_snapshot!("vm", "backtrace-nested", stderr);
}

#[test]
fn without_a_source_map_each_frame_is_one_line() {
    let dir = TempDir::new("backtrace-bare");
    let stderr = trapped(&run(&dir, "nested.mvb", &nested().program(false)));
    mova_testkit::assert_snapshot!("vm", "backtrace-nested-bare", stderr);
}

#[test]
fn unbounded_recursion_is_a_stack_overflow_with_the_middle_of_its_backtrace_counted() {
    let dir = TempDir::new("backtrace-deep");
    for symbols in [true, false] {
        let output = run(&dir, "down.mvb", &unbounded().program(symbols));
        let stderr = trapped(&output);
        assert!(stderr.contains("stack overflow"), "{stderr}");
        // 10,000 calls and main: three frames of `down`, the count of the others, main.
        assert!(stderr.lines().count() < 25, "{stderr}");
        assert!(
            stderr.contains("[9,997 more frames like the one above]"),
            "{stderr}"
        );
        if symbols {
            mova_testkit::assert_snapshot!("vm", "backtrace-unbounded", stderr);
        }
    }
}

#[test]
fn a_trap_in_the_main_program_prints_no_backtrace() {
    let dir = TempDir::new("backtrace-main");
    // Main divides by zero before any call.
    let program = Program::with_functions(
        vec![
            Instr::Put(1),
            Instr::Put(0),
            Instr::Div,
            Instr::Call(1),
            Instr::Halt,
            Instr::Ret,
        ],
        &[Function {
            entry: 5,
            params: 0,
            results: 0,
            ref_params: 0,
            ref_results: 0,
        }],
        Vec::new(),
    )
    .unwrap();
    let stderr = trapped(&run(&dir, "main.mvb", &program));
    assert_eq!(
        stderr,
        "error: trap at instruction 2 (`DIV`): division by zero: 1 / 0\n"
    );
}

#[test]
fn forged_names_reach_no_terminal() {
    let dir = TempDir::new("backtrace-forged");
    let mut program = nested().program(true);
    let info = DebugInfo {
        functions: vec![FunctionName {
            function: 2,
            name: "\u{1b}]0;owned\u{7}ratio\u{202e}".into(),
            span: 0..0,
        }],
        locals: Vec::new(),
    };
    let sections: Vec<Section> = program
        .sections()
        .iter()
        .filter(|section| section.kind == mova_lang::srcmap::SOURCE_MAP)
        .cloned()
        .chain([Section {
            kind: DEBUG_INFO,
            payload: info.encode(),
        }])
        .collect();
    let table = program.functions()[1..].to_vec();
    program = Program::with_functions(program.code().to_vec(), &table, sections).unwrap();
    let stderr = trapped(&run(&dir, "forged.mvb", &program));
    for c in ['\u{1b}', '\u{7}', '\u{202e}'] {
        assert!(!stderr.contains(c), "{c:?} in {stderr:?}");
    }
    assert!(
        stderr.contains("0: \\u{1b}]0;owned\\u{7}ratio\\u{202e} at nested.mova:2:12"),
        "{stderr}"
    );
}
