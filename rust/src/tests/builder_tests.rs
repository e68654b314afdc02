use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};

use crate::builder::{BuilderOptions, ChunkBuilder};

fn sample() -> RecordBatch {
    let cols: Vec<(&str, ArrayRef)> = vec![
        (
            "Name",
            Arc::new(StringArray::from(vec![
                Some("Acme, Inc"),
                Some("plain"),
                None,
                Some("say \"hi\"\nthere"),
            ])),
        ),
        (
            "N",
            Arc::new(Int64Array::from(vec![Some(1), None, Some(-3), Some(4)])),
        ),
        (
            "X",
            Arc::new(Float64Array::from(vec![
                Some(0.1),
                Some(1e-7),
                Some(2e21),
                None,
            ])),
        ),
        (
            "B",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
            ])),
        ),
        (
            "D",
            Arc::new(Date32Array::from(vec![
                Some(19_753),
                None,
                Some(0),
                Some(-1),
            ])),
        ),
        (
            "T",
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    Some(1_706_704_496_789_000),
                    None,
                    Some(0),
                    Some(-1000),
                ])
                .with_timezone("UTC"),
            ),
        ),
    ];
    RecordBatch::try_from_iter(cols).unwrap()
}

fn build(opts: BuilderOptions, batch: &RecordBatch) -> Vec<crate::builder::Chunk> {
    let mut b = ChunkBuilder::new(opts).unwrap();
    let mut out = Vec::new();
    b.push(batch, &mut out).unwrap();
    out.extend(b.finish());
    out
}

#[test]
fn values_use_salesforce_formats_and_quoting() {
    let chunks = build(BuilderOptions::default(), &sample());
    assert_eq!(chunks.len(), 1);
    let text = String::from_utf8(chunks[0].data.clone()).unwrap();
    assert_eq!(
        text,
        "Name,N,X,B,D,T\n\
         \"Acme, Inc\",1,0.1,true,2024-01-31,2024-01-31T12:34:56.789Z\n\
         plain,,0.0000001,false,,\n\
         ,-3,2000000000000000000000,,1970-01-01,1970-01-01T00:00:00.000Z\n\
         \"say \"\"hi\"\"\nthere\",4,,true,1969-12-31,1969-12-31T23:59:59.999Z\n"
    );
    assert_eq!((chunks[0].start, chunks[0].stop), (0, 4));
}

#[test]
fn null_as_na_and_crlf_and_tab() {
    let opts = BuilderOptions {
        null_as_na: true,
        crlf: true,
        delimiter: b'\t',
        ..Default::default()
    };
    let chunks = build(opts, &sample());
    let text = String::from_utf8(chunks[0].data.clone()).unwrap();
    assert!(text.starts_with("Name\tN\tX\tB\tD\tT\r\n"));
    assert!(text.contains("plain\t#N/A\t0.0000001\tfalse\t#N/A\t#N/A\r\n"));
}

#[test]
fn chunks_respect_limits_and_carry_the_header() {
    let batch = sample();
    for max_bytes in [80usize, 100, 140, 1000] {
        for max_rows in [None, Some(1), Some(3)] {
            let opts = BuilderOptions {
                max_bytes,
                max_rows,
                ..Default::default()
            };
            let chunks = build(opts, &batch);
            let mut next = 0;
            for c in &chunks {
                assert!(c.data.len() <= max_bytes, "{} > {max_bytes}", c.data.len());
                assert!(c.data.starts_with(b"Name,N,X,B,D,T\n"));
                assert_eq!(c.start, next);
                assert!(c.stop > c.start);
                if let Some(m) = max_rows {
                    assert!((c.stop - c.start) as usize <= m);
                }
                next = c.stop;
            }
            assert_eq!(next, 4);
        }
    }
}

#[test]
fn a_row_bigger_than_the_limit_is_an_error() {
    let opts = BuilderOptions {
        max_bytes: 30,
        ..Default::default()
    };
    let mut b = ChunkBuilder::new(opts).unwrap();
    let err = b.push(&sample(), &mut Vec::new()).unwrap_err();
    assert!(err.message.contains("max_bytes"));
}

#[test]
fn non_finite_floats_are_refused() {
    let batch = RecordBatch::try_from_iter(vec![(
        "X",
        Arc::new(Float64Array::from(vec![1.0, f64::NAN])) as ArrayRef,
    )])
    .unwrap();
    let mut b = ChunkBuilder::new(BuilderOptions::default()).unwrap();
    let err = b.push(&batch, &mut Vec::new()).unwrap_err();
    assert_eq!(err.row, Some(1));
}

#[test]
fn an_oversized_row_after_small_ones_is_still_an_error() {
    let batch = RecordBatch::try_from_iter(vec![(
        "A",
        Arc::new(StringArray::from(vec![
            Some("x"),
            Some("a much longer value than allowed"),
        ])) as ArrayRef,
    )])
    .unwrap();
    let mut b = ChunkBuilder::new(BuilderOptions {
        max_bytes: 20,
        ..Default::default()
    })
    .unwrap();
    let err = b.push(&batch, &mut Vec::new()).unwrap_err();
    assert!(err.message.contains("max_bytes"), "{}", err.message);
}
