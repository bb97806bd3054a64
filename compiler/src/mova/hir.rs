//! The checked program: the syntax tree with every name resolved, every literal in range, every
//! expression typed and constant sub-expressions folded. [`check`](crate::mova::check) builds it; code generation reads it and
//! may assume it is valid.

use crate::diag::Span;
use crate::mova::syntax::ast::{BinaryOp, UnaryOp};
use mova_lang::ops::BinOp;
use std::fmt;

/// A type of the language (`docs/language.md`, "Types").
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// A 64-bit signed integer (also the truth values, 1 and 0).
    Int,
    /// A string of UTF-8 bytes.
    Str,
    /// An array of values of a type.
    Array(Box<Type>),
    /// The type of what an error made meaningless (the error was reported): it agrees with every
    /// type, so that one mistake is reported once. A program with errors is never generated.
    Unknown,
}

impl Type {
    /// Whether values of the type live on the reference stack (strings and arrays) rather than
    /// the int stack.
    pub fn is_ref(&self) -> bool {
        matches!(self, Type::Str | Type::Array(_))
    }

    /// The type of an array's elements, if this is an array type.
    pub fn element(&self) -> Option<&Type> {
        match self {
            Type::Array(element) => Some(element),
            Type::Int | Type::Str | Type::Unknown => None,
        }
    }

    /// Whether a value of type `other` may be used where this type is needed: the same type, or
    /// an unknown one in a part of it.
    pub fn agrees(&self, other: &Type) -> bool {
        match (self, other) {
            (Type::Unknown, _) | (_, Type::Unknown) => true,
            (Type::Array(a), Type::Array(b)) => a.agrees(b),
            (a, b) => a == b,
        }
    }

    /// Whether an array of this element type is an array of ints (`NEWI`, `GET`, …) rather than
    /// of references (`NEWR`, `GETR`, …).
    pub fn is_int(&self) -> bool {
        !self.is_ref()
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Int => f.write_str("int"),
            Type::Str => f.write_str("str"),
            Type::Array(element) => write!(f, "[{element}]"),
            Type::Unknown => f.write_str("_"),
        }
    }
}

/// A builtin function (`docs/language.md`, "Builtin functions").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// `len(x)`: a string's bytes or an array's elements.
    Len,
    /// `str(n)`: an int in decimal.
    Str,
    /// `array(n, v)`: `n` copies of `v`.
    Array,
    /// `push(a, v)`: appends `v` to `a`; no value.
    Push,
    /// `pop(a)`: removes and returns `a`'s last element.
    Pop,
}

impl Builtin {
    /// The builtins, by name.
    pub const ALL: [Builtin; 5] = [
        Builtin::Len,
        Builtin::Str,
        Builtin::Array,
        Builtin::Push,
        Builtin::Pop,
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Len => "len",
            Builtin::Str => "str",
            Builtin::Array => "array",
            Builtin::Push => "push",
            Builtin::Pop => "pop",
        }
    }

    /// The builtin called `name`, if there is one.
    pub fn named(name: &str) -> Option<Builtin> {
        Builtin::ALL
            .into_iter()
            .find(|builtin| builtin.name() == name)
    }

    /// Its signature, as the documentation and diagnostics write it.
    pub fn signature(self) -> &'static str {
        match self {
            Builtin::Len => "fn len(x: str or [T]) -> int",
            Builtin::Str => "fn str(n: int) -> str",
            Builtin::Array => "fn array(n: int, v: T) -> [T]",
            Builtin::Push => "fn push(a: [T], v: T)",
            Builtin::Pop => "fn pop(a: [T]) -> T",
        }
    }

    /// How many arguments it takes.
    pub fn params(self) -> usize {
        match self {
            Builtin::Len | Builtin::Str | Builtin::Pop => 1,
            Builtin::Array | Builtin::Push => 2,
        }
    }
}

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
    /// Its type, which says which stack it lives on.
    pub ty: Type,
}

/// A declared function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    /// Its name in the declaration.
    pub span: Span,
    /// The whole declaration, from `fn` to the closing brace.
    pub decl: Span,
    /// Its parameters, in order: the int ones are its int stack slots 0.., the others its
    /// reference stack slots 0.., each in order.
    pub params: Vec<VarId>,
    /// Its result type, if it returns a value.
    pub result: Option<Type>,
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
    /// `array[index] = value`, or with `op`, `array[index] = array[index] op value`.
    ///
    /// Its expressions are boxed: three of them would make every statement as large.
    SetElement {
        /// The array (its type says the element's kind).
        array: Box<Expr>,
        index: Box<Expr>,
        /// The compound operator, if any.
        op: Option<BinOp>,
        value: Box<Expr>,
    },
    /// Prints values on one line, separated by a space.
    Print(Vec<Expr>),
    /// A call of a builtin whose value, if it has one, is dropped.
    Builtin(Builtin, Vec<Expr>),
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
    /// Its type.
    pub ty: Type,
}

/// The checked expressions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprKind {
    /// An int constant (literals, `true`/`false`, and folded sub-expressions).
    Const(i64),
    /// A string literal's bytes (UTF-8): one of the program's string constants.
    Str(Vec<u8>),
    /// An array literal: a new array of these elements.
    Array(Vec<Expr>),
    /// `base[index]`: a string's byte (an int) or an array's element.
    Index(Box<Expr>, Box<Expr>),
    /// A call of a builtin function that has a value.
    Builtin(Builtin, Vec<Expr>),
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
    /// The type of the chain up to and including this operation.
    pub ty: Type,
}

impl Expr {
    /// An int constant over `span`.
    pub fn int(value: i64, span: Span) -> Expr {
        Expr {
            kind: ExprKind::Const(value),
            span,
            ty: Type::Int,
        }
    }

    /// `self op rhs` over `span`, of type `ty`: a chain continued, or a new one.
    pub fn then(self, op: BinaryOp, rhs: Expr, span: Span, ty: Type) -> Expr {
        let operation = Operation {
            op,
            rhs,
            span: span.clone(),
            ty: ty.clone(),
        };
        let kind = match self.kind {
            ExprKind::Binary(first, mut rest) => {
                crate::mova::syntax::parser::push_exact(&mut rest, operation);
                ExprKind::Binary(first, rest)
            }
            kind @ (ExprKind::Const(_)
            | ExprKind::Str(_)
            | ExprKind::Array(_)
            | ExprKind::Index(..)
            | ExprKind::Builtin(..)
            | ExprKind::Var(_)
            | ExprKind::Call(_)
            | ExprKind::Unary(..)) => ExprKind::Binary(
                Box::new(Expr {
                    kind,
                    span: self.span,
                    ty: self.ty,
                }),
                vec![operation],
            ),
        };
        Expr { kind, span, ty }
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
        if let ExprKind::Var(var) = self.kind {
            Some(var)
        } else {
            None
        }
    }

    /// The constant this expression is, if it is one.
    pub fn as_const(&self) -> Option<i64> {
        if let ExprKind::Const(value) = self.kind {
            Some(value)
        } else {
            None
        }
    }
}
