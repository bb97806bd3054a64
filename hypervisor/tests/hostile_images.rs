//! End-to-end tests of `movahv inspect` on forged state images: what a hostile file makes it
//! print and how much it makes it hold.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mova_lang::image::{Image, MAX_SKIPPED_LISTED};
use mova_lang::mvb::Program;
use mova_lang::{Instr, srcmap::SourceMap};
use mova_testkit::TempDir;
use std::process::{Command, Output};

const MOVAHV: &str = env!("CARGO_BIN_EXE_movahv");

/// `movahv ARGS` in `dir`.
fn movahv(dir: &TempDir, args: &[&str]) -> Output {
    Command::new(MOVAHV)
        .args(args)
        .current_dir(dir.path())
        .env("MOVA_RUNTIME_DIR", dir.path())
        .output()
        .unwrap()
}

/// CRC-32 (IEEE), as the end segment holds it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `image`'s version 2 bytes with `extra` before the end segment, sealed again.
fn with_segments(image: &Image, extra: &[u8]) -> Vec<u8> {
    let bytes = image.encode();
    // The end segment: header, length 4, CRC.
    let end = bytes.len() - 10;
    let mut out = bytes[..end].to_vec();
    out.extend_from_slice(extra);
    out.extend_from_slice(&bytes[end..bytes.len() - 4]);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn program() -> Program {
    Program::new(vec![Instr::Put(1), Instr::Print, Instr::Halt]).unwrap()
}

#[test]
fn millions_of_empty_optional_segments_are_counted_not_listed() {
    let dir = TempDir::new("hostile-many-skipped");
    let image = Image::new(&program(), 0, Vec::new(), None, true).unwrap();
    // An empty optional segment is 6 bytes; each listed one is a line of text or a JSON object
    // of some 50 bytes, so listing them all made the output (and the memory behind it) many
    // times the image's size: a 2.6 MB image took 700 MB to show as JSON.
    let count = 200_000;
    let empty = [0x80, 0x01, 0, 0, 0, 0];
    let bytes = with_segments(&image, &empty.repeat(count));
    dir.write("crowded.mvs", &bytes);

    let json = movahv(&dir, &["inspect", "--json", "crowded.mvs"]);
    assert!(json.status.success(), "{json:?}");
    assert!(json.stdout.len() < 16 << 10, "{} bytes", json.stdout.len());
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let format = &value["format"];
    assert_eq!(
        format["skipped"].as_array().unwrap().len(),
        MAX_SKIPPED_LISTED
    );
    assert_eq!(format["skipped_unlisted"], count - MAX_SKIPPED_LISTED);

    let text = movahv(&dir, &["inspect", "crowded.mvs"]);
    assert!(text.status.success(), "{text:?}");
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.len() < 16 << 10, "{} bytes", text.len());
    assert!(
        text.contains(&format!(
            "skipped  {} more optional segments, not listed\n",
            count - MAX_SKIPPED_LISTED
        )),
        "{text}"
    );
}

#[test]
fn a_source_map_cannot_write_escape_sequences_to_the_terminal() {
    let dir = TempDir::new("hostile-source-map");
    // A file name that sets the terminal's title and a source line that clears the screen and
    // reverses the text after it: an embedded program's source map is the image's to say.
    let file = "\u{1b}]0;owned\u{7}loop.mova";
    let source = "\u{1b}[2J\u{202e}put 1\u{9b}31m;";
    let map = SourceMap::new(file, source, [0..source.len(), 0..1, 0..1]);
    let program = Program::with_sections(
        vec![Instr::Put(1), Instr::Print, Instr::Halt],
        vec![map.to_section().unwrap()],
    )
    .unwrap();
    let image = Image::new(&program, 0, Vec::new(), None, true).unwrap();
    dir.write("forged.mvs", image.encode());

    let text = movahv(&dir, &["inspect", "forged.mvs"]);
    assert!(text.status.success(), "{text:?}");
    let text = String::from_utf8(text.stdout).unwrap();
    for c in ['\u{1b}', '\u{7}', '\u{202e}', '\u{9b}'] {
        assert!(!text.contains(c), "{c:?} in {text:?}");
    }
    assert!(
        text.contains(
            "source   \\u{1b}]0;owned\\u{7}loop.mova:1:1  \\u{1b}[2J\\u{202e}put 1\\u{9b}31m;\n"
        ),
        "{text}"
    );
    // JSON escapes the control characters itself and keeps the text as it is.
    let json = movahv(&dir, &["inspect", "--json", "forged.mvs"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["at"]["source"]["file"], file);
    assert!(!json.stdout.contains(&0x1b), "{json:?}");
}
