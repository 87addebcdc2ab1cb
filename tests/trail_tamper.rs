//! Tampering with a real trail: the writer writes several segments, each test damages a copy
//! the way SPEC.md and the issue list, and both `trailmask verify` (the built binary) and the
//! independent `tools/verify_trail.py` must exit 1 naming the file and line; an intact trail
//! exits 0. The Python half is skipped, with a printed note, when its modules are missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use trailmask::metrics::trail::TrailMetrics;
use trailmask::trail::record::{Anomaly, Body};
use trailmask::trail::writer::{
    self, ChainId, Durability, HashKeySource, OnFailure, Parameters, SigningKeySource, TrailOptions,
};

const CHAIN: &str = "tamper";

struct Fixture {
    _tmp: tempfile::TempDir,
    trail: PathBuf,
    public: PathBuf,
    other_public: PathBuf,
}

fn options(dir: &Path, key: &Path, compress: bool) -> TrailOptions {
    TrailOptions {
        dir: dir.to_owned(),
        chain: ChainId::try_new(CHAIN).unwrap(),
        durability: Durability::Strict,
        group_commit: Duration::from_millis(1),
        segment_max_bytes: 4096,
        segment_max_age: Duration::from_secs(3600),
        retention: Duration::from_secs(1826 * 86_400),
        signing_key: SigningKeySource::File(key.to_owned()),
        checkpoint_every_records: 7,
        checkpoint_every: Duration::from_secs(3600),
        on_failure: OnFailure::Block,
        parameters: Parameters::Hashed,
        hash_key: HashKeySource::Key(trailmask::trail::record::HashKey::new([5; 32])),
        compress_sealed: compress,
        queue_capacity: 32,
    }
}

fn keygen(dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_trailmask"))
        .args(["keygen", "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// A trail of about 20 segments written by the real writer.
fn fixture(compress: bool) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let other = tmp.path().join("other-keys");
    keygen(&keys);
    keygen(&other);
    let trail_dir = tmp.path().join("trail");
    let trail = writer::start(
        options(&trail_dir, &keys.join("trail-signing.key"), compress),
        TrailMetrics::unregistered(),
    )
    .unwrap();
    let handle = trail.handle();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        for i in 0..250u64 {
            let r = handle
                .append(Body::Anomaly(Anomaly {
                    rule: "bulk_read".to_owned(),
                    session: i,
                    user: format!("user{i}"),
                    detail: "rows over threshold".to_owned(),
                }))
                .await
                .unwrap();
            r.durable().await.unwrap();
        }
    });
    trail.shutdown().unwrap();
    Fixture {
        trail: trail_dir,
        public: keys.join("trail-signing.pub"),
        other_public: other.join("trail-signing.pub"),
        _tmp: tmp,
    }
}

/// Copies the trail so each tamper starts from the pristine one.
fn copy_trail(f: &Fixture) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join(CHAIN);
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(f.trail.join(CHAIN)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    let root = tmp.path().to_owned();
    (tmp, root)
}

fn segment_paths(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join(CHAIN))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

fn python_ready() -> bool {
    Command::new("python3")
        .args(["-c", "import blake3, cryptography, zstandard"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs both verifiers; returns the binary's exit code and output, followed by Python's.
fn verify(root: &Path, key: Option<&Path>) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailmask"));
    cmd.args(["verify", "--trail"]).arg(root);
    if let Some(k) = key {
        cmd.arg("--key").arg(k);
    }
    let out = cmd.output().unwrap();
    let code = out.status.code().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if python_ready() {
        let mut py = Command::new("python3");
        py.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tools/verify_trail.py"
        ))
        .arg(root);
        if let Some(k) = key {
            py.arg("--key").arg(k);
        }
        let pout = py.output().unwrap();
        assert_eq!(
            pout.status.code(),
            Some(code),
            "python verifier disagrees: {}\n{}\nrust said: {text}",
            String::from_utf8_lossy(&pout.stdout),
            String::from_utf8_lossy(&pout.stderr)
        );
        return (
            code,
            format!(
                "{text}\n--- python ---\n{}",
                String::from_utf8_lossy(&pout.stdout)
            ),
        );
    } else {
        eprintln!(
            "note: python3 with blake3, cryptography, zstandard missing; Python verifier not run"
        );
    }
    (code, text)
}

