//! The generated parts of the docs: the tables in `docs/isa.md` come from the one declaration in
//! `lang/src/isa.rs`, and the example bytes in `docs/formats.md` from the encoders. These tests fail
//! when the docs and the code disagree; run them with `MOVA_BLESS=1` to rewrite the docs in place.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mova_lang::image::{Image, PRODUCER};
use mova_lang::isa::{OperandKind, markdown_table};
use mova_lang::strategies::seed_program as seed;
use std::fs;

const ISA_DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/isa.md");
const FORMATS_DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/formats.md");
const END: &str = "<!-- end of generated part -->";

/// Replaces the text between the `name` marker and the next end marker by `table`, returning
/// whether it changed.
fn splice(doc: &mut String, name: &str, table: &str) -> bool {
    let what = name;
    let start_marker =
        format!("<!-- generated: {name} (cargo test -p mova-lang --test docs) -->\n");
    let start = doc
        .find(&start_marker)
        .unwrap_or_else(|| panic!("the doc lacks the marker for the {what}"))
        + start_marker.len();
    let end = start + doc[start..].find(END).expect("the doc has the end marker");
    let changed = doc[start..end] != *table;
    doc.replace_range(start..end, table);
    changed
}

/// Checks (or, with `MOVA_BLESS`, rewrites) the generated parts of the doc at `path`.
fn check(path: &str, parts: &[(&str, String)]) {
    let mut doc = fs::read_to_string(path).unwrap();
    let mut changed = false;
    for (name, text) in parts {
        changed |= splice(&mut doc, name, text);
    }
    if !changed {
        return;
    }
    if std::env::var_os("MOVA_BLESS").is_some() {
        fs::write(path, doc).unwrap();
        return;
    }
    panic!("{path} is out of date; run `MOVA_BLESS=1 cargo test -p mova-lang --test docs`");
}

#[test]
fn isa_doc_tables_match_the_declaration() {
    check(
        ISA_DOC,
        &[
            ("opcode table", markdown_table()),
            ("operand table", OperandKind::markdown_table()),
        ],
    );
}

/// A fenced hex dump of `bytes`, one line per field: its offset, its bytes (padded to `width`
/// columns) and what it is. Fails unless the fields cover every byte.
fn hex_dump(bytes: &[u8], fields: &[(&str, usize)], width: usize) -> String {
    let mut dump = String::from("```text\n");
    let mut at = 0;
    for &(what, len) in fields {
        let hex: Vec<String> = bytes[at..at + len]
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let line = format!("{at:>4}  {:<width$} {what}", hex.join(" "));
        dump.push_str(line.trim_end());
        dump.push('\n');
        at += len;
    }
    assert_eq!(at, bytes.len(), "the dump covers every byte");
    dump.push_str("```\n");
    dump
}

#[test]
fn formats_doc_example_matches_the_encoder() {
    let fields = [
        ("signature", 8),
        ("version 1", 2),
        ("flags", 2),
        ("5 instructions", 4),
        ("29 bytes of code", 4),
        ("0 sections", 4),
        ("PUT 0", 9),
        ("ADD 1", 9),
        ("PRINT", 1),
        ("SLEEP 100", 5),
        ("GOTO 3", 5),
        ("CRC-32", 4),
    ];
    let dump = hex_dump(&seed().encode(), &fields, 27);
    check(FORMATS_DOC, &[("seed program bytes", dump)]);
}

#[test]
fn image_doc_example_matches_the_encoder() {
    let image = Image::new(&seed(), 1, vec![17], None, false).unwrap();
    let producer = format!("`{PRODUCER}` (UTF-8)");
    let mut fields = vec![
        ("signature", 8),
        ("version 2", 2),
        ("flags", 2),
        ("oldest reader: version 2", 2),
        ("IP segment", 2),
        ("IP 1 (the ADD)", 4),
        ("stack segment", 2),
        ("1 value", 2),
        ("element size 8", 4),
        ("17", 8),
        ("program hash segment", 2),
        ("length 32", 4),
        ("SHA-256 of the 29 bytes", 8),
        ("of instructions", 8),
        ("", 8),
        ("", 8),
        ("producer segment (optional)", 2),
        ("length 10", 4),
    ];
    assert_eq!(
        PRODUCER.len(),
        10,
        "the doc's example has a 10-byte producer"
    );
    fields.extend([(producer.as_str(), 8), ("", 2)]);
    fields.extend([("end segment", 2), ("length 4", 4), ("CRC-32", 4)]);
    // Two spaces between the bytes and what they are: the 23 columns plus one.
    let dump = hex_dump(&image.encode(), &fields, 24);
    check(FORMATS_DOC, &[("seed image bytes", dump)]);
}

