//! Tests of the DataRow rewriter: exact outputs for a guests-like row, fail-closed NULLs, malformed
//! input, Bind result formats, and properties over arbitrary rows and payloads.

use std::sync::Arc;

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;
use crate::mask::oid;
use crate::protocol::backend::data_row_fields;

const JSONB: u32 = 3802;
const GUESTS: u32 = 16384;

fn key() -> Arc<[u8; 32]> {
    Arc::new([7u8; 32])
}

/// A RowDescription payload of `(table oid, column, type oid, format)` fields.
fn row_description(fields: &[(u32, i16, u32, i16)]) -> Vec<u8> {
    let mut p = i16::try_from(fields.len()).unwrap().to_be_bytes().to_vec();
    for (i, (table, column, type_oid, format)) in fields.iter().enumerate() {
        p.extend_from_slice(format!("f{i}\0").as_bytes());
        p.extend_from_slice(&table.to_be_bytes());
        p.extend_from_slice(&column.to_be_bytes());
        p.extend_from_slice(&type_oid.to_be_bytes());
        p.extend_from_slice(&(-1i16).to_be_bytes());
        p.extend_from_slice(&(-1i32).to_be_bytes());
        p.extend_from_slice(&format.to_be_bytes());
    }
    p
}

/// A DataRow payload of these values (`None` = NULL).
fn data_row(values: &[Option<&[u8]>]) -> Vec<u8> {
    let mut p = i16::try_from(values.len()).unwrap().to_be_bytes().to_vec();
    for v in values {
        match v {
            None => p.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(v) => {
                p.extend_from_slice(&i32::try_from(v.len()).unwrap().to_be_bytes());
                p.extend_from_slice(v);
            }
        }
    }
    p
}

/// Checks the message frame and returns its field values.
fn values_of(message: &[u8]) -> Vec<Option<Vec<u8>>> {
    assert_eq!(message.first(), Some(&b'D'));
    let len = i32::from_be_bytes(message[1..5].try_into().unwrap());
    assert_eq!(usize::try_from(len).unwrap(), message.len() - 1);
    let payload = &message[5..];
    data_row_fields(payload)
        .unwrap()
        .into_iter()
        .map(|r| r.map(|r| payload[r].to_vec()))
        .collect()
}

fn plan(fields: &[(u32, i16, u32, i16)], actions: Vec<FieldAction>) -> ResultPlan {
    ResultPlan::new(&row_description(fields), actions, Encoding::Utf8, key()).unwrap()
}

fn rewrite(plan: &ResultPlan, values: &[Option<&[u8]>]) -> (Vec<Option<Vec<u8>>>, Vec<u64>) {
    let mut out = BytesMut::new();
    let mut masked = vec![0; plan.fields()];
    plan.rewrite_data_row(&data_row(values), &mut out, &mut masked)
        .unwrap();
    (values_of(&out), masked)
}

fn s(v: &str) -> Option<Vec<u8>> {
    Some(v.as_bytes().to_vec())
}

/// The guests row of the bench: id, name, phone, email, national_id, birthday, address, created_at.
fn guests_plan(format: i16) -> ResultPlan {
    let fields = [
        (GUESTS, 1, oid::INT4, format),
        (GUESTS, 2, oid::TEXT, format),
        (GUESTS, 3, oid::TEXT, format),
        (GUESTS, 4, oid::TEXT, format),
        (GUESTS, 5, oid::TEXT, format),
        (GUESTS, 6, oid::DATE, format),
        (GUESTS, 7, oid::TEXT, format),
        (GUESTS, 8, oid::TIMESTAMPTZ, format),
    ];
    plan(
        &fields,
        vec![
            FieldAction::Pass,
            FieldAction::Mask(Mask::NameZh),
            FieldAction::Mask(Mask::PhoneTw),
            FieldAction::Mask(Mask::Email),
            FieldAction::Mask(Mask::NationalIdTw),
            FieldAction::Mask(Mask::YearOnly),
            FieldAction::Redact,
            FieldAction::Pass,
        ],
    )
}

