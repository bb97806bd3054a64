//! Code generation: the checked program to VM instructions, each with the source span it came from.
//!
//! Variables live in stack slots, in declaration order: between statements the stack holds exactly
//! the variables in scope, so the innermost variable is on top. The generator uses that wherever
//! it can, which is what makes the seed program compile to the seed's five instructions:
//!
//! - `x++`, `x--`, `x += k`, `x -= k` with a constant `k` on the top variable is `ADD ±k`;
//! - `print(x)` of the top variable is `PRINT` (no copy, no pop);
//! - reading the top variable is `DUP` rather than `LOAD`;
//! - `sleep(k)` with a constant is `SLEEP k`; `e + k` and `e - k` are `ADD ±k`;
//! - conditions compile to jumps (`&&` and `||` short-circuit without materialising 0/1), a
//!   comparison with zero tests the value itself, and a constant condition is no code or an
//!   unconditional jump;
//! - `if c { break; }` and `if c { continue; }` are one conditional jump when no variable needs
//!   dropping;
//! - an unconditional jump backwards is the seed's `GOTO`, forwards `JMP`.
//!
//! Constant sub-expressions were already folded by the checker.

use crate::diag::Span;
use crate::errors::LangError;
use crate::hir::{Expr, ExprKind, LoopId, Program, Stmt, StmtKind, VarId};
use crate::syntax::ast::{BinaryOp, UnaryOp};
use mova_lang::isa::{Instr, STACK_LIMIT};
use mova_lang::ops::BinOp;

/// Generated code: the instructions and, for each, the span of the source it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// The instructions.
    pub code: Vec<Instr>,
    /// `spans[i]` is the source of `code[i]`.
    pub spans: Vec<Span>,
}

/// Generates code for a checked program (one without errors).
pub fn generate(program: &Program) -> Result<Generated, LangError> {
    let mut generator = Generator {
        code: Vec::new(),
        spans: Vec::new(),
        depth: 0,
        slots: vec![None; program.vars],
        loops: Vec::new(),
        labels: Vec::new(),
        fixups: Vec::new(),
        error: None,
    };
    for stmt in &program.body {
        generator.stmt(stmt);
    }
    generator.finish()
}

/// A jump target, bound to an instruction index once known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Label(usize);

/// A jump to emit: the instruction with a zero distance, which `jump` sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Jump(Instr);

impl Jump {
    const ALWAYS: Jump = Jump(Instr::Jmp(0));
    const IF_ZERO: Jump = Jump(Instr::Jz(0));
    const IF_NON_ZERO: Jump = Jump(Instr::Jnz(0));
}

struct LoopContext {
    id: LoopId,
    /// The stack depth outside the loop body, which `break` and `continue` return to.
    depth: usize,
    continue_to: Label,
    break_to: Label,
}

struct Generator {
    code: Vec<Instr>,
    spans: Vec<Span>,
    /// How many values are on the stack at this point of the code.
    depth: usize,
    /// The stack slot of each variable in scope.
    slots: Vec<Option<usize>>,
    loops: Vec<LoopContext>,
    /// Where each label is bound, once it is.
    labels: Vec<Option<usize>>,
    /// Forward jumps to patch: the jump's index, its kind and its label.
    fixups: Vec<(usize, Label, Span)>,
    /// The first limit exceeded, if any.
    error: Option<LangError>,
}

impl Generator {
    fn finish(mut self) -> Result<Generated, LangError> {
        for (at, label, span) in std::mem::take(&mut self.fixups) {
            let target = self
                .labels
                .get(label.0)
                .copied()
                .flatten()
                .unwrap_or(self.code.len());
            let offset = self.relative(at, target, &span);
            if let Some(slot) = self.code.get_mut(at) {
                *slot = slot.with_jump_offset(i64::from(offset)).unwrap_or(*slot);
            }
        }
        match self.error {
            Some(error) => Err(error),
            None => Ok(Generated {
                code: self.code,
                spans: self.spans,
            }),
        }
    }

    fn too_large(&mut self, span: &Span, what: &str) {
        self.error.get_or_insert(LangError::TooLarge {
            span: span.clone(),
            what: what.to_owned(),
        });
    }

