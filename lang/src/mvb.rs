//! The `.mvb` binary bytecode format: encoding, and decoding with full verification.
//!
//! Layout (all integers big-endian; `docs/formats.md` is the byte-by-byte reference):
//!
//! ```text
//! offset  size  field
//!      0     8  signature 89 4D 56 42 0D 0A 1A 0A ("\x89MVB\r\n\x1a\n")
//!      8     2  format version (1)
//!     10     2  flags (must be 0)
//!     12     4  instruction count
//!     16     4  code length in bytes
//!     20     4  section count
//!     24     …  code: the instructions, each an opcode byte and its operand
//!      …     …  sections: each a u16 kind, a u32 payload length and the payload
//!    end-4   4  CRC-32 (IEEE) of every byte before it
//! ```
//!
//! **Invariant:** decoding never panics and allocates in proportion to the bytes present, never to
//! a declared length (a decoded instruction takes 16 bytes for as few as 1 encoded, and there are
//! at most [`MAX_SECTIONS`] sections): every declared length is checked against the bytes
//! actually present before it is used.

#![deny(clippy::indexing_slicing)]

use crate::bytes::to_usize;
use crate::container::{self, ContainerError, Format};
use crate::debuginfo::{DEBUG_INFO, DebugInfo};
use crate::func::{self, FUNCTIONS, FUNCTIONS_REFS, Function, MAX_FUNCTIONS, Returns};
use crate::heap::{self, STRINGS};
use crate::isa::{Instr, InstrDecodeError, JumpTarget, Opcode};
use crate::srcmap::{SOURCE_MAP, SourceMap};
use crate::verify::StackHeights;
use std::fmt;

/// The first eight bytes of every `.mvb` file.
///
/// As in PNG and Lua's binary chunks, the non-ASCII first byte catches 7-bit transfers and the
/// `\r\n`, `\x1a` and `\n` bytes catch text-mode conversions of line endings.
pub const SIGNATURE: [u8; 8] = *b"\x89MVB\r\n\x1a\n";

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;

/// The length of the fixed header, signature included.
pub const HEADER_LEN: usize = 24;

/// The length of the trailing checksum.
pub const CHECKSUM_LEN: usize = 4;

/// The length of a section's header (kind and payload length).
pub const SECTION_HEADER_LEN: usize = 6;

/// The most instructions a program may have (instruction indices must fit the state image's u32 IP
/// with room to spare).
pub const MAX_INSTRUCTIONS: u32 = 1 << 24;

/// The most sections a program may have. Today's writers write at most one; without a limit the
/// 6 bytes of an empty section would cost a reader some 60 bytes of memory each (a 64 MiB file of
/// them: 680 MB).
pub const MAX_SECTIONS: u32 = 1 << 10;

/// The largest `.mvb` file a VM loads.
pub const MAX_FILE_LEN: usize = 256 << 20;

/// Section kinds with this bit set are optional: a reader that does not know the kind skips it.
/// A reader refuses a file with a required section kind it does not know.
pub const SECTION_OPTIONAL: u16 = 0x8000;

/// How `.mvb` files are identified and how their errors name things; see [`crate::container`].
pub const MVB_FORMAT: Format = Format {
    signature: SIGNATURE,
    what: "Mova bytecode file",
    noun: "file",
    version_field: "format version",
    flags_field: "header flags",
    end: "the checksum",
    max_len: MAX_FILE_LEN,
    oldest: FORMAT_VERSION,
    newest: FORMAT_VERSION,
    min_reader_since: None,
};

pub use crate::container::Hex;

/// An extra section of a `.mvb` file, kept as raw bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Section {
    /// The section kind; see [`SECTION_OPTIONAL`].
    pub kind: u16,
    /// The section's payload.
    pub payload: Vec<u8>,
}

impl Section {
    /// Whether a reader that does not know this kind may skip the section.
    pub fn is_optional(&self) -> bool {
        self.kind & SECTION_OPTIONAL != 0
    }
}

/// A verified program: code whose every jump lands inside it, plus its sections.
///
/// **Invariant:** a `Program` value has passed [`Program::new`]'s checks, so the VM can rely on them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Program {
    code: Vec<Instr>,
    sections: Vec<Section>,
    /// The function table, the main program first (the only one of a program without a
    /// [`FUNCTIONS`] section).
    functions: Vec<Function>,
    /// The string constants (of the [`STRINGS`] section; none without one).
    constants: Vec<Box<[u8]>>,
}

