//! The stack-height verifier: for every instruction of a program, the heights the operand stack
//! can have when a run of the program gets there.
//!
//! Like wasm validation and the JVM's verifier, it follows every path through the code from the
//! entry (instruction 0, empty stack) and applies each instruction's stack effect, as the
//! [opcode table](crate::isa) declares it, along the way. Unlike them, it does not require every
//! path to agree: hand-written `.mvasm` may grow the stack in a loop (`top: PUT 1` / `GOTO top`) and
//! still loads and runs, trapping when the stack is full, as written. So each instruction gets the
//! interval of heights that can reach it, or none when nothing reaches it, and [`Image::check`]
//! refuses a state whose height is outside its IP's interval: no run of the program can be in that
//! state, and resuming it would only trap (or worse, run on from a state the program never makes).
//!
//! A program with functions is analysed one function at a time, each from its entry with its
//! parameters on its frame, and its heights are counted from its frame's base; a call's effect is
//! its callee's (parameters to results). In every function but the main program the heights must
//! be exact — one height per instruction, no instruction taking values from below its frame —
//! which `Program::with_sections` checks through [`check_function_heights`], so a function never
//! reaches into its caller's values.
//!
//! The analysis is a dataflow over the control-flow graph with a worklist. An interval only grows;
//! after [`PRECISE_JOINS`] changes at one instruction, a bound that still moves is widened at once
//! to the end of its range (0, or [`STACK_LIMIT`]), as a loop that keeps growing the stack would
//! take it there one value at a time. Every interval therefore changes a bounded number of times,
//! and the whole analysis takes time and memory linear in the program's length.
//!
//! It is an over-approximation: it counts values and ignores what they are, so a height it allows
//! may still never happen (a loop whose condition is always false, a `LOAD` of a slot the stack
//! never reaches). What it refuses, no run of the program can produce: the set of heights it
//! allows is closed under execution, so every state a VM reaches from an allowed one, at a pause,
//! a halt or a trap, is allowed too.
//!
//! [`Image::check`]: crate::image::Image::check

use crate::func::Function;
use crate::isa::{Instr, JumpTarget, STACK_LIMIT, StackEffect};
use crate::mvb::Program;
use std::fmt;

/// How many times an instruction's interval may change before a bound that still moves is widened
/// to the end of its range. Code whose paths agree on the height (all compiled code) never needs
/// more than one change; a few more keep hand-written joins of different heights precise.
pub const PRECISE_JOINS: u8 = 4;

// Heights are stored as u16, the width the state image counts the stack with.
const _: () = assert!(STACK_LIMIT <= u16::MAX as usize);

/// The largest height, as the verifier stores heights.
const LIMIT: u16 = STACK_LIMIT as u16;

/// The stack heights possible at one instruction: every height from `min` to `max`, both included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Heights {
    /// The smallest possible height.
    pub min: u16,
    /// The largest possible height.
    pub max: u16,
}

impl Heights {
    /// Whether a stack of `height` values is possible here.
    pub fn contains(self, height: usize) -> bool {
        usize::from(self.min) <= height && height <= usize::from(self.max)
    }

    /// The heights after an instruction with `effect` completes, starting from these; `None` when
    /// it cannot complete from any of them (it always finds too few values, or always overflows
    /// the stack).
    fn after(self, pops: u32, pushes: u32) -> Option<Heights> {
        // It runs only with at least `pops` values, and completes only if the result fits.
        let min = u32::from(self.min).max(pops);
        let max = u32::from(self.max).min((u32::from(LIMIT) + pops).checked_sub(pushes)?);
        if min > max {
            return None;
        }
        // Both results lie in `0..=LIMIT` by the two bounds above.
        let height = |before: u32| u16::try_from(before - pops + pushes).ok();
        Some(Heights {
            min: height(min)?,
            max: height(max)?,
        })
    }

    /// The smallest interval holding both.
    fn hull(self, other: Heights) -> Heights {
        Heights {
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }
}

impl fmt::Display for Heights {
    /// `1 value`, `3 values`, `0 to 65535 values`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min != self.max {
            write!(f, "{} to {} values", self.min, self.max)
        } else if self.min == 1 {
            f.write_str("1 value")
        } else {
            write!(f, "{} values", self.min)
        }
    }
}

/// The stack heights possible at every instruction of a program, and at its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackHeights {
    /// One entry per instruction, then one for the end of the code; `None` where no run gets.
    at: Vec<Option<Heights>>,
    /// The reference heights, likewise.
    refs: Vec<Option<u16>>,
}

