//! The `.mvasm` parser: tokens to a list of lines, recovering from errors line by line.
//!
//! Parsing never fails: it returns every line it could read and an error for each one it could not,
//! so a single run reports all the syntax errors of a file.

use super::lexer::Token;
use crate::diag::Span;
pub use crate::syntax_error::{Expected, Pattern, SyntaxError};
use chumsky::input::ValueInput;
use chumsky::prelude::*;

/// A name or number with the span it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    pub node: T,
    /// Where it is in the source.
    pub span: SimpleSpan,
}

/// An operand as written: a number token (checked later), a label name or a string literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand<'s> {
    /// A number token's text.
    Int(&'s str),
    /// A label name.
    Label(&'s str),
    /// A string literal's text, with its quotes (decoded later).
    Str(&'s str),
}

/// An instruction as written: its mnemonic and its operands, separated by commas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrSyntax<'s> {
    /// The mnemonic, in the case it was written in.
    pub mnemonic: Spanned<&'s str>,
    /// The operands, in order.
    pub operands: Vec<Spanned<Operand<'s>>>,
}

/// A `.fn NAME PARAMS -> RESULTS` line as written: the start of a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FnSyntax<'s> {
    /// The directive, as written (`.fn`, in any case).
    pub directive: Spanned<&'s str>,
    /// The function's name.
    pub name: Spanned<&'s str>,
    /// The number token of its parameter count (checked later): `2` counts ints, `2r`
    /// references.
    pub params: Spanned<&'s str>,
    /// A second parameter count, if there is one (`1 2r`: the resolver checks it counts
    /// references and the first ints).
    pub more_params: Option<Spanned<&'s str>>,
    /// The number token of its result count (checked later): `0`, `1` or `1r`.
    pub results: Spanned<&'s str>,
}

/// A `.string "text"` line as written: the declaration of the program's next string constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StringSyntax<'s> {
    /// The directive, as written (`.string`, in any case).
    pub directive: Spanned<&'s str>,
    /// The literal, with its quotes.
    pub text: Spanned<&'s str>,
}

impl FnSyntax<'_> {
    /// The span of the whole directive, from `.fn` to the result count.
    pub fn span(&self) -> Span {
        self.directive.span.start..self.results.span.end
    }
}

