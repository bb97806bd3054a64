//! The `.mova` front end: [`lexer`] → [`layout`] → [`parser`] → [`ast`]. [`parse`] runs them all
//! and turns what they report into [`LangError`]s.

pub mod ast;
pub mod layout;
pub mod lexer;
pub mod parser;

use crate::diag::{Span, did_you_mean};
use crate::errors::LangError;
use lexer::Token;
use parser::{Expected, SyntaxError};

/// Lists tokens one per line with their byte spans, as `movac --emit tokens` and the token
/// snapshots show them.
pub fn token_listing<T: std::fmt::Debug>(tokens: &[(T, Span)]) -> String {
    let mut out = String::new();
    for (token, span) in tokens {
        out.push_str(&format!("{:>5}..{:<5} {token:?}\n", span.start, span.end));
    }
    out
}

/// The tokens of `source` after layout (with the `Indent`/`Dedent` of indented label bodies).
pub fn tokens(source: &str) -> Vec<(Token<'_>, Span)> {
    layout::layout(source, &lexer::lex(source)).0
}

/// Parses `source` into statements, with every lexical and syntax error found.
pub fn parse(source: &str) -> (Vec<ast::Stmt<'_>>, Vec<LangError>) {
    let tokens = lexer::lex(source);
    let mut errors: Vec<LangError> = tokens
        .iter()
        .filter(|(token, _)| *token == Token::Error)
        .map(|(_, span)| LangError::InvalidCharacter {
            span: span.clone(),
            ch: source
                .get(span.clone())
                .and_then(|s| s.chars().next())
                .unwrap_or('\u{FFFD}'),
        })
        .collect();
    let delimiter_errors = delimiters(&tokens, source.len());
    let unclosed = delimiter_errors
        .iter()
        .any(|error| matches!(error, LangError::Unclosed { .. }));
    let unmatched: Vec<Span> = delimiter_errors
        .iter()
        .filter(|error| matches!(error, LangError::Unmatched { .. }))
        .map(|error| error.span().clone())
        .collect();
    errors.extend(delimiter_errors);

    let (laid_out, layout_errors) = layout::layout(source, &tokens);
    errors.extend(layout_errors);
    let (stmts, syntax_errors) = parser::parse(&laid_out, source.len());
    for error in syntax_errors {
        // These were reported already, more precisely: an invalid character, a closing
        // delimiter with nothing to close, or the end of input inside an unclosed delimiter.
        let invalid = tokens
            .iter()
            .any(|(token, span)| *token == Token::Error && *span == error.span);
        let at_end = unclosed && error.span.start >= source.len();
        if invalid || at_end || unmatched.contains(&error.span) {
            continue;
        }
        errors.push(syntax(error, &laid_out, source));
    }
    errors.sort_by_key(|error| error.span().start);
    (stmts, errors)
}

/// Turns a parser error into a [`LangError`], naming what was expected in the words a reader
/// would use: every binary operator is just "an operator", and a missing `;` before a new line is
/// pointed out as such.
fn syntax(error: SyntaxError, tokens: &[(Token<'_>, Span)], source: &str) -> LangError {
    const OPERATORS: [&str; 13] = [
        "`+`", "`-`", "`*`", "`/`", "`%`", "`==`", "`!=`", "`<`", "`<=`", "`>`", "`>=`", "`&&`",
        "`||`",
    ];
    let mut expected = match error.expected {
        Expected::OneOf(expected) => expected,
        Expected::Message(message) => {
            return LangError::Syntax {
                span: error.span,
                found: error.found,
                expected: vec![message],
                missing_semi: None,
                keyword: None,
            };
        }
    };
    if expected.iter().any(|e| e == "expression") {
        expected.retain(|e| e != "`-`" && e != "`!`");
    }
    if expected.iter().any(|e| OPERATORS.contains(&e.as_str())) {
        expected.retain(|e| !OPERATORS.contains(&e.as_str()));
        expected.push(String::from("an operator"));
    }
    // A `;` is what is missing if the offending token starts a later line than the token before.
    let previous = tokens
        .iter()
        .rfind(|(token, span)| {
            span.end <= error.span.start && !matches!(token, Token::Indent | Token::Dedent)
        })
        .map(|(_, span)| span.clone());
    // A statement that starts with a misspelt keyword (`brek;`) parses as a name.
    let misspelt = previous.as_ref().and_then(|previous| {
        let (token, _) = tokens.iter().find(|(_, span)| span == previous)?;
        let Token::Ident(name) = token else {
            return None;
        };
        did_you_mean(name, KEYWORDS.iter().copied()).filter(|keyword| keyword != name)
    });
    let missing_semi = previous.filter(|previous| {
        let between = source
            .get(previous.end..error.span.start)
            .unwrap_or_default();
        expected.iter().any(|e| e == "`;`")
            && (between.contains('\n') || error.span.start >= source.len())
    });
    LangError::Syntax {
        span: error.span,
        found: error.found,
        expected,
        missing_semi,
        keyword: misspelt.map(str::to_owned),
    }
}

/// The keywords, for suggestions.
const KEYWORDS: [&str; 12] = [
    "var", "print", "sleep", "if", "else", "while", "loop", "break", "continue", "halt", "true",
    "false",
];

/// Checks that `(`/`)` and `{`/`}` balance, reporting each unclosed opener and each closer with
/// nothing to close.
fn delimiters(tokens: &[(Token<'_>, Span)], len: usize) -> Vec<LangError> {
    let mut open: Vec<(Token<'_>, Span)> = Vec::new();
    let mut errors = Vec::new();
    let text = |token: &Token<'_>| if *token == Token::LParen { "(" } else { "{" };
    for (token, span) in tokens {
        if matches!(token, Token::LParen | Token::LBrace) {
            open.push((*token, span.clone()));
            continue;
        }
        let opener = if *token == Token::RParen {
            Token::LParen
        } else if *token == Token::RBrace {
            Token::LBrace
        } else {
            continue;
        };
        match open.iter().rposition(|(token, _)| *token == opener) {
            Some(at) => {
                for (token, span) in open.drain(at..).skip(1) {
                    errors.push(LangError::Unclosed {
                        span,
                        open: text(&token),
                        end: len..len,
                    });
                }
            }
            None => errors.push(LangError::Unmatched {
                span: span.clone(),
                close: if *token == Token::RParen { ")" } else { "}" },
            }),
        }
    }
    errors.extend(open.into_iter().map(|(token, span)| LangError::Unclosed {
        span,
        open: text(&token),
        end: len..len,
    }));
    errors
}
