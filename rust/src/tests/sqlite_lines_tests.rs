//! Cell writing of the engine's query lines (the SQLite part is tested from Python).
use crate::ingest_table::quote_into;
use crate::sqlite_lines::python_float;

fn float(value: f64) -> String {
    let mut out = Vec::new();
    python_float(value, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn floats_are_written_as_python_repr_writes_them() {
    // Expected strings are Python's `repr` (`str(int(v)) + ".0"` for whole values).
    let cases = [
        (0.1, "0.1"),
        (-0.0, "0.0"),
        (3.0, "3.0"),
        (1e16, "10000000000000000.0"),
        (1e-5, "1e-05"),
        (1e-4, "0.0001"),
        (0.30000000000000004, "0.30000000000000004"),
        (1234567.891, "1234567.891"),
        (2.5e-7, "2.5e-07"),
        (1.5e16, "15000000000000000.0"),
        (1.25e-300, "1.25e-300"),
        // Exactly halfway between two 17-digit strings: Python keeps the even one.
        (-1053556335433.0 - 0.53125, "-1053556335433.5312"),
        (5e-324, "5e-324"),
        (123456789012345.67, "123456789012345.67"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (f64::NAN, "nan"),
    ];
    for (value, expected) in cases {
        assert_eq!(float(value), expected, "{value:e}");
    }
}

#[test]
fn quotes_are_doubled() {
    let mut out = Vec::new();
    quote_into(br#"say "hi" ""#, &mut out);
    assert_eq!(out, br#"say ""hi"" """#);
}
