//! The opcode dictionary: every instruction of the Mova VM, declared once.
//!
//! The table in `for_each_opcode!` below is the single source of truth for the instruction set.
//! The table is expanded by a callback macro (as wasmi's `for_each_op!`): `define_isa!` turns it
//! into the [`Opcode`] enum and every fact about an opcode — number, mnemonic, operand kinds,
//! stack effect, control flow, whether it sleeps, meaning — the pre-decoded [`Instr`] enum with
//! typed operands, the binary encoding and decoding of one instruction, the textual form the
//! disassembler prints and the assembler reads, and the Markdown table in `docs/isa.md`. Code
//! elsewhere asks these methods ("does it jump?", "does it sleep, and for how long?") instead of
//! listing opcodes, so adding an opcode is one row in the table and one arm in the VM's dispatch
//! loop (`vm/src/machine.rs`), the one exhaustive `match` on [`Instr`] outside this module: the
//! build points at it.

#![deny(clippy::indexing_slicing)]

use std::fmt;

/// The most values the operand stack holds: pushing beyond it is a stack overflow, and the state
/// image ([`crate::image`]) counts the values with a u16.
pub const STACK_LIMIT: usize = 65_535;

/// How an instruction's operand is encoded in `.mvb` and what it means.
///
/// Operands are big-endian, of a fixed width per kind; signed kinds are two's complement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperandKind {
    /// A signed 64-bit value (`i64`, 8 bytes).
    Value,
    /// A jump's backward distance in instructions (`u32`, 4 bytes): the target is
    /// `index - distance`. The seed's `GOTO` takes it.
    BackwardDistance,
    /// A jump's signed offset in instructions (`i32`, 4 bytes): the target is `index + offset`,
    /// before or after the jump.
    SignedOffset,
    /// A duration in milliseconds (`u32`, 4 bytes).
    Millis,
    /// A stack slot counted from the bottom of the current frame, slot 0 first (`u16`, 2 bytes).
    Slot,
    /// A function number, an index into the program's function table (`u16`, 2 bytes); function
    /// 0 is the main program, which no call names.
    Function,
    /// A string constant's number, an index into the program's strings section (`u32`, 4 bytes).
    Constant,
}

impl OperandKind {
    /// Every operand kind, in declaration order.
    pub const ALL: [OperandKind; 7] = [
        OperandKind::Value,
        OperandKind::BackwardDistance,
        OperandKind::SignedOffset,
        OperandKind::Millis,
        OperandKind::Slot,
        OperandKind::Function,
        OperandKind::Constant,
    ];

    /// The number of bytes the operand takes in `.mvb`.
    pub const fn width(self) -> usize {
        match self {
            OperandKind::Value => 8,
            OperandKind::BackwardDistance
            | OperandKind::SignedOffset
            | OperandKind::Millis
            | OperandKind::Constant => 4,
            OperandKind::Slot | OperandKind::Function => 2,
        }
    }

    /// The smallest and largest operand value this kind can hold.
    pub const fn range(self) -> (i64, i64) {
        match self {
            OperandKind::Value => (i64::MIN, i64::MAX),
            OperandKind::BackwardDistance | OperandKind::Millis => (0, u32::MAX as i64),
            OperandKind::Constant => (0, crate::heap::MAX_CONSTANTS as i64 - 1),
            OperandKind::SignedOffset => (i32::MIN as i64, i32::MAX as i64),
            OperandKind::Slot | OperandKind::Function => (0, u16::MAX as i64),
        }
    }

    /// The operand's name in listings, documentation and diagnostics.
    pub const fn name(self) -> &'static str {
        match self {
            OperandKind::Value => "value",
            OperandKind::BackwardDistance => "distance",
            OperandKind::SignedOffset => "offset",
            OperandKind::Millis => "ms",
            OperandKind::Slot => "slot",
            OperandKind::Function => "function",
            OperandKind::Constant => "constant",
        }
    }

    /// The operand's type as the documentation shows it.
    pub const fn type_name(self) -> &'static str {
        match self {
            OperandKind::Value => "i64",
            OperandKind::BackwardDistance | OperandKind::Millis | OperandKind::Constant => "u32",
            OperandKind::SignedOffset => "i32",
            OperandKind::Slot | OperandKind::Function => "u16",
        }
    }

    /// What the operand means, as the documentation says it.
    pub const fn meaning(self) -> &'static str {
        match self {
            OperandKind::Value => "an immediate value",
            OperandKind::BackwardDistance => {
                "a **backward** distance in instructions: the target is `index - distance`"
            }
            OperandKind::SignedOffset => {
                "a signed offset in instructions: the target is `index + offset`"
            }
            OperandKind::Millis => "a duration in milliseconds",
            OperandKind::Slot => {
                "a stack slot counted from the bottom of the current frame (in the main program, \
                 of the stack), slot 0 first"
            }
            OperandKind::Function => {
                "a function number: an index into the function table, 1 for its first function"
            }
            OperandKind::Constant => {
                "a string constant's number: an index into the strings section, 0 for the first"
            }
        }
    }

    /// The Markdown table of operand kinds, as `docs/isa.md` carries it.
    pub fn markdown_table() -> String {
        let mut table = String::from(
            "| Operand | Type | Bytes | Used by | Meaning |\n| --- | --- | --- | --- | --- |\n",
        );
        for kind in OperandKind::ALL {
            let users: Vec<String> = Opcode::ALL
                .iter()
                .filter(|opcode| opcode.operand_kinds().contains(&kind))
                .map(|opcode| format!("`{opcode}`"))
                .collect();
            table.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                kind.name(),
                kind.type_name(),
                kind.width(),
                users.join(", "),
                kind.meaning(),
            ));
        }
        table
    }

    /// Whether the operand is a jump distance (so the verifier checks its target).
    pub const fn is_jump(self) -> bool {
        match self {
            OperandKind::BackwardDistance | OperandKind::SignedOffset => true,
            OperandKind::Value
            | OperandKind::Millis
            | OperandKind::Slot
            | OperandKind::Function
            | OperandKind::Constant => false,
        }
    }

    /// Decodes an operand of this kind from exactly [`width`](Self::width) big-endian bytes.
    ///
    /// Returns `None` when `bytes` has the wrong length.
    pub fn read(self, bytes: &[u8]) -> Option<i64> {
        Some(match self {
            OperandKind::Value => i64::from_be_bytes(bytes.try_into().ok()?),
            OperandKind::BackwardDistance | OperandKind::Millis | OperandKind::Constant => {
                i64::from(u32::from_be_bytes(bytes.try_into().ok()?))
            }
            OperandKind::SignedOffset => i64::from(i32::from_be_bytes(bytes.try_into().ok()?)),
            OperandKind::Slot | OperandKind::Function => {
                i64::from(u16::from_be_bytes(bytes.try_into().ok()?))
            }
        })
    }
}

