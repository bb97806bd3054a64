//! The fuzz targets' bodies, one function per target, and the seed corpus they start from.
//!
//! Each target feeds untrusted bytes to one of Mova's decoders or front ends. Any panic, abort,
//! stack overflow, timeout or memory blow-up is a finding: the standards say bad input gets an
//! error, never a crash, a hang or unbounded memory. Where a format has an encoder, the target also
//! asserts the round trip: whatever decodes, encodes back to the very bytes it came from (or, for
//! source text, disassembles and reassembles to the same instructions).
//!
//! The targets live here rather than in `fuzz_targets/` so that the seed generator
//! (`examples/seeds.rs`) and the targets share one definition of each input format.

// A fuzz target reports a finding by panicking: assertions and unwraps on what must hold are how
// it says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mova_compiler::diag::{Diagnostic, render, render_json};
use mova_compiler::{asm, compile as lang, disassemble};
use mova_lang::heap::Ref;
use mova_lang::image::{Image, PRODUCER, program_hash};
use mova_lang::mvb::Program;
use mova_lang::strategies::seed_program;
use mova_vm::protocol::{MAX_FRAME, MAX_HELLO_FRAME, MigrationId, Request, Response};
use std::fmt::Write as _;

/// `.mvb` loading: [`Program::decode`] of any bytes. A program that loads re-encodes to exactly
/// its bytes (the format has one encoding of each program) and decodes again to itself; its stack
/// heights, which every image check computes, come out for any program the loader accepts.
pub fn mvb_load(data: &[u8]) {
    let Ok(program) = Program::decode(data) else {
        return;
    };
    let bytes = program.encode();
    assert_eq!(bytes, data, "a loaded program re-encodes to other bytes");
    assert_eq!(Program::decode(&bytes).as_ref(), Ok(&program));
    let heights = program.stack_heights();
    assert!(heights.at(0).is_some(), "the entry is always reachable");
    let _ = program.source_map();
}

/// `.mvs` decoding and checking: [`Image::decode`] of any bytes. An image that decodes re-encodes
/// to bytes that decode to it (not always the same bytes: a reader takes the segments in any
/// order, the writer in one) and that are their own encoding; one that carries its program fits
/// it (decoding checked that); and every image is checked against the seed program too, which
/// must answer, not panic.
pub fn mvs_decode_check(data: &[u8]) {
    let Ok(image) = Image::decode(data) else {
        return;
    };
    let bytes = image.encode();
    assert_eq!(Image::decode(&bytes).as_ref(), Ok(&image));
    assert_eq!(
        Image::decode(&bytes).map(|again| again.encode()).as_ref(),
        Ok(&bytes),
        "the encoding is canonical"
    );
    // Written again, an image can only grow by what version 2 adds to the version 1 it may have
    // been: the oldest reader field, a length for each framed segment and the producer segment.
    assert!(
        bytes.len() <= data.len() + MAX_GROWTH,
        "the canonical encoding grew by {} bytes",
        bytes.len() - data.len()
    );
    if let Some(program) = image.program() {
        assert_eq!(image.check(program), Ok(()));
        assert_eq!(image.program_hash, program_hash(program));
    }
    let _ = image.check(&seed_program());
}

/// The most a version 1 image grows when written as version 2: 2 bytes of oldest reader, a u32
/// length for each of the 3 segments whose version 1 fields had none (program hash, sleep, end),
/// and the producer segment (its header, length and text).
const MAX_GROWTH: usize = 2 + 3 * 4 + 6 + PRODUCER.len();

