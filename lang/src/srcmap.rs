//! The source map: an optional `.mvb` section that maps each instruction to the span of source it
//! was compiled from, and carries that source, so that a trap can show the line that caused it
//! even where the source file is not (another host, after a migration).
//!
//! Payload layout (big-endian, `docs/formats.md`):
//!
//! ```text
//! size  field
//!    2  file name length N
//!    N  file name, UTF-8
//!    4  source length M
//!    M  source text, UTF-8
//!    4  entry count (= the program's instruction count)
//!  8×c  per instruction: u32 start and u32 end byte offsets into the source
//! ```

#![deny(clippy::indexing_slicing)]

use crate::bytes::{Cursor, Short, to_usize};
use crate::mvb::Section;
use std::ops::Range;

/// The section kind of a source map (optional: bit 15 set).
pub const SOURCE_MAP: u16 = 0x8001;

/// Where each instruction came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SourceMap {
    /// The source file's name, as the compiler was given it.
    pub file: String,
    /// The source text.
    pub source: String,
    /// `spans[i]` is the byte range of the source that instruction `i` was compiled from.
    pub spans: Vec<Range<u32>>,
}

/// Why a source map section is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourceMapError {
    /// The payload ends early or goes on after its last entry.
    #[error("the payload is {len} bytes long, but its fields need {needed}")]
    Length {
        /// The payload's length.
        len: usize,
        /// The length its fields declare (at least).
        needed: usize,
    },
    /// The file name or the source is not UTF-8.
    #[error("the {0} is not valid UTF-8")]
    NotUtf8(&'static str),
    /// The number of entries differs from the number of instructions.
    #[error("it has {entries} entries for {instructions} instructions")]
    Count {
        /// The entries in the map.
        entries: usize,
        /// The instructions in the program.
        instructions: usize,
    },
    /// An entry's span is backwards, past the end of the source or inside a character.
    #[error(
        "entry {index} has the span {start}..{end}, which is not a span of the {len}-byte source"
    )]
    Span {
        /// The entry.
        index: usize,
        start: u32,
        end: u32,
        /// The source's length.
        len: usize,
    },
    /// A field is too long for its length field.
    #[error("the {0} is too long for the format")]
    TooLong(&'static str),
}

impl SourceMap {
    /// A map for `source` (named `file`) from the byte spans of each instruction.
    pub fn new(
        file: &str,
        source: &str,
        spans: impl IntoIterator<Item = Range<usize>>,
    ) -> SourceMap {
        let offset = |at: usize| u32::try_from(at).unwrap_or(u32::MAX);
        SourceMap {
            file: file.to_owned(),
            source: source.to_owned(),
            spans: spans
                .into_iter()
                .map(|span| offset(span.start)..offset(span.end))
                .collect(),
        }
    }

    /// The map as a `.mvb` section.
    pub fn to_section(&self) -> Result<Section, SourceMapError> {
        Ok(Section {
            kind: SOURCE_MAP,
            payload: self.encode()?,
        })
    }

