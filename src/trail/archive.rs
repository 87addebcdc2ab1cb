//! Reading a trail directory the way an auditor's command does: the chains under `audit.dir`,
//! each chain's segments in seq order, a segment's bytes (zstd-decompressed for `.jsonl.zst`).
//! Plain `std::fs`, no tokio and no proxy code; [`verify_dir`] ties it to `trail::verify`.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::verify::{self, ChainCheck, ChainReport, SegmentInput};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("trail directory {path} cannot be read: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("trail directory {0} holds no chain with segments")]
    Empty(PathBuf),
    #[error("chain {chain:?} has no segments under {dir}")]
    NoChain { chain: String, dir: PathBuf },
    #[error("segment {path} cannot be read: {source}")]
    Segment {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Whether `s` is a valid chain id: `[A-Za-z0-9._-]{1,64}`.
pub fn is_chain_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// One segment file of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    pub path: PathBuf,
    /// File name as found.
    pub name: String,
    pub first_seq: u64,
    pub compressed: bool,
}

/// The segments of one chain directory, oldest first. When both `N.jsonl` and `N.jsonl.zst`
/// exist (a crash between compressing and removing), the `.jsonl` is the one read.
pub fn segments(chain_dir: &Path) -> Result<Vec<SegmentFile>, ArchiveError> {
    let entries = std::fs::read_dir(chain_dir).map_err(|source| ArchiveError::Dir {
        path: chain_dir.to_owned(),
        source,
    })?;
    let mut out: Vec<SegmentFile> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ArchiveError::Dir {
            path: chain_dir.to_owned(),
            source,
        })?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Some(first_seq) = verify::segment_number(&name) else {
            continue;
        };
        out.push(SegmentFile {
            path: entry.path(),
            compressed: name.ends_with(".zst"),
            name,
            first_seq,
        });
    }
    // Sort by seq, plain before compressed, then drop the compressed twin of a plain file.
    out.sort_by_key(|s| (s.first_seq, s.compressed));
    out.dedup_by_key(|s| s.first_seq);
    Ok(out)
}

/// The chain ids under `dir` that hold at least one segment, sorted.
pub fn chains(dir: &Path) -> Result<Vec<String>, ArchiveError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ArchiveError::Dir {
        path: dir.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ArchiveError::Dir {
            path: dir.to_owned(),
            source,
        })?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !is_chain_id(&name) || !entry.path().is_dir() {
            continue;
        }
        if !segments(&entry.path())?.is_empty() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// A segment's bytes; `cut` says why decompression stopped early (the bytes are what it read).
#[derive(Debug)]
pub struct SegmentBytes {
    pub bytes: Vec<u8>,
    pub cut: Option<String>,
}

/// Reads a segment, decompressing `.jsonl.zst`. A corrupt or cut compressed file is not an
/// error here: it is a break that `verify` reports.
pub fn read_segment(seg: &SegmentFile) -> Result<SegmentBytes, ArchiveError> {
    let read_err = |source| ArchiveError::Segment {
        path: seg.path.clone(),
        source,
    };
    let file = std::fs::File::open(&seg.path).map_err(read_err)?;
    if !seg.compressed {
        let mut bytes = Vec::new();
        std::io::BufReader::new(file)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        return Ok(SegmentBytes { bytes, cut: None });
    }
    let mut bytes = Vec::new();
    let cut = match zstd::stream::read::Decoder::new(file) {
        Ok(mut dec) => dec.read_to_end(&mut bytes).err().map(|e| e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    Ok(SegmentBytes { bytes, cut })
}

/// Verifies every chain under `dir`, or only `only`.
pub fn verify_dir(
    dir: &Path,
    only: Option<&str>,
    opts: &verify::Options,
) -> Result<Vec<ChainReport>, ArchiveError> {
    let names = match only {
        Some(c) => {
            let segs = segments(&dir.join(c)).unwrap_or_default();
            if !is_chain_id(c) || segs.is_empty() {
                return Err(ArchiveError::NoChain {
                    chain: c.to_owned(),
                    dir: dir.to_owned(),
                });
            }
            vec![c.to_owned()]
        }
        None => chains(dir)?,
    };
    if names.is_empty() {
        return Err(ArchiveError::Empty(dir.to_owned()));
    }
    let mut reports = Vec::new();
    for name in names {
        let segs = segments(&dir.join(&name))?;
        let mut check = ChainCheck::new(&name, opts);
        let count = segs.len();
        for (i, seg) in segs.iter().enumerate() {
            let data = read_segment(seg)?;
            let display = seg.path.display().to_string();
            check.segment(
                SegmentInput {
                    name: &seg.name,
                    display: &display,
                    bytes: &data.bytes,
                    cut: data.cut.as_deref(),
                },
                i + 1 == count,
            );
        }
        reports.push(check.finish());
    }
    Ok(reports)
}
