//! Property tests of the stack-height verifier against an oracle that enumerates states: for random
//! programs, every (IP, height) a run can reach when only the number of values counts — every
//! path taken, each instruction applied by its stack effect — lies in the heights the verifier
//! computes, and those heights are closed under every instruction's effect.

#![allow(clippy::unwrap_used, clippy::wildcard_enum_match_arm)]

use mova_lang::isa::{Instr, JumpTarget, STACK_LIMIT};
use mova_lang::mvb::Program;
use mova_lang::strategies::program_with;
use proptest::prelude::*;
use std::collections::{HashSet, VecDeque};

/// A random program behind a few `PUT`s, so that its instructions find values to work on and runs
/// go further than the first instruction that pops. Prepending keeps every jump inside the code:
/// distances are relative, and a backward `GOTO` still lands at or after the first instruction.
fn fed_program() -> impl Strategy<Value = Program> {
    (0..8usize, program_with(40, false)).prop_map(|(puts, program)| {
        let mut code: Vec<Instr> = (0..puts).map(|i| Instr::Put(i as i64)).collect();
        code.extend_from_slice(program.code());
        Program::new(code).unwrap()
    })
}

/// Where an instruction at `index` that completes with `height` values before it goes, and with
/// how many values.
fn steps(instr: &Instr, index: u32, height: usize) -> Vec<(u32, usize)> {
    let effect = instr.opcode().stack_effect();
    let (pops, pushes) = (usize::from(effect.pops), usize::from(effect.pushes));
    if height < pops || height - pops + pushes > STACK_LIMIT {
        return Vec::new();
    }
    instr
        .successors(index)
        .filter_map(|target| match target {
            JumpTarget::Index(target) => Some((target, height - pops + pushes)),
            JumpTarget::OutOfRange(_) => None,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mova_lang::strategies::cases(512)))]

    #[test]
    fn every_state_a_run_can_reach_is_allowed(program in fed_program()) {
        let heights = program.stack_heights();
        let code = program.code();
        // Breadth first from the entry, bounded: a loop that grows the stack has 65,536 states
        // per instruction, and the first few thousand show the verifier's bounds just as well.
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([(0u32, 0usize)]);
        while let Some((ip, height)) = queue.pop_front() {
            if seen.len() > 20_000 || !seen.insert((ip, height)) {
                continue;
            }
            let possible = heights.at(ip);
            prop_assert!(
                possible.is_some_and(|possible| possible.contains(height)),
                "IP {} with {} values is reachable, but the verifier allows {:?}", ip, height, possible
            );
            if let Some(instr) = code.get(ip as usize) {
                queue.extend(steps(instr, ip, height));
            }
        }
    }

    #[test]
    fn the_heights_are_closed_under_every_instruction(program in fed_program()) {
        let heights = program.stack_heights();
        for (index, instr) in (0u32..).zip(program.code()) {
            let Some(here) = heights.at(index) else { continue };
            // The effect is linear in the height, so checking the two ends of the heights the
            // instruction completes from checks them all.
            let effect = instr.opcode().stack_effect();
            let (pops, pushes) = (usize::from(effect.pops), usize::from(effect.pushes));
            let lowest = usize::from(here.min).max(pops);
            let highest = usize::from(here.max).min(STACK_LIMIT + pops - pushes);
            if lowest > highest {
                // It traps from every height it can be reached with.
                continue;
            }
            for height in [lowest, highest] {
                for (target, after) in steps(instr, index, height) {
                    let there = heights.at(target);
                    prop_assert!(
                        there.is_some_and(|there| there.contains(after)),
                        "`{}` at {} takes {} values to {} at {}, outside {:?}",
                        instr, index, height, after, target, there
                    );
                }
            }
        }
    }
}
