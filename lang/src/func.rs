//! Functions: the function table a program with functions carries (a required `.mvb` section),
//! and the call frames a running program has, which a state image carries.
//!
//! Function 0 is the main program: its code starts at instruction 0 and runs up to the first
//! function's entry. Functions 1, 2, … are the table's entries, in order; `CALL`'s operand and a
//! frame name a function by that number. Function `k`'s code is contiguous, from its entry up to
//! the next function's entry (the last one's up to the end of the code).
//!
//! Section payload (big-endian): a u16 count, then per function its u32 entry, u16 number of
//! parameters and u8 number of results (0 or 1). Entries are strictly increasing, at least 1 and
//! below the code's length, so every function, the main program included, has at least one
//! instruction.
//!
//! A program whose functions take or return references (strings and arrays, [`crate::heap`])
//! carries the table as section [`FUNCTIONS_REFS`] instead, whose entries add a u16 number of
//! reference parameters and a u8 number of reference results: 10 bytes each. A function returns
//! at most one value in all, an int or a reference. Programs without references keep the first
//! layout, byte for byte.

#![deny(clippy::indexing_slicing)]

use std::ops::Range;

/// The `.mvb` section kind of the function table. It is required: a reader that does not know it
/// cannot run the program.
pub const FUNCTIONS: u16 = 0x0002;

/// The `.mvb` section kind of a function table whose functions take or return references
/// (required too; a program has at most one of the two).
pub const FUNCTIONS_REFS: u16 = 0x0004;

/// The number of the main program, which every program has.
pub const MAIN: u16 = 0;

/// What backtraces and debug info call the main program: in angle brackets, as Python's
/// `<module>`, so that no function can be mistaken for it (a function may be called `main`).
pub const MAIN_NAME: &str = "<main>";

/// The most functions a program may declare besides the main program (numbers must fit `CALL`'s
/// u16 operand).
pub const MAX_FUNCTIONS: usize = u16::MAX as usize;

/// The most call frames a running program may have, the main program's not counted: a call
/// beyond it traps with a stack overflow. Each frame takes 16 bytes of VM memory.
pub const MAX_CALL_DEPTH: usize = 10_000;

/// The length of one function's entry in a [`FUNCTIONS`] section.
const ENTRY_LEN: usize = 7;

/// The length of one function's entry in a [`FUNCTIONS_REFS`] section.
const REFS_ENTRY_LEN: usize = 10;

/// One function of a program's function table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Function {
    /// The index of its first instruction.
    pub entry: u32,
    /// How many values it takes: a call's top `params` values become its slots `0..params`.
    pub params: u16,
    /// How many values it leaves for its caller: 0 or 1.
    pub results: u8,
    /// How many references it takes: a call's top `ref_params` references become its reference
    /// slots `0..ref_params`.
    pub ref_params: u16,
    /// How many references it leaves for its caller: 0 or 1, and 0 if `results` is 1.
    pub ref_results: u8,
}

impl Function {
    /// The main program: it starts at instruction 0, takes nothing and returns nothing.
    pub const MAIN: Function = Function {
        entry: 0,
        params: 0,
        results: 0,
        ref_params: 0,
        ref_results: 0,
    };

    /// A function at `entry` that takes `params` ints and returns `results` (0 or 1) ints, and no
    /// references.
    pub const fn ints(entry: u32, params: u16, results: u8) -> Function {
        Function {
            entry,
            params,
            results,
            ref_params: 0,
            ref_results: 0,
        }
    }

    /// Whether it takes or returns references.
    pub const fn uses_refs(&self) -> bool {
        self.ref_params > 0 || self.ref_results > 0
    }

    /// What it returns.
    pub const fn returns(&self) -> Returns {
        if self.results > 0 {
            Returns::Int
        } else if self.ref_results > 0 {
            Returns::Ref
        } else {
            Returns::Nothing
        }
    }
}

/// What a function returns, and so which return instruction it ends with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Returns {
    /// No value: `RET`.
    Nothing,
    /// An int: `RETV`.
    Int,
    /// A reference: `RETR`.
    Ref,
}

impl Returns {
    /// What a return instruction returns (`None` for any other instruction).
    pub fn of_return(instr: &crate::Instr) -> Option<Returns> {
        if matches!(instr, crate::Instr::Ret) {
            Some(Returns::Nothing)
        } else if matches!(instr, crate::Instr::RetV) {
            Some(Returns::Int)
        } else if matches!(instr, crate::Instr::RetR) {
            Some(Returns::Ref)
        } else {
            None
        }
    }

    /// In words: `no value`, `an int`, `a reference`.
    pub const fn words(self) -> &'static str {
        match self {
            Returns::Nothing => "no value",
            Returns::Int => "an int",
            Returns::Ref => "a reference",
        }
    }

    /// The instruction that returns this.
    pub const fn instr(self) -> &'static str {
        match self {
            Returns::Nothing => "RET",
            Returns::Int => "RETV",
            Returns::Ref => "RETR",
        }
    }
}

