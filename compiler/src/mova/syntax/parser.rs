//! The `.mova` parser: tokens (after layout) to a syntax tree, recovering from errors.
//!
//! Parsing never fails: it returns the statements it could read, with [`StmtKind::Error`] and
//! [`ExprKind::Error`] where it could not, and a syntax error for each such place. A statement that
//! does not parse is skipped up to its `;` (or the end of its block), with nested braces skipped
//! whole; a parenthesised expression or a block that does not parse is skipped to its closing
//! delimiter.

use super::ast::{
    AssignOp, BinaryOp, Block, Branch, Call, Expr, ExprKind, Function, Index, Name, Operation,
    Param, Stmt, StmtKind, Type, TypeKind, UnaryOp,
};
use super::lexer::{Token, unescape};
use crate::diag::Span;
use crate::number::parse_magnitude;
pub use crate::syntax_error::{Expected, Pattern, SyntaxError};
use chumsky::input::ValueInput;
use chumsky::pratt::{infix, left, prefix};
use chumsky::prelude::*;

/// What the parser needs of its error type: chumsky's, with labels, and a way to say that a `}`
/// closes nothing.
///
/// The parser is built for two: [`Rich`], which keeps everything a diagnostic says, and
/// [`EmptyErr`], which keeps nothing and costs nothing. A parse with [`EmptyErr`] that meets no
/// error has the very output the [`Rich`] one would have (recovery only ever runs after an error,
/// and no parser's output depends on its error type), so [`parse`] tries the cheap one first and
/// parses again with [`Rich`] only when there is something to report. Most of a [`Rich`] parse's
/// time goes into what every failed alternative expected (about half of the whole compilation of
/// a large program, all of it for nothing when the program is valid).
pub trait ParseError<'t, I: chumsky::input::Input<'t>>:
    chumsky::error::Error<'t, I> + chumsky::label::LabelError<'t, I, &'static str> + 't
{
    /// The error of a `}` with no `{` to close.
    fn unmatched_brace(span: I::Span) -> Self;
}

impl<'t, 's: 't, I> ParseError<'t, I> for Rich<'t, Token<'s>>
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    fn unmatched_brace(span: SimpleSpan) -> Self {
        Rich::custom(span, "unmatched `}`")
    }
}

impl<'t, I: chumsky::input::Input<'t>> ParseError<'t, I> for EmptyErr {
    fn unmatched_brace(_: I::Span) -> Self {
        EmptyErr::default()
    }
}

/// The label of an expression, which the front end looks for among what a syntax error expected.
pub const EXPRESSION: &str = "expression";

/// The label of a statement's `;`, which the front end looks for among what a syntax error
/// expected.
pub const SEMI: &str = "`;`";

/// A token as the parser reads it, with its span.
pub type Spanned<'s> = (Token<'s>, SimpleSpan);

/// Parses tokens (with their spans, after layout) into statements, and the syntax errors met.
///
/// A valid program is parsed once, without keeping what failed alternatives expected; one with
/// a syntax error is parsed again with every error's detail (see [`ParseError`]).
pub fn parse<'s>(
    tokens: &[Spanned<'s>],
    source_len: usize,
) -> (Vec<Stmt<'s>>, Vec<SyntaxError<Token<'s>>>) {
    let eoi = SimpleSpan::from(source_len..source_len);
    let (stmts, errors) = program::<_, EmptyErr>()
        .parse(tokens.split_token_span(eoi))
        .into_output_errors();
    if let (Some(stmts), true) = (stmts, errors.is_empty()) {
        return (stmts, Vec::new());
    }
    let (stmts, errors) = program::<_, Rich<'_, Token<'s>>>()
        .parse(tokens.split_token_span(eoi))
        .into_output_errors();
    let errors = errors.iter().map(SyntaxError::from_rich).collect();
    (stmts.unwrap_or_default(), errors)
}

/// `list` without room to spare: a syntax tree's lists are never added to once parsed, and a
/// vector grown one push at a time holds room for four (a one-statement block would take four
/// statements' memory).
fn shrunk<T>(mut list: Vec<T>) -> Vec<T> {
    list.shrink_to_fit();
    list
}

