//! Bytes waiting to be written to one side, as a queue of `Bytes` chunks written with vectored
//! writes. Forwarded frames are slices of the read buffer, so nothing is copied on the way
//! through; trailmask's own messages are appended as their own chunks.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWrite;

use crate::stream::Stream;

/// Most chunks handed to one vectored write (Linux takes up to 1024; 64 covers a busy exchange).
const MAX_IOVECS: usize = 64;

#[derive(Debug, Default)]
pub struct Outbox {
    chunks: VecDeque<Bytes>,
    len: usize,
    /// A TLS stream has taken bytes into its record buffer that still need a flush.
    unflushed: bool,
}

impl Outbox {
    pub fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.chunks.push_back(bytes);
        }
    }

    /// Appends a message trailmask built itself.
    pub fn push_encoded(&mut self, buf: BytesMut) {
        self.push(buf.freeze());
    }

    /// Sends the first `len` bytes of `buf`, taking them from it: written straight from `buf`
    /// as far as the socket takes them when nothing is queued before them (no split, no
    /// queueing: the usual round trip), the rest queued.
    pub fn send_from(
        &mut self,
        stream: &mut Stream,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        len: usize,
    ) -> io::Result<()> {
        let mut len = len.min(buf.len());
        if len > 0 && self.chunks.is_empty() {
            let head = buf.get(..len).unwrap_or(&[]);
            match Pin::new(&mut *stream).poll_write(cx, head) {
                Poll::Ready(Ok(0)) => return Err(peer_stopped()),
                Poll::Ready(Ok(n)) => {
                    buf.advance(n);
                    len -= n.min(len);
                    self.unflushed = true;
                }
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {}
            }
        }
        if len > 0 {
            self.push(buf.split_to(len).freeze());
        }
        Ok(())
    }

    /// Bytes not yet written.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0 && !self.unflushed
    }

    /// Writes as much as the socket takes. `Ready(Ok(()))` once everything is written and flushed.
    pub fn poll_write_to(
        &mut self,
        stream: &mut Stream,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.len > 0 {
            let n = {
                let polled = match self.chunks.len() {
                    // The usual round trip: one chunk, a plain send.
                    1 => match self.chunks.front() {
                        Some(only) => Pin::new(&mut *stream).poll_write(cx, only),
                        None => Poll::Ready(Ok(0)),
                    },
                    _ => {
                        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                        let mut used = 0;
                        for (slot, chunk) in slices.iter_mut().zip(&self.chunks) {
                            *slot = IoSlice::new(chunk);
                            used += 1;
                        }
                        let slices = slices.get(..used).unwrap_or(&[]);
                        Pin::new(&mut *stream).poll_write_vectored(cx, slices)
                    }
                };
                match polled {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(peer_stopped())),
                    Poll::Ready(Ok(n)) => n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            };
            self.advance(n);
            self.unflushed = true;
        }
        if self.unflushed {
            match Pin::new(&mut *stream).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    fn advance(&mut self, mut n: usize) {
        self.len -= n.min(self.len);
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                return;
            };
            if n >= front.len() {
                n -= front.len();
                self.chunks.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }

    /// Writes everything out.
    ///
    /// # Cancellation safety
    /// Cancel-safe: unwritten bytes stay queued.
    pub async fn drain_to(&mut self, stream: &mut Stream) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_write_to(stream, cx)).await
    }
}

/// A write that took nothing: the peer no longer reads.
fn peer_stopped() -> io::Error {
    io::Error::new(io::ErrorKind::WriteZero, "peer stopped reading")
}
