//! The interpreter: one dispatch loop over a verified program's pre-decoded instructions.
//!
//! [`Vm::run`] never exits the process or panics; it returns an [`Outcome`]. Every outcome leaves
//! the VM at a clean instruction boundary with all output flushed, which is what pausing, saving
//! and migrating rely on.
//!
//! **Architecture Invariant:** an instruction either completes or leaves the VM exactly as it found
//! it. A trap reports the faulting instruction with the stack untouched, so a trapped VM shows the
//! state that caused the trap.

use crate::heap::{self, Heap, OutOfMemory, View};
use crate::interrupt::Interrupt;
use mova_lang::func::{Frame, MAX_CALL_DEPTH};
use mova_lang::heap::{Kind, Limits, Object, Ref, Target, heap_bytes_for};
use mova_lang::image::{Image, ImageError, State};
use mova_lang::isa::Instr;
use mova_lang::mvb::Program;
use mova_lang::ops::{self, ArithError, BinOp, Operation};
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use mova_lang::isa::STACK_LIMIT;

/// A program and its execution state: the instruction pointer, the operand stack, the reference
/// stack, the call frames and the heap.
#[derive(Debug)]
pub struct Vm {
    program: Program,
    ip: u32,
    /// The operand stack's storage, allocated at its full size once so that pushes never
    /// reallocate; `stack[..depth]` are the values, bottom first.
    stack: Box<[i64; STACK_LIMIT]>,
    depth: usize,
    /// The reference stack and the heap.
    refs: Refs,
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
    /// The height of the reference stack below its frame.
    pub ref_base: u32,
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
    /// A push onto a full reference stack.
    #[error("stack overflow: the reference stack already holds {STACK_LIMIT} references")]
    RefStackOverflow,
    /// Fewer references on the reference stack than the instruction takes.
    #[error("stack underflow: it needs {needed} reference{}, the reference stack holds {depth}", if *needed == 1 { "" } else { "s" })]
    RefStackUnderflow {
        /// How many references the instruction takes.
        needed: u16,
        /// How many the reference stack holds (in the frame).
        depth: usize,
    },
    /// A reference slot that is not on the reference stack.
    #[error("reference slot {slot} is out of range: the frame holds {depth} reference{}{}", if *depth == 1 { "" } else { "s" }, if *storing { " below the stored one" } else { "" })]
    RefSlotOutOfRange {
        slot: u16,
        /// How many references the slot could address.
        depth: usize,
        /// Whether the access was a store.
        storing: bool,
    },
    /// An index outside a string or an array.
    #[error("index out of bounds: the length is {len} but the index is {index}")]
    IndexOutOfBounds {
        /// The index.
        index: i64,
        /// The length of the string or array.
        len: usize,
    },
    /// `pop` of an empty array.
    #[error("pop from an empty array: the length is 0")]
    PopEmpty,
    /// `array(n, v)` with a negative `n`.
    #[error("negative array length: {len}")]
    NegativeLength {
        /// The length asked for.
        len: i64,
    },
    /// An allocation beyond the heap limit, even after collecting the garbage.
    #[error(
        "out of memory: the heap would hold {} bytes, more than its limit of {limit} bytes (mova --max-heap)",
        if *needed == usize::MAX { String::from("more than 2^64") } else { needed.to_string() }
    )]
    OutOfMemory {
        /// The bytes the heap would hold.
        needed: usize,
        /// Its limit.
        limit: usize,
    },
    /// A reference to the wrong kind of object for the instruction (only forged bytecode gets
    /// here: the compiler's types rule it out), or to nothing.
    #[error("wrong kind of value: it needs {expected}, the reference is to {found}")]
    WrongKind {
        /// What the instruction needs, in words.
        expected: &'static str,
        /// What it found, in words.
        found: &'static str,
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

/// Why a state image cannot become a VM.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The image is not a state of the program.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Its heap is larger than this VM's limit.
    #[error(
        "the image's heap holds {} bytes, more than this VM's limit of {} bytes (mova --max-heap)",
        .0.needed, .0.limit
    )]
    Heap(OutOfMemory),
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

/// The top of `stack` (its first `sp` entries in use), or `$empty` (which leaves: a trap). `sp - 1`
/// wraps to an index no stack has when the stack is empty, so one bounds check covers both.
macro_rules! top_of {
    ($stack:expr, $sp:expr, $empty:expr) => {
        match $stack.get_mut($sp.wrapping_sub(1)) {
            Some(top) => top,
            None => $empty,
        }
    };
}

/// The two top entries `(a, b)` of `stack`, `b` on top, or `$short` (which leaves: a trap).
macro_rules! top2_of {
    ($stack:expr, $sp:expr, $short:expr) => {
        match (
            $stack.get($sp.wrapping_sub(2)),
            $stack.get($sp.wrapping_sub(1)),
        ) {
            (Some(&a), Some(&b)) if $sp >= 2 => (a, b),
            _ => $short,
        }
    };
}

/// Pushes `value` onto `stack` at `sp`, which it increments, or runs `$full` (which leaves: a
/// trap) when the storage, which holds exactly the limit, is full.
macro_rules! push_onto {
    ($stack:expr, $sp:ident, $value:expr, $full:expr) => {{
        let value = $value;
        match $stack.get_mut($sp) {
            Some(slot) => {
                *slot = value;
                $sp += 1;
            }
            None => $full,
        }
    }};
}

impl Vm {
    /// A VM at the start of `program`, with empty stacks and an empty heap of at most
    /// [`heap::DEFAULT_MAX_HEAP`] bytes.
    pub fn new(program: Program) -> Vm {
        Vm::with_heap_limit(program, heap::DEFAULT_MAX_HEAP)
    }

    /// A VM at the start of `program` whose heap may hold up to `max_heap` bytes.
    pub fn with_heap_limit(program: Program, max_heap: usize) -> Vm {
        Vm {
            program,
            ip: 0,
            stack: empty_stack(),
            depth: 0,
            refs: Refs {
                slots: empty_refs(),
                depth: 0,
                heap: Heap::new(max_heap),
            },
            sleep_left: None,
            frames: Vec::new(),
        }
    }

    /// The reference stack, bottom first.
    pub fn refs(&self) -> &[Ref] {
        self.refs.live()
    }

    /// The heap.
    pub fn heap(&self) -> &Heap {
        &self.refs.heap
    }