/// Why code and sections do not make a valid program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The code is longer than [`MAX_INSTRUCTIONS`].
    #[error("the program has {count} instructions, at most {MAX_INSTRUCTIONS} are allowed")]
    TooManyInstructions {
        /// The number of instructions.
        count: usize,
    },
    /// There are more sections than [`MAX_SECTIONS`].
    #[error("the program has {count} sections, at most {MAX_SECTIONS} are allowed")]
    TooManySections {
        /// The number of sections.
        count: usize,
    },
    /// A jump leaves the code.
    #[error(
        "jump target out of range: `{instr}` at instruction {index} goes to instruction {target}, \
         but the code has {len} instructions (valid targets are 0..={len})"
    )]
    JumpOutOfRange {
        /// The index of the jump.
        index: u32,
        /// The jump itself.
        instr: Instr,
        /// Where it would go.
        target: i64,
        /// The code length.
        len: u32,
    },
    /// A section's kind is required but not one this build knows.
    #[error("unknown required section kind 0x{kind:04X} (section {index})")]
    UnknownSection {
        /// The position of the section among the sections.
        index: usize,
        kind: u16,
    },
    /// A section of a kind this build knows does not hold what that kind must.
    #[error("invalid {name} (section {index}): {reason}")]
    InvalidSection {
        /// The position of the section among the sections.
        index: usize,
        /// What kind of section it is.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A section kind that may appear once appears again.
    #[error("section {index} is a second {name}")]
    DuplicateSection {
        /// The position of the second one among the sections.
        index: usize,
        /// What kind of section it is.
        name: &'static str,
    },
    /// There are more functions than [`MAX_FUNCTIONS`].
    #[error("the program has {count} functions, at most {MAX_FUNCTIONS} are allowed")]
    TooManyFunctions {
        /// The number of functions.
        count: usize,
    },
    /// A call names no function of the program.
    #[error(
        "`{instr}` at instruction {index} calls {}, but the program has {} function{}",
        if *function == 0 { String::from("the main program, which is not a function") }
        else { format!("function {function}") },
        count - 1, if *count == 2 { "" } else { "s" }
    )]
    CallTarget {
        /// The index of the call.
        index: u32,
        /// The call itself.
        instr: Instr,
        /// The function it names.
        function: u16,
        /// How many functions the program has, the main program included.
        count: usize,
    },
    /// Control leaves a function other than by returning: a jump out of its code, or running
    /// off its end.
    #[error(
        "`{instr}` at instruction {index} {} instruction {target}, outside {} (instructions {}..{})",
        if instr.jump_target(*index).is_some() { "can go to" } else { "runs on into" },
        function_name(*function), code.start, code.end
    )]
    LeavesFunction {
        /// The index of the instruction.
        index: u32,
        /// The instruction.
        instr: Instr,
        /// Where control would go.
        target: u32,
        /// The function it is in.
        function: u16,
        /// That function's code.
        code: std::ops::Range<u32>,
    },
    /// A return that does not fit the function it is in: in the main program, or returning
    /// something else than the function's table entry says it returns.
    #[error(
        "`{instr}` at instruction {index} {}",
        if *function == 0 { String::from("returns from the main program, which is not a function") }
        else { format!("returns {} from function {function}, which returns {} (use {})",
            Returns::of_return(instr).map_or("?", Returns::words), returns.words(), returns.instr()) }
    )]
    Return {
        /// The index of the return.
        index: u32,
        /// The return itself.
        instr: Instr,
        /// The function it is in.
        function: u16,
        /// What that function returns.
        returns: Returns,
    },
    /// A `CONST` names a string the program does not have.
    #[error(
        "`{instr}` at instruction {index} names string constant {constant}, but the program has {count}"
    )]
    Constant {
        /// The index of the instruction.
        index: u32,
        /// The instruction.
        instr: Instr,
        /// The constant it names.
        constant: u32,
        /// How many string constants the program has.
        count: usize,
    },
    /// A function whose stack heights are not one exact height at every instruction, or that
    /// would take values from below its frame; or any function, the main program included, whose
    /// reference heights are not.
    #[error("function {function}: {reason}")]
    Heights {
        /// The function.
        function: u16,
        /// What is wrong, and where.
        reason: crate::verify::HeightError,
    },
    /// A section's payload is longer than its u32 length field can say.
    #[error("section {index} is {len} bytes long, more than a section can hold")]
    SectionTooLarge {
        /// The position of the section among the sections.
        index: usize,
        /// Its payload length.
        len: usize,
    },
}

/// Why bytes are not a loadable `.mvb` program. Each variant names what is wrong and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The signature, size, version, flags, a truncation, trailing bytes or the checksum: what
    /// every container format checks ([`crate::container`]).
    #[error("{}", .0.display(&MVB_FORMAT))]
    Container(ContainerError<Part>),
    /// The header declares more instructions than [`MAX_INSTRUCTIONS`].
    #[error("the header declares {declared} instructions, at most {MAX_INSTRUCTIONS} are allowed")]
    TooManyInstructions {
        /// The declared count.
        declared: u32,
    },
    /// The header declares more sections than [`MAX_SECTIONS`].
    #[error("the header declares {declared} sections, at most {MAX_SECTIONS} are allowed")]
    TooManySections {
        /// The declared count.
        declared: u32,
    },
    /// A byte in the code section is not an opcode.
    #[error("unknown opcode 0x{byte:02X} at byte {offset} (instruction {index})")]
    UnknownOpcode {
        byte: u8,
        /// Its position in the file.
        offset: usize,
        /// The index of the instruction it should start.
        index: usize,
    },
    /// The code section ends inside an operand.
    #[error(
        "truncated operand of {opcode} at byte {offset} (instruction {index}): it needs {needed} bytes, \
         the code section ends after {available}"
    )]
    TruncatedOperand {
        /// The opcode whose operand is cut short.
        opcode: Opcode,
        /// Where the instruction starts in the file.
        offset: usize,
        index: usize,
        /// The operand's width.
        needed: usize,
        /// The bytes left in the code section.
        available: usize,
    },
    /// The header's instruction count disagrees with the code section.
    #[error("the header declares {declared} instructions but the code section holds {found}")]
    InstructionCountMismatch {
        /// The declared count.
        declared: u32,
        /// The number decoded.
        found: usize,
    },
    /// The code and sections decode, but do not form a valid program.
    #[error(transparent)]
    Invalid(#[from] VerifyError),
}

