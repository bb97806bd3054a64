//! Semantic checks: resolves names, labels and calls, checks types and literals, folds constants
//! and finds
//! unused variables, parameters and functions and unreachable code, turning the syntax tree into
//! the checked program ([`hir`](crate::mova::hir)). Every problem is a [`LangError`]; checking goes
//! on after an error so one run reports them all.
//!
//! Functions are declared first (so a call may come before its function, and functions may call
//! each other), then the main program is checked, then each function's body in a scope of its
//! own: its parameters and locals, never the main program's variables.

use crate::diag::{Span, SuggestionBudget};
use crate::mova::analysis::{Analysis, Reference, Symbol, SymbolKind};
use crate::mova::errors::{LangError, NameHint};
use crate::mova::hir::{self, Builtin, ExprKind, FuncId, LoopId, StmtKind, Type, VarId};
use crate::mova::syntax::ast::{self, BinaryOp, UnaryOp};
use crate::number::IntError;
use crate::shared::InvalidNumber;
use mova_lang::ops;
use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};

/// The names of the builtin functions, which no declared function may take.
pub const BUILTINS: [&str; 5] = ["len", "str", "array", "push", "pop"];

/// The help for a condition that is no int.
const CONDITION_HELP: &str =
    "a condition is an int (non-zero is true): compare, as in `len(s) > 0` or `s != \"\"`";

/// The help for an index that is no int.
const INDEX_HELP: &str = "an index is an int: `a[0]`, `a[len(a) - 1]`";

/// What a call resolved to.
enum Callee {
    /// A declared function.
    User(hir::Call),
    /// A builtin, with its checked arguments.
    Builtin(Builtin, Vec<hir::Expr>),
}

/// Whether a value of type `ty` has the binary operator `op`: ints have all of them, strings
/// `+` (concatenation) and the comparisons, arrays none.
fn supports(op: BinaryOp, ty: &Type) -> bool {
    match ty {
        Type::Int | Type::Unknown => true,
        Type::Str => matches!(
            op,
            BinaryOp::Add
                | BinaryOp::Eq
                | BinaryOp::Ne
                | BinaryOp::Lt
                | BinaryOp::Le
                | BinaryOp::Gt
                | BinaryOp::Ge
        ),
        Type::Array(_) => false,
    }
}

