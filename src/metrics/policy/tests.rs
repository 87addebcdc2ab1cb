//! Tests of the policy metric families: rendered registry text, line by line.

use prometheus::{Encoder, TextEncoder};

use super::*;

fn render(registry: &Registry) -> String {
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut buf)
        .unwrap();
    String::from_utf8(buf).unwrap()
}

#[test]
fn every_configured_series_starts_at_zero_and_counts() {
    let registry = Registry::new();
    let roles = vec!["front_desk".to_owned(), "restricted".to_owned()];
    let columns = vec![
        "public.guests.phone".to_owned(),
        "public.payments.card_number".to_owned(),
    ];
    let m =
        PolicyMetrics::register(&registry, &roles, &columns, &["deny_column", "unparsed"]).unwrap();
    let text = render(&registry);
    for line in [
        "trailmask_masked_values_total{column=\"public.guests.phone\",role=\"front_desk\"} 0",
        "trailmask_masked_values_total{column=\"public.payments.card_number\",role=\"restricted\"} 0",
        "trailmask_denied_total{role=\"restricted\",rule=\"unparsed\"} 0",
        "trailmask_statements_total{decision=\"deny\",op=\"TRANSACTION\",role=\"front_desk\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    let series = |name: &str| {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")))
            .count()
    };
    assert_eq!(series("trailmask_masked_values_total"), 4);
    assert_eq!(series("trailmask_denied_total"), 4);
    assert_eq!(series("trailmask_statements_total"), 2 * 9 * 2);

    m.masked("front_desk", "public.guests.phone", 3);
    m.refused("restricted", Op::Select, "unparsed");
    m.statement("front_desk", Op::Select, Decision::Allow);
    let text = render(&registry);
    for line in [
        "trailmask_masked_values_total{column=\"public.guests.phone\",role=\"front_desk\"} 3",
        "trailmask_denied_total{role=\"restricted\",rule=\"unparsed\"} 1",
        "trailmask_statements_total{decision=\"deny\",op=\"SELECT\",role=\"restricted\"} 1",
        "trailmask_statements_total{decision=\"allow\",op=\"SELECT\",role=\"front_desk\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
}

#[test]
fn statement_counters_count_runs_refusals_and_rows_per_table() {
    let registry = Registry::new();
    let m = PolicyMetrics::register(&registry, &[], &[], &["deny_column"]).unwrap();
    let allowed = m.statement_counters(
        "front_desk",
        Op::Select,
        None,
        ["public.guests", "public.rooms"],
    );
    let denied = m.statement_counters("front_desk", Op::Select, Some("deny_column"), []);
    allowed.count();
    allowed.count();
    allowed.rows_returned(5);
    denied.count();
    let text = render(&registry);
    for line in [
        "trailmask_statements_total{decision=\"allow\",op=\"SELECT\",role=\"front_desk\"} 2",
        "trailmask_statements_total{decision=\"deny\",op=\"SELECT\",role=\"front_desk\"} 1",
        "trailmask_denied_total{role=\"front_desk\",rule=\"deny_column\"} 1",
        "trailmask_rows_returned_total{role=\"front_desk\",table=\"public.guests\"} 5",
        "trailmask_rows_returned_total{role=\"front_desk\",table=\"public.rooms\"} 5",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
}

#[test]
fn registering_twice_is_an_error_not_a_panic() {
    let registry = Registry::new();
    PolicyMetrics::register(&registry, &[], &[], &[]).unwrap();
    assert!(PolicyMetrics::register(&registry, &[], &[], &[]).is_err());
}