impl From<ContainerError<Part>> for LoadError {
    fn from(error: ContainerError<Part>) -> LoadError {
        LoadError::Container(error)
    }
}

/// A part of a `.mvb` file, as errors name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The fixed header.
    Header,
    /// The code section.
    Code,
    /// The header of the section with this index.
    SectionHeader(usize),
    /// The payload of the section with this index.
    SectionPayload(usize),
    /// The trailing checksum.
    Checksum,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Header => f.write_str("header"),
            Part::Code => f.write_str("code section"),
            Part::SectionHeader(index) => write!(f, "header of section {index}"),
            Part::SectionPayload(index) => write!(f, "payload of section {index}"),
            Part::Checksum => f.write_str("checksum"),
        }
    }
}

impl Program {
    /// Verifies `code` as a program without sections.
    pub fn new(code: Vec<Instr>) -> Result<Program, VerifyError> {
        Program::with_sections(code, Vec::new())
    }

    /// Verifies `code` and `sections` as a program: the code is not too long, every jump lands in
    /// `0..=len` (the end of the code being a normal halt), and every required section is known.
    pub fn with_sections(code: Vec<Instr>, sections: Vec<Section>) -> Result<Program, VerifyError> {
        let len = u32::try_from(code.len())
            .ok()
            .filter(|&len| len <= MAX_INSTRUCTIONS)
            .ok_or(VerifyError::TooManyInstructions { count: code.len() })?;
        if sections.len() > to_usize(MAX_SECTIONS) {
            return Err(VerifyError::TooManySections {
                count: sections.len(),
            });
        }
        for (index, instr) in (0..len).zip(&code) {
            match instr.jump_target(index) {
                Some(JumpTarget::Index(target)) if target <= len => {}
                Some(JumpTarget::Index(target)) => {
                    return Err(VerifyError::JumpOutOfRange {
                        index,
                        instr: *instr,
                        target: i64::from(target),
                        len,
                    });
                }
                Some(JumpTarget::OutOfRange(target)) => {
                    return Err(VerifyError::JumpOutOfRange {
                        index,
                        instr: *instr,
                        target,
                        len,
                    });
                }
                None => {}
            }
        }
        let mut functions = vec![Function::MAIN];
        let mut constants = Vec::new();
        let mut seen = [false; 4];
        for (index, section) in sections.iter().enumerate() {
            if u32::try_from(section.payload.len()).is_err() {
                return Err(VerifyError::SectionTooLarge {
                    index,
                    len: section.payload.len(),
                });
            }
            let invalid = |name: &'static str, reason: String| VerifyError::InvalidSection {
                index,
                name,
                reason,
            };
            let (once, name) = match section.kind {
                SOURCE_MAP => (0, "source map"),
                FUNCTIONS | FUNCTIONS_REFS => (1, "function table"),
                DEBUG_INFO => (2, "debug info"),
                STRINGS => (3, "strings"),
                // Unknown optional sections are kept, not interpreted.
                _ if section.is_optional() => continue,
                kind => return Err(VerifyError::UnknownSection { index, kind }),
            };
            if let Some(seen) = seen.get_mut(once) {
                if *seen {
                    return Err(VerifyError::DuplicateSection { index, name });
                }
                *seen = true;
            }
            match section.kind {
                SOURCE_MAP => {
                    SourceMap::decode(&section.payload, code.len())
                        .map_err(|error| invalid(name, error.to_string()))?;
                }
                FUNCTIONS | FUNCTIONS_REFS => {
                    functions = func::decode_table(section.kind, &section.payload, len)
                        .map_err(|error| invalid(name, error.to_string()))?;
                }
                STRINGS => {
                    constants = heap::decode_strings(&section.payload)
                        .map_err(|error| invalid(name, error.to_string()))?;
                }
                _ => {}
            }
        }
        // Debug info names functions, so it is checked once the function table is known.
        if let Some((index, section)) = (0..)
            .zip(&sections)
            .find(|(_, section)| section.kind == DEBUG_INFO)
        {
            DebugInfo::decode(&section.payload, &functions, len).map_err(|error| {
                VerifyError::InvalidSection {
                    index,
                    name: "debug info",
                    reason: error.to_string(),
                }
            })?;
        }
        check_functions(&code, &functions, constants.len(), len)?;
        Ok(Program {
            code,
            sections,
            functions,
            constants,
        })
    }

    /// Verifies `code` with the function table `functions` (functions 1, 2, …: the main program
    /// is implicit) and `sections`, to which the table's section is added when there are
    /// functions. See [`crate::func`] for the layout of the code and the table.
    pub fn with_functions(
        code: Vec<Instr>,
        functions: &[Function],
        mut sections: Vec<Section>,
    ) -> Result<Program, VerifyError> {
        if functions.len() > MAX_FUNCTIONS {
            return Err(VerifyError::TooManyFunctions {
                count: functions.len(),
            });
        }
        if !functions.is_empty() {
            sections.insert(
                0,
                Section {
                    kind: func::table_kind(functions),
                    payload: func::encode_table(functions),
                },
            );
        }
        Program::with_sections(code, sections)
    }

    /// The function table: the main program (function 0) first, then functions 1, 2, ….
    pub fn functions(&self) -> &[Function] {
        &self.functions
    }

    /// The string constants, which `CONST` names by index.
    pub fn constants(&self) -> &[Box<[u8]>] {
        &self.constants
    }

    /// The number of the function whose code holds instruction `ip`.
    pub fn function_at(&self, ip: u32) -> u16 {
        func::function_at(&self.functions, ip)
    }

    /// The code of function `function`: the instructions from its entry up to the next
    /// function's (empty for a number that names no function).
    pub fn code_range(&self, function: u16) -> std::ops::Range<u32> {
        func::code_range(&self.functions, function, self.len())
    }

    /// The number of instructions.
    pub fn len(&self) -> u32 {
        // `with_sections` bounded it by MAX_INSTRUCTIONS.
        u32::try_from(self.code.len()).unwrap_or(MAX_INSTRUCTIONS)
    }

    /// Whether the program has no instructions.
    pub fn is_empty(&self) -> bool {
        self.code.is_empty()
    }

    /// The program's debug info, if it has some.
    pub fn debug_info(&self) -> Option<DebugInfo> {
        self.sections
            .iter()
            .find(|section| section.kind == DEBUG_INFO)
            // `with_sections` checked it, so decoding succeeds.
            .and_then(|section| {
                DebugInfo::decode(&section.payload, &self.functions, self.len()).ok()
            })
    }

    /// The instructions.
    pub fn code(&self) -> &[Instr] {
        &self.code
    }

    /// The stack heights a run of the program can have at each instruction; see
    /// [`StackHeights`]. Computed on each call, in time linear in the program's length.
    pub fn stack_heights(&self) -> StackHeights {
        StackHeights::of(self)
    }

    /// The extra sections, in file order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// The program's source map, if it has one.
    pub fn source_map(&self) -> Option<SourceMap> {
        self.sections
            .iter()
            .find(|section| section.kind == SOURCE_MAP)
            // `with_sections` checked it, so decoding succeeds.
            .and_then(|section| SourceMap::decode(&section.payload, self.code.len()).ok())
    }

    /// Encodes the program as `.mvb` bytes.
    pub fn encode(&self) -> Vec<u8> {
        let code_len: usize = self.code.iter().map(Instr::encoded_len).sum();
        let sections_len: usize = self
            .sections
            .iter()
            .map(|section| SECTION_HEADER_LEN + section.payload.len())
            .sum();
        let mut out = Vec::with_capacity(HEADER_LEN + code_len + sections_len + CHECKSUM_LEN);
        container::write_header(&mut out, &MVB_FORMAT, FORMAT_VERSION, FORMAT_VERSION);
        // `Program::with_sections` bounds the instruction count, each section's length and hence
        // their sums well below u32::MAX, so these conversions cannot saturate.
        out.extend_from_slice(&saturating_u32(self.code.len()).to_be_bytes());
        out.extend_from_slice(&saturating_u32(code_len).to_be_bytes());
        out.extend_from_slice(&saturating_u32(self.sections.len()).to_be_bytes());
        for instr in &self.code {
            instr.encode_into(&mut out);
        }
        for section in &self.sections {
            out.extend_from_slice(&section.kind.to_be_bytes());
            out.extend_from_slice(&saturating_u32(section.payload.len()).to_be_bytes());
            out.extend_from_slice(&section.payload);
        }
        container::seal(&mut out);
        out
    }

    /// Decodes and verifies `.mvb` bytes. Never panics; every failure is a [`LoadError`] naming what
    /// is wrong and where.
    pub fn decode(bytes: &[u8]) -> Result<Program, LoadError> {
        let (_, mut reader) =
            container::open(bytes, &MVB_FORMAT, Part::Header).map_err(LoadError::Container)?;
        let declared = reader.u32(Part::Header)?;
        if declared > MAX_INSTRUCTIONS {
            return Err(LoadError::TooManyInstructions { declared });
        }
        let code_len = reader.u32(Part::Header)?;
        let section_count = reader.u32(Part::Header)?;
        if section_count > MAX_SECTIONS {
            return Err(LoadError::TooManySections {
                declared: section_count,
            });
        }

        let code_start = reader.pos();
        let code = reader.take(Part::Code, to_usize(code_len))?;
        let mut raw_sections = Vec::new();
        for index in 0..to_usize(section_count) {
            let kind = reader.u16(Part::SectionHeader(index))?;
            let payload_len = reader.u32(Part::SectionHeader(index))?;
            let payload = reader.take(Part::SectionPayload(index), to_usize(payload_len))?;
            raw_sections.push((kind, payload));
        }
        container::check_end(bytes, reader.pos(), Part::Checksum)?;

        let instrs = decode_code(code, code_start, declared)?;
        let sections = raw_sections
            .into_iter()
            .map(|(kind, payload)| Section {
                kind,
                payload: payload.to_vec(),
            })
            .collect();
        Ok(Program::with_sections(instrs, sections)?)
    }
}