impl StackHeights {
    /// Computes the heights for `program`: for the main program from instruction 0 with an
    /// empty stack, and for each function from its entry with its parameters, counted from its
    /// frame's base.
    pub fn of(program: &Program) -> StackHeights {
        let code = program.code();
        let functions = program.functions();
        let mut analysis = Analysis::new(code.len());
        for (number, function) in (0..=u16::MAX).zip(functions) {
            let range = program.code_range(number);
            // A verified program's functions have exact heights: this cannot fail for them.
            let _ = analysis.run(code, functions, function, range, false);
        }
        StackHeights {
            at: analysis.at,
            refs: analysis.refs,
        }
    }

    /// The number of references the frame of the function `ip` is in holds at `ip` (exact in
    /// every function), or `None` when no run of the program gets there.
    pub fn refs_at(&self, ip: u32) -> Option<u16> {
        let index = usize::try_from(ip).ok()?;
        self.refs.get(index).copied().flatten()
    }

    /// The heights possible at `ip` (the code length: the end of the code), counted from the
    /// base of the frame of the function `ip` is in, or `None` when no run of the program gets
    /// there (or `ip` is past the end).
    pub fn at(&self, ip: u32) -> Option<Heights> {
        let index = usize::try_from(ip).ok()?;
        self.at.get(index).copied().flatten()
    }
}

/// Why a function's stack heights are not exact.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeightError {
    /// Two paths reach an instruction with different heights.
    #[error("the paths to instruction {index} disagree on the stack: {heights} in its frame")]
    Disagree {
        /// The instruction.
        index: u32,
        /// The heights that reach it.
        heights: Heights,
    },
    /// An instruction takes more values than its frame holds.
    #[error("`{instr}` at instruction {index} takes {needed} value{}, but the frame holds {height}", if *needed == 1 { "" } else { "s" })]
    Underflow {
        /// The instruction.
        index: u32,
        /// The instruction itself.
        instr: Instr,
        /// The values it takes.
        needed: u32,
        /// The values the frame holds there.
        height: u16,
    },
    /// The frame would grow beyond what the stack holds.
    #[error(
        "`{instr}` at instruction {index} grows the frame beyond the stack's {STACK_LIMIT} values"
    )]
    Overflow {
        /// The instruction.
        index: u32,
        /// The instruction itself.
        instr: Instr,
    },
    /// Two paths reach an instruction with different numbers of references in the frame.
    #[error(
        "the paths to instruction {index} disagree on the reference stack: {first} and {second} references in its frame"
    )]
    RefsDisagree {
        /// The instruction.
        index: u32,
        /// The height the first path found.
        first: u16,
        /// The height another path brings.
        second: u16,
    },
    /// An instruction takes more references than its frame holds.
    #[error("`{instr}` at instruction {index} takes {needed} reference{}, but the frame holds {height}", if *needed == 1 { "" } else { "s" })]
    RefsUnderflow {
        /// The instruction.
        index: u32,
        /// The instruction itself.
        instr: Instr,
        /// The references it takes.
        needed: u32,
        /// The references the frame holds there.
        height: u16,
    },
    /// The frame would grow beyond what the reference stack holds.
    #[error(
        "`{instr}` at instruction {index} grows the frame beyond the reference stack's {STACK_LIMIT} references"
    )]
    RefsOverflow {
        /// The instruction.
        index: u32,
        /// The instruction itself.
        instr: Instr,
    },
}

/// Checks that every function but the main program has one exact height at each instruction it
/// reaches and never takes values from below its frame, and, when the program uses references
/// (`refs`), that every function, the main program included, has one exact reference height at
/// each instruction and never takes references from below its frame; returns the first function
/// that does not, and why.
pub(crate) fn check_function_heights(
    code: &[Instr],
    functions: &[Function],
    len: u32,
    refs: bool,
) -> Result<(), (u16, HeightError)> {
    let mut analysis = Analysis::new(code.len());
    let skip = if refs { 0 } else { 1 };
    for (number, function) in (0..=u16::MAX).zip(functions).skip(skip) {
        let range = crate::func::code_range(functions, number, len);
        analysis
            .run(code, functions, function, range, number != 0)
            .map_err(|error| (number, error))?;
    }
    Ok(())
}