/// The control protocol's frame decoder: the first byte says which reader (a request before the
/// handshake, with its 256-byte limit; a request after it; a response), and the rest is read as
/// frames, one after the other, until one is refused. Every frame read writes back as the very
/// bytes it was read from, which read again give the same message.
pub fn frame(data: &[u8]) {
    let Some((&reader, mut input)) = data.split_first() else {
        return;
    };
    loop {
        let before = input;
        let written = match reader % 3 {
            0 | 1 => {
                let limit = if reader % 3 == 0 {
                    MAX_HELLO_FRAME
                } else {
                    MAX_FRAME
                };
                let Ok(request) = Request::read(&mut input, limit) else {
                    return;
                };
                let mut bytes = Vec::new();
                request.write(&mut bytes).unwrap();
                assert_eq!(
                    Request::read(&mut bytes.as_slice(), limit).unwrap(),
                    request
                );
                bytes
            }
            _ => {
                let Ok(response) = Response::read(&mut input) else {
                    return;
                };
                let mut bytes = Vec::new();
                response.write(&mut bytes).unwrap();
                assert_eq!(Response::read(&mut bytes.as_slice()).unwrap(), response);
                bytes
            }
        };
        let consumed = &before[..before.len() - input.len()];
        assert_eq!(written, consumed, "a frame writes back as other bytes");
    }
}

/// The `.mova` compiler on any UTF-8 text; see [`compile_source`].
pub fn compile(data: &[u8]) {
    if let Ok(source) = std::str::from_utf8(data) {
        compile_source(source);
    }
}

/// The `.mvasm` assembler on any UTF-8 text; see [`assemble_source`].
pub fn assemble(data: &[u8]) {
    if let Ok(source) = std::str::from_utf8(data) {
        assemble_source(source);
    }
}

/// Inputs large and deep enough to reach the front ends' limits, built from a few bytes: see
/// [`deep_source`].
pub fn deep(data: &[u8]) {
    match deep_source(data) {
        Deep::Mova(source) => compile_source(&source),
        Deep::Mvasm(source) => assemble_source(&source),
    }
}

/// Compiles `source` with a source map, as `mova x.mova` does, and renders every diagnostic both
/// ways (as `movac` prints them). A program that compiles disassembles to a listing (what `movac
/// dis` prints) that reassembles to the same instructions, and its `.mvb` loads back as itself.
/// A source `movac fmt` formats compiles as before (the same bytecode, or the same error codes)
/// and formats to itself.
pub fn compile_source(source: &str) {
    if let Ok(formatted) = mova_compiler::fmt::format_source(source) {
        let build = |text: &str| match lang::compile(text, None) {
            Ok(compiled) => Ok(compiled.program.encode()),
            Err(errors) => Err(errors.iter().map(|e| e.code()).collect::<Vec<_>>()),
        };
        assert!(build(&formatted) == build(source), "formatting changed the program");
        assert_eq!(
            mova_compiler::fmt::format_source(&formatted).as_ref(),
            Ok(&formatted),
            "formatting is not idempotent"
        );
    }
    match lang::compile(source, Some("fuzz.mova")) {
        Ok(compiled) => {
            render_all(compiled.warnings, source);
            let program = compiled.program;
            assert_eq!(Program::decode(&program.encode()).as_ref(), Ok(&program));
            let listing = disassemble(&program);
            let again = asm::assemble(&listing)
                .unwrap_or_else(|errors| panic!("the listing does not assemble: {errors:?}"));
            assert_eq!(
                again.code(),
                program.code(),
                "the listing reassembles differently"
            );
        }
        Err(errors) => render_all(errors, source),
    }
}

/// `program` without its source map and debug info: its code, its function table and its
/// strings (which a program with string constants needs to load).
fn bare(program: &Program) -> Program {
    let functions = program.functions().get(1..).unwrap_or_default();
    let strings = program
        .sections()
        .iter()
        .filter(|section| section.kind == mova_lang::heap::STRINGS)
        .cloned()
        .collect();
    Program::with_functions(program.code().to_vec(), functions, strings)
        .unwrap_or_else(|error| panic!("a verified program without its debug sections: {error}"))
}

