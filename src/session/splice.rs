//! Forwarding a chunk of whole frames with some of them replaced or dropped: untouched runs go
//! out as slices of the chunk (no copy), replacement bytes are gathered in one buffer between
//! runs, and the order of everything is kept.

use bytes::{Bytes, BytesMut};

use super::outbox::Outbox;

pub struct Splice {
    chunk: Bytes,
    /// Everything before this offset of `chunk` has been queued or replaced.
    run_start: usize,
    /// Replacement bytes that come before `chunk[run_start..]`.
    scratch: BytesMut,
}

impl Splice {
    pub fn new(chunk: Bytes) -> Splice {
        Splice {
            chunk,
            run_start: 0,
            scratch: BytesMut::new(),
        }
    }

    pub fn chunk(&self) -> &Bytes {
        &self.chunk
    }

    /// Queues what is pending before the frame at `at`, which is about to be replaced.
    fn cut(&mut self, at: usize, out: &mut Outbox) {
        if at > self.run_start {
            if !self.scratch.is_empty() {
                out.push_encoded(self.scratch.split());
            }
            out.push(self.chunk.slice(self.run_start..at));
        }
    }

    /// The frame `at..end` is replaced by what `write` appends (nothing: dropped).
    pub fn replace(
        &mut self,
        at: usize,
        end: usize,
        out: &mut Outbox,
        write: impl FnOnce(&mut BytesMut),
    ) {
        self.cut(at, out);
        write(&mut self.scratch);
        self.run_start = end;
    }

    /// Makes room in the replacement buffer for the rest of the chunk from `at` when it is nearly
    /// full: a chunk whose rows are all rewritten then fills one buffer instead of growing it
    /// (and copying it) again and again.
    pub fn reserve_rest(&mut self, at: usize) {
        if self.scratch.capacity() - self.scratch.len() < 1024 {
            let rest = self.chunk.len().saturating_sub(at);
            self.scratch.reserve(rest.saturating_add(rest / 8));
        }
    }

    /// Bytes inserted before the frame at `at`, which itself is kept.
    pub fn insert(&mut self, at: usize, out: &mut Outbox, write: impl FnOnce(&mut BytesMut)) {
        self.cut(at, out);
        write(&mut self.scratch);
        self.run_start = at;
    }

    /// Queues the rest.
    pub fn finish(mut self, out: &mut Outbox) {
        if !self.scratch.is_empty() {
            out.push_encoded(self.scratch.split());
        }
        if self.run_start < self.chunk.len() {
            out.push(self.chunk.slice(self.run_start..));
        }
    }
}
