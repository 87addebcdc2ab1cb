//! SQLSTATE codes trailmask itself sends (PostgreSQL Appendix A). Logic names these constants,
//! never string literals.

/// A five-character SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlState(pub &'static str);

impl SqlState {
    pub fn code(self) -> &'static str {
        self.0
    }
}

pub const CONNECTION_FAILURE: SqlState = SqlState("08006");
pub const SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION: SqlState = SqlState("08001");
pub const PROTOCOL_VIOLATION: SqlState = SqlState("08P01");
pub const INVALID_AUTHORIZATION_SPECIFICATION: SqlState = SqlState("28000");
pub const INVALID_PASSWORD: SqlState = SqlState("28P01");
pub const FEATURE_NOT_SUPPORTED: SqlState = SqlState("0A000");
pub const INSUFFICIENT_PRIVILEGE: SqlState = SqlState("42501");
pub const IN_FAILED_SQL_TRANSACTION: SqlState = SqlState("25P02");
pub const TOO_MANY_CONNECTIONS: SqlState = SqlState("53300");
pub const ADMIN_SHUTDOWN: SqlState = SqlState("57P01");
pub const IO_ERROR: SqlState = SqlState("58030");
pub const INTERNAL_ERROR: SqlState = SqlState("XX000");
