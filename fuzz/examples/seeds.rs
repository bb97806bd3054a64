//! Writes the seed corpus of every fuzz target: `cargo run --example seeds -- CORPUS_DIR`
//! (`fuzz/run.sh` does it) makes `CORPUS_DIR/<target>/<name>` from the examples in `examples/`,
//! the fixtures of [`mova_fuzz::seeds`] and the version 1 files of `compat/v1/`. Files already
//! there are kept, so a corpus grown by earlier runs stays.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

fn main() {
    let out = std::env::args().nth(1).expect("usage: seeds CORPUS_DIR");
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut sources = Vec::new();
    for entry in fs::read_dir(examples).unwrap() {
        let path = entry.unwrap().path();
        let is_source = path
            .extension()
            .is_some_and(|ext| ext == "mova" || ext == "mvasm");
        if is_source {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            sources.push((name, fs::read_to_string(&path).unwrap()));
        }
    }
    sources.sort();
    let mut seeds = mova_fuzz::seeds(&sources);
    // The version 1 compatibility corpus: images and programs as the version 1 binaries wrote
    // them, which every later reader loads.
    let compat = concat!(env!("CARGO_MANIFEST_DIR"), "/../compat/v1");
    for entry in fs::read_dir(compat).unwrap() {
        let path = entry.unwrap().path();
        let target = match path.extension().and_then(|ext| ext.to_str()) {
            Some("mvs") => "mvs_decode_check",
            Some("mvb") => "mvb_load",
            _ => continue,
        };
        let name = format!("v1-{}", path.file_name().unwrap().to_string_lossy());
        seeds.push((target, name, fs::read(&path).unwrap()));
    }
    for (target, name, bytes) in &seeds {
        let dir = Path::new(&out).join(target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), bytes).unwrap();
    }
    println!(
        "{} seeds for {} examples in {out}",
        seeds.len(),
        sources.len()
    );
}
