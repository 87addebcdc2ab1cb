//! Which server response answers which client message. The client may pipeline any number of
//! messages before a Sync; the server answers them strictly in order, skipping everything up to
//! the next Sync after an error. `Tracker` keeps that queue of expectations, plus the prepared
//! statements and portals the session knows, so the session can tell, for every RowDescription
//! and DataRow, which statement and portal it belongs to, and for every CommandComplete or
//! ErrorResponse, which statement it ends. Pure: no I/O.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

/// A statement the session has seen go upstream (simple Query item or Parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRef {
    /// Index of the statement in the session, 1-based, for pairing results with statements.
    pub number: u64,
}

/// A prepared statement known by name (`""` is the unnamed one).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub sql: Bytes,
    /// Which Parse of this name it is: a Describe answer is kept only for the Parse it asked
    /// about (the unnamed statement is re-parsed all the time, answers may trail).
    pub generation: u64,
    /// RowDescription payload from a Describe of the statement, if one was seen.
    pub row_description: Option<Bytes>,
}

/// A portal created by Bind.
#[derive(Debug, Clone)]
pub struct Portal {
    pub statement: Bytes,
    /// Generation of the statement when the portal was bound.
    pub statement_generation: u64,
    /// RowDescription payload of the portal (with the bound result formats), once known.
    pub row_description: Option<Bytes>,
    /// Whether the portal returns no rows (Describe answered NoData).
    pub no_data: bool,
}

/// One response the server owes, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// `injected`: trailmask sent the Parse (a refusal) and the client must not see the answer.
    ParseComplete {
        statement: Bytes,
        injected: bool,
    },
    BindComplete {
        injected: bool,
    },
    CloseComplete,
    /// ParameterDescription, then RowDescription or NoData, for a statement.
    DescribeStatement {
        statement: Bytes,
        generation: u64,
        got_parameters: bool,
    },
    /// RowDescription or NoData for a portal; `injected` when trailmask sent the Describe itself
    /// and the client must not see the answer.
    DescribePortal {
        portal: Bytes,
        injected: bool,
        /// The portal's statement and its generation when the Describe went out.
        statement: Option<(Bytes, u64)>,
    },
    /// Rows then CommandComplete / EmptyQueryResponse / PortalSuspended for a portal.
    Execute {
        portal: Bytes,
    },
    /// ReadyForQuery closing an extended-protocol batch.
    Sync,
    /// A simple Query's results up to its ReadyForQuery.
    Query,
    /// FunctionCallResponse then ReadyForQuery.
    FunctionCall,
}

/// What a server message was matched to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matched {
    /// Part of a simple Query's results.
    Query,
    /// The answer (RowDescription or NoData) to a Describe of a portal; `injected` when
    /// trailmask sent it and the client must not see it.
    PortalDescription { injected: bool },
    /// Part of an Execute's results for this portal.
    Execute { portal: Bytes },
    /// The answer to a Describe trailmask injected: swallow it.
    Injected,
    /// Anything else (ParseComplete, BindComplete, Describe answers the client asked for, …).
    Other,
    /// Asynchronous or unexpected by the queue (notices, notifications, parameter status).
    Unsolicited,
}

/// The queue and the names it refers to.
#[derive(Debug, Default)]
pub struct Tracker {
    expect: VecDeque<Expect>,
    generation: u64,
    statements: HashMap<Bytes, Prepared>,
    portals: HashMap<Bytes, Portal>,
}

impl Tracker {
    pub fn new() -> Tracker {
        Tracker::default()
    }

    /// Expectations not yet answered.
    pub fn pending(&self) -> usize {
        self.expect.len()
    }

    pub fn statement(&self, name: &[u8]) -> Option<&Prepared> {
        self.statements.get(name)
    }

    pub fn portal(&self, name: &[u8]) -> Option<&Portal> {
        self.portals.get(name)
    }

    // --- client side: call once per message, in the order they go upstream ---

    pub fn on_query(&mut self) {
        self.expect.push_back(Expect::Query);
    }

    pub fn on_parse(&mut self, name: Bytes, sql: Bytes) {
        self.parse(name, sql, false);
    }