    fn relative(&mut self, from: usize, to: usize, span: &Span) -> i32 {
        let offset =
            i64::try_from(to).unwrap_or(i64::MAX) - i64::try_from(from).unwrap_or(i64::MAX);
        i32::try_from(offset).unwrap_or_else(|_| {
            self.too_large(span, "a jump spans more than 2^31 instructions");
            0
        })
    }

    /// Appends an instruction, tracking the stack depth with the opcode's stack effect. An
    /// instruction that would take the stack past what the VM holds is a compile error here, where
    /// it is written, rather than a stack overflow when the program runs.
    fn emit(&mut self, instr: Instr, span: &Span) {
        let effect = instr.opcode().stack_effect();
        // An instruction takes its operands before it pushes its results, as the VM runs it, so
        // its highest point is the depth after both.
        let peak = self.depth.saturating_sub(usize::from(effect.pops)) + usize::from(effect.pushes);
        if peak > STACK_LIMIT {
            self.too_large(
                span,
                &format!(
                    "more than {} values on the stack at once",
                    thousands(STACK_LIMIT)
                ),
            );
        }
        self.depth = peak;
        self.code.push(instr);
        self.spans.push(span.clone());
    }

    fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    fn bind(&mut self, label: Label) {
        if let Some(slot) = self.labels.get_mut(label.0) {
            *slot = Some(self.code.len());
        }
    }

    /// Emits a jump to `label`: backwards (the label is bound) it is final at once, `GOTO` when
    /// unconditional; forwards it is patched when the code is finished.
    fn jump(&mut self, jump: Jump, label: Label, span: &Span) {
        let here = self.code.len();
        match self.labels.get(label.0).copied().flatten() {
            Some(target) if jump == Jump::ALWAYS => {
                let back = u32::try_from(here - target).unwrap_or_else(|_| {
                    self.too_large(span, "a jump spans more than 2^32 instructions");
                    0
                });
                self.emit(Instr::Goto(back), span);
            }
            Some(target) => {
                let offset = self.relative(here, target, span);
                let instr = jump.0.with_jump_offset(i64::from(offset)).unwrap_or(jump.0);
                self.emit(instr, span);
            }
            None => {
                // A placeholder with the right stack effect, patched in `finish`.
                self.emit(jump.0, span);
                self.fixups.push((here, label, span.clone()));
            }
        }
    }

    fn slot(&self, var: VarId) -> usize {
        self.slots.get(var.0).copied().flatten().unwrap_or(0)
    }

    fn slot_operand(&mut self, var: VarId, span: &Span) -> u16 {
        u16::try_from(self.slot(var)).unwrap_or_else(|_| {
            self.too_large(
                span,
                &format!("a stack slot beyond {}", thousands(usize::from(u16::MAX))),
            );
            0
        })
    }

    fn is_top(&self, var: VarId) -> bool {
        self.depth.checked_sub(1) == Some(self.slot(var))
    }