/// Pushes onto a chain of operations: its first few grow it by one (most chains are short), the
/// rest as a vector grows, so that a long chain still costs linear time.
pub(crate) fn push_exact<T>(list: &mut Vec<T>, item: T) {
    if list.len() < 4 {
        list.reserve_exact(1);
    }
    list.push(item);
}

fn span_of<'t, 's: 't, I, Er>(e: &mut chumsky::input::MapExtra<'t, '_, I, extra::Err<Er>>) -> Span
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
    Er: ParseError<'t, I>,
{
    let span: SimpleSpan = e.span();
    span.into_range()
}

fn expr<'t, 's: 't, I, Er>() -> impl Parser<'t, I, Expr<'s>, extra::Err<Er>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
    Er: ParseError<'t, I>,
{
    recursive(|expr| {
        let int = select! { Token::Int(text) => text }.map_with(|text, e| Expr {
            kind: ExprKind::Int {
                text,
                value: parse_magnitude(text),
            },
            span: span_of(e),
        });
        let boolean =
            select! { Token::True => true, Token::False => false }.map_with(|value, e| Expr {
                kind: ExprKind::Bool(value),
                span: span_of(e),
            });
        // An unterminated string was reported (E0034); it parses as what it holds so far.
        let string = select! { Token::Str(text) => text, Token::UnterminatedStr(text) => text }
            .map_with(|text, e| {
                let span = span_of(e);
                Expr {
                    kind: ExprKind::Str {
                        text,
                        value: unescape(text, span.start).0,
                    },
                    span,
                }
            });
        let array = expr
            .clone()
            .separated_by(just(Token::Comma))
            .allow_trailing()
            .collect::<Vec<_>>()
            .map(shrunk)
            .delimited_by(just(Token::LBracket), just(Token::RBracket))
            .map_with(|elements, e| Expr {
                kind: ExprKind::Array(elements),
                span: span_of(e),
            })
            .recover_with(via_parser(nested_delimiters(
                Token::LBracket,
                Token::RBracket,
                [
                    (Token::LParen, Token::RParen),
                    (Token::LBrace, Token::RBrace),
                ],
                |span: SimpleSpan| Expr {
                    kind: ExprKind::Error,
                    span: span.into_range(),
                },
            )));
        let var = name().map(|name| Expr {
            span: name.span.clone(),
            kind: ExprKind::Var(name),
        });
        let call = call_of(expr.clone()).map_with(|call, e| Expr {
            kind: ExprKind::Call(Box::new(call)),
            span: span_of(e),
        });
        let index = index_of(expr.clone());
        let parens = expr
            .delimited_by(just(Token::LParen), just(Token::RParen))
            .map_with(|inner: Expr<'s>, e| Expr {
                kind: inner.kind,
                span: span_of(e),
            })
            .recover_with(via_parser(nested_delimiters(
                Token::LParen,
                Token::RParen,
                [
                    (Token::LBrace, Token::RBrace),
                    (Token::LBracket, Token::RBracket),
                ],
                |span: SimpleSpan| Expr {
                    kind: ExprKind::Error,
                    span: span.into_range(),
                },
            )));
        // Indexing binds tighter than any operator: `-a[i]` is `-(a[i])`.
        let atom = choice((int, boolean, string, array, call, var, parens))
            .labelled(EXPRESSION)
            .foldl_with(index.repeated(), |base, index, e| Expr {
                kind: ExprKind::Index(Box::new(base), Box::new(index)),
                span: span_of(e),
            });

        // An operation whose left operand is a chain continues it (see `ExprKind::Binary`).
        let binary = |op: BinaryOp| {
            move |lhs: Expr<'s>,
                  _,
                  rhs: Expr<'s>,
                  e: &mut chumsky::input::MapExtra<'t, '_, I, extra::Err<Er>>| {
                let span = span_of(e);
                let operation = Operation {
                    op,
                    rhs,
                    span: span.clone(),
                };
                let kind = match lhs.kind {
                    ExprKind::Binary(first, mut rest) => {
                        // The chain so far may have been in parentheses: its last span says so.
                        if let Some(last) = rest.last_mut() {
                            last.span = lhs.span;
                        }
                        push_exact(&mut rest, operation);
                        ExprKind::Binary(first, rest)
                    }
                    kind @ (ExprKind::Int { .. }
                    | ExprKind::Bool(_)
                    | ExprKind::Str { .. }
                    | ExprKind::Array(_)
                    | ExprKind::Index(..)
                    | ExprKind::Var(_)
                    | ExprKind::Call(_)
                    | ExprKind::Unary(..)
                    | ExprKind::Error) => ExprKind::Binary(
                        Box::new(Expr {
                            kind,
                            span: lhs.span,
                        }),
                        vec![operation],
                    ),
                };
                Expr { kind, span }
            }
        };
        let unary = |op: UnaryOp| {
            move |_,
                  operand: Expr<'s>,
                  e: &mut chumsky::input::MapExtra<'t, '_, I, extra::Err<Er>>| Expr {
                kind: ExprKind::Unary(op, Box::new(operand)),
                span: span_of(e),
            }
        };
        atom.pratt((
            prefix(8, just(Token::Minus), unary(UnaryOp::Neg)),
            prefix(8, just(Token::Bang), unary(UnaryOp::Not)),
            infix(left(7), just(Token::Star), binary(BinaryOp::Mul)),
            infix(left(7), just(Token::Slash), binary(BinaryOp::Div)),
            infix(left(7), just(Token::Percent), binary(BinaryOp::Rem)),
            infix(left(6), just(Token::Plus), binary(BinaryOp::Add)),
            infix(left(6), just(Token::Minus), binary(BinaryOp::Sub)),
            infix(left(5), just(Token::Lt), binary(BinaryOp::Lt)),
            infix(left(5), just(Token::Le), binary(BinaryOp::Le)),
            infix(left(5), just(Token::Gt), binary(BinaryOp::Gt)),
            infix(left(5), just(Token::Ge), binary(BinaryOp::Ge)),
            infix(left(4), just(Token::EqEq), binary(BinaryOp::Eq)),
            infix(left(4), just(Token::NotEq), binary(BinaryOp::Ne)),
            infix(left(3), just(Token::AndAnd), binary(BinaryOp::And)),
            infix(left(2), just(Token::OrOr), binary(BinaryOp::Or)),
        ))
        .labelled(EXPRESSION)
    })
}