/// The name of function `function` in messages.
fn function_name(function: u16) -> String {
    if function == 0 {
        String::from("the main program")
    } else {
        format!("function {function}")
    }
}

/// Checks how the code and its functions fit together: every call names a function, control
/// stays inside each function's code (the main program may run off the end of the code only
/// when it has no functions), every return fits its function, and each function's stack heights
/// are exact (see [`crate::verify`]).
fn check_functions(
    code: &[Instr],
    functions: &[Function],
    constants: usize,
    len: u32,
) -> Result<(), VerifyError> {
    let has_functions = functions.len() > 1;
    let mut uses_refs = functions.iter().any(Function::uses_refs);
    let mut function: u16 = 0;
    let mut range = func::code_range(functions, 0, len);
    for (index, instr) in (0..len).zip(code) {
        while index >= range.end {
            function = function.saturating_add(1);
            range = func::code_range(functions, function, len);
        }
        uses_refs |= instr.opcode().stack_effect().uses_refs();
        if let Some(callee) = instr.callee()
            && (callee == 0 || usize::from(callee) >= functions.len())
        {
            return Err(VerifyError::CallTarget {
                index,
                instr: *instr,
                function: callee,
                count: functions.len(),
            });
        }
        if let Instr::Const(constant) = *instr
            && usize::try_from(constant).map_or(true, |constant| constant >= constants)
        {
            return Err(VerifyError::Constant {
                index,
                instr: *instr,
                constant,
                count: constants,
            });
        }
        if let Some(returned) = Returns::of_return(instr) {
            let returns = functions
                .get(usize::from(function))
                .map_or(Returns::Nothing, Function::returns);
            if function == 0 || returned != returns {
                return Err(VerifyError::Return {
                    index,
                    instr: *instr,
                    function,
                    returns,
                });
            }
        }
        if !has_functions {
            continue;
        }
        for target in instr.successors(index) {
            let JumpTarget::Index(target) = target else {
                continue;
            };
            if !range.contains(&target) {
                return Err(VerifyError::LeavesFunction {
                    index,
                    instr: *instr,
                    target,
                    function,
                    code: range.clone(),
                });
            }
        }
    }
    if has_functions || uses_refs {
        crate::verify::check_function_heights(code, functions, len, uses_refs)
            .map_err(|(function, reason)| VerifyError::Heights { function, reason })?;
    }
    Ok(())
}

