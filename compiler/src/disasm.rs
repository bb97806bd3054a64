//! The disassembler: a [`Program`] back to `.mvasm` text that the assembler reads back to the same
//! program.
//!
//! Jump targets get labels (`L4` names instruction 4, and `L<len>` the end of the code); each line
//! ends with a comment giving the instruction's index, and for jumps and calls the raw operand, so
//! the listing also shows what is in the file. Each function starts with its `.fn` line, named as
//! the program's debug info names it (`f1`, `f2`, … otherwise), and calls name their function.
//! A `CONST` shows its string (`CONST "hi"`); when the assembler would not rebuild the program's
//! strings section from those alone, the listing declares every constant with a `.string`
//! line, in order, first (see [`strings_listed`]).

use crate::asm::MAIN_WORD;
use crate::asm::string::quote;
use mova_lang::func::{FUNCTIONS, FUNCTIONS_REFS, Function, MAX_FUNCTIONS};
use mova_lang::heap::STRINGS;
use mova_lang::isa::{Instr, JumpTarget, Opcode};
use mova_lang::mvb::{MAX_FILE_LEN, MAX_INSTRUCTIONS, Program, SECTION_HEADER_LEN};
use std::collections::{BTreeSet, HashSet};

/// Width of the label column.
const LABEL_WIDTH: usize = 8;
/// Width of the instruction column, before the comment.
const INSTR_WIDTH: usize = 24;
/// At most this many optional sections are noted one per line; the others are summed up in one
/// line, so that a listing's length is bounded by its instructions, not by its sections.
pub const MAX_SECTION_NOTES: usize = 8;
/// The longest function name from debug info a listing shows; a function with a longer name (or
/// one the assembler would not read back, see [`function_names`]) is shown by its generated name.
pub const MAX_NAME_LEN: usize = 64;
/// The longest quoted string (quotes and escapes included) a `CONST` line shows; a longer one is
/// declared by a `.string` line and named by its number.
pub const MAX_INLINE_STRING: usize = 48;

/// The names a listing gives `program`'s functions, by number (0, the main program, is
/// [`MAIN_WORD`], the word `.mvasm` reserves for it).
///
/// A function is shown by the name its debug info gives it when that name is an assembler
/// name (`[A-Za-z_][A-Za-z0-9_]*`) of at most [`MAX_NAME_LEN`] bytes, is not `main`, was not
/// taken by an earlier function and is not the generated name of another function; otherwise by
/// its generated name, `f` and its number. So every function has one name, no two share one,
/// and a generated name never clashes with a name from the debug info. (Labels, `L` and an
/// index, are another namespace: a `CALL` operand is always a function's name.)
pub fn function_names(program: &Program) -> Vec<String> {
    let info = program.debug_info();
    let count = program.functions().len();
    let mut taken = HashSet::new();
    let mut names = Vec::with_capacity(count);
    names.push(String::from(MAIN_WORD));
    for number in (1..=u16::MAX).take(count.saturating_sub(1)) {
        let generated = format!("f{number}");
        let given = info
            .as_ref()
            .and_then(|info| info.function_name(number))
            .filter(|name| is_listing_name(name))
            .filter(|name| *name == generated || !is_generated(name))
            .filter(|name| !taken.contains(*name));
        let name = given.map_or(generated, str::to_owned);
        taken.insert(name.clone());
        names.push(name);
    }
    names
}

/// Whether `name` is an assembler name a listing may show: `[A-Za-z_][A-Za-z0-9_]*`, at most
/// [`MAX_NAME_LEN`] bytes, and not `main`.
fn is_listing_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let starts_well = bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == b'_');
    starts_well
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
        && name.len() <= MAX_NAME_LEN
        && name != MAIN_WORD
}

