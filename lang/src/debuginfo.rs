//! Debug info: an optional `.mvb` section (written by `movac -g`, and always by `mova prog.mova`)
//! that names what the code does not: each function (its code range is the function table's)
//! (the main program's is [`func::MAIN_NAME`]) and each local variable's slot over the instructions where the slot holds it, so that a
//! backtrace and `movahv inspect` can speak of `gcd(a = 21, b = 0)` instead of slots.
//!
//! Payload layout (big-endian, `docs/formats.md`):
//!
//! ```text
//! size  field
//!    2  function name count F
//!  F×…  per function: u16 function number, u32 start and u32 end byte offsets of its
//!       declaration in the source, u16 name length N, N bytes of name (UTF-8)
//!    4  local count L
//!  L×…  per local: u16 function number, u16 slot, u32 first and u32 end (exclusive) instruction
//!       of its live range, u32 start and u32 end byte offsets of its declaration, u16 name
//!       length N, N bytes of name (UTF-8)
//!  then, only if the program has locals on the reference stack (strings and arrays):
//!    4  reference local count R
//!  R×…  per reference local: as a local, its slot a reference slot
//! ```
//!
//! Every function number names a function of the program, every live range lies inside that
//! function's code, and names are UTF-8; a section that breaks any of these is refused with the
//! program, as every known section is.

#![deny(clippy::indexing_slicing)]

use crate::bytes::{Cursor, Short, to_usize};
use crate::func::{self, Function};
use std::ops::Range;

/// The section kind of debug info (optional: bit 15 set).
pub const DEBUG_INFO: u16 = 0x8002;

/// The smallest encoding of a function name entry (an empty name).
const FUNCTION_MIN_LEN: usize = 12;
/// The smallest encoding of a local (an empty name).
const LOCAL_MIN_LEN: usize = 22;

/// The names of a program's functions and local variables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DebugInfo {
    /// The functions' names, in any order (the main program's is [`func::MAIN_NAME`]).
    pub functions: Vec<FunctionName>,
    /// The local variables, parameters included.
    pub locals: Vec<Local>,
}

/// A function's name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FunctionName {
    /// Its number (0 for the main program).
    pub function: u16,
    /// Its name.
    pub name: String,
    /// The byte span of its declaration in the source (of the source map).
    pub span: Range<u32>,
}

/// A local variable: which slot of which function's frame holds it, and when.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Local {
    /// The function whose frame holds it.
    pub function: u16,
    /// Its slot, counted from the frame's base (of the reference stack if `reference`).
    pub slot: u16,
    /// Whether it lives on the reference stack (a string or an array) rather than the int stack.
    pub reference: bool,
    /// Its name.
    pub name: String,
    /// The instructions at which the slot holds it: from the first to before the end.
    pub live: Range<u32>,
    /// The byte span of its declaration in the source.
    pub span: Range<u32>,
}

/// Why a debug info section is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DebugInfoError {
    /// The payload ends early or goes on after its last entry.
    #[error("the payload is {len} bytes long, but its fields need {needed}")]
    Length {
        /// The payload's length.
        len: usize,
        /// The length its fields declare (at least).
        needed: usize,
    },
    /// A name is not UTF-8.
    #[error("the name of {0} is not valid UTF-8")]
    NotUtf8(String),
    /// An entry names a function the program does not have.
    #[error("{what} names function {function}, but the program has {count}")]
    Function {
        /// The entry, in words.
        what: String,
        /// The function it names.
        function: u16,
        /// How many functions the program has, the main program included.
        count: usize,
    },
    /// A local's live range is not inside its function's code.
    #[error("local `{name}` lives at instructions {}..{}, outside its function's code {}..{}", live.start, live.end, code.start, code.end)]
    Live {
        /// The local's name.
        name: String,
        /// Its live range.
        live: Range<u32>,
        /// Its function's code range.
        code: Range<u32>,
    },
}

