//! `movahv inspect`: a saved state image, for people and for tools.

use crate::HvError;
use mova_compiler::driver::Options;
use mova_lang::image::{Image, MAX_IMAGE_LEN, Provenance, hash_hex};
use mova_lang::mvb::Program;
use mova_vm::backtrace::{self, Row, Symbols, shown, thousands};
use mova_vm::machine::TraceEntry;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::Path;

/// An image file, decoded: its state, what it says about itself, and its size in bytes.
#[derive(Debug)]
pub struct ImageFile {
    pub image: Image,
    pub provenance: Provenance,
    pub size: usize,
}

/// Writes the diagnostics `error` carries, if any, to standard error: those of a program named
/// with `--program` that does not compile. Both the one-shot command and the shell write them
/// before the error line that counts them.
pub fn write_diagnostics(error: &HvError) {
    if let HvError::Load(load) = error
        && let Some(diagnostics) = load.diagnostics()
    {
        diagnostics.write(&mut std::io::stderr(), &Options::default());
    }
}

/// Reads and decodes an image file.
pub fn read(path: &Path) -> Result<ImageFile, HvError> {
    let bytes = mova_compiler::io::read_limited(path, MAX_IMAGE_LEN)
        .map_err(mova_compiler::driver::DriverError::from)?;
    let (image, provenance) = Image::decode_file(&bytes).map_err(|source| HvError::Image {
        path: path.to_owned(),
        source,
    })?;
    Ok(ImageFile {
        image,
        provenance,
        size: bytes.len(),
    })
}

/// The format version, the oldest reader version, the producer and what was skipped, as JSON.
/// `skipped_unlisted` is there only when the image skipped more than it lists.
fn format_json(provenance: &Provenance) -> Value {
    let mut value = json!({
        "version": provenance.version,
        "min_reader": provenance.min_reader,
        "producer": provenance.producer,
        "skipped": provenance.skipped.iter().map(|skipped| json!({
            "header": format!("0x{:04X}", skipped.header),
            "offset": skipped.offset,
            "length": skipped.len,
        })).collect::<Vec<_>>(),
    });
    if provenance.skipped_unlisted > 0 {
        value["skipped_unlisted"] = json!(provenance.skipped_unlisted);
    }
    value
}

/// `text` from the image, made safe to write to a terminal: what a terminal would obey rather
/// than show (an escape sequence, a bidirectional control, a line separator) is shown escaped,
/// `\u{1b}`. The producer cannot hold control characters, but an embedded program's source map
/// can, and so can the source file a VM's `Info` names (`movahv ps`).
pub(crate) fn printable(text: &str) -> String {
    mova_compiler::snippet::escape_unseen(text)
}

/// The lines of the text view that say what the file says about itself.
fn format_text(provenance: &Provenance) -> String {
    let mut out = format!(
        "format   version {} (readers of version {} and newer can load it)\n",
        provenance.version, provenance.min_reader
    );
    match &provenance.producer {
        Some(producer) => out.push_str(&format!("producer {}\n", printable(producer))),
        None if provenance.version < 2 => {
            out.push_str("producer not recorded (version 1 images do not record it)\n");
        }
        None => out.push_str("producer not recorded\n"),
    }
    for skipped in &provenance.skipped {
        out.push_str(&format!(
            "skipped  optional segment 0x{:04X} at byte {} ({} bytes), which this Mova does not know\n",
            skipped.header, skipped.offset, skipped.len
        ));
    }
    if provenance.skipped_unlisted > 0 {
        out.push_str(&format!(
            "skipped  {} more optional segments, not listed\n",
            provenance.skipped_unlisted
        ));
    }
    out
}

/// Where the image's IP is: the instruction there and, with a source map, the source line.
fn location(image: &Image, program: Option<&Program>) -> Value {
    let Some(program) = program else {
        return json!({ "ip": image.ip });
    };
    let mut value = json!({
        "ip": image.ip,
        "instructions": program.code().len(),
        "instruction": program
            .code()
            .get(image.ip as usize)
            .map_or_else(|| String::from("(end of the code: the program has finished)"), ToString::to_string),
    });
    if let Some(map) = program.source_map()
        && let Some(span) = map.span(image.ip)
    {
        let (line, column) = map.line_column(span.start);
        let text = map
            .source
            .lines()
            .nth(line - 1)
            .unwrap_or_default()
            .trim()
            .to_owned();
        value["source"] = json!({
            "file": map.file,
            "line": line,
            "column": column,
            "text": text,
        });
    }
    value
}

/// Whether the image gets a backtrace: when it is inside calls, or its program names its locals
/// (so that even the main program's variables are shown by name). Images of programs without
/// functions or debug info (every version 1 image) show and say exactly what they did.
fn has_backtrace(image: &Image, symbols: &Symbols<'_>) -> bool {
    !image.frames.is_empty() || symbols.has_debug_info()
}

