//! The requests about names, answered from the checker's [`Analysis`]: hover, definition,
//! references, highlights, renaming, the outline and completion.

use super::document::Document;
use crate::diag::Span;
use crate::mova::analysis::{Analysis, Symbol, SymbolKind};
use crate::mova::hir::Builtin;
use crate::mova::syntax::KEYWORDS;
use crate::mova::syntax::lexer::{Token, lex};
use lsp_types::{
    CompletionItem, CompletionItemKind, DocumentHighlight, DocumentHighlightKind, DocumentSymbol,
    Hover, HoverContents, Location, MarkupContent, MarkupKind, PrepareRenameResponse, TextEdit,
    WorkspaceEdit,
};
use std::collections::HashMap;

/// What a hover shows for the name at `offset`: a variable's or parameter's type, a function's
/// signature.
pub fn hover(document: &Document, offset: usize) -> Option<Hover> {
    let analysis = &document.analysis;
    let (text, span) = match analysis.symbol_at(offset) {
        Some((index, span)) => {
            let symbol = analysis.symbols.get(index)?;
            (describe(analysis, symbol), span)
        }
        None => {
            let (builtin, span) = analysis.builtin_at(offset)?;
            (
                format!("```mova\n{}\n```\nbuiltin function", builtin.signature()),
                span,
            )
        }
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: text,
        }),
        range: Some(document.range(&span)),
    })
}

/// A declaration as Markdown: its code, and what it is.
fn describe(analysis: &Analysis, symbol: &Symbol) -> String {
    let ty = symbol
        .ty
        .as_ref()
        .map_or_else(|| String::from("_"), ToString::to_string);
    let owner = symbol
        .container
        .and_then(|index| analysis.symbols.get(index))
        .filter(|container| container.kind == SymbolKind::Function)
        .map(|function| format!(" of `{}`", function.name))
        .unwrap_or_default();
    let (code, what) = match symbol.kind {
        SymbolKind::Variable => (format!("var {}: {ty}", symbol.name), "variable"),
        SymbolKind::Parameter => (format!("{}: {ty}", symbol.name), "parameter"),
        SymbolKind::Function => (
            symbol
                .signature
                .clone()
                .unwrap_or_else(|| format!("fn {}", symbol.name)),
            "function",
        ),
        SymbolKind::Label => (format!("{}: loop", symbol.name), "label"),
    };
    format!("```mova\n{code}\n```\n{what}{owner}")
}

/// Where the name at `offset` is declared.
pub fn definition(document: &Document, offset: usize) -> Option<Location> {
    let (index, _) = document.analysis.symbol_at(offset)?;
    let symbol = document.analysis.symbols.get(index)?;
    Some(document.location(&symbol.span))
}

/// Every use of the name at `offset`, and its declaration if asked, in source order.
pub fn references(document: &Document, offset: usize, declaration: bool) -> Vec<Location> {
    let Some((index, _)) = document.analysis.symbol_at(offset) else {
        return Vec::new();
    };
    let mut spans: Vec<Span> = document
        .analysis
        .references_to(index)
        .map(|reference| reference.span.clone())
        .collect();
    if declaration && let Some(symbol) = document.analysis.symbols.get(index) {
        spans.push(symbol.span.clone());
    }
    spans.sort_by_key(|span| span.start);
    spans.iter().map(|span| document.location(span)).collect()
}

/// The declaration and uses of the name at `offset`, writes told from reads.
pub fn highlights(document: &Document, offset: usize) -> Vec<DocumentHighlight> {
    let Some((index, _)) = document.analysis.symbol_at(offset) else {
        return Vec::new();
    };
    let analysis = &document.analysis;
    let declaration = analysis.symbols.get(index).map(|symbol| DocumentHighlight {
        range: document.range(&symbol.span),
        kind: Some(DocumentHighlightKind::WRITE),
    });
    declaration
        .into_iter()
        .chain(
            analysis
                .references_to(index)
                .map(|reference| DocumentHighlight {
                    range: document.range(&reference.span),
                    kind: Some(if reference.write {
                        DocumentHighlightKind::WRITE
                    } else {
                        DocumentHighlightKind::READ
                    }),
                }),
        )
        .collect()
}

/// Why nothing can be renamed at a place.
const NOTHING_TO_RENAME: &str =
    "nothing to rename here: put the cursor on a variable, a parameter, a function or a label";

