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
use mova_lang::func::{Frame, MAX_CALL_DEPTH};
use mova_lang::image::{Image, ImageError};
use mova_lang::isa::Instr;
use mova_lang::mvb::Program;
use mova_lang::ops::{self, ArithError, BinOp, Operation};
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use mova_lang::isa::STACK_LIMIT;

/// A program and its execution state: the instruction pointer and the operand stack.
#[derive(Debug)]
pub struct Vm {
    program: Program,
    ip: u32,
    /// The operand stack's storage, allocated at its full size once so that pushes never
    /// reallocate; `stack[..depth]` are the values, bottom first.
    stack: Box<[i64; STACK_LIMIT]>,
    depth: usize,
    /// The time a sleep had left when a pause interrupted it. The IP then still points at that
    /// sleep, which finishes this remainder, not its full duration, when the VM runs again.
    sleep_left: Option<Duration>,
    /// The calls in progress, outermost first; the main program's frame (base 0) is implicit.
    /// At most [`MAX_CALL_DEPTH`]; they live here, in VM memory, so that recursion never
    /// recurses in Rust.
    frames: Vec<Frame>,
}

/// One line of a backtrace: a function, the instruction it is at, and where its frame starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceEntry {
    /// The function (0 for the main program).
    pub function: u16,
    /// The instruction it is at: the VM's IP for the innermost frame, the `CALL` it waits in
    /// for the others.
    pub ip: u32,
    /// The height of the stack below its frame.
    pub base: u32,
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
    /// A call beyond the most calls in progress a VM allows.
    #[error(
        "stack overflow: {MAX_CALL_DEPTH} calls are already in progress (the most a VM allows)"
    )]
    CallDepth,
    /// A return with no call in progress (only a forged state can get there).
    #[error("return without a call in progress")]
    NoCall,
    /// Fewer values on the stack than the instruction takes.
    #[error("stack underflow: it needs {needed} value{}, the stack holds {depth}", if *needed == 1 { "" } else { "s" })]
    StackUnderflow {
        /// How many values the instruction takes.
        needed: u16,
        /// How many the stack holds.
        depth: usize,
    },
    /// An arithmetic operation without a result, as [`ops`] decides it: `integer overflow: a + b
    /// does not fit in 64 bits`, `division by zero: a / 0`.
    #[error("{error}: {operation}{}", arith_suffix(error))]
    Arith {
        /// Why the operation has no result.
        error: ArithError,
        /// The operation, with its operands.
        operation: Operation,
    },
    /// A slot that is not on the stack.
    #[error("slot {slot} is out of range: the stack holds {depth} value{}{}", if *depth == 1 { "" } else { "s" }, if *storing { " below the stored one" } else { "" })]
    SlotOutOfRange {
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

/// What follows the operation in an arithmetic trap's message.
fn arith_suffix(error: &ArithError) -> &'static str {
    match error {
        ArithError::Overflow => " does not fit in 64 bits",
        ArithError::DivisionByZero => "",
    }
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
            stack: empty_stack(),
            depth: 0,
            sleep_left: None,
            frames: Vec::new(),
        }
    }

    /// The calls in progress, outermost first (the main program's frame is not listed).
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// Where the program is, innermost frame first and the main program last: each function
    /// with the instruction it is at and its frame's base.
    pub fn backtrace(&self) -> Vec<TraceEntry> {
        crate::backtrace::trace(self.ip, &self.frames)
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The index of the next instruction to execute.
    pub fn ip(&self) -> u32 {
        self.ip
    }

    /// The operand stack, bottom first.
    pub fn stack(&self) -> &[i64] {
        self.stack.get(..self.depth).unwrap_or_default()
    }

    /// The VM's state as an image, with the program embedded if `with_program`. Only meaningful
    /// between runs (the VM is then at an instruction boundary).
    pub fn save(&self, with_program: bool) -> Result<Image, ImageError> {
        let sleep_left_ms = self
            .sleep_left
            .map(|left| u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
        Image::with_frames(
            &self.program,
            self.ip,
            self.stack().to_vec(),
            self.frames.clone(),
            sleep_left_ms,
            with_program,
        )
    }

    /// A VM for `program` in the state `image` holds, if the image fits the program.
    pub fn from_image(program: Program, image: &Image) -> Result<Vm, ImageError> {
        image.check(&program)?;
        let mut stack = empty_stack();
        let depth = image.stack.len();
        // `check` refused a stack deeper than the limit.
        for (slot, value) in stack.iter_mut().zip(&image.stack) {
            *slot = *value;
        }
        Ok(Vm {
            program,
            ip: image.ip,
            stack,
            depth,
            sleep_left: image.sleep_left_ms.map(Duration::from_millis),
            frames: image.frames.clone(),
        })
    }

    /// Runs until the program halts, traps, or `interrupt` asks it to pause. Output goes to `out`,
    /// which is flushed before every sleep and before returning.
    ///
    /// A pending request is honoured before the first instruction, and then on every backward
    /// jump, every call and every return and during every sleep: a loop or a recursion cannot run
    /// without passing one of those, and code without loops or calls finishes within its own
    /// length. To resume a paused VM, clear the request and call
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
        let functions = self.program.functions();
        let requested = interrupt.flag();
        let stack = &mut *self.stack;
        let frames = &mut self.frames;
        // The base of the current frame: slots count from it.
        let mut fp = frames.last().map_or(0, |frame| frame.base as usize);
        // The stack pointer (the number of values) and the IP live in locals while the loop
        // runs, and are stored back on every way out of it.
        let mut sp = self.depth;
        let mut ip = self.ip as usize;
        macro_rules! leave {
            ($outcome:expr) => {{
                self.depth = sp;
                return $outcome;
            }};
        }
        // Traps on the current instruction: every trap leaves the loop through its one exit below.
        macro_rules! trap {
            ($kind:expr) => {{
                break $kind;
            }};
        }
        // Jumps to `target`, pausing there if a backward jump finds a request pending.
        macro_rules! jump {
            ($target:expr) => {{
                let target = $target;
                if target <= ip && requested.load(Ordering::Relaxed) {
                    self.ip = target as u32;
                    leave!(Outcome::Paused);
                }
                ip = target;
                continue;
            }};
        }
        // Flushes the output and sleeps `ms` milliseconds, or what an interrupted sleep of this
        // instruction had left; pauses, staying on the instruction, if a request cuts it short.
        macro_rules! sleep {
            ($ms:expr) => {{
                if let Err(error) = out.flush() {
                    trap!(TrapKind::Output(error));
                }
                let duration = self.sleep_left.take().unwrap_or(Duration::from_millis($ms));
                if let Some(left) = interrupt.sleep(duration) {
                    self.sleep_left = Some(left);
                    self.ip = ip as u32;
                    leave!(Outcome::Paused);
                }
            }};
        }
        let kind = loop {
            let Some(instr) = code.get(ip) else {
                self.ip = ip as u32;
                leave!(Outcome::Halted);
            };
            let underflow = |depth| TrapKind::StackUnderflow {
                needed: u16::from(instr.opcode().stack_effect().pops),
                depth,
            };
            // Pauses before this instruction if a request is pending (calls and returns check,
            // so that recursion without loops pauses too).
            macro_rules! poll {
                () => {{
                    if requested.load(Ordering::Relaxed) {
                        self.ip = ip as u32;
                        leave!(Outcome::Paused);
                    }
                }};
            }
            // The top value, or a stack underflow. `sp - 1` wraps to an index no stack has when
            // the stack is empty, so one bounds check covers both.
            macro_rules! top {
                () => {
                    match stack.get_mut(sp.wrapping_sub(1)) {
                        Some(top) => top,
                        None => trap!(underflow(sp)),
                    }
                };
            }
            // Pushes a value, or traps with a stack overflow: the storage holds exactly the limit.
            macro_rules! push {
                ($value:expr) => {{
                    let value = $value;
                    match stack.get_mut(sp) {
                        Some(slot) => {
                            *slot = value;
                            sp += 1;
                        }
                        None => trap!(TrapKind::StackOverflow),
                    }
                }};
            }
            // Jumps if the top compares with `k` as the comparison `op` says (it gives 1),
            // leaving the top in place.
            macro_rules! compare {
                ($op:expr, $k:expr, $offset:expr) => {{
                    if ops::binary($op, *top!(), $k) == Ok(1) {
                        jump!(relative(ip, $offset));
                    }
                }};
            }
            // Replaces the top `a` by `a op b`, or traps leaving it in place.
            macro_rules! immediate {
                ($op:expr, $b:expr) => {{
                    let (op, b) = ($op, $b);
                    let top = top!();
                    let a = *top;
                    match ops::binary(op, a, b) {
                        Ok(result) => *top = result,
                        Err(error) => {
                            trap!(arith_trap(error, op, a, b))
                        }
                    }
                }};
            }
            // Replaces the top two values `a b` (b on top) by `a op b`, or traps leaving them in
            // place.
            macro_rules! binary {
                ($op:expr) => {{
                    let op = $op;
                    let b = match stack.get(sp.wrapping_sub(1)) {
                        Some(&b) if sp >= 2 => b,
                        Some(_) | None => trap!(underflow(sp)),
                    };
                    let a = match stack.get_mut(sp - 2) {
                        Some(a) => a,
                        None => trap!(underflow(sp)),
                    };
                    match ops::binary(op, *a, b) {
                        Ok(result) => {
                            *a = result;
                            sp -= 1;
                        }
                        Err(error) => trap!(arith_trap(error, op, *a, b)),
                    }
                }};
            }
            // Replaces the top `a` by `a op s` with `s` the value in `slot`, or traps.
            macro_rules! local {
                ($slot:expr, $op:expr) => {{
                    let slot = $slot;
                    let slot_index = fp + usize::from(slot);
                    let s = match stack.get(slot_index) {
                        Some(&s) if slot_index < sp => s,
                        // On an empty stack this is an underflow, as for every instruction that
                        // takes a value, not a slot out of range.
                        Some(_) | None if sp == 0 => trap!(underflow(sp)),
                        Some(_) | None => trap!(TrapKind::SlotOutOfRange {
                            slot,
                            depth: sp - fp,
                            storing: false
                        }),
                    };
                    immediate!($op, s)
                }};
            }
            match *instr {
                Instr::Put(value) => push!(value),
                Instr::AddL(slot) => local!(slot, BinOp::Add),
                Instr::SubL(slot) => local!(slot, BinOp::Sub),
                Instr::MulL(slot) => local!(slot, BinOp::Mul),
                Instr::Add(value) => immediate!(BinOp::Add, value),
                Instr::Goto(offset) => jump!(ip - offset as usize),
                Instr::Print => {
                    let top = *top!();
                    if let Err(error) = writeln!(out, "{top}") {
                        trap!(TrapKind::Output(error));
                    }
                }
                Instr::Sleep(ms) => sleep!(u64::from(ms)),
                Instr::SleepS => {
                    // The duration stays on the stack until the sleep completes, so a pause in the
                    // middle leaves the instruction ready to run again.
                    let ms = *top!();
                    if ms < 0 {
                        trap!(TrapKind::NegativeSleep { ms });
                    }
                    sleep!(ms.unsigned_abs());
                    sp -= 1;
                }
                Instr::Halt => {
                    self.ip = ip as u32;
                    leave!(Outcome::Halted);
                }
                Instr::Pop => {
                    top!();
                    sp -= 1;
                }
                Instr::Dup => {
                    let top = *top!();
                    push!(top);
                }
                Instr::Load(slot) => {
                    let slot_index = fp + usize::from(slot);
                    match stack.get(slot_index) {
                        Some(&value) if slot_index < sp => push!(value),
                        Some(_) | None => trap!(TrapKind::SlotOutOfRange {
                            slot,
                            depth: sp - fp,
                            storing: false
                        }),
                    }
                }
                Instr::Store(slot) => {
                    let value = *top!();
                    let slot_index = fp + usize::from(slot);
                    match stack.get_mut(slot_index) {
                        Some(target) if slot_index + 1 < sp => {
                            *target = value;
                            sp -= 1;
                        }
                        Some(_) | None => trap!(TrapKind::SlotOutOfRange {
                            slot,
                            depth: (sp - 1).saturating_sub(fp),
                            storing: true
                        }),
                    }
                }
                Instr::Call(function) => {
                    poll!();
                    let Some(callee) = functions.get(usize::from(function)) else {
                        // A verified program calls only functions it has.
                        trap!(TrapKind::NoCall);
                    };
                    let params = usize::from(callee.params);
                    if sp - fp < params {
                        trap!(TrapKind::StackUnderflow {
                            needed: callee.params,
                            depth: sp - fp,
                        });
                    }
                    if frames.len() >= MAX_CALL_DEPTH {
                        trap!(TrapKind::CallDepth);
                    }
                    fp = sp - params;
                    frames.push(Frame {
                        function,
                        return_ip: ip as u32 + 1,
                        base: fp as u32,
                        ref_base: 0,
                    });
                    ip = callee.entry as usize;
                    continue;
                }
                Instr::Ret | Instr::RetV => {
                    poll!();
                    let value = match (instr, sp.checked_sub(1).and_then(|at| stack.get(at))) {
                        (Instr::RetV, Some(&value)) if sp > fp => Some(value),
                        (Instr::RetV, _) => trap!(underflow(sp - fp)),
                        _ => None,
                    };
                    let Some(frame) = frames.pop() else {
                        trap!(TrapKind::NoCall);
                    };
                    sp = frame.base as usize;
                    if let Some(value) = value {
                        // The frame held at least this value, so there is room for it.
                        push!(value);
                    }
                    fp = frames.last().map_or(0, |frame| frame.base as usize);
                    ip = frame.return_ip as usize;
                    continue;
                }
                Instr::Neg => {
                    let top = top!();
                    match ops::neg(*top) {
                        Ok(result) => *top = result,
                        Err(error) => trap!(TrapKind::Arith {
                            error,
                            operation: Operation::Neg { a: *top }
                        }),
                    }
                }
                Instr::Not => {
                    let top = top!();
                    *top = ops::not(*top);
                }
                Instr::AddS => binary!(BinOp::Add),
                Instr::Sub => binary!(BinOp::Sub),
                Instr::Mul => binary!(BinOp::Mul),
                Instr::Div => binary!(BinOp::Div),
                Instr::Mod => binary!(BinOp::Rem),
                Instr::Eq => binary!(BinOp::Eq),
                Instr::Ne => binary!(BinOp::Ne),
                Instr::Lt => binary!(BinOp::Lt),
                Instr::Le => binary!(BinOp::Le),
                Instr::Gt => binary!(BinOp::Gt),
                Instr::Ge => binary!(BinOp::Ge),
                Instr::Jmp(offset) => jump!(relative(ip, offset)),
                Instr::JeqK(k, offset) => compare!(BinOp::Eq, k, offset),
                Instr::JneK(k, offset) => compare!(BinOp::Ne, k, offset),
                Instr::JltK(k, offset) => compare!(BinOp::Lt, k, offset),
                Instr::JleK(k, offset) => compare!(BinOp::Le, k, offset),
                Instr::JgtK(k, offset) => compare!(BinOp::Gt, k, offset),
                Instr::JgeK(k, offset) => compare!(BinOp::Ge, k, offset),
                Instr::IncJlt(k, offset) => {
                    let top = top!();
                    let (op, a, b) = (BinOp::Add, *top, 1);
                    match ops::binary(op, a, b) {
                        Ok(next) => {
                            *top = next;
                            if ops::binary(BinOp::Lt, next, k) == Ok(1) {
                                jump!(relative(ip, offset));
                            }
                        }
                        Err(error) => trap!(arith_trap(error, op, a, b)),
                    }
                }
                Instr::MulK(k) => immediate!(BinOp::Mul, k),
                Instr::DivK(k) => immediate!(BinOp::Div, k),
                Instr::ModK(k) => immediate!(BinOp::Rem, k),
                Instr::AddTo(slot) => {
                    let value = *top!();
                    let slot_index = fp + usize::from(slot);
                    match stack.get_mut(slot_index) {
                        Some(target) if slot_index + 1 < sp => {
                            let (op, a, b) = (BinOp::Add, *target, value);
                            match ops::binary(op, a, b) {
                                Ok(sum) => {
                                    *target = sum;
                                    sp -= 1;
                                }
                                Err(error) => {
                                    trap!(arith_trap(error, op, a, b))
                                }
                            }
                        }
                        Some(_) | None => trap!(TrapKind::SlotOutOfRange {
                            slot,
                            depth: (sp - 1).saturating_sub(fp),
                            storing: true
                        }),
                    }
                }
                Instr::Jz(offset) | Instr::Jnz(offset) => {
                    let value = *top!();
                    sp -= 1;
                    if (value == 0) == matches!(instr, Instr::Jz(_)) {
                        jump!(relative(ip, offset));
                    }
                }
            }
            ip += 1;
        };
        self.ip = ip as u32;
        self.depth = sp;
        Outcome::Trapped(Trap {
            ip: ip as u32,
            instr: code.get(ip).copied().unwrap_or(Instr::Halt),
            kind,
        })
    }
}

