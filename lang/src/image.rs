//! The `.mvs` state image: a paused program's IP and operand stack, the hash of the program they
//! belong to, optionally the program itself and the remainder of an interrupted sleep.
//!
//! Layout (all integers big-endian; `docs/formats.md` is the byte-by-byte reference):
//!
//! ```text
//! offset  size  field
//!      0     8  signature 89 4D 56 53 0D 0A 1A 0A ("\x89MVS\r\n\x1a\n")
//!      8     2  format version (1)
//!     10     2  flags (must be 0)
//!     12     …  segments, each a u16 header and its fields:
//!                 0x101E IP            u32 instruction index                      required
//!                 0x3ACC stack         u16 count, u32 element size (8), i64s      required
//!                 0x5048 program hash  32 bytes, SHA-256 of the instructions      required
//!                 0x5052 program       u32 length, a complete `.mvb` file         optional
//!                 0x534C sleep         u64 milliseconds left                      optional
//!                 0x454E end           u32 CRC-32 (IEEE) of every byte before it  required, last
//! ```
//!
//! The IP and stack segments keep the seed design's layout exactly. The writer emits the segments
//! in the order above; the reader takes the others in any order, each at most once, before the end
//! segment.
//!
//! **Invariant:** decoding never panics and never allocates more than the input's own size: every
//! declared length is checked against the bytes actually present before it is used.

use crate::bytes::{self, Cursor, Short, Signature, be_u32, to_usize};
use crate::isa::{Instr, STACK_LIMIT, Sleeps};
use crate::mvb::{
    CHECKSUM_LEN, HEADER_LEN, Hex, LoadError, MAX_FILE_LEN, Program, SECTION_HEADER_LEN,
};
use crate::verify::Heights;
use sha2::{Digest, Sha256};
use std::fmt;

/// The first eight bytes of every `.mvs` image.
///
/// Built like [`crate::mvb::SIGNATURE`]: the non-ASCII first byte catches 7-bit transfers and the
/// `\r\n`, `\x1a` and `\n` bytes catch text-mode conversions of line endings.
pub const IMAGE_SIGNATURE: [u8; 8] = *b"\x89MVS\r\n\x1a\n";

/// The image format version this build writes and reads.
pub const IMAGE_VERSION: u16 = 1;

/// The length of the fixed header (signature, version and flags).
pub const IMAGE_HEADER_LEN: usize = 12;

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
/// The header of the end segment, which carries the checksum.
pub const END_SEGMENT: u16 = 0x454E;

/// The size in bytes of one stack value in the stack segment (values are `i64`).
pub const STACK_ELEMENT_LEN: u32 = 8;

/// The largest image a VM loads: the largest `.mvb` file it could embed, plus room for the state
/// (a full stack is 512 KiB).
pub const MAX_IMAGE_LEN: usize = MAX_FILE_LEN + (1 << 20);

/// A program's identity: the SHA-256 of its encoded instructions.
pub type ProgramHash = [u8; 32];

/// The hash of `program`'s instructions: SHA-256 of the concatenated `.mvb` encoding of every
/// instruction ([`Instr::encode_into`]), without the `.mvb` header or sections, so that a program
/// built with and without a source map is the same program.
pub fn program_hash(program: &Program) -> ProgramHash {
    let mut hasher = Sha256::new();
    let mut buf = Vec::with_capacity(16);
    for instr in program.code() {
        buf.clear();
        instr.encode_into(&mut buf);
        hasher.update(&buf);
    }
    hasher.finalize().into()
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
}

/// A segment of an image, as errors name it.
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
    /// The end segment ([`END_SEGMENT`]).
    End,
}

impl Segment {
    /// Every segment, in the order the writer emits them.
    pub const ALL: [Segment; 6] = [
        Segment::Ip,
        Segment::Stack,
        Segment::ProgramHash,
        Segment::Program,
        Segment::Sleep,
        Segment::End,
    ];

    /// The segment's u16 header.
    pub const fn header(self) -> u16 {
        match self {
            Segment::Ip => IP_SEGMENT,
            Segment::Stack => STACK_SEGMENT,
            Segment::ProgramHash => PROGRAM_HASH_SEGMENT,
            Segment::Program => PROGRAM_SEGMENT,
            Segment::Sleep => SLEEP_SEGMENT,
            Segment::End => END_SEGMENT,
        }
    }