/// What an instruction does to the stacks: the table's effect, but a call's is its callee's.
fn effect(instr: &Instr, functions: &[Function]) -> StackEffect {
    match instr.callee() {
        Some(callee) => functions.get(usize::from(callee)).map_or(
            StackEffect {
                pops: 0,
                pushes: 0,
                ref_pops: 0,
                ref_pushes: 0,
            },
            |callee| StackEffect {
                // Parameters beyond 255 are counted by `pops_of` below.
                pops: 0,
                pushes: callee.results,
                ref_pops: 0,
                ref_pushes: callee.ref_results,
            },
        ),
        None => instr.opcode().stack_effect(),
    }
}

/// The values and references an instruction takes: the table's, or a call's callee's parameters.
fn pops_of(instr: &Instr, functions: &[Function], effect: StackEffect) -> (u32, u32) {
    match instr.callee() {
        Some(callee) => functions.get(usize::from(callee)).map_or((0, 0), |callee| {
            (u32::from(callee.params), u32::from(callee.ref_params))
        }),
        None => (u32::from(effect.pops), u32::from(effect.ref_pops)),
    }
}

/// The dataflow's state: the heights found so far, and its worklist.
struct Analysis {
    /// One entry per instruction, then one for the end of the code.
    at: Vec<Option<Heights>>,
    /// The reference height at each instruction (exact), then at the end of the code.
    refs: Vec<Option<u16>>,
    /// How many times each interval changed.
    changes: Vec<u8>,
    /// Whether each instruction waits in the worklist.
    queued: Vec<bool>,
    work: Vec<usize>,
}

impl Analysis {
    fn new(len: usize) -> Analysis {
        Analysis {
            at: vec![None; len + 1],
            refs: vec![None; len + 1],
            changes: vec![0; len + 1],
            queued: vec![false; len + 1],
            work: Vec::new(),
        }
    }

    /// Follows every path through one function's code from its entry, where the frame holds its
    /// parameters. `exact` asks for one height per instruction and no instruction that cannot
    /// complete; without it, heights are intervals and such an instruction simply leads nowhere.
    /// Reference heights are always exact: an instruction that would take references from below
    /// its frame, or paths that disagree on them, are errors either way.
    fn run(
        &mut self,
        code: &[Instr],
        functions: &[Function],
        function: &Function,
        range: std::ops::Range<u32>,
        exact: bool,
    ) -> Result<(), HeightError> {
        let entry = Heights {
            min: function.params,
            max: function.params,
        };
        self.join(
            usize::try_from(range.start).unwrap_or(usize::MAX),
            entry,
            function.ref_params,
            exact,
        )?;
        while let Some(index) = self.work.pop() {
            if let Some(flag) = self.queued.get_mut(index) {
                *flag = false;
            }
            // The end of the code has no instruction and so no way on.
            let (Some(instr), Some(&Some(before)), Some(&Some(refs))) =
                (code.get(index), self.at.get(index), self.refs.get(index))
            else {
                continue;
            };
            let at = u32::try_from(index).unwrap_or(u32::MAX);
            let effect = effect(instr, functions);
            let (pops, ref_pops) = pops_of(instr, functions, effect);
            let pushes = u32::from(effect.pushes);
            let ref_pushes = u32::from(effect.ref_pushes);
            if u32::from(refs) < ref_pops {
                return Err(HeightError::RefsUnderflow {
                    index: at,
                    instr: *instr,
                    needed: ref_pops,
                    height: refs,
                });
            }
            // LIMIT is u16::MAX (asserted above), so the conversion is the bound.
            let Ok(refs_after) = u16::try_from(u32::from(refs) - ref_pops + ref_pushes) else {
                return Err(HeightError::RefsOverflow {
                    index: at,
                    instr: *instr,
                });
            };
            let Some(after) = before.after(pops, pushes) else {
                if !exact {
                    continue;
                }
                return Err(if u32::from(before.min) < pops {
                    HeightError::Underflow {
                        index: at,
                        instr: *instr,
                        needed: pops,
                        height: before.min,
                    }
                } else {
                    HeightError::Overflow {
                        index: at,
                        instr: *instr,
                    }
                });
            };
            for target in successors(instr, index) {
                // Control stays inside the function: the program's checks made sure of it.
                if u32::try_from(target).is_ok_and(|target| target <= range.end) {
                    self.join(target, after, refs_after, exact)?;
                }
            }
        }
        Ok(())
    }