/// The name at `offset` that a rename would change, or why there is none.
pub fn prepare_rename(document: &Document, offset: usize) -> Result<PrepareRenameResponse, String> {
    let analysis = &document.analysis;
    let Some((index, span)) = analysis.symbol_at(offset) else {
        if let Some((builtin, _)) = analysis.builtin_at(offset) {
            return Err(format!(
                "`{}` is a builtin function: it cannot be renamed",
                builtin.name()
            ));
        }
        return Err(NOTHING_TO_RENAME.to_owned());
    };
    let name = analysis
        .symbols
        .get(index)
        .map(|symbol| symbol.name.clone())
        .unwrap_or_default();
    Ok(PrepareRenameResponse::RangeWithPlaceholder {
        range: document.range(&span),
        placeholder: name,
    })
}

/// Whether `name` is a name of the language: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The edits that rename the declaration named at `offset` and all its uses to `new`, or why
/// that is refused: `new` is no name or a keyword, or would mean something else somewhere.
pub fn rename(document: &Document, offset: usize, new: &str) -> Result<WorkspaceEdit, String> {
    let analysis = &document.analysis;
    let Some((index, _)) = analysis.symbol_at(offset) else {
        return Err(prepare_rename(document, offset)
            .err()
            .unwrap_or_else(|| NOTHING_TO_RENAME.to_owned()));
    };
    let Some(symbol) = analysis.symbols.get(index) else {
        return Err(NOTHING_TO_RENAME.to_owned());
    };
    if !is_name(new) {
        return Err(format!(
            "`{new}` is not a name: a name is a letter or `_`, then letters, digits and `_`"
        ));
    }
    if KEYWORDS.contains(&new) {
        return Err(format!("`{new}` is a keyword, not a name"));
    }
    if new != symbol.name
        && let Some(why) = clash(analysis, index, new)
    {
        return Err(format!("cannot rename `{}` to `{new}`: {why}", symbol.name));
    }
    let mut spans: Vec<Span> = analysis
        .references_to(index)
        .map(|reference| reference.span.clone())
        .collect();
    spans.push(symbol.span.clone());
    spans.sort_by_key(|span| span.start);
    let edits = spans
        .iter()
        .map(|span| TextEdit::new(document.range(span), new.to_owned()))
        .collect();
    Ok(WorkspaceEdit::new(HashMap::from([(
        document.uri.clone(),
        edits,
    )])))
}

/// What renaming symbol `index` to `new` would clash with, if anything.
fn clash(analysis: &Analysis, index: usize, new: &str) -> Option<String> {
    let symbol = analysis.symbols.get(index)?;
    let inside = |span: &Span, range: &Span| range.start <= span.start && span.end <= range.end;
    // The places a symbol's name is written: its declaration and its uses.
    let places = |index: usize| {
        let declaration = analysis
            .symbols
            .get(index)
            .map(|symbol| symbol.span.clone());
        declaration
            .into_iter()
            .chain(analysis.references_to(index).map(|r| r.span.clone()))
            .collect::<Vec<Span>>()
    };
    if Builtin::named(new).is_some() {
        return Some(format!("`{new}` is a builtin function"));
    }
    let others = analysis
        .symbols
        .iter()
        .enumerate()
        .filter(|(other, candidate)| *other != index && candidate.name == new);
    for (other, candidate) in others {
        let line = |what: &str| Some(format!("{what} `{new}` is declared already"));
        match (symbol.kind, candidate.kind) {
            (SymbolKind::Function, SymbolKind::Function) => return line("a function"),
            (SymbolKind::Variable | SymbolKind::Parameter, SymbolKind::Function) => {
                return line("a function");
            }
            (
                SymbolKind::Variable | SymbolKind::Parameter,
                SymbolKind::Variable | SymbolKind::Parameter,
            ) if candidate.function == symbol.function => {
                // One scope, or either name visible where the other is written: a use would
                // change which declaration it means.
                // Scopes nest, so of two names visible at one place, the one visible over less
                // is the inner one, which the place would then mean.
                let inner = |a: &Symbol, b: &Symbol| a.visible.end <= b.visible.end;
                let captured = candidate.scope == symbol.scope
                    || (inner(candidate, symbol)
                        && places(index)
                            .iter()
                            .any(|span| inside(span, &candidate.visible)))
                    || (inner(symbol, candidate)
                        && places(other)
                            .iter()
                            .any(|span| inside(span, &symbol.visible)));
                if captured {
                    let what = if candidate.kind == SymbolKind::Parameter {
                        "a parameter"
                    } else {
                        "a variable"
                    };
                    return Some(format!(
                        "{what} `{new}` is visible where `{}` is",
                        symbol.name
                    ));
                }
            }
            (SymbolKind::Label, SymbolKind::Label) if candidate.function == symbol.function => {
                // Nested loops with one label: a `break` would leave another loop.
                let nested =
                    inside(&candidate.decl, &symbol.decl) || inside(&symbol.decl, &candidate.decl);
                if nested {
                    return Some(format!(
                        "a loop labelled `{new}` encloses or is enclosed by it"
                    ));
                }
            }
            (SymbolKind::Function, SymbolKind::Variable | SymbolKind::Parameter)
            | (SymbolKind::Variable | SymbolKind::Parameter | SymbolKind::Function, _)
            | (SymbolKind::Label, _) => {}
        }
    }
    None
}