#[test]
fn masks_a_guests_row_in_text_format() {
    let plan = guests_plan(0);
    assert_eq!(plan.fields(), 8);
    assert!(!plan.is_passthrough());
    let row: [Option<&[u8]>; 8] = [
        Some(b"42"),
        Some("王小明".as_bytes()),
        Some(b"0912345678"),
        Some(b"wang@Example.COM"),
        Some(b"A123456789"),
        Some(b"1990-05-17"),
        Some("台北市信義路五段7號".as_bytes()),
        Some(b"2024-03-01 10:00:00+08"),
    ];
    let (values, masked) = rewrite(&plan, &row);
    assert_eq!(
        values,
        vec![
            s("42"),
            s("王○明"),
            s("0912-***-678"),
            s("w***@example.com"),
            s("A12345****"),
            s("1990-01-01"),
            s("****"),
            s("2024-03-01 10:00:00+08"),
        ]
    );
    assert_eq!(masked, vec![0, 1, 1, 1, 1, 1, 1, 0]);
    // Counts accumulate across rows.
    let mut out = BytesMut::new();
    let mut masked = masked;
    plan.rewrite_data_row(&data_row(&row), &mut out, &mut masked)
        .unwrap();
    assert_eq!(masked, vec![0, 2, 2, 2, 2, 2, 2, 0]);
}

#[test]
fn binary_format_keeps_types_or_gives_null() {
    let plan = guests_plan(1);
    let birthday = 3_000i32.to_be_bytes(); // 2008-03-20
    let created = 1_000_000_000i64.to_be_bytes();
    let row: [Option<&[u8]>; 8] = [
        Some(&42i32.to_be_bytes()),
        Some("王小明".as_bytes()),
        Some(b"0912345678"),
        Some(b"wang@Example.COM"),
        Some(b"A123456789"),
        Some(&birthday),
        Some(b"somewhere"),
        Some(&created),
    ];
    let (values, masked) = rewrite(&plan, &row);
    // 2008-01-01 is 2922 days after 2000-01-01.
    assert_eq!(values[5], Some(2922i32.to_be_bytes().to_vec()));
    assert_eq!(values[0], Some(42i32.to_be_bytes().to_vec()));
    assert_eq!(values[7], Some(created.to_vec()));
    assert_eq!(values[1], s("王○明"));
    assert_eq!(values[6], s("****"));
    assert_eq!(masked, vec![0, 1, 1, 1, 1, 1, 1, 0]);
}

#[test]
fn passthrough_plan_copies_the_row_exactly() {
    let plan = plan(
        &[(GUESTS, 1, oid::INT4, 0), (0, 0, oid::TEXT, 0)],
        vec![FieldAction::Pass, FieldAction::Pass],
    );
    assert!(plan.is_passthrough());
    let payload = data_row(&[Some(b"1"), None]);
    let mut out = BytesMut::from(&b"prefix"[..]);
    let mut masked = [0u64; 2];
    plan.rewrite_data_row(&payload, &mut out, &mut masked)
        .unwrap();
    let mut expected = b"prefixD".to_vec();
    expected.extend_from_slice(&i32::try_from(payload.len() + 4).unwrap().to_be_bytes());
    expected.extend_from_slice(&payload);
    assert_eq!(&out[..], &expected[..]);
    assert_eq!(masked, [0, 0]);
}

#[test]
fn null_stays_null_and_is_not_counted() {
    let plan = plan(
        &[(GUESTS, 2, oid::TEXT, 0), (GUESTS, 7, oid::TEXT, 0)],
        vec![FieldAction::Mask(Mask::NameZh), FieldAction::Redact],
    );
    let (values, masked) = rewrite(&plan, &[None, None]);
    assert_eq!(values, vec![None, None]);
    assert_eq!(masked, vec![0, 0]);
}

