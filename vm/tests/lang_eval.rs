//! Compiled programs agree with a reference evaluator: random expressions over three variables,
//! printed with only the parentheses precedence needs, compiled by the real compiler (with its
//! constant folding and jump-based conditions) and run on the VM, give the value — or the trap —
//! that a direct evaluation with the language's semantics gives. And random programs with
//! functions: random functions of random parameters, each returning an expression over its
//! parameters and calls of the functions declared before it, called from the main program's
//! expressions, print what the reference evaluator computes for the same trees, up to the same
//! trap.

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
    /// A call of a function (by its index among the functions) with its arguments.
    Call(usize, Vec<Expr>),
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
    expr_with(false)
}

/// Expressions; with `calls`, with calls too, whose function and arguments [`normalise`] makes
/// fit the program.
fn expr_with(calls: bool) -> impl Strategy<Value = Expr> {
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
    leaf.prop_recursive(5, 40, 3, move |inner| {
        prop_oneof![
            1 => inner.clone().prop_map(|e| Expr::Neg(Box::new(e))),
            1 => inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            5 => (prop::sample::select(ops.clone()), inner.clone(), inner.clone())
                .prop_map(|(op, l, r)| Expr::Bin(op, Box::new(l), Box::new(r))),
            (if calls { 3 } else { 0 }) => (any::<usize>(), prop::collection::vec(inner, 0..4))
                .prop_map(|(function, args)| Expr::Call(function, args)),
        ]
    })
}

/// Prints `e` with only the parentheses that precedence and left-associativity need, its
/// variables named by `names`.
fn print_in(e: &Expr, names: &[String]) -> String {
    match e {
        Expr::Int(n) => n.to_string(),
        Expr::Bool(b) => b.to_string(),
        Expr::Var(i) => names[*i].clone(),
        Expr::Call(function, args) => {
            let args: Vec<String> = args.iter().map(|arg| print_in(arg, names)).collect();
            format!("f{function}({})", args.join(", "))
        }
        Expr::Neg(inner) => format!("-{}", operand(inner, names)),
        Expr::Not(inner) => format!("!{}", operand(inner, names)),
        Expr::Bin(op, l, r) => {
            let side = |child: &Expr, right: bool| match child {
                Expr::Bin(child_op, ..)
                    if child_op.precedence() < op.precedence()
                        || (right && child_op.precedence() == op.precedence()) =>
                {
                    format!("({})", print_in(child, names))
                }
                _ => print_in(child, names),
            };
            format!("{} {} {}", side(l, false), op.symbol(), side(r, true))
        }
    }
}

/// [`print_in`] the main program, whose variables are [`VARS`].
fn print(e: &Expr) -> String {
    let names: Vec<String> = VARS.iter().map(|(name, _)| (*name).to_owned()).collect();
    print_in(e, &names)
}

/// A unary operand: atoms as they are, anything else in parentheses.
fn operand(e: &Expr, names: &[String]) -> String {
    match e {
        Expr::Int(_) | Expr::Bool(_) | Expr::Var(_) | Expr::Call(..) => print_in(e, names),
        _ => format!("({})", print_in(e, names)),
    }
}

/// A function of the generated programs: `fn f<k>(p0: int, …) -> int { return body; }`.
#[derive(Clone, Debug)]
struct Function {
    params: usize,
    body: Expr,
}

/// Evaluates `e` with the language's semantics (checked arithmetic, short-circuit logic,
/// arguments left to right), its variables holding `env`, calling `functions`.
fn eval_in(e: &Expr, env: &[i64], functions: &[Function]) -> Result<i64, ArithError> {
    let eval = |e: &Expr| eval_in(e, env, functions);
    match e {
        Expr::Int(n) => i64::try_from(*n).map_err(|_| ArithError::Overflow),
        Expr::Bool(b) => Ok(i64::from(*b)),
        Expr::Var(i) => Ok(env[*i]),
        Expr::Call(function, args) => {
            let args = args.iter().map(eval).collect::<Result<Vec<i64>, _>>()?;
            eval_in(&functions[*function].body, &args, functions)
        }
        Expr::Neg(inner) => ops::neg(eval(inner)?),
        Expr::Not(inner) => Ok(ops::not(eval(inner)?)),
        Expr::Bin(Op::And, l, r) => Ok(i64::from(eval(l)? != 0 && eval(r)? != 0)),
        Expr::Bin(Op::Or, l, r) => Ok(i64::from(eval(l)? != 0 || eval(r)? != 0)),
        Expr::Bin(Op::Arith(op), l, r) => ops::binary(*op, eval(l)?, eval(r)?),
    }
}

/// [`eval_in`] the main program, without functions.
fn eval(e: &Expr) -> Result<i64, ArithError> {
    let env: Vec<i64> = VARS.iter().map(|(_, value)| *value).collect();
    eval_in(e, &env, &[])
}

