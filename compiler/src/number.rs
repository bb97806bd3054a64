//! Integer literals, shared by the assembler and the language: decimal or `0x` hexadecimal, with
//! `_` allowed between digits.

/// Why a number token is not a valid integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntError {
    /// A character that is not a digit of the literal's base.
    InvalidDigit(char),
    /// No digits at all (e.g. `0x`).
    NoDigits,
    /// The value does not fit (in `u64` for a magnitude, in `i64` for a signed number).
    OutOfRange,
}

/// Parses an unsigned literal: decimal digits, or `0x`/`0X` and hexadecimal digits, with `_`
/// allowed between digits.
pub fn parse_magnitude(text: &str) -> Result<u64, IntError> {
    let (radix, digits) = match text.get(..2) {
        Some("0x" | "0X") => (16, &text[2..]),
        Some(_) | None => (10, text),
    };
    let mut magnitude: u64 = 0;
    let mut any = false;
    let mut overflow = false;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let digit = c.to_digit(radix).ok_or(IntError::InvalidDigit(c))?;
        any = true;
        match magnitude
            .checked_mul(u64::from(radix))
            .and_then(|m| m.checked_add(u64::from(digit)))
        {
            Some(m) => magnitude = m,
            None => overflow = true,
        }
    }
    if !any {
        return Err(IntError::NoDigits);
    }
    if overflow {
        return Err(IntError::OutOfRange);
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
        assert_eq!(parse_int("-0X8000_0000_0000_0000"), Ok(i64::MIN));
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
