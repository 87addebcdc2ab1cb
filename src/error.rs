//! The shared error type: what went wrong (`Kind`), whose fault it was (`Source`), what trailmask
//! was doing (`context`), and the underlying cause. `Kind` decides the process exit code of a
//! command; `Source` decides a session's reaction (client -> ErrorResponse and go on, upstream ->
//! relay, trail -> fail closed). Modules with richer failure modes keep their own `thiserror` enum
//! and convert into this one at their boundary.

use std::fmt;

/// What went wrong, coarse enough to pick an exit code and a reaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A command-line flag or argument a user gave is wrong.
    Usage,
    /// The configuration file is unreadable or invalid.
    Config,
    /// Input the auditor pointed at (trail directory, key file) cannot be examined.
    Input,
    /// A trail was examined and found broken (exit 1, not 2).
    Broken,
    /// A socket or file operation failed at run time.
    Io,
    /// TLS setup or handshake failed.
    Tls,
    /// A peer sent bytes that are not PostgreSQL protocol 3.0.
    Protocol,
    /// The audit trail cannot be written.
    Trail,
    /// A bug in trailmask: an invariant did not hold.
    Internal,
}

/// Whose side a failure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The operator or the client (their input, their socket).
    Client,
    /// The PostgreSQL server or the path to it.
    Upstream,
    /// The trail on local disk.
    Trail,
    /// trailmask itself.
    Internal,
}

/// The underlying cause, kept typed so no `Box<dyn Error>` is needed.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Tls(#[from] rustls::Error),
    #[error("{0}")]
    Message(String),
}

/// The shared error: kind, source, context and optional cause.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    source: Source,
    context: String,
    cause: Option<Cause>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

// === impl Error ===

impl Error {
    pub fn new(kind: Kind, source: Source, context: impl Into<String>) -> Self {
        Error {
            kind,
            source,
            context: context.into(),
            cause: None,
        }
    }

    /// A usage or configuration mistake the operator made; `context` is the whole sentence.
    pub fn usage(context: impl Into<String>) -> Self {
        Error::new(Kind::Usage, Source::Client, context)
    }

    pub fn config(context: impl Into<String>) -> Self {
        Error::new(Kind::Config, Source::Client, context)
    }

    pub fn input(context: impl Into<String>) -> Self {
        Error::new(Kind::Input, Source::Client, context)
    }

    pub fn internal(context: impl Into<String>) -> Self {
        Error::new(Kind::Internal, Source::Internal, context)
    }

    pub fn with_cause(mut self, cause: impl Into<Cause>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn source_side(&self) -> Source {
        self.source
    }

    pub fn context(&self) -> &str {
        &self.context
    }

    /// The process exit status for a command that ends with this error.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            Kind::Broken => 1,
            Kind::Usage | Kind::Config | Kind::Input => 2,
            Kind::Io | Kind::Tls | Kind::Protocol | Kind::Trail | Kind::Internal => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)?;
        if let Some(cause) = &self.cause {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_ref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

/// Context at the call site: `.or_err(Kind::Io, Source::Upstream, "connecting to 10.0.0.1:5432")`.
pub trait OrErr<T> {
    fn or_err(self, kind: Kind, source: Source, context: impl Into<String>) -> Result<T>;
}

impl<T, E: Into<Cause>> OrErr<T> for std::result::Result<T, E> {
    fn or_err(self, kind: Kind, source: Source, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::new(kind, source, context).with_cause(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_spec() {
        assert_eq!(Error::config("x").exit_code(), 2);
        assert_eq!(Error::input("x").exit_code(), 2);
        assert_eq!(Error::new(Kind::Broken, Source::Trail, "x").exit_code(), 1);
    }

    #[test]
    fn display_joins_context_and_cause() {
        let e: Result<()> = Err(std::io::Error::other("disk on fire")).or_err(
            Kind::Io,
            Source::Trail,
            "writing segment 1",
        );
        assert_eq!(
            e.unwrap_err().to_string(),
            "writing segment 1: disk on fire"
        );
    }
}
