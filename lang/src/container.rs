//! What the `.mvb` and `.mvs` formats share, checked in one place: an eight-byte signature, a
//! format version (and, from the version that introduced it, the oldest reader version that can
//! load the file), flags, a size limit, parts that must be whole where their lengths put them,
//! nothing after the end, and a CRC-32 of every byte before it. Each format describes itself with
//! a [`Format`]; its errors wrap [`ContainerError`], whose messages that description words.
//!
//! **Invariant:** nothing here panics or allocates on behalf of the input: every length is checked
//! against the bytes present before it is used.

#![deny(clippy::indexing_slicing)]

use crate::bytes::{self, Cursor, Short, Signature};
use std::fmt;

/// The length of the part of the header every version of both formats has: signature, version
/// and flags.
pub const COMMON_HEADER_LEN: usize = 12;

/// The length of the checksum that ends both formats.
pub const CHECKSUM_LEN: usize = 4;

/// How a container format is identified, which versions this build reads, and how its errors
/// name things.
#[derive(Debug)]
pub struct Format {
    /// The first eight bytes.
    pub signature: [u8; 8],
    /// The format's name after "not a": `Mova bytecode file`.
    pub what: &'static str,
    /// What the format calls the whole input: `file`, `image`.
    pub noun: &'static str,
    /// What the format calls its version field: `format version`.
    pub version_field: &'static str,
    /// What the format calls its flags field: `header flags`.
    pub flags_field: &'static str,
    /// What the checksum follows, for trailing-byte errors: `the checksum`.
    pub end: &'static str,
    /// The largest input a reader accepts.
    pub max_len: usize,
    /// The oldest version this build reads.
    pub oldest: u16,
    /// The newest version this build reads, and the one it writes.
    pub newest: u16,
    /// The first version whose header carries, after the flags, the u16 oldest reader version
    /// that can load the file. Every version from this one on keeps that header, so that a reader
    /// can read it from files of versions newer than its own. `None`: no version has it yet.
    pub min_reader_since: Option<u16>,
}

impl Format {
    /// The versions this build reads, as messages say it: `version 1`, `versions 1 to 2`.
    fn reads(&self) -> String {
        if self.oldest == self.newest {
            format!("version {}", self.newest)
        } else {
            format!("versions {} to {}", self.oldest, self.newest)
        }
    }

    /// The header's length in files of `version`.
    pub fn header_len(&self, version: u16) -> usize {
        match self.min_reader_since {
            Some(since) if version >= since => COMMON_HEADER_LEN + 2,
            Some(_) | None => COMMON_HEADER_LEN,
        }
    }
}

/// What the header of a file says, once `open` accepted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The version that wrote the file.
    pub version: u16,
    /// The oldest reader version that can load the file: for versions before
    /// [`Format::min_reader_since`], which do not say, the version itself.
    pub min_reader: u16,
    /// The version whose layout this build reads the rest of the file as: the file's own
    /// version, or, for a newer file whose oldest reader is at most [`Format::newest`], the newest
    /// this build knows (the writer promised that a reader of that version can load it).
    pub layout: u16,
    /// Where the header ends.
    pub len: usize,
}

