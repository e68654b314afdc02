use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::Array;
use arrow_schema::DataType;

use super::support::{bulk_csv, cells, decode};
use crate::columns::OnError;
use crate::decoder::{Decoder, DecoderOptions};
use crate::error::ErrorKind;
use crate::gzip::GzipMode;
use crate::types::{SfType, TypeMap};

const RECORDED: &[u8] = b"\"Id\",\"Name\",\"Phone\"\n\"0013h00000Ffg18AAB\",\"Boone625 Inc\",\"\"\n\"0013h00000Ffg19AAB\",\"Rodriquez626 Inc\",\"881-222-2391\"\n";

fn typed(entries: &[(&str, SfType)]) -> DecoderOptions {
    DecoderOptions {
        types: TypeMap::new(entries.iter().map(|(n, t)| (n.to_string(), *t)).collect()),
        ..Default::default()
    }
}

#[test]
fn recorded_query_result_decodes_with_null_for_empty_quotes() {
    let batches = decode(DecoderOptions::default(), &[RECORDED]).unwrap();
    let rows = cells(&batches);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0],
        vec![
            Some("0013h00000Ffg18AAB".into()),
            Some("Boone625 Inc".into()),
            None
        ]
    );
    assert_eq!(batches[0].schema().field(0).name(), "Id");
    assert_eq!(
        batches[0].schema().field(0).data_type(),
        &DataType::Utf8View
    );
}

#[test]
fn every_split_point_gives_the_same_rows() {
    let data =
        "\"Id\",\"Note\"\r\n\"1\",\"caf\u{e9} \u{1F600} \"\"q\"\"\r\nnext\"\r\n\"2\",\"\"\r\n"
            .as_bytes();
    let opts = DecoderOptions {
        crlf: true,
        ..Default::default()
    };
    let whole = cells(&decode(opts.clone(), &[data]).unwrap());
    assert_eq!(
        whole[0][1].as_deref(),
        Some("caf\u{e9} \u{1F600} \"q\"\r\nnext")
    );
    for cut in 0..=data.len() {
        let split = cells(&decode(opts.clone(), &[&data[..cut], &data[cut..]]).unwrap());
        assert_eq!(split, whole, "cut at {cut}");
    }
    let bytewise: Vec<&[u8]> = data.chunks(1).collect();
    assert_eq!(cells(&decode(opts, &bytewise).unwrap()), whole);
}

