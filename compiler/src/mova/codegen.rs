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
//!
//! Functions (`docs/language.md`, "Functions"): the main program's code comes first, ending in
//! `HALT` when functions follow it and its end can be reached, then each function's, in their
//! order, which is their number. A function's frame starts with its parameters, slots 0..n (the
//! arguments its caller pushed, left to right), and its variables follow, so every rule above
//! applies inside functions as it does in the main program: depths and slots count from the
//! frame's base. `return e;` is `e` then `RETV` (a bare `RETV` when `e` is the top variable),
//! `return;` and a reachable end of a function without a result `RET`; a call is its arguments
//! then `CALL k`, and a call statement of a function with a result drops it with `POP`. Nothing
//! is ever generated so that control runs off a function's code: where the last instruction
//! falls through, or a jump goes to the end, the function gets its return (main its `HALT`).
//!
//! Strings and arrays (`docs/language.md`, "Types") live on the reference stack, beside the int
//! stack: a variable, parameter or temporary of type `str` or `[T]` has a slot of the reference
//! stack, numbered from the frame's reference base, and everything above holds for both stacks,
//! each with its own depth (`DUP`/`RDUP`, `LOAD`/`RLOAD`, `POP`/`RPOP`, …). A block drops its int
//! variables, then its references. A function's int parameters are its int slots 0.., its
//! others its reference slots 0.., each in order; a call pushes each argument on its stack, left
//! to right, so each stack gets its arguments in order. String literals are the program's string
//! constants (`CONST k`), each text once, numbered in order of first use.
//!
//! Each variable's slot and the instructions at which the slot holds it are recorded, for the
//! debug info section.
//!
//! A chain of operations is read through a [`View`], which can stand for any prefix of it: the
//! left operand of `a + b - c`'s `-` is the first two-thirds of the chain. Chains are walked with
//! loops, so code generation recurses only as deep as the program nests (brackets, blocks,
//! prefix operators), which the parser bounds.

use crate::diag::Span;
use crate::mova::errors::LangError;
use crate::mova::hir::{
    Branch, Builtin, Call, Expr, ExprKind, LoopId, Operation, Program, Stmt, StmtKind, Type, VarId,
};
use crate::mova::syntax::ast::{BinaryOp, UnaryOp};
use mova_lang::debuginfo::{DebugInfo, FunctionName, Local};
use mova_lang::func::{Function, MAX_FUNCTIONS};
use mova_lang::isa::{Flow, Instr, STACK_LIMIT};
use mova_lang::ops::BinOp;
use std::collections::HashMap;

/// Generated code: the instructions and, for each, the span of the source it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// The instructions.
    pub code: Vec<Instr>,
    /// `spans[i]` is the source of `code[i]`.
    pub spans: Vec<Span>,
    /// The function table: functions 1, 2, … (the main program is implicit).
    pub functions: Vec<Function>,
    /// The names of the functions (the main program's is `main`, over `0..0`: the caller
    /// knows the source's length) and each variable's slot and live range.
    pub debug: DebugInfo,
    /// The string constants, which `CONST k` names by index (none for a program without
    /// strings: it needs no strings section).
    pub strings: Vec<Vec<u8>>,
}