/// Why bytes are not a well-formed container of a format; the format's own error wraps it. `P`
/// is the format's way of naming its parts in truncation errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerError<P> {
    /// The bytes do not start with the format's signature.
    BadSignature {
        /// The first bytes of the input.
        found: Hex,
    },
    /// The signature's line-ending bytes were rewritten, as a text-mode transfer does.
    TextModeCorruption,
    /// The input is larger than the format allows.
    TooLarge {
        /// The input's length.
        len: usize,
    },
    /// The version is not one this build reads, and the file does not say an older reader can
    /// load it.
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
    },
    /// The file says it needs a reader newer than this build.
    NeedsNewerReader {
        /// The version that wrote the file.
        version: u16,
        /// The oldest reader version that can load it.
        min_reader: u16,
    },
    /// The oldest reader version is not one a file of its version can have: older than the
    /// version that introduced the field, or newer than the file itself.
    BadMinReader {
        /// The version that wrote the file.
        version: u16,
        /// The oldest reader version it names.
        min_reader: u16,
    },
    /// The header sets flags this build does not know.
    UnsupportedFlags {
        /// The flags in the file.
        flags: u16,
        /// The version whose (absent) flags they were read as.
        version: u16,
    },
    /// The input ends inside a part it declares.
    Truncated {
        /// The part that is cut short.
        part: P,
        /// Where the missing bytes start.
        start: usize,
        /// Where they should end.
        end: usize,
        /// The input's length.
        len: usize,
    },
    /// The input goes on after its checksum.
    TrailingBytes {
        /// Where the unexpected bytes start.
        start: usize,
        /// How many there are.
        extra: usize,
    },
    /// The checksum does not match the contents.
    ChecksumMismatch {
        /// The checksum stored in the input.
        stored: u32,
        /// The checksum of the contents.
        computed: u32,
    },
}

impl<P: fmt::Display> ContainerError<P> {
    /// The error as `format` words it.
    pub fn display<'a>(&'a self, format: &'a Format) -> impl fmt::Display + 'a {
        Worded {
            error: self,
            format,
        }
    }
}

struct Worded<'a, P> {
    error: &'a ContainerError<P>,
    format: &'a Format,
}

impl<P: fmt::Display> fmt::Display for Worded<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Format {
            what,
            noun,
            version_field,
            flags_field,
            end,
            max_len,
            ..
        } = self.format;
        match self.error {
            ContainerError::BadSignature { found } => write!(
                f,
                "not a {what}: it starts with {found} instead of the signature {}",
                Hex::of(&self.format.signature)
            ),
            ContainerError::TextModeCorruption => write!(
                f,
                "corrupted signature: its line-ending bytes were changed (was the {noun} \
                 transferred in text mode?)"
            ),
            ContainerError::TooLarge { len } => {
                write!(
                    f,
                    "the {noun} is {len} bytes long, at most {max_len} are allowed"
                )
            }
            ContainerError::UnsupportedVersion { found } => write!(
                f,
                "unsupported {version_field} {found} at byte 8 (this Mova reads {})",
                self.format.reads()
            ),
            ContainerError::NeedsNewerReader {
                version,
                min_reader,
            } => write!(
                f,
                "this {noun} needs a newer Mova: it is {version_field} {version} and needs a \
                 reader of version {min_reader} or newer (this Mova reads {})",
                self.format.reads()
            ),
            ContainerError::BadMinReader {
                version,
                min_reader,
            } => write!(
                f,
                "invalid oldest reader version {min_reader} at byte 12 ({version_field} \
                 {version} can only name {})",
                match self.format.min_reader_since {
                    Some(since) if since < *version => format!("versions {since} to {version}"),
                    Some(_) | None => format!("version {version}"),
                }
            ),
            ContainerError::UnsupportedFlags { flags, version } => write!(
                f,
                "unsupported {flags_field} 0x{flags:04X} at byte 10 (no flags are defined in \
                 version {version})"
            ),
            ContainerError::Truncated {
                part,
                start,
                end,
                len,
            } => write!(
                f,
                "truncated {part}: it needs bytes {start}..{end}, but the {noun} ends at byte {len}"
            ),
            ContainerError::TrailingBytes { start, extra } => {
                write!(f, "{extra} unexpected bytes after {end}, from byte {start}")
            }
            ContainerError::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch: the {noun} records 0x{stored:08X} but its contents sum to \
                 0x{computed:08X} (the {noun} is corrupt)"
            ),
        }
    }
}

/// Bytes shown as hexadecimal in error messages (at most the first eight).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hex(pub Vec<u8>);

impl Hex {
    /// The first eight bytes (or fewer) of `bytes`.
    pub fn of(bytes: &[u8]) -> Hex {
        Hex(bytes.iter().take(8).copied().collect())
    }
}

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("nothing");
        }
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