#[test]
fn typed_columns_parse_and_empty_is_null() {
    let data = b"\"N\",\"D\",\"T\",\"B\"\n\"42\",\"2024-01-31\",\"2024-01-31T12:34:56.000+0000\",\"false\"\n\"\",\"\",\"\",\"\"\n";
    let opts = typed(&[
        ("N", SfType::Int),
        ("D", SfType::Date),
        ("T", SfType::DateTime),
        ("B", SfType::Boolean),
    ]);
    let b = &decode(opts, &[data]).unwrap()[0];
    assert_eq!(b.column(0).as_primitive::<Int64Type>().value(0), 42);
    assert_eq!(b.column(1).as_primitive::<Date32Type>().value(0), 19_753);
    assert_eq!(
        b.column(2)
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        1_706_704_496_000_000
    );
    assert_eq!(
        b.schema().field(2).data_type(),
        &DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert!(!b.column(3).as_boolean().value(0));
    for c in 0..4 {
        assert!(b.column(c).is_null(1));
    }
}

#[test]
fn bad_value_names_row_column_and_offset() {
    let data = b"\"Id\",\"N\"\n\"a\",\"1\"\n\"b\",\"x1\"\n";
    let err = decode(typed(&[("N", SfType::Int)]), &[data]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::TypeConversion);
    assert_eq!(err.row, Some(2));
    assert_eq!(err.column.as_deref(), Some("N"));
    assert_eq!(err.byte_offset, Some(17));
    assert!(err.message.contains("on_error='null'"));
}

#[test]
fn null_policy_counts_bad_values() {
    let data = b"\"N\"\n\"1\"\n\"x\"\n\"y\"\n";
    let mut opts = typed(&[("N", SfType::Int)]);
    opts.on_error = OnError::Null;
    let mut d = Decoder::new(opts).unwrap();
    let mut out = d.feed(data).unwrap();
    out.extend(d.finish().unwrap());
    assert_eq!(d.nulled(), 2);
    assert_eq!(out[0].column(0).null_count(), 2);
}

#[test]
fn wrong_field_count_and_unterminated_quote_are_errors() {
    let err = decode(
        DecoderOptions::default(),
        &[b"\"A\",\"B\"\n\"1\",\"2\"\n\"3\"\n"],
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::CsvFormat);
    assert_eq!(err.row, Some(2));
    assert_eq!(err.byte_offset, Some(16));
    let err = decode(DecoderOptions::default(), &[b"\"A\"\n\"1\"\n\"oops\n"]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::CsvFormat);
    assert_eq!(err.row, Some(2));
    assert!(err.message.contains("never closed"));
    // A missing final newline is fine.
    assert_eq!(
        cells(&decode(DecoderOptions::default(), &[b"\"A\"\n\"1\""]).unwrap()).len(),
        1
    );
}

#[test]
fn invalid_utf8_is_reported_even_when_split_mid_character() {
    let err = decode(
        DecoderOptions::default(),
        &[b"\"A\"\n\"ok\"\n\"bad \xff\"\n"],
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Utf8);
    assert_eq!(err.row, Some(2));
    // A valid character split across chunks is not an error.
    let euro = "\"A\"\n\"\u{20AC}\"\n".as_bytes();
    let rows = cells(&decode(DecoderOptions::default(), &[&euro[..6], &euro[6..]]).unwrap());
    assert_eq!(rows[0][0].as_deref(), Some("\u{20AC}"));
}

#[test]
fn bom_nul_bytes_and_repeated_headers_are_handled() {
    let mut data = b"\xEF\xBB\xBF\"Id\",\"Name\"\n\"1\",\"a\x00b\"\n".to_vec();
    data.extend_from_slice(b"\"Id\",\"Name\"\n\"2\",\"c\"\n");
    for cut in 0..data.len() {
        let rows =
            cells(&decode(DecoderOptions::default(), &[&data[..cut], &data[cut..]]).unwrap());
        assert_eq!(
            rows,
            vec![
                vec![Some("1".into()), Some("ab".into())],
                vec![Some("2".into()), Some("c".into())]
            ],
            "cut at {cut}"
        );
    }
}

#[test]
fn joined_pages_that_each_start_with_a_bom_skip_every_repeated_header() {
    // Typed, so a header row taken for data would fail to convert.
    let page = |id: &str, n: &str| format!("\u{FEFF}\"Id\",\"N\"\n\"{id}\",\"{n}\"\n");
    let unquoted = "\u{FEFF}Id,N\n\"5\",\"6\"\n";
    let data = format!("{}{}{}", page("1", "2"), page("3", "4"), unquoted).into_bytes();
    for cut in 0..=data.len() {
        let batches = decode(typed(&[("N", SfType::Int)]), &[&data[..cut], &data[cut..]]).unwrap();
        let ids: Vec<_> = cells(&batches)
            .into_iter()
            .map(|r| r[0].clone().unwrap())
            .collect();
        assert_eq!(ids, ["1", "3", "5"], "cut at {cut}");
    }
    // A data row that merely starts with a BOM is still data.
    let rows = cells(
        &decode(
            DecoderOptions::default(),
            &["\"Id\"\n\u{FEFF}\"Idx\"\n".as_bytes()],
        )
        .unwrap(),
    );
    assert_eq!(rows.len(), 1);
}

#[test]
fn pages_each_with_header_bom_and_gzip() {
    use flate2::write::GzEncoder;
    use std::io::Write;
    let page1 = b"\xEF\xBB\xBF\"Id\"\n\"1\"\n\"2\"".to_vec(); // no final newline
    let page2 = b"\"Id\"\n\"3\"\n".to_vec();
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&page2).unwrap();
    let page2 = gz.finish().unwrap();
    let mut d = Decoder::new(DecoderOptions {
        gzip: GzipMode::Auto,
        ..Default::default()
    })
    .unwrap();
    let mut out = d.feed(&page1).unwrap();
    out.extend(d.end_page().unwrap());
    out.extend(d.feed(&page2).unwrap());
    out.extend(d.finish().unwrap());
    let rows: Vec<_> = cells(&out)
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    assert_eq!(rows, ["1", "2", "3"]);
    assert_eq!(d.pages(), 2);
}

#[test]
fn a_page_with_other_columns_is_rejected() {
    let mut d = Decoder::new(DecoderOptions::default()).unwrap();
    d.feed(b"\"Id\"\n\"1\"\n").unwrap();
    d.end_page().unwrap();
    let err = d.feed(b"\"Name\"\n\"x\"\n").unwrap_err();
    assert_eq!(err.kind, ErrorKind::CsvFormat);
    assert_eq!(err.row, Some(0));
}

#[test]
fn batches_respect_batch_size_and_zero_rows_keep_the_schema() {
    let rows: Vec<Vec<Option<String>>> = (0..10).map(|i| vec![Some(i.to_string())]).collect();
    let data = bulk_csv(&["N"], &rows, b',', false);
    let opts = DecoderOptions {
        batch_size: 3,
        ..typed(&[("N", SfType::Int)])
    };
    let batches = decode(opts, &[&data]).unwrap();
    let sizes: Vec<usize> = batches.iter().map(|b| b.num_rows()).collect();
    assert_eq!(sizes, [3, 3, 3, 1]);
    let mut d = Decoder::new(typed(&[("N", SfType::Int)])).unwrap();
    assert!(d.feed(b"\"N\"\n").unwrap().is_empty());
    assert!(d.finish().unwrap().is_empty());
    assert_eq!(d.schema().unwrap().field(0).data_type(), &DataType::Int64);
}

