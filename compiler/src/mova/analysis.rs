//! What the checker resolved, recorded for tools (the language server): every declaration with
//! its kind, type and where its name is visible, and every use of a name with the declaration it
//! refers to. The checker records it only when asked ([`check::check_recording`]), so compiling
//! costs nothing more.
//!
//! [`check::check_recording`]: crate::mova::check::check_recording

use crate::diag::Span;
use crate::mova::hir::{Builtin, FuncId, Type};

/// What a declared name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    /// A variable, declared with `var`.
    Variable,
    /// A function's parameter.
    Parameter,
    /// A declared function.
    Function,
    /// A loop's label.
    Label,
}

/// A declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
    /// The name in its declaration.
    pub span: Span,
    /// The whole declaration: the `var` statement, the parameter with its type, the function
    /// from `fn` to its closing brace, the labelled loop.
    pub decl: Span,
    /// The type of a variable or a parameter.
    pub ty: Option<Type>,
    /// A function's signature as declared: `fn gcd(a: int, b: int) -> int`.
    pub signature: Option<String>,
    /// Where the name can be used: a variable from the end of its declaration to the end of its
    /// block, a parameter over its function's body, a label over its loop's body, a function
    /// everywhere.
    pub visible: Span,
    /// The scope it is declared in (variables and parameters): two declarations in one scope
    /// may not share a name.
    pub scope: usize,
    /// The function it belongs to: the one whose body declares it (the main program's are
    /// [`FuncId::MAIN`]'s), or for a function, itself.
    pub function: FuncId,
    /// The declaration it is nested in, for an outline: the function, or the labelled loop.
    pub container: Option<usize>,
}

/// A use of a declared name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// The name as used.
    pub span: Span,
    /// The declaration, an index in [`Analysis::symbols`].
    pub symbol: usize,
    /// Whether the use writes (an assignment to a variable).
    pub write: bool,
}

/// What the checker resolved in one program.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Every declaration, in the order the checker met them.
    pub symbols: Vec<Symbol>,
    /// Every use of a declared name, in source order.
    pub references: Vec<Reference>,
    /// Every call of a builtin function, by its name's span.
    pub builtins: Vec<(Span, Builtin)>,
    /// Every type name in an annotation (`int`, `str`, or a name that is no type).
    pub types: Vec<Span>,
}

impl Analysis {
    /// Puts references and type names in source order (the checker meets them out of order:
    /// functions' bodies after the main program).
    pub fn finish(&mut self) {
        self.references
            .sort_by_key(|reference| reference.span.start);
        self.builtins.sort_by_key(|(span, _)| span.start);
        self.types.sort_by_key(|span| span.start);
    }

    /// The declaration named at `offset` (a use of it, or its declaration's name), with the
    /// span of the name there. A name's end counts as on it, as a cursor just after it is.
    pub fn symbol_at(&self, offset: usize) -> Option<(usize, Span)> {
        let on = |span: &Span| span.start <= offset && offset <= span.end;
        let after = self
            .references
            .partition_point(|reference| reference.span.end < offset);
        let used = self
            .references
            .get(after..)
            .unwrap_or_default()
            .iter()
            .take_while(|reference| reference.span.start <= offset)
            .find(|reference| on(&reference.span))
            .map(|reference| (reference.symbol, reference.span.clone()));
        used.or_else(|| {
            self.symbols
                .iter()
                .position(|symbol| on(&symbol.span))
                .and_then(|index| Some((index, self.symbols.get(index)?.span.clone())))
        })
    }

    /// The builtin whose name is called at `offset`, with the name's span.
    pub fn builtin_at(&self, offset: usize) -> Option<(Builtin, Span)> {
        self.builtins
            .iter()
            .find(|(span, _)| span.start <= offset && offset <= span.end)
            .map(|(span, builtin)| (*builtin, span.clone()))
    }

    /// The uses of symbol `index`, in source order.
    pub fn references_to(&self, index: usize) -> impl Iterator<Item = &Reference> {
        self.references
            .iter()
            .filter(move |reference| reference.symbol == index)
    }

    /// The function whose body holds `offset`: the main program outside every function.
    pub fn function_at(&self, offset: usize) -> FuncId {
        self.symbols
            .iter()
            .find(|symbol| {
                symbol.kind == SymbolKind::Function
                    && symbol.decl.start < offset
                    && offset < symbol.decl.end
            })
            .map_or(FuncId::MAIN, |symbol| symbol.function)
    }

