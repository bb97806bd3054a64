//! The `.mova` front end: [`lexer`] → [`layout`] → [`parser`] → [`ast`]. [`parse`] runs them all
//! and turns what they report into [`LangError`]s.

pub mod ast;
pub mod layout;
pub mod lexer;
pub mod parser;

use crate::diag::{Span, did_you_mean};
use crate::mova::errors::LangError;
use crate::shared::InvalidCharacter;
use chumsky::span::SimpleSpan;
use lexer::Token;
use parser::{EXPRESSION, Expected, Pattern, SEMI, Spanned, SyntaxError};
use std::collections::HashSet;

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

/// Whether `source` stops before its end, so that an interactive session should read another
/// line into it: a `(`, `[` or `{` is still open (and every closer before matched its opener),
/// or an indented label body is open and the last line is not blank (a blank line ends the
/// body, as in Python's REPL). A source with an invalid character or a string that its line
/// ends is complete: no further line can mend it, so it is compiled and reported at once.
pub fn incomplete(source: &str) -> bool {
    let tokens = lexer::lex(source);
    let mut open: Vec<Token<'_>> = Vec::new();
    for (token, _) in &tokens {
        if matches!(token, Token::Error | Token::UnterminatedStr(_)) {
            return false;
        }
        if matches!(token, Token::LParen | Token::LBracket | Token::LBrace) {
            open.push(*token);
            continue;
        }
        let opener = if *token == Token::RParen {
            Token::LParen
        } else if *token == Token::RBracket {
            Token::LBracket
        } else if *token == Token::RBrace {
            Token::LBrace
        } else {
            continue;
        };
        if open.pop() != Some(opener) {
            return false;
        }
    }
    if !open.is_empty() {
        return true;
    }
    let last_line = source.rsplit('\n').next().unwrap_or_default();
    !last_line.trim().is_empty() && layout::open_at_end(source, &tokens) > 0
}

/// The deepest a program may nest: brackets, blocks, indented bodies and prefix operators count
/// one level each, all together (Clang's default `-fbracket-depth`). The parser, the checker and
/// code generation recurse once per level (a chain of operations, a sequence of statements and
/// an `else if` chain cost none), so this bounds their stack whatever the input; a program
/// nested deeper is E0015 rather than a stack overflow.
pub const MAX_NESTING: usize = 256;

/// The stack the front end runs on. The deepest program [`MAX_NESTING`] allows needs about 4 MiB
/// in a debug build (less in a release one); this is many times that, so that neither the
/// caller's thread (a test's has 2 MiB) nor the build decides whether a program compiles. rustc
/// runs on a thread of its own for the same reason. Only the pages used are ever touched.
pub const STACK_SIZE: usize = 64 << 20;

/// Runs `work` on a thread with a [`STACK_SIZE`] stack, or says why it could not.
pub fn on_front_end_stack<T: Send>(work: impl FnOnce() -> T + Send) -> Result<T, String> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name(String::from("mova front end"))
            .stack_size(STACK_SIZE)
            .spawn_scoped(scope, work)
            .map_err(|error| format!("cannot start the compiler's thread: {error}"))?
            .join()
            .map_err(|_| String::from("the compiler's thread stopped"))
    })
}

/// Parses `source` into statements, with every lexical and syntax error found, on a thread of
/// its own with a [`STACK_SIZE`] stack.
pub fn parse(source: &str) -> (Vec<ast::Stmt<'_>>, Vec<LangError>) {
    on_front_end_stack(|| parse_here(source)).unwrap_or_else(|why| {
        let error = LangError::internal(0..0, why);
        (Vec::new(), vec![error])
    })
}

