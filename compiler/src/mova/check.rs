//! Semantic checks: resolves names and labels, checks literals, folds constants and finds unused
//! variables and unreachable code, turning the syntax tree into the checked program
//! ([`hir`](crate::mova::hir)). Every problem is a [`LangError`]; checking goes on after an error so one
//! run reports them all.

use crate::diag::{Span, SuggestionBudget};
use crate::mova::errors::LangError;
use crate::mova::hir::{self, ExprKind, LoopId, StmtKind, VarId};
use crate::mova::syntax::ast::{self, BinaryOp, UnaryOp};
use crate::number::IntError;
use crate::shared::InvalidNumber;
use mova_lang::ops;
use std::collections::{HashMap, HashSet};

/// Checks a parsed program, returning the checked program and every error and warning found, in
/// source order. The program is meaningful only if none of them is an error.
pub fn check(stmts: &[ast::Stmt<'_>]) -> (hir::Program, Vec<LangError>) {
    let mut checker = Checker::default();
    let body = checker.block(stmts);
    let mut errors = checker.errors;
    errors.sort_by_key(|error| error.span().start);
    (
        hir::Program {
            body,
            vars: checker.vars.len(),
        },
        errors,
    )
}

#[derive(Default)]
struct Checker<'s> {
    /// The names in scope, innermost scope last.
    scopes: Vec<Scope<'s>>,
    /// Every variable declared so far, by id.
    vars: Vec<Var<'s>>,
    /// The loops around the statement being checked, innermost last, with their labels.
    loops: Vec<(Option<&'s str>, LoopId)>,
    next_loop: usize,
    /// Loops that some `break` leaves.
    broken: HashSet<LoopId>,
    /// The suggestion searches left for misspelt names and labels.
    suggestions: SuggestionBudget,
    errors: Vec<LangError>,
}

/// The variables one block declares.
#[derive(Default)]
struct Scope<'s> {
    names: HashMap<&'s str, VarId>,
    /// The same variables in declaration order, for reporting.
    order: Vec<VarId>,
}

struct Var<'s> {
    name: &'s str,
    span: Span,
    read: bool,
    assigned: bool,
}

impl<'s> Checker<'s> {
    fn lookup(&self, name: &str) -> Option<VarId> {
        self.scopes
            .iter()
            .rev()
            .find_map(|scope| scope.names.get(name).copied())
    }

    fn suggest(&mut self, name: &str) -> Option<String> {
        let visible = self
            .scopes
            .iter()
            .flat_map(|scope| scope.names.keys().copied());
        self.suggestions
            .did_you_mean(name, visible)
            .map(str::to_owned)
    }