    /// Adds `heights` to the interval at `target`, widening it once it has changed
    /// [`PRECISE_JOINS`] times (or, when `exact`, refusing any change), and `refs` to its
    /// reference height (refusing a different one), and queues `target` again if it changed.
    fn join(
        &mut self,
        target: usize,
        heights: Heights,
        refs: u16,
        exact: bool,
    ) -> Result<(), HeightError> {
        let (Some(slot), Some(ref_slot), Some(count), Some(flag)) = (
            self.at.get_mut(target),
            self.refs.get_mut(target),
            self.changes.get_mut(target),
            self.queued.get_mut(target),
        ) else {
            return Ok(());
        };
        match *ref_slot {
            Some(first) if first != refs => {
                return Err(HeightError::RefsDisagree {
                    index: u32::try_from(target).unwrap_or(u32::MAX),
                    first,
                    second: refs,
                });
            }
            Some(_) => {}
            None => *ref_slot = Some(refs),
        }
        let joined = match *slot {
            None => heights,
            Some(old) => {
                let mut joined = old.hull(heights);
                if joined == old {
                    return Ok(());
                }
                if exact {
                    return Err(HeightError::Disagree {
                        index: u32::try_from(target).unwrap_or(u32::MAX),
                        heights: joined,
                    });
                }
                if *count >= PRECISE_JOINS {
                    if joined.min < old.min {
                        joined.min = 0;
                    }
                    if joined.max > old.max {
                        joined.max = LIMIT;
                    }
                }
                joined
            }
        };
        *slot = Some(joined);
        *count = count.saturating_add(1);
        if !*flag {
            *flag = true;
            self.work.push(target);
        }
        Ok(())
    }
}

/// The state every run starts in: no values.
#[cfg(test)]
const EMPTY: Heights = Heights { min: 0, max: 0 };

