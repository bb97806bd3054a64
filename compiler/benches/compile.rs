//! Micro-benchmarks of the `.mova` compiler: [`compile`] (lexing, layout, parsing, checking and
//! code generation, without a source map) of generated programs.
//!
//! - `compile/lines/200000`: a program of about 200,000 lines, made of blocks like the one below,
//!   each with its own variable names (so the checker sees about 44,000 distinct names);
//! - `compile/lines/2000`: the same blocks, about 2,000 lines, for the speed on a program of
//!   ordinary size.
//!
//! ```text
//! {
//!     var a1 = 7 + 3 * 4;
//!     var b1 = a1 * 2 - 1;
//!     while a1 < 100 && b1 != 7 {
//!         a1 += 5;
//!         if a1 % 3 == 0 { b1++; } else { b1 -= 2; }
//!     }
//!     print(a1 + b1);
//! }
//! ```
//!
//! Throughput is in bytes of source. The 200,000-line case takes long per iteration, so the group
//! uses criterion's minimum of 10 samples with flat sampling (the minimum number of iterations)
//! and short measurement times (3 s and 12 s): the whole bench takes about 20 s.
//!
//! Run with `cargo bench -p mova-compiler --bench compile` (add `-- --quick` for a fast pass).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use mova_compiler::compile::compile;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

/// The lines of one generated block.
const BLOCK_LINES: usize = 9;

/// A program of at least `lines` lines (rounded up to whole blocks), each block with its own names.
fn program(lines: usize) -> String {
    let blocks = lines.div_ceil(BLOCK_LINES);
    let mut source = String::with_capacity(blocks * 200);
    for k in 1..=blocks {
        write!(
            source,
            "{{\n    var a{k} = 7 + 3 * 4;\n    var b{k} = a{k} * 2 - 1;\n    \
             while a{k} < 100 && b{k} != 7 {{\n        a{k} += 5;\n        \
             if a{k} % 3 == 0 {{ b{k}++; }} else {{ b{k} -= 2; }}\n    }}\n    \
             print(a{k} + b{k});\n}}\n"
        )
        .expect("writing to a String cannot fail");
    }
    source
}

fn compiler(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile/lines");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1));
    // The large program compiles in about 1 s here, so each of its 10 samples is one compilation.
    for (lines, measurement) in [(2_000, 3), (200_000, 12)] {
        let source = program(lines);
        let compiled = match compile(&source, None) {
            Ok(compiled) => compiled,
            Err(errors) => panic!("the generated program does not compile: {errors:?}"),
        };
        eprintln!(
            "compile/lines/{lines}: {} lines, {} bytes, {} instructions, {} warnings",
            source.lines().count(),
            source.len(),
            compiled.program.code().len(),
            compiled.warnings.len(),
        );
        group
            .throughput(Throughput::Bytes(source.len() as u64))
            .measurement_time(Duration::from_secs(measurement));
        group.bench_with_input(BenchmarkId::from_parameter(lines), &source, |b, source| {
            b.iter(|| compile(black_box(source), None))
        });
    }
    group.finish();
}

criterion_group!(benches, compiler);
criterion_main!(benches);
