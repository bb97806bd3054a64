//! The interpreter: one dispatch loop over a verified program's pre-decoded instructions.
//!
//! [`Vm::run`] never exits the process or panics; it returns an [`Outcome`]. Every outcome leaves
//! the VM at a clean instruction boundary with all output flushed, which is what pausing, saving
//! and migrating rely on.
//!
//! **Architecture Invariant:** an instruction either completes or leaves the VM exactly as it found
//! it. A trap reports the faulting instruction with the stack untouched, so a trapped VM shows the
//! state that caused the trap.

use crate::interrupt::Interrupt;
use mova_lang::isa::Instr;
use mova_lang::mvb::Program;
use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

/// The most values the operand stack holds (the state image counts them with a u16).
pub const STACK_LIMIT: usize = 65_535;

/// A program and its execution state: the instruction pointer and the operand stack.
#[derive(Debug)]
pub struct Vm {
    program: Program,
    ip: u32,
    stack: Vec<i64>,
    /// The time a sleep had left when a pause interrupted it. The IP then still points at that
    /// sleep, which finishes this remainder, not its full duration, when the VM runs again.
    sleep_left: Option<Duration>,
}

/// How a call to [`Vm::run`] ended.
#[derive(Debug)]
pub enum Outcome {
    /// The program ran off the end of its code or executed `HALT`.
    Halted,
    /// A pause was requested; the VM stopped at an instruction boundary and can run on.
    Paused,
    /// An instruction could not execute.
    Trapped(Trap),
}

/// A runtime error: which instruction failed, and why.
#[derive(Debug)]
pub struct Trap {
    /// The index of the faulting instruction (the VM's IP still points at it).
    pub ip: u32,
    /// The faulting instruction.
    pub instr: Instr,
    /// What went wrong.
    pub kind: TrapKind,
}

/// Why an instruction could not execute.
#[derive(Debug, thiserror::Error)]
pub enum TrapKind {
    /// A push onto a full stack.
    #[error("stack overflow: the stack already holds {STACK_LIMIT} values")]
    StackOverflow,
    /// Fewer values on the stack than the instruction takes.
    #[error("stack underflow: it needs {needed} value{}, the stack holds {depth}", if *needed == 1 { "" } else { "s" })]
    StackUnderflow {
        /// How many values the instruction takes.
        needed: u8,
        /// How many the stack holds.
        depth: usize,
    },
    /// An arithmetic result outside `i64`.
    #[error("integer overflow: {expr} does not fit in 64 bits")]
    Overflow {
        /// The operation, as `a + b`.
        expr: String,
    },
    /// A division or remainder by zero.
    #[error("division by zero: {expr}")]
    DivisionByZero {
        /// The operation, as `a / 0`.
        expr: String,
    },
    /// A slot that is not on the stack.
    #[error("slot {slot} is out of range: the stack holds {depth} value{}{}", if *depth == 1 { "" } else { "s" }, if *storing { " below the stored one" } else { "" })]
    SlotOutOfRange {
        /// The slot.
        slot: u16,
        /// How many values the slot could address.
        depth: usize,
        /// Whether the access was a store (which addresses the values below the popped one).
        storing: bool,
    },
    /// A negative duration for `SLEEPS`.
    #[error("negative sleep duration: {ms} ms")]
    NegativeSleep {
        /// The duration.
        ms: i64,
    },
    /// Writing the program's output failed.
    #[error("cannot write output: {0}")]
    Output(io::Error),
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "trap at instruction {} (`{}`): {}",
            self.ip, self.instr, self.kind
        )
    }
}

impl Vm {
    /// A VM at the start of `program`, with an empty stack.
    pub fn new(program: Program) -> Vm {
        Vm {
            program,
            ip: 0,
            stack: Vec::new(),
            sleep_left: None,
        }
    }

    /// The program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The index of the next instruction to execute.
    pub fn ip(&self) -> u32 {
        self.ip
    }

    /// The operand stack, bottom first.
    pub fn stack(&self) -> &[i64] {
        &self.stack
    }