/// [`parse`] on the current thread, whose stack must be as large as [`STACK_SIZE`].
///
/// The lexer's tokens go straight into the layout pass, whose list is the only one: the checks
/// below read it (the `Indent`/`Dedent` it adds are neither invalid characters, strings nor
/// brackets), and so does the parser.
pub(crate) fn parse_here(source: &str) -> (Vec<ast::Stmt<'_>>, Vec<LangError>) {
    let (laid_out, layout_errors, _) = layout::lay_out(source, lexer::tokens(source));
    let span_of = |span: &SimpleSpan| span.into_range();
    let mut errors: Vec<LangError> = laid_out
        .iter()
        .filter(|(token, _)| *token == Token::Error)
        .map(|(_, span)| LangError::InvalidCharacter(InvalidCharacter::at(source, &span_of(span))))
        .collect();
    // String literals: one that its line ends is reported here, and so is every invalid escape.
    for (token, span) in &laid_out {
        let (Token::Str(text) | Token::UnterminatedStr(text)) = token else {
            continue;
        };
        if matches!(token, Token::UnterminatedStr(_)) {
            errors.push(LangError::UnterminatedString {
                span: span_of(span),
            });
        }
        errors.extend(lexer::unescape(text, span.start).1.into_iter().map(|bad| {
            LangError::InvalidEscape {
                span: bad.span,
                reason: bad.reason,
            }
        }));
    }
    let delimiter_errors = delimiters(&laid_out, source.len());
    let unclosed = delimiter_errors
        .iter()
        .any(|error| matches!(error, LangError::Unclosed { .. }));
    let unmatched: HashSet<Span> = delimiter_errors
        .iter()
        .filter(|error| matches!(error, LangError::Unmatched { .. }))
        .map(|error| error.span().clone())
        .collect();
    errors.extend(delimiter_errors);
    errors.extend(layout_errors);
    // Too deep a program is not parsed at all: the parser would recurse as deep.
    if let Some(too_deep) = nesting(&laid_out) {
        errors.push(too_deep);
        errors.sort_by_key(|error| error.span().start);
        return (Vec::new(), errors);
    }
    let (stmts, syntax_errors) = parser::parse(&laid_out, source.len());
    if syntax_errors.is_empty() {
        errors.sort_by_key(|error| error.span().start);
        return (stmts, errors);
    }
    let invalid: HashSet<Span> = laid_out
        .iter()
        .filter(|(token, _)| *token == Token::Error)
        .map(|(_, span)| span_of(span))
        .collect();
    let unterminated: HashSet<Span> = laid_out
        .iter()
        .filter(|(token, _)| matches!(token, Token::UnterminatedStr(_)))
        .map(|(_, span)| span_of(span))
        .collect();
    for error in syntax_errors {
        // These were reported already, more precisely: an invalid character, a closing
        // delimiter with nothing to close, or the end of input inside an unclosed delimiter.
        let at_end = unclosed && error.span.start >= source.len();
        if at_end || invalid.contains(&error.span) || unmatched.contains(&error.span) {
            continue;
        }
        let error = syntax(error, &laid_out, source);
        // A string its line ends took the rest of the line: what is missing after it was in it.
        if let LangError::Syntax {
            missing_semi: Some(previous),
            ..
        } = &error
            && unterminated.contains(previous)
        {
            continue;
        }
        errors.push(error);
    }
    errors.sort_by_key(|error| error.span().start);
    (stmts, errors)
}

