//! The long explanation of every diagnostic code, `movac --explain CODE`'s text: what the code
//! means, an erroneous example and its fix, one Markdown file per code beside this module
//! (`E0005.md`, `A0003.md`, …), included at compile time. They are the one place the codes are
//! explained: the per-code sections of `docs/language.md` and `docs/assembly.md` are generated
//! from them ([`docs_section`]), and their examples are compiled by this module's tests (an
//! erroneous example must report its code and only it, a fixed one nothing at all).
//!
//! An example is a fenced block in the front end's language (` ```mova `, ` ```mvasm `) whose
//! paragraph before it starts with "Erroneous" or "Fixed" (blocks one after the other share it);
//! ` ```text ` blocks are illustrations and are not compiled (the programs too large to write out, the internal errors).

use crate::asm::AsmCode;
use crate::mova::errors::LangCode;
use std::fmt;

/// A diagnostic code of either front end: the language's (`E…`, `W…`) or the assembler's (`A…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    Lang(LangCode),
    Asm(AsmCode),
}

/// Which front end a code belongs to: which language its examples are in, and which doc lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `.mova`: `docs/language.md`.
    Lang,
    /// `.mvasm`: `docs/assembly.md`.
    Asm,
}

/// Declares the explanation of each code of one front end: an exhaustive `match`, so a code
/// added to its `codes!` list does not build until its Markdown file exists here.
macro_rules! explanations {
    ($name:ident: $ty:ident { $($code:ident),* $(,)? }) => {
        fn $name(code: $ty) -> &'static str {
            match code {
                $($ty::$code => include_str!(concat!(stringify!($code), ".md"))),*
            }
        }
    };
}

explanations!(lang_text: LangCode {
    E0001, E0002, E0003, E0004, E0005, E0006, E0007, E0008, E0009, E0010, E0011, E0012, E0013,
    E0014, E0015, E0016, E0017, E0018, E0019, E0020, E0021, E0022, E0023, E0024, E0025, E0026,
    E0027, E0028, E0029, E0030, E0031, E0032, E0033, E0034, E0035, E9999, W0001, W0002, W0003,
    W0004, W0005,
});

explanations!(asm_text: AsmCode {
    A0001, A0002, A0003, A0004, A0005, A0006, A0007, A0008, A0009, A0010, A0011, A0012, A0013,
    A0014, A0015, A0016, A0017, A0018, A0019, A0020, A0021, A0022, A0023, A0024, A0025, A0026,
    A9999,
});

impl Code {
    /// Every code: the language's, then the assembler's, each in order.
    pub fn all() -> impl Iterator<Item = Code> {
        let lang = LangCode::ALL.iter().copied().map(Code::Lang);
        lang.chain(AsmCode::ALL.iter().copied().map(Code::Asm))
    }

    /// The code as diagnostics write it, e.g. `E0005`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Lang(code) => code.as_str(),
            Code::Asm(code) => code.as_str(),
        }
    }

    /// Its front end.
    pub fn family(self) -> Family {
        match self {
            Code::Lang(_) => Family::Lang,
            Code::Asm(_) => Family::Asm,
        }
    }

    /// The long explanation, as Markdown.
    pub fn explanation(self) -> &'static str {
        match self {
            Code::Lang(code) => lang_text(code),
            Code::Asm(code) => asm_text(code),
        }
    }

    /// The code written exactly as diagnostics write it.
    pub fn find(code: &str) -> Option<Code> {
        Code::all().find(|known| known.as_str() == code)
    }

    /// The code a user asked about: its letter in either case, then its number with or without
    /// its leading zeros (`E0005`, `e0005`, `E5`). A number alone (`0005`, which rustc takes for
    /// `E0005`) names no code here, as the three kinds share numbers: the error names those it
    /// could be.
    pub fn parse(query: &str) -> Result<Code, ExplainError> {
        let query = query.trim();
        let unknown = || ExplainError::Unknown(query.to_owned());
        let mut chars = query.chars();
        let letter = chars.next().ok_or_else(unknown)?.to_ascii_uppercase();
        let digits = chars.as_str();
        if letter.is_ascii_digit() {
            let number = number(query).ok_or_else(unknown)?;
            let candidates: Vec<Code> = Code::all()
                .filter(|code| code.as_str()[1..].parse() == Ok(number))
                .collect();
            return Err(ExplainError::NoLetter {
                query: query.to_owned(),
                candidates,
            });
        }
        let number = number(digits).ok_or_else(unknown)?;
        let written = format!("{letter}{number:04}");
        Code::find(&written).ok_or_else(unknown)
    }
}