/// Decodes the code section, which starts at byte `start` of the file.
fn decode_code(code: &[u8], start: usize, declared: u32) -> Result<Vec<Instr>, LoadError> {
    // The declared count is at most MAX_INSTRUCTIONS, and every instruction takes at least one
    // byte, so this never reserves room for more instructions than the bytes there can hold.
    let mut instrs = Vec::with_capacity(to_usize(declared).min(code.len()));
    let mut rest = code;
    while let Some(&first) = rest.first() {
        let index = instrs.len();
        let offset = start + (code.len() - rest.len());
        match Instr::decode(rest) {
            Ok((instr, width)) => {
                instrs.push(instr);
                rest = rest.get(width..).unwrap_or_default();
            }
            Err(InstrDecodeError::UnknownOpcode(byte)) => {
                return Err(LoadError::UnknownOpcode {
                    byte,
                    offset,
                    index,
                });
            }
            Err(InstrDecodeError::TruncatedOperand { opcode, available }) => {
                return Err(LoadError::TruncatedOperand {
                    opcode,
                    offset,
                    index,
                    needed: opcode.encoded_len() - 1,
                    available,
                });
            }
            Err(InstrDecodeError::Empty | InstrDecodeError::Operand(_)) => {
                // Neither can happen for a non-empty slice of fixed-width operands; reporting the
                // byte keeps decoding total rather than trusting that.
                return Err(LoadError::UnknownOpcode {
                    byte: first,
                    offset,
                    index,
                });
            }
        }
    }
    if instrs.len() != to_usize(declared) {
        return Err(LoadError::InstructionCountMismatch {
            declared,
            found: instrs.len(),
        });
    }
    Ok(instrs)
}