/// How many values an instruction takes from the top of each stack and how many it leaves there:
/// the operand stack of ints, and the reference stack of strings and arrays ([`crate::heap`]).
///
/// `pops` (`ref_pops`) is also the number of values the stack must hold for the instruction to
/// run: the VM traps with a stack underflow before executing an instruction that finds fewer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StackEffect {
    /// Values consumed from the top of the int stack.
    pub pops: u8,
    /// Values left on the top of the int stack in their place.
    pub pushes: u8,
    /// References consumed from the top of the reference stack.
    pub ref_pops: u8,
    /// References left on the top of the reference stack in their place.
    pub ref_pushes: u8,
}

impl StackEffect {
    /// Whether the instruction touches the reference stack.
    pub const fn uses_refs(self) -> bool {
        self.ref_pops > 0 || self.ref_pushes > 0
    }
}

/// Where control goes once an instruction has completed (a trapping instruction goes nowhere).
///
/// The stack effect is the same on every way out: a conditional jump pops (or keeps) its operand
/// whether it jumps or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// To the next instruction.
    Next,
    /// To the jump target or to the next instruction, as the condition says.
    Branch,
    /// To the jump target only.
    Jump,
    /// Nowhere: the program stops.
    Halt,
    /// Into the function its operand names, and, once that returns, to the next instruction.
    /// Its stack effect is the callee's, not the table's: it takes the callee's parameters and
    /// leaves its results.
    Call,
    /// Back to the caller, to the instruction after its call.
    Return,
}

/// Where a sleeping instruction's duration comes from (the table's `sleeps(…)` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SleepFrom {
    /// Its `ms` operand ([`OperandKind::Millis`]).
    Operand,
    /// The value on top of the stack, which it pops once the sleep completes.
    Top,
}

/// How long an instruction sleeps, as [`Instr::sleeps`] finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sleeps {
    /// It is not a sleep.
    No,
    /// For this many milliseconds, its operand.
    For(i64),
    /// For the number of milliseconds on top of the stack.
    ForTop,
}

/// Why an operand does not fit an opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OperandError {
    /// The opcode takes an operand and none was given.
    #[error("{mnemonic} needs an operand ({})", kind.name())]
    Missing {
        /// The opcode's mnemonic.
        mnemonic: &'static str,
        /// The operand it takes.
        kind: OperandKind,
    },
    /// The opcode takes no operand and one was given.
    #[error("{mnemonic} takes no operand")]
    Unexpected {
        /// The opcode's mnemonic.
        mnemonic: &'static str,
    },
    /// The operand is outside the range of its kind.
    #[error(
        "{mnemonic}'s {} must be in {}..={}, found {value}",
        kind.name(), kind.range().0, kind.range().1
    )]
    OutOfRange {
        /// The opcode's mnemonic.
        mnemonic: &'static str,
        /// The operand it takes.
        kind: OperandKind,
        /// The value that was given.
        value: i64,
    },
}

/// An instruction's operands, widened to `i64` (at most two).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Operands {
    values: [i64; 2],
    len: usize,
}

impl Operands {
    const fn of(values: [i64; 2], len: usize) -> Operands {
        Operands { values, len }
    }
}

impl std::ops::Deref for Operands {
    type Target = [i64];

    fn deref(&self) -> &[i64] {
        self.values.get(..self.len).unwrap_or_default()
    }
}