/// The value of a code's number: one to four ASCII digits.
fn number(digits: &str) -> Option<u32> {
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code `movac --explain` has no explanation for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    /// No code is written so.
    #[error("{0} is not a valid error code")]
    Unknown(String),
    /// A number without its letter.
    #[error(
        "{query} is not a valid error code: write it with its letter{}",
        match candidates.as_slice() {
            [] => String::new(),
            codes => format!(
                ", {}",
                codes.iter().map(|code| format!("`{code}`")).collect::<Vec<_>>().join(" or ")
            ),
        }
    )]
    NoLetter {
        query: String,
        /// The codes with that number.
        candidates: Vec<Code>,
    },
}

/// What the per-code part of `family`'s doc holds: a `### CODE` section per code, in order, each
/// its explanation.
pub fn docs_section(family: Family) -> String {
    let mut doc = String::new();
    for code in Code::all().filter(|code| code.family() == family) {
        doc.push_str(&format!("### {code}\n\n{}\n", code.explanation()));
    }
    doc
}

/// The line a report for people ends with when its diagnostics have codes: where to read more
/// about them, as rustc says it. `None` when no diagnostic has a code (runtime traps have none).
pub fn pointer<'a>(diagnostics: impl IntoIterator<Item = (&'a str, bool)>) -> Option<String> {
    let mut codes: Vec<&str> = Vec::new();
    let mut any_error = false;
    let mut any_warning = false;
    for (code, is_error) in diagnostics {
        if Code::find(code).is_none() {
            continue;
        }
        any_error |= is_error;
        any_warning |= !is_error;
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes.sort_unstable();
    let first = codes.first()?;
    let (this, some, one) = match (any_error, any_warning) {
        (true, false) => ("this error", "Some errors", "an error"),
        (false, true) => ("this warning", "Some warnings", "a warning"),
        (true, true) | (false, false) => ("this diagnostic", "Some errors and warnings", "one"),
    };
    if codes.len() == 1 {
        return Some(format!(
            "For more information about {this}, try `movac --explain {first}`.\n"
        ));
    }
    Some(format!(
        "{some} have detailed explanations: {}.\nFor more information about {one}, try \
         `movac --explain {first}`.\n",
        codes.join(", ")
    ))
}

/// What role a fenced block of an explanation plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A program that reports the explained code, and no other.
    Erroneous,
    /// The program fixed: it reports nothing.
    Fixed,
}

/// An example of an explanation: a fenced block in its front end's language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    pub role: Role,
    /// The source, as the block holds it.
    pub source: String,
}

/// A malformed explanation, found by [`examples`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExampleError {
    #[error("the block at line {0} is not closed")]
    Unclosed(usize),
    #[error(
        "the block at line {0} is in the language but its paragraph starts neither with \
             \"Erroneous\" nor with \"Fixed\""
    )]
    NoRole(usize),
    #[error("the block at line {line} is in `{info}`, which is not this code's language")]
    OtherLanguage { line: usize, info: String },
}

/// The examples of `code`'s explanation, in order.
pub fn examples(code: Code) -> Result<Vec<Example>, ExampleError> {
    let language = match code.family() {
        Family::Lang => "mova",
        Family::Asm => "mvasm",
    };
    parse_examples(code.explanation(), language)
}

/// The examples in `language` of the Markdown `text`, in order.
fn parse_examples(text: &str, language: &str) -> Result<Vec<Example>, ExampleError> {
    let mut examples = Vec::new();
    // The first line of the paragraph before the block.
    let mut paragraph_start: Option<&str> = None;
    let mut previous_blank = true;
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            if line.trim().is_empty() {
                previous_blank = true;
            } else {
                if previous_blank {
                    paragraph_start = Some(line);
                }
                previous_blank = false;
            }
            continue;
        };
        let mut source = String::new();
        let mut closed = false;
        for (_, body) in lines.by_ref() {
            if body == "```" {
                closed = true;
                break;
            }
            source.push_str(body);
            source.push('\n');
        }
        if !closed {
            return Err(ExampleError::Unclosed(index + 1));
        }
        match info {
            "text" => {}
            info if info == language => {
                let role = match paragraph_start {
                    Some(text) if text.starts_with("Erroneous") => Role::Erroneous,
                    Some(text) if text.starts_with("Fixed") => Role::Fixed,
                    Some(_) | None => return Err(ExampleError::NoRole(index + 1)),
                };
                examples.push(Example { role, source });
            }
            info => {
                return Err(ExampleError::OtherLanguage {
                    line: index + 1,
                    info: info.to_owned(),
                });
            }
        }
        // Blocks one after the other share the paragraph before the first.
        previous_blank = true;
    }
    Ok(examples)
}

#[cfg(test)]
mod tests;
