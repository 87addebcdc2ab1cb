//! Throughput of the DataRow rewriter on a guests-like row (plain harness, no criterion): 200,000
//! rows of 8 text-format fields, 5 masked (name_zh, phone_tw, email, national_id_tw, year_only)
//! and 3 passed (id, address, created_at), against the same rows through a passthrough plan.
//! The output buffer is drained every 256 rows, as the session's flushes would. Then one masked
//! field at a time, to show what each mask costs.
//! Run: `CARGO_TARGET_DIR=/work/target-release cargo bench --bench rewrite`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use trailmask::mask::{oid, Encoding, FieldAction, Mask};
use trailmask::session::rewrite::ResultPlan;

const ROWS: usize = 200_000;
/// Rows between drains of the output buffer.
const BATCH: usize = 256;
const GUESTS: u32 = 16384;

fn row_description(types: &[u32]) -> Vec<u8> {
    let mut p = (types.len() as i16).to_be_bytes().to_vec();
    for (i, t) in types.iter().enumerate() {
        p.extend_from_slice(format!("f{i}\0").as_bytes());
        p.extend_from_slice(&GUESTS.to_be_bytes());
        p.extend_from_slice(&(i as i16 + 1).to_be_bytes());
        p.extend_from_slice(&t.to_be_bytes());
        p.extend_from_slice(&(-1i16).to_be_bytes());
        p.extend_from_slice(&(-1i32).to_be_bytes());
        p.extend_from_slice(&0i16.to_be_bytes());
    }
    p
}

fn data_row(values: &[&str]) -> Vec<u8> {
    let mut p = (values.len() as i16).to_be_bytes().to_vec();
    for v in values {
        p.extend_from_slice(&(v.len() as i32).to_be_bytes());
        p.extend_from_slice(v.as_bytes());
    }
    p
}

/// 16 distinct guests, so the masks do not see one value over and over.
fn rows() -> Vec<Vec<u8>> {
    const NAMES: [&str; 4] = ["王小明", "陳大文", "司馬中原", "林美"];
    (0..16)
        .map(|i| {
            let id = (1000 + i).to_string();
            let phone = format!("09{:08}", 12_345_678 + i * 1111);
            let email = format!("guest{i}@Example.COM");
            let nid = format!("A1{:08}", 23_456_789 + i);
            let birthday = format!("19{:02}-0{}-1{}", 60 + i, 1 + i % 9, i % 10);
            data_row(&[
                &id,
                NAMES[i % NAMES.len()],
                &phone,
                &email,
                &nid,
                &birthday,
                "台北市信義區信義路五段7號",
                "2024-03-01 10:00:00.123456+08",
            ])
        })
        .collect()
}

fn run(label: &str, plan: &ResultPlan, rows: &[Vec<u8>]) {
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut masked = vec![0u64; plan.fields()];
    let mut bytes_in = 0usize;
    let mut bytes_out = 0usize;
    let start = Instant::now();
    for i in 0..ROWS {
        let row = &rows[i % rows.len()];
        bytes_in += row.len() + 5;
        if let Err(e) = plan.rewrite_data_row(black_box(row), &mut out, &mut masked) {
            panic!("bench row rejected: {e}");
        }
        if i % BATCH == BATCH - 1 {
            bytes_out += out.len();
            black_box(&out);
            out.clear();
        }
    }
    bytes_out += out.len();
    let elapsed = start.elapsed().as_secs_f64();
    let ns_per_row = elapsed * 1e9 / ROWS as f64;
    let mb_s = bytes_in as f64 / elapsed / 1e6;
    println!(
        "{label:<28} {ns_per_row:>8.1} ns/row {mb_s:>8.1} MB/s in ({:.1} MB in, {:.1} MB out, {} values masked)",
        bytes_in as f64 / 1e6,
        bytes_out as f64 / 1e6,
        masked.iter().sum::<u64>(),
    );
}

fn main() {
    let types = [
        oid::INT4,
        oid::TEXT,
        oid::VARCHAR,
        oid::TEXT,
        oid::BPCHAR,
        oid::DATE,
        oid::TEXT,
        oid::TIMESTAMPTZ,
    ];
    let rd = row_description(&types);
    let key = Arc::new([7u8; 32]);
    let masked_actions = vec![
        FieldAction::Pass,
        FieldAction::Mask(Mask::NameZh),
        FieldAction::Mask(Mask::PhoneTw),
        FieldAction::Mask(Mask::Email),
        FieldAction::Mask(Mask::NationalIdTw),
        FieldAction::Mask(Mask::YearOnly),
        FieldAction::Pass,
        FieldAction::Pass,
    ];
    let plan = match ResultPlan::new(&rd, masked_actions, Encoding::Utf8, Arc::clone(&key)) {
        Ok(p) => p,
        Err(e) => panic!("bench plan: {e}"),
    };
    let pass = match ResultPlan::new(&rd, vec![FieldAction::Pass; 8], Encoding::Utf8, key) {
        Ok(p) => p,
        Err(e) => panic!("bench plan: {e}"),
    };
    let rows = rows();
    println!(
        "{ROWS} guests rows, {} bytes each on average",
        rows.iter().map(|r| r.len() + 5).sum::<usize>() / rows.len()
    );
    // One warm-up pass each, then the measured ones.
    run("warm-up", &plan, &rows);
    run("5 masked + 3 passed", &plan, &rows);
    run("passthrough (8 passed)", &pass, &rows);
    // Where the time goes: one masked field at a time, the other seven passed.
    for (field, mask) in [
        (1, Mask::NameZh),
        (2, Mask::PhoneTw),
        (3, Mask::Email),
        (4, Mask::NationalIdTw),
        (5, Mask::YearOnly),
        (6, Mask::Redact),
        (6, Mask::Hash),
    ] {
        let mut actions = vec![FieldAction::Pass; 8];
        actions[field] = FieldAction::Mask(mask);
        let one = match ResultPlan::new(&rd, actions, Encoding::Utf8, Arc::new([7u8; 32])) {
            Ok(p) => p,
            Err(e) => panic!("bench plan: {e}"),
        };
        run(&format!("only field {field} {mask}"), &one, &rows);
    }
}