/// Assembles `source` with a source map and renders every diagnostic. A program that assembles
/// disassembles to a listing that reassembles to the same instructions, whose own listing is the
/// same text (the listing is a fixed point).
pub fn assemble_source(source: &str) {
    let (program, errors) = asm::assemble_errors(source, Some("fuzz.mvasm"));
    let failed = !errors.is_empty();
    render_all(errors, source);
    let Some(program) = program.filter(|_| !failed) else {
        return;
    };
    assert_eq!(Program::decode(&program.encode()).as_ref(), Ok(&program));
    let listing = disassemble(&program);
    let again = asm::assemble(&listing)
        .unwrap_or_else(|errors| panic!("the listing does not assemble: {errors:?}"));
    assert_eq!(
        (again.code(), again.functions()),
        (program.code(), program.functions()),
        "the listing reassembles differently"
    );
    // Without the source map and debug info (which the listing notes but does not carry), the
    // listing is a fixed point.
    let bare = bare(&program);
    assert_eq!(
        disassemble(&again),
        disassemble(&bare),
        "the listing is not a fixed point"
    );
}

/// Renders diagnostics as text (without colour) and as JSON.
fn render_all<E: Into<Diagnostic>>(errors: Vec<E>, source: &str) {
    let diagnostics: Vec<Diagnostic> = errors.into_iter().map(Into::into).collect();
    let _ = render(&diagnostics, "fuzz.mova", source, false);
    let _ = render_json(&diagnostics, "fuzz.mova", source);
}

/// A generated source and the front end it is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deep {
    /// A `.mova` program.
    Mova(String),
    /// A `.mvasm` program.
    Mvasm(String),
}

/// The shapes [`deep_source`] builds, in the order of the shape byte.
pub const SHAPES: [&str; 12] = [
    "nested parentheses",
    "nested blocks",
    "a chain of unary operators",
    "a long sum",
    "nested ifs",
    "an else-if chain",
    "nested loops with breaks",
    "nested labelled loops in the indented form",
    "unused variables on one line",
    "misspelt names among as many variables",
    "many labels and jumps in assembly",
    "a long line of assembly errors",
];

/// The most repetitions [`deep_source`] makes: beyond the 30,000-term chains and 20,000 nested
/// blocks that once overflowed the stack, and the 5,000 misspelt names that once took seconds.
pub const MAX_REPEAT: usize = 1 << 17;

/// Builds a large or deeply nested source from a few bytes: the first byte picks a shape of
/// [`SHAPES`], the next three (big-endian) how many times it repeats (up to [`MAX_REPEAT`]), and
/// the rest, if any, is text put at the innermost point (so mutations can still vary what is
/// nested). Building is linear in the output, which stays within a few megabytes.
pub fn deep_source(data: &[u8]) -> Deep {
    let shape = data.first().copied().unwrap_or(0) as usize % SHAPES.len();
    let count = data.get(1..4).map_or(0, |bytes| {
        usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2])
    });
    let n = count % (MAX_REPEAT + 1);
    let inner = data
        .get(4..)
        .and_then(|rest| std::str::from_utf8(rest).ok())
        .unwrap_or("");
    let mut s = String::new();
    match shape {
        0 => {
            s.push_str("print(");
            s.push_str(&"(".repeat(n));
            s.push('1');
            s.push_str(inner);
            s.push_str(&")".repeat(n));
            s.push_str(");\n");
        }
        1 => {
            s.push_str(&"{".repeat(n));
            s.push_str(inner);
            s.push_str(&"}".repeat(n));
        }
        2 => {
            s.push_str("print(");
            s.push_str(&"-!".repeat(n));
            s.push('1');
            s.push_str(inner);
            s.push_str(");\n");
        }
        3 => {
            s.push_str("var x = 1;\nprint(x");
            s.push_str(&" + 1".repeat(n));
            s.push_str(inner);
            s.push_str(");\n");
        }
        4 => {
            s.push_str(&"if 1 { ".repeat(n));
            s.push_str(inner);
            s.push_str(&"}".repeat(n));
        }
        5 => {
            s.push_str("var x = 2;\n");
            for i in 0..n {
                let _ = write!(s, "if x == {i} {{ print({i}); }} else ");
            }
            s.push_str("{ ");
            s.push_str(inner);
            s.push_str(" }\n");
        }
        6 => {
            s.push_str(&"while 1 { ".repeat(n));
            s.push_str("break; ");
            s.push_str(inner);
            s.push_str(&"break; }".repeat(n));
        }
        7 => {
            // Each level is indented one space deeper, so the text grows with the square of the
            // depth: keep it to a few megabytes.
            let n = n.min(2_000);
            for i in 0..n {
                let _ = writeln!(s, "{:i$}l{i}:", "");
            }
            let _ = writeln!(s, "{:n$}print(1);{inner}", "");
        }
        8 => {
            for i in 0..n {
                let _ = write!(s, "var v{i}=1;");
            }
            s.push_str(inner);
            s.push('\n');
        }
        9 => {
            for i in 0..n {
                let _ = writeln!(s, "var name{i} = {i};");
            }
            for i in 0..n {
                let _ = writeln!(s, "print(nmae{i});");
            }
            s.push_str(inner);
        }
        10 => {
            for i in 0..n {
                let _ = writeln!(s, "l{i}: PUT {i}\nJZ l{}\nPOP", (i * 7 + 3) % (n + 1));
            }
            let _ = writeln!(s, "l{n}: HALT{inner}");
            return Deep::Mvasm(s);
        }
        _ => {
            for i in 0..n {
                let _ = write!(s, "FROB {i} ");
            }
            s.push_str(inner);
            s.push('\n');
            return Deep::Mvasm(s);
        }
    }
    Deep::Mova(s)
}