/// Asserts a break named in `file` at `line`.
fn assert_break(root: &Path, key: Option<&Path>, file: &Path, line: usize) {
    let (code, text) = verify(root, key);
    assert_eq!(code, 1, "{text}");
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(text.contains(&name), "break should name {name}: {text}");
    assert!(
        text.contains(&format!("line:     {line}\n")),
        "break should be at line {line}: {text}"
    );
    if let Some((_, py)) = text.split_once("--- python ---") {
        assert!(
            py.contains(&name) && py.contains(&format!(" line {line} ")),
            "python should name {name} line {line}: {py}"
        );
    }
}

#[test]
fn intact_trail_verifies_with_and_without_key() {
    let f = fixture(true);
    let (code, text) = verify(&f.trail, Some(&f.public));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("intact"), "{text}");
    let (code, text) = verify(&f.trail, None);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("signatures not checked"), "{text}");
    assert!(segment_paths(&f.trail).len() > 5);
}

#[test]
fn every_tamper_is_found_where_it_is() {
    let f = fixture(false);
    let key = Some(f.public.as_path());
    type Tamper = fn(&[PathBuf]) -> (PathBuf, usize);
    let tampers: Vec<(&str, Tamper)> = vec![
        ("byte flipped", |segs| {
            let p = segs[2].clone();
            let mut bytes = std::fs::read(&p).unwrap();
            let nl = bytes.iter().position(|&b| b == b'\n').unwrap();
            bytes[nl + 30] ^= 0x01;
            std::fs::write(&p, bytes).unwrap();
            (p, 2)
        }),
        ("value edited into valid JSON", |segs| {
            let p = segs[3].clone();
            let mut l = lines(&p);
            let at = l
                .iter()
                .position(|x| x.contains("\"user\":\"user"))
                .unwrap();
            l[at] = l[at].replacen("\"user\":\"user", "\"user\":\"mallory", 1);
            write_lines(&p, &l);
            (p, at + 1)
        }),
        ("line deleted", |segs| {
            let p = segs[1].clone();
            let mut l = lines(&p);
            l.remove(3);
            write_lines(&p, &l);
            (p, 4)
        }),
        ("two lines swapped", |segs| {
            let p = segs[1].clone();
            let mut l = lines(&p);
            l.swap(2, 3);
            write_lines(&p, &l);
            (p, 3)
        }),
        ("line duplicated", |segs| {
            let p = segs[2].clone();
            let mut l = lines(&p);
            let d = l[2].clone();
            l.insert(2, d);
            write_lines(&p, &l);
            (p, 4)
        }),
        ("forged line inserted", |segs| {
            let p = segs[2].clone();
            let mut l = lines(&p);
            let forged = trailmask::trail::record::encode(
                5,
                "2026-01-01T00:00:00.000000Z",
                &Body::Anomaly(Anomaly {
                    rule: "none".to_owned(),
                    session: 1,
                    user: "x".to_owned(),
                    detail: String::new(),
                }),
                &trailmask::trail::record::Digest::ZERO,
            )
            .unwrap();
            l.insert(3, forged.line);
            write_lines(&p, &l);
            (p, 4)
        }),
        ("sealed segment tail cut", |segs| {
            let p = segs[1].clone();
            let mut l = lines(&p);
            l.pop();
            write_lines(&p, &l);
            let n = l.len();
            (p, n)
        }),
        ("middle segment deleted", |segs| {
            std::fs::remove_file(&segs[2]).unwrap();
            (segs[3].clone(), 1)
        }),
        ("chain recomputed after an edit", |segs| {
            let (p, line) = recompute_after_edit(segs);
            (p, line)
        }),
    ];
    for (name, tamper) in tampers {
        let (_tmp, root) = copy_trail(&f);
        let segs = segment_paths(&root);
        let (file, line) = tamper(&segs);
        eprintln!("tamper: {name}");
        assert_break(&root, key, &file, line);
    }
}