/// Checks a parsed program, returning the checked program and every error and warning found, in
/// source order. The program is meaningful only if none of them is an error.
pub fn check(stmts: &[ast::Stmt<'_>]) -> (hir::Program, Vec<LangError>) {
    let (program, errors, _) = check_program(stmts, None);
    (program, errors)
}

/// [`check`], recording what every name resolves to for tools (see [`Analysis`]).
pub fn check_recording(stmts: &[ast::Stmt<'_>]) -> (hir::Program, Vec<LangError>, Analysis) {
    let (program, errors, analysis) = check_program(stmts, Some(Recorder::default()));
    let mut analysis = analysis
        .map(|recorder| recorder.analysis)
        .unwrap_or_default();
    analysis.finish();
    (program, errors, analysis)
}

/// [`check`], consuming the syntax tree: each top-level statement's tree is dropped as soon as
/// it is checked, so that a large program's syntax tree and checked program are never both
/// whole. The result is [`check`]'s.
pub fn check_owned(stmts: Vec<ast::Stmt<'_>>) -> (hir::Program, Vec<LangError>) {
    // A top-level function declaration is numbered before the main program is checked and its
    // body after; where it stands among the other statements changes nothing (it runs nothing,
    // so it is never unreachable, and checking it in the main program adds nothing).
    let (functions, main): (Vec<_>, Vec<_>) = stmts
        .into_iter()
        .partition(|stmt| matches!(stmt.kind, ast::StmtKind::Fn(_)));
    let mut checker = Checker::default();
    let declared = checker.declare_functions(&functions);
    checker.open_scope(usize::MAX);
    let body = checker.stmts(main.into_iter());
    checker.end_scope();
    let (program, errors, _) = checker.finish(&declared, body);
    (program, errors)
}

fn check_program(
    stmts: &[ast::Stmt<'_>],
    recorder: Option<Recorder>,
) -> (hir::Program, Vec<LangError>, Option<Recorder>) {
    let mut checker = Checker {
        recorder,
        ..Checker::default()
    };
    let declared = checker.declare_functions(stmts);
    let body = checker.block(stmts, usize::MAX);
    checker.finish(&declared, body)
}

impl<'s> Checker<'s> {
    /// Checks the declared functions' bodies after the main program's, `body`, and puts the
    /// checked program together.
    fn finish(
        mut self,
        declared: &[(&ast::Function<'s>, Span)],
        body: Vec<hir::Stmt>,
    ) -> (hir::Program, Vec<LangError>, Option<Recorder>) {
        let checker = &mut self;
        let functions = declared
            .iter()
            .enumerate()
            .map(|(i, (function, decl))| checker.function(FuncId(i + 1), function, decl))
            .collect();
        checker.unused_functions();
        let mut errors = self.errors;
        errors.sort_by_key(|error| error.span().start);
        let vars = self
            .vars
            .into_iter()
            .map(|var| hir::Variable {
                name: var.name.to_owned(),
                span: var.span,
                ty: var.ty,
            })
            .collect();
        (
            hir::Program {
                body,
                vars,
                functions,
            },
            errors,
            self.recorder,
        )
    }
}

/// What the checker records for tools, when asked: the analysis so far and how to find its
/// symbols from the checker's ids.
#[derive(Default)]
struct Recorder {
    analysis: Analysis,
    /// Each variable's symbol, by [`VarId`].
    vars: Vec<usize>,
    /// Each declared function's symbol: `functions[k - 1]` is function `k`'s.
    functions: Vec<usize>,
    /// Each labelled loop's symbol.
    labels: HashMap<LoopId, usize>,
    /// The declarations being checked inside of (a function, labelled loops), innermost last.
    containers: Vec<usize>,
}

impl Recorder {
    fn symbol(&mut self, symbol: Symbol) -> usize {
        let index = self.analysis.symbols.len();
        self.analysis.symbols.push(symbol);
        index
    }

    fn reference(&mut self, span: &Span, symbol: Option<usize>, write: bool) {
        if let Some(symbol) = symbol {
            self.analysis.references.push(Reference {
                span: span.clone(),
                symbol,
                write,
            });
        }
    }
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
    /// The scopes opened so far, to number them.
    next_scope: usize,
    /// What names resolve to, recorded only for tools.
    recorder: Option<Recorder>,
}

/// What a call needs to know of a function.
struct Signature<'s> {
    name: &'s str,
    /// The name in the declaration.
    span: Span,
    /// The parameter list, parentheses included.
    params_span: Span,
    /// Each parameter's name, type, and the span of both (`a: int`).
    params: Vec<(&'s str, Type, Span)>,
    /// The result type, with its span.
    result: Option<(Type, Span)>,
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
    /// Its result type, if it has one, with its span and as written.
    result: Option<(Type, Span, String)>,
}

/// The variables one block declares.
#[derive(Default)]
struct Scope<'s> {
    names: HashMap<&'s str, VarId>,
    /// The same variables in declaration order, for reporting.
    order: Vec<VarId>,
    /// Its number, in the order scopes open.
    id: usize,
    /// Where it ends in the source (its block's end).
    end: usize,
}

struct Var<'s> {
    name: &'s str,
    span: Span,
    read: bool,
    assigned: bool,
    /// Whether it is a function's parameter.
    param: bool,
    ty: Type,
    /// What says its type (its annotation or its initial value), and how a diagnostic labels it.
    origin: (Span, &'static str),
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
        for (i, (function, decl)) in declared.iter().enumerate() {
            let id = FuncId(i + 1);
            let name = function.name.text;
            let first = self.functions.get(name).copied();
            let builtin = Builtin::named(name).is_some();
            if builtin {
                self.errors.push(LangError::BuiltinRedefined {
                    span: function.name.span.clone(),
                    name: name.to_owned(),
                });
            } else if let Some(first) = first {
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
            let params: Vec<(&'s str, Type, Span)> = function
                .params
                .iter()
                .map(|param| {
                    let span = param.name.span.start..param.ty.span.end;
                    (param.name.text, self.resolve(&param.ty), span)
                })
                .collect();
            let result = function
                .result
                .as_ref()
                .map(|ty| (self.resolve(ty), ty.span.clone()));
            let texts: Vec<String> = function
                .params
                .iter()
                .map(|param| format!("{}: {}", param.name.text, param.ty))
                .collect();
            let result_text = function
                .result
                .as_ref()
                .map(|ty| format!(" -> {ty}"))
                .unwrap_or_default();
            let text = format!("fn {name}({}){result_text}", texts.join(", "));
            if let Some(recorder) = &mut self.recorder {
                let symbol = recorder.symbol(Symbol {
                    name: name.to_owned(),
                    kind: SymbolKind::Function,
                    span: function.name.span.clone(),
                    decl: decl.clone(),
                    ty: None,
                    signature: Some(text.clone()),
                    visible: 0..usize::MAX,
                    scope: 0,
                    function: id,
                    container: None,
                });
                recorder.functions.push(symbol);
            }
            self.signatures.push(Signature {
                name,
                span: function.name.span.clone(),
                params_span: function.params_span.clone(),
                params,
                result,
                text,
                duplicate: first.is_some() || builtin,
            });
        }
        declared
    }

    /// Checks a function's body, in a scope that holds its parameters and nothing of the main
    /// program's.
    fn function(&mut self, id: FuncId, function: &ast::Function<'s>, decl: &Span) -> hir::Function {
        let (types, result): (Vec<Type>, Option<Type>) = self
            .signatures
            .get(id.0 - 1)
            .map(|signature| {
                let types = signature.params.iter().map(|(_, ty, _)| ty.clone());
                (types.collect(), signature.result.clone().map(|(ty, _)| ty))
            })
            .unwrap_or_default();
        self.function = Some(Context {
            id,
            name: function.name.text,
            span: function.name.span.clone(),
            params_span: function.params_span.clone(),
            result: function.result.as_ref().and_then(|written| {
                let ty = result.clone()?;
                Some((ty, written.span.clone(), written.to_string()))
            }),
        });
        let outer_loops = std::mem::take(&mut self.loops);
        self.open_scope(function.body.span.end);
        if let Some(recorder) = &mut self.recorder
            && let Some(&symbol) = recorder.functions.get(id.0 - 1)
        {
            recorder.containers.push(symbol);
        }
        let mut params = Vec::with_capacity(function.params.len());
        for (param, ty) in function.params.iter().zip(types) {
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
            let origin = (param.ty.span.clone(), "expected due to this type");
            let decl = param.name.span.start..param.ty.span.end;
            let visible = function.body.span.start;
            params.push(self.declare(&param.name, true, ty, origin, decl, visible));
        }
        // The body's statements share the parameters' scope: a `var` of a parameter's name in
        // it is a duplicate declaration, as in C.
        let body = self.stmts(function.body.stmts.iter());
        let span = &function.body.span;
        let end = span.end.saturating_sub(1).max(span.start)..span.end;
        let reaches_end = !body.iter().any(|stmt| self.diverges(stmt).is_some());
        if let (Some(result), true) = (&function.result, reaches_end) {
            self.errors.push(LangError::MissingReturn {
                span: end.clone(),
                name: function.name.text.to_owned(),
                result: result.span.clone(),
                ty: result.to_string(),
            });
        }
        self.end_scope();
        self.loops = outer_loops;
        self.function = None;
        if let Some(recorder) = &mut self.recorder {
            recorder.containers.pop();
        }
        hir::Function {
            name: function.name.text.to_owned(),
            span: function.name.span.clone(),
            decl: decl.clone(),
            params,
            result,
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

    /// Declares a variable or a parameter of type `ty` in the innermost scope.
    /// `decl` is the whole declaration, and the name is visible from `visible` to the end of the
    /// scope (both recorded for tools only).
    fn declare(
        &mut self,
        name: &ast::Name<'s>,
        param: bool,
        ty: Type,
        origin: (Span, &'static str),
        decl: Span,
        visible: usize,
    ) -> VarId {
        let var = VarId(self.vars.len());
        if let Some(recorder) = &mut self.recorder {
            let (scope, end) = self
                .scopes
                .last()
                .map_or((0, usize::MAX), |scope| (scope.id, scope.end));
            let function = self
                .function
                .as_ref()
                .map_or(FuncId::MAIN, |function| function.id);
            let container = recorder.containers.last().copied();
            let symbol = recorder.symbol(Symbol {
                name: name.text.to_owned(),
                kind: if param {
                    SymbolKind::Parameter
                } else {
                    SymbolKind::Variable
                },
                span: name.span.clone(),
                decl,
                ty: Some(ty.clone()),
                signature: None,
                visible: visible..end.max(visible),
                scope,
                function,
                container,
            });
            recorder.vars.push(symbol);
        }
        self.vars.push(Var {
            name: name.text,
            span: name.span.clone(),
            read: false,
            assigned: false,
            param,
            ty,
            origin,
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

    /// Opens a scope that ends at `end` in the source.
    fn open_scope(&mut self, end: usize) {
        self.scopes.push(Scope {
            id: self.next_scope,
            end,
            ..Scope::default()
        });
        self.next_scope += 1;
    }

    /// Checks a block that ends at `end` in the source, in a new scope.
    fn block(&mut self, stmts: &[ast::Stmt<'s>], end: usize) -> Vec<hir::Stmt> {
        self.open_scope(end);
        let out = self.stmts(stmts.iter());
        self.end_scope();
        out
    }

    /// Checks statements in the innermost scope, warning of the first unreachable one.
    ///
    /// `stmts` may lend them or give them: given, each is dropped once checked.
    fn stmts<S: Borrow<ast::Stmt<'s>>>(
        &mut self,
        stmts: impl ExactSizeIterator<Item = S>,
    ) -> Vec<hir::Stmt> {
        let mut out = Vec::with_capacity(stmts.len());
        let mut diverged: Option<(Span, &'static str)> = None;
        let mut reported = false;
        for stmt in stmts {
            let stmt = stmt.borrow();
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
            | StmtKind::SetElement { .. }
            | StmtKind::Print(_)
            | StmtKind::Builtin(..)
            | StmtKind::Sleep(_)
            | StmtKind::Call(_) => None,
        }
    }

    fn stmt(&mut self, stmt: &ast::Stmt<'s>) -> Option<hir::Stmt> {
        let span = stmt.span.clone();
        let kind = match &stmt.kind {
            ast::StmtKind::Var { name, ty, init } => {
                // The initialiser is checked before the name exists, so `var x = x;` refers to an
                // outer `x`. An annotation says the type; without one the initialiser does.
                let annotated = ty.as_ref().map(|ty| (self.resolve(ty), ty.span.clone()));
                let init = self.expr(init, annotated.as_ref().map(|(ty, _)| ty));
                let (ty, origin) = match annotated {
                    Some((ty, span)) => {
                        let because = (span.clone(), String::from("expected due to this type"));
                        self.expect(&init, &ty, Some(because), None);
                        (ty, (span, "expected due to this type"))
                    }
                    None => (
                        init.ty.clone(),
                        (init.span.clone(), "expected due to this value"),
                    ),
                };
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
                let var = self.declare(name, false, ty, origin, span.clone(), span.end);
                StmtKind::Declare { var, init }
            }
            ast::StmtKind::Assign {
                name,
                indexes,
                op,
                value,
            } => self.assign(name, indexes, op.binary(), op.symbol(), Some(value), &span)?,
            ast::StmtKind::Step { name, indexes, up } => {
                let (op, symbol) = if *up {
                    (BinaryOp::Add, "++")
                } else {
                    (BinaryOp::Sub, "--")
                };
                self.assign(name, indexes, Some(op), symbol, None, &span)?
            }
            ast::StmtKind::Print(values) => {
                StmtKind::Print(values.iter().map(|value| self.expr(value, None)).collect())
            }
            ast::StmtKind::Sleep(value) => {
                let value = self.expr(value, Some(&Type::Int));
                self.expect(
                    &value,
                    &Type::Int,
                    None,
                    Some("a sleep lasts an int of milliseconds"),
                );
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
                        cond: self.condition(&branch.cond),
                        then: self.block(&branch.then.stmts, branch.then.span.end),
                        span: branch.span.clone(),
                    })
                    .collect();
                let otherwise = match otherwise {
                    Some(block) => self.block(&block.stmts, block.span.end),
                    None => Vec::new(),
                };
                StmtKind::If {
                    branches,
                    otherwise,
                }
            }
            ast::StmtKind::While { cond, body } => {
                let cond = self.condition(cond);
                let id = self.enter_loop(None);
                let body = self.block(&body.stmts, body.span.end);
                self.loops.pop();
                StmtKind::While { id, cond, body }
            }
            ast::StmtKind::Loop { label, body } => {
                let id = self.enter_loop(label.as_ref().map(|label| label.text));
                let function = self.current();
                let recorded = match (label, &mut self.recorder) {
                    (Some(label), Some(recorder)) => {
                        let container = recorder.containers.last().copied();
                        let symbol = recorder.symbol(Symbol {
                            name: label.text.to_owned(),
                            kind: SymbolKind::Label,
                            span: label.span.clone(),
                            decl: span.clone(),
                            ty: None,
                            signature: None,
                            visible: body.span.clone(),
                            scope: 0,
                            function,
                            container,
                        });
                        recorder.labels.insert(id, symbol);
                        recorder.containers.push(symbol);
                        true
                    }
                    (None, _) | (_, None) => false,
                };
                let body = self.block(&body.stmts, body.span.end);
                if let (true, Some(recorder)) = (recorded, &mut self.recorder) {
                    recorder.containers.pop();
                }
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
            ast::StmtKind::Block(block) => {
                StmtKind::Block(self.block(&block.stmts, block.span.end))
            }
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
                let expected = self
                    .function
                    .as_ref()
                    .and_then(|function| function.result.clone());
                let value = value
                    .as_ref()
                    .map(|value| self.expr(value, expected.as_ref().map(|(ty, ..)| ty)));
                if let (Some(value), Some((ty, result, _))) = (&value, &expected) {
                    let because = (
                        result.clone(),
                        format!("expected `{ty}` because of the return type"),
                    );
                    self.expect(value, ty, Some(because), None);
                }
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
                    (None, Some((_, result, ty))) => {
                        self.errors.push(LangError::ReturnWithoutValue {
                            span: span.clone(),
                            name,
                            result: result.clone(),
                            ty: ty.clone(),
                        });
                    }
                    (Some(_), Some(_)) | (None, None) => {}
                }
                StmtKind::Return(value)
            }
            ast::StmtKind::Call(call) => match self.call(call, &span, false, None)?.0 {
                Callee::User(call) => StmtKind::Call(call),
                Callee::Builtin(builtin, args) => StmtKind::Builtin(builtin, args),
            },
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

    /// Checks a call: the function exists, takes as many arguments, of the types of its
    /// parameters, and has a result if one is `needed`. Returns what it calls and the type of
    /// its value; `expected` is the type the caller needs, if it knows (`array(n, [])` needs it).
    fn call(
        &mut self,
        call: &ast::Call<'s>,
        span: &Span,
        needed: bool,
        expected: Option<&Type>,
    ) -> Option<(Callee, Type)> {
        let name = call.name.text;
        if let Some(builtin) = Builtin::named(name) {
            if let Some(recorder) = &mut self.recorder {
                recorder
                    .analysis
                    .builtins
                    .push((call.name.span.clone(), builtin));
            }
            return self.builtin(builtin, call, span, needed, expected);
        }
        let Some(id) = self.functions.get(name).copied() else {
            for arg in &call.args {
                self.expr(arg, None);
            }
            let variable = self.lookup(name).is_some();
            let names: Vec<&'s str> = self
                .signatures
                .iter()
                .map(|s| s.name)
                .chain(BUILTINS)
                .collect();
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
        if let Some(recorder) = &mut self.recorder {
            let symbol = recorder.functions.get(id.0 - 1).copied();
            recorder.reference(&call.name.span, symbol, false);
        }
        let signature = self.signatures.get(id.0 - 1)?;
        let (params, result) = (signature.params.clone(), signature.result.clone());
        if params.len() != call.args.len() {
            self.errors.push(LangError::WrongArgumentCount {
                span: span.clone(),
                name: name.to_owned(),
                expected: params.len(),
                found: call.args.len(),
                signature: signature.text.clone(),
                declared: Some(signature.params_span.clone()),
            });
            for arg in &call.args {
                self.expr(arg, None);
            }
            return None;
        }
        let declared = signature.span.clone();
        let args = call
            .args
            .iter()
            .zip(params)
            .map(|(arg, (param, ty, param_span))| {
                let arg = self.expr(arg, Some(&ty));
                let because = (
                    param_span,
                    format!("parameter `{param}` of `{name}` is `{ty}`"),
                );
                self.expect(&arg, &ty, Some(because), None);
                arg
            })
            .collect();
        if needed && result.is_none() {
            self.errors.push(LangError::NoValue {
                span: span.clone(),
                name: name.to_owned(),
                declared: Some(declared),
            });
            return None;
        }
        let ty = result.map_or(Type::Unknown, |(ty, _)| ty);
        Some((Callee::User(hir::Call { function: id, args }), ty))
    }

    /// Checks a call of a builtin (see [`Builtin`] for what each takes).
    fn builtin(
        &mut self,
        builtin: Builtin,
        call: &ast::Call<'s>,
        span: &Span,
        needed: bool,
        expected: Option<&Type>,
    ) -> Option<(Callee, Type)> {
        let name = builtin.name();
        if call.args.len() != builtin.params() {
            self.errors.push(LangError::WrongArgumentCount {
                span: span.clone(),
                name: name.to_owned(),
                expected: builtin.params(),
                found: call.args.len(),
                signature: builtin.signature().to_owned(),
                declared: None,
            });
            for arg in &call.args {
                self.expr(arg, None);
            }
            return None;
        }
        let (args, ty) = match (builtin, call.args.as_slice()) {
            (Builtin::Len, [x]) => {
                let x = self.expr(x, None);
                if !matches!(x.ty, Type::Str | Type::Array(_) | Type::Unknown) {
                    self.errors.push(LangError::TypeMismatch {
                        span: x.span.clone(),
                        expected: String::from("a string or an array"),
                        found: x.ty.to_string(),
                        because: Vec::new(),
                        help: Some(String::from(
                            "`len` counts a string's bytes or an array's elements",
                        )),
                    });
                }
                (vec![x], Type::Int)
            }
            (Builtin::Str, [n]) => {
                let n = self.expr(n, Some(&Type::Int));
                self.expect(
                    &n,
                    &Type::Int,
                    None,
                    Some("`str(n)` writes an int in decimal"),
                );
                (vec![n], Type::Str)
            }
            (Builtin::Array, [n, v]) => {
                let n = self.expr(n, Some(&Type::Int));
                self.expect(&n, &Type::Int, None, Some("`array(n, v)` has `n` elements"));
                let element = expected.map(|ty| ty.element().unwrap_or(&Type::Unknown));
                let v = self.expr(v, element);
                if let Some(element) = element {
                    self.expect(&v, element, None, None);
                }
                let ty = Type::Array(Box::new(v.ty.clone()));
                (vec![n, v], ty)
            }
            (Builtin::Push, [a, v]) => {
                let a = self.expr(a, None);
                let element = self.array_argument(&a, name);
                let v = self.expr(v, element.as_ref());
                if let Some(element) = &element {
                    let because = (a.span.clone(), format!("this is `{}`", a.ty));
                    self.expect(&v, element, Some(because), None);
                }
                (vec![a, v], Type::Unknown)
            }
            (Builtin::Pop, [a]) => {
                let a = self.expr(a, None);
                let element = self.array_argument(&a, name);
                (vec![a], element.unwrap_or(Type::Unknown))
            }
            (Builtin::Len | Builtin::Str | Builtin::Array | Builtin::Push | Builtin::Pop, _) => {
                return None;
            }
        };
        if needed && builtin == Builtin::Push {
            self.errors.push(LangError::NoValue {
                span: span.clone(),
                name: name.to_owned(),
                declared: None,
            });
            return None;
        }
        Some((Callee::Builtin(builtin, args), ty))
    }

    /// The element type of the array `a` that builtin `name` takes, reporting it if it is no
    /// array.
    fn array_argument(&mut self, a: &hir::Expr, name: &str) -> Option<Type> {
        match &a.ty {
            Type::Array(element) => Some((**element).clone()),
            Type::Unknown => Some(Type::Unknown),
            Type::Int | Type::Str => {
                self.errors.push(LangError::TypeMismatch {
                    span: a.span.clone(),
                    expected: String::from("an array"),
                    found: a.ty.to_string(),
                    because: Vec::new(),
                    help: Some(format!(
                        "`{name}` takes an array first: `{}`",
                        Builtin::named(name).map_or("", Builtin::signature)
                    )),
                });
                None
            }
        }
    }

    /// The type a type annotation names, reporting a name that is no type.
    fn resolve(&mut self, ty: &ast::Type<'s>) -> Type {
        if let (ast::TypeKind::Name(_), Some(recorder)) = (&ty.kind, &mut self.recorder) {
            recorder.analysis.types.push(ty.span.clone());
        }
        match &ty.kind {
            ast::TypeKind::Name("int") => Type::Int,
            ast::TypeKind::Name("str") => Type::Str,
            ast::TypeKind::Name(name) => {
                self.errors.push(LangError::UnknownType {
                    span: ty.span.clone(),
                    name: (*name).to_owned(),
                });
                Type::Unknown
            }
            ast::TypeKind::Array(element) => Type::Array(Box::new(self.resolve(element))),
        }
    }

    /// Reports `value` if its type is not `expected`'s, with what says the type is expected, if
    /// something does, and a help. Returns whether the types agree.
    fn expect(
        &mut self,
        value: &hir::Expr,
        expected: &Type,
        because: Option<(Span, String)>,
        help: Option<&str>,
    ) -> bool {
        if expected.agrees(&value.ty) {
            return true;
        }
        self.errors.push(LangError::TypeMismatch {
            span: value.span.clone(),
            expected: format!("`{expected}`"),
            found: value.ty.to_string(),
            because: because.into_iter().collect(),
            help: help.map(str::to_owned),
        });
        false
    }

    /// Checks a condition, which is an int.
    fn condition(&mut self, cond: &ast::Expr<'s>) -> hir::Expr {
        let cond = self.expr(cond, Some(&Type::Int));
        self.expect(&cond, &Type::Int, None, Some(CONDITION_HELP));
        cond
    }

    /// Checks an assignment (or a step, without a `value`: `x++` is `x += 1`) to a variable or
    /// to an element of it.
    fn assign(
        &mut self,
        name: &ast::Name<'s>,
        indexes: &[ast::Index<'s>],
        op: Option<BinaryOp>,
        symbol: &'static str,
        value: Option<&ast::Expr<'s>>,
        span: &Span,
    ) -> Option<StmtKind> {
        let step = value.is_none();
        let Some((last, inner)) = indexes.split_last() else {
            let var = self.assigned(name);
            let target = var
                .and_then(|var| self.vars.get(var.0))
                .map(|info| (info.ty.clone(), info.origin.clone()));
            let value = self.operand(value, target.as_ref().map(|(ty, _)| ty), span);
            let (var, (ty, (origin, label))) = (var?, target?);
            // `++` and `--` step ints only (`s++` would be `s += 1`).
            if let Some(op) = op
                && (!supports(op, &ty) || (step && !Type::Int.agrees(&ty)))
            {
                self.errors.push(LangError::NoOperator {
                    span: span.clone(),
                    op: symbol,
                    ty: ty.to_string(),
                    binary: true,
                    operand: name.span.clone(),
                });
                return None;
            }
            self.expect(&value, &ty, Some((origin, label.to_owned())), None);
            return Some(StmtKind::Assign {
                var,
                op: op.and_then(BinaryOp::op),
                value,
            });
        };
        // An element is assigned through the array, which is read.
        let mut array = self.expr(
            &ast::Expr {
                kind: ast::ExprKind::Var(name.clone()),
                span: name.span.clone(),
            },
            None,
        );
        for index in inner {
            array = self.index(array, &index.index, index.span.clone());
        }
        let index = self.expr(&last.index, Some(&Type::Int));
        self.expect(&index, &Type::Int, None, Some(INDEX_HELP));
        let element = match &array.ty {
            Type::Array(element) => Some((**element).clone()),
            Type::Unknown => Some(Type::Unknown),
            Type::Str => {
                self.errors.push(LangError::StringElement {
                    span: last.span.clone(),
                    string: array.span.clone(),
                });
                None
            }
            Type::Int => {
                self.errors.push(LangError::NotIndexable {
                    span: array.span.clone(),
                    ty: array.ty.to_string(),
                });
                None
            }
        };
        let value = self.operand(value, element.as_ref(), span);
        let element = element?;
        if let Some(op) = op
            && (!supports(op, &element) || (step && !Type::Int.agrees(&element)))
        {
            self.errors.push(LangError::NoOperator {
                span: span.clone(),
                op: symbol,
                ty: element.to_string(),
                binary: true,
                operand: last.span.clone(),
            });
            return None;
        }
        let because = (
            array.span.clone(),
            format!("the elements of this `{}` are `{element}`", array.ty),
        );
        self.expect(&value, &element, Some(because), None);
        Some(StmtKind::SetElement {
            array: Box::new(array),
            index: Box::new(index),
            op: op.and_then(BinaryOp::op),
            value: Box::new(value),
        })
    }

    /// The value an assignment stores or applies: `value`, or the 1 of a step.
    fn operand(
        &mut self,
        value: Option<&ast::Expr<'s>>,
        expected: Option<&Type>,
        span: &Span,
    ) -> hir::Expr {
        match value {
            Some(value) => self.expr(value, expected),
            None => hir::Expr::int(1, span.clone()),
        }
    }

    /// `base[index]` over `span`.
    fn index(&mut self, base: hir::Expr, index: &ast::Expr<'s>, span: Span) -> hir::Expr {
        let index = self.expr(index, Some(&Type::Int));
        self.expect(&index, &Type::Int, None, Some(INDEX_HELP));
        let ty = match &base.ty {
            Type::Str => Type::Int,
            Type::Array(element) => (**element).clone(),
            Type::Unknown => Type::Unknown,
            Type::Int => {
                self.errors.push(LangError::NotIndexable {
                    span: base.span.clone(),
                    ty: base.ty.to_string(),
                });
                Type::Unknown
            }
        };
        hir::Expr {
            kind: ExprKind::Index(Box::new(base), Box::new(index)),
            span,
            ty,
        }
    }

    /// The type of `lhs op rhs`, reporting an operator its operands do not have and a right
    /// operand of another type than the left one.
    fn operation_type(
        &mut self,
        op: BinaryOp,
        lhs: &hir::Expr,
        rhs: &hir::Expr,
        span: &Span,
    ) -> Type {
        let boolean = !matches!(
            op,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem
        );
        if !supports(op, &lhs.ty) {
            self.errors.push(LangError::NoOperator {
                span: span.clone(),
                op: op.symbol(),
                ty: lhs.ty.to_string(),
                binary: true,
                operand: lhs.span.clone(),
            });
            return if boolean { Type::Int } else { Type::Unknown };
        }
        let because = (
            lhs.span.clone(),
            format!("the left operand is `{}`", lhs.ty),
        );
        let agrees = self.expect(rhs, &lhs.ty, Some(because), None);
        match (boolean, &lhs.ty, agrees) {
            (true, _, _) => Type::Int,
            (false, Type::Unknown, _) => Type::Unknown,
            (false, ty, true) => ty.clone(),
            (false, _, false) => Type::Unknown,
        }
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
        if let Some(recorder) = &mut self.recorder {
            let symbol = recorder.vars.get(var.0).copied();
            recorder.reference(&name.span, symbol, true);
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
                if let (Some(id), Some(recorder)) = (found, &mut self.recorder) {
                    let symbol = recorder.labels.get(&id).copied();
                    recorder.reference(&label.span, symbol, false);
                }
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

    /// Checks an expression; `expected` is the type its context needs, if it says one, which an
    /// empty array (and the elements of an array) take. Whether the expression has that type is
    /// for the caller to check ([`Checker::expect`]).
    fn expr(&mut self, expr: &ast::Expr<'s>, expected: Option<&Type>) -> hir::Expr {
        let span = expr.span.clone();
        let constant = |value| hir::Expr::int(value, span.clone());
        // What an error made meaningless: it is reported once, and agrees with every type.
        let unknown = || hir::Expr {
            kind: ExprKind::Const(0),
            span: span.clone(),
            ty: Type::Unknown,
        };
        match &expr.kind {
            ast::ExprKind::Int { text, value } => {
                constant(self.literal(text, *value, false, &span))
            }
            ast::ExprKind::Bool(value) => constant(i64::from(*value)),
            ast::ExprKind::Str { value, .. } => hir::Expr {
                kind: ExprKind::Str(value.as_bytes().to_vec()),
                span,
                ty: Type::Str,
            },
            ast::ExprKind::Array(elements) => self.array(elements, expected, span),
            ast::ExprKind::Index(base, index) => {
                let base = self.expr(base, None);
                self.index(base, index, span)
            }
            ast::ExprKind::Var(name) => match self.lookup(name.text) {
                Some(var) => {
                    if let Some(recorder) = &mut self.recorder {
                        let symbol = recorder.vars.get(var.0).copied();
                        recorder.reference(&name.span, symbol, false);
                    }
                    let ty = match self.vars.get_mut(var.0) {
                        Some(info) => {
                            info.read = true;
                            info.ty.clone()
                        }
                        None => Type::Unknown,
                    };
                    hir::Expr {
                        kind: ExprKind::Var(var),
                        span,
                        ty,
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
                    unknown()
                }
            },
            ast::ExprKind::Call(call) => match self.call(call, &span, true, expected) {
                Some((Callee::User(call), ty)) => hir::Expr {
                    kind: ExprKind::Call(call),
                    span,
                    ty,
                },
                Some((Callee::Builtin(builtin, args), ty)) => hir::Expr {
                    kind: ExprKind::Builtin(builtin, args),
                    span,
                    ty,
                },
                None => unknown(),
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
                let operand = self.expr(operand, Some(&Type::Int));
                if !Type::Int.agrees(&operand.ty) {
                    self.errors.push(LangError::NoOperator {
                        span: span.clone(),
                        op: op.symbol(),
                        ty: operand.ty.to_string(),
                        binary: false,
                        operand: operand.span.clone(),
                    });
                    return unknown();
                }
                let folded = operand.as_const().map(|value| match op {
                    UnaryOp::Neg => ops::neg(value),
                    UnaryOp::Not => Ok(ops::not(value)),
                });
                let ty = operand.ty.clone();
                let unfolded = |operand| hir::Expr {
                    kind: ExprKind::Unary(*op, Box::new(operand)),
                    span: span.clone(),
                    ty,
                };
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
                        unfolded(operand)
                    }
                    None => unfolded(operand),
                }
            }
            // A chain is checked and folded from the left, one operation at a time: its length
            // costs no depth.
            ast::ExprKind::Binary(first, rest) => {
                let mut value = self.expr(first, None);
                for operation in rest {
                    let lhs = value.ty.clone();
                    let rhs = self.expr(&operation.rhs, Some(&lhs));
                    let ty = self.operation_type(operation.op, &value, &rhs, &operation.span);
                    value = match self.fold(operation.op, &value, &rhs, &operation.span) {
                        Some(folded) => hir::Expr::int(folded, operation.span.clone()),
                        None => value.then(operation.op, rhs, operation.span.clone(), ty),
                    };
                }
                value.with_span(span)
            }
            ast::ExprKind::Error => unknown(),
        }
    }

    /// An array literal: its elements have the type the context expects, or else the first
    /// one's; `[]` needs the context to say.
    fn array(
        &mut self,
        elements: &[ast::Expr<'s>],
        expected: Option<&Type>,
        span: Span,
    ) -> hir::Expr {
        // The element type, and the first element if that is what says it.
        let mut element: Option<(Type, Option<Span>)> = expected
            .map(|ty| ty.element().unwrap_or(&Type::Unknown).clone())
            .map(|ty| (ty, None));
        let mut out = Vec::with_capacity(elements.len());
        for value in elements {
            let value = self.expr(value, element.as_ref().map(|(ty, _)| ty));
            match &element {
                Some((ty, first)) => {
                    let because = first
                        .clone()
                        .map(|first| (first, format!("the first element is `{ty}`")));
                    let ty = ty.clone();
                    self.expect(&value, &ty, because, None);
                }
                None => element = Some((value.ty.clone(), Some(value.span.clone()))),
            }
            out.push(value);
        }
        let element = match element {
            Some((ty, _)) => ty,
            None => {
                self.errors.push(LangError::CannotInfer {
                    span: span.clone(),
                    what: String::from("the empty array"),
                    help: String::from(
                        "say what it holds with a type where it is declared: `var xs: [int] = [];`",
                    ),
                });
                Type::Unknown
            }
        };
        hir::Expr {
            kind: ExprKind::Array(out),
            span,
            ty: Type::Array(Box::new(element)),
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
        let StmtKind::Print(values) = &stmt.kind else {
            panic!("{stmt:?}");
        };
        let [value] = values.as_slice() else {
            panic!("{values:?}");
        };
        // `2 * 3` folds; the call and what it is part of stay.
        let ExprKind::Binary(first, rest) = &value.kind else {
            panic!("{value:?}");
        };
        assert!(matches!(first.kind, ExprKind::Call(_)), "{first:?}");
        assert_eq!(rest.len(), 2);
        assert_eq!(rest[1].rhs.as_const(), Some(6));
    }

    #[test]
    fn types_are_inferred_from_initialisers_and_contexts() {
        let source = "var s = \"a\";\nvar m = [[1], []];\nvar w: [[str]] = [[]];\nvar e = array(2, m[0]);\nvar b = s[0] + len(m) + len(w[0]) + e[1][0];\nprint(b);";
        assert_eq!(codes(source), [] as [&str; 0]);
        let (stmts, _) = syntax::parse(source);
        let program = check(&stmts).0;
        let types: Vec<String> = program.vars.iter().map(|var| var.ty.to_string()).collect();
        assert_eq!(types, ["str", "[[int]]", "[[str]]", "[[int]]", "int"]);
    }

    #[test]
    fn one_mistake_is_reported_once() {
        // An unknown name, type or function has no type to mismatch with what follows.
        assert_eq!(codes("var x = y + \"a\";\nprint(x - 1, x[0]);"), ["E0005"]);
        assert_eq!(
            codes("var xs: [foo] = [1];\nprint(xs[0] + \"a\");"),
            ["E0026"]
        );
        assert_eq!(codes("print(g(1) + 2, [g(2)]);"), ["E0016", "E0016"]);
        // A string and an int in one chain: the first wrong operand only.
        assert_eq!(codes("print(\"a\" + 1 + 2);"), ["E0028"]);
    }

    #[test]
    fn operators_by_type() {
        for ok in [
            "\"a\" + \"b\"",
            "\"a\" < \"b\"",
            "\"a\" == \"a\" && 1",
            "len([1]) * 2",
        ] {
            assert_eq!(codes(&format!("print({ok});")), [] as [&str; 0], "{ok}");
        }
        for bad in [
            "[1] == [1]",
            "\"a\" * 2",
            "!\"a\"",
            "[1] + [2]",
            "\"a\" || 1",
        ] {
            assert_eq!(codes(&format!("print({bad});")), ["E0031"], "{bad}");
        }
        assert_eq!(codes("var xs = [1];\nxs += [2];\nprint(xs);"), ["E0031"]);
        assert_eq!(codes("var s = \"a\";\ns++;\nprint(s);"), ["E0031"]);
        assert_eq!(
            codes("var s = \"a\";\ns += \"b\";\nprint(s);"),
            [] as [&str; 0]
        );
    }
}