/// An image of `program` (with it embedded) at the entry of the function its main program's
/// first reachable call calls, one frame deep, so that the image fuzzer starts from a frames
/// segment; `None` for a program without calls.
pub fn inside_first_call(program: &Program) -> Option<Image> {
    let heights = program.stack_heights();
    let main = program.code_range(mova_lang::func::MAIN);
    let (call, callee, height) = main.clone().find_map(|ip| {
        let callee = program.code().get(usize::try_from(ip).ok()?)?.callee()?;
        Some((ip, callee, heights.at(ip)?.min))
    })?;
    let function = program.functions().get(usize::from(callee))?;
    // The references the main program holds at the call: string constants, if it has any.
    let ref_height = heights.refs_at(call)?;
    if ref_height > 0 && program.constants().is_empty() {
        return None;
    }
    let frame = mova_lang::func::Frame {
        function: callee,
        return_ip: call + 1,
        base: u32::from(height).checked_sub(u32::from(function.params))?,
        ref_base: u32::from(ref_height).checked_sub(u32::from(function.ref_params))?,
    };
    let state = mova_lang::image::State {
        ip: function.entry,
        stack: vec![1; usize::from(height)],
        frames: vec![frame],
        refs: vec![Ref::constant(0); usize::from(ref_height)],
        ..mova_lang::image::State::default()
    };
    Image::of_state(program, state, true).ok()
}