/// Generates code for a checked program (one without errors).
pub fn generate(program: &Program) -> Result<Generated, LangError> {
    let mut generator = Generator {
        code: Vec::new(),
        spans: Vec::new(),
        depth: 0,
        rdepth: 0,
        slots: vec![None; program.vars.len()],
        refs: program.vars.iter().map(|var| var.ty.is_ref()).collect(),
        loops: Vec::new(),
        labels: Vec::new(),
        fixups: Vec::new(),
        signatures: program
            .functions
            .iter()
            .map(|function| function.result.as_ref().map(Type::is_ref))
            .collect(),
        function: 0,
        open: Vec::new(),
        live: Vec::new(),
        strings: Vec::new(),
        constants: HashMap::new(),
        error: None,
    };
    if let Some(function) = program.functions.get(MAX_FUNCTIONS) {
        generator.too_large(
            &function.span,
            &format!("more than {} functions", thousands(MAX_FUNCTIONS)),
        );
        return generator.finish(Vec::new(), DebugInfo::default());
    }
    for stmt in &program.body {
        generator.stmt(stmt);
    }
    if !program.functions.is_empty() && generator.reaches_end(0) {
        let span = program.body.last().map_or(0..0, |stmt| stmt.span.clone());
        generator.emit(Instr::Halt, &span);
    }
    generator.close_all();
    let mut names = vec![FunctionName {
        function: 0,
        name: String::from(mova_lang::func::MAIN_NAME),
        span: 0..0,
    }];
    let mut table = Vec::with_capacity(program.functions.len());
    for (number, function) in (1u16..).zip(&program.functions) {
        let entry = generator.code.len();
        generator.function = number;
        generator.depth = 0;
        generator.rdepth = 0;
        for var in &function.params {
            let depth = if generator.is_ref(*var) {
                &mut generator.rdepth
            } else {
                &mut generator.depth
            };
            let slot = *depth;
            *depth += 1;
            if let Some(at) = generator.slots.get_mut(var.0) {
                *at = Some(slot);
            }
            generator.open.push((*var, slot, entry));
        }
        let (int_params, ref_params) = (generator.depth, generator.rdepth);
        if int_params > STACK_LIMIT || ref_params > STACK_LIMIT {
            generator.too_large(
                &function.span,
                &format!("more than {} parameters", thousands(STACK_LIMIT)),
            );
        }
        for stmt in &function.body {
            generator.stmt(stmt);
        }
        if generator.reaches_end(entry) {
            // For a function with a result the checker proved the end unreachable: only a jump
            // that is never taken goes there, and the `RETV` is never run.
            let ret = match &function.result {
                Some(ty) if ty.is_ref() => Instr::RetR,
                Some(_) => Instr::RetV,
                None => Instr::Ret,
            };
            generator.emit(ret, &function.end);
        }
        generator.close_all();
        let result = function.result.as_ref().map(Type::is_ref);
        table.push(Function {
            entry: u32::try_from(entry).unwrap_or(u32::MAX),
            params: u16::try_from(int_params).unwrap_or(u16::MAX),
            results: u8::from(result == Some(false)),
            ref_params: u16::try_from(ref_params).unwrap_or(u16::MAX),
            ref_results: u8::from(result == Some(true)),
        });
        names.push(FunctionName {
            function: number,
            name: function.name.clone(),
            span: offsets(&function.decl),
        });
    }
    let locals = std::mem::take(&mut generator.live)
        .into_iter()
        .filter_map(|(function, slot, var, live)| {
            let variable = program.vars.get(var.0)?;
            Some(Local {
                function,
                slot: u16::try_from(slot).ok()?,
                name: variable.name.clone(),
                live: offsets(&live),
                span: offsets(&variable.span),
                reference: variable.ty.is_ref(),
            })
        })
        .collect();
    generator.finish(
        table,
        DebugInfo {
            functions: names,
            locals,
        },
    )
}

/// A span as the `u32` offsets of the formats (sources and programs are far smaller).
fn offsets(span: &Span) -> std::ops::Range<u32> {
    let at = |offset: usize| u32::try_from(offset).unwrap_or(u32::MAX);
    at(span.start)..at(span.end)
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
    /// The stack depths (ints, references) outside the loop body, which `break` and `continue`
    /// return to.
    depth: usize,
    rdepth: usize,
    continue_to: Label,
    break_to: Label,
}

struct Generator {
    code: Vec<Instr>,
    spans: Vec<Span>,
    /// How many values are on the int stack at this point of the code.
    depth: usize,
    /// How many references are on the reference stack at this point of the code.
    rdepth: usize,
    /// The stack slot of each variable in scope, on its stack.
    slots: Vec<Option<usize>>,
    /// Whether each variable lives on the reference stack.
    refs: Vec<bool>,
    loops: Vec<LoopContext>,
    /// Where each label is bound, once it is.
    labels: Vec<Option<usize>>,
    /// Forward jumps to patch: the jump's index, its label, and the source an error would blame.
    fixups: Vec<(usize, Label, Span)>,
    /// Each function's result: none, an int (`false`) or a reference (`true`):
    /// `signatures[k - 1]` is function `k`'s.
    signatures: Vec<Option<bool>>,
    /// The number of the function being generated (0: the main program).
    function: u16,
    /// The variables in scope: each one's id, slot and the first instruction at which its slot
    /// holds it.
    open: Vec<(VarId, usize, usize)>,
    /// The variables gone out of scope: function, slot, id and the instructions at which the
    /// slot held it.
    live: Vec<(u16, usize, VarId, Span)>,
    /// The string constants, in order of first use.
    strings: Vec<Vec<u8>>,
    /// Each constant's index in `strings`.
    constants: HashMap<Vec<u8>, u32>,
    /// The first limit exceeded, if any.
    error: Option<LangError>,
}

impl Generator {
    /// Whether control can run off the end of the code from `entry` on: its last instruction
    /// falls through (or there is none), or a jump goes to the end.
    fn reaches_end(&self, entry: usize) -> bool {
        let end = self.code.len();
        let falls = match self.code.get(entry..).and_then(<[Instr]>::last) {
            None => true,
            Some(last) => match last.opcode().flow() {
                Flow::Next | Flow::Branch | Flow::Call => true,
                Flow::Jump | Flow::Halt | Flow::Return => false,
            },
        };
        falls
            || self
                .fixups
                .iter()
                .any(|(_, label, _)| self.labels.get(label.0).copied().flatten() == Some(end))
    }

    /// Ends the live range of the variables in scope from `open` on, which the `POP`s about to
    /// be emitted drop from the top down (from an int stack `depth` high, `int_pops` of them),
    /// one per instruction, and then the `RPOP`s (from a reference stack `rdepth` high).
    fn close(&mut self, open: usize, int_pops: usize, depth: usize, rdepth: usize) {
        let pops_at = self.code.len();
        let function = self.function;
        let drained: Vec<(VarId, usize, usize)> =
            self.open.drain(open.min(self.open.len())..).collect();
        for (var, slot, start) in drained {
            // The pop that drops slot `s` is the `(depth - 1 - s)`th; the slot holds the
            // variable until that one has run. References are dropped after the ints.
            let end = if self.is_ref(var) {
                pops_at + int_pops + rdepth.saturating_sub(slot)
            } else {
                pops_at + depth.saturating_sub(slot)
            };
            self.live.push((function, slot, var, start..end.max(start)));
        }
    }

