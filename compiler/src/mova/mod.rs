//! The `.mova` front end: source → [`syntax`] (tokens, layout, syntax tree) → [`check`] (names,
//! scopes, constant folding, into [`hir`]) → [`codegen`] → a verified program. [`compile`] runs
//! the pipeline; every problem found on the way is a [`LangError`](errors::LangError).

pub mod analysis;
pub mod check;
pub mod codegen;
pub mod compile;
pub mod errors;
pub mod hir;
pub mod syntax;
