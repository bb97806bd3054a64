use super::*;

/// The codes of the diagnostics `source` gets in `family`'s language, in order.
fn codes_of(family: Family, source: &str) -> Vec<&'static str> {
    match family {
        Family::Lang => match crate::mova::compile::compile(source, None) {
            Ok(compiled) => compiled.warnings.iter().map(|w| w.code()).collect(),
            Err(errors) => errors.iter().map(|e| e.code()).collect(),
        },
        Family::Asm => {
            let (program, errors) = crate::asm::assemble_errors(source, None);
            assert!(program.is_some() || !errors.is_empty(), "{source}");
            errors.iter().map(|e| e.code()).collect()
        }
    }
}

/// Codes whose erroneous program cannot be written out: too large (E0013, A0013, A0018), too deep
/// (E0015), or caused by no program at all (the internal errors).
const NO_ERRONEOUS_EXAMPLE: [&str; 6] = ["E0013", "E0015", "E9999", "A0013", "A0018", "A9999"];
/// Codes that no program causes, so that none fixes.
const NO_FIXED_EXAMPLE: [&str; 2] = ["E9999", "A9999"];

#[test]
fn every_erroneous_example_reports_its_code_and_every_fixed_one_nothing() {
    let mut failures = Vec::new();
    for code in Code::all() {
        let examples = examples(code).unwrap_or_else(|e| panic!("{code}: {e}"));
        let erroneous = examples
            .iter()
            .filter(|e| e.role == Role::Erroneous)
            .count();
        let fixed = examples.iter().filter(|e| e.role == Role::Fixed).count();
        let name = code.as_str();
        if (erroneous == 0) != NO_ERRONEOUS_EXAMPLE.contains(&name) {
            failures.push(format!("{code} has {erroneous} erroneous examples"));
        }
        if (fixed == 0) != NO_FIXED_EXAMPLE.contains(&name) {
            failures.push(format!("{code} has {fixed} fixed examples"));
        }
        for example in examples {
            let codes = codes_of(code.family(), &example.source);
            let wrong = match example.role {
                Role::Erroneous => codes.is_empty() || codes.iter().any(|c| *c != name),
                Role::Fixed => !codes.is_empty(),
            };
            if wrong {
                failures.push(format!(
                    "{code}'s {:?} example reports {codes:?}:\n{}",
                    example.role, example.source
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_explanation_is_markdown_the_docs_can_hold() {
    for code in Code::all() {
        let text = code.explanation();
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{code}");
        assert!(
            !text.starts_with(['#', '\n', ' ']),
            "{code} starts with a heading or space"
        );
        // The docs give each code a `###` heading: an explanation has none of its own.
        assert!(!text.lines().any(|line| line.starts_with('#')), "{code}");
        assert!(
            text.lines().all(|line| line == line.trim_end()),
            "{code}: trailing space"
        );
    }
}

#[test]
fn codes_are_read_as_rustc_reads_them_with_the_letter_required() {
    assert_eq!(Code::parse("E0005"), Ok(Code::Lang(LangCode::E0005)));
    assert_eq!(Code::parse("e0005"), Ok(Code::Lang(LangCode::E0005)));
    assert_eq!(Code::parse("E5"), Ok(Code::Lang(LangCode::E0005)));
    assert_eq!(Code::parse(" w0001 "), Ok(Code::Lang(LangCode::W0001)));
    assert_eq!(Code::parse("a0026"), Ok(Code::Asm(AsmCode::A0026)));
    assert_eq!(Code::parse("E9999"), Ok(Code::Lang(LangCode::E9999)));
    for unknown in [
        "E9998", "E0000", "X0001", "E", "", "E00001", "E+001", "Eé", "W0006", "é",
    ] {
        assert_eq!(
            Code::parse(unknown),
            Err(ExplainError::Unknown(unknown.trim().to_owned())),
            "{unknown:?}"
        );
    }
    assert_eq!(
        Code::parse("E9998").unwrap_err().to_string(),
        "E9998 is not a valid error code"
    );
    assert_eq!(
        Code::parse("0005").unwrap_err().to_string(),
        "0005 is not a valid error code: write it with its letter, `E0005` or `W0005` or `A0005`"
    );
    assert_eq!(
        Code::parse("30").unwrap_err().to_string(),
        "30 is not a valid error code: write it with its letter, `E0030`"
    );
    assert_eq!(
        Code::parse("0999").unwrap_err().to_string(),
        "0999 is not a valid error code: write it with its letter"
    );
    assert_eq!(
        Code::parse("12345").unwrap_err().to_string(),
        "12345 is not a valid error code"
    );
}

#[test]
fn the_pointer_names_the_codes_once_and_sorted() {
    assert_eq!(pointer([]), None);
    assert_eq!(
        pointer([("E0005", true), ("E0005", true)]).as_deref(),
        Some("For more information about this error, try `movac --explain E0005`.\n")
    );
    assert_eq!(
        pointer([("W0001", false)]).as_deref(),
        Some("For more information about this warning, try `movac --explain W0001`.\n")
    );
    assert_eq!(
        pointer([("E0011", true), ("E0005", true), ("E0011", true)]).as_deref(),
        Some(
            "Some errors have detailed explanations: E0005, E0011.\n\
             For more information about an error, try `movac --explain E0005`.\n"
        )
    );
    assert_eq!(
        pointer([("W0002", false), ("W0001", false)]).as_deref(),
        Some(
            "Some warnings have detailed explanations: W0001, W0002.\n\
             For more information about a warning, try `movac --explain W0001`.\n"
        )
    );
    assert_eq!(
        pointer([("W0001", false), ("E0028", true)]).as_deref(),
        Some(
            "Some errors and warnings have detailed explanations: E0028, W0001.\n\
             For more information about one, try `movac --explain E0028`.\n"
        )
    );
    // A code with no explanation is not pointed at.
    assert_eq!(pointer([("X1", true)]), None);
}

#[test]
fn examples_are_the_blocks_in_the_language_after_their_role() {
    let text = "Intro.\n\nErroneous example, and more\nwords:\n\n```mova\nbad;\n```\n\n\
                ```text\nshown\n```\n\nFixed:\n\n```mova\ngood;\n```\n";
    assert_eq!(
        parse_examples(text, "mova"),
        Ok(vec![
            Example {
                role: Role::Erroneous,
                source: "bad;\n".into()
            },
            Example {
                role: Role::Fixed,
                source: "good;\n".into()
            },
        ])
    );
    assert_eq!(
        parse_examples("Text:\n\n```mova\nx;\n```\n", "mova"),
        Err(ExampleError::NoRole(3))
    );
    assert_eq!(
        parse_examples("Fixed:\n\n```mova\nx;\n", "mova"),
        Err(ExampleError::Unclosed(3))
    );
    assert_eq!(
        parse_examples("Fixed:\n\n```mvasm\nHALT\n```\n", "mova"),
        Err(ExampleError::OtherLanguage {
            line: 3,
            info: "mvasm".into()
        })
    );
}
