//! Micro-benchmarks of the two binary formats in `mova-lang`: the `.mvb` program container and the
//! `.mvs` state image.
//!
//! - `mvb/decode`: [`Program::decode`] of a 10,000-instruction program that mixes opcodes and
//!   holds valid forward and backward jumps, so the measurement covers the whole verification
//!   (signature, header, CRC-32, every instruction, every jump target). `mvb/encode` is the
//!   reverse, for comparison. Throughput is in bytes of `.mvb`.
//! - `image/{encode,decode,encode+decode}/N`: [`Image::encode`] and [`Image::decode`] of the state
//!   of a loop that fills the stack (`top: PUT 1, GOTO top`, at its `PUT`, no embedded program)
//!   with a stack of N = 1, 1,000 and 65,535 values (65,535 is the stack limit, a 512 KiB image).
//!   Only a program that can hold that many values has such a state: `Image::new` checks it.
//!   Throughput is in bytes of `.mvs`.
//! - `image/memcpy/N`: the baseline, `Vec::clone` of a `Vec<u8>` as long as that image (an
//!   allocation, a copy and a free, as encoding and decoding each do at least once), so that
//!   "close to memory-copy speed" can be judged: compare `image/encode/N` and `image/decode/N`
//!   with `image/memcpy/N`.
//!
//! **Target:** `image/encode+decode/65535` (saving and restoring a full stack) under 1 ms.
//!
//! Run with `cargo bench -p mova-lang --bench codec` (add `-- --quick` for a fast pass, or a
//! filter such as `-- image/decode`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mova_lang::Instr;
use mova_lang::image::Image;
use mova_lang::mvb::Program;
use std::hint::black_box;

/// The number of instructions of the `.mvb` benchmark's program.
const PROGRAM_LEN: usize = 10_000;

/// The stack depths the image benchmarks save and restore.
const STACK_DEPTHS: [usize; 3] = [1, 1_000, 65_535];

/// One 25-instruction block of the `.mvb` benchmark's program, starting at instruction `base`.
///
/// It mixes every operand kind and most opcodes, with forward jumps inside the block (`JZ`, `JNZ`,
/// `JMP`) and a backward `GOTO` to its first instruction, so every target is valid wherever the
/// block sits. The code is never run: only its encoding and verification matter here.
fn block(base: usize) -> [Instr; 25] {
    let value = i64::try_from(base)
        .expect("small")
        .wrapping_mul(0x9E37_79B9);
    [
        Instr::Put(value), // +0
        Instr::Load(0),    // +1
        Instr::AddS,       // +2
        Instr::Dup,        // +3
        Instr::Put(1000),  // +4
        Instr::Lt,         // +5
        Instr::Jz(6),      // +6  → +12
        Instr::Add(-3),    // +7
        Instr::Store(0),   // +8
        Instr::Load(1),    // +9
        Instr::Mul,        // +10
        Instr::Jmp(3),     // +11 → +14
        Instr::Print,      // +12
        Instr::Put(7),     // +13
        Instr::Mod,        // +14
        Instr::Dup,        // +15
        Instr::Jnz(4),     // +16 → +20
        Instr::Neg,        // +17
        Instr::Not,        // +18
        Instr::Pop,        // +19
        Instr::Put(2),     // +20
        Instr::Div,        // +21
        Instr::Sleep(10),  // +22
        Instr::Sub,        // +23
        Instr::Goto(24),   // +24 → +0
    ]
}

/// A verified program of [`PROGRAM_LEN`] instructions made of [`block`]s.
fn mixed_program() -> Program {
    let code: Vec<Instr> = (0..PROGRAM_LEN / 25)
        .flat_map(|index| block(index * 25))
        .collect();
    assert_eq!(code.len(), PROGRAM_LEN);
    Program::new(code).expect("every jump lands inside the program")
}

/// `top: PUT 1, GOTO top`: every stack height up to the limit is possible at its `PUT`.
fn filling_loop() -> Program {
    Program::new(vec![Instr::Put(1), Instr::Goto(1)]).expect("the jump lands inside the program")
}

/// The filling loop's state at its `PUT` with a stack of `depth` values spread over the whole
/// `i64` range (so no byte pattern is special), without the program embedded.
fn loop_image(program: &Program, depth: usize) -> Image {
    let stack = (0..depth)
        .map(|i| {
            i64::try_from(i)
                .expect("small")
                .wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64)
        })
        .collect();
    Image::new(program, 0, stack, None, false).expect("a valid state of the filling loop")
}

fn mvb(c: &mut Criterion) {
    let program = mixed_program();
    let bytes = program.encode();
    assert_eq!(Program::decode(&bytes).as_ref(), Ok(&program));

    let mut group = c.benchmark_group("mvb");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function(BenchmarkId::new("decode", PROGRAM_LEN), |b| {
        b.iter(|| Program::decode(black_box(&bytes)))
    });
    group.bench_function(BenchmarkId::new("encode", PROGRAM_LEN), |b| {
        b.iter(|| black_box(&program).encode())
    });
    group.finish();
}

fn image(c: &mut Criterion) {
    let program = filling_loop();
    let mut group = c.benchmark_group("image");
    for depth in STACK_DEPTHS {
        let image = loop_image(&program, depth);
        let bytes = image.encode();
        assert_eq!(Image::decode(&bytes).as_ref(), Ok(&image));
        let baseline = bytes.clone();

        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("encode", depth), &image, |b, image| {
            b.iter(|| black_box(image).encode())
        });
        group.bench_with_input(BenchmarkId::new("decode", depth), &bytes, |b, bytes| {
            b.iter(|| Image::decode(black_box(bytes)))
        });
        group.bench_with_input(
            BenchmarkId::new("encode+decode", depth),
            &image,
            |b, image| b.iter(|| Image::decode(&black_box(image).encode())),
        );
        group.bench_with_input(
            BenchmarkId::new("memcpy", depth),
            &baseline,
            |b, baseline| b.iter(|| black_box(baseline).clone()),
        );
    }
    group.finish();
}

criterion_group!(benches, mvb, image);
criterion_main!(benches);
