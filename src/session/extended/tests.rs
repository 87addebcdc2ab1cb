use super::*;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn feed(t: &mut Tracker, tags: &[u8]) -> Vec<Matched> {
    tags.iter()
        .map(|&tag| t.on_server(tag, &Bytes::new()).unwrap())
        .collect()
}

#[test]
fn prepared_pipeline_matches_rows_to_portals() {
    let mut t = Tracker::new();
    for i in 0..3 {
        t.on_bind(b(&format!("p{i}")), b("s"));
        t.on_execute(b(&format!("p{i}")));
    }
    t.on_sync();
    let m = feed(&mut t, b"2DC2DDC2CZ");
    assert_eq!(m[1], Matched::Execute { portal: b("p0") });
    assert_eq!(m[5], Matched::Execute { portal: b("p1") });
    assert_eq!(m[8], Matched::Execute { portal: b("p2") });
    assert_eq!(t.pending(), 0);
}

#[test]
fn error_skips_to_sync_and_forgets_failed_parse() {
    let mut t = Tracker::new();
    t.on_parse(b("s1"), b("select 1"));
    t.on_bind(b(""), b("s1"));
    t.on_execute(b(""));
    t.on_parse(b("s2"), b("select bogus"));
    t.on_bind(b(""), b("s2"));
    t.on_execute(b(""));
    t.on_sync();
    feed(&mut t, b"12DC");
    assert_eq!(t.on_server(b'E', &Bytes::new()).unwrap(), Matched::Other);
    assert!(t.statement(b"s2").is_none());
    assert!(t.statement(b"s1").is_some());
    assert_eq!(t.on_server(b'Z', &Bytes::new()).unwrap(), Matched::Other);
    assert_eq!(t.pending(), 0);
}

#[test]
fn injected_describe_is_swallowed_and_remembered() {
    let mut t = Tracker::new();
    t.on_parse(b(""), b("select phone from guests"));
    t.on_bind(b(""), b(""));
    t.on_describe_portal(b(""), true);
    t.on_execute(b(""));
    t.on_sync();
    let rd = Bytes::from_static(b"\0\x01phone\0");
    feed(&mut t, b"12");
    assert_eq!(
        t.on_server(b'T', &rd).unwrap(),
        Matched::PortalDescription { injected: true }
    );
    assert_eq!(t.portal(b"").unwrap().row_description.as_ref(), Some(&rd));
    feed(&mut t, b"DCZ");
    assert_eq!(t.pending(), 0);
}

#[test]
fn simple_query_and_async_messages() {
    let mut t = Tracker::new();
    t.on_query();
    let m = feed(&mut t, b"TDNCTDCAZ");
    assert_eq!(m[2], Matched::Unsolicited);
    assert_eq!(m[7], Matched::Unsolicited);
    assert_eq!(m[8], Matched::Query);
    assert_eq!(t.pending(), 0);
    assert!(t.on_server(b'D', &Bytes::new()).is_err());
}

#[test]
fn describe_statement_then_close() {
    let mut t = Tracker::new();
    t.on_parse(b("s"), b("select 1"));
    t.on_describe_statement(b("s"));
    t.on_close(b'S', b"s");
    t.on_sync();
    feed(&mut t, b"1tT3Z");
    assert!(t.statement(b"s").is_none());
    assert_eq!(t.pending(), 0);
}

#[test]
fn sync_sent_during_copy_in_is_withdrawn_at_copy_done() {
    let mut t = Tracker::new();
    t.on_bind(Bytes::new(), Bytes::from_static(b"s"));
    t.on_execute(Bytes::new());
    t.on_sync();
    assert_eq!(t.on_server(b'2', &Bytes::new()).unwrap(), Matched::Other);
    assert!(matches!(
        t.on_server(b'G', &Bytes::new()).unwrap(),
        Matched::Execute { .. }
    ));
    // CopyData…, CopyDone, Sync: the first Sync was ignored by the server.
    assert_eq!(t.on_copy_end(), 1);
    t.on_sync();
    assert!(matches!(
        t.on_server(b'C', &Bytes::new()).unwrap(),
        Matched::Execute { .. }
    ));
    assert_eq!(t.on_server(b'Z', &Bytes::new()).unwrap(), Matched::Other);
    assert_eq!(t.pending(), 0);
}