/// The first token at which the program nests deeper than [`MAX_NESTING`], as an error.
///
/// A `(`, `[`, `{` or indented body opens a level until it closes; a prefix `-` or `!` opens one
/// until its operand ends, which is after the next name or literal, or after the bracket that
/// follows it closes (a call's argument list, after a function's name). A `-` is a prefix operator unless it follows what can end an operand.
/// Each index after the first of a chain, `a[i][j]…`, nests the expression one level deeper, so
/// it counts one level until the statement ends (at `;` or a brace).
fn nesting(tokens: &[Spanned<'_>]) -> Option<LangError> {
    // For each open bracket, the prefix operators written before it: they close with it.
    let mut open: Vec<usize> = Vec::new();
    // Prefix operators waiting for their operand.
    let mut pending = 0usize;
    let mut level = 0usize;
    // The levels of the index chains in the statement so far.
    let mut chained = 0usize;
    let mut previous: Option<Token<'_>> = None;
    for (i, (token, span)) in tokens.iter().enumerate() {
        if matches!(
            token,
            Token::Semi | Token::LBrace | Token::RBrace | Token::Indent | Token::Dedent
        ) {
            level = level.saturating_sub(chained);
            chained = 0;
        } else if *token == Token::LBracket && previous == Some(Token::RBracket) {
            chained += 1;
            level += 1;
        }
        // A function's name before its arguments does not end the operand: `-f(x)` ends at `)`.
        let callee = matches!(token, Token::Ident(_))
            && matches!(tokens.get(i + 1), Some((Token::LParen, _)));
        let ends_operand = matches!(
            previous,
            Some(
                Token::Int(_)
                    | Token::Str(_)
                    | Token::UnterminatedStr(_)
                    | Token::Ident(_)
                    | Token::True
                    | Token::False
                    | Token::RParen
                    | Token::RBracket
            )
        );
        if matches!(
            token,
            Token::LParen | Token::LBracket | Token::LBrace | Token::Indent
        ) {
            open.push(pending);
            pending = 0;
            level += 1;
        } else if matches!(
            token,
            Token::RParen | Token::RBracket | Token::RBrace | Token::Dedent
        ) {
            let closed = open.pop().map_or(0, |prefixes| prefixes + 1);
            level = level.saturating_sub(closed + pending);
            pending = 0;
        } else if *token == Token::Bang || (*token == Token::Minus && !ends_operand) {
            pending += 1;
            level += 1;
        } else if callee {
            // The prefix operators before it close with its argument list.
        } else {
            // Anything else ends the operand of the prefix operators before it (or is an error
            // the parser reports).
            level = level.saturating_sub(pending);
            pending = 0;
        }
        if level > MAX_NESTING {
            return Some(LangError::TooDeep {
                span: span.into_range(),
                limit: MAX_NESTING,
            });
        }
        previous = Some(*token);
    }
    None
}

/// Turns a parser error into a [`LangError`], naming what was expected in the words a reader
/// would use: every binary operator is just "an operator", and a missing `;` before a new line is
/// pointed out as such.
fn syntax(error: SyntaxError<Token<'_>>, tokens: &[Spanned<'_>], source: &str) -> LangError {
    let found = error.found_text();
    let mut patterns = match error.expected {
        Expected::OneOf(expected) => expected,
        Expected::Message(message) => {
            return LangError::Syntax {
                span: error.span,
                found,
                expected: vec![message],
                missing_semi: None,
                keyword: None,
            };
        }
    };
    // Where an expression would do, its prefix operators `-` and `!` go without saying.
    if patterns.contains(&Pattern::Label(EXPRESSION.to_owned())) {
        patterns.retain(|pattern| !matches!(pattern, Pattern::Token(Token::Minus | Token::Bang)));
    }
    // After a name or an operand, an index `[` could always follow: it goes without saying too.
    if patterns.len() > 1 {
        patterns.retain(|pattern| *pattern != Pattern::Token(Token::LBracket));
    }
    let operator = |pattern: &Pattern<Token<'_>>| match pattern {
        Pattern::Token(token) => token.is_binary_operator(),
        Pattern::Label(_) | Pattern::EndOfInput | Pattern::Other(_) => false,
    };
    let any_operator = patterns.iter().any(operator);
    patterns.retain(|pattern| !operator(pattern));
    let semi_expected = patterns.contains(&Pattern::Label(SEMI.to_owned()));
    let mut expected = Pattern::describe_all(&patterns);
    if any_operator {
        expected.push(String::from("an operator"));
    }
    // A `;` is what is missing if the offending token starts a later line than the token before.
    // Tokens are in source order, so the one before is found by binary search: however many
    // errors there are, each costs a logarithm of the input.
    let before = tokens.partition_point(|(_, span)| span.end <= error.span.start);
    let previous = tokens
        .get(..before)
        .unwrap_or_default()
        .iter()
        .rfind(|(token, _)| !matches!(token, Token::Indent | Token::Dedent));
    // A statement that starts with a misspelt keyword (`brek;`) parses as a name.
    let misspelt = previous.and_then(|(token, _)| {
        let Token::Ident(name) = token else {
            return None;
        };
        did_you_mean(name, KEYWORDS.iter().copied()).filter(|keyword| keyword != name)
    });
    let previous = previous.map(|(_, span)| span.into_range());
    let missing_semi = previous.filter(|previous| {
        let between = source
            .get(previous.end..error.span.start)
            .unwrap_or_default();
        semi_expected && (between.contains('\n') || error.span.start >= source.len())
    });
    LangError::Syntax {
        span: error.span,
        found,
        expected,
        missing_semi,
        keyword: misspelt.map(str::to_owned),
    }
}

