//! A minimal PostgreSQL v3 frontend over a raw socket, for what client libraries will not do:
//! send malformed frames, pipeline many statements before one Sync, and see result bytes exactly
//! as sent (client encodings other than UTF-8). Authenticates with trust or cleartext password.

use std::collections::HashMap;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::TestResult;

/// Protocol 3.0.
const PROTOCOL_VERSION: i32 = 196_608;
/// A backend message larger than this is a test failure, not an allocation.
const MAX_MESSAGE: usize = 64 << 20;

/// One backend message: tag and body (without the length).
#[derive(Debug, Clone)]
pub struct Message {
    pub tag: u8,
    pub body: Vec<u8>,
}

impl Message {
    /// Fields of an ErrorResponse or NoticeResponse, keyed by field type (`b'C'` = SQLSTATE).
    pub fn fields(&self) -> HashMap<u8, String> {
        let mut out = HashMap::new();
        let mut rest = self.body.as_slice();
        while let Some((&kind, tail)) = rest.split_first() {
            if kind == 0 {
                break;
            }
            let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
            out.insert(kind, String::from_utf8_lossy(&tail[..end]).into_owned());
            rest = tail.get(end + 1..).unwrap_or(&[]);
        }
        out
    }

    /// SQLSTATE of an ErrorResponse.
    pub fn sqlstate(&self) -> Option<String> {
        (self.tag == b'E')
            .then(|| self.fields().remove(&b'C'))
            .flatten()
    }

    /// Values of a DataRow (`None` = NULL).
    pub fn data_row(&self) -> TestResult<Vec<Option<Vec<u8>>>> {
        let body = &self.body;
        let count = u16::from_be_bytes(take::<2>(body, 0)?) as usize;
        let mut at = 2;
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            let len = i32::from_be_bytes(take::<4>(body, at)?);
            at += 4;
            if len < 0 {
                values.push(None);
            } else {
                let len = len as usize;
                let value = body.get(at..at + len).ok_or("short DataRow")?;
                values.push(Some(value.to_vec()));
                at += len;
            }
        }
        Ok(values)
    }
}

fn take<const N: usize>(body: &[u8], at: usize) -> TestResult<[u8; N]> {
    let slice = body.get(at..at + N).ok_or("short message")?;
    Ok(slice.try_into()?)
}

/// A connection that has completed startup (ReadyForQuery seen).
pub struct RawConn {
    stream: TcpStream,
    /// Backend messages before the first ReadyForQuery (ParameterStatus, BackendKeyData, …).
    pub startup: Vec<Message>,
}

impl RawConn {
    /// Connects and authenticates (trust or cleartext password) with extra startup parameters.
    pub async fn connect(
        addr: &str,
        user: &str,
        password: &str,
        database: &str,
        params: &[(&str, &str)],
    ) -> TestResult<RawConn> {
        let mut stream = TcpStream::connect(addr).await?;
        let mut body = PROTOCOL_VERSION.to_be_bytes().to_vec();
        for (k, v) in [("user", user), ("database", database)]
            .iter()
            .chain(params.iter())
        {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut startup = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        startup.extend_from_slice(&body);
        stream.write_all(&startup).await?;
        let mut conn = RawConn {
            stream,
            startup: Vec::new(),
        };
        loop {
            let msg = conn.recv().await?.ok_or("closed during startup")?;
            match msg.tag {
                b'R' => {
                    let code = i32::from_be_bytes(take::<4>(&msg.body, 0)?);
                    match code {
                        0 => {}
                        3 => {
                            let mut pw = password.as_bytes().to_vec();
                            pw.push(0);
                            conn.send(&frame(b'p', &pw)).await?;
                        }
                        other => {
                            return Err(format!(
                                "raw client cannot answer authentication request {other}"
                            )
                            .into())
                        }
                    }
                }
                b'E' => return Err(format!("startup failed: {:?}", msg.fields()).into()),
                b'Z' => return Ok(conn),
                _ => conn.startup.push(msg),
            }
        }
    }

    /// Process id and secret key from BackendKeyData, for a CancelRequest.
    pub fn backend_key(&self) -> Option<(i32, i32)> {
        let msg = self.startup.iter().find(|m| m.tag == b'K')?;
        let pid = take::<4>(&msg.body, 0).ok()?;
        let key = take::<4>(&msg.body, 4).ok()?;
        Some((i32::from_be_bytes(pid), i32::from_be_bytes(key)))
    }

    pub async fn send(&mut self, bytes: &[u8]) -> TestResult<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        Ok(())
    }