/// A cursor over the input that names the part it was reading when the input ends too soon.
pub(crate) struct Reader<'a>(Cursor<'a>);

impl<'a> Reader<'a> {
    /// A reader at `pos`.
    pub(crate) fn new(bytes: &'a [u8], pos: usize) -> Reader<'a> {
        Reader(Cursor::new(bytes, pos))
    }

    /// The next `count` bytes, or a truncation error naming `part`.
    pub(crate) fn take<P>(&mut self, part: P, count: usize) -> Result<&'a [u8], ContainerError<P>> {
        self.0
            .take(count)
            .map_err(|Short { start, end, len }| ContainerError::Truncated {
                part,
                start,
                end,
                len,
            })
    }

    /// The next `N` bytes as an array, or a truncation error naming `part`.
    pub(crate) fn array<P, const N: usize>(
        &mut self,
        part: P,
    ) -> Result<[u8; N], ContainerError<P>> {
        self.0
            .array()
            .map_err(|Short { start, end, len }| ContainerError::Truncated {
                part,
                start,
                end,
                len,
            })
    }

    /// A big-endian u16, or a truncation error naming `part`.
    pub(crate) fn u16<P>(&mut self, part: P) -> Result<u16, ContainerError<P>> {
        self.array(part).map(u16::from_be_bytes)
    }

    /// A big-endian u32, or a truncation error naming `part`.
    pub(crate) fn u32<P>(&mut self, part: P) -> Result<u32, ContainerError<P>> {
        self.array(part).map(u32::from_be_bytes)
    }

    /// Where the reader is.
    pub(crate) fn pos(&self) -> usize {
        self.0.pos()
    }
}

/// Checks what comes before a format's own contents: the signature, the size, the version (and
/// the oldest reader version, where the header has one) and the flags, in that order. Returns the
/// header and a reader just after it. `header` names the header in truncation errors.
pub(crate) fn open<'a, P: Copy>(
    bytes: &'a [u8],
    format: &Format,
    header: P,
) -> Result<(Header, Reader<'a>), ContainerError<P>> {
    match bytes::check_signature(bytes, &format.signature) {
        Signature::Valid => {}
        Signature::Truncated => {
            return Err(ContainerError::Truncated {
                part: header,
                start: 0,
                end: COMMON_HEADER_LEN,
                len: bytes.len(),
            });
        }
        Signature::TextMode => return Err(ContainerError::TextModeCorruption),
        Signature::Foreign => {
            return Err(ContainerError::BadSignature {
                found: Hex::of(bytes),
            });
        }
    }
    if bytes.len() > format.max_len {
        return Err(ContainerError::TooLarge { len: bytes.len() });
    }
    let mut reader = Reader::new(bytes, format.signature.len());
    let [version_hi, version_lo, flags_hi, flags_lo] = reader.array(header)?;
    let version = u16::from_be_bytes([version_hi, version_lo]);
    let flags = u16::from_be_bytes([flags_hi, flags_lo]);
    let (min_reader, layout) = match format.min_reader_since {
        _ if version < format.oldest => {
            return Err(ContainerError::UnsupportedVersion { found: version });
        }
        Some(since) if version >= since => {
            let min_reader = reader.u16(header)?;
            if min_reader < since || min_reader > version {
                return Err(ContainerError::BadMinReader {
                    version,
                    min_reader,
                });
            }
            if min_reader > format.newest {
                return Err(ContainerError::NeedsNewerReader {
                    version,
                    min_reader,
                });
            }
            (min_reader, version.min(format.newest))
        }
        Some(_) | None if version > format.newest => {
            return Err(ContainerError::UnsupportedVersion { found: version });
        }
        Some(_) | None => (version, version),
    };
    if flags != 0 {
        return Err(ContainerError::UnsupportedFlags {
            flags,
            version: layout,
        });
    }
    let header = Header {
        version,
        min_reader,
        layout,
        len: reader.pos(),
    };
    Ok((header, reader))
}