    /// The segment with this header, if there is one.
    pub const fn from_header(header: u16) -> Option<Segment> {
        match header {
            IP_SEGMENT => Some(Segment::Ip),
            STACK_SEGMENT => Some(Segment::Stack),
            PROGRAM_HASH_SEGMENT => Some(Segment::ProgramHash),
            PROGRAM_SEGMENT => Some(Segment::Program),
            SLEEP_SEGMENT => Some(Segment::Sleep),
            END_SEGMENT => Some(Segment::End),
            _ => None,
        }
    }

    /// Whether every image must have this segment.
    pub const fn is_required(self) -> bool {
        match self {
            Segment::Ip | Segment::Stack | Segment::ProgramHash | Segment::End => true,
            Segment::Program | Segment::Sleep => false,
        }
    }

    /// The segment's position in [`Segment::ALL`].
    const fn index(self) -> usize {
        match self {
            Segment::Ip => 0,
            Segment::Stack => 1,
            Segment::ProgramHash => 2,
            Segment::Program => 3,
            Segment::Sleep => 4,
            Segment::End => 5,
        }
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Segment::Ip => "IP segment",
            Segment::Stack => "stack segment",
            Segment::ProgramHash => "program hash segment",
            Segment::Program => "program segment",
            Segment::Sleep => "sleep segment",
            Segment::End => "end segment",
        })
    }
}