/// The keywords, for suggestions (and for tools: completion, renaming).
pub const KEYWORDS: [&str; 14] = [
    "var", "print", "sleep", "if", "else", "while", "loop", "break", "continue", "halt", "true",
    "false", "fn", "return",
];

/// Checks that `(`/`)`, `[`/`]` and `{`/`}` balance, reporting each unclosed opener and each
/// closer with nothing to close.
fn delimiters(tokens: &[Spanned<'_>], len: usize) -> Vec<LangError> {
    let mut open: Vec<(Token<'_>, Span)> = Vec::new();
    let mut errors = Vec::new();
    // The openers, their text, and how many of each `open` holds.
    const OPENERS: [(Token<'static>, &str); 3] = [
        (Token::LParen, "("),
        (Token::LBracket, "["),
        (Token::LBrace, "{"),
    ];
    let text = |token: &Token<'_>| {
        OPENERS
            .iter()
            .find(|(opener, _)| opener == token)
            .map_or("{", |&(_, text)| text)
    };
    let mut counts = [0usize; 3];
    let kind = |token: &Token<'_>| {
        OPENERS
            .iter()
            .position(|(opener, _)| opener == token)
            .unwrap_or(2)
    };
    for (token, span) in tokens {
        if matches!(token, Token::LParen | Token::LBracket | Token::LBrace) {
            if let Some(count) = counts.get_mut(kind(token)) {
                *count += 1;
            }
            open.push((*token, span.into_range()));
            continue;
        }
        let (opener, close) = if *token == Token::RParen {
            (Token::LParen, ")")
        } else if *token == Token::RBracket {
            (Token::LBracket, "]")
        } else if *token == Token::RBrace {
            (Token::LBrace, "}")
        } else {
            continue;
        };
        // Without an opener of its kind open, a closer closes nothing: no need to look. With
        // one, the search passes only what it closes, each opener once in all.
        let any_open = counts.get(kind(&opener)).is_some_and(|&count| count > 0);
        let at = if any_open {
            open.iter().rposition(|(token, _)| *token == opener)
        } else {
            None
        };
        match at {
            Some(at) => {
                for (token, _) in open.get(at..).unwrap_or_default() {
                    if let Some(count) = counts.get_mut(kind(token)) {
                        *count -= 1;
                    }
                }
                for (token, span) in open.drain(at..).skip(1) {
                    errors.push(LangError::Unclosed {
                        span,
                        open: text(&token),
                        end: len..len,
                    });
                }
            }
            None => errors.push(LangError::Unmatched {
                span: span.into_range(),
                close,
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

#[cfg(test)]
mod incomplete_tests {
    use super::incomplete;

    #[test]
    fn open_brackets_and_indented_bodies_ask_for_more() {
        for more in [
            "fn f(a: int) {",
            "while x > 0 {\n    x--;",
            "print(1,",
            "var xs = [1,\n2",
            "loop:",
            "loop:\n    i++;",
            "count: i++;",
            "if x { // a comment }",
        ] {
            assert!(incomplete(more), "{more:?}");
        }
        for complete in [
            "",
            "// only a comment",
            "print(1);",
            "x * 2",
            "loop:\n    i++;\n",
            "while x { x--; }",
            // A closer with nothing to close, or the wrong one: no line can mend it.
            "print(1));",
            "print(1];",
            "{ ( }",
            // A string its line ends, an invalid character.
            "print(\"abc",
            "print($",
            "var xs: [int] = [];",
        ] {
            assert!(!incomplete(complete), "{complete:?}");
        }
    }
}