    /// Checks a block in a new scope.
    fn block(&mut self, stmts: &[ast::Stmt<'s>]) -> Vec<hir::Stmt> {
        self.scopes.push(Scope::default());
        let mut out = Vec::with_capacity(stmts.len());
        let mut diverged: Option<(Span, &'static str)> = None;
        let mut reported = false;
        for stmt in stmts {
            if let (Some((cause, what)), false) = (&diverged, reported)
                && !matches!(stmt.kind, ast::StmtKind::Error)
            {
                self.errors.push(LangError::Unreachable {
                    span: stmt.span.clone(),
                    cause: cause.clone(),
                    what,
                });
                reported = true;
            }
            if let Some(stmt) = self.stmt(stmt) {
                if diverged.is_none() {
                    diverged = self.diverges(&stmt).map(|what| (stmt.span.clone(), what));
                }
                out.push(stmt);
            }
        }
        self.end_scope();
        out
    }

    fn end_scope(&mut self) {
        for var in self.scopes.pop().unwrap_or_default().order {
            let Some(info) = self.vars.get(var.0) else {
                continue;
            };
            if !info.read && !info.name.starts_with('_') {
                self.errors.push(LangError::UnusedVariable {
                    span: info.span.clone(),
                    name: info.name.to_owned(),
                    assigned: info.assigned,
                });
            }
        }
    }

    /// Whether control can never continue after `stmt`, and what kind of statement it is.
    fn diverges(&self, stmt: &hir::Stmt) -> Option<&'static str> {
        match &stmt.kind {
            StmtKind::Break(_) => Some("`break`"),
            StmtKind::Continue(_) => Some("`continue`"),
            StmtKind::Halt => Some("`halt`"),
            StmtKind::Loop { id, .. } if !self.broken.contains(id) => Some("infinite loop"),
            StmtKind::While { id, cond, .. }
                if cond.as_const().is_some_and(|c| c != 0) && !self.broken.contains(id) =>
            {
                Some("infinite loop")
            }
            StmtKind::If {
                branches,
                otherwise,
            } => {
                let all = |stmts: &[hir::Stmt]| stmts.iter().any(|s| self.diverges(s).is_some());
                (branches.iter().all(|branch| all(&branch.then)) && all(otherwise))
                    .then_some("`if`")
            }
            StmtKind::Block(stmts) => stmts.iter().find_map(|s| self.diverges(s)),
            StmtKind::Loop { .. }
            | StmtKind::While { .. }
            | StmtKind::Declare { .. }
            | StmtKind::Assign { .. }
            | StmtKind::Print(_)
            | StmtKind::Sleep(_) => None,
        }
    }

    fn stmt(&mut self, stmt: &ast::Stmt<'s>) -> Option<hir::Stmt> {
        let span = stmt.span.clone();
        let kind = match &stmt.kind {
            ast::StmtKind::Var { name, init } => {
                // The initialiser is checked before the name exists, so `var x = x;` refers to an
                // outer `x`.
                let init = self.expr(init);
                let first = self
                    .scopes
                    .last()
                    .and_then(|scope| scope.names.get(name.text).copied());
                if let Some(first) = first {
                    let first = self
                        .vars
                        .get(first.0)
                        .map_or(name.span.clone(), |v| v.span.clone());
                    self.errors.push(LangError::DuplicateDeclaration {
                        span: name.span.clone(),
                        first,
                        name: name.text.to_owned(),
                    });
                    return None;
                }
                let var = VarId(self.vars.len());
                self.vars.push(Var {
                    name: name.text,
                    span: name.span.clone(),
                    read: false,
                    assigned: false,
                });
                if let Some(scope) = self.scopes.last_mut() {
                    scope.names.insert(name.text, var);
                    scope.order.push(var);
                }
                StmtKind::Declare { var, init }
            }
            ast::StmtKind::Assign { name, op, value } => {
                let value = self.expr(value);
                let var = self.assigned(name)?;
                StmtKind::Assign {
                    var,
                    op: op.binary().and_then(BinaryOp::op),
                    value,
                }
            }
            ast::StmtKind::Step { name, up } => {
                let var = self.assigned(name)?;
                StmtKind::Assign {
                    var,
                    op: Some(if *up {
                        ops::BinOp::Add
                    } else {
                        ops::BinOp::Sub
                    }),
                    value: hir::Expr {
                        kind: ExprKind::Const(1),
                        span: span.clone(),
                    },
                }
            }
            ast::StmtKind::Print(value) => StmtKind::Print(self.expr(value)),
            ast::StmtKind::Sleep(value) => {
                let value = self.expr(value);
                if let Some(ms) = value.as_const().filter(|ms| *ms < 0) {
                    self.errors.push(LangError::AlwaysTraps {
                        span: value.span.clone(),
                        reason: format!("negative sleep duration {ms} ms"),
                    });
                }
                StmtKind::Sleep(value)
            }
            ast::StmtKind::If {
                branches,
                otherwise,
            } => {
                let branches = branches
                    .iter()
                    .map(|branch| hir::Branch {
                        cond: self.expr(&branch.cond),
                        then: self.block(&branch.then.stmts),
                        span: branch.span.clone(),
                    })
                    .collect();
                let otherwise = match otherwise {
                    Some(block) => self.block(&block.stmts),
                    None => Vec::new(),
                };
                StmtKind::If {
                    branches,
                    otherwise,
                }
            }
            ast::StmtKind::While { cond, body } => {
                let cond = self.expr(cond);
                let id = self.enter_loop(None);
                let body = self.block(&body.stmts);
                self.loops.pop();
                StmtKind::While { id, cond, body }
            }
            ast::StmtKind::Loop { label, body } => {
                let id = self.enter_loop(label.as_ref().map(|label| label.text));
                let body = self.block(&body.stmts);
                self.loops.pop();
                StmtKind::Loop { id, body }
            }
            ast::StmtKind::Break(label) => {
                let id = self.target(label.as_ref(), &span, true)?;
                self.broken.insert(id);
                StmtKind::Break(id)
            }
            ast::StmtKind::Continue(label) => {
                StmtKind::Continue(self.target(label.as_ref(), &span, false)?)
            }
            ast::StmtKind::Halt => StmtKind::Halt,
            ast::StmtKind::Block(block) => StmtKind::Block(self.block(&block.stmts)),
            ast::StmtKind::Error => return None,
        };
        Some(hir::Stmt { kind, span })
    }

    /// Resolves the variable an assignment writes, reporting it if it is not declared.
    fn assigned(&mut self, name: &ast::Name<'s>) -> Option<VarId> {
        let Some(var) = self.lookup(name.text) else {
            let suggestion = self.suggest(name.text);
            self.errors.push(LangError::UndeclaredAssignment {
                span: name.span.clone(),
                name: name.text.to_owned(),
                suggestion,
            });
            return None;
        };
        if let Some(info) = self.vars.get_mut(var.0) {
            info.assigned = true;
        }
        Some(var)
    }

    fn enter_loop(&mut self, label: Option<&'s str>) -> LoopId {
        let id = LoopId(self.next_loop);
        self.next_loop += 1;
        self.loops.push((label, id));
        id
    }

    /// The loop a `break` or `continue` refers to.
    fn target(
        &mut self,
        label: Option<&ast::Name<'s>>,
        span: &Span,
        breaking: bool,
    ) -> Option<LoopId> {
        match label {
            None => {
                let innermost = self.loops.last().map(|&(_, id)| id);
                if innermost.is_none() {
                    self.errors.push(if breaking {
                        LangError::BreakOutsideLoop { span: span.clone() }
                    } else {
                        LangError::ContinueOutsideLoop { span: span.clone() }
                    });
                }
                innermost
            }
            Some(label) => {
                let found = self
                    .loops
                    .iter()
                    .rev()
                    .find(|(name, _)| *name == Some(label.text))
                    .map(|&(_, id)| id);
                if found.is_none() {
                    let labels = self.loops.iter().filter_map(|(name, _)| *name);
                    let suggestion = self.suggestions.did_you_mean(label.text, labels);
                    self.errors.push(LangError::UnknownLabel {
                        span: label.span.clone(),
                        name: label.text.to_owned(),
                        suggestion: suggestion.map(str::to_owned),
                    });
                }
                found
            }
        }
    }

    fn expr(&mut self, expr: &ast::Expr<'s>) -> hir::Expr {
        let span = expr.span.clone();
        let constant = |value| hir::Expr {
            kind: ExprKind::Const(value),
            span: span.clone(),
        };
        match &expr.kind {
            ast::ExprKind::Int { text, value } => {
                constant(self.literal(text, *value, false, &span))
            }
            ast::ExprKind::Bool(value) => constant(i64::from(*value)),
            ast::ExprKind::Var(name) => match self.lookup(name.text) {
                Some(var) => {
                    if let Some(info) = self.vars.get_mut(var.0) {
                        info.read = true;
                    }
                    hir::Expr {
                        kind: ExprKind::Var(var),
                        span,
                    }
                }
                None => {
                    let suggestion = self.suggest(name.text);
                    self.errors.push(LangError::UnknownVariable {
                        span: span.clone(),
                        name: name.text.to_owned(),
                        suggestion,
                    });
                    constant(0)
                }
            },
            // `-9223372036854775808` is the negation of a literal one past `i64::MAX`. As in
            // Java, the `-` must apply to the literal itself: a parenthesised literal's span
            // covers its parentheses, so `-(9223372036854775808)` is a literal out of range.
            ast::ExprKind::Unary(UnaryOp::Neg, operand) if matches!(operand.kind, ast::ExprKind::Int { text, .. } if text.len() == operand.span.len()) =>
            {
                let ast::ExprKind::Int { text, value } = &operand.kind else {
                    return constant(0);
                };
                constant(self.literal(text, *value, true, &operand.span))
            }
            ast::ExprKind::Unary(op, operand) => {
                let operand = self.expr(operand);
                let folded = operand.as_const().map(|value| match op {
                    UnaryOp::Neg => ops::neg(value),
                    UnaryOp::Not => Ok(ops::not(value)),
                });
                match folded {
                    Some(Ok(value)) => constant(value),
                    Some(Err(error)) => {
                        self.errors.push(LangError::AlwaysTraps {
                            span: span.clone(),
                            reason: format!(
                                "{error} in `-({})`",
                                operand.as_const().unwrap_or_default()
                            ),
                        });
                        hir::Expr {
                            kind: ExprKind::Unary(*op, Box::new(operand)),
                            span,
                        }
                    }
                    None => hir::Expr {
                        kind: ExprKind::Unary(*op, Box::new(operand)),
                        span,
                    },
                }
            }
            // A chain is checked and folded from the left, one operation at a time: its length
            // costs no depth.
            ast::ExprKind::Binary(first, rest) => {
                let mut value = self.expr(first);
                for operation in rest {
                    let rhs = self.expr(&operation.rhs);
                    value = match self.fold(operation.op, &value, &rhs, &operation.span) {
                        Some(folded) => hir::Expr {
                            kind: ExprKind::Const(folded),
                            span: operation.span.clone(),
                        },
                        None => value.then(operation.op, rhs, operation.span.clone()),
                    };
                }
                value.with_span(span)
            }
            ast::ExprKind::Error => constant(0),
        }
    }

    /// Folds `lhs op rhs` when the result is known at compile time. An operation on constants
    /// that would trap is left for the VM (so the program behaves as written) and reported.
    fn fold(&mut self, op: BinaryOp, lhs: &hir::Expr, rhs: &hir::Expr, span: &Span) -> Option<i64> {
        let (a, b) = (lhs.as_const(), rhs.as_const());
        match (op, a, b) {
            // Short-circuit operators decide on their left operand alone.
            (BinaryOp::And, Some(0), _) => Some(0),
            (BinaryOp::Or, Some(a), _) if a != 0 => Some(1),
            (BinaryOp::And | BinaryOp::Or, Some(_), Some(b)) => Some(i64::from(b != 0)),
            (BinaryOp::And | BinaryOp::Or, _, _) => None,
            (_, Some(a), Some(b)) => {
                let vm_op = op.op()?;
                match ops::binary(vm_op, a, b) {
                    Ok(value) => Some(value),
                    Err(error) => {
                        self.errors.push(LangError::AlwaysTraps {
                            span: span.clone(),
                            reason: format!("{error} in `{a} {} {b}`", op.symbol()),
                        });
                        None
                    }
                }
            }
            (_, _, _) => None,
        }
    }

    /// The value of an integer literal (negated if `negative`), reporting it if it is invalid or
    /// out of range.
    fn literal(
        &mut self,
        text: &str,
        value: Result<u64, IntError>,
        negative: bool,
        span: &Span,
    ) -> i64 {
        let value = value.and_then(|magnitude| crate::number::signed(negative, magnitude));
        match value {
            Ok(value) => value,
            Err(IntError::OutOfRange) => {
                self.errors.push(LangError::LiteralOutOfRange {
                    span: span.clone(),
                    text: text.to_owned(),
                });
                0
            }
            Err(reason) => {
                self.errors.push(LangError::InvalidNumber(InvalidNumber {
                    span: span.clone(),
                    text: text.to_owned(),
                    reason,
                }));
                0
            }
        }
    }
}
