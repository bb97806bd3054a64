//! `movahv inspect`: a saved state image, for people and for tools.

use crate::HvError;
use mova_compiler::driver::Options;
use mova_lang::heap::{self, Kind, Limits, Lookup, Object, Ref, Target};
use mova_lang::image::{Image, MAX_IMAGE_LEN, Provenance, hash_hex};
use mova_lang::mvb::Program;
use mova_lang::seal::{self, SEAL_HEADER_LEN, SealKey};
use mova_vm::backtrace::{self, Row, Symbols, shown, thousands};
use mova_vm::machine::TraceEntry;
use serde_json::{Map, Value, json};
use std::cell::Cell;
use std::collections::HashMap;
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

/// Reads and decodes an image file; with a seal key, only an image sealed with it, whose seal is
/// checked before anything is decoded.
pub fn read(path: &Path, key: Option<&SealKey>) -> Result<ImageFile, HvError> {
    // A sealed image is its seal's header longer than the image inside.
    let limit = MAX_IMAGE_LEN + key.map_or(0, |_| SEAL_HEADER_LEN);
    let bytes = mova_compiler::io::read_limited(path, limit)
        .map_err(mova_compiler::driver::DriverError::from)?;
    let unsealed = seal::unseal(key, &bytes).map_err(|source| HvError::Seal {
        path: path.to_owned(),
        source,
    })?;
    let (image, provenance) = Image::decode_file(unsealed).map_err(|source| HvError::Image {
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

/// The image's heap and the program's string constants, where the values of references are
/// looked up. Without the program, each constant a reference names reads `<constant k>`.
struct Values<'a> {
    heap: &'a [Object],
    constants: &'a [Box<[u8]>],
    /// For an image shown without its program: a placeholder for every constant it names.
    unknown: HashMap<u32, Box<[u8]>>,
}

impl<'a> Values<'a> {
    fn of(image: &'a Image, program: Option<&'a Program>) -> Values<'a> {
        let mut unknown = HashMap::new();
        if program.is_none() {
            let named = image
                .refs
                .iter()
                .chain(image.heap.iter().flat_map(Object::refs));
            for value in named {
                if let Target::Constant(index) = value.target() {
                    unknown
                        .entry(index)
                        .or_insert_with(|| format!("<constant {index}>").into_bytes().into());
                }
            }
        }
        Values {
            heap: &image.heap,
            constants: program.map(Program::constants).unwrap_or_default(),
            unknown,
        }
    }
}

impl Lookup for Values<'_> {
    fn object(&self, index: u32) -> Option<&Object> {
        self.heap.get(usize::try_from(index).ok()?)
    }

    fn constant(&self, index: u32) -> Option<&[u8]> {
        match self.constants.get(usize::try_from(index).ok()?) {
            Some(bytes) => Some(bytes),
            None => self.unknown.get(&index).map(AsRef::as_ref),
        }
    }
}

/// The most bytes of a value the text view shows (then `…`; `--json` has it whole).
pub const SHOWN_VALUE_LEN: usize = 60;

/// A reference's value for people: strings quoted with escapes, arrays as `print` shows them,
/// abbreviated to [`SHOWN_VALUE_LEN`] bytes, safe for a terminal; a constant of a program not
/// given as `<constant k>` (inside an array, quoted like the string it stands for).
fn value_text(values: &Values<'_>, value: Ref) -> String {
    if let Target::Constant(index) = value.target()
        && values.constants.get(index as usize).is_none()
    {
        return format!("<constant {index}>");
    }
    let limits = Limits {
        max_len: SHOWN_VALUE_LEN,
    };
    printable(&heap::show_string(values, value, true, limits))
}

/// How deep `--json` nests arrays before it writes a marker instead (a forged image can nest
/// them 100,000 deep, and every JSON reader has a depth limit of its own).
pub const MAX_JSON_DEPTH: usize = 64;

