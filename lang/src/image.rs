//! The `.mvs` state image: a paused program's IP and operand stack, the hash of the program they
//! belong to, optionally the program itself and the remainder of an interrupted sleep, and the
//! Mova version that wrote it.
//!
//! Layout of version 2 (all integers big-endian; `docs/formats.md` is the byte-by-byte reference,
//! and describes version 1 beside it):
//!
//! ```text
//! offset  size  field
//!      0     8  signature 89 4D 56 53 0D 0A 1A 0A ("\x89MVS\r\n\x1a\n")
//!      8     2  format version (2)
//!     10     2  flags (must be 0)
//!     12     2  oldest reader version that can load the image (2)
//!     14     …  segments: the seed's two keep their own layout, every other one is
//!               a u16 header (bit 15 set: optional), a u32 length and that many bytes
//!                 0x101E IP            u32 instruction index                      required
//!                 0x3ACC stack         u16 count, u32 element size (8), i64s      required
//!                 0x5048 program hash  32 bytes, SHA-256 of the instructions      required
//!                 0x5052 program       a complete `.mvb` file                     if embedded
//!                 0x534C sleep         u64 milliseconds left                      if sleeping
//!                 0x4652 frames        u32 count, 10 bytes per call frame         if in a call
//!                 0x5242 ref bases     u32 count, u32 per frame                   if not all 0
//!                 0x5253 ref stack     u32 count, u32 per reference               if non-empty
//!                 0x4850 heap          u32 count, per object u8 kind, u32 length,
//!                                      the bytes, i64s or u32 references         if non-empty
//!                 0xD056 producer      UTF-8, the Mova that wrote the image       optional
//!                 0x454E end           u32 CRC-32 (IEEE) of every byte before it  required, last
//! ```
//!
//! The IP and stack segments keep the seed design's layout exactly. The writer emits the segments
//! in the order of [`SEGMENTS`]; the reader takes the others in any order, each at most once,
//! before the end segment, and skips an optional segment it does not know.
//!
//! **Invariant:** decoding never panics and allocates in proportion to the bytes present, never to
//! a declared length (at most [`MAX_SKIPPED_LISTED`] skipped segments are listed; an embedded
//! program as `crate::mvb` says): every declared length is checked against the bytes actually
//! present before it is used.

#![deny(clippy::indexing_slicing)]

use crate::bytes::to_usize;
use crate::container::{self, ContainerError, Format};
use crate::func::{self, Frame, MAX_CALL_DEPTH};
use crate::heap::{Kind, MAX_OBJECTS, Object, Ref, Target};
use crate::isa::{Instr, STACK_LIMIT, Sleeps};
use crate::mvb::{
    CHECKSUM_LEN, HEADER_LEN, LoadError, MAX_FILE_LEN, Program, SECTION_HEADER_LEN,
    SECTION_OPTIONAL,
};
use crate::verify::{Heights, StackHeights};
use sha2::{Digest, Sha256};
use std::fmt;

/// The first eight bytes of every `.mvs` image.
///
/// Built like [`crate::mvb::SIGNATURE`]: the non-ASCII first byte catches 7-bit transfers and the
/// `\r\n`, `\x1a` and `\n` bytes catch text-mode conversions of line endings.
pub const IMAGE_SIGNATURE: [u8; 8] = *b"\x89MVS\r\n\x1a\n";

/// The image format version this build writes, and the newest it reads. It reads every version
/// from 1 on, and a newer one whose oldest reader version is at most this.
pub const IMAGE_VERSION: u16 = 2;

/// The oldest reader version that can load the images this build writes: a reader of format
/// version 1 knows no segment lengths, so it cannot.
pub const IMAGE_MIN_READER: u16 = 2;

/// The length of the fixed header of the images this build writes (signature, version, flags
/// and oldest reader version). Version 1's header, without the oldest reader, is 12 bytes.
pub const IMAGE_HEADER_LEN: usize = 14;

/// How `.mvs` images are identified and how their errors name things; see [`crate::container`].
pub const IMAGE_FORMAT: Format = Format {
    signature: IMAGE_SIGNATURE,
    what: "Mova state image",
    noun: "image",
    version_field: "image format version",
    flags_field: "image flags",
    end: "the end segment",
    max_len: MAX_IMAGE_LEN,
    oldest: 1,
    newest: IMAGE_VERSION,
    min_reader_since: Some(2),
};

/// The header of the IP segment (from the seed design).
pub const IP_SEGMENT: u16 = 0x101E;
/// The header of the stack segment (from the seed design).
pub const STACK_SEGMENT: u16 = 0x3ACC;
/// The header of the program hash segment.
pub const PROGRAM_HASH_SEGMENT: u16 = 0x5048;
/// The header of the embedded program segment.
pub const PROGRAM_SEGMENT: u16 = 0x5052;
/// The header of the sleep remainder segment.
pub const SLEEP_SEGMENT: u16 = 0x534C;
/// The header of the frames segment (version 2 on): `FR`, required.
pub const FRAMES_SEGMENT: u16 = 0x4652;
/// The header of the reference bases segment (version 2 on): `RB`, required. Each frame's base
/// on the reference stack; an image without it has them all 0.
pub const REF_BASES_SEGMENT: u16 = 0x5242;
/// The header of the reference stack segment (version 2 on): `RS`, required.
pub const REFS_SEGMENT: u16 = 0x5253;
/// The header of the heap segment (version 2 on): `HP`, required.
pub const HEAP_SEGMENT: u16 = 0x4850;
/// The header of the producer segment (version 2 on): `PV`, with the optional bit.
pub const PRODUCER_SEGMENT: u16 = 0xD056;
/// The header of the end segment, which carries the checksum.
pub const END_SEGMENT: u16 = 0x454E;

/// Segment headers with this bit set are optional: a reader that does not know the segment skips
/// it; one without it is required, and a reader that does not know it refuses the image. The
/// rule of `.mvb` sections ([`SECTION_OPTIONAL`]); the seed's two segments are outside it.
pub const SEGMENT_OPTIONAL: u16 = SECTION_OPTIONAL;

/// What the images this build writes say in their producer segment.
pub const PRODUCER: &str = concat!("mova ", env!("CARGO_PKG_VERSION"));

/// The longest producer text a reader accepts, in bytes.
pub const MAX_PRODUCER_LEN: usize = 255;

/// The size in bytes of one stack value in the stack segment (values are `i64`).
pub const STACK_ELEMENT_LEN: u32 = 8;

/// The largest image a VM loads: the largest `.mvb` file it could embed, the largest heap a VM may
/// have ([`crate::heap::MAX_HEAP`]: a heap segment takes at most the bytes its objects are counted
/// for), plus room for the rest of the state (a full stack is 512 KiB, a full reference stack
/// 256 KiB, the deepest frames 140 KiB). So every state a VM can be in saves to an image every
/// VM loads.
pub const MAX_IMAGE_LEN: usize = MAX_FILE_LEN + crate::heap::MAX_HEAP + (2 << 20);

/// A program's identity: the SHA-256 of its encoded instructions.
pub type ProgramHash = [u8; 32];

/// The hash of `program`'s instructions: SHA-256 of the concatenated `.mvb` encoding of every
/// instruction ([`Instr::encode_into`]), then each required section's kind and payload in file
/// order (the function table, which says what calls mean, and the string constants), without the
/// `.mvb` header or the optional sections, so that a program built with and without a source map
/// and debug info is the same program.
pub fn program_hash(program: &Program) -> ProgramHash {
    let mut hasher = Sha256::new();
    let mut buf = Vec::with_capacity(16);
    for instr in program.code() {
        buf.clear();
        instr.encode_into(&mut buf);
        hasher.update(&buf);
    }
    // The required sections say what the code means (the function table, the string
    // constants); the optional ones only describe it.
    for section in program.sections() {
        if !section.is_optional() {
            hasher.update(section.kind.to_be_bytes());
            hasher.update(&section.payload);
        }
    }
    hasher.finalize().into()
}

/// `1 object`, `0 objects`.
fn objects_count(count: usize) -> String {
    match count {
        1 => String::from("1 object"),
        count => format!("{count} objects"),
    }
}

/// `1 value`, `0 values`: a count of stack values, as error messages say it.
fn values(count: usize) -> String {
    match count {
        1 => String::from("1 value"),
        count => format!("{count} values"),
    }
}

/// A hash in full lowercase hexadecimal (64 digits).
pub fn hash_hex(hash: &ProgramHash) -> String {
    hash.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The first 12 hex digits of a hash and an ellipsis, as error messages show it.
fn short_hex(hash: &ProgramHash) -> String {
    let mut hex = hash_hex(hash);
    hex.truncate(12);
    hex.push('…');
    hex
}

/// The length of one frame in the frames segment: u16 function, u32 return IP, u32 base.
pub const FRAME_LEN: usize = 10;

/// A function as errors name it.
fn function_name(function: u16) -> String {
    match function {
        func::MAIN => String::from("the main program"),
        function => format!("function {function}"),
    }
}

/// Why a frame of an image cannot be one of a run of the program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame names no function of the program (or the main program).
    #[error("the program has no such function (it has {} besides the main program)", count - 1)]
    NoFunction {
        /// How many functions the program has, the main program included.
        count: usize,
    },
    /// The frame's base is below its caller's or above the stack.
    #[error(
        "its base {base} is not between its caller's base {below} and the stack's height {stack}"
    )]
    Base {
        base: u32,
        /// The caller's base.
        below: usize,
        /// The stack's height.
        stack: usize,
    },
    /// The return IP does not follow a call of the frame's function in its caller.
    #[error("its return IP {return_ip} does not follow a call of it in {}", function_name(*caller))]
    ReturnIp {
        return_ip: u32,
        /// The caller's function.
        caller: u16,
    },
    /// The caller's frame cannot hold that many values at its call.
    #[error(
        "{} would hold {} at its call, but a run has {} there",
        function_name(*caller), values(*height),
        possible.map_or(String::from("no way to get"), |possible| possible.to_string())
    )]
    CallerHeight {
        /// The values the caller's frame holds at the call, the arguments included.
        height: usize,
        /// What a run can have there.
        possible: Option<Heights>,
        /// The caller's function.
        caller: u16,
    },
    /// The frame's reference base is below its caller's or above the reference stack.
    #[error(
        "its reference base {ref_base} is not between its caller's reference base {below} and the reference stack's height {refs}"
    )]
    RefBase {
        ref_base: u32,
        /// The caller's reference base.
        below: usize,
        /// The reference stack's height.
        refs: usize,
    },
    /// The caller's frame cannot hold that many references at its call.
    #[error(
        "{} would hold {} at its call, but a run has {} there",
        function_name(*caller), references(*height),
        possible.map_or(String::from("no way to get"), |possible| references(usize::from(possible)))
    )]
    CallerRefHeight {
        /// The references the caller's frame holds at the call, the arguments included.
        height: usize,
        /// What a run has there (reference heights are exact).
        possible: Option<u16>,
        /// The caller's function.
        caller: u16,
    },
}

/// `1 reference`, `0 references`: a count of references, as error messages say it.
fn references(count: usize) -> String {
    match count {
        1 => String::from("1 reference"),
        count => format!("{count} references"),
    }
}

/// Where a reference of an image is, as errors name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefPlace {
    /// A slot of the reference stack, 0 at the bottom.
    Stack(usize),
    /// An element of a heap object (an array of references).
    Element {
        /// The object.
        object: usize,
        /// The element's index.
        index: usize,
    },
}

impl fmt::Display for RefPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefPlace::Stack(slot) => write!(f, "reference stack slot {slot}"),
            RefPlace::Element { object, index } => {
                write!(f, "element {index} of heap object {object}")
            }
        }
    }
}

/// Why the heap segment's payload does not hold heap objects. Byte offsets count from the start
/// of the image.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeapSegmentError {
    /// The payload is too short for its object count.
    #[error("it is {len} bytes long, too short for its u32 object count")]
    NoCount {
        /// The payload's length.
        len: usize,
    },
    /// The payload ends inside an object's kind and length.
    #[error(
        "it declares {count} objects, but its bytes end at object {object} (byte {at}), before its kind and length"
    )]
    Truncated {
        /// The declared object count.
        count: u32,
        /// The object that is cut short, from 0.
        object: usize,
        /// Where it starts.
        at: usize,
    },
    /// An object's kind tag names no kind.
    #[error(
        "object {object} (byte {at}) has kind tag {tag}, which is no kind (1 string, 2 array of ints, 3 array of references)"
    )]
    UnknownKind {
        /// The object, from 0.
        object: usize,
        /// Where it starts.
        at: usize,
        tag: u8,
    },
    /// An object's length runs past the end of the payload.
    #[error(
        "object {object} (byte {at}) is {kind} of length {len}, which needs {} bytes, but the segment has {left} left",
        len.checked_mul(kind.element_len()).map_or_else(|| String::from("more"), |needed| needed.to_string())
    )]
    ObjectPastEnd {
        /// The object, from 0.
        object: usize,
        /// Where it starts.
        at: usize,
        kind: Kind,
        /// Its declared length, in bytes or elements.
        len: usize,
        /// The bytes the payload has after the object's kind and length.
        left: usize,
    },
    /// Bytes follow the last object.
    #[error("{extra} bytes follow its last object (from byte {at})")]
    TrailingBytes {
        /// How many.
        extra: usize,
        /// Where they start.
        at: usize,
    },
}

/// The saved state of a paused program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The index of the next instruction to execute (the code length if the program ran off its
    /// end).
    pub ip: u32,
    /// The operand stack, bottom first.
    pub stack: Vec<i64>,
    /// The hash of the program this is the state of; see [`program_hash`].
    pub program_hash: ProgramHash,
    /// The program itself, when the image carries it (for a VM that has none yet).
    pub program: Option<Program>,
    /// The milliseconds an interrupted sleep at the IP had left when the VM paused.
    pub sleep_left_ms: Option<u64>,
    /// The calls in progress, outermost first (the main program's frame is implicit): empty
    /// when the program is not inside a function.
    pub frames: Vec<Frame>,
    /// The reference stack, bottom first: each a heap object of [`heap`](Self::heap) by index,
    /// or a string constant of the program.
    pub refs: Vec<Ref>,
    /// The heap objects the references reach, each once, numbered from 0.
    pub heap: Vec<Object>,
}

/// A paused program's state, as [`Image::of_state`] takes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// The index of the next instruction.
    pub ip: u32,
    /// The operand stack, bottom first.
    pub stack: Vec<i64>,
    /// The calls in progress, outermost first.
    pub frames: Vec<Frame>,
    /// The reference stack, bottom first.
    pub refs: Vec<Ref>,
    /// The heap objects the references reach, each once, numbered from 0.
    pub heap: Vec<Object>,
    /// The milliseconds an interrupted sleep at the IP had left.
    pub sleep_left_ms: Option<u64>,
}

/// What an image file says about itself, beside the state it holds: which format version wrote
/// it, which readers can load it, who wrote it and what this build skipped. It describes the
/// bytes, not the state, so [`Image`] does not keep it: an image re-encoded is written in this
/// build's version, by this build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// The format version that wrote the image.
    pub version: u16,
    /// The oldest reader version that can load it (a version 1 image, which does not say: 1).
    pub min_reader: u16,
    /// The producer segment's text (`mova 0.1.0`), if the image has one; version 1 has none.
    pub producer: Option<String>,
    /// The optional segments this build does not know, which it skipped: the first
    /// [`MAX_SKIPPED_LISTED`] of them.
    pub skipped: Vec<Skipped>,
    /// How many more it skipped, counted but not listed: an image can hold millions of empty
    /// segments (6 bytes each), and listing each would take four times the image's size.
    pub skipped_unlisted: usize,
}

impl Provenance {
    /// What every version 1 image says about itself: it names no oldest reader and no producer,
    /// and it cannot hold a segment a reader may skip.
    pub const VERSION_1: Provenance = Provenance {
        version: 1,
        min_reader: 1,
        producer: None,
        skipped: Vec::new(),
        skipped_unlisted: 0,
    };
}