    /// The text `print` shows for `value` (a string as its text, an array with its strings
    /// quoted), at most `limits.max_len` bytes.
    pub fn show(&self, value: Ref, limits: Limits) -> String {
        let view = View {
            heap: &self.refs.heap,
            constants: self.program.constants(),
        };
        mova_lang::heap::show_string(&view, value, false, limits)
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
    ///
    /// The image holds only the heap objects the reference stack reaches, renumbered in the
    /// order a walk from it meets them: garbage never travels.
    pub fn save(&self, with_program: bool) -> Result<Image, ImageError> {
        let sleep_left_ms = self
            .sleep_left
            .map(|left| u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
        let (heap, refs) = self.refs.heap.export(self.refs());
        let state = State {
            ip: self.ip,
            stack: self.stack().to_vec(),
            frames: self.frames.clone(),
            refs,
            heap,
            sleep_left_ms,
        };
        Image::of_state(&self.program, state, with_program)
    }

    /// A VM for `program` in the state `image` holds, if the image fits the program, with a heap
    /// of at most [`heap::DEFAULT_MAX_HEAP`] bytes.
    pub fn from_image(program: Program, image: &Image) -> Result<Vm, RestoreError> {
        Vm::from_image_with_heap_limit(program, image, heap::DEFAULT_MAX_HEAP)
    }

    /// A VM for `program` in the state `image` holds, whose heap may hold up to `max_heap` bytes:
    /// refused if the image does not fit the program, or its heap does not fit the limit.
    pub fn from_image_with_heap_limit(
        program: Program,
        image: &Image,
        max_heap: usize,
    ) -> Result<Vm, RestoreError> {
        image.check(&program)?;
        let mut stack = empty_stack();
        let depth = image.stack.len();
        // `check` refused a stack deeper than the limit.
        for (slot, value) in stack.iter_mut().zip(&image.stack) {
            *slot = *value;
        }
        let mut slots = empty_refs();
        for (slot, value) in slots.iter_mut().zip(&image.refs) {
            *slot = *value;
        }
        let refs = Refs {
            slots,
            depth: image.refs.len(),
            heap: Heap::import(image.heap.clone(), max_heap).map_err(RestoreError::Heap)?,
        };
        Ok(Vm {
            program,
            ip: image.ip,
            stack,
            depth,
            refs,
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
        let constants = self.program.constants();
        let stack = &mut *self.stack;
        // The reference stack and the heap stay in memory: only the instructions on references
        // (out of line, in `step_refs`) and calls and returns touch them.
        let refs = &mut self.refs;
        let frames = &mut self.frames;
        // The base of the current frame: slots count from it.
        let mut fp = frames.last().map_or(0, |frame| frame.base as usize);
        // The base of the current frame's reference slots, likewise.
        let mut rfp = frames.last().map_or(0, |frame| frame.ref_base as usize);
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
        // The value of a `Result<_, TrapKind>`, or its trap.
        macro_rules! tri {
            ($result:expr) => {
                match $result {
                    Ok(value) => value,
                    Err(kind) => trap!(kind),
                }
            };
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
            // The top value, or a stack underflow.
            macro_rules! top {
                () => {
                    top_of!(stack, sp, trap!(underflow(sp)))
                };
            }
            // Pushes a value, or traps with a stack overflow.
            macro_rules! push {
                ($value:expr) => {
                    push_onto!(stack, sp, $value, trap!(TrapKind::StackOverflow))
                };
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
            // The value in `slot` below the top, which an instruction that pops the top reads
            // (`slot` must lie below it), or the trap.
            macro_rules! below {
                ($slot:expr) => {{
                    let slot = $slot;
                    let slot_index = fp + usize::from(slot);
                    match stack.get(slot_index) {
                        Some(&s) if slot_index + 1 < sp => s,
                        Some(_) | None if sp == 0 => trap!(underflow(sp)),
                        Some(_) | None => trap!(TrapKind::SlotOutOfRange {
                            slot,
                            depth: (sp - 1).saturating_sub(fp),
                            storing: false
                        }),
                    }
                }};
            }
            // Pops the top `a` and jumps if `a op b` holds (gives 1).
            macro_rules! compare_pop {
                ($op:expr, $b:expr, $offset:expr) => {{
                    let a = *top!();
                    let b = $b;
                    sp -= 1;
                    if ops::binary($op, a, b) == Ok(1) {
                        jump!(relative(ip, $offset));
                    }
                }};
            }
            // Replaces the value `a` in `slot` by `a op b`, or traps leaving it in place.
            macro_rules! in_slot {
                ($slot:expr, $op:expr, $b:expr) => {{
                    let (slot, op, b) = ($slot, $op, $b);
                    let slot_index = fp + usize::from(slot);
                    match stack.get_mut(slot_index) {
                        Some(target) if slot_index < sp => match ops::binary(op, *target, b) {
                            Ok(result) => *target = result,
                            Err(error) => trap!(arith_trap(error, op, *target, b)),
                        },
                        // Nothing is popped, so the message is a read's: the stack holds `depth`.
                        Some(_) | None => trap!(TrapKind::SlotOutOfRange {
                            slot,
                            depth: sp - fp,
                            storing: false
                        }),
                    }
                }};
            }
            // The reference in reference slot `slot` of the current frame, or the trap.
            macro_rules! ref_slot {
                ($slot:expr) => {{
                    let slot = $slot;
                    match refs.slot(rfp, slot) {
                        Some(value) => value,
                        None => trap!(TrapKind::RefSlotOutOfRange {
                            slot,
                            depth: refs.depth.saturating_sub(rfp),
                            storing: false
                        }),
                    }
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
                    let ref_params = usize::from(callee.ref_params);
                    let Some(ref_base) = refs.depth.checked_sub(ref_params) else {
                        trap!(TrapKind::RefStackUnderflow {
                            needed: callee.ref_params,
                            depth: refs.depth,
                        });
                    };
                    if frames.len() >= MAX_CALL_DEPTH {
                        trap!(TrapKind::CallDepth);
                    }
                    fp = sp - params;
                    rfp = ref_base;
                    frames.push(Frame {
                        function,
                        return_ip: ip as u32 + 1,
                        base: fp as u32,
                        ref_base: ref_base as u32,
                    });
                    ip = callee.entry as usize;
                    continue;
                }
                Instr::Ret | Instr::RetV => {
                    poll!();
                    let value = match (instr, sp.checked_sub(1).and_then(|at| stack.get(at))) {
                        (Instr::RetV, Some(&value)) if sp > fp => Some(value),
                        (Instr::RetV, _) => trap!(underflow(sp.saturating_sub(fp))),
                        _ => None,
                    };
                    let Some(frame) = frames.pop() else {
                        trap!(TrapKind::NoCall);
                    };
                    sp = frame.base as usize;
                    refs.depth = frame.ref_base as usize;
                    if let Some(value) = value {
                        // The frame held at least this value, so there is room for it.
                        push!(value);
                    }
                    (fp, rfp) = frames.last().map_or((0, 0), |frame| {
                        (frame.base as usize, frame.ref_base as usize)
                    });
                    ip = frame.return_ip as usize;
                    continue;
                }
                Instr::RetR => {
                    poll!();
                    let value = match refs.top() {
                        Some(value) if refs.depth > rfp => value,
                        Some(_) | None => trap!(TrapKind::RefStackUnderflow {
                            needed: 1,
                            depth: refs.depth.saturating_sub(rfp),
                        }),
                    };
                    let Some(frame) = frames.pop() else {
                        trap!(TrapKind::NoCall);
                    };
                    sp = frame.base as usize;
                    refs.depth = frame.ref_base as usize;
                    // The frame held at least this reference, so there is room for it.
                    refs.push(value);
                    (fp, rfp) = frames.last().map_or((0, 0), |frame| {
                        (frame.base as usize, frame.ref_base as usize)
                    });
                    ip = frame.return_ip as usize;
                    continue;
                }
                // The commonest array accesses have a fast path here, for the case that cannot
                // fail (an array of ints, an index in range, room on the stacks); anything else —
                // a string, a trap — takes the one full implementation, `step_refs`.
                Instr::Get => {
                    if let (Some(&index), Some(value)) = (stack.get(sp.wrapping_sub(1)), refs.top())
                        && let Some(&element) = refs.int_at(value, index)
                    {
                        if let Some(top) = stack.get_mut(sp - 1) {
                            *top = element;
                        }
                        refs.depth -= 1;
                    } else {
                        sp = tri!(step_refs(refs, constants, *instr, stack, sp, rfp, out));
                    }
                }
                Instr::Set => {
                    if sp >= 2
                        && let (Some(&index), Some(&element), Some(value)) =
                            (stack.get(sp - 2), stack.get(sp - 1), refs.top())
                        && let Some(slot) = refs.int_at_mut(value, index)
                    {
                        *slot = element;
                        sp -= 2;
                        refs.depth -= 1;
                    } else {
                        sp = tri!(step_refs(refs, constants, *instr, stack, sp, rfp, out));
                    }
                }
                Instr::RDup => match refs.top() {
                    Some(value) if refs.depth < STACK_LIMIT => refs.push(value),
                    Some(_) | None => {
                        sp = tri!(step_refs(refs, constants, *instr, stack, sp, rfp, out));
                    }
                },
                Instr::RPop if refs.depth > 0 => refs.depth -= 1,
                Instr::RLoad(slot)
                    if let Some(value) = refs.slot(rfp, slot)
                        && refs.depth < STACK_LIMIT =>
                {
                    refs.push(value);
                }
                Instr::Len
                    if let Some(len) = refs.top().and_then(|value| refs.len_of(value))
                        && sp < STACK_LIMIT =>
                {
                    refs.depth -= 1;
                    push!(len);
                }
                Instr::Const(_)
                | Instr::RLoad(_)
                | Instr::RStore(_)
                | Instr::RPop
                | Instr::Concat
                | Instr::ToStr
                | Instr::Show
                | Instr::PrintR
                | Instr::Len
                | Instr::GetR
                | Instr::SetR
                | Instr::NewI
                | Instr::NewR
                | Instr::Append
                | Instr::AppendR
                | Instr::Fill
                | Instr::FillR
                | Instr::Remove
                | Instr::RemoveR
                | Instr::Cmp
                | Instr::ConcatI => {
                    // Out of line: the int instructions' loop keeps its registers to itself.
                    sp = tri!(step_refs(refs, constants, *instr, stack, sp, rfp, out));
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
                Instr::JeqKP(k, offset) => compare_pop!(BinOp::Eq, k, offset),
                Instr::JneKP(k, offset) => compare_pop!(BinOp::Ne, k, offset),
                Instr::JltKP(k, offset) => compare_pop!(BinOp::Lt, k, offset),
                Instr::JleKP(k, offset) => compare_pop!(BinOp::Le, k, offset),
                Instr::JgtKP(k, offset) => compare_pop!(BinOp::Gt, k, offset),
                Instr::JgeKP(k, offset) => compare_pop!(BinOp::Ge, k, offset),
                Instr::JeqLP(slot, offset) => compare_pop!(BinOp::Eq, below!(slot), offset),
                Instr::JneLP(slot, offset) => compare_pop!(BinOp::Ne, below!(slot), offset),
                Instr::JltLP(slot, offset) => compare_pop!(BinOp::Lt, below!(slot), offset),
                Instr::JleLP(slot, offset) => compare_pop!(BinOp::Le, below!(slot), offset),
                Instr::JgtLP(slot, offset) => compare_pop!(BinOp::Gt, below!(slot), offset),
                Instr::JgeLP(slot, offset) => compare_pop!(BinOp::Ge, below!(slot), offset),
                Instr::AddKTo(slot, k) => in_slot!(slot, BinOp::Add, k),
                Instr::MulKTo(slot, k) => in_slot!(slot, BinOp::Mul, k),
                Instr::DivKTo(slot, k) => in_slot!(slot, BinOp::Div, k),
                Instr::ModKTo(slot, k) => in_slot!(slot, BinOp::Rem, k),
                // The array and the index in slots: the common case (an array of ints, an index
                // in range) here, a string or a trap through the one implementation of `GET`.
                Instr::GetL(array, slot) => {
                    let slot_index = fp + usize::from(slot);
                    let index = match stack.get(slot_index) {
                        Some(&index) if slot_index < sp => index,
                        Some(_) | None => trap!(TrapKind::SlotOutOfRange {
                            slot,
                            depth: sp - fp,
                            storing: false
                        }),
                    };
                    let value = ref_slot!(array);
                    let element = match refs.int_at(value, index) {
                        Some(&element) => element,
                        None => tri!(element(&refs.heap, constants, value, index)),
                    };
                    push!(element);
                }
                Instr::SetL(array, slot) => {
                    let element = *top!();
                    let index = below!(slot);
                    let value = ref_slot!(array);
                    match refs.int_at_mut(value, index) {
                        Some(target) => *target = element,
                        None => tri!(set_element(&mut refs.heap, value, index, element)),
                    }
                    sp -= 1;
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

/// The reference stack and the heap of a VM.
#[derive(Debug)]
struct Refs {
    /// The reference stack's storage, allocated at its full size once (zeroed pages the system
    /// maps only when touched, so an int-only program pays nothing for it); `slots[..depth]` are
    /// the references, bottom first.
    slots: Box<[Ref; STACK_LIMIT]>,
    depth: usize,
    /// The strings and arrays the program made.
    heap: Heap,
}

impl Refs {
    /// The references, bottom first.
    fn live(&self) -> &[Ref] {
        self.slots.get(..self.depth).unwrap_or_default()
    }

    fn top(&self) -> Option<Ref> {
        self.slots.get(self.depth.checked_sub(1)?).copied()
    }

    /// Element `index` of the array of ints `value` refers to, if it is one and has it.
    #[inline]
    fn int_at(&self, value: Ref, index: i64) -> Option<&i64> {
        match self.heap.get(value)? {
            Object::Ints(values) => values.get(usize::try_from(index).ok()?),
            Object::Str(_) | Object::Refs(_) => None,
        }
    }

    /// Element `index` of the array of ints `value` refers to, to change.
    #[inline]
    fn int_at_mut(&mut self, value: Ref, index: i64) -> Option<&mut i64> {
        match self.heap.get_mut(value)? {
            Object::Ints(values) => values.get_mut(usize::try_from(index).ok()?),
            Object::Str(_) | Object::Refs(_) => None,
        }
    }

    /// Reference slot `slot` of the frame whose reference slots start at `rfp`, if it holds it.
    #[inline]
    fn slot(&self, rfp: usize, slot: u16) -> Option<Ref> {
        let index = rfp + usize::from(slot);
        self.live().get(index).copied()
    }

    /// The length of the heap object `value` refers to (what the fast path of `LEN` handles; a
    /// string constant takes the full one).
    #[inline]
    fn len_of(&self, value: Ref) -> Option<i64> {
        match self.heap.get(value)? {
            Object::Ints(values) => i64::try_from(values.len()).ok(),
            Object::Str(bytes) => i64::try_from(bytes.len()).ok(),
            Object::Refs(refs) => i64::try_from(refs.len()).ok(),
        }
    }

    /// Pushes a reference where there is room (a full stack keeps its references).
    fn push(&mut self, value: Ref) {
        if let Some(slot) = self.slots.get_mut(self.depth) {
            *slot = value;
            self.depth += 1;
        }
    }
}

/// Executes one instruction on references (all but calls and returns): returns the new int
/// stack pointer, or the trap, having changed nothing. Out of line, so that the int
/// instructions' dispatch loop carries none of this code or its registers.
#[inline(never)]
fn step_refs<W: Write>(
    state: &mut Refs,
    constants: &[Box<[u8]>],
    instr: Instr,
    stack: &mut [i64; STACK_LIMIT],
    sp: usize,
    rfp: usize,
    out: &mut W,
) -> Result<usize, TrapKind> {
    let mut sp = sp;
    let mut rsp = state.depth;
    let refs = &mut *state.slots;
    let heap = &mut state.heap;
    macro_rules! trap {
        ($kind:expr) => {
            return Err($kind)
        };
    }
    macro_rules! tri {
        ($result:expr) => {
            match $result {
                Ok(value) => value,
                Err(kind) => trap!(kind),
            }
        };
    }
    let underflow = |depth| TrapKind::StackUnderflow {
        needed: u16::from(instr.opcode().stack_effect().pops),
        depth,
    };
    macro_rules! top {
        () => {
            top_of!(stack, sp, trap!(underflow(sp)))
        };
    }
    macro_rules! push {
        ($value:expr) => {
            push_onto!(stack, sp, $value, trap!(TrapKind::StackOverflow))
        };
    }
    let ref_underflow = |depth| TrapKind::RefStackUnderflow {
        needed: u16::from(instr.opcode().stack_effect().ref_pops),
        depth,
    };
    // The top reference, the two top references or values, or a stack underflow.
    macro_rules! rtop {
        () => {
            top_of!(refs, rsp, trap!(ref_underflow(rsp)))
        };
    }
    macro_rules! rtop2 {
        () => {
            top2_of!(refs, rsp, trap!(ref_underflow(rsp)))
        };
    }
    macro_rules! top2 {
        () => {
            top2_of!(stack, sp, trap!(underflow(sp)))
        };
    }
    // Pushes a reference, or traps with a stack overflow.
    macro_rules! rpush {
        ($value:expr) => {
            push_onto!(refs, rsp, $value, trap!(TrapKind::RefStackOverflow))
        };
    }
    // Traps unless one more value (reference) fits, before anything is changed.
    macro_rules! room {
        () => {
            if sp >= STACK_LIMIT {
                trap!(TrapKind::StackOverflow);
            }
        };
    }
    macro_rules! ref_room {
        () => {
            if rsp >= STACK_LIMIT {
                trap!(TrapKind::RefStackOverflow);
            }
        };
    }
    // Makes room on the heap for `bytes` more (`None`: more than any heap holds),
    // collecting first if it is time, or traps with "out of memory". The instruction's
    // operands are still on the reference stack, so the collector keeps them.
    macro_rules! reserve {
        ($bytes:expr) => {{
            let bytes: Option<usize> = $bytes;
            let roots = refs.get(..rsp).unwrap_or_default();
            tri!(reserve(heap, bytes, roots));
        }};
    }
    match instr {
        Instr::Const(constant) => rpush!(Ref::constant(constant)),
        Instr::RLoad(slot) => {
            let index = rfp + usize::from(slot);
            match refs.get(index) {
                Some(&value) if index < rsp => rpush!(value),
                Some(_) | None => trap!(TrapKind::RefSlotOutOfRange {
                    slot,
                    depth: rsp.saturating_sub(rfp),
                    storing: false
                }),
            }
        }
        Instr::RStore(slot) => {
            let value = *rtop!();
            let index = rfp + usize::from(slot);
            match refs.get_mut(index) {
                Some(target) if index + 1 < rsp => {
                    *target = value;
                    rsp -= 1;
                }
                Some(_) | None => trap!(TrapKind::RefSlotOutOfRange {
                    slot,
                    depth: rsp.saturating_sub(1).saturating_sub(rfp),
                    storing: true
                }),
            }
        }
        Instr::RPop => {
            rtop!();
            rsp -= 1;
        }
        Instr::RDup => {
            let top = *rtop!();
            rpush!(top);
        }
        Instr::Concat => {
            let (a, b) = rtop2!();
            let len = {
                let a = tri!(string(heap, constants, a));
                let b = tri!(string(heap, constants, b));
                a.len().checked_add(b.len())
            };
            reserve!(len.and_then(|len| heap_bytes_for(Kind::Str, len)));
            let joined = {
                let a = tri!(string(heap, constants, a));
                let b = tri!(string(heap, constants, b));
                [a, b].concat()
            };
            let value = heap.insert(Object::Str(joined.into()));
            rsp -= 2;
            rpush!(value);
        }
        Instr::ConcatI => {
            let n = *top!();
            let a = *rtop!();
            let mut digits = [0u8; DECIMAL_LEN];
            let digits = decimal(n, &mut digits);
            let len = tri!(string(heap, constants, a))
                .len()
                .checked_add(digits.len());
            reserve!(len.and_then(|len| heap_bytes_for(Kind::Str, len)));
            let joined = {
                let a = tri!(string(heap, constants, a));
                [a, digits].concat()
            };
            let value = heap.insert(Object::Str(joined.into()));
            sp -= 1;
            if let Some(top) = refs.get_mut(rsp - 1) {
                *top = value;
            }
        }
        Instr::ToStr => {
            let n = *top!();
            ref_room!();
            let text = n.to_string();
            reserve!(heap_bytes_for(Kind::Str, text.len()));
            let value = heap.insert(Object::Str(text.into_bytes().into()));
            sp -= 1;
            rpush!(value);
        }
        Instr::Show => {
            let value = *rtop!();
            if string(heap, constants, value).is_err() {
                let budget = heap.limit().saturating_sub(heap.bytes());
                let mut text = Vec::new();
                let view = View { heap, constants };
                let limits = Limits { max_len: budget };
                mova_lang::heap::show(&view, value, false, limits, &mut text);
                if text.len() > budget {
                    trap!(TrapKind::OutOfMemory {
                        needed: heap.bytes().saturating_add(text.len()),
                        limit: heap.limit(),
                    });
                }
                reserve!(heap_bytes_for(Kind::Str, text.len()));
                let shown = heap.insert(Object::Str(text.into()));
                if let Some(top) = refs.get_mut(rsp - 1) {
                    *top = shown;
                }
            }
        }
        Instr::PrintR => {
            let value = *rtop!();
            let written = match string(heap, constants, value) {
                Ok(bytes) => out.write_all(bytes),
                Err(_) => {
                    // An array is written as it is walked, never built whole in memory.
                    let view = View { heap, constants };
                    let mut result = Ok(());
                    mova_lang::heap::walk(&view, value, false, &mut |bytes| {
                        result = out.write_all(bytes);
                        result.is_ok()
                    });
                    result
                }
            };
            if let Err(error) = written.and_then(|()| out.write_all(b"\n")) {
                trap!(TrapKind::Output(error));
            }
            rsp -= 1;
        }
        Instr::Len => {
            let value = *rtop!();
            room!();
            let len = tri!(sequence(heap, constants, value)).len();
            push!(i64::try_from(len).unwrap_or(i64::MAX));
            rsp -= 1;
        }
        Instr::Get => {
            let index = *top!();
            let value = *rtop!();
            let element = tri!(element(heap, constants, value, index));
            if let Some(top) = stack.get_mut(sp - 1) {
                *top = element;
            }
            rsp -= 1;
        }
        Instr::GetR => {
            let index = *top!();
            let value = *rtop!();
            let array = tri!(ref_array(heap, value));
            let element = *tri!(at(array, index));
            if let Some(top) = refs.get_mut(rsp - 1) {
                *top = element;
            }
            sp -= 1;
        }
        Instr::Set => {
            let (index, element) = top2!();
            let value = *rtop!();
            tri!(set_element(heap, value, index, element));
            sp -= 2;
            rsp -= 1;
        }
        Instr::SetR => {
            let index = *top!();
            let (value, element) = rtop2!();
            let array = tri!(ref_array_mut(heap, value));
            *tri!(at_mut(array, index)) = element;
            sp -= 1;
            rsp -= 2;
        }
        Instr::NewI | Instr::NewR => {
            ref_room!();
            reserve!(Some(mova_lang::heap::OBJECT_OVERHEAD));
            let object = if matches!(instr, Instr::NewI) {
                Object::Ints(Vec::new())
            } else {
                Object::Refs(Vec::new())
            };
            let value = heap.insert(object);
            rpush!(value);
        }
        Instr::Append => {
            let element = *top!();
            let value = *rtop!();
            let roots = refs.get(..rsp).unwrap_or_default();
            tri!(append(
                heap,
                value,
                element,
                Kind::Ints,
                int_array_mut,
                roots
            ));
            sp -= 1;
        }
        Instr::AppendR => {
            let (value, element) = rtop2!();
            let roots = refs.get(..rsp).unwrap_or_default();
            tri!(append(
                heap,
                value,
                element,
                Kind::Refs,
                ref_array_mut,
                roots
            ));
            rsp -= 1;
        }
        Instr::Fill => {
            let (len, element) = top2!();
            ref_room!();
            let Ok(len) = usize::try_from(len) else {
                trap!(TrapKind::NegativeLength { len });
            };
            reserve!(heap_bytes_for(Kind::Ints, len));
            let value = heap.insert(Object::Ints(vec![element; len]));
            sp -= 2;
            rpush!(value);
        }
        Instr::FillR => {
            let len = *top!();
            let element = *rtop!();
            let Ok(len) = usize::try_from(len) else {
                trap!(TrapKind::NegativeLength { len });
            };
            reserve!(heap_bytes_for(Kind::Refs, len));
            let value = heap.insert(Object::Refs(vec![element; len]));
            if let Some(top) = refs.get_mut(rsp - 1) {
                *top = value;
            }
            sp -= 1;
        }
        Instr::Remove => {
            let value = *rtop!();
            room!();
            let array = tri!(int_array_mut(heap, value));
            let Some(element) = array.pop() else {
                trap!(TrapKind::PopEmpty);
            };
            push!(element);
            rsp -= 1;
        }
        Instr::RemoveR => {
            let value = *rtop!();
            let array = tri!(ref_array_mut(heap, value));
            let Some(element) = array.pop() else {
                trap!(TrapKind::PopEmpty);
            };
            if let Some(top) = refs.get_mut(rsp - 1) {
                *top = element;
            }
        }
        Instr::Cmp => {
            let (a, b) = rtop2!();
            room!();
            let order = {
                let a = tri!(string(heap, constants, a));
                let b = tri!(string(heap, constants, b));
                a.cmp(b) as i64
            };
            push!(order);
            rsp -= 2;
        }

        // Every other instruction is the dispatch loop's.
        Instr::Put(_)
        | Instr::Add(_)
        | Instr::Goto(_)
        | Instr::Print
        | Instr::Sleep(_)
        | Instr::Halt
        | Instr::Pop
        | Instr::Dup
        | Instr::Load(_)
        | Instr::Store(_)
        | Instr::AddS
        | Instr::Sub
        | Instr::Mul
        | Instr::Div
        | Instr::Mod
        | Instr::Neg
        | Instr::Not
        | Instr::Eq
        | Instr::Ne
        | Instr::Lt
        | Instr::Le
        | Instr::Gt
        | Instr::Ge
        | Instr::Jmp(_)
        | Instr::Jz(_)
        | Instr::Jnz(_)
        | Instr::SleepS
        | Instr::JeqK(..)
        | Instr::JneK(..)
        | Instr::JltK(..)
        | Instr::JleK(..)
        | Instr::JgtK(..)
        | Instr::JgeK(..)
        | Instr::MulK(_)
        | Instr::DivK(_)
        | Instr::ModK(_)
        | Instr::AddTo(_)
        | Instr::AddL(_)
        | Instr::SubL(_)
        | Instr::MulL(_)
        | Instr::IncJlt(..)
        | Instr::JeqKP(..)
        | Instr::JneKP(..)
        | Instr::JltKP(..)
        | Instr::JleKP(..)
        | Instr::JgtKP(..)
        | Instr::JgeKP(..)
        | Instr::JeqLP(..)
        | Instr::JneLP(..)
        | Instr::JltLP(..)
        | Instr::JleLP(..)
        | Instr::JgtLP(..)
        | Instr::JgeLP(..)
        | Instr::AddKTo(..)
        | Instr::MulKTo(..)
        | Instr::DivKTo(..)
        | Instr::ModKTo(..)
        | Instr::GetL(..)
        | Instr::SetL(..)
        | Instr::Call(_)
        | Instr::Ret
        | Instr::RetV
        | Instr::RetR => {}
    }
    state.depth = rsp;
    Ok(sp)
}

/// What a reference to a string or an array holds, to read.
enum Sequence<'a> {
    /// A string's bytes (a constant's or a heap string's).
    Bytes(&'a [u8]),
    Ints(&'a [i64]),
    Refs(&'a [Ref]),
}

impl Sequence<'_> {
    fn len(&self) -> usize {
        match self {
            Sequence::Bytes(bytes) => bytes.len(),
            Sequence::Ints(values) => values.len(),
            Sequence::Refs(refs) => refs.len(),
        }
    }
}

/// What `value` refers to, to read; a reference to nothing (never in a checked state) is a
/// wrong kind.
fn sequence<'a>(
    heap: &'a Heap,
    constants: &'a [Box<[u8]>],
    value: Ref,
) -> Result<Sequence<'a>, TrapKind> {
    match value.target() {
        Target::Constant(index) => constants
            .get(index as usize)
            .map(|bytes| Sequence::Bytes(bytes))
            .ok_or(nothing("a string or an array")),
        Target::Object(_) => match heap.get(value) {
            Some(Object::Str(bytes)) => Ok(Sequence::Bytes(bytes)),
            Some(Object::Ints(values)) => Ok(Sequence::Ints(values)),
            Some(Object::Refs(refs)) => Ok(Sequence::Refs(refs)),
            None => Err(nothing("a string or an array")),
        },
    }
}

/// The trap of a reference to nothing.
#[cold]
fn nothing(expected: &'static str) -> TrapKind {
    TrapKind::WrongKind {
        expected,
        found: "nothing",
    }
}

/// The bytes of the string `value` refers to, or a wrong kind.
fn string<'a>(
    heap: &'a Heap,
    constants: &'a [Box<[u8]>],
    value: Ref,
) -> Result<&'a [u8], TrapKind> {
    match sequence(heap, constants, value) {
        Ok(Sequence::Bytes(bytes)) => Ok(bytes),
        Ok(Sequence::Ints(_)) => Err(wrong("a string", Kind::Ints)),
        Ok(Sequence::Refs(_)) => Err(wrong("a string", Kind::Refs)),
        Err(_) => Err(nothing("a string")),
    }
}

/// The trap of an array instruction whose reference is not to a heap object: a string constant,
/// or nothing.
#[cold]
fn missing(expected: Kind, value: Ref) -> TrapKind {
    match value.target() {
        Target::Constant(_) => wrong(expected.words(), Kind::Str),
        Target::Object(_) => nothing(expected.words()),
    }
}

#[cold]
fn wrong(expected: &'static str, found: Kind) -> TrapKind {
    TrapKind::WrongKind {
        expected,
        found: found.words(),
    }
}

/// The array of references `value` refers to, to read.
fn ref_array(heap: &Heap, value: Ref) -> Result<&[Ref], TrapKind> {
    match heap.get(value) {
        Some(Object::Refs(refs)) => Ok(refs),
        Some(object) => Err(wrong(Kind::Refs.words(), object.kind())),
        None => Err(missing(Kind::Refs, value)),
    }
}

/// The array of ints `value` refers to, to change.
fn int_array_mut(heap: &mut Heap, value: Ref) -> Result<&mut Vec<i64>, TrapKind> {
    match heap.get_mut(value) {
        Some(Object::Ints(values)) => Ok(values),
        Some(object) => Err(wrong(Kind::Ints.words(), object.kind())),
        None => Err(missing(Kind::Ints, value)),
    }
}

/// The array of references `value` refers to, to change.
fn ref_array_mut(heap: &mut Heap, value: Ref) -> Result<&mut Vec<Ref>, TrapKind> {
    match heap.get_mut(value) {
        Some(Object::Refs(refs)) => Ok(refs),
        Some(object) => Err(wrong(Kind::Refs.words(), object.kind())),
        None => Err(missing(Kind::Refs, value)),
    }
}

/// Adds `element` at the end of the array `value` refers to (of `kind`, reached through `array`),
/// making room on the heap first when the array must grow (`roots`: the references the program
/// holds, for the collector), or the trap, having changed nothing.
fn append<T>(
    heap: &mut Heap,
    value: Ref,
    element: T,
    kind: Kind,
    array: fn(&mut Heap, Ref) -> Result<&mut Vec<T>, TrapKind>,
    roots: &[Ref],
) -> Result<(), TrapKind> {
    let items = array(heap, value)?;
    let capacity = items.capacity();
    if items.len() == capacity {
        // Vec doubles its capacity (at least 4): the heap must have room for the new half.
        reserve(heap, capacity.max(4).checked_mul(kind.element_len()), roots)?;
    }
    let items = array(heap, value)?;
    let before = items.capacity();
    items.push(element);
    let after = items.capacity();
    heap.resized(before * kind.element_len(), after * kind.element_len());
    Ok(())
}

/// Element `index` of `items`, or the out-of-bounds trap naming the index and the length.
/// The longest decimal an `i64` takes: `-9223372036854775808`.
const DECIMAL_LEN: usize = 20;

/// `n` in decimal, written at the end of `buf`, without an allocation.
fn decimal(n: i64, buf: &mut [u8; DECIMAL_LEN]) -> &[u8] {
    let mut at = DECIMAL_LEN;
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        if let Some(digit) = buf.get_mut(at) {
            *digit = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        if let Some(sign) = buf.get_mut(at) {
            *sign = b'-';
        }
    }
    buf.get(at..).unwrap_or_default()
}

/// The byte or element at `index` of the string or array of ints `value` refers to: what `GET`
/// and `GETL` read. Out of line: the dispatch loop calls it only off its fast path.
#[inline(never)]
fn element(heap: &Heap, constants: &[Box<[u8]>], value: Ref, index: i64) -> Result<i64, TrapKind> {
    match sequence(heap, constants, value)? {
        Sequence::Bytes(bytes) => at(bytes, index).map(|byte| i64::from(*byte)),
        Sequence::Ints(values) => at(values, index).copied(),
        Sequence::Refs(_) => Err(wrong("a string or an array of ints", Kind::Refs)),
    }
}

/// Writes `element` at `index` of the array of ints `value` refers to: what `SET` and `SETL` do.
/// Out of line, as [`element`].
#[inline(never)]
fn set_element(heap: &mut Heap, value: Ref, index: i64, element: i64) -> Result<(), TrapKind> {
    let array = int_array_mut(heap, value)?;
    *at_mut(array, index)? = element;
    Ok(())
}

fn at<T>(items: &[T], index: i64) -> Result<&T, TrapKind> {
    let len = items.len();
    usize::try_from(index)
        .ok()
        .and_then(|at| items.get(at))
        .ok_or(TrapKind::IndexOutOfBounds { index, len })
}

/// Element `index` of `items`, to change, or the out-of-bounds trap.
fn at_mut<T>(items: &mut [T], index: i64) -> Result<&mut T, TrapKind> {
    let len = items.len();
    usize::try_from(index)
        .ok()
        .and_then(|at| items.get_mut(at))
        .ok_or(TrapKind::IndexOutOfBounds { index, len })
}

/// Makes room for `bytes` more on `heap` (see [`Heap::reserve`]), or the out-of-memory trap.
fn reserve(heap: &mut Heap, bytes: Option<usize>, roots: &[Ref]) -> Result<(), TrapKind> {
    let out_of_memory = |needed, limit| TrapKind::OutOfMemory { needed, limit };
    let Some(bytes) = bytes else {
        return Err(out_of_memory(usize::MAX, heap.limit()));
    };
    heap.reserve(bytes, roots)
        .map_err(|error| out_of_memory(error.needed, error.limit))?;
    if heap.table_full() {
        return Err(out_of_memory(
            heap.bytes().saturating_add(bytes),
            heap.limit(),
        ));
    }
    Ok(())
}

/// A zeroed reference stack storage of the full size.
fn empty_refs() -> Box<[Ref; STACK_LIMIT]> {
    let storage = vec![Ref(0); STACK_LIMIT].into_boxed_slice();
    storage
        .try_into()
        .unwrap_or_else(|_| Box::new([Ref(0); STACK_LIMIT]))
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
        // Instructions on references need references the verifier counts exactly: a program
        // that runs short of them does not load (their underflow is tested below, on a forged
        // state).
        for &opcode in Opcode::ALL
            .iter()
            .filter(|opcode| opcode.flow() != Flow::Return && !opcode.stack_effect().uses_refs())
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

    /// A VM for `code` with the string constants `strings`, whose heap may hold `max_heap` bytes.
    fn with_strings(code: Vec<Instr>, strings: &[&str], max_heap: usize) -> Vm {
        let section = mova_lang::mvb::Section {
            kind: mova_lang::heap::STRINGS,
            payload: mova_lang::heap::encode_strings(strings),
        };
        Vm::with_heap_limit(
            Program::with_sections(code, vec![section]).unwrap(),
            max_heap,
        )
    }

    fn run_vm(vm: &mut Vm) -> (Outcome, String) {
        let mut out = Vec::new();
        let outcome = vm.run(&mut out, &Interrupt::new());
        (outcome, String::from_utf8(out).unwrap())
    }

    fn trapped(vm: &mut Vm) -> String {
        match run_vm(vm).0 {
            Outcome::Trapped(trap) => trap.to_string(),
            other @ (Outcome::Halted | Outcome::Paused) => panic!("expected a trap, got {other:?}"),
        }
    }

    #[test]
    fn strings_concatenate_compare_and_print() {
        use Instr::*;
        let mut vm = with_strings(
            vec![
                Const(0),
                Const(1),
                Concat,
                RDup,
                PrintR,
                Put(-42),
                ToStr,
                Concat,
                RDup,
                Len,
                Print,
                Pop,
                RDup,
                Put(2),
                Get,
                Print,
                Pop,
                Const(0),
                Cmp,
                Print,
                Pop,
                Const(1),
                Const(0),
                Cmp,
                Print,
                Pop,
            ],
            &["ab", "cd"],
            heap::DEFAULT_MAX_HEAP,
        );
        let (outcome, out) = run_vm(&mut vm);
        assert!(matches!(outcome, Outcome::Halted), "{outcome:?}");
        // "abcd"; "abcd-42" has 7 bytes, byte 2 is 'c' (99); "abcd-42" > "ab"; "cd" > "ab".
        assert_eq!(out, "abcd\n7\n99\n1\n1\n");
        assert!(vm.refs().is_empty());
    }

    #[test]
    fn arrays_grow_shrink_and_show_as_print_shows_them() {
        use Instr::*;
        let mut vm = with_strings(
            vec![
                NewI,
                Put(1),
                Append,
                Put(2),
                Append,
                Put(3),
                Append,
                RDup,
                Remove,
                Print,
                Pop,
                RDup,
                Put(0),
                Put(9),
                Set,
                // An array of references holding the string, the array twice, and array(3, 5).
                NewR,
                Const(0),
                AppendR,
                RLoad(0),
                AppendR,
                RLoad(0),
                AppendR,
                Put(3),
                Put(5),
                Fill,
                AppendR,
                RDup,
                Show,
                PrintR,
                RDup,
                Len,
                Print,
                Pop,
                Put(1),
                GetR,
                PrintR,
                PrintR,
            ],
            &["a\"b"],
            heap::DEFAULT_MAX_HEAP,
        );
        let (outcome, out) = run_vm(&mut vm);
        assert!(matches!(outcome, Outcome::Halted), "{outcome:?}");
        assert_eq!(
            out,
            "3\n[\"a\\\"b\", [9, 2], [9, 2], [5, 5, 5]]\n4\n[9, 2]\n[9, 2]\n"
        );
        assert!(vm.refs().is_empty());
    }

    #[test]
    fn a_large_array_prints_whole_in_pieces() {
        use Instr::*;
        // 100,000 elements: its text (about 1.2 MB) is handed to the output in pieces of 64 KiB.
        let mut vm = with_strings(
            vec![Put(100_000), Put(-12345), Fill, PrintR],
            &[],
            heap::DEFAULT_MAX_HEAP,
        );
        let (outcome, out) = run_vm(&mut vm);
        assert!(matches!(outcome, Outcome::Halted), "{outcome:?}");
        let expected = format!("[{}]\n", vec!["-12345"; 100_000].join(", "));
        assert_eq!(out.len(), expected.len());
        assert!(out == expected, "the printed array differs");
    }

    #[test]
    fn bad_indexes_empty_pops_and_negative_lengths_trap_naming_what_was_wrong() {
        use Instr::*;
        let cases: Vec<(Vec<Instr>, &str)> = vec![
            (
                vec![NewI, Put(1), Append, Put(5), Get],
                "trap at instruction 4 (`GET`): index out of bounds: the length is 1 but the index is 5",
            ),
            (
                vec![NewI, Put(-1), Get],
                "trap at instruction 2 (`GET`): index out of bounds: the length is 0 but the index is -1",
            ),
            (
                vec![Const(0), Put(2), Get],
                "trap at instruction 2 (`GET`): index out of bounds: the length is 2 but the index is 2",
            ),
            (
                vec![NewI, Remove],
                "trap at instruction 1 (`REMOVE`): pop from an empty array: the length is 0",
            ),
            (
                vec![Put(-4), Put(0), Fill],
                "trap at instruction 2 (`FILL`): negative array length: -4",
            ),
            (
                vec![Const(0), Put(0), Put(1), Set],
                "trap at instruction 3 (`SET`): wrong kind of value: it needs an array of ints, the reference is to a string",
            ),
            (
                vec![NewI, Put(0), GetR],
                "trap at instruction 2 (`GETR`): wrong kind of value: it needs an array of references, the reference is to an array of ints",
            ),
        ];
        for (code, expected) in cases {
            let mut vm = with_strings(code.clone(), &["hi"], heap::DEFAULT_MAX_HEAP);
            assert_eq!(trapped(&mut vm), expected, "{code:?}");
            // The state is the faulting instruction's: its operands are still there.
            assert_eq!(vm.ip() as usize, code.len() - 1);
        }
    }

    #[test]
    fn slot_forms_trap_like_the_instructions_they_replace_and_change_nothing() {
        use Instr::*;
        // (code, its trap): every case leaves the state of the faulting instruction.
        let cases: Vec<(Vec<Instr>, &str)> = vec![
            (
                vec![NewI, Put(1), Append, Put(5), GetL(0, 0)],
                "trap at instruction 4 (`GETL 0, 0`): index out of bounds: the length is 1 but the index is 5",
            ),
            (
                vec![Const(0), Put(2), GetL(0, 0)],
                "trap at instruction 2 (`GETL 0, 0`): index out of bounds: the length is 2 but the index is 2",
            ),
            (
                vec![NewR, Put(0), GetL(0, 0)],
                "trap at instruction 2 (`GETL 0, 0`): wrong kind of value: it needs a string or an array of ints, the reference is to an array of references",
            ),
            (
                vec![NewI, Put(0), GetL(1, 0)],
                "trap at instruction 2 (`GETL 1, 0`): reference slot 1 is out of range: the frame holds 1 reference",
            ),
            (
                vec![NewI, Put(0), GetL(0, 1)],
                "trap at instruction 2 (`GETL 0, 1`): slot 1 is out of range: the stack holds 1 value",
            ),
            (
                vec![Const(0), Put(0), Put(7), SetL(0, 0)],
                "trap at instruction 3 (`SETL 0, 0`): wrong kind of value: it needs an array of ints, the reference is to a string",
            ),
            (
                vec![NewI, Put(0), Put(7), SetL(0, 0)],
                "trap at instruction 3 (`SETL 0, 0`): index out of bounds: the length is 0 but the index is 0",
            ),
            (
                // The index must lie below the value it pops.
                vec![NewI, Put(0), SetL(0, 0)],
                "trap at instruction 2 (`SETL 0, 0`): slot 0 is out of range: the stack holds 0 values",
            ),
            (
                vec![Put(i64::MAX), AddKTo(0, 1)],
                "trap at instruction 1 (`ADDKTO 0, 1`): integer overflow: 9223372036854775807 + 1 does not fit in 64 bits",
            ),
            (
                vec![Put(5), DivKTo(0, 0)],
                "trap at instruction 1 (`DIVKTO 0, 0`): division by zero: 5 / 0",
            ),
            (
                vec![Put(5), ModKTo(0, 0)],
                "trap at instruction 1 (`MODKTO 0, 0`): division by zero: 5 % 0",
            ),
            (
                vec![Put(i64::MIN), MulKTo(0, -1)],
                "trap at instruction 1 (`MULKTO 0, -1`): integer overflow: -9223372036854775808 * -1 does not fit in 64 bits",
            ),
            (
                vec![Put(5), AddKTo(1, 1)],
                "trap at instruction 1 (`ADDKTO 1, 1`): slot 1 is out of range: the stack holds 1 value",
            ),
            (
                // The slot compared with must lie below the value popped.
                vec![Put(5), JltLP(0, 1)],
                "trap at instruction 1 (`JLTLP 0, 1`): slot 0 is out of range: the stack holds 0 values",
            ),
            (
                vec![JeqKP(1, 1)],
                "trap at instruction 0 (`JEQKP 1, 1`): stack underflow: it needs 1 value, the stack holds 0",
            ),
            (
                vec![JgeLP(0, 1)],
                "trap at instruction 0 (`JGELP 0, 1`): stack underflow: it needs 1 value, the stack holds 0",
            ),
        ];
        for (code, expected) in cases {
            let mut vm = with_strings(code.clone(), &["hi"], heap::DEFAULT_MAX_HEAP);
            let before: Vec<i64> = {
                let mut probe = with_strings(
                    code.get(..code.len() - 1).unwrap_or_default().to_vec(),
                    &["hi"],
                    heap::DEFAULT_MAX_HEAP,
                );
                probe.run(&mut Vec::new(), &Interrupt::new());
                probe.stack().to_vec()
            };
            assert_eq!(trapped(&mut vm), expected, "{code:?}");
            assert_eq!(vm.ip() as usize, code.len() - 1);
            assert_eq!(vm.stack(), before, "{code:?}: the stack is unchanged");
        }
    }

    #[test]
    fn decimals_fit_every_int() {
        for n in [0, 7, -7, 10, -10, 1009, i64::MAX, i64::MIN, i64::MIN + 1] {
            let mut buf = [0u8; DECIMAL_LEN];
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }

    #[test]
    fn concati_appends_an_int_in_decimal_to_a_string() {
        use Instr::*;
        let code = vec![
            Const(0),
            Put(-42),
            ConcatI,
            PrintR,
            Const(0),
            Put(i64::MIN),
            ConcatI,
        ];
        let mut vm = with_strings(code, &["x="], heap::DEFAULT_MAX_HEAP);
        let mut out = Vec::new();
        assert!(matches!(
            vm.run(&mut out, &Interrupt::new()),
            Outcome::Halted
        ));
        assert_eq!(String::from_utf8(out).unwrap(), "x=-42\n");
        assert_eq!(vm.stack(), [0i64; 0]);
        // An array is not a string: the trap leaves both operands in place.
        let mut vm = with_strings(vec![NewI, Put(1), ConcatI], &[], heap::DEFAULT_MAX_HEAP);
        assert_eq!(
            trapped(&mut vm),
            "trap at instruction 2 (`CONCATI`): wrong kind of value: it needs a string, the reference is to an array of ints"
        );
        assert_eq!(vm.stack(), [1]);
    }

    #[test]
    fn slot_forms_read_and_write_elements_and_update_slots() {
        use Instr::*;
        // a = [10, 20, 30]; i = 1; a[i] = 7 (SETL); then a[i] (GETL) and "hi"[i] (GETL on a
        // string); x = 9 updated in its slot.
        let code = vec![
            NewI,
            Put(10),
            Append,
            Put(20),
            Append,
            Put(30),
            Append,
            Const(0),
            Put(1),
            Put(7),
            SetL(0, 0),
            GetL(0, 0),
            GetL(1, 0),
            Put(9),
            AddKTo(3, 4),
            MulKTo(3, 3),
            DivKTo(3, 2),
            ModKTo(3, 7),
        ];
        let mut vm = with_strings(code, &["hi"], heap::DEFAULT_MAX_HEAP);
        assert!(matches!(
            vm.run(&mut Vec::new(), &Interrupt::new()),
            Outcome::Halted
        ));
        // 9 + 4 = 13, * 3 = 39, / 2 = 19, % 7 = 5.
        assert_eq!(vm.stack(), [1, 7, i64::from(b'i'), 5]);
    }

    #[test]
    fn the_heap_limit_is_an_out_of_memory_trap_before_anything_is_allocated() {
        use Instr::*;
        // array(2^40, 0): refused by the limit, not handed to the system allocator.
        let mut vm = with_strings(vec![Put(1 << 40), Put(0), Fill], &[], 1 << 20);
        assert_eq!(
            trapped(&mut vm),
            "trap at instruction 2 (`FILL`): out of memory: the heap would hold 8796093022240 bytes, \
             more than its limit of 1048576 bytes (mova --max-heap)"
        );
        assert_eq!(vm.stack(), [1 << 40, 0]);
        // A string doubled until it does not fit.
        let mut vm = with_strings(
            vec![Const(0), RDup, Concat, Goto(2)],
            &["0123456789abcdef"],
            1 << 20,
        );
        let message = trapped(&mut vm);
        assert!(message.contains("(`CONCAT`): out of memory"), "{message}");
        assert!(vm.heap().bytes() <= 1 << 20);
    }

    #[test]
    fn a_loop_that_makes_garbage_runs_in_bounded_memory() {
        use Instr::*;
        // 300,000 times: str(i) + "x", dropped.
        let mut vm = with_strings(
            vec![
                Put(0),
                Dup,
                ToStr,
                Const(0),
                Concat,
                RPop,
                IncJlt(300_000, -5),
            ],
            &["x"],
            heap::DEFAULT_MAX_HEAP,
        );
        let (outcome, _) = run_vm(&mut vm);
        assert!(matches!(outcome, Outcome::Halted), "{outcome:?}");
        assert!(vm.heap().collections() > 0);
        assert!(
            vm.heap().bytes() <= 2 * heap::MIN_THRESHOLD,
            "{} bytes",
            vm.heap().bytes()
        );
    }

    #[test]
    fn a_saved_heap_keeps_its_sharing_and_drops_its_garbage() {
        use Instr::*;
        // Two references to one array, and garbage; then, on the restored VM, a write through one
        // is seen through the other.
        let code = vec![
            NewI,
            Put(1),
            Append,
            RDup,
            Const(0),
            Put(0),
            ToStr,
            Concat,
            RPop,
            Sleep(60_000),
            Put(0),
            Put(7),
            Set,
            Put(0),
            Get,
            Print,
        ];
        let mut vm = with_strings(code, &["garbage"], heap::DEFAULT_MAX_HEAP);
        let interrupt = Interrupt::new();
        let handle = request_after(&interrupt, Duration::from_millis(20));
        let outcome = vm.run(&mut io::sink(), &interrupt);
        handle.join().unwrap();
        assert!(matches!(outcome, Outcome::Paused), "{outcome:?}");
        assert_eq!(
            vm.heap()
                .stats()
                .iter()
                .map(|(_, s)| s.objects)
                .sum::<usize>(),
            3
        );
        let mut image = vm.save(false).unwrap();
        assert_eq!(image.refs, [Ref::object(0), Ref::object(0)]);
        assert_eq!(image.heap, [Object::Ints(vec![1])]);
        image.sleep_left_ms = Some(1);
        let mut restored = Vm::from_image(vm.program().clone(), &image).unwrap();
        let (outcome, out) = run_vm(&mut restored);
        assert!(matches!(outcome, Outcome::Halted), "{outcome:?}");
        assert_eq!(out, "7\n");
        // A heap larger than the restoring VM's limit is refused.
        let error = Vm::from_image_with_heap_limit(vm.program().clone(), &image, 10).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the image's heap holds 40 bytes, more than this VM's limit of 10 bytes (mova --max-heap)"
        );
    }

    #[test]
    fn functions_take_and_return_references() {
        use Instr::*;
        // f(n, s) = s + str(n), called twice; main prints the result.
        let main = vec![Const(0), Put(4), Call(1), Put(2), Call(1), PrintR, Halt];
        let body = vec![RLoad(0), Load(0), ToStr, Concat, RetR];
        let entry = main.len() as u32;
        let code = [main, body].concat();
        let table = [mova_lang::func::Function {
            entry,
            params: 1,
            results: 0,
            ref_params: 1,
            ref_results: 1,
        }];
        let strings = mova_lang::mvb::Section {
            kind: mova_lang::heap::STRINGS,
            payload: mova_lang::heap::encode_strings(&["n="]),
        };
        let program = Program::with_functions(code, &table, vec![strings]).unwrap();
        let mut vm = Vm::new(program);
        let (outcome, out) = run_vm(&mut vm);
        assert!(matches!(outcome, Outcome::Halted), "{outcome:?}");
        assert_eq!(out, "n=42\n");
        assert!(vm.frames().is_empty());
        assert!(vm.refs().is_empty());
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