/// Defines the instruction set from the rows of `for_each_opcode!`: everything else in this
/// module is generated from them.
macro_rules! define_isa {
    ($(
        $hex:literal $name:ident $mnemonic:literal $(($k1:ident $(, $k2:ident)?))?
            [$pops:literal -> $pushes:literal $(, $flow:ident)?]
            $(refs[$rpops:literal -> $rpushes:literal])? $(sleeps($sleep:ident))?
            $picture:literal $meaning:literal;
    )*) => {
        /// An operation code: the first byte of every encoded instruction.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Opcode {
            $(
                #[doc = $meaning]
                $name = $hex,
            )*
        }

        impl Opcode {
            /// Every opcode, in the order of the table (which is also numeric order).
            pub const ALL: &'static [Opcode] = &[$(Opcode::$name),*];

            /// The opcode with this number, if there is one.
            pub const fn from_byte(byte: u8) -> Option<Opcode> {
                match byte {
                    $($hex => Some(Opcode::$name),)*
                    _ => None,
                }
            }

            /// The opcode's number, its first byte in `.mvb`.
            pub const fn byte(self) -> u8 {
                self as u8
            }

            /// The opcode's mnemonic, upper case, as listings print it.
            pub const fn mnemonic(self) -> &'static str {
                match self {
                    $(Opcode::$name => $mnemonic,)*
                }
            }

            /// The kinds of the operands the opcode takes, in order.
            pub const fn operand_kinds(self) -> &'static [OperandKind] {
                match self {
                    $(Opcode::$name => &[$(OperandKind::$k1 $(, OperandKind::$k2)?)?],)*
                }
            }

            /// What the opcode does to the stack.
            pub const fn stack_effect(self) -> StackEffect {
                match self {
                    $(Opcode::$name => StackEffect {
                        pops: $pops,
                        pushes: $pushes,
                        ref_pops: define_isa!(@first $($rpops)?),
                        ref_pushes: define_isa!(@first $($rpushes)?),
                    },)*
                }
            }

            /// Where control goes once the opcode has completed.
            pub const fn flow(self) -> Flow {
                match self {
                    $(Opcode::$name => define_isa!(@flow $($flow)?),)*
                }
            }

            /// Whether the opcode sleeps, and where its duration comes from.
            pub const fn sleep(self) -> Option<SleepFrom> {
                match self {
                    $(Opcode::$name => define_isa!(@sleep $($sleep)?),)*
                }
            }

            /// The stack before and after the opcode, as the documentation draws it.
            pub const fn stack_picture(self) -> &'static str {
                match self {
                    $(Opcode::$name => $picture,)*
                }
            }

            /// One sentence on what the opcode does.
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(Opcode::$name => $meaning,)*
                }
            }
        }

        /// A decoded instruction with its typed operands: what the VM executes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Instr {
            $(
                #[doc = $meaning]
                $name $((define_isa!(@ty $k1) $(, define_isa!(@ty $k2))?))?,
            )*
        }

        impl Instr {
            /// The instruction's opcode.
            pub const fn opcode(&self) -> Opcode {
                match self {
                    $(Instr::$name $((define_isa!(@wild $k1) $(, define_isa!(@wild $k2))?))? => Opcode::$name,)*
                }
            }

            /// The instruction's operands, widened to `i64`, in order.
            pub fn operands(&self) -> Operands {
                match *self {
                    $(
                        Instr::$name $((define_isa!(@bind $k1, first) $(, define_isa!(@bind $k2, second))?))?
                            => define_isa!(@operands $($k1 first $(, $k2 second)?)?),
                    )*
                }
            }

            /// Builds an instruction from an opcode and its operands, checking that they fit.
            pub fn new(opcode: Opcode, operands: &[i64]) -> Result<Instr, OperandError> {
                let kinds = opcode.operand_kinds();
                let mnemonic = opcode.mnemonic();
                if let Some(&kind) = kinds.get(operands.len()) {
                    return Err(OperandError::Missing { mnemonic, kind });
                }
                if operands.len() > kinds.len() {
                    return Err(OperandError::Unexpected { mnemonic });
                }
                let value = |at: usize| operands.get(at).copied().unwrap_or_default();
                let out_of_range = |at: usize| OperandError::OutOfRange {
                    mnemonic,
                    kind: kinds.get(at).copied().unwrap_or(OperandKind::Value),
                    value: value(at),
                };
                match opcode {
                    $(
                        Opcode::$name => Ok(Instr::$name $((
                            <define_isa!(@ty $k1)>::try_from(value(0)).map_err(|_| out_of_range(0))?
                            $(, <define_isa!(@ty $k2)>::try_from(value(1)).map_err(|_| out_of_range(1))?)?
                        ))?),
                    )*
                }
            }
        }

        /// The Markdown table of the instruction set, as `docs/isa.md` carries it.
        pub fn markdown_table() -> String {
            let mut table = String::from(
                "| Hex | Mnemonic | Operands | Stack | Meaning |\n| --- | --- | --- | --- | --- |\n",
            );
            for &opcode in Opcode::ALL {
                let operands: Vec<String> = opcode
                    .operand_kinds()
                    .iter()
                    .map(|kind| format!("`{}` ({})", kind.name(), kind.type_name()))
                    .collect();
                let operands = if operands.is_empty() {
                    String::from("—")
                } else {
                    operands.join(", ")
                };
                table.push_str(&format!(
                    "| 0x{:02X} | `{}` | {} | `{}` | {} |\n",
                    opcode.byte(),
                    opcode.mnemonic(),
                    operands,
                    // A table cell's pipe must be escaped, in a code span too (GFM).
                    opcode.stack_picture().replace('|', "\\|"),
                    opcode.meaning(),
                ));
            }
            table
        }
    };

    (@ty Value) => { i64 };
    (@ty BackwardDistance) => { u32 };
    (@ty SignedOffset) => { i32 };
    (@ty Millis) => { u32 };
    (@ty Slot) => { u16 };
    (@ty Function) => { u16 };
    (@ty Constant) => { u32 };

    (@first) => { 0 };
    (@first $value:literal) => { $value };

    (@sleep) => { None };
    (@sleep $from:ident) => { Some(SleepFrom::$from) };

    (@flow) => { Flow::Next };
    (@flow $flow:ident) => { Flow::$flow };

    (@wild $kind:ident) => { _ };
    (@bind $kind:ident, $var:ident) => { $var };
    (@operands) => { Operands::of([0, 0], 0) };
    (@operands $k1:ident $a:ident) => { Operands::of([i64::from($a), 0], 1) };
    (@operands $k1:ident $a:ident, $k2:ident $b:ident) => {
        Operands::of([i64::from($a), i64::from($b)], 2)
    };
}