/// Images with a heap, as (name, image): a program that puts the string constant `"hi"` in an
/// array and passes the array to a function (`0 CONST 0, 1 NEWR, 2 RLOAD 0, 3 APPENDR, 4 RDUP,
/// 5 CALL 1, 6 PRINTR, 7 HALT`, and `f` at 8: `RLOAD 0, RETR`), stopped inside the call with the
/// array shared by two slots; before the call with a heap of every kind (a string with escapes
/// and multi-byte characters, int arrays empty and full, nested and shared arrays); and with an
/// array that holds itself (a cycle only a forger makes, which the format allows).
pub fn heap_images() -> Vec<(&'static str, Image)> {
    use mova_lang::func::{Frame, Function};
    use mova_lang::heap::{Object, STRINGS, encode_strings};
    use mova_lang::image::State;
    use mova_lang::isa::Instr::*;
    use mova_lang::mvb::Section;
    let program = Program::with_functions(
        vec![
            Const(0),
            NewR,
            RLoad(0),
            AppendR,
            RDup,
            Call(1),
            PrintR,
            Halt,
            RLoad(0),
            RetR,
        ],
        &[Function {
            entry: 8,
            params: 0,
            results: 0,
            ref_params: 1,
            ref_results: 1,
        }],
        vec![Section {
            kind: STRINGS,
            payload: encode_strings(&["hi"]),
        }],
    );
    let Ok(program) = program else {
        return Vec::new();
    };
    let inside = State {
        ip: 8,
        frames: vec![Frame {
            function: 1,
            return_ip: 6,
            base: 0,
            ref_base: 2,
        }],
        refs: vec![Ref::constant(0), Ref::object(0), Ref::object(0)],
        heap: vec![Object::Refs(vec![Ref::constant(0)])],
        ..State::default()
    };
    let every_kind = State {
        ip: 5,
        refs: vec![Ref::object(0), Ref::object(1), Ref::object(2)],
        heap: vec![
            Object::Refs(vec![
                Ref::object(3),
                Ref::object(3),
                Ref::object(1),
                Ref::constant(0),
            ]),
            Object::Ints(vec![i64::MIN, -1, 0, 1, i64::MAX]),
            Object::Ints(Vec::new()),
            Object::Str("tab\t \"quote\" é ∑ \u{1F600}".as_bytes().into()),
        ],
        ..State::default()
    };
    let cycle = State {
        ip: 5,
        refs: vec![Ref::object(0), Ref::object(0), Ref::object(1)],
        heap: vec![
            Object::Refs(vec![Ref::object(0), Ref::object(1)]),
            Object::Refs(Vec::new()),
        ],
        ..State::default()
    };
    [("heap-call", inside), ("heap-kinds", every_kind), ("heap-cycle", cycle)]
        .into_iter()
        .filter_map(|(name, state)| Some((name, Image::of_state(&program, state, true).ok()?)))
        .collect()
}