#[test]
fn masks_that_cannot_express_the_type_give_null() {
    let plan = plan(
        &[
            (GUESTS, 3, oid::INT4, 1),
            (GUESTS, 4, JSONB, 0),
            (GUESTS, 1, oid::INT4, 0),
            (GUESTS, 7, oid::VARCHAR, 1),
            (GUESTS, 2, oid::TEXT, 0),
        ],
        vec![
            FieldAction::Mask(Mask::PhoneTw),
            FieldAction::Mask(Mask::KeepLast(3)),
            FieldAction::Redact,
            FieldAction::Redact,
            FieldAction::Mask(Mask::Null),
        ],
    );
    let (values, masked) = rewrite(
        &plan,
        &[
            Some(&912_345_678i32.to_be_bytes()),
            Some(br#"{"phone":"0912345678"}"#),
            Some(b"42"),
            Some(b"secret"),
            Some(b"secret"),
        ],
    );
    assert_eq!(values, vec![None, None, None, s("****"), None]);
    assert_eq!(masked, vec![1, 1, 1, 1, 1]);
}

#[test]
fn big5_session_gets_big5_masks() {
    let fields = row_description(&[(GUESTS, 2, oid::TEXT, 0)]);
    let plan = ResultPlan::new(
        &fields,
        vec![FieldAction::Mask(Mask::NameZh)],
        Encoding::Big5,
        key(),
    )
    .unwrap();
    let (name, _, _) = encoding_rs::BIG5.encode("王小明");
    let (expected, _, _) = encoding_rs::BIG5.encode("王○明");
    let (values, _) = rewrite(&plan, &[Some(&name)]);
    assert_eq!(values, vec![Some(expected.to_vec())]);
}

#[test]
fn undecodable_bytes_are_redacted_not_echoed() {
    let plan = plan(
        &[(GUESTS, 2, oid::TEXT, 0)],
        vec![FieldAction::Mask(Mask::KeepLast(3))],
    );
    let (values, _) = rewrite(&plan, &[Some(b"\xff\xfe0912345678")]);
    assert_eq!(values, vec![s("****")]);
}

#[test]
fn field_count_mismatch_is_an_error_and_leaves_out_alone() {
    let plan = guests_plan(0);
    let mut out = BytesMut::from(&b"kept"[..]);
    let mut masked = [0u64; 8];
    let err = plan
        .rewrite_data_row(&data_row(&[Some(b"1"), None]), &mut out, &mut masked)
        .unwrap_err();
    assert_eq!(
        err,
        RewriteError::FieldCount {
            expected: 8,
            found: 2
        }
    );
    assert_eq!(&out[..], b"kept");
    assert_eq!(masked, [0; 8]);
}

#[test]
fn malformed_rows_are_errors() {
    let plan = plan(
        &[(GUESTS, 2, oid::TEXT, 0), (GUESTS, 3, oid::TEXT, 0)],
        vec![
            FieldAction::Mask(Mask::KeepLast(1)),
            FieldAction::Mask(Mask::PhoneTw),
        ],
    );
    let good = data_row(&[Some(b"ab"), Some(b"0912345678")]);
    let mut trailing = good.clone();
    trailing.push(0);
    let mut minus_two = data_row(&[Some(b"ab")]);
    minus_two[1] = 2;
    minus_two.extend_from_slice(&(-2i32).to_be_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("one byte", vec![0]),
        ("negative count", (-1i16).to_be_bytes().to_vec()),
        ("truncated value", good[..good.len() - 1].to_vec()),
        ("truncated length", good[..good.len() - 12].to_vec()),
        ("trailing byte", trailing),
        ("length -2", minus_two),
    ];
    for (what, payload) in cases {
        let mut out = BytesMut::new();
        let mut masked = [0u64; 2];
        let result = plan.rewrite_data_row(&payload, &mut out, &mut masked);
        assert!(result.is_err(), "{what}: {result:?}");
        assert!(out.is_empty(), "{what}");
        assert_eq!(masked, [0, 0], "{what}: a rejected row counts nothing");
    }
    let mut out = BytesMut::new();
    let mut masked = [0u64; 2];
    plan.rewrite_data_row(&good, &mut out, &mut masked).unwrap();
    assert_eq!(masked, [1, 1]);
}

#[test]
fn plan_construction_checks_its_inputs() {
    let rd = row_description(&[(GUESTS, 1, oid::INT4, 0), (GUESTS, 2, oid::TEXT, 0)]);
    assert_eq!(
        ResultPlan::new(&rd, vec![FieldAction::Pass], Encoding::Utf8, key()).unwrap_err(),
        RewriteError::ActionCount {
            fields: 2,
            actions: 1
        }
    );
    assert_eq!(
        ResultPlan::new(&rd[..rd.len() - 1], vec![], Encoding::Utf8, key()).unwrap_err(),
        RewriteError::MalformedRowDescription
    );
    let bad = row_description(&[(GUESTS, 1, oid::INT4, 2)]);
    assert_eq!(
        ResultPlan::new(&bad, vec![FieldAction::Pass], Encoding::Utf8, key()).unwrap_err(),
        RewriteError::BadFormatCode { field: 0, code: 2 }
    );
    let empty = ResultPlan::new(&row_description(&[]), vec![], Encoding::Utf8, key()).unwrap();
    assert_eq!(empty.fields(), 0);
    assert!(empty.is_passthrough());
}

#[test]
fn fields_of_reads_the_row_description() {
    let rd = row_description(&[(GUESTS, 3, oid::TEXT, 1), (0, 0, oid::INT8, 0)]);
    assert_eq!(
        fields_of(&rd).unwrap(),
        vec![
            FieldInfo {
                table_oid: TableOid(GUESTS),
                column: AttNum(3),
                type_oid: TypeOid(oid::TEXT),
                format: Format::Binary,
            },
            FieldInfo {
                table_oid: TableOid(0),
                column: AttNum(0),
                type_oid: TypeOid(oid::INT8),
                format: Format::Text,
            },
        ]
    );
    assert!(fields_of(b"\0").is_err());
}

#[test]
fn with_formats_follows_the_bind_rules() {
    // A statement Describe reports text for every field.
    let plan = plan(
        &[(GUESTS, 6, oid::DATE, 0), (GUESTS, 1, oid::INT4, 0)],
        vec![FieldAction::Mask(Mask::YearOnly), FieldAction::Pass],
    );
    let date = 3_000i32.to_be_bytes();
    let jan1 = 2_922i32.to_be_bytes().to_vec();
    let id = 42i32.to_be_bytes();

    let all_binary = plan.with_formats(&[1]).unwrap();
    let (values, _) = rewrite(&all_binary, &[Some(&date), Some(&id)]);
    assert_eq!(values, vec![Some(jan1.clone()), Some(id.to_vec())]);

    let each = plan.with_formats(&[1, 0]).unwrap();
    let (values, _) = rewrite(&each, &[Some(&date), Some(b"42")]);
    assert_eq!(values, vec![Some(jan1), s("42")]);

    let all_text = each.with_formats(&[]).unwrap();
    let (values, masked) = rewrite(&all_text, &[Some(b"2008-03-20"), Some(b"42")]);
    assert_eq!(values, vec![s("2008-01-01"), s("42")]);
    assert_eq!(masked, vec![1, 0]);

    assert_eq!(
        plan.with_formats(&[0, 1, 0]).unwrap_err(),
        RewriteError::FormatCount {
            fields: 2,
            codes: 3
        }
    );
    assert_eq!(
        plan.with_formats(&[0, 7]).unwrap_err(),
        RewriteError::BadFormatCode { field: 1, code: 7 }
    );
    assert_eq!(
        plan.with_formats(&[-1]).unwrap_err(),
        RewriteError::BadFormatCode { field: 0, code: -1 }
    );
}

#[test]
fn debug_leaves_the_key_out() {
    let plan = ResultPlan::new(
        &row_description(&[(GUESTS, 2, oid::TEXT, 0)]),
        vec![FieldAction::Mask(Mask::Hash)],
        Encoding::Utf8,
        Arc::new([0xab; 32]),
    )
    .unwrap();
    let debug = format!("{plan:?}");
    assert!(debug.contains("Hash"), "{debug}");
    assert!(!debug.contains("171"), "{debug}");
    assert!(!debug.to_lowercase().contains("abab"), "{debug}");
}

// === properties ===

fn any_action() -> impl Strategy<Value = FieldAction> {
    prop_oneof![
        Just(FieldAction::Pass),
        Just(FieldAction::Redact),
        Just(FieldAction::Mask(Mask::Redact)),
        Just(FieldAction::Mask(Mask::Null)),
        (0u16..20).prop_map(|n| FieldAction::Mask(Mask::KeepFirst(n))),
        (0u16..20).prop_map(|n| FieldAction::Mask(Mask::KeepLast(n))),
        Just(FieldAction::Mask(Mask::Email)),
        Just(FieldAction::Mask(Mask::PhoneTw)),
        Just(FieldAction::Mask(Mask::NationalIdTw)),
        Just(FieldAction::Mask(Mask::NameZh)),
        Just(FieldAction::Mask(Mask::SurnameOnly)),
        Just(FieldAction::Mask(Mask::CardLast4)),
        Just(FieldAction::Mask(Mask::YearOnly)),
        Just(FieldAction::Mask(Mask::Hash)),
    ]
}

fn any_type() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(oid::TEXT),
        Just(oid::VARCHAR),
        Just(oid::BPCHAR),
        Just(oid::INT2),
        Just(oid::INT4),
        Just(oid::INT8),
        Just(oid::NUMERIC),
        Just(oid::DATE),
        Just(oid::TIMESTAMPTZ),
        Just(oid::UUID),
        Just(oid::BYTEA),
        Just(JSONB),
        any::<u32>(),
    ]
}

