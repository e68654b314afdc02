use std::collections::HashSet;
use std::fs;

use proptest::prelude::*;

use crate::ingest_table::{ColumnSpec, IngestTable, Refused, Rule, Value};

fn table(text: &str) -> IngestTable {
    IngestTable::parse(text.as_bytes().to_vec(), b',', false).expect("plain CSV")
}

fn refusal(text: &str) -> Refused {
    match IngestTable::parse(text.as_bytes().to_vec(), b',', false) {
        Err(refused) => refused,
        Ok(_) => panic!("{text:?} was taken"),
    }
}

fn spec(rule: Rule) -> ColumnSpec {
    ColumnSpec {
        rule,
        required: false,
    }
}

/// The value a single-column upload's only cell checks to, or None when deferred.
fn checked(rule: Rule, required: bool, cell: &str) -> Option<String> {
    let mut t = table(&format!("C\n\"{}\"\n", cell.replace('"', "\"\"")));
    t.prepare(vec![ColumnSpec { rule, required }]);
    t.is_fast(0).then(|| format!("{:?}", t.value(0, 0)))
}

#[test]
fn parses_quotes_blank_lines_and_a_bom() {
    let t = table("\u{feff}Name,Note\n\"a,b\",\"say \"\"hi\"\"\nthere\"\n\nplain,\n\"\"\n");
    assert_eq!(t.header_line(), "Name,Note");
    assert_eq!(t.columns(), ["Name", "Note"]);
    assert_eq!(t.len(), 3);
    assert_eq!(t.row(0), ["a,b", "say \"hi\"\nthere"]);
    assert_eq!(t.row(1), ["plain", ""]);
    assert_eq!(t.row(2), [""]);
}

#[test]
fn crlf_uploads_need_a_crlf_job() {
    let crlf = b"Name\r\nA\r\nB".to_vec();
    let t = IngestTable::parse(crlf.clone(), b',', true).expect("CRLF job");
    assert_eq!((t.len(), t.row(1)), (2, vec!["B".to_string()]));
    assert!(IngestTable::parse(crlf, b',', false).is_err());
    assert!(IngestTable::parse(b"Name\nA\n".to_vec(), b',', true).is_err());
}

#[test]
fn refuses_what_it_cannot_read_exactly() {
    for text in [
        "Name\nab\"c\n",
        "Name\n\"ab\"c\n",
        "Name\na\rb\n",
        "Name\n\"open\n",
        "\nName\n",
        "",
        "Name\nA\0B\n",
    ] {
        refusal(text);
    }
    assert!(IngestTable::parse(b"Name\n\xff\n".to_vec(), b',', false).is_err());
}

#[test]
fn other_delimiters() {
    let t = IngestTable::parse(b"A|B\n1|\"x|y\"\n".to_vec(), b'|', false).unwrap();
    assert_eq!(t.row(0), ["1", "x|y"]);
}

#[test]
fn text_rule_counts_characters_and_checks_allowed_values() {
    let text = |max_chars, allowed: Option<&[&str]>| Rule::Text {
        max_chars,
        allowed: allowed.map(|v| v.iter().map(|s| s.to_string()).collect::<HashSet<_>>()),
    };
    assert!(checked(text(3, None), false, "東京都").is_some());
    assert!(checked(text(2, None), false, "東京都").is_none());
    assert!(checked(text(9, Some(&["Hot"])), false, "Hot").is_some());
    assert!(checked(text(9, Some(&["Hot"])), false, "hot").is_none());
    assert_eq!(
        checked(text(9, None), false, "#N/A").as_deref(),
        Some("Null")
    );
    assert!(checked(text(9, None), true, "#N/A").is_none());
    assert!(checked(text(9, None), true, "").is_none());
    assert_eq!(checked(text(9, None), false, "").as_deref(), Some("Absent"));
}

#[test]
fn numbers_take_only_canonical_forms() {
    assert_eq!(checked(Rule::Int, false, "-0").as_deref(), Some("Int(0)"));
    assert_eq!(checked(Rule::Int, false, "007").as_deref(), Some("Int(7)"));
    assert_eq!(
        checked(Rule::Int, false, "2147483647").as_deref(),
        Some("Int(2147483647)")
    );
    for deferred in [
        "2147483648",
        "-2147483648",
        " 1",
        "1.0",
        "+1",
        "1e3",
        "x",
        "-",
    ] {
        assert!(checked(Rule::Int, false, deferred).is_none(), "{deferred}");
    }
    let plain = || Rule::Double {
        precision: None,
        scale: 0,
    };
    assert_eq!(
        checked(plain(), false, "1.25").as_deref(),
        Some("Float(1.25)")
    );
    for deferred in ["1e3", ".5", "5.", " 1", "inf", "NaN", "1_0"] {
        assert!(checked(plain(), false, deferred).is_none(), "{deferred}");
    }
}