/// Checks how a format's input ends: the checksum at `crc_at` (named `part` if it is cut short)
/// is the last thing in it and is the CRC-32 of every byte before it.
pub(crate) fn check_end<P>(bytes: &[u8], crc_at: usize, part: P) -> Result<(), ContainerError<P>> {
    let mut reader = Reader::new(bytes, crc_at);
    let stored = reader.u32(part)?;
    let end = reader.pos();
    if end < bytes.len() {
        return Err(ContainerError::TrailingBytes {
            start: end,
            extra: bytes.len() - end,
        });
    }
    let computed = crc32(bytes.get(..crc_at).unwrap_or(bytes));
    if stored != computed {
        return Err(ContainerError::ChecksumMismatch { stored, computed });
    }
    Ok(())
}

/// Starts an output with a format's header for `version`, naming `min_reader` where the header
/// has that field.
pub(crate) fn write_header(out: &mut Vec<u8>, format: &Format, version: u16, min_reader: u16) {
    out.extend_from_slice(&format.signature);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    if format.header_len(version) > COMMON_HEADER_LEN {
        out.extend_from_slice(&min_reader.to_be_bytes());
    }
}

/// Ends an output with the CRC-32 of every byte before it.
pub(crate) fn seal(out: &mut Vec<u8>) {
    let checksum = crc32(out);
    out.extend_from_slice(&checksum.to_be_bytes());
}

/// Inputs shorter than this are checksummed a byte at a time (a few microseconds at most) rather
/// than by `crc32fast`, whose first call asks the CPU which instructions it has: `cpuid`, which a
/// virtual machine traps, costs 30–50 µs on the machine of docs/performance.md — more than all of
/// the rest of loading a small `.mvb`. Large inputs (images, big programs) still get the SIMD path.
const SMALL_CRC_INPUT: usize = 4096;

/// The CRC-32 (IEEE 802.3, the one of zlib and PNG, as `crc32fast` computes it) of `bytes`.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    if bytes.len() >= SMALL_CRC_INPUT {
        return crc32fast::hash(bytes);
    }
    !bytes.iter().fold(!0u32, |crc, &byte| {
        // The low byte of the register and the input byte pick the entry: a byte always has one
        // of the 256.
        let entry = CRC_TABLE
            .get(usize::from(crc.to_le_bytes()[0] ^ byte))
            .copied()
            .unwrap_or_default();
        (crc >> 8) ^ entry
    })
}

/// The byte-at-a-time table of the reflected polynomial 0xEDB88320.
static CRC_TABLE: [u32; 256] = crc_table();