/// The outline: functions with their parameters and locals, labelled loops with what they
/// declare, and the main program's variables.
pub fn document_symbols(document: &Document) -> Vec<DocumentSymbol> {
    let analysis = &document.analysis;
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); analysis.symbols.len()];
    let mut roots = Vec::new();
    for (index, symbol) in analysis.symbols.iter().enumerate() {
        match symbol.container.and_then(|parent| children.get_mut(parent)) {
            Some(siblings) => siblings.push(index),
            None => roots.push(index),
        }
    }
    // Containers come before what they hold, so the tree is built from the last symbol back.
    let mut built: Vec<Option<DocumentSymbol>> = vec![None; analysis.symbols.len()];
    for (index, symbol) in analysis.symbols.iter().enumerate().rev() {
        let mut nested: Vec<DocumentSymbol> = children
            .get(index)
            .map(|list| {
                list.iter()
                    .filter_map(|&child| built.get_mut(child).and_then(Option::take))
                    .collect()
            })
            .unwrap_or_default();
        nested.sort_by_key(|child| (child.range.start.line, child.range.start.character));
        let detail = match symbol.kind {
            SymbolKind::Function => symbol.signature.clone(),
            SymbolKind::Variable | SymbolKind::Parameter => {
                symbol.ty.as_ref().map(ToString::to_string)
            }
            SymbolKind::Label => Some(String::from("loop")),
        };
        let kind = match symbol.kind {
            SymbolKind::Function => lsp_types::SymbolKind::FUNCTION,
            SymbolKind::Variable | SymbolKind::Parameter => lsp_types::SymbolKind::VARIABLE,
            SymbolKind::Label => lsp_types::SymbolKind::KEY,
        };
        // The declaration holds the name, as the protocol requires.
        let decl = symbol.decl.start.min(symbol.span.start)..symbol.decl.end.max(symbol.span.end);
        #[allow(deprecated)]
        let outline = DocumentSymbol {
            name: symbol.name.clone(),
            detail,
            kind,
            tags: None,
            deprecated: None,
            range: document.range(&decl),
            selection_range: document.range(&symbol.span),
            children: (!nested.is_empty()).then_some(nested),
        };
        if let Some(slot) = built.get_mut(index) {
            *slot = Some(outline);
        }
    }
    let mut out: Vec<DocumentSymbol> = roots
        .iter()
        .filter_map(|&root| built.get_mut(root).and_then(Option::take))
        .collect();
    out.sort_by_key(|symbol| (symbol.range.start.line, symbol.range.start.character));
    out
}

/// The edit that formats the document as `movac fmt` does (none if it is formatted), or why
/// it is not formatted: a document with syntax errors is left as it is.
pub fn format(document: &Document) -> Result<Vec<TextEdit>, String> {
    let source = document.source();
    let formatted = crate::fmt::format_source(source).map_err(|error| match error {
        crate::fmt::FormatError::Syntax(_) => format!("{error}: it is not formatted"),
        crate::fmt::FormatError::Changed(_) => error.to_string(),
    })?;
    if formatted == source {
        return Ok(Vec::new());
    }
    Ok(vec![TextEdit::new(
        document.range(&(0..source.len())),
        formatted,
    )])
}