#[test]
fn decimals_round_half_up_to_the_scale_within_the_precision() {
    let money = || Rule::Double {
        precision: Some(5),
        scale: 2,
    };
    let float = |v: f64| Some(format!("{:?}", Value::Float(v)));
    assert_eq!(checked(money(), false, "12.345"), float(12.35));
    assert_eq!(checked(money(), false, "-0.125"), float(-0.13));
    assert_eq!(checked(money(), false, "99.995"), float(100.0));
    assert_eq!(checked(money(), false, "0.004"), float(0.0));
    assert_eq!(checked(money(), false, "12.3"), float(12.3));
    // At or past 10^(precision - scale), before or after rounding: the general path words it.
    assert!(checked(money(), false, "999.995").is_none());
    assert!(checked(money(), false, "1000").is_none());
    // More digits than a double holds exactly: the general path rounds those.
    assert!(checked(money(), false, "1.0000000000000001").is_none());
    let whole = Rule::Double {
        precision: Some(18),
        scale: 0,
    };
    assert_eq!(checked(whole.clone(), false, "2.5"), float(3.0));
    assert_eq!(checked(whole, false, "-1500.5"), float(-1501.0));
}

#[test]
fn booleans() {
    for (cell, value) in [("TRUE", 1), ("yes", 1), ("1", 1), ("False", 0), ("no", 0)] {
        assert_eq!(
            checked(Rule::Boolean, false, cell),
            Some(format!("Int({value})"))
        );
    }
    for deferred in [" true", "maybe", "2"] {
        assert!(checked(Rule::Boolean, false, deferred).is_none());
    }
}

#[test]
fn defer_takes_only_empty_cells_and_rows_must_have_every_cell() {
    let mut t = table("A,B\n,x\n,\n#N/A,\n1\n1,2,3\n");
    t.prepare(vec![spec(Rule::Defer), spec(Rule::Int)]);
    let fast: Vec<bool> = (0..t.len()).map(|r| t.is_fast(r)).collect();
    assert_eq!(fast, [false, true, false, false, false]);
    assert_eq!(t.fast_count(0, 5), 1);
    assert_eq!(t.value(1, 1), Value::Absent);
}

#[test]
fn result_sets_echo_each_row_with_its_outcome() {
    let dir = std::env::temp_dir().join(format!("ingest-table-{}", std::process::id()));
    let mut t = table("Name,Note\nA,\"x \"\"q\"\"\"\nB,\nC,y\n");
    t.set_success(0, "001000000000001AAA".into(), true);
    t.set_failure(2, String::new(), "BAD:say \"no\":--".into());
    assert_eq!(t.write_results(&dir, 7).unwrap().unprocessed, 1);
    let read = |set: &str, file: &str| fs::read(dir.join(set).join(file)).unwrap();
    assert_eq!(
        read("successful", "header.csv"),
        b"\"sf__Id\",\"sf__Created\",Name,Note\n"
    );
    assert_eq!(
        read("successful", "rows.csv"),
        b"\"001000000000001AAA\",\"true\",\"A\",\"x \"\"q\"\"\"\n"
    );
    assert_eq!(
        read("failed", "rows.csv"),
        b"\"\",\"BAD:say \"\"no\"\":--\",\"C\",\"y\"\n"
    );
    assert_eq!(read("unprocessed", "header.csv"), b"Name,Note\n");
    assert_eq!(read("unprocessed", "rows.csv"), b"\"B\",\"\"\n");
    let offsets: Vec<i64> = read("unprocessed", "offsets.bin")
        .chunks(8)
        .map(|b| i64::from_ne_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(offsets, [0, 7]);
    fs::remove_dir_all(&dir).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn shuffled_results_hold_every_row_once(rows in 0usize..3000, seed in any::<u64>()) {
        let dir = std::env::temp_dir()
            .join(format!("ingest-shuffle-{}-{seed}-{rows}", std::process::id()));
        let text: String = std::iter::once("N\n".to_string())
            .chain((0..rows).map(|i| format!("{i}\n")))
            .collect();
        let mut t = table(&text);
        for row in 0..rows {
            t.set_success(row, format!("{row:018}"), true);
        }
        t.write_results(&dir, seed).unwrap();
        let data = fs::read_to_string(dir.join("successful").join("rows.csv")).unwrap();
        let mut seen: Vec<usize> = data
            .lines()
            .map(|line| line.rsplit(',').next().unwrap().trim_matches('"').parse().unwrap())
            .collect();
        if rows > 10 {
            prop_assert!(seen.windows(2).any(|w| w[0] > w[1]));
        }
        seen.sort_unstable();
        prop_assert_eq!(seen, (0..rows).collect::<Vec<_>>());
        fs::remove_dir_all(&dir).unwrap();
    }
}