/// The instruction set, one row per opcode:
/// `hex Name "MNEMONIC" (OperandKind, OperandKind)? [pops -> pushes, Flow?]
/// refs[ref_pops -> ref_pushes]? sleeps(SleepFrom)? "stack picture" "meaning";` with up to two
/// operands, a [`Flow`] that is `Next` unless given, the effect on the reference stack for the
/// opcodes that touch it, and a [`SleepFrom`] for the opcodes that sleep. A stack picture shows the
/// int stack, then `|` and the reference stack when the opcode touches it. Expands to `$callback! { rows }`, so any macro can
/// generate code from the rows; `define_isa!` is the one that defines the instruction set.
macro_rules! for_each_opcode {
    ($callback:ident) => {
        $callback! {
    // The seed's five opcodes: numbers, mnemonics and meanings are fixed by the seed design.
    0x01 Put "PUT" (Value) [0 -> 1] "→ value"
        "Push `value`.";
    0x02 Add "ADD" (Value) [1 -> 1] "a → a+value"
        "Replace the top of the stack by `top + value`; overflow traps.";
    0x03 Goto "GOTO" (BackwardDistance) [0 -> 0, Jump] "—"
        "Jump backwards: the next instruction is `index - distance`.";
    0x04 Print "PRINT" [1 -> 1] "a → a"
        "Print the top of the stack in decimal and a newline; the stack is unchanged.";
    0x05 Sleep "SLEEP" (Millis) [0 -> 0] sleeps(Operand) "—"
        "Sleep `ms` milliseconds (output is flushed first).";
    // Extensions for the pseudo-language.
    0x06 Halt "HALT" [0 -> 0, Halt] "—"
        "Stop the program normally, as running off the end of the code does.";
    0x07 Pop "POP" [1 -> 0] "a →"
        "Drop the top of the stack.";
    0x08 Dup "DUP" [1 -> 2] "a → a a"
        "Push a copy of the top of the stack.";
    0x09 Load "LOAD" (Slot) [0 -> 1] "→ s"
        "Push a copy of stack slot `slot` (slot 0 is the bottom); a slot past the top traps.";
    0x0A Store "STORE" (Slot) [1 -> 0] "a →"
        "Pop a value and write it into slot `slot`, which must lie below the popped value.";
    0x0B AddS "ADDS" [2 -> 1] "a b → a+b"
        "Add the top two values; overflow traps.";
    0x0C Sub "SUB" [2 -> 1] "a b → a-b"
        "Subtract the top from the value below it; overflow traps.";
    0x0D Mul "MUL" [2 -> 1] "a b → a*b"
        "Multiply the top two values; overflow traps.";
    0x0E Div "DIV" [2 -> 1] "a b → a/b"
        "Divide, truncating toward zero; division by zero and `MIN / -1` trap.";
    0x0F Mod "MOD" [2 -> 1] "a b → a%b"
        "Remainder with the sign of the dividend `a`; a zero divisor traps.";
    0x10 Neg "NEG" [1 -> 1] "a → -a"
        "Negate; negating the smallest value traps.";
    0x11 Not "NOT" [1 -> 1] "a → !a"
        "Logical not: 1 if the top is 0, else 0.";
    0x12 Eq "EQ" [2 -> 1] "a b → a==b"
        "1 if `a == b`, else 0.";
    0x13 Ne "NE" [2 -> 1] "a b → a!=b"
        "1 if `a != b`, else 0.";
    0x14 Lt "LT" [2 -> 1] "a b → a<b"
        "1 if `a < b`, else 0.";
    0x15 Le "LE" [2 -> 1] "a b → a<=b"
        "1 if `a <= b`, else 0.";
    0x16 Gt "GT" [2 -> 1] "a b → a>b"
        "1 if `a > b`, else 0.";
    0x17 Ge "GE" [2 -> 1] "a b → a>=b"
        "1 if `a >= b`, else 0.";
    0x18 Jmp "JMP" (SignedOffset) [0 -> 0, Jump] "—"
        "Jump: the next instruction is `index + offset` (backwards when negative).";
    0x19 Jz "JZ" (SignedOffset) [1 -> 0, Branch] "a →"
        "Pop; if the value is 0, jump to `index + offset`.";
    0x1A Jnz "JNZ" (SignedOffset) [1 -> 0, Branch] "a →"
        "Pop; if the value is not 0, jump to `index + offset`.";
    0x1B SleepS "SLEEPS" [1 -> 0] sleeps(Top) "ms →"
        "Pop a duration in milliseconds and sleep that long; a negative duration traps.";
    // Superinstructions, chosen from what the compiler emits: a loop's test of its variable
    // against a constant, arithmetic by a constant, and accumulating into a variable.
    0x1C JeqK "JEQK" (Value, SignedOffset) [1 -> 1, Branch] "a → a"
        "If the top equals `value`, jump to `index + offset`; the top stays.";
    0x1D JneK "JNEK" (Value, SignedOffset) [1 -> 1, Branch] "a → a"
        "If the top differs from `value`, jump to `index + offset`; the top stays.";
    0x1E JltK "JLTK" (Value, SignedOffset) [1 -> 1, Branch] "a → a"
        "If the top is less than `value`, jump to `index + offset`; the top stays.";
    0x1F JleK "JLEK" (Value, SignedOffset) [1 -> 1, Branch] "a → a"
        "If the top is at most `value`, jump to `index + offset`; the top stays.";
    0x20 JgtK "JGTK" (Value, SignedOffset) [1 -> 1, Branch] "a → a"
        "If the top is greater than `value`, jump to `index + offset`; the top stays.";
    0x21 JgeK "JGEK" (Value, SignedOffset) [1 -> 1, Branch] "a → a"
        "If the top is at least `value`, jump to `index + offset`; the top stays.";
    0x22 MulK "MULK" (Value) [1 -> 1] "a → a*value"
        "Multiply the top by `value`; overflow traps.";
    0x23 DivK "DIVK" (Value) [1 -> 1] "a → a/value"
        "Divide the top by `value`, truncating toward zero; a zero `value` and `MIN / -1` trap.";
    0x24 ModK "MODK" (Value) [1 -> 1] "a → a%value"
        "Replace the top by its remainder modulo `value` (sign of the top); a zero `value` traps.";
    0x25 AddTo "ADDTO" (Slot) [1 -> 0] "a →"
        "Pop a value and add it to slot `slot`, which must lie below it; overflow traps.";
    0x26 AddL "ADDL" (Slot) [1 -> 1] "a → a+s"
        "Add the value in slot `slot` to the top; overflow traps.";
    0x27 SubL "SUBL" (Slot) [1 -> 1] "a → a-s"
        "Subtract the value in slot `slot` from the top; overflow traps.";
    0x28 MulL "MULL" (Slot) [1 -> 1] "a → a*s"
        "Multiply the top by the value in slot `slot`; overflow traps.";
    0x29 IncJlt "INCJLT" (Value, SignedOffset) [1 -> 1, Branch] "a → a+1"
        "Add 1 to the top (overflow traps); if it is then less than `value`, jump to `index + offset`.";
    // Functions: frames in VM memory, slots counted from the frame's base.
    0x2A Call "CALL" (Function) [0 -> 0, Call] "args → results"
        "Call `function`: its parameters, the top values, become its slots 0, 1, …; the call's stack effect is the function's, parameters to results (0 or 1); too deep a call traps.";
    0x2B Ret "RET" [0 -> 0, Return] "… →"
        "Return from a function without a result: drop its frame's values and go back after the call.";
    0x2C RetV "RETV" [1 -> 0, Return] "… a → a"
        "Return the top value: drop the frame's values, then push the value for the caller.";
    // Strings and arrays (DESIGN §8): references on the reference stack, objects on the heap.
    // Each checks the kind of object it finds (a string, an array of ints, an array of
    // references) and every index against the length.
    0x2D Const "CONST" (Constant) [0 -> 0] refs[0 -> 1] "| → s"
        "Push a reference to string constant `constant` (no allocation: constants are immutable).";
    0x2E RLoad "RLOAD" (Slot) [0 -> 0] refs[0 -> 1] "| → r"
        "Push a copy of reference slot `slot`, counted from the frame's reference base.";
    0x2F RStore "RSTORE" (Slot) [0 -> 0] refs[1 -> 0] "| r →"
        "Pop a reference and write it into reference slot `slot`, which must lie below it.";
    0x30 RPop "RPOP" [0 -> 0] refs[1 -> 0] "| r →"
        "Drop the top reference.";
    0x31 RDup "RDUP" [0 -> 0] refs[1 -> 2] "| r → r r"
        "Push a copy of the top reference.";
    0x32 RetR "RETR" [0 -> 0, Return] refs[1 -> 0] "| … r → r"
        "Return the top reference: drop the frame's values and references, then push it for the caller.";
    0x33 Concat "CONCAT" [0 -> 0] refs[2 -> 1] "| a b → a+b"
        "Replace two strings by a new string, `a` then `b`.";
    0x34 ToStr "TOSTR" [1 -> 0] refs[0 -> 1] "n → | → s"
        "Pop an int and push a new string of it in decimal.";
    0x35 Show "SHOW" [0 -> 0] refs[1 -> 1] "| r → s"
        "Replace a reference by the string `print` shows for it: a string itself, an array as `[1, 2]` with its strings quoted.";
    0x36 PrintR "PRINTR" [0 -> 0] refs[1 -> 0] "| r →"
        "Pop a reference and print it as `SHOW` shows it, then a newline.";
    0x37 Len "LEN" [0 -> 1] refs[1 -> 0] "→ n | r →"
        "Pop a string or an array and push its length (a string's in bytes).";
    0x38 Get "GET" [1 -> 1] refs[1 -> 0] "i → v | a →"
        "Pop an index and a string or an array of ints; push its byte or element at the index (out of range traps).";
    0x39 GetR "GETR" [1 -> 0] refs[1 -> 1] "i → | a → v"
        "Pop an index and an array of references; push its element at the index (out of range traps).";
    0x3A Set "SET" [2 -> 0] refs[1 -> 0] "i v → | a →"
        "Pop a value, an index and an array of ints; write the value at the index (out of range traps).";
    0x3B SetR "SETR" [1 -> 0] refs[2 -> 0] "i → | a v →"
        "Pop a reference, an index and an array of references; write the reference at the index.";
    0x3C NewI "NEWI" [0 -> 0] refs[0 -> 1] "| → a"
        "Push a new empty array of ints.";
    0x3D NewR "NEWR" [0 -> 0] refs[0 -> 1] "| → a"
        "Push a new empty array of references.";
    0x3E Append "APPEND" [1 -> 0] refs[1 -> 1] "v → | a → a"
        "Pop an int and add it at the end of the array of ints on top, which stays.";
    0x3F AppendR "APPENDR" [0 -> 0] refs[2 -> 1] "| a v → a"
        "Pop a reference and add it at the end of the array of references below it, which stays.";
    0x40 Fill "FILL" [2 -> 0] refs[0 -> 1] "n v → | → a"
        "Pop a value and a length; push a new array of ints holding the value that many times (a negative length traps).";
    0x41 FillR "FILLR" [1 -> 0] refs[1 -> 1] "n → | v → a"
        "Pop a length and a reference; push a new array of references holding it that many times.";
    0x42 Remove "REMOVE" [0 -> 1] refs[1 -> 0] "→ v | a →"
        "Pop an array of ints, remove its last element and push it (an empty array traps).";
    0x43 RemoveR "REMOVER" [0 -> 0] refs[1 -> 1] "| a → v"
        "Pop an array of references, remove its last element and push it (an empty array traps).";
    0x44 Cmp "CMP" [0 -> 1] refs[2 -> 0] "→ c | a b →"
        "Pop two strings and push -1, 0 or 1 as `a` is below, equal to or above `b`, byte by byte.";
    // Slot forms, chosen from the benchmarks' inner loops (issue 15): a comparison that pops what
    // it tests, against a constant or a variable's slot, and jumps on it in one instruction; an
    // update of a variable in its slot by a constant; and an element access with the array and
    // the index both in slots.
    0x45 JeqKP "JEQKP" (Value, SignedOffset) [1 -> 0, Branch] "a →"
        "Pop `a`; if it equals `value`, jump to `index + offset`.";
    0x46 JneKP "JNEKP" (Value, SignedOffset) [1 -> 0, Branch] "a →"
        "Pop `a`; if it differs from `value`, jump to `index + offset`.";
    0x47 JltKP "JLTKP" (Value, SignedOffset) [1 -> 0, Branch] "a →"
        "Pop `a`; if it is less than `value`, jump to `index + offset`.";
    0x48 JleKP "JLEKP" (Value, SignedOffset) [1 -> 0, Branch] "a →"
        "Pop `a`; if it is at most `value`, jump to `index + offset`.";
    0x49 JgtKP "JGTKP" (Value, SignedOffset) [1 -> 0, Branch] "a →"
        "Pop `a`; if it is greater than `value`, jump to `index + offset`.";
    0x4A JgeKP "JGEKP" (Value, SignedOffset) [1 -> 0, Branch] "a →"
        "Pop `a`; if it is at least `value`, jump to `index + offset`.";
    0x4B JeqLP "JEQLP" (Slot, SignedOffset) [1 -> 0, Branch] "a →"
        "Pop `a`; if it equals the value `s` in slot `slot`, which must lie below it, jump to `index + offset`.";
    0x4C JneLP "JNELP" (Slot, SignedOffset) [1 -> 0, Branch] "a →"
        "Pop `a`; if it differs from the value `s` in slot `slot`, which must lie below it, jump to `index + offset`.";
    0x4D JltLP "JLTLP" (Slot, SignedOffset) [1 -> 0, Branch] "a →"
        "Pop `a`; if `a < s`, with `s` the value in slot `slot`, which must lie below it, jump to `index + offset`.";
    0x4E JleLP "JLELP" (Slot, SignedOffset) [1 -> 0, Branch] "a →"
        "Pop `a`; if `a <= s`, with `s` the value in slot `slot`, which must lie below it, jump to `index + offset`.";
    0x4F JgtLP "JGTLP" (Slot, SignedOffset) [1 -> 0, Branch] "a →"
        "Pop `a`; if `a > s`, with `s` the value in slot `slot`, which must lie below it, jump to `index + offset`.";
    0x50 JgeLP "JGELP" (Slot, SignedOffset) [1 -> 0, Branch] "a →"
        "Pop `a`; if `a >= s`, with `s` the value in slot `slot`, which must lie below it, jump to `index + offset`.";
    0x51 AddKTo "ADDKTO" (Slot, Value) [0 -> 0] "—"
        "Add `value` to the value in slot `slot`, in place; overflow traps, leaving it unchanged.";
    0x52 MulKTo "MULKTO" (Slot, Value) [0 -> 0] "—"
        "Multiply the value in slot `slot` by `value`, in place; overflow traps, leaving it unchanged.";
    0x53 DivKTo "DIVKTO" (Slot, Value) [0 -> 0] "—"
        "Divide the value in slot `slot` by `value`, in place, truncating toward zero; a zero `value` and `MIN / -1` trap.";
    0x54 ModKTo "MODKTO" (Slot, Value) [0 -> 0] "—"
        "Replace the value in slot `slot` by its remainder modulo `value` (sign of the dividend), in place; a zero `value` traps.";
    0x55 GetL "GETL" (Slot, Slot) [0 -> 1] "→ v"
        "Push the byte or element at index `i` of the string or array of ints in reference slot `slot` (the first operand), with `i` the value in int slot `slot` (the second); out of range traps.";
    0x56 SetL "SETL" (Slot, Slot) [1 -> 0] "v →"
        "Pop a value and write it at index `i` of the array of ints in reference slot `slot` (the first operand), with `i` the value in int slot `slot` (the second), which must lie below it; out of range traps.";
    0x57 ConcatI "CONCATI" [1 -> 0] refs[1 -> 1] "n → | s → s+n"
        "Pop an int and replace the string on top by a new string, it followed by the int in decimal (`TOSTR; CONCAT` without the string between).";
        }
    };
}