/// Whether `offset` is inside a string literal or a comment, where nothing is completed.
fn in_literal_or_comment(source: &str, offset: usize) -> bool {
    let tokens = lex(source);
    let after = tokens.partition_point(|(_, span)| span.end < offset);
    let in_string = tokens.get(after).is_some_and(|(token, span)| {
        matches!(token, Token::Str(_) | Token::UnterminatedStr(_))
            && span.start < offset
            && (offset < span.end || matches!(token, Token::UnterminatedStr(_)))
    });
    if in_string {
        return true;
    }
    // Between tokens: in a comment if a `//` starts before the offset on its line.
    let gap_start = after
        .checked_sub(1)
        .and_then(|before| tokens.get(before))
        .map_or(0, |(_, span)| span.end);
    let gap = source.get(gap_start..offset).unwrap_or_default();
    gap.rsplit('\n')
        .next()
        .is_some_and(|line| line.contains("//"))
}

/// What the cursor is on: a label after `break` or `continue`, a type after the `:` of a
/// declaration or after `->`, or code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Context {
    Label,
    Type,
    Code,
}

fn context(source: &str, offset: usize) -> Context {
    let tokens = lex(source);
    let mut before = tokens.partition_point(|(_, span)| span.end <= offset);
    // A name being written (the cursor in it or at its end) is what is completed.
    if let Some((Token::Ident(_), span)) = tokens.get(before)
        && span.start < offset
    {
        // The cursor is inside it: the tokens before it decide.
    } else if let Some((Token::Ident(_), span)) = before.checked_sub(1).and_then(|i| tokens.get(i))
        && span.end == offset
    {
        before -= 1;
    }
    // The brackets of an array type, `[[`, come between the `:` and the type's name.
    while before > 0 && matches!(tokens.get(before - 1), Some((Token::LBracket, _))) {
        before -= 1;
    }
    let token = |back: usize| {
        before
            .checked_sub(back)
            .and_then(|i| tokens.get(i))
            .map(|(token, _)| *token)
    };
    match (token(3), token(2), token(1)) {
        (_, _, Some(Token::Break | Token::Continue)) => Context::Label,
        (_, _, Some(Token::Arrow)) => Context::Type,
        // `var x: …` and a parameter `(a: …` or `, b: …`; not a label's `name:`.
        (
            Some(Token::Var | Token::LParen | Token::Comma),
            Some(Token::Ident(_)),
            Some(Token::Colon),
        ) => Context::Type,
        _ => Context::Code,
    }
}

