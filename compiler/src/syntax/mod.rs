//! The `.mova` front end: [`lexer`] → [`layout`] → [`parser`] → [`ast`].

pub mod ast;
pub mod layout;
pub mod lexer;
pub mod parser;