for_each_opcode!(define_isa);

impl Opcode {
    /// The opcode whose mnemonic is `name`, compared without regard to case.
    pub fn from_mnemonic(name: &str) -> Option<Opcode> {
        Opcode::ALL
            .iter()
            .copied()
            .find(|opcode| opcode.mnemonic().eq_ignore_ascii_case(name))
    }

    /// The number of bytes an instruction with this opcode takes in `.mvb`.
    pub const fn encoded_len(self) -> usize {
        let mut len = 1;
        let mut kinds = self.operand_kinds();
        while let [kind, rest @ ..] = kinds {
            len += kind.width();
            kinds = rest;
        }
        len
    }

    /// The position of the opcode's `ms` operand, if it has one.
    fn millis_operand(self) -> Option<usize> {
        self.operand_kinds()
            .iter()
            .position(|kind| *kind == OperandKind::Millis)
    }

    /// The position of the opcode's jump operand, if it has one.
    pub fn jump_operand(self) -> Option<usize> {
        self.operand_kinds().iter().position(|kind| kind.is_jump())
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mnemonic())
    }
}

/// Where a jump instruction goes, relative to the code it sits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JumpTarget {
    /// The target is the instruction with this index, or the end of the code (a normal halt) when
    /// the index equals the code length.
    Index(u32),
    /// The target lies before the first instruction or past the end of the code.
    OutOfRange(i64),
}