/// How much of the heap `--json` writes in all, counted in JSON values (an array, each int of an
/// array, a string and one more for each 32 bytes of it). Values are written whole, and an
/// object shared by many is written wherever it is reached, so an image whose arrays share
/// arrays (`[x, x]` of `[y, y]` of …) could ask for output exponential in its size; past this
/// budget objects are written as `{"cut": "#3"}` markers.
pub const MAX_JSON_COST: usize = 4 << 20;

/// A reference's value as JSON, whole: a string as a JSON string, an array as a JSON array
/// (nested). Where it cannot be written, an object says why: `{"cycle": "#3"}` for an array
/// that contains itself (only a forged image has one), `{"deeper": "#3"}` past
/// [`MAX_JSON_DEPTH`], `{"cut": "#3"}` once `budget` (shared by the whole document) is spent,
/// `{"constant": k}` for a constant of a program not given, `{"dangling": "#3"}` for what no
/// checked image has. Iterative: no depth of nesting makes it recurse.
fn value_json(values: &Values<'_>, value: Ref, budget: &Cell<usize>) -> Value {
    enum Step {
        Done(Value),
        Open(u32),
    }
    // The arrays being written, outermost first: the object, its next element, what is written.
    let mut open: Vec<(u32, usize, Vec<Value>)> = Vec::new();
    let spend = |cost: usize| {
        let left = budget.get();
        budget.set(left.saturating_sub(cost));
        left > 0
    };
    let step = |value: Ref, open: &[(u32, usize, Vec<Value>)]| {
        let marker = |key: &str| Step::Done(json!({ key: value.to_string() }));
        let object = match value.target() {
            Target::Constant(index) => {
                return Step::Done(match values.constants.get(index as usize) {
                    Some(bytes) if spend(1 + bytes.len() / 32) => {
                        Value::String(String::from_utf8_lossy(bytes).into_owned())
                    }
                    Some(_) => return marker("cut"),
                    None => json!({ "constant": index }),
                });
            }
            Target::Object(index) => index,
        };
        let cost = match values.object(object) {
            Some(Object::Str(bytes)) => 1 + bytes.len() / 32,
            Some(Object::Ints(ints)) => 1 + ints.len(),
            Some(Object::Refs(_)) | None => 1,
        };
        if !spend(cost) {
            return marker("cut");
        }
        match values.object(object) {
            None => marker("dangling"),
            Some(Object::Str(bytes)) => {
                Step::Done(Value::String(String::from_utf8_lossy(bytes).into_owned()))
            }
            Some(Object::Ints(ints)) => Step::Done(json!(ints)),
            Some(Object::Refs(_)) if open.iter().any(|(index, ..)| *index == object) => {
                marker("cycle")
            }
            Some(Object::Refs(_)) if open.len() >= MAX_JSON_DEPTH => marker("deeper"),
            Some(Object::Refs(_)) => Step::Open(object),
        }
    };
    let mut next = step(value, &open);
    loop {
        match next {
            Step::Open(object) => open.push((object, 0, Vec::new())),
            Step::Done(done) => match open.last_mut() {
                Some((_, _, items)) => items.push(done),
                None => return done,
            },
        }
        // The next element of the innermost open array; a finished array closes.
        loop {
            let Some((object, at, items)) = open.last_mut() else {
                return Value::Null;
            };
            let refs = values.object(*object).map(Object::refs).unwrap_or_default();
            if let Some(&element) = refs.get(*at) {
                *at += 1;
                next = step(element, &open);
                break;
            }
            let array = Value::Array(std::mem::take(items));
            open.pop();
            match open.last_mut() {
                Some((_, _, items)) => items.push(array),
                None => return array,
            }
        }
    }
}