/// One source line: any labels defined on it, then at most one instruction; or a directive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line<'s> {
    /// A line that parsed.
    Ok {
        /// Labels defined on the line, each naming the line's instruction (or the next one).
        labels: Vec<Spanned<&'s str>>,
        /// The instruction, if the line has one.
        instr: Option<InstrSyntax<'s>>,
    },
    /// A `.fn` line: the code after it, up to the next `.fn`, is a function.
    Function(FnSyntax<'s>),
    /// A `.string` line: it declares a string constant.
    String(StringSyntax<'s>),
    /// A directive other than `.fn`, with whatever follows it on its line; the resolver reports it.
    Directive(Spanned<&'s str>),
    /// A line that did not parse; its error was reported.
    Error,
}

/// Parses tokens (with their spans) into lines, and the syntax errors met on the way.
pub fn parse<'s>(
    tokens: &[(Token<'s>, Span)],
    source_len: usize,
) -> (Vec<Line<'s>>, Vec<SyntaxError<Token<'s>>>) {
    let tokens: Vec<(Token<'s>, SimpleSpan)> = tokens
        .iter()
        .map(|(token, span)| (*token, SimpleSpan::from(span.clone())))
        .collect();
    let eoi = SimpleSpan::from(source_len..source_len);
    let (lines, errors) = parser()
        .parse(tokens[..].split_token_span(eoi))
        .into_output_errors();
    let errors = errors
        .iter()
        .map(|error| {
            let mut error = SyntaxError::from_rich(error);
            // The end of the input ends a line too; saying both would only be noise.
            if let Expected::OneOf(expected) = &mut error.expected
                && expected.contains(&Pattern::Token(Token::Newline))
            {
                expected.retain(|pattern| *pattern != Pattern::EndOfInput);
            }
            error
        })
        .collect();
    (lines.unwrap_or_default(), errors)
}

/// Whether `name` is a directive the parser reads (`.fn`, `.string`, in any case).
fn is_known_directive(name: &str) -> bool {
    name.eq_ignore_ascii_case(".fn") || name.eq_ignore_ascii_case(".string")
}

fn parser<'t, 's: 't, I>() -> impl Parser<'t, I, Vec<Line<'s>>, extra::Err<Rich<'t, Token<'s>>>>
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    let name = select! { Token::Ident(name) => name };
    let spanned_name = name.map_with(|node, e| Spanned {
        node,
        span: e.span(),
    });
    let label = spanned_name
        .then_ignore(just(Token::Colon))
        .labelled("label");
    let operand = select! {
        Token::Int(text) => Operand::Int(text),
        Token::Ident(name) => Operand::Label(name),
        Token::Str(text) => Operand::Str(text),
    }
    .map_with(|node, e| Spanned {
        node,
        span: e.span(),
    })
    .labelled("operand");
    let instr = spanned_name
        .labelled("instruction")
        .then(operand.separated_by(just(Token::Comma)).collect::<Vec<_>>())
        .map(|(mnemonic, operands)| InstrSyntax { mnemonic, operands });
    // A line ends at a line break or the end of the input; checking that here, without consuming
    // it, makes a line with trailing junk fail as a whole, so recovery can skip it.
    let end_of_line = just(Token::Newline).ignored().or(end()).rewind();
    let count = select! { Token::Int(text) => text }.map_with(|node, e| Spanned {
        node,
        span: e.span(),
    });
    let function = select! { Token::Directive(name) if name.eq_ignore_ascii_case(".fn") => name }
        .labelled("directive")
        .map_with(|node, e| Spanned {
            node,
            span: e.span(),
        })
        .then(spanned_name.labelled("function name"))
        .then(count.labelled("parameter count"))
        .then(count.labelled("parameter count").or_not())
        .then_ignore(just(Token::Arrow))
        .then(count.labelled("result count"))
        .map(|((((directive, name), params), more_params), results)| {
            Line::Function(FnSyntax {
                directive,
                name,
                params,
                more_params,
                results,
            })
        });
    let string = select! { Token::Directive(name) if name.eq_ignore_ascii_case(".string") => name }
        .labelled("directive")
        .map_with(|node, e| Spanned {
            node,
            span: e.span(),
        })
        .then(
            select! { Token::Str(text) => text }
                .labelled("string")
                .map_with(|node, e| Spanned {
                    node,
                    span: e.span(),
                }),
        )
        .map(|(directive, text)| Line::String(StringSyntax { directive, text }));
    // A `.fn` or `.string` line that does not parse is a syntax error, not an unknown directive.
    let other_directive = select! { Token::Directive(name) if !is_known_directive(name) => name }
        .labelled("directive")
        .map_with(|node, e| Spanned {
            node,
            span: e.span(),
        })
        .then_ignore(any().and_is(just(Token::Newline).not()).repeated())
        .map(Line::Directive);
    let plain = label
        .repeated()
        .collect::<Vec<_>>()
        .then(instr.or_not())
        .map(|(labels, instr)| Line::Ok { labels, instr });
    let line = function
        .or(string)
        .or(other_directive)
        .or(plain)
        .then_ignore(end_of_line)
        .recover_with(via_parser(
            any()
                .and_is(just(Token::Newline).not())
                .repeated()
                .at_least(1)
                .to(Line::Error),
        ));
    line.separated_by(just(Token::Newline))
        .collect::<Vec<_>>()
        .then_ignore(end())
}

#[cfg(test)]
mod tests {
    use super::super::lexer::lex;
    use super::*;

    fn parse_str(source: &str) -> (Vec<Line<'_>>, Vec<SyntaxError<Token<'_>>>) {
        parse(&lex(source), source.len())
    }

    #[test]
    fn parses_labels_instructions_and_blank_lines() {
        let (lines, errors) = parse_str("a: b: PUT 1\n\nGOTO a\nPRINT");
        assert_eq!(errors, []);
        assert_eq!(lines.len(), 4);
        let Line::Ok { labels, instr } = &lines[0] else {
            panic!("{lines:?}")
        };
        assert_eq!(
            labels.iter().map(|l| l.node).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(instr.as_ref().unwrap().operands[0].node, Operand::Int("1"));
        assert_eq!(
            lines[1],
            Line::Ok {
                labels: vec![],
                instr: None
            }
        );
        let Line::Ok { instr, .. } = &lines[2] else {
            panic!("{lines:?}")
        };
        assert_eq!(
            instr.as_ref().unwrap().operands[0].node,
            Operand::Label("a")
        );
    }

    #[test]
    fn parses_function_directives() {
        let (lines, errors) = parse_str("HALT\n.fn fact 1 -> 1\n.FN g 0->0\n.weird 1 2 :\n");
        assert_eq!(errors, []);
        let Line::Function(function) = &lines[1] else {
            panic!("{lines:?}")
        };
        assert_eq!(function.name.node, "fact");
        assert_eq!((function.params.node, function.results.node), ("1", "1"));
        assert_eq!(function.span(), 5..20);
        assert!(matches!(&lines[2], Line::Function(g) if g.directive.node == ".FN"));
        assert!(matches!(&lines[3], Line::Directive(d) if d.node == ".weird"));
        // A label cannot name a directive, and a `.fn` takes its counts.
        let (lines, errors) = parse_str("top: .fn f 0 -> 0\n.fn f 0\n.fn 1 -> 1\n");
        assert_eq!(lines[..3], [Line::Error, Line::Error, Line::Error]);
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    #[test]
    fn parses_string_operands_string_lines_and_reference_counts() {
        let (lines, errors) = parse_str(".string \"a\"\nCONST \"b\"\n.fn f 1 2r -> 1r\n");
        assert_eq!(errors, []);
        assert!(matches!(&lines[0], Line::String(s) if s.text.node == "\"a\""));
        let Line::Ok {
            instr: Some(instr), ..
        } = &lines[1]
        else {
            panic!("{lines:?}")
        };
        assert_eq!(instr.operands[0].node, Operand::Str("\"b\""));
        let Line::Function(function) = &lines[2] else {
            panic!("{lines:?}")
        };
        assert_eq!(function.params.node, "1");
        assert_eq!(function.more_params.map(|count| count.node), Some("2r"));
        assert_eq!(function.results.node, "1r");
        // A `.string` takes one string, and a `.fn` at most two parameter counts.
        let (lines, errors) = parse_str(".string\n.string x\n.fn f 1 2r 3r -> 0\n");
        assert_eq!(lines[..3], [Line::Error, Line::Error, Line::Error]);
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    #[test]
    fn recovers_and_reports_every_bad_line() {
        let (lines, errors) = parse_str("PUT 1 2\nPRINT\n5 PUT\n: x\nADD 1");
        assert_eq!(lines.len(), 5, "{lines:?}");
        assert_eq!(lines[0], Line::Error);
        assert_eq!(lines[2], Line::Error);
        assert_eq!(lines[3], Line::Error);
        assert!(matches!(lines[4], Line::Ok { .. }));
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(errors[0].span, 6..7);
        assert_eq!(errors[0].found, Some(Token::Int("2")));
    }
}