    fn block(&mut self, stmts: &[Stmt], span: &Span) {
        let base = self.depth;
        for stmt in stmts {
            self.stmt(stmt);
        }
        // Drop the block's variables.
        for _ in base..self.depth {
            self.emit(Instr::Pop, span);
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        let span = &stmt.span;
        match &stmt.kind {
            StmtKind::Declare { var, init } => {
                self.expr(init);
                if let Some(slot) = self.slots.get_mut(var.0) {
                    *slot = Some(self.depth.saturating_sub(1));
                }
            }
            StmtKind::Assign { var, op, value } => self.assign(*var, *op, value, span),
            StmtKind::Print(value) => match value.kind {
                ExprKind::Var(var) if self.is_top(var) => self.emit(Instr::Print, span),
                ExprKind::Const(_)
                | ExprKind::Var(_)
                | ExprKind::Unary(..)
                | ExprKind::Binary(..) => {
                    self.expr(value);
                    self.emit(Instr::Print, span);
                    self.emit(Instr::Pop, span);
                }
            },
            StmtKind::Sleep(value) => {
                match value.as_const().and_then(|ms| u32::try_from(ms).ok()) {
                    Some(ms) => self.emit(Instr::Sleep(ms), span),
                    None => {
                        self.expr(value);
                        self.emit(Instr::SleepS, span);
                    }
                }
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                // `if c { break; }` (or `continue`) with nothing to drop is one conditional jump.
                if let ([only], true) = (then.as_slice(), otherwise.is_empty())
                    && let Some(target) = self.direct_jump(only)
                {
                    self.cond(cond, true, target);
                    return;
                }
                let otherwise_label = self.new_label();
                self.cond(cond, false, otherwise_label);
                self.block(then, span);
                if otherwise.is_empty() {
                    self.bind(otherwise_label);
                } else {
                    let end = self.new_label();
                    self.jump(Jump::ALWAYS, end, span);
                    self.bind(otherwise_label);
                    self.block(otherwise, span);
                    self.bind(end);
                }
            }
            // The condition is tested at the bottom, so each iteration takes one conditional jump
            // back rather than a test at the top and a jump back: `JMP cond; body: …; cond: test,
            // jump to body while it holds`.
            StmtKind::While { id, cond, body } => {
                if let Some((k, rest, step_span)) = self.counting_loop(*id, cond, body) {
                    // `while i < k { …; i++; }` with `i` on top: test on entry, then one
                    // instruction that steps and tests, as Lua's FORLOOP does.
                    let body_label = self.new_label();
                    let end = self.new_label();
                    self.jump(Jump(Instr::JgeK(k, 0)), end, span);
                    self.bind(body_label);
                    self.loop_body(*id, rest, end, end, span);
                    self.jump(Jump(Instr::IncJlt(k, 0)), body_label, &step_span);
                    self.bind(end);
                    return;
                }
                let body_label = self.new_label();
                let test = self.new_label();
                let end = self.new_label();
                self.jump(Jump::ALWAYS, test, span);
                self.bind(body_label);
                self.loop_body(*id, body, test, end, span);
                self.bind(test);
                self.cond(cond, true, body_label);
                self.bind(end);
            }
            StmtKind::Loop { id, body } => {
                let top = self.new_label();
                let end = self.new_label();
                self.bind(top);
                self.loop_body(*id, body, top, end, span);
                self.jump(Jump::ALWAYS, top, span);
                self.bind(end);
            }
            StmtKind::Break(id) => self.leave(*id, true, span),
            StmtKind::Continue(id) => self.leave(*id, false, span),
            StmtKind::Halt => self.emit(Instr::Halt, span),
            StmtKind::Block(stmts) => self.block(stmts, span),
        }
    }

    /// Where a `break` or `continue` jumps, if it needs no `POP`s first.
    fn direct_jump(&self, stmt: &Stmt) -> Option<Label> {
        let (id, breaking) = match stmt.kind {
            StmtKind::Break(id) => (id, true),
            StmtKind::Continue(id) => (id, false),
            StmtKind::Declare { .. }
            | StmtKind::Assign { .. }
            | StmtKind::Print(_)
            | StmtKind::Sleep(_)
            | StmtKind::If { .. }
            | StmtKind::While { .. }
            | StmtKind::Loop { .. }
            | StmtKind::Halt
            | StmtKind::Block(_) => return None,
        };
        let context = self.loops.iter().rev().find(|context| context.id == id)?;
        (context.depth == self.depth).then_some(if breaking {
            context.break_to
        } else {
            context.continue_to
        })
    }

    /// `break` (`breaking`) or `continue`: drops the variables of the scopes left, then jumps to
    /// the loop's end or top.
    fn leave(&mut self, id: LoopId, breaking: bool, span: &Span) {
        let Some(context) = self.loops.iter().rev().find(|context| context.id == id) else {
            return;
        };
        let outside = context.depth;
        let target = if breaking {
            context.break_to
        } else {
            context.continue_to
        };
        let depth = self.depth;
        for _ in outside..depth {
            self.emit(Instr::Pop, span);
        }
        self.jump(Jump::ALWAYS, target, span);
        // The code that follows (if any) is unreachable; it is generated as if the jump had not
        // been taken, so the depths of the enclosing blocks stay right.
        self.depth = depth;
    }

    /// Recognises `while i < k { …; i++; }` where `i` is the top variable and no `continue` goes
    /// to the loop's test (a `continue` must skip the `i++`): returns `k`, the body without its
    /// final `i++`, and that statement's span.
    fn counting_loop<'b>(
        &self,
        id: LoopId,
        cond: &Expr,
        body: &'b [Stmt],
    ) -> Option<(i64, &'b [Stmt], Span)> {
        let ExprKind::Binary(BinaryOp::Lt, lhs, rhs) = &cond.kind else {
            return None;
        };
        let (ExprKind::Var(var), Some(k)) = (&lhs.kind, rhs.as_const()) else {
            return None;
        };
        let (last, rest) = body.split_last()?;
        let StmtKind::Assign {
            var: stepped,
            op,
            value,
        } = &last.kind
        else {
            return None;
        };
        // `i++`, `i += 1` and `i = i + 1` alike.
        let step = match op {
            Some(op) => (*op, value),
            None => compound(*stepped, value)?,
        };
        let counting = stepped == var
            && step.0 == BinOp::Add
            && step.1.as_const() == Some(1)
            && self.is_top(*var)
            && !rest.iter().any(|stmt| continues(stmt, id));
        counting.then(|| (k, rest, last.span.clone()))
    }