    /// A Parse trailmask sent itself (the refusal statement): its ParseComplete is swallowed.
    pub fn on_injected_parse(&mut self, name: Bytes, sql: Bytes) {
        self.parse(name, sql, true);
    }

    fn parse(&mut self, name: Bytes, sql: Bytes, injected: bool) {
        self.generation += 1;
        self.statements.insert(
            name.clone(),
            Prepared {
                sql,
                generation: self.generation,
                row_description: None,
            },
        );
        self.expect.push_back(Expect::ParseComplete {
            statement: name,
            injected,
        });
    }

    pub fn on_bind(&mut self, portal: Bytes, statement: Bytes) {
        self.bind(portal, statement, false);
    }

    /// A Bind trailmask sent itself: its BindComplete is swallowed.
    pub fn on_injected_bind(&mut self, portal: Bytes, statement: Bytes) {
        self.bind(portal, statement, true);
    }

    fn bind(&mut self, portal: Bytes, statement: Bytes, injected: bool) {
        // A Bind replaces a portal of the same name (the unnamed one, typically).
        self.portals.insert(
            portal,
            Portal {
                statement_generation: self.statements.get(&statement).map_or(0, |s| s.generation),
                statement,
                row_description: None,
                no_data: false,
            },
        );
        self.expect.push_back(Expect::BindComplete { injected });
    }

    pub fn on_describe_statement(&mut self, statement: Bytes) {
        let generation = self.statements.get(&statement).map_or(0, |s| s.generation);
        self.expect.push_back(Expect::DescribeStatement {
            statement,
            generation,
            got_parameters: false,
        });
    }

    pub fn on_describe_portal(&mut self, portal: Bytes, injected: bool) {
        let statement = self
            .portals
            .get(&portal)
            .map(|p| (p.statement.clone(), p.statement_generation));
        self.expect.push_back(Expect::DescribePortal {
            portal,
            injected,
            statement,
        });
    }

    pub fn on_execute(&mut self, portal: Bytes) {
        self.expect.push_back(Expect::Execute { portal });
    }

    /// Close of a statement (`S`) or portal (`P`).
    pub fn on_close(&mut self, kind: u8, name: &[u8]) {
        match kind {
            b'S' => {
                self.statements.remove(name);
            }
            _ => {
                self.portals.remove(name);
            }
        }
        self.expect.push_back(Expect::CloseComplete);
    }

    /// CopyDone or CopyFail from the client. The server ignores Sync messages that arrive while
    /// it is in COPY FROM STDIN (libpq and tokio-postgres pipeline one after the Execute), so
    /// every Sync queued after the COPY's Execute is withdrawn. Returns how many were.
    pub fn on_copy_end(&mut self) -> usize {
        let Some(start) = self
            .expect
            .iter()
            .position(|e| matches!(e, Expect::Execute { .. } | Expect::Query))
        else {
            return 0;
        };
        let before = self.expect.len();
        let mut i = 0usize;
        self.expect.retain(|e| {
            let keep = i <= start || !matches!(e, Expect::Sync);
            i += 1;
            keep
        });
        before - self.expect.len()
    }

    pub fn on_sync(&mut self) {
        self.expect.push_back(Expect::Sync);
    }

    pub fn on_function_call(&mut self) {
        self.expect.push_back(Expect::FunctionCall);
    }

    // --- server side ---