/// A part of an image, as truncation errors name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The fixed header: signature, version and flags.
    Header,
    /// The u16 header that starts a segment (an image that ends between segments lacks its end
    /// segment).
    SegmentHeader,
    /// The fields of a segment.
    Segment(Segment),
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Header => f.write_str("header"),
            Part::SegmentHeader => f.write_str("segment header"),
            Part::Segment(segment) => segment.fmt(f),
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
    /// The bytes do not start with [`IMAGE_SIGNATURE`].
    #[error(
        "not a Mova state image: it starts with {found} instead of the signature {}",
        Hex(IMAGE_SIGNATURE.to_vec())
    )]
    BadSignature {
        /// The first bytes of the file.
        found: Hex,
    },
    /// The bytes are a `.mvb` program, not an image.
    #[error("this is a Mova bytecode file (.mvb), not a state image (.mvs)")]
    NotAnImage,
    /// The signature's line-ending bytes were rewritten, as a text-mode transfer does.
    #[error(
        "corrupted signature: its line-ending bytes were changed (was the image transferred in text mode?)"
    )]
    TextModeCorruption,
    /// The image is written in a format version this build does not read.
    #[error(
        "unsupported image format version {found} at byte 8 (this Mova reads version {IMAGE_VERSION})"
    )]
    UnsupportedVersion {
        /// The version in the image.
        found: u16,
    },
    /// The header sets flags this build does not know.
    #[error(
        "unsupported image flags 0x{flags:04X} at byte 10 (no flags are defined in version {IMAGE_VERSION})"
    )]
    UnsupportedFlags {
        /// The flags in the image.
        flags: u16,
    },
    /// The image is larger than [`MAX_IMAGE_LEN`].
    #[error("the image is {len} bytes long, at most {MAX_IMAGE_LEN} are allowed")]
    ImageTooLarge {
        /// The image's length.
        len: usize,
    },
    /// The image ends inside a part it declares.
    #[error("truncated {part}: it needs bytes {start}..{end}, but the image ends at byte {len}")]
    Truncated {
        /// The part that is cut short.
        part: Part,
        /// Where the missing bytes start.
        start: usize,
        /// Where they should end.
        end: usize,
        /// The image's length.
        len: usize,
    },
    /// A segment header is not one this build knows.
    #[error("unknown segment 0x{header:04X} at byte {offset}")]
    UnknownSegment {
        /// The header.
        header: u16,
        /// Where the segment starts.
        offset: usize,
    },
    /// The image goes on after its end segment.
    #[error("{extra} unexpected bytes after the end segment, from byte {start}")]
    TrailingBytes {
        /// Where the unexpected bytes start.
        start: usize,
        /// How many there are.
        extra: usize,
    },
    /// The checksum does not match the contents.
    #[error(
        "checksum mismatch: the image records 0x{stored:08X} but its contents sum to 0x{computed:08X} (the image is corrupt)"
    )]
    ChecksumMismatch {
        /// The checksum stored in the end segment.
        stored: u32,
        /// The checksum of the contents.
        computed: u32,
    },
    /// A segment occurs twice.
    #[error("duplicate {segment} at byte {second} (the first one is at byte {first})")]
    DuplicateSegment {
        /// The segment.
        segment: Segment,
        /// Where its first occurrence starts.
        first: usize,
        /// Where the second starts.
        second: usize,
    },
    /// A required segment is missing.
    #[error("the image has no {segment}, which is required")]
    MissingSegment {
        /// The segment.
        segment: Segment,
    },
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
        /// The IP.
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
        /// The IP.
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
        /// The IP.
        ip: u32,
        /// What is at the IP.
        found: InstrAt,
        /// The number of values on the image's stack.
        height: usize,
        /// The heights a run of the program can have at the IP.
        possible: Heights,
    },
    /// The image has a sleep remainder but the IP is not on a sleep.
    #[error(
        "the image has {left_ms} ms of sleep left at IP {ip}, but there the program has {found}, not a sleep"
    )]
    SleepNotAtSleep {
        /// The IP.
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
        /// The IP.
        ip: u32,
        /// The remainder.
        left_ms: u64,
    },
    /// The sleep remainder is longer than the sleep at the IP.
    #[error(
        "the image has {left_ms} ms of sleep left at IP {ip}, more than the whole sleep there ({duration_ms} ms)"
    )]
    SleepTooLong {
        /// The IP.
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
        };
        image.check(program)?;
        Ok(image)
    }

    /// The program to resume: the embedded one, else `None`.
    pub fn program(&self) -> Option<&Program> {
        self.program.as_ref()
    }

    /// Whether this image can be the state of `program`: it records `program`'s hash, its IP is
    /// at most the code length (equal: the program ran off its end), its stack holds at most
    /// [`STACK_LIMIT`] values, a run of the program can get to the IP with that many values (see
    /// [`StackHeights`]), and a sleep remainder, if any, belongs to a `SLEEP` or `SLEEPS` at the
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
        let Some(possible) = program.stack_heights().at(self.ip) else {
            return Err(ImageError::UnreachableIp {
                ip: self.ip,
                found: InstrAt(instr),
            });
        };
        if !possible.contains(self.stack.len()) {
            return Err(ImageError::ImpossibleStackHeight {
                ip: self.ip,
                found: InstrAt(instr),
                height: self.stack.len(),
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

    /// Encodes the image as `.mvs` bytes: the segments IP, stack, program hash, then the program
    /// and the sleep remainder if there are any, then the end segment.
    ///
    /// An image made by [`Image::new`] or [`Image::decode`] always encodes to bytes that decode to
    /// it. Lengths beyond what the format can count (a stack of more than [`STACK_LIMIT`] values,
    /// a program too large to embed, both refused by `new`) are written saturated, which the
    /// decoder then refuses.
    pub fn encode(&self) -> Vec<u8> {
        let program = self.program.as_ref().map(Program::encode);
        let len = IMAGE_HEADER_LEN
            + 6
            + 8
            + 8 * self.stack.len()
            + 2
            + 32
            + program.as_ref().map_or(0, |bytes| 6 + bytes.len())
            + self.sleep_left_ms.map_or(0, |_| 10)
            + 6;
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&IMAGE_SIGNATURE);
        out.extend_from_slice(&IMAGE_VERSION.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());

        out.extend_from_slice(&IP_SEGMENT.to_be_bytes());
        out.extend_from_slice(&self.ip.to_be_bytes());

        out.extend_from_slice(&STACK_SEGMENT.to_be_bytes());
        let count = u16::try_from(self.stack.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&STACK_ELEMENT_LEN.to_be_bytes());
        for value in &self.stack {
            out.extend_from_slice(&value.to_be_bytes());
        }

        out.extend_from_slice(&PROGRAM_HASH_SEGMENT.to_be_bytes());
        out.extend_from_slice(&self.program_hash);

        if let Some(bytes) = &program {
            out.extend_from_slice(&PROGRAM_SEGMENT.to_be_bytes());
            let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(bytes);
        }

        if let Some(left) = self.sleep_left_ms {
            out.extend_from_slice(&SLEEP_SEGMENT.to_be_bytes());
            out.extend_from_slice(&left.to_be_bytes());
        }

        out.extend_from_slice(&END_SEGMENT.to_be_bytes());
        let checksum = crc32fast::hash(&out);
        out.extend_from_slice(&checksum.to_be_bytes());
        out
    }

    /// Decodes and verifies `.mvs` bytes. Never panics; every failure is an [`ImageError`] naming
    /// what is wrong and where.
    ///
    /// The checks run in this order: the signature, the image's size, version and flags; the
    /// structure (every segment known and whole, the end segment last and nothing after it); the
    /// checksum; then the meaning: no duplicate and no missing segment, the stack's element size,
    /// the embedded program (it loads, its hash is the recorded one, and the state fits it, as
    /// [`Image::check`] says). An image without a program is checked against one by
    /// [`Image::check`].
    pub fn decode(bytes: &[u8]) -> Result<Image, ImageError> {
        let len = bytes.len();
        check_signature(bytes)?;
        if len > MAX_IMAGE_LEN {
            return Err(ImageError::ImageTooLarge { len });
        }
        let mut reader = Reader(Cursor::new(bytes, IMAGE_SIGNATURE.len()));
        let header = reader.take(Part::Header, IMAGE_HEADER_LEN - IMAGE_SIGNATURE.len())?;
        let version = u16::from_be_bytes([header[0], header[1]]);
        if version != IMAGE_VERSION {
            return Err(ImageError::UnsupportedVersion { found: version });
        }
        let flags = u16::from_be_bytes([header[2], header[3]]);
        if flags != 0 {
            return Err(ImageError::UnsupportedFlags { flags });
        }

        // Walk the structure: where each segment is, without trusting what it says yet.
        let mut found = Found::default();
        let (crc_at, stored) = loop {
            let offset = reader.pos();
            let header = reader.take(Part::SegmentHeader, 2)?;
            let header = u16::from_be_bytes([header[0], header[1]]);
            let segment = Segment::from_header(header)
                .ok_or(ImageError::UnknownSegment { header, offset })?;
            let part = Part::Segment(segment);
            let fields = match segment {
                Segment::Ip => reader.take(part, 4)?,
                Segment::Stack => {
                    let fixed = reader.take(part, 6)?;
                    let count = u64::from(u16::from_be_bytes([fixed[0], fixed[1]]));
                    let element = u64::from(be_u32(&fixed[2..6]));
                    // At most 65,535 × (2^32 - 1), which fits a u64.
                    let values = usize::try_from(count * element).unwrap_or(usize::MAX);
                    reader.take(part, values)?;
                    &bytes[offset + 2..reader.pos()]
                }
                Segment::ProgramHash => reader.take(part, 32)?,
                Segment::Program => {
                    let program_len = be_u32(reader.take(part, 4)?);
                    reader.take(part, to_usize(program_len))?;
                    &bytes[offset + 2..reader.pos()]
                }
                Segment::Sleep => reader.take(part, 8)?,
                Segment::End => {
                    let crc_at = reader.pos();
                    break (crc_at, be_u32(reader.take(part, 4)?));
                }
            };
            found.record(segment, offset, fields);
        };
        if reader.pos() < len {
            return Err(ImageError::TrailingBytes {
                start: reader.pos(),
                extra: len - reader.pos(),
            });
        }
        let computed = crc32fast::hash(&bytes[..crc_at]);
        if stored != computed {
            return Err(ImageError::ChecksumMismatch { stored, computed });
        }

        // The bytes are as they were written: now read what they mean.
        if let Some((segment, first, second)) = found.duplicate {
            return Err(ImageError::DuplicateSegment {
                segment,
                first,
                second,
            });
        }
        let required = |segment: Segment| {
            found.slots[segment.index()].ok_or(ImageError::MissingSegment { segment })
        };
        let (_, ip) = required(Segment::Ip)?;
        let (stack_at, stack) = required(Segment::Stack)?;
        let (_, hash) = required(Segment::ProgramHash)?;

        let ip = be_u32(ip);
        let element = be_u32(&stack[2..6]);
        if element != STACK_ELEMENT_LEN {
            return Err(ImageError::ElementSize {
                found: element,
                offset: stack_at + 4,
            });
        }
        // The walk took count × 8 bytes, so the capacity is backed by the input.
        let values = &stack[6..];
        let mut stack = Vec::with_capacity(values.len() / 8);
        for value in values.chunks_exact(8) {
            let mut buf = [0; 8];
            buf.copy_from_slice(value);
            stack.push(i64::from_be_bytes(buf));
        }
        let mut program_hash = [0; 32];
        program_hash.copy_from_slice(hash);
        let sleep_left_ms = found.slots[Segment::Sleep.index()].map(|(_, fields)| {
            let mut buf = [0; 8];
            buf.copy_from_slice(fields);
            u64::from_be_bytes(buf)
        });
        let program = match found.slots[Segment::Program.index()] {
            None => None,
            Some((offset, fields)) => {
                let program = Program::decode(&fields[4..])
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
        };
        if let Some(program) = &image.program {
            image.check(program)?;
        }
        Ok(image)
    }
}

/// The segments the structural walk found: the fields of the first of each kind (after its u16
/// header) with the offset of its header, and the first duplicate.
#[derive(Default)]
struct Found<'a> {
    slots: [Option<(usize, &'a [u8])>; 6],
    duplicate: Option<(Segment, usize, usize)>,
}

impl<'a> Found<'a> {
    fn record(&mut self, segment: Segment, offset: usize, fields: &'a [u8]) {
        match self.slots[segment.index()] {
            None => self.slots[segment.index()] = Some((offset, fields)),
            Some((first, _)) => {
                self.duplicate.get_or_insert((segment, first, offset));
            }
        }
    }
}

/// Checks the signature, telling a short file, a text-mode-damaged one and a `.mvb` given by mistake
/// apart from a foreign file.
fn check_signature(bytes: &[u8]) -> Result<(), ImageError> {
    match bytes::check_signature(bytes, &IMAGE_SIGNATURE) {
        Signature::Valid => Ok(()),
        Signature::Truncated => Err(ImageError::Truncated {
            part: Part::Header,
            start: 0,
            end: IMAGE_HEADER_LEN,
            len: bytes.len(),
        }),
        Signature::TextMode | Signature::Foreign if bytes.starts_with(&crate::mvb::SIGNATURE) => {
            Err(ImageError::NotAnImage)
        }
        Signature::TextMode => Err(ImageError::TextModeCorruption),
        Signature::Foreign => Err(ImageError::BadSignature {
            found: Hex(bytes.iter().take(8).copied().collect()),
        }),
    }
}

/// A cursor over the image that names the part it was reading when the image ends too soon.
struct Reader<'a>(Cursor<'a>);

impl<'a> Reader<'a> {
    fn take(&mut self, part: Part, count: usize) -> Result<&'a [u8], ImageError> {
        self.0
            .take(count)
            .map_err(|Short { start, end, len }| ImageError::Truncated {
                part,
                start,
                end,
                len,
            })
    }

    fn pos(&self) -> usize {
        self.0.pos()
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
    use super::*;
    use crate::mvb::{SECTION_OPTIONAL, Section};
    use crate::srcmap::SourceMap;
    use crate::strategies::{resealed, seed_image_without_its_counter, seed_program as seed};

    fn other() -> Program {
        Program::new(vec![Instr::Put(7), Instr::Print]).unwrap()
    }

    /// An image made of these segments (each with its header), sealed with an end segment.
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
        assert_eq!(bytes.len(), 12 + 6 + 8 + 8 * STACK_LIMIT + 34 + 6 + 42 + 6);
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
        expected.extend_from_slice(&[0, 1, 0, 0]);
        expected.extend_from_slice(&[0x10, 0x1E, 0, 0, 0, 1]);
        expected.extend_from_slice(&[0x3A, 0xCC, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 17]);
        expected.extend_from_slice(&[0x50, 0x48]);
        let code = &seed().encode()[crate::mvb::HEADER_LEN..][..29];
        let digest: [u8; 32] = Sha256::digest(code).into();
        expected.extend_from_slice(&digest);
        expected.extend_from_slice(&[0x45, 0x4E]);
        assert_eq!(&bytes[..bytes.len() - 4], &expected[..]);
        assert_eq!(bytes.len(), 74);
        assert_eq!(
            &bytes[70..],
            &crc32fast::hash(&bytes[..70]).to_be_bytes()[..]
        );
        assert_eq!(
            hash_hex(&image.program_hash),
            "e9318e8a8a4b1881b39e8935c64cd8fcfdd9295a4360faa2135b35f5de732e43"
        );
        assert_eq!(Image::decode(&bytes), Ok(image));
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
    fn segments_are_read_in_any_order() {
        let bytes = raw(&[
            sleep(40),
            hash(&seed()),
            stack(&[5]),
            embedded(&seed().encode()),
            ip(3),
        ]);
        let image = Image::decode(&bytes).unwrap();
        assert_eq!(
            image,
            Image::new(&seed(), 3, vec![5], Some(40), true).unwrap()
        );
    }

    #[test]
    fn every_truncation_is_refused_as_truncated() {
        let image = Image::new(&seed(), 3, vec![2], Some(9), true).unwrap();
        let bytes = image.encode();
        for len in 0..bytes.len() {
            match Image::decode(&bytes[..len]) {
                Err(ImageError::Truncated { len: reported, .. }) => assert_eq!(reported, len),
                other => panic!("truncation to {len} bytes gave {other:?}"),
            }
        }
    }

    #[test]
    fn truncations_name_the_segment_and_the_bytes() {
        let bytes = Image::new(&seed(), 1, vec![17], None, false)
            .unwrap()
            .encode();
        assert_eq!(
            Image::decode(&bytes[..5]),
            Err(ImageError::Truncated {
                part: Part::Header,
                start: 0,
                end: 12,
                len: 5
            })
        );
        assert_eq!(
            Image::decode(&bytes[..16]),
            Err(ImageError::Truncated {
                part: Part::Segment(Segment::Ip),
                start: 14,
                end: 18,
                len: 16
            })
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
            Err(ImageError::Truncated {
                part: Part::Segment(Segment::Program),
                ..
            })
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
            bytes
        };
        assert!(matches!(
            Image::decode(b"#!/bin/sh\n"),
            Err(ImageError::BadSignature { .. })
        ));
        assert_eq!(Image::decode(&seed().encode()), Err(ImageError::NotAnImage));
        assert_eq!(
            Image::decode(b"\x89MVS\n\x1a\n\0\0\0\0"),
            Err(ImageError::TextModeCorruption)
        );
        assert_eq!(
            Image::decode(&with(8, &[0, 2])),
            Err(ImageError::UnsupportedVersion { found: 2 })
        );
        assert_eq!(
            Image::decode(&with(10, &[0x80, 0])),
            Err(ImageError::UnsupportedFlags { flags: 0x8000 })
        );
        let mut long = good.clone();
        long.push(0);
        assert_eq!(
            Image::decode(&long),
            Err(ImageError::TrailingBytes {
                start: good.len(),
                extra: 1
            })
        );
        let mut corrupt = good.clone();
        corrupt[33] ^= 1; // the stack value
        assert!(matches!(
            Image::decode(&corrupt),
            Err(ImageError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn an_oversized_image_is_refused_before_it_is_read() {
        // Zeroed memory is not touched until written, so this costs little.
        let mut bytes = vec![0u8; MAX_IMAGE_LEN + 1];
        bytes[..8].copy_from_slice(&IMAGE_SIGNATURE);
        assert_eq!(
            Image::decode(&bytes),
            Err(ImageError::ImageTooLarge {
                len: MAX_IMAGE_LEN + 1
            })
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
                source: LoadError::ChecksumMismatch { .. }
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
