//! Errors of the catalog loader. Snapshot building and resolution cannot fail: what they cannot
//! resolve they report as unresolved.

use crate::error::{Error as SharedError, Kind, Source};

/// Why a catalog snapshot could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The upstream address is not `host:port`.
    #[error("catalog: upstream address {0:?} is not host:port")]
    Address(String),
    /// Connecting or authenticating as the catalog login failed.
    #[error(
        "catalog: connecting to {addr} database {database:?} as {user:?}: {}",
        describe(source)
    )]
    Connect {
        addr: String,
        database: String,
        user: String,
        source: tokio_postgres::Error,
    },
    /// The TLS (or TCP) leg to the database could not be opened for the catalog login.
    #[error("catalog: connecting to database {database:?} as {user:?}: {source}")]
    Channel {
        database: String,
        user: String,
        source: crate::upstream::ConnectError,
    },
    /// A catalog query failed.
    #[error(
        "catalog: reading {what} from database {database:?}: {}",
        describe(source)
    )]
    Query {
        what: &'static str,
        database: String,
        source: tokio_postgres::Error,
    },
}

/// tokio-postgres says only "db error" for an error the server sent; the server's own words
/// (e.g. "password authentication failed for user …") are what an operator needs.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        None => e.to_string(),
    }
}

impl Error {
    pub(crate) fn query(what: &'static str, database: &str, source: tokio_postgres::Error) -> Self {
        Error::Query {
            what,
            database: database.to_owned(),
            source,
        }
    }
}

impl From<Error> for SharedError {
    fn from(e: Error) -> Self {
        SharedError::new(Kind::Io, Source::Upstream, e.to_string())
    }
}
