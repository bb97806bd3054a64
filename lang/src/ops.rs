//! The arithmetic and comparison semantics of the instruction set, as plain functions: the
//! compiler folds constants with them. The VM's dispatch loop implements each opcode inline for
//! speed; a property test (`vm/tests/ops.rs`) runs every arithmetic opcode on the VM against these
//! functions, so the two cannot drift apart.

/// A binary operation on two stack values `a` (below) and `b` (top).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`, truncating toward zero.
    Div,
    /// `a % b`, with the sign of `a`.
    Rem,
    /// `a == b`
    Eq,
    /// `a != b`
    Ne,
    /// `a < b`
    Lt,
    /// `a <= b`
    Le,
    /// `a > b`
    Gt,
    /// `a >= b`
    Ge,
}

impl BinOp {
    /// The operator as the language and trap messages write it.
    pub const fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
        }
    }
}

/// Why an operation has no result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArithError {
    /// The result does not fit in `i64`.
    #[error("integer overflow")]
    Overflow,
    /// The divisor is zero.
    #[error("division by zero")]
    DivisionByZero,
}

/// Applies `op` to `a` and `b`: arithmetic is checked, division truncates toward zero, the
/// remainder takes the sign of the dividend (`i64::MIN % -1` is 0), comparisons give 1 or 0.
pub fn binary(op: BinOp, a: i64, b: i64) -> Result<i64, ArithError> {
    let checked = |result: Option<i64>| result.ok_or(ArithError::Overflow);
    match op {
        BinOp::Add => checked(a.checked_add(b)),
        BinOp::Sub => checked(a.checked_sub(b)),
        BinOp::Mul => checked(a.checked_mul(b)),
        BinOp::Div if b == 0 => Err(ArithError::DivisionByZero),
        BinOp::Div => checked(a.checked_div(b)),
        BinOp::Rem if b == 0 => Err(ArithError::DivisionByZero),
        BinOp::Rem => Ok(a.wrapping_rem(b)),
        BinOp::Eq => Ok(i64::from(a == b)),
        BinOp::Ne => Ok(i64::from(a != b)),
        BinOp::Lt => Ok(i64::from(a < b)),
        BinOp::Le => Ok(i64::from(a <= b)),
        BinOp::Gt => Ok(i64::from(a > b)),
        BinOp::Ge => Ok(i64::from(a >= b)),
    }
}

/// `-a`; negating `i64::MIN` overflows.
pub fn neg(a: i64) -> Result<i64, ArithError> {
    a.checked_neg().ok_or(ArithError::Overflow)
}

/// Logical not: 1 if `a` is 0, else 0.
pub fn not(a: i64) -> i64 {
    i64::from(a == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_truncates_and_the_remainder_follows_the_dividend() {
        assert_eq!(binary(BinOp::Div, -7, 2), Ok(-3));
        assert_eq!(binary(BinOp::Rem, -7, 2), Ok(-1));
        assert_eq!(binary(BinOp::Rem, 7, -2), Ok(1));
        assert_eq!(binary(BinOp::Rem, i64::MIN, -1), Ok(0));
        assert_eq!(binary(BinOp::Div, i64::MIN, -1), Err(ArithError::Overflow));
        assert_eq!(binary(BinOp::Div, 1, 0), Err(ArithError::DivisionByZero));
        assert_eq!(binary(BinOp::Rem, 1, 0), Err(ArithError::DivisionByZero));
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(binary(BinOp::Add, i64::MAX, 1), Err(ArithError::Overflow));
        assert_eq!(binary(BinOp::Sub, i64::MIN, 1), Err(ArithError::Overflow));
        assert_eq!(binary(BinOp::Mul, i64::MAX, 2), Err(ArithError::Overflow));
        assert_eq!(neg(i64::MIN), Err(ArithError::Overflow));
        assert_eq!(binary(BinOp::Lt, 1, 2), Ok(1));
        assert_eq!(not(5), 0);
    }
}
