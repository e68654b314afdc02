//! Row digests: the decoder's digest mode and `digest_columns` agree, and tell rows apart.
use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{Array, RecordBatch};

use super::support::decode;
use crate::decoder::DecoderOptions;
use crate::digest::{digest_columns, DigestSpec, RowDigester};
use crate::error::ErrorKind;

const UPLOAD: &[u8] = b"Name,Phone,Site\nAcme,,\"a, \"\"b\"\"\"\n\"multi\nline\",555,x\n";

fn names() -> [String; 2] {
    ["h1".to_string(), "h2".to_string()]
}

fn digest_mode(keys: Option<&[&str]>, keep: &[&str]) -> DecoderOptions {
    DecoderOptions {
        digest: Some(DigestSpec {
            keys: keys.map(|k| k.iter().map(|s| s.to_string()).collect()),
            names: names(),
            keep: keep.iter().map(|s| s.to_string()).collect(),
        }),
        ..Default::default()
    }
}

fn pairs(batch: &RecordBatch) -> Vec<(u64, u64)> {
    let a = batch.column(0).as_primitive::<UInt64Type>();
    let b = batch.column(1).as_primitive::<UInt64Type>();
    (0..batch.num_rows())
        .map(|r| (a.value(r), b.value(r)))
        .collect()
}

#[test]
fn digest_mode_matches_the_digests_of_the_decoded_columns() {
    let decoded = decode(DecoderOptions::default(), &[UPLOAD]).unwrap();
    let from_columns = digest_columns(&decoded[0], &names()).unwrap();
    let digested = decode(digest_mode(None, &[]), &[UPLOAD]).unwrap();
    assert_eq!(digested[0].num_columns(), 2);
    assert_eq!(pairs(&digested[0]), pairs(&from_columns));
    assert_ne!(pairs(&digested[0])[0], pairs(&digested[0])[1]);
}

#[test]
fn keys_are_found_whatever_their_case_and_a_missing_one_counts_as_empty() {
    let by_name = decode(digest_mode(Some(&["site", "NAME", "Fax"]), &[]), &[UPLOAD]).unwrap();
    let mut digester = RowDigester::default();
    let expected = digester.digest([&b"a, \"b\""[..], b"Acme", b""]);
    assert_eq!(pairs(&by_name[0])[0], expected);
}

#[test]
fn kept_columns_are_copied_with_null_for_empty_or_missing() {
    let body = b"sf__Id,sf__Created,Name\n001A,true,Acme\n,false,Beta\n";
    let out = decode(
        digest_mode(Some(&["Name"]), &["sf__Id", "sf__Error"]),
        &[body],
    )
    .unwrap();
    let batch = &out[0];
    assert_eq!(batch.schema().field(2).name(), "sf__Id");
    let ids = batch.column(2).as_string::<i32>();
    assert_eq!(ids.value(0), "001A");
    assert!(ids.is_null(1));
    assert_eq!(batch.column(3).null_count(), 2);
}

#[test]
fn values_are_delimited_in_the_digest() {
    let mut digester = RowDigester::default();
    assert_ne!(
        digester.digest([&b"a"[..], b"bc"]),
        digester.digest([&b"ab"[..], b"c"])
    );
    assert_ne!(
        digester.digest([&b""[..]]),
        digester.digest([&b""[..], b""])
    );
}

#[test]
fn digest_mode_refuses_text_that_is_not_utf8() {
    let err = decode(digest_mode(None, &[]), &[b"Name\n\xff\xfe\n"]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Utf8);
}