/// The most skipped segments a [`Provenance`] lists; it counts the others.
pub const MAX_SKIPPED_LISTED: usize = 64;

/// An optional segment a reader skipped because it does not know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub header: u16,
    /// Where it starts.
    pub offset: usize,
    /// The length of its payload.
    pub len: usize,
}

/// A segment this build knows, as the table and errors name it.
///
/// The variants are in the order of [`SEGMENTS`], whose rows a variant finds by its position;
/// [`Segment::End`] stays last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    /// The IP segment ([`IP_SEGMENT`]).
    Ip,
    /// The stack segment ([`STACK_SEGMENT`]).
    Stack,
    /// The program hash segment ([`PROGRAM_HASH_SEGMENT`]).
    ProgramHash,
    /// The embedded program segment ([`PROGRAM_SEGMENT`]).
    Program,
    /// The sleep remainder segment ([`SLEEP_SEGMENT`]).
    Sleep,
    /// The frames segment ([`FRAMES_SEGMENT`]).
    Frames,
    /// The reference bases segment ([`REF_BASES_SEGMENT`]).
    RefBases,
    /// The reference stack segment ([`REFS_SEGMENT`]).
    Refs,
    /// The heap segment ([`HEAP_SEGMENT`]).
    Heap,
    /// The producer segment ([`PRODUCER_SEGMENT`]).
    Producer,
    /// The end segment ([`END_SEGMENT`]).
    End,
}

/// How a segment's fields are laid out after its u16 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The seed's IP segment: a u32 and no length, in every version.
    SeedIp,
    /// The seed's stack segment: a u16 count, a u32 element size and count × element size bytes,
    /// and no length, in every version.
    SeedStack,
    /// From version 2, a u32 length and that many bytes, which must be `fixed` when it is
    /// `Some`. In version 1 there was no length: the fields were `fixed` bytes, or for `None` a
    /// u32 length and that many bytes (the same bytes as version 2's).
    Framed {
        /// The payload's length, if it has only one.
        fixed: Option<usize>,
    },
}

/// One row of the segment table: everything the reader and writer know about a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    pub segment: Segment,
    /// Its u16 header; for the framed ones, bit 15 ([`SEGMENT_OPTIONAL`]) says whether a reader
    /// that does not know it may skip it.
    pub header: u16,
    /// Its name in messages.
    pub name: &'static str,
    /// Whether every image has it.
    pub required: bool,
    /// How its fields are laid out.
    pub layout: Layout,
    /// The first format version that has it.
    pub since: u16,
}

/// Every segment this build knows, in the order the writer emits them. Adding a segment is a row
/// here, a variant of [`Segment`], and the code that encodes and decodes its payload.
pub const SEGMENTS: [SegmentInfo; 11] = [
    SegmentInfo {
        segment: Segment::Ip,
        header: IP_SEGMENT,
        name: "IP segment",
        required: true,
        layout: Layout::SeedIp,
        since: 1,
    },
    SegmentInfo {
        segment: Segment::Stack,
        header: STACK_SEGMENT,
        name: "stack segment",
        required: true,
        layout: Layout::SeedStack,
        since: 1,
    },
    SegmentInfo {
        segment: Segment::ProgramHash,
        header: PROGRAM_HASH_SEGMENT,
        name: "program hash segment",
        required: true,
        layout: Layout::Framed { fixed: Some(32) },
        since: 1,
    },
    SegmentInfo {
        segment: Segment::Program,
        header: PROGRAM_SEGMENT,
        name: "program segment",
        required: false,
        layout: Layout::Framed { fixed: None },
        since: 1,
    },
    SegmentInfo {
        segment: Segment::Sleep,
        header: SLEEP_SEGMENT,
        name: "sleep segment",
        required: false,
        layout: Layout::Framed { fixed: Some(8) },
        since: 1,
    },
    SegmentInfo {
        segment: Segment::Frames,
        header: FRAMES_SEGMENT,
        name: "frames segment",
        required: false,
        layout: Layout::Framed { fixed: None },
        since: 2,
    },
    SegmentInfo {
        segment: Segment::RefBases,
        header: REF_BASES_SEGMENT,
        name: "reference bases segment",
        required: false,
        layout: Layout::Framed { fixed: None },
        since: 2,
    },
    SegmentInfo {
        segment: Segment::Refs,
        header: REFS_SEGMENT,
        name: "reference stack segment",
        required: false,
        layout: Layout::Framed { fixed: None },
        since: 2,
    },
    SegmentInfo {
        segment: Segment::Heap,
        header: HEAP_SEGMENT,
        name: "heap segment",
        required: false,
        layout: Layout::Framed { fixed: None },
        since: 2,
    },
    SegmentInfo {
        segment: Segment::Producer,
        header: PRODUCER_SEGMENT,
        name: "producer segment",
        required: false,
        layout: Layout::Framed { fixed: None },
        since: 2,
    },
    SegmentInfo {
        segment: Segment::End,
        header: END_SEGMENT,
        name: "end segment",
        required: true,
        layout: Layout::Framed { fixed: Some(4) },
        since: 1,
    },
];

// The rows are in the order of the variants and end with the end segment, so that a variant's
// position is its row; checked when the crate is compiled.
const _: () = {
    let mut rows: &[SegmentInfo] = &SEGMENTS;
    let mut index = 0;
    while let [row, rest @ ..] = rows {
        assert!(
            row.segment as usize == index,
            "SEGMENTS is in the order of Segment"
        );
        rows = rest;
        index += 1;
    }
    assert!(
        index == Segment::End as usize + 1,
        "Segment::End is the last row"
    );
};

impl Segment {
    /// The segment's row of [`SEGMENTS`].
    pub fn info(self) -> &'static SegmentInfo {
        match SEGMENTS.get(self as usize) {
            Some(info) => info,
            None => unreachable!("SEGMENTS has a row for every segment, in order"),
        }
    }

    /// The segment's u16 header.
    pub fn header(self) -> u16 {
        self.info().header
    }

    /// The segment with this header, if this build knows one.
    pub fn from_header(header: u16) -> Option<Segment> {
        SEGMENTS
            .iter()
            .find(|info| info.header == header)
            .map(|info| info.segment)
    }

    /// Whether every image must have this segment.
    pub fn is_required(self) -> bool {
        self.info().required
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.info().name)
    }
}

/// A part of an image, as truncation errors name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The fixed header: signature, version, flags and (from version 2) the oldest reader.
    Header,
    /// The u16 header that starts a segment (an image that ends between segments lacks its end
    /// segment).
    SegmentHeader,
    /// The fields of a segment.
    Segment(Segment),
    /// The length or payload of a segment this build does not know, by its header.
    Unknown(u16),
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Header => f.write_str("header"),
            Part::SegmentHeader => f.write_str("segment header"),
            Part::Segment(segment) => segment.fmt(f),
            Part::Unknown(header) => write!(f, "segment 0x{header:04X}"),
        }
    }
}

/// The instruction at an IP, as errors show it: the instruction, or the end of the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstrAt(pub Option<Instr>);

impl fmt::Display for InstrAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(instr) => write!(f, "`{instr}`"),
            None => f.write_str("the end of the code"),
        }
    }
}

/// Why bytes are not a usable state image, or an image is not a state of a program. Each variant
/// names what is wrong and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The signature, size, version, oldest reader, flags, a truncation, trailing bytes or the
    /// checksum: what every container format checks ([`crate::container`]).
    #[error("{}", .0.display(&IMAGE_FORMAT))]
    Container(ContainerError<Part>),
    /// The bytes are a `.mvb` program, not an image.
    #[error("this is a Mova bytecode file (.mvb), not a state image (.mvs)")]
    NotAnImage,
    /// A version 1 image has a segment header this build does not know (version 1 segments have
    /// no length, so it cannot be skipped).
    #[error("unknown segment 0x{header:04X} at byte {offset}")]
    UnknownSegment {
        header: u16,
        /// Where the segment starts.
        offset: usize,
    },
    /// The image has a required segment this build does not know.
    #[error(
        "this image needs a newer Mova: it has required segment 0x{header:04X} (at byte {offset})"
    )]
    RequiredSegment {
        header: u16,
        /// Where the segment starts.
        offset: usize,
    },
    /// A segment's length is not the one its kind has.
    #[error("the {segment} at byte {offset} is {found} bytes long, but a {segment} is {expected}")]
    SegmentLength {
        segment: Segment,
        /// Where it starts.
        offset: usize,
        /// The length it declares.
        found: usize,
        /// The length its kind has.
        expected: usize,
    },
    /// The producer segment does not hold a line of text.
    #[error(
        "the producer segment at byte {offset} is not a line of text (at most {MAX_PRODUCER_LEN} bytes of UTF-8 without control characters)"
    )]
    InvalidProducer {
        /// Where the segment starts.
        offset: usize,
    },
    /// A segment occurs twice.
    #[error("duplicate {segment} at byte {second} (the first one is at byte {first})")]
    DuplicateSegment {
        segment: Segment,
        /// Where its first occurrence starts.
        first: usize,
        /// Where the second starts.
        second: usize,
    },
    /// A required segment is missing.
    #[error("the image has no {segment}, which is required")]
    MissingSegment { segment: Segment },
    /// The stack segment's element size is not [`STACK_ELEMENT_LEN`].
    #[error(
        "unsupported stack element size {found} at byte {offset} (stack values are {STACK_ELEMENT_LEN}-byte integers)"
    )]
    ElementSize {
        /// The element size in the image.
        found: u32,
        /// Where the field is.
        offset: usize,
    },
    /// The embedded program does not load.
    #[error("invalid embedded program (segment at byte {offset}): {source}")]
    InvalidProgram {
        /// Where the program segment starts.
        offset: usize,
        /// Why the program does not load (its byte offsets count from the start of the program).
        source: LoadError,
    },
    /// The embedded program is not the one the hash segment names.
    #[error(
        "the embedded program (segment at byte {offset}) has hash {} but the image records {}",
        short_hex(embedded),
        short_hex(recorded)
    )]
    ProgramHashMismatch {
        /// Where the program segment starts.
        offset: usize,
        /// The hash of the embedded program.
        embedded: ProgramHash,
        /// The hash in the program hash segment.
        recorded: ProgramHash,
    },
    /// The program is too large to embed.
    #[error(
        "the program is {len} bytes long as .mvb, too large to embed in an image (at most {MAX_FILE_LEN})"
    )]
    ProgramTooLarge {
        /// The length of the program's `.mvb` encoding.
        len: usize,
    },
    /// The image is the state of another program.
    #[error(
        "the image is the state of another program: it was saved from program {}, this program is {}",
        short_hex(found),
        short_hex(expected)
    )]
    WrongProgram {
        /// The hash of the program the image is checked against.
        expected: ProgramHash,
        /// The hash the image records.
        found: ProgramHash,
    },
    /// The IP lies past the end of the program.
    #[error("the IP {ip} is past the end of the program, which has {len} instructions")]
    IpOutOfRange {
        ip: u32,
        /// The program's length in instructions.
        len: usize,
    },
    /// The stack holds more than [`STACK_LIMIT`] values.
    #[error("the stack holds {len} values, at most {STACK_LIMIT} are allowed")]
    StackTooLarge {
        /// The number of values.
        len: usize,
    },
    /// No run of the program gets to the IP: it follows an unconditional jump or a `HALT` and no
    /// jump goes there, or only instructions that always trap lead there.
    #[error(
        "no run of the program gets to IP {ip} ({found}), so the image cannot be a state of it"
    )]
    UnreachableIp {
        ip: u32,
        /// What is at the IP.
        found: InstrAt,
    },
    /// The stack's height is not one a run of the program can have at the IP.
    #[error(
        "the stack holds {} at IP {ip} ({found}), but a run of the program has {possible} there",
        values(*height)
    )]
    ImpossibleStackHeight {
        ip: u32,
        /// What is at the IP.
        found: InstrAt,
        /// The number of values on the image's stack.
        height: usize,
        /// The heights a run of the program can have at the IP.
        possible: Heights,
    },
    /// The frames segment does not hold frames.
    #[error(
        "the frames segment at byte {offset} is {len} bytes long, which is not a count and {FRAME_LEN} bytes per frame"
    )]
    FramesLength {
        /// Where the segment starts.
        offset: usize,
        /// Its payload's length.
        len: usize,
    },
    /// The image has more frames than a VM allows.
    #[error("the image has {count} call frames, at most {MAX_CALL_DEPTH} are allowed")]
    TooManyFrames {
        /// The number of frames.
        count: usize,
    },
    /// A frame cannot be one of a run of the program.
    #[error("frame {frame} ({}): {reason}", function_name(*function))]
    BadFrame {
        /// The frame, 1 for the outermost call.
        frame: usize,
        /// The function it says it runs.
        function: u16,
        /// What is wrong with it.
        reason: FrameError,
    },
    /// The IP is not in the code of the function the innermost frame runs.
    #[error(
        "the IP {ip} is not in the code of {} (instructions {}..{})",
        function_name(*function), code.start, code.end
    )]
    IpOutsideFunction {
        ip: u32,
        /// The innermost frame's function.
        function: u16,
        /// Its code.
        code: std::ops::Range<u32>,
    },
    /// The reference bases segment does not hold reference bases.
    #[error(
        "the reference bases segment at byte {offset} is {len} bytes long, which is not a count and 4 bytes per frame"
    )]
    RefBasesLength {
        /// Where the segment starts.
        offset: usize,
        /// Its payload's length.
        len: usize,
    },
    /// The reference bases segment does not have one base per frame.
    #[error(
        "the reference bases segment at byte {offset} has {count} reference bases, but the image has {frames} call frames"
    )]
    RefBasesCount {
        /// Where the segment starts.
        offset: usize,
        /// The bases it holds.
        count: usize,
        /// The frames the image has.
        frames: usize,
    },
    /// The reference stack segment does not hold references.
    #[error(
        "the reference stack segment at byte {offset} is {len} bytes long, which is not a count and 4 bytes per reference"
    )]
    RefsLength {
        /// Where the segment starts.
        offset: usize,
        /// Its payload's length.
        len: usize,
    },
    /// The heap segment does not hold heap objects.
    #[error("invalid heap segment at byte {offset}: {reason}")]
    BadHeap {
        /// Where the segment starts.
        offset: usize,
        /// What is wrong with it.
        reason: HeapSegmentError,
    },
    /// The reference stack holds more than [`STACK_LIMIT`] references.
    #[error("the reference stack holds {len} references, at most {STACK_LIMIT} are allowed")]
    RefStackTooLarge {
        /// The number of references.
        len: usize,
    },
    /// The heap holds more than [`MAX_OBJECTS`] objects.
    #[error("the heap holds {count} objects, at most {MAX_OBJECTS} are allowed")]
    TooManyObjects {
        /// The number of objects.
        count: usize,
    },
    /// A reference names a heap object the image does not have.
    #[error("{place} refers to heap object {object}, but the heap has {}", objects_count(*count))]
    DanglingObject {
        /// Where the reference is.
        place: RefPlace,
        /// The object it names.
        object: u32,
        /// The objects the heap has.
        count: usize,
    },
    /// A reference names a string constant the program does not have.
    #[error(
        "{place} refers to string constant {constant}, but the program has {}",
        match count { 1 => String::from("1 constant"), count => format!("{count} constants") }
    )]
    DanglingConstant {
        /// Where the reference is.
        place: RefPlace,
        /// The constant it names.
        constant: u32,
        /// The constants the program has.
        count: usize,
    },
    /// A heap string is not UTF-8.
    #[error("heap object {object} is a string that is not UTF-8 (from byte {valid_up_to} of it)")]
    InvalidString {
        /// The object.
        object: usize,
        /// The length of its valid prefix.
        valid_up_to: usize,
    },
    /// A heap object that no reference reaches: images carry only live objects.
    #[error(
        "heap object {object} is reached from no reference on the stack (an image carries only the objects the program can still use)"
    )]
    UnreachableObject {
        /// The first such object.
        object: usize,
    },
    /// The reference stack's height is not the one a run of the program has at the IP.
    #[error(
        "the reference stack holds {} at IP {ip} ({found}), but a run of the program has {} there",
        references(*height),
        possible.map_or(String::from("no way to get"), |possible| references(usize::from(possible)))
    )]
    ImpossibleRefHeight {
        ip: u32,
        /// What is at the IP.
        found: InstrAt,
        /// The references in the innermost frame.
        height: usize,
        /// The height a run of the program has at the IP.
        possible: Option<u16>,
    },
    /// The image has a sleep remainder but the IP is not on a sleep.
    #[error(
        "the image has {left_ms} ms of sleep left at IP {ip}, but there the program has {found}, not a sleep"
    )]
    SleepNotAtSleep {
        ip: u32,
        /// The remainder.
        left_ms: u64,
        /// What is at the IP.
        found: InstrAt,
    },
    /// The image has a sleep remainder at a `SLEEPS` with no duration on the stack.
    #[error(
        "the image has {left_ms} ms of sleep left at IP {ip}, a `SLEEPS`, but the stack is empty so there is no duration"
    )]
    SleepWithoutDuration {
        ip: u32,
        /// The remainder.
        left_ms: u64,
    },
    /// The sleep remainder is longer than the sleep at the IP.
    #[error(
        "the image has {left_ms} ms of sleep left at IP {ip}, more than the whole sleep there ({duration_ms} ms)"
    )]
    SleepTooLong {
        ip: u32,
        /// The remainder.
        left_ms: u64,
        /// The sleep's full duration.
        duration_ms: i64,
    },
}

