//! Programs with functions built by hand through lang's API — the function table, a source map
//! and debug info as `movac -g` writes them — for the tests of backtraces in images and of
//! migrating recursion. Each instruction is given the span of the source text it stands for.

use mova_lang::Instr;
use mova_lang::debuginfo::{DEBUG_INFO, DebugInfo, FunctionName, Local};
use mova_lang::func::Function;
use mova_lang::mvb::{Program, Section};
use mova_lang::srcmap::SourceMap;
use std::ops::Range;

/// The byte span of the `nth` (from 0) occurrence of `needle` in `source`; a needle may mark the
/// part it stands for within its context with `«` and `»`: `ratio(«n»)`.
pub fn span(source: &str, needle: &str, nth: usize) -> Range<usize> {
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
pub type Code = Vec<(Instr, &'static str, usize)>;

/// A program: main's code, then each function's `(name, params, results, code)`; the locals as
/// `(function, slot, name, declaration)`, live over their whole function.
pub struct Fixture {
    pub file: &'static str,
    pub source: &'static str,
    pub main: Code,
    pub functions: Vec<(&'static str, u16, u8, Code)>,
    pub locals: Vec<(u16, u16, &'static str, &'static str)>,
}

impl Fixture {
    /// The program, with its source map and debug info if `symbols`.
    pub fn program(&self, symbols: bool) -> Program {
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

/// `main` calls `report(0)`, which prints `ratio(n)`, which divides 100 by its argument: at the
/// division, 3 frames deep. Its state there: IP 10, stack `[0, 0, 100, 0]`, frames `report`
/// (base 0, returning to 2) and `ratio` (base 1, returning to 5).
pub fn nested() -> Fixture {
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

/// The source [`recursion`] stands for.
pub const RECURSION: &str = "\
fn rec(n: int) {
    print(n);
    if n % 2 == 0 { sleep(1); }
    if n < 1000 { rec(n + 1); }
    print(n);
    if n % 2 == 0 { sleep(1); }
}

rec(1);
";

/// [`RECURSION`]: recurses from 1 to 1000, printing each depth on the way down and again on the
/// way back up, sleeping 1 ms every second level both ways (about 1 s in all). It prints
/// [`recursion_output`].
pub fn recursion() -> Fixture {
    use Instr::*;
    Fixture {
        file: "rec.mova",
        source: RECURSION,
        main: vec![
            (Put(1), "rec(«1»)", 0),
            (Call(1), "rec(1)", 0),
            (Halt, "rec(1);", 0),
        ],
        functions: vec![(
            "rec",
            1,
            0,
            vec![
                // n is on top at the entry: its only slot.
                (Print, "print(n)", 0),
                (Load(0), "if «n» % 2", 0),
                (ModK(2), "n % 2", 0),
                (Jnz(2), "n % 2 == 0", 0),
                (Sleep(1), "sleep(1)", 0),
                (JgeK(1000, 4), "n < 1000", 0),
                (Load(0), "rec(«n» + 1)", 0),
                (Add(1), "n + 1", 0),
                (Call(1), "rec(n + 1)", 0),
                (Print, "print(n)", 1),
                (Load(0), "if «n» % 2", 1),
                (ModK(2), "n % 2", 1),
                (Jnz(2), "n % 2 == 0", 1),
                (Sleep(1), "sleep(1)", 1),
                (Ret, "}", 3),
            ],
        )],
        locals: vec![(1, 0, "n", "n: int")],
    }
}

/// What [`recursion`] prints: 1 to 1000, then 1000 down to 1.
pub fn recursion_output() -> Vec<i64> {
    (1..=1000).chain((1..=1000).rev()).collect()
}