/// The heap's objects and bytes ([`Object::heap_bytes`]), in all and by kind.
fn heap_summary(image: &Image) -> (usize, usize, Vec<(Kind, usize, usize)>) {
    let by_kind: Vec<(Kind, usize, usize)> = Kind::ALL
        .iter()
        .map(|&kind| {
            let of_kind = image.heap.iter().filter(|object| object.kind() == kind);
            let (count, bytes) = of_kind.fold((0, 0usize), |(count, bytes), object| {
                (count + 1, bytes.saturating_add(object.heap_bytes()))
            });
            (kind, count, bytes)
        })
        .collect();
    let bytes = by_kind
        .iter()
        .map(|(_, _, bytes)| bytes)
        .fold(0usize, |total, bytes| total.saturating_add(*bytes));
    (image.heap.len(), bytes, by_kind)
}

/// The heap summary as JSON: `{"objects": 3, "bytes": 120, "kinds": {"strings": {"objects": 1,
/// "bytes": 37}, …}}`, every kind named by [`Kind::name`].
fn heap_json(image: &Image) -> Value {
    let (objects, bytes, by_kind) = heap_summary(image);
    let mut kinds = Map::new();
    for (kind, count, bytes) in by_kind {
        kinds.insert(
            kind.name().to_owned(),
            json!({ "objects": count, "bytes": bytes }),
        );
    }
    json!({ "objects": objects, "bytes": bytes, "kinds": kinds })
}

/// The heap summary for people: `heap     3 objects, 120 bytes: 1 string (37 bytes), …`, the
/// kinds it has.
fn heap_text(image: &Image) -> String {
    let (objects, bytes, by_kind) = heap_summary(image);
    let mut out = format!(
        "heap     {} object{}, {} bytes",
        thousands(objects),
        if objects == 1 { "" } else { "s" },
        thousands(bytes)
    );
    let kinds: Vec<String> = by_kind
        .into_iter()
        .filter(|(_, count, _)| *count > 0)
        .map(|(kind, count, bytes)| {
            format!(
                "{} {} ({} bytes)",
                thousands(count),
                kind_name(kind, count),
                thousands(bytes)
            )
        })
        .collect();
    if !kinds.is_empty() {
        let _ = write!(out, ": {}", kinds.join(", "));
    }
    out.push('\n');
    out
}

/// `strings`, or `string` for one.
fn kind_name(kind: Kind, count: usize) -> &'static str {
    match (kind, count) {
        (Kind::Str, 1) => "string",
        (Kind::Ints, 1) => "int array",
        (Kind::Refs, 1) => "reference array",
        (kind, _) => kind.name(),
    }
}

/// Whether the image has references or a heap to show (images without them show and say what
/// they did before there were any).
fn has_refs(image: &Image) -> bool {
    !image.refs.is_empty() || !image.heap.is_empty()
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

/// A frame's references: the reference stack from its reference base up to the next frame's
/// (the innermost's up to the top).
fn frame_refs<'i>(image: &'i Image, trace: &[TraceEntry], index: usize) -> &'i [Ref] {
    let Some(entry) = trace.get(index) else {
        return &[];
    };
    let top = match index.checked_sub(1).and_then(|inner| trace.get(inner)) {
        Some(inner) => inner.ref_base as usize,
        None => image.refs.len(),
    };
    image
        .refs
        .get(entry.ref_base as usize..top.min(image.refs.len()))
        .unwrap_or_default()
}

/// A local's value: an int of the stack or a reference of the reference stack.
#[derive(Clone, Copy)]
enum LocalValue {
    Int(i64),
    Ref(Ref),
}

/// A named local: its name, whether it is on the reference stack, its slot and its value
/// (`None` for a slot the frame does not hold, which only a forged image can have).
struct NamedLocal {
    name: String,
    reference: bool,
    slot: u16,
    value: Option<LocalValue>,
}