    fn loop_body(&mut self, id: LoopId, body: &[Stmt], top: Label, end: Label, span: &Span) {
        self.loops.push(LoopContext {
            id,
            depth: self.depth,
            continue_to: top,
            break_to: end,
        });
        self.block(body, span);
        self.loops.pop();
    }

    fn assign(&mut self, var: VarId, op: Option<BinOp>, value: &Expr, span: &Span) {
        // `x = x op e` (and `x = e op x` for `+` and `*`) is the compound `x op= e`.
        if op.is_none()
            && let Some((op, rhs)) = compound(var, value)
        {
            return self.assign(var, Some(op), rhs, span);
        }
        let slot = self.slot_operand(var, span);
        let Some(op) = op else {
            if value.kind == ExprKind::Var(var) {
                return; // `x = x;`
            }
            self.expr(value);
            self.emit(Instr::Store(slot), span);
            return;
        };
        if let Some(instr) = immediate(op, value) {
            if self.is_top(var) {
                self.emit(instr, span);
            } else {
                self.emit(Instr::Load(slot), span);
                self.emit(instr, span);
                self.emit(Instr::Store(slot), span);
            }
            return;
        }
        if self.is_top(var) {
            // The variable is right below the value: the operator updates it in place.
            self.expr(value);
            self.emit(binary_instr(op), span);
        } else if op == BinOp::Add {
            self.expr(value);
            self.emit(Instr::AddTo(slot), span);
        } else {
            self.read(var, span);
            self.expr(value);
            self.emit(binary_instr(op), span);
            self.emit(Instr::Store(slot), span);
        }
    }

    /// The jump for `lhs op rhs` (a comparison of the top variable with a constant, either way
    /// round) taken when its truth is `when`, if it is one.
    fn compare_top(&self, op: BinaryOp, lhs: &Expr, rhs: &Expr, when: bool) -> Option<Jump> {
        let (var, k, op) = match (&lhs.kind, &rhs.kind) {
            (ExprKind::Var(var), ExprKind::Const(k)) => (*var, *k, op.op()?),
            (ExprKind::Const(k), ExprKind::Var(var)) => (*var, *k, mirror(op.op()?)?),
            (_, _) => return None,
        };
        if !self.is_top(var) {
            return None;
        }
        let op = if when { op } else { negate(op)? };
        Some(Jump(match op {
            BinOp::Eq => Instr::JeqK(k, 0),
            BinOp::Ne => Instr::JneK(k, 0),
            BinOp::Lt => Instr::JltK(k, 0),
            BinOp::Le => Instr::JleK(k, 0),
            BinOp::Gt => Instr::JgtK(k, 0),
            BinOp::Ge => Instr::JgeK(k, 0),
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => return None,
        }))
    }

    /// Pushes a copy of a variable.
    fn read(&mut self, var: VarId, span: &Span) {
        if self.is_top(var) {
            self.emit(Instr::Dup, span);
        } else {
            let slot = self.slot_operand(var, span);
            self.emit(Instr::Load(slot), span);
        }
    }

