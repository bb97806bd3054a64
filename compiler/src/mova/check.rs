//! Semantic checks: resolves names, labels and calls, checks literals, folds constants and finds
//! unused variables, parameters and functions and unreachable code, turning the syntax tree into
//! the checked program ([`hir`](crate::mova::hir)). Every problem is a [`LangError`]; checking goes
//! on after an error so one run reports them all.
//!
//! Functions are declared first (so a call may come before its function, and functions may call
//! each other), then the main program is checked, then each function's body in a scope of its
//! own: its parameters and locals, never the main program's variables.

use crate::diag::{Span, SuggestionBudget};
use crate::mova::errors::{LangError, NameHint};
use crate::mova::hir::{self, ExprKind, FuncId, LoopId, StmtKind, VarId};
use crate::mova::syntax::ast::{self, BinaryOp, UnaryOp};
use crate::number::IntError;
use crate::shared::InvalidNumber;
use mova_lang::ops;
use std::collections::{HashMap, HashSet};

/// The only type there is so far.
const INT: &str = "int";

/// Checks a parsed program, returning the checked program and every error and warning found, in
/// source order. The program is meaningful only if none of them is an error.
pub fn check(stmts: &[ast::Stmt<'_>]) -> (hir::Program, Vec<LangError>) {
    let mut checker = Checker::default();
    let declared = checker.declare_functions(stmts);
    let body = checker.block(stmts);
    let functions = declared
        .iter()
        .enumerate()
        .map(|(i, (function, decl))| checker.function(FuncId(i + 1), function, decl))
        .collect();
    checker.unused_functions();
    let mut errors = checker.errors;
    errors.sort_by_key(|error| error.span().start);
    let vars = checker
        .vars
        .into_iter()
        .map(|var| hir::Variable {
            name: var.name.to_owned(),
            span: var.span,
        })
        .collect();
    (
        hir::Program {
            body,
            vars,
            functions,
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
    /// The functions by name (the first declaration of each name).
    functions: HashMap<&'s str, FuncId>,
    /// Each function's signature: `signatures[k - 1]` is function `k`'s.
    signatures: Vec<Signature<'s>>,
    /// The function whose body is being checked, if it is not the main program.
    function: Option<Context<'s>>,
    /// Which function calls which: `(caller, callee)`.
    calls: Vec<(FuncId, FuncId)>,
    /// The names of the main program's variables, for the help of an unknown name in a function.
    main_names: HashSet<&'s str>,
    /// The suggestion searches left for misspelt names and labels.
    suggestions: SuggestionBudget,
    errors: Vec<LangError>,
}

/// What a call needs to know of a function.
struct Signature<'s> {
    name: &'s str,
    /// The name in the declaration.
    span: Span,
    /// The parameter list, parentheses included.
    params_span: Span,
    params: usize,
    result: bool,
    /// As declared: `fn gcd(a: int, b: int) -> int`.
    text: String,
    /// Whether an earlier function has the same name (this one cannot be called).
    duplicate: bool,
}

/// The function whose body is being checked.
struct Context<'s> {
    id: FuncId,
    name: &'s str,
    /// Its name in the declaration.
    span: Span,
    /// Its parameter list.
    params_span: Span,
    /// Its result type, if it has one.
    result: Option<Span>,
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
    /// Whether it is a function's parameter.
    param: bool,
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

    /// The function being checked: the main program or a declared one.
    fn current(&self) -> FuncId {
        self.function
            .as_ref()
            .map_or(FuncId::MAIN, |function| function.id)
    }

    /// Numbers the top-level function declarations in source order and records their
    /// signatures, reporting duplicate names and unknown types; returns them in that order.
    fn declare_functions<'a>(
        &mut self,
        stmts: &'a [ast::Stmt<'s>],
    ) -> Vec<(&'a ast::Function<'s>, Span)> {
        let declared: Vec<(&ast::Function<'s>, Span)> = stmts
            .iter()
            .filter_map(|stmt| {
                if let ast::StmtKind::Fn(function) = &stmt.kind {
                    Some((function.as_ref(), stmt.span.clone()))
                } else {
                    None
                }
            })
            .collect();
        for (i, (function, _)) in declared.iter().enumerate() {
            let id = FuncId(i + 1);
            let name = function.name.text;
            let first = self.functions.get(name).copied();
            if let Some(first) = first {
                let first = self
                    .signatures
                    .get(first.0 - 1)
                    .map_or(function.name.span.clone(), |first| first.span.clone());
                self.errors.push(LangError::DuplicateFunction {
                    span: function.name.span.clone(),
                    first,
                    name: name.to_owned(),
                });
            } else {
                self.functions.insert(name, id);
            }
            let types = function
                .params
                .iter()
                .map(|param| &param.ty)
                .chain(function.result.as_ref());
            for ty in types {
                if ty.text != INT {
                    self.errors.push(LangError::UnknownType {
                        span: ty.span.clone(),
                        name: ty.text.to_owned(),
                    });
                }
            }
            let params: Vec<String> = function
                .params
                .iter()
                .map(|param| format!("{}: {}", param.name.text, param.ty.text))
                .collect();
            let result = function
                .result
                .as_ref()
                .map(|ty| format!(" -> {}", ty.text))
                .unwrap_or_default();
            self.signatures.push(Signature {
                name,
                span: function.name.span.clone(),
                params_span: function.params_span.clone(),
                params: function.params.len(),
                result: function.result.is_some(),
                text: format!("fn {name}({}){result}", params.join(", ")),
                duplicate: first.is_some(),
            });
        }
        declared
    }

    /// Checks a function's body, in a scope that holds its parameters and nothing of the main
    /// program's.
    fn function(&mut self, id: FuncId, function: &ast::Function<'s>, decl: &Span) -> hir::Function {
        self.function = Some(Context {
            id,
            name: function.name.text,
            span: function.name.span.clone(),
            params_span: function.params_span.clone(),
            result: function.result.as_ref().map(|ty| ty.span.clone()),
        });
        let outer_loops = std::mem::take(&mut self.loops);
        self.scopes.push(Scope::default());
        let mut params = Vec::with_capacity(function.params.len());
        for param in &function.params {
            let first = self
                .scopes
                .last()
                .and_then(|scope| scope.names.get(param.name.text).copied());
            if let Some(first) = first {
                let first = self
                    .vars
                    .get(first.0)
                    .map_or(param.name.span.clone(), |var| var.span.clone());
                self.errors.push(LangError::DuplicateParameter {
                    span: param.name.span.clone(),
                    first,
                    name: param.name.text.to_owned(),
                });
                continue;
            }
            params.push(self.declare(&param.name, true));
        }
        // The body's statements share the parameters' scope: a `var` of a parameter's name in
        // it is a duplicate declaration, as in C.
        let body = self.stmts(&function.body.stmts);
        let span = &function.body.span;
        let end = span.end.saturating_sub(1).max(span.start)..span.end;
        let reaches_end = !body.iter().any(|stmt| self.diverges(stmt).is_some());
        if let (Some(result), true) = (&function.result, reaches_end) {
            self.errors.push(LangError::MissingReturn {
                span: end.clone(),
                name: function.name.text.to_owned(),
                result: result.span.clone(),
            });
        }
        self.end_scope();
        self.loops = outer_loops;
        self.function = None;
        hir::Function {
            name: function.name.text.to_owned(),
            span: function.name.span.clone(),
            decl: decl.clone(),
            params,
            result: function.result.is_some(),
            body,
            end,
        }
    }

    /// Warns of each function the main program never reaches through calls.
    fn unused_functions(&mut self) {
        let mut callees: HashMap<FuncId, Vec<FuncId>> = HashMap::new();
        for &(caller, callee) in &self.calls {
            callees.entry(caller).or_default().push(callee);
        }
        let mut reached = HashSet::from([FuncId::MAIN]);
        let mut todo = vec![FuncId::MAIN];
        while let Some(caller) = todo.pop() {
            for &callee in callees.get(&caller).map(Vec::as_slice).unwrap_or_default() {
                if reached.insert(callee) {
                    todo.push(callee);
                }
            }
        }
        for (i, signature) in self.signatures.iter().enumerate() {
            let unused = !reached.contains(&FuncId(i + 1))
                && !signature.duplicate
                && !signature.name.starts_with('_');
            if unused {
                self.errors.push(LangError::UnusedFunction {
                    span: signature.span.clone(),
                    name: signature.name.to_owned(),
                });
            }
        }
    }

    /// Declares a variable or a parameter in the innermost scope.
    fn declare(&mut self, name: &ast::Name<'s>, param: bool) -> VarId {
        let var = VarId(self.vars.len());
        self.vars.push(Var {
            name: name.text,
            span: name.span.clone(),
            read: false,
            assigned: false,
            param,
        });
        if let Some(scope) = self.scopes.last_mut() {
            scope.names.insert(name.text, var);
            scope.order.push(var);
        }
        if self.function.is_none() {
            self.main_names.insert(name.text);
        }
        var
    }

    /// Checks a block in a new scope.
    fn block(&mut self, stmts: &[ast::Stmt<'s>]) -> Vec<hir::Stmt> {
        self.scopes.push(Scope::default());
        let out = self.stmts(stmts);
        self.end_scope();
        out
    }

    /// Checks statements in the innermost scope, warning of the first unreachable one.
    fn stmts(&mut self, stmts: &[ast::Stmt<'s>]) -> Vec<hir::Stmt> {
        let mut out = Vec::with_capacity(stmts.len());
        let mut diverged: Option<(Span, &'static str)> = None;
        let mut reported = false;
        for stmt in stmts {
            // A function declaration runs nothing, so it is neither unreachable nor the cause.
            if let (Some((cause, what)), false) = (&diverged, reported)
                && !matches!(stmt.kind, ast::StmtKind::Error | ast::StmtKind::Fn(_))
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
        out
    }

    fn end_scope(&mut self) {
        for var in self.scopes.pop().unwrap_or_default().order {
            let Some(info) = self.vars.get(var.0) else {
                continue;
            };
            if info.read || info.name.starts_with('_') {
                continue;
            }
            let (span, name, assigned) = (info.span.clone(), info.name.to_owned(), info.assigned);
            self.errors.push(if info.param {
                LangError::UnusedParameter {
                    span,
                    name,
                    assigned,
                }
            } else {
                LangError::UnusedVariable {
                    span,
                    name,
                    assigned,
                }
            });
        }
    }

    /// Whether control can never continue after `stmt`, and what kind of statement it is.
    fn diverges(&self, stmt: &hir::Stmt) -> Option<&'static str> {
        match &stmt.kind {
            StmtKind::Break(_) => Some("`break`"),
            StmtKind::Continue(_) => Some("`continue`"),
            StmtKind::Halt => Some("`halt`"),
            StmtKind::Return(_) => Some("`return`"),
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
            | StmtKind::Sleep(_)
            | StmtKind::Call(_) => None,
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
                let var = self.declare(name, false);
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
            ast::StmtKind::Fn(function) => {
                // Top-level declarations were numbered before the main program was checked;
                // one anywhere else is an error, and its body is not checked.
                if self.function.is_some() || self.scopes.len() > 1 {
                    self.errors.push(LangError::NestedFunction {
                        span: function.name.span.clone(),
                        name: function.name.text.to_owned(),
                    });
                }
                return None;
            }
            ast::StmtKind::Return(value) => {
                let value = value.as_ref().map(|value| self.expr(value));
                let Some(function) = &self.function else {
                    self.errors
                        .push(LangError::ReturnOutsideFunction { span: span.clone() });
                    return None;
                };
                let name = function.name.to_owned();
                match (&value, &function.result) {
                    (Some(value), None) => self.errors.push(LangError::ReturnWithValue {
                        span: value.span.clone(),
                        name,
                        declared: function.params_span.clone(),
                    }),
                    (None, Some(result)) => self.errors.push(LangError::ReturnWithoutValue {
                        span: span.clone(),
                        name,
                        result: result.clone(),
                    }),
                    (Some(_), Some(_)) | (None, None) => {}
                }
                StmtKind::Return(value)
            }
            ast::StmtKind::Call(call) => StmtKind::Call(self.call(call, &span, false)?),
            ast::StmtKind::Error => return None,
        };
        Some(hir::Stmt { kind, span })
    }

    /// What a name that is no variable in scope is instead: a variable of the main program
    /// (when checking a function), or (if `functions`) a function.
    fn hint(&self, name: &str, functions: bool) -> Option<NameHint> {
        if functions && self.functions.contains_key(name) {
            Some(NameHint::Function)
        } else if self.function.is_some() && self.main_names.contains(name) {
            Some(NameHint::MainVariable)
        } else {
            None
        }
    }

    /// Checks a call: the function exists, takes as many arguments, and has a result if one
    /// is `needed`.
    fn call(&mut self, call: &ast::Call<'s>, span: &Span, needed: bool) -> Option<hir::Call> {
        let args: Vec<hir::Expr> = call.args.iter().map(|arg| self.expr(arg)).collect();
        let name = call.name.text;
        let Some(id) = self.functions.get(name).copied() else {
            let variable = self.lookup(name).is_some();
            let names: Vec<&'s str> = self.signatures.iter().map(|s| s.name).collect();
            let suggestion = self
                .suggestions
                .did_you_mean(name, names)
                .map(str::to_owned);
            self.errors.push(LangError::UnknownFunction {
                span: call.name.span.clone(),
                name: name.to_owned(),
                suggestion,
                variable,
            });
            return None;
        };
        self.calls.push((self.current(), id));
        let signature = self.signatures.get(id.0 - 1)?;
        if signature.params != args.len() {
            self.errors.push(LangError::WrongArgumentCount {
                span: span.clone(),
                name: name.to_owned(),
                expected: signature.params,
                found: args.len(),
                signature: signature.text.clone(),
                declared: signature.params_span.clone(),
            });
            return None;
        }
        if needed && !signature.result {
            self.errors.push(LangError::NoValue {
                span: span.clone(),
                name: name.to_owned(),
                declared: signature.span.clone(),
            });
            return None;
        }
        Some(hir::Call { function: id, args })
    }

    /// Resolves the variable an assignment writes, reporting it if it is not declared.
    fn assigned(&mut self, name: &ast::Name<'s>) -> Option<VarId> {
        let Some(var) = self.lookup(name.text) else {
            let hint = self.hint(name.text, false);
            let suggestion = if hint.is_some() {
                None
            } else {
                self.suggest(name.text)
            };
            self.errors.push(LangError::UndeclaredAssignment {
                span: name.span.clone(),
                name: name.text.to_owned(),
                suggestion,
                hint,
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
        // In a function with no loop around the statement, it would leave the function.
        if let (Some(function), true) = (&self.function, self.loops.is_empty()) {
            self.errors.push(LangError::JumpOutOfFunction {
                span: span.clone(),
                keyword: if breaking { "break" } else { "continue" },
                name: function.name.to_owned(),
                function: function.span.clone(),
            });
            return None;
        }
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
                    let hint = self.hint(name.text, true);
                    let suggestion = if hint.is_some() {
                        None
                    } else {
                        self.suggest(name.text)
                    };
                    self.errors.push(LangError::UnknownVariable {
                        span: span.clone(),
                        name: name.text.to_owned(),
                        suggestion,
                        hint,
                    });
                    constant(0)
                }
            },
            ast::ExprKind::Call(call) => match self.call(call, &span, true) {
                Some(call) => hir::Expr {
                    kind: ExprKind::Call(call),
                    span,
                },
                None => constant(0),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mova::syntax;

    /// The codes `check` reports for `source`, which must parse.
    fn codes(source: &str) -> Vec<&'static str> {
        let (stmts, errors) = syntax::parse(source);
        assert_eq!(errors, [], "{source}");
        check(&stmts).1.iter().map(LangError::code).collect()
    }

    #[test]
    fn functions_are_declared_before_anything_is_checked() {
        // Called before its declaration, and mutually recursive.
        let source = "print(even(10));\n\
                      fn even(n: int) -> int { if n == 0 { return 1; } return odd(n - 1); }\n\
                      fn odd(n: int) -> int { if n == 0 { return 0; } return even(n - 1); }\n";
        assert_eq!(codes(source), [] as [&str; 0]);
        let (stmts, _) = syntax::parse(source);
        let program = check(&stmts).0;
        assert_eq!(program.functions.len(), 2);
        assert_eq!(program.function(FuncId(2)).unwrap().name, "odd");
        assert!(program.function(FuncId::MAIN).is_none());
    }

    #[test]
    fn a_function_sees_its_parameters_and_locals_only() {
        // Parameters are assignable; an inner block may shadow one, the body's top level may not.
        assert_eq!(
            codes(
                "fn f(a: int) -> int { a += 1; { var a = 2; print(a); } return a; }\nprint(f(1));"
            ),
            [] as [&str; 0]
        );
        assert_eq!(
            codes("fn f(a: int) -> int { var a = 2; return a; }\nprint(f(1));"),
            ["E0006"]
        );
        // The main program's variables are not visible, wherever they are declared.
        assert_eq!(
            codes("fn f() -> int { return x; }\nvar x = 1;\nprint(x + f());"),
            ["E0005"]
        );
        // A variable may share a function's name: calls and reads do not mix.
        assert_eq!(
            codes("fn f(x: int) -> int { return x; }\nvar f = f(2);\nprint(f(f));"),
            [] as [&str; 0]
        );
    }

    #[test]
    fn what_ends_a_function_with_a_result() {
        for body in [
            "return 1;",
            "loop { return 1; }",
            "while true { }",
            "halt;",
            "if 1 { return 1; } else { return 2; }",
            "{ return 3; }",
        ] {
            let source = format!("fn f() -> int {{ {body} }}\nprint(f());");
            assert_eq!(codes(&source), [] as [&str; 0], "{source}");
        }
        for body in ["", "if 1 { return 1; }", "loop { break; }", "print(1);"] {
            let source = format!("fn f() -> int {{ {body} }}\nprint(f());");
            assert_eq!(codes(&source), ["E0025"], "{source}");
        }
    }

    #[test]
    fn loops_inside_a_function_may_be_left() {
        assert_eq!(
            codes(
                "fn f(n: int) { outer: { while n > 0 { n--; if n == 3 { break outer; } continue; } } }\nf(5);"
            ),
            [] as [&str; 0]
        );
        // A label of the main program's is not one of the function's.
        assert_eq!(
            codes("fn f() { while true { break outer; } }\nouter: { f(); break; }"),
            ["E0009"]
        );
    }

    #[test]
    fn calls_are_never_folded() {
        let source = "fn one() -> int { return 1; }\nprint(one() * 0 + 2 * 3);";
        let (stmts, _) = syntax::parse(source);
        let program = check(&stmts).0;
        let [stmt] = program.body.as_slice() else {
            panic!("{:?}", program.body);
        };
        let StmtKind::Print(value) = &stmt.kind else {
            panic!("{stmt:?}");
        };
        // `2 * 3` folds; the call and what it is part of stay.
        let ExprKind::Binary(first, rest) = &value.kind else {
            panic!("{value:?}");
        };
        assert!(matches!(first.kind, ExprKind::Call(_)), "{first:?}");
        assert_eq!(rest.len(), 2);
        assert_eq!(rest[1].rhs.as_const(), Some(6));
    }
}