/// The locals of a frame by name with their values, or `None` without debug info.
fn frame_locals(
    symbols: &Symbols<'_>,
    entry: &TraceEntry,
    slots: &[i64],
    refs: &[Ref],
) -> Option<Vec<NamedLocal>> {
    let locals = symbols.locals(entry.function, entry.ip)?;
    Some(
        locals
            .into_iter()
            .map(|local| {
                let at = usize::from(local.slot);
                let value = if local.reference {
                    refs.get(at).copied().map(LocalValue::Ref)
                } else {
                    slots.get(at).copied().map(LocalValue::Int)
                };
                NamedLocal {
                    name: local.name.clone(),
                    reference: local.reference,
                    slot: local.slot,
                    value,
                }
            })
            .collect(),
    )
}

/// The backtrace as JSON, every frame (at most 10,001), innermost first. With references, each
/// frame also has its reference base and its references' values (`ref_base`, `refs`).
fn backtrace_json(
    image: &Image,
    symbols: &Symbols<'_>,
    values: &Values<'_>,
    budget: &Cell<usize>,
) -> Value {
    let trace = backtrace::trace(image.ip, &image.frames);
    let frames: Vec<Value> = trace
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let slots = frame_slots(image, &trace, index);
            let refs = frame_refs(image, &trace, index);
            let mut value = json!({
                "function": entry.function,
                "name": symbols.name(entry.function),
                "ip": entry.ip,
                "base": entry.base,
                "slots": slots,
            });
            if has_refs(image) {
                value["ref_base"] = json!(entry.ref_base);
                value["refs"] = refs
                    .iter()
                    .map(|&value| value_json(values, value, budget))
                    .collect();
            }
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
            if let Some(locals) = frame_locals(symbols, entry, slots, refs) {
                value["locals"] = locals
                    .into_iter()
                    .map(|local| {
                        let shown = match local.value {
                            None => Value::Null,
                            Some(LocalValue::Int(int)) => json!(int),
                            Some(LocalValue::Ref(value)) => value_json(values, value, budget),
                        };
                        let mut item =
                            json!({"name": local.name, "slot": local.slot, "value": shown});
                        if local.reference {
                            item["reference"] = json!(true);
                        }
                        item
                    })
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
fn backtrace_text(image: &Image, symbols: &Symbols<'_>, values: &Values<'_>) -> String {
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
                let refs = frame_refs(image, &trace, index);
                let indent = width + 4;
                match frame_locals(symbols, entry, slots, refs) {
                    Some(locals) => {
                        for local in locals {
                            let value = match local.value {
                                Some(LocalValue::Int(int)) => int.to_string(),
                                Some(LocalValue::Ref(value)) => value_text(values, value),
                                None if local.reference => format!(
                                    "(reference slot {} is not on the reference stack)",
                                    local.slot
                                ),
                                None => format!("(slot {} is not on the stack)", local.slot),
                            };
                            let _ = writeln!(out, "{:indent$}{} = {value}", "", shown(&local.name));
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
    let values = Values::of(image, program);
    let budget = Cell::new(MAX_JSON_COST);
    // The reference stack first: it has every value, the locals name some of them again.
    if has_refs(image) {
        value["refs"] = image
            .refs
            .iter()
            .map(|&value| value_json(&values, value, &budget))
            .collect();
        value["heap"] = heap_json(image);
    }
    if has_backtrace(image, &symbols) {
        value["calls"] = json!(image.frames.len());
        value["backtrace"] = backtrace_json(image, &symbols, &values, &budget);
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
    let values = Values::of(image, program_ref);
    if has_backtrace(image, &symbols) {
        out.push_str(&backtrace_text(image, &symbols, &values));
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
    if has_refs(image) {
        out.push_str(&format!(
            "refs     {} reference{}, bottom first\n",
            image.refs.len(),
            if image.refs.len() == 1 { "" } else { "s" }
        ));
        for (slot, &value) in image.refs.iter().enumerate().take(SHOWN) {
            out.push_str(&format!("  {slot:>5}  {}\n", value_text(&values, value)));
        }
        if image.refs.len() > SHOWN {
            out.push_str(&format!(
                "  … {} more (see --json)\n",
                image.refs.len() - SHOWN
            ));
        }
        out.push_str(&heap_text(image));
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