impl Image {
    /// The state of `program` at `ip` with `stack` (bottom first) and, if a sleep at the IP was
    /// interrupted, the milliseconds it had left; `with_program` embeds the program.
    ///
    /// Refuses what [`Image::check`] refuses, and a program too large to embed.
    pub fn new(
        program: &Program,
        ip: u32,
        stack: Vec<i64>,
        sleep_left_ms: Option<u64>,
        with_program: bool,
    ) -> Result<Image, ImageError> {
        Image::with_frames(program, ip, stack, Vec::new(), sleep_left_ms, with_program)
    }

    /// The state of `program` inside the calls `frames` (outermost first), at `ip` in the
    /// innermost one's function; otherwise as [`Image::new`].
    pub fn with_frames(
        program: &Program,
        ip: u32,
        stack: Vec<i64>,
        frames: Vec<Frame>,
        sleep_left_ms: Option<u64>,
        with_program: bool,
    ) -> Result<Image, ImageError> {
        let state = State {
            ip,
            stack,
            frames,
            refs: Vec::new(),
            heap: Vec::new(),
            sleep_left_ms,
        };
        Image::of_state(program, state, with_program)
    }

    /// The image of `program` in `state`; `with_program` embeds the program. Refuses what
    /// [`Image::check`] refuses, and a program too large to embed.
    pub fn of_state(
        program: &Program,
        state: State,
        with_program: bool,
    ) -> Result<Image, ImageError> {
        let State {
            ip,
            stack,
            frames,
            refs,
            heap,
            sleep_left_ms,
        } = state;
        if with_program {
            let len = mvb_len(program);
            if len > MAX_FILE_LEN {
                return Err(ImageError::ProgramTooLarge { len });
            }
        }
        let image = Image {
            ip,
            stack,
            program_hash: program_hash(program),
            program: with_program.then(|| program.clone()),
            sleep_left_ms,
            frames,
            refs,
            heap,
        };
        image.check(program)?;
        Ok(image)
    }

    /// The program to resume: the embedded one, else `None`.
    pub fn program(&self) -> Option<&Program> {
        self.program.as_ref()
    }

    /// Whether this image can be the state of `program`: it records `program`'s hash; its heap
    /// is sound ([`Image::check_heap`]) and every string constant a reference names is one of
    /// the program's; its IP is at most the code length (equal: the program ran off its end),
    /// its stack holds at most [`STACK_LIMIT`] values, a run of the program can get to the IP
    /// with that many values (see [`StackHeights`]) and with exactly that many references in
    /// the innermost frame; the frames are calls of the program in progress (see
    /// [`FrameError`]); and a sleep remainder, if any, belongs to a `SLEEP` or `SLEEPS` at the
    /// IP (with its duration on the stack, for `SLEEPS`) and is no longer than that sleep.
    ///
    /// [`StackHeights`]: crate::verify::StackHeights
    pub fn check(&self, program: &Program) -> Result<(), ImageError> {
        let expected = program_hash(program);
        if expected != self.program_hash {
            return Err(ImageError::WrongProgram {
                expected,
                found: self.program_hash,
            });
        }
        self.check_heap()?;
        self.check_constants(program.constants().len())?;
        let code = program.code();
        let at = usize::try_from(self.ip).unwrap_or(usize::MAX);
        if at > code.len() {
            return Err(ImageError::IpOutOfRange {
                ip: self.ip,
                len: code.len(),
            });
        }
        if self.stack.len() > STACK_LIMIT {
            return Err(ImageError::StackTooLarge {
                len: self.stack.len(),
            });
        }
        let instr = code.get(at).copied();
        let heights = program.stack_heights();
        let (base, ref_base) = self.check_frames(program, &heights)?;
        let Some(possible) = heights.at(self.ip) else {
            return Err(ImageError::UnreachableIp {
                ip: self.ip,
                found: InstrAt(instr),
            });
        };
        // `check_frames` made sure the innermost frame's base is on the stack.
        let height = self.stack.len().saturating_sub(base);
        if !possible.contains(height) {
            return Err(ImageError::ImpossibleStackHeight {
                ip: self.ip,
                found: InstrAt(instr),
                height,
                possible,
            });
        }
        // `check_frames` made sure the innermost frame's reference base is on the reference
        // stack.
        let ref_height = self.refs.len().saturating_sub(ref_base);
        let possible = heights.refs_at(self.ip);
        if possible.map(usize::from) != Some(ref_height) {
            return Err(ImageError::ImpossibleRefHeight {
                ip: self.ip,
                found: InstrAt(instr),
                height: ref_height,
                possible,
            });
        }
        let Some(left_ms) = self.sleep_left_ms else {
            return Ok(());
        };
        let duration_ms = match instr.map(|instr| instr.sleeps()) {
            Some(Sleeps::For(ms)) => ms,
            Some(Sleeps::ForTop) => match self.stack.last() {
                Some(&ms) => ms,
                None => {
                    return Err(ImageError::SleepWithoutDuration {
                        ip: self.ip,
                        left_ms,
                    });
                }
            },
            Some(Sleeps::No) | None => {
                return Err(ImageError::SleepNotAtSleep {
                    ip: self.ip,
                    left_ms,
                    found: InstrAt(instr),
                });
            }
        };
        if i128::from(left_ms) > i128::from(duration_ms) {
            return Err(ImageError::SleepTooLong {
                ip: self.ip,
                left_ms,
                duration_ms,
            });
        }
        Ok(())
    }

    /// Whether the heap and the references are sound, whatever the program: the reference stack
    /// holds at most [`STACK_LIMIT`] references and the heap at most [`MAX_OBJECTS`] objects,
    /// every reference to a heap object (on the stack or in an array) names one the heap has,
    /// every string is UTF-8, and every object is reached from the reference stack (an image
    /// carries only live objects; cycles are allowed). [`Image::decode`] checks this of every
    /// image; [`Image::check`] also checks the string constants against the program.
    pub fn check_heap(&self) -> Result<(), ImageError> {
        if self.refs.len() > STACK_LIMIT {
            return Err(ImageError::RefStackTooLarge {
                len: self.refs.len(),
            });
        }
        let count = self.heap.len();
        if count > to_usize(MAX_OBJECTS) {
            return Err(ImageError::TooManyObjects { count });
        }
        let in_heap = |place: RefPlace, value: Ref| match value.target() {
            Target::Object(object) if to_usize(object) >= count => {
                Err(ImageError::DanglingObject {
                    place,
                    object,
                    count,
                })
            }
            Target::Object(_) | Target::Constant(_) => Ok(()),
        };
        for (slot, &value) in self.refs.iter().enumerate() {
            in_heap(RefPlace::Stack(slot), value)?;
        }
        for (object, item) in self.heap.iter().enumerate() {
            match item {
                Object::Str(bytes) => {
                    if let Err(error) = std::str::from_utf8(bytes) {
                        return Err(ImageError::InvalidString {
                            object,
                            valid_up_to: error.valid_up_to(),
                        });
                    }
                }
                Object::Ints(_) => {}
                Object::Refs(refs) => {
                    for (index, &value) in refs.iter().enumerate() {
                        in_heap(RefPlace::Element { object, index }, value)?;
                    }
                }
            }
        }
        // Mark from the reference stack, with a worklist (arrays nest arbitrarily deep).
        let mut reached = vec![false; count];
        let mut work: Vec<usize> = Vec::new();
        let mut reach = |value: &Ref, work: &mut Vec<usize>| {
            if let Target::Object(object) = value.target() {
                let object = to_usize(object);
                if let Some(seen) = reached.get_mut(object)
                    && !*seen
                {
                    *seen = true;
                    work.push(object);
                }
            }
        };
        for value in &self.refs {
            reach(value, &mut work);
        }
        while let Some(object) = work.pop() {
            let refs = self.heap.get(object).map(Object::refs).unwrap_or_default();
            for value in refs {
                reach(value, &mut work);
            }
        }
        match reached.iter().position(|seen| !seen) {
            Some(object) => Err(ImageError::UnreachableObject { object }),
            None => Ok(()),
        }
    }

    /// Checks that every string constant a reference names (on the stack or in an array) is one
    /// of the `count` the program has.
    fn check_constants(&self, count: usize) -> Result<(), ImageError> {
        let known = |place: RefPlace, value: Ref| match value.target() {
            Target::Constant(constant) if to_usize(constant) >= count => {
                Err(ImageError::DanglingConstant {
                    place,
                    constant,
                    count,
                })
            }
            Target::Constant(_) | Target::Object(_) => Ok(()),
        };
        for (slot, &value) in self.refs.iter().enumerate() {
            known(RefPlace::Stack(slot), value)?;
        }
        for (object, item) in self.heap.iter().enumerate() {
            for (index, &value) in item.refs().iter().enumerate() {
                known(RefPlace::Element { object, index }, value)?;
            }
        }
        Ok(())
    }

    /// Checks the frames against `program` (with its stack heights): each names a function, its
    /// return IP follows a call of that function in its caller's code, at which the caller's
    /// frame holds what it had then (the callee's base and parameters above its own base, on
    /// both stacks), the bases are ordered and on the stack (and the reference bases on the
    /// reference stack), and the IP is in the innermost function's code. Returns the innermost
    /// frame's base and reference base (0 and 0: the main program's).
    fn check_frames(
        &self,
        program: &Program,
        heights: &StackHeights,
    ) -> Result<(usize, usize), ImageError> {
        if self.frames.len() > MAX_CALL_DEPTH {
            return Err(ImageError::TooManyFrames {
                count: self.frames.len(),
            });
        }
        let functions = program.functions();
        let (mut caller, mut caller_base, mut caller_ref_base) = (func::MAIN, 0usize, 0usize);
        for (number, frame) in (1..).zip(&self.frames) {
            let bad = |reason| ImageError::BadFrame {
                frame: number,
                function: frame.function,
                reason,
            };
            let Some(callee) = functions
                .get(usize::from(frame.function))
                .filter(|_| frame.function != func::MAIN)
            else {
                return Err(bad(FrameError::NoFunction {
                    count: functions.len(),
                }));
            };
            let base = usize::try_from(frame.base).unwrap_or(usize::MAX);
            if base < caller_base || base > self.stack.len() {
                return Err(bad(FrameError::Base {
                    base: frame.base,
                    below: caller_base,
                    stack: self.stack.len(),
                }));
            }
            let ref_base = to_usize(frame.ref_base);
            if ref_base < caller_ref_base || ref_base > self.refs.len() {
                return Err(bad(FrameError::RefBase {
                    ref_base: frame.ref_base,
                    below: caller_ref_base,
                    refs: self.refs.len(),
                }));
            }
            let call = frame.return_ip.checked_sub(1);
            let code = program.code_range(caller);
            let calls = call
                .filter(|call| code.contains(call))
                .and_then(|call| program.code().get(usize::try_from(call).ok()?))
                .and_then(Instr::callee);
            if calls != Some(frame.function) {
                return Err(bad(FrameError::ReturnIp {
                    return_ip: frame.return_ip,
                    caller,
                }));
            }
            // The caller's frame at its call: everything up to the callee's base, plus the
            // arguments, which the callee's frame now holds as its first slots.
            let height = base - caller_base + usize::from(callee.params);
            let possible = call.and_then(|call| heights.at(call));
            if !possible.is_some_and(|possible| possible.contains(height)) {
                return Err(bad(FrameError::CallerHeight {
                    height,
                    possible,
                    caller,
                }));
            }
            // Likewise on the reference stack, where heights are exact.
            let ref_height = ref_base - caller_ref_base + usize::from(callee.ref_params);
            let possible = call.and_then(|call| heights.refs_at(call));
            if possible.map(usize::from) != Some(ref_height) {
                return Err(bad(FrameError::CallerRefHeight {
                    height: ref_height,
                    possible,
                    caller,
                }));
            }
            (caller, caller_base, caller_ref_base) = (frame.function, base, ref_base);
        }
        let code = program.code_range(caller);
        // The end of the code is the main program's only, when it has no functions.
        let at_end = caller == func::MAIN && program.functions().len() == 1;
        if !(code.contains(&self.ip) || at_end && self.ip == code.end) {
            return Err(ImageError::IpOutsideFunction {
                ip: self.ip,
                function: caller,
                code,
            });
        }
        Ok((caller_base, caller_ref_base))
    }

    /// Encodes the image as `.mvs` bytes of format version [`IMAGE_VERSION`]: the segments IP,
    /// stack, program hash, then the program, the sleep remainder, the frames, their reference
    /// bases (unless all are 0), the reference stack and the heap if there are any, the producer
    /// ([`PRODUCER`]) and the end segment. An image without references has the bytes it had
    /// before there were references.
    ///
    /// An image made by [`Image::new`] or [`Image::decode`] always encodes to bytes that decode to
    /// it. Lengths beyond what the format can count (a stack of more than [`STACK_LIMIT`] values,
    /// a program too large to embed, both refused by `new`) are written saturated, which the
    /// decoder then refuses.
    pub fn encode(&self) -> Vec<u8> {
        let program = self.program.as_ref().map(Program::encode);
        let framed = |payload: usize| 6 + payload;
        let len = IMAGE_HEADER_LEN
            + 6
            + 8
            + 8 * self.stack.len()
            + framed(32)
            + program.as_ref().map_or(0, |bytes| framed(bytes.len()))
            + self.sleep_left_ms.map_or(0, |_| framed(8))
            + if self.frames.is_empty() {
                0
            } else {
                framed(4 + FRAME_LEN * self.frames.len())
            }
            + if self.has_ref_bases() {
                framed(4 + 4 * self.frames.len())
            } else {
                0
            }
            + if self.refs.is_empty() {
                0
            } else {
                framed(4 + 4 * self.refs.len())
            }
            + if self.heap.is_empty() {
                0
            } else {
                framed(heap_len(&self.heap))
            }
            + framed(PRODUCER.len())
            + framed(4);
        let mut out = Vec::with_capacity(len);
        container::write_header(&mut out, &IMAGE_FORMAT, IMAGE_VERSION, IMAGE_MIN_READER);

        out.extend_from_slice(&IP_SEGMENT.to_be_bytes());
        out.extend_from_slice(&self.ip.to_be_bytes());

        out.extend_from_slice(&STACK_SEGMENT.to_be_bytes());
        let count = u16::try_from(self.stack.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&STACK_ELEMENT_LEN.to_be_bytes());
        for value in &self.stack {
            out.extend_from_slice(&value.to_be_bytes());
        }

        write_framed(&mut out, PROGRAM_HASH_SEGMENT, &self.program_hash);
        if let Some(bytes) = &program {
            write_framed(&mut out, PROGRAM_SEGMENT, bytes);
        }
        if let Some(left) = self.sleep_left_ms {
            write_framed(&mut out, SLEEP_SEGMENT, &left.to_be_bytes());
        }
        if !self.frames.is_empty() {
            write_framed(&mut out, FRAMES_SEGMENT, &encode_frames(&self.frames));
        }
        if self.has_ref_bases() {
            let bases = self.frames.iter().map(|frame| frame.ref_base);
            write_framed(&mut out, REF_BASES_SEGMENT, &encode_u32s(bases));
        }
        if !self.refs.is_empty() {
            let refs = self.refs.iter().map(|value| value.0);
            write_framed(&mut out, REFS_SEGMENT, &encode_u32s(refs));
        }
        if !self.heap.is_empty() {
            write_framed(&mut out, HEAP_SEGMENT, &encode_heap(&self.heap));
        }
        write_framed(&mut out, PRODUCER_SEGMENT, PRODUCER.as_bytes());

        out.extend_from_slice(&END_SEGMENT.to_be_bytes());
        out.extend_from_slice(&4u32.to_be_bytes());
        container::seal(&mut out);
        out
    }

