//! Rough throughput probes (ignored by default): `cargo test --release -- --ignored speed`.
use std::time::Instant;

use crate::decoder::{Decoder, DecoderOptions};
use crate::types::{SfType, TypeMap};

fn data() -> Option<Vec<u8>> {
    std::fs::read(std::env::var("SFBULK_SPEED_FILE").ok()?).ok()
}

#[test]
#[ignore]
fn speed_csv_core_alone() {
    let Some(data) = data() else { return };
    let mut rdr = csv_core::Reader::new();
    let mut out = vec![0u8; 1 << 20];
    let mut ends = vec![0usize; 64];
    let t = Instant::now();
    let mut input = &data[..];
    let mut records = 0;
    loop {
        let (res, nin, _, _) = rdr.read_record(input, &mut out, &mut ends);
        input = &input[nin..];
        match res {
            csv_core::ReadRecordResult::Record => records += 1,
            csv_core::ReadRecordResult::End => break,
            _ => {}
        }
    }
    let s = t.elapsed().as_secs_f64();
    eprintln!(
        "csv-core alone: {records} records, {:.0} MB/s",
        data.len() as f64 / 1e6 / s
    );
}

#[test]
#[ignore]
fn speed_decoder() {
    let Some(data) = data() else { return };
    for typed in [false, true] {
        let types = if typed {
            TypeMap::new(vec![
                ("AnnualRevenue".into(), SfType::Double),
                ("NumberOfEmployees".into(), SfType::Int),
                ("IsDeleted".into(), SfType::Boolean),
                ("CreatedDate".into(), SfType::DateTime),
                ("LastModifiedDate".into(), SfType::DateTime),
                ("LastActivityDate".into(), SfType::Date),
            ])
        } else {
            TypeMap::default()
        };
        let t = Instant::now();
        let mut d = Decoder::new(DecoderOptions {
            types,
            ..Default::default()
        })
        .unwrap();
        let mut rows = 0;
        // Streaming: batches are dropped as they come, as a Parquet sink would.
        for piece in data.chunks(1 << 20) {
            for b in d.feed(piece).unwrap() {
                rows += b.num_rows();
            }
        }
        for b in d.finish().unwrap() {
            rows += b.num_rows();
        }
        let s = t.elapsed().as_secs_f64();
        eprintln!(
            "decoder typed={typed}: {rows} rows, {:.0} MB/s",
            data.len() as f64 / 1e6 / s
        );
    }
}

#[test]
#[ignore]
fn speed_parquet_sink() {
    let Some(data) = data() else { return };
    let src = std::env::var("SFBULK_SPEED_FILE").unwrap();
    for codec in ["zstd", "snappy", "none"] {
        let out = std::env::temp_dir().join(format!("sfbulk_speed_{codec}.parquet"));
        let t = Instant::now();
        let rows = crate::pipeline::csv_file_to_parquet(
            std::path::Path::new(&src),
            &out,
            DecoderOptions::default(),
            crate::parquet_sink::compression(codec).unwrap(),
        )
        .unwrap();
        let s = t.elapsed().as_secs_f64();
        let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        eprintln!(
            "csv → parquet ({codec}): {rows} rows, {:.0} MB/s, file {:.1} MB",
            data.len() as f64 / 1e6 / s,
            size as f64 / 1e6
        );
        let _ = std::fs::remove_file(out);
    }
}
