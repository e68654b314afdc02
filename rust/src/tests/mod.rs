//! Tests of the engine's Rust logic (no Python involved).
mod builder_tests;
mod decoder_tests;
mod digest_tests;
mod ingest_table_tests;
mod roundtrip_props;
mod speed;
mod sqlite_lines_tests;
mod support;
