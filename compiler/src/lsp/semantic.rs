//! Semantic tokens: every token of a document classified from the lexer (keywords, numbers,
//! strings, operators, comments) and the checker (which name is a function, a variable, a
//! parameter, a label or a type).

use super::document::Document;
use crate::mova::analysis::SymbolKind;
use crate::mova::syntax::lexer::{Token, lex};
use lsp_types::{
    SemanticToken, SemanticTokenModifier, SemanticTokenType, SemanticTokens, SemanticTokensLegend,
};

/// The token types, in the legend's order (a token's type is its index here).
const TYPES: [SemanticTokenType; 10] = [
    SemanticTokenType::KEYWORD,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::PARAMETER,
    SemanticTokenType::NUMBER,
    SemanticTokenType::STRING,
    SemanticTokenType::COMMENT,
    SemanticTokenType::OPERATOR,
    SemanticTokenType::TYPE,
    // Not one of the protocol's predefined types: clients that do not know it fall back on
    // the grammar's colouring.
    SemanticTokenType::new("label"),
];

const KEYWORD: u32 = 0;
const FUNCTION: u32 = 1;
const VARIABLE: u32 = 2;
const PARAMETER: u32 = 3;
const NUMBER: u32 = 4;
const STRING: u32 = 5;
const COMMENT: u32 = 6;
const OPERATOR: u32 = 7;
const TYPE: u32 = 8;
const LABEL: u32 = 9;

/// The modifiers, in the legend's order (bit `i` is modifier `i`).
const MODIFIERS: [SemanticTokenModifier; 2] = [
    SemanticTokenModifier::DECLARATION,
    SemanticTokenModifier::DEFAULT_LIBRARY,
];

const DECLARATION: u32 = 1;
const DEFAULT_LIBRARY: u32 = 2;

/// The legend the server declares.
pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TYPES.to_vec(),
        token_modifiers: MODIFIERS.to_vec(),
    }
}

/// What a token of the lexer is, if it is highlighted by its kind alone.
fn lexical(token: &Token<'_>) -> Option<u32> {
    Some(match token {
        Token::Var
        | Token::Print
        | Token::Sleep
        | Token::If
        | Token::Else
        | Token::While
        | Token::Loop
        | Token::Break
        | Token::Continue
        | Token::Halt
        | Token::True
        | Token::False
        | Token::Fn
        | Token::Return => KEYWORD,
        Token::Int(_) => NUMBER,
        Token::Str(_) | Token::UnterminatedStr(_) => STRING,
        Token::Arrow
        | Token::Assign
        | Token::PlusAssign
        | Token::MinusAssign
        | Token::StarAssign
        | Token::SlashAssign
        | Token::PercentAssign
        | Token::PlusPlus
        | Token::MinusMinus
        | Token::Plus
        | Token::Minus
        | Token::Star
        | Token::Slash
        | Token::Percent
        | Token::Bang
        | Token::EqEq
        | Token::NotEq
        | Token::Lt
        | Token::Le
        | Token::Gt
        | Token::Ge
        | Token::AndAnd
        | Token::OrOr => OPERATOR,
        Token::Ident(_)
        | Token::LParen
        | Token::RParen
        | Token::LBracket
        | Token::RBracket
        | Token::LBrace
        | Token::RBrace
        | Token::Indent
        | Token::Dedent
        | Token::Semi
        | Token::Colon
        | Token::Comma
        | Token::Error => return None,
    })
}

/// Encodes classified spans (in order, none spanning lines) as the protocol's relative tokens.
struct Encoder<'a> {
    document: &'a Document,
    line: u32,
    start: u32,
    tokens: Vec<SemanticToken>,
}

impl Encoder<'_> {
    fn push(&mut self, span: std::ops::Range<usize>, token_type: u32, modifiers: u32) {
        let range = self.document.range(&span);
        if range.start.line != range.end.line || range.end.character <= range.start.character {
            return;
        }
        let (line, start) = (range.start.line, range.start.character);
        let delta_start = if line == self.line {
            start - self.start
        } else {
            start
        };
        self.tokens.push(SemanticToken {
            delta_line: line - self.line,
            delta_start,
            length: range.end.character - start,
            token_type,
            token_modifiers_bitset: modifiers,
        });
        (self.line, self.start) = (line, start);
    }
}

/// Every token of the document, classified.
pub fn tokens(document: &Document) -> SemanticTokens {
    let source = document.source();
    let analysis = &document.analysis;
    let kind_of = |kind: SymbolKind| match kind {
        SymbolKind::Variable => VARIABLE,
        SymbolKind::Parameter => PARAMETER,
        SymbolKind::Function => FUNCTION,
        SymbolKind::Label => LABEL,
    };
    // The names the checker resolved, by where they start.
    let mut names: Vec<(usize, u32, u32)> = Vec::new();
    for symbol in &analysis.symbols {
        names.push((symbol.span.start, kind_of(symbol.kind), DECLARATION));
    }
    for reference in &analysis.references {
        if let Some(symbol) = analysis.symbols.get(reference.symbol) {
            names.push((reference.span.start, kind_of(symbol.kind), 0));
        }
    }
    for (span, _) in &analysis.builtins {
        names.push((span.start, FUNCTION, DEFAULT_LIBRARY));
    }
    for span in &analysis.types {
        names.push((span.start, TYPE, 0));
    }
    names.sort_by_key(|&(start, ..)| start);
    let name_at = |start: usize| {
        let at = names.partition_point(|&(other, ..)| other < start);
        names
            .get(at)
            .filter(|&&(other, ..)| other == start)
            .map(|&(_, kind, modifiers)| (kind, modifiers))
    };
    let mut encoder = Encoder {
        document,
        line: 0,
        start: 0,
        tokens: Vec::new(),
    };
    let mut gap_start = 0;
    for (token, span) in lex(source) {
        comments(&mut encoder, source, gap_start..span.start);
        gap_start = span.end;
        // A name the checker did not resolve (an error, or code it does not check) is shown
        // as a variable.
        let class = if matches!(token, Token::Ident(_)) {
            Some(name_at(span.start).unwrap_or((VARIABLE, 0)))
        } else {
            lexical(&token).map(|kind| (kind, 0))
        };
        if let Some((kind, modifiers)) = class {
            encoder.push(span, kind, modifiers);
        }
    }
    comments(&mut encoder, source, gap_start..source.len());
    SemanticTokens {
        result_id: None,
        data: encoder.tokens,
    }
}

/// The `//` comments in a gap between tokens (which holds only whitespace and comments).
fn comments(encoder: &mut Encoder<'_>, source: &str, gap: std::ops::Range<usize>) {
    let Some(text) = source.get(gap.clone()) else {
        return;
    };
    let mut offset = gap.start;
    for line in text.split_inclusive('\n') {
        if let Some(at) = line.find("//") {
            let end = line.trim_end_matches(['\n', '\r']).len();
            encoder.push(offset + at..offset + end, COMMENT, 0);
        }
        offset += line.len();
    }
}
