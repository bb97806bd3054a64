//! End-to-end tests of `movahv inspect` on forged state images: what a hostile file makes it
//! print and how much it makes it hold.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mova_lang::Instr;
use mova_lang::image::{Image, MAX_SKIPPED_LISTED};
use mova_lang::mvb::Program;
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
