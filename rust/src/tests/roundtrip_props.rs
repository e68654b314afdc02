//! Property tests: random tables survive Bulk CSV in every dialect and any chunking.
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use proptest::prelude::*;

use super::support::{bulk_csv, cells, decode, Cell};
use crate::builder::{BuilderOptions, ChunkBuilder};
use crate::decoder::DecoderOptions;

const DELIMS: [u8; 6] = [b',', b'\t', b'|', b';', b'^', b'`'];

fn cell() -> impl Strategy<Value = Cell> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(String::new())),
        6 => "[a-z\",\r\n\t|;^` \u{e9}\u{1F600}\u{20AC}]{0,12}".prop_map(Some),
    ]
}

fn table() -> impl Strategy<Value = (usize, Vec<Vec<Cell>>)> {
    (1usize..5).prop_flat_map(|ncols| {
        (
            Just(ncols),
            prop::collection::vec(prop::collection::vec(cell(), ncols), 0..12),
        )
    })
}

/// Bulk has no empty string: both empty and null come back as null.
fn expected(rows: &[Vec<Cell>]) -> Vec<Vec<Cell>> {
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|c| c.clone().filter(|s| !s.is_empty()))
                .collect()
        })
        .collect()
}

fn split_at_points(data: &[u8], points: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p % (data.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut last = 0;
    for c in cuts {
        out.push(data[last..c].to_vec());
        last = c;
    }
    out.push(data[last..].to_vec());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn decoder_round_trips_any_table_in_any_chunking(
        (ncols, rows) in table(),
        d in 0usize..6,
        crlf in any::<bool>(),
        points in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let header: Vec<String> = (0..ncols).map(|i| format!("C{i}")).collect();
        let header_refs: Vec<&str> = header.iter().map(|s| s.as_str()).collect();
        let data = bulk_csv(&header_refs, &rows, DELIMS[d], crlf);
        let pieces = split_at_points(&data, &points);
        let piece_refs: Vec<&[u8]> = pieces.iter().map(|p| p.as_slice()).collect();
        let opts = DecoderOptions { delimiter: DELIMS[d], crlf, batch_size: 5, ..Default::default() };
        let got = cells(&decode(opts, &piece_refs).unwrap());
        prop_assert_eq!(got, expected(&rows));
    }

    #[test]
    fn builder_chunks_rejoin_to_the_input(
        (ncols, rows) in table(),
        d in 0usize..6,
        crlf in any::<bool>(),
        max_rows in prop::option::of(1usize..5),
        max_bytes in 60usize..400,
    ) {
        let columns: Vec<(String, ArrayRef)> = (0..ncols)
            .map(|c| {
                let values: Vec<Option<&str>> = rows.iter().map(|r| r[c].as_deref()).collect();
                (format!("C{c}"), Arc::new(StringArray::from(values)) as ArrayRef)
            })
            .collect();
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let opts = BuilderOptions { delimiter: DELIMS[d], crlf, max_bytes, max_rows, null_as_na: false };
        let mut b = ChunkBuilder::new(opts).unwrap();
        let mut chunks = Vec::new();
        if b.push(&batch, &mut chunks).is_err() {
            // Only a single row too large for max_bytes may fail.
            return Ok(());
        }
        chunks.extend(b.finish());
        let mut all = Vec::new();
        let mut next = 0u64;
        for c in &chunks {
            prop_assert!(c.data.len() <= max_bytes);
            prop_assert!(c.data.starts_with(b.header()));
            prop_assert_eq!(c.start, next);
            if let Some(m) = max_rows { prop_assert!((c.stop - c.start) as usize <= m); }
            next = c.stop;
            let opts = DecoderOptions { delimiter: DELIMS[d], crlf, ..Default::default() };
            all.extend(cells(&decode(opts, &[&c.data]).unwrap()));
        }
        prop_assert_eq!(next as usize, rows.len());
        prop_assert_eq!(all, expected(&rows));
    }
}