/// The version 1 example in `docs/formats.md` is not generated (no build writes version 1 any
/// more), but it must stay an image this build loads, as the same state as the version 2 one.
#[test]
fn the_version_1_image_doc_example_loads() {
    let doc = fs::read_to_string(FORMATS_DOC).unwrap();
    let marker = "<!-- version 1 example: seed image bytes -->\n```text\n";
    let start = doc.find(marker).expect("the doc has the version 1 example") + marker.len();
    let block = &doc[start..start + doc[start..].find("```").unwrap()];
    let mut bytes = Vec::new();
    for line in block.lines() {
        // `offset  bytes  what`, the bytes in columns 6 to 29.
        let column = line
            .get(6..30)
            .unwrap_or_else(|| line.get(6..).unwrap_or_default());
        for word in column.split_whitespace() {
            bytes.push(u8::from_str_radix(word, 16).unwrap());
        }
    }
    assert_eq!(bytes.len(), 74);
    let (image, provenance) = Image::decode_file(&bytes).unwrap();
    assert_eq!(provenance.version, 1);
    assert_eq!(
        image,
        Image::new(&seed(), 1, vec![17], None, false).unwrap()
    );
}

/// The function table's example payload in `docs/formats.md` is what the encoder writes.
#[test]
fn the_function_table_example_is_the_encoders() {
    use mova_lang::func::{Function, encode_table};
    let payload = encode_table(&[Function {
        entry: 5,
        params: 1,
        results: 1,
        ref_params: 0,
        ref_results: 0,
    }]);
    let hex: Vec<String> = payload.iter().map(|byte| format!("{byte:02X}")).collect();
    let spaced = format!(
        "`{}  {}  {}  {}`",
        hex[..2].join(" "),
        hex[2..6].join(" "),
        hex[6..8].join(" "),
        hex[8]
    );
    let doc = fs::read_to_string(FORMATS_DOC).unwrap();
    assert!(doc.contains(&spaced), "{spaced}");
}

/// The heap example in `docs/formats.md`: the frames, reference bases, reference stack and heap
/// segments of a state with strings and arrays, as the encoder writes them.
#[test]
fn heap_image_doc_example_matches_the_encoder() {
    use mova_lang::func::{Frame, Function};
    use mova_lang::heap::{Object, Ref, STRINGS, encode_strings};
    use mova_lang::image::{IMAGE_HEADER_LEN, State};
    use mova_lang::isa::Instr::*;
    use mova_lang::mvb::{Program, Section};
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
    )
    .unwrap();
    let state = State {
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
    let bytes = Image::of_state(&program, state, false).unwrap().encode();
    // After the header, the IP, the empty stack and the program hash.
    let start = IMAGE_HEADER_LEN + 6 + 8 + 38;
    let fields = [
        ("frames segment", 2),
        ("length 14", 4),
        ("1 frame", 4),
        ("function 1, return IP 6, base 0", 10),
        ("reference bases segment", 2),
        ("length 8", 4),
        ("1 base", 4),
        ("reference base 2", 4),
        ("reference stack segment", 2),
        ("length 16", 4),
        ("3 references", 4),
        ("constant 0 (\"hi\")", 4),
        ("heap object 0", 4),
        ("heap object 0", 4),
        ("heap segment", 2),
        ("length 13", 4),
        ("1 object", 4),
        ("object 0: kind 3, an array of references", 1),
        ("1 element", 4),
        ("constant 0", 4),
    ];
    let len: usize = fields.iter().map(|(_, len)| len).sum();
    let mut dump = hex_dump(&bytes[start..start + len], &fields, 30);
    // Offsets in the image, not in the excerpt.
    dump = dump
        .lines()
        .map(
            |line| match line.get(..4).map(str::trim).map(str::parse::<usize>) {
                Some(Ok(at)) => format!("{:>4}{}\n", at + start, &line[4..]),
                _ => format!("{line}\n"),
            },
        )
        .collect();
    check(FORMATS_DOC, &[("heap image segments", dump)]);
}
