//! Integer literals, shared by the assembler and the language: decimal or `0x` hexadecimal, with
//! `_` allowed between digits.

/// Why a number token is not a valid integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntError {
    /// A character that is not a digit of the literal's base.
    InvalidDigit(char),
    /// No digits at all (e.g. `0x`).
    NoDigits,
    /// A `_` that does not stand between two digits (or right after `0x`): `1_`, `1__0`.
    MisplacedUnderscore,
    /// The value does not fit (in `u64` for a magnitude, in `i64` for a signed number).
    OutOfRange,
}

impl std::fmt::Display for IntError {
    /// What is wrong, as a diagnostic's label says it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntError::InvalidDigit(c) => write!(f, "`{c}` is not a digit here"),
            IntError::NoDigits => f.write_str("no digits after the prefix"),
            IntError::MisplacedUnderscore => f.write_str("a `_` must stand between two digits"),
            IntError::OutOfRange => f.write_str("does not fit in 64 bits"),
        }
    }
}

/// Parses an unsigned literal: decimal digits, or `0x` and hexadecimal digits, with a single `_`
/// allowed between two digits and right after `0x` (the rule of Python's PEP 515):
///
/// ```text
/// INT := DIGIT ('_'? DIGIT)*  |  '0x' ('_'? HEXDIGIT)+
/// ```
///
/// The prefix is lower case only, as in Rust: in `0X10` the `X` is an invalid decimal digit.
pub fn parse_magnitude(text: &str) -> Result<u64, IntError> {
    let (radix, digits) = match text.strip_prefix("0x") {
        Some(digits) => (16, digits),
        None => (10, text),
    };
    if let Some(c) = digits.chars().find(|c| *c != '_' && !c.is_digit(radix)) {
        return Err(IntError::InvalidDigit(c));
    }
    if !digits.chars().any(|c| c.is_digit(radix)) {
        return Err(IntError::NoDigits);
    }
    // Past the prefix, every `_` follows a digit and precedes one; hex allows one right after `0x`.
    let body = if radix == 16 {
        digits.strip_prefix('_').unwrap_or(digits)
    } else {
        digits
    };
    if body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return Err(IntError::MisplacedUnderscore);
    }
    let mut magnitude: u64 = 0;
    for digit in body.chars().filter_map(|c| c.to_digit(radix)) {
        magnitude = magnitude
            .checked_mul(u64::from(radix))
            .and_then(|m| m.checked_add(u64::from(digit)))
            .ok_or(IntError::OutOfRange)?;
    }
    Ok(magnitude)
}

/// Applies a sign to a magnitude, if the result fits in `i64`.
pub fn signed(negative: bool, magnitude: u64) -> Result<i64, IntError> {
    let value = if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    };
    value.ok_or(IntError::OutOfRange)
}

/// Parses a signed literal: an optional `+` or `-`, then what [`parse_magnitude`] accepts.
pub fn parse_int(text: &str) -> Result<i64, IntError> {
    match text.strip_prefix('-') {
        Some(unsigned) => signed(true, parse_magnitude(unsigned)?),
        None => signed(
            false,
            parse_magnitude(text.strip_prefix('+').unwrap_or(text))?,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_integers_in_both_bases_with_separators() {
        assert_eq!(parse_int("0"), Ok(0));
        assert_eq!(parse_int("1_000"), Ok(1000));
        assert_eq!(parse_int("+7"), Ok(7));
        assert_eq!(parse_int("0xff"), Ok(255));
        assert_eq!(parse_int("-0x8000_0000_0000_0000"), Ok(i64::MIN));
        assert_eq!(parse_int("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_int("9223372036854775808"), Err(IntError::OutOfRange));
        assert_eq!(
            parse_int("99999999999999999999999"),
            Err(IntError::OutOfRange)
        );
        assert_eq!(parse_int("12ab"), Err(IntError::InvalidDigit('a')));
        assert_eq!(parse_int("0x"), Err(IntError::NoDigits));
        assert_eq!(parse_int("0xfg"), Err(IntError::InvalidDigit('g')));
    }

    #[test]
    fn underscores_stand_between_digits_and_the_prefix_is_lower_case() {
        // A single `_` between two digits, or after the `0x` prefix (PEP 515's rule).
        assert_eq!(parse_magnitude("1_000_000"), Ok(1_000_000));
        assert_eq!(parse_magnitude("0x_dead_beef"), Ok(0xdead_beef));
        assert_eq!(parse_magnitude("0x_f"), Ok(15));
        for text in ["1_", "1__0", "0x__f", "0xf_", "1_000_"] {
            assert_eq!(
                parse_magnitude(text),
                Err(IntError::MisplacedUnderscore),
                "{text}"
            );
        }
        assert_eq!(parse_magnitude("0x_"), Err(IntError::NoDigits));
        // `0X` is not a prefix: the `X` is a letter in a decimal literal.
        assert_eq!(parse_magnitude("0X10"), Err(IntError::InvalidDigit('X')));
        assert_eq!(parse_int("-0X8000"), Err(IntError::InvalidDigit('X')));
        // An invalid digit is reported before a misplaced `_`, where it is.
        assert_eq!(parse_magnitude("1_z"), Err(IntError::InvalidDigit('z')));
    }

    #[test]
    fn magnitudes_reach_u64_max() {
        assert_eq!(parse_magnitude("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_magnitude("18446744073709551616"),
            Err(IntError::OutOfRange)
        );
        assert_eq!(signed(true, 1 << 63), Ok(i64::MIN));
        assert_eq!(signed(false, 1 << 63), Err(IntError::OutOfRange));
    }
}