/// Whether `name` has the shape of a generated name, `f` and digits.
fn is_generated(name: &str) -> bool {
    name.strip_prefix('f')
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Disassembles `program` into `.mvasm` text, at most [`max_listing_len`] bytes long.
pub fn disassemble(program: &Program) -> String {
    let code = program.code();
    let targets: BTreeSet<u32> = (0u32..)
        .zip(code)
        .filter_map(|(index, instr)| match instr.jump_target(index) {
            Some(JumpTarget::Index(target)) => Some(target),
            Some(JumpTarget::OutOfRange(_)) | None => None,
        })
        .collect();

    let mut out = header_line(code.len());
    // The function table is what the `.fn` lines show, the strings what `CONST` and `.string`
    // lines show.
    let sections: Vec<_> = program
        .sections()
        .iter()
        .filter(|section| ![FUNCTIONS, FUNCTIONS_REFS, STRINGS].contains(&section.kind))
        .collect();
    for section in sections.iter().take(MAX_SECTION_NOTES) {
        out.push_str(&section_line(section.kind, section.payload.len()));
    }
    if let Some(rest) = sections
        .get(MAX_SECTION_NOTES..)
        .filter(|rest| !rest.is_empty())
    {
        let bytes = rest.iter().map(|section| section.payload.len()).sum();
        out.push_str(&rest_line(rest.len(), bytes));
    }
    let strings = strings_listed(program);
    if strings.declared {
        for (number, quoted) in (0u32..).zip(&strings.quoted) {
            out.push_str(&string_line(quoted, number));
        }
    }
    let names = function_names(program);
    let functions = program.functions();
    let mut next_function = 1;
    for (index, instr) in (0u32..).zip(code) {
        if let Some(function) = functions.get(next_function)
            && function.entry == index
        {
            let name = names.get(next_function).map_or("", String::as_str);
            out.push_str(&fn_line(name, function, next_function));
            next_function += 1;
        }
        let label = if targets.contains(&index) {
            label(index)
        } else {
            String::new()
        };
        let target = match instr.jump_target(index) {
            Some(JumpTarget::Index(target)) => Some(target),
            Some(JumpTarget::OutOfRange(_)) | None => None,
        };
        let symbol = if let Instr::Const(constant) = instr {
            strings.inline(*constant)
        } else {
            instr
                .callee()
                .and_then(|callee| names.get(usize::from(callee)))
                .map(String::as_str)
        };
        out.push_str(&instr_line(
            &label,
            &text(instr, target, symbol),
            &comment(index, instr),
        ));
    }
    let end = u32::try_from(code.len()).unwrap_or(u32::MAX);
    if targets.contains(&end) {
        out.push_str(&end_line(end));
    }
    out
}

/// How a listing shows a program's string constants.
struct Strings {
    /// Each constant, quoted.
    quoted: Vec<String>,
    /// Whether the listing declares them all with `.string` lines.
    declared: bool,
    /// For each constant, whether a `CONST` naming it shows its text (else its number).
    inline: Vec<bool>,
}

impl Strings {
    /// What `CONST constant` shows as its operand: the quoted string, or `None` for the number.
    fn inline(&self, constant: u32) -> Option<&str> {
        let index = usize::try_from(constant).ok()?;
        self.inline
            .get(index)
            .copied()
            .filter(|inline| *inline)
            .and_then(|_| self.quoted.get(index))
            .map(String::as_str)
    }
}

/// How the listing of `program` shows its strings. Without `.string` lines the assembler numbers
/// the strings of `CONST` lines in the order they first appear, each text once; so when the
/// program's constants are exactly that (each named, in that order, no two alike, none longer
/// than [`MAX_INLINE_STRING`] quoted) every `CONST` shows its string and there is no `.string`
/// line. Otherwise the listing declares every constant with a `.string` line, in order, and a
/// `CONST` shows its string when that is short and the first constant with that text (the one
/// `CONST "text"` names), else its number.
fn strings_listed(program: &Program) -> Strings {
    let quoted: Vec<String> = program.constants().iter().map(|text| quote(text)).collect();
    let short: Vec<bool> = quoted
        .iter()
        .map(|quoted| quoted.len() <= MAX_INLINE_STRING)
        .collect();
    let mut first_use: Vec<u32> = Vec::new();
    let mut seen = HashSet::new();
    for instr in program.code() {
        if let Instr::Const(constant) = instr
            && seen.insert(*constant)
        {
            first_use.push(*constant);
        }
    }
    let distinct = program.constants().iter().collect::<HashSet<_>>().len() == quoted.len();
    let in_order = first_use
        .iter()
        .copied()
        .eq(0..u32::try_from(quoted.len()).unwrap_or(0));
    if distinct && in_order && short.iter().all(|short| *short) {
        return Strings {
            inline: vec![true; quoted.len()],
            quoted,
            declared: false,
        };
    }
    let mut first_of = HashSet::new();
    let inline = program
        .constants()
        .iter()
        .zip(&short)
        .map(|(text, short)| first_of.insert(text) && *short)
        .collect();
    Strings {
        quoted,
        declared: !program.constants().is_empty(),
        inline,
    }
}

/// The longest listing [`disassemble`] can print: of a program with the most instructions a
/// `.mvb` may hold, each of the widest line, the most functions, each with the widest `.fn`
/// line, the longest `.string` lines a file's strings can make, and the most section notes.
/// This is the limit on `.mvasm` input, so that every listing is read back. It is derived from
/// the lines' own formatting and the instruction set, never written down separately.
pub fn max_listing_len() -> usize {
    let instructions = usize::try_from(MAX_INSTRUCTIONS).unwrap_or(usize::MAX);
    let most_sections = MAX_FILE_LEN / SECTION_HEADER_LEN;
    header_line(instructions).len()
        + MAX_SECTION_NOTES * section_line(u16::MAX, MAX_FILE_LEN).len()
        + rest_line(most_sections, MAX_FILE_LEN).len()
        + max_string_lines_len()
        + instructions * max_line_len()
        + MAX_FUNCTIONS * max_fn_line_len()
        + end_line(MAX_INSTRUCTIONS).len()
}

/// The most bytes a quoted string takes per byte of the string: 6, for a control character
/// written `\u{1f}`.
pub const MAX_QUOTE_RATIO: usize = 6;

/// An upper bound on the length of the `.string` lines of a file's strings, which take at most
/// [`MAX_FILE_LEN`] bytes of it, 4 bytes for each string's length and its bytes. A string of `n`
/// bytes gets a line of at most the line of an empty string, with the largest number, plus
/// [`MAX_QUOTE_RATIO`] times `n`; so the bound is the larger of the file filled with empty
/// strings and the file filled with one string's bytes.
pub fn max_string_lines_len() -> usize {
    let most = MAX_FILE_LEN / 4;
    let empty = string_line("\"\"", u32::try_from(most).unwrap_or(u32::MAX)).len();
    (most * empty).max(MAX_FILE_LEN * MAX_QUOTE_RATIO)
}

/// The length of the widest `.fn` line: the longest name, the largest counts and number.
pub fn max_fn_line_len() -> usize {
    let widest = Function {
        entry: 0,
        params: u16::MAX,
        results: 0,
        ref_params: u16::MAX,
        ref_results: 1,
    };
    fn_line(&"x".repeat(MAX_NAME_LEN), &widest, MAX_FUNCTIONS).len()
}

/// An upper bound on the length of the line of one instruction: the longest label (of the
/// largest index) and the widest line of any opcode with any operands at the ends of their
/// ranges (a call naming a function by the longest name, a `CONST` showing the longest string),
/// at the largest index.
pub fn max_line_len() -> usize {
    let last = MAX_INSTRUCTIONS - 1;
    let mut widest = 0;
    for &opcode in Opcode::ALL {
        let longest_symbol = longest_symbol(opcode);
        for instr in extreme_instrs(opcode) {
            let texts = [
                text(&instr, None, None),
                text(&instr, Some(MAX_INSTRUCTIONS), None),
                text(&instr, None, Some(&longest_symbol)),
            ];
            for text in texts {
                let line = instr_line(&label(MAX_INSTRUCTIONS), &text, &comment(last, &instr));
                widest = widest.max(line.len());
            }
        }
    }
    widest
}

/// The longest operand a listing shows by a name for `opcode`: a quoted string of
/// [`MAX_INLINE_STRING`] bytes for `CONST`, a name of [`MAX_NAME_LEN`] for a call (and any
/// other opcode, which shows none).
fn longest_symbol(opcode: Opcode) -> String {
    if opcode == Opcode::Const {
        format!("\"{}\"", "x".repeat(MAX_INLINE_STRING - 2))
    } else {
        "x".repeat(MAX_NAME_LEN)
    }
}

/// `opcode` with every combination of its operands at the ends of their ranges.
fn extreme_instrs(opcode: Opcode) -> Vec<Instr> {
    let mut operand_sets: Vec<Vec<i64>> = vec![Vec::new()];
    for kind in opcode.operand_kinds() {
        let (min, max) = kind.range();
        operand_sets = operand_sets
            .into_iter()
            .flat_map(|set| {
                [min, max].map(|value| {
                    let mut set = set.clone();
                    set.push(value);
                    set
                })
            })
            .collect();
    }
    operand_sets
        .iter()
        .filter_map(|operands| Instr::new(opcode, operands).ok())
        .collect()
}

fn header_line(count: usize) -> String {
    format!(
        "; Mova bytecode, {count} instruction{}\n",
        if count == 1 { "" } else { "s" }
    )
}

fn section_line(kind: u16, len: usize) -> String {
    format!("; not shown: optional section 0x{kind:04X} ({len} bytes)\n")
}

fn rest_line(count: usize, bytes: usize) -> String {
    format!("; not shown: {count} more optional sections ({bytes} bytes)\n")
}

fn end_line(end: u32) -> String {
    format!("{}\n", label(end))
}

fn label(index: u32) -> String {
    format!("L{index}:")
}

/// The line that declares string constant `number`, `quoted`.
fn string_line(quoted: &str, number: u32) -> String {
    format!(".string {quoted} ; constant {number}\n")
}

/// A function's parameters as its `.fn` line counts them: `2` ints, `2r` references, `1 2r`
/// both.
fn params_words(function: &Function) -> String {
    match (function.params, function.ref_params) {
        (ints, 0) => ints.to_string(),
        (0, refs) => format!("{refs}r"),
        (ints, refs) => format!("{ints} {refs}r"),
    }
}

/// A function's result as its `.fn` line counts it: `0`, `1` (an int) or `1r` (a reference).
fn results_words(function: &Function) -> String {
    match function.returns() {
        mova_lang::func::Returns::Nothing => String::from("0"),
        mova_lang::func::Returns::Int => String::from("1"),
        mova_lang::func::Returns::Ref => String::from("1r"),
    }
}

/// The line that starts function `number`, after a blank line.
fn fn_line(name: &str, function: &Function, number: usize) -> String {
    let directive = format!(
        ".fn {name} {} -> {}",
        params_words(function),
        results_words(function)
    );
    format!(
        "\n{directive:<width$}{gap}; function {number}\n",
        width = LABEL_WIDTH + INSTR_WIDTH,
        gap = if directive.len() >= LABEL_WIDTH + INSTR_WIDTH {
            " "
        } else {
            ""
        },
    )
}

/// The instruction as the assembler reads it: with its jump operand as the label of `target`,
/// and a call's or a `CONST`'s operand as `symbol`, its callee's name or its quoted string.
fn text(instr: &Instr, target: Option<u32>, symbol: Option<&str>) -> String {
    if let Some(symbol) =
        symbol.filter(|_| instr.callee().is_some() || matches!(instr, Instr::Const(_)))
    {
        return format!("{} {symbol}", instr.opcode());
    }
    match (target, instr.opcode().jump_operand()) {
        (Some(target), Some(at)) => {
            let operands: Vec<String> = instr
                .operands()
                .iter()
                .enumerate()
                .map(|(i, value)| {
                    if i == at {
                        format!("L{target}")
                    } else {
                        value.to_string()
                    }
                })
                .collect();
            format!("{} {}", instr.opcode(), operands.join(", "))
        }
        (Some(_) | None, _) => instr.to_string(),
    }
}

/// The comment: the index, and for a jump, a call or a `CONST` the instruction as stored, with
/// its numeric operand.
fn comment(index: u32, instr: &Instr) -> String {
    if instr.opcode().jump_operand().is_some()
        || instr.callee().is_some()
        || matches!(instr, Instr::Const(_))
    {
        format!("{index}: {instr}")
    } else {
        index.to_string()
    }
}

fn instr_line(label: &str, text: &str, comment: &str) -> String {
    // An instruction wider than its column (a long string, large operands) still gets a space
    // before its comment.
    let gap = if text.chars().count() >= INSTR_WIDTH {
        " "
    } else {
        ""
    };
    format!(
        "{label:<LABEL_WIDTH$}{text:<INSTR_WIDTH$}{gap}; {comment}\n",
        label = pad_label(label),
    )
}

/// A label longer than its column still needs a space after it.
fn pad_label(label: &str) -> String {
    if label.len() >= LABEL_WIDTH {
        format!("{label} ")
    } else {
        label.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;

    #[test]
    fn labels_jump_targets_and_reassembles_to_the_same_program() {
        let program = assemble("PUT 0\nADD 1\nPRINT\nSLEEP 100\nGOTO 3\n").unwrap();
        let text = disassemble(&program);
        assert_eq!(
            text,
            "; Mova bytecode, 5 instructions\n\
             \x20       PUT 0                   ; 0\n\
             L1:     ADD 1                   ; 1\n\
             \x20       PRINT                   ; 2\n\
             \x20       SLEEP 100               ; 3\n\
             \x20       GOTO L1                 ; 4: GOTO 3\n"
        );
        assert_eq!(assemble(&text).unwrap(), program);
    }

    #[test]
    fn functions_get_their_debug_names_unless_those_would_not_read_back() {
        use mova_lang::debuginfo::{DEBUG_INFO, DebugInfo, FunctionName};
        use mova_lang::mvb::Section;
        let source = "CALL 1\nCALL 2\nCALL 3\nCALL 4\nCALL 5\nHALT\n\
                      .fn a 0 -> 0\nRET\n.fn b 0 -> 0\nRET\n.fn c 0 -> 0\nRET\n\
                      .fn d 0 -> 0\nRET\n.fn e 0 -> 0\nRET\n";
        let plain = assemble(source).unwrap();
        assert_eq!(
            function_names(&plain),
            ["main", "f1", "f2", "f3", "f4", "f5"]
        );
        let name = |function, name: &str| FunctionName {
            function,
            name: name.to_owned(),
            span: 0..0,
        };
        let info = DebugInfo {
            // `f1` is function 2's generated-looking name, `twice` is taken twice, `main` is
            // the main program's, `not one` is no assembler name; `f5` is function 5's own.
            functions: vec![
                name(1, "twice"),
                name(2, "f1"),
                name(3, "twice"),
                name(4, "not one"),
                name(5, "f5"),
            ],
            locals: Vec::new(),
        };
        let named = Program::with_functions(
            plain.code().to_vec(),
            &plain.functions()[1..],
            vec![Section {
                kind: DEBUG_INFO,
                payload: info.encode(),
            }],
        )
        .unwrap();
        assert_eq!(
            function_names(&named),
            ["main", "twice", "f2", "f3", "f4", "f5"]
        );
        let listing = disassemble(&named);
        assert!(
            listing.contains("\n.fn twice 0 -> 0                ; function 1\n"),
            "{listing}"
        );
        assert!(
            listing.contains("CALL twice              ; 0: CALL 1\n"),
            "{listing}"
        );
        assert_eq!(assemble(&listing).unwrap().encode(), plain.encode());
    }

    /// `code` with `strings` as its strings section, verified.
    fn with_strings(code: Vec<Instr>, strings: &[&str]) -> Program {
        use mova_lang::heap::encode_strings;
        use mova_lang::mvb::Section;
        let section = Section {
            kind: STRINGS,
            payload: encode_strings(strings),
        };
        Program::with_sections(code, vec![section]).unwrap()
    }

    #[test]
    fn constants_show_their_strings_and_read_back() {
        let source = "CONST \"hi \\\"you\\\"\\n\"\nCONST \"\\u{1}é\"\nCONCAT\nPRINTR\nHALT\n";
        let program = assemble(source).unwrap();
        let text = disassemble(&program);
        assert_eq!(
            text,
            "; Mova bytecode, 5 instructions\n\
             \x20       CONST \"hi \\\"you\\\"\\n\"    ; 0: CONST 0\n\
             \x20       CONST \"\\u{1}é\"          ; 1: CONST 1\n\
             \x20       CONCAT                  ; 2\n\
             \x20       PRINTR                  ; 3\n\
             \x20       HALT                    ; 4\n"
        );
        assert_eq!(assemble(&text).unwrap().encode(), program.encode());
    }

    #[test]
    fn strings_the_assembler_would_not_rebuild_are_declared_with_string_lines() {
        let long = "x".repeat(MAX_INLINE_STRING);
        let pop = |n| std::iter::repeat_n(Instr::RPop, n);
        // Out of order, twice the same text, one unused, one too long to show inline.
        let cases: Vec<(Vec<Instr>, Vec<&str>)> = vec![
            (vec![Instr::Const(1), Instr::Const(0)], vec!["a", "b"]),
            (vec![Instr::Const(0), Instr::Const(1)], vec!["a", "a"]),
            (vec![Instr::Const(0)], vec!["a", "unused"]),
            (vec![Instr::Const(0)], vec![&long]),
            (Vec::new(), vec!["never named"]),
        ];
        for (mut code, strings) in cases {
            code.extend(pop(code.len()));
            code.push(Instr::Halt);
            let program = with_strings(code, &strings);
            let text = disassemble(&program);
            assert!(text.contains(" ; constant 0\n"), "{text}");
            let again = assemble(&text).unwrap_or_else(|d| panic!("{text}\n{d:?}"));
            assert_eq!(again.encode(), program.encode(), "{text}");
            assert_eq!(disassemble(&again), text);
        }
        // A repeated text is shown for its first constant, the other by number.
        let program = with_strings(
            vec![
                Instr::Const(0),
                Instr::Const(1),
                Instr::RPop,
                Instr::RPop,
                Instr::Halt,
            ],
            &["a", "a"],
        );
        let text = disassemble(&program);
        assert!(
            text.contains("CONST \"a\"               ; 0: CONST 0\n"),
            "{text}"
        );
        assert!(
            text.contains("CONST 1                 ; 1: CONST 1\n"),
            "{text}"
        );
        // The strings in order of first use, each once, need no `.string` line.
        let program = with_strings(vec![Instr::Const(0), Instr::RPop, Instr::Halt], &["a"]);
        assert!(!disassemble(&program).contains(".string"));
    }

    #[test]
    fn fn_lines_show_reference_counts() {
        let source = "HALT\n.fn a 2r -> 1r\nCONCAT\nRETR\n.fn b 1 1r -> 1\nLEN\nADDL 0\nRETV\n\
                      .fn c 3 -> 0\nRET\n";
        let program = assemble(source).unwrap();
        let text = disassemble(&program);
        assert!(
            text.contains("\n.fn f1 2r -> 1r                 ; function 1\n"),
            "{text}"
        );
        assert!(
            text.contains("\n.fn f2 1 1r -> 1                ; function 2\n"),
            "{text}"
        );
        assert!(
            text.contains("\n.fn f3 3 -> 0                   ; function 3\n"),
            "{text}"
        );
        assert_eq!(assemble(&text).unwrap().encode(), program.encode());
    }

    #[test]
    fn string_lines_are_within_their_bound() {
        // An empty string's line is the widest per byte of the section (4 bytes a string).
        let most = u32::try_from(MAX_FILE_LEN / 4).unwrap();
        assert!(string_line("\"\"", most).len() * 4 > 2 * MAX_QUOTE_RATIO);
        for text in [
            "",
            "a",
            "\u{1}",
            "\u{1f}\u{7f}",
            "\u{9f}",
            "é",
            "😀",
            "\"\\",
        ] {
            let quoted = quote(text.as_bytes());
            assert!(quoted.len() <= 2 + MAX_QUOTE_RATIO * text.len(), "{quoted}");
            let line = string_line(&quoted, most);
            assert!(line.len() <= string_line("\"\"", most).len() + MAX_QUOTE_RATIO * text.len());
        }
    }

    #[test]
    fn the_end_of_the_code_gets_a_label_when_jumped_to() {
        let program = assemble("PUT 0\nJZ 1").unwrap();
        let text = disassemble(&program);
        assert!(text.ends_with("L2:\n"), "{text}");
        assert_eq!(assemble(&text).unwrap(), program);
    }

    #[test]
    fn no_line_is_wider_than_the_widest_line() {
        let widest = max_line_len();
        let last = MAX_INSTRUCTIONS - 1;
        for &opcode in Opcode::ALL {
            for instr in extreme_instrs(opcode) {
                for target in [None, Some(0), Some(MAX_INSTRUCTIONS)] {
                    let line = instr_line(
                        &label(last),
                        &text(&instr, target, Some(&longest_symbol(opcode))),
                        &comment(last, &instr),
                    );
                    assert!(line.len() <= widest, "{line:?} is wider than {widest}");
                }
            }
        }
        // A `CONST` of the longest string of the widest characters (the columns count
        // characters, not bytes) is within it too.
        let wide = format!("\"{}\"", "😀".repeat((MAX_INLINE_STRING - 2) / 4));
        assert!(wide.len() <= MAX_INLINE_STRING);
        let constant = Instr::Const(u32::MAX >> 1);
        let line = instr_line(
            &label(last),
            &text(&constant, None, Some(&wide)),
            &comment(last, &constant),
        );
        assert!(line.len() <= widest, "{line:?} is wider than {widest}");
        // The bound is reached, by the widest mnemonic with two operands at their widest.
        let jump = Instr::new(Opcode::IncJlt, &[i64::MIN, i64::from(i32::MIN)]).unwrap();
        let line = instr_line(
            &label(MAX_INSTRUCTIONS),
            &text(&jump, None, None),
            &comment(last, &jump),
        );
        assert_eq!(line.len(), widest);
    }

    #[test]
    fn the_mvasm_limit_holds_the_longest_listing() {
        use crate::driver::{InputKind, MAX_SOURCE_LEN};
        let instructions = usize::try_from(MAX_INSTRUCTIONS).unwrap();
        assert_eq!(InputKind::Assembly.max_len(), max_listing_len());
        assert!(max_listing_len() >= instructions * max_line_len());
        // What the issue met: 1.6 M wide instructions already overflow the `.mova` limit.
        assert!(1_600_000 * max_line_len() > MAX_SOURCE_LEN);
        assert!(1_600_000 * max_line_len() < max_listing_len());
        // The `.fn` lines are bounded by the most functions a program may have.
        assert!(max_fn_line_len() < 120, "{}", max_fn_line_len());
        // The sections' notes are bounded by the number noted one per line.
        let notes = max_listing_len()
            - instructions * max_line_len()
            - MAX_FUNCTIONS * max_fn_line_len()
            - max_string_lines_len();
        assert!(notes < (MAX_SECTION_NOTES + 3) * 100, "{notes}");
    }

    #[test]
    fn sections_beyond_the_noted_ones_are_summed_up() {
        use mova_lang::mvb::Section;
        let code = assemble("PUT 1\nPRINT\n").unwrap().code().to_vec();
        let sections: Vec<Section> = (0..20)
            .map(|i| Section {
                kind: 0x8100 + i,
                payload: vec![0; usize::from(i)],
            })
            .collect();
        let program = Program::with_sections(code, sections).unwrap();
        let text = disassemble(&program);
        let notes: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("; not shown"))
            .collect();
        assert_eq!(notes.len(), MAX_SECTION_NOTES + 1, "{text}");
        assert_eq!(
            notes.last().copied(),
            Some("; not shown: 12 more optional sections (162 bytes)")
        );
        assert_eq!(assemble(&text).unwrap().code(), program.code());
    }

    /// A program of `count` of the widest instructions a verified program can hold, each jumping
    /// to itself so that every line has a label, disassembles within the `.mvasm` limit and
    /// reassembles to the same bytes; returns the listing's length.
    fn widest_round_trip(count: usize) -> usize {
        let widest = Instr::new(Opcode::IncJlt, &[i64::MIN, 0]).unwrap();
        let program = Program::with_sections(vec![widest; count], Vec::new()).unwrap();
        let listing = disassemble(&program);
        let len = listing.len();
        assert!(len <= max_listing_len());
        let reassembled = assemble(&listing).unwrap();
        drop(listing);
        assert!(reassembled.encode() == program.encode());
        len
    }

    #[test]
    fn wide_programs_round_trip_within_their_share_of_the_limit() {
        let count = 20_000;
        let len = widest_round_trip(count);
        assert!(len <= count * max_line_len(), "{len}");
    }

    /// [`widest_round_trip`] at the largest size a `.mvb` may hold. It needs about 24 GB of
    /// memory and minutes, so it is not run by default:
    /// `cargo test --release -p mova-compiler --lib -- --ignored the_largest_program_round_trips`.
    #[test]
    #[ignore = "needs about 24 GB of memory; run it with --ignored"]
    fn the_largest_program_round_trips() {
        widest_round_trip(usize::try_from(MAX_INSTRUCTIONS).unwrap());
    }

    /// `n` with a comma between groups of three digits, as the docs write numbers.
    fn with_commas(n: usize) -> String {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(digit);
        }
        out
    }

    #[test]
    fn the_docs_state_the_derived_limits() {
        let assembly = include_str!("../../docs/assembly.md").replace('\n', " ");
        let formats = include_str!("../../docs/formats.md").replace('\n', " ");
        let limit = format!("{} bytes", with_commas(max_listing_len()));
        assert!(assembly.contains(&format!("read up to {limit}")), "{limit}");
        assert!(formats.contains(&format!("at most {limit}")), "{limit}");
        assert!(assembly.contains(&format!("({} bytes:", max_line_len())));
        assert!(assembly.contains(&format!("more than {MAX_SECTION_NOTES} optional sections")));
        assert!(assembly.contains(&format!(
            "may hold ({},",
            with_commas(usize::try_from(MAX_INSTRUCTIONS).unwrap())
        )));
    }
}