/// `[index]`, the index parsed by `expr`.
fn index_of<'t, 's: 't, I, Er>(
    expr: impl Parser<'t, I, Expr<'s>, extra::Err<Er>> + Clone,
) -> impl Parser<'t, I, Expr<'s>, extra::Err<Er>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
    Er: ParseError<'t, I>,
{
    expr.delimited_by(just(Token::LBracket), just(Token::RBracket))
}

/// A type: a name, or `[T]`.
fn ty<'t, 's: 't, I, Er>() -> impl Parser<'t, I, Type<'s>, extra::Err<Er>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
    Er: ParseError<'t, I>,
{
    recursive(|ty| {
        let named = select! { Token::Ident(text) => text }.map_with(|text, e| Type {
            kind: TypeKind::Name(text),
            span: span_of(e),
        });
        let array = ty
            .delimited_by(just(Token::LBracket), just(Token::RBracket))
            .map_with(|element, e| Type {
                kind: TypeKind::Array(Box::new(element)),
                span: span_of(e),
            });
        named.or(array)
    })
    .labelled("type")
}

/// `name(args…)`, the arguments parsed by `expr`; a list that does not parse is skipped to its
/// closing parenthesis.
fn call_of<'t, 's: 't, I, Er>(
    expr: impl Parser<'t, I, Expr<'s>, extra::Err<Er>> + Clone,
) -> impl Parser<'t, I, Call<'s>, extra::Err<Er>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
    Er: ParseError<'t, I>,
{
    let args = expr
        .separated_by(just(Token::Comma))
        .allow_trailing()
        .collect::<Vec<_>>()
        .delimited_by(just(Token::LParen), just(Token::RParen))
        .map_with(|args, e| (args, span_of(e)))
        .recover_with(via_parser(nested_delimiters(
            Token::LParen,
            Token::RParen,
            [
                (Token::LBrace, Token::RBrace),
                (Token::LBracket, Token::RBracket),
            ],
            |span: SimpleSpan| {
                let span = span.into_range();
                let error = Expr {
                    kind: ExprKind::Error,
                    span: span.clone(),
                };
                (vec![error], span)
            },
        )));
    name().then(args).map(|(name, (args, args_span))| Call {
        name,
        args,
        args_span,
    })
}