/// A frame's values: the stack from its base up to the next frame's base (the innermost's up to
/// the top). An outer frame's arguments to the call it waits in are its callee's slots.
fn frame_slots<'i>(image: &'i Image, trace: &[TraceEntry], index: usize) -> &'i [i64] {
    let Some(entry) = trace.get(index) else {
        return &[];
    };
    let top = match index.checked_sub(1).and_then(|inner| trace.get(inner)) {
        Some(inner) => inner.base as usize,
        None => image.stack.len(),
    };
    image
        .stack
        .get(entry.base as usize..top.min(image.stack.len()))
        .unwrap_or_default()
}

/// The locals of a frame by name with their values (`None` for a slot the frame does not hold,
/// which only a forged image can have), or `None` without debug info.
fn frame_locals(
    symbols: &Symbols<'_>,
    entry: &TraceEntry,
    slots: &[i64],
) -> Option<Vec<(String, u16, Option<i64>)>> {
    let locals = symbols.locals(entry.function, entry.ip)?;
    Some(
        locals
            .into_iter()
            .map(|local| {
                let value = slots.get(usize::from(local.slot)).copied();
                (local.name.clone(), local.slot, value)
            })
            .collect(),
    )
}

/// The backtrace as JSON, every frame (at most 10,001), innermost first.
fn backtrace_json(image: &Image, symbols: &Symbols<'_>) -> Value {
    let trace = backtrace::trace(image.ip, &image.frames);
    let frames: Vec<Value> = trace
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let slots = frame_slots(image, &trace, index);
            let mut value = json!({
                "function": entry.function,
                "name": symbols.name(entry.function),
                "ip": entry.ip,
                "base": entry.base,
                "slots": slots,
            });
            if let Some(instr) = symbols.instruction(entry.ip) {
                value["instruction"] = json!(instr.to_string());
            }
            if let Some(source) = symbols.source(entry.ip) {
                value["source"] = json!({
                    "file": source.file,
                    "line": source.line,
                    "column": source.column,
                    "text": source.text,
                });
            }
            if let Some(locals) = frame_locals(symbols, entry, slots) {
                value["locals"] = locals
                    .into_iter()
                    .map(|(name, slot, value)| json!({"name": name, "slot": slot, "value": value}))
                    .collect();
            }
            value
        })
        .collect();
    Value::Array(frames)
}

/// The most raw slots of a frame the text view shows.
const SHOWN_SLOTS: usize = 8;

/// The backtrace for people: a line per frame (function, instruction, source line), its locals
/// by name or its raw slots under it; long ones cut as `mova` cuts them (`backtrace::rows`).
fn backtrace_text(image: &Image, symbols: &Symbols<'_>) -> String {
    let trace = backtrace::trace(image.ip, &image.frames);
    let calls = image.frames.len();
    let mut out = format!(
        "calls    {} in progress; the backtrace, innermost first:\n",
        thousands(calls)
    );
    let width = trace.len().saturating_sub(1).to_string().len().max(2) + 3;
    let mut cut = false;
    for row in backtrace::rows(&trace) {
        match row {
            Row::Frame(index) => {
                let Some(entry) = trace.get(index) else {
                    continue;
                };
                let _ = write!(
                    out,
                    "{index:>width$}: {} at instruction {}",
                    shown(&symbols.name(entry.function)),
                    entry.ip
                );
                if let Some(instr) = symbols.instruction(entry.ip) {
                    let _ = write!(out, " (`{instr}`)");
                }
                if let Some(source) = symbols.source(entry.ip) {
                    let _ = write!(
                        out,
                        "  {}:{}:{}  {}",
                        shown(&source.file),
                        source.line,
                        source.column,
                        shown(&source.text)
                    );
                }
                out.push('\n');
                let slots = frame_slots(image, &trace, index);
                let indent = width + 4;
                match frame_locals(symbols, entry, slots) {
                    Some(locals) => {
                        for (name, slot, value) in locals {
                            let value = value.map_or_else(
                                || format!("(slot {slot} is not on the stack)"),
                                |value| value.to_string(),
                            );
                            let _ = writeln!(out, "{:indent$}{} = {value}", "", shown(&name));
                        }
                    }
                    None if !slots.is_empty() => {
                        let _ = write!(out, "{:indent$}slots", "");
                        for value in slots.iter().take(SHOWN_SLOTS) {
                            let _ = write!(out, "  {value}");
                        }
                        if slots.len() > SHOWN_SLOTS {
                            let _ = write!(out, "  … {} more", slots.len() - SHOWN_SLOTS);
                            cut = true;
                        }
                        out.push('\n');
                    }
                    None => {}
                }
            }
            Row::Repeated(range) => {
                cut = true;
                let _ = writeln!(
                    out,
                    "{:width$}  [{} more {} in the same call, like the one above]",
                    "",
                    thousands(range.len()),
                    if range.len() == 1 { "frame" } else { "frames" }
                );
            }
            Row::Elided(range) => {
                cut = true;
                let left_out = trace.get(range).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{:width$}  … {} …",
                    "",
                    backtrace::elided(symbols, left_out)
                );
            }
        }
    }
    if cut {
        out.push_str("         (frames and slots left out here are all in --json)\n");
    }
    out
}