/// Edits a value, then recomputes every later hash, prev and covers_hash: hashes hold, the
/// next checkpoint's signature does not. Returns where that checkpoint is.
fn recompute_after_edit(segs: &[PathBuf]) -> (PathBuf, usize) {
    let mut prev: Option<String> = None;
    let mut first_cp: Option<(PathBuf, usize)> = None;
    let target = lines(&segs[1])
        .iter()
        .position(|l| l.contains("\"user\":\"user"))
        .unwrap();
    for (si, p) in segs.iter().enumerate() {
        let mut l = lines(p);
        for (li, line) in l.iter_mut().enumerate() {
            let edit_here = si == 1 && li == target;
            if edit_here {
                *line = line.replacen("\"user\":\"user", "\"user\":\"mallory", 1);
                assert!(line.contains("mallory"));
            }
            if let Some(new_prev) = &prev {
                let cut = line.rfind(",\"hash\":").unwrap();
                let mut prefix = line[..cut].to_owned();
                let old_prev = prefix[prefix.len() - 65..prefix.len() - 1].to_owned();
                prefix.replace_range(prefix.len() - 65..prefix.len() - 1, new_prev);
                if prefix.contains("\"kind\":\"checkpoint\"") {
                    prefix = prefix.replace(
                        &format!("\"covers_hash\":\"{old_prev}\""),
                        &format!("\"covers_hash\":\"{new_prev}\""),
                    );
                    if first_cp.is_none() {
                        first_cp = Some((p.clone(), li + 1));
                    }
                }
                *line = prefix;
            } else if edit_here {
                let cut = line.rfind(",\"hash\":").unwrap();
                *line = line[..cut].to_owned();
            }
            if prev.is_some() || edit_here {
                let h = blake3::hash(line.as_bytes()).to_hex().to_string();
                line.push_str(&format!(",\"hash\":\"{h}\"}}"));
                prev = Some(h);
            }
        }
        write_lines(p, &l);
    }
    first_cp.unwrap()
}

#[test]
fn wrong_public_key_is_a_break_at_the_first_checkpoint() {
    let f = fixture(false);
    let segs = segment_paths(&f.trail);
    let first_cp = lines(&segs[0])
        .iter()
        .position(|l| l.contains("\"kind\":\"checkpoint\""))
        .unwrap();
    assert_break(&f.trail, Some(&f.other_public), &segs[0], first_cp + 1);
}

#[test]
fn compressed_sealed_segment_cut_is_a_break() {
    let f = fixture(true);
    let (_tmp, root) = copy_trail(&f);
    let segs = segment_paths(&root);
    assert!(segs[1].to_string_lossy().ends_with(".jsonl.zst"));
    let bytes = std::fs::read(&segs[1]).unwrap();
    std::fs::write(&segs[1], &bytes[..bytes.len() / 2]).unwrap();
    let (code, text) = verify(&root, Some(&f.public));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&*segs[1].file_name().unwrap().to_string_lossy()),
        "{text}"
    );
}

#[test]
fn unexaminable_input_exits_2() {
    let f = fixture(false);
    let (code, text) = verify(&f.trail.join("missing"), None);
    assert_eq!(code, 2, "{text}");
    let bad = f.trail.join("bad.pub");
    std::fs::write(&bad, "not a key\n").unwrap();
    let (code, text) = verify(&f.trail, Some(&bad));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("bad.pub"), "{text}");
    let empty = tempfile::tempdir().unwrap();
    let (code, _) = verify(empty.path(), None);
    assert_eq!(code, 2);
}

#[test]
fn expect_head_and_require_sealed() {
    let f = fixture(false);
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_trailmask"))
            .args(["verify", "--trail"])
            .arg(&f.trail)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "ok");
    let head_seq = doc["chains"][0]["head_seq"].as_u64().unwrap();
    let head_hash = doc["chains"][0]["head_hash"].as_str().unwrap().to_owned();
    assert_eq!(doc["chains"][0]["unsealed"], 0);
    let ok = run(&[
        "--expect-head",
        &format!("{head_seq}:{head_hash}"),
        "--require-sealed",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let past = run(&["--expect-head", &format!("{}", head_seq + 1)]);
    assert_eq!(past.status.code(), Some(1));
    let wrong = run(&["--expect-head", &format!("{}:{head_hash}", head_seq - 1)]);
    assert_eq!(wrong.status.code(), Some(1));
    let bad_flag = run(&["--expect-head", "x:y"]);
    assert_eq!(bad_flag.status.code(), Some(2));
}