fn any_encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![
        Just(Encoding::Utf8),
        Just(Encoding::Big5),
        Just(Encoding::Other)
    ]
}

/// A value that is not in masked form: letters, digits, CJK, `@`, `-`, `.`, never `*` or `○`.
fn clear_value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9王小明陳大文@.-]{1,24}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_payloads_never_panic(
        fields in prop::collection::vec((any_type(), 0i16..2, any_action()), 0..6),
        encoding in any_encoding(),
        payload in prop::collection::vec(any::<u8>(), 0..96),
    ) {
        let rd = row_description(
            &fields.iter().map(|(t, f, _)| (GUESTS, 1, *t, *f)).collect::<Vec<_>>(),
        );
        let actions = fields.iter().map(|(_, _, a)| *a).collect();
        let plan = ResultPlan::new(&rd, actions, encoding, key()).unwrap();
        let mut out = BytesMut::new();
        let mut masked = vec![0; plan.fields()];
        match plan.rewrite_data_row(&payload, &mut out, &mut masked) {
            Ok(()) => prop_assert_eq!(values_of(&out).len(), plan.fields()),
            Err(_) => prop_assert!(out.is_empty()),
        }
    }

    #[test]
    fn arbitrary_well_framed_values_never_panic(
        cells in prop::collection::vec(
            (any_type(), 0i16..2, any_action(),
             prop::option::of(prop::collection::vec(any::<u8>(), 0..20))),
            0..8,
        ),
        encoding in any_encoding(),
    ) {
        let rd = row_description(
            &cells.iter().map(|(t, f, _, _)| (GUESTS, 1, *t, *f)).collect::<Vec<_>>(),
        );
        let actions = cells.iter().map(|(_, _, a, _)| *a).collect();
        let plan = ResultPlan::new(&rd, actions, encoding, key()).unwrap();
        let values: Vec<Option<&[u8]>> = cells.iter().map(|c| c.3.as_deref()).collect();
        let (out, masked) = rewrite(&plan, &values);
        for (i, (cell, got)) in cells.iter().zip(&out).enumerate() {
            match (cell.2, &cell.3) {
                (FieldAction::Pass, value) => prop_assert_eq!(got, value),
                (_, None) => {
                    prop_assert!(got.is_none());
                    prop_assert_eq!(masked[i], 0);
                }
                (FieldAction::Mask(_) | FieldAction::Redact, Some(_)) => {
                    prop_assert_eq!(masked[i], 1)
                }
            }
        }
    }

    #[test]
    fn masked_text_never_equals_clear_input_and_pass_is_identical(
        cells in prop::collection::vec(
            (any_action(), prop::option::of(clear_value()), 0i16..2),
            1..10,
        ),
    ) {
        let rd = row_description(
            &cells.iter().map(|(_, _, f)| (GUESTS, 2, oid::TEXT, *f)).collect::<Vec<_>>(),
        );
        let actions = cells.iter().map(|(a, _, _)| *a).collect();
        let plan = ResultPlan::new(&rd, actions, Encoding::Utf8, key()).unwrap();
        let values: Vec<Option<&[u8]>> =
            cells.iter().map(|(_, v, _)| v.as_deref().map(str::as_bytes)).collect();
        let (out, masked) = rewrite(&plan, &values);
        prop_assert_eq!(out.len(), cells.len());
        for (i, ((action, value, _), got)) in cells.iter().zip(&out).enumerate() {
            let value = value.as_ref().map(|v| v.as_bytes().to_vec());
            match action {
                FieldAction::Pass => {
                    prop_assert_eq!(got, &value);
                    prop_assert_eq!(masked[i], 0);
                }
                FieldAction::Mask(_) | FieldAction::Redact => match value {
                    None => prop_assert!(got.is_none()),
                    Some(v) => {
                        prop_assert_ne!(got.as_ref(), Some(&v), "{:?}", action);
                        prop_assert_eq!(masked[i], 1);
                    }
                },
            }
        }
    }

    #[test]
    fn extra_or_missing_fields_are_errors(n in 0usize..6, m in 0usize..6) {
        prop_assume!(n != m);
        let plan = plan(
            &vec![(GUESTS, 2, oid::TEXT, 0); n],
            vec![FieldAction::Redact; n],
        );
        let values = vec![Some(&b"x"[..]); m];
        let mut out = BytesMut::new();
        let err = plan
            .rewrite_data_row(&data_row(&values), &mut out, &mut vec![0; n])
            .unwrap_err();
        prop_assert_eq!(err, RewriteError::FieldCount { expected: n, found: m });
        prop_assert!(out.is_empty());
    }
}