fn name<'t, 's: 't, I, Er>() -> impl Parser<'t, I, Name<'s>, extra::Err<Er>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
    Er: ParseError<'t, I>,
{
    select! { Token::Ident(text) => text }
        .map_with(|text, e| Name {
            text,
            span: span_of(e),
        })
        .labelled("name")
}

fn program<'t, 's: 't, I, Er>() -> impl Parser<'t, I, Vec<Stmt<'s>>, extra::Err<Er>>
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
    Er: ParseError<'t, I>,
{
    // A `}` with no `{` to close would end the statement list early; report it and go on.
    let stray_brace = just(Token::RBrace)
        .validate(|_, e, emitter| {
            emitter.emit(Er::unmatched_brace(e.span()));
        })
        .map_with(|(), e| Stmt {
            kind: StmtKind::Error,
            span: span_of(e),
        });
    stmt()
        .or(stray_brace)
        .repeated()
        .collect::<Vec<_>>()
        .map(shrunk)
        .then_ignore(end())
}

fn stmt<'t, 's: 't, I, Er>() -> impl Parser<'t, I, Stmt<'s>, extra::Err<Er>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
    Er: ParseError<'t, I>,
{
    recursive(|stmt| {
        let semi = just(Token::Semi).labelled(SEMI);
        let stmts = stmt.clone().repeated().collect::<Vec<_>>().map(shrunk);
        let braced = stmts
            .clone()
            .delimited_by(just(Token::LBrace), just(Token::RBrace))
            .recover_with(via_parser(nested_delimiters(
                Token::LBrace,
                Token::RBrace,
                [
                    (Token::LParen, Token::RParen),
                    (Token::LBracket, Token::RBracket),
                    (Token::Indent, Token::Dedent),
                ],
                |_| Vec::new(),
            )));
        let indented = stmts.delimited_by(just(Token::Indent), just(Token::Dedent));
        let block = braced
            .or(indented)
            .map_with(|stmts, e| Block {
                stmts,
                span: span_of(e),
            })
            .labelled("block");

        let var = just(Token::Var)
            .ignore_then(name())
            .then(just(Token::Colon).ignore_then(ty()).or_not())
            .then_ignore(just(Token::Assign))
            .then(expr())
            .then_ignore(semi)
            .map(|((name, ty), init)| StmtKind::Var { name, ty, init });
        // A variable, or an element of it: `name[i][j]`, each index with the span of the
        // element so far.
        let place = name().then(
            index_of(expr())
                .map_with(|index, e| (index, span_of(e).end))
                .repeated()
                .collect::<Vec<_>>(),
        );
        let place = place.map(|(name, indexes): (Name<'s>, Vec<(Expr<'s>, usize)>)| {
            let start = name.span.start;
            let indexes = indexes
                .into_iter()
                .map(|(index, end)| Index {
                    index,
                    span: start..end,
                })
                .collect::<Vec<_>>();
            (name, indexes)
        });
        let assign_op = select! {
            Token::Assign => AssignOp::Set,
            Token::PlusAssign => AssignOp::Add,
            Token::MinusAssign => AssignOp::Sub,
            Token::StarAssign => AssignOp::Mul,
            Token::SlashAssign => AssignOp::Div,
            Token::PercentAssign => AssignOp::Rem,
        }
        .labelled("assignment operator");
        let assign = place
            .clone()
            .then(assign_op)
            .then(expr())
            .then_ignore(semi)
            .map(|(((name, indexes), op), value)| StmtKind::Assign {
                name,
                indexes,
                op,
                value,
            });
        let step = place
            .then(
                select! { Token::PlusPlus => true, Token::MinusMinus => false }
                    .labelled("`++`/`--`"),
            )
            .then_ignore(semi)
            .map(|((name, indexes), up)| StmtKind::Step { name, indexes, up });
        let print = just(Token::Print)
            .ignore_then(
                expr()
                    .separated_by(just(Token::Comma))
                    .allow_trailing()
                    .collect::<Vec<_>>()
                    .map(shrunk)
                    .delimited_by(just(Token::LParen), just(Token::RParen)),
            )
            .then_ignore(semi)
            .map(StmtKind::Print);
        let sleep = just(Token::Sleep)
            .ignore_then(expr().delimited_by(just(Token::LParen), just(Token::RParen)))
            .then_ignore(semi)
            .map(StmtKind::Sleep);
        // An `else if` chain is read as a list (see `StmtKind::If`): each branch notes where its
        // `if` starts, and its span runs from there to the end of the whole statement.
        let branch = just(Token::If)
            .map_with(|_, e| span_of(e).start)
            .then(expr())
            .then(block.clone());
        let if_stmt = branch
            .clone()
            .then(
                just(Token::Else)
                    .ignore_then(branch)
                    .repeated()
                    .collect::<Vec<_>>(),
            )
            .then(just(Token::Else).ignore_then(block.clone()).or_not())
            .map_with(|((head, rest), otherwise), e| {
                let span = span_of(e);
                let branches = std::iter::once(head)
                    .chain(rest)
                    .map(|((start, cond), then)| Branch {
                        cond,
                        then,
                        span: start..span.end,
                    })
                    .collect();
                Stmt {
                    kind: StmtKind::If {
                        branches,
                        otherwise,
                    },
                    span,
                }
            });
        let while_stmt = just(Token::While)
            .ignore_then(expr())
            .then(block.clone())
            .map(|(cond, body)| StmtKind::While { cond, body });
        // `loop { … }`, and `loop:` followed by a block or an indented body.
        let loop_stmt = just(Token::Loop)
            .ignore_then(just(Token::Colon).or_not())
            .ignore_then(block.clone())
            .map(|body| StmtKind::Loop { label: None, body });
        let labelled = name()
            .then_ignore(just(Token::Colon))
            .then(block.clone())
            .map(|(label, body)| StmtKind::Loop {
                label: Some(label),
                body,
            });
        let jump =
            |keyword: Token<'s>| just(keyword).ignore_then(name().or_not()).then_ignore(semi);
        let break_stmt = jump(Token::Break).map(StmtKind::Break);
        let continue_stmt = jump(Token::Continue).map(StmtKind::Continue);
        let halt = just(Token::Halt).then_ignore(semi).to(StmtKind::Halt);
        let block_stmt = block.clone().map(StmtKind::Block);
        let param = name()
            .then_ignore(just(Token::Colon))
            .then(ty())
            .map(|(name, ty)| Param { name, ty });
        let params = param
            .separated_by(just(Token::Comma))
            .allow_trailing()
            .collect::<Vec<_>>()
            .map(shrunk)
            .delimited_by(just(Token::LParen), just(Token::RParen))
            .map_with(|params, e| (params, span_of(e)));
        let fn_decl = just(Token::Fn)
            .ignore_then(name())
            .then(params)
            .then(just(Token::Arrow).ignore_then(ty()).or_not())
            .then(block.clone())
            .map(|(((name, (params, params_span)), result), body)| {
                StmtKind::Fn(Box::new(Function {
                    name,
                    params,
                    params_span,
                    result,
                    body,
                }))
            });
        let return_stmt = just(Token::Return)
            .ignore_then(expr().or_not())
            .then_ignore(semi)
            .map(StmtKind::Return);
        let call_stmt = call_of(expr()).then_ignore(semi).map(StmtKind::Call);

        let simple = choice((
            var,
            labelled,
            assign,
            step,
            call_stmt,
            print,
            sleep,
            while_stmt,
            loop_stmt,
            break_stmt,
            continue_stmt,
            halt,
            block_stmt,
            fn_decl,
            return_stmt,
        ))
        .map_with(|kind, e| Stmt {
            kind,
            span: span_of(e),
        });

        // Recovery: skip the statement's tokens up to and including its `;` or a braced block (a
        // statement like `while` ends with one), or up to the end of the enclosing block.
        let nested = nested_delimiters(
            Token::LBrace,
            Token::RBrace,
            [
                (Token::LParen, Token::RParen),
                (Token::LBracket, Token::RBracket),
                (Token::Indent, Token::Dedent),
            ],
            |_| (),
        );
        let plain = any().and_is(
            one_of([
                Token::Semi,
                Token::LBrace,
                Token::RBrace,
                Token::Indent,
                Token::Dedent,
            ])
            .not(),
        );
        let end = just(Token::Semi).ignored().or(nested);
        let skip = plain
            .repeated()
            .at_least(1)
            .then(end.clone().or_not())
            .ignored()
            .or(end)
            .map_with(|(), e| Stmt {
                kind: StmtKind::Error,
                span: span_of(e),
            });

        if_stmt
            .or(simple)
            .labelled("statement")
            .recover_with(via_parser(skip))
    })
}