/// A call in progress: the function called, where it returns to, and where its frame starts on
/// the operand stack. The main program has no frame of its own (its base is 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The function running in this frame (1 or more).
    pub function: u16,
    /// The instruction the caller goes on with once this call returns: the one after its `CALL`.
    pub return_ip: u32,
    /// The height of the operand stack below the frame: its slot 0 is the stack's value `base`.
    pub base: u32,
    /// The height of the reference stack below the frame: its reference slot 0 is the reference
    /// stack's entry `ref_base`.
    pub ref_base: u32,
}

/// Why a function table section does not hold a function table for the code it is with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FunctionTableError {
    /// The payload is shorter or longer than its count says.
    #[error("it declares {count} functions ({expected} bytes), but holds {found} bytes")]
    Length {
        /// The declared number of functions.
        count: usize,
        /// The bytes those take, with the count.
        expected: usize,
        /// The bytes present.
        found: usize,
    },
    /// It declares no function: a program without functions has no table.
    #[error("it declares no function")]
    Empty,
    /// An entry is not after the previous function's (or after instruction 0) or not inside the
    /// code.
    #[error(
        "function {function} starts at instruction {entry}, which is not {}",
        if *len <= *entry { format!("inside the code ({len} instructions)") }
        else { format!("after the start of {}", if *function == 1 { String::from("the main program") } else { format!("function {}", function - 1) }) }
    )]
    Entry {
        /// The function's number.
        function: u16,
        /// Its entry.
        entry: u32,
        /// The code's length.
        len: u32,
    },
    /// A function leaves more than one result (ints and references together).
    #[error("function {function} declares {results} results, at most 1 is allowed")]
    Results {
        /// The function's number.
        function: u16,
        /// The results it declares.
        results: u8,
    },
}

/// The section kind a function table is written as: [`FUNCTIONS_REFS`] if any function takes or
/// returns references, else [`FUNCTIONS`].
pub fn table_kind(functions: &[Function]) -> u16 {
    if functions.iter().any(Function::uses_refs) {
        FUNCTIONS_REFS
    } else {
        FUNCTIONS
    }
}