impl DebugInfo {
    /// The payload of the section.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let count = u16::try_from(self.functions.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for function in self.functions.iter().take(usize::from(count)) {
            out.extend_from_slice(&function.function.to_be_bytes());
            put_span(&mut out, &function.span);
            put_name(&mut out, &function.name);
        }
        let (refs, ints): (Vec<&Local>, Vec<&Local>) =
            self.locals.iter().partition(|local| local.reference);
        put_locals(&mut out, &ints);
        if !refs.is_empty() {
            put_locals(&mut out, &refs);
        }
        out
    }

    /// Decodes and checks a payload for a program whose functions (main first) are `functions`
    /// and whose code has `len` instructions.
    pub fn decode(
        payload: &[u8],
        functions: &[Function],
        len: u32,
    ) -> Result<DebugInfo, DebugInfoError> {
        let length = |short: Short| DebugInfoError::Length {
            len: payload.len(),
            needed: short.end,
        };
        let mut cursor = Cursor::new(payload, 0);
        let known = |function: u16, what: &dyn Fn() -> String| {
            if usize::from(function) < functions.len() {
                Ok(())
            } else {
                Err(DebugInfoError::Function {
                    what: what(),
                    function,
                    count: functions.len(),
                })
            }
        };
        let count = usize::from(u16::from_be_bytes(cursor.array().map_err(length)?));
        bound(payload, &cursor, count, FUNCTION_MIN_LEN)?;
        let mut names = Vec::with_capacity(count);
        for index in 0..count {
            let function = u16::from_be_bytes(cursor.array().map_err(length)?);
            let span = take_span(&mut cursor).map_err(length)?;
            let name = take_name(&mut cursor, payload, || format!("function name {index}"))?;
            known(function, &|| format!("function name `{name}`"))?;
            names.push(FunctionName {
                function,
                name,
                span,
            });
        }
        let mut locals = Vec::new();
        for reference in [false, true] {
            // The reference locals' list is there only if bytes are left for it.
            if reference && cursor.pos() == payload.len() {
                break;
            }
            let count = to_usize(u32::from_be_bytes(cursor.array().map_err(length)?));
            bound(payload, &cursor, count, LOCAL_MIN_LEN)?;
            locals.reserve(count);
            for index in 0..count {
                let function = u16::from_be_bytes(cursor.array().map_err(length)?);
                let slot = u16::from_be_bytes(cursor.array().map_err(length)?);
                let live = take_span(&mut cursor).map_err(length)?;
                let span = take_span(&mut cursor).map_err(length)?;
                let name = take_name(&mut cursor, payload, || format!("local {index}"))?;
                known(function, &|| format!("local `{name}`"))?;
                let code = func::code_range(functions, function, len);
                if live.start > live.end || live.start < code.start || live.end > code.end {
                    return Err(DebugInfoError::Live { name, live, code });
                }
                locals.push(Local {
                    function,
                    slot,
                    reference,
                    name,
                    live,
                    span,
                });
            }
        }
        if cursor.pos() != payload.len() {
            return Err(DebugInfoError::Length {
                len: payload.len(),
                needed: cursor.pos(),
            });
        }
        Ok(DebugInfo {
            functions: names,
            locals,
        })
    }

    /// The name of function `function`, if the info has one.
    pub fn function_name(&self, function: u16) -> Option<&str> {
        self.functions
            .iter()
            .find(|name| name.function == function)
            .map(|name| name.name.as_str())
    }

    /// The locals of `function` live at instruction `ip`: the int stack's by slot, then the
    /// reference stack's by slot (and in declaration order among those of one slot, which cannot
    /// both be live).
    pub fn locals_at(&self, function: u16, ip: u32) -> Vec<&Local> {
        let mut live: Vec<&Local> = self
            .locals
            .iter()
            .filter(|local| local.function == function && local.live.contains(&ip))
            .collect();
        live.sort_by_key(|local| (local.reference, local.slot));
        live
    }
}

/// Refuses a count whose smallest entries would not fit in the bytes left, before anything is
/// allocated for it.
fn bound(
    payload: &[u8],
    cursor: &Cursor<'_>,
    count: usize,
    min: usize,
) -> Result<(), DebugInfoError> {
    let needed = cursor.pos().saturating_add(count.saturating_mul(min));
    if needed > payload.len() {
        return Err(DebugInfoError::Length {
            len: payload.len(),
            needed,
        });
    }
    Ok(())
}