/// What may be written at `offset`: the variables and parameters in scope there, the
/// functions, the builtins and the keywords.
pub fn completion(document: &Document, offset: usize) -> Vec<CompletionItem> {
    if in_literal_or_comment(document.source(), offset) {
        return Vec::new();
    }
    let analysis = &document.analysis;
    let item = |label: &str, kind, detail: Option<String>, sort: u8| CompletionItem {
        label: label.to_owned(),
        kind: Some(kind),
        detail,
        sort_text: Some(format!("{sort}{label}")),
        ..CompletionItem::default()
    };
    match context(document.source(), offset) {
        Context::Label => {
            // The labels of the loops around the cursor, innermost first.
            let function = analysis.function_at(offset);
            let mut labels: Vec<&Symbol> = analysis
                .symbols
                .iter()
                .filter(|symbol| {
                    symbol.kind == SymbolKind::Label
                        && symbol.function == function
                        && symbol.visible.start < offset
                        && offset < symbol.visible.end
                })
                .collect();
            labels.sort_by_key(|label| std::cmp::Reverse(label.span.start));
            return labels
                .iter()
                .enumerate()
                .map(|(depth, label)| {
                    let sort = u8::try_from(depth.min(9)).unwrap_or(9);
                    item(
                        &label.name,
                        CompletionItemKind::REFERENCE,
                        Some(String::from("label")),
                        sort,
                    )
                })
                .collect();
        }
        Context::Type => {
            return ["int", "str"]
                .into_iter()
                .map(|ty| {
                    item(
                        ty,
                        CompletionItemKind::TYPE_PARAMETER,
                        Some(String::from("type")),
                        0,
                    )
                })
                .collect();
        }
        Context::Code => {}
    }
    let mut items: Vec<CompletionItem> = analysis
        .locals_at(offset)
        .into_iter()
        .map(|symbol| {
            let ty = symbol
                .ty
                .as_ref()
                .map_or_else(|| String::from("_"), ToString::to_string);
            let detail = if symbol.kind == SymbolKind::Parameter {
                format!("{ty} (parameter)")
            } else {
                ty
            };
            item(&symbol.name, CompletionItemKind::VARIABLE, Some(detail), 0)
        })
        .collect();
    let mut functions: Vec<&Symbol> = analysis
        .symbols
        .iter()
        .filter(|symbol| symbol.kind == SymbolKind::Function)
        .collect();
    functions.sort_by(|a, b| a.name.cmp(&b.name));
    functions.dedup_by(|a, b| a.name == b.name);
    items.extend(functions.into_iter().map(|function| {
        item(
            &function.name,
            CompletionItemKind::FUNCTION,
            function.signature.clone(),
            1,
        )
    }));
    items.extend(Builtin::ALL.into_iter().map(|builtin| {
        item(
            builtin.name(),
            CompletionItemKind::FUNCTION,
            Some(builtin.signature().to_owned()),
            2,
        )
    }));
    items.extend(
        KEYWORDS
            .iter()
            .map(|keyword| item(keyword, CompletionItemKind::KEYWORD, None, 3)),
    );
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn document(text: &str) -> Document {
        Document::new(
            lsp_types::Uri::from_str("file:///t.mova").unwrap(),
            1,
            text.to_owned(),
        )
    }

    fn at(text: &str, needle: &str) -> usize {
        text.find(needle).unwrap()
    }

    #[test]
    fn renaming_refuses_clashes_and_accepts_the_rest() {
        let text = "fn f(a: int) -> int { var b = a; return b; }\n\
                    var x = 1;\nvar y = 2;\n{ var z = x; print(z + x); }\n\
                    outer: { inner: { break outer; } }\nprint(f(x), y, len(\"é\"));\n";
        let doc = document(text);
        let refused = |needle: &str, new: &str| rename(&doc, at(text, needle), new).unwrap_err();
        assert!(refused("x = 1", "y").contains("visible"));
        // `z` would become the `x` that the block reads.
        assert!(refused("z = x", "x").contains("visible"));
        // `y` may become `z`, declared in a block where `y` is not used.
        assert!(rename(&doc, at(text, "y = 2"), "z").is_ok());
        assert!(refused("a: int", "b").contains("visible"));
        assert!(refused("x = 1", "f").contains("a function"));
        assert!(refused("f(a", "len").contains("builtin"));
        assert!(refused("inner", "outer").contains("encloses"));
        assert!(refused("x = 1", "while").contains("keyword"));
        assert!(refused("x = 1", "2x").contains("not a name"));
        assert!(refused("print(z", "q").contains("nothing to rename"));
        assert!(refused("len(", "q").contains("builtin function"));
        // `z` may become `y`: `y` is not used inside its block.
        let edit = rename(&doc, at(text, "z = x"), "y").unwrap();
        let edits = edit.changes.unwrap().into_values().next().unwrap();
        assert_eq!(edits.len(), 2);
        // A variable may take the name of one in another function.
        assert!(rename(&doc, at(text, "b = a"), "x").is_ok());
    }

    #[test]
    fn completion_knows_labels_and_types_by_context() {
        let text = "fn f(a: int, b: [str]) -> int { return a; }\n\
                    outer: {\n    inner: { break in; }\n    continue ;\n}\n\
                    var x: int = f(1, []);\nprint(x);\n";
        let doc = document(text);
        let labels = |offset: usize| -> Vec<String> {
            completion(&doc, offset)
                .into_iter()
                .map(|item| item.label)
                .collect()
        };
        assert_eq!(labels(at(text, "in; }") + 2), ["inner", "outer"]);
        assert_eq!(labels(at(text, "continue ;") + 9), ["outer"]);
        assert_eq!(labels(at(text, "int, b")), ["int", "str"]);
        assert_eq!(labels(at(text, "[str]")), ["int", "str"]);
        assert_eq!(labels(at(text, "str]")), ["int", "str"]);
        // An array literal's bracket is no type's.
        assert!(labels(at(text, "[]);") + 1).contains(&String::from("f")));
        assert_eq!(labels(at(text, "int {")), ["int", "str"]);
        assert_eq!(labels(at(text, "int =") + 1), ["int", "str"]);
        // A label's colon is no type's.
        assert!(labels(at(text, "outer:") + 7).contains(&String::from("while")));
    }
}
