//! Unit and property tests of the masks and of error scrubbing.

use bytes::Bytes;
use proptest::prelude::*;

use super::message::scrub_error_fields;
use super::*;

const KEY: [u8; 32] = [7; 32];

fn ctx(type_oid: u32, format: Format, encoding: Encoding) -> MaskCtx<'static> {
    MaskCtx {
        type_oid,
        format,
        encoding,
        hash_key: &KEY,
    }
}

/// Masks a UTF-8 text value in text format.
fn t(mask: &str, value: &str) -> Option<String> {
    let mask: Mask = mask.parse().unwrap();
    apply(
        &mask,
        value.as_bytes(),
        &ctx(oid::TEXT, Format::Text, Encoding::Utf8),
    )
    .map(|b| String::from_utf8(b.to_vec()).unwrap())
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

#[test]
fn parses_and_displays_every_mask() {
    for name in [
        "redact",
        "null",
        "keep_first(2)",
        "keep_last(3)",
        "email",
        "phone_tw",
        "national_id_tw",
        "name_zh",
        "surname_only",
        "card_last4",
        "year_only",
        "hash",
    ] {
        let mask: Mask = name.parse().unwrap();
        assert_eq!(mask.to_string(), name);
    }
    assert_eq!("keep_last( 3 )".parse::<Mask>(), Ok(Mask::KeepLast(3)));
}

#[test]
fn rejects_unknown_and_malformed_names() {
    let e = "phonetw".parse::<Mask>().unwrap_err().to_string();
    assert!(e.contains("unknown mask \"phonetw\""), "{e}");
    assert!(e.contains("keep_last(n)"), "{e}");
    for bad in [
        "keep_last",
        "keep_last()",
        "keep_last(-1)",
        "keep_first(70000)",
        "keep_last(3",
    ] {
        let e = bad.parse::<Mask>().unwrap_err().to_string();
        assert!(e.contains("whole number"), "{bad}: {e}");
    }
}

#[test]
fn encodings_and_formats_from_the_protocol() {
    assert_eq!(Encoding::from_pg_name("UTF8"), Encoding::Utf8);
    assert_eq!(Encoding::from_pg_name("utf-8"), Encoding::Utf8);
    assert_eq!(Encoding::from_pg_name("BIG5"), Encoding::Big5);
    assert_eq!(Encoding::from_pg_name("WIN950"), Encoding::Big5);
    assert_eq!(Encoding::from_pg_name("SJIS"), Encoding::Other);
    assert_eq!(Encoding::from_pg_name("SQL_ASCII"), Encoding::Other);
    assert_eq!(Format::from_code(0), Some(Format::Text));
    assert_eq!(Format::from_code(1), Some(Format::Binary));
    assert_eq!(Format::from_code(2), None);
}

#[test]
fn redact_and_null() {
    assert_eq!(t("redact", "台北市信義路五段7號"), s("****"));
    assert_eq!(t("null", "x"), None);
    let int = ctx(oid::INT4, Format::Binary, Encoding::Utf8);
    assert_eq!(apply(&Mask::Redact, &42i32.to_be_bytes(), &int), None);
}

#[test]
fn keep_first_and_last() {
    assert_eq!(t("keep_last(3)", "M12345678"), s("******678"));
    assert_eq!(t("keep_first(2)", "M12345678"), s("M1*******"));
    // Shorter than n: still hides one character.
    assert_eq!(t("keep_last(3)", "ab"), s("*b"));
    assert_eq!(t("keep_first(5)", "abc"), s("ab*"));
    assert_eq!(t("keep_first(0)", "abc"), s("***"));
    assert_eq!(t("keep_last(2)", "王小明"), s("*小明"));
    assert_eq!(t("keep_last(2)", ""), s("****"));
}

#[test]
fn email() {
    assert_eq!(t("email", "wang@Example.COM"), s("w***@example.com"));
    assert_eq!(t("email", "a@x.tw"), s("*@x.tw"));
    assert_eq!(t("email", "first.last@a@b.com"), s("f***********@b.com"));
    assert_eq!(t("email", "not-an-address"), s("n*************"));
}

#[test]
fn phone_tw() {
    assert_eq!(t("phone_tw", "0912345678"), s("0912-***-678"));
    assert_eq!(t("phone_tw", "0912-345-678"), s("0912-***-678"));
    assert_eq!(t("phone_tw", "+886 912 345 678"), s("0912-***-678"));
    assert_eq!(t("phone_tw", "(02) 2345-6789"), s("02-*****789"));
    assert_eq!(t("phone_tw", "+886-2-2345-6789 #123"), s("02-*****789"));
    assert_eq!(t("phone_tw", "037-123456"), s("037-***456"));
    assert_eq!(t("phone_tw", "0826-12345"), s("0826-**345"));
    assert_eq!(t("phone_tw", "07-1234567"), s("07-****567"));
    assert_eq!(t("phone_tw", "+1 415 555 0100"), s("********100"));
    assert_eq!(t("phone_tw", "n/a"), s("****"));
    assert_eq!(t("phone_tw", "Tel: 0912-345-678"), s("0912-***-678"));
    assert_eq!(t("phone_tw", "Fax 02 2345 6789 ext. 12"), s("02-*****789"));
    assert_eq!(t("phone_tw", "02-2345-6789分機 305"), s("02-*****789"));
    assert_eq!(t("phone_tw", "0912345678, 0922333444"), s("0912-***-678"));
}

#[test]
fn national_id_tw() {
    assert_eq!(t("national_id_tw", "A123456789"), s("A12345****"));
    assert_eq!(t("national_id_tw", "AB12345678"), s("AB1234****"));
    assert_eq!(t("national_id_tw", "A812345678"), s("A81234****"));
    assert_eq!(t("national_id_tw", "A12"), s("***"));
    assert_eq!(t("national_id_tw", "A12345678901234"), s("A12345*********"));
}

#[test]
fn names() {
    assert_eq!(t("name_zh", "王小明"), s("王○明"));
    assert_eq!(t("name_zh", "王明"), s("王○"));
    assert_eq!(t("name_zh", "司馬中原"), s("司○○原"));
    assert_eq!(t("name_zh", "明"), s("○"));
    assert_eq!(t("name_zh", "John Smith"), s("J*** S****"));
    assert_eq!(t("name_zh", "Mary-Jane O'Neil"), s("M***-**** O'****"));
    assert_eq!(t("name_zh", "J S"), s("* *"));
    assert_eq!(t("surname_only", "王小明"), s("王○○"));
    assert_eq!(t("surname_only", "王"), s("○"));
    assert_eq!(t("surname_only", "John Smith"), s("J*** *****"));
}

#[test]
fn card_last4() {
    assert_eq!(t("card_last4", "4111111111111234"), s("************1234"));
    assert_eq!(
        t("card_last4", "4111 1111 1111 1234"),
        s("************1234")
    );
    assert_eq!(t("card_last4", "1234"), s("****"));
}

#[test]
fn string_masks_give_null_for_non_text_types() {
    let c = ctx(oid::INT8, Format::Text, Encoding::Utf8);
    assert_eq!(apply(&Mask::PhoneTw, b"912345678", &c), None);
    let c = ctx(oid::DATE, Format::Binary, Encoding::Utf8);
    assert_eq!(apply(&Mask::KeepLast(2), &0i32.to_be_bytes(), &c), None);
}

#[test]
fn bpchar_padding_is_not_masked() {
    let c = ctx(oid::BPCHAR, Format::Text, Encoding::Utf8);
    let out = apply(&Mask::NationalIdTw, b"A123456789  ", &c).unwrap();
    assert_eq!(&out[..], b"A12345****");
}

#[test]
fn big5_values_are_masked_in_big5() {
    let (big5, _, _) = encoding_rs::BIG5.encode("王小明");
    let c = ctx(oid::VARCHAR, Format::Text, Encoding::Big5);
    let out = apply(&Mask::NameZh, &big5, &c).unwrap();
    let (expected, _, unmappable) = encoding_rs::BIG5.encode("王○明");
    assert!(!unmappable);
    assert_eq!(&out[..], &expected[..]);
    // Malformed Big5 (a lead byte without its trail byte) is redacted.
    assert_eq!(&apply(&Mask::NameZh, &[0xA4], &c).unwrap()[..], b"****");
}

#[test]
fn other_encodings_mask_ascii_and_redact_the_rest() {
    let c = ctx(oid::TEXT, Format::Text, Encoding::Other);
    assert_eq!(
        &apply(&Mask::KeepLast(3), b"M12345678", &c).unwrap()[..],
        b"******678"
    );
    assert_eq!(
        &apply(&Mask::KeepLast(3), &[0x82, 0xA0, 0x41], &c).unwrap()[..],
        b"****"
    );
    assert_eq!(&apply(&Mask::NameZh, b"Li", &c).unwrap()[..], b"L*");
    assert_eq!(&apply(&Mask::NameZh, b"li wei", &c).unwrap()[..], b"l* w**");
}

#[test]
fn text_values_are_masked_in_binary_format_too() {
    let c = ctx(oid::TEXT, Format::Binary, Encoding::Utf8);
    let out = apply(&Mask::PhoneTw, b"0912345678", &c).unwrap();
    assert_eq!(&out[..], b"0912-***-678");
}

#[test]
fn year_only_text_dates_in_every_datestyle() {
    let c = ctx(oid::DATE, Format::Text, Encoding::Utf8);
    let y = |v: &str| apply(&Mask::YearOnly, v.as_bytes(), &c).map(|b| b.to_vec());
    assert_eq!(y("1990-05-17"), Some(b"1990-01-01".to_vec()));
    assert_eq!(y("0044-03-15 BC"), Some(b"0044-01-01 BC".to_vec()));
    assert_eq!(y("05/17/1990"), Some(b"01/01/1990".to_vec()));
    assert_eq!(y("17.05.1990"), Some(b"01.01.1990".to_vec()));
    assert_eq!(y("17-05-1990"), Some(b"01-01-1990".to_vec()));
    assert_eq!(y("infinity"), None);
    // A date kept in a text column.
    assert_eq!(t("year_only", "1990-05-17"), s("1990-01-01"));
    assert_eq!(t("year_only", "next spring"), s("****"));
}

#[test]
fn year_only_text_timestamps() {
    let c = ctx(oid::TIMESTAMPTZ, Format::Text, Encoding::Utf8);
    let y = |v: &str| apply(&Mask::YearOnly, v.as_bytes(), &c).map(|b| b.to_vec());
    assert_eq!(
        y("1990-05-17 13:45:12.5+08"),
        Some(b"1990-01-01 00:00:00+08".to_vec())
    );
    assert_eq!(
        y("1990-05-17 13:45:12-03:30"),
        Some(b"1990-01-01 00:00:00-03:30".to_vec())
    );
    assert_eq!(y("Thu May 17 13:45:12 1990 CST"), None);
    let c = ctx(oid::TIMESTAMP, Format::Text, Encoding::Utf8);
    let out = apply(&Mask::YearOnly, b"2001-12-31 23:59:59", &c).unwrap();
    assert_eq!(&out[..], b"2001-01-01 00:00:00");
}

#[test]
fn year_only_binary_date_and_timestamp() {
    let c = ctx(oid::DATE, Format::Binary, Encoding::Utf8);
    // 1990-05-17 is 3516 days before 2000-01-01; 1990-01-01 is 3652 days before.
    let out = apply(&Mask::YearOnly, &(-3516i32).to_be_bytes(), &c).unwrap();
    assert_eq!(&out[..], &(-3652i32).to_be_bytes());
    // 2024-12-31 (leap year): day 9131 -> 2024-01-01 is day 8766.
    let out = apply(&Mask::YearOnly, &9131i32.to_be_bytes(), &c).unwrap();
    assert_eq!(&out[..], &8766i32.to_be_bytes());
    assert_eq!(apply(&Mask::YearOnly, &i32::MAX.to_be_bytes(), &c), None);
    assert_eq!(apply(&Mask::YearOnly, b"abc", &c), None);

    let c = ctx(oid::TIMESTAMP, Format::Binary, Encoding::Utf8);
    let usecs = 9131i64 * 86_400_000_000 + 3_600_000_000;
    let out = apply(&Mask::YearOnly, &usecs.to_be_bytes(), &c).unwrap();
    assert_eq!(&out[..], &(8766i64 * 86_400_000_000).to_be_bytes());
    // Before the epoch: 1999-12-31 23:00 -> 1999-01-01.
    let out = apply(&Mask::YearOnly, &(-3_600_000_000i64).to_be_bytes(), &c).unwrap();
    assert_eq!(&out[..], &(-365i64 * 86_400_000_000).to_be_bytes());
}

#[test]
fn calendar_round_trips() {
    for days in (-800_000i64..800_000).step_by(997) {
        let (y, m, d) = date::civil_from_days(days);
        assert_eq!(date::days_from_civil(y, i64::from(m), i64::from(d)), days);
    }
    assert_eq!(date::civil_from_days(0), (2000, 1, 1));
    assert_eq!(date::civil_from_days(59), (2000, 2, 29));
}

#[test]
fn hash_is_keyed_stable_and_typed() {
    let text = ctx(oid::TEXT, Format::Text, Encoding::Utf8);
    let a = apply(&Mask::Hash, b"A123456789", &text).unwrap();
    assert_eq!(a.len(), 64);
    assert_eq!(
        a,
        blake3::keyed_hash(&KEY, b"A123456789").to_hex().as_bytes()
    );
    // Same value through Big5, binary format and bpchar padding: same hash (joins work).
    let big5 = ctx(oid::BPCHAR, Format::Binary, Encoding::Big5);
    assert_eq!(apply(&Mask::Hash, b"A123456789 ", &big5).unwrap(), a);
    let other_key = [8u8; 32];
    let mut c2 = text;
    c2.hash_key = &other_key;
    assert_ne!(apply(&Mask::Hash, b"A123456789", &c2).unwrap(), a);

    // Integers hash by value in both formats and stay integers.
    let int8_text = ctx(oid::INT8, Format::Text, Encoding::Utf8);
    let int8_bin = ctx(oid::INT8, Format::Binary, Encoding::Utf8);
    let ht = apply(&Mask::Hash, b"912345678", &int8_text).unwrap();
    let hb = apply(&Mask::Hash, &912_345_678i64.to_be_bytes(), &int8_bin).unwrap();
    let n: i64 = std::str::from_utf8(&ht).unwrap().parse().unwrap();
    assert!(n >= 0);
    assert_eq!(&hb[..], &n.to_be_bytes());
    let int4_bin = ctx(oid::INT4, Format::Binary, Encoding::Utf8);
    assert_eq!(
        apply(&Mask::Hash, &7i32.to_be_bytes(), &int4_bin)
            .unwrap()
            .len(),
        4
    );
    assert_eq!(apply(&Mask::Hash, b"xyz", &int8_bin), None);

    let uuid = ctx(oid::UUID, Format::Text, Encoding::Utf8);
    let u = apply(&Mask::Hash, b"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", &uuid).unwrap();
    assert_eq!(u.len(), 36);
    let uuid_bin = ctx(oid::UUID, Format::Binary, Encoding::Utf8);
    let raw = [
        0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a,
        0x11,
    ];
    let ub = apply(&Mask::Hash, &raw, &uuid_bin).unwrap();
    assert_eq!(ub.len(), 16);
    let expected = blake3::keyed_hash(&KEY, b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    assert_eq!(&ub[..], &expected.as_bytes()[..16]);

    let bytea = ctx(oid::BYTEA, Format::Text, Encoding::Utf8);
    let bytea_bin = ctx(oid::BYTEA, Format::Binary, Encoding::Utf8);
    let bt = apply(&Mask::Hash, b"\\x0102ff", &bytea).unwrap();
    let bb = apply(&Mask::Hash, &[1, 2, 255], &bytea_bin).unwrap();
    assert_eq!(&bt[..2], b"\\x");
    assert_eq!(bt.len(), 66);
    assert_eq!(
        &bt[2..],
        blake3::keyed_hash(&KEY, &bb_input()).to_hex().as_bytes()
    );
    assert_eq!(&bb[..], blake3::keyed_hash(&KEY, &bb_input()).as_bytes());

    let date = ctx(oid::DATE, Format::Text, Encoding::Utf8);
    assert_eq!(apply(&Mask::Hash, b"1990-05-17", &date), None);
}

fn bb_input() -> Vec<u8> {
    vec![1, 2, 255]
}

// === error and notice scrubbing ===

/// Builds an ErrorResponse body from (field, value) pairs.
fn body(fields: &[(u8, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (f, v) in fields {
        out.push(*f);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out.push(0);
    out
}

#[test]
fn scrubs_a_failed_cast() {
    let input = body(&[
        (b'S', "ERROR"),
        (b'V', "ERROR"),
        (b'C', "22P02"),
        (
            b'M',
            "invalid input syntax for type integer: \"A123456789\"",
        ),
        (b'P', "8"),
        (
            b'W',
            "SQL function \"f\" statement 1: SELECT 'A123456789'::int",
        ),
        (b'F', "numutils.c"),
        (b'L', "232"),
        (b'R', "pg_strtoint32_safe"),
    ]);
    let expected = body(&[
        (b'S', "ERROR"),
        (b'V', "ERROR"),
        (b'C', "22P02"),
        (b'M', "invalid input syntax for type integer: \"****\""),
        (b'P', "8"),
        (b'F', "numutils.c"),
        (b'L', "232"),
        (b'R', "pg_strtoint32_safe"),
    ]);
    assert_eq!(scrub_error_fields(&input), Bytes::from(expected));
}

#[test]
fn scrubs_a_unique_violation() {
    let input = body(&[
        (b'S', "ERROR"),
        (b'V', "ERROR"),
        (b'C', "23505"),
        (
            b'M',
            "duplicate key value violates unique constraint \"guests_national_id_key\"",
        ),
        (b'D', "Key (national_id)=(A123456789) already exists."),
        (b's', "public"),
        (b't', "guests"),
        (b'n', "guests_national_id_key"),
        (b'F', "nbtinsert.c"),
    ]);
    let expected = body(&[
        (b'S', "ERROR"),
        (b'V', "ERROR"),
        (b'C', "23505"),
        (
            b'M',
            "duplicate key value violates unique constraint \"****\"",
        ),
        (b's', "public"),
        (b't', "guests"),
        (b'n', "guests_national_id_key"),
        (b'F', "nbtinsert.c"),
    ]);
    assert_eq!(scrub_error_fields(&input), Bytes::from(expected));
}

#[test]
fn scrubs_key_values_single_quotes_and_translations() {
    let m = |s: &str| String::from_utf8(message::scrub_message(s.as_bytes())).unwrap();
    assert_eq!(
        m("conflicting key value: Key (phone)=(0912 (mobile)) exists"),
        "conflicting key value: Key (phone)=(****) exists"
    );
    assert_eq!(m("value 'A123' and \"B\""), "value '****' and \"****\"");
    assert_eq!(m("語法無效: 「A123456789」"), "語法無效: 「****」");
    assert_eq!(m("unterminated \"A1234"), "unterminated \"****");
    assert_eq!(m("no quotes here"), "no quotes here");
}

#[test]
fn drops_hint_detail_internal_query_and_unknown_fields() {
    let input = body(&[
        (b'S', "NOTICE"),
        (b'H', "hint 0912345678"),
        (b'p', "3"),
        (b'q', "SELECT 'A123456789'"),
        (b'Z', "future field"),
        (b'M', "plain"),
    ]);
    let expected = body(&[(b'S', "NOTICE"), (b'M', "plain")]);
    assert_eq!(scrub_error_fields(&input), Bytes::from(expected));
}

#[test]
fn malformed_bodies_yield_well_formed_output() {
    assert_eq!(&scrub_error_fields(b"")[..], b"\0");
    assert_eq!(
        &scrub_error_fields(b"SERROR\0Mno terminator")[..],
        b"SERROR\0\0"
    );
}

// === properties ===

const STRING_MASKS: &[Mask] = &[
    Mask::Redact,
    Mask::KeepFirst(0),
    Mask::KeepFirst(3),
    Mask::KeepLast(3),
    Mask::KeepLast(40),
    Mask::Email,
    Mask::PhoneTw,
    Mask::NationalIdTw,
    Mask::NameZh,
    Mask::SurnameOnly,
    Mask::CardLast4,
    Mask::Hash,
];

const ALL_MASKS: &[Mask] = &[
    Mask::Redact,
    Mask::Null,
    Mask::KeepFirst(2),
    Mask::KeepLast(3),
    Mask::Email,
    Mask::PhoneTw,
    Mask::NationalIdTw,
    Mask::NameZh,
    Mask::SurnameOnly,
    Mask::CardLast4,
    Mask::YearOnly,
    Mask::Hash,
];

const OIDS: &[u32] = &[
    oid::TEXT,
    oid::VARCHAR,
    oid::BPCHAR,
    oid::NAME,
    oid::DATE,
    oid::TIMESTAMP,
    oid::TIMESTAMPTZ,
    oid::INT2,
    oid::INT4,
    oid::INT8,
    oid::NUMERIC,
    oid::UUID,
    oid::BYTEA,
    oid::CHAR,
    3802,
];

fn valid_in(bytes: &[u8], encoding: Encoding) -> bool {
    match encoding {
        Encoding::Utf8 => std::str::from_utf8(bytes).is_ok(),
        Encoding::Big5 => encoding_rs::BIG5
            .decode_without_bom_handling_and_without_replacement(bytes)
            .is_some(),
        Encoding::Other => bytes.is_ascii(),
    }
}

/// An input that is not already in masked form: no fill or hidden-name characters.
fn unmasked_text() -> impl Strategy<Value = String> {
    "[^*○]{1,40}"
}

proptest! {
    #[test]
    fn any_bytes_never_panic_and_stay_valid(
        value in proptest::collection::vec(any::<u8>(), 0..64),
        mask in proptest::sample::select(ALL_MASKS),
        type_oid in proptest::sample::select(OIDS),
        binary in any::<bool>(),
        encoding in proptest::sample::select(&[Encoding::Utf8, Encoding::Big5, Encoding::Other][..]),
    ) {
        let format = if binary { Format::Binary } else { Format::Text };
        let c = ctx(type_oid, format, encoding);
        if let Some(out) = apply(&mask, &value, &c) {
            if matches!(type_oid, oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME) {
                prop_assert!(valid_in(&out, encoding), "{mask} gave {out:?}");
            }
            match (type_oid, format) {
                (oid::INT2, Format::Binary) => prop_assert_eq!(out.len(), 2),
                (oid::INT4 | oid::DATE, Format::Binary) => prop_assert_eq!(out.len(), 4),
                (oid::INT8 | oid::TIMESTAMP | oid::TIMESTAMPTZ, Format::Binary) => {
                    prop_assert_eq!(out.len(), 8)
                }
                (oid::UUID, Format::Binary) => prop_assert_eq!(out.len(), 16),
                (oid::INT2 | oid::INT4 | oid::INT8 | oid::NUMERIC, Format::Text) => {
                    let s = std::str::from_utf8(&out).unwrap();
                    prop_assert!(s.parse::<i64>().is_ok(), "{s}");
                }
                (oid::CHAR | 3802, _) => prop_assert!(false, "unknown types must be NULL"),
                _ => {}
            }
        }
    }

    #[test]
    fn string_masks_never_return_their_input(
        value in unmasked_text(),
        mask in proptest::sample::select(STRING_MASKS),
        encoding in proptest::sample::select(&[Encoding::Utf8, Encoding::Big5][..]),
        oid in proptest::sample::select(&[oid::TEXT, oid::VARCHAR][..]),
    ) {
        let (input, _, unmappable) = match encoding {
            Encoding::Big5 => encoding_rs::BIG5.encode(&value),
            Encoding::Utf8 | Encoding::Other => encoding_rs::UTF_8.encode(&value),
        };
        prop_assume!(!unmappable);
        let out = apply(&mask, &input, &ctx(oid, Format::Text, encoding)).unwrap();
        prop_assert_ne!(&out[..], &input[..]);
        prop_assert!(valid_in(&out, encoding));
    }

    #[test]
    fn year_only_always_lands_on_january_first(days in (i32::MIN + 1)..i32::MAX) {
        let c = ctx(oid::DATE, Format::Binary, Encoding::Utf8);
        if let Some(out) = apply(&Mask::YearOnly, &days.to_be_bytes(), &c) {
            let masked = i32::from_be_bytes(out[..].try_into().unwrap());
            let (y, m, d) = date::civil_from_days(i64::from(masked));
            prop_assert_eq!((m, d), (1, 1));
            prop_assert_eq!(y, date::civil_from_days(i64::from(days)).0);
        }
    }

    #[test]
    fn scrubbing_never_panics_and_keeps_no_quoted_text(
        payload in proptest::collection::vec(any::<u8>(), 0..128),
        secret in "[A-Z][0-9]{9}",
    ) {
        let out = scrub_error_fields(&payload);
        prop_assert_eq!(out.last(), Some(&0u8));
        let m = format!("invalid input syntax for type integer: \"{secret}\"");
        let out = scrub_error_fields(&body(&[(b'M', &m), (b'D', &secret), (b'W', &secret)]));
        prop_assert!(!out.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
}

#[test]
fn a_raise_loses_its_text_and_name_fields() {
    let input = b"SNOTICE\0VNOTICE\0C00000\0Mguest 0987654321 changed\0c0987654321\0Fpl_exec.c\0Rexec_stmt_raise\0\0";
    let out = scrub_error_fields(input);
    let text = String::from_utf8_lossy(&out);
    assert!(!text.contains("0987654321"), "{text}");
    assert!(text.contains(super::message::RAISE_HIDDEN));
    assert!(text.contains("C00000"));
}

#[test]
fn byte_sequences_echoed_by_conversion_errors_are_hidden() {
    let input = "SERROR\0VERROR\0C22P05\0Mcharacter with byte sequence 0xe5 0x8f 0xb0 in encoding \"UTF8\" has no equivalent in encoding \"LATIN1\"\0Rreport_untranslatable_char\0\0";
    let out = scrub_error_fields(input.as_bytes());
    let text = String::from_utf8_lossy(&out);
    assert!(!text.contains("0xe5") && !text.contains("0x8f"), "{text}");
    assert!(text.contains("0x** 0x** 0x**"), "{text}");
}