    /// Generates `expr`, leaving exactly one value on the stack.
    fn expr(&mut self, expr: &Expr) {
        let span = &expr.span;
        match &expr.kind {
            ExprKind::Const(value) => self.emit(Instr::Put(*value), span),
            ExprKind::Var(var) => self.read(*var, span),
            ExprKind::Unary(op, operand) => {
                self.expr(operand);
                let instr = match op {
                    UnaryOp::Neg => Instr::Neg,
                    UnaryOp::Not => Instr::Not,
                };
                self.emit(instr, span);
            }
            ExprKind::Binary(op, lhs, rhs) => match op.op() {
                Some(op) => {
                    // A constant on the left of a commutative operator goes right, where the
                    // immediate forms take it.
                    // So does a variable, for the forms that read a slot.
                    let commutative = matches!(op, BinOp::Add | BinOp::Mul);
                    let is_var = |e: &Expr| matches!(e.kind, ExprKind::Var(_));
                    let (lhs, rhs) = match (lhs.as_const(), rhs.as_const()) {
                        (Some(_), None) if commutative => (rhs, lhs),
                        (None, None) if commutative && is_var(lhs) && !is_var(rhs) => (rhs, lhs),
                        (_, _) => (lhs, rhs),
                    };
                    self.expr(lhs);
                    match (immediate(op, rhs), &rhs.kind) {
                        (Some(instr), _) => self.emit(instr, span),
                        (None, ExprKind::Var(var)) if slot_form(op, 0).is_some() => {
                            let slot = self.slot_operand(*var, span);
                            if let Some(instr) = slot_form(op, slot) {
                                self.emit(instr, span);
                            }
                        }
                        (None, _) => {
                            self.expr(rhs);
                            self.emit(binary_instr(op), span);
                        }
                    }
                }
                // `&&` and `||`: materialise the condition as 1 or 0.
                None => {
                    let zero = self.new_label();
                    let end = self.new_label();
                    self.cond(expr, false, zero);
                    self.emit(Instr::Put(1), span);
                    self.jump(Jump::ALWAYS, end, span);
                    self.bind(zero);
                    self.depth -= 1;
                    self.emit(Instr::Put(0), span);
                    self.bind(end);
                }
            },
        }
    }

    /// Generates code that jumps to `target` when `expr`'s truth (non-zero) equals `when`, and
    /// falls through otherwise, leaving the stack as it found it.
    fn cond(&mut self, expr: &Expr, when: bool, target: Label) {
        let span = &expr.span;
        match &expr.kind {
            ExprKind::Const(value) => {
                if (*value != 0) == when {
                    self.jump(Jump::ALWAYS, target, span);
                }
            }
            ExprKind::Unary(UnaryOp::Not, operand) => self.cond(operand, !when, target),
            // The top variable compared with a constant: one instruction that leaves it in place.
            ExprKind::Binary(op, lhs, rhs) if self.compare_top(*op, lhs, rhs, when).is_some() => {
                if let Some(jump) = self.compare_top(*op, lhs, rhs, when) {
                    self.jump(jump, target, span);
                }
            }
            // `e == 0` holds when `e` does not, and `e != 0` when it does: test `e` itself.
            ExprKind::Binary(op @ (BinaryOp::Eq | BinaryOp::Ne), lhs, rhs)
                if rhs.as_const() == Some(0) || lhs.as_const() == Some(0) =>
            {
                let operand = if rhs.as_const() == Some(0) { lhs } else { rhs };
                self.cond(operand, when == (*op == BinaryOp::Ne), target);
            }
            // `a && b` is false as soon as `a` is; `a || b` true as soon as `a` is.
            ExprKind::Binary(op @ (BinaryOp::And | BinaryOp::Or), lhs, rhs) => {
                let decides = *op == BinaryOp::Or; // the value of `a` that decides the result
                if when == decides {
                    self.cond(lhs, when, target);
                    self.cond(rhs, when, target);
                } else {
                    let skip = self.new_label();
                    self.cond(lhs, decides, skip);
                    self.cond(rhs, when, target);
                    self.bind(skip);
                }
            }
            ExprKind::Var(_) | ExprKind::Unary(UnaryOp::Neg, _) | ExprKind::Binary(..) => {
                self.expr(expr);
                self.jump(
                    if when {
                        Jump::IF_NON_ZERO
                    } else {
                        Jump::IF_ZERO
                    },
                    target,
                    span,
                );
            }
        }
    }
}

/// `n` with a `,` between groups of three digits, as the docs write limits: `65,535`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether `stmt` contains a `continue` of loop `id`.
fn continues(stmt: &Stmt, id: LoopId) -> bool {
    let any = |stmts: &[Stmt]| stmts.iter().any(|stmt| continues(stmt, id));
    match &stmt.kind {
        StmtKind::Continue(target) => *target == id,
        StmtKind::If {
            then, otherwise, ..
        } => any(then) || any(otherwise),
        StmtKind::While { body, .. } | StmtKind::Loop { body, .. } | StmtKind::Block(body) => {
            any(body)
        }
        StmtKind::Declare { .. }
        | StmtKind::Assign { .. }
        | StmtKind::Print(_)
        | StmtKind::Sleep(_)
        | StmtKind::Break(_)
        | StmtKind::Halt => false,
    }
}

