//! The disassembler: a [`Program`] back to `.mvasm` text that the assembler reads back to the same
//! program.
//!
//! Jump targets get labels (`L4` names instruction 4, and `L<len>` the end of the code); each line
//! ends with a comment giving the instruction's index, and for jumps and calls the raw operand, so
//! the listing also shows what is in the file. Each function starts with its `.fn` line, named as
//! the program's debug info names it (`f1`, `f2`, … otherwise), and calls name their function.

use crate::asm::MAIN_WORD;
use mova_lang::func::{FUNCTIONS, MAX_FUNCTIONS};
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
    // The function table is what the `.fn` lines show.
    let sections: Vec<_> = program
        .sections()
        .iter()
        .filter(|section| section.kind != FUNCTIONS)
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
    let names = function_names(program);
    let functions = program.functions();
    let mut next_function = 1;
    for (index, instr) in (0u32..).zip(code) {
        if let Some(function) = functions.get(next_function)
            && function.entry == index
        {
            let name = names.get(next_function).map_or("", String::as_str);
            out.push_str(&fn_line(
                name,
                function.params,
                function.results,
                next_function,
            ));
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
        let callee = instr
            .callee()
            .and_then(|callee| names.get(usize::from(callee)))
            .map(String::as_str);
        out.push_str(&instr_line(
            &label,
            &text(instr, target, callee),
            &comment(index, instr),
        ));
    }
    let end = u32::try_from(code.len()).unwrap_or(u32::MAX);
    if targets.contains(&end) {
        out.push_str(&end_line(end));
    }
    out
}

/// The longest listing [`disassemble`] can print: of a program with the most instructions a
/// `.mvb` may hold, each of the widest line, the most functions, each with the widest `.fn`
/// line, and the most section notes. This is the limit on `.mvasm` input, so that every listing
/// is read back. It is derived from the lines' own formatting and the instruction set, never
/// written down separately.
pub fn max_listing_len() -> usize {
    let instructions = usize::try_from(MAX_INSTRUCTIONS).unwrap_or(usize::MAX);
    let most_sections = MAX_FILE_LEN / SECTION_HEADER_LEN;
    header_line(instructions).len()
        + MAX_SECTION_NOTES * section_line(u16::MAX, MAX_FILE_LEN).len()
        + rest_line(most_sections, MAX_FILE_LEN).len()
        + instructions * max_line_len()
        + MAX_FUNCTIONS * max_fn_line_len()
        + end_line(MAX_INSTRUCTIONS).len()
}

/// The length of the widest `.fn` line: the longest name, the largest counts and number.
pub fn max_fn_line_len() -> usize {
    fn_line(&"x".repeat(MAX_NAME_LEN), u16::MAX, 1, MAX_FUNCTIONS).len()
}

/// An upper bound on the length of the line of one instruction: the longest label (of the
/// largest index) and the widest line of any opcode with any operands at the ends of their
/// ranges (a call naming a function by the longest name), at the largest index.
pub fn max_line_len() -> usize {
    let last = MAX_INSTRUCTIONS - 1;
    let longest_name = "x".repeat(MAX_NAME_LEN);
    let mut widest = 0;
    for &opcode in Opcode::ALL {
        for instr in extreme_instrs(opcode) {
            let texts = [
                text(&instr, None, None),
                text(&instr, Some(MAX_INSTRUCTIONS), None),
                text(&instr, None, Some(&longest_name)),
            ];
            for text in texts {
                let line = instr_line(&label(MAX_INSTRUCTIONS), &text, &comment(last, &instr));
                widest = widest.max(line.len());
            }
        }
    }
    widest
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

/// The line that starts function `number`, after a blank line.
fn fn_line(name: &str, params: u16, results: u8, number: usize) -> String {
    let directive = format!(".fn {name} {params} -> {results}");
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
/// and a call's operand as its callee's name `callee`.
fn text(instr: &Instr, target: Option<u32>, callee: Option<&str>) -> String {
    if let Some(callee) = callee.filter(|_| instr.callee().is_some()) {
        return format!("{} {callee}", instr.opcode());
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

/// The comment: the index, and for a jump or a call the instruction as stored, with its numeric
/// operand.
fn comment(index: u32, instr: &Instr) -> String {
    if instr.opcode().jump_operand().is_some() || instr.callee().is_some() {
        format!("{index}: {instr}")
    } else {
        index.to_string()
    }
}

fn instr_line(label: &str, text: &str, comment: &str) -> String {
    format!(
        "{label:<LABEL_WIDTH$}{text:<INSTR_WIDTH$}; {comment}\n",
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
                        &text(&instr, target, Some(&"x".repeat(MAX_NAME_LEN))),
                        &comment(last, &instr),
                    );
                    assert!(line.len() <= widest, "{line:?} is wider than {widest}");
                }
            }
        }
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
        let notes =
            max_listing_len() - instructions * max_line_len() - MAX_FUNCTIONS * max_fn_line_len();
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
