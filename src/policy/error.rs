//! Errors of the policy module: a malformed table, column or function name.

/// A dotted name that does not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("is not of the form {shape}")]
    Shape { shape: &'static str },
    #[error("has an empty part")]
    EmptyPart,
    #[error("has a part longer than PostgreSQL's 63-byte identifier limit: {0:?}")]
    TooLong(String),
    #[error("has a part with a space, quote, dot, `*` or control character: {0:?}")]
    BadCharacter(String),
}