#[test]
fn every_bulk_delimiter_and_line_ending_works() {
    let rows = vec![vec![Some("a,b|c;d^e`f\tg".to_string()), None]];
    for delim in [b',', b'\t', b'|', b';', b'^', b'`'] {
        for crlf in [false, true] {
            let data = bulk_csv(&["X", "Y"], &rows, delim, crlf);
            let opts = DecoderOptions {
                delimiter: delim,
                crlf,
                ..Default::default()
            };
            assert_eq!(cells(&decode(opts, &[&data]).unwrap()), rows);
        }
    }
}

#[test]
fn headerless_stream_uses_given_columns() {
    let opts = DecoderOptions {
        has_header: false,
        columns: Some(vec!["A".into(), "B".into()]),
        ..Default::default()
    };
    let rows = cells(&decode(opts, &[b"1,2\n3,\n"]).unwrap());
    assert_eq!(
        rows,
        vec![
            vec![Some("1".into()), Some("2".into())],
            vec![Some("3".into()), None]
        ]
    );
}

#[test]
fn feeding_after_an_error_is_refused() {
    let mut d = Decoder::new(DecoderOptions::default()).unwrap();
    assert!(d.feed(b"\"A\",\"B\"\n\"1\"\n").is_err());
    assert!(d.feed(b"\"1\",\"2\"\n").is_err());
}

#[test]
fn a_crlf_body_declared_lf_loses_no_data_to_stray_carriage_returns() {
    let rows = cells(
        &decode(
            DecoderOptions::default(),
            &[b"\"A\",\"B\"\r\n\"1\",\"x\"\r\n2,y\r\n"],
        )
        .unwrap(),
    );
    assert_eq!(
        rows,
        vec![
            vec![Some("1".into()), Some("x".into())],
            vec![Some("2".into()), Some("y".into())]
        ]
    );
}

#[test]
fn na_reads_as_null_only_when_asked() {
    let data = b"\"N\",\"S\"\n\"#N/A\",\"#N/A\"\n\"4\",\"x\"\n";
    let mut opts = typed(&[("N", SfType::Int)]);
    assert_eq!(
        decode(opts.clone(), &[data]).unwrap_err().kind,
        ErrorKind::TypeConversion
    );
    opts.na_as_null = true;
    let b = &decode(opts, &[data]).unwrap()[0];
    assert!(b.column(0).is_null(0) && b.column(1).is_null(0));
    assert_eq!(b.column(0).as_primitive::<Int64Type>().value(1), 4);
}

#[test]
fn a_header_naming_a_column_twice_is_an_error() {
    let err = decode(
        DecoderOptions::default(),
        &[b"\"A\",\"\",\"\"\n\"1\",\"2\",\"3\"\n"],
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::CsvFormat);
    assert_eq!(err.row, Some(0));
    assert!(err.message.contains("more than once"), "{}", err.message);
    let opts = DecoderOptions {
        has_header: false,
        columns: Some(vec!["A".into(), "A".into()]),
        ..Default::default()
    };
    assert_eq!(Decoder::new(opts).err().unwrap().kind, ErrorKind::Invalid);
}

#[test]
fn repeated_byte_order_marks_split_anywhere_give_one_outcome() {
    let data = b"\xEF\xBB\xBF\xEF\xBB\xBF\"A\"\n\"1\"\n";
    let whole = cells(&decode(DecoderOptions::default(), &[data]).unwrap());
    assert_eq!(whole, vec![vec![Some("1".to_string())]]);
    for cut in 0..=data.len() {
        let batches = decode(DecoderOptions::default(), &[&data[..cut], &data[cut..]]).unwrap();
        assert_eq!(batches[0].schema().field(0).name(), "A", "cut at {cut}");
        assert_eq!(cells(&batches), whole, "cut at {cut}");
    }
}

#[test]
fn a_row_spelling_the_header_is_data_when_asked() {
    let data = b"\xEF\xBB\xBFName,Phone\nName,Phone\nA,1\n";
    let opts = DecoderOptions {
        skip_repeated_headers: false,
        ..Default::default()
    };
    let rows = cells(&decode(opts, &[data]).unwrap());
    assert_eq!(
        rows,
        vec![
            vec![Some("Name".into()), Some("Phone".into())],
            vec![Some("A".into()), Some("1".into())]
        ]
    );
}
