//! Compiled programs agree with a reference evaluator: random expressions over three variables,
//! printed with only the parentheses precedence needs, compiled by the real compiler (with its
//! constant folding and jump-based conditions) and run on the VM, give the value — or the trap —
//! that a direct evaluation with the language's semantics gives.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

use mova_compiler::compile::compile;
use mova_lang::ops::{self, ArithError, BinOp};
use mova_vm::{Interrupt, Outcome, TrapKind, Vm};
use proptest::prelude::*;

/// The variables the expressions read, with their values.
const VARS: [(&str, i64); 3] = [("a", 7), ("b", -3), ("c", 9_223_372_036_854_775_000)];

#[derive(Clone, Debug)]
enum Expr {
    Int(u64),
    Bool(bool),
    Var(usize),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Or,
    And,
    Arith(BinOp),
}

impl Op {
    /// Precedence, higher binds tighter (as in `docs/language.md`).
    fn precedence(self) -> u8 {
        match self {
            Op::Or => 1,
            Op::And => 2,
            Op::Arith(BinOp::Eq | BinOp::Ne) => 3,
            Op::Arith(BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge) => 4,
            Op::Arith(BinOp::Add | BinOp::Sub) => 5,
            Op::Arith(BinOp::Mul | BinOp::Div | BinOp::Rem) => 6,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Or => "||",
            Op::And => "&&",
            Op::Arith(op) => op.symbol(),
        }
    }
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        4 => (0u64..20).prop_map(Expr::Int),
        1 => prop_oneof![Just(u64::MAX >> 1), Just(1u64 << 62), any::<u32>().prop_map(u64::from)].prop_map(Expr::Int),
        1 => any::<bool>().prop_map(Expr::Bool),
        3 => (0..VARS.len()).prop_map(Expr::Var),
    ];
    let ops = vec![
        Op::Or,
        Op::And,
        Op::Arith(BinOp::Eq),
        Op::Arith(BinOp::Ne),
        Op::Arith(BinOp::Lt),
        Op::Arith(BinOp::Le),
        Op::Arith(BinOp::Gt),
        Op::Arith(BinOp::Ge),
        Op::Arith(BinOp::Add),
        Op::Arith(BinOp::Sub),
        Op::Arith(BinOp::Mul),
        Op::Arith(BinOp::Div),
        Op::Arith(BinOp::Rem),
    ];
    leaf.prop_recursive(5, 40, 2, move |inner| {
        prop_oneof![
            1 => inner.clone().prop_map(|e| Expr::Neg(Box::new(e))),
            1 => inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            5 => (prop::sample::select(ops.clone()), inner.clone(), inner)
                .prop_map(|(op, l, r)| Expr::Bin(op, Box::new(l), Box::new(r))),
        ]
    })
}

/// Prints `e` with only the parentheses that precedence and left-associativity need.
fn print(e: &Expr) -> String {
    match e {
        Expr::Int(n) => n.to_string(),
        Expr::Bool(b) => b.to_string(),
        Expr::Var(i) => VARS[*i].0.to_owned(),
        Expr::Neg(inner) => format!("-{}", operand(inner)),
        Expr::Not(inner) => format!("!{}", operand(inner)),
        Expr::Bin(op, l, r) => {
            let side = |child: &Expr, right: bool| match child {
                Expr::Bin(child_op, ..)
                    if child_op.precedence() < op.precedence()
                        || (right && child_op.precedence() == op.precedence()) =>
                {
                    format!("({})", print(child))
                }
                _ => print(child),
            };
            format!("{} {} {}", side(l, false), op.symbol(), side(r, true))
        }
    }
}

/// A unary operand: atoms as they are, anything else in parentheses.
fn operand(e: &Expr) -> String {
    match e {
        Expr::Int(_) | Expr::Bool(_) | Expr::Var(_) => print(e),
        _ => format!("({})", print(e)),
    }
}

/// Evaluates `e` with the language's semantics: checked arithmetic, short-circuit logic.
fn eval(e: &Expr) -> Result<i64, ArithError> {
    match e {
        Expr::Int(n) => i64::try_from(*n).map_err(|_| ArithError::Overflow),
        Expr::Bool(b) => Ok(i64::from(*b)),
        Expr::Var(i) => Ok(VARS[*i].1),
        Expr::Neg(inner) => ops::neg(eval(inner)?),
        Expr::Not(inner) => Ok(ops::not(eval(inner)?)),
        Expr::Bin(Op::And, l, r) => Ok(i64::from(eval(l)? != 0 && eval(r)? != 0)),
        Expr::Bin(Op::Or, l, r) => Ok(i64::from(eval(l)? != 0 || eval(r)? != 0)),
        Expr::Bin(Op::Arith(op), l, r) => ops::binary(*op, eval(l)?, eval(r)?),
    }
}

/// Compiles and runs `print(e)` (and a branch on it), returning what the program printed, or the
/// arithmetic trap it stopped on.
fn run(e: &Expr) -> Result<String, ArithError> {
    let mut source = String::new();
    for (name, value) in VARS {
        source.push_str(&format!("var {name} = {value};\n"));
    }
    let text = print(e);
    source.push_str(&format!(
        "print({text});\nif {text} {{ print(1); }} else {{ print(0); }}\nprint(a + b + c);\n"
    ));
    let program = match compile(&source, None) {
        Ok(compiled) => compiled.program,
        Err(errors) => panic!("{source}\n{errors:#?}"),
    };
    let mut vm = Vm::new(program);
    let mut out = Vec::new();
    match vm.run(&mut out, &Interrupt::new()) {
        Outcome::Halted => Ok(String::from_utf8(out).unwrap()),
        Outcome::Trapped(trap) => match trap.kind {
            TrapKind::Arith { error, .. } => Err(error),
            other => panic!("{source}: unexpected trap {other:?}"),
        },
        Outcome::Paused => panic!("paused without a request"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mova_lang::strategies::cases(400)))]

    #[test]
    fn compiled_expressions_agree_with_the_reference(e in expr()) {
        let expected = eval(&e).map(|value| {
            let sum = VARS.iter().map(|(_, v)| v).sum::<i64>();
            format!("{value}\n{}\n{sum}\n", i64::from(value != 0))
        });
        prop_assert_eq!(run(&e), expected, "{}", print(&e));
    }
}