/// Makes a generated tree fit its place: a variable is one of the `vars` in scope (a constant
/// where there are none), and a call names one of the functions whose numbers of parameters
/// are `callable` (a constant where there are none), with as many arguments (cut, or filled
/// with `1`s).
fn normalise(e: Expr, vars: usize, callable: &[usize]) -> Expr {
    let again = |e: Expr| normalise(e, vars, callable);
    match e {
        Expr::Int(_) | Expr::Bool(_) => e,
        Expr::Var(i) if vars == 0 => Expr::Int(i as u64),
        Expr::Var(i) => Expr::Var(i % vars),
        Expr::Call(function, _) if callable.is_empty() => Expr::Int((function % 20) as u64),
        Expr::Call(function, args) => {
            let function = function % callable.len();
            let mut args: Vec<Expr> = args.into_iter().map(again).collect();
            args.resize(callable[function], Expr::Int(1));
            Expr::Call(function, args)
        }
        Expr::Neg(inner) => Expr::Neg(Box::new(again(*inner))),
        Expr::Not(inner) => Expr::Not(Box::new(again(*inner))),
        Expr::Bin(op, l, r) => Expr::Bin(op, Box::new(again(*l)), Box::new(again(*r))),
    }
}

/// A program: functions, each calling only those before it, and the main program's printed
/// expressions, which may call any of them.
fn program_with_calls() -> impl Strategy<Value = (Vec<Function>, Vec<Expr>)> {
    let functions = prop::collection::vec((0usize..4, expr_with(true)), 1..5);
    let main = prop::collection::vec(expr_with(true), 1..4);
    (functions, main).prop_map(|(raw, main)| {
        let mut functions: Vec<Function> = Vec::new();
        for (params, body) in raw {
            let callable: Vec<usize> = functions.iter().map(|f| f.params).collect();
            let body = normalise(body, params, &callable);
            functions.push(Function { params, body });
        }
        let callable: Vec<usize> = functions.iter().map(|f| f.params).collect();
        let main = main
            .into_iter()
            .map(|e| normalise(e, VARS.len(), &callable))
            .collect();
        (functions, main)
    })
}

/// The source of a program with functions: the functions (after the main program's first
/// statement, to show that order does not matter), and `print(e);` for each of `main`.
fn source_with_calls(functions: &[Function], main: &[Expr]) -> String {
    let mut source = String::new();
    for (name, value) in VARS {
        source.push_str(&format!("var {name} = {value};\n"));
    }
    let printed: Vec<String> = main
        .iter()
        .map(|e| format!("print({});\n", print(e)))
        .collect();
    source.push_str(&printed[0]);
    for (k, function) in functions.iter().enumerate() {
        let names: Vec<String> = (0..function.params).map(|i| format!("p{i}")).collect();
        let params: Vec<String> = names.iter().map(|name| format!("{name}: int")).collect();
        source.push_str(&format!(
            "fn f{k}({}) -> int {{\n    return {};\n}}\n",
            params.join(", "),
            print_in(&function.body, &names)
        ));
    }
    for line in &printed[1..] {
        source.push_str(line);
    }
    source.push_str("print(a + b + c);\n");
    source
}

/// Compiles and runs `source`: what it printed, and the arithmetic trap it stopped on, if any.
fn run_source(source: &str) -> (String, Option<ArithError>) {
    let program = match compile(source, Some("calls.mova")) {
        Ok(compiled) => compiled.program,
        Err(errors) => panic!("{source}\n{errors:#?}"),
    };
    let mut vm = Vm::new(program);
    let mut out = Vec::new();
    let outcome = vm.run(&mut out, &Interrupt::new());
    let out = String::from_utf8(out).unwrap();
    match outcome {
        Outcome::Halted => (out, None),
        Outcome::Trapped(trap) => match trap.kind {
            TrapKind::Arith { error, .. } => (out, Some(error)),
            other => panic!("{source}: unexpected trap {other:?}"),
        },
        Outcome::Paused => panic!("paused without a request"),
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

    #[test]
    fn compiled_calls_agree_with_the_reference((functions, main) in program_with_calls()) {
        let source = source_with_calls(&functions, &main);
        let env: Vec<i64> = VARS.iter().map(|(_, value)| *value).collect();
        let mut expected = String::new();
        let mut trap = None;
        for e in &main {
            match eval_in(e, &env, &functions) {
                Ok(value) => expected.push_str(&format!("{value}\n")),
                Err(error) => {
                    trap = Some(error);
                    break;
                }
            }
        }
        if trap.is_none() {
            let sum = VARS.iter().map(|(_, v)| v).sum::<i64>();
            expected.push_str(&format!("{sum}\n"));
        }
        prop_assert_eq!(run_source(&source), (expected, trap), "{}", source);
    }
}