/// Encodes a function table (functions 1, 2, … in order) as the payload of a section of
/// [`table_kind`].
pub fn encode_table(functions: &[Function]) -> Vec<u8> {
    let refs = table_kind(functions) == FUNCTIONS_REFS;
    let entry_len = if refs { REFS_ENTRY_LEN } else { ENTRY_LEN };
    let mut out = Vec::with_capacity(2 + functions.len() * entry_len);
    let count = u16::try_from(functions.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for function in functions.iter().take(usize::from(count)) {
        out.extend_from_slice(&function.entry.to_be_bytes());
        out.extend_from_slice(&function.params.to_be_bytes());
        out.push(function.results);
        if refs {
            out.extend_from_slice(&function.ref_params.to_be_bytes());
            out.push(function.ref_results);
        }
    }
    out
}

/// Decodes and checks a function table section of `kind` ([`FUNCTIONS`] or [`FUNCTIONS_REFS`])
/// for code of `len` instructions: the functions, the main program first.
pub fn decode_table(
    kind: u16,
    payload: &[u8],
    len: u32,
) -> Result<Vec<Function>, FunctionTableError> {
    let entry_len = if kind == FUNCTIONS_REFS {
        REFS_ENTRY_LEN
    } else {
        ENTRY_LEN
    };
    let short = |count: usize| FunctionTableError::Length {
        count,
        expected: 2 + count * entry_len,
        found: payload.len(),
    };
    let (count, entries) = match payload {
        [high, low, entries @ ..] => (usize::from(u16::from_be_bytes([*high, *low])), entries),
        _ => return Err(short(0)),
    };
    if entries.len() != count * entry_len {
        return Err(short(count));
    }
    if count == 0 {
        return Err(FunctionTableError::Empty);
    }
    let mut functions = Vec::with_capacity(count + 1);
    functions.push(Function::MAIN);
    let mut previous = 0;
    for (number, bytes) in (1..=u16::MAX).zip(entries.chunks_exact(entry_len)) {
        let function: u16 = number;
        let (entry, params, results, ref_params, ref_results) = match *bytes {
            [e0, e1, e2, e3, p0, p1, results] => (
                u32::from_be_bytes([e0, e1, e2, e3]),
                u16::from_be_bytes([p0, p1]),
                results,
                0,
                0,
            ),
            [e0, e1, e2, e3, p0, p1, results, r0, r1, ref_results] => (
                u32::from_be_bytes([e0, e1, e2, e3]),
                u16::from_be_bytes([p0, p1]),
                results,
                u16::from_be_bytes([r0, r1]),
                ref_results,
            ),
            _ => return Err(short(count)),
        };
        if entry <= previous || entry >= len {
            return Err(FunctionTableError::Entry {
                function,
                entry,
                len,
            });
        }
        let all_results = u16::from(results) + u16::from(ref_results);
        if all_results > 1 {
            return Err(FunctionTableError::Results {
                function,
                results: u8::try_from(all_results).unwrap_or(u8::MAX),
            });
        }
        previous = entry;
        functions.push(Function {
            entry,
            params,
            results,
            ref_params,
            ref_results,
        });
    }
    Ok(functions)
}

/// The code range of function `number` among `functions` (main first) in code of `len`
/// instructions; empty for a number that names no function.
pub fn code_range(functions: &[Function], number: u16, len: u32) -> Range<u32> {
    let number = usize::from(number);
    let Some(function) = functions.get(number) else {
        return 0..0;
    };
    let end = functions.get(number + 1).map_or(len, |next| next.entry);
    function.entry..end
}

/// The number of the function whose code holds instruction `ip` (the main program's for the end
/// of the code when it has no functions, and for anything before the first function).
pub fn function_at(functions: &[Function], ip: u32) -> u16 {
    let after = functions.partition_point(|function| function.entry <= ip);
    u16::try_from(after.saturating_sub(1)).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use super::*;

    fn table(entries: &[(u32, u16, u8)]) -> Vec<Function> {
        entries
            .iter()
            .map(|&(entry, params, results)| Function::ints(entry, params, results))
            .collect()
    }

    #[test]
    fn a_table_round_trips_with_main_first() {
        let functions = table(&[(3, 2, 1), (9, 0, 0)]);
        let decoded = decode_table(FUNCTIONS, &encode_table(&functions), 12).unwrap();
        assert_eq!(decoded[0], Function::MAIN);
        assert_eq!(decoded[1..], functions[..]);
        assert_eq!(code_range(&decoded, 0, 12), 0..3);
        assert_eq!(code_range(&decoded, 1, 12), 3..9);
        assert_eq!(code_range(&decoded, 2, 12), 9..12);
        assert_eq!(code_range(&decoded, 3, 12), 0..0);
        assert_eq!(function_at(&decoded, 0), 0);
        assert_eq!(function_at(&decoded, 2), 0);
        assert_eq!(function_at(&decoded, 3), 1);
        assert_eq!(function_at(&decoded, 8), 1);
        assert_eq!(function_at(&decoded, 11), 2);
    }

    #[test]
    fn bad_tables_are_refused_with_what_is_wrong() {
        let bytes = |entries: &[(u32, u16, u8)]| encode_table(&table(entries));
        let error = |payload: &[u8]| {
            decode_table(FUNCTIONS, payload, 10)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error(&[]),
            "it declares 0 functions (2 bytes), but holds 0 bytes"
        );
        assert_eq!(error(&[0, 0]), "it declares no function");
        let mut long = bytes(&[(3, 0, 0)]);
        long.push(0);
        assert_eq!(
            error(&long),
            "it declares 1 functions (9 bytes), but holds 10 bytes"
        );
        assert_eq!(
            error(&bytes(&[(0, 0, 0)])),
            "function 1 starts at instruction 0, which is not after the start of the main program"
        );
        assert_eq!(
            error(&bytes(&[(4, 0, 0), (4, 0, 0)])),
            "function 2 starts at instruction 4, which is not after the start of function 1"
        );
        assert_eq!(
            error(&bytes(&[(10, 0, 0)])),
            "function 1 starts at instruction 10, which is not inside the code (10 instructions)"
        );
        assert_eq!(
            error(&bytes(&[(4, 0, 2)])),
            "function 1 declares 2 results, at most 1 is allowed"
        );
        // A declared count far beyond the bytes is refused before anything is allocated for it.
        assert!(decode_table(FUNCTIONS, &[0xFF, 0xFF, 0, 0], 10).is_err());
    }

    #[test]
    fn a_table_with_references_has_the_longer_entries() {
        let functions = vec![
            Function {
                entry: 3,
                params: 1,
                results: 0,
                ref_params: 2,
                ref_results: 1,
            },
            Function::ints(5, 0, 1),
        ];
        assert_eq!(table_kind(&functions), FUNCTIONS_REFS);
        assert_eq!(table_kind(&functions[1..]), FUNCTIONS);
        let payload = encode_table(&functions);
        assert_eq!(payload.len(), 2 + 2 * 10);
        let decoded = decode_table(FUNCTIONS_REFS, &payload, 9).unwrap();
        assert_eq!(decoded[1..], functions[..]);
        // The ints-only layout cannot hold it.
        assert!(decode_table(FUNCTIONS, &payload, 9).is_err());
        // An int and a reference result together are two results.
        let both = encode_table(&[Function {
            entry: 3,
            params: 0,
            results: 1,
            ref_params: 0,
            ref_results: 1,
        }]);
        assert_eq!(
            decode_table(FUNCTIONS_REFS, &both, 9)
                .unwrap_err()
                .to_string(),
            "function 1 declares 2 results, at most 1 is allowed"
        );
    }
}
