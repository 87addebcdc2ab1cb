//! Segment files on disk: naming (`<first seq, 20 digits>.jsonl`), creation with fsync of the
//! file and its directory, the last whole line of a segment, and compression of a sealed segment
//! to `.jsonl.zst` (written to a temporary name, fsynced, renamed, directory fsynced, then the
//! `.jsonl` removed). Used only by the writer thread and its compressor thread: every function
//! here blocks on disk I/O.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// zstd level for sealed segments. Trail lines are JSON around incompressible hex (hashes,
/// keyed parameter hashes), where level 1 both runs faster and compresses better than zstd's
/// default 3: on a 64 MiB segment written by the proxy under pgbench, level 1 gave 6.6x at
/// 550 MB/s, level 3 5.7x at 243 MB/s. The compressor shares the CPU with the proxy.
const ZSTD_LEVEL: i32 = 1;
/// Suffix of a compressed segment being written; leftovers are removed at start.
pub const TMP_SUFFIX: &str = ".tmp";

/// The file name of the segment whose first record has `first_seq`.
pub fn file_name(first_seq: u64) -> String {
    format!("{first_seq:020}.jsonl")
}

/// fsync a directory, so a created, renamed or removed entry survives a crash.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates a new, empty segment file for appending; fsyncs it and its directory.
pub fn create(dir: &Path, name: &str) -> io::Result<File> {
    let path = dir.join(name);
    let file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&path)?;
    file.sync_all()?;
    fsync_dir(dir)?;
    Ok(file)
}

/// Opens an existing segment for appending (crash recovery).
pub fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).open(path)
}

/// Splits a segment's bytes into the whole lines and the torn tail: returns the length of the
/// whole-line part and the last whole line (without its `\n`), if any.
pub fn last_whole_line(bytes: &[u8]) -> (usize, Option<&[u8]>) {
    let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
        return (0, None);
    };
    let whole = bytes.get(..end).unwrap_or_default();
    let start = whole
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p.saturating_add(1));
    (end.saturating_add(1), whole.get(start..))
}

/// Compresses the sealed segment `dir/name` into `dir/name.zst` and removes `dir/name`. The
/// `.zst` appears under its final name only once complete and fsynced, so a crash leaves
/// either the plain file alone, or both (the writer then removes the plain one).
pub fn compress(dir: &Path, name: &str) -> io::Result<PathBuf> {
    compress_to_tmp(dir, name)?;
    install_compressed(dir, name)
}

/// The temporary name of `dir/name`'s compressed copy while it is written.
pub fn compressed_tmp(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.zst{TMP_SUFFIX}"))
}

/// The first half of [`compress`]: writes and fsyncs the compressed copy of `dir/name` under
/// its temporary name ([`compressed_tmp`]); the plain file is left as it is.
pub fn compress_to_tmp(dir: &Path, name: &str) -> io::Result<PathBuf> {
    let plain = dir.join(name);
    let tmp = compressed_tmp(dir, name);
    let input = File::open(&plain)?;
    let output = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    let mut enc = zstd::stream::write::Encoder::new(output, ZSTD_LEVEL)?;
    io::copy(&mut io::BufReader::new(input), &mut enc)?;
    let mut output = enc.finish()?;
    output.flush()?;
    output.sync_all()?;
    Ok(tmp)
}

/// The second half of [`compress`]: renames the temporary compressed copy to `name.zst`,
/// fsyncs the directory, then removes the plain file and fsyncs again.
pub fn install_compressed(dir: &Path, name: &str) -> io::Result<PathBuf> {
    let done = dir.join(format!("{name}.zst"));
    std::fs::rename(compressed_tmp(dir, name), &done)?;
    fsync_dir(dir)?;
    std::fs::remove_file(dir.join(name))?;
    fsync_dir(dir)?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn names_are_twenty_digits() {
        assert_eq!(file_name(42), "00000000000000000042.jsonl");
    }

    #[test]
    fn last_whole_line_ignores_a_torn_tail() {
        assert_eq!(last_whole_line(b""), (0, None));
        assert_eq!(last_whole_line(b"torn"), (0, None));
        assert_eq!(last_whole_line(b"a\n"), (2, Some(&b"a"[..])));
        assert_eq!(last_whole_line(b"a\nbc\nto"), (5, Some(&b"bc"[..])));
    }

    #[test]
    fn compress_round_trips_and_removes_plain() {
        let dir = tempfile::tempdir().unwrap();
        let name = file_name(1);
        let mut f = create(dir.path(), &name).unwrap();
        f.write_all(b"line one\nline two\n").unwrap();
        let out = compress(dir.path(), &name).unwrap();
        assert!(!dir.path().join(&name).exists());
        let mut text = Vec::new();
        zstd::stream::read::Decoder::new(File::open(out).unwrap())
            .unwrap()
            .read_to_end(&mut text)
            .unwrap();
        assert_eq!(text, b"line one\nline two\n");
    }
}