    /// The variables and parameters visible at `offset`, innermost first, each name once.
    pub fn locals_at(&self, offset: usize) -> Vec<&Symbol> {
        let function = self.function_at(offset);
        let mut visible: Vec<&Symbol> = self
            .symbols
            .iter()
            .filter(|symbol| {
                matches!(symbol.kind, SymbolKind::Variable | SymbolKind::Parameter)
                    && symbol.function == function
                    && symbol.visible.start <= offset
                    && offset <= symbol.visible.end
            })
            .collect();
        // The latest declaration of a name shadows the earlier ones.
        visible.sort_by_key(|symbol| std::cmp::Reverse(symbol.span.start));
        let mut seen = std::collections::HashSet::new();
        visible.retain(|symbol| seen.insert(symbol.name.as_str()));
        visible
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mova::compile::analyze;

    fn at(source: &str, needle: &str, nth: usize) -> usize {
        source.match_indices(needle).nth(nth).unwrap().0
    }

    #[test]
    fn uses_resolve_to_their_declarations_with_types_and_scopes() {
        let source = "fn add(a: int, b: int) -> int { return a + b; }\n\
                      var x = add(1, 2);\n\
                      outer: {\n    var s = \"é\";\n    x = len(s);\n    break outer;\n}\n\
                      print(x);\n";
        let analyzed = analyze(source);
        assert_eq!(analyzed.diagnostics, []);
        let analysis = analyzed.analysis;
        let name = |index: usize| analysis.symbols[index].name.as_str();
        let (a, span) = analysis.symbol_at(at(source, "a + b", 0)).unwrap();
        assert_eq!((name(a), span.len()), ("a", 1));
        assert_eq!(analysis.symbols[a].kind, SymbolKind::Parameter);
        assert_eq!(analysis.symbols[a].ty, Some(Type::Int));
        assert_eq!(analysis.symbols[a].decl.len(), "a: int".len());
        let (add, _) = analysis.symbol_at(at(source, "add(1", 0) + 2).unwrap();
        assert_eq!(
            analysis.symbols[add].signature.as_deref(),
            Some("fn add(a: int, b: int) -> int")
        );
        let (x, _) = analysis.symbol_at(at(source, "x = len", 0)).unwrap();
        let uses: Vec<(usize, bool)> = analysis
            .references_to(x)
            .map(|r| (r.span.start, r.write))
            .collect();
        assert_eq!(
            uses,
            [
                (at(source, "x = len", 0), true),
                (at(source, "x);", 0), false)
            ]
        );
        let (outer, _) = analysis.symbol_at(at(source, "outer;", 0)).unwrap();
        assert_eq!(analysis.symbols[outer].kind, SymbolKind::Label);
        let s = analysis.symbols.iter().position(|s| s.name == "s").unwrap();
        assert_eq!(analysis.symbols[s].container, Some(outer));
        assert_eq!(analysis.symbols[s].ty, Some(Type::Str));
        assert_eq!(
            analysis.builtin_at(at(source, "len", 0)).map(|(b, _)| b),
            Some(Builtin::Len)
        );
        // In scope: `s` inside the labelled block only; `x` everywhere after its declaration
        // in the main program, never inside the function.
        let names = |offset: usize| -> Vec<String> {
            let mut names: Vec<String> = analysis
                .locals_at(offset)
                .iter()
                .map(|s| s.name.clone())
                .collect();
            names.sort();
            names
        };
        assert_eq!(names(at(source, "x = len", 0)), ["s", "x"]);
        assert_eq!(names(at(source, "print(x)", 0)), ["x"]);
        assert_eq!(names(at(source, "return", 0)), ["a", "b"]);
        assert_eq!(analysis.types.len(), 3);
    }

    #[test]
    fn a_program_with_syntax_errors_reports_only_them_and_still_resolves() {
        let source = "var count = 1;\nprint(count +);\nprint(count);\n";
        let analyzed = analyze(source);
        let codes: Vec<&str> = analyzed.diagnostics.iter().map(|d| d.code()).collect();
        assert_eq!(codes, ["E0002"]);
        let (count, _) = analyzed
            .analysis
            .symbol_at(at(source, "count)", 0))
            .unwrap();
        assert_eq!(analyzed.analysis.symbols[count].name, "count");
    }

    #[test]
    fn analyzing_reports_what_compiling_does() {
        for source in [
            "var unused = 1;",
            "print(y);\nbreak;",
            "fn f() -> int { }\nprint(f());",
            "print(1 +);",
        ] {
            let compiled = match crate::mova::compile::compile(source, None) {
                Ok(compiled) => compiled.warnings,
                Err(all) => all,
            };
            assert_eq!(analyze(source).diagnostics, compiled, "{source}");
        }
    }
}
