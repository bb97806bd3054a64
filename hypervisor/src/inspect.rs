//! `movahv inspect`: a saved state image, for people and for tools.

use crate::HvError;
use mova_compiler::driver::Options;
use mova_lang::image::{Image, MAX_IMAGE_LEN, hash_hex};
use mova_lang::mvb::Program;
use serde_json::{Value, json};
use std::path::Path;

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
pub fn read(path: &Path) -> Result<(Image, usize), HvError> {
    let bytes = mova_compiler::io::read_limited(path, MAX_IMAGE_LEN)
        .map_err(mova_compiler::driver::DriverError::from)?;
    let image = Image::decode(&bytes).map_err(|source| HvError::Image {
        path: path.to_owned(),
        source,
    })?;
    Ok((image, bytes.len()))
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

/// The image as JSON; `program` supplies the code when the image does not carry it.
pub fn to_json(image: &Image, size: usize, program: Option<&Program>) -> Value {
    let program = image.program().or(program);
    json!({
        "size": size,
        "program_hash": hash_hex(&image.program_hash),
        "program_embedded": image.program().is_some(),
        "at": location(image, program),
        "stack": image.stack,
        "sleep_left_ms": image.sleep_left_ms,
    })
}

/// The image for people.
pub fn to_text(path: &Path, image: &Image, size: usize, program: Option<&Program>) -> String {
    let program_ref = image.program().or(program);
    let mut out = format!("image    {} ({size} bytes)\n", path.display());
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
            source["file"].as_str().unwrap_or_default(),
            source["line"],
            source["column"],
            source["text"].as_str().unwrap_or_default()
        ));
    }
    if let Some(left) = image.sleep_left_ms {
        out.push_str(&format!("sleep    {left} ms left of the sleep at the ip\n"));
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