/// Where control can go from `instr` at `index`. The program is verified, so every target is in
/// `0..=len`; one that was not would be skipped.
fn successors(instr: &Instr, index: usize) -> impl Iterator<Item = usize> {
    let index = u32::try_from(index).ok();
    index
        .into_iter()
        .flat_map(|index| instr.successors(index))
        .filter_map(|target| match target {
            JumpTarget::Index(target) => usize::try_from(target).ok(),
            JumpTarget::OutOfRange(_) => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::seed_program as seed;

    fn heights(code: Vec<Instr>) -> StackHeights {
        StackHeights::of(&Program::new(code).unwrap())
    }

    fn exactly(height: u16) -> Option<Heights> {
        Some(Heights {
            min: height,
            max: height,
        })
    }

    fn range(min: u16, max: u16) -> Option<Heights> {
        Some(Heights { min, max })
    }

    #[test]
    fn the_seed_program_always_has_its_counter_on_the_stack() {
        let heights = StackHeights::of(&seed());
        assert_eq!(heights.at(0), exactly(0));
        for ip in 1..=4 {
            assert_eq!(heights.at(ip), exactly(1), "IP {ip}");
        }
        // It loops for ever: nothing falls off the `GOTO` into the end of the code.
        assert_eq!(heights.at(5), None);
        assert_eq!(heights.at(6), None);
        assert_eq!(heights.at(u32::MAX), None);
    }

    #[test]
    fn an_empty_program_starts_at_its_end() {
        assert_eq!(heights(Vec::new()).at(0), exactly(0));
    }

    #[test]
    fn code_after_an_unconditional_jump_or_a_halt_is_unreachable_unless_jumped_to() {
        let heights = heights(vec![
            Instr::Put(1),
            Instr::Jmp(2),
            Instr::Print, // skipped
            Instr::Halt,
            Instr::Put(2), // after the HALT, and no jump comes here
        ]);
        assert_eq!(heights.at(2), None);
        assert_eq!(heights.at(3), exactly(1));
        assert_eq!(heights.at(4), None);
        assert_eq!(heights.at(5), None);
    }

    #[test]
    fn branches_join_with_both_heights() {
        // `PUT 0; JZ +3; PUT 1; PUT 2; end:` — the end is reached with 0 or 2 values.
        let heights = heights(vec![
            Instr::Put(0),
            Instr::Jz(3),
            Instr::Put(1),
            Instr::Put(2),
        ]);
        assert_eq!(heights.at(1), exactly(1));
        assert_eq!(heights.at(2), exactly(0));
        assert_eq!(heights.at(4), range(0, 2));
    }

    #[test]
    fn compare_and_jumps_keep_their_operand_on_both_ways() {
        let heights = heights(vec![
            Instr::Put(0),
            Instr::IncJlt(10, 0), // loops on itself
            Instr::JeqK(10, 2),
            Instr::Pop,
        ]);
        assert_eq!(heights.at(1), exactly(1));
        assert_eq!(heights.at(2), exactly(1));
        assert_eq!(heights.at(3), exactly(1));
        assert_eq!(heights.at(4), range(0, 1));
    }

    #[test]
    fn a_loop_that_grows_the_stack_reaches_the_limit() {
        // `top: PUT 1; GOTO top` — every height up to the limit, where the PUT traps.
        let heights = heights(vec![Instr::Put(1), Instr::Goto(1)]);
        assert_eq!(heights.at(0), range(0, LIMIT));
        assert_eq!(heights.at(1), range(1, LIMIT));
        assert_eq!(heights.at(2), None);

        let shrinking = self::heights(vec![
            Instr::Put(1),
            Instr::Put(2),
            Instr::Put(3),
            Instr::Pop,
            Instr::Goto(1),
        ]);
        // The POP is reached with 3, 2, 1 and then 0 values, where it traps and the loop ends.
        assert_eq!(shrinking.at(3), range(0, 3));
        assert_eq!(shrinking.at(4), range(0, 2));
        assert_eq!(shrinking.at(5), None);
    }

    #[test]
    fn an_instruction_that_always_traps_leads_nowhere() {
        let heights = heights(vec![Instr::Print, Instr::Put(1), Instr::Add(1)]);
        assert_eq!(heights.at(0), exactly(0));
        assert_eq!(heights.at(1), None, "the PRINT finds no value");
        assert_eq!(heights.at(3), None);
    }

    #[test]
    fn a_full_stack_does_not_take_a_push() {
        let full = Heights {
            min: LIMIT,
            max: LIMIT,
        };
        assert_eq!(full.after(0, 1), None);
        assert_eq!(full.after(1, 2), None);
        assert_eq!(full.after(1, 1), exactly(LIMIT));
        assert_eq!(full.after(2, 1), exactly(LIMIT - 1));
        assert_eq!(EMPTY.after(0, 1), exactly(1));
        assert_eq!(EMPTY.after(1, 0), None);
    }

    fn verify_error(code: Vec<Instr>) -> String {
        Program::new(code).unwrap_err().to_string()
    }

    #[test]
    fn reference_heights_are_exact_everywhere_the_main_program_included() {
        use Instr::*;
        // `NEWI; PUT 1; APPEND; LEN; PRINT`: one reference until LEN takes it.
        let program = Program::new(vec![NewI, Put(1), Append, Len, Print]).unwrap();
        let heights = StackHeights::of(&program);
        assert_eq!(heights.refs_at(0), Some(0));
        assert_eq!(heights.refs_at(1), Some(1));
        assert_eq!(heights.refs_at(3), Some(1));
        assert_eq!(heights.refs_at(4), Some(0));
        assert_eq!(heights.refs_at(5), Some(0));
        assert_eq!(heights.at(5), exactly(1));
        // A reference taken from an empty reference stack.
        assert_eq!(
            verify_error(vec![Put(1), Len]),
            "function 0: `LEN` at instruction 1 takes 1 reference, but the frame holds 0"
        );
        // Paths that disagree: a loop that pushes a reference each time round.
        assert_eq!(
            verify_error(vec![NewI, Goto(1)]),
            "function 0: the paths to instruction 0 disagree on the reference stack: 0 and 1 references in its frame"
        );
        // A branch that pushes a reference on one way only.
        assert_eq!(
            verify_error(vec![Put(0), Jz(2), NewI, Halt]),
            "function 0: the paths to instruction 3 disagree on the reference stack: 0 and 1 references in its frame"
        );
    }

    #[test]
    fn heights_read_well() {
        assert_eq!(exactly(1).unwrap().to_string(), "1 value");
        assert_eq!(exactly(0).unwrap().to_string(), "0 values");
        assert_eq!(range(0, 65_535).unwrap().to_string(), "0 to 65535 values");
    }

    #[test]
    fn a_long_program_takes_one_pass() {
        // A million instructions of straight-line code and a loop around all of it: each interval
        // is set once, so this is quick even unoptimised.
        let mut code = vec![Instr::Put(0)];
        for _ in 0..500_000 {
            code.push(Instr::Dup);
            code.push(Instr::Pop);
        }
        code.push(Instr::Goto(1_000_000));
        let heights = heights(code);
        assert_eq!(heights.at(1), exactly(1));
        assert_eq!(heights.at(2), exactly(2));
        assert_eq!(heights.at(1_000_001), exactly(1));
        assert_eq!(heights.at(1_000_002), None);
    }
}
