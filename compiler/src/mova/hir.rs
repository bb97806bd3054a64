//! The checked program: the syntax tree with every name resolved, every literal in range and
//! constant sub-expressions folded. [`check`](crate::mova::check) builds it; code generation reads it and
//! may assume it is valid.

use crate::diag::Span;
use crate::mova::syntax::ast::{BinaryOp, UnaryOp};
use mova_lang::ops::BinOp;

/// A variable, numbered in order of declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(pub usize);

/// A loop (`while`, `loop`, or labelled), numbered in source order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoopId(pub usize);

/// A function: 0 is the main program, 1..=n the declared functions in source order (the
/// numbering of `CALL`'s operand, of frames and of debug info).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FuncId(pub usize);

impl FuncId {
    /// The main program.
    pub const MAIN: FuncId = FuncId(0);
}

/// A checked program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The top-level statements outside functions: the main program, function 0.
    pub body: Vec<Stmt>,
    /// Every variable and parameter the program declares, by [`VarId`].
    pub vars: Vec<Variable>,
    /// The declared functions: `functions[k - 1]` is function `k`.
    pub functions: Vec<Function>,
}

impl Program {
    /// The function numbered `id` (not the main program).
    pub fn function(&self, id: FuncId) -> Option<&Function> {
        self.functions.get(id.0.checked_sub(1)?)
    }
}

/// A variable or a parameter, as debug information names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    /// Its name in its declaration.
    pub span: Span,
}

/// A declared function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    /// Its name in the declaration.
    pub span: Span,
    /// The whole declaration, from `fn` to the closing brace.
    pub decl: Span,
    /// Its parameters, which are its stack slots 0..n.
    pub params: Vec<VarId>,
    /// Whether it returns a value (`-> int`).
    pub result: bool,
    /// Its body's statements, in the scope of its parameters.
    pub body: Vec<Stmt>,
    /// The closing brace of its body.
    pub end: Span,
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
        var: VarId,
        /// Its initial value.
        init: Expr,
    },
    /// `var = value`, or with `op`, `var = var op value` (`x++` is `x += 1`).
    Assign {
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
    /// Runs the first branch whose condition is non-zero, else `otherwise`: an `if … else if …`
    /// chain as a list, so that its length costs no depth.
    If {
        /// The `if` and each `else if`, in order.
        branches: Vec<Branch>,
        /// The `else` block (empty when there is none).
        otherwise: Vec<Stmt>,
    },
    /// Runs `body` while `cond` is non-zero.
    While {
        /// The loop, as `break` and `continue` name it.
        id: LoopId,
        cond: Expr,
        body: Vec<Stmt>,
    },
    /// Runs `body` forever (until a `break` or `halt`).
    Loop { id: LoopId, body: Vec<Stmt> },
    /// Leaves a loop.
    Break(LoopId),
    /// Goes on with a loop's next iteration.
    Continue(LoopId),
    /// Ends the program.
    Halt,
    /// A nested scope.
    Block(Vec<Stmt>),
    /// Returns from the function, with a value if it has a result.
    Return(Option<Expr>),
    /// A call whose result, if it has one, is dropped.
    Call(Call),
}

/// A call: the arguments are pushed left to right and become the callee's first slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The function called (never [`FuncId::MAIN`]).
    pub function: FuncId,
    pub args: Vec<Expr>,
}

/// One `if` of an `if … else if …` chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Branch {
    pub cond: Expr,
    /// The statements run when it holds.
    pub then: Vec<Stmt>,
    /// From this branch's `if` to the end of the chain.
    pub span: Span,
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
    /// The value a function returns. Never folded: a call runs when the program does.
    Call(Call),
    /// `-e` or `!e`.
    Unary(UnaryOp, Box<Expr>),
    /// A chain of operations, `((first op₁ rhs₁) op₂ rhs₂) …`, as in the syntax tree
    /// ([`ast::ExprKind::Binary`](crate::mova::syntax::ast::ExprKind::Binary)); `&&` and `||`
    /// short-circuit. `first` is never itself a chain and the list is never empty, and the
    /// expression's span is its last operation's.
    Binary(Box<Expr>, Vec<Operation>),
}

/// One operation of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub op: BinaryOp,
    /// The right operand.
    pub rhs: Expr,
    /// The chain up to and including this operation.
    pub span: Span,
}

impl Expr {
    /// `self op rhs` over `span`: a chain continued, or a new one.
    pub fn then(self, op: BinaryOp, rhs: Expr, span: Span) -> Expr {
        let operation = Operation {
            op,
            rhs,
            span: span.clone(),
        };
        let kind = match self.kind {
            ExprKind::Binary(first, mut rest) => {
                rest.push(operation);
                ExprKind::Binary(first, rest)
            }
            kind @ (ExprKind::Const(_)
            | ExprKind::Var(_)
            | ExprKind::Call(_)
            | ExprKind::Unary(..)) => ExprKind::Binary(
                Box::new(Expr {
                    kind,
                    span: self.span,
                }),
                vec![operation],
            ),
        };
        Expr { kind, span }
    }

    /// The same expression over another span (its parentheses, say): a chain's last operation
    /// takes it too, so that the two stay equal.
    pub fn with_span(mut self, span: Span) -> Expr {
        if let ExprKind::Binary(_, rest) = &mut self.kind
            && let Some(last) = rest.last_mut()
        {
            last.span = span.clone();
        }
        self.span = span;
        self
    }

    /// The variable this expression reads, if it is just that.
    pub fn as_var(&self) -> Option<VarId> {
        match self.kind {
            ExprKind::Var(var) => Some(var),
            ExprKind::Const(_) | ExprKind::Call(_) | ExprKind::Unary(..) | ExprKind::Binary(..) => {
                None
            }
        }
    }

    /// The constant this expression is, if it is one.
    pub fn as_const(&self) -> Option<i64> {
        match self.kind {
            ExprKind::Const(value) => Some(value),
            ExprKind::Var(_) | ExprKind::Call(_) | ExprKind::Unary(..) | ExprKind::Binary(..) => {
                None
            }
        }
    }
}