/// `value` as `var op rhs`, if it reads `var` once as its operand in a way a compound assignment
/// can express: `var op rhs`, or `rhs op var` for the commutative `+` and `*`.
fn compound(var: VarId, value: &Expr) -> Option<(BinOp, &Expr)> {
    let ExprKind::Binary(op, lhs, rhs) = &value.kind else {
        return None;
    };
    let op = op.op()?;
    let is_var = |e: &Expr| e.kind == ExprKind::Var(var);
    if is_var(lhs) && !mentions(rhs, var) {
        return Some((op, rhs));
    }
    if matches!(op, BinOp::Add | BinOp::Mul) && is_var(rhs) && !mentions(lhs, var) {
        return Some((op, lhs));
    }
    None
}

/// Whether `expr` reads `var`.
fn mentions(expr: &Expr, var: VarId) -> bool {
    match &expr.kind {
        ExprKind::Const(_) => false,
        ExprKind::Var(other) => *other == var,
        ExprKind::Unary(_, operand) => mentions(operand, var),
        ExprKind::Binary(_, lhs, rhs) => mentions(lhs, var) || mentions(rhs, var),
    }
}

/// The one instruction that computes `x op value` in place for a constant `value`, if there is
/// one: `ADD ±k`, `MULK k`, `DIVK k`, `MODK k`.
fn immediate(op: BinOp, value: &Expr) -> Option<Instr> {
    let k = value.as_const()?;
    match op {
        BinOp::Add => Some(Instr::Add(k)),
        BinOp::Sub => k.checked_neg().map(Instr::Add),
        BinOp::Mul => Some(Instr::MulK(k)),
        BinOp::Div => Some(Instr::DivK(k)),
        BinOp::Rem => Some(Instr::ModK(k)),
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => None,
    }
}

/// The instruction that applies `op` to the top and the value in `slot`, if there is one.
fn slot_form(op: BinOp, slot: u16) -> Option<Instr> {
    match op {
        BinOp::Add => Some(Instr::AddL(slot)),
        BinOp::Sub => Some(Instr::SubL(slot)),
        BinOp::Mul => Some(Instr::MulL(slot)),
        BinOp::Div
        | BinOp::Rem
        | BinOp::Eq
        | BinOp::Ne
        | BinOp::Lt
        | BinOp::Le
        | BinOp::Gt
        | BinOp::Ge => None,
    }
}

/// The comparison with its operands swapped: `k < x` is `x > k`.
fn mirror(op: BinOp) -> Option<BinOp> {
    Some(match op {
        BinOp::Eq => BinOp::Eq,
        BinOp::Ne => BinOp::Ne,
        BinOp::Lt => BinOp::Gt,
        BinOp::Le => BinOp::Ge,
        BinOp::Gt => BinOp::Lt,
        BinOp::Ge => BinOp::Le,
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => return None,
    })
}

/// The comparison that holds exactly when `op` does not.
fn negate(op: BinOp) -> Option<BinOp> {
    Some(match op {
        BinOp::Eq => BinOp::Ne,
        BinOp::Ne => BinOp::Eq,
        BinOp::Lt => BinOp::Ge,
        BinOp::Le => BinOp::Gt,
        BinOp::Gt => BinOp::Le,
        BinOp::Ge => BinOp::Lt,
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => return None,
    })
}

/// The instruction that applies a binary operation to the top two values.
fn binary_instr(op: BinOp) -> Instr {
    match op {
        BinOp::Add => Instr::AddS,
        BinOp::Sub => Instr::Sub,
        BinOp::Mul => Instr::Mul,
        BinOp::Div => Instr::Div,
        BinOp::Rem => Instr::Mod,
        BinOp::Eq => Instr::Eq,
        BinOp::Ne => Instr::Ne,
        BinOp::Lt => Instr::Lt,
        BinOp::Le => Instr::Le,
        BinOp::Gt => Instr::Gt,
        BinOp::Ge => Instr::Ge,
    }
}