    /// Encodes the map as a section payload.
    pub fn encode(&self) -> Result<Vec<u8>, SourceMapError> {
        let name_len =
            u16::try_from(self.file.len()).map_err(|_| SourceMapError::TooLong("file name"))?;
        let source_len =
            u32::try_from(self.source.len()).map_err(|_| SourceMapError::TooLong("source"))?;
        let count = u32::try_from(self.spans.len()).map_err(|_| SourceMapError::TooLong("map"))?;
        let mut out =
            Vec::with_capacity(10 + self.file.len() + self.source.len() + 8 * self.spans.len());
        out.extend_from_slice(&name_len.to_be_bytes());
        out.extend_from_slice(self.file.as_bytes());
        out.extend_from_slice(&source_len.to_be_bytes());
        out.extend_from_slice(self.source.as_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        for span in &self.spans {
            out.extend_from_slice(&span.start.to_be_bytes());
            out.extend_from_slice(&span.end.to_be_bytes());
        }
        Ok(out)
    }

    /// Decodes and checks a payload for a program of `instructions` instructions. Never panics,
    /// and allocates no more than the payload's size.
    pub fn decode(payload: &[u8], instructions: usize) -> Result<SourceMap, SourceMapError> {
        let short = |Short { end, len, .. }| SourceMapError::Length { len, needed: end };
        let mut cursor = Cursor::new(payload, 0);
        let name_len = usize::from(u16::from_be_bytes(cursor.array().map_err(short)?));
        let file = std::str::from_utf8(cursor.take(name_len).map_err(short)?)
            .map_err(|_| SourceMapError::NotUtf8("file name"))?;
        let source_len = to_usize(u32::from_be_bytes(cursor.array().map_err(short)?));
        let source = std::str::from_utf8(cursor.take(source_len).map_err(short)?)
            .map_err(|_| SourceMapError::NotUtf8("source"))?;
        let entries = to_usize(u32::from_be_bytes(cursor.array().map_err(short)?));
        if entries != instructions {
            return Err(SourceMapError::Count {
                entries,
                instructions,
            });
        }
        let table = cursor.take(entries.saturating_mul(8)).map_err(short)?;
        if cursor.pos() != payload.len() {
            return Err(SourceMapError::Length {
                len: payload.len(),
                needed: cursor.pos(),
            });
        }
        let mut spans = Vec::with_capacity(entries);
        let (entries, _) = table.as_chunks::<8>();
        for (index, &[s0, s1, s2, s3, e0, e1, e2, e3]) in entries.iter().enumerate() {
            let start = u32::from_be_bytes([s0, s1, s2, s3]);
            let end = u32::from_be_bytes([e0, e1, e2, e3]);
            let valid = start <= end && source.get(to_usize(start)..to_usize(end)).is_some();
            if !valid {
                return Err(SourceMapError::Span {
                    index,
                    start,
                    end,
                    len: source.len(),
                });
            }
            spans.push(start..end);
        }
        Ok(SourceMap {
            file: file.to_owned(),
            source: source.to_owned(),
            spans,
        })
    }

    /// The source span of instruction `ip`, as byte offsets.
    pub fn span(&self, ip: u32) -> Option<Range<usize>> {
        let span = self.spans.get(to_usize(ip))?;
        Some(to_usize(span.start)..to_usize(span.end))
    }

    /// The 1-based line and column (in characters) of a byte offset into the source.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        line_column(&self.source, offset)
    }
}

/// The 1-based line and column (in characters) of a byte offset into `source`; an offset past the
/// end, or inside a character, counts as the end.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |line| line.chars().count())
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use super::*;

    fn map() -> SourceMap {
        SourceMap {
            file: "seed.mova".into(),
            source: "var i = 0;\nloop:\n    i++;\n".into(),
            spans: vec![0..10, 21..25],
        }
    }

    #[test]
    fn round_trips_and_locates_lines() {
        let map = map();
        let bytes = map.encode().unwrap();
        assert_eq!(SourceMap::decode(&bytes, 2), Ok(map.clone()));
        assert_eq!(map.span(1), Some(21..25));
        assert_eq!(map.line_column(21), (3, 5));
        assert_eq!(map.line_column(0), (1, 1));
    }

    #[test]
    fn refuses_what_does_not_fit_the_program_or_the_source() {
        let bytes = map().encode().unwrap();
        assert_eq!(
            SourceMap::decode(&bytes, 3),
            Err(SourceMapError::Count {
                entries: 2,
                instructions: 3
            })
        );
        for len in 0..bytes.len() {
            assert!(
                SourceMap::decode(&bytes[..len], 2).is_err(),
                "truncated to {len}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            SourceMap::decode(&long, 2),
            Err(SourceMapError::Length { .. })
        ));
        let mut bad = map();
        bad.spans[1] = 21..99;
        assert!(matches!(
            SourceMap::decode(&bad.encode().unwrap(), 2),
            Err(SourceMapError::Span { index: 1, .. })
        ));
    }

    #[test]
    fn a_huge_declared_count_allocates_nothing() {
        let mut bytes = map().encode().unwrap();
        let at = bytes.len() - 16 - 4;
        bytes[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(SourceMap::decode(&bytes, usize::try_from(u32::MAX).unwrap()).is_err());
    }
}
