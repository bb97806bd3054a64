//! Positions: the compiler's byte offsets and the protocol's lines and UTF-16 columns.
//!
//! Lines end at `\n`, `\r\n` or a lone `\r`, as the protocol counts them. A column counts UTF-16
//! code units, so `é` is one and `😀` two. Both conversions cost a logarithm of the text plus
//! at most [`CHECKPOINT`] bytes of scanning, however long a line is: the index keeps, every
//! [`CHECKPOINT`] bytes, how many UTF-16 units come before.

use lsp_types::Position;

/// How many bytes apart the UTF-16 checkpoints are, at most.
const CHECKPOINT: usize = 1024;

/// Lines and UTF-16 checkpoints of a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineIndex {
    /// Where each line starts.
    starts: Vec<usize>,
    /// `(byte offset, UTF-16 units before it)`, on character boundaries, increasing; the first
    /// is `(0, 0)`.
    checkpoints: Vec<(usize, usize)>,
    len: usize,
}

impl LineIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> LineIndex {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        let mut checkpoints = vec![(0, 0)];
        let mut units = 0;
        let mut last = 0;
        for (at, c) in text.char_indices() {
            if at - last >= CHECKPOINT {
                checkpoints.push((at, units));
                last = at;
            }
            units += c.len_utf16();
            let ends_line = c == '\n' || (c == '\r' && bytes.get(at + 1) != Some(&b'\n'));
            if ends_line {
                starts.push(at + 1);
            }
        }
        LineIndex {
            starts,
            checkpoints,
            len: text.len(),
        }
    }

    /// How many lines the text has (an empty one, or one after a final line break, counts).
    pub fn lines(&self) -> usize {
        self.starts.len()
    }

    /// The UTF-16 units before `offset`, which is a character boundary of `text`.
    fn units(&self, text: &str, offset: usize) -> usize {
        let at = self
            .checkpoints
            .partition_point(|&(byte, _)| byte <= offset)
            .saturating_sub(1);
        let (byte, units) = self.checkpoints.get(at).copied().unwrap_or((0, 0));
        units
            + text
                .get(byte..offset)
                .map_or(0, |part| part.encode_utf16().count())
    }

    /// The largest character boundary of `text` at or before `offset`, within the text.
    fn boundary(text: &str, offset: usize) -> usize {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }

    /// The position of byte `offset` (clamped to the text, and to the start of the character
    /// it falls in).
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let offset = Self::boundary(text, offset);
        let line = self
            .starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let column = self.units(text, offset) - self.units(text, start);
        Position::new(
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(column).unwrap_or(u32::MAX),
        )
    }

    /// Where line `line`'s text ends, before its line break.
    fn line_end(&self, text: &str, line: usize) -> usize {
        let Some(&next) = self.starts.get(line + 1) else {
            return self.len;
        };
        let bytes = text.as_bytes();
        let mut end = next;
        if end > 0 && bytes.get(end - 1) == Some(&b'\n') {
            end -= 1;
        }
        if end > 0 && bytes.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        end
    }

    /// The byte offset of `position`, or `None` for a line past the end. A column past the
    /// line's end is its end, as the protocol says; one inside a character (between the two
    /// halves of a surrogate pair) is that character's start.
    pub fn offset(&self, text: &str, position: Position) -> Option<usize> {
        let line = usize::try_from(position.line).ok()?;
        let start = *self.starts.get(line)?;
        let end = self.line_end(text, line);
        let wanted = self.units(text, start) + usize::try_from(position.character).ok()?;
        if wanted >= self.units(text, end) {
            return Some(end);
        }
        // Start from the last checkpoint at or before the wanted unit, within the line.
        let at = self
            .checkpoints
            .partition_point(|&(_, units)| units <= wanted)
            .saturating_sub(1);
        let (mut byte, mut units) = self.checkpoints.get(at).copied().unwrap_or((0, 0));
        if byte < start {
            (byte, units) = (start, self.units(text, start));
        }
        for (i, c) in text.get(byte..end)?.char_indices() {
            let next = units + c.len_utf16();
            if next > wanted {
                return Some(byte + i);
            }
            units = next;
        }
        Some(end)
    }

    /// The protocol's range of a byte span (clamped to the text).
    pub fn range(&self, text: &str, span: &std::ops::Range<usize>) -> lsp_types::Range {
        let end = span.end.min(self.len);
        lsp_types::Range::new(
            self.position(text, span.start.min(end)),
            self.position(text, end),
        )
    }
}

/// `text` (indexed by `index`) with `range` replaced by `new`, or `new` without a range. A
/// position past the end is the end.
pub fn edited(text: &str, index: &LineIndex, range: Option<lsp_types::Range>, new: &str) -> String {
    let Some(range) = range else {
        return new.to_owned();
    };
    let at = |position| index.offset(text, position).unwrap_or(text.len());
    let start = at(range.start);
    let end = at(range.end).max(start);
    let mut out = String::with_capacity(text.len() + new.len());
    out.push_str(text.get(..start).unwrap_or_default());
    out.push_str(new);
    out.push_str(text.get(end..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) {
        let index = LineIndex::new(text);
        for (offset, _) in text.char_indices().chain([(text.len(), ' ')]) {
            // Between the two bytes of a `\r\n` is no position of its own.
            if text
                .get(..offset)
                .is_some_and(|before| before.ends_with('\r'))
                && text
                    .get(offset..)
                    .is_some_and(|after| after.starts_with('\n'))
            {
                continue;
            }
            let position = index.position(text, offset);
            assert_eq!(
                index.offset(text, position),
                Some(offset),
                "{text:?} at {offset}: {position:?}"
            );
        }
    }

    #[test]
    fn columns_count_utf16_units() {
        let text = "var s = \"é😀x\";\n// ç\nprint(s);";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap();
        // `é` is one unit, `😀` two.
        assert_eq!(index.position(text, x), Position::new(0, 12));
        assert_eq!(index.offset(text, Position::new(0, 12)), Some(x));
        // Inside the surrogate pair: the emoji's start.
        let emoji = text.find('😀').unwrap();
        assert_eq!(index.offset(text, Position::new(0, 11)), Some(emoji));
        assert_eq!(index.position(text, text.find("print").unwrap()).line, 2);
        // Past the end of a line: its end; past the last line: nothing.
        assert_eq!(
            index.offset(text, Position::new(1, 99)),
            text.find("\nprint")
        );
        assert_eq!(index.offset(text, Position::new(3, 0)), None);
        round_trip(text);
    }

    #[test]
    fn every_kind_of_line_break_counts() {
        let text = "a\r\nb\rc\nd";
        let index = LineIndex::new(text);
        assert_eq!(index.lines(), 4);
        assert_eq!(
            index.position(text, text.find('d').unwrap()),
            Position::new(3, 0)
        );
        assert_eq!(index.offset(text, Position::new(0, 5)), Some(1));
        round_trip(text);
        round_trip("");
        round_trip("\n\n");
    }

    #[test]
    fn long_lines_use_checkpoints() {
        let text = format!("{}\n{}", "é".repeat(3000), "😀a".repeat(2000));
        let index = LineIndex::new(&text);
        assert!(index.checkpoints.len() > 10);
        let last = text.len() - 1;
        assert_eq!(index.position(&text, last), Position::new(1, 3 * 2000 - 1));
        round_trip(&text);
        // A span past the end is clamped.
        let range = index.range(&text, &(last..last + 10));
        assert_eq!(range.end, Position::new(1, 6000));
    }
}