    /// Matches one server message. `payload` is needed only for RowDescription.
    pub fn on_server(&mut self, tag: u8, payload: &Bytes) -> Result<Matched, &'static str> {
        match tag {
            // Asynchronous messages may come at any time.
            b'N' | b'A' | b'S' => return Ok(Matched::Unsolicited),
            _ => {}
        }
        let Some(front) = self.expect.front_mut() else {
            return match tag {
                // A FATAL error with nothing pending (e.g. terminated by the administrator).
                b'E' => Ok(Matched::Unsolicited),
                _ => Err("server message with no request pending"),
            };
        };
        match front {
            Expect::Query => match tag {
                b'Z' => {
                    self.expect.pop_front();
                    Ok(Matched::Query)
                }
                _ => Ok(Matched::Query),
            },
            Expect::FunctionCall => {
                if tag == b'Z' {
                    self.expect.pop_front();
                }
                Ok(Matched::Other)
            }
            Expect::ParseComplete { injected, .. } => {
                let injected = *injected;
                self.simple_reply(tag, b'1', injected)
            }
            Expect::BindComplete { injected } => {
                let injected = *injected;
                self.simple_reply(tag, b'2', injected)
            }
            Expect::CloseComplete => self.simple_reply(tag, b'3', false),
            Expect::DescribeStatement {
                statement,
                generation,
                got_parameters,
            } => match tag {
                b't' if !*got_parameters => {
                    *got_parameters = true;
                    Ok(Matched::Other)
                }
                b'T' | b'n' => {
                    let (name, generation) = (statement.clone(), *generation);
                    self.expect.pop_front();
                    if tag == b'T' {
                        if let Some(s) = self.statements.get_mut(&name) {
                            if s.generation == generation {
                                s.row_description = Some(payload.clone());
                            }
                        }
                    }
                    Ok(Matched::Other)
                }
                b'E' => Ok(self.error()),
                _ => Err("unexpected answer to Describe (statement)"),
            },
            Expect::DescribePortal {
                portal,
                injected,
                statement,
            } => match tag {
                b'T' | b'n' => {
                    let (name, injected, statement) = (portal.clone(), *injected, statement.take());
                    self.expect.pop_front();
                    if let Some(p) = self.portals.get_mut(&name) {
                        if tag == b'T' {
                            p.row_description = Some(payload.clone());
                        } else {
                            p.no_data = true;
                        }
                    }
                    // The statement's shape, for later portals of it (their formats come from
                    // their Bind), if it is still the same Parse.
                    if let (b'T', Some((sname, generation))) = (tag, statement) {
                        if let Some(s) = self.statements.get_mut(&sname) {
                            if s.generation == generation && s.row_description.is_none() {
                                s.row_description = Some(payload.clone());
                            }
                        }
                    }
                    Ok(Matched::PortalDescription { injected })
                }
                b'E' => Ok(self.error()),
                _ => Err("unexpected answer to Describe (portal)"),
            },
            Expect::Execute { portal } => match tag {
                b'D' | b'G' | b'H' | b'W' | b'd' | b'c' => Ok(Matched::Execute {
                    portal: portal.clone(),
                }),
                b'C' | b'I' | b's' => {
                    let portal = portal.clone();
                    self.expect.pop_front();
                    Ok(Matched::Execute { portal })
                }
                b'E' => Ok(self.error()),
                _ => Err("unexpected answer to Execute"),
            },
            Expect::Sync => match tag {
                b'Z' => {
                    self.expect.pop_front();
                    Ok(Matched::Other)
                }
                b'E' => Ok(Matched::Other),
                _ => Err("unexpected message before ReadyForQuery"),
            },
        }
    }

    fn simple_reply(&mut self, tag: u8, want: u8, injected: bool) -> Result<Matched, &'static str> {
        if tag == want {
            self.expect.pop_front();
            Ok(if injected {
                Matched::Injected
            } else {
                Matched::Other
            })
        } else if tag == b'E' {
            Ok(self.error())
        } else {
            Err("server reply out of order")
        }
    }

    /// An ErrorResponse in the extended protocol: the server skips everything up to the next
    /// Sync, and a failed Parse leaves no statement behind.
    fn error(&mut self) -> Matched {
        let matched = match self.expect.front() {
            Some(Expect::Execute { portal }) => Matched::Execute {
                portal: portal.clone(),
            },
            _ => Matched::Other,
        };
        while let Some(front) = self.expect.front() {
            match front {
                Expect::Sync | Expect::Query | Expect::FunctionCall => break,
                Expect::ParseComplete { statement, .. } => {
                    let name = statement.clone();
                    self.statements.remove(&name);
                    self.expect.pop_front();
                }
                Expect::BindComplete { .. }
                | Expect::CloseComplete
                | Expect::DescribeStatement { .. }
                | Expect::DescribePortal { .. }
                | Expect::Execute { .. } => {
                    self.expect.pop_front();
                }
            }
        }
        matched
    }
}

#[cfg(test)]
mod tests;