    /// Runs until the program halts, traps, or `interrupt` asks it to pause. Output goes to `out`,
    /// which is flushed before every sleep and before returning.
    ///
    /// A pending request is honoured before the first instruction, and then on every backward jump
    /// and during every sleep: a loop cannot run without passing one of those, and code without
    /// loops finishes within its own length. To resume a paused VM, clear the request and call
    /// `run` again.
    pub fn run<W: Write>(&mut self, out: &mut W, interrupt: &Interrupt) -> Outcome {
        let outcome = self.execute(out, interrupt);
        let flushed = out.flush();
        match (outcome, flushed) {
            (Outcome::Halted | Outcome::Paused, Err(error)) => {
                // The output is lost, not the state: report it against the instruction reached.
                let instr = self.current().unwrap_or(Instr::Halt);
                Outcome::Trapped(Trap {
                    ip: self.ip,
                    instr,
                    kind: TrapKind::Output(error),
                })
            }
            (outcome, Ok(()) | Err(_)) => outcome,
        }
    }

    fn current(&self) -> Option<Instr> {
        self.program.code().get(self.ip as usize).copied()
    }

    /// The dispatch loop. The IP lives in a local while it runs and is stored back on every exit.
    fn execute<W: Write>(&mut self, out: &mut W, interrupt: &Interrupt) -> Outcome {
        if interrupt.is_requested() {
            return Outcome::Paused;
        }
        let code = self.program.code();
        let stack = &mut self.stack;
        let mut ip = self.ip as usize;
        macro_rules! trap {
            ($instr:expr, $kind:expr) => {{
                self.ip = ip as u32;
                return Outcome::Trapped(Trap {
                    ip: ip as u32,
                    instr: $instr,
                    kind: $kind,
                });
            }};
        }
        // Jumps to `target`, pausing there if a backward jump finds a request pending.
        macro_rules! jump {
            ($target:expr) => {{
                let target = $target;
                if target <= ip && interrupt.is_requested() {
                    self.ip = target as u32;
                    return Outcome::Paused;
                }
                ip = target;
                continue;
            }};
        }
        loop {
            let Some(&instr) = code.get(ip) else {
                self.ip = ip as u32;
                return Outcome::Halted;
            };
            let underflow = |depth| TrapKind::StackUnderflow {
                needed: instr.opcode().stack_effect().pops,
                depth,
            };
            // Replaces the top two values `a b` (b on top) by `f(a, b)`, or traps leaving them in place.
            macro_rules! binary {
                ($f:expr) => {
                    match *stack.as_slice() {
                        [.., a, b] => match $f(a, b) {
                            Ok(result) => {
                                stack.pop();
                                if let Some(top) = stack.last_mut() {
                                    *top = result;
                                }
                            }
                            Err(kind) => trap!(instr, kind),
                        },
                        _ => trap!(instr, underflow(stack.len())),
                    }
                };
            }
            match instr {
                Instr::Put(value) => {
                    if stack.len() >= STACK_LIMIT {
                        trap!(instr, TrapKind::StackOverflow);
                    }
                    stack.push(value);
                }
                Instr::Add(value) => match stack.last_mut() {
                    Some(top) => match top.checked_add(value) {
                        Some(sum) => *top = sum,
                        None => trap!(instr, overflow(*top, "+", value)),
                    },
                    None => trap!(instr, underflow(0)),
                },
                Instr::Goto(offset) => jump!(ip - offset as usize),
                Instr::Print => match stack.last() {
                    Some(top) => {
                        if let Err(error) = writeln!(out, "{top}") {
                            trap!(instr, TrapKind::Output(error));
                        }
                    }
                    None => trap!(instr, underflow(0)),
                },
                Instr::Sleep(ms) => {
                    let duration = self
                        .sleep_left
                        .take()
                        .unwrap_or(Duration::from_millis(u64::from(ms)));
                    if let Err(error) = out.flush() {
                        trap!(instr, TrapKind::Output(error));
                    }
                    if let Some(left) = interrupt.sleep(duration) {
                        self.sleep_left = Some(left);
                        self.ip = ip as u32;
                        return Outcome::Paused;
                    }
                }
                Instr::SleepS => {
                    // The duration stays on the stack until the sleep completes, so a pause in the
                    // middle leaves the instruction ready to run again.
                    let ms = match stack.last() {
                        Some(&ms) if ms < 0 => trap!(instr, TrapKind::NegativeSleep { ms }),
                        Some(&ms) => ms.unsigned_abs(),
                        None => trap!(instr, underflow(0)),
                    };
                    let duration = self.sleep_left.take().unwrap_or(Duration::from_millis(ms));
                    if let Err(error) = out.flush() {
                        trap!(instr, TrapKind::Output(error));
                    }
                    if let Some(left) = interrupt.sleep(duration) {
                        self.sleep_left = Some(left);
                        self.ip = ip as u32;
                        return Outcome::Paused;
                    }
                    stack.pop();
                }
                Instr::Halt => {
                    self.ip = ip as u32;
                    return Outcome::Halted;
                }
                Instr::Pop => {
                    if stack.pop().is_none() {
                        trap!(instr, underflow(0));
                    }
                }
                Instr::Dup => match stack.last() {
                    Some(&top) if stack.len() < STACK_LIMIT => stack.push(top),
                    Some(_) => trap!(instr, TrapKind::StackOverflow),
                    None => trap!(instr, underflow(0)),
                },
                Instr::Load(slot) => match stack.get(usize::from(slot)) {
                    Some(_) if stack.len() >= STACK_LIMIT => trap!(instr, TrapKind::StackOverflow),
                    Some(&value) => stack.push(value),
                    None => trap!(
                        instr,
                        TrapKind::SlotOutOfRange {
                            slot,
                            depth: stack.len(),
                            storing: false
                        }
                    ),
                },
                Instr::Store(slot) => {
                    let below = stack.len().saturating_sub(1);
                    match stack.split_last_mut() {
                        Some((&mut value, rest)) => match rest.get_mut(usize::from(slot)) {
                            Some(target) => {
                                *target = value;
                                stack.pop();
                            }
                            None => trap!(
                                instr,
                                TrapKind::SlotOutOfRange {
                                    slot,
                                    depth: below,
                                    storing: true
                                }
                            ),
                        },
                        None => trap!(instr, underflow(0)),
                    }
                }
                Instr::Neg => match stack.last_mut() {
                    Some(top) => match top.checked_neg() {
                        Some(negated) => *top = negated,
                        None => trap!(
                            instr,
                            TrapKind::Overflow {
                                expr: format!("-({top})")
                            }
                        ),
                    },
                    None => trap!(instr, underflow(0)),
                },
                Instr::Not => match stack.last_mut() {
                    Some(top) => *top = i64::from(*top == 0),
                    None => trap!(instr, underflow(0)),
                },
                Instr::AddS => {
                    binary!(|a: i64, b: i64| a.checked_add(b).ok_or_else(|| overflow(a, "+", b)))
                }
                Instr::Sub => {
                    binary!(|a: i64, b: i64| a.checked_sub(b).ok_or_else(|| overflow(a, "-", b)))
                }
                Instr::Mul => {
                    binary!(|a: i64, b: i64| a.checked_mul(b).ok_or_else(|| overflow(a, "*", b)))
                }
                Instr::Div => binary!(|a: i64, b: i64| match b {
                    0 => Err(division_by_zero(a, "/")),
                    _ => a.checked_div(b).ok_or_else(|| overflow(a, "/", b)),
                }),
                // `i64::MIN % -1` is 0 mathematically; only the division behind it overflows.
                Instr::Mod => binary!(|a: i64, b: i64| match b {
                    0 => Err(division_by_zero(a, "%")),
                    _ => Ok(a.wrapping_rem(b)),
                }),
                Instr::Eq => binary!(|a, b| Ok(i64::from(a == b))),
                Instr::Ne => binary!(|a, b| Ok(i64::from(a != b))),
                Instr::Lt => binary!(|a, b| Ok(i64::from(a < b))),
                Instr::Le => binary!(|a, b| Ok(i64::from(a <= b))),
                Instr::Gt => binary!(|a, b| Ok(i64::from(a > b))),
                Instr::Ge => binary!(|a, b| Ok(i64::from(a >= b))),
                Instr::Jmp(offset) => jump!(relative(ip, offset)),
                Instr::Jz(offset) | Instr::Jnz(offset) => match stack.pop() {
                    Some(value) => {
                        if (value == 0) == matches!(instr, Instr::Jz(_)) {
                            jump!(relative(ip, offset));
                        }
                    }
                    None => trap!(instr, underflow(0)),
                },
            }
            ip += 1;
        }
    }
}

/// The target of a relative jump. The program was verified, so it lies in `0..=len`.
#[inline]
fn relative(ip: usize, offset: i32) -> usize {
    ip.wrapping_add_signed(offset as isize)
}

fn overflow(a: i64, op: &str, b: i64) -> TrapKind {
    TrapKind::Overflow {
        expr: format!("{a} {op} {b}"),
    }
}

fn division_by_zero(a: i64, op: &str) -> TrapKind {
    TrapKind::DivisionByZero {
        expr: format!("{a} {op} 0"),
    }
}