impl Instr {
    /// The instruction's length in bytes in `.mvb`.
    pub fn encoded_len(&self) -> usize {
        self.opcode().encoded_len()
    }

    /// Appends the instruction's binary encoding to `out`: the opcode byte, then each operand
    /// big-endian in the width of its kind.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let opcode = self.opcode();
        out.push(opcode.byte());
        for (kind, value) in opcode.operand_kinds().iter().zip(self.operands().iter()) {
            // `Instr` holds each operand in its kind's own type, so the low `width` bytes of the
            // widened value are exactly its two's-complement encoding.
            let bytes = value.to_be_bytes();
            let low = bytes.get(bytes.len().saturating_sub(kind.width())..);
            out.extend_from_slice(low.unwrap_or_default());
        }
    }

    /// Decodes one instruction from the start of `bytes`, returning it and its encoded length.
    pub fn decode(bytes: &[u8]) -> Result<(Instr, usize), InstrDecodeError> {
        let (&byte, rest) = bytes.split_first().ok_or(InstrDecodeError::Empty)?;
        let opcode = Opcode::from_byte(byte).ok_or(InstrDecodeError::UnknownOpcode(byte))?;
        let mut operands = [0i64; 2];
        let mut at = 0;
        for (slot, kind) in operands.iter_mut().zip(opcode.operand_kinds()) {
            *slot = rest
                .get(at..at + kind.width())
                .and_then(|operand| kind.read(operand))
                .ok_or(InstrDecodeError::TruncatedOperand {
                    opcode,
                    available: rest.len(),
                })?;
            at += kind.width();
        }
        let count = opcode.operand_kinds().len();
        let read = operands.get(..count).unwrap_or_default();
        let instr = Instr::new(opcode, read).map_err(InstrDecodeError::Operand)?;
        Ok((instr, 1 + at))
    }

    /// Where this instruction jumps when it sits at `index`, if it is a jump.
    pub fn jump_target(&self, index: u32) -> Option<JumpTarget> {
        let opcode = self.opcode();
        let at = opcode.jump_operand()?;
        let offset = *self.operands().get(at)?;
        let target = match opcode.operand_kinds().get(at)? {
            OperandKind::BackwardDistance => i64::from(index) - offset,
            OperandKind::SignedOffset => i64::from(index) + offset,
            OperandKind::Value
            | OperandKind::Millis
            | OperandKind::Slot
            | OperandKind::Function
            | OperandKind::Constant => return None,
        };
        Some(match u32::try_from(target) {
            Ok(target) => JumpTarget::Index(target),
            Err(_) => JumpTarget::OutOfRange(target),
        })
    }

    /// Whether this instruction sleeps, and for how long, as its opcode's [`SleepFrom`] says.
    pub fn sleeps(&self) -> Sleeps {
        match self.opcode().sleep() {
            None => Sleeps::No,
            Some(SleepFrom::Top) => Sleeps::ForTop,
            Some(SleepFrom::Operand) => {
                let ms = self.opcode().millis_operand();
                match ms.and_then(|at| self.operands().get(at).copied()) {
                    Some(ms) => Sleeps::For(ms),
                    // A `sleeps(Operand)` row without an `ms` operand; the table's tests refuse it.
                    None => Sleeps::No,
                }
            }
        }
    }

    /// Where control can go once this instruction, sitting at `index`, has completed, as its
    /// opcode's [`Flow`] says, within the function it is in: the next instruction, the jump
    /// target, both (the next one first) or neither. A call goes on to the next instruction (once
    /// its callee has returned); a return goes nowhere in its own function.
    pub fn successors(&self, index: u32) -> impl Iterator<Item = JumpTarget> {
        let next = match index.checked_add(1) {
            Some(next) => JumpTarget::Index(next),
            None => JumpTarget::OutOfRange(i64::from(index) + 1),
        };
        let (falls_through, jumps) = match self.opcode().flow() {
            Flow::Next | Flow::Call => (true, false),
            Flow::Branch => (true, true),
            Flow::Jump => (false, true),
            Flow::Halt | Flow::Return => (false, false),
        };
        let target = jumps.then(|| self.jump_target(index)).flatten();
        falls_through.then_some(next).into_iter().chain(target)
    }

    /// The function this instruction calls, if it is a call.
    pub fn callee(&self) -> Option<u16> {
        let opcode = self.opcode();
        let at = opcode
            .operand_kinds()
            .iter()
            .position(|kind| *kind == OperandKind::Function)?;
        u16::try_from(*self.operands().get(at)?).ok()
    }

    /// The instruction with its jump operand replaced by `offset`, if it is a jump and the
    /// offset fits.
    pub fn with_jump_offset(&self, offset: i64) -> Option<Instr> {
        let opcode = self.opcode();
        let at = opcode.jump_operand()?;
        let operands = self.operands();
        let mut values = [0i64; 2];
        values.get_mut(..operands.len())?.copy_from_slice(&operands);
        *values.get_mut(at)? = offset;
        Instr::new(opcode, values.get(..operands.len())?).ok()
    }
}

