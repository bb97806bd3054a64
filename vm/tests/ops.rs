//! The VM's arithmetic agrees with `mova_lang::ops`, the functions the compiler folds constants
//! with: every arithmetic and comparison opcode, on random operands and on the edge values.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

use mova_lang::Program;
use mova_lang::isa::Instr;
use mova_lang::ops::{self, ArithError, BinOp};
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

/// Runs `code` and returns the value on top of the stack, or the arithmetic error it trapped on.
fn run(code: Vec<Instr>) -> Result<i64, ArithError> {
    let mut vm = Vm::new(Program::new(code).unwrap());
    match vm.run(&mut std::io::sink(), &Interrupt::new()) {
        Outcome::Halted => Ok(*vm.stack().last().unwrap()),
        Outcome::Trapped(trap) => match trap.kind {
            TrapKind::Overflow { .. } => Err(ArithError::Overflow),
            TrapKind::DivisionByZero { .. } => Err(ArithError::DivisionByZero),
            other => panic!("unexpected trap {other:?}"),
        },
        Outcome::Paused => panic!("paused without a request"),
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
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn binary_opcodes_agree_with_ops(a in operand(), b in operand()) {
        for (instr, op) in BINARY {
            let vm = run(vec![Instr::Put(a), Instr::Put(b), instr]);
            prop_assert_eq!(vm, ops::binary(op, a, b), "{} {} {}", a, op.symbol(), b);
        }
        prop_assert_eq!(run(vec![Instr::Put(a), Instr::Add(b)]), ops::binary(BinOp::Add, a, b));
    }

    #[test]
    fn unary_opcodes_agree_with_ops(a in operand()) {
        prop_assert_eq!(run(vec![Instr::Put(a), Instr::Neg]), ops::neg(a));
        prop_assert_eq!(run(vec![Instr::Put(a), Instr::Not]), Ok(ops::not(a)));
    }
}