#[cfg(test)]
mod tests {
    use super::super::ast::dump;
    use super::super::layout::lay_out;
    use super::super::lexer::tokens;
    use super::*;

    fn parse_str(source: &str) -> (String, Vec<SyntaxError<Token<'_>>>) {
        let (stmts, errors) = parse(&lay_out(source, tokens(source)).0, source.len());
        (dump(&stmts), errors)
    }

    #[test]
    fn parses_the_seed_program() {
        let (tree, errors) =
            parse_str("var i = 0;\nloop:\n    i++;\n    print(i);\n    sleep(100);\n");
        assert_eq!(errors, []);
        assert_eq!(
            tree,
            "var i @0..10\n  int 0 @8..9\nloop @11..55\n  do @16..55\n    step i++ @21..25\n    print @30..39\n      name i @36..37\n    sleep @44..55\n      int 100 @50..53\n"
        );
    }

    #[test]
    fn precedence_and_associativity() {
        let (tree, errors) = parse_str("print(1 + 2 * 3 - 4 < 5 == !6 && 7 || -8);");
        assert_eq!(errors, []);
        let shape: Vec<&str> = tree
            .lines()
            .map(|line| line.split(" @").next().unwrap().trim())
            .collect();
        // One chain from the left, `((((((1 + 2 * 3) - 4) < 5) == !6) && 7) || -8)`, whose
        // right operands hold what binds tighter.
        assert_eq!(
            shape,
            [
                "print",
                "binary + - < == && ||",
                "int 1",
                "binary *",
                "int 2",
                "int 3",
                "int 4",
                "int 5",
                "unary !",
                "int 6",
                "int 7",
                "unary -",
                "int 8",
            ]
        );
        // A parenthesised right operand is a chain of its own; a parenthesised left one goes on.
        let (tree, errors) = parse_str("print(1 - (2 - 3));\nprint((1 - 2) - 3);");
        assert_eq!(errors, []);
        let shape: Vec<&str> = tree
            .lines()
            .map(|line| line.split(" @").next().unwrap().trim())
            .collect();
        assert_eq!(
            shape,
            [
                "print",
                "binary -",
                "int 1",
                "binary -",
                "int 2",
                "int 3",
                "print",
                "binary - -",
                "int 1",
                "int 2",
                "int 3",
            ]
        );
    }