/// A zeroed stack storage of the full size.
fn empty_stack() -> Box<[i64; STACK_LIMIT]> {
    let storage = vec![0i64; STACK_LIMIT].into_boxed_slice();
    // The length is STACK_LIMIT by construction, so the conversion cannot fail; should it, an
    // array allocated directly is the same thing.
    storage
        .try_into()
        .unwrap_or_else(|_| Box::new([0i64; STACK_LIMIT]))
}

/// The target of a relative jump. The program was verified, so it lies in `0..=len`.
#[inline]
fn relative(ip: usize, offset: i32) -> usize {
    ip.wrapping_add_signed(offset as isize)
}

/// The trap of an operation without a result; out of line, so the dispatch loop carries none of
/// its code.
#[cold]
#[inline(never)]
fn arith_trap(error: ArithError, op: BinOp, a: i64, b: i64) -> TrapKind {
    TrapKind::Arith {
        error,
        operation: Operation::Binary { op, a, b },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupt::request_after;
    use mova_lang::isa::{Flow, Opcode};

    fn vm(source: &str) -> Vm {
        Vm::new(mova_compiler::assemble(source).unwrap())
    }

    /// Runs `source` to its outcome, returning the outcome, the VM and what it printed.
    fn run(source: &str) -> (Outcome, Vm, String) {
        let mut vm = vm(source);
        let mut out = Vec::new();
        let outcome = vm.run(&mut out, &Interrupt::new());
        (outcome, vm, String::from_utf8(out).unwrap())
    }

    fn trap(source: &str) -> Trap {
        match run(source).0 {
            Outcome::Trapped(trap) => trap,
            other @ (Outcome::Halted | Outcome::Paused) => panic!("expected a trap, got {other:?}"),
        }
    }

    #[test]
    fn runs_off_the_end_and_halts() {
        let (outcome, vm, out) = run("PUT 2\nPRINT\nADD 40\nPRINT");
        assert!(matches!(outcome, Outcome::Halted));
        assert_eq!(out, "2\n42\n");
        assert_eq!(vm.ip(), 4);
        assert_eq!(vm.stack(), [42]);
    }

    #[test]
    fn halt_stops_early() {
        let (outcome, vm, out) = run("PUT 1\nHALT\nPRINT");
        assert!(matches!(outcome, Outcome::Halted));
        assert_eq!(out, "");
        assert_eq!(vm.ip(), 1);
    }

    #[test]
    fn arithmetic_follows_rust_semantics() {
        let cases = [
            ("PUT 7\nPUT 2\nDIV", 3),
            ("PUT -7\nPUT 2\nDIV", -3),
            ("PUT -7\nPUT 2\nMOD", -1),
            ("PUT 7\nPUT -2\nMOD", 1),
            ("PUT -9223372036854775808\nPUT -1\nMOD", 0),
            ("PUT 6\nPUT 7\nMUL", 42),
            ("PUT 1\nPUT 3\nSUB", -2),
            ("PUT 4\nNEG", -4),
            ("PUT 0\nNOT", 1),
            ("PUT 5\nNOT", 0),
            ("PUT 1\nPUT 2\nLT", 1),
            ("PUT 2\nPUT 2\nLE", 1),
            ("PUT 1\nPUT 2\nGT", 0),
            ("PUT 2\nPUT 2\nGE", 1),
            ("PUT 3\nPUT 3\nEQ", 1),
            ("PUT 3\nPUT 3\nNE", 0),
            ("PUT 20\nPUT 22\nADDS", 42),
        ];
        for (source, expected) in cases {
            let (outcome, vm, _) = run(source);
            assert!(matches!(outcome, Outcome::Halted), "{source}: {outcome:?}");
            assert_eq!(vm.stack(), [expected], "{source}");
        }
    }

    #[test]
    fn slots_load_and_store() {
        let (_, vm, _) = run("PUT 1\nPUT 2\nLOAD 0\nSTORE 1\nPUT 9\nSTORE 0");
        assert_eq!(vm.stack(), [9, 1]);
    }

    #[test]
    fn conditional_jumps_pop_their_condition() {
        let (_, vm, out) =
            run("PUT 0\nJZ skip\nPUT 1\nPRINT\nskip: PUT 7\nPUT 1\nJNZ end\nPRINT\nend:");
        assert_eq!(out, "");
        assert_eq!(vm.stack(), [7]);
    }

    #[test]
    fn traps_name_the_instruction_and_leave_the_state_untouched() {
        let t = trap("PUT 9223372036854775807\nADD 1");
        assert_eq!(
            t.to_string(),
            "trap at instruction 1 (`ADD 1`): integer overflow: 9223372036854775807 + 1 does not fit in 64 bits"
        );

        let (outcome, vm, _) = run("PUT 5\nPUT 0\nDIV");
        let Outcome::Trapped(t) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(
            matches!(
                t.kind,
                TrapKind::Arith {
                    error: ArithError::DivisionByZero,
                    ..
                }
            ),
            "{t}"
        );
        assert_eq!(
            (vm.ip(), vm.stack()),
            (2, &[5, 0][..]),
            "operands stay on the stack"
        );

        let t = trap("PUT 5\nPUT 0\nMOD");
        assert_eq!(
            t.to_string(),
            "trap at instruction 2 (`MOD`): division by zero: 5 % 0"
        );
        assert!(matches!(
            trap("PUT -9223372036854775808\nPUT -1\nDIV").kind,
            TrapKind::Arith {
                error: ArithError::Overflow,
                ..
            }
        ));
        assert!(matches!(
            trap("PUT -9223372036854775808\nNEG").kind,
            TrapKind::Arith {
                error: ArithError::Overflow,
                ..
            }
        ));
        assert!(matches!(
            trap("PUT 4611686018427387904\nPUT 2\nMUL").kind,
            TrapKind::Arith {
                error: ArithError::Overflow,
                ..
            }
        ));
        assert!(matches!(
            trap("PUT -9223372036854775808\nPUT 1\nSUB").kind,
            TrapKind::Arith {
                error: ArithError::Overflow,
                ..
            }
        ));
    }

    #[test]
    fn arithmetic_traps_carry_the_operation_as_data() {
        let t = trap("PUT -9223372036854775808\nNEG");
        assert_eq!(
            t.to_string(),
            "trap at instruction 1 (`NEG`): integer overflow: -(-9223372036854775808) does not fit in 64 bits"
        );
        let t = trap("PUT 1\nPUT -9223372036854775808\nSUBL 0");
        assert_eq!(
            t.to_string(),
            "trap at instruction 2 (`SUBL 0`): integer overflow: -9223372036854775808 - 1 does not fit in 64 bits"
        );
        let t = trap("PUT 7\nDIVK 0");
        assert_eq!(
            t.kind.to_string(),
            "division by zero: 7 / 0",
            "the message names the operation"
        );
        assert!(
            matches!(
                t.kind,
                TrapKind::Arith {
                    error: ArithError::DivisionByZero,
                    operation: Operation::Binary {
                        op: BinOp::Div,
                        a: 7,
                        b: 0
                    }
                }
            ),
            "{t}"
        );
        let t = trap("PUT 9223372036854775807\nPUT 1\nADDTO 0");
        assert_eq!(
            t.to_string(),
            "trap at instruction 2 (`ADDTO 0`): integer overflow: 9223372036854775807 + 1 does not fit in 64 bits"
        );
    }

    #[test]
    fn underflow_is_checked_for_every_consumer() {
        use Instr::{Call, Halt, Put, Ret};
        // Every opcode that takes values, as the table says, on every stack too short for it.
        // Returns are only in functions, where the verifier leaves no height short of what they
        // take; a call's need is its callee's, checked below.
        for &opcode in Opcode::ALL
            .iter()
            .filter(|opcode| opcode.flow() != Flow::Return)
        {
            let needed = opcode.stack_effect().pops;
            let zeros = vec![0; opcode.operand_kinds().len()];
            let instr = Instr::new(opcode, &zeros).unwrap();
            for depth in 0..usize::from(needed) {
                let mut code = vec![Instr::Put(1); depth];
                code.push(instr);
                let mut vm = Vm::new(Program::new(code).unwrap());
                let outcome = vm.run(&mut io::sink(), &Interrupt::new());
                assert!(
                    matches!(
                        &outcome,
                        Outcome::Trapped(Trap {
                            kind: TrapKind::StackUnderflow { needed: n, depth: d },
                            ..
                        }) if *n == u16::from(needed) && *d == depth
                    ),
                    "{instr} on {depth} values: {outcome:?}"
                );
                assert_eq!(vm.stack().len(), depth, "{instr}: the stack is untouched");
            }
        }
        let t = trap("PUT 1\nSUB");
        assert_eq!(
            t.to_string(),
            "trap at instruction 1 (`SUB`): stack underflow: it needs 2 values, the stack holds 1"
        );
        // The main program's heights are intervals, so a call there can find too few values.
        let mut vm = with_functions(vec![Put(1), Call(1), Halt], &[(2, 0, vec![Ret])]);
        let Outcome::Trapped(t) = vm.run(&mut io::sink(), &Interrupt::new()) else {
            panic!("expected a trap")
        };
        assert_eq!(
            t.to_string(),
            "trap at instruction 1 (`CALL 1`): stack underflow: it needs 2 values, the stack holds 1"
        );
        assert_eq!(vm.stack(), [1]);
        assert!(vm.frames().is_empty());
    }

    #[test]
    fn slots_past_the_top_trap() {
        let t = trap("PUT 1\nLOAD 1");
        assert_eq!(
            t.to_string(),
            "trap at instruction 1 (`LOAD 1`): slot 1 is out of range: the stack holds 1 value"
        );
        let t = trap("PUT 1\nSTORE 0");
        assert!(
            matches!(
                t.kind,
                TrapKind::SlotOutOfRange {
                    slot: 0,
                    depth: 0,
                    storing: true
                }
            ),
            "{t}"
        );
    }

    #[test]
    fn the_stack_holds_exactly_the_limit() {
        let (outcome, vm, _) = run("PUT 1\ntop: DUP\nGOTO top");
        let Outcome::Trapped(t) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(matches!(t.kind, TrapKind::StackOverflow));
        assert_eq!(t.ip, 1);
        assert_eq!(vm.stack().len(), STACK_LIMIT);
        for source in [
            "PUT 1\ntop: PUT 1\nGOTO top",
            "PUT 1\ntop: LOAD 0\nGOTO top",
        ] {
            assert!(
                matches!(trap(source).kind, TrapKind::StackOverflow),
                "{source}"
            );
        }
    }

    #[test]
    fn negative_sleeps_trap_and_stack_sleeps_pop_their_duration() {
        assert!(matches!(
            trap("PUT -5\nSLEEPS").kind,
            TrapKind::NegativeSleep { ms: -5 }
        ));
        let (outcome, vm, _) = run("PUT 3\nPUT 1\nSLEEPS");
        assert!(matches!(outcome, Outcome::Halted));
        assert_eq!(vm.stack(), [3]);
    }

    #[test]
    fn a_pending_request_pauses_a_tight_loop_at_a_backward_jump() {
        let mut vm = vm("PUT 0\ntop: ADD 1\nGOTO top");
        let interrupt = Interrupt::new();
        let handle = request_after(&interrupt, Duration::from_millis(20));
        let outcome = vm.run(&mut io::sink(), &interrupt);
        handle.join().unwrap();
        assert!(matches!(outcome, Outcome::Paused));
        assert_eq!(vm.ip(), 1, "paused on the jump's target");
        let count = vm.stack()[0];
        assert!(count > 0);

        // Resuming continues from exactly that state.
        interrupt.clear();
        let handle = request_after(&interrupt, Duration::from_millis(5));
        assert!(matches!(
            vm.run(&mut io::sink(), &interrupt),
            Outcome::Paused
        ));
        handle.join().unwrap();
        assert!(vm.stack()[0] > count);
    }

    #[test]
    fn a_pause_mid_sleep_keeps_the_rest_of_the_sleep_for_the_resume() {
        let mut vm = vm("PUT 1\nPRINT\nSLEEP 60000\nPRINT");
        let interrupt = Interrupt::new();
        let handle = request_after(&interrupt, Duration::from_millis(30));
        let mut out = Vec::new();
        assert!(matches!(vm.run(&mut out, &interrupt), Outcome::Paused));
        handle.join().unwrap();
        assert_eq!(out, b"1\n", "output before the pause is flushed");
        assert_eq!(vm.ip(), 2, "still at the SLEEP");
        let left = vm.sleep_left.unwrap();
        assert!(
            left < Duration::from_secs(60) && left > Duration::from_secs(50),
            "{left:?}"
        );

        // Pretend the remainder is nearly over, then resume: only the remainder is slept.
        vm.sleep_left = Some(Duration::from_millis(1));
        interrupt.clear();
        assert!(matches!(vm.run(&mut out, &interrupt), Outcome::Halted));
        assert_eq!(out, b"1\n1\n");
    }

    #[test]
    fn a_pause_mid_stack_sleep_leaves_the_duration_on_the_stack() {
        let mut vm = vm("PUT 60000\nSLEEPS");
        let interrupt = Interrupt::new();
        let handle = request_after(&interrupt, Duration::from_millis(20));
        assert!(matches!(
            vm.run(&mut io::sink(), &interrupt),
            Outcome::Paused
        ));
        handle.join().unwrap();
        assert_eq!((vm.ip(), vm.stack()), (1, &[60000][..]));
    }

    /// A writer that fails, to check that output errors become traps.
    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "reader went away",
            ))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "reader went away",
            ))
        }
    }

    #[test]
    fn output_errors_trap_instead_of_panicking() {
        let mut vm = vm("PUT 1\nPRINT");
        let outcome = vm.run(&mut Broken, &Interrupt::new());
        let Outcome::Trapped(t) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(matches!(&t.kind, TrapKind::Output(e) if e.kind() == io::ErrorKind::BrokenPipe));
        assert_eq!(t.ip, 1);
    }

    /// A program of functions built by hand: `main` then each `(params, results, code)`.
    fn with_functions(main: Vec<Instr>, functions: &[(u16, u8, Vec<Instr>)]) -> Vm {
        let mut code = main;
        let mut table = Vec::new();
        for (params, results, body) in functions {
            table.push(mova_lang::func::Function {
                entry: code.len() as u32,
                params: *params,
                results: *results,
                ref_params: 0,
                ref_results: 0,
            });
            code.extend_from_slice(body);
        }
        Vm::new(Program::with_functions(code, &table, Vec::new()).unwrap())
    }

    /// `fib(n)`, function 1, recursively; main prints `fib(n)`.
    fn fib(n: i64) -> Vm {
        use Instr::*;
        with_functions(
            vec![Put(n), Call(1), Print, Halt],
            &[(
                1,
                1,
                vec![
                    Load(0),
                    JltK(2, 10),
                    Pop,
                    Load(0),
                    Add(-1),
                    Call(1),
                    Load(0),
                    Add(-2),
                    Call(1),
                    AddS,
                    RetV,
                    RetV,
                ],
            )],
        )
    }

    #[test]
    fn recursive_calls_return_their_values() {
        let mut vm = fib(20);
        let mut out = Vec::new();
        assert!(matches!(
            vm.run(&mut out, &Interrupt::new()),
            Outcome::Halted
        ));
        assert_eq!(String::from_utf8(out).unwrap(), "6765\n");
        assert_eq!(vm.stack(), [6765]);
        assert!(vm.frames().is_empty());
    }

    #[test]
    fn slots_count_from_the_frame_and_returns_drop_the_frame() {
        use Instr::*;
        // main keeps 7 below the call; f(a, b) = a - b with a local, leaving junk on its frame.
        let mut vm = with_functions(
            vec![Put(7), Put(10), Put(3), Call(1), Print, Halt],
            &[(
                2,
                1,
                vec![Load(0), Load(1), Sub, Put(99), Put(98), Load(2), RetV],
            )],
        );
        let mut out = Vec::new();
        assert!(matches!(
            vm.run(&mut out, &Interrupt::new()),
            Outcome::Halted
        ));
        assert_eq!(String::from_utf8(out).unwrap(), "7\n");
        assert_eq!(vm.stack(), [7, 7]);
    }

    #[test]
    fn unbounded_recursion_is_a_stack_overflow_trap() {
        use Instr::*;
        // f() { f(); }: no values, only frames.
        let mut vm = with_functions(vec![Call(1), Halt], &[(0, 0, vec![Call(1), Ret])]);
        let outcome = vm.run(&mut Vec::new(), &Interrupt::new());
        let Outcome::Trapped(trap) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(matches!(trap.kind, TrapKind::CallDepth));
        assert!(trap.to_string().contains("stack overflow"), "{trap}");
        assert_eq!(vm.frames().len(), MAX_CALL_DEPTH);
        assert_eq!(vm.backtrace().len(), MAX_CALL_DEPTH + 1);
        // g(n) { g(n + 1); }: values too; the stack fills first.
        let mut vm = with_functions(
            vec![Put(0), Call(1), Halt],
            &[(
                1,
                0,
                vec![
                    Load(0),
                    Put(0),
                    Put(0),
                    Put(0),
                    Put(0),
                    Put(0),
                    Put(0),
                    Put(0),
                    Put(0),
                    Load(0),
                    Call(1),
                    Ret,
                ],
            )],
        );
        let outcome = vm.run(&mut Vec::new(), &Interrupt::new());
        let Outcome::Trapped(trap) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(matches!(trap.kind, TrapKind::StackOverflow), "{trap}");
    }

    #[test]
    fn a_pause_lands_in_recursion_without_loops_and_resumes_exactly() {
        let interrupt = Interrupt::new();
        let mut vm = fib(25);
        let request = request_after(&interrupt, Duration::from_millis(5));
        request.join().unwrap();
        // Requested before the run: the first check is on the way in; then clear and pause at
        // once by requesting again from the start, on calls only.
        let mut out = Vec::new();
        assert!(matches!(vm.run(&mut out, &interrupt), Outcome::Paused));
        interrupt.clear();
        let mut pauses = 0;
        loop {
            let stopper = {
                let interrupt = interrupt.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_micros(200));
                    interrupt.request();
                })
            };
            let outcome = vm.run(&mut out, &interrupt);
            stopper.join().unwrap();
            interrupt.clear();
            match outcome {
                Outcome::Paused => {
                    pauses += 1;
                    // Through an image, into a fresh VM, as a migration does.
                    let image = vm.save(false).unwrap();
                    let decoded = Image::decode(&image.encode()).unwrap();
                    assert_eq!(decoded.frames, vm.frames());
                    vm = Vm::from_image(vm.program().clone(), &decoded).unwrap();
                }
                Outcome::Halted => break,
                Outcome::Trapped(trap) => panic!("{trap}"),
            }
        }
        assert!(pauses > 0);
        assert_eq!(String::from_utf8(out).unwrap(), "75025\n");
    }

    #[test]
    fn a_backtrace_lists_the_calls_innermost_first() {
        use Instr::*;
        // main calls f(0), f calls g(x) = 1 / x.
        let mut vm = with_functions(
            vec![Put(0), Call(1), Halt],
            &[
                (1, 0, vec![Load(0), Call(2), Pop, Ret]),
                (1, 1, vec![Put(1), Load(0), Div, RetV]),
            ],
        );
        let Outcome::Trapped(trap) = vm.run(&mut Vec::new(), &Interrupt::new()) else {
            panic!("expected a trap")
        };
        assert!(matches!(trap.kind, TrapKind::Arith { .. }));
        let trace: Vec<(u16, u32, u32)> = vm
            .backtrace()
            .iter()
            .map(|entry| (entry.function, entry.ip, entry.base))
            .collect();
        assert_eq!(trace, [(2, 9, 1), (1, 4, 0), (0, 1, 0)]);
    }
}
