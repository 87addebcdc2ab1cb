//! Unit tests of the canonical line, the hash rule and the line parser.

use super::*;

fn statement() -> Body {
    Body::Statement(Statement {
        session: 7,
        op: "SELECT".to_owned(),
        sql: "SELECT name FROM guests WHERE id = $1".to_owned(),
        params: vec![Some("ab".to_owned()), None],
        fingerprint: "f1".to_owned(),
        tables: vec!["public.guests".to_owned()],
        columns_read: vec!["public.guests.name".to_owned()],
        columns_written: vec![],
        masked: vec!["public.guests.name".to_owned()],
        decision: Decision::Deny {
            rule: "masked_predicate".to_owned(),
        },
    })
}

#[test]
fn line_has_spec_shape_and_hash_over_prefix() {
    let ts = "2026-11-22T10:00:00.123456Z";
    let enc = encode(42, ts, &statement(), &Digest::ZERO).unwrap();
    assert!(enc.line.starts_with(
        "{\"seq\":42,\"ts\":\"2026-11-22T10:00:00.123456Z\",\"kind\":\"statement\",\"session\":7,\"op\":\"SELECT\""
    ));
    assert!(enc
        .line
        .contains(&format!(",\"prev\":\"{ZERO_HASH}\",\"hash\":\"")));
    assert!(enc.line.contains("\"decision\":\"deny:masked_predicate\""));
    let cut = enc.line.rfind(",\"hash\":").unwrap();
    assert_eq!(
        blake3::hash(&enc.line.as_bytes()[..cut])
            .to_hex()
            .to_string(),
        enc.hash.to_hex()
    );
    let p = parse_line(enc.line.as_bytes()).unwrap();
    assert_eq!(p.seq, 42);
    assert_eq!(p.kind, "statement");
    assert_eq!(p.stated, enc.hash);
    assert_eq!(p.computed, enc.hash);
    assert_eq!(p.prev, Digest::ZERO);
    let back: Body = serde_json::from_value(p.value).unwrap();
    assert_eq!(back, statement());
}

#[test]
fn hash_marker_inside_a_string_is_escaped_away() {
    let body = Body::Anomaly(Anomaly {
        rule: "r".to_owned(),
        session: 1,
        user: "u".to_owned(),
        detail: ",\"hash\":\"x".to_owned(),
    });
    let enc = encode(1, "2026-01-01T00:00:00.000000Z", &body, &Digest::ZERO).unwrap();
    let p = parse_line(enc.line.as_bytes()).unwrap();
    assert_eq!(p.computed, p.stated);
}

#[test]
fn checkpoint_flags_only_when_set() {
    let mut c = Checkpoint {
        covers_seq: 3,
        covers_hash: ZERO_HASH.to_owned(),
        key_id: "0011223344556677".to_owned(),
        sig: "00".repeat(64),
        stop: false,
        recovery: None,
    };
    let plain = encode(
        4,
        "2026-01-01T00:00:00.000000Z",
        &Body::Checkpoint(c.clone()),
        &Digest::ZERO,
    )
    .unwrap();
    assert!(!plain.line.contains("stop"));
    assert!(!plain.line.contains("recovery"));
    c.stop = true;
    c.recovery = Some(Recovery { dropped_bytes: 5 });
    let flagged = encode(
        4,
        "2026-01-01T00:00:00.000000Z",
        &Body::Checkpoint(c),
        &Digest::ZERO,
    )
    .unwrap();
    assert!(flagged
        .line
        .contains("\"stop\":true,\"recovery\":{\"dropped_bytes\":5},\"prev\""));
}

#[test]
fn segment_start_keeps_null_previous() {
    let b = Body::SegmentStart(SegmentStart {
        chain: "c".to_owned(),
        segment: "00000000000000000001.jsonl".to_owned(),
        previous_segment: None,
    });
    let enc = encode(1, "2026-01-01T00:00:00.000000Z", &b, &Digest::ZERO).unwrap();
    assert!(enc.line.contains("\"previous_segment\":null,\"prev\""));
}

#[test]
fn parser_rejects_bad_shapes() {
    let enc = encode(
        1,
        "2026-01-01T00:00:00.000000Z",
        &statement(),
        &Digest::ZERO,
    )
    .unwrap();
    let upper = enc
        .line
        .replace(&enc.hash.to_hex(), &enc.hash.to_hex().to_uppercase());
    assert_eq!(
        parse_line(upper.as_bytes()).unwrap_err(),
        RecordError::BadHashMember
    );
    let reordered = enc
        .line
        .replacen("{\"seq\":1,", "{", 1)
        .replacen("\"}", "\",\"seq\":1}", 1);
    assert!(parse_line(reordered.as_bytes()).is_err());
    let bad_ts = enc.line.replace("00.000000Z", "00Z");
    assert!(matches!(
        parse_line(bad_ts.as_bytes()),
        Err(RecordError::BadTimestamp(_))
    ));
    assert!(parse_line(b"not json").is_err());
}

#[test]
fn ts_is_fixed_width_utc_micros() {
    let t = time::macros::datetime!(2026-11-22 10:00:00.1234567 +08:00);
    assert_eq!(format_ts(t), "2026-11-22T02:00:00.123456Z");
    assert!(parse_ts("2026-11-22T02:00:00.123456Z").is_some());
}