// `n` runs over the table's indexes only.
#[allow(clippy::indexing_slicing)]
const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut crc = n as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[n] = crc;
        n += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    #[test]
    fn the_small_input_crc_is_crc32fast_s() {
        // Pseudo-random bytes (a linear congruential generator), every length around the switch.
        let mut state = 12_345u32;
        let bytes: Vec<u8> = (0..SMALL_CRC_INPUT + 64)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 16) as u8
            })
            .collect();
        for len in (0..200).chain(SMALL_CRC_INPUT - 64..=SMALL_CRC_INPUT + 64) {
            assert_eq!(
                super::crc32(&bytes[..len]),
                crc32fast::hash(&bytes[..len]),
                "{len} bytes"
            );
        }
        // The check value of CRC-32/ISO-HDLC.
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
    }

    use super::*;

    const TEST: Format = Format {
        signature: *b"\x89TST\r\n\x1a\n",
        what: "test file",
        noun: "file",
        version_field: "format version",
        flags_field: "header flags",
        end: "the checksum",
        max_len: 64,
        oldest: 1,
        newest: 3,
        min_reader_since: Some(2),
    };

    fn file(version: u16, flags: u16, min_reader: Option<u16>) -> Vec<u8> {
        let mut out = TEST.signature.to_vec();
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&flags.to_be_bytes());
        if let Some(min_reader) = min_reader {
            out.extend_from_slice(&min_reader.to_be_bytes());
        }
        seal(&mut out);
        out
    }

    fn header(bytes: &[u8]) -> Result<Header, ContainerError<&'static str>> {
        open(bytes, &TEST, "header").map(|(header, _)| header)
    }

    fn message(error: ContainerError<&'static str>) -> String {
        error.display(&TEST).to_string()
    }

    #[test]
    fn versions_before_the_field_have_no_oldest_reader() {
        assert_eq!(
            header(&file(1, 0, None)),
            Ok(Header {
                version: 1,
                min_reader: 1,
                layout: 1,
                len: 12
            })
        );
    }

    #[test]
    fn a_newer_file_loads_when_it_names_an_old_enough_reader() {
        assert_eq!(
            header(&file(7, 0, Some(3))),
            Ok(Header {
                version: 7,
                min_reader: 3,
                layout: 3,
                len: 14
            })
        );
        let error = header(&file(7, 0, Some(4))).unwrap_err();
        assert_eq!(
            error,
            ContainerError::NeedsNewerReader {
                version: 7,
                min_reader: 4
            }
        );
        assert_eq!(
            message(error),
            "this file needs a newer Mova: it is format version 7 and needs a reader of version \
             4 or newer (this Mova reads versions 1 to 3)"
        );
    }

    #[test]
    fn an_impossible_oldest_reader_is_refused() {
        for (version, min_reader) in [(2, 1), (2, 3), (3, 0)] {
            assert_eq!(
                header(&file(version, 0, Some(min_reader))),
                Err(ContainerError::BadMinReader {
                    version,
                    min_reader
                })
            );
        }
        assert_eq!(
            message(header(&file(3, 0, Some(1))).unwrap_err()),
            "invalid oldest reader version 1 at byte 12 (format version 3 can only name \
             versions 2 to 3)"
        );
    }

    #[test]
    fn header_faults_are_told_apart() {
        assert_eq!(
            header(&file(0, 0, None)),
            Err(ContainerError::UnsupportedVersion { found: 0 })
        );
        assert_eq!(
            message(header(&file(2, 1, Some(2))).unwrap_err()),
            "unsupported header flags 0x0001 at byte 10 (no flags are defined in version 2)"
        );
        assert_eq!(
            header(&file(2, 0, None)[..13]),
            Err(ContainerError::Truncated {
                part: "header",
                start: 12,
                end: 14,
                len: 13
            })
        );
        assert_eq!(
            header(&TEST.signature[..3]),
            Err(ContainerError::Truncated {
                part: "header",
                start: 0,
                end: 12,
                len: 3
            })
        );
        assert_eq!(
            header(&file(1, 0, None)[..9]),
            Err(ContainerError::Truncated {
                part: "header",
                start: 8,
                end: 12,
                len: 9
            })
        );
        assert_eq!(
            header(b"\x89TST\n\x1a\n\0\0\0\0\0"),
            Err(ContainerError::TextModeCorruption)
        );
        assert_eq!(
            message(header(b"ELF\x7f").unwrap_err()),
            "not a test file: it starts with 45 4C 46 7F instead of the signature \
             89 54 53 54 0D 0A 1A 0A"
        );
        assert_eq!(
            header(&[TEST.signature.to_vec(), vec![0; 60]].concat()),
            Err(ContainerError::TooLarge { len: 68 })
        );
    }

    #[test]
    fn the_end_is_checked_once() {
        let good = file(1, 0, None);
        assert_eq!(check_end(&good, 12, "checksum"), Ok(()));
        let mut long = good.clone();
        long.push(0);
        assert_eq!(
            message(check_end(&long, 12, "checksum").unwrap_err()),
            "1 unexpected bytes after the checksum, from byte 16"
        );
        let mut corrupt = good.clone();
        corrupt[9] ^= 1;
        assert!(matches!(
            check_end(&corrupt, 12, "checksum"),
            Err(ContainerError::ChecksumMismatch { .. })
        ));
        assert_eq!(
            check_end(&good[..14], 12, "checksum"),
            Err(ContainerError::Truncated {
                part: "checksum",
                start: 12,
                end: 16,
                len: 14
            })
        );
    }
}