/// The image as JSON; `program` supplies the code when the image does not carry it.
pub fn to_json(file: &ImageFile, program: Option<&Program>) -> Value {
    let image = &file.image;
    let program = image.program().or(program);
    let mut value = json!({
        "size": file.size,
        "format": format_json(&file.provenance),
        "program_hash": hash_hex(&image.program_hash),
        "program_embedded": image.program().is_some(),
        "at": location(image, program),
        "stack": image.stack,
        "sleep_left_ms": image.sleep_left_ms,
    });
    let symbols = Symbols::of(program);
    if has_backtrace(image, &symbols) {
        value["calls"] = json!(image.frames.len());
        value["backtrace"] = backtrace_json(image, &symbols);
    }
    value
}

/// The image for people.
pub fn to_text(path: &Path, file: &ImageFile, program: Option<&Program>) -> String {
    let image = &file.image;
    let program_ref = image.program().or(program);
    let mut out = format!("image    {} ({} bytes)\n", path.display(), file.size);
    out.push_str(&format_text(&file.provenance));
    out.push_str(&format!(
        "program  sha256 {} ({})\n",
        hash_hex(&image.program_hash),
        match (image.program(), program) {
            (Some(embedded), _) => format!("embedded, {} instructions", embedded.code().len()),
            (None, Some(given)) =>
                format!("not embedded; given, {} instructions", given.code().len()),
            (None, None) =>
                String::from("not embedded; name it with --program to see instructions"),
        }
    ));
    let at = location(image, program_ref);
    out.push_str(&format!("ip       {}", image.ip));
    if let Some(instruction) = at.get("instruction").and_then(Value::as_str) {
        out.push_str(&format!("  {instruction}"));
    }
    out.push('\n');
    if let Some(source) = at.get("source") {
        out.push_str(&format!(
            "source   {}:{}:{}  {}\n",
            printable(source["file"].as_str().unwrap_or_default()),
            source["line"],
            source["column"],
            printable(source["text"].as_str().unwrap_or_default())
        ));
    }
    if let Some(left) = image.sleep_left_ms {
        out.push_str(&format!("sleep    {left} ms left of the sleep at the ip\n"));
    }
    let symbols = Symbols::of(program_ref);
    if has_backtrace(image, &symbols) {
        out.push_str(&backtrace_text(image, &symbols));
    }
    out.push_str(&format!(
        "stack    {} value{}, bottom first\n",
        image.stack.len(),
        if image.stack.len() == 1 { "" } else { "s" }
    ));
    const SHOWN: usize = 32;
    for (slot, value) in image.stack.iter().enumerate().take(SHOWN) {
        out.push_str(&format!("  {slot:>5}  {value}\n"));
    }
    if image.stack.len() > SHOWN {
        out.push_str(&format!(
            "  … {} more (see --json)\n",
            image.stack.len() - SHOWN
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use mova_lang::image::{PRODUCER, Skipped};

    #[test]
    fn text_from_the_image_is_shown_without_what_a_terminal_obeys() {
        assert_eq!(printable("mova 0.1.0 – ünï"), "mova 0.1.0 – ünï");
        // The producer refuses control characters, not the bidirectional controls.
        assert_eq!(
            printable("mova \u{202e}0.1.0\u{2066}\u{2028}"),
            "mova \\u{202e}0.1.0\\u{2066}\\u{2028}"
        );
        assert_eq!(printable("\u{1b}[2J\t\u{9b}"), "\\u{1b}[2J\\u{9}\\u{9b}");
    }

    #[test]
    fn the_format_lines_say_version_reader_producer_and_what_was_skipped() {
        let newer = Provenance {
            version: 3,
            min_reader: 2,
            producer: Some("mova 0.2.0".into()),
            skipped: vec![Skipped {
                header: 0x8ABC,
                offset: 74,
                len: 15,
            }],
            skipped_unlisted: 0,
        };
        assert_eq!(
            format_text(&newer),
            "format   version 3 (readers of version 2 and newer can load it)\n\
             producer mova 0.2.0\n\
             skipped  optional segment 0x8ABC at byte 74 (15 bytes), which this Mova does not know\n"
        );
        assert_eq!(
            format_json(&newer),
            json!({
                "version": 3,
                "min_reader": 2,
                "producer": "mova 0.2.0",
                "skipped": [{"header": "0x8ABC", "offset": 74, "length": 15}],
            })
        );
        let image = Image::new(
            &Program::new(vec![mova_lang::Instr::Put(1)]).unwrap(),
            0,
            Vec::new(),
            None,
            false,
        )
        .unwrap();
        let (_, ours) = Image::decode_file(&image.encode()).unwrap();
        assert_eq!(
            format_text(&ours),
            format!(
                "format   version 2 (readers of version 2 and newer can load it)\nproducer {PRODUCER}\n"
            )
        );
        let unsigned = Provenance {
            producer: None,
            ..ours
        };
        assert!(format_text(&unsigned).ends_with("producer not recorded\n"));
        let crowded = Provenance {
            skipped_unlisted: 99_936,
            ..newer
        };
        assert!(format_text(&crowded).ends_with(
            "which this Mova does not know\nskipped  99936 more optional segments, not listed\n"
        ));
        assert_eq!(format_json(&crowded)["skipped_unlisted"], 99_936);
    }
}
