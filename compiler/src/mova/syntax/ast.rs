//! The `.mova` syntax tree. Every node carries the byte span it was parsed from.

use crate::diag::Span;
use crate::number::IntError;
use std::fmt::{self, Write};

/// A name as written: a variable or a label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name<'s> {
    /// The name.
    pub text: &'s str,
    /// Where it is written.
    pub span: Span,
}

/// A statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stmt<'s> {
    /// What kind of statement.
    pub kind: StmtKind<'s>,
    /// The whole statement.
    pub span: Span,
}

/// The statements of the language (`docs/language.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StmtKind<'s> {
    /// `var name = init;` or `var name: type = init;`
    Var {
        /// The new variable.
        name: Name<'s>,
        /// Its type, if annotated.
        ty: Option<Type<'s>>,
        /// Its initial value.
        init: Expr<'s>,
    },
    /// `name = value;` or a compound assignment such as `name += value;`, to a variable or an
    /// element (`name[i][j] += value;`).
    Assign {
        /// The variable assigned to, or whose element is.
        name: Name<'s>,
        /// The indexes of the element, outermost first (none for the variable itself).
        indexes: Vec<Index<'s>>,
        /// `=` or the compound operator.
        op: AssignOp,
        /// The right-hand side.
        value: Expr<'s>,
    },
    /// `name++;` (`up`) or `name--;`, of a variable or an element (`a[i]++;`).
    Step {
        name: Name<'s>,
        /// The indexes of the element, outermost first (none for the variable itself).
        indexes: Vec<Index<'s>>,
        /// Whether it is `++`.
        up: bool,
    },
    /// `print(a, b, …);`
    Print(Vec<Expr<'s>>),
    /// `sleep(ms);`
    Sleep(Expr<'s>),
    /// `if cond { … } else if cond { … } … else { … }`: an `else if` chain is a list, not an
    /// `if` nested in each `else`, so that a chain of any length is as shallow as one `if`.
    If {
        /// The `if` and each `else if`, in order: the first whose condition holds is taken.
        branches: Vec<Branch<'s>>,
        /// The final `else`, if there is one.
        otherwise: Option<Block<'s>>,
    },
    /// `while cond { … }`
    While {
        /// The condition, tested before each iteration.
        cond: Expr<'s>,
        body: Block<'s>,
    },
    /// An infinite loop: `loop { … }`, `name: { … }`, or the indented `name:` / `loop:` form.
    Loop {
        /// The label, if the loop has one.
        label: Option<Name<'s>>,
        body: Block<'s>,
    },
    /// `break;` or `break name;`
    Break(Option<Name<'s>>),
    /// `continue;` or `continue name;`
    Continue(Option<Name<'s>>),
    /// `halt;`
    Halt,
    /// `{ … }`
    Block(Block<'s>),
    /// `fn name(params) -> type { … }`: allowed only at the top level (the checker says so).
    Fn(Box<Function<'s>>),
    /// `return;` or `return value;`
    Return(Option<Expr<'s>>),
    /// `name(args);`: a call whose result, if any, is discarded.
    Call(Call<'s>),
    /// A statement that did not parse; its error was reported.
    Error,
}

/// A function declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function<'s> {
    pub name: Name<'s>,
    pub params: Vec<Param<'s>>,
    /// The parenthesised parameter list, parentheses included.
    pub params_span: Span,
    /// The result type after `->`, if the function has a result.
    pub result: Option<Type<'s>>,
    /// The body, braces included.
    pub body: Block<'s>,
}

/// A parameter: `name: type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param<'s> {
    pub name: Name<'s>,
    pub ty: Type<'s>,
}

/// A type as written: `int`, `str`, `[int]`, `[[str]]`, or a name that is no type (the checker
/// reports it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Type<'s> {
    pub kind: TypeKind<'s>,
    /// The whole type, brackets included.
    pub span: Span,
}

/// The kinds of type syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeKind<'s> {
    /// A type's name: `int`, `str` (anything else is unknown).
    Name(&'s str),
    /// `[T]`: an array of `T`.
    Array(Box<Type<'s>>),
}

impl fmt::Display for Type<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TypeKind::Name(name) => f.write_str(name),
            TypeKind::Array(element) => write!(f, "[{element}]"),
        }
    }
}

/// One index of an element assigned to: `[i]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index<'s> {
    pub index: Expr<'s>,
    /// The element so far: from the variable's name to this index's `]`.
    pub span: Span,
}

/// A call: `name(args)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call<'s> {
    /// The function called.
    pub name: Name<'s>,
    /// The arguments, left to right.
    pub args: Vec<Expr<'s>>,
    /// The parenthesised argument list, parentheses included.
    pub args_span: Span,
}

