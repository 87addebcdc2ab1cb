//! A session's protocol state after authentication, and its transitions. This is the only place
//! the state changes: the relay loop reports each frame it acts on, in order, and asks the state
//! what follows (is the session idle, may it be closed, is the client leaving).

/// The transaction status of the last ReadyForQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxStatus {
    Idle,
    InTransaction,
    Failed,
}

impl TxStatus {
    pub fn from_byte(b: u8) -> Option<TxStatus> {
        match b {
            b'I' => Some(TxStatus::Idle),
            b'T' => Some(TxStatus::InTransaction),
            b'E' => Some(TxStatus::Failed),
            _ => None,
        }
    }
}

/// Where the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// ReadyForQuery seen and nothing sent since.
    Ready(TxStatus),
    /// The client sent work; the server has not yet said ReadyForQuery for all of it.
    Busy(TxStatus),
    /// COPY FROM STDIN: the client streams CopyData until CopyDone/CopyFail.
    CopyIn(TxStatus),
    /// COPY TO STDOUT: the server streams CopyData until CopyDone.
    CopyOut(TxStatus),
    /// The client sent Terminate: the upstream closing is expected.
    Terminating,
}

/// Why a frame does not fit the state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StateError(pub &'static str);

impl State {
    /// The state right after authentication (the first ReadyForQuery was relayed).
    pub fn ready(tx: TxStatus) -> State {
        State::Ready(tx)
    }

    fn tx(self) -> TxStatus {
        match self {
            State::Ready(tx) | State::Busy(tx) | State::CopyIn(tx) | State::CopyOut(tx) => tx,
            State::Terminating => TxStatus::Idle,
        }
    }

    /// A client frame with `tag` passed on.
    pub fn on_client(self, tag: u8) -> Result<State, StateError> {
        Ok(match (self, tag) {
            (_, b'X') => State::Terminating,
            (State::Terminating, _) => return Err(StateError("message after Terminate")),
            (State::CopyIn(tx), b'd' | b'c' | b'f' | b'H' | b'S') => {
                // CopyData/Done/Fail continue or end the copy; Flush and Sync are allowed in it.
                match tag {
                    b'c' | b'f' => State::Busy(tx),
                    _ => State::CopyIn(tx),
                }
            }
            (State::CopyIn(tx), _) => State::CopyIn(tx),
            (s @ (State::Ready(_) | State::Busy(_) | State::CopyOut(_)), b'H') => s,
            (s, _) => State::Busy(s.tx()),
        })
    }

    /// A server frame with `tag` (and, for ReadyForQuery, its status byte) passed on.
    pub fn on_server(self, tag: u8, status: Option<u8>) -> Result<State, StateError> {
        Ok(match (self, tag) {
            (State::Terminating, _) => State::Terminating,
            (_, b'Z') => {
                let tx = status
                    .and_then(TxStatus::from_byte)
                    .ok_or(StateError("bad ReadyForQuery status"))?;
                State::Ready(tx)
            }
            (s, b'G') => State::CopyIn(s.tx()),
            (s, b'H') => State::CopyOut(s.tx()),
            (State::CopyOut(tx), b'c') => State::Busy(tx),
            (s, _) => s,
        })
    }

    /// Idle outside a transaction: the session can be closed without cutting work short.
    pub fn is_idle(self) -> bool {
        self == State::Ready(TxStatus::Idle)
    }

    pub fn is_terminating(self) -> bool {
        self == State::Terminating
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_cycle() {
        let s = State::ready(TxStatus::Idle);
        let s = s.on_client(b'Q').unwrap();
        assert_eq!(s, State::Busy(TxStatus::Idle));
        let s = s
            .on_server(b'T', None)
            .unwrap()
            .on_server(b'D', None)
            .unwrap();
        let s = s.on_server(b'Z', Some(b'T')).unwrap();
        assert_eq!(s, State::Ready(TxStatus::InTransaction));
        assert!(!s.is_idle());
        assert!(s.on_server(b'Z', Some(b'?')).is_err());
    }

    #[test]
    fn copy_in_cycle() {
        let s = State::ready(TxStatus::Idle).on_client(b'Q').unwrap();
        let s = s.on_server(b'G', None).unwrap();
        assert_eq!(s, State::CopyIn(TxStatus::Idle));
        let s = s.on_client(b'd').unwrap().on_client(b'c').unwrap();
        assert_eq!(s, State::Busy(TxStatus::Idle));
        assert!(s.on_server(b'Z', Some(b'I')).unwrap().is_idle());
    }

    #[test]
    fn terminate_is_final() {
        let s = State::ready(TxStatus::Idle).on_client(b'X').unwrap();
        assert!(s.is_terminating());
        assert!(s.on_client(b'Q').is_err());
    }
}
