//! Each arithmetic and comparison opcode applies the `mova_lang::ops` operation it stands for, to
//! its operands in the right order: the VM executes these opcodes with the very functions the
//! compiler folds constants with, so what is tested here is the choice each dispatch arm makes —
//! the operator, which value is `a` and which `b` (the value below or the top, an immediate, a
//! slot), the jump a comparison decides — and that a trap carries that operation as data. Random
//! operands and the edge values; the immediate and fused forms included.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

use mova_lang::Program;
use mova_lang::isa::Instr;
use mova_lang::ops::{self, ArithError, BinOp, Operation};
use mova_vm::{Interrupt, Outcome, TrapKind, Vm};
use proptest::prelude::*;

/// Every binary opcode with the operation it performs.
const BINARY: [(Instr, BinOp); 11] = [
    (Instr::AddS, BinOp::Add),
    (Instr::Sub, BinOp::Sub),
    (Instr::Mul, BinOp::Mul),
    (Instr::Div, BinOp::Div),
    (Instr::Mod, BinOp::Rem),
    (Instr::Eq, BinOp::Eq),
    (Instr::Ne, BinOp::Ne),
    (Instr::Lt, BinOp::Lt),
    (Instr::Le, BinOp::Le),
    (Instr::Gt, BinOp::Gt),
    (Instr::Ge, BinOp::Ge),
];

/// What `a op b` gives, or the error and the operation a trap reports for it.
fn expected(op: BinOp, a: i64, b: i64) -> Result<i64, (ArithError, Operation)> {
    ops::binary(op, a, b).map_err(|error| (error, Operation::Binary { op, a, b }))
}

/// Runs `code` and returns the value on top of the stack, or the arithmetic trap it stopped on.
fn run(code: Vec<Instr>) -> Result<i64, (ArithError, Operation)> {
    let mut vm = Vm::new(Program::new(code).unwrap());
    match vm.run(&mut std::io::sink(), &Interrupt::new()) {
        Outcome::Halted => Ok(*vm.stack().last().unwrap()),
        Outcome::Trapped(trap) => match trap.kind {
            TrapKind::Arith { error, operation } => Err((error, operation)),
            other => panic!("unexpected trap {other:?}"),
        },
        Outcome::Paused => panic!("paused without a request"),
    }
}

/// Runs `code`, which must halt, and returns the stack it leaves.
fn run_stack(code: Vec<Instr>) -> Vec<i64> {
    let mut vm = Vm::new(Program::new(code).unwrap());
    match vm.run(&mut std::io::sink(), &Interrupt::new()) {
        Outcome::Halted => vm.stack().to_vec(),
        other => panic!("unexpected outcome {other:?}"),
    }
}

