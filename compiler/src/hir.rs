//! The checked program: the syntax tree with every name resolved, every literal in range and
//! constant sub-expressions folded. [`check`](crate::check) builds it; code generation reads it and
//! may assume it is valid.

use crate::diag::Span;
use crate::syntax::ast::{BinaryOp, UnaryOp};
use mova_lang::ops::BinOp;

/// A variable, numbered in order of declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(pub usize);

/// A loop (`while`, `loop`, or labelled), numbered in source order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoopId(pub usize);

/// A checked program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The top-level statements.
    pub body: Vec<Stmt>,
    /// How many variables the program declares (each [`VarId`] is below this).
    pub vars: usize,
}

/// A checked statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stmt {
    /// What it does.
    pub kind: StmtKind,
    /// The source statement.
    pub span: Span,
}

/// The checked statements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StmtKind {
    /// Declares a variable: its value is pushed, and it lives until the end of its block.
    Declare {
        /// The variable.
        var: VarId,
        /// Its initial value.
        init: Expr,
    },
    /// `var = value`, or with `op`, `var = var op value` (`x++` is `x += 1`).
    Assign {
        /// The variable.
        var: VarId,
        /// The compound operator, if any.
        op: Option<BinOp>,
        /// The right-hand side.
        value: Expr,
    },
    /// Prints a value.
    Print(Expr),
    /// Sleeps for a number of milliseconds.
    Sleep(Expr),
    /// Runs `then` if `cond` is non-zero, else `otherwise`.
    If {
        /// The condition.
        cond: Expr,
        /// The branch taken when it holds.
        then: Vec<Stmt>,
        /// The other branch (empty when there is no `else`).
        otherwise: Vec<Stmt>,
    },
    /// Runs `body` while `cond` is non-zero.
    While {
        /// The loop, as `break` and `continue` name it.
        id: LoopId,
        /// The condition.
        cond: Expr,
        /// The body.
        body: Vec<Stmt>,
    },
    /// Runs `body` forever (until a `break` or `halt`).
    Loop {
        /// The loop.
        id: LoopId,
        /// The body.
        body: Vec<Stmt>,
    },
    /// Leaves a loop.
    Break(LoopId),
    /// Goes on with a loop's next iteration.
    Continue(LoopId),
    /// Ends the program.
    Halt,
    /// A nested scope.
    Block(Vec<Stmt>),
}

/// A checked expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    /// What it computes.
    pub kind: ExprKind,
    /// The source expression.
    pub span: Span,
}

/// The checked expressions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprKind {
    /// A constant (literals, `true`/`false`, and folded sub-expressions).
    Const(i64),
    /// A variable's value.
    Var(VarId),
    /// `-e` or `!e`.
    Unary(UnaryOp, Box<Expr>),
    /// `a op b`; `&&` and `||` short-circuit.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
}

impl Expr {
    /// The constant this expression is, if it is one.
    pub fn as_const(&self) -> Option<i64> {
        match self.kind {
            ExprKind::Const(value) => Some(value),
            ExprKind::Var(_) | ExprKind::Unary(..) | ExprKind::Binary(..) => None,
        }
    }
}