/// The seed corpus of every target, as (target, file name, bytes): the examples' sources and
/// their bytecode with and without a source map, images of the seed program at each of its
/// instructions (with and without the program, mid-sleep), images with heaps ([`heap_images`]),
/// one frame of each message, and a moderate input of each deep shape.
pub fn seeds(examples: &[(String, String)]) -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for (name, source) in examples {
        let program = if name.ends_with(".mova") {
            seeds.push(("compile", name.clone(), source.clone().into_bytes()));
            lang::compile(source, Some(name)).ok().map(|c| c.program)
        } else {
            seeds.push(("assemble", name.clone(), source.clone().into_bytes()));
            asm::assemble_errors(source, Some(name)).0
        };
        if let Some(program) = program {
            seeds.push(("mvb_load", format!("{name}-g.mvb"), program.encode()));
            // Without the source map and debug info.
            let bare = bare(&program);
            seeds.push(("mvb_load", format!("{name}.mvb"), bare.encode()));
            let image = Image::new(&program, 0, Vec::new(), None, true).unwrap();
            seeds.push(("mvs_decode_check", format!("{name}.mvs"), image.encode()));
            if let Some(image) = inside_first_call(&program) {
                seeds.push((
                    "mvs_decode_check",
                    format!("{name}-call.mvs"),
                    image.encode(),
                ));
            }
        }
    }
    for (name, image) in heap_images() {
        seeds.push(("mvs_decode_check", format!("{name}.mvs"), image.encode()));
    }
    let seed = seed_program();
    for (ip, stack, sleep) in [(0, vec![], None), (1, vec![17], None), (2, vec![1], None)]
        .into_iter()
        .chain([(3, vec![-5], Some(40)), (4, vec![i64::MAX], None)])
    {
        for with_program in [false, true] {
            let image = Image::new(&seed, ip, stack.clone(), sleep, with_program).unwrap();
            let name = format!("seed-{ip}-{with_program}.mvs");
            seeds.push(("mvs_decode_check", name, image.encode()));
        }
    }
    let requests = [
        Request::Hello {
            version: mova_vm::protocol::PROTOCOL_VERSION,
            nonce: vec![7; 32],
        },
        Request::Proof(vec![9; 32]),
        Request::Interrupt,
        Request::Resume,
        Request::Save { with_program: true },
        Request::Restore {
            migration: MigrationId([5; 16]),
            image: Image::new(&seed, 1, vec![3], None, false).unwrap().encode(),
        },
        Request::Info,
        Request::Hold {
            migration: MigrationId([5; 16]),
            to_pid: 4250,
            to_addr: "127.0.0.1:40001".into(),
        },
        Request::Commit {
            migration: MigrationId([5; 16]),
            run: true,
        },
        Request::Outcome {
            migration: MigrationId([5; 16]),
            abort: true,
        },
        Request::Settle {
            migration: MigrationId([5; 16]),
            committed: false,
        },
        Request::Stop {
            reason: "fuzz".into(),
        },
    ];
    for (i, request) in requests.iter().enumerate() {
        let mut bytes = vec![1];
        request.write(&mut bytes).unwrap();
        seeds.push(("frame", format!("request-{i}"), bytes));
    }
    let mut hello = vec![0];
    requests[0].write(&mut hello).unwrap();
    requests[5].write(&mut hello).unwrap();
    seeds.push(("frame", "hello-then-info".into(), hello));
    let responses = [
        Response::Ok,
        Response::Error("refused".into()),
        Response::Image(vec![0x89, b'M', b'V', b'S']),
        Response::Info("{\"state\":\"running\"}".into()),
    ];
    for (i, response) in responses.iter().enumerate() {
        let mut bytes = vec![2];
        response.write(&mut bytes).unwrap();
        seeds.push(("frame", format!("response-{i}"), bytes));
    }
    for shape in 0..SHAPES.len() {
        // 64 repetitions: quick to run, and a mutation of the count bytes reaches any depth.
        let bytes = vec![u8::try_from(shape).unwrap(), 0, 0, 64];
        seeds.push(("deep", format!("shape-{shape}"), bytes));
    }
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The version 1 images the seed corpus takes from `compat/v1/` grow when written as
    /// version 2: the target once said an image never does, and stopped at its second input.
    #[test]
    fn the_version_1_corpus_passes_the_image_target() {
        let compat = concat!(env!("CARGO_MANIFEST_DIR"), "/../compat/v1");
        let mut images = 0;
        for entry in std::fs::read_dir(compat).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "mvs") {
                mvs_decode_check(&std::fs::read(&path).unwrap());
                images += 1;
            }
        }
        assert_eq!(images, 5);
    }

    /// The examples with functions give the image fuzzer a frames segment to start from.
    #[test]
    fn the_calls_example_seeds_an_image_with_frames() {
        let source = include_str!("../../examples/calls.mvasm");
        let program = asm::assemble_errors(source, None).0.unwrap();
        let image = inside_first_call(&program).unwrap();
        assert_eq!(image.frames.len(), 1);
        mvs_decode_check(&image.encode());
        mvb_load(&program.encode());
        assemble_source(source);
        let seeds = seeds(&[("calls.mvasm".into(), source.into())]);
        assert!(seeds.iter().any(
            |(target, name, _)| *target == "mvs_decode_check" && name == "calls.mvasm-call.mvs"
        ));
    }

    #[test]
    fn every_shape_builds_what_it_says() {
        for (shape, name) in (0u8..).zip(SHAPES) {
            let source = deep_source(&[shape, 0, 0, 3]);
            let text = match &source {
                Deep::Mova(text) | Deep::Mvasm(text) => text,
            };
            assert!(!text.is_empty(), "{name}");
            deep(&[shape, 0, 0, 3]);
        }
    }
}
