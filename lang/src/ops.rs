//! The arithmetic and comparison semantics of the instruction set, defined once: the compiler
//! folds constants with these functions and the VM's dispatch loop executes every arithmetic and
//! comparison opcode with them (as Lua's `luaV_mod` and wasmi's `i32_add` serve both). They are
//! `#[inline(always)]`, so in the VM each call with a constant operator compiles to the one checked
//! machine operation it stands for. An operation without a result is an [`ArithError`]; the VM's
//! trap carries it with the [`Operation`] and its operands as data, and formats them only when the
//! trap is displayed.

use std::fmt;

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

/// An operation applied to its operands, kept as data: what a trap reports, `a + b` or `-(a)`
/// when displayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `a op b`, as [`binary`] computes it.
    Binary {
        /// The operator.
        op: BinOp,
        /// The left operand (the value below, or the top for an immediate or slot operand).
        a: i64,
        /// The right operand.
        b: i64,
    },
    /// `-a`, as [`neg`] computes it.
    Neg {
        /// The operand.
        a: i64,
    },
}

impl fmt::Display for Operation {
    /// `5 / 0`, `9223372036854775807 + 1`, `-(-9223372036854775808)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Operation::Binary { op, a, b } => write!(f, "{a} {} {b}", op.symbol()),
            Operation::Neg { a } => write!(f, "-({a})"),
        }
    }
}

/// Applies `op` to `a` and `b`: arithmetic is checked, division truncates toward zero, the
/// remainder takes the sign of the dividend (`i64::MIN % -1` is 0), comparisons give 1 or 0.
#[inline(always)]
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
#[inline(always)]
pub fn neg(a: i64) -> Result<i64, ArithError> {
    a.checked_neg().ok_or(ArithError::Overflow)
}

/// Logical not: 1 if `a` is 0, else 0.
#[inline(always)]
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

    #[test]
    fn operations_display_as_the_traps_write_them() {
        let div = Operation::Binary {
            op: BinOp::Div,
            a: 5,
            b: 0,
        };
        assert_eq!(div.to_string(), "5 / 0");
        assert_eq!(
            Operation::Neg { a: i64::MIN }.to_string(),
            "-(-9223372036854775808)"
        );
    }
}