fn operand() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        -3i64..=3,
        Just(i64::MIN),
        Just(i64::MAX),
        Just(i64::MIN + 1),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mova_lang::strategies::cases(256)))]

    #[test]
    fn binary_opcodes_agree_with_ops(a in operand(), b in operand()) {
        for (instr, op) in BINARY {
            let vm = run(vec![Instr::Put(a), Instr::Put(b), instr]);
            prop_assert_eq!(vm, expected(op, a, b), "{} {} {}", a, op.symbol(), b);
        }
        prop_assert_eq!(run(vec![Instr::Put(a), Instr::Add(b)]), expected(BinOp::Add, a, b));
        prop_assert_eq!(run(vec![Instr::Put(a), Instr::MulK(b)]), expected(BinOp::Mul, a, b));
        prop_assert_eq!(run(vec![Instr::Put(a), Instr::DivK(b)]), expected(BinOp::Div, a, b));
        prop_assert_eq!(run(vec![Instr::Put(a), Instr::ModK(b)]), expected(BinOp::Rem, a, b));
        // INCJLT adds one and jumps (over the PUT) while the result is below `b`.
        let code = vec![Instr::Put(a), Instr::IncJlt(b, 2), Instr::Put(7)];
        match a.checked_add(1) {
            Some(next) => {
                let expected = if next < b { vec![next] } else { vec![next, 7] };
                prop_assert_eq!(run_stack(code), expected);
            }
            None => prop_assert_eq!(run(code), expected(BinOp::Add, a, 1)),
        }
        // ADDL/SUBL/MULL apply a slot's value to the top.
        prop_assert_eq!(run(vec![Instr::Put(b), Instr::Put(a), Instr::AddL(0)]), expected(BinOp::Add, a, b));
        prop_assert_eq!(run(vec![Instr::Put(b), Instr::Put(a), Instr::SubL(0)]), expected(BinOp::Sub, a, b));
        prop_assert_eq!(run(vec![Instr::Put(b), Instr::Put(a), Instr::MulL(0)]), expected(BinOp::Mul, a, b));
        // ADDTO adds the top into a slot below it.
        prop_assert_eq!(
            run(vec![Instr::Put(a), Instr::Put(b), Instr::AddTo(0), Instr::Dup]),
            expected(BinOp::Add, a, b)
        );
        // A compare-and-jump takes the jump (over the PUT, to the end) exactly when the
        // comparison holds, and leaves the compared value in place either way.
        for (instr, op) in [
            (Instr::JeqK(b, 2), BinOp::Eq),
            (Instr::JneK(b, 2), BinOp::Ne),
            (Instr::JltK(b, 2), BinOp::Lt),
            (Instr::JleK(b, 2), BinOp::Le),
            (Instr::JgtK(b, 2), BinOp::Gt),
            (Instr::JgeK(b, 2), BinOp::Ge),
        ] {
            let stack = run_stack(vec![Instr::Put(a), instr, Instr::Put(7)]);
            let jumps = if ops::binary(op, a, b) == Ok(1) { vec![a] } else { vec![a, 7] };
            prop_assert_eq!(stack, jumps);
        }
    }

    #[test]
    fn slot_forms_agree_with_ops(a in operand(), b in operand()) {
        // ADDKTO/MULKTO/DIVKTO/MODKTO apply a constant to a slot below the top, in place.
        for (instr, op) in [
            (Instr::AddKTo(0, b), BinOp::Add),
            (Instr::MulKTo(0, b), BinOp::Mul),
            (Instr::DivKTo(0, b), BinOp::Div),
            (Instr::ModKTo(0, b), BinOp::Rem),
        ] {
            prop_assert_eq!(
                run(vec![Instr::Put(a), Instr::Put(9), instr, Instr::Load(0)]),
                expected(op, a, b)
            );
        }
        // A popping compare-and-jump takes the jump (over the PUT) exactly when `a op b` holds,
        // with `b` a constant or the value in a slot below, and pops `a` either way.
        let comparisons = [BinOp::Eq, BinOp::Ne, BinOp::Lt, BinOp::Le, BinOp::Gt, BinOp::Ge];
        let constant = [
            Instr::JeqKP(b, 2),
            Instr::JneKP(b, 2),
            Instr::JltKP(b, 2),
            Instr::JleKP(b, 2),
            Instr::JgtKP(b, 2),
            Instr::JgeKP(b, 2),
        ];
        let slot = [
            Instr::JeqLP(0, 2),
            Instr::JneLP(0, 2),
            Instr::JltLP(0, 2),
            Instr::JleLP(0, 2),
            Instr::JgtLP(0, 2),
            Instr::JgeLP(0, 2),
        ];
        for ((op, k), l) in comparisons.into_iter().zip(constant).zip(slot) {
            let holds = ops::binary(op, a, b) == Ok(1);
            let stack = run_stack(vec![Instr::Put(a), k, Instr::Put(7)]);
            prop_assert_eq!(stack, if holds { vec![] } else { vec![7] }, "{:?}", k);
            let stack = run_stack(vec![Instr::Put(b), Instr::Put(a), l, Instr::Put(7)]);
            prop_assert_eq!(stack, if holds { vec![b] } else { vec![b, 7] }, "{:?}", l);
        }
    }

    #[test]
    fn unary_opcodes_agree_with_ops(a in operand()) {
        let neg = ops::neg(a).map_err(|error| (error, Operation::Neg { a }));
        prop_assert_eq!(run(vec![Instr::Put(a), Instr::Neg]), neg);
        prop_assert_eq!(run(vec![Instr::Put(a), Instr::Not]), Ok(ops::not(a)));
    }
}
