//! Micro-benchmarks of each stage of the `.mova` compiler, on the program `movac`'s speed target
//! is measured on: `bench/compare.sh`'s `generate_big`, about 200,000 lines of blocks like the one
//! below, each with its own names.
//!
//! ```text
//! {
//!     var a1 = 1 + 3 * 4;
//!     var b1 = a1 * 2 - 1;
//!     while a1 < 100 && b1 != 7 {
//!         a1 += 5;
//!         if a1 % 3 == 0 {
//!             b1++;
//!         } else {
//!             b1 -= 2;
//!         }
//!     }
//!     print(a1 + b1);
//! }
//! ```
//!
//! Each stage is timed alone, on the previous stage's output made beforehand:
//!
//! - `stages/lex`: the logos lexer, all tokens into a vector ([`lexer::lex`]);
//! - `stages/layout`: the layout pass over lexed tokens ([`layout::lay_out`]; `movac` runs it
//!   straight on the lexer, so lexing and layout together are `lex` plus this);
//! - `stages/parse`: the chumsky parser over laid-out tokens ([`parser::parse`]);
//! - `stages/front_end`: all of the above, with the checks between them ([`syntax::parse`]);
//! - `stages/check`: names, types and folding, into the checked program ([`check::check`]);
//! - `stages/codegen`: code generation from the checked program ([`codegen::generate`]).
//!
//! Throughput is in bytes of source. Run with `cargo bench -p mova-compiler --bench stages` (add
//! `-- --quick` for a fast pass); the whole bench takes about 40 s.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use mova_compiler::mova::syntax::{self, layout, lexer, parser};
use mova_compiler::mova::{check, codegen};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

/// `bench/compare.sh`'s `COMPILE_LINES` and `BLOCK_LINES`.
const LINES: usize = 200_000;
const BLOCK_LINES: usize = 13;

/// The program `bench/compare.sh` compiles, byte for byte.
fn program() -> String {
    let blocks = LINES.div_ceil(BLOCK_LINES);
    let mut source = String::with_capacity(blocks * 260);
    for k in 1..=blocks {
        let (a, b) = (format!("a{k}"), format!("b{k}"));
        write!(
            source,
            "{{\n    var {a} = 1 + 3 * 4;\n    var {b} = {a} * 2 - 1;\n    \
             while {a} < 100 && {b} != 7 {{\n        {a} += 5;\n        \
             if {a} % 3 == 0 {{\n            {b}++;\n        }} else {{\n            \
             {b} -= 2;\n        }}\n    }}\n    print({a} + {b});\n}}\n"
        )
        .expect("writing to a String cannot fail");
    }
    source
}

fn stages(c: &mut Criterion) {
    let source = program();
    let lexed = lexer::lex(&source);
    let (laid_out, layout_errors, _) = layout::lay_out(&source, lexed.iter().cloned());
    assert_eq!(layout_errors, []);
    let (stmts, syntax_errors) = parser::parse(&laid_out, source.len());
    assert_eq!(syntax_errors, []);
    let (program, errors) = check::check(&stmts);
    assert!(
        errors
            .iter()
            .all(|error| !mova_compiler::mova::compile::is_error(error)),
        "{errors:?}"
    );
    eprintln!(
        "stages: {} lines, {} bytes, {} tokens ({} after layout), {} statements at the top",
        source.lines().count(),
        source.len(),
        lexed.len(),
        laid_out.len(),
        stmts.len(),
    );

    let mut group = c.benchmark_group("stages");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Bytes(source.len() as u64));
    group.bench_function("lex", |b| b.iter(|| lexer::lex(black_box(&source))));
    group.bench_function("layout", |b| {
        b.iter(|| layout::lay_out(black_box(&source), lexed.iter().cloned()))
    });
    group.bench_function("parse", |b| {
        b.iter(|| parser::parse(black_box(&laid_out), source.len()))
    });
    group.bench_function("front_end", |b| {
        b.iter(|| syntax::parse(black_box(&source)))
    });
    group.bench_function("check", |b| b.iter(|| check::check(black_box(&stmts))));
    group.bench_function("codegen", |b| {
        b.iter(|| codegen::generate(black_box(&program)).expect("the program generates"))
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