#[test]
fn keyed_hash_depends_on_key() {
    let a = HashKey::new([1; 32]);
    let b = HashKey::new([2; 32]);
    assert_ne!(a.keyed_hex(b"A123456789"), b.keyed_hex(b"A123456789"));
    assert_eq!(a.keyed_hex(b"x").len(), 64);
    assert!(HashKey::from_hex(&"AB".repeat(32)).is_some());
    assert!(HashKey::from_hex("12").is_none());
    assert_eq!(format!("{a:?}"), "HashKey(..)");
}

#[test]
fn ts_formatter_matches_format_ts() {
    let mut f = TsFormatter::new();
    let mut out = String::new();
    let base = time::macros::datetime!(2026-11-22 23:59:58.999998 UTC);
    for step_us in [0i64, 1, 2, 3, 999, 1_000_001, 2_000_000, 86_400_000_000, 5] {
        let t = base + time::Duration::microseconds(step_us);
        f.format_into(t, &mut out);
        assert_eq!(out, format_ts(t), "{t}");
    }
    let eastern = time::macros::datetime!(2026-11-22 10:00:00.0000071 +08:00);
    f.format_into(eastern, &mut out);
    assert_eq!(out, "2026-11-22T02:00:00.000007Z");
}

#[test]
fn result_prepared_early_encodes_as_rendered_late() {
    let result = |session, statement_seq| ResultRecord {
        session,
        statement_seq,
        status: Status::Error {
            sqlstate: "42501".to_owned(),
        },
        rows: 3,
        command_tag: "SELECT 3".to_owned(),
        duration_us: 7,
        subjects: vec!["ab".to_owned()],
        subjects_total: 1,
    };
    for (session, seq) in [
        (12, 0),
        (0, 1),
        (7, 9),
        (12, 10),
        (u64::MAX, 123_456_789),
        (3, u64::MAX),
    ] {
        let mut early = Prepared::result(result(session, 99)).unwrap();
        early.set_statement_seq(seq);
        let late = Prepared::new(&Body::Result(result(session, seq))).unwrap();
        let prev = Digest::of(b"p");
        let a = encode_prepared(5, "2026-11-22T02:00:00.000000Z", &early, &prev).unwrap();
        let b = encode_prepared(5, "2026-11-22T02:00:00.000000Z", &late, &prev).unwrap();
        assert_eq!(a, b);
        assert!(a.line.contains(&format!("\"statement_seq\":{seq},")));
    }
}

#[test]
fn result_rendered_by_hand_is_serdes_rendering() {
    let base = ResultRecord {
        session: 4,
        statement_seq: 0,
        status: Status::Ok,
        rows: 0,
        command_tag: String::new(),
        duration_us: 0,
        subjects: Vec::new(),
        subjects_total: 0,
    };
    let tags = [
        "",
        "SELECT 1",
        "INSERT 0 5",
        "tag \"quoted\" and \\ backslash",
        "control \u{1}\n\t\u{1f} and del \u{7f}",
        "臺北 BIG5 ünïcode",
    ];
    let statuses = [
        Status::Ok,
        Status::Cancelled,
        Status::Error {
            sqlstate: "25P02".to_owned(),
        },
        Status::Error {
            sqlstate: "odd\"\n".to_owned(),
        },
    ];
    let subject_lists: [Vec<String>; 3] = [
        Vec::new(),
        vec!["ab".to_owned()],
        vec!["0f".repeat(32), "x\"y".to_owned(), String::new()],
    ];
    for tag in tags {
        for status in &statuses {
            for subjects in &subject_lists {
                let rec = ResultRecord {
                    session: u64::MAX,
                    status: status.clone(),
                    rows: 1_000_000,
                    command_tag: tag.to_owned(),
                    duration_us: 17,
                    subjects: subjects.clone(),
                    subjects_total: 1_234,
                    ..base.clone()
                };
                let by_hand = Prepared::result(rec.clone()).unwrap();
                let serde = Prepared::new(&Body::Result(rec)).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&by_hand.json),
                    String::from_utf8_lossy(&serde.json)
                );
            }
        }
    }
}

#[test]
fn hex_32_is_hex_encode() {
    for seed in [&b""[..], b"a", b"trail"] {
        let d = Digest::of(seed);
        assert_eq!(hex_32(&d.0).to_vec(), hex_encode(&d.0).into_bytes());
        assert_eq!(hex_encode(&d.0), blake3::hash(seed).to_hex().as_str());
    }
}

#[test]
fn encode_into_appends_the_line_and_newline() {
    let body = Body::SessionEnd(SessionEnd {
        session: 1,
        statements: 2,
        bytes_in: 3,
        bytes_out: 4,
        reason: "client \"quit\"".to_owned(),
    });
    let prev = Digest::of(b"x");
    let enc = encode(u64::MAX, "2026-11-22T02:00:00.000000Z", &body, &prev).unwrap();
    let mut out = b"before\n".to_vec();
    let rec = Prepared::new(&body).unwrap();
    let h = encode_into(
        &mut out,
        u64::MAX,
        "2026-11-22T02:00:00.000000Z",
        &rec,
        &prev.to_hex(),
    )
    .unwrap();
    assert_eq!(h, enc.hash);
    assert_eq!(out, format!("before\n{}\n", enc.line).into_bytes());
    let p = parse_line(enc.line.as_bytes()).unwrap();
    assert_eq!(p.computed, p.stated);
    assert_eq!(p.seq, u64::MAX);
}