    /// Next backend message, or `None` when the peer closed.
    pub async fn recv(&mut self) -> TestResult<Option<Message>> {
        let mut head = [0u8; 5];
        match self.stream.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let [tag, l0, l1, l2, l3] = head;
        let len = i32::from_be_bytes([l0, l1, l2, l3]);
        let len = usize::try_from(len)?
            .checked_sub(4)
            .ok_or("backend length below 4")?;
        if len > MAX_MESSAGE {
            return Err(format!("backend message of {len} bytes").into());
        }
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).await?;
        Ok(Some(Message { tag, body }))
    }

    /// Messages up to and including the next ReadyForQuery.
    pub async fn until_ready(&mut self) -> TestResult<Vec<Message>> {
        let mut out = Vec::new();
        loop {
            let msg = self.recv().await?.ok_or("closed before ReadyForQuery")?;
            let done = msg.tag == b'Z';
            out.push(msg);
            if done {
                return Ok(out);
            }
        }
    }

    /// Messages until the peer closes (or `limit` messages).
    pub async fn until_closed(&mut self, limit: usize) -> TestResult<Vec<Message>> {
        let mut out = Vec::new();
        while out.len() < limit {
            match self.recv().await? {
                Some(msg) => out.push(msg),
                None => break,
            }
        }
        Ok(out)
    }
}

/// Sends a CancelRequest the way libpq does: one packet on a new connection, then wait for the
/// server to close it (some poolers drop a cancel whose client half-closes first).
pub async fn cancel(addr: &str, (pid, key): (i32, i32)) -> TestResult<()> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut packet = 16i32.to_be_bytes().to_vec();
    packet.extend_from_slice(&CANCEL_REQUEST_CODE.to_be_bytes());
    packet.extend_from_slice(&pid.to_be_bytes());
    packet.extend_from_slice(&key.to_be_bytes());
    stream.write_all(&packet).await?;
    let mut sink = Vec::new();
    stream.read_to_end(&mut sink).await?;
    Ok(())
}

/// CancelRequest's magic "protocol version" (1234 << 16 | 5678).
const CANCEL_REQUEST_CODE: i32 = 80_877_102;

// === frontend messages ===

/// A tagged frame: tag, length, body.
pub fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn cstr(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s);
    out.push(0);
}

pub fn query(sql: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, sql);
    frame(b'Q', &body)
}

/// Parse with no declared parameter types.
pub fn parse(statement: &str, sql: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, statement.as_bytes());
    cstr(&mut body, sql);
    body.extend_from_slice(&0i16.to_be_bytes());
    frame(b'P', &body)
}

/// Bind with text parameters and one result format for all columns (0 text, 1 binary).
pub fn bind(
    portal: &str,
    statement: &str,
    params: &[Option<&[u8]>],
    result_format: i16,
) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, portal.as_bytes());
    cstr(&mut body, statement.as_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&(params.len() as i16).to_be_bytes());
    for p in params {
        match p {
            Some(v) => {
                body.extend_from_slice(&(v.len() as i32).to_be_bytes());
                body.extend_from_slice(v);
            }
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    body.extend_from_slice(&1i16.to_be_bytes());
    body.extend_from_slice(&result_format.to_be_bytes());
    frame(b'B', &body)
}

pub fn execute(portal: &str) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, portal.as_bytes());
    body.extend_from_slice(&0i32.to_be_bytes());
    frame(b'E', &body)
}

pub fn sync() -> Vec<u8> {
    frame(b'S', &[])
}
