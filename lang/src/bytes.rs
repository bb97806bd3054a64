//! Reading untrusted bytes, shared by the `.mvb`, `.mvs` and source-map decoders: a cursor that
//! never reads past the end, and the signature check that tells a short file, a text-mode-damaged
//! one and a foreign one apart.

#![deny(clippy::indexing_slicing)]

/// A slice the input is too short for: bytes `start..end` were needed, the input has `len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Short {
    pub start: usize,
    pub end: usize,
    pub len: usize,
}

/// A position in untrusted bytes.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8], pos: usize) -> Cursor<'a> {
        Cursor { bytes, pos }
    }

    /// Where the cursor is.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The next `count` bytes, or what was missing.
    pub(crate) fn take(&mut self, count: usize) -> Result<&'a [u8], Short> {
        let start = self.pos;
        let end = start.saturating_add(count);
        let short = Short {
            start,
            end,
            len: self.bytes.len(),
        };
        let slice = self.bytes.get(start..end).ok_or(short)?;
        self.pos = end;
        Ok(slice)
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }
}

/// What the first bytes of a file say about its signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signature {
    /// The signature is there.
    Valid,
    /// The file is a prefix of the signature: too short to tell.
    Truncated,
    /// The first four bytes match but the line-ending bytes do not: a text-mode transfer.
    TextMode,
    /// Something else.
    Foreign,
}

/// Checks `bytes` against an eight-byte signature in the PNG style (`\x89` + three letters +
/// `\r\n\x1a\n`).
pub(crate) fn check_signature(bytes: &[u8], signature: &[u8; 8]) -> Signature {
    let head = bytes.get(..signature.len()).unwrap_or(bytes);
    // `\x89` and the three letters, before the line-ending bytes.
    let [b0, b1, b2, b3, ..] = *signature;
    if head == signature {
        Signature::Valid
    } else if signature.starts_with(head) {
        Signature::Truncated
    } else if bytes.starts_with(&[b0, b1, b2, b3]) {
        Signature::TextMode
    } else {
        Signature::Foreign
    }
}

/// A `u32` as a `usize` (saturating on targets narrower than 32 bits).
pub(crate) fn to_usize(value: u32) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &[u8; 8] = b"\x89ABC\r\n\x1a\n";

    #[test]
    fn signatures_are_told_apart() {
        assert_eq!(
            check_signature(b"\x89ABC\r\n\x1a\nrest", SIG),
            Signature::Valid
        );
        assert_eq!(check_signature(b"\x89AB", SIG), Signature::Truncated);
        assert_eq!(check_signature(b"", SIG), Signature::Truncated);
        assert_eq!(
            check_signature(b"\x89ABC\n\x1a\n\0", SIG),
            Signature::TextMode
        );
        assert_eq!(check_signature(b"ELF\x7f", SIG), Signature::Foreign);
    }

    #[test]
    fn the_cursor_never_reads_past_the_end() {
        let mut cursor = Cursor::new(b"abcdef", 2);
        assert_eq!(cursor.take(3), Ok(&b"cde"[..]));
        assert_eq!(
            cursor.take(2),
            Err(Short {
                start: 5,
                end: 7,
                len: 6
            })
        );
        assert_eq!(
            cursor.take(usize::MAX),
            Err(Short {
                start: 5,
                end: usize::MAX,
                len: 6
            })
        );
        assert_eq!(cursor.array::<1>(), Ok(*b"f"));
        assert_eq!(cursor.pos(), 6);
    }
}