/// One `if` of an `if … else if …` chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Branch<'s> {
    /// The condition (non-zero is true).
    pub cond: Expr<'s>,
    /// The block taken when it holds.
    pub then: Block<'s>,
    /// From this branch's `if` to the end of the chain.
    pub span: Span,
}

/// A sequence of statements in braces, or a label's indented body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block<'s> {
    pub stmts: Vec<Stmt<'s>>,
    /// The block, delimiters included.
    pub span: Span,
}

/// An assignment operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AssignOp {
    /// `=`
    Set,
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=`
    Div,
    /// `%=`
    Rem,
}

impl AssignOp {
    /// The binary operator a compound assignment applies, if it is one.
    pub fn binary(self) -> Option<BinaryOp> {
        match self {
            AssignOp::Set => None,
            AssignOp::Add => Some(BinaryOp::Add),
            AssignOp::Sub => Some(BinaryOp::Sub),
            AssignOp::Mul => Some(BinaryOp::Mul),
            AssignOp::Div => Some(BinaryOp::Div),
            AssignOp::Rem => Some(BinaryOp::Rem),
        }
    }
}

/// An expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr<'s> {
    /// What kind of expression.
    pub kind: ExprKind<'s>,
    /// The whole expression.
    pub span: Span,
}

/// The expressions of the language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprKind<'s> {
    /// An integer literal: its text and its magnitude (literals are unsigned; `-` is an operator,
    /// and `-9223372036854775808` is accepted as the negation of a literal).
    Int {
        /// The literal as written.
        text: &'s str,
        /// Its value, or why it has none.
        value: Result<u64, IntError>,
    },
    /// `true` (1) or `false` (0).
    Bool(bool),
    /// A string literal: as written, and the text it stands for (its escapes decoded; an
    /// invalid escape, which was reported, stands for nothing).
    Str {
        /// The literal as written, quotes included.
        text: &'s str,
        value: String,
    },
    /// An array literal, `[e1, e2, …]`.
    Array(Vec<Expr<'s>>),
    /// `base[index]`.
    Index(Box<Expr<'s>>, Box<Expr<'s>>),
    /// A variable.
    Var(Name<'s>),
    /// A call of a function, as a value (boxed: the largest kind of expression, and a rare one,
    /// would make every expression as large).
    Call(Box<Call<'s>>),
    /// `-e` or `!e`.
    Unary(UnaryOp, Box<Expr<'s>>),
    /// A chain of binary operations, `first op₁ rhs₁ op₂ rhs₂ …`, meaning
    /// `((first op₁ rhs₁) op₂ rhs₂) …`: every operator is left-associative, so a left operand that
    /// is itself an operation continues the chain. Stored as a list rather than a left-deep tree,
    /// a chain of any length (a 30,000-term sum) is as shallow as one operation for every pass,
    /// and for dropping it. `first` is never itself a chain, and the list is never empty.
    Binary(Box<Expr<'s>>, Vec<Operation<'s>>),
    /// An expression that did not parse; its error was reported.
    Error,
}

/// One operation of a chain: what it applies to the value of the chain before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<'s> {
    pub op: BinaryOp,
    /// The right operand.
    pub rhs: Expr<'s>,
    /// The chain up to and including this operation (with its parentheses, if it has them).
    pub span: Span,
}

/// A prefix operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-`
    Neg,
    /// `!`
    Not,
}

/// An infix operator, lowest precedence first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `||` (short-circuit)
    Or,
    /// `&&` (short-circuit)
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }
}