    /// Ends the live range of every variable in scope at the end of the code: the end of the
    /// main program or of a function, which drops them all at once.
    fn close_all(&mut self) {
        let end = self.code.len();
        let function = self.function;
        for (var, slot, start) in self.open.drain(..) {
            self.live.push((function, slot, var, start..end.max(start)));
        }
    }

    fn finish(
        mut self,
        functions: Vec<Function>,
        debug: DebugInfo,
    ) -> Result<Generated, LangError> {
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
                functions,
                debug,
                strings: self.strings,
            }),
        }
    }

    fn too_large(&mut self, span: &Span, what: &str) {
        self.error
            .get_or_insert(LangError::too_large(span.clone(), what));
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
        let rpeak = self.rdepth.saturating_sub(usize::from(effect.ref_pops))
            + usize::from(effect.ref_pushes);
        if peak > STACK_LIMIT {
            self.too_large(
                span,
                &format!(
                    "more than {} values on the stack at once",
                    thousands(STACK_LIMIT)
                ),
            );
        }
        if rpeak > STACK_LIMIT {
            self.too_large(
                span,
                &format!(
                    "more than {} strings and arrays on the reference stack at once",
                    thousands(STACK_LIMIT)
                ),
            );
        }
        self.depth = peak;
        self.rdepth = rpeak;
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

    /// Whether a variable lives on the reference stack.
    fn is_ref(&self, var: VarId) -> bool {
        self.refs.get(var.0).copied().unwrap_or(false)
    }

    /// Whether a variable is the top of its stack.
    fn is_top(&self, var: VarId) -> bool {
        let depth = if self.is_ref(var) {
            self.rdepth
        } else {
            self.depth
        };
        depth.checked_sub(1) == Some(self.slot(var))
    }

    fn block(&mut self, stmts: &[Stmt], span: &Span) {
        let (base, rbase) = (self.depth, self.rdepth);
        let open = self.open.len();
        for stmt in stmts {
            self.stmt(stmt);
        }
        self.close(
            open,
            self.depth.saturating_sub(base),
            self.depth,
            self.rdepth,
        );
        // Drop the block's variables: the ints, then the references.
        self.drop_to(base, rbase, span);
    }

    /// Drops values until the stacks are `depth` and `rdepth` high.
    fn drop_to(&mut self, depth: usize, rdepth: usize, span: &Span) {
        for _ in depth..self.depth {
            self.emit(Instr::Pop, span);
        }
        for _ in rdepth..self.rdepth {
            self.emit(Instr::RPop, span);
        }
    }

    /// The number of string constant `text` (added if it is new), for `CONST`.
    fn constant(&mut self, text: &[u8], span: &Span) -> u32 {
        if let Some(&index) = self.constants.get(text) {
            return index;
        }
        let index = u32::try_from(self.strings.len())
            .ok()
            .filter(|&index| index < mova_lang::heap::MAX_CONSTANTS)
            .unwrap_or_else(|| {
                self.too_large(span, "too many string constants");
                0
            });
        self.strings.push(text.to_vec());
        self.constants.insert(text.to_vec(), index);
        index
    }

    fn stmt(&mut self, stmt: &Stmt) {
        let span = &stmt.span;
        match &stmt.kind {
            StmtKind::Declare { var, init } => {
                self.expr(View::of(init));
                let depth = if init.ty.is_ref() {
                    self.rdepth
                } else {
                    self.depth
                };
                let slot = depth.saturating_sub(1);
                if let Some(at) = self.slots.get_mut(var.0) {
                    *at = Some(slot);
                }
                self.open.push((*var, slot, self.code.len()));
            }
            StmtKind::Assign { var, op, value } => {
                self.assign(*var, *op, View::of(value), span);
            }
            StmtKind::SetElement {
                array,
                index,
                op,
                value,
            } => self.set_element(array, index, *op, value, span),
            StmtKind::Print(values) => self.print(values, span),
            StmtKind::Builtin(builtin, args) => {
                self.builtin(*builtin, args, span);
                // A value is dropped.
                match builtin {
                    Builtin::Push => {}
                    Builtin::Len => self.emit(Instr::Pop, span),
                    Builtin::Str | Builtin::Array => self.emit(Instr::RPop, span),
                    Builtin::Pop => {
                        let int = args.first().is_some_and(|array| int_elements(&array.ty));
                        self.emit(if int { Instr::Pop } else { Instr::RPop }, span);
                    }
                }
            }
            StmtKind::Sleep(value) => {
                match value.as_const().and_then(|ms| u32::try_from(ms).ok()) {
                    Some(ms) => self.emit(Instr::Sleep(ms), span),
                    None => {
                        self.expr(View::of(value));
                        self.emit(Instr::SleepS, span);
                    }
                }
            }
            StmtKind::If {
                branches,
                otherwise,
            } => self.if_chain(branches, otherwise),
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
                self.cond(View::of(cond), true, body_label);
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
            StmtKind::Return(value) => self.ret(value.as_ref(), span),
            StmtKind::Call(call) => self.call(call, span, false),
        }
    }

    /// `if … else if … else …`: each branch that does not hold jumps to the next, and each one
    /// taken jumps to the end. Every branch's code is what an `if` nested in the `else` before
    /// it would get.
    fn if_chain(&mut self, branches: &[Branch], otherwise: &[Stmt]) {
        let end = self.new_label();
        for (i, branch) in branches.iter().enumerate() {
            let span = &branch.span;
            let last = i + 1 == branches.len() && otherwise.is_empty();
            // `if c { break; }` (or `continue`) with nothing to drop is one conditional jump.
            if last
                && let [only] = branch.then.as_slice()
                && let Some(target) = self.direct_jump(only)
            {
                self.cond(View::of(&branch.cond), true, target);
                break;
            }
            let next = self.new_label();
            self.cond(View::of(&branch.cond), false, next);
            self.block(&branch.then, span);
            if !last {
                self.jump(Jump::ALWAYS, end, span);
            }
            self.bind(next);
        }
        if let Some(branch) = branches.last()
            && !otherwise.is_empty()
        {
            self.block(otherwise, &branch.span);
        }
        self.bind(end);
    }

    /// Where a `break` or `continue` jumps, if it needs no `POP`s first.
    fn direct_jump(&self, stmt: &Stmt) -> Option<Label> {
        let (id, breaking) = match stmt.kind {
            StmtKind::Break(id) => (id, true),
            StmtKind::Continue(id) => (id, false),
            StmtKind::Declare { .. }
            | StmtKind::Assign { .. }
            | StmtKind::SetElement { .. }
            | StmtKind::Print(_)
            | StmtKind::Builtin(..)
            | StmtKind::Sleep(_)
            | StmtKind::If { .. }
            | StmtKind::While { .. }
            | StmtKind::Loop { .. }
            | StmtKind::Halt
            | StmtKind::Block(_)
            | StmtKind::Return(_)
            | StmtKind::Call(_) => return None,
        };
        let context = self.loops.iter().rev().find(|context| context.id == id)?;
        (context.depth == self.depth && context.rdepth == self.rdepth).then_some(if breaking {
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
        let (outside, routside) = (context.depth, context.rdepth);
        let target = if breaking {
            context.break_to
        } else {
            context.continue_to
        };
        let (depth, rdepth) = (self.depth, self.rdepth);
        self.drop_to(outside, routside, span);
        self.jump(Jump::ALWAYS, target, span);
        // The code that follows (if any) is unreachable; it is generated as if the jump had not
        // been taken, so the depths of the enclosing blocks stay right.
        self.depth = depth;
        self.rdepth = rdepth;
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
        let (operation, lhs, rhs) = View::of(cond).split()?;
        let (BinaryOp::Lt, Some(var), Some(k)) = (operation.op, lhs.as_var(), rhs.as_const())
        else {
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
            Some(op) => (*op, View::of(value)),
            None => compound(*stepped, View::of(value))?,
        };
        let counting = *stepped == var
            && step.0 == BinOp::Add
            && step.1.as_const() == Some(1)
            && self.is_top(var)
            && !rest.iter().any(|stmt| continues(stmt, id));
        counting.then(|| (k, rest, last.span.clone()))
    }

    fn loop_body(&mut self, id: LoopId, body: &[Stmt], top: Label, end: Label, span: &Span) {
        self.loops.push(LoopContext {
            id,
            depth: self.depth,
            rdepth: self.rdepth,
            continue_to: top,
            break_to: end,
        });
        self.block(body, span);
        self.loops.pop();
    }

    fn assign(&mut self, var: VarId, op: Option<BinOp>, value: View<'_>, span: &Span) {
        if self.is_ref(var) {
            return self.assign_ref(var, op, value, span);
        }
        // `x = x op e` (and `x = e op x` for `+` and `*`) is the compound `x op= e`.
        if op.is_none()
            && let Some((op, rhs)) = compound(var, value)
        {
            return self.assign(var, Some(op), rhs, span);
        }
        let slot = self.slot_operand(var, span);
        let Some(op) = op else {
            if value.as_var() == Some(var) {
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

    /// An assignment to a string or array variable: `s = e` stores `e`; `s += e` (strings only)
    /// concatenates, in place when `s` is the top reference.
    fn assign_ref(&mut self, var: VarId, op: Option<BinOp>, value: View<'_>, span: &Span) {
        let slot = self.slot_operand(var, span);
        match op {
            None if value.as_var() == Some(var) => {} // `s = s;`
            None => {
                self.expr(value);
                self.emit(Instr::RStore(slot), span);
            }
            Some(op) if self.is_top(var) => {
                self.apply_ref(op, value, span);
            }
            Some(op) => {
                self.emit(Instr::RLoad(slot), span);
                self.apply_ref(op, value, span);
                self.emit(Instr::RStore(slot), span);
            }
        }
    }

    /// `array[index] = value`, or `array[index] op= value`: the array and the index are computed
    /// once (`RDUP`, `DUP`) when the element is read too.
    fn set_element(
        &mut self,
        array: &Expr,
        index: &Expr,
        op: Option<BinOp>,
        value: &Expr,
        span: &Span,
    ) {
        let int = int_elements(&array.ty);
        self.expr(View::of(array));
        self.expr(View::of(index));
        if let Some(op) = op {
            self.emit(Instr::RDup, span);
            self.emit(Instr::Dup, span);
            if int {
                self.emit(Instr::Get, span);
                self.apply(op, View::of(value), span);
            } else {
                self.emit(Instr::GetR, span);
                self.apply_ref(op, View::of(value), span);
            }
        } else {
            self.expr(View::of(value));
        }
        self.emit(if int { Instr::Set } else { Instr::SetR }, span);
    }

    /// `print(…)`: one int is `PRINT` (and `POP`, unless it is the top variable, which stays);
    /// one string or array is `PRINTR`; several values are made strings and joined with spaces
    /// into one line, which one `PRINTR` prints.
    fn print(&mut self, values: &[Expr], span: &Span) {
        match values {
            [value] if !value.ty.is_ref() => match value.kind {
                ExprKind::Var(var) if self.is_top(var) => self.emit(Instr::Print, span),
                ExprKind::Const(_)
                | ExprKind::Str(_)
                | ExprKind::Array(_)
                | ExprKind::Index(..)
                | ExprKind::Builtin(..)
                | ExprKind::Var(_)
                | ExprKind::Call(_)
                | ExprKind::Unary(..)
                | ExprKind::Binary(..) => {
                    self.expr(View::of(value));
                    self.emit(Instr::Print, span);
                    self.emit(Instr::Pop, span);
                }
            },
            [value] => {
                self.expr(View::of(value));
                self.emit(Instr::PrintR, span);
            }
            [] => {
                let empty = self.constant(b"", span);
                self.emit(Instr::Const(empty), span);
                self.emit(Instr::PrintR, span);
            }
            [first, rest @ ..] => {
                self.text(first);
                let space = self.constant(b" ", span);
                for value in rest {
                    self.emit(Instr::Const(space), span);
                    self.emit(Instr::Concat, span);
                    self.text(value);
                    self.emit(Instr::Concat, span);
                }
                self.emit(Instr::PrintR, span);
            }
        }
    }

    /// Pushes `value` as `print` writes it, as a string: an int in decimal (`TOSTR`), an array
    /// as `SHOW` renders it, a string as it is.
    fn text(&mut self, value: &Expr) {
        self.expr(View::of(value));
        match &value.ty {
            Type::Str => {}
            Type::Array(_) => self.emit(Instr::Show, &value.span),
            Type::Int | Type::Unknown => self.emit(Instr::ToStr, &value.span),
        }
    }

    /// Computes a builtin's value (`push` has none).
    fn builtin(&mut self, builtin: Builtin, args: &[Expr], span: &Span) {
        for arg in args {
            self.expr(View::of(arg));
        }
        let int = args.first().is_some_and(|first| int_elements(&first.ty));
        let instr = match builtin {
            Builtin::Len => Instr::Len,
            Builtin::Str => Instr::ToStr,
            Builtin::Array => {
                let value_int = args.get(1).is_some_and(|value| !value.ty.is_ref());
                if value_int { Instr::Fill } else { Instr::FillR }
            }
            Builtin::Push => {
                self.emit(if int { Instr::Append } else { Instr::AppendR }, span);
                Instr::RPop
            }
            Builtin::Pop => {
                if int {
                    Instr::Remove
                } else {
                    Instr::RemoveR
                }
            }
        };
        self.emit(instr, span);
    }

    /// The jump for `lhs op rhs` (a comparison of the top variable with a constant, either way
    /// round) taken when its truth is `when`, if it is one.
    fn compare_top(&self, op: BinaryOp, lhs: View<'_>, rhs: View<'_>, when: bool) -> Option<Jump> {
        let (var, k, op) = match (lhs.as_var(), rhs.as_const(), lhs.as_const(), rhs.as_var()) {
            (Some(var), Some(k), _, _) => (var, k, op.op()?),
            (_, _, Some(k), Some(var)) => (var, k, mirror(op.op()?)?),
            (_, _, _, _) => return None,
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

    /// A call: its arguments left to right, then `CALL`, which takes them and leaves the
    /// function's result, if it has one. Unless the `value` is used, the result is dropped.
    fn call(&mut self, call: &Call, span: &Span, value: bool) {
        let (below, rbelow) = (self.depth, self.rdepth);
        for arg in &call.args {
            self.expr(View::of(arg));
        }
        let result = call
            .function
            .0
            .checked_sub(1)
            .and_then(|index| self.signatures.get(index))
            .copied()
            .flatten();
        let number = u16::try_from(call.function.0).unwrap_or_else(|_| {
            self.too_large(
                span,
                &format!("more than {} functions", thousands(MAX_FUNCTIONS)),
            );
            0
        });
        self.emit(Instr::Call(number), span);
        // The table's stack effect of `CALL` is no effect: the callee's is the real one.
        self.depth = below + usize::from(result == Some(false));
        self.rdepth = rbelow + usize::from(result == Some(true));
        match (result, value) {
            (Some(false), false) => self.emit(Instr::Pop, span),
            (Some(true), false) => self.emit(Instr::RPop, span),
            (Some(_) | None, _) => {}
        }
    }

    /// `return value;` or `return;`. What follows is unreachable, and generated as if the
    /// return had not been taken, so the depths of the enclosing blocks stay right.
    fn ret(&mut self, value: Option<&Expr>, span: &Span) {
        let (depth, rdepth) = (self.depth, self.rdepth);
        let instr = match value {
            // `RETV` and `RETR` take the top value, so the top variable is returned as it is.
            Some(value) => {
                if !value.as_var().is_some_and(|var| self.is_top(var)) {
                    self.expr(View::of(value));
                }
                if value.ty.is_ref() {
                    Instr::RetR
                } else {
                    Instr::RetV
                }
            }
            None => Instr::Ret,
        };
        self.emit(instr, span);
        self.depth = depth;
        self.rdepth = rdepth;
    }

    /// Pushes a copy of a variable.
    fn read(&mut self, var: VarId, span: &Span) {
        let (top, slot) = (self.is_top(var), self.slot_operand(var, span));
        let instr = match (self.is_ref(var), top) {
            (false, true) => Instr::Dup,
            (false, false) => Instr::Load(slot),
            (true, true) => Instr::RDup,
            (true, false) => Instr::RLoad(slot),
        };
        self.emit(instr, span);
    }

    /// Generates `value`, leaving exactly one value on the stack.
    fn expr(&mut self, value: View<'_>) {
        let Some(bottom) = value.ops.first() else {
            return self.leaf(value.first);
        };
        // The operations above the chain's last `&&` or `||` apply one by one to the 0 or 1 it
        // makes; without one, to the value of the first operation.
        let above = match value
            .ops
            .iter()
            .rposition(|operation| operation.op.op().is_none())
        {
            Some(at) => {
                let (logical, above) = value.ops.split_at(at + 1);
                self.materialise(View {
                    first: value.first,
                    ops: logical,
                });
                above
            }
            None => {
                self.first_operation(value.first, bottom);
                value.ops.get(1..).unwrap_or_default()
            }
        };
        for operation in above {
            if let Some(op) = operation.op.op() {
                self.apply(op, View::of(&operation.rhs), &operation.span);
            }
        }
    }

    /// Generates an expression that is no chain.
    fn leaf(&mut self, expr: &Expr) {
        let span = &expr.span;
        match &expr.kind {
            ExprKind::Const(value) => self.emit(Instr::Put(*value), span),
            ExprKind::Str(text) => {
                let index = self.constant(text, span);
                self.emit(Instr::Const(index), span);
            }
            ExprKind::Array(elements) => {
                let int = int_elements(&expr.ty);
                self.emit(if int { Instr::NewI } else { Instr::NewR }, span);
                for element in elements {
                    self.expr(View::of(element));
                    let append = if int { Instr::Append } else { Instr::AppendR };
                    self.emit(append, &element.span);
                }
            }
            ExprKind::Index(base, index) => {
                self.expr(View::of(base));
                self.expr(View::of(index));
                let get = match &base.ty {
                    Type::Array(element) if element.is_ref() => Instr::GetR,
                    Type::Int | Type::Str | Type::Array(_) | Type::Unknown => Instr::Get,
                };
                self.emit(get, span);
            }
            ExprKind::Builtin(builtin, args) => self.builtin(*builtin, args, span),
            ExprKind::Var(var) => self.read(*var, span),
            ExprKind::Call(call) => self.call(call, span, true),
            ExprKind::Unary(op, operand) => {
                self.expr(View::of(operand));
                let instr = match op {
                    UnaryOp::Neg => Instr::Neg,
                    UnaryOp::Not => Instr::Not,
                };
                self.emit(instr, span);
            }
            ExprKind::Binary(..) => self.expr(View::of(expr)),
        }
    }

    /// Generates `first op rhs`, the bottom of a chain without `&&` or `||`.
    fn first_operation(&mut self, first: &Expr, operation: &Operation) {
        let Some(op) = operation.op.op() else {
            return;
        };
        // Strings: `+` is no commutative operation, and has no immediate forms.
        if first.ty.is_ref() {
            self.expr(View::of(first));
            self.apply_ref(op, View::of(&operation.rhs), &operation.span);
            return;
        }
        // A constant on the left of a commutative operator goes right, where the immediate forms
        // take it. So does a variable, for the forms that read a slot.
        let commutative = matches!(op, BinOp::Add | BinOp::Mul);
        let (lhs, rhs) = (View::of(first), View::of(&operation.rhs));
        let is_var = |view: View<'_>| view.as_var().is_some();
        let (lhs, rhs) = match (lhs.as_const(), rhs.as_const()) {
            (Some(_), None) if commutative => (rhs, lhs),
            (None, None) if commutative && is_var(lhs) && !is_var(rhs) => (rhs, lhs),
            (_, _) => (lhs, rhs),
        };
        self.expr(lhs);
        self.apply(op, rhs, &operation.span);
    }

    /// Applies `op rhs` to the value on top of the stack (of its stack).
    fn apply(&mut self, op: BinOp, rhs: View<'_>, span: &Span) {
        if rhs.ty().is_ref() {
            return self.apply_ref(op, rhs, span);
        }
        match (immediate(op, rhs), rhs.as_var()) {
            (Some(instr), _) => self.emit(instr, span),
            (None, Some(var)) if slot_form(op, 0).is_some() => {
                let slot = self.slot_operand(var, span);
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

    /// Applies `op rhs` to the string on top of the reference stack: `+` concatenates (`CONCAT`),
    /// a comparison compares the bytes (`CMP`, -1, 0 or 1) and then that with 0.
    fn apply_ref(&mut self, op: BinOp, rhs: View<'_>, span: &Span) {
        self.expr(rhs);
        if op == BinOp::Add {
            self.emit(Instr::Concat, span);
        } else {
            self.emit(Instr::Cmp, span);
            self.emit(Instr::Put(0), span);
            self.emit(binary_instr(op), span);
        }
    }

    /// `&&` and `||` as values: the condition materialised as 1 or 0.
    fn materialise(&mut self, value: View<'_>) {
        let span = value.span();
        let zero = self.new_label();
        let end = self.new_label();
        self.cond(value, false, zero);
        self.emit(Instr::Put(1), span);
        self.jump(Jump::ALWAYS, end, span);
        self.bind(zero);
        self.depth -= 1;
        self.emit(Instr::Put(0), span);
        self.bind(end);
    }

    /// Generates code that jumps to `target` when `value`'s truth (non-zero) equals `when`, and
    /// falls through otherwise, leaving the stack as it found it.
    ///
    /// The left operands of `&&`, `||` and comparisons with zero are followed down the chain in a
    /// loop; what remains to do for each right operand waits on a list, innermost last.
    fn cond(&mut self, value: View<'_>, when: bool, target: Label) {
        let (mut value, mut when, mut target) = (value, when, target);
        // The right operands still to test (with their truth and target), and the label to bind
        // after each.
        let mut pending: Vec<(View<'_>, bool, Label, Option<Label>)> = Vec::new();
        loop {
            let span = value.span();
            let Some((operation, lhs, rhs)) = value.split() else {
                match &value.first.kind {
                    ExprKind::Const(constant) => {
                        if (*constant != 0) == when {
                            self.jump(Jump::ALWAYS, target, span);
                        }
                    }
                    ExprKind::Unary(UnaryOp::Not, operand) => {
                        self.cond(View::of(operand), !when, target);
                    }
                    ExprKind::Var(_)
                    | ExprKind::Str(_)
                    | ExprKind::Array(_)
                    | ExprKind::Index(..)
                    | ExprKind::Builtin(..)
                    | ExprKind::Call(_)
                    | ExprKind::Unary(UnaryOp::Neg, _)
                    | ExprKind::Binary(..) => {
                        self.test(value, when, target);
                    }
                }
                break;
            };
            // The top variable compared with a constant: one instruction that leaves it in place.
            if let Some(jump) = self.compare_top(operation.op, lhs, rhs, when) {
                self.jump(jump, target, span);
                break;
            }
            match operation.op {
                // `e == 0` holds when `e` does not, and `e != 0` when it does: test `e` itself.
                op @ (BinaryOp::Eq | BinaryOp::Ne)
                    if rhs.as_const() == Some(0) || lhs.as_const() == Some(0) =>
                {
                    value = if rhs.as_const() == Some(0) { lhs } else { rhs };
                    when = when == (op == BinaryOp::Ne);
                }
                // `a && b` is false as soon as `a` is; `a || b` true as soon as `a` is.
                op @ (BinaryOp::And | BinaryOp::Or) => {
                    let decides = op == BinaryOp::Or; // the value of `a` that decides the result
                    if when == decides {
                        pending.push((rhs, when, target, None));
                    } else {
                        let skip = self.new_label();
                        pending.push((rhs, when, target, Some(skip)));
                        (when, target) = (decides, skip);
                    }
                    value = lhs;
                }
                BinaryOp::Eq
                | BinaryOp::Ne
                | BinaryOp::Lt
                | BinaryOp::Le
                | BinaryOp::Gt
                | BinaryOp::Ge
                | BinaryOp::Add
                | BinaryOp::Sub
                | BinaryOp::Mul
                | BinaryOp::Div
                | BinaryOp::Rem => {
                    self.test(value, when, target);
                    break;
                }
            }
        }
        while let Some((rhs, when, target, skip)) = pending.pop() {
            self.cond(rhs, when, target);
            if let Some(skip) = skip {
                self.bind(skip);
            }
        }
    }

    /// Computes `value` and jumps on it being non-zero (`when`) or zero.
    fn test(&mut self, value: View<'_>, when: bool, target: Label) {
        self.expr(value);
        let jump = if when {
            Jump::IF_NON_ZERO
        } else {
            Jump::IF_ZERO
        };
        self.jump(jump, target, value.span());
    }
}

/// An expression as code generation reads it: `first` and the operations that follow it, which
/// may be only the beginning of a longer chain (the left operand of one of its operations).
#[derive(Clone, Copy, Debug)]
struct View<'a> {
    first: &'a Expr,
    ops: &'a [Operation],
}

impl<'a> View<'a> {
    /// The whole of `expr`.
    fn of(expr: &'a Expr) -> View<'a> {
        match &expr.kind {
            ExprKind::Binary(first, ops) => View { first, ops },
            ExprKind::Const(_)
            | ExprKind::Str(_)
            | ExprKind::Array(_)
            | ExprKind::Index(..)
            | ExprKind::Builtin(..)
            | ExprKind::Var(_)
            | ExprKind::Call(_)
            | ExprKind::Unary(..) => View {
                first: expr,
                ops: &[],
            },
        }
    }

    /// The type of the value.
    fn ty(self) -> &'a Type {
        self.ops.last().map_or(&self.first.ty, |last| &last.ty)
    }

    /// The last operation, its left operand (the chain before it) and its right operand, if this
    /// is an operation.
    fn split(self) -> Option<(&'a Operation, View<'a>, View<'a>)> {
        let (last, before) = self.ops.split_last()?;
        let lhs = if before.is_empty() {
            View::of(self.first)
        } else {
            View {
                first: self.first,
                ops: before,
            }
        };
        Some((last, lhs, View::of(&last.rhs)))
    }

    fn span(self) -> &'a Span {
        self.ops.last().map_or(&self.first.span, |last| &last.span)
    }

    /// The constant this is, if it is one.
    fn as_const(self) -> Option<i64> {
        match (self.ops, &self.first.kind) {
            ([], ExprKind::Const(value)) => Some(*value),
            (_, _) => None,
        }
    }

    /// The variable this reads, if it is just that.
    fn as_var(self) -> Option<VarId> {
        match (self.ops, &self.first.kind) {
            ([], ExprKind::Var(var)) => Some(*var),
            (_, _) => None,
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
            branches,
            otherwise,
        } => branches.iter().any(|branch| any(&branch.then)) || any(otherwise),
        StmtKind::While { body, .. } | StmtKind::Loop { body, .. } | StmtKind::Block(body) => {
            any(body)
        }
        StmtKind::Declare { .. }
        | StmtKind::Assign { .. }
        | StmtKind::SetElement { .. }
        | StmtKind::Print(_)
        | StmtKind::Builtin(..)
        | StmtKind::Sleep(_)
        | StmtKind::Break(_)
        | StmtKind::Halt
        | StmtKind::Return(_)
        | StmtKind::Call(_) => false,
    }
}

/// Whether an array of type `ty` holds ints (`NEWI`, `GET`, `SET`, …) rather than references.
fn int_elements(ty: &Type) -> bool {
    ty.element().is_some_and(|element| !element.is_ref())
}

/// `value` as `var op rhs`, if it reads `var` once as its operand in a way a compound assignment
/// can express: `var op rhs`, or `rhs op var` for the commutative `+` and `*`.
fn compound(var: VarId, value: View<'_>) -> Option<(BinOp, View<'_>)> {
    let (operation, lhs, rhs) = value.split()?;
    let op = operation.op.op()?;
    if lhs.as_var() == Some(var) && !mentions(rhs, var) {
        return Some((op, rhs));
    }
    if matches!(op, BinOp::Add | BinOp::Mul) && rhs.as_var() == Some(var) && !mentions(lhs, var) {
        return Some((op, lhs));
    }
    None
}

/// Whether `value` reads `var`.
fn mentions(value: View<'_>, var: VarId) -> bool {
    let any = |exprs: &[Expr]| exprs.iter().any(|expr| mentions(View::of(expr), var));
    let leaf = match &value.first.kind {
        ExprKind::Const(_) | ExprKind::Str(_) => false,
        ExprKind::Var(other) => *other == var,
        ExprKind::Array(elements) => any(elements),
        ExprKind::Index(base, index) => {
            mentions(View::of(base), var) || mentions(View::of(index), var)
        }
        ExprKind::Builtin(_, args) => any(args),
        ExprKind::Call(call) => any(&call.args),
        ExprKind::Unary(_, operand) => mentions(View::of(operand), var),
        ExprKind::Binary(..) => mentions(View::of(value.first), var),
    };
    leaf || value
        .ops
        .iter()
        .any(|operation| mentions(View::of(&operation.rhs), var))
}

/// The one instruction that computes `x op value` in place for a constant `value`, if there is
/// one: `ADD ±k`, `MULK k`, `DIVK k`, `MODK k`.
fn immediate(op: BinOp, value: View<'_>) -> Option<Instr> {
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