    /// Whether a frame has a reference base other than 0, so that the image needs the reference
    /// bases segment.
    fn has_ref_bases(&self) -> bool {
        self.frames.iter().any(|frame| frame.ref_base != 0)
    }

    /// Decodes and verifies `.mvs` bytes of any version this build reads. Never panics; every
    /// failure is an [`ImageError`] naming what is wrong and where. [`Image::decode_file`] also
    /// tells what the file says about itself.
    pub fn decode(bytes: &[u8]) -> Result<Image, ImageError> {
        Image::decode_file(bytes).map(|(image, _)| image)
    }

    /// Decodes and verifies `.mvs` bytes, and tells which version wrote them, which readers can
    /// load them, who wrote them and which optional segments this build skipped.
    ///
    /// The checks run in this order: the signature, the image's size, version, oldest reader and
    /// flags; the structure (every segment whole, the end segment last and nothing after it, and
    /// in version 1 every segment known); the checksum; then the meaning: no unknown required
    /// segment, no duplicate and no missing segment, each segment's length, the stack's element
    /// size, the producer's text, the frames, reference bases, reference stack and heap
    /// segments' layouts, the heap's soundness ([`Image::check_heap`]), the embedded program (it
    /// loads, its hash is the recorded one, and the state fits it, as [`Image::check`] says). An
    /// image without a program is checked against one by [`Image::check`].
    pub fn decode_file(bytes: &[u8]) -> Result<(Image, Provenance), ImageError> {
        if bytes.starts_with(&crate::mvb::SIGNATURE) {
            return Err(ImageError::NotAnImage);
        }
        let (header, mut reader) = container::open(bytes, &IMAGE_FORMAT, Part::Header)?;
        let layout = header.layout;

        // Walk the structure: where each segment is, without trusting what it says yet.
        let mut found = Found::default();
        loop {
            let offset = reader.pos();
            let header = reader.u16(Part::SegmentHeader)?;
            let known = Segment::from_header(header)
                .map(Segment::info)
                .filter(|info| info.since <= layout);
            let Some(info) = known else {
                if layout < 2 {
                    return Err(ImageError::UnknownSegment { header, offset });
                }
                let part = Part::Unknown(header);
                let len = reader.u32(part)?;
                reader.take(part, to_usize(len))?;
                found.unknown(header, offset, to_usize(len));
                continue;
            };
            let part = Part::Segment(info.segment);
            if info.segment == Segment::End {
                if layout >= 2 {
                    // The checksum is where the length says, so a wrong length cannot wait for
                    // the checksum to be verified.
                    let len = to_usize(reader.u32(part)?);
                    if len != CHECKSUM_LEN {
                        return Err(ImageError::SegmentLength {
                            segment: Segment::End,
                            offset,
                            found: len,
                            expected: CHECKSUM_LEN,
                        });
                    }
                }
                container::check_end(bytes, reader.pos(), part)?;
                break;
            }
            let fields = match (info.layout, layout) {
                (Layout::SeedIp, _) => reader.take(part, 4)?,
                (Layout::SeedStack, _) => {
                    let count = u64::from(reader.u16(part)?);
                    let element = u64::from(reader.u32(part)?);
                    // At most 65,535 × (2^32 - 1), which fits a u64.
                    let values = usize::try_from(count * element).unwrap_or(usize::MAX);
                    reader.take(part, values)?;
                    bytes.get(offset + 2..reader.pos()).unwrap_or_default()
                }
                // Version 1's fixed-size segments have no length field.
                (Layout::Framed { fixed: Some(len) }, 1) => reader.take(part, len)?,
                (Layout::Framed { .. }, _) => {
                    let len = reader.u32(part)?;
                    reader.take(part, to_usize(len))?
                }
            };
            found.record(info.segment, offset, fields);
        }

        // The bytes are as they were written: now read what they mean.
        if let Some((header, offset)) = found.required_unknown {
            return Err(ImageError::RequiredSegment { header, offset });
        }
        if let Some((segment, first, second)) = found.duplicate {
            return Err(ImageError::DuplicateSegment {
                segment,
                first,
                second,
            });
        }
        for info in SEGMENTS.iter().filter(|info| info.required) {
            if info.segment != Segment::End && found.get(info.segment).is_none() {
                return Err(ImageError::MissingSegment {
                    segment: info.segment,
                });
            }
        }
        for &(segment, offset, fields) in &found.segments {
            if let Layout::Framed {
                fixed: Some(expected),
            } = segment.info().layout
                && fields.len() != expected
            {
                return Err(ImageError::SegmentLength {
                    segment,
                    offset,
                    found: fields.len(),
                    expected,
                });
            }
        }

        let field = |segment| found.get(segment).map(|(_, fields)| fields);
        let ip = field(Segment::Ip)
            .and_then(|fields| fields.try_into().ok())
            .map_or(0, u32::from_be_bytes);
        let (stack_at, stack_fields) = found.get(Segment::Stack).unwrap_or_default();
        let (element, values) = match stack_fields.split_first_chunk::<6>() {
            Some(([_, _, fields @ ..], values)) => (u32::from_be_bytes(*fields), values),
            None => (0, &[][..]),
        };
        if element != STACK_ELEMENT_LEN {
            return Err(ImageError::ElementSize {
                found: element,
                offset: stack_at + 4,
            });
        }
        // The walk took count × 8 bytes, so the values are backed by the input.
        let (values, _) = values.as_chunks::<8>();
        let stack = values
            .iter()
            .map(|value| i64::from_be_bytes(*value))
            .collect();
        let program_hash: ProgramHash = field(Segment::ProgramHash)
            .and_then(|fields| fields.try_into().ok())
            .unwrap_or_default();
        let sleep_left_ms = field(Segment::Sleep)
            .and_then(|fields| fields.try_into().ok())
            .map(u64::from_be_bytes);
        let producer = match found.get(Segment::Producer) {
            None => None,
            Some((offset, fields)) => Some(
                std::str::from_utf8(fields)
                    .ok()
                    .filter(|text| text.len() <= MAX_PRODUCER_LEN)
                    .filter(|text| !text.chars().any(char::is_control))
                    .ok_or(ImageError::InvalidProducer { offset })?
                    .to_owned(),
            ),
        };
        let frames = match found.get(Segment::Frames) {
            None => Vec::new(),
            Some((offset, fields)) => decode_frames(fields).ok_or(ImageError::FramesLength {
                offset,
                len: fields.len(),
            })?,
        };
        if frames.len() > MAX_CALL_DEPTH {
            return Err(ImageError::TooManyFrames {
                count: frames.len(),
            });
        }
        let mut frames = frames;
        if let Some((offset, fields)) = found.get(Segment::RefBases) {
            let bases = decode_u32s(fields).ok_or(ImageError::RefBasesLength {
                offset,
                len: fields.len(),
            })?;
            if bases.len() != frames.len() {
                return Err(ImageError::RefBasesCount {
                    offset,
                    count: bases.len(),
                    frames: frames.len(),
                });
            }
            for (frame, base) in frames.iter_mut().zip(bases) {
                frame.ref_base = base;
            }
        }
        let refs = match found.get(Segment::Refs) {
            None => Vec::new(),
            Some((offset, fields)) => decode_u32s(fields)
                .ok_or(ImageError::RefsLength {
                    offset,
                    len: fields.len(),
                })?
                .into_iter()
                .map(Ref)
                .collect(),
        };
        if refs.len() > STACK_LIMIT {
            return Err(ImageError::RefStackTooLarge { len: refs.len() });
        }
        let heap = match found.get(Segment::Heap) {
            None => Vec::new(),
            // A framed segment's payload starts after its header and length.
            Some((offset, fields)) => decode_heap(fields, offset + 6)
                .map_err(|reason| ImageError::BadHeap { offset, reason })?,
        };
        let program = match found.get(Segment::Program) {
            None => None,
            Some((offset, fields)) => {
                let program = Program::decode(fields)
                    .map_err(|source| ImageError::InvalidProgram { offset, source })?;
                let embedded = self::program_hash(&program);
                if embedded != program_hash {
                    return Err(ImageError::ProgramHashMismatch {
                        offset,
                        embedded,
                        recorded: program_hash,
                    });
                }
                Some(program)
            }
        };
        let image = Image {
            ip,
            stack,
            program_hash,
            program,
            sleep_left_ms,
            frames,
            refs,
            heap,
        };
        image.check_heap()?;
        if let Some(program) = &image.program {
            image.check(program)?;
        }
        let provenance = Provenance {
            version: header.version,
            min_reader: header.min_reader,
            producer,
            skipped: found.skipped,
            skipped_unlisted: found.skipped_unlisted,
        };
        Ok((image, provenance))
    }
}

impl From<ContainerError<Part>> for ImageError {
    fn from(error: ContainerError<Part>) -> ImageError {
        ImageError::Container(error)
    }
}