impl fmt::Display for Instr {
    /// The instruction as `.mvasm` writes it: `PUT 0`, `PRINT`, `JLTK 10, -3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.opcode().mnemonic())?;
        for (i, operand) in self.operands().iter().enumerate() {
            write!(f, "{}{operand}", if i == 0 { " " } else { ", " })?;
        }
        Ok(())
    }
}

/// Why the bytes at some position are not an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InstrDecodeError {
    /// There are no bytes left.
    #[error("expected an instruction, found the end of the code")]
    Empty,
    /// The first byte is not an opcode.
    #[error("unknown opcode 0x{0:02X}")]
    UnknownOpcode(u8),
    /// The operand is cut short.
    #[error("truncated operand of {opcode}: needs {} bytes, {available} left", opcode.encoded_len() - 1)]
    TruncatedOperand {
        /// The opcode whose operand is cut short.
        opcode: Opcode,
        /// How many bytes were left after the opcode.
        available: usize,
    },
    /// The operand does not fit the opcode (cannot happen for well-formed widths; kept so that decoding
    /// reports rather than panics if the table and the widths ever disagree).
    #[error("{0}")]
    Operand(OperandError),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn seed_opcodes_keep_their_numbers_and_mnemonics() {
        let seed = [
            (0x01, "PUT", Some(OperandKind::Value)),
            (0x02, "ADD", Some(OperandKind::Value)),
            (0x03, "GOTO", Some(OperandKind::BackwardDistance)),
            (0x04, "PRINT", None),
            (0x05, "SLEEP", Some(OperandKind::Millis)),
        ];
        for (byte, mnemonic, kind) in seed {
            let opcode = Opcode::from_byte(byte).unwrap();
            assert_eq!(opcode.mnemonic(), mnemonic);
            assert_eq!(opcode.operand_kinds().first().copied(), kind);
            assert!(opcode.operand_kinds().len() <= 1);
        }
    }

    #[test]
    fn opcodes_are_dense_from_one_and_in_numeric_order() {
        for (i, opcode) in Opcode::ALL.iter().enumerate() {
            assert_eq!(usize::from(opcode.byte()), i + 1, "{opcode}");
            assert_eq!(Opcode::from_byte(opcode.byte()), Some(*opcode));
        }
        assert_eq!(Opcode::from_byte(0x00), None, "0x00 must stay invalid");
        let next = u8::try_from(Opcode::ALL.len() + 1).unwrap();
        assert_eq!(Opcode::from_byte(next), None);
    }

    #[test]
    fn mnemonics_are_unique_and_case_insensitive() {
        for opcode in Opcode::ALL {
            assert_eq!(Opcode::from_mnemonic(opcode.mnemonic()), Some(*opcode));
            let lower = opcode.mnemonic().to_ascii_lowercase();
            assert_eq!(Opcode::from_mnemonic(&lower), Some(*opcode));
        }
        assert_eq!(Opcode::from_mnemonic("PUTS"), None);
    }

    #[test]
    fn every_opcode_round_trips_at_the_edges_of_its_operand_ranges() {
        for &opcode in Opcode::ALL {
            let kinds = opcode.operand_kinds();
            for pick in 0..4 {
                let operands: Vec<i64> = kinds
                    .iter()
                    .enumerate()
                    .map(|(i, kind)| {
                        let (lo, hi) = kind.range();
                        [lo, hi, 0, lo / 2 + hi / 2][(pick + i) % 4]
                    })
                    .collect();
                let instr = Instr::new(opcode, &operands).unwrap();
                let mut bytes = Vec::new();
                instr.encode_into(&mut bytes);
                assert_eq!(bytes.len(), opcode.encoded_len());
                assert_eq!(Instr::decode(&bytes), Ok((instr, bytes.len())));
                assert_eq!(*instr.operands(), operands[..]);
            }
        }
    }

    #[test]
    fn at_most_one_operand_is_a_jump() {
        for &opcode in Opcode::ALL {
            let jumps = opcode
                .operand_kinds()
                .iter()
                .filter(|kind| kind.is_jump())
                .count();
            assert!(jumps <= 1, "{opcode}");
        }
    }

    #[test]
    fn an_opcode_jumps_exactly_when_it_has_a_jump_operand() {
        for &opcode in Opcode::ALL {
            let jumps = matches!(opcode.flow(), Flow::Branch | Flow::Jump);
            assert_eq!(jumps, opcode.jump_operand().is_some(), "{opcode}");
        }
        // The seed's GOTO and the plain JMP are the unconditional jumps, HALT the only stop.
        let flows = |flow| {
            Opcode::ALL
                .iter()
                .filter(|opcode| opcode.flow() == flow)
                .copied()
                .collect::<Vec<_>>()
        };
        assert_eq!(flows(Flow::Jump), [Opcode::Goto, Opcode::Jmp]);
        assert_eq!(flows(Flow::Halt), [Opcode::Halt]);
    }

    #[test]
    fn an_opcode_sleeps_for_its_operand_exactly_when_it_has_an_ms_operand() {
        for &opcode in Opcode::ALL {
            let has_ms = opcode.millis_operand().is_some();
            assert_eq!(
                opcode.sleep() == Some(SleepFrom::Operand),
                has_ms,
                "{opcode}"
            );
            if opcode.sleep() == Some(SleepFrom::Top) {
                assert!(
                    opcode.stack_effect().pops >= 1,
                    "{opcode} pops its duration"
                );
            }
        }
        assert_eq!(Instr::Sleep(250).sleeps(), Sleeps::For(250));
        assert_eq!(Instr::SleepS.sleeps(), Sleeps::ForTop);
        assert_eq!(Instr::Put(250).sleeps(), Sleeps::No);
        let sleeping: Vec<_> = Opcode::ALL
            .iter()
            .filter(|opcode| opcode.sleep().is_some())
            .copied()
            .collect();
        assert_eq!(sleeping, [Opcode::Sleep, Opcode::SleepS]);
    }

    #[test]
    fn successors_follow_the_flow() {
        let at = |instr: Instr, index| instr.successors(index).collect::<Vec<_>>();
        assert_eq!(at(Instr::Put(1), 4), [JumpTarget::Index(5)]);
        assert_eq!(at(Instr::Goto(3), 4), [JumpTarget::Index(1)]);
        assert_eq!(at(Instr::Jmp(-4), 4), [JumpTarget::Index(0)]);
        assert_eq!(
            at(Instr::Jz(2), 4),
            [JumpTarget::Index(5), JumpTarget::Index(6)]
        );
        assert_eq!(
            at(Instr::IncJlt(9, -1), 4),
            [JumpTarget::Index(5), JumpTarget::Index(3)]
        );
        assert_eq!(at(Instr::Halt, 4), []);
        assert_eq!(
            at(Instr::Print, u32::MAX),
            [JumpTarget::OutOfRange(1 << 32)]
        );
    }

    #[test]
    fn operands_are_checked_against_their_kind() {
        assert_eq!(
            Instr::new(Opcode::Print, &[1]),
            Err(OperandError::Unexpected { mnemonic: "PRINT" })
        );
        assert_eq!(
            Instr::new(Opcode::Put, &[]),
            Err(OperandError::Missing {
                mnemonic: "PUT",
                kind: OperandKind::Value
            })
        );
        let err = Instr::new(Opcode::Goto, &[-1]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "GOTO's distance must be in 0..=4294967295, found -1"
        );
        assert!(Instr::new(Opcode::Load, &[65_536]).is_err());
        assert!(Instr::new(Opcode::Jmp, &[-2_147_483_648]).is_ok());
        assert_eq!(
            Instr::new(Opcode::JltK, &[5]),
            Err(OperandError::Missing {
                mnemonic: "JLTK",
                kind: OperandKind::SignedOffset
            })
        );
        assert!(Instr::new(Opcode::JltK, &[5, 1 << 40]).is_err());
        assert_eq!(Instr::new(Opcode::JltK, &[5, -3]), Ok(Instr::JltK(5, -3)));
    }

    #[test]
    fn encoding_is_big_endian_as_documented() {
        let mut bytes = Vec::new();
        Instr::Put(0x0102_0304_0506_0708).encode_into(&mut bytes);
        Instr::Goto(3).encode_into(&mut bytes);
        Instr::Jmp(-2).encode_into(&mut bytes);
        Instr::Load(0x0A0B).encode_into(&mut bytes);
        Instr::Print.encode_into(&mut bytes);
        Instr::JltK(300, -2).encode_into(&mut bytes);
        assert_eq!(
            bytes,
            [
                0x01, 1, 2, 3, 4, 5, 6, 7, 8, //
                0x03, 0, 0, 0, 3, //
                0x18, 0xFF, 0xFF, 0xFF, 0xFE, //
                0x09, 0x0A, 0x0B, //
                0x04, //
                0x1E, 0, 0, 0, 0, 0, 0, 1, 0x2C, 0xFF, 0xFF, 0xFF, 0xFE,
            ]
        );
    }

    #[test]
    fn decoding_reports_unknown_and_truncated_instructions() {
        assert_eq!(Instr::decode(&[]), Err(InstrDecodeError::Empty));
        assert_eq!(
            Instr::decode(&[0xEE]),
            Err(InstrDecodeError::UnknownOpcode(0xEE))
        );
        assert_eq!(
            Instr::decode(&[0x01, 0, 0]),
            Err(InstrDecodeError::TruncatedOperand {
                opcode: Opcode::Put,
                available: 2
            })
        );
    }

    #[test]
    fn jump_targets_follow_the_operand_kind() {
        assert_eq!(Instr::Goto(3).jump_target(4), Some(JumpTarget::Index(1)));
        assert_eq!(
            Instr::Goto(5).jump_target(4),
            Some(JumpTarget::OutOfRange(-1))
        );
        assert_eq!(Instr::Jz(2).jump_target(4), Some(JumpTarget::Index(6)));
        assert_eq!(Instr::Jmp(-4).jump_target(4), Some(JumpTarget::Index(0)));
        assert_eq!(Instr::Put(3).jump_target(4), None);
        assert_eq!(
            Instr::JgeK(9, -4).jump_target(4),
            Some(JumpTarget::Index(0))
        );
        assert_eq!(
            Instr::JgeK(9, -4).with_jump_offset(-1),
            Some(Instr::JgeK(9, -1))
        );
        assert_eq!(Instr::Put(3).with_jump_offset(-1), None);
    }

    #[test]
    fn display_is_the_assembler_syntax() {
        assert_eq!(Instr::Put(-7).to_string(), "PUT -7");
        assert_eq!(Instr::Print.to_string(), "PRINT");
        assert_eq!(Instr::Goto(3).to_string(), "GOTO 3");
        assert_eq!(Instr::JltK(10, -3).to_string(), "JLTK 10, -3");
    }
}