fn put_locals(out: &mut Vec<u8>, locals: &[&Local]) {
    let count = u32::try_from(locals.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for local in locals.iter().take(to_usize(count)) {
        out.extend_from_slice(&local.function.to_be_bytes());
        out.extend_from_slice(&local.slot.to_be_bytes());
        put_span(out, &local.live);
        put_span(out, &local.span);
        put_name(out, &local.name);
    }
}

fn put_span(out: &mut Vec<u8>, span: &Range<u32>) {
    out.extend_from_slice(&span.start.to_be_bytes());
    out.extend_from_slice(&span.end.to_be_bytes());
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    // Names longer than a u16 can say are cut at a character boundary: they are names.
    let mut end = name.len().min(usize::from(u16::MAX));
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let cut = name.get(..end).unwrap_or_default();
    out.extend_from_slice(&u16::try_from(cut.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(cut.as_bytes());
}

fn take_span(cursor: &mut Cursor<'_>) -> Result<Range<u32>, Short> {
    let start = u32::from_be_bytes(cursor.array()?);
    let end = u32::from_be_bytes(cursor.array()?);
    Ok(start..end)
}

fn take_name(
    cursor: &mut Cursor<'_>,
    payload: &[u8],
    what: impl Fn() -> String,
) -> Result<String, DebugInfoError> {
    let length = |short: Short| DebugInfoError::Length {
        len: payload.len(),
        needed: short.end,
    };
    let len = usize::from(u16::from_be_bytes(cursor.array().map_err(length)?));
    let bytes = cursor.take(len).map_err(length)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| DebugInfoError::NotUtf8(what()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use super::*;

    fn functions() -> Vec<Function> {
        vec![
            Function::MAIN,
            Function {
                entry: 4,
                params: 2,
                results: 1,
                ref_params: 0,
                ref_results: 0,
            },
        ]
    }

    fn info() -> DebugInfo {
        DebugInfo {
            functions: vec![
                FunctionName {
                    function: 0,
                    name: crate::func::MAIN_NAME.into(),
                    span: 0..0,
                },
                FunctionName {
                    function: 1,
                    name: "gcd".into(),
                    span: 10..40,
                },
            ],
            locals: vec![
                Local {
                    function: 1,
                    slot: 1,
                    name: "b".into(),
                    live: 4..9,
                    span: 20..26,
                    reference: false,
                },
                Local {
                    function: 1,
                    slot: 0,
                    name: "a".into(),
                    live: 4..9,
                    span: 13..19,
                    reference: false,
                },
                Local {
                    function: 0,
                    slot: 0,
                    name: "x".into(),
                    live: 1..4,
                    span: 0..9,
                    reference: false,
                },
            ],
        }
    }

    #[test]
    fn debug_info_round_trips_and_answers_by_ip() {
        let info = info();
        let decoded = DebugInfo::decode(&info.encode(), &functions(), 9).unwrap();
        assert_eq!(decoded, info);
        assert_eq!(decoded.function_name(1), Some("gcd"));
        assert_eq!(decoded.function_name(2), None);
        let names = |function, ip| {
            decoded
                .locals_at(function, ip)
                .iter()
                .map(|local| local.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(1, 5), ["a", "b"]);
        assert_eq!(names(0, 0), Vec::<String>::new());
        assert_eq!(names(0, 3), ["x"]);
    }

    #[test]
    fn reference_locals_follow_in_a_list_of_their_own() {
        let mut with_refs = info();
        with_refs.locals.push(Local {
            function: 1,
            slot: 0,
            reference: true,
            name: "s".into(),
            live: 5..9,
            span: 27..33,
        });
        let bytes = with_refs.encode();
        assert_eq!(bytes.len(), info().encode().len() + 4 + 22 + 1);
        let decoded = DebugInfo::decode(&bytes, &functions(), 9).unwrap();
        let names: Vec<_> = decoded
            .locals_at(1, 5)
            .iter()
            .map(|local| (local.name.as_str(), local.reference))
            .collect();
        assert_eq!(names, [("a", false), ("b", false), ("s", true)]);
        for cut in info().encode().len() + 1..bytes.len() {
            assert!(
                DebugInfo::decode(&bytes[..cut], &functions(), 9).is_err(),
                "{cut}"
            );
        }
    }

    #[test]
    fn every_truncation_and_bad_reference_is_refused() {
        let bytes = info().encode();
        for cut in 0..bytes.len() {
            let error = DebugInfo::decode(&bytes[..cut], &functions(), 9).unwrap_err();
            assert!(matches!(error, DebugInfoError::Length { .. }), "{cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(DebugInfo::decode(&longer, &functions(), 9).is_err());
        let only_main = [Function::MAIN];
        assert_eq!(
            DebugInfo::decode(&bytes, &only_main, 9)
                .unwrap_err()
                .to_string(),
            "function name `gcd` names function 1, but the program has 1"
        );
        let mut outside = info();
        outside.locals[2].live = 1..5;
        assert_eq!(
            DebugInfo::decode(&outside.encode(), &functions(), 9)
                .unwrap_err()
                .to_string(),
            "local `x` lives at instructions 1..5, outside its function's code 0..4"
        );
        // Counts far beyond the bytes are refused before anything is allocated.
        assert!(DebugInfo::decode(&[0xFF, 0xFF], &functions(), 9).is_err());
        assert!(DebugInfo::decode(&[0, 0, 0xFF, 0xFF, 0xFF, 0xFF], &functions(), 9).is_err());
    }
}
