//! The version 1 compatibility corpus (`compat/v1/`, see its README) decodes, on every run, to
//! the states and programs the version 1 binaries wrote, and those states written again (as
//! version 2) decode to the same. `hypervisor/tests/compat.rs` inspects and continues the same
//! files in real processes.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use mova_lang::image::{Image, Provenance, program_hash};
use mova_lang::mvb::Program;
use mova_lang::srcmap::SOURCE_MAP;
use mova_lang::strategies::seed_program;
use std::fs;
use std::path::Path;

fn read(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../compat/v1")
        .join(name);
    fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Decodes a corpus image, checks that it says it is version 1 with no producer, and that written
/// again it is a version 2 image of the same state.
fn image(name: &str) -> Image {
    let (image, provenance) = Image::decode_file(&read(name)).unwrap();
    assert_eq!(provenance, Provenance::VERSION_1, "{name}");
    let (again, provenance) = Image::decode_file(&image.encode()).unwrap();
    assert_eq!(provenance.version, 2);
    assert_eq!(again, image, "{name} written again");
    image
}

#[test]
fn the_v1_seed_programs_decode_to_the_seed() {
    let bare = read("loop.mvb");
    assert_eq!(Program::decode(&bare).unwrap(), seed_program());
    // The seed program's bytes are the same today.
    assert_eq!(seed_program().encode(), bare);

    let mapped = Program::decode(&read("loop-g.mvb")).unwrap();
    assert_eq!(mapped.code(), seed_program().code());
    let map = mapped.source_map().unwrap();
    assert_eq!(map.file, "loop.mova");
    assert_eq!(map.source, String::from_utf8(read("loop.mova")).unwrap());
    assert_eq!(mapped.sections().len(), 1);
    assert_eq!(mapped.sections()[0].kind, SOURCE_MAP);
    assert_eq!(mapped.encode(), read("loop-g.mvb"));
}

#[test]
fn the_v1_seed_images_decode_to_their_states() {
    let seed = seed_program();
    for (name, embedded) in [("seed-start.mvs", true), ("seed-start-bare.mvs", false)] {
        let image = image(name);
        assert_eq!(
            (image.ip, image.stack.as_slice(), image.sleep_left_ms),
            (0, &[][..], None)
        );
        assert_eq!(image.program_hash, program_hash(&seed));
        assert_eq!(image.program.as_ref(), embedded.then_some(&seed), "{name}");
        assert_eq!(image.check(&seed), Ok(()));
    }
    for (name, embedded) in [
        ("seed-sleeping.mvs", true),
        ("seed-sleeping-bare.mvs", false),
    ] {
        let image = image(name);
        assert_eq!(
            (image.ip, image.stack.as_slice(), image.sleep_left_ms),
            (3, &[13][..], Some(50))
        );
        assert_eq!(image.check(&seed), Ok(()));
        // Compiled from its source in memory, the embedded program has a source map.
        assert_eq!(
            image.program.as_ref().map(|program| program.code()),
            embedded.then_some(seed.code()),
            "{name}"
        );
        if let Some(program) = &image.program {
            assert_eq!(program.source_map().unwrap().file, "loop.mova");
        }
    }
}

#[test]
fn the_v1_wide_image_decodes_to_its_thousand_values() {
    let image = image("wide.mvs");
    let program = Program::decode(&read("wide.mvb")).unwrap();
    assert_eq!(program.code().len(), 1008);
    assert_eq!(image.program.as_ref(), Some(&program));
    assert_eq!((image.ip, image.sleep_left_ms), (1006, Some(2)));
    let mut values: Vec<i64> = (0..1000).map(|k| 7 * k).collect();
    values[0] = 50;
    assert_eq!(image.stack, values);
}