impl BinaryOp {
    /// The VM operation this operator performs, or `None` for the short-circuit `&&` and `||`.
    pub fn op(self) -> Option<mova_lang::ops::BinOp> {
        use mova_lang::ops::BinOp;
        Some(match self {
            BinaryOp::Or | BinaryOp::And => return None,
            BinaryOp::Eq => BinOp::Eq,
            BinaryOp::Ne => BinOp::Ne,
            BinaryOp::Lt => BinOp::Lt,
            BinaryOp::Le => BinOp::Le,
            BinaryOp::Gt => BinOp::Gt,
            BinaryOp::Ge => BinOp::Ge,
            BinaryOp::Add => BinOp::Add,
            BinaryOp::Sub => BinOp::Sub,
            BinaryOp::Mul => BinOp::Mul,
            BinaryOp::Div => BinOp::Div,
            BinaryOp::Rem => BinOp::Rem,
        })
    }
}

impl UnaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Not => "!",
        }
    }
}

impl AssignOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            AssignOp::Set => "=",
            AssignOp::Add => "+=",
            AssignOp::Sub => "-=",
            AssignOp::Mul => "*=",
            AssignOp::Div => "/=",
            AssignOp::Rem => "%=",
        }
    }
}

/// Renders statements as an indented tree, one node per line with its span: the form the syntax
/// tree snapshots and `movac --emit ast` show. A chain of operations is one node that lists its
/// operators and then its operands (`binary + -` over `a`, `b`, `c` is `(a + b) - c`), and an
/// `else if` chain lists its branches, so the output grows with the input, never with its square.
pub fn dump(stmts: &[Stmt<'_>]) -> String {
    let mut out = String::new();
    for stmt in stmts {
        // Writing into a String cannot fail.
        let _ = dump_stmt(&mut out, stmt, 0);
    }
    out
}

fn line(out: &mut String, depth: usize, text: fmt::Arguments<'_>, span: &Span) -> fmt::Result {
    writeln!(
        out,
        "{:indent$}{text} @{}..{}",
        "",
        span.start,
        span.end,
        indent = depth * 2
    )
}

fn dump_stmt(out: &mut String, stmt: &Stmt<'_>, depth: usize) -> fmt::Result {
    let span = &stmt.span;
    match &stmt.kind {
        StmtKind::Var { name, ty, init } => {
            match ty {
                Some(ty) => line(out, depth, format_args!("var {}: {ty}", name.text), span)?,
                None => line(out, depth, format_args!("var {}", name.text), span)?,
            }
            dump_expr(out, init, depth + 1)
        }
        StmtKind::Assign {
            name,
            indexes,
            op,
            value,
        } => {
            line(
                out,
                depth,
                format_args!("assign {}{} {}", name.text, places(indexes), op.symbol()),
                span,
            )?;
            for index in indexes {
                dump_expr(out, &index.index, depth + 1)?;
            }
            dump_expr(out, value, depth + 1)
        }
        StmtKind::Step { name, indexes, up } => {
            let op = if *up { "++" } else { "--" };
            line(
                out,
                depth,
                format_args!("step {}{}{op}", name.text, places(indexes)),
                span,
            )?;
            for index in indexes {
                dump_expr(out, &index.index, depth + 1)?;
            }
            Ok(())
        }
        StmtKind::Print(values) => {
            line(out, depth, format_args!("print"), span)?;
            for value in values {
                dump_expr(out, value, depth + 1)?;
            }
            Ok(())
        }
        StmtKind::Sleep(value) => {
            line(out, depth, format_args!("sleep"), span)?;
            dump_expr(out, value, depth + 1)
        }
        StmtKind::If {
            branches,
            otherwise,
        } => {
            line(out, depth, format_args!("if"), span)?;
            for (i, branch) in branches.iter().enumerate() {
                let depth = if i == 0 {
                    depth + 1
                } else {
                    line(out, depth + 1, format_args!("else if"), &branch.span)?;
                    depth + 2
                };
                dump_expr(out, &branch.cond, depth)?;
                dump_block(out, "then", &branch.then, depth)?;
            }
            if let Some(otherwise) = otherwise {
                line(out, depth + 1, format_args!("else"), &otherwise.span)?;
                dump_block(out, "block", otherwise, depth + 2)?;
            }
            Ok(())
        }
        StmtKind::While { cond, body } => {
            line(out, depth, format_args!("while"), span)?;
            dump_expr(out, cond, depth + 1)?;
            dump_block(out, "do", body, depth + 1)
        }
        StmtKind::Loop { label, body } => {
            match label {
                Some(label) => line(out, depth, format_args!("loop {}", label.text), span)?,
                None => line(out, depth, format_args!("loop"), span)?,
            }
            dump_block(out, "do", body, depth + 1)
        }
        StmtKind::Break(label) => match label {
            Some(label) => line(out, depth, format_args!("break {}", label.text), span),
            None => line(out, depth, format_args!("break"), span),
        },
        StmtKind::Continue(label) => match label {
            Some(label) => line(out, depth, format_args!("continue {}", label.text), span),
            None => line(out, depth, format_args!("continue"), span),
        },
        StmtKind::Halt => line(out, depth, format_args!("halt"), span),
        StmtKind::Block(block) => dump_block(out, "block", block, depth),
        StmtKind::Fn(function) => {
            let params: Vec<String> = function
                .params
                .iter()
                .map(|param| format!("{}: {}", param.name.text, param.ty))
                .collect();
            let result = function
                .result
                .as_ref()
                .map(|ty| format!(" -> {}", ty))
                .unwrap_or_default();
            line(
                out,
                depth,
                format_args!("fn {}({}){result}", function.name.text, params.join(", ")),
                span,
            )?;
            dump_block(out, "body", &function.body, depth + 1)
        }
        StmtKind::Return(value) => {
            line(out, depth, format_args!("return"), span)?;
            match value {
                Some(value) => dump_expr(out, value, depth + 1),
                None => Ok(()),
            }
        }
        StmtKind::Call(call) => dump_call(out, call, span, depth),
        StmtKind::Error => line(out, depth, format_args!("<error>"), span),
    }
}

/// `[_]` for each index of an element assigned to, whose expressions follow as children.
fn places(indexes: &[Index<'_>]) -> String {
    "[_]".repeat(indexes.len())
}

fn dump_block(out: &mut String, what: &str, block: &Block<'_>, depth: usize) -> fmt::Result {
    line(out, depth, format_args!("{what}"), &block.span)?;
    for stmt in &block.stmts {
        dump_stmt(out, stmt, depth + 1)?;
    }
    Ok(())
}

fn dump_expr(out: &mut String, expr: &Expr<'_>, depth: usize) -> fmt::Result {
    let span = &expr.span;
    match &expr.kind {
        ExprKind::Int { text, value } => match value {
            Ok(value) => line(out, depth, format_args!("int {value}"), span),
            Err(_) => line(out, depth, format_args!("int {text} (invalid)"), span),
        },
        ExprKind::Bool(value) => line(out, depth, format_args!("bool {value}"), span),
        ExprKind::Str { value, .. } => line(out, depth, format_args!("str {value:?}"), span),
        ExprKind::Array(elements) => {
            line(out, depth, format_args!("array"), span)?;
            for element in elements {
                dump_expr(out, element, depth + 1)?;
            }
            Ok(())
        }
        ExprKind::Index(base, index) => {
            line(out, depth, format_args!("index"), span)?;
            dump_expr(out, base, depth + 1)?;
            dump_expr(out, index, depth + 1)
        }
        ExprKind::Var(name) => line(out, depth, format_args!("name {}", name.text), span),
        ExprKind::Call(call) => dump_call(out, call, span, depth),
        ExprKind::Unary(op, operand) => {
            line(out, depth, format_args!("unary {}", op.symbol()), span)?;
            dump_expr(out, operand, depth + 1)
        }
        ExprKind::Binary(first, rest) => {
            let ops: Vec<&str> = rest.iter().map(|operation| operation.op.symbol()).collect();
            line(out, depth, format_args!("binary {}", ops.join(" ")), span)?;
            dump_expr(out, first, depth + 1)?;
            for operation in rest {
                dump_expr(out, &operation.rhs, depth + 1)?;
            }
            Ok(())
        }
        ExprKind::Error => line(out, depth, format_args!("<error>"), span),
    }
}

fn dump_call(out: &mut String, call: &Call<'_>, span: &Span, depth: usize) -> fmt::Result {
    line(out, depth, format_args!("call {}", call.name.text), span)?;
    for arg in &call.args {
        dump_expr(out, arg, depth + 1)?;
    }
    Ok(())
}
