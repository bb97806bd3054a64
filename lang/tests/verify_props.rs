//! Property tests of the stack-height verifier against an oracle that enumerates states: for random
//! programs, every (IP, height) a run can reach when only the number of values counts — every
//! path taken, each instruction applied by its stack effect — lies in the heights the verifier
//! computes, and those heights are closed under every instruction's effect; and for programs with
//! functions, every state with frames a run can reach is an image `Image::check` accepts.

#![allow(clippy::unwrap_used, clippy::wildcard_enum_match_arm)]

use mova_lang::func::Frame;
use mova_lang::image::Image;
use mova_lang::isa::{Instr, JumpTarget, STACK_LIMIT};
use mova_lang::mvb::Program;
use mova_lang::strategies::{program_with, program_with_functions};
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

/// A state of a run with calls, as far as counts go: the IP, the whole stack's height and the
/// calls in progress.
type CallState = (u32, usize, Vec<Frame>);

/// Where the instruction at a state's IP takes it: into a call, back out of one, or on in the
/// function, every way it can go.
fn call_steps(program: &Program, (ip, height, frames): &CallState) -> Vec<CallState> {
    let Some(instr) = program.code().get(*ip as usize) else {
        return Vec::new();
    };
    let base = frames.last().map_or(0, |frame| frame.base as usize);
    let local = height - base;
    match instr {
        Instr::Call(function) => {
            let callee = program.functions()[usize::from(*function)];
            let params = usize::from(callee.params);
            if local < params {
                return Vec::new();
            }
            let mut frames = frames.clone();
            frames.push(Frame {
                function: *function,
                return_ip: ip + 1,
                base: (height - params) as u32,
                ref_base: 0,
            });
            vec![(callee.entry, *height, frames)]
        }
        Instr::Ret | Instr::RetV => {
            let results = usize::from(matches!(instr, Instr::RetV));
            let mut frames = frames.clone();
            match frames.pop() {
                Some(frame) if local >= results => {
                    vec![(frame.return_ip, frame.base as usize + results, frames)]
                }
                _ => Vec::new(),
            }
        }
        _ => steps(instr, *ip, local)
            .into_iter()
            .map(|(target, after)| (target, base + after, frames.clone()))
            .collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mova_lang::strategies::cases(128)))]

    /// Every state a run of a program with calls can reach — every path taken, calls followed
    /// into their function and returns back out, frames and all — is one `Image::check`
    /// accepts: the VM never saves an image it would refuse.
    #[test]
    fn every_state_a_run_with_calls_reaches_is_an_image(program in program_with_functions()) {
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([(0u32, 0usize, Vec::new())]);
        while let Some(state) = queue.pop_front() {
            // Bounded: recursion (every way taken, whatever the values) would go on for ever.
            if seen.len() > 3_000 || state.2.len() > 12 || !seen.insert(state.clone()) {
                continue;
            }
            let (ip, height, frames) = state.clone();
            let image = Image::with_frames(&program, ip, vec![0; height], frames, None, false);
            prop_assert!(image.is_ok(), "{:?}: {:?}", state, image.err());
            queue.extend(call_steps(&program, &state));
        }
    }
}