    #[test]
    fn else_if_chains_and_labelled_blocks() {
        let (tree, errors) = parse_str(
            "if a { x = 1; } else if b { x += 2; } else { x--; }\nouter: { break outer; }",
        );
        assert_eq!(errors, []);
        assert!(tree.contains("else @"), "{tree}");
        assert!(tree.contains("loop outer"), "{tree}");
        assert!(tree.contains("break outer"), "{tree}");
    }

    #[test]
    fn functions_calls_and_returns() {
        let (tree, errors) = parse_str(
            "fn f(a: int, b: int,) -> int { return a + g(b, 1); }\nfn g() { return; }\ng();\nprint(-f(1, 2) * 3);",
        );
        assert_eq!(errors, []);
        let shape: Vec<&str> = tree
            .lines()
            .map(|line| line.split(" @").next().unwrap().trim())
            .collect();
        assert_eq!(
            shape,
            [
                "fn f(a: int, b: int) -> int",
                "body",
                "return",
                "binary +",
                "name a",
                "call g",
                "name b",
                "int 1",
                "fn g()",
                "body",
                "return",
                "call g",
                "print",
                "binary *",
                "unary -",
                "call f",
                "int 1",
                "int 2",
                "int 3",
            ]
        );
    }

    #[test]
    fn recovers_and_reports_several_errors() {
        let (tree, errors) = parse_str("var = 1;\nprint(1 +);\nx = 2;\nwhile { }\ny++;\n}\nz--;");
        assert!(errors.len() >= 4, "{errors:#?}");
        assert!(tree.contains("assign x ="), "{tree}");
        assert!(tree.contains("step y++"), "{tree}");
        assert!(tree.contains("step z--"), "{tree}");
    }
}