fn saturating_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use super::*;
    use crate::strategies::{resealed, seed_program as seed};

    #[test]
    fn seed_program_encodes_to_the_documented_bytes() {
        let bytes = seed().encode();
        let mut expected = Vec::new();
        expected.extend_from_slice(b"\x89MVB\r\n\x1a\n");
        expected.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 5, 0, 0, 0, 29, 0, 0, 0, 0]);
        expected.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0, 1]);
        expected.extend_from_slice(&[4]);
        expected.extend_from_slice(&[5, 0, 0, 0, 100]);
        expected.extend_from_slice(&[3, 0, 0, 0, 3]);
        assert_eq!(&bytes[..bytes.len() - 4], &expected[..]);
        assert_eq!(bytes.len(), HEADER_LEN + 29 + CHECKSUM_LEN);
        assert_eq!(Program::decode(&bytes), Ok(seed()));
    }

    #[test]
    fn optional_sections_round_trip_and_required_ones_are_refused() {
        let section = Section {
            kind: SECTION_OPTIONAL | 0x7F,
            payload: b"note".to_vec(),
        };
        let program = Program::with_sections(seed().code().to_vec(), vec![section]).unwrap();
        assert_eq!(Program::decode(&program.encode()), Ok(program));

        let required = Section {
            kind: 0x0013,
            payload: Vec::new(),
        };
        assert_eq!(
            Program::with_sections(Vec::new(), vec![required]),
            Err(VerifyError::UnknownSection {
                index: 0,
                kind: 0x13
            })
        );
        let mut bytes = Program::new(Vec::new()).unwrap().encode();
        bytes.truncate(HEADER_LEN);
        bytes[23] = 1;
        bytes.extend_from_slice(&[0, 0x13, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            Program::decode(&resealed(bytes)),
            Err(LoadError::Invalid(VerifyError::UnknownSection {
                index: 0,
                kind: 0x13
            }))
        );
    }

    #[test]
    fn every_truncation_is_refused_as_truncated() {
        let program = Program::with_sections(
            seed().code().to_vec(),
            vec![Section {
                kind: SECTION_OPTIONAL,
                payload: vec![7; 5],
            }],
        )
        .unwrap();
        let bytes = program.encode();
        for len in 0..bytes.len() {
            match Program::decode(&bytes[..len]) {
                Err(LoadError::Container(ContainerError::Truncated { len: reported, .. })) => {
                    assert_eq!(reported, len)
                }
                other => panic!("truncation to {len} bytes gave {other:?}"),
            }
        }
    }

    #[test]
    fn each_header_fault_has_its_own_error() {
        let good = seed().encode();
        let with = |at: usize, value: &[u8]| {
            let mut bytes = good.clone();
            bytes[at..at + value.len()].copy_from_slice(value);
            bytes
        };
        assert!(matches!(
            Program::decode(b"#!/bin/sh\n"),
            Err(LoadError::Container(ContainerError::BadSignature { .. }))
        ));
        assert_eq!(
            Program::decode(b"\x89MVB\n\x1a\n\0\0\0\0"),
            Err(LoadError::Container(ContainerError::TextModeCorruption))
        );
        assert_eq!(
            Program::decode(&with(8, &[0, 2])),
            Err(LoadError::Container(ContainerError::UnsupportedVersion {
                found: 2
            }))
        );
        assert_eq!(
            Program::decode(&with(10, &[0, 1])),
            Err(LoadError::Container(ContainerError::UnsupportedFlags {
                flags: 1,
                version: 1
            }))
        );
        assert_eq!(
            Program::decode(&with(12, &[0xFF, 0xFF, 0xFF, 0xFF])),
            Err(LoadError::TooManyInstructions { declared: u32::MAX })
        );
        assert!(matches!(
            Program::decode(&with(16, &[0xFF, 0xFF, 0xFF, 0xFF])),
            Err(LoadError::Container(ContainerError::Truncated {
                part: Part::Code,
                ..
            }))
        ));
        assert_eq!(
            Program::decode(&with(20, &[0xFF, 0xFF, 0xFF, 0xFF])),
            Err(LoadError::TooManySections { declared: u32::MAX })
        );
        assert!(matches!(
            Program::decode(&with(20, &[0, 0, 0, 1])),
            Err(LoadError::Container(ContainerError::Truncated {
                part: Part::SectionHeader(0),
                ..
            }))
        ));
        let mut long = good.clone();
        long.push(0);
        assert_eq!(
            Program::decode(&long),
            Err(LoadError::Container(ContainerError::TrailingBytes {
                start: good.len(),
                extra: 1
            }))
        );
    }

    #[test]
    fn a_file_of_empty_sections_is_refused_before_it_is_read() {
        let empty = |count: usize| {
            vec![
                Section {
                    kind: SECTION_OPTIONAL | 0x0F01,
                    payload: Vec::new(),
                };
                count
            ]
        };
        let limit = to_usize(MAX_SECTIONS);
        let most = Program::with_sections(seed().code().to_vec(), empty(limit)).unwrap();
        assert_eq!(Program::decode(&most.encode()), Ok(most.clone()));
        assert_eq!(
            Program::with_sections(seed().code().to_vec(), empty(limit + 1)),
            Err(VerifyError::TooManySections { count: limit + 1 })
        );
        // One more: refused from the header, whatever follows it.
        let mut bytes = most.encode();
        bytes[20..24].copy_from_slice(&(MAX_SECTIONS + 1).to_be_bytes());
        let error = Program::decode(&bytes).unwrap_err();
        assert_eq!(
            error,
            LoadError::TooManySections {
                declared: MAX_SECTIONS + 1
            }
        );
        assert_eq!(
            error.to_string(),
            "the header declares 1025 sections, at most 1024 are allowed"
        );
        assert_eq!(
            Program::decode(&bytes[..24]),
            Err(LoadError::TooManySections {
                declared: MAX_SECTIONS + 1
            })
        );
    }

    #[test]
    fn corruption_is_caught_by_the_checksum() {
        let mut bytes = seed().encode();
        bytes[HEADER_LEN + 1] ^= 0x40;
        assert!(matches!(
            Program::decode(&bytes),
            Err(LoadError::Container(
                ContainerError::ChecksumMismatch { .. }
            ))
        ));
    }

    #[test]
    fn code_faults_name_the_byte_and_instruction() {
        let mut bytes = seed().encode();
        bytes[HEADER_LEN + 18] = 0xEE; // the PRINT
        assert_eq!(
            Program::decode(&resealed(bytes)),
            Err(LoadError::UnknownOpcode {
                byte: 0xEE,
                offset: 42,
                index: 2
            })
        );

        // A code section whose declared length ends inside the last operand.
        let mut bytes = seed().encode();
        bytes[19] = 28;
        bytes.remove(HEADER_LEN + 28);
        assert_eq!(
            Program::decode(&resealed(bytes)),
            Err(LoadError::TruncatedOperand {
                opcode: Opcode::Goto,
                offset: 48,
                index: 4,
                needed: 4,
                available: 3
            })
        );

        let mut bytes = seed().encode();
        bytes[15] = 4;
        assert_eq!(
            Program::decode(&resealed(bytes)),
            Err(LoadError::InstructionCountMismatch {
                declared: 4,
                found: 5
            })
        );
    }

    #[test]
    fn jumps_outside_the_code_are_refused() {
        let err = Program::new(vec![Instr::Put(0), Instr::Goto(2)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "jump target out of range: `GOTO 2` at instruction 1 goes to instruction -1, \
             but the code has 2 instructions (valid targets are 0..=2)"
        );
        assert!(Program::new(vec![Instr::Jz(3), Instr::Halt]).is_err());
        // Jumping exactly to the end is a normal halt.
        assert!(Program::new(vec![Instr::Put(0), Instr::Jz(1)]).is_ok());

        let mut bytes = seed().encode();
        bytes[HEADER_LEN + 28] = 9; // GOTO 9
        assert!(matches!(
            Program::decode(&resealed(bytes)),
            Err(LoadError::Invalid(VerifyError::JumpOutOfRange {
                index: 4,
                target: -5,
                ..
            }))
        ));
    }

    fn function(entry: u32, params: u16, results: u8) -> Function {
        Function {
            entry,
            params,
            results,
            ref_params: 0,
            ref_results: 0,
        }
    }

    /// The error `Program::with_functions` gives, as text.
    fn function_error(code: Vec<Instr>, functions: &[Function]) -> String {
        Program::with_functions(code, functions, Vec::new())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_call_must_name_a_function() {
        let one = [function(2, 0, 0)];
        assert_eq!(
            function_error(vec![Instr::Call(2), Instr::Halt, Instr::Ret], &one),
            "`CALL 2` at instruction 0 calls function 2, but the program has 1 function"
        );
        assert_eq!(
            function_error(vec![Instr::Call(0), Instr::Halt, Instr::Ret], &one),
            "`CALL 0` at instruction 0 calls the main program, which is not a function, but the program has 1 function"
        );
        assert_eq!(
            Program::new(vec![Instr::Call(1)]).unwrap_err(),
            VerifyError::CallTarget {
                index: 0,
                instr: Instr::Call(1),
                function: 1,
                count: 1
            }
        );
    }

    #[test]
    fn control_may_leave_a_function_only_by_returning() {
        let one = [function(2, 0, 0)];
        assert_eq!(
            function_error(vec![Instr::Put(1), Instr::Pop, Instr::Ret], &one),
            "`POP` at instruction 1 runs on into instruction 2, outside the main program (instructions 0..2)"
        );
        assert_eq!(
            function_error(vec![Instr::Call(1), Instr::Halt, Instr::Jmp(-1)], &one),
            "`JMP -1` at instruction 2 can go to instruction 1, outside function 1 (instructions 2..3)"
        );
        assert_eq!(
            function_error(
                vec![Instr::Call(1), Instr::Halt, Instr::Put(1), Instr::Pop],
                &one
            ),
            "`POP` at instruction 3 runs on into instruction 4, outside function 1 (instructions 2..4)"
        );
        // Jumping to the end of the code is leaving too, once there are functions.
        assert_eq!(
            function_error(vec![Instr::Call(1), Instr::Jmp(2), Instr::Ret], &one),
            "`JMP 2` at instruction 1 can go to instruction 3, outside the main program (instructions 0..2)"
        );
    }

    #[test]
    fn string_constants_come_from_the_strings_section() {
        let strings = Section {
            kind: STRINGS,
            payload: heap::encode_strings(&["hi", "there"]),
        };
        let code = vec![Instr::Const(1), Instr::PrintR];
        let program = Program::with_sections(code.clone(), vec![strings.clone()]).unwrap();
        assert_eq!(&*program.constants()[1], b"there");
        assert_eq!(Program::decode(&program.encode()), Ok(program.clone()));
        assert_ne!(
            crate::image::program_hash(&program),
            crate::image::program_hash(
                &Program::with_sections(
                    code.clone(),
                    vec![Section {
                        kind: STRINGS,
                        payload: heap::encode_strings(&["hi", "those"]),
                    }]
                )
                .unwrap()
            ),
            "the constants are part of the program's identity"
        );
        assert_eq!(
            Program::new(code).unwrap_err().to_string(),
            "`CONST 1` at instruction 0 names string constant 1, but the program has 0"
        );
        assert_eq!(
            Program::with_sections(vec![], vec![strings.clone(), strings])
                .unwrap_err()
                .to_string(),
            "section 1 is a second strings"
        );
    }

    #[test]
    fn a_return_must_fit_its_function() {
        assert_eq!(
            Program::new(vec![Instr::Put(1), Instr::RetV])
                .unwrap_err()
                .to_string(),
            "`RETV` at instruction 1 returns from the main program, which is not a function"
        );
        assert_eq!(
            function_error(
                vec![Instr::Call(1), Instr::Halt, Instr::Put(1), Instr::RetV],
                &[function(2, 0, 0)]
            ),
            "`RETV` at instruction 3 returns an int from function 1, which returns no value (use RET)"
        );
        assert_eq!(
            function_error(
                vec![Instr::Call(1), Instr::Pop, Instr::Halt, Instr::Ret],
                &[function(3, 0, 1)]
            ),
            "`RET` at instruction 3 returns no value from function 1, which returns an int (use RETV)"
        );
        let returns_ref = Function {
            ref_results: 1,
            ..function(3, 0, 0)
        };
        assert_eq!(
            function_error(
                vec![
                    Instr::Call(1),
                    Instr::RPop,
                    Instr::Halt,
                    Instr::NewI,
                    Instr::RetV
                ],
                &[returns_ref]
            ),
            "`RETV` at instruction 4 returns an int from function 1, which returns a reference (use RETR)"
        );
    }

    #[test]
    fn a_function_has_one_exact_height_within_its_frame() {
        let pick = [function(2, 1, 1)];
        // `LOAD 0; JZ +2; PUT 7; RETV`: the RETV is reached with 1 and with 2 values.
        assert_eq!(
            function_error(
                vec![
                    Instr::Call(1),
                    Instr::Halt,
                    Instr::Load(0),
                    Instr::Jz(2),
                    Instr::Put(7),
                    Instr::RetV
                ],
                &pick
            ),
            "function 1: the paths to instruction 5 disagree on the stack: 1 to 2 values in its frame"
        );
        assert_eq!(
            function_error(
                vec![Instr::Halt, Instr::Pop, Instr::Pop, Instr::Ret],
                &[function(1, 1, 0)]
            ),
            "function 1: `POP` at instruction 2 takes 1 value, but the frame holds 0"
        );
        let mut full = vec![Instr::Halt];
        full.extend(std::iter::repeat_n(Instr::Put(0), 65_536));
        full.push(Instr::Ret);
        assert_eq!(
            function_error(full, &[function(1, 0, 0)]),
            "function 1: `PUT 0` at instruction 65536 grows the frame beyond the stack's 65535 values"
        );
    }

    #[test]
    fn one_function_table_and_not_too_many_functions() {
        let functions = [function(1, 0, 0)];
        let code = vec![Instr::Halt, Instr::Ret];
        let again = Section {
            kind: FUNCTIONS,
            payload: func::encode_table(&functions),
        };
        let error = Program::with_functions(code.clone(), &functions, vec![again]).unwrap_err();
        assert_eq!(
            error,
            VerifyError::DuplicateSection {
                index: 1,
                name: "function table"
            }
        );
        assert_eq!(error.to_string(), "section 1 is a second function table");
        let many = vec![function(1, 0, 0); MAX_FUNCTIONS + 1];
        let error = Program::with_functions(code, &many, Vec::new()).unwrap_err();
        assert_eq!(error, VerifyError::TooManyFunctions { count: 65_536 });
        assert_eq!(
            error.to_string(),
            "the program has 65536 functions, at most 65535 are allowed"
        );
    }

    #[test]
    fn a_program_with_functions_round_trips_and_answers_where_each_instruction_is() {
        let program = Program::with_functions(
            vec![
                Instr::Put(1),
                Instr::Call(1),
                Instr::Halt,
                Instr::Load(0),
                Instr::Ret,
            ],
            &[function(3, 1, 0)],
            Vec::new(),
        )
        .unwrap();
        assert_eq!(Program::decode(&program.encode()), Ok(program.clone()));
        assert_eq!(program.sections()[0].kind, FUNCTIONS);
        assert_eq!(program.function_at(2), 0);
        assert_eq!(program.function_at(3), 1);
        assert_eq!(program.code_range(1), 3..5);
    }

    #[test]
    fn error_messages_read_well() {
        let err = Program::decode(&seed().encode()[..30]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "truncated code section: it needs bytes 24..53, but the file ends at byte 30"
        );
        let err = Program::decode(b"ELF\x7f").unwrap_err();
        assert_eq!(
            err.to_string(),
            "not a Mova bytecode file: it starts with 45 4C 46 7F instead of the signature \
             89 4D 56 42 0D 0A 1A 0A"
        );
    }
}