/// The frames segment's payload: a u32 count, then each frame's u16 function, u32 return IP and
/// u32 base, outermost first.
fn encode_frames(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + FRAME_LEN * frames.len());
    out.extend_from_slice(
        &u32::try_from(frames.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for frame in frames {
        out.extend_from_slice(&frame.function.to_be_bytes());
        out.extend_from_slice(&frame.return_ip.to_be_bytes());
        out.extend_from_slice(&frame.base.to_be_bytes());
    }
    out
}

/// Reads the frames segment's payload, or `None` when its length is not its count's.
fn decode_frames(fields: &[u8]) -> Option<Vec<Frame>> {
    let (count, rest) = fields.split_first_chunk::<4>()?;
    let count = to_usize(u32::from_be_bytes(*count));
    if rest.len() != count.checked_mul(FRAME_LEN)? {
        return None;
    }
    let (frames, _) = rest.as_chunks::<FRAME_LEN>();
    Some(
        frames
            .iter()
            .map(|&[f0, f1, r0, r1, r2, r3, b0, b1, b2, b3]| Frame {
                function: u16::from_be_bytes([f0, f1]),
                return_ip: u32::from_be_bytes([r0, r1, r2, r3]),
                base: u32::from_be_bytes([b0, b1, b2, b3]),
                ref_base: 0,
            })
            .collect(),
    )
}

/// A u32 count and the u32s: the payload of the reference bases and reference stack segments.
fn encode_u32s(values: impl ExactSizeIterator<Item = u32>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * values.len());
    out.extend_from_slice(
        &u32::try_from(values.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for value in values {
        out.extend_from_slice(&value.to_be_bytes());
    }
    out
}

/// Reads a u32 count and that many u32s, or `None` when the length is not the count's.
fn decode_u32s(fields: &[u8]) -> Option<Vec<u32>> {
    let (count, rest) = fields.split_first_chunk::<4>()?;
    let count = to_usize(u32::from_be_bytes(*count));
    if rest.len() != count.checked_mul(4)? {
        return None;
    }
    let (values, _) = rest.as_chunks::<4>();
    Some(
        values
            .iter()
            .map(|value| u32::from_be_bytes(*value))
            .collect(),
    )
}

/// The length of one object's kind and length in the heap segment.
pub const OBJECT_HEADER_LEN: usize = 5;

/// The length of the heap segment's payload for `heap`.
fn heap_len(heap: &[Object]) -> usize {
    heap.iter()
        .map(|object| {
            OBJECT_HEADER_LEN
                .saturating_add(object.len().saturating_mul(object.kind().element_len()))
        })
        .fold(4, usize::saturating_add)
}

/// The heap segment's payload: a u32 count, then each object's u8 kind tag ([`Kind::tag`]), u32
/// length (bytes of a string, elements of an array) and contents (the bytes, i64s or u32
/// references), in index order.
fn encode_heap(heap: &[Object]) -> Vec<u8> {
    let mut out = Vec::with_capacity(heap_len(heap));
    out.extend_from_slice(&u32::try_from(heap.len()).unwrap_or(u32::MAX).to_be_bytes());
    for object in heap {
        out.push(object.kind().tag());
        let len = u32::try_from(object.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        match object {
            Object::Str(bytes) => out.extend_from_slice(bytes),
            Object::Ints(values) => {
                for value in values {
                    out.extend_from_slice(&value.to_be_bytes());
                }
            }
            Object::Refs(refs) => {
                for value in refs {
                    out.extend_from_slice(&value.0.to_be_bytes());
                }
            }
        }
    }
    out
}

/// Reads the heap segment's payload, which starts at byte `start` of the image (errors name
/// image offsets). Allocates only for objects whose bytes are present.
fn decode_heap(fields: &[u8], start: usize) -> Result<Vec<Object>, HeapSegmentError> {
    let Some((count, mut rest)) = fields.split_first_chunk::<4>() else {
        return Err(HeapSegmentError::NoCount { len: fields.len() });
    };
    let count = u32::from_be_bytes(*count);
    let at = |rest: &[u8]| start + (fields.len() - rest.len());
    // Every object takes at least its kind and length, so the bytes bound the count.
    let mut objects = Vec::with_capacity(to_usize(count).min(rest.len() / OBJECT_HEADER_LEN));
    for object in 0..to_usize(count) {
        let object_at = at(rest);
        let Some((&[tag, l0, l1, l2, l3], after)) = rest.split_first_chunk::<OBJECT_HEADER_LEN>()
        else {
            return Err(HeapSegmentError::Truncated {
                count,
                object,
                at: object_at,
            });
        };
        let Some(kind) = Kind::from_tag(tag) else {
            return Err(HeapSegmentError::UnknownKind {
                object,
                at: object_at,
                tag,
            });
        };
        let len = to_usize(u32::from_be_bytes([l0, l1, l2, l3]));
        let Some((contents, after)) = len
            .checked_mul(kind.element_len())
            .and_then(|needed| after.split_at_checked(needed))
        else {
            return Err(HeapSegmentError::ObjectPastEnd {
                object,
                at: object_at,
                kind,
                len,
                left: after.len(),
            });
        };
        objects.push(match kind {
            Kind::Str => Object::Str(contents.into()),
            Kind::Ints => Object::Ints(
                contents
                    .as_chunks::<8>()
                    .0
                    .iter()
                    .map(|value| i64::from_be_bytes(*value))
                    .collect(),
            ),
            Kind::Refs => Object::Refs(
                contents
                    .as_chunks::<4>()
                    .0
                    .iter()
                    .map(|value| Ref(u32::from_be_bytes(*value)))
                    .collect(),
            ),
        });
        rest = after;
    }
    if !rest.is_empty() {
        return Err(HeapSegmentError::TrailingBytes {
            extra: rest.len(),
            at: at(rest),
        });
    }
    Ok(objects)
}

/// Appends a framed segment: its header, its u32 length and its payload.
fn write_framed(out: &mut Vec<u8>, header: u16, payload: &[u8]) {
    out.extend_from_slice(&header.to_be_bytes());
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
}

/// The segments the structural walk found: each known one with the offset of its header and its
/// fields (after its header and, for a framed one of version 2, its length), the first
/// duplicate, the first unknown required segment and the unknown optional ones (the first
/// [`MAX_SKIPPED_LISTED`], and how many more).
#[derive(Default)]
struct Found<'a> {
    segments: Vec<(Segment, usize, &'a [u8])>,
    duplicate: Option<(Segment, usize, usize)>,
    required_unknown: Option<(u16, usize)>,
    skipped: Vec<Skipped>,
    skipped_unlisted: usize,
}

impl<'a> Found<'a> {
    fn record(&mut self, segment: Segment, offset: usize, fields: &'a [u8]) {
        match self.get(segment) {
            None => self.segments.push((segment, offset, fields)),
            Some((first, _)) => {
                self.duplicate.get_or_insert((segment, first, offset));
            }
        }
    }

    fn unknown(&mut self, header: u16, offset: usize, len: usize) {
        if header & SEGMENT_OPTIONAL == 0 {
            self.required_unknown.get_or_insert((header, offset));
        } else if self.skipped.len() == MAX_SKIPPED_LISTED {
            self.skipped_unlisted += 1;
        } else {
            self.skipped.push(Skipped {
                header,
                offset,
                len,
            });
        }
    }

    /// The first occurrence of `segment`: where it starts, and its fields.
    fn get(&self, segment: Segment) -> Option<(usize, &'a [u8])> {
        self.segments
            .iter()
            .find(|(found, _, _)| *found == segment)
            .map(|&(_, offset, fields)| (offset, fields))
    }
}

/// The length of `program`'s `.mvb` encoding, computed without encoding it (the layout is
/// `crate::mvb`'s; a test holds the two together).
fn mvb_len(program: &Program) -> usize {
    let code: usize = program.code().iter().map(Instr::encoded_len).sum();
    let sections: usize = program
        .sections()
        .iter()
        .map(|section| SECTION_HEADER_LEN.saturating_add(section.payload.len()))
        .fold(0, usize::saturating_add);
    (HEADER_LEN + code)
        .saturating_add(sections)
        .saturating_add(CHECKSUM_LEN)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use super::*;
    use crate::mvb::{SECTION_OPTIONAL, Section};
    use crate::srcmap::SourceMap;
    use crate::strategies::{resealed, seed_image_without_its_counter, seed_program as seed};

    fn other() -> Program {
        Program::new(vec![Instr::Put(7), Instr::Print]).unwrap()
    }

    /// A version 1 image made of these segments (each with its header), sealed with an end
    /// segment, as the version 1 writer made them. The helpers below make version 1 segments,
    /// except those whose name ends in 2.
    fn raw(segments: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = IMAGE_SIGNATURE.to_vec();
        bytes.extend_from_slice(&[0, 1, 0, 0]);
        for segment in segments {
            bytes.extend_from_slice(segment);
        }
        bytes.extend_from_slice(&END_SEGMENT.to_be_bytes());
        bytes.extend_from_slice(&[0; 4]);
        resealed(bytes)
    }

    fn segment(header: u16, fields: &[u8]) -> Vec<u8> {
        let mut bytes = header.to_be_bytes().to_vec();
        bytes.extend_from_slice(fields);
        bytes
    }

    fn ip(ip: u32) -> Vec<u8> {
        segment(IP_SEGMENT, &ip.to_be_bytes())
    }

    fn stack(values: &[i64]) -> Vec<u8> {
        let mut fields = u16::try_from(values.len()).unwrap().to_be_bytes().to_vec();
        fields.extend_from_slice(&8u32.to_be_bytes());
        for value in values {
            fields.extend_from_slice(&value.to_be_bytes());
        }
        segment(STACK_SEGMENT, &fields)
    }

    fn hash(program: &Program) -> Vec<u8> {
        segment(PROGRAM_HASH_SEGMENT, &program_hash(program))
    }

    fn embedded(mvb: &[u8]) -> Vec<u8> {
        let mut fields = u32::try_from(mvb.len()).unwrap().to_be_bytes().to_vec();
        fields.extend_from_slice(mvb);
        segment(PROGRAM_SEGMENT, &fields)
    }

    fn sleep(ms: u64) -> Vec<u8> {
        segment(SLEEP_SEGMENT, &ms.to_be_bytes())
    }

    /// A version 2 image: the header, these segments, and a sealed end segment.
    fn raw2(segments: &[Vec<u8>]) -> Vec<u8> {
        raw_versions(2, 2, segments)
    }

    /// A version 2 layout that says it is `version` and names `min_reader`.
    fn raw_versions(version: u16, min_reader: u16, segments: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = IMAGE_SIGNATURE.to_vec();
        bytes.extend_from_slice(&version.to_be_bytes());
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&min_reader.to_be_bytes());
        for segment in segments {
            bytes.extend_from_slice(segment);
        }
        bytes.extend_from_slice(&framed(END_SEGMENT, &[0; 4]));
        resealed(bytes)
    }

    /// A version 2 framed segment: header, u32 length, payload.
    fn framed(header: u16, payload: &[u8]) -> Vec<u8> {
        let mut fields = u32::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
        fields.extend_from_slice(payload);
        segment(header, &fields)
    }

    fn hash2(program: &Program) -> Vec<u8> {
        framed(PROGRAM_HASH_SEGMENT, &program_hash(program))
    }

    fn sleep2(ms: u64) -> Vec<u8> {
        framed(SLEEP_SEGMENT, &ms.to_be_bytes())
    }

    fn producer(text: &[u8]) -> Vec<u8> {
        framed(PRODUCER_SEGMENT, text)
    }

    /// The documented version 1 bytes of the seed program paused before its `ADD` with 17 on the
    /// stack, built byte by byte as the version 1 writer wrote them.
    fn seed_image_v1() -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"\x89MVS\r\n\x1a\n");
        bytes.extend_from_slice(&[0, 1, 0, 0]);
        bytes.extend_from_slice(&[0x10, 0x1E, 0, 0, 0, 1]);
        bytes.extend_from_slice(&[0x3A, 0xCC, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 17]);
        bytes.extend_from_slice(&[0x50, 0x48]);
        bytes.extend_from_slice(&program_hash(&seed()));
        bytes.extend_from_slice(&[0x45, 0x4E]);
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_be_bytes());
        bytes
    }

    #[test]
    fn round_trips_with_and_without_program_and_sleep() {
        let program = seed();
        for with_program in [false, true] {
            for (ip, sleep) in [
                (1, None),
                (2, None),
                (3, None),
                (3, Some(0)),
                (3, Some(100)),
                (4, None),
            ] {
                let image = Image::new(&program, ip, vec![-3], sleep, with_program).unwrap();
                let bytes = image.encode();
                let decoded = Image::decode(&bytes).unwrap();
                assert_eq!(decoded, image);
                assert_eq!(decoded.program(), with_program.then_some(&program));
                assert_eq!(decoded.check(&program), Ok(()));
            }
        }
        let empty = Image::new(&seed(), 0, Vec::new(), None, false).unwrap();
        assert_eq!(Image::decode(&empty.encode()), Ok(empty));
    }

    #[test]
    fn a_full_stack_round_trips_and_a_fuller_one_is_refused() {
        // `top: PUT 1; GOTO top` fills the stack, so its PUT can be reached with a full one.
        let grows = Program::new(vec![Instr::Put(1), Instr::Goto(1)]).unwrap();
        let values: Vec<i64> = (0..STACK_LIMIT)
            .map(|v| i64::try_from(v).unwrap() - 7)
            .collect();
        let image = Image::new(&grows, 0, values, None, true).unwrap();
        let bytes = image.encode();
        assert_eq!(
            bytes.len(),
            14 + 6 + 8 + 8 * STACK_LIMIT + 38 + 6 + 42 + 6 + PRODUCER.len() + 10
        );
        assert_eq!(Image::decode(&bytes), Ok(image.clone()));

        let mut fuller = image.stack.clone();
        fuller.push(0);
        assert_eq!(
            Image::new(&grows, 0, fuller.clone(), None, false),
            Err(ImageError::StackTooLarge { len: 65_536 })
        );
        let by_hand = Image {
            stack: fuller,
            ..image
        };
        assert_eq!(
            by_hand.check(&grows),
            Err(ImageError::StackTooLarge { len: 65_536 })
        );
        // Written saturated, such an image does not decode.
        assert!(Image::decode(&by_hand.encode()).is_err());
    }

    #[test]
    fn seed_image_encodes_to_the_documented_bytes() {
        let image = Image::new(&seed(), 1, vec![17], None, false).unwrap();
        let bytes = image.encode();
        let mut expected = Vec::new();
        expected.extend_from_slice(b"\x89MVS\r\n\x1a\n");
        expected.extend_from_slice(&[0, 2, 0, 0, 0, 2]);
        // The seed's two segments, byte for byte as in version 1 (and the seed design).
        let seed_segments = [
            0x10, 0x1E, 0, 0, 0, 1, 0x3A, 0xCC, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 17,
        ];
        expected.extend_from_slice(&seed_segments);
        expected.extend_from_slice(&[0x50, 0x48, 0, 0, 0, 32]);
        let code = &seed().encode()[crate::mvb::HEADER_LEN..][..29];
        let digest: [u8; 32] = Sha256::digest(code).into();
        expected.extend_from_slice(&digest);
        expected.extend_from_slice(&[0xD0, 0x56, 0, 0, 0, 10]);
        expected.extend_from_slice(b"mova 0.1.0");
        expected.extend_from_slice(&[0x45, 0x4E, 0, 0, 0, 4]);
        assert_eq!(PRODUCER, format!("mova {}", env!("CARGO_PKG_VERSION")));
        if PRODUCER == "mova 0.1.0" {
            assert_eq!(&bytes[..bytes.len() - 4], &expected[..]);
            assert_eq!(bytes.len(), 100);
        }
        assert_eq!(&bytes[14..36], &seed_segments[..]);
        assert_eq!(&seed_image_v1()[12..34], &seed_segments[..]);
        let crc_at = bytes.len() - 4;
        assert_eq!(
            &bytes[crc_at..],
            &crc32fast::hash(&bytes[..crc_at]).to_be_bytes()[..]
        );
        assert_eq!(
            hash_hex(&image.program_hash),
            "e9318e8a8a4b1881b39e8935c64cd8fcfdd9295a4360faa2135b35f5de732e43"
        );
        assert_eq!(
            Image::decode_file(&bytes),
            Ok((
                image.clone(),
                Provenance {
                    version: 2,
                    min_reader: 2,
                    producer: Some(PRODUCER.into()),
                    skipped: Vec::new(),
                    skipped_unlisted: 0,
                }
            ))
        );
        // The same state in version 1 loads as the same image, and re-encodes as version 2.
        assert_eq!(
            Image::decode_file(&seed_image_v1()),
            Ok((image.clone(), Provenance::VERSION_1))
        );
        assert_eq!(raw(&[ip(1), stack(&[17]), hash(&seed())]), seed_image_v1());
    }

    #[test]
    fn the_hash_covers_only_the_instructions() {
        let map = SourceMap::new("seed.mova", "seed", [0..1, 0..1, 1..2, 2..3, 3..4]);
        let with_section =
            Program::with_sections(seed().code().to_vec(), vec![map.to_section().unwrap()])
                .unwrap();
        assert_ne!(with_section.encode(), seed().encode());
        assert_eq!(program_hash(&with_section), program_hash(&seed()));
        assert_ne!(program_hash(&other()), program_hash(&seed()));
        let image = Image::new(&with_section, 2, vec![1], None, false).unwrap();
        assert_eq!(image.check(&seed()), Ok(()));
    }

    #[test]
    fn the_encoded_program_length_is_computed_like_the_encoder() {
        let with_section = Program::with_sections(
            seed().code().to_vec(),
            vec![Section {
                kind: SECTION_OPTIONAL | 0x7F,
                payload: vec![9; 13],
            }],
        )
        .unwrap();
        for program in [
            seed(),
            other(),
            with_section,
            Program::new(Vec::new()).unwrap(),
        ] {
            assert_eq!(mvb_len(&program), program.encode().len());
        }
    }

    #[test]
    fn segments_are_read_in_any_order_in_both_versions() {
        let version_1 = raw(&[
            sleep(40),
            hash(&seed()),
            stack(&[5]),
            embedded(&seed().encode()),
            ip(3),
        ]);
        let version_2 = raw2(&[
            producer(b"mova 0.0.9"),
            sleep2(40),
            hash2(&seed()),
            stack(&[5]),
            framed(PROGRAM_SEGMENT, &seed().encode()),
            ip(3),
        ]);
        let expected = Image::new(&seed(), 3, vec![5], Some(40), true).unwrap();
        for bytes in [version_1, version_2] {
            assert_eq!(Image::decode(&bytes).unwrap(), expected);
        }
    }

    #[test]
    fn every_truncation_is_refused_as_truncated() {
        let image = Image::new(&seed(), 3, vec![2], Some(9), true).unwrap();
        let bytes = image.encode();
        for len in 0..bytes.len() {
            match Image::decode(&bytes[..len]) {
                Err(ImageError::Container(ContainerError::Truncated { len: reported, .. })) => {
                    assert_eq!(reported, len)
                }
                other => panic!("truncation to {len} bytes gave {other:?}"),
            }
        }
    }

    #[test]
    fn truncations_name_the_segment_and_the_bytes() {
        let bytes = Image::new(&seed(), 1, vec![17], None, false)
            .unwrap()
            .encode();
        let message = |len: usize| Image::decode(&bytes[..len]).unwrap_err().to_string();
        assert_eq!(
            Image::decode(&bytes[..5]),
            Err(ImageError::Container(ContainerError::Truncated {
                part: Part::Header,
                start: 0,
                end: 12,
                len: 5
            }))
        );
        assert_eq!(
            message(13),
            "truncated header: it needs bytes 12..14, but the image ends at byte 13"
        );
        assert_eq!(
            message(18),
            "truncated IP segment: it needs bytes 16..20, but the image ends at byte 18"
        );
        assert_eq!(
            message(30),
            "truncated stack segment: it needs bytes 28..36, but the image ends at byte 30"
        );
        assert_eq!(
            message(36),
            "truncated segment header: it needs bytes 36..38, but the image ends at byte 36"
        );
        assert_eq!(
            message(40),
            "truncated program hash segment: it needs bytes 38..42, but the image ends at byte 40"
        );
        assert_eq!(
            message(50),
            "truncated program hash segment: it needs bytes 42..74, but the image ends at byte 50"
        );
        let end = bytes.len() - 10;
        assert_eq!(
            message(end + 4),
            format!(
                "truncated end segment: it needs bytes {}..{}, but the image ends at byte {}",
                end + 2,
                end + 6,
                end + 4
            )
        );
        assert_eq!(
            message(bytes.len() - 2),
            format!(
                "truncated end segment: it needs bytes {}..{}, but the image ends at byte {}",
                end + 6,
                end + 10,
                end + 8
            )
        );
        // A huge declared length is a truncation, not an allocation, for a known segment and an
        // unknown one alike.
        for header in [PROGRAM_SEGMENT, 0x8123] {
            let mut huge = raw2(&[ip(0), stack(&[]), hash2(&seed()), framed(header, &[])]);
            let at = 14 + 6 + 8 + 38 + 2;
            huge[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
            assert!(
                matches!(
                    Image::decode(&huge),
                    Err(ImageError::Container(ContainerError::Truncated { end, .. }))
                        if end == at + 4 + to_usize(u32::MAX)
                ),
                "{:?}",
                Image::decode(&huge)
            );
        }
    }

    #[test]
    fn version_1_truncations_name_the_segment_and_the_bytes() {
        let bytes = seed_image_v1();
        assert_eq!(
            Image::decode(&bytes[..5]),
            Err(ImageError::Container(ContainerError::Truncated {
                part: Part::Header,
                start: 0,
                end: 12,
                len: 5
            }))
        );
        assert_eq!(
            Image::decode(&bytes[..16]),
            Err(ImageError::Container(ContainerError::Truncated {
                part: Part::Segment(Segment::Ip),
                start: 14,
                end: 18,
                len: 16
            }))
        );
        let err = Image::decode(&bytes[..30]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "truncated stack segment: it needs bytes 26..34, but the image ends at byte 30"
        );
        let err = Image::decode(&bytes[..34]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "truncated segment header: it needs bytes 34..36, but the image ends at byte 34"
        );
        let err = Image::decode(&bytes[..72]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "truncated end segment: it needs bytes 70..74, but the image ends at byte 72"
        );
        // A huge declared length is a truncation, not an allocation.
        let mut huge = raw(&[ip(0), stack(&[]), hash(&seed()), embedded(&[])]);
        let at = 12 + 6 + 8 + 34 + 2;
        huge[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            Image::decode(&huge),
            Err(ImageError::Container(ContainerError::Truncated {
                part: Part::Segment(Segment::Program),
                ..
            }))
        ));
    }

    #[test]
    fn each_header_fault_has_its_own_error() {
        let good = Image::new(&seed(), 1, vec![17], None, false)
            .unwrap()
            .encode();
        let with = |at: usize, value: &[u8]| {
            let mut bytes = good.clone();
            bytes[at..at + value.len()].copy_from_slice(value);
            resealed(bytes)
        };
        assert!(matches!(
            Image::decode(b"#!/bin/sh\n"),
            Err(ImageError::Container(ContainerError::BadSignature { .. }))
        ));
        assert_eq!(Image::decode(&seed().encode()), Err(ImageError::NotAnImage));
        assert_eq!(
            Image::decode(b"\x89MVS\n\x1a\n\0\0\0\0"),
            Err(ImageError::Container(ContainerError::TextModeCorruption))
        );
        assert_eq!(
            Image::decode(&with(8, &[0, 0])),
            Err(ImageError::Container(ContainerError::UnsupportedVersion {
                found: 0
            }))
        );
        assert_eq!(
            Image::decode(&with(10, &[0x80, 0])),
            Err(ImageError::Container(ContainerError::UnsupportedFlags {
                flags: 0x8000,
                version: 2
            }))
        );
        assert_eq!(
            Image::decode(&with(12, &[0, 1])),
            Err(ImageError::Container(ContainerError::BadMinReader {
                version: 2,
                min_reader: 1
            }))
        );
        let mut long = good.clone();
        long.push(0);
        assert_eq!(
            Image::decode(&long),
            Err(ImageError::Container(ContainerError::TrailingBytes {
                start: good.len(),
                extra: 1
            }))
        );
        let mut corrupt = good.clone();
        corrupt[35] ^= 1; // the stack value
        assert!(matches!(
            Image::decode(&corrupt),
            Err(ImageError::Container(
                ContainerError::ChecksumMismatch { .. }
            ))
        ));
        // The same faults of a version 1 image.
        let v1 = seed_image_v1();
        let with = |at: usize, value: &[u8]| {
            let mut bytes = v1.clone();
            bytes[at..at + value.len()].copy_from_slice(value);
            resealed(bytes)
        };
        assert_eq!(
            Image::decode(&with(10, &[0x80, 0])),
            Err(ImageError::Container(ContainerError::UnsupportedFlags {
                flags: 0x8000,
                version: 1
            }))
        );
        let mut corrupt = v1.clone();
        corrupt[33] ^= 1;
        assert!(matches!(
            Image::decode(&corrupt),
            Err(ImageError::Container(
                ContainerError::ChecksumMismatch { .. }
            ))
        ));
    }

    #[test]
    fn a_newer_image_loads_if_it_names_this_reader_and_is_refused_if_not() {
        let segments = [
            ip(1),
            stack(&[17]),
            hash2(&seed()),
            framed(0x8ABC, b"from the future"),
            producer(b"mova 9.0.0"),
        ];
        let (image, provenance) = Image::decode_file(&raw_versions(5, 2, &segments)).unwrap();
        assert_eq!(
            image,
            Image::new(&seed(), 1, vec![17], None, false).unwrap()
        );
        assert_eq!(
            provenance,
            Provenance {
                version: 5,
                min_reader: 2,
                producer: Some("mova 9.0.0".into()),
                skipped: vec![Skipped {
                    header: 0x8ABC,
                    offset: 74,
                    len: 15
                }],
                skipped_unlisted: 0,
            }
        );
        let error = Image::decode(&raw_versions(5, 3, &segments)).unwrap_err();
        assert_eq!(
            error,
            ImageError::Container(ContainerError::NeedsNewerReader {
                version: 5,
                min_reader: 3
            })
        );
        assert_eq!(
            error.to_string(),
            "this image needs a newer Mova: it is image format version 5 and needs a reader of \
             version 3 or newer (this Mova reads versions 1 to 2)"
        );
        assert_eq!(
            Image::decode(&raw_versions(2, 3, &segments)),
            Err(ImageError::Container(ContainerError::BadMinReader {
                version: 2,
                min_reader: 3
            }))
        );
    }

    #[test]
    fn unknown_optional_segments_are_skipped_and_required_ones_refused() {
        let base = [ip(1), stack(&[17]), hash2(&seed())];
        let with = |extra: Vec<u8>| raw2(&[&base[..], &[extra]].concat());
        let (image, provenance) = Image::decode_file(&with(framed(0xFFFF, &[1, 2, 3]))).unwrap();
        assert_eq!(image, Image::decode(&raw2(&base)).unwrap());
        assert_eq!(
            provenance.skipped,
            vec![Skipped {
                header: 0xFFFF,
                offset: 74,
                len: 3
            }]
        );
        let error = Image::decode(&with(framed(0x1234, &[1, 2, 3]))).unwrap_err();
        assert_eq!(
            error,
            ImageError::RequiredSegment {
                header: 0x1234,
                offset: 74
            }
        );
        assert_eq!(
            error.to_string(),
            "this image needs a newer Mova: it has required segment 0x1234 (at byte 74)"
        );
        // Damage is reported as damage, even in a segment this build does not know.
        let mut damaged = with(framed(0x1234, &[1, 2, 3]));
        damaged[81] ^= 1;
        assert!(matches!(
            Image::decode(&damaged),
            Err(ImageError::Container(
                ContainerError::ChecksumMismatch { .. }
            ))
        ));
        // However many there are, the skipped segments listed stay few: 6 bytes make an empty
        // one, and a list of all would take four times the image's size.
        let many = 100_000;
        let empty = framed(0x8001, &[]);
        let (_, provenance) =
            Image::decode_file(&raw2(&[&base[..], &vec![empty; many]].concat())).unwrap();
        assert_eq!(provenance.skipped.len(), MAX_SKIPPED_LISTED);
        assert_eq!(
            provenance.skipped.last(),
            Some(&Skipped {
                header: 0x8001,
                offset: 74 + 6 * (MAX_SKIPPED_LISTED - 1),
                len: 0
            })
        );
        assert_eq!(provenance.skipped_unlisted, many - MAX_SKIPPED_LISTED);
        // Version 1 segments have no length, so there an unknown one cannot be skipped.
        assert_eq!(
            Image::decode(&raw(&[ip(1), stack(&[17]), hash(&seed()), producer(b"x")])),
            Err(ImageError::UnknownSegment {
                header: PRODUCER_SEGMENT,
                offset: 68
            })
        );
    }

    #[test]
    fn a_segment_of_the_wrong_length_is_refused() {
        let error = Image::decode(&raw2(&[
            ip(1),
            stack(&[17]),
            framed(PROGRAM_HASH_SEGMENT, &[0; 31]),
        ]))
        .unwrap_err();
        assert_eq!(
            error,
            ImageError::SegmentLength {
                segment: Segment::ProgramHash,
                offset: 36,
                found: 31,
                expected: 32
            }
        );
        assert_eq!(
            error.to_string(),
            "the program hash segment at byte 36 is 31 bytes long, but a program hash segment is 32"
        );
        assert!(matches!(
            Image::decode(&raw2(&[
                ip(3),
                stack(&[1]),
                hash2(&seed()),
                framed(SLEEP_SEGMENT, &[0; 9])
            ])),
            Err(ImageError::SegmentLength {
                segment: Segment::Sleep,
                found: 9,
                ..
            })
        ));
        let mut bad_end = raw2(&[ip(1), stack(&[17]), hash2(&seed())]);
        let at = bad_end.len() - 5;
        bad_end[at] = 5;
        bad_end.push(0);
        assert_eq!(
            Image::decode(&resealed(bad_end)),
            Err(ImageError::SegmentLength {
                segment: Segment::End,
                offset: 74,
                found: 5,
                expected: 4
            })
        );
    }

    #[test]
    fn the_producer_must_be_a_line_of_text() {
        let base = [ip(1), stack(&[17]), hash2(&seed())];
        let with = |text: &[u8]| raw2(&[&base[..], &[producer(text)]].concat());
        let (_, provenance) = Image::decode_file(&with("mova 1.2.3-β".as_bytes())).unwrap();
        assert_eq!(provenance.producer.as_deref(), Some("mova 1.2.3-β"));
        let (_, provenance) = Image::decode_file(&raw2(&base)).unwrap();
        assert_eq!(provenance.producer, None);
        for bad in [&b"mova\xFF"[..], b"mova\n1", b"\x1b[2J", &[b'm'; 256]] {
            assert_eq!(
                Image::decode(&with(bad)),
                Err(ImageError::InvalidProducer { offset: 74 }),
                "{bad:?}"
            );
        }
        assert!(Image::decode(&with(&[b'm'; 255])).is_ok());
    }

    #[test]
    fn an_oversized_image_is_refused_before_it_is_read() {
        // Zeroed memory is not touched until written, so this costs little.
        let mut bytes = vec![0u8; MAX_IMAGE_LEN + 1];
        bytes[..8].copy_from_slice(&IMAGE_SIGNATURE);
        assert_eq!(
            Image::decode(&bytes),
            Err(ImageError::Container(ContainerError::TooLarge {
                len: MAX_IMAGE_LEN + 1
            }))
        );
    }

    #[test]
    fn segment_faults_name_the_segment_and_where_it_is() {
        let unknown = raw(&[ip(1), stack(&[17]), segment(0x1234, &[0; 6]), hash(&seed())]);
        assert_eq!(
            Image::decode(&unknown).unwrap_err().to_string(),
            "unknown segment 0x1234 at byte 34"
        );

        let duplicate = raw(&[ip(1), stack(&[17]), ip(2), hash(&seed())]);
        assert_eq!(
            Image::decode(&duplicate),
            Err(ImageError::DuplicateSegment {
                segment: Segment::Ip,
                first: 12,
                second: 34
            })
        );
        let twice = raw(&[ip(1), stack(&[]), hash(&seed()), sleep(1), sleep(2)]);
        assert!(matches!(
            Image::decode(&twice),
            Err(ImageError::DuplicateSegment {
                segment: Segment::Sleep,
                ..
            })
        ));

        for (missing, segments) in [
            (Segment::Ip, vec![stack(&[17]), hash(&seed())]),
            (Segment::Stack, vec![ip(1), hash(&seed())]),
            (Segment::ProgramHash, vec![ip(1), stack(&[17])]),
        ] {
            assert_eq!(
                Image::decode(&raw(&segments)),
                Err(ImageError::MissingSegment { segment: missing })
            );
        }
        assert_eq!(
            Image::decode(&raw(&[stack(&[]), hash(&seed())]))
                .unwrap_err()
                .to_string(),
            "the image has no IP segment, which is required"
        );

        // One 4-byte value: structurally whole, but not the format's 8-byte values.
        let narrow = segment(STACK_SEGMENT, &[0, 1, 0, 0, 0, 4, 0, 0, 0, 17]);
        assert_eq!(
            Image::decode(&raw(&[ip(1), narrow, hash(&seed())])),
            Err(ImageError::ElementSize {
                found: 4,
                offset: 22
            })
        );
    }

    #[test]
    fn the_embedded_program_must_load_and_match_the_hash() {
        let mut broken = seed().encode();
        broken[42] = 0xEE; // the PRINT, checksum left stale
        let bytes = raw(&[ip(1), stack(&[17]), hash(&seed()), embedded(&broken)]);
        let err = Image::decode(&bytes).unwrap_err();
        assert!(matches!(
            err,
            ImageError::InvalidProgram {
                offset: 68,
                source: LoadError::Container(ContainerError::ChecksumMismatch { .. })
            }
        ));
        assert!(
            err.to_string()
                .starts_with("invalid embedded program (segment at byte 68): checksum mismatch"),
            "{err}"
        );

        let bytes = raw(&[
            ip(1),
            stack(&[17]),
            hash(&other()),
            embedded(&seed().encode()),
        ]);
        assert_eq!(
            Image::decode(&bytes),
            Err(ImageError::ProgramHashMismatch {
                offset: 68,
                embedded: program_hash(&seed()),
                recorded: program_hash(&other()),
            })
        );
        assert_eq!(
            Image::decode(&bytes).unwrap_err().to_string(),
            format!(
                "the embedded program (segment at byte 68) has hash e9318e8a8a4b… but the image \
                 records {}…",
                &hash_hex(&program_hash(&other()))[..12]
            )
        );

        // The state must fit the program it carries.
        let bytes = raw(&[
            ip(6),
            stack(&[17]),
            hash(&seed()),
            embedded(&seed().encode()),
        ]);
        assert_eq!(
            Image::decode(&bytes),
            Err(ImageError::IpOutOfRange { ip: 6, len: 5 })
        );
    }

    #[test]
    fn a_program_too_large_to_embed_is_refused() {
        // Zeroed memory is not touched until written, so this costs little.
        let big = Program::with_sections(
            Vec::new(),
            vec![Section {
                kind: SECTION_OPTIONAL,
                payload: vec![0; MAX_FILE_LEN],
            }],
        )
        .unwrap();
        assert!(matches!(
            Image::new(&big, 0, Vec::new(), None, true),
            Err(ImageError::ProgramTooLarge { .. })
        ));
        assert!(Image::new(&big, 0, Vec::new(), None, false).is_ok());
    }

    #[test]
    fn check_refuses_another_program() {
        let image = Image::new(&seed(), 1, vec![17], None, false).unwrap();
        let err = image.check(&other()).unwrap_err();
        assert_eq!(
            err,
            ImageError::WrongProgram {
                expected: program_hash(&other()),
                found: program_hash(&seed())
            }
        );
        assert_eq!(
            err.to_string(),
            "the image is the state of another program: it was saved from program \
             e9318e8a8a4b…, this program is 6a1b6035485e…"
        );
    }

    #[test]
    fn check_refuses_an_ip_past_the_end() {
        assert!(Image::new(&other(), 2, vec![7], None, false).is_ok());
        assert_eq!(
            Image::new(&other(), 3, vec![7], None, false),
            Err(ImageError::IpOutOfRange { ip: 3, len: 2 })
        );
        let err = Image::new(&seed(), 6, vec![], None, false).unwrap_err();
        assert_eq!(err, ImageError::IpOutOfRange { ip: 6, len: 5 });
        assert_eq!(
            err.to_string(),
            "the IP 6 is past the end of the program, which has 5 instructions"
        );
        let image = Image {
            ip: u32::MAX,
            ..Image::new(&seed(), 0, vec![], None, false).unwrap()
        };
        assert!(matches!(
            image.check(&seed()),
            Err(ImageError::IpOutOfRange { .. })
        ));
    }

    #[test]
    fn an_empty_stack_at_a_print_is_refused() {
        let image = Image::decode(&seed_image_without_its_counter(false)).unwrap();
        assert_eq!((image.ip, image.stack.len()), (2, 0));
        let expected = ImageError::ImpossibleStackHeight {
            ip: 2,
            found: InstrAt(Some(Instr::Print)),
            height: 0,
            possible: Heights { min: 1, max: 1 },
        };
        let err = image.check(&seed()).unwrap_err();
        assert_eq!(err, expected);
        assert_eq!(
            err.to_string(),
            "the stack holds 0 values at IP 2 (`PRINT`), but a run of the program has 1 value there"
        );
        // With the program embedded, decoding checks the state against it.
        assert_eq!(
            Image::decode(&seed_image_without_its_counter(true)),
            Err(expected)
        );
        // `Image::new` refuses to make such an image in the first place.
        assert!(Image::new(&seed(), 2, vec![], None, false).is_err());
        assert!(Image::new(&seed(), 2, vec![1, 1], None, false).is_err());
    }

    #[test]
    fn check_refuses_an_ip_no_run_gets_to() {
        // The seed loops for ever: its end is never reached.
        let err = Image::new(&seed(), 5, vec![1], None, false).unwrap_err();
        assert_eq!(
            err,
            ImageError::UnreachableIp {
                ip: 5,
                found: InstrAt(None)
            }
        );
        assert_eq!(
            err.to_string(),
            "no run of the program gets to IP 5 (the end of the code), so the image cannot be a \
             state of it"
        );
        // Code after a HALT that no jump goes to.
        let halts = Program::new(vec![Instr::Put(1), Instr::Halt, Instr::Print]).unwrap();
        assert!(Image::new(&halts, 1, vec![1], None, false).is_ok());
        assert_eq!(
            Image::new(&halts, 2, vec![1], None, false)
                .unwrap_err()
                .to_string(),
            "no run of the program gets to IP 2 (`PRINT`), so the image cannot be a state of it"
        );
        // Where the program halts by running off its end, the end is a state like any other.
        assert!(Image::new(&other(), 2, vec![7], None, false).is_ok());
        assert!(Image::new(&other(), 2, vec![], None, false).is_err());
    }

    #[test]
    fn a_range_of_heights_is_named_as_a_range() {
        // `top: PUT 1; GOTO top` grows the stack until it is full.
        let grows = Program::new(vec![Instr::Put(1), Instr::Goto(1)]).unwrap();
        assert!(Image::new(&grows, 0, vec![1; STACK_LIMIT], None, false).is_ok());
        assert_eq!(
            Image::new(&grows, 1, vec![], None, false)
                .unwrap_err()
                .to_string(),
            "the stack holds 0 values at IP 1 (`GOTO 1`), but a run of the program has 1 to \
             65535 values there"
        );
    }

    #[test]
    fn check_refuses_a_sleep_remainder_not_at_a_sleep() {
        let err = Image::new(&seed(), 2, vec![1], Some(10), false).unwrap_err();
        assert_eq!(
            err,
            ImageError::SleepNotAtSleep {
                ip: 2,
                left_ms: 10,
                found: InstrAt(Some(Instr::Print))
            }
        );
        assert_eq!(
            err.to_string(),
            "the image has 10 ms of sleep left at IP 2, but there the program has `PRINT`, not a sleep"
        );
        assert_eq!(
            Image::new(&other(), 2, vec![7], Some(10), false)
                .unwrap_err()
                .to_string(),
            "the image has 10 ms of sleep left at IP 2, but there the program has the end of the \
             code, not a sleep"
        );
        assert_eq!(
            Image::new(&seed(), 3, vec![1], Some(101), false),
            Err(ImageError::SleepTooLong {
                ip: 3,
                left_ms: 101,
                duration_ms: 100
            })
        );

        let sleeps = Program::new(vec![Instr::Put(50), Instr::SleepS]).unwrap();
        assert!(Image::new(&sleeps, 1, vec![50], Some(50), false).is_ok());
        assert!(matches!(
            Image::new(&sleeps, 1, vec![], Some(5), false),
            Err(ImageError::ImpossibleStackHeight { height: 0, .. })
        ));
        // A `SLEEPS` a run can reach with an empty stack traps there; it never starts to sleep.
        let traps = Program::new(vec![Instr::SleepS]).unwrap();
        assert!(Image::new(&traps, 0, vec![], None, false).is_ok());
        assert_eq!(
            Image::new(&traps, 0, vec![], Some(5), false),
            Err(ImageError::SleepWithoutDuration { ip: 0, left_ms: 5 })
        );
        assert_eq!(
            Image::new(&sleeps, 1, vec![-1], Some(0), false),
            Err(ImageError::SleepTooLong {
                ip: 1,
                left_ms: 0,
                duration_ms: -1
            })
        );
    }

    /// `f(n) = n == 0 ? 0 : f(n - 1)`, called from the main program with 3:
    /// `0 PUT 3, 1 CALL 1, 2 PRINT, 3 HALT`, then `f` at 4..12:
    /// `4 LOAD 0, 5 JZ +5, 6 LOAD 0, 7 ADD -1, 8 CALL 1, 9 RETV, 10 PUT 0, 11 RETV`.
    fn recursive() -> Program {
        Program::with_functions(
            vec![
                Instr::Put(3),
                Instr::Call(1),
                Instr::Print,
                Instr::Halt,
                Instr::Load(0),
                Instr::Jz(5),
                Instr::Load(0),
                Instr::Add(-1),
                Instr::Call(1),
                Instr::RetV,
                Instr::Put(0),
                Instr::RetV,
            ],
            &[func::Function {
                entry: 4,
                params: 1,
                results: 1,
                ref_params: 0,
                ref_results: 0,
            }],
            Vec::new(),
        )
        .unwrap()
    }

    fn frame(function: u16, return_ip: u32, base: u32) -> Frame {
        Frame {
            function,
            return_ip,
            base,
            ref_base: 0,
        }
    }

    /// Two calls deep, at `f`'s entry: `f(3)` called `f(2)`.
    fn two_deep() -> (u32, Vec<i64>, Vec<Frame>) {
        (4, vec![3, 2], vec![frame(1, 2, 0), frame(1, 9, 1)])
    }

    /// The error `Image::with_frames` gives for this state of [`recursive`], as text.
    fn frame_error(ip: u32, stack: Vec<i64>, frames: Vec<Frame>) -> String {
        Image::with_frames(&recursive(), ip, stack, frames, None, false)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn frames_round_trip_and_only_images_with_frames_carry_the_segment() {
        let program = recursive();
        let (ip, stack, frames) = two_deep();
        for with_program in [false, true] {
            let image = Image::with_frames(
                &program,
                ip,
                stack.clone(),
                frames.clone(),
                None,
                with_program,
            )
            .unwrap();
            let bytes = image.encode();
            let decoded = Image::decode(&bytes).unwrap();
            assert_eq!(decoded, image);
            decoded.check(&program).unwrap();
            let header = FRAMES_SEGMENT.to_be_bytes();
            assert!(bytes.windows(2).any(|pair| pair == header));
        }
        // In the main program, before its call: no frames, no segment (the image of a program
        // without calls keeps its bytes).
        let image = Image::new(&program, 1, vec![3], None, false).unwrap();
        assert!(image.frames.is_empty());
        let bytes = image.encode();
        assert_eq!(Image::decode(&bytes).unwrap(), image);
        let expected_len = IMAGE_HEADER_LEN + 6 + 8 + 8 + 38 + 6 + PRODUCER.len() + 10;
        assert_eq!(bytes.len(), expected_len);
    }

    #[test]
    fn each_bad_frame_is_refused_with_what_is_wrong() {
        assert_eq!(
            frame_error(4, vec![3], vec![frame(2, 2, 0)]),
            "frame 1 (function 2): the program has no such function (it has 1 besides the main program)"
        );
        assert_eq!(
            frame_error(4, vec![3], vec![frame(0, 2, 0)]),
            "frame 1 (the main program): the program has no such function (it has 1 besides the main program)"
        );
        assert_eq!(
            frame_error(4, vec![3], vec![frame(1, 2, 5)]),
            "frame 1 (function 1): its base 5 is not between its caller's base 0 and the stack's height 1"
        );
        assert_eq!(
            frame_error(
                4,
                vec![3, 2],
                vec![frame(1, 2, 0), frame(1, 9, 1), frame(1, 9, 0)]
            ),
            "frame 3 (function 1): its base 0 is not between its caller's base 1 and the stack's height 2"
        );
        assert_eq!(
            frame_error(4, vec![3], vec![frame(1, 3, 0)]),
            "frame 1 (function 1): its return IP 3 does not follow a call of it in the main program"
        );
        assert_eq!(
            frame_error(4, vec![3], vec![frame(1, 0, 0)]),
            "frame 1 (function 1): its return IP 0 does not follow a call of it in the main program"
        );
        // The call at 8 is in `f`, not in the main program.
        assert_eq!(
            frame_error(4, vec![3], vec![frame(1, 9, 0)]),
            "frame 1 (function 1): its return IP 9 does not follow a call of it in the main program"
        );
        assert_eq!(
            frame_error(4, vec![3, 3], vec![frame(1, 2, 1)]),
            "frame 1 (function 1): the main program would hold 2 values at its call, but a run has 1 value there"
        );
        assert_eq!(
            frame_error(2, vec![3], vec![frame(1, 2, 0)]),
            "the IP 2 is not in the code of function 1 (instructions 4..12)"
        );
        assert_eq!(
            frame_error(5, vec![3, 3], Vec::new()),
            "the IP 5 is not in the code of the main program (instructions 0..4)"
        );
        // A program with functions ends in HALT: the end of the code is no main program's IP.
        assert_eq!(
            frame_error(12, Vec::new(), Vec::new()),
            "the IP 12 is not in the code of the main program (instructions 0..4)"
        );
        // The height counts from the innermost frame's base.
        assert_eq!(
            frame_error(4, vec![3, 2, 1], two_deep().2),
            "the stack holds 2 values at IP 4 (`LOAD 0`), but a run of the program has 1 value there"
        );
    }

    #[test]
    fn too_many_frames_are_refused_by_check_and_by_decode() {
        let program = recursive();
        let frames = vec![frame(1, 9, 0); MAX_CALL_DEPTH + 1];
        let error =
            Image::with_frames(&program, 4, vec![1], frames.clone(), None, false).unwrap_err();
        assert_eq!(error, ImageError::TooManyFrames { count: 10_001 });
        assert_eq!(
            error.to_string(),
            "the image has 10001 call frames, at most 10000 are allowed"
        );
        // Written anyway, as a forged image would be: the decoder refuses it before checking.
        let forged = Image {
            ip: 4,
            stack: vec![1],
            program_hash: program_hash(&program),
            program: Some(program),
            sleep_left_ms: None,
            frames,
            heap: Vec::new(),
            refs: Vec::new(),
        };
        assert_eq!(
            Image::decode(&forged.encode()),
            Err(ImageError::TooManyFrames { count: 10_001 })
        );
    }

    #[test]
    fn a_frames_segment_of_the_wrong_length_is_refused() {
        let program = recursive();
        for payload in [
            vec![0, 0, 0],
            vec![0, 0, 0, 1],
            vec![0, 0, 0, 0, 0],
            [&[0, 0, 0, 1][..], &[0; FRAME_LEN + 1]].concat(),
        ] {
            let bytes = raw2(&[
                ip(4),
                stack(&[3]),
                hash2(&program),
                framed(FRAMES_SEGMENT, &payload),
            ]);
            let error = Image::decode(&bytes).unwrap_err();
            assert!(
                matches!(error, ImageError::FramesLength { len, .. } if len == payload.len()),
                "{error:?}"
            );
        }
        let bytes = raw2(&[
            ip(4),
            stack(&[3]),
            hash2(&program),
            framed(FRAMES_SEGMENT, &[0, 0, 0, 1, 0]),
        ]);
        let offset = IMAGE_HEADER_LEN + 6 + 16 + 38;
        assert_eq!(
            Image::decode(&bytes).unwrap_err().to_string(),
            format!(
                "the frames segment at byte {offset} is 5 bytes long, which is not a count and 10 bytes per frame"
            )
        );
    }

    /// A program with references: the string constant "hi", put in an array that is passed to
    /// `f`, which returns it:
    /// `0 CONST 0, 1 NEWR, 2 RLOAD 0, 3 APPENDR, 4 RDUP, 5 CALL 1, 6 PRINTR, 7 HALT`, then `f`
    /// at 8..10: `8 RLOAD 0, 9 RETR`. Reference heights: 0 1 2 3 2 3 3 2 | 1 2.
    fn with_refs() -> Program {
        use Instr::*;
        Program::with_functions(
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
            &[func::Function {
                entry: 8,
                params: 0,
                results: 0,
                ref_params: 1,
                ref_results: 1,
            }],
            vec![Section {
                kind: crate::heap::STRINGS,
                payload: crate::heap::encode_strings(&["hi"]),
            }],
        )
        .unwrap()
    }

    /// [`with_refs`] at `f`'s entry: the constant, the array (object 0, holding the constant)
    /// and the array again as `f`'s argument.
    fn inside_f() -> State {
        State {
            ip: 8,
            stack: Vec::new(),
            frames: vec![Frame {
                function: 1,
                return_ip: 6,
                base: 0,
                ref_base: 2,
            }],
            refs: vec![Ref::constant(0), Ref::object(0), Ref::object(0)],
            heap: vec![Object::Refs(vec![Ref::constant(0)])],
            sleep_left_ms: None,
        }
    }

    /// The image of [`with_refs`] in `state`, made without any check, as a forger would.
    fn unchecked(state: State) -> Image {
        let program = with_refs();
        Image {
            ip: state.ip,
            stack: state.stack,
            program_hash: program_hash(&program),
            program: Some(program),
            sleep_left_ms: state.sleep_left_ms,
            frames: state.frames,
            refs: state.refs,
            heap: state.heap,
        }
    }

    /// What `check` says of [`with_refs`] in `state`, as text; decoding its bytes (with the
    /// program embedded) says the same.
    fn state_error(state: State) -> String {
        let image = unchecked(state);
        let error = image.check(&with_refs()).unwrap_err();
        assert_eq!(Image::decode(&image.encode()), Err(error.clone()));
        error.to_string()
    }

    /// Where the segment with `header` starts in `bytes` (which must have exactly one).
    fn segment_at(bytes: &[u8], header: u16) -> usize {
        let mut pos = IMAGE_HEADER_LEN;
        // IP, then the stack's count and values.
        pos += 6;
        let count = usize::from(u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]));
        pos += 8 + 8 * count;
        loop {
            let found = u16::from_be_bytes([bytes[pos], bytes[pos + 1]]);
            if found == header {
                return pos;
            }
            assert_ne!(found, END_SEGMENT, "no segment 0x{header:04X}");
            let len = u32::from_be_bytes(bytes[pos + 2..pos + 6].try_into().unwrap());
            pos += 6 + to_usize(len);
        }
    }

    /// `bytes` with the payload of the segment `header` replaced by `payload`, resealed.
    fn with_payload(bytes: &[u8], header: u16, payload: &[u8]) -> Vec<u8> {
        let at = segment_at(bytes, header);
        let len = to_usize(u32::from_be_bytes(
            bytes[at + 2..at + 6].try_into().unwrap(),
        ));
        let mut out = bytes[..at].to_vec();
        out.extend_from_slice(&framed(header, payload));
        out.extend_from_slice(&bytes[at + 6 + len..]);
        resealed(out)
    }

    #[test]
    fn references_and_the_heap_round_trip() {
        let program = with_refs();
        for with_program in [false, true] {
            let image = Image::of_state(&program, inside_f(), with_program).unwrap();
            let bytes = image.encode();
            let decoded = Image::decode(&bytes).unwrap();
            assert_eq!(decoded, image);
            decoded.check(&program).unwrap();
            for header in [REF_BASES_SEGMENT, REFS_SEGMENT, HEAP_SEGMENT] {
                segment_at(&bytes, header);
            }
            // The documented payloads.
            let rb = segment_at(&bytes, REF_BASES_SEGMENT);
            assert_eq!(
                &bytes[rb..rb + 14],
                &[0x52, 0x42, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 2]
            );
            let rs = segment_at(&bytes, REFS_SEGMENT);
            assert_eq!(
                &bytes[rs..rs + 22],
                &[
                    0x52, 0x53, 0, 0, 0, 16, 0, 0, 0, 3, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
                ]
            );
            let hp = segment_at(&bytes, HEAP_SEGMENT);
            assert_eq!(
                &bytes[hp..hp + 19],
                &[
                    0x48, 0x50, 0, 0, 0, 13, 0, 0, 0, 1, 3, 0, 0, 0, 1, 0x80, 0, 0, 0
                ]
            );
        }
        // In the main program before the call: references but no frames, so no reference bases.
        let state = State {
            ip: 5,
            refs: vec![Ref::constant(0), Ref::object(0), Ref::object(0)],
            heap: vec![Object::Refs(vec![Ref::constant(0)])],
            ..State::default()
        };
        let image = Image::of_state(&program, state, false).unwrap();
        let bytes = image.encode();
        assert!(
            !bytes
                .windows(2)
                .any(|pair| pair == REF_BASES_SEGMENT.to_be_bytes())
        );
        assert_eq!(Image::decode(&bytes), Ok(image));
        // Only constants: no heap segment.
        let state = State {
            ip: 1,
            refs: vec![Ref::constant(0)],
            ..State::default()
        };
        let image = Image::of_state(&program, state, false).unwrap();
        let bytes = image.encode();
        assert!(
            !bytes
                .windows(2)
                .any(|pair| pair == HEAP_SEGMENT.to_be_bytes())
        );
        assert_eq!(
            bytes.len(),
            IMAGE_HEADER_LEN + 6 + 8 + 38 + 14 + 6 + PRODUCER.len() + 10
        );
        assert_eq!(Image::decode(&bytes), Ok(image));
    }

    #[test]
    fn every_kind_of_object_sharing_and_cycles_round_trip() {
        let program = with_refs();
        // At IP 5 the main program's frame holds 3 references.
        let heap = vec![
            Object::Refs(vec![
                Ref::object(1),
                Ref::object(1),
                Ref::object(2),
                Ref::object(0),
                Ref::constant(0),
            ]),
            Object::Str("héllo".as_bytes().into()),
            Object::Ints(vec![i64::MIN, -1, 0, i64::MAX]),
            Object::Ints(Vec::new()),
            Object::Refs(Vec::new()),
            Object::Str(Box::default()),
        ];
        let state = State {
            ip: 5,
            refs: vec![Ref::object(0), Ref::object(3), Ref::object(4)],
            heap: heap.clone(),
            ..State::default()
        };
        // Object 5 is garbage: refused.
        assert_eq!(
            Image::of_state(&program, state.clone(), false),
            Err(ImageError::UnreachableObject { object: 5 })
        );
        let state = State {
            heap: heap[..5].to_vec(),
            ..state
        };
        let image = Image::of_state(&program, state, true).unwrap();
        assert_eq!(Image::decode(&image.encode()), Ok(image));
    }

    #[test]
    fn images_of_int_only_programs_keep_their_bytes() {
        // The seed image's bytes are pinned above; with frames too, no new segment appears.
        let (ip, stack, frames) = two_deep();
        let bytes = Image::with_frames(&recursive(), ip, stack, frames, None, false)
            .unwrap()
            .encode();
        for header in [REF_BASES_SEGMENT, REFS_SEGMENT, HEAP_SEGMENT] {
            let start = IMAGE_HEADER_LEN + 6 + 8 + 16;
            assert!(
                !bytes[start..]
                    .windows(2)
                    .any(|pair| pair == header.to_be_bytes())
            );
        }
    }

    #[test]
    fn an_image_without_reference_bases_has_them_all_0() {
        // Frames as issue 11 wrote them, in a program with references whose frame starts at the
        // bottom of the reference stack.
        let program = with_refs();
        let state = State {
            ip: 8,
            frames: vec![Frame {
                function: 1,
                return_ip: 6,
                base: 0,
                ref_base: 2,
            }],
            ..inside_f()
        };
        let bytes = Image::of_state(&program, state, false).unwrap().encode();
        let at = segment_at(&bytes, REF_BASES_SEGMENT);
        let without = resealed([&bytes[..at], &bytes[at + 14..]].concat());
        let image = Image::decode(&without).unwrap();
        assert_eq!(image.frames[0].ref_base, 0);
        assert_eq!(
            image.check(&program).unwrap_err().to_string(),
            "frame 1 (function 1): the main program would hold 1 reference at its call, but a run has 3 references there"
        );
        // A segment of zeros is the same as none, and is not written again.
        let zeros = with_payload(&bytes, REF_BASES_SEGMENT, &[0, 0, 0, 1, 0, 0, 0, 0]);
        let image = Image::decode(&zeros).unwrap();
        assert_eq!(image.frames[0].ref_base, 0);
        assert_eq!(image.encode(), without);
    }

    #[test]
    fn each_bad_reference_is_refused_with_where_it_is() {
        let (refs, heap) = (inside_f().refs, inside_f().heap);
        let with = |refs: Vec<Ref>, heap: Vec<Object>| State {
            refs,
            heap,
            ..inside_f()
        };
        assert_eq!(
            state_error(with(
                vec![Ref::constant(0), Ref::object(1), Ref::object(0)],
                heap.clone()
            )),
            "reference stack slot 1 refers to heap object 1, but the heap has 1 object"
        );
        assert_eq!(
            state_error(with(refs.clone(), vec![Object::Refs(vec![Ref::object(7)])])),
            "element 0 of heap object 0 refers to heap object 7, but the heap has 1 object"
        );
        assert_eq!(
            state_error(with(
                vec![Ref::constant(1), Ref::object(0), Ref::object(0)],
                heap.clone()
            )),
            "reference stack slot 0 refers to string constant 1, but the program has 1 constant"
        );
        assert_eq!(
            state_error(with(
                refs.clone(),
                vec![Object::Refs(vec![
                    Ref::constant(0),
                    Ref::constant(u32::MAX >> 1)
                ])]
            )),
            "element 1 of heap object 0 refers to string constant 2147483647, but the program has 1 constant"
        );
        assert_eq!(
            state_error(with(
                refs.clone(),
                vec![
                    Object::Refs(vec![Ref::object(1)]),
                    Object::Str(b"ok \xFF"[..].into())
                ]
            )),
            "heap object 1 is a string that is not UTF-8 (from byte 3 of it)"
        );
        assert_eq!(
            state_error(with(
                refs.clone(),
                vec![Object::Refs(Vec::new()), Object::Ints(vec![1])]
            )),
            "heap object 1 is reached from no reference on the stack (an image carries only the objects the program can still use)"
        );
        // An object reached only from garbage is garbage too; a cycle is not, when reached.
        assert_eq!(
            state_error(with(
                refs.clone(),
                vec![
                    Object::Refs(Vec::new()),
                    Object::Refs(vec![Ref::object(2)]),
                    Object::Refs(vec![Ref::object(1)]),
                ]
            )),
            "heap object 1 is reached from no reference on the stack (an image carries only the objects the program can still use)"
        );
        let cycle = with(refs.clone(), vec![Object::Refs(vec![Ref::object(0)])]);
        let image = Image::of_state(&with_refs(), cycle, true).unwrap();
        assert_eq!(Image::decode(&image.encode()), Ok(image));
        // Without the program, decoding checks what it can: the objects, not the constants.
        let mut bare = unchecked(with(
            vec![Ref::constant(9), Ref::object(0), Ref::object(0)],
            heap,
        ));
        bare.program = None;
        assert!(Image::decode(&bare.encode()).is_ok());
        bare.refs[1] = Ref::object(3);
        assert!(matches!(
            Image::decode(&bare.encode()),
            Err(ImageError::DanglingObject { object: 3, .. })
        ));
    }

    #[test]
    fn reference_heights_must_be_the_programs() {
        let refs = inside_f().refs;
        let heap = inside_f().heap;
        assert_eq!(
            state_error(State {
                refs: [&refs[..], &[Ref::constant(0)]].concat(),
                ..inside_f()
            }),
            "the reference stack holds 2 references at IP 8 (`RLOAD 0`), but a run of the program has 1 reference there"
        );
        let frame = |ref_base| Frame {
            function: 1,
            return_ip: 6,
            base: 0,
            ref_base,
        };
        assert_eq!(
            state_error(State {
                frames: vec![frame(4)],
                ..inside_f()
            }),
            "frame 1 (function 1): its reference base 4 is not between its caller's reference base 0 and the reference stack's height 3"
        );
        assert_eq!(
            state_error(State {
                frames: vec![frame(1)],
                refs: vec![Ref::object(0), Ref::object(0), Ref::constant(0)],
                heap: heap.clone(),
                ..inside_f()
            }),
            "frame 1 (function 1): the main program would hold 2 references at its call, but a run has 3 references there"
        );
        // In the main program.
        assert_eq!(
            state_error(State {
                ip: 1,
                frames: Vec::new(),
                refs: vec![],
                heap: Vec::new(),
                ..inside_f()
            }),
            "the reference stack holds 0 references at IP 1 (`NEWR`), but a run of the program has 1 reference there"
        );
        // A reference base below the caller's.
        let recursive = Program::with_functions(
            vec![
                Instr::Const(0),
                Instr::Call(1),
                Instr::Halt,
                Instr::RLoad(0),
                Instr::Call(1),
                Instr::RetR,
            ],
            &[func::Function {
                entry: 3,
                params: 0,
                results: 0,
                ref_params: 1,
                ref_results: 1,
            }],
            vec![Section {
                kind: crate::heap::STRINGS,
                payload: crate::heap::encode_strings(&["x"]),
            }],
        )
        .unwrap();
        let state = |bases: [u32; 3]| State {
            ip: 3,
            frames: (0..3)
                .map(|at| Frame {
                    function: 1,
                    return_ip: if at == 0 { 2 } else { 5 },
                    base: 0,
                    ref_base: bases[at],
                })
                .collect(),
            refs: vec![Ref::constant(0); 3],
            ..State::default()
        };
        assert!(Image::of_state(&recursive, state([0, 1, 2]), false).is_ok());
        assert_eq!(
            Image::of_state(&recursive, state([0, 1, 0]), false)
                .unwrap_err()
                .to_string(),
            "frame 3 (function 1): its reference base 0 is not between its caller's reference base 1 and the reference stack's height 3"
        );
    }

    #[test]
    fn too_many_references_are_refused_by_check_and_by_decode() {
        let state = State {
            refs: vec![Ref::constant(0); STACK_LIMIT + 1],
            ..inside_f()
        };
        let error = unchecked(state.clone()).check(&with_refs()).unwrap_err();
        assert_eq!(error, ImageError::RefStackTooLarge { len: 65_536 });
        assert_eq!(
            error.to_string(),
            "the reference stack holds 65536 references, at most 65535 are allowed"
        );
        assert_eq!(Image::decode(&unchecked(state).encode()), Err(error));
        assert_eq!(
            ImageError::TooManyObjects { count: 1 << 31 }.to_string(),
            "the heap holds 2147483648 objects, at most 2147483647 are allowed"
        );
    }

    #[test]
    fn forged_reference_segments_are_refused() {
        let good = Image::of_state(&with_refs(), inside_f(), true)
            .unwrap()
            .encode();
        let error = |header, payload: &[u8]| {
            Image::decode(&with_payload(&good, header, payload))
                .unwrap_err()
                .to_string()
        };
        let rb = segment_at(&good, REF_BASES_SEGMENT);
        let rs = segment_at(&good, REFS_SEGMENT);
        for payload in [
            &[0, 0, 0][..],
            &[0, 0, 0, 1, 0, 0, 0],
            &[0, 0, 0, 1, 0, 0, 0, 2, 0],
        ] {
            assert_eq!(
                error(REF_BASES_SEGMENT, payload),
                format!(
                    "the reference bases segment at byte {rb} is {} bytes long, which is not a count and 4 bytes per frame",
                    payload.len()
                )
            );
        }
        assert_eq!(
            error(REF_BASES_SEGMENT, &[0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]),
            format!(
                "the reference bases segment at byte {rb} has 2 reference bases, but the image has 1 call frames"
            )
        );
        assert_eq!(
            error(REFS_SEGMENT, &[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]),
            format!(
                "the reference stack segment at byte {rs} is 8 bytes long, which is not a count and 4 bytes per reference"
            )
        );
        // A reference bases segment without frames.
        let main = Image::of_state(
            &with_refs(),
            State {
                ip: 1,
                refs: vec![Ref::constant(0)],
                ..State::default()
            },
            false,
        )
        .unwrap()
        .encode();
        let end = main.len() - 10 - 6 - PRODUCER.len();
        let forged = resealed(
            [
                &main[..end],
                &framed(REF_BASES_SEGMENT, &[0, 0, 0, 1, 0, 0, 0, 0]),
                &main[end..],
            ]
            .concat(),
        );
        assert!(matches!(
            Image::decode(&forged),
            Err(ImageError::RefBasesCount {
                count: 1,
                frames: 0,
                ..
            })
        ));
    }

    #[test]
    fn forged_heap_segments_are_refused_with_what_is_wrong() {
        let good = Image::of_state(&with_refs(), inside_f(), true)
            .unwrap()
            .encode();
        let hp = segment_at(&good, HEAP_SEGMENT);
        let first = hp + 10;
        let error = |payload: &[u8]| {
            Image::decode(&with_payload(&good, HEAP_SEGMENT, payload))
                .unwrap_err()
                .to_string()
        };
        let prefix = format!("invalid heap segment at byte {hp}: ");
        assert_eq!(
            error(&[0, 0, 1]),
            format!("{prefix}it is 3 bytes long, too short for its u32 object count")
        );
        assert_eq!(
            error(&[0xFF, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0, 0]),
            format!(
                "{prefix}it declares 4294967295 objects, but its bytes end at object 1 (byte {}), before its kind and length",
                first + 5
            )
        );
        assert_eq!(
            error(&[0, 0, 0, 1, 4, 0, 0, 0, 0]),
            format!(
                "{prefix}object 0 (byte {first}) has kind tag 4, which is no kind (1 string, 2 array of ints, 3 array of references)"
            )
        );
        assert_eq!(
            error(&[0, 0, 0, 1, 2, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]),
            format!(
                "{prefix}object 0 (byte {first}) is an array of ints of length 4294967295, which needs 34359738360 bytes, but the segment has 3 left"
            )
        );
        assert_eq!(
            error(&[0, 0, 0, 1, 3, 0, 0, 0, 0, 9]),
            format!(
                "{prefix}1 bytes follow its last object (from byte {})",
                first + 5
            )
        );
        // Well-formed, but the wrong kinds: the array the frames hold is a string here, which
        // the image format allows (instructions check kinds when they run).
        assert!(
            Image::decode(&with_payload(
                &good,
                HEAP_SEGMENT,
                &[0, 0, 0, 1, 1, 0, 0, 0, 2, b'h', b'i']
            ))
            .is_ok()
        );
        // Every truncation of the whole image is a truncation.
        for len in 0..good.len() {
            assert!(
                matches!(
                    Image::decode(&good[..len]),
                    Err(ImageError::Container(ContainerError::Truncated { .. }))
                ),
                "{len}"
            );
        }
    }

    #[test]
    fn error_messages_read_well() {
        assert_eq!(
            Image::decode(b"ELF\x7f").unwrap_err().to_string(),
            "not a Mova state image: it starts with 45 4C 46 7F instead of the signature \
             89 4D 56 53 0D 0A 1A 0A"
        );
        assert_eq!(
            Image::decode(&seed().encode()).unwrap_err().to_string(),
            "this is a Mova bytecode file (.mvb), not a state image (.mvs)"
        );
        let narrow = segment(STACK_SEGMENT, &[0, 0, 0, 0, 0, 4]);
        assert_eq!(
            Image::decode(&raw(&[ip(1), narrow, hash(&seed())]))
                .unwrap_err()
                .to_string(),
            "unsupported stack element size 4 at byte 22 (stack values are 8-byte integers)"
        );
    }
}
