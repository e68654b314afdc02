//! Fuzzes the streaming decoder: any bytes, any options, any chunking. It must never panic,
//! and splitting the input must never change the outcome.
#![no_main]

use _engine::columns::OnError;
use _engine::decoder::{Decoder, DecoderOptions};
use _engine::error::{EngineError, ErrorKind};
use _engine::gzip::GzipMode;
use _engine::types::{SfType, TypeMap};
use libfuzzer_sys::fuzz_target;

const DELIMS: [u8; 6] = [b',', b'\t', b'|', b';', b'^', b'`'];
const TYPES: [SfType; 7] = [
    SfType::String,
    SfType::Boolean,
    SfType::Int,
    SfType::Double,
    SfType::Date,
    SfType::DateTime,
    SfType::Time,
];

type Outcome = Result<Vec<String>, (ErrorKind, String)>;

fn run(opts: &DecoderOptions, pieces: &[&[u8]]) -> Outcome {
    let err = |e: EngineError| (e.kind, e.message);
    let mut d = Decoder::new(opts.clone()).map_err(err)?;
    let mut out = Vec::new();
    for p in pieces {
        out.extend(d.feed(p).map_err(err)?);
    }
    out.extend(d.finish().map_err(err)?);
    // Compare contents, not batch boundaries.
    Ok(out
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(move |r| format!("{:?}", b.slice(r, 1))))
        .collect())
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 4 {
        return;
    }
    let (head, data) = input.split_at(4);
    let types = TypeMap::new(
        (0..4)
            .map(|i| {
                (
                    format!("c{i}"),
                    TYPES[(head[3] as usize >> i) % TYPES.len()],
                )
            })
            .collect(),
    );
    let opts = DecoderOptions {
        delimiter: DELIMS[head[0] as usize % DELIMS.len()],
        crlf: head[0] & 0x80 != 0,
        types,
        batch_size: 1 + head[1] as usize % 7,
        on_error: if head[1] & 0x80 != 0 {
            OnError::Null
        } else {
            OnError::Raise
        },
        gzip: if head[2] & 1 != 0 {
            GzipMode::Auto
        } else {
            GzipMode::Off
        },
        ..Default::default()
    };
    let whole = run(&opts, &[data]);
    let cut = head[2] as usize % (data.len() + 1);
    let split = run(&opts, &[&data[..cut], &data[cut..]]);
    if let (Err(a), Err(b)) = (&whole, &split) {
        // In a corrupt gzip body, how much of the inflated prefix reaches the parser before
        // inflation fails depends on where the compressed bytes were cut, so an error in that
        // prefix may be reported instead of the gzip error. Either way the stream fails.
        if a.0 == ErrorKind::Gzip || b.0 == ErrorKind::Gzip {
            return;
        }
    }
    assert_eq!(whole, split, "splitting at {cut} changed the result");
});
